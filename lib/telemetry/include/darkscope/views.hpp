// The views darkscope answers with, built from a published Snapshot only (no worker memory, no
// EAL). Shared by the telemetry socket and the offline summary.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "darkscope/snapshot.hpp"
#include "darkscope/value.hpp"

namespace darkscope {

// The telemetry library caps replies at 16 KiB (kTelemetryReplyMax), 256 dict and 512 array
// entries, and drops what does not fit without a sign. So every reply is measured before it is
// sent (telemetry_reply_problem()): one that would not fit is answered with an error saying how
// many rows fit, never cut. N of every /darkscope/top/<dimension> goes up to kTopCapTelemetry;
// real rows are far shorter than their longest form, so 100 usually fit. When every row takes
// its longest form (each count at 20 digits, UINT64_MAX; a source's ASN 10, a port 5; every
// string at its longest: a service 9 bytes, "65535/tcp"; a proto 6; a country 2; a sensor name
// 63, the configuration's limit; an ASN name kTelemetryStringMax, telemetry_form()'s clip; a
// source 39, a full IPv6 address; a prefix 43; flags 91, all ten names), what fits is ports 109
// rows, countries 92, asns 62, sources and prefixes 36 (sensors have at most 65 rows, which fit):
// tests/telemetry builds those rows from the views' own and checks these figures.
inline constexpr unsigned kTopCapTelemetry = 100;  // no top view answers more
// /darkscope/series answers at most this many intervals (K), /darkscope/events at most this
// many events (N): the series' worst case (three arrays of K 20-digit numbers) fits; events carry
// free text, so an events reply that would not fit is refused with how many rows fit instead.
inline constexpr unsigned kSeriesMax = 240;
inline constexpr unsigned kEventsMax = 50;

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
// /darkscope/stats_core: the run's bounded tables (keys held, capacity, what went to `other` past
// them) and what closing intervals costs the stats core, empty and busy ones apart.
Value stats_core_view(const Snapshot& s);
Value flags_view(const Snapshot& s);
Value errors_view(const Snapshot& s);
Value sensors_view(const Snapshot& s);
Value workers_view(const Snapshot& s);
// "/darkscope/series,KEY,K": the last K intervals of packets and unique sources of one key.
Value series_view(const Snapshot& s, const std::string& params);
// "/darkscope/events,N[,KIND]", and with the kind fixed "/darkscope/dos,N",
// "/darkscope/scanners,N".
Value events_view(const Snapshot& s, const std::string& params,
                  std::optional<EventKind> fixed_kind = std::nullopt);
Value ports_view(const Snapshot& s);

const char* window_name(Window w);
// The series keys darkscope keeps per interval, for one counter set (top `per_dimension` keys of
// each of service, country, sensor, sensor_service, country_service).
void series_points(const CounterSet& c, const std::vector<std::string>& sensor_names,
                   unsigned per_dimension,
                   std::unordered_map<std::string, std::pair<uint64_t, uint64_t>>& out);

}  // namespace darkscope
