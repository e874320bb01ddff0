// MaxMind DB enumeration: every network of the search tree exactly once, with the value the
// lookup of any address in it would give (libmaxminddb's own lookup is the reference the tests
// compare against).
#include <maxminddb.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_map>
#include <vector>

#include "darkscope/country.hpp"
#include "darkscope/geo_source.hpp"

namespace darkscope::geo {

namespace {

// Build epochs past the end of year 9999 are not dates: such a file is corrupt.
constexpr uint64_t kLastPlausibleEpoch = 253402300799ull;

class MmdbHandle {
  public:
    MmdbHandle() { std::memset(&db_, 0, sizeof db_); }
    ~MmdbHandle() {
        if (open_) {
            MMDB_close(&db_);
        }
    }
    MmdbHandle(const MmdbHandle&) = delete;
    MmdbHandle& operator=(const MmdbHandle&) = delete;

    int open(const std::string& path) {
        const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_);
        open_ = status == MMDB_SUCCESS;
        return status;
    }
    MMDB_s* get() { return &db_; }

  private:
    MMDB_s db_;
    bool open_ = false;
};

class EntryList {
  public:
    explicit EntryList(MMDB_entry_data_list_s* list) : list_(list) {}
    ~EntryList() { MMDB_free_entry_data_list(list_); }
    EntryList(const EntryList&) = delete;
    EntryList& operator=(const EntryList&) = delete;
    MMDB_entry_data_list_s* get() const { return list_; }

