// Sketches serialized by darkscope's own BasicHyperLogLog, with the counts it gives them and
// their unions, for test_hll_merge.py to hold scripts/darkscope_hll.py to: one JSON object per
// case on stdout, {"name", "sketches": [hex of serialize()], "union": C++'s count of the union},
// then the hashes darkscope gives source addresses: {"name": "hashes", "v4": [[host-order
// address, hash as text]], "v6": [[16 bytes in hex, hash as text]]}.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "darkscope/hash.hpp"
#include "darkscope/hll.hpp"

namespace ds = darkscope;

namespace {

// splitmix64: mixed 64-bit hashes, as hash.hpp feeds the sketches.
uint64_t hash_of(uint64_t i) {
    uint64_t z = i + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

template <typename Sketch>
std::string hex_of(const Sketch& s) {
    std::vector<uint8_t> bytes;
    s.serialize(bytes);
    std::string out;
    char buf[3];
    for (uint8_t b : bytes) {
        std::snprintf(buf, sizeof buf, "%02x", b);
        out += buf;
    }
    return out;
}

template <typename Sketch>
void fill(Sketch& s, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; ++i)
        s.add_hash(hash_of(i));
}

void emit(const char* name, const std::vector<std::string>& sketches, uint64_t count) {
    std::printf("{\"name\": \"%s\", \"sketches\": [", name);
    for (size_t i = 0; i < sketches.size(); ++i)
        std::printf("%s\"%s\"", i ? ", " : "", sketches[i].c_str());
    std::printf("], \"union\": %llu}\n", static_cast<unsigned long long>(count));
}

}  // namespace

int main() {
    {  // Two sparse sketches of P = 14 that overlap: the union is exact.
        ds::HyperLogLog a, b, u;
        fill(a, 0, 700);
        fill(b, 400, 1000);
        u.merge(a);
        u.merge(b);
        emit("sparse overlap", {hex_of(a), hex_of(b)}, u.estimate());
    }
    {  // Two dense sketches of P = 14 that overlap.
        ds::HyperLogLog a, b, u;
        fill(a, 0, 60000);
        fill(b, 30000, 90000);
        u.merge(a);
        u.merge(b);
        emit("dense overlap", {hex_of(a), hex_of(b)}, u.estimate());
    }
    {  // A dense P = 16 (a period's total) folded to a dense P = 14, and a sparse P = 8.
        ds::PreciseHyperLogLog total;
        ds::HyperLogLog sensor, u;
        ds::TinyHyperLogLog few;
        fill(total, 0, 200000);
        fill(sensor, 150000, 260000);
        fill(few, 259990, 260020);
        u.fold_from(total);
        u.merge(sensor);
        few.for_each_hash([&](uint64_t h) { u.add_hash(h); });
        emit("mixed precisions", {hex_of(total), hex_of(sensor), hex_of(few)}, u.estimate());
    }
    {  // A degraded P = 8 sketch (dense) with a sparse P = 14 one.
        ds::TinyHyperLogLog degraded, u;
        ds::HyperLogLog sparse;
        fill(degraded, 0, 5000);
        fill(sparse, 4900, 5600);
        u.merge(degraded);
        sparse.for_each_hash([&](uint64_t h) { u.add_hash(h); });
        emit("degraded", {hex_of(degraded), hex_of(sparse)}, u.estimate());
    }
    {  // One dense P = 16 sketch alone: the estimator itself.
        ds::PreciseHyperLogLog a;
        fill(a, 0, 1000000);
        emit("precise alone", {hex_of(a)}, a.estimate());
    }
    {  // Source hashes (hash_address), which the fleet report computes for tuple sources.
        std::printf("{\"name\": \"hashes\", \"v4\": [");
        for (uint64_t i = 0; i < 5; ++i) {
            ds::IpAddress a{};
            a.v4 = static_cast<uint32_t>(hash_of(i));
            std::printf("%s[%u, \"%llu\"]", i ? ", " : "", a.v4,
                        static_cast<unsigned long long>(ds::hash_address(a, 4)));
        }
        std::printf("], \"v6\": [");
        for (uint64_t i = 0; i < 5; ++i) {
            ds::IpAddress a{};
            for (unsigned b = 0; b < 16; ++b)
                a.v6[b] = static_cast<uint8_t>(hash_of(i * 16 + b));
            std::string hex;
            char buf[3];
            for (unsigned b = 0; b < 16; ++b) {
                std::snprintf(buf, sizeof buf, "%02x", a.v6[b]);
                hex += buf;
            }
            std::printf("%s[\"%s\", \"%llu\"]", i ? ", " : "", hex.c_str(),
                        static_cast<unsigned long long>(ds::hash_address(a, 6)));
        }
        std::printf("]}\n");
    }
    return 0;
}
