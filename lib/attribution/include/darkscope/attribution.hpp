// Source attribution: country and AS number of every source address, by bulk lookups in a
// compiled image of the databases (geo_image.hpp): DIR-24-8 for IPv4, sorted ranges for IPv6,
// in plain memory mapped from a file that is built once from the MaxMind DB or range CSV files.
//
// Threads: reload(), status() and asn_name() are the control plane (any thread, serialised
// inside). register_worker(), lookup_burst(), quiescent() and unregister_worker() are called by
// each worker thread with its own worker_id. Tables are published with an atomic pointer and
// retired with rte_rcu_qsbr: old tables are unmapped only after every registered worker has
// reported a quiescent state since the swap, so a lookup never touches unmapped memory.
#pragma once

#include <rte_memory.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "darkscope/country.hpp"
#include "darkscope/packet.hpp"

namespace darkscope {

struct GeoConfig {
    std::vector<std::string> country_files;  // .mmdb or range CSV; several merge
    std::vector<std::string> asn_files;
    unsigned max_workers = 1;  // worker ids are 0 .. max_workers-1
    // Where the compiled image lives (--geo-cache): "" means beside the first database, or the
    // per-user cache directory when that is not writable.
    std::string cache_dir;
    // Check every section's hash of a saved image before mapping it (--geo-build-cache); starts
    // and reloads check all else (darkscope/geo_image.hpp).
    bool verify_image_sections = false;
};

namespace attribution_detail {

// One table per family answers both questions: its entry indexes a table of distinct
// (country, ASN) pairs, so a packet costs one table lookup and one read of a small array.
struct Pair {
    uint32_t asn;
    uint16_t country;
    // IPv6 only: non-zero when this part of the address space aliases the IPv4 tree of a
    // MaxMind database (::/96, ::ffff:0:0/96, 2002::/16): the answer is the IPv4 answer for
    // the 32 bits that start at bit (alias - 1).
    uint8_t country_alias;
    uint8_t asn_alias;
};

// tbl24 entry flag: the low bits index a 256-entry tbl8 group instead of a pair.
inline constexpr uint32_t kExtended = 0x80000000u;

inline constexpr unsigned kChunk = 64;  // addresses per bulk pass

inline constexpr uint32_t kV6RootSlices = 1u << 16;
inline constexpr uint32_t kV6NodeWords = 257 + 256;

// What the data path reads: pointers into one image (geo_image.hpp). Immutable once published.
struct Tables {
    const uint32_t* tbl24 = nullptr;  // nullptr when no file has IPv4 networks
    const uint32_t* tbl8 = nullptr;
    // IPv6: the starts of ranges covering the whole space, sorted (hi and lo 64 bits apart);
    // the answer is the last range that starts at or before the address. An index narrows the
    // binary search: v6_index holds, for each /16, the range holding its first address
    // (kV6RootSlices + 1 bounds, so a /16's window ends where the next one starts), then a child
    // node per /16 (0: none). A window of more than a few dozen ranges gets a child node that
    // does the same for the 256 slices of the next 8 bits (kV6NodeWords: 257 bounds, then 256
    // children), down to /64.
    const uint64_t* v6_hi = nullptr;  // nullptr when no file has IPv6 networks
    const uint64_t* v6_lo = nullptr;
    const uint32_t* v6_ids = nullptr;
    const uint32_t* v6_index = nullptr;
    const uint32_t* v6_nodes = nullptr;  // node n (1-based) at (n - 1) * kV6NodeWords
    const Pair* pairs = nullptr;         // pairs[0] is unknown/AS0
};

// Pair index of an IPv4 address (t.tbl24 != nullptr).
inline uint32_t lookup_v4(const Tables& t, uint32_t ip) {
    uint32_t entry = t.tbl24[ip >> 8];
    if (__builtin_expect((entry & kExtended) != 0, 0)) {
        entry = t.tbl8[((entry & ~kExtended) << 8) | (ip & 0xff)];
    }
    return entry;
}

inline uint64_t load_be64(const uint8_t* bytes) {
    uint64_t value;
    std::memcpy(&value, bytes, 8);
    return __builtin_bswap64(value);
}

inline uint32_t embedded_ipv4(const uint8_t* v6, unsigned bit) {
    // Bits [bit, bit + 32) of the address, bit <= 96.
    uint64_t hi = 0;
    const unsigned first_byte = bit / 8;
    for (unsigned i = 0; i < 5 && first_byte + i < 16; ++i) {
        hi |= uint64_t{v6[first_byte + i]} << (32 - 8 * i);
    }
    return static_cast<uint32_t>(hi >> (8 - bit % 8));
}

}  // namespace attribution_detail

class Attribution {
  public:
    explicit Attribution(GeoConfig config);  // allocates the RCU state; loads nothing
    ~Attribution();
    Attribution(const Attribution&) = delete;
    Attribution& operator=(const Attribution&) = delete;

