// The writer thread of continuous recording (darkscope/recorder.hpp).
#include "darkscope/recorder.hpp"

#include <fcntl.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_ring.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace darkscope {

namespace {

// A file's pending blocks go to disk at this size (one write; one gzip member or zstd frame).
constexpr size_t kCommitBytes = 1u << 20;
constexpr unsigned kChunksPerDrain = 16;

std::mutex g_current_mutex;
Recorder* g_current = nullptr;

void add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// One line when the directory cannot take files: created if missing, then a probe written.
void check_writable(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        throw std::runtime_error("--record-dir " + dir + ": cannot create it: " + ec.message());
    const std::string probe = dir + "/.darkscope-probe-" + std::to_string(getpid());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::runtime_error("--record-dir " + dir + ": not writable: " + std::strerror(errno));
    const bool wrote = ::write(fd, "x", 1) == 1;
    const int error = errno;
    ::close(fd);
    ::unlink(probe.c_str());
    if (!wrote)
        throw std::runtime_error("--record-dir " + dir + ": not writable: " + std::strerror(error));
}

unsigned ring_size_for(unsigned chunks) {
    unsigned size = 2;
    while (size < chunks + 1)
        size <<= 1;
    return size;
}

}  // namespace

Recorder::Recorder(const RecordOptions& options, const std::vector<std::string>& sensor_names,
                   unsigned workers)
    : options_(options), quota_(options.dir, options.appliance, options.quota_bytes) {
    try {
        filter_ = RecordFilter::parse(options.filter, sensor_names);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what());
    }
    check_writable(options.dir);
    quota_.scan();
    quota_used_.store(quota_.used_bytes());
    static std::atomic<unsigned> instance{0};
    const unsigned id = instance.fetch_add(1);
    for (unsigned w = 0; w < workers; ++w) {
        auto* tap = new RecordTap();
        taps_.push_back(tap);
        tap->filter = &filter_;
        tap->snaplen = options.snaplen;
        tap->wait_for_chunks = options.offline;
        const unsigned size = ring_size_for(options.chunks_per_worker);
        for (rte_ring** ring : {&tap->filled, &tap->empty}) {
            const std::string name = std::string(ring == &tap->filled ? "rec_full_" : "rec_free_") +
                                     std::to_string(id) + "_" + std::to_string(w);
            *ring =
                rte_ring_create(name.c_str(), size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (*ring == nullptr)
                throw std::runtime_error("--record-dir: cannot create the recording rings: " +
                                         std::string(rte_strerror(rte_errno)));
            rings_.push_back(*ring);
        }
        for (unsigned c = 0; c < options.chunks_per_worker; ++c) {
            auto* chunk = new RecordChunk();
            chunks_.push_back(chunk);
            rte_ring_sp_enqueue(tap->empty, chunk);
        }
    }
    thread_ = std::thread([this] { run(); });
    std::lock_guard lock(g_current_mutex);
    g_current = this;
}

Recorder::~Recorder() {
    finish();
    {
        std::lock_guard lock(g_current_mutex);
        if (g_current == this)
            g_current = nullptr;
    }
    for (auto* ring : rings_)
        rte_ring_free(ring);
    for (auto* chunk : chunks_)
        delete chunk;
    for (auto* tap : taps_)
        delete tap;
}

void Recorder::interval_closed(int64_t end_s) {
    if (end_s > closed_until_.load(std::memory_order_relaxed))
        closed_until_.store(end_s, std::memory_order_relaxed);
    closes_.fetch_add(1, std::memory_order_release);
}

void Recorder::finish() {
    if (finished_)
        return;
    finished_ = true;
    for (auto* tap : taps_)
        record_hand_over(*tap);
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable())
        thread_.join();
    const RecordStatus s = status();
    std::string reasons;
    for (unsigned i = 0; i < static_cast<unsigned>(RecordDrop::count_); ++i)
        reasons +=
            std::string(i ? ", " : "") + kRecordDropNames[i] + " " + std::to_string(s.dropped[i]);
    RTE_LOG(NOTICE, USER1,
            "record: %" PRIu64 " packets recorded in %" PRIu64 " files (%" PRIu64
            " bytes), %" PRIu64 " dropped (%s), %" PRIu64 " files deleted by the quota\n",
            s.packets_recorded, s.files_written, s.bytes_written, s.dropped_total(),
            reasons.c_str(), s.files_deleted);
}

