// Options: one table (options() below) drives the Boost.Program_options descriptions, the
// conversion into Config, each option's range (checked by validate_config(), shown by --help),
// the --help defaults and config_items(), so they never disagree.
#include "darkscope/config.hpp"
#include "darkscope/url.hpp"

#include "darkscope/counters.hpp"
#include "darkscope/output_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#ifndef DARKSCOPE_VERSION
#define DARKSCOPE_VERSION "unknown"
#endif

namespace darkscope {

namespace po = boost::program_options;

namespace {

// --pipeline's values, in PipelineStage's order.
constexpr const char* kPipelineStages[] = {"decode", "classify", "attribute",
                                           "count",  "full",     "plain"};
static_assert(std::size(kPipelineStages) == static_cast<unsigned>(PipelineStage::plain) + 1);
// --log-level's values, in LogLevel's order.
constexpr const char* kLogLevels[] = {"error", "warning", "info", "debug"};
static_assert(std::size(kLogLevels) == static_cast<unsigned>(LogLevel::debug) + 1);

[[noreturn]] void fail(const std::string& option, const std::string& value,
                       const std::string& reason) {
    throw ConfigError("--" + option + ": '" + value + "': " + reason);
}

[[noreturn]] void fail(const std::string& option, const std::string& reason) {
    throw ConfigError("--" + option + ": " + reason);
}

uint64_t to_u64(const std::string& option, const std::string& text) {
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec == std::errc::result_out_of_range) {
        if (!text.empty())
            fail(option, text, "number too large");
        fail(option, text, "not a number");
    }
    if (ec != std::errc() || ptr != text.data() + text.size())
        fail(option, text, "not a non-negative whole number");
    return v;
}

unsigned to_unsigned(const std::string& option, const std::string& text) {
    uint64_t v = to_u64(option, text);
    if (v > 0xffffffffu)
        fail(option, text, "number too large");
    return static_cast<unsigned>(v);
}

double to_double(const std::string& option, const std::string& text) {
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v))
        fail(option, text, "not a number");
    return v;
}

bool to_bool(const std::string& option, const std::string& text) {
    static const std::set<std::string> yes = {"true", "yes", "on", "1"};
    static const std::set<std::string> no = {"false", "no", "off", "0"};
    if (yes.count(text))
        return true;
    if (no.count(text))
        return false;
    fail(option, text, "expected true or false");
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::string::size_type start = 0;
    while (true) {
        auto pos = text.find(sep, start);
        parts.push_back(text.substr(start, pos - start));
        if (pos == std::string::npos)
            break;
        start = pos + 1;
    }
    return parts;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos)
        return "";
    auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

// "2,3,8-11" -> {2,3,8,9,10,11}
std::vector<unsigned> to_core_list(const std::string& option, const std::string& text) {
    std::vector<unsigned> cores;
    for (const auto& raw : split(text, ',')) {
        std::string part = trim(raw);
        if (part.empty())
            fail(option, text, "empty element in the list");
        auto dash = part.find('-');
        if (dash == std::string::npos) {
            cores.push_back(to_unsigned(option, part));
            continue;
        }
        unsigned lo = to_unsigned(option, part.substr(0, dash));
        unsigned hi = to_unsigned(option, part.substr(dash + 1));
        if (hi < lo)
            fail(option, text, "range " + part + " goes backwards");
        if (hi - lo > 4096)
            fail(option, text, "range " + part + " is too long");
        for (unsigned c = lo; c <= hi; ++c)
            cores.push_back(c);
    }
    return cores;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i)
        out += (i ? sep : "") + items[i];
    return out;
}

template <typename T>
std::string join_numbers(const std::vector<T>& items, const std::string& sep) {
    std::vector<std::string> s;
    for (auto v : items)
        s.push_back(std::to_string(v));
    return join(s, sep);
}

std::string show_double(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

bool valid_name_chars(const std::string& name) {
    for (char c : name) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

// --metrics-listen: "off", or ADDRESS:PORT ("[v6]:PORT", ":PORT" for every address).
std::string to_listen_address(const std::string& text) {
    const std::string opt = "metrics-listen";
    if (text == "off")
        return text;
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
        fail(opt, text, "expected ADDRESS:PORT or off");
    std::string host = text.substr(0, colon);
    if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']'))
        fail(opt, text, "an IPv6 address goes in brackets: [::1]:9464");
    unsigned port = to_unsigned(opt, text.substr(colon + 1));
    if (port > 65535)
        fail(opt, text, "port over 65535");
    return text;
}

// --metrics-services: "445/tcp,53/udp,icmp,icmpv6" as the views name services.
std::vector<std::string> to_service_list(const std::string& text) {
    const std::string opt = "metrics-services";
    std::vector<std::string> out;
    if (trim(text).empty())
        return out;
    for (const auto& raw : split(text, ',')) {
        std::string item = trim(raw);
        if (item == "icmp" || item == "icmpv6") {
            out.push_back(item);
            continue;
        }
        auto slash = item.find('/');
        std::string proto = slash == std::string::npos ? "" : item.substr(slash + 1);
        if (proto != "tcp" && proto != "udp")
            fail(opt, item, "expected PORT/tcp, PORT/udp, icmp or icmpv6");
        unsigned port = to_unsigned(opt, item.substr(0, slash));
        if (port > 65535)
            fail(opt, item, "port over 65535");
        out.push_back(std::to_string(port) + "/" + proto);
    }
    return out;
}

// Keys the views and the history give sensor rows that are not a sensor (traffic in no sensor,
// non-IP traffic, the rest beyond the top K): a sensor so named would collide with them (two
// "unmatched" rows, a UNIQUE failure on every history write).
bool reserved_sensor_name(const std::string& name) {
    std::string lower;
    for (char c : name)
        lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    for (const char* r : {"unmatched", "none", "other"})
        if (lower == r)
            return true;
    return false;
}

// "tokyo=10.0.0.0/8,2001:db8::/32" -> SensorSpec; the checks that need the text (syntax, host
// bits) are here, the ones across sensors in validate_config().
SensorSpec to_sensor(const std::string& text) {
    const std::string opt = "sensor";
    auto eq = text.find('=');
    if (eq == std::string::npos)
        fail(opt, text, "expected NAME=PREFIX[,PREFIX...]");
    SensorSpec s;
    s.name = trim(text.substr(0, eq));
    if (s.name.empty())
        fail(opt, text, "empty sensor name");
    if (!valid_name_chars(s.name))
        fail(opt, text, "sensor name '" + s.name + "' may only use A-Z a-z 0-9 _ -");
    std::string list = text.substr(eq + 1);
    if (trim(list).empty())
        fail(opt, text, "no prefix after '='");
    for (const auto& raw : split(list, ',')) {
        std::string item = trim(raw);
        if (item.empty())
            fail(opt, text, "empty prefix in the list");
        std::string why;
        auto prefix = parse_prefix(item, &why);
        if (!prefix)
            fail(opt, text, why);
        // parse_prefix() clears host bits silently; in a sensor they are almost always a typo
        // that would make the sensor watch a different block than the operator meant.
        uint8_t family = 0;
        auto slash = item.find('/');
        auto addr = parse_address(item.substr(0, slash), &family);
        if (addr && format_address(*addr, family) != format_address(prefix->addr, family))
            fail(opt, text,
                 "host bits set in " + item + " (the prefix is " + prefix->to_string() + ")");
        s.prefixes.push_back(*prefix);
    }
    return s;
}

std::vector<uint16_t> to_port_list(const std::string& text) {
    const std::string opt = "udp-service-ports";
    std::vector<uint16_t> ports;
    if (trim(text).empty())
        return ports;  // explicitly empty: no UDP service ports
    for (const auto& raw : split(text, ',')) {
        std::string item = trim(raw);
        if (item.empty())
            fail(opt, text, "empty element in the list");
        unsigned p = to_unsigned(opt, item);
        if (p == 0 || p > 65535)
            fail(opt, item, "not a port number (1..65535)");
        ports.push_back(static_cast<uint16_t>(p));
    }
    return ports;
}

std::string sensors_text(const Config& c) {
    std::vector<std::string> items;
    for (const auto& s : c.sensors) {
        std::vector<std::string> prefixes;
        for (const auto& p : s.prefixes)
            prefixes.push_back(p.to_string());
        items.push_back(s.name + "=" + join(prefixes, ","));
    }
    return join(items, " ");
}

