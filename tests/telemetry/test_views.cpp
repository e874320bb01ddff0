// The telemetry views on a hand-built snapshot: ranking, windows, filters, request errors, and the
// telemetry shape (ranked lists as dicts keyed by rank). No EAL: the views are plain C++.
#include <gtest/gtest.h>

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
    f.country = country_index_of(country);
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
