#include "darkscope/views.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "darkscope/country.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/prefix.hpp"

namespace darkscope {

namespace {

const WindowData& window_of(const Snapshot& s, Window w) {
    switch (w) {
        case Window::last:
            return s.last;
        case Window::hour:
            return s.hour;
        case Window::day:
            return s.day;
        case Window::total:
            break;
    }
    return s.total;
}

struct Ranked {
    std::string name;
    PacketsBytes counts;
    Dict extra;  // fields before packets/bytes
    Dict after;  // fields after packets/bytes (sources, ...)
};

Array ranked_array(std::vector<Ranked> rows, unsigned n) {
    // By packets, then name: a stable order two runs agree on.
    std::sort(rows.begin(), rows.end(), [](const Ranked& a, const Ranked& b) {
        if (a.counts.packets != b.counts.packets)
            return a.counts.packets > b.counts.packets;
        return a.name < b.name;
    });
    if (rows.size() > n)
        rows.resize(n);
    Array out;
    for (auto& r : rows) {
        Dict d = std::move(r.extra);
        d.emplace_back("packets", r.counts.packets);
        d.emplace_back("bytes", r.counts.bytes);
        for (auto& kv : r.after)
            d.push_back(std::move(kv));
        out.emplace_back(std::move(d));
    }
    return out;
}

// A service name from the views ("445/tcp", "icmp", "icmpv6") as (family, port or -1 for all).
std::optional<std::pair<ServiceFamily, int>> parse_service(const std::string& name) {
    if (name == "icmp")
        return std::make_pair(ServiceFamily::icmp, -1);
    if (name == "icmpv6")
        return std::make_pair(ServiceFamily::icmpv6, -1);
    auto slash = name.find('/');
    if (slash == std::string::npos)
        return std::nullopt;
    unsigned port = 0;
    auto [p, ec] = std::from_chars(name.data(), name.data() + slash, port);
    if (ec != std::errc() || p != name.data() + slash || port > 65535)
        return std::nullopt;
    std::string proto = name.substr(slash + 1);
    if (proto == "tcp")
        return std::make_pair(ServiceFamily::tcp, static_cast<int>(port));
    if (proto == "udp")
        return std::make_pair(ServiceFamily::udp, static_cast<int>(port));
    return std::nullopt;
}

bool slot_matches(uint32_t slot, const std::pair<ServiceFamily, int>& svc) {
    if (static_cast<ServiceFamily>(slot >> 16) != svc.first)
        return false;
    return svc.second < 0 || static_cast<int>(slot & 0xffff) == svc.second;
}

Dict service_fields(const std::string& name) {
    auto svc = parse_service(name);
    if (!svc)
        return Dict{{"service", name}, {"proto", name}, {"port", 0u}};
    return Dict{{"service", name},
                {"proto", service_family_name(svc->first)},
                {"port", static_cast<unsigned>(svc->second < 0 ? 0 : svc->second)}};
}

// Rows keyed by service name, merging ICMP type/code slots into "icmp"/"icmpv6".
// Aggregates over table keys (a filter, a name shared by several keys) union their unique
// counters in a scratch pool of precise sketches (SketchPool::kUnbounded).
struct ServiceAgg {
    PacketsBytes pb{};
    PooledUniques sources{};
    bool has_sources = false;
};

int sensor_slot_of(const Snapshot& s, const std::string& name) {
    if (name == "unmatched")
        return static_cast<int>(kSensorSlotUnmatched);
    for (unsigned i = 0; i < s.sensor_names.size(); ++i)
        if (s.sensor_names[i] == name)
            return static_cast<int>(i);
    return -1;
}

// A filter or series key's sensor, country or service, refused with a reason when unknown or
// malformed (a valid one that saw no traffic is not an error: it answers nothing or zeros).
int sensor_filter_slot(const Snapshot& s, const std::string& name) {
    int slot = sensor_slot_of(s, name);
    if (slot < 0)
        throw RequestError("unknown sensor '" + name + "'");
    return slot;
}

uint16_t country_filter_index(const std::string& code) {
    uint16_t index = country_index(code);
    if (index == 0 && code != "??")
        throw RequestError("unknown country '" + code + "'");
    return index;
}

std::pair<ServiceFamily, int> service_filter(const std::string& name) {
    auto svc = parse_service(name);
    if (!svc)
        throw RequestError("service must look like 445/tcp, 53/udp or icmp, got '" + name + "'");
    return *svc;
}

std::string sensor_name_of(const Snapshot& s, uint32_t slot) {
    if (slot == kSensorSlotUnmatched)
        return "unmatched";
    return slot < s.sensor_names.size() ? s.sensor_names[slot] : "sensor" + std::to_string(slot);
}

std::vector<Ranked> port_rows(const Snapshot& s, const CounterSet& c, const TopRequest& r) {
    SketchPool scratch(SketchPool::kUnbounded);  // declared before agg: outlives its handles
    std::map<std::string, ServiceAgg> agg;
    // Unfiltered, a busy run has thousands of services: their source sketches are merged and
    // estimated (tens of microseconds each) only for the rows the answer shows.
    std::map<std::string, std::vector<const PooledUniques*>> unmerged;
    if (r.filter_kind.empty()) {
        for (uint32_t slot = 0; slot < kServiceSlots; ++slot) {
            const PacketsBytes& dense =
                r.all_classes ? c.service_slots[slot].all : c.service_slots[slot].probe;
            if (dense.packets == 0)
                continue;
            agg[service_name(slot)].pb.merge(dense);
        }
        c.services.for_each([&](uint64_t key, const ServiceCounts& v) {
            bool probe = (key & kProbeServiceBit) != 0;
            if (!probe && !r.all_classes)
                return;
            const std::string name = service_name(static_cast<uint32_t>(key & 0xffffffffu));
            agg[name].has_sources = true;
            unmerged[name].push_back(&v.sources);
        });
        if (c.services.other.pb.packets) {
            // Services whose unique counts did not fit the bounded table: packets and bytes
            // above are still exact (dense arrays); only their sources are pooled here.
            agg["other"].has_sources = true;
            unmerged["other"].push_back(&c.services.other.sources);
        }
    } else if (r.filter_kind == "sensor" || r.filter_kind == "country") {
        int index = r.filter_kind == "sensor" ? sensor_filter_slot(s, r.filter_value)
                                              : country_filter_index(r.filter_value);
        const CrossTable& t = r.filter_kind == "sensor" ? c.sensor_service : c.country_service;
        t.for_each([&](uint64_t key, const SourceCounts& v) {
            if ((key >> 32) != static_cast<uint64_t>(index))
                return;
            ServiceAgg& a = agg[service_name(static_cast<uint32_t>(key & 0xffffffffu))];
            a.pb.merge(v.pb);
            a.sources.merge(v.sources, &scratch, c.pool);
            a.has_sources = true;
        });
        if (r.all_classes)
            throw RequestError("'all' cannot be combined with a filter");
    } else {
        throw RequestError("top/ports takes the filters sensor= and country=");
    }
    if (!unmerged.empty()) {
        // The rows ranked_array will keep: by packets, then name.
        std::vector<std::pair<uint64_t, const std::string*>> ranked;
        for (const auto& [name, a] : agg)
            if (a.pb.packets != 0)
                ranked.emplace_back(a.pb.packets, &name);
        const size_t shown = std::min<size_t>(r.n, ranked.size());
        std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(shown),
                          ranked.end(), [](const auto& x, const auto& y) {
                              return x.first != y.first ? x.first > y.first : *x.second < *y.second;
                          });
        std::map<std::string, ServiceAgg> kept;
        for (size_t i = 0; i < shown; ++i) {
            const std::string& name = *ranked[i].second;
            ServiceAgg& a = kept[name];
            a.pb = agg[name].pb;
            a.has_sources = agg[name].has_sources;
            for (const PooledUniques* u : unmerged[name])
                a.sources.merge(*u, &scratch, c.pool);
        }
        agg = std::move(kept);
    }
    std::vector<Ranked> rows;
    for (auto& [name, a] : agg) {
        if (a.pb.packets == 0 && name != "other")
            continue;
        Dict after;
        if (a.has_sources)
            after.emplace_back("sources", a.sources.estimate(&scratch));
        if (name == "other" && a.pb.packets == 0)
            continue;
        rows.push_back({name, a.pb, service_fields(name), std::move(after)});
    }
    return rows;
}

std::vector<Ranked> country_rows(const Snapshot& s, const CounterSet& c, const TopRequest& r) {
    std::vector<Ranked> rows;
    if (r.filter_kind.empty()) {
        for (uint16_t i = 0; i < kCountrySlots; ++i) {
            if (c.countries[i].packets == 0)
                continue;
            std::string code = country_code(i);
            rows.push_back({code, c.countries[i], Dict{{"country", code}},
                            Dict{{"sources", c.uniques(c.country_sources[i])},
                                 {"destinations", c.uniques(c.country_destinations[i])},
                                 {"asns", c.uniques(c.country_asns[i])}}});
        }
        return rows;
    }
    SketchPool scratch(SketchPool::kUnbounded);
    std::map<uint32_t, SourceCounts> agg;
    if (r.filter_kind == "sensor") {
        int slot = sensor_filter_slot(s, r.filter_value);
        c.sensor_country.for_each([&](uint64_t key, const SourceCounts& v) {
            if ((key >> 32) == static_cast<uint64_t>(slot))
                agg[static_cast<uint32_t>(key & 0xffffffffu)].merge(v, &scratch, c.pool);
        });
    } else if (r.filter_kind == "service") {
        auto svc = service_filter(r.filter_value);
        c.country_service.for_each([&](uint64_t key, const SourceCounts& v) {
            if (slot_matches(static_cast<uint32_t>(key & 0xffffffffu), svc))
                agg[static_cast<uint32_t>(key >> 32)].merge(v, &scratch, c.pool);
        });
    } else {
        throw RequestError("top/countries takes the filters sensor= and service=");
    }
    for (auto& [index, v] : agg) {
        std::string code = country_code(static_cast<uint16_t>(index));
        rows.push_back(
            {code, v.pb, Dict{{"country", code}}, Dict{{"sources", v.sources.estimate(&scratch)}}});
    }
    return rows;
}

std::vector<Ranked> sensor_rows(const Snapshot& s, const CounterSet& c, const TopRequest& r) {
    std::vector<Ranked> rows;
    if (r.filter_kind.empty()) {
        for (unsigned i = 0; i <= kMaxSensors; ++i) {
            if (c.sensors[i].packets == 0)
                continue;
            std::string name = sensor_name_of(s, i);
            rows.push_back({name, c.sensors[i], Dict{{"sensor", name}},
                            Dict{{"sources", c.sensor_sources[i].estimate()},
                                 {"destinations", c.sensor_destinations[i].estimate()},
                                 {"asns", c.sensor_asns[i].estimate()}}});
        }
        return rows;
    }
    SketchPool scratch(SketchPool::kUnbounded);
    std::map<uint32_t, SourceCounts> agg;
    if (r.filter_kind == "country") {
        uint16_t country = country_filter_index(r.filter_value);
        c.sensor_country.for_each([&](uint64_t key, const SourceCounts& v) {
            if ((key & 0xffffffffu) == country)
                agg[static_cast<uint32_t>(key >> 32)].merge(v, &scratch, c.pool);
        });
    } else if (r.filter_kind == "service") {
        auto svc = service_filter(r.filter_value);
        c.sensor_service.for_each([&](uint64_t key, const SourceCounts& v) {
            if (slot_matches(static_cast<uint32_t>(key & 0xffffffffu), svc))
                agg[static_cast<uint32_t>(key >> 32)].merge(v, &scratch, c.pool);
        });
    } else {
        throw RequestError("top/sensors takes the filters country= and service=");
    }
    for (auto& [slot, v] : agg) {
        std::string name = sensor_name_of(s, slot);
        rows.push_back(
            {name, v.pb, Dict{{"sensor", name}}, Dict{{"sources", v.sources.estimate(&scratch)}}});
    }
    return rows;
}

std::vector<Ranked> asn_rows(const CounterSet& c, const AsnNamer& asn_name) {
    std::vector<Ranked> rows;
    c.asns.for_each([&](uint64_t asn, const SourceCounts& v) {
        std::string name = asn == 0
                               ? "unknown"
                               : (asn_name ? asn_name(static_cast<uint32_t>(asn)) : std::string());
        rows.push_back({std::to_string(asn), v.pb, Dict{{"asn", asn}, {"name", name}},
                        Dict{{"sources", c.uniques(v.sources)}}});
    });
    if (c.asns.other.pb.packets)
        rows.push_back({"other", c.asns.other.pb,
                        Dict{{"asn", "other"}, {"name", "ASNs beyond the table's bound"}},
                        Dict{{"sources", c.uniques(c.asns.other.sources)}}});
    return rows;
}

std::vector<Ranked> heavy_rows(const std::vector<HeavyHitter>& hitters, const char* key_name) {
    std::vector<Ranked> rows;
    for (const auto& h : hitters) {
        IpAddress a = h.key.address();
        std::string name =
            h.key.length == (h.key.family == 4 ? 32 : 128)
                ? format_address(a, h.key.family)
                : format_address(a, h.key.family) + "/" + std::to_string(h.key.length);
        std::string flags;
        for (unsigned bit = 0; bit < kFlagCount; ++bit)
            if (h.flags & (1u << bit))
                flags += std::string(flags.empty() ? "" : " ") + flag_name(bit);
        rows.push_back({name, PacketsBytes{h.packets, h.bytes}, Dict{{key_name, name}},
                        Dict{{"sources", h.distinct_sources},
                             {"error", h.error},
                             {"destinations", h.distinct_destinations},
                             {"services", h.distinct_services},
                             {"country", country_code(h.country)},
                             {"asn", uint64_t{h.asn}},
                             {"flags", flags},
                             {"first_seen", h.first_seen},
                             {"last_seen", h.last_seen}}});
    }
    return rows;
}

}  // namespace