// "a, b or c"
template <size_t N>
std::string alternatives(const char* const (&words)[N]) {
    std::string out;
    for (size_t i = 0; i < N; ++i)
        out += std::string(i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + words[i];
    return out;
}

// The enum value whose name (in `names`, in the enum's order) is `text`.
template <typename E, size_t N>
E to_enum(const std::string& option, const std::string& text, const char* const (&names)[N]) {
    for (size_t i = 0; i < N; ++i)
        if (text == names[i])
            return static_cast<E>(i);
    fail(option, text, "must be " + alternatives(names));
}

// The values an option takes beyond what its type allows, kept in the option table beside the
// option: --help shows `text` and validate_config() runs `check`, both made by the functions
// below from one set of bounds.
struct Range {
    std::string text;  // "1..64", "at least 1", "over 0 and at most 3600", "error, ... or debug"
    // Throws ConfigError "--OPTION: 'VALUE': must be TEXT" when the value is outside.
    std::function<void(const Config&, const std::string& option)> check;
};

// lo..hi, or "at least lo" when hi is the type's largest value.
template <typename T>
Range whole(T Config::*field, T lo, T hi = std::numeric_limits<T>::max()) {
    const std::string text = hi == std::numeric_limits<T>::max()
                                 ? "at least " + std::to_string(lo)
                                 : std::to_string(lo) + ".." + std::to_string(hi);
    return {text, [=](const Config& c, const std::string& option) {
                const T v = c.*field;
                if (v < lo || v > hi)
                    fail(option, std::to_string(v), "must be " + text);
            }};
}

// `special` (which means `meaning`), or lo..hi as whole() says it.
template <typename T>
Range whole_or(T Config::*field, T special, const char* meaning, T lo,
               T hi = std::numeric_limits<T>::max()) {
    const Range bounds = whole(field, lo, hi);
    const std::string text = std::to_string(special) + " (" + meaning + ") or " + bounds.text;
    return {text, [=](const Config& c, const std::string& option) {
                const T v = c.*field;
                if (v != special && (v < lo || v > hi))
                    fail(option, std::to_string(v), "must be " + text);
            }};
}

// A power of two in lo..hi.
Range power_of_two(unsigned Config::*field, unsigned lo, unsigned hi) {
    const std::string text =
        "a power of two from " + std::to_string(lo) + " to " + std::to_string(hi);
    return {text, [=](const Config& c, const std::string& option) {
                const unsigned v = c.*field;
                if (v < lo || v > hi || (v & (v - 1)) != 0)
                    fail(option, std::to_string(v), "must be " + text);
            }};
}

// A finite number over lo, and at most `at_most` when given.
Range over(double lo, std::optional<double> at_most,
           std::function<std::optional<double>(const Config&)> value) {
    const std::string text =
        "over " + show_double(lo) + (at_most ? " and at most " + show_double(*at_most) : "");
    return {text, [=](const Config& c, const std::string& option) {
                const std::optional<double> v = value(c);
                if (v && (!(*v > lo) || !std::isfinite(*v) || (at_most && *v > *at_most)))
                    fail(option, show_double(*v), "must be " + text);
            }};
}
Range over(double Config::*field, double lo, std::optional<double> at_most = std::nullopt) {
    return over(lo, at_most, [field](const Config& c) { return std::optional(c.*field); });
}
// An optional value (--duration): checked when given.
Range over(std::optional<double> Config::*field, double lo) {
    return over(lo, std::nullopt, [field](const Config& c) { return c.*field; });
}

// One of `names`, the enum's values in its order.
template <typename E, size_t N>
Range one_of(E Config::*field, const char* const (&names)[N]) {
    const std::string text = alternatives(names);
    return {text, [=](const Config& c, const std::string& option) {
                const auto v = static_cast<size_t>(c.*field);
                if (v >= N)
                    fail(option, std::to_string(v), "must be " + text);
            }};
}

// lo to hi characters, each a letter, a digit, '_' or '-'.
Range name_chars(std::string Config::*field, size_t lo, size_t hi) {
    const std::string text =
        std::to_string(lo) + " to " + std::to_string(hi) + " characters of A-Z a-z 0-9 _ -";
    return {text, [=](const Config& c, const std::string& option) {
                const std::string& v = c.*field;
                if (v.size() < lo || v.size() > hi || !valid_name_chars(v))
                    fail(option, v, "must be " + text);
            }};
}

enum class Group { capture, sensors, output, attribution, events, runtime };
enum class Kind {
    value,  // one value; given twice in one place is an error
    list,   // repeatable: each occurrence adds one value
    multi,  // repeatable and takes several values after one flag (--read a.pcap b.pcap)
    flag,   // no value on the command line; `name = true|false` in a file
};

struct OptionSpec {
    const char* name;
    Group group;
    Kind kind;
    const char* value_name;  // shown in --help ("N", "FILE")
    const char* help;        // one line; the default is appended from Config{}
    // Stores the given value(s) into the Config. For flags the single value is "true"/"false".
    std::function<void(Config&, const std::vector<std::string>&)> apply;
    // The current value as text, for --help defaults and config_items(); empty function = not
    // listed (help, version, the --no-X twins).
    std::function<std::string(const Config&)> show;
    Range range = {};            // empty: any value of the type
    const char* twin = nullptr;  // --no-X twin of a positive flag, resolved together
};

using Values = std::vector<std::string>;

const std::vector<OptionSpec>& options() {
    static const std::vector<OptionSpec> table = {
        // ---- Capture
        {"port", Group::capture, Kind::list, "SPEC",
         "Port to capture from (repeatable): a PCI address (0000:3b:00.0) or a DPDK vdev "
         "(net_pcap0,rx_pcap=FILE; net_af_packet0,iface=eth1)",
         [](Config& c, const Values& v) { c.ports = v; },
         [](const Config& c) { return join(c.ports, " "); }},
        {"workers", Group::capture, Kind::value, "N", "Polling worker cores",
         [](Config& c, const Values& v) { c.workers = to_unsigned("workers", v[0]); },
         [](const Config& c) { return std::to_string(c.workers); },
         whole(&Config::workers, 1u, 127u)},
        {"cores", Group::capture, Kind::value, "LIST",
         "Explicit worker cores (\"2,3,8-11\"), instead of the hwloc plan; sets --workers",
         [](Config& c, const Values& v) { c.cores = to_core_list("cores", v[0]); },
         [](const Config& c) { return join_numbers(c.cores, ","); }},
        {"stats-core", Group::capture, Kind::value, "N",
         "Core of the stats (main) lcore; -1 = chosen by the plan",
         [](Config& c, const Values& v) {
             if (v[0] == "-1") {
                 c.stats_core = -1;
                 return;
             }
             unsigned n = to_unsigned("stats-core", v[0]);
             if (n > static_cast<unsigned>(std::numeric_limits<int>::max()))
                 fail("stats-core", v[0], "number too large");
             c.stats_core = static_cast<int>(n);
         },
         [](const Config& c) { return std::to_string(c.stats_core); },
         whole(&Config::stats_core, -1, 1 << 20)},
        {"rx-queues", Group::capture, Kind::value, "N", "RSS receive queues per port",
         [](Config& c, const Values& v) { c.rx_queues = to_unsigned("rx-queues", v[0]); },
         [](const Config& c) { return std::to_string(c.rx_queues); },
         whole(&Config::rx_queues, 1u, 128u)},
        {"rx-desc", Group::capture, Kind::value, "N", "Descriptors per receive queue",
         [](Config& c, const Values& v) { c.rx_desc = to_unsigned("rx-desc", v[0]); },
         [](const Config& c) { return std::to_string(c.rx_desc); },
         power_of_two(&Config::rx_desc, 32, 32768)},
        {"burst", Group::capture, Kind::value, "N", "Packets per rx burst",
         [](Config& c, const Values& v) { c.burst = to_unsigned("burst", v[0]); },
         [](const Config& c) { return std::to_string(c.burst); }, whole(&Config::burst, 1u, 64u)},
        {"mbufs", Group::capture, Kind::value, "N", "Packet buffers per NUMA socket",
         [](Config& c, const Values& v) { c.mbufs = to_unsigned("mbufs", v[0]); },
         [](const Config& c) { return std::to_string(c.mbufs); },
         whole(&Config::mbufs, kMinMbufs, 1u << 26)},
        {"link-wait", Group::capture, Kind::value, "SECONDS",
         "How long to wait for each port's link to come up",
         [](Config& c, const Values& v) { c.link_wait_s = to_unsigned("link-wait", v[0]); },
         [](const Config& c) { return std::to_string(c.link_wait_s); },
         whole(&Config::link_wait_s, 0u, 3600u)},
        {"promiscuous", Group::capture, Kind::flag, nullptr,
         "Put ports in promiscuous mode (a darknet's traffic is not addressed to our MAC)",
         [](Config& c, const Values& v) { c.promiscuous = to_bool("promiscuous", v[0]); },
         [](const Config& c) { return std::string(c.promiscuous ? "true" : "false"); }},
        {"no-promiscuous", Group::capture, Kind::flag, nullptr, "Leave promiscuous mode off",
         [](Config& c, const Values& v) { c.promiscuous = !to_bool("no-promiscuous", v[0]); },
         nullptr, Range{}, "promiscuous"},
        {"no-pci", Group::capture, Kind::flag, nullptr,
         "Do not probe PCI devices (implied when every port is a vdev, or offline)",
         [](Config& c, const Values& v) { c.no_pci = to_bool("no-pci", v[0]); },
         [](const Config& c) { return std::string(c.no_pci ? "true" : "false"); }},
        {"share-cpus", Group::capture, Kind::flag, nullptr,
         "When CPUs run out, let workers time-share CPUs instead of failing, and let "
         "--stats-core be one of --cores (tests, small VMs; never for line-rate capture)",
         [](Config& c, const Values& v) { c.share_cpus = to_bool("share-cpus", v[0]); },
         [](const Config& c) { return std::string(c.share_cpus ? "true" : "false"); }},
        {"memory-budget-mb", Group::capture, Kind::value, "MB",
         "Memory budget for each worker's tables (hugepages local to its port)",
         [](Config& c, const Values& v) {
             c.memory_budget_mb = to_unsigned("memory-budget-mb", v[0]);
         },
         [](const Config& c) { return std::to_string(c.memory_budget_mb); },
         whole(&Config::memory_budget_mb, 16u, 1u << 20)},
        {"precise-sketches", Group::capture, Kind::value, "N",
         "Precise (P=14, 16 KiB) unique-count sketches per worker table for keys past 32 sources; "
         "the stats core's windows get 4x. Keys beyond fall back to 6.5% error and are reported",
         [](Config& c, const Values& v) {
             c.precise_sketches = to_unsigned("precise-sketches", v[0]);
         },
         [](const Config& c) { return std::to_string(c.precise_sketches); },
         whole(&Config::precise_sketches, 0u, 65536u)},
        {"tuple-entries", Group::capture, Kind::value, "N",
         "Source tuples (source, sensor, service) each worker aggregates per "
         "interval, 70 bytes each (x2 epochs); IPv6 tuples get a table 1/32 "
         "its size. Packets of tuples beyond 7/8 of a table are counted one by one (slower, "
         "just as exact) and reported as source_spills in /darkscope/stats",
         [](Config& c, const Values& v) { c.tuple_entries = to_unsigned("tuple-entries", v[0]); },
         [](const Config& c) { return std::to_string(c.tuple_entries); },
         power_of_two(&Config::tuple_entries, 1024, 1u << 26)},

        // ---- Sensors
        {"sensor", Group::sensors, Kind::list, "NAME=PREFIX[,PREFIX...]",
         "Dark prefixes watched (repeatable, IPv4 and IPv6); a destination in no sensor is "
         "counted as unmatched",
         [](Config& c, const Values& v) {
             c.sensors.clear();
             for (const auto& s : v)
                 c.sensors.push_back(to_sensor(s));
         },
         sensors_text},
        {"udp-service-ports", Group::sensors, Kind::value, "LIST",
         "UDP source ports whose packets are reflection backscatter, comma list",
         [](Config& c, const Values& v) { c.udp_service_ports = to_port_list(v[0]); },
         [](const Config& c) { return join_numbers(c.udp_service_ports, ","); }},

        // ---- Intervals and output
        {"interval", Group::output, Kind::value, "SECONDS", "Length of a merged interval",
         [](Config& c, const Values& v) { c.interval_s = to_unsigned("interval", v[0]); },
         [](const Config& c) { return std::to_string(c.interval_s); },
         whole(&Config::interval_s, 1u, 86400u)},
        {"read", Group::output, Kind::multi, "FILE...",
         "Offline mode: read these pcap/pcapng files instead of ports, in the time order of "
         "their first packets; intervals follow packet timestamps",
         [](Config& c, const Values& v) { c.read_files = v; },
         [](const Config& c) { return join(c.read_files, " "); }},
        {"summary", Group::output, Kind::value, "FILE",
         "Write the final stats and top tables as JSON when the run ends",
         [](Config& c, const Values& v) { c.summary_file = v[0]; },
         [](const Config& c) { return c.summary_file; }},
        {"db", Group::output, Kind::value, "FILE", "SQLite history database; empty = none",
         [](Config& c, const Values& v) { c.db_file = v[0]; },
         [](const Config& c) { return c.db_file; }},
        {"top-k", Group::output, Kind::value, "N",
         "Rows per dimension stored per interval (the rest goes to 'other')",
         [](Config& c, const Values& v) { c.top_k = to_unsigned("top-k", v[0]); },
         [](const Config& c) { return std::to_string(c.top_k); },
         whole(&Config::top_k, 1u, 100000u)},
        {"retention-intervals", Group::output, Kind::value, "DAYS",
         "Days of per-interval rows kept in the history",
         [](Config& c, const Values& v) {
             c.retention_intervals_days = to_unsigned("retention-intervals", v[0]);
         },
         [](const Config& c) { return std::to_string(c.retention_intervals_days); },
         whole(&Config::retention_intervals_days, 1u, 36500u)},
        {"retention-hours", Group::output, Kind::value, "DAYS",
         "Days of hourly rollups kept in the history (daily rollups are kept)",
         [](Config& c, const Values& v) {
             c.retention_hours_days = to_unsigned("retention-hours", v[0]);
         },
         [](const Config& c) { return std::to_string(c.retention_hours_days); },
         whole(&Config::retention_hours_days, 1u, 36500u)},
        {"rollup-checkpoint", Group::output, Kind::value, "SECONDS",
         "Live, store the open hour and day rollups at most this often (wall time): what a "
         "crash can lose of them",
         [](Config& c, const Values& v) {
             c.rollup_checkpoint_s = to_unsigned("rollup-checkpoint", v[0]);
         },
         [](const Config& c) { return std::to_string(c.rollup_checkpoint_s); },
         whole(&Config::rollup_checkpoint_s, 1u, 60u)},
        {"fleet-url", Group::output, Kind::value, "URL",
         "Ship every closed interval to this ClickHouse HTTP interface "
         "(http://HOST:8123/?database=darkscope); empty = no fleet export",
         [](Config& c, const Values& v) { c.fleet_url = v[0]; },
         [](const Config& c) { return redacted_url(c.fleet_url); }},
        {"fleet-credentials", Group::output, Kind::value, "FILE",
         "File holding one line user:password for --fleet-url",
         [](Config& c, const Values& v) { c.fleet_credentials = v[0]; },
         [](const Config& c) { return c.fleet_credentials; }},
        {"fleet-spool", Group::output, Kind::value, "DIR",
         "Directory keeping closed intervals until ClickHouse has them",
         [](Config& c, const Values& v) { c.fleet_spool = v[0]; },
         [](const Config& c) { return c.fleet_spool; }},
        {"fleet-spool-quota-mb", Group::output, Kind::value, "MB",
         "Most disk the spool takes; beyond, the oldest intervals are dropped (and counted)",
         [](Config& c, const Values& v) {
             c.fleet_spool_quota_mb = to_unsigned("fleet-spool-quota-mb", v[0]);
         },
         [](const Config& c) { return std::to_string(c.fleet_spool_quota_mb); },
         whole(&Config::fleet_spool_quota_mb, 1u, 1u << 24)},
        {"fleet-tuples", Group::output, Kind::value, "on|off",
         "Ship the source tuples (exact fleet-wide unique sources); off = aggregates only",
         [](Config& c, const Values& v) { c.fleet_tuples = to_bool("fleet-tuples", v[0]); },
         [](const Config& c) { return std::string(c.fleet_tuples ? "on" : "off"); }},
        {"fleet-spill-entries", Group::output, Kind::value, "N",
         "With fleet tuples: packets the tuple tables spill that each worker keeps per interval "
         "(40 bytes each, x2 epochs) to export as one-packet tuples; beyond them a packet is "
         "counted as tuples_unexported",
         [](Config& c, const Values& v) {
             c.fleet_spill_entries = to_unsigned("fleet-spill-entries", v[0]);
         },
         [](const Config& c) { return std::to_string(c.fleet_spill_entries); },
         whole(&Config::fleet_spill_entries, 1u, 1u << 24)},

        {"record-dir", Group::output, Kind::value, "DIR",
         "Record the counted packets into pcapng files here, one per --record-rotate period "
         "(docs/recording.md); created if missing",
         [](Config& c, const Values& v) { c.record_dir = v[0]; },
         [](const Config& c) { return c.record_dir; }},
        {"record-filter", Group::output, Kind::value, "EXPR",
         "Record only these packets: terms KEY=VALUE[|VALUE...] with keys sensor, class, proto, "
         "service (tcp/PORT, udp/PORT), all of which must match; default every packet",
         [](Config& c, const Values& v) { c.record_filter = v[0]; },
         [](const Config& c) { return c.record_filter; }},
        {"record-rotate", Group::output, Kind::value, "SECONDS",
         "One record file per this many seconds, a multiple of --interval, aligned like the "
         "intervals",
         [](Config& c, const Values& v) { c.record_rotate_s = to_unsigned("record-rotate", v[0]); },
         [](const Config& c) { return std::to_string(c.record_rotate_s); },
         whole(&Config::record_rotate_s, 1u, 7u * 86400u)},
        {"record-snaplen", Group::output, Kind::value, "BYTES",
         "Bytes of each frame recorded (65535: the whole frame)",
         [](Config& c, const Values& v) { c.record_snaplen = to_unsigned("record-snaplen", v[0]); },
         [](const Config& c) { return std::to_string(c.record_snaplen); },
         whole(&Config::record_snaplen, 14u, 65535u)},
        {"record-compress", Group::output, Kind::value, "KIND",
         "Compression of the record files (.pcapng, .pcapng.gz, .pcapng.zst)",
         [](Config& c, const Values& v) {
             c.record_compress =
                 to_enum<RecordCompression>("record-compress", v[0], kRecordCompressions);
         },
         [](const Config& c) {
             return std::string(kRecordCompressions[static_cast<unsigned>(c.record_compress)]);
         },
         one_of(&Config::record_compress, kRecordCompressions)},
        {"record-quota-mb", Group::output, Kind::value, "MB",
         "Disk the record files may take; the oldest files are deleted first",
         [](Config& c, const Values& v) {
             c.record_quota_mb = to_unsigned("record-quota-mb", v[0]);
         },
         [](const Config& c) { return std::to_string(c.record_quota_mb); },
         whole_or(&Config::record_quota_mb, 0u, "no quota", 1u, 1u << 30)},
        {"record-events", Group::output, Kind::value, "on|off",
         "With --record-dir, record each surge, DoS and scanner event's packets into "
         "DIR/events/<event id>.pcapng (docs/recording.md)",
         [](Config& c, const Values& v) { c.record_events = to_bool("record-events", v[0]); },
         [](const Config& c) { return std::string(c.record_events ? "on" : "off"); }},
        {"record-pretrigger", Group::output, Kind::value, "SECONDS",
         "An event capture starts this long before the event was detected (each worker keeps "
         "its last packets this long)",
         [](Config& c, const Values& v) {
             c.record_pretrigger_s = to_unsigned("record-pretrigger", v[0]);
         },
         [](const Config& c) { return std::to_string(c.record_pretrigger_s); },
         whole(&Config::record_pretrigger_s, 0u, 86400u)},
        {"record-pretrigger-mb", Group::output, Kind::value, "MB",
         "Most memory each worker's pre-trigger packets take",
         [](Config& c, const Values& v) {
             c.record_pretrigger_mb = to_unsigned("record-pretrigger-mb", v[0]);
         },
         [](const Config& c) { return std::to_string(c.record_pretrigger_mb); },
         whole(&Config::record_pretrigger_mb, 1u, 65536u)},
        {"record-event-tail", Group::output, Kind::value, "SECONDS",
         "An event capture goes on this long after the event ended",
         [](Config& c, const Values& v) {
             c.record_event_tail_s = to_unsigned("record-event-tail", v[0]);
         },
         [](const Config& c) { return std::to_string(c.record_event_tail_s); },
         whole(&Config::record_event_tail_s, 0u, 86400u)},
        {"record-event-max-mb", Group::output, Kind::value, "MB",
         "Largest event capture file; the event's further packets are not recorded",
         [](Config& c, const Values& v) {
             c.record_event_max_mb = to_unsigned("record-event-max-mb", v[0]);
         },
         [](const Config& c) { return std::to_string(c.record_event_max_mb); },
         whole(&Config::record_event_max_mb, 1u, 1u << 20)},
        {"appliance", Group::output, Kind::value, "NAME",
         "This appliance's name in the fleet's tables and in record file names (default: the host "
         "name)",
         [](Config& c, const Values& v) { c.appliance = v[0]; },
         [](const Config& c) { return c.appliance; }, name_chars(&Config::appliance, 0, 64)},

        // ---- Attribution
        {"geo-country", Group::attribution, Kind::multi, "FILE...",
         "Country database(s): MaxMind .mmdb or range CSV start,end,CC (repeatable; files of one "
         "kind merge)",
         [](Config& c, const Values& v) { c.geo_country = v; },
         [](const Config& c) { return join(c.geo_country, " "); }},
        {"geo-asn", Group::attribution, Kind::multi, "FILE...",
         "ASN database(s): MaxMind .mmdb or range CSV start,end,asn[,name] (repeatable; files "
         "merge)",
         [](Config& c, const Values& v) { c.geo_asn = v; },
         [](const Config& c) { return join(c.geo_asn, " "); }},
        {"geo-cache", Group::attribution, Kind::value, "DIR",
         "Directory of the compiled attribution image; empty = beside the first database, or "
         "$XDG_CACHE_HOME/darkscope (~/.cache/darkscope) when that is not writable",
         [](Config& c, const Values& v) { c.geo_cache = v[0]; },
         [](const Config& c) { return c.geo_cache; }},
        {"geo-build-cache", Group::attribution, Kind::flag, nullptr,
         "Build the compiled attribution image of the --geo-country/--geo-asn databases (unless "
         "a valid one exists) and exit",
         [](Config& c, const Values& v) { c.geo_build_cache = to_bool("geo-build-cache", v[0]); },
         [](const Config& c) { return std::string(c.geo_build_cache ? "true" : "false"); }},

        // ---- Events
        {"surge-factor", Group::events, Kind::value, "X",
         "A surge starts when an interval exceeds its series' baseline by this factor",
         [](Config& c, const Values& v) { c.surge_factor = to_double("surge-factor", v[0]); },
         [](const Config& c) { return show_double(c.surge_factor); },
         over(&Config::surge_factor, 1.0)},
        {"surge-min-packets", Group::events, Kind::value, "N",
         "... and has at least this many packets in the interval",
         [](Config& c, const Values& v) {
             c.surge_min_packets = to_u64("surge-min-packets", v[0]);
         },
         [](const Config& c) { return std::to_string(c.surge_min_packets); },
         whole(&Config::surge_min_packets, uint64_t{1})},
        {"surge-min-sources", Group::events, Kind::value, "N",
         "... from at least this many unique sources",
         [](Config& c, const Values& v) {
             c.surge_min_sources = to_u64("surge-min-sources", v[0]);
         },
         [](const Config& c) { return std::to_string(c.surge_min_sources); },
         whole(&Config::surge_min_sources, uint64_t{1})},
        {"surge-quiet-intervals", Group::events, Kind::value, "N",
         "A surge ends after this many intervals under the threshold",
         [](Config& c, const Values& v) {
             c.surge_quiet_intervals = to_unsigned("surge-quiet-intervals", v[0]);
         },
         [](const Config& c) { return std::to_string(c.surge_quiet_intervals); },
         whole(&Config::surge_quiet_intervals, 1u, 10000u)},
        {"dos-min-packets", Group::events, Kind::value, "N",
         "A backscatter DoS attack needs at least this many packets (Corsaro)",
         [](Config& c, const Values& v) { c.dos_min_packets = to_u64("dos-min-packets", v[0]); },
         [](const Config& c) { return std::to_string(c.dos_min_packets); },
         whole(&Config::dos_min_packets, uint64_t{1})},
        {"dos-min-duration", Group::events, Kind::value, "SECONDS",
         "... lasting at least this long",
         [](Config& c, const Values& v) {
             c.dos_min_duration_s = to_unsigned("dos-min-duration", v[0]);
         },
         [](const Config& c) { return std::to_string(c.dos_min_duration_s); },
         whole(&Config::dos_min_duration_s, 1u, 86400u)},
        {"dos-min-window-packets", Group::events, Kind::value, "N",
         "... with at least this many packets in some 60 s window",
         [](Config& c, const Values& v) {
             c.dos_min_window_packets = to_u64("dos-min-window-packets", v[0]);
         },
         [](const Config& c) { return std::to_string(c.dos_min_window_packets); },
         whole(&Config::dos_min_window_packets, uint64_t{1})},
        {"scanner-min-destinations", Group::events, Kind::value, "N",
         "A source is a scanner once it reached this many dark destinations",
         [](Config& c, const Values& v) {
             c.scanner_min_destinations = to_unsigned("scanner-min-destinations", v[0]);
         },
         [](const Config& c) { return std::to_string(c.scanner_min_destinations); },
         whole(&Config::scanner_min_destinations, 1u, 1u << 30)},
        {"event-hook", Group::events, Kind::value, "CMD",
         "Command run (by /bin/sh) for each event, the event as JSON on stdin",
         [](Config& c, const Values& v) { c.event_hook = v[0]; },
         [](const Config& c) { return c.event_hook; }},
        {"event-hook-timeout", Group::events, Kind::value, "SECONDS",
         "The hook is killed after this long",
         [](Config& c, const Values& v) {
             c.event_hook_timeout_s = to_double("event-hook-timeout", v[0]);
         },
         [](const Config& c) { return show_double(c.event_hook_timeout_s); },
         over(&Config::event_hook_timeout_s, 0.0, 3600.0)},

        // ---- Runtime
        {"config", Group::runtime, Kind::value, "FILE",
         "Read options from this INI-style file (key = value); the command line wins",
         [](Config& c, const Values& v) { c.config_file = v[0]; },
         [](const Config& c) { return c.config_file; }},
        {"file-prefix", Group::runtime, Kind::value, "NAME",
         "DPDK runtime prefix: telemetry at /var/run/dpdk/NAME/dpdk_telemetry.v2",
         [](Config& c, const Values& v) { c.file_prefix = v[0]; },
         [](const Config& c) { return c.file_prefix; }, name_chars(&Config::file_prefix, 1, 64)},
        {"telemetry", Group::runtime, Kind::flag, nullptr, "Answer on the DPDK telemetry socket",
         [](Config& c, const Values& v) { c.telemetry = to_bool("telemetry", v[0]); },
         [](const Config& c) { return std::string(c.telemetry ? "true" : "false"); }},
        {"no-telemetry", Group::runtime, Kind::flag, nullptr, "No telemetry socket",
         [](Config& c, const Values& v) { c.telemetry = !to_bool("no-telemetry", v[0]); }, nullptr,
         Range{}, "telemetry"},
        {"metrics-listen", Group::runtime, Kind::value, "ADDR:PORT",
         "Serve Prometheus metrics on http://ADDR:PORT/metrics in live runs ([::1]:PORT for "
         "IPv6, :PORT for every address), or `off`",
         [](Config& c, const Values& v) { c.metrics_listen = to_listen_address(v[0]); },
         [](const Config& c) { return c.metrics_listen; }},
        {"metrics-services", Group::runtime, Kind::value, "LIST",
         "Services with a metrics label of their own from the start (\"445/tcp,23/tcp,icmp\")",
         [](Config& c, const Values& v) { c.metrics_services = to_service_list(v[0]); },
         [](const Config& c) { return join(c.metrics_services, ","); }},
        {"metrics-top", Group::runtime, Kind::value, "N",
         "Services in an interval's top N get a metrics label (kept once given)",
         [](Config& c, const Values& v) { c.metrics_top = to_unsigned("metrics-top", v[0]); },
         [](const Config& c) { return std::to_string(c.metrics_top); },
         whole(&Config::metrics_top, 0u, 1000u)},
        {"metrics-service-cap", Group::runtime, Kind::value, "N",
         "Service labels at most; later services count under service=\"other\"",
         [](Config& c, const Values& v) {
             c.metrics_service_cap = to_unsigned("metrics-service-cap", v[0]);
         },
         [](const Config& c) { return std::to_string(c.metrics_service_cap); },
         whole(&Config::metrics_service_cap, 1u, 10000u)},
        {"log-events", Group::runtime, Kind::flag, nullptr,
         "Log a line per event start and end (key=value fields)",
         [](Config& c, const Values& v) { c.log_events = to_bool("log-events", v[0]); },
         [](const Config& c) { return std::string(c.log_events ? "true" : "false"); }},
        {"no-log-events", Group::runtime, Kind::flag, nullptr,
         "No event lines in the log (events still reach telemetry, the history and the hook)",
         [](Config& c, const Values& v) { c.log_events = !to_bool("no-log-events", v[0]); },
         nullptr, Range{}, "log-events"},
        {"log-level", Group::runtime, Kind::value, "LEVEL", "The most detailed messages logged",
         [](Config& c, const Values& v) {
             c.log_level = to_enum<LogLevel>("log-level", v[0], kLogLevels);
         },
         [](const Config& c) {
             return std::string(kLogLevels[static_cast<unsigned>(c.log_level)]);
         },
         one_of(&Config::log_level, kLogLevels)},
        {"eal", Group::runtime, Kind::value, "\"ARGS\"",
         "Extra EAL arguments passed through (rare flags; darkscope sets -l, -a, --vdev, "
         "--file-prefix itself)",
         [](Config& c, const Values& v) { c.eal_args = v[0]; },
         [](const Config& c) { return c.eal_args; }},
        {"no-huge", Group::runtime, Kind::flag, nullptr,
         "Run without hugepages (tests, machines without them; use with --memory)",
         [](Config& c, const Values& v) { c.no_huge = to_bool("no-huge", v[0]); },
         [](const Config& c) { return std::string(c.no_huge ? "true" : "false"); }},
        {"memory", Group::runtime, Kind::value, "MB", "EAL memory (-m)",
         [](Config& c, const Values& v) { c.memory_mb = to_unsigned("memory", v[0]); },
         [](const Config& c) { return std::to_string(c.memory_mb); },
         whole_or(&Config::memory_mb, 0u, "EAL default", 64u)},
        {"duration", Group::runtime, Kind::value, "SECONDS",
         "Stop a live run after this long (default: until SIGINT/SIGTERM)",
         [](Config& c, const Values& v) { c.duration_s = to_double("duration", v[0]); },
         [](const Config& c) { return c.duration_s ? show_double(*c.duration_s) : ""; },
         over(&Config::duration_s, 0.0)},
        {"pipeline", Group::runtime, Kind::value, "STAGE",
         "How far workers take each packet: up to a stage (benchmarks), full, or plain (tests: "
         "each packet counted whole, one at a time, the reference for full)",
         [](Config& c, const Values& v) {
             c.pipeline = to_enum<PipelineStage>("pipeline", v[0], kPipelineStages);
         },
         [](const Config& c) {
             return std::string(kPipelineStages[static_cast<unsigned>(c.pipeline)]);
         },
         one_of(&Config::pipeline, kPipelineStages)},
        {"plan", Group::runtime, Kind::flag, nullptr, "Print the core plan and exit",
         [](Config& c, const Values& v) { c.plan_only = to_bool("plan", v[0]); },
         [](const Config& c) { return std::string(c.plan_only ? "true" : "false"); }},
        {"topology-xml", Group::runtime, Kind::value, "FILE",
         "Plan on this hwloc XML topology instead of this machine's (lstopo --of xml)",
         [](Config& c, const Values& v) { c.topology_xml = v[0]; },
         [](const Config& c) { return c.topology_xml; }},
        {"help", Group::runtime, Kind::flag, nullptr, "Print this help and exit", nullptr, nullptr},
        {"version", Group::runtime, Kind::flag, nullptr, "Print the version and exit", nullptr,
         nullptr},
    };
    return table;
}

const char* group_title(Group g) {
    switch (g) {
        case Group::capture:
            return "Capture";
        case Group::sensors:
            return "Sensors";
        case Group::output:
            return "Intervals and output";
        case Group::attribution:
            return "Attribution";
        case Group::events:
            return "Events";
        case Group::runtime:
            return "Runtime";
    }
    return "";
}

// The Boost descriptions. Values are taken as strings and converted by the table so every
// error has our one-line "--option: 'value': reason" form. `for_help` adds each option's range
// and default; `in_file` leaves out what makes no sense inside a config file.
po::options_description describe(Group g, bool for_help, bool in_file) {
    po::options_description desc(group_title(g), 100, 50);
    const Config defaults;
    for (const auto& o : options()) {
        if (o.group != g)
            continue;
        std::string name = o.name;
        if (in_file && (name == "config" || name == "help" || name == "version"))
            continue;
        std::string help = o.help;
        if (for_help && !o.range.text.empty())
            help += " (" + o.range.text + ")";
        if (for_help && o.show && o.kind != Kind::flag) {
            std::string d = o.show(defaults);
            if (!d.empty())
                help += " [" + d + "]";
        } else if (for_help && o.show && o.kind == Kind::flag && o.show(defaults) == "true") {
            help += " [on]";
        }
        if (name == "help")
            name = "help,h";
        if (name == "version")
            name = "version,V";
        switch (o.kind) {
            case Kind::value:
                desc.add_options()(name.c_str(), po::value<std::string>()->value_name(o.value_name),
                                   help.c_str());
                break;
            case Kind::list:
                desc.add_options()(name.c_str(),
                                   po::value<std::vector<std::string>>()->value_name(o.value_name),
                                   help.c_str());
                break;
            case Kind::multi:
                desc.add_options()(
                    name.c_str(),
                    po::value<std::vector<std::string>>()->value_name(o.value_name)->multitoken(),
                    help.c_str());
                break;
            case Kind::flag:
                // On the command line a bare switch; in a file `name = true|false`.
                if (in_file)
                    desc.add_options()(name.c_str(), po::value<std::string>(), help.c_str());
                else
                    desc.add_options()(
                        name.c_str(),
                        po::value<std::string>()->zero_tokens()->implicit_value("true", ""),
                        help.c_str());
                break;
        }
    }
    return desc;
}

constexpr Group kGroups[] = {Group::capture,     Group::sensors, Group::output,
                             Group::attribution, Group::events,  Group::runtime};

po::options_description describe_all(bool for_help, bool in_file) {
    po::options_description all;
    for (Group g : kGroups)
        all.add(describe(g, for_help, in_file));
    return all;
}

void print_help(std::ostream& out) {
    out << "darkscope " DARKSCOPE_VERSION
           ": darknet (network telescope) observation on DPDK\n\n"
           "Usage: darkscope [--config FILE] [OPTIONS]\n"
           "Every option also works in the --config file as `name = value` (repeat the line "
           "for\nrepeatable options, `name = true` for switches, # comments); the command line "
           "wins,\nand a repeatable option given on the command line replaces the file's list. "
           "Defaults\nin [brackets].\n";
    out << describe_all(true, false);
    out << "\nExamples:\n"
           "  # Replay a capture offline (no DPDK port, no hugepages) and write the tables\n"
           "  darkscope --read telescope.pcapng --sensor lab=198.51.100.0/24 --no-huge "
           "--memory 512 \\\n"
           "            --summary out.json\n\n"
           "  # Replay a capture through the full DPDK pipeline with a net_pcap vdev\n"
           "  darkscope --config conf/demo.conf --port net_pcap0,rx_pcap=demo.pcap "
           "--duration 30\n\n"
           "  # Appliance: a PCI port bound to vfio-pci, 4 RSS queues polled by 4 workers\n"
           "  darkscope --config /etc/darkscope/darkscope.conf --port 0000:3b:00.0 "
           "--rx-queues 4 \\\n"
           "            --workers 4 --sensor tokyo=203.0.113.0/24\n";
}

// Boost's errors rewritten to our one-line form.
[[noreturn]] void rethrow_boost(const po::error& e, const std::string& where) {
    std::string prefix = where.empty() ? "" : where + ": ";
    if (auto* u = dynamic_cast<const po::unknown_option*>(&e)) {
        std::string name = u->get_option_name();
        while (!name.empty() && name[0] == '-')
            name.erase(0, 1);
        if (where.empty())
            throw ConfigError("--" + name + ": unknown option (see --help)");
        throw ConfigError(prefix + "unknown option '" + name + "' (see --help)");
    }
    if (auto* m = dynamic_cast<const po::multiple_occurrences*>(&e)) {
        std::string name = m->get_option_name();
        while (!name.empty() && name[0] == '-')
            name.erase(0, 1);
        throw ConfigError(prefix + "--" + name + ": given more than once");
    }
    if (auto* s = dynamic_cast<const po::invalid_command_line_syntax*>(&e)) {
        std::string name = s->get_option_name();
        while (!name.empty() && name[0] == '-')
            name.erase(0, 1);
        if (s->kind() == po::invalid_syntax::missing_parameter)
            throw ConfigError("--" + name + ": needs a value");
        if (s->kind() == po::invalid_syntax::extra_parameter)
            throw ConfigError("--" + name + ": takes no value");
    }
    if (dynamic_cast<const po::too_many_positional_options_error*>(&e))
        throw ConfigError(prefix + "unexpected argument (options start with --; see --help)");
    throw ConfigError(prefix + e.what());
}

// Which options were given, with their values, in one place (the command line or the file).
struct Given {
    std::map<std::string, std::vector<std::string>> values;
    // The file only: its path and, per option, the line of each value in order.
    std::string path;
    std::map<std::string, std::vector<int>> lines;
    bool has(const std::string& name) const { return values.count(name) != 0; }
    // "FILE:LINE" of the option's index-th value, or "FILE:LINE" / "FILE" (several lines) of
    // the option as a whole when index is negative.
    std::string where(const std::string& name, int index = -1) const {
        auto it = lines.find(name);
        if (it == lines.end() || it->second.empty())
            return path;
        const auto& at = it->second;
        if (index < 0 && at.size() > 1)
            return path;
        size_t i = index < 0 ? 0 : static_cast<size_t>(index);
        return i < at.size() ? path + ":" + std::to_string(at[i]) : path;
    }
};

// "--NAME: reason" about an option that came from the config file, rewritten to
// "FILE:LINE: NAME: reason" (origins: option name -> "FILE:LINE"); other messages unchanged.
std::string locate(const std::string& message, const std::map<std::string, std::string>& origins) {
    if (message.rfind("--", 0) != 0)
        return message;
    auto colon = message.find(": ");
    if (colon == std::string::npos)
        return message;
    std::string name = message.substr(2, colon - 2);
    auto it = origins.find(name);
    if (it == origins.end())
        return message;
    return it->second + ": " + name + message.substr(colon);
}

Given collect(const po::parsed_options& parsed) {
    Given g;
    for (const auto& opt : parsed.options) {
        if (opt.unregistered)
            continue;
        const std::string& name = opt.string_key;
        const OptionSpec* spec = nullptr;
        for (const auto& o : options())
            if (name == o.name)
                spec = &o;
        if (!spec)
            continue;
        auto& slot = g.values[name];
        if (spec->kind == Kind::value || spec->kind == Kind::flag) {
            slot.clear();  // given twice was refused before, with the option's name
            if (spec->kind == Kind::flag)
                slot.push_back(opt.value.empty() || opt.value[0].empty() ? "true"
                                                                         : trim(opt.value[0]));
            else
                slot.push_back(opt.value.empty() ? "" : opt.value[0]);
        } else {
            for (const auto& v : opt.value)
                slot.push_back(v);
        }
    }
    return g;
}

// "--eal -l..." would be read by Boost as two options; join the value into "--eal=...".
std::vector<std::string> join_dash_values(int argc, const char* const* argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--eal" || a == "--event-hook") && i + 1 < argc) {
            args.push_back(a + "=" + argv[++i]);
            continue;
        }
        args.push_back(a);
    }
    return args;
}

