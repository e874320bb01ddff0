// Allocation of each worker's per-core tables, and what they cost (worker_table_bytes, checked
// against --memory-budget-mb before anything starts).
#include "worker_tables.hpp"

#include <rte_malloc.h>
#include <rte_ring.h>

#include <sys/mman.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>

#include "darkscope/engine.hpp"
#include "darkscope/port.hpp"
#include "darkscope/zeroed_pages.hpp"

namespace darkscope {

namespace {

constexpr unsigned kOfflineRingSize = 4096;

// One epoch's tuple table of a worker, with its storage.
template <typename Table>
Table* make_tuple_table(uint32_t capacity, int socket, unsigned worker, WorkerMemory& memory) {
    const uint32_t sketches = Table::default_sketches(capacity);
    const size_t bytes = Table::storage_bytes(capacity, sketches);
    void* storage = memory.allocate("darkscope_tuples", bytes, socket);
    void* obj = memory.allocate("darkscope_tuple_table", sizeof(Table), socket);
    if (storage == nullptr || obj == nullptr)
        throw std::runtime_error(
            "cannot allocate " + std::to_string(bytes >> 20) + " MiB of source tuples for worker " +
            std::to_string(worker) +
            " (reserve more hugepages, raise --memory or lower --tuple-entries)");
    // Offline the table is fresh 4 KiB pages (live: EAL's hugepages). A probe reads a slot
    // before the packet writes it, so each page took two faults (the zero page, then a copy and
    // a TLB shootdown): most of a worker's time on a capture with a million tuples. Huge pages
    // take one fault per 2 MiB; a table that fills touches most of its pages anyway.
    if (memory.offline())
        madvise(storage, bytes, MADV_HUGEPAGE);
    return new (obj) Table(storage, capacity, sketches);
}

template <typename T>
void destroy(T* object) {
    if (object != nullptr)
        object->~T();
}

}  // namespace

WorkerMemory::~WorkerMemory() {
    for (const Block& b : blocks_) {
        if (offline_)
            free_zeroed_pages(b.p, b.bytes);
        else
            rte_free(b.p);
    }
}

void* WorkerMemory::allocate(const char* what, size_t bytes, int socket) {
    bytes = std::max<size_t>(bytes, 64);  // an empty table still takes a block
    void* p = nullptr;
    if (offline_) {
        try {
            p = allocate_zeroed_pages(bytes);
        } catch (const std::bad_alloc&) {
            return nullptr;
        }
    } else {
        p = rte_zmalloc_socket(what, bytes, 64, socket);
    }
    if (p != nullptr)
        blocks_.push_back({p, bytes});
    return p;
}

WorkerContext* create_worker(unsigned id, const WorkerPlan& wp, const Config& config,
                             const Ports* ports, WorkerMemory& memory) {
    const int socket = wp.numa_node < 0 ? SOCKET_ID_ANY : wp.numa_node;
    void* mem = memory.allocate("darkscope_worker", sizeof(WorkerContext), socket);
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
    // Counter tables (zeroed memory is an empty set: CounterSet::zeroed()).
    for (auto& set : w->sets) {
        set = static_cast<CounterSet*>(
            memory.allocate("darkscope_counters", sizeof(CounterSet), socket));
        if (set == nullptr)
            throw std::runtime_error("cannot allocate " + std::to_string(sizeof(CounterSet) >> 20) +
                                     " MiB counter table for worker " + std::to_string(id) +
                                     " (reserve more hugepages or raise --memory)");
    }
    // Their precise per-key sketches and source tuples, likewise.
    for (unsigned e = 0; e < 2; ++e) {
        const uint32_t n = config.precise_sketches;
        void* storage = memory.allocate("darkscope_sketches", SketchPool::storage_bytes(n), socket);
        void* obj = memory.allocate("darkscope_sketch_pool", sizeof(SketchPool), socket);
        if (storage == nullptr || obj == nullptr)
            throw std::runtime_error(
                "cannot allocate " + std::to_string(SketchPool::storage_bytes(n) >> 20) +
                " MiB of precise sketches for worker " + std::to_string(id) +
                " (reserve more hugepages, raise --memory or lower --precise-sketches)");
        w->pools[e] = new (obj) SketchPool(static_cast<SketchPool::Sketch*>(storage), n);
        w->sets[e]->pool = w->pools[e];
        w->tuples[e] = make_tuple_table<SourceTupleTable>(config.tuple_entries, socket, id, memory);
        w->tuples6[e] = make_tuple_table<SourceTuple6Table>(
            tuple6_capacity_of(config.tuple_entries), socket, id, memory);
    }
    // Top-talker summaries beside the tables, on the same node.
    for (unsigned e = 0; e < 2; ++e) {
        for (SpaceSaving** slot : {&w->sources[e], &w->prefixes[e]}) {
            size_t bytes = SpaceSaving::required_bytes(kHeavyCapacity);
            void* block = memory.allocate("darkscope_heavy", bytes, socket);
            void* obj = memory.allocate("darkscope_heavy_obj", sizeof(SpaceSaving), socket);
            if (block == nullptr || obj == nullptr)
                throw std::runtime_error("cannot allocate top-talker tables for worker " +
                                         std::to_string(id));
            *slot = new (obj) SpaceSaving(kHeavyCapacity, block, bytes, true);  // zeroed
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
    for (SourceTupleTable* t : w->tuples)
        destroy(t);
    for (SourceTuple6Table* t : w->tuples6)
        destroy(t);
    for (SketchPool* pool : w->pools)
        destroy(pool);
    for (unsigned e = 0; e < 2; ++e) {
        destroy(w->sources[e]);
        destroy(w->prefixes[e]);
    }
    if (w->ring)
        rte_ring_free(w->ring);
    w->~WorkerContext();
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
