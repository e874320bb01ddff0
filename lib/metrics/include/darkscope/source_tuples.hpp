// SourceTupleTable: the worker's flow-tuple aggregation (after Corsaro's flowtuple plugin).
//
// Everything a CounterSet keys by the source or its ASN (unique sources and ASNs of the run, of
// each sensor, country and service; the ASN, sensor x country, sensor x service and country x
// service tables with their packets, bytes and unique sources), and the top talkers (by source
// and by /24, /48 for IPv6), depend on a packet only through its tuple: source address, sensor
// and service key (the country and ASN follow from the source: SourceAttribution), plus its time,
// flags and destination. Darknet sources repeat their tuple (a scanner sends thousands of SYNs to
// one port), and a repeated tuple adds the same hashes to the same sketches again, which changes
// nothing. So the worker does not count those per packet:
// it adds the packet to its tuple here (one prefetched tuple line, found through a line of tags),
// and the stats core, once it owns the retired epoch, counts each tuple once into the retired
// CounterSet (count_tuples) and builds the interval's top talkers from the tuples, with exact
// counts (load_talkers). The result is what per-packet counting gives: same sums, same sketch
// contents, and top talkers that are exact where per-packet Space-Saving is exact (and exact where
// it would only be bounded).
//
// The destination side's unique-destination sketches (per sensor, country and service) follow
// the same rule for a tuple's inline destinations: they stay in the tuple to the end of the epoch
// (a pooled tuple keeps its first kInlineDestinations in place), so add() tells the worker when
// the packet's destination is one of them (TupleAdd::destination_held) and count_tuples adds
// them to those sketches once per tuple; the worker adds only the other packets' destinations.
// HyperLogLog adds are idempotent, so a destination added by both gives the same sketch.
//
// The tuple also spares the worker the attribution lookup (a random line of a 64 MiB table) for
// every packet of a held tuple: the tuple records its source's country and ASN, add() hands them
// back, and the worker looks up only the packets whose tuple the tags say the table does not hold.
//
// A tuple is one cache line: its key, packets, bytes, first and last second, its attribution, the
// OR of its flags, and its distinct destinations, held as up to kInlineDestinations IPv4 addresses
// and then in a TinyHyperLogLog from the table's pool (exact up to 32, then 6.5 %, as the top
// talkers' own sketch). A 4-byte first-seen log lets count_tuples replay tuples in arrival order
// (bounded tables then see keys in the order per-packet counting would) and lets clear() touch only
// the used entries.
//
// A tuple that finds no room within kMaxProbe slots of its home (linear probing makes a few long
// runs even at 0.7 load), or comes when the table is 7/8 full, goes to a small stash (1/32 of
// the table, its own home by the hash's upper half, same probing): so the table stays at one
// probed line for most tuples without spilling the ~1% that the long runs would push out.
//
// IPv6 packets have tuples of their own (SourceTuple6, two cache lines: a 16-byte source, and
// destinations held as their hashes), in a second, smaller table of the same kind (1/32 of the
// IPv4 table: darknet IPv6 traffic is a small share, and what does not fit still counts).
//
// What the tables do not take is counted by the worker one packet at a time, as before
// (count_source and the worker's Space-Saving summaries): a packet whose new tuple finds no room
// in the table or the stash, whose new destination finds the sketch pool empty, or whose
// counters would overflow. Each is a spill: it costs speed, never accuracy (the interval merges
// both: Space-Saving summaries are mergeable), and an operator who sees spills in
// /darkscope/stats raises --tuple-entries.
//
// Single writer, like the counter set it belongs to: the worker while the epoch is current, the
// stats core once it is retired. No EAL: the caller supplies the memory.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "darkscope/counters.hpp"
#include "darkscope/hash.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/hll.hpp"

