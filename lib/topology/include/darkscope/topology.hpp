// The core plan: which cores poll which (port, queue), which core merges, from the machine's
// topology as hwloc sees it. Workers sit on physical cores local to the NIC's NUMA node, one
// per physical core before any hyperthread sibling; the stats (main) core is kept apart from
// the workers; core 0 is left to the OS when there are enough cores.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace darkscope {

struct PortQueue {
    unsigned port;   // index in Config::ports
    unsigned queue;  // rx queue of that port
};

struct WorkerPlan {
    unsigned lcore;    // the OS cpu index (EAL lcore id == cpu id in our -l list)
    int numa_node;     // -1 when unknown
    std::vector<PortQueue> queues;
};

struct CorePlan {
    unsigned stats_lcore = 0;
    int stats_numa_node = -1;
    std::vector<WorkerPlan> workers;
    std::vector<int> port_numa_node;  // per port, -1 for vdevs or unknown
    std::vector<std::string> notes;   // why choices were made ("core 0 left to the OS", ...)

    std::string eal_lcore_list() const;  // "-l" argument: stats core first, then workers
    std::string to_text() const;         // what `darkscope --plan` prints
};

struct PlanRequest {
    std::vector<std::string> ports;      // PCI addresses or vdev strings
    unsigned rx_queues = 1;              // per port
    unsigned workers = 1;                // wanted worker count (ignored when cores given)
    std::vector<unsigned> cores;         // explicit worker cores
    int stats_core = -1;                 // explicit stats core
};

// Loads the topology (this machine, or an hwloc XML file when xml_path is not empty) and plans.
// Throws std::runtime_error with a one-line reason ("--workers 4: only 1 core left for
// workers after the stats core", "--cores 7: no such core") when the request cannot be met.
CorePlan plan_cores(const PlanRequest& request, const std::string& xml_path = "");

}  // namespace darkscope
