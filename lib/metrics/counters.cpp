#include "darkscope/counters.hpp"

#include "darkscope/zeroed_pages.hpp"

#include <cstddef>
#include <cstring>

namespace darkscope {

namespace {
template <typename Sketch>
void clear_used(Sketch& s) {
    if (!s.empty())
        s.clear();
}
void clear_used(PooledUniques& u) {
    if (u.handle != 0 || !u.inline_sketch.empty())
        u = PooledUniques{};
}
}  // namespace

// A set is 10 MiB, most of it the service slots and the sketches of sensors and countries that
// an interval rarely touches: clearing it whole cost every interval the same (milliseconds, with
// page faults on a fresh heap), however little it held. Only what was counted is cleared here.
void CounterSet::clear() {
    // The service slots first: services tells which were counted.
    if (services.full() || untracked_service_slots) {
        std::memset(static_cast<void*>(service_slots), 0, sizeof service_slots);
    } else {
        services.for_each_slot([&](uint32_t slot) { service_slots[slot] = {}; });
    }
    services.clear();
    asns.clear();
    sensor_service.clear();
    country_service.clear();
    sensor_country.clear();
    victims.clear();
    clear_used(total_sources);
    clear_used(total_destinations);
    clear_used(total_asns);
    // A sensor's or country's sketches are written only with a packet counted in its dense
    // slot (sensors[], countries[]: a few KiB, cleared below), as merge() relies on too. Asking
    // each of the 768 sensor sketches whether it is empty touched a page apiece (16 KiB each),
    // and that was most of what closing a nearly empty interval cost.
    for (unsigned i = 0; i <= kMaxSensors; ++i) {
        if (sensors[i].packets == 0)
            continue;
        clear_used(sensor_sources[i]);
        clear_used(sensor_destinations[i]);
        clear_used(sensor_asns[i]);
    }
    for (unsigned i = 0; i < kCountrySlots; ++i) {
        if (countries[i].packets == 0)
            continue;
        clear_used(country_sources[i]);
        clear_used(country_destinations[i]);
        clear_used(country_asns[i]);
    }
    // The dense counters ahead of the tables: a few KiB.
    std::memset(static_cast<void*>(this), 0, offsetof(CounterSet, asns));
    if (pool != nullptr)
        pool->clear();
}

uint64_t CounterSet::degraded_keys() const {
    uint64_t n = 0;
    auto count = [&](const PooledUniques& u) { n += u.degraded(); };
    for (unsigned i = 0; i < kCountrySlots; ++i) {
        count(country_sources[i]);
        count(country_destinations[i]);
        count(country_asns[i]);
    }
    asns.for_each([&](uint64_t, const SourceCounts& v) { count(v.sources); });
    services.for_each([&](uint64_t, const ServiceCounts& v) {
        count(v.sources);
        count(v.destinations);
        count(v.asns);
    });
    for (const CrossTable* t : {&sensor_service, &country_service, &sensor_country})
        t->for_each([&](uint64_t, const SourceCounts& v) { count(v.sources); });
    return n;
}

namespace {
// `c` into zero pages, reading and writing only what was counted: the members above `services`
// page by page where they are not zero, the tables' used entries and the counted service slots
// one by one. A window that counted little is published for what it counted, not for its
// 25 MiB, and the copy takes memory for that much.
void copy_counted(CounterSet& dst, const CounterSet& c) {
    static_assert(
        offsetof(CounterSet, services) < offsetof(CounterSet, sensor_service) &&
            offsetof(CounterSet, sensor_service) < offsetof(CounterSet, country_service) &&
            offsetof(CounterSet, country_service) < offsetof(CounterSet, sensor_country) &&
            offsetof(CounterSet, sensor_country) < offsetof(CounterSet, victims) &&
            offsetof(CounterSet, victims) < offsetof(CounterSet, service_slots) &&
            offsetof(CounterSet, service_slots) < offsetof(CounterSet, pool) &&
            offsetof(CounterSet, pool) < offsetof(CounterSet, untracked_service_slots),
        "copy_counted copies the members from `services` on one by one, in this order");
    copy_nonzero_pages(&dst, &c, offsetof(CounterSet, services));
    c.services.copy_used_to(dst.services);
    c.sensor_service.copy_used_to(dst.sensor_service);
    c.country_service.copy_used_to(dst.country_service);
    c.sensor_country.copy_used_to(dst.sensor_country);
    c.victims.copy_used_to(dst.victims);
    if (c.services.full() || c.untracked_service_slots)
        copy_nonzero_pages(dst.service_slots, c.service_slots, sizeof c.service_slots);
    else
        c.services.for_each_slot(
            [&](uint32_t slot) { dst.service_slots[slot] = c.service_slots[slot]; });
    dst.pool = c.pool;
    dst.untracked_service_slots = c.untracked_service_slots;
}

struct CounterSetCopy {
    std::unique_ptr<CounterSet> set;
    SketchPool pool;
    explicit CounterSetCopy(const CounterSet& c)
        : set(CounterSet::zeroed()), pool(c.pool != nullptr ? *c.pool : SketchPool()) {
        copy_counted(*set, c);
        set->pool = &pool;
    }
};
}  // namespace

void* CounterSet::operator new(std::size_t bytes) {
    return allocate_zeroed_pages(bytes);
}
void* CounterSet::operator new(std::size_t bytes, std::align_val_t) {
    return allocate_zeroed_pages(bytes);  // page-aligned
}
void CounterSet::operator delete(void* p, std::size_t bytes) {
    free_zeroed_pages(p, bytes);
}
void CounterSet::operator delete(void* p, std::size_t bytes, std::align_val_t) {
    free_zeroed_pages(p, bytes);
}

std::shared_ptr<const CounterSet> copy_counters(const CounterSet& c) {
    auto holder = std::make_shared<CounterSetCopy>(c);
    return std::shared_ptr<const CounterSet>(holder, holder->set.get());
}

void CounterSet::merge(const CounterSet& o) {
    if (o.packets == 0)
        return;
    if (packets == 0 || (o.first_ts_ns != 0 && o.first_ts_ns < first_ts_ns))
        first_ts_ns = o.first_ts_ns;
    if (o.last_ts_ns > last_ts_ns)
        last_ts_ns = o.last_ts_ns;
    untracked_service_slots |= o.untracked_service_slots;
    packets += o.packets;
    bytes += o.bytes;
    ipv4 += o.ipv4;
    ipv6 += o.ipv6;
    unmatched += o.unmatched;
    source_tuples += o.source_tuples;
    source_spills += o.source_spills;
    for (unsigned i = 0; i < std::size(proto); ++i)
        proto[i] += o.proto[i];
    for (unsigned i = 0; i < std::size(classes); ++i)
        classes[i].merge(o.classes[i]);
    for (unsigned i = 0; i < std::size(flag_sets); ++i)
        flag_sets[i] += o.flag_sets[i];
    for (unsigned i = 0; i < std::size(errors); ++i)
        errors[i] += o.errors[i];
    for (unsigned i = 0; i < std::size(sensors); ++i)
        sensors[i].merge(o.sensors[i]);
    for (unsigned i = 0; i < std::size(countries); ++i)
        countries[i].merge(o.countries[i]);
    asns.merge(o.asns, pool, o.pool);
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
        country_sources[i].merge(o.country_sources[i], pool, o.pool);
        country_destinations[i].merge(o.country_destinations[i], pool, o.pool);
        country_asns[i].merge(o.country_asns[i], pool, o.pool);
    }
    services.merge(o.services, pool, o.pool);
    sensor_service.merge(o.sensor_service, pool, o.pool);
    country_service.merge(o.country_service, pool, o.pool);
    sensor_country.merge(o.sensor_country, pool, o.pool);
    victims.merge(o.victims, pool, o.pool);
    // The service arrays are large and mostly zero: visit o's counted slots only. Their keys
    // came into services above, so this set's clear() finds them too.
    o.for_each_service_slot([&](uint32_t i) {
        if (o.service_slots[i].all.packets != 0) {
            service_slots[i].all.merge(o.service_slots[i].all);
            service_slots[i].probe.merge(o.service_slots[i].probe);
        }
    });
}