Given parse_command_line(int argc, const char* const* argv) {
    auto desc = describe_all(false, false);
    auto args = join_dash_values(argc, argv);
    try {
        auto parsed = po::command_line_parser(args)
                          .options(desc)
                          .style(po::command_line_style::default_style &
                                 ~po::command_line_style::allow_guessing)
                          .run();
        // Scalars given twice are found here, with the option's name.
        std::map<std::string, int> seen;
        for (const auto& opt : parsed.options) {
            if (opt.position_key >= 0 || opt.string_key.empty())
                throw ConfigError("'" + (opt.value.empty() ? "" : opt.value[0]) +
                                  "': unexpected argument (options start with --; see --help)");
            for (const auto& o : options()) {
                if (opt.string_key != o.name)
                    continue;
                if ((o.kind == Kind::value || o.kind == Kind::flag) && seen[o.name]++)
                    throw ConfigError(std::string("--") + o.name + ": given more than once");
            }
        }
        return collect(parsed);
    } catch (const po::error& e) {
        rethrow_boost(e, "");
    }
}

Given parse_file(const std::string& path) {
    const std::string where = "--config " + path;
    // A directory opens as a stream and reads as nothing: say so rather than run on defaults.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw ConfigError("--config: '" + path + "': is a directory");
    std::ifstream in(path);
    if (!in)
        throw ConfigError("--config: '" + path + "': cannot open: " + std::strerror(errno));
    // Read it whole first: a read error is reported (not taken for the end of the file), and
    // each option's lines are noted for the errors about its values.
    std::string text;
    std::map<std::string, std::vector<int>> lines;
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        ++number;
        // An editor's UTF-8 byte order mark would otherwise become part of the first name.
        if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0)
            line.erase(0, 3);
        text += line + "\n";
        // The names as Boost's parser reads them: '#' starts a comment, "name = value".
        std::string body = trim(line.substr(0, line.find('#')));
        auto eq = body.find('=');
        if (body.empty() || body[0] == '[')
            continue;
        if (eq == std::string::npos)
            throw ConfigError(path + ":" + std::to_string(number) + ": '" + body +
                              "': expected NAME = VALUE");
        lines[trim(body.substr(0, eq))].push_back(number);
    }
    // "FILE:LINE" of an option's n-th line (the last one known when there are fewer).
    auto line_of = [&](const std::string& name, size_t n) {
        auto it = lines.find(name);
        if (it == lines.end() || it->second.empty())
            return where;
        return path + ":" + std::to_string(it->second[std::min(n, it->second.size() - 1)]);
    };
    if (in.bad())
        throw ConfigError("--config: '" + path + "': cannot read: " + std::strerror(errno));
    std::istringstream text_in(text);
    auto desc = describe_all(false, true);
    try {
        auto parsed = po::parse_config_file(text_in, desc, false);
        std::map<std::string, int> seen;
        for (const auto& opt : parsed.options) {
            for (const auto& o : options()) {
                if (opt.string_key != o.name)
                    continue;
                if ((o.kind == Kind::value || o.kind == Kind::flag) && seen[o.name]++)
                    throw ConfigError(line_of(o.name, 1) + ": " + o.name +
                                      " given more than once (first at line " +
                                      std::to_string(lines[o.name].front()) + ")");
            }
        }
        Given g = collect(parsed);
        g.path = path;
        g.lines = std::move(lines);
        return g;
    } catch (const po::unknown_option& e) {
        std::string name = e.get_option_name();
        while (!name.empty() && name[0] == '-')
            name.erase(0, 1);
        throw ConfigError(line_of(name, 0) + ": unknown option '" + name + "' (see --help)");
    } catch (const po::error& e) {
        rethrow_boost(e, where);
    }
}

