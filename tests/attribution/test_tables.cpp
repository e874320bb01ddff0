// The attribution image against independent truth: libmaxminddb's own lookup for .mmdb files, a
// brute-force range search for CSV files; corrupt files; reloads, also under a running worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <tuple>

#include "darkscope/attribution.hpp"
#include "support.hpp"

namespace darkscope {
namespace {

using test::Reference;
using test::Sampler;

constexpr unsigned kIpv4Samples = 200000;
constexpr unsigned kIpv6Samples = 50000;
constexpr unsigned kBurst = 32;

class Tables : public ::testing::Test {
  protected:
    void SetUp() override { test::ensure_eal(); }
};

// The compiled images of this process's tests (one directory, removed at exit).
const std::string& image_cache() {
    static const test::TempDir dir;
    static const std::string path = dir.path.string();
    return path;
}

std::unique_ptr<Attribution> load(std::vector<std::string> country, std::vector<std::string> asn,
                                  std::string* error = nullptr,
                                  const std::string& cache = image_cache()) {
    GeoConfig config;
    config.country_files = std::move(country);
    config.asn_files = std::move(asn);
    config.max_workers = 4;
    config.cache_dir = cache;
    auto attribution = std::make_unique<Attribution>(config);
    std::string reason;
    if (!attribution->reload(&reason)) {
        if (error != nullptr) {
            *error = reason;
        }
        return nullptr;
    }
    return attribution;
}

std::string address_text(const PacketFacts& f) {
    char text[INET6_ADDRSTRLEN] = "";
    if (f.ip_version == 4) {
        const uint32_t be = htonl(f.src.v4);
        inet_ntop(AF_INET, &be, text, sizeof text);
    } else {
        inet_ntop(AF_INET6, f.src.v6, text, sizeof text);
    }
    return text;
}

// Looks the facts up in bursts and compares with the expectation for each.
template <typename Expect>
void compare(Attribution& attribution, std::vector<PacketFacts>& facts, bool country, Expect expect,
             const std::string& label) {
    for (size_t at = 0; at < facts.size(); at += kBurst) {
        const unsigned n = static_cast<unsigned>(std::min<size_t>(kBurst, facts.size() - at));
        attribution.lookup_burst(0, facts.data() + at, n);
    }
    unsigned mismatches = 0;
    unsigned known = 0;
    for (const auto& f : facts) {
        const uint32_t want = expect(f);
        const uint32_t got = country ? f.country : f.asn;
        known += want != 0;
        if (got != want && ++mismatches <= 5) {
            ADD_FAILURE() << label << ": " << address_text(f) << " gives " << got << ", expected "
                          << want;
        }
    }
    EXPECT_EQ(mismatches, 0u) << label;
    // The sample must exercise the tables, not only the unknown default.
    EXPECT_GT(known, facts.size() / 20) << label << ": too few addresses inside the database";
}

std::vector<PacketFacts> sample(Sampler& sampler, bool v6, unsigned count) {
    std::vector<PacketFacts> facts;
    facts.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
        facts.push_back(v6 ? test::facts_v6(sampler.ipv6()) : test::facts_v4(sampler.ipv4()));
    }
    return facts;
}

// The tables of a fresh cache directory: the first load builds the image from the databases and
// saves it, the second maps the saved image. Both must give the same answers.
std::vector<std::unique_ptr<Attribution>> load_built_and_mapped(std::vector<std::string> country,
                                                                std::vector<std::string> asn,
                                                                const test::TempDir& cache) {
    std::vector<std::unique_ptr<Attribution>> out;
    for (const char* origin : {"built from the databases, saved as ", "mapped "}) {
        std::string error;
        auto attribution = load(country, asn, &error, cache.path.string());
        EXPECT_NE(attribution, nullptr) << error;
        if (attribution == nullptr) {
            return {};
        }
        EXPECT_EQ(attribution->status().image.rfind(origin, 0), 0u) << attribution->status().image;
        out.push_back(std::move(attribution));
    }
    return out;
}

// Equivalence of one .mmdb file (as the only file of its kind) with libmaxminddb, for the image
// built from it and for the same image mapped from its file.
void check_mmdb(const std::string& path, bool country, const std::vector<test::Network>& networks,
                bool expect_v6_known = true) {
    SCOPED_TRACE(path);
    test::TempDir cache;
    auto loaded = country ? load_built_and_mapped({path}, {}, cache)
                          : load_built_and_mapped({}, {path}, cache);
    ASSERT_EQ(loaded.size(), 2u);
    Reference reference(path);
    ASSERT_TRUE(reference.ok());
    auto expect = [&](const PacketFacts& f) {
        return country ? reference.country(f) : reference.asn(f);
    };
    for (size_t round = 0; round < loaded.size(); ++round) {
        Attribution* attribution = loaded[round].get();
        const std::string label = path + (round == 0 ? " (built)" : " (mapped)");
        Sampler sampler(networks, std::hash<std::string>{}(path));
        auto v4 = sample(sampler, false, kIpv4Samples);
        compare(*attribution, v4, country, expect, label + " IPv4");
        auto v6 = sample(sampler, true, kIpv6Samples);
        if (expect_v6_known) {
            compare(*attribution, v6, country, expect, label + " IPv6");
        } else {
            for (size_t at = 0; at < v6.size(); at += kBurst) {
                attribution->lookup_burst(
                    0, v6.data() + at,
                    static_cast<unsigned>(std::min<size_t>(kBurst, v6.size() - at)));
            }
            for (const auto& f : v6) {
                ASSERT_EQ(country ? f.country : f.asn, expect(f));
            }
        }
    }
}

TEST_F(Tables, CorpusCountryDatabasesEqualLibmaxminddb) {
    const std::string dir = test::corpus_geo();
    if (!test::exists(dir + "/GeoLite2-Country-Test.mmdb")) {
        GTEST_SKIP() << "corpus absent: " << dir;
    }
    const auto networks = test::read_networks(dir + "/GeoLite2-Country-Test.json");
    ASSERT_FALSE(networks.empty());
    check_mmdb(dir + "/GeoLite2-Country-Test.mmdb", true, networks);
    check_mmdb(dir + "/GeoIP2-Country-Test.mmdb", true, networks);
}

TEST_F(Tables, CorpusAsnDatabaseEqualsLibmaxminddb) {
    const std::string dir = test::corpus_geo();
    if (!test::exists(dir + "/GeoLite2-ASN-Test.mmdb")) {
        GTEST_SKIP() << "corpus absent: " << dir;
    }
    const auto networks = test::read_networks(dir + "/GeoLite2-ASN-Test.json");
    ASSERT_FALSE(networks.empty());
    check_mmdb(dir + "/GeoLite2-ASN-Test.mmdb", false, networks);
    // Organisation names stay in the control plane.
    auto attribution = load({}, {dir + "/GeoLite2-ASN-Test.mmdb"});
    ASSERT_NE(attribution, nullptr);
    Reference reference(dir + "/GeoLite2-ASN-Test.mmdb");
    PacketFacts f = test::facts_v4(0x01000001);  // 1.0.0.1, listed in the JSON source
    attribution->lookup_burst(0, &f, 1);
    ASSERT_EQ(f.asn, reference.asn(f));
    ASSERT_NE(f.asn, 0u);
    EXPECT_FALSE(attribution->asn_name(f.asn).empty());
    EXPECT_EQ(attribution->asn_name(4294967294u), "");
}

class WriterDatabases : public Tables {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir;
        ready_ = !test::build_writer_databases(*dir_, 20240601).empty();
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    void SetUp() override {
        Tables::SetUp();
        if (!ready_) {
            GTEST_SKIP()
                << "MaxMind::DB::Writer missing (apt-get install libmaxmind-db-writer-perl)";
        }
    }
    static std::string file(const std::string& name) { return dir_->file(name); }
    static inline test::TempDir* dir_ = nullptr;
    static inline bool ready_ = false;
};

TEST_F(WriterDatabases, CountryIpv6WithAliasesEqualsLibmaxminddb) {
    check_mmdb(file("country-v6.mmdb"), true, test::read_networks(file("networks.txt")));
}

TEST_F(WriterDatabases, AsnWithPrivate32BitNumbersEqualsLibmaxminddb) {
    check_mmdb(file("asn-v6.mmdb"), false, test::read_networks(file("networks.txt")));
}

TEST_F(WriterDatabases, Ipv4OnlyDatabaseEqualsLibmaxminddb) {
    check_mmdb(file("country-v4.mmdb"), true, test::read_networks(file("networks.txt")),
               /*expect_v6_known=*/false);
}

TEST_F(WriterDatabases, NonIpPacketsGetUnknown) {
    auto attribution = load({file("country-v6.mmdb")}, {file("asn-v6.mmdb")});
    ASSERT_NE(attribution, nullptr);
    std::vector<PacketFacts> facts(100);
    for (auto& f : facts) {
        clear(f);
        f.country = 77;  // stale values from a previous burst must be overwritten
        f.asn = 77;
    }
    attribution->lookup_burst(0, facts.data(), static_cast<unsigned>(facts.size()));
    for (const auto& f : facts) {
        EXPECT_EQ(f.country, 0);
        EXPECT_EQ(f.asn, 0u);
    }
}

// ---- range CSV files against a brute-force range search ----
struct Range {
    int family;
    geo::uint128 first, last;
    uint32_t value;
};

// Random disjoint ranges: sorted random boundaries, every other gap left empty.
std::vector<Range> random_ranges(std::mt19937_64& random, int family, unsigned count) {
    std::vector<geo::uint128> cuts;
    for (unsigned i = 0; i < 2 * count; ++i) {
        geo::uint128 value = family == 4 ? geo::uint128{static_cast<uint32_t>(random())}
                                         : (geo::uint128{random()} << 64) | random();
        if (family == 6 && i % 2 == 1 && (random() & 1)) {
            value = cuts.back() + (random() % 100000);  // some short IPv6 ranges too
        }
        cuts.push_back(value);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<Range> ranges;
    for (size_t i = 0; i + 1 < cuts.size(); i += 2) {
        ranges.push_back(Range{family, cuts[i], cuts[i + 1] - ((random() & 3) == 0 ? 0 : 1), 0});
    }
    return ranges;
}

std::string text_of(int family, geo::uint128 addr) {
    char text[INET6_ADDRSTRLEN];
    if (family == 4) {
        const uint32_t be = htonl(static_cast<uint32_t>(addr));
        inet_ntop(AF_INET, &be, text, sizeof text);
    } else {
        const auto bytes = geo::to_bytes(addr);
        inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
    }
    return text;
}

uint32_t brute_force(const std::vector<Range>& ranges, int family, geo::uint128 addr) {
    for (const auto& r : ranges) {
        if (r.family == family && r.first <= addr && addr <= r.last) {
            return r.value;
        }
    }
    return 0;
}

TEST_F(Tables, CsvFilesEqualBruteForceRangeSearch) {
    test::TempDir dir;
    std::mt19937_64 random(11);
    std::vector<Range> country = random_ranges(random, 4, 1500);
    std::vector<Range> country6 = random_ranges(random, 6, 500);
    std::vector<Range> asn = random_ranges(random, 4, 1500);
    std::vector<Range> asn6 = random_ranges(random, 6, 500);
    country.insert(country.end(), country6.begin(), country6.end());
    asn.insert(asn.end(), asn6.begin(), asn6.end());
    const std::string letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // Countries in two files (IPv4, IPv6, as ip-location-db ships them); ASNs in one file.
    {
        std::ofstream v4(dir.file("country-ipv4.csv"));
        std::ofstream v6(dir.file("country-ipv6.csv"));
        for (auto& r : country) {
            const std::string code{letters[random() % 26], letters[random() % 26]};
            r.value = code == "ZZ" ? 0 : country_index(code);
            (r.family == 4 ? v4 : v6) << text_of(r.family, r.first) << ','
                                      << text_of(r.family, r.last) << ',' << code << '\n';
        }
        std::ofstream a(dir.file("asn.csv"));
        for (auto& r : asn) {
            r.value = static_cast<uint32_t>(1 + random() % 4294967294u);
            a << text_of(r.family, r.first) << ',' << text_of(r.family, r.last) << ',' << r.value
              << ",\"Org " << r.value << ", Ltd\"\n";
        }
    }
    test::TempDir cache;
    auto loaded = load_built_and_mapped(
        {dir.file("country-ipv4.csv"), dir.file("country-ipv6.csv")}, {dir.file("asn.csv")}, cache);
    ASSERT_EQ(loaded.size(), 2u);
    for (auto& attribution : loaded) {
        EXPECT_EQ(attribution->asn_name(asn.front().value),
                  "Org " + std::to_string(asn.front().value) + ", Ltd");
    }

    // Addresses: uniform, plus range edges (first, last, and one either side).
    std::vector<PacketFacts> facts;
    for (unsigned i = 0; i < kIpv4Samples / 2; ++i) {
        facts.push_back(test::facts_v4(static_cast<uint32_t>(random())));
    }
    for (const auto* set : {&country, &asn}) {
        for (const auto& r : *set) {
            for (const geo::uint128 addr : {r.first - 1, r.first, r.last, r.last + 1}) {
                if (r.family == 4) {
                    facts.push_back(test::facts_v4(static_cast<uint32_t>(addr)));
                } else {
                    facts.push_back(test::facts_v6(addr));
                }
            }
            const geo::uint128 span = r.last - r.first;
            const geo::uint128 inside =
                span == 0 ? r.first
                          : r.first + (((geo::uint128{random()} << 64) | random()) % span);
            facts.push_back(r.family == 4 ? test::facts_v4(static_cast<uint32_t>(inside))
                                          : test::facts_v6(inside));
        }
    }
    for (unsigned i = 0; i < kIpv6Samples / 2; ++i) {
        facts.push_back(test::facts_v6((geo::uint128{random()} << 64) | random()));
    }
    auto addr_of = [](const PacketFacts& f) {
        return f.ip_version == 4 ? geo::uint128{f.src.v4} : geo::from_bytes(f.src.v6);
    };
    // The brute force is linear per address: compute the truth once for both tables.
    std::vector<uint32_t> country_truth, asn_truth;
    for (const auto& f : facts) {
        country_truth.push_back(brute_force(country, f.ip_version, addr_of(f)));
        asn_truth.push_back(brute_force(asn, f.ip_version, addr_of(f)));
    }
    auto truth = [&](const std::vector<uint32_t>& values, const std::vector<PacketFacts>& seen) {
        return [&values, &seen](const PacketFacts& f) { return values[&f - seen.data()]; };
    };
    for (auto& attribution : loaded) {
        compare(*attribution, facts, true, truth(country_truth, facts), "country CSV");
        compare(*attribution, facts, false, truth(asn_truth, facts), "ASN CSV");
        const auto status = attribution->status();
        ASSERT_EQ(status.files.size(), 3u);
        EXPECT_EQ(status.files[0].format, "csv");
        EXPECT_EQ(status.files[0].kind, "country");
        EXPECT_GT(status.files[0].networks_v4, 0u);
        EXPECT_EQ(status.files[0].networks_v6, 0u);
        EXPECT_GT(status.files[1].networks_v6, 0u);
        EXPECT_EQ(status.files[2].kind, "asn");
    }
}

// IPv6 ranges crowded into a few prefixes, so that the IPv6 index grows child nodes at every
// level down to /64: the answers must still be those of a brute-force search.
TEST_F(Tables, CrowdedIpv6RangesEqualBruteForceRangeSearch) {
    test::TempDir dir;
    std::mt19937_64 random(13);
    auto random128 = [&] { return (geo::uint128{random()} << 64) | random(); };
    const geo::uint128 doc = geo::uint128{0x20010db8} << 96;
    // (prefix, length, ranges): a /32, a /48 inside it, a /56 inside that, and a /16 elsewhere.
    const std::vector<std::tuple<geo::uint128, unsigned, unsigned>> crowds = {
        {doc, 32, 300},
        {doc | (geo::uint128{0x0042} << 80), 48, 300},
        {doc | (geo::uint128{0x004201} << 72), 56, 300},
        {geo::uint128{0x2a01} << 112, 16, 300}};
    std::vector<geo::uint128> cuts;
    for (const auto& [prefix, length, count] : crowds) {
        const geo::uint128 mask = (~geo::uint128{0}) >> length;
        for (unsigned i = 0; i < 2 * count; ++i) {
            cuts.push_back(prefix | (random128() & mask));
        }
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<Range> ranges;
    for (size_t i = 0; i + 1 < cuts.size(); i += 2) {
        ranges.push_back(Range{6, cuts[i], cuts[i + 1] - 1, 0});
    }
    const std::string letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    {
        std::ofstream out(dir.file("country-ipv6.csv"));
        for (auto& r : ranges) {
            const std::string code{letters[random() % 25], letters[random() % 26]};
            r.value = country_index(code);
            out << text_of(6, r.first) << ',' << text_of(6, r.last) << ',' << code << '\n';
        }
    }
    std::vector<PacketFacts> facts;
    for (const auto& r : ranges) {
        for (const geo::uint128 addr : {r.first - 1, r.first, r.last, r.last + 1}) {
            facts.push_back(test::facts_v6(addr));
        }
        facts.push_back(test::facts_v6(r.first + random128() % (r.last - r.first + 1)));
    }
    for (const auto& [prefix, length, count] : crowds) {
        for (unsigned i = 0; i < count; ++i) {
            facts.push_back(
                test::facts_v6(prefix | (random128() & ((~geo::uint128{0}) >> length))));
        }
    }
    std::vector<uint32_t> truth;
    for (const auto& f : facts) {
        truth.push_back(brute_force(ranges, 6, geo::from_bytes(f.src.v6)));
    }
    test::TempDir cache;
    auto loaded = load_built_and_mapped({dir.file("country-ipv6.csv")}, {}, cache);
    ASSERT_EQ(loaded.size(), 2u);
    for (auto& attribution : loaded) {
        compare(
            *attribution, facts, true,
            [&](const PacketFacts& f) { return truth[&f - facts.data()]; }, "crowded IPv6");
    }
}

// ---- corrupt and wrong databases ----
TEST_F(Tables, EveryCorruptDatabaseIsRejectedWithAReason) {
    const std::string dir = test::corpus_geo() + "/bad-data";
    if (!test::exists(dir)) {
        GTEST_SKIP() << "corpus absent: " << dir;
    }
    unsigned files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".mmdb") {
            continue;
        }
        ++files;
        const std::string path = entry.path().string();
        for (const bool country : {true, false}) {
            std::string error;
            auto attribution = country ? load({path}, {}, &error) : load({}, {path}, &error);
            EXPECT_EQ(attribution, nullptr) << path << " was accepted";
            // One line, starting with the file, then a reason.
            EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
            EXPECT_GT(error.size(), path.size() + 10) << error;
            EXPECT_EQ(error.find('\n'), std::string::npos) << error;
        }
        std::string error;
        load({path}, {}, &error);
        std::printf("rejected: %s\n", error.c_str());
    }
    EXPECT_GE(files, 20u);
}

TEST_F(Tables, DatabasesWithoutTheFieldAreRejectedAsTheWrongKind) {
    const std::string dir = test::corpus_geo();
    if (!test::exists(dir + "/GeoLite2-ASN-Test.mmdb")) {
        GTEST_SKIP() << "corpus absent: " << dir;
    }
    std::string error;
    EXPECT_EQ(load({dir + "/GeoLite2-ASN-Test.mmdb"}, {}, &error), nullptr);
    EXPECT_NE(error.find("not a country database"), std::string::npos) << error;
    EXPECT_EQ(load({}, {dir + "/GeoLite2-Country-Test.mmdb"}, &error), nullptr);
    EXPECT_NE(error.find("not an ASN database"), std::string::npos) << error;
    for (const char* name : {"MaxMind-DB-test-ipv4-24.mmdb", "MaxMind-DB-test-ipv6-24.mmdb",
                             "MaxMind-DB-test-mixed-24.mmdb"}) {
        EXPECT_EQ(load({dir + "/" + name}, {}, &error), nullptr) << name;
        EXPECT_NE(error.find(name), std::string::npos) << error;
    }
    EXPECT_EQ(load({dir + "/no-such-file.mmdb"}, {}, &error), nullptr);
    EXPECT_NE(error.find("no-such-file.mmdb: "), std::string::npos) << error;
}

TEST_F(Tables, NoDatabaseMeansAttributionOff) {
    auto attribution = load({}, {});
    ASSERT_NE(attribution, nullptr);
    EXPECT_FALSE(attribution->enabled());
    PacketFacts f = test::facts_v4(0x08080808);
    f.country = 5;
    attribution->lookup_burst(0, &f, 1);
    EXPECT_EQ(f.country, 0);
    EXPECT_EQ(f.asn, 0u);
}

// Compiled images this process has mapped now (lines of /proc/self/maps).
unsigned mapped_images() {
    std::ifstream maps("/proc/self/maps");
    unsigned count = 0;
    for (std::string line; std::getline(maps, line);) {
        count += line.find(".dsgeo") != std::string::npos;
    }
    return count;
}

// ---- reloads ----
class Reloads : public WriterDatabases {};

// Answers of one file, for a fixed address set, through a fresh Attribution.
std::vector<std::pair<uint16_t, uint32_t>> answers(const std::string& country,
                                                   const std::string& asn,
                                                   std::vector<PacketFacts> facts) {
    auto attribution = load({country}, {asn});
    EXPECT_NE(attribution, nullptr);
    attribution->lookup_burst(0, facts.data(), static_cast<unsigned>(facts.size()));
    std::vector<std::pair<uint16_t, uint32_t>> out;
    for (const auto& f : facts) {
        out.emplace_back(f.country, f.asn);
    }
    return out;
}

TEST_F(Reloads, CorruptFileKeepsThePreviousTables) {
    const std::string bad = test::corpus_geo() + "/bad-data/libmaxminddb-corrupt-search-tree.mmdb";
    test::TempDir dir;
    const std::string country = dir.file("country.mmdb");
    std::filesystem::copy_file(file("country-v6.mmdb"), country);
    GeoConfig config;
    config.country_files = {country};
    config.asn_files = {file("asn-v6.mmdb")};
    config.cache_dir = dir.path.string();
    Attribution attribution(config);
    std::string error;
    ASSERT_TRUE(attribution.reload(&error)) << error;

    Sampler sampler(test::read_networks(file("networks.txt")), 5);
    std::vector<PacketFacts> facts = sample(sampler, false, 5000);
    auto more = sample(sampler, true, 5000);
    facts.insert(facts.end(), more.begin(), more.end());
    std::vector<PacketFacts> before = facts;
    attribution.lookup_burst(0, before.data(), static_cast<unsigned>(before.size()));

    // The file is replaced in place by a broken one, then by garbage, then removed.
    std::vector<std::string> breakages;
    if (test::exists(bad)) {
        std::filesystem::copy_file(bad, country, std::filesystem::copy_options::overwrite_existing);
        breakages.push_back("corrupt tree");
    }
    const size_t heap_before = test::dpdk_heap_bytes();
    for (int round = 0; round < 3; ++round) {
        if (round == 1) {
            std::ofstream(country, std::ios::trunc) << "1.0.0.0,1.0.0.255,Japan\n";
        } else if (round == 2) {
            std::filesystem::remove(country);
        } else if (breakages.empty()) {
            continue;
        }
        error.clear();
        EXPECT_FALSE(attribution.reload(&error)) << round;
        EXPECT_EQ(error.rfind(country + ":", 0), 0u) << error;
        std::vector<PacketFacts> after = facts;
        attribution.lookup_burst(0, after.data(), static_cast<unsigned>(after.size()));
        for (size_t i = 0; i < facts.size(); ++i) {
            ASSERT_EQ(after[i].country, before[i].country) << i;
            ASSERT_EQ(after[i].asn, before[i].asn) << i;
        }
    }
    EXPECT_EQ(test::dpdk_heap_bytes(), heap_before) << "a failed load left memory behind";
    EXPECT_EQ(mapped_images(), 1u) << "a failed load left an image mapped";
    const auto status = attribution.status();
    EXPECT_EQ(status.reloads_ok, 1u);
    EXPECT_GE(status.reloads_failed, 2u);
    EXPECT_EQ(status.last_result, error);
    EXPECT_EQ(status.files.size(), 2u);
    EXPECT_TRUE(attribution.enabled());
}

// A worker looks up bursts in a loop while the control thread swaps between two different
// databases. Every burst must come entirely from one of the two (the pointer is read once per
// burst), nothing may crash, and memory must come back to one set of tables at the end.
TEST_F(Reloads, ReloadUnderARunningWorker) {
    test::TempDir other;
    ASSERT_FALSE(test::build_writer_databases(other, 99).empty());
    test::TempDir live;
    const std::string country = live.file("country.mmdb");
    const std::string asn = live.file("asn.mmdb");
    auto install = [&](const std::string& from_dir_country, const std::string& from_dir_asn) {
        // Rename over the live path, as an updater does.
        std::filesystem::copy_file(from_dir_country, country + ".new",
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::rename(country + ".new", country);
        std::filesystem::copy_file(from_dir_asn, asn + ".new",
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::rename(asn + ".new", asn);
    };

    Sampler sampler(test::read_networks(file("networks.txt")), 8);
    std::vector<PacketFacts> facts = sample(sampler, false, 2 * kBurst * 8);
    auto v6 = sample(sampler, true, kBurst * 8);
    facts.insert(facts.end(), v6.begin(), v6.end());
    std::shuffle(facts.begin(), facts.end(), std::mt19937(3));
    const auto truth_a = answers(file("country-v6.mmdb"), file("asn-v6.mmdb"), facts);
    const auto truth_b = answers(other.file("country-v6.mmdb"), other.file("asn-v6.mmdb"), facts);
    ASSERT_NE(truth_a, truth_b);

    install(file("country-v6.mmdb"), file("asn-v6.mmdb"));
    GeoConfig config;
    config.country_files = {country};
    config.asn_files = {asn};
    config.max_workers = 2;
    config.cache_dir = live.path.string();
    Attribution attribution(config);
    std::string error;
    ASSERT_TRUE(attribution.reload(&error)) << error;

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bursts{0};
    std::atomic<uint64_t> mixed{0};
    std::atomic<uint64_t> wrong{0};
    std::thread worker([&] {
        attribution.register_worker(1);
        std::vector<PacketFacts> burst(kBurst);
        while (!stop.load(std::memory_order_relaxed)) {
            for (size_t at = 0; at + kBurst <= facts.size(); at += kBurst) {
                std::copy(facts.begin() + at, facts.begin() + at + kBurst, burst.begin());
                attribution.lookup_burst(1, burst.data(), kBurst);
                bool is_a = true;
                bool is_b = true;
                for (unsigned k = 0; k < kBurst; ++k) {
                    const std::pair<uint16_t, uint32_t> got{burst[k].country, burst[k].asn};
                    is_a = is_a && got == truth_a[at + k];
                    is_b = is_b && got == truth_b[at + k];
                }
                if (!is_a && !is_b) {
                    // Either a mix of both tables in one burst, or an answer from neither.
                    ++mixed;
                }
                ++bursts;
                attribution.quiescent(1);
            }
        }
        attribution.unregister_worker(1);
    });

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    unsigned reloads = 0;
    while (std::chrono::steady_clock::now() < deadline || reloads < 6) {
        if (reloads % 2 == 0) {
            install(other.file("country-v6.mmdb"), other.file("asn-v6.mmdb"));
        } else {
            install(file("country-v6.mmdb"), file("asn-v6.mmdb"));
        }
        if (!attribution.reload(&error)) {
            ++wrong;
        }
        ++reloads;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop = true;
    worker.join();
    EXPECT_EQ(wrong.load(), 0u) << error;
    EXPECT_EQ(mixed.load(), 0u) << "bursts answered from neither database";
    EXPECT_GT(bursts.load(), 100u);
    EXPECT_EQ(attribution.status().reloads_ok, reloads + 1u);
    // Old images are unmapped after each swap: one remains.
    EXPECT_EQ(mapped_images(), 1u);
    std::printf("%u reloads (%.0f ms the last), %llu bursts looked up meanwhile\n", reloads,
                attribution.status().last_reload_seconds * 1000,
                static_cast<unsigned long long>(bursts.load()));
}

}  // namespace
}  // namespace darkscope

namespace darkscope {
namespace {

// The installed default data (scripts/fetch-geo.sh): the country mmdb against libmaxminddb,
// the ASN CSVs against a binary search over their own ranges. Slow suite: about 1 GB and a
// few seconds to load.
struct CsvRange {
    geo::uint128 first, last;
    uint32_t asn;
};

std::vector<CsvRange> read_asn_ranges(const std::string& path, int family) {
    std::vector<CsvRange> ranges;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        const size_t c1 = line.find(',');
        const size_t c2 = line.find(',', c1 + 1);
        const size_t c3 = line.find(',', c2 + 1);
        if (c1 == std::string::npos || c2 == std::string::npos) {
            continue;
        }
        uint8_t bytes[16] = {};
        CsvRange r{};
        const std::string first = line.substr(0, c1);
        const std::string last = line.substr(c1 + 1, c2 - c1 - 1);
        if (family == 4) {
            in_addr a{}, b{};
            if (inet_pton(AF_INET, first.c_str(), &a) != 1 ||
                inet_pton(AF_INET, last.c_str(), &b) != 1) {
                continue;
            }
            r.first = ntohl(a.s_addr);
            r.last = ntohl(b.s_addr);
        } else {
            if (inet_pton(AF_INET6, first.c_str(), bytes) != 1) {
                continue;
            }
            r.first = geo::from_bytes(bytes);
            if (inet_pton(AF_INET6, last.c_str(), bytes) != 1) {
                continue;
            }
            r.last = geo::from_bytes(bytes);
        }
        r.asn = static_cast<uint32_t>(std::stoul(line.substr(c2 + 1, c3 - c2 - 1)));
        ranges.push_back(r);
    }
    std::stable_sort(ranges.begin(), ranges.end(),
                     [](const CsvRange& a, const CsvRange& b) { return a.first < b.first; });
    return ranges;
}

// The narrowest range holding the address (ranges of a file can overlap; the loader's rule),
// found by binary search and a bounded scan back over the ranges that start earlier.
struct RangeIndex {
    std::vector<CsvRange> ranges;     // sorted by first
    std::vector<geo::uint128> reach;  // max last over ranges[0..i]
    explicit RangeIndex(std::vector<CsvRange> sorted) : ranges(std::move(sorted)) {
        geo::uint128 most = 0;
        for (const auto& r : ranges) {
            most = std::max(most, r.last);
            reach.push_back(most);
        }
    }
    uint32_t find(geo::uint128 addr) const {
        auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                                   [](geo::uint128 a, const CsvRange& r) { return a < r.first; });
        const CsvRange* best = nullptr;
        for (size_t i = static_cast<size_t>(it - ranges.begin()); i-- > 0 && reach[i] >= addr;) {
            const CsvRange& r = ranges[i];
            if (r.last >= addr &&
                (best == nullptr || r.last - r.first <= best->last - best->first)) {
                best = &r;  // scanning backwards: an equal size found later is an earlier line
            }
        }
        return best == nullptr ? 0 : best->asn;
    }
};

TEST_F(Tables, DefaultDataEqualsLibmaxminddbAndRangeSearch) {
    const char* env = std::getenv("DARKSCOPE_GEO_DIR");
    const std::string dir = env != nullptr ? env : "/var/lib/darkscope/geo";
    const std::string country = dir + "/geo-whois-asn-country.mmdb";
    if (!test::exists(country)) {
        GTEST_SKIP() << "no default data in " << dir << " (scripts/fetch-geo.sh)";
    }
    test::TempDir cache;
    auto loaded =
        load_built_and_mapped({country}, {dir + "/asn-ipv4.csv", dir + "/asn-ipv6.csv"}, cache);
    ASSERT_EQ(loaded.size(), 2u);
    for (const auto& attribution : loaded) {
        const auto status = attribution->status();
        std::printf("default data: %s in %.2f s, image %.1f MiB, %llu (country, ASN) pairs\n",
                    status.image.substr(0, status.image.find(' ')).c_str(),
                    status.last_reload_seconds,
                    static_cast<double>(status.memory_bytes) / 1048576.0,
                    static_cast<unsigned long long>(status.country_asn_pairs));
    }
    Reference reference(country);
    const RangeIndex asn4(read_asn_ranges(dir + "/asn-ipv4.csv", 4));
    const RangeIndex asn6(read_asn_ranges(dir + "/asn-ipv6.csv", 6));
    ASSERT_GT(asn4.ranges.size(), 100000u);
    // Hosts inside listed ranges, and uniform ones.
    std::vector<test::Network> networks;
    std::mt19937_64 random(17);
    for (int i = 0; i < 20000; ++i) {
        const auto& r4 = asn4.ranges[random() % asn4.ranges.size()];
        networks.push_back(test::Network{4, r4.first, 32});
        const auto& r6 = asn6.ranges[random() % asn6.ranges.size()];
        networks.push_back(test::Network{6, r6.first, 64});
    }
    for (auto& loaded_one : loaded) {
        Attribution* attribution = loaded_one.get();
        Sampler sampler(networks, 23);
        auto v4 = sample(sampler, false, kIpv4Samples);
        compare(
            *attribution, v4, true, [&](const PacketFacts& f) { return reference.country(f); },
            "default country IPv4");
        compare(
            *attribution, v4, false, [&](const PacketFacts& f) { return asn4.find(f.src.v4); },
            "default ASN IPv4");
        auto v6 = sample(sampler, true, kIpv6Samples);
        compare(
            *attribution, v6, true, [&](const PacketFacts& f) { return reference.country(f); },
            "default country IPv6");
        // IPv6 forms of IPv4 addresses are IPv4 for the country database only; the ASN CSVs
        // know them as IPv6 (where they list nothing).
        compare(
            *attribution, v6, false,
            [&](const PacketFacts& f) { return asn6.find(geo::from_bytes(f.src.v6)); },
            "default ASN IPv6");
    }
}

}  // namespace
}  // namespace darkscope
