// net_pcap ports that replay their file forever (infinite_rx=1): what they need of the packet
// pool, checked before EAL starts.
#pragma once

#include <string>

#include "darkscope/config.hpp"

namespace darkscope {

// With infinite_rx=1, net_pcap copies every packet of its rx_pcap file into an mbuf of the
// port's pool when the queue is set up and keeps them for the whole run; it refuses a file the
// pool cannot hold or a packet one mbuf cannot hold, and DPDK's clean-up after that refusal is
// not safe. Returns "" when every such port fits --mbufs, else the one-line refusal naming the
// --mbufs the run needs (or the packet too large).
std::string infinite_rx_problem(const Config& config);

}  // namespace darkscope
