// Large, mostly zero objects (a counter set is about 13 MiB of which an interval touches a few
// hundred KiB) taken straight from the kernel: its fresh pages read as zero and take no memory
// until written, so allocating one costs no memset and no page faults, and a copy written only
// where the source is not zero leaves the rest of the copy untouched too.
#pragma once

#include <cstddef>

namespace darkscope {

// `bytes` of zero memory, page-aligned (so at least 64-byte aligned). Throws std::bad_alloc.
void* allocate_zeroed_pages(std::size_t bytes);
void free_zeroed_pages(void* p, std::size_t bytes);

// Copies `src` to `dst` (both `bytes` long), which must be zero (as allocate_zeroed_pages gives
// it): only the pages of `src` holding a non-zero byte are written, so the result equals a
// memcpy and the pages of dst left zero stay untouched. `src` must be private anonymous memory
// (allocate_zeroed_pages, the heap): its pages the process never wrote are not even read.
void copy_nonzero_pages(void* dst, const void* src, std::size_t bytes);

}  // namespace darkscope
