// Classes, flags and sensors on hand-built frames; the LPM against a brute-force scan.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <set>

#include "darkscope/classify.hpp"
#include "darkscope/config.hpp"
#include "darkscope/decode.hpp"
#include "packet_builder.hpp"

using namespace darkscope;
using namespace darkscope::test;

namespace {

const uint32_t kScanner = ip4(45, 83, 64, 10);  // an ordinary routed source
const uint32_t kDark = ip4(192, 0, 2, 77);

PacketFacts classify_frame(const Frame& fr, const SensorTable* sensors = nullptr) {
    PacketFacts f;
    decode(fr.bytes.data(), static_cast<uint32_t>(fr.size()), static_cast<uint32_t>(fr.size()),
           LinkType::ethernet, f);
    Classifier(ClassifyConfig::defaults(), sensors).classify(f);
    return f;
}

TrafficClass cls_of(const Frame& fr) {
    return classify_frame(fr).cls;
}
uint16_t flags_of(const Frame& fr) {
    return classify_frame(fr).flags;
}

}  // namespace

TEST(Class, TcpScanIsSynWithoutAckOrRst) {
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn)), TrafficClass::tcp_scan);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn | tcp_ece | tcp_cwr)),
              TrafficClass::tcp_scan);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn | tcp_fin)),
              TrafficClass::tcp_scan);
}

TEST(Class, TcpBackscatterIsSynAckRstRstAck) {
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 80, 2, tcp_syn | tcp_ack)),
              TrafficClass::tcp_backscatter);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 80, 2, tcp_rst)), TrafficClass::tcp_backscatter);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 80, 2, tcp_rst | tcp_ack)),
              TrafficClass::tcp_backscatter);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 80, 2, tcp_syn | tcp_rst)),
              TrafficClass::tcp_backscatter);
}

TEST(Class, TcpOther) {
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_ack)), TrafficClass::tcp_other);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_fin | tcp_psh | tcp_urg)),
              TrafficClass::tcp_other);
    EXPECT_EQ(cls_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, 0)), TrafficClass::tcp_other);
}

// Every one of the 256 TCP flag bytes (the classifier reads the class from a table of the low
// six bits): SYN without ACK or RST is a scan, SYN-ACK or any RST backscatter, the rest other;
// ECE and CWR change nothing.
TEST(Class, EveryTcpFlagByte) {
    unsigned per_class[3] = {};
    for (unsigned tf = 0; tf < 256; ++tf) {
        const bool syn = tf & tcp_syn, ack = tf & tcp_ack, rst = tf & tcp_rst;
        const TrafficClass want = syn && !ack && !rst   ? TrafficClass::tcp_scan
                                  : (syn && ack) || rst ? TrafficClass::tcp_backscatter
                                                        : TrafficClass::tcp_other;
        const TrafficClass got =
            cls_of(eth_ipv4_tcp(kScanner, kDark, 1000, 2000, static_cast<uint8_t>(tf)));
        EXPECT_EQ(got, want) << "tcp flags 0x" << std::hex << tf;
        ++per_class[static_cast<unsigned>(want)];
    }
    EXPECT_EQ(per_class[0], 32u);   // SYN set, ACK and RST clear: 2^5 values of the other bits
    EXPECT_EQ(per_class[1], 160u);  // RST set (128), or SYN+ACK without RST (32)
    EXPECT_EQ(per_class[2], 64u);
}

// The appliance's default --udp-service-ports (lib/config) is the classifier's default list
// (kDefaultUdpServicePorts): the tests that classify with ClassifyConfig::defaults() classify as
// the binary does.
TEST(Class, ApplianceDefaultUdpServicePortsAreTheClassifiers) {
    const Config defaults;
    std::bitset<65536> appliance;
    for (uint16_t p : defaults.udp_service_ports)
        appliance.set(p);
    EXPECT_EQ(appliance, ClassifyConfig::defaults().udp_service_ports);
    EXPECT_EQ(appliance.count(), defaults.udp_service_ports.size());
}

