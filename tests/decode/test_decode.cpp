// The decoder on hand-built frames: one test per header type and per error counter.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "darkscope/decode.hpp"
#include "packet_builder.hpp"

using namespace darkscope;
using namespace darkscope::test;

namespace {

PacketFacts run(const Frame& fr, LinkType link = LinkType::ethernet, uint32_t wire = 0) {
    PacketFacts f;
    uint32_t n = static_cast<uint32_t>(fr.size());
    decode(fr.bytes.data(), n, wire ? wire : n, link, f);
    return f;
}

// An Ethernet/IPv4 SYN whose TCP header carries `options` (a multiple of 4 bytes).
Frame syn_with_options(const std::vector<uint8_t>& options) {
    Frame fr;
    fr.eth(0x0800);
    const size_t ip = fr.ipv4(6, ip4(198, 51, 100, 7), ip4(192, 0, 2, 9), 64, 1);
    fr.u16(40000).u16(443).u32(1).u32(0);
    fr.u8(static_cast<uint8_t>((20 + options.size()) / 4 << 4)).u8(tcp_syn).u16(1024);
    fr.u16(0).u16(0);
    fr.bytes.insert(fr.bytes.end(), options.begin(), options.end());
    fr.finish_ipv4(ip);
    return fr;
}

const uint8_t kSrc6[16] = {0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kDst6[16] = {0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

}  // namespace

TEST(Decode, EthernetIpv4Tcp) {
    Frame fr = eth_ipv4_tcp(ip4(198, 51, 100, 7), ip4(192, 0, 2, 9), 40000, 443, tcp_syn,
                            0xdeadbeef, 1024, 250, 77, {2, 4, 0x05, 0xb4, 1, 1, 4, 2});
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.frame_len, fr.size());
    EXPECT_EQ(f.ip_version, 4);
    EXPECT_EQ(f.proto, Proto::tcp);
    EXPECT_EQ(f.ip_proto, 6);
    EXPECT_EQ(f.ttl, 250);
    EXPECT_EQ(f.ip_id, 77);
    EXPECT_EQ(f.src.v4, ip4(198, 51, 100, 7));
    EXPECT_EQ(f.dst.v4, ip4(192, 0, 2, 9));
    EXPECT_TRUE(f.l4_valid);
    EXPECT_EQ(f.src_port, 40000);
    EXPECT_EQ(f.dst_port, 443);
    EXPECT_EQ(f.tcp_seq, 0xdeadbeefu);
    EXPECT_EQ(f.tcp_flags, tcp_syn);
    EXPECT_EQ(f.tcp_window, 1024);
    EXPECT_EQ(f.tcp_options_len, 8);
    EXPECT_EQ(f.tcp_mss, 1460);
    EXPECT_EQ(f.tcp_option_sig, 0x02010104u);
}

// The option walk: the first four kinds (NOP and EOL included) wherever the MSS sits, and the MSS
// value; a broken option ends the walk but keeps what it read.
TEST(Decode, TcpOptionKindsAndFirstMss) {
    struct Case {
        std::vector<uint8_t> options;
        uint32_t sig;
        uint16_t mss;
    };
    const Case cases[] = {
        // Linux: MSS, SACK permitted, timestamps, NOP, window scale.
        {{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0x5f, 0x3a, 0x11, 0, 0, 0, 0, 1, 3, 3, 7},
         0x02040801u,
         1460},
        // Windows: MSS, NOP, window scale, NOP, NOP, SACK permitted.
        {{2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2}, 0x02010301u, 1460},
        // The MSS after four other kinds is still found.
        {{1, 1, 1, 1, 3, 3, 7, 2, 4, 0x02, 0x18, 0}, 0x01010101u, 536},
        // Two MSS options: the last one read counts.
        {{2, 4, 5, 0xb4, 2, 4, 0x02, 0x18}, 0x02020000u, 536},
        // A broken option after the four kinds and the MSS changes nothing.
        {{2, 4, 5, 0xb4, 1, 1, 1, 9, 0, 0, 0, 0}, 0x02010101u, 1460},
        // No MSS: four kinds, then the end of the list.
        {{1, 1, 3, 3, 7, 0, 0, 0}, 0x01010300u, 0},
    };
    for (const Case& c : cases) {
        PacketFacts f = run(syn_with_options(c.options));
        EXPECT_EQ(f.error, DecodeError::none);
        EXPECT_TRUE(f.l4_valid);
        EXPECT_EQ(f.tcp_options_len, c.options.size());
        EXPECT_EQ(f.tcp_option_sig, c.sig) << std::hex << c.sig;
        EXPECT_EQ(f.tcp_mss, c.mss);
    }
}

// The decoder matches the common option lists (lone MSS, Windows, Linux) by their fixed bytes
// instead of walking them. Every byte of each list, set to each of its 256 values, must give the
// tcp_option_sig and tcp_mss that RFC 9293's option walk gives: a list that stops matching falls
// back to the walk, one that still matches must mean the same options.
TEST(Decode, KnownOptionLayoutsMatchTheWalk) {
    // The walk, written from the RFC: kind 0 ends the list, kind 1 is one byte, every other kind
    // has a length byte (>= 2, within the list); a broken option ends it. The first four kinds
    // read make the signature; the last 4-byte MSS option read gives the MSS.
    auto walk = [](const std::vector<uint8_t>& o, uint32_t& sig, uint16_t& mss) {
        sig = 0;
        mss = 0;
        unsigned kinds = 0;
        size_t at = 0;
        while (at < o.size()) {
            const uint8_t kind = o[at];
            if (kinds < 4)
                sig |= uint32_t{kind} << (24 - 8 * kinds++);
            if (kind == 0)
                return;
            if (kind == 1) {
                ++at;
                continue;
            }
            if (at + 1 >= o.size() || o[at + 1] < 2 || at + o[at + 1] > o.size())
                return;
            if (kind == 2 && o[at + 1] == 4)
                mss = static_cast<uint16_t>(o[at + 2] << 8 | o[at + 3]);
            at += o[at + 1];
        }
    };
    const std::vector<uint8_t> layouts[] = {
        {2, 4, 5, 0xb4},
        {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2},
        {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0x5f, 0x3a, 0x11, 0, 0, 0, 0, 1, 3, 3, 7},
    };
    unsigned frames = 0, differing_from_layout = 0;
    for (const auto& layout : layouts) {
        uint32_t layout_sig;
        uint16_t layout_mss;
        walk(layout, layout_sig, layout_mss);
        for (size_t at = 0; at < layout.size(); ++at) {
            for (unsigned v = 0; v < 256; ++v) {
                std::vector<uint8_t> options = layout;
                options[at] = static_cast<uint8_t>(v);
                const PacketFacts f = run(syn_with_options(options));
                uint32_t sig;
                uint16_t mss;
                walk(options, sig, mss);
                ASSERT_EQ(f.error, DecodeError::none);
                ASSERT_EQ(f.tcp_option_sig, sig)
                    << "layout of " << layout.size() << " bytes, byte " << at << " = " << v;
                ASSERT_EQ(f.tcp_mss, mss)
                    << "layout of " << layout.size() << " bytes, byte " << at << " = " << v;
                ++frames;
                differing_from_layout += sig != layout_sig;
            }
        }
    }
    EXPECT_EQ(frames, (4u + 12u + 20u) * 256u);
    // The mutations reach the walk's other outcomes, not only the layouts' own.
    EXPECT_GT(differing_from_layout, 1000u);
}

TEST(Decode, TcpWithoutOptions) {
    PacketFacts f = run(eth_ipv4_tcp(1, 2, 1, 2, tcp_rst | tcp_ack));
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.tcp_options_len, 0);
    EXPECT_EQ(f.tcp_mss, 0);
    EXPECT_EQ(f.tcp_flags, tcp_rst | tcp_ack);
}

