// HyperLogLog unique counters, fed with the per-packet hash of darkscope/hash.hpp.
//
// BasicHyperLogLog<P> has 2^P one-byte registers held inline (no pointer, no allocation: the
// object is trivially copyable and can live in a per-core table, on hugepages or in a snapshot).
// It starts in an exact sparse mode that keeps the distinct 64-bit hashes themselves in the same
// bytes the registers will later use; when they no longer fit it turns dense once.
//
//   precision  registers  object size  exact (sparse) up to  relative standard error (dense)
//   16         65536      65600 B      4096 distinct         0.41 %   (PreciseHyperLogLog)
//   14         16384      16448 B      1024 distinct         0.81 %   (HyperLogLog)
//   12         4096       4160 B       256 distinct          1.63 %   (SmallHyperLogLog)
//   10         1024       1088 B       64 distinct           3.25 %
//   8          256        264 B        32 distinct           6.50 %   (TinyHyperLogLog)
//   7          128        136 B        16 distinct           9.19 %
// Standard error is 1.04 / sqrt(2^P). The estimator is Ertl's improved raw estimator ("New
// cardinality estimation algorithms for HyperLogLog sketches", 2017, algorithm 6), which has no
// bias hole between the linear-counting and the raw HyperLogLog ranges and needs no empirical
// bias tables, so the error above holds from the end of the sparse range up to far past 10^9
// (registers hold ranks up to 65 - P, from 64-bit hashes).
//
// What "within 2 %" means. The error is a random variable of the hash, roughly normal. With
// P = 14, 2 % is 2.5 standard errors: any one cardinality is within 2 % with probability 98.6 %,
// but following one stream from 1 to 10^8 and checking it at 400 points, the worst point went
// past 2 % in 14 of 40 streams (worst 3.0 %). With P = 16 (PreciseHyperLogLog), 2 % is 4.9
// standard errors: in the same 40 x 400 checks the worst point was 1.48 %. So the windows whose
// unique counts are reported against the 2 % promise (total, sensor, hour, day) should use
// P = 16; P = 14 suits per-key tables where 0.8 % typical error is enough.
//
// The sparse mode is exact up to collisions of 64-bit hashes (none for IPv4 sources:
// their hash is a bijection).
//
// Threading: single writer. A sketch is written by one core only; other cores read it only
// after the writer has handed it over (the epoch flip of the worker tables).
#pragma once

#include <algorithm>
#include <cstddef>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

namespace darkscope {

namespace hll_detail {
// Ertl's improved estimator from a histogram of register values: histogram[k] is the number of
// registers holding k, for k = 0 .. q + 1 with q = 64 - precision.
double ertl_estimate(const uint32_t* histogram, unsigned precision);
// 1.04 / sqrt(2^precision)
double standard_error(unsigned precision);
}  // namespace hll_detail

template <unsigned P>
class BasicHyperLogLog {
    static_assert(P >= 4 && P <= 16, "precision out of the supported 4..16");

  public:
    static constexpr unsigned kPrecision = P;
    static constexpr uint32_t kRegisters = 1u << P;
    static constexpr uint8_t kMaxRank = static_cast<uint8_t>(64 - P + 1);
    // The sparse mode keeps whole 64-bit hashes in the register bytes.
    static constexpr uint32_t kSparseSlots = kRegisters / 8;
    // Large sketches use an open-addressed hash set (load at most 1/2, 0 marks an empty slot);
    // small ones an unsorted array scanned linearly, which is as fast at that size and can be
    // cleared in O(1) (what a heavy-hitter entry taken over by a new source needs).
    static constexpr bool kSparseHashed = kSparseSlots > 64;
    static constexpr uint32_t kSparseLimit = kSparseHashed ? kSparseSlots / 2 : kSparseSlots;
    // Hashed-sparse mode marks the 64-byte lines of slots that hold a hash, so that reading or
    // clearing a sketch of a few hashes touches their lines, not the whole table (16 KiB for
    // P = 14): an interval's and a window's many nearly empty sketches are read at every close.
    static constexpr uint32_t kSlotLines = kSparseHashed ? kSparseSlots / 8 : 0;
    static constexpr uint32_t kLineMaskWords = (kSlotLines + 63) / 64;

    BasicHyperLogLog() {
        std::memset(words_, 0, sizeof words_);
        if constexpr (kSparseHashed) {
            line_mask_.fill(0);
        }
        dense_ = true;  // so that clear() below empties every word
        clear();
    }

    // Per packet. No allocation; the one switch to dense mode is marked unlikely.
    void add_hash(uint64_t h) {
        if (dense_) [[likely]] {
            add_dense(h);
        } else {
            add_sparse(h);
        }
    }

