#include "darkscope/port.hpp"

#include "darkscope/runtime_files.hpp"

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace darkscope {

std::string port_device_name(const std::string& spec) {
    auto comma = spec.find(',');
    return spec.substr(0, comma);
}

std::vector<std::string> build_eal_args(const Config& config, const CorePlan& plan) {
    std::vector<std::string> args{"darkscope"};
    // --lcores rather than -l: with --share-cpus several lcores map to one CPU ("2@1").
    args.push_back("--lcores");
    args.push_back(plan.eal_lcore_list());
    args.push_back("--main-lcore");
    args.push_back(std::to_string(plan.stats_lcore));
    args.push_back("--file-prefix");
    args.push_back(config.file_prefix);
    bool any_pci = false;
    for (const auto& spec : config.ports) {
        if (is_pci_address(spec)) {
            any_pci = true;
            args.push_back("-a");
            args.push_back(spec);
        } else {
            args.push_back("--vdev");
            args.push_back(spec);
        }
    }
    // Never probe the machine's own NICs when every port is virtual (or when asked not to).
    if (!any_pci || config.no_pci)
        args.push_back("--no-pci");
    if (config.no_huge)
        args.push_back("--no-huge");
    if (config.memory_mb != 0) {
        args.push_back("-m");
        args.push_back(std::to_string(config.memory_mb));
    }
    if (!config.telemetry)
        args.push_back("--no-telemetry");
    // EAL's level for ours: info logs EAL's notices (darkscope's own news is at notice).
    const char* level = "notice";
    switch (config.log_level) {
        case LogLevel::error:
            level = "error";
            break;
        case LogLevel::warning:
            level = "warning";
            break;
        case LogLevel::info:
            break;
        case LogLevel::debug:
            level = "debug";
            break;
    }
    args.push_back(std::string("--log-level=") + level);
    // --eal "ARGS": split on blanks, for the rare EAL flag darkscope has no option for.
    std::string word;
    for (char c : config.eal_args + " ") {
        if (c == ' ' || c == '\t') {
            if (!word.empty())
                args.push_back(word);
            word.clear();
        } else {
            word += c;
        }
    }
    return args;
}

std::string eal_runtime_dir(const std::string& file_prefix) {
    std::string base = "/var/run";
    if (::getuid() != 0) {
        const char* xdg = std::getenv("XDG_RUNTIME_DIR");
        base = xdg != nullptr ? xdg : "/tmp";
    }
    return base + "/dpdk/" + file_prefix;
}

int config_lock_holder(const std::string& config_path) {
    int fd = ::open(config_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    // EAL's primary process write-locks a range of this file for as long as it runs (and a
    // second primary's F_SETLK fails on it); F_GETLK over the whole file reports that holder.
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0;
    int pid = 0;
    if (::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK)
        pid = lock.l_pid > 0 ? static_cast<int>(lock.l_pid) : -1;
    ::close(fd);
    return pid;
}

namespace {

// Throws PrefixInUse when another process runs with this --file-prefix.
void check_prefix_free(const std::vector<std::string>& args, const std::string& runtime_dir) {
    std::string prefix = "rte";
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--file-prefix")
            prefix = args[i + 1];
    std::string dir = runtime_dir.empty() ? eal_runtime_dir(prefix) : runtime_dir;
    int pid = config_lock_holder(dir + "/config");
    if (pid == 0)
        return;
    throw PrefixInUse("--file-prefix " + prefix + ": another DPDK process (darkscope?" +
                      (pid > 0 ? ", pid " + std::to_string(pid) : std::string()) +
                      ") is running with this prefix; stop it or give another --file-prefix");
}

}  // namespace

namespace {
std::string g_file_prefix;  // the running EAL's --file-prefix, for eal_stop()
}  // namespace

void eal_start(const std::vector<std::string>& args) {
    // Before EAL: it would fail on the lock with rte_errno unset ("Success") after its own
    // messages.
    check_prefix_free(args, "");
    std::vector<char*> argv;
    static std::vector<std::string> keep;  // EAL keeps pointers into argv
    keep = args;
    for (auto& a : keep)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(keep.size()), argv.data()) < 0) {
        const int err = rte_errno;
        // Started in between, or a runtime directory other than ours: ask EAL's own.
        const char* dir = rte_eal_get_runtime_dir();
        check_prefix_free(args, dir != nullptr ? dir : "");
        if (err == 0)
            throw std::runtime_error("EAL initialisation failed (see EAL's messages above)");
        throw std::runtime_error(std::string("EAL initialisation failed: ") + rte_strerror(err));
    }
    g_file_prefix = "rte";
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--file-prefix")
            g_file_prefix = args[i + 1];
}

