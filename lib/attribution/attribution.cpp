// Control plane of Attribution: loading, table building, RCU publication and retirement.
#include "darkscope/attribution.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "darkscope/geo_source.hpp"

namespace darkscope {

using namespace attribution_detail;

struct Attribution::Built {
    Tables tables;
    std::vector<uint32_t> big_asn;
    std::unordered_map<uint32_t, std::string> asn_names;
    std::vector<FileInfo> files;
    size_t memory_bytes = 0;

    Built() = default;
    Built(const Built&) = delete;
    Built& operator=(const Built&) = delete;
    ~Built() {
        rte_fib_free(tables.country4);
        rte_fib_free(tables.asn4);
        rte_fib6_free(tables.country6);
        rte_fib6_free(tables.asn6);
    }
};

namespace {

std::atomic<unsigned> g_table_serial{0};

// Marks alias entries in the prefix lists (values are below 2^31).
constexpr uint32_t kAliasFlag = 0x80000000u;

size_t dpdk_heap_bytes() {
    size_t total = 0;
    const unsigned sockets = rte_socket_count();
    for (unsigned i = 0; i < sockets; ++i) {
        rte_malloc_socket_stats stats{};
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &stats) == 0) {
            total += stats.heap_allocsz_bytes;
        }
    }
    return total;
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    struct tm utc {};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

std::string dpdk_error(const char* what) {
    return std::string(what) + ": " + rte_strerror(rte_errno);
}

// tbl8 groups a DIR-24-8 table needs: one per /24 holding a longer prefix.
uint32_t tbl8_groups_v4(const std::vector<geo::Prefix4>& prefixes) {
    std::vector<uint32_t> blocks;
    for (const auto& p : prefixes) {
        if (p.depth > 24) {
            blocks.push_back(p.addr >> 8);
        }
    }
    std::sort(blocks.begin(), blocks.end());
    return static_cast<uint32_t>(std::unique(blocks.begin(), blocks.end()) - blocks.begin());
}

// tbl8 groups a TRIE reserves: rte_fib6_add reserves, for a prefix longer than /24, one group
// per byte between its covering route (at least /24) and itself, shared with nothing, and
// fails with ENOSPC past num_tbl8. Prefixes arrive sorted, so covering routes come first;
// this mirrors the reservation (an upper bound: DPDK skips it when a route already exists
// in the prefix's byte-aligned block).
uint64_t tbl8_groups_v6(const std::vector<geo::Prefix6>& sorted) {
    auto ceil8 = [](unsigned depth) { return (depth + 7) / 8 * 8; };
    auto contains = [](const geo::Prefix6& outer, const geo::Prefix6& inner) {
        if (outer.depth > inner.depth) {
            return false;
        }
        if (outer.depth == 0) {
            return true;
        }
        return (outer.addr ^ inner.addr) >> (128 - outer.depth) == 0;
    };
    std::vector<const geo::Prefix6*> enclosing;
    uint64_t groups = 0;
    const geo::Prefix6* previous = nullptr;
    for (const auto& p : sorted) {
        if (previous != nullptr && previous->addr == p.addr && previous->depth == p.depth) {
            continue;  // replaces the next hop, reserves nothing
        }
        previous = &p;
        while (!enclosing.empty() && !contains(*enclosing.back(), p)) {
            enclosing.pop_back();
        }
        if (p.depth > 24) {
            const unsigned parent =
                enclosing.empty() ? 24u : std::max<unsigned>(enclosing.back()->depth, 24u);
            groups += (ceil8(p.depth) - ceil8(parent)) / 8;
        }
        enclosing.push_back(&p);
    }
    return groups;
}

uint64_t with_slack(uint64_t groups) { return groups + groups / 16 + 64; }

// Next-hop width: 2 bytes while the values and the tbl8 indices fit (tbl8 indices are stored
// in the entries, so their count is bounded by the largest next hop), else 4 bytes.
bool fits_two_bytes(bool small_values, uint64_t tbl8_groups) {
    return small_values && tbl8_groups <= kCountryMaxNextHop;
}

bool build_fib4(const char* label, std::vector<geo::Prefix4>& prefixes, bool small_values,
                int socket_id, rte_fib** out, std::string* error) {
    if (prefixes.empty()) {
        return true;
    }
    std::stable_sort(prefixes.begin(), prefixes.end(), [](const auto& a, const auto& b) {
        return a.addr != b.addr ? a.addr < b.addr : a.depth < b.depth;
    });
    rte_fib_conf conf{};
    conf.type = RTE_FIB_DIR24_8;
    conf.default_nh = 0;
    conf.max_routes = static_cast<int>(prefixes.size() + 16);
    const uint64_t groups = with_slack(tbl8_groups_v4(prefixes));
    conf.dir24_8.nh_sz =
        fits_two_bytes(small_values, groups) ? RTE_FIB_DIR24_8_2B : RTE_FIB_DIR24_8_4B;
    conf.dir24_8.num_tbl8 = static_cast<uint32_t>(groups);
    const std::string name =
        std::string("ds_") + label + "_" + std::to_string(g_table_serial.fetch_add(1));
    rte_fib* fib = rte_fib_create(name.c_str(), socket_id, &conf);
    if (fib == nullptr) {
        *error = std::string("IPv4 ") + label + " table (" + std::to_string(prefixes.size()) +
                 " prefixes, " + std::to_string(groups) + " tbl8 groups): " +
                 dpdk_error("rte_fib_create");
        return false;
    }
    *out = fib;
    for (const auto& p : prefixes) {
        const int status = rte_fib_add(fib, p.addr, p.depth, p.value);
        if (status != 0) {
            *error = std::string("IPv4 ") + label + " table: rte_fib_add: " + rte_strerror(-status);
            return false;
        }
    }
    return true;
}

// Alias entries carry kAliasFlag | depth until the next-hop width, and so the marker base, is
// known; *alias_base receives it.
bool build_fib6(const char* label, std::vector<geo::Prefix6>& prefixes, bool small_values,
                int socket_id, rte_fib6** out, uint64_t* alias_base, std::string* error) {
    if (prefixes.empty()) {
        return true;
    }
    std::stable_sort(prefixes.begin(), prefixes.end(), [](const auto& a, const auto& b) {
        return a.addr != b.addr ? a.addr < b.addr : a.depth < b.depth;
    });
    rte_fib6_conf conf{};
    conf.type = RTE_FIB6_TRIE;
    conf.default_nh = 0;
    conf.max_routes = static_cast<int>(prefixes.size() + 16);
    const uint64_t groups = with_slack(tbl8_groups_v6(prefixes));
    if (groups > kAsnMaxNextHop) {
        *error = std::string("IPv6 ") + label + " table: too many long prefixes";
        return false;
    }
    const bool two_bytes = fits_two_bytes(small_values, groups);
    conf.trie.nh_sz = two_bytes ? RTE_FIB6_TRIE_2B : RTE_FIB6_TRIE_4B;
    conf.trie.num_tbl8 = static_cast<uint32_t>(groups);
    *alias_base = two_bytes ? kCountryAliasBase : kAsnAliasBase;
    const std::string name =
        std::string("ds_") + label + "6_" + std::to_string(g_table_serial.fetch_add(1));
    rte_fib6* fib = rte_fib6_create(name.c_str(), socket_id, &conf);
    if (fib == nullptr) {
        *error = std::string("IPv6 ") + label + " table (" + std::to_string(prefixes.size()) +
                 " prefixes, " + std::to_string(groups) + " tbl8 groups): " +
                 dpdk_error("rte_fib6_create");
        return false;
    }
    *out = fib;
    for (const auto& p : prefixes) {
        const auto bytes = geo::to_bytes(p.addr);
        const uint64_t value =
            (p.value & kAliasFlag) != 0 ? *alias_base + (p.value & 0xff) : p.value;
        const int status = rte_fib6_add(fib, bytes.data(), p.depth, value);
        if (status != 0) {
            *error =
                std::string("IPv6 ") + label + " table: rte_fib6_add: " + rte_strerror(-status);
            return false;
        }
    }
    return true;
}

// Loads the files of one kind; on failure *error names the file.
bool load_kind(const std::vector<std::string>& paths, geo::Kind kind,
               std::vector<geo::LoadedFile>* out, std::string* error) {
    out->resize(paths.size());
    // Files are independent: load them side by side (two files of a kind is the common case).
    std::vector<std::string> errors(paths.size());
    std::vector<char> ok(paths.size(), 0);
    std::vector<std::thread> threads;
    for (size_t i = 1; i < paths.size(); ++i) {
        threads.emplace_back(
            [&, i] { ok[i] = geo::load_file(paths[i], kind, &(*out)[i], &errors[i]); });
    }
    if (!paths.empty()) {
        ok[0] = geo::load_file(paths[0], kind, &(*out)[0], &errors[0]);
    }
    for (auto& thread : threads) {
        thread.join();
    }
    for (size_t i = 0; i < paths.size(); ++i) {
        if (!ok[i]) {
            *error = errors[i];
            return false;
        }
    }
    return true;
}

}  // namespace