void Recorder::run() {
    uint64_t closes_seen = 0;
    for (;;) {
        const bool stopping = stop_.load(std::memory_order_acquire);
        const uint64_t closes = closes_.load(std::memory_order_acquire);
        bool busy = drain();
        if (closes != closes_seen) {
            // Every chunk of the closed intervals was handed over before the close was posted.
            while (drain()) {
            }
            closes_seen = closes;
            close_through(closed_until_.load(std::memory_order_relaxed));
            // What is pending in the periods still open goes to disk each interval.
            for (auto& [period, file] : open_)
                commit(file);
            busy = true;
        }
        if (stopping) {
            while (drain()) {
            }
            close_through(INT64_MAX);
            return;
        }
        if (!busy)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

bool Recorder::drain() {
    bool any = false;
    for (RecordTap* tap : taps_) {
        void* chunks[kChunksPerDrain];
        const unsigned n = rte_ring_sc_dequeue_burst(tap->filled, chunks, kChunksPerDrain, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            write_chunk(*static_cast<const RecordChunk*>(chunks[i]));
            rte_ring_sp_enqueue(tap->empty, chunks[i]);
        }
        any |= n != 0;
    }
    return any;
}

Recorder::OpenFile& Recorder::file_for(int64_t period) {
    auto it = open_.find(period);
    if (it != open_.end())
        return it->second;
    OpenFile& file = open_[period];
    for (unsigned duplicate = 0; duplicate < 1000; ++duplicate) {
        const std::string path =
            options_.dir + "/" +
            record_file_name(options_.appliance, period, options_.compression, duplicate);
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 || stat((path + ".part").c_str(), &st) == 0)
            continue;
        auto writer =
            std::make_unique<PcapngWriter>(path, options_.compression, options_.nanoseconds);
        int error = 0;
        if (!writer->open(&error)) {
            RTE_LOG(ERR, USER1, "record: cannot create %s: %s\n", writer->part_path().c_str(),
                    std::strerror(error));
            break;
        }
        {
            std::lock_guard lock(current_mutex_);
            current_file_ = writer->part_path();
        }
        file.writer = std::move(writer);
        break;
    }
    return file;
}

void Recorder::write_chunk(const RecordChunk& chunk) {
    uint32_t at = 0;
    OpenFile* file = nullptr;
    int64_t file_period = INT64_MIN;
    for (uint32_t i = 0; i < chunk.packets; ++i) {
        const auto* rec = reinterpret_cast<const RecordedPacket*>(chunk.data + at);
        at += static_cast<uint32_t>(sizeof(RecordedPacket)) + ((rec->cap_len + 7u) & ~7u);
        // A packet of a period already closed (offline: out of order) joins the oldest open one.
        int64_t period =
            rotation_start(static_cast<int64_t>(rec->ts_ns / 1'000'000'000ull), options_.rotate_s);
        if (period < open_floor_)
            period = open_floor_;
        if (period != file_period) {
            file = &file_for(period);
            file_period = period;
        }
        if (file->writer == nullptr || !file->writer->is_open()) {
            lose(RecordDrop::write_error, 1);
            continue;
        }
        file->writer->add(static_cast<LinkType>(rec->link), rec->ts_ns, rec->wire_len,
                          reinterpret_cast<const uint8_t*>(rec + 1), rec->cap_len);
        if (file->writer->pending_bytes() >= kCommitBytes)
            commit(*file);
    }
}

void Recorder::lose(RecordDrop why, uint64_t packets) {
    add(dropped_[static_cast<unsigned>(why)], packets);
}

void Recorder::failed_write(int error, uint64_t packets, const std::string& path) {
    lose(error == ENOSPC || error == EDQUOT ? RecordDrop::disk_full : RecordDrop::write_error,
         packets);
    if (!failing_)
        RTE_LOG(ERR, USER1,
                "record: cannot write %s: %s; recorded packets are dropped (counted in "
                "record_dropped) until writes succeed again\n",
                path.c_str(), std::strerror(error));
    failing_ = true;
}

void Recorder::commit(OpenFile& file) {
    PcapngWriter* w = file.writer.get();
    if (w == nullptr || w->pending_packets() == 0 || !w->is_open())
        return;
    const uint64_t bytes = w->pending_disk_bytes();
    const bool fits = quota_.make_room(bytes, [this](const std::string& name, uint64_t size) {
        add(files_deleted_, 1);
        RTE_LOG(NOTICE, USER1,
                "record: quota of %" PRIu64 " MiB reached: deleted the oldest file %s (%" PRIu64
                " bytes)\n",
                quota_.limit_bytes() >> 20, name.c_str(), size);
    });
    if (!fits) {
        if (!failing_)
            RTE_LOG(WARNING, USER1,
                    "record: quota of %" PRIu64
                    " MiB is full with the files in progress; recorded packets are dropped\n",
                    quota_.limit_bytes() >> 20);
        failing_ = true;
        lose(RecordDrop::quota, w->discard());
        return;
    }
    const PcapngWriter::CommitResult r = w->commit();
    if (!r.ok) {
        failed_write(r.error, r.packets, w->part_path());
        return;
    }
    if (failing_)
        RTE_LOG(NOTICE, USER1, "record: writing again (%s)\n", w->part_path().c_str());
    failing_ = false;
    file.packets += r.packets;
    add(packets_recorded_, r.packets);
    add(bytes_written_, r.bytes);
    quota_.grow(r.bytes);
    quota_used_.store(quota_.used_bytes(), std::memory_order_relaxed);
}

void Recorder::close_file(int64_t period, OpenFile& file) {
    (void)period;
    PcapngWriter* w = file.writer.get();
    if (w == nullptr)
        return;
    commit(file);
    const uint64_t bytes = w->disk_bytes();
    const std::string name = w->path().substr(options_.dir.size() + 1);
    const PcapngWriter::CommitResult r = w->close();
    quota_.closed(bytes);
    if (!r.ok) {
        RTE_LOG(ERR, USER1, "record: cannot complete %s: %s\n", w->path().c_str(),
                std::strerror(r.error));
    } else if (bytes != 0) {
        quota_.add(name, bytes);
        add(files_written_, 1);
        RTE_LOG(INFO, USER1, "record: wrote %s (%" PRIu64 " packets, %" PRIu64 " bytes)\n",
                w->path().c_str(), file.packets, bytes);
    }
    quota_used_.store(quota_.used_bytes(), std::memory_order_relaxed);
}

void Recorder::close_through(int64_t end_s) {
    for (auto it = open_.begin(); it != open_.end();) {
        const int64_t period = it->first;
        if (end_s != INT64_MAX && period + static_cast<int64_t>(options_.rotate_s) > end_s) {
            ++it;
            continue;
        }
        close_file(period, it->second);
        it = open_.erase(it);
    }
    if (end_s != INT64_MAX)
        open_floor_ = std::max(open_floor_, rotation_start(end_s, options_.rotate_s));
    if (open_.empty()) {
        std::lock_guard lock(current_mutex_);
        current_file_.clear();
    }
}

RecordStatus Recorder::status() const {
    RecordStatus s;
    s.files_written = files_written_.load(std::memory_order_relaxed);
    s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    s.packets_recorded = packets_recorded_.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < static_cast<unsigned>(RecordDrop::count_); ++i)
        s.dropped[i] = dropped_[i].load(std::memory_order_relaxed);
    for (const RecordTap* tap : taps_)
        s.dropped[static_cast<unsigned>(RecordDrop::buffers)] +=
            tap->dropped_buffers.load(std::memory_order_relaxed);
    s.files_deleted = files_deleted_.load(std::memory_order_relaxed);
    s.quota_bytes = options_.quota_bytes;
    s.quota_used_bytes = quota_used_.load(std::memory_order_relaxed);
    s.dir = options_.dir;
    s.filter = options_.filter.empty() ? "all" : options_.filter;
    std::lock_guard lock(current_mutex_);
    s.current_file = current_file_;
    return s;
}

// Telemetry reads the current recorder under this lock; the Recorder leaves it in its destructor.
RecordStatus current_record_status(bool* enabled) {
    std::lock_guard lock(g_current_mutex);
    *enabled = g_current != nullptr;
    return g_current != nullptr ? g_current->status() : RecordStatus{};
}

}  // namespace darkscope