const char* window_name(Window w) {
    switch (w) {
        case Window::last:
            return "last";
        case Window::hour:
            return "hour";
        case Window::day:
            return "day";
        case Window::total:
            break;
    }
    return "total";
}

TopRequest parse_top_request(const std::string& dimension, const std::string& params,
                             unsigned cap) {
    TopRequest r;
    r.dimension = dimension;
    std::vector<std::string> parts;
    std::string cur;
    for (char ch : params) {
        if (ch == ',') {
            parts.push_back(cur);
            cur.clear();
        } else if (ch != ' ') {
            cur += ch;
        }
    }
    if (!params.empty())
        parts.push_back(cur);
    if (parts.size() > 4)
        throw RequestError("expected N[,WINDOW[,FILTER]], got '" + params + "'");
    if (!parts.empty() && !parts[0].empty()) {
        unsigned n = 0;
        auto [p, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), n);
        if (ec != std::errc() || p != parts[0].data() + parts[0].size() || n == 0)
            throw RequestError("N must be a whole number from 1 to " + std::to_string(cap) +
                               ", got '" + parts[0] + "'");
        if (n > cap)
            throw RequestError("N of top/" + dimension + " is capped at " + std::to_string(cap) +
                               " (telemetry reply size limit), got " + parts[0]);
        r.n = n;
    }
    if (parts.size() >= 2 && !parts[1].empty()) {
        static const Window windows[] = {Window::last, Window::hour, Window::day, Window::total};
        bool found = false;
        for (Window w : windows)
            if (parts[1] == window_name(w)) {
                r.window = w;
                found = true;
            }
        if (!found)
            throw RequestError("WINDOW must be last, hour, day or total, got '" + parts[1] + "'");
    }
    for (size_t i = 2; i < parts.size(); ++i) {
        const std::string& f = parts[i];
        if (f == "all") {
            if (dimension != "ports")
                throw RequestError("'all' applies to top/ports only");
            r.all_classes = true;
        } else if (f == "probes" || f.empty()) {
        } else if (auto eq = f.find('='); eq != std::string::npos && r.filter_kind.empty()) {
            r.filter_kind = f.substr(0, eq);
            r.filter_value = f.substr(eq + 1);
            if (r.filter_kind != "sensor" && r.filter_kind != "country" &&
                r.filter_kind != "service")
                throw RequestError(
                    "FILTER must be sensor=NAME, country=CC or service=PORT/PROTO, "
                    "got '" +
                    f + "'");
        } else {
            throw RequestError("unexpected parameter '" + f + "'");
        }
    }
    return r;
}

