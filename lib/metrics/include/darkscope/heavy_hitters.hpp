// Top talkers: Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient computation of frequent and
// top-k elements in data streams", 2005) over source addresses or source prefixes.
//
// Guarantee. With capacity k and N packets counted (over every stream merged in):
//   - every monitored key has  count - error <= true count <= count,  and error <= min <= N / k,
//     where min is the smallest count held (0 while fewer than k keys were ever seen);
//   - every key whose true count is above min (so every key above N / k) is monitored;
//   - so two keys whose counts differ by more than N / k come out in the right order.
// These hold after merge() as well, with N the sum of the merged streams (see merge()).
//
// Per key, besides packets: bytes, distinct destinations and distinct services, first and last
// seen, and the country and ASN of the last packet. These describe the packets seen since the
// key took its slot: when a new key evicts the minimum it inherits the count (as error) but
// starts its bytes, timestamps and sketches afresh, so they are lower bounds that miss at most
// `error` packets. Distinct destinations use a TinyHyperLogLog (P = 8: exact up to 32, then
// 6.5 % standard error); distinct services a BasicHyperLogLog<7> (exact up to 16, then 9.2 %).
//
// Cost: one hash lookup (open-addressed, tagged, 4k slots) and an O(1) move in the stream-summary
// (count buckets in a doubly linked list, Metwally's structure), no allocation. All state is one
// block of indices, not pointers, either owned (std allocator) or supplied by the caller (for
// example from hugepages), and written by one core only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/hll.hpp"
#include "darkscope/packet.hpp"

namespace darkscope {

// A source address or prefix. IPv4 is held in host byte order in the low word (high word zero),
// IPv6 as its 16 network-order bytes; host bits beyond `length` are cleared.
struct HeavyKey {
    uint64_t words[2] = {0, 0};
    uint8_t family = 0;  // 4 or 6
    uint8_t length = 0;  // prefix length: 32 or 128 for a single address

    static HeavyKey host(const IpAddress& address, uint8_t family);
    // /24 for IPv4 and /48 for IPv6 are what the reports use.
    static HeavyKey prefix(const IpAddress& address, uint8_t family, uint8_t length);

    IpAddress address() const;
    // hash_address() of address(): for a host key, the per-packet source hash itself.
    uint64_t hash() const {
        return family == 4 ? hash_ipv4(static_cast<uint32_t>(words[0]))
                           : hash_address(address(), family);
    }

    friend bool operator==(const HeavyKey& a, const HeavyKey& b) {
        return a.words[0] == b.words[0] && a.words[1] == b.words[1] && a.family == b.family &&
               a.length == b.length;
    }
};

// One row of top(): a copy, independent of the summary.
struct HeavyHitter {
    HeavyKey key;
    uint64_t packets = 0;  // upper bound on the true count
    uint64_t error = 0;    // packets - error is a lower bound on the true count
    uint64_t bytes = 0;    // bytes since the key took its slot (lower bound)
    uint64_t distinct_destinations = 0;
    uint64_t distinct_services = 0;
    uint64_t distinct_sources = 0;  // addresses inside a prefix key (1 for a host key)
    uint64_t first_seen = 0;        // caller's time unit
    uint64_t last_seen = 0;
    uint16_t country = 0;
    uint16_t flags = 0;  // OR of the packets' flag bits (scanner tool fingerprints)
    uint32_t asn = 0;

    uint64_t guaranteed_packets() const { return packets - error; }
};

// Distinct source addresses inside one prefix key: exact for IPv4 (a bit per value of the host
// byte: a /24 holds 256 addresses), a TinyHyperLogLog of the source hash for IPv6 (exact up to
// 32 addresses, then 6.5 % standard error; a /48 rarely holds more scanning hosts).
struct PrefixSources {
    uint64_t v4_hosts[4];
    TinyHyperLogLog v6;
    void clear() {
        v4_hosts[0] = v4_hosts[1] = v4_hosts[2] = v4_hosts[3] = 0;
        v6.clear();
    }
    void add(const IpAddress& src, uint8_t family, uint64_t src_hash) {
        if (family == 4) {
            const uint32_t host = src.v4 & 0xff;
            v4_hosts[host >> 6] |= uint64_t{1} << (host & 63);
        } else {
            v6.add_hash(src_hash);
        }
    }
    void merge(const PrefixSources& o) {
        for (unsigned i = 0; i < 4; ++i)
            v4_hosts[i] |= o.v4_hosts[i];
        v6.merge(o.v6);
    }
    uint64_t estimate() const {
        uint64_t n = 0;
        for (uint64_t w : v4_hosts)
            n += static_cast<uint64_t>(__builtin_popcountll(w));
        return n + v6.estimate();
    }
};

class SpaceSaving {
  public:
    using DestinationSketch = TinyHyperLogLog;
    using ServiceSketch = BasicHyperLogLog<7>;
    static constexpr size_t kMemoryAlignment = 64;

