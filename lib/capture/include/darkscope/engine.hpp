// The capture engine: worker lcores that poll (port, queue) lists or offline rings, decode,
// classify, attribute and count into their own tables (worker.cpp); the stats core that flips
// epochs, merges and publishes Snapshots (interval_close.cpp), rolls hours and days into the
// history (rollups.cpp) and drives the event engine (event_bridge.cpp); and the offline reader
// that feeds pcap/pcapng records through the same workers with interval boundaries taken from
// packet time (offline_reader.cpp). docs/architecture.md follows a packet and an interval through
// them.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "darkscope/classify.hpp"
#include "darkscope/config.hpp"
#include "darkscope/counters.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/history_store.hpp"
#include "darkscope/snapshot.hpp"
#include "darkscope/topology.hpp"
#include "darkscope/window.hpp"

struct rte_mempool;

namespace darkscope {

class Ports;
class Attribution;
class EventEngine;
class EventHook;
class FleetExporter;
class Recorder;
struct Event;
struct WorkerContext;
class WorkerMemory;

// Set from signal handlers; the engine polls them.
struct ControlFlags {
    std::atomic<bool> stop{false};
    std::atomic<bool> reload{false};
};
ControlFlags& control_flags();
void install_signal_handlers();  // SIGINT/SIGTERM stop, SIGHUP reload

class Engine {
  public:
    Engine(const Config& config, const CorePlan& plan, Ports* ports, Attribution* attribution,
           const SensorTable& sensors, const Classifier& classifier);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Live: launch workers on their lcores, run the stats loop on this (main) lcore until a stop
    // signal or --duration, flush the last partial interval. Returns the exit status.
    int run_live();
    // Offline: read every --read file through the workers; returns 0 when all files were read,
    // 1 when a file failed part-way (what was read is still counted and flushed).
    int run_offline();

    std::shared_ptr<const Snapshot> snapshot() const;
    // Called by the live stats loop on every turn (about every 10 ms) with the wall clock: the
    // systemd watchdog's pings, so they stop when the loop wedges.
    void set_stats_tick(std::function<void(double)> tick) { stats_tick_ = std::move(tick); }
    // Reloads the attribution databases (telemetry thread or SIGHUP); returns the result.
    bool reload_attribution(std::string* message);
    // Ships every closed interval to `fleet` (fleet_bridge.cpp); it must outlive the engine's
    // runs. Called before they start: with tuples on, it gives each worker its spill logs.
    void export_to(FleetExporter* fleet);

  private:
    // engine.cpp: workers and control.
    void launch_workers();
    void stop_workers();
    void poll_control();
    void refresh_status(Snapshot& s) const;
    // interval_close.cpp: flip epochs, merge every worker's retired tables, feed the windows,
    // series, events and history, publish. When the workers have stopped, merges their current
    // tables instead (the final partial interval).
    void close_interval(int64_t start_s, int64_t end_s, bool workers_stopped);
    void merge_worker_tables(WorkerContext& w, unsigned slot);
    void append_series(int64_t start_s, const std::vector<StoredRow>& scanner_rows);
    void publish();
    // rollups.cpp: hour and day windows and their history rows.
    void sync_windows();
    void roll_windows(int64_t start_s);
    void resume_rollup(Resolution resolution, int64_t start_s);
    void store_window(const WindowAccumulator& w, Resolution resolution,
                      const std::vector<StoredRow>& extra_rows = {});
    void flush_rollups();
    void checkpoint_rollups();
    // event_bridge.cpp: the closed interval to the event engine, its events to the log, the
    // history and the hook.
    std::vector<StoredRow> detect_events(int64_t start_s, int64_t end_s);
    void emit_events(const std::vector<Event>& events);
    std::string event_capture(const Event& e);  // event_bridge.cpp
    std::shared_ptr<const EventLists> recent_events() const;
    // fleet_bridge.cpp: the closed interval's rows to the fleet exporter.
    void export_interval(int64_t start_s, int64_t end_s);
    // stop.cpp: starts the stop's deadline (when no signal did) and hands it to the fleet.
    void begin_stop();

