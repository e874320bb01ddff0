// Value: a small JSON-like tree. Every view is built once as a Value and then rendered either
// into DPDK's rte_tel_data (the socket) or into JSON text (the offline summary), so the two can
// never disagree.
#pragma once

#include <cstddef>
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

// DPDK 22.11's telemetry reply limits (rte_telemetry.h, lib/telemetry/telemetry.c). A reply is
// written into one 16 KiB buffer as {"<command>":<value>}; an entry that does not fit is dropped
// without any sign, so darkscope checks the size itself before answering.
inline constexpr size_t kTelemetryReplyMax = 16 * 1024 - 1;  // MAX_OUTPUT_LEN less the NUL
inline constexpr size_t kTelemetryStringMax = 127;           // RTE_TEL_MAX_STRING_LEN less NUL
inline constexpr size_t kTelemetryDictMax = 256;             // RTE_TEL_MAX_DICT_ENTRIES
inline constexpr size_t kTelemetryArrayMax = 512;            // RTE_TEL_MAX_ARRAY_ENTRIES

// A string as a telemetry reply carries it: the body of a JSON string in ASCII
// (json_escape_ascii(): a client recovers the characters with a JSON parser, as
// json.loads('"' + text + '"')), because DPDK 22.11's escaping mangles every byte from 0x80 and
// drops control characters. Bytes that are not UTF-8 become U+FFFD. Cut at a whole escape so
// that DPDK's escaped form takes at most kTelemetryStringMax bytes.
std::string telemetry_text(const std::string& s);

// What fill_tel_data() hands to rte_tel_data for a view, as a Value: telemetry_shape()'s ranked
// lists as dicts, containers below the first level as JSON strings, strings as telemetry_text(),
// int64 as the library holds it, arrays of one scalar type, no empty values. fill_tel_data()
// transcribes it as it is.
Value telemetry_form(const Value& value);

// The bytes DPDK 22.11 writes for a telemetry_form() value answered to `command` (its JSON
// rendering and string escaping), when nothing is dropped.
size_t telemetry_reply_bytes(const std::string& command, const Value& formed);

// Empty when a telemetry_form() value reaches the client whole; otherwise why not (too many
// bytes, dict or array entries, or a name the library refuses). For a reply of ranked rows
// (dict "1", "2", ...) over the byte limit, the message says how many rows would fit.
std::string telemetry_reply_problem(const std::string& command, const Value& formed);

}  // namespace darkscope
