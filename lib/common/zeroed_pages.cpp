#include "darkscope/zeroed_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
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

// /proc/self/pagemap, opened once: -1 where it cannot be read (then every page is read).
int pagemap_fd() {
    static const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    return fd;
}

constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kSwapped = uint64_t{1} << 62;

}  // namespace

void copy_nonzero_pages(void* dst, const void* src, std::size_t bytes) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    // A page the process never wrote is neither present nor swapped out (/proc/self/pagemap):
    // it reads as zero, and reading it would only fault in the zero page, a fault per 4 KiB
    // (most of a 34 MiB counter set that counted little). Such pages are skipped unread; the
    // others are read, and copied where not all zero. Chunks end on the source's page
    // boundaries.
    constexpr std::size_t kBatch = 512;  // pagemap entries read at a time
    uint64_t entries[kBatch];
    std::uintptr_t batch_page = 0;
    std::size_t batch_len = 0;
    std::size_t off = 0;
    while (off < bytes) {
        const auto addr = reinterpret_cast<std::uintptr_t>(s + off);
        std::size_t n = kPage - addr % kPage;
        if (n > bytes - off)
            n = bytes - off;
        const std::uintptr_t page = addr / kPage;
        if (page >= batch_page + batch_len && pagemap_fd() >= 0) {
            const std::uintptr_t last_page =
                (reinterpret_cast<std::uintptr_t>(s) + bytes - 1) / kPage;
            const std::size_t want = std::min<std::size_t>(kBatch, last_page - page + 1);
            const ssize_t got = ::pread(pagemap_fd(), entries, want * sizeof(uint64_t),
                                        static_cast<off_t>(page * sizeof(uint64_t)));
            batch_page = page;
            batch_len = got > 0 ? static_cast<std::size_t>(got) / sizeof(uint64_t) : 0;
        }
        const bool known = page >= batch_page && page < batch_page + batch_len;
        const bool never_written =
            known && (entries[page - batch_page] & (kPresent | kSwapped)) == 0;
        if (!never_written && !all_zero(s + off, n))
            std::memcpy(d + off, s + off, n);
        off += n;
    }
}

}  // namespace darkscope
