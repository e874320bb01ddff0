// Recording (--record-dir): the writer thread and what it owns. Workers copy packets into the
// writer's chunks (darkscope/record_tap.hpp); the writer turns them into pcapng files:
//   - continuous files, one per rotation period, chosen by each packet's time, of the packets
//     the filter selects. A file closes once the interval that ends its period has closed
//     (interval_closed: every worker has handed over that interval's packets by then), and is
//     renamed from `.part` to its name;
//   - event captures (--record-events on), one per event, of the packets that match the event's
//     key (darkscope/event_capture_key.hpp) over [detection - pre-trigger, end + tail). The
//     writer keeps each worker's chunks of the last --record-pretrigger seconds (at most
//     --record-pretrigger-mb MiB) before it hands them back, and writes their matching packets
//     first when an event starts.
// A full disk, an I/O error, the quota or an event capture's size cap costs recorded packets,
// counted by reason; nothing the writer does ever waits on a worker or makes one wait (live).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "darkscope/event_capture_key.hpp"
#include "darkscope/pcapng_writer.hpp"
#include "darkscope/record_files.hpp"
#include "darkscope/record_filter.hpp"
#include "darkscope/record_tap.hpp"

namespace darkscope {

struct RecordOptions {
    std::string dir;
    std::string filter;  // --record-filter
    unsigned rotate_s = 3600;
    uint32_t snaplen = 65535;
    RecordCompression compression = RecordCompression::none;
    uint64_t quota_bytes = 0;  // 0: no quota
    std::string appliance;
    bool offline = false;  // workers wait for chunks rather than drop
    bool nanoseconds = true;
    unsigned chunks_per_worker = 32;
    // Event captures.
    bool events = true;
    unsigned pretrigger_s = 60;
    unsigned pretrigger_mb = 64;  // per worker
    unsigned event_tail_s = 60;
    uint64_t event_max_bytes = uint64_t{256} << 20;
};

// Why recorded packets were lost (record_dropped by reason). event_max: an event capture
// reached --record-event-max-mb (event captures only).
enum class RecordDrop : uint8_t { buffers, disk_full, write_error, quota, event_max, count_ };
inline constexpr const char* kRecordDropNames[] = {"buffers", "disk_full", "write_error", "quota",
                                                   "event_max"};
// The reasons continuous recording has (every one but event_max).
inline constexpr unsigned kContinuousDropReasons = 4;

struct RecordStatus {
    uint64_t files_written = 0;
    uint64_t bytes_written = 0;
    uint64_t packets_recorded = 0;
    uint64_t dropped[static_cast<unsigned>(RecordDrop::count_)] = {};
    uint64_t files_deleted = 0;
    uint64_t quota_bytes = 0;
    uint64_t quota_used_bytes = 0;
    uint64_t event_captures_open = 0;
    uint64_t event_captures_written = 0;
    uint64_t event_packets_recorded = 0;
    uint64_t event_bytes_written = 0;
    uint64_t event_dropped[static_cast<unsigned>(RecordDrop::count_)] = {};
    uint64_t pretrigger_bytes = 0;       // chunks kept for the pre-trigger now
    uint64_t pretrigger_cut_chunks = 0;  // handed back early by the MiB bound
    bool events = false;
    std::string current_file;
    std::string dir;
    std::string filter;
    uint64_t dropped_total() const {
        uint64_t n = 0;
        for (uint64_t d : dropped)
            n += d;
        return n;
    }
    uint64_t event_dropped_total() const {
        uint64_t n = 0;
        for (uint64_t d : event_dropped)
            n += d;
        return n;
    }
};

class Recorder {
  public:
    // Checks that the directory can be written (creating it if missing) and parses the filter;
    // throws std::runtime_error with one line when not. Starts the writer thread.
    Recorder(const RecordOptions& options, const std::vector<std::string>& sensor_names,
             unsigned workers);
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    RecordTap* tap(unsigned worker) { return taps_[worker]; }
    bool events_enabled() const { return options_.events; }
    // The stats core, once every worker acknowledged the epoch flip that closed [.., end_s).
    void interval_closed(int64_t end_s);
    // The stats core, when an event starts (after interval_closed of the interval that found
    // it, detected_s its end): its capture begins. Returns the capture's path (empty when event
    // captures are off or the writer has finished).
    std::string event_started(const std::string& id, const EventCaptureKey& key,
                              int64_t detected_s);
    // The event ended at ended_s (its end phase's time): the capture takes the key's packets
    // until ended_s + tail and closes once that interval has closed.
    void event_ended(const std::string& id, int64_t ended_s);
    // The path of an event's capture (open or among the last few thousand), or "".
    std::string event_capture_path(const std::string& id) const;
    // The workers have stopped: take their partial chunks (the writer goes on until finish).
    void workers_stopped();
    // Write everything, close every file, stop the writer. Idempotent.
    void finish();
    RecordStatus status() const;

