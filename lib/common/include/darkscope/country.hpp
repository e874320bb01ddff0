// Country codes as small integers, and their names: the one definition every library and tool
// uses (attribution's loaders, the counters' per-country slots, telemetry's filters and rows,
// the summary, darkscope-tables for the Python tools). The index is computed from the two
// letters, so it needs no table, never changes across database reloads and can be stored in
// PacketFacts::country.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace darkscope {

// 0 is the unknown country "??"; "AA" is 1 and "ZZ" is 676.
inline constexpr uint16_t kCountryUnknown = 0;
inline constexpr uint16_t kCountryIndexMax = 26 * 26;
// Per-country arrays hold one slot per index: "??", then AA..ZZ.
inline constexpr unsigned kCountrySlots = kCountryIndexMax + 1u;

// Index of a two-letter code. Codes are read in either case ("jp" is "JP"): databases, CSV
// files and telemetry filters all parse through here. 0 for "??" and anything that is not two
// ASCII letters.
constexpr uint16_t country_index(std::string_view code) {
    if (code.size() != 2) {
        return kCountryUnknown;
    }
    unsigned letter[2];
    for (unsigned i = 0; i < 2; ++i) {
        char c = code[i];
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
        if (c < 'A' || c > 'Z') {
            return kCountryUnknown;
        }
        letter[i] = static_cast<unsigned>(c - 'A');
    }
    return static_cast<uint16_t>(letter[0] * 26 + letter[1] + 1);
}

// Two upper-case letters for an index, "??" for 0 or an index out of range.
std::string country_code(uint16_t index);

// Whether the name table knows the code of `index` (index 0 and unassigned codes: false).
bool country_known(uint16_t index);

// ISO 3166-1 English short name ("Japan"), the code itself for a code without a known name
// (for example the registries' "EU" and "AP" have names here, "XK" is Kosovo), and "Unknown"
// for index 0.
std::string_view country_name(uint16_t index);

}  // namespace darkscope
