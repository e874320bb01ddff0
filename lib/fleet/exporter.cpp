// The exporter: the stats core's copies in, the spool and ClickHouse out, on a thread of its own
// (docs/fleet.md: delivery, idempotence, the quota).
#include <rte_log.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "clickhouse_client.hpp"
#include "darkscope/fleet.hpp"
#include "interval_file.hpp"
#include "spool.hpp"

namespace darkscope {

namespace {

constexpr size_t kQueueIntervals = 64;  // closed intervals waiting for the thread (live)
constexpr auto kRetryMin = std::chrono::milliseconds(500);
constexpr auto kRetryMax = std::chrono::seconds(30);

template <typename Tuple>
void copy_tuple(const Tuple& e, uint8_t family, std::vector<FleetTuple>& out) {
    FleetTuple t;
    std::memset(&t, 0, sizeof t);
    const IpAddress a = e.src();
    if (family == 4)
        std::memcpy(t.source, &a.v4, 4);
    else
        std::memcpy(t.source, a.v6, 16);
    t.family = family;
    const SourceKey k = e.key();
    t.country = k.country;
    t.asn = k.asn;
    t.flags = e.flags;
    t.packets = e.packets;
    t.bytes = e.bytes;
    t.first_s = e.first_s;
    t.last_s = e.last_s;
    out.push_back(t);
}

// Syslog-levelled (3 error, 6 info), as the engine's other threads log.
void control_log(int level, const std::string& message) {
    rte_log(level <= 3 ? RTE_LOG_ERR : RTE_LOG_NOTICE, RTE_LOGTYPE_USER1, "USER1: %s\n",
            message.c_str());
}

uint64_t random_id() {
    std::random_device rd;
    return (uint64_t{rd()} << 32 | rd()) | 1;
}

std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "'";
}

}  // namespace

FleetExporter::FleetExporter(FleetSettings settings, bool offline)
    : settings_(std::move(settings)), offline_(offline), run_id_(random_id()) {
    spool_ = std::make_unique<Spool>(settings_.spool_dir, settings_.spool_quota_bytes);
    client_ = std::make_unique<ClickHouseClient>(settings_);
    client_->abandon_at(&stop_by_ns_);
    status_.spool_bytes = spool_->bytes();
    status_.spool_intervals = spool_->intervals();
    if (spool_->intervals() > 0)
        control_log(6, "fleet: " + std::to_string(spool_->intervals()) +
                           " intervals in the spool from an earlier run, delivering them first");
    thread_ = std::thread([this] { run(); });
}

FleetExporter::~FleetExporter() {
    stop();
}

void FleetExporter::add_tuples(const SourceTupleTable& tuples, const SourceTuple6Table& tuples6,
                               const SpillLog* spills) {
    if (!settings_.tuples)
        return;
    const uint32_t spilled = spills != nullptr ? spills->used() : 0;
    pending_.tuples.reserve(pending_.tuples.size() + tuples.used() + tuples6.used() + spilled);
    for (uint32_t i = 0; i < tuples.used(); ++i) {
        const SourceTuple& e = tuples.in_order(i);
        copy_tuple(e, 4, pending_.tuples);
        pending_.tuples.back().where = e.where();
    }
    for (uint32_t i = 0; i < tuples6.used(); ++i) {
        const SourceTuple6& e = tuples6.in_order(i);
        copy_tuple(e, 6, pending_.tuples);
        pending_.tuples.back().where = e.where;
    }
    // A spilled packet: a tuple of one packet (its key may also have a tuple in the tables, or
    // other spilled packets: the rows add up, as the fleet's sums and uniqExact want).
    for (uint32_t i = 0; i < spilled; ++i) {
        const SpilledPacket& p = spills->at(i);
        FleetTuple t;
        std::memset(&t, 0, sizeof t);
        std::memcpy(t.source, p.source, sizeof t.source);
        t.family = p.family;
        t.country = p.country;
        t.asn = p.asn;
        t.flags = p.flags;
        t.where = p.where;
        t.packets = 1;
        t.bytes = p.bytes;
        t.first_s = t.last_s = p.time_s;
        pending_.tuples.push_back(t);
    }
    if (spills != nullptr)
        pending_.tuples_unexported += spills->unlogged();
}

