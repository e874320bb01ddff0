#include "darkscope/telemetry.hpp"

#include <rte_telemetry.h>

#include <cstring>
#include <stdexcept>
#include <mutex>
#include <vector>

namespace darkscope {

namespace {

TelemetryHooks& hooks() {
    static TelemetryHooks h;
    return h;
}

// Transcribes one telemetry_form() scalar; false when the library refused it.
bool add_dict_scalar(rte_tel_data* d, const std::string& key, const Value& v) {
    if (auto* u = std::get_if<uint64_t>(&v.v))
        return rte_tel_data_add_dict_u64(d, key.c_str(), *u) == 0;
    if (auto* i = std::get_if<int64_t>(&v.v))
        return rte_tel_data_add_dict_int(d, key.c_str(), static_cast<int>(*i)) == 0;
    if (auto* s = std::get_if<std::string>(&v.v))
        return rte_tel_data_add_dict_string(d, key.c_str(), s->c_str()) == 0;
    return false;
}

// A telemetry_form() container of scalars.
bool fill_flat(rte_tel_data* d, const Value& value) {
    bool ok = true;
    if (value.is_dict()) {
        rte_tel_data_start_dict(d);
        for (const auto& [k, item] : value.dict())
            ok &= add_dict_scalar(d, k, item);
        return ok;
    }
    const Array& a = value.array();
    bool strings = !a.empty() && std::holds_alternative<std::string>(a.front().v);
    rte_tel_data_start_array(d, strings ? RTE_TEL_STRING_VAL : RTE_TEL_U64_VAL);
    for (const auto& item : a) {
        if (auto* s = std::get_if<std::string>(&item.v))
            ok &= rte_tel_data_add_array_string(d, s->c_str()) == 0;
        else if (auto* u = std::get_if<uint64_t>(&item.v))
            ok &= rte_tel_data_add_array_u64(d, *u) == 0;
        else
            ok = false;
    }
    return ok;
}

// Transcribes a telemetry_form() value; false when the library refused any part of it (the
// reply is then incomplete: the caller answers an error instead). `held` gets the containers d
// took: d frees them once it has been sent, but an error reply starts d afresh, which forgets
// them, so the caller frees them then.
bool fill_formed(rte_tel_data* d, const Value& value, std::vector<rte_tel_data*>& held) {
    if (auto* s = std::get_if<std::string>(&value.v))
        return rte_tel_data_string(d, s->c_str()) == 0;
    bool ok = true;
    auto container = [&](const Value& item) -> rte_tel_data* {
        rte_tel_data* c = rte_tel_data_alloc();
        if (c != nullptr && !fill_flat(c, item))
            ok = false;
        return c;
    };
    if (value.is_dict()) {
        rte_tel_data_start_dict(d);
        for (const auto& [k, item] : value.dict()) {
            if (!item.is_dict() && !item.is_array()) {
                ok &= add_dict_scalar(d, k, item);
                continue;
            }
            rte_tel_data* c = container(item);
            if (c == nullptr || rte_tel_data_add_dict_container(d, k.c_str(), c, 0) != 0) {
                rte_tel_data_free(c);
                ok = false;
            } else {
                held.push_back(c);
            }
        }
        return ok;
    }
    const Array& a = value.array();
    if (a.empty() || (!a.front().is_dict() && !a.front().is_array()))
        return fill_flat(d, value);
    rte_tel_data_start_array(d, RTE_TEL_CONTAINER);
    for (const auto& item : a) {
        rte_tel_data* c = container(item);
        if (c == nullptr || rte_tel_data_add_array_container(d, c, 0) != 0) {
            rte_tel_data_free(c);
            ok = false;
        } else {
            held.push_back(c);
        }
    }
    return ok;
}

int reply_error(rte_tel_data* d, const std::string& message) {
    rte_tel_data_start_dict(d);
    const Value formed = telemetry_form(Dict{{"error", message}});
    rte_tel_data_add_dict_string(d, "error",
                                 std::get<std::string>(formed.dict()[0].second.v).c_str());
    return 0;
}

using ViewFn = Value (*)(const Snapshot&, const char* params);

// Answers `value`, or an error saying why it cannot reach the client whole: the library would
// otherwise drop what does not fit its reply without a sign.
int answer(const char* cmd, rte_tel_data* d, const Value& value) {
    const Value formed = telemetry_form(value);
    std::string problem = telemetry_reply_problem(cmd != nullptr ? cmd : "", formed);
    if (!problem.empty())
        return reply_error(d, problem);
    std::vector<rte_tel_data*> held;
    if (!fill_formed(d, formed, held)) {
        for (rte_tel_data* c : held)
            rte_tel_data_free(c);
        return reply_error(d, "the telemetry library refused part of the reply");
    }
    return 0;
}

template <ViewFn F>
int snapshot_command(const char* cmd, const char* params, rte_tel_data* d) {
    auto snap = hooks().snapshot ? hooks().snapshot() : nullptr;
    if (!snap)
        return reply_error(d, "no snapshot published yet");
    try {
        return answer(cmd, d, F(*snap, params ? params : ""));
    } catch (const RequestError& e) {
        return reply_error(d, e.what());
    }
}

Value view_stats(const Snapshot& s, const char*) {
    return stats_view(s);
}
Value view_classes(const Snapshot& s, const char*) {
    return classes_view(s);
}
Value view_stats_core(const Snapshot& s, const char*) {
    return stats_core_view(s);
}
Value view_flags(const Snapshot& s, const char*) {
    return flags_view(s);
}
Value view_errors(const Snapshot& s, const char*) {
    return errors_view(s);
}
Value view_sensors(const Snapshot& s, const char*) {
    return sensors_view(s);
}
Value view_workers(const Snapshot& s, const char*) {
    return workers_view(s);
}
Value view_ports(const Snapshot& s, const char*) {
    return ports_view(s);
}
template <const char* Dim>
Value view_top(const Snapshot& s, const char* params) {
    return top_view(s, parse_top_request(Dim, params, kTopCapTelemetry), hooks().asn_name);
}
constexpr char kPorts[] = "ports";
constexpr char kCountries[] = "countries";
constexpr char kAsns[] = "asns";
constexpr char kSensors[] = "sensors";
constexpr char kSources[] = "sources";
constexpr char kPrefixes[] = "prefixes";
Value view_series(const Snapshot& s, const char* params) {
    return series_view(s, params);
}
Value view_events(const Snapshot& s, const char* params) {
    return events_view(s, params);
}
Value view_dos(const Snapshot& s, const char* params) {
    return events_view(s, params, EventKind::dos);
}
Value view_scanners(const Snapshot& s, const char* params) {
    return events_view(s, params, EventKind::scanner);
}

template <std::function<Value()> TelemetryHooks::*Member>
int hook_command(const char* cmd, const char*, rte_tel_data* d) {
    const auto& fn = hooks().*Member;
    if (!fn)
        return reply_error(d, "not available in this run");
    return answer(cmd, d, fn());
}

}  // namespace

bool fill_tel_data(rte_tel_data* d, const Value& value) {
    std::vector<rte_tel_data*> held;  // d keeps them: the library frees them with the reply
    return fill_formed(d, telemetry_form(value), held);
}

void register_telemetry(TelemetryHooks h) {
    hooks() = std::move(h);
    // The library refuses help texts of 128 bytes or more, and names outside [A-Za-z0-9_/]:
    // collect refusals so a bad registration is found at start-up, not by a user's null reply.
    std::string failed;
    auto rte_telemetry_register_cmd = [&failed](const char* cmd, telemetry_cb fn,
                                                const char* help) {
        if (::rte_telemetry_register_cmd(cmd, fn, help) != 0)
            failed += std::string(" ") + cmd;
    };
    rte_telemetry_register_cmd(
        "/darkscope/stats", snapshot_command<view_stats>,
        "Totals since start: packets, bytes, per protocol, malformed, unmatched, intervals, port "
        "drops. No parameters.");
    rte_telemetry_register_cmd(
        "/darkscope/top/ports", snapshot_command<view_top<kPorts>>,
        "Busiest services. Params: N[,WINDOW[,all|sensor=S|country=CC]]; WINDOW "
        "last|hour|day|total");
    rte_telemetry_register_cmd("/darkscope/top/countries", snapshot_command<view_top<kCountries>>,
                               "Busiest source countries. Params: N[,WINDOW[,sensor=S|service=P]]");
    rte_telemetry_register_cmd("/darkscope/top/asns", snapshot_command<view_top<kAsns>>,
                               "Busiest source ASNs. Params: N[,WINDOW] (N 1..100).");
    rte_telemetry_register_cmd("/darkscope/top/sensors", snapshot_command<view_top<kSensors>>,
                               "Busiest sensors. Params: N[,WINDOW[,country=CC|service=P]]");
    rte_telemetry_register_cmd("/darkscope/top/sources", snapshot_command<view_top<kSources>>,
                               "Top talkers (Space-Saving; 'error' bounds the overcount). "
                               "Params: N[,WINDOW]");
    rte_telemetry_register_cmd("/darkscope/top/prefixes", snapshot_command<view_top<kPrefixes>>,
                               "Top source /24 (IPv4) and /48 (IPv6) prefixes. Params: N[,WINDOW]");
    rte_telemetry_register_cmd("/darkscope/series", snapshot_command<view_series>,
                               "Last K intervals of packets and unique sources of a key. Params: "
                               "KEY,K e.g. service=21318/tcp,60");
    rte_telemetry_register_cmd("/darkscope/events", snapshot_command<view_events>,
                               "Open and recent events, newest first. Params: N[,KIND] with KIND "
                               "surge, dos or scanner");
    rte_telemetry_register_cmd("/darkscope/dos", snapshot_command<view_dos>,
                               "DoS attacks inferred from backscatter, newest first. Params: N");
    rte_telemetry_register_cmd("/darkscope/scanners", snapshot_command<view_scanners>,
                               "Scanning campaigns, newest first. Params: N");
    rte_telemetry_register_cmd("/darkscope/classes", snapshot_command<view_classes>,
                               "Packets per traffic class since start. No parameters.");
    rte_telemetry_register_cmd("/darkscope/stats_core", snapshot_command<view_stats_core>,
                               "The stats core's bounded tables (keys, capacity, packets in "
                               "other) and what closing an interval costs it. No parameters.");
    rte_telemetry_register_cmd("/darkscope/flags", snapshot_command<view_flags>,
                               "Packets per scanner/spoofing flag since start. No parameters.");
    rte_telemetry_register_cmd("/darkscope/errors", snapshot_command<view_errors>,
                               "Packets per decode error since start. No parameters.");
    rte_telemetry_register_cmd("/darkscope/sensors", snapshot_command<view_sensors>,
                               "Packets and bytes per sensor, and unmatched. No parameters.");
    rte_telemetry_register_cmd("/darkscope/workers", snapshot_command<view_workers>,
                               "Per worker: lcore, queues, packets, bursts, idle polls.");
    rte_telemetry_register_cmd("/darkscope/ports", snapshot_command<view_ports>,
                               "Per port ethdev counters: ipackets, ibytes, imissed, ierrors, "
                               "rx_nombuf, link.");
    rte_telemetry_register_cmd("/darkscope/plan", hook_command<&TelemetryHooks::plan>,
                               "The core plan: stats core, workers and their queues.");
    rte_telemetry_register_cmd("/darkscope/config", hook_command<&TelemetryHooks::config>,
                               "The effective configuration.");
    rte_telemetry_register_cmd("/darkscope/geo", hook_command<&TelemetryHooks::geo>,
                               "Attribution databases: files, build dates, networks, last "
                               "reload result.");
    rte_telemetry_register_cmd("/darkscope/reload", hook_command<&TelemetryHooks::reload>,
                               "Reload the attribution databases without stopping capture.");
    if (!failed.empty())
        throw std::runtime_error("telemetry: cannot register" + failed);
}

}  // namespace darkscope
