#include <ctime>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "darkscope/history_store.hpp"
#include "store_test_util.hpp"

namespace darkscope {
namespace {

using store_test::make_packets;
using store_test::make_period;
using store_test::rows_from_packets;
using store_test::TempDir;

using RowMap = std::map<std::pair<std::string, std::string>, StoredRow>;

RowMap by_key(const std::vector<StoredRow>& rows) {
    RowMap m;
    for (const auto& r : rows)
        m[{r.dimension, r.key}] = r;
    return m;
}

void expect_same_row(const StoredRow& a, const StoredRow& b) {
    EXPECT_EQ(a.dimension, b.dimension);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.packets, b.packets) << a.dimension << " " << a.key;
    EXPECT_EQ(a.bytes, b.bytes) << a.dimension << " " << a.key;
    EXPECT_EQ(a.sources, b.sources) << a.dimension << " " << a.key;
    EXPECT_EQ(a.destinations, b.destinations) << a.dimension << " " << a.key;
    EXPECT_EQ(a.asns, b.asns) << a.dimension << " " << a.key;
}

// Collects log lines from the store (called from two threads).
struct LogSink {
    std::mutex mutex;
    std::vector<std::pair<int, std::string>> lines;
    std::function<void(int, const std::string&)> callback() {
        return [this](int level, const std::string& m) {
            std::lock_guard lock(mutex);
            lines.emplace_back(level, m);
        };
    }
    size_t count_containing(const std::string& text) {
        std::lock_guard lock(mutex);
        return std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
            return l.second.find(text) != std::string::npos;
        });
    }
};