Attribution::Attribution(GeoConfig config) : config_(std::move(config)) {
    if (config_.max_workers == 0) {
        config_.max_workers = 1;
    }
    const size_t size = rte_rcu_qsbr_get_memsize(config_.max_workers);
    const size_t rounded = (size + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE *
                           RTE_CACHE_LINE_SIZE;
    qsbr_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, rounded));
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, config_.max_workers) != 0) {
        std::free(qsbr_);
        throw std::runtime_error("attribution: cannot set up RCU for " +
                                 std::to_string(config_.max_workers) + " workers");
    }
}

Attribution::~Attribution() {
    // Workers are stopped by now: nothing reads the tables.
    tables_.store(nullptr, std::memory_order_release);
    current_.reset();
    std::free(qsbr_);
}

void Attribution::register_worker(unsigned worker_id) {
    rte_rcu_qsbr_thread_register(qsbr_, worker_id);
    rte_rcu_qsbr_thread_online(qsbr_, worker_id);
}

void Attribution::unregister_worker(unsigned worker_id) {
    rte_rcu_qsbr_thread_offline(qsbr_, worker_id);
    rte_rcu_qsbr_thread_unregister(qsbr_, worker_id);
}

bool Attribution::reload(std::string* error) {
    std::lock_guard<std::mutex> lock(control_mutex_);
    const auto started = std::chrono::steady_clock::now();
    auto finish = [&](bool ok, const std::string& result) {
        status_.last_result = result;
        status_.last_reload_time = utc_now();
        status_.last_reload_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        ++(ok ? status_.reloads_ok : status_.reloads_failed);
        if (!ok && error != nullptr) {
            *error = result;
        }
        return ok;
    };

    std::vector<geo::LoadedFile> countries;
    std::vector<geo::LoadedFile> asns;
    std::string reason;
    if (!load_kind(config_.country_files, geo::Kind::country, &countries, &reason) ||
        !load_kind(config_.asn_files, geo::Kind::asn, &asns, &reason)) {
        return finish(false, reason);
    }

    auto built = std::make_unique<Built>();
    const size_t heap_before = dpdk_heap_bytes();
    bool any = false;
    for (int kind = 0; kind < 2; ++kind) {
        std::vector<geo::LoadedFile>& files = kind == 0 ? countries : asns;
        const bool is_country = kind == 0;
        std::vector<geo::Prefix4> v4;
        std::vector<geo::Prefix6> v6;
        for (const auto& file : files) {
            built->files.push_back(FileInfo{file.path, geo::kind_name(file.kind), file.format,
                                            file.build_date, file.v4.size(), file.v6.size()});
        }
        std::unordered_map<uint32_t, uint32_t> big_asn_index;
        // For the same network the first file listed wins (normalize keeps the earlier entry);
        // otherwise the most specific network wins.
        for (auto it = files.begin(); it != files.end(); ++it) {
            for (const auto& alias : it->v6_ipv4_aliases) {
                v6.push_back(geo::Prefix6{alias.addr, alias.depth, kAliasFlag | alias.depth});
            }
            if (!is_country) {
                // Private 32-bit ASNs do not fit a 4-byte next hop: store an index instead.
                auto encode = [&](uint32_t& value) {
                    if (value >= kBigAsnBase) {
                        const auto [slot, added] = big_asn_index.try_emplace(
                            value, static_cast<uint32_t>(built->big_asn.size()));
                        if (added) {
                            built->big_asn.push_back(value);
                        }
                        value = static_cast<uint32_t>(kBigAsnBase + slot->second);
                    }
                };
                for (auto& p : it->v4) {
                    encode(p.value);
                }
                for (auto& p : it->v6) {
                    encode(p.value);
                }
                for (auto& [asn, name] : it->asn_names) {
                    built->asn_names.try_emplace(asn, std::move(name));
                }
            }
            v4.insert(v4.end(), it->v4.begin(), it->v4.end());
            v6.insert(v6.end(), it->v6.begin(), it->v6.end());
            it->v4 = {};
            it->v6 = {};
        }
        if (built->big_asn.size() >= kAsnAliasBase - kBigAsnBase) {
            return finish(false, "too many distinct AS numbers at or above 2^30");
        }
        any = any || !v4.empty() || !v6.empty();
        v4 = geo::normalize(std::move(v4));
        v6 = geo::normalize(std::move(v6));
        const char* label = is_country ? "country" : "asn";
        if (!build_fib4(label, v4, is_country, config_.socket_id,
                        is_country ? &built->tables.country4 : &built->tables.asn4, &reason) ||
            !build_fib6(label, v6, is_country, config_.socket_id,
                        is_country ? &built->tables.country6 : &built->tables.asn6,
                        is_country ? &built->tables.country6_alias_base
                                   : &built->tables.asn6_alias_base,
                        &reason)) {
            return finish(false, reason);
        }
    }
    const size_t heap_after = dpdk_heap_bytes();
    built->memory_bytes = heap_after > heap_before ? heap_after - heap_before : 0;
    built->tables.big_asn = built->big_asn.data();
    built->tables.big_asn_count = static_cast<uint32_t>(built->big_asn.size());

    // Publish, then wait for every registered worker to pass a quiescent state: after that no
    // worker can still hold the old pointer.
    const Tables* published = any ? &built->tables : nullptr;
    const Tables* old = tables_.exchange(published, std::memory_order_acq_rel);
    if (old != nullptr) {
        const uint64_t token = rte_rcu_qsbr_start(qsbr_);
        while (rte_rcu_qsbr_check(qsbr_, token, false) == 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }
    current_ = std::move(built);  // frees the old tables
    return finish(true, any ? "ok" : "ok (no database configured: attribution is off)");
}

std::string Attribution::asn_name(uint32_t asn) const {
    std::lock_guard<std::mutex> lock(control_mutex_);
    if (!current_) {
        return "";
    }
    const auto found = current_->asn_names.find(asn);
    return found == current_->asn_names.end() ? "" : found->second;
}

Attribution::Status Attribution::status() const {
    std::lock_guard<std::mutex> lock(control_mutex_);
    Status copy = status_;
    if (current_) {
        copy.files = current_->files;
        copy.memory_bytes = current_->memory_bytes;
    }
    return copy;
}

}  // namespace darkscope
