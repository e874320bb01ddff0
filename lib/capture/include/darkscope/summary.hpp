// The --summary file: every view under its telemetry command name, in the shape the socket sends
// (darkscope-ctl --summary answers from it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "darkscope/snapshot.hpp"

namespace darkscope {

// Writes the summary of `snapshot` to `path` (through a temporary file renamed over it);
// `asn_name` names an ASN for the top ASNs. Throws with the path when it cannot.
void write_summary(const std::string& path, const Snapshot& snapshot,
                   const std::function<std::string(uint32_t)>& asn_name);

}  // namespace darkscope
