// period_rows: a period's counters as the history's rows, the top K keys of each dimension plus
// `other`, so that every dimension sums to the total.
#include <algorithm>
#include <map>

#include "darkscope/country.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/prefix.hpp"
#include "darkscope/rollups.hpp"
#include "darkscope/views.hpp"

namespace darkscope {

std::vector<StoredRow> period_rows(const CounterSet& c, const std::vector<HeavyHitter>& sources,
                                   const std::vector<HeavyHitter>& prefixes,
                                   const std::vector<std::string>& sensor_names, size_t top_k) {
    std::vector<StoredRow> rows;
    auto row = [&](const char* dim, std::string key, uint64_t packets, uint64_t bytes,
                   uint64_t srcs = 0, uint64_t dsts = 0, uint64_t asns = 0) {
        rows.push_back(StoredRow{dim, std::move(key), packets, bytes, srcs, dsts, asns});
    };
    row("total", "all", c.packets, c.bytes, c.total_sources.estimate(),
        c.total_destinations.estimate(), c.total_asns.estimate());
    for (unsigned i = 0; i < static_cast<unsigned>(Proto::count_); ++i)
        if (c.proto[i])
            row("proto", i == 0 ? "none" : proto_name(static_cast<Proto>(i)), c.proto[i], 0);
    for (unsigned i = 0; i < static_cast<unsigned>(TrafficClass::count_); ++i)
        if (c.classes[i].packets)
            row("class", traffic_class_name(static_cast<TrafficClass>(i)), c.classes[i].packets,
                c.classes[i].bytes);
    for (unsigned i = 0; i < kFlagCount; ++i)
        if (const uint64_t n = c.flag_count(i))
            row("flag", flag_name(i), n, 0);
    for (unsigned i = 1; i < static_cast<unsigned>(DecodeError::count_); ++i)
        if (c.errors[i])
            row("error", decode_error_name(static_cast<DecodeError>(i)), c.errors[i], 0);
    // Services ranked by the probe classes (what the reports rank); "none" holds the rest.
    {
        SketchPool scratch(SketchPool::kUnbounded);  // unions of keys sharing a name; before agg
        std::map<std::string, ServiceCounts> agg;
        uint64_t packets = 0, bytes = 0;
        c.for_each_service_slot([&](uint32_t slot) {
            if (c.service_slots[slot].probe.packets != 0)
                agg[service_name(slot)].pb.merge(c.service_slots[slot].probe);
        });
        c.services.for_each([&](uint64_t key, const ServiceCounts& v) {
            if ((key & kProbeServiceBit) == 0)
                return;
            ServiceCounts& a = agg[service_name(static_cast<uint32_t>(key & 0xffffffffu))];
            a.sources.merge(v.sources, &scratch, c.pool);
            a.destinations.merge(v.destinations, &scratch, c.pool);
            a.asns.merge(v.asns, &scratch, c.pool);
        });
        for (auto& [k, v] : agg) {
            row("service", k, v.pb.packets, v.pb.bytes, v.sources.estimate(&scratch),
                v.destinations.estimate(&scratch), v.asns.estimate(&scratch));
            packets += v.pb.packets;
            bytes += v.pb.bytes;
        }
        if (c.packets > packets)
            row("service", "none", c.packets - packets, c.bytes - bytes);
    }
    auto sensor_name = [&](uint64_t slot) {
        return slot == kSensorSlotUnmatched ? std::string("unmatched")
               : slot < sensor_names.size() ? sensor_names[slot]
                                            : "sensor" + std::to_string(slot);
    };
    uint64_t ip_packets = 0, ip_bytes = 0;
    for (unsigned i = 0; i <= kMaxSensors; ++i) {
        if (c.sensors[i].packets == 0)
            continue;
        ip_packets += c.sensors[i].packets;
        ip_bytes += c.sensors[i].bytes;
        row("sensor", sensor_name(i), c.sensors[i].packets, c.sensors[i].bytes,
            c.sensor_sources[i].estimate(), c.sensor_destinations[i].estimate(),
            c.sensor_asns[i].estimate());
    }
    const uint64_t non_ip_packets = c.packets - ip_packets, non_ip_bytes = c.bytes - ip_bytes;
    if (non_ip_packets)
        row("sensor", "none", non_ip_packets, non_ip_bytes);
    for (uint16_t i = 0; i < kCountrySlots; ++i)
        if (c.countries[i].packets)
            row("country", country_code(i), c.countries[i].packets, c.countries[i].bytes,
                c.uniques(c.country_sources[i]), c.uniques(c.country_destinations[i]),
                c.uniques(c.country_asns[i]));
    if (non_ip_packets)
        row("country", "none", non_ip_packets, non_ip_bytes);
    // In AS number order: ties in keep_top_rows go to the first row, so the order must not
    // depend on the order the table took its keys in.
    std::vector<std::pair<uint64_t, const SourceCounts*>> asns;
    c.asns.for_each([&](uint64_t asn, const SourceCounts& v) { asns.emplace_back(asn, &v); });
    std::sort(asns.begin(), asns.end());
    for (const auto& [asn, v] : asns)
        row("asn", std::to_string(asn), v->pb.packets, v->pb.bytes, c.uniques(v->sources));
    if (c.asns.other.pb.packets)
        row("asn", "other", c.asns.other.pb.packets, c.asns.other.pb.bytes,
            c.uniques(c.asns.other.sources));
    if (non_ip_packets)
        row("asn", "none", non_ip_packets, non_ip_bytes);
    auto cross = [&](const char* dim, const CrossTable& t, auto left, auto right) {
        SketchPool scratch(SketchPool::kUnbounded);
        std::map<std::string, SourceCounts> agg;
        t.for_each([&](uint64_t key, const SourceCounts& v) {
            agg[left(key >> 32) + "|" + right(key & 0xffffffffu)].merge(v, &scratch, c.pool);
        });
        for (auto& [k, v] : agg)
            row(dim, k, v.pb.packets, v.pb.bytes, v.sources.estimate(&scratch));
        if (t.other.pb.packets)
            row(dim, "other", t.other.pb.packets, t.other.pb.bytes, c.uniques(t.other.sources));
    };
    auto country = [](uint64_t i) { return country_code(static_cast<uint16_t>(i)); };
    auto service = [](uint64_t slot) { return service_name(static_cast<uint32_t>(slot)); };
    cross("sensor_service", c.sensor_service, sensor_name, service);
    cross("country_service", c.country_service, country, service);
    cross("sensor_country", c.sensor_country, sensor_name, country);
    for (const auto& h : sources)
        row("source", format_address(h.key.address(), h.key.family), h.packets, h.bytes, 1,
            h.distinct_destinations);
    for (const auto& h : prefixes)
        row("prefix",
            format_address(h.key.address(), h.key.family) + "/" + std::to_string(h.key.length),
            h.packets, h.bytes, h.distinct_sources, h.distinct_destinations);
    keep_top_rows(rows, top_k);
    return rows;
}

}  // namespace darkscope
