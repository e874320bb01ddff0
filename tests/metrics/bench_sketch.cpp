// Per-packet costs of the sketches: source hash, HyperLogLog add (sparse and dense), estimate and
// merge, Space-Saving update on a skewed mix and on a flood of new sources.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/hll.hpp"

using namespace darkscope;

namespace {

constexpr size_t kInputs = 1 << 16;  // power of two: index with a mask

std::vector<uint32_t> random_addresses(uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint32_t> v(kInputs);
    for (auto& a : v) {
        a = rng();
    }
    return v;
}

void BM_HashIpv4(benchmark::State& state) {
    const auto addresses = random_addresses(1);
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(hash_ipv4(addresses[i++ & (kInputs - 1)]));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HashIpv4);

void BM_HashIpv6(benchmark::State& state) {
    std::mt19937 rng(2);
    std::vector<uint8_t> bytes(kInputs * 16);
    for (auto& b : bytes) {
        b = static_cast<uint8_t>(rng());
    }
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(hash_ipv6(&bytes[(i++ & (kInputs - 1)) * 16]));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HashIpv6);

// A burst-shaped loop as a worker runs it: hash then add, per packet.
template <typename Sketch>
void BM_HllAddDense(benchmark::State& state) {
    const auto addresses = random_addresses(3);
    auto sketch = std::make_unique<Sketch>();
    for (uint32_t a : addresses) {
        sketch->add_hash(hash_ipv4(a));
    }
    size_t i = 0;
    for (auto _ : state) {
        sketch->add_hash(hash_ipv4(addresses[i++ & (kInputs - 1)] + 1));
    }
    benchmark::DoNotOptimize(sketch->register_at(0));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HllAddDense<PreciseHyperLogLog>)->Name("BM_HllAddDense/P16");
BENCHMARK(BM_HllAddDense<HyperLogLog>)->Name("BM_HllAddDense/P14");
BENCHMARK(BM_HllAddDense<TinyHyperLogLog>)->Name("BM_HllAddDense/P8");

// Sparse: a sketch holding `fill` distinct hashes, fed hashes it already holds (a source that
// keeps coming back, the common case once an interval is warm) and new ones alternately.
template <typename Sketch>
void BM_HllAddSparse(benchmark::State& state) {
    const uint32_t fill = static_cast<uint32_t>(state.range(0));
    auto sketch = std::make_unique<Sketch>();
    std::vector<uint64_t> held(kInputs);  // the fill's hashes, cycled: no division per call
    for (size_t k = 0; k < kInputs; ++k) {
        held[k] = hash_ipv4(static_cast<uint32_t>(k % fill));
        sketch->add_hash(held[k]);
    }
    size_t i = 0;
    for (auto _ : state) {
        sketch->add_hash(held[i++ & (kInputs - 1)]);
    }
    benchmark::DoNotOptimize(sketch->is_sparse());
    if (!sketch->is_sparse()) {
        state.SkipWithError("left sparse mode");
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HllAddSparse<HyperLogLog>)->Name("BM_HllAddSparse/P14")->Arg(16)->Arg(1024);
BENCHMARK(BM_HllAddSparse<TinyHyperLogLog>)->Name("BM_HllAddSparse/P8")->Arg(4)->Arg(32);

// From empty to the sparse threshold and over it: the cost of sparse inserts and the one
// conversion, per hash, as seen by an interval's first packets.
void BM_HllFillThroughConversion(benchmark::State& state) {
    auto sketch = std::make_unique<HyperLogLog>();
    const uint32_t n = HyperLogLog::kSparseLimit + 1;
    uint32_t round = 0;
    for (auto _ : state) {
        sketch->clear();
        for (uint32_t k = 0; k < n; ++k) {
            sketch->add_hash(hash_ipv4(round * n + k));
        }
        ++round;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}
BENCHMARK(BM_HllFillThroughConversion);

void BM_HllEstimate(benchmark::State& state) {
    auto sketch = std::make_unique<HyperLogLog>();
    for (uint32_t k = 0; k < 1000000; ++k) {
        sketch->add_hash(hash_ipv4(k));
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(sketch->estimate());
    }
}
BENCHMARK(BM_HllEstimate);

void BM_HllMergeDense(benchmark::State& state) {
    auto a = std::make_unique<HyperLogLog>();
    auto b = std::make_unique<HyperLogLog>();
    for (uint32_t k = 0; k < 1000000; ++k) {
        a->add_hash(hash_ipv4(k));
        b->add_hash(hash_ipv4(k + 500000));
    }
    for (auto _ : state) {
        a->merge(*b);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * HyperLogLog::kRegisters);
}
BENCHMARK(BM_HllMergeDense);

void BM_HllMergeSparseIntoDense(benchmark::State& state) {
    auto a = std::make_unique<HyperLogLog>();
    auto b = std::make_unique<HyperLogLog>();
    for (uint32_t k = 0; k < 100000; ++k) {
        a->add_hash(hash_ipv4(k));
    }
    for (uint32_t k = 0; k < 1000; ++k) {
        b->add_hash(hash_ipv4(k + 7000000));
    }
    for (auto _ : state) {
        a->merge(*b);
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_HllMergeSparseIntoDense);

// Space-Saving, k = 1024, one update per packet with the per-packet hashes precomputed as the
// worker has them.
struct Packet {
    HeavyKey key;
    uint64_t hash;
    uint64_t dst_hash;
    uint32_t service;
};

std::vector<Packet> packets(bool flood) {
    std::mt19937 rng(5);
    // Skewed: 70 % of packets from 100 busy sources, the rest over 10^6 (Zipf-like mix); or
    // every packet from a fresh spoofed source.
    std::vector<Packet> v(kInputs);
    uint32_t fresh = 0x30000000;
    for (auto& p : v) {
        uint32_t src;
        if (flood) {
            src = fresh++;
        } else if (rng() % 10 < 7) {
            src = 0xc6336400 + rng() % 100;
        } else {
            src = 0x20000000 + rng() % 1000000;
        }
        IpAddress a;
        std::memset(&a, 0, sizeof a);
        a.v4 = src;
        p.key = HeavyKey::host(a, 4);
        p.hash = hash_ipv4(src);
        p.dst_hash = hash_ipv4(0xcb007100 + rng() % 256);
        p.service = 6u << 16 | (rng() % 8 == 0 ? rng() % 65536 : 23);
    }
    return v;
}

void BM_SpaceSavingUpdate(benchmark::State& state) {
    const auto stream = packets(state.range(0) != 0);
    SpaceSaving s(1024);
    size_t i = 0;
    uint64_t now = 0;
    for (auto _ : state) {
        const Packet& p = stream[i++ & (kInputs - 1)];
        s.update(p.key, p.hash, 60, p.dst_hash, p.service, ++now);
    }
    benchmark::DoNotOptimize(s.total());
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetLabel(state.range(0) ? "flood of new sources" : "skewed mix");
}
BENCHMARK(BM_SpaceSavingUpdate)->Arg(0)->Arg(1);

void BM_SpaceSavingMerge(benchmark::State& state) {
    const auto stream = packets(false);
    SpaceSaving a(1024);
    SpaceSaving b(1024);
    for (size_t i = 0; i < stream.size(); ++i) {
        const Packet& p = stream[i];
        (i % 2 ? a : b).update(p.key, p.hash, 60, p.dst_hash, p.service, i);
    }
    for (auto _ : state) {
        a.merge(b);
    }
    benchmark::DoNotOptimize(a.total());
}
BENCHMARK(BM_SpaceSavingMerge);

}  // namespace

BENCHMARK_MAIN();
