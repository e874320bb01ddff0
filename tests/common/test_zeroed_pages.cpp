// copy_nonzero_pages against memcpy: sparse sources at every page offset, into zero pages.
#include "darkscope/zeroed_pages.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

using darkscope::allocate_zeroed_pages;
using darkscope::copy_nonzero_pages;
using darkscope::free_zeroed_pages;

TEST(ZeroedPages, FreshPagesReadAsZero) {
    const std::size_t bytes = 5 * 4096 + 123;
    auto* p = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 0u);
    std::vector<unsigned char> zero(bytes, 0);
    EXPECT_EQ(std::memcmp(p, zero.data(), bytes), 0);
    free_zeroed_pages(p, bytes);
}

TEST(ZeroedPages, CopyEqualsMemcpyForSparseSources) {
    std::mt19937_64 rng(7);
    const std::size_t bytes = 13 * 4096 + 777;
    for (std::size_t shift : {0u, 1u, 63u, 4095u}) {
        // A source at any offset from a page boundary, a few bytes set here and there (first and
        // last byte included), most pages all zero.
        std::vector<unsigned char> backing(bytes + 8192, 0);
        unsigned char* src = backing.data() + shift;
        src[0] = 1;
        src[bytes - 1] = 2;
        for (int i = 0; i < 20; ++i)
            src[rng() % bytes] = static_cast<unsigned char>(rng() | 1);
        auto* dst = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
        copy_nonzero_pages(dst, src, bytes);
        EXPECT_EQ(std::memcmp(dst, src, bytes), 0) << "source offset " << shift;
        free_zeroed_pages(dst, bytes);
    }
}

TEST(ZeroedPages, CopyOfAllZeroLeavesZero) {
    const std::size_t bytes = 3 * 4096;
    std::vector<unsigned char> src(bytes, 0);
    auto* dst = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
    copy_nonzero_pages(dst, src.data(), bytes);
    EXPECT_EQ(std::memcmp(dst, src.data(), bytes), 0);
    free_zeroed_pages(dst, bytes);
}

namespace {

// Whether the page holding `p` is in memory or swapped out (/proc/self/pagemap bits 63, 62).
bool page_touched(const void* p) {
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    uint64_t entry = 0;
    const auto page = reinterpret_cast<std::uintptr_t>(p) / 4096;
    const ssize_t got = ::pread(fd, &entry, sizeof entry, static_cast<off_t>(page * sizeof entry));
    ::close(fd);
    return got != sizeof entry || (entry >> 62) != 0;
}

}  // namespace

// A counter set's copy for telemetry must neither read nor map the pages its source never
// wrote: reading maps the zero page, and the set's next write there faults a second time.
TEST(ZeroedPages, CopyLeavesTheSourcesUntouchedPagesUnmapped) {
    if (::access("/proc/self/pagemap", R_OK) != 0)
        GTEST_SKIP() << "/proc/self/pagemap is not readable here";
    const std::size_t pages = 16;
    const std::size_t bytes = pages * 4096;
    auto* src = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
    auto* dst = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
    // Page by page, as the test reads it: no transparent huge page (of any size) behind them.
    ::madvise(src, bytes, MADV_NOHUGEPAGE);
    ::madvise(dst, bytes, MADV_NOHUGEPAGE);
    src[3 * 4096 + 5] = 7;  // written
    src[9 * 4096] = 1;      // written, then zero again: touched, all zero
    src[9 * 4096] = 0;
    src[15 * 4096 + 4095] = 9;  // the last byte
    copy_nonzero_pages(dst, src, bytes);
    for (std::size_t i = 0; i < pages; ++i) {
        const bool written = i == 3 || i == 9 || i == 15;
        EXPECT_EQ(page_touched(src + i * 4096), written) << "source page " << i;
        EXPECT_EQ(page_touched(dst + i * 4096), i == 3 || i == 15) << "copy page " << i;
    }
    EXPECT_EQ(std::memcmp(dst, src, bytes), 0);  // reads every page: after the checks above
    free_zeroed_pages(src, bytes);
    free_zeroed_pages(dst, bytes);
}
