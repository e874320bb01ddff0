// Reading geolocation databases into plain prefix lists (control plane, off the data path).
// MaxMind DB files are enumerated with libmaxminddb's MMDB_read_node; range CSV files are split
// into prefixes. Attribution flattens the lists into ranges for its compiled image
// (geo_image.hpp); tests use them as is.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace darkscope::geo {

__extension__ using uint128 = unsigned __int128;

enum class Kind : uint8_t { country, asn };

const char* kind_name(Kind kind);

// value: country index (country.hpp) or AS number; never 0 (networks without a value are left
// out so they do not hide a less specific network of another file).
struct Prefix4 {
    uint32_t addr;  // host byte order, host bits clear
    uint8_t depth;
    uint32_t value;
};

struct Prefix6 {
    uint128 addr;  // most significant bit is the first bit of the address
    uint8_t depth;
    uint32_t value;
};

struct LoadedFile {
    std::string path;
    Kind kind = Kind::country;
    std::string format;         // "mmdb" or "csv"
    std::string build_date;     // mmdb: metadata build epoch; csv: file modification time
    std::string database_type;  // mmdb metadata database_type; "" for csv
    std::vector<Prefix4> v4;
    std::vector<Prefix6> v6;
    // IPv6 networks whose subtree is the IPv4 tree (::/96, and the aliases ::ffff:0:0/96 and
    // 2002::/16 that MaxMind writers add): an address in one of them is looked up as the IPv4
    // address in its 32 bits after `depth`. `value` is unused.
    std::vector<Prefix6> v6_ipv4_aliases;
    std::unordered_map<uint32_t, std::string> asn_names;  // asn kind only
};

// Loads a .mmdb (by content: the MaxMind metadata marker) or a range CSV. On failure returns
// false and sets *error to "PATH: reason" (one line); *out is then unspecified.
bool load_file(const std::string& path, Kind kind, LoadedFile* out, std::string* error);
bool load_mmdb(const std::string& path, Kind kind, LoadedFile* out, std::string* error);
bool load_csv(const std::string& path, Kind kind, LoadedFile* out, std::string* error);

// Smallest set of prefixes that covers exactly [first, last].
void range_to_prefixes(uint32_t first, uint32_t last, uint32_t value, std::vector<Prefix4>* out);
void range_to_prefixes(uint128 first, uint128 last, uint32_t value, std::vector<Prefix6>* out);

// The same lookup answers with the fewest disjoint prefixes: overlaps resolved (the most
// specific network wins; for the same network, the one earlier in the list), neighbouring
// networks with the same value joined, the result split into prefixes.
std::vector<Prefix4> normalize(std::vector<Prefix4> prefixes);
std::vector<Prefix6> normalize(std::vector<Prefix6> prefixes);

// The first step of normalize(): disjoint inclusive ranges, sorted, neighbours with the same
// value joined; addresses in no network are in no range.
struct Range4 {
    uint32_t first, last;
    uint32_t value;
};
struct Range6 {
    uint128 first, last;
    uint32_t value;
};
std::vector<Range4> flatten(std::vector<Prefix4> prefixes);
std::vector<Range6> flatten(std::vector<Prefix6> prefixes);

std::array<uint8_t, 16> to_bytes(uint128 addr);
uint128 from_bytes(const uint8_t* bytes);

}  // namespace darkscope::geo
