// The core planner on synthetic machines (hwloc XML under tests/topology/xml, written by
// make_fixtures.py). What a plan must satisfy is checked against the machine as read here
// straight from hwloc: which CPUs share a physical core, which NUMA node each is on, where
// the NIC hangs.
#include <gtest/gtest.h>
#include <hwloc.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "darkscope/topology.hpp"

using namespace darkscope;

namespace {

const std::string kXmlDir = DARKSCOPE_TOPOLOGY_XML_DIR;

// The machine as hwloc describes it, read without the planner's code.
struct Truth {
    std::map<unsigned, std::set<unsigned>> siblings;  // cpu -> cpus of its physical core
    std::map<unsigned, unsigned> first_of_core;       // cpu -> lowest cpu of its core
    std::map<unsigned, int> node;                     // cpu -> NUMA node (-1 unknown)
    std::map<std::string, int> pci_node;              // bus id -> NUMA node (-1 unknown)
    std::set<unsigned> cpus;
    size_t cores = 0;

    unsigned cores_on(int n) const {
        std::set<unsigned> firsts;
        for (auto [cpu, nd] : node)
            if (nd == n)
                firsts.insert(first_of_core.at(cpu));
        return static_cast<unsigned>(firsts.size());
    }
};

Truth read_truth(const std::string& xml) {
    Truth t;
    hwloc_topology_t topo;
    hwloc_topology_init(&topo);
    EXPECT_EQ(hwloc_topology_set_xml(topo, xml.c_str()), 0);
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    EXPECT_EQ(hwloc_topology_load(topo), 0);
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    t.cores = static_cast<size_t>(ncores);
    for (int i = 0; i < ncores; ++i) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
        std::set<unsigned> cpus;
        unsigned id;
        hwloc_bitmap_foreach_begin(id, core->cpuset) cpus.insert(id);
        hwloc_bitmap_foreach_end();
        for (unsigned c : cpus) {
            t.siblings[c] = cpus;
            t.first_of_core[c] = *cpus.begin();
            t.cpus.insert(c);
        }
    }
    int nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    for (int i = 0; i < nnodes; ++i) {
        hwloc_obj_t n = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
        unsigned id;
        hwloc_bitmap_foreach_begin(id, n->cpuset) t.node[id] = static_cast<int>(n->os_index);
        hwloc_bitmap_foreach_end();
    }
    for (hwloc_obj_t dev = hwloc_get_next_pcidev(topo, nullptr); dev;
         dev = hwloc_get_next_pcidev(topo, dev)) {
        char busid[32];
        std::snprintf(busid, sizeof busid, "%04x:%02x:%02x.%01x", dev->attr->pcidev.domain,
                      dev->attr->pcidev.bus, dev->attr->pcidev.dev, dev->attr->pcidev.func);
        // Walk up to the first CPU-side object and count the nodes it spans.
        hwloc_obj_t up = dev->parent;
        while (up && !up->cpuset)
            up = up->parent;
        int nodes = up ? hwloc_bitmap_weight(up->nodeset) : 0;
        t.pci_node[busid] = nodes == 1 ? hwloc_bitmap_first(up->nodeset) : -1;
    }
    hwloc_topology_destroy(topo);
    return t;
}

std::vector<unsigned> worker_cpus(const CorePlan& p) {
    std::vector<unsigned> v;
    for (const auto& w : p.workers)
        v.push_back(w.lcore);
    return v;
}

