#include "darkscope/views.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include "darkscope/decode.hpp"

namespace darkscope {

namespace {

const CounterSet* window_set(const Snapshot& s, Window w) {
    return w == Window::last ? s.last.get() : s.total.get();
}

const char* window_name(Window w) { return w == Window::last ? "last" : "total"; }

struct Ranked {
    std::string name;
    PacketsBytes counts;
    Dict extra;  // fields before packets/bytes
};

Array ranked_array(std::vector<Ranked> rows, unsigned n) {
    // By packets, then name: a stable order two runs agree on.
    std::sort(rows.begin(), rows.end(), [](const Ranked& a, const Ranked& b) {
        if (a.counts.packets != b.counts.packets) return a.counts.packets > b.counts.packets;
        return a.name < b.name;
    });
    if (rows.size() > n) rows.resize(n);
    Array out;
    for (auto& r : rows) {
        Dict d = std::move(r.extra);
        d.emplace_back("packets", r.counts.packets);
        d.emplace_back("bytes", r.counts.bytes);
        out.emplace_back(std::move(d));
    }
    return out;
}

std::vector<Ranked> port_rows(const CounterSet& c, bool all_classes) {
    const PacketsBytes* services = all_classes ? c.services_all : c.services_probe;
    std::vector<Ranked> rows;
    // ICMP and ICMPv6 rank as one service each, as the public observation reports do.
    PacketsBytes icmp{}, icmpv6{};
    for (uint32_t slot = 0; slot < kServiceSlots; ++slot) {
        const PacketsBytes& pb = services[slot];
        if (pb.packets == 0) continue;
        auto family = static_cast<ServiceFamily>(slot >> 16);
        if (family == ServiceFamily::icmp) {
            icmp.merge(pb);
        } else if (family == ServiceFamily::icmpv6) {
            icmpv6.merge(pb);
        } else {
            uint16_t port = static_cast<uint16_t>(slot & 0xffff);
            rows.push_back({service_name(slot), pb,
                            Dict{{"service", service_name(slot)},
                                 {"proto", service_family_name(family)},
                                 {"port", unsigned{port}}}});
        }
    }
    if (icmp.packets)
        rows.push_back(
            {"icmp", icmp, Dict{{"service", "icmp"}, {"proto", "icmp"}, {"port", 0u}}});
    if (icmpv6.packets)
        rows.push_back({"icmpv6", icmpv6,
                        Dict{{"service", "icmpv6"}, {"proto", "icmpv6"}, {"port", 0u}}});
    return rows;
}

}  // namespace

std::string country_code_of(uint16_t index) {
    if (index == 0 || index >= kCountrySlots) return "??";
    unsigned i = index - 1u;
    return std::string{static_cast<char>('A' + i / 26), static_cast<char>('A' + i % 26)};
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
    if (!params.empty()) parts.push_back(cur);
    if (parts.size() > 3)
        throw RequestError("expected N[,WINDOW[,all]], got '" + params + "'");
    if (!parts.empty() && !parts[0].empty()) {
        unsigned n = 0;
        auto [p, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), n);
        if (ec != std::errc() || p != parts[0].data() + parts[0].size() || n == 0)
            throw RequestError("N must be a whole number from 1 to " + std::to_string(cap) +
                               ", got '" + parts[0] + "'");
        if (n > cap)
            throw RequestError("N is capped at " + std::to_string(cap) +
                               " (telemetry reply size limit), got " + parts[0]);
        r.n = n;
    }
    if (parts.size() >= 2 && !parts[1].empty()) {
        if (parts[1] == "total") {
            r.window = Window::total;
        } else if (parts[1] == "last") {
            r.window = Window::last;
        } else {
            throw RequestError("WINDOW must be 'total' or 'last', got '" + parts[1] + "'");
        }
    }
    if (parts.size() == 3) {
        if (parts[2] == "all") {
            r.all_classes = true;
        } else if (parts[2] != "probes") {
            throw RequestError("third parameter must be 'all' or 'probes', got '" + parts[2] +
                               "'");
        }
    }
    return r;
}

