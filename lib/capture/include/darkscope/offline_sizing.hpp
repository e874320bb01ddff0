// Tables and pools sized to an offline job (--read): a small capture does not reserve what a
// live appliance needs. Live configurations are returned unchanged.
#pragma once

#include <cstdint>

#include "darkscope/config.hpp"

namespace darkscope {

// At most this many packets fit in `file_bytes` of pcap or pcapng (a record header and the
// shortest frame darkscope counts).
uint64_t max_packets_in(uint64_t file_bytes);

// `config` with the tuple tables and the offline mbuf pool sized to the files of --read: never
// above the defaults, never below what the capture could fill (so nothing spills that the
// defaults would have held, and the counts are the same), and never changed where the option was
// set to other than its default. With --no-huge and no --memory, --memory becomes what EAL needs
// for that pool (at least EAL's own 64 MiB).
Config sized_to_job(const Config& config);

}  // namespace darkscope
