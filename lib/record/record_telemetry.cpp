// /darkscope/record: continuous recording's status on the telemetry socket.
#include <rte_telemetry.h>

#include <mutex>

#include "darkscope/recorder.hpp"
#include "darkscope/telemetry.hpp"
#include "darkscope/value.hpp"

namespace darkscope {

RecordStatus current_record_status(bool* enabled);

namespace {

Value record_value() {
    bool enabled = false;
    const RecordStatus s = current_record_status(&enabled);
    if (!enabled)
        return Dict{{"enabled", 0u}};
    Dict dropped;
    for (unsigned i = 0; i < kContinuousDropReasons; ++i)
        dropped.emplace_back(kRecordDropNames[i], s.dropped[i]);
    Dict event_dropped;
    for (unsigned i = 0; i < static_cast<unsigned>(RecordDrop::count_); ++i)
        event_dropped.emplace_back(kRecordDropNames[i], s.event_dropped[i]);
    return Dict{{"enabled", 1u},
                {"dir", s.dir},
                {"filter", s.filter},
                {"files_written", s.files_written},
                {"bytes_written", s.bytes_written},
                {"packets_recorded", s.packets_recorded},
                {"record_dropped", s.dropped_total()},
                {"record_dropped_by_reason", std::move(dropped)},
                {"current_file", s.current_file},
                {"quota_bytes", s.quota_bytes},
                {"quota_used_bytes", s.quota_used_bytes},
                {"files_deleted", s.files_deleted},
                {"event_captures", s.events ? 1u : 0u},
                {"event_captures_open", s.event_captures_open},
                {"event_captures_written", s.event_captures_written},
                {"event_packets_recorded", s.event_packets_recorded},
                {"event_bytes_written", s.event_bytes_written},
                {"event_record_dropped", s.event_dropped_total()},
                {"event_record_dropped_by_reason", std::move(event_dropped)},
                {"pretrigger_bytes", s.pretrigger_bytes},
                {"pretrigger_cut_chunks", s.pretrigger_cut_chunks}};
}

int record_command(const char*, const char*, rte_tel_data* d) {
    return fill_tel_data(d, record_value()) ? 0 : -1;
}

}  // namespace

void register_record_telemetry() {
    static std::once_flag once;
    std::call_once(once, [] {
        rte_telemetry_register_cmd("/darkscope/record", record_command,
                                   "Recording: files, bytes, packets recorded and dropped by "
                                   "reason, current file, quota use, event captures");
    });
}

}  // namespace darkscope
