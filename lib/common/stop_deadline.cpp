// The stop's deadline and what the stop left unwritten (darkscope/stop_deadline.hpp).
#include "darkscope/stop_deadline.hpp"

#include <algorithm>

namespace darkscope {

namespace {

int64_t now_ns() noexcept {
    // steady_clock is CLOCK_MONOTONIC: clock_gettime, async-signal-safe.
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               StopDeadline::Clock::now().time_since_epoch())
        .count();
}

}  // namespace

static_assert(std::atomic<int64_t>::is_always_lock_free, "start() runs in a signal handler");

void StopDeadline::start() noexcept {
    int64_t unset = 0;
    start_ns_.compare_exchange_strong(unset, std::max<int64_t>(now_ns(), 1));
}

bool StopDeadline::started() const noexcept {
    return start_ns_.load() != 0;
}

StopDeadline::Clock::time_point StopDeadline::flush_by() noexcept {
    start();
    return Clock::time_point(std::chrono::nanoseconds(start_ns_.load())) + kFlushBudget;
}

std::chrono::milliseconds StopDeadline::left() noexcept {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(flush_by() - Clock::now());
    return std::max(left, std::chrono::milliseconds{0});
}

double StopDeadline::elapsed_s() const noexcept {
    const int64_t start = start_ns_.load();
    return start == 0 ? 0.0 : static_cast<double>(now_ns() - start) / 1e9;
}

void StopDeadline::lost(std::string what) {
    std::lock_guard lock(mutex_);
    losses_.push_back(std::move(what));
}

std::vector<std::string> StopDeadline::losses() const {
    std::lock_guard lock(mutex_);
    return losses_;
}

namespace {
// Constant-initialized, not a function's static: a signal handler may be the first to use it.
constinit StopDeadline g_stop_deadline;
}  // namespace

StopDeadline& stop_deadline() {
    return g_stop_deadline;
}

}  // namespace darkscope
