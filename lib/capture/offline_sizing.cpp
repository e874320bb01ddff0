#include "darkscope/offline_sizing.hpp"

#include "darkscope/capture_file.hpp"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <system_error>

namespace darkscope {

namespace {

constexpr uint64_t kMinRecordBytes = 16 + 14;  // a pcap record header and an Ethernet header
constexpr uint32_t kMinTupleEntries = 4096;
constexpr unsigned kMinOfflineMbufs = 2047;

}  // namespace

uint64_t max_packets_in(uint64_t file_bytes) {
    return file_bytes / kMinRecordBytes + 1;
}

namespace {

// EAL memory for the offline mbuf pool on 4 KiB pages (--no-huge), reckoned at a page a mbuf
// (what a pool that keeps each object inside a page takes; the offline pool packs its 2368-byte
// mbufs, create_offline_packet_pool, so this leaves room), and for what else EAL and darkscope
// take from its heap (the workers' rings, the pool's ring and per-lcore caches, telemetry,
// memzones: a few MiB). The workers' tables are not in EAL memory offline. Reserving costs a
// memseg per page, whether used or not.
constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t kEalOverheadMb = 32;
constexpr unsigned kEalDefaultMb = 64;  // what EAL reserves with --no-huge and no -m

unsigned offline_memory_mb(unsigned mbufs) {
    const uint64_t pool_mb = (uint64_t{mbufs} * kPageBytes + (1u << 20) - 1) >> 20;
    return static_cast<unsigned>(std::max<uint64_t>(kEalDefaultMb, pool_mb + kEalOverheadMb));
}

Config sized_tables(const Config& config) {
    Config sized = config;
    uint64_t bytes = 0;
    for (const auto& file : config.read_files) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(file, ec);
        if (ec)
            return sized;  // a pipe or a file that went away: keep the defaults
        // A compressed capture is taken to hold at most 32 times its size (captures of small
        // frames compress 5 to 20 times); past that, a table too small costs speed, never a count.
        bytes += capture_compression(file) != CaptureCompression::none ? 32 * size : size;
    }
    const uint64_t packets = max_packets_in(bytes);
    const Config defaults;
    // A tuple table holds at most one tuple per packet, and gives a destination sketch to at
    // most one tuple in 6 packets (past its 5 inline destinations): with 8 entries a packet its
    // capacity / 32 sketches cover that, and its probing has the room it has at the default load.
    if (config.tuple_entries == defaults.tuple_entries) {
        const uint64_t want = std::bit_ceil(std::max<uint64_t>(8 * packets, kMinTupleEntries));
        sized.tuple_entries = static_cast<uint32_t>(std::min<uint64_t>(want, config.tuple_entries));
    }
    // Mbufs in flight between the reader and the workers: no more than the packets there are.
    if (config.mbufs == defaults.mbufs) {
        const uint64_t want = std::bit_ceil(std::max<uint64_t>(packets, kMinOfflineMbufs + 1)) - 1;
        sized.mbufs = static_cast<unsigned>(std::min<uint64_t>(want, config.mbufs));
    }
    return sized;
}

}  // namespace

Config sized_to_job(const Config& config) {
    if (!config.offline())
        return config;
    Config sized = sized_tables(config);
    // On 4 KiB pages EAL reserves all of -m up front, at a cost that grows with it (a memseg per
    // page), and 64 MiB when -m is not given: too little for the default pool. Offline, it is
    // asked for what the job takes. With hugepages EAL grows its memory as it is needed.
    if (config.no_huge && config.memory_mb == Config().memory_mb)
        sized.memory_mb = offline_memory_mb(sized.mbufs);
    return sized;
}

}  // namespace darkscope
