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

enum class Window { total, last };

struct TopRequest {
    std::string dimension;  // ports, countries, asns, sensors
    unsigned n = 10;
    Window window = Window::total;
    bool all_classes = false;  // ports: include backscatter and every class, not only probes
};

// Bad request parameters: what() is the message sent back as {"error": ...}.
class RequestError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses "N[,WINDOW[,all]]" for /darkscope/top/<dimension>. cap bounds N.
TopRequest parse_top_request(const std::string& dimension, const std::string& params,
                             unsigned cap);

using AsnNamer = std::function<std::string(uint32_t)>;

Value stats_view(const Snapshot& s);
Value top_view(const Snapshot& s, const TopRequest& r, const AsnNamer& asn_name = {});
Value classes_view(const Snapshot& s);
Value flags_view(const Snapshot& s);
Value errors_view(const Snapshot& s);
Value sensors_view(const Snapshot& s);
Value workers_view(const Snapshot& s);
Value ports_view(const Snapshot& s);

std::string country_code_of(uint16_t index);  // 0 -> "??"

}  // namespace darkscope
