// The telemetry views on a hand-built snapshot: ranking, windows, filters, request errors, and the
// telemetry shape (ranked lists as dicts keyed by rank). No EAL: the views are plain C++.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>

#include "darkscope/hash.hpp"
#include "darkscope/views.hpp"

namespace darkscope {
namespace {

PacketFacts probe(uint32_t src, uint16_t port, uint16_t sensor, const char* country) {
    PacketFacts f;
    clear(f);
    f.frame_len = 60;
    f.ip_version = 4;
    f.proto = Proto::tcp;
    f.ip_proto = 6;
    f.l4_valid = true;
    f.src.v4 = src;
    f.dst.v4 = 0xcb007101;
    f.dst_port = port;
    f.cls = TrafficClass::tcp_scan;
    f.sensor = sensor;
    f.country = country_index(country);
    return f;
}

std::shared_ptr<Snapshot> snapshot() {
    auto c = std::make_shared<CounterSet>();
    c->clear();
    auto add = [&](uint32_t src, uint16_t port, uint16_t sensor, const char* cc, int n) {
        for (int i = 0; i < n; ++i) {
            PacketFacts f = probe(src + static_cast<uint32_t>(i), port, sensor, cc);
            count_packet(*c, f, 0, hash_address(f.src, 4), hash_address(f.dst, 4));
        }
    };
    add(0x01000000, 445, 0, "CN", 30);
    add(0x02000000, 23, 1, "JP", 20);
    add(0x03000000, 21318, 1, "JP", 25);
    add(0x04000000, 3389, 0, "US", 20);  // ties with 23/tcp: broken by name
    auto s = std::make_shared<Snapshot>();
    s->sensor_names = {"tokyo-a", "tokyo-b"};
    s->total.counters = c;
    s->last.counters = c;
    return s;
}

std::vector<std::string> column(const Value& v, const char* key) {
    std::vector<std::string> out;
    for (const auto& row : v.array())
        for (const auto& [k, item] : row.dict())
            if (k == key)
                out.push_back(std::get<std::string>(item.v));
    return out;
}

TEST(Views, TopPortsRankByPacketsThenName) {
    auto s = snapshot();
    Value v = top_view(*s, parse_top_request("ports", "3", 100));
    EXPECT_EQ(column(v, "service"), (std::vector<std::string>{"445/tcp", "21318/tcp", "23/tcp"}));
}

TEST(Views, FiltersUseTheCrossTables) {
    auto s = snapshot();
    Value v = top_view(*s, parse_top_request("ports", "10,total,sensor=tokyo-b", 100));
    EXPECT_EQ(column(v, "service"), (std::vector<std::string>{"21318/tcp", "23/tcp"}));
    Value c = top_view(*s, parse_top_request("countries", "10,last,service=21318/tcp", 100));
    EXPECT_EQ(column(c, "country"), (std::vector<std::string>{"JP"}));
    Value all = top_view(*s, parse_top_request("countries", "10", 100));
    EXPECT_EQ(column(all, "country"), (std::vector<std::string>{"JP", "CN", "US"}));
}

TEST(Views, BadRequestsAreRefusedWithAReason) {
    EXPECT_THROW(parse_top_request("ports", "0", 100), RequestError);
    EXPECT_THROW(parse_top_request("ports", "101", 100), RequestError);
    EXPECT_THROW(parse_top_request("ports", "abc", 100), RequestError);
    EXPECT_THROW(parse_top_request("ports", "10,week", 100), RequestError);
    EXPECT_THROW(parse_top_request("ports", "10,total,colour=red", 100), RequestError);
    EXPECT_THROW(parse_top_request("countries", "10,total,all", 100), RequestError);
    auto s = snapshot();
    EXPECT_THROW(top_view(*s, parse_top_request("ports", "5,total,sensor=nowhere", 100)),
                 RequestError);
    EXPECT_THROW(series_view(*s, "service=445/tcp,0"), RequestError);
    EXPECT_THROW(events_view(*s, "5,meteor", ""), RequestError);
    try {
        parse_top_request("ports", "500", 100);
    } catch (const RequestError& e) {
        EXPECT_NE(std::string(e.what()).find("capped at 100"), std::string::npos);
    }
}

// what() of the RequestError `f` throws, or "" when it throws none.
template <typename F>
std::string refusal(F f) {
    try {
        f();
    } catch (const RequestError& e) {
        return e.what();
    }
    return "";
}

TEST(Views, EveryFilterRefusesAnUnknownOrMalformedValue) {
    auto s = snapshot();
    auto top = [&](const char* dim, const char* params) {
        return refusal([&] { top_view(*s, parse_top_request(dim, params, 100)); });
    };
    // country=: an invalid code is refused, not read as "??" (unknown country).
    EXPECT_EQ(top("sensors", "5,total,country=JPN"), "unknown country 'JPN'");
    EXPECT_EQ(top("ports", "5,total,country=J1"), "unknown country 'J1'");
    EXPECT_NE(top("sensors", "5,total,country="), "");
    EXPECT_NE(top("sensors", "5,total,country=?"), "");
    // sensor=
    EXPECT_EQ(top("ports", "5,total,sensor=tokyo-x"), "unknown sensor 'tokyo-x'");
    EXPECT_EQ(top("countries", "5,total,sensor=tokyo-x"), "unknown sensor 'tokyo-x'");
    // service=
    for (const char* dim : {"countries", "sensors"})
        for (const char* svc : {"445", "445/sctp", "tcp", "70000/tcp", "/tcp", ""})
            EXPECT_NE(top(dim, (std::string("5,total,service=") + svc).c_str()), "")
                << dim << " service=" << svc;
    // Valid values answer, even with no traffic: "??" and a known code are not errors.
    EXPECT_EQ(top("sensors", "5,total,country=??"), "");
    EXPECT_EQ(top("sensors", "5,total,country=FR"), "");
    EXPECT_EQ(top("countries", "5,total,service=icmp"), "");
    EXPECT_EQ(top("countries", "5,total,sensor=unmatched"), "");
    Value jp = top_view(*s, parse_top_request("sensors", "5,total,country=JP", 100));
    EXPECT_EQ(column(jp, "sensor"), (std::vector<std::string>{"tokyo-b"}));
}

// A country code is read in either case, as everywhere (lib/common/country.hpp): country=jp is
// country=JP.
TEST(Views, CountryFiltersReadEitherCase) {
    auto s = snapshot();
    auto sensors = [&](const char* params) {
        return column(top_view(*s, parse_top_request("sensors", params, 100)), "sensor");
    };
    for (const char* code : {"jp", "Jp", "jP"})
        EXPECT_EQ(sensors((std::string("5,total,country=") + code).c_str()),
                  (std::vector<std::string>{"tokyo-b"}))
            << code;
    EXPECT_EQ(sensors("5,total,country=cn"), (std::vector<std::string>{"tokyo-a"}));
    auto ports = [&](const char* params) {
        return column(top_view(*s, parse_top_request("ports", params, 100)), "service");
    };
    EXPECT_EQ(ports("5,total,country=jp"), (std::vector<std::string>{"21318/tcp", "23/tcp"}));
    EXPECT_EQ(ports("5,total,country=us"), (std::vector<std::string>{"3389/tcp"}));
}

std::shared_ptr<Snapshot> with_series(std::shared_ptr<Snapshot> s) {
    auto h = std::make_shared<SeriesHistory>();
    auto iv = std::make_shared<SeriesHistory::Interval>();
    iv->start_s = 1363046400;
    series_points(*s->total.counters, s->sensor_names, 100, iv->points);
    h->intervals.push_back(iv);
    s->series = h;
    return s;
}

uint64_t first_packets(const Value& series) {
    for (const auto& [k, v] : series.dict())
        if (k == "packets")
            return std::get<uint64_t>(v.array().at(0).v);
    return 0;
}

TEST(Views, SeriesRefusesUnknownKeys) {
    auto s = with_series(snapshot());
    auto series = [&](const char* params) { return refusal([&] { series_view(*s, params); }); };
    for (const char* bad :
         {"servce=445/tcp,5", "service=445,5", "service=445/sctp,5", "sensor=tokyo-x,5",
          "country=j,5", "=,5", "=", "sensor_service=tokyo-b,5", "sensor_service=tokyo-x|445/tcp,5",
          "sensor_service=tokyo-b|445,5", "country_service=XX1|445/tcp,5",
          "country_service=JP|23,5"})
        EXPECT_NE(series(bad), "") << bad;
    EXPECT_EQ(series("servce=445/tcp,5"),
              "KEY must be service=P, country=CC, sensor=S, sensor_service=S|P, "
              "country_service=CC|P, scanner_service=P or scanner_country=CC; got "
              "'servce=445/tcp'");
    // The reason comes whole within a telemetry string, however long the key echoed after it.
    const std::string long_key = std::string(300, 'x') + ",5";
    EXPECT_LT(series(long_key.c_str()).find("; got '"), kTelemetryStringMax);
    EXPECT_EQ(series("country=jpn,5"), "unknown country 'jpn'");
    EXPECT_EQ(series("sensor=tokyo-x,5"), "unknown sensor 'tokyo-x'");
    EXPECT_EQ(series("service=445,5"), "service must look like 445/tcp, 53/udp or icmp, got '445'");
    // Well-formed keys answer, with zeros when the key had no traffic.
    EXPECT_EQ(first_packets(series_view(*s, "service=445/tcp,5")), 30u);
    EXPECT_EQ(first_packets(series_view(*s, "service=0445/tcp,5")), 30u);
    EXPECT_EQ(first_packets(series_view(*s, "sensor=tokyo-b,5")), 45u);
    EXPECT_EQ(first_packets(series_view(*s, "country=JP,5")), 45u);
    EXPECT_EQ(first_packets(series_view(*s, "sensor_service=tokyo-b|23/tcp,5")), 20u);
    EXPECT_EQ(first_packets(series_view(*s, "country_service=CN|445/tcp,5")), 30u);
    EXPECT_EQ(first_packets(series_view(*s, "service=53/udp,5")), 0u);
    EXPECT_EQ(first_packets(series_view(*s, "country=FR,5")), 0u);
    EXPECT_EQ(first_packets(series_view(*s, "sensor=unmatched,5")), 0u);
    // The scanner activity rows capture adds to each interval.
    EXPECT_EQ(first_packets(series_view(*s, "scanner_service=445/tcp,5")), 0u);
    EXPECT_EQ(first_packets(series_view(*s, "scanner_country=JP,5")), 0u);
    EXPECT_NE(series("scanner_service=445,5"), "");
    EXPECT_NE(series("scanner_country=j,5"), "");
}

std::string key_of(const Value& series) {
    for (const auto& [k, v] : series.dict())
        if (k == "key")
            return std::get<std::string>(v.v);
    return "";
}

// Series keys read a country code in either case and answer under the upper-case key.
TEST(Views, SeriesCountryKeysReadEitherCase) {
    auto s = with_series(snapshot());
    Value lower = series_view(*s, "country=jp,5");
    EXPECT_EQ(key_of(lower), "country=JP");
    EXPECT_EQ(first_packets(lower), 45u);
    Value cross = series_view(*s, "country_service=cn|445/tcp,5");
    EXPECT_EQ(key_of(cross), "country_service=CN|445/tcp");
    EXPECT_EQ(first_packets(cross), 30u);
    EXPECT_EQ(key_of(series_view(*s, "scanner_country=jp,5")), "scanner_country=JP");
}

// --- Reply size: nothing may be lost to DPDK's 16 KiB reply buffer. ---

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// The reply DPDK writes, {"<command>":...}, is modelled exactly: check the model on a few shapes.
TEST(Views, ReplyBytesFollowDpdksJson) {
    auto bytes = [](const Value& v) { return telemetry_reply_bytes("/x", telemetry_form(v)); };
    EXPECT_EQ(bytes(Dict{{"a", 1u}, {"b", "q\"z"}}),
              std::string(R"({"/x":{"a":1,"b":"q\\\"z"}})").size());
    EXPECT_EQ(bytes(Array{Dict{{"a", 1u}}, Dict{{"a", 22u}}}),
              std::string(R"({"/x":{"1":{"a":1},"2":{"a":22}}})").size());
    EXPECT_EQ(bytes(Dict{{"k", Array{1u, 2u}}, {"e", Array{}}}),
              std::string(R"({"/x":{"k":[1,2],"e":[]}})").size());
    EXPECT_EQ(bytes(Array{}), std::string(R"({"/x":[]})").size());
    EXPECT_EQ(
        bytes(Dict{{"n", int64_t{-5}}, {"big", int64_t{1} << 40}, {"neg", -(int64_t{1} << 40)}}),
        std::string(R"({"/x":{"n":-5,"big":1099511627776,"neg":"-1099511627776"}})").size());
    // Strings are JSON text (a quote is \", which DPDK writes as \\\") clipped to what one
    // telemetry string holds, counting DPDK's escapes.
    Value clipped = telemetry_form(Dict{{"s", std::string(300, '"')}});
    EXPECT_EQ(std::get<std::string>(clipped.dict()[0].second.v).size(),
              kTelemetryStringMax / 4 * 2);
    EXPECT_NE(telemetry_reply_problem("/x", telemetry_form(Dict{{"bad-name", 1u}})), "");
}

// Every top view's longest row: the view's own row (its fields and order) with every number at
// 20 digits and every string at the longest it can be.
Value widest_row(const Value& row, unsigned numeric_digits_asn = 20) {
    static const std::map<std::string, size_t> longest = {
        {"service", 9},  // 65535/tcp
        {"proto", 6},    // icmpv6
        {"country", 2},
        {"sensor", 63},                 // the configuration's limit for a sensor name
        {"name", kTelemetryStringMax},  // ASN names, clipped
        {"asn", 5},                     // "other"
    };
    Dict out;
    for (const auto& [k, v] : row.dict()) {
        if (std::holds_alternative<std::string>(v.v)) {
            auto it = longest.find(k);
            EXPECT_NE(it, longest.end()) << "no longest length for string field '" << k << "'";
            out.emplace_back(k, std::string(it == longest.end() ? 200 : it->second, 'x'));
        } else if (k == "port") {
            out.emplace_back(k, 65535u);
        } else if (k == "asn" && numeric_digits_asn == 10) {
            out.emplace_back(k, uint64_t{UINT32_MAX});
        } else {
            out.emplace_back(k, kMax);
        }
    }
    return out;
}

size_t reply_bytes(const char* dim, const Value& row, unsigned n) {
    Array rows(n, row);
    return telemetry_reply_bytes(std::string("/darkscope/top/") + dim, telemetry_form(rows));
}

std::shared_ptr<Snapshot> talkers(unsigned n, bool prefixes) {
    auto s = snapshot();
    std::vector<HeavyHitter> hitters;
    for (unsigned i = 0; i < n; ++i) {
        // ffff:ffff:...:ffxx, no zero group: the longest text an IPv6 address takes (39).
        IpAddress a{};
        for (int b = 0; b < 16; ++b)
            a.v6[b] = 0xff;
        a.v6[14] = static_cast<uint8_t>(0xf0 | (i >> 8));
        a.v6[15] = static_cast<uint8_t>(i & 0xfe);
        HeavyHitter h;
        h.key = prefixes ? HeavyKey::prefix(a, 6, 127) : HeavyKey::host(a, 6);
        h.packets = h.error = h.bytes = kMax;
        h.distinct_destinations = h.distinct_services = h.distinct_sources = kMax;
        h.first_seen = h.last_seen = kMax;
        h.country = 0;
        h.flags = (1u << kFlagCount) - 1;
        h.asn = UINT32_MAX;
        hitters.push_back(h);
    }
    (prefixes ? s->total.prefixes : s->total.sources) = hitters;
    return s;
}

// What fits of each top view's longest rows (the figures views.hpp states), and a reply of more
// such rows than fit is refused, saying how many fit, instead of being cut.
TEST(Views, TopWorstCaseRowsThatDoNotFitAreRefusedSayingWhatFits) {
    auto s = snapshot();
    struct Case {
        const char* dim;
        Value row;
        unsigned possible;  // rows the dimension can hold at most
        unsigned fit;       // views.hpp's figure
    };
    auto first_row = [&](const char* dim) {
        Value v = top_view(*s, parse_top_request(dim, "1", 100));
        EXPECT_FALSE(v.array().empty()) << dim;
        return v.array().empty() ? Value(Dict{}) : v.array()[0];
    };
    Value source = top_view(*talkers(1, false), parse_top_request("sources", "1", 100)).array()[0];
    Value prefix = top_view(*talkers(1, true), parse_top_request("prefixes", "1", 100)).array()[0];
    std::vector<Case> cases = {
        {"ports", widest_row(first_row("ports")), 1000, 109},
        {"countries", widest_row(first_row("countries")), kCountrySlots, 92},
        {"asns", widest_row(first_row("asns")), 1000, 62},
        {"sensors", widest_row(first_row("sensors")), kMaxSensors + 1, 69},
        {"sources", source, 1000, 36},
        {"prefixes", prefix, 1000, 36},
    };
    for (const auto& c : cases) {
        unsigned fit = 1;
        while (fit < 1000 && reply_bytes(c.dim, c.row, fit + 1) <= kTelemetryReplyMax)
            ++fit;
        std::printf("top/%s: longest row %zu bytes; %u rows fit\n", c.dim, to_json(c.row).size(),
                    fit);
        EXPECT_EQ(fit, c.fit) << c.dim;
        const unsigned n = std::min(kTopCapTelemetry, c.possible);
        const std::string command = std::string("/darkscope/top/") + c.dim;
        const std::string problem =
            telemetry_reply_problem(command, telemetry_form(Array(n, c.row)));
        if (fit >= n) {
            EXPECT_EQ(problem, "") << c.dim;
        } else {
            EXPECT_NE(problem.find(std::to_string(fit) + " rows fit now, ask for N of at most " +
                                   std::to_string(fit)),
                      std::string::npos)
                << c.dim << ": " << problem;
            EXPECT_EQ(telemetry_reply_problem(command, telemetry_form(Array(fit, c.row))), "");
        }
    }
    // Sensor rows from a filter hold fewer fields than the unfiltered ones measured above.
    Value filtered = top_view(*s, parse_top_request("sensors", "1,total,service=445/tcp", 100));
    EXPECT_LT(filtered.array()[0].dict().size(), first_row("sensors").dict().size());
}

TEST(Views, WorstCaseIPv6SourcesThatFitArriveWhole) {
    for (bool prefixes : {false, true}) {
        const char* dim = prefixes ? "prefixes" : "sources";
        const unsigned cap = 36;  // views.hpp: what fits of these rows
        auto s = talkers(cap + 20, prefixes);
        Value v = top_view(*s, parse_top_request(dim, std::to_string(cap), kTopCapTelemetry));
        ASSERT_EQ(v.array().size(), cap);
        Value formed = telemetry_form(v);
        std::string command = std::string("/darkscope/top/") + dim;
        EXPECT_EQ(telemetry_reply_problem(command, formed), "") << dim;
        EXPECT_LE(telemetry_reply_bytes(command, formed), kTelemetryReplyMax);
        // Every row, with every field, unclipped (the shape is a dict keyed by rank).
        ASSERT_EQ(formed.dict().size(), cap);
        for (unsigned i = 0; i < cap; ++i) {
            EXPECT_EQ(formed.dict()[i].first, std::to_string(i + 1));
            const Dict& row = formed.dict()[i].second.dict();
            EXPECT_EQ(to_json(row), to_json(v.array()[i])) << dim << " row " << i + 1;
            EXPECT_EQ(row.size(), 12u);
            EXPECT_EQ(std::get<std::string>(row[0].second.v).size(), prefixes ? 43u : 39u);
        }
        // N above kTopCapTelemetry is refused with the cap named...
        std::string e = refusal([&] { parse_top_request(dim, "101", kTopCapTelemetry); });
        EXPECT_NE(e.find("100"), std::string::npos) << e;
        // ...and a reply that would not fit is never cut: it is refused, saying what fits.
        TopRequest more = parse_top_request(dim, std::to_string(cap + 20), kTopCapTelemetry);
        std::string problem = telemetry_reply_problem(command, telemetry_form(top_view(*s, more)));
        EXPECT_NE(problem.find(std::to_string(cap) + " rows fit"), std::string::npos) << problem;
    }
}

// Series: three arrays of K numbers; the longest key and 20-digit numbers fit at K's maximum.
TEST(Views, SeriesAtItsMaximumFits) {
    auto s = snapshot();
    s->sensor_names[1] = std::string(63, 's');
    auto h = std::make_shared<SeriesHistory>();
    std::string key = "sensor_service=" + s->sensor_names[1] + "|65535/tcp";
    for (unsigned i = 0; i < kSeriesMax + 5; ++i) {
        auto iv = std::make_shared<SeriesHistory::Interval>();
        iv->start_s = -1;  // sent as a u64: 20 digits
        iv->points[key] = {kMax, kMax};
        h->intervals.push_back(iv);
    }
    s->series = h;
    s->interval_s = UINT32_MAX;
    Value v = series_view(*s, key + "," + std::to_string(kSeriesMax));
    Value formed = telemetry_form(v);
    EXPECT_EQ(telemetry_reply_problem("/darkscope/series", formed), "");
    EXPECT_EQ(formed.dict()[2].second.array().size(), kSeriesMax);
    EXPECT_LE(telemetry_reply_bytes("/darkscope/series", formed), kTelemetryReplyMax);
}

// Events carry free text: a reply of long events that would not fit is refused, never cut.
TEST(Views, EventsThatDoNotFitAreRefusedNotCut) {
    auto s = snapshot();
    auto lists = std::make_shared<EventLists>();
    for (unsigned i = 0; i < kEventsMax; ++i) {
        EventSummary e;
        e.kind = "scanner";
        std::string address = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:" + std::to_string(1000 + i);
        e.fields = {{"id", "scanner:" + address + ":1363046400"},
                    {"kind", "scanner"},
                    {"phase", "update"},
                    {"start", uint64_t{1363046400}},
                    {"end", uint64_t{1363132800}},
                    {"address", address},
                    {"country", "JP"},
                    {"asn", uint64_t{4294967295}},
                    {"packets", uint64_t{18446744073709551615ull}},
                    {"destinations", uint64_t{18446744073709551615ull}},
                    {"tools", "zmap masscan mirai nmap"}};
        lists->events.push_back(e);
    }
    s->events = lists;
    Value few = events_view(*s, "10", "");
    EXPECT_EQ(telemetry_reply_problem("/darkscope/events", telemetry_form(few)), "");
    // Counts and times are JSON numbers, 64-bit ones whole.
    const std::string json = to_json(few);
    EXPECT_NE(json.find("\"packets\":18446744073709551615"), std::string::npos) << json;
    EXPECT_NE(json.find("\"start\":1363046400"), std::string::npos) << json;
    EXPECT_EQ(json.find("\"packets\":\""), std::string::npos) << json;
    Value all = events_view(*s, std::to_string(kEventsMax), "");
    ASSERT_EQ(all.array().size(), kEventsMax);
    std::string problem = telemetry_reply_problem("/darkscope/events", telemetry_form(all));
    EXPECT_NE(problem.find("rows fit now, ask for N of at most"), std::string::npos) << problem;
}

TEST(Views, StatsAndShapes) {
    auto s = snapshot();
    Value stats = stats_view(*s);
    uint64_t packets = 0;
    for (const auto& [k, v] : stats.dict())
        if (k == "packets")
            packets = std::get<uint64_t>(v.v);
    EXPECT_EQ(packets, 95u);
    // Ranked lists become dicts keyed "1", "2", ... (22.11 cannot put dicts in arrays).
    Value shaped = telemetry_shape(top_view(*s, parse_top_request("ports", "2", 100)));
    ASSERT_TRUE(shaped.is_dict());
    EXPECT_EQ(shaped.dict()[0].first, "1");
    EXPECT_EQ(shaped.dict()[1].first, "2");
    EXPECT_EQ(to_json(Value(Dict{{"a\"b", "x\ny"}})), "{\"a\\\"b\":\"x\\ny\"}");
}

}  // namespace
}  // namespace darkscope
