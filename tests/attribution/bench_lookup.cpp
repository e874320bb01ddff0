// Cost of Attribution::lookup_burst per address (country and ASN), bursts of 32.
// Tables: the installed default data (DARKSCOPE_GEO_DIR, else /var/lib/darkscope/geo) when
// present, since its size is what decides cache behaviour; else the corpus test databases.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <random>

#include "darkscope/attribution.hpp"
#include "support.hpp"

namespace darkscope {
namespace {

constexpr unsigned kBurst = 32;

Attribution* tables() {
    static Attribution* attribution = [] {
        test::ensure_eal();
        const char* env = std::getenv("DARKSCOPE_GEO_DIR");
        const std::string data = env != nullptr ? env : "/var/lib/darkscope/geo";
        GeoConfig config;
        // A cache of its own: the benchmark builds the image (and leaves the shared ones alone).
        static const test::TempDir cache;
        config.cache_dir = cache.path.string();
        if (test::exists(data + "/geo-whois-asn-country.mmdb")) {
            config.country_files = {data + "/geo-whois-asn-country.mmdb"};
            config.asn_files = {data + "/asn-ipv4.csv", data + "/asn-ipv6.csv"};
        } else {
            const std::string corpus = test::corpus_geo();
            config.country_files = {corpus + "/GeoLite2-Country-Test.mmdb"};
            config.asn_files = {corpus + "/GeoLite2-ASN-Test.mmdb"};
        }
        auto* created = new Attribution(config);
        std::string error;
        if (!created->reload(&error)) {
            std::fprintf(stderr, "bench_attribution: %s\n", error.c_str());
            std::exit(77);
        }
        const auto status = created->status();
        for (const auto& file : status.files) {
            std::fprintf(stderr, "%s (%s %s, %s): %llu IPv4 and %llu IPv6 networks\n",
                         file.path.c_str(), file.kind.c_str(), file.format.c_str(),
                         file.build_date.c_str(), static_cast<unsigned long long>(file.networks_v4),
                         static_cast<unsigned long long>(file.networks_v6));
        }
        for (const auto& table : status.tables) {
            std::fprintf(stderr, "table %s: %llu groups/ranges, %u-byte entries, %.1f MiB\n",
                         table.name.c_str(), static_cast<unsigned long long>(table.routes),
                         table.next_hop_bytes,
                         static_cast<double>(table.memory_bytes) / (1024.0 * 1024.0));
        }
        std::fprintf(stderr, "load and build: %.2f s, image: %.1f MiB\n",
                     status.last_reload_seconds,
                     static_cast<double>(status.memory_bytes) / (1024.0 * 1024.0));
        created->register_worker(0);
        return created;
    }();
    return attribution;
}

// share_v6 in percent; addresses uniform over IPv4 and over 2000::/3 for IPv6.
std::vector<PacketFacts> addresses(unsigned share_v6, size_t count) {
    std::mt19937_64 random(42);
    std::vector<PacketFacts> facts;
    for (size_t i = 0; i < count; ++i) {
        if (random() % 100 < share_v6) {
            const geo::uint128 addr = (geo::uint128{random()} << 64) | random();
            facts.push_back(test::facts_v6((addr >> 3) | (geo::uint128{1} << 125)));
        } else {
            facts.push_back(test::facts_v4(static_cast<uint32_t>(random())));
        }
    }
    return facts;
}

// Bursts of kBurst addresses, round the list (a power of two long), as a worker looks them up.
void lookup_bursts(benchmark::State& state, Attribution& attribution,
                   std::vector<PacketFacts>& facts) {
    size_t at = 0;
    for (auto _ : state) {
        attribution.lookup_burst(0, facts.data() + at, kBurst);
        benchmark::DoNotOptimize(facts[at].asn);
        at = (at + kBurst) & (facts.size() - 1);
        attribution.quiescent(0);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
    state.counters["ns_per_address"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void lookup(benchmark::State& state) {
    Attribution* attribution = tables();
    std::vector<PacketFacts> facts = addresses(static_cast<unsigned>(state.range(0)), 1 << 16);
    lookup_bursts(state, *attribution, facts);
}

BENCHMARK(lookup)->ArgName("ipv6_percent")->Arg(0)->Arg(10)->Arg(100);

// IPv6 sources inside the densest allocations (2001::/16 and 2a00::/12, where the IPv6 ranges
// of a /16 are most numerous and its binary search longest).
void lookup_dense_ipv6(benchmark::State& state) {
    Attribution* attribution = tables();
    std::mt19937_64 random(7);
    std::vector<PacketFacts> facts;
    for (size_t i = 0; i < (1u << 16); ++i) {
        const geo::uint128 host = (geo::uint128{random()} << 64) | random();
        const geo::uint128 addr = (i % 2 == 0) ? (geo::uint128{0x2001} << 112) | (host >> 16)
                                               : (geo::uint128{0x2a00} << 112) | (host >> 20);
        facts.push_back(test::facts_v6(addr));
    }
    lookup_bursts(state, *attribution, facts);
}

BENCHMARK(lookup_dense_ipv6);

}  // namespace
}  // namespace darkscope

BENCHMARK_MAIN();
