#include "darkscope/json.hpp"

#include <cstdio>

namespace darkscope {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one.
size_t utf8_sequence_length(const std::string& s, size_t i) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    size_t n = c >= 0xf0 && c <= 0xf4   ? 4
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xc2 && c < 0xe0  ? 2
                                        : 0;
    if (n == 0 || i + n > s.size()) {
        return 0;
    }
    for (size_t k = 1; k < n; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) {
            return 0;
        }
    }
    unsigned char c1 = byte(i + 1);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
        (c == 0xf4 && c1 >= 0x90)) {
        return 0;  // overlong, surrogate or beyond U+10FFFF
    }
    return n;
}

void append_u(std::string& out, unsigned unit) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\u%04x", unit);
    out += buf;
}

// The code point of the valid n-byte UTF-8 sequence at s[i].
unsigned code_point(const std::string& s, size_t i, size_t n) {
    auto byte = [&](size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(s[k])); };
    unsigned cp = byte(i) & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
    for (size_t k = 1; k < n; ++k)
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    return cp;
}

std::string escape(const std::string& s, bool ascii) {
    std::string out;
    out.reserve(s.size() + 2);
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else if (c >= 0x80) {
            size_t n = utf8_sequence_length(s, i);
            if (n == 0) {
                out += "\\ufffd";  // not UTF-8: keep the JSON valid
                ++i;
                continue;
            }
            if (!ascii) {
                out.append(s, i, n);
            } else if (unsigned cp = code_point(s, i, n); cp < 0x10000) {
                append_u(out, cp);
            } else {
                append_u(out, 0xd800 + ((cp - 0x10000) >> 10));
                append_u(out, 0xdc00 + ((cp - 0x10000) & 0x3ff));
            }
            i += n;
            continue;
        } else {
            out += static_cast<char>(c);
        }
        ++i;
    }
    return out;
}

}  // namespace

std::string json_escape(const std::string& s) {
    return escape(s, false);
}

std::string json_escape_ascii(const std::string& s) {
    return escape(s, true);
}

}  // namespace darkscope
