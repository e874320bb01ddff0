// Space-Saving top talkers: exactness while not full, the stated bounds against brute-force
// truth, a planted top 10 in a Zipf mix with 10^6 background sources, and merging.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/heavy_hitters.hpp"

using namespace darkscope;

namespace {

IpAddress v4(uint32_t a) {
    IpAddress x;
    std::memset(&x, 0, sizeof x);
    x.v4 = a;
    return x;
}

HeavyKey host4(uint32_t a) {
    return HeavyKey::host(v4(a), 4);
}

void count(SpaceSaving& s, uint32_t source, uint32_t bytes = 60, uint32_t dst = 0,
           uint32_t service = 0, uint64_t now = 0) {
    const HeavyKey key = host4(source);
    s.update(key, hash_ipv4(source), bytes, hash_ipv4(dst), service, now);
}

// Checks the guarantee in heavy_hitters.hpp against exact counts.
void expect_bounds(const SpaceSaving& s, const std::unordered_map<uint32_t, uint64_t>& truth,
                   uint64_t n, const char* what) {
    ASSERT_EQ(s.total(), n) << what;
    const auto all = s.top(s.capacity());
    ASSERT_EQ(all.size(), s.size()) << what;
    const uint64_t min = s.min_count();
    EXPECT_LE(min, n / s.capacity()) << what;
    std::set<uint32_t> held;
    for (const HeavyHitter& h : all) {
        const uint32_t source = static_cast<uint32_t>(h.key.words[0]);
        held.insert(source);
        const auto it = truth.find(source);
        const uint64_t t = it == truth.end() ? 0 : it->second;
        EXPECT_LE(h.packets - h.error, t) << what << " source " << source;
        EXPECT_GE(h.packets, t) << what << " source " << source;
        EXPECT_LE(h.error, min) << what;
    }
    for (const auto& [source, t] : truth) {
        if (t > min) {
            EXPECT_TRUE(held.count(source)) << what << ": source " << source << " with " << t
                                            << " packets (> min " << min << ") is missing";
        }
    }
}

}  // namespace

TEST(HeavyKey, PrefixesClearHostBits) {
    const HeavyKey k24 = HeavyKey::prefix(v4(0xc0a80a37), 4, 24);
    EXPECT_EQ(k24.words[0], 0xc0a80a00u);
    EXPECT_EQ(k24.length, 24);
    EXPECT_EQ(HeavyKey::prefix(v4(0xc0a80a01), 4, 24), k24);
    EXPECT_FALSE(HeavyKey::host(v4(0xc0a80a00), 4) == k24);  // a /32 is not the /24

    IpAddress a6;
    for (int i = 0; i < 16; ++i) {
        a6.v6[i] = static_cast<uint8_t>(0x20 + i);
    }
    const HeavyKey k48 = HeavyKey::prefix(a6, 6, 48);
    const IpAddress back = k48.address();
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(back.v6[i], i < 6 ? a6.v6[i] : 0) << i;
    }
    // Every length, against a bit-by-bit mask computed here.
    IpAddress ones;
    std::memset(ones.v6, 0xff, 16);
    for (unsigned len = 0; len <= 128; ++len) {
        const IpAddress got = HeavyKey::prefix(ones, 6, static_cast<uint8_t>(len)).address();
        for (unsigned bit = 0; bit < 128; ++bit) {
            const bool set = (got.v6[bit / 8] >> (7 - bit % 8)) & 1;
            ASSERT_EQ(set, bit < len) << "length " << len << " bit " << bit;
        }
    }
    const HeavyKey h6 = HeavyKey::host(a6, 6);
    EXPECT_EQ(h6.hash(), hash_ipv6(a6.v6));
    EXPECT_EQ(host4(0x01020304).hash(), hash_ipv4(0x01020304));
}

