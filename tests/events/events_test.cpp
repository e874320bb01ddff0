// EventEngine: surges on generated series, DoS attacks from generated backscatter, scanners.
// Truth comes from the generator (planted intervals, packet timestamps), never from the engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "darkscope/decode.hpp"
#include "darkscope/events.hpp"
#include "darkscope/prefix.hpp"
#include "traffic_model.hpp"

namespace darkscope {
namespace {

constexpr int64_t kT0 = 1'700'000'000 - 1'700'000'000 % 3600;  // an hour boundary
constexpr int64_t kInterval = 60;

int64_t interval_start(int i) {
    return kT0 + i * kInterval;
}

// Every event phase produced by all tests, checked as JSON at the end (JsonIsValid).
std::vector<Event>& all_events() {
    static std::vector<Event> events;
    return events;
}

struct EventLog {
    std::vector<Event> events;
    // Distinct events by id, holding their latest phase.
    std::map<std::string, Event> latest() const {
        std::map<std::string, Event> m;
        for (const Event& e : events) {
            m[e.id] = e;
        }
        return m;
    }
    std::vector<Event> of_kind(EventKind kind) const {
        std::vector<Event> v;
        for (auto& [id, e] : latest()) {
            if (e.kind == kind) {
                v.push_back(e);
            }
        }
        return v;
    }
};

EventLog run_model(test::TrafficModel& model, int intervals, EventEngine& engine,
                   const std::map<int, std::vector<VictimObservation>>& victims = {}) {
    EventLog run;
    for (int i = 0; i < intervals; ++i) {
        auto it = victims.find(i);
        auto out = engine.observe_interval(
            interval_start(i), interval_start(i + 1), model.interval(i),
            it == victims.end() ? std::vector<VictimObservation>{} : it->second, {});
        run.events.insert(run.events.end(), out.begin(), out.end());
    }
    all_events().insert(all_events().end(), run.events.begin(), run.events.end());
    return run;
}

std::string series_id(const Event& e) {
    return e.dimension + "=" + e.key;
}

// Checks one surge against its planted truth: start and end within one interval, phases in
// order with exactly one start and one end.
void expect_surge_matches(const EventLog& run, const Event& latest, int first, int last) {
    SCOPED_TRACE(series_id(latest));
    EXPECT_LE(std::llabs(latest.start - interval_start(first)), kInterval);
    EXPECT_LE(std::llabs(latest.end - interval_start(last + 1)), kInterval);
    EXPECT_EQ(latest.phase, EventPhase::end);
    int starts = 0, ends = 0;
    for (const Event& e : run.events) {
        if (e.id == latest.id) {
            starts += e.phase == EventPhase::start;
            ends += e.phase == EventPhase::end;
        }
    }
    EXPECT_EQ(starts, 1);
    EXPECT_EQ(ends, 1);
}

// ---------------------------------------------------------------------------------------------
// Surges

TEST(Surge, SteadyBackgroundGivesNoEvent) {
    for (uint64_t seed : {1u, 2u, 3u}) {
        test::TrafficModel model(seed);
        EventEngine engine{EventConfig{}};
        EventLog run = run_model(model, 150, engine);
        EXPECT_TRUE(run.events.empty()) << "seed " << seed << ": " << run.events.front().log_line();
        EXPECT_GT(engine.stats().series_tracked, 100u);
    }
}

TEST(Surge, RareServiceAtOneSensorFromOneCountry) {
    test::TrafficModel model(11);
    const int first = 40, last = 49;
    model.plants.push_back({first, last, {"tokyo-b"}, "21318/tcp", {"JP"}, 300, 40});
    EventEngine engine{EventConfig{}};
    EventLog run = run_model(model, 70, engine);

    std::set<std::string> expected = {"service=21318/tcp", "sensor_service=tokyo-b|21318/tcp",
                                      "country_service=JP|21318/tcp"};
    std::set<std::string> found;
    for (const Event& e : run.of_kind(EventKind::surge)) {
        found.insert(series_id(e));
        expect_surge_matches(run, e, first, last);
        EXPECT_GE(e.sources, 5u);
        EXPECT_GE(e.packets, 300u * (last - first + 1) / 2);
        // Series with country context (the service's list, or a country in the key) name JP.
        if (e.dimension != "sensor_service") {
            ASSERT_FALSE(e.countries.empty());
            EXPECT_EQ(e.countries.front().first, "JP");
        }
    }
    EXPECT_EQ(found, expected);
    EXPECT_EQ(run.events.size(), run.latest().size() * 2)
        << "a steady plant gives a start and an end per series, no updates";
    // The service-level event names the sensor from its context list.
    for (const Event& e : run.of_kind(EventKind::surge)) {
        if (e.dimension == "service") {
            ASSERT_FALSE(e.sensors.empty());
            EXPECT_EQ(e.sensors.front().first, "tokyo-b");
        }
    }
}

TEST(Surge, CommonServiceSpikeAcrossAllSensors) {
    test::TrafficModel model(12);
    const int first = 40, last = 44;
    // Ten times the usual 53/udp, from new sources in every country (reflection backscatter).
    model.plants.push_back({first, last, {}, "53/udp", {}, 1800, 100});
    EventEngine engine{EventConfig{}};
    EventLog run = run_model(model, 60, engine);

    std::set<std::string> required = {"service=53/udp"};
    for (const std::string& sensor : model.sensors) {
        required.insert("sensor_service=" + sensor + "|53/udp");
    }
    std::set<std::string> found;
    for (const Event& e : run.of_kind(EventKind::surge)) {
        found.insert(series_id(e));
        // Countries' 53/udp series may surge too (the big ones do); nothing else may.
        bool allowed = required.count(series_id(e)) ||
                       (e.dimension == "country_service" && e.key.ends_with("|53/udp"));
        EXPECT_TRUE(allowed) << series_id(e);
        if (required.count(series_id(e))) {
            expect_surge_matches(run, e, first, last);
        }
    }
    for (const std::string& r : required) {
        EXPECT_TRUE(found.count(r)) << r;
    }
    for (const Event& e : run.of_kind(EventKind::surge)) {
        if (series_id(e) == "service=53/udp") {
            EXPECT_GT(e.factor, 5.0);
            EXPECT_EQ(e.sensors.size(), model.sensors.size());
            EXPECT_EQ(e.countries.size(), model.countries.size());
        }
    }
}

TEST(Surge, OneNoisyHostIsNotASurge) {
    test::TrafficModel model(13);
    // One source sends 20 times a busy service's usual packets, and floods a rare one.
    model.noisy_hosts.push_back({40, 45, "tokyo-a", "445/tcp", "US", 12000});
    model.noisy_hosts.push_back({50, 52, "osaka", "21318/tcp", "BR", 5000});
    EventEngine engine{EventConfig{}};
    EventLog run = run_model(model, 70, engine);
    EXPECT_TRUE(run.events.empty()) << run.events.front().log_line();
}

TEST(Surge, OutlierDoesNotMaskALaterSurge) {
    // A noisy host's burst must not raise the baseline so far that a real surge right after it
    // goes unseen (the baseline update is clipped).
    test::TrafficModel model(14);
    model.noisy_hosts.push_back({30, 30, "tokyo-a", "22/tcp", "US", 30000});
    model.plants.push_back({33, 36, {}, "22/tcp", {}, 3000, 300});
    EventEngine engine{EventConfig{}};
    EventLog run = run_model(model, 45, engine);
    bool found = false;
    for (const Event& e : run.of_kind(EventKind::surge)) {
        if (series_id(e) == "service=22/tcp") {
            found = true;
            expect_surge_matches(run, e, 33, 36);
        }
    }
    EXPECT_TRUE(found);
}

TEST(Surge, NewSeriesAfterWarmupCanSurgeButNotDuringWarmup) {
    EventConfig config;
    config.surge_warmup_intervals = 5;
    EventEngine engine(config);
    auto point = [](const char* key, uint64_t packets, uint64_t sources) {
        SeriesPoint p;
        p.dimension = "service";
        p.key = key;
        p.packets = packets;
        p.sources = sources;
        return p;
    };
    std::vector<Event> events;
    for (int i = 0; i < 20; ++i) {
        std::vector<SeriesPoint> series;
        if (i == 2) {
            series.push_back(point("9998/tcp", 500, 50));  // in the warm-up: only learnt
        }
        if (i >= 10 && i <= 11) {
            series.push_back(point("9999/tcp", 500, 50));  // never seen before: a surge
        }
        auto out =
            engine.observe_interval(interval_start(i), interval_start(i + 1), series, {}, {});
        events.insert(events.end(), out.begin(), out.end());
    }
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].key, "9999/tcp");
    EXPECT_EQ(events[0].phase, EventPhase::start);
    EXPECT_EQ(events[0].start, interval_start(10));
    EXPECT_EQ(events[0].factor, 0.0);  // no usual level to compare with
    EXPECT_EQ(events[1].phase, EventPhase::end);
    EXPECT_EQ(events[1].end, interval_start(12));
    EXPECT_EQ(events[1].time, interval_start(15));  // after three quiet intervals
    EXPECT_EQ(events[1].packets, 1000u);
    all_events().insert(all_events().end(), events.begin(), events.end());
}