TEST(Decode, Ipv4WithOptions) {
    Frame fr;
    fr.eth(0x0800);
    size_t ip = fr.ipv4(17, ip4(203, 0, 113, 1), ip4(192, 0, 2, 1), 64, 5, 0, 3);
    fr.udp(53, 40000, 12);
    fr.finish_ipv4(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.proto, Proto::udp);
    EXPECT_EQ(f.src_port, 53);
    EXPECT_EQ(f.dst_port, 40000);
    EXPECT_EQ(f.ip_len, 20 + 12 + 8 + 12);
}

TEST(Decode, Udp) {
    PacketFacts f = run(eth_ipv4_udp(1, 2, 123, 5555, 40));
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.proto, Proto::udp);
    EXPECT_TRUE(f.l4_valid);
    EXPECT_EQ(f.src_port, 123);
    EXPECT_EQ(f.dst_port, 5555);
}

TEST(Decode, IcmpEchoAndQuotedError) {
    PacketFacts echo = run(eth_ipv4_icmp(1, 2, 8));
    EXPECT_EQ(echo.proto, Proto::icmp);
    EXPECT_EQ(echo.icmp_type, 8);
    EXPECT_EQ(echo.src_port, 0x1234);  // identifier
    EXPECT_FALSE(echo.quoted_valid);

    Frame fr;
    fr.eth(0x0800);
    size_t ip = fr.ipv4(1, ip4(8, 8, 8, 8), ip4(192, 0, 2, 1));
    fr.icmp(3, 3);
    size_t inner = fr.ipv4(17, ip4(192, 0, 2, 1), ip4(9, 9, 9, 9));
    fr.udp(5353, 53, 0);
    fr.finish_ipv4(inner);
    fr.finish_ipv4(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.icmp_type, 3);
    EXPECT_EQ(f.icmp_code, 3);
    ASSERT_TRUE(f.quoted_valid);
    EXPECT_EQ(f.quoted_proto, 17);
    EXPECT_EQ(f.quoted_src.v4, ip4(192, 0, 2, 1));
    EXPECT_EQ(f.quoted_dst.v4, ip4(9, 9, 9, 9));
    EXPECT_EQ(f.quoted_src_port, 5353);
    EXPECT_EQ(f.quoted_dst_port, 53);
}

