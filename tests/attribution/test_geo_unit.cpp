// Pieces without EAL: range splitting, CSV parsing, embedded IPv4 addresses.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "darkscope/attribution.hpp"
#include "darkscope/country.hpp"
#include "darkscope/geo_source.hpp"
#include "support.hpp"

namespace darkscope {
namespace {

// Brute force: the prefixes are disjoint, inside the range, and cover every address of it;
// and no two could be merged (the split is minimal).
TEST(Ranges, Ipv4SplitCoversExactly) {
    std::mt19937_64 random(1);
    for (int round = 0; round < 3000; ++round) {
        uint32_t first = static_cast<uint32_t>(random());
        uint32_t span = static_cast<uint32_t>(random() >> (32 + random() % 32));
        if (round == 0) {
            first = 0;
            span = UINT32_MAX;
        }
        const uint32_t last = UINT32_MAX - first < span ? UINT32_MAX : first + span;
        std::vector<geo::Prefix4> prefixes;
        geo::range_to_prefixes(first, last, 7, &prefixes);
        uint64_t next = first;
        for (const auto& p : prefixes) {
            ASSERT_EQ(p.addr, next);
            const uint64_t size = uint64_t{1} << (32 - p.depth);
            ASSERT_EQ(p.addr % size, 0u);
            next += size;
            ASSERT_EQ(p.value, 7u);
        }
        ASSERT_EQ(next, uint64_t{last} + 1);
        ASSERT_LE(prefixes.size(), 62u);
    }
}

TEST(Ranges, Ipv6SplitCoversExactly) {
    std::mt19937_64 random(2);
    for (int round = 0; round < 3000; ++round) {
        const geo::uint128 first = (geo::uint128{random()} << 64) | random();
        const unsigned span_bits = static_cast<unsigned>(random() % 129);
        geo::uint128 span =
            span_bits == 0 ? 0 : (((geo::uint128{random()} << 64) | random()) >> (128 - span_bits));
        geo::uint128 last = ~geo::uint128{0} - first < span ? ~geo::uint128{0} : first + span;
        geo::uint128 start = first;
        if (round == 0) {
            start = 0;
            last = ~geo::uint128{0};
        }
        std::vector<geo::Prefix6> prefixes;
        geo::range_to_prefixes(start, last, 9, &prefixes);
        geo::uint128 next = start;
        bool wrapped = false;
        for (const auto& p : prefixes) {
            ASSERT_FALSE(wrapped);
            ASSERT_EQ(p.addr, next);
            if (p.depth == 0) {
                wrapped = true;
                continue;
            }
            const geo::uint128 size = geo::uint128{1} << (128 - p.depth);
            ASSERT_EQ(p.addr % size, 0u);
            next += size;
            wrapped = next == 0;
        }
        if (!wrapped) {
            ASSERT_TRUE(next - 1 == last);
        } else {
            ASSERT_TRUE(last == ~geo::uint128{0});
        }
        ASSERT_LE(prefixes.size(), 254u);
    }
}

// Longest-prefix match by brute force; for the same network the earliest entry wins.
uint32_t brute_lpm(const std::vector<geo::Prefix4>& prefixes, uint32_t addr) {
    int best_depth = -1;
    uint32_t value = 0;
    for (const auto& p : prefixes) {
        const uint32_t mask = p.depth == 0 ? 0 : ~0u << (32 - p.depth);
        if ((addr & mask) == p.addr && static_cast<int>(p.depth) > best_depth) {
            best_depth = p.depth;
            value = p.value;
        }
    }
    return value;
}

TEST(Csv, ParsesQuotedOrganisationsHeadersAndNumericFiles) {
    test::TempDir dir;
    {
        std::ofstream out(dir.file("asn-ipv4.csv"));
        out << "ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_"
               "organization\n"
            << "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
            << "1.0.64.0,1.0.127.255,18144,\"Enecom,\"\"quoted\"\" Inc.\"\r\n"
            << "# comment\n\n"
            << "2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n";
    }
    geo::LoadedFile file;
    std::string error;
    ASSERT_TRUE(geo::load_file(dir.file("asn-ipv4.csv"), geo::Kind::asn, &file, &error)) << error;
    EXPECT_EQ(file.format, "csv");
    EXPECT_EQ(file.asn_names.at(13335), "Cloudflare, Inc.");
    EXPECT_EQ(file.asn_names.at(18144), "Enecom,\"quoted\" Inc.");
    EXPECT_EQ(file.asn_names.at(2500), "WIDE Project");
    ASSERT_EQ(file.v4.size(), 2u);
    EXPECT_EQ(file.v4[0].addr, 0x01000000u);
    EXPECT_EQ(file.v4[0].depth, 24);
    EXPECT_EQ(file.v4[1].depth, 18);
    ASSERT_EQ(file.v6.size(), 1u);
    EXPECT_EQ(file.v6[0].depth, 32);

    {
        std::ofstream out(dir.file("country-ipv6-num.csv"));
        // 2001:200::/32 as numbers, and a small range that looks like IPv4 but is IPv6.
        out << "42540528726795050063891204319802818560,42540528806023212578155541913346768895,JP\n"
            << "16,31,ZZ\n";
    }
    ASSERT_TRUE(geo::load_file(dir.file("country-ipv6-num.csv"), geo::Kind::country, &file, &error))
        << error;
    EXPECT_TRUE(file.v4.empty());
    ASSERT_EQ(file.v6.size(), 1u);  // ZZ (unknown) is left out
    EXPECT_EQ(file.v6[0].value, country_index("JP"));
    EXPECT_EQ(file.v6[0].depth, 32);
}

// Overlapping ranges in one file: the narrower wins, equal sizes go to the earlier line.
TEST(Csv, OverlappingRangesNarrowerWins) {
    test::TempDir dir;
    std::ofstream(dir.file("o.csv")) << "10.0.0.0,10.0.255.255,100\n"  // wide
                                     << "10.0.1.0,10.0.1.255,200\n"    // inside: wins there
                                     << "10.0.1.128,10.0.2.127,300\n"  // straddles the two
                                     << "10.0.3.0,10.0.3.255,400\n"
                                     << "10.0.3.0,10.0.3.255,500\n";  // same range, later
    geo::LoadedFile file;
    std::string error;
    ASSERT_TRUE(geo::load_file(dir.file("o.csv"), geo::Kind::asn, &file, &error)) << error;
    auto at = [&](uint32_t addr) { return brute_lpm(file.v4, addr); };
    EXPECT_EQ(at(0x0a000000), 100u);
    EXPECT_EQ(at(0x0a000100), 200u);
    EXPECT_EQ(at(0x0a00017f), 200u);
    EXPECT_EQ(at(0x0a000180), 200u);  // 200 spans 256 addresses, 300 spans 256: earlier line
    EXPECT_EQ(at(0x0a000200), 300u);
    EXPECT_EQ(at(0x0a00027f), 300u);
    EXPECT_EQ(at(0x0a000280), 100u);
    EXPECT_EQ(at(0x0a000300), 400u);
    EXPECT_EQ(at(0x0a00ffff), 100u);
    EXPECT_EQ(at(0x0a010000), 0u);
}

TEST(Csv, RejectsBrokenLinesNamingFileAndLine) {
    test::TempDir dir;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"1.0.0.0,1.0.0.255,13335\n1.0.1.0,1.0.0.0,5\n", ":2: range end is before its start"},
        {"1.0.0.0,1.0.0.255,13335\n1.0.1.0,1.0.1.300,5\n", ":2: bad address '1.0.1.300'"},
        {"1.0.0.0,1.0.0.255,AS13x\n", ":1: bad AS number 'AS13x'"},
        {"1.0.0.0,1.0.0.255,1,\"open\n", ":1: unterminated quote"},
        {"1.0.0.0,::1,5\n", ":1: start and end are of different families"},
        {"", ": no ranges"},
    };
    for (const auto& [content, expected] : cases) {
        const std::string path = dir.file("bad.csv");
        std::ofstream(path) << content;
        geo::LoadedFile file;
        std::string error;
        EXPECT_FALSE(geo::load_file(path, geo::Kind::asn, &file, &error)) << content;
        EXPECT_NE(error.find(path + expected), std::string::npos) << error;
    }
    geo::LoadedFile file;
    std::string error;
    std::ofstream(dir.file("c.csv")) << "1.0.0.0,1.0.0.255,Japan\n";
    EXPECT_FALSE(geo::load_file(dir.file("c.csv"), geo::Kind::country, &file, &error));
    EXPECT_NE(error.find("bad country code 'Japan'"), std::string::npos) << error;
    EXPECT_FALSE(geo::load_file(dir.file("missing.csv"), geo::Kind::country, &file, &error));
    EXPECT_NE(error.find("missing.csv: No such file"), std::string::npos) << error;
}