int64_t scalar(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

TEST(Store, RowsRoundTrip) {
    TempDir dir;
    StoredPeriod p;
    p.resolution = Resolution::interval;
    p.start = 1'700'000'000;
    p.length_s = 60;
    p.rows = {
        {"total", "all", 1ull << 62, (1ull << 63) - 1, 123456789, 42, 7},
        {"service", "445/tcp", 10, 600, 3, 2, 1},
        {"service", "icmp/8/0", 5, 300, 1, 1, 1},
        {"sensor_service", "tokyo-a|445/tcp", 10, 600, 3, 2, 1},
        {"prefix", "203.0.113.0/24", 4, 240, 2, 0, 0},
        {"source", "2001:db8::1", 4, 240, 1, 0, 0},
        {"country", "日本 'quoted\"", 1, 2, 3, 4, 5},
    };
    p.source_sketch = {0, 1, 2, 255, 0, 7};
    {
        HistoryStore store({.path = dir.file("h.db")});
        EXPECT_TRUE(store.enqueue(p));
        store.flush();
        auto s = store.stats();
        EXPECT_EQ(s.periods_written, 1u);
        EXPECT_EQ(s.write_errors, 0u);
        EXPECT_EQ(s.queue_depth, 0u);

        auto back = store.read_periods(Resolution::interval, p.start, p.start + 1);
        ASSERT_EQ(back.size(), 1u);
        EXPECT_EQ(back[0].start, p.start);
        EXPECT_EQ(back[0].length_s, p.length_s);
        EXPECT_EQ(back[0].source_sketch, p.source_sketch);
        auto want = by_key(p.rows), got = by_key(back[0].rows);
        ASSERT_EQ(got.size(), want.size());
        for (const auto& [k, row] : want)
            expect_same_row(got.at(k), row);

        // Filtering by dimension, and other resolutions are separate.
        auto services = store.read_periods(Resolution::interval, 0, p.start + 60, "service");
        ASSERT_EQ(services.size(), 1u);
        EXPECT_EQ(services[0].rows.size(), 2u);
        EXPECT_TRUE(store.read_periods(Resolution::hour, 0, p.start + 60).empty());
        EXPECT_TRUE(store.read_periods(Resolution::interval, p.start + 1, p.start + 60).empty());
    }
    sqlite3* db = nullptr;
    sqlite3_open(dir.file("h.db").c_str(), &db);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST(Store, KeepTopRowsFoldsTheRemainderIntoOther) {
    auto packets = make_packets(7, 5000);
    auto rows = rows_from_packets(packets);
    // Truth by brute force: per-service counts from the packets themselves.
    std::map<std::string, uint64_t> count, bytes;
    for (const auto& p : packets) {
        count[p.service]++;
        bytes[p.service] += p.size;
    }
    std::vector<std::pair<uint64_t, std::string>> ranked;
    for (auto& [k, v] : count)
        ranked.push_back({v, k});
    std::sort(ranked.rbegin(), ranked.rend());
    const size_t k = 3;
    keep_top_rows(rows, k);
    auto m = by_key(rows);
    uint64_t top_packets = 0, top_bytes = 0;
    for (size_t i = 0; i < k; ++i) {
        ASSERT_TRUE(m.count({"service", ranked[i].second})) << ranked[i].second;
        EXPECT_EQ(m.at({"service", ranked[i].second}).packets, ranked[i].first);
        top_packets += ranked[i].first;
        top_bytes += bytes[ranked[i].second];
    }
    for (size_t i = k; i < ranked.size(); ++i)
        EXPECT_FALSE(m.count({"service", ranked[i].second}));
    const auto& other = m.at({"service", "other"});
    EXPECT_EQ(other.packets, packets.size() - top_packets);
    uint64_t all_bytes = 0;
    for (const auto& p : packets)
        all_bytes += p.size;
    EXPECT_EQ(other.bytes, all_bytes - top_bytes);
    EXPECT_EQ(other.sources, 0u);  // a remainder's uniques are not a sum
    EXPECT_EQ(m.at({"total", "all"}).packets, packets.size());
}

TEST(Store, EveryStoredDimensionSumsToTheTotal) {
    TempDir dir;
    HistoryStore store({.path = dir.file("h.db")});
    const int64_t t0 = 1'700'000'000;
    uint64_t all_packets = 0;
    std::map<std::string, uint64_t> service_truth;
    for (int i = 0; i < 10; ++i) {
        auto packets = make_packets(100 + i, 300 + 50 * i);
        all_packets += packets.size();
        for (const auto& p : packets)
            service_truth[p.service]++;
        StoredPeriod p{Resolution::interval, t0 + 60 * i, 60, rows_from_packets(packets), {}};
        keep_top_rows(p.rows, 3);
        store.enqueue(std::move(p));
    }
    store.flush();
    auto periods = store.read_periods(Resolution::interval, t0, t0 + 600);
    ASSERT_EQ(periods.size(), 10u);
    uint64_t stored_total = 0;
    for (const auto& p : periods) {
        std::map<std::string, uint64_t> sums;
        uint64_t total = 0;
        for (const auto& r : p.rows) {
            if (r.dimension == "total")
                total = r.packets;
            else
                sums[r.dimension] += r.packets;
        }
        stored_total += total;
        EXPECT_EQ(sums.size(), 2u);
        for (const auto& [d, s] : sums)
            EXPECT_EQ(s, total) << d << " at " << p.start;
    }
    EXPECT_EQ(stored_total, all_packets);

    // Summing over periods adds packets and leaves unique counts out.
    auto summed = store.read_rows(Resolution::interval, t0, t0 + 600, "service");
    uint64_t sum = 0;
    for (const auto& r : summed) {
        sum += r.packets;
        EXPECT_EQ(r.sources, 0u);
    }
    EXPECT_EQ(sum, all_packets);
    EXPECT_TRUE(std::is_sorted(summed.begin(), summed.end(),
                               [](auto& a, auto& b) { return a.packets > b.packets; }));
    // The busiest service is in every period's top 3, so its sum is exact.
    auto busiest = std::max_element(service_truth.begin(), service_truth.end(),
                                    [](auto& a, auto& b) { return a.second < b.second; });
    auto first_key = std::find_if(summed.begin(), summed.end(),
                                  [](const StoredRow& r) { return r.key != "other"; });
    ASSERT_NE(first_key, summed.end());
    EXPECT_EQ(first_key->key, busiest->first);
    EXPECT_EQ(first_key->packets, busiest->second);
    // A single period keeps its uniques.
    auto one = store.read_rows(Resolution::interval, t0, t0 + 1, "service");
    size_t service_rows =
        std::count_if(periods[0].rows.begin(), periods[0].rows.end(),
                      [](const StoredRow& r) { return r.dimension == "service"; });
    EXPECT_EQ(one.size(), service_rows);
    for (const auto& r : one) {
        if (r.key != "other") {
            EXPECT_GT(r.sources, 0u) << r.key;
        }
    }
}

TEST(Store, QueueOverflowDropsTheOldestWithACounterAndALogLine) {
    TempDir dir;
    LogSink log;
    HistoryStore store({.path = dir.file("h.db"), .queue_limit = 3, .log = log.callback()});
    store.pause_writer_for_test(true);
    const int64_t t0 = 1'700'000'000;
    std::vector<bool> accepted;
    for (int i = 0; i < 5; ++i)
        accepted.push_back(
            store.enqueue(make_period(Resolution::interval, t0 + 60 * i, 60, i, 50)));
    EXPECT_EQ(accepted, (std::vector<bool>{true, true, true, false, false}));
    auto s = store.stats();
    EXPECT_EQ(s.periods_dropped, 2u);
    EXPECT_EQ(s.queue_depth, 3u);
    EXPECT_EQ(log.count_containing("dropped the interval period starting " + std::to_string(t0)),
              1u);
    EXPECT_EQ(
        log.count_containing("dropped the interval period starting " + std::to_string(t0 + 60)),
        1u);
    // Events have their own bound and do not push periods out.
    EXPECT_TRUE(store.enqueue(StoredEvent{"e1", EventKind::surge, EventPhase::start, t0, "{}"}));
    EXPECT_EQ(store.stats().periods_dropped, 2u);

    store.pause_writer_for_test(false);
    store.flush();
    auto periods = store.read_periods(Resolution::interval, 0, t0 + 3600);
    std::vector<int64_t> starts;
    for (const auto& p : periods)
        starts.push_back(p.start);
    EXPECT_EQ(starts, (std::vector<int64_t>{t0 + 120, t0 + 180, t0 + 240}));
    s = store.stats();
    EXPECT_EQ(s.periods_written, 3u);
    EXPECT_EQ(s.events_written, 1u);
}

TEST(Store, EventQueueOverflowDropsTheOldestEvent) {
    TempDir dir;
    LogSink log;
    HistoryStore store({.path = dir.file("h.db"), .event_queue_limit = 2, .log = log.callback()});
    store.pause_writer_for_test(true);
    store.enqueue(StoredEvent{"a", EventKind::dos, EventPhase::start, 10, "{}"});
    store.enqueue(StoredEvent{"b", EventKind::dos, EventPhase::start, 20, "{}"});
    EXPECT_FALSE(store.enqueue(StoredEvent{"c", EventKind::dos, EventPhase::start, 30, "{}"}));
    EXPECT_EQ(store.stats().events_dropped, 1u);
    EXPECT_EQ(log.count_containing("dropped dos event a"), 1u);
    store.pause_writer_for_test(false);
    store.flush();
    auto events = store.read_events(0, 100);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].id, "b");
    EXPECT_EQ(events[1].id, "c");
}

