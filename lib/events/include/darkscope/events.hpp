// Events: surges of a series over its own baseline, denial-of-service attacks inferred from
// backscatter (Moore et al.; Corsaro's DoS plugin) and scanning campaigns, found once per closed
// interval from what the stats core merged. docs/events.md describes the detectors, the event
// lifecycle and the JSON fields (what scripts/darkscope-report reads).
//
// Pure C++: no EAL, no per-packet work. The stats core calls EventEngine::observe_interval once
// per interval; everything it returns goes to the history store, the log and EventHook.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "darkscope/event_kind.hpp"
#include "darkscope/json.hpp"
#include "darkscope/packet.hpp"

namespace darkscope {

struct EventConfig {
    // --- surges ---
    // An interval is "over" when packets > surge_factor x baseline level, packets > level +
    // surge_spread_factor x spread, packets >= surge_min_packets, and the rise is carried by new
    // sources: unique sources >= surge_min_sources and >= the sources' own baseline plus
    // max(surge_min_sources, surge_spread_factor x the sources' spread).
    double surge_factor = 5;
    uint64_t surge_min_packets = 100;
    uint64_t surge_min_sources = 5;
    unsigned surge_quiet_intervals = 3;  // consecutive intervals not over before `end`
    double surge_spread_factor = 4;
    // EWMA weight of the newest interval for the level and the mean absolute deviation (spread);
    // 0.1 gives a memory of about ten intervals.
    double ewma_alpha = 0.1;
    // The first intervals after the engine starts only learn (no surge can start): every series
    // is new then. A series first seen after the warm-up starts from a baseline of 0, so a rare
    // service that appears is judged by surge_min_packets and surge_min_sources alone.
    unsigned surge_warmup_intervals = 10;
    // A surge still open after this long is taken as the new normal: it ends (reason
    // "rebaselined") and the baseline restarts from the surge's mean level. 0 = never.
    uint32_t surge_max_duration_s = 7 * 86400;
    // An open event reports an update when its peak (surge: busiest interval; dos: packets per
    // minute; scanner: destinations) grows by this fraction over the last reported one, or after
    // its kind's *_update_interval_s without a report.
    double update_growth = 0.25;
    uint32_t surge_update_interval_s = 3600;
    size_t surge_max_series = 200000;  // series tracked; new ones beyond are counted and skipped

    // --- DoS backscatter (Corsaro's defaults) ---
    uint64_t dos_min_packets = 25;
    uint32_t dos_min_duration_s = 60;
    uint64_t dos_min_window_packets = 30;
    uint32_t dos_window_s = 60;
    uint32_t dos_timeout_s = 300;  // an attack ends after this much silence (packet time)
    uint32_t dos_update_interval_s = 3600;
    size_t dos_max_victims = 100000;

    // --- scanners ---
    // A source is a scanner when, within the window, it reached this many distinct dark
    // addresses (a horizontal scan), or this many distinct services in one interval (a
    // vertical scan of a few addresses, as masscan -p0-1000 against one host). 0 disables a
    // test.
    uint64_t scanner_min_destinations = 64;
    uint64_t scanner_min_services = 64;
    uint32_t scanner_window_s = 3600;
    uint32_t scanner_timeout_s = 3600;  // a scanner's campaign ends after this much silence
    uint32_t scanner_update_interval_s = 3600;
    size_t scanner_max_sources = 100000;
    size_t scanner_series_intervals = 1440;  // intervals of active-scanner counts kept

    // Fraction of the IPv4 space the sensors cover (sum of the sensors' IPv4 prefix fractions),
    // for extrapolating attack rates to the whole Internet; 0 = unknown (no extrapolation).
    double ipv4_coverage = 0;