void fold_total_destinations(CounterSet& t) {
    for (unsigned i = 0; i <= kMaxSensors; ++i)
        if (t.sensors[i].packets != 0)
            t.total_destinations.merge(t.sensor_destinations[i]);
}

void count_source(CounterSet& t, uint64_t src_hash, const SourceKey& k, uint64_t packets,
                  uint64_t bytes) {
    SketchPool* pool = t.pool;
    const uint64_t asn_hash = hash_value(k.asn);
    auto add = [&](SourceCounts& c) {
        c.pb.packets += packets;
        c.pb.bytes += bytes;
        c.sources.add_hash(src_hash, pool);
    };
    // The order of the per-packet code this replaces: it decides which keys take the pool's
    // precise sketches first when the pool runs short.
    add(t.asns.at(k.asn));
    t.total_sources.add_hash(src_hash);
    t.total_asns.add_hash(asn_hash);
    t.sensor_sources[k.sensor].add_hash(src_hash);
    t.sensor_asns[k.sensor].add_hash(asn_hash);
    t.country_sources[k.country].add_hash(src_hash, pool);
    t.country_asns[k.country].add_hash(asn_hash, pool);
    add(t.sensor_country.at(cross_key(k.sensor, k.country)));
    if (k.service < 0)
        return;
    ServiceCounts& s = t.services.at(service_key(k.service, k.probe));
    s.sources.add_hash(src_hash, pool);
    s.asns.add_hash(asn_hash, pool);
    if (k.probe) {
        const auto slot = static_cast<uint32_t>(k.service);
        add(t.sensor_service.at(cross_key(k.sensor, slot)));
        add(t.country_service.at(cross_key(k.country, slot)));
    }
}

