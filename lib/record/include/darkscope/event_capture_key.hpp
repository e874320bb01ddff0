// The key of an event capture: which recorded packets belong to a surge, DoS or scanner event.
// A packet matches when it counted under the event's key: a surge's series (service, sensor,
// country, sensor_service, country_service, sensor_country: services and the crosses with a
// service count probe classes only), a DoS victim (its backscatter), a scanning source (every
// packet it sent). Matching reads the slots the worker wrote into the packet's header
// (darkscope/record_tap.hpp), so it agrees with the counters by construction.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "darkscope/ip_address.hpp"
#include "darkscope/record_tap.hpp"

namespace darkscope {

struct EventCaptureKey {
    enum class Kind : uint8_t {
        service,
        sensor,
        country,
        sensor_service,
        country_service,
        sensor_country,
        victim,
        source
    };
    Kind kind = Kind::service;
    // Services: a TCP or UDP slot exactly; ICMP and ICMPv6 are one service per family (every
    // type and code), as the series name them.
    int32_t service = -1;
    bool service_family_only = false;
    uint16_t sensor = 0;   // sensor slot
    uint16_t country = 0;  // country slot
    IpAddress address{};   // victim or source
    uint8_t family = 4;

    bool matches(const RecordedPacket& p) const {
        if ((p.marks & kMarkIp) == 0)
            return false;
        switch (kind) {
            case Kind::service:
                return probe_service(p);
            case Kind::sensor:
                return p.sensor == sensor;
            case Kind::country:
                return p.country == country;
            case Kind::sensor_service:
                return p.sensor == sensor && probe_service(p);
            case Kind::country_service:
                return p.country == country && probe_service(p);
            case Kind::sensor_country:
                return p.sensor == sensor && p.country == country;
            case Kind::victim:
                return (p.marks & kMarkBackscatter) != 0 && same_address(p, p.victim());
            case Kind::source:
                return same_address(p, p.source);
        }
        return false;
    }

  private:
    bool probe_service(const RecordedPacket& p) const {
        if ((p.marks & kMarkProbe) == 0 || p.service < 0)
            return false;
        return service_family_only ? (p.service >> 16) == (service >> 16) : p.service == service;
    }
    bool same_address(const RecordedPacket& p, const IpAddress& a) const {
        const bool v6 = (p.marks & kMarkIpv6) != 0;
        if (v6 != (family == 6))
            return false;
        return v6 ? std::memcmp(a.v6, address.v6, 16) == 0 : a.v4 == address.v4;
    }
};

}  // namespace darkscope
