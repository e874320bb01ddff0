#include "darkscope/zeroed_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

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

// Pages of [first, first + count * kPage) that were never written: neither in memory nor
// swapped out, by /proc/self/pagemap (bits 63 and 62). Reading such a page would map the shared
// zero page, and the next write to it (a window counting a new key) would take a second fault
// and a TLB shootdown. Empty when pagemap cannot be read: then every page is scanned.
std::vector<bool> untouched_pages(std::uintptr_t first, std::size_t count) {
    std::vector<bool> untouched;
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return untouched;
    std::vector<uint64_t> entries(count);
    const auto want = static_cast<ssize_t>(count * sizeof(uint64_t));
    const ssize_t got = ::pread(fd, entries.data(), static_cast<std::size_t>(want),
                                static_cast<off_t>(first / kPage * sizeof(uint64_t)));
    ::close(fd);
    if (got != want)
        return untouched;
    untouched.resize(count);
    for (std::size_t i = 0; i < count; ++i)
        untouched[i] = (entries[i] >> 62) == 0;
    return untouched;
}

}  // namespace

void copy_nonzero_pages(void* dst, const void* src, std::size_t bytes) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    if (bytes == 0)
        return;
    const auto first = reinterpret_cast<std::uintptr_t>(s) / kPage * kPage;
    const std::size_t pages =
        (reinterpret_cast<std::uintptr_t>(s) + bytes - first + kPage - 1) / kPage;
    const std::vector<bool> untouched = untouched_pages(first, pages);
    // Chunks end on the source's page boundaries, so that a page never written (all zero) is
    // only read, never copied, and one never touched is not even read.
    std::size_t off = 0;
    while (off < bytes) {
        const auto addr = reinterpret_cast<std::uintptr_t>(s + off);
        std::size_t n = kPage - addr % kPage;
        if (n > bytes - off)
            n = bytes - off;
        const bool skip = !untouched.empty() && untouched[(addr - first) / kPage];
        if (!skip && !all_zero(s + off, n))
            std::memcpy(d + off, s + off, n);
        off += n;
    }
}

}  // namespace darkscope
