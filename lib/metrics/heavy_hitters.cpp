#include "darkscope/heavy_hitters.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <new>
#include <stdexcept>

namespace darkscope {

// ---- HeavyKey ----

HeavyKey HeavyKey::host(const IpAddress& address, uint8_t family) {
    return prefix(address, family, family == 6 ? 128 : 32);
}

HeavyKey HeavyKey::prefix(const IpAddress& address, uint8_t family, uint8_t length) {
    HeavyKey key;
    key.family = family;
    if (family == 6) {
        key.length = std::min<uint8_t>(length, 128);
        uint8_t bytes[16] = {};
        const unsigned whole = key.length / 8, rest = key.length % 8;
        std::memcpy(bytes, address.v6, whole);
        if (rest != 0)
            bytes[whole] = static_cast<uint8_t>(address.v6[whole] & (0xff00u >> rest));
        std::memcpy(key.words, bytes, 16);
    } else {
        key.length = std::min<uint8_t>(length, 32);
        const uint32_t mask = key.length == 0 ? 0 : ~uint32_t{0} << (32 - key.length);
        key.words[0] = address.v4 & mask;
    }
    return key;
}

IpAddress HeavyKey::address() const {
    IpAddress a;
    std::memset(&a, 0, sizeof a);
    if (family == 6) {
        std::memcpy(a.v6, words, 16);
    } else {
        a.v4 = static_cast<uint32_t>(words[0]);
    }
    return a;
}

// ---- memory layout: one block, each array 64-byte aligned ----

struct SpaceSaving::Layout {
    size_t entries = 0;
    size_t links = 0;
    size_t buckets = 0;
    size_t index = 0;
    size_t destinations = 0;
    size_t services = 0;
    size_t sources = 0;
    size_t total = 0;
    uint32_t index_size = 0;

