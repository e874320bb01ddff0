// The worker lcore: its poll loop (worker_main) and the full counting path for one burst
// (process_burst), a list of named stages. docs/architecture.md follows a packet through them;
// docs/performance.md gives the measured reason for each.
#include <rte_branch_prediction.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "darkscope/attribution.hpp"
#include "darkscope/classify.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/record_tap.hpp"
#include "worker.hpp"

namespace darkscope {

int g_offline_meta_offset = -1;
std::atomic<uint64_t> g_wall_ns{0};

namespace {

constexpr unsigned kPrefetchAhead = 4;
// Bytes of a multi-segment frame copied out for the decoder: headers only.
constexpr unsigned kLinearHeaderBytes = 256;
// Packets between the stages of a pass over the burst (BurstPipeline): far enough for a prefetch
// to land, near enough that the lines in flight fit the core's miss buffers.
#ifndef DARKSCOPE_PIPELINE_DISTANCE
#define DARKSCOPE_PIPELINE_DISTANCE 3
#endif
constexpr unsigned kPipelineDistance = DARKSCOPE_PIPELINE_DISTANCE;

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

// Decodes a burst into facts and packet times, then frees its mbufs (unless kKeepMbufs: the
// recording path frees them after copying): nothing after this stage reads a packet's bytes.
// Offline, the time, wire length and link type come from the reader.
template <bool kKeepMbufs = false>
[[gnu::always_inline]] inline void decode_burst(WorkerContext& w, unsigned epoch_slot,
                                                rte_mbuf** pkts, unsigned n, PacketFacts* facts,
                                                uint64_t* times_ns) {
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
    if (!kKeepMbufs)
        free_received(pkts, n);
    if (w.offline) {
        CounterSet& table = *w.sets[epoch_slot];
        if (table.first_ts_ns == 0 || times_ns[0] < table.first_ts_ns)
            table.first_ts_ns = times_ns[0];
        if (times_ns[n - 1] > table.last_ts_ns)
            table.last_ts_ns = times_ns[n - 1];
    }
}

// The full counting path over one classified burst: a software pipeline in two passes of two
// stages each, kPipelineDistance packets apart, so that the lines a stage needs were prefetched
// by the stage before (docs/performance.md, "The burst pipeline"). Each stage is a member named
// for what it does; the per-burst state they hand on lives here, on the worker's stack.
//
// The worker counts the destination side of each packet and leaves its source side in the
// source tuples (darkscope/source_tuples.hpp): the stats core counts that, and builds the top
// talkers, once per tuple. Only a packet the tuple tables cannot take (a spill) has its source
// side and top talkers counted here (and, when the fleet exports tuples, goes to the spill log).
class BurstPipeline {
  public:
    BurstPipeline(WorkerContext& w, unsigned epoch_slot, PacketFacts* facts,
                  const uint64_t* times_ns)
        : w_(w),
          table_(*w.sets[epoch_slot]),
          sources_(*w.sources[epoch_slot]),
          prefixes_(*w.prefixes[epoch_slot]),
          tuples_(*w.tuples[epoch_slot]),
          tuples6_(*w.tuples6[epoch_slot]),
          spill_log_(w.spill_logs[epoch_slot]),
          facts_(facts),
          times_ns_(times_ns),
          // Without geo databases every source is unknown/AS0, and nothing is looked up.
          unattributed_(w.attribution != nullptr ? SourceAttribution{} : SourceAttribution{0, 0}) {}

    [[gnu::always_inline]] void run(unsigned n) {
        constexpr unsigned d = kPipelineDistance;
        for (unsigned i = 0; i < n + d; ++i) {
            if (i < n)
                hash_and_prefetch(i);
            if (i >= d)
                find_service_and_tuple(i - d);
        }
        if (lookup_count_ != 0)
            look_up_sources(lookups_, lookup_count_);
        for (unsigned i = 0; i < n + d; ++i) {
            if (i < n)
                count_into_tuple_and_destination(i);
            if (i >= d)
                count_destination_sketches(i - d);
        }
        table_.source_spills += spills_;
    }