// Applies an option's values from the file; a bad value is named by its file and line.
void apply_from_file(const OptionSpec& o, const Given& file, Config& c) {
    const Values& values = file.values.at(o.name);
    try {
        o.apply(c, values);
    } catch (const ConfigError& e) {
        int index = -1;
        if (o.kind == Kind::list || o.kind == Kind::multi) {
            // Which line: the first value that fails on its own.
            for (size_t i = 0; i < values.size() && index < 0; ++i) {
                Config scratch;
                try {
                    o.apply(scratch, Values{values[i]});
                } catch (const ConfigError&) {
                    index = static_cast<int>(i);
                }
            }
        }
        throw ConfigError(locate(e.what(), {{o.name, file.where(o.name, index)}}));
    }
    c.origins[o.name] = file.where(o.name);
}

// Sets of options that exclude or fix each other: given on the command line, one member drops
// the file's other members, as "the command line wins" means for them. Returns the file's
// options to leave out, and says so in notes.
std::set<std::string> dropped_by_command_line(const Given& cli, const Given& file,
                                              std::vector<std::string>& notes) {
    std::set<std::string> dropped;
    auto drop = [&](const std::string& cli_option, const std::string& file_option) {
        if (!cli.has(cli_option) || !file.has(file_option) || cli.has(file_option))
            return;
        if (!dropped.insert(file_option).second)
            return;
        notes.push_back("--" + cli_option + " on the command line: " + file_option + " from " +
                        file.where(file_option) + " is not used");
    };
    drop("read", "port");  // offline or live: one or the other
    drop("port", "read");
    drop("cores", "workers");  // --cores sets the number of workers
    drop("workers", "cores");  // --workers alone: the plan picks the cores
    if (cli.has("port")) {
        bool any_pci = false;
        for (const auto& p : cli.values.at("port"))
            any_pci = any_pci || is_pci_address(p);
        if (any_pci)
            drop("port", "no-pci");
    }
    return dropped;
}

