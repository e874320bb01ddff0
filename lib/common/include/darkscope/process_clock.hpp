// The time since this process was exec'd: what an analyst waits for before darkscope counts its
// first packet (logged by --read, read by scripts/bench.sh).
#pragma once

namespace darkscope {

// Seconds from the exec of this process to now: the kernel's start time of the process
// (/proc/self/stat, in clock ticks: 10 ms steps) against CLOCK_BOOTTIME, or, without /proc, the
// time since the program's static initialization.
double seconds_since_exec();

}  // namespace darkscope
