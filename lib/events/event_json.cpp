// Event::json() and Event::log_line(): the event as the history, telemetry, the hook and the
// report see it. Field names are the contract in docs/events.md and docs/schema.md.
#include <cmath>
#include <cstdio>

#include "darkscope/events.hpp"
#include "darkscope/json.hpp"

namespace darkscope {

namespace {

// Appends JSON members to one object; the caller closes it.
class JsonObject {
  public:
    JsonObject() { out_ = "{"; }
    void key(const char* k) {
        if (!first_) {
            out_ += ',';
        }
        first_ = false;
        out_ += '"';
        out_ += k;
        out_ += "\":";
    }
    void str(const char* k, const std::string& v) {
        key(k);
        out_ += '"' + json_escape(v) + '"';
    }
    void integer(const char* k, int64_t v) {
        key(k);
        out_ += std::to_string(v);
    }
    void uinteger(const char* k, uint64_t v) {
        key(k);
        out_ += std::to_string(v);
    }
    // A finite double; NaN and infinities (never produced on purpose) become null.
    void number(const char* k, double v) {
        key(k);
        append_number(out_, v);
    }
    void raw(const char* k, const std::string& json_text) {
        key(k);
        out_ += json_text;
    }
    void null(const char* k) {
        key(k);
        out_ += "null";
    }
    void boolean(const char* k, bool v) {
        key(k);
        out_ += v ? "true" : "false";
    }
    void strings(const char* k, const std::vector<std::string>& v) {
        key(k);
        out_ += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            out_ += (i ? ",\"" : "\"") + json_escape(v[i]) + '"';
        }
        out_ += ']';
    }
    // [{"<name>": "...", "packets": N}, ...]
    void counted(const char* k, const char* name,
                 const std::vector<std::pair<std::string, uint64_t>>& v) {
        key(k);
        out_ += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            out_ += i ? ",{\"" : "{\"";
            out_ += name;
            out_ += "\":\"" + json_escape(v[i].first) + "\",\"packets\":";
            out_ += std::to_string(v[i].second) + '}';
        }
        out_ += ']';
    }
    std::string done() { return std::move(out_) + "}"; }

    static void append_number(std::string& out, double v) {
        if (!std::isfinite(v)) {
            out += "null";
            return;
        }
        char buf[64];
        // Six significant digits are plenty for rates and factors, and keep the JSON short.
        int n = std::snprintf(buf, sizeof buf, "%.6g", v);
        // %g may print "1e+06": valid JSON. It never prints "inf" here (checked above).
        out.append(buf, static_cast<size_t>(n));
    }

  private:
    std::string out_;
    bool first_ = true;
};

std::vector<std::string> first_names(const std::vector<std::pair<std::string, uint64_t>>& v) {
    std::vector<std::string> names;
    names.reserve(v.size());
    for (const auto& [name, packets] : v) {
        names.push_back(name);
    }
    return names;
}

std::string fmt(double v) {
    std::string s;
    JsonObject::append_number(s, v);
    return s;
}

}  // namespace

