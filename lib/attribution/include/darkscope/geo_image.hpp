// The compiled attribution image: the lookup tables of one set of databases in one flat,
// position-independent block of memory, written once to a file and mapped by every later run
// instead of being rebuilt from the .mmdb and CSV sources.
//
// Layout: a header (magic, format version, byte order, the file's size, a table of sections with
// their offsets, sizes and hashes, and a hash of the header itself), then page-aligned sections:
//   sources    the databases it was built from (kind, path, size, mtime, hash of the bytes)
//   tbl24      IPv4, 2^24 4-byte entries indexed by the top 24 bits: a pair index, or
//              kExtended | group for a /24 that holds several answers
//   tbl8       256-entry groups of pair indices, indexed by the last 8 bits
//   v6_hi/lo   IPv6: sorted starts of ranges covering the whole address space (hi and lo
//              64 bits apart, so the binary search walks a dense array)
//   v6_ids     pair index of each range
//   v6_index   per /16: the range holding its first address (2^16 + 1 bounds), then its child
//              node (2^16 entries, 0 = none); together they narrow the binary search
//   v6_nodes   the same for the 256 slices of the next 8 bits of a crowded window (257
//              bounds, 256 children each), down to /64 (attribution.hpp: Tables)
//   pairs      the distinct (country, ASN) answers; pairs[0] is unknown
//   names      AS names: sorted (asn, offset, length) into name_text
//   files      what status() reports of each database: one tab-separated line each
// An image is used only after every check has passed: magic, version, byte order, the header's
// hash, the file's size, every section inside the file, the sources' sizes and hashes against
// the files configured now, and every index in bounds (so no lookup can leave the image).
// Every section's hash is checked too where asked (Verify::whole: --geo-build-cache), not at
// each start: hashing the whole image cost more than the rest of the checks together, and an
// image is only ever written whole and renamed into place. Anything else is refused with the
// reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "darkscope/attribution.hpp"
#include "darkscope/geo_source.hpp"

namespace darkscope::geo_image {

inline constexpr uint32_t kVersion = 1;

enum Section : unsigned {
    kSources,
    kTbl24,
    kTbl8,
    kV6Hi,
    kV6Lo,
    kV6Ids,
    kV6Index,
    kV6Nodes,
    kPairs,
    kNames,
    kNameText,
    kFiles,
    kSectionCount
};

// A 64-bit hash of the bytes (four independent multiply-rotate lanes, so it runs at memory
// speed): detects changed sources and damaged images, not deliberate forgery.
uint64_t hash_bytes(const void* data, size_t bytes, uint64_t seed = 0);

// One database as the image knows it.
struct Source {
    std::string path;
    geo::Kind kind = geo::Kind::country;
    uint64_t bytes = 0;
    int64_t mtime_ns = 0;
    uint64_t hash = 0;
};

// Reads the file's size, modification time and hash. On failure *error is "PATH: reason".
bool fingerprint(const std::string& path, geo::Kind kind, Source* out, std::string* error);

// Disjoint, sorted pieces of the address space with their pair index (never 0).
struct Piece4 {
    uint32_t first, last;
    uint32_t id;
};
struct Piece6 {
    geo::uint128 first, last;
    uint32_t id;
};

// What an image is built from.
struct Content {
    std::vector<Source> sources;
    std::vector<Piece4> v4;
    std::vector<Piece6> v6;
    std::vector<attribution_detail::Pair> pairs;  // pairs[0] is unknown
    std::unordered_map<uint32_t, std::string> asn_names;
    std::vector<Attribution::FileInfo> files;
};

// A validated image in memory: a read-only private mapping of a file, or anonymous memory.
class Image {
  public:
    // Builds the image in anonymous memory. Fails only when memory cannot be had.
    static std::unique_ptr<Image> build(const Content& content, std::string* error);
    // What open() checks: everything but the sections' hashes (each start and reload), or
    // everything (--geo-build-cache).
    enum class Verify { structure, whole };
    // Maps and validates the file against the expected sources. nullptr with *reason when it is
    // absent (reason "absent"), foreign, truncated, damaged or built from other sources.
    static std::unique_ptr<Image> open(const std::string& path, const std::vector<Source>& expected,
                                       std::string* reason, Verify verify = Verify::structure);
    // Writes the image to PATH.tmp.<pid>.<serial> and renames it to PATH, so a reader sees the
    // old file or the whole new one, never part of one.
    bool write(const std::string& path, std::string* error) const;

    ~Image();
    Image(const Image&) = delete;
    Image& operator=(const Image&) = delete;

    const attribution_detail::Tables& tables() const { return tables_; }
    size_t bytes() const { return bytes_; }
    bool mapped_file() const { return file_; }
    uint32_t tbl8_groups() const;
    uint32_t v6_ranges() const;
    uint32_t pair_count() const;
    uint64_t section_bytes(Section s) const;
    std::string asn_name(uint32_t asn) const;  // "" when unknown
    std::vector<Attribution::FileInfo> files() const;

  private:
    Image(void* base, size_t bytes, bool file);
    const uint8_t* section(Section s) const;
    void point_tables();

    void* base_;
    size_t bytes_;
    bool file_;
    attribution_detail::Tables tables_;
};

}  // namespace darkscope::geo_image
