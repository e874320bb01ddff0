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
#include <utility>
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
    if (options.events) {
        std::error_code ec;
        std::filesystem::create_directories(options.dir + "/events", ec);
        if (ec)
            throw std::runtime_error("--record-dir " + options.dir +
                                     ": cannot create events/: " + ec.message());
        // The pre-trigger's chunks come on top of those the worker fills, so that a full
        // pre-trigger never starves it.
        retain_chunks_ = (uint64_t{options.pretrigger_mb} << 20) / kRecordChunkBytes;
        retained_.resize(workers);
        next_seq_.assign(workers, 0);
    }
    quota_.scan();
    quota_used_.store(quota_.used_bytes());
    static std::atomic<unsigned> instance{0};
    const unsigned id = instance.fetch_add(1);
    const unsigned chunks = options.chunks_per_worker + static_cast<unsigned>(retain_chunks_);
    for (unsigned w = 0; w < workers; ++w) {
        auto* tap = new RecordTap();
        taps_.push_back(tap);
        tap->filter = &filter_;
        tap->snaplen = options.snaplen;
        tap->wait_for_chunks = options.offline;
        tap->tap_all = options.events;
        const unsigned size = ring_size_for(chunks);
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
        for (unsigned c = 0; c < chunks; ++c) {
            // Not value-initialised: a chunk's pages are touched when it is first filled.
            auto* chunk = new RecordChunk;
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

void Recorder::post(Command command) {
    std::lock_guard lock(commands_mutex_);
    commands_.push_back(std::move(command));
}

void Recorder::interval_closed(int64_t end_s) {
    Command c{};
    c.kind = Command::Kind::close;
    c.time = end_s;
    post(std::move(c));
}

std::string Recorder::event_started(const std::string& id, const EventCaptureKey& key,
                                    int64_t detected_s) {
    if (!options_.events || finished_)
        return "";
    std::string path;
    for (unsigned duplicate = 0; duplicate < 1000; ++duplicate) {
        path = options_.dir + "/events/" +
               event_capture_file_name(id, options_.compression, duplicate);
        struct stat st {};
        if (stat(path.c_str(), &st) != 0 && stat((path + ".part").c_str(), &st) != 0)
            break;
    }
    {
        std::lock_guard lock(paths_mutex_);
        if (paths_.emplace(id, path).second) {
            path_order_.push_back(id);
            while (path_order_.size() > 4096) {
                paths_.erase(path_order_.front());
                path_order_.pop_front();
            }
        } else {
            return paths_[id];  // started once already
        }
    }
    Command c{};
    c.kind = Command::Kind::start;
    c.time = detected_s;
    c.id = id;
    c.path = path;
    c.key = key;
    post(std::move(c));
    return path;
}

void Recorder::event_ended(const std::string& id, int64_t ended_s) {
    if (!options_.events || finished_)
        return;
    Command c{};
    c.kind = Command::Kind::end;
    c.time = ended_s;
    c.id = id;
    post(std::move(c));
}

std::string Recorder::event_capture_path(const std::string& id) const {
    std::lock_guard lock(paths_mutex_);
    auto it = paths_.find(id);
    return it == paths_.end() ? std::string() : it->second;
}

void Recorder::workers_stopped() {
    if (workers_stopped_)
        return;
    workers_stopped_ = true;
    for (auto* tap : taps_)
        record_hand_over(*tap);
}

void Recorder::finish() {
    if (finished_)
        return;
    workers_stopped();
    finished_ = true;
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable())
        thread_.join();
    const RecordStatus s = status();
    std::string reasons;
    for (unsigned i = 0; i < kContinuousDropReasons; ++i)
        reasons +=
            std::string(i ? ", " : "") + kRecordDropNames[i] + " " + std::to_string(s.dropped[i]);
    RTE_LOG(NOTICE, USER1,
            "record: %" PRIu64 " packets recorded in %" PRIu64 " files (%" PRIu64
            " bytes), %" PRIu64 " dropped (%s), %" PRIu64 " files deleted by the quota\n",
            s.packets_recorded, s.files_written, s.bytes_written, s.dropped_total(),
            reasons.c_str(), s.files_deleted);
    if (options_.events) {
        std::string event_reasons;
        for (unsigned i = 0; i < static_cast<unsigned>(RecordDrop::count_); ++i)
            event_reasons += std::string(i ? ", " : "") + kRecordDropNames[i] + " " +
                             std::to_string(s.event_dropped[i]);
        RTE_LOG(NOTICE, USER1,
                "record: %" PRIu64 " event captures (%" PRIu64 " packets, %" PRIu64
                " bytes), %" PRIu64 " dropped (%s), pre-trigger cut short %" PRIu64 " times\n",
                s.event_captures_written, s.event_packets_recorded, s.event_bytes_written,
                s.event_dropped_total(), event_reasons.c_str(), s.pretrigger_cut_chunks);
    }
}

void Recorder::run() {
    std::vector<Command> commands;
    for (;;) {
        // The stop flag first: every command posted before it is taken below.
        const bool stopping = stop_.load(std::memory_order_acquire);
        {
            std::lock_guard lock(commands_mutex_);
            commands.swap(commands_);
        }
        bool busy = drain();
        for (Command& c : commands)
            process(c);
        busy |= !commands.empty();
        commands.clear();
        if (stopping) {
            while (drain()) {
            }
            close_through(INT64_MAX);
            for (auto& capture : captures_)
                advance(*capture, UINT64_MAX);
            while (!captures_.empty())
                close_capture(*captures_.front());
            for (unsigned w = 0; w < retained_.size(); ++w)
                while (!retained_[w].empty())
                    hand_back(w, false);
            return;
        }
        if (!busy)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void Recorder::process(Command& c) {
    switch (c.kind) {
        case Command::Kind::close:
            // Every chunk of the closed intervals was handed over before the close was posted.
            while (drain()) {
            }
            closed_until_ = std::max(closed_until_, c.time);
            close_through(c.time);
            // What is pending in the files still open goes to disk each interval.
            for (auto& [period, file] : open_)
                commit(file, false);
            // The captures take their keys' packets of the closed intervals: what came later
            // waits for the next close, by which an event that ended has said so.
            for (auto& capture : captures_) {
                advance(*capture,
                        static_cast<uint64_t>(std::max<int64_t>(c.time, 0)) * 1'000'000'000ull);
                commit(capture->file, true);
            }
            close_captures_through(c.time);
            // An event found at this close reaches back pretrigger_s from it.
            if (options_.events) {
                const int64_t horizon = c.time - static_cast<int64_t>(options_.pretrigger_s);
                trim_retained(horizon > 0 ? static_cast<uint64_t>(horizon) * 1'000'000'000ull : 0);
            }
            break;
        case Command::Kind::start:
            start_capture(c);
            break;
        case Command::Kind::end:
            for (auto& capture : captures_) {
                if (capture->id != c.id)
                    continue;
                const int64_t until = c.time + static_cast<int64_t>(options_.event_tail_s);
                capture->until_s = until;
                capture->until_ns = until > 0 ? static_cast<uint64_t>(until) * 1'000'000'000ull : 0;
                break;
            }
            close_captures_through(closed_until_);
            break;
    }
}

bool Recorder::drain() {
    bool any = false;
    for (unsigned w = 0; w < taps_.size(); ++w) {
        RecordTap* tap = taps_[w];
        void* chunks[kChunksPerDrain];
        const unsigned n = rte_ring_sc_dequeue_burst(tap->filled, chunks, kChunksPerDrain, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            auto* chunk = static_cast<RecordChunk*>(chunks[i]);
            write_chunk(*chunk);
            if (options_.events) {
                retain(w, chunk);
            } else {
                rte_ring_sp_enqueue(tap->empty, chunk);
            }
        }
        any |= n != 0;
    }
    return any;
}

void Recorder::retain(unsigned worker, RecordChunk* chunk) {
    uint64_t last_ns = 0;
    uint32_t at = 0;
    for (uint32_t i = 0; i < chunk->packets; ++i) {
        const auto* rec = reinterpret_cast<const RecordedPacket*>(chunk->data + at);
        last_ns = std::max(last_ns, rec->ts_ns);
        at += rec->stride();
    }
    retained_[worker].push_back(Retained{chunk, next_seq_[worker]++, last_ns});
    retained_bytes_ += kRecordChunkBytes;
    while (retained_[worker].size() > retain_chunks_)
        hand_back(worker, true);
    pretrigger_bytes_.store(retained_bytes_, std::memory_order_relaxed);
}

void Recorder::hand_back(unsigned worker, bool cut) {
    Retained& r = retained_[worker].front();
    // Cut short: the MiB bound returned a chunk the time bound would have kept. The captures
    // take its packets first, whatever their time.
    if (cut) {
        if (r.last_ns >= horizon_ns_)
            add(pretrigger_cut_, 1);
        for (auto& capture : captures_)
            if (capture->cursors[worker].seq == r.seq)
                advance_in(*capture, worker, UINT64_MAX, true);
    }
    rte_ring_sp_enqueue(taps_[worker]->empty, r.chunk);
    retained_[worker].pop_front();
    retained_bytes_ -= kRecordChunkBytes;
    for (auto& capture : captures_) {
        Cursor& c = capture->cursors[worker];
        if (c.seq <= r.seq)
            c = Cursor{r.seq + 1, 0, 0};
    }
}

void Recorder::trim_retained(uint64_t horizon_ns) {
    horizon_ns_ = horizon_ns;
    for (unsigned w = 0; w < retained_.size(); ++w)
        while (!retained_[w].empty() && retained_[w].front().last_ns < horizon_ns)
            hand_back(w, false);
    pretrigger_bytes_.store(retained_bytes_, std::memory_order_relaxed);
}

void Recorder::start_capture(Command& c) {
    auto capture = std::make_unique<Capture>();
    capture->id = c.id;
    capture->key = c.key;
    capture->name = c.path.substr(options_.dir.size() + 1);
    const int64_t from = c.time - static_cast<int64_t>(options_.pretrigger_s);
    capture->from_ns = from > 0 ? static_cast<uint64_t>(from) * 1'000'000'000ull : 0;
    auto writer =
        std::make_unique<PcapngWriter>(c.path, options_.compression, options_.nanoseconds);
    int error = 0;
    if (!writer->open(&error)) {
        RTE_LOG(ERR, USER1, "record: cannot create %s: %s\n", writer->part_path().c_str(),
                std::strerror(error));
    } else {
        capture->file.writer = std::move(writer);
    }
    // The pre-trigger: the key's packets the writer still holds, each worker's in its order, up
    // to the last close (the rest at the next one).
    for (unsigned w = 0; w < retained_.size(); ++w)
        capture->cursors.push_back(
            Cursor{retained_[w].empty() ? next_seq_[w] : retained_[w].front().seq, 0, 0});
    advance(*capture,
            static_cast<uint64_t>(std::max<int64_t>(closed_until_, 0)) * 1'000'000'000ull);
    captures_.push_back(std::move(capture));
    captures_open_.store(captures_.size(), std::memory_order_relaxed);
}

void Recorder::advance(Capture& capture, uint64_t before_ns) {
    for (unsigned w = 0; w < retained_.size(); ++w)
        advance_in(capture, w, before_ns, false);
}

// Reads worker `worker`'s retained chunks from the capture's cursor up to the first packet at
// or after before_ns (a worker's packets come in time order), writing those of its key;
// one_chunk: to the end of the cursor's chunk at most.
void Recorder::advance_in(Capture& capture, unsigned worker, uint64_t before_ns, bool one_chunk) {
    Cursor& c = capture.cursors[worker];
    const std::deque<Retained>& chunks = retained_[worker];
    while (!chunks.empty() && c.seq >= chunks.front().seq &&
           c.seq < chunks.front().seq + chunks.size()) {
        const RecordChunk& chunk = *chunks[c.seq - chunks.front().seq].chunk;
        while (c.index < chunk.packets) {
            const auto* rec = reinterpret_cast<const RecordedPacket*>(chunk.data + c.offset);
            if (rec->ts_ns >= before_ns)
                return;
            write_to_capture(capture, *rec);
            c.offset += rec->stride();
            ++c.index;
        }
        c = Cursor{c.seq + 1, 0, 0};
        if (one_chunk)
            return;
    }
}

void Recorder::write_to_capture(Capture& capture, const RecordedPacket& rec) {
    if (rec.ts_ns < capture.from_ns || rec.ts_ns >= capture.until_ns || !capture.key.matches(rec))
        return;
    PcapngWriter* w = capture.file.writer.get();
    if (w == nullptr || !w->is_open()) {
        lose(RecordDrop::write_error, 1, true);
        return;
    }
    // The cap counts the pending blocks as they are (before compression): never over it.
    const uint64_t block = 32u + ((rec.cap_len + 3u) & ~3u) + 4u;
    if (capture.capped ||
        w->disk_bytes() + w->pending_bytes() + block + 1024 > options_.event_max_bytes) {
        if (!capture.capped)
            RTE_LOG(WARNING, USER1,
                    "record: %s reached --record-event-max-mb (%" PRIu64
                    " MiB): the event's further packets are not recorded\n",
                    w->part_path().c_str(), options_.event_max_bytes >> 20);
        capture.capped = true;
        lose(RecordDrop::event_max, 1, true);
        return;
    }
    w->add(static_cast<LinkType>(rec.link), rec.ts_ns, rec.wire_len, rec.data(), rec.cap_len);
    if (w->pending_bytes() >= kCommitBytes)
        commit(capture.file, true);
}

void Recorder::close_capture(Capture& capture) {
    PcapngWriter* w = capture.file.writer.get();
    if (w != nullptr) {
        commit(capture.file, true);
        const uint64_t bytes = w->disk_bytes();
        const PcapngWriter::CommitResult r = w->close();
        quota_.closed(bytes);
        if (!r.ok) {
            RTE_LOG(ERR, USER1, "record: cannot complete %s: %s\n", w->path().c_str(),
                    std::strerror(r.error));
        } else {
            quota_.add(capture.name, bytes);
            add(captures_written_, 1);
            RTE_LOG(INFO, USER1, "record: wrote %s (%" PRIu64 " packets, %" PRIu64 " bytes)\n",
                    w->path().c_str(), capture.file.packets, bytes);
        }
        quota_used_.store(quota_.used_bytes(), std::memory_order_relaxed);
    }
    for (auto it = captures_.begin(); it != captures_.end(); ++it)
        if (it->get() == &capture) {
            captures_.erase(it);
            break;
        }
    captures_open_.store(captures_.size(), std::memory_order_relaxed);
}

void Recorder::close_captures_through(int64_t end_s) {
    for (size_t i = 0; i < captures_.size();) {
        if (captures_[i]->until_s <= end_s)
            close_capture(*captures_[i]);
        else
            ++i;
    }
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
        at += rec->stride();
        if ((rec->marks & kMarkSelected) == 0)
            continue;  // tapped for the event captures only
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
            lose(RecordDrop::write_error, 1, false);
            continue;
        }
        file->writer->add(static_cast<LinkType>(rec->link), rec->ts_ns, rec->wire_len, rec->data(),
                          rec->cap_len);
        if (file->writer->pending_bytes() >= kCommitBytes)
            commit(*file, false);
    }
}

void Recorder::lose(RecordDrop why, uint64_t packets, bool event) {
    add((event ? event_dropped_ : dropped_)[static_cast<unsigned>(why)], packets);
}

void Recorder::failed_write(int error, uint64_t packets, const std::string& path, bool event) {
    lose(error == ENOSPC || error == EDQUOT ? RecordDrop::disk_full : RecordDrop::write_error,
         packets, event);
    if (!failing_)
        RTE_LOG(ERR, USER1,
                "record: cannot write %s: %s; recorded packets are dropped (counted in "
                "record_dropped) until writes succeed again\n",
                path.c_str(), std::strerror(error));
    failing_ = true;
}

void Recorder::commit(OpenFile& file, bool event) {
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
        lose(RecordDrop::quota, w->discard(), event);
        return;
    }
    const PcapngWriter::CommitResult r = w->commit();
    if (!r.ok) {
        failed_write(r.error, r.packets, w->part_path(), event);
        return;
    }
    if (failing_)
        RTE_LOG(NOTICE, USER1, "record: writing again (%s)\n", w->part_path().c_str());
    failing_ = false;
    file.packets += r.packets;
    add(event ? event_packets_ : packets_recorded_, r.packets);
    add(event ? event_bytes_ : bytes_written_, r.bytes);
    quota_.grow(r.bytes);
    quota_used_.store(quota_.used_bytes(), std::memory_order_relaxed);
}

void Recorder::close_file(int64_t period, OpenFile& file) {
    (void)period;
    PcapngWriter* w = file.writer.get();
    if (w == nullptr)
        return;
    commit(file, false);
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
    for (unsigned i = 0; i < static_cast<unsigned>(RecordDrop::count_); ++i)
        s.event_dropped[i] = event_dropped_[i].load(std::memory_order_relaxed);
    for (const RecordTap* tap : taps_) {
        s.dropped[static_cast<unsigned>(RecordDrop::buffers)] +=
            tap->dropped_buffers.load(std::memory_order_relaxed);
        s.event_dropped[static_cast<unsigned>(RecordDrop::buffers)] +=
            tap->dropped_unselected.load(std::memory_order_relaxed);
    }
    s.events = options_.events;
    s.event_captures_open = captures_open_.load(std::memory_order_relaxed);
    s.event_captures_written = captures_written_.load(std::memory_order_relaxed);
    s.event_packets_recorded = event_packets_.load(std::memory_order_relaxed);
    s.event_bytes_written = event_bytes_.load(std::memory_order_relaxed);
    s.pretrigger_bytes = pretrigger_bytes_.load(std::memory_order_relaxed);
    s.pretrigger_cut_chunks = pretrigger_cut_.load(std::memory_order_relaxed);
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
