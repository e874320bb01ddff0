// Real captures through decode + classify, a minimal per-interval aggregation (what the stats
// core hands the engine), and EventEngine. Truth comes from tcpdump's reading of the same file.
// Skips when the corpus or tcpdump is absent.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "darkscope/classify.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/events.hpp"
#include "darkscope/prefix.hpp"

namespace darkscope {
namespace {

constexpr int64_t kInterval = 60;

std::string corpus() {
    const char* env = std::getenv("DARKSCOPE_CORPUS");
    return env ? env : "../shared/corpus/pcaps";
}

struct Packet {
    int64_t time;
    PacketFacts facts;
};

std::vector<Packet> read_classified(const std::string& path, const Classifier& classifier) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    if (!p) {
        ADD_FAILURE() << err;
        return {};
    }
    LinkType link;
    if (!link_type_from_dlt(pcap_datalink(p), &link)) {
        link = kUnsupportedLink;
    }
    std::vector<Packet> out;
    pcap_pkthdr* h;
    const u_char* data;
    while (pcap_next_ex(p, &h, &data) == 1) {
        Packet pkt;
        pkt.time = h->ts.tv_sec;
        decode(data, h->caplen, h->len, link, pkt.facts);
        classifier.classify(pkt.facts);
        out.push_back(pkt);
    }
    pcap_close(p);
    return out;
}

std::string service_of(const PacketFacts& f) {
    if (f.proto == Proto::tcp) {
        return std::to_string(f.dst_port) + "/tcp";
    }
    if (f.proto == Proto::udp) {
        return std::to_string(f.dst_port) + "/udp";
    }
    return proto_name(f.proto);
}

// The stats core in miniature: per 60 s interval, backscatter grouped per (victim, vector)
// and scan-like traffic per source, then fed to the engine; silent intervals follow until
// every event has ended.
std::vector<Event> run_engine(const std::vector<Packet>& packets, EventEngine& engine) {
    using VictimKey = std::tuple<uint32_t, uint8_t, uint16_t, uint8_t, uint8_t, uint8_t, uint16_t>;
    std::map<int64_t, std::map<VictimKey, std::vector<const Packet*>>> victims;
    std::map<int64_t, std::map<uint32_t, std::vector<const Packet*>>> sources;
    for (const Packet& p : packets) {
        const PacketFacts& f = p.facts;
        if (f.ip_version != 4 || f.sensor == kSensorUnmatched) {
            continue;
        }
        int64_t interval = p.time - p.time % kInterval;
        switch (f.cls) {
            case TrafficClass::tcp_backscatter:
            case TrafficClass::udp_backscatter:
            case TrafficClass::icmp_backscatter: {
                bool icmp_error = f.quoted_valid;
                uint32_t victim = icmp_error ? f.quoted_dst.v4 : f.src.v4;
                victims[interval][{victim, f.ip_proto, f.src_port, f.tcp_flags, f.icmp_type,
                                   f.quoted_proto, f.quoted_dst_port}]
                    .push_back(&p);
                break;
            }
            case TrafficClass::tcp_scan:
            case TrafficClass::udp_probe:
            case TrafficClass::icmp_probe:
                sources[interval][f.src.v4].push_back(&p);
                break;
            default:
                break;
        }
    }
    int64_t first = std::min(victims.empty() ? INT64_MAX : victims.begin()->first,
                             sources.empty() ? INT64_MAX : sources.begin()->first);
    int64_t last = std::max(victims.empty() ? 0 : victims.rbegin()->first,
                            sources.empty() ? 0 : sources.rbegin()->first);
    std::vector<Event> events;
    for (int64_t t = first; t <= last + 2 * 3600; t += kInterval) {
        std::vector<VictimObservation> vo;
        for (auto& [key, list] : victims[t]) {
            const auto& [addr, proto, port, flags, icmp_type, qproto, qport] = key;
            VictimObservation v;
            v.addr.v4 = addr;
            v.family = 4;
            v.proto = proto;
            v.port = port;
            v.tcp_flags = flags;
            v.icmp_type = icmp_type;
            v.quoted_proto = qproto;
            v.quoted_port = qport;
            v.cls = list.front()->facts.cls;
            v.packets = list.size();
            v.first_s = list.front()->time;
            v.last_s = list.back()->time;
            std::set<uint32_t> dark;
            for (const Packet* p : list) {
                v.bytes += p->facts.frame_len;
                dark.insert(p->facts.dst.v4);
                uint64_t n = 0;
                for (const Packet* q : list) {
                    n += q->time >= p->time && q->time < p->time + 60;
                }
                v.per_minute_max = std::max(v.per_minute_max, n);
            }
            v.dark_addresses = dark.size();
            vo.push_back(v);
        }
        std::vector<SourceObservation> so;
        for (auto& [addr, list] : sources[t]) {
            SourceObservation s;
            s.addr.v4 = addr;
            s.family = 4;
            s.packets = list.size();
            s.first_s = list.front()->time;
            s.last_s = list.back()->time;
            std::set<uint32_t> dark;
            std::map<std::string, uint64_t> services;
            for (const Packet* p : list) {
                dark.insert(p->facts.dst.v4);
                services[service_of(p->facts)]++;
                s.flags |= p->facts.flags;
            }
            s.dark_addresses = dark.size();
            s.service_count = services.size();
            std::vector<std::pair<uint64_t, std::string>> ranked;
            for (auto& [name, n] : services) {
                ranked.emplace_back(n, name);
            }
            std::sort(ranked.rbegin(), ranked.rend());
            for (size_t i = 0; i < ranked.size() && i < 5; ++i) {
                s.services.push_back(ranked[i].second);
            }
            so.push_back(s);
        }
        auto out = engine.observe_interval(t, t + kInterval, {}, vo, so);
        events.insert(events.end(), out.begin(), out.end());
    }
    return events;
}

std::map<std::string, Event> latest_by_id(const std::vector<Event>& events) {
    std::map<std::string, Event> m;
    for (const Event& e : events) {
        m[e.id] = e;
    }
    return m;
}

// The trace's victim answers at most 11 packets in any 60 s, under Corsaro's 30: with the
// defaults it is (correctly) not an attack; with the window threshold at 10 its long first part
// is. Both runs are checked against the parts computed from tcpdump's packet times.
TEST(Corpus, BackscatterTraceHasTheSynAckAttack) {
    std::string path = corpus() + "/ncsa-bro-simple-scan/backscatter.trace";
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << "corpus not found: " << path;
    }
    if (std::system("tcpdump --version >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "tcpdump not found";
    }
    SensorTable sensors;
    std::string error;
    ASSERT_TRUE(sensors.add("ncsa", *parse_prefix("192.150.0.0/16"), &error)) << error;
    sensors.finalize();
    Classifier classifier(ClassifyConfig::defaults(), &sensors);
    auto packets = read_classified(path, classifier);
    ASSERT_FALSE(packets.empty());

    // Truth: tcpdump's times of the victim's packets, cut where it fell silent for the timeout,
    // each part with its busiest 60 s found by brute force.
    const std::string victim = "202.229.120.98";
    FILE* pipe =
        popen(("tcpdump -tt -n -r " + path + " src host " + victim + " 2>/dev/null").c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::vector<int64_t> times;
    char line[512];
    while (fgets(line, sizeof line, pipe)) {
        times.push_back(std::atoll(line));
    }
    pclose(pipe);
    ASSERT_GT(times.size(), 1000u);
    struct Part {
        int64_t start, end;
        uint64_t packets, busiest_minute;
    };
    const EventConfig defaults;
    std::vector<Part> parts;
    for (size_t i = 0; i < times.size(); ++i) {
        if (parts.empty() || times[i] - parts.back().end >= defaults.dos_timeout_s) {
            parts.push_back({times[i], times[i], 0, 0});
        }
        Part& part = parts.back();
        part.end = times[i];
        part.packets++;
        // A 60 s window never reaches into the next part, which starts after a longer silence.
        uint64_t n = 0;
        for (size_t j = i; j < times.size() && times[j] < times[i] + 60; ++j) {
            ++n;
        }
        part.busiest_minute = std::max(part.busiest_minute, n);
    }

    for (uint64_t window_packets : {defaults.dos_min_window_packets, uint64_t{10}}) {
        SCOPED_TRACE("dos_min_window_packets " + std::to_string(window_packets));
        EventConfig config;
        config.dos_min_window_packets = window_packets;
        config.ipv4_coverage = sensors.ipv4_coverage();
        EventEngine engine(config);
        auto events = run_engine(packets, engine);
        std::vector<Part> expected;
        for (const Part& p : parts) {
            if (p.packets >= config.dos_min_packets &&
                p.end - p.start >= static_cast<int64_t>(config.dos_min_duration_s) &&
                p.busiest_minute >= config.dos_min_window_packets) {
                expected.push_back(p);
            }
        }
        std::vector<Event> found;
        for (auto& [id, e] : latest_by_id(events)) {
            if (e.kind == EventKind::dos && e.address == victim) {
                found.push_back(e);
            }
        }
        ASSERT_EQ(found.size(), expected.size());
        std::sort(found.begin(), found.end(),
                  [](const Event& a, const Event& b) { return a.start < b.start; });
        for (size_t i = 0; i < found.size(); ++i) {
            const Event& e = found[i];
            SCOPED_TRACE(e.json());
            EXPECT_EQ(e.phase, EventPhase::end);
            EXPECT_EQ(e.vector, "SYN-ACK from 80/tcp");
            EXPECT_EQ(e.start, expected[i].start);
            EXPECT_EQ(e.end, expected[i].end);
            EXPECT_EQ(e.packets, expected[i].packets);
            EXPECT_LE(e.peak_ppm, expected[i].busiest_minute);
            EXPECT_NEAR(e.extrapolated_pps, e.rate_pps * 65536, 1e-6 * e.rate_pps * 65536);
        }
        if (window_packets == 10) {
            EXPECT_EQ(found.size(), 1u) << "the long first part (busiest minute 11 packets)";
        }
    }
}

TEST(Corpus, MasscanCapturesAreOneScanner) {
    std::string dir = corpus() + "/esnet-curated/attacks/scanners/masscan";
    if (!std::filesystem::exists(dir)) {
        GTEST_SKIP() << "corpus not found: " << dir;
    }
    SensorTable sensors;
    std::string error;
    ASSERT_TRUE(sensors.add("esnet", *parse_prefix("198.124.152.0/24"), &error)) << error;
    sensors.finalize();
    Classifier classifier(ClassifyConfig::defaults(), &sensors);
    std::vector<Packet> packets;
    for (const char* name : {"tcp_0_1000_20190821.pcap", "udp_0_1000_20190821.pcap"}) {
        auto part = read_classified(dir + "/" + name, classifier);
        packets.insert(packets.end(), part.begin(), part.end());
    }
    std::sort(packets.begin(), packets.end(),
              [](const Packet& a, const Packet& b) { return a.time < b.time; });
    ASSERT_GT(packets.size(), 2000u);
    EventEngine engine{EventConfig{}};
    auto events = run_engine(packets, engine);
    std::vector<Event> scanners;
    for (auto& [id, e] : latest_by_id(events)) {
        if (e.kind == EventKind::scanner) {
            scanners.push_back(e);
        }
    }
    ASSERT_EQ(scanners.size(), 1u);
    const Event& s = scanners.front();
    SCOPED_TRACE(s.json());
    EXPECT_EQ(s.address, "172.31.15.102");
    EXPECT_TRUE(std::find(s.tools.begin(), s.tools.end(), "masscan") != s.tools.end());
    EXPECT_EQ(s.scan_type, "vertical");
    EXPECT_EQ(s.start, packets.front().time);
    EXPECT_EQ(s.end, packets.back().time);
    EXPECT_GE(s.service_count, 1000u);
}

}  // namespace
}  // namespace darkscope
