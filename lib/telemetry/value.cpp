#include "darkscope/value.hpp"

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

std::string to_json(const Value& value, int indent) {
    std::string out;
    write(value, indent, 0, out);
    return out;
}

}  // namespace darkscope
