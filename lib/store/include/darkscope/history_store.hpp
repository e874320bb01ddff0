// The embedded history: interval, hour and day row sets and events kept in SQLite (WAL).
//
// Only the store's own writer thread writes the database. Producers (the stats core) hand it
// whole periods through a bounded queue that never blocks them: when the queue is full the oldest
// unwritten period is dropped, counted and logged. The writer takes what is queued (a bounded
// batch) and writes it in one transaction, so a crash or `kill -9` leaves every committed period
// whole. The schema is in docs/schema.md.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "darkscope/event_kind.hpp"

struct sqlite3;

namespace darkscope {

enum class Resolution { interval, hour, day };

// "interval", "hour", "day" (the spelling stored in the database).
const char* resolution_name(Resolution r);
std::optional<Resolution> parse_resolution(const std::string& name);

// One key of one dimension in one period. sources, destinations and asns are unique counts for
// the period the row belongs to; they never add up across periods.
struct StoredRow {
    std::string dimension;
    std::string key;
    uint64_t packets = 0, bytes = 0, sources = 0, destinations = 0, asns = 0;
};

// One row set: the top-K keys per dimension plus an explicit key "other" holding the remainder,
// so every dimension's packets and bytes sum to the total; dimension "total" has one row, key
// "all". Writing a period whose (resolution, start) is already stored replaces it, so an hour or
// day rollup may be rewritten as it grows and a replayed capture does not double count.
struct StoredPeriod {
    Resolution resolution = Resolution::interval;
    int64_t start = 0;      // unix seconds, UTC
    uint32_t length_s = 0;  // seconds covered
    std::vector<StoredRow> rows;
    std::vector<uint8_t> source_sketch;  // optional serialized unique-source sketch (rollups)
};

struct StoredEvent {
    std::string id;  // the event's own id, shared by its start, updates and end
    EventKind kind = EventKind::surge;
    EventPhase phase = EventPhase::start;
    int64_t time = 0;  // unix seconds, UTC
    std::string json;  // the full event as JSON
};

// Log levels passed to StoreOptions::log, syslog numbering.
enum StoreLogLevel : int { store_log_error = 3, store_log_warning = 4, store_log_info = 6 };

struct StoreOptions {
    std::string path;
    // Periods waiting to be written (besides the batch being written); beyond it the oldest is
    // dropped.
    unsigned queue_limit = 64;
    unsigned event_queue_limit = 1024;  // events waiting to be written, same policy
    // How long enqueue() may wait for room before it drops the oldest. 0 (live capture: the
    // stats core must not stall behind the disk) drops at once; an offline replay, which has
    // no clock to keep up with, waits, so a slow disk slows the replay instead of losing
    // periods. The wait ends early when the store closes; a writer stuck longer than this (a
    // database locked for good) still gets the old policy, so the replay finishes.
    unsigned full_wait_ms = 0;
    // How long the writer may wait for a fuller batch once something is queued: until the queue
    // is full, a flush or the stop. 0 (live: a period is written as soon as the writer is free)
    // never waits; an offline replay, which has no clock to keep up with, waits so that
    // the writer commits many periods at a time instead of paying a commit for each.
    unsigned batch_wait_ms = 0;
    // Group commit: the writer takes what is queued, up to these bounds, and writes it in one
    // transaction. A commit's cost (the WAL frames of every page it touched, the rows index's
    // pages rewritten) is shared by the batch instead of paid by each period. Rows: of the
    // batch's periods, an event counting as one; 32,768 rows are about 3 MB. An offline replay
    // takes 4,096 periods and 262,144 rows: a long sparse capture's commits then rewrite each
    // hot index page once per few thousand periods.
    unsigned batch_items = 256;
    unsigned batch_rows = 32768;
    // Retention by period start, measured back from a clock a packet cannot move: the wall
    // clock live (wall_clock_retention), and offline the newest end of the periods this run
    // wrote, leaving out any that end more than a day after the wall clock (a future-dated
    // packet), so replaying old captures keeps them. Never the newest period in the database,
    // which one forged packet could set. 0 keeps forever; days always are. Each pass that
    // deletes logs how many periods of which span.
    unsigned retention_interval_days = 14, retention_hour_days = 400;
    bool wall_clock_retention = false;
    unsigned busy_timeout_ms = 5000;  // wait for a lock held by another connection
    // Called on the writer thread (write errors, retention) or on the enqueuing thread (drops),
    // once per period or event at most, never per packet. May be empty.
    std::function<void(int level, const std::string& message)> log;
};

class HistoryStore {
  public:
    // Opens or creates the database, applies migrations and starts the writer thread. Throws
    // std::runtime_error with a one-line reason naming the file.
    explicit HistoryStore(StoreOptions options);
    // Writes everything still queued (one attempt per batch, then per item of a batch that
    // failed), then closes.
    ~HistoryStore();
    HistoryStore(const HistoryStore&) = delete;
    HistoryStore& operator=(const HistoryStore&) = delete;

