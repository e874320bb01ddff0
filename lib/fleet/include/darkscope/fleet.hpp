// Fleet export: each closed interval of this appliance, shipped to a ClickHouse cluster through
// a bounded spool on disk (docs/fleet.md).
//
// The stats core hands the exporter what it must copy before the interval's tables are cleared
// (the retired tuple tables, the events, the interval's rows): plain copies into a pending
// interval, then one move into a bounded queue. Everything else runs on the exporter's own
// thread: the rows as text, the spool file (written under a temporary name and renamed), the
// quota, and the delivery to ClickHouse's HTTP interface with libcurl, oldest interval first.
// An interval leaves the spool only once ClickHouse has acknowledged all of it; each insert is
// checked first (rows of this appliance, interval and export id already there), so a retry after
// a crash between an insert and its acknowledgement never doubles an interval.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "darkscope/history_store.hpp"
#include "darkscope/source_tuples.hpp"
#include "darkscope/spill_log.hpp"

namespace darkscope {

// Bad fleet options found at start-up (malformed URL, unreadable credentials, unusable spool):
// main() prints the message on one line and exits 2.
struct FleetSetupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The checked fleet options. `url` never holds the credentials.
struct FleetSettings {
    std::string url;       // scheme://host[:port]/path, no user information, no query
    std::string database;  // from the URL's ?database= (default "darkscope")
    std::string user, password;
    std::string appliance;
    std::string spool_dir;
    uint64_t spool_quota_bytes = 0;
    bool tuples = true;
};

// Parses and checks --fleet-url, --fleet-credentials, --appliance (empty: the host name),
// --fleet-spool (created when missing, and must be writable) and the quota. Throws
// FleetSetupError with one line naming the option.
FleetSettings fleet_settings_of(const std::string& url, const std::string& credentials_file,
                                const std::string& appliance, const std::string& spool_dir,
                                unsigned spool_quota_mb, bool tuples);

// One source tuple as the interval export keeps it (both families: IPv6 network order in
// `source`, IPv4 the host-order word IpAddress::v4 holds in its first four bytes).
struct FleetTuple {
    uint8_t source[16];
    uint8_t family;
    uint16_t country;
    uint16_t flags;
    uint32_t where;  // TupleWhere
    uint32_t asn;
    uint32_t packets;
    uint32_t first_s, last_s;
    uint64_t bytes;
};

// Aggregates-only mode: one key's unique-source sketch, serialized (BasicHyperLogLog::serialize),
// which the fleet's reports merge across appliances and intervals.
struct FleetSketch {
    std::string dimension, key;
    std::vector<uint8_t> sketch;
};

// One closed interval waiting for the exporter's thread.
struct FleetInterval {
    int64_t start = 0, end = 0;
    uint64_t packets = 0, bytes = 0;
    // Spilled packets no spill log had room for: IP packets without a tuple (stated in the
    // interval's row, never silent).
    uint64_t tuples_unexported = 0;
    std::vector<FleetTuple> tuples;
    std::vector<FleetSketch> sketches;  // aggregates only (tuples off)
    std::vector<StoredRow> rows;
    std::vector<StoredEvent> events;
};

// What /darkscope/fleet answers.
struct FleetStatus {
    bool connected = false;
    int64_t last_delivered_interval = -1;
    uint64_t spool_bytes = 0, spool_intervals = 0, dropped_intervals = 0;
    uint64_t failures = 0;
    std::string last_error;
    uint64_t rows_sent = 0, bytes_sent = 0;
    uint64_t queue_dropped = 0;      // intervals the full queue refused (live only, never offline)
    uint64_t tuples_unexported = 0;  // packets the closed intervals' tuples lack (full spill logs)
};

class Spool;
class ClickHouseClient;

class FleetExporter {
  public:
    // `offline`: the stats core waits for room in the queue instead of dropping an interval.
    FleetExporter(FleetSettings settings, bool offline);
    ~FleetExporter();  // stop()
    FleetExporter(const FleetExporter&) = delete;
    FleetExporter& operator=(const FleetExporter&) = delete;

    // Stats core, during an interval's close: copies of what the interval's tables hold, and
    // each packet of `spills` (null: none kept) as a tuple of its own.
    void add_tuples(const SourceTupleTable& tuples, const SourceTuple6Table& tuples6,
                    const SpillLog* spills);
    void add_event(StoredEvent event);
    // Aggregates only: the interval's source sketches (ignored with tuples on).
    void add_sketches(std::vector<FleetSketch> sketches);
    // Ends the pending interval and queues it. `sensor_names`: index = sensor slot.
    void close_interval(int64_t start, int64_t end, uint64_t packets, uint64_t bytes,
                        std::vector<StoredRow> rows, const std::vector<std::string>& sensor_names);

    // The stop has begun: from now on nothing waits past `by` (a delivery under way then is
    // abandoned, its interval stays in the spool for the next run; an offline close waits for
    // room in the queue until then at most). Called once, before the last interval's close.
    void finish_by(std::chrono::steady_clock::time_point by);
    // Spools what is queued, makes a last delivery attempt (until finish_by's time, when given)
    // and stops the thread. Idempotent.
    void stop();
    // Intervals lost since finish_by() because a spool write failed (neither delivered nor
    // spooled). The quota's drops are its policy, logged as during the run: not counted here.
    uint64_t dropped_since_stop() const;
    FleetStatus status() const;
    bool tuples_on() const { return settings_.tuples; }

  private:
    void run();
    std::chrono::steady_clock::time_point stop_by() const;  // max() before finish_by()
    void spool_queued();
    bool deliver_spool();  // false: a delivery failed (the rest waits)
    void note_failure(const std::string& error);

    const FleetSettings settings_;
    const bool offline_;
    const uint64_t run_id_;
    FleetInterval pending_;
    std::vector<std::string> sensor_names_;  // copied by close_interval, read by the thread

    mutable std::mutex mutex_;
    std::condition_variable wake_, room_;
    std::deque<FleetInterval> queue_;
    bool stopping_ = false;
    std::atomic<int64_t> stop_by_ns_{0};  // finish_by's time (steady clock); 0: not stopping
    uint64_t unspooled_ = 0;              // intervals a spool write failure lost
    uint64_t unspooled_at_stop_ = 0;      // unspooled_ when finish_by() ran
    bool told_unexported_ = false;  // stats core: logged the first interval a full spill log cut
    FleetStatus status_;
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<ClickHouseClient> client_;
    std::thread thread_;
};

// Registers /darkscope/fleet on DPDK's telemetry socket; `status` is called on a telemetry
// thread (null exporter: the export is off).
void register_fleet_telemetry(std::function<std::unique_ptr<FleetStatus>()> status);

}  // namespace darkscope