TEST(Surge, FinishEndsOpenSurges) {
    test::TrafficModel model(15);
    model.plants.push_back({40, 49, {"tokyo-b"}, "21318/tcp", {"JP"}, 300, 40});
    EventEngine engine{EventConfig{}};
    EventLog run = run_model(model, 45, engine);
    EXPECT_EQ(engine.stats().open_surges, 3u);
    EXPECT_EQ(engine.recent(10, EventKind::surge).size(), 3u);
    auto ended = engine.finish(interval_start(45));
    ASSERT_EQ(ended.size(), 3u);
    for (const Event& e : ended) {
        EXPECT_EQ(e.phase, EventPhase::end);
        EXPECT_EQ(e.reason, "shutdown");
        EXPECT_EQ(e.end, interval_start(45));
    }
    EXPECT_EQ(engine.stats().open_surges, 0u);
    EXPECT_EQ(engine.recent(10, EventKind::surge).front().phase, EventPhase::end);
    all_events().insert(all_events().end(), ended.begin(), ended.end());
}

// ---------------------------------------------------------------------------------------------
// DoS

struct BackscatterPacket {
    int64_t time;
    uint32_t dark;
};

// Cuts packet times into per-interval observations the way the stats core does, with the
// per-minute maximum computed by brute force over every 60 s window inside the interval.
std::map<int, std::vector<VictimObservation>> observe_backscatter(
    const std::vector<BackscatterPacket>& packets, const VictimObservation& proto) {
    std::map<int, std::vector<BackscatterPacket>> by_interval;
    for (const auto& p : packets) {
        by_interval[static_cast<int>((p.time - kT0) / kInterval)].push_back(p);
    }
    std::map<int, std::vector<VictimObservation>> out;
    for (auto& [i, list] : by_interval) {
        VictimObservation v = proto;
        v.packets = list.size();
        v.bytes = list.size() * 60;
        v.first_s = list.front().time;
        v.last_s = list.back().time;
        std::set<uint32_t> dark;
        for (const auto& p : list) {
            dark.insert(p.dark);
            uint64_t in_window = 0;
            for (const auto& q : list) {
                in_window += q.time >= p.time && q.time < p.time + 60;
            }
            v.per_minute_max = std::max(v.per_minute_max, in_window);
        }
        v.dark_addresses = dark.size();
        out[i].push_back(v);
    }
    return out;
}

