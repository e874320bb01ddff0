// Control plane of Attribution: finding or building the compiled image, RCU publication and
// retirement.
#include "darkscope/attribution.hpp"

#include <rte_log.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "darkscope/geo_image.hpp"
#include "darkscope/geo_source.hpp"
#include "darkscope/image_cache.hpp"

namespace darkscope {

using namespace attribution_detail;

struct Attribution::Built {
    std::unique_ptr<geo_image::Image> image;
    std::vector<FileInfo> files;
    std::vector<TableInfo> tables_info;
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
// disjoint pieces with the pair id of each, neighbours with the same pair joined.
template <typename Range, typename Piece, typename Address>
std::vector<Piece> overlay(const std::vector<Range>& country, const std::vector<Range>& asn,
                           Address max, PairTable* pairs) {
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
    return pieces;
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    struct tm utc {};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
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

namespace {

// The expensive path: loads every database and lays them into disjoint pieces with their
// (country, ASN) pair. On failure *error names the file.
bool build_content(const GeoConfig& config, geo_image::Content* content, std::string* error) {
    std::vector<geo::LoadedFile> countries;
    std::vector<geo::LoadedFile> asns;
    if (!load_kind(config.country_files, geo::Kind::country, &countries, error) ||
        !load_kind(config.asn_files, geo::Kind::asn, &asns, error)) {
        return false;
    }
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
            content->files.push_back(Attribution::FileInfo{file.path, geo::kind_name(file.kind),
                                                           file.format, file.build_date,
                                                           file.v4.size(), file.v6.size()});
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
                content->asn_names.try_emplace(asn, std::move(name));
            }
        }
    }
    PairTable pairs;
    content->v4 = overlay<geo::Range4, geo_image::Piece4, uint32_t>(
        geo::flatten(std::move(v4[0])), geo::flatten(std::move(v4[1])), 0xffffffffu, &pairs);
    content->v6 = overlay<geo::Range6, geo_image::Piece6, geo::uint128>(
        geo::flatten(std::move(v6[0])), geo::flatten(std::move(v6[1])), ~geo::uint128{0}, &pairs);
    content->pairs = pairs.take();
    for (auto& pair : content->pairs) {
        // Undo the escape: the pair keeps the real AS number.
        if ((pair.asn & kAliasFlag) != 0 && (pair.asn & kEscape) != 0) {
            pair.asn = escaped_asns[pair.asn & (kEscape - 1)];
        } else if ((pair.asn & kAliasFlag) != 0) {
            pair.asn_alias = static_cast<uint8_t>((pair.asn & 0xff) + 1);
            pair.asn = 0;
        }
    }
    if (content->pairs.size() >= kExtended) {
        *error = "too many distinct (country, ASN) pairs";
        return false;
    }
    return true;
}

}  // namespace