// Nested and neighbouring networks inside a few /16s.
std::vector<geo::Prefix4> random_prefixes(std::mt19937_64& random, unsigned count) {
    std::vector<geo::Prefix4> prefixes;
    while (prefixes.size() < count) {
        const auto depth = static_cast<uint8_t>(8 + random() % 25);
        const uint32_t base = (static_cast<uint32_t>(random() % 4) << 30) | 0x0a000000u;
        const uint32_t addr = (base | (random() & 0x00ffffffu)) & (~0u << (32 - depth));
        prefixes.push_back(geo::Prefix4{addr, depth, 1 + static_cast<uint32_t>(random() % 5)});
    }
    return prefixes;
}

std::vector<uint32_t> probe_addresses(std::mt19937_64& random,
                                      const std::vector<geo::Prefix4>& prefixes) {
    std::vector<uint32_t> probes;
    for (const auto& p : prefixes) {
        const uint64_t size = uint64_t{1} << (32 - p.depth);
        probes.push_back(p.addr);
        probes.push_back(static_cast<uint32_t>(p.addr + size - 1));
        probes.push_back(static_cast<uint32_t>(p.addr + size));
        probes.push_back(p.addr - 1);
        probes.push_back(static_cast<uint32_t>(p.addr + random() % size));
    }
    for (int i = 0; i < 2000; ++i) {
        probes.push_back(static_cast<uint32_t>(random()));
    }
    return probes;
}

