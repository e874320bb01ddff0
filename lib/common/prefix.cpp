#include "darkscope/prefix.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <cstring>

namespace darkscope {

namespace {

void clear_host_bits(IpPrefix& p) {
    if (p.family == 4) {
        uint32_t mask = p.length == 0 ? 0 : ~uint32_t{0} << (32 - p.length);
        p.addr.v4 &= mask;
        return;
    }
    for (unsigned i = 0; i < 16; ++i) {
        unsigned bits_before = i * 8;
        if (bits_before >= p.length) {
            p.addr.v6[i] = 0;
        } else if (p.length - bits_before < 8) {
            p.addr.v6[i] &= static_cast<uint8_t>(0xff00u >> (p.length - bits_before));
        }
    }
}

}  // namespace

std::optional<IpAddress> parse_address(std::string_view text, uint8_t* family) {
    std::string s(text);
    IpAddress a{};
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        a.v4 = ntohl(v4.s_addr);
        *family = 4;
        return a;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
        std::memcpy(a.v6, &v6, 16);
        *family = 6;
        return a;
    }
    return std::nullopt;
}

std::optional<IpPrefix> parse_prefix(std::string_view text, std::string* error) {
    auto fail = [&](std::string why) -> std::optional<IpPrefix> {
        if (error)
            *error = std::move(why);
        return std::nullopt;
    };
    if (text.empty())
        return fail("empty prefix");
    auto slash = text.find('/');
    std::string_view addr_part = text.substr(0, slash);
    IpPrefix p;
    auto addr = parse_address(addr_part, &p.family);
    if (!addr)
        return fail("'" + std::string(addr_part) + "' is not an IPv4 or IPv6 address");
    p.addr = *addr;
    unsigned max_len = p.family == 4 ? 32 : 128;
    if (slash == std::string_view::npos) {
        p.length = static_cast<uint8_t>(max_len);
        return p;
    }
    std::string_view len_part = text.substr(slash + 1);
    unsigned len = 0;
    auto [ptr, ec] = std::from_chars(len_part.data(), len_part.data() + len_part.size(), len);
    if (len_part.empty() || ec != std::errc() || ptr != len_part.data() + len_part.size())
        return fail("prefix length '" + std::string(len_part) + "' is not a number");
    if (len > max_len)
        return fail("prefix length " + std::to_string(len) + " is over " + std::to_string(max_len));
    p.length = static_cast<uint8_t>(len);
    clear_host_bits(p);
    return p;
}

bool IpPrefix::contains(const IpAddress& a, uint8_t fam) const {
    if (fam != family)
        return false;
    if (family == 4) {
        uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
        return (a.v4 & mask) == addr.v4;
    }
    unsigned full = length / 8, rest = length % 8;
    if (std::memcmp(a.v6, addr.v6, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = static_cast<uint8_t>(0xff00u >> rest);
    return (a.v6[full] & m) == addr.v6[full];
}

std::string format_address(const IpAddress& a, uint8_t family) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == 4) {
        in_addr v4{htonl(a.v4)};
        inet_ntop(AF_INET, &v4, buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, a.v6, buf, sizeof buf);
    }
    return buf;
}

std::string IpPrefix::to_string() const {
    return format_address(addr, family) + "/" + std::to_string(length);
}

double IpPrefix::fraction_of_space() const {
    return std::ldexp(1.0, -static_cast<int>(length));
}

}  // namespace darkscope
