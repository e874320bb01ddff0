// Event capture keys from events (darkscope/event_capture_keys.hpp).
#include "darkscope/event_capture_keys.hpp"

#include <charconv>

#include "darkscope/counters.hpp"
#include "darkscope/country.hpp"
#include "darkscope/prefix.hpp"

namespace darkscope {

namespace {

// "21318/tcp", "53/udp", "icmp", "icmpv6" (service_name's forms).
bool parse_service(const std::string& name, EventCaptureKey& key) {
    if (name == "icmp" || name == "icmpv6") {
        key.service = static_cast<int32_t>(
            service_slot(name == "icmp" ? ServiceFamily::icmp : ServiceFamily::icmpv6, 0));
        key.service_family_only = true;
        return true;
    }
    const auto slash = name.find('/');
    if (slash == std::string::npos)
        return false;
    const std::string family = name.substr(slash + 1);
    if (family != "tcp" && family != "udp")
        return false;
    unsigned port = 0;
    const char* end = name.data() + slash;
    auto [p, ec] = std::from_chars(name.data(), end, port);
    if (ec != std::errc() || p != end || port > 65535)
        return false;
    key.service = static_cast<int32_t>(service_slot(
        family == "tcp" ? ServiceFamily::tcp : ServiceFamily::udp, static_cast<uint16_t>(port)));
    return true;
}

// A sensor's name as the series give it: a --sensor name, "unmatched", or "sensorN".
bool parse_sensor(const std::string& name, const std::vector<std::string>& sensor_names,
                  EventCaptureKey& key) {
    if (name == "unmatched") {
        key.sensor = static_cast<uint16_t>(kSensorSlotUnmatched);
        return true;
    }
    for (size_t i = 0; i < sensor_names.size() && i < kMaxSensors; ++i)
        if (sensor_names[i] == name) {
            key.sensor = static_cast<uint16_t>(i);
            return true;
        }
    unsigned slot = 0;
    if (name.compare(0, 6, "sensor") == 0) {
        auto [p, ec] = std::from_chars(name.data() + 6, name.data() + name.size(), slot);
        if (ec == std::errc() && p == name.data() + name.size() && slot < kMaxSensors) {
            key.sensor = static_cast<uint16_t>(slot);
            return true;
        }
    }
    return false;
}

void parse_country(const std::string& code, EventCaptureKey& key) {
    key.country = country_index(code);
}

}  // namespace

std::optional<EventCaptureKey> event_capture_key(const Event& e,
                                                 const std::vector<std::string>& sensor_names) {
    EventCaptureKey key;
    using Kind = EventCaptureKey::Kind;
    if (e.kind == EventKind::dos || e.kind == EventKind::scanner) {
        key.kind = e.kind == EventKind::dos ? Kind::victim : Kind::source;
        const auto address = parse_address(e.address, &key.family);
        if (!address)
            return std::nullopt;
        key.address = *address;
        return key;
    }
    if (e.kind != EventKind::surge)
        return std::nullopt;
    const auto bar = e.key.find('|');
    const std::string left = bar == std::string::npos ? e.key : e.key.substr(0, bar);
    const std::string right = bar == std::string::npos ? "" : e.key.substr(bar + 1);
    bool ok = true;
    if (e.dimension == "service") {
        key.kind = Kind::service;
        ok = parse_service(e.key, key);
    } else if (e.dimension == "sensor") {
        key.kind = Kind::sensor;
        ok = parse_sensor(e.key, sensor_names, key);
    } else if (e.dimension == "country") {
        key.kind = Kind::country;
        parse_country(e.key, key);
    } else if (e.dimension == "sensor_service") {
        key.kind = Kind::sensor_service;
        ok = bar != std::string::npos && parse_sensor(left, sensor_names, key) &&
             parse_service(right, key);
    } else if (e.dimension == "country_service") {
        key.kind = Kind::country_service;
        parse_country(left, key);
        ok = bar != std::string::npos && parse_service(right, key);
    } else if (e.dimension == "sensor_country") {
        key.kind = Kind::sensor_country;
        ok = bar != std::string::npos && parse_sensor(left, sensor_names, key);
        parse_country(right, key);
    } else {
        ok = false;
    }
    return ok ? std::optional<EventCaptureKey>(key) : std::nullopt;
}

}  // namespace darkscope