    // Loads every configured file and builds fresh tables off the data path, swaps them in,
    // waits until every registered worker has passed a quiescent state and frees the old ones.
    // On any failure the current tables stay and *error is one line naming the file. A config
    // with no files at all succeeds and switches attribution off.
    bool reload(std::string* error);
    bool enabled() const { return tables_.load(std::memory_order_acquire) != nullptr; }

    // --- worker side ---
    void register_worker(unsigned worker_id);
    void unregister_worker(unsigned worker_id);
    // Fills country and asn of facts[0..n); packets that are not IPv4/IPv6 get 0/0.
    inline void lookup_burst(unsigned worker_id, PacketFacts* facts, unsigned n);
    // The same for the n packets facts[which[0]], ..., facts[which[n - 1]] (n <= kChunk): the
    // worker looks up only the packets its source tuples do not answer for.
    inline void lookup_some(unsigned worker_id, PacketFacts* facts, const uint8_t* which,
                            unsigned n);
    // Once per loop iteration (also when idle): this worker holds no table pointer now.
    void quiescent(unsigned worker_id) { rte_rcu_qsbr_quiescent(qsbr_, worker_id); }

    // --- control plane ---
    std::string asn_name(uint32_t asn) const;  // "" when unknown
    struct FileInfo {
        std::string path, kind /*country|asn*/, format /*mmdb|csv*/, build_date;
        uint64_t networks_v4 = 0, networks_v6 = 0;  // prefixes loaded from the file
    };
    struct TableInfo {
        std::string name;     // "ipv4" (DIR-24-8) or "ipv6" (sorted ranges)
        uint64_t routes = 0;  // IPv4: tbl8 groups; IPv6: ranges
        unsigned next_hop_bytes = 0;
        size_t memory_bytes = 0;  // bytes of the image's sections for this family
    };
    struct Status {
        std::vector<FileInfo> files;
        std::vector<TableInfo> tables;
        uint64_t reloads_ok = 0, reloads_failed = 0;
        std::string last_result;       // "ok" or the error of the last reload
        std::string last_reload_time;  // UTC, ISO 8601
        double last_reload_seconds = 0;
        size_t memory_bytes = 0;         // size of the current image (mapped from its file)
        uint64_t country_asn_pairs = 0;  // distinct (country, ASN) answers in the tables
        // Where the current tables came from: "mapped PATH", "built from the databases, saved
        // as PATH" or "built in memory (...)", after the reason an image was refused if one was.
        std::string image;
    };
    Status status() const;

  private:
    struct Built;  // the image plus its control-plane data

    // The published tables, or empty ones when none are (one acquire load).
    inline const attribution_detail::Tables& current_tables() const;
    // Looks up facts[at(0)], ..., facts[at(n - 1)].
    template <typename At>
    void lookup_chunk(const attribution_detail::Tables& t, PacketFacts* facts, unsigned n, At at);
    // The rare IPv6 address inside an IPv4 alias subtree: one IPv4 lookup per aliased part.
    static attribution_detail::Pair resolve_alias(const attribution_detail::Tables& t,
                                                  const uint8_t* v6, attribution_detail::Pair pair);

    GeoConfig config_;
    rte_rcu_qsbr* qsbr_ = nullptr;
    std::atomic<const attribution_detail::Tables*> tables_{nullptr};