Value stats_view(const Snapshot& s) {
    static const CounterSet* empty = [] {
        auto* c = new CounterSet;
        c->clear();
        return c;
    }();
    const CounterSet& t = s.total ? *s.total : *empty;
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
        {"uptime_s", static_cast<uint64_t>(s.uptime_s)},
        {"intervals", s.intervals},
        {"interval_s", uint64_t{s.interval_s}},
        {"last_interval_start", s.last_start_s},
        {"last_interval_end", s.last_end_s},
        {"rx_missed", missed},
        {"rx_nombuf", nombuf},
        {"rx_errors", errors},
    };
}

Value top_view(const Snapshot& s, const TopRequest& r, const AsnNamer& asn_name) {
    const CounterSet* c = window_set(s, r.window);
    if (c == nullptr) return Array{};
    std::vector<Ranked> rows;
    if (r.dimension == "ports") {
        rows = port_rows(*c, r.all_classes);
    } else if (r.dimension == "countries") {
        for (uint16_t i = 0; i < kCountrySlots; ++i) {
            if (c->countries[i].packets == 0) continue;
            std::string code = country_code_of(i);
            rows.push_back({code, c->countries[i], Dict{{"country", code}}});
        }
    } else if (r.dimension == "asns") {
        const AsnTable& a = c->asns;
        for (unsigned i = 0; i < AsnTable::kCapacity; ++i) {
            if (a.keys[i] == 0) continue;
            std::string name = asn_name ? asn_name(a.keys[i]) : std::string();
            rows.push_back({std::to_string(a.keys[i]), a.values[i],
                            Dict{{"asn", uint64_t{a.keys[i]}}, {"name", name}}});
        }
        if (a.unknown.packets)
            rows.push_back({"0", a.unknown, Dict{{"asn", uint64_t{0}}, {"name", "unknown"}}});
        if (a.other.packets)
            rows.push_back(
                {"other", a.other, Dict{{"asn", "other"}, {"name", "did not fit the table"}}});
    } else if (r.dimension == "sensors") {
        for (unsigned i = 0; i < s.sensor_names.size() && i < kMaxSensors; ++i) {
            if (c->sensors[i].packets == 0) continue;
            rows.push_back({s.sensor_names[i], c->sensors[i], Dict{{"sensor", s.sensor_names[i]}}});
        }
        if (c->sensors[kSensorSlotUnmatched].packets)
            rows.push_back({"unmatched", c->sensors[kSensorSlotUnmatched],
                            Dict{{"sensor", "unmatched"}}});
    } else {
        throw RequestError("unknown dimension '" + r.dimension + "'");
    }
    (void)window_name;
    return ranked_array(std::move(rows), r.n);
}

Value classes_view(const Snapshot& s) {
    Dict d;
    for (unsigned i = 0; i < static_cast<unsigned>(TrafficClass::count_); ++i) {
        uint64_t v = s.total ? s.total->classes[i].packets : 0;
        d.emplace_back(traffic_class_name(static_cast<TrafficClass>(i)), v);
    }
    return d;
}

Value flags_view(const Snapshot& s) {
    Dict d;
    for (unsigned i = 0; i < kFlagCount; ++i)
        d.emplace_back(flag_name(i), s.total ? s.total->flags[i] : uint64_t{0});
    return d;
}

Value errors_view(const Snapshot& s) {
    Dict d;
    for (unsigned i = 1; i < static_cast<unsigned>(DecodeError::count_); ++i)
        d.emplace_back(decode_error_name(static_cast<DecodeError>(i)),
                       s.total ? s.total->errors[i] : uint64_t{0});
    return d;
}

Value sensors_view(const Snapshot& s) {
    Array out;
    for (unsigned i = 0; i < s.sensor_names.size() && i < kMaxSensors; ++i) {
        PacketsBytes pb = s.total ? s.total->sensors[i] : PacketsBytes{};
        out.emplace_back(
            Dict{{"sensor", s.sensor_names[i]}, {"packets", pb.packets}, {"bytes", pb.bytes}});
    }
    PacketsBytes un = s.total ? s.total->sensors[kSensorSlotUnmatched] : PacketsBytes{};
    out.emplace_back(Dict{{"sensor", "unmatched"}, {"packets", un.packets}, {"bytes", un.bytes}});
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

}  // namespace darkscope
