// URLs as the options take them (--fleet-url). Pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace darkscope {

struct UrlParts {
    std::string scheme, userinfo, host, port, path, query;
};

// scheme://[userinfo@]host[:port][/path][?query]; false with a short reason on another form.
bool split_url(const std::string& url, UrlParts& parts, std::string& why);
// The query's parameters as (name, value) pairs, in order, percent-decoded.
std::vector<std::pair<std::string, std::string>> url_parameters(const std::string& query);
std::string percent_decoded(const std::string& s);
// The URL as it may be shown (logs, /darkscope/config): user information and any password or
// user parameter removed.
std::string redacted_url(const std::string& url);

}  // namespace darkscope
