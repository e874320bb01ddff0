// The libraries' own configurations, each built from the Config by one function here, so that no
// call site copies options by hand. Values that do not come from options (the sensors' coverage,
// the core plan's sockets) are arguments.
#pragma once

#include "darkscope/attribution.hpp"
#include "darkscope/classify.hpp"
#include "darkscope/config.hpp"
#include "darkscope/events.hpp"
#include "darkscope/history_store.hpp"
#include "darkscope/topology.hpp"

namespace darkscope {

// What the core planner is asked for: ports, queues, workers or cores, the stats core.
PlanRequest plan_request(const Config& config);

// --udp-service-ports as the classifier's port set (given empty: no UDP service port).
ClassifyConfig classify_config(const Config& config);

// The detectors' thresholds (--surge-*, --dos-*, --scanner-*), the sensors' IPv4 coverage for
// extrapolating attack rates; the rest of EventConfig keeps its defaults.
EventConfig event_config(const Config& config, const SensorTable& sensors);

// --geo-country and --geo-asn, with the tables on the first worker's NUMA node and room for
// every planned worker.
GeoConfig geo_config(const Config& config, const CorePlan& plan);

// --db and the retention days; offline, enqueue() waits for room (a replay has no clock to keep
// up with). The log callback is left for the caller.
StoreOptions store_options(const Config& config);

}  // namespace darkscope