TEST(Class, UdpProbeAndBackscatter) {
    EXPECT_EQ(cls_of(eth_ipv4_udp(kScanner, kDark, 40000, 53)), TrafficClass::udp_probe);
    EXPECT_EQ(cls_of(eth_ipv4_udp(kScanner, kDark, 53, 40000)), TrafficClass::udp_backscatter);
    EXPECT_EQ(cls_of(eth_ipv4_udp(kScanner, kDark, 53, 1024)), TrafficClass::udp_backscatter);
    EXPECT_EQ(cls_of(eth_ipv4_udp(kScanner, kDark, 53, 1023)), TrafficClass::udp_probe);
    EXPECT_EQ(cls_of(eth_ipv4_udp(kScanner, kDark, 53, 53)), TrafficClass::udp_probe);
    // Exactly these source ports (docs/classify.md) make a reply to a high port backscatter.
    const std::set<unsigned> services = {17,   19,   53,    69,    111,   123,  137,  161,
                                         389,  500,  520,   1434,  1900,  3283, 3702, 4500,
                                         5353, 5683, 10001, 11211, 37810, 47808};
    for (unsigned p = 0; p <= 65535; ++p)
        ASSERT_EQ(cls_of(eth_ipv4_udp(kScanner, kDark, static_cast<uint16_t>(p), 33333)),
                  services.count(p) ? TrafficClass::udp_backscatter : TrafficClass::udp_probe)
            << p;
    EXPECT_EQ(std::set<unsigned>(kDefaultUdpServicePorts.begin(), kDefaultUdpServicePorts.end()),
              services);
    // The list comes from the config.
    ClassifyConfig only_ntp;
    only_ntp.udp_service_ports.set(123);
    Frame fr = eth_ipv4_udp(kScanner, kDark, 53, 40000);
    PacketFacts f;
    decode(fr.bytes.data(), static_cast<uint32_t>(fr.size()), static_cast<uint32_t>(fr.size()),
           LinkType::ethernet, f);
    Classifier(only_ntp, nullptr).classify(f);
    EXPECT_EQ(f.cls, TrafficClass::udp_probe);
}

TEST(Class, IcmpProbeAndBackscatter) {
    for (uint8_t t : {0, 3, 4, 5, 11, 12, 14, 16, 18})
        EXPECT_EQ(cls_of(eth_ipv4_icmp(kScanner, kDark, t)), TrafficClass::icmp_backscatter)
            << int(t);
    for (uint8_t t : {8, 13, 15, 17, 9, 10, 42, 255})  // requests and unknown types
        EXPECT_EQ(cls_of(eth_ipv4_icmp(kScanner, kDark, t)), TrafficClass::icmp_probe) << int(t);
}

TEST(Class, Icmpv6ProbeAndBackscatter) {
    const uint8_t s[16] = {0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    auto make = [&](uint8_t type) {
        Frame fr;
        fr.eth(0x86dd);
        size_t ip = fr.ipv6(58, s, d);
        fr.icmp(type, 0);
        fr.finish_ipv6(ip);
        return fr;
    };
    for (uint8_t t : {1, 2, 3, 4, 129})
        EXPECT_EQ(cls_of(make(t)), TrafficClass::icmp_backscatter) << int(t);
    for (uint8_t t : {128, 130, 133, 135, 139, 136, 200})
        EXPECT_EQ(cls_of(make(t)), TrafficClass::icmp_probe) << int(t);
}

TEST(Class, FragmentOtherMalformedNonIp) {
    Frame frag;
    frag.eth(0x0800);
    size_t ip = frag.ipv4(17, kScanner, kDark, 64, 1, 100);
    frag.zeros(16);
    frag.finish_ipv4(ip);
    PacketFacts f = classify_frame(frag);
    EXPECT_EQ(f.cls, TrafficClass::fragment);
    EXPECT_EQ(f.proto, Proto::udp);

    Frame gre;
    gre.eth(0x0800);
    size_t ipg = gre.ipv4(47, kScanner, kDark);
    gre.zeros(8);
    gre.finish_ipv4(ipg);
    EXPECT_EQ(cls_of(gre), TrafficClass::other_ip);

    Frame bad = eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn);
    bad.bytes[14] = 0x43;
    EXPECT_EQ(cls_of(bad), TrafficClass::malformed);

    Frame arp;
    arp.eth(0x0806).zeros(28);
    EXPECT_EQ(cls_of(arp), TrafficClass::non_ip);

    PacketFacts unsupported;
    decode(arp.bytes.data(), static_cast<uint32_t>(arp.size()), 60, kUnsupportedLink, unsupported);
    Classifier(ClassifyConfig::defaults(), nullptr).classify(unsupported);
    EXPECT_EQ(unsupported.cls, TrafficClass::non_ip);
}

