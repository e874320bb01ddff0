// The one deadline of a stop, shared by everything that still has to write when darkscope stops
// (the event hook, the history, the recorder, the fleet export): a stop request (SIGTERM,
// SIGINT, the end of --duration or of the --read files) starts it, each flusher works until
// flush_by() at the latest and then gives up, and whatever was given up is noted here, so that
// the exit says what was not written and exits 1 (docs/operations.md, "Stopping").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace darkscope {

class StopDeadline {
  public:
    using Clock = std::chrono::steady_clock;
    // Every flusher is done, or has given up, this long after the stop request. The flushers
    // run at once, each on its own thread, so they share this time rather than add up.
    static constexpr std::chrono::seconds kFlushBudget{15};
    // The documented bound from the stop request to the exit: the flushes, then one last
    // attempt for each history item left, closing the files and releasing EAL. Well under the
    // unit's TimeoutStopSec=30.
    static constexpr std::chrono::seconds kExitBound{20};

    // Starts the clock; later calls keep the first time. Async-signal-safe (the signal handler
    // calls it, so the bound runs from the signal, not from when the stats loop sees it).
    void start() noexcept;
    bool started() const noexcept;
    // When every flusher must be done: the start plus kFlushBudget (starts the clock when it
    // has not started).
    Clock::time_point flush_by() noexcept;
    // Time left until flush_by(), never negative.
    std::chrono::milliseconds left() noexcept;
    // Seconds since the start (0 before).
    double elapsed_s() const noexcept;

    // Something the stop had to leave unwritten, as the log names it ("3 history periods or
    // events (--db /var/lib/darkscope/history.sqlite)"). Not async-signal-safe.
    void lost(std::string what);
    std::vector<std::string> losses() const;

  private:
    std::atomic<int64_t> start_ns_{0};  // steady clock; 0: not started
    mutable std::mutex mutex_;
    std::vector<std::string> losses_;
};

// The process's stop deadline.
StopDeadline& stop_deadline();

}  // namespace darkscope
