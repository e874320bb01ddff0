// SpillLog: the packets a worker's tuple tables could not take (spills, source_tuples.hpp), kept
// one by one for the fleet export, so that its source tuples hold every IP packet.
//
// A spilled packet is counted exactly in the worker's counters, but it has no tuple; the fleet
// exports it as a one-packet tuple instead (docs/fleet.md). The worker appends it here, on the
// spill path only: a preallocated array per epoch, single writer (the worker while the epoch is
// current, the stats core once it is retired, as the tuple tables), no allocation, lock or atomic.
// When the log is full a packet is only counted (`unlogged`): the interval then states how many
// packets its tuples lack instead of missing them silently.
//
// Only a run that exports tuples to the fleet has a spill log; the workers of any other run
// have none and pay nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "darkscope/packet.hpp"

namespace darkscope {

// One spilled packet: its tuple's key and what the packet adds to it.
struct SpilledPacket {
    uint8_t source[16];  // IPv6 network order, or IPv4 the host-order word IpAddress::v4 holds
    uint32_t where;      // TupleWhere
    uint32_t asn;
    uint32_t bytes;  // frame length
    uint32_t time_s;
    uint16_t country;  // country slot
    uint16_t flags;
    uint8_t family;  // 4 or 6
};
static_assert(sizeof(SpilledPacket) == 40, "compact: 40 bytes a spilled packet");

class SpillLog {
  public:
    // `storage`: `capacity` records, outliving the log.
    SpillLog(SpilledPacket* storage, uint32_t capacity) : entries_(storage), capacity_(capacity) {}

    // The worker, on the spill path: the packet (its country and ASN already its tuple's
    // attribution) of tuple `where` at second `now_s`. Out of line: the burst pipeline's code
    // stays as it is without a spill log (one call, on spills only, when there is one).
    [[gnu::noinline]] void add(const PacketFacts& f, uint32_t where, uint64_t now_s) {
        if (used_ == capacity_) [[unlikely]] {
            ++unlogged_;
            return;
        }
        SpilledPacket& s = entries_[used_++];
        if (f.ip_version == 4)
            std::memcpy(s.source, &f.src.v4, 4);
        else
            std::memcpy(s.source, f.src.v6, 16);
        s.family = f.ip_version;
        s.where = where;
        s.asn = f.asn;
        s.country = static_cast<uint16_t>(f.country);
        s.flags = f.flags;
        s.bytes = f.frame_len;
        s.time_s =
            static_cast<uint32_t>(std::min<uint64_t>(now_s, std::numeric_limits<uint32_t>::max()));
    }

    uint32_t used() const { return used_; }
    const SpilledPacket& at(uint32_t i) const { return entries_[i]; }
    // Spilled packets the full log could not keep.
    uint64_t unlogged() const { return unlogged_; }
    uint32_t capacity() const { return capacity_; }
    void clear() {
        used_ = 0;
        unlogged_ = 0;
    }

  private:
    SpilledPacket* entries_;
    uint32_t capacity_;
    uint32_t used_ = 0;
    uint64_t unlogged_ = 0;
};

}  // namespace darkscope
