// memory_latency: what one random memory access costs on this machine, for scripts/bench.sh.
// darkscope's worker is bound by random accesses into large tables (docs/performance.md), so a
// packet rate means little without the latency behind it: the same build gave 1.60 Mpps on a
// Xeon with a 260 MiB L3 and 1.33 on a KVM guest whose DRAM is 175 ns away.
//
//   memory_latency [--sizes MiB,MiB,...] [--steps N] [--small-pages]
//
// Prints one JSON object on stdout:
//   pages           "2M" (MAP_HUGETLB, as darkscope's heap) or "4K" (no free hugepages, or
//                   --small-pages)
//   latency_ns      per size: a dependent chase through every line of a buffer of that size
//                   in random order (load-to-use latency: L2, L3 or DRAM)
//   independent_ns  per random line when the loads do not depend on each other (in the largest
//                   buffer): what the memory system overlaps, the bound on a prefetching loop
//   spread_ns       2 MiB of lines, each in its own 4 KiB page (a 130 MiB span), chased; set
//                   against latency_ns of 2 MiB it shows the page-walk cost, which stays even
//                   on 2 MiB pages when a hypervisor backs the guest with 4 KiB pages
//   pattern_ns      per packet, the worker's memory accesses without its instructions: one
//                   random line in each of tables the sizes of the worker's (tuples, tags, FIB,
//                   service slots and entries, two pooled sketch registers, sensor and run-wide
//                   sketches), prefetched 8 packets ahead as the worker does, plus the replay's
//                   two lines of a fresh mbuf; set against the worker's ns per packet it says
//                   how much of that is memory and how much is instructions
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "darkscope/hash.hpp"

