// A worker's per-core tables: allocated on its NUMA node (on hugepages where EAL has them) when
// the engine starts, freed with it. Not installed.
#pragma once

#include <vector>

#include "darkscope/config.hpp"
#include "darkscope/topology.hpp"
#include "worker.hpp"

namespace darkscope {

class Ports;

// A worker for `plan`'s lcore, with two epochs of every table, ready to launch. Storage blocks
// that are not objects of their own go to `blocks` (freed by the engine after the workers).
// Throws with what to change (hugepages, --memory, a table size) when memory runs out.
WorkerContext* create_worker(unsigned id, const WorkerPlan& plan, const Config& config,
                             const Ports* ports, std::vector<void*>& blocks);
// Frees a worker and the tables it owns (not the `blocks`).
void destroy_worker(WorkerContext* w);

}  // namespace darkscope