    size_t recent_events = 1000;  // ended events kept for recent() besides the open ones
};

// One series value for one closed interval. Dimensions: service, sensor_service,
// country_service, country, sensor; keys like "21318/tcp", "tokyo-b|21318/tcp",
// "JP|21318/tcp", "JP", "tokyo-b". Pass every key the stats core counted (not only the top K
// kept for storage): a key that is absent counts as 0 in that interval.
struct SeriesPoint {
    std::string dimension, key;
    uint64_t packets = 0;
    uint64_t sources = 0;  // unique source addresses in the interval
    // Optional context reported with the surge (packets per country / sensor in the interval).
    std::vector<std::pair<std::string, uint64_t>> top_countries, top_sensors;
};

// A backscatter victim seen in the interval (merged from the workers' bounded tables).
struct VictimObservation {
    IpAddress addr{};
    uint8_t family = 4;
    uint64_t packets = 0, bytes = 0;
    int64_t first_s = 0, last_s = 0;
    uint64_t per_minute_max = 0;  // the interval's largest packet count in one 60 s window
    uint64_t dark_addresses = 0;  // distinct dark addresses the backscatter reached
    TrafficClass cls = TrafficClass::tcp_backscatter;
    uint8_t proto = 6;      // IP protocol number of the backscatter (6, 17, 1, 58)
    uint16_t port = 0;      // victim port: source port of the backscatter (TCP/UDP)
    uint8_t tcp_flags = 0;  // TCP flags of the backscatter (SYN|ACK, RST, ...); 0 = unknown
    uint8_t icmp_type = 0, quoted_proto = 0;
    uint16_t quoted_port = 0;  // destination port of the quoted (attack) packet
    std::string country;
    uint32_t asn = 0;
};

// A heavy source seen in the interval.
struct SourceObservation {
    IpAddress addr{};
    uint8_t family = 4;
    uint64_t packets = 0;
    uint64_t dark_addresses = 0;        // distinct destinations in the interval, estimated
    std::vector<std::string> services;  // its top services, busiest first ("23/tcp")
    uint64_t service_count = 0;         // distinct services in the interval, estimated
    uint16_t flags = 0;                 // Flag bits seen on its packets
    int64_t first_s = 0, last_s = 0;
    std::string country;
    uint32_t asn = 0;
};

// One phase of one event. Fields not used by a kind stay empty and are left out of json().
struct Event {
    std::string id;  // shared by the event's phases: "<kind>:<what>:<start>"
    EventKind kind = EventKind::surge;
    EventPhase phase = EventPhase::start;
    int64_t time = 0;    // end of the interval that produced this phase (unix seconds)
    int64_t start = 0;   // surge: start of its first interval over; dos/scanner: first packet
    int64_t end = 0;     // surge: end of its last interval over; dos/scanner: last packet
    std::string reason;  // end only: "quiet", "timeout", "rebaselined", "shutdown"

    // surge
    std::string dimension, key;
    double baseline = 0, spread = 0;  // packets per interval before the surge
    double sources_baseline = 0;
    double factor = 0;          // peak_packets / baseline; 0 (JSON null) if baseline < 1
    uint64_t peak_packets = 0;  // busiest interval
    double peak_rate_pps = 0;   // busiest interval, packets per second
    uint64_t intervals = 0;     // intervals over the threshold so far
    std::vector<std::pair<std::string, uint64_t>> countries, sensors;  // packets, busiest first

    // surge, dos, scanner
    uint64_t packets = 0;  // packets counted in the event so far
    uint64_t sources = 0;  // surge: most unique sources in one interval (uniques do not add)

    // dos / scanner
    std::string address;  // dos: the victim; scanner: the source
    uint8_t family = 0;
    std::string country;
    uint32_t asn = 0;
    uint64_t destinations = 0;  // dos: most dark addresses in one interval; scanner: see docs

    // dos
    uint64_t bytes = 0;
    uint64_t peak_ppm = 0;
    std::string vector;                                     // the main attack vector
    std::vector<std::pair<std::string, uint64_t>> vectors;  // every vector with its packets
    std::vector<uint16_t> ports;                            // victim ports (TCP/UDP)
    double rate_pps = 0;                                    // packets / duration at the sensors
    double extrapolated_pps = 0;  // rate_pps / ipv4_coverage (0 = unknown)
    double peak_extrapolated_pps = 0;

    // scanner
    uint64_t service_count = 0;  // most distinct services in one interval
    std::string scan_type;       // horizontal | vertical | both
    std::vector<std::string> services;
    std::vector<std::string> flags;  // every flag name seen
    std::vector<std::string> tools;  // zmap, masscan, mirai, nmap
    uint16_t flag_bits = 0;

    // The file of the event's packets (--record-dir with --record-events on), set by the stats
    // core: docs/recording.md.
    std::string capture;

    std::string json() const;      // one JSON object, all fields of the kind (docs/events.md)
    std::string log_line() const;  // one line for the log
};

// Active scanners in one interval: open scanner events observed in it, per service and
// per source country (busiest first).
struct ScannerActivity {
    int64_t start = 0, end = 0;
    uint64_t scanners = 0;
    std::vector<std::pair<std::string, uint64_t>> services, countries;
};

class EventEngine {
  public:
    explicit EventEngine(EventConfig config);
    ~EventEngine();
    EventEngine(const EventEngine&) = delete;
    EventEngine& operator=(const EventEngine&) = delete;

    // Feeds one closed interval [start_s, end_s); returns the events that started, updated or
    // ended in it (surges, then DoS attacks, then scanners). Intervals must come in time order.
    std::vector<Event> observe_interval(int64_t start_s, int64_t end_s,
                                        const std::vector<SeriesPoint>& series,
                                        const std::vector<VictimObservation>& victims,
                                        const std::vector<SourceObservation>& sources);
    // At shutdown: ends every open event (reason "shutdown") at end_s.
    std::vector<Event> finish(int64_t end_s);

