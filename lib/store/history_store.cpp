#include "darkscope/history_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "darkscope/output_file.hpp"

namespace darkscope {

namespace {

constexpr int kSchemaVersion = 1;

// Migration i brings a database from schema version i to i + 1. Append, never edit.
const char* const kMigrations[] = {
    // 0 -> 1: the first schema.
    R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE periods(
  id         INTEGER PRIMARY KEY,
  resolution TEXT    NOT NULL CHECK (resolution IN ('interval', 'hour', 'day')),
  start      INTEGER NOT NULL,
  length_s   INTEGER NOT NULL,
  row_count  INTEGER NOT NULL,
  written    INTEGER NOT NULL,
  UNIQUE (resolution, start)
);
CREATE TABLE rows(
  period_id    INTEGER NOT NULL REFERENCES periods(id) ON DELETE CASCADE,
  dimension    TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  packets      INTEGER NOT NULL,
  bytes        INTEGER NOT NULL,
  sources      INTEGER NOT NULL,
  destinations INTEGER NOT NULL,
  asns         INTEGER NOT NULL,
  PRIMARY KEY (period_id, dimension, key)
) WITHOUT ROWID;
CREATE INDEX rows_by_dimension_key ON rows(dimension, key, period_id);
CREATE TABLE sketches(
  period_id INTEGER NOT NULL REFERENCES periods(id) ON DELETE CASCADE,
  name      TEXT    NOT NULL,
  data      BLOB    NOT NULL,
  PRIMARY KEY (period_id, name)
) WITHOUT ROWID;
CREATE TABLE events(
  id       INTEGER PRIMARY KEY,
  event_id TEXT    NOT NULL,
  kind     TEXT    NOT NULL,
  phase    TEXT    NOT NULL,
  time     INTEGER NOT NULL,
  json     TEXT    NOT NULL
);
CREATE INDEX events_by_time ON events(time);
CREATE INDEX events_by_event_id ON events(event_id, time);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

struct SqliteError : std::runtime_error {
    SqliteError(const std::string& what, int c) : std::runtime_error(what), code(c) {}
    int code;
};

// A failure worth retrying: the lock, the disk or the I/O may come back.
bool transient(int code) {
    int primary = code & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL ||
           primary == SQLITE_IOERR;
}

class Statement {
  public:
    // `persistent`: kept for the connection's life and run many times (the writer's).
    Statement(sqlite3* db, const char* sql, bool persistent = false) : db_(db) {
        if (sqlite3_prepare_v3(db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_,
                               nullptr) != SQLITE_OK)
            throw SqliteError(sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, int64_t v) {
        check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }
    Statement& bind(int i, uint64_t v) { return bind(i, static_cast<int64_t>(v)); }
    Statement& bind(int i, const std::string& v) {
        check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Statement& bind_blob(int i, const std::vector<uint8_t>& v) {
        check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    // True while a row is available. A failure resets the statement, so it can run again.
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        SqliteError error(sqlite3_errmsg(db_), rc);
        reset();
        throw error;
    }
    void run() {
        while (step()) {
        }
        reset();
    }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    uint64_t uint64(int col) const {
        return static_cast<uint64_t>(sqlite3_column_int64(stmt_, col));
    }
    std::string text(int col) const {
        auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
    }
    std::vector<uint8_t> blob(int col) const {
        auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
        return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt_, col))
                 : std::vector<uint8_t>{};
    }

  private:
    void check(int rc) {
        if (rc != SQLITE_OK)
            throw SqliteError(sqlite3_errmsg(db_), rc);
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string reason = message ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        throw std::runtime_error(reason);
    }
}

// Runs body in one BEGIN IMMEDIATE ... COMMIT; on any failure rolls back and throws SqliteError
// with the code that decides whether it is retried.
template <class Body>
void in_transaction(sqlite3* db, Body&& body) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        throw SqliteError(sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    auto roll_back = [db] {
        // The writer's statements are kept: none may stay active past the transaction.
        for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s))
            sqlite3_reset(s);
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    };
    try {
        body();
        if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
            throw SqliteError(sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    } catch (const SqliteError&) {
        roll_back();
        throw;
    } catch (const std::exception& e) {
        int code = sqlite3_extended_errcode(db);
        roll_back();
        throw SqliteError(e.what(), code);
    }
}

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

sqlite3* open_connection(const std::string& path, int flags, unsigned busy_timeout_ms) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw std::runtime_error("history database " + path + ": cannot open: " + reason);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(busy_timeout_ms));
    return db;
}

}  // namespace