    std::mutex reload_mutex_;           // serialises reload()
    mutable std::mutex control_mutex_;  // guards what follows (held briefly)
    std::unique_ptr<Built> current_;
    Status status_;
};

inline attribution_detail::Pair Attribution::resolve_alias(const attribution_detail::Tables& t,
                                                           const uint8_t* v6,
                                                           attribution_detail::Pair pair) {
    auto ipv4_pair = [&](unsigned bit) {
        const uint32_t ip = attribution_detail::embedded_ipv4(v6, bit);
        return t.pairs[t.tbl24 != nullptr ? attribution_detail::lookup_v4(t, ip) : 0];
    };
    if (pair.country_alias != 0) {
        pair.country = ipv4_pair(pair.country_alias - 1u).country;
    }
    if (pair.asn_alias != 0) {
        pair.asn = ipv4_pair(pair.asn_alias - 1u).asn;
    }
    return pair;
}

template <typename At>
inline void Attribution::lookup_chunk(const attribution_detail::Tables& t, PacketFacts* facts,
                                      unsigned n, At at) {
    using namespace attribution_detail;
    uint32_t ip4[kChunk];
    uint16_t at4[kChunk];
    uint16_t at6[kChunk];
    unsigned n4 = 0;
    unsigned n6 = 0;
    for (unsigned j = 0; j < n; ++j) {
        const unsigned i = at(j);
        PacketFacts& f = facts[i];
        f.country = kCountryUnknown;
        f.asn = 0;
        if (f.ip_version == 4) {
            ip4[n4] = f.src.v4;
            at4[n4++] = static_cast<uint16_t>(i);
        } else if (f.ip_version == 6) {
            at6[n6++] = static_cast<uint16_t>(i);
        }
    }
    if (n4 != 0 && t.tbl24 != nullptr) {
        // The tbl24 entries are random lines of a 64 MiB table: ask for all of them first.
        for (unsigned k = 0; k < n4; ++k) {
            __builtin_prefetch(&t.tbl24[ip4[k] >> 8]);
        }
        for (unsigned k = 0; k < n4; ++k) {
            const Pair& pair = t.pairs[lookup_v4(t, ip4[k])];
            facts[at4[k]].country = pair.country;
            facts[at4[k]].asn = pair.asn;
        }
    }
    if (n6 != 0 && t.v6_hi != nullptr) {
        // The binary searches of the burst advance in step, so that their cache misses overlap
        // instead of following one another.
        uint64_t hi6[kChunk];
        uint32_t low[kChunk];
        uint32_t high[kChunk];
        for (unsigned k = 0; k < n6; ++k) {
            const uint64_t h = load_be64(facts[at6[k]].src.v6);
            hi6[k] = h;
            // Down the index while a slice has a child node (at most six levels, to /64).
            unsigned shift = 48;
            auto slice = static_cast<uint32_t>(h >> 48);
            const uint32_t* bounds = t.v6_index;
            uint32_t child = t.v6_index[kV6RootSlices + 1 + slice];
            while (child != 0 && shift != 0) {
                bounds = t.v6_nodes + size_t{child - 1} * kV6NodeWords;
                shift -= 8;
                slice = static_cast<uint32_t>(h >> shift) & 0xff;
                child = bounds[257 + slice];
            }
            low[k] = bounds[slice];
            high[k] = bounds[slice + 1];
        }
        for (bool searching = true; searching;) {
            searching = false;
            for (unsigned k = 0; k < n6; ++k) {
                if (low[k] < high[k]) {
                    const uint32_t mid = low[k] + (high[k] - low[k] + 1) / 2;
                    if (t.v6_hi[mid] <= hi6[k]) {
                        low[k] = mid;
                    } else {
                        high[k] = mid - 1;
                    }
                    searching = true;
                }
            }
        }
        for (unsigned k = 0; k < n6; ++k) {
            PacketFacts& f = facts[at6[k]];
            const uint64_t lo6 = load_be64(f.src.v6 + 8);
            uint32_t range = low[k];
            // Ranges that start inside the same /64: step back to the one that starts at or
            // before the address (range 0 starts at ::, so this ends).
            while (t.v6_hi[range] == hi6[k] && t.v6_lo[range] > lo6) {
                --range;
            }
            Pair pair = t.pairs[t.v6_ids[range]];
            if (__builtin_expect((pair.country_alias | pair.asn_alias) != 0, 0)) {
                pair = resolve_alias(t, f.src.v6, pair);
            }
            f.country = pair.country;
            f.asn = pair.asn;
        }
    }
}

inline const attribution_detail::Tables& Attribution::current_tables() const {
    // Without tables (attribution off), lookup_chunk gives every packet 0/0.
    static constexpr attribution_detail::Tables kNone{};
    const attribution_detail::Tables* t = tables_.load(std::memory_order_acquire);
    return __builtin_expect(t == nullptr, 0) ? kNone : *t;
}

inline void Attribution::lookup_burst(unsigned /*worker_id*/, PacketFacts* facts, unsigned n) {
    // One acquire load per burst; the tables are not kept past quiescent().
    const attribution_detail::Tables& t = current_tables();
    for (unsigned done = 0; done < n; done += attribution_detail::kChunk) {
        const unsigned count =
            n - done < attribution_detail::kChunk ? n - done : attribution_detail::kChunk;
        lookup_chunk(t, facts + done, count, [](unsigned j) { return j; });
    }
}

inline void Attribution::lookup_some(unsigned /*worker_id*/, PacketFacts* facts,
                                     const uint8_t* which, unsigned n) {
    lookup_chunk(current_tables(), facts, n, [which](unsigned j) { return unsigned{which[j]}; });
}

}  // namespace darkscope
