// What a live darkscope does for its operators besides capturing: the Prometheus endpoint, the
// systemd readiness and watchdog notifications, and the start-up's signal bookkeeping
// (docs/operations.md).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "darkscope/config.hpp"
#include "darkscope/engine.hpp"
#include "darkscope/exposition.hpp"
#include "darkscope/metrics_server.hpp"
#include "darkscope/service_notify.hpp"

namespace darkscope {

class Operations {
  public:
    // Starts the metrics endpoint (unless --metrics-listen off; an address that cannot be bound
    // is a warning, capture goes on), hooks the watchdog into the engine's stats loop and tells
    // systemd the service is ready. Call once the ports are up.
    Operations(const Config& config, Engine& engine, std::function<ExporterInfo()> info);
    ~Operations();
    // STOPPING=1 to systemd, and the endpoint closed: the engine is about to go.
    void stopping();

  private:
    const Config& config_;
    Engine& engine_;
    std::function<ExporterInfo()> info_;
    MetricsExporter exporter_;
    std::unique_ptr<MetricsServer> server_;
    WatchdogPinger watchdog_;
    double started_s_;
    std::string stall_file_;  // fault injection: DARKSCOPE_FAULT_STALL_STATS_FILE
    bool stopped_ = false;
};

// The first thing main() does: SIGTERM, SIGINT and SIGHUP get darkscope's handlers and are
// blocked, so every thread the start-up creates (EAL's, the store's, the metrics server's)
// inherits the block and a signal never interrupts them; one that arrives waits, pending.
void hold_signals_at_start_up();
// True (and says so in the log, or on stderr before EAL) when SIGTERM or SIGINT arrived during
// start-up; `stage` is how far the start-up got. main() then leaves with status 0.
bool stop_requested_at_start_up(const char* stage, bool eal_running);
// Capture begins: the main thread (the stats loop) takes the signals from here on; a SIGHUP that
// arrived during start-up is delivered now, and the log says it was kept.
void take_signals_now();

std::string darkscope_version();
std::string base_name(const std::string& path);
// "2026-11-30" (or a longer ISO 8601 text) as epoch seconds at 00:00 UTC; 0 when not a date.
double date_epoch(const std::string& date);

}  // namespace darkscope
