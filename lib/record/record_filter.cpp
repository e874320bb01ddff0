// Parsing of --record-filter (darkscope/record_filter.hpp gives the syntax).
#include "darkscope/record_filter.hpp"

#include <set>
#include <sstream>
#include <stdexcept>

#include "darkscope/decode.hpp"

namespace darkscope {

namespace {

[[noreturn]] void refuse(const std::string& why) {
    throw std::invalid_argument("--record-filter: " + why);
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, sep))
        parts.push_back(part);
    if (!text.empty() && text.back() == sep)
        parts.emplace_back();
    return parts;
}

unsigned port_number(const std::string& text, const std::string& value) {
    if (text.empty() || text.size() > 5 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        refuse("'" + value + "': a port is a number from 0 to 65535");
    const unsigned long n = std::stoul(text);
    if (n > 65535)
        refuse("'" + value + "': a port is a number from 0 to 65535");
    return static_cast<unsigned>(n);
}

constexpr const char* kProtoNames[] = {"tcp", "udp", "icmp", "icmpv6", "other"};
constexpr Proto kProtos[] = {Proto::tcp, Proto::udp, Proto::icmp, Proto::icmpv6, Proto::other};

}  // namespace

RecordFilter RecordFilter::parse(const std::string& expression,
                                 const std::vector<std::string>& sensor_names) {
    RecordFilter filter;
    std::istringstream in(expression);
    std::string term;
    std::set<std::string> keys;
    std::shared_ptr<Services> services;
    while (in >> term) {
        if (term == "all") {
            keys.insert("all");
            continue;
        }
        const auto eq = term.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == term.size())
            refuse("'" + term +
                   "': a term is KEY=VALUE[|VALUE...] (sensor, class, proto, service)");
        const std::string key = term.substr(0, eq);
        if (!keys.insert(key).second)
            refuse("'" + key + "' given twice (alternatives go in one term: " + key + "=A|B)");
        filter.all_ = false;
        for (const std::string& value : split(term.substr(eq + 1), '|')) {
            if (value.empty())
                refuse("'" + term + "': empty alternative");
            if (key == "sensor") {
                filter.by_sensor_ = true;
                if (value == "unmatched") {
                    filter.sensors_.set(kUnmatchedBit);
                    continue;
                }
                size_t i = 0;
                while (i < sensor_names.size() && sensor_names[i] != value)
                    ++i;
                if (i == sensor_names.size() || i >= kUnmatchedBit)
                    refuse("sensor '" + value + "': no such --sensor (or 'unmatched')");
                filter.sensors_.set(i);
            } else if (key == "class") {
                unsigned c = 0;
                const auto count = static_cast<unsigned>(TrafficClass::count_);
                while (c < count && value != traffic_class_name(static_cast<TrafficClass>(c)))
                    ++c;
                if (c == count) {
                    std::string names;
                    for (unsigned k = 0; k < count; ++k)
                        names += std::string(k ? ", " : "") +
                                 traffic_class_name(static_cast<TrafficClass>(k));
                    refuse("class '" + value + "': must be one of " + names);
                }
                filter.classes_ |= 1u << c;
            } else if (key == "proto") {
                size_t p = 0;
                while (p < std::size(kProtoNames) && value != kProtoNames[p])
                    ++p;
                if (p == std::size(kProtoNames))
                    refuse("proto '" + value + "': must be tcp, udp, icmp, icmpv6 or other");
                filter.protos_ |= 1u << static_cast<unsigned>(kProtos[p]);
            } else if (key == "service") {
                const auto slash = value.find('/');
                const std::string family = value.substr(0, slash);
                if (slash == std::string::npos || (family != "tcp" && family != "udp"))
                    refuse("service '" + value + "': must be tcp/PORT or udp/PORT (or a range)");
                const std::string ports = value.substr(slash + 1);
                const auto dash = ports.find('-');
                const unsigned first = port_number(ports.substr(0, dash), value);
                const unsigned last =
                    dash == std::string::npos ? first : port_number(ports.substr(dash + 1), value);
                if (last < first)
                    refuse("service '" + value + "': the range ends before it starts");
                if (!services)
                    services = std::make_shared<Services>();
                for (unsigned port = first; port <= last; ++port)
                    (family == "tcp" ? services->tcp : services->udp).set(port);
            } else {
                refuse("unknown key '" + key + "' (sensor, class, proto or service)");
            }
        }
    }
    if (keys.count("all") && keys.size() > 1)
        refuse("'all' cannot be combined with other terms");
    filter.services_ = std::move(services);
    return filter;
}

}  // namespace darkscope
