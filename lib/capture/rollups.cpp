// The hour and day rollups: windows that start when a closed interval begins a new UTC hour or
// day, stored when they close, at shutdown and live every minute of wall time (checkpoints), with
// unique counts from their own merged sketches, never summed from intervals; and a restarted live
// run's resume of its first hour and day.
#include <chrono>
#include <rte_log.h>

#include <map>

#include "darkscope/engine.hpp"
#include "darkscope/events.hpp"
#include "darkscope/stop_deadline.hpp"
#include "darkscope/rollups.hpp"

namespace darkscope {

uint32_t period_length_s(Resolution resolution, const WindowAccumulator& w) {
    switch (resolution) {
        case Resolution::hour:
            return 3600;
        case Resolution::day:
            return 86400;
        case Resolution::interval:
            break;
    }
    return static_cast<uint32_t>(w.end_s - w.start_s);
}

StoredPeriod stored_period_of(const WindowAccumulator& w, Resolution resolution, size_t top_k,
                              const std::vector<std::string>& sensor_names,
                              const std::vector<StoredRow>& extra_rows,
                              const StoredPeriod* earlier) {
    StoredPeriod period;
    period.resolution = resolution;
    period.start = w.start_s;
    period.length_s = period_length_s(resolution, w);
    period.rows = period_rows(*w.counters, w.sources->top(top_k), w.prefixes->top(top_k),
                              sensor_names, top_k);
    period.rows.insert(period.rows.end(), extra_rows.begin(), extra_rows.end());
    if (resolution != Resolution::interval)
        w.counters->total_sources.serialize(period.source_sketch);
    if (earlier != nullptr && earlier->start == w.start_s)
        merge_earlier_run(period, *earlier);
    return period;
}

void merge_earlier_run(StoredPeriod& now, const StoredPeriod& earlier) {
    std::map<std::pair<std::string, std::string>, size_t> index;
    for (size_t i = 0; i < now.rows.size(); ++i)
        index[{now.rows[i].dimension, now.rows[i].key}] = i;
    for (const StoredRow& e : earlier.rows) {
        auto it = index.find({e.dimension, e.key});
        if (it == index.end()) {
            index[{e.dimension, e.key}] = now.rows.size();
            now.rows.push_back(e);
            continue;
        }
        StoredRow& r = now.rows[it->second];
        r.packets += e.packets;
        r.bytes += e.bytes;
        r.sources = std::max(r.sources, e.sources);
        r.destinations = std::max(r.destinations, e.destinations);
        r.asns = std::max(r.asns, e.asns);
    }
    // The total's sources: the union of the two parts' sketches, when both are readable.
    PreciseHyperLogLog mine, theirs;
    if (!now.source_sketch.empty() && !earlier.source_sketch.empty() &&
        mine.deserialize(now.source_sketch) && theirs.deserialize(earlier.source_sketch)) {
        mine.merge(theirs);
        now.source_sketch.clear();
        mine.serialize(now.source_sketch);
        for (StoredRow& r : now.rows)
            if (r.dimension == "total")
                r.sources = mine.estimate();
    } else if (now.source_sketch.empty()) {
        now.source_sketch = earlier.source_sketch;
    }
}

void Engine::sync_windows() {
    if (unsynced_.start_s < 0)
        return;
    day_.add(unsynced_);
    if (!total_is_day_)
        total_.add(unsynced_);
    unsynced_.reset(-1);
}

void Engine::roll_windows(int64_t start_s) {
    // The closing hour's intervals join the day and the total (offline they wait there until
    // the hour ends).
    if (hour_.start_s >= 0 && hour_.start_s != window_start(start_s, 3600))
        sync_windows();
    if (day_.start_s >= 0 && day_.start_s != window_start(start_s, 86400)) {
        // The total, until now the day itself, takes the closing day.
        if (total_is_day_) {
            total_.add(day_);
            total_is_day_ = false;
            published_versions_[3] = ~uint64_t{0};  // a window of its own from now on
        }
    }
    for (auto [window, resolution] :
         {std::pair{&hour_, Resolution::hour}, std::pair{&day_, Resolution::day}}) {
        const int64_t start = window_start(start_s, resolution == Resolution::hour ? 3600 : 86400);
        if (window->start_s == start)
            continue;
        const bool first = window->start_s < 0;
        if (store_ && !first && window->counters->packets)
            store_window(*window, resolution);
        window->reset(start);
        if (first)
            resume_rollup(resolution, start);
    }
    if (total_.start_s < 0)
        total_.start_s = start_s;
}

// A live run that starts in the middle of an hour or day finds that period's rollup in the history
// when an earlier run (the same darkscope, restarted) wrote it: it is kept, and every rewrite of
// the period merges it in (store_window), so a restart does not replace the earlier part. Only
// the run's first hour and day can have one, and only live: an offline replay of a capture
// already stored replaces its periods, so replaying it twice does not double count.
void Engine::resume_rollup(Resolution resolution, int64_t start_s) {
    if (!store_ || config_.offline())
        return;
    std::vector<StoredPeriod> stored;
    try {
        stored = store_->read_periods(resolution, start_s, start_s + 1);
    } catch (const std::exception& e) {
        RTE_LOG(WARNING, USER1, "history: cannot read the %s starting at %lld to resume it: %s\n",
                resolution_name(resolution), static_cast<long long>(start_s), e.what());
        return;
    }
    if (stored.empty())
        return;
    uint64_t packets = 0;
    for (const StoredRow& r : stored.front().rows)
        if (r.dimension == "total")
            packets = r.packets;
    RTE_LOG(NOTICE, USER1,
            "history: resuming the %s starting at %lld: %llu packets stored by an "
            "earlier run\n",
            resolution_name(resolution), static_cast<long long>(start_s),
            static_cast<unsigned long long>(packets));
    earlier_run_[static_cast<int>(resolution)] =
        std::make_unique<StoredPeriod>(std::move(stored.front()));
}

void Engine::store_window(const WindowAccumulator& w, Resolution resolution,
                          const std::vector<StoredRow>& extra_rows) {
    store_->enqueue(stored_period_of(w, resolution, config_.top_k, sensor_names_, extra_rows,
                                     earlier_run_[static_cast<int>(resolution)].get()));
}

// A live run stores its open hour and day at most every --rollup-checkpoint seconds of wall time
// (default 60), so a crash (kill -9, power) loses at most that much of them: a restart resumes the
// stored rollup (resume_rollup). Interval rows cannot rebuild them (they hold the top K and no
// sketches). Offline replays are rerun instead.
void Engine::checkpoint_rollups() {
    if (config_.offline())
        return;
    const double now = now_seconds();
    if (now - last_rollup_checkpoint_ < config_.rollup_checkpoint_s)
        return;
    last_rollup_checkpoint_ = now;
    sync_windows();
    for (auto [window, resolution] :
         {std::pair{&hour_, Resolution::hour}, std::pair{&day_, Resolution::day}})
        if (window->start_s >= 0 && window->counters->packets)
            store_window(*window, resolution);
}

void Engine::flush_rollups() {
    // The event engine's last phases go to the hook and the history, the open hour and day to
    // the history; then the hook's thread and the history's writer work at once, until the
    // stop's deadline at the latest (darkscope/stop_deadline.hpp).
    const uint64_t hook_drops = hook_ ? hook_->stats().drops : 0;
    if (events_)
        emit_events(events_->finish(interval_.end_s));
    // A full queue refused some of them (each logged).
    const uint64_t refused = hook_ ? hook_->stats().drops - hook_drops : 0;
    sync_windows();
    if (store_)
        for (auto [window, resolution] :
             {std::pair{&hour_, Resolution::hour}, std::pair{&day_, Resolution::day}})
            if (window->start_s >= 0 && window->counters->packets)
                store_window(*window, resolution);
    StopDeadline& deadline = stop_deadline();
    if (hook_)
        if (const uint64_t cut = hook_->flush_until(deadline.flush_by()) + refused)
            deadline.lost(std::to_string(cut) + " events not passed to the event hook (" +
                          config_.event_hook + ")");
    if (!store_)
        return;
    // A full or failing disk must not hold the exit: at the deadline the writer stops retrying
    // and gives what is left one attempt (docs/schema.md, "Writing").
    if (const uint64_t lost = store_->flush_within(deadline.left())) {
        RTE_LOG(ERR, USER1,
                "history: %llu periods or events could not be written to %s before the exit "
                "(see store_dropped and the errors above)\n",
                static_cast<unsigned long long>(lost), config_.db_file.c_str());
        deadline.lost(std::to_string(lost) + " history periods or events (--db " + config_.db_file +
                      ")");
    }
}

}  // namespace darkscope
