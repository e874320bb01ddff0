// The views darkscope answers with, built from a published Snapshot only (no worker memory, no
// EAL). Shared by the telemetry socket and the offline summary.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

#include "darkscope/snapshot.hpp"
#include "darkscope/value.hpp"

namespace darkscope {

// The telemetry library caps replies at 16 KiB, 256 dict and 512 array entries; one top entry
// takes about 100 bytes, so N is capped here.
inline constexpr unsigned kTopCapTelemetry = 100;

enum class Window { last, hour, day, total };

struct TopRequest {
    std::string dimension;  // ports, countries, asns, sensors, sources, prefixes
    unsigned n = 10;
    Window window = Window::total;
    bool all_classes = false;  // ports: include backscatter and every class, not only probes
    std::string filter_kind;   // "", "sensor", "country" or "service"
    std::string filter_value;  // "tokyo-b", "JP", "445/tcp"
};

// Bad request parameters: what() is the message sent back as {"error": ...}.
class RequestError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Parses "N[,WINDOW[,FILTER]]" for /darkscope/top/<dimension>: WINDOW last, hour, day or total;
// FILTER sensor=NAME, country=CC, service=PORT/PROTO, or `all` (ports: every class). cap bounds N.
TopRequest parse_top_request(const std::string& dimension, const std::string& params, unsigned cap);

using AsnNamer = std::function<std::string(uint32_t)>;

Value stats_view(const Snapshot& s);
Value top_view(const Snapshot& s, const TopRequest& r, const AsnNamer& asn_name = {});
Value classes_view(const Snapshot& s);
Value flags_view(const Snapshot& s);
Value errors_view(const Snapshot& s);
Value sensors_view(const Snapshot& s);
Value workers_view(const Snapshot& s);
// "/darkscope/series,KEY,K": the last K intervals of packets and unique sources of one key.
Value series_view(const Snapshot& s, const std::string& params);
// "/darkscope/events,N[,KIND]", "/darkscope/dos,N", "/darkscope/scanners,N".
Value events_view(const Snapshot& s, const std::string& params, const std::string& fixed_kind);
Value ports_view(const Snapshot& s);

std::string country_code_of(uint16_t index);         // 0 -> "??"
uint16_t country_index_of(const std::string& code);  // "??" or invalid -> 0
const char* window_name(Window w);
// The series keys darkscope keeps per interval, for one counter set (top `per_dimension` keys of
// each of service, country, sensor, sensor_service, country_service).
void series_points(const CounterSet& c, const std::vector<std::string>& sensor_names,
                   unsigned per_dimension,
                   std::unordered_map<std::string, std::pair<uint64_t, uint64_t>>& out);

}  // namespace darkscope
