// The stats core's interval close: flip the workers' epoch, merge each worker's retired tables
// into the interval window, roll it into the hour, day and total, and hand it to the events, the
// series, the history and telemetry (publish).
#include <rte_log.h>

#include <algorithm>

#include "darkscope/engine.hpp"
#include "darkscope/events.hpp"
#include "darkscope/fleet.hpp"
#include "darkscope/port.hpp"
#include "darkscope/recorder.hpp"
#include "darkscope/views.hpp"
#include "worker.hpp"

namespace darkscope {

namespace {

constexpr size_t kPublishedTop = 1000;  // top talkers kept per published window
constexpr double kOfflinePublishEvery_s = 1.0;
constexpr size_t kSeriesIntervals = 1440;
constexpr unsigned kSeriesKeysPerDimension = 200;

}  // namespace

void Engine::merge_worker_tables(WorkerContext& w, unsigned slot) {
    if (w.sets[slot]->packets != 0)
        ++interval_.version;  // what publish() compares (the interval is merged here, not added)
    // The worker left the source side of its packets in its tuple tables: count it now, once per
    // tuple, on this core (the retired epoch is ours until it is cleared).
    count_tuples(*w.sets[slot], *w.tuples[slot], *w.tuples6[slot]);
    if (fleet_)
        fleet_->add_tuples(*w.tuples[slot], *w.tuples6[slot], w.spill_logs[slot]);
    fold_total_destinations(*w.sets[slot]);
    interval_.counters->merge(*w.sets[slot]);
    // Top talkers: exact from the tuples (IPv4 and IPv6 keys are disjoint, so their merge stays
    // exact), merged with what the worker counted per packet. The worker's own summaries hold its
    // spills only: with none, their keys are disjoint from the tuples'.
    load_talkers(*w.tuples[slot], *tuple_sources_, *tuple_prefixes_);
    load_talkers(*w.tuples6[slot], *tuple6_sources_, *tuple6_prefixes_);
    tuple_sources_->merge(*tuple6_sources_, true);
    tuple_prefixes_->merge(*tuple6_prefixes_, true);
    const bool disjoint = w.sets[slot]->source_spills == 0;
    tuple_sources_->merge(*w.sources[slot], disjoint);
    tuple_prefixes_->merge(*w.prefixes[slot], disjoint);
    interval_.sources->merge(*tuple_sources_);
    interval_.prefixes->merge(*tuple_prefixes_);
    w.sets[slot]->clear();
    w.tuples[slot]->clear();
    w.tuples6[slot]->clear();
    w.sources[slot]->clear();
    w.prefixes[slot]->clear();
    if (w.spill_logs[slot] != nullptr)
        w.spill_logs[slot]->clear();
}

void Engine::close_interval(int64_t start_s, int64_t end_s, bool workers_stopped) {
    double began = now_seconds();
    interval_.reset(start_s);
    interval_.end_s = end_s;
    if (workers_stopped) {
        // Workers are gone: their current tables hold the final partial interval.
        const uint32_t e = epoch_.load(std::memory_order_relaxed);
        for (auto* w : workers_)
            merge_worker_tables(*w, e & 1);
        if (recorder_)
            recorder_->interval_closed(end_s);
    } else {
        // Live, this store is the flip. Offline the reader has put the flip in each worker's
        // ring already (epoch_marker), and workers there do not read epoch_: it only counts
        // the flips, so that epoch_'s low bit names the slot the workers count into now.
        const uint32_t e = epoch_.load(std::memory_order_relaxed) + 1;
        epoch_.store(e, std::memory_order_release);
        for (auto* w : workers_) {
            // Each worker acknowledges at its next loop iteration (a burst at most).
            // Offline a worker may be one flip ahead (the next interval's marker): at least e.
            for (unsigned spins = 0;
                 static_cast<int32_t>(w->seen_epoch.load(std::memory_order_acquire) - e) < 0 &&
                 w->running.load(std::memory_order_acquire);
                 ++spins)
                spin_wait(spins);
        }
        // The wait for the workers' acknowledgement is the workers' time to their next loop
        // (a burst at most), not the stats core's work: counted apart.
        const double acked = now_seconds();
        close_times_.flip_wait.add((acked - began) * 1e6);
        began = acked;
        for (auto* w : workers_)
            merge_worker_tables(*w, (e - 1) & 1);
        if (recorder_)
            recorder_->interval_closed(end_s);
    }
    // Offline replays close intervals far faster than real time: publish (which copies every
    // changed window, up to ~100 MiB) at most once a second of wall time there, as a progress
    // view, and then only once 19 times the last publish's own time has passed, so publishing
    // never takes more than a twentieth of a replay (on a loaded machine one publish can take
    // longer than a second: then a long sparse capture would spend its time copying). The last
    // interval is always published. last_publish_ is the end of the last publish, moved later
    // by what that rule adds beyond the second.
    const bool publishing = !config_.offline() || workers_stopped ||
                            now_seconds() - last_publish_ >= kOfflinePublishEvery_s;
    roll_windows(start_s);
    hour_.add(interval_);
    // Live (every interval is published) and at an offline run's end, the day and the total
    // take the interval at once. Offline until then they take the hour's intervals when it
    // ends (sync_windows from roll_windows): a fixed grouping, so a replay's day and total are
    // the same from run to run (their top talkers are merged summaries, and which intervals a
    // merge groups decides an overflowing summary's approximation), whatever the wall clock.
    if (!config_.offline() || workers_stopped) {
        sync_windows();
        day_.add(interval_);
        if (!total_is_day_)
            total_.add(interval_);
    } else {
        unsynced_.add(interval_);  // the day and the total take it when the hour ends
    }
    ++intervals_;

    // Events first: the interval's active scanners per service and per country become series
    // and history rows of their own.
    const std::vector<StoredRow> scanner_rows =
        events_ ? detect_events(start_s, end_s) : std::vector<StoredRow>{};
    append_series(start_s, scanner_rows);
    // An interval without packets is not stored, live or offline: the history, the report and
    // the series read a missing interval as zero (docs/history.md).
    if (store_) {
        if (interval_.counters->packets != 0)
            store_window(interval_, Resolution::interval, scanner_rows);
        checkpoint_rollups();
    }
    if (fleet_)
        export_interval(start_s, end_s);
    const double now = now_seconds();
    double ended = now;
    if (publishing) {
        // The run's last interval: the windows do not change again, so the snapshot takes them
        // as they are rather than a copy of each (an offline run's peak memory).
        windows_final_ = workers_stopped;
        publish();
        ended = now_seconds();
        last_publish_ = ended + std::max(0.0, 19 * (ended - now) - kOfflinePublishEvery_s);
    }
    const double us = (ended - began) * 1e6;
    (interval_.counters->packets != 0 ? close_times_.busy : close_times_.empty).add(us);
    close_times_.last_us = us;
}

// Series of the busiest keys, for /darkscope/series: the history is copied on write, so a
// telemetry reader keeps the one it took.
void Engine::append_series(int64_t start_s, const std::vector<StoredRow>& scanner_rows) {
    auto points = std::make_shared<SeriesHistory::Interval>();
    points->start_s = start_s;
    series_points(*interval_.counters, sensor_names_, kSeriesKeysPerDimension, points->points);
    for (const StoredRow& r : scanner_rows)
        points->points[r.dimension + "=" + r.key] = {r.packets, r.sources};
    auto series = std::make_shared<SeriesHistory>(*series_);
    series->intervals.push_back(std::move(points));
    while (series->intervals.size() > kSeriesIntervals)
        series->intervals.pop_front();
    series_ = std::move(series);
}

void Engine::publish() {
    auto s = std::make_shared<Snapshot>();
    s->intervals = intervals_;
    s->last_start_s = interval_.start_s;
    s->last_end_s = interval_.end_s;
    s->interval_s = config_.interval_s;
    s->offline = config_.offline();
    std::shared_ptr<const Snapshot> before;
    {
        std::lock_guard lock(snapshot_mutex_);
        before = snapshot_;
    }
    // A window unchanged since the last snapshot is shared from it, with its new bounds.
    auto window = [&](const WindowAccumulator& w, WindowData Snapshot::*field, unsigned i) {
        if (before != nullptr && ((*before).*field).counters != nullptr &&
            published_versions_[i] == w.version) {
            WindowData d = (*before).*field;
            d.start_s = w.start_s;
            d.end_s = w.end_s;
            return d;
        }
        published_versions_[i] = w.version;
        return windows_final_ ? w.publish_shared(kPublishedTop) : w.publish(kPublishedTop);
    };
    s->last = window(interval_, &Snapshot::last, 0);
    s->hour = window(hour_, &Snapshot::hour, 1);
    s->day = window(day_, &Snapshot::day, 2);
    if (total_is_day_) {
        // The run has not left its first day: its total is that day's window.
        s->total = s->day;
        s->total.start_s = total_.start_s;
    } else {
        s->total = window(total_, &Snapshot::total, 3);
    }
    s->series = series_;
    if (events_)
        s->events = recent_events();
    s->sensor_names = sensor_names_;
    s->events_started.assign(events_started_.begin(), events_started_.end());
    if (store_) {
        auto st = store_->stats();
        s->store_written = st.periods_written;
        s->store_dropped = st.periods_dropped;
        s->store_errors = st.write_errors;
    }
    s->closes = close_times_;
    refresh_status(*s);
    std::lock_guard lock(snapshot_mutex_);
    // Link changes go to the log (a memif or af_packet peer may leave; a cable may be pulled).
    if (snapshot_ && snapshot_->ports.size() == s->ports.size())
        for (size_t i = 0; i < s->ports.size(); ++i)
            if (snapshot_->ports[i].link_up != s->ports[i].link_up)
                rte_log(s->ports[i].link_up ? RTE_LOG_NOTICE : RTE_LOG_WARNING, RTE_LOGTYPE_USER1,
                        "USER1: port %s: link %s\n", s->ports[i].name.c_str(),
                        s->ports[i].link_up ? "up" : "down");
    snapshot_ = std::move(s);
}

}  // namespace darkscope
