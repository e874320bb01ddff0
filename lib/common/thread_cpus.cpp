#include "darkscope/thread_cpus.hpp"

namespace darkscope {

namespace {

cpu_set_t read_own_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        CPU_ZERO(&set);
    return set;
}

// Read by a static initialiser, before main() and so before EAL changes the main thread's CPUs.
const cpu_set_t g_start_cpus = read_own_cpus();

}  // namespace

const cpu_set_t& process_start_cpus() {
    return g_start_cpus;
}

ScopedStartCpus::ScopedStartCpus(bool widen) {
    if (!widen || CPU_COUNT(&g_start_cpus) == 0)
        return;
    if (sched_getaffinity(0, sizeof saved_, &saved_) != 0)
        return;
    restore_ = sched_setaffinity(0, sizeof g_start_cpus, &g_start_cpus) == 0;
}

ScopedStartCpus::~ScopedStartCpus() {
    if (restore_)
        sched_setaffinity(0, sizeof saved_, &saved_);
}

}  // namespace darkscope
