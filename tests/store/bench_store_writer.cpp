// What a stored period costs the store's writer thread, one transaction per period (a writer
// that keeps up takes each period alone) against batches (a writer behind takes what is queued).
// Periods look like a sparse capture's intervals: about 47 rows over the stored dimensions, the
// top talkers changing from period to period. The main thread only waits in flush(), so the
// process's CPU time is the writer's.
//
//   bench_store_writer [periods] [rows per period] [batch]
//
// batch 1 flushes after every period; batch n holds the writer while n periods are queued.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "darkscope/history_store.hpp"
#include "store_test_util.hpp"

namespace {

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

darkscope::StoredPeriod interval(int64_t start, size_t rows, uint32_t seed) {
    static const char* dimensions[] = {
        "proto",  "class",          "service",         "sensor",          "country",
        "asn",    "sensor_service", "country_service", "sensor_country",  "source",
        "prefix", "flag",           "scanner_service", "scanner_country", "error"};
    darkscope::StoredPeriod p{darkscope::Resolution::interval, start, 60, {}, {}};
    p.rows.push_back({"total", "all", 100, 6000, 10, 5, 3});
    for (size_t i = 1; i < rows; ++i) {
        const char* dimension = dimensions[i % std::size(dimensions)];
        // Keys recur across periods (services, countries) and drift (sources, prefixes).
        const uint32_t key = (i / std::size(dimensions)) + (seed % 50) * (i % 3 == 0);
        p.rows.push_back({dimension, std::string(dimension) + "-" + std::to_string(key), i + seed,
                          60 * (i + seed), 1, 1, 1});
    }
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    const size_t periods = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 3000;
    const size_t rows = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 47;
    const size_t batch = argc > 3 ? std::max(1ul, std::strtoul(argv[3], nullptr, 10)) : 1;
    darkscope::store_test::TempDir dir;
    darkscope::HistoryStore store({.path = dir.file("h.db"),
                                   .queue_limit = static_cast<unsigned>(batch),
                                   .retention_interval_days = 0});
    const int64_t t0 = 1'700'000'000 / 60 * 60;
    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < periods; i += batch) {
        if (batch > 1)
            store.pause_writer_for_test(true);
        for (size_t j = i; j < std::min(periods, i + batch); ++j)
            store.enqueue(
                interval(t0 + 60 * static_cast<int64_t>(j), rows, static_cast<uint32_t>(j)));
        store.pause_writer_for_test(false);
        store.flush();
    }
    const double cpu = cpu_seconds() - cpu0;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    const auto s = store.stats();
    std::printf(
        "%zu periods of %zu rows, batches of %zu: %zu written in %llu transactions, "
        "writer %.1f us CPU and %.1f us wall per period\n",
        periods, rows, batch, static_cast<size_t>(s.periods_written),
        static_cast<unsigned long long>(s.transactions), cpu / periods * 1e6, wall / periods * 1e6);
    return s.periods_written == periods ? 0 : 1;
}
