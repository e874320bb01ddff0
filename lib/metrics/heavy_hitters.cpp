#include "darkscope/heavy_hitters.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <new>
#include <stdexcept>

#include "darkscope/zeroed_pages.hpp"

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
    // Fresh pages read as zero, which is an empty summary: nothing is written (or faulted in)
    // until keys arrive. The stats core has a dozen of these, ~470 KiB each.
    owned_ = allocate_zeroed_pages(block_bytes_);
    bind(owned_, true);
}

SpaceSaving::SpaceSaving(uint32_t capacity, void* memory, size_t bytes, bool zeroed)
    : capacity_(capacity) {
    if (capacity == 0 || capacity > (1u << 30)) {
        throw std::invalid_argument("SpaceSaving capacity must be 1 .. 2^30");
    }
    block_bytes_ = required_bytes(capacity);
    if (memory == nullptr || bytes < block_bytes_ ||
        reinterpret_cast<uintptr_t>(memory) % kMemoryAlignment != 0) {
        throw std::invalid_argument("SpaceSaving memory too small or not 64-byte aligned");
    }
    bind(memory, zeroed);
}

SpaceSaving::~SpaceSaving() {
    if (owned_ != nullptr) {
        free_zeroed_pages(owned_, block_bytes_);
    }
}

void SpaceSaving::bind(void* memory, bool zeroed) {
    const Layout l = Layout::of(capacity_);
    auto* base = static_cast<unsigned char*>(memory);
    block_ = memory;
    index_mask_ = l.index_size - 1;
    if (zeroed) {
        // All-zero bytes are what the constructions below write: empty entries, links, buckets,
        // index slots and sketches (an empty sparse sketch is all zero).
        entries_ = reinterpret_cast<Entry*>(base + l.entries);
        links_ = reinterpret_cast<Link*>(base + l.links);
        buckets_ = reinterpret_cast<Bucket*>(base + l.buckets);
        index_ = reinterpret_cast<uint64_t*>(base + l.index);
        destinations_ = reinterpret_cast<DestinationSketch*>(base + l.destinations);
        services_ = reinterpret_cast<ServiceSketch*>(base + l.services);
        sources_ = reinterpret_cast<PrefixSources*>(base + l.sources);
        reset_buckets();
        return;
    }
    entries_ = new (base + l.entries) Entry[capacity_]{};
    links_ = new (base + l.links) Link[capacity_]{};
    buckets_ = new (base + l.buckets) Bucket[capacity_]{};
    index_ = new (base + l.index) uint64_t[l.index_size]{};
    destinations_ = new (base + l.destinations) DestinationSketch[capacity_];
    services_ = new (base + l.services) ServiceSketch[capacity_];
    sources_ = new (base + l.sources) PrefixSources[capacity_]{};
    clear();
}

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

// In proportion to the entries held: a window or a worker's table that held a few keys is
// emptied by clearing their index slots only.
void SpaceSaving::clear() {
    const uint32_t slots = index_mask_ + 1;
    if (size_ > 64 || size_ >= slots / 16) {
        std::fill(index_, index_ + slots, uint64_t{0});
    } else {
        // Find every entry's slot before emptying any (an emptied slot would end later probes).
        uint32_t at[64];
        uint32_t n = 0;
        for (uint32_t e = 0; e < size_; ++e) {
            uint32_t i = links_[e].tag & index_mask_;
            while (slot_entry(index_[i]) != e) {
                i = (i + 1) & index_mask_;
            }
            at[n++] = i;
        }
        for (uint32_t k = 0; k < n; ++k) {
            index_[at[k]] = 0;
        }
    }
    size_ = 0;
    total_ = 0;
    reset_buckets();
}

uint64_t SpaceSaving::min_count() const {
    return size_ == capacity_ ? buckets_[min_bucket_].count : 0;
}

// ---- hash index ----

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

