// Country codes and names (lib/common/country.hpp): the index of every code in either case, the
// refusals, and the names against Debian's iso-codes, the independent list of assigned codes.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "darkscope/country.hpp"

namespace darkscope {
namespace {

TEST(Country, IndexRoundTripsEveryCode) {
    EXPECT_EQ(country_index("??"), 0);
    EXPECT_EQ(country_code(0), "??");
    EXPECT_EQ(country_code(kCountryIndexMax + 1), "??");
    EXPECT_EQ(kCountrySlots, 677u);  // "??" and AA..ZZ
    std::set<uint16_t> seen;
    for (char a = 'A'; a <= 'Z'; ++a) {
        for (char b = 'A'; b <= 'Z'; ++b) {
            const std::string code{a, b};
            const uint16_t index = country_index(code);
            EXPECT_GE(index, 1);
            EXPECT_LT(index, kCountrySlots);
            EXPECT_EQ(index, (a - 'A') * 26 + (b - 'A') + 1);  // "AA" 1 ... "ZZ" 676
            EXPECT_EQ(country_code(index), code);
            seen.insert(index);
        }
    }
    EXPECT_EQ(seen.size(), 676u);
}

// One case rule for every parser (attribution's databases and CSV files, telemetry's filters and
// series keys): a code is read in either case, and always written upper case.
TEST(Country, CodesAreReadInEitherCase) {
    for (char a = 'A'; a <= 'Z'; ++a) {
        for (char b = 'A'; b <= 'Z'; ++b) {
            const char la = static_cast<char>(a - 'A' + 'a');
            const char lb = static_cast<char>(b - 'A' + 'a');
            const uint16_t upper = country_index(std::string{a, b});
            EXPECT_EQ(country_index(std::string{la, lb}), upper);
            EXPECT_EQ(country_index(std::string{la, b}), upper);
            EXPECT_EQ(country_index(std::string{a, lb}), upper);
            EXPECT_EQ(country_code(country_index(std::string{la, lb})), std::string({a, b}));
        }
    }
    EXPECT_EQ(country_code(country_index("jp")), "JP");
}

TEST(Country, AnythingButTwoLettersIsUnknown) {
    for (const char* code : {"", "J", "JPN", "1P", "J1", "J ", " J", "-", "\xc3\x85"})
        EXPECT_EQ(country_index(code), kCountryUnknown) << '"' << code << '"';
    // The bytes on either side of both letter ranges.
    for (char edge : {'@', '[', '`', '{'}) {
        EXPECT_EQ(country_index(std::string{edge, 'P'}), kCountryUnknown) << edge;
        EXPECT_EQ(country_index(std::string{'J', edge}), kCountryUnknown) << edge;
    }
    EXPECT_EQ(country_index(std::string("J\0", 2)), kCountryUnknown);
}

// Debian's iso-codes: alpha_2 -> name of every assigned code.
std::map<std::string, std::string> iso_3166_names() {
    std::ifstream in("/usr/share/iso-codes/json/iso_3166-1.json");
    std::map<std::string, std::string> names;
    if (!in)
        return names;
    const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::regex entry(R"re(\{[^{}]*\})re");
    const std::regex alpha2(R"re("alpha_2":\s*"([A-Z]{2})")re");
    const std::regex name(R"re("name":\s*"([^"]*)")re");
    for (auto it = std::sregex_iterator(json.begin(), json.end(), entry);
         it != std::sregex_iterator(); ++it) {
        const std::string object = it->str();
        std::smatch code_match;
        std::smatch name_match;
        if (std::regex_search(object, code_match, alpha2) &&
            std::regex_search(object, name_match, name))
            names[code_match[1]] = name_match[1];
    }
    return names;
}

TEST(Country, NamesAreIsoShortNames) {
    const std::map<std::string, std::string> iso = iso_3166_names();
    if (iso.empty())
        GTEST_SKIP() << "iso-codes not installed";
    EXPECT_GE(iso.size(), 249u);
    for (const auto& [code, name] : iso) {
        EXPECT_TRUE(country_known(country_index(code))) << code;
        EXPECT_EQ(country_name(country_index(code)), name) << code;
    }
    // Known: the assigned codes and the four that registries and MaxMind use beyond them.
    const std::map<std::string, std::string> beyond_iso = {{"AP", "Asia/Pacific Region"},
                                                           {"EU", "European Union"},
                                                           {"UK", "United Kingdom"},
                                                           {"XK", "Kosovo"}};
    unsigned known = 0;
    for (uint16_t index = 0; index <= kCountryIndexMax + 1; ++index) {
        if (!country_known(index))
            continue;
        ++known;
        const std::string code = country_code(index);
        auto extra = beyond_iso.find(code);
        if (extra != beyond_iso.end())
            EXPECT_EQ(country_name(index), extra->second);
        else
            EXPECT_TRUE(iso.count(code)) << code << " is known but not assigned";
    }
    EXPECT_EQ(known, iso.size() + beyond_iso.size());
}

TEST(Country, UnknownAndUnassignedCodes) {
    EXPECT_FALSE(country_known(kCountryUnknown));
    EXPECT_FALSE(country_known(kCountryIndexMax + 1));
    EXPECT_EQ(country_name(kCountryUnknown), "Unknown");
    EXPECT_EQ(country_name(kCountryIndexMax + 1), "Unknown");
    EXPECT_FALSE(country_known(country_index("QQ")));
    EXPECT_EQ(country_name(country_index("QQ")), "QQ");  // well formed but unassigned
    EXPECT_EQ(country_name(country_index("jp")), "Japan");
}

}  // namespace
}  // namespace darkscope
