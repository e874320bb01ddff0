#include "darkscope/value.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace darkscope {

namespace {

void write(const Value& value, int indent, int depth, std::string& out) {
    auto newline = [&](int d) {
        if (indent < 0)
            return;
        out += '\n';
        out.append(static_cast<size_t>(indent * d), ' ');
    };
    if (auto* u = std::get_if<uint64_t>(&value.v)) {
        out += std::to_string(*u);
    } else if (auto* i = std::get_if<int64_t>(&value.v)) {
        out += std::to_string(*i);
    } else if (auto* s = std::get_if<std::string>(&value.v)) {
        out += '"' + json_escape(*s) + '"';
    } else if (auto* d = std::get_if<Dict>(&value.v)) {
        out += '{';
        bool first = true;
        for (const auto& [k, item] : *d) {
            if (!first)
                out += ',';
            first = false;
            newline(depth + 1);
            out += '"' + json_escape(k) + "\":";
            if (indent >= 0)
                out += ' ';
            write(item, indent, depth + 1, out);
        }
        if (!d->empty())
            newline(depth);
        out += '}';
    } else if (auto* a = std::get_if<Array>(&value.v)) {
        out += '[';
        bool first = true;
        for (const auto& item : *a) {
            if (!first)
                out += ',';
            first = false;
            newline(depth + 1);
            write(item, indent, depth + 1, out);
        }
        if (!a->empty())
            newline(depth);
        out += ']';
    } else {
        out += "null";
    }
}

}  // namespace

Value telemetry_shape(const Value& value) {
    if (value.is_dict()) {
        Dict out;
        for (const auto& [k, item] : value.dict())
            out.emplace_back(k, telemetry_shape(item));
        return out;
    }
    if (value.is_array()) {
        const Array& a = value.array();
        bool has_containers = false;
        for (const auto& item : a)
            has_containers |= item.is_dict() || item.is_array();
        if (!has_containers)
            return value;
        Dict out;
        for (size_t i = 0; i < a.size(); ++i)
            out.emplace_back(std::to_string(i + 1), telemetry_shape(a[i]));
        return out;
    }
    return value;
}

namespace {

// Bytes one string byte takes in DPDK 22.11's JSON: quote and backslash are escaped, \n \r \t
// too, other control characters are dropped. Bytes from 0x80 reach its table of control
// characters through a negative index (a signed char) and come out as a backslash and whatever
// precedes the table, which is not JSON: telemetry_text() never hands it one.
size_t escaped_bytes(unsigned char c) {
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c >= 0x80)
        return 2;
    return c < 0x20 ? 0 : 1;
}

size_t escaped_bytes(const std::string& s) {
    size_t n = 0;
    for (char c : s)
        n += escaped_bytes(static_cast<unsigned char>(c));
    return n;
}

// Bytes of the escape at text[i] of a json_escape_ascii() text: 1 for a plain character, 2 for
// \n and the like, 6 for \uXXXX, 12 for a surrogate pair (kept whole).
size_t unit_length(const std::string& text, size_t i) {
    if (text[i] != '\\' || i + 1 >= text.size())
        return 1;
    if (text[i + 1] != 'u')
        return 2;
    const bool high =
        i + 5 < text.size() && text[i + 2] == 'd' && text[i + 3] >= '8' && text[i + 3] <= 'b';
    return high ? 12 : 6;
}

}  // namespace

std::string telemetry_text(const std::string& s) {
    const std::string text = json_escape_ascii(s);
    size_t raw = 0, escaped = 0;
    while (raw < text.size()) {
        const size_t n = std::min(unit_length(text, raw), text.size() - raw);
        const size_t e = escaped_bytes(text.substr(raw, n));
        if (raw + n > kTelemetryStringMax || escaped + e > kTelemetryStringMax)
            break;
        raw += n;
        escaped += e;
    }
    return text.substr(0, raw);
}

