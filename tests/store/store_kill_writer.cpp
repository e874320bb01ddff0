// Helper for store_kill_test: writes interval periods in a loop and prints the start of each
// one on stdout once it is committed, until it is killed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "darkscope/history_store.hpp"
#include "store_test_util.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s DB FIRST_START\n", argv[0]);
        return 2;
    }
    darkscope::HistoryStore store({.path = argv[1]});
    const int64_t first = std::atoll(argv[2]);
    for (int64_t i = 0;; ++i) {
        // Many rows per period so the kill is likely to land inside a transaction.
        auto p = darkscope::store_test::make_period(darkscope::Resolution::interval, first + 60 * i,
                                                    60, static_cast<uint32_t>(i), 2000, 1000);
        for (int k = 0; k < 2000; ++k)
            p.rows.push_back({"source", "198.51.100." + std::to_string(k), 0, 0, 0, 0, 0});
        store.enqueue(std::move(p));
        store.flush();
        std::string line = std::to_string(first + 60 * i) + "\n";
        if (write(STDOUT_FILENO, line.data(), line.size()) < 0)
            return 1;
    }
}
