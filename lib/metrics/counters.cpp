#include "darkscope/counters.hpp"

#include <cstring>

namespace darkscope {

void AsnTable::add_counts(uint32_t asn, const PacketsBytes& pb) {
    if (asn == 0) {
        unknown.merge(pb);
        return;
    }
    unsigned slot = (asn * 2654435761u) & (kCapacity - 1);
    for (unsigned probe = 0; probe < kMaxProbe; ++probe) {
        unsigned s = (slot + probe) & (kCapacity - 1);
        if (keys[s] == asn) {
            values[s].merge(pb);
            return;
        }
        if (keys[s] == 0) {
            keys[s] = asn;
            ++used;
            values[s] = pb;
            return;
        }
    }
    other.merge(pb);
}

void AsnTable::merge(const AsnTable& o) {
    for (unsigned s = 0; s < kCapacity; ++s)
        if (o.keys[s] != 0)
            add_counts(o.keys[s], o.values[s]);
    unknown.merge(o.unknown);
    other.merge(o.other);
}

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
