// CounterSet: every per-interval counter one worker keeps, laid out as dense arrays indexed by
// the packet's facts so that counting is a handful of adds with no hashing or branching on
// key presence. A worker owns two of these (the epoch flip); the stats core merges retired ones
// into its own interval and running-total sets. No EAL: memory comes from the caller (hugepages
// on the worker's NUMA node in the appliance, the heap in tests).
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "darkscope/country.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/hll.hpp"
#include "darkscope/packet.hpp"
#include "darkscope/sketch_pool.hpp"

namespace darkscope {

struct PacketsBytes {
    uint64_t packets;
    uint64_t bytes;
    // Both counters in one 16-byte add. Written field by field, GCC built each pair in a vector
    // register from two scalar loads (7 instructions an add, ~6 adds a packet); the vector
    // {1, len} here is built once per packet and each add is a load-add and a store.
    void add(uint64_t len) {
        using Pair = uint64_t __attribute__((vector_size(16)));
        Pair v;
        std::memcpy(&v, this, sizeof v);
        v += Pair{1, len};
        std::memcpy(this, &v, sizeof v);
    }
    void merge(const PacketsBytes& o) {
        packets += o.packets;
        bytes += o.bytes;
    }
};
static_assert(sizeof(PacketsBytes) == 16, "add() treats the pair as one 16-byte vector");

// As many sensors as a source tuple's 8-bit sensor slot holds, beside `unmatched` (TupleWhere).
inline constexpr unsigned kMaxSensors = 255;
inline constexpr unsigned kSensorSlotUnmatched = kMaxSensors;  // sensors[] slot of `unmatched`
// What one sensor slot takes in each CounterSet (its packets and bytes and three unique
// counters: sources, destinations, ASNs), whether the sensor sees traffic or not.
inline constexpr size_t kSensorSlotBytes = sizeof(PacketsBytes) + 3 * HyperLogLog::memory_bytes();

// Destination services: one dense range of 65536 slots per family. TCP and UDP are indexed by
// destination port; ICMP and ICMPv6 by type << 8 | code.
enum class ServiceFamily : uint8_t { tcp = 0, udp = 1, icmp = 2, icmpv6 = 3 };
inline constexpr unsigned kServiceFamilies = 4;
inline constexpr unsigned kServiceSlots = kServiceFamilies * 65536;

struct ServicePacketsBytes {
    PacketsBytes all;
    PacketsBytes probe;
};

inline constexpr uint32_t service_slot(ServiceFamily family, uint16_t index) {
    return static_cast<uint32_t>(family) << 16 | index;
}

// Packets, bytes and unique sources of one key of a bounded table. Unique counters take precise
// sketches from the table owner's pool as they grow (darkscope/sketch_pool.hpp).
struct SourceCounts {
    PacketsBytes pb;
    PooledUniques sources;
    void add(uint64_t len, uint64_t src_hash, SketchPool* pool) {
        pb.add(len);
        sources.add_hash(src_hash, pool);
    }
    void merge(const SourceCounts& o, SketchPool* pool, const SketchPool* o_pool) {
        pb.merge(o.pb);
        sources.merge(o.sources, pool, o_pool);
    }
};

// Packets, bytes, unique sources, destinations and source ASNs of one service. The worker
// counts pb and destinations per packet (the sources and ASNs are counted per tuple on the stats
// core), so those two come first: an entry is line-aligned, and a promoted key's packet then
// touches one line of it (pb and the pooled handle) instead of two.
struct ServiceCounts {
    PacketsBytes pb;
    PooledUniques destinations;
    PooledUniques sources;
    PooledUniques asns;
    void merge(const ServiceCounts& o, SketchPool* pool, const SketchPool* o_pool) {
        pb.merge(o.pb);
        sources.merge(o.sources, pool, o_pool);
        destinations.merge(o.destinations, pool, o_pool);
        asns.merge(o.asns, pool, o_pool);
    }
};
static_assert(offsetof(ServiceCounts, destinations) + sizeof(uint32_t) <= 64,
              "the per-packet fields of ServiceCounts share its first line");
static_assert(sizeof(ServiceCounts) % 64 == 0, "each entry of a line-aligned array starts a line");

// One backscatter victim (the backscatter's source) in an interval: what DoS inference needs.
struct VictimCounts {
    PacketsBytes pb;
    TinyHyperLogLog destinations;  // dark addresses the victim's replies reached
    uint64_t first_ns, last_ns;    // packet time (offline) or wall time (live)
    uint64_t minute;               // current minute (time / 60 s) and its packets
    uint64_t minute_packets;
    uint64_t peak_minute_packets;  // largest per-minute count seen
    IpAddress addr;
    uint8_t family;
    TrafficClass cls;  // the class of the first packet: the attack vector
    uint8_t proto;
    uint8_t icmp_type;
    uint8_t quoted_proto;
    uint16_t port;  // victim port: source port of TCP/UDP backscatter
    uint16_t quoted_port;
    uint8_t tcp_flags;
    uint16_t country;
    uint32_t asn;
    void merge(const VictimCounts& o, SketchPool*, const SketchPool*) {
        if (o.pb.packets == 0)
            return;
        if (pb.packets == 0) {
            *this = o;
            return;
        }
        pb.merge(o.pb);
        destinations.merge(o.destinations);
        first_ns = std::min(first_ns, o.first_ns);
        last_ns = std::max(last_ns, o.last_ns);
        if (o.minute == minute) {
            minute_packets += o.minute_packets;
        } else if (o.minute > minute) {
            minute = o.minute;
            minute_packets = o.minute_packets;
        }
        peak_minute_packets =
            std::max({peak_minute_packets, o.peak_minute_packets, minute_packets});
    }
};

// A bounded open-addressing table keyed by a 64-bit key, single writer. Keys that do not fit go
// to `other`, so a view of the table still sums to the total, and `other` is reported.
template <typename Payload, unsigned Capacity>
struct KeyedTable {
    static_assert((Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");
    static constexpr unsigned kCapacity = Capacity;
    static constexpr unsigned kMaxProbe = 32;
    uint64_t keys[Capacity];  // key + 1; 0 marks an empty slot
    // Line-aligned, so that a payload's first fields (what the workers count per packet) sit in
    // one line with the payload's start.
    alignas(64) Payload values[Capacity];
    Payload other;
    uint32_t used;
    // The slot of each used key, in the order the keys came: merge, clear and for_each walk these
    // `used` slots, so an interval that held few keys costs little to close.
    uint16_t order[Capacity];
    static_assert(Capacity <= 65536, "a slot number fits order[]");

    Payload* find_or_insert(uint64_t key) { return this->template probe<true>(key); }
    // The key's home slot, ahead of at(): lets a burst's cache misses overlap. Returns the
    // home payload, whose other lines the caller may prefetch as well.
    const Payload* prefetch(uint64_t key) const {
        const unsigned slot = static_cast<unsigned>(hash_value(key + 1)) & (Capacity - 1);
        __builtin_prefetch(&keys[slot], 1);
        __builtin_prefetch(&values[slot], 1);
        return &values[slot];
    }
    Payload& at(uint64_t key) {
        Payload* p = find_or_insert(key);
        return p != nullptr ? *p : other;
    }
    const Payload* find(uint64_t key) const {
        return const_cast<KeyedTable*>(this)->template probe<false>(key);
    }
    // Every key with its payload, in the order the keys came.
    template <typename F>
    void for_each(F&& f) const {
        for (uint32_t i = 0; i < used; ++i)
            f(keys[order[i]] - 1, values[order[i]]);
    }
    // Payload merges take the pools that own their sketches (this table's, then o's).
    void merge(const KeyedTable& o, SketchPool* pool, const SketchPool* o_pool) {
        for (uint32_t i = 0; i < o.used; ++i)
            at(o.keys[o.order[i]] - 1).merge(o.values[o.order[i]], pool, o_pool);
        other.merge(o.other, pool, o_pool);
    }
    // Into an empty (all-zero) table: the used slots where they sit here, touching only them
    // (a published copy, copy_counters).
    void copy_used_to(KeyedTable& dst) const {
        for (uint32_t i = 0; i < used; ++i) {
            const unsigned slot = order[i];
            dst.keys[slot] = keys[slot];
            dst.values[slot] = values[slot];
            dst.order[i] = order[i];
        }
        dst.other = other;
        dst.used = used;
    }
    // Empty again, touching the used slots only (their sketches go back with the pool's clear).
    void clear() {
        for (uint32_t i = 0; i < used; ++i) {
            keys[order[i]] = 0;
            values[order[i]] = Payload{};
        }
        other = Payload{};
        used = 0;
    }

  private:
    // Linear probing from the key's home slot, at most kMaxProbe slots; Insert claims the first
    // empty slot on the way.
    template <bool Insert>
    Payload* probe(uint64_t key) {
        const uint64_t stored = key + 1;
        const unsigned home = static_cast<unsigned>(hash_value(stored)) & (Capacity - 1);
        for (unsigned step = 0; step < kMaxProbe; ++step) {
            const unsigned s = (home + step) & (Capacity - 1);
            if (keys[s] == stored)
                return &values[s];
            if (keys[s] == 0) {
                if constexpr (!Insert)
                    return nullptr;
                keys[s] = stored;
                order[used++] = static_cast<uint16_t>(s);
                return &values[s];
            }
        }
        return nullptr;
    }
};

inline constexpr uint64_t kProbeServiceBit = uint64_t{1} << 32;

// The services of a counter set, keyed by service_key (a service slot, with kProbeServiceBit for
// a probe class). That key space is small (2^19 keys), so a key's entry is found with one load
// from `index` (2 bytes a key, 1 MiB) rather than by hashing and probing. A hashed table of the
// same capacity cost a packet about 70 instructions in the benchmark: its port mix has ~90,000
// service keys, they fill 8,192 entries within seconds, and then each packet of a key not held
// probed all 32 slots of its run before it went to `other`. Here such a packet costs the same
// load as any other. Keys past the capacity go to `other`, as KeyedTable's do; entries are held
// in the order their keys came (for_each's order).
struct ServiceTable {
    static constexpr unsigned kCapacity = 8192;
    static constexpr uint32_t kSlotBits = 18;  // service_slot: family << 16 | index
    static constexpr uint32_t kKeySpace = 1u << (kSlotBits + 1);
    static_assert(kServiceSlots == 1u << kSlotBits, "a service slot fits kSlotBits");
    static_assert(kCapacity < 65536, "an entry number fits index[]");

    uint16_t index[kKeySpace];  // per key: its entry + 1, 0 while not held
    uint64_t keys[kCapacity];   // the key of each used entry
    // Line-aligned: a payload's first fields (what the workers count per packet) share a line.
    alignas(64) ServiceCounts values[kCapacity];
    ServiceCounts other;
    uint32_t used;

    // Where `key` sits in index[], or kKeySpace for a value no service_key gives.
    static uint32_t index_of(uint64_t key) {
        const bool valid = (key & ~(kProbeServiceBit | (kServiceSlots - 1))) == 0;
        return valid ? static_cast<uint32_t>(key) << 1 | static_cast<uint32_t>(key >> 32)
                     : kKeySpace;
    }
    ServiceCounts* find_or_insert(uint64_t key) {
        const uint32_t i = index_of(key);
        if (i == kKeySpace) [[unlikely]]
            return nullptr;
        if (index[i] != 0) [[likely]]
            return &values[index[i] - 1];
        if (used == kCapacity)
            return nullptr;
        keys[used] = key;
        index[i] = static_cast<uint16_t>(++used);
        return &values[used - 1];
    }
    // The line of index[] that at(key) reads, ahead of it.
    void prefetch(uint64_t key) const {
        const uint32_t i = index_of(key);
        if (i != kKeySpace)
            __builtin_prefetch(&index[i], 0);
    }
    ServiceCounts& at(uint64_t key) {
        ServiceCounts* p = find_or_insert(key);
        return p != nullptr ? *p : other;
    }
    const ServiceCounts* find(uint64_t key) const {
        const uint32_t i = index_of(key);
        return i != kKeySpace && index[i] != 0 ? &values[index[i] - 1] : nullptr;
    }
    template <typename F>
    void for_each(F&& f) const {
        for (uint32_t e = 0; e < used; ++e)
            f(keys[e], values[e]);
    }
    void merge(const ServiceTable& o, SketchPool* pool, const SketchPool* o_pool) {
        for (uint32_t e = 0; e < o.used; ++e)
            at(o.keys[e]).merge(o.values[e], pool, o_pool);
        other.merge(o.other, pool, o_pool);
    }
    // Into an empty (all-zero) table: the used entries and their index words only.
    void copy_used_to(ServiceTable& dst) const {
        for (uint32_t e = 0; e < used; ++e) {
            const uint32_t i = index_of(keys[e]);
            dst.index[i] = index[i];
            dst.keys[e] = keys[e];
            dst.values[e] = values[e];
        }
        dst.other = other;
        dst.used = used;
    }
    // Empty again, touching the used entries and their index words only.
    void clear() {
        for (uint32_t e = 0; e < used; ++e) {
            index[index_of(keys[e])] = 0;
            values[e] = ServiceCounts{};
        }
        other = ServiceCounts{};
        used = 0;
    }
    // Every service slot (key without kProbeServiceBit) of a held key, once. The workers count
    // a packet's dense service slot and its entry here together, so while no key went to `other`
    // (full() is false) these are all the service slots a set counted.
    template <typename F>
    void for_each_slot(F&& f) const {
        for (uint32_t e = 0; e < used; ++e) {
            const uint64_t key = keys[e];
            // A slot held both ways is visited from its key without the probe bit.
            if ((key & kProbeServiceBit) != 0 && find(key & ~kProbeServiceBit) != nullptr)
                continue;
            f(static_cast<uint32_t>(key & ~kProbeServiceBit));
        }
    }
    bool full() const { return used == kCapacity; }
};

using AsnTable = KeyedTable<SourceCounts, 4096>;     // key: AS number (0 = unknown)
using CrossTable = KeyedTable<SourceCounts, 4096>;   // key: two indices, see cross_key
using VictimTable = KeyedTable<VictimCounts, 4096>;  // key: victim address hash

inline constexpr uint64_t cross_key(uint32_t a, uint32_t b) {
    return uint64_t{a} << 32 | b;
}

struct alignas(64) CounterSet {
    uint64_t packets;
    uint64_t bytes;
    uint64_t ipv4;
    uint64_t ipv6;
    uint64_t unmatched;    // IP packets whose destination is in no sensor
    uint64_t first_ts_ns;  // packet time of the first and last packet (offline mode)
    uint64_t last_ts_ns;
    // The workers' tuple aggregation (darkscope/source_tuples.hpp): tuples counted into this set,
    // and IP packets the tuple tables could not take (no room for a new tuple, no destination
    // sketch left, a counter at its limit, a time past 2106) and that were counted one by one
    // (raise --tuple-entries when this is not 0: it costs speed, never accuracy).
    uint64_t source_tuples;
    uint64_t source_spills;
    uint64_t proto[static_cast<unsigned>(Proto::count_)];  // [none] = not IP
    PacketsBytes classes[static_cast<unsigned>(TrafficClass::count_)];
    // Packets per combination of Flag bits: one add per packet, where a count per flag took a
    // loop over the packet's bits (a branch that mispredicts with their number). flag_count()
    // sums a flag's combinations when it is read.
    uint64_t flag_sets[1u << kFlagCount];
    uint64_t errors[static_cast<unsigned>(DecodeError::count_)];  // [none] = decoded fine
    PacketsBytes sensors[kMaxSensors + 1];
    PacketsBytes countries[kCountrySlots];
    AsnTable asns;
    // Unique counts. One 64-bit hash of each address, computed once per packet, feeds them all;
    // sketches merge by union across workers and windows. The run-wide counts use P = 16, the
    // sensors P = 14; per-country and per-key counters are exact up to 32 and then take a P = 14
    // sketch from `pool` (darkscope/sketch_pool.hpp, docs/metrics.md).
    PreciseHyperLogLog total_sources;
    // Not counted per packet: every IP packet's destination lands in exactly one of
    // sensor_destinations[] (the unmatched slot included), so the stats core folds their union in
    // (fold_total_destinations) when it retires a worker's set, and the worker saves a sketch
    // update and a line per packet. Union is exact for sketches of one precision.
    HyperLogLog total_destinations;
    HyperLogLog total_asns;
    HyperLogLog sensor_sources[kMaxSensors + 1];
    HyperLogLog sensor_destinations[kMaxSensors + 1];
    HyperLogLog sensor_asns[kMaxSensors + 1];
    PooledUniques country_sources[kCountrySlots];
    PooledUniques country_destinations[kCountrySlots];
    PooledUniques country_asns[kCountrySlots];
    // From here on, copy_counters copies member by member what was counted (the tables' used
    // entries, the counted service slots), not the 20 MiB these members take: a new member goes
    // above this line, or into copy_counters.
    ServiceTable services;       // probe classes under slot | kProbeServiceBit, others under slot
    CrossTable sensor_service;   // probe classes: cross_key(sensor slot, service slot)
    CrossTable country_service;  // probe classes: cross_key(country, service slot)
    CrossTable sensor_country;   // every IP packet: cross_key(sensor slot, country)
    VictimTable victims;         // backscatter classes, by victim
    // Every service's packets and bytes: `all` counts every packet with valid L4 fields
    // (backscatter included), `probe` the probe classes only (tcp_scan, udp_probe, icmp_probe:
    // what scanners want). Side by side, so a probe packet touches one line, not two.
    alignas(64) ServicePacketsBytes service_slots[kServiceSlots];
    // The precise sketches of this set's per-key counters. Not owned: the worker (hugepages) or
    // the stats core (heap) attaches it; clear() clears it too; merge() reads o.pool.
    SketchPool* pool;
    // Set by a path that counts service_slots[] without the services table (the benchmark's
    // `count` stage): clear, merge and for_each_service_slot then visit every slot. Kept by clear.
    bool untracked_service_slots;

    // A set is about 25 MiB, of which an interval touches little. Its all-zero bytes are its
    // empty state (tested), so zeroed() takes the kernel's zero pages as a new set, which cost
    // neither a memset nor memory until they are written (darkscope/zeroed_pages.hpp): operator
    // new returns such pages, and an allocation function implicitly creates an object of an
    // implicit-lifetime type (an aggregate with a trivial destructor) in them, so no constructor
    // needs to write them. `new CounterSet()` works too, at the cost of zeroing it. The workers'
    // sets live in EAL memory instead (lib/capture/worker_tables.cpp).
    static CounterSet* zeroed() {
        return static_cast<CounterSet*>(operator new(sizeof(CounterSet)));
    }
    static void* operator new(std::size_t bytes);
    static void* operator new(std::size_t bytes, std::align_val_t);
    static void operator delete(void* p, std::size_t bytes);
    static void operator delete(void* p, std::size_t bytes, std::align_val_t);

    // Empty again; touches what was counted (the sketches and table entries used), not the
    // whole set, so closing an interval that held little costs little.
    void clear();
    void merge(const CounterSet& o);
    // Every service slot that may be non-zero in service_slots[], in no particular order: the
    // services' keys, or all kServiceSlots when the service table overflowed.
    template <typename F>
    void for_each_service_slot(F&& f) const {
        if (services.full() || untracked_service_slots) {
            for (uint32_t slot = 0; slot < kServiceSlots; ++slot)
                f(slot);
        } else {
            services.for_each_slot(f);
        }
    }
    // Keys counted in a P = 8 sketch because the pool was exhausted (see sketch_pool.hpp).
    uint64_t degraded_keys() const;
    // Estimate of one of this set's pooled counters.
    uint64_t uniques(const PooledUniques& u) const { return u.estimate(pool); }
    // Packets with Flag bit `bit` set.
    uint64_t flag_count(unsigned bit) const {
        uint64_t n = 0;
        for (unsigned set = 0; set < std::size(flag_sets); ++set)
            n += (set >> bit & 1) != 0 ? flag_sets[set] : 0;
        return n;
    }
};

// An implicit-lifetime type (zeroed()), copied page by page (copy_counters).
static_assert(std::is_aggregate_v<CounterSet> && std::is_trivially_destructible_v<CounterSet>);
static_assert(std::is_trivially_copyable_v<CounterSet>);

// A copy of `c` with its own copy of the pool (only the used sketches), for a published
// snapshot: the copy stays valid and unchanged while `c` goes on counting.
std::shared_ptr<const CounterSet> copy_counters(const CounterSet& c);

// Is this class one of those `top/ports` ranks by default (interest in a service)?
inline constexpr bool is_probe_class(TrafficClass c) {
    return c == TrafficClass::tcp_scan || c == TrafficClass::udp_probe ||
           c == TrafficClass::icmp_probe;
}

// A packet's slot in the per-sensor arrays (kSensorSlotUnmatched when its destination is in no
// sensor) and in the per-country arrays (0, "??", for an unknown or out-of-range country).
inline unsigned sensor_slot_of(const PacketFacts& f) {
    return f.sensor >= kMaxSensors ? kSensorSlotUnmatched : f.sensor;
}
inline unsigned country_slot_of(const PacketFacts& f) {
    return f.country < kCountrySlots ? f.country : 0;
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

// The keys an IP packet's source-side counters are indexed by (count_source).
struct SourceKey {
    uint32_t asn;
    uint16_t country;  // country slot, 0 = "??"
    uint8_t sensor;    // sensor slot, kSensorSlotUnmatched when the destination is in none
    bool probe;        // a probe class: counted under the probe service key and the crosses
    int32_t service;   // service slot, -1 when the packet has no valid L4
};

inline SourceKey source_key_of(const PacketFacts& f) {
    SourceKey k;
    k.asn = f.asn;
    k.country = static_cast<uint16_t>(country_slot_of(f));
    k.sensor = static_cast<uint8_t>(sensor_slot_of(f));
    k.probe = is_probe_class(f.cls);
    k.service = service_slot_of(f);
    return k;
}

inline uint64_t service_key(int32_t slot, bool probe) {
    return static_cast<uint64_t>(slot) | (probe ? kProbeServiceBit : 0);
}

// The counting of one IP packet is split in two sides:
//   - the destination side (count_destination_side): the dense counters, the destination
//     sketches, the service's packets and bytes, and the DoS victims. It changes with every
//     packet, so the worker counts it per packet;
//   - the source side (count_source): everything keyed by the source or its ASN. It depends on
//     the packet only through its SourceKey and source, so the worker aggregates packets per
//     tuple (darkscope/source_tuples.hpp) and the stats core counts each tuple once, weighted.
// count_packet does both for one packet: the plain path, and the truth the worker's split is
// tested against.

// The worker computes a packet's SourceKey once (source_key_of) and hands it to each step below:
// the slots it holds (sensor, country, service) index the destination side too, and working
// them out again in every step cost ~30 instructions a packet.

// The worker counts an IP packet's destination side in steps a few packets apart (so the misses
// on the large tables overlap): prefetch_destination_side, then resolve_service once that line
// has arrived, then count_destination_counters. The destination sketches come last, and only for
// a packet whose destination its source tuple does not hold (TupleAdd):
// prefetch_destination_sketches, then count_destination_sketches. Lines that are mostly cached
// are not prefetched (the busy services' entries, the countries' sketch handles): on the AMD
// EPYC guest, prefetching them as well was 8% slower (docs/performance.md).

// The lines of the packet's service slot and service index entry.
inline void prefetch_destination_side(const CounterSet& t, const SourceKey& k) {
    if (k.service >= 0) {
        __builtin_prefetch(&t.service_slots[k.service], 0);
        t.services.prefetch(service_key(k.service, k.probe));  // its entry number
    }
}

// The service entry of a packet (null when it has no service), once its index line has arrived.
inline ServiceCounts* resolve_service(CounterSet& t, const SourceKey& k) {
    return k.service < 0 ? nullptr : &t.services.at(service_key(k.service, k.probe));
}

// The registers count_destination_sketches(t, k, service, dst_hash) will write. Reads the
// country's and the service's sketch handles: call once their lines are cached.
inline void prefetch_destination_sketches(const CounterSet& t, const SourceKey& k,
                                          const ServiceCounts* service, uint64_t dst_hash) {
    t.sensor_destinations[k.sensor].prefetch(dst_hash);
    t.country_destinations[k.country].prefetch(dst_hash, t.pool);
    if (service != nullptr)
        service->destinations.prefetch(dst_hash, t.pool);
}

// The dense counters every packet has (IP or not).
inline void count_dense_totals(CounterSet& t, const PacketFacts& f) {
    const uint64_t len = f.frame_len;
    ++t.packets;
    t.bytes += len;
    t.ipv4 += f.ip_version == 4;
    t.ipv6 += f.ip_version == 6;
    ++t.proto[static_cast<unsigned>(f.proto)];
    t.classes[static_cast<unsigned>(f.cls)].add(len);
    ++t.errors[static_cast<unsigned>(f.error)];
    ++t.flag_sets[f.flags & (std::size(t.flag_sets) - 1)];
}

// Counts one IP packet's dense counters (everything but the sketches and bounded tables); k is
// source_key_of(f).
inline void count_dense(CounterSet& t, const PacketFacts& f, const SourceKey& k) {
    count_dense_totals(t, f);
    const uint64_t len = f.frame_len;
    t.unmatched += k.sensor == kSensorSlotUnmatched;
    t.sensors[k.sensor].add(len);
    t.countries[k.country].add(len);
    if (k.service >= 0) {
        t.service_slots[k.service].all.add(len);
        if (k.probe)
            t.service_slots[k.service].probe.add(len);
    }
}

// The same for any packet: a packet that is not IP has only the totals.
inline void count_dense(CounterSet& t, const PacketFacts& f) {
    if (f.ip_version == 0)
        count_dense_totals(t, f);
    else
        count_dense(t, f, source_key_of(f));
}

void count_victim(CounterSet& t, const PacketFacts& f, uint64_t now_ns, uint64_t src_hash,
                  uint64_t dst_hash);

inline bool is_backscatter_class(TrafficClass c) {
    return c == TrafficClass::tcp_backscatter || c == TrafficClass::udp_backscatter ||
           c == TrafficClass::icmp_backscatter;
}

// The victim of a backscatter packet is its source, except for ICMP errors: a router may send
// those, and the victim is the destination of the quoted attack packet (as Corsaro).
inline bool has_quoted_victim(const PacketFacts& f) {
    return f.cls == TrafficClass::icmp_backscatter && f.quoted_valid;
}
// The victim's key in CounterSet::victims (src_hash: the packet's source hash).
inline uint64_t victim_key(const PacketFacts& f, uint64_t src_hash) {
    return has_quoted_victim(f) ? hash_address(f.quoted_dst, f.ip_version) : src_hash;
}
// The victim's lines, a few packets ahead of count_victim (backscatter is ~10% of darknet
// packets, and each one's victim entry is a random line of a 4096-entry table).
inline void prefetch_victim(const CounterSet& t, const PacketFacts& f, uint64_t src_hash) {
    if (is_backscatter_class(f.cls)) [[unlikely]]
        t.victims.prefetch(victim_key(f, src_hash));
}

// The destination side of one IP packet (ip_version != 0) whose SourceKey is k, but its
// destination sketches; `service` from resolve_service.
inline void count_destination_counters(CounterSet& t, const PacketFacts& f, const SourceKey& k,
                                       ServiceCounts* service, uint64_t now_ns, uint64_t src_hash,
                                       uint64_t dst_hash) {
    count_dense(t, f, k);
    if (service != nullptr)
        service->pb.add(f.frame_len);
    if (is_backscatter_class(f.cls)) [[unlikely]]
        count_victim(t, f, now_ns, src_hash, dst_hash);
}

// The destination (hash dst_hash) of a packet with key k into the sketches of its sensor,
// country and service (`service` from resolve_service): per packet, or per inline destination of
// a tuple (count_tuples). Adding a destination again changes none of them.
inline void count_destination_sketches(CounterSet& t, const SourceKey& k, ServiceCounts* service,
                                       uint64_t dst_hash) {
    t.sensor_destinations[k.sensor].add_hash(dst_hash);
    t.country_destinations[k.country].add_hash(dst_hash, t.pool);
    if (service != nullptr)
        service->destinations.add_hash(dst_hash, t.pool);
}

// The whole destination side of one IP packet, but total_destinations (which
// fold_total_destinations completes).
inline void count_destination_side(CounterSet& t, const PacketFacts& f, const SourceKey& k,
                                   ServiceCounts* service, uint64_t now_ns, uint64_t src_hash,
                                   uint64_t dst_hash) {
    count_destination_counters(t, f, k, service, now_ns, src_hash, dst_hash);
    count_destination_sketches(t, k, service, dst_hash);
}

// Adds the union of the per-sensor destination sketches to total_destinations: what adding each
// packet's destination would give, bit for bit. The stats core calls it once per retired worker
// set (before merging it); a set counted with count_packet needs no fold.
void fold_total_destinations(CounterSet& t);

// The line of the service index count_source(t, ..., k, ...) will read, a few tuples ahead: the
// stats core replays ~10^6 tuples an interval in a random order of services.
inline void prefetch_source_side(const CounterSet& t, const SourceKey& k) {
    if (k.service >= 0)
        t.services.prefetch(service_key(k.service, k.probe));
}

// The source side of `packets` packets (`bytes` bytes) from the source whose hash is src_hash,
// all with key k: per tuple on the stats core (count_tuples), per packet for what the worker's
// tuple tables do not hold (spills) and on the plain path.
void count_source(CounterSet& t, uint64_t src_hash, const SourceKey& k, uint64_t packets,
                  uint64_t bytes);

// Counts one classified, attributed packet at time `now_ns`: both sides, for a single packet
// (tests, the plain path). Called by the worker that owns `t`, never concurrently.
// `dense_only` skips the sketches and bounded tables (the benchmark's `count` stage).
inline void count_packet(CounterSet& t, const PacketFacts& f, uint64_t now_ns, uint64_t src_hash,
                         uint64_t dst_hash, bool dense_only = false) {
    if (dense_only || f.ip_version == 0) {
        count_dense(t, f);
        return;
    }
    const SourceKey k = source_key_of(f);
    count_destination_side(t, f, k, resolve_service(t, k), now_ns, src_hash, dst_hash);
    t.total_destinations.add_hash(dst_hash);
    count_source(t, src_hash, k, 1, f.frame_len);
}

// "445/tcp", "53/udp", "icmp", "icmpv6" (ICMP ranks as one service, as the public reports do).
std::string service_name(uint32_t slot);
// Detailed name for a slot: "445/tcp", "icmp/8/0", "icmpv6/128/0".
std::string service_detail_name(uint32_t slot);
const char* service_family_name(ServiceFamily f);

}  // namespace darkscope
