#include "darkscope/capture.hpp"

#include <pcap/pcap.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <sched.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <chrono>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "darkscope/attribution.hpp"
#include "darkscope/events.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/history_store.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/port.hpp"
#include "darkscope/prefix.hpp"
#include "darkscope/source_tuples.hpp"
#include "darkscope/sub_configs.hpp"
#include "darkscope/views.hpp"

namespace darkscope {

namespace {

constexpr unsigned kMaxBurst = 64;
constexpr unsigned kPrefetchAhead = 4;
// Bytes of a multi-segment frame copied out for the decoder: headers only.
constexpr unsigned kLinearHeaderBytes = 256;
constexpr unsigned kOfflineRingSize = 4096;

// Offline packets carry their capture time, wire length and link type in an mbuf dynfield.
struct OfflineMeta {
    uint64_t ts_ns;
    uint32_t wire_len;
    uint8_t link;
};
int g_offline_meta_offset = -1;

inline OfflineMeta* offline_meta(rte_mbuf* m) {
    return RTE_MBUF_DYNFIELD(m, g_offline_meta_offset, OfflineMeta*);
}

// Wall time for live workers, refreshed by the stats core every few milliseconds so workers
// read a clock with one relaxed load per burst instead of a system call.
std::atomic<uint64_t> g_wall_ns{0};

constexpr size_t kPublishedTop = 1000;  // top talkers kept per published window
constexpr unsigned kHeavyCapacity = 1024;
// Packets between the worker's pipeline stages (process_burst): far enough for a prefetch to
// land, near enough that the lines in flight fit the core's miss buffers.
#ifndef DARKSCOPE_PIPELINE_DISTANCE
#define DARKSCOPE_PIPELINE_DISTANCE 3
#endif
constexpr unsigned kPipelineDistance = DARKSCOPE_PIPELINE_DISTANCE;
constexpr size_t kSeriesIntervals = 1440;
constexpr unsigned kSeriesKeysPerDimension = 200;

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

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
    PipelineStage stage = PipelineStage::full;
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
};

namespace {

// The stats core waits for workers by spinning briefly, then yielding: with --share-cpus (or a
// busy machine) the worker it waits for may need this very CPU.
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

// Gives a burst of received mbufs back to their pool. Received mbufs are direct, unshared and,
// unless the driver chained a large frame, single-segment, so rte_mbuf_core.h's invariant puts
// next at NULL: they go back with one mempool call, as DPDK's MBUF_FAST_FREE tx offload does,
// without rte_pktmbuf_free_bulk's per-mbuf reset, which also reads each mbuf's second line.
// Anything else (a chain, a shared or indirect mbuf, mixed pools) takes rte_pktmbuf_free_bulk
// (integration_jumbo replays chains).
inline void free_received(rte_mbuf** pkts, unsigned n) {
    rte_mempool* const pool = pkts[0]->pool;
    bool plain = true;
    for (unsigned i = 0; i < n; ++i) {
        const rte_mbuf* m = pkts[i];
        plain &= (m->pool == pool) & (m->nb_segs == 1) & (rte_mbuf_refcnt_read(m) == 1) &
                 RTE_MBUF_DIRECT(m);
    }
    if (likely(plain))
        rte_mempool_put_bulk(pool, reinterpret_cast<void**>(pkts), n);
    else
        rte_pktmbuf_free_bulk(pkts, n);
}

// One packet's top-talker updates (Space-Saving): its source, and its /24 (IPv4) or /48 (IPv6)
// prefix. The plain path makes them for every packet, process_burst for the packets its source
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

// The reference path (--pipeline plain), which the tests hold process_burst's to: each classified
// packet attributed, counted whole (count_packet: both sides, every sketch) and added to the top
// talkers, one at a time, in arrival order. No source tuples, prefetches or passes over the
// burst: what process_burst spreads over its stages and the stats core, this does in one place.
[[gnu::noinline]] void count_plain(WorkerContext& w, unsigned epoch_slot, PacketFacts* facts,
                                   const uint64_t* times_ns, unsigned n) {
    CounterSet& table = *w.sets[epoch_slot];
    SpaceSaving& sources = *w.sources[epoch_slot];
    SpaceSaving& prefixes = *w.prefixes[epoch_slot];
    for (unsigned i = 0; i < n; ++i) {
        PacketFacts& f = facts[i];
        if (f.ip_version == 0) {
            count_packet(table, f, times_ns[i], 0, 0);
            continue;
        }
        if (w.attribution != nullptr)
            w.attribution->lookup_burst(w.id, &f, 1);
        const uint64_t src_hash = hash_address(f.src, f.ip_version);
        const uint64_t dst_hash = hash_address(f.dst, f.ip_version);
        count_packet(table, f, times_ns[i], src_hash, dst_hash);
        count_talkers(sources, prefixes, f, src_hash, dst_hash, times_ns[i] / 1'000'000'000ull);
    }
}

inline void process_burst(WorkerContext& w, unsigned epoch_slot, rte_mbuf** pkts, unsigned n) {
    CounterSet& table = *w.sets[epoch_slot];
    PacketFacts facts[kMaxBurst];
    uint64_t times_ns[kMaxBurst];
    uint8_t linear[kLinearHeaderBytes];
    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    const uint64_t wall_ns = g_wall_ns.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
        rte_mbuf* m = pkts[i];
        const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
        uint32_t caplen = m->data_len;
        if (unlikely(m->nb_segs > 1)) {
            caplen = std::min<uint32_t>(m->pkt_len, kLinearHeaderBytes);
            data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, caplen, linear));
        }
        if (w.offline) {
            const OfflineMeta* meta = offline_meta(m);
            times_ns[i] = meta->ts_ns;
            decode(data, caplen, meta->wire_len, static_cast<LinkType>(meta->link), facts[i]);
        } else {
            times_ns[i] = wall_ns;
            decode(data, caplen, m->pkt_len, LinkType::ethernet, facts[i]);
        }
    }
    free_received(pkts, n);
    if (w.offline) {
        if (table.first_ts_ns == 0 || times_ns[0] < table.first_ts_ns)
            table.first_ts_ns = times_ns[0];
        if (times_ns[n - 1] > table.last_ts_ns)
            table.last_ts_ns = times_ns[n - 1];
    }
    // Benchmark stages stop early: checked once per burst, so the full path pays nothing.
    if (unlikely(w.stage < PipelineStage::count)) {
        if (w.stage >= PipelineStage::classify)
            w.classifier->classify_burst(facts, n);
        if (w.stage >= PipelineStage::attribute && w.attribution != nullptr)
            w.attribution->lookup_burst(w.id, facts, n);
        for (unsigned i = 0; i < n; ++i) {
            ++table.packets;
            table.bytes += facts[i].frame_len;
        }
        return;
    }
    w.classifier->classify_burst(facts, n);
    if (unlikely(w.stage != PipelineStage::full)) {
        if (w.stage == PipelineStage::plain) {
            count_plain(w, epoch_slot, facts, times_ns, n);
            return;
        }
        if (w.attribution != nullptr)
            w.attribution->lookup_burst(w.id, facts, n);
        for (unsigned i = 0; i < n; ++i)
            count_packet(table, facts[i], times_ns[i], 0, 0, true);
        return;
    }
    SpaceSaving& sources = *w.sources[epoch_slot];
    SpaceSaving& prefixes = *w.prefixes[epoch_slot];
    SourceTupleTable& tuples = *w.tuples[epoch_slot];
    SourceTuple6Table& tuples6 = *w.tuples6[epoch_slot];
    // A software pipeline over the burst, in two passes of two stages each, kPipelineDistance
    // packets apart (docs/performance.md). The first pass: A hashes each address once (the hash
    // every sketch and table reuses) and prefetches the lines the packet's keys hash to; B, once
    // those lines have had time to arrive, resolves the service entry and reads the tuple's tags
    // to prefetch the tuple line its probe will stop at. Between the passes, the packets whose
    // tags matched no tuple have their source's country and ASN looked up, in one bulk call:
    // every other packet takes them from its tuple (SourceAttribution), which spares it a random
    // line of the 64 MiB attribution table. The second pass: C adds the packet to its source
    // tuple and counts the destination side's counters: the stats core counts the source side
    // and builds the top talkers per tuple (darkscope/source_tuples.hpp); only what the tables do
    // not take (spills) has its source side and top talkers counted here, per packet. When the
    // tuple holds the packet's destination inline (TupleAdd::destination_held), the stats core
    // adds it to the destination sketches as well, once per tuple; otherwise C prefetches their
    // registers and D adds it. Keeping only a few packets' prefetches in flight matters: a whole
    // burst's would overflow the core's miss buffers.
    uint64_t src_hash[kMaxBurst], dst_hash[kMaxBurst], tuple_hash[kMaxBurst];
    // Each IP packet's SourceKey, computed once in stage A: its slots index the destination
    // side, and with the source it is the tuple key (its country and ASN come in stage C). One
    // tuple key per packet, in the array of its family: the IPv4 keys stay packed, eight to a
    // line, and the IPv6 array is touched only by IPv6 packets.
    SourceKey keys[kMaxBurst];
    SourceTupleTable::Key tuple4[kMaxBurst];
    SourceTuple6Table::Key tuple6[kMaxBurst];
    ServiceCounts* service[kMaxBurst];
    SourceAttribution attribution[kMaxBurst];  // looked up, or unknown until the tuple tells
    uint8_t lookups[kMaxBurst];                // packets to look up between the passes
    unsigned lookup_count = 0;
    bool sketches_due[kMaxBurst];  // D adds the destination to the sketches
    uint64_t spills = 0;
    // Without geo databases every source is unknown/AS0, and nothing is looked up.
    const SourceAttribution unattributed =
        w.attribution != nullptr ? SourceAttribution{} : SourceAttribution{0, 0};
    auto stage_a = [&](unsigned i) {
        const PacketFacts& f = facts[i];
        if (f.ip_version == 0)
            return;
        src_hash[i] = hash_address(f.src, f.ip_version);
        dst_hash[i] = hash_address(f.dst, f.ip_version);
        keys[i] = source_key_of(f);
        if (f.ip_version == 4) [[likely]] {
            tuple4[i] = SourceTupleTable::key_of(f, keys[i]);
            tuple_hash[i] = SourceTupleTable::hash_of(tuple4[i], src_hash[i]);
            tuples.prefetch(tuple_hash[i]);
        } else {
            tuple6[i] = SourceTuple6Table::key_of(f, keys[i]);
            tuple_hash[i] = SourceTuple6Table::hash_of(tuple6[i], src_hash[i]);
            tuples6.prefetch(tuple_hash[i]);
        }
        prefetch_destination_side(table, keys[i]);
        prefetch_victim(table, f, src_hash[i]);
    };
    auto stage_b = [&](unsigned i) {
        const PacketFacts& f = facts[i];
        if (f.ip_version == 0)
            return;
        service[i] = resolve_service(table, keys[i]);
        const bool maybe_held = f.ip_version == 4 ? tuples.prefetch_tuple(tuple_hash[i])
                                                  : tuples6.prefetch_tuple(tuple_hash[i]);
        attribution[i] = unattributed;
        if (!maybe_held && !unattributed.known())
            lookups[lookup_count++] = static_cast<uint8_t>(i);
    };
    auto look_up = [&](const uint8_t* which, unsigned count) {
        w.attribution->lookup_some(w.id, facts, which, count);
        for (unsigned j = 0; j < count; ++j)
            attribution[which[j]] = attribution_of(facts[which[j]]);
    };
    auto tuple_add = [&](unsigned i, uint64_t now_s) __attribute__((always_inline)) {
        const PacketFacts& f = facts[i];
        return f.ip_version == 4 ? tuples.add(tuple4[i], tuple_hash[i], f.frame_len, now_s, f.flags,
                                              f.dst.v4, dst_hash[i], attribution[i])
                                 : tuples6.add(tuple6[i], tuple_hash[i], f.frame_len, now_s,
                                               f.flags, dst_hash[i], dst_hash[i], attribution[i]);
    };
    // A new tuple's packet whose 15-bit tag matched another tuple's by chance (about one in
    // 5,000 new tuples at 0.7 load): its own lookup, then the add again. Out of line: the
    // add is inlined once, in stage C.
    auto look_up_and_add = [&](unsigned i, uint64_t now_s) __attribute__((noinline)) {
        const auto which = static_cast<uint8_t>(i);
        look_up(&which, 1);
        return tuple_add(i, now_s);
    };
    auto stage_c = [&](unsigned i) {
        PacketFacts& f = facts[i];
        sketches_due[i] = false;
        if (f.ip_version == 0) {
            count_dense_totals(table, f);
            return;
        }
        const uint64_t now_s = times_ns[i] / 1'000'000'000ull;
        TupleAdd added = tuple_add(i, now_s);
        if (added == TupleAdd::unattributed) [[unlikely]]
            added = look_up_and_add(i, now_s);
        // The packet counts under its tuple's attribution from here on.
        f.country = attribution[i].country;
        f.asn = attribution[i].asn;
        keys[i].country = attribution[i].country;
        keys[i].asn = attribution[i].asn;
        count_destination_counters(table, f, keys[i], service[i], times_ns[i], src_hash[i],
                                   dst_hash[i]);
        if (added == TupleAdd::destination_held) [[likely]]
            return;
        sketches_due[i] = true;
        prefetch_destination_sketches(table, keys[i], service[i], dst_hash[i]);
        if (added == TupleAdd::taken)
            return;
        // A packet the tuple tables cannot take: its source side and top talkers, here and now.
        ++spills;
        count_source(table, src_hash[i], keys[i], 1, f.frame_len);
        count_talkers(sources, prefixes, f, src_hash[i], dst_hash[i], now_s);
    };
    auto stage_d = [&](unsigned i) {
        if (sketches_due[i])
            count_destination_sketches(table, keys[i], service[i], dst_hash[i]);
    };
    constexpr unsigned d = kPipelineDistance;
    for (unsigned i = 0; i < n + d; ++i) {
        if (i < n)
            stage_a(i);
        if (i >= d)
            stage_b(i - d);
    }
    if (lookup_count != 0)
        look_up(lookups, lookup_count);
    for (unsigned i = 0; i < n + d; ++i) {
        if (i < n)
            stage_c(i);
        if (i >= d)
            stage_d(i - d);
    }
    table.source_spills += spills;
}

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

