// Where threads that are not DPDK lcores run. EAL pins the main thread to the stats core's CPU,
// and threads it starts (the history writer, the event hook, the recorder's writer) inherit
// that. Live, that is right: the workers' CPUs stay theirs alone. Offline, a worker sleeps when
// its ring is empty, so those threads may use every CPU the process started with, instead of
// taking turns with the stats core on one.
#pragma once

#include <sched.h>

namespace darkscope {

// The CPUs the process was allowed when it started, before EAL pinned the main thread.
const cpu_set_t& process_start_cpus();

// While it lives, the calling thread (and so every thread it starts) may run on
// process_start_cpus(); then the thread's own CPUs again. Does nothing when `widen` is false.
class ScopedStartCpus {
  public:
    explicit ScopedStartCpus(bool widen);
    ~ScopedStartCpus();
    ScopedStartCpus(const ScopedStartCpus&) = delete;
    ScopedStartCpus& operator=(const ScopedStartCpus&) = delete;

  private:
    cpu_set_t saved_{};
    bool restore_ = false;
};

}  // namespace darkscope
