// The Prometheus text exposition of a Snapshot, and the service labels' state.
#include "darkscope/exposition.hpp"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "darkscope/country.hpp"
#include "darkscope/decode.hpp"

namespace darkscope {

namespace {

// Appends one metric family: HELP and TYPE lines, then its samples.
class Exposition {
  public:
    void family(const char* name, const char* type, const char* help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
        name_ = name;
    }
    // A sample of the current family; labels as (name, value) pairs.
    void sample(std::initializer_list<std::pair<const char*, std::string>> labels, uint64_t v) {
        head(labels);
        out_ += std::to_string(v);
        out_ += '\n';
    }
    void sample(std::initializer_list<std::pair<const char*, std::string>> labels, double v) {
        head(labels);
        char text[64];
        std::snprintf(text, sizeof text, "%.17g", v);
        out_ += text;
        out_ += '\n';
    }
    std::string take() { return std::move(out_); }

  private:
    void head(std::initializer_list<std::pair<const char*, std::string>> labels) {
        out_ += name_;
        if (labels.size() != 0) {
            out_ += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                if (!first)
                    out_ += ',';
                first = false;
                out_ += k;
                out_ += "=\"";
                out_ += escape_label_value(v);
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
    }
    std::string out_;
    std::string name_;
};

const CounterSet& empty_counters() {
    static const CounterSet* empty = [] {
        CounterSet* c = CounterSet::zeroed();  // empty, no pool
        c->clear();
        return c;
    }();
    return *empty;
}

// The services of an interval, most probe packets first (then by name: a stable order).
std::vector<std::string> top_services(const CounterSet& c, unsigned n) {
    auto packets = service_probe_packets(c);
    std::vector<std::pair<std::string, uint64_t>> rows(packets.begin(), packets.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    std::vector<std::string> names;
    for (size_t i = 0; i < rows.size() && i < n; ++i)
        names.push_back(rows[i].first);
    return names;
}

}  // namespace

std::string escape_label_value(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        if (ch == '\\')
            out += "\\\\";
        else if (ch == '"')
            out += "\\\"";
        else if (ch == '\n')
            out += "\\n";
        else
            out += ch;
    }
    return out;
}

std::map<std::string, uint64_t> service_probe_packets(const CounterSet& c) {
    std::map<std::string, uint64_t> out;
    for (uint32_t slot = 0; slot < kServiceSlots; ++slot) {
        uint64_t p = c.service_slots[slot].probe.packets;
        if (p != 0)
            out[service_name(slot)] += p;
    }
    return out;
}

MetricsExporter::MetricsExporter(ServiceLabelPolicy policy) : policy_(std::move(policy)) {
    std::lock_guard lock(mutex_);
    for (const auto& s : policy_.watch)
        label_locked(s);
}

void MetricsExporter::label_locked(const std::string& service) {
    if (base_.count(service) != 0 || base_.size() >= policy_.cap || service == "other")
        return;
    // What the service counted up to the last snapshot observed stays under "other": the last
    // render (of that snapshot, or an older one) showed it there.
    uint64_t before = 0;
    if (last_ && last_->total.counters) {
        auto packets = service_probe_packets(*last_->total.counters);
        auto it = packets.find(service);
        before = it != packets.end() ? it->second : 0;
    }
    base_.emplace(service, before);
}

void MetricsExporter::observe(const std::shared_ptr<const Snapshot>& s) {
    std::lock_guard lock(mutex_);
    observe_locked(s);
}

void MetricsExporter::observe_locked(const std::shared_ptr<const Snapshot>& s) {
    if (!s || (last_ && s->intervals <= last_intervals_))
        return;
    // A new interval: its top N get labels. Counted from the previous snapshot observed, so a
    // service that enters in this interval keeps this interval's packets under its own label
    // when the observer saw every interval.
    if (s->last.counters)
        for (const auto& name : top_services(*s->last.counters, policy_.top_n))
            label_locked(name);
    last_ = s;
    last_intervals_ = s->intervals;
}

std::vector<std::string> MetricsExporter::labelled_services() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [k, v] : base_)
        out.push_back(k);
    return out;
}