Value stats_view(const Snapshot& s) {
    static const CounterSet* empty = [] {
        CounterSet* c = CounterSet::zeroed();  // empty, no pool
        c->clear();
        return c;
    }();
    const CounterSet& t = s.total.counters ? *s.total.counters : *empty;
    uint64_t missed = 0, nombuf = 0, errors = 0;
    for (const auto& p : s.ports) {
        missed += p.imissed;
        nombuf += p.rx_nombuf;
        errors += p.ierrors;
    }
    auto proto = [&](Proto p) { return t.proto[static_cast<unsigned>(p)]; };
    return Dict{
        {"packets", t.packets},
        {"bytes", t.bytes},
        {"ipv4", t.ipv4},
        {"ipv6", t.ipv6},
        {"tcp", proto(Proto::tcp)},
        {"udp", proto(Proto::udp)},
        {"icmp", proto(Proto::icmp)},
        {"icmpv6", proto(Proto::icmpv6)},
        {"other", proto(Proto::other)},
        {"malformed", t.classes[static_cast<unsigned>(TrafficClass::malformed)].packets},
        {"non_ip", t.classes[static_cast<unsigned>(TrafficClass::non_ip)].packets},
        {"unmatched", t.unmatched},
        {"sources", t.total_sources.estimate()},
        {"destinations", t.total_destinations.estimate()},
        {"asns", t.total_asns.estimate()},
        // Per-key unique counts: precise sketches in use for the run's window, and keys counted
        // at 6.5 % error because a pool ran out (0 unless --precise-sketches is too small).
        {"precise_sketches", uint64_t{t.pool != nullptr ? t.pool->used() : 0u}},
        {"degraded_keys", t.degraded_keys()},
        // The workers' source tuples (one per source, sensor, country, ASN and service and
        // interval), and packets their tables had no room for (0 unless --tuple-entries is
        // too small for the traffic: counted one by one, exactly, but slower).
        {"source_tuples", t.source_tuples},
        {"source_spills", t.source_spills},
        {"uptime_s", static_cast<uint64_t>(s.uptime_s)},
        {"intervals", s.intervals},
        {"interval_s", uint64_t{s.interval_s}},
        {"last_interval_start", s.last_start_s},
        {"last_interval_end", s.last_end_s},
        {"rx_missed", missed},
        {"rx_nombuf", nombuf},
        {"rx_errors", errors},
        {"rss_bytes", s.rss_bytes},
        {"rss_peak_bytes", s.rss_peak_bytes},
        {"dpdk_heap_bytes", s.dpdk_heap_bytes},
        {"store_written", s.store_written},
        {"store_dropped", s.store_dropped},
        {"store_errors", s.store_errors},
    };
}