bool Attribution::reload(std::string* error) {
    // One reload at a time; status() and asn_name() stay answerable meanwhile.
    std::lock_guard<std::mutex> reloading(reload_mutex_);
    const auto started = std::chrono::steady_clock::now();
    std::string image_note;
    auto finish = [&](bool ok, const std::string& result) {
        std::lock_guard<std::mutex> lock(control_mutex_);
        status_.last_result = result;
        status_.last_reload_time = utc_now();
        status_.last_reload_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        ++(ok ? status_.reloads_ok : status_.reloads_failed);
        if (ok) {
            status_.image = image_note;
        }
        if (!ok && error != nullptr) {
            *error = result;
        }
        return ok;
    };

    // The databases as they are now: the image must have been built from exactly these bytes.
    std::vector<geo_image::Source> sources;
    std::string reason;
    for (const auto kind : {geo::Kind::country, geo::Kind::asn}) {
        for (const auto& path :
             kind == geo::Kind::country ? config_.country_files : config_.asn_files) {
            geo_image::Source source;
            std::error_code ignored;
            const std::string absolute =
                std::filesystem::absolute(path, ignored).lexically_normal().string();
            if (!geo_image::fingerprint(absolute, kind, &source, &reason)) {
                std::string why = reason.substr(std::min(reason.size(), absolute.size() + 2));
                return finish(false, path + ": " + why);
            }
            sources.push_back(std::move(source));
        }
    }

    auto built = std::make_unique<Built>();
    if (!sources.empty()) {
        const auto dirs = geo_image::cache_dirs(config_.cache_dir, sources);
        const std::string name = geo_image::image_name(sources);
        std::string refused;
        for (const auto& dir : dirs) {
            const std::string path = dir + "/" + name;
            built->image = geo_image::Image::open(path, sources, &reason,
                                                  config_.verify_image_sections
                                                      ? geo_image::Image::Verify::whole
                                                      : geo_image::Image::Verify::structure);
            if (built->image) {
                image_note = "mapped " + path;
                break;
            }
            if (reason != "absent") {
                refused += (refused.empty() ? "" : "; ") + reason;
            }
        }
        if (!built->image) {
            geo_image::Content content;
            content.sources = sources;
            if (!build_content(config_, &content, &reason)) {
                return finish(false, reason);
            }
            auto fresh = geo_image::Image::build(content, &reason);
            if (!fresh) {
                return finish(false, reason);
            }
            content = {};
            // Saved, then mapped from the file: its pages are then the page cache's, paged in
            // as lookups touch them, and shared with every other run.
            std::string unwritable;
            for (size_t d = 0; d < dirs.size() && !built->image; ++d) {
                const bool create = d != 0 || !config_.cache_dir.empty();
                const std::string path = dirs[d] + "/" + name;
                std::string why;
                if (!geo_image::writable_dir(dirs[d], create, &why) || !fresh->write(path, &why)) {
                    unwritable += (unwritable.empty() ? "" : "; ") + why;
                    continue;
                }
                built->image = geo_image::Image::open(path, sources, &why);
                if (built->image) {
                    image_note = "built from the databases, saved as " + path;
                } else {
                    unwritable += (unwritable.empty() ? "" : "; ") + why;
                }
            }
            if (!built->image) {
                built->image = std::move(fresh);
                image_note = "built in memory, not saved (" + unwritable + ")";
            }
            if (!refused.empty()) {
                image_note = "refused " + refused + "; " + image_note;
            }
        }
        RTE_LOG(NOTICE, USER1, "attribution image: %s\n", image_note.c_str());
        const geo_image::Image& image = *built->image;
        built->files = image.files();
        auto bytes = [&](std::initializer_list<geo_image::Section> sections) {
            size_t total = 0;
            for (const auto section : sections) {
                total += image.section_bytes(section);
            }
            return total;
        };
        built->tables_info = {
            TableInfo{"ipv4", image.tbl8_groups(), 4, bytes({geo_image::kTbl24, geo_image::kTbl8})},
            TableInfo{"ipv6", image.v6_ranges(), 4,
                      bytes({geo_image::kV6Hi, geo_image::kV6Lo, geo_image::kV6Ids,
                             geo_image::kV6Index, geo_image::kV6Nodes})}};
    }

    // Publish, then wait for every registered worker to pass a quiescent state: after that no
    // worker can still hold the old pointer.
    const Tables* published = built->image ? &built->image->tables() : nullptr;
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
    retired.reset();  // unmaps the old image
    return finish(true,
                  published != nullptr ? "ok" : "ok (no database configured: attribution is off)");
}

std::string Attribution::asn_name(uint32_t asn) const {
    std::lock_guard<std::mutex> lock(control_mutex_);
    if (!current_ || !current_->image) {
        return "";
    }
    return current_->image->asn_name(asn);
}

Attribution::Status Attribution::status() const {
    std::lock_guard<std::mutex> lock(control_mutex_);
    Status copy = status_;
    if (current_ && current_->image) {
        copy.files = current_->files;
        copy.memory_bytes = current_->image->bytes();
        copy.tables = current_->tables_info;
        copy.country_asn_pairs = current_->image->pair_count() - 1;
    }
    return copy;
}

}  // namespace darkscope