TEST(Flag, Zmap) {
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 5, 65535, 64, 54321)) &
                flag_zmap);
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 5, 65535, 64, 54322)) &
                 flag_zmap);
}

TEST(Flag, Masscan) {
    uint16_t dport = 697;
    uint32_t seq = 2109343474;
    uint16_t id = static_cast<uint16_t>((kDark ^ dport ^ seq) & 0xffff);
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 61000, dport, tcp_syn, seq, 1024, 250, id)) &
                flag_masscan);
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 61000, dport, tcp_syn, seq, 1024, 250,
                                       static_cast<uint16_t>(id + 1))) &
                 flag_masscan);
}

TEST(Flag, Mirai) {
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 23, tcp_syn, kDark)) & flag_mirai);
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 23, tcp_syn, kDark + 1)) & flag_mirai);
}

TEST(Flag, Nmap) {
    for (uint16_t w : {1024, 2048, 3072, 4096})
        EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, w, 50, 3,
                                          {2, 4, 0x05, 0xb4})) &
                    flag_nmap)
            << w;
    // A Linux connect() SYN (window 29200, MSS+SACK+TS+NOP+WS) is not nmap's raw SYN.
    EXPECT_FALSE(
        flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 29200, 50, 3,
                              {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7})) &
        flag_nmap);
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 1024, 50, 3)) &
                 flag_nmap);
    EXPECT_FALSE(
        flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 1024, 50, 3, {2, 4, 0x05, 0xb3})) &
        flag_nmap);
}

TEST(Flag, NoTcpOptionsHighTtlLargeScaleScan) {
    uint16_t f = flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 1024, 250));
    EXPECT_TRUE(f & flag_no_tcp_options);
    EXPECT_TRUE(f & flag_high_ttl);
    EXPECT_TRUE(f & flag_large_scale_scan);
    f = flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 1025, 250));
    EXPECT_FALSE(f & flag_large_scale_scan);
    f = flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 1024, 199));
    EXPECT_FALSE(f & flag_high_ttl);
    EXPECT_FALSE(f & flag_large_scale_scan);
    f = flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn, 9, 1024, 250, 1, {2, 4, 5, 0xb4}));
    EXPECT_FALSE(f & flag_no_tcp_options);
    EXPECT_FALSE(f & flag_large_scale_scan);
    // Corsaro's no-options filter looks at SYNs only.
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_rst)) & flag_no_tcp_options);
}

TEST(Flag, Spoofed) {
    auto clean = eth_ipv4_tcp(kScanner, kDark, 40000, 8080, tcp_syn, 1, 1024, 64);
    EXPECT_FALSE(flags_of(clean) & flag_spoofed);
    // Each of Corsaro's sub-filters on its own.
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 40000, 8080, tcp_syn | tcp_psh)) &
                flag_spoofed);  // abnormal flag mix
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 40000, 8080, tcp_syn, 1, 1024, 200)) &
                flag_spoofed);  // TTL >= 200
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(ip4(45, 83, 64, 0), kDark, 40000, 8080, tcp_syn)) &
                flag_spoofed);  // last byte 0
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(ip4(45, 83, 64, 255), kDark, 40000, 8080, tcp_syn)) &
                flag_spoofed);  // last byte 255
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kDark, kDark, 40000, 8080, tcp_syn)) & flag_spoofed);
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 0, 8080, tcp_syn)) & flag_spoofed);
    EXPECT_TRUE(flags_of(eth_ipv4_udp(kScanner, kDark, 4000, 0)) & flag_spoofed);
    Frame gre;
    gre.eth(0x0800);
    size_t ip = gre.ipv4(47, kScanner, kDark);
    gre.zeros(8);
    gre.finish_ipv4(ip);
    EXPECT_TRUE(flags_of(gre) & flag_spoofed);  // a protocol other than TCP/UDP/ICMP/6in4
    Frame frag;
    frag.eth(0x0800);
    size_t ipf = frag.ipv4(6, kScanner, kDark, 64, 1, 10);
    frag.zeros(8);
    frag.finish_ipv4(ipf);
    EXPECT_TRUE(flags_of(frag) & flag_spoofed);
    // ICMP is exempt from the TTL rule.
    Frame icmp;
    icmp.eth(0x0800);
    size_t ipi = icmp.ipv4(1, kScanner, kDark, 250);
    icmp.icmp(8, 0);
    icmp.finish_ipv4(ipi);
    EXPECT_FALSE(flags_of(icmp) & flag_spoofed);
}