TEST(SpaceSaving, ExactWhileNotFull) {
    SpaceSaving s(64);
    std::mt19937 rng(1);
    std::map<uint32_t, uint64_t> packets, bytes;
    std::map<uint32_t, std::set<uint32_t>> dsts, services;
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> seen;
    for (uint64_t t = 0; t < 5000; ++t) {
        const uint32_t src = 1000 + rng() % 50;
        const uint32_t b = 40 + rng() % 100;
        const uint32_t dst = rng() % 20;
        const uint32_t svc = rng() % 12;
        count(s, src, b, dst, svc, t);
        ++packets[src];
        bytes[src] += b;
        dsts[src].insert(dst);
        services[src].insert(svc);
        if (!seen.count(src)) {
            seen[src] = {t, t};
        }
        seen[src].second = t;
    }
    const auto top = s.top(100);
    ASSERT_EQ(top.size(), packets.size());
    for (size_t i = 0; i < top.size(); ++i) {
        const HeavyHitter& h = top[i];
        const uint32_t src = static_cast<uint32_t>(h.key.words[0]);
        EXPECT_EQ(h.packets, packets[src]);
        EXPECT_EQ(h.error, 0u);
        EXPECT_EQ(h.bytes, bytes[src]);
        EXPECT_EQ(h.distinct_destinations, dsts[src].size());
        EXPECT_EQ(h.distinct_services, services[src].size());
        EXPECT_EQ(h.first_seen, seen[src].first);
        EXPECT_EQ(h.last_seen, seen[src].second);
        if (i > 0) {
            EXPECT_GE(top[i - 1].packets, h.packets);
        }
    }
}

// Many small random streams with a tiny capacity, checking the bounds after every packet, so
// that every path of the bucket lists (join, split, move up alone, evict) is exercised.
TEST(SpaceSaving, BoundsHoldAfterEveryUpdateOnRandomStreams) {
    std::mt19937 rng(2);
    for (int round = 0; round < 200; ++round) {
        const uint32_t capacity = 1 + rng() % 8;
        const uint32_t keys = 1 + rng() % 30;
        SpaceSaving s(capacity);
        std::unordered_map<uint32_t, uint64_t> truth;
        const int length = 1 + static_cast<int>(rng() % 300);
        for (int i = 0; i < length; ++i) {
            // Skewed: low key numbers more often.
            const uint32_t src = std::min(rng() % keys, rng() % keys);
            count(s, src);
            ++truth[src];
            expect_bounds(s, truth, static_cast<uint64_t>(i + 1), "random stream");
            // Space-Saving's counts add up to N exactly.
            uint64_t sum = 0;
            for (const HeavyHitter& h : s.top(capacity)) {
                sum += h.packets;
            }
            ASSERT_EQ(sum, s.total());
            if (HasFailure()) {
                return;
            }
        }
    }
}

TEST(SpaceSaving, MergeKeepsBoundsOnRandomStreams) {
    std::mt19937 rng(3);
    for (int round = 0; round < 300; ++round) {
        const uint32_t capacity = 1 + rng() % 8;
        const uint32_t keys = 1 + rng() % 40;
        const int parts = 2 + static_cast<int>(rng() % 3);
        std::vector<std::unique_ptr<SpaceSaving>> workers;
        std::unordered_map<uint32_t, uint64_t> truth;
        uint64_t n = 0;
        for (int w = 0; w < parts; ++w) {
            workers.push_back(std::make_unique<SpaceSaving>(capacity));
            const int length = static_cast<int>(rng() % 200);
            for (int i = 0; i < length; ++i) {
                const uint32_t src = std::min(rng() % keys, rng() % keys);
                count(*workers.back(), src);
                ++truth[src];
                ++n;
            }
        }
        for (int w = 1; w < parts; ++w) {
            workers[0]->merge(*workers[w]);
        }
        expect_bounds(*workers[0], truth, n, "merged");
        // The merged summary keeps counting correctly.
        for (int i = 0; i < 50; ++i) {
            const uint32_t src = rng() % keys;
            count(*workers[0], src);
            ++truth[src];
            ++n;
        }
        expect_bounds(*workers[0], truth, n, "merged then updated");
        if (HasFailure()) {
            return;
        }
    }
}

namespace {

// A darknet-like mix: 10^6 background sources with Zipf (s = 1) counts, at most 3000 each, plus
// 10 planted scanners with 60000, 55000, ..., 15000 packets; the gap between them (5000) is
// above N / k, so Space-Saving must return them in order. Each planted scanner p sweeps a
// cycle of 20 + p destinations and 1 + p services.
struct ZipfMix {
    static constexpr uint32_t kBackground = 1000000;
    static constexpr int kPlanted = 10;
    std::vector<uint32_t> stream;  // source per packet
    std::unordered_map<uint32_t, uint64_t> truth;
    std::vector<uint32_t> planted;

