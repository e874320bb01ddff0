// The compiled attribution image: building it in memory, writing it atomically, mapping and
// validating it (format in darkscope/geo_image.hpp).
#include "darkscope/geo_image.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace darkscope::geo_image {

using attribution_detail::kExtended;
using attribution_detail::Pair;

namespace {

constexpr char kMagic[8] = {'D', 'S', 'G', 'E', 'O', 'I', 'M', 'G'};
constexpr uint64_t kByteOrder = 0x0102030405060708ull;
constexpr size_t kAlign = 4096;
constexpr uint32_t kTbl24Entries = 1u << 24;
using attribution_detail::kV6NodeWords;
using attribution_detail::kV6RootSlices;
constexpr uint32_t kV6IndexEntries = 2 * kV6RootSlices + 1;  // bounds, then children
// A window of more ranges than this gets a child node (a few steps of binary search are cheaper
// than another level of the index).
constexpr uint32_t kV6LeafRanges = 48;

struct SectionEntry {
    uint64_t offset, bytes, hash;
};

struct Header {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    uint64_t byte_order;
    uint64_t file_bytes;
    uint32_t tbl8_groups;
    uint32_t v6_ranges;
    uint32_t pair_count;
    uint32_t name_count;
    uint32_t source_count;
    uint32_t reserved;
    SectionEntry sections[kSectionCount];
    uint64_t header_hash;  // over the bytes before it
};

// Followed by the path's bytes, padded to 8.
struct SourceRecord {
    uint64_t bytes;
    int64_t mtime_ns;
    uint64_t hash;
    uint32_t kind;
    uint32_t path_bytes;
};

struct NameRecord {
    uint32_t asn, offset, bytes;
};

const char* section_name(unsigned s) {
    static const char* const names[kSectionCount] = {"sources", "tbl24",  "tbl8",      "v6_hi",
                                                     "v6_lo",   "v6_ids", "v6_index",  "v6_nodes",
                                                     "pairs",   "names",  "name_text", "files"};
    return names[s];
}

size_t align_up(size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
}

uint64_t rotl(uint64_t x, unsigned r) {
    return (x << r) | (x >> (64 - r));
}

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kP3 = 0x165667B19E3779F9ull;

uint64_t round(uint64_t acc, uint64_t word) {
    return rotl(acc + word * kP2, 31) * kP1;
}

uint64_t read64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

std::string hex(uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
    return text;
}

std::atomic<unsigned> g_temp_serial{0};

}  // namespace

uint64_t hash_bytes(const void* data, size_t bytes, uint64_t seed) {
    const auto* p = static_cast<const uint8_t*>(data);
    const uint8_t* const end = p + bytes;
    uint64_t v[4] = {seed + kP1 + kP2, seed + kP2, seed, seed - kP1};
    while (end - p >= 32) {
        for (int lane = 0; lane < 4; ++lane) {
            v[lane] = round(v[lane], read64(p + 8 * lane));
        }
        p += 32;
    }
    uint64_t h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
    h ^= bytes * kP3;
    while (end - p >= 8) {
        h = rotl(h ^ round(0, read64(p)), 27) * kP1 + kP3;
        p += 8;
    }
    while (p < end) {
        h = rotl(h ^ (uint64_t{*p++} * kP1), 11) * kP2;
    }
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    h ^= h >> 32;
    return h;
}

bool fingerprint(const std::string& path, geo::Kind kind, Source* out, std::string* error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0) {
        *error = path + ": " + std::strerror(errno);
        if (fd >= 0) {
            ::close(fd);
        }
        return false;
    }
    out->path = path;
    out->kind = kind;
    out->bytes = static_cast<uint64_t>(st.st_size);
    out->mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    // Read, not mapped: page-cache copies cost less than a fault per page. Blocks of 1 MiB,
    // each hashed with the previous block's hash as seed.
    std::vector<uint8_t> block(size_t{1} << 20);
    uint64_t hash = hash_bytes(nullptr, 0);
    for (;;) {
        size_t filled = 0;
        while (filled < block.size()) {
            const ssize_t n = ::read(fd, block.data() + filled, block.size() - filled);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                *error = path + ": " + std::strerror(errno);
                ::close(fd);
                return false;
            }
            if (n == 0) {
                break;
            }
            filled += static_cast<size_t>(n);
        }
        if (filled == 0) {
            break;
        }
        hash = hash_bytes(block.data(), filled, hash);
        if (filled < block.size()) {
            break;
        }
    }
    out->hash = hash;
    ::close(fd);
    return true;
}