void eal_stop() {
    const char* dir = rte_eal_get_runtime_dir();
    const std::string runtime_dir = dir != nullptr ? dir : "";
    rte_eal_cleanup();
    // rte_eal_cleanup() leaves the runtime directory's files (~25 MB of fbarrays with 4 KiB
    // pages) and the hugepage files, which hold their pages until the next run on the prefix.
    remove_eal_files(runtime_dir, g_file_prefix);
}

rte_mempool* create_packet_pool(const std::string& name, unsigned mbufs, int socket) {
    rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), mbufs, kMbufCache, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (pool == nullptr)
        throw std::runtime_error("cannot create mempool " + name + " with " +
                                 std::to_string(mbufs) + " mbufs on socket " +
                                 std::to_string(socket) + ": " + rte_strerror(rte_errno) +
                                 " (reserve hugepages, or lower --mbufs)");
    return pool;
}

rte_mempool* Ports::pool_for_socket(int socket) {
    for (auto& [s, p] : pools_)
        if (s == socket)
            return p;
    auto* pool = create_packet_pool("mbufs_s" + std::to_string(socket < 0 ? 0 : socket),
                                    config_.mbufs, socket < 0 ? SOCKET_ID_ANY : socket);
    pools_.emplace_back(socket, pool);
    return pool;
}