namespace darkscope {

// A source's country slot and ASN as its tuples record them. A tuple's key leaves them out:
// they follow from the source address (one lookup in the attribution tables), so the worker looks
// them up only for a packet whose tuple the table may not hold yet, and a packet of a held tuple
// takes them from the tuple (TupleTable::add). A tuple keeps what its first packet's lookup gave
// to the end of the epoch, also across a reload of the geo databases (docs/attribution.md).
struct SourceAttribution {
    static constexpr uint16_t kUnattributed = 0xffff;  // not looked up (no country slot is)
    uint32_t asn = 0;
    uint16_t country = kUnattributed;  // country slot, 0 = "??"
    bool known() const { return country != kUnattributed; }
};

// What a lookup gave a packet (its country and asn, as Attribution fills them).
inline SourceAttribution attribution_of(const PacketFacts& f) {
    return SourceAttribution{f.asn, static_cast<uint16_t>(country_slot_of(f))};
}

// The part of a tuple's key beside the source address, in 32 bits: sensor slot << 24 | service
// key, the service key being the service slot (with kProbe for a probe class), or kNoService with
// the IP protocol in the low byte (the top talkers tell services apart by it).
struct TupleWhere {
    static constexpr uint32_t kNoService = 1u << 20;
    static constexpr uint32_t kProbe = 1u << 21;
    static_assert(kServiceSlots <= kNoService, "a service slot fits below kNoService");
    static_assert(kMaxSensors < 256, "a sensor slot fits in the top byte");

    static uint32_t of(const SourceKey& k, uint8_t ip_proto) {
        const uint32_t service = k.service < 0
                                     ? kNoService | ip_proto
                                     : static_cast<uint32_t>(k.service) | (k.probe ? kProbe : 0);
        return uint32_t{k.sensor} << 24 | service;
    }
    static SourceKey key(uint32_t where, uint32_t asn, uint16_t country) {
        SourceKey k;
        k.asn = asn;
        k.country = country;
        k.sensor = static_cast<uint8_t>(where >> 24);
        k.probe = (where & kProbe) != 0;
        k.service = (where & kNoService) != 0 ? -1 : static_cast<int32_t>(where & 0x3ffff);
        return k;
    }
    // The service id the top talkers count distinct (the worker's per-packet one).
    static uint32_t talker_service(uint32_t where) {
        return (where & kNoService) != 0 ? 0xff0000u | (where & 0xff) : where & 0x3ffff;
    }
};

// One IPv4 tuple and what its packets add up to. The table tells used slots from empty ones by
// their tag (TupleTable::tag_of).
struct alignas(64) SourceTuple {
    static constexpr unsigned kInlineDestinations = 5;
    static constexpr uint8_t kPooled = 0xff;  // destination_count once the sketch holds them

    uint64_t source_where;  // the key: source address (host order) << 32 | TupleWhere
    uint64_t bytes;
    uint32_t packets;
    uint32_t first_s;  // packet time, seconds, of the first and the last packet
    uint32_t last_s;
    uint32_t asn;               // the source's attribution (SourceAttribution)
    uint16_t country;           // its country slot
    uint16_t flags;             // OR of the packets' Flag bits
    uint8_t destination_count;  // distinct destinations held inline, or kPooled
    uint8_t reserved[3];
    uint32_t destinations[kInlineDestinations];  // IPv4 destinations (host order)
    uint32_t sketch;                             // pool handle (1-based) once kPooled

    uint32_t src_v4() const { return static_cast<uint32_t>(source_where >> 32); }
    uint32_t where() const { return static_cast<uint32_t>(source_where); }
    IpAddress src() const {
        IpAddress a;
        std::memset(&a, 0, sizeof a);
        a.v4 = src_v4();
        return a;
    }
    SourceKey key() const { return TupleWhere::key(where(), asn, country); }
    uint32_t talker_service() const { return TupleWhere::talker_service(where()); }

