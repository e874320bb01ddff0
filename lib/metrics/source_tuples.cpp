#include "darkscope/source_tuples.hpp"

namespace darkscope {

void count_tuples(CounterSet& t, const SourceTupleTable& tuples) {
    // Tuples sit in random slots of a large table: fetch a few ahead of the one being counted.
    constexpr uint32_t kAhead = 4;
    uint32_t seen = 0;
    const SourceTuple* ring[kAhead] = {};
    auto count_one = [&](const SourceTuple& e) {
        IpAddress src;
        std::memset(&src, 0, sizeof src);
        src.v4 = e.src_v4();
        count_source(t, hash_address(src, 4), e.key(), e.packets, e.bytes);
    };
    tuples.for_each([&](const SourceTuple& e) {
        __builtin_prefetch(&e);
        if (seen >= kAhead)
            count_one(*ring[seen % kAhead]);
        ring[seen % kAhead] = &e;
        ++seen;
    });
    for (uint32_t i = seen > kAhead ? seen - kAhead : 0; i < seen; ++i)
        count_one(*ring[i % kAhead]);
    t.source_tuples += tuples.used();
}

}  // namespace darkscope
