// The closed interval to the fleet exporter: its rows as the history has them but every key of
// every dimension (no top-K cut: the fleet adds appliances up key by key), with the interval's
// totals. The tuples and events were handed over during the close (merge_worker_tables,
// emit_events); the exporter's thread does the rest.
#include <limits>

#include "darkscope/engine.hpp"
#include "darkscope/fleet.hpp"
#include "darkscope/rollups.hpp"

namespace darkscope {

void Engine::export_interval(int64_t start_s, int64_t end_s) {
    const CounterSet& c = *interval_.counters;
    fleet_->close_interval(
        start_s, end_s, c.packets, c.bytes,
        period_rows(c, {}, {}, sensor_names_, std::numeric_limits<uint32_t>::max()), sensor_names_);
}

}  // namespace darkscope