    // What TupleTable needs of a tuple type: its key (what the worker builds per packet: 8 bytes
    // here, one compare), the key comparison and copy, the attribution, and the destination an
    // inline slot holds (the address) with its hash.
    struct Key {
        uint64_t source_where;
    };
    using Destination = uint32_t;
    bool same_key(const Key& o) const { return source_where == o.source_where; }
    void set_key(const Key& o) { source_where = o.source_where; }
    SourceAttribution attribution() const { return {asn, country}; }
    void attribute(const SourceAttribution& a) {
        asn = a.asn;
        country = a.country;
    }
    static Destination destination_of(const PacketFacts& f, uint64_t) { return f.dst.v4; }
    static uint64_t destination_hash(Destination d) { return hash_ipv4(d); }

    // The key of an IPv4 packet's tuple (ip_version == 4) whose SourceKey is k (its country and
    // ASN are not part of it).
    static Key key_of(const PacketFacts& f, const SourceKey& k) {
        return Key{uint64_t{f.src.v4} << 32 | TupleWhere::of(k, f.ip_proto)};
    }
    // The tuple's hash (its home slot and probe order), from the source hash the worker has.
    // The source hash is already mixed (hash.hpp), so the rest of the key is mixed on its own
    // and xored in: one mix64 fewer a packet than mixing the two again.
    static uint64_t hash(const Key& t, uint64_t src_hash) {
        return src_hash ^ hash_value(static_cast<uint32_t>(t.source_where));
    }
};
static_assert(sizeof(SourceTuple) == 64, "one tuple, one cache line");

// One IPv6 tuple: the same, with a 16-byte source, and distinct destinations held as their
// 64-bit hashes (all the sketches need; an IPv6 address would take twice the room). Two cache
// lines: the first holds the key, the counters and the first destination; the table prefetches
// both.
struct alignas(64) SourceTuple6 {
    static constexpr unsigned kInlineDestinations = 9;
    static constexpr uint8_t kPooled = 0xff;

    uint8_t source[16];  // source address, network byte order (as IpAddress::v6 holds it)
    uint32_t where;      // TupleWhere
    uint32_t asn;
    uint64_t bytes;
    uint32_t packets;
    uint32_t first_s;
    uint32_t last_s;
    uint16_t flags;
    uint16_t country;
    uint32_t sketch;
    uint8_t destination_count;
    uint8_t reserved[3];
    uint64_t destinations[kInlineDestinations];  // destination hashes

    IpAddress src() const {
        IpAddress a;
        std::memcpy(a.v6, source, 16);
        return a;
    }
    SourceKey key() const { return TupleWhere::key(where, asn, country); }
    uint32_t talker_service() const { return TupleWhere::talker_service(where); }

    struct Key {
        uint8_t source[16];
        uint32_t where;
    };
    using Destination = uint64_t;
    bool same_key(const Key& o) const {
        return where == o.where && std::memcmp(source, o.source, 16) == 0;
    }
    void set_key(const Key& o) {
        std::memcpy(source, o.source, 16);
        where = o.where;
    }
    SourceAttribution attribution() const { return {asn, country}; }
    void attribute(const SourceAttribution& a) {
        asn = a.asn;
        country = a.country;
    }
    static Destination destination_of(const PacketFacts&, uint64_t dst_hash) { return dst_hash; }
    static uint64_t destination_hash(Destination d) { return d; }

