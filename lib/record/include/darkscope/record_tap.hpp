// A worker's side of continuous recording: it copies the packets the filter selects (up to the
// snap length) into chunks the writer owns and hands full chunks over on a ring. Two
// single-producer/single-consumer rte_rings per worker: `filled` (worker to writer) and `empty`
// (writer back to worker). A worker that finds no empty chunk loses the packet from the recording
// (counted, record_dropped reason "buffers") and goes on counting: it never waits for the writer
// live. Offline (--read) there is no line to keep up with, so it waits for a chunk instead and
// the recording is whole.
#pragma once

#include <atomic>
#include <cstdint>

#include "darkscope/packet.hpp"
#include "darkscope/record_filter.hpp"

struct rte_mbuf;
struct rte_ring;

namespace darkscope {

// One recorded packet in a chunk: this header, then cap_len bytes, padded to 8.
struct RecordedPacket {
    uint64_t ts_ns;
    uint32_t wire_len;
    uint16_t cap_len;
    uint8_t link;  // LinkType
    uint8_t reserved;
};
static_assert(sizeof(RecordedPacket) == 16);

inline constexpr uint32_t kRecordChunkBytes = 256u << 10;

struct RecordChunk {
    uint32_t used = 0;  // bytes of data[] holding RecordedPackets
    uint32_t packets = 0;
    alignas(64) uint8_t data[kRecordChunkBytes];
};

struct alignas(64) RecordTap {
    rte_ring* filled = nullptr;  // worker -> writer
    rte_ring* empty = nullptr;   // writer -> worker
    RecordChunk* current = nullptr;
    const RecordFilter* filter = nullptr;
    uint32_t snaplen = 65535;
    bool wait_for_chunks = false;  // offline: wait rather than lose packets
    // Written by the worker only (relaxed load + store), read by the writer and telemetry.
    alignas(64) std::atomic<uint64_t> copied{0};
    std::atomic<uint64_t> dropped_buffers{0};
};

// Copies a classified burst's selected packets into the tap's chunks. times_ns: each packet's
// capture time, or null to stamp them all with the current wall-clock time (live: receive time
// to the microsecond or better). links: each packet's LinkType, or null for Ethernet.
void record_burst(RecordTap& tap, rte_mbuf* const* pkts, const PacketFacts* facts,
                  const uint64_t* times_ns, const uint8_t* links, unsigned n);

// Hands the partly filled chunk over (the worker at an epoch flip, so that a closed interval's
// packets are all with the writer; the engine when the workers have stopped).
void record_hand_over(RecordTap& tap);

}  // namespace darkscope