  private:
    // Pass 1, stage 1: hashes each address once (the hash every sketch and table reuses),
    // builds the packet's keys and prefetches the lines they hash to.
    [[gnu::always_inline]] void hash_and_prefetch(unsigned i) {
        const PacketFacts& f = facts_[i];
        if (f.ip_version == 0)
            return;
        src_hash_[i] = hash_address(f.src, f.ip_version);
        dst_hash_[i] = hash_address(f.dst, f.ip_version);
        keys_[i] = source_key_of(f);
        if (f.ip_version == 4) [[likely]] {
            tuple4_[i] = SourceTupleTable::key_of(f, keys_[i]);
            tuple_hash_[i] = SourceTupleTable::hash_of(tuple4_[i], src_hash_[i]);
            tuples_.prefetch(tuple_hash_[i]);
        } else {
            tuple6_[i] = SourceTuple6Table::key_of(f, keys_[i]);
            tuple_hash_[i] = SourceTuple6Table::hash_of(tuple6_[i], src_hash_[i]);
            tuples6_.prefetch(tuple_hash_[i]);
        }
        prefetch_destination_side(table_, keys_[i]);
        prefetch_victim(table_, f, src_hash_[i]);
    }

    // Pass 1, stage 2: resolves the service entry and reads the tuple's tags, prefetching the
    // tuple line its probe will stop at. A packet whose tags match no tuple is new: its source
    // is queued for the one bulk attribution lookup between the passes (every other packet takes
    // its country and ASN from its tuple, which spares it a random line of the attribution table).
    [[gnu::always_inline]] void find_service_and_tuple(unsigned i) {
        const PacketFacts& f = facts_[i];
        if (f.ip_version == 0)
            return;
        service_[i] = resolve_service(table_, keys_[i]);
        const bool maybe_held = f.ip_version == 4 ? tuples_.prefetch_tuple(tuple_hash_[i])
                                                  : tuples6_.prefetch_tuple(tuple_hash_[i]);
        attribution_[i] = unattributed_;
        if (!maybe_held && !unattributed_.known())
            lookups_[lookup_count_++] = static_cast<uint8_t>(i);
    }

    // Between the passes: the country and ASN of the sources no tuple held, in one bulk call.
    void look_up_sources(const uint8_t* which, unsigned count) {
        w_.attribution->lookup_some(w_.id, facts_, which, count);
        for (unsigned j = 0; j < count; ++j)
            attribution_[which[j]] = attribution_of(facts_[which[j]]);
    }

    [[gnu::always_inline]] TupleAdd add_to_tuple(unsigned i, uint64_t now_s) {
        const PacketFacts& f = facts_[i];
        return f.ip_version == 4
                   ? tuples_.add(tuple4_[i], tuple_hash_[i], f.frame_len, now_s, f.flags, f.dst.v4,
                                 dst_hash_[i], attribution_[i])
                   : tuples6_.add(tuple6_[i], tuple_hash_[i], f.frame_len, now_s, f.flags,
                                  dst_hash_[i], dst_hash_[i], attribution_[i]);
    }

    // A new tuple's packet whose 15-bit tag matched another tuple's by chance (about one in
    // 5,000 new tuples at 0.7 load): its own lookup, then the add again. Out of line: the add is
    // inlined once, in count_into_tuple_and_destination.
    [[gnu::noinline]] TupleAdd look_up_and_add(unsigned i, uint64_t now_s) {
        const auto which = static_cast<uint8_t>(i);
        look_up_sources(&which, 1);
        return add_to_tuple(i, now_s);
    }

    // Pass 2, stage 1: adds the packet to its source tuple and counts the destination side's
    // counters. A tuple that holds the packet's destination inline (TupleAdd::destination_held)
    // leaves the destination sketches to the stats core too; otherwise their registers are
    // prefetched for stage 2. A spill is counted whole here.
    [[gnu::always_inline]] void count_into_tuple_and_destination(unsigned i) {
        PacketFacts& f = facts_[i];
        sketches_due_[i] = false;
        if (f.ip_version == 0) {
            count_dense_totals(table_, f);
            return;
        }
        const uint64_t now_s = times_ns_[i] / 1'000'000'000ull;
        TupleAdd added = add_to_tuple(i, now_s);
        if (added == TupleAdd::unattributed) [[unlikely]]
            added = look_up_and_add(i, now_s);
        // The packet counts under its tuple's attribution from here on.
        f.country = attribution_[i].country;
        f.asn = attribution_[i].asn;
        keys_[i].country = attribution_[i].country;
        keys_[i].asn = attribution_[i].asn;
        count_destination_counters(table_, f, keys_[i], service_[i], times_ns_[i], src_hash_[i],
                                   dst_hash_[i]);
        if (added == TupleAdd::destination_held) [[likely]]
            return;
        sketches_due_[i] = true;
        prefetch_destination_sketches(table_, keys_[i], service_[i], dst_hash_[i]);
        if (added == TupleAdd::taken)
            return;
        ++spills_;
        if (spill_log_ != nullptr)
            spill_log_->add(f, TupleWhere::of(keys_[i], f.ip_proto), now_s);
        count_source(table_, src_hash_[i], keys_[i], 1, f.frame_len);
        count_talkers(sources_, prefixes_, f, src_hash_[i], dst_hash_[i], now_s);
    }

