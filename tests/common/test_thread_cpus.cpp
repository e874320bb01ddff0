// ScopedStartCpus: threads started inside the scope may run on the CPUs the process started
// with, whatever the starting thread was pinned to; the thread itself is pinned again after.
#include "darkscope/thread_cpus.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

using darkscope::process_start_cpus;
using darkscope::ScopedStartCpus;

namespace {

cpu_set_t own_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    return set;
}

cpu_set_t cpus_of_a_new_thread() {
    cpu_set_t set;
    std::thread([&] { set = own_cpus(); }).join();
    return set;
}

cpu_set_t first_cpu_of(const cpu_set_t& from) {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &from)) {
            CPU_SET(c, &one);
            break;
        }
    return one;
}

}  // namespace

TEST(ThreadCpus, StartCpusAreTheProcesssAtStart) {
    // Nothing in this test binary changed its CPUs before this test.
    const cpu_set_t now = own_cpus();
    EXPECT_TRUE(CPU_EQUAL(&now, &process_start_cpus()));
}

TEST(ThreadCpus, ThreadsStartedInTheScopeGetTheStartCpus) {
    const cpu_set_t start = process_start_cpus();
    if (CPU_COUNT(&start) < 2)
        GTEST_SKIP() << "one CPU: nothing to widen";
    const cpu_set_t pinned = first_cpu_of(start);  // as EAL pins the main thread
    ASSERT_EQ(sched_setaffinity(0, sizeof pinned, &pinned), 0);
    {
        const ScopedStartCpus off(false);
        const cpu_set_t got = cpus_of_a_new_thread();
        EXPECT_TRUE(CPU_EQUAL(&got, &pinned)) << "widen=false must leave the CPUs alone";
    }
    {
        const ScopedStartCpus wide(true);
        const cpu_set_t got = cpus_of_a_new_thread();
        EXPECT_TRUE(CPU_EQUAL(&got, &start));
    }
    const cpu_set_t after = own_cpus();
    EXPECT_TRUE(CPU_EQUAL(&after, &pinned)) << "the thread's own CPUs come back";
    ASSERT_EQ(sched_setaffinity(0, sizeof start, &start), 0);
}
