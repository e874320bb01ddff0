// CounterSet: counting, merging and bounded tables, on hand-built PacketFacts. The truth is
// computed here by plain loops over the same facts, not by the code under test.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/hash.hpp"

namespace darkscope {
namespace {

PacketFacts make_syn(uint32_t src, uint32_t dst, uint16_t port, uint16_t sensor, uint16_t country,
                     uint32_t asn, uint32_t len = 60) {
    PacketFacts f;
    clear(f);
    f.frame_len = len;
    f.ip_version = 4;
    f.proto = Proto::tcp;
    f.ip_proto = 6;
    f.l4_valid = true;
    f.src.v4 = src;
    f.dst.v4 = dst;
    f.dst_port = port;
    f.tcp_flags = tcp_syn;
    f.cls = TrafficClass::tcp_scan;
    f.sensor = sensor;
    f.country = country;
    f.asn = asn;
    return f;
}

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

// The worker's repeat filter skips sketch updates that would change nothing. Counting a stream
// full of repeats (scanners sending many packets to one service, backscatter, a few thousand
// one-off sources) through the filter must leave every byte of the counters and of every pooled
// sketch exactly as plain counting does, across promotions to the pool and dense turns.
TEST(Counters, RepeatFilterChangesNothing) {
    std::mt19937 rng(11);
    auto plain = fresh(64), filtered = fresh(64);
    auto filter = std::make_unique<RepeatFilter>();
    filter->clear();
    uint64_t repeats = 0;
    for (int i = 0; i < 300000; ++i) {
        const bool heavy = rng() % 4 != 0;
        const uint32_t src = heavy ? 0x0a000000u + rng() % 200 : rng();
        const uint16_t port = heavy ? static_cast<uint16_t>(23 + rng() % 3) : rng() % 2000;
        PacketFacts f = make_syn(src, 0xcb007100 | (rng() & 0xff), port, rng() % 3,
                                 static_cast<uint16_t>(1 + src % 40), src % 300, 60);
        if (rng() % 10 == 0) {
            f.tcp_flags = tcp_syn | tcp_ack;
            f.cls = TrafficClass::tcp_backscatter;
        }
        const uint64_t sh = hash_address(f.src, 4), dh = hash_address(f.dst, 4);
        count_packet(*plain, f, 1'000'000'000ull, sh, dh);
        PacketSlots slots;
        resolve_slots(*filtered, f, slots);
        const bool repeat = filter->seen(RepeatFilter::tuple_of(f, sh));
        repeats += repeat;
        count_resolved(*filtered, f, slots, 1'000'000'000ull, sh, dh, repeat);
    }
    EXPECT_GT(repeats, 200000u);  // the filter did skip most packets' source sketches
    EXPECT_EQ(std::memcmp(plain.set.get(), filtered.set.get(), offsetof(CounterSet, pool)), 0);
    ASSERT_EQ(plain.pool->used(), filtered.pool->used());
    EXPECT_GT(plain.pool->used(), 10u);
    // Same contents: the encodings (sorted hashes or registers) are byte for byte equal.
    for (uint32_t h = 1; h <= plain.pool->used(); ++h) {
        std::vector<uint8_t> x, y;
        plain.pool->at(h).serialize(x);
        filtered.pool->at(h).serialize(y);
        ASSERT_EQ(x, y) << "pooled sketch " << h;
    }
}

TEST(Counters, ServiceNames) {
    EXPECT_EQ(service_name(service_slot(ServiceFamily::tcp, 445)), "445/tcp");
    EXPECT_EQ(service_name(service_slot(ServiceFamily::udp, 53)), "53/udp");
    EXPECT_EQ(service_name(service_slot(ServiceFamily::icmp, 8 << 8)), "icmp");
    EXPECT_EQ(service_detail_name(service_slot(ServiceFamily::icmpv6, 128 << 8)), "icmpv6/128/0");
}

}  // namespace
}  // namespace darkscope