// One batch for process_burst: a burst from `receive` (up to `burst` packets at `pkts`) and,
// when it came full, one more from the same source, since more is waiting. process_burst's
// software pipeline fills and drains once per batch, and those 3 x kPipelineDistance packets run
// without their lines prefetched far enough ahead: a batch of 64 has half as many of them as a
// burst of 32 (docs/performance.md, "Batches of two bursts"). A partial burst is processed at
// once, so no packet waits for more to come. `polls`: the receives that returned packets.
template <typename Receive>
inline unsigned receive_batch(unsigned burst, rte_mbuf** pkts, unsigned& polls, Receive&& receive) {
    unsigned n = receive(pkts);
    polls = n != 0;
    if (n == burst && n + burst <= kMaxBurst) {
        const unsigned more = receive(pkts + n);
        n += more;
        polls += more != 0;
    }
    return n;
}

int worker_main(void* arg) {
    WorkerContext& w = *static_cast<WorkerContext*>(arg);
    if (w.attribution != nullptr)
        w.attribution->register_worker(w.id);
    rte_mbuf* pkts[kMaxBurst];
    uint32_t my_epoch = w.epoch->load(std::memory_order_acquire);
    w.seen_epoch.store(my_epoch, std::memory_order_release);
    size_t next_queue = 0;
    unsigned idle_streak = 0;
    while (!w.stop->load(std::memory_order_relaxed)) {
        // One relaxed load per loop: the epoch flip costs the data path nothing else.
        uint32_t e = w.epoch->load(std::memory_order_acquire);
        if (unlikely(e != my_epoch)) {
            my_epoch = e;
            w.seen_epoch.store(e, std::memory_order_release);
        }
        unsigned n = 0;
        unsigned polls = 0;
        if (w.offline) {
            n = receive_batch(w.burst, pkts, polls, [&](rte_mbuf** at) {
                return rte_ring_sc_dequeue_burst(w.ring, reinterpret_cast<void**>(at), w.burst,
                                                 nullptr);
            });
        } else if (!w.queues.empty()) {
            auto [port, queue] = w.queues[next_queue];
            next_queue = next_queue + 1 == w.queues.size() ? 0 : next_queue + 1;
            n = receive_batch(w.burst, pkts, polls, [&](rte_mbuf** at) {
                return rte_eth_rx_burst(port, queue, at, static_cast<uint16_t>(w.burst));
            });
        }
        if (n == 0) {
            bump(w.idle_polls, 1);
            // Offline, an empty ring means the reader is busy (or waiting for an interval to
            // close): give the CPU away rather than spin against it when they share a core.
            if (w.offline && ++idle_streak > 64)
                sched_yield();
        } else {
            idle_streak = 0;
            process_burst(w, my_epoch & 1, pkts, n);
            bump(w.packets, n);
            bump(w.bursts, polls);
            if (w.offline)
                bump(w.dequeued, n);
        }
        if (w.attribution != nullptr)
            w.attribution->quiescent(w.id);
    }
    if (w.attribution != nullptr)
        w.attribution->unregister_worker(w.id);
    w.running.store(false, std::memory_order_release);
    return 0;
}