    // Never block on the database for longer than full_wait_ms (0: never). Return false when
    // something had to be dropped to make room (counted in Stats and logged) or the store is
    // closing.
    bool enqueue(StoredPeriod period);
    bool enqueue(StoredEvent event);

    // Waits until everything queued before the call is committed or has failed for good.
    void flush();
    // flush() bounded for shutdown: after `limit` the writer stops retrying transient failures
    // (a full disk) and gives each item still queued one attempt, so it returns soon after;
    // what was not written counts as dropped. Returns the number of items dropped meanwhile.
    uint64_t flush_within(std::chrono::milliseconds limit);

    struct Stats {
        uint64_t periods_written = 0, periods_dropped = 0;
        uint64_t events_written = 0, events_dropped = 0;
        uint64_t write_errors = 0;  // failed write attempts (a transient failure is retried)
        uint64_t transactions = 0;  // commits of periods and events (one per batch)
        size_t queue_depth = 0;     // periods and events waiting
        std::string last_error;
    };
    Stats stats() const;

    // Read side (its own connection; WAL lets it run beside the writer).
    // Periods of one resolution whose start lies in [from, to), oldest first, with only the rows
    // of `dimension` (all rows when empty).
    std::vector<StoredPeriod> read_periods(Resolution resolution, int64_t from, int64_t to,
                                           const std::string& dimension = "") const;
    // Packets and bytes of each key of `dimension` summed over those periods, busiest first.
    // Unique fields are filled only when exactly one period matched (they are not additive);
    // otherwise they are 0: read the coarser resolution for a window's unique counts.
    std::vector<StoredRow> read_rows(Resolution resolution, int64_t from, int64_t to,
                                     const std::string& dimension) const;
    std::vector<StoredEvent> read_events(int64_t from, int64_t to) const;
    // Start of the newest stored period of that resolution (to resume rollups after a restart).
    std::optional<int64_t> newest_period_start(Resolution resolution) const;

    // Test hook: while paused the writer takes nothing from the queue, so overflow and batches
    // can be tested without timing. flush() must not be called while paused.
    void pause_writer_for_test(bool paused);

  private:
    using Item = std::variant<StoredPeriod, StoredEvent>;
    struct WriterStatements;
    enum class Outcome { written, dropped, split };
    void writer_loop();
    // Waits (lock held, up to full_wait_ms) until `queued` drops below `limit`.
    void wait_for_room(std::unique_lock<std::mutex>& lock, const size_t& queued, size_t limit);
    // True when the queue holds a whole batch or is full (lock held).
    bool batch_ready() const;
    // Moves the oldest queued items, up to the batch bounds, into `batch` (lock held).
    void take_batch(std::vector<Item>& batch);
    // Writes the items in one transaction, retrying transient failures; counts the result.
    // split: several items failed for good together, none counted (write them one by one).
    Outcome write_with_retries(std::span<Item> items, std::string& error);
    void write_items(std::span<const Item> items);
    void write_period(const StoredPeriod& p);
    void write_event(const StoredEvent& e);
    void apply_retention(const std::vector<const StoredPeriod*>& written);
    void log(int level, const std::string& message) const;

    StoreOptions options_;
    sqlite3* writer_db_ = nullptr;
    std::unique_ptr<WriterStatements> statements_;  // on writer_db_, writer thread only
    std::chrono::milliseconds backoff_{100};        // writer thread only: the next retry's pause
    mutable std::mutex reader_mutex_;
    sqlite3* reader_db_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable work_cv_;  // writer waits for items / resume / stop
    std::condition_variable idle_cv_;  // flush waits for the writer to finish
    std::deque<Item> queue_;
    size_t queued_periods_ = 0, queued_events_ = 0;
    bool writer_busy_ = false;
    bool logged_old_period_ = false;  // writer thread only
    int64_t run_newest_end_ = 0;      // writer thread only: offline retention's clock
    bool paused_ = false;
    bool stopping_ = false;
    bool final_attempts_ = false;           // flush_within() ran out of time: no more retries
    unsigned flushing_ = 0;                 // threads waiting in flush(): no batch_wait_ms
    uint64_t enqueued_ = 0, finished_ = 0;  // items accepted / written, failed or dropped
    Stats stats_;
    std::thread writer_;
};

// Keeps the k busiest keys of each dimension (by packets) and folds the rest, plus any existing
// "other" row, into one "other" row, so each dimension still sums to the total. The folded
// row's unique fields are left 0: uniques of a remainder cannot be added up (a caller holding
// the remainder's sketch may set them). Dimension "total" is left alone.
void keep_top_rows(std::vector<StoredRow>& rows, size_t k);

}  // namespace darkscope
