// Flattening prefix lists into disjoint ranges (and back into prefixes).
#include <algorithm>
#include <iterator>
#include <numeric>
#include <vector>

#include "darkscope/geo_source.hpp"

namespace darkscope::geo {

namespace {

template <typename Address, unsigned kBits>
struct Flattener {
    struct Range {
        Address first, last;
        uint32_t value;
    };
    static constexpr Address kMax = kBits == 32 ? Address{0xffffffffu} : ~Address{0};

    std::vector<Range> ranges;
    Address cursor = 0;
    bool exhausted = false;

    void emit(Address last, uint32_t value) {
        if (exhausted || last < cursor) {
            return;
        }
        if (!ranges.empty() && ranges.back().value == value && ranges.back().last + 1 == cursor) {
            ranges.back().last = last;
        } else {
            ranges.push_back(Range{cursor, last, value});
        }
        if (last == kMax) {
            exhausted = true;
        } else {
            cursor = last + 1;
        }
    }

    template <typename Prefix>
    void run(const std::vector<Prefix>& sorted) {
        std::vector<Range> open;  // nested prefixes containing the cursor, outermost first
        for (const auto& p : sorted) {
            const Address first = p.addr;
            const Address last =
                p.depth == 0 ? kMax : first + ((Address{1} << (kBits - p.depth)) - 1);
            while (!open.empty() && open.back().last < first) {
                emit(open.back().last, open.back().value);
                open.pop_back();
            }
            if (!open.empty()) {
                if (first > cursor) {
                    emit(first - 1, open.back().value);
                }
            } else {
                cursor = first;
                exhausted = false;
            }
            cursor = first;
            open.push_back(Range{first, last, p.value});
        }
        while (!open.empty()) {
            emit(open.back().last, open.back().value);
            open.pop_back();
        }
    }
};

template <typename Prefix, typename Address, unsigned kBits>
auto flatten_any(std::vector<Prefix> prefixes) {
    // Stable: for the same network the earlier entry sorts first and the later ones are dropped.
    std::vector<size_t> order(prefixes.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const Prefix& x = prefixes[a];
        const Prefix& y = prefixes[b];
        return x.addr != y.addr ? x.addr < y.addr : x.depth < y.depth;
    });
    std::vector<Prefix> sorted;
    sorted.reserve(prefixes.size());
    for (const size_t i : order) {
        const Prefix& p = prefixes[i];
        if (!sorted.empty() && sorted.back().addr == p.addr && sorted.back().depth == p.depth) {
            continue;
        }
        sorted.push_back(p);
    }
    prefixes = {};
    Flattener<Address, kBits> flat;
    flat.run(sorted);
    return std::move(flat.ranges);
}

}  // namespace

std::vector<Range4> flatten(std::vector<Prefix4> prefixes) {
    std::vector<Range4> out;
    for (const auto& r : flatten_any<Prefix4, uint64_t, 32>(std::move(prefixes))) {
        out.push_back(
            Range4{static_cast<uint32_t>(r.first), static_cast<uint32_t>(r.last), r.value});
    }
    return out;
}

std::vector<Range6> flatten(std::vector<Prefix6> prefixes) {
    std::vector<Range6> out;
    for (const auto& r : flatten_any<Prefix6, uint128, 128>(std::move(prefixes))) {
        out.push_back(Range6{r.first, r.last, r.value});
    }
    return out;
}

std::vector<Prefix4> normalize(std::vector<Prefix4> prefixes) {
    std::vector<Prefix4> out;
    for (const auto& r : flatten(std::move(prefixes))) {
        range_to_prefixes(r.first, r.last, r.value, &out);
    }
    return out;
}

std::vector<Prefix6> normalize(std::vector<Prefix6> prefixes) {
    std::vector<Prefix6> out;
    for (const auto& r : flatten(std::move(prefixes))) {
        range_to_prefixes(r.first, r.last, r.value, &out);
    }
    return out;
}

}  // namespace darkscope::geo