Image::Image(void* base, size_t bytes, bool file) : base_(base), bytes_(bytes), file_(file) {
    point_tables();
}

Image::~Image() {
    munmap(base_, bytes_);
}

const uint8_t* Image::section(Section s) const {
    const auto* header = static_cast<const Header*>(base_);
    return static_cast<const uint8_t*>(base_) + header->sections[s].offset;
}

void Image::point_tables() {
    const auto* header = static_cast<const Header*>(base_);
    auto present = [&](Section s) { return header->sections[s].bytes != 0; };
    tables_ = {};
    if (present(kTbl24)) {
        tables_.tbl24 = reinterpret_cast<const uint32_t*>(section(kTbl24));
        tables_.tbl8 = reinterpret_cast<const uint32_t*>(section(kTbl8));
    }
    if (present(kV6Hi)) {
        tables_.v6_hi = reinterpret_cast<const uint64_t*>(section(kV6Hi));
        tables_.v6_lo = reinterpret_cast<const uint64_t*>(section(kV6Lo));
        tables_.v6_ids = reinterpret_cast<const uint32_t*>(section(kV6Ids));
        tables_.v6_index = reinterpret_cast<const uint32_t*>(section(kV6Index));
        tables_.v6_nodes = reinterpret_cast<const uint32_t*>(section(kV6Nodes));
    }
    tables_.pairs = reinterpret_cast<const Pair*>(section(kPairs));
}

uint32_t Image::tbl8_groups() const {
    return static_cast<const Header*>(base_)->tbl8_groups;
}
uint32_t Image::v6_ranges() const {
    return static_cast<const Header*>(base_)->v6_ranges;
}
uint64_t Image::section_bytes(Section s) const {
    return static_cast<const Header*>(base_)->sections[s].bytes;
}
uint32_t Image::pair_count() const {
    return static_cast<const Header*>(base_)->pair_count;
}

std::string Image::asn_name(uint32_t asn) const {
    const auto* header = static_cast<const Header*>(base_);
    const auto* names = reinterpret_cast<const NameRecord*>(section(kNames));
    const auto* end = names + header->name_count;
    const auto* found = std::lower_bound(
        names, end, asn, [](const NameRecord& r, uint32_t value) { return r.asn < value; });
    if (found == end || found->asn != asn) {
        return "";
    }
    return std::string(reinterpret_cast<const char*>(section(kNameText)) + found->offset,
                       found->bytes);
}

std::vector<Attribution::FileInfo> Image::files() const {
    const auto* header = static_cast<const Header*>(base_);
    const std::string text(reinterpret_cast<const char*>(section(kFiles)),
                           header->sections[kFiles].bytes);
    std::vector<Attribution::FileInfo> files;
    size_t at = 0;
    while (at < text.size()) {
        const size_t line_end = std::min(text.find('\n', at), text.size());
        std::vector<std::string> fields;
        size_t field = at;
        while (field <= line_end) {
            const size_t tab = std::min(text.find('\t', field), line_end);
            fields.push_back(text.substr(field, tab - field));
            field = tab + 1;
        }
        if (fields.size() == 6) {
            Attribution::FileInfo info{fields[0],
                                       fields[1],
                                       fields[2],
                                       fields[3],
                                       std::strtoull(fields[4].c_str(), nullptr, 10),
                                       std::strtoull(fields[5].c_str(), nullptr, 10)};
            files.push_back(std::move(info));
        }
        at = line_end + 1;
    }
    return files;
}

// ---- building ----

