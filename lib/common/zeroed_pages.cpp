#include "darkscope/zeroed_pages.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <new>

namespace darkscope {

void* allocate_zeroed_pages(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::bad_alloc();
    return p;
}

void free_zeroed_pages(void* p, std::size_t bytes) {
    if (p != nullptr)
        ::munmap(p, bytes);
}

namespace {

constexpr std::size_t kPage = 4096;

bool all_zero(const unsigned char* p, std::size_t n) {
    // Whole words, OR-ed together: the compiler vectorises this; one branch a page.
    uint64_t any = 0;
    std::size_t i = 0;
    for (; i + sizeof(uint64_t) <= n; i += sizeof(uint64_t)) {
        uint64_t w;
        std::memcpy(&w, p + i, sizeof w);
        any |= w;
    }
    for (; i < n; ++i)
        any |= p[i];
    return any == 0;
}

}  // namespace

void copy_nonzero_pages(void* dst, const void* src, std::size_t bytes) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    // Chunks end on the source's page boundaries, so that a page never written (all zero) is
    // only read, never copied.
    std::size_t off = 0;
    while (off < bytes) {
        const auto addr = reinterpret_cast<std::uintptr_t>(s + off);
        std::size_t n = kPage - addr % kPage;
        if (n > bytes - off)
            n = bytes - off;
        if (!all_zero(s + off, n))
            std::memcpy(d + off, s + off, n);
        off += n;
    }
}

}  // namespace darkscope