std::string MetricsExporter::render(const std::shared_ptr<const Snapshot>& sp,
                                    const ExporterInfo& info, double now_s, double started_s) {
    std::map<std::string, uint64_t> base;
    {
        std::lock_guard lock(mutex_);
        observe_locked(sp);
        base = base_;
    }
    static const Snapshot kEmpty{};
    const Snapshot& s = sp ? *sp : kEmpty;
    const CounterSet& t = s.total.counters ? *s.total.counters : empty_counters();
    Exposition e;

    // ---- Traffic: the run's totals (counters, cumulative since start).
    e.family("darkscope_packets_total", "counter",
             "Packets counted, by traffic class (every packet has exactly one class)");
    for (unsigned i = 0; i < static_cast<unsigned>(TrafficClass::count_); ++i)
        e.sample({{"class", traffic_class_name(static_cast<TrafficClass>(i))}},
                 t.classes[i].packets);
    e.family("darkscope_bytes_total", "counter", "Bytes counted (frame length), by traffic class");
    for (unsigned i = 0; i < static_cast<unsigned>(TrafficClass::count_); ++i)
        e.sample({{"class", traffic_class_name(static_cast<TrafficClass>(i))}}, t.classes[i].bytes);
    e.family("darkscope_protocol_packets_total", "counter",
             "Packets counted, by IP protocol (not_ip for frames that are not IP)");
    for (unsigned i = 0; i < static_cast<unsigned>(Proto::count_); ++i) {
        auto p = static_cast<Proto>(i);
        e.sample({{"protocol", p == Proto::none ? "not_ip" : proto_name(p)}}, t.proto[i]);
    }
    e.family("darkscope_sensor_packets_total", "counter",
             "IP packets counted, by the sensor their destination is in (unmatched: none)");
    auto sensor_label = [&](unsigned slot) {
        return slot == kSensorSlotUnmatched   ? std::string("unmatched")
               : slot < s.sensor_names.size() ? s.sensor_names[slot]
                                              : std::string();
    };
    auto sensor_slots = [&] {
        std::vector<unsigned> slots;
        for (unsigned i = 0; i < s.sensor_names.size() && i < kMaxSensors; ++i)
            slots.push_back(i);
        slots.push_back(kSensorSlotUnmatched);
        return slots;
    }();
    for (unsigned slot : sensor_slots)
        e.sample({{"sensor", sensor_label(slot)}}, t.sensors[slot].packets);
    e.family("darkscope_sensor_bytes_total", "counter",
             "Bytes of IP packets counted, by the sensor their destination is in");
    for (unsigned slot : sensor_slots)
        e.sample({{"sensor", sensor_label(slot)}}, t.sensors[slot].bytes);

    // Services: labelled ones from their label's creation on, everything else under "other".
    e.family("darkscope_service_packets_total", "counter",
             "Probe packets (tcp_scan, udp_probe, icmp_probe) by destination service; services "
             "without a label of their own, and packets counted before a label existed, under "
             "service=\"other\"");
    {
        auto packets = service_probe_packets(t);
        uint64_t other = 0;
        for (const auto& [name, n] : packets)
            if (base.count(name) == 0)
                other += n;
        for (const auto& [name, before] : base) {
            auto it = packets.find(name);
            uint64_t n = it != packets.end() ? it->second : 0;
            uint64_t mine = n >= before ? n - before : 0;
            other += n - mine;
            e.sample({{"service", name}}, mine);
        }
        e.sample({{"service", "other"}}, other);
    }
    e.family("darkscope_country_packets_total", "counter",
             "IP packets counted, by the source's country (ISO 3166 alpha-2; ?? unknown)");
    for (unsigned i = 0; i < kCountrySlots; ++i)
        if (t.countries[i].packets != 0)
            e.sample({{"country", country_code(static_cast<uint16_t>(i))}}, t.countries[i].packets);

    // Unique sources of the last interval: gauges, not summable across sensors (a source seen
    // by two sensors counts in both).
    const CounterSet& l = s.last.counters ? *s.last.counters : empty_counters();
    e.family("darkscope_last_interval_sensor_unique_sources", "gauge",
             "Distinct source addresses per sensor in the last closed interval (estimate; do "
             "not sum across sensors)");
    for (unsigned slot : sensor_slots)
        e.sample({{"sensor", sensor_label(slot)}}, l.sensor_sources[slot].estimate());
    e.family("darkscope_last_interval_unique_sources", "gauge",
             "Distinct source addresses in the last closed interval, all sensors (estimate)");
    e.sample({}, l.total_sources.estimate());

    // ---- Health.
    e.family("darkscope_intervals_total", "counter", "Intervals closed since start");
    e.sample({}, s.intervals);
    e.family("darkscope_interval_seconds", "gauge", "The configured interval length");
    e.sample({}, uint64_t{s.interval_s});
    e.family("darkscope_last_interval_age_seconds", "gauge",
             "Seconds since the end of the last closed interval (since start before the first)");
    {
        double since = s.intervals != 0 ? static_cast<double>(s.last_end_s) : started_s;
        e.sample({}, std::max(0.0, now_s - since));
    }
    e.family("darkscope_worker_packets_total", "counter", "Packets each worker received");
    for (const auto& w : s.workers)
        e.sample({{"worker", std::to_string(w.id)}}, w.packets);
    e.family("darkscope_worker_idle_polls_total", "counter",
             "Polls in which a worker found no packet");
    for (const auto& w : s.workers)
        e.sample({{"worker", std::to_string(w.id)}}, w.idle_polls);
    e.family("darkscope_port_received_packets_total", "counter",
             "Packets the port received (the NIC's count)");
    for (const auto& p : s.ports)
        e.sample({{"port", p.name}}, p.ipackets);
    e.family("darkscope_port_rx_missed_total", "counter",
             "Packets the port dropped because the receive queues were full");
    for (const auto& p : s.ports)
        e.sample({{"port", p.name}}, p.imissed);
    e.family("darkscope_port_rx_nombuf_total", "counter",
             "Receive failures for want of a packet buffer (mbuf)");
    for (const auto& p : s.ports)
        e.sample({{"port", p.name}}, p.rx_nombuf);
    e.family("darkscope_port_rx_errors_total", "counter", "Erroneous packets the port received");
    for (const auto& p : s.ports)
        e.sample({{"port", p.name}}, p.ierrors);
    e.family("darkscope_port_link_up", "gauge", "1 when the port's link is up");
    for (const auto& p : s.ports)
        e.sample({{"port", p.name}}, uint64_t{p.link_up ? 1u : 0u});
    e.family("darkscope_mempool_free_mbufs", "gauge", "Packet buffers free in each pool");
    for (const auto& m : s.mempools)
        e.sample({{"pool", m.name}}, m.free);
    e.family("darkscope_mempool_size_mbufs", "gauge", "Packet buffers in each pool");
    for (const auto& m : s.mempools)
        e.sample({{"pool", m.name}}, m.size);
    e.family("darkscope_store_periods_written_total", "counter",
             "Periods written to the SQLite history");
    e.sample({}, s.store_written);
    e.family("darkscope_store_periods_dropped_total", "counter",
             "Periods the history dropped (its queue was full)");
    e.sample({}, s.store_dropped);
    e.family("darkscope_store_errors_total", "counter", "Failed writes to the history");
    e.sample({}, s.store_errors);
    e.family("darkscope_source_spills_total", "counter",
             "IP packets the source tuple tables had no room for (counted one by one)");
    e.sample({}, t.source_spills);
    e.family("darkscope_degraded_keys", "gauge",
             "Keys counted at lower precision because the sketch pool ran out");
    e.sample({}, t.degraded_keys());
    e.family("darkscope_events_started_total", "counter", "Events started, by kind");
    for (const char* kind : {"surge", "dos", "scanner"}) {
        uint64_t n = 0;
        for (const auto& [k, v] : s.events_started)
            if (k == kind)
                n = v;
        e.sample({{"kind", kind}}, n);
    }
    e.family("darkscope_attribution_database_build_timestamp_seconds", "gauge",
             "Build time of each attribution database loaded (epoch seconds)");
    for (const auto& d : info.databases)
        e.sample({{"kind", d.kind}, {"file", d.file}}, d.built_s);
    e.family("darkscope_attribution_reloads_total", "counter",
             "Attribution database loads (start-up, SIGHUP, /darkscope/reload) by result");
    e.sample({{"result", "ok"}}, info.reloads_ok);
    e.sample({{"result", "failed"}}, info.reloads_failed);
    e.family("darkscope_uptime_seconds", "gauge", "Seconds since darkscope started");
    e.sample({}, std::max(0.0, now_s - started_s));
    e.family("darkscope_resident_memory_bytes", "gauge", "Process resident set size");
    e.sample({}, s.rss_bytes);
    e.family("darkscope_build_info", "gauge", "Always 1; the labels say which build runs");
    e.sample({{"version", info.version}, {"dpdk", info.dpdk_version}}, uint64_t{1});
    return e.take();
}

}  // namespace darkscope
