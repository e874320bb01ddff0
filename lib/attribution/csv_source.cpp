// Range CSV files as ip-location-db publishes them: `start,end,value[,...]`, one inclusive range
// per line, addresses as text (1.0.0.0, 2001:200::) or as decimal numbers (the *-num.csv files).
#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "darkscope/country.hpp"
#include "darkscope/geo_source.hpp"

namespace darkscope::geo {

const char* kind_name(Kind kind) {
    return kind == Kind::country ? "country" : "asn";
}

std::array<uint8_t, 16> to_bytes(uint128 addr) {
    std::array<uint8_t, 16> bytes;
    for (int i = 15; i >= 0; --i) {
        bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(addr);
        addr >>= 8;
    }
    return bytes;
}

uint128 from_bytes(const uint8_t* bytes) {
    uint128 addr = 0;
    for (int i = 0; i < 16; ++i) {
        addr = (addr << 8) | bytes[i];
    }
    return addr;
}

void range_to_prefixes(uint32_t first, uint32_t last, uint32_t value, std::vector<Prefix4>* out) {
    uint64_t at = first;
    const uint64_t end = last;
    while (at <= end) {
        // The largest aligned block that starts here and does not pass the end.
        unsigned size_bits = at == 0 ? 32 : static_cast<unsigned>(__builtin_ctzll(at));
        if (size_bits > 32) {
            size_bits = 32;
        }
        while (at + (uint64_t{1} << size_bits) - 1 > end) {
            --size_bits;
        }
        out->push_back(
            Prefix4{static_cast<uint32_t>(at), static_cast<uint8_t>(32 - size_bits), value});
        at += uint64_t{1} << size_bits;
    }
}

void range_to_prefixes(uint128 first, uint128 last, uint32_t value, std::vector<Prefix6>* out) {
    const uint128 all_ones = ~uint128{0};
    if (first == 0 && last == all_ones) {
        out->push_back(Prefix6{0, 0, value});
        return;
    }
    uint128 at = first;
    for (;;) {
        unsigned size_bits = 0;
        if (at == 0) {
            size_bits = 127;  // the whole space was handled above
        } else {
            const auto low = static_cast<uint64_t>(at);
            size_bits =
                low != 0
                    ? static_cast<unsigned>(__builtin_ctzll(low))
                    : 64 + static_cast<unsigned>(__builtin_ctzll(static_cast<uint64_t>(at >> 64)));
        }
        // Block [at, at + 2^size_bits - 1] must end at or before `last`.
        while ((last - at) < ((uint128{1} << size_bits) - 1)) {
            --size_bits;
        }
        out->push_back(Prefix6{at, static_cast<uint8_t>(128 - size_bits), value});
        const uint128 block_last = at + ((uint128{1} << size_bits) - 1);
        if (block_last == last) {
            return;
        }
        at = block_last + 1;
    }
}

namespace {

// Splits one CSV line into fields; double quotes protect commas and "" is a quote.
bool split_csv(std::string_view line, std::vector<std::string>* fields) {
    fields->clear();
    std::string field;
    bool quoted = false;
    bool was_quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < line.size() && line[i + 1] == '"') {
                    field.push_back('"');
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                field.push_back(c);
            }
        } else if (c == '"' && field.empty() && !was_quoted) {
            quoted = true;
            was_quoted = true;
        } else if (c == ',') {
            fields->push_back(std::move(field));
            field.clear();
            was_quoted = false;
        } else {
            field.push_back(c);
        }
    }
    if (quoted) {
        return false;
    }
    fields->push_back(std::move(field));
    return true;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

bool parse_decimal(std::string_view text, uint128* value) {
    if (text.empty() || text.size() > 39) {
        return false;
    }
    uint128 result = 0;
    const uint128 limit = ~uint128{0} / 10;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        if (result > limit) {
            return false;
        }
        const uint128 next = result * 10 + static_cast<unsigned>(c - '0');
        if (next < result * 10) {
            return false;
        }
        result = next;
    }
    *value = result;
    return true;
}

