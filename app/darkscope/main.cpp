// darkscope: wires the libraries together. Exit status: 0 done, 1 runtime failure (a file failed
// part-way, a device error, or the stop could not write everything: docs/operations.md,
// "Stopping"), 2 bad input (options, config, files, databases), nothing started.
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_pdump.h>
#include <rte_version.h>

#include <atomic>
#include <shared_mutex>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "darkscope/attribution.hpp"
#include "darkscope/capture_file.hpp"
#include "darkscope/engine.hpp"
#include "darkscope/fleet.hpp"
#include "darkscope/offline_sizing.hpp"
#include "darkscope/summary.hpp"
#include "darkscope/classify.hpp"
#include "darkscope/config.hpp"
#include "darkscope/pcap_replay.hpp"
#include "darkscope/port.hpp"
#include "darkscope/stop_deadline.hpp"
#include "darkscope/sub_configs.hpp"
#include "operations.hpp"
#include "darkscope/telemetry.hpp"
#include "darkscope/topology.hpp"

namespace ds = darkscope;

namespace {

// Telemetry commands are registered before EAL starts its socket, so a client never meets an
// unknown command; they read through these pointers, set once the engine exists.
// The shared lock is held by a callback while it uses them, the exclusive one by main() to clear
// them at shutdown: control plane only, never taken by workers.
std::atomic<ds::Engine*> g_engine{nullptr};
std::atomic<ds::Attribution*> g_attribution{nullptr};
std::atomic<ds::FleetExporter*> g_fleet{nullptr};
std::shared_mutex g_control_mutex;

int fail(int status, const std::string& message) {
    std::fprintf(stderr, "darkscope: %s\n", message.c_str());
    return status;
}

// /darkscope/plan. DPDK 22.11's telemetry nests one level (a dict may hold dicts of scalars, not
// deeper), so each worker is a dict of its own at the top, "worker_1", "worker_2", ... in plan
// order, beside "workers" (their count). 127 workers at most (--workers 1..127) stay under the
// 256 entries of a dict; a worker's queues are one string ("port:queue ...", cut at 127
// characters by the telemetry layer), and workers past kBudget bytes of JSON (the socket answers
// 16 KiB) are left out and counted in "workers_omitted".
ds::Value plan_value(const ds::CorePlan& plan) {
    constexpr size_t kBudget = 15 * 1024;
    ds::Dict d{{"stats_lcore", plan.stats_lcore},
               {"stats_numa_node", int64_t{plan.stats_numa_node}},
               {"eal_lcores", plan.eal_lcore_list()},
               {"workers", uint64_t{plan.workers.size()}}};
    size_t bytes = ds::to_json(ds::Value(d)).size() + 32;
    uint64_t omitted = 0;
    for (size_t i = 0; i < plan.workers.size(); ++i) {
        const auto& w = plan.workers[i];
        std::string queues;
        for (const auto& q : w.queues) {
            if (!queues.empty())
                queues += ' ';
            queues += std::to_string(q.port) + ":" + std::to_string(q.queue);
        }
        std::string key = "worker_" + std::to_string(i + 1);
        ds::Value worker =
            ds::Dict{{"lcore", w.lcore}, {"numa_node", int64_t{w.numa_node}}, {"queues", queues}};
        size_t size = key.size() + 4 + ds::to_json(worker).size();
        if (omitted || bytes + size > kBudget) {
            ++omitted;
            continue;
        }
        bytes += size;
        d.emplace_back(std::move(key), std::move(worker));
    }
    if (omitted)
        d.emplace_back("workers_omitted", omitted);
    return d;
}

ds::Value config_value(const ds::Config& config) {
    ds::Dict d;
    for (auto& [k, v] : ds::config_items(config))
        d.emplace_back(k, v);
    return d;
}

ds::Value geo_value(const ds::Attribution* attribution) {
    if (attribution == nullptr)
        return ds::Dict{{"enabled", 0u}, {"files", ds::Array{}}};
    auto st = attribution->status();
    ds::Array files;
    for (const auto& f : st.files)
        files.emplace_back(f.kind + " " + f.format + " " + f.path + " built " + f.build_date +
                           " v4=" + std::to_string(f.networks_v4) +
                           " v6=" + std::to_string(f.networks_v6));
    return ds::Dict{{"enabled", attribution->enabled() ? 1u : 0u},
                    {"files", std::move(files)},
                    {"reloads_ok", st.reloads_ok},
                    {"reloads_failed", st.reloads_failed},
                    {"last_result", st.last_result},
                    {"last_reload_time", st.last_reload_time},
                    {"memory_bytes", uint64_t{st.memory_bytes}},
                    {"image", st.image}};
}

// What the metrics need beyond the snapshot: build facts and the attribution databases.
ds::ExporterInfo metrics_info() {
    ds::ExporterInfo info;
    info.version = ds::darkscope_version();
    info.dpdk_version = rte_version();
    std::shared_lock lock(g_control_mutex);
    if (const ds::Attribution* attr = g_attribution.load()) {
        auto st = attr->status();
        info.attribution = true;
        info.reloads_ok = st.reloads_ok;
        info.reloads_failed = st.reloads_failed;
        for (const auto& f : st.files)
            info.databases.push_back({f.kind, ds::base_name(f.path), ds::date_epoch(f.build_date)});
    }
    return info;
}

// --geo-build-cache: the compiled image of the configured databases, built (or found valid) and
// saved, without starting DPDK; scripts/fetch-geo.sh runs it after installing the databases.
int build_geo_cache(const ds::Config& config) {
    ds::GeoConfig geo;
    geo.country_files = config.geo_country;
    geo.asn_files = config.geo_asn;
    geo.cache_dir = config.geo_cache;
    geo.verify_image_sections = true;  // a saved image is checked whole here, once
    std::string error;
    ds::Attribution attribution(geo);
    rte_log_set_global_level(RTE_LOG_WARNING);  // the one line below says what happened
    if (!attribution.reload(&error))
        return fail(2, error);
    const auto status = attribution.status();
    std::printf("attribution image: %s (%.1f MiB, %.2f s)\n", status.image.c_str(),
                static_cast<double>(status.memory_bytes) / 1048576.0, status.last_reload_seconds);
    return status.image.rfind("built in memory", 0) == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    // First of all: a SIGTERM or SIGHUP during start-up (systemctl stop or reload right after
    // start) must not kill darkscope by the default action. SIGTERM is honoured at the next
    // step of the start-up (exit 0), SIGHUP is kept for the stats loop.
    ds::hold_signals_at_start_up();
    ds::Config config;
    try {
        auto outcome = ds::parse_config(argc, argv, config, std::cout);
        if (outcome != ds::ParseOutcome::run)
            return 0;
        ds::validate_config(config);
    } catch (const ds::ConfigError& e) {
        return fail(2, e.what());
    }
    if (config.geo_build_cache)
        return build_geo_cache(config);
    std::optional<ds::FleetSettings> fleet_settings;
    if (!config.fleet_url.empty()) {
        try {
            fleet_settings = ds::fleet_settings_of(
                config.fleet_url, config.fleet_credentials, config.appliance, config.fleet_spool,
                config.fleet_spool_quota_mb, config.fleet_tuples);
        } catch (const ds::FleetSetupError& e) {
            return fail(2, e.what());
        }
    }

    // Every --read file must be a capture libpcap reads (pcap or pcapng) before anything starts,
    // and so must a net_pcap port's rx_pcap file: the PMD's own refusal reaches the operator as
    // a port that "was not probed", after a page of EAL lines. Returns libpcap's reason, or "".
    // A --read file may be compressed (ds::open_capture); net_pcap reads rx_pcap files itself.
    auto capture_problem = [](const std::string& file, bool compressed_ok) {
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        pcap_t* pc = compressed_ok ? ds::open_capture(file, errbuf)
                                   : pcap_open_offline(file.c_str(), errbuf);
        if (pc == nullptr)
            return std::string(errbuf);
        pcap_close(pc);
        return std::string();
    };
    for (const auto& file : config.read_files)
        if (auto why = capture_problem(file, true); !why.empty())
            return fail(2, "--read " + file + ": " + why);
    for (const auto& spec : config.ports)
        for (const auto& file : ds::rx_pcap_files(spec))
            if (auto why = capture_problem(file, false); !why.empty())
                return fail(2, "--port " + spec + ": rx_pcap file " + file + ": " + why);
    if (auto why = ds::infinite_rx_problem(config); !why.empty())
        return fail(2, why);

    // The per-worker tables are fixed in size: say so now if they cannot fit the budget.
    const size_t table_mb =
        (ds::worker_table_bytes(config.precise_sketches, config.tuple_entries) + (1u << 20) - 1) >>
        20;
    if (table_mb > config.memory_budget_mb)
        return fail(2, "--memory-budget-mb " + std::to_string(config.memory_budget_mb) +
                           ": each worker's tables need " + std::to_string(table_mb) + " MiB");

    // Sensors and the classifier: pure data, checked before anything starts.
    ds::SensorTable sensors;
    for (const auto& spec : config.sensors) {
        for (const auto& prefix : spec.prefixes) {
            std::string error;
            if (!sensors.add(spec.name, prefix, &error))
                return fail(2, "--sensor " + spec.name + ": " + error);
        }
    }
    sensors.finalize();
    // The list is always the configured one (its default when not given): given empty, it
    // means no UDP service ports at all.
    ds::Classifier classifier(ds::classify_config(config), &sensors);

    ds::CorePlan plan;
    try {
        plan = ds::plan_cores(ds::plan_request(config), config.topology_xml);
    } catch (const std::exception& e) {
        return fail(2, e.what());
    }
    if (config.plan_only) {
        std::cout << plan.to_text();
        return 0;
    }

    auto asn_name = [](uint32_t asn) {
        std::shared_lock lock(g_control_mutex);
        ds::Attribution* attr = g_attribution.load();
        return attr ? attr->asn_name(asn) : std::string();
    };
    if (config.telemetry) {
        ds::TelemetryHooks hooks;
        hooks.snapshot = []() -> std::shared_ptr<const ds::Snapshot> {
            std::shared_lock lock(g_control_mutex);
            ds::Engine* eng = g_engine.load();
            return eng ? eng->snapshot() : nullptr;
        };
        hooks.plan = [&plan] { return plan_value(plan); };
        hooks.config = [&config] { return config_value(config); };
        hooks.asn_name = asn_name;
        hooks.geo = [] {
            std::shared_lock lock(g_control_mutex);
            return geo_value(g_attribution.load());
        };
        hooks.reload = []() -> ds::Value {
            std::shared_lock lock(g_control_mutex);
            ds::Engine* eng = g_engine.load();
            if (eng == nullptr)
                return ds::Dict{{"ok", 0u}, {"result", "starting up"}};
            std::string message;
            bool ok = eng->reload_attribution(&message);
            return ds::Dict{{"ok", ok ? 1u : 0u}, {"result", message}};
        };
        ds::register_telemetry(std::move(hooks));
        ds::register_fleet_telemetry([]() -> std::unique_ptr<ds::FleetStatus> {
            std::shared_lock lock(g_control_mutex);
            ds::FleetExporter* fleet = g_fleet.load();
            return fleet ? std::make_unique<ds::FleetStatus>(fleet->status()) : nullptr;
        });
    }

    if (ds::stop_requested_at_start_up("before EAL", false))
        return 0;
    try {
        // Offline, EAL's memory fits the job (darkscope/offline_sizing.hpp).
        ds::eal_start(ds::build_eal_args(ds::sized_to_job(config), plan));
    } catch (const ds::PrefixInUse& e) {
        return fail(2, e.what());
    } catch (const std::exception& e) {
        return fail(2, std::string(e.what()) +
                           " (check --port specs, --file-prefix, hugepages or --no-huge)");
    }
    for (const auto& note : config.notes)
        RTE_LOG(NOTICE, USER1, "%s\n", note.c_str());
    // DPDK's capture tools (dpdk-dumpcap, dpdk-pdump) attach to live ports as secondaries.
    if (!config.offline() && rte_pdump_init() != 0)
        RTE_LOG(WARNING, USER1, "packet-dump service not enabled: %s\n", rte_strerror(rte_errno));
    if (ds::stop_requested_at_start_up("EAL started", true)) {
        ds::eal_stop();
        return 0;
    }

    int status = 0;
    {
        std::unique_ptr<ds::Ports> ports;
        std::unique_ptr<ds::Attribution> attribution;
        std::unique_ptr<ds::Engine> engine;
        std::unique_ptr<ds::FleetExporter> fleet;
        try {
            if (!config.offline())
                ports = std::make_unique<ds::Ports>(config, plan);
            if (!config.geo_country.empty() || !config.geo_asn.empty()) {
                attribution = std::make_unique<ds::Attribution>(ds::geo_config(config, plan));
                std::string error;
                if (!attribution->reload(&error)) {
                    ds::eal_stop();
                    return fail(2, error);
                }
            } else {
                RTE_LOG(NOTICE, USER1,
                        "attribution is off: no --geo-country or --geo-asn database given\n");
            }
            engine = std::make_unique<ds::Engine>(config, plan, ports.get(), attribution.get(),
                                                  sensors, classifier);
            if (fleet_settings) {
                fleet = std::make_unique<ds::FleetExporter>(*fleet_settings, config.offline());
                engine->export_to(fleet.get());
            }
        } catch (const std::exception& e) {
            engine.reset();
            ports.reset();
            ds::eal_stop();
            return fail(2, e.what());
        }

        g_engine.store(engine.get());
        g_attribution.store(attribution.get());
        g_fleet.store(fleet.get());
        std::unique_ptr<ds::Operations> operations;

        try {
            if (ports)
                ports->start();
            if (!config.offline())
                operations = std::make_unique<ds::Operations>(config, *engine,
                                                              [] { return metrics_info(); });
            if (ds::stop_requested_at_start_up("ports started", true)) {
                status = 0;
            } else {
                ds::take_signals_now();
                status = config.offline() ? engine->run_offline() : engine->run_live();
            }
        } catch (const std::exception& e) {
            status = fail(1, e.what());
        }
        if (operations)
            operations->stopping();
        operations.reset();
        if (!config.summary_file.empty()) {
            try {
                ds::write_summary(config.summary_file, *engine->snapshot(), asn_name);
            } catch (const std::exception& e) {
                status = fail(1, e.what());
            }
        }
        // Keep the telemetry callbacks off freed memory: they read through these pointers.
        {
            std::unique_lock lock(g_control_mutex);
            g_engine.store(nullptr);
            g_attribution.store(nullptr);
            g_fleet.store(nullptr);
        }
        // The intervals still queued go to the spool, and one last delivery is tried (until the
        // stop's deadline).
        if (fleet) {
            fleet->stop();
            if (const uint64_t lost = fleet->dropped_since_stop())
                ds::stop_deadline().lost(std::to_string(lost) + " fleet intervals (--fleet-spool " +
                                         config.fleet_spool + ")");
        }
        if (ports)
            ports->stop();
        engine.reset();
        attribution.reset();
        ports.reset();
        // What the stop could not write, and exit status 1 for it.
        status = ds::report_stop(status);
    }
    ds::eal_stop();
    return status;
}