    // The line add_hash(h) will touch: its register, or while sparse its slot (same line).
    void prefetch(uint64_t h) const {
        __builtin_prefetch(reinterpret_cast<const uint8_t*>(words_) + (h >> (64 - P)), 0);
    }

    // Exact while sparse; otherwise Ertl's estimator over the registers (tens of microseconds
    // for P = 14: not for the per-packet path).
    uint64_t estimate() const;

    // Union: the result estimates the number of distinct hashes added to either sketch.
    void merge(const BasicHyperLogLog& other);

    // Back to an empty sparse sketch. O(1) for array-sparse sizes; for hashed-sparse ones the
    // lines holding hashes are zeroed (all the registers when dense).
    void clear() {
        if constexpr (kSparseHashed) {
            if (dense_) {
                std::memset(words_, 0, sizeof words_);
            } else {
                for_each_slot_line([&](uint32_t line) {
                    std::memset(&words_[line * 8], 0, 8 * sizeof(uint64_t));
                });
            }
            line_mask_.fill(0);
        }
        sparse_count_ = 0;
        dense_ = false;
        sparse_has_zero_ = false;
    }

    bool is_sparse() const { return !dense_; }
    bool empty() const { return !dense_ && sparse_count_ == 0; }
    // Sparse mode: whether `h` is one of the hashes held, and whether one more distinct hash
    // would turn the sketch dense.
    bool sparse_full() const { return !dense_ && sparse_count_ >= kSparseLimit; }
    bool sparse_contains(uint64_t h) const;
    // Calls f(hash) for every hash held (sparse mode only).
    template <typename F>
    void for_each_hash(F&& f) const {
        for_each_sparse(f);
    }

    // Union with a more precise sketch, folded down to this precision: register i of the
    // precise sketch covers hashes whose top Q bits equal i >> (Q - P); their rank here follows
    // from the Q - P index bits dropped (or, when those are all zero, from the precise rank).
    // The result equals what adding the precise sketch's hashes here would have given.
    template <unsigned Q>
    void fold_from(const BasicHyperLogLog<Q>& precise);
    // Bytes this sketch occupies; all of it is inline.
    static constexpr size_t memory_bytes() { return sizeof(BasicHyperLogLog); }
    static double standard_error() { return hll_detail::standard_error(P); }

    // Appends a self-describing little-endian encoding: "DH", version 1, precision, mode, then
    // (sparse) a u32 count and the sorted u64 hashes or (dense) the 2^P registers.
    void serialize(std::vector<uint8_t>& out) const;
    // Replaces this sketch with the encoding in `in`, which must be exactly one encoding of the
    // same precision. Returns false (and leaves the sketch empty) on anything malformed.
    bool deserialize(std::span<const uint8_t> in);

    // Register value (dense mode) for tests and diagnostics.
    uint8_t register_at(uint32_t index) const { return registers()[index]; }

  private:
    uint8_t* registers() { return reinterpret_cast<uint8_t*>(words_); }
    const uint8_t* registers() const { return reinterpret_cast<const uint8_t*>(words_); }

    void add_dense(uint64_t h) {
        const uint32_t index = static_cast<uint32_t>(h >> (64 - P));
        // The guard bit caps the rank at 64 - P + 1 when the remaining bits are all zero.
        const uint64_t rest = (h << P) | (uint64_t{1} << (P - 1));
        const uint8_t rank = static_cast<uint8_t>(__builtin_clzll(rest) + 1);
        uint8_t& reg = registers()[index];
        reg = std::max(reg, rank);
    }

    static uint32_t sparse_slot(uint64_t h) {
        // The top bits, as the dense register index: slot h sits in the cache line that register
        // h would, so prefetch(h) is right in either mode without reading the mode (the sketch's
        // header may not be cached yet). Hashes of one sketch sharing their top bits would skew
        // the dense registers just as much: every hash fed here is fully mixed (hash.hpp).
        return static_cast<uint32_t>(h >> (64 - (P - 3)));
    }