    ZipfMix() {
        std::mt19937 rng(4);
        for (uint32_t r = 1; r <= kBackground; ++r) {
            const uint32_t source = 0x20000000 + r * 7;  // spread over a /3
            const uint32_t c = (3000 + r - 1) / r;       // ceil(3000 / r)
            stream.insert(stream.end(), c, source);
        }
        for (int p = 0; p < kPlanted; ++p) {
            const uint32_t source = 0xc6336400 + static_cast<uint32_t>(p);  // 198.51.100.p
            planted.push_back(source);
            stream.insert(stream.end(), 60000 - 5000 * static_cast<uint32_t>(p), source);
        }
        std::shuffle(stream.begin(), stream.end(), rng);
        truth.reserve(kBackground + kPlanted);
        for (uint32_t s : stream) {
            ++truth[s];
        }
    }
};

const ZipfMix& zipf_mix() {
    static const ZipfMix mix;
    return mix;
}

void feed(SpaceSaving& s, const std::vector<uint32_t>& stream, size_t begin, size_t end) {
    uint32_t sent[ZipfMix::kPlanted] = {};  // packets sent so far by each planted scanner
    for (size_t i = begin; i < end; ++i) {
        const uint32_t src = stream[i];
        const uint32_t p = src - 0xc6336400u;
        uint32_t dst = 0xcb007100u + static_cast<uint32_t>(i % 4);
        uint32_t service = 6u << 16 | 23;
        if (p < ZipfMix::kPlanted) {
            const uint32_t k = sent[p]++;
            dst = 0xcb007100u + k % (20 + p);
            service = 6u << 16 | (k % (1 + p));
        }
        s.update(host4(src), hash_ipv4(src), 60, hash_ipv4(dst), service, i);
    }
}

// Brute-force top 10 by true count.
std::vector<uint32_t> true_top(const std::unordered_map<uint32_t, uint64_t>& truth, size_t n) {
    std::vector<std::pair<uint64_t, uint32_t>> all;
    for (const auto& [s, c] : truth) {
        all.push_back({c, s});
    }
    std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<uint32_t> out;
    for (size_t i = 0; i < n; ++i) {
        out.push_back(all[i].second);
    }
    return out;
}

}  // namespace

TEST(SpaceSaving, RecoversPlantedTopTenFromZipfMix) {
    const ZipfMix& mix = zipf_mix();
    const std::vector<uint32_t> expected = true_top(mix.truth, 10);
    ASSERT_EQ(expected, mix.planted);  // the planted scanners are the true top 10
    SpaceSaving s(1024);
    feed(s, mix.stream, 0, mix.stream.size());
    const uint64_t n = mix.stream.size();
    std::printf("N=%llu sources=%zu N/k=%llu min=%llu\n", static_cast<unsigned long long>(n),
                mix.truth.size(), static_cast<unsigned long long>(s.error_bound()),
                static_cast<unsigned long long>(s.min_count()));
    const auto top = s.top(10);
    ASSERT_EQ(top.size(), 10u);
    for (int i = 0; i < 10; ++i) {
        const uint32_t src = static_cast<uint32_t>(top[i].key.words[0]);
        EXPECT_EQ(src, expected[i]) << "rank " << i;
        const uint64_t t = mix.truth.at(expected[i]);
        EXPECT_LE(top[i].packets - top[i].error, t);
        EXPECT_GE(top[i].packets, t);
        // Distinct destinations (20 + i) and services (1 + i) were sent in cycles, so the few
        // packets a scanner may have lost before it settled in its slot do not change them.
        EXPECT_EQ(top[i].distinct_destinations, 20u + static_cast<unsigned>(i));
        EXPECT_EQ(top[i].distinct_services, 1u + static_cast<unsigned>(i));
    }
    expect_bounds(s, mix.truth, n, "zipf");
}

