// period_sketches: the unique-source sketches of a period's counters that the fleet's
// aggregates-only mode ships (docs/fleet.md), so that a report can merge them across appliances
// and intervals. Not installed.
#pragma once

#include <string>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/fleet.hpp"

namespace darkscope {

// The source sketches of the whole period (`total`, key `all`), of each probe service (named as
// period_rows names them, the keys sharing a name merged), of each sensor and of each country,
// each serialized (BasicHyperLogLog::serialize: the sparse hashes or the dense registers).
std::vector<FleetSketch> period_sketches(const CounterSet& c,
                                         const std::vector<std::string>& sensor_names);

}  // namespace darkscope