TEST(Decode, Icmpv6ErrorQuotesIpv6) {
    Frame fr;
    fr.eth(0x86dd);
    size_t ip = fr.ipv6(58, kSrc6, kDst6);
    fr.icmp(1, 4);
    size_t inner = fr.ipv6(6, kDst6, kSrc6);
    fr.tcp(1234, 80, 1, 0, tcp_syn, 100);
    fr.finish_ipv6(inner);
    fr.finish_ipv6(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.ip_version, 6);
    EXPECT_EQ(f.proto, Proto::icmpv6);
    EXPECT_EQ(f.icmp_type, 1);
    EXPECT_EQ(f.icmp_code, 4);
    ASSERT_TRUE(f.quoted_valid);
    EXPECT_EQ(f.quoted_proto, 6);
    EXPECT_EQ(0, std::memcmp(f.quoted_src.v6, kDst6, 16));
    EXPECT_EQ(f.quoted_src_port, 1234);
    EXPECT_EQ(f.quoted_dst_port, 80);
}

TEST(Decode, ProtocolNumbersByFamily) {
    // ICMP (1) inside IPv6 and ICMPv6 (58) inside IPv4 are "other".
    Frame a;
    a.eth(0x0800);
    size_t ip = a.ipv4(58, 1, 2);
    a.zeros(8);
    a.finish_ipv4(ip);
    PacketFacts fa = run(a);
    EXPECT_EQ(fa.proto, Proto::other);
    EXPECT_EQ(fa.ip_proto, 58);
    EXPECT_FALSE(fa.l4_valid);

    Frame b;
    b.eth(0x86dd);
    size_t ip6 = b.ipv6(1, kSrc6, kDst6);
    b.zeros(8);
    b.finish_ipv6(ip6);
    PacketFacts fb = run(b);
    EXPECT_EQ(fb.proto, Proto::other);
    EXPECT_EQ(fb.ip_proto, 1);

    Frame gre;
    gre.eth(0x0800);
    size_t ipg = gre.ipv4(47, 1, 2);
    gre.zeros(4);
    gre.finish_ipv4(ipg);
    EXPECT_EQ(run(gre).proto, Proto::other);
    EXPECT_EQ(run(gre).ip_proto, 47);
}

