// The capture engine: worker lcores that poll (port, queue) lists or offline rings, decode,
// classify, attribute and count into their own CounterSets; the stats core that flips epochs,
// merges, and publishes Snapshots; and the offline reader that feeds pcap/pcapng records through
// the same workers with interval boundaries taken from packet time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "darkscope/classify.hpp"
#include "darkscope/config.hpp"
#include "darkscope/counters.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/snapshot.hpp"
#include "darkscope/topology.hpp"

struct rte_ring;
struct rte_mempool;

namespace darkscope {

class Ports;
class Attribution;
class HistoryStore;
class EventEngine;
class EventHook;
struct Event;
struct StoredRow;
struct StoredPeriod;
struct WorkerContext;

// One time window being accumulated on the stats core: counters and top talkers.
struct WindowAccumulator {
    std::unique_ptr<CounterSet> counters;
    std::unique_ptr<SketchPool> pool;  // counters' precise per-key sketches
    std::unique_ptr<SpaceSaving> sources;
    std::unique_ptr<SpaceSaving> prefixes;
    int64_t start_s = -1;
    int64_t end_s = 0;

    explicit WindowAccumulator(uint32_t precise_sketches);
    void reset(int64_t start);
    void add(const WindowAccumulator& interval);
    WindowData publish(size_t top_n) const;
};

// The row set of one period as the history stores it: top-K keys per dimension plus `other`.
std::vector<StoredRow> period_rows(const CounterSet& c, const std::vector<HeavyHitter>& sources,
                                   const std::vector<HeavyHitter>& prefixes,
                                   const std::vector<std::string>& sensor_names, size_t top_k);

// A live run's first hour or day rollup, merged with what an earlier run stored for the same
// period (a restart in the middle of the hour or day), so that the rewrite does not replace it:
// packets and bytes add up key by key (every dimension still sums to the total), the total's
// unique sources are the union of the two source sketches, and the other unique counts, whose
// sketches the history does not keep, are the larger of the two parts (a lower bound).
void merge_earlier_run(StoredPeriod& now, const StoredPeriod& earlier);

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
    // Reloads the attribution databases (telemetry thread or SIGHUP); returns the result.
    bool reload_attribution(std::string* message);

  private:
    void launch_workers();
    void stop_workers();
    // Flip epochs, merge every worker's retired table, publish. When the workers have stopped,
    // merges their current tables instead (the final partial interval).
    void close_interval(int64_t start_s, int64_t end_s, bool workers_stopped);
    void roll_windows(int64_t start_s);
    void resume_rollup(int resolution, int64_t start_s);
    void store_window(const WindowAccumulator& w, int resolution,
                      const std::vector<StoredRow>& extra_rows = {});
    void flush_rollups();
    void detect_events(int64_t start_s, int64_t end_s);
    void emit_events(const std::vector<Event>& events);
    void publish();
    void refresh_status(Snapshot& s) const;
    void poll_control();

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
    // Scratch for the top talkers the stats core builds from a retired epoch's tuples.
    std::unique_ptr<SpaceSaving> tuple_sources_, tuple_prefixes_;
    std::unique_ptr<SpaceSaving> tuple6_sources_, tuple6_prefixes_;  // IPv6, merged into those
    std::shared_ptr<SeriesHistory> series_;
    std::unique_ptr<HistoryStore> store_;
    // What an earlier run stored for this run's first hour and day ([1], [2]; resume_rollup).
    std::unique_ptr<StoredPeriod> earlier_run_[3];
    std::unique_ptr<EventEngine> events_;
    std::unique_ptr<EventHook> hook_;
    uint64_t intervals_ = 0;
    double start_time_ = 0;
    double last_publish_ = 0;

    mutable std::mutex snapshot_mutex_;  // control plane only: never taken by workers
    std::shared_ptr<const Snapshot> snapshot_;
    std::mutex reload_mutex_;

    rte_mempool* offline_pool_ = nullptr;
    std::vector<void*> heavy_blocks_;
};

// Bytes one worker's tables take (two counter sets for the epoch flip, four top-talker
// summaries): checked against --memory-budget-mb before anything starts.
size_t worker_table_bytes(uint32_t precise_sketches, uint32_t tuple_entries);
// A window of the stats core (interval, hour, day, total) merges many workers' intervals: it
// gets this many times a worker table's precise sketches.
inline constexpr uint32_t kWindowPreciseFactor = 4;

// Writes the offline/live summary: every view under its command name.
void write_summary(const std::string& path, const Snapshot& snapshot,
                   const std::function<std::string(uint32_t)>& asn_name);

}  // namespace darkscope
