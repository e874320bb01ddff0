// Writes a history database through the real HistoryStore from a tab-separated plan on stdin,
// so the report tests read the schema the appliance writes:
//   period <TAB> RESOLUTION <TAB> START <TAB> LENGTH_S
//   row <TAB> DIMENSION <TAB> KEY <TAB> PACKETS <TAB> BYTES <TAB> SOURCES <TAB> DESTS <TAB> ASNS
//   event <TAB> ID <TAB> KIND <TAB> PHASE <TAB> TIME <TAB> JSON
// Rows belong to the period line above them.
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "darkscope/history_store.hpp"

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, '\t'))
        out.push_back(field);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DB < plan\n", argv[0]);
        return 2;
    }
    try {
        darkscope::HistoryStore store({.path = argv[1], .queue_limit = 1u << 20});
        std::optional<darkscope::StoredPeriod> period;
        std::string line;
        size_t line_no = 0;
        auto finish = [&] {
            if (period)
                store.enqueue(std::move(*period));
            period.reset();
        };
        while (std::getline(std::cin, line)) {
            ++line_no;
            auto f = split_tabs(line);
            if (f.empty())
                continue;
            if (f[0] == "period" && f.size() == 4) {
                finish();
                auto r = darkscope::parse_resolution(f[1]);
                if (!r)
                    throw std::runtime_error("bad resolution " + f[1]);
                period = darkscope::StoredPeriod{
                    *r, std::stoll(f[2]), static_cast<uint32_t>(std::stoul(f[3])), {}, {}};
            } else if (f[0] == "row" && f.size() == 8 && period) {
                period->rows.push_back({f[1], f[2], std::stoull(f[3]), std::stoull(f[4]),
                                        std::stoull(f[5]), std::stoull(f[6]), std::stoull(f[7])});
            } else if (f[0] == "event" && f.size() == 6) {
                auto kind = darkscope::parse_event_kind(f[2]);
                auto phase = darkscope::parse_event_phase(f[3]);
                if (!kind || !phase)
                    throw std::runtime_error("bad event kind or phase " + f[2] + " " + f[3]);
                store.enqueue(darkscope::StoredEvent{f[1], *kind, *phase, std::stoll(f[4]), f[5]});
            } else {
                throw std::runtime_error("plan line " + std::to_string(line_no) +
                                         " not understood");
            }
        }
        finish();
        store.flush();
        auto s = store.stats();
        if (s.periods_dropped || s.write_errors) {
            std::fprintf(stderr, "dropped %llu, errors %llu: %s\n",
                         static_cast<unsigned long long>(s.periods_dropped),
                         static_cast<unsigned long long>(s.write_errors), s.last_error.c_str());
            return 1;
        }
        std::printf("%llu periods, %llu events\n",
                    static_cast<unsigned long long>(s.periods_written),
                    static_cast<unsigned long long>(s.events_written));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
