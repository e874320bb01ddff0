// StopDeadline: the clock starts once (the first caller's time wins), every flusher gets the same
// flush_by(), and the losses come back in the order they were noted.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "darkscope/stop_deadline.hpp"

namespace darkscope {
namespace {

TEST(StopDeadline, NotStartedUntilAsked) {
    StopDeadline d;
    EXPECT_FALSE(d.started());
    EXPECT_EQ(d.elapsed_s(), 0.0);
    EXPECT_TRUE(d.losses().empty());
}

TEST(StopDeadline, TheFirstStartWins) {
    StopDeadline d;
    const auto before = StopDeadline::Clock::now();
    d.start();
    const auto after = StopDeadline::Clock::now();
    const auto by = d.flush_by();
    EXPECT_TRUE(d.started());
    EXPECT_GE(by, before + StopDeadline::kFlushBudget);
    EXPECT_LE(by, after + StopDeadline::kFlushBudget);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    d.start();  // a second signal does not move the deadline
    EXPECT_EQ(d.flush_by(), by);
    EXPECT_LE(d.left(), StopDeadline::kFlushBudget);
    EXPECT_GT(d.left(), std::chrono::milliseconds(0));
}

TEST(StopDeadline, FlushByStartsTheClock) {
    StopDeadline d;
    const auto by = d.flush_by();
    EXPECT_TRUE(d.started());
    EXPECT_EQ(d.flush_by(), by);
}

TEST(StopDeadline, TheBoundsFitTheUnitsStopTimeout) {
    // conf/darkscope.service.in: TimeoutStopSec=30.
    EXPECT_LT(StopDeadline::kFlushBudget, StopDeadline::kExitBound);
    EXPECT_LT(StopDeadline::kExitBound, std::chrono::seconds(30));
}

TEST(StopDeadline, LossesInOrder) {
    StopDeadline d;
    d.lost("3 history periods or events (--db x)");
    d.lost("1 fleet intervals (--fleet-spool y)");
    ASSERT_EQ(d.losses().size(), 2u);
    EXPECT_EQ(d.losses()[0], "3 history periods or events (--db x)");
    EXPECT_EQ(d.losses()[1], "1 fleet intervals (--fleet-spool y)");
}

}  // namespace
}  // namespace darkscope