std::string plan_error(const PlanRequest& r, const std::string& xml) {
    try {
        plan_cores(r, xml);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

// What every plan must satisfy: distinct existing CPUs, the stats CPU apart from the workers,
// every (port, queue) polled exactly once, queues spread evenly, nodes reported truthfully.
void check_plan_invariants(const CorePlan& p, const PlanRequest& r, const Truth& t) {
    std::set<unsigned> cpus_used{p.stats_cpu}, lcores_used{p.stats_lcore};
    EXPECT_TRUE(t.cpus.count(p.stats_cpu));
    EXPECT_EQ(p.stats_numa_node, t.node.at(p.stats_cpu));
    if (!p.shared_cpus) {
        EXPECT_EQ(p.stats_lcore, p.stats_cpu);
    }
    std::map<std::pair<unsigned, unsigned>, int> polled;
    size_t most = 0, fewest = SIZE_MAX;
    for (const auto& w : p.workers) {
        EXPECT_TRUE(t.cpus.count(w.cpu)) << w.cpu;
        EXPECT_TRUE(lcores_used.insert(w.lcore).second) << "lcore used twice: " << w.lcore;
        if (!p.shared_cpus) {
            EXPECT_EQ(w.lcore, w.cpu);
            EXPECT_TRUE(cpus_used.insert(w.cpu).second) << "cpu used twice: " << w.cpu;
        }
        EXPECT_EQ(w.numa_node, t.node.at(w.cpu));
        for (const auto& pq : w.queues)
            polled[{pq.port, pq.queue}]++;
        most = std::max(most, w.queues.size());
        fewest = std::min(fewest, w.queues.size());
    }
    if (!r.ports.empty()) {
        EXPECT_EQ(polled.size(), r.ports.size() * r.rx_queues);
        for (auto& [pq, n] : polled)
            EXPECT_EQ(n, 1);
        EXPECT_LE(most - fewest, 1u) << "queues not spread evenly";
    }
    ASSERT_EQ(p.port_numa_node.size(), r.ports.size());
    for (size_t i = 0; i < r.ports.size(); ++i) {
        auto it = t.pci_node.find(r.ports[i].substr(0, r.ports[i].find(',')));
        int want = it == t.pci_node.end() ? -1 : it->second;
        EXPECT_EQ(p.port_numa_node[i], want) << r.ports[i];
    }
    // The lcore list: the stats core first, then every worker; "lcore@cpu" when shared.
    auto item = [&](unsigned lcore, unsigned cpu) {
        std::string s = std::to_string(lcore);
        if (p.shared_cpus) {
            s += '@';
            s += std::to_string(cpu);
        }
        return s;
    };
    std::string want = item(p.stats_lcore, p.stats_cpu);
    for (const auto& w : p.workers) {
        want += ',';
        want += item(w.lcore, w.cpu);
    }
    EXPECT_EQ(p.eal_lcore_list(), want);
    EXPECT_NE(p.to_text().find("stats"), std::string::npos);
}

bool is_first_thread(const Truth& t, unsigned cpu) {
    return t.first_of_core.at(cpu) == cpu;
}

}  // namespace

TEST(Topology, TwoSocketsNicOnSocket1) {
    const std::string xml = kXmlDir + "/two-socket-smt.xml";
    Truth t = read_truth(xml);
    const int nic_node = t.pci_node.at("0000:3b:00.0");
    ASSERT_GE(nic_node, 0);
    ASSERT_GE(t.cores_on(nic_node), 4u);
    for (unsigned workers = 1; workers <= t.cores_on(nic_node); ++workers) {
        PlanRequest r;
        r.ports = {"0000:3b:00.0"};
        r.rx_queues = 4;
        r.workers = workers;
        CorePlan p = plan_cores(r, xml);
        check_plan_invariants(p, r, t);
        ASSERT_EQ(p.workers.size(), workers);
        EXPECT_EQ(p.port_numa_node[0], nic_node);
        std::set<unsigned> worker_cores;
        for (const auto& w : p.workers) {
            EXPECT_EQ(w.numa_node, nic_node) << "worker off the NIC's node: cpu " << w.lcore;
            EXPECT_TRUE(is_first_thread(t, w.lcore)) << "SMT sibling used: cpu " << w.lcore;
            worker_cores.insert(t.first_of_core.at(w.lcore));
        }
        EXPECT_EQ(worker_cores.size(), workers);
        // The stats core has a physical core of its own, and core 0 is left to the OS.
        EXPECT_FALSE(worker_cores.count(t.first_of_core.at(p.stats_lcore)));
        EXPECT_NE(t.first_of_core.at(p.stats_lcore), t.first_of_core.at(0));
        for (const auto& w : p.workers)
            EXPECT_FALSE(t.siblings.at(0).count(w.lcore));
        // On the NIC's node when a core is left there.
        if (workers < t.cores_on(nic_node)) {
            EXPECT_EQ(p.stats_numa_node, nic_node);
        }
        EXPECT_NE(p.to_text().find("left to the OS"), std::string::npos);
    }
}

TEST(Topology, NoSmtSiblingBeforeEveryPhysicalCore) {
    const std::string xml = kXmlDir + "/two-socket-smt.xml";
    Truth t = read_truth(xml);
    const unsigned cpus = static_cast<unsigned>(t.cpus.size());
    for (unsigned workers = 1; workers < cpus; ++workers) {
        PlanRequest r;
        r.ports = {"0000:3b:00.0"};
        r.rx_queues = cpus;
        r.workers = workers;
        CorePlan p = plan_cores(r, xml);
        check_plan_invariants(p, r, t);
        std::set<unsigned> busy_cores{t.first_of_core.at(p.stats_lcore)};
        bool sibling_used = false;
        for (const auto& w : p.workers) {
            busy_cores.insert(t.first_of_core.at(w.lcore));
            sibling_used |= !is_first_thread(t, w.lcore);
        }
        if (sibling_used) {
            // Only once every physical core holds a worker or the stats core.
            EXPECT_EQ(busy_cores.size(), t.cores) << workers << " workers";
        }
        // A worker shares the stats core's physical core only when nothing else is left.
        bool shares_stats = false;
        for (const auto& w : p.workers)
            shares_stats |=
                w.lcore != p.stats_lcore && t.siblings.at(p.stats_lcore).count(w.lcore) != 0;
        if (shares_stats) {
            EXPECT_EQ(workers, cpus - 1);
        }
        // Of the SMT siblings, the NIC's node's come first.
        int nic_node = t.pci_node.at("0000:3b:00.0");
        unsigned siblings_total = 0, siblings_on_nic = 0;
        for (const auto& w : p.workers)
            if (!is_first_thread(t, w.lcore)) {
                ++siblings_total;
                siblings_on_nic += w.numa_node == nic_node;
            }
        EXPECT_EQ(siblings_on_nic, std::min(siblings_total, t.cores_on(nic_node)));
    }
    PlanRequest too_many;
    too_many.ports = {"0000:3b:00.0"};
    too_many.rx_queues = cpus;
    too_many.workers = cpus;
    EXPECT_EQ(plan_error(too_many, xml),
              std::string("--workers ") + std::to_string(cpus) + ": only " +
                  std::to_string(cpus - 1) +
                  std::string(" CPU(s) left for workers after the stats core (this machine has ") +
                  std::to_string(cpus) + " CPU(s): 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15)");
}

TEST(Topology, TwoNicsOnTwoNodesGetLocalWorkers) {
    const std::string xml = kXmlDir + "/two-socket-smt.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.ports = {"0000:18:00.0", "0000:3b:00.0"};
    r.rx_queues = 2;
    r.workers = 4;
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    ASSERT_NE(p.port_numa_node[0], p.port_numa_node[1]);
    for (const auto& w : p.workers)
        for (const auto& pq : w.queues)
            EXPECT_EQ(w.numa_node, p.port_numa_node[pq.port])
                << "port " << pq.port << " polled from another node by cpu " << w.lcore;
}

TEST(Topology, SmallBoxStatsOnCore0) {
    const std::string xml = kXmlDir + "/single-socket-2core.xml";
    Truth t = read_truth(xml);
    ASSERT_EQ(t.cpus.size(), 2u);
    PlanRequest r;
    r.ports = {"0000:01:00.0"};
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_EQ(p.stats_lcore, 0u);
    EXPECT_EQ(worker_cpus(p), std::vector<unsigned>{1});
    EXPECT_EQ(p.eal_lcore_list(), "0,1");
    EXPECT_NE(p.to_text().find("core 0 not left to the OS"), std::string::npos);

    r.workers = 2;
    r.rx_queues = 2;
    EXPECT_EQ(plan_error(r, xml),
              "--workers 2: only 1 CPU(s) left for workers after the stats core (this machine "
              "has 2 CPU(s): 0,1)");
}

TEST(Topology, SingleSocketSmtUsesSiblingsLast) {
    const std::string xml = kXmlDir + "/single-socket-4core-smt.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.ports = {"0000:01:00.0"};
    r.rx_queues = 8;
    r.workers = 2;  // 4 cores: 2 workers + stats + core 0 for the OS
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    for (const auto& w : p.workers)
        EXPECT_TRUE(is_first_thread(t, w.lcore));
    EXPECT_FALSE(t.siblings.at(0).count(p.stats_lcore));
    r.workers = 4;  // 4 cores for 5 roles: siblings needed, core 0 to the stats core
    p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_EQ(p.stats_lcore, 0u);
    size_t siblings = 0;
    for (const auto& w : p.workers) {
        siblings += !is_first_thread(t, w.lcore);
        EXPECT_FALSE(t.siblings.at(0).count(w.lcore)) << "worker beside the stats core";
    }
    EXPECT_EQ(siblings, 1u);
    EXPECT_NE(p.to_text().find("SMT siblings"), std::string::npos);
}

TEST(Topology, OneCoreIsTooFew) {
    const std::string xml = kXmlDir + "/one-core.xml";
    PlanRequest r;
    EXPECT_EQ(plan_error(r, xml),
              "--workers 1: only 0 CPU(s) left for workers after the stats core (this machine "
              "has 1 CPU(s): 0)");
}

TEST(Topology, NoNumaInformation) {
    const std::string xml = kXmlDir + "/no-numa.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.ports = {"0000:00:03.0"};
    r.rx_queues = 2;
    r.workers = 2;
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_FALSE(t.siblings.at(0).count(p.stats_lcore));
    for (const auto& w : p.workers)
        EXPECT_NE(w.lcore, 0u);
}

TEST(Topology, NicAboveSeveralNodesHasNoNode) {
    const std::string xml = kXmlDir + "/two-socket-nic-above.xml";
    Truth t = read_truth(xml);
    ASSERT_EQ(t.pci_node.at("0000:00:03.0"), -1);
    PlanRequest r;
    r.ports = {"0000:00:03.0"};
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_EQ(p.port_numa_node[0], -1);
    EXPECT_NE(p.to_text().find("locality unknown"), std::string::npos);
}

TEST(Topology, VdevsHaveNoNode) {
    const std::string xml = kXmlDir + "/two-socket-smt.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.ports = {"net_pcap0,rx_pcap=a.pcap", "net_pcap1,rx_pcap=b.pcap", "0000:99:00.0"};
    r.workers = 3;
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_EQ(p.port_numa_node, (std::vector<int>{-1, -1, -1}));
    EXPECT_NE(p.to_text().find("a vdev, no NUMA node"), std::string::npos);
    EXPECT_NE(p.to_text().find("not found by hwloc"), std::string::npos);
    for (const auto& w : p.workers)
        EXPECT_TRUE(is_first_thread(t, w.lcore));
}

TEST(Topology, OfflineHasNoPorts) {
    const std::string xml = kXmlDir + "/two-socket-smt.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.workers = 2;
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_EQ(p.workers.size(), 2u);
    for (const auto& w : p.workers)
        EXPECT_TRUE(w.queues.empty());
}

TEST(Topology, ExplicitCoresHonouredAndChecked) {
    const std::string xml = kXmlDir + "/two-socket-smt.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.ports = {"0000:3b:00.0"};
    r.rx_queues = 4;
    r.cores = {7, 5, 6, 4};
    r.stats_core = 3;
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_EQ(p.stats_lcore, 3u);
    EXPECT_EQ(worker_cpus(p), (std::vector<unsigned>{4, 5, 6, 7}));

    // Stats core planned around explicit workers: not one of their siblings, not core 0.
    r.stats_core = -1;
    p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    for (unsigned c : r.cores)
        EXPECT_FALSE(t.siblings.at(c).count(p.stats_lcore));
    EXPECT_FALSE(t.siblings.at(0).count(p.stats_lcore));

    // What only the machine can refuse (the rest, validate_config() refuses before planning).
    PlanRequest bad = r;
    bad.cores = {4, 99};
    EXPECT_EQ(plan_error(bad, xml),
              "--cores 99: no such core (this machine has 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15)");
    bad.cores = {4, 5};
    bad.stats_core = 64;
    EXPECT_EQ(
        plan_error(bad, xml),
        "--stats-core 64: no such core (this machine has 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15)");
}

TEST(Topology, BadXml) {
    PlanRequest r;
    std::string e = plan_error(r, kXmlDir + "/missing.xml");
    EXPECT_EQ(e.rfind("--topology-xml " + kXmlDir + "/missing.xml: hwloc cannot", 0), 0u) << e;
}

TEST(Topology, ThisMachine) {
    // Whatever this machine is: a plan for one worker, or the one-line reason it cannot.
    PlanRequest r;
    try {
        CorePlan p = plan_cores(r);
        EXPECT_EQ(p.workers.size(), 1u);
        EXPECT_NE(p.workers[0].lcore, p.stats_lcore);
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("--workers 1"), std::string::npos) << e.what();
    }
}