    void add_sparse(uint64_t h);
    void to_dense();
    // Calls f(line) for every line of slots marked as holding a hash (hashed-sparse mode).
    template <typename F>
    void for_each_slot_line(F&& f) const {
        for (uint32_t w = 0; w < kLineMaskWords; ++w) {
            for (uint64_t bits = line_mask_[w]; bits != 0; bits &= bits - 1) {
                f(w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits)));
            }
        }
    }
    // Calls f(hash) for every hash held in sparse mode.
    template <typename F>
    void for_each_sparse(F&& f) const;

    template <unsigned>
    friend class BasicHyperLogLog;

    // The mode comes first: a small sketch's mode, count and first hashes share a cache line,
    // so a sparse add of a key with few sources touches one line.
    uint32_t sparse_count_;  // distinct hashes held while sparse (the zero hash included)
    bool dense_;
    bool sparse_has_zero_;  // hashed-sparse mode: 0 marks empty slots, so hash 0 is a flag
    // Hashed-sparse mode: bit i set when slot line i (slots 8i .. 8i+7) may hold a hash. In the
    // header's line, which an insert writes anyway (sparse_count_).
    struct NoLineMask {};
    [[no_unique_address]] std::conditional_t<kSparseHashed, std::array<uint64_t, kLineMaskWords>,
                                             NoLineMask>
        line_mask_;
    // Register bytes in dense mode, the sparse hashes before that.
    alignas(kRegisters >= 1024 ? 64 : 8) uint64_t words_[kSparseSlots];
};

using PreciseHyperLogLog = BasicHyperLogLog<16>;
using HyperLogLog = BasicHyperLogLog<14>;
using SmallHyperLogLog = BasicHyperLogLog<12>;
using TinyHyperLogLog = BasicHyperLogLog<8>;

// ---- implementation ----

template <unsigned P>
void BasicHyperLogLog<P>::add_sparse(uint64_t h) {
    if constexpr (kSparseHashed) {
        if (h == 0) [[unlikely]] {
            if (sparse_has_zero_) {
                return;
            }
            if (sparse_count_ >= kSparseLimit) {
                to_dense();
                add_dense(h);
                return;
            }
            sparse_has_zero_ = true;
            ++sparse_count_;
            return;
        }
        constexpr uint32_t mask = kSparseSlots - 1;
        uint32_t slot = sparse_slot(h);
        while (true) {
            const uint64_t held = words_[slot];
            if (held == h) {
                return;
            }
            if (held == 0) {
                break;
            }
            slot = (slot + 1) & mask;
        }
        if (sparse_count_ >= kSparseLimit) [[unlikely]] {
            to_dense();
            add_dense(h);
            return;
        }
        words_[slot] = h;
        line_mask_[slot / 512] |= uint64_t{1} << (slot / 8 % 64);
        ++sparse_count_;
    } else {
        // Only the filled slots are read: a per-key sketch in a large table usually holds a few
        // hashes, and touching its first cache line instead of all four is what keeps the
        // per-packet cost of the bounded tables down.
        for (uint32_t i = 0; i < sparse_count_; ++i) {
            if (words_[i] == h)
                return;
        }
        if (sparse_count_ >= kSparseLimit) [[unlikely]] {
            to_dense();
            add_dense(h);
            return;
        }
        words_[sparse_count_++] = h;
    }
}

template <unsigned P>
bool BasicHyperLogLog<P>::sparse_contains(uint64_t h) const {
    if (dense_)
        return false;
    if constexpr (kSparseHashed) {
        if (h == 0)
            return sparse_has_zero_;
        constexpr uint32_t mask = kSparseSlots - 1;
        for (uint32_t slot = sparse_slot(h);; slot = (slot + 1) & mask) {
            if (words_[slot] == h)
                return true;
            if (words_[slot] == 0)
                return false;
        }
    } else {
        for (uint32_t i = 0; i < sparse_count_; ++i)
            if (words_[i] == h)
                return true;
        return false;
    }
}

template <unsigned P>
template <unsigned Q>
void BasicHyperLogLog<P>::fold_from(const BasicHyperLogLog<Q>& precise) {
    static_assert(Q > P, "fold_from takes a more precise sketch");
    if (!precise.dense_) {
        precise.for_each_sparse([&](uint64_t h) { add_hash(h); });
        return;
    }
    if (!dense_)
        to_dense();
    constexpr unsigned dropped = Q - P;
    constexpr uint32_t low_mask = (1u << dropped) - 1;
    uint8_t* mine = registers();
    const uint8_t* theirs = precise.registers();
    for (uint32_t i = 0; i < BasicHyperLogLog<Q>::kRegisters; ++i) {
        const uint8_t r = theirs[i];
        if (r == 0)
            continue;
        const uint32_t low = i & low_mask;
        // Leading zeros of the dropped bits, plus one; all zero: they all count, then r.
        const uint8_t rank = low != 0
                                 ? static_cast<uint8_t>(dropped - (32 - __builtin_clz(low)) + 1)
                                 : static_cast<uint8_t>(dropped + r);
        uint8_t& reg = mine[i >> dropped];
        reg = std::max(reg, rank);
    }
}

