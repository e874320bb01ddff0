#include "darkscope/capture.hpp"

#include <pcap/pcap.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <csignal>
#include <chrono>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "darkscope/attribution.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/port.hpp"
#include "darkscope/views.hpp"

namespace darkscope {

namespace {

constexpr unsigned kMaxBurst = 64;
constexpr unsigned kPrefetchAhead = 4;
// Bytes of a multi-segment frame copied out for the decoder: headers only.
constexpr unsigned kLinearHeaderBytes = 256;
constexpr unsigned kOfflineRingSize = 4096;

// Offline packets carry their capture time, wire length and link type in an mbuf dynfield.
struct OfflineMeta {
    uint64_t ts_ns;
    uint32_t wire_len;
    uint8_t link;
};
int g_offline_meta_offset = -1;

inline OfflineMeta* offline_meta(rte_mbuf* m) {
    return RTE_MBUF_DYNFIELD(m, g_offline_meta_offset, OfflineMeta*);
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// Everything one worker owns. Only the worker writes `sets[epoch & 1]` and the status fields;
// the stats core reads the status fields (relaxed) and owns the retired set after the ack.
struct alignas(64) WorkerContext {
    unsigned id = 0;
    unsigned lcore = 0;
    int numa_node = -1;
    unsigned burst = 32;
    bool offline = false;
    std::vector<std::pair<uint16_t, uint16_t>> queues;  // (port id, queue)
    rte_ring* ring = nullptr;                           // offline input
    CounterSet* sets[2] = {nullptr, nullptr};
    const Classifier* classifier = nullptr;
    Attribution* attribution = nullptr;
    const std::atomic<uint32_t>* epoch = nullptr;
    const std::atomic<bool>* stop = nullptr;

    alignas(64) std::atomic<uint32_t> seen_epoch{0};
    std::atomic<uint64_t> packets{0};
    std::atomic<uint64_t> bursts{0};
    std::atomic<uint64_t> idle_polls{0};
    std::atomic<uint64_t> dequeued{0};  // offline: packets taken from the ring and counted
    std::atomic<bool> running{false};
};

namespace {

// Relaxed single-writer increment: a load and a store, no read-modify-write instruction.
inline void bump(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void process_burst(WorkerContext& w, CounterSet& table, rte_mbuf** pkts, unsigned n) {
    PacketFacts facts[kMaxBurst];
    uint8_t linear[kLinearHeaderBytes];
    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (unsigned i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
        rte_mbuf* m = pkts[i];
        const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
        uint32_t caplen = m->data_len;
        if (unlikely(m->nb_segs > 1)) {
            caplen = std::min<uint32_t>(m->pkt_len, kLinearHeaderBytes);
            data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, caplen, linear));
        }
        if (w.offline) {
            const OfflineMeta* meta = offline_meta(m);
            decode(data, caplen, meta->wire_len, static_cast<LinkType>(meta->link), facts[i]);
        } else {
            decode(data, caplen, m->pkt_len, LinkType::ethernet, facts[i]);
        }
    }
    w.classifier->classify_burst(facts, n);
    if (w.attribution != nullptr) w.attribution->lookup_burst(w.id, facts, n);
    for (unsigned i = 0; i < n; ++i) count_packet(table, facts[i]);
    if (w.offline) {
        uint64_t first = offline_meta(pkts[0])->ts_ns, last = offline_meta(pkts[n - 1])->ts_ns;
        if (table.first_ts_ns == 0 || first < table.first_ts_ns) table.first_ts_ns = first;
        if (last > table.last_ts_ns) table.last_ts_ns = last;
    }
    rte_pktmbuf_free_bulk(pkts, n);
}

int worker_main(void* arg) {
    WorkerContext& w = *static_cast<WorkerContext*>(arg);
    if (w.attribution != nullptr) w.attribution->register_worker(w.id);
    rte_mbuf* pkts[kMaxBurst];
    uint32_t my_epoch = w.epoch->load(std::memory_order_acquire);
    w.seen_epoch.store(my_epoch, std::memory_order_release);
    size_t next_queue = 0;
    while (!w.stop->load(std::memory_order_relaxed)) {
        // One relaxed load per loop: the epoch flip costs the data path nothing else.
        uint32_t e = w.epoch->load(std::memory_order_acquire);
        if (unlikely(e != my_epoch)) {
            my_epoch = e;
            w.seen_epoch.store(e, std::memory_order_release);
        }
        CounterSet& table = *w.sets[my_epoch & 1];
        unsigned n = 0;
        if (w.offline) {
            n = rte_ring_sc_dequeue_burst(w.ring, reinterpret_cast<void**>(pkts), w.burst,
                                          nullptr);
        } else if (!w.queues.empty()) {
            auto [port, queue] = w.queues[next_queue];
            next_queue = next_queue + 1 == w.queues.size() ? 0 : next_queue + 1;
            n = rte_eth_rx_burst(port, queue, pkts, static_cast<uint16_t>(w.burst));
        }
        if (n == 0) {
            bump(w.idle_polls, 1);
        } else {
            process_burst(w, table, pkts, n);
            bump(w.packets, n);
            bump(w.bursts, 1);
            if (w.offline) bump(w.dequeued, n);
        }
        if (w.attribution != nullptr) w.attribution->quiescent(w.id);
    }
    if (w.attribution != nullptr) w.attribution->unregister_worker(w.id);
    w.running.store(false, std::memory_order_release);
    return 0;
}

void signal_handler(int sig) {
    if (sig == SIGHUP)
        control_flags().reload.store(true);
    else
        control_flags().stop.store(true);
}

LinkType link_type_of(int dlt) {
    switch (dlt) {
        case DLT_EN10MB:
            return LinkType::ethernet;
        case DLT_RAW:
#ifdef DLT_RAW_ALT
        case DLT_RAW_ALT:
#endif
            return LinkType::raw_ip;
        case DLT_IPV4:
            return LinkType::ipv4;
        case DLT_IPV6:
            return LinkType::ipv6;
        case DLT_LINUX_SLL:
            return LinkType::linux_sll;
#ifdef DLT_LINUX_SLL2
        case DLT_LINUX_SLL2:
            return LinkType::linux_sll2;
#endif
        case DLT_NULL:
        case DLT_LOOP:
            return LinkType::null_loopback;
        default:
            return static_cast<LinkType>(0xff);  // the decoder counts it unsupported_link
    }
}

}  // namespace

ControlFlags& control_flags() {
    static ControlFlags flags;
    return flags;
}

void install_signal_handlers() {
    struct sigaction sa{};
    sa.sa_handler = signal_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

Engine::Engine(const Config& config, const CorePlan& plan, Ports* ports,
               Attribution* attribution, const SensorTable& sensors,
               const Classifier& classifier)
    : config_(config),
      plan_(plan),
      ports_(ports),
      attribution_(attribution),
      sensors_(sensors),
      classifier_(classifier),
      total_(std::make_unique<CounterSet>()) {
    total_->clear();
    start_time_ = now_seconds();
    if (config.offline()) {
        static const rte_mbuf_dynfield desc = {"darkscope_offline_meta", sizeof(OfflineMeta),
                                               alignof(OfflineMeta), 0};
        g_offline_meta_offset = rte_mbuf_dynfield_register(&desc);
        if (g_offline_meta_offset < 0)
            throw std::runtime_error("cannot register the offline mbuf field");
        offline_pool_ = create_packet_pool("offline_mbufs", config.mbufs,
                                           static_cast<int>(rte_socket_id()));
    }
    for (unsigned i = 0; i < plan.workers.size(); ++i) {
        const WorkerPlan& wp = plan.workers[i];
        int socket = wp.numa_node < 0 ? SOCKET_ID_ANY : wp.numa_node;
        void* mem = rte_zmalloc_socket("darkscope_worker", sizeof(WorkerContext),
                                       RTE_CACHE_LINE_SIZE, socket);
        if (mem == nullptr) throw std::runtime_error("cannot allocate worker context");
        auto* w = new (mem) WorkerContext();
        w->id = i;
        w->lcore = wp.lcore;
        w->numa_node = wp.numa_node;
        w->burst = std::min(config.burst, kMaxBurst);
        w->offline = config.offline();
        w->classifier = &classifier;
        w->attribution = attribution;
        w->epoch = &epoch_;
        w->stop = &workers_stop_;
        for (auto& pq : wp.queues)
            if (ports != nullptr && pq.port < ports->info().size())
                w->queues.emplace_back(ports->info()[pq.port].port_id,
                                       static_cast<uint16_t>(pq.queue));
        // Counter tables on the worker's NUMA node, on hugepages where EAL has them.
        for (auto& set : w->sets) {
            set = static_cast<CounterSet*>(
                rte_zmalloc_socket("darkscope_counters", sizeof(CounterSet), 64, socket));
            if (set == nullptr)
                throw std::runtime_error(
                    "cannot allocate " + std::to_string(sizeof(CounterSet) >> 20) +
                    " MiB counter table for worker " + std::to_string(i) +
                    " (reserve more hugepages or raise --memory)");
        }
        if (w->offline) {
            std::string name = "offline_ring_" + std::to_string(i);
            w->ring = rte_ring_create(name.c_str(), kOfflineRingSize, socket,
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (w->ring == nullptr) throw std::runtime_error("cannot create " + name);
        }
        workers_.push_back(w);
    }
    // An empty snapshot, so telemetry answers from the first moment.
    auto s = std::make_shared<Snapshot>();
    s->interval_s = config.interval_s;
    s->offline = config.offline();
    for (unsigned i = 0; i < sensors.size(); ++i) s->sensor_names.push_back(sensors.name(
        static_cast<uint16_t>(i)));
    refresh_status(*s);
    snapshot_ = std::move(s);
}

Engine::~Engine() {
    if (workers_running_) stop_workers();
    for (auto* w : workers_) {
        rte_free(w->sets[0]);
        rte_free(w->sets[1]);
        if (w->ring) rte_ring_free(w->ring);
        w->~WorkerContext();
        rte_free(w);
    }
    if (offline_pool_) rte_mempool_free(offline_pool_);
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
}

std::shared_ptr<const Snapshot> Engine::snapshot() const {
    std::lock_guard lock(snapshot_mutex_);
    return snapshot_;
}

void Engine::refresh_status(Snapshot& s) const {
    s.uptime_s = now_seconds() - start_time_;
    s.workers.clear();
    for (auto* w : workers_) {
        WorkerStatus ws;
        ws.id = w->id;
        ws.lcore = w->lcore;
        ws.numa_node = w->numa_node;
        for (auto& [port, queue] : w->queues) {
            if (!ws.queues.empty()) ws.queues += ' ';
            ws.queues += std::to_string(port) + ":" + std::to_string(queue);
        }
        if (w->offline) ws.queues = "offline";
        ws.packets = w->packets.load(std::memory_order_relaxed);
        ws.bursts = w->bursts.load(std::memory_order_relaxed);
        ws.idle_polls = w->idle_polls.load(std::memory_order_relaxed);
        s.workers.push_back(ws);
    }
    s.ports.clear();
    if (ports_ != nullptr) {
        for (unsigned i = 0; i < ports_->info().size(); ++i) {
            const PortInfo& p = ports_->info()[i];
            PortCounters c = ports_->counters(i);
            s.ports.push_back(PortStatus{p.name, p.driver, p.socket, p.rx_queues, p.link_up,
                                         p.link_speed_mbps, c.ipackets, c.ibytes, c.imissed,
                                         c.ierrors, c.rx_nombuf});
        }
    }
}

void Engine::close_interval(int64_t start_s, int64_t end_s, bool workers_stopped) {
    auto interval = std::make_shared<CounterSet>();
    interval->clear();
    if (workers_stopped) {
        // Workers are gone: their current tables hold the final partial interval.
        uint32_t e = epoch_.load(std::memory_order_relaxed);
        for (auto* w : workers_) {
            interval->merge(*w->sets[e & 1]);
            w->sets[e & 1]->clear();
        }
    } else {
        uint32_t e = epoch_.load(std::memory_order_relaxed) + 1;
        epoch_.store(e, std::memory_order_release);
        for (auto* w : workers_) {
            // Each worker acknowledges at its next loop iteration (a burst at most).
            while (w->seen_epoch.load(std::memory_order_acquire) != e &&
                   w->running.load(std::memory_order_acquire))
                rte_pause();
        }
        for (auto* w : workers_) {
            CounterSet* retired = w->sets[(e - 1) & 1];
            interval->merge(*retired);
            retired->clear();
        }
    }
    total_->merge(*interval);
    ++intervals_;
    publish(std::move(interval), start_s, end_s);
}

void Engine::publish(std::shared_ptr<const CounterSet> interval, int64_t start_s, int64_t end_s) {
    auto s = std::make_shared<Snapshot>();
    s->intervals = intervals_;
    s->last_start_s = start_s;
    s->last_end_s = end_s;
    s->interval_s = config_.interval_s;
    s->offline = config_.offline();
    s->last = std::move(interval);
    s->total = std::make_shared<const CounterSet>(*total_);
    for (unsigned i = 0; i < sensors_.size(); ++i)
        s->sensor_names.push_back(sensors_.name(static_cast<uint16_t>(i)));
    refresh_status(*s);
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = std::move(s);
}

bool Engine::reload_attribution(std::string* message) {
    std::lock_guard lock(reload_mutex_);
    if (attribution_ == nullptr) {
        if (message) *message = "attribution is off: no --geo-country or --geo-asn file";
        return false;
    }
    std::string error;
    bool ok = attribution_->reload(&error);
    if (message) *message = ok ? "reloaded" : error;
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
        if (config_.duration_s && now - started >= *config_.duration_s) break;
        if (now >= static_cast<double>(next_boundary)) {
            close_interval(start_s, next_boundary, false);
            start_s = next_boundary;
            next_boundary += interval;
        }
        poll_control();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop_workers();
    close_interval(start_s, static_cast<int64_t>(std::ceil(now_seconds())), true);
    return 0;
}

void Engine::drain_offline_rings() {
    // Wait until every worker has counted everything it was given.
    for (auto* w : workers_) {
        while (rte_ring_count(w->ring) != 0 || !rte_ring_empty(w->ring)) rte_pause();
    }
}

int Engine::run_offline() {
    launch_workers();
    const int64_t interval = config_.interval_s;
    int status = 0;
    bool have_interval = false;
    int64_t cur_start = 0;
    std::vector<uint64_t> enqueued(workers_.size(), 0);
    auto wait_counted = [&] {
        for (size_t i = 0; i < workers_.size(); ++i)
            while (workers_[i]->dequeued.load(std::memory_order_acquire) != enqueued[i])
                rte_pause();
    };
    // Packets go to workers in chunks of a burst, round robin.
    std::vector<rte_mbuf*> chunk;
    chunk.reserve(kMaxBurst);
    size_t next_worker = 0;
    auto flush_chunk = [&] {
        if (chunk.empty()) return;
        WorkerContext* w = workers_[next_worker];
        unsigned done = 0;
        while (done < chunk.size())
            done += rte_ring_sp_enqueue_burst(w->ring, reinterpret_cast<void**>(chunk.data() + done),
                                              static_cast<unsigned>(chunk.size() - done), nullptr);
        enqueued[next_worker] += chunk.size();
        chunk.clear();
        next_worker = (next_worker + 1) % workers_.size();
    };
    auto close_current = [&](int64_t end_s) {
        flush_chunk();
        wait_counted();
        close_interval(cur_start, end_s, false);
    };

    char errbuf[PCAP_ERRBUF_SIZE];
    for (const auto& file : config_.read_files) {
        if (control_flags().stop.load()) break;
        pcap_t* pc = pcap_open_offline_with_tstamp_precision(file.c_str(),
                                                             PCAP_TSTAMP_PRECISION_NANO, errbuf);
        if (pc == nullptr) {
            RTE_LOG(ERR, USER1, "--read %s: %s\n", file.c_str(), errbuf);
            status = 1;
            continue;
        }
        const uint8_t link = static_cast<uint8_t>(link_type_of(pcap_datalink(pc)));
        pcap_pkthdr* hdr = nullptr;
        const u_char* bytes = nullptr;
        uint64_t file_packets = 0;
        int rc;
        while ((rc = pcap_next_ex(pc, &hdr, &bytes)) == 1) {
            uint64_t ts_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000000ull +
                             static_cast<uint64_t>(hdr->ts.tv_usec);
            int64_t sec = static_cast<int64_t>(hdr->ts.tv_sec);
            if (!have_interval) {
                cur_start = sec - ((sec % interval) + interval) % interval;
                have_interval = true;
            }
            if (sec >= cur_start + interval) {
                close_current(cur_start + interval);
                cur_start = sec - ((sec % interval) + interval) % interval;
            }
            rte_mbuf* m = rte_pktmbuf_alloc(offline_pool_);
            while (m == nullptr) {
                // Every mbuf is in flight: hand over what we hold and wait for the workers.
                flush_chunk();
                wait_counted();
                m = rte_pktmbuf_alloc(offline_pool_);
            }
            uint32_t copy = std::min<uint32_t>(hdr->caplen, rte_pktmbuf_tailroom(m));
            std::memcpy(rte_pktmbuf_mtod(m, void*), bytes, copy);
            m->data_len = static_cast<uint16_t>(copy);
            m->pkt_len = copy;
            OfflineMeta* meta = offline_meta(m);
            meta->ts_ns = ts_ns;
            meta->wire_len = std::max<uint32_t>(hdr->len, copy);
            meta->link = link;
            chunk.push_back(m);
            if (chunk.size() == workers_[next_worker]->burst) flush_chunk();
            if ((++file_packets & 1023) == 0) {
                poll_control();
                if (control_flags().stop.load()) break;
            }
        }
        if (rc == -1) {
            RTE_LOG(ERR, USER1, "--read %s: read error after %" PRIu64 " packets: %s\n",
                    file.c_str(), file_packets, pcap_geterr(pc));
            status = 1;
        }
        pcap_close(pc);
    }
    flush_chunk();
    wait_counted();
    stop_workers();
    if (have_interval)
        close_interval(cur_start, cur_start + interval, true);
    else
        publish(std::make_shared<CounterSet>(), 0, 0);
    return status;
}

void write_summary(const std::string& path, const Snapshot& s,
                   const std::function<std::string(uint32_t)>& asn_name) {
    TopRequest ports = parse_top_request("ports", "1000", 100000);
    TopRequest ports_all = parse_top_request("ports", "1000,total,all", 100000);
    TopRequest countries = parse_top_request("countries", "1000", 100000);
    TopRequest asns = parse_top_request("asns", "1000", 100000);
    TopRequest sensors = parse_top_request("sensors", "1000", 100000);
    Dict d{
        {"/darkscope/stats", stats_view(s)},
        {"/darkscope/top/ports,1000", top_view(s, ports)},
        {"/darkscope/top/ports,1000,total,all", top_view(s, ports_all)},
        {"/darkscope/top/countries,1000", top_view(s, countries)},
        {"/darkscope/top/asns,1000", top_view(s, asns, asn_name)},
        {"/darkscope/top/sensors,1000", top_view(s, sensors)},
        {"/darkscope/classes", classes_view(s)},
        {"/darkscope/flags", flags_view(s)},
        {"/darkscope/errors", errors_view(s)},
        {"/darkscope/sensors", sensors_view(s)},
        {"/darkscope/workers", workers_view(s)},
    };
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        Dict shaped;
        for (auto& [k, v] : d) shaped.emplace_back(k, telemetry_shape(v));
        out << to_json(Value(std::move(shaped)), 1) << '\n';
        if (!out) throw std::runtime_error("--summary " + path + ": cannot write");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw std::runtime_error("--summary " + path + ": cannot rename " + tmp);
}

}  // namespace darkscope