// The store and the event hook report with syslog levels (3 error, 4 warning, 6 info), from their
// own threads, never per packet.
void control_log(int level, const std::string& message) {
    rte_log(level <= 3 ? RTE_LOG_ERR : RTE_LOG_NOTICE, RTE_LOGTYPE_USER1, "USER1: %s\n",
            message.c_str());
}

void signal_handler(int sig) {
    if (sig == SIGHUP)
        control_flags().reload.store(true);
    else
        control_flags().stop.store(true);
}

LinkType link_type_of(int dlt) {
    switch (dlt) {
        case DLT_EN10MB:
            return LinkType::ethernet;
        case DLT_RAW:
#ifdef DLT_RAW_ALT
        case DLT_RAW_ALT:
#endif
            return LinkType::raw_ip;
        case DLT_IPV4:
            return LinkType::ipv4;
        case DLT_IPV6:
            return LinkType::ipv6;
        case DLT_LINUX_SLL:
            return LinkType::linux_sll;
#ifdef DLT_LINUX_SLL2
        case DLT_LINUX_SLL2:
            return LinkType::linux_sll2;
#endif
        case DLT_NULL:
        case DLT_LOOP:
            return LinkType::null_loopback;
        default:
            return static_cast<LinkType>(0xff);  // the decoder counts it unsupported_link
    }
}

}  // namespace

