// The history's rows of a window (period_rows, stored_period_of) and a restarted run's merge with
// what the earlier run stored (merge_earlier_run), on windows counted here from hand-built
// packets. The truth is computed by plain loops over the same packets.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "darkscope/country.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/rollups.hpp"
#include "facts_support.hpp"

namespace darkscope {
namespace {

struct Packet {
    uint32_t src;
    uint16_t port;
    uint16_t sensor;
    const char* country;
    uint32_t len;
};

// A window holding `packets`, counted the way the plain path counts them.
std::unique_ptr<WindowAccumulator> window_of(const std::vector<Packet>& packets, int64_t start) {
    auto w = std::make_unique<WindowAccumulator>(4096);
    w->reset(start);
    w->end_s = start + 60;
    uint32_t dst = 0xcb007100;
    for (const Packet& p : packets) {
        const PacketFacts f =
            make_syn(p.src, ++dst, p.port, p.sensor, country_index(p.country), 4134, p.len);
        count_packet(*w->counters, f, static_cast<uint64_t>(start) * 1'000'000'000ull,
                     hash_address(f.src, 4), hash_address(f.dst, 4));
    }
    return w;
}

std::map<std::string, const StoredRow*> rows_of(const std::vector<StoredRow>& rows,
                                                const std::string& dimension) {
    std::map<std::string, const StoredRow*> out;
    for (const StoredRow& r : rows)
        if (r.dimension == dimension)
            out[r.key] = &r;
    return out;
}

const std::vector<Packet> kPackets = {
    {0x01000001, 445, 0, "JP", 60},  {0x01000002, 445, 0, "JP", 60},
    {0x01000003, 445, 1, "CN", 66},  {0x01000004, 23, 1, "CN", 66},
    {0x01000004, 23, 1, "CN", 66},   {0x01000005, 3389, 0, "US", 74},
    {0x01000006, 1433, 1, "TH", 60}, {0x01000007, 22, 0, "ID", 60},
};

TEST(PeriodRows, EveryDimensionSumsToTheTotal) {
    auto w = window_of(kPackets, 1362101400);
    uint64_t packets = kPackets.size(), bytes = 0;
    std::map<std::string, uint64_t> by_service, by_country, by_sensor;
    const std::vector<std::string> sensors = {"tokyo-a", "tokyo-b"};
    for (const Packet& p : kPackets) {
        bytes += p.len;
        by_service[std::to_string(p.port) + "/tcp"] += 1;
        by_country[p.country] += 1;
        by_sensor[sensors[p.sensor]] += 1;
    }
    for (size_t top_k : {2u, 100u}) {
        const auto rows = period_rows(*w->counters, {}, {}, sensors, top_k);
        auto total = rows_of(rows, "total");
        ASSERT_EQ(total.size(), 1u);
        EXPECT_EQ(total["all"]->packets, packets);
        EXPECT_EQ(total["all"]->bytes, bytes);
        EXPECT_EQ(total["all"]->sources, 7u);
        for (const char* dim : {"service", "country", "sensor", "class", "asn"}) {
            uint64_t sum = 0, sum_bytes = 0;
            for (const auto& [key, r] : rows_of(rows, dim)) {
                sum += r->packets;
                sum_bytes += r->bytes;
            }
            EXPECT_EQ(sum, packets) << dim << " top_k " << top_k;
            EXPECT_EQ(sum_bytes, bytes) << dim << " top_k " << top_k;
        }
        const auto services = rows_of(rows, "service");
        const auto countries = rows_of(rows, "country");
        if (top_k == 100) {
            for (const auto& [service, n] : by_service)
                EXPECT_EQ(services.at(service)->packets, n) << service;
            for (const auto& [country, n] : by_country)
                EXPECT_EQ(countries.at(country)->packets, n) << country;
            for (const auto& [sensor, n] : by_sensor)
                EXPECT_EQ(rows_of(rows, "sensor").at(sensor)->packets, n) << sensor;
            EXPECT_EQ(services.at("23/tcp")->sources, 1u);
            EXPECT_EQ(services.at("445/tcp")->sources, 3u);
        } else {
            // The two busiest keys and `other`: 445/tcp (3), 23/tcp (2), other (3).
            ASSERT_EQ(services.size(), 3u);
            EXPECT_EQ(services.at("445/tcp")->packets, 3u);
            EXPECT_EQ(services.at("23/tcp")->packets, 2u);
            EXPECT_EQ(services.at("other")->packets, 3u);
            EXPECT_EQ(countries.at("CN")->packets, 3u);
        }
    }
}

TEST(PeriodRows, UnmatchedSensorIsNamed) {
    auto w = window_of({{0x01000001, 445, kSensorSlotUnmatched, "JP", 60}}, 0);
    const auto rows = period_rows(*w->counters, {}, {}, {"a"}, 10);
    const auto sensors = rows_of(rows, "sensor");
    ASSERT_EQ(sensors.count("unmatched"), 1u);
    EXPECT_EQ(sensors.at("unmatched")->packets, 1u);
}

TEST(StoredPeriod, IntervalAndRollupLengthsAndSketch) {
    auto w = window_of(kPackets, 1362101400);
    const std::vector<std::string> sensors = {"a", "b"};
    const StoredPeriod interval = stored_period_of(
        *w, Resolution::interval, 100, sensors, {{"scanner_service", "445/tcp", 9, 0, 9}}, nullptr);
    EXPECT_EQ(interval.length_s, 60u);
    EXPECT_TRUE(interval.source_sketch.empty());
    EXPECT_EQ(rows_of(interval.rows, "scanner_service").at("445/tcp")->packets, 9u);
    const StoredPeriod hour = stored_period_of(*w, Resolution::hour, 100, sensors, {}, nullptr);
    EXPECT_EQ(hour.length_s, 3600u);
    EXPECT_EQ(hour.start, 1362101400);
    EXPECT_FALSE(hour.source_sketch.empty());
    EXPECT_EQ(stored_period_of(*w, Resolution::day, 100, sensors, {}, nullptr).length_s, 86400u);
}

// A restart in the middle of an hour: the rewrite holds both runs' packets, key by key, and the
// union of their sources, not the sum.
TEST(StoredPeriod, ResumeMergesTheEarlierRunOfTheSamePeriod) {
    const std::vector<std::string> sensors = {"a", "b"};
    const std::vector<Packet> first = {{0x01000001, 445, 0, "JP", 60},
                                       {0x01000002, 445, 0, "JP", 60},
                                       {0x01000003, 23, 1, "CN", 66}};
    const std::vector<Packet> second = {{0x01000002, 445, 0, "JP", 60},
                                        {0x01000009, 3389, 1, "US", 74}};
    const int64_t hour = 1362099600;
    const StoredPeriod earlier =
        stored_period_of(*window_of(first, hour), Resolution::hour, 100, sensors, {}, nullptr);
    const StoredPeriod now =
        stored_period_of(*window_of(second, hour), Resolution::hour, 100, sensors, {}, &earlier);
    const auto total = rows_of(now.rows, "total").at("all");
    EXPECT_EQ(total->packets, 5u);
    EXPECT_EQ(total->bytes, 60u + 60 + 66 + 60 + 74);
    EXPECT_EQ(total->sources, 4u);  // 0x01000002 is in both runs
    const auto services = rows_of(now.rows, "service");
    EXPECT_EQ(services.at("445/tcp")->packets, 3u);
    EXPECT_EQ(services.at("23/tcp")->packets, 1u);    // only the earlier run's
    EXPECT_EQ(services.at("3389/tcp")->packets, 1u);  // only this run's
    EXPECT_EQ(services.at("445/tcp")->sources, 2u);   // the larger part: a lower bound
    // A stored period of another start is not merged.
    StoredPeriod other = earlier;
    other.start = hour - 3600;
    const StoredPeriod alone =
        stored_period_of(*window_of(second, hour), Resolution::hour, 100, sensors, {}, &other);
    EXPECT_EQ(rows_of(alone.rows, "total").at("all")->packets, 2u);
}

TEST(MergeEarlierRun, KeepsTheEarlierSketchWhenThisRunHasNone) {
    StoredPeriod now, earlier;
    now.rows = {{"total", "all", 1, 10, 1, 1, 1}};
    earlier.rows = {{"total", "all", 2, 20, 2, 2, 1}, {"service", "445/tcp", 2, 20, 2, 2, 1}};
    earlier.source_sketch = {1, 2, 3};
    merge_earlier_run(now, earlier);
    EXPECT_EQ(now.source_sketch, earlier.source_sketch);
    EXPECT_EQ(rows_of(now.rows, "total").at("all")->packets, 3u);
    EXPECT_EQ(rows_of(now.rows, "total").at("all")->sources, 2u);
    EXPECT_EQ(rows_of(now.rows, "service").at("445/tcp")->bytes, 20u);
}

}  // namespace
}  // namespace darkscope