TEST(SpaceSaving, MergeOfTwoHalvesMatchesOneSummary) {
    const ZipfMix& mix = zipf_mix();
    const size_t n = mix.stream.size();
    SpaceSaving whole(1024);
    feed(whole, mix.stream, 0, n);

    // Two workers, each given the sources its RSS queue would get (one bit of the source hash).
    std::vector<uint32_t> part[2];
    for (uint32_t src : mix.stream) {
        part[hash_ipv4(src) >> 63].push_back(src);
    }
    SpaceSaving a(1024);
    SpaceSaving b(1024);
    feed(a, part[0], 0, part[0].size());
    feed(b, part[1], 0, part[1].size());
    a.merge(b);

    expect_bounds(a, mix.truth, n, "merged halves");
    const auto merged_top = a.top(10);
    const auto whole_top = whole.top(10);
    const uint64_t bound = a.error_bound();
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(merged_top[i].key, whole_top[i].key) << "rank " << i;
        const int64_t diff = static_cast<int64_t>(merged_top[i].packets) -
                             static_cast<int64_t>(whole_top[i].packets);
        EXPECT_LE(static_cast<uint64_t>(std::abs(diff)), bound) << "rank " << i;
        EXPECT_EQ(merged_top[i].distinct_destinations, whole_top[i].distinct_destinations);
    }
}

TEST(SpaceSaving, CallerMemoryAndClear) {
    const size_t bytes = SpaceSaving::required_bytes(128);
    std::vector<uint64_t> backing(bytes / 8 + 16);
    auto* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(backing.data()) + 63) &
                                            ~uintptr_t{63});
    SpaceSaving s(128, aligned, bytes);
    std::unordered_map<uint32_t, uint64_t> truth;
    std::mt19937 rng(6);
    for (int i = 0; i < 20000; ++i) {
        const uint32_t src = std::min(rng() % 5000, rng() % 5000);
        count(s, src);
        ++truth[src];
    }
    expect_bounds(s, truth, 20000, "caller memory");
    s.clear();
    EXPECT_EQ(s.size(), 0u);
    EXPECT_EQ(s.total(), 0u);
    count(s, 42);
    ASSERT_EQ(s.top(5).size(), 1u);
    EXPECT_EQ(s.top(5)[0].packets, 1u);
    EXPECT_THROW(SpaceSaving(128, aligned, bytes - 1), std::invalid_argument);
}

// Source prefixes carry the distinct addresses seen inside them, counted exactly for IPv4 /24:
// planted /24s with known host sets among background prefixes, counted in two summaries (two
// workers) that see overlapping halves, then merged. Truth: the sets this test planted.
TEST(SpaceSaving, PrefixesCountDistinctSourcesInside) {
    SpaceSaving a(1024), b(1024);
    std::mt19937 rng(5);
    std::map<uint32_t, std::set<uint32_t>> truth;  // /24 -> hosts
    auto send = [&](SpaceSaving& s, uint32_t src) {
        const HeavyKey key = HeavyKey::prefix(v4(src), 4, 24);
        s.update_prefix(key, key.hash(), 60, hash_ipv4(0xcb007101), 6 << 16 | 445, 0, 0, 0, 0,
                        v4(src), hash_ipv4(src));
    };
    for (uint32_t p = 0; p < 10; ++p) {
        const uint32_t prefix = (0x0a000000u + (p << 8));
        const uint32_t hosts = 1 + p * 28;  // 1 .. 253 hosts
        for (int round = 0; round < 50; ++round) {
            for (uint32_t h = 0; h < hosts; ++h) {
                const uint32_t src = prefix | ((h * 37 + 1) & 0xff);
                truth[prefix].insert(src);
                if (round % 2 == 0 || h % 3 == 0)
                    send(a, src);
                if (round % 2 == 1 || h % 3 == 1)
                    send(b, src);
            }
        }
    }
    for (int i = 0; i < 20000; ++i)  // background: many small prefixes
        send(i % 2 ? a : b, 0x50000000u + rng() % 0x01000000u);
    a.merge(b);
    const auto top = a.top(10);
    ASSERT_EQ(top.size(), 10u);
    for (const auto& h : top) {
        const uint32_t prefix = static_cast<uint32_t>(h.key.words[0]);
        ASSERT_TRUE(truth.count(prefix)) << std::hex << prefix;
        EXPECT_EQ(h.distinct_sources, truth[prefix].size()) << std::hex << prefix;
    }
    // A host key is its own single source.
    SpaceSaving hosts(16);
    count(hosts, 0x01020304);
    EXPECT_EQ(hosts.top(1)[0].distinct_sources, 1u);
}