namespace {

// IPv4 pieces into DIR-24-8, in place: a /24 inside one piece (or one gap) is a direct entry;
// a /24 with a boundary inside gets a group. tbl24 and tbl8 are zeroed memory (tbl8 with room
// for two groups per piece, the most there can be); returns the number of groups used.
uint32_t fill_ipv4(const std::vector<Piece4>& pieces, uint32_t* tbl24, uint32_t* tbl8) {
    uint32_t groups = 0;
    auto group_of = [&](uint32_t block) {
        uint32_t& entry = tbl24[block];
        if ((entry & kExtended) == 0) {
            entry = kExtended | groups++;  // a new group: all its entries are still 0
        }
        return entry & ~kExtended;
    };
    for (const auto& piece : pieces) {
        uint64_t at = piece.first;
        while (at <= piece.last) {
            const auto block = static_cast<uint32_t>(at >> 8);
            const uint64_t block_end = (uint64_t{block} << 8) | 0xff;
            if ((at & 0xff) == 0 && block_end <= piece.last) {
                // Whole blocks up to the last one the piece covers entirely.
                const uint64_t last_block =
                    (piece.last & 0xff) == 0xff ? piece.last >> 8 : (piece.last >> 8) - 1;
                std::fill(tbl24 + block, tbl24 + last_block + 1, piece.id);
                at = (last_block + 1) << 8;
                continue;
            }
            uint32_t* group = tbl8 + (uint64_t{group_of(block)} << 8);
            const uint64_t end = std::min<uint64_t>(piece.last, block_end);
            std::fill(group + (at & 0xff), group + (end & 0xff) + 1, piece.id);
            at = end + 1;
        }
    }
    return groups;
}

// One level of the IPv6 index: slice s of the level covers base + (s << shift); bounds[s] is the
// range holding its first address, bounds[slices] = upper, the range where the level's window
// ends. A slice whose window holds more than kV6LeafRanges ranges gets a child node (while the
// next level's slices stay within the high 64 bits). store is the root index or the nodes
// (referred to by position: a child node grows the vector).
void index_level(const std::vector<geo::uint128>& starts, geo::uint128 base, unsigned shift,
                 uint32_t slices, uint32_t upper, std::vector<uint32_t>* store, size_t bounds_at,
                 size_t children_at, std::vector<uint32_t>* nodes) {
    for (uint32_t s = 0; s < slices; ++s) {
        const geo::uint128 key = base | (geo::uint128{s} << shift);
        const auto after = std::upper_bound(starts.begin(), starts.end(), key);
        (*store)[bounds_at + s] = static_cast<uint32_t>(after - starts.begin()) - 1;
    }
    (*store)[bounds_at + slices] = upper;
    if (shift < 72) {
        return;
    }
    for (uint32_t s = 0; s < slices; ++s) {
        const uint32_t low = (*store)[bounds_at + s];
        const uint32_t high = (*store)[bounds_at + s + 1];
        if (high - low <= kV6LeafRanges) {
            continue;
        }
        const size_t node_at = nodes->size();
        nodes->resize(node_at + kV6NodeWords, 0);
        (*store)[children_at + s] = static_cast<uint32_t>(node_at / kV6NodeWords) + 1;
        index_level(starts, base | (geo::uint128{s} << shift), shift - 8, 256, high, nodes, node_at,
                    node_at + 257, nodes);
    }
}

// IPv6 pieces into ranges covering everything (gaps become ranges of pair 0) and their index.
void fill_ipv6(const std::vector<Piece6>& pieces, std::vector<uint64_t>* hi,
               std::vector<uint64_t>* lo, std::vector<uint32_t>* ids, std::vector<uint32_t>* index,
               std::vector<uint32_t>* nodes) {
    std::vector<geo::uint128> starts;
    auto add = [&](geo::uint128 start, uint32_t id) {
        if (!ids->empty() && ids->back() == id) {
            return;
        }
        starts.push_back(start);
        ids->push_back(id);
    };
    geo::uint128 next = 0;
    bool wrapped = false;
    for (const auto& piece : pieces) {
        if (piece.first != next) {
            add(next, 0);
        }
        add(piece.first, piece.id);
        next = piece.last + 1;
        wrapped = piece.last == ~geo::uint128{0};
    }
    if (!wrapped) {
        add(next, 0);
    }
    for (const auto start : starts) {
        hi->push_back(static_cast<uint64_t>(start >> 64));
        lo->push_back(static_cast<uint64_t>(start));
    }
    index->assign(kV6IndexEntries, 0);
    index_level(starts, 0, 112, kV6RootSlices, static_cast<uint32_t>(starts.size()) - 1, index, 0,
                kV6RootSlices + 1, nodes);
}

template <typename T>
void append(std::vector<uint8_t>* out, const T& value) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
    out->insert(out->end(), bytes, bytes + sizeof(T));
}

}  // namespace