TEST(Topology, ShareCpusWhenAskedOnSmallBoxes) {
    const std::string xml = kXmlDir + "/single-socket-2core.xml";
    Truth t = read_truth(xml);
    PlanRequest r;
    r.ports = {"net_pcap0,rx_pcap=a.pcap", "net_pcap1,rx_pcap=b.pcap"};
    r.workers = 2;
    r.share_cpus = true;
    CorePlan p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_TRUE(p.shared_cpus);
    EXPECT_EQ(p.stats_cpu, 0u);
    for (const auto& w : p.workers)
        EXPECT_NE(w.cpu, p.stats_cpu) << "worker on the stats CPU";
    EXPECT_NE(p.to_text().find("--share-cpus"), std::string::npos);
    // Not needed: the ordinary plan, lcore == cpu.
    r.workers = 1;
    p = plan_cores(r, xml);
    check_plan_invariants(p, r, t);
    EXPECT_FALSE(p.shared_cpus);

    // An explicit stats core on a worker's CPU (bench.sh --workers 2 on two CPUs): one worker
    // per CPU, the stats lcore time-sharing the CPU it was given.
    PlanRequest own;
    own.ports = r.ports;
    own.cores = {1, 0};
    own.stats_core = 0;
    own.share_cpus = true;  // without it validate_config() refuses the request
    p = plan_cores(own, xml);
    check_plan_invariants(p, own, t);
    EXPECT_TRUE(p.shared_cpus);
    EXPECT_EQ(p.stats_cpu, 0u);
    ASSERT_EQ(p.workers.size(), 2u);
    EXPECT_EQ(p.workers[0].cpu, 0u);
    EXPECT_EQ(p.workers[1].cpu, 1u);
    EXPECT_EQ(p.eal_lcore_list(), "0@0,1@0,2@1");
    EXPECT_NE(p.to_text().find("time-shares cpu 0 with a worker"), std::string::npos);

    const std::string one = kXmlDir + "/one-core.xml";
    PlanRequest tiny;
    tiny.share_cpus = true;
    p = plan_cores(tiny, one);
    check_plan_invariants(p, tiny, read_truth(one));
    EXPECT_TRUE(p.shared_cpus);
    ASSERT_EQ(p.workers.size(), 1u);
    EXPECT_EQ(p.workers[0].cpu, p.stats_cpu);
}