Value top_view(const Snapshot& s, const TopRequest& r, const AsnNamer& asn_name) {
    const WindowData& w = window_of(s, r.window);
    const CounterSet* c = w.counters.get();
    if (c == nullptr)
        return Array{};
    std::vector<Ranked> rows;
    if (r.dimension == "ports") {
        rows = port_rows(s, *c, r);
    } else if (r.dimension == "countries") {
        rows = country_rows(s, *c, r);
    } else if (r.dimension == "asns") {
        if (!r.filter_kind.empty())
            throw RequestError("top/asns takes no filter");
        rows = asn_rows(*c, asn_name);
    } else if (r.dimension == "sensors") {
        rows = sensor_rows(s, *c, r);
    } else if (r.dimension == "sources" || r.dimension == "prefixes") {
        if (!r.filter_kind.empty())
            throw RequestError("top/" + r.dimension + " takes no filter");
        rows = heavy_rows(r.dimension == "sources" ? w.sources : w.prefixes,
                          r.dimension == "sources" ? "source" : "prefix");
    } else {
        throw RequestError("unknown dimension '" + r.dimension + "'");
    }
    return ranked_array(std::move(rows), r.n);
}

namespace {

Value tables_view(const Snapshot& s) {
    Dict d;
    const CounterSet* c = s.total.counters.get();
    // A bounded table holds the first keys that came, up to its capacity (or its probe limit);
    // later keys are counted in `other`, whose packets are still in every total. Which keys got a
    // slot then follows arrival order, so two workers may hold other keys than one does.
    auto table = [&](const char* name, uint64_t keys, uint64_t capacity,
                     const PacketsBytes& other) {
        d.emplace_back(name, Dict{{"keys", keys},
                                  {"capacity", capacity},
                                  {"other_packets", other.packets},
                                  {"other_bytes", other.bytes}});
    };
    if (c == nullptr)
        return d;
    table("services", c->services.used, ServiceTable::kCapacity, c->services.other.pb);
    table("asns", c->asns.used, AsnTable::kCapacity, c->asns.other.pb);
    table("sensor_service", c->sensor_service.used, CrossTable::kCapacity,
          c->sensor_service.other.pb);
    table("country_service", c->country_service.used, CrossTable::kCapacity,
          c->country_service.other.pb);
    table("sensor_country", c->sensor_country.used, CrossTable::kCapacity,
          c->sensor_country.other.pb);
    table("victims", c->victims.used, VictimTable::kCapacity, c->victims.other.pb);
    return d;
}

Value closes_view(const Snapshot& s) {
    // Nanoseconds, as integers: a telemetry reply carries no fractions.
    auto ns = [](double us) { return static_cast<uint64_t>(us * 1e3 + 0.5); };
    auto kind = [&](const CloseTimes::Kind& k) {
        return Dict{{"closes", k.closes},
                    {"mean_ns", k.closes ? ns(k.total_us / static_cast<double>(k.closes)) : 0},
                    {"max_ns", ns(k.max_us)}};
    };
    return Dict{{"close_empty", kind(s.closes.empty)},
                {"close_busy", kind(s.closes.busy)},
                {"flip_wait", kind(s.closes.flip_wait)},
                {"close_last_ns", ns(s.closes.last_us)}};
}

}  // namespace