template <unsigned P>
template <typename F>
void BasicHyperLogLog<P>::for_each_sparse(F&& f) const {
    if constexpr (kSparseHashed) {
        if (sparse_has_zero_) {
            f(uint64_t{0});
        }
        for_each_slot_line([&](uint32_t line) {
            for (uint32_t i = line * 8; i < line * 8 + 8; ++i) {
                if (words_[i] != 0) {
                    f(words_[i]);
                }
            }
        });
    } else {
        for (uint32_t i = 0; i < sparse_count_; ++i) {
            f(words_[i]);
        }
    }
}

template <unsigned P>
void BasicHyperLogLog<P>::to_dense() {
    // At most kSparseLimit hashes: 8 KiB of stack for P = 14, 32 KiB for P = 16.
    uint64_t held[kSparseLimit];
    uint32_t n = 0;
    for_each_sparse([&](uint64_t h) { held[n++] = h; });
    std::memset(words_, 0, sizeof words_);
    if constexpr (kSparseHashed) {
        line_mask_.fill(0);
    }
    dense_ = true;
    sparse_count_ = 0;
    sparse_has_zero_ = false;
    for (uint32_t i = 0; i < n; ++i) {
        add_dense(held[i]);
    }
}

template <unsigned P>
uint64_t BasicHyperLogLog<P>::estimate() const {
    if (!dense_) {
        return sparse_count_;
    }
    uint32_t histogram[66] = {};
    const uint8_t* regs = registers();
    for (uint32_t i = 0; i < kRegisters; ++i) {
        ++histogram[regs[i]];
    }
    const double e = hll_detail::ertl_estimate(histogram, P);
    return static_cast<uint64_t>(e + 0.5);
}

template <unsigned P>
void BasicHyperLogLog<P>::merge(const BasicHyperLogLog& other) {
    if (&other == this) {
        return;
    }
    if (!other.dense_) {
        other.for_each_sparse([&](uint64_t h) { add_hash(h); });
        return;
    }
    if (!dense_) {
        to_dense();
    }
    uint8_t* mine = registers();
    const uint8_t* theirs = other.registers();
    for (uint32_t i = 0; i < kRegisters; ++i) {
        mine[i] = std::max(mine[i], theirs[i]);
    }
}

namespace hll_detail {
inline void put_u32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}
inline void put_u64(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}
inline uint64_t get_le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
        v |= uint64_t{p[i]} << (8 * i);
    }
    return v;
}
inline constexpr uint8_t kMagic0 = 'D';
inline constexpr uint8_t kMagic1 = 'H';
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 5;
}  // namespace hll_detail

template <unsigned P>
void BasicHyperLogLog<P>::serialize(std::vector<uint8_t>& out) const {
    out.push_back(hll_detail::kMagic0);
    out.push_back(hll_detail::kMagic1);
    out.push_back(hll_detail::kVersion);
    out.push_back(static_cast<uint8_t>(P));
    out.push_back(dense_ ? 1 : 0);
    if (dense_) {
        const uint8_t* regs = registers();
        out.insert(out.end(), regs, regs + kRegisters);
        return;
    }
    // Sorted so that equal sets encode to equal bytes.
    std::vector<uint64_t> hashes;
    hashes.reserve(sparse_count_);
    for_each_sparse([&](uint64_t h) { hashes.push_back(h); });
    std::sort(hashes.begin(), hashes.end());
    hll_detail::put_u32(out, static_cast<uint32_t>(hashes.size()));
    for (uint64_t h : hashes) {
        hll_detail::put_u64(out, h);
    }
}

template <unsigned P>
bool BasicHyperLogLog<P>::deserialize(std::span<const uint8_t> in) {
    clear();
    if (in.size() < hll_detail::kHeaderBytes || in[0] != hll_detail::kMagic0 ||
        in[1] != hll_detail::kMagic1 || in[2] != hll_detail::kVersion || in[3] != P || in[4] > 1) {
        return false;
    }
    const uint8_t* body = in.data() + hll_detail::kHeaderBytes;
    const size_t body_size = in.size() - hll_detail::kHeaderBytes;
    if (in[4] == 1) {
        if (body_size != kRegisters) {
            return false;
        }
        for (uint32_t i = 0; i < kRegisters; ++i) {
            if (body[i] > kMaxRank) {
                return false;
            }
        }
        std::memcpy(words_, body, kRegisters);
        dense_ = true;
        return true;
    }
    if (body_size < 4) {
        return false;
    }
    const uint64_t count = hll_detail::get_le(body, 4);
    if (count > kSparseLimit || body_size != 4 + count * 8) {
        return false;
    }
    for (uint64_t i = 0; i < count; ++i) {
        add_hash(hll_detail::get_le(body + 4 + i * 8, 8));
    }
    if (sparse_count_ != count) {  // duplicates: not something serialize() writes
        clear();
        return false;
    }
    return true;
}

}  // namespace darkscope
