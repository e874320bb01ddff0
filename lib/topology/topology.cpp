// The core planner. hwloc gives the CPUs (PUs), the physical cores they belong to, their NUMA
// nodes, and where each PCI port hangs; the plan is a small greedy choice over that list.
#include "darkscope/topology.hpp"

#include <hwloc.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace darkscope {

namespace {

[[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error(why);
}

struct Cpu {
    unsigned os;    // OS cpu number (what -l and taskset use)
    unsigned core;  // index into the machine's list of physical cores
    unsigned smt;   // 0 = first hardware thread of its core, 1.. = SMT siblings
    int node;       // NUMA node, -1 unknown
};

struct Machine {
    std::vector<Cpu> cpus;                     // sorted by OS number
    std::vector<std::vector<unsigned>> cores;  // per physical core: its cpus, first thread first
    std::set<int> nodes;
    std::vector<int> port_node;
    std::vector<std::string> port_notes;
};

struct TopologyDeleter {
    void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};

int single_node(hwloc_const_nodeset_t nodeset) {
    if (!nodeset || hwloc_bitmap_weight(nodeset) != 1)
        return -1;
    return hwloc_bitmap_first(nodeset);
}

std::string pci_part(const std::string& spec) {
    return spec.substr(0, spec.find(','));
}

// A PCI address as is_pci_address() in lib/config accepts it; the planner does not depend on
// lib/config, so it only needs to tell "has a bus id" from a vdev name, which never has ':'.
bool looks_pci(const std::string& spec) {
    return pci_part(spec).find(':') != std::string::npos;
}

Machine load_machine(const std::vector<std::string>& ports, const std::string& xml_path) {
    hwloc_topology_t raw = nullptr;
    if (hwloc_topology_init(&raw) != 0)
        fail("hwloc: cannot initialise a topology");
    std::unique_ptr<hwloc_topology, TopologyDeleter> topo(raw);
    if (!xml_path.empty() && hwloc_topology_set_xml(raw, xml_path.c_str()) != 0)
        fail("--topology-xml " + xml_path + ": hwloc cannot read it");
    // PCI devices are filtered out by default; keep them to find each port's locality. Only a
    // PCI port needs them: discovering every device reads its config space in sysfs, the larger
    // part of the topology's cost at start-up (--read, vdevs).
    if (std::any_of(ports.begin(), ports.end(), looks_pci))
        hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(raw) != 0)
        fail(xml_path.empty() ? std::string("hwloc: cannot load this machine's topology")
                              : "--topology-xml " + xml_path + ": hwloc cannot load it");

    Machine m;
    std::map<hwloc_obj_t, unsigned> core_index;
    for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(raw, HWLOC_OBJ_PU, nullptr); pu;
         pu = hwloc_get_next_obj_by_type(raw, HWLOC_OBJ_PU, pu)) {
        // A PU with no Core above it (some VMs) counts as a core of its own.
        hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(raw, HWLOC_OBJ_CORE, pu);
        hwloc_obj_t key = core ? core : pu;
        auto [it, fresh] = core_index.emplace(key, static_cast<unsigned>(m.cores.size()));
        if (fresh)
            m.cores.emplace_back();
        Cpu cpu{pu->os_index, it->second, static_cast<unsigned>(m.cores[it->second].size()),
                single_node(pu->nodeset)};
        m.cores[it->second].push_back(cpu.os);
        m.cpus.push_back(cpu);
        if (cpu.node >= 0)
            m.nodes.insert(cpu.node);
    }
    if (m.cpus.empty())
        fail("hwloc: no CPU found in the topology");
    std::sort(m.cpus.begin(), m.cpus.end(), [](const Cpu& a, const Cpu& b) { return a.os < b.os; });

    for (size_t i = 0; i < ports.size(); ++i) {
        const std::string& spec = ports[i];
        std::string head = std::string("port ") + std::to_string(i) + " (" + pci_part(spec) + "): ";
        if (!looks_pci(spec)) {
            m.port_node.push_back(-1);
            m.port_notes.push_back(head + "a vdev, no NUMA node");
            continue;
        }
        hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(raw, pci_part(spec).c_str());
        if (!dev) {
            // DPDK will say whether the device exists; the plan can still be made.
            m.port_node.push_back(-1);
            m.port_notes.push_back(head + "not found by hwloc, NUMA node unknown");
            continue;
        }
        hwloc_obj_t parent = hwloc_get_non_io_ancestor_obj(raw, dev);
        int node = parent ? single_node(parent->nodeset) : -1;
        m.port_node.push_back(node);
        m.port_notes.push_back(head + (node >= 0 ? std::string("NUMA node ") + std::to_string(node)
                                                 : std::string("attached above several NUMA "
                                                               "nodes, locality unknown")));
    }
    return m;
}