// family: 4 or 6 for text addresses; 0 for a decimal number (its family comes from the file).
bool parse_address(std::string_view text, uint128* value, int* family) {
    const std::string copy(trim(text));
    if (copy.find(':') != std::string::npos) {
        uint8_t bytes[16];
        if (inet_pton(AF_INET6, copy.c_str(), bytes) != 1) {
            return false;
        }
        *value = from_bytes(bytes);
        *family = 6;
        return true;
    }
    if (copy.find('.') != std::string::npos) {
        in_addr addr{};
        if (inet_pton(AF_INET, copy.c_str(), &addr) != 1) {
            return false;
        }
        *value = ntohl(addr.s_addr);
        *family = 4;
        return true;
    }
    *family = 0;
    return parse_decimal(copy, value);
}

std::string file_date(const std::string& path) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) {
        return "";
    }
    struct tm utc {};
    gmtime_r(&info.st_mtime, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
    return text;
}

struct Row {
    uint128 first, last;
    uint32_t value;  // 0: listed as unknown
};

// Ranges of one file should not overlap, but real files have the odd overlap. Where they do,
// the narrower range wins (the more specific statement, as with networks); for ranges of the
// same size, the earlier line. Returns disjoint ranges with a value, sorted.
std::vector<Row> resolve_overlaps(std::vector<Row> rows) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.first < b.first; });
    bool overlap = false;
    for (size_t i = 1; i < rows.size() && !overlap; ++i) {
        overlap = rows[i].first <= rows[i - 1].last;
    }
    if (!overlap) {
        std::erase_if(rows, [](const Row& row) { return row.value == 0; });
        return rows;
    }
    // Paint from the widest range to the narrowest: each overwrites what it covers. The
    // sort is stable, so among equal sizes the earlier line is painted last and wins.
    std::vector<size_t> order(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        order[i] = rows.size() - 1 - i;
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return rows[a].last - rows[a].first > rows[b].last - rows[b].first;
    });
    std::map<uint128, Row> painted;  // by first address
    for (const size_t index : order) {
        const Row& row = rows[index];
        auto it = painted.lower_bound(row.first);
        if (it != painted.begin()) {
            auto before = std::prev(it);
            if (before->second.last >= row.first) {
                const Row cut = before->second;
                before->second.last = row.first - 1;
                if (cut.last > row.last) {
                    painted.emplace(row.last + 1, Row{row.last + 1, cut.last, cut.value});
                }
            }
        }
        it = painted.lower_bound(row.first);
        while (it != painted.end() && it->first <= row.last) {
            const Row covered = it->second;
            it = painted.erase(it);
            if (covered.last > row.last) {
                painted.emplace(row.last + 1, Row{row.last + 1, covered.last, covered.value});
                break;
            }
        }
        painted.emplace(row.first, row);
    }
    std::vector<Row> out;
    for (const auto& [first, row] : painted) {
        if (row.value != 0) {
            out.push_back(row);
        }
    }
    return out;
}

bool looks_like_mmdb(const std::string& path) {
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".mmdb") == 0) {
        return true;
    }
    // The metadata marker "\xab\xcd\xefMaxMind.com" sits in the last 128 KiB.
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return false;
    }
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    const std::streamoff tail = size < 131072 ? size : 131072;
    in.seekg(size - tail);
    std::string bytes(static_cast<size_t>(tail), '\0');
    in.read(bytes.data(), tail);
    return bytes.find("\xab\xcd\xefMaxMind.com") != std::string::npos;
}

}  // namespace

