// What one worker lcore owns and the loop it runs: shared by the files of lib/capture that set
// workers up (worker_tables.cpp), run them (worker.cpp, reference_paths.cpp), feed them
// (offline_reader.cpp) and take their retired tables (interval_close.cpp). Not installed: nothing
// outside the engine touches a worker.
#pragma once

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "darkscope/config.hpp"
#include "darkscope/counters.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/source_tuples.hpp"
#include "darkscope/spill_log.hpp"

struct rte_ring;

namespace darkscope {

class Classifier;
struct RecordTap;
class Attribution;

inline constexpr unsigned kMaxBurst = 64;
// Top talkers a worker's summaries and the stats core's windows hold.
inline constexpr unsigned kHeavyCapacity = 1024;

// Offline packets carry their capture time, wire length and link type in an mbuf dynfield.
struct OfflineMeta {
    uint64_t ts_ns;
    uint32_t wire_len;
    uint8_t link;
};
// The dynfield's offset, registered once by the engine of an offline run (register_offline_meta).
extern int g_offline_meta_offset;
void register_offline_meta();

inline OfflineMeta* offline_meta(rte_mbuf* m) {
    return RTE_MBUF_DYNFIELD(m, g_offline_meta_offset, OfflineMeta*);
}

// Wall time for live workers, refreshed by the stats core every few milliseconds so workers
// read a clock with one relaxed load per burst instead of a system call.
extern std::atomic<uint64_t> g_wall_ns;

// Everything one worker owns. Only the worker writes `sets[epoch & 1]` and the status fields;
// the stats core reads the status fields (relaxed) and owns the retired set after the ack.
struct alignas(64) WorkerContext {
    unsigned id = 0;
    unsigned lcore = 0;
    int numa_node = -1;
    unsigned burst = 32;
    bool offline = false;
    std::vector<std::pair<uint16_t, uint16_t>> queues;  // (port id, queue)
    rte_ring* ring = nullptr;                           // offline input
    CounterSet* sets[2] = {nullptr, nullptr};
    SketchPool* pools[2] = {nullptr, nullptr};           // precise per-key sketches of sets[]
    SourceTupleTable* tuples[2] = {nullptr, nullptr};    // source side of sets[], per tuple
    SourceTuple6Table* tuples6[2] = {nullptr, nullptr};  // the same for IPv6
    SpaceSaving* sources[2] = {nullptr, nullptr};        // top talkers of spilled packets
    SpaceSaving* prefixes[2] = {nullptr, nullptr};
    SpillLog* spill_logs[2] = {nullptr, nullptr};  // fleet tuples on: spilled packets, one by one
    PipelineStage stage = PipelineStage::full;
    RecordTap* record = nullptr;  // --record-dir: this worker's side of the recording
    const Classifier* classifier = nullptr;
    Attribution* attribution = nullptr;
    const std::atomic<uint32_t>* epoch = nullptr;
    const std::atomic<bool>* stop = nullptr;

    alignas(64) std::atomic<uint32_t> seen_epoch{0};
    std::atomic<uint64_t> packets{0};
    std::atomic<uint64_t> bursts{0};
    std::atomic<uint64_t> idle_polls{0};
    std::atomic<uint64_t> dequeued{0};  // offline: packets taken from the ring and counted
    std::atomic<bool> running{false};
    // Offline: 1 while the worker sleeps on this futex word for want of packets (wake_worker).
    alignas(64) std::atomic<uint32_t> asleep{0};
};

// Offline, the reader ends an interval in each worker's ring with this in place of a packet:
// the worker counts what follows into its other epoch's tables (worker_main).
inline rte_mbuf* epoch_marker() {
    return reinterpret_cast<rte_mbuf*>(uintptr_t{1});
}

// Offline, a worker whose ring stayed empty sleeps rather than yields: a long sparse capture
// leaves it idle most of the time, and yielding on a shared CPU takes turns from the reader and
// the stats core it is waiting for. The reader wakes it when it enqueues. The sleep is bounded,
// so a stop is seen within a millisecond.
void offline_sleep(WorkerContext& w);
void wake_sleeping_worker(WorkerContext& w);
// After giving `w` work (packets or a marker enqueued): one load when it is awake.
inline void wake_worker(WorkerContext& w) {
    // Orders the work given (a ring slot, the epoch) before the check of `asleep`, as the worker
    // orders its `asleep` store before its last look at the ring and the epoch.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (w.asleep.load(std::memory_order_relaxed) != 0) [[unlikely]]
        wake_sleeping_worker(w);
}

// The worker lcore's loop (rte_eal_remote_launch): poll, count, acknowledge epoch flips.
int worker_main(void* arg);

// One packet's top-talker updates (Space-Saving): its source, and its /24 (IPv4) or /48 (IPv6)
// prefix. The plain path makes them for every packet, the full path for the packets its source
// tuples cannot take (the stats core makes the rest per tuple).
[[gnu::always_inline]] inline void count_talkers(SpaceSaving& sources, SpaceSaving& prefixes,
                                                 const PacketFacts& f, uint64_t src_hash,
                                                 uint64_t dst_hash, uint64_t now_s) {
    const uint32_t svc = talker_service_of(f);
    const HeavyKey prefix = HeavyKey::prefix(f.src, f.ip_version, f.ip_version == 4 ? 24 : 48);
    sources.update(HeavyKey::host(f.src, f.ip_version), src_hash, f.frame_len, dst_hash, svc, now_s,
                   f.country, f.asn, f.flags);
    prefixes.update_prefix(prefix, prefix.hash(), f.frame_len, dst_hash, svc, now_s, f.country,
                           f.asn, f.flags, f.src, src_hash);
}

// The paths other than the full one (--pipeline): the benchmark's stage stops and the plain
// reference the tests hold the full path to. Out of line, so the full path pays for them only
// the one branch per burst that chooses them.
[[gnu::noinline]] void count_reference_path(WorkerContext& w, unsigned epoch_slot,
                                            PacketFacts* facts, const uint64_t* times_ns,
                                            unsigned n);

// The stats core and the offline reader wait for workers by spinning briefly, then yielding:
// with --share-cpus (or a busy machine) the worker they wait for may need this very CPU.
inline void spin_wait(unsigned spins) {
    if (spins < 1000)
        rte_pause();
    else
        sched_yield();
}

// Relaxed single-writer increment: a load and a store, no read-modify-write instruction.
inline void bump(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace darkscope