TEST(Normalize, FlattenKeepsLongestMatchAndFirstOfDuplicates) {
    std::mt19937_64 random(4);
    for (int round = 0; round < 20; ++round) {
        auto prefixes = random_prefixes(random, 300);
        // Exact duplicates with other values, later in the list: the first must win.
        for (int i = 0; i < 30; ++i) {
            geo::Prefix4 copy = prefixes[random() % prefixes.size()];
            copy.value += 10;
            prefixes.push_back(copy);
        }
        const auto ranges = geo::flatten(prefixes);
        const auto normalized = geo::normalize(prefixes);
        for (const uint32_t addr : probe_addresses(random, prefixes)) {
            const uint32_t want = brute_lpm(prefixes, addr);
            uint32_t from_ranges = 0;
            for (const auto& r : ranges) {
                if (r.first <= addr && addr <= r.last) {
                    from_ranges = r.value;
                }
            }
            ASSERT_EQ(from_ranges, want) << round;
            ASSERT_EQ(brute_lpm(normalized, addr), want) << round;
        }
        for (size_t i = 1; i < ranges.size(); ++i) {
            ASSERT_GT(ranges[i].first, ranges[i - 1].last);  // disjoint, sorted
            ASSERT_FALSE(ranges[i].first == ranges[i - 1].last + 1 &&
                         ranges[i].value == ranges[i - 1].value);  // neighbours joined
        }
    }
}

TEST(Alias, EmbeddedIpv4AtEveryBitOffset) {
    std::mt19937_64 random(3);
    for (unsigned bit = 0; bit <= 96; ++bit) {
        const uint32_t v4 = static_cast<uint32_t>(random());
        const geo::uint128 noise = (geo::uint128{random()} << 64) | random();
        const geo::uint128 field_mask = geo::uint128{0xffffffffu} << (96 - bit);
        const geo::uint128 addr = (noise & ~field_mask) | (geo::uint128{v4} << (96 - bit));
        const auto bytes = geo::to_bytes(addr);
        EXPECT_EQ(attribution_detail::embedded_ipv4(bytes.data(), bit), v4) << bit;
    }
}

}  // namespace
}  // namespace darkscope