TEST(Decode, VlanQinqAndOldQinq) {
    for (uint16_t outer : {uint16_t{0x8100}, uint16_t{0x88a8}, uint16_t{0x9100}}) {
        Frame fr;
        fr.eth(outer).tag(100, 0x8100).tag(200, 0x0800);
        size_t ip = fr.ipv4(6, 1, 2);
        fr.tcp(1, 2, 3, 4, tcp_syn, 5);
        fr.finish_ipv4(ip);
        PacketFacts f = run(fr);
        EXPECT_EQ(f.error, DecodeError::none) << outer;
        EXPECT_EQ(f.vlan_depth, 2);
        EXPECT_EQ(f.proto, Proto::tcp);
    }
}

TEST(Decode, TooManyVlanTags) {
    Frame fr;
    fr.eth(0x8100);
    for (unsigned i = 0; i < DecodeLimits::max_vlan_tags; ++i)
        fr.tag(1, 0x8100);
    fr.tag(1, 0x0800);
    size_t ip = fr.ipv4(6, 1, 2);
    fr.tcp(1, 2, 3, 4, tcp_syn, 5);
    fr.finish_ipv4(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::too_many_tags);
    EXPECT_EQ(f.ip_version, 0);

    // Exactly the bound is fine.
    Frame ok;
    ok.eth(0x8100);
    for (unsigned i = 0; i + 1 < DecodeLimits::max_vlan_tags; ++i)
        ok.tag(1, 0x8100);
    ok.tag(1, 0x0800);
    size_t ip2 = ok.ipv4(6, 1, 2);
    ok.tcp(1, 2, 3, 4, tcp_syn, 5);
    ok.finish_ipv4(ip2);
    EXPECT_EQ(run(ok).error, DecodeError::none);
    EXPECT_EQ(run(ok).vlan_depth, DecodeLimits::max_vlan_tags);
}

TEST(Decode, MplsStackThenIpv4AndIpv6) {
    Frame fr;
    fr.eth(0x8847).mpls(16, false).mpls(17, false).mpls(18, true);
    size_t ip = fr.ipv4(17, 1, 2);
    fr.udp(1, 2, 0);
    fr.finish_ipv4(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.mpls_depth, 3);
    EXPECT_EQ(f.proto, Proto::udp);

    Frame v6;
    v6.eth(0x8100).tag(5, 0x8847).mpls(16, true);
    size_t ip6 = v6.ipv6(17, kSrc6, kDst6);
    v6.udp(1, 2, 0);
    v6.finish_ipv6(ip6);
    PacketFacts g = run(v6);
    EXPECT_EQ(g.error, DecodeError::none);
    EXPECT_EQ(g.vlan_depth, 1);
    EXPECT_EQ(g.mpls_depth, 1);
    EXPECT_EQ(g.ip_version, 6);
}

TEST(Decode, TooManyMplsLabels) {
    Frame fr;
    fr.eth(0x8847);
    for (unsigned i = 0; i < DecodeLimits::max_mpls_labels; ++i)
        fr.mpls(16 + i, false);
    fr.mpls(99, true);
    size_t ip = fr.ipv4(17, 1, 2);
    fr.udp(1, 2, 0);
    fr.finish_ipv4(ip);
    EXPECT_EQ(run(fr).error, DecodeError::too_many_tags);
}