const char* resolution_name(Resolution r) {
    switch (r) {
        case Resolution::interval:
            return "interval";
        case Resolution::hour:
            return "hour";
        case Resolution::day:
            return "day";
    }
    return "interval";
}

std::optional<Resolution> parse_resolution(const std::string& name) {
    if (name == "interval")
        return Resolution::interval;
    if (name == "hour")
        return Resolution::hour;
    if (name == "day")
        return Resolution::day;
    return std::nullopt;
}

HistoryStore::HistoryStore(StoreOptions options) : options_(std::move(options)) {
    const std::string& path = options_.path;
    if (path.empty())
        throw std::runtime_error("history database: no file name given");
    // Created here, not by SQLite (0644 less the umask), and never through a planted link; its
    // -wal and -shm files take the database's mode.
    prepare_output_file(path);
    writer_db_ =
        open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options_.busy_timeout_ms);
    try {
        // Fails here, not at open, when the file is not a database.
        exec(writer_db_, "PRAGMA journal_mode=WAL");
        // In WAL mode NORMAL keeps every committed transaction across a process crash; only a
        // power loss may lose the last few, never corrupt the file.
        exec(writer_db_, "PRAGMA synchronous=NORMAL");
        exec(writer_db_, "PRAGMA foreign_keys=ON");
        // The rows index's hot pages (one per key that recurs) stay cached between commits
        // (64 MiB at most, allocated as used), and the WAL is copied back every 16,384 pages
        // (64 MiB) rather than every 1,000: a page rewritten by many commits is copied once.
        exec(writer_db_, "PRAGMA cache_size=-65536");
        exec(writer_db_, "PRAGMA wal_autocheckpoint=16384");
        exec(writer_db_, "BEGIN IMMEDIATE");
        try {
            int version = 0;
            {
                Statement has_meta(writer_db_,
                                   "SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                                   "name='meta'");
                has_meta.step();
                if (has_meta.int64(0) > 0) {
                    Statement v(writer_db_, "SELECT value FROM meta WHERE key='schema_version'");
                    if (v.step())
                        version = std::stoi(v.text(0));
                } else {
                    Statement any(writer_db_,
                                  "SELECT count(*) FROM sqlite_master WHERE type='table'");
                    any.step();
                    if (any.int64(0) > 0)
                        throw std::runtime_error(
                            "holds tables but no darkscope meta table: not a darkscope history");
                }
            }
            if (version > kSchemaVersion)
                throw std::runtime_error("schema version " + std::to_string(version) +
                                         " is newer than this darkscope knows (" +
                                         std::to_string(kSchemaVersion) + ")");
            for (int v = version; v < kSchemaVersion; ++v)
                exec(writer_db_, kMigrations[v]);
            if (version == 0) {
                Statement created(writer_db_,
                                  "INSERT INTO meta(key, value) VALUES ('created', ?1)");
                created.bind(1, std::to_string(now_seconds())).run();
            }
            if (version != kSchemaVersion) {
                Statement set(writer_db_,
                              "INSERT OR REPLACE INTO meta(key, value) VALUES "
                              "('schema_version', ?1)");
                set.bind(1, std::to_string(kSchemaVersion)).run();
            }
            exec(writer_db_, "COMMIT");
        } catch (...) {
            sqlite3_exec(writer_db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
        statements_ = std::make_unique<WriterStatements>(writer_db_);
        reader_db_ = open_connection(path, SQLITE_OPEN_READONLY, options_.busy_timeout_ms);
    } catch (const std::exception& e) {
        statements_.reset();
        sqlite3_close(writer_db_);
        sqlite3_close(reader_db_);
        std::string what = e.what();
        if (what.rfind("history database ", 0) == 0)
            throw;
        throw std::runtime_error("history database " + path + ": " + what);
    }
    writer_ = std::thread([this] { writer_loop(); });
}

HistoryStore::~HistoryStore() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        paused_ = false;
    }
    work_cv_.notify_all();
    idle_cv_.notify_all();
    writer_.join();
    statements_.reset();
    sqlite3_close(reader_db_);
    sqlite3_close(writer_db_);
}

