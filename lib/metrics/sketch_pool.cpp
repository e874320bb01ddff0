#include "darkscope/sketch_pool.hpp"

#include <atomic>
#include <new>
#include <type_traits>

namespace darkscope {

// Constructing each sketch wrote 16 KiB apiece: 8 MiB of page faults and memset a pool, at
// every start, for sketches an interval rarely takes.
static_assert(std::is_trivially_copyable_v<SketchPool::Sketch> &&
                  std::is_trivially_destructible_v<SketchPool::Sketch>,
              "a sketch is an implicit-lifetime type: zero storage holds empty sketches");

SketchPool::SketchPool(Sketch* storage, uint32_t capacity)
    : external_(storage), capacity_(capacity) {}

SketchPool::SketchPool(const SketchPool& other)
    : capacity_(other.capacity_), used_(other.used_), refused_(other.refused_) {
    owned_.reserve(used_);
    for (uint32_t h = 1; h <= used_; ++h) {
        if (other.external_ != nullptr)
            owned_.push_back(std::make_shared<Sketch>(other.at(h)));
        else
            owned_.push_back(other.owned_[h - 1]);
    }
}

// Only the pool's owner writes its sketches or takes copies of it, so a count of 1 seen here
// stays 1; the fence orders this write after the last reads of a copy that just let go.
SketchPool::Sketch& SketchPool::unshared(std::shared_ptr<Sketch>& sketch) {
    if (sketch.use_count() != 1)
        sketch = std::make_shared<Sketch>(*sketch);
    else
        std::atomic_thread_fence(std::memory_order_acquire);
    return *sketch;
}

uint32_t SketchPool::acquire() {
    if (used_ >= capacity_) {
        ++refused_;
        return 0;
    }
    if (external_ == nullptr) {
        if (owned_.size() <= used_)
            owned_.push_back(std::make_shared<Sketch>());
        else if (owned_[used_] == nullptr)
            owned_[used_] = std::make_shared<Sketch>();
    }
    return ++used_;
}

void SketchPool::clear() {
    for (uint32_t h = 1; h <= used_; ++h) {
        if (external_ == nullptr && owned_[h - 1].use_count() != 1)
            owned_[h - 1].reset();  // a copy still reads it: a fresh one when next taken
        else
            at(h).clear();
    }
    used_ = 0;
    refused_ = 0;
}

bool PooledUniques::promote(uint64_t h, SketchPool& pool) {
    if (inline_sketch.sparse_contains(h))
        return true;  // already counted: nothing changes
    if (!take_pooled(&pool))
        return false;
    pool.at(handle).add_hash(h);
    return true;
}

bool PooledUniques::take_pooled(SketchPool* pool) {
    if (pool == nullptr || !inline_sketch.is_sparse())
        return false;
    const uint32_t got = pool->acquire();
    if (got == 0)
        return false;
    SketchPool::Sketch& precise = pool->at(got);
    inline_sketch.for_each_hash([&](uint64_t x) { precise.add_hash(x); });
    inline_sketch.clear();
    handle = got;
    return true;
}

void PooledUniques::merge(const PooledUniques& other, SketchPool* pool,
                          const SketchPool* other_pool) {
    if (other.handle != 0) {
        const SketchPool::Sketch& theirs = other_pool->at(other.handle);
        if (handle == 0 && !take_pooled(pool)) {
            inline_sketch.fold_from(theirs);  // no pooled sketch left: degrade to P = 8
            return;
        }
        pool->at(handle).merge(theirs);
        return;
    }
    if (other.inline_sketch.is_sparse()) {
        other.inline_sketch.for_each_hash([&](uint64_t x) { add_hash(x, pool); });
        return;
    }
    // A degraded input: the union can only be as precise as it.
    if (handle != 0) {
        TinyHyperLogLog folded;
        folded.fold_from(pool->at(handle));
        inline_sketch = folded;
        handle = 0;  // the pooled sketch stays used until the pool is cleared
    }
    inline_sketch.merge(other.inline_sketch);
}

}  // namespace darkscope