    static Layout of(uint32_t capacity) {
        auto round_up = [](size_t n) {
            return (n + kMemoryAlignment - 1) & ~(kMemoryAlignment - 1);
        };
        Layout l;
        l.index_size = std::bit_ceil(4 * capacity);
        size_t at = 0;
        l.entries = at;
        at = round_up(at + sizeof(Entry) * capacity);
        l.links = at;
        at = round_up(at + sizeof(Link) * capacity);
        l.buckets = at;
        at = round_up(at + sizeof(Bucket) * capacity);
        l.index = at;
        at = round_up(at + sizeof(uint64_t) * l.index_size);
        l.destinations = at;
        at = round_up(at + sizeof(DestinationSketch) * capacity);
        l.services = at;
        at = round_up(at + sizeof(ServiceSketch) * capacity);
        l.sources = at;
        at = round_up(at + sizeof(PrefixSources) * capacity);
        l.total = at;
        return l;
    }
};

size_t SpaceSaving::required_bytes(uint32_t capacity) {
    return Layout::of(capacity).total;
}

SpaceSaving::SpaceSaving(uint32_t capacity) : capacity_(capacity) {
    if (capacity == 0 || capacity > (1u << 30)) {
        throw std::invalid_argument("SpaceSaving capacity must be 1 .. 2^30");
    }
    block_bytes_ = required_bytes(capacity);
    owned_ = ::operator new (block_bytes_, std::align_val_t{kMemoryAlignment});
    bind(owned_);
}

SpaceSaving::SpaceSaving(uint32_t capacity, void* memory, size_t bytes) : capacity_(capacity) {
    if (capacity == 0 || capacity > (1u << 30)) {
        throw std::invalid_argument("SpaceSaving capacity must be 1 .. 2^30");
    }
    block_bytes_ = required_bytes(capacity);
    if (memory == nullptr || bytes < block_bytes_ ||
        reinterpret_cast<uintptr_t>(memory) % kMemoryAlignment != 0) {
        throw std::invalid_argument("SpaceSaving memory too small or not 64-byte aligned");
    }
    bind(memory);
}

SpaceSaving::~SpaceSaving() {
    if (owned_ != nullptr) {
        ::operator delete (owned_, std::align_val_t{kMemoryAlignment});
    }
}

void SpaceSaving::bind(void* memory) {
    const Layout l = Layout::of(capacity_);
    auto* base = static_cast<unsigned char*>(memory);
    block_ = memory;
    index_mask_ = l.index_size - 1;
    entries_ = new (base + l.entries) Entry[capacity_]{};
    links_ = new (base + l.links) Link[capacity_]{};
    buckets_ = new (base + l.buckets) Bucket[capacity_]{};
    index_ = new (base + l.index) uint64_t[l.index_size]{};
    destinations_ = new (base + l.destinations) DestinationSketch[capacity_];
    services_ = new (base + l.services) ServiceSketch[capacity_];
    sources_ = new (base + l.sources) PrefixSources[capacity_]{};
    clear();
}

void SpaceSaving::clear() {
    size_ = 0;
    total_ = 0;
    min_bucket_ = kNil;
    for (uint32_t b = 0; b < capacity_; ++b) {
        buckets_[b] = Bucket{0, kNil, kNil, b + 1 < capacity_ ? b + 1 : kNil};
    }
    free_bucket_ = 0;
    std::fill(index_, index_ + index_mask_ + 1, uint64_t{0});
}

uint64_t SpaceSaving::min_count() const {
    return size_ == capacity_ ? buckets_[min_bucket_].count : 0;
}

// ---- hash index ----

namespace {
inline uint32_t tag_of(uint64_t key_hash) {
    return static_cast<uint32_t>(key_hash >> 32);
}
inline uint64_t slot_value(uint64_t key_hash, uint32_t e) {
    return uint64_t{tag_of(key_hash)} << 32 | (e + 1);
}
inline uint32_t slot_entry(uint64_t slot) {
    return static_cast<uint32_t>(slot) - 1;
}
inline uint32_t slot_tag(uint64_t slot) {
    return static_cast<uint32_t>(slot >> 32);
}
}  // namespace

uint32_t SpaceSaving::find(const HeavyKey& key, uint64_t key_hash) const {
    const uint32_t tag = tag_of(key_hash);
    uint32_t i = tag & index_mask_;
    while (true) {
        const uint64_t slot = index_[i];
        if (slot == 0) {
            return kNil;
        }
        if (slot_tag(slot) == tag) {
            const uint32_t e = slot_entry(slot);
            if (entries_[e].hash == key_hash && entries_[e].key == key) [[likely]] {
                return e;
            }
        }
        i = (i + 1) & index_mask_;
    }
}

void SpaceSaving::index_insert(uint32_t e) {
    const uint64_t h = entries_[e].hash;
    links_[e].tag = tag_of(h);
    uint32_t i = tag_of(h) & index_mask_;
    while (index_[i] != 0) {
        i = (i + 1) & index_mask_;
    }
    index_[i] = slot_value(h, e);
}

// Linear-probing deletion by backward shift: no tombstones, so probes stay short however many
// sources come and go.
void SpaceSaving::index_remove(uint32_t e) {
    uint32_t i = links_[e].tag & index_mask_;
    while (slot_entry(index_[i]) != e) {
        i = (i + 1) & index_mask_;
    }
    uint32_t j = i;
    while (true) {
        j = (j + 1) & index_mask_;
        const uint64_t slot = index_[j];
        if (slot == 0) {
            break;
        }
        const uint32_t home = slot_tag(slot) & index_mask_;
        // The slot at j may move back to i unless its home lies cyclically in (i, j].
        const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            index_[i] = slot;
            i = j;
        }
    }
    index_[i] = 0;
}

// ---- stream-summary buckets ----

uint32_t SpaceSaving::bucket_alloc(uint64_t count) {
    const uint32_t b = free_bucket_;  // never empty: at most one bucket per entry
    free_bucket_ = buckets_[b].next;
    buckets_[b] = Bucket{count, kNil, kNil, kNil};
    return b;
}

void SpaceSaving::bucket_free(uint32_t b) {
    const uint32_t prev = buckets_[b].prev;
    const uint32_t next = buckets_[b].next;
    if (prev != kNil) {
        buckets_[prev].next = next;
    } else {
        min_bucket_ = next;
    }
    if (next != kNil) {
        buckets_[next].prev = prev;
    }
    buckets_[b].next = free_bucket_;
    free_bucket_ = b;
}