VictimObservation syn_ack_victim(const char* address, uint16_t port) {
    VictimObservation v;
    uint8_t family = 0;
    v.addr = *parse_address(address, &family);
    v.family = family;
    v.cls = TrafficClass::tcp_backscatter;
    v.proto = 6;
    v.port = port;
    v.tcp_flags = tcp_syn | tcp_ack;
    v.country = "JP";
    v.asn = 64500;
    return v;
}

std::vector<BackscatterPacket> packets_between(int64_t from, int64_t to, double per_second,
                                               uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::exponential_distribution<double> gap(per_second);
    std::uniform_int_distribution<uint32_t> dark(0, 65535);
    std::vector<BackscatterPacket> out;
    for (double t = static_cast<double>(from); t < static_cast<double>(to); t += gap(rng)) {
        out.push_back({static_cast<int64_t>(t), dark(rng)});
    }
    return out;
}

EventLog run_victims(EventEngine& engine,
                     const std::map<int, std::vector<VictimObservation>>& victims, int intervals) {
    EventLog run;
    for (int i = 0; i < intervals; ++i) {
        auto it = victims.find(i);
        auto out = engine.observe_interval(
            interval_start(i), interval_start(i + 1), {},
            it == victims.end() ? std::vector<VictimObservation>{} : it->second, {});
        run.events.insert(run.events.end(), out.begin(), out.end());
    }
    all_events().insert(all_events().end(), run.events.begin(), run.events.end());
    return run;
}