namespace {

constexpr size_t kLine = 64;
constexpr size_t kHuge = size_t{2} << 20;

struct Rng {
    uint64_t s;
    uint64_t next() { return darkscope::mix64(s += 0x9e3779b97f4a7c15ULL); }  // splitmix64
};

// An anonymous mapping on 2 MiB pages when it can get them, else on 4 KiB pages.
struct Buffer {
    uint8_t* p = nullptr;
    size_t bytes = 0;
    bool huge = false;
    Buffer(size_t want, bool allow_huge) : bytes((want + kHuge - 1) & ~(kHuge - 1)) {
        void* m = MAP_FAILED;
        if (allow_huge)
            m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        huge = m != MAP_FAILED;
        if (!huge) {
            m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) {
                std::perror("memory_latency: mmap");
                std::exit(1);
            }
            madvise(m, bytes, MADV_NOHUGEPAGE);  // 4 KiB pages, not whatever THP gives
        }
        p = static_cast<uint8_t*>(m);
    }
    ~Buffer() { munmap(p, bytes); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
};

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Links `lines` slots `stride` bytes apart into one random cycle; returns the first offset.
uint64_t link_cycle(uint8_t* base, size_t lines, size_t stride, Rng& rng) {
    std::vector<uint32_t> order(lines);
    for (size_t i = 0; i < lines; ++i)
        order[i] = static_cast<uint32_t>(i);
    for (size_t i = lines - 1; i > 0; --i)
        std::swap(order[i], order[rng.next() % (i + 1)]);
    for (size_t i = 0; i < lines; ++i) {
        const uint64_t next = uint64_t{order[(i + 1) % lines]} * stride;
        std::memcpy(base + size_t{order[i]} * stride, &next, sizeof next);
    }
    return uint64_t{order[0]} * stride;
}

// ns per load of a dependent chase: one warm-up lap of `steps`, then a timed one.
double chase(const uint8_t* base, uint64_t start, size_t steps) {
    uint64_t at = start;
    for (int lap = 0; lap < 2; ++lap) {
        const double t0 = now_s();
        for (size_t i = 0; i < steps; ++i)
            std::memcpy(&at, base + at, sizeof at);
        if (lap == 1) {
            const double t = now_s() - t0;
            if (at == 1)  // never: keeps the chase from being optimised away
                std::puts("");
            return t / static_cast<double>(steps) * 1e9;
        }
    }
    return 0;
}

double independent(const uint8_t* base, size_t lines, size_t steps, Rng& rng) {
    uint64_t sum = 0;
    const double t0 = now_s();
    for (size_t i = 0; i < steps; ++i) {
        uint64_t v;
        std::memcpy(&v, base + (rng.next() % lines) * kLine, sizeof v);
        sum += v;
    }
    const double t = now_s() - t0;
    if (sum == 1)
        std::puts("");
    return t / static_cast<double>(steps) * 1e9;
}

// The worker's per-packet lines (docs/performance.md): the tables' sizes at the defaults, in
// KiB. The destination sketches (two pooled sketch registers, the sensor's sketch) are not here:
// the worker writes them only for a packet whose tuple does not hold its destination inline,
// under 1% of the bench capture's packets (the stats core adds the others once per tuple).
constexpr size_t kPatternTablesKib[] = {
    131072 + 4352,  // IPv4 source tuples (2^21 x 64 B) and their stash
    4096,           // tuple tags (2^21 x 2 B)
    65536,          // DIR-24-8 tbl24 of the country/ASN FIB
    8192,           // service_slots (2^18 x 32 B)
    1024,           // ServiceTable index (2^19 x 2 B)
    6656,           // ServiceTable entries (8192 x 832 B)
};
constexpr size_t kPatternTables = std::size(kPatternTablesKib);
constexpr size_t kPatternDistance = 8;
constexpr size_t kMbufStride = 2368;  // net_pcap's copy of a packet: the mbuf and its data

double pattern(size_t packets, size_t stream_mib, bool allow_huge, bool* huge, Rng& rng) {
    std::vector<std::unique_ptr<Buffer>> tables;
    for (size_t kib : kPatternTablesKib) {
        tables.push_back(std::make_unique<Buffer>(kib << 10, allow_huge));
        std::memset(tables.back()->p, 1, tables.back()->bytes);
        *huge = *huge && tables.back()->huge;
    }
    Buffer stream(stream_mib << 20, allow_huge);
    std::memset(stream.p, 1, stream.bytes);
    *huge = *huge && stream.huge;
    const size_t mbufs = stream.bytes / kMbufStride;
    // Line offsets for a ring of packets, drawn up front so that the timed loop does nothing
    // but the accesses; the ring touches ~2.4 M distinct lines, about what the worker's tables
    // see in a pass of the bench capture.
    constexpr size_t kRing = size_t{1} << 18;
    std::vector<uint32_t> lines(kRing * kPatternTables);
    for (size_t i = 0; i < lines.size(); ++i) {
        const size_t table_lines = (kPatternTablesKib[i % kPatternTables] << 10) / kLine;
        lines[i] = static_cast<uint32_t>(rng.next() % table_lines);
    }
    uint8_t* base[kPatternTables];
    for (size_t t = 0; t < kPatternTables; ++t)
        base[t] = tables[t]->p;
    uint64_t sum = 0;
    const double t0 = now_s();
    for (size_t p = 0; p < packets; ++p) {
        const uint32_t* ahead = &lines[((p + kPatternDistance) % kRing) * kPatternTables];
        for (size_t t = 0; t < kPatternTables; ++t)
            __builtin_prefetch(base[t] + size_t{ahead[t]} * kLine);
        const uint8_t* mbuf = stream.p + (p % mbufs) * kMbufStride;
        sum += mbuf[0] + mbuf[256];  // the mbuf header and the packet's first bytes
        const uint32_t* now = &lines[(p % kRing) * kPatternTables];
        for (size_t t = 0; t < kPatternTables; ++t)
            sum += base[t][size_t{now[t]} * kLine];
    }
    const double t = now_s() - t0;
    if (sum == 1)
        std::puts("");
    return t / static_cast<double>(packets) * 1e9;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "memory_latency: %s\nusage: memory_latency [--sizes MiB,MiB,...] [--steps N] "
                 "[--stream-mib MiB] [--small-pages]\n",
                 why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<size_t> sizes_mib = {2, 8, 32, 256};
    size_t steps = 2'000'000;
    bool allow_huge = true;
    size_t stream_mib = 512;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--sizes" && i + 1 < argc) {
            sizes_mib.clear();
            std::string list = argv[++i];
            for (size_t at = 0; at <= list.size();) {
                const size_t comma = std::min(list.find(',', at), list.size());
                const std::string item = list.substr(at, comma - at);
                char* end = nullptr;
                const unsigned long v = std::strtoul(item.c_str(), &end, 10);
                if (item.empty() || *end != '\0' || v == 0 || v > 65536)
                    usage(("--sizes: '" + item + "' is not a size in MiB (1-65536)").c_str());
                sizes_mib.push_back(v);
                at = comma + 1;
            }
        } else if (a == "--steps" && i + 1 < argc) {
            char* end = nullptr;
            steps = std::strtoull(argv[++i], &end, 10);
            if (*end != '\0' || steps < 1000)
                usage("--steps: a number of at least 1000");
        } else if (a == "--stream-mib" && i + 1 < argc) {
            char* end = nullptr;
            stream_mib = std::strtoull(argv[++i], &end, 10);
            if (*end != '\0' || stream_mib < 16 || stream_mib > 65536)
                usage("--stream-mib: the replay stream's size in MiB, 16-65536");
        } else if (a == "--small-pages") {
            allow_huge = false;
        } else {
            usage(("unknown argument '" + a + "'").c_str());
        }
    }
    Rng rng{1};
    bool all_huge = true;
    std::string latency = "{";
    size_t largest = 0;
    for (size_t mib : sizes_mib) {
        Buffer b(mib << 20, allow_huge);
        all_huge = all_huge && b.huge;
        const size_t lines = (mib << 20) / kLine;
        const uint64_t start = link_cycle(b.p, lines, kLine, rng);
        char row[64];
        std::snprintf(row, sizeof row, "%s\"%zu\": %.1f", latency.size() > 1 ? ", " : "", mib,
                      chase(b.p, start, steps));
        latency += row;
        largest = std::max(largest, mib);
    }
    latency += "}";
    double independent_ns = 0;
    {
        Buffer b(largest << 20, allow_huge);
        std::memset(b.p, 1, b.bytes);
        independent_ns = independent(b.p, (largest << 20) / kLine, steps * 4, rng);
    }
    // One line per 4 KiB page, a line further each page so that the lines do not all fall in
    // the same cache sets (a stride of exactly 4096 would measure set conflicts, not pages).
    constexpr size_t kSpreadLines = (size_t{2} << 20) / kLine;
    constexpr size_t kSpreadStride = 4096 + kLine;
    double spread_ns = 0;
    {
        Buffer b(kSpreadLines * kSpreadStride, allow_huge);
        all_huge = all_huge && b.huge;
        const uint64_t start = link_cycle(b.p, kSpreadLines, kSpreadStride, rng);
        spread_ns = chase(b.p, start, steps);
    }
    const double pattern_ns = pattern(steps, stream_mib, allow_huge, &all_huge, rng);
    std::printf(
        "{\"pages\": \"%s\", \"latency_ns\": %s, \"independent_ns\": %.1f, "
        "\"independent_mib\": %zu, \"spread_ns\": %.1f, \"pattern_ns\": %.1f, "
        "\"pattern_lines\": %zu}\n",
        all_huge ? "2M" : "4K", latency.c_str(), independent_ns, largest, spread_ns, pattern_ns,
        kPatternTables + 2);
    return 0;
}
