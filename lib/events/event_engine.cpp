// EventEngine: the three detectors, run once per closed interval on the stats core.
#include <algorithm>
#include <cmath>
#include <set>

#include "darkscope/decode.hpp"
#include "darkscope/events.hpp"
#include "darkscope/prefix.hpp"

namespace darkscope {

namespace {

constexpr size_t kMaxContextEntries = 64;  // countries / sensors kept per surge
constexpr size_t kMaxVectors = 16;         // attack vectors kept per victim
constexpr size_t kMaxPorts = 32;           // victim ports kept per victim
constexpr size_t kMaxServices = 32;        // services kept per scanner
constexpr size_t kReportedServices = 16;
constexpr size_t kActivityKeys = 256;  // services / countries kept per activity interval

// Adds `packets` to `key`, keeping at most `limit` keys: when full, the smallest entry is
// replaced only by a larger newcomer (a Space-Saving-like bound, enough for context lists).
void add_bounded(std::map<std::string, uint64_t>& m, const std::string& key, uint64_t packets,
                 size_t limit) {
    auto it = m.find(key);
    if (it != m.end()) {
        it->second += packets;
        return;
    }
    if (m.size() < limit) {
        m.emplace(key, packets);
        return;
    }
    auto smallest = std::min_element(
        m.begin(), m.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    if (smallest->second < packets) {
        m.erase(smallest);
        m.emplace(key, packets);
    }
}

std::vector<std::pair<std::string, uint64_t>> busiest_first(
    const std::map<std::string, uint64_t>& m, size_t limit = SIZE_MAX) {
    std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > limit) {
        v.resize(limit);
    }
    return v;
}

std::string proto_text(uint8_t proto) {
    switch (proto) {
        case 6:
            return "tcp";
        case 17:
            return "udp";
        case 1:
            return "icmp";
        case 58:
            return "icmpv6";
        default:
            return "proto " + std::to_string(proto);
    }
}

std::string icmp_text(uint8_t proto, uint8_t type) {
    if (proto == 58) {
        switch (type) {
            case 1:
                return "ICMPv6 unreachable";
            case 2:
                return "ICMPv6 packet too big";
            case 3:
                return "ICMPv6 time exceeded";
            case 4:
                return "ICMPv6 parameter problem";
            case 129:
                return "ICMPv6 echo reply";
            default:
                return "ICMPv6 type " + std::to_string(type);
        }
    }
    switch (type) {
        case 0:
            return "ICMP echo reply";
        case 3:
            return "ICMP unreachable";
        case 4:
            return "ICMP source quench";
        case 5:
            return "ICMP redirect";
        case 11:
            return "ICMP time exceeded";
        case 12:
            return "ICMP parameter problem";
        case 14:
            return "ICMP timestamp reply";
        default:
            return "ICMP type " + std::to_string(type);
    }
}

bool icmp_is_error(uint8_t proto, uint8_t type) {
    return proto == 58 ? type < 128
                       : (type == 3 || type == 4 || type == 5 || type == 11 || type == 12);
}

}  // namespace

// The attack vector as an analyst writes it: "SYN-ACK from 80/tcp", "ICMP unreachable quoting
// udp/53", "UDP reflection from 53/udp".
std::string describe_vector(const VictimObservation& v) {
    if (v.proto == 6) {
        uint8_t f = v.tcp_flags;
        std::string what = (f & tcp_syn) && (f & tcp_ack)   ? "SYN-ACK"
                           : (f & tcp_rst) && (f & tcp_ack) ? "RST-ACK"
                           : (f & tcp_rst)                  ? "RST"
                                                            : "TCP backscatter";
        return what + " from " + std::to_string(v.port) + "/tcp";
    }
    if (v.proto == 17) {
        return "UDP reflection from " + std::to_string(v.port) + "/udp";
    }
    if (v.proto == 1 || v.proto == 58) {
        std::string s = icmp_text(v.proto, v.icmp_type);
        if (icmp_is_error(v.proto, v.icmp_type) && v.quoted_proto != 0) {
            s += " quoting " + proto_text(v.quoted_proto);
            if (v.quoted_proto == 6 || v.quoted_proto == 17) {
                s += "/" + std::to_string(v.quoted_port);
            }
        }
        return s;
    }
    return proto_text(v.proto) + " backscatter";
}

// ---------------------------------------------------------------------------------------------
// State

struct EventEngine::SeriesState {
    std::string dimension, key;
    double level = 0, spread = 0;          // packets per interval
    double src_level = 0, src_spread = 0;  // unique sources per interval
    // This interval's input (summed over duplicate points).
    uint64_t cur_packets = 0, cur_sources = 0;
    std::vector<const SeriesPoint*> cur_points;
    // The open surge, if any; allocated only while open, as most series never surge.
    struct Open {
        unsigned quiet = 0;
        Event event;
        uint64_t reported_peak = 0;
        int64_t last_report = 0;
        std::map<std::string, uint64_t> countries, sensors;
    };
    std::unique_ptr<Open> open;
};

struct EventEngine::VictimState {
    IpAddress addr{};
    uint8_t family = 4;
    std::string address;
    int64_t first_s = 0, last_s = 0;
    uint64_t packets = 0, bytes = 0, peak_ppm = 0, dark_max = 0, intervals = 0;
    std::deque<std::pair<int64_t, uint64_t>> recent;  // (interval start, packets)
    std::map<std::string, uint64_t> vectors;
    std::set<uint16_t> ports;
    std::string country;
    uint32_t asn = 0;
    bool reported = false;
    int64_t last_report = 0;
    uint64_t reported_peak = 0;
    // This interval's merged observation.
    bool seen = false;
    uint64_t cur_packets = 0, cur_ppm = 0, cur_dark = 0;
};

struct EventEngine::SourceState {
    IpAddress addr{};
    uint8_t family = 4;
    std::string address;
    int64_t first_s = 0, last_s = 0;
    uint64_t packets = 0, destinations = 0, service_count = 0, intervals = 0;
    struct Slot {
        int64_t start;
        uint64_t destinations;
    };
    std::deque<Slot> window;
    bool horizontal = false, vertical = false;
    std::map<std::string, uint64_t> services;  // service -> rank-weighted score
    uint16_t flags = 0;
    std::string country;
    uint32_t asn = 0;
    bool reported = false;
    int64_t last_report = 0;
    uint64_t reported_destinations = 0;
    std::string event_id;
    // This interval's merged observation.
    bool seen = false;
    uint64_t cur_destinations = 0, cur_service_count = 0;
    std::vector<std::string> cur_services;
};

EventEngine::EventEngine(EventConfig config) : config_(std::move(config)) {}
EventEngine::~EventEngine() = default;

std::vector<Event> EventEngine::observe_interval(int64_t start_s, int64_t end_s,
                                                 const std::vector<SeriesPoint>& series,
                                                 const std::vector<VictimObservation>& victims,
                                                 const std::vector<SourceObservation>& sources) {
    std::vector<Event> out;
    ++intervals_seen_;
    last_end_ = end_s;
    observe_series(start_s, end_s, series, out);
    observe_victims(start_s, end_s, victims, out);
    observe_sources(start_s, end_s, sources, out);
    counters_.intervals = intervals_seen_;
    publish(out);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Surges

void EventEngine::observe_series(int64_t start_s, int64_t end_s,
                                 const std::vector<SeriesPoint>& series, std::vector<Event>& out) {
    const EventConfig& c = config_;
    for (const SeriesPoint& p : series) {
        std::string id = p.dimension + '\x1f' + p.key;
        auto it = series_.find(id);
        if (it == series_.end()) {
            if (series_.size() >= c.surge_max_series) {
                ++counters_.series_skipped;
                continue;
            }
            auto s = std::make_unique<SeriesState>();
            s->dimension = p.dimension;
            s->key = p.key;
            // Seeded at the first value only while learning; after the warm-up a new series
            // was at 0 while we watched (see EventConfig::surge_warmup_intervals).
            if (intervals_seen_ <= c.surge_warmup_intervals) {
                s->level = static_cast<double>(p.packets);
                s->spread = std::sqrt(s->level);  // Poisson-like spread until learnt
                s->src_level = static_cast<double>(p.sources);
                s->src_spread = std::sqrt(s->src_level);
            }
            it = series_.emplace(std::move(id), std::move(s)).first;
        }
        SeriesState& s = *it->second;
        s.cur_packets += p.packets;
        s.cur_sources = std::max(s.cur_sources, p.sources);
        s.cur_points.push_back(&p);
    }

    const bool learning = intervals_seen_ <= c.surge_warmup_intervals;
    const double a = c.ewma_alpha;
    const double k = c.surge_spread_factor;
    const double length_s = static_cast<double>(std::max<int64_t>(end_s - start_s, 1));
    auto ewma = [a](double& level, double& spread, double x) {
        double dev = std::fabs(x - level);
        level += a * (x - level);
        spread += a * (dev - spread);
    };

    for (auto it = series_.begin(); it != series_.end();) {
        SeriesState& s = *it->second;
        const double x = static_cast<double>(s.cur_packets);
        const double xs = static_cast<double>(s.cur_sources);
        // Spreads never below Poisson's (sqrt of the level): an EWMA of the absolute deviation
        // learnt from few intervals can come out small by chance, and a unique-source count
        // that jitters by a few tens must not look like new sources arriving.
        const double spread = std::max(s.spread, std::sqrt(s.level));
        const double src_spread = std::max(s.src_spread, std::sqrt(s.src_level));
        const double packets_threshold = std::max(c.surge_factor * s.level, s.level + k * spread);
        const double sources_needed =
            s.src_level + std::max(static_cast<double>(c.surge_min_sources), k * src_spread);
        const bool over = !learning && x > packets_threshold &&
                          s.cur_packets >= c.surge_min_packets &&
                          s.cur_sources >= c.surge_min_sources && xs >= sources_needed;

        auto merge_context = [&] {
            bool have_countries = false, have_sensors = false;
            for (const SeriesPoint* p : s.cur_points) {
                for (const auto& [name, n] : p->top_countries) {
                    add_bounded(s.open->countries, name, n, kMaxContextEntries);
                    have_countries = true;
                }
                for (const auto& [name, n] : p->top_sensors) {
                    add_bounded(s.open->sensors, name, n, kMaxContextEntries);
                    have_sensors = true;
                }
            }
            // Without context lists, the key itself names the country or sensor.
            auto bar = s.key.find('|');
            std::string head = bar == std::string::npos ? s.key : s.key.substr(0, bar);
            std::string tail = bar == std::string::npos ? "" : s.key.substr(bar + 1);
            if (!have_countries) {
                if (s.dimension == "country" || s.dimension == "country_service") {
                    add_bounded(s.open->countries, head, s.cur_packets, kMaxContextEntries);
                } else if (s.dimension == "sensor_country") {
                    add_bounded(s.open->countries, tail, s.cur_packets, kMaxContextEntries);
                }
            }
            if (!have_sensors && (s.dimension == "sensor" || s.dimension == "sensor_service" ||
                                  s.dimension == "sensor_country")) {
                add_bounded(s.open->sensors, head, s.cur_packets, kMaxContextEntries);
            }
            s.open->event.countries = busiest_first(s.open->countries);
            s.open->event.sensors = busiest_first(s.open->sensors);
        };

        if (learning) {
            ewma(s.level, s.spread, x);
            ewma(s.src_level, s.src_spread, xs);
        } else if (!s.open) {
            if (over) {
                s.open = std::make_unique<SeriesState::Open>();
                Event& e = s.open->event;
                e = Event{};
                e.kind = EventKind::surge;
                e.id = "surge:" + s.dimension + ":" + s.key + ":" + std::to_string(start_s);
                e.dimension = s.dimension;
                e.key = s.key;
                e.start = start_s;
                e.end = end_s;
                e.baseline = s.level;
                e.spread = s.spread;
                e.sources_baseline = s.src_level;
                e.intervals = 1;
                e.packets = s.cur_packets;
                e.peak_packets = s.cur_packets;
                e.peak_rate_pps = x / length_s;
                e.sources = s.cur_sources;
                e.factor = s.level >= 1 ? x / s.level : 0;
                merge_context();
                e.phase = EventPhase::start;
                e.time = end_s;
                out.push_back(e);
                s.open->reported_peak = s.cur_packets;
                s.open->last_report = end_s;
            } else {
                // Clipped to the upper edge of normal so that one interval's outlier (a noisy
                // host) cannot drag the baseline; a lasting rise still gets in, as the spread
                // grows by about a third per interval while it lasts.
                double cap =
                    std::max(s.level + k * spread, static_cast<double>(c.surge_min_packets));
                ewma(s.level, s.spread, std::min(x, cap));
                ewma(s.src_level, s.src_spread, std::min(xs, sources_needed));
            }
        } else {
            // Open: the baseline stays frozen so the surge cannot become its own baseline.
            Event& e = s.open->event;
            e.reason.clear();
            if (over) {
                s.open->quiet = 0;
                e.end = end_s;
                ++e.intervals;
                e.packets += s.cur_packets;
                e.sources = std::max(e.sources, s.cur_sources);
                if (s.cur_packets > e.peak_packets) {
                    e.peak_packets = s.cur_packets;
                    e.peak_rate_pps = x / length_s;
                    e.factor = e.baseline >= 1 ? x / e.baseline : 0;
                }
                merge_context();
                const bool too_long =
                    c.surge_max_duration_s > 0 &&
                    end_s - e.start >= static_cast<int64_t>(c.surge_max_duration_s);
                if (too_long) {
                    e.phase = EventPhase::end;
                    e.reason = "rebaselined";
                    e.time = end_s;
                    out.push_back(e);
                    s.level = static_cast<double>(e.packets) / static_cast<double>(e.intervals);
                    s.spread = std::sqrt(s.level);
                    s.src_level = xs;
                    s.src_spread = std::sqrt(xs);
                    s.open.reset();  // `e` is gone from here on
                } else if (static_cast<double>(e.peak_packets) >
                               static_cast<double>(s.open->reported_peak) * (1 + c.update_growth) ||
                           end_s - s.open->last_report >=
                               static_cast<int64_t>(c.surge_update_interval_s)) {
                    e.phase = EventPhase::update;
                    e.time = end_s;
                    out.push_back(e);
                    s.open->reported_peak = e.peak_packets;
                    s.open->last_report = end_s;
                }
            } else if (++s.open->quiet >= c.surge_quiet_intervals) {
                e.phase = EventPhase::end;
                e.reason = "quiet";
                e.time = end_s;
                out.push_back(e);
                s.open.reset();
            }
        }

        s.cur_packets = 0;
        s.cur_sources = 0;
        s.cur_points.clear();
        // A series that has faded away costs memory and nothing else: forget it. If it comes
        // back it starts from 0, which is where its baseline had decayed to anyway.
        if (!s.open && s.level < 0.1 && s.spread < 0.1 && s.src_level < 0.1) {
            it = series_.erase(it);
        } else {
            ++it;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DoS attacks

// Finds or starts the tracked state of one address (a victim or a source) and adds the
// observation's times and packets; nullptr when the map is at its bound (counted in `skipped`).
template <typename Map, typename Observation>
auto track(Map& map, const Observation& o, size_t limit, uint64_t& skipped) ->
    typename Map::mapped_type::element_type* {
    using State = typename Map::mapped_type::element_type;
    std::string address = format_address(o.addr, o.family);
    auto it = map.find(address);
    if (it == map.end()) {
        if (map.size() >= limit) {
            ++skipped;
            return nullptr;
        }
        auto s = std::make_unique<State>();
        s->addr = o.addr;
        s->family = o.family;
        s->address = address;
        s->first_s = o.first_s;
        s->last_s = o.last_s;
        it = map.emplace(address, std::move(s)).first;
    }
    State& s = *it->second;
    s.seen = true;
    s.first_s = std::min(s.first_s, o.first_s);
    s.last_s = std::max(s.last_s, o.last_s);
    s.packets += o.packets;
    return &s;
}

void EventEngine::observe_victims(int64_t start_s, int64_t end_s,
                                  const std::vector<VictimObservation>& victims,
                                  std::vector<Event>& out) {
    const EventConfig& c = config_;
    for (const VictimObservation& v : victims) {
        if (v.packets == 0) {
            continue;
        }
        VictimState* tracked = track(victims_, v, c.dos_max_victims, counters_.victims_skipped);
        if (tracked == nullptr) {
            continue;
        }
        VictimState& s = *tracked;
        s.bytes += v.bytes;
        s.cur_packets += v.packets;
        s.cur_ppm = std::max(s.cur_ppm, v.per_minute_max);
        s.cur_dark = std::max(s.cur_dark, v.dark_addresses);
        add_bounded(s.vectors, describe_vector(v), v.packets, kMaxVectors);
        if ((v.proto == 6 || v.proto == 17) && s.ports.size() < kMaxPorts) {
            s.ports.insert(v.port);
        }
        if (!v.country.empty()) {
            s.country = v.country;
        }
        if (v.asn != 0) {
            s.asn = v.asn;
        }
    }

    for (auto it = victims_.begin(); it != victims_.end();) {
        VictimState& s = *it->second;
        if (s.seen) {
            ++s.intervals;
            // Packets of the intervals that lie within the last window are within one window
            // too: this finds a busy minute that straddles short intervals.
            s.recent.emplace_back(start_s, s.cur_packets);
            uint64_t trailing = 0;
            while (!s.recent.empty() &&
                   s.recent.front().first < end_s - static_cast<int64_t>(c.dos_window_s)) {
                s.recent.pop_front();
            }
            for (const auto& r : s.recent) {
                trailing += r.second;
            }
            s.peak_ppm = std::max({s.peak_ppm, s.cur_ppm, trailing});
            s.dark_max = std::max(s.dark_max, s.cur_dark);
            const bool passes =
                s.packets >= c.dos_min_packets &&
                s.last_s - s.first_s >= static_cast<int64_t>(c.dos_min_duration_s) &&
                s.peak_ppm >= c.dos_min_window_packets;
            if (!s.reported && passes) {
                s.reported = true;
                out.push_back(victim_event(s, end_s, EventPhase::start));
                s.reported_peak = s.peak_ppm;
                s.last_report = end_s;
            } else if (s.reported &&
                       (static_cast<double>(s.peak_ppm) >
                            static_cast<double>(s.reported_peak) * (1 + c.update_growth) ||
                        end_s - s.last_report >= static_cast<int64_t>(c.dos_update_interval_s))) {
                out.push_back(victim_event(s, end_s, EventPhase::update));
                s.reported_peak = s.peak_ppm;
                s.last_report = end_s;
            }
            s.seen = false;
            s.cur_packets = s.cur_ppm = s.cur_dark = 0;
        }
        if (end_s - s.last_s >= static_cast<int64_t>(c.dos_timeout_s)) {
            if (s.reported) {
                Event e = victim_event(s, end_s, EventPhase::end);
                e.reason = "timeout";
                out.push_back(std::move(e));
            } else {
                ++counters_.dos_below_threshold;
            }
            it = victims_.erase(it);
        } else {
            ++it;
        }
    }
}

// The fields a DoS and a scanner event share: one tracked address over its first and last packet.
template <typename State>
Event address_event(EventKind kind, std::string id, const State& s, int64_t end_s,
                    EventPhase phase) {
    Event e;
    e.kind = kind;
    e.id = std::move(id);
    e.phase = phase;
    e.time = end_s;
    e.start = s.first_s;
    e.end = s.last_s;
    e.address = s.address;
    e.family = s.family;
    e.country = s.country;
    e.asn = s.asn;
    e.packets = s.packets;
    return e;
}

Event EventEngine::victim_event(const VictimState& s, int64_t end_s, EventPhase phase) const {
    const EventConfig& c = config_;
    Event e = address_event(EventKind::dos, "dos:" + s.address + ":" + std::to_string(s.first_s), s,
                            end_s, phase);
    e.bytes = s.bytes;
    e.peak_ppm = s.peak_ppm;
    e.destinations = s.dark_max;
    e.intervals = s.intervals;
    e.vectors = busiest_first(s.vectors);
    e.vector = e.vectors.empty() ? "" : e.vectors.front().first;
    e.ports.assign(s.ports.begin(), s.ports.end());
    double duration = static_cast<double>(std::max<int64_t>(s.last_s - s.first_s, 1));
    e.rate_pps = static_cast<double>(s.packets) / duration;
    // Backscatter is sent to spoofed sources spread uniformly over the address space, so
    // the sensors see the coverage fraction of it (Moore et al.). IPv6 cannot be scaled.
    if (s.family == 4 && c.ipv4_coverage > 0) {
        e.extrapolated_pps = e.rate_pps / c.ipv4_coverage;
        e.peak_extrapolated_pps = static_cast<double>(s.peak_ppm) / 60.0 / c.ipv4_coverage;
    }
    return e;
}

// ---------------------------------------------------------------------------------------------
// Scanners

void EventEngine::observe_sources(int64_t start_s, int64_t end_s,
                                  const std::vector<SourceObservation>& sources,
                                  std::vector<Event>& out) {
    const EventConfig& c = config_;
    for (const SourceObservation& o : sources) {
        SourceState* tracked = track(sources_, o, c.scanner_max_sources, counters_.sources_skipped);
        if (tracked == nullptr) {
            continue;
        }
        SourceState& s = *tracked;
        s.cur_destinations += o.dark_addresses;
        s.cur_service_count += o.service_count;
        s.flags |= o.flags;
        for (size_t i = 0; i < o.services.size(); ++i) {
            add_bounded(s.services, o.services[i], o.services.size() - i, kMaxServices);
            if (std::find(s.cur_services.begin(), s.cur_services.end(), o.services[i]) ==
                s.cur_services.end()) {
                s.cur_services.push_back(o.services[i]);
            }
        }
        if (!o.country.empty()) {
            s.country = o.country;
        }
        if (o.asn != 0) {
            s.asn = o.asn;
        }
    }

    ScannerActivity activity;
    activity.start = start_s;
    activity.end = end_s;
    std::map<std::string, uint64_t> per_service, per_country;

    for (auto it = sources_.begin(); it != sources_.end();) {
        SourceState& s = *it->second;
        if (s.seen) {
            ++s.intervals;
            // Unique counts do not add, but a scanner sweeping a prefix meets each dark address
            // about once per sweep, so the sum of per-interval counts over the window is a fair
            // estimate (an upper bound for a host that revisits the same addresses).
            s.destinations += s.cur_destinations;
            // Per-interval distinct services are not added up: a bot hitting the same two
            // ports all day would look like a vertical scan. A vertical scan is judged on its
            // busiest interval (masscan -p0-1000 sweeps a host within seconds).
            s.service_count = std::max(s.service_count, s.cur_service_count);
            s.window.push_back({start_s, s.cur_destinations});
            while (!s.window.empty() &&
                   s.window.front().start < end_s - static_cast<int64_t>(c.scanner_window_s)) {
                s.window.pop_front();
            }
            uint64_t destinations_in_window = 0;
            for (const auto& w : s.window) {
                destinations_in_window += w.destinations;
            }
            s.horizontal = s.horizontal || (c.scanner_min_destinations > 0 &&
                                            destinations_in_window >= c.scanner_min_destinations);
            s.vertical = s.vertical || (c.scanner_min_services > 0 &&
                                        s.cur_service_count >= c.scanner_min_services);
            if (!s.reported && (s.horizontal || s.vertical)) {
                s.reported = true;
                s.event_id = "scanner:" + s.address + ":" + std::to_string(s.first_s);
                out.push_back(scanner_event(s, end_s, EventPhase::start));
                s.reported_destinations = s.destinations;
                s.last_report = end_s;
            } else if (s.reported &&
                       (static_cast<double>(s.destinations) >
                            static_cast<double>(s.reported_destinations) * (1 + c.update_growth) ||
                        end_s - s.last_report >=
                            static_cast<int64_t>(c.scanner_update_interval_s))) {
                out.push_back(scanner_event(s, end_s, EventPhase::update));
                s.reported_destinations = s.destinations;
                s.last_report = end_s;
            }
            if (s.reported) {
                ++activity.scanners;
                if (s.cur_services.empty() && !s.services.empty()) {
                    s.cur_services.push_back(busiest_first(s.services, 1).front().first);
                }
                for (const std::string& service : s.cur_services) {
                    add_bounded(per_service, service, 1, kActivityKeys);
                }
                add_bounded(per_country, s.country.empty() ? "??" : s.country, 1, kActivityKeys);
            }
            s.seen = false;
            s.cur_destinations = 0;
            s.cur_service_count = 0;
            s.cur_services.clear();
        }
        const int64_t silence = end_s - s.last_s;
        if (s.reported && silence >= static_cast<int64_t>(c.scanner_timeout_s)) {
            Event e = scanner_event(s, end_s, EventPhase::end);
            e.reason = "timeout";
            out.push_back(std::move(e));
            it = sources_.erase(it);
        } else if (!s.reported && silence >= static_cast<int64_t>(c.scanner_window_s)) {
            it = sources_.erase(it);  // a candidate whose window has passed
        } else {
            ++it;
        }
    }

    activity.services = busiest_first(per_service);
    activity.countries = busiest_first(per_country);
    std::lock_guard lock(view_mutex_);
    activity_.push_back(std::move(activity));
    while (activity_.size() > std::max<size_t>(c.scanner_series_intervals, 1)) {
        activity_.pop_front();
    }
}

Event EventEngine::scanner_event(const SourceState& s, int64_t end_s, EventPhase phase) const {
    Event e = address_event(EventKind::scanner, s.event_id, s, end_s, phase);
    e.destinations = s.destinations;
    e.service_count = s.service_count;
    e.scan_type = s.horizontal && s.vertical ? "both" : s.vertical ? "vertical" : "horizontal";
    e.intervals = s.intervals;
    for (const auto& [service, score] : busiest_first(s.services, kReportedServices)) {
        e.services.push_back(service);
    }
    e.flag_bits = s.flags;
    for (unsigned bit = 0; bit < kFlagCount; ++bit) {
        if (s.flags & (1u << bit)) {
            e.flags.emplace_back(flag_name(bit));
            if ((1u << bit) & (flag_zmap | flag_masscan | flag_mirai | flag_nmap)) {
                e.tools.emplace_back(flag_name(bit));
            }
        }
    }
    return e;
}

// ---------------------------------------------------------------------------------------------
// Shutdown and views

std::vector<Event> EventEngine::finish(int64_t end_s) {
    std::vector<Event> out;
    for (auto& [id, s] : series_) {
        if (s->open) {
            Event e = s->open->event;
            e.phase = EventPhase::end;
            e.reason = "shutdown";
            e.time = end_s;
            out.push_back(std::move(e));
            s->open.reset();
        }
    }
    for (auto& [address, s] : victims_) {
        if (s->reported) {
            Event e = victim_event(*s, end_s, EventPhase::end);
            e.reason = "shutdown";
            out.push_back(std::move(e));
        }
    }
    victims_.clear();
    for (auto& [address, s] : sources_) {
        if (s->reported) {
            Event e = scanner_event(*s, end_s, EventPhase::end);
            e.reason = "shutdown";
            out.push_back(std::move(e));
        }
    }
    sources_.clear();
    publish(out);
    return out;
}

void EventEngine::publish(const std::vector<Event>& events) {
    counters_.events += events.size();
    counters_.series_tracked = series_.size();
    counters_.victims_tracked = victims_.size();
    counters_.sources_tracked = sources_.size();
    counters_.open_surges = static_cast<size_t>(std::count_if(
        series_.begin(), series_.end(), [](const auto& s) { return s.second->open != nullptr; }));
    counters_.open_dos = static_cast<size_t>(std::count_if(
        victims_.begin(), victims_.end(), [](const auto& s) { return s.second->reported; }));
    counters_.open_scanners = static_cast<size_t>(std::count_if(
        sources_.begin(), sources_.end(), [](const auto& s) { return s.second->reported; }));
    std::lock_guard lock(view_mutex_);
    stats_ = counters_;
    for (const Event& e : events) {
        auto found = view_index_.find(e.id);
        if (found != view_index_.end()) {
            if (found->second->phase == EventPhase::end) {
                --view_ended_;
            }
            view_.erase(found->second);
        }
        view_.push_front(e);
        view_index_[e.id] = view_.begin();
        if (e.phase == EventPhase::end) {
            ++view_ended_;
        }
    }
    // Keep every open event and the newest `recent_events` ended ones.
    for (auto it = view_.end(); view_ended_ > config_.recent_events && it != view_.begin();) {
        --it;
        if (it->phase == EventPhase::end) {
            view_index_.erase(it->id);
            it = view_.erase(it);
            --view_ended_;
        }
    }
}

std::vector<Event> EventEngine::recent(size_t n, std::optional<EventKind> kind) const {
    std::vector<Event> out;
    std::lock_guard lock(view_mutex_);
    for (const Event& e : view_) {
        if (out.size() >= n) {
            break;
        }
        if (!kind || e.kind == *kind) {
            out.push_back(e);
        }
    }
    return out;
}

std::vector<ScannerActivity> EventEngine::scanner_activity(size_t k) const {
    std::lock_guard lock(view_mutex_);
    size_t n = std::min(k, activity_.size());
    return std::vector<ScannerActivity>(activity_.end() - static_cast<std::ptrdiff_t>(n),
                                        activity_.end());
}

EventEngine::Stats EventEngine::stats() const {
    std::lock_guard lock(view_mutex_);
    return stats_;
}

}  // namespace darkscope