void FleetExporter::add_event(StoredEvent event) {
    pending_.events.push_back(std::move(event));
}

void FleetExporter::add_sketches(std::vector<FleetSketch> sketches) {
    if (!settings_.tuples)
        pending_.sketches = std::move(sketches);
}

void FleetExporter::close_interval(int64_t start, int64_t end, uint64_t packets, uint64_t bytes,
                                   std::vector<StoredRow> rows,
                                   const std::vector<std::string>& sensor_names) {
    pending_.start = start;
    pending_.end = end;
    pending_.packets = packets;
    pending_.bytes = bytes;
    pending_.rows = std::move(rows);
    // Once per run: the interval rows and /darkscope/fleet count every one.
    if (pending_.tuples_unexported != 0 && !told_unexported_) {
        told_unexported_ = true;
        control_log(3,
                    "fleet: the spill log was full: " + std::to_string(pending_.tuples_unexported) +
                        " packets of interval " + std::to_string(start) +
                        " have no tuple (raise --fleet-spill-entries or --tuple-entries)");
    }
    std::unique_lock lock(mutex_);
    status_.tuples_unexported += pending_.tuples_unexported;
    if (sensor_names_.empty())
        sensor_names_ = sensor_names;
    if (offline_) {
        // Packet time runs far ahead of the wall clock: wait for room rather than lose one, but
        // not past the stop's deadline (the thread spools the queue at its stop whatever its
        // length).
        auto room = [&] { return queue_.size() < kQueueIntervals || stopping_; };
        room_.wait(lock, [&] { return room() || stop_by_ns_.load() != 0; });
        room_.wait_until(lock, stop_by(), room);
    } else if (queue_.size() >= kQueueIntervals) {
        ++status_.queue_dropped;
        ++status_.dropped_intervals;
        lock.unlock();
        control_log(3, "fleet: the export queue is full, interval " + std::to_string(start) +
                           " dropped (the spool cannot keep up with the disk)");
        pending_ = FleetInterval{};
        return;
    }
    queue_.push_back(std::move(pending_));
    pending_ = FleetInterval{};
    wake_.notify_one();
}

std::chrono::steady_clock::time_point FleetExporter::stop_by() const {
    const int64_t ns = stop_by_ns_.load();
    return ns == 0 ? std::chrono::steady_clock::time_point::max()
                   : std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

void FleetExporter::finish_by(std::chrono::steady_clock::time_point by) {
    {
        std::lock_guard lock(mutex_);
        unspooled_at_stop_ = unspooled_;
        stop_by_ns_.store(std::max<int64_t>(
            1,
            std::chrono::duration_cast<std::chrono::nanoseconds>(by.time_since_epoch()).count()));
    }
    room_.notify_all();
}

uint64_t FleetExporter::dropped_since_stop() const {
    std::lock_guard lock(mutex_);
    return stop_by_ns_.load() == 0 ? 0 : unspooled_ - unspooled_at_stop_;
}

void FleetExporter::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable())
            return;
        stopping_ = true;
    }
    wake_.notify_one();
    room_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

FleetStatus FleetExporter::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

void FleetExporter::note_failure(const std::string& error) {
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        first = status_.connected || status_.last_error != error;
        ++status_.failures;
        status_.connected = false;
        status_.last_error = error;
    }
    // Once per change of reason, not once per retry.
    if (first)
        control_log(3, "fleet: " + error + " (intervals stay in the spool)");
}

void FleetExporter::spool_queued() {
    std::deque<FleetInterval> work;
    std::vector<std::string> names;
    {
        std::lock_guard lock(mutex_);
        work.swap(queue_);
        names = sensor_names_;
    }
    room_.notify_all();
    for (const FleetInterval& iv : work) {
        std::vector<int64_t> dropped;
        try {
            spool_->write(iv.start, run_id_,
                          interval_file(iv, settings_.appliance, run_id_, names, settings_.tuples),
                          dropped);
        } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            ++status_.dropped_intervals;
            ++unspooled_;
            status_.last_error = e.what();
            control_log(3, std::string("fleet: interval ") + std::to_string(iv.start) +
                               " lost: " + e.what());
            continue;
        }
        for (int64_t start : dropped)
            control_log(3, "fleet: spool over its quota of " +
                               std::to_string(settings_.spool_quota_bytes >> 20) +
                               " MiB: dropped interval " + std::to_string(start) +
                               " (never delivered)");
        std::lock_guard lock(mutex_);
        status_.dropped_intervals += dropped.size();
        status_.spool_bytes = spool_->bytes();
        status_.spool_intervals = spool_->intervals();
    }
}

