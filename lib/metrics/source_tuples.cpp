#include "darkscope/source_tuples.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <vector>

namespace darkscope {

namespace {

uint64_t source_hash(const SourceTuple& e) {
    return hash_ipv4(e.src_v4());
}
uint64_t source_hash(const SourceTuple6& e) {
    return hash_ipv6(e.source);
}

// Counts the i-th of the n tuples of `tuples` (first-seen order). Tuples are fetched kAhead
// tuples before their turn, and their service index line kIndexAhead before, once the tuple's
// line has had time to arrive.
template <typename Table>
void count_tuple(CounterSet& t, const Table& tuples, uint32_t i, uint32_t n) {
    constexpr uint32_t kAhead = 4, kIndexAhead = 2;
    if (i + kAhead < n)
        __builtin_prefetch(&tuples.in_order(i + kAhead));
    if (i + kIndexAhead < n)
        prefetch_source_side(t, tuples.in_order(i + kIndexAhead).key());
    const auto& e = tuples.in_order(i);
    const SourceKey k = e.key();
    count_source(t, source_hash(e), k, e.packets, e.bytes);
    // The destinations of the packets the worker left to the tuple (TupleAdd::destination_held).
    ServiceCounts* service = resolve_service(t, k);
    Table::for_each_inline_destination(
        e, [&](uint64_t dst_hash) { count_destination_sketches(t, k, service, dst_hash); });
}

}  // namespace

void count_tuples(CounterSet& t, const SourceTupleTable& tuples) {
    const uint32_t n = tuples.used();
    for (uint32_t i = 0; i < n; ++i)
        count_tuple(t, tuples, i, n);
    t.source_tuples += n;
}

void count_tuples(CounterSet& t, const SourceTupleTable& tuples, const SourceTuple6Table& tuples6) {
    const uint32_t n4 = tuples.used(), n6 = tuples6.used();
    uint32_t i4 = 0, i6 = 0;
    while (i4 < n4 || i6 < n6) {
        const bool take4 =
            i6 == n6 || (i4 < n4 && tuples.in_order(i4).first_s <= tuples6.in_order(i6).first_s);
        if (take4)
            count_tuple(t, tuples, i4++, n4);
        else
            count_tuple(t, tuples6, i6++, n6);
    }
    t.source_tuples += n4 + n6;
}

namespace {

// The `k` keys with the most packets (ties: the smaller key), each with its row index in
// `Index` (a map from key to row), from one entry per tuple that key_of and packets_of read:
// sorted, so a key's tuples are adjacent and add up.
template <typename Index, typename Entry, typename KeyOf, typename PacketsOf>
Index largest_keys(std::vector<Entry>& keyed, uint32_t k, KeyOf key_of, PacketsOf packets_of) {
    using Key = typename Index::key_type;
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::pair<uint64_t, Key>> totals;  // (packets, key)
    for (size_t i = 0; i < keyed.size();) {
        const Key key = key_of(keyed[i]);
        uint64_t packets = 0;
        for (; i < keyed.size() && key_of(keyed[i]) == key; ++i)
            packets += packets_of(keyed[i]);
        totals.emplace_back(packets, key);
    }
    auto larger = [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    };
    if (totals.size() > k) {
        std::nth_element(totals.begin(), totals.begin() + (k - 1), totals.end(), larger);
        totals.resize(k);
    }
    Index index;
    if constexpr (requires { index.reserve(size_t{0}); })
        index.reserve(totals.size());
    for (const auto& [packets, key] : totals)
        index.emplace(key, static_cast<uint32_t>(index.size()));
    return index;
}

// IPv4: from (key << 32 | packets) values, eight bytes per tuple, the least transient memory
// this control-plane step can take.
std::unordered_map<uint32_t, uint32_t> top_keys(std::vector<uint64_t>& keyed, uint32_t k) {
    return largest_keys<std::unordered_map<uint32_t, uint32_t>>(
        keyed, k, [](uint64_t v) { return static_cast<uint32_t>(v >> 32); },
        [](uint64_t v) { return static_cast<uint32_t>(v); });
}

template <typename Tuple>
void add_tuple(SpaceSaving::ExactRow& r, const Tuple& e, const TupleTable<Tuple>& tuples) {
    if (r.packets == 0) {
        r.first_seen = e.first_s;
        r.last_seen = e.last_s;
    }
    r.packets += e.packets;
    r.bytes += e.bytes;
    r.first_seen = std::min<uint64_t>(r.first_seen, e.first_s);
    // The country and ASN of the latest packet, as per-packet updates leave them.
    if (e.last_s >= r.last_seen) {
        const SourceKey k = e.key();
        r.country = k.country;
        r.asn = k.asn;
    }
    r.last_seen = std::max<uint64_t>(r.last_seen, e.last_s);
    r.flags = static_cast<uint16_t>(r.flags | e.flags);
    tuples.destinations_into(e, r.destinations);
    r.services.add_hash(hash_value(e.talker_service()));
}

using Key128 = std::pair<uint64_t, uint64_t>;

// IPv6: from (key, packets) pairs.
std::map<Key128, uint32_t> top_keys6(std::vector<std::pair<Key128, uint32_t>>& keyed, uint32_t k) {
    return largest_keys<std::map<Key128, uint32_t>>(
        keyed, k, [](const auto& e) { return e.first; }, [](const auto& e) { return e.second; });
}

Key128 words_of(const HeavyKey& k) {
    return {k.words[0], k.words[1]};
}

}  // namespace

void load_talkers(const SourceTuple6Table& tuples, SpaceSaving& sources, SpaceSaving& prefixes) {
    // IPv6 tuples are few (a small share of darknet traffic, and a table 1/32 of the IPv4 one):
    // ordered maps are cheap enough here.
    std::vector<std::pair<Key128, uint32_t>> hosts, nets;
    hosts.reserve(tuples.used());
    nets.reserve(tuples.used());
    uint64_t total = 0;
    tuples.for_each([&](const SourceTuple6& e) {
        const IpAddress src = e.src();
        hosts.emplace_back(words_of(HeavyKey::host(src, 6)), e.packets);
        nets.emplace_back(words_of(HeavyKey::prefix(src, 6, 48)), e.packets);
        total += e.packets;
    });
    const auto top_sources = top_keys6(hosts, sources.capacity());
    const auto top_prefixes = top_keys6(nets, prefixes.capacity());
    std::vector<std::pair<Key128, uint32_t>>().swap(hosts);
    std::vector<std::pair<Key128, uint32_t>>().swap(nets);
    std::vector<SpaceSaving::ExactRow> source_rows(top_sources.size());
    std::vector<SpaceSaving::ExactRow> prefix_rows(top_prefixes.size());
    tuples.for_each([&](const SourceTuple6& e) {
        const IpAddress src = e.src();
        const HeavyKey host = HeavyKey::host(src, 6);
        if (auto it = top_sources.find(words_of(host)); it != top_sources.end()) {
            SpaceSaving::ExactRow& r = source_rows[it->second];
            r.key = host;
            add_tuple(r, e, tuples);
        }
        const HeavyKey net = HeavyKey::prefix(src, 6, 48);
        if (auto it = top_prefixes.find(words_of(net)); it != top_prefixes.end()) {
            SpaceSaving::ExactRow& r = prefix_rows[it->second];
            r.key = net;
            add_tuple(r, e, tuples);
            r.sources.add(src, 6, hash_ipv6(src.v6));
        }
    });
    sources.load_exact(source_rows, total);
    prefixes.load_exact(prefix_rows, total);
}

void load_talkers(const SourceTupleTable& tuples, SpaceSaving& sources, SpaceSaving& prefixes) {
    // Packets per source and per /24 first: only the largest keys need their full rows.
    // (A tuple's packets fit 32 bits: SourceTupleTable::add spills before they would not.)
    std::vector<uint64_t> keyed;
    keyed.reserve(tuples.used());
    uint64_t total = 0;
    tuples.for_each([&](const SourceTuple& e) {
        keyed.push_back(uint64_t{e.src_v4()} << 32 | e.packets);
        total += e.packets;
    });
    const auto top_sources = top_keys(keyed, sources.capacity());
    for (uint64_t& v : keyed)
        v &= ~(uint64_t{0xff} << 32);  // the source's /24
    const auto top_prefixes = top_keys(keyed, prefixes.capacity());
    std::vector<uint64_t>().swap(keyed);
    std::vector<SpaceSaving::ExactRow> source_rows(top_sources.size());
    std::vector<SpaceSaving::ExactRow> prefix_rows(top_prefixes.size());
    tuples.for_each([&](const SourceTuple& e) {
        const IpAddress src = e.src();
        if (auto it = top_sources.find(src.v4); it != top_sources.end()) {
            SpaceSaving::ExactRow& r = source_rows[it->second];
            r.key = HeavyKey::host(src, 4);
            add_tuple(r, e, tuples);
        }
        if (auto it = top_prefixes.find(src.v4 & 0xffffff00u); it != top_prefixes.end()) {
            SpaceSaving::ExactRow& r = prefix_rows[it->second];
            r.key = HeavyKey::prefix(src, 4, 24);
            add_tuple(r, e, tuples);
            r.sources.add(src, 4, hash_ipv4(src.v4));
        }
    });
    sources.load_exact(source_rows, total);
    prefixes.load_exact(prefix_rows, total);
}

}  // namespace darkscope
