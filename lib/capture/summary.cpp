// The --summary file writer.
#include "darkscope/summary.hpp"

#include <stdexcept>

#include "darkscope/output_file.hpp"
#include "darkscope/views.hpp"

namespace darkscope {

void write_summary(const std::string& path, const Snapshot& s,
                   const std::function<std::string(uint32_t)>& asn_name) {
    constexpr unsigned kCap = 100000;
    auto top = [&](const char* dim, const char* params) {
        return top_view(s, parse_top_request(dim, params, kCap), asn_name);
    };
    Dict d{
        {"/darkscope/stats", stats_view(s)},
        {"/darkscope/top/ports,1000", top("ports", "1000")},
        {"/darkscope/top/ports,1000,total,all", top("ports", "1000,total,all")},
        {"/darkscope/top/countries,1000", top("countries", "1000")},
        {"/darkscope/top/asns,1000", top("asns", "1000")},
        {"/darkscope/top/sensors,1000", top("sensors", "1000")},
        {"/darkscope/top/sources,1000", top("sources", "1000")},
        {"/darkscope/top/prefixes,1000", top("prefixes", "1000")},
        {"/darkscope/classes", classes_view(s)},
        {"/darkscope/stats_core", stats_core_view(s)},
        {"/darkscope/flags", flags_view(s)},
        {"/darkscope/errors", errors_view(s)},
        {"/darkscope/sensors", sensors_view(s)},
        {"/darkscope/workers", workers_view(s)},
        {"/darkscope/events,50", events_view(s, "50")},
    };
    Dict shaped;
    for (auto& [k, v] : d)
        shaped.emplace_back(k, telemetry_shape(v));
    try {
        replace_file(path, to_json(Value(std::move(shaped)), 1) + '\n');
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("--summary ") + e.what());
    }
}

}  // namespace darkscope