TEST(Dos, SynAckBackscatterIsOneAttack) {
    // 203.0.113.80:80 answers a spoofed SYN flood for five minutes, about 1 packet/s.
    auto packets = packets_between(interval_start(3) + 17, interval_start(8) + 29, 1.0, 21);
    ASSERT_GT(packets.size(), 200u);
    EventConfig config;
    config.ipv4_coverage = 1.0 / 65536;  // one /16
    EventEngine engine(config);
    EventLog run =
        run_victims(engine, observe_backscatter(packets, syn_ack_victim("203.0.113.80", 80)), 20);

    auto attacks = run.of_kind(EventKind::dos);
    ASSERT_EQ(attacks.size(), 1u);
    const Event& a = attacks.front();
    EXPECT_EQ(a.phase, EventPhase::end);
    EXPECT_EQ(a.reason, "timeout");
    EXPECT_EQ(a.address, "203.0.113.80");
    EXPECT_EQ(a.vector, "SYN-ACK from 80/tcp");
    EXPECT_EQ(a.ports, std::vector<uint16_t>{80});
    EXPECT_EQ(a.start, packets.front().time);
    EXPECT_EQ(a.end, packets.back().time);
    EXPECT_EQ(a.packets, packets.size());
    EXPECT_EQ(a.country, "JP");
    EXPECT_EQ(a.asn, 64500u);
    // The true busiest minute, by brute force over all packets; the engine sees interval
    // maxima, so it may be lower but not below the busiest minute inside one interval.
    uint64_t true_peak = 0;
    for (const auto& p : packets) {
        uint64_t n = 0;
        for (const auto& q : packets) {
            n += q.time >= p.time && q.time < p.time + 60;
        }
        true_peak = std::max(true_peak, n);
    }
    EXPECT_LE(a.peak_ppm, true_peak);
    EXPECT_GE(a.peak_ppm, 30u);
    std::set<uint32_t> dark;
    for (const auto& p : packets) {
        dark.insert(p.dark);
    }
    EXPECT_LE(a.destinations, dark.size());
    EXPECT_GT(a.destinations, 0u);
    double rate = static_cast<double>(packets.size()) /
                  static_cast<double>(packets.back().time - packets.front().time);
    EXPECT_NEAR(a.rate_pps, rate, 1e-9);
    EXPECT_NEAR(a.extrapolated_pps, rate * 65536, 1e-6);
    // The end comes once the victim has been silent for dos_timeout_s.
    for (const Event& e : run.events) {
        if (e.phase == EventPhase::end) {
            EXPECT_GE(e.time - packets.back().time, 300);
            EXPECT_LT(e.time - packets.back().time, 300 + kInterval);
        }
    }
    EXPECT_EQ(run.events.front().phase, EventPhase::start);
    EXPECT_EQ(engine.recent_dos(5).size(), 1u);
}

TEST(Dos, ShortOrThinBurstsAreNotAttacks) {
    std::map<int, std::vector<VictimObservation>> victims;
    auto merge = [&](const std::map<int, std::vector<VictimObservation>>& m) {
        for (auto& [i, list] : m) {
            victims[i].insert(victims[i].end(), list.begin(), list.end());
        }
    };
    // 20 packets over two minutes: too few.
    merge(observe_backscatter(
        packets_between(interval_start(2), interval_start(2) + 120, 20.0 / 120, 31),
        syn_ack_victim("198.51.100.1", 443)));
    // 100 packets in 30 s: too short.
    merge(observe_backscatter(
        packets_between(interval_start(5) + 10, interval_start(5) + 40, 100.0 / 30, 32),
        syn_ack_victim("198.51.100.2", 80)));
    // 40 packets over ten minutes: never 30 in a minute.
    merge(
        observe_backscatter(packets_between(interval_start(8), interval_start(18), 40.0 / 600, 33),
                            syn_ack_victim("198.51.100.3", 22)));
    EventEngine engine{EventConfig{}};
    EventLog run = run_victims(engine, victims, 40);
    EXPECT_TRUE(run.events.empty()) << run.events.front().log_line();
    EXPECT_EQ(engine.stats().dos_below_threshold, 3u);
    EXPECT_EQ(engine.stats().victims_tracked, 0u);
}

