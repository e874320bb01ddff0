// darkscope's commands on DPDK's v2 telemetry socket. Callbacks run on DPDK's telemetry threads,
// concurrently with the data path; they read only the latest published Snapshot.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "darkscope/snapshot.hpp"
#include "darkscope/value.hpp"
#include "darkscope/views.hpp"

struct rte_tel_data;

namespace darkscope {

struct TelemetryHooks {
    std::function<std::shared_ptr<const Snapshot>()> snapshot;  // latest published snapshot
    std::function<Value()> plan;                                // /darkscope/plan
    std::function<Value()> config;                              // /darkscope/config
    AsnNamer asn_name;                                          // may be empty
    std::function<Value()> geo;                                 // /darkscope/geo, may be empty
    std::function<Value()> reload;                              // /darkscope/reload, may be empty
};

// Registers every /darkscope/* command. Call once, before or after rte_eal_init.
void register_telemetry(TelemetryHooks hooks);

// Renders a Value into a telemetry reply (one level of nesting, as the library allows), as
// telemetry_form() describes it; false when the library refused part of it. It does not check
// the reply's size: telemetry_reply_problem() does (the /darkscope/* commands answer an error).
bool fill_tel_data(rte_tel_data* d, const Value& value);

}  // namespace darkscope