TEST(Store, EventsRoundTripInTimeOrder) {
    TempDir dir;
    HistoryStore store({.path = dir.file("h.db")});
    std::vector<StoredEvent> in = {
        {"s1", EventKind::surge, EventPhase::start, 300, R"({"service":"53/udp","factor":12.5})"},
        {"d1", EventKind::dos, EventPhase::start, 100, R"({"victim":"192.0.2.1"})"},
        {"s1", EventKind::surge, EventPhase::update, 360, R"({"service":"53/udp","packets":99})"},
        {"s1", EventKind::surge, EventPhase::end, 900, R"({"service":"53/udp"})"},
    };
    for (const auto& e : in)
        store.enqueue(e);
    store.flush();
    auto out = store.read_events(0, 1000);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].id, "d1");
    EXPECT_EQ(out[1].phase, EventPhase::start);
    EXPECT_EQ(out[1].json, in[0].json);
    EXPECT_EQ(out[2].phase, EventPhase::update);
    EXPECT_EQ(out[3].phase, EventPhase::end);
    EXPECT_EQ(out[3].time, 900);
    EXPECT_EQ(store.read_events(301, 900).size(), 1u);
    // The database spells kinds and phases as the event JSON does (the report reads them).
    const std::string path = dir.file("h.db");
    EXPECT_EQ(scalar(path,
                     "SELECT count(*) FROM events WHERE event_id='d1' AND kind='dos' AND "
                     "phase='start'"),
              1);
    EXPECT_EQ(scalar(path,
                     "SELECT count(*) FROM events WHERE event_id='s1' AND kind='surge' AND "
                     "phase IN ('start', 'update', 'end')"),
              3);
    EXPECT_EQ(scalar(path, "SELECT count(*) FROM events WHERE time=360 AND phase='update'"), 1);
}

// A row this darkscope cannot name (another program's kind) is refused with its id, not misread.
TEST(Store, UnknownEventKindIsRefusedOnRead) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    HistoryStore store({.path = path});
    store.enqueue(StoredEvent{"s1", EventKind::scanner, EventPhase::end, 100, "{}"});
    store.flush();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "INSERT INTO events(event_id, kind, phase, time, json) VALUES "
                           "('m1', 'meteor', 'start', 200, '{}')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    EXPECT_EQ(store.read_events(0, 150).size(), 1u);
    try {
        store.read_events(0, 300);
        ADD_FAILURE() << "read_events accepted kind 'meteor'";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("event m1 has an unknown kind or phase ('meteor'"),
                  std::string::npos)
            << e.what();
    }
}

