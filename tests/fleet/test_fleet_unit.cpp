// The spool (quota, order, temporary files) and the interval file (what is written is what is
// read back), against values written out by hand.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "darkscope/url.hpp"
#include "interval_file.hpp"
#include "spool.hpp"

namespace ds = darkscope;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/darkscope-fleet-XXXXXX";
    return mkdtemp(tmpl);
}

}  // namespace

TEST(Spool, DropsTheOldestPastTheQuotaAndKeepsOrder) {
    const std::string dir = temp_dir();
    std::ofstream(dir + "/.tmp-000000000001-0000000000000001.interval") << "half";
    {
        ds::Spool spool(dir, 250);
        EXPECT_FALSE(fs::exists(dir + "/.tmp-000000000001-0000000000000001.interval"));
        std::vector<int64_t> dropped;
        for (int64_t start : {300, 60, 120, 180})
            spool.write(start, 7, std::string(100, 'x'), dropped);
        // 4 x 100 bytes over a quota of 250: the two oldest go (60 and 120; 300 came first but
        // is the newest interval).
        EXPECT_EQ(dropped, (std::vector<int64_t>{60, 120}));
        EXPECT_EQ(spool.intervals(), 2u);
        EXPECT_EQ(spool.bytes(), 200u);
        ASSERT_NE(spool.oldest(), nullptr);
        EXPECT_EQ(spool.oldest()->start, 180);
    }
    ds::Spool again(dir, 250);  // what a restart finds
    EXPECT_EQ(again.intervals(), 2u);
    EXPECT_EQ(again.oldest()->start, 180);
    again.remove_oldest();
    EXPECT_EQ(again.oldest()->start, 300);
    again.remove_oldest();
    EXPECT_EQ(again.oldest(), nullptr);
    EXPECT_TRUE(fs::is_empty(dir));
    fs::remove_all(dir);
}

TEST(Spool, KeepsTheNewestIntervalEvenAloneOverTheQuota) {
    const std::string dir = temp_dir();
    ds::Spool spool(dir, 10);
    std::vector<int64_t> dropped;
    spool.write(60, 1, std::string(50, 'x'), dropped);
    spool.write(120, 1, std::string(50, 'x'), dropped);
    EXPECT_EQ(dropped, (std::vector<int64_t>{60}));
    EXPECT_EQ(spool.intervals(), 1u);
    fs::remove_all(dir);
}

TEST(IntervalFile, ReadsBackWhatItWrote) {
    ds::FleetInterval iv;
    iv.start = 1363046400;
    iv.end = 1363046460;
    iv.packets = 12;
    iv.bytes = 900;
    ds::FleetTuple t{};
    const uint32_t v4 = 0xc000024d;  // 192.0.2.77, host order as IpAddress holds it
    std::memcpy(t.source, &v4, 4);
    t.family = 4;
    t.where = ds::TupleWhere::kNoService | 47;  // no service (GRE)
    t.packets = 3;
    t.bytes = 180;
    iv.tuples.push_back(t);
    iv.rows.push_back(ds::StoredRow{"total", "all", 12, 900, 1, 1, 0});
    iv.rows.push_back(ds::StoredRow{"country", "J\tP", 12, 900, 1, 1, 0});
    iv.events.push_back(ds::StoredEvent{"e1", ds::EventKind::dos, ds::EventPhase::start, 1363046460,
                                        "{\"a\":\"b\\nc\"}"});
    const std::string text = ds::interval_file(iv, "site-a", 99, {"tokyo"}, true);
    ds::SpooledInterval back;
    ASSERT_TRUE(ds::parse_interval_file(text, back));
    EXPECT_EQ(back.start, 1363046400);
    EXPECT_EQ(back.export_id, 99u);
    ASSERT_EQ(back.sections.size(), 4u);
    EXPECT_EQ(back.sections[0].table, "tuples");
    EXPECT_EQ(back.sections[0].body,
              "1363046400\tsite-a\t99\ttokyo\t192.0.2.77\tnone\t0\t??\t0\t3\t180\t0\t0\t0\n");
    EXPECT_EQ(back.sections[1].table, "totals");
    EXPECT_EQ(back.sections[1].rows, 2u);
    // TabSeparated escapes: a tab in a key, a backslash in the event's JSON.
    EXPECT_NE(back.sections[1].body.find("country\tJ\\tP\t12"), std::string::npos);
    EXPECT_NE(back.sections[2].body.find("{\"a\":\"b\\\\nc\"}"), std::string::npos);
    EXPECT_EQ(back.sections[3].table, "intervals");
    EXPECT_EQ(back.sections[3].body, "1363046400\tsite-a\t99\t1363046460\t12\t900\t1\t3\t1\t0\n");
    // Spilled packets a full spill log could not keep: stated in the interval's row.
    iv.tuples_unexported = 5;
    ASSERT_TRUE(
        ds::parse_interval_file(ds::interval_file(iv, "site-a", 99, {"tokyo"}, true), back));
    EXPECT_EQ(back.sections[3].body, "1363046400\tsite-a\t99\t1363046460\t12\t900\t1\t3\t1\t5\n");
    iv.tuples_unexported = 0;
    // Aggregates only: no tuples section but the sketches (deflated, base64), and the interval
    // says so.
    ds::HyperLogLog sketch;
    sketch.add_hash(42);
    iv.sketches.push_back(ds::FleetSketch{"total", "all", {}});
    sketch.serialize(iv.sketches.back().sketch);
    ASSERT_TRUE(ds::parse_interval_file(ds::interval_file(iv, "site-a", 99, {}, false), back));
    ASSERT_EQ(back.sections.size(), 4u);
    EXPECT_EQ(back.sections[1].table, "sketches");
    EXPECT_EQ(back.sections[1].rows, 1u);
    const std::string row = back.sections[1].body;
    const std::string prefix = "1363046400\tsite-a\t99\ttotal\tall\t";
    ASSERT_EQ(row.compare(0, prefix.size(), prefix), 0) << row;
    const std::string text64 = row.substr(prefix.size(), row.size() - prefix.size() - 1);
    EXPECT_EQ(text64.size() % 4, 0u);
    EXPECT_EQ(text64.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
              std::string::npos);
    EXPECT_EQ(back.sections[3].body, "1363046400\tsite-a\t99\t1363046460\t12\t900\t0\t0\t0\t0\n");
    // A cut file is refused.
    EXPECT_FALSE(ds::parse_interval_file(text.substr(0, text.size() - 5), back));
}

TEST(Url, RedactedHidesTheCredentials) {
    EXPECT_EQ(ds::redacted_url("http://u:secret@h:8123/?database=d&password=p"),
              "http://h:8123/?database=d");
    EXPECT_EQ(ds::redacted_url("https://h/"), "https://h/");
}
