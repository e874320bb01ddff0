// sized_to_job: offline, the tuple tables, the mbuf pool and (on 4 KiB pages) EAL's memory fit
// the capture; an option the user set, and every live configuration, stay as given.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "darkscope/offline_sizing.hpp"

namespace ds = darkscope;

namespace {

// A file of `bytes` zero bytes (sized_to_job reads only its size).
struct SizedFile {
    std::string path;
    explicit SizedFile(uint64_t bytes) {
        path = (std::filesystem::temp_directory_path() /
                ("ds-sizing-" + std::to_string(::getpid()) + ".pcap"))
                   .string();
        std::ofstream(path, std::ios::binary).close();
        std::filesystem::resize_file(path, bytes);
    }
    ~SizedFile() { std::remove(path.c_str()); }
};

ds::Config offline(const std::string& file, bool no_huge) {
    ds::Config c;
    c.read_files = {file};
    c.no_huge = no_huge;
    return c;
}

}  // namespace

// One packet's capture: the smallest pool, and EAL's own 64 MiB, which holds it.
TEST(OfflineSizing, SmallCaptureTakesTheSmallestPoolAndEalsDefaultMemory) {
    SizedFile f(24 + 16 + 60);
    const ds::Config sized = ds::sized_to_job(offline(f.path, true));
    EXPECT_EQ(sized.mbufs, 2047u);
    EXPECT_EQ(sized.tuple_entries, 4096u);
    EXPECT_EQ(sized.memory_mb, 64u);
}

// A capture that fills the default pool: on 4 KiB pages each mbuf takes a page, so the pool
// alone is 64 MiB, more than EAL reserves when -m is not given.
TEST(OfflineSizing, LargeCaptureOnSmallPagesAsksEalForThePool) {
    SizedFile f(uint64_t{100} << 20);
    const ds::Config sized = ds::sized_to_job(offline(f.path, true));
    EXPECT_EQ(sized.mbufs, ds::Config().mbufs);
    EXPECT_GE(uint64_t{sized.memory_mb} << 20, uint64_t{sized.mbufs} * 4096 + (16u << 20));
    EXPECT_LE(sized.memory_mb, 128u);
}

TEST(OfflineSizing, MemoryGivenOrHugepagesOrLiveStayAsGiven) {
    SizedFile f(uint64_t{100} << 20);
    ds::Config given = offline(f.path, true);
    given.memory_mb = 2048;
    EXPECT_EQ(ds::sized_to_job(given).memory_mb, 2048u);
    EXPECT_EQ(ds::sized_to_job(offline(f.path, false)).memory_mb, 0u);  // EAL grows on hugepages
    ds::Config live;
    live.no_huge = true;
    EXPECT_EQ(ds::sized_to_job(live).memory_mb, 0u);
    EXPECT_EQ(ds::sized_to_job(live).mbufs, live.mbufs);
}
