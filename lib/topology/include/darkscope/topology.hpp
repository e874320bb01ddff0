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
    unsigned lcore;  // the OS cpu index (EAL lcore id == cpu id in our -l list)
    int numa_node;   // -1 when unknown
    std::vector<PortQueue> queues;
    unsigned cpu = 0;  // the OS cpu it runs on: == lcore unless CorePlan::shared_cpus
};

struct CorePlan {
    unsigned stats_lcore = 0;
    int stats_numa_node = -1;
    std::vector<WorkerPlan> workers;
    std::vector<int> port_numa_node;  // per port, -1 for vdevs or unknown
    std::vector<std::string> notes;   // why choices were made ("core 0 left to the OS", ...)
    unsigned stats_cpu = 0;           // OS cpu of the stats lcore (== stats_lcore unless shared)
    // PlanRequest::share_cpus was needed: lcores 0 (stats), 1..W (workers) time-share CPUs.
    bool shared_cpus = false;

    // Stats core first, then workers: "3,4,5" (good for -l and --lcores), or "0@0,1@1,2@1"
    // when shared_cpus (--lcores only; passing --lcores always covers both cases).
    std::string eal_lcore_list() const;
    std::string to_text() const;  // what `darkscope --plan` prints
};

// What plan_request() (darkscope/sub_configs.hpp) takes from a Config that validate_config()
// accepted: the checks that need no machine (a worker count of 1..127 and at most the (port,
// queue) pairs, cores listed once, the stats core apart from the workers unless share_cpus) are
// made there, once; the planner relies on them.
struct PlanRequest {
    std::vector<std::string> ports;  // PCI addresses or vdev strings
    unsigned rx_queues = 1;          // per port
    unsigned workers = 1;            // wanted worker count (ignored when cores given)
    std::vector<unsigned> cores;     // explicit worker cores
    int stats_core = -1;             // explicit stats core, -1 = planned
    // --share-cpus: when CPUs run out, let lcores share CPUs instead of failing (tests, small
    // VMs; never for line-rate capture). An explicit stats core may then be a worker's CPU: on a
    // box with as many CPUs as workers it wakes once per interval, where a second worker on
    // another worker's CPU would halve both (bench.sh --workers 2 on two CPUs).
    bool share_cpus = false;
};

// Loads the topology (this machine, or an hwloc XML file when xml_path is not empty) and plans.
// Throws std::runtime_error with a one-line reason ("--workers 4: only 1 core left for
// workers after the stats core", "--cores 7: no such core") when this machine cannot meet the
// request.
CorePlan plan_cores(const PlanRequest& request, const std::string& xml_path = "");

}  // namespace darkscope