std::string cpu_list(const std::vector<unsigned>& cpus) {
    std::string s;
    for (size_t i = 0; i < cpus.size(); ++i) {
        if (i)
            s += ',';
        s += std::to_string(cpus[i]);
    }
    return s;
}

}  // namespace

CorePlan plan_cores(const PlanRequest& request, const std::string& xml_path) {
    Machine m = load_machine(request.ports, xml_path);
    CorePlan plan;
    plan.port_numa_node = m.port_node;

    const bool explicit_workers = !request.cores.empty();
    const unsigned want =
        explicit_workers ? static_cast<unsigned>(request.cores.size()) : request.workers;

    std::map<unsigned, const Cpu*> by_os;
    for (const auto& c : m.cpus)
        by_os[c.os] = &c;
    const std::string all_cpus = [&] {
        std::vector<unsigned> v;
        for (const auto& c : m.cpus)
            v.push_back(c.os);
        return cpu_list(v);
    }();
    std::ostringstream summary;
    summary << "machine: " << m.cpus.size() << " CPUs in " << m.cores.size() << " physical cores, "
            << m.nodes.size() << " NUMA node(s)"
            << (xml_path.empty() ? "" : " (from " + xml_path + ")");
    plan.notes.push_back(summary.str());
    for (const auto& n : m.port_notes)
        plan.notes.push_back(n);

    // Explicit cores must exist on this machine before anything is planned around them.
    std::set<unsigned> workers_set(request.cores.begin(), request.cores.end());
    for (unsigned c : request.cores)
        if (!by_os.count(c))
            fail(std::string("--cores ") + std::to_string(c) + ": no such core (this machine has " +
                 all_cpus + ")");
    if (request.stats_core >= 0 && !by_os.count(static_cast<unsigned>(request.stats_core)))
        fail(std::string("--stats-core ") + std::to_string(request.stats_core) +
             ": no such core (this machine has " + all_cpus + ")");

    // NUMA preference: nodes weighted by how many queues of their ports they hold.
    std::map<int, unsigned> node_queues;
    for (int n : m.port_node)
        if (n >= 0)
            node_queues[n] += request.rx_queues;
    std::vector<int> preferred;
    for (auto& [n, q] : node_queues)
        preferred.push_back(n);
    std::stable_sort(preferred.begin(), preferred.end(),
                     [&](int a, int b) { return node_queues[a] > node_queues[b]; });
    auto node_rank = [&](int node) {
        auto it = std::find(preferred.begin(), preferred.end(), node);
        return static_cast<unsigned>(it - preferred.begin());
    };

    // Core 0 takes the OS's housekeeping and interrupts; leave it alone when the machine has a
    // physical core to spare beyond the workers and the stats core.
    const Cpu* cpu0 = by_os.count(0) ? by_os[0] : nullptr;
    const unsigned ncores = static_cast<unsigned>(m.cores.size());
    bool stats_on_core0 =
        request.stats_core >= 0 && cpu0 && by_os[request.stats_core]->core == cpu0->core;
    bool workers_on_core0 = false;
    for (unsigned c : request.cores)
        workers_on_core0 |= cpu0 && by_os[c]->core == cpu0->core;
    const bool reserve_core0 = cpu0 && !explicit_workers && !stats_on_core0 && ncores >= want + 2;
    if (reserve_core0)
        plan.notes.push_back(std::string("core 0 (cpu ") + cpu_list(m.cores[cpu0->core]) +
                             ") left to the OS");

    std::set<unsigned> used;  // cpus taken
    std::set<unsigned> used_cores;
    int stats = request.stats_core;
    if (stats < 0 && cpu0 && !reserve_core0 && !workers_on_core0 && !explicit_workers) {
        // Too few cores to spare one for the OS: the stats core, which wakes once per interval,
        // suffers the OS's noise on core 0 better than a polling worker would.
        stats = 0;
        plan.notes.push_back(std::string("only ") + std::to_string(ncores) +
                             " physical core(s) for " + std::to_string(want) +
                             " worker(s) + the stats core: core 0 not left to the OS; the stats "
                             "core takes cpu 0");
    }
    if (stats >= 0) {
        used.insert(static_cast<unsigned>(stats));
        used_cores.insert(by_os[stats]->core);
    }
    const int stats_core_index = stats >= 0 ? static_cast<int>(by_os[stats]->core) : -1;

    std::vector<unsigned> workers;
    if (explicit_workers) {
        workers = request.cores;
        plan.notes.push_back("worker cores given with --cores");
    } else {
        // Greedy, one worker at a time: first threads of physical cores before any SMT sibling,
        // and among NIC nodes the one with the most queues per worker placed so far.
        std::map<int, unsigned> placed;
        for (unsigned i = 0; i < want; ++i) {
            const Cpu* best = nullptr;
            std::tuple<bool, bool, double, unsigned, unsigned, unsigned> best_key{};
            for (const auto& c : m.cpus) {
                if (used.count(c.os))
                    continue;
                if (reserve_core0 && c.core == cpu0->core)
                    continue;
                bool core_busy = c.smt > 0 || used_cores.count(c.core);
                double pull = node_queues.count(c.node)
                                  ? double(node_queues[c.node]) / (placed[c.node] + 1)
                                  : 0.0;
                auto key = std::make_tuple(core_busy, static_cast<int>(c.core) == stats_core_index,
                                           -pull, node_rank(c.node), c.core, c.smt);
                if (!best || key < best_key) {
                    best = &c;
                    best_key = key;
                }
            }
            if (!best && request.share_cpus) {
                // Out of CPUs: the remaining workers time-share the workers' CPUs (or the
                // stats CPU when there is no other), round robin. Tests and tiny VMs only.
                std::vector<unsigned> pool = workers;
                if (pool.empty())
                    pool.push_back(static_cast<unsigned>(stats));
                for (unsigned k = 0; workers.size() < want; ++k)
                    workers.push_back(pool[k % pool.size()]);
                plan.shared_cpus = true;
                plan.notes.push_back(std::string("--share-cpus: ") + std::to_string(want) +
                                     " worker(s) time-share CPU(s) " + cpu_list(pool) +
                                     " (for tests and small VMs, not for capture at line rate)");
                break;
            }
            if (!best) {
                unsigned left = static_cast<unsigned>(workers.size());
                fail(std::string("--workers ") + std::to_string(want) + ": only " +
                     std::to_string(left) +
                     std::string(" CPU(s) left for workers after the stats core") +
                     (reserve_core0 ? " and core 0" : "") + " (this machine has " +
                     std::to_string(m.cpus.size()) + " CPU(s): " + all_cpus + ")");
            }
            workers.push_back(best->os);
            used.insert(best->os);
            used_cores.insert(best->core);
            placed[best->node]++;
        }
    }

    if (stats < 0) {
        // Stats core after the workers: a free physical core, on the NIC's node if one is
        // left, not core 0 if avoidable; a worker's sibling only when nothing else is free.
        std::set<unsigned> worker_cores;
        for (unsigned w : workers)
            worker_cores.insert(by_os[w]->core);
        const Cpu* best = nullptr;
        std::tuple<bool, bool, unsigned, unsigned, unsigned> best_key{};
        for (const auto& c : m.cpus) {
            if (workers_set.count(c.os) || std::count(workers.begin(), workers.end(), c.os))
                continue;
            if (reserve_core0 && c.core == cpu0->core)
                continue;
            auto key =
                std::make_tuple(worker_cores.count(c.core) != 0, cpu0 && c.core == cpu0->core,
                                node_rank(c.node), c.core, c.smt);
            if (!best || key < best_key) {
                best = &c;
                best_key = key;
            }
        }
        if (!best && reserve_core0)
            best = cpu0;
        if (!best)
            fail(std::string("--cores ") + cpu_list(workers) +
                 ": no CPU left for the stats core (this machine has " +
                 std::to_string(m.cpus.size()) + " CPU(s): " + all_cpus + ")");
        stats = static_cast<int>(best->os);
    }
    if (!plan.shared_cpus &&
        std::count(workers.begin(), workers.end(), static_cast<unsigned>(stats))) {
        plan.shared_cpus = true;
        plan.notes.push_back(std::string("--share-cpus: the stats core time-shares cpu ") +
                             std::to_string(stats) +
                             " with a worker (for tests and small VMs, not for capture at line "
                             "rate)");
    }
    const Cpu& stats_cpu = *by_os[stats];
    plan.stats_lcore = stats_cpu.os;
    plan.stats_cpu = stats_cpu.os;
    plan.stats_numa_node = stats_cpu.node;

    // Notes on what could not be ideal.
    std::sort(workers.begin(), workers.end());
    for (unsigned w : workers) {
        const Cpu& c = *by_os[w];
        if (c.core == stats_cpu.core && w != stats_cpu.os)
            plan.notes.push_back(std::string("worker cpu ") + std::to_string(w) +
                                 " shares a physical core with the stats core (not enough "
                                 "cores)");
        for (unsigned other : m.cores[c.core])
            if (other < w && std::count(workers.begin(), workers.end(), other))
                plan.notes.push_back(std::string("workers cpu ") + std::to_string(other) +
                                     " and cpu " + std::to_string(w) +
                                     " are SMT siblings of one physical core (not enough "
                                     "physical cores)");
    }
    {
        std::ostringstream s;
        s << "stats core cpu " << stats_cpu.os;
        if (stats_cpu.node >= 0)
            s << " on NUMA node " << stats_cpu.node;
        if (request.stats_core >= 0)
            s << " (given with --stats-core)";
        plan.notes.push_back(s.str());
    }

    // (port, queue) pairs over the workers: fewest queues first, a worker local to the port's
    // node on ties, so the load is even and as local as the cores allow.
    for (unsigned w : workers)
        plan.workers.push_back(WorkerPlan{w, by_os[w]->node, {}, w});
    if (plan.shared_cpus) {
        // lcore ids can no longer be the CPU numbers: number them 0 (stats), 1.. (workers)
        // and let EAL map them with --lcores ID@CPU.
        plan.stats_lcore = 0;
        for (size_t i = 0; i < plan.workers.size(); ++i)
            plan.workers[i].lcore = static_cast<unsigned>(i + 1);
    }
    for (unsigned p = 0; p < request.ports.size(); ++p) {
        for (unsigned q = 0; q < request.rx_queues; ++q) {
            int port_node = m.port_node[p];
            WorkerPlan* best = nullptr;
            for (auto& w : plan.workers) {
                auto key = [&](const WorkerPlan& x) {
                    return std::make_tuple(x.queues.size(),
                                           port_node >= 0 && x.numa_node != port_node);
                };
                if (!best || key(w) < key(*best))
                    best = &w;
            }
            best->queues.push_back(PortQueue{p, q});
            if (port_node >= 0 && best->numa_node != port_node)
                plan.notes.push_back(std::string("port ") + std::to_string(p) + " queue " +
                                     std::to_string(q) + std::string(" polled by cpu ") +
                                     std::to_string(best->lcore) + " on NUMA node " +
                                     std::to_string(best->numa_node) +
                                     ", remote from the port's node " + std::to_string(port_node) +
                                     " (no free core there)");
        }
    }
    return plan;
}

