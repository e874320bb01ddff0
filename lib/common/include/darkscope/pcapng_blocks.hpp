// The pcapng block types and byte-order magic (the pcapng specification, draft-ietf-opsawg-
// pcapng) that both darkscope's reader (--read) and its writer (recording) use.
#pragma once

#include <cstdint>

namespace darkscope::pcapng {

inline constexpr uint32_t kSectionHeaderBlock = 0x0A0D0D0A;
inline constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
inline constexpr uint32_t kInterfaceDescriptionBlock = 1;
inline constexpr uint32_t kEnhancedPacketBlock = 6;

}  // namespace darkscope::pcapng
