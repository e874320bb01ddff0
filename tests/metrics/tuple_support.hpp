// A SourceTupleTable on the heap for tests and benchmarks, and one packet added the way the
// worker adds it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/source_tuples.hpp"

namespace darkscope {

struct OwnedTupleTable {
    std::vector<uint8_t> storage;
    std::unique_ptr<SourceTupleTable> table;
    explicit OwnedTupleTable(uint32_t capacity,
                             uint32_t sketches = SourceTupleTable::default_sketches(1u << 21))
        : storage(SourceTupleTable::storage_bytes(capacity, sketches) + 64) {
        void* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) &
                                                ~uintptr_t{63});
        table = std::make_unique<SourceTupleTable>(aligned, capacity, sketches);
    }
    SourceTupleTable& operator*() { return *table; }
    SourceTupleTable* operator->() { return table.get(); }
};

// An IPv4 packet at time now_ns into its tuple, as the worker's stage C does.
inline bool add_to_tuple(SourceTupleTable& tuples, const PacketFacts& f, uint64_t now_ns) {
    const SourceTuple t = SourceTupleTable::tuple_of(f);
    return tuples.add(t, SourceTupleTable::hash_of(t, hash_address(f.src, 4)), f.frame_len,
                      now_ns / 1'000'000'000ull, f.flags, f.dst.v4, hash_address(f.dst, 4));
}

}  // namespace darkscope
