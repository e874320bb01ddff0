// The closed interval to the fleet exporter: its rows as the history has them but every key of
// every dimension (no top-K cut: the fleet adds appliances up key by key), with the interval's
// totals. The tuples and events were handed over during the close (merge_worker_tables,
// emit_events); the exporter's thread does the rest.
//
// With tuples on, each worker also keeps the packets its tuple tables spill in a spill log per
// epoch (darkscope/spill_log.hpp), which the close hands over with the tuples: the fleet's
// tuples then hold every IP packet. Without the fleet, or with --fleet-tuples off, the workers
// have no spill log. With --fleet-tuples off the interval carries its source sketches instead
// (period_sketches.cpp), which reports merge into unique sources over any set of appliances and
// intervals.
#include <rte_memory.h>

#include <limits>
#include <new>
#include <stdexcept>
#include <string>

#include "darkscope/engine.hpp"
#include "darkscope/fleet.hpp"
#include "darkscope/rollups.hpp"
#include "period_sketches.hpp"
#include "worker_tables.hpp"

namespace darkscope {

void Engine::export_to(FleetExporter* fleet) {
    fleet_ = fleet;
    if (fleet == nullptr || !fleet->tuples_on())
        return;
    const uint32_t entries = config_.fleet_spill_entries;
    for (WorkerContext* w : workers_) {
        const int socket = w->numa_node < 0 ? SOCKET_ID_ANY : w->numa_node;
        for (SpillLog*& log : w->spill_logs) {
            void* storage = worker_memory_->allocate(
                "darkscope_spill_log", size_t{entries} * sizeof(SpilledPacket), socket);
            void* obj =
                worker_memory_->allocate("darkscope_spill_log_obj", sizeof(SpillLog), socket);
            if (storage == nullptr || obj == nullptr)
                throw std::runtime_error("cannot allocate the fleet spill log of worker " +
                                         std::to_string(w->id) +
                                         " (lower --fleet-spill-entries or raise --memory)");
            log = new (obj) SpillLog(static_cast<SpilledPacket*>(storage), entries);
        }
    }
}

void Engine::export_interval(int64_t start_s, int64_t end_s) {
    const CounterSet& c = *interval_.counters;
    if (!fleet_->tuples_on())
        fleet_->add_sketches(period_sketches(c, sensor_names_));
    fleet_->close_interval(
        start_s, end_s, c.packets, c.bytes,
        period_rows(c, {}, {}, sensor_names_, std::numeric_limits<uint32_t>::max()), sensor_names_);
}

}  // namespace darkscope