bool load_csv(const std::string& path, Kind kind, LoadedFile* out, std::string* error) {
    *out = LoadedFile{};
    out->path = path;
    out->kind = kind;
    out->format = "csv";
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *error = path + ": cannot open (" + std::strerror(errno) + ")";
        return false;
    }
    out->build_date = file_date(path);
    // The *-num.csv files carry bare numbers; the file name says which family they are.
    const bool numeric_ipv6 = path.find("ipv6") != std::string::npos;
    std::string line;
    std::vector<std::string> fields;
    uint64_t line_number = 0;
    uint64_t ranges = 0;
    std::vector<Row> rows4;
    std::vector<Row> rows6;
    auto fail = [&](const std::string& reason) {
        *error = path + ":" + std::to_string(line_number) + ": " + reason;
        return false;
    };
    while (std::getline(in, line)) {
        ++line_number;
        const std::string_view text = trim(line);
        if (text.empty() || text.front() == '#') {
            continue;
        }
        if (!split_csv(text, &fields)) {
            return fail("unterminated quote");
        }
        if (fields.size() < 3) {
            return fail("expected start,end,value");
        }
        uint128 first = 0;
        uint128 last = 0;
        int first_family = 0;
        int last_family = 0;
        const bool first_ok = parse_address(fields[0], &first, &first_family);
        const bool last_ok = parse_address(fields[1], &last, &last_family);
        if (!first_ok || !last_ok) {
            if (ranges == 0 && line_number == 1) {
                continue;  // a header line
            }
            return fail("bad address '" + std::string(first_ok ? fields[1] : fields[0]) + "'");
        }
        if (first_family != last_family) {
            return fail("start and end are of different families");
        }
        int family = first_family;
        if (family == 0) {
            family = numeric_ipv6 || last > UINT32_MAX ? 6 : 4;
        }
        if (last < first) {
            return fail("range end is before its start");
        }
        uint32_t value = 0;
        const std::string_view value_text = trim(fields[2]);
        if (kind == Kind::country) {
            value = country_index(value_text);
            if (value == kCountryUnknown && value_text != "??" && value_text != "ZZ" &&
                !value_text.empty() && value_text != "-") {
                return fail("bad country code '" + std::string(value_text) + "'");
            }
            if (value == country_index("ZZ")) {
                value = kCountryUnknown;  // ISO's "unknown or unspecified country"
            }
        } else {
            std::string_view number = value_text;
            if (number.size() > 2 && (number[0] == 'A' || number[0] == 'a') &&
                (number[1] == 'S' || number[1] == 's')) {
                number.remove_prefix(2);
            }
            uint128 asn = 0;
            if (!parse_decimal(number, &asn) || asn > UINT32_MAX) {
                return fail("bad AS number '" + std::string(value_text) + "'");
            }
            value = static_cast<uint32_t>(asn);
            if (value != 0 && fields.size() >= 4) {
                out->asn_names.try_emplace(value, std::string(trim(fields[3])));
            }
        }
        ++ranges;
        if (family == 4 && last > UINT32_MAX) {
            return fail("IPv4 range beyond 255.255.255.255");
        }
        (family == 4 ? rows4 : rows6).push_back(Row{first, last, value});
    }
    if (in.bad()) {
        return fail(std::string("read error (") + std::strerror(errno) + ")");
    }
    if (ranges == 0) {
        *error = path + ": no ranges (expected lines start,end,value)";
        return false;
    }
    for (const auto& row : resolve_overlaps(std::move(rows4))) {
        range_to_prefixes(static_cast<uint32_t>(row.first), static_cast<uint32_t>(row.last),
                          row.value, &out->v4);
    }
    for (const auto& row : resolve_overlaps(std::move(rows6))) {
        range_to_prefixes(row.first, row.last, row.value, &out->v6);
    }
    return true;
}

bool load_file(const std::string& path, Kind kind, LoadedFile* out, std::string* error) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) {
        *error = path + ": " + std::strerror(errno);
        return false;
    }
    if (!S_ISREG(info.st_mode)) {
        *error = path + ": not a regular file";
        return false;
    }
    return looks_like_mmdb(path) ? load_mmdb(path, kind, out, error)
                                 : load_csv(path, kind, out, error);
}

}  // namespace darkscope::geo