// Freed buckets are reused first, then never-used ones in order: clear() need not touch them.
uint32_t SpaceSaving::bucket_alloc(uint64_t count) {
    uint32_t b = free_bucket_;
    if (b != kNil) {
        free_bucket_ = buckets_[b].next;
    } else {
        b = fresh_bucket_++;  // below capacity_: at most one bucket per entry
    }
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

// A new, empty bucket of `count` linked between `prev` and `next` (kNil: the list's ends).
uint32_t SpaceSaving::bucket_insert(uint64_t count, uint32_t prev, uint32_t next) {
    const uint32_t nb = bucket_alloc(count);
    buckets_[nb].prev = prev;
    buckets_[nb].next = next;
    if (prev != kNil) {
        buckets_[prev].next = nb;
    } else {
        min_bucket_ = nb;
    }
    if (next != kNil) {
        buckets_[next].prev = nb;
    }
    return nb;
}

// Rebuilding a summary in increasing count order (merge, load_exact): entry e, of `count`, goes
// into the last (largest) bucket if it has that count, else into a new one after it.
uint32_t SpaceSaving::append_in_order(uint32_t e, uint64_t count, uint32_t last_bucket) {
    if (last_bucket == kNil || buckets_[last_bucket].count != count) {
        last_bucket = bucket_insert(count, last_bucket, kNil);
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
        return ranks_above(count_of(a), entries_[a].error, entries_[a].key, count_of(b),
                           entries_[b].error, entries_[b].key);
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

void SpaceSaving::detach_and_free(uint32_t e) {
    const uint32_t b = links_[e].bucket;
    bucket_detach(e);
    if (buckets_[b].head == kNil) {
        bucket_free(b);
    }
}

void SpaceSaving::reset_buckets() {
    min_bucket_ = kNil;
    free_bucket_ = kNil;
    fresh_bucket_ = 0;
}

// Puts detached entries (entry, new count) into the bucket list, which holds every other entry:
// in increasing count order, one walk along the buckets. Ties enter lowest rank first, as a
// rebuild in rank order would put them, so a bucket's head is its lowest-ranked entry.
void SpaceSaving::place_in_order(std::vector<std::pair<uint64_t, uint32_t>>& moved) {
    std::sort(moved.begin(), moved.end(), [&](const auto& a, const auto& b) {
        return ranks_above(b.first, entries_[b.second].error, entries_[b.second].key, a.first,
                           entries_[a.second].error, entries_[a.second].key);
    });
    uint32_t before = kNil;  // the last bucket with a smaller count than the entry's
    uint32_t at = min_bucket_;
    for (const auto& [count, e] : moved) {
        while (at != kNil && buckets_[at].count < count) {
            before = at;
            at = buckets_[at].next;
        }
        if (at == kNil || buckets_[at].count != count) {
            at = bucket_insert(count, before, at);
        }
        bucket_attach(e, at);
    }
}

// The order merge() and top() rank keys in: larger count, then smaller error, then key.
bool SpaceSaving::ranks_above(uint64_t count_a, uint64_t error_a, const HeavyKey& key_a,
                              uint64_t count_b, uint64_t error_b, const HeavyKey& key_b) {
    if (count_a != count_b) {
        return count_a > count_b;
    }
    if (error_a != error_b) {
        return error_a < error_b;
    }
    if (key_a.words[0] != key_b.words[0]) {
        return key_a.words[0] < key_b.words[0];
    }
    return key_a.words[1] < key_b.words[1];
}

// The merged summary is built in place: entries that stay keep their slots and sketches, evicted
// ones give theirs to keys entering from `other`, and only entries whose count changed move
// between buckets. A window (hour, day, total) then pays for what the interval merged into it
// held, not for its own capacity; only a full `other` (which charges its minimum to every key
// held here) reorders every bucket.
void SpaceSaving::merge(const SpaceSaving& other, bool disjoint) {
    if (other.capacity_ != capacity_) {
        throw std::invalid_argument("SpaceSaving::merge needs equal capacities");
    }
    if (&other == this || other.size_ == 0) {
        return;
    }
    const uint64_t min_here = disjoint ? 0 : min_count();
    const uint64_t min_there = disjoint ? 0 : other.min_count();
    // Theirs: each of other's entries with the entry holding its key here (or kNil).
    std::vector<MergeMove>& theirs = merge_theirs_;
    theirs.clear();
    uint32_t entering = 0;
    for (uint32_t t = 0; t < other.size_; ++t) {
        const Entry& x = other.entries_[t];
        const uint32_t here = find(x.key, x.hash);
        entering += here == kNil;
        theirs.push_back({other.count_of(t) + (here == kNil ? min_here : 0), t, here});
    }
    // Keys held here but not there are charged min_there (when other is full).
    std::vector<uint8_t>& evicted = merge_evicted_;
    evicted.assign(size_, 0);
    if (size_ + entering > capacity_) {
        // Keep the capacity_ largest of the union: rank every candidate, mine and entering.
        struct Candidate {
            uint64_t count;
            uint64_t error;
            const HeavyKey* key;
            uint32_t mine;    // entry here, or kNil
            uint32_t theirs;  // index into `theirs`, for an entering key
        };
        std::vector<Candidate> candidates;
        candidates.reserve(size_ + entering);
        std::vector<uint32_t> common(size_, kNil);
        for (uint32_t i = 0; i < theirs.size(); ++i) {
            if (theirs[i].here != kNil) {
                common[theirs[i].here] = i;
            }
        }
        for (uint32_t e = 0; e < size_; ++e) {
            if (common[e] != kNil) {
                const MergeMove& m = theirs[common[e]];
                candidates.push_back({count_of(e) + m.count,
                                      entries_[e].error + other.entries_[m.there].error,
                                      &entries_[e].key, e, kNil});
            } else {
                candidates.push_back({count_of(e) + min_there, entries_[e].error + min_there,
                                      &entries_[e].key, e, kNil});
            }
        }
        for (uint32_t i = 0; i < theirs.size(); ++i) {
            if (theirs[i].here == kNil) {
                const Entry& x = other.entries_[theirs[i].there];
                candidates.push_back({theirs[i].count, x.error + min_here, &x.key, kNil, i});
            }
        }
        auto larger = [](const Candidate& a, const Candidate& b) {
            return ranks_above(a.count, a.error, *a.key, b.count, b.error, *b.key);
        };
        std::nth_element(candidates.begin(), candidates.begin() + capacity_ - 1, candidates.end(),
                         larger);
        for (auto c = candidates.begin() + capacity_; c != candidates.end(); ++c) {
            if (c->mine != kNil) {
                evicted[c->mine] = 1;
                if (common[c->mine] != kNil) {
                    theirs[common[c->mine]].there = kNil;  // its sum ranks below the kept
                }
            } else {
                theirs[c->theirs].there = kNil;  // stays out
            }
        }
    }
    // Evicted entries leave their buckets and the index; their slots go to entering keys.
    std::vector<uint32_t>& free_slots = merge_free_slots_;
    free_slots.clear();
    for (uint32_t e = 0; e < size_; ++e) {
        if (evicted[e]) {
            detach_and_free(e);
            index_remove(e);
            free_slots.push_back(e);
        }
    }
    // Entries whose count changes (common keys, entering keys, and with min_there every key
    // held) are placed again once all counts are known.
    std::vector<std::pair<uint64_t, uint32_t>>& moved = merge_moved_;
    moved.clear();
    for (const MergeMove& m : theirs) {
        if (m.there == kNil) {
            continue;  // left out by the selection
        }
        const Entry& x = other.entries_[m.there];
        if (m.here != kNil) {
            const uint32_t e = m.here;
            Entry& mine = entries_[e];
            const uint64_t count = count_of(e) + m.count;
            detach_and_free(e);
            if (x.last_seen > mine.last_seen) {
                mine.country = x.country;
                mine.asn = x.asn;
            }
            mine.error += x.error;
            mine.bytes += x.bytes;
            mine.first_seen = std::min(mine.first_seen, x.first_seen);
            mine.last_seen = std::max(mine.last_seen, x.last_seen);
            mine.flags = static_cast<uint16_t>(mine.flags | x.flags);
            destinations_[e].merge(other.destinations_[m.there]);
            services_[e].merge(other.services_[m.there]);
            sources_[e].merge(other.sources_[m.there]);
            moved.push_back({count, e});
        } else {
            uint32_t e;
            if (!free_slots.empty()) {
                e = free_slots.back();
                free_slots.pop_back();
            } else {
                e = size_++;
            }
            entries_[e] = x;
            entries_[e].error = x.error + min_here;
            destinations_[e] = other.destinations_[m.there];
            services_[e] = other.services_[m.there];
            sources_[e] = other.sources_[m.there];
            index_insert(e);
            links_[e].bucket = kNil;
            moved.push_back({m.count, e});
        }
    }
    // The selection keeps capacity_ keys, at least as many as were held: every freed slot was
    // refilled, so 0 .. size_-1 are still exactly the entries in use.
    assert(free_slots.empty());
    total_ += other.total_;
    if (min_there != 0) {
        // Every key held only here gains min_there: all counts change, rebuild the order.
        std::vector<uint8_t>& is_moved = merge_evicted_;
        is_moved.assign(size_, 0);
        for (const auto& [count, e] : moved) {
            is_moved[e] = 1;
        }
        for (uint32_t e = 0; e < size_; ++e) {
            if (!is_moved[e]) {
                moved.push_back({count_of(e) + min_there, e});
                entries_[e].error += min_there;
            }
        }
        reset_buckets();
    }
    place_in_order(moved);
}

}  // namespace darkscope