std::string CorePlan::eal_lcore_list() const {
    auto one = [this](unsigned lcore, unsigned cpu) {
        std::string s = std::to_string(lcore);
        if (shared_cpus) {
            s += '@';
            s += std::to_string(cpu);
        }
        return s;
    };
    std::string s = one(stats_lcore, stats_cpu);
    for (const auto& w : workers) {
        s += ',';
        s += one(w.lcore, w.cpu);
    }
    return s;
}

std::string CorePlan::to_text() const {
    auto node_text = [](int n) { return n >= 0 ? std::to_string(n) : std::string("-"); };
    std::ostringstream o;
    o << "Core plan (EAL " << (shared_cpus ? "--lcores " : "-l ") << eal_lcore_list()
      << " --main-lcore " << stats_lcore << ")\n";
    o << "  role     lcore  cpu  numa  polls\n";
    char line[128];
    std::snprintf(line, sizeof line, "  %-7s  %5u %4u  %4s  %s\n", "stats", stats_lcore, stats_cpu,
                  node_text(stats_numa_node).c_str(), "(merges intervals, telemetry)");
    o << line;
    for (size_t i = 0; i < workers.size(); ++i) {
        const auto& w = workers[i];
        std::string polls;
        for (const auto& pq : w.queues) {
            if (!polls.empty())
                polls += ", ";
            polls +=
                std::string("port ") + std::to_string(pq.port) + "/q" + std::to_string(pq.queue);
            if (pq.port < port_numa_node.size() && port_numa_node[pq.port] >= 0)
                polls += std::string(" (node ") + std::to_string(port_numa_node[pq.port]) + ")";
        }
        if (polls.empty())
            polls = "(fed by the offline reader)";
        std::string role = std::string("worker") + std::to_string(i);
        std::snprintf(line, sizeof line, "  %-7s  %5u %4u  %4s  ", role.c_str(), w.lcore, w.cpu,
                      node_text(w.numa_node).c_str());
        o << line << polls << "\n";
    }
    if (!notes.empty()) {
        o << "Notes:\n";
        for (const auto& n : notes)
            o << "  - " << n << "\n";
    }
    return o.str();
}

}  // namespace darkscope
