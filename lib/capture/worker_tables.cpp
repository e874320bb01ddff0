// Allocation of each worker's per-core tables, and what they cost (worker_table_bytes, checked
// against --memory-budget-mb before anything starts).
#include "worker_tables.hpp"

#include <rte_malloc.h>
#include <rte_ring.h>

#include <stdexcept>
#include <string>

#include "darkscope/engine.hpp"
#include "darkscope/port.hpp"

namespace darkscope {

namespace {

constexpr unsigned kOfflineRingSize = 4096;

// One epoch's tuple table of a worker, with its storage, on the worker's NUMA node; `blocks`
// takes the storage (freed with the engine).
template <typename Table>
Table* make_tuple_table(uint32_t capacity, int socket, unsigned worker,
                        std::vector<void*>& blocks) {
    const uint32_t sketches = Table::default_sketches(capacity);
    const size_t bytes = Table::storage_bytes(capacity, sketches);
    void* storage = rte_malloc_socket("darkscope_tuples", bytes, 64, socket);
    void* obj = rte_zmalloc_socket("darkscope_tuple_table", sizeof(Table), 64, socket);
    if (storage == nullptr || obj == nullptr) {
        rte_free(storage);
        rte_free(obj);
        throw std::runtime_error(
            "cannot allocate " + std::to_string(bytes >> 20) + " MiB of source tuples for worker " +
            std::to_string(worker) +
            " (reserve more hugepages, raise --memory or lower --tuple-entries)");
    }
    blocks.push_back(storage);
    return new (obj) Table(storage, capacity, sketches);
}

template <typename T>
void destroy_on_heap(T* object) {
    if (object == nullptr)
        return;
    object->~T();
    rte_free(object);
}

}  // namespace

WorkerContext* create_worker(unsigned id, const WorkerPlan& wp, const Config& config,
                             const Ports* ports, std::vector<void*>& blocks) {
    const int socket = wp.numa_node < 0 ? SOCKET_ID_ANY : wp.numa_node;
    void* mem =
        rte_zmalloc_socket("darkscope_worker", sizeof(WorkerContext), RTE_CACHE_LINE_SIZE, socket);
    if (mem == nullptr)
        throw std::runtime_error("cannot allocate worker context");
    auto* w = new (mem) WorkerContext();
    w->id = id;
    w->lcore = wp.lcore;
    w->numa_node = wp.numa_node;
    w->burst = std::min(config.burst, kMaxBurst);
    w->offline = config.offline();
    w->stage = config.pipeline;
    for (auto& pq : wp.queues)
        if (ports != nullptr && pq.port < ports->info().size())
            w->queues.emplace_back(ports->info()[pq.port].port_id, static_cast<uint16_t>(pq.queue));
    // Counter tables on the worker's NUMA node, on hugepages where EAL has them.
    for (auto& set : w->sets) {
        set = static_cast<CounterSet*>(
            rte_zmalloc_socket("darkscope_counters", sizeof(CounterSet), 64, socket));
        if (set == nullptr)
            throw std::runtime_error("cannot allocate " + std::to_string(sizeof(CounterSet) >> 20) +
                                     " MiB counter table for worker " + std::to_string(id) +
                                     " (reserve more hugepages or raise --memory)");
    }
    // Their precise per-key sketches and source tuples, likewise.
    for (unsigned e = 0; e < 2; ++e) {
        const uint32_t n = config.precise_sketches;
        void* storage = rte_zmalloc_socket(
            "darkscope_sketches", std::max<size_t>(SketchPool::storage_bytes(n), 64), 64, socket);
        void* obj = rte_zmalloc_socket("darkscope_sketch_pool", sizeof(SketchPool), 64, socket);
        if (storage == nullptr || obj == nullptr)
            throw std::runtime_error(
                "cannot allocate " + std::to_string(SketchPool::storage_bytes(n) >> 20) +
                " MiB of precise sketches for worker " + std::to_string(id) +
                " (reserve more hugepages, raise --memory or lower --precise-sketches)");
        blocks.push_back(storage);
        w->pools[e] = new (obj) SketchPool(static_cast<SketchPool::Sketch*>(storage), n);
        w->sets[e]->pool = w->pools[e];
        w->tuples[e] = make_tuple_table<SourceTupleTable>(config.tuple_entries, socket, id, blocks);
        w->tuples6[e] = make_tuple_table<SourceTuple6Table>(
            tuple6_capacity_of(config.tuple_entries), socket, id, blocks);
    }
    // Top-talker summaries beside the tables, on the same node.
    for (unsigned e = 0; e < 2; ++e) {
        for (SpaceSaving** slot : {&w->sources[e], &w->prefixes[e]}) {
            size_t bytes = SpaceSaving::required_bytes(kHeavyCapacity);
            void* block = rte_zmalloc_socket("darkscope_heavy", bytes, 64, socket);
            void* obj = rte_zmalloc_socket("darkscope_heavy_obj", sizeof(SpaceSaving), 64, socket);
            if (block == nullptr || obj == nullptr)
                throw std::runtime_error("cannot allocate top-talker tables for worker " +
                                         std::to_string(id));
            *slot = new (obj) SpaceSaving(kHeavyCapacity, block, bytes);
            blocks.push_back(block);
        }
    }
    if (w->offline) {
        std::string name = "offline_ring_" + std::to_string(id);
        w->ring =
            rte_ring_create(name.c_str(), kOfflineRingSize, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (w->ring == nullptr)
            throw std::runtime_error("cannot create " + name);
    }
    return w;
}

void destroy_worker(WorkerContext* w) {
    rte_free(w->sets[0]);
    rte_free(w->sets[1]);
    for (SourceTupleTable* t : w->tuples)
        destroy_on_heap(t);
    for (SourceTuple6Table* t : w->tuples6)
        destroy_on_heap(t);
    for (SketchPool* pool : w->pools)
        destroy_on_heap(pool);
    for (unsigned e = 0; e < 2; ++e) {
        destroy_on_heap(w->sources[e]);
        destroy_on_heap(w->prefixes[e]);
    }
    if (w->ring)
        rte_ring_free(w->ring);
    w->~WorkerContext();
    rte_free(w);
}

size_t worker_table_bytes(uint32_t precise_sketches, uint32_t tuple_entries) {
    const uint32_t tuple6_entries = tuple6_capacity_of(tuple_entries);
    return 2 * (sizeof(CounterSet) + SketchPool::storage_bytes(precise_sketches) +
                SourceTupleTable::storage_bytes(tuple_entries,
                                                SourceTupleTable::default_sketches(tuple_entries)) +
                SourceTuple6Table::storage_bytes(
                    tuple6_entries, SourceTuple6Table::default_sketches(tuple6_entries))) +
           4 * (SpaceSaving::required_bytes(kHeavyCapacity) + sizeof(SpaceSaving));
}

}  // namespace darkscope