TEST(Decode, RawAndOtherLinkTypes) {
    Frame body;
    size_t ip = body.ipv4(6, 1, 2);
    body.tcp(1, 2, 3, 4, tcp_syn, 5);
    body.finish_ipv4(ip);
    EXPECT_EQ(run(body, LinkType::raw_ip).proto, Proto::tcp);
    EXPECT_EQ(run(body, LinkType::ipv4).proto, Proto::tcp);
    EXPECT_EQ(run(body, LinkType::ipv6).error, DecodeError::bad_ip_version);

    Frame body6;
    size_t ip6 = body6.ipv6(17, kSrc6, kDst6);
    body6.udp(1, 2, 0);
    body6.finish_ipv6(ip6);
    EXPECT_EQ(run(body6, LinkType::raw_ip).ip_version, 6);
    EXPECT_EQ(run(body6, LinkType::ipv6).proto, Proto::udp);

    Frame sll;
    sll.zeros(14).u16(0x0800);
    sll.bytes.insert(sll.bytes.end(), body.bytes.begin(), body.bytes.end());
    EXPECT_EQ(run(sll, LinkType::linux_sll).proto, Proto::tcp);

    Frame sll2;
    sll2.u16(0x86dd).zeros(18);
    sll2.bytes.insert(sll2.bytes.end(), body6.bytes.begin(), body6.bytes.end());
    EXPECT_EQ(run(sll2, LinkType::linux_sll2).proto, Proto::udp);

    Frame null_le;
    null_le.raw({2, 0, 0, 0});
    null_le.bytes.insert(null_le.bytes.end(), body.bytes.begin(), body.bytes.end());
    EXPECT_EQ(run(null_le, LinkType::null_loopback).proto, Proto::tcp);
    Frame null_be;
    null_be.raw({0, 0, 0, 30});
    null_be.bytes.insert(null_be.bytes.end(), body6.bytes.begin(), body6.bytes.end());
    EXPECT_EQ(run(null_be, LinkType::null_loopback).ip_version, 6);

    PacketFacts bad = run(body, static_cast<LinkType>(200));
    EXPECT_EQ(bad.error, DecodeError::unsupported_link);
}

TEST(Decode, PppoeSession) {
    Frame fr;
    fr.eth(0x8864).u8(0x11).u8(0).u16(1).u16(0).u16(0x0021);
    size_t ip = fr.ipv4(17, 1, 2);
    fr.udp(1, 2, 0);
    fr.finish_ipv4(ip);
    EXPECT_EQ(run(fr).proto, Proto::udp);
}

TEST(Decode, Ipv4Fragments) {
    // First fragment (MF, offset 0): L4 parsed.
    Frame first;
    first.eth(0x0800);
    size_t ip = first.ipv4(17, 1, 2, 64, 9, 0x2000);
    first.udp(53, 4444, 0);
    first.put16(first.size() - 4, 3000);  // UDP length of the whole datagram
    first.finish_ipv4(ip);
    PacketFacts f = run(first);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_TRUE(f.first_fragment);
    EXPECT_FALSE(f.fragment);
    EXPECT_TRUE(f.l4_valid);
    EXPECT_EQ(f.src_port, 53);

    // Later fragment: protocol set, never L4.
    Frame later;
    later.eth(0x0800);
    size_t ip2 = later.ipv4(6, 1, 2, 64, 9, 185);
    later.raw({0x00, 0x50, 0x00, 0x50});  // looks like ports; must not be read
    later.zeros(20);
    later.finish_ipv4(ip2);
    PacketFacts g = run(later);
    EXPECT_EQ(g.error, DecodeError::none);
    EXPECT_TRUE(g.fragment);
    EXPECT_EQ(g.proto, Proto::tcp);
    EXPECT_FALSE(g.l4_valid);
    EXPECT_EQ(g.src_port, 0);
}

