// Control plane of Attribution: loading, table building, RCU publication and retirement.
#include "darkscope/attribution.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <algorithm>
#include <array>
#include <cerrno>
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
    std::vector<Pair> pairs;
    std::unordered_map<uint32_t, std::string> asn_names;
    std::vector<FileInfo> files;
    std::vector<TableInfo> tables_info;
    size_t memory_bytes = 0;

    Built() = default;
    Built(const Built&) = delete;
    Built& operator=(const Built&) = delete;
    ~Built() {
        rte_fib_free(tables.fib4);
        rte_fib6_free(tables.fib6);
    }
};

namespace {

std::atomic<unsigned> g_table_serial{0};

// Marks alias entries in the per-kind prefix lists: kAliasFlag | bit where the embedded IPv4
// address starts. Country indices are far below it; an AS number with this bit set (private
// range 2147483648..) would collide, so those are mapped through kAsnEscape.
constexpr uint32_t kAliasFlag = 0x80000000u;

// Distinct (country, ASN) answers; index 0 is unknown.
class PairTable {
  public:
    PairTable() { pairs_.push_back(Pair{0, 0, 0, 0}); }

    // country and asn are per-kind range values (0 = none, or kAliasFlag | bit).
    uint32_t id(uint32_t country, uint32_t asn) {
        const uint64_t key = (uint64_t{country} << 32) | asn;
        const auto [slot, added] = ids_.try_emplace(key, static_cast<uint32_t>(pairs_.size()));
        if (added) {
            Pair pair{0, 0, 0, 0};
            if ((country & kAliasFlag) != 0) {
                pair.country_alias = static_cast<uint8_t>((country & 0xff) + 1);
            } else {
                pair.country = static_cast<uint16_t>(country);
            }
            pair.asn = asn;  // resolved by the caller (escapes and alias marks)
            pairs_.push_back(pair);
        }
        return slot->second;
    }
    std::vector<Pair> take() { return std::move(pairs_); }

  private:
    std::vector<Pair> pairs_;
    std::unordered_map<uint64_t, uint32_t> ids_;
};

// Lays the ASN ranges over the country ranges (both sorted and disjoint) and returns the
// fewest prefixes whose next hop is the pair id of each piece.
template <typename Range, typename Prefix, typename Address>
std::vector<Prefix> overlay(const std::vector<Range>& country, const std::vector<Range>& asn,
                            Address max, PairTable* pairs) {
    struct Piece {
        Address first, last;
        uint32_t id;
    };
    std::vector<Piece> pieces;
    size_t i = 0;
    size_t j = 0;
    Address pos = 0;
    for (;;) {
        while (i < country.size() && country[i].last < pos) {
            ++i;
        }
        while (j < asn.size() && asn[j].last < pos) {
            ++j;
        }
        if (i == country.size() && j == asn.size()) {
            break;
        }
        const bool in_country = i < country.size() && country[i].first <= pos;
        const bool in_asn = j < asn.size() && asn[j].first <= pos;
        Address end = max;
        if (i < country.size()) {
            end = std::min<Address>(end, in_country ? country[i].last : country[i].first - 1);
        }
        if (j < asn.size()) {
            end = std::min<Address>(end, in_asn ? asn[j].last : asn[j].first - 1);
        }
        if (in_country || in_asn) {
            const uint32_t id =
                pairs->id(in_country ? country[i].value : 0, in_asn ? asn[j].value : 0);
            if (!pieces.empty() && pieces.back().id == id && pieces.back().last + 1 == pos) {
                pieces.back().last = end;
            } else {
                pieces.push_back(Piece{pos, end, id});
            }
        }
        if (end == max) {
            break;
        }
        pos = end + 1;
    }
    std::vector<Prefix> prefixes;
    for (const auto& piece : pieces) {
        geo::range_to_prefixes(piece.first, piece.last, piece.id, &prefixes);
    }
    return prefixes;
}

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

// A table that cannot be created is almost always one that does not fit the DPDK heap (a reload
// needs room for a second copy), yet rte_fib_create and rte_fib6_create can fail with an
// unrelated errno ("No such file or directory" was seen on a reload). So the error says what the
// heap has left and what to do first: telemetry clips a reply's strings at 127 bytes.
std::string create_error(const std::string& table, const char* what, const std::string& size) {
    size_t free_bytes = 0;
    const unsigned sockets = rte_socket_count();
    for (unsigned i = 0; i < sockets; ++i) {
        rte_malloc_socket_stats stats{};
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &stats) == 0)
            free_bytes += stats.heap_freesz_bytes;
    }
    return table + ": no room in the DPDK heap (" + std::to_string(free_bytes >> 20) +
           " MiB free): raise --memory or reserve more hugepages [" + dpdk_error(what) + "; " +
           size + "]";
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

