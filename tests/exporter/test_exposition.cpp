// The Prometheus exposition of hand-built snapshots: sums over labels against the packets the
// test itself counted in, the service labels' rules (watch list, top N, sticky, capped, the rest
// under "other" with no counter ever going down), and the format's escaping. No EAL.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "darkscope/exposition.hpp"
#include "darkscope/hash.hpp"

namespace darkscope {
namespace {

PacketFacts probe(uint32_t src, uint16_t port, const char* country) {
    PacketFacts f;
    clear(f);
    f.frame_len = 60;
    f.ip_version = 4;
    f.proto = Proto::tcp;
    f.ip_proto = 6;
    f.l4_valid = true;
    f.src.v4 = src;
    f.dst.v4 = 0xcb007101;
    f.dst_port = port;
    f.cls = TrafficClass::tcp_scan;
    f.sensor = 0;
    f.country = country_index(country);
    return f;
}

// Builds a run interval by interval: `total` keeps every packet, `last` only the interval's.
class RunBuilder {
  public:
    RunBuilder() {
        total_ = std::make_shared<CounterSet>();
        total_->clear();
    }
    // Adds n probe packets to `port` from `country` into the current interval.
    void add(uint16_t port, int n, const char* country = "JP") {
        if (!last_) {
            last_ = std::make_shared<CounterSet>();
            last_->clear();
        }
        for (int i = 0; i < n; ++i) {
            PacketFacts f = probe(0x01000000u + static_cast<uint32_t>(next_++), port, country);
            count_packet(*last_, f, 0, hash_address(f.src, 4), hash_address(f.dst, 4));
            count_packet(*total_, f, 0, hash_address(f.src, 4), hash_address(f.dst, 4));
            truth_[std::to_string(port) + "/tcp"] += 1;
            ++packets_;
        }
    }
    // Closes the interval: the snapshot darkscope would publish.
    std::shared_ptr<const Snapshot> close() {
        auto s = std::make_shared<Snapshot>();
        s->intervals = ++intervals_;
        s->last_end_s = 1000 + static_cast<int64_t>(intervals_) * 60;
        s->sensor_names = {"tokyo"};
        auto copy = std::make_shared<CounterSet>();
        std::memcpy(static_cast<void*>(copy.get()), total_.get(), sizeof(CounterSet));
        s->total.counters = copy;
        s->last.counters = last_;
        last_.reset();
        return s;
    }
    uint64_t packets() const { return packets_; }
    const std::map<std::string, uint64_t>& truth() const { return truth_; }

  private:
    std::shared_ptr<CounterSet> total_, last_;
    uint64_t intervals_ = 0;
    int next_ = 0;
    uint64_t packets_ = 0;
    std::map<std::string, uint64_t> truth_;
};

// The samples of one metric in an exposition: the label text between braces -> value.
std::map<std::string, double> samples(const std::string& text, const std::string& metric) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        auto space = line.rfind(' ');
        std::string head = line.substr(0, space);
        auto brace = head.find('{');
        std::string name = head.substr(0, brace);
        if (name != metric)
            continue;
        std::string labels = brace == std::string::npos ? "" : head.substr(brace);
        out[labels] = std::stod(line.substr(space + 1));
    }
    return out;
}

double sum(const std::map<std::string, double>& m) {
    double t = 0;
    for (const auto& [k, v] : m)
        t += v;
    return t;
}

ExporterInfo info() {
    ExporterInfo i;
    i.version = "0.1.0";
    i.dpdk_version = "DPDK 22.11.11";
    return i;
}

TEST(Exposition, PacketsSumToWhatWasCounted) {
    RunBuilder run;
    run.add(445, 30, "CN");
    run.add(23, 20, "JP");
    MetricsExporter ex(ServiceLabelPolicy{});
    std::string text = ex.render(run.close(), info(), 2000, 900);
    EXPECT_EQ(sum(samples(text, "darkscope_packets_total")), 50);
    EXPECT_EQ(samples(text, "darkscope_packets_total")["{class=\"tcp_scan\"}"], 50);
    EXPECT_EQ(sum(samples(text, "darkscope_bytes_total")), 50 * 60);
    EXPECT_EQ(sum(samples(text, "darkscope_protocol_packets_total")), 50);
    EXPECT_EQ(samples(text, "darkscope_sensor_packets_total")["{sensor=\"tokyo\"}"], 50);
    auto countries = samples(text, "darkscope_country_packets_total");
    EXPECT_EQ(countries["{country=\"CN\"}"], 30);
    EXPECT_EQ(countries["{country=\"JP\"}"], 20);
    EXPECT_EQ(countries.size(), 2u);
    // Age of the last interval: now - its end (1060).
    EXPECT_EQ(samples(text, "darkscope_last_interval_age_seconds")[""], 2000 - 1060);
    EXPECT_EQ(samples(text, "darkscope_build_info")["{version=\"0.1.0\",dpdk=\"DPDK 22.11.11\"}"],
              1);
}

