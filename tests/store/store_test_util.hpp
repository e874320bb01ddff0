// Shared by the store tests and their helper programs: a temporary directory and a period built
// from a list of synthetic packets, so the expected numbers are counted independently of the
// store.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "darkscope/history_store.hpp"

namespace darkscope::store_test {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "darkscope-store-XXXXXX").string();
        path = mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

struct FakePacket {
    std::string service, country;
    uint32_t source;
    uint32_t size;
};

inline std::vector<FakePacket> make_packets(uint32_t seed, size_t n) {
    static const char* services[] = {"445/tcp", "23/tcp",   "53/udp",  "22/tcp", "icmp",
                                     "80/tcp",  "3389/tcp", "123/udp", "icmpv6"};
    static const char* countries[] = {"US", "CN", "JP", "DE", "RU", "BR", "NL"};
    std::mt19937 rng(seed);
    std::vector<FakePacket> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        // Skewed choice so there is a clear top.
        size_t s = std::min<size_t>(rng() % 9, rng() % 9);
        size_t c = std::min<size_t>(rng() % 7, rng() % 7);
        out.push_back({services[s], countries[c], static_cast<uint32_t>(rng() % 50),
                       60 + static_cast<uint32_t>(rng() % 1000)});
    }
    return out;
}

// Exact rows for dimensions total, service and country, with unique sources counted by set.
inline std::vector<StoredRow> rows_from_packets(const std::vector<FakePacket>& packets) {
    struct Acc {
        uint64_t packets = 0, bytes = 0;
        std::map<uint32_t, bool> sources;
    };
    std::map<std::pair<std::string, std::string>, Acc> acc;
    for (const auto& p : packets) {
        for (auto dk : {std::pair<std::string, std::string>{"total", "all"},
                        {"service", p.service},
                        {"country", p.country}}) {
            auto& a = acc[dk];
            a.packets++;
            a.bytes += p.size;
            a.sources[p.source] = true;
        }
    }
    std::vector<StoredRow> rows;
    for (auto& [dk, a] : acc)
        rows.push_back({dk.first, dk.second, a.packets, a.bytes, a.sources.size(), 0, 0});
    return rows;
}

inline StoredPeriod make_period(Resolution r, int64_t start, uint32_t length, uint32_t seed,
                                size_t packets, size_t top_k = 4) {
    StoredPeriod p;
    p.resolution = r;
    p.start = start;
    p.length_s = length;
    p.rows = rows_from_packets(make_packets(seed, packets));
    keep_top_rows(p.rows, top_k);
    return p;
}

}  // namespace darkscope::store_test
