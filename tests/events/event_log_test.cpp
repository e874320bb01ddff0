// Event::log_line(): stable key=value fields an operator can search, parsed back here by a
// tokenizer written for the test (quoted values with \" and \\ escapes).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "darkscope/events.hpp"

namespace darkscope {
namespace {

std::map<std::string, std::string> parse(const std::string& line) {
    std::map<std::string, std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        size_t eq = line.find('=', i);
        EXPECT_NE(eq, std::string::npos) << line.substr(i);
        if (eq == std::string::npos)
            break;
        std::string key = line.substr(i, eq - i);
        std::string value;
        i = eq + 1;
        if (i < line.size() && line[i] == '"') {
            for (++i; i < line.size() && line[i] != '"'; ++i) {
                if (line[i] == '\\')
                    ++i;
                value += line[i];
            }
            ++i;  // closing quote
        } else {
            while (i < line.size() && line[i] != ' ')
                value += line[i++];
        }
        EXPECT_EQ(out.count(key), 0u) << key << " twice";
        out[key] = value;
        if (i < line.size()) {
            EXPECT_EQ(line[i], ' ');
            ++i;
        }
    }
    return out;
}

TEST(EventLog, ScannerLineIsKeyValue) {
    Event e;
    e.id = "scanner:192.0.2.7:1700000000";
    e.kind = EventKind::scanner;
    e.phase = EventPhase::start;
    e.time = 1700000060;
    e.start = 1700000000;
    e.end = 1700000050;
    e.address = "192.0.2.7";
    e.country = "JP";
    e.asn = 64500;
    e.destinations = 300;
    e.packets = 1200;
    e.services = {"23/tcp", "2323/tcp"};
    e.tools = {"mirai"};
    auto f = parse(e.log_line());
    EXPECT_EQ(f["kind"], "scanner");
    EXPECT_EQ(f["phase"], "start");
    EXPECT_EQ(f["id"], e.id);
    EXPECT_EQ(f["source"], "192.0.2.7");
    EXPECT_EQ(f["country"], "JP");
    EXPECT_EQ(f["asn"], "64500");
    EXPECT_EQ(f["destinations"], "300");
    EXPECT_EQ(f["packets"], "1200");
    EXPECT_EQ(f["services"], "23/tcp,2323/tcp");
    EXPECT_EQ(f["tools"], "mirai");
    EXPECT_EQ(f.count("reason"), 0u);
}

TEST(EventLog, ValuesWithSpacesOrQuotesAreQuoted) {
    Event e;
    e.id = "surge:sensor_service:tokyo b|23/tcp:1";
    e.kind = EventKind::surge;
    e.phase = EventPhase::end;
    e.dimension = "sensor_service";
    e.key = "say \"hi\" = \\";
    e.reason = "quiet";
    e.factor = 0;
    auto f = parse(e.log_line());
    EXPECT_EQ(f["id"], e.id);
    EXPECT_EQ(f["key"], e.key);
    EXPECT_EQ(f["reason"], "quiet");
    EXPECT_EQ(f.count("factor"), 0u);  // unknown (baseline under 1): left out
}

}  // namespace
}  // namespace darkscope