std::string Event::json() const {
    JsonObject o;
    o.str("id", id);
    o.str("kind", event_kind_name(kind));
    o.str("phase", event_phase_name(phase));
    o.integer("time", time);
    o.integer("start", start);
    o.integer("end", end);
    o.integer("duration_s", end - start);
    if (!reason.empty()) {
        o.str("reason", reason);
    }
    if (kind == EventKind::surge) {
        o.str("dimension", dimension);
        o.str("key", key);
        // Convenience fields split from the key ("tokyo-b|21318/tcp").
        auto bar = key.find('|');
        std::string first = bar == std::string::npos ? key : key.substr(0, bar);
        std::string second = bar == std::string::npos ? "" : key.substr(bar + 1);
        if (dimension == "service") {
            o.str("service", key);
        } else if (dimension == "sensor") {
            o.str("sensor", key);
        } else if (dimension == "country") {
            o.str("country", key);
        } else if (dimension == "sensor_service") {
            o.str("sensor", first);
            o.str("service", second);
        } else if (dimension == "country_service") {
            o.str("country", first);
            o.str("service", second);
        } else if (dimension == "sensor_country") {
            o.str("sensor", first);
            o.str("country", second);
        }
        o.uinteger("packets", packets);
        o.uinteger("sources", sources);
        o.uinteger("peak_packets", peak_packets);
        o.number("peak_rate_pps", peak_rate_pps);
        o.uinteger("intervals", intervals);
        o.number("baseline", baseline);
        o.number("spread", spread);
        o.number("sources_baseline", sources_baseline);
        if (factor > 0) {
            o.number("factor", factor);
        } else {
            o.null("factor");  // a series that was at 0: "times the usual level" means nothing
        }
        o.boolean("new_series", baseline < 1);
        // Left out when unknown: the report counts `countries` ("from N sources in C
        // countries"), and an empty list would read as zero countries.
        if (!countries.empty()) {
            o.strings("countries", first_names(countries));
            o.counted("top_countries", "country", countries);
        }
        if (!sensors.empty()) {
            o.strings("sensors", first_names(sensors));
            o.counted("top_sensors", "sensor", sensors);
        }
    } else if (kind == EventKind::dos) {
        o.str("victim", address);
        o.uinteger("family", family);
        o.str("country", country);
        o.uinteger("asn", asn);
        o.uinteger("packets", packets);
        o.uinteger("bytes", bytes);
        o.uinteger("peak_ppm", peak_ppm);
        o.uinteger("destinations", destinations);
        o.uinteger("dark_addresses", destinations);
        o.str("vector", vector);
        o.counted("vectors", "vector", vectors);
        std::string list = "[";
        for (size_t i = 0; i < ports.size(); ++i) {
            list += (i ? "," : "") + std::to_string(ports[i]);
        }
        o.raw("ports", list + "]");
        o.number("rate_pps", rate_pps);
        if (extrapolated_pps > 0) {
            o.number("extrapolated_pps", extrapolated_pps);
            o.number("peak_extrapolated_pps", peak_extrapolated_pps);
        } else {
            o.null("extrapolated_pps");
            o.null("peak_extrapolated_pps");
        }
        o.uinteger("intervals", intervals);
    } else if (kind == EventKind::scanner) {
        o.str("source", address);
        o.uinteger("family", family);
        o.str("country", country);
        o.uinteger("asn", asn);
        o.uinteger("packets", packets);
        o.uinteger("destinations", destinations);
        o.uinteger("service_count", service_count);
        o.str("scan_type", scan_type);
        o.strings("services", services);
        o.strings("flags", flags);
        o.strings("tools", tools);
        o.uinteger("flag_bits", flag_bits);
        o.integer("first_seen", start);
        o.integer("last_seen", end);
        o.uinteger("intervals", intervals);
    }
    if (!capture.empty()) {
        o.str("capture", capture);
    }
    return o.done();
}

// One log line of stable key=value fields: kind, phase and id first, then the kind's fields,
// the event capture's file and the reason last; a value with a space, a quote or an equals sign is
// double-quoted (with \" and \\ escaped), lists are comma-joined. docs/operations.md lists the
// fields.
std::string Event::log_line() const {
    std::string s;
    auto field = [&s](const char* k, const std::string& v) {
        if (!s.empty())
            s += ' ';
        s += k;
        s += '=';
        bool quote = v.empty() || v.find_first_of(" \"=\\\t") != std::string::npos;
        if (!quote) {
            s += v;
            return;
        }
        s += '"';
        for (char ch : v) {
            if (ch == '"' || ch == '\\')
                s += '\\';
            s += ch;
        }
        s += '"';
    };
    auto number = [&field](const char* k, uint64_t v) { field(k, std::to_string(v)); };
    auto list = [&field](const char* k, const std::vector<std::string>& v, size_t at_most) {
        std::string joined;
        for (size_t i = 0; i < v.size() && i < at_most; ++i)
            joined += (i ? "," : "") + v[i];
        if (!joined.empty())
            field(k, joined);
    };
    field("kind", event_kind_name(kind));
    field("phase", event_phase_name(phase));
    field("id", id);
    field("time", std::to_string(time));
    field("start", std::to_string(start));
    field("end", std::to_string(end));
    if (kind == EventKind::surge) {
        field("dimension", dimension);
        field("key", key);
        number("packets", packets);
        number("intervals", intervals);
        number("peak_packets", peak_packets);
        field("baseline", fmt(baseline));
        if (factor > 0)
            field("factor", fmt(factor));
        number("sources", sources);
    } else if (kind == EventKind::dos) {
        field("victim", address);
        if (!country.empty())
            field("country", country);
        number("asn", asn);
        field("vector", vector);
        number("packets", packets);
        number("peak_ppm", peak_ppm);
    } else if (kind == EventKind::scanner) {
        field("source", address);
        if (!country.empty())
            field("country", country);
        number("asn", asn);
        number("destinations", destinations);
        number("packets", packets);
        list("services", services, 5);
        list("tools", tools, tools.size());
    }
    if (!capture.empty())
        field("capture", capture);
    if (!reason.empty())
        field("reason", reason);
    return s;
}

}  // namespace darkscope
