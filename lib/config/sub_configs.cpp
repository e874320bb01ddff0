// The libraries' configurations built from the Config: the one place an option's value is handed
// to the library that uses it.
#include "darkscope/sub_configs.hpp"

namespace darkscope {

PlanRequest plan_request(const Config& config) {
    PlanRequest r;
    r.ports = config.ports;
    r.rx_queues = config.rx_queues;
    r.workers = config.workers;
    r.cores = config.cores;
    r.stats_core = config.stats_core;
    r.share_cpus = config.share_cpus;
    return r;
}

ClassifyConfig classify_config(const Config& config) {
    ClassifyConfig c;
    for (auto port : config.udp_service_ports)
        c.udp_service_ports.set(port);
    return c;
}

EventConfig event_config(const Config& config, const SensorTable& sensors) {
    EventConfig e;
    e.surge_factor = config.surge_factor;
    e.surge_min_packets = config.surge_min_packets;
    e.surge_min_sources = config.surge_min_sources;
    e.surge_quiet_intervals = config.surge_quiet_intervals;
    e.dos_min_packets = config.dos_min_packets;
    e.dos_min_duration_s = config.dos_min_duration_s;
    e.dos_min_window_packets = config.dos_min_window_packets;
    e.scanner_min_destinations = config.scanner_min_destinations;
    e.ipv4_coverage = sensors.ipv4_coverage();
    return e;
}

GeoConfig geo_config(const Config& config, const CorePlan& plan) {
    GeoConfig g;
    g.country_files = config.geo_country;
    g.asn_files = config.geo_asn;
    g.cache_dir = config.geo_cache;
    g.max_workers = static_cast<unsigned>(plan.workers.size());
    return g;
}

StoreOptions store_options(const Config& config) {
    StoreOptions s;
    s.path = config.db_file;
    s.retention_interval_days = config.retention_intervals_days;
    s.retention_hour_days = config.retention_hours_days;
    // Live, retention runs from the wall clock; offline, from the newest period the run wrote.
    s.wall_clock_retention = !config.offline();
    if (config.offline()) {
        s.full_wait_ms = 60'000;
        s.batch_wait_ms = 250;  // fuller batches: one commit for many periods (docs/schema.md)
        // Batches of thousands of periods, with room to queue two of them (docs/schema.md).
        s.batch_items = 4096;
        s.batch_rows = 262144;
        s.queue_limit = 8192;
    }
    return s;
}

}  // namespace darkscope