TEST(Dos, VectorDescriptions) {
    VictimObservation v;
    v.proto = 1;
    v.icmp_type = 3;
    v.quoted_proto = 17;
    v.quoted_port = 53;
    EXPECT_EQ(describe_vector(v), "ICMP unreachable quoting udp/53");
    v.proto = 17;
    v.port = 53;
    EXPECT_EQ(describe_vector(v), "UDP reflection from 53/udp");
    v.proto = 6;
    v.port = 443;
    v.tcp_flags = tcp_rst | tcp_ack;
    EXPECT_EQ(describe_vector(v), "RST-ACK from 443/tcp");
    v.proto = 1;
    v.icmp_type = 0;
    EXPECT_EQ(describe_vector(v), "ICMP echo reply");
}

// ---------------------------------------------------------------------------------------------
// Scanners

SourceObservation source(const char* address, uint64_t destinations, uint16_t flags,
                         std::vector<std::string> services, int interval) {
    SourceObservation s;
    uint8_t family = 0;
    s.addr = *parse_address(address, &family);
    s.family = family;
    s.packets = destinations * 2;
    s.dark_addresses = destinations;
    s.flags = flags;
    s.services = std::move(services);
    s.first_s = interval_start(interval) + 5;
    s.last_s = interval_start(interval) + 55;
    s.country = "NL";
    s.asn = 64501;
    return s;
}

TEST(Scanner, ManyDestinationsWithFlags) {
    EventEngine engine{EventConfig{}};
    std::vector<Event> events;
    const uint16_t zmap_flags = flag_zmap | flag_no_tcp_options;
    const uint64_t per_interval = 30;  // reaches 64 in the third interval
    for (int i = 0; i < 80; ++i) {
        std::vector<SourceObservation> sources;
        if (i >= 2 && i < 8) {
            sources.push_back(
                source("198.51.100.7", per_interval, zmap_flags, {"23/tcp", "2323/tcp"}, i));
            sources.push_back(source("2001:db8::9", 200, flag_masscan, {"443/tcp"}, i));
        }
        if (i >= 2 && i < 5) {
            sources.push_back(source("192.0.2.50", 10, 0, {"22/tcp"}, i));  // 30 in all
        }
        auto out =
            engine.observe_interval(interval_start(i), interval_start(i + 1), {}, {}, sources);
        if (i == 5) {
            auto activity = engine.scanner_activity(1);
            ASSERT_EQ(activity.size(), 1u);
            EXPECT_EQ(activity[0].scanners, 2u);
            std::map<std::string, uint64_t> per_service(activity[0].services.begin(),
                                                        activity[0].services.end());
            EXPECT_EQ(per_service["23/tcp"], 1u);
            EXPECT_EQ(per_service["443/tcp"], 1u);
            EXPECT_EQ(per_service.count("22/tcp"), 0u);
            ASSERT_EQ(activity[0].countries.size(), 1u);
            EXPECT_EQ(activity[0].countries[0], (std::pair<std::string, uint64_t>{"NL", 2}));
        }
        events.insert(events.end(), out.begin(), out.end());
    }
    all_events().insert(all_events().end(), events.begin(), events.end());
    EventLog run{events};
    auto scanners = run.of_kind(EventKind::scanner);
    ASSERT_EQ(scanners.size(), 2u);
    std::map<std::string, Event> by_source;
    for (const Event& e : scanners) {
        by_source[e.address] = e;
    }
    ASSERT_TRUE(by_source.count("198.51.100.7"));
    const Event& z = by_source["198.51.100.7"];
    EXPECT_EQ(z.phase, EventPhase::end);
    EXPECT_EQ(z.start, interval_start(2) + 5);
    EXPECT_EQ(z.end, interval_start(7) + 55);
    EXPECT_EQ(z.destinations, 6 * per_interval);
    EXPECT_EQ(z.services, (std::vector<std::string>{"23/tcp", "2323/tcp"}));
    EXPECT_EQ(z.tools, std::vector<std::string>{flag_name(0)});
    EXPECT_TRUE(std::find(z.flags.begin(), z.flags.end(), "no_tcp_options") != z.flags.end());
    EXPECT_EQ(z.country, "NL");
    // Its start phase came in the first interval where the window held 64 destinations.
    for (const Event& e : events) {
        if (e.id == z.id && e.phase == EventPhase::start) {
            EXPECT_EQ(e.time, interval_start(5));
        }
    }
    ASSERT_TRUE(by_source.count("2001:db8::9"));
    EXPECT_EQ(by_source["2001:db8::9"].tools, std::vector<std::string>{"masscan"});
    EXPECT_EQ(engine.recent_scanners(10).size(), 2u);
    EXPECT_EQ(engine.stats().sources_tracked, 0u);
}

