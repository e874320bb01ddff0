// The offline reader's rules, free of DPDK and libpcap: in which order --read files are read,
// and where packet time puts the interval boundaries.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace darkscope {

// The files in the time order of their first packets (captures of consecutive days given in any
// order). `first_packet_s` gives a file's first packet time, or nothing when the file cannot be
// read or holds no packet: such a file keeps its place after the file before it, and is reported
// when its turn comes. Files of equal time keep their given order.
std::vector<std::string> read_order(
    const std::vector<std::string>& files,
    const std::function<std::optional<int64_t>(const std::string&)>& first_packet_s);

// Interval boundaries from packet time. Intervals are aligned to multiples of their length
// (window_start). The first packet opens its interval; a packet at or past the end of the interval
// being counted closes it and opens the one that holds the packet (intervals with no packet in
// between are not closed: nothing was counted in them). A packet stamped before the interval
// being counted is counted in it (closed intervals are not reopened) and reported as late.
class OfflineIntervals {
  public:
    struct Closed {
        int64_t start_s, end_s;
    };
    struct Late {
        uint64_t packets = 0;
        int64_t latest_lag_s = 0;  // the furthest before the interval's start
    };

    explicit OfflineIntervals(int64_t length_s) : length_s_(length_s) {}

    // Places a packet stamped `sec`: the interval it closed, if any.
    std::optional<Closed> place(int64_t sec);
    bool started() const { return started_; }
    int64_t start_s() const { return start_s_; }
    int64_t end_s() const { return start_s_ + length_s_; }
    // The late packets placed since the last call (the reader reports them per file).
    Late take_late() { return std::exchange(late_, Late{}); }

  private:
    int64_t length_s_;
    bool started_ = false;
    int64_t start_s_ = 0;
    Late late_;
};

}  // namespace darkscope