    // Bytes of the single block a summary of this capacity uses.
    static size_t required_bytes(uint32_t capacity);

    // Owns its block (std allocator).
    explicit SpaceSaving(uint32_t capacity = 1024);
    // Uses the caller's block: at least required_bytes(capacity) bytes, 64-byte aligned, kept
    // alive by the caller for the life of this object. `zeroed`: the block is all zero bytes
    // (rte_zmalloc, fresh pages), which is an empty summary as it is: nothing is written.
    SpaceSaving(uint32_t capacity, void* memory, size_t bytes, bool zeroed = false);
    ~SpaceSaving();
    SpaceSaving(const SpaceSaving&) = delete;
    SpaceSaving& operator=(const SpaceSaving&) = delete;

    // Counts one packet of `key`. key_hash must be key.hash() (for a host key, the per-packet
    // source hash); dst_hash is the hash of the destination address; service identifies the
    // destination service (for example protocol << 16 | port) and is hashed here; now is the
    // packet time in the caller's unit. No allocation, O(1).
    void update(const HeavyKey& key, uint64_t key_hash, uint32_t bytes, uint64_t dst_hash,
                uint32_t service, uint64_t now, uint16_t country = 0, uint32_t asn = 0,
                uint16_t flags = 0);
    // The same for a prefix key (IPv4 of length 24 or more, any IPv6), also counting the
    // distinct source address `src` (whose hash is src_hash) inside the prefix.
    void update_prefix(const HeavyKey& key, uint64_t key_hash, uint32_t bytes, uint64_t dst_hash,
                       uint32_t service, uint64_t now, uint16_t country, uint32_t asn,
                       uint16_t flags, const IpAddress& src, uint64_t src_hash) {
        const uint32_t e =
            update_entry(key, key_hash, bytes, dst_hash, service, now, country, asn, flags);
        sources_[e].add(src, key.family, src_hash);
    }

    // Optional, a few packets ahead of update(): brings the key's index slot into cache.
    void prefetch(uint64_t key_hash) const {
        __builtin_prefetch(&index_[static_cast<uint32_t>(key_hash >> 32) & index_mask_]);
    }

    // The n largest counts, largest first (ties: smaller error first, then key order).
    std::vector<HeavyHitter> top(size_t n) const;

    // Adds other's stream into this one (Agarwal et al., "Mergeable summaries", 2012; the
    // Space-Saving form of Cafaro et al., 2016): a key held by one summary only is charged the
    // other's min as both count and error (it may have had up to that many there), counts and
    // errors of common keys add, and the k largest are kept. The guarantee at the top holds for
    // the merged stream with N = N_this + N_other, for any number of successive merges. Both
    // summaries must have the same capacity. Keeps working lists between merges (allocated on
    // first use, and when `other` overflows this one): not for the worker.
    //
    // `disjoint`: the caller knows that no key of one stream occurs in the other (the stats
    // core's IPv4 and IPv6 summaries from tuples, or those and a worker's that spilled nothing). A
    // key absent from a summary then had no packets in its stream, so nothing is charged for it and
    // exact counts stay exact; the guarantee holds as well (the merged minimum is at least either
    // one's).
    void merge(const SpaceSaving& other, bool disjoint = false);

    // One key for load_exact: its exact counts and sketches.
    struct ExactRow {
        HeavyKey key;
        uint64_t packets = 0;
        uint64_t bytes = 0;
        uint64_t first_seen = 0;
        uint64_t last_seen = 0;
        uint32_t asn = 0;
        uint16_t country = 0;
        uint16_t flags = 0;
        DestinationSketch destinations;
        ServiceSketch services;
        PrefixSources sources{};  // distinct addresses inside a prefix key
    };
    // Replaces the summary with `rows` (at most capacity; each count exact, so error 0), the keys
    // of a stream of `total` packets. When there are capacity rows, every key of the stream left
    // out must have had no more packets than the smallest row: the summary is then a valid
    // Space-Saving summary of that stream, and merges as one. Sorts `rows`. Allocates: not for
    // the worker.
    void load_exact(std::vector<ExactRow>& rows, uint64_t total);

    // Empties the summary: O(capacity).
    void clear();