void HistoryStore::log(int level, const std::string& message) const {
    if (options_.log)
        options_.log(level, message);
}

bool HistoryStore::enqueue(StoredPeriod period) {
    std::string dropped_message;
    {
        std::unique_lock lock(mutex_);
        if (stopping_)
            return false;
        wait_for_room(lock, queued_periods_, std::max(1u, options_.queue_limit));
        if (stopping_)
            return false;
        if (queued_periods_ >= std::max(1u, options_.queue_limit)) {
            auto oldest = std::find_if(queue_.begin(), queue_.end(), [](const Item& i) {
                return std::holds_alternative<StoredPeriod>(i);
            });
            const auto& old = std::get<StoredPeriod>(*oldest);
            ++stats_.periods_dropped;
            dropped_message = std::string("history: queue full (") +
                              std::to_string(options_.queue_limit) + " periods), dropped the " +
                              resolution_name(old.resolution) + " period starting " +
                              std::to_string(old.start) + " unwritten (" +
                              std::to_string(stats_.periods_dropped) + " dropped so far)";
            queue_.erase(oldest);
            --queued_periods_;
            ++finished_;
        }
        queue_.emplace_back(std::move(period));
        ++queued_periods_;
        ++enqueued_;
    }
    work_cv_.notify_one();
    if (!dropped_message.empty()) {
        log(store_log_warning, dropped_message);
        return false;
    }
    return true;
}

bool HistoryStore::enqueue(StoredEvent event) {
    std::string dropped_message;
    {
        std::unique_lock lock(mutex_);
        if (stopping_)
            return false;
        wait_for_room(lock, queued_events_, std::max(1u, options_.event_queue_limit));
        if (stopping_)
            return false;
        if (queued_events_ >= std::max(1u, options_.event_queue_limit)) {
            auto oldest = std::find_if(queue_.begin(), queue_.end(), [](const Item& i) {
                return std::holds_alternative<StoredEvent>(i);
            });
            const auto& old = std::get<StoredEvent>(*oldest);
            ++stats_.events_dropped;
            dropped_message = "history: event queue full, dropped " +
                              std::string(event_kind_name(old.kind)) + " event " + old.id + " (" +
                              event_phase_name(old.phase) + ") unwritten (" +
                              std::to_string(stats_.events_dropped) + " dropped so far)";
            queue_.erase(oldest);
            --queued_events_;
            ++finished_;
        }
        queue_.emplace_back(std::move(event));
        ++queued_events_;
        ++enqueued_;
    }
    work_cv_.notify_one();
    if (!dropped_message.empty()) {
        log(store_log_warning, dropped_message);
        return false;
    }
    return true;
}

void HistoryStore::wait_for_room(std::unique_lock<std::mutex>& lock, const size_t& queued,
                                 size_t limit) {
    if (options_.full_wait_ms == 0 || queued < limit)
        return;
    // The writer notifies idle_cv_ when it takes a batch from the queue and when it is done.
    idle_cv_.wait_for(lock, std::chrono::milliseconds(options_.full_wait_ms),
                      [&] { return stopping_ || queued < limit; });
}