TEST(Flag, Erratic) {
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 40000, 8080, tcp_syn)) & flag_erratic);
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 40000, 8080, tcp_syn | tcp_psh)) &
                flag_erratic);  // spoofed implies erratic
    for (uint16_t p : {23, 80, 5000})
        EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 40000, p, tcp_syn)) & flag_erratic);
    EXPECT_TRUE(flags_of(eth_ipv4_udp(kScanner, kDark, 40000, 53)) & flag_erratic);
    EXPECT_TRUE(flags_of(eth_ipv4_udp(kScanner, kDark, 40000, 4444, 96 - 28)) & flag_erratic);
    EXPECT_FALSE(flags_of(eth_ipv4_udp(kScanner, kDark, 40000, 4444, 95 - 28)) & flag_erratic);
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(kScanner, kDark, 443, 4444, tcp_syn | tcp_ack)) &
                flag_erratic);  // backscatter
    EXPECT_TRUE(flags_of(eth_ipv4_icmp(kScanner, kDark, 0)) & flag_erratic);
    EXPECT_FALSE(flags_of(eth_ipv4_icmp(kScanner, kDark, 8)) & flag_erratic);
    // The UDP 0x31 payload pattern (IP length 58).
    Frame u = eth_ipv4_udp(kScanner, kDark, 40000, 4444, 30);
    u.bytes[14 + 28 + 8] = 0x31;
    EXPECT_TRUE(flags_of(u) & flag_erratic);
    // A DNS response header to an odd port.
    Frame dns = eth_ipv4_udp(kScanner, kDark, 40000, 4444, 20);
    dns.put16(14 + 28 + 2, 0x8180);
    EXPECT_TRUE(classify_frame(dns).flags & flag_erratic);
    PacketFacts df = classify_frame(dns);
    EXPECT_TRUE(df.payload_marks & payload_dns_response);
}

TEST(Flag, NonRouted) {
    for (uint32_t src :
         {ip4(10, 1, 2, 3), ip4(127, 0, 0, 1), ip4(100, 64, 0, 1), ip4(169, 254, 1, 1),
          ip4(172, 16, 5, 5), ip4(192, 168, 1, 1), ip4(192, 0, 2, 1), ip4(198, 18, 0, 1),
          ip4(198, 51, 100, 1), ip4(203, 0, 113, 1), ip4(224, 0, 0, 1), ip4(240, 0, 0, 1),
          ip4(0, 1, 2, 3), ip4(192, 88, 99, 1)})
        EXPECT_TRUE(is_non_routed_v4(src)) << std::hex << src;
    for (uint32_t src : {ip4(8, 8, 8, 8), ip4(100, 128, 0, 1), ip4(172, 32, 0, 1),
                         ip4(192, 0, 3, 1), ip4(198, 20, 0, 1), ip4(223, 255, 255, 254)})
        EXPECT_FALSE(is_non_routed_v4(src)) << std::hex << src;
    EXPECT_TRUE(flags_of(eth_ipv4_tcp(ip4(10, 0, 0, 1), kDark, 1, 2, tcp_syn)) & flag_non_routed);
    EXPECT_FALSE(flags_of(eth_ipv4_tcp(kScanner, kDark, 1, 2, tcp_syn)) & flag_non_routed);

    auto v6 = [](std::string_view s) {
        uint8_t fam;
        std::array<uint8_t, 16> a;
        std::memcpy(a.data(), parse_address(s, &fam)->v6, 16);
        return a;
    };
    for (auto s : {"::", "::1", "::ffff:1.2.3.4", "fe80::1", "fc00::1", "ff02::1", "2001:db8::1",
                   "2001:10::1", "2001:2::1", "3fff::1", "100::1"}) {
        auto a = v6(s);
        EXPECT_TRUE(is_non_routed_v6(a.data())) << s;
    }
    for (auto s : {"2001:4860::8888", "2400:cb00::1", "2a00:1450::1"}) {
        auto a = v6(s);
        EXPECT_FALSE(is_non_routed_v6(a.data())) << s;
    }
}