namespace {

// A scalar as rte_tel_data_add_dict_* holds it: int64 outside the int range as u64 or a string.
Value form_scalar(const Value& v) {
    if (auto* i = std::get_if<int64_t>(&v.v)) {
        if (*i >= INT32_MIN && *i <= INT32_MAX)
            return v;
        if (*i >= 0)
            return static_cast<uint64_t>(*i);
        return std::to_string(*i);
    }
    if (auto* s = std::get_if<std::string>(&v.v))
        return telemetry_text(*s);
    return v;
}

// A container inside a reply may not hold containers itself: nested values become strings.
Value form_flat(const Value& value) {
    if (value.is_dict()) {
        Dict out;
        for (const auto& [k, item] : value.dict()) {
            if (item.is_dict() || item.is_array())
                out.emplace_back(k, telemetry_text(to_json(item)));
            else if (!std::holds_alternative<std::monostate>(item.v))
                out.emplace_back(k, form_scalar(item));
        }
        return out;
    }
    Array out;
    const Array& a = value.array();
    bool strings = !a.empty() && std::holds_alternative<std::string>(a.front().v);
    for (const auto& item : a) {
        if (strings) {
            if (auto* s = std::get_if<std::string>(&item.v))
                out.emplace_back(telemetry_text(*s));
        } else if (auto* u = std::get_if<uint64_t>(&item.v)) {
            out.emplace_back(*u);
        } else if (auto* i = std::get_if<int64_t>(&item.v)) {
            out.emplace_back(static_cast<uint64_t>(*i));
        }
    }
    return out;
}

size_t scalar_bytes(const Value& v) {
    if (auto* u = std::get_if<uint64_t>(&v.v))
        return std::to_string(*u).size();
    if (auto* i = std::get_if<int64_t>(&v.v))
        return std::to_string(*i).size();
    if (auto* s = std::get_if<std::string>(&v.v))
        return 2 + escaped_bytes(*s);
    return 4;  // null
}

size_t json_bytes(const Value& v);

// "name":value
size_t entry_bytes(const std::string& name, const Value& item) {
    return name.size() + 3 + json_bytes(item);
}

size_t json_bytes(const Value& v) {
    if (v.is_dict()) {
        size_t n = 2;  // {} (an empty nested dict is written [], as long)
        for (const auto& [k, item] : v.dict())
            n += entry_bytes(k, item) + 1;
        return v.dict().empty() ? n : n - 1;
    }
    if (v.is_array()) {
        size_t n = 2;
        for (const auto& item : v.array())
            n += json_bytes(item) + 1;
        return v.array().empty() ? n : n - 1;
    }
    return scalar_bytes(v);
}

// The library's dict entry names: [A-Za-z0-9_/], shorter than RTE_TEL_MAX_STRING_LEN.
bool valid_name(const std::string& name) {
    if (name.size() > kTelemetryStringMax)
        return false;
    for (char c : name)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '_' || c == '/'))
            return false;
    return true;
}

std::string entries_problem(const Value& v) {
    if (v.is_dict()) {
        if (v.dict().size() > kTelemetryDictMax)
            return "the reply has " + std::to_string(v.dict().size()) +
                   " dict entries, over the telemetry limit of " +
                   std::to_string(kTelemetryDictMax);
        for (const auto& [k, item] : v.dict()) {
            if (!valid_name(k))
                return "the reply has a name the telemetry library refuses: '" + k + "'";
            if (auto p = entries_problem(item); !p.empty())
                return p;
        }
    } else if (v.is_array() && v.array().size() > kTelemetryArrayMax) {
        return "the reply has " + std::to_string(v.array().size()) +
               " array entries, over the telemetry limit of " + std::to_string(kTelemetryArrayMax);
    }
    return {};
}

}  // namespace

Value telemetry_form(const Value& raw) {
    const Value value = telemetry_shape(raw);
    if (value.is_dict()) {
        Dict out;
        for (const auto& [k, item] : value.dict()) {
            if (item.is_dict() || item.is_array())
                out.emplace_back(k, form_flat(item));
            else if (!std::holds_alternative<std::monostate>(item.v))
                out.emplace_back(k, form_scalar(item));
        }
        return out;
    }
    if (value.is_array()) {
        const Array& a = value.array();
        bool containers = !a.empty() && (a.front().is_dict() || a.front().is_array());
        if (!containers)
            return form_flat(value);
        Array out;
        for (const auto& item : a)
            if (item.is_dict() || item.is_array())
                out.emplace_back(form_flat(item));
        return out;
    }
    if (auto* s = std::get_if<std::string>(&value.v))
        return telemetry_text(*s);
    if (std::holds_alternative<std::monostate>(value.v))
        return Dict{};
    return Dict{{"value", form_scalar(value)}};
}

size_t telemetry_reply_bytes(const std::string& command, const Value& formed) {
    size_t prefix = command.size() + 4;  // {"<command>":
    if (auto* s = std::get_if<std::string>(&formed.v))
        return prefix + s->size() + 3;  // a lone string is written as it is, not escaped
    return prefix + json_bytes(formed) + 1;
}

std::string telemetry_reply_problem(const std::string& command, const Value& formed) {
    if (auto p = entries_problem(formed); !p.empty())
        return p;
    size_t bytes = telemetry_reply_bytes(command, formed);
    if (bytes <= kTelemetryReplyMax)
        return {};
    std::string message = "the reply would take " + std::to_string(bytes) +
                          " bytes, over the telemetry limit of " +
                          std::to_string(kTelemetryReplyMax);
    // Ranked rows ("1", "2", ...): how many fit.
    if (formed.is_dict() && !formed.dict().empty() && formed.dict().front().first == "1") {
        size_t used = command.size() + 4 + 2 + 1, rows = 0;
        for (const auto& [k, item] : formed.dict()) {
            used += entry_bytes(k, item) + (rows == 0 ? 0 : 1);
            if (used > kTelemetryReplyMax)
                break;
            ++rows;
        }
        message += "; " + std::to_string(rows) + " rows fit now, ask for N of at most " +
                   std::to_string(rows);
    }
    return message;
}

std::string to_json(const Value& value, int indent) {
    std::string out;
    write(value, indent, 0, out);
    return out;
}

}  // namespace darkscope
