// URLs as the options take them (--fleet-url): split, their parameters, and the form that may be
// shown without the credentials.
#include "darkscope/url.hpp"

#include <cctype>

namespace darkscope {

std::string percent_decoded(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

bool split_url(const std::string& url, UrlParts& p, std::string& why) {
    const size_t colon = url.find("://");
    if (colon == std::string::npos || colon == 0) {
        why = "no scheme:// in it";
        return false;
    }
    p.scheme = url.substr(0, colon);
    std::string rest = url.substr(colon + 3);
    const size_t q = rest.find('?');
    if (q != std::string::npos) {
        p.query = rest.substr(q + 1);
        rest.resize(q);
    }
    const size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    p.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const size_t at = authority.rfind('@');
    if (at != std::string::npos) {
        p.userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
    }
    const size_t port_colon = authority.rfind(':');
    if (port_colon != std::string::npos && authority.find(']') == std::string::npos) {
        p.port = authority.substr(port_colon + 1);
        authority.resize(port_colon);
    } else if (port_colon != std::string::npos && authority.back() != ']') {
        p.port = authority.substr(port_colon + 1);
        authority.resize(port_colon);
    }
    p.host = authority;
    if (p.host.empty()) {
        why = "no host in it";
        return false;
    }
    for (char c : p.host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
              c == ':' || c == '[' || c == ']')) {
            why = "the host holds '" + std::string(1, c) + "'";
            return false;
        }
    if (!p.port.empty()) {
        if (p.port.size() > 5 || p.port.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(p.port) == 0 || std::stoul(p.port) > 65535) {
            why = "port '" + p.port + "' is not 1-65535";
            return false;
        }
    }
    return true;
}

std::vector<std::pair<std::string, std::string>> url_parameters(const std::string& query) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t i = 0;
    while (i <= query.size() && !query.empty()) {
        size_t amp = query.find('&', i);
        if (amp == std::string::npos)
            amp = query.size();
        const std::string item = query.substr(i, amp - i);
        if (!item.empty()) {
            const size_t eq = item.find('=');
            out.emplace_back(percent_decoded(item.substr(0, eq)),
                             eq == std::string::npos ? "" : percent_decoded(item.substr(eq + 1)));
        }
        i = amp + 1;
    }
    return out;
}

std::string redacted_url(const std::string& url) {
    UrlParts p;
    std::string why;
    if (url.empty() || !split_url(url, p, why))
        return url.empty() ? url : "(malformed URL)";
    std::string out = p.scheme + "://" + p.host + (p.port.empty() ? "" : ":" + p.port) + p.path;
    std::string kept;
    for (const auto& [k, v] : url_parameters(p.query))
        if (k != "password" && k != "user")
            kept += (kept.empty() ? "?" : "&") + k + "=" + v;
    return out + kept;
}

}  // namespace darkscope