// compute_flags' IPv4 TCP path against the plain definition, on random facts that lean on each
// rule's edge values (the ports, TTLs, windows, IP ids and sequence numbers the rules test for).
TEST(Flag, Tcp4PathAgreesWithTheDefinition) {
    std::mt19937_64 rng(7);
    auto pick = [&](std::initializer_list<uint32_t> special, uint32_t any_mask) {
        if (rng() % 3 == 0)
            return static_cast<uint32_t>(rng()) & any_mask;
        return *(special.begin() + rng() % special.size());
    };
    const uint32_t dark = ip4(192, 0, 2, 7);
    unsigned set_count[16] = {}, n = 0;
    for (int i = 0; i < 400000; ++i) {
        PacketFacts f{};
        f.ip_version = 4;
        f.proto = Proto::tcp;
        f.ip_proto = 6;
        f.l4_valid = true;
        f.fragment = rng() % 8 == 0;
        f.first_fragment = rng() % 8 == 0;
        f.ip_reserved_bit = rng() % 8 == 0;
        f.dst.v4 = pick({dark, ip4(8, 8, 8, 8)}, 0xffffffffu);
        f.src.v4 = pick({ip4(203, 0, 113, 9), ip4(8, 8, 4, 0), ip4(8, 8, 4, 255), f.dst.v4,
                         ip4(10, 1, 1, 1), ip4(45, 1, 2, 3)},
                        0xffffffffu);
        f.src_port = static_cast<uint16_t>(pick({0, 23, 53, 80, 5000, 443, 40000}, 0xffff));
        f.dst_port = static_cast<uint16_t>(pick({0, 23, 53, 80, 5000, 445, 22}, 0xffff));
        f.tcp_flags = static_cast<uint8_t>(
            pick({tcp_syn, tcp_syn | tcp_ack, tcp_rst, tcp_rst | tcp_ack, tcp_fin,
                  tcp_ack | tcp_psh, tcp_syn | tcp_fin, 0x3f, 0xc2, 0},
                 0xff));
        f.tcp_seq = pick({f.dst.v4, 12345}, 0xffffffffu);
        f.ip_id = static_cast<uint16_t>(
            pick({54321, static_cast<uint16_t>(f.dst.v4 ^ f.dst_port ^ f.tcp_seq), 1}, 0xffff));
        f.ttl = static_cast<uint8_t>(pick({64, 128, 199, 200, 255}, 0xff));
        f.tcp_options_len = static_cast<uint8_t>(pick({0, 4, 12, 20}, 0x3c));
        f.tcp_option_sig = pick({0x02000000u, 0x02040801u, 0x01010402u}, 0xffffffffu);
        f.tcp_mss = static_cast<uint16_t>(pick({0, 1460, 536}, 0xffff));
        f.tcp_window = static_cast<uint16_t>(
            pick({0, 1023, 1024, 2048, 3072, 4096, 5120, 65535, 29200}, 0xffff));
        const uint16_t fast = compute_flags(f), plain = compute_flags_generic(f);
        ASSERT_EQ(fast, plain) << "flags differ for src " << std::hex << f.src.v4 << " dst "
                               << f.dst.v4 << " ports " << std::dec << f.src_port << "->"
                               << f.dst_port << " tcp flags 0x" << std::hex << int(f.tcp_flags)
                               << " ttl " << std::dec << int(f.ttl) << " window " << f.tcp_window;
        for (unsigned b = 0; b < 16; ++b)
            set_count[b] += plain >> b & 1;
        ++n;
    }
    // Every TCP-relevant rule fired on some packets and not on others, so the agreement covers
    // each of them both ways.
    for (uint16_t flag :
         {flag_zmap, flag_masscan, flag_mirai, flag_nmap, flag_no_tcp_options, flag_high_ttl,
          flag_spoofed, flag_erratic, flag_non_routed, flag_large_scale_scan}) {
        const unsigned b = static_cast<unsigned>(__builtin_ctz(flag));
        EXPECT_GT(set_count[b], 100u) << "flag bit " << b << " never set";
        EXPECT_LT(set_count[b], n - 100) << "flag bit " << b << " always set";
    }
}

