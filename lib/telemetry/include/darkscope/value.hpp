// Value: a small JSON-like tree. Every view is built once as a Value and then rendered either
// into DPDK's rte_tel_data (the socket) or into JSON text (the offline summary), so the two can
// never disagree.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "darkscope/json.hpp"

namespace darkscope {

struct Value;
using Dict = std::vector<std::pair<std::string, Value>>;
using Array = std::vector<Value>;

struct Value {
    std::variant<std::monostate, uint64_t, int64_t, std::string, Dict, Array> v;

    Value() = default;
    Value(uint64_t x) : v(x) {}
    Value(int64_t x) : v(x) {}
    Value(unsigned x) : v(uint64_t{x}) {}
    Value(int x) : v(int64_t{x}) {}
    Value(std::string s) : v(std::move(s)) {}
    Value(const char* s) : v(std::string(s)) {}
    Value(Dict d) : v(std::move(d)) {}
    Value(Array a) : v(std::move(a)) {}

    bool is_dict() const { return std::holds_alternative<Dict>(v); }
    bool is_array() const { return std::holds_alternative<Array>(v); }
    const Dict& dict() const { return std::get<Dict>(v); }
    const Array& array() const { return std::get<Array>(v); }
};

std::string to_json(const Value& value, int indent = -1);

// DPDK 22.11's telemetry cannot put a dict inside an array, so every array of dicts is answered
// as a dict keyed by rank ("1", "2", ...) in list order. The summary file uses the same shape so
// that it holds exactly what the socket answers.
Value telemetry_shape(const Value& value);

}  // namespace darkscope
