// Snapshot: what the stats core publishes after each interval. Immutable once published;
// telemetry callbacks and the summary writer read it from any thread while workers run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "darkscope/counters.hpp"

namespace darkscope {

struct PortStatus {
    std::string name;
    std::string driver;
    int socket = -1;
    unsigned rx_queues = 0;
    bool link_up = false;
    uint32_t link_speed_mbps = 0;
    uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
};

struct WorkerStatus {
    unsigned id = 0;
    unsigned lcore = 0;
    int numa_node = -1;
    std::string queues;  // "0:0 1:0" (port:queue)
    uint64_t packets = 0, bursts = 0, idle_polls = 0;
};

struct Snapshot {
    uint64_t intervals = 0;    // completed intervals merged so far
    int64_t last_start_s = 0;  // the last completed interval [start, end), epoch seconds
    int64_t last_end_s = 0;
    uint32_t interval_s = 60;
    double uptime_s = 0;
    bool offline = false;
    std::shared_ptr<const CounterSet> last;   // the last completed interval
    std::shared_ptr<const CounterSet> total;  // every completed interval since start
    std::vector<PortStatus> ports;
    std::vector<WorkerStatus> workers;
    std::vector<std::string> sensor_names;  // index = sensor slot
};

}  // namespace darkscope
