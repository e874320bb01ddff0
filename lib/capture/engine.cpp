// The engine's set-up and the live stats loop: workers created and launched, the wall clock the
// live workers read, control (signals, reload), and the status telemetry shows.
#include "darkscope/engine.hpp"

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "darkscope/attribution.hpp"
#include "darkscope/events.hpp"
#include "darkscope/offline_sizing.hpp"
#include "darkscope/port.hpp"
#include "darkscope/sub_configs.hpp"
#include "darkscope/recorder.hpp"
#include "darkscope/stop_deadline.hpp"
#include "darkscope/thread_cpus.hpp"
#include "worker.hpp"
#include "worker_tables.hpp"

namespace darkscope {

namespace {

void signal_handler(int sig) {
    if (sig == SIGHUP) {
        control_flags().reload.store(true);
    } else {
        stop_deadline().start();  // the bound runs from the signal
        control_flags().stop.store(true);
    }
}

RecordOptions record_options(const Config& config) {
    RecordOptions o;
    o.dir = config.record_dir;
    o.filter = config.record_filter;
    o.rotate_s = config.record_rotate_s;
    o.snaplen = config.record_snaplen;
    o.compression = config.record_compress;
    o.quota_bytes = uint64_t{config.record_quota_mb} << 20;
    o.appliance = config.appliance;
    if (o.appliance.empty()) {
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        o.appliance = host[0] != 0 ? host : "darkscope";
    }
    o.offline = config.offline();
    o.events = config.record_events;
    o.pretrigger_s = config.record_pretrigger_s;
    o.pretrigger_mb = config.record_pretrigger_mb;
    o.event_tail_s = config.record_event_tail_s;
    o.event_max_bytes = uint64_t{config.record_event_max_mb} << 20;
    return o;
}

}  // namespace

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void control_log(int level, const std::string& message) {
    rte_log(level <= 3 ? RTE_LOG_ERR : RTE_LOG_NOTICE, RTE_LOGTYPE_USER1, "USER1: %s\n",
            message.c_str());
}

ControlFlags& control_flags() {
    static ControlFlags flags;
    return flags;
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = signal_handler;
    // Installed at the top of main(): system calls of the start-up under way resume.
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

Engine::Engine(const Config& config, const CorePlan& plan, Ports* ports, Attribution* attribution,
               const SensorTable& sensors, const Classifier& classifier)
    : config_(config),
      plan_(plan),
      ports_(ports),
      attribution_(attribution),
      sensors_(sensors),
      classifier_(classifier),
      interval_(kWindowPreciseFactor * config.precise_sketches),
      hour_(kWindowPreciseFactor * config.precise_sketches),
      day_(kWindowPreciseFactor * config.precise_sketches),
      total_(kWindowPreciseFactor * config.precise_sketches),
      unsynced_(kWindowPreciseFactor * config.precise_sketches),
      tuple_sources_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      tuple_prefixes_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      tuple6_sources_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      tuple6_prefixes_(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      series_(std::make_shared<SeriesHistory>()) {
    start_time_ = now_seconds();
    for (unsigned i = 0; i < sensors.size(); ++i)
        sensor_names_.push_back(sensors.name(static_cast<uint16_t>(i)));
    g_wall_ns.store(static_cast<uint64_t>(start_time_ * 1e9), std::memory_order_relaxed);
    // The history writer, the event hook's thread and the recorder's writer start below.
    const ScopedStartCpus service_threads(config.offline());
    if (!config.db_file.empty()) {
        StoreOptions options = store_options(config);
        options.log = control_log;
        store_ = std::make_unique<HistoryStore>(options);
    }
    events_ = std::make_unique<EventEngine>(event_config(config, sensors));
    if (!config.event_hook.empty())
        hook_ = std::make_unique<EventHook>(config.event_hook, config.event_hook_timeout_s,
                                            control_log);
    // Offline, the tuple tables and the mbuf pool fit the capture (darkscope/offline_sizing.hpp).
    const Config job = sized_to_job(config);
    if (config.offline()) {
        register_offline_meta();
        offline_pool_ = create_offline_packet_pool("offline_mbufs", job.mbufs,
                                                   static_cast<int>(rte_socket_id()));
    }
    if (!config.record_dir.empty())
        recorder_ = std::make_unique<Recorder>(record_options(config), sensor_names_,
                                               static_cast<unsigned>(plan.workers.size()));
    if (config.telemetry)
        register_record_telemetry();
    worker_memory_ = std::make_unique<WorkerMemory>(config.offline());
    for (unsigned i = 0; i < plan.workers.size(); ++i) {
        WorkerContext* w = create_worker(i, plan.workers[i], job, ports, *worker_memory_);
        w->record = recorder_ ? recorder_->tap(i) : nullptr;
        w->classifier = &classifier;
        w->attribution = attribution;
        w->epoch = &epoch_;
        w->stop = &workers_stop_;
        workers_.push_back(w);
    }
    // An empty snapshot, so telemetry answers from the first moment.
    auto s = std::make_shared<Snapshot>();
    s->interval_s = config.interval_s;
    s->offline = config.offline();
    s->sensor_names = sensor_names_;
    refresh_status(*s);
    snapshot_ = std::move(s);
}

Engine::~Engine() {
    if (workers_running_)
        stop_workers();
    // After the last interval's events and the shutdown's: every event capture is named.
    if (recorder_)
        recorder_->finish();
    for (auto* w : workers_)
        destroy_worker(w);
    worker_memory_.reset();
    if (offline_pool_)
        rte_mempool_free(offline_pool_);
}

void Engine::launch_workers() {
    workers_stop_.store(false);
    for (auto* w : workers_) {
        w->running.store(true);
        int rc = rte_eal_remote_launch(worker_main, w, w->lcore);
        if (rc != 0)
            throw std::runtime_error("cannot launch worker on lcore " + std::to_string(w->lcore));
    }
    workers_running_ = true;
}

void Engine::stop_workers() {
    workers_stop_.store(true);
    rte_eal_mp_wait_lcore();
    workers_running_ = false;
    // Their last packets are with the writer now; it writes them, and closes every file when
    // the Engine goes (after the last interval's events), bounded by its buffers, so nothing
    // waits for the stop's deadline; its drops are counted as they happen, and its last log
    // line gives them.
    if (recorder_)
        recorder_->workers_stopped();
}

std::shared_ptr<const Snapshot> Engine::snapshot() const {
    std::lock_guard lock(snapshot_mutex_);
    return snapshot_;
}

void Engine::refresh_status(Snapshot& s) const {
    s.uptime_s = now_seconds() - start_time_;
    if (FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        unsigned long kb = 0;
        while (std::fgets(line, sizeof line, f)) {
            if (std::sscanf(line, "VmRSS: %lu kB", &kb) == 1)
                s.rss_bytes = kb * 1024ull;
            if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1)
                s.rss_peak_bytes = kb * 1024ull;
        }
        std::fclose(f);
    }
    s.dpdk_heap_bytes = 0;
    for (unsigned socket = 0; socket < rte_socket_count(); ++socket) {
        rte_malloc_socket_stats st{};
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(socket), &st) == 0)
            s.dpdk_heap_bytes += st.heap_allocsz_bytes;
    }
    s.workers.clear();
    for (auto* w : workers_) {
        WorkerStatus ws;
        ws.id = w->id;
        ws.lcore = w->lcore;
        ws.numa_node = w->numa_node;
        for (auto& [port, queue] : w->queues) {
            if (!ws.queues.empty())
                ws.queues += ' ';
            ws.queues += std::to_string(port) + ":" + std::to_string(queue);
        }
        if (w->offline)
            ws.queues = "offline";
        ws.packets = w->packets.load(std::memory_order_relaxed);
        ws.bursts = w->bursts.load(std::memory_order_relaxed);
        ws.idle_polls = w->idle_polls.load(std::memory_order_relaxed);
        s.workers.push_back(ws);
    }
    s.mempools.clear();
    rte_mempool_walk(
        [](rte_mempool* mp, void* arg) {
            static_cast<Snapshot*>(arg)->mempools.push_back(
                MempoolStatus{mp->name, rte_mempool_avail_count(mp), mp->size});
        },
        &s);
    s.ports.clear();
    if (ports_ != nullptr) {
        for (unsigned i = 0; i < ports_->info().size(); ++i) {
            const PortInfo& p = ports_->info()[i];
            PortCounters c = ports_->counters(i);
            s.ports.push_back(PortStatus{p.name, p.driver, p.socket, p.rx_queues, c.link_up,
                                         c.link_speed_mbps, c.ipackets, c.ibytes, c.imissed,
                                         c.ierrors, c.rx_nombuf});
        }
    }
}

