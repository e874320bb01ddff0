// CounterSet: every per-interval counter one worker keeps, laid out as dense arrays indexed by
// the packet's facts so that counting is a handful of adds with no hashing or branching on
// key presence. A worker owns two of these (the epoch flip); the stats core merges retired ones
// into its own interval and running-total sets. No EAL: memory comes from the caller (hugepages
// on the worker's NUMA node in the appliance, the heap in tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "darkscope/packet.hpp"

namespace darkscope {

struct PacketsBytes {
    uint64_t packets;
    uint64_t bytes;
    void add(uint64_t len) {
        ++packets;
        bytes += len;
    }
    void merge(const PacketsBytes& o) {
        packets += o.packets;
        bytes += o.bytes;
    }
};

inline constexpr unsigned kMaxSensors = 64;
inline constexpr unsigned kSensorSlotUnmatched = kMaxSensors;  // sensors[] slot of `unmatched`
inline constexpr unsigned kCountrySlots = 26 * 26 + 1;         // 0 = "??", then AA..ZZ

// Destination services: one dense range of 65536 slots per family. TCP and UDP are indexed by
// destination port; ICMP and ICMPv6 by type << 8 | code.
enum class ServiceFamily : uint8_t { tcp = 0, udp = 1, icmp = 2, icmpv6 = 3 };
inline constexpr unsigned kServiceFamilies = 4;
inline constexpr unsigned kServiceSlots = kServiceFamilies * 65536;

inline constexpr uint32_t service_slot(ServiceFamily family, uint16_t index) {
    return static_cast<uint32_t>(family) << 16 | index;
}

// A bounded ASN table (open addressing, single writer). ASNs that do not fit go to `other`,
// so the view still sums to the total; `other` is reported.
struct AsnTable {
    static constexpr unsigned kCapacity = 4096;  // power of two
    static constexpr unsigned kMaxProbe = 16;
    uint32_t keys[kCapacity];  // 0 = empty slot (AS0 is counted in `unknown`)
    PacketsBytes values[kCapacity];
    PacketsBytes unknown;  // AS0: no database, or an address the database does not cover
    PacketsBytes other;    // did not fit
    unsigned used;

    void add(uint32_t asn, uint64_t len) {
        if (asn == 0) {
            unknown.add(len);
            return;
        }
        unsigned slot = (asn * 2654435761u) & (kCapacity - 1);
        for (unsigned probe = 0; probe < kMaxProbe; ++probe) {
            unsigned s = (slot + probe) & (kCapacity - 1);
            if (keys[s] == asn) {
                values[s].add(len);
                return;
            }
            if (keys[s] == 0) [[unlikely]] {
                keys[s] = asn;
                ++used;
                values[s].add(len);
                return;
            }
        }
        other.add(len);
    }
    void add_counts(uint32_t asn, const PacketsBytes& pb);  // merge path
    void merge(const AsnTable& o);
};

struct alignas(64) CounterSet {
    uint64_t packets;
    uint64_t bytes;
    uint64_t ipv4;
    uint64_t ipv6;
    uint64_t unmatched;    // IP packets whose destination is in no sensor
    uint64_t first_ts_ns;  // packet time of the first and last packet (offline mode)
    uint64_t last_ts_ns;
    uint64_t proto[static_cast<unsigned>(Proto::count_)];  // [none] = not IP
    PacketsBytes classes[static_cast<unsigned>(TrafficClass::count_)];
    uint64_t flags[kFlagCount];
    uint64_t errors[static_cast<unsigned>(DecodeError::count_)];  // [none] = decoded fine
    PacketsBytes sensors[kMaxSensors + 1];
    PacketsBytes countries[kCountrySlots];
    AsnTable asns;
    // Services of the probe classes (tcp_scan, udp_probe, icmp_probe): what scanners want.
    alignas(64) PacketsBytes services_probe[kServiceSlots];
    // Services of every packet with valid L4 fields, backscatter included.
    alignas(64) PacketsBytes services_all[kServiceSlots];

    void clear();
    void merge(const CounterSet& o);
};

// Is this class one of those `top/ports` ranks by default (interest in a service)?
inline constexpr bool is_probe_class(TrafficClass c) {
    return c == TrafficClass::tcp_scan || c == TrafficClass::udp_probe ||
           c == TrafficClass::icmp_probe;
}

// The service slot of a decoded packet, or -1 when it has no service (no valid L4).
inline int32_t service_slot_of(const PacketFacts& f) {
    if (!f.l4_valid)
        return -1;
    switch (f.proto) {
        case Proto::tcp:
            return static_cast<int32_t>(service_slot(ServiceFamily::tcp, f.dst_port));
        case Proto::udp:
            return static_cast<int32_t>(service_slot(ServiceFamily::udp, f.dst_port));
        case Proto::icmp:
            return static_cast<int32_t>(
                service_slot(ServiceFamily::icmp, uint16_t(f.icmp_type << 8 | f.icmp_code)));
        case Proto::icmpv6:
            return static_cast<int32_t>(
                service_slot(ServiceFamily::icmpv6, uint16_t(f.icmp_type << 8 | f.icmp_code)));
        default:
            return -1;
    }
}

// Counts one classified, attributed packet. Hot path: called per packet by the worker that owns
// `t`, never concurrently.
inline void count_packet(CounterSet& t, const PacketFacts& f) {
    const uint64_t len = f.frame_len;
    ++t.packets;
    t.bytes += len;
    t.ipv4 += f.ip_version == 4;
    t.ipv6 += f.ip_version == 6;
    ++t.proto[static_cast<unsigned>(f.proto)];
    t.classes[static_cast<unsigned>(f.cls)].add(len);
    ++t.errors[static_cast<unsigned>(f.error)];
    for (unsigned bits = f.flags; bits != 0; bits &= bits - 1)
        ++t.flags[__builtin_ctz(bits)];
    if (f.ip_version != 0) {
        const bool unmatched = f.sensor >= kMaxSensors;
        t.unmatched += unmatched;
        t.sensors[unmatched ? kSensorSlotUnmatched : f.sensor].add(len);
        t.countries[f.country < kCountrySlots ? f.country : 0].add(len);
        t.asns.add(f.asn, len);
        const int32_t slot = service_slot_of(f);
        if (slot >= 0) {
            t.services_all[slot].add(len);
            if (is_probe_class(f.cls))
                t.services_probe[slot].add(len);
        }
    }
}

// "445/tcp", "53/udp", "icmp", "icmpv6" (ICMP ranks as one service, as the public reports do).
std::string service_name(uint32_t slot);
// Detailed name for a slot: "445/tcp", "icmp/8/0", "icmpv6/128/0".
std::string service_detail_name(uint32_t slot);
const char* service_family_name(ServiceFamily f);

}  // namespace darkscope
