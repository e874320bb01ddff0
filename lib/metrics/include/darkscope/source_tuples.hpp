// SourceTupleTable: the worker's flow-tuple aggregation (after Corsaro's flowtuple plugin).
//
// Everything a CounterSet keys by the source or its ASN (unique sources and ASNs of the run, of
// each sensor, country and service; the ASN, sensor x country, sensor x service and country x
// service tables with their packets, bytes and unique sources) depends on a packet only through
// its tuple: source address, sensor, country, ASN and service key. Darknet sources repeat their
// tuple (a scanner sends thousands of SYNs to one port), and a repeated tuple adds the same
// hashes to the same sketches again, which changes nothing. So the worker does not count those
// dimensions per packet: it adds packets and bytes to the packet's tuple here (one prefetched
// cache line), and the stats core, once it owns the retired epoch, counts each tuple once into
// the retired CounterSet (count_tuples), with the tuple's packets and bytes as weights. The
// result is what per-packet counting gives: same sums, same sketch contents.
//
// The table holds IPv4 tuples (the bulk of darknet traffic): 32 bytes each, two per cache line,
// plus a 4-byte first-seen log that lets count_tuples replay tuples in arrival order (bounded
// tables then see keys in the order per-packet counting would) and lets clear() touch only the
// used entries. An IPv6 packet, or a packet whose tuple finds no room (the table is bounded:
// kMaxProbe slots from home, and 7/8 load at most), is counted directly by the worker at full
// cost (count_source) and counted as a spill: an operator who sees spills raises
// --tuple-entries. A spill costs speed, never accuracy.
//
// Single writer, like the counter set it belongs to: the worker while the epoch is current, the
// stats core once it is retired. No EAL: the caller supplies the memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "darkscope/counters.hpp"
#include "darkscope/hash.hpp"

namespace darkscope {

// One IPv4 tuple and its weights. `where` is never 0 for a used entry (kValid), so an all-zero
// entry is empty.
struct SourceTuple {
    uint64_t source;  // source address (host order) | ASN << 32
    uint64_t where;   // kValid | sensor slot << 48 | country slot << 32 | service key
    uint64_t packets;
    uint64_t bytes;

    static constexpr uint64_t kValid = uint64_t{1} << 63;
    static constexpr uint32_t kNoService = 1u << 20;  // service key of a packet with no valid L4
    static constexpr uint32_t kProbe = 1u << 21;      // service key of a probe class

    uint32_t src_v4() const { return static_cast<uint32_t>(source); }
    SourceKey key() const {
        SourceKey k;
        k.asn = static_cast<uint32_t>(source >> 32);
        k.sensor = static_cast<uint8_t>(where >> 48);
        k.country = static_cast<uint16_t>(where >> 32);
        const auto service = static_cast<uint32_t>(where);
        k.probe = (service & kProbe) != 0;
        k.service = (service & kNoService) != 0 ? -1 : static_cast<int32_t>(service & 0x3ffff);
        return k;
    }
};
static_assert(sizeof(SourceTuple) == 32, "two tuples per cache line");

class SourceTupleTable {
  public:
    static constexpr uint32_t kMaxProbe = 8;  // four cache lines from home at most

    // Bytes of the caller's storage for `capacity` tuples (a power of two).
    static size_t storage_bytes(uint32_t capacity) {
        return size_t{capacity} * (sizeof(SourceTuple) + sizeof(uint32_t));
    }
    // `storage`: storage_bytes(capacity) bytes, 64-byte aligned, outliving the table.
    SourceTupleTable(void* storage, uint32_t capacity)
        : entries_(static_cast<SourceTuple*>(storage)),
          order_(reinterpret_cast<uint32_t*>(static_cast<SourceTuple*>(storage) + capacity)),
          mask_(capacity - 1),
          limit_(capacity - capacity / 8) {
        std::memset(storage, 0, storage_bytes(capacity));
    }
    SourceTupleTable(const SourceTupleTable&) = delete;
    SourceTupleTable& operator=(const SourceTupleTable&) = delete;

    // The tuple of an IPv4 packet (ip_version == 4), with zero weights.
    static SourceTuple tuple_of(const PacketFacts& f) {
        const SourceKey k = source_key_of(f);
        const uint32_t service =
            k.service < 0 ? kNoServiceKey
                          : static_cast<uint32_t>(k.service) | (k.probe ? SourceTuple::kProbe : 0);
        return SourceTuple{
            uint64_t{f.src.v4} | uint64_t{k.asn} << 32,
            SourceTuple::kValid | uint64_t{k.sensor} << 48 | uint64_t{k.country} << 32 | service, 0,
            0};
    }
    // The tuple's hash (its home slot and probe order), from the source hash the worker has.
    static uint64_t hash_of(const SourceTuple& t, uint64_t src_hash) {
        return mix64(src_hash ^ hash_value(t.where ^ (t.source >> 32) * 0x9e3779b97f4a7c15ull));
    }
    void prefetch(uint64_t hash) const {
        __builtin_prefetch(&entries_[static_cast<uint32_t>(hash) & mask_], 1);
    }

    // Adds one packet of `len` bytes to tuple t (hash: hash_of(t, ...)). False when the tuple is
    // new and has no room: the caller counts the packet itself (count_source) and a spill.
    bool add(const SourceTuple& t, uint64_t hash, uint32_t len) {
        uint32_t slot = static_cast<uint32_t>(hash) & mask_;
        for (uint32_t step = 0; step < kMaxProbe; ++step, slot = (slot + 1) & mask_) {
            SourceTuple& e = entries_[slot];
            if (e.where == t.where && e.source == t.source) [[likely]] {
                ++e.packets;
                e.bytes += len;
                return true;
            }
            if (e.where == 0) {
                if (used_ >= limit_) [[unlikely]]
                    return false;
                e.source = t.source;
                e.where = t.where;
                e.packets = 1;
                e.bytes = len;
                order_[used_++] = slot;
                return true;
            }
        }
        return false;
    }

    // Every tuple, in the order its first packet arrived.
    template <typename F>
    void for_each(F&& f) const {
        for (uint32_t i = 0; i < used_; ++i)
            f(entries_[order_[i]]);
    }

    // Empties the table; touches the used entries only (all of it when mostly full).
    void clear() {
        if (used_ > (mask_ + 1) / 4) {
            std::memset(entries_, 0, sizeof(SourceTuple) * (size_t{mask_} + 1));
        } else {
            for (uint32_t i = 0; i < used_; ++i)
                entries_[order_[i]] = SourceTuple{};
        }
        used_ = 0;
    }

    uint32_t used() const { return used_; }
    uint32_t capacity() const { return mask_ + 1; }

  private:
    static constexpr uint32_t kNoServiceKey = SourceTuple::kNoService;

    SourceTuple* entries_;
    uint32_t* order_;  // slots in first-seen order
    uint32_t mask_;
    uint32_t limit_;  // most tuples held: probes stay short
    uint32_t used_ = 0;
};

// Counts every tuple of `tuples` into `t` (the source side of each of their packets) and notes
// how many there were (CounterSet::source_tuples). The stats core calls it on a retired epoch.
void count_tuples(CounterSet& t, const SourceTupleTable& tuples);

}  // namespace darkscope