// merge() works in place; its result must be exactly the definition's: every key of either
// summary with counts and errors added (a key held by one only charged the other's minimum),
// the `capacity` largest kept in rank order. The reference below computes that from the two
// summaries' listings, for targets empty, partly filled and full, merged into again and again as
// the stats core's hour, day and total windows are, and for disjoint merges.
namespace {

struct Row {
    uint64_t packets, error, bytes, first_seen, last_seen;
    uint16_t flags;
    uint64_t destinations;
};

std::vector<std::pair<HeavyKey, Row>> merged_by_definition(const SpaceSaving& a,
                                                           const SpaceSaving& b, bool disjoint) {
    const uint64_t min_a = disjoint ? 0 : a.min_count();
    const uint64_t min_b = disjoint ? 0 : b.min_count();
    std::map<std::pair<uint64_t, uint64_t>, std::pair<HeavyKey, Row>> rows;
    auto key_of = [](const HeavyKey& k) { return std::make_pair(k.words[0], k.words[1]); };
    for (const HeavyHitter& h : a.top(a.capacity()))
        rows[key_of(h.key)] = {h.key,
                               {h.packets + min_b, h.error + min_b, h.bytes, h.first_seen,
                                h.last_seen, h.flags, h.distinct_destinations}};
    for (const HeavyHitter& h : b.top(b.capacity())) {
        auto it = rows.find(key_of(h.key));
        if (it == rows.end()) {
            rows[key_of(h.key)] = {h.key,
                                   {h.packets + min_a, h.error + min_a, h.bytes, h.first_seen,
                                    h.last_seen, h.flags, h.distinct_destinations}};
            continue;
        }
        Row& r = it->second.second;
        r.packets += h.packets - min_b;
        r.error += h.error - min_b;
        r.bytes += h.bytes;
        r.first_seen = std::min(r.first_seen, h.first_seen);
        r.last_seen = std::max(r.last_seen, h.last_seen);
        r.flags = static_cast<uint16_t>(r.flags | h.flags);
        r.destinations = 0;  // a merged sketch: not derivable from the listings
    }
    std::vector<std::pair<HeavyKey, Row>> out;
    for (auto& [k, v] : rows)
        out.push_back(v);
    std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
        if (x.second.packets != y.second.packets)
            return x.second.packets > y.second.packets;
        if (x.second.error != y.second.error)
            return x.second.error < y.second.error;
        if (x.first.words[0] != y.first.words[0])
            return x.first.words[0] < y.first.words[0];
        return x.first.words[1] < y.first.words[1];
    });
    if (out.size() > a.capacity())
        out.resize(a.capacity());
    return out;
}

void expect_listing(const SpaceSaving& s, const std::vector<std::pair<HeavyKey, Row>>& want,
                    const std::string& what) {
    const auto got = s.top(s.capacity());
    ASSERT_EQ(got.size(), want.size()) << what;
    ASSERT_EQ(s.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        const Row& w = want[i].second;
        ASSERT_EQ(got[i].key, want[i].first) << what << " rank " << i;
        EXPECT_EQ(got[i].packets, w.packets) << what << " rank " << i;
        EXPECT_EQ(got[i].error, w.error) << what << " rank " << i;
        EXPECT_EQ(got[i].bytes, w.bytes) << what << " rank " << i;
        EXPECT_EQ(got[i].first_seen, w.first_seen) << what << " rank " << i;
        EXPECT_EQ(got[i].last_seen, w.last_seen) << what << " rank " << i;
        EXPECT_EQ(got[i].flags, w.flags) << what << " rank " << i;
        if (w.destinations != 0) {
            EXPECT_EQ(got[i].distinct_destinations, w.destinations) << what << " rank " << i;
        }
    }
}

}  // namespace