bool pci_problem(const std::string& name, std::string* why) {
    auto is_hex = [](const std::string& s) {
        if (s.empty())
            return false;
        for (char c : s)
            if (!std::isxdigit(static_cast<unsigned char>(c)))
                return false;
        return true;
    };
    auto bad = [&](std::string w) {
        if (why)
            *why = std::move(w);
        return true;
    };
    auto parts = split(name, ':');
    if (parts.size() != 2 && parts.size() != 3)
        return bad("expected DDDD:BB:DD.F (domain:bus:device.function)");
    if (parts.size() == 3) {
        if (!is_hex(parts[0]) || parts[0].size() > 4)
            return bad("'" + parts[0] + "' is not a hex domain (up to 4 digits)");
        parts.erase(parts.begin());
    }
    if (!is_hex(parts[0]) || parts[0].size() > 2)
        return bad("'" + parts[0] + "' is not a hex bus number (00..ff)");
    auto dot = parts[1].find('.');
    if (dot == std::string::npos)
        return bad("no '.function' after the device number");
    std::string dev = parts[1].substr(0, dot), fn = parts[1].substr(dot + 1);
    if (!is_hex(dev) || dev.size() > 2)
        return bad("'" + dev + "' is not a hex device number (00..1f)");
    if (std::stoul(dev, nullptr, 16) > 0x1f)
        return bad("device 0x" + dev + " is over 1f");
    if (!is_hex(fn) || fn.size() > 1)
        return bad("'" + fn + "' is not a function number (0..7)");
    if (std::stoul(fn, nullptr, 16) > 7)
        return bad("function " + fn + " is over 7");
    return false;
}

