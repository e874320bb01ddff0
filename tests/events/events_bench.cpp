// Cost of one EventEngine::observe_interval on the stats core, for a realistic number of
// series, victims and heavy sources per interval.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "darkscope/events.hpp"

namespace darkscope {
namespace {

std::vector<SeriesPoint> make_series(size_t n, std::mt19937_64& rng) {
    std::vector<SeriesPoint> series;
    series.reserve(n);
    const char* dims[] = {"service", "sensor_service", "country_service", "country", "sensor"};
    std::poisson_distribution<uint64_t> packets(200);
    for (size_t i = 0; i < n; ++i) {
        SeriesPoint p;
        p.dimension = dims[i % 5];
        p.key = std::to_string(i) + "/tcp";
        p.packets = packets(rng);
        p.sources = p.packets / 3;
        series.push_back(std::move(p));
    }
    return series;
}

void BM_ObserveInterval(benchmark::State& state) {
    std::mt19937_64 rng(1);
    const size_t n_series = static_cast<size_t>(state.range(0));
    std::vector<std::vector<SeriesPoint>> intervals;
    for (int i = 0; i < 8; ++i) {
        intervals.push_back(make_series(n_series, rng));
    }
    std::vector<VictimObservation> victims(1000);
    std::vector<SourceObservation> sources(1000);
    for (size_t i = 0; i < 1000; ++i) {
        victims[i].addr.v4 = 0xcb007100u + static_cast<uint32_t>(i);
        victims[i].packets = 40;
        victims[i].per_minute_max = 40;
        victims[i].port = 80;
        victims[i].tcp_flags = 0x12;
        sources[i].addr.v4 = 0xc6336400u + static_cast<uint32_t>(i);
        sources[i].packets = 100;
        sources[i].dark_addresses = 50;
        sources[i].services = {"23/tcp", "2323/tcp"};
    }
    EventEngine engine{EventConfig{}};
    int64_t t = 1'700'000'000;
    size_t i = 0;
    for (auto _ : state) {
        for (auto& v : victims) {
            v.first_s = t;
            v.last_s = t + 59;
        }
        for (auto& s : sources) {
            s.first_s = t;
            s.last_s = t + 59;
        }
        auto events =
            engine.observe_interval(t, t + 60, intervals[i++ % intervals.size()], victims, sources);
        benchmark::DoNotOptimize(events);
        t += 60;
    }
    state.counters["series"] = static_cast<double>(n_series);
}
BENCHMARK(BM_ObserveInterval)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace darkscope

BENCHMARK_MAIN();