Value stats_core_view(const Snapshot& s) {
    // One level of dicts: DPDK 22.11's telemetry nests no deeper.
    Value tables = tables_view(s);
    Value closes = closes_view(s);
    Dict d = std::move(std::get<Dict>(tables.v));
    for (auto& entry : std::get<Dict>(closes.v))
        d.push_back(std::move(entry));
    return d;
}

Value classes_view(const Snapshot& s) {
    Dict d;
    for (unsigned i = 0; i < static_cast<unsigned>(TrafficClass::count_); ++i) {
        uint64_t v = s.total.counters ? s.total.counters->classes[i].packets : 0;
        d.emplace_back(traffic_class_name(static_cast<TrafficClass>(i)), v);
    }
    return d;
}

Value flags_view(const Snapshot& s) {
    Dict d;
    for (unsigned i = 0; i < kFlagCount; ++i)
        d.emplace_back(flag_name(i),
                       s.total.counters ? s.total.counters->flag_count(i) : uint64_t{0});
    return d;
}

Value errors_view(const Snapshot& s) {
    Dict d;
    for (unsigned i = 1; i < static_cast<unsigned>(DecodeError::count_); ++i)
        d.emplace_back(decode_error_name(static_cast<DecodeError>(i)),
                       s.total.counters ? s.total.counters->errors[i] : uint64_t{0});
    return d;
}