TEST(Store, RestartReopensAndAppends) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    const int64_t t0 = 1'700'000'000;
    int64_t created = 0;
    {
        HistoryStore store({.path = path});
        for (int i = 0; i < 3; ++i)
            store.enqueue(make_period(Resolution::interval, t0 + 60 * i, 60, i, 100));
        store.enqueue(StoredEvent{"x", EventKind::scanner, EventPhase::start, t0, "{}"});
    }  // the destructor drains the queue
    created = scalar(path, "SELECT value FROM meta WHERE key='created'");
    EXPECT_GT(created, 0);
    {
        HistoryStore store({.path = path});
        EXPECT_EQ(store.newest_period_start(Resolution::interval), t0 + 120);
        EXPECT_FALSE(store.newest_period_start(Resolution::day).has_value());
        for (int i = 3; i < 5; ++i)
            store.enqueue(make_period(Resolution::interval, t0 + 60 * i, 60, i, 100));
        store.flush();
        EXPECT_EQ(store.read_periods(Resolution::interval, t0, t0 + 3600).size(), 5u);
        EXPECT_EQ(store.read_events(0, t0 + 1).size(), 1u);
    }
    EXPECT_EQ(scalar(path, "SELECT value FROM meta WHERE key='created'"), created);
    EXPECT_EQ(scalar(path, "SELECT value FROM meta WHERE key='schema_version'"), 1);
    EXPECT_EQ(scalar(path, "SELECT count(*) FROM periods"), 5);
}

TEST(Store, RewritingAPeriodReplacesIt) {
    TempDir dir;
    HistoryStore store({.path = dir.file("h.db")});
    const int64_t day = 1'700'000'000 / 86400 * 86400;
    StoredPeriod first{Resolution::day, day, 86400, {{"total", "all", 10, 100, 3, 1, 1}}, {1}};
    StoredPeriod grown{Resolution::day, day, 86400, {{"total", "all", 25, 250, 4, 1, 1}}, {2}};
    store.enqueue(first);
    store.enqueue(grown);
    store.flush();
    auto days = store.read_periods(Resolution::day, day, day + 1);
    ASSERT_EQ(days.size(), 1u);
    ASSERT_EQ(days[0].rows.size(), 1u);
    EXPECT_EQ(days[0].rows[0].packets, 25u);
    EXPECT_EQ(days[0].rows[0].sources, 4u);
    EXPECT_EQ(days[0].source_sketch, std::vector<uint8_t>{2});
    EXPECT_EQ(scalar(dir.file("h.db"), "SELECT count(*) FROM rows"), 1);
    EXPECT_EQ(scalar(dir.file("h.db"), "SELECT count(*) FROM sketches"), 1);
}

TEST(Store, RetentionDeletesByAgeFromTheRunsOwnData) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    const int64_t D = 86400;
    const int64_t t0 = 1'600'000'000 / D * D;
    StoreOptions options{.path = path, .retention_interval_days = 14, .retention_hour_days = 400};
    struct Written {
        Resolution r;
        int64_t start;
        uint32_t length;
    };
    std::vector<Written> written;
    for (int64_t day : {0, 1, 5, 14, 20, 30, 33, 34, 399, 410, 420, 440})
        written.push_back({Resolution::interval, t0 + day * D + 300, 300});
    for (int64_t day : {0, 30, 39, 40, 41, 439})
        written.push_back({Resolution::hour, t0 + day * D, 3600});
    for (int64_t day : {0, 1, 100, 439})
        written.push_back({Resolution::day, t0 + day * D, 86400});
    {
        HistoryStore store(options);
        for (const auto& w : written) {
            StoredPeriod p{w.r, w.start, w.length, {{"total", "all", 1, 60, 1, 1, 1}}, {}};
            store.enqueue(std::move(p));
        }
        store.flush();
    }
    // Expected, computed independently: the newest end over all written periods; a period is
    // kept when its resolution is day or its start is within the window before that end.
    int64_t newest_end = 0;
    for (const auto& w : written)
        newest_end = std::max<int64_t>(newest_end, w.start + w.length);
    std::multiset<std::pair<int, int64_t>> expected;
    for (const auto& w : written) {
        int64_t keep_days = w.r == Resolution::interval ? 14 : w.r == Resolution::hour ? 400 : -1;
        if (keep_days < 0 || w.start >= newest_end - keep_days * D)
            expected.insert({static_cast<int>(w.r), w.start});
    }
    LogSink log;
    options.log = log.callback();
    HistoryStore store(options);
    std::multiset<std::pair<int, int64_t>> got;
    for (auto r : {Resolution::interval, Resolution::hour, Resolution::day})
        for (const auto& p : store.read_periods(r, 0, t0 + 1000 * D))
            got.insert({static_cast<int>(r), p.start});
    EXPECT_EQ(got, expected);
    EXPECT_EQ(got.size(), 1u + 2u + 4u);  // a sanity check that the cut-offs were exercised
    EXPECT_EQ(scalar(path, "SELECT count(*) FROM rows"), static_cast<int64_t>(got.size()));

    // A capture older than the history replayed into it (a new run) keeps its intervals:
    // retention is measured from the run's own data, not the newest period in the file; and a
    // future-dated period (a forged packet time) moves no clock, so nothing else is deleted
    // (documented in docs/schema.md).
    const size_t before = got.size();
    store.enqueue(StoredPeriod{Resolution::interval, t0 + 100 * D, 300, {}, {}});
    store.enqueue(StoredPeriod{Resolution::interval, t0 + 101 * D, 300, {}, {}});
    const int64_t far_future = (static_cast<int64_t>(std::time(nullptr)) / D + 3650) * D;
    store.enqueue(StoredPeriod{Resolution::interval, far_future, 300, {}, {}});
    store.flush();
    EXPECT_EQ(store.read_periods(Resolution::interval, t0 + 100 * D, t0 + 102 * D).size(), 2u);
    size_t after = 0;
    for (auto r : {Resolution::interval, Resolution::hour, Resolution::day})
        after += store.read_periods(r, 0, far_future + D).size();
    EXPECT_EQ(after, before + 3);
}

