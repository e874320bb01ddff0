// Event capture keys from events: each surge dimension's key, a DoS victim and a scanner's
// source become the slots the worker writes into each recorded packet's header (the counters'
// own slot functions on a packet of that key are the truth), and a key naming nothing is refused.
#include <gtest/gtest.h>

#include "darkscope/counters.hpp"
#include "darkscope/event_capture_keys.hpp"

namespace ds = darkscope;
using Kind = ds::EventCaptureKey::Kind;

namespace {

const std::vector<std::string> kSensors = {"tokyo-a", "tokyo-b"};

ds::Event surge(const std::string& dimension, const std::string& key) {
    ds::Event e;
    e.kind = ds::EventKind::surge;
    e.dimension = dimension;
    e.key = key;
    return e;
}

// A recorded packet's header as record_burst fills it from the worker's facts.
ds::RecordedPacket header_of(const ds::PacketFacts& f) {
    ds::RecordedPacket p{};
    p.marks = static_cast<uint8_t>(ds::kMarkIp | (ds::is_probe_class(f.cls) ? ds::kMarkProbe : 0));
    p.service = ds::service_slot_of(f);
    p.sensor = static_cast<uint16_t>(ds::sensor_slot_of(f));
    p.country = static_cast<uint16_t>(ds::country_slot_of(f));
    p.source = f.src;
    return p;
}

ds::PacketFacts probe(ds::Proto proto, uint16_t port, uint16_t sensor, const char* country) {
    ds::PacketFacts f{};
    f.ip_version = 4;
    f.proto = proto;
    f.l4_valid = true;
    f.dst_port = port;
    f.sensor = sensor;
    f.country = ds::country_index(country);
    f.cls = proto == ds::Proto::udp ? ds::TrafficClass::udp_probe : ds::TrafficClass::tcp_scan;
    return f;
}

}  // namespace

TEST(EventCaptureKeys, SurgeKeysMatchTheirPackets) {
    const ds::PacketFacts p = probe(ds::Proto::tcp, 21318, 1, "JP");
    const ds::PacketFacts other = probe(ds::Proto::udp, 21318, 0, "CN");
    for (const auto& [dim, key] :
         std::vector<std::pair<std::string, std::string>>{{"service", "21318/tcp"},
                                                          {"sensor", "tokyo-b"},
                                                          {"country", "JP"},
                                                          {"sensor_service", "tokyo-b|21318/tcp"},
                                                          {"country_service", "JP|21318/tcp"},
                                                          {"sensor_country", "tokyo-b|JP"}}) {
        const auto k = ds::event_capture_key(surge(dim, key), kSensors);
        ASSERT_TRUE(k.has_value()) << dim << "=" << key;
        EXPECT_TRUE(k->matches(header_of(p))) << dim << "=" << key;
        EXPECT_FALSE(k->matches(header_of(other))) << dim << "=" << key;
    }
    ds::PacketFacts unmatched = p;
    unmatched.sensor = ds::kSensorUnmatched;
    EXPECT_TRUE(ds::event_capture_key(surge("sensor", "unmatched"), kSensors)
                    ->matches(header_of(unmatched)));
    ds::PacketFacts echo{};
    echo.ip_version = 4;
    echo.proto = ds::Proto::icmp;
    echo.l4_valid = true;
    echo.icmp_type = 8;
    echo.cls = ds::TrafficClass::icmp_probe;
    EXPECT_TRUE(
        ds::event_capture_key(surge("service", "icmp"), kSensors)->matches(header_of(echo)));
}

TEST(EventCaptureKeys, AddressesAndRefusals) {
    ds::Event dos;
    dos.kind = ds::EventKind::dos;
    dos.address = "192.0.2.10";
    const auto victim = ds::event_capture_key(dos, kSensors);
    ASSERT_TRUE(victim.has_value());
    EXPECT_EQ(victim->kind, Kind::victim);
    EXPECT_EQ(victim->family, 4);
    EXPECT_EQ(victim->address.v4, 0xc000020au);  // as the decoder reads it (host order)
    ds::Event scanner;
    scanner.kind = ds::EventKind::scanner;
    scanner.address = "2001:db8::7";
    const auto source = ds::event_capture_key(scanner, kSensors);
    ASSERT_TRUE(source.has_value());
    EXPECT_EQ(source->kind, Kind::source);
    EXPECT_EQ(source->family, 6);
    EXPECT_EQ(source->address.v6[15], 7);

    EXPECT_FALSE(ds::event_capture_key(surge("sensor", "osaka"), kSensors).has_value());
    EXPECT_FALSE(ds::event_capture_key(surge("service", "http"), kSensors).has_value());
    EXPECT_FALSE(ds::event_capture_key(surge("service", "70000/tcp"), kSensors).has_value());
    EXPECT_FALSE(ds::event_capture_key(surge("asn", "64500"), kSensors).has_value());
    dos.address = "not an address";
    EXPECT_FALSE(ds::event_capture_key(dos, kSensors).has_value());
}
