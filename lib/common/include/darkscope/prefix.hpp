// IP prefixes as written in the configuration ("192.0.2.0/24", "2001:db8::/32").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "darkscope/ip_address.hpp"

namespace darkscope {

struct IpPrefix {
    uint8_t family = 4;  // 4 or 6
    uint8_t length = 0;  // prefix length in bits
    IpAddress addr{};    // host bits cleared; v4 in host byte order

    bool contains(const IpAddress& a, uint8_t fam) const;
    std::string to_string() const;
    // Size of the prefix as a fraction of its family's whole address space.
    double fraction_of_space() const;
};

// Parses "A.B.C.D/N", "A.B.C.D" (a /32), "X::Y/N" or "X::Y" (a /128). On failure returns
// nullopt and sets *error to a short reason ("prefix length 33 is over 32", ...).
std::optional<IpPrefix> parse_prefix(std::string_view text, std::string* error = nullptr);

// Parses a single address; family is set to 4 or 6.
std::optional<IpAddress> parse_address(std::string_view text, uint8_t* family);

std::string format_address(const IpAddress& a, uint8_t family);

}  // namespace darkscope
