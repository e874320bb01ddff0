// One 64-bit hash of a source address, computed once per packet and reused by every sketch
// (HyperLogLog registers take the top bits) and every table (which may take the low bits), so
// every bit of it must be well mixed and it must cost a few nanoseconds.
//
// IPv4: mix64(address ^ seed). mix64 is a bijection on 64 bits, so two different IPv4 addresses
// never share a hash: sketches fed with IPv4 hashes are exact up to the sketch's own error.
// IPv6: mix64(mix64(high half ^ seed) ^ low half). For a fixed /64 this is again a bijection of
// the interface identifier, so addresses inside one /64 never collide either; across /64s the
// chance of a collision is the 2^-64 of a random function.
#pragma once

#include <cstdint>
#include <cstring>

#include "darkscope/packet.hpp"

namespace darkscope {

// Finaliser of SplitMix64 (Stafford's "Mix13"): full avalanche, 2 multiplies, a bijection.
inline constexpr uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

// Seeds keep IPv4 and IPv6 hashes (and service hashes) in unrelated parts of the output space.
inline constexpr uint64_t kHashSeedV4 = 0x9e3779b97f4a7c15ULL;
inline constexpr uint64_t kHashSeedV6 = 0xc2b2ae3d27d4eb4fULL;
inline constexpr uint64_t kHashSeedValue = 0x165667b19e3779f9ULL;

// IPv4 address in host byte order (as IpAddress::v4 holds it).
inline constexpr uint64_t hash_ipv4(uint32_t address) {
    return mix64(address ^ kHashSeedV4);
}

// IPv6 address, 16 bytes in network byte order (as IpAddress::v6 holds it).
inline uint64_t hash_ipv6(const uint8_t* address16) {
    uint64_t high;
    uint64_t low;
    std::memcpy(&high, address16, 8);
    std::memcpy(&low, address16 + 8, 8);
    return mix64(mix64(high ^ kHashSeedV6) ^ low);
}

// family is 4 or 6 (PacketFacts::ip_version).
inline uint64_t hash_address(const IpAddress& address, uint8_t family) {
    if (family == 6) [[unlikely]] {
        return hash_ipv6(address.v6);
    }
    return hash_ipv4(address.v4);
}

// Any small value (a service id, a port, an ASN) turned into a sketch-ready hash; also a
// bijection, so distinct values never collide.
inline constexpr uint64_t hash_value(uint64_t value) {
    return mix64(value ^ kHashSeedValue);
}

}  // namespace darkscope