void HistoryStore::flush() {
    std::unique_lock lock(mutex_);
    uint64_t target = enqueued_;
    ++flushing_;
    work_cv_.notify_all();  // a writer waiting for a fuller batch writes what there is
    idle_cv_.wait(lock, [&] { return finished_ >= target; });
    --flushing_;
}

uint64_t HistoryStore::flush_within(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    const uint64_t target = enqueued_;
    const uint64_t dropped_before = stats_.periods_dropped + stats_.events_dropped;
    ++flushing_;
    work_cv_.notify_all();  // a writer waiting for a fuller batch writes what there is
    if (!idle_cv_.wait_for(lock, limit, [&] { return finished_ >= target; })) {
        final_attempts_ = true;
        work_cv_.notify_all();
        idle_cv_.wait(lock, [&] { return finished_ >= target; });
    }
    --flushing_;
    return stats_.periods_dropped + stats_.events_dropped - dropped_before;
}

HistoryStore::Stats HistoryStore::stats() const {
    std::lock_guard lock(mutex_);
    Stats s = stats_;
    s.queue_depth = queue_.size();
    return s;
}

// The writer's statements, prepared once: a period costs its rows' inserts, not a parse each.
struct HistoryStore::WriterStatements {
    explicit WriterStatements(sqlite3* db)
        : find_period(db, "SELECT id FROM periods WHERE resolution=?1 AND start=?2", true),
          delete_rows(db, "DELETE FROM rows WHERE period_id=?1", true),
          delete_sketches(db, "DELETE FROM sketches WHERE period_id=?1", true),
          delete_period(db, "DELETE FROM periods WHERE id=?1", true),
          insert_period(db,
                        "INSERT INTO periods(resolution, start, length_s, row_count, written) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)",
                        true),
          insert_row(db,
                     "INSERT INTO rows(period_id, dimension, key, packets, bytes, sources, "
                     "destinations, asns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                     true),
          insert_sketch(db, "INSERT INTO sketches(period_id, name, data) VALUES (?1, 'source', ?2)",
                        true),
          insert_event(db,
                       "INSERT INTO events(event_id, kind, phase, time, json) VALUES (?1, ?2, "
                       "?3, ?4, ?5)",
                       true),
          retire_rows(db,
                      "DELETE FROM rows WHERE period_id IN (SELECT id FROM periods WHERE "
                      "resolution=?1 AND start<?2)",
                      true),
          retire_sketches(db,
                          "DELETE FROM sketches WHERE period_id IN (SELECT id FROM periods "
                          "WHERE resolution=?1 AND start<?2)",
                          true),
          retired_span(db,
                       "SELECT count(*), coalesce(min(start), 0), coalesce(max(start), 0) "
                       "FROM periods WHERE resolution=?1 AND start<?2",
                       true),
          retire_periods(db, "DELETE FROM periods WHERE resolution=?1 AND start<?2", true) {}

    Statement find_period, delete_rows, delete_sketches, delete_period;
    Statement insert_period, insert_row, insert_sketch, insert_event;
    Statement retire_rows, retire_sketches, retired_span, retire_periods;
};

void HistoryStore::pause_writer_for_test(bool paused) {
    {
        std::lock_guard lock(mutex_);
        paused_ = paused;
    }
    work_cv_.notify_all();
}

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100}, kLastBackoff{5000};

std::string describe(const std::variant<StoredPeriod, StoredEvent>& item) {
    if (const auto* p = std::get_if<StoredPeriod>(&item))
        return std::string("the ") + resolution_name(p->resolution) + " period starting " +
               std::to_string(p->start);
    const auto& e = std::get<StoredEvent>(item);
    return std::string(event_kind_name(e.kind)) + " event " + e.id + " (" +
           event_phase_name(e.phase) + ")";
}

}  // namespace

bool HistoryStore::batch_ready() const {
    return queue_.size() >= std::max(1u, options_.batch_items) ||
           queued_periods_ >= std::max(1u, options_.queue_limit) ||
           queued_events_ >= std::max(1u, options_.event_queue_limit);
}

