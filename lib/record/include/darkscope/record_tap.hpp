// A worker's side of recording: it copies packets (up to the snap length) into chunks the
// writer owns and hands full chunks over on a ring. Two single-producer/single-consumer
// rte_rings per worker: `filled` (worker to writer) and `empty` (writer back to worker). A
// worker that finds no empty chunk loses the packet from the recording (counted, record_dropped
// reason "buffers") and goes on counting: it never waits for the writer live. Offline (--read)
// there is no line to keep up with, so it waits for a chunk instead and the recording is whole.
//
// With event captures on (tap_all) the worker copies every counted packet, since an event's key
// is known only once its interval has closed; each packet's header carries what the writer
// needs to match it against a key (darkscope/event_capture_key.hpp) and whether --record-filter
// selected it for the continuous files.
#pragma once

#include <atomic>
#include <cstdint>

#include "darkscope/ip_address.hpp"
#include "darkscope/packet.hpp"
#include "darkscope/record_filter.hpp"

struct rte_mbuf;
struct rte_ring;

namespace darkscope {

// RecordedPacket::marks.
enum RecordMark : uint8_t {
    kMarkSelected = 1,       // --record-filter selected it: it goes to the continuous files
    kMarkIp = 2,             // an IP packet: the key fields below are valid
    kMarkIpv6 = 4,           // IPv6 (else IPv4)
    kMarkProbe = 8,          // a probe class: counted under its service and the crosses
    kMarkBackscatter = 16,   // a backscatter class: counted under its DoS victim
    kMarkQuotedVictim = 32,  // an ICMP error quoting the attack: its victim follows the header
};

// One recorded packet in a chunk: this header, the victim's address (kMarkQuotedVictim only),
// then cap_len bytes, padded to 8. The key fields are the slots the counters use
// (darkscope/counters.hpp): the packet counts under exactly the keys it matches.
struct RecordedPacket {
    uint64_t ts_ns;
    uint32_t wire_len;
    uint16_t cap_len;
    uint8_t link;      // LinkType
    uint8_t marks;     // RecordMark bits
    int32_t service;   // service slot, -1 when the packet has none
    uint16_t sensor;   // sensor slot (kSensorSlotUnmatched: in no sensor)
    uint16_t country;  // country slot (0: unknown)
    IpAddress source;

    const IpAddress& victim() const {
        return (marks & kMarkQuotedVictim) != 0 ? *reinterpret_cast<const IpAddress*>(this + 1)
                                                : source;
    }
    const uint8_t* data() const {
        return reinterpret_cast<const uint8_t*>(this + 1) +
               ((marks & kMarkQuotedVictim) != 0 ? sizeof(IpAddress) : 0);
    }
    // Bytes this packet takes in its chunk.
    uint32_t stride() const {
        return static_cast<uint32_t>(sizeof(RecordedPacket)) +
               ((marks & kMarkQuotedVictim) != 0 ? static_cast<uint32_t>(sizeof(IpAddress)) : 0) +
               ((cap_len + 7u) & ~7u);
    }
};
static_assert(sizeof(RecordedPacket) == 40);
static_assert(sizeof(IpAddress) == 16);

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
    bool tap_all = false;          // event captures: every counted packet, marked if selected
    // Written by the worker only (relaxed load + store), read by the writer and telemetry.
    alignas(64) std::atomic<uint64_t> copied{0};
    std::atomic<uint64_t> dropped_buffers{0};     // selected packets lost
    std::atomic<uint64_t> dropped_unselected{0};  // other packets lost (event captures only)
};

// Copies a classified and counted burst's packets (every one with tap_all, else those the
// filter selects) into the tap's chunks. times_ns: each packet's capture time, or null to stamp
// them all with the current wall-clock time (live: receive time to the microsecond or better).
// links: each packet's LinkType, or null for Ethernet.
void record_burst(RecordTap& tap, rte_mbuf* const* pkts, const PacketFacts* facts,
                  const uint64_t* times_ns, const uint8_t* links, unsigned n);

// Hands the partly filled chunk over (the worker at an epoch flip, so that a closed interval's
// packets are all with the writer; the engine when the workers have stopped).
void record_hand_over(RecordTap& tap);

}  // namespace darkscope
