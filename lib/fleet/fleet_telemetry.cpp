// /darkscope/fleet: the export's state, from the exporter's own counters (never the data path).
#include <rte_telemetry.h>

#include "darkscope/fleet.hpp"
#include "darkscope/telemetry.hpp"
#include "darkscope/value.hpp"

namespace darkscope {

namespace {

std::function<std::unique_ptr<FleetStatus>()>& status_source() {
    static std::function<std::unique_ptr<FleetStatus>()> source;
    return source;
}

int fleet_command(const char*, const char*, rte_tel_data* d) {
    std::unique_ptr<FleetStatus> s = status_source() ? status_source()() : nullptr;
    Value v;
    if (s == nullptr) {
        v = Dict{{"enabled", 0u}};
    } else {
        v = Dict{{"enabled", 1u},
                 {"connected", s->connected ? 1u : 0u},
                 {"last_delivered_interval", s->last_delivered_interval},
                 {"spool_bytes", s->spool_bytes},
                 {"spool_intervals", s->spool_intervals},
                 {"dropped_intervals", s->dropped_intervals},
                 {"failures", s->failures},
                 {"last_error", s->last_error.empty() ? std::string("none") : s->last_error},
                 {"rows_sent", s->rows_sent},
                 {"bytes_sent", s->bytes_sent},
                 {"tuples_unexported", s->tuples_unexported}};
    }
    return fill_tel_data(d, telemetry_form(v)) ? 0 : -1;
}

}  // namespace

void register_fleet_telemetry(std::function<std::unique_ptr<FleetStatus>()> status) {
    status_source() = std::move(status);
    rte_telemetry_register_cmd("/darkscope/fleet", fleet_command,
                               "Fleet export: delivery to ClickHouse, spool, failures");
}

}  // namespace darkscope
