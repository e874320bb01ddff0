// Continuous recording (--record-dir): the writer thread and what it owns. Workers copy the
// packets the filter selects into the writer's chunks (darkscope/record_tap.hpp); the writer
// turns them into pcapng files, one per rotation period, chosen by each packet's time. A file
// closes once the interval that ends its period has closed (interval_closed: every worker has
// handed over that interval's packets by then), and is renamed from `.part` to its name.
// A full disk, an I/O error or the quota costs recorded packets, counted by reason; nothing the
// writer does ever waits on a worker or makes one wait (live).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
};

// Why recorded packets were lost (record_dropped by reason).
enum class RecordDrop : uint8_t { buffers, disk_full, write_error, quota, count_ };
inline constexpr const char* kRecordDropNames[] = {"buffers", "disk_full", "write_error", "quota"};

struct RecordStatus {
    uint64_t files_written = 0;
    uint64_t bytes_written = 0;
    uint64_t packets_recorded = 0;
    uint64_t dropped[static_cast<unsigned>(RecordDrop::count_)] = {};
    uint64_t files_deleted = 0;
    uint64_t quota_bytes = 0;
    uint64_t quota_used_bytes = 0;
    uint64_t event_captures_open = 0;
    std::string current_file;
    std::string dir;
    std::string filter;
    uint64_t dropped_total() const {
        uint64_t n = 0;
        for (uint64_t d : dropped)
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
    // The stats core, once every worker acknowledged the epoch flip that closed [.., end_s).
    void interval_closed(int64_t end_s);
    // The workers have stopped: take their partial chunks, write everything, close every file,
    // stop the writer. Idempotent.
    void finish();
    RecordStatus status() const;

  private:
    struct OpenFile {
        std::unique_ptr<PcapngWriter> writer;  // null: the period could not be opened
        uint64_t packets = 0;
    };
    void run();
    bool drain();
    void write_chunk(const RecordChunk& chunk);
    OpenFile& file_for(int64_t period);
    void commit(OpenFile& file);
    void close_file(int64_t period, OpenFile& file);
    void close_through(int64_t end_s);
    void lose(RecordDrop why, uint64_t packets);
    void failed_write(int error, uint64_t packets, const std::string& path);

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

    std::atomic<int64_t> closed_until_{INT64_MIN};
    std::atomic<uint64_t> closes_{0};
    std::atomic<bool> stop_{false};
    bool finished_ = false;
    std::thread thread_;

    // Status: written by the writer (relaxed), read by telemetry.
    std::atomic<uint64_t> files_written_{0}, bytes_written_{0}, packets_recorded_{0};
    std::atomic<uint64_t> dropped_[static_cast<unsigned>(RecordDrop::count_)] = {};
    std::atomic<uint64_t> files_deleted_{0}, quota_used_{0};
    mutable std::mutex current_mutex_;
    std::string current_file_;
};

// /darkscope/record on the telemetry socket: the status of the Recorder that is running, or
// {"enabled": 0}. Registered once; a Recorder makes itself current while it lives.
void register_record_telemetry();

}  // namespace darkscope