ControlFlags& control_flags() {
    static ControlFlags flags;
    return flags;
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = signal_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

Engine::Engine(const Config& config, const CorePlan& plan, Ports* ports, Attribution* attribution,
               const SensorTable& sensors, const Classifier& classifier)
    : config_(config),
      plan_(plan),
      ports_(ports),
      attribution_(attribution),
      sensors_(sensors),
      classifier_(classifier),
      interval_(kWindowPreciseFactor * config.precise_sketches),
      hour_(kWindowPreciseFactor * config.precise_sketches),
      day_(kWindowPreciseFactor * config.precise_sketches),
      total_(kWindowPreciseFactor * config.precise_sketches),
      tuple_sources_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      tuple_prefixes_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      tuple6_sources_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      tuple6_prefixes_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      series_(std::make_shared<SeriesHistory>()) {
    start_time_ = now_seconds();
    for (unsigned i = 0; i < sensors.size(); ++i)
        sensor_names_.push_back(sensors.name(static_cast<uint16_t>(i)));
    g_wall_ns.store(static_cast<uint64_t>(start_time_ * 1e9), std::memory_order_relaxed);
    if (!config.db_file.empty()) {
        StoreOptions options = store_options(config);
        options.log = control_log;
        store_ = std::make_unique<HistoryStore>(options);
    }
    events_ = std::make_unique<EventEngine>(event_config(config, sensors));
    if (!config.event_hook.empty())
        hook_ = std::make_unique<EventHook>(config.event_hook, config.event_hook_timeout_s,
                                            control_log);
    if (config.offline()) {
        static const rte_mbuf_dynfield desc = {"darkscope_offline_meta", sizeof(OfflineMeta),
                                               alignof(OfflineMeta), 0};
        g_offline_meta_offset = rte_mbuf_dynfield_register(&desc);
        if (g_offline_meta_offset < 0)
            throw std::runtime_error("cannot register the offline mbuf field");
        offline_pool_ =
            create_packet_pool("offline_mbufs", config.mbufs, static_cast<int>(rte_socket_id()));
    }
    for (unsigned i = 0; i < plan.workers.size(); ++i) {
        const WorkerPlan& wp = plan.workers[i];
        int socket = wp.numa_node < 0 ? SOCKET_ID_ANY : wp.numa_node;
        void* mem = rte_zmalloc_socket("darkscope_worker", sizeof(WorkerContext),
                                       RTE_CACHE_LINE_SIZE, socket);
        if (mem == nullptr)
            throw std::runtime_error("cannot allocate worker context");
        auto* w = new (mem) WorkerContext();
        w->id = i;
        w->lcore = wp.lcore;
        w->numa_node = wp.numa_node;
        w->burst = std::min(config.burst, kMaxBurst);
        w->offline = config.offline();
        w->classifier = &classifier;
        w->attribution = attribution;
        w->epoch = &epoch_;
        w->stage = config.pipeline;
        w->stop = &workers_stop_;
        for (auto& pq : wp.queues)
            if (ports != nullptr && pq.port < ports->info().size())
                w->queues.emplace_back(ports->info()[pq.port].port_id,
                                       static_cast<uint16_t>(pq.queue));
        // Counter tables on the worker's NUMA node, on hugepages where EAL has them.
        for (auto& set : w->sets) {
            set = static_cast<CounterSet*>(
                rte_zmalloc_socket("darkscope_counters", sizeof(CounterSet), 64, socket));
            if (set == nullptr)
                throw std::runtime_error("cannot allocate " +
                                         std::to_string(sizeof(CounterSet) >> 20) +
                                         " MiB counter table for worker " + std::to_string(i) +
                                         " (reserve more hugepages or raise --memory)");
        }
        // Their precise per-key sketches, likewise.
        for (unsigned e = 0; e < 2; ++e) {
            const uint32_t n = config.precise_sketches;
            void* storage =
                rte_zmalloc_socket("darkscope_sketches",
                                   std::max<size_t>(SketchPool::storage_bytes(n), 64), 64, socket);
            void* obj = rte_zmalloc_socket("darkscope_sketch_pool", sizeof(SketchPool), 64, socket);
            if (storage == nullptr || obj == nullptr)
                throw std::runtime_error(
                    "cannot allocate " + std::to_string(SketchPool::storage_bytes(n) >> 20) +
                    " MiB of precise sketches for worker " + std::to_string(i) +
                    " (reserve more hugepages, raise --memory or lower --precise-sketches)");
            heavy_blocks_.push_back(storage);
            w->pools[e] = new (obj) SketchPool(static_cast<SketchPool::Sketch*>(storage), n);
            w->sets[e]->pool = w->pools[e];
            w->tuples[e] =
                make_tuple_table<SourceTupleTable>(config.tuple_entries, socket, i, heavy_blocks_);
            w->tuples6[e] = make_tuple_table<SourceTuple6Table>(
                tuple6_capacity_of(config.tuple_entries), socket, i, heavy_blocks_);
        }
        // Top-talker summaries beside the tables, on the same node.
        for (unsigned e = 0; e < 2; ++e) {
            for (SpaceSaving** slot : {&w->sources[e], &w->prefixes[e]}) {
                size_t bytes = SpaceSaving::required_bytes(kHeavyCapacity);
                void* block = rte_zmalloc_socket("darkscope_heavy", bytes, 64, socket);
                void* obj =
                    rte_zmalloc_socket("darkscope_heavy_obj", sizeof(SpaceSaving), 64, socket);
                if (block == nullptr || obj == nullptr)
                    throw std::runtime_error("cannot allocate top-talker tables for worker " +
                                             std::to_string(i));
                *slot = new (obj) SpaceSaving(kHeavyCapacity, block, bytes);
                heavy_blocks_.push_back(block);
            }
        }
        if (w->offline) {
            std::string name = "offline_ring_" + std::to_string(i);
            w->ring = rte_ring_create(name.c_str(), kOfflineRingSize, socket,
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (w->ring == nullptr)
                throw std::runtime_error("cannot create " + name);
        }
        workers_.push_back(w);
    }
    // An empty snapshot, so telemetry answers from the first moment.
    auto s = std::make_shared<Snapshot>();
    s->interval_s = config.interval_s;
    s->offline = config.offline();
    s->sensor_names = sensor_names_;
    refresh_status(*s);
    snapshot_ = std::move(s);
}

Engine::~Engine() {
    if (workers_running_)
        stop_workers();
    for (auto* w : workers_) {
        rte_free(w->sets[0]);
        rte_free(w->sets[1]);
        for (SourceTupleTable* t : w->tuples) {
            if (t == nullptr)
                continue;
            t->~SourceTupleTable();
            rte_free(t);
        }
        for (SourceTuple6Table* t : w->tuples6) {
            if (t == nullptr)
                continue;
            t->~SourceTuple6Table();
            rte_free(t);
        }
        for (SketchPool* pool : w->pools) {
            if (pool == nullptr)
                continue;
            pool->~SketchPool();
            rte_free(pool);
        }
        for (unsigned e = 0; e < 2; ++e) {
            for (SpaceSaving* ss : {w->sources[e], w->prefixes[e]}) {
                if (ss == nullptr)
                    continue;
                ss->~SpaceSaving();
                rte_free(ss);
            }
        }
        if (w->ring)
            rte_ring_free(w->ring);
        w->~WorkerContext();
        rte_free(w);
    }
    for (void* block : heavy_blocks_)
        rte_free(block);
    if (offline_pool_)
        rte_mempool_free(offline_pool_);
}

void Engine::launch_workers() {
    workers_stop_.store(false);
    for (auto* w : workers_) {
        w->running.store(true);
        int rc = rte_eal_remote_launch(worker_main, w, w->lcore);
        if (rc != 0)
            throw std::runtime_error("cannot launch worker on lcore " + std::to_string(w->lcore));
    }
    workers_running_ = true;
}

void Engine::stop_workers() {
    workers_stop_.store(true);
    rte_eal_mp_wait_lcore();
    workers_running_ = false;
}

std::shared_ptr<const Snapshot> Engine::snapshot() const {
    std::lock_guard lock(snapshot_mutex_);
    return snapshot_;
}

void Engine::refresh_status(Snapshot& s) const {
    s.uptime_s = now_seconds() - start_time_;
    if (FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        unsigned long kb = 0;
        while (std::fgets(line, sizeof line, f)) {
            if (std::sscanf(line, "VmRSS: %lu kB", &kb) == 1)
                s.rss_bytes = kb * 1024ull;
            if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1)
                s.rss_peak_bytes = kb * 1024ull;
        }
        std::fclose(f);
    }
    s.dpdk_heap_bytes = 0;
    for (unsigned socket = 0; socket < rte_socket_count(); ++socket) {
        rte_malloc_socket_stats st{};
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(socket), &st) == 0)
            s.dpdk_heap_bytes += st.heap_allocsz_bytes;
    }
    s.workers.clear();
    for (auto* w : workers_) {
        WorkerStatus ws;
        ws.id = w->id;
        ws.lcore = w->lcore;
        ws.numa_node = w->numa_node;
        for (auto& [port, queue] : w->queues) {
            if (!ws.queues.empty())
                ws.queues += ' ';
            ws.queues += std::to_string(port) + ":" + std::to_string(queue);
        }
        if (w->offline)
            ws.queues = "offline";
        ws.packets = w->packets.load(std::memory_order_relaxed);
        ws.bursts = w->bursts.load(std::memory_order_relaxed);
        ws.idle_polls = w->idle_polls.load(std::memory_order_relaxed);
        s.workers.push_back(ws);
    }
    s.ports.clear();
    if (ports_ != nullptr) {
        for (unsigned i = 0; i < ports_->info().size(); ++i) {
            const PortInfo& p = ports_->info()[i];
            PortCounters c = ports_->counters(i);
            s.ports.push_back(PortStatus{p.name, p.driver, p.socket, p.rx_queues, c.link_up,
                                         c.link_speed_mbps, c.ipackets, c.ibytes, c.imissed,
                                         c.ierrors, c.rx_nombuf});
        }
    }
}