    const Config& config_;
    const CorePlan& plan_;
    Ports* ports_;
    Attribution* attribution_;
    const SensorTable& sensors_;
    const Classifier& classifier_;
    std::vector<std::string> sensor_names_;  // index = sensor slot; fixed for the run

    std::vector<WorkerContext*> workers_;
    std::atomic<uint32_t> epoch_{0};
    std::atomic<bool> workers_stop_{false};
    bool workers_running_ = false;

    WindowAccumulator interval_, hour_, day_, total_;
    // Offline, the intervals of the hour so far: an interval is merged into the hour and here,
    // and the day and the total take these in one merge when the hour ends, at a checkpoint
    // and at the run's end (sync_windows). A long sparse replay's intervals cost two merges
    // instead of three; the day and total it publishes while reading lag by up to an hour of
    // capture time. Live, every interval goes to the day and the total at once.
    WindowAccumulator unsynced_;
    bool windows_final_ = false;  // no interval closes after this: publish shares the windows
    // Until the run's first day ends, its total is that day: total_ holds nothing and is
    // neither merged into nor published (a run within one day saves a window's memory and a
    // merge per interval). The day's roll hands the day to total_.
    bool total_is_day_ = true;
    double last_rollup_checkpoint_ = 0;  // wall time the hour and day rollups were last stored
    // Scratch for the top talkers the stats core builds from a retired epoch's tuples.
    std::unique_ptr<SpaceSaving> tuple_sources_, tuple_prefixes_;
    std::unique_ptr<SpaceSaving> tuple6_sources_, tuple6_prefixes_;  // IPv6, merged into those
    std::shared_ptr<SeriesHistory> series_;
    std::unique_ptr<HistoryStore> store_;
    // What an earlier run stored for this run's first hour and day (resume_rollup), by
    // resolution.
    std::unique_ptr<StoredPeriod> earlier_run_[3];
    std::unique_ptr<EventEngine> events_;
    std::unique_ptr<EventHook> hook_;
    FleetExporter* fleet_ = nullptr;
    std::unique_ptr<Recorder> recorder_;  // --record-dir (lib/record)
    uint64_t intervals_ = 0;
    std::map<std::string, uint64_t> events_started_;  // by kind, for the metrics
    std::function<void(double)> stats_tick_;
    double start_time_ = 0;
    double last_publish_ = 0;
    CloseTimes close_times_;
    // The versions of the interval, hour, day and total windows in snapshot_: publish() copies a
    // window (~25 MiB of counters) only when it changed, so an empty interval costs little live.
    uint64_t published_versions_[4] = {~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}};

    mutable std::mutex snapshot_mutex_;  // control plane only: never taken by workers
    std::shared_ptr<const Snapshot> snapshot_;
    std::mutex reload_mutex_;

    rte_mempool* offline_pool_ = nullptr;
    std::unique_ptr<WorkerMemory> worker_memory_;  // the workers' tables (worker_tables.cpp)
};

// Bytes one worker's tables take (two counter sets for the epoch flip, four top-talker
// summaries): checked against --memory-budget-mb before anything starts (worker_tables.cpp).
size_t worker_table_bytes(uint32_t precise_sketches, uint32_t tuple_entries);

// Wall-clock seconds (the engine's uptime and publish pacing).
double now_seconds();

// At the exit: when a stop ran, logs what it could not write (the flushers note it in
// stop_deadline()) and returns 1 for a status of 0 when anything was lost; else `status`.
int report_stop(int status);

// Syslog-levelled log lines (3 error, 4 warning, 6 info) of the store and the event hook, from
// their own threads, never per packet.
void control_log(int level, const std::string& message);

}  // namespace darkscope
