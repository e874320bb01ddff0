// CounterSet: counting, merging and bounded tables, on hand-built PacketFacts. The truth is
// computed here by plain loops over the same facts, not by the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/source_tuples.hpp"
#include "facts_support.hpp"
#include "tuple_support.hpp"

namespace darkscope {
namespace {

void count(CounterSet& t, const PacketFacts& f) {
    count_packet(t, f, 1'000'000'000ull, hash_address(f.src, f.ip_version),
                 hash_address(f.dst, f.ip_version));
}

// A counter set with its own pool of precise sketches, as the worker and stats core attach them.
struct OwnedSet {
    std::unique_ptr<SketchPool> pool;
    std::unique_ptr<CounterSet> set;
    CounterSet* operator->() { return set.get(); }
    CounterSet& operator*() { return *set; }
};

OwnedSet fresh(uint32_t precise_sketches = 512) {
    OwnedSet t{std::make_unique<SketchPool>(precise_sketches), std::make_unique<CounterSet>()};
    t.set->pool = t.pool.get();
    t.set->clear();
    return t;
}

TEST(Counters, CountsEveryDimension) {
    auto t = fresh();
    count(*t, make_syn(0x01020304, 0xcb007101, 445, 0, 10, 4134, 60));
    count(*t, make_syn(0x01020305, 0xcb007102, 445, 1, 10, 4134, 66));
    PacketFacts arp;
    clear(arp);
    arp.frame_len = 42;
    arp.error = DecodeError::non_ip;
    arp.cls = TrafficClass::non_ip;
    arp.sensor = kSensorUnmatched;
    count(*t, arp);
    EXPECT_EQ(t->packets, 3u);
    EXPECT_EQ(t->bytes, 168u);
    EXPECT_EQ(t->ipv4, 2u);
    EXPECT_EQ(t->proto[static_cast<unsigned>(Proto::tcp)], 2u);
    EXPECT_EQ(t->classes[static_cast<unsigned>(TrafficClass::tcp_scan)].packets, 2u);
    EXPECT_EQ(t->classes[static_cast<unsigned>(TrafficClass::non_ip)].packets, 1u);
    EXPECT_EQ(t->sensors[0].packets, 1u);
    EXPECT_EQ(t->sensors[1].bytes, 66u);
    EXPECT_EQ(t->countries[10].packets, 2u);
    const uint32_t slot = service_slot(ServiceFamily::tcp, 445);
    EXPECT_EQ(t->service_slots[slot].probe.packets, 2u);
    EXPECT_EQ(t->service_slots[slot].all.bytes, 126u);
    EXPECT_EQ(t->asns.find(4134)->pb.packets, 2u);
    EXPECT_EQ(t->total_sources.estimate(), 2u);  // exact while sparse
    EXPECT_EQ(t->sensor_service.find(cross_key(1, slot))->pb.packets, 1u);
    EXPECT_EQ(t->uniques(t->country_service.find(cross_key(10, slot))->sources), 2u);
}

TEST(Counters, BackscatterIsNotAProbeAndFindsItsVictim) {
    auto t = fresh();
    PacketFacts f = make_syn(0x0a000001, 0xcb007101, 51000, 0, 0, 0);
    f.src_port = 80;
    f.tcp_flags = tcp_syn | tcp_ack;
    f.cls = TrafficClass::tcp_backscatter;
    for (int i = 0; i < 5; ++i)
        count(*t, f);
    const uint32_t slot = service_slot(ServiceFamily::tcp, 51000);
    EXPECT_EQ(t->service_slots[slot].probe.packets, 0u);
    EXPECT_EQ(t->service_slots[slot].all.packets, 5u);
    const VictimCounts* v = t->victims.find(hash_address(f.src, 4));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->pb.packets, 5u);
    EXPECT_EQ(v->port, 80);
    EXPECT_EQ(v->peak_minute_packets, 5u);
}

// Counting a stream in two halves and merging equals counting it whole, for every counter.
TEST(Counters, MergeOfHalvesEqualsTheWhole) {
    std::mt19937 rng(7);
    auto whole = fresh(), a = fresh(), b = fresh();
    for (int i = 0; i < 20000; ++i) {
        PacketFacts f = make_syn(rng(), 0xcb007100 | (rng() & 0xff), rng() % 2000, rng() % 3,
                                 rng() % 50, rng() % 300, 60 + rng() % 20);
        count(*whole, f);
        count(i % 2 ? *a : *b, f);
    }
    a->merge(*b);
    EXPECT_EQ(a->packets, whole->packets);
    EXPECT_EQ(a->bytes, whole->bytes);
    for (unsigned s = 0; s < kServiceSlots; ++s)
        ASSERT_EQ(a->service_slots[s].all.packets, whole->service_slots[s].all.packets) << s;
    for (unsigned c = 0; c < kCountrySlots; ++c)
        ASSERT_EQ(a->countries[c].bytes, whole->countries[c].bytes) << c;
    // Sketch union: the same registers, so the same estimate.
    EXPECT_EQ(a->total_sources.estimate(), whole->total_sources.estimate());
    EXPECT_EQ(a->sensor_sources[1].estimate(), whole->sensor_sources[1].estimate());
    uint64_t asn_sum = 0;
    a->asns.for_each([&](uint64_t, const SourceCounts& v) { asn_sum += v.pb.packets; });
    EXPECT_EQ(asn_sum + a->asns.other.pb.packets, whole->packets);
}

// Flags are counted per combination of bits (one add per packet) and summed per flag when read:
// each flag's count is the number of packets that carry it, in one set and after a merge.
TEST(Counters, FlagCountsArePacketsWithTheFlag) {
    std::mt19937 rng(11);
    auto a = fresh(), b = fresh();
    uint64_t truth[kFlagCount] = {};
    for (int i = 0; i < 5000; ++i) {
        PacketFacts f = make_syn(rng(), 0xcb007100 | (rng() & 0xff), 80, 0, 1, 1);
        // Mostly none or one flag, some with many, as classified traffic has them.
        f.flags = static_cast<uint16_t>(i % 3 == 0 ? rng() & ((1u << kFlagCount) - 1)
                                                   : (i % 3 == 1 ? 1u << (rng() % kFlagCount) : 0));
        for (unsigned bit = 0; bit < kFlagCount; ++bit)
            truth[bit] += (f.flags >> bit) & 1;
        count(i % 2 ? *a : *b, f);
    }
    for (unsigned bit = 0; bit < kFlagCount; ++bit)
        EXPECT_GT(truth[bit], 0u) << bit;  // every flag is exercised
    uint64_t in_b[kFlagCount];
    for (unsigned bit = 0; bit < kFlagCount; ++bit)
        in_b[bit] = b->flag_count(bit);
    a->merge(*b);
    for (unsigned bit = 0; bit < kFlagCount; ++bit) {
        EXPECT_EQ(a->flag_count(bit), truth[bit]) << "flag bit " << bit;
        EXPECT_LT(in_b[bit], truth[bit]) << "flag bit " << bit;  // b held only its half
    }
}

// A bounded table that overflows still sums to the total through `other`.
TEST(Counters, BoundedTablesSumToTheTotalThroughOther) {
    auto t = fresh();
    std::map<uint32_t, uint64_t> truth;
    for (uint32_t i = 0; i < 20000; ++i) {
        const uint32_t asn = 1 + i % 9000;  // more ASNs than the table holds
        count(*t, make_syn(i, 0xcb007101, 23, 0, 1, asn));
        ++truth[asn];
    }
    uint64_t held = 0;
    t->asns.for_each([&](uint64_t asn, const SourceCounts& v) {
        EXPECT_EQ(v.pb.packets, truth[static_cast<uint32_t>(asn)]) << asn;
        held += v.pb.packets;
    });
    EXPECT_GT(t->asns.other.pb.packets, 0u);
    EXPECT_EQ(held + t->asns.other.pb.packets, 20000u);
}

// The service table holds the first kCapacity keys that come, whatever their slots, and sends
// only later keys to `other`: packets over more TCP, UDP, ICMP and ICMPv6 services (probe and
// not) than it holds, in a shuffled order, against a map of what each key got.
TEST(Counters, ServiceTableHoldsTheFirstKeysAndSendsOnlyTheRestToOther) {
    auto t = fresh();
    std::mt19937 rng(7);
    std::vector<PacketFacts> stream;
    auto retype = [](PacketFacts& f, Proto proto, uint8_t ip_proto, TrafficClass cls) {
        f.proto = proto;
        f.ip_proto = ip_proto;
        f.tcp_flags = 0;
        f.cls = cls;
    };
    for (uint32_t port = 0; port < 12000; ++port) {
        for (unsigned copies = 0; copies < 1 + port % 3; ++copies) {
            PacketFacts f = make_syn(rng(), 0xcb007100 | (rng() & 0xff),
                                     static_cast<uint16_t>(port * 11), 0, 1, 64500);
            // TCP backscatter: a service key without the probe bit, some of them on the slot of a
            // probe key (the second copy of a port that is 0 mod 4)
            switch (port % 4 == 0 && copies == 1 ? 1 : port % 4) {
                case 1:
                    f.tcp_flags = tcp_syn | tcp_ack;
                    f.cls = TrafficClass::tcp_backscatter;
                    break;
                case 2:
                    retype(f, Proto::udp, 17, TrafficClass::udp_probe);
                    break;
                case 3:
                    retype(f, Proto::icmp, 1, TrafficClass::icmp_probe);
                    f.icmp_type = static_cast<uint8_t>(port >> 8);
                    f.icmp_code = static_cast<uint8_t>(port);
                    break;
                default:
                    break;
            }
            stream.push_back(f);
        }
    }
    // The last slot of the key space, IPv6's, taken early.
    PacketFacts last = make_syn(1, 0xcb007101, 0, 0, 1, 64500);
    last.ip_version = 6;
    retype(last, Proto::icmpv6, 58, TrafficClass::icmp_probe);
    last.icmp_type = 0xff;
    last.icmp_code = 0xff;
    std::shuffle(stream.begin(), stream.end(), rng);
    stream.insert(stream.begin() + 10, last);

    std::map<uint64_t, uint64_t> truth;  // key: packets
    std::vector<uint64_t> first_come;    // keys in the order their first packet came
    for (const PacketFacts& f : stream) {
        const int32_t slot = service_slot_of(f);
        ASSERT_GE(slot, 0);
        const uint64_t key = service_key(slot, is_probe_class(f.cls));
        if (truth[key]++ == 0)
            first_come.push_back(key);
        count(*t, f);
    }
    ASSERT_GT(first_come.size(), ServiceTable::kCapacity);
    const std::set<uint64_t> held(first_come.begin(), first_come.begin() + ServiceTable::kCapacity);
    std::vector<uint64_t> order;
    uint64_t held_packets = 0;
    t->services.for_each([&](uint64_t key, const ServiceCounts& v) {
        order.push_back(key);
        EXPECT_EQ(v.pb.packets, truth[key]) << key;
        held_packets += v.pb.packets;
    });
    EXPECT_EQ(order, std::vector<uint64_t>(first_come.begin(),
                                           first_come.begin() + ServiceTable::kCapacity));
    for (const auto& [key, packets] : truth) {
        const ServiceCounts* found = t->services.find(key);
        EXPECT_EQ(found != nullptr, held.count(key) == 1) << key;
    }
    EXPECT_EQ(held_packets + t->services.other.pb.packets, stream.size());
    EXPECT_GT(t->services.other.pb.packets, 0u);
    // No service_key gives these: not found, and at() counts them under `other`.
    EXPECT_EQ(t->services.find(uint64_t{1} << 40), nullptr);
    EXPECT_EQ(t->services.find(kServiceSlots), nullptr);
    EXPECT_EQ(&t->services.at(kServiceSlots | kProbeServiceBit), &t->services.other);
}

TEST(Counters, ClearSkipsUntouchedAndResetsTouched) {
    auto t = fresh();
    count(*t, make_syn(1, 2, 3, 0, 0, 0));
    t->clear();
    EXPECT_EQ(t->packets, 0u);
    EXPECT_EQ(t->service_slots[service_slot(ServiceFamily::tcp, 3)].all.packets, 0u);
    EXPECT_EQ(t->total_sources.estimate(), 0u);
}

// Per-key unique sources, the way the appliance gets them: two workers see overlapping halves of
// the sources (so adding their counts would overshoot by 20 %), the stats core unions them into
// an interval, and two intervals into an hour. The truth is the number of distinct addresses the
// test generated. Every per-key counter must be exact up to 1024 (32 inline, then a precise
// sketch's exact range) and within 2 % beyond, through every merge.
void check_per_key_uniques(uint32_t n) {
    SCOPED_TRACE("sources " + std::to_string(n));
    const uint16_t sensor = 1, country = 42;
    const uint32_t asn = 4134, port = 21318;
    auto worker_a = fresh(), worker_b = fresh(), interval1 = fresh(2048), interval2 = fresh(2048),
         hour = fresh(2048);
    // Sources spread over the address space (a multiplicative step), not one block.
    auto source = [](uint32_t i) { return 0x01000000u + i * 2654435761u; };
    const uint32_t overlap_from = n * 2 / 5, overlap_to = n * 3 / 5;
    for (uint32_t i = 0; i < n; ++i) {
        const PacketFacts f =
            make_syn(source(i), 0xcb007100 | (i & 0xff), port, sensor, country, asn);
        if (i < overlap_to)
            count(*worker_a, f);
        if (i >= overlap_from)
            count(*worker_b, f);
    }
    interval1->merge(*worker_a);
    interval1->merge(*worker_b);
    // A second interval sees the first tenth of the sources again: the hour's count is the union.
    auto worker_c = fresh();
    for (uint32_t i = 0; i < n / 10; ++i)
        count(*worker_c, make_syn(source(i), 0xcb007101, port, sensor, country, asn));
    interval2->merge(*worker_c);
    hour->merge(*interval1);
    hour->merge(*interval2);
    const uint32_t slot = service_slot(ServiceFamily::tcp, port);
    for (OwnedSet* t : {&interval1, &hour}) {
        CounterSet& c = **t;
        const uint64_t got[] = {
            c.uniques(c.services.find(slot | kProbeServiceBit)->sources),
            c.uniques(c.country_sources[country]),
            c.uniques(c.asns.find(asn)->sources),
            c.uniques(c.sensor_service.find(cross_key(sensor, slot))->sources),
            c.uniques(c.country_service.find(cross_key(country, slot))->sources),
            c.uniques(c.sensor_country.find(cross_key(sensor, country))->sources),
            c.sensor_sources[sensor].estimate(),
            c.total_sources.estimate(),
        };
        const char* names[] = {
            "service",           "country",          "asn",    "sensor x service",
            "country x service", "sensor x country", "sensor", "total"};
        for (size_t k = 0; k < std::size(got); ++k) {
            if (n <= 1024)
                EXPECT_EQ(got[k], n) << names[k];
            else
                EXPECT_NEAR(static_cast<double>(got[k]), n, 0.02 * n) << names[k];
        }
        EXPECT_EQ(c.degraded_keys(), 0u);
    }
}

TEST(Counters, PerKeyUniquesExactThenWithinTwoPercent) {
    for (uint32_t n : {1u, 10u, 32u, 33u, 1000u, 1024u, 1025u, 100000u})
        check_per_key_uniques(n);
}

TEST(Counters, PerKeyUniquesOfTenMillionSources) {
    check_per_key_uniques(10'000'000);
}

// When the pool is exhausted a key keeps counting in its inline P = 8 sketch, and says so.
TEST(Counters, ExhaustedPoolDegradesAndReports) {
    auto t = fresh(2);
    for (uint32_t key = 0; key < 3; ++key)
        for (uint32_t i = 0; i < 5000; ++i)
            count(*t, make_syn(key << 24 | i, 0xcb007101, static_cast<uint16_t>(100 + key), 0,
                               static_cast<uint16_t>(1 + key), 0));
    EXPECT_EQ(t.pool->used(), 2u);
    EXPECT_GT(t.pool->refused(), 0u);
    // Countries 1 and 2 took the two sketches; everything after is degraded: country 3, each
    // service key (their sources) and so on. The counts stay estimates of the right size.
    EXPECT_NEAR(static_cast<double>(t->uniques(t->country_sources[1])), 5000, 100);
    EXPECT_TRUE(t->country_sources[3].degraded());
    EXPECT_NEAR(static_cast<double>(t->uniques(t->country_sources[3])), 5000, 0.3 * 5000);
    EXPECT_GT(t->degraded_keys(), 0u);
    // A degraded input degrades the union: precision lost upstream cannot come back.
    auto window = fresh(16);
    window->merge(*t);
    EXPECT_TRUE(window->country_sources[3].degraded());
    EXPECT_FALSE(window->country_sources[1].degraded());
    t->clear();
    EXPECT_EQ(t.pool->used(), 0u);
    EXPECT_EQ(t->degraded_keys(), 0u);
}

// A published copy owns its sketches: counting on afterwards does not change it.
TEST(Counters, CopyForSnapshotIsIndependent) {
    auto t = fresh();
    for (uint32_t i = 0; i < 3000; ++i)
        count(*t, make_syn(i * 7919u, 0xcb007101, 445, 0, 5, 0));
    std::shared_ptr<const CounterSet> copy = copy_counters(*t);
    const uint64_t before = copy->uniques(copy->country_sources[5]);
    EXPECT_EQ(before, t->uniques(t->country_sources[5]));
    for (uint32_t i = 0; i < 3000; ++i)
        count(*t, make_syn(0x80000000u + i, 0xcb007101, 445, 0, 5, 0));
    t->clear();
    EXPECT_EQ(copy->uniques(copy->country_sources[5]), before);
    EXPECT_NEAR(static_cast<double>(before), 3000, 60);
}

// Everything a counter set holds, keyed by what it counts rather than where it sits: bounded
// tables place keys by arrival order and pooled sketches take handles in promotion order, so two
// sets that count the same thing can differ in layout. Sketches by their serialized contents.
std::map<std::string, std::vector<uint8_t>> contents(const CounterSet& t) {
    std::map<std::string, std::vector<uint8_t>> out;
    auto bytes_of = [](const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        return std::vector<uint8_t>(b, b + n);
    };
    auto sketch = [&](const std::string& name, const PooledUniques& u) {
        std::vector<uint8_t> v;
        if (u.handle != 0)
            t.pool->at(u.handle).serialize(v);
        else
            u.inline_sketch.serialize(v);
        out[name] = v;
    };
    out["dense"] = bytes_of(&t.packets, offsetof(CounterSet, asns) - offsetof(CounterSet, packets));
    out["service_slots"] = bytes_of(t.service_slots, sizeof t.service_slots);
    std::vector<uint8_t> v;
    t.total_sources.serialize(v), out["total_sources"] = v, v.clear();
    t.total_destinations.serialize(v), out["total_destinations"] = v, v.clear();
    t.total_asns.serialize(v), out["total_asns"] = v, v.clear();
    for (unsigned i = 0; i <= kMaxSensors; ++i) {
        t.sensor_sources[i].serialize(v), out["sensor_sources" + std::to_string(i)] = v, v.clear();
        t.sensor_destinations[i].serialize(v), out["sensor_dst" + std::to_string(i)] = v, v.clear();
        t.sensor_asns[i].serialize(v), out["sensor_asns" + std::to_string(i)] = v, v.clear();
    }
    for (unsigned i = 0; i < kCountrySlots; ++i) {
        sketch("country_sources" + std::to_string(i), t.country_sources[i]);
        sketch("country_dst" + std::to_string(i), t.country_destinations[i]);
        sketch("country_asns" + std::to_string(i), t.country_asns[i]);
    }
    auto source_table = [&](const char* name, const auto& table) {
        table.for_each([&](uint64_t key, const SourceCounts& c) {
            const std::string k = std::string(name) + std::to_string(key);
            out[k + "/pb"] = bytes_of(&c.pb, sizeof c.pb);
            sketch(k + "/sources", c.sources);
        });
        out[std::string(name) + "/other"] = bytes_of(&table.other.pb, sizeof table.other.pb);
    };
    source_table("asn", t.asns);
    source_table("sensor_service", t.sensor_service);
    source_table("country_service", t.country_service);
    source_table("sensor_country", t.sensor_country);
    t.services.for_each([&](uint64_t key, const ServiceCounts& c) {
        const std::string k = "service" + std::to_string(key);
        out[k + "/pb"] = bytes_of(&c.pb, sizeof c.pb);
        sketch(k + "/sources", c.sources);
        sketch(k + "/destinations", c.destinations);
        sketch(k + "/asns", c.asns);
    });
    t.victims.for_each([&](uint64_t key, const VictimCounts& c) {
        out["victim" + std::to_string(key)] = bytes_of(&c, sizeof c);
    });
    return out;
}

// A darknet-like stream: a few hundred heavy scanners repeating their tuples, one-off sources,
// backscatter, IPv6, non-IP frames, packets with no service (fragments), several sensors.
// `ports`: how many ports the one-off sources spread over (with 40 countries, 40 ports keep
// every bounded table within its capacity; 2000 overflow country x service into `other`).
std::vector<PacketFacts> mixed_stream(unsigned packets, uint32_t seed, unsigned ports = 40) {
    std::mt19937 rng(seed);
    std::vector<PacketFacts> out;
    for (unsigned i = 0; i < packets; ++i) {
        const bool heavy = rng() % 4 != 0;
        const uint32_t src = heavy ? 0x0a000000u + rng() % 200 : rng();
        const uint16_t port = heavy ? static_cast<uint16_t>(23 + rng() % 3)
                                    : static_cast<uint16_t>(1000 + rng() % ports);
        PacketFacts f = make_syn(src, 0xcb007100 | (rng() & 0xff), port, rng() % 3,
                                 static_cast<uint16_t>(1 + src % 40), src % 300, 60 + rng() % 20);
        const unsigned kind = rng() % 20;
        if (kind == 0) {
            f.tcp_flags = tcp_syn | tcp_ack;
            f.cls = TrafficClass::tcp_backscatter;
        } else if (kind == 1) {
            f.ip_version = 6;
            f.src.v6[0] = 0x20;
            f.src.v6[15] = static_cast<uint8_t>(rng() % 50);
            // Attribution follows the address, as a lookup gives it.
            f.country = static_cast<uint16_t>(1 + (f.src.v4 ^ f.src.v6[15]) % 40);
            f.asn = (f.src.v4 ^ f.src.v6[15]) % 300;
        } else if (kind == 2) {
            f.l4_valid = false;  // a non-first fragment: no service
            f.cls = TrafficClass::tcp_other;
        } else if (kind == 3) {
            PacketFacts n;
            clear(n);
            n.frame_len = 64;
            n.error = DecodeError::non_ip;
            n.cls = TrafficClass::non_ip;
            f = n;
        } else if (kind == 4) {
            f.sensor = kSensorUnmatched;
        }
        out.push_back(f);
    }
    return out;
}

// CounterSet::zeroed() takes zero pages as an empty set: that holds only while a constructed
// (value-initialised) set is all zero bytes.
TEST(Counters, EmptySetIsAllZeroBytes) {
    auto constructed = std::make_unique<CounterSet>();
    const auto* bytes = reinterpret_cast<const unsigned char*>(constructed.get());
    size_t nonzero = 0;
    for (size_t i = 0; i < sizeof(CounterSet); ++i)
        nonzero += bytes[i] != 0;
    EXPECT_EQ(nonzero, 0u) << "a new CounterSet is not all zero: CounterSet::zeroed() is wrong";
    std::unique_ptr<CounterSet> zeroed(CounterSet::zeroed());
    EXPECT_EQ(std::memcmp(zeroed.get(), constructed.get(), sizeof(CounterSet)), 0);
}

// A worker's sketch pools and tuple tables take zero memory as empty sketches and tuples, and
// never construct them (SketchPool, TupleTable): that holds only while constructed ones are all
// zero bytes.
// Constructed in zero bytes, a T leaves them all zero: the constructor writes no state that
// zero memory lacks (padding, which a constructor leaves alone, is zero too here).
template <typename T>
size_t nonzero_bytes_of_constructed() {
    alignas(T) static unsigned char storage[sizeof(T)];
    std::memset(storage, 0, sizeof storage);
    new (storage) T();
    return static_cast<size_t>(
        std::count_if(storage, storage + sizeof(T), [](unsigned char b) { return b != 0; }));
}

TEST(Counters, EmptySketchesAndTuplesAreAllZeroBytes) {
    EXPECT_EQ(nonzero_bytes_of_constructed<SketchPool::Sketch>(), 0u);
    EXPECT_EQ(nonzero_bytes_of_constructed<SourceTupleTable::DestinationSketch>(), 0u);
    EXPECT_EQ(nonzero_bytes_of_constructed<SourceTuple>(), 0u);
    EXPECT_EQ(nonzero_bytes_of_constructed<SourceTuple6>(), 0u);
}

// A pool over zero storage hands out sketches that count as constructed ones do.
TEST(Counters, PoolOverZeroStorageCountsAsConstructedSketches) {
    constexpr uint32_t kSketches = 4;
    std::vector<SketchPool::Sketch> constructed(kSketches);
    auto storage = std::make_unique<unsigned char[]>(SketchPool::storage_bytes(kSketches));
    std::memset(storage.get(), 0, SketchPool::storage_bytes(kSketches));
    SketchPool pool(reinterpret_cast<SketchPool::Sketch*>(storage.get()), kSketches);
    std::mt19937_64 rng(7);
    for (uint32_t i = 0; i < kSketches; ++i) {
        const uint32_t handle = pool.acquire();
        ASSERT_EQ(handle, i + 1);
        EXPECT_TRUE(pool.at(handle).empty());
        // Sparse for the first sketches, dense for the last (past 1024 distinct hashes).
        const unsigned distinct = i < 2 ? 10u + i : 5000u * i;
        for (unsigned n = 0; n < distinct; ++n) {
            const uint64_t h = rng();
            pool.at(handle).add_hash(h);
            constructed[i].add_hash(h);
        }
        EXPECT_EQ(pool.at(handle).estimate(), constructed[i].estimate()) << i;
        if (i < 2) {
            EXPECT_EQ(pool.at(handle).estimate(), distinct) << i;
        }
    }
    EXPECT_EQ(pool.acquire(), 0u);
    EXPECT_EQ(pool.refused(), 1u);
    pool.clear();
    EXPECT_TRUE(pool.at(pool.acquire()).empty());
}

// A published copy is written only where the set is not zero (copy_counters): it holds all the
// set holds, for a set that used a few slots and for one whose service table overflowed.
TEST(Counters, CopyForSnapshotHoldsEverything) {
    for (unsigned ports : {40u, 60000u}) {
        auto t = fresh();
        for (const auto& f : mixed_stream(50000, 41, ports))
            count(*t, f);
        std::shared_ptr<const CounterSet> copy = copy_counters(*t);
        EXPECT_EQ(contents(*copy), contents(*t)) << ports << " ports";
        EXPECT_EQ(copy->packets, 50000u);
        // Byte for byte, but for the pool it points to: a set never cleared has nothing left
        // over in its unused slots, so the copy must equal a memcpy.
        EXPECT_EQ(std::memcmp(copy.get(), t.set.get(), offsetof(CounterSet, pool)), 0)
            << ports << " ports";
        EXPECT_EQ(copy->untracked_service_slots, t->untracked_service_slots);
    }
}

// clear() touches only what was counted: a set cleared after one interval and counted again
// holds exactly what a fresh set counting the second interval holds, directly and through a
// merge (the stats core's windows), with the tables within their capacity and past it (the
// service table full: its dense slots are then cleared whole).
TEST(Counters, ClearedSetCountsAsAFreshOne) {
    for (unsigned ports : {40u, 2000u, 60000u}) {
        const auto first = mixed_stream(80000, 31, ports);
        const auto second = mixed_stream(20000, 32, ports);
        auto reused = fresh(), window = fresh(), once = fresh(), window_once = fresh();
        for (const auto& f : first)
            count(*reused, f);
        window->merge(*reused);
        if (ports == 60000u) {
            ASSERT_TRUE(window->services.full()) << "the stream overflows the service table";
        }
        reused->clear();
        window->clear();
        for (const auto& f : second) {
            count(*reused, f);
            count(*once, f);
        }
        window->merge(*reused);
        window_once->merge(*once);
        EXPECT_EQ(contents(*reused), contents(*once)) << ports << " ports";
        EXPECT_EQ(contents(*window), contents(*window_once)) << ports << " ports";
        // And cleared after the second interval: as empty as a fresh set.
        reused->clear();
        auto empty = fresh();
        EXPECT_EQ(contents(*reused), contents(*empty)) << ports << " ports";
        EXPECT_EQ(reused->pool->used(), 0u);
    }
}

// Packets and bytes of each bounded table, its keys and `other` together.
std::map<std::string, std::vector<uint8_t>> table_sums(const CounterSet& t) {
    std::map<std::string, std::vector<uint8_t>> out;
    auto sum = [&](const char* name, const auto& table) {
        PacketsBytes total{table.other.pb};
        table.for_each([&](uint64_t, const auto& c) { total.merge(c.pb); });
        const auto* b = reinterpret_cast<const uint8_t*>(&total);
        out[name] = std::vector<uint8_t>(b, b + sizeof total);
    };
    sum("asn", t.asns);
    sum("services", t.services);
    sum("sensor_service", t.sensor_service);
    sum("country_service", t.country_service);
    sum("sensor_country", t.sensor_country);
    return out;
}

// Counts `stream` the way the worker and the stats core do: the destination side per packet,
// the source side per tuple through an IPv4 table of `capacity` and the IPv6 table that goes
// with it (replayed at the end, as the stats core does when the epoch retires), spilled packets
// one by one.
struct SplitRun {
    OwnedSet set;
    uint64_t spills = 0;
    uint64_t added[3] = {0, 0, 0};  // packets per TupleAdd outcome
    uint32_t used = 0, stash_used = 0, used6 = 0;
    size_t distinct_tuples = 0, distinct_tuples6 = 0;
};
SplitRun count_split(const std::vector<PacketFacts>& stream, uint32_t capacity) {
    SplitRun r{fresh(4096)};
    OwnedTupleTable owned(capacity);
    SourceTupleTable& tuples = *owned;
    OwnedTuple6Table owned6(tuple6_capacity_of(capacity));
    SourceTuple6Table& tuples6 = *owned6;
    std::map<uint64_t, uint64_t> distinct;  // truth for used()
    std::set<std::string> distinct6;
    for (const PacketFacts& f : stream) {
        const uint64_t sh = hash_address(f.src, f.ip_version);
        const uint64_t dh = hash_address(f.dst, f.ip_version);
        if (f.ip_version == 0) {
            count_dense(*r.set, f);
            continue;
        }
        const SourceKey k = source_key_of(f);
        ServiceCounts* service = resolve_service(*r.set, k);
        count_destination_counters(*r.set, f, k, service, 1'000'000'000ull, sh, dh);
        TupleAdd added;
        if (f.ip_version == 4) {
            const SourceTupleTable::Key t = SourceTupleTable::key_of(f);
            ++distinct[t.source_where];
            added = tuple_add(tuples, f, 1'000'000'000ull);
        } else {
            distinct6.insert(std::string(reinterpret_cast<const char*>(f.src.v6), 16) + "/" +
                             std::to_string(k.sensor) + "/" + std::to_string(k.service) + "/" +
                             std::to_string(k.probe) + "/" + std::to_string(f.ip_proto));
            added = tuple_add(tuples6, f, 1'000'000'000ull);
        }
        ++r.added[static_cast<unsigned>(added)];
        // The destination sketches: per packet unless the tuple holds the destination inline
        // (count_tuples adds those).
        if (added != TupleAdd::destination_held)
            count_destination_sketches(*r.set, k, service, dh);
        if (added != TupleAdd::refused)
            continue;
        ++r.spills;
        count_source(*r.set, sh, k, 1, f.frame_len);
    }
    r.set->source_spills += r.spills;
    r.used = tuples.used();
    r.used6 = tuples6.used();
    r.stash_used = tuples.stash_used();
    r.distinct_tuples = distinct.size();
    r.distinct_tuples6 = distinct6.size();
    count_tuples(*r.set, tuples, tuples6);
    fold_total_destinations(*r.set);
    EXPECT_EQ(r.set->source_tuples, r.used + r.used6);
    EXPECT_EQ(r.set->source_spills, r.spills);
    // clear() leaves an empty table that counts afresh.
    tuples.clear();
    EXPECT_EQ(tuples.used(), 0u);
    EXPECT_TRUE(add_to_tuple(tuples, stream[0], 1'000'000'000ull));
    EXPECT_EQ(tuples.used(), 1u);
    tuples6.clear();
    EXPECT_EQ(tuples6.used(), 0u);
    return r;
}

unsigned count_differences(const std::map<std::string, std::vector<uint8_t>>& want,
                           const std::map<std::string, std::vector<uint8_t>>& got) {
    unsigned differ = 0;
    EXPECT_EQ(got.size(), want.size());
    for (const auto& [k, v] : want) {
        auto it = got.find(k);
        if (it == got.end() || it->second != v) {
            if (++differ <= 5)
                ADD_FAILURE() << "differs: " << k;
        }
    }
    return differ;
}

// The worker counts the source side of its packets per tuple (source_tuples.hpp), and the
// stats core replays the tuples into the retired set. That must leave the set holding exactly
// what per-packet counting gives, for a table that holds every tuple and for one so small that
// most tuples spill back to per-packet counting.
TEST(Counters, TupleAggregationEqualsPerPacketCounting) {
    const std::vector<PacketFacts> stream = mixed_stream(300000, 11);
    auto plain = fresh(4096);
    for (const PacketFacts& f : stream)
        count_packet(*plain, f, 1'000'000'000ull, hash_address(f.src, f.ip_version),
                     hash_address(f.dst, f.ip_version));
    const auto want = contents(*plain);
    ASSERT_GT(plain.pool->used(), 10u);  // promotions to the pool are part of what is compared
    ASSERT_EQ(plain->asns.other.pb.packets + plain->country_service.other.pb.packets, 0u);

    for (uint32_t capacity : {1u << 20, 1024u}) {
        SCOPED_TRACE("tuple table of " + std::to_string(capacity));
        SplitRun r = count_split(stream, capacity);
        if (capacity == 1024u) {
            // 7/8 of the table and of its stash (32) at most, and the stash full.
            EXPECT_LE(r.used, 1024u - 128u + 28u);
            EXPECT_EQ(r.stash_used, 28u);
            EXPECT_GT(r.spills, 10000u);        // most one-off sources spilled
            EXPECT_EQ(r.used6, 32u - 4u + 1u);  // the IPv6 table of 32, 7/8 full, and its stash
        } else {
            EXPECT_EQ(r.spills, 0u);
            // Both ways of counting a destination's sketches are compared: left to the tuple
            // (inline) and per packet (the tuple's destinations pooled).
            EXPECT_GT(r.added[static_cast<unsigned>(TupleAdd::destination_held)], 10000u);
            EXPECT_GT(r.added[static_cast<unsigned>(TupleAdd::taken)], 10000u);
            EXPECT_EQ(r.used, r.distinct_tuples);
            EXPECT_EQ(r.used6, r.distinct_tuples6);
            EXPECT_GT(r.used6, 1000u);
            EXPECT_LT(r.used, stream.size() / 3);  // scanners' repeats aggregated
        }
        r.set->source_tuples = plain->source_tuples;
        r.set->source_spills = plain->source_spills;
        EXPECT_EQ(count_differences(want, contents(*r.set)), 0u);
    }
}

// The stats core counts both families' tuples interleaved by the second of their first packet,
// so that when the precise-sketch pool runs short, keys take its sketches in about the order
// their packets came. Here the pool holds one sketch: 40 IPv6 sources of service 80/tcp come at
// second 1, 40 IPv4 sources of 443/tcp at second 2 (every other key sees one source each), and
// 80/tcp must get the sketch. Counting all IPv4 tuples first would give it to 443/tcp.
TEST(Counters, TupleReplayInterleavesFamiliesByFirstSecond) {
    auto set = fresh(1);
    OwnedTupleTable owned(1024);
    OwnedTuple6Table owned6(1024);
    for (uint32_t i = 0; i < 40; ++i) {
        PacketFacts f6 = make_syn(0, 0xcb007101, 80, 0, static_cast<uint16_t>(1 + i), 64500 + i);
        f6.ip_version = 6;
        std::memset(f6.src.v6, 0, 16);
        f6.src.v6[0] = 0x20;
        f6.src.v6[15] = static_cast<uint8_t>(i);
        std::memset(f6.dst.v6, 0, 16);
        ASSERT_TRUE(add_to_tuple(*owned6, f6, 1'000'000'000ull));
        const PacketFacts f4 =
            make_syn(0x0a000000u + i, 0xcb007101, 443, 0, static_cast<uint16_t>(41 + i), 65000 + i);
        ASSERT_TRUE(add_to_tuple(*owned, f4, 2'000'000'000ull));
    }
    count_tuples(*set, *owned, *owned6);
    EXPECT_EQ(set->source_tuples, 80u);
    const ServiceCounts* http = set->services.find(
        service_key(static_cast<int32_t>(service_slot(ServiceFamily::tcp, 80)), true));
    const ServiceCounts* https = set->services.find(
        service_key(static_cast<int32_t>(service_slot(ServiceFamily::tcp, 443)), true));
    ASSERT_NE(http, nullptr);
    ASSERT_NE(https, nullptr);
    EXPECT_NE(http->sources.handle, 0u);  // the pool's one sketch
    EXPECT_TRUE(https->sources.degraded());
    EXPECT_EQ(set->uniques(http->sources), 40u);
}

// When a bounded table overflows, which keys hold a slot and which go to `other` follows arrival
// order, and the tuple replay comes after the packets counted one by one: the keys may differ
// from per-packet counting, but not what is counted. Every dense counter and run-wide sketch is
// identical, and so are each table's packets and bytes over its keys and `other`.
TEST(Counters, TupleAggregationUnderTableOverflowLosesNothing) {
    const std::vector<PacketFacts> stream = mixed_stream(300000, 12, 2000);
    auto plain = fresh(4096);
    for (const PacketFacts& f : stream)
        count_packet(*plain, f, 1'000'000'000ull, hash_address(f.src, f.ip_version),
                     hash_address(f.dst, f.ip_version));
    ASSERT_GT(plain->country_service.other.pb.packets, 0u);  // the overflow happens
    auto global = [](const CounterSet& t) {
        auto all = contents(t);
        std::map<std::string, std::vector<uint8_t>> out = table_sums(t);
        for (const char* k : {"dense", "service_slots", "total_sources", "total_destinations",
                              "total_asns", "sensor_sources0", "sensor_asns1", "sensor_dst2"})
            out[k] = all[k];
        return out;
    };
    const auto want = global(*plain);
    for (uint32_t capacity : {1u << 20, 1024u}) {
        SCOPED_TRACE("tuple table of " + std::to_string(capacity));
        SplitRun r = count_split(stream, capacity);
        r.set->source_tuples = plain->source_tuples;
        r.set->source_spills = plain->source_spills;
        EXPECT_EQ(count_differences(want, global(*r.set)), 0u);
    }
}

// Per-packet top talkers as the worker counts a packet the tuple tables do not take.
void talk(SpaceSaving& sources, SpaceSaving& prefixes, const PacketFacts& f, uint64_t now_s) {
    const uint8_t v = f.ip_version;
    const uint64_t sh = hash_address(f.src, v), dh = hash_address(f.dst, v);
    const HeavyKey prefix = HeavyKey::prefix(f.src, v, v == 4 ? 24 : 48);
    const uint32_t svc = talker_service_of(f);
    sources.update(HeavyKey::host(f.src, v), sh, f.frame_len, dh, svc, now_s, f.country, f.asn,
                   f.flags);
    prefixes.update_prefix(prefix, prefix.hash(), f.frame_len, dh, svc, now_s, f.country, f.asn,
                           f.flags, f.src, sh);
}

// Everything a top-talker row says, as text, for comparing two summaries.
std::vector<std::string> rows_of(const SpaceSaving& s) {
    std::vector<std::string> out;
    for (const HeavyHitter& h : s.top(s.capacity())) {
        out.push_back(std::to_string(h.key.words[0]) + ":" + std::to_string(h.key.words[1]) + "/" +
                      std::to_string(h.key.length) + " packets " + std::to_string(h.packets) +
                      " error " + std::to_string(h.error) + " bytes " + std::to_string(h.bytes) +
                      " dst " + std::to_string(h.distinct_destinations) + " svc " +
                      std::to_string(h.distinct_services) + " src " +
                      std::to_string(h.distinct_sources) + " seen " + std::to_string(h.first_seen) +
                      "-" + std::to_string(h.last_seen) + " cc " + std::to_string(h.country) +
                      " as " + std::to_string(h.asn) + " flags " + std::to_string(h.flags));
    }
    return out;
}

// Scanners over 40 /24s: a few with hundreds of destinations (pooled, dense destination
// sketches), some ports and fragments (services without a port), flags, one packet a millisecond.
std::vector<PacketFacts> talker_stream(unsigned packets, unsigned sources, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<PacketFacts> out;
    for (unsigned i = 0; i < packets; ++i) {
        const uint32_t n = rng() % sources;
        const uint32_t src = 0x0a000000u | (n % 40) << 8 | (n / 40 % 250);
        const bool wide = n % 17 == 0;  // sweeps destinations
        const uint32_t dst = 0xcb007100u | (wide ? rng() % 2000 : rng() % 4);
        // Attribution follows the network: one country and ASN per /24, as in the databases.
        PacketFacts f =
            make_syn(src, dst, static_cast<uint16_t>(wide ? 445 : 22 + rng() % 4), rng() % 3,
                     static_cast<uint16_t>(1 + n % 40 % 30), 64500 + n % 40 % 7, 60 + rng() % 20);
        f.flags = static_cast<uint16_t>(rng() % 8 == 0 ? 1u << (rng() % 6) : 0);
        if (rng() % 25 == 0) {
            f.l4_valid = false;  // a fragment: its service is the IP protocol
            f.cls = TrafficClass::tcp_other;
            f.ip_proto = rng() % 2 ? 6 : 17;
        }
        out.push_back(f);
    }
    return out;
}

// The stats core builds each interval's top talkers from the tuples (load_talkers). Where the
// worker's per-packet Space-Saving is exact (fewer keys than its capacity), both must say the
// same of every source and /24: packets, bytes, distinct destinations and services, sources
// inside a prefix, first and last seen, country, ASN, flags. Also when the tuple table takes
// only part of the packets (a tiny sketch pool makes new destinations spill) and the stats core
// merges its summary with the worker's.
TEST(Counters, TopTalkersFromTuplesEqualPerPacketSpaceSaving) {
    const auto stream = talker_stream(200000, 900, 7);
    SpaceSaving want_sources(1024), want_prefixes(1024);
    for (unsigned i = 0; i < stream.size(); ++i)
        talk(want_sources, want_prefixes, stream[i], 1000 + i / 1000);
    ASSERT_LT(want_sources.size(), want_sources.capacity());  // nothing evicted: exact
    const auto want_s = rows_of(want_sources), want_p = rows_of(want_prefixes);

    for (uint32_t sketches : {4096u, 2u}) {
        SCOPED_TRACE("destination sketches " + std::to_string(sketches));
        OwnedTupleTable tuples(1u << 16, sketches);
        SpaceSaving worker_sources(1024), worker_prefixes(1024);
        uint64_t spilled = 0;
        for (unsigned i = 0; i < stream.size(); ++i) {
            if (!add_to_tuple(*tuples, stream[i], (1000 + i / 1000) * 1'000'000'000ull)) {
                ++spilled;
                talk(worker_sources, worker_prefixes, stream[i], 1000 + i / 1000);
            }
        }
        if (sketches == 2u)
            EXPECT_GT(spilled, 1000u);
        else
            EXPECT_EQ(spilled, 0u);
        EXPECT_GT(tuples->sketches_used(), 0u);
        SpaceSaving sources(1024), prefixes(1024);
        load_talkers(*tuples, sources, prefixes);
        sources.merge(worker_sources);
        prefixes.merge(worker_prefixes);
        EXPECT_EQ(sources.total(), want_sources.total());
        EXPECT_EQ(rows_of(sources), want_s);
        EXPECT_EQ(rows_of(prefixes), want_p);
    }
}

// IPv6 scanners in 30 /48s, a few sweeping destinations (past the tuple's 9 inline ones, into a
// pooled sketch), interleaved with IPv4 ones: the stats core loads each family's tuples into its
// own summary and merges them as disjoint. With fewer keys than the capacity, that must say what
// per-packet Space-Saving over the mixed stream says of every source and prefix, IPv6 ones
// included, also when a tiny sketch pool makes some packets spill to the worker's summaries.
TEST(Counters, TopTalkersFromIPv6TuplesEqualPerPacketSpaceSaving) {
    auto stream = talker_stream(150000, 400, 21);
    std::mt19937 rng(22);
    for (PacketFacts& f : stream) {
        if (rng() % 3 != 0)
            continue;
        const uint32_t n = rng() % 500;
        const bool wide = n % 13 == 0;
        f.ip_version = 6;
        std::memset(f.src.v6, 0, 16);
        f.src.v6[0] = 0x20;
        f.src.v6[1] = 0x01;
        f.src.v6[5] = static_cast<uint8_t>(n % 30);  // the /48
        f.src.v6[15] = static_cast<uint8_t>(n);
        f.src.v6[14] = static_cast<uint8_t>(n >> 8);
        std::memset(f.dst.v6, 0, 16);
        f.dst.v6[0] = 0x20;
        f.dst.v6[15] = static_cast<uint8_t>(wide ? rng() : rng() % 3);
        f.dst.v6[14] = static_cast<uint8_t>(wide ? rng() % 8 : 0);
        f.country = static_cast<uint16_t>(1 + n % 30);
        f.asn = 64600 + n % 30;
    }
    SpaceSaving want_sources(1024), want_prefixes(1024);
    for (unsigned i = 0; i < stream.size(); ++i)
        talk(want_sources, want_prefixes, stream[i], 1000 + i / 1000);
    ASSERT_LT(want_sources.size(), want_sources.capacity());  // nothing evicted: exact
    const auto want_s = rows_of(want_sources), want_p = rows_of(want_prefixes);

    for (uint32_t sketches : {4096u, 2u}) {
        SCOPED_TRACE("destination sketches " + std::to_string(sketches));
        OwnedTupleTable tuples(1u << 16, sketches);
        OwnedTuple6Table tuples6(1u << 15, sketches);
        SpaceSaving worker_sources(1024), worker_prefixes(1024);
        uint64_t spilled = 0, v6 = 0;
        for (unsigned i = 0; i < stream.size(); ++i) {
            const PacketFacts& f = stream[i];
            const uint64_t now_ns = (1000 + i / 1000) * 1'000'000'000ull;
            v6 += f.ip_version == 6;
            if (!(f.ip_version == 4 ? add_to_tuple(*tuples, f, now_ns)
                                    : add_to_tuple(*tuples6, f, now_ns))) {
                ++spilled;
                talk(worker_sources, worker_prefixes, f, 1000 + i / 1000);
            }
        }
        ASSERT_GT(v6, 40000u);
        if (sketches == 2u)
            EXPECT_GT(spilled, 1000u);
        else
            EXPECT_EQ(spilled, 0u);
        EXPECT_GT(tuples6->sketches_used(), 0u);  // wide IPv6 sources went past 9 destinations
        SpaceSaving sources(1024), prefixes(1024), sources6(1024), prefixes6(1024);
        load_talkers(*tuples, sources, prefixes);
        load_talkers(*tuples6, sources6, prefixes6);
        sources.merge(sources6, true);
        prefixes.merge(prefixes6, true);
        sources.merge(worker_sources, spilled == 0);
        prefixes.merge(worker_prefixes, spilled == 0);
        EXPECT_EQ(sources.total(), want_sources.total());
        EXPECT_EQ(rows_of(sources), want_s);
        EXPECT_EQ(rows_of(prefixes), want_p);
    }
}

// More sources than the capacity: the tuples' summary holds the capacity largest with their exact
// counts (error 0), and it still merges as a Space-Saving summary: merged with a second stream's
// per-packet summary, every row brackets the true count of both streams together, and every
// source above N / k is held.
TEST(Counters, TopTalkersFromTuplesFloodKeepsTheGuarantee) {
    const auto first = talker_stream(300000, 9000, 8), second = talker_stream(100000, 9000, 9);
    std::map<uint64_t, uint64_t> truth;
    OwnedTupleTable tuples(1u << 19);  // large enough that nothing spills: exact counts
    for (const PacketFacts& f : first) {
        ASSERT_TRUE(add_to_tuple(*tuples, f, 5'000'000'000ull));
        ++truth[f.src.v4];
    }
    SpaceSaving sources(1024), prefixes(1024);
    load_talkers(*tuples, sources, prefixes);
    ASSERT_EQ(sources.size(), 1024u);
    ASSERT_GT(truth.size(), 5000u);
    std::vector<uint64_t> counts;
    for (const auto& [src, n] : truth)
        counts.push_back(n);
    std::sort(counts.rbegin(), counts.rend());
    for (const HeavyHitter& h : sources.top(1024)) {
        EXPECT_EQ(h.error, 0u);
        EXPECT_EQ(h.packets, truth[h.key.words[0]]);
        EXPECT_GE(h.packets, counts[1023]);  // the capacity largest
    }
    SpaceSaving other_sources(1024), other_prefixes(1024);
    for (const PacketFacts& f : second) {
        talk(other_sources, other_prefixes, f, 6);
        ++truth[f.src.v4];
    }
    sources.merge(other_sources);
    const uint64_t n = first.size() + second.size();
    EXPECT_EQ(sources.total(), n);
    std::map<uint64_t, bool> held;
    for (const HeavyHitter& h : sources.top(1024)) {
        const uint64_t t = truth[h.key.words[0]];
        EXPECT_LE(h.packets - h.error, t);
        EXPECT_GE(h.packets, t);
        held[h.key.words[0]] = true;
    }
    for (const auto& [src, t] : truth) {
        if (t > n / 1024) {
            EXPECT_TRUE(held[src]) << "source " << src << " with " << t << " packets";
        }
    }
}

// A merge told that the keys are disjoint (as the stats core's IPv4 and IPv6 summaries from
// tuples are) charges nothing across: here an exact IPv4 summary from tuples and a per-packet
// IPv6 one that had to evict. IPv4 rows stay exact (error 0), every row still brackets the truth
// and every source above N / k is held. Without the hint the IPv4 rows are charged the IPv6
// summary's minimum: valid, but no longer exact.
TEST(Counters, TopTalkersDisjointMergeKeepsIPv4RowsExact) {
    const auto v4 = talker_stream(300000, 9000, 10);
    std::map<std::string, uint64_t> truth;
    OwnedTupleTable tuples(1u << 19);
    for (const PacketFacts& f : v4) {
        ASSERT_TRUE(add_to_tuple(*tuples, f, 5'000'000'000ull));
        ++truth[std::to_string(f.src.v4)];
    }
    // 3,000 IPv6 scanners, a few heavy: more than the per-packet summary holds.
    std::mt19937 rng(3);
    SpaceSaving v6_sources(1024), v6_prefixes(1024);
    for (int i = 0; i < 60000; ++i) {
        PacketFacts f = make_syn(0, 0xcb007101, 23, 0, 1, 64500);
        f.ip_version = 6;
        std::memset(f.src.v6, 0, 16);
        f.src.v6[0] = 0x20;
        f.src.v6[1] = 0x01;
        const uint32_t n = rng() % 4 == 0 ? rng() % 20 : rng() % 3000;
        std::memcpy(f.src.v6 + 12, &n, 4);
        std::memset(f.dst.v6, 0, 16);
        f.dst.v6[15] = static_cast<uint8_t>(rng());
        const uint64_t sh = hash_address(f.src, 6), dh = hash_address(f.dst, 6);
        const HeavyKey prefix = HeavyKey::prefix(f.src, 6, 48);
        v6_sources.update(HeavyKey::host(f.src, 6), sh, f.frame_len, dh, talker_service_of(f), 6,
                          f.country, f.asn, f.flags);
        v6_prefixes.update_prefix(prefix, prefix.hash(), f.frame_len, dh, talker_service_of(f), 6,
                                  f.country, f.asn, f.flags, f.src, sh);
        ++truth["v6:" + std::to_string(n)];
    }
    ASSERT_EQ(v6_sources.size(), 1024u);  // it evicted: its minimum is above 0
    ASSERT_GT(v6_sources.min_count(), 0u);
    auto key_of = [](const HeavyHitter& h) {
        if (h.key.family == 4)
            return std::to_string(h.key.words[0]);
        uint32_t n;
        std::memcpy(&n, h.key.address().v6 + 12, 4);
        return "v6:" + std::to_string(n);
    };
    for (bool disjoint : {true, false}) {
        SCOPED_TRACE(disjoint ? "disjoint" : "not told");
        SpaceSaving sources(1024), prefixes(1024);
        load_talkers(*tuples, sources, prefixes);
        sources.merge(v6_sources, disjoint);
        const uint64_t n = v4.size() + 60000;
        ASSERT_EQ(sources.total(), n);
        unsigned v4_rows = 0, v4_exact = 0;
        std::map<std::string, bool> held;
        for (const HeavyHitter& h : sources.top(1024)) {
            const uint64_t t = truth[key_of(h)];
            EXPECT_LE(h.packets - h.error, t) << key_of(h);
            EXPECT_GE(h.packets, t) << key_of(h);
            held[key_of(h)] = true;
            if (h.key.family == 4) {
                ++v4_rows;
                v4_exact += h.error == 0 && h.packets == t;
            }
        }
        for (const auto& [k, t] : truth) {
            if (t > n / 1024) {
                EXPECT_TRUE(held[k]) << k << " with " << t << " packets";
            }
        }
        ASSERT_GT(v4_rows, 200u);
        if (disjoint)
            EXPECT_EQ(v4_exact, v4_rows);
        else
            EXPECT_EQ(v4_exact, 0u);
    }
}

// A tuple's packed key and attribution give back the packet's source-side key, for either family.
TEST(Counters, SourceTupleKeyRoundTrips) {
    unsigned v6 = 0;
    for (const PacketFacts& f : mixed_stream(2000, 5)) {
        if (f.ip_version == 0)
            continue;
        SourceKey got;
        if (f.ip_version == 4) {
            SourceTuple t{};
            t.set_key(SourceTupleTable::key_of(f));
            t.attribute(attribution_of(f));
            got = t.key();
            EXPECT_EQ(t.src_v4(), f.src.v4);
            EXPECT_EQ(t.talker_service(), talker_service_of(f));
        } else {
            ++v6;
            SourceTuple6 t{};
            t.set_key(SourceTuple6Table::key_of(f));
            t.attribute(attribution_of(f));
            got = t.key();
            EXPECT_EQ(std::memcmp(t.src().v6, f.src.v6, 16), 0);
            EXPECT_EQ(t.talker_service(), talker_service_of(f));
        }
        const SourceKey want = source_key_of(f);
        EXPECT_EQ(got.asn, want.asn);
        EXPECT_EQ(got.sensor, want.sensor);
        EXPECT_EQ(got.country, want.country);
        EXPECT_EQ(got.service, want.service);
        EXPECT_EQ(got.probe, want.probe);
    }
    EXPECT_GT(v6, 50u);
}

// The tuple records its source's attribution: a packet of a held tuple needs no lookup and is
// handed the tuple's; a packet that would make a tuple, or spill, without one changes nothing
// (unattributed) until the caller looks it up. prefetch_tuple() tells the two apart ahead.
TEST(Counters, TupleTableAttributesWhatItHolds) {
    OwnedTupleTable owned(1024);
    SourceTupleTable& tuples = *owned;
    PacketFacts f = make_syn(0xc6336401, 0xcb007101, 445, 0, 112, 4134);  // CN, AS4134
    const SourceTupleTable::Key key = SourceTupleTable::key_of(f);
    const uint64_t hash = SourceTupleTable::hash_of(key, hash_address(f.src, 4));
    auto add = [&](SourceAttribution& source, uint32_t dst) {
        return tuples.add(key, hash, 60, 1000, 0, dst, hash_ipv4(dst), source);
    };
    EXPECT_FALSE(tuples.prefetch_tuple(hash));
    SourceAttribution unknown;
    EXPECT_EQ(add(unknown, 0xcb007101), TupleAdd::unattributed);
    EXPECT_FALSE(unknown.known());
    EXPECT_EQ(tuples.used(), 0u);  // nothing changed
    SourceAttribution looked_up = attribution_of(f);
    EXPECT_EQ(add(looked_up, 0xcb007101), TupleAdd::destination_held);
    EXPECT_TRUE(tuples.prefetch_tuple(hash));
    // The next packet, not looked up, counts under the tuple's attribution.
    SourceAttribution next;
    EXPECT_EQ(add(next, 0xcb007102), TupleAdd::destination_held);
    EXPECT_EQ(next.country, 112);
    EXPECT_EQ(next.asn, 4134u);
    // Even when a lookup now gives something else (a reload of the geo databases in the epoch):
    // the tuple keeps what its first packet had.
    SourceAttribution reloaded{2516, 110};
    EXPECT_EQ(add(reloaded, 0xcb007102), TupleAdd::destination_held);
    EXPECT_EQ(reloaded.country, 112);
    EXPECT_EQ(reloaded.asn, 4134u);
    EXPECT_EQ(tuples.in_order(0).packets, 3u);
    const SourceKey k = tuples.in_order(0).key();
    EXPECT_EQ(k.country, 112);
    EXPECT_EQ(k.asn, 4134u);
    // Another port of the same source is another tuple, with a lookup of its own.
    PacketFacts g = make_syn(0xc6336401, 0xcb007101, 1433, 0, 112, 4134);
    const SourceTupleTable::Key other = SourceTupleTable::key_of(g);
    EXPECT_NE(other.source_where, key.source_where);
    const uint64_t other_hash = SourceTupleTable::hash_of(other, hash_address(g.src, 4));
    EXPECT_FALSE(tuples.prefetch_tuple(other_hash));
    SourceAttribution none;
    EXPECT_EQ(tuples.add(other, other_hash, 60, 1000, 0, 1, hash_ipv4(1), none),
              TupleAdd::unattributed);
    // A spill without a lookup is unattributed too, with one it is refused, attribution kept.
    OwnedTupleTable full_owned(32);
    SourceTupleTable& full = *full_owned;
    uint32_t held = 0;
    for (uint32_t i = 0; i < 64; ++i) {
        SourceAttribution a{64512, 5};
        const SourceTupleTable::Key t{uint64_t{0x0a000000u + i} << 32 | 7};
        held += full.add(t, hash_ipv4(i), 60, 1000, 0, 1, hash_ipv4(1), a) != TupleAdd::refused;
    }
    EXPECT_EQ(held, full.used());
    EXPECT_LT(held, 64u);
    const SourceTupleTable::Key late{uint64_t{0x0b000000u} << 32 | 7};
    SourceAttribution late_unknown;
    EXPECT_EQ(full.add(late, hash_ipv4(99), 60, 1000, 0, 1, hash_ipv4(1), late_unknown),
              TupleAdd::unattributed);
    SourceAttribution late_known{64513, 6};
    EXPECT_EQ(full.add(late, hash_ipv4(99), 60, 1000, 0, 1, hash_ipv4(1), late_known),
              TupleAdd::refused);
    EXPECT_EQ(late_known.asn, 64513u);
    EXPECT_EQ(late_known.country, 6);
    EXPECT_EQ(full.used(), held);
}

// Tuples whose homes collide past kMaxProbe go to the stash instead of spilling, and are found
// there again; only a full stash spills. Hashes are chosen here, so the collisions are exact.
TEST(Counters, TupleStashTakesWhatLongRunsWouldSpill) {
    OwnedTupleTable owned(1024);
    SourceTupleTable& tuples = *owned;
    const uint32_t in_table = SourceTupleTable::kMaxProbe;
    const uint32_t stash_room = SourceTupleTable::stash_of(1024) * 7 / 8;
    auto tuple_n = [](uint32_t i) { return SourceTuple::Key{uint64_t{0x0a000000u + i} << 32 | 7}; };
    // Every tuple's home is slot 5; its stash home is i.
    auto hash_n = [](uint32_t i) { return uint64_t{i} << 32 | 5; };
    const uint32_t n = in_table + stash_room + 1;
    SourceAttribution source{64512, 1};
    std::vector<bool> taken;
    for (int pass = 0; pass < 2; ++pass)
        for (uint32_t i = 0; i < n; ++i)
            taken.push_back(tuples.add(tuple_n(i), hash_n(i), 60, 1000 + pass, 0, 0xc0000201u + i,
                                       hash_ipv4(0xc0000201u + i), source) != TupleAdd::refused);
    // The first kMaxProbe in the table, the next 28 in the stash, the last one spilled, twice.
    for (int pass = 0; pass < 2; ++pass)
        for (uint32_t i = 0; i < n; ++i)
            EXPECT_EQ(taken[pass * n + i], i + 1 < n) << "pass " << pass << ", tuple " << i;
    EXPECT_EQ(tuples.used(), n - 1);
    EXPECT_EQ(tuples.stash_used(), stash_room);
    // Each held tuple has both passes' packets, in first-seen order.
    uint32_t seen = 0;
    tuples.for_each([&](const SourceTuple& e) {
        EXPECT_EQ(e.source_where, tuple_n(seen).source_where);
        EXPECT_EQ(e.packets, 2u);
        EXPECT_EQ(e.bytes, 120u);
        EXPECT_EQ(e.first_s, 1000u);
        EXPECT_EQ(e.last_s, 1001u);
        ++seen;
    });
    EXPECT_EQ(seen, n - 1);
    // Every tuple here has the same tag (the hash's top 16 bits are 0): only the keys tell them
    // apart. clear() empties the tags too: the same tuples land the same way again.
    tuples.clear();
    EXPECT_EQ(tuples.used(), 0u);
    EXPECT_EQ(tuples.stash_used(), 0u);
    for (uint32_t i = 0; i < n; ++i)
        EXPECT_EQ(tuples.add(tuple_n(n - 1 - i), hash_n(n - 1 - i), 60, 1000, 0, 1, hash_ipv4(1),
                             source) != TupleAdd::refused,
                  i + 1 < n)
            << "after clear(), tuple " << n - 1 - i;
    EXPECT_EQ(tuples.stash_used(), stash_room);
}

TEST(Counters, ServiceNames) {
    EXPECT_EQ(service_name(service_slot(ServiceFamily::tcp, 445)), "445/tcp");
    EXPECT_EQ(service_name(service_slot(ServiceFamily::udp, 53)), "53/udp");
    EXPECT_EQ(service_name(service_slot(ServiceFamily::icmp, 8 << 8)), "icmp");
    EXPECT_EQ(service_detail_name(service_slot(ServiceFamily::icmpv6, 128 << 8)), "icmpv6/128/0");
}

}  // namespace
}  // namespace darkscope