Value sensors_view(const Snapshot& s) {
    Array out;
    const CounterSet* t = s.total.counters.get();
    for (unsigned i = 0; i < s.sensor_names.size() && i < kMaxSensors; ++i) {
        PacketsBytes pb = t ? t->sensors[i] : PacketsBytes{};
        out.emplace_back(Dict{{"sensor", s.sensor_names[i]},
                              {"packets", pb.packets},
                              {"bytes", pb.bytes},
                              {"sources", t ? t->sensor_sources[i].estimate() : 0}});
    }
    PacketsBytes un = t ? t->sensors[kSensorSlotUnmatched] : PacketsBytes{};
    out.emplace_back(Dict{{"sensor", "unmatched"},
                          {"packets", un.packets},
                          {"bytes", un.bytes},
                          {"sources", t ? t->sensor_sources[kSensorSlotUnmatched].estimate() : 0}});
    return out;
}

Value workers_view(const Snapshot& s) {
    Array out;
    for (const auto& w : s.workers)
        out.emplace_back(Dict{{"worker", w.id},
                              {"lcore", w.lcore},
                              {"numa_node", int64_t{w.numa_node}},
                              {"queues", w.queues},
                              {"packets", w.packets},
                              {"bursts", w.bursts},
                              {"idle_polls", w.idle_polls}});
    return out;
}