WindowAccumulator::WindowAccumulator(uint32_t precise_sketches)
    : counters(std::make_unique<CounterSet>()),
      pool(std::make_unique<SketchPool>(precise_sketches)),
      sources(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      prefixes(std::make_unique<SpaceSaving>(kHeavyCapacity)) {
    counters->pool = pool.get();
}

void WindowAccumulator::reset(int64_t start) {
    counters->clear();
    sources->clear();
    prefixes->clear();
    start_s = start;
    end_s = start;
}

void WindowAccumulator::add(const WindowAccumulator& interval) {
    if (start_s < 0)
        start_s = interval.start_s;
    counters->merge(*interval.counters);
    sources->merge(*interval.sources);
    prefixes->merge(*interval.prefixes);
    end_s = std::max(end_s, interval.end_s);
}

WindowData WindowAccumulator::publish(size_t top_n) const {
    WindowData w;
    w.counters = copy_counters(*counters);
    w.sources = sources->top(top_n);
    w.prefixes = prefixes->top(top_n);
    w.heavy_error_bound = sources->error_bound();
    w.start_s = start_s;
    w.end_s = end_s;
    return w;
}

void Engine::close_interval(int64_t start_s, int64_t end_s, bool workers_stopped) {
    interval_.reset(start_s);
    interval_.end_s = end_s;
    auto take = [&](WorkerContext* w, unsigned slot) {
        // The worker left the source side of its packets in its tuple tables: count it now, once
        // per tuple, on this core (the retired epoch is ours until it is cleared).
        count_tuples(*w->sets[slot], *w->tuples[slot], *w->tuples6[slot]);
        fold_total_destinations(*w->sets[slot]);
        interval_.counters->merge(*w->sets[slot]);
        // Top talkers: exact from the tuples (IPv4 and IPv6 keys are disjoint, so their merge
        // stays exact), merged with what the worker counted per packet. The worker's own
        // summaries hold its spills only: with none, their keys are disjoint from the tuples'.
        load_talkers(*w->tuples[slot], *tuple_sources_, *tuple_prefixes_);
        load_talkers(*w->tuples6[slot], *tuple6_sources_, *tuple6_prefixes_);
        tuple_sources_->merge(*tuple6_sources_, true);
        tuple_prefixes_->merge(*tuple6_prefixes_, true);
        const bool disjoint = w->sets[slot]->source_spills == 0;
        tuple_sources_->merge(*w->sources[slot], disjoint);
        tuple_prefixes_->merge(*w->prefixes[slot], disjoint);
        interval_.sources->merge(*tuple_sources_);
        interval_.prefixes->merge(*tuple_prefixes_);
        w->sets[slot]->clear();
        w->tuples[slot]->clear();
        w->tuples6[slot]->clear();
        w->sources[slot]->clear();
        w->prefixes[slot]->clear();
    };
    if (workers_stopped) {
        // Workers are gone: their current tables hold the final partial interval.
        uint32_t e = epoch_.load(std::memory_order_relaxed);
        for (auto* w : workers_)
            take(w, e & 1);
    } else {
        uint32_t e = epoch_.load(std::memory_order_relaxed) + 1;
        epoch_.store(e, std::memory_order_release);
        for (auto* w : workers_) {
            // Each worker acknowledges at its next loop iteration (a burst at most).
            for (unsigned spins = 0; w->seen_epoch.load(std::memory_order_acquire) != e &&
                                     w->running.load(std::memory_order_acquire);
                 ++spins)
                spin_wait(spins);
        }
        for (auto* w : workers_)
            take(w, (e - 1) & 1);
    }
    roll_windows(start_s);
    hour_.add(interval_);
    day_.add(interval_);
    total_.add(interval_);
    ++intervals_;

    // Events first: the interval's active scanners per service and per country become series
    // and history rows of their own.
    std::vector<StoredRow> scanner_rows;
    if (events_) {
        detect_events(start_s, end_s);
        for (const ScannerActivity& a : events_->scanner_activity(1)) {
            if (a.start != start_s)
                continue;
            for (const auto& [service, n] : a.services)
                scanner_rows.push_back(StoredRow{"scanner_service", service, n, 0, n});
            for (const auto& [country, n] : a.countries)
                scanner_rows.push_back(StoredRow{"scanner_country", country, n, 0, n});
        }
    }
    // Series of the busiest keys, for /darkscope/series.
    auto points = std::make_shared<SeriesHistory::Interval>();
    points->start_s = start_s;
    series_points(*interval_.counters, sensor_names_, kSeriesKeysPerDimension, points->points);
    for (const StoredRow& r : scanner_rows)
        points->points[r.dimension + "=" + r.key] = {r.packets, r.sources};
    auto series = std::make_shared<SeriesHistory>(*series_);
    series->intervals.push_back(std::move(points));
    while (series->intervals.size() > kSeriesIntervals)
        series->intervals.pop_front();
    series_ = std::move(series);

    if (store_)
        store_window(interval_, 0, scanner_rows);
    // Offline replays close intervals far faster than real time: publish (which copies every
    // window) at most every 200 ms of wall time there; the last interval is always published.
    const double now = now_seconds();
    if (!config_.offline() || workers_stopped || now - last_publish_ >= 0.2) {
        publish();
        last_publish_ = now;
    }
}

// Starts new hour and day windows when the closed interval begins a new UTC hour or day.
// Hour and day rollups go to the history when they close (and at shutdown, see flush_rollups), with
// unique counts from their own merged sketches, never summed from intervals.
void Engine::roll_windows(int64_t start_s) {
    const int64_t hour = start_s - ((start_s % 3600) + 3600) % 3600;
    const int64_t day = start_s - ((start_s % 86400) + 86400) % 86400;
    if (hour_.start_s != hour) {
        const bool first = hour_.start_s < 0;
        if (store_ && hour_.start_s >= 0 && hour_.counters->packets)
            store_window(hour_, 1);
        hour_.reset(hour);
        if (first)
            resume_rollup(1, hour);
    }
    if (day_.start_s != day) {
        const bool first = day_.start_s < 0;
        if (store_ && day_.start_s >= 0 && day_.counters->packets)
            store_window(day_, 2);
        day_.reset(day);
        if (first)
            resume_rollup(2, day);
    }
    if (total_.start_s < 0)
        total_.start_s = start_s;
}

// A live run that starts in the middle of an hour or day finds that period's rollup in the history
// when an earlier run (the same darkscope, restarted) wrote it: it is kept, and every rewrite of
// the period merges it in (store_window), so a restart does not replace the earlier part. Only
// the run's first hour and day can have one, and only live: an offline replay of a capture
// already stored replaces its periods, so replaying it twice does not double count.
void Engine::resume_rollup(int resolution, int64_t start_s) {
    if (!store_ || config_.offline())
        return;
    std::vector<StoredPeriod> stored;
    try {
        stored = store_->read_periods(static_cast<Resolution>(resolution), start_s, start_s + 1);
    } catch (const std::exception& e) {
        RTE_LOG(WARNING, USER1, "history: cannot read the %s starting at %lld to resume it: %s\n",
                resolution == 1 ? "hour" : "day", static_cast<long long>(start_s), e.what());
        return;
    }
    if (stored.empty())
        return;
    uint64_t packets = 0;
    for (const StoredRow& r : stored.front().rows)
        if (r.dimension == "total")
            packets = r.packets;
    RTE_LOG(NOTICE, USER1,
            "history: resuming the %s starting at %lld: %llu packets stored by an "
            "earlier run\n",
            resolution == 1 ? "hour" : "day", static_cast<long long>(start_s),
            static_cast<unsigned long long>(packets));
    earlier_run_[resolution] = std::make_unique<StoredPeriod>(std::move(stored.front()));
}

void Engine::detect_events(int64_t start_s, int64_t end_s) {
    const CounterSet& c = *interval_.counters;
    // Every key counted in the interval (a key absent from an interval counts as 0 there).
    std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> points;
    series_points(c, sensor_names_, 1u << 30, points);
    std::vector<SeriesPoint> series;
    series.reserve(points.size());
    for (auto& [key, v] : points) {
        auto eq = key.find('=');
        SeriesPoint p;
        p.dimension = key.substr(0, eq);
        p.key = key.substr(eq + 1);
        p.packets = v.first;
        p.sources = v.second;
        series.push_back(std::move(p));
    }
    // In key order: the engine keeps the busiest keys and ties go to the first seen, so the
    // input order must not depend on where the tables happened to place their keys.
    std::sort(series.begin(), series.end(), [](const SeriesPoint& a, const SeriesPoint& b) {
        return a.dimension != b.dimension ? a.dimension < b.dimension : a.key < b.key;
    });
    std::vector<VictimObservation> victims;
    c.victims.for_each([&](uint64_t, const VictimCounts& v) {
        VictimObservation o;
        o.addr = v.addr;
        o.family = v.family;
        o.packets = v.pb.packets;
        o.bytes = v.pb.bytes;
        o.first_s = static_cast<int64_t>(v.first_ns / 1'000'000'000ull);
        o.last_s = static_cast<int64_t>(v.last_ns / 1'000'000'000ull);
        o.per_minute_max = v.peak_minute_packets;
        o.dark_addresses = v.destinations.estimate();
        o.cls = v.cls;
        o.proto = v.proto;
        o.port = v.port;
        o.tcp_flags = v.tcp_flags;
        o.icmp_type = v.icmp_type;
        o.quoted_proto = v.quoted_proto;
        o.quoted_port = v.quoted_port;
        o.country = country_code_of(v.country);
        o.asn = v.asn;
        victims.push_back(std::move(o));
    });
    // Scanners are sought among the top talkers, minus sources whose packets are mostly
    // backscatter: a DoS victim's replies reach many dark addresses too, but it is not scanning
    // (a scanner's own few RSTs, as masscan sends, do not make it a victim).
    std::unordered_map<uint64_t, uint64_t> victim_packets;
    c.victims.for_each(
        [&](uint64_t key, const VictimCounts& v) { victim_packets[key] = v.pb.packets; });
    std::vector<SourceObservation> sources;
    for (const auto& h : interval_.sources->top(kHeavyCapacity)) {
        auto victim = victim_packets.find(h.key.hash());
        if (victim != victim_packets.end() && victim->second * 2 > h.packets)
            continue;
        SourceObservation o;
        o.addr = h.key.address();
        o.family = h.key.family;
        o.packets = h.packets;
        o.dark_addresses = h.distinct_destinations;
        o.service_count = h.distinct_services;
        o.flags = h.flags;
        o.first_s = static_cast<int64_t>(h.first_seen);
        o.last_s = static_cast<int64_t>(h.last_seen);
        o.country = country_code_of(h.country);
        o.asn = h.asn;
        sources.push_back(std::move(o));
    }
    emit_events(events_->observe_interval(start_s, end_s, series, victims, sources));
}

void Engine::emit_events(const std::vector<Event>& events) {
    for (const Event& e : events) {
        // Starts and ends are news for the operator; updates go to the debug log.
        if (e.phase == EventPhase::update)
            RTE_LOG(DEBUG, USER1, "event: %s\n", e.log_line().c_str());
        else
            RTE_LOG(NOTICE, USER1, "event: %s\n", e.log_line().c_str());
        std::string json = e.json();
        if (store_)
            store_->enqueue(StoredEvent{e.id, e.kind, e.phase, e.time, json});
        if (hook_)
            hook_->submit(json);
    }
}

void Engine::flush_rollups() {
    if (events_)
        emit_events(events_->finish(interval_.end_s));
    if (hook_)
        hook_->flush();
    if (!store_)
        return;
    if (hour_.start_s >= 0 && hour_.counters->packets)
        store_window(hour_, 1);
    if (day_.start_s >= 0 && day_.counters->packets)
        store_window(day_, 2);
    store_->flush();
}

void Engine::store_window(const WindowAccumulator& w, int resolution,
                          const std::vector<StoredRow>& extra_rows) {
    StoredPeriod period;
    period.resolution = static_cast<Resolution>(resolution);
    period.start = w.start_s;
    period.length_s = static_cast<uint32_t>(resolution == 0 ? w.end_s - w.start_s
                                                            : (resolution == 1 ? 3600 : 86400));
    period.rows = period_rows(*w.counters, w.sources->top(config_.top_k),
                              w.prefixes->top(config_.top_k), sensor_names_, config_.top_k);
    period.rows.insert(period.rows.end(), extra_rows.begin(), extra_rows.end());
    if (resolution != 0)
        w.counters->total_sources.serialize(period.source_sketch);
    if (const auto& earlier = earlier_run_[resolution]; earlier && earlier->start == w.start_s)
        merge_earlier_run(period, *earlier);
    store_->enqueue(std::move(period));
}

void merge_earlier_run(StoredPeriod& now, const StoredPeriod& earlier) {
    std::map<std::pair<std::string, std::string>, size_t> index;
    for (size_t i = 0; i < now.rows.size(); ++i)
        index[{now.rows[i].dimension, now.rows[i].key}] = i;
    for (const StoredRow& e : earlier.rows) {
        auto it = index.find({e.dimension, e.key});
        if (it == index.end()) {
            index[{e.dimension, e.key}] = now.rows.size();
            now.rows.push_back(e);
            continue;
        }
        StoredRow& r = now.rows[it->second];
        r.packets += e.packets;
        r.bytes += e.bytes;
        r.sources = std::max(r.sources, e.sources);
        r.destinations = std::max(r.destinations, e.destinations);
        r.asns = std::max(r.asns, e.asns);
    }
    // The total's sources: the union of the two parts' sketches, when both are readable.
    PreciseHyperLogLog mine, theirs;
    if (!now.source_sketch.empty() && !earlier.source_sketch.empty() &&
        mine.deserialize(now.source_sketch) && theirs.deserialize(earlier.source_sketch)) {
        mine.merge(theirs);
        now.source_sketch.clear();
        mine.serialize(now.source_sketch);
        for (StoredRow& r : now.rows)
            if (r.dimension == "total")
                r.sources = mine.estimate();
    } else if (now.source_sketch.empty()) {
        now.source_sketch = earlier.source_sketch;
    }
}

void Engine::publish() {
    auto s = std::make_shared<Snapshot>();
    s->intervals = intervals_;
    s->last_start_s = interval_.start_s;
    s->last_end_s = interval_.end_s;
    s->interval_s = config_.interval_s;
    s->offline = config_.offline();
    s->last = interval_.publish(kPublishedTop);
    s->hour = hour_.publish(kPublishedTop);
    s->day = day_.publish(kPublishedTop);
    s->total = total_.publish(kPublishedTop);
    s->series = series_;
    if (events_) {
        auto lists = std::make_shared<EventLists>();
        for (const Event& e : events_->recent(50)) {
            EventSummary summary;
            summary.kind = e.kind;
            auto add = [&](const char* k, std::string v) {
                if (!v.empty())
                    summary.fields.emplace_back(k, std::move(v));
            };
            add("id", e.id);
            add("kind", event_kind_name(e.kind));
            add("phase", event_phase_name(e.phase));
            add("start", std::to_string(e.start));
            add("end", std::to_string(e.end));
            if (e.kind == EventKind::surge)
                add("key", e.dimension + "=" + e.key);
            add("address", e.address);
            add("country", e.country);
            if (e.asn)
                add("asn", std::to_string(e.asn));
            add("packets", std::to_string(e.packets));
            add("sources", e.kind == EventKind::surge ? std::to_string(e.sources) : "");
            add("destinations", e.destinations ? std::to_string(e.destinations) : "");
            if (e.kind == EventKind::surge)
                add("peak_packets", std::to_string(e.peak_packets));
            if (e.kind == EventKind::dos)
                add("peak_ppm", std::to_string(e.peak_ppm));
            add("vector", e.vector);
            std::string tools;
            for (const auto& t : e.tools)
                tools += (tools.empty() ? "" : " ") + t;
            add("tools", tools);
            add("reason", e.reason);
            lists->events.push_back(std::move(summary));
        }
        s->events = std::move(lists);
    }
    s->sensor_names = sensor_names_;
    if (store_) {
        auto st = store_->stats();
        s->store_written = st.periods_written;
        s->store_dropped = st.periods_dropped;
        s->store_errors = st.write_errors;
    }
    refresh_status(*s);
    std::lock_guard lock(snapshot_mutex_);
    // Link changes go to the log (a memif or af_packet peer may leave; a cable may be pulled).
    if (snapshot_ && snapshot_->ports.size() == s->ports.size())
        for (size_t i = 0; i < s->ports.size(); ++i)
            if (snapshot_->ports[i].link_up != s->ports[i].link_up)
                rte_log(s->ports[i].link_up ? RTE_LOG_NOTICE : RTE_LOG_WARNING, RTE_LOGTYPE_USER1,
                        "USER1: port %s: link %s\n", s->ports[i].name.c_str(),
                        s->ports[i].link_up ? "up" : "down");
    snapshot_ = std::move(s);
}

std::vector<StoredRow> period_rows(const CounterSet& c, const std::vector<HeavyHitter>& sources,
                                   const std::vector<HeavyHitter>& prefixes,
                                   const std::vector<std::string>& sensor_names, size_t top_k) {
    std::vector<StoredRow> rows;
    auto row = [&](const char* dim, std::string key, uint64_t packets, uint64_t bytes,
                   uint64_t srcs = 0, uint64_t dsts = 0, uint64_t asns = 0) {
        rows.push_back(StoredRow{dim, std::move(key), packets, bytes, srcs, dsts, asns});
    };
    row("total", "all", c.packets, c.bytes, c.total_sources.estimate(),
        c.total_destinations.estimate(), c.total_asns.estimate());
    for (unsigned i = 0; i < static_cast<unsigned>(Proto::count_); ++i)
        if (c.proto[i])
            row("proto", i == 0 ? "none" : proto_name(static_cast<Proto>(i)), c.proto[i], 0);
    for (unsigned i = 0; i < static_cast<unsigned>(TrafficClass::count_); ++i)
        if (c.classes[i].packets)
            row("class", traffic_class_name(static_cast<TrafficClass>(i)), c.classes[i].packets,
                c.classes[i].bytes);
    for (unsigned i = 0; i < kFlagCount; ++i)
        if (const uint64_t n = c.flag_count(i))
            row("flag", flag_name(i), n, 0);
    for (unsigned i = 1; i < static_cast<unsigned>(DecodeError::count_); ++i)
        if (c.errors[i])
            row("error", decode_error_name(static_cast<DecodeError>(i)), c.errors[i], 0);
    // Services ranked by the probe classes (what the reports rank); "none" holds the rest.
    {
        SketchPool scratch(SketchPool::kUnbounded);  // unions of keys sharing a name; before agg
        std::map<std::string, ServiceCounts> agg;
        uint64_t packets = 0, bytes = 0;
        for (uint32_t slot = 0; slot < kServiceSlots; ++slot) {
            if (c.service_slots[slot].probe.packets == 0)
                continue;
            agg[service_name(slot)].pb.merge(c.service_slots[slot].probe);
        }
        c.services.for_each([&](uint64_t key, const ServiceCounts& v) {
            if ((key & kProbeServiceBit) == 0)
                return;
            ServiceCounts& a = agg[service_name(static_cast<uint32_t>(key & 0xffffffffu))];
            a.sources.merge(v.sources, &scratch, c.pool);
            a.destinations.merge(v.destinations, &scratch, c.pool);
            a.asns.merge(v.asns, &scratch, c.pool);
        });
        for (auto& [k, v] : agg) {
            row("service", k, v.pb.packets, v.pb.bytes, v.sources.estimate(&scratch),
                v.destinations.estimate(&scratch), v.asns.estimate(&scratch));
            packets += v.pb.packets;
            bytes += v.pb.bytes;
        }
        if (c.packets > packets)
            row("service", "none", c.packets - packets, c.bytes - bytes);
    }
    auto sensor_name = [&](uint64_t slot) {
        return slot == kSensorSlotUnmatched ? std::string("unmatched")
               : slot < sensor_names.size() ? sensor_names[slot]
                                            : "sensor" + std::to_string(slot);
    };
    uint64_t ip_packets = 0, ip_bytes = 0;
    for (unsigned i = 0; i <= kMaxSensors; ++i) {
        if (c.sensors[i].packets == 0)
            continue;
        ip_packets += c.sensors[i].packets;
        ip_bytes += c.sensors[i].bytes;
        row("sensor", sensor_name(i), c.sensors[i].packets, c.sensors[i].bytes,
            c.sensor_sources[i].estimate(), c.sensor_destinations[i].estimate(),
            c.sensor_asns[i].estimate());
    }
    const uint64_t non_ip_packets = c.packets - ip_packets, non_ip_bytes = c.bytes - ip_bytes;
    if (non_ip_packets)
        row("sensor", "none", non_ip_packets, non_ip_bytes);
    for (uint16_t i = 0; i < kCountrySlots; ++i)
        if (c.countries[i].packets)
            row("country", country_code_of(i), c.countries[i].packets, c.countries[i].bytes,
                c.uniques(c.country_sources[i]), c.uniques(c.country_destinations[i]),
                c.uniques(c.country_asns[i]));
    if (non_ip_packets)
        row("country", "none", non_ip_packets, non_ip_bytes);
    c.asns.for_each([&](uint64_t asn, const SourceCounts& v) {
        row("asn", std::to_string(asn), v.pb.packets, v.pb.bytes, c.uniques(v.sources));
    });
    if (c.asns.other.pb.packets)
        row("asn", "other", c.asns.other.pb.packets, c.asns.other.pb.bytes,
            c.uniques(c.asns.other.sources));
    if (non_ip_packets)
        row("asn", "none", non_ip_packets, non_ip_bytes);
    auto cross = [&](const char* dim, const CrossTable& t, auto left, auto right) {
        SketchPool scratch(SketchPool::kUnbounded);
        std::map<std::string, SourceCounts> agg;
        t.for_each([&](uint64_t key, const SourceCounts& v) {
            agg[left(key >> 32) + "|" + right(key & 0xffffffffu)].merge(v, &scratch, c.pool);
        });
        for (auto& [k, v] : agg)
            row(dim, k, v.pb.packets, v.pb.bytes, v.sources.estimate(&scratch));
        if (t.other.pb.packets)
            row(dim, "other", t.other.pb.packets, t.other.pb.bytes, c.uniques(t.other.sources));
    };
    auto country = [](uint64_t i) { return country_code_of(static_cast<uint16_t>(i)); };
    auto service = [](uint64_t slot) { return service_name(static_cast<uint32_t>(slot)); };
    cross("sensor_service", c.sensor_service, sensor_name, service);
    cross("country_service", c.country_service, country, service);
    cross("sensor_country", c.sensor_country, sensor_name, country);
    for (const auto& h : sources)
        row("source", format_address(h.key.address(), h.key.family), h.packets, h.bytes, 1,
            h.distinct_destinations);
    for (const auto& h : prefixes)
        row("prefix",
            format_address(h.key.address(), h.key.family) + "/" + std::to_string(h.key.length),
            h.packets, h.bytes, h.distinct_sources, h.distinct_destinations);
    keep_top_rows(rows, top_k);
    return rows;
}

bool Engine::reload_attribution(std::string* message) {
    std::lock_guard lock(reload_mutex_);
    if (attribution_ == nullptr) {
        if (message)
            *message = "attribution is off: no --geo-country or --geo-asn file";
        return false;
    }
    std::string error;
    bool ok = attribution_->reload(&error);
    if (message)
        *message = ok ? "reloaded" : error;
    RTE_LOG(NOTICE, USER1, "attribution reload: %s\n", ok ? "ok" : error.c_str());
    return ok;
}

void Engine::poll_control() {
    if (control_flags().reload.exchange(false)) {
        std::string msg;
        reload_attribution(&msg);
    }
}

int Engine::run_live() {
    launch_workers();
    const int64_t interval = config_.interval_s;
    double started = now_seconds();
    int64_t start_s = static_cast<int64_t>(std::floor(started));
    int64_t next_boundary = (start_s / interval + 1) * interval;  // aligned to the wall clock
    while (!control_flags().stop.load()) {
        double now = now_seconds();
        g_wall_ns.store(static_cast<uint64_t>(now * 1e9), std::memory_order_relaxed);
        if (config_.duration_s && now - started >= *config_.duration_s)
            break;
        if (now >= static_cast<double>(next_boundary)) {
            close_interval(start_s, next_boundary, false);
            start_s = next_boundary;
            next_boundary += interval;
        }
        poll_control();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop_workers();
    close_interval(start_s, static_cast<int64_t>(std::ceil(now_seconds())), true);
    flush_rollups();
    return 0;
}

int Engine::run_offline() {
    launch_workers();
    const int64_t interval = config_.interval_s;
    int status = 0;
    bool have_interval = false;
    int64_t cur_start = 0;
    std::vector<uint64_t> enqueued(workers_.size(), 0);
    auto wait_counted = [&] {
        for (size_t i = 0; i < workers_.size(); ++i)
            for (unsigned spins = 0;
                 workers_[i]->dequeued.load(std::memory_order_acquire) != enqueued[i]; ++spins)
                spin_wait(spins);
    };
    // Packets go to workers in chunks of a burst, round robin.
    std::vector<rte_mbuf*> chunk;
    chunk.reserve(kMaxBurst);
    size_t next_worker = 0;
    auto flush_chunk = [&] {
        if (chunk.empty())
            return;
        WorkerContext* w = workers_[next_worker];
        unsigned done = 0;
        for (unsigned spins = 0; done < chunk.size(); ++spins) {
            if (spins)
                spin_wait(spins);
            done +=
                rte_ring_sp_enqueue_burst(w->ring, reinterpret_cast<void**>(chunk.data() + done),
                                          static_cast<unsigned>(chunk.size() - done), nullptr);
        }
        enqueued[next_worker] += chunk.size();
        chunk.clear();
        next_worker = (next_worker + 1) % workers_.size();
    };
    auto close_current = [&](int64_t end_s) {
        flush_chunk();
        wait_counted();
        close_interval(cur_start, end_s, false);
    };

    char errbuf[PCAP_ERRBUF_SIZE];
    // Intervals follow the packets' time, so the files are read in the order of their first
    // packets' time (captures of consecutive days given in any order); a file that cannot be
    // opened keeps its place and is reported when its turn comes.
    std::vector<std::pair<int64_t, std::string>> files;
    for (const auto& file : config_.read_files) {
        int64_t first = files.empty() ? INT64_MIN : files.back().first;
        if (pcap_t* pc = pcap_open_offline(file.c_str(), errbuf)) {
            pcap_pkthdr* hdr = nullptr;
            const u_char* bytes = nullptr;
            if (pcap_next_ex(pc, &hdr, &bytes) == 1)
                first = static_cast<int64_t>(hdr->ts.tv_sec);
            pcap_close(pc);
        }
        files.emplace_back(first, file);
    }
    std::stable_sort(files.begin(), files.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < files.size(); ++i)
        if (files[i].second != config_.read_files[i]) {
            RTE_LOG(NOTICE, USER1, "--read: files read in the time order of their first packets\n");
            break;
        }
    for (const auto& [first_s, file] : files) {
        if (control_flags().stop.load())
            break;
        pcap_t* pc = pcap_open_offline_with_tstamp_precision(file.c_str(),
                                                             PCAP_TSTAMP_PRECISION_NANO, errbuf);
        if (pc == nullptr) {
            RTE_LOG(ERR, USER1, "--read %s: %s\n", file.c_str(), errbuf);
            status = 1;
            continue;
        }
        const uint8_t link = static_cast<uint8_t>(link_type_of(pcap_datalink(pc)));
        pcap_pkthdr* hdr = nullptr;
        const u_char* bytes = nullptr;
        uint64_t file_packets = 0;
        uint64_t late_packets = 0;  // stamped before the interval being counted
        int64_t latest_lag_s = 0;
        int rc;
        while ((rc = pcap_next_ex(pc, &hdr, &bytes)) == 1) {
            uint64_t ts_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000000ull +
                             static_cast<uint64_t>(hdr->ts.tv_usec);
            int64_t sec = static_cast<int64_t>(hdr->ts.tv_sec);
            if (!have_interval) {
                cur_start = sec - ((sec % interval) + interval) % interval;
                have_interval = true;
            }
            if (sec < cur_start) [[unlikely]] {
                ++late_packets;
                latest_lag_s = std::max(latest_lag_s, cur_start - sec);
            }
            if (sec >= cur_start + interval) {
                close_current(cur_start + interval);
                cur_start = sec - ((sec % interval) + interval) % interval;
            }
            rte_mbuf* m = rte_pktmbuf_alloc(offline_pool_);
            while (m == nullptr) {
                // Every mbuf is in flight: hand over what we hold and wait for the workers.
                flush_chunk();
                wait_counted();
                m = rte_pktmbuf_alloc(offline_pool_);
            }
            uint32_t copy = std::min<uint32_t>(hdr->caplen, rte_pktmbuf_tailroom(m));
            std::memcpy(rte_pktmbuf_mtod(m, void*), bytes, copy);
            m->data_len = static_cast<uint16_t>(copy);
            m->pkt_len = copy;
            OfflineMeta* meta = offline_meta(m);
            meta->ts_ns = ts_ns;
            meta->wire_len = std::max<uint32_t>(hdr->len, copy);
            meta->link = link;
            chunk.push_back(m);
            if (chunk.size() == workers_[next_worker]->burst)
                flush_chunk();
            if ((++file_packets & 1023) == 0) {
                poll_control();
                if (control_flags().stop.load())
                    break;
            }
        }
        if (rc == -1) {
            RTE_LOG(ERR, USER1, "--read %s: read error after %" PRIu64 " packets: %s\n",
                    file.c_str(), file_packets, pcap_geterr(pc));
            status = 1;
        }
        // Closed intervals are not reopened: such packets count in the interval being counted.
        if (late_packets != 0)
            RTE_LOG(WARNING, USER1,
                    "--read %s: %" PRIu64 " packets stamped up to %" PRId64
                    " s before the interval being counted were counted in it (the files overlap "
                    "in time, or its packets are out of order)\n",
                    file.c_str(), late_packets, latest_lag_s);
        pcap_close(pc);
    }
    flush_chunk();
    wait_counted();
    stop_workers();
    if (have_interval)
        close_interval(cur_start, cur_start + interval, true);
    else
        publish();
    flush_rollups();
    return status;
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

void write_summary(const std::string& path, const Snapshot& s,
                   const std::function<std::string(uint32_t)>& asn_name) {
    constexpr unsigned kCap = 100000;
    auto top = [&](const char* dim, const char* params) {
        return top_view(s, parse_top_request(dim, params, kCap), asn_name);
    };
    Dict d{
        {"/darkscope/stats", stats_view(s)},
        {"/darkscope/top/ports,1000", top("ports", "1000")},
        {"/darkscope/top/ports,1000,total,all", top("ports", "1000,total,all")},
        {"/darkscope/top/countries,1000", top("countries", "1000")},
        {"/darkscope/top/asns,1000", top("asns", "1000")},
        {"/darkscope/top/sensors,1000", top("sensors", "1000")},
        {"/darkscope/top/sources,1000", top("sources", "1000")},
        {"/darkscope/top/prefixes,1000", top("prefixes", "1000")},
        {"/darkscope/classes", classes_view(s)},
        {"/darkscope/flags", flags_view(s)},
        {"/darkscope/errors", errors_view(s)},
        {"/darkscope/sensors", sensors_view(s)},
        {"/darkscope/workers", workers_view(s)},
        {"/darkscope/events,50", events_view(s, "50")},
    };
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        Dict shaped;
        for (auto& [k, v] : d)
            shaped.emplace_back(k, telemetry_shape(v));
        out << to_json(Value(std::move(shaped)), 1) << '\n';
        if (!out)
            throw std::runtime_error("--summary " + path + ": cannot write");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw std::runtime_error("--summary " + path + ": cannot rename " + tmp);
}

}  // namespace darkscope
