// The libraries' configurations built from a Config: every value given on the command line
// arrives in the field that uses it, and what an option leaves alone keeps the library's default.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "darkscope/sub_configs.hpp"

using namespace darkscope;

namespace {

Config parse(std::vector<std::string> args) {
    args.insert(args.begin(), "darkscope");
    std::vector<const char*> argv;
    for (auto& a : args)
        argv.push_back(a.c_str());
    Config c;
    std::ostringstream out;
    parse_config(static_cast<int>(argv.size()), argv.data(), c, out);
    return c;
}

}  // namespace

TEST(SubConfigs, PlanRequestTakesTheCoreOptions) {
    Config c = parse({"--port", "0000:3b:00.0", "--port", "net_pcap0,rx_pcap=x.pcap", "--rx-queues",
                      "3", "--cores", "2,4-5", "--stats-core", "7", "--share-cpus"});
    PlanRequest r = plan_request(c);
    EXPECT_EQ(r.ports, (std::vector<std::string>{"0000:3b:00.0", "net_pcap0,rx_pcap=x.pcap"}));
    EXPECT_EQ(r.rx_queues, 3u);
    EXPECT_EQ(r.cores, (std::vector<unsigned>{2, 4, 5}));
    EXPECT_EQ(r.workers, 3u);  // --cores sets the count
    EXPECT_EQ(r.stats_core, 7);
    EXPECT_TRUE(r.share_cpus);

    PlanRequest planned = plan_request(parse({"--workers", "4"}));
    EXPECT_EQ(planned.workers, 4u);
    EXPECT_TRUE(planned.cores.empty());
    EXPECT_EQ(planned.stats_core, -1);
    EXPECT_FALSE(planned.share_cpus);
}

TEST(SubConfigs, ClassifyConfigHasExactlyTheGivenPorts) {
    ClassifyConfig given = classify_config(parse({"--udp-service-ports", "53,123,65535"}));
    EXPECT_EQ(given.udp_service_ports.count(), 3u);
    EXPECT_TRUE(given.udp_service_ports.test(53));
    EXPECT_TRUE(given.udp_service_ports.test(123));
    EXPECT_TRUE(given.udp_service_ports.test(65535));
    EXPECT_TRUE(classify_config(parse({"--udp-service-ports", ""})).udp_service_ports.none());
    // Not given: the default list, the classifier's own defaults.
    EXPECT_EQ(classify_config(parse({})).udp_service_ports,
              ClassifyConfig::defaults().udp_service_ports);
}

TEST(SubConfigs, EventConfigTakesTheThresholdsAndTheSensorsCoverage) {
    Config c =
        parse({"--surge-factor", "2.5", "--surge-min-packets", "7", "--surge-min-sources", "8",
               "--surge-quiet-intervals", "9", "--dos-min-packets", "10", "--dos-min-duration",
               "11", "--dos-min-window-packets", "12", "--scanner-min-destinations", "13"});
    SensorTable sensors;
    std::string error;
    ASSERT_TRUE(sensors.add("a", *parse_prefix("10.0.0.0/8"), &error)) << error;
    ASSERT_TRUE(sensors.add("b", *parse_prefix("192.0.2.0/24"), &error)) << error;
    sensors.finalize();
    EventConfig e = event_config(c, sensors);
    EXPECT_DOUBLE_EQ(e.surge_factor, 2.5);
    EXPECT_EQ(e.surge_min_packets, 7u);
    EXPECT_EQ(e.surge_min_sources, 8u);
    EXPECT_EQ(e.surge_quiet_intervals, 9u);
    EXPECT_EQ(e.dos_min_packets, 10u);
    EXPECT_EQ(e.dos_min_duration_s, 11u);
    EXPECT_EQ(e.dos_min_window_packets, 12u);
    EXPECT_EQ(e.scanner_min_destinations, 13u);
    EXPECT_DOUBLE_EQ(e.ipv4_coverage, (std::ldexp(1.0, 24) + 256) / std::ldexp(1.0, 32));
    // What no option sets keeps the engine's default.
    const EventConfig d;
    EXPECT_EQ(e.surge_warmup_intervals, d.surge_warmup_intervals);
    EXPECT_EQ(e.dos_window_s, d.dos_window_s);
    EXPECT_EQ(e.scanner_min_services, d.scanner_min_services);

    // The defaults of the options are the engine's defaults.
    EventConfig defaults = event_config(parse({}), SensorTable{});
    EXPECT_DOUBLE_EQ(defaults.surge_factor, d.surge_factor);
    EXPECT_EQ(defaults.surge_min_packets, d.surge_min_packets);
    EXPECT_EQ(defaults.surge_min_sources, d.surge_min_sources);
    EXPECT_EQ(defaults.surge_quiet_intervals, d.surge_quiet_intervals);
    EXPECT_EQ(defaults.dos_min_packets, d.dos_min_packets);
    EXPECT_EQ(defaults.dos_min_duration_s, d.dos_min_duration_s);
    EXPECT_EQ(defaults.dos_min_window_packets, d.dos_min_window_packets);
    EXPECT_EQ(defaults.scanner_min_destinations, d.scanner_min_destinations);
}

TEST(SubConfigs, GeoConfigTakesTheFilesTheCacheAndThePlansWorkers) {
    Config c = parse({"--geo-country", "c1.mmdb", "c2.csv", "--geo-asn", "a.csv"});
    CorePlan plan;
    plan.workers = {WorkerPlan{3, 1, {}, 3}, WorkerPlan{4, 0, {}, 4}, WorkerPlan{5, 1, {}, 5}};
    GeoConfig g = geo_config(c, plan);
    EXPECT_EQ(g.country_files, (std::vector<std::string>{"c1.mmdb", "c2.csv"}));
    EXPECT_EQ(g.asn_files, std::vector<std::string>{"a.csv"});
    EXPECT_EQ(g.cache_dir, "");
    EXPECT_EQ(g.max_workers, 3u);
    EXPECT_EQ(geo_config(parse({"--geo-country", "c.csv", "--geo-cache", "/var/cache/ds"}), plan)
                  .cache_dir,
              "/var/cache/ds");

    plan.workers.clear();
    EXPECT_EQ(geo_config(c, plan).max_workers, 0u);
}

TEST(SubConfigs, StoreOptionsTakeTheDatabaseAndRetention) {
    StoreOptions live =
        store_options(parse({"--port", "net_null0", "--db", "/tmp/h.sqlite",
                             "--retention-intervals", "3", "--retention-hours", "30"}));
    EXPECT_EQ(live.path, "/tmp/h.sqlite");
    EXPECT_EQ(live.retention_interval_days, 3u);
    EXPECT_EQ(live.retention_hour_days, 30u);
    EXPECT_EQ(live.full_wait_ms, 0u);  // live: never stall the stats core behind the disk
    EXPECT_FALSE(live.log);

    StoreOptions offline = store_options(parse({"--read", "x.pcap", "--db", "h.sqlite"}));
    EXPECT_EQ(offline.path, "h.sqlite");
    EXPECT_GT(offline.full_wait_ms, 0u);  // a replay waits for room instead of dropping
    EXPECT_EQ(offline.retention_interval_days, 14u);
    EXPECT_EQ(offline.retention_hour_days, 400u);
}