    // The views below may be called from any thread while observe_interval runs on another.
    // Open and recently ended events (latest phase of each), newest first, optionally one kind.
    std::vector<Event> recent(size_t n, std::optional<EventKind> kind = std::nullopt) const;
    std::vector<Event> recent_dos(size_t n) const { return recent(n, EventKind::dos); }
    std::vector<Event> recent_scanners(size_t n) const { return recent(n, EventKind::scanner); }
    // The last k intervals of active-scanner counts, oldest first.
    std::vector<ScannerActivity> scanner_activity(size_t k) const;

    struct Stats {
        uint64_t intervals = 0;
        uint64_t events = 0;  // phases emitted
        size_t series_tracked = 0, victims_tracked = 0, sources_tracked = 0;
        size_t open_surges = 0, open_dos = 0, open_scanners = 0;
        uint64_t series_skipped = 0;       // new series beyond surge_max_series
        uint64_t victims_skipped = 0;      // new victims beyond dos_max_victims
        uint64_t sources_skipped = 0;      // new sources beyond scanner_max_sources
        uint64_t dos_below_threshold = 0;  // victims that went silent without passing
    };
    Stats stats() const;

    const EventConfig& config() const { return config_; }

  private:
    struct SeriesState;
    struct VictimState;
    struct SourceState;

    void observe_series(int64_t start_s, int64_t end_s, const std::vector<SeriesPoint>& series,
                        std::vector<Event>& out);
    void observe_victims(int64_t start_s, int64_t end_s,
                         const std::vector<VictimObservation>& victims, std::vector<Event>& out);
    Event victim_event(const VictimState& s, int64_t end_s, EventPhase phase) const;
    Event scanner_event(const SourceState& s, int64_t end_s, EventPhase phase) const;
    void observe_sources(int64_t start_s, int64_t end_s,
                         const std::vector<SourceObservation>& sources, std::vector<Event>& out);
    void publish(const std::vector<Event>& events);

    EventConfig config_;
    uint64_t intervals_seen_ = 0;
    int64_t last_end_ = 0;
    std::unordered_map<std::string, std::unique_ptr<SeriesState>> series_;   // "dim\x1fkey"
    std::unordered_map<std::string, std::unique_ptr<VictimState>> victims_;  // address text
    std::unordered_map<std::string, std::unique_ptr<SourceState>> sources_;  // address text

    // Views for other threads.
    mutable std::mutex view_mutex_;
    std::list<Event> view_;  // latest phase of each event, most recently changed first
    std::unordered_map<std::string, std::list<Event>::iterator> view_index_;
    size_t view_ended_ = 0;
    std::deque<ScannerActivity> activity_;
    Stats counters_;  // the engine thread's own
    Stats stats_;     // copy published under view_mutex_
};

// Runs a hook command (through /bin/sh -c) with an event's JSON on stdin, off the data path:
// one background thread, a bounded queue (a full queue drops the new event, counted), and a
// timeout after which the command's whole process group is killed.
class EventHook {
  public:
    // log(level, message) uses syslog levels (3 error, 4 warning, 6 info); called on the hook
    // thread or the submitting thread (drops), at most once per event. May be empty.
    EventHook(std::string command, double timeout_s,
              std::function<void(int, const std::string&)> log, size_t queue_limit = 256);
    // Runs what is queued, within a shutdown budget of twice the timeout; the rest is dropped.
    ~EventHook();
    EventHook(const EventHook&) = delete;
    EventHook& operator=(const EventHook&) = delete;

    void submit(const Event& event);  // never blocks
    void submit(std::string json);    // same, for a ready JSON text
    void flush();                     // waits until the queue is empty and no command runs
    // flush() until `by` at the latest (the stop's deadline): then the command under way is
    // killed and the queued events are dropped. Returns how many events were cut short or not
    // run (0: every event went through the hook).
    size_t flush_until(std::chrono::steady_clock::time_point by);

    struct Stats {
        uint64_t submitted = 0, runs = 0, failures = 0, timeouts = 0, drops = 0;
        size_t queue_depth = 0;
    };
    Stats stats() const;

  private:
    void run_loop();
    void run_one(const std::string& json);
    void log(int level, const std::string& message) const;

    std::string command_;
    double timeout_s_;
    std::function<void(int, const std::string&)> log_;
    size_t queue_limit_;
    mutable std::mutex mutex_;
    std::condition_variable work_cv_, idle_cv_;
    std::deque<std::string> queue_;
    bool busy_ = false, stopping_ = false;
    std::atomic<bool> cut_{false};  // flush_until() ran out of time: kill, run nothing more
    Stats stats_;
    std::thread thread_;
};

// The attack vector as an analyst writes it: "SYN-ACK from 80/tcp", "ICMP unreachable quoting
// udp/53", "UDP reflection from 53/udp".
std::string describe_vector(const VictimObservation& v);

}  // namespace darkscope