TEST(SpaceSaving, MergeInPlaceEqualsTheDefinition) {
    std::mt19937 rng(11);
    for (int round = 0; round < 400; ++round) {
        const uint32_t capacity = 1 + rng() % 24;
        const uint32_t keys = 1 + rng() % 80;
        SpaceSaving window(capacity);
        uint64_t now = 0;
        const int intervals = 1 + static_cast<int>(rng() % 12);
        for (int iv = 0; iv < intervals; ++iv) {
            SpaceSaving interval(capacity);
            // Intervals of a few packets (a sparse capture) up to several times the capacity.
            const int length = static_cast<int>(rng() % (rng() % 2 ? 6 : 160));
            const uint32_t base = rng() % keys;
            for (int i = 0; i < length; ++i) {
                const uint32_t src = (base + std::min(rng() % keys, rng() % keys)) % keys;
                interval.update(host4(src), hash_ipv4(src), 40 + rng() % 1400,
                                hash_ipv4(rng() % 16), rng() % 4, ++now, 0, 0,
                                static_cast<uint16_t>(1u << (rng() % 3)));
            }
            const bool disjoint = false;
            const auto want = merged_by_definition(window, interval, disjoint);
            window.merge(interval, disjoint);
            expect_listing(window, want,
                           "round " + std::to_string(round) + " interval " + std::to_string(iv));
            if (HasFailure())
                return;
        }
        // Still a working summary: it keeps counting after the merges.
        const auto before = window.top(capacity);
        const uint32_t src = before.empty() ? 1 : static_cast<uint32_t>(before[0].key.words[0]);
        count(window, src);
        const auto after = window.top(capacity);
        ASSERT_FALSE(after.empty());
        EXPECT_EQ(after[0].key, host4(src));
        EXPECT_EQ(after[0].packets, (before.empty() ? 0 : before[0].packets) + 1);
    }
}

TEST(SpaceSaving, DisjointMergeInPlaceEqualsTheDefinition) {
    std::mt19937 rng(12);
    for (int round = 0; round < 300; ++round) {
        const uint32_t capacity = 1 + rng() % 24;
        SpaceSaving a(capacity), b(capacity);
        for (int i = 0, n = static_cast<int>(rng() % 100); i < n; ++i)
            count(a, 2 * (rng() % 40), 60, rng() % 8);  // even sources here, odd ones there
        for (int i = 0, n = static_cast<int>(rng() % 100); i < n; ++i)
            count(b, 2 * (rng() % 40) + 1, 60, rng() % 8);
        const auto want = merged_by_definition(a, b, true);
        a.merge(b, true);
        expect_listing(a, want, "round " + std::to_string(round));
        if (HasFailure())
            return;
    }
}

// A summary on a caller's block: all-zero bytes taken as they are (zeroed = true, the workers'
// rte_zmalloc or fresh pages) and a block of garbage initialised (zeroed = false) count exactly
// as a summary of its own.
TEST(SpaceSaving, CallersBlockZeroedOrNotCountsAsItsOwn) {
    const uint32_t capacity = 64;
    const size_t bytes = SpaceSaving::required_bytes(capacity);
    std::vector<unsigned char> zero_block(bytes + 64, 0), garbage_block(bytes + 64, 0xa5);
    auto aligned = [](std::vector<unsigned char>& v) {
        auto p = reinterpret_cast<std::uintptr_t>(v.data());
        return reinterpret_cast<void*>((p + 63) & ~std::uintptr_t{63});
    };
    SpaceSaving own(capacity);
    SpaceSaving on_zero(capacity, aligned(zero_block), bytes, true);
    SpaceSaving on_garbage(capacity, aligned(garbage_block), bytes, false);
    std::mt19937 rng(5);
    for (int i = 0; i < 5000; ++i) {
        const uint32_t src = std::min(rng() % 500, rng() % 500);
        const uint32_t dst = rng() % 50;
        for (SpaceSaving* s : {&own, &on_zero, &on_garbage})
            count(*s, src, 60, dst, dst % 7, static_cast<uint64_t>(i));
    }
    const auto want = own.top(capacity);
    for (const SpaceSaving* s : {&on_zero, &on_garbage}) {
        const auto got = s->top(capacity);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].key, want[i].key) << i;
            EXPECT_EQ(got[i].packets, want[i].packets) << i;
            EXPECT_EQ(got[i].error, want[i].error) << i;
            EXPECT_EQ(got[i].distinct_destinations, want[i].distinct_destinations) << i;
            EXPECT_EQ(got[i].distinct_services, want[i].distinct_services) << i;
        }
    }
}