    // The key of an IPv6 packet's tuple (ip_version == 6) whose SourceKey is k.
    static Key key_of(const PacketFacts& f, const SourceKey& k) {
        Key t;
        std::memcpy(t.source, f.src.v6, 16);
        t.where = TupleWhere::of(k, f.ip_proto);
        return t;
    }
    static uint64_t hash(const Key& t, uint64_t src_hash) { return src_hash ^ hash_value(t.where); }
};
static_assert(sizeof(SourceTuple6) == 128, "one IPv6 tuple, two cache lines");
static_assert(offsetof(SourceTuple6, destinations) == 56, "key and counters in the first line");

// The talker service id of a packet, as the worker's per-packet Space-Saving updates use it.
inline uint32_t talker_service_of(const PacketFacts& f) {
    const int32_t slot = service_slot_of(f);
    return slot >= 0 ? static_cast<uint32_t>(slot) : 0xff0000u | f.ip_proto;
}

// What TupleTable::add did with a packet.
enum class TupleAdd : uint8_t {
    // Taken, and its destination is one of the tuple's inline ones, which stay in the tuple to
    // the end of the epoch: count_tuples adds them to the destination sketches (sensor, country,
    // service), so the worker skips those for this packet (HyperLogLog adds are idempotent: a
    // destination added once or twice gives the same sketch).
    destination_held,
    // Taken, with its destination in the tuple's pooled sketch: the caller adds the destination
    // to the destination sketches itself (count_destination_sketches).
    taken,
    // Not taken, nothing changed: the caller counts the packet itself (a spill).
    refused,
    // Nothing changed: the table does not hold the packet's tuple, and the caller gave no
    // attribution to make it with (or to count the spill with). The caller looks the source up
    // and adds the packet again.
    unattributed,
};

// The table of one tuple type (SourceTuple for IPv4, SourceTuple6 for IPv6).
template <typename Tuple>
class TupleTable {
  public:
    // The top talkers' own sketch: destinations_into() merges into their rows.
    using DestinationSketch = SpaceSaving::DestinationSketch;
    // Slots probed from home at most; only those whose tag matches have their tuple read.
    static constexpr uint32_t kMaxProbe = 16;

    // Tuples in the stash of a table of `capacity` (a power of two, at least kMinCapacity).
    static constexpr uint32_t kMinCapacity = 32;  // a stash of one
    static uint32_t stash_of(uint32_t capacity) { return capacity / 32; }
    // Slots of the table and its stash together (the stash follows the table's last slot).
    static uint32_t slots_of(uint32_t capacity) { return capacity + stash_of(capacity); }
    // Bytes of the caller's storage for `capacity` tuples (a power of two, at least 32), their
    // stash and `sketches` pooled destination sketches: the tuples, the first-seen log, the tags
    // and the sketches, each from a 64-byte boundary.
    static size_t storage_bytes(uint32_t capacity, uint32_t sketches) {
        return size_t{slots_of(capacity)} * sizeof(Tuple) + order_bytes(capacity) +
               tag_bytes(capacity) + size_t{sketches} * sizeof(DestinationSketch);
    }
    // The pool size that goes with a table (what the worker allocates).
    static uint32_t default_sketches(uint32_t capacity) { return capacity / 32; }

    // `storage`: storage_bytes(capacity, sketches) bytes, 64-byte aligned, outliving the table,
    // and all zero (rte_zmalloc, fresh pages, a value-initialised vector): zero bytes are an empty
    // table and empty destination sketches (implicit-lifetime types), so nothing is written here
    // and a page of the table is touched only when a tuple lands in it. Zeroing a default table
    // cost 150 MiB of page faults at every start.
    TupleTable(void* storage, uint32_t capacity, uint32_t sketches)
        : entries_(static_cast<Tuple*>(storage)),
          order_(reinterpret_cast<uint32_t*>(entries_ + slots_of(capacity))),
          tags_(reinterpret_cast<uint16_t*>(reinterpret_cast<uint8_t*>(order_) +
                                            order_bytes(capacity))),
          sketches_(reinterpret_cast<DestinationSketch*>(reinterpret_cast<uint8_t*>(tags_) +
                                                         tag_bytes(capacity))),
          mask_(capacity - 1),
          limit_(capacity - capacity / 8),
          stash_mask_(stash_of(capacity) - 1),
          stash_limit_(stash_of(capacity) - stash_of(capacity) / 8),
          sketch_capacity_(sketches) {
        // The stash mask and probe arithmetic need a power of two with a stash of at least one.
        if (capacity < kMinCapacity || (capacity & (capacity - 1)) != 0)
            throw std::invalid_argument("tuple table capacity " + std::to_string(capacity) +
                                        ": must be a power of two, at least 32");
        static_assert(std::is_trivially_copyable_v<Tuple> &&
                          std::is_trivially_destructible_v<Tuple> &&
                          std::is_trivially_copyable_v<DestinationSketch> &&
                          std::is_trivially_destructible_v<DestinationSketch>,
                      "zero storage holds empty tuples and sketches");
    }
    TupleTable(const TupleTable&) = delete;
    TupleTable& operator=(const TupleTable&) = delete;

