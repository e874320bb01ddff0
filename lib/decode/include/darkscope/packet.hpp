// PacketFacts: what the decoder and classifier learn about one packet. It is the contract
// between lib/decode, lib/classify, lib/attribution and lib/metrics, so it stays a plain
// aggregate with no EAL types. Workers keep one array of these per burst on the stack.
#pragma once

#include <cstdint>
#include <cstring>

#include "darkscope/ip_address.hpp"

namespace darkscope {

// How the bytes of a frame start. Live ports are always Ethernet; offline files may be raw IP
// or Linux cooked captures.
enum class LinkType : uint8_t {
    ethernet,
    raw_ip,  // LINKTYPE_RAW: version nibble says IPv4 or IPv6
    ipv4,    // LINKTYPE_IPV4
    ipv6,    // LINKTYPE_IPV6
    linux_sll,
    linux_sll2,
    null_loopback,  // BSD loopback: 4-byte host-order family
};

// One value per way a packet can be broken. `none` means the decode succeeded. Keep the order:
// telemetry and the summary name them through decode_error_name().
enum class DecodeError : uint8_t {
    none = 0,
    truncated_l2,
    truncated_l3,
    truncated_l4,
    bad_ip_version,
    bad_ihl,
    bad_total_length,         // IPv4 total length beyond the frame or below the header
    bad_ipv6_payload_length,  // IPv6 payload length beyond the frame
    too_many_tags,            // VLAN/QinQ or MPLS stack deeper than the fixed bound
    too_many_ext_headers,     // IPv6 extension-header chain longer than the fixed bound
    non_ip,                   // an ethertype that carries neither IPv4 nor IPv6
    unsupported_link,         // a link type the decoder does not read
    bad_l4_header,            // TCP data offset below 5, or UDP length below 8 or beyond the
                              // IP payload of an unfragmented packet
    count_
};

// Protocol as reported (the `tcp`, `udp`, `icmp`, `icmpv6`, `other` counters).
enum class Proto : uint8_t { none = 0, tcp, udp, icmp, icmpv6, other, count_ };

// One traffic class per packet.
enum class TrafficClass : uint8_t {
    tcp_scan = 0,
    tcp_backscatter,
    tcp_other,
    udp_probe,
    udp_backscatter,
    icmp_probe,
    icmp_backscatter,
    fragment,
    other_ip,
    malformed,
    non_ip,
    count_
};

// Flag bits (PacketFacts::flags).
enum Flag : uint16_t {
    flag_zmap = 1u << 0,
    flag_masscan = 1u << 1,
    flag_mirai = 1u << 2,
    flag_nmap = 1u << 3,
    flag_no_tcp_options = 1u << 4,
    flag_high_ttl = 1u << 5,
    flag_spoofed = 1u << 6,
    flag_erratic = 1u << 7,
    flag_non_routed = 1u << 8,
    flag_large_scale_scan = 1u << 9,
};
inline constexpr unsigned kFlagCount = 10;

// TCP flag bits as on the wire.
enum TcpFlag : uint8_t {
    tcp_fin = 0x01,
    tcp_syn = 0x02,
    tcp_rst = 0x04,
    tcp_psh = 0x08,
    tcp_ack = 0x10,
    tcp_urg = 0x20,
    tcp_ece = 0x40,
    tcp_cwr = 0x80,
};

inline constexpr uint16_t kSensorUnmatched = 0xffff;

// Marks the decoder sets on UDP payloads for Corsaro's payload-based "erratic" sub-filters
// (PacketFacts::payload_marks). Computed in the decoder because the classifier never sees the
// payload bytes.
enum PayloadMark : uint8_t {
    payload_udp_0x31 = 1u << 0,       // IPv4 length 58, payload starts 00*8 31 00
    payload_dns_response = 1u << 1,   // DNS response header (flags 0x818x, all counts < 10)
    payload_netbios_query = 1u << 2,  // NetBIOS name query 137->137, name "CKAAAA..."
    payload_bittorrent = 1u << 3,     // BitTorrent DHT / uTP patterns
};

struct PacketFacts {
    // --- filled by decode() ---
    uint32_t frame_len;   // bytes as received (Ethernet header included, FCS excluded)
    DecodeError error;    // none, or the first way the packet was found broken
    uint8_t ip_version;   // 0 (not IP), 4 or 6
    Proto proto;          // L4 protocol as reported; `other` for any other IP protocol
    uint8_t ip_proto;     // IP protocol number (after IPv6 extension headers)
    uint8_t ttl;          // IPv4 TTL or IPv6 hop limit
    uint8_t vlan_depth;   // 802.1Q/802.1ad tags seen
    uint8_t mpls_depth;   // MPLS labels seen
    bool fragment;        // a non-first fragment: counted as a fragment, no L4 fields
    bool first_fragment;  // offset 0 with more fragments to come: L4 fields are valid
    bool l4_valid;        // ports/flags/type fields below were read from the packet
    uint16_t ip_id;       // IPv4 identification (low 16 bits of the IPv6 fragment id)
    IpAddress src;
    IpAddress dst;
    uint16_t src_port;  // TCP/UDP; for ICMP echo: identifier
    uint16_t dst_port;  // TCP/UDP
    uint8_t icmp_type;  // ICMP or ICMPv6
    uint8_t icmp_code;
    uint8_t tcp_flags;
    uint8_t tcp_options_len;  // bytes of TCP options (data offset * 4 - 20)
    uint16_t tcp_window;
    uint16_t tcp_mss;  // 0 when there is no MSS option
    uint32_t tcp_seq;
    uint32_t tcp_ack;
    uint32_t tcp_option_sig;  // first four option kinds, one byte each, for tool fingerprints
                              // (first kind in the most significant byte; NOP/EOL included)
    uint16_t ip_len;          // IPv4 total length; IPv6: 40 + payload length
    bool ip_reserved_bit;     // IPv4 reserved ("evil") flag bit set
    uint8_t payload_marks;    // PayloadMark bits (UDP only)
    // ICMP/ICMPv6 errors: the quoted original packet (only when l4_valid and quoted_valid).
    bool quoted_valid;
    uint8_t quoted_proto;
    uint16_t quoted_src_port;
    uint16_t quoted_dst_port;
    IpAddress quoted_src;
    IpAddress quoted_dst;

    // --- filled by classify() ---
    TrafficClass cls;
    uint16_t flags;   // Flag bits
    uint16_t sensor;  // index into the sensor list, or kSensorUnmatched

    // --- filled by attribution (bulk lookup) ---
    uint16_t country;  // country index (0 = unknown "??")
    uint32_t asn;      // 0 = unknown
};

inline void clear(PacketFacts& f) {
    // A copy of a zero object rather than a memset: GCC makes a 128-byte memset `rep stos`,
    // whose start-up costs tens of cycles per packet on the worker; the copy is a few vector
    // stores.
    static constexpr PacketFacts kZero{};
    std::memcpy(&f, &kZero, sizeof f);
}

}  // namespace darkscope
