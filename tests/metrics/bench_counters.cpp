// Google Benchmark of the per-packet table update (count_packet: dense counters, bounded tables,
// every unique sketch), of the worker's split of it (destination side per packet, source side per
// tuple) and of the stats core's merge of one worker's CounterSet, on a darknet-like
// mix of random sources and a heavy-tailed port mix.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/source_tuples.hpp"
#include "tuple_support.hpp"

namespace darkscope {
namespace {

std::vector<PacketFacts> make_mix(size_t n) {
    std::mt19937_64 rng(42);
    static const uint16_t ports[] = {445, 23, 1433, 3389, 22, 80, 8080, 21318, 5555, 443};
    std::vector<PacketFacts> out(n);
    for (auto& f : out) {
        clear(f);
        f.frame_len = 60 + rng() % 19;
        f.ip_version = 4;
        f.proto = Proto::tcp;
        f.ip_proto = 6;
        f.l4_valid = true;
        f.src.v4 = static_cast<uint32_t>(rng());
        f.dst.v4 = 0xcb007100u | (rng() & 0xff);
        f.dst_port = rng() % 4 ? ports[rng() % 10] : static_cast<uint16_t>(rng());
        f.cls = TrafficClass::tcp_scan;
        f.sensor = static_cast<uint16_t>(rng() % 3);
        f.country = static_cast<uint16_t>(1 + rng() % 200);
        f.asn = 1 + rng() % 20000;
    }
    return out;
}

void BM_CountPacket(benchmark::State& state) {
    auto table = std::make_unique<CounterSet>();
    SketchPool pool(512);
    table->pool = &pool;
    table->clear();
    const auto mix = make_mix(1 << 16);
    size_t i = 0;
    for (auto _ : state) {
        const PacketFacts& f = mix[i++ & (mix.size() - 1)];
        count_packet(*table, f, 0, hash_address(f.src, 4), hash_address(f.dst, 4));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CountPacket);

void BM_CountPacketDenseOnly(benchmark::State& state) {
    auto table = std::make_unique<CounterSet>();
    table->clear();
    const auto mix = make_mix(1 << 16);
    size_t i = 0;
    for (auto _ : state) {
        count_packet(*table, mix[i++ & (mix.size() - 1)], 0, 0, 0, true);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CountPacketDenseOnly);

// The worker's share of the same packets: the destination side's counters, one add to the
// packet's source tuple, and the destination sketches unless the tuple holds the destination
// inline (the source side and those destinations are counted per tuple later, by the stats core:
// BM_CountTuples). The mix repeats every 65536 packets, so after the first lap every tuple is
// held.
void BM_CountDestinationSideAndTuple(benchmark::State& state) {
    auto table = std::make_unique<CounterSet>();
    SketchPool pool(512);
    table->pool = &pool;
    table->clear();
    OwnedTupleTable tuples(1u << 21);
    const auto mix = make_mix(1 << 16);
    size_t i = 0;
    for (auto _ : state) {
        const PacketFacts& f = mix[i++ & (mix.size() - 1)];
        const uint64_t sh = hash_address(f.src, 4);
        const uint64_t dh = hash_address(f.dst, 4);
        const SourceKey k = source_key_of(f);
        ServiceCounts* service = resolve_service(*table, k);
        count_destination_counters(*table, f, k, service, 0, sh, dh);
        const TupleAdd added = tuple_add(*tuples, f, 0);
        if (added != TupleAdd::destination_held)
            count_destination_sketches(*table, k, service, dh);
        if (added == TupleAdd::refused)
            count_source(*table, sh, k, 1, f.frame_len);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CountDestinationSideAndTuple);

// The stats core's share: one retired epoch of 65536 distinct tuples counted into its set, per
// tuple.
void BM_CountTuples(benchmark::State& state) {
    OwnedTupleTable tuples(1u << 17);
    for (const auto& f : make_mix(1 << 16))
        add_to_tuple(*tuples, f, 0);
    auto table = std::make_unique<CounterSet>();
    SketchPool pool(512);
    table->pool = &pool;
    for (auto _ : state) {
        state.PauseTiming();
        table->clear();
        state.ResumeTiming();
        count_tuples(*table, *tuples);
        benchmark::DoNotOptimize(table->source_tuples);
    }
    state.SetItemsProcessed(state.iterations() * tuples->used());
}
BENCHMARK(BM_CountTuples)->Unit(benchmark::kMillisecond);
// The stats core's top talkers from the same tuples (sources and /24 prefixes, exact).
void BM_LoadTalkers(benchmark::State& state) {
    OwnedTupleTable tuples(1u << 17);
    for (const auto& f : make_mix(1 << 16))
        add_to_tuple(*tuples, f, 0);
    SpaceSaving sources(1024), prefixes(1024);
    for (auto _ : state) {
        load_talkers(*tuples, sources, prefixes);
        benchmark::DoNotOptimize(sources.total());
    }
    state.SetItemsProcessed(state.iterations() * tuples->used());
}
BENCHMARK(BM_LoadTalkers)->Unit(benchmark::kMillisecond);

// One interval of one worker (1e5 packets) merged into the interval table.
void BM_CounterSetMerge(benchmark::State& state) {
    auto worker = std::make_unique<CounterSet>();
    SketchPool worker_pool(512), merged_pool(2048);
    worker->pool = &worker_pool;
    worker->clear();
    for (const auto& f : make_mix(100000))
        count_packet(*worker, f, 0, hash_address(f.src, 4), hash_address(f.dst, 4));
    auto merged = std::make_unique<CounterSet>();
    merged->pool = &merged_pool;
    for (auto _ : state) {
        merged->clear();
        merged->merge(*worker);
        benchmark::DoNotOptimize(merged->packets);
    }
}
BENCHMARK(BM_CounterSetMerge)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace darkscope

BENCHMARK_MAIN();