    using Key = typename Tuple::Key;
    // The key of a packet's tuple (its family is the table's), from its SourceKey (the worker
    // has it) or from the packet alone.
    static Key key_of(const PacketFacts& f, const SourceKey& k) { return Tuple::key_of(f, k); }
    static Key key_of(const PacketFacts& f) { return Tuple::key_of(f, source_key_of(f)); }
    // The tuple's hash (its home slot and probe order), from the source hash the worker has.
    static uint64_t hash_of(const Key& t, uint64_t src_hash) { return Tuple::hash(t, src_hash); }
    // The lookup in two steps a few packets apart: prefetch() brings the line of tags from the
    // tuple's home (a tuple's tag is 16 bits of its hash, one per slot, 32 to a cache line);
    // prefetch_tuple(), once the tags are cached, brings the tuple line the probe will stop at
    // (the first slot from home whose tag matches, or the empty slot it would take). Probing the
    // tuples themselves read a line per step (a tuple is a line), and at 0.7 load a probe takes
    // two or three steps, only the first of them prefetched. The worker adds the packet a whole
    // pass of its burst after prefetch_tuple(), so the tuple line has long arrived; when add()
    // came a stage after prefetch_tuple(), prefetch() had to bring the home tuple line as well
    // (two misses in a row at half the distance were 20% slower then; with the two passes,
    // leaving the home line to prefetch_tuple() measured 5% faster: docs/performance.md). Read
    // prefetches, though the lines will be written: on the development box (AMD EPYC guest)
    // they measured ~4% faster than prefetchw.
    void prefetch(uint64_t hash) const {
        const uint32_t home = static_cast<uint32_t>(hash) & mask_;
        __builtin_prefetch(&tags_[home], 0);
    }
    // Returns whether the table may hold the tuple: a tag matched. When none did, add() will
    // need the packet's attribution (a new tuple, or one in the stash).
    bool prefetch_tuple(uint64_t hash) const {
        const uint16_t tag = tag_of(hash);
        const uint32_t home = static_cast<uint32_t>(hash) & mask_;
        uint32_t slot = home;
        for (uint32_t step = 0; step < kMaxProbe; ++step, slot = (slot + 1) & mask_) {
            const uint16_t held = tags_[slot];
            if (held == tag || held == 0) {
                prefetch_entry(slot);
                return held == tag;
            }
        }
        return false;
    }

    // Adds one packet of tuple t (hash: hash_of(t, ...)): `len` bytes at second `now_s`, with
    // flag bits `flags`, to destination `dst` (Tuple::destination_of: the IPv4 address, or the
    // IPv6 address's hash), whose hash is dst_hash. `source`: the packet's attribution when the
    // caller looked it up, else unknown; on return (but for `unattributed`) the attribution to
    // count the packet with: its tuple's when the table holds it, else the caller's. `refused`,
    // with nothing changed, when the table cannot take it (see the top of this file): the caller
    // counts the packet itself. `unattributed`, with nothing changed, when the table would need
    // the packet's attribution and `source` has none.
    TupleAdd add(const Key& t, uint64_t hash, uint32_t len, uint64_t now_s, uint16_t flags,
                 typename Tuple::Destination dst, uint64_t dst_hash, SourceAttribution& source) {
        if (now_s > std::numeric_limits<uint32_t>::max()) [[unlikely]]
            return spill(source);
        const auto now = static_cast<uint32_t>(now_s);
        const uint16_t tag = tag_of(hash);
        const Probe in_table = probe(t, tag, 0, mask_, static_cast<uint32_t>(hash),
                                     main_used_ < limit_, len, now, flags, dst, dst_hash, source);
        if (in_table != Probe::no_room) [[likely]]
            return outcome(in_table, source);
        // A long run, or a full table: the stash (its lines are few, and stay cached).
        return outcome(probe_stash(t, tag, hash, len, now, flags, dst, dst_hash, source), source);
    }