TEST(Scanner, VerticalScanOfOneHost) {
    EventEngine engine{EventConfig{}};
    std::vector<Event> events;
    for (int i = 0; i < 90; ++i) {
        std::vector<SourceObservation> sources;
        if (i == 3) {
            // 1001 ports of one dark address within one interval.
            SourceObservation s = source("192.0.2.77", 1, flag_masscan, {"0/tcp", "1/tcp"}, i);
            s.service_count = 1001;
            sources.push_back(s);
        }
        if (i >= 2 && i < 40) {
            // The same 10 services every interval: 380 by a sum, never 64 in one interval.
            SourceObservation s = source("192.0.2.78", 1, flag_mirai, {"23/tcp"}, i);
            s.service_count = 10;
            sources.push_back(s);
        }
        auto out =
            engine.observe_interval(interval_start(i), interval_start(i + 1), {}, {}, sources);
        events.insert(events.end(), out.begin(), out.end());
    }
    all_events().insert(all_events().end(), events.begin(), events.end());
    auto scanners = EventLog{events}.of_kind(EventKind::scanner);
    ASSERT_EQ(scanners.size(), 1u);
    EXPECT_EQ(scanners[0].address, "192.0.2.77");
    EXPECT_EQ(scanners[0].scan_type, "vertical");
    EXPECT_EQ(scanners[0].service_count, 1001u);
    EXPECT_EQ(scanners[0].tools, std::vector<std::string>{"masscan"});
}

TEST(Surge, LastingSurgeIsRebaselined) {
    test::TrafficModel model(16);
    model.plants.push_back({30, 69, {}, "8080/tcp", {}, 2000, 300});
    EventConfig config;
    config.surge_max_duration_s = 10 * kInterval;
    EventEngine engine(config);
    EventLog run = run_model(model, 80, engine);
    std::vector<Event> service_events;
    for (const Event& e : run.events) {
        if (series_id(e) == "service=8080/tcp") {
            service_events.push_back(e);
        }
    }
    ASSERT_GE(service_events.size(), 2u);
    EXPECT_EQ(service_events.front().phase, EventPhase::start);
    EXPECT_EQ(service_events.front().start, interval_start(30));
    // Ten intervals later it is the new normal: it ends, and the rest of the plant is quiet.
    const Event& end = service_events.back();
    EXPECT_EQ(end.phase, EventPhase::end);
    EXPECT_EQ(end.reason, "rebaselined");
    EXPECT_EQ(end.end, interval_start(40));
    EXPECT_EQ(run.latest().count(end.id), 1u);
    for (const Event& e : service_events) {
        EXPECT_EQ(e.id, end.id);
    }
}

// ---------------------------------------------------------------------------------------------
// Everything together, then the JSON of every event produced above.