std::string port_name(const std::string& spec) {
    return spec.substr(0, spec.find(','));
}

// Problem with a file that must exist and be readable, or "".
std::string readable_problem(const std::string& path) {
    struct stat st {};
    if (path.empty())
        return "empty file name";
    if (::stat(path.c_str(), &st) != 0)
        return std::strerror(errno);
    if (S_ISDIR(st.st_mode))
        return "is a directory";
    if (::access(path.c_str(), R_OK) != 0)
        return std::string("not readable: ") + strerror(errno);
    return "";
}

// The directory a path's file is in ("." for a bare name).
std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

// Problem with a file we will create or replace, or "".
std::string writable_problem(const std::string& path) {
    if (path.empty())
        return "empty file name";
    if (auto why = output_target_problem(path); !why.empty())
        return why;
    struct stat st {};
    const std::string dir = directory_of(path);
    if (::stat(dir.c_str(), &st) != 0)
        return "directory " + dir + ": " + std::strerror(errno);
    if (!S_ISDIR(st.st_mode))
        return dir + " is not a directory";
    if (::access(dir.c_str(), W_OK) != 0)
        return "directory " + dir + " is not writable: " + std::strerror(errno);
    return "";
}

// What a path names, to find two options naming one file: device and inode when it exists, else
// its directory's real path and its name (a file that two outputs would both create).
std::string file_identity(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
        return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    const std::string dir = directory_of(path);
    const auto slash = path.rfind('/');
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    char* real = ::realpath(dir.c_str(), nullptr);
    std::string out = (real != nullptr ? std::string(real) : dir) + "/" + name;
    std::free(real);
    return out;
}