    // Every tuple, in the order its first packet arrived. Tuples sit in random slots of a large
    // table: each is fetched a few tuples before its turn.
    template <typename F>
    void for_each(F&& f) const {
        constexpr uint32_t kAhead = 4;
        for (uint32_t i = 0; i < used_; ++i) {
            if (i + kAhead < used_)
                __builtin_prefetch(&entries_[order_[i + kAhead]]);
            f(entries_[order_[i]]);
        }
    }

    // The i-th tuple in first-seen order (i < used()).
    const Tuple& in_order(uint32_t i) const { return entries_[order_[i]]; }

    // Calls f(hash) for each of the tuple's inline destinations: all of them while the tuple
    // holds its destinations inline, its first kInlineDestinations once it has a pooled sketch
    // (they stay in place). These are the destinations of the packets add() answered
    // destination_held: what count_tuples adds to the destination sketches.
    template <typename F>
    static void for_each_inline_destination(const Tuple& e, F&& f) {
        const unsigned n = e.destination_count == Tuple::kPooled ? Tuple::kInlineDestinations
                                                                 : e.destination_count;
        for (unsigned i = 0; i < n; ++i)
            f(Tuple::destination_hash(e.destinations[i]));
    }

    // Adds the tuple's distinct destinations to `out` (the same hashes its packets carried).
    void destinations_into(const Tuple& e, DestinationSketch& out) const {
        if (e.destination_count == Tuple::kPooled) {
            out.merge(sketches_[e.sketch - 1]);
            return;
        }
        for (unsigned i = 0; i < e.destination_count; ++i)
            out.add_hash(Tuple::destination_hash(e.destinations[i]));
    }

    // Empties the table and its sketch pool; touches the used entries only (all of it when
    // mostly full).
    void clear() {
        if (used_ > (mask_ + 1) / 4) {
            std::memset(static_cast<void*>(entries_), 0,
                        sizeof(Tuple) * size_t{slots_of(mask_ + 1)});
            std::memset(tags_, 0, sizeof(uint16_t) * size_t{slots_of(mask_ + 1)});
        } else {
            for (uint32_t i = 0; i < used_; ++i) {
                entries_[order_[i]] = Tuple{};
                tags_[order_[i]] = 0;
            }
        }
        for (uint32_t i = 0; i < sketches_used_; ++i)
            sketches_[i].clear();
        used_ = main_used_ = stash_used_ = 0;
        sketches_used_ = 0;
    }

    uint32_t used() const { return used_; }  // tuples held, the stash's included
    uint32_t stash_used() const { return stash_used_; }
    uint32_t capacity() const { return mask_ + 1; }
    uint32_t sketches_used() const { return sketches_used_; }

  private:
    // An array of `per_slot` bytes for every slot, rounded up to whole lines.
    static size_t slot_array_bytes(uint32_t capacity, size_t per_slot) {
        return (size_t{slots_of(capacity)} * per_slot + 63) & ~size_t{63};
    }
    static size_t order_bytes(uint32_t capacity) {
        return slot_array_bytes(capacity, sizeof(uint32_t));
    }
    static size_t tag_bytes(uint32_t capacity) {
        return slot_array_bytes(capacity, sizeof(uint16_t));
    }
    // Every line of the tuple in `slot`: an IPv6 tuple's inline destinations are past its first.
    void prefetch_entry(uint32_t slot) const {
        __builtin_prefetch(&entries_[slot], 0);
        if constexpr (sizeof(Tuple) > 64)
            __builtin_prefetch(reinterpret_cast<const char*>(&entries_[slot]) + 64, 0);
    }
    // 0 marks an empty slot; the low bit set keeps a used slot's tag from being 0.
    static uint16_t tag_of(uint64_t hash) { return static_cast<uint16_t>(hash >> 48) | 1; }