  private:
    struct OpenFile {
        std::unique_ptr<PcapngWriter> writer;  // null: the period could not be opened
        uint64_t packets = 0;
    };
    // Where a capture has read a worker's retained chunks up to: the chunk (by sequence number)
    // and the packet in it.
    struct Cursor {
        uint64_t seq = 0;
        uint32_t index = 0;   // packets of the chunk read
        uint32_t offset = 0;  // bytes of the chunk read
    };
    struct Capture {
        std::string id;
        std::string name;  // "events/<file>"
        EventCaptureKey key;
        uint64_t from_ns = 0;
        uint64_t until_ns = UINT64_MAX;  // end + tail, once the event ended
        int64_t until_s = INT64_MAX;
        OpenFile file;
        bool capped = false;
        std::vector<Cursor> cursors;  // per worker
    };
    struct Command {
        enum class Kind : uint8_t { close, start, end } kind;
        int64_t time = 0;
        std::string id, path;
        EventCaptureKey key;
    };
    struct Retained {
        RecordChunk* chunk;
        uint64_t seq;      // per worker, from 0
        uint64_t last_ns;  // the chunk's latest packet
    };
    void run();
    void post(Command command);
    void process(Command& command);
    bool drain();
    void write_chunk(const RecordChunk& chunk);
    void advance(Capture& capture, uint64_t before_ns);
    void advance_in(Capture& capture, unsigned worker, uint64_t before_ns, bool one_chunk);
    void write_to_capture(Capture& capture, const RecordedPacket& rec);
    void retain(unsigned worker, RecordChunk* chunk);
    void hand_back(unsigned worker, bool cut);
    void trim_retained(uint64_t horizon_ns);
    void start_capture(Command& command);
    void close_capture(Capture& capture);
    void close_captures_through(int64_t end_s);
    OpenFile& file_for(int64_t period);
    void commit(OpenFile& file, bool event);
    void close_file(int64_t period, OpenFile& file);
    void close_through(int64_t end_s);
    void lose(RecordDrop why, uint64_t packets, bool event);
    void failed_write(int error, uint64_t packets, const std::string& path, bool event);

    RecordOptions options_;
    RecordFilter filter_;
    std::vector<RecordTap*> taps_;
    std::vector<RecordChunk*> chunks_;
    std::vector<rte_ring*> rings_;
    RecordQuota quota_;

    // Writer thread only.
    std::map<int64_t, OpenFile> open_;  // by period start
    int64_t open_floor_ = INT64_MIN;    // periods before this one are closed
    bool failing_ = false;              // the last commit failed (logged once per failure spell)
    std::vector<std::deque<Retained>> retained_;  // per worker, oldest first
    std::vector<uint64_t> next_seq_;              // per worker
    size_t retain_chunks_ = 0;                    // per worker, the MiB bound
    uint64_t retained_bytes_ = 0;
    uint64_t horizon_ns_ = 0;  // the oldest packet time an event found now reaches back to
    std::vector<std::unique_ptr<Capture>> captures_;  // open
    int64_t closed_until_ = INT64_MIN;

    // Stats core to writer, in order.
    std::mutex commands_mutex_;
    std::vector<Command> commands_;
    std::atomic<bool> stop_{false};
    bool workers_stopped_ = false;
    bool finished_ = false;
    std::thread thread_;

    // Event id -> capture path, for the event's later phases (stats core and telemetry).
    mutable std::mutex paths_mutex_;
    std::map<std::string, std::string> paths_;
    std::deque<std::string> path_order_;

    // Status: written by the writer (relaxed), read by telemetry.
    std::atomic<uint64_t> files_written_{0}, bytes_written_{0}, packets_recorded_{0};
    std::atomic<uint64_t> dropped_[static_cast<unsigned>(RecordDrop::count_)] = {};
    std::atomic<uint64_t> files_deleted_{0}, quota_used_{0};
    std::atomic<uint64_t> captures_open_{0}, captures_written_{0}, event_packets_{0},
        event_bytes_{0}, pretrigger_bytes_{0}, pretrigger_cut_{0};
    std::atomic<uint64_t> event_dropped_[static_cast<unsigned>(RecordDrop::count_)] = {};
    mutable std::mutex current_mutex_;
    std::string current_file_;
};

// /darkscope/record on the telemetry socket: the status of the Recorder that is running, or
// {"enabled": 0}. Registered once; a Recorder makes itself current while it lives.
void register_record_telemetry();

}  // namespace darkscope