Value ports_view(const Snapshot& s) {
    Array out;
    for (const auto& p : s.ports)
        out.emplace_back(Dict{{"name", p.name},
                              {"driver", p.driver},
                              {"socket", int64_t{p.socket}},
                              {"rx_queues", p.rx_queues},
                              {"link_up", p.link_up ? 1u : 0u},
                              {"link_speed_mbps", uint64_t{p.link_speed_mbps}},
                              {"ipackets", p.ipackets},
                              {"ibytes", p.ibytes},
                              {"imissed", p.imissed},
                              {"ierrors", p.ierrors},
                              {"rx_nombuf", p.rx_nombuf}});
    return out;
}

void series_points(const CounterSet& c, const std::vector<std::string>& sensor_names,
                   unsigned per_dimension,
                   std::unordered_map<std::string, std::pair<uint64_t, uint64_t>>& out) {
    Snapshot names;
    names.sensor_names = sensor_names;
    auto keep = [&](const std::string& prefix,
                    std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> rows) {
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
            return a.second.first != b.second.first ? a.second.first > b.second.first
                                                    : a.first < b.first;
        });
        if (rows.size() > per_dimension)
            rows.resize(per_dimension);
        for (auto& [k, v] : rows)
            out[prefix + "=" + k] = v;
    };
    std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> rows;
    {
        SketchPool scratch(SketchPool::kUnbounded);
        std::map<std::string, ServiceAgg> agg;
        c.services.for_each([&](uint64_t key, const ServiceCounts& v) {
            if ((key & kProbeServiceBit) == 0)
                return;
            ServiceAgg& a = agg[service_name(static_cast<uint32_t>(key & 0xffffffffu))];
            a.pb.merge(v.pb);
            a.sources.merge(v.sources, &scratch, c.pool);
        });
        for (auto& [k, a] : agg)
            rows.push_back({k, {a.pb.packets, a.sources.estimate(&scratch)}});
        keep("service", std::move(rows));
    }
    rows.clear();
    for (uint16_t i = 0; i < kCountrySlots; ++i)
        if (c.countries[i].packets)
            rows.push_back(
                {country_code(i), {c.countries[i].packets, c.uniques(c.country_sources[i])}});
    keep("country", std::move(rows));
    rows.clear();
    for (unsigned i = 0; i <= kMaxSensors; ++i)
        if (c.sensors[i].packets)
            rows.push_back(
                {sensor_name_of(names, i), {c.sensors[i].packets, c.sensor_sources[i].estimate()}});
    keep("sensor", std::move(rows));
    for (int cross = 0; cross < 2; ++cross) {
        SketchPool scratch(SketchPool::kUnbounded);
        std::map<std::string, SourceCounts> agg;
        const CrossTable& t = cross == 0 ? c.sensor_service : c.country_service;
        t.for_each([&](uint64_t key, const SourceCounts& v) {
            uint32_t left = static_cast<uint32_t>(key >> 32);
            std::string l = cross == 0 ? sensor_name_of(names, left)
                                       : country_code(static_cast<uint16_t>(left));
            agg[l + "|" + service_name(static_cast<uint32_t>(key & 0xffffffffu))].merge(v, &scratch,
                                                                                        c.pool);
        });
        rows.clear();
        for (auto& [k, v] : agg)
            rows.push_back({k, {v.pb.packets, v.sources.estimate(&scratch)}});
        keep(cross == 0 ? "sensor_service" : "country_service", std::move(rows));
    }
}