std::unique_ptr<Image> Image::build(const Content& content, std::string* error) {
    std::vector<uint32_t> v6_ids, v6_index, v6_nodes;
    std::vector<uint64_t> v6_hi, v6_lo;
    if (!content.v6.empty()) {
        fill_ipv6(content.v6, &v6_hi, &v6_lo, &v6_ids, &v6_index, &v6_nodes);
    }
    std::vector<uint8_t> sources;
    for (const auto& source : content.sources) {
        append(&sources, SourceRecord{source.bytes, source.mtime_ns, source.hash,
                                      static_cast<uint32_t>(source.kind),
                                      static_cast<uint32_t>(source.path.size())});
        sources.insert(sources.end(), source.path.begin(), source.path.end());
        sources.resize((sources.size() + 7) / 8 * 8, 0);
    }
    std::vector<std::pair<uint32_t, const std::string*>> sorted_names;
    for (const auto& [asn, name] : content.asn_names) {
        sorted_names.emplace_back(asn, &name);
    }
    std::sort(sorted_names.begin(), sorted_names.end());
    std::vector<NameRecord> names;
    std::string name_text;
    for (const auto& [asn, name] : sorted_names) {
        names.push_back(NameRecord{asn, static_cast<uint32_t>(name_text.size()),
                                   static_cast<uint32_t>(name->size())});
        name_text += *name;
    }
    std::string files;
    for (const auto& f : content.files) {
        files += f.path + '\t' + f.kind + '\t' + f.format + '\t' + f.build_date + '\t' +
                 std::to_string(f.networks_v4) + '\t' + std::to_string(f.networks_v6) + '\n';
    }

    // The IPv4 tables are filled in place (tbl24 is 64 MiB, tbl8 can be more), the others
    // copied. tbl8 goes last, so its final size (known once filled) moves nothing else.
    const bool v4 = !content.v4.empty();
    const uint64_t max_groups =
        std::min<uint64_t>(2 * uint64_t{content.v4.size()}, uint64_t{kTbl24Entries});
    std::pair<const void*, size_t> parts[kSectionCount] = {
        {sources.data(), sources.size()},
        {nullptr, v4 ? size_t{kTbl24Entries} * 4 : 0},
        {nullptr, v4 ? max_groups * 256 * 4 : 0},
        {v6_hi.data(), v6_hi.size() * 8},
        {v6_lo.data(), v6_lo.size() * 8},
        {v6_ids.data(), v6_ids.size() * 4},
        {v6_index.data(), v6_index.size() * 4},
        {v6_nodes.data(), v6_nodes.size() * 4},
        {content.pairs.data(), content.pairs.size() * sizeof(Pair)},
        {names.data(), names.size() * sizeof(NameRecord)},
        {name_text.data(), name_text.size()},
        {files.data(), files.size()},
    };
    Header header{};
    size_t at = align_up(sizeof(Header));
    for (const unsigned s : {kSources, kTbl24, kV6Hi, kV6Lo, kV6Ids, kV6Index, kV6Nodes, kPairs,
                             kNames, kNameText, kFiles, kTbl8}) {
        header.sections[s] = SectionEntry{at, parts[s].second, 0};
        at = align_up(at + parts[s].second);
    }
    const size_t reserved = at;
    void* base = mmap(nullptr, reserved, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        *error = std::string("attribution image: ") + std::strerror(errno) + " (" +
                 std::to_string(reserved >> 20) + " MiB)";
        return nullptr;
    }
    auto* bytes = static_cast<uint8_t*>(base);
    uint32_t groups = 0;
    if (v4) {
        groups = fill_ipv4(content.v4,
                           reinterpret_cast<uint32_t*>(bytes + header.sections[kTbl24].offset),
                           reinterpret_cast<uint32_t*>(bytes + header.sections[kTbl8].offset));
        header.sections[kTbl8].bytes = uint64_t{groups} * 256 * 4;
    }
    for (unsigned s = 0; s < kSectionCount; ++s) {
        SectionEntry& e = header.sections[s];
        if (parts[s].first != nullptr && parts[s].second != 0) {
            std::memcpy(bytes + e.offset, parts[s].first, parts[s].second);
        }
        e.hash = hash_bytes(bytes + e.offset, e.bytes, s);
    }
    std::memcpy(header.magic, kMagic, sizeof kMagic);
    header.version = kVersion;
    header.header_bytes = sizeof(Header);
    header.byte_order = kByteOrder;
    header.tbl8_groups = groups;
    header.v6_ranges = static_cast<uint32_t>(v6_ids.size());
    header.pair_count = static_cast<uint32_t>(content.pairs.size());
    header.name_count = static_cast<uint32_t>(names.size());
    header.source_count = static_cast<uint32_t>(content.sources.size());
    header.file_bytes = align_up(header.sections[kTbl8].offset + header.sections[kTbl8].bytes);
    header.header_hash = hash_bytes(&header, offsetof(Header, header_hash));
    std::memcpy(bytes, &header, sizeof header);
    if (header.file_bytes < reserved) {
        munmap(bytes + header.file_bytes, reserved - header.file_bytes);
    }
    mprotect(base, header.file_bytes, PROT_READ);
    return std::unique_ptr<Image>(new Image(base, header.file_bytes, false));
}

