// --record-filter: which counted packets continuous recording keeps, by sensor, traffic class,
// service and protocol. Parsed once at start-up (a bad expression stops darkscope with one line);
// matched by the workers on each classified packet, with a few loads and no allocation.
//
// Syntax: terms separated by spaces, each `KEY=VALUE[|VALUE...]`. Values of one term are
// alternatives (any may match); different terms must all match; a key appears at most once.
//   sensor=NAME|unmatched           the destination's sensor (--sensor names)
//   class=CLASS                     a traffic class (tcp_scan, udp_probe, ... as in
//   /darkscope/classes) proto=tcp|udp|icmp|icmpv6|other the IP protocol (non-IP packets have none)
//   service=tcp/PORT|udp/PORT       destination port, PORT or FIRST-LAST
// The empty expression (or `all`) selects every counted packet.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "darkscope/packet.hpp"

namespace darkscope {

class RecordFilter {
  public:
    // Throws std::invalid_argument with a one-line reason.
    static RecordFilter parse(const std::string& expression,
                              const std::vector<std::string>& sensor_names);

    bool selects_all() const { return all_; }

    bool match(const PacketFacts& f) const {
        if (all_)
            return true;
        if (by_sensor_ &&
            !sensors_.test(f.sensor == kSensorUnmatched ? kUnmatchedBit : (f.sensor & 0xff)))
            return false;
        if (classes_ != 0 && !(classes_ & (1u << static_cast<unsigned>(f.cls))))
            return false;
        if (protos_ != 0 && !(protos_ & (1u << static_cast<unsigned>(f.proto))))
            return false;
        if (services_) {
            if (!f.l4_valid || f.fragment)
                return false;
            if (f.proto == Proto::tcp)
                return services_->tcp.test(f.dst_port);
            if (f.proto == Proto::udp)
                return services_->udp.test(f.dst_port);
            return false;
        }
        return true;
    }

  private:
    static constexpr unsigned kUnmatchedBit = 256;
    struct Services {
        std::bitset<65536> tcp, udp;
    };
    bool all_ = true;
    bool by_sensor_ = false;
    std::bitset<257> sensors_;                  // sensor index, and kUnmatchedBit
    uint32_t classes_ = 0;                      // bit per TrafficClass; 0 = any
    uint32_t protos_ = 0;                       // bit per Proto; 0 = any
    std::shared_ptr<const Services> services_;  // null = any
};

}  // namespace darkscope