// IPv6 route plan. rte_fib6_add (TRIE) refuses a prefix longer than /24 with ENOSPC unless
// num_tbl8 covers a reservation: one tbl8 group per byte between the prefix and its covering
// route (at least /24), waived when a longer route already exists in the prefix's byte-aligned
// block. Real data (hundreds of thousands of disjoint /29../64 networks) would reserve ten
// times the groups it uses. Covering routes with the default next hop (0, "unknown") change no
// answer but bring every reservation down to about one per group really used:
//   - at every byte boundary (/32, /40, ...) above a longer prefix, and
//   - one bit above each byte-aligned prefix (/47 for a /48), so that the prefix itself
//     reserves nothing and its siblings share the waiver.
// Input: routes sorted by address then length (possibly nested). Output: the routes to add, sorted,
// and the exact reservation of adding them in that order.
struct Plan6 {
    std::vector<geo::Prefix6> routes;
    uint64_t reserved_groups = 0;
};

geo::uint128 masked(geo::uint128 addr, unsigned depth) {
    return depth == 0 ? 0 : (addr >> (128 - depth)) << (128 - depth);
}

Plan6 plan_fib6(const std::vector<geo::Prefix6>& real) {
    struct Entry {
        geo::Prefix6 route;
        bool added;  // a covering route of this plan, not one of the input
    };
    std::vector<Entry> entries;
    entries.reserve(real.size() * 2);
    for (const auto& p : real) {
        entries.push_back(Entry{p, false});
    }
    for (const auto& p : real) {
        for (unsigned level = 32; level < p.depth; level += 8) {
            entries.push_back(
                Entry{geo::Prefix6{masked(p.addr, level), static_cast<uint8_t>(level), 0}, true});
        }
        if (p.depth > 24 && p.depth % 8 == 0) {
            entries.push_back(Entry{
                geo::Prefix6{masked(p.addr, p.depth - 1u), static_cast<uint8_t>(p.depth - 1), 0},
                true});
        }
    }
    // Sorted by address then length: covering routes go in before what they cover; an input
    // route goes before an added one for the same network, which is then dropped.
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.route.addr != b.route.addr) {
            return a.route.addr < b.route.addr;
        }
        if (a.route.depth != b.route.depth) {
            return a.route.depth < b.route.depth;
        }
        return !a.added && b.added;
    });
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](const Entry& a, const Entry& b) {
                                  return a.route.addr == b.route.addr &&
                                         a.route.depth == b.route.depth;
                              }),
                  entries.end());
    // An added route answers what the longest input route around it answers, so that no
    // lookup changes.
    Plan6 plan;
    plan.routes.reserve(entries.size());
    std::vector<const geo::Prefix6*> around;
    for (const auto& entry : entries) {
        while (!around.empty() &&
               masked(entry.route.addr, around.back()->depth) != around.back()->addr) {
            around.pop_back();
        }
        plan.routes.push_back(entry.route);
        if (entry.added) {
            plan.routes.back().value = around.empty() ? 0 : around.back()->value;
        } else {
            around.push_back(&entry.route);
        }
    }

    // Replay DPDK's reservation (lib/fib/trie.c, trie_modify) over the sorted routes.
    auto ceil8 = [](unsigned depth) { return (depth + 7) / 8 * 8; };
    std::vector<const geo::Prefix6*> enclosing;
    // Per byte-aligned block length, the last route added that is longer than that length:
    // in sorted order a block's routes are contiguous, so the last one is enough.
    std::array<const geo::Prefix6*, 17> last_longer{};
    for (const auto& p : plan.routes) {
        while (!enclosing.empty() &&
               masked(p.addr, enclosing.back()->depth) != enclosing.back()->addr) {
            enclosing.pop_back();
        }
        if (p.depth > 24) {
            const unsigned block = p.depth / 8 * 8;
            const geo::Prefix6* other = last_longer[block / 8];
            const bool waived =
                other != nullptr && masked(other->addr, block) == masked(p.addr, block);
            if (!waived) {
                const unsigned parent =
                    enclosing.empty() ? 24u : std::max<unsigned>(enclosing.back()->depth, 24u);
                plan.reserved_groups += (ceil8(p.depth) - ceil8(parent)) / 8;
            }
        }
        for (unsigned block = 0; block < p.depth && block <= 128; block += 8) {
            last_longer[block / 8] = &p;
        }
        enclosing.push_back(&p);
    }
    return plan;
}