TEST(Sensor, LongestPrefixWinsAndUnmatched) {
    SensorTable t;
    std::string err;
    ASSERT_TRUE(t.add("wide", *parse_prefix("192.0.0.0/8"), &err));
    ASSERT_TRUE(t.add("narrow", *parse_prefix("192.0.2.0/24"), &err));
    ASSERT_TRUE(t.add("host", *parse_prefix("192.0.2.77/32"), &err));
    ASSERT_TRUE(t.add("v6", *parse_prefix("2001:db8::/32"), &err));
    ASSERT_TRUE(t.add("v6narrow", *parse_prefix("2001:db8:1::/48"), &err));
    EXPECT_TRUE(t.add("narrow", *parse_prefix("192.0.2.0/24"), &err));  // same mapping again
    EXPECT_FALSE(t.add("wide", *parse_prefix("192.0.2.0/24"), &err));
    EXPECT_NE(err.find("narrow"), std::string::npos);
    EXPECT_EQ(t.prefixes_of(1).size(), 1u);  // "narrow": its repeat is kept once
    EXPECT_TRUE(t.add("v6narrow", *parse_prefix("2001:db8:1::/48"), &err));
    EXPECT_FALSE(t.add("v6", *parse_prefix("2001:db8:1::/48"), &err));
    EXPECT_NE(err.find("'v6narrow'"), std::string::npos);
    EXPECT_EQ(t.prefixes_of(4).size(), 1u);
    t.finalize();
    EXPECT_EQ(t.name(t.match4(ip4(192, 0, 2, 77))), "host");
    EXPECT_EQ(t.name(t.match4(ip4(192, 0, 2, 78))), "narrow");
    EXPECT_EQ(t.name(t.match4(ip4(192, 9, 9, 9))), "wide");
    EXPECT_EQ(t.match4(ip4(193, 0, 2, 77)), kSensorUnmatched);
    uint8_t fam;
    EXPECT_EQ(t.name(t.match6(parse_address("2001:db8:1::5", &fam)->v6)), "v6narrow");
    EXPECT_EQ(t.name(t.match6(parse_address("2001:db8:2::5", &fam)->v6)), "v6");
    EXPECT_EQ(t.match6(parse_address("2001:db9::5", &fam)->v6), kSensorUnmatched);
    EXPECT_DOUBLE_EQ(t.ipv4_coverage(), 1.0 / 256);

    // The classifier sets the sensor for IP packets only.
    PacketFacts f = classify_frame(eth_ipv4_tcp(kScanner, ip4(192, 0, 2, 5), 1, 2, tcp_syn), &t);
    EXPECT_EQ(t.name(f.sensor), "narrow");
    Frame arp;
    arp.eth(0x0806).zeros(28);
    EXPECT_EQ(classify_frame(arp, &t).sensor, kSensorUnmatched);
}

TEST(Sensor, MatchesBruteForceOnRandomPrefixes) {
    std::mt19937 rng(1234);
    for (int round = 0; round < 4; ++round) {
        SensorTable t;
        std::vector<std::pair<IpPrefix, uint16_t>> v4, v6;
        std::string err;
        int n = round == 0 ? 5 : 800;
        for (int i = 0; i < n; ++i) {
            IpPrefix p;
            std::string name = "s" + std::to_string(rng() % 20);
            if (rng() % 2) {
                p.family = 4;
                p.length = static_cast<uint8_t>(rng() % 33);
                uint32_t base = (rng() % 4 == 0) ? (ip4(10, 0, 0, 0) | (rng() & 0xffff)) : rng();
                p.addr.v4 = p.length == 0 ? 0 : base & (~0u << (32 - p.length));
            } else {
                p.family = 6;
                p.length = static_cast<uint8_t>(rng() % 129);
                for (auto& b : p.addr.v6)
                    b = static_cast<uint8_t>(rng() % 4);  // dense space
                for (unsigned bit = p.length; bit < 128; ++bit)
                    p.addr.v6[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
            }
            if (!t.add(name, p, &err))
                continue;
        }
        t.finalize();
        // Brute force: longest prefix over the table's own prefix lists.
        auto brute = [&](const IpAddress& a, uint8_t fam) {
            int best_len = -1;
            uint16_t best = kSensorUnmatched;
            for (uint16_t s = 0; s < t.size(); ++s)
                for (const auto& p : t.prefixes_of(s))
                    if (p.contains(a, fam) && p.length > best_len) {
                        best_len = p.length;
                        best = s;
                    }
            return best;
        };
        for (int q = 0; q < 20000; ++q) {
            IpAddress a{};
            if (q % 2) {
                a.v4 = (q % 3 == 0) ? (ip4(10, 0, 0, 0) | (rng() & 0xffff)) : rng();
                ASSERT_EQ(t.match4(a.v4), brute(a, 4)) << std::hex << a.v4;
            } else {
                for (auto& b : a.v6)
                    b = static_cast<uint8_t>(rng() % 4);
                ASSERT_EQ(t.match6(a.v6), brute(a, 6));
            }
        }
    }
}