// Entries of a bucket form a circular list; the head is the one that entered it first, so
// eviction takes the longest-idle of the minimum entries.
void SpaceSaving::bucket_detach(uint32_t e) {
    Link& x = links_[e];
    Bucket& b = buckets_[x.bucket];
    if (x.next == e) {
        b.head = kNil;
        return;
    }
    links_[x.prev].next = x.next;
    links_[x.next].prev = x.prev;
    if (b.head == e) {
        b.head = x.next;
    }
}

void SpaceSaving::bucket_attach(uint32_t e, uint32_t b) {
    Link& x = links_[e];
    Bucket& bucket = buckets_[b];
    x.bucket = b;
    if (bucket.head == kNil) {
        bucket.head = e;
        x.prev = e;
        x.next = e;
        return;
    }
    const uint32_t head = bucket.head;
    const uint32_t tail = links_[head].prev;
    x.prev = tail;
    x.next = head;
    links_[tail].next = e;
    links_[head].prev = e;
}

// Rebuilding a summary in increasing count order (merge, load_exact): entry e, of `count`, goes
// into the last (largest) bucket if it has that count, else into a new one after it.
uint32_t SpaceSaving::append_in_order(uint32_t e, uint64_t count, uint32_t last_bucket) {
    if (last_bucket == kNil || buckets_[last_bucket].count != count) {
        const uint32_t nb = bucket_alloc(count);
        buckets_[nb].prev = last_bucket;
        if (last_bucket != kNil) {
            buckets_[last_bucket].next = nb;
        } else {
            min_bucket_ = nb;
        }
        last_bucket = nb;
    }
    bucket_attach(e, last_bucket);
    return last_bucket;
}

void SpaceSaving::increment(uint32_t e) {
    const uint32_t b = links_[e].bucket;
    const uint64_t count = buckets_[b].count + 1;
    uint32_t next = buckets_[b].next;
    if (next != kNil && buckets_[next].count == count) {
        bucket_detach(e);
        bucket_attach(e, next);
        if (buckets_[b].head == kNil) {
            bucket_free(b);
        }
        return;
    }
    if (links_[e].next == e) {  // alone in its bucket: the bucket itself moves up
        buckets_[b].count = count;
        return;
    }
    const uint32_t nb = bucket_alloc(count);
    buckets_[nb].prev = b;
    buckets_[nb].next = next;
    if (next != kNil) {
        buckets_[next].prev = nb;
    }
    buckets_[b].next = nb;
    bucket_detach(e);
    bucket_attach(e, nb);
}

void SpaceSaving::init_entry(uint32_t e, const HeavyKey& key, uint64_t key_hash, uint64_t error,
                             uint64_t now) {
    Entry& x = entries_[e];
    x.key = key;
    x.hash = key_hash;
    x.error = error;
    x.bytes = 0;
    x.first_seen = now;
    x.flags = 0;
    destinations_[e].clear();
    services_[e].clear();
    sources_[e].clear();
}

// ---- per packet ----

void SpaceSaving::update(const HeavyKey& key, uint64_t key_hash, uint32_t bytes, uint64_t dst_hash,
                         uint32_t service, uint64_t now, uint16_t country, uint32_t asn,
                         uint16_t flags) {
    update_entry(key, key_hash, bytes, dst_hash, service, now, country, asn, flags);
}