// Files an option reads: each readable, none given twice, and none an option that lost its value
// (`--read --config x.conf` gives --read the value "--config").
void check_input_files(const char* option, const std::vector<std::string>& files) {
    std::set<std::string> seen;
    for (const auto& f : files) {
        if (f.rfind("--", 0) == 0)
            fail(option, "needs a file name before the next option, got '" + f + "'");
        if (auto why = readable_problem(f); !why.empty())
            fail(option, f, why);
        if (!seen.insert(file_identity(f)).second)
            fail(option, f, "given twice (each file is read once)");
    }
}

// --read files are read twice (a pre-scan puts them in time order): a pipe, FIFO or device
// would hang or be consumed by the pre-scan, and is refused saying what to do instead.
// Compressed captures are read as they are (darkscope/capture_file.hpp).
void check_capture_files(const std::vector<std::string>& files) {
    for (const auto& f : files) {
        struct stat st {};
        if (::stat(f.c_str(), &st) != 0)
            continue;  // readable_problem() says why
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            fail("read", f,
                 "is not a regular file (a pipe, FIFO or device): a capture is read twice, "
                 "first to put the files in time order; write the stream to a file first");
    }
}

void check_vdev(const std::string& spec) {
    std::string name = port_name(spec);
    bool ok = (name.rfind("net_", 0) == 0 || name.rfind("eth_", 0) == 0) && name.size() > 4;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
            ok = false;
    if (!ok)
        fail("port", spec,
             "neither a PCI address (DDDD:BB:DD.F) nor a DPDK vdev (net_<driver><n>[,args], "
             "e.g. net_pcap0,rx_pcap=FILE)");
    // A capture port only receives. net_pcap opens its outputs when probed: tx_pcap truncates
    // its file, tx_iface opens an interface to send on.
    const auto args = split(spec, ',');
    for (size_t i = 1; i < args.size(); ++i)
        for (const char* output : {"tx_pcap", "tx_iface"})
            if (args[i].rfind(std::string(output) + "=", 0) == 0)
                fail("port", spec,
                     std::string(output) +
                         "= is an output (the PMD would open it at start-up, truncating a "
                         "file); a capture port only receives: remove it");
    // A pcap vdev whose input is missing fails deep inside EAL probing; say it here.
    for (const auto& file : rx_pcap_files(spec))
        if (auto why = readable_problem(file); !why.empty())
            fail("port", spec, "rx_pcap file " + file + ": " + why);
}

}  // namespace

std::vector<std::string> rx_pcap_files(const std::string& port_spec) {
    std::vector<std::string> files;
    auto args = split(port_spec, ',');
    for (size_t i = 1; i < args.size(); ++i)
        if (args[i].rfind("rx_pcap=", 0) == 0)
            files.push_back(args[i].substr(8));
    return files;
}

bool is_pci_address(const std::string& spec) {
    return !pci_problem(port_name(spec), nullptr);
}

ParseOutcome parse_config(int argc, const char* const* argv, Config& config, std::ostream& out) {
    Given cli = parse_command_line(argc, argv);
    if (cli.has("help") && to_bool("help", cli.values["help"][0])) {
        print_help(out);
        return ParseOutcome::help_printed;
    }
    if (cli.has("version") && to_bool("version", cli.values["version"][0])) {
        out << "darkscope " DARKSCOPE_VERSION "\n";
        return ParseOutcome::version_printed;
    }
    Given file;
    std::string config_path;
    if (cli.has("config")) {
        config_path = cli.values["config"][0];
        file = parse_file(config_path);
    }

    // The command line wins option by option; a flag and its --no-X twin count as one option.
    std::set<std::string> from_cli;
    for (const auto& o : options()) {
        std::string key = o.twin ? o.twin : o.name;
        if (cli.has(o.name))
            from_cli.insert(key);
    }
    Config c;
    const std::set<std::string> dropped = dropped_by_command_line(cli, file, c.notes);
    std::set<std::string> given;
    for (const Given* source : {&file, &cli}) {
        const bool is_cli = source == &cli;
        for (const auto& o : options()) {
            if (!o.apply || !source->has(o.name))
                continue;
            std::string key = o.twin ? o.twin : o.name;
            if (!is_cli && (from_cli.count(key) || dropped.count(o.name)))
                continue;
            given.insert(o.name);
            if (is_cli)
                o.apply(c, source->values.at(o.name));
            else
                apply_from_file(o, file, c);
        }
        // A switch and its twin in the same place contradict each other unless they agree.
        for (const auto& o : options()) {
            if (!o.twin || !source->has(o.name) || !source->has(o.twin))
                continue;
            bool positive = to_bool(o.twin, source->values.at(o.twin)[0]);
            bool negative = to_bool(o.name, source->values.at(o.name)[0]);
            if (positive == negative)
                throw ConfigError(std::string("--") + o.twin + " and --" + o.name + ": both given" +
                                  (is_cli ? "" : " in " + config_path));
        }
    }
    if (given.count("cores") && given.count("workers") && c.workers != c.cores.size())
        throw ConfigError(locate("--workers: '" + std::to_string(c.workers) +
                                     "': conflicts with --cores, which lists " +
                                     std::to_string(c.cores.size()) + " cores",
                                 c.origins));
    if (given.count("cores"))
        c.workers = static_cast<unsigned>(c.cores.size());
    bool any_pci = false;
    for (const auto& p : c.ports)
        any_pci = any_pci || is_pci_address(p);
    if (!any_pci)
        c.no_pci = true;
    config = std::move(c);
    return ParseOutcome::run;
}

