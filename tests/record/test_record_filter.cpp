// --record-filter: the documented syntax parses, bad expressions are refused with a reason, and
// packets match by sensor, class, protocol and service.
#include <gtest/gtest.h>

#include <stdexcept>

#include "darkscope/record_filter.hpp"

namespace ds = darkscope;

namespace {

ds::PacketFacts tcp_to(uint16_t port, uint16_t sensor, ds::TrafficClass cls) {
    ds::PacketFacts f{};
    f.ip_version = 4;
    f.proto = ds::Proto::tcp;
    f.l4_valid = true;
    f.dst_port = port;
    f.sensor = sensor;
    f.cls = cls;
    return f;
}

const std::vector<std::string> kSensors = {"tokyo", "osaka"};

}  // namespace

TEST(RecordFilter, EmptyAndAllSelectEverything) {
    EXPECT_TRUE(ds::RecordFilter::parse("", kSensors).selects_all());
    EXPECT_TRUE(ds::RecordFilter::parse("all", kSensors).selects_all());
}

TEST(RecordFilter, TermsAreAndedAlternativesOred) {
    const auto f =
        ds::RecordFilter::parse("sensor=osaka|unmatched service=tcp/23|tcp/2323", kSensors);
    EXPECT_TRUE(f.match(tcp_to(23, 1, ds::TrafficClass::tcp_scan)));
    EXPECT_TRUE(f.match(tcp_to(2323, ds::kSensorUnmatched, ds::TrafficClass::tcp_scan)));
    EXPECT_FALSE(f.match(tcp_to(23, 0, ds::TrafficClass::tcp_scan)));  // tokyo
    EXPECT_FALSE(f.match(tcp_to(22, 1, ds::TrafficClass::tcp_scan)));
    auto udp = tcp_to(23, 1, ds::TrafficClass::udp_probe);
    udp.proto = ds::Proto::udp;
    EXPECT_FALSE(f.match(udp));
    auto fragment = tcp_to(23, 1, ds::TrafficClass::fragment);
    fragment.l4_valid = false;
    EXPECT_FALSE(f.match(fragment));
}

TEST(RecordFilter, ClassProtoAndRanges) {
    const auto f =
        ds::RecordFilter::parse("class=tcp_backscatter proto=tcp service=tcp/1000-1010", kSensors);
    EXPECT_TRUE(f.match(tcp_to(1005, 0, ds::TrafficClass::tcp_backscatter)));
    EXPECT_FALSE(f.match(tcp_to(1011, 0, ds::TrafficClass::tcp_backscatter)));
    EXPECT_FALSE(f.match(tcp_to(1005, 0, ds::TrafficClass::tcp_scan)));
    const auto icmp = ds::RecordFilter::parse("proto=icmp|icmpv6", kSensors);
    ds::PacketFacts p{};
    p.proto = ds::Proto::icmpv6;
    EXPECT_TRUE(icmp.match(p));
    p.proto = ds::Proto::udp;
    EXPECT_FALSE(icmp.match(p));
}

TEST(RecordFilter, BadExpressionsAreRefused) {
    for (const char* bad : {"colour=red", "sensor=kyoto", "class=scan", "service=sctp/1",
                            "service=tcp/70000", "service=tcp/9-3", "proto=tcp proto=udp",
                            "sensor=", "sensor", "all proto=tcp", "service=tcp/1||tcp/2"})
        EXPECT_THROW(ds::RecordFilter::parse(bad, kSensors), std::invalid_argument) << bad;
}