uint32_t SpaceSaving::update_entry(const HeavyKey& key, uint64_t key_hash, uint32_t bytes,
                                   uint64_t dst_hash, uint32_t service, uint64_t now,
                                   uint16_t country, uint32_t asn, uint16_t flags) {
    assert(key_hash == key.hash());
    ++total_;
    uint32_t e = find(key, key_hash);
    if (e != kNil) [[likely]] {
        increment(e);
    } else if (size_ < capacity_) [[unlikely]] {
        e = size_++;
        init_entry(e, key, key_hash, 0, now);
        index_insert(e);
        if (min_bucket_ != kNil && buckets_[min_bucket_].count == 1) {
            bucket_attach(e, min_bucket_);
        } else {
            const uint32_t b = bucket_alloc(1);
            buckets_[b].next = min_bucket_;
            if (min_bucket_ != kNil) {
                buckets_[min_bucket_].prev = b;
            }
            min_bucket_ = b;
            bucket_attach(e, b);
        }
    } else {
        // Evict the minimum: the newcomer may have had up to min packets while unmonitored.
        e = buckets_[min_bucket_].head;
        index_remove(e);
        init_entry(e, key, key_hash, buckets_[min_bucket_].count, now);
        index_insert(e);
        increment(e);
    }
    Entry& x = entries_[e];
    x.bytes += bytes;
    x.last_seen = now;
    x.country = country;
    x.asn = asn;
    x.flags |= flags;
    destinations_[e].add_hash(dst_hash);
    services_[e].add_hash(hash_value(service));
    return e;
}

// ---- reading ----

std::vector<HeavyHitter> SpaceSaving::top(size_t n) const {
    std::vector<uint32_t> order(size_);
    for (uint32_t e = 0; e < size_; ++e) {
        order[e] = e;
    }
    auto before = [&](uint32_t a, uint32_t b) {
        const uint64_t ca = count_of(a);
        const uint64_t cb = count_of(b);
        if (ca != cb) {
            return ca > cb;
        }
        if (entries_[a].error != entries_[b].error) {
            return entries_[a].error < entries_[b].error;
        }
        const HeavyKey& ka = entries_[a].key;
        const HeavyKey& kb = entries_[b].key;
        if (ka.words[0] != kb.words[0]) {
            return ka.words[0] < kb.words[0];
        }
        return ka.words[1] < kb.words[1];
    };
    n = std::min<size_t>(n, size_);
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(n), order.end(),
                      before);
    std::vector<HeavyHitter> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const uint32_t e = order[i];
        const Entry& x = entries_[e];
        HeavyHitter h;
        h.key = x.key;
        h.packets = count_of(e);
        h.error = x.error;
        h.bytes = x.bytes;
        h.distinct_destinations = destinations_[e].estimate();
        h.distinct_services = services_[e].estimate();
        const bool host = x.key.length == (x.key.family == 4 ? 32 : 128);
        h.distinct_sources = host ? 1 : sources_[e].estimate();
        h.first_seen = x.first_seen;
        h.last_seen = x.last_seen;
        h.country = x.country;
        h.asn = x.asn;
        h.flags = x.flags;
        out.push_back(h);
    }
    return out;
}

// ---- loading exact counts ----

void SpaceSaving::load_exact(std::vector<ExactRow>& rows, uint64_t total) {
    if (rows.size() > capacity_) {
        throw std::invalid_argument("SpaceSaving::load_exact: more rows than the capacity");
    }
    // Increasing count order, so buckets are appended in order (as merge() rebuilds).
    std::sort(rows.begin(), rows.end(), [](const ExactRow& a, const ExactRow& b) {
        if (a.packets != b.packets) {
            return a.packets < b.packets;
        }
        if (a.key.words[0] != b.key.words[0]) {
            return a.key.words[0] > b.key.words[0];
        }
        return a.key.words[1] > b.key.words[1];
    });
    clear();
    uint32_t last_bucket = kNil;
    for (const ExactRow& r : rows) {
        const uint32_t e = size_++;
        Entry& x = entries_[e];
        x.key = r.key;
        x.hash = r.key.hash();
        x.error = 0;
        x.bytes = r.bytes;
        x.first_seen = r.first_seen;
        x.last_seen = r.last_seen;
        x.country = r.country;
        x.asn = r.asn;
        x.flags = r.flags;
        destinations_[e] = r.destinations;
        services_[e] = r.services;
        sources_[e] = r.sources;
        index_insert(e);
        last_bucket = append_in_order(e, r.packets, last_bucket);
    }
    total_ = total;
}

// ---- merge ----