namespace {

// A series key as series_points() names it (and capture's scanner_service= and
// scanner_country= rows of the interval's active scanners), or RequestError: an unknown kind, a
// malformed service, an unknown sensor or country. "service=0445/tcp" is read as service=445/tcp.
std::string series_key(const Snapshot& s, const std::string& key) {
    auto eq = key.find('=');
    std::string kind = eq == std::string::npos ? std::string() : key.substr(0, eq);
    std::string value = eq == std::string::npos ? std::string() : key.substr(eq + 1);
    auto service = [](const std::string& name) {
        auto [family, port] = service_filter(name);  // port -1: ICMP, named by its family alone
        return service_name(service_slot(family, static_cast<uint16_t>(std::max(port, 0))));
    };
    auto bar = value.find('|');
    if (kind == "service" || kind == "scanner_service")
        return kind + "=" + service(value);
    if (kind == "country" || kind == "scanner_country")
        return kind + "=" + country_code(country_filter_index(value));
    if (kind == "sensor")
        return kind + "=" + sensor_name_of(s, static_cast<uint32_t>(sensor_filter_slot(s, value)));
    if ((kind == "sensor_service" || kind == "country_service") && bar != std::string::npos) {
        std::string left = value.substr(0, bar);
        std::string right = service(value.substr(bar + 1));
        if (kind == "sensor_service")
            left = sensor_name_of(s, static_cast<uint32_t>(sensor_filter_slot(s, left)));
        else
            left = country_code(country_filter_index(left));
        return kind + "=" + left + "|" + right;
    }
    // The reason first: a telemetry string holds 127 bytes, and the key echoed may be long.
    throw RequestError(
        "KEY must be service=P, country=CC, sensor=S, sensor_service=S|P, "
        "country_service=CC|P, scanner_service=P or scanner_country=CC; got '" +
        key + "'");
}

}  // namespace

Value series_view(const Snapshot& s, const std::string& params) {
    auto comma = params.rfind(',');
    std::string key = comma == std::string::npos ? params : params.substr(0, comma);
    unsigned k = 60;
    if (comma != std::string::npos) {
        std::string ks = params.substr(comma + 1);
        auto [p, ec] = std::from_chars(ks.data(), ks.data() + ks.size(), k);
        if (ec != std::errc() || p != ks.data() + ks.size() || k == 0 || k > kSeriesMax)
            throw RequestError("K must be a whole number from 1 to " + std::to_string(kSeriesMax) +
                               ", got '" + ks + "'");
    }
    key = series_key(s, key);
    Array starts, packets, sources;
    if (s.series) {
        const auto& iv = s.series->intervals;
        size_t from = iv.size() > k ? iv.size() - k : 0;
        for (size_t i = from; i < iv.size(); ++i) {
            auto it = iv[i]->points.find(key);
            bool found = it != iv[i]->points.end();
            starts.emplace_back(static_cast<uint64_t>(iv[i]->start_s));
            packets.emplace_back(found ? it->second.first : uint64_t{0});
            sources.emplace_back(found ? it->second.second : uint64_t{0});
        }
    }
    return Dict{{"key", key},
                {"interval_s", uint64_t{s.interval_s}},
                {"start", std::move(starts)},
                {"packets", std::move(packets)},
                {"sources", std::move(sources)}};
}

Value events_view(const Snapshot& s, const std::string& params,
                  std::optional<EventKind> fixed_kind) {
    std::optional<EventKind> kind = fixed_kind;
    unsigned n = 10;
    std::string np = params;
    if (auto comma = params.find(','); comma != std::string::npos) {
        np = params.substr(0, comma);
        if (fixed_kind)
            throw RequestError("expected N");
        const std::string name = params.substr(comma + 1);
        kind = parse_event_kind(name);
        if (!kind) {
            std::string names;
            for (size_t i = 0; i < std::size(kEventKinds); ++i)
                names += std::string(i == 0                            ? ""
                                     : i + 1 == std::size(kEventKinds) ? " or "
                                                                       : ", ") +
                         event_kind_name(kEventKinds[i]);
            throw RequestError("KIND must be " + names + ", got '" + name + "'");
        }
    }
    if (!np.empty()) {
        auto [p, ec] = std::from_chars(np.data(), np.data() + np.size(), n);
        if (ec != std::errc() || p != np.data() + np.size() || n == 0 || n > kEventsMax)
            throw RequestError("N must be a whole number from 1 to " + std::to_string(kEventsMax) +
                               ", got '" + np + "'");
    }
    Array out;
    if (s.events) {
        for (const auto& e : s.events->events) {
            if (out.size() >= n)
                break;
            if (kind && e.kind != *kind)
                continue;
            Dict d;
            for (const auto& [k, v] : e.fields)
                d.emplace_back(k, std::visit([](const auto& x) { return Value(x); }, v));
            out.emplace_back(std::move(d));
        }
    }
    return out;
}

}  // namespace darkscope
