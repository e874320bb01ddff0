// Snapshot: what the stats core publishes after each interval. Immutable once published;
// telemetry callbacks and the summary writer read it from any thread while workers run.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/event_kind.hpp"
#include "darkscope/heavy_hitters.hpp"

namespace darkscope {

struct PortStatus {
    std::string name;
    std::string driver;
    int socket = -1;
    unsigned rx_queues = 0;
    bool link_up = false;
    uint32_t link_speed_mbps = 0;
    uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
};

struct MempoolStatus {
    std::string name;
    uint64_t free = 0, size = 0;  // mbufs available, and the pool's size
};

struct WorkerStatus {
    unsigned id = 0;
    unsigned lcore = 0;
    int numa_node = -1;
    std::string queues;  // "0:0 1:0" (port:queue)
    uint64_t packets = 0, bursts = 0, idle_polls = 0;
};

// What closing intervals cost the stats core (merge, roll, events, store, publish), for
// /darkscope/closes: an interval without packets must cost microseconds, one that held packets
// in proportion to what it held. Wall time of each close_interval call, less the wait for the
// workers to acknowledge the epoch flip, which is kept apart (live only).
struct CloseTimes {
    struct Kind {
        uint64_t closes = 0;
        double total_us = 0;
        double max_us = 0;
        void add(double us) {
            ++closes;
            total_us += us;
            max_us = us > max_us ? us : max_us;
        }
    };
    Kind empty;  // intervals that held no packet
    Kind busy;
    Kind flip_wait;
    double last_us = 0;
};

// One time window's merged counters and top talkers.
struct WindowData {
    std::shared_ptr<const CounterSet> counters;
    std::vector<HeavyHitter> sources;   // busiest source addresses
    std::vector<HeavyHitter> prefixes;  // busiest source /24 (IPv4) and /48 (IPv6)
    uint64_t heavy_error_bound = 0;     // Space-Saving: counts are at most this much over
    int64_t start_s = 0;
    int64_t end_s = 0;
};

// Per-interval packets and unique sources of the busiest keys, for /darkscope/series.
struct SeriesHistory {
    struct Interval {
        int64_t start_s = 0;
        std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> points;  // key -> p, s
    };
    std::deque<std::shared_ptr<const Interval>> intervals;  // oldest first, bounded
};

// One field of a published event: text, or a count or time as a JSON number (a time before
// 1970, which no capture holds, would be the signed one).
using EventField = std::variant<std::string, uint64_t, int64_t>;

// Published events (open and recent), newest first, as flat fields for telemetry.
struct EventSummary {
    EventKind kind = EventKind::surge;
    std::vector<std::pair<std::string, EventField>> fields;
};
struct EventLists {
    std::vector<EventSummary> events;
};

struct Snapshot {
    uint64_t intervals = 0;    // completed intervals merged so far
    int64_t last_start_s = 0;  // the last completed interval [start, end), epoch seconds
    int64_t last_end_s = 0;
    uint32_t interval_s = 60;
    double uptime_s = 0;
    bool offline = false;
    WindowData last;   // the last completed interval
    WindowData hour;   // the hour the last interval belongs to, up to it
    WindowData day;    // the UTC day, likewise
    WindowData total;  // every completed interval since start
    std::vector<PortStatus> ports;
    std::vector<WorkerStatus> workers;
    std::vector<std::string> sensor_names;  // index = sensor slot
    std::shared_ptr<const SeriesHistory> series;
    std::shared_ptr<const EventLists> events;
    // Memory, for /darkscope/stats and the bounded-memory test: process resident set (now and
    // peak) and DPDK heap bytes allocated (hugepages, or ordinary memory with --no-huge).
    uint64_t rss_bytes = 0, rss_peak_bytes = 0, dpdk_heap_bytes = 0;
    // Store state, for /darkscope/stats.
    uint64_t store_written = 0, store_dropped = 0, store_errors = 0;
    std::vector<MempoolStatus> mempools;
    // Events started since the run began, by kind (surge, dos, scanner): for the metrics.
    std::vector<std::pair<std::string, uint64_t>> events_started;
    CloseTimes closes;  // of the closes before this snapshot's publish
};

}  // namespace darkscope
