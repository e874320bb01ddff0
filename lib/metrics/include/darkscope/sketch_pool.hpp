// Unique counts per key of a bounded table, precise where it matters and bounded in memory.
//
// A table may hold thousands of keys (services, ASNs, country x service), most of them seen by a
// handful of sources; a precision-14 HyperLogLog (16 KiB) for each would cost hundreds of MiB
// per table. So a key's unique counter, PooledUniques, starts as a TinyHyperLogLog inline in the
// table slot, which is exact up to 32 distinct hashes. The 33rd distinct hash takes a precise
// sketch (HyperLogLog, P = 14: exact up to 1024, then 0.81 % standard error) from the table
// owner's SketchPool and moves the 32 hashes into it: from then on the key counts within the 2 %
// promise. Only when the pool is exhausted does a key stay in its inline sketch, which turns
// into a P = 8 HyperLogLog (6.5 % standard error): such a key is `degraded`, the pool counts the
// refusal, and /darkscope/stats reports both, so an operator sees when precision was traded
// for the memory bound (and can raise --precise-sketches).
//
// Merging follows the same rule: a precise sketch merged into a key takes a pooled sketch for
// it, or is folded down to P = 8 if none is left (BasicHyperLogLog::fold_from, an exact fold,
// no extra error beyond P = 8's own). A degraded input degrades the result: unions cannot
// recover precision lost upstream.
//
// Threading: like the tables, a pool has one writer. Handles are indices into the pool that
// owns them (1-based; 0 = none), so a table and its pool are copied or cleared together.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "darkscope/hll.hpp"

namespace darkscope {

class SketchPool {
  public:
    using Sketch = HyperLogLog;
    // Capacity of a scratch pool that unions table keys on the control plane (views, stored
    // rows): it holds at most one sketch per aggregate, bounded by the tables themselves.
    static constexpr uint32_t kUnbounded = 0xffffffffu;

    SketchPool() = default;
    // Owned storage, allocated one sketch at a time as keys need them, up to `capacity`
    // (the stats core's windows).
    explicit SketchPool(uint32_t capacity) : capacity_(capacity) {}
    // The caller's storage for exactly `capacity` sketches (a worker's hugepages, or fresh pages
    // offline). It must be all zero, as rte_zmalloc and fresh mappings give it: a zero sketch is
    // an empty one and an implicit-lifetime object, so nothing is written here and a sketch's
    // pages are touched only when a key takes it. The storage must outlive the pool.
    SketchPool(Sketch* storage, uint32_t capacity);
    // A copy of the used sketches (what a published snapshot holds), sharing them with `other`
    // until either writes one: a window's pool is copied at every publish, and most of its
    // sketches (16 KiB each) are not written again before the next.
    SketchPool(const SketchPool& other);
    SketchPool& operator=(const SketchPool&) = delete;

    // A fresh, empty sketch's handle, or 0 when the pool is exhausted (counted as refused).
    uint32_t acquire();
    // For writing: an owned sketch shared with a copy is copied first (on the control plane; a
    // worker's pool has external storage).
    Sketch& at(uint32_t handle) {
        return external_ ? external_[handle - 1] : unshared(owned_[handle - 1]);
    }
    const Sketch& at(uint32_t handle) const {
        return external_ ? external_[handle - 1] : *owned_[handle - 1];
    }
    // Every handle becomes invalid; the used sketches go back to empty. Owned storage is kept.
    void clear();

    uint32_t used() const { return used_; }
    uint32_t capacity() const { return capacity_; }
    uint64_t refused() const { return refused_; }
    // Bytes the caller provides for the external-storage constructor.
    static size_t storage_bytes(uint32_t capacity) { return size_t{capacity} * sizeof(Sketch); }

  private:
    static Sketch& unshared(std::shared_ptr<Sketch>& sketch);

    Sketch* external_ = nullptr;
    // Shared with copies of the pool (copy on write); null once cleared while shared.
    std::vector<std::shared_ptr<Sketch>> owned_;
    uint32_t capacity_ = 0;
    uint32_t used_ = 0;
    uint64_t refused_ = 0;
};

// The unique counter of one key: see the top of this file.
struct PooledUniques {
    uint32_t handle;  // 1-based index into the owner's pool; 0 while inline
    TinyHyperLogLog inline_sketch;

    // Per packet. The pooled case is the common one for busy keys: one register write.
    void add_hash(uint64_t h, SketchPool* pool) {
        if (handle != 0) [[likely]] {
            pool->at(handle).add_hash(h);
            return;
        }
        if (inline_sketch.sparse_full() && pool != nullptr) [[unlikely]] {
            if (promote(h, *pool))
                return;
        }
        inline_sketch.add_hash(h);
    }
    // The lines add_hash(h) will touch (a hint): the pooled sketch's header (its mode) and
    // register or slot, or the inline sketch's first line (mode, count and first hashes). Reads
    // `handle`: call once this line is cached.
    void prefetch(uint64_t h, const SketchPool* pool) const {
        if (handle != 0) {
            __builtin_prefetch(&pool->at(handle), 0);
            pool->at(handle).prefetch(h);
        } else
            __builtin_prefetch(this, 1);
    }
    void merge(const PooledUniques& other, SketchPool* pool, const SketchPool* other_pool);
    uint64_t estimate(const SketchPool* pool) const {
        return handle != 0 ? pool->at(handle).estimate() : inline_sketch.estimate();
    }
    // Counted in an inline P = 8 sketch past its exact range: precision was lost to the bound.
    bool degraded() const { return handle == 0 && !inline_sketch.is_sparse(); }

  private:
    // Takes a pooled sketch for this key and moves the inline hashes (and h) into it; false when
    // the pool is exhausted or `h` is already held (nothing to promote for).
    bool promote(uint64_t h, SketchPool& pool);
    // Same, without a new hash: for merges.
    bool take_pooled(SketchPool* pool);
};

}  // namespace darkscope
