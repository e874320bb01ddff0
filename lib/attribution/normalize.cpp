// Flattening prefix lists into disjoint ranges and back into the fewest prefixes.
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

// ORTC over a binary trie of the disjoint prefixes.
constexpr size_t kMaxCandidates = 16;
template <typename Prefix, typename Address, unsigned kBits>
std::vector<Prefix> compress_any(std::vector<Prefix> disjoint, size_t max_set_entries) {
    struct Node {
        uint32_t child[2] = {0, 0};  // 0: none (the root is node 0 and never a child)
        uint32_t value = 0;          // a leaf's value (input prefix)
        uint32_t set_begin = 0;
        uint32_t set_size = 0;
    };
    std::vector<Node> nodes(1);
    for (const auto& p : disjoint) {
        uint32_t at = 0;
        for (unsigned bit = 0; bit < p.depth; ++bit) {
            const unsigned side = static_cast<unsigned>((p.addr >> (kBits - 1 - bit)) & 1u);
            if (nodes[at].child[side] == 0) {
                nodes[at].child[side] = static_cast<uint32_t>(nodes.size());
                nodes.emplace_back();
            }
            at = nodes[at].child[side];
        }
        nodes[at].value = p.value;
    }
    // Bottom-up (children are created after their parents): candidate sets. A missing child
    // stands for a leaf with value 0 (no input prefix there).
    std::vector<uint32_t> sets;
    const uint32_t zero_set = 0;
    sets.push_back(0);
    std::vector<uint32_t> merged;
    for (size_t n = nodes.size(); n-- > 0;) {
        Node& node = nodes[n];
        if (node.child[0] == 0 && node.child[1] == 0) {
            node.set_begin = static_cast<uint32_t>(sets.size());
            node.set_size = 1;
            sets.push_back(node.value);
            continue;
        }
        uint32_t begin[2];
        uint32_t size[2];
        for (unsigned side = 0; side < 2; ++side) {
            const uint32_t c = node.child[side];
            begin[side] = c == 0 ? zero_set : nodes[c].set_begin;
            size[side] = c == 0 ? 1 : nodes[c].set_size;
        }
        const uint32_t* a = sets.data() + begin[0];
        const uint32_t* b = sets.data() + begin[1];
        merged.clear();
        std::set_intersection(a, a + size[0], b, b + size[1], std::back_inserter(merged));
        if (merged.empty()) {
            std::set_union(a, a + size[0], b, b + size[1], std::back_inserter(merged));
            // Only leaf sets matter for correctness (a leaf gets a route unless it inherits
            // its own value); inner sets only guide the choice. Near the root unions grow to
            // every value in the table, so they are capped: still correct, nearly as small.
            if (merged.size() > kMaxCandidates) {
                merged.resize(kMaxCandidates);
            }
        }
        if (sets.size() + merged.size() > max_set_entries) {
            return disjoint;
        }
        node.set_begin = static_cast<uint32_t>(sets.size());
        node.set_size = static_cast<uint32_t>(merged.size());
        sets.insert(sets.end(), merged.begin(), merged.end());
    }
    // Top-down: keep the inherited value where the candidate set allows it, else emit a route.
    struct Visit {
        uint32_t node;  // UINT32_MAX: a missing child (candidates {0})
        Address addr;
        uint8_t depth;
        uint32_t inherited;
    };
    std::vector<Prefix> routes;
    std::vector<Visit> stack{{0, 0, 0, 0}};
    while (!stack.empty()) {
        const Visit v = stack.back();
        stack.pop_back();
        if (v.node == UINT32_MAX) {
            if (v.inherited != 0) {
                routes.push_back(Prefix{static_cast<decltype(Prefix::addr)>(v.addr), v.depth, 0});
            }
            continue;
        }
        const Node& node = nodes[v.node];
        const uint32_t* set = sets.data() + node.set_begin;
        uint32_t chosen = v.inherited;
        if (!std::binary_search(set, set + node.set_size, v.inherited)) {
            chosen = set[0];
            routes.push_back(Prefix{static_cast<decltype(Prefix::addr)>(v.addr), v.depth, chosen});
        }
        if (node.child[0] == 0 && node.child[1] == 0) {
            continue;
        }
        for (unsigned side = 0; side < 2; ++side) {
            const Address child_addr =
                v.addr | (side == 1 ? Address{1} << (kBits - 1 - v.depth) : Address{0});
            const uint32_t c = node.child[side];
            stack.push_back(Visit{c == 0 ? UINT32_MAX : c, child_addr,
                                  static_cast<uint8_t>(v.depth + 1), chosen});
        }
    }
    std::sort(routes.begin(), routes.end(), [](const Prefix& x, const Prefix& y) {
        return x.addr != y.addr ? x.addr < y.addr : x.depth < y.depth;
    });
    return routes;
}

}  // namespace

std::vector<Prefix4> compress(std::vector<Prefix4> disjoint, size_t max_set_entries) {
    return compress_any<Prefix4, uint64_t, 32>(std::move(disjoint), max_set_entries);
}

std::vector<Prefix6> compress(std::vector<Prefix6> disjoint, size_t max_set_entries) {
    return compress_any<Prefix6, uint128, 128>(std::move(disjoint), max_set_entries);
}

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