TEST(Combined, KnownEventsAndNothingElse) {
    test::TrafficModel model(41);
    model.plants.push_back({30, 37, {"tokyo-b"}, "21318/tcp", {"JP"}, 300, 40});
    model.plants.push_back({50, 54, {}, "53/udp", {}, 1800, 100});
    auto packets = packets_between(interval_start(40) + 3, interval_start(44) + 50, 2.0, 42);
    auto victims = observe_backscatter(packets, syn_ack_victim("203.0.113.80", 80));
    EventEngine engine{EventConfig{}};
    EventLog run = run_model(model, 70, engine, victims);

    auto dos = run.of_kind(EventKind::dos);
    ASSERT_EQ(dos.size(), 1u);
    EXPECT_EQ(dos[0].address, "203.0.113.80");
    EXPECT_EQ(dos[0].vector, "SYN-ACK from 80/tcp");
    EXPECT_EQ(dos[0].start, packets.front().time);
    EXPECT_EQ(dos[0].end, packets.back().time);
    std::set<std::string> rare = {"service=21318/tcp", "sensor_service=tokyo-b|21318/tcp",
                                  "country_service=JP|21318/tcp"};
    std::set<std::string> found;
    for (const Event& e : run.of_kind(EventKind::surge)) {
        found.insert(series_id(e));
        if (rare.count(series_id(e))) {
            expect_surge_matches(run, e, 30, 37);
        } else {
            EXPECT_TRUE(e.key.ends_with("53/udp")) << series_id(e);
            EXPECT_NE(e.dimension, "country");
            EXPECT_NE(e.dimension, "sensor");
        }
    }
    for (const std::string& r : rare) {
        EXPECT_TRUE(found.count(r)) << r;
    }
    EXPECT_TRUE(found.count("service=53/udp"));
    EXPECT_TRUE(run.of_kind(EventKind::scanner).empty());
}

TEST(Json, EveryEventParsesWithTheFieldsTheReportReads) {
    const char* python = std::getenv("PYTHON3");
    if (python == nullptr) {
        GTEST_SKIP() << "PYTHON3 not set (run through meson test)";
    }
    if (all_events().empty()) {
        // Run alone (a gtest filter): produce some events of every kind here.
        test::TrafficModel model(41);
        model.plants.push_back({30, 37, {"tokyo-b"}, "21318/tcp", {"JP"}, 300, 40});
        auto packets = packets_between(interval_start(40) + 3, interval_start(44) + 50, 2.0, 42);
        EventEngine engine{EventConfig{}};
        run_model(model, 60, engine,
                  observe_backscatter(packets, syn_ack_victim("203.0.113.80", 80)));
    }
    ASSERT_FALSE(all_events().empty());
    // One strange key so escaping is exercised too.
    Event odd;
    odd.kind = EventKind::surge;
    odd.phase = EventPhase::start;
    odd.id = "surge:sensor:odd";
    odd.dimension = "sensor";
    odd.key = std::string("t\"ab\\le\n\x01 caf\xc3\xa9 \xff");
    all_events().push_back(odd);

    char path[] = "/tmp/darkscope-events-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    {
        std::ofstream out(path);
        for (const Event& e : all_events()) {
            out << e.json() << "\n";
        }
    }
    std::string script =
        "import json, sys\n"
        "need = {'surge': ['dimension', 'key', 'factor', 'packets', 'sources', 'start', "
        "'end'],\n"
        "        'dos': ['victim', 'country', 'asn', 'vector', 'packets', 'peak_ppm', "
        "'destinations', 'extrapolated_pps', 'start', 'end'],\n"
        "        'scanner': ['source', 'country', 'destinations', 'services', 'flags', 'start', "
        "'end']}\n"
        "n = 0\n"
        "for line in open(sys.argv[1]):\n"
        "    e = json.loads(line)\n"
        "    missing = [k for k in need[e['kind']] + ['id', 'phase', 'time'] if k not in e]\n"
        "    assert not missing, (e['id'], missing)\n"
        "    assert isinstance(e['start'], int) and isinstance(e['end'], int)\n"
        "    if e['kind'] == 'surge':\n"
        "        for k in ('countries', 'sensors'):\n"
        "            assert k not in e or (isinstance(e[k], list) and e[k]), (e['id'], k)\n"
        "        if e['dimension'] in ('country_service', 'country'):\n"
        "            assert e['countries'], e['id']\n"
        "    if e['kind'] == 'scanner':\n"
        "        assert all(isinstance(f, str) for f in e['flags'])\n"
        "    n += 1\n"
        "odd = json.loads(open(sys.argv[1]).read().splitlines()[-1])\n"
        "assert odd['key'] == 't\"ab\\\\le\\n\\x01 caf\\u00e9 \\ufffd', repr(odd['key'])\n"
        "print(n, 'events parsed')\n";
    std::string script_path = std::string(path) + ".py";
    {
        std::ofstream out(script_path);
        out << script;
    }
    std::string command = std::string(python) + " " + script_path + " " + path;
    int rc = std::system(command.c_str());
    std::remove(path);
    std::remove(script_path.c_str());
    EXPECT_EQ(rc, 0) << command;
}

}  // namespace
}  // namespace darkscope