bool Engine::reload_attribution(std::string* message) {
    std::lock_guard lock(reload_mutex_);
    // Reloads queued behind the one under way (telemetry requests, SIGHUP) do not hold the
    // stop: each takes seconds with large databases.
    if (control_flags().stop.load()) {
        if (message)
            *message = "stopping: not reloaded";
        return false;
    }
    if (attribution_ == nullptr) {
        if (message)
            *message = "attribution is off: no --geo-country or --geo-asn file";
        return false;
    }
    std::string error;
    bool ok = attribution_->reload(&error);
    if (message)
        *message = ok ? "reloaded" : error;
    RTE_LOG(NOTICE, USER1, "attribution reload: %s\n", ok ? "ok" : error.c_str());
    return ok;
}

void Engine::poll_control() {
    if (control_flags().reload.exchange(false)) {
        std::string msg;
        reload_attribution(&msg);
    }
}

int Engine::run_live() {
    launch_workers();
    const int64_t interval = config_.interval_s;
    double started = now_seconds();
    int64_t start_s = static_cast<int64_t>(std::floor(started));
    int64_t next_boundary = (start_s / interval + 1) * interval;  // aligned to the wall clock
    while (!control_flags().stop.load()) {
        double now = now_seconds();
        g_wall_ns.store(static_cast<uint64_t>(now * 1e9), std::memory_order_relaxed);
        if (config_.duration_s && now - started >= *config_.duration_s)
            break;
        if (now >= static_cast<double>(next_boundary)) {
            close_interval(start_s, next_boundary, false);
            start_s = next_boundary;
            next_boundary += interval;
        }
        poll_control();
        if (stats_tick_)
            stats_tick_(now);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    begin_stop();
    stop_workers();
    close_interval(start_s, static_cast<int64_t>(std::ceil(now_seconds())), true);
    flush_rollups();
    publish();  // the history's counts after its flush, for --summary and telemetry
    return 0;
}

}  // namespace darkscope