bool FleetExporter::deliver_spool() {
    while (const Spool::Entry* e = spool_->oldest()) {
        if (std::chrono::steady_clock::now() >= stop_by()) {
            note_failure("delivery abandoned at the stop's deadline");
            return false;
        }
        std::ifstream in(spool_->path_of(*e), std::ios::binary);
        std::stringstream content;
        content << in.rdbuf();
        SpooledInterval iv;
        if (!in || !parse_interval_file(content.str(), iv)) {
            control_log(3, "fleet: spool file " + e->name + " is damaged; removed");
            {
                std::lock_guard lock(mutex_);
                ++status_.dropped_intervals;
            }
            spool_->remove_oldest();
            continue;
        }
        const std::string where = " WHERE appliance = " + quoted(settings_.appliance) +
                                  " AND interval_start = toDateTime(" + std::to_string(iv.start) +
                                  ") AND export_id = " + std::to_string(iv.export_id);
        std::string response, error;
        // Checked before each insert: a retry (after a failure or a crash between an insert and
        // its acknowledgement) inserts only what is not there yet.
        auto rows_there = [&](const std::string& table, uint64_t& n) {
            if (!client_->run("SELECT count() FROM " + table + where, "", response, error))
                return false;
            n = std::strtoull(response.c_str(), nullptr, 10);
            return true;
        };
        uint64_t rows_sent = 0;
        bool ok = true;
        for (const IntervalSection& s : iv.sections) {
            uint64_t there = 0;
            if (!rows_there(s.table, there)) {
                ok = false;
                break;
            }
            if (there == s.rows)
                continue;
            if (there != 0) {
                // Only a damaged insert can leave part of a section: each section is one block,
                // inserted whole or not at all. Said loudly; the interval stays in the spool.
                error = "interval " + std::to_string(iv.start) + ": " + s.table + " holds " +
                        std::to_string(there) + " of its " + std::to_string(s.rows) + " rows";
                ok = false;
                break;
            }
            if (!client_->run("INSERT INTO " + s.table + " (" + s.columns + ") FORMAT TabSeparated",
                              s.body, response, error)) {
                ok = false;
                break;
            }
            rows_sent += s.rows;
        }
        if (!ok) {
            note_failure(error);
            return false;
        }
        spool_->remove_oldest();
        std::lock_guard lock(mutex_);
        status_.connected = true;
        status_.last_error.clear();
        status_.last_delivered_interval = iv.start;
        status_.rows_sent += rows_sent;
        status_.bytes_sent = client_->bytes_sent();
        status_.spool_bytes = spool_->bytes();
        status_.spool_intervals = spool_->intervals();
    }
    return true;
}

void FleetExporter::run() {
    auto retry = kRetryMin;
    // An earlier run's backlog first, without waiting for this run's first interval.
    bool healthy = deliver_spool();
    for (;;) {
        bool stopping;
        {
            std::unique_lock lock(mutex_);
            if (queue_.empty() && !stopping_)
                wake_.wait_for(lock, healthy ? kRetryMax : retry,
                               [&] { return !queue_.empty() || stopping_; });
            stopping = stopping_;
        }
        spool_queued();
        healthy = deliver_spool();
        retry = healthy ? kRetryMin : std::min<std::chrono::milliseconds>(retry * 2, kRetryMax);
        if (stopping) {
            // What was queued after the last pass, then one more delivery attempt; what is not
            // delivered stays in the spool for the next run.
            spool_queued();
            if (healthy)
                deliver_spool();
            return;
        }
    }
}

}  // namespace darkscope