    // What probe() did: one of add()'s outcomes, or no_room (the caller tries the stash).
    enum class Probe : uint8_t { destination_held, taken, refused, unattributed, no_room };
    static_assert(static_cast<uint8_t>(Probe::unattributed) ==
                  static_cast<uint8_t>(TupleAdd::unattributed));
    // A packet the table cannot take is a spill, which the caller counts with the packet's
    // attribution: refused once it has one.
    static TupleAdd spill(const SourceAttribution& source) {
        return source.known() ? TupleAdd::refused : TupleAdd::unattributed;
    }
    // No room in the table or the stash: a spill.
    static TupleAdd outcome(Probe p, const SourceAttribution& source) {
        if (p != Probe::no_room) [[likely]]
            return static_cast<TupleAdd>(p);
        return spill(source);
    }
    // Looks for t (whose tag is `tag`) in the region of `mask` + 1 slots starting at `base`, from
    // `home` on, for kMaxProbe slots, reading a tuple only where the tags agree: adds the packet
    // to it, or inserts it at the first empty slot (when `may_insert`; with `source`, which must
    // be known, else unattributed). no_room: neither found nor inserted (the caller tries the
    // stash); refused: found, but the packet cannot be added (a counter at its limit, the sketch
    // pool empty). A found tuple's attribution goes to `source`.
    // Inlined into add() for the table (the worker's per-packet path; left to itself, GCC made it
    // a call with eleven arguments), called out of line for the stash.
    [[gnu::always_inline]] Probe probe(const Key& t, uint16_t tag, uint32_t base, uint32_t mask,
                                       uint32_t home, bool may_insert, uint32_t len, uint32_t now,
                                       uint16_t flags, typename Tuple::Destination dst,
                                       uint64_t dst_hash, SourceAttribution& source) {
        uint32_t slot = home & mask;
        for (uint32_t step = 0; step < kMaxProbe; ++step, slot = (slot + 1) & mask) {
            const uint16_t held = tags_[base + slot];
            if (held != tag && held != 0)
                continue;
            Tuple& e = entries_[base + slot];
            if (held == tag && e.same_key(t)) [[likely]] {
                source = e.attribution();
                if (e.packets == std::numeric_limits<uint32_t>::max()) [[unlikely]]
                    return Probe::refused;
                const Probe p = add_destination(e, dst, dst_hash);
                if (p == Probe::refused) [[unlikely]]
                    return Probe::refused;
                ++e.packets;
                e.bytes += len;
                e.first_s = std::min(e.first_s, now);
                e.last_s = std::max(e.last_s, now);
                e.flags |= flags;
                return p;
            }
            if (held == 0) {
                if (!may_insert) [[unlikely]]
                    return Probe::no_room;
                if (!source.known()) [[unlikely]]
                    return Probe::unattributed;
                tags_[base + slot] = tag;
                e.set_key(t);
                e.attribute(source);
                e.bytes = len;
                e.packets = 1;
                e.first_s = e.last_s = now;
                e.flags = flags;
                e.destination_count = 1;
                e.destinations[0] = dst;
                order_[used_++] = base + slot;
                ++(base == 0 ? main_used_ : stash_used_);
                return Probe::destination_held;
            }
        }
        return Probe::no_room;
    }

    [[gnu::noinline]] Probe probe_stash(const Key& t, uint16_t tag, uint64_t hash, uint32_t len,
                                        uint32_t now, uint16_t flags,
                                        typename Tuple::Destination dst, uint64_t dst_hash,
                                        SourceAttribution& source) {
        return probe(t, tag, mask_ + 1, stash_mask_, static_cast<uint32_t>(hash >> 32),
                     stash_used_ < stash_limit_, len, now, flags, dst, dst_hash, source);
    }

