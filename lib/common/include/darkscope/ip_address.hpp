// IpAddress: one IPv4 or IPv6 address as the decoder writes it and every library reads it
// (prefixes, sensors, attribution, sketches). Kept here, below lib/decode, because lib/common's
// prefix parsing needs it.
#pragma once

#include <cstdint>

namespace darkscope {

// An IPv4 or IPv6 address. IPv4 is kept in host byte order in `v4` (what rte_fib wants);
// IPv6 in network byte order in `v6`.
struct IpAddress {
    union {
        uint32_t v4;
        uint8_t v6[16];
    };
};

}  // namespace darkscope