uint64_t with_slack(uint64_t groups) {
    return groups + groups / 16 + 64;
}

// Next-hop width: 2 bytes while the values and the tbl8 indices fit (tbl8 indices are stored
// in the entries, so their count is bounded by the largest next hop), else 4 bytes.
bool fits_two_bytes(bool small_values, uint64_t tbl8_groups) {
    return small_values && tbl8_groups <= kTwoByteMaxNextHop;
}

bool build_fib4(const char* label, std::vector<geo::Prefix4>& prefixes, bool small_values,
                int socket_id, rte_fib** out, unsigned* next_hop_bytes, std::string* error) {
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
    *next_hop_bytes = conf.dir24_8.nh_sz == RTE_FIB_DIR24_8_2B ? 2 : 4;
    const std::string name =
        std::string("ds_") + label + "_" + std::to_string(g_table_serial.fetch_add(1));
    rte_fib* fib = rte_fib_create(name.c_str(), socket_id, &conf);
    if (fib == nullptr) {
        *error = create_error(std::string("IPv4 ") + label + " table", "rte_fib_create",
                              std::to_string(prefixes.size()) + " prefixes, " +
                                  std::to_string(groups) + " tbl8 groups");
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
                int socket_id, rte_fib6** out, uint64_t* routes, unsigned* next_hop_bytes,
                std::string* error) {
    if (prefixes.empty()) {
        return true;
    }
    const Plan6 plan = plan_fib6(prefixes);
    prefixes = {};
    *routes = plan.routes.size();
    // The replay is exact for DPDK 22.11; should another version reserve more, retry bigger.
    uint64_t groups = with_slack(plan.reserved_groups);
    for (int attempt = 0;; ++attempt) {
        if (groups > kFourByteMaxNextHop) {
            *error = std::string("IPv6 ") + label + " table: too many long prefixes";
            return false;
        }
        rte_fib6_conf conf{};
        conf.type = RTE_FIB6_TRIE;
        conf.default_nh = 0;
        conf.max_routes = static_cast<int>(plan.routes.size() + 16);
        const bool two_bytes = fits_two_bytes(small_values, groups);
        conf.trie.nh_sz = two_bytes ? RTE_FIB6_TRIE_2B : RTE_FIB6_TRIE_4B;
        conf.trie.num_tbl8 = static_cast<uint32_t>(groups);
        *next_hop_bytes = two_bytes ? 2 : 4;
        const std::string name =
            std::string("ds_") + label + "6_" + std::to_string(g_table_serial.fetch_add(1));
        rte_fib6* fib = rte_fib6_create(name.c_str(), socket_id, &conf);
        if (fib == nullptr) {
            *error = create_error(std::string("IPv6 ") + label + " table", "rte_fib6_create",
                                  std::to_string(plan.routes.size()) + " routes, " +
                                      std::to_string(groups) + " tbl8 groups");
            return false;
        }
        int status = 0;
        for (const auto& p : plan.routes) {
            const auto bytes = geo::to_bytes(p.addr);
            status = rte_fib6_add(fib, bytes.data(), p.depth, p.value);
            if (status != 0) {
                break;
            }
        }
        if (status == 0) {
            *out = fib;
            return true;
        }
        rte_fib6_free(fib);
        if (status != -ENOSPC || attempt == 2) {
            *error =
                std::string("IPv6 ") + label + " table: rte_fib6_add: " + rte_strerror(-status);
            return false;
        }
        groups *= 2;
    }
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
    const size_t rounded =
        (size + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE;
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
    // One reload at a time; status() and asn_name() stay answerable meanwhile.
    std::lock_guard<std::mutex> reloading(reload_mutex_);
    const auto started = std::chrono::steady_clock::now();
    auto finish = [&](bool ok, const std::string& result) {
        std::lock_guard<std::mutex> lock(control_mutex_);
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
    // AS numbers with the top bit set would read as alias marks: they travel as an escape
    // (kAliasFlag | kEscape | index) and come back when the pair table is made.
    constexpr uint32_t kEscape = 0x40000000u;
    std::unordered_map<uint32_t, uint32_t> escaped;
    std::vector<uint32_t> escaped_asns;
    auto escape = [&](uint32_t& value) {
        if ((value & kAliasFlag) != 0) {
            const auto [slot, added] =
                escaped.try_emplace(value, static_cast<uint32_t>(escaped_asns.size()));
            if (added) {
                escaped_asns.push_back(value);
            }
            value = kAliasFlag | kEscape | slot->second;
        }
    };
    // Per kind and family: all networks of the kind's files, then flattened to disjoint
    // ranges (the most specific network wins; for the same network the first file listed).
    std::vector<geo::Prefix4> v4[2];
    std::vector<geo::Prefix6> v6[2];
    for (int kind = 0; kind < 2; ++kind) {
        for (auto& file : kind == 0 ? countries : asns) {
            built->files.push_back(FileInfo{file.path, geo::kind_name(file.kind), file.format,
                                            file.build_date, file.v4.size(), file.v6.size()});
            if (kind == 1) {
                for (auto& p : file.v4) {
                    escape(p.value);
                }
                for (auto& p : file.v6) {
                    escape(p.value);
                }
            }
            for (const auto& alias : file.v6_ipv4_aliases) {
                v6[kind].push_back(geo::Prefix6{alias.addr, alias.depth, kAliasFlag | alias.depth});
            }
            v4[kind].insert(v4[kind].end(), file.v4.begin(), file.v4.end());
            v6[kind].insert(v6[kind].end(), file.v6.begin(), file.v6.end());
            file.v4 = {};
            file.v6 = {};
            for (auto& [asn, name] : file.asn_names) {
                built->asn_names.try_emplace(asn, std::move(name));
            }
        }
    }
    PairTable pairs;
    const bool any = !v4[0].empty() || !v4[1].empty() || !v6[0].empty() || !v6[1].empty();
    // Fewest routes (the FIB's RIB costs hundreds of bytes per route): ORTC over the pieces.
    auto prefixes4 = geo::compress(overlay<geo::Range4, geo::Prefix4, uint32_t>(
        geo::flatten(std::move(v4[0])), geo::flatten(std::move(v4[1])), 0xffffffffu, &pairs));
    auto prefixes6 = geo::compress(overlay<geo::Range6, geo::Prefix6, geo::uint128>(
        geo::flatten(std::move(v6[0])), geo::flatten(std::move(v6[1])), ~geo::uint128{0}, &pairs));
    built->pairs = pairs.take();
    for (auto& pair : built->pairs) {
        // Undo the escape: the pair keeps the real AS number.
        if ((pair.asn & kAliasFlag) != 0 && (pair.asn & kEscape) != 0) {
            pair.asn = escaped_asns[pair.asn & (kEscape - 1)];
        } else if ((pair.asn & kAliasFlag) != 0) {
            pair.asn_alias = static_cast<uint8_t>((pair.asn & 0xff) + 1);
            pair.asn = 0;
        }
    }
    if (built->pairs.size() > kFourByteMaxNextHop) {
        return finish(false, "too many distinct (country, ASN) pairs");
    }
    const bool small = built->pairs.size() - 1 <= kTwoByteMaxNextHop;

    const size_t heap_before = dpdk_heap_bytes();
    TableInfo info4{"ipv4", prefixes4.size(), 0, dpdk_heap_bytes()};
    if (!build_fib4("geo", prefixes4, small, config_.socket_id, &built->tables.fib4,
                    &info4.next_hop_bytes, &reason)) {
        return finish(false, reason);
    }
    info4.memory_bytes = dpdk_heap_bytes() - info4.memory_bytes;
    TableInfo info6{"ipv6", 0, 0, dpdk_heap_bytes()};
    if (!build_fib6("geo", prefixes6, small, config_.socket_id, &built->tables.fib6, &info6.routes,
                    &info6.next_hop_bytes, &reason)) {
        return finish(false, reason);
    }
    info6.memory_bytes = dpdk_heap_bytes() - info6.memory_bytes;
    built->tables_info = {info4, info6};
    const size_t heap_after = dpdk_heap_bytes();
    built->memory_bytes = (heap_after > heap_before ? heap_after - heap_before : 0) +
                          built->pairs.size() * sizeof(Pair);
    built->tables.pairs = built->pairs.data();

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
    std::unique_ptr<Built> retired;
    {
        std::lock_guard<std::mutex> lock(control_mutex_);
        retired = std::move(current_);
        current_ = std::move(built);
    }
    retired.reset();  // frees the old tables (outside the lock: freeing a RIB takes a while)
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
        copy.tables = current_->tables_info;
        copy.country_asn_pairs = current_->pairs.size() - 1;
    }
    return copy;
}

}  // namespace darkscope