    // The packet's destination into the tuple's set: inline while it fits (destination_held), then
    // a pooled sketch (taken; the inline destinations stay where they are). Refused, with nothing
    // changed, when a sketch is needed and the pool is empty.
    Probe add_destination(Tuple& e, typename Tuple::Destination dst, uint64_t dst_hash) {
        if (e.destination_count == Tuple::kPooled) {
            sketches_[e.sketch - 1].add_hash(dst_hash);
            return Probe::taken;
        }
        for (unsigned i = 0; i < e.destination_count; ++i)
            if (e.destinations[i] == dst)
                return Probe::destination_held;
        if (e.destination_count < Tuple::kInlineDestinations) {
            e.destinations[e.destination_count++] = dst;
            return Probe::destination_held;
        }
        if (sketches_used_ == sketch_capacity_) [[unlikely]]
            return Probe::refused;
        DestinationSketch& s = sketches_[sketches_used_++];
        for (unsigned i = 0; i < Tuple::kInlineDestinations; ++i)
            s.add_hash(Tuple::destination_hash(e.destinations[i]));
        s.add_hash(dst_hash);
        e.sketch = sketches_used_;
        e.destination_count = Tuple::kPooled;
        return Probe::taken;
    }

    Tuple* entries_;
    uint32_t* order_;  // slots in first-seen order
    uint16_t* tags_;   // per slot: tag_of(hash) of its tuple, 0 when empty
    DestinationSketch* sketches_;
    uint32_t mask_;
    uint32_t limit_;  // most tuples held: probes stay short
    uint32_t stash_mask_;
    uint32_t stash_limit_;
    uint32_t sketch_capacity_;
    uint32_t used_ = 0;
    uint32_t main_used_ = 0, stash_used_ = 0;
    uint32_t sketches_used_ = 0;
};

using SourceTupleTable = TupleTable<SourceTuple>;    // IPv4
using SourceTuple6Table = TupleTable<SourceTuple6>;  // IPv6

// The IPv6 table that goes with an IPv4 table of `capacity` tuples (what the worker allocates).
inline uint32_t tuple6_capacity_of(uint32_t capacity) {
    return std::max(capacity / 32, SourceTuple6Table::kMinCapacity);
}

// Counts every tuple of `tuples` into `t` (the source side of each of their packets, and the
// destination sketches of their inline destinations: TupleAdd::destination_held) and notes how
// many there were (CounterSet::source_tuples). The stats core calls it on a retired epoch.
void count_tuples(CounterSet& t, const SourceTupleTable& tuples);
// Both families' tuples, interleaved by the second of their first packet (IPv4 first within a
// second): when the sketch pool runs short, keys of either family take its precise sketches in
// about the order their packets came, as per-packet counting would give them.
void count_tuples(CounterSet& t, const SourceTupleTable& tuples, const SourceTuple6Table& tuples6);

// Replaces `sources` and `prefixes` (/24) with the top talkers of the tuples' packets, with exact
// counts: what per-packet Space-Saving updates of the same packets would hold if nothing were
// ever evicted, and, when more keys than the capacity were seen, the capacity largest of them
// (a valid Space-Saving summary of those packets: every key left out had no more packets than
// the smallest held). The stats core merges them with the worker's own summaries (spills).
void load_talkers(const SourceTupleTable& tuples, SpaceSaving& sources, SpaceSaving& prefixes);
// The same for IPv6 tuples, with /48 prefixes. Its keys are disjoint from the IPv4 ones: the two
// summaries merge with `disjoint` (SpaceSaving::merge) and stay exact.
void load_talkers(const SourceTuple6Table& tuples, SpaceSaving& sources, SpaceSaving& prefixes);

}  // namespace darkscope
