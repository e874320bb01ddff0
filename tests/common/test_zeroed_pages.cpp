// copy_nonzero_pages against memcpy: sparse sources at every page offset, into zero pages.
#include "darkscope/zeroed_pages.hpp"

#include <gtest/gtest.h>

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
