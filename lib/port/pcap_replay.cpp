#include "darkscope/pcap_replay.hpp"

#include "darkscope/port.hpp"

#include <pcap/pcap.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>

namespace darkscope {

namespace {

struct FileCount {
    uint64_t packets = 0;
    uint32_t largest = 0;  // the largest captured length
    std::string error;
};

FileCount count_packets(const std::string& file) {
    FileCount out;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* pc = pcap_open_offline(file.c_str(), errbuf);
    if (pc == nullptr) {
        out.error = errbuf;
        return out;
    }
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(pc, &header, &data) == 1) {
        ++out.packets;
        out.largest = std::max(out.largest, header->caplen);
    }
    pcap_close(pc);
    return out;
}

bool replays_forever(const std::string& spec) {
    size_t start = 0;
    while ((start = spec.find(',', start)) != std::string::npos) {
        ++start;
        if (spec.compare(start, std::string::npos, "infinite_rx=1") == 0 ||
            spec.compare(start, 14, "infinite_rx=1,") == 0)
            return true;
    }
    return false;
}

}  // namespace

std::string infinite_rx_problem(const Config& config) {
    uint64_t held = 0;  // packets kept in the pool by every replaying port (one pool per socket)
    std::string named;  // the port(s) holding them
    for (const auto& spec : config.ports) {
        if (!replays_forever(spec))
            continue;
        for (const auto& file : rx_pcap_files(spec)) {
            const FileCount count = count_packets(file);
            if (!count.error.empty())
                return "--port " + spec + ": rx_pcap file " + file + ": " + count.error;
            // The PMD refuses to replay a packet that spans several mbufs.
            if (count.largest > RTE_MBUF_DEFAULT_DATAROOM)
                return "--port " + spec + ": infinite_rx=1 replays a packet of " +
                       std::to_string(count.largest) + " bytes from " + file +
                       ", more than one mbuf holds (" + std::to_string(RTE_MBUF_DEFAULT_DATAROOM) +
                       "); replay it without infinite_rx, or read it with --read";
            held += count.packets;
        }
        named += (named.empty() ? "" : ", ") + port_device_name(spec);
    }
    if (held == 0)
        return "";
    // Besides the file's copies, the pool needs what any port needs: more than a port's rx
    // descriptors, and at least kMinMbufs.
    const uint64_t ring = uint64_t{config.rx_queues} * config.rx_desc;
    const uint64_t needed = held + std::max<uint64_t>(ring + 1, kMinMbufs);
    if (config.mbufs >= needed)
        return "";
    return "--port " + named + ": infinite_rx=1 keeps the " + std::to_string(held) +
           " packets of its rx_pcap file(s) in the packet pool for the whole run: that needs " +
           "--mbufs " + std::to_string(needed) + " or more (the packets, plus " +
           std::to_string(needed - held) + " for receiving); --mbufs is " +
           std::to_string(config.mbufs) + " now";
}

}  // namespace darkscope