    uint32_t capacity() const { return capacity_; }
    uint32_t size() const { return size_; }
    // N: packets counted, merged streams included.
    uint64_t total() const { return total_; }
    // Smallest count held once full (0 before: then every key seen is held with error 0).
    uint64_t min_count() const;
    // N / k: bound on every error and on the count of any key not held.
    uint64_t error_bound() const { return total_ / capacity_; }

  private:
    static constexpr uint32_t kNil = 0xffffffffu;

    // What a packet writes besides the count; touched once per update.
    struct Entry {
        HeavyKey key;
        uint64_t hash;
        uint64_t error;
        uint64_t bytes;
        uint64_t first_seen;
        uint64_t last_seen;
        uint32_t asn;
        uint16_t country;
        uint16_t flags;
    };
    // Stream-summary links, kept apart from the entries in a dense 16-byte array so that moving
    // an entry between buckets touches its neighbours' links only, not their whole entries.
    struct Link {
        uint32_t bucket;  // the count bucket this entry is in
        uint32_t prev;    // neighbours inside the bucket (a circular list)
        uint32_t next;
        uint32_t tag;  // top 32 bits of the key hash: its index slot, without the entry
    };
    // Entries with equal counts share a bucket; buckets are linked in increasing count order.
    struct Bucket {
        uint64_t count;
        uint32_t head;  // the entry that entered first
        uint32_t prev;  // bucket with the next smaller count
        uint32_t next;  // bucket with the next larger count; free-list link when unused
    };
    struct Layout;
    // One of other's entries in merge(): its count as merged and the entry holding its key here.
    struct MergeMove {
        uint64_t count;
        uint32_t there;  // entry in other; kNil once the selection leaves it out
        uint32_t here;   // entry here, or kNil
    };

    static bool ranks_above(uint64_t count_a, uint64_t error_a, const HeavyKey& key_a,
                            uint64_t count_b, uint64_t error_b, const HeavyKey& key_b);
    // `zeroed`: the block is all zero bytes (fresh pages), an empty summary as it is.
    void bind(void* memory, bool zeroed);
    void detach_and_free(uint32_t e);
    void reset_buckets();
    void place_in_order(std::vector<std::pair<uint64_t, uint32_t>>& moved);
    uint32_t find(const HeavyKey& key, uint64_t key_hash) const;
    void index_insert(uint32_t e);
    void index_remove(uint32_t e);
    uint32_t bucket_alloc(uint64_t count);
    uint32_t bucket_insert(uint64_t count, uint32_t prev, uint32_t next);
    void bucket_free(uint32_t b);
    void bucket_detach(uint32_t e);
    void bucket_attach(uint32_t e, uint32_t b);
    void increment(uint32_t e);
    uint32_t append_in_order(uint32_t e, uint64_t count, uint32_t last_bucket);
    // update() without the source set; returns the key's entry.
    uint32_t update_entry(const HeavyKey& key, uint64_t key_hash, uint32_t bytes, uint64_t dst_hash,
                          uint32_t service, uint64_t now, uint16_t country, uint32_t asn,
                          uint16_t flags);
    void init_entry(uint32_t e, const HeavyKey& key, uint64_t key_hash, uint64_t error,
                    uint64_t now);
    uint64_t count_of(uint32_t e) const { return buckets_[links_[e].bucket].count; }

    uint32_t capacity_;
    uint32_t index_mask_;
    uint32_t size_ = 0;
    uint32_t min_bucket_ = kNil;
    uint32_t free_bucket_ = kNil;
    uint32_t fresh_bucket_ = 0;  // buckets from here on were never used since clear()
    uint64_t total_ = 0;
    // merge()'s working lists, kept between merges so that a merge allocates nothing once warm.
    std::vector<MergeMove> merge_theirs_;
    std::vector<uint8_t> merge_evicted_;
    std::vector<uint32_t> merge_free_slots_;
    std::vector<std::pair<uint64_t, uint32_t>> merge_moved_;
    void* owned_ = nullptr;  // the block, when this object allocated it
    void* block_ = nullptr;
    size_t block_bytes_ = 0;
    Entry* entries_ = nullptr;
    Link* links_ = nullptr;
    Bucket* buckets_ = nullptr;
    // Open-addressed index (linear probing, load <= 1/4): 0 for empty, else the top 32 bits of
    // the key hash (its low bits pick the home slot) above entry + 1, so a probe compares tags
    // in this 8-byte array and reads an entry only when the tags agree.
    uint64_t* index_ = nullptr;
    DestinationSketch* destinations_ = nullptr;
    ServiceSketch* services_ = nullptr;
    PrefixSources* sources_ = nullptr;  // distinct addresses per entry (update_prefix)
};

}  // namespace darkscope