bool Image::write(const std::string& path, std::string* error) const {
    const std::string temp = path + ".tmp." + std::to_string(getpid()) + "." +
                             std::to_string(g_temp_serial.fetch_add(1));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        *error = temp + ": " + std::strerror(errno);
        return false;
    }
    // Pages of zeros are left as holes: a small database's image is mostly an empty tbl24.
    static const uint8_t kZeros[kAlign] = {};
    const auto* p = static_cast<const uint8_t*>(base_);
    bool ok = ftruncate(fd, static_cast<off_t>(bytes_)) == 0;
    for (size_t at = 0; ok && at < bytes_;) {
        if (std::memcmp(p + at, kZeros, kAlign) == 0) {
            at += kAlign;
            continue;
        }
        size_t end = at + kAlign;
        while (end < bytes_ && end - at < (size_t{1} << 24) &&
               std::memcmp(p + end, kZeros, kAlign) != 0) {
            end += kAlign;
        }
        while (at < end) {
            const ssize_t n = ::pwrite(fd, p + at, end - at, static_cast<off_t>(at));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                ok = false;
                break;
            }
            at += static_cast<size_t>(n);
        }
    }
    // Durable before it becomes visible under its name: a crash leaves the old image or none.
    ok = ok && fdatasync(fd) == 0;
    const int saved = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
        *error = temp + ": " + std::strerror(ok ? errno : saved);
        ::unlink(temp.c_str());
        return false;
    }
    return true;
}

// ---- mapping and validating ----

