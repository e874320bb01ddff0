// The default UDP service ports: the one list the classifier's defaults, the appliance's
// --udp-service-ports default (lib/config) and darkscope-tables (the Python tools' copy) use.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace darkscope {

// Well-known UDP services and amplifiers whose replies reach victims of spoofing: a UDP packet
// from one of these ports to a high port (>= 1024) is reflection backscatter. Ascending.
inline constexpr std::array<uint16_t, 22> kDefaultUdpServicePorts = {
    17,     // QOTD
    19,     // chargen
    53,     // DNS
    69,     // TFTP
    111,    // portmap
    123,    // NTP
    137,    // NetBIOS name service
    161,    // SNMP
    389,    // CLDAP
    500,    // ISAKMP
    520,    // RIP
    1434,   // MS SQL browser
    1900,   // SSDP
    3283,   // Apple Remote Desktop
    3702,   // WS-Discovery
    4500,   // IPsec NAT-T (ISAKMP)
    5353,   // mDNS
    5683,   // CoAP
    10001,  // Ubiquiti discovery
    11211,  // memcached
    37810,  // DVR discovery
    47808,  // BACnet
};
static_assert(std::is_sorted(kDefaultUdpServicePorts.begin(), kDefaultUdpServicePorts.end()));

}  // namespace darkscope
