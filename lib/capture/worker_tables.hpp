// A worker's per-core tables: allocated when the engine starts, freed with it. Not installed.
#pragma once

#include <cstddef>
#include <vector>

#include "darkscope/config.hpp"
#include "darkscope/topology.hpp"
#include "worker.hpp"

namespace darkscope {

class Ports;

// Every block of the workers' tables, freed together after the workers' objects are destroyed.
// Live, blocks come from EAL memory on the worker's NUMA node (hugepages where EAL has them).
// Offline there is no NUMA node or NIC to be near, and they come from the kernel's zero pages
// (darkscope/zeroed_pages.hpp) instead: a capture that fills little of the tables takes memory
// for that much, and freeing them costs no memset (rte_free clears what it frees; on a worker's
// 2 x 25 MiB counter sets that was a third of a short run's page faults).
class WorkerMemory {
  public:
    explicit WorkerMemory(bool offline) : offline_(offline) {}
    WorkerMemory(const WorkerMemory&) = delete;
    WorkerMemory& operator=(const WorkerMemory&) = delete;
    ~WorkerMemory();
    // `bytes` of zeroed memory, 64-byte aligned; nullptr when there is none left.
    void* allocate(const char* what, size_t bytes, int socket);
    bool offline() const { return offline_; }

  private:
    struct Block {
        void* p;
        size_t bytes;
    };
    bool offline_;
    std::vector<Block> blocks_;
};

// A worker for `plan`'s lcore, with two epochs of every table, ready to launch, its memory from
// `memory`. Throws with what to change (hugepages, --memory, a table size) when memory runs out.
WorkerContext* create_worker(unsigned id, const WorkerPlan& plan, const Config& config,
                             const Ports* ports, WorkerMemory& memory);
// Destroys a worker's objects (its memory goes with the WorkerMemory).
void destroy_worker(WorkerContext* w);

}  // namespace darkscope