namespace {

std::string check_sources(const uint8_t* data, size_t bytes, uint32_t count,
                          const std::vector<Source>& expected) {
    if (count != expected.size()) {
        return "built from " + std::to_string(count) + " databases, " +
               std::to_string(expected.size()) + " configured";
    }
    size_t at = 0;
    for (const auto& want : expected) {
        SourceRecord record{};
        if (at + sizeof record > bytes) {
            return "sources section cut short";
        }
        std::memcpy(&record, data + at, sizeof record);
        at += sizeof record;
        if (at + record.path_bytes > bytes) {
            return "sources section cut short";
        }
        const std::string path(reinterpret_cast<const char*>(data + at), record.path_bytes);
        at = (at + record.path_bytes + 7) / 8 * 8;
        if (path != want.path || record.kind != static_cast<uint32_t>(want.kind)) {
            return "built from " + path + ", not " + want.path;
        }
        if (record.bytes != want.bytes) {
            return "stale: " + path + " is " + std::to_string(want.bytes) + " bytes, was " +
                   std::to_string(record.bytes);
        }
        if (record.hash != want.hash) {
            return "stale: " + path + " changed (hash " + hex(want.hash) + ", was " +
                   hex(record.hash) + ")";
        }
    }
    return "";
}

constexpr size_t kNone = ~size_t{0};

// The index of the first of `n` words for which bad() holds, or kNone.
template <typename Bad>
size_t first_failing(const uint32_t* words, size_t n, Bad bad) {
    constexpr size_t kBlock = 4096;
    for (size_t start = 0; start < n; start += kBlock) {
        const size_t end = std::min(n, start + kBlock);
        uint32_t any = 0;
        for (size_t i = start; i < end; ++i) {
            any |= bad(words[i]);
        }
        if (any != 0) {
            for (size_t i = start; i < end; ++i) {
                if (bad(words[i])) {
                    return i;
                }
            }
        }
    }
    return kNone;
}

// Every index the data path follows is in bounds: the image cannot send a lookup outside it.
std::string check_bounds(const Header& h, const uint8_t* base) {
    auto words = [&](Section s) {
        return reinterpret_cast<const uint32_t*>(base + h.sections[s].offset);
    };
    auto count = [&](Section s, size_t size) { return h.sections[s].bytes / size; };
    if (h.pair_count == 0 || h.sections[kPairs].bytes != uint64_t{h.pair_count} * sizeof(Pair)) {
        return "pairs section does not match its count";
    }
    const auto* pairs = reinterpret_cast<const Pair*>(base + h.sections[kPairs].offset);
    for (uint32_t i = 0; i < h.pair_count; ++i) {
        if (pairs[i].country_alias > 97 || pairs[i].asn_alias > 97) {
            return "pair " + std::to_string(i) + " has an impossible alias";
        }
    }
    if (h.sections[kTbl24].bytes != 0) {
        if (h.sections[kTbl24].bytes != uint64_t{kTbl24Entries} * 4 ||
            h.sections[kTbl8].bytes != uint64_t{h.tbl8_groups} * 256 * 4) {
            return "IPv4 sections do not match their counts";
        }
        // 16.8 M entries (and the groups' millions): checked a block at a time without a branch
        // per entry (the compiler vectorises it), the entry named only in a block that fails.
        const uint32_t* tbl24 = words(kTbl24);
        const uint32_t pair_count = h.pair_count, groups = h.tbl8_groups;
        auto tbl24_bad = [pair_count, groups](uint32_t e) -> uint32_t {
            // An extended entry names a group, any other a pair: its bound, without a branch.
            const uint32_t extended = 0u - (e >> 31);
            const uint32_t bound = pair_count ^ ((pair_count ^ groups) & extended);
            return (e & ~kExtended) >= bound;
        };
        if (const size_t i = first_failing(tbl24, kTbl24Entries, tbl24_bad); i != kNone) {
            return "tbl24 entry " + std::to_string(i) + " out of bounds";
        }
        const uint32_t* tbl8 = words(kTbl8);
        auto tbl8_bad = [pair_count](uint32_t e) -> uint32_t { return e >= pair_count; };
        if (const size_t i = first_failing(tbl8, count(kTbl8, 4), tbl8_bad); i != kNone) {
            return "tbl8 entry " + std::to_string(i) + " out of bounds";
        }
    } else if (h.sections[kTbl8].bytes != 0) {
        return "tbl8 without tbl24";
    }
    if (h.sections[kV6Hi].bytes != 0) {
        const uint64_t n = h.v6_ranges;
        if (n == 0 || h.sections[kV6Hi].bytes != n * 8 || h.sections[kV6Lo].bytes != n * 8 ||
            h.sections[kV6Ids].bytes != n * 4 ||
            h.sections[kV6Index].bytes != uint64_t{kV6IndexEntries} * 4) {
            return "IPv6 sections do not match their counts";
        }
        const auto* hi = reinterpret_cast<const uint64_t*>(base + h.sections[kV6Hi].offset);
        const auto* lo = reinterpret_cast<const uint64_t*>(base + h.sections[kV6Lo].offset);
        if (hi[0] != 0 || lo[0] != 0) {
            return "IPv6 ranges do not start at ::";
        }
        for (uint64_t i = 1; i < n; ++i) {
            if (hi[i] < hi[i - 1] || (hi[i] == hi[i - 1] && lo[i] <= lo[i - 1])) {
                return "IPv6 ranges out of order at " + std::to_string(i);
            }
        }
        const uint32_t* ids = words(kV6Ids);
        for (uint64_t i = 0; i < n; ++i) {
            if (ids[i] >= h.pair_count) {
                return "IPv6 range " + std::to_string(i) + " out of bounds";
            }
        }
        // The index: bounds are range indices in order; a child node comes after its parent,
        // so no walk down it can loop.
        if (h.sections[kV6Nodes].bytes % (uint64_t{kV6NodeWords} * 4) != 0) {
            return "IPv6 index nodes do not match their size";
        }
        const uint64_t nodes = h.sections[kV6Nodes].bytes / (uint64_t{kV6NodeWords} * 4);
        auto check_level = [&](const uint32_t* level, uint32_t slices, uint64_t self) {
            for (uint32_t i = 0; i <= slices; ++i) {
                if (level[i] >= n || (i != 0 && level[i] < level[i - 1])) {
                    return false;
                }
            }
            for (uint32_t i = 0; i < slices; ++i) {
                const uint32_t child = level[slices + 1 + i];
                if (child != 0 && (child <= self || child > nodes)) {
                    return false;
                }
            }
            return true;
        };
        if (!check_level(words(kV6Index), kV6RootSlices, 0)) {
            return "IPv6 index out of bounds";
        }
        for (uint64_t node = 0; node < nodes; ++node) {
            if (!check_level(words(kV6Nodes) + node * kV6NodeWords, 256, node + 1)) {
                return "IPv6 index node " + std::to_string(node + 1) + " out of bounds";
            }
        }
    } else if (h.v6_ranges != 0) {
        return "IPv6 ranges without their sections";
    }
    if (h.sections[kNames].bytes != uint64_t{h.name_count} * sizeof(NameRecord)) {
        return "names section does not match its count";
    }
    const auto* names = reinterpret_cast<const NameRecord*>(base + h.sections[kNames].offset);
    for (uint32_t i = 0; i < h.name_count; ++i) {
        if (uint64_t{names[i].offset} + names[i].bytes > h.sections[kNameText].bytes ||
            (i != 0 && names[i].asn <= names[i - 1].asn)) {
            return "AS name " + std::to_string(i) + " out of bounds";
        }
    }
    return "";
}

}  // namespace