void SpaceSaving::merge(const SpaceSaving& other, bool disjoint) {
    if (other.capacity_ != capacity_) {
        throw std::invalid_argument("SpaceSaving::merge needs equal capacities");
    }
    if (&other == this || other.size_ == 0) {
        return;
    }
    struct Candidate {
        uint64_t count;
        uint64_t error;
        uint32_t mine;    // entry here, or kNil
        uint32_t theirs;  // entry in other, or kNil
    };
    const uint64_t min_here = disjoint ? 0 : min_count();
    const uint64_t min_there = disjoint ? 0 : other.min_count();
    std::vector<Candidate> candidates;
    candidates.reserve(size_ + other.size_);
    for (uint32_t e = 0; e < size_; ++e) {  // entries 0 .. size_-1 are exactly the ones in use
        candidates.push_back({count_of(e) + min_there, entries_[e].error + min_there, e, kNil});
    }
    for (uint32_t e = 0; e < other.size_; ++e) {
        const Entry& x = other.entries_[e];
        const uint32_t here = find(x.key, x.hash);
        if (here != kNil) {
            Candidate& c = candidates[here];
            c.count = count_of(here) + other.count_of(e);
            c.error = entries_[here].error + x.error;
            c.theirs = e;
        } else {
            candidates.push_back({other.count_of(e) + min_here, x.error + min_here, kNil, e});
        }
    }
    auto key_of = [&](const Candidate& c) -> const HeavyKey& {
        return c.mine != kNil ? entries_[c.mine].key : other.entries_[c.theirs].key;
    };
    auto larger = [&](const Candidate& a, const Candidate& b) {
        if (a.count != b.count) {
            return a.count > b.count;
        }
        if (a.error != b.error) {
            return a.error < b.error;
        }
        const HeavyKey& ka = key_of(a);
        const HeavyKey& kb = key_of(b);
        if (ka.words[0] != kb.words[0]) {
            return ka.words[0] < kb.words[0];
        }
        return ka.words[1] < kb.words[1];
    };
    if (candidates.size() > capacity_) {
        std::nth_element(candidates.begin(), candidates.begin() + capacity_ - 1, candidates.end(),
                         larger);
        candidates.resize(capacity_);
    }
    // Rebuild in increasing count order so buckets are appended in order.
    std::sort(candidates.begin(), candidates.end(),
              [&](const Candidate& a, const Candidate& b) { return larger(b, a); });

    SpaceSaving merged(capacity_);
    uint32_t last_bucket = kNil;
    for (const Candidate& c : candidates) {
        const uint32_t e = merged.size_++;
        Entry& x = merged.entries_[e];
        const Entry* a = c.mine != kNil ? &entries_[c.mine] : nullptr;
        const Entry* b = c.theirs != kNil ? &other.entries_[c.theirs] : nullptr;
        const Entry& first = a != nullptr ? *a : *b;
        x.key = first.key;
        x.hash = first.hash;
        x.error = c.error;
        x.bytes = (a ? a->bytes : 0) + (b ? b->bytes : 0);
        x.first_seen = a && b ? std::min(a->first_seen, b->first_seen) : first.first_seen;
        x.last_seen = a && b ? std::max(a->last_seen, b->last_seen) : first.last_seen;
        const Entry& latest = a && b && b->last_seen > a->last_seen ? *b : first;
        x.country = latest.country;
        x.asn = latest.asn;
        x.flags = static_cast<uint16_t>((a ? a->flags : 0) | (b ? b->flags : 0));
        merged.destinations_[e] = a ? destinations_[c.mine] : other.destinations_[c.theirs];
        merged.services_[e] = a ? services_[c.mine] : other.services_[c.theirs];
        merged.sources_[e] = a ? sources_[c.mine] : other.sources_[c.theirs];
        if (a && b) {
            merged.destinations_[e].merge(other.destinations_[c.theirs]);
            merged.services_[e].merge(other.services_[c.theirs]);
            merged.sources_[e].merge(other.sources_[c.theirs]);
        }
        merged.index_insert(e);
        last_bucket = merged.append_in_order(e, c.count, last_bucket);
    }
    merged.total_ = total_ + other.total_;

    // Same capacity, same layout, indices not pointers: the block copies as it is.
    std::memcpy(block_, merged.block_, block_bytes_);
    size_ = merged.size_;
    min_bucket_ = merged.min_bucket_;
    free_bucket_ = merged.free_bucket_;
    total_ = merged.total_;
}

}  // namespace darkscope