// Backscatter is a small share of darknet traffic: out of line, off the inlined fast path.
void count_victim(CounterSet& t, const PacketFacts& f, uint64_t now_ns, uint64_t src_hash,
                  uint64_t dst_hash) {
    const bool quoted_victim = has_quoted_victim(f);
    const IpAddress& victim = quoted_victim ? f.quoted_dst : f.src;
    VictimCounts& v = t.victims.at(victim_key(f, src_hash));
    const uint64_t minute = now_ns / 60'000'000'000ull;
    if (v.pb.packets == 0) {
        v.first_ns = now_ns;
        v.minute = minute;
        v.addr = victim;
        v.family = f.ip_version;
        v.cls = f.cls;
        v.proto = f.ip_proto;
        v.tcp_flags = f.tcp_flags;
        v.icmp_type = f.icmp_type;
        v.quoted_proto = f.quoted_valid ? f.quoted_proto : 0;
        v.port = f.proto == Proto::tcp || f.proto == Proto::udp ? f.src_port : 0;
        v.quoted_port = f.quoted_valid ? f.quoted_dst_port : 0;  // the attacked port
        v.country = static_cast<uint16_t>(country_slot_of(f));
        v.asn = f.asn;
    }
    if (minute != v.minute) {
        v.minute = minute;
        v.minute_packets = 0;
    }
    ++v.minute_packets;
    if (v.minute_packets > v.peak_minute_packets)
        v.peak_minute_packets = v.minute_packets;
    v.pb.add(f.frame_len);
    v.destinations.add_hash(dst_hash);
    if (now_ns > v.last_ns)
        v.last_ns = now_ns;
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
