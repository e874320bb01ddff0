// The offline reader's rules: the read order of --read files and the interval boundaries that
// packet time sets, against boundaries worked out by hand.
#include <gtest/gtest.h>

#include <map>

#include "darkscope/offline_intervals.hpp"
#include "darkscope/window.hpp"

namespace darkscope {
namespace {

TEST(WindowStart, AlignsToMultiplesOfTheLengthBeforeAndAfter1970) {
    EXPECT_EQ(window_start(1362101459, 60), 1362101400);
    EXPECT_EQ(window_start(1362101400, 60), 1362101400);
    EXPECT_EQ(window_start(1362103199, 3600), 1362099600);
    EXPECT_EQ(window_start(1362103199, 86400), 1362096000);
    EXPECT_EQ(window_start(-1, 60), -60);
    EXPECT_EQ(window_start(-60, 60), -60);
    EXPECT_EQ(window_start(0, 300), 0);
}

TEST(OfflineIntervals, PacketTimeClosesIntervalsAndSkipsEmptyOnes) {
    OfflineIntervals iv(60);
    EXPECT_FALSE(iv.started());
    EXPECT_FALSE(iv.place(1000));  // opens [960, 1020)
    EXPECT_TRUE(iv.started());
    EXPECT_EQ(iv.start_s(), 960);
    EXPECT_EQ(iv.end_s(), 1020);
    EXPECT_FALSE(iv.place(1019));
    auto closed = iv.place(1020);  // the boundary itself belongs to the next interval
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->start_s, 960);
    EXPECT_EQ(closed->end_s, 1020);
    EXPECT_EQ(iv.start_s(), 1020);
    // A gap of hours: the interval closes once, and the next opens where the packet is.
    closed = iv.place(1020 + 7200 + 5);
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->start_s, 1020);
    EXPECT_EQ(closed->end_s, 1080);
    EXPECT_EQ(iv.start_s(), 1020 + 7200);
}

TEST(OfflineIntervals, LatePacketsCountInTheCurrentIntervalAndAreReported) {
    OfflineIntervals iv(60);
    iv.place(600);
    iv.place(700);  // closes [600, 660), opens [660, 720)
    EXPECT_FALSE(iv.place(650));
    EXPECT_FALSE(iv.place(500));
    EXPECT_EQ(iv.start_s(), 660);
    const auto late = iv.take_late();
    EXPECT_EQ(late.packets, 2u);
    EXPECT_EQ(late.latest_lag_s, 160);
    EXPECT_EQ(iv.take_late().packets, 0u);  // taken: the next file starts afresh
}

TEST(ReadOrder, FilesInTheOrderOfTheirFirstPackets) {
    const std::map<std::string, int64_t> first = {{"day2", 200}, {"day1", 100}, {"day3", 300}};
    auto time_of = [&](const std::string& f) -> std::optional<int64_t> {
        auto it = first.find(f);
        if (it == first.end())
            return std::nullopt;
        return it->second;
    };
    EXPECT_EQ(read_order({"day2", "day3", "day1"}, time_of),
              (std::vector<std::string>{"day1", "day2", "day3"}));
    // An unreadable file keeps its place after the file before it; one at the front goes first.
    EXPECT_EQ(read_order({"day3", "broken", "day1"}, time_of),
              (std::vector<std::string>{"day1", "day3", "broken"}));
    EXPECT_EQ(read_order({"broken", "day2", "day1"}, time_of),
              (std::vector<std::string>{"broken", "day1", "day2"}));
    // Equal times keep the given order.
    const std::map<std::string, int64_t> same = {{"a", 5}, {"b", 5}};
    EXPECT_EQ(
        read_order({"b", "a"},
                   [&](const std::string& f) -> std::optional<int64_t> { return same.at(f); }),
        (std::vector<std::string>{"b", "a"}));
}

}  // namespace
}  // namespace darkscope
