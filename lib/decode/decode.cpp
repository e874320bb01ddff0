// The decoder. Every read is bounded by `caplen` (the bytes we hold); length fields are judged
// against `wire_len` (the bytes that were on the wire), so captures cut by a snaplen are not
// malformed because of the cut, while a header the cut went through is truncated.
#include "darkscope/decode.hpp"

#include <cstring>

namespace darkscope {

namespace {

inline uint16_t rd16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t rd32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinq = 0x88a8;
constexpr uint16_t kEtherQinqOld = 0x9100;
constexpr uint16_t kEtherMpls = 0x8847;
constexpr uint16_t kEtherMplsMulticast = 0x8848;
constexpr uint16_t kEtherPppoeSession = 0x8864;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;

inline Proto proto_of(uint8_t ip_proto, bool v6) {
    switch (ip_proto) {
        case kProtoTcp:
            return Proto::tcp;
        case kProtoUdp:
            return Proto::udp;
        case kProtoIcmp:
            return v6 ? Proto::other : Proto::icmp;
        case kProtoIcmpv6:
            return v6 ? Proto::icmpv6 : Proto::other;
        default:
            return Proto::other;
    }
}

// Reads the first bytes of a quoted (ICMP error) IPv4 or IPv6 header. The quote is often cut
// short by the sender; a short quote is not an error, only quoted_valid stays false.
void read_quote(const uint8_t* p, uint32_t avail, PacketFacts& f) {
    if (avail < 1)
        return;
    unsigned version = p[0] >> 4;
    uint32_t l4_off = 0;
    if (version == 4) {
        uint32_t ihl = (p[0] & 0x0fu) * 4;
        if (ihl < 20 || avail < ihl)
            return;
        f.quoted_proto = p[9];
        f.quoted_src.v4 = rd32(p + 12);
        f.quoted_dst.v4 = rd32(p + 16);
        l4_off = ihl;
        if ((rd16(p + 6) & 0x1fff) != 0) {  // a quoted later fragment has no ports
            f.quoted_valid = true;
            return;
        }
    } else if (version == 6) {
        if (avail < 40)
            return;
        f.quoted_proto = p[6];
        std::memcpy(f.quoted_src.v6, p + 8, 16);
        std::memcpy(f.quoted_dst.v6, p + 24, 16);
        l4_off = 40;
    } else {
        return;
    }
    f.quoted_valid = true;
    if ((f.quoted_proto == kProtoTcp || f.quoted_proto == kProtoUdp) && avail >= l4_off + 4) {
        f.quoted_src_port = rd16(p + l4_off);
        f.quoted_dst_port = rd16(p + l4_off + 2);
    }
}

// Corsaro's payload-based erratic sub-filters, evaluated on the UDP payload we hold.
uint8_t udp_payload_marks(const uint8_t* payload, uint32_t held, uint16_t udp_len,
                          const PacketFacts& f) {
    uint8_t marks = 0;
    if (f.ip_version == 4 && f.ip_len == 58 && held >= 10) {
        static constexpr uint8_t pattern[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0x31, 0};
        if (std::memcmp(payload, pattern, 10) == 0)
            marks |= payload_udp_0x31;
    }
    if (f.ip_len > 42 && held >= 12 && (rd16(payload + 2) & 0xfff0) == 0x8180 &&
        rd16(payload + 4) < 10 && rd16(payload + 6) < 10 && rd16(payload + 8) < 10 &&
        rd16(payload + 10) < 10)
        marks |= payload_dns_response;
    if (f.src_port == 137 && f.dst_port == 137 && f.ip_len > 48 && held >= 20 &&
        rd16(payload + 12) == 0x2043 && rd16(payload + 14) == 0x4b41 &&
        rd16(payload + 16) == 0x4141 && rd16(payload + 18) == 0x4141)
        marks |= payload_netbios_query;
    // BitTorrent: DHT bencoded "d1:a"/"d1:r" + "d2:id20:", the handshake string, uTP headers.
    bool bt = false;
    if (udp_len >= 20 && held >= 12) {
        uint32_t w0 = rd32(payload);
        if ((w0 == 0x64313a61 || w0 == 0x64313a72) && rd32(payload + 4) == 0x64323a69 &&
            rd32(payload + 8) == 0x6432303a)
            bt = true;
    }
    if (!bt && udp_len >= 48 && held >= 40 && rd32(payload + 20) == 0x13426974 &&
        rd32(payload + 24) == 0x546f7272 && rd32(payload + 28) == 0x656e7420 &&
        rd32(payload + 32) == 0x70726f74 && rd32(payload + 36) == 0x6f636f6c)
        bt = true;
    if (!bt && f.ip_len >= 0x3a && held >= 2) {
        uint16_t h = rd16(payload);
        uint32_t udp_payload_len = udp_len >= 8 ? udp_len - 8u : 0;
        if ((h == 0x4102 || h == 0x2102 || h == 0x3102 || h == 0x1102) && held >= 10 &&
            held >= udp_payload_len) {
            static constexpr uint8_t tail[10] = {0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
            if (std::memcmp(payload + held - 10, tail, 10) == 0)
                bt = true;
        }
    }
    if (!bt && f.ip_len == 0x30 && held >= 2) {
        uint16_t h = rd16(payload);
        if (h == 0x4100 || h == 0x2100 || h == 0x3102 || h == 0x1100)
            bt = true;
    }
    if (!bt && f.ip_len == 61 && held >= 32 && rd32(payload + 12) == 0x7fffffff &&
        rd32(payload + 16) == 0xab020400 && rd32(payload + 20) == 0x01000000 &&
        rd32(payload + 24) == 0x08000000 && rd32(payload + 28) == 0)
        bt = true;
    if (bt)
        marks |= payload_bittorrent;
    return marks;
}

// L4 of an IPv4 first/unfragmented packet or the upper layer after the IPv6 chain.
// `held` = bytes we may read, `ip_payload` = bytes the IP header says the payload has.
// A first fragment too small to hold its L4 header (RFC 1858 "tiny fragment") is counted as a
// fragment of its protocol, not as a broken packet; a snaplen cut is still truncated_l4.
inline bool tiny_first_fragment(uint32_t held, uint32_t ip_payload, uint32_t need, PacketFacts& f) {
    if (f.first_fragment && held >= ip_payload && ip_payload < need) {
        f.fragment = true;
        return true;
    }
    return false;
}

// The option lists most SYNs carry, each with its MSS first: nmap's and zmap's lone MSS (4
// bytes), Windows' MSS,NOP,WS,NOP,NOP,SACK-permitted (12) and Linux's MSS,SACK-permitted,
// timestamps,NOP,WS (20). Their fixed bytes (kinds and lengths) are compared in a few loads
// instead of walking the list option by option (docs/performance.md, "Known TCP option
// layouts"); the variable bytes (MSS, window scale, timestamps) are not compared. A match fixes
// every kind and length, so tcp_mss and tcp_option_sig come out as the walk below gives them
// (Decode.KnownOptionLayoutsMatchTheWalk mutates every byte to check). `o` holds `len` bytes.
inline bool known_option_layout(const uint8_t* o, uint32_t len, PacketFacts& f) {
    if (len < 4 || o[0] != 2 || o[1] != 4)
        return false;
    uint32_t sig;
    if (len == 4) {
        sig = 0x02000000;
    } else if (len == 12 && (rd32(o + 4) & 0xffffff00u) == 0x01030300u &&
               rd32(o + 8) == 0x01010402u) {
        sig = 0x02010301;
    } else if (len == 20 && rd32(o + 4) == 0x0402080au && (rd32(o + 16) >> 8) == 0x010303u) {
        sig = 0x02040801;
    } else {
        return false;
    }
    f.tcp_mss = rd16(o + 2);
    f.tcp_option_sig = sig;
    return true;
}

void decode_l4(const uint8_t* p, uint32_t held, uint32_t ip_payload, PacketFacts& f) {
    switch (f.proto) {
        case Proto::tcp: {
            if (held < 20) [[unlikely]] {
                if (!tiny_first_fragment(held, ip_payload, 20, f))
                    f.error = DecodeError::truncated_l4;
                return;
            }
            uint32_t doff = (p[12] >> 4) * 4u;
            if (doff < 20) [[unlikely]] {
                f.error = DecodeError::bad_l4_header;
                return;
            }
            f.src_port = rd16(p);
            f.dst_port = rd16(p + 2);
            f.tcp_seq = rd32(p + 4);
            f.tcp_ack = rd32(p + 8);
            f.tcp_flags = p[13];
            f.tcp_window = rd16(p + 14);
            f.tcp_options_len = static_cast<uint8_t>(doff - 20);
            if (doff > ip_payload && !f.first_fragment) [[unlikely]] {
                f.error = DecodeError::bad_l4_header;  // header longer than the packet
                return;
            }
            if (held < doff && held < ip_payload) [[unlikely]] {
                f.error = DecodeError::truncated_l4;  // options cut by the snaplen
                return;
            }
            if (doff > held)
                doff = held;  // a first fragment ending inside the options
            if (known_option_layout(p + 20, doff - 20, f)) [[likely]] {
                f.l4_valid = true;
                return;
            }
            // Options: remember the first four kinds and the MSS value.
            uint32_t sig = 0;
            unsigned kinds = 0;
            for (uint32_t o = 20; o < doff;) {
                uint8_t kind = p[o];
                if (kinds < 4) {
                    sig |= uint32_t{kind} << (24 - 8 * kinds);
                    ++kinds;
                }
                if (kind == 0)
                    break;        // end of option list
                if (kind == 1) {  // NOP
                    ++o;
                    continue;
                }
                if (o + 1 >= doff)
                    break;
                uint8_t len = p[o + 1];
                if (len < 2 || o + len > doff)
                    break;  // broken option list: stop reading it
                if (kind == 2 && len == 4)
                    f.tcp_mss = rd16(p + o + 2);
                o += len;
            }
            f.tcp_option_sig = sig;
            f.l4_valid = true;
            return;
        }
        case Proto::udp: {
            if (held < 8) [[unlikely]] {
                if (!tiny_first_fragment(held, ip_payload, 8, f))
                    f.error = DecodeError::truncated_l4;
                return;
            }
            f.src_port = rd16(p);
            f.dst_port = rd16(p + 2);
            uint16_t udp_len = rd16(p + 4);
            // A first fragment's UDP length covers the whole datagram; IPv6 jumbograms set 0.
            if (udp_len < 8 || (!f.first_fragment && udp_len > ip_payload)) [[unlikely]] {
                if (!(udp_len == 0 && ip_payload > 0xffff)) {
                    f.error = DecodeError::bad_l4_header;
                    return;
                }
            }
            f.l4_valid = true;
            uint32_t payload_held = held - 8;
            if (udp_len >= 8 && payload_held > udp_len - 8u)
                payload_held = udp_len - 8u;
            f.payload_marks = udp_payload_marks(p + 8, payload_held, udp_len, f);
            return;
        }
        case Proto::icmp:
        case Proto::icmpv6: {
            if (held < 8) [[unlikely]] {
                if (!tiny_first_fragment(held, ip_payload, 8, f))
                    f.error = DecodeError::truncated_l4;
                return;
            }
            f.icmp_type = p[0];
            f.icmp_code = p[1];
            f.l4_valid = true;
            uint8_t t = f.icmp_type;
            if (f.proto == Proto::icmp) {
                if (t == 0 || t == 8 || (t >= 13 && t <= 18)) {
                    f.src_port = rd16(p + 4);  // echo/timestamp/info/mask identifier
                } else if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12) {
                    read_quote(p + 8, held - 8, f);
                }
            } else {
                if (t == 128 || t == 129) {
                    f.src_port = rd16(p + 4);
                } else if (t >= 1 && t <= 4) {
                    read_quote(p + 8, held - 8, f);
                }
            }
            return;
        }
        default:
            return;  // other IP protocols: counted by number, nothing to read
    }
}

void decode_ipv4(const uint8_t* p, uint32_t held, uint32_t wire, PacketFacts& f) {
    if (held < 1) [[unlikely]] {
        f.error = DecodeError::truncated_l3;
        return;
    }
    if ((p[0] >> 4) != 4) [[unlikely]] {
        f.error = DecodeError::bad_ip_version;
        return;
    }
    uint32_t ihl = (p[0] & 0x0fu) * 4;
    if (ihl < 20) [[unlikely]] {
        f.error = DecodeError::bad_ihl;
        return;
    }
    if (held < ihl) [[unlikely]] {
        f.error = DecodeError::truncated_l3;
        return;
    }
    uint32_t total = rd16(p + 2);
    if (total < ihl || total > wire) [[unlikely]] {
        f.error = DecodeError::bad_total_length;
        return;
    }
    f.ip_version = 4;
    f.ip_len = static_cast<uint16_t>(total);
    f.ip_id = rd16(p + 4);
    uint16_t frag = rd16(p + 6);
    f.ip_reserved_bit = (frag & 0x8000) != 0;
    f.ttl = p[8];
    f.ip_proto = p[9];
    f.src.v4 = rd32(p + 12);
    f.dst.v4 = rd32(p + 16);
    f.proto = proto_of(f.ip_proto, false);
    if ((frag & 0x1fff) != 0) {
        f.fragment = true;
        return;
    }
    f.first_fragment = (frag & 0x2000) != 0;
    uint32_t end = held < total ? held : total;  // bytes past total length are link padding
    decode_l4(p + ihl, end - ihl, total - ihl, f);
}

// A broken extension-header chain is a broken IP header: like a bad IPv4 header it leaves
// ip_version 0 and proto none, so the packet is counted only as malformed.
void fail_ipv6_chain(PacketFacts& f, DecodeError e) {
    f.ip_version = 0;
    f.proto = Proto::none;
    f.ip_proto = 0;
    f.first_fragment = false;
    f.error = e;
}

void decode_ipv6(const uint8_t* p, uint32_t held, uint32_t wire, PacketFacts& f) {
    if (held < 1) [[unlikely]] {
        f.error = DecodeError::truncated_l3;
        return;
    }
    if ((p[0] >> 4) != 6) [[unlikely]] {
        f.error = DecodeError::bad_ip_version;
        return;
    }
    if (held < 40) [[unlikely]] {
        f.error = DecodeError::truncated_l3;
        return;
    }
    uint32_t payload = rd16(p + 4);
    uint8_t nh = p[6];
    if (payload == 0 && nh == 0 && wire > 40 + 0xffff) {
        payload = wire - 40;  // a jumbogram: the length is in a hop-by-hop option
    }
    if (40 + payload > wire) [[unlikely]] {
        f.error = DecodeError::bad_ipv6_payload_length;
        return;
    }
    f.ip_version = 6;
    f.ip_len = static_cast<uint16_t>(40 + payload > 0xffff ? 0xffff : 40 + payload);
    f.ttl = p[7];
    std::memcpy(f.src.v6, p + 8, 16);
    std::memcpy(f.dst.v6, p + 24, 16);
    uint32_t end = held < 40 + payload ? held : 40 + payload;
    uint32_t off = 40;
    unsigned ext = 0;
    for (;;) {
        uint32_t len;
        switch (nh) {
            case 0:    // hop-by-hop options
            case 43:   // routing
            case 60:   // destination options
            case 135:  // mobility
            case 139:  // HIP
            case 140:  // shim6
                if (off + 2 > end) [[unlikely]] {
                    fail_ipv6_chain(f, DecodeError::truncated_l3);
                    return;
                }
                len = (p[off + 1] + 1u) * 8;
                break;
            case 51:  // authentication header
                if (off + 2 > end) [[unlikely]] {
                    fail_ipv6_chain(f, DecodeError::truncated_l3);
                    return;
                }
                len = (p[off + 1] + 2u) * 4;
                break;
            case 44: {  // fragment
                if (off + 8 > end) [[unlikely]] {
                    fail_ipv6_chain(f, DecodeError::truncated_l3);
                    return;
                }
                uint16_t fo = rd16(p + off + 2);
                f.ip_id = static_cast<uint16_t>(rd32(p + off + 4));
                if ((fo & 0xfff8) != 0) {  // a later fragment: its protocol, no L4
                    f.ip_proto = p[off];
                    f.proto = proto_of(f.ip_proto, true);
                    f.fragment = true;
                    return;
                }
                if (fo & 1)
                    f.first_fragment = true;
                len = 8;
                break;
            }
            default:
                goto upper_layer;
        }
        if (++ext > DecodeLimits::max_ipv6_ext_headers) [[unlikely]] {
            fail_ipv6_chain(f, DecodeError::too_many_ext_headers);
            return;
        }
        nh = p[off];
        off += len;
        if (off > end) [[unlikely]] {
            fail_ipv6_chain(f, DecodeError::truncated_l3);
            return;
        }
    }
upper_layer:
    f.ip_proto = nh;
    f.proto = proto_of(nh, true);
    decode_l4(p + off, end - off, 40 + payload - off, f);
}

inline void decode_ip_by_version(const uint8_t* p, uint32_t held, uint32_t wire, PacketFacts& f) {
    if (held < 1) [[unlikely]] {
        f.error = DecodeError::truncated_l3;
        return;
    }
    unsigned v = p[0] >> 4;
    if (v == 4) {
        decode_ipv4(p, held, wire, f);
    } else if (v == 6) {
        decode_ipv6(p, held, wire, f);
    } else {
        f.error = DecodeError::bad_ip_version;
    }
}

// From an ethertype at data[off - 2]: tags, MPLS, PPPoE, then IP.
void decode_from_ethertype(const uint8_t* data, uint32_t caplen, uint32_t wire_len, uint32_t off,
                           uint16_t ethertype, PacketFacts& f) {
    unsigned tags = 0;
    while (ethertype == kEtherVlan || ethertype == kEtherQinq || ethertype == kEtherQinqOld) {
        if (tags == DecodeLimits::max_vlan_tags) [[unlikely]] {
            f.error = DecodeError::too_many_tags;
            return;
        }
        if (off + 4 > caplen) [[unlikely]] {
            f.error = DecodeError::truncated_l2;
            return;
        }
        ethertype = rd16(data + off + 2);
        off += 4;
        ++tags;
        f.vlan_depth = static_cast<uint8_t>(tags);
    }
    if (ethertype == kEtherMpls || ethertype == kEtherMplsMulticast) {
        unsigned labels = 0;
        for (;;) {
            if (labels == DecodeLimits::max_mpls_labels) [[unlikely]] {
                f.error = DecodeError::too_many_tags;
                return;
            }
            if (off + 4 > caplen) [[unlikely]] {
                f.error = DecodeError::truncated_l2;
                return;
            }
            bool bottom = (data[off + 2] & 1) != 0;
            off += 4;
            f.mpls_depth = static_cast<uint8_t>(++labels);
            if (bottom)
                break;
        }
        if (off >= caplen) [[unlikely]] {
            f.error = DecodeError::truncated_l3;
            return;
        }
        unsigned v = data[off] >> 4;
        if (v == 4) {
            decode_ipv4(data + off, caplen - off, wire_len - off, f);
        } else if (v == 6) {
            decode_ipv6(data + off, caplen - off, wire_len - off, f);
        } else {
            f.error = DecodeError::non_ip;  // pseudowire (Ethernet over MPLS) or other payload
        }
        return;
    }
    if (ethertype == kEtherPppoeSession) {
        if (off + 8 > caplen) [[unlikely]] {
            f.error = DecodeError::truncated_l2;
            return;
        }
        uint16_t ppp = rd16(data + off + 6);
        off += 8;
        if (ppp == 0x0021) {
            ethertype = kEtherIpv4;
        } else if (ppp == 0x0057) {
            ethertype = kEtherIpv6;
        } else {
            f.error = DecodeError::non_ip;
            return;
        }
    }
    if (ethertype == kEtherIpv4) [[likely]] {
        decode_ipv4(data + off, caplen - off, wire_len - off, f);
    } else if (ethertype == kEtherIpv6) {
        decode_ipv6(data + off, caplen - off, wire_len - off, f);
    } else {
        f.error = DecodeError::non_ip;
    }
}

}  // namespace

void decode(const uint8_t* data, uint32_t caplen, uint32_t wire_len, LinkType link,
            PacketFacts& f) {
    clear(f);
    f.frame_len = wire_len;
    f.sensor = kSensorUnmatched;
    if (wire_len < caplen)
        wire_len = caplen;  // a recorder that claims fewer bytes than it kept
    switch (link) {
        case LinkType::ethernet:
            if (caplen < 14) [[unlikely]] {
                f.error = DecodeError::truncated_l2;
                return;
            }
            decode_from_ethertype(data, caplen, wire_len, 14, rd16(data + 12), f);
            return;
        case LinkType::raw_ip:
            decode_ip_by_version(data, caplen, wire_len, f);
            return;
        case LinkType::ipv4:
            decode_ipv4(data, caplen, wire_len, f);
            return;
        case LinkType::ipv6:
            decode_ipv6(data, caplen, wire_len, f);
            return;
        case LinkType::linux_sll:  // 16-byte header, protocol (an ethertype) last
            if (caplen < 16) [[unlikely]] {
                f.error = DecodeError::truncated_l2;
                return;
            }
            decode_from_ethertype(data, caplen, wire_len, 16, rd16(data + 14), f);
            return;
        case LinkType::linux_sll2:  // 20-byte header, protocol first
            if (caplen < 20) [[unlikely]] {
                f.error = DecodeError::truncated_l2;
                return;
            }
            decode_from_ethertype(data, caplen, wire_len, 20, rd16(data), f);
            return;
        case LinkType::null_loopback: {
            if (caplen < 4) [[unlikely]] {
                f.error = DecodeError::truncated_l2;
                return;
            }
            // The family is in the capturing host's byte order: accept either.
            uint32_t le = data[0] | (uint32_t{data[1]} << 8) | (uint32_t{data[2]} << 16) |
                          (uint32_t{data[3]} << 24);
            uint32_t family = (le & 0xffff0000u) != 0 ? rd32(data) : le;
            if (family == 2) {
                decode_ipv4(data + 4, caplen - 4, wire_len - 4, f);
            } else if (family == 10 || family == 24 || family == 28 || family == 30) {
                decode_ipv6(data + 4, caplen - 4, wire_len - 4, f);
            } else {
                f.error = DecodeError::non_ip;
            }
            return;
        }
    }
    f.error = DecodeError::unsupported_link;
}

bool link_type_from_dlt(int dlt, LinkType* out) {
    switch (dlt) {
        case 1:  // DLT_EN10MB
            *out = LinkType::ethernet;
            return true;
        case 12:   // DLT_RAW (most platforms)
        case 14:   // DLT_RAW (OpenBSD)
        case 101:  // LINKTYPE_RAW
            *out = LinkType::raw_ip;
            return true;
        case 228:  // LINKTYPE_IPV4
            *out = LinkType::ipv4;
            return true;
        case 229:  // LINKTYPE_IPV6
            *out = LinkType::ipv6;
            return true;
        case 113:  // DLT_LINUX_SLL
            *out = LinkType::linux_sll;
            return true;
        case 276:  // DLT_LINUX_SLL2
            *out = LinkType::linux_sll2;
            return true;
        case 0:    // DLT_NULL (host byte order)
        case 108:  // DLT_LOOP (network byte order)
            *out = LinkType::null_loopback;
            return true;
        default:
            *out = kUnsupportedLink;
            return false;
    }
}

const char* decode_error_name(DecodeError e) {
    switch (e) {
        case DecodeError::none:
            return "none";
        case DecodeError::truncated_l2:
            return "truncated_l2";
        case DecodeError::truncated_l3:
            return "truncated_l3";
        case DecodeError::truncated_l4:
            return "truncated_l4";
        case DecodeError::bad_ip_version:
            return "bad_ip_version";
        case DecodeError::bad_ihl:
            return "bad_ihl";
        case DecodeError::bad_total_length:
            return "bad_total_length";
        case DecodeError::bad_ipv6_payload_length:
            return "bad_ipv6_payload_length";
        case DecodeError::too_many_tags:
            return "too_many_tags";
        case DecodeError::too_many_ext_headers:
            return "too_many_ext_headers";
        case DecodeError::non_ip:
            return "non_ip";
        case DecodeError::unsupported_link:
            return "unsupported_link";
        case DecodeError::bad_l4_header:
            return "bad_l4_header";
        case DecodeError::count_:
            break;
    }
    return "unknown";
}

const char* proto_name(Proto p) {
    switch (p) {
        case Proto::none:
            return "none";
        case Proto::tcp:
            return "tcp";
        case Proto::udp:
            return "udp";
        case Proto::icmp:
            return "icmp";
        case Proto::icmpv6:
            return "icmpv6";
        case Proto::other:
            return "other";
        case Proto::count_:
            break;
    }
    return "unknown";
}

const char* traffic_class_name(TrafficClass c) {
    switch (c) {
        case TrafficClass::tcp_scan:
            return "tcp_scan";
        case TrafficClass::tcp_backscatter:
            return "tcp_backscatter";
        case TrafficClass::tcp_other:
            return "tcp_other";
        case TrafficClass::udp_probe:
            return "udp_probe";
        case TrafficClass::udp_backscatter:
            return "udp_backscatter";
        case TrafficClass::icmp_probe:
            return "icmp_probe";
        case TrafficClass::icmp_backscatter:
            return "icmp_backscatter";
        case TrafficClass::fragment:
            return "fragment";
        case TrafficClass::other_ip:
            return "other_ip";
        case TrafficClass::malformed:
            return "malformed";
        case TrafficClass::non_ip:
            return "non_ip";
        case TrafficClass::count_:
            break;
    }
    return "unknown";
}

const char* flag_name(unsigned bit) {
    static constexpr const char* names[kFlagCount] = {
        "zmap",     "masscan", "mirai",   "nmap",       "no_tcp_options",
        "high_ttl", "spoofed", "erratic", "non_routed", "large_scale_scan",
    };
    return bit < kFlagCount ? names[bit] : "unknown";
}

}  // namespace darkscope