TEST(Exposition, ServiceLabelsAreStickyCappedAndSumToTheTotal) {
    RunBuilder run;
    ServiceLabelPolicy policy;
    policy.watch = {"80/tcp"};
    policy.top_n = 1;
    policy.cap = 3;
    MetricsExporter ex(policy);
    // Interval 1: 445 leads (labelled, with all its packets: the exporter saw the run from its
    // start); 23 is not in the top 1.
    run.add(445, 30);
    run.add(23, 20);
    run.add(80, 5);
    std::string t1 = ex.render(run.close(), info(), 2000, 900);
    auto s1 = samples(t1, "darkscope_service_packets_total");
    EXPECT_EQ(s1["{service=\"445/tcp\"}"], 30);
    EXPECT_EQ(s1["{service=\"80/tcp\"}"], 5);
    EXPECT_EQ(s1["{service=\"other\"}"], 20);
    EXPECT_EQ(sum(s1), run.packets());
    // Interval 2: 23 leads and gets a label; its 20 earlier packets stay under "other".
    run.add(23, 40);
    run.add(445, 1);
    std::string t2 = ex.render(run.close(), info(), 2000, 900);
    auto s2 = samples(t2, "darkscope_service_packets_total");
    EXPECT_EQ(s2["{service=\"23/tcp\"}"], 40);
    EXPECT_EQ(s2["{service=\"445/tcp\"}"], 31);
    EXPECT_EQ(s2["{service=\"other\"}"], 20);
    EXPECT_EQ(sum(s2), run.packets());
    // Interval 3: 3389 leads, but the cap (3 labels) is reached: "other" takes it.
    run.add(3389, 100);
    std::string t3 = ex.render(run.close(), info(), 2000, 900);
    auto s3 = samples(t3, "darkscope_service_packets_total");
    EXPECT_EQ(s3.count("{service=\"3389/tcp\"}"), 0u);
    EXPECT_EQ(s3["{service=\"other\"}"], 120);
    EXPECT_EQ(sum(s3), run.packets());
    // Interval 4: 445 leaves the top; its label stays and keeps counting.
    run.add(445, 2);
    std::string t4 = ex.render(run.close(), info(), 2000, 900);
    auto s4 = samples(t4, "darkscope_service_packets_total");
    EXPECT_EQ(s4["{service=\"445/tcp\"}"], 33);
    EXPECT_EQ(ex.labelled_services(), (std::vector<std::string>{"23/tcp", "445/tcp", "80/tcp"}));
    // No counter went down from one scrape to the next.
    for (const auto& [k, v] : s1)
        EXPECT_LE(v, s2[k]) << k;
    for (const auto& [k, v] : s2)
        EXPECT_LE(v, s3[k]) << k;
    for (const auto& [k, v] : s3)
        EXPECT_LE(v, s4[k]) << k;
}

TEST(Exposition, EveryFamilyHasHelpAndTypeOnce) {
    RunBuilder run;
    run.add(445, 3);
    MetricsExporter ex(ServiceLabelPolicy{});
    std::string text = ex.render(run.close(), info(), 2000, 900);
    std::map<std::string, int> types;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("# TYPE ", 0) == 0)
            ++types[line.substr(7, line.find(' ', 7) - 7)];
    for (const auto& [name, n] : types) {
        EXPECT_EQ(n, 1) << name;
        EXPECT_EQ(name.rfind("darkscope_", 0), 0u) << name;
    }
    EXPECT_GT(types.size(), 20u);
}

TEST(Exposition, EmptySnapshotRendersZeros) {
    MetricsExporter ex(ServiceLabelPolicy{});
    std::string text = ex.render(nullptr, info(), 2000, 1990);
    EXPECT_EQ(sum(samples(text, "darkscope_packets_total")), 0);
    EXPECT_EQ(samples(text, "darkscope_last_interval_age_seconds")[""], 10);
}

TEST(Exposition, LabelValuesAreEscaped) {
    EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace darkscope
