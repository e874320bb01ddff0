// The decoder: L2-L4 header facts from a plain byte buffer. No EAL dependency, so it is tested
// and fuzzed on byte arrays; the capture layer feeds it the first segment of each mbuf (or a
// linearised copy of the headers of a multi-segment mbuf).
#pragma once

#include <cstdint>

#include "darkscope/packet.hpp"

namespace darkscope {

struct DecodeLimits {
    static constexpr unsigned max_vlan_tags = 4;  // 802.1Q / 802.1ad / 0x9100 tags
    static constexpr unsigned max_mpls_labels = 8;
    static constexpr unsigned max_ipv6_ext_headers = 8;
};

// Decodes one frame. `data` holds `caplen` readable bytes; `wire_len` is the frame's length on
// the wire (>= caplen; offline captures may be cut by a snaplen). Clears and fills `f`:
// frame_len = wire_len. Never reads outside data[0, caplen).
void decode(const uint8_t* data, uint32_t caplen, uint32_t wire_len, LinkType link, PacketFacts& f);

// Maps a pcap link type (DLT_/LINKTYPE_ number, as pcap_datalink() returns it) to the decoder's
// LinkType. Returns false for link types the decoder does not read: count such frames as
// DecodeError::unsupported_link (decode() with `kUnsupportedLink` does that).
bool link_type_from_dlt(int dlt, LinkType* out);
inline constexpr LinkType kUnsupportedLink = static_cast<LinkType>(0xff);

const char* decode_error_name(DecodeError e);  // "truncated_l2", ...
const char* proto_name(Proto p);               // "tcp", "udp", "icmp", "icmpv6", "other"
const char* traffic_class_name(TrafficClass c);
const char* flag_name(unsigned bit);  // bit index 0..kFlagCount-1: "zmap", ...

}  // namespace darkscope
