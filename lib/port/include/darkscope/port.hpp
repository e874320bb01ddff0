// EAL start-up from the core plan, mempools per NUMA socket, and the capture ports: RSS over all
// queues, promiscuous mode, link wait, ethdev counters.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkscope/config.hpp"
#include "darkscope/topology.hpp"

struct rte_mempool;

namespace darkscope {

// The EAL argument vector for this config and plan (pure: unit-tested without EAL).
std::vector<std::string> build_eal_args(const Config& config, const CorePlan& plan);

// Thrown by eal_start() when another process (a running darkscope, or any DPDK primary) holds
// the --file-prefix: one line naming the prefix and that process, nothing else to check.
class PrefixInUse : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Calls rte_eal_init; throws std::runtime_error naming the reason on failure (PrefixInUse when
// the --file-prefix is taken: checked before EAL starts, and again if EAL fails).
void eal_start(const std::vector<std::string>& args);

// The pid of another process holding EAL's lock on <runtime dir>/config (a primary process
// running with that prefix), or 0 when none does or the file is not there.
int config_lock_holder(const std::string& config_path);

// EAL's runtime directory for a --file-prefix, as EAL 22.11 makes it: /var/run/dpdk/PREFIX for
// root, else $XDG_RUNTIME_DIR/dpdk/PREFIX (or /tmp/dpdk/PREFIX).
std::string eal_runtime_dir(const std::string& file_prefix);
void eal_stop();

// The DPDK device name of a --port spec: the PCI address, or the vdev name before the first ','.
std::string port_device_name(const std::string& spec);

struct PortCounters {
    uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
    bool link_up = false;  // the link now (not at start: a peer may come and go)
    uint32_t link_speed_mbps = 0;
};

struct PortInfo {
    std::string spec;
    std::string name;
    std::string driver;
    uint16_t port_id = 0;
    int socket = -1;
    unsigned rx_queues = 1;
    uint64_t rss_requested = 0;
    uint64_t rss_applied = 0;
    bool link_up = false;
    uint32_t link_speed_mbps = 0;
};

class Ports {
  public:
    // Finds every configured port (error: "--port net_pcap0,...: no such device"), creates a
    // mempool on each port's socket, configures queues and RSS, enables promiscuous mode.
    Ports(const Config& config, const CorePlan& plan);
    ~Ports();
    Ports(const Ports&) = delete;
    Ports& operator=(const Ports&) = delete;

    void start();  // starts every port and waits (bounded) for links
    void stop();

    const std::vector<PortInfo>& info() const { return ports_; }
    PortCounters counters(unsigned index) const;
    PortCounters totals() const;
    // A mempool for a socket (created on demand), e.g. for the offline reader.
    rte_mempool* pool_for_socket(int socket);

  private:
    const Config& config_;
    std::vector<PortInfo> ports_;
    std::vector<std::pair<int, rte_mempool*>> pools_;
    bool started_ = false;
};

// A mempool outside any port.
rte_mempool* create_packet_pool(const std::string& name, unsigned mbufs, int socket);
// The same for mbufs no device reads (offline mode): packed, not one to a 4 KiB page.
rte_mempool* create_offline_packet_pool(const std::string& name, unsigned mbufs, int socket);

}  // namespace darkscope
