// The bridge between the stats core and the event engine: a closed interval's keys, DoS victims
// and top talkers become the engine's observations (detect_events); the events it reports go to
// the log, the history and the hook (emit_events), each naming its event capture, and the
// recent ones to telemetry (recent_events), with counts and times as numbers.
#include <rte_log.h>

#include <algorithm>
#include <unordered_map>

#include "darkscope/country.hpp"
#include "darkscope/engine.hpp"
#include "darkscope/event_capture_keys.hpp"
#include "darkscope/events.hpp"
#include "darkscope/fleet.hpp"
#include "darkscope/recorder.hpp"
#include "darkscope/views.hpp"
#include "worker.hpp"

namespace darkscope {

namespace {

// A time as a JSON number: unsigned for every time a capture holds (telemetry's int is 32 bits).
EventField time_field(int64_t t) {
    return t >= 0 ? EventField(static_cast<uint64_t>(t)) : EventField(t);
}

// One event as /darkscope/events and the summary show it: the fields an operator scans, flat.
EventSummary summary_of(const Event& e, const std::string& capture) {
    EventSummary summary;
    summary.kind = e.kind;
    auto text = [&](const char* k, std::string v) {
        if (!v.empty())
            summary.fields.emplace_back(k, std::move(v));
    };
    auto number = [&](const char* k, uint64_t v) { summary.fields.emplace_back(k, v); };
    text("id", e.id);
    text("kind", event_kind_name(e.kind));
    text("phase", event_phase_name(e.phase));
    summary.fields.emplace_back("start", time_field(e.start));
    summary.fields.emplace_back("end", time_field(e.end));
    if (e.kind == EventKind::surge)
        text("key", e.dimension + "=" + e.key);
    text("address", e.address);
    text("country", e.country);
    if (e.asn)
        number("asn", e.asn);
    number("packets", e.packets);
    if (e.kind == EventKind::surge)
        number("sources", e.sources);
    if (e.destinations)
        number("destinations", e.destinations);
    if (e.kind == EventKind::surge)
        number("peak_packets", e.peak_packets);
    if (e.kind == EventKind::dos)
        number("peak_ppm", e.peak_ppm);
    text("vector", e.vector);
    std::string tools;
    for (const auto& t : e.tools)
        tools += (tools.empty() ? "" : " ") + t;
    text("tools", tools);
    text("reason", e.reason);
    text("capture", capture);
    return summary;
}

}  // namespace

std::vector<StoredRow> Engine::detect_events(int64_t start_s, int64_t end_s) {
    const CounterSet& c = *interval_.counters;
    // Every key counted in the interval (a key absent from an interval counts as 0 there).
    std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> points;
    series_points(c, sensor_names_, 1u << 30, points);
    std::vector<SeriesPoint> series;
    series.reserve(points.size());
    for (auto& [key, v] : points) {
        auto eq = key.find('=');
        SeriesPoint p;
        p.dimension = key.substr(0, eq);
        p.key = key.substr(eq + 1);
        p.packets = v.first;
        p.sources = v.second;
        series.push_back(std::move(p));
    }
    // In key order: the engine keeps the busiest keys and ties go to the first seen, so the
    // input order must not depend on where the tables happened to place their keys.
    std::sort(series.begin(), series.end(), [](const SeriesPoint& a, const SeriesPoint& b) {
        return a.dimension != b.dimension ? a.dimension < b.dimension : a.key < b.key;
    });
    // In key order as well (the event engine tracks a bounded number of victims).
    std::vector<std::pair<uint64_t, const VictimCounts*>> victim_entries;
    c.victims.for_each(
        [&](uint64_t key, const VictimCounts& v) { victim_entries.emplace_back(key, &v); });
    std::sort(victim_entries.begin(), victim_entries.end());
    std::vector<VictimObservation> victims;
    for (const auto& [key, entry] : victim_entries) {
        const VictimCounts& v = *entry;
        VictimObservation o;
        o.addr = v.addr;
        o.family = v.family;
        o.packets = v.pb.packets;
        o.bytes = v.pb.bytes;
        o.first_s = static_cast<int64_t>(v.first_ns / 1'000'000'000ull);
        o.last_s = static_cast<int64_t>(v.last_ns / 1'000'000'000ull);
        o.per_minute_max = v.peak_minute_packets;
        o.dark_addresses = v.destinations.estimate();
        o.cls = v.cls;
        o.proto = v.proto;
        o.port = v.port;
        o.tcp_flags = v.tcp_flags;
        o.icmp_type = v.icmp_type;
        o.quoted_proto = v.quoted_proto;
        o.quoted_port = v.quoted_port;
        o.country = country_code(v.country);
        o.asn = v.asn;
        victims.push_back(std::move(o));
    }
    // Scanners are sought among the top talkers, minus sources whose packets are mostly
    // backscatter: a DoS victim's replies reach many dark addresses too, but it is not scanning
    // (a scanner's own few RSTs, as masscan sends, do not make it a victim).
    std::unordered_map<uint64_t, uint64_t> victim_packets;
    c.victims.for_each(
        [&](uint64_t key, const VictimCounts& v) { victim_packets[key] = v.pb.packets; });
    std::vector<SourceObservation> sources;
    for (const auto& h : interval_.sources->top(kHeavyCapacity)) {
        auto victim = victim_packets.find(h.key.hash());
        if (victim != victim_packets.end() && victim->second * 2 > h.packets)
            continue;
        SourceObservation o;
        o.addr = h.key.address();
        o.family = h.key.family;
        o.packets = h.packets;
        o.dark_addresses = h.distinct_destinations;
        o.service_count = h.distinct_services;
        o.flags = h.flags;
        o.first_s = static_cast<int64_t>(h.first_seen);
        o.last_s = static_cast<int64_t>(h.last_seen);
        o.country = country_code(h.country);
        o.asn = h.asn;
        sources.push_back(std::move(o));
    }
    emit_events(events_->observe_interval(start_s, end_s, series, victims, sources));
    // The interval's active scanners per service and per country: series and history rows of
    // their own.
    std::vector<StoredRow> scanner_rows;
    for (const ScannerActivity& a : events_->scanner_activity(1)) {
        if (a.start != start_s)
            continue;
        for (const auto& [service, n] : a.services)
            scanner_rows.push_back(StoredRow{"scanner_service", service, n, 0, n});
        for (const auto& [country, n] : a.countries)
            scanner_rows.push_back(StoredRow{"scanner_country", country, n, 0, n});
    }
    return scanner_rows;
}

void Engine::emit_events(const std::vector<Event>& events) {
    for (const Event& found : events) {
        Event e = found;
        if (recorder_ && recorder_->events_enabled())
            e.capture = event_capture(e);
        if (e.phase == EventPhase::start)
            ++events_started_[event_kind_name(e.kind)];
        // Starts and ends are news for the operator; updates go to the debug log.
        // --no-log-events keeps them all out of the log.
        if (config_.log_events && e.phase == EventPhase::update)
            RTE_LOG(DEBUG, USER1, "event %s\n", e.log_line().c_str());
        else if (config_.log_events)
            RTE_LOG(NOTICE, USER1, "event %s\n", e.log_line().c_str());
        std::string json = e.json();
        if (store_)
            store_->enqueue(StoredEvent{e.id, e.kind, e.phase, e.time, json});
        if (fleet_)
            fleet_->add_event(StoredEvent{e.id, e.kind, e.phase, e.time, json});
        if (hook_)
            hook_->submit(json);
    }
}

// An event's capture (docs/recording.md): started with the event, told when it ended; every
// phase names the file.
std::string Engine::event_capture(const Event& e) {
    if (e.phase == EventPhase::start) {
        const auto key = event_capture_key(e, sensor_names_);
        return key ? recorder_->event_started(e.id, *key, e.time) : std::string();
    }
    if (e.phase == EventPhase::end)
        recorder_->event_ended(e.id, e.time);
    return recorder_->event_capture_path(e.id);
}

std::shared_ptr<const EventLists> Engine::recent_events() const {
    auto lists = std::make_shared<EventLists>();
    for (const Event& e : events_->recent(50))
        lists->events.push_back(
            summary_of(e, recorder_ ? recorder_->event_capture_path(e.id) : std::string()));
    return lists;
}

}  // namespace darkscope