  private:
    MMDB_entry_data_list_s* list_;
};

bool valid_utf8(const char* text, uint32_t size) {
    const auto* p = reinterpret_cast<const unsigned char*>(text);
    uint32_t i = 0;
    while (i < size) {
        const unsigned char c = p[i];
        unsigned extra;
        uint32_t min_value;
        uint32_t value;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            min_value = 0x80;
            value = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            min_value = 0x800;
            value = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            min_value = 0x10000;
            value = c & 0x07;
        } else {
            return false;
        }
        if (size - i <= extra) {
            return false;
        }
        for (unsigned k = 1; k <= extra; ++k) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return false;
            }
            value = (value << 6) | (p[i + k] & 0x3f);
        }
        if (value < min_value || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

std::string date_of_epoch(uint64_t epoch) {
    const auto seconds = static_cast<time_t>(epoch);
    struct tm utc {};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
    return text;
}

// Decodes whole records (so every corruption libmaxminddb can see is seen at load, not at some
// later lookup) and extracts the value for the database kind. One decode per distinct record.
class RecordReader {
  public:
    RecordReader(Kind kind, LoadedFile* out) : kind_(kind), out_(out) {}

    // Returns false with *error set when the record is corrupt. *value is 0 when the record
    // has no usable field.
    bool value_of(MMDB_entry_s entry, uint32_t* value, std::string* error) {
        const auto cached = cache_.find(entry.offset);
        if (cached != cache_.end()) {
            *value = cached->second;
            return true;
        }
        MMDB_entry_data_list_s* raw_list = nullptr;
        const int status = MMDB_get_entry_data_list(&entry, &raw_list);
        EntryList list(raw_list);
        if (status != MMDB_SUCCESS) {
            *error = std::string(MMDB_strerror(status)) + " (data record at offset " +
                     std::to_string(entry.offset) + ")";
            return false;
        }
        for (auto* item = list.get(); item != nullptr; item = item->next) {
            if (item->entry_data.type == MMDB_DATA_TYPE_UTF8_STRING &&
                !valid_utf8(item->entry_data.utf8_string, item->entry_data.data_size)) {
                *error = "invalid UTF-8 in a string of the data record at offset " +
                         std::to_string(entry.offset);
                return false;
            }
        }
        *value = kind_ == Kind::country ? country_of(&entry) : asn_of(&entry);
        cache_.emplace(entry.offset, *value);
        return true;
    }

    bool any_value() const { return any_value_; }

  private:
    static bool get_string(MMDB_entry_s* entry, std::string* text, const char* a, const char* b) {
        MMDB_entry_data_s data;
        const int status = b != nullptr ? MMDB_get_value(entry, &data, a, b, nullptr)
                                        : MMDB_get_value(entry, &data, a, nullptr);
        if (status != MMDB_SUCCESS || !data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING) {
            return false;
        }
        text->assign(data.utf8_string, data.data_size);
        return true;
    }

    uint32_t country_of(MMDB_entry_s* entry) {
        // GeoLite2/GeoIP2: where the network is ("country"); for networks without one (anycast,
        // satellite) where it is registered. ip-location-db: a flat "country_code".
        std::string code;
        uint16_t index = kCountryUnknown;
        if (get_string(entry, &code, "country", "iso_code")) {
            index = country_index(code);
        }
        if (index == kCountryUnknown &&
            get_string(entry, &code, "registered_country", "iso_code")) {
            index = country_index(code);
        }
        if (index == kCountryUnknown && get_string(entry, &code, "country_code", nullptr)) {
            index = country_index(code);
        }
        any_value_ |= index != kCountryUnknown;
        return index;
    }

    uint32_t asn_of(MMDB_entry_s* entry) {
        MMDB_entry_data_s data;
        uint64_t asn = 0;
        if (MMDB_get_value(entry, &data, "autonomous_system_number", nullptr) == MMDB_SUCCESS &&
            data.has_data) {
            switch (data.type) {
                case MMDB_DATA_TYPE_UINT16:
                    asn = data.uint16;
                    break;
                case MMDB_DATA_TYPE_UINT32:
                    asn = data.uint32;
                    break;
                case MMDB_DATA_TYPE_INT32:
                    asn = data.int32 > 0 ? static_cast<uint64_t>(data.int32) : 0;
                    break;
                case MMDB_DATA_TYPE_UINT64:
                    asn = data.uint64;
                    break;
                case MMDB_DATA_TYPE_UTF8_STRING: {
                    std::string text(data.utf8_string, data.data_size);
                    if (text.size() > 2 && (text[0] == 'A' || text[0] == 'a') &&
                        (text[1] == 'S' || text[1] == 's')) {
                        text.erase(0, 2);
                    }
                    char* end = nullptr;
                    asn = std::strtoull(text.c_str(), &end, 10);
                    if (text.empty() || *end != '\0') {
                        asn = 0;
                    }
                    break;
                }
                default:
                    break;
            }
        }
        if (asn == 0 || asn > UINT32_MAX) {
            return 0;
        }
        any_value_ = true;
        const auto number = static_cast<uint32_t>(asn);
        std::string name;
        if (get_string(entry, &name, "autonomous_system_organization", nullptr)) {
            out_->asn_names.try_emplace(number, std::move(name));
        }
        return number;
    }

    Kind kind_;
    LoadedFile* out_;
    std::unordered_map<uint32_t, uint32_t> cache_;
    bool any_value_ = false;
};

// Depth-first walk of the search tree. Every node is visited once; a node reached twice (a
// cycle, or two parents) makes the tree corrupt, except the IPv4 root that IPv6 trees alias.
class TreeWalker {
  public:
    TreeWalker(MMDB_s* db, RecordReader* reader, LoadedFile* out)
        : db_(db), reader_(reader), out_(out), visited_(db->metadata.node_count, false) {}

    bool run(std::string* error) {
        const uint32_t node_count = db_->metadata.node_count;
        if (node_count == 0) {
            *error = "the search tree is empty";
            return false;
        }
        if (db_->metadata.ip_version == 4) {
            return walk(0, 0, 0, 32, /*ipv4=*/true, error) && all_reached(error);
        }
        // Where IPv4 lives: the node 96 zero bits down (libmaxminddb's ipv4_start_node).
        uint64_t record = 0;
        uint8_t record_type = MMDB_RECORD_TYPE_SEARCH_NODE;
        MMDB_entry_s record_entry{};
        unsigned depth = 0;
        for (; depth < 96 && record < node_count; ++depth) {
            MMDB_search_node_s node;
            const int status = MMDB_read_node(db_, static_cast<uint32_t>(record), &node);
            if (status != MMDB_SUCCESS) {
                *error = MMDB_strerror(status);
                return false;
            }
            record = node.left_record;
            record_type = node.left_record_type;
            record_entry = node.left_record_entry;
        }
        if (depth == 96 && record < node_count) {
            ipv4_root_ = record;
        }
        if (!walk(0, 0, 0, 128, /*ipv4=*/false, error)) {
            return false;
        }
        if (ipv4_root_ != kNoRoot) {
            return walk(static_cast<uint32_t>(ipv4_root_), 0, 0, 32, /*ipv4=*/true, error) &&
                   all_reached(error);
        }
        if (!all_reached(error)) {
            return false;
        }
        if (record_type == MMDB_RECORD_TYPE_DATA) {
            // The zero path ends above ::/96 in a data record: every IPv4 address maps to it.
            uint32_t value = 0;
            if (!reader_->value_of(record_entry, &value, error)) {
                return false;
            }
            if (value != 0) {
                out_->v4.push_back(Prefix4{0, 0, value});
            }
        }
        return true;
    }

  private:
    static constexpr uint64_t kNoRoot = UINT64_MAX;

    // A writer emits exactly the nodes of its tree: nodes no path reaches mean the node count
    // or the records are wrong.
    bool all_reached(std::string* error) const {
        const auto reached =
            static_cast<uint64_t>(std::count(visited_.begin(), visited_.end(), true));
        if (reached == visited_.size()) {
            return true;
        }
        *error = std::string(MMDB_strerror(MMDB_CORRUPT_SEARCH_TREE_ERROR)) + " (" +
                 std::to_string(visited_.size() - reached) + " of " +
                 std::to_string(visited_.size()) + " nodes are unreachable)";
        return false;
    }

    struct Pending {
        uint32_t node;
        uint8_t depth;
        uint128 prefix;
    };

    bool walk(uint32_t start, uint8_t start_depth, uint128 start_prefix, unsigned bits, bool ipv4,
              std::string* error) {
        const uint32_t node_count = db_->metadata.node_count;
        std::vector<Pending> stack;
        stack.push_back(Pending{start, start_depth, start_prefix});
        while (!stack.empty()) {
            const Pending at = stack.back();
            stack.pop_back();
            if (visited_[at.node]) {
                *error = std::string(MMDB_strerror(MMDB_CORRUPT_SEARCH_TREE_ERROR)) + " (node " +
                         std::to_string(at.node) + " is reached twice)";
                return false;
            }
            visited_[at.node] = true;
            MMDB_search_node_s node;
            const int status = MMDB_read_node(db_, at.node, &node);
            if (status != MMDB_SUCCESS) {
                *error = MMDB_strerror(status);
                return false;
            }
            const uint8_t depth = static_cast<uint8_t>(at.depth + 1);
            for (unsigned side = 0; side < 2; ++side) {
                const uint64_t record = side == 0 ? node.left_record : node.right_record;
                const uint8_t type = side == 0 ? node.left_record_type : node.right_record_type;
                MMDB_entry_s entry = side == 0 ? node.left_record_entry : node.right_record_entry;
                uint128 prefix = at.prefix;
                if (side == 1) {
                    prefix |= uint128{1} << (bits - depth);
                }
                switch (type) {
                    case MMDB_RECORD_TYPE_EMPTY:
                        break;
                    case MMDB_RECORD_TYPE_DATA: {
                        uint32_t value = 0;
                        if (!reader_->value_of(entry, &value, error)) {
                            return false;
                        }
                        if (value == 0) {
                            break;
                        }
                        if (ipv4) {
                            out_->v4.push_back(
                                Prefix4{static_cast<uint32_t>(prefix), depth, value});
                        } else {
                            out_->v6.push_back(Prefix6{prefix, depth, value});
                        }
                        break;
                    }
                    case MMDB_RECORD_TYPE_SEARCH_NODE:
                        if (!ipv4 && record == ipv4_root_) {
                            // ::/96 itself or an alias of it: IPv4 is enumerated once, from
                            // the IPv4 root, and these subtrees point the IPv6 table at it.
                            if (depth > 96) {
                                *error =
                                    std::string(MMDB_strerror(MMDB_CORRUPT_SEARCH_TREE_ERROR)) +
                                    " (IPv4 subtree below /96)";
                                return false;
                            }
                            out_->v6_ipv4_aliases.push_back(Prefix6{prefix, depth, 0});
                            break;
                        }
                        if (depth >= bits || record >= node_count) {
                            *error = std::string(MMDB_strerror(MMDB_CORRUPT_SEARCH_TREE_ERROR)) +
                                     " (tree deeper than the address)";
                            return false;
                        }
                        stack.push_back(Pending{static_cast<uint32_t>(record), depth, prefix});
                        break;
                    default:
                        *error = std::string(MMDB_strerror(MMDB_CORRUPT_SEARCH_TREE_ERROR)) +
                                 " (invalid record in node " + std::to_string(at.node) + ")";
                        return false;
                }
            }
        }
        return true;
    }

    MMDB_s* db_;
    RecordReader* reader_;
    LoadedFile* out_;
    std::vector<bool> visited_;
    uint64_t ipv4_root_ = kNoRoot;
};

}  // namespace

