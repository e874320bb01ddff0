// The worker's copy of selected packets into the writer's chunks (darkscope/record_tap.hpp).
#include "darkscope/record_tap.hpp"

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "darkscope/counters.hpp"

namespace darkscope {

namespace {

void bump(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// The tap's current chunk with room for `bytes`, handing a full one over; null when no empty
// chunk is to be had (live).
RecordChunk* chunk_with_room(RecordTap& tap, uint32_t bytes) {
    if (tap.current != nullptr && tap.current->used + bytes <= kRecordChunkBytes)
        return tap.current;
    record_hand_over(tap);
    void* next = nullptr;
    for (unsigned spins = 0; rte_ring_sc_dequeue(tap.empty, &next) != 0; ++spins) {
        if (!tap.wait_for_chunks)
            return nullptr;
        if (spins < 1000)
            rte_pause();
        else
            sched_yield();
    }
    tap.current = static_cast<RecordChunk*>(next);
    tap.current->used = 0;
    tap.current->packets = 0;
    return tap.current;
}

}  // namespace

void record_hand_over(RecordTap& tap) {
    if (tap.current == nullptr)
        return;
    if (tap.current->packets == 0)
        return;  // keep the empty chunk
    // `filled` holds every chunk there is: the enqueue cannot fail.
    rte_ring_sp_enqueue(tap.filled, tap.current);
    tap.current = nullptr;
}

void record_burst(RecordTap& tap, rte_mbuf* const* pkts, const PacketFacts* facts,
                  const uint64_t* times_ns, const uint8_t* links, unsigned n) {
    uint64_t now_ns = 0;
    if (times_ns == nullptr) {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        now_ns =
            static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
    }
    uint64_t copied = 0;
    uint64_t dropped = 0;
    uint64_t dropped_unselected = 0;
    bool out_of_chunks = false;
    for (unsigned i = 0; i < n; ++i) {
        const PacketFacts& f = facts[i];
        const bool selected = tap.filter->match(f);
        if (!selected && !tap.tap_all)
            continue;
        const bool quoted = f.ip_version != 0 && has_quoted_victim(f);
        const rte_mbuf* m = pkts[i];
        const uint32_t cap = std::min<uint32_t>(m->pkt_len, tap.snaplen);
        const uint32_t bytes = static_cast<uint32_t>(sizeof(RecordedPacket)) +
                               (quoted ? static_cast<uint32_t>(sizeof(IpAddress)) : 0) +
                               ((cap + 7) & ~7u);
        // One failed look for an empty chunk per burst: the rest of the burst is dropped too.
        RecordChunk* chunk = out_of_chunks ? nullptr : chunk_with_room(tap, bytes);
        if (unlikely(chunk == nullptr)) {
            out_of_chunks = true;
            ++(selected ? dropped : dropped_unselected);
            continue;
        }
        auto* rec = reinterpret_cast<RecordedPacket*>(chunk->data + chunk->used);
        rec->ts_ns = times_ns != nullptr ? times_ns[i] : now_ns;
        rec->wire_len = std::max(f.frame_len, cap);
        rec->cap_len = static_cast<uint16_t>(cap);
        rec->link = links != nullptr ? links[i] : static_cast<uint8_t>(LinkType::ethernet);
        uint8_t marks = selected ? kMarkSelected : 0;
        if (f.ip_version != 0) {
            marks |= kMarkIp | (f.ip_version == 6 ? kMarkIpv6 : 0) |
                     (is_probe_class(f.cls) ? kMarkProbe : 0) |
                     (is_backscatter_class(f.cls) ? kMarkBackscatter : 0) |
                     (quoted ? kMarkQuotedVictim : 0);
            rec->service = service_slot_of(f);
            rec->sensor = static_cast<uint16_t>(sensor_slot_of(f));
            rec->country = static_cast<uint16_t>(country_slot_of(f));
            rec->source = f.src;
            if (quoted)
                std::memcpy(rec + 1, &f.quoted_dst, sizeof(IpAddress));
        } else {
            rec->service = -1;
            rec->sensor = 0;
            rec->country = 0;
            rec->source = IpAddress{};
        }
        rec->marks = marks;
        uint8_t* data = const_cast<uint8_t*>(rec->data());
        // One segment: the bytes are at mtod; a chain is gathered into the chunk.
        const void* src = rte_pktmbuf_read(m, 0, cap, data);
        if (src != data)
            rte_memcpy(data, src, cap);
        chunk->used += bytes;
        ++chunk->packets;
        ++copied;
    }
    if (copied != 0)
        bump(tap.copied, copied);
    if (dropped != 0)
        bump(tap.dropped_buffers, dropped);
    if (dropped_unselected != 0)
        bump(tap.dropped_unselected, dropped_unselected);
}

}  // namespace darkscope