TEST(Decode, Ipv6ExtensionChainAndFragments) {
    Frame fr;
    fr.eth(0x86dd);
    size_t ip = fr.ipv6(0, kSrc6, kDst6);
    fr.ext8(43).ext8(60).ext8(6);
    fr.tcp(5, 6, 7, 8, tcp_syn, 9);
    fr.finish_ipv6(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.ip_proto, 6);
    EXPECT_EQ(f.proto, Proto::tcp);
    EXPECT_EQ(f.dst_port, 6);

    Frame later;
    later.eth(0x86dd);
    size_t ip2 = later.ipv6(44, kSrc6, kDst6);
    later.frag6(17, 100, false, 0xabcd1234);
    later.zeros(16);
    later.finish_ipv6(ip2);
    PacketFacts g = run(later);
    EXPECT_EQ(g.error, DecodeError::none);
    EXPECT_TRUE(g.fragment);
    EXPECT_EQ(g.proto, Proto::udp);
    EXPECT_EQ(g.ip_id, 0x1234);
    EXPECT_FALSE(g.l4_valid);

    Frame first;
    first.eth(0x86dd);
    size_t ip3 = first.ipv6(44, kSrc6, kDst6);
    first.frag6(58, 0, true, 1);
    first.icmp(128, 0, 7, 1);
    first.finish_ipv6(ip3);
    PacketFacts h = run(first);
    EXPECT_TRUE(h.first_fragment);
    EXPECT_EQ(h.proto, Proto::icmpv6);
    EXPECT_EQ(h.icmp_type, 128);
}

TEST(Decode, TooManyExtensionHeaders) {
    Frame fr;
    fr.eth(0x86dd);
    size_t ip = fr.ipv6(60, kSrc6, kDst6);
    for (unsigned i = 0; i < DecodeLimits::max_ipv6_ext_headers; ++i)
        fr.ext8(60);
    fr.ext8(17);
    fr.udp(1, 2, 0);
    fr.finish_ipv6(ip);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::too_many_ext_headers);
    EXPECT_EQ(f.ip_version, 0);
    EXPECT_EQ(f.proto, Proto::none);
}

TEST(Decode, ErrorTruncatedL2) {
    Frame fr;
    fr.raw({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08});
    EXPECT_EQ(run(fr).error, DecodeError::truncated_l2);
    Frame tag;
    tag.eth(0x8100).u16(1);
    EXPECT_EQ(run(tag).error, DecodeError::truncated_l2);
}

TEST(Decode, ErrorTruncatedL3) {
    Frame fr = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    fr.bytes.resize(14 + 19);
    PacketFacts f = run(fr, LinkType::ethernet, 60);
    EXPECT_EQ(f.error, DecodeError::truncated_l3);
    EXPECT_EQ(f.ip_version, 0);
    EXPECT_EQ(f.proto, Proto::none);
}

TEST(Decode, ErrorTruncatedL4KeepsIpFacts) {
    Frame fr = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    uint32_t wire = static_cast<uint32_t>(fr.size());
    fr.bytes.resize(14 + 20 + 10);  // cut by a snaplen inside the TCP header
    PacketFacts f = run(fr, LinkType::ethernet, wire);
    EXPECT_EQ(f.error, DecodeError::truncated_l4);
    EXPECT_EQ(f.ip_version, 4);
    EXPECT_EQ(f.proto, Proto::tcp);
    EXPECT_EQ(f.frame_len, wire);
}

TEST(Decode, SnaplenCutPayloadIsNotAnError) {
    Frame fr = eth_ipv4_udp(1, 2, 53, 5000, 400);
    uint32_t wire = static_cast<uint32_t>(fr.size());
    fr.bytes.resize(14 + 20 + 8 + 10);
    PacketFacts f = run(fr, LinkType::ethernet, wire);
    EXPECT_EQ(f.error, DecodeError::none);
    EXPECT_EQ(f.src_port, 53);
}

TEST(Decode, ErrorBadIpVersion) {
    Frame fr = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    fr.bytes[14] = 0x55;
    EXPECT_EQ(run(fr).error, DecodeError::bad_ip_version);
    Frame v6 = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    v6.put16(12, 0x86dd);  // IPv6 ethertype, IPv4 header
    EXPECT_EQ(run(v6).error, DecodeError::bad_ip_version);
}

TEST(Decode, ErrorBadIhl) {
    Frame fr = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    fr.bytes[14] = 0x44;
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::bad_ihl);
    EXPECT_EQ(f.ip_version, 0);
}

