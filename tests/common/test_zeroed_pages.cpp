// copy_nonzero_pages against memcpy: sparse sources at every page offset, into zero pages.
#include "darkscope/zeroed_pages.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
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
// Whether this process has a page behind `p` (/proc/self/pagemap: present or swapped).
bool page_backed(const void* p) {
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t entry = 0;
    const auto page = reinterpret_cast<std::uintptr_t>(p) / 4096;
    const bool ok = fd >= 0 && ::pread(fd, &entry, sizeof entry,
                                       static_cast<off_t>(page * sizeof entry)) == sizeof entry;
    if (fd >= 0)
        ::close(fd);
    return !ok || (entry >> 62) != 0;
}
}  // namespace

// A source in fresh pages, a few of them written: the copy equals a memcpy, and the pages never
// written are skipped unread (they stay without a page behind them).
TEST(ZeroedPages, PagesNeverWrittenAreSkippedUnread) {
    const std::size_t pages = 600;  // more than one batch of pagemap entries
    const std::size_t bytes = pages * 4096;
    auto* src = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
    auto* dst = static_cast<unsigned char*>(allocate_zeroed_pages(bytes));
    // Page by page, as this test looks at them: no transparent huge page (of any size) behind.
    ::madvise(src, bytes, MADV_NOHUGEPAGE);
    ::madvise(dst, bytes, MADV_NOHUGEPAGE);
    for (std::size_t page : {0u, 1u, 2u, 511u, 512u, 513u, 599u})
        src[page * 4096 + page % 4096] = static_cast<unsigned char>(page | 1);
    src[300 * 4096] = 0;  // written, zero: read, not copied
    copy_nonzero_pages(dst, src, bytes);
    EXPECT_TRUE(page_backed(src + 300 * 4096));
    for (std::size_t page : {3u, 100u, 510u, 514u, 598u})
        EXPECT_FALSE(page_backed(src + page * 4096)) << "page " << page << " was read";
    for (std::size_t page : {0u, 511u, 512u, 599u})
        EXPECT_TRUE(page_backed(dst + page * 4096)) << "page " << page;
    EXPECT_FALSE(page_backed(dst + 300 * 4096));
    EXPECT_EQ(std::memcmp(dst, src, bytes), 0);  // reads every page: last
    free_zeroed_pages(src, bytes);
    free_zeroed_pages(dst, bytes);
}
