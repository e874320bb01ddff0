// Traffic class, scanner and spoofing flags, and the sensor of each decoded packet.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "darkscope/packet.hpp"
#include "darkscope/prefix.hpp"
#include "darkscope/udp_service_ports.hpp"

namespace darkscope {

// The dark prefixes this box watches, grouped into named sensors. Longest prefix wins.
class SensorTable {
  public:
    // Returns false (and sets *error) for a duplicate prefix mapped to another sensor.
    bool add(const std::string& sensor_name, const IpPrefix& prefix, std::string* error);
    void finalize();  // call after the last add(): builds the lookup structure

    uint16_t match4(uint32_t dst_host_order) const;
    uint16_t match6(const uint8_t dst[16]) const;

    size_t size() const { return names_.size(); }
    const std::string& name(uint16_t index) const { return names_[index]; }
    const std::vector<IpPrefix>& prefixes_of(uint16_t index) const { return prefixes_[index]; }
    // Fraction of the IPv4 address space the sensors cover (for DoS rate extrapolation).
    // Nested or repeated prefixes count once.
    double ipv4_coverage() const;
    // Looks up either family (4 or 6) from PacketFacts-style addresses.
    uint16_t match(const IpAddress& dst, uint8_t family) const {
        return family == 4 ? match4(dst.v4) : match6(dst.v6);
    }

  private:
    // IPv4: a DIR-16-8-8 table. An entry is a sensor index, or (kPointer | chunk) naming a
    // 256-entry chunk of the next level; at most three dependent loads per lookup.
    static constexpr uint32_t kPointer = 0x80000000u;
    struct Entry6 {
        uint8_t net[16];
        uint8_t length;
        uint16_t sensor;
    };
    // IPv6: one open-addressing hash per distinct prefix length, longest length first.
    struct Level6 {
        uint8_t length;
        uint64_t mask_hi, mask_lo;
        uint32_t slot_mask;           // slots.size() - 1
        std::vector<uint32_t> slots;  // index into keys6_ + 1, 0 = empty
    };
    std::vector<std::string> names_;
    std::vector<std::vector<IpPrefix>> prefixes_;
    std::vector<std::pair<IpPrefix, uint16_t>> v4_;  // as added
    std::vector<Entry6> v6_;                         // as added
    std::vector<uint32_t> dir16_ = std::vector<uint32_t>(65536, kSensorUnmatched);
    std::vector<uint32_t> dir8_;  // level-2 and level-3 chunks of 256
    std::vector<Level6> levels6_;
    struct Key6 {
        uint64_t hi, lo;
        uint16_t sensor;
    };
    std::vector<Key6> keys6_;
    // Every prefix added, to its sensor: finds a repeated prefix in one lookup.
    static uint64_t key4(const IpPrefix& prefix);     // address and length
    static std::string key6(const IpPrefix& prefix);  // 16 address bytes and the length
    std::unordered_map<uint64_t, uint16_t> seen4_;
    std::unordered_map<std::string, uint16_t> seen6_;
};

struct ClassifyConfig {
    // UDP source ports that mark a UDP packet to a high port (>= 1024) as reflection
    // backscatter.
    std::bitset<65536> udp_service_ports;
    static ClassifyConfig defaults();  // kDefaultUdpServicePorts
};

// Sets only the flag bits (PacketFacts::flags) from decoded facts; classify() calls it. Exposed
// so tests and tools can check one flag definition at a time.
uint16_t compute_flags(const PacketFacts& f);
// The same flags by their plain definition, one test per rule for every protocol.
// compute_flags takes a branch-free path for IPv4 TCP, the bulk of darknet traffic, and this one
// for the rest; tests check that both agree.
uint16_t compute_flags_generic(const PacketFacts& f);
// RFC 6890 special-purpose and bogon source space (the `non_routed` flag).
bool is_non_routed_v4(uint32_t addr_host_order);
bool is_non_routed_v6(const uint8_t addr[16]);

class Classifier {
  public:
    Classifier(ClassifyConfig config, const SensorTable* sensors);
    // Sets cls, flags and sensor from the decoded fields.
    void classify(PacketFacts& f) const;
    void classify_burst(PacketFacts* facts, unsigned n) const;

  private:
    void classify_one(PacketFacts& f) const;  // both of the above, inlined into each
    ClassifyConfig config_;
    const SensorTable* sensors_;
};

}  // namespace darkscope