TEST(Store, OpenFailuresNameTheFile) {
    TempDir dir;
    auto message_of = [](const std::string& path) -> std::string {
        try {
            HistoryStore store({.path = path});
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "";
    };
    std::string missing_dir = dir.file("no/such/dir/h.db");
    std::string m = message_of(missing_dir);
    EXPECT_NE(m.find(missing_dir), std::string::npos) << m;
    EXPECT_NE(m.find("cannot open"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);

    std::string text = dir.file("notes.txt");
    std::ofstream(text) << "this is not a database, just some text that is long enough........"
                           "..............................................................\n";
    m = message_of(text);
    EXPECT_NE(m.find(text), std::string::npos) << m;
    EXPECT_NE(m.find("not a database"), std::string::npos) << m;

    std::string foreign = dir.file("foreign.db");
    sqlite3* db = nullptr;
    sqlite3_open(foreign.c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    m = message_of(foreign);
    EXPECT_NE(m.find("not a darkscope history"), std::string::npos) << m;

    std::string newer = dir.file("newer.db");
    { HistoryStore store({.path = newer}); }
    sqlite3_open(newer.c_str(), &db);
    sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", nullptr, nullptr,
                 nullptr);
    sqlite3_close(db);
    m = message_of(newer);
    EXPECT_NE(m.find("schema version 99 is newer"), std::string::npos) << m;
    EXPECT_NE(m.find(newer), std::string::npos) << m;

    EXPECT_NE(message_of("").find("no file name"), std::string::npos);
}

// Offline replays wait for room instead of dropping: with the writer held, the fourth period
// of a queue of three waits; once the writer runs, all five are written and none dropped.
TEST(Store, AFullQueueWaitsForRoomWhenAskedTo) {
    TempDir dir;
    LogSink log;
    HistoryStore store({.path = dir.file("h.db"),
                        .queue_limit = 3,
                        .full_wait_ms = 600'000,
                        .log = log.callback()});
    store.pause_writer_for_test(true);
    const int64_t t0 = 1'700'000'000;
    std::atomic<int> accepted{0};
    std::thread replay([&] {
        for (int i = 0; i < 5; ++i)
            if (store.enqueue(make_period(Resolution::interval, t0 + 60 * i, 60, i, 50)))
                ++accepted;
    });
    // The state, not a time: three queued, the fourth held back.
    for (int i = 0; i < 4000 && store.stats().queue_depth < 3; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(store.stats().queue_depth, 3u);
    EXPECT_EQ(accepted.load(), 3);
    EXPECT_EQ(store.stats().periods_dropped, 0u);
    store.pause_writer_for_test(false);
    replay.join();
    store.flush();
    auto s = store.stats();
    EXPECT_EQ(accepted.load(), 5);
    EXPECT_EQ(s.periods_written, 5u);
    EXPECT_EQ(s.periods_dropped, 0u);
    EXPECT_EQ(store.read_periods(Resolution::interval, 0, t0 + 3600).size(), 5u);
    EXPECT_EQ(log.count_containing("dropped"), 0u);
}

// A writer that does not come back within full_wait_ms (a database locked for good): the wait
// ends and the oldest is dropped as without it, so the replay still finishes.
TEST(Store, AFullQueueStopsWaitingForAStuckWriter) {
    TempDir dir;
    LogSink log;
    HistoryStore store(
        {.path = dir.file("h.db"), .queue_limit = 2, .full_wait_ms = 20, .log = log.callback()});
    store.pause_writer_for_test(true);
    const int64_t t0 = 1'700'000'000;
    std::vector<bool> accepted;
    for (int i = 0; i < 3; ++i)
        accepted.push_back(
            store.enqueue(make_period(Resolution::interval, t0 + 60 * i, 60, i, 50)));
    EXPECT_EQ(accepted, (std::vector<bool>{true, true, false}));
    EXPECT_EQ(store.stats().periods_dropped, 1u);
    EXPECT_EQ(log.count_containing("dropped the interval period starting " + std::to_string(t0)),
              1u);
    store.pause_writer_for_test(false);
    store.flush();
    EXPECT_EQ(store.stats().periods_written, 2u);
}

TEST(Store, ALockedDatabaseIsRetriedNotLost) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    LogSink log;
    HistoryStore store({.path = path, .busy_timeout_ms = 1, .log = log.callback()});
    // Another process holding the write lock: the writer fails, logs, keeps the period.
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    store.enqueue(make_period(Resolution::interval, 1'700'000'000, 60, 1, 100));
    // Wait for the state, not for a time: the first failed attempt, logged (the writer logs
    // after it counts, outside its lock).
    for (int i = 0; i < 4000 && log.count_containing("will retry") == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(log.count_containing("will retry"), 1u);
    EXPECT_GE(store.stats().write_errors, 1u);
    EXPECT_FALSE(store.stats().last_error.empty());
    ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(other);
    store.flush();
    auto s = store.stats();
    EXPECT_EQ(s.periods_written, 1u);
    EXPECT_EQ(s.periods_dropped, 0u);
    EXPECT_EQ(store.read_periods(Resolution::interval, 0, 2'000'000'000).size(), 1u);
}

// Runs one statement on its own connection (another process's view of the file).
void exec_sql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << (message ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
}

// Every period's rows as stored, read with plain SQL (not through the store's reader).
std::map<std::pair<std::string, int64_t>, RowMap> stored_rows(const std::string& path) {
    std::map<std::pair<std::string, int64_t>, RowMap> out;
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT p.resolution, p.start, r.dimension, r.key, r.packets, r.bytes, "
                       "r.sources, r.destinations, r.asns FROM periods p JOIN rows r ON "
                       "r.period_id=p.id",
                       -1, &st, nullptr);
    auto text = [&](int col) {
        return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, col)));
    };
    auto number = [&](int col) { return static_cast<uint64_t>(sqlite3_column_int64(st, col)); };
    while (sqlite3_step(st) == SQLITE_ROW) {
        StoredRow r{text(2), text(3), number(4), number(5), number(6), number(7), number(8)};
        out[{text(0), sqlite3_column_int64(st, 1)}][{r.dimension, r.key}] = r;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

// What was queued, as the file must hold it: the last write of each (resolution, start).
std::map<std::pair<std::string, int64_t>, RowMap> expected_rows(
    const std::vector<StoredPeriod>& queued) {
    std::map<std::pair<std::string, int64_t>, RowMap> out;
    for (const auto& p : queued)
        out[{resolution_name(p.resolution), p.start}] = by_key(p.rows);
    return out;
}

void expect_same_rows(const std::map<std::pair<std::string, int64_t>, RowMap>& got,
                      const std::map<std::pair<std::string, int64_t>, RowMap>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [period, rows] : want) {
        ASSERT_TRUE(got.count(period)) << period.first << " " << period.second;
        const RowMap& stored = got.at(period);
        ASSERT_EQ(stored.size(), rows.size()) << period.first << " " << period.second;
        for (const auto& [k, row] : rows)
            expect_same_row(stored.at(k), row);
    }
}

// Everything queued while the writer is held is written in as few transactions as the batch
// bounds (256 items) allow, in queue order: a period rewritten later in the same batch replaces
// the earlier write, events keep their order, and every row matches what was queued.
TEST(Store, QueuedPeriodsAreWrittenInOneTransactionPerBatch) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    HistoryStore store({.path = path, .queue_limit = 1000, .event_queue_limit = 1000});
    store.pause_writer_for_test(true);
    const int64_t t0 = 1'700'000'000 / 3600 * 3600;
    std::vector<StoredPeriod> queued;
    std::vector<StoredEvent> events;
    for (int i = 0; i < 300; ++i) {
        queued.push_back(make_period(Resolution::interval, t0 + 60 * i, 60, 1000 + i, 40 + i));
        if (i % 10 == 9) {
            // The open hour's checkpoint, rewritten as it grows, and an event.
            queued.push_back(
                make_period(Resolution::hour, t0 + i / 60 * 3600, 3600, 5000 + i, 200 + 5 * i));
            queued.back().source_sketch = {static_cast<uint8_t>(i), 1, 2};
            events.push_back(StoredEvent{"e" + std::to_string(i), EventKind::scanner,
                                         EventPhase::update, t0 + 60 * i,
                                         "{\"n\":" + std::to_string(i) + "}"});
        }
    }
    size_t event_index = 0;
    for (const auto& p : queued) {
        EXPECT_TRUE(store.enqueue(p));
        if (p.resolution == Resolution::hour) {
            EXPECT_TRUE(store.enqueue(events[event_index++]));
        }
    }
    const size_t items = queued.size() + events.size();  // 300 + 30 + 30
    EXPECT_EQ(store.stats().queue_depth, items);
    store.pause_writer_for_test(false);
    store.flush();

    auto s = store.stats();
    EXPECT_EQ(s.periods_written, queued.size());
    EXPECT_EQ(s.events_written, events.size());
    EXPECT_EQ(s.periods_dropped + s.events_dropped + s.write_errors, 0u);
    EXPECT_EQ(s.queue_depth, 0u);
    EXPECT_EQ(s.transactions, (items + 255) / 256);

    const auto want = expected_rows(queued);
    EXPECT_EQ(want.size(), 300u + 5u);  // 300 intervals, 5 hours each written 6 times
    expect_same_rows(stored_rows(path), want);
    EXPECT_EQ(scalar(path, "SELECT count(*) FROM periods"), 305);
    EXPECT_EQ(scalar(path,
                     "SELECT count(*) FROM periods WHERE row_count != (SELECT count(*) "
                     "FROM rows WHERE period_id=periods.id)"),
              0);
    // Each hour keeps the sketch of its last write.
    auto hours = store.read_periods(Resolution::hour, t0, t0 + 5 * 3600);
    ASSERT_EQ(hours.size(), 5u);
    for (size_t h = 0; h < hours.size(); ++h)
        EXPECT_EQ(hours[h].source_sketch,
                  (std::vector<uint8_t>{static_cast<uint8_t>(60 * h + 59), 1, 2}));
    EXPECT_EQ(scalar(path, "SELECT count(*) FROM sketches"), 5);
    // Events in the order queued.
    auto back = store.read_events(0, t0 + 86400);
    ASSERT_EQ(back.size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(back[i].id, events[i].id);
        EXPECT_EQ(back[i].json, events[i].json);
    }
    EXPECT_EQ(scalar(path,
                     "SELECT count(*) FROM events e JOIN events f ON f.id > e.id AND "
                     "f.time < e.time"),
              0);
}

// A batch also ends at about 32768 rows, so a few large periods do not make one huge
// transaction.
TEST(Store, ABatchIsBoundedByItsRows) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    HistoryStore store({.path = path});
    store.pause_writer_for_test(true);
    std::vector<StoredPeriod> queued;
    for (int i = 0; i < 5; ++i) {
        StoredPeriod p{Resolution::interval, 1'700'000'000 + 60 * i, 60, {}, {}};
        for (int k = 0; k < 10'000; ++k)
            p.rows.push_back({"source",
                              "10.0." + std::to_string(k / 256) + "." + std::to_string(k % 256),
                              static_cast<uint64_t>(k + i), 60, 1, 1, 1});
        queued.push_back(p);
        store.enqueue(std::move(p));
    }
    store.pause_writer_for_test(false);
    store.flush();
    auto s = store.stats();
    EXPECT_EQ(s.periods_written, 5u);
    EXPECT_EQ(s.transactions, 2u);  // 3 x 10,000 rows, then 2 x 10,000
    expect_same_rows(stored_rows(path), expected_rows(queued));
}

// One period of a batch fails for good (a trigger refuses its insert, as a constraint would):
// the batch falls back to one transaction per item, so only that period is dropped, counted
// once and logged; the others and the events are written, and later batches are whole again.
TEST(Store, APeriodThatFailsForGoodCostsOnlyItself) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    LogSink log;
    HistoryStore store({.path = path, .log = log.callback()});
    const int64_t t0 = 1'700'000'000;
    const int64_t bad = t0 + 60 * 4;
    exec_sql(path, "CREATE TRIGGER refuse BEFORE INSERT ON periods WHEN NEW.start = " +
                       std::to_string(bad) +
                       " BEGIN SELECT RAISE(ABORT, 'refused by the test'); "
                       "END");
    store.pause_writer_for_test(true);
    std::vector<StoredPeriod> good;
    for (int i = 0; i < 10; ++i) {
        auto p = make_period(Resolution::interval, t0 + 60 * i, 60, 300 + i, 100);
        if (p.start != bad)
            good.push_back(p);
        store.enqueue(std::move(p));
        store.enqueue(StoredEvent{"e" + std::to_string(i), EventKind::dos, EventPhase::start,
                                  t0 + 60 * i, "{}"});
    }
    store.pause_writer_for_test(false);
    store.flush();
    auto s = store.stats();
    EXPECT_EQ(s.periods_written, 9u);
    EXPECT_EQ(s.periods_dropped, 1u);
    EXPECT_EQ(s.events_written, 10u);
    EXPECT_EQ(s.events_dropped, 0u);
    EXPECT_EQ(s.write_errors, 1u);
    EXPECT_NE(s.last_error.find("refused by the test"), std::string::npos) << s.last_error;
    EXPECT_EQ(s.transactions, 19u);  // each item on its own
    EXPECT_EQ(log.count_containing("writing them one at a time"), 1u);
    EXPECT_EQ(
        log.count_containing("(dropped the interval period starting " + std::to_string(bad) + ")"),
        1u);
    expect_same_rows(stored_rows(path), expected_rows(good));
    EXPECT_EQ(store.read_events(0, t0 + 3600).size(), 10u);

    // The next batch, all good, is one transaction again.
    store.pause_writer_for_test(true);
    std::vector<StoredPeriod> more;
    for (int i = 10; i < 20; ++i) {
        more.push_back(make_period(Resolution::interval, t0 + 60 * i, 60, 300 + i, 100));
        store.enqueue(more.back());
    }
    store.pause_writer_for_test(false);
    store.flush();
    s = store.stats();
    EXPECT_EQ(s.periods_written, 19u);
    EXPECT_EQ(s.transactions, 20u);
    EXPECT_EQ(s.write_errors, 1u);
    good.insert(good.end(), more.begin(), more.end());
    expect_same_rows(stored_rows(path), expected_rows(good));
}

// A transient failure (another connection holds the write lock) retries the whole batch: all
// of it is written once the lock is released, nothing dropped.
TEST(Store, ALockedDatabaseRetriesTheWholeBatch) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    LogSink log;
    HistoryStore store({.path = path, .busy_timeout_ms = 1, .log = log.callback()});
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    store.pause_writer_for_test(true);
    std::vector<StoredPeriod> queued;
    for (int i = 0; i < 20; ++i) {
        queued.push_back(make_period(Resolution::interval, 1'700'000'000 + 60 * i, 60, i, 80));
        store.enqueue(queued.back());
    }
    store.pause_writer_for_test(false);
    for (int i = 0; i < 4000 && log.count_containing("will retry") == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(log.count_containing("will retry"), 1u);
    ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(other);
    store.flush();
    auto s = store.stats();
    EXPECT_EQ(s.periods_written, 20u);
    EXPECT_EQ(s.periods_dropped, 0u);
    EXPECT_EQ(s.transactions, 1u);
    EXPECT_GE(s.write_errors, 1u);
    EXPECT_EQ(log.count_containing("one at a time"), 0u);
    expect_same_rows(stored_rows(path), expected_rows(queued));
}

// With batch_wait_ms the writer waits for a fuller batch: until the queue is full (a replay
// waiting for room is never held up by it) or a flush asks for everything.
TEST(Store, AWriterAskedToWaitWritesFullQueuesAndFlushesAtOnce) {
    TempDir dir;
    const std::string path = dir.file("h.db");
    HistoryStore store(
        {.path = path, .queue_limit = 4, .full_wait_ms = 600'000, .batch_wait_ms = 600'000});
    const int64_t t0 = 1'700'000'000;
    std::vector<StoredPeriod> queued;
    for (int i = 0; i < 11; ++i)
        queued.push_back(make_period(Resolution::interval, t0 + 60 * i, 60, 700 + i, 60));
    std::thread replay([&] {
        for (const auto& p : queued)
            store.enqueue(p);
    });
    replay.join();  // returns: a full queue is written at once, not after 600 s
    // The state, not a time: two full queues written, the last three waiting.
    for (int i = 0; i < 4000 && store.stats().periods_written < 8; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto s = store.stats();
    EXPECT_EQ(s.periods_written, 8u);
    EXPECT_EQ(s.transactions, 2u);
    EXPECT_EQ(s.queue_depth, 3u);
    queued.push_back(make_period(Resolution::hour, t0 / 3600 * 3600, 3600, 9, 60));
    store.enqueue(queued.back());
    store.flush();  // returns at once too
    s = store.stats();
    EXPECT_EQ(s.periods_written, 12u);
    EXPECT_EQ(s.transactions, 3u);
    EXPECT_EQ(s.periods_dropped, 0u);
    expect_same_rows(stored_rows(path), expected_rows(queued));
}

}  // namespace
}  // namespace darkscope