namespace {

void check_config(const Config& c) {
    // Each option's own range, from the table; then what involves several options or files.
    for (const auto& o : options())
        if (o.range.check)
            o.range.check(c, o.name);

    // Ports
    std::set<std::string> port_names;
    for (const auto& spec : c.ports) {
        std::string name = port_name(spec);
        if (name.find(':') != std::string::npos) {
            std::string why;
            if (pci_problem(name, &why))
                fail("port", spec, "malformed PCI address: " + why);
        } else {
            check_vdev(spec);
        }
        if (!port_names.insert(name).second)
            fail("port", spec, name + " given twice");
    }
    if (c.no_pci) {
        for (const auto& spec : c.ports)
            if (is_pci_address(spec))
                fail("no-pci", "cannot be used with the PCI port " + port_name(spec));
    }
    if (!c.read_files.empty() && !c.ports.empty())
        fail("read", "cannot be combined with --port (offline mode reads files, not ports)");

    // Cores
    if (!c.cores.empty() && c.cores.size() != c.workers)
        fail("workers", std::to_string(c.workers),
             "conflicts with --cores, which lists " + std::to_string(c.cores.size()) + " cores");
    std::set<unsigned> seen_cores;
    for (unsigned core : c.cores)
        if (!seen_cores.insert(core).second)
            fail("cores", join_numbers(c.cores, ","),
                 "core " + std::to_string(core) + " listed twice");
    if (c.stats_core >= 0 && seen_cores.count(static_cast<unsigned>(c.stats_core)) && !c.share_cpus)
        fail("stats-core", std::to_string(c.stats_core),
             "also a worker core in --cores (the stats core must be apart, or give --share-cpus "
             "to let them time-share it)");

    // Queues and buffers
    if (!c.ports.empty()) {
        uint64_t pairs = uint64_t{c.rx_queues} * c.ports.size();
        if (c.workers > pairs)
            fail("workers", std::to_string(c.workers),
                 "more workers than the " + std::to_string(pairs) +
                     " (port, queue) pairs to poll; raise --rx-queues");
        uint64_t ring = uint64_t{c.rx_queues} * c.rx_desc;
        if (c.mbufs <= ring)
            fail("mbufs", std::to_string(c.mbufs),
                 "too few to fill " + std::to_string(c.rx_queues) + " rx queue(s) x " +
                     std::to_string(c.rx_desc) + " descriptors of one port");
    }

    // Recording
    if (!c.record_dir.empty() && c.record_rotate_s % c.interval_s != 0)
        fail("record-rotate", std::to_string(c.record_rotate_s),
             "must be a multiple of --interval (" + std::to_string(c.interval_s) + ")");

    // Sensors
    if (c.sensors.size() > kMaxSensors)
        fail("sensor", std::to_string(c.sensors.size()) + " sensors",
             "at most " + std::to_string(kMaxSensors) + " sensors are supported (each takes " +
                 std::to_string(kSensorSlotBytes / 1024) +
                 " KiB in every counter set: every worker holds two, every window one; the "
                 "limit is the 8-bit sensor slot of a source tuple); merge sensors, a sensor may "
                 "hold many prefixes");
    std::set<std::string> names;
    std::map<std::string, std::string> owner;  // prefix -> sensor
    for (const auto& s : c.sensors) {
        if (s.name.empty())
            fail("sensor", "=...", "empty sensor name");
        if (!valid_name_chars(s.name))
            fail("sensor", s.name, "sensor name may only use A-Z a-z 0-9 _ -");
        if (s.name.size() > 63)
            fail("sensor", s.name, "sensor name longer than 63 characters");
        if (reserved_sensor_name(s.name))
            fail(
                "sensor", s.name,
                "sensor name is reserved (the views and the history use unmatched, none and other, "
                "in any case)");
        if (!names.insert(s.name).second)
            fail("sensor", s.name, "sensor name given twice");
        if (s.prefixes.empty())
            fail("sensor", s.name, "no prefix");
        for (const auto& p : s.prefixes) {
            auto [it, fresh] = owner.emplace(p.to_string(), s.name);
            if (fresh)
                continue;
            if (it->second == s.name)
                fail("sensor", s.name, p.to_string() + " listed twice in this sensor");
            fail("sensor", s.name,
                 p.to_string() + " is already in sensor '" + it->second +
                     "' (a prefix belongs to one sensor)");
        }
    }
    std::set<uint16_t> udp;
    for (uint16_t p : c.udp_service_ports)
        if (p == 0 || !udp.insert(p).second)
            fail("udp-service-ports", std::to_string(p), p ? "listed twice" : "not a port");

    // Intervals and output
    check_capture_files(c.read_files);
    check_input_files("read", c.read_files);
    if (!c.summary_file.empty())
        if (auto why = writable_problem(c.summary_file); !why.empty())
            fail("summary", c.summary_file, why);
    if (!c.db_file.empty())
        if (auto why = writable_problem(c.db_file); !why.empty())
            fail("db", c.db_file, why);
    // An output that is also an input or the other output would destroy it without a word.
    {
        std::map<std::string, std::string> inputs;
        for (const auto& f : c.read_files)
            inputs.emplace(file_identity(f), "the --read file " + f);
        for (const auto& f : c.geo_country)
            inputs.emplace(file_identity(f), "the --geo-country file " + f);
        for (const auto& f : c.geo_asn)
            inputs.emplace(file_identity(f), "the --geo-asn file " + f);
        if (!c.db_file.empty())
            if (auto it = inputs.find(file_identity(c.db_file)); it != inputs.end())
                fail("db", c.db_file, "is also " + it->second);
        if (!c.summary_file.empty()) {
            if (!c.db_file.empty())
                inputs.emplace(file_identity(c.db_file), "the --db file");
            if (auto it = inputs.find(file_identity(c.summary_file)); it != inputs.end())
                fail("summary", c.summary_file, "is also " + it->second + ": it would be replaced");
        }
    }

    // Attribution
    check_input_files("geo-country", c.geo_country);
    check_input_files("geo-asn", c.geo_asn);
    if (c.geo_build_cache && c.geo_country.empty() && c.geo_asn.empty())
        fail("geo-build-cache", "true", "no --geo-country or --geo-asn database to build from");

    // Runtime: EAL flags that darkscope derives from its own options would silently fight them.
    static const std::map<std::string, std::string> owned = {{"-l", "--cores/--workers"},
                                                             {"--lcores", "--cores/--workers"},
                                                             {"-c", "--cores/--workers"},
                                                             {"--main-lcore", "--stats-core"},
                                                             {"--file-prefix", "--file-prefix"},
                                                             {"--no-huge", "--no-huge"},
                                                             {"-m", "--memory"},
                                                             {"--no-pci", "--no-pci"}};
    std::istringstream eal(c.eal_args);
    for (std::string tok; eal >> tok;) {
        // "--memory=512" and "-m 512", and a short flag with its value attached: "-m512", "-l0-1".
        std::string flag = tok.substr(0, tok.find('='));
        if (tok.size() > 2 && tok[0] == '-' && tok[1] != '-')
            flag = tok.substr(0, 2);
        if (auto it = owned.find(flag); it != owned.end())
            fail("eal", c.eal_args, flag + " is set by darkscope; use " + it->second);
    }
    if (!c.topology_xml.empty())
        if (auto why = readable_problem(c.topology_xml); !why.empty())
            fail("topology-xml", c.topology_xml, why);

    // Last, so that a bad value is not hidden behind it.
    if (c.read_files.empty() && c.ports.empty() && !c.plan_only && !c.geo_build_cache)
        fail("port", "nothing to capture: give --port SPEC (live) or --read FILE (offline)");
}

}  // namespace

void validate_config(const Config& c) {
    try {
        check_config(c);
    } catch (const ConfigError& e) {
        throw ConfigError(locate(e.what(), c.origins));
    }
}

std::vector<std::pair<std::string, std::string>> config_items(const Config& c) {
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& o : options()) {
        if (!o.show)
            continue;
        std::string key = o.name;
        for (char& ch : key)
            if (ch == '-')
                ch = '_';
        items.emplace_back(key, o.show(c));
    }
    return items;
}

}  // namespace darkscope
