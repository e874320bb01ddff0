// An event's capture key from the event as the event engine reports it: a surge's dimension and
// key ("service" "21318/tcp", "sensor_service" "tokyo-b|21318/tcp", ...), a DoS victim's or a
// scanner's address, turned back into the counters' slots (darkscope/event_capture_key.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "darkscope/event_capture_key.hpp"
#include "darkscope/events.hpp"

namespace darkscope {

// std::nullopt for a key that names nothing the counters know (it has no packets to record).
std::optional<EventCaptureKey> event_capture_key(const Event& e,
                                                 const std::vector<std::string>& sensor_names);

}  // namespace darkscope
