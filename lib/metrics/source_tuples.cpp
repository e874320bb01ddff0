#include "darkscope/source_tuples.hpp"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace darkscope {

void count_tuples(CounterSet& t, const SourceTupleTable& tuples) {
    tuples.for_each([&](const SourceTuple& e) {
        count_source(t, hash_ipv4(e.src_v4()), e.key(), e.packets, e.bytes);
    });
    t.source_tuples += tuples.used();
}

namespace {

// The `k` keys with the most packets (ties: the smaller key), each with its row index, from
// (key << 32 | packets) values, one per tuple: sorted, so a key's tuples are adjacent and add
// up. Eight bytes per tuple, the least transient memory this control-plane step can take.
std::unordered_map<uint32_t, uint32_t> top_keys(std::vector<uint64_t>& keyed, uint32_t k) {
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::pair<uint64_t, uint32_t>> totals;  // (packets, key)
    for (size_t i = 0; i < keyed.size();) {
        const auto key = static_cast<uint32_t>(keyed[i] >> 32);
        uint64_t packets = 0;
        for (; i < keyed.size() && static_cast<uint32_t>(keyed[i] >> 32) == key; ++i)
            packets += static_cast<uint32_t>(keyed[i]);
        totals.emplace_back(packets, key);
    }
    auto larger = [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    };
    if (totals.size() > k) {
        std::nth_element(totals.begin(), totals.begin() + (k - 1), totals.end(), larger);
        totals.resize(k);
    }
    std::unordered_map<uint32_t, uint32_t> index;
    index.reserve(totals.size());
    for (const auto& [packets, key] : totals)
        index.emplace(key, static_cast<uint32_t>(index.size()));
    return index;
}

void add_tuple(SpaceSaving::ExactRow& r, const SourceTuple& e, const SourceTupleTable& tuples) {
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

}  // namespace

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
