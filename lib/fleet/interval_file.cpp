// The text of a spooled interval (interval_file.hpp), written and read by the exporter's thread,
// never by the stats core.
#include "interval_file.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>

#include <zlib.h>

#include "darkscope/counters.hpp"
#include "darkscope/country.hpp"
#include "darkscope/prefix.hpp"

namespace darkscope {

namespace {

constexpr const char* kMagic = "darkscope-fleet-interval 1";

// TabSeparated escaping of a string value.
void put(std::string& out, const std::string& s) {
    for (char c : s) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

void put(std::string& out, uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%" PRIu64, v);
    out += buf;
}

void put(std::string& out, int64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%" PRId64, v);
    out += buf;
}

std::string sensor_of(uint32_t slot, const std::vector<std::string>& names) {
    if (slot == kSensorSlotUnmatched)
        return "unmatched";
    return slot < names.size() ? names[slot] : "sensor" + std::to_string(slot);
}

std::string service_of(uint32_t where) {
    if ((where & TupleWhere::kNoService) != 0)
        return "none";
    return service_name(where & 0x3ffff);
}

// A sketch as the `sketches` table holds it: the serialized sketch deflated (zlib: a dense
// sketch's registers are mostly small numbers) and in base64, so that the String column is plain
// text for TabSeparated and FORMAT JSON alike.
std::string sketch_text(const std::vector<uint8_t>& sketch) {
    uLongf packed_size = compressBound(sketch.size());
    std::vector<uint8_t> packed(packed_size);
    if (compress2(packed.data(), &packed_size, sketch.data(), sketch.size(), 6) != Z_OK)
        return std::string();
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((packed_size + 2) / 3 * 4);
    for (uLongf i = 0; i < packed_size; i += 3) {
        const uint32_t n = uint32_t{packed[i]} << 16 |
                           (i + 1 < packed_size ? uint32_t{packed[i + 1]} << 8 : 0) |
                           (i + 2 < packed_size ? uint32_t{packed[i + 2]} : 0);
        out += kAlphabet[n >> 18 & 63];
        out += kAlphabet[n >> 12 & 63];
        out += i + 1 < packed_size ? kAlphabet[n >> 6 & 63] : '=';
        out += i + 2 < packed_size ? kAlphabet[n & 63] : '=';
    }
    return out;
}

}  // namespace

std::string interval_file(const FleetInterval& iv, const std::string& appliance, uint64_t export_id,
                          const std::vector<std::string>& sensor_names, bool tuples) {
    // Every row starts with the interval's key: interval start, appliance, export id.
    std::string key;
    put(key, iv.start);
    key += '\t';
    put(key, appliance);
    key += '\t';
    put(key, export_id);
    key += '\t';

    std::string out = std::string(kMagic) + "\n";
    auto section = [&](const char* table, const char* columns, uint64_t rows,
                       const std::string& body) {
        out += "table\t";
        out += table;
        out += '\t';
        out += columns;
        out += '\t';
        put(out, rows);
        out += '\n';
        out += body;
    };

    std::string body;
    uint64_t tuple_packets = 0;
    if (tuples) {
        body.reserve(iv.tuples.size() * 96);
        for (const FleetTuple& t : iv.tuples) {
            IpAddress a;
            std::memset(&a, 0, sizeof a);
            if (t.family == 4)
                std::memcpy(&a.v4, t.source, 4);
            else
                std::memcpy(a.v6, t.source, 16);
            body += key;
            put(body, sensor_of(t.where >> 24, sensor_names));
            body += '\t';
            body += format_address(a, t.family);
            body += '\t';
            put(body, service_of(t.where));
            body += (t.where & TupleWhere::kProbe) != 0 && (t.where & TupleWhere::kNoService) == 0
                        ? "\t1\t"
                        : "\t0\t";
            put(body, country_code(t.country));
            body += '\t';
            put(body, uint64_t{t.asn});
            body += '\t';
            put(body, uint64_t{t.packets});
            body += '\t';
            put(body, t.bytes);
            body += '\t';
            put(body, uint64_t{t.flags});
            body += '\t';
            put(body, uint64_t{t.first_s});
            body += '\t';
            put(body, uint64_t{t.last_s});
            body += '\n';
            tuple_packets += t.packets;
        }
        section("tuples",
                "interval_start, appliance, export_id, sensor, source, service, probe, country, "
                "asn, packets, bytes, flags, first_seen, last_seen",
                iv.tuples.size(), body);
    }

    body.clear();
    for (const StoredRow& r : iv.rows) {
        body += key;
        put(body, r.dimension);
        body += '\t';
        put(body, r.key);
        for (uint64_t v : {r.packets, r.bytes, r.sources, r.destinations, r.asns}) {
            body += '\t';
            put(body, v);
        }
        body += '\n';
    }
    section("totals",
            "interval_start, appliance, export_id, dimension, key, packets, bytes, sources, "
            "destinations, asns",
            iv.rows.size(), body);

    if (!tuples) {
        body.clear();
        for (const FleetSketch& k : iv.sketches) {
            body += key;
            put(body, k.dimension);
            body += '\t';
            put(body, k.key);
            body += '\t';
            body += sketch_text(k.sketch);
            body += '\n';
        }
        section("sketches", "interval_start, appliance, export_id, dimension, key, sketch",
                iv.sketches.size(), body);
    }

    body.clear();
    for (const StoredEvent& e : iv.events) {
        body += key;
        put(body, e.id);
        body += '\t';
        put(body, std::string(event_kind_name(e.kind)));
        body += '\t';
        put(body, std::string(event_phase_name(e.phase)));
        body += '\t';
        put(body, e.time);
        body += '\t';
        put(body, e.json);
        body += '\n';
    }
    section("events", "interval_start, appliance, export_id, id, kind, phase, time, json",
            iv.events.size(), body);

    body = key;
    put(body, iv.end);
    for (uint64_t v : {iv.packets, iv.bytes, uint64_t{tuples ? iv.tuples.size() : 0}, tuple_packets,
                       uint64_t{tuples ? 1u : 0u}, iv.tuples_unexported}) {
        body += '\t';
        put(body, v);
    }
    body += '\n';
    section("intervals",
            "interval_start, appliance, export_id, interval_end, packets, bytes, tuples, "
            "tuple_packets, tuple_mode, tuples_unexported",
            1, body);
    return out;
}

bool parse_interval_file(const std::string& content, SpooledInterval& out) {
    out = SpooledInterval{};
    size_t pos = content.find('\n');
    if (pos == std::string::npos || content.compare(0, pos, kMagic) != 0)
        return false;
    ++pos;
    while (pos < content.size()) {
        size_t nl = content.find('\n', pos);
        if (nl == std::string::npos)
            return false;
        const std::string line = content.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.rfind("table\t", 0) != 0)
            return false;
        IntervalSection s;
        const size_t t1 = line.find('\t', 6), t2 = line.find('\t', t1 + 1);
        if (t1 == std::string::npos || t2 == std::string::npos)
            return false;
        s.table = line.substr(6, t1 - 6);
        s.columns = line.substr(t1 + 1, t2 - t1 - 1);
        s.rows = std::strtoull(line.c_str() + t2 + 1, nullptr, 10);
        const size_t begin = pos;
        for (uint64_t i = 0; i < s.rows; ++i) {
            nl = content.find('\n', pos);
            if (nl == std::string::npos)
                return false;
            pos = nl + 1;
        }
        s.body = content.substr(begin, pos - begin);
        out.sections.push_back(std::move(s));
    }
    if (out.sections.empty() || out.sections.back().table != "intervals")
        return false;
    const std::string& mark = out.sections.back().body;
    out.start = std::strtoll(mark.c_str(), nullptr, 10);
    const size_t t1 = mark.find('\t'), t2 = mark.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos)
        return false;
    out.export_id = std::strtoull(mark.c_str() + t2 + 1, nullptr, 10);
    return true;
}

}  // namespace darkscope