    // Pass 2, stage 2: the destination sketches the tuple did not take.
    [[gnu::always_inline]] void count_destination_sketches(unsigned i) {
        if (sketches_due_[i])
            darkscope::count_destination_sketches(table_, keys_[i], service_[i], dst_hash_[i]);
    }

    WorkerContext& w_;
    CounterSet& table_;
    SpaceSaving& sources_;
    SpaceSaving& prefixes_;
    SourceTupleTable& tuples_;
    SourceTuple6Table& tuples6_;
    SpillLog* const spill_log_;  // null unless the fleet exports tuples
    PacketFacts* const facts_;
    const uint64_t* const times_ns_;
    const SourceAttribution unattributed_;
    uint64_t spills_ = 0;
    unsigned lookup_count_ = 0;
    uint64_t src_hash_[kMaxBurst], dst_hash_[kMaxBurst], tuple_hash_[kMaxBurst];
    // Each IP packet's SourceKey: its slots index the destination side, and with the source it
    // is the tuple key. One tuple key per packet, in the array of its family: the IPv4 keys stay
    // packed, eight to a line, and the IPv6 array is touched only by IPv6 packets.
    SourceKey keys_[kMaxBurst];
    SourceTupleTable::Key tuple4_[kMaxBurst];
    SourceTuple6Table::Key tuple6_[kMaxBurst];
    ServiceCounts* service_[kMaxBurst];
    SourceAttribution attribution_[kMaxBurst];  // looked up, or unknown until the tuple tells
    uint8_t lookups_[kMaxBurst];                // packets to look up between the passes
    bool sketches_due_[kMaxBurst];              // stage 2 of pass 2 adds the destination
};

// One burst with recording on (--record-dir): the mbufs are kept through classification and
// counting, so that the filter and the event captures' keys can read each packet's sensor,
// class and country (attribution fills it while counting), and freed once the packets are
// copied into the writer's chunks. Out of line: with recording off the full path pays only the
// branch in process_burst.
[[gnu::noinline]] void process_recorded_burst(WorkerContext& w, unsigned epoch_slot,
                                              rte_mbuf** pkts, unsigned n) {
    PacketFacts facts[kMaxBurst];
    uint64_t times_ns[kMaxBurst];
    uint8_t links[kMaxBurst];
    decode_burst<true>(w, epoch_slot, pkts, n, facts, times_ns);
    w.classifier->classify_burst(facts, n);
    if (w.offline)
        for (unsigned i = 0; i < n; ++i)
            links[i] = offline_meta(pkts[i])->link;
    if (w.stage != PipelineStage::full)
        count_reference_path(w, epoch_slot, facts, times_ns, n);
    else
        BurstPipeline(w, epoch_slot, facts, times_ns).run(n);
    // Live packets are stamped with the receive time read per burst (times_ns holds the stats
    // core's clock, refreshed every few milliseconds).
    record_burst(*w.record, pkts, facts, w.offline ? times_ns : nullptr,
                 w.offline ? links : nullptr, n);
    free_received(pkts, n);
}

// One burst: decode, classify, count. The paths other than the full one (benchmark stage stops,
// the plain reference, recording) branch off once per burst.
inline void process_burst(WorkerContext& w, unsigned epoch_slot, rte_mbuf** pkts, unsigned n) {
    if (unlikely(w.record != nullptr)) {
        process_recorded_burst(w, epoch_slot, pkts, n);
        return;
    }
    PacketFacts facts[kMaxBurst];
    uint64_t times_ns[kMaxBurst];
    decode_burst(w, epoch_slot, pkts, n, facts, times_ns);
    if (unlikely(w.stage != PipelineStage::full)) {
        count_reference_path(w, epoch_slot, facts, times_ns, n);
        return;
    }
    w.classifier->classify_burst(facts, n);
    BurstPipeline(w, epoch_slot, facts, times_ns).run(n);
}

// One batch for process_burst: a burst from `receive` (up to `burst` packets at `pkts`) and,
// when it came full, one more from the same source, since more is waiting. The burst pipeline
// fills and drains once per batch, and those 3 x kPipelineDistance packets run without their
// lines prefetched far enough ahead: a batch of 64 has half as many of them as a burst of 32
// (docs/performance.md, "Batches of two bursts"). A partial burst is processed at once, so no
// packet waits for more to come. `polls`: the receives that returned packets.
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

// Offline packets of one epoch: counted, and acknowledged to the reader (`dequeued`).
void count_offline(WorkerContext& w, unsigned epoch_slot, rte_mbuf** pkts, unsigned n) {
    if (n == 0)
        return;
    process_burst(w, epoch_slot, pkts, n);
    bump(w.packets, n);
    bump(w.dequeued, n);
}

}  // namespace

int worker_main(void* arg) {
    WorkerContext& w = *static_cast<WorkerContext*>(arg);
    if (w.attribution != nullptr)
        w.attribution->register_worker(w.id);
    rte_mbuf* pkts[kMaxBurst];
    uint32_t my_epoch = w.epoch->load(std::memory_order_acquire);
    w.seen_epoch.store(my_epoch, std::memory_order_release);
    size_t next_queue = 0;
    unsigned idle_streak = 0;
    // The epoch flip: the closing interval's recorded packets go to the writer before the flip
    // is acknowledged (the writer closes a file once its last interval has closed).
    auto flip_to = [&](uint32_t e) {
        if (w.record != nullptr)
            record_hand_over(*w.record);
        my_epoch = e;
        w.seen_epoch.store(e, std::memory_order_release);
    };
    while (!w.stop->load(std::memory_order_relaxed)) {
        unsigned n = 0;
        unsigned polls = 0;
        if (w.offline) {
            // Offline the epoch flips in band: the reader puts a marker between one interval's
            // packets and the next's, so it can read on while this worker finishes the interval.
            n = receive_batch(w.burst, pkts, polls, [&](rte_mbuf** at) {
                return rte_ring_sc_dequeue_burst(w.ring, reinterpret_cast<void**>(at), w.burst,
                                                 nullptr);
            });
            if (n == 0) {
                bump(w.idle_polls, 1);
                // Nothing to count: the reader is busy, or closing an interval.
                if (++idle_streak > 64)
                    offline_sleep(w);
            } else {
                idle_streak = 0;
                unsigned from = 0;
                for (unsigned i = 0; i < n; ++i) {
                    if (pkts[i] == epoch_marker()) [[unlikely]] {
                        count_offline(w, my_epoch & 1, pkts + from, i - from);
                        flip_to(my_epoch + 1);
                        from = i + 1;
                    }
                }
                count_offline(w, my_epoch & 1, pkts + from, n - from);
                bump(w.bursts, polls);
            }
        } else {
            // One relaxed load per loop: the epoch flip costs the data path nothing else.
            const uint32_t e = w.epoch->load(std::memory_order_acquire);
            if (unlikely(e != my_epoch))
                flip_to(e);
            if (!w.queues.empty()) {
                auto [port, queue] = w.queues[next_queue];
                next_queue = next_queue + 1 == w.queues.size() ? 0 : next_queue + 1;
                n = receive_batch(w.burst, pkts, polls, [&](rte_mbuf** at) {
                    return rte_eth_rx_burst(port, queue, at, static_cast<uint16_t>(w.burst));
                });
            }
            if (n == 0) {
                bump(w.idle_polls, 1);
            } else {
                process_burst(w, my_epoch & 1, pkts, n);
                bump(w.packets, n);
                bump(w.bursts, polls);
            }
        }
        if (w.attribution != nullptr)
            w.attribution->quiescent(w.id);
    }
    if (w.attribution != nullptr)
        w.attribution->unregister_worker(w.id);
    w.running.store(false, std::memory_order_release);
    return 0;
}

void offline_sleep(WorkerContext& w) {
    w.asleep.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // The last look, after `asleep` is visible: packets (or a marker) given before it are seen
    // here, and whoever gives some after it finds `asleep` set and wakes us.
    if (rte_ring_count(w.ring) != 0 || w.stop->load(std::memory_order_relaxed)) {
        w.asleep.store(0, std::memory_order_relaxed);
        return;
    }
    const timespec bound{0, 1'000'000};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&w.asleep), FUTEX_WAIT_PRIVATE, 1u, &bound,
            nullptr, 0);
    w.asleep.store(0, std::memory_order_relaxed);
}

void wake_sleeping_worker(WorkerContext& w) {
    w.asleep.store(0, std::memory_order_relaxed);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&w.asleep), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
}

void register_offline_meta() {
    static const rte_mbuf_dynfield desc = {"darkscope_offline_meta", sizeof(OfflineMeta),
                                           alignof(OfflineMeta), 0};
    g_offline_meta_offset = rte_mbuf_dynfield_register(&desc);
    if (g_offline_meta_offset < 0)
        throw std::runtime_error("cannot register the offline mbuf field");
}

}  // namespace darkscope
