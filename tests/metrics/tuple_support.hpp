// A SourceTupleTable on the heap for tests and benchmarks, and one packet added the way the
// worker adds it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/source_tuples.hpp"

namespace darkscope {

template <typename Table>
struct BasicOwnedTupleTable {
    std::vector<uint8_t> storage;
    std::unique_ptr<Table> table;
    explicit BasicOwnedTupleTable(uint32_t capacity,
                                  uint32_t sketches = Table::default_sketches(1u << 21))
        : storage(Table::storage_bytes(capacity, sketches) + 64) {
        void* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) &
                                                ~uintptr_t{63});
        table = std::make_unique<Table>(aligned, capacity, sketches);
    }
    Table& operator*() { return *table; }
    Table* operator->() { return table.get(); }
};
using OwnedTupleTable = BasicOwnedTupleTable<SourceTupleTable>;
using OwnedTuple6Table = BasicOwnedTupleTable<SourceTuple6Table>;

// An IPv4 packet at time now_ns into its tuple, as the worker's stage C does, with its
// attribution looked up (`source`, which add() sets to the tuple's).
inline TupleAdd tuple_add(SourceTupleTable& tuples, const PacketFacts& f, uint64_t now_ns,
                          SourceAttribution& source) {
    const SourceTupleTable::Key t = SourceTupleTable::key_of(f);
    return tuples.add(t, SourceTupleTable::hash_of(t, hash_address(f.src, 4)), f.frame_len,
                      now_ns / 1'000'000'000ull, f.flags, f.dst.v4, hash_address(f.dst, 4), source);
}

// The same for an IPv6 packet: its destination is held as its hash.
inline TupleAdd tuple_add(SourceTuple6Table& tuples, const PacketFacts& f, uint64_t now_ns,
                          SourceAttribution& source) {
    const SourceTuple6Table::Key t = SourceTuple6Table::key_of(f);
    const uint64_t dst_hash = hash_address(f.dst, 6);
    return tuples.add(t, SourceTuple6Table::hash_of(t, hash_address(f.src, 6)), f.frame_len,
                      now_ns / 1'000'000'000ull, f.flags, dst_hash, dst_hash, source);
}

// Either family, with the packet's own attribution.
template <typename Table>
TupleAdd tuple_add(Table& tuples, const PacketFacts& f, uint64_t now_ns) {
    SourceAttribution source = attribution_of(f);
    return tuple_add(tuples, f, now_ns, source);
}

// Whether the table took the packet (false: a spill, which the caller counts itself).
template <typename Table>
bool add_to_tuple(Table& tuples, const PacketFacts& f, uint64_t now_ns) {
    return tuple_add(tuples, f, now_ns) != TupleAdd::refused;
}

}  // namespace darkscope