std::unique_ptr<Image> Image::open(const std::string& path, const std::vector<Source>& expected,
                                   std::string* reason, Verify verify) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *reason = errno == ENOENT ? "absent" : path + ": " + std::strerror(errno);
        return nullptr;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        *reason = path + ": " + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    const auto size = static_cast<size_t>(st.st_size);
    if (size < sizeof(Header)) {
        ::close(fd);
        *reason =
            path + ": truncated or not an attribution image (" + std::to_string(size) + " bytes)";
        return nullptr;
    }
    // Populated at once: validation reads most pages (all with Verify::whole), and one call maps
    // them far cheaper than a fault each.
    void* base = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (base == MAP_FAILED) {
        *reason = path + ": " + std::strerror(errno);
        return nullptr;
    }
    auto refuse = [&](const std::string& why) {
        munmap(base, size);
        *reason = path + ": " + why;
        return nullptr;
    };
    Header h{};
    std::memcpy(&h, base, sizeof h);
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
        return refuse("not an attribution image (bad magic)");
    }
    if (h.version != kVersion || h.header_bytes != sizeof(Header) || h.byte_order != kByteOrder) {
        return refuse("image format " + std::to_string(h.version) + ", this darkscope reads " +
                      std::to_string(kVersion));
    }
    if (h.header_hash != hash_bytes(&h, offsetof(Header, header_hash))) {
        return refuse("damaged image header (hash mismatch)");
    }
    if (h.file_bytes != size) {
        return refuse("truncated image: " + std::to_string(size) + " bytes, header says " +
                      std::to_string(h.file_bytes));
    }
    for (unsigned s = 0; s < kSectionCount; ++s) {
        const SectionEntry& e = h.sections[s];
        if (e.offset % kAlign != 0 || e.offset > size || e.bytes > size - e.offset) {
            return refuse(std::string("section ") + section_name(s) + " outside the file");
        }
    }
    const auto* bytes = static_cast<const uint8_t*>(base);
    const std::string stale = check_sources(bytes + h.sections[kSources].offset,
                                            h.sections[kSources].bytes, h.source_count, expected);
    if (!stale.empty()) {
        return refuse(stale);
    }
    for (unsigned s = 0; verify == Verify::whole && s < kSectionCount; ++s) {
        const SectionEntry& e = h.sections[s];
        if (hash_bytes(bytes + e.offset, e.bytes, s) != e.hash) {
            return refuse(std::string("damaged section ") + section_name(s) + " (hash mismatch)");
        }
    }
    const std::string bounds = check_bounds(h, bytes);
    if (!bounds.empty()) {
        return refuse(bounds);
    }
    // Validated: let go of the pages, so that only those the lookups touch come back (from the
    // page cache) and count in the process's resident memory. Images are only ever replaced by
    // a rename, never written in place, so what comes back is what was checked.
    madvise(base, size, MADV_DONTNEED);
    return std::unique_ptr<Image>(new Image(base, size, true));
}

}  // namespace darkscope::geo_image