rte_mempool* create_offline_packet_pool(const std::string& name, unsigned mbufs, int socket) {
    // rte_pktmbuf_pool_create's steps, with RTE_MEMPOOL_F_NO_IOVA_CONTIG: no device ever reads
    // these mbufs, so an object may straddle a page. On 4 KiB pages (--no-huge) each 2368-byte
    // mbuf otherwise takes a page of its own: 40% of the pool's memory, and page faults, unused.
    const uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
    const unsigned elt_size = sizeof(rte_mbuf) + data_room;
    rte_pktmbuf_pool_private priv{};
    priv.mbuf_data_room_size = data_room;
    priv.mbuf_priv_size = 0;
    rte_mempool* pool = rte_mempool_create_empty(name.c_str(), mbufs, elt_size, kMbufCache,
                                                 sizeof priv, socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    int rc = pool == nullptr ? -rte_errno : 0;
    if (rc == 0)
        rc = rte_mempool_set_ops_byname(pool, rte_mbuf_best_mempool_ops(), nullptr);
    if (rc == 0) {
        rte_pktmbuf_pool_init(pool, &priv);
        const int populated = rte_mempool_populate_default(pool);
        rc = populated < 0 ? populated : 0;
    }
    if (rc != 0) {
        if (pool != nullptr)
            rte_mempool_free(pool);
        throw std::runtime_error("cannot create mempool " + name + " with " +
                                 std::to_string(mbufs) + " mbufs on socket " +
                                 std::to_string(socket) + ": " + rte_strerror(-rc) +
                                 " (raise --memory, or lower --mbufs)");
    }
    rte_mempool_obj_iter(pool, rte_pktmbuf_init, nullptr);
    return pool;
}

Ports::Ports(const Config& config, const CorePlan& plan) : config_(config) {
    (void)plan;
    for (const auto& spec : config.ports) {
        PortInfo p;
        p.spec = spec;
        p.name = port_device_name(spec);
        if (rte_eth_dev_get_port_by_name(p.name.c_str(), &p.port_id) != 0)
            throw std::runtime_error("--port " + spec + ": no such device (" + p.name +
                                     " was not probed; is it bound to a DPDK driver?)");
        rte_eth_dev_info dev_info{};
        if (rte_eth_dev_info_get(p.port_id, &dev_info) != 0)
            throw std::runtime_error("--port " + spec + ": cannot read device info");
        p.driver = dev_info.driver_name ? dev_info.driver_name : "";
        p.socket = rte_eth_dev_socket_id(p.port_id);
        p.rx_queues = config.rx_queues;
        if (p.rx_queues > dev_info.max_rx_queues)
            throw std::runtime_error("--rx-queues " + std::to_string(p.rx_queues) + ": port " +
                                     p.name + " has only " +
                                     std::to_string(dev_info.max_rx_queues) + " rx queues");

        rte_eth_conf conf{};
        if (p.rx_queues > 1) {
            // RSS over addresses (and ports where the device can): request what we want, keep
            // what the device supports, and say what was masked.
            p.rss_requested = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
            p.rss_applied = p.rss_requested & dev_info.flow_type_rss_offloads;
            if (p.rss_applied != p.rss_requested)
                RTE_LOG(WARNING, USER1,
                        "port %s: RSS hash functions 0x%" PRIx64 " not supported, masked\n",
                        p.name.c_str(), p.rss_requested & ~p.rss_applied);
            conf.rxmode.mq_mode = p.rss_applied ? RTE_ETH_MQ_RX_RSS : RTE_ETH_MQ_RX_NONE;
            conf.rx_adv_conf.rss_conf.rss_hf = p.rss_applied;
        }
        // One transmit queue, never used: DPDK's packet-dump service (dpdk-dumpcap) refuses a
        // port without one. A device with no transmit queue (net_pcap without tx_pcap) gets none,
        // and so does memif, whose rings are paired with its peer's: a client asking for a
        // transmit ring the sending server does not serve never connects.
        const bool memif = std::string(dev_info.driver_name).find("memif") != std::string::npos;
        const uint16_t tx_queues = dev_info.max_tx_queues > 0 && !memif ? 1 : 0;
        int rc =
            rte_eth_dev_configure(p.port_id, static_cast<uint16_t>(p.rx_queues), tx_queues, &conf);
        if (rc != 0)
            throw std::runtime_error("--port " + spec + ": configure failed: " + rte_strerror(-rc));
        uint16_t rx_desc = static_cast<uint16_t>(config.rx_desc);
        uint16_t tx_desc = 0;
        rte_eth_dev_adjust_nb_rx_tx_desc(p.port_id, &rx_desc, &tx_desc);
        rte_mempool* pool = pool_for_socket(p.socket);
        for (unsigned q = 0; q < p.rx_queues; ++q) {
            rc = rte_eth_rx_queue_setup(
                p.port_id, static_cast<uint16_t>(q), rx_desc,
                static_cast<unsigned>(p.socket < 0 ? SOCKET_ID_ANY : p.socket), nullptr, pool);
            if (rc != 0)
                throw std::runtime_error("--port " + spec + ": rx queue " + std::to_string(q) +
                                         " setup failed: " + rte_strerror(-rc));
        }
        if (tx_queues != 0) {
            rc = rte_eth_tx_queue_setup(
                p.port_id, 0, tx_desc,
                static_cast<unsigned>(p.socket < 0 ? SOCKET_ID_ANY : p.socket), nullptr);
            if (rc != 0)
                throw std::runtime_error("--port " + spec +
                                         ": tx queue setup failed: " + rte_strerror(-rc));
        }
        ports_.push_back(p);
    }
}

Ports::~Ports() {
    stop();
}

void Ports::start() {
    for (auto& p : ports_) {
        int rc = rte_eth_dev_start(p.port_id);
        if (rc != 0) {
            // The memif PMD returns -1 (reads as EPERM) when a client finds no server socket.
            const bool memif_client = p.driver.find("memif") != std::string::npos &&
                                      p.spec.find("role=server") == std::string::npos;
            throw std::runtime_error(
                "--port " + p.spec + ": start failed: " + rte_strerror(-rc) +
                (memif_client ? " (a memif client needs its server running first: start the "
                                "sending side, then darkscope)"
                              : ""));
        }
        if (config_.promiscuous) {
            rc = rte_eth_promiscuous_enable(p.port_id);
            if (rc != 0 && rc != -ENOTSUP)
                RTE_LOG(WARNING, USER1, "port %s: cannot enable promiscuous mode: %s\n",
                        p.name.c_str(), rte_strerror(-rc));
        }
        rte_eth_stats_reset(p.port_id);
    }
    started_ = true;
    // Wait for links, bounded: a dark link may be up with no traffic, or never come up.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config_.link_wait_s);
    for (auto& p : ports_) {
        for (;;) {
            rte_eth_link link{};
            rte_eth_link_get_nowait(p.port_id, &link);
            if (link.link_status == RTE_ETH_LINK_UP) {
                p.link_up = true;
                p.link_speed_mbps = link.link_speed;
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                RTE_LOG(WARNING, USER1, "port %s: link still down after %u s, capturing anyway\n",
                        p.name.c_str(), config_.link_wait_s);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

void Ports::stop() {
    if (!started_)
        return;
    for (auto& p : ports_)
        rte_eth_dev_stop(p.port_id);
    started_ = false;
}

PortCounters Ports::counters(unsigned index) const {
    PortCounters c;
    rte_eth_stats s{};
    if (rte_eth_stats_get(ports_[index].port_id, &s) == 0) {
        c.ipackets = s.ipackets;
        c.ibytes = s.ibytes;
        c.imissed = s.imissed;
        c.ierrors = s.ierrors;
        c.rx_nombuf = s.rx_nombuf;
    }
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(ports_[index].port_id, &link) == 0) {
        c.link_up = link.link_status == RTE_ETH_LINK_UP;
        c.link_speed_mbps = c.link_up ? link.link_speed : 0;
    }
    return c;
}

PortCounters Ports::totals() const {
    PortCounters t;
    for (unsigned i = 0; i < ports_.size(); ++i) {
        auto c = counters(i);
        t.ipackets += c.ipackets;
        t.ibytes += c.ibytes;
        t.imissed += c.imissed;
        t.ierrors += c.ierrors;
        t.rx_nombuf += c.rx_nombuf;
    }
    return t;
}

}  // namespace darkscope
