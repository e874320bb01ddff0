// One time window the stats core accumulates (the interval, the hour, the day, the run's total):
// merged counters and top talkers, and the alignment of windows to the clock.
#pragma once

#include <cstdint>
#include <memory>

#include "darkscope/counters.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/snapshot.hpp"
#include "darkscope/sketch_pool.hpp"

namespace darkscope {

// A window of the stats core merges many workers' intervals: it gets this many times a worker
// table's precise sketches.
inline constexpr uint32_t kWindowPreciseFactor = 4;

// The start of the `length`-second window that holds `t` (unix seconds, UTC): windows are
// aligned to multiples of their length, for times before 1970 too.
constexpr int64_t window_start(int64_t t, int64_t length) {
    return t - ((t % length) + length) % length;
}

struct WindowAccumulator {
    // Shared, so that the last publish of a run can hand them over instead of copying them
    // (publish_shared).
    std::shared_ptr<CounterSet> counters;
    std::shared_ptr<SketchPool> pool;  // counters' precise per-key sketches
    std::unique_ptr<SpaceSaving> sources;
    std::unique_ptr<SpaceSaving> prefixes;
    int64_t start_s = -1;  // -1: nothing accumulated yet
    int64_t end_s = 0;
    // Changes whenever the counters or top talkers do (not when only start_s or end_s move): a
    // window published at this version can be published again without copying it.
    uint64_t version = 0;

    explicit WindowAccumulator(uint32_t precise_sketches);
    void reset(int64_t start);
    // Adds a closed interval (the stats core's interval window) to this one.
    void add(const WindowAccumulator& interval);
    // The window as telemetry shows it: counters and the `top_n` busiest talkers.
    WindowData publish(size_t top_n) const;
    // The same with this window's own counters, not a copy: for a window that will not change
    // again (the last publish of an offline run), whose copy would double its memory at the
    // run's peak.
    WindowData publish_shared(size_t top_n) const;

  private:
    // The window's top talkers and bounds beside `published_counters`.
    WindowData published(std::shared_ptr<const CounterSet> published_counters, size_t top_n) const;
};

}  // namespace darkscope
