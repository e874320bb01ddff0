// What an event is and which step of its life a record of it reports: the closed sets behind the
// "kind" and "phase" fields of the event JSON, the log line, the history's events table and the
// telemetry event lists. Header only, so that the history store and the snapshot, which sit below
// the event engine, can name them.
#pragma once

#include <optional>
#include <string_view>

namespace darkscope {

enum class EventKind { surge, dos, scanner };
enum class EventPhase { start, update, end };

inline constexpr EventKind kEventKinds[] = {EventKind::surge, EventKind::dos, EventKind::scanner};
inline constexpr EventPhase kEventPhases[] = {EventPhase::start, EventPhase::update,
                                              EventPhase::end};

// "surge", "dos", "scanner": the spelling everywhere outside the program (JSON, log, database).
constexpr const char* event_kind_name(EventKind kind) {
    switch (kind) {
        case EventKind::surge:
            return "surge";
        case EventKind::dos:
            return "dos";
        case EventKind::scanner:
            return "scanner";
    }
    return "";
}

// "start", "update", "end".
constexpr const char* event_phase_name(EventPhase phase) {
    switch (phase) {
        case EventPhase::start:
            return "start";
        case EventPhase::update:
            return "update";
        case EventPhase::end:
            return "end";
    }
    return "";
}

constexpr std::optional<EventKind> parse_event_kind(std::string_view name) {
    for (EventKind k : kEventKinds)
        if (name == event_kind_name(k))
            return k;
    return std::nullopt;
}

constexpr std::optional<EventPhase> parse_event_phase(std::string_view name) {
    for (EventPhase p : kEventPhases)
        if (name == event_phase_name(p))
            return p;
    return std::nullopt;
}

}  // namespace darkscope
