#include "darkscope/counters.hpp"

#include <cstring>

namespace darkscope {

void CounterSet::clear() {
    std::memset(static_cast<void*>(this), 0, sizeof *this);
}

void CounterSet::merge(const CounterSet& o) {
    if (o.packets == 0)
        return;
    if (packets == 0 || (o.first_ts_ns != 0 && o.first_ts_ns < first_ts_ns))
        first_ts_ns = o.first_ts_ns;
    if (o.last_ts_ns > last_ts_ns)
        last_ts_ns = o.last_ts_ns;
    packets += o.packets;
    bytes += o.bytes;
    ipv4 += o.ipv4;
    ipv6 += o.ipv6;
    unmatched += o.unmatched;
    for (unsigned i = 0; i < std::size(proto); ++i)
        proto[i] += o.proto[i];
    for (unsigned i = 0; i < std::size(classes); ++i)
        classes[i].merge(o.classes[i]);
    for (unsigned i = 0; i < std::size(flags); ++i)
        flags[i] += o.flags[i];
    for (unsigned i = 0; i < std::size(errors); ++i)
        errors[i] += o.errors[i];
    for (unsigned i = 0; i < std::size(sensors); ++i)
        sensors[i].merge(o.sensors[i]);
    for (unsigned i = 0; i < std::size(countries); ++i)
        countries[i].merge(o.countries[i]);
    asns.merge(o.asns);
    total_sources.merge(o.total_sources);
    total_destinations.merge(o.total_destinations);
    total_asns.merge(o.total_asns);
    for (unsigned i = 0; i <= kMaxSensors; ++i) {
        if (o.sensors[i].packets == 0)
            continue;
        sensor_sources[i].merge(o.sensor_sources[i]);
        sensor_destinations[i].merge(o.sensor_destinations[i]);
        sensor_asns[i].merge(o.sensor_asns[i]);
    }
    for (unsigned i = 0; i < kCountrySlots; ++i) {
        if (o.countries[i].packets == 0)
            continue;
        country_sources[i].merge(o.country_sources[i]);
        country_destinations[i].merge(o.country_destinations[i]);
        country_asns[i].merge(o.country_asns[i]);
    }
    services.merge(o.services);
    sensor_service.merge(o.sensor_service);
    country_service.merge(o.country_service);
    sensor_country.merge(o.sensor_country);
    victims.merge(o.victims);
    // The service arrays are large and mostly zero: skip empty slots cheaply.
    for (unsigned i = 0; i < kServiceSlots; ++i) {
        if (o.services_all[i].packets != 0) {
            services_all[i].merge(o.services_all[i]);
            services_probe[i].merge(o.services_probe[i]);
        }
    }
}

const char* service_family_name(ServiceFamily f) {
    switch (f) {
        case ServiceFamily::tcp:
            return "tcp";
        case ServiceFamily::udp:
            return "udp";
        case ServiceFamily::icmp:
            return "icmp";
        case ServiceFamily::icmpv6:
            return "icmpv6";
    }
    return "?";
}

std::string service_name(uint32_t slot) {
    auto family = static_cast<ServiceFamily>(slot >> 16);
    if (family == ServiceFamily::icmp || family == ServiceFamily::icmpv6)
        return service_family_name(family);
    return std::to_string(slot & 0xffff) + "/" + service_family_name(family);
}

std::string service_detail_name(uint32_t slot) {
    auto family = static_cast<ServiceFamily>(slot >> 16);
    if (family == ServiceFamily::icmp || family == ServiceFamily::icmpv6)
        return std::string(service_family_name(family)) + "/" + std::to_string((slot >> 8) & 0xff) +
               "/" + std::to_string(slot & 0xff);
    return service_name(slot);
}

}  // namespace darkscope