TEST(Decode, ErrorBadTotalLength) {
    Frame fr = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    fr.put16(16, static_cast<uint16_t>(fr.size() - 14 + 1));  // one byte beyond the frame
    EXPECT_EQ(run(fr).error, DecodeError::bad_total_length);
    fr.put16(16, 19);  // below the header
    EXPECT_EQ(run(fr).error, DecodeError::bad_total_length);
    // Ethernet padding after the IP packet is fine.
    Frame pad = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    pad.zeros(6);
    EXPECT_EQ(run(pad).error, DecodeError::none);
}

TEST(Decode, ErrorBadIpv6PayloadLength) {
    Frame fr;
    fr.eth(0x86dd);
    size_t ip = fr.ipv6(17, kSrc6, kDst6);
    fr.udp(1, 2, 0);
    fr.finish_ipv6(ip);
    fr.put16(ip + 4, 9);
    PacketFacts f = run(fr);
    EXPECT_EQ(f.error, DecodeError::bad_ipv6_payload_length);
    EXPECT_EQ(f.ip_version, 0);
}

TEST(Decode, ErrorNonIp) {
    Frame arp;
    arp.eth(0x0806).zeros(28);
    PacketFacts f = run(arp);
    EXPECT_EQ(f.error, DecodeError::non_ip);
    EXPECT_EQ(f.ip_version, 0);
}

TEST(Decode, ErrorBadL4Header) {
    Frame fr = eth_ipv4_tcp(1, 2, 3, 4, tcp_syn);
    fr.bytes[14 + 20 + 12] = 0x40;  // data offset 4 words
    EXPECT_EQ(run(fr).error, DecodeError::bad_l4_header);
    Frame u = eth_ipv4_udp(1, 2, 3, 4, 10);
    u.put16(14 + 20 + 4, 7);
    EXPECT_EQ(run(u).error, DecodeError::bad_l4_header);
    u.put16(14 + 20 + 4, 100);  // beyond the IP payload of an unfragmented packet
    EXPECT_EQ(run(u).error, DecodeError::bad_l4_header);
}

TEST(Decode, EveryPrefixOfAFrameIsSafe) {
    // Each cut of a frame decodes without reading past it (ASan checks the reads) and never
    // reports success for a cut through a header.
    Frame fr;
    fr.eth(0x8100).tag(1, 0x86dd);
    size_t ip = fr.ipv6(0, kSrc6, kDst6);
    fr.ext8(44).frag6(6, 0, false, 3);
    fr.tcp(1, 2, 3, 4, tcp_syn, 5, {2, 4, 5, 0xb4});
    fr.finish_ipv6(ip);
    for (size_t n = 0; n <= fr.size(); ++n) {
        std::vector<uint8_t> cut(fr.bytes.begin(), fr.bytes.begin() + n);
        PacketFacts f;
        decode(cut.data(), static_cast<uint32_t>(n), static_cast<uint32_t>(fr.size()),
               LinkType::ethernet, f);
        if (n < fr.size()) {
            EXPECT_NE(f.error, DecodeError::none) << n;
        }
    }
}

TEST(Decode, NamesCoverEveryValue) {
    for (unsigned e = 0; e < static_cast<unsigned>(DecodeError::count_); ++e)
        EXPECT_STRNE(decode_error_name(static_cast<DecodeError>(e)), "unknown");
    for (unsigned p = 0; p < static_cast<unsigned>(Proto::count_); ++p)
        EXPECT_STRNE(proto_name(static_cast<Proto>(p)), "unknown");
    for (unsigned c = 0; c < static_cast<unsigned>(TrafficClass::count_); ++c)
        EXPECT_STRNE(traffic_class_name(static_cast<TrafficClass>(c)), "unknown");
    for (unsigned b = 0; b < kFlagCount; ++b)
        EXPECT_STRNE(flag_name(b), "unknown");
    EXPECT_STREQ(flag_name(9), "large_scale_scan");
    EXPECT_STREQ(decode_error_name(DecodeError::truncated_l2), "truncated_l2");
}
