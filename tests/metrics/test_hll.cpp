// Source hash and HyperLogLog: distribution of the hash, exactness of the sparse mode, error of
// the estimate against counts known by construction, union semantics and serialization.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/hll.hpp"

using namespace darkscope;

namespace {

// Pearson chi-square of `values` over 2^bits buckets picked by `shift`.
double chi_square(const std::vector<uint64_t>& values, unsigned shift, unsigned bits) {
    std::vector<uint64_t> buckets(size_t{1} << bits, 0);
    const uint64_t mask = (uint64_t{1} << bits) - 1;
    for (uint64_t v : values) {
        ++buckets[(v >> shift) & mask];
    }
    const double expected = static_cast<double>(values.size()) / buckets.size();
    double chi = 0;
    for (uint64_t b : buckets) {
        const double d = static_cast<double>(b) - expected;
        chi += d * d / expected;
    }
    return chi;
}

// With 1023 degrees of freedom the statistic has mean 1023 and standard deviation ~45; a broken
// hash (sequential input leaking into the bucket bits) lands in the tens of thousands.
void expect_uniform(const std::vector<uint64_t>& hashes, const char* what) {
    constexpr unsigned kBits = 10;
    const double dof = (1u << kBits) - 1;
    const double limit = dof + 6 * std::sqrt(2 * dof);
    for (unsigned shift : {0u, 10u, 27u, 44u, 54u}) {
        const double chi = chi_square(hashes, shift, kBits);
        EXPECT_LT(chi, limit) << what << ": bits " << shift << ".." << shift + kBits - 1;
    }
}

IpAddress v6_address(uint64_t high, uint64_t low) {
    IpAddress a;
    for (int i = 0; i < 8; ++i) {
        a.v6[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
        a.v6[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
    }
    return a;
}

double relative_error(uint64_t estimate, uint64_t truth) {
    return std::fabs(static_cast<double>(estimate) - static_cast<double>(truth)) /
           static_cast<double>(truth);
}

// Hashes of `count` distinct IPv4 addresses starting at `first`: distinct by construction
// (hash_ipv4 is a bijection), so the true cardinality is `count`.
template <typename Sketch>
void add_addresses(Sketch& sketch, uint32_t first, uint64_t count) {
    for (uint64_t i = 0; i < count; ++i) {
        sketch.add_hash(hash_ipv4(static_cast<uint32_t>(first + i)));
    }
}

template <typename Sketch>
bool same_registers(const Sketch& a, const Sketch& b) {
    for (uint32_t i = 0; i < Sketch::kRegisters; ++i) {
        if (a.register_at(i) != b.register_at(i)) {
            return false;
        }
    }
    return true;
}

}  // namespace

// ---------------------------------------------------------------- hash

TEST(SourceHash, SequentialIpv4IsUniformInEveryBitRange) {
    std::vector<uint64_t> hashes;
    const uint32_t base = 0x0a000000;  // 10.0.0.0, then the next 2^20 addresses
    for (uint32_t i = 0; i < (1u << 20); ++i) {
        hashes.push_back(hash_ipv4(base + i));
    }
    expect_uniform(hashes, "sequential IPv4");
}

TEST(SourceHash, SequentialIpv6IsUniformInEveryBitRange) {
    std::vector<uint64_t> by_interface;  // 2001:db8::/64, interface ids 0 .. 2^20-1
    std::vector<uint64_t> by_prefix;     // 2001:db8:0:N::1 for N = 0 .. 2^20-1
    for (uint64_t i = 0; i < (1u << 20); ++i) {
        by_interface.push_back(hash_ipv6(v6_address(0x20010db800000000ULL, i).v6));
        by_prefix.push_back(hash_ipv6(v6_address(0x20010db800000000ULL | i, 1).v6));
    }
    expect_uniform(by_interface, "IPv6 interface ids");
    expect_uniform(by_prefix, "IPv6 /64 prefixes");
}

TEST(SourceHash, EveryInputBitFlipsHalfTheOutputBits) {
    std::mt19937_64 rng(7);
    constexpr int kSamples = 4000;
    auto check = [&](auto hash_of, int input_bits, const char* what) {
        std::vector<std::vector<int>> flips(input_bits, std::vector<int>(64, 0));
        for (int s = 0; s < kSamples; ++s) {
            const uint64_t hi = rng();
            const uint64_t lo = rng();
            const uint64_t h = hash_of(hi, lo, -1);
            for (int bit = 0; bit < input_bits; ++bit) {
                const uint64_t diff = h ^ hash_of(hi, lo, bit);
                for (int o = 0; o < 64; ++o) {
                    flips[bit][o] += (diff >> o) & 1;
                }
            }
        }
        // Standard deviation of each ratio is 0.008: 0.06 is over 7 of them.
        for (int bit = 0; bit < input_bits; ++bit) {
            for (int o = 0; o < 64; ++o) {
                const double p = static_cast<double>(flips[bit][o]) / kSamples;
                ASSERT_NEAR(p, 0.5, 0.06) << what << " input bit " << bit << " output bit " << o;
            }
        }
    };
    check(
        [](uint64_t, uint64_t lo, int bit) {
            uint32_t a = static_cast<uint32_t>(lo);
            if (bit >= 0) {
                a ^= 1u << bit;
            }
            return hash_ipv4(a);
        },
        32, "IPv4");
    check(
        [](uint64_t hi, uint64_t lo, int bit) {
            if (bit >= 64) {
                lo ^= uint64_t{1} << (bit - 64);
            } else if (bit >= 0) {
                hi ^= uint64_t{1} << bit;
            }
            return hash_ipv6(v6_address(hi, lo).v6);
        },
        128, "IPv6");
}

TEST(SourceHash, HashAddressDispatchesOnFamily) {
    IpAddress a;
    std::memset(&a, 0, sizeof a);
    a.v4 = 0xc0000201;
    EXPECT_EQ(hash_address(a, 4), hash_ipv4(0xc0000201));
    const IpAddress b = v6_address(0x20010db800000000ULL, 0x1234);
    EXPECT_EQ(hash_address(b, 6), hash_ipv6(b.v6));
    EXPECT_NE(hash_ipv4(1), hash_value(1));
}

// ---------------------------------------------------------------- HyperLogLog exactness

template <typename Sketch>
void expect_exact_below_threshold() {
    auto sketch = std::make_unique<Sketch>();
    std::mt19937_64 rng(11);
    std::vector<uint64_t> seen;
    for (uint32_t n = 1; n <= Sketch::kSparseLimit; ++n) {
        const uint64_t h = rng();
        seen.push_back(h);
        sketch->add_hash(h);
        // Re-adding any earlier hash changes nothing.
        sketch->add_hash(seen[rng() % seen.size()]);
        ASSERT_TRUE(sketch->is_sparse()) << n;
        ASSERT_EQ(sketch->estimate(), n);
    }
    sketch->add_hash(rng());
    EXPECT_FALSE(sketch->is_sparse());
    EXPECT_LT(relative_error(sketch->estimate(), Sketch::kSparseLimit + 1),
              3 * Sketch::standard_error());
}

TEST(HyperLogLog, ExactBelowSparseThresholdP16) {
    expect_exact_below_threshold<PreciseHyperLogLog>();
}
TEST(HyperLogLog, ExactBelowSparseThresholdP14) {
    expect_exact_below_threshold<HyperLogLog>();
}
TEST(HyperLogLog, ExactBelowSparseThresholdP12) {
    expect_exact_below_threshold<SmallHyperLogLog>();
}
TEST(HyperLogLog, ExactBelowSparseThresholdP8) {
    expect_exact_below_threshold<TinyHyperLogLog>();
}
TEST(HyperLogLog, ExactBelowSparseThresholdP7) {
    expect_exact_below_threshold<BasicHyperLogLog<7>>();
}

TEST(HyperLogLog, ZeroHashIsCountedOnce) {
    auto sketch = std::make_unique<HyperLogLog>();
    sketch->add_hash(0);
    sketch->add_hash(0);
    sketch->add_hash(5);
    EXPECT_EQ(sketch->estimate(), 2u);
    std::vector<uint8_t> bytes;
    sketch->serialize(bytes);
    auto copy = std::make_unique<HyperLogLog>();
    ASSERT_TRUE(copy->deserialize(bytes));
    EXPECT_EQ(copy->estimate(), 2u);
}

TEST(HyperLogLog, EmptyIsZero) {
    auto sketch = std::make_unique<HyperLogLog>();
    EXPECT_EQ(sketch->estimate(), 0u);
    sketch->add_hash(1);
    sketch->clear();
    EXPECT_EQ(sketch->estimate(), 0u);
    EXPECT_TRUE(sketch->is_sparse());
}

// ---------------------------------------------------------------- HyperLogLog accuracy

TEST(HyperLogLog, WithinTwoPercentForAddresses) {
    // Distinct sources by construction: consecutive addresses from a random start.
    std::mt19937 rng(3);
    for (uint64_t n : {uint64_t{10}, uint64_t{1000}, uint64_t{100000}, uint64_t{10000000}}) {
        auto sketch = std::make_unique<HyperLogLog>();
        auto precise = std::make_unique<PreciseHyperLogLog>();
        const uint32_t first = static_cast<uint32_t>(rng());
        add_addresses(*sketch, first, n);
        add_addresses(*precise, first, n);
        const uint64_t e = sketch->estimate();
        const uint64_t ep = precise->estimate();
        std::printf("n=%llu P14 estimate=%llu (%.4f%%) P16 estimate=%llu (%.4f%%)\n",
                    static_cast<unsigned long long>(n), static_cast<unsigned long long>(e),
                    100 * relative_error(e, n), static_cast<unsigned long long>(ep),
                    100 * relative_error(ep, n));
        EXPECT_LE(relative_error(e, n), 0.02) << "n=" << n << " estimate=" << e;
        EXPECT_LE(relative_error(ep, n), 0.02) << "n=" << n << " estimate=" << ep;
    }
}

TEST(HyperLogLog, WithinTwoPercentForRandomValues) {
    std::mt19937_64 rng(5);
    for (size_t n : {size_t{10}, size_t{1000}, size_t{100000}}) {
        auto sketch = std::make_unique<HyperLogLog>();
        std::vector<uint64_t> values;
        for (size_t i = 0; i < n; ++i) {
            values.push_back(rng());
            sketch->add_hash(values.back());
        }
        // Truth independent of the sketch: sort and count.
        std::sort(values.begin(), values.end());
        const uint64_t truth =
            static_cast<uint64_t>(std::unique(values.begin(), values.end()) - values.begin());
        EXPECT_LE(relative_error(sketch->estimate(), truth), 0.02) << "n=" << n;
    }
}

// Follows one stream of 10^8 distinct sources and checks the estimate at 200 cardinalities
// spread geometrically over 1 .. 10^8, the range the metrics issue names. Returns the worst
// relative error seen.
template <typename Sketch>
double worst_error_from_one_to_hundred_million(double limit) {
    auto sketch = std::make_unique<Sketch>();
    const uint32_t first = 0x01000000;
    uint64_t added = 0;
    double worst = 0;
    uint64_t worst_at = 0;
    int checkpoints = 0;
    for (double target = 1; target <= 1e8 * 1.0000001; target *= std::pow(1e8, 1.0 / 200)) {
        const uint64_t n = static_cast<uint64_t>(std::llround(target));
        if (n <= added) {
            continue;
        }
        add_addresses(*sketch, static_cast<uint32_t>(first + added), n - added);
        added = n;
        const double err = relative_error(sketch->estimate(), n);
        ++checkpoints;
        if (err > worst) {
            worst = err;
            worst_at = n;
        }
        EXPECT_LE(err, limit) << "P=" << Sketch::kPrecision << " n=" << n;
    }
    EXPECT_EQ(added, 100000000u);
    std::printf("P=%u: %d checkpoints, worst relative error %.4f%% at n=%llu\n", Sketch::kPrecision,
                checkpoints, 100 * worst, static_cast<unsigned long long>(worst_at));
    return worst;
}

// P = 16 keeps the 2 % promise everywhere with a wide margin (2 % is 4.9 standard errors).
TEST(HyperLogLog, PreciseWithinTwoPercentFromOneToHundredMillion) {
    worst_error_from_one_to_hundred_million<PreciseHyperLogLog>(0.02);
}

// P = 14: each point is within 2 % with probability 98.6 % (see hll.hpp); along a whole stream
// the bound that holds with confidence is 4 standard errors.
TEST(HyperLogLog, WithinFourStandardErrorsFromOneToHundredMillion) {
    worst_error_from_one_to_hundred_million<HyperLogLog>(4 * HyperLogLog::standard_error());
}

TEST(HyperLogLog, SmallerPrecisionsWithinThreeStandardErrors) {
    std::mt19937 rng(9);
    for (uint64_t n : {uint64_t{2000}, uint64_t{50000}, uint64_t{1000000}}) {
        auto p12 = std::make_unique<SmallHyperLogLog>();
        auto p8 = std::make_unique<TinyHyperLogLog>();
        const uint32_t first = static_cast<uint32_t>(rng());
        for (uint64_t i = 0; i < n; ++i) {
            const uint64_t h = hash_ipv4(static_cast<uint32_t>(first + i));
            p12->add_hash(h);
            p8->add_hash(h);
        }
        EXPECT_LE(relative_error(p12->estimate(), n), 3 * SmallHyperLogLog::standard_error()) << n;
        EXPECT_LE(relative_error(p8->estimate(), n), 3 * TinyHyperLogLog::standard_error()) << n;
    }
}

// ---------------------------------------------------------------- union

// Merging must give exactly the registers of one sketch fed with both inputs, in every
// combination of sparse and dense operands.
TEST(HyperLogLog, MergeEqualsSketchOfTheUnionInEveryMode) {
    struct Case {
        uint32_t a_first, a_count, b_first, b_count;
    };
    const Case cases[] = {
        {0, 500, 300, 500},           // sparse + sparse, stays sparse (union 800)
        {0, 1000, 500, 1000},         // sparse + sparse, overflows to dense
        {0, 100, 50, 100000},         // sparse + dense
        {0, 100000, 99000, 900},      // dense + sparse
        {0, 200000, 100000, 200000},  // dense + dense
    };
    for (const Case& c : cases) {
        auto a = std::make_unique<HyperLogLog>();
        auto b = std::make_unique<HyperLogLog>();
        auto both = std::make_unique<HyperLogLog>();
        add_addresses(*a, c.a_first, c.a_count);
        add_addresses(*b, c.b_first, c.b_count);
        add_addresses(*both, c.a_first, c.a_count);
        add_addresses(*both, c.b_first, c.b_count);
        const uint64_t truth =
            std::max(c.a_first + c.a_count, c.b_first + c.b_count) - std::min(c.a_first, c.b_first);
        auto ab = std::make_unique<HyperLogLog>(*a);
        ab->merge(*b);
        auto ba = std::make_unique<HyperLogLog>(*b);
        ba->merge(*a);
        EXPECT_EQ(ab->is_sparse(), both->is_sparse()) << c.a_count << "+" << c.b_count;
        EXPECT_EQ(ab->estimate(), both->estimate());
        EXPECT_EQ(ba->estimate(), both->estimate());
        if (!both->is_sparse()) {
            EXPECT_TRUE(same_registers(*ab, *both));
            EXPECT_TRUE(same_registers(*ba, *both));
            EXPECT_LE(relative_error(ab->estimate(), truth), 0.02);
        } else {
            EXPECT_EQ(ab->estimate(), truth);
        }
    }
}

TEST(HyperLogLog, UnionOfOverlappingSetsIsNotTheSum) {
    // A = [0, 600k), B = [400k, 1M): the union has 1M sources, the sum of the two counts is 1.2M.
    auto a = std::make_unique<HyperLogLog>();
    auto b = std::make_unique<HyperLogLog>();
    add_addresses(*a, 0, 600000);
    add_addresses(*b, 400000, 600000);
    const uint64_t sum = a->estimate() + b->estimate();
    a->merge(*b);
    EXPECT_LE(relative_error(a->estimate(), 1000000), 0.02);
    EXPECT_GT(relative_error(sum, 1000000), 0.15);
    // Merging the same sketch again, or itself, changes nothing (idempotent union).
    const uint64_t once = a->estimate();
    a->merge(*b);
    a->merge(*a);
    EXPECT_EQ(a->estimate(), once);
}

TEST(HyperLogLog, HourlyUnionOfIntervals) {
    // 12 intervals of 20,000 sources each, every interval sharing half its sources with the
    // previous one: the hour has 130,000 distinct sources, the sum of intervals is 240,000.
    auto hour = std::make_unique<HyperLogLog>();
    uint64_t sum = 0;
    for (uint32_t i = 0; i < 12; ++i) {
        auto interval = std::make_unique<HyperLogLog>();
        add_addresses(*interval, 10000 * i, 20000);
        sum += interval->estimate();
        hour->merge(*interval);
    }
    const uint64_t truth = 10000 * 11 + 20000;
    EXPECT_LE(relative_error(hour->estimate(), truth), 0.02);
    EXPECT_GT(sum, truth * 3 / 2);
}

// ---------------------------------------------------------------- serialization

template <typename Sketch>
void expect_round_trip(uint64_t n) {
    auto sketch = std::make_unique<Sketch>();
    add_addresses(*sketch, 12345, n);
    std::vector<uint8_t> bytes;
    sketch->serialize(bytes);
    auto copy = std::make_unique<Sketch>();
    ASSERT_TRUE(copy->deserialize(bytes)) << n;
    EXPECT_EQ(copy->is_sparse(), sketch->is_sparse());
    EXPECT_EQ(copy->estimate(), sketch->estimate());
    if (!sketch->is_sparse()) {
        EXPECT_TRUE(same_registers(*copy, *sketch));
    }
    std::vector<uint8_t> again;
    copy->serialize(again);
    EXPECT_EQ(again, bytes);
    // A restored sketch keeps working: adding more and merging behave as on the original.
    add_addresses(*copy, 12345 + static_cast<uint32_t>(n), 10);
    add_addresses(*sketch, 12345 + static_cast<uint32_t>(n), 10);
    EXPECT_EQ(copy->estimate(), sketch->estimate());
}

TEST(HyperLogLog, SerializeRoundTrip) {
    expect_round_trip<HyperLogLog>(0);
    expect_round_trip<HyperLogLog>(700);     // sparse
    expect_round_trip<HyperLogLog>(250000);  // dense
    expect_round_trip<TinyHyperLogLog>(20);
    expect_round_trip<TinyHyperLogLog>(5000);
    expect_round_trip<SmallHyperLogLog>(100000);
    expect_round_trip<PreciseHyperLogLog>(3000);
    expect_round_trip<PreciseHyperLogLog>(300000);
}

TEST(HyperLogLog, DeserializeRejectsMalformedInput) {
    auto sketch = std::make_unique<HyperLogLog>();
    add_addresses(*sketch, 0, 50000);
    std::vector<uint8_t> dense;
    sketch->serialize(dense);
    auto small = std::make_unique<HyperLogLog>();
    add_addresses(*small, 0, 10);
    std::vector<uint8_t> sparse;
    small->serialize(sparse);

    auto target = std::make_unique<HyperLogLog>();
    auto rejects = [&](std::vector<uint8_t> bytes) {
        return !target->deserialize(bytes) && target->estimate() == 0;
    };
    EXPECT_TRUE(rejects({}));
    EXPECT_TRUE(rejects(std::vector<uint8_t>(dense.begin(), dense.end() - 1)));  // truncated
    auto bad_rank = dense;
    bad_rank[5 + 100] = HyperLogLog::kMaxRank + 1;
    EXPECT_TRUE(rejects(bad_rank));
    auto other_precision = dense;
    other_precision[3] = 12;
    EXPECT_TRUE(rejects(other_precision));
    auto bad_magic = sparse;
    bad_magic[0] = 'X';
    EXPECT_TRUE(rejects(bad_magic));
    auto duplicate = sparse;  // the second hash replaced by the first
    std::copy(duplicate.begin() + 9, duplicate.begin() + 17, duplicate.begin() + 17);
    EXPECT_TRUE(rejects(duplicate));
    auto extra = sparse;
    extra.push_back(0);
    EXPECT_TRUE(rejects(extra));
    auto tiny = std::make_unique<TinyHyperLogLog>();
    EXPECT_FALSE(tiny->deserialize(dense));  // a P = 14 encoding is not a P = 8 sketch
}

TEST(HyperLogLog, MemoryIsInlineAndFixed) {
    EXPECT_EQ(HyperLogLog::memory_bytes(), sizeof(HyperLogLog));
    EXPECT_LE(HyperLogLog::memory_bytes(), 16384u + 64u);
    EXPECT_LE(TinyHyperLogLog::memory_bytes(), 256u + 8u);
    EXPECT_TRUE(std::is_trivially_copyable_v<HyperLogLog>);
}

namespace darkscope {
namespace {

// Folding a precise sketch down equals sketching the same hashes at the lower precision, register
// for register: the fold loses nothing beyond what the lower precision itself cannot hold.
TEST(HyperLogLog, FoldEqualsSketchingAtTheLowerPrecision) {
    std::mt19937_64 rng(99);
    for (uint32_t n : {5u, 40u, 2000u, 300000u}) {
        HyperLogLog precise;
        TinyHyperLogLog direct, folded;
        BasicHyperLogLog<10> direct10, folded10;
        for (uint32_t i = 0; i < n; ++i) {
            const uint64_t h = rng();
            precise.add_hash(h);
            direct.add_hash(h);
            direct10.add_hash(h);
        }
        folded.fold_from(precise);
        folded10.fold_from(precise);
        EXPECT_EQ(folded.estimate(), direct.estimate()) << n;
        EXPECT_EQ(folded10.estimate(), direct10.estimate()) << n;
        if (!direct.is_sparse()) {
            for (uint32_t r = 0; r < TinyHyperLogLog::kRegisters; ++r)
                ASSERT_EQ(folded.register_at(r), direct.register_at(r)) << n << " register " << r;
        }
    }
}

}  // namespace
}  // namespace darkscope

// Hashed-sparse sketches clear and list only the slot lines their hashes went to (line_mask_).
// A cleared sketch must be exactly a fresh one: a hash left behind in a slot would be taken as
// held (a later add of it not counted) and would reach the registers when the sketch turns
// dense. Hashes are chosen to collide, so that probing carries some into the next line, and the
// table's last line wraps to its first.
template <typename Sketch>
void expect_clear_is_fresh() {
    std::mt19937_64 rng(21);
    constexpr uint32_t top_bits = Sketch::kPrecision - 3;  // the slot index (sparse_slot)
    for (int round = 0; round < 20; ++round) {
        Sketch used;
        const uint64_t n = 1 + rng() % (Sketch::kSparseLimit - 1);
        for (uint64_t i = 0; i < n; ++i) {
            uint64_t h = rng() | 1;
            if (i % 3 == 0)  // a crowded slot: the table's last one, whose probes wrap around
                h = (~uint64_t{0} << (64 - top_bits)) | (rng() >> top_bits) | 1;
            used.add_hash(h);
        }
        ASSERT_TRUE(used.is_sparse());
        used.clear();
        EXPECT_EQ(used.estimate(), 0u) << "round " << round;
        // Both see the same hashes from here: while sparse they must hold the same set...
        Sketch fresh;
        std::vector<uint64_t> again;
        for (uint64_t i = 0; i < n; ++i)
            again.push_back(rng() | 1);
        for (uint64_t h : again) {
            used.add_hash(h);
            fresh.add_hash(h);
        }
        EXPECT_EQ(used.estimate(), fresh.estimate()) << "round " << round;
        std::vector<uint64_t> a, b;
        used.for_each_hash([&](uint64_t h) { a.push_back(h); });
        fresh.for_each_hash([&](uint64_t h) { b.push_back(h); });
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        EXPECT_EQ(a, b) << "round " << round;
        // ...and the same registers once dense.
        for (uint32_t i = 0; i < 2 * Sketch::kSparseLimit; ++i) {
            const uint64_t h = rng();
            used.add_hash(h);
            fresh.add_hash(h);
        }
        ASSERT_FALSE(used.is_sparse());
        for (uint32_t r = 0; r < Sketch::kRegisters; ++r)
            ASSERT_EQ(used.register_at(r), fresh.register_at(r))
                << "round " << round << " register " << r;
        used.clear();
        EXPECT_EQ(used.estimate(), 0u);
        used.add_hash(12345);
        EXPECT_EQ(used.estimate(), 1u) << "a dense sketch cleared is an empty sparse one";
    }
}

TEST(HyperLogLog, ClearedHashedSketchIsAFreshOne) {
    expect_clear_is_fresh<BasicHyperLogLog<12>>();
    expect_clear_is_fresh<HyperLogLog>();
    expect_clear_is_fresh<PreciseHyperLogLog>();
}
