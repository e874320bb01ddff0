// Source attribution: country and AS number of every source address, by bulk lookups in DPDK
// FIBs (DIR-24-8 for IPv4, TRIE for IPv6) built from MaxMind DB or range CSV files.
//
// Threads: reload(), status() and asn_name() are the control plane (any thread, serialised
// inside). register_worker(), lookup_burst(), quiescent() and unregister_worker() are called by
// each worker thread with its own worker_id. Tables are published with an atomic pointer and
// retired with rte_rcu_qsbr: old tables are freed only after every registered worker has
// reported a quiescent state since the swap, so a lookup never touches freed memory.
#pragma once

#include <rte_fib.h>
#include <rte_fib6.h>
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
    int socket_id = SOCKET_ID_ANY;  // NUMA socket of the workers: table memory lives there
    unsigned max_workers = 1;       // worker ids are 0 .. max_workers-1
};

namespace attribution_detail {

// One FIB per family answers both questions: its next hop indexes a table of distinct
// (country, ASN) pairs, so a packet costs one FIB lookup and one read of a small array, and
// the tables hold one set of routes instead of two.
struct Pair {
    uint32_t asn;
    uint16_t country;
    // IPv6 only: non-zero when this part of the address space aliases the IPv4 tree of a
    // MaxMind database (::/96, ::ffff:0:0/96, 2002::/16): the answer is the IPv4 answer for
    // the 32 bits that start at bit (alias - 1).
    uint8_t country_alias;
    uint8_t asn_alias;
};

// Largest next hop of a 2-byte FIB (DPDK keeps one bit of the entry for itself).
inline constexpr uint64_t kTwoByteMaxNextHop = (uint64_t{1} << 15) - 1;
inline constexpr uint64_t kFourByteMaxNextHop = (uint64_t{1} << 31) - 1;

inline constexpr unsigned kChunk = 64;  // addresses per FIB bulk call

// What the data path reads. Immutable once published.
struct Tables {
    rte_fib* fib4 = nullptr;  // nullptr when no file has networks of that family
    rte_fib6* fib6 = nullptr;
    const Pair* pairs = nullptr;  // pairs[0] is unknown/AS0
};

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
        std::string name;     // "ipv4" (rte_fib DIR-24-8) or "ipv6" (rte_fib6 TRIE)
        uint64_t routes = 0;  // prefixes added (IPv6 includes the added covering routes)
        unsigned next_hop_bytes = 0;
        size_t memory_bytes = 0;  // DPDK memory: DIR-24-8/TRIE tables, tbl8 groups and RIB
    };
    struct Status {
        std::vector<FileInfo> files;
        std::vector<TableInfo> tables;
        uint64_t reloads_ok = 0, reloads_failed = 0;
        std::string last_result;       // "ok" or the error of the last reload
        std::string last_reload_time;  // UTC, ISO 8601
        double last_reload_seconds = 0;
        size_t memory_bytes = 0;         // DPDK memory of the current tables
        uint64_t country_asn_pairs = 0;  // distinct (country, ASN) answers in the tables
    };
    Status status() const;

  private:
    struct Built;  // tables plus their control-plane data

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
        uint32_t ip = attribution_detail::embedded_ipv4(v6, bit);
        uint64_t next_hop = 0;
        if (t.fib4 != nullptr) {
            rte_fib_lookup_bulk(t.fib4, &ip, &next_hop, 1);
        }
        return t.pairs[next_hop];
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
    uint8_t ip6[kChunk][RTE_FIB6_IPV6_ADDR_SIZE];
    uint16_t at6[kChunk];
    uint64_t next_hop[kChunk];
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
            std::memcpy(ip6[n6], f.src.v6, RTE_FIB6_IPV6_ADDR_SIZE);
            at6[n6++] = static_cast<uint16_t>(i);
        }
    }
    if (n4 != 0 && t.fib4 != nullptr) {
        rte_fib_lookup_bulk(t.fib4, ip4, next_hop, static_cast<int>(n4));
        for (unsigned k = 0; k < n4; ++k) {
            const Pair& pair = t.pairs[next_hop[k]];
            facts[at4[k]].country = pair.country;
            facts[at4[k]].asn = pair.asn;
        }
    }
    if (n6 != 0 && t.fib6 != nullptr) {
        rte_fib6_lookup_bulk(t.fib6, ip6, next_hop, static_cast<int>(n6));
        for (unsigned k = 0; k < n6; ++k) {
            Pair pair = t.pairs[next_hop[k]];
            if (__builtin_expect((pair.country_alias | pair.asn_alias) != 0, 0)) {
                pair = resolve_alias(t, ip6[k], pair);
            }
            facts[at6[k]].country = pair.country;
            facts[at6[k]].asn = pair.asn;
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
