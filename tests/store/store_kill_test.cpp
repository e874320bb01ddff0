// kill -9 in the middle of a run: every period reported committed before the kill is in the
// database, whole, and the file passes integrity_check.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "darkscope/history_store.hpp"
#include "store_test_util.hpp"

namespace darkscope {
namespace {

std::vector<std::vector<std::string>> query(sqlite3* db, const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    while (sqlite3_step(st) == SQLITE_ROW) {
        std::vector<std::string> row;
        for (int i = 0; i < sqlite3_column_count(st); ++i) {
            auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
            row.push_back(t ? t : "");
        }
        out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
}

TEST(StoreKill, Kill9LeavesEveryCommittedPeriodWhole) {
    const char* helper = std::getenv("STORE_KILL_WRITER");
    ASSERT_NE(helper, nullptr) << "STORE_KILL_WRITER is not set (meson sets it)";
    store_test::TempDir dir;
    const std::string path = dir.file("h.db");
    const int64_t first = 1'700'000'000;
    const int wanted = 12;

    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        std::string first_text = std::to_string(first);
        execl(helper, helper, path.c_str(), first_text.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(pipe_fds[1]);
    std::set<int64_t> committed;
    std::string pending;
    char buf[256];
    while (committed.size() < static_cast<size_t>(wanted)) {
        ssize_t n = read(pipe_fds[0], buf, sizeof buf);
        ASSERT_GT(n, 0) << "helper exited early";
        pending.append(buf, static_cast<size_t>(n));
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            committed.insert(std::stoll(pending.substr(0, nl)));
            pending.erase(0, nl + 1);
        }
    }
    // Killed while writing the next period.
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    // Drain whatever it reported between our last read and the kill.
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
        pending.append(buf, static_cast<size_t>(n));
    close(pipe_fds[0]);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
        committed.insert(std::stoll(pending.substr(0, nl)));
        pending.erase(0, nl + 1);
    }

    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    auto check = query(db, "PRAGMA integrity_check");
    ASSERT_EQ(check.size(), 1u);
    EXPECT_EQ(check[0][0], "ok");
    auto periods = query(db, "SELECT id, start, row_count FROM periods ORDER BY start");
    EXPECT_GE(periods.size(), committed.size());
    std::set<int64_t> stored;
    for (const auto& p : periods) {
        stored.insert(std::stoll(p[1]));
        // Whole: as many rows as the period declared, and each dimension sums to the total.
        auto count = query(db, "SELECT count(*) FROM rows WHERE period_id=" + p[0]);
        EXPECT_EQ(count[0][0], p[2]) << "period " << p[1];
        auto sums = query(db, "SELECT dimension, sum(packets) FROM rows WHERE period_id=" + p[0] +
                                  " AND dimension IN ('total','service','country') GROUP BY "
                                  "dimension");
        ASSERT_EQ(sums.size(), 3u);
        for (const auto& s : sums)
            EXPECT_EQ(s[1], sums[0][1]) << s[0] << " at " << p[1];
    }
    for (int64_t c : committed)
        EXPECT_TRUE(stored.count(c)) << "lost committed period " << c;
    sqlite3_close(db);

    // The store reopens the killed database and appends.
    HistoryStore store({.path = path});
    int64_t next = *store.newest_period_start(Resolution::interval) + 60;
    store.enqueue(store_test::make_period(Resolution::interval, next, 60, 1, 100));
    store.flush();
    EXPECT_EQ(store.read_periods(Resolution::interval, 0, next + 60).size(), periods.size() + 1);
}

}  // namespace
}  // namespace darkscope
