// Hand-built PacketFacts for the tests of what counts them (tests/metrics, tests/capture).
#pragma once

#include <cstdint>

#include "darkscope/packet.hpp"

namespace darkscope {

// A classified, attributed TCP SYN scan packet.
inline PacketFacts make_syn(uint32_t src, uint32_t dst, uint16_t port, uint16_t sensor,
                            uint16_t country, uint32_t asn, uint32_t len = 60) {
    PacketFacts f;
    clear(f);
    f.frame_len = len;
    f.ip_version = 4;
    f.proto = Proto::tcp;
    f.ip_proto = 6;
    f.l4_valid = true;
    f.src.v4 = src;
    f.dst.v4 = dst;
    f.dst_port = port;
    f.tcp_flags = tcp_syn;
    f.cls = TrafficClass::tcp_scan;
    f.sensor = sensor;
    f.country = country;
    f.asn = asn;
    return f;
}

}  // namespace darkscope
