// A closed interval as the spool keeps it and ClickHouse takes it: one section per table, each
// the table's columns and its rows as TabSeparated text, the interval's own row (the table
// `intervals`, the delivery mark) last. Not installed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "darkscope/fleet.hpp"

namespace darkscope {

struct IntervalSection {
    std::string table;    // the Distributed table's name
    std::string columns;  // "a, b, c"
    uint64_t rows = 0;
    std::string body;  // TabSeparated rows
};

struct SpooledInterval {
    int64_t start = 0;
    uint64_t export_id = 0;
    std::vector<IntervalSection> sections;  // `intervals` last
};

// The spool file of an interval. `tuples`: ship the source tuples too.
std::string interval_file(const FleetInterval& interval, const std::string& appliance,
                          uint64_t export_id, const std::vector<std::string>& sensor_names,
                          bool tuples);
// Reads a spool file back; false when it is not one (a damaged file).
bool parse_interval_file(const std::string& content, SpooledInterval& out);

}  // namespace darkscope
