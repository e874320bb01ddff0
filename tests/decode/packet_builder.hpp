// Builds frames byte by byte for the decoder and classifier tests and the benchmark. Every
// field is written explicitly, so a test knows the truth it checks against.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace darkscope::test {

class Frame {
  public:
    std::vector<uint8_t> bytes;

    Frame& u8(uint8_t v) {
        bytes.push_back(v);
        return *this;
    }
    Frame& u16(uint16_t v) {
        bytes.push_back(static_cast<uint8_t>(v >> 8));
        bytes.push_back(static_cast<uint8_t>(v));
        return *this;
    }
    Frame& u32(uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        return u16(static_cast<uint16_t>(v));
    }
    Frame& raw(std::initializer_list<uint8_t> v) {
        bytes.insert(bytes.end(), v);
        return *this;
    }
    Frame& zeros(size_t n) {
        bytes.insert(bytes.end(), n, 0);
        return *this;
    }
    size_t size() const { return bytes.size(); }
    void put16(size_t at, uint16_t v) {
        bytes[at] = static_cast<uint8_t>(v >> 8);
        bytes[at + 1] = static_cast<uint8_t>(v);
    }

    // Ethernet II header with the given ethertype.
    Frame& eth(uint16_t ethertype) {
        raw({0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2});
        return u16(ethertype);
    }
    // A VLAN-style tag: TCI then the next ethertype (the tag's own TPID is the previous type).
    Frame& tag(uint16_t tci, uint16_t next) { return u16(tci).u16(next); }
    Frame& mpls(uint32_t label, bool bottom, uint8_t ttl = 64) {
        return u32((label << 12) | (bottom ? 0x100u : 0u) | ttl);
    }

    // IPv4 header; total length is patched by finish_ipv4(). options_words: 4-byte words of
    // NOP options.
    size_t ipv4(uint8_t proto, uint32_t src, uint32_t dst, uint8_t ttl = 64, uint16_t id = 1,
                uint16_t frag = 0, unsigned options_words = 0) {
        size_t at = size();
        u8(static_cast<uint8_t>(0x40 | (5 + options_words))).u8(0).u16(0).u16(id).u16(frag);
        u8(ttl).u8(proto).u16(0).u32(src).u32(dst);
        for (unsigned i = 0; i < options_words; ++i)
            u32(0x01010101);
        return at;
    }
    void finish_ipv4(size_t at) { put16(at + 2, static_cast<uint16_t>(size() - at)); }

    size_t ipv6(uint8_t next, const uint8_t src[16], const uint8_t dst[16], uint8_t hops = 64) {
        size_t at = size();
        u32(0x60000000).u16(0).u8(next).u8(hops);
        bytes.insert(bytes.end(), src, src + 16);
        bytes.insert(bytes.end(), dst, dst + 16);
        return at;
    }
    void finish_ipv6(size_t at) { put16(at + 4, static_cast<uint16_t>(size() - at - 40)); }
    // A generic 8-byte extension header (hop-by-hop, routing, destination options).
    Frame& ext8(uint8_t next) { return u8(next).u8(0).zeros(6); }
    Frame& frag6(uint8_t next, uint16_t offset_units, bool more, uint32_t id) {
        return u8(next)
            .u8(0)
            .u16(static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)))
            .u32(id);
    }

    // TCP header with options (bytes, padded to a multiple of 4 with EOL by the caller).
    Frame& tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
               uint16_t window, std::initializer_list<uint8_t> options = {}) {
        size_t opt = options.size();
        u16(sport).u16(dport).u32(seq).u32(ack);
        u8(static_cast<uint8_t>(((20 + opt) / 4) << 4)).u8(flags).u16(window).u16(0).u16(0);
        return raw(options);
    }
    Frame& udp(uint16_t sport, uint16_t dport, uint16_t payload_len) {
        u16(sport).u16(dport).u16(static_cast<uint16_t>(8 + payload_len)).u16(0);
        return zeros(payload_len);
    }
    Frame& icmp(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0) {
        return u8(type).u8(code).u16(0).u16(id).u16(seq);
    }
};

inline uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

// A complete Ethernet/IPv4/TCP frame.
inline Frame eth_ipv4_tcp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
                          uint32_t seq = 1000, uint16_t window = 1024, uint8_t ttl = 64,
                          uint16_t id = 1, std::initializer_list<uint8_t> options = {}) {
    Frame f;
    f.eth(0x0800);
    size_t ip = f.ipv4(6, src, dst, ttl, id);
    f.tcp(sport, dport, seq, 0, flags, window, options);
    f.finish_ipv4(ip);
    return f;
}

inline Frame eth_ipv4_udp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                          uint16_t payload = 0, uint8_t ttl = 64) {
    Frame f;
    f.eth(0x0800);
    size_t ip = f.ipv4(17, src, dst, ttl);
    f.udp(sport, dport, payload);
    f.finish_ipv4(ip);
    return f;
}

inline Frame eth_ipv4_icmp(uint32_t src, uint32_t dst, uint8_t type, uint8_t code = 0) {
    Frame f;
    f.eth(0x0800);
    size_t ip = f.ipv4(1, src, dst);
    f.icmp(type, code, 0x1234, 1);
    f.finish_ipv4(ip);
    return f;
}

}  // namespace darkscope::test
