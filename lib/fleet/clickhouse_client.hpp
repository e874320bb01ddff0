// One ClickHouse server's HTTP interface through libcurl. Not installed.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "darkscope/fleet.hpp"

namespace darkscope {

class ClickHouseClient {
  public:
    explicit ClickHouseClient(const FleetSettings& settings);
    ~ClickHouseClient();
    ClickHouseClient(const ClickHouseClient&) = delete;
    ClickHouseClient& operator=(const ClickHouseClient&) = delete;

    // Runs `sql` with `body` as its data (an INSERT's rows; empty for a SELECT), in the
    // settings' database, with insert_distributed_sync=1 (an INSERT through a Distributed table is
    // acknowledged once every shard has its rows). True on HTTP 200 with the answer in
    // `response`; false with a one-line reason in `error` (the server's own message first).
    bool run(const std::string& sql, const std::string& body, std::string& response,
             std::string& error);
    uint64_t bytes_sent() const { return bytes_sent_; }
    // A request still under way at this steady-clock time (nanoseconds; 0: none) is abandoned
    // (the stop's deadline). Read on every transfer's progress, at least once a second.
    void abandon_at(const std::atomic<int64_t>* steady_ns) { abandon_at_ = steady_ns; }

  private:
    const FleetSettings& settings_;
    void* curl_;
    uint64_t bytes_sent_ = 0;
    const std::atomic<int64_t>* abandon_at_ = nullptr;
};

}  // namespace darkscope