void HistoryStore::take_batch(std::vector<Item>& batch) {
    size_t rows = 0;
    while (!queue_.empty() && batch.size() < std::max(1u, options_.batch_items)) {
        const auto* period = std::get_if<StoredPeriod>(&queue_.front());
        const size_t cost = period ? std::max<size_t>(1, period->rows.size()) : 1;
        if (!batch.empty() && rows + cost > options_.batch_rows)
            break;
        rows += cost;
        --(period ? queued_periods_ : queued_events_);
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
}

void HistoryStore::writer_loop() {
    std::unique_lock lock(mutex_);
    std::vector<Item> batch;
    while (true) {
        work_cv_.wait(lock, [&] { return stopping_ || (!paused_ && !queue_.empty()); });
        if (queue_.empty())
            break;  // stopping and drained
        if (options_.batch_wait_ms > 0 && !batch_ready()) {
            // Enqueue, flush, the stop and the pause notify work_cv_.
            work_cv_.wait_for(lock, std::chrono::milliseconds(options_.batch_wait_ms), [&] {
                return stopping_ || final_attempts_ || flushing_ > 0 || paused_ || batch_ready();
            });
            if (paused_ && !stopping_)
                continue;
        }
        take_batch(batch);
        writer_busy_ = true;
        lock.unlock();
        // The queue has room again: a replay waiting for it goes on while the batch is written.
        idle_cv_.notify_all();

        std::string error;
        if (write_with_retries(batch, error) == Outcome::split) {
            // One bad item (a constraint, say) must not cost the others: each gets its own
            // transaction, so only the bad one is dropped.
            log(store_log_warning,
                "history " + options_.path + ": writing " + std::to_string(batch.size()) +
                    " items in one transaction failed (" + error + "); writing them one at a time");
            for (Item& item : batch)
                write_with_retries(std::span<Item>(&item, 1), error);
        }
        lock.lock();
        writer_busy_ = false;
        finished_ += batch.size();
        batch.clear();
        idle_cv_.notify_all();
    }
}

// A transient failure (lock, full disk, I/O) keeps the items and retries them with a growing
// pause; meanwhile the queue fills and overflow drops the oldest, so capture never waits. At
// shutdown each item gets one attempt. A failure for good of several items is not counted
// here: it returns split and the caller writes them one by one, which counts each.
HistoryStore::Outcome HistoryStore::write_with_retries(std::span<Item> items, std::string& error) {
    while (true) {
        {
            // The last attempts at the stop's deadline do not wait for another connection's
            // lock either (busy_timeout_ms each would add up over a full queue).
            std::lock_guard lock(mutex_);
            if (final_attempts_)
                sqlite3_busy_timeout(writer_db_, 0);
        }
        bool retry = false;
        try {
            write_items(items);
            backoff_ = kFirstBackoff;
            size_t periods = 0;
            for (const Item& item : items)
                periods += std::holds_alternative<StoredPeriod>(item);
            std::lock_guard lock(mutex_);
            stats_.periods_written += periods;
            stats_.events_written += items.size() - periods;
            ++stats_.transactions;
            return Outcome::written;
        } catch (const SqliteError& e) {
            error = e.what();
            retry = transient(e.code);
        }
        std::unique_lock lock(mutex_);
        const bool give_up = !retry || stopping_ || final_attempts_;
        if (give_up && items.size() > 1)
            return Outcome::split;
        ++stats_.write_errors;
        stats_.last_error = error;
        if (give_up)
            ++(std::holds_alternative<StoredPeriod>(items.front()) ? stats_.periods_dropped
                                                                   : stats_.events_dropped);
        lock.unlock();
        log(store_log_error,
            "history " + options_.path + ": write failed: " + error +
                (give_up ? " (dropped " + describe(items.front()) + ")" : " (will retry)"));
        if (give_up)
            return Outcome::dropped;
        lock.lock();
        work_cv_.wait_for(lock, backoff_, [&] { return stopping_ || final_attempts_; });
        lock.unlock();
        backoff_ = std::min(backoff_ * 2, kLastBackoff);
    }
}

void HistoryStore::write_items(std::span<const Item> items) {
    std::vector<const StoredPeriod*> periods;
    in_transaction(writer_db_, [&] {
        periods.clear();
        for (const Item& item : items) {
            if (const auto* p = std::get_if<StoredPeriod>(&item)) {
                write_period(*p);
                periods.push_back(p);
            } else {
                write_event(std::get<StoredEvent>(item));
            }
        }
    });
    if (periods.empty())
        return;
    // Retention is its own transaction: a failure there never loses the periods.
    try {
        in_transaction(writer_db_, [&] { apply_retention(periods); });
    } catch (const std::exception& e) {
        log(store_log_warning, "history " + options_.path + ": retention failed: " + e.what());
    }
}

void HistoryStore::write_period(const StoredPeriod& p) {
    WriterStatements& s = *statements_;
    const std::string resolution = resolution_name(p.resolution);
    // A period rewritten (a growing rollup, a replayed capture) replaces the old one.
    s.find_period.bind(1, resolution).bind(2, p.start);
    const bool stored = s.find_period.step();
    const int64_t old_id = stored ? s.find_period.int64(0) : 0;
    s.find_period.reset();
    if (stored) {
        s.delete_rows.bind(1, old_id).run();
        s.delete_sketches.bind(1, old_id).run();
        s.delete_period.bind(1, old_id).run();
    }
    s.insert_period.bind(1, resolution)
        .bind(2, p.start)
        .bind(3, static_cast<int64_t>(p.length_s))
        .bind(4, static_cast<int64_t>(p.rows.size()))
        .bind(5, now_seconds())
        .run();
    const int64_t id = sqlite3_last_insert_rowid(writer_db_);
    for (const auto& r : p.rows) {
        s.insert_row.bind(1, id)
            .bind(2, r.dimension)
            .bind(3, r.key)
            .bind(4, r.packets)
            .bind(5, r.bytes)
            .bind(6, r.sources)
            .bind(7, r.destinations)
            .bind(8, r.asns)
            .run();
    }
    if (!p.source_sketch.empty())
        s.insert_sketch.bind(1, id).bind_blob(2, p.source_sketch).run();
}

void HistoryStore::write_event(const StoredEvent& e) {
    statements_->insert_event.bind(1, e.id)
        .bind(2, std::string(event_kind_name(e.kind)))
        .bind(3, std::string(event_phase_name(e.phase)))
        .bind(4, e.time)
        .bind(5, e.json)
        .run();
}

// Once per batch, after its periods: the same periods are deleted as by a pass after each one,
// since the cut-offs only move forward.
void HistoryStore::apply_retention(const std::vector<const StoredPeriod*>& written) {
    struct Rule {
        Resolution resolution;
        unsigned days;
    };
    const Rule rules[] = {{Resolution::interval, options_.retention_interval_days},
                          {Resolution::hour, options_.retention_hour_days}};
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    auto newest_end = [&] { return options_.wall_clock_retention ? now : run_newest_end_; };
    std::string old_period_warning;
    for (const StoredPeriod* p : written) {
        const int64_t end = p->start + p->length_s;
        if (end <= now + 86400)
            run_newest_end_ = std::max(run_newest_end_, end);
        // A live run removes one old interval per new one: not worth a log line. A period
        // that is itself older than the window when written (an old capture replayed into a
        // newer history) is surprising, so the first one is logged.
        for (const auto& rule : rules) {
            if (rule.days == 0 || p->resolution != rule.resolution || newest_end() <= 0 ||
                logged_old_period_)
                continue;
            if (p->start < newest_end() - int64_t{rule.days} * 86400) {
                logged_old_period_ = true;
                old_period_warning = std::string("history: ") + resolution_name(rule.resolution) +
                                     " period starting " + std::to_string(p->start) +
                                     " is older than the retention window (" +
                                     std::to_string(rule.days) + " days before " +
                                     std::to_string(newest_end()) +
                                     ") and was not kept; further ones are not logged";
            }
        }
    }
    if (newest_end() <= 0)
        return;  // nothing this run wrote is trustworthy yet
    WriterStatements& s = *statements_;
    for (const auto& rule : rules) {
        if (rule.days == 0)
            continue;  // 0 keeps forever
        const std::string resolution = resolution_name(rule.resolution);
        const int64_t cutoff = newest_end() - int64_t{rule.days} * 86400;
        s.retire_rows.bind(1, resolution).bind(2, cutoff).run();
        s.retire_sketches.bind(1, resolution).bind(2, cutoff).run();
        int64_t deleted = 0, oldest = 0, youngest = 0;
        s.retired_span.bind(1, resolution).bind(2, cutoff);
        if (s.retired_span.step()) {
            deleted = s.retired_span.int64(0);
            oldest = s.retired_span.int64(1);
            youngest = s.retired_span.int64(2);
        }
        s.retired_span.reset();
        s.retire_periods.bind(1, resolution).bind(2, cutoff).run();
        // A live run removes one old interval per new one: logged only when more go at once.
        if (deleted > 1 || (deleted == 1 && !options_.wall_clock_retention))
            log(store_log_info, "history: retention deleted " + std::to_string(deleted) + " " +
                                    resolution + " periods starting " + std::to_string(oldest) +
                                    " to " + std::to_string(youngest) + " (older than " +
                                    std::to_string(rule.days) + " days before " +
                                    std::to_string(newest_end()) + ")");
    }
    if (!old_period_warning.empty())
        log(store_log_warning, old_period_warning);
}

std::vector<StoredPeriod> HistoryStore::read_periods(Resolution resolution, int64_t from,
                                                     int64_t to,
                                                     const std::string& dimension) const {
    std::lock_guard lock(reader_mutex_);
    std::vector<StoredPeriod> out;
    std::unordered_map<int64_t, size_t> index;
    exec(reader_db_, "BEGIN");  // one snapshot for both queries
    try {
        Statement periods(reader_db_,
                          "SELECT p.id, p.start, p.length_s, s.data FROM periods p LEFT JOIN "
                          "sketches s ON s.period_id=p.id AND s.name='source' WHERE "
                          "p.resolution=?1 AND p.start>=?2 AND p.start<?3 ORDER BY p.start");
        periods.bind(1, std::string(resolution_name(resolution))).bind(2, from).bind(3, to);
        while (periods.step()) {
            StoredPeriod p;
            p.resolution = resolution;
            p.start = periods.int64(1);
            p.length_s = static_cast<uint32_t>(periods.int64(2));
            p.source_sketch = periods.blob(3);
            index[periods.int64(0)] = out.size();
            out.push_back(std::move(p));
        }
        Statement rows(reader_db_,
                       "SELECT r.period_id, r.dimension, r.key, r.packets, r.bytes, r.sources, "
                       "r.destinations, r.asns FROM rows r JOIN periods p ON p.id=r.period_id "
                       "WHERE p.resolution=?1 AND p.start>=?2 AND p.start<?3 AND (?4='' OR "
                       "r.dimension=?4) ORDER BY r.period_id, r.dimension, r.packets DESC");
        rows.bind(1, std::string(resolution_name(resolution)))
            .bind(2, from)
            .bind(3, to)
            .bind(4, dimension);
        while (rows.step()) {
            auto it = index.find(rows.int64(0));
            if (it == index.end())
                continue;
            out[it->second].rows.push_back(StoredRow{rows.text(1), rows.text(2), rows.uint64(3),
                                                     rows.uint64(4), rows.uint64(5), rows.uint64(6),
                                                     rows.uint64(7)});
        }
    } catch (...) {
        sqlite3_exec(reader_db_, "COMMIT", nullptr, nullptr, nullptr);
        throw;
    }
    exec(reader_db_, "COMMIT");
    return out;
}

std::vector<StoredRow> HistoryStore::read_rows(Resolution resolution, int64_t from, int64_t to,
                                               const std::string& dimension) const {
    auto periods = read_periods(resolution, from, to, dimension);
    if (periods.size() == 1)
        return periods.front().rows;
    std::map<std::string, StoredRow> sums;
    for (const auto& p : periods) {
        for (const auto& r : p.rows) {
            auto& s = sums[r.key];
            s.dimension = r.dimension;
            s.key = r.key;
            s.packets += r.packets;
            s.bytes += r.bytes;
        }
    }
    std::vector<StoredRow> out;
    out.reserve(sums.size());
    for (auto& [key, row] : sums)
        out.push_back(std::move(row));
    std::stable_sort(out.begin(), out.end(),
                     [](const StoredRow& a, const StoredRow& b) { return a.packets > b.packets; });
    return out;
}

std::vector<StoredEvent> HistoryStore::read_events(int64_t from, int64_t to) const {
    std::lock_guard lock(reader_mutex_);
    std::vector<StoredEvent> out;
    Statement q(reader_db_,
                "SELECT event_id, kind, phase, time, json FROM events WHERE time>=?1 AND "
                "time<?2 ORDER BY time, id");
    q.bind(1, from).bind(2, to);
    while (q.step()) {
        const auto kind = parse_event_kind(q.text(1));
        const auto phase = parse_event_phase(q.text(2));
        if (!kind || !phase)
            throw std::runtime_error("history database " + options_.path + ": event " + q.text(0) +
                                     " has an unknown kind or phase ('" + q.text(1) + "', '" +
                                     q.text(2) + "')");
        out.push_back(StoredEvent{q.text(0), *kind, *phase, q.int64(3), q.text(4)});
    }
    return out;
}

std::optional<int64_t> HistoryStore::newest_period_start(Resolution resolution) const {
    std::lock_guard lock(reader_mutex_);
    Statement q(reader_db_,
                "SELECT start FROM periods WHERE resolution=?1 ORDER BY start DESC "
                "LIMIT 1");
    q.bind(1, std::string(resolution_name(resolution)));
    if (!q.step())
        return std::nullopt;
    return q.int64(0);
}

void keep_top_rows(std::vector<StoredRow>& rows, size_t k) {
    std::map<std::string, std::vector<StoredRow>> by_dimension;
    std::vector<std::string> order;  // dimensions in first-seen order
    for (auto& r : rows) {
        auto [it, fresh] = by_dimension.try_emplace(r.dimension);
        if (fresh)
            order.push_back(r.dimension);
        it->second.push_back(std::move(r));
    }
    rows.clear();
    for (const auto& dimension : order) {
        auto& list = by_dimension[dimension];
        if (dimension == "total") {
            for (auto& r : list)
                rows.push_back(std::move(r));
            continue;
        }
        StoredRow other{dimension, "other"};
        bool have_other = false, folded = false;
        std::vector<StoredRow> keys;
        for (auto& r : list) {
            if (r.key == "other") {
                // Keep a caller's own remainder row (with its true uniques) unless keys are
                // folded into it below.
                if (!have_other)
                    other = r;
                else {
                    other.packets += r.packets;
                    other.bytes += r.bytes;
                }
                have_other = true;
            } else {
                keys.push_back(std::move(r));
            }
        }
        std::stable_sort(keys.begin(), keys.end(), [](const StoredRow& a, const StoredRow& b) {
            return a.packets > b.packets;
        });
        for (size_t i = 0; i < keys.size(); ++i) {
            if (i < k) {
                rows.push_back(std::move(keys[i]));
            } else {
                other.packets += keys[i].packets;
                other.bytes += keys[i].bytes;
                have_other = folded = true;
            }
        }
        if (folded)
            other.sources = other.destinations = other.asns = 0;
        if (have_other)
            rows.push_back(std::move(other));
    }
}

}  // namespace darkscope