bool load_mmdb(const std::string& path, Kind kind, LoadedFile* out, std::string* error) {
    *out = LoadedFile{};
    out->path = path;
    out->kind = kind;
    out->format = "mmdb";
    auto fail = [&](const std::string& reason) {
        *error = path + ": " + reason;
        return false;
    };
    MmdbHandle handle;
    const int status = handle.open(path);
    if (status != MMDB_SUCCESS) {
        std::string reason = MMDB_strerror(status);
        if (status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR) {
            reason += std::string(" (") + std::strerror(errno) + ")";
        }
        return fail(reason);
    }
    MMDB_s* db = handle.get();
    // The metadata is decoded lazily by libmaxminddb; decode it all now.
    MMDB_entry_data_list_s* raw_metadata = nullptr;
    const int metadata_status = MMDB_get_metadata_as_entry_data_list(db, &raw_metadata);
    EntryList metadata(raw_metadata);
    if (metadata_status != MMDB_SUCCESS) {
        return fail(std::string("metadata: ") + MMDB_strerror(metadata_status));
    }
    if (db->metadata.ip_version != 4 && db->metadata.ip_version != 6) {
        return fail("metadata: ip_version " + std::to_string(db->metadata.ip_version) +
                    " is neither 4 nor 6");
    }
    if (db->metadata.build_epoch > kLastPlausibleEpoch) {
        return fail("metadata: build_epoch " + std::to_string(db->metadata.build_epoch) +
                    " is not a date");
    }
    out->build_date = date_of_epoch(db->metadata.build_epoch);
    if (db->metadata.database_type != nullptr) {
        out->database_type = db->metadata.database_type;
    }
    RecordReader reader(kind, out);
    TreeWalker walker(db, &reader, out);
    std::string reason;
    if (!walker.run(&reason)) {
        return fail(reason);
    }
    if (!reader.any_value()) {
        return fail(kind == Kind::country
                        ? "no record carries a country code (country.iso_code, "
                          "registered_country.iso_code or country_code): not a country database"
                        : "no record carries autonomous_system_number: not an ASN database");
    }
    return true;
}

}  // namespace darkscope::geo
