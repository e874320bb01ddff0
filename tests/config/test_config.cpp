// Config parsing and validation: the command line, the --config file and their precedence,
// and every bad input with the one line it must produce.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "darkscope/config.hpp"

using namespace darkscope;

namespace {

// A scratch directory with a readable capture-like file, removed at the end.
class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/darkscope-config-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        pcap_ = write("in.pcap", "not parsed by config\n");
    }
    void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

    std::string write(const std::string& name, const std::string& text) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path) << text;
        return path;
    }

    // Parses argv (without the program name) into a Config.
    Config parse(std::vector<std::string> args, ParseOutcome* outcome = nullptr,
                 std::string* printed = nullptr) {
        args.insert(args.begin(), "darkscope");
        std::vector<const char*> argv;
        for (auto& a : args)
            argv.push_back(a.c_str());
        Config c;
        std::ostringstream out;
        ParseOutcome o = parse_config(static_cast<int>(argv.size()), argv.data(), c, out);
        if (outcome)
            *outcome = o;
        if (printed)
            *printed = out.str();
        return c;
    }

    Config parse_and_validate(std::vector<std::string> args) {
        Config c = parse(std::move(args));
        validate_config(c);
        return c;
    }

    // The ConfigError message for these arguments (parse then validate), or "" if none.
    std::string error_of(std::vector<std::string> args) {
        try {
            parse_and_validate(std::move(args));
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    }

    std::string dir_;
    std::string pcap_;
};

std::string sensor_text(const SensorSpec& s) {
    std::string t = s.name + "=";
    for (size_t i = 0; i < s.prefixes.size(); ++i) {
        if (i)
            t += ',';
        t += s.prefixes[i].to_string();
    }
    return t;
}

}  // namespace

TEST_F(ConfigTest, DefaultsAreTheStructDefaults) {
    Config c = parse_and_validate({"--read", pcap_});
    Config d;
    EXPECT_EQ(c.workers, d.workers);
    EXPECT_EQ(c.burst, d.burst);
    EXPECT_EQ(c.rx_desc, d.rx_desc);
    EXPECT_EQ(c.interval_s, d.interval_s);
    EXPECT_EQ(c.udp_service_ports, d.udp_service_ports);
    EXPECT_EQ(c.read_files, std::vector<std::string>{pcap_});
    EXPECT_TRUE(c.offline());
    EXPECT_TRUE(c.no_pci);  // offline: no PCI port at all
    EXPECT_TRUE(c.telemetry);
    EXPECT_TRUE(c.promiscuous);
    EXPECT_FALSE(c.duration_s.has_value());
}

TEST_F(ConfigTest, CommandLineValues) {
    Config c = parse_and_validate({"--port",
                                   "0000:3b:00.0",
                                   "--port",
                                   "3b:00.1",
                                   "--rx-queues",
                                   "4",
                                   "--workers",
                                   "4",
                                   "--rx-desc",
                                   "2048",
                                   "--burst",
                                   "64",
                                   "--mbufs",
                                   "65535",
                                   "--interval",
                                   "30",
                                   "--sensor",
                                   "tokyo=203.0.113.0/24,2001:db8::/32",
                                   "--sensor",
                                   "osaka=192.0.2.0/24",
                                   "--udp-service-ports",
                                   "53, 123",
                                   "--no-telemetry",
                                   "--no-promiscuous",
                                   "--duration",
                                   "2.5",
                                   "--log-level",
                                   "debug",
                                   "--eal",
                                   "--log-level=lib.eal:debug",
                                   "--top-k",
                                   "7",
                                   "--surge-factor",
                                   "3.5",
                                   "--dos-min-packets",
                                   "40",
                                   "--event-hook",
                                   "logger -t ds",
                                   "--memory-budget-mb",
                                   "64",
                                   "--precise-sketches",
                                   "100"});
    EXPECT_EQ(c.ports, (std::vector<std::string>{"0000:3b:00.0", "3b:00.1"}));
    EXPECT_FALSE(c.no_pci);
    EXPECT_EQ(c.rx_queues, 4u);
    EXPECT_EQ(c.workers, 4u);
    EXPECT_EQ(c.rx_desc, 2048u);
    EXPECT_EQ(c.burst, 64u);
    EXPECT_EQ(c.mbufs, 65535u);
    EXPECT_EQ(c.interval_s, 30u);
    EXPECT_EQ(c.precise_sketches, 100u);
    ASSERT_EQ(c.sensors.size(), 2u);
    EXPECT_EQ(sensor_text(c.sensors[0]), "tokyo=203.0.113.0/24,2001:db8::/32");
    EXPECT_EQ(sensor_text(c.sensors[1]), "osaka=192.0.2.0/24");
    EXPECT_EQ(c.udp_service_ports, (std::vector<uint16_t>{53, 123}));
    EXPECT_FALSE(c.telemetry);
    EXPECT_FALSE(c.promiscuous);
    ASSERT_TRUE(c.duration_s.has_value());
    EXPECT_DOUBLE_EQ(*c.duration_s, 2.5);
    EXPECT_EQ(c.log_level, LogLevel::debug);
    EXPECT_EQ(c.eal_args, "--log-level=lib.eal:debug");  // a value starting with '-'
    EXPECT_EQ(c.top_k, 7u);
    EXPECT_DOUBLE_EQ(c.surge_factor, 3.5);
    EXPECT_EQ(c.dos_min_packets, 40u);
    EXPECT_EQ(c.event_hook, "logger -t ds");
    EXPECT_EQ(c.memory_budget_mb, 64u);
}

TEST_F(ConfigTest, ReadTakesSeveralFiles) {
    std::string second = write("b.pcapng", "x");
    Config c = parse_and_validate({"--read", pcap_, second, "--interval", "5"});
    EXPECT_EQ(c.read_files, (std::vector<std::string>{pcap_, second}));
    EXPECT_EQ(c.interval_s, 5u);
}

TEST_F(ConfigTest, CoresListSetsWorkers) {
    Config c = parse_and_validate({"--read", pcap_, "--cores", "2,4-6", "--stats-core", "1"});
    EXPECT_EQ(c.cores, (std::vector<unsigned>{2, 4, 5, 6}));
    EXPECT_EQ(c.workers, 4u);
    EXPECT_EQ(c.stats_core, 1);
    Config same = parse_and_validate({"--read", pcap_, "--cores", "2,3", "--workers", "2"});
    EXPECT_EQ(same.workers, 2u);
}

TEST_F(ConfigTest, VdevOnlyImpliesNoPci) {
    std::string cap = write("vdev.pcap", "x");
    Config c = parse_and_validate(
        {"--port", "net_pcap0,rx_pcap=" + cap, "--port", "net_af_packet0,iface=lo"});
    EXPECT_TRUE(c.no_pci);
    EXPECT_FALSE(is_pci_address(c.ports[0]));
}

TEST_F(ConfigTest, FileAndCommandLinePrecedence) {
    std::string conf = write("a.conf",
                             "# a comment\n"
                             "workers = 2\n"
                             "burst = 16\n"
                             "interval = 10   # trailing comment\n"
                             "sensor = a=10.0.0.0/8\n"
                             "sensor = b=172.16.0.0/12\n"
                             "telemetry = false\n"
                             "promiscuous = true\n"
                             "no-huge = true\n"
                             "memory = 512\n"
                             "read = " +
                                 pcap_ + "\n");
    // The file alone.
    Config f = parse_and_validate({"--config", conf});
    EXPECT_EQ(f.workers, 2u);
    EXPECT_EQ(f.burst, 16u);
    EXPECT_EQ(f.interval_s, 10u);
    ASSERT_EQ(f.sensors.size(), 2u);  // repeated lines accumulate
    EXPECT_EQ(sensor_text(f.sensors[1]), "b=172.16.0.0/12");
    EXPECT_FALSE(f.telemetry);
    EXPECT_TRUE(f.no_huge);
    EXPECT_EQ(f.memory_mb, 512u);
    EXPECT_EQ(f.config_file, conf);

    // The command line wins; its list replaces the file's; switches beat their file twin.
    Config c = parse_and_validate({"--burst", "8", "--config", conf, "--sensor", "c=192.0.2.0/24",
                                   "--telemetry", "--no-promiscuous"});
    EXPECT_EQ(c.burst, 8u);
    EXPECT_EQ(c.workers, 2u);  // from the file
    ASSERT_EQ(c.sensors.size(), 1u);
    EXPECT_EQ(sensor_text(c.sensors[0]), "c=192.0.2.0/24");
    EXPECT_TRUE(c.telemetry);
    EXPECT_FALSE(c.promiscuous);
    EXPECT_EQ(c.read_files, std::vector<std::string>{pcap_});
}

TEST_F(ConfigTest, NegativeSwitchInFileBeatenByPositiveOnCommandLine) {
    std::string conf = write("n.conf", "no-telemetry = true\nread = " + pcap_ + "\n");
    EXPECT_FALSE(parse_and_validate({"--config", conf}).telemetry);
    EXPECT_TRUE(parse_and_validate({"--config", conf, "--telemetry"}).telemetry);
}

TEST_F(ConfigTest, HelpListsEveryOptionGroupedWithExamples) {
    ParseOutcome outcome{};
    std::string help;
    parse({"--help"}, &outcome, &help);
    EXPECT_EQ(outcome, ParseOutcome::help_printed);
    for (const char* group :
         {"Capture:\n", "Sensors:\n", "Intervals and output:\n", "Attribution:\n", "Runtime:\n"})
        EXPECT_NE(help.find(std::string("\n") + group), std::string::npos) << group;
    // Every item of config_items() is an option --help documents (names use '_' there).
    for (const auto& [key, value] : config_items(Config{})) {
        std::string name = key;
        for (char& ch : name)
            if (ch == '_')
                ch = '-';
        EXPECT_NE(help.find("--" + name + " "), std::string::npos) << name;
    }
    EXPECT_NE(help.find("[32]"), std::string::npos);  // --burst's default is shown
    EXPECT_NE(help.find("--read"), std::string::npos);
    EXPECT_NE(help.find("net_pcap0,rx_pcap="), std::string::npos);
    EXPECT_NE(help.find("--port 0000:3b:00.0"), std::string::npos);
    size_t examples = 0;
    for (size_t at = help.find("\n  darkscope "); at != std::string::npos;
         at = help.find("\n  darkscope ", at + 1))
        ++examples;
    EXPECT_EQ(examples, 3u);

    std::string version;
    parse({"--version"}, &outcome, &version);
    EXPECT_EQ(outcome, ParseOutcome::version_printed);
    EXPECT_EQ(version.rfind("darkscope ", 0), 0u);
}

TEST_F(ConfigTest, ConfigItemsCoverEveryOption) {
    Config c = parse({"--read", pcap_, "--sensor", "x=192.0.2.0/24", "--burst", "9"});
    auto items = config_items(c);
    std::map<std::string, std::string> m(items.begin(), items.end());
    EXPECT_EQ(m.size(), items.size());  // no duplicate keys
    EXPECT_EQ(m["burst"], "9");
    EXPECT_EQ(m["sensor"], "x=192.0.2.0/24");
    EXPECT_EQ(m["read"], pcap_);
    EXPECT_EQ(m["udp_service_ports"],
              "17,19,53,69,111,123,137,161,389,500,520,1434,1900,3283,3702,4500,5353,5683,10001,"
              "11211,37810,47808");
    for (const auto& [k, v] : items) {
        EXPECT_TRUE(std::regex_match(k, std::regex("[A-Za-z0-9_/]+"))) << k;
        EXPECT_TRUE(k != "no_telemetry" && k != "no_promiscuous") << k;  // twins folded
    }
    // Every option named in --help (less help, version and the --no-X twins) is listed.
    std::string help;
    parse({"--help"}, nullptr, &help);
    std::regex opt(R"(\n  (?:-[hV] \[ )?--([a-z-]+))");
    std::set<std::string> documented;
    for (auto it = std::sregex_iterator(help.begin(), help.end(), opt);
         it != std::sregex_iterator(); ++it)
        documented.insert((*it)[1]);
    std::set<std::string> listed;
    for (const auto& [k, v] : items) {
        std::string n = k;
        for (char& ch : n)
            if (ch == '_')
                ch = '-';
        listed.insert(n);
    }
    for (const auto& d : documented) {
        if (d == "help" || d == "version" ||
            (d.rfind("no-", 0) == 0 && d != "no-pci" && d != "no-huge"))
            continue;
        EXPECT_TRUE(listed.count(d)) << d;
    }
    EXPECT_GE(documented.size(), 40u);
}

TEST_F(ConfigTest, PciAddresses) {
    EXPECT_TRUE(is_pci_address("0000:3b:00.0"));
    EXPECT_TRUE(is_pci_address("3b:00.1"));
    EXPECT_TRUE(is_pci_address("0000:AF:1f.7"));
    EXPECT_TRUE(is_pci_address("0000:3b:00.0,rxq_cqe_comp_en=1"));  // EAL -a devargs
    EXPECT_FALSE(is_pci_address("0000:3b:00.9"));
    EXPECT_FALSE(is_pci_address("0000:3b:20.0"));
    EXPECT_FALSE(is_pci_address("zz:00.0"));
    EXPECT_FALSE(is_pci_address("net_pcap0,rx_pcap=a.pcap"));
    EXPECT_FALSE(is_pci_address("3b:00"));
}

// Each bad input and the exact line it must give.
TEST_F(ConfigTest, BadInputMessages) {
    const std::string rp = "--read=" + pcap_;
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{rp, "--frobnicate"}, "--frobnicate: unknown option (see --help)"},
        {{rp, "--sensor", "tokyo=10.0.0.0/33"},
         "--sensor: 'tokyo=10.0.0.0/33': prefix length 33 is over 32"},
        {{rp, "--sensor", "tokyo=2001:db8::/129"},
         "--sensor: 'tokyo=2001:db8::/129': prefix length 129 is over 128"},
        {{rp, "--sensor", "tokyo=10.0.0.300/8"},
         "--sensor: 'tokyo=10.0.0.300/8': '10.0.0.300' is not an IPv4 or IPv6 address"},
        {{rp, "--sensor", "tokyo"}, "--sensor: 'tokyo': expected NAME=PREFIX[,PREFIX...]"},
        {{rp, "--sensor", "=10.0.0.0/8"}, "--sensor: '=10.0.0.0/8': empty sensor name"},
        {{rp, "--sensor", "to kyo=10.0.0.0/8"},
         "--sensor: 'to kyo=10.0.0.0/8': sensor name 'to kyo' may only use A-Z a-z 0-9 _ -"},
        {{rp, "--sensor", "tokyo="}, "--sensor: 'tokyo=': no prefix after '='"},
        {{rp, "--sensor", "tokyo=10.0.0.1/8"},
         "--sensor: 'tokyo=10.0.0.1/8': host bits set in 10.0.0.1/8 (the prefix is 10.0.0.0/8)"},
        {{rp, "--sensor", "a=10.0.0.0/8", "--sensor", "a=192.0.2.0/24"},
         "--sensor: 'a': sensor name given twice"},
        {{rp, "--sensor", "a=10.0.0.0/8", "--sensor", "b=192.0.2.0/24,10.0.0.0/8"},
         "--sensor: 'b': 10.0.0.0/8 is already in sensor 'a' (a prefix belongs to one sensor)"},
        {{"--port", "0000:3b:00.9"},
         "--port: '0000:3b:00.9': malformed PCI address: function 9 is over 7"},
        {{"--port", "zz:00.0"},
         "--port: 'zz:00.0': malformed PCI address: 'zz' is not a hex bus number (00..ff)"},
        {{"--port", "0000:3b:2a.0"},
         "--port: '0000:3b:2a.0': malformed PCI address: device 0x2a is over 1f"},
        {{"--port", "pcap0,rx_pcap=x.pcap"},
         "--port: 'pcap0,rx_pcap=x.pcap': neither a PCI address (DDDD:BB:DD.F) nor a DPDK vdev "
         "(net_<driver><n>[,args], e.g. net_pcap0,rx_pcap=FILE)"},
        {{"--port", "net_pcap0,rx_pcap=" + dir_ + "/missing.pcap"},
         "--port: 'net_pcap0,rx_pcap=" + dir_ + "/missing.pcap': rx_pcap file " + dir_ +
             "/missing.pcap: No such file or directory"},
        {{"--port", "0000:3b:00.0", "--port", "0000:3b:00.0"},
         "--port: '0000:3b:00.0': 0000:3b:00.0 given twice"},
        {{"--read", dir_ + "/missing.pcap"},
         "--read: '" + dir_ + "/missing.pcap': No such file or directory"},
        {{"--read", dir_}, "--read: '" + dir_ + "': is a directory"},
        {{rp, "--geo-country", dir_ + "/c.mmdb"},
         "--geo-country: '" + dir_ + "/c.mmdb': No such file or directory"},
        {{rp, "--geo-asn", dir_ + "/a.csv"},
         "--geo-asn: '" + dir_ + "/a.csv': No such file or directory"},
        {{rp, "--summary", dir_ + "/nodir/out.json"},
         "--summary: '" + dir_ + "/nodir/out.json': directory " + dir_ +
             "/nodir: No such file or directory"},
        {{rp, "--burst", "0"}, "--burst: '0': must be 1..64"},
        {{rp, "--burst", "65"}, "--burst: '65': must be 1..64"},
        {{rp, "--burst", "x"}, "--burst: 'x': not a non-negative whole number"},
        {{rp, "--burst", "-1"}, "--burst: '-1': not a non-negative whole number"},
        {{rp, "--interval", "0"}, "--interval: '0': must be 1..86400"},
        {{rp, "--workers", "0"}, "--workers: '0': must be 1..127"},
        {{rp, "--rx-desc", "1000"}, "--rx-desc: '1000': must be a power of two from 32 to 32768"},
        {{rp, "--precise-sketches", "70000"}, "--precise-sketches: '70000': must be 0..65536"},
        {{rp, "--port", "0000:3b:00.0"},
         "--read: cannot be combined with --port (offline mode reads files, not ports)"},
        {{}, "--port: nothing to capture: give --port SPEC (live) or --read FILE (offline)"},
        {{rp, "--workers", "3", "--cores", "1,2"},
         "--workers: '3': conflicts with --cores, which lists 2 cores"},
        {{rp, "--cores", "1,1"}, "--cores: '1,1': core 1 listed twice"},
        {{rp, "--cores", "1,2", "--stats-core", "2"},
         "--stats-core: '2': also a worker core in --cores (the stats core must be apart, or give "
         "--share-cpus to let them time-share it)"},
        {{rp, "--burst", "1", "--burst", "2"}, "--burst: given more than once"},
        {{rp, "--burst"}, "--burst: needs a value"},
        {{"stray", rp}, "'stray': unexpected argument (options start with --; see --help)"},
        {{rp, "--telemetry", "--no-telemetry"}, "--telemetry and --no-telemetry: both given"},
        {{rp, "--udp-service-ports", "53,70000"},
         "--udp-service-ports: '70000': not a port number (1..65535)"},
        {{rp, "--log-level", "loud"}, "--log-level: 'loud': must be error, warning, info or debug"},
        {{rp, "--eal", "-l 0-3"}, "--eal: '-l 0-3': -l is set by darkscope; use --cores/--workers"},
        {{rp, "--eal", "-m512"}, "--eal: '-m512': -m is set by darkscope; use --memory"},
        {{rp, "--eal", "--in-memory -l0-1"},
         "--eal: '--in-memory -l0-1': -l is set by darkscope; use --cores/--workers"},
        {{rp, pcap_}, "--read: '" + pcap_ + "': given twice (each file is read once)"},
        {{"--read", "--config", dir_ + "/x.conf"},
         "--read: needs a file name before the next option, got '--config'"},
        {{rp, "--geo-country", "--db"},
         "--geo-country: needs a file name before the next option, got '--db'"},
        {{rp, "--summary", pcap_},
         "--summary: '" + pcap_ + "': is also the --read file " + pcap_ + ": it would be replaced"},
        {{rp, "--db", pcap_}, "--db: '" + pcap_ + "': is also the --read file " + pcap_},
        {{rp, "--db", dir_ + "/h.sqlite", "--summary", dir_ + "/h.sqlite"},
         "--summary: '" + dir_ + "/h.sqlite': is also the --db file: it would be replaced"},
        {{"--port", "net_null0", "--workers", "2"},
         "--workers: '2': more workers than the 1 (port, queue) pairs to poll; raise "
         "--rx-queues"},
        {{"--port", "net_null0", "--rx-queues", "16", "--rx-desc", "1024", "--mbufs", "16383"},
         "--mbufs: '16383': too few to fill 16 rx queue(s) x 1024 descriptors of one port"},
        {{rp, "--surge-factor", "1"}, "--surge-factor: '1': must be over 1"},
        {{rp, "--duration", "0"}, "--duration: '0': must be over 0"},
        {{rp, "--config", dir_ + "/none.conf"},
         "--config: '" + dir_ + "/none.conf': cannot open: No such file or directory"},
    };
    for (const auto& c : cases) {
        std::string joined;
        for (const auto& a : c.args)
            joined += a + " ";
        EXPECT_EQ(error_of(c.args), c.message) << joined;
    }
}

TEST_F(ConfigTest, BadConfigFile) {
    std::string unknown = write("u.conf", "# a typo\nfrobnicate = 1\n");
    EXPECT_EQ(error_of({"--config", unknown}),
              unknown + ":2: unknown option 'frobnicate' (see --help)");
    std::string twice = write("t.conf", "burst = 1\n\nburst = 2\n");
    EXPECT_EQ(error_of({"--config", twice}),
              twice + ":3: burst given more than once (first at line 1)");
    std::string no_equals = write("e.conf", "burst = 1\nno-huge true\n");
    EXPECT_EQ(error_of({"--config", no_equals}),
              no_equals + ":2: 'no-huge true': expected NAME = VALUE");
    // A byte order mark (some editors write one) is not part of the first option's name.
    std::string bom = write("bom.conf", "\xEF\xBB\xBFread = " + pcap_ + "\nburst = 65\n");
    EXPECT_EQ(error_of({"--config", bom}), bom + ":2: burst: '65': must be 1..64");
    std::string bad = write("b.conf", "read = " + pcap_ + "\nsensor = x=10.0.0.0/33\n");
    EXPECT_EQ(error_of({"--config", bad}),
              bad + ":2: sensor: 'x=10.0.0.0/33': prefix length 33 is over 32");
    std::string both = write("2.conf", "telemetry = true\nno-telemetry = true\n");
    EXPECT_EQ(error_of({"--config", both}),
              "--telemetry and --no-telemetry: both given in " + both);
    std::string boolean = write("x.conf", "no-huge = maybe\n");
    EXPECT_EQ(error_of({"--config", boolean}),
              boolean + ":1: no-huge: 'maybe': expected true or false");
}

// --geo-build-cache builds the attribution image and exits: it needs databases, not a capture.
TEST_F(ConfigTest, GeoBuildCacheNeedsDatabasesNotACapture) {
    EXPECT_EQ(error_of({"--geo-build-cache"}),
              "--geo-build-cache: 'true': no --geo-country or --geo-asn database to build from");
    const std::string country = write("country.csv", "1.0.0.0,1.0.0.255,AU\n");
    Config c = parse_and_validate(
        {"--geo-build-cache", "--geo-country", country, "--geo-cache", dir_ + "/cache"});
    EXPECT_TRUE(c.geo_build_cache);
    EXPECT_EQ(c.geo_cache, dir_ + "/cache");
    EXPECT_EQ(parse({"--read", pcap_}).geo_cache, "");
}

// Each option's range as docs/configuration.md gives it: its ends accepted, the values just past
// them refused with "must be RANGE", and the same words in --help.
TEST_F(ConfigTest, RangesAcceptTheirEndsAndRefuseBeyond) {
    const std::string long_name(65, 'a');
    struct Case {
        std::string option;
        std::vector<std::string> accepted, refused;
        std::string range;  // as --help and the refusal say it
    };
    const std::vector<Case> cases = {
        {"workers", {"1", "127"}, {"0", "128"}, "1..127"},
        {"stats-core", {"-1", "0", "1048576"}, {"1048577"}, "-1..1048576"},
        {"rx-queues", {"1", "128"}, {"0", "129"}, "1..128"},
        {"rx-desc", {"32", "32768"}, {"16", "65536", "1000"}, "a power of two from 32 to 32768"},
        {"burst", {"1", "64"}, {"0", "65"}, "1..64"},
        {"mbufs", {"384", "67108864"}, {"383", "67108865"}, "384..67108864"},
        {"link-wait", {"0", "3600"}, {"3601"}, "0..3600"},
        {"memory-budget-mb", {"16", "1048576"}, {"15", "1048577"}, "16..1048576"},
        {"precise-sketches", {"0", "65536"}, {"65537"}, "0..65536"},
        {"metrics-top", {"0", "1000"}, {"1001"}, "0..1000"},
        {"metrics-service-cap", {"1", "10000"}, {"0", "10001"}, "1..10000"},
        {"tuple-entries",
         {"1024", "67108864"},
         {"512", "134217728", "3000"},
         "a power of two from 1024 to 67108864"},
        {"interval", {"1", "86400"}, {"0", "86401"}, "1..86400"},
        {"top-k", {"1", "100000"}, {"0", "100001"}, "1..100000"},
        {"retention-intervals", {"1", "36500"}, {"0", "36501"}, "1..36500"},
        {"retention-hours", {"1", "36500"}, {"0", "36501"}, "1..36500"},
        {"fleet-spool-quota-mb", {"1", "16777216"}, {"0", "16777217"}, "1..16777216"},
        {"surge-factor", {"1.001", "1e6"}, {"1", "0.5"}, "over 1"},
        {"surge-min-packets", {"1", "18446744073709551615"}, {"0"}, "at least 1"},
        {"surge-min-sources", {"1", "18446744073709551615"}, {"0"}, "at least 1"},
        {"surge-quiet-intervals", {"1", "10000"}, {"0", "10001"}, "1..10000"},
        {"dos-min-packets", {"1"}, {"0"}, "at least 1"},
        {"dos-min-duration", {"1", "86400"}, {"0", "86401"}, "1..86400"},
        {"dos-min-window-packets", {"1"}, {"0"}, "at least 1"},
        {"scanner-min-destinations", {"1", "1073741824"}, {"0", "1073741825"}, "1..1073741824"},
        {"event-hook-timeout", {"0.001", "3600"}, {"0", "3600.5"}, "over 0 and at most 3600"},
        {"file-prefix",
         {"a", std::string(64, 'b'), "x_Y-9"},
         {long_name, "a.b", ""},
         "1 to 64 characters of A-Z a-z 0-9 _ -"},
        {"log-level",
         {"error", "warning", "info", "debug"},
         {"notice"},
         "error, warning, info or debug"},
        {"memory", {"0", "64", "4096"}, {"1", "63"}, "0 (EAL default) or at least 64"},
        {"duration", {"0.1", "86400"}, {"0"}, "over 0"},
        {"pipeline",
         {"decode", "classify", "attribute", "count", "full", "plain"},
         {"fast"},
         "decode, classify, attribute, count, full or plain"},
    };
    std::string help;
    parse({"--help"}, nullptr, &help);
    help = std::regex_replace(help, std::regex("\\s+"), " ");  // undo Boost's line wrapping
    for (const auto& c : cases) {
        for (const auto& v : c.accepted)
            EXPECT_EQ(error_of({"--read", pcap_, "--" + c.option, v}), "") << c.option << " " << v;
        for (const auto& v : c.refused)
            EXPECT_EQ(error_of({"--read", pcap_, "--" + c.option, v}),
                      "--" + c.option + ": '" + v + "': must be " + c.range)
                << c.option;
        // In --help, after the option's own line: "--burst N  Packets per rx burst (1..64) [32]".
        auto at = help.find(" --" + c.option + " ");
        ASSERT_NE(at, std::string::npos) << c.option;
        auto next = help.find(" --", at + 1);
        EXPECT_NE(help.substr(at, next - at).find("(" + c.range + ")"), std::string::npos)
            << c.option << ": " << help.substr(at, next - at);
    }
}

// A value from the file is named by the file and its line, not as a command-line option: both
// the values that do not parse and the ones validate_config() refuses.
TEST_F(ConfigTest, FileValueErrorsNameFileAndLine) {
    std::string two =
        write("two.conf", "# workers as a word\nread = " + pcap_ + "\nworkers = two   # typo\n");
    EXPECT_EQ(error_of({"--config", two}),
              two + ":3: workers: 'two': not a non-negative whole number");
    // Of a repeated option, the line of the value that is wrong.
    std::string sensors =
        write("s.conf", "read = " + pcap_ + "\nsensor = a=10.0.0.0/8\n\nsensor = b=10.0.0.300/8\n");
    EXPECT_EQ(
        error_of({"--config", sensors}),
        sensors + ":4: sensor: 'b=10.0.0.300/8': '10.0.0.300' is not an IPv4 or IPv6 address");
    std::string zero = write("z.conf", "read = " + pcap_ + "\n\nworkers = 0\n");
    EXPECT_EQ(error_of({"--config", zero}), zero + ":3: workers: '0': must be 1..127");
    std::string burst = write("b.conf", "burst = 65\n");
    EXPECT_EQ(error_of({"--config", burst, "--read", pcap_}),
              burst + ":1: burst: '65': must be 1..64");
    std::string pci = write("p.conf", "port = 0000:3b:00.9\n");
    EXPECT_EQ(error_of({"--config", pci}),
              pci + ":1: port: '0000:3b:00.9': malformed PCI address: function 9 is over 7");
    std::string conflict = write("c.conf", "read = " + pcap_ + "\ncores = 1,2\nworkers = 3\n");
    EXPECT_EQ(error_of({"--config", conflict}),
              conflict + ":3: workers: '3': conflicts with --cores, which lists 2 cores");
    // The command line's own values keep the option's name.
    EXPECT_EQ(error_of({"--config", two, "--workers", "0"}), "--workers: '0': must be 1..127");
}

// --config of a directory reads as an empty file: refused, not run on the defaults.
TEST_F(ConfigTest, ConfigFileIsADirectory) {
    EXPECT_EQ(error_of({"--read", pcap_, "--config", dir_}),
              "--config: '" + dir_ + "': is a directory");
}

// The command line wins over the file for sets of options that exclude or fix each other: a
// member given on the command line drops the file's other member (and says so in notes).
TEST_F(ConfigTest, CommandLineBeatsFileForPairedOptions) {
    std::string live = write("live.conf", "port = 0000:3b:00.0\nworkers = 1\nrx-queues = 2\n");
    Config offline = parse_and_validate({"--config", live, "--read", pcap_});
    EXPECT_TRUE(offline.ports.empty());
    EXPECT_EQ(offline.read_files, std::vector<std::string>{pcap_});
    EXPECT_TRUE(offline.no_pci);
    ASSERT_EQ(offline.notes.size(), 1u);
    EXPECT_EQ(offline.notes[0], "--read on the command line: port from " + live + ":1 is not used");

    Config cores = parse_and_validate({"--config", live, "--cores", "0,1", "--stats-core", "2"});
    EXPECT_EQ(cores.workers, 2u);
    EXPECT_EQ(cores.cores, (std::vector<unsigned>{0, 1}));
    EXPECT_EQ(cores.ports, std::vector<std::string>{"0000:3b:00.0"});
    ASSERT_EQ(cores.notes.size(), 1u);
    EXPECT_EQ(cores.notes[0],
              "--cores on the command line: workers from " + live + ":2 is not used");

    std::string planned = write("cores.conf", "read = " + pcap_ + "\ncores = 2,3\n");
    Config workers = parse_and_validate({"--config", planned, "--workers", "1"});
    EXPECT_TRUE(workers.cores.empty());
    EXPECT_EQ(workers.workers, 1u);

    std::string cap = write("v.pcap", "x");
    Config vdev = parse_and_validate(
        {"--config", planned, "--port", "net_pcap0,rx_pcap=" + cap, "--rx-queues", "2"});
    EXPECT_TRUE(vdev.read_files.empty());
    EXPECT_EQ(vdev.cores, (std::vector<unsigned>{2, 3}));  // not in a pair with --port

    std::string nopci = write("nopci.conf", "no-pci = true\n");
    Config pci = parse_and_validate({"--config", nopci, "--port", "0000:3b:00.0"});
    EXPECT_FALSE(pci.no_pci);

    // Both members in one place still conflict.
    EXPECT_EQ(error_of({"--read", pcap_, "--port", "0000:3b:00.0", "--config", live}),
              "--read: cannot be combined with --port (offline mode reads files, not ports)");
    EXPECT_EQ(error_of({"--config", live, "--cores", "0,1", "--workers", "3"}),
              "--workers: '3': conflicts with --cores, which lists 2 cores");
    // Nothing dropped, nothing noted.
    EXPECT_TRUE(parse({"--config", planned}).notes.empty());
}

// --udp-service-ports given empty (on the command line or in the file) means none; not given,
// the default list.
TEST_F(ConfigTest, UdpServicePortsGivenEmptyMeansNone) {
    EXPECT_FALSE(parse_and_validate({"--read", pcap_}).udp_service_ports.empty());
    EXPECT_TRUE(
        parse_and_validate({"--read", pcap_, "--udp-service-ports", ""}).udp_service_ports.empty());
    std::string none = write("none.conf", "udp-service-ports =\n");
    Config c = parse_and_validate({"--read", pcap_, "--config", none});
    EXPECT_TRUE(c.udp_service_ports.empty());
    std::string one = write("one.conf", "udp-service-ports = 53\n");
    EXPECT_EQ(parse_and_validate({"--read", pcap_, "--config", one}).udp_service_ports,
              std::vector<uint16_t>{53});
}

// With nothing to capture, a bad value is still the one reported.
TEST_F(ConfigTest, ValueErrorsBeforeNothingToCapture) {
    EXPECT_EQ(error_of({"--burst", "65"}), "--burst: '65': must be 1..64");
    EXPECT_EQ(error_of({"--workers", "0"}), "--workers: '0': must be 1..127");
    EXPECT_EQ(error_of({"--interval", "0"}), "--interval: '0': must be 1..86400");
    EXPECT_EQ(error_of({"--log-level", "verbose"}),
              "--log-level: 'verbose': must be error, warning, info or debug");
    EXPECT_EQ(error_of({"--interval", "5"}),
              "--port: nothing to capture: give --port SPEC (live) or --read FILE (offline)");
}

// The stats core may be one of --cores only when the CPUs may be time-shared.
TEST_F(ConfigTest, StatsCoreAmongWorkersNeedsShareCpus) {
    EXPECT_NE(error_of({"--read", pcap_, "--cores", "0,1", "--stats-core", "0"}), "");
    Config c = parse_and_validate(
        {"--read", pcap_, "--cores", "0,1", "--stats-core", "0", "--share-cpus"});
    EXPECT_EQ(c.stats_core, 0);
    EXPECT_EQ(c.cores, (std::vector<unsigned>{0, 1}));
}

TEST_F(ConfigTest, PlanNeedsNoInput) {
    Config c = parse_and_validate({"--plan", "--workers", "2"});
    EXPECT_TRUE(c.plan_only);
}

TEST_F(ConfigTest, UnreadableReadFile) {
    if (geteuid() == 0)
        GTEST_SKIP() << "root reads any file; 'is a directory' covers this";
    std::string locked = write("locked.pcap", "x");
    chmod(locked.c_str(), 0);
    EXPECT_EQ(error_of({"--read", locked}),
              "--read: '" + locked + "': not readable: Permission denied");
}

// The shipped configuration files parse; the demo one also validates with a capture given.
TEST_F(ConfigTest, ShippedConfigFilesParse) {
    const std::string root = DARKSCOPE_SOURCE_ROOT;
    Config appliance = parse({"--config", root + "/conf/darkscope.conf"});
    ASSERT_FALSE(appliance.ports.empty());
    EXPECT_TRUE(is_pci_address(appliance.ports[0]));
    EXPECT_FALSE(appliance.no_pci);
    EXPECT_FALSE(appliance.sensors.empty());
    EXPECT_EQ(appliance.geo_country,
              std::vector<std::string>{"/var/lib/darkscope/geo/geo-whois-asn-country.mmdb"});
    EXPECT_EQ(appliance.geo_asn, (std::vector<std::string>{"/var/lib/darkscope/geo/asn-ipv4.csv",
                                                           "/var/lib/darkscope/geo/asn-ipv6.csv"}));
    EXPECT_EQ(appliance.db_file, "/var/lib/darkscope/history.sqlite");
    // Everything but the machine-dependent files checks out.
    Config portable = appliance;
    portable.geo_country.clear();
    portable.geo_asn.clear();
    portable.db_file.clear();
    EXPECT_NO_THROW(validate_config(portable));

    Config demo = parse({"--config", root + "/conf/demo.conf", "--read", pcap_});
    EXPECT_NO_THROW(validate_config(demo));
    EXPECT_TRUE(demo.no_huge);
    EXPECT_EQ(demo.memory_mb, 2048u);
    EXPECT_EQ(demo.interval_s, 60u);
    EXPECT_TRUE(demo.ports.empty());
    std::vector<std::string> names;
    for (const auto& s : demo.sensors)
        names.push_back(sensor_text(s));
    EXPECT_EQ(names, (std::vector<std::string>{"tokyo-a=203.0.113.0/24", "tokyo-b=198.51.100.0/24",
                                               "osaka=192.0.2.0/24,2001:db8:d::/48"}));
    // The demo's other form: a net_pcap port given on the command line.
    std::string cap = write("demo.pcap", "x");
    Config live =
        parse({"--config", root + "/conf/demo.conf", "--port", "net_pcap0,rx_pcap=" + cap});
    EXPECT_NO_THROW(validate_config(live));
    EXPECT_TRUE(live.no_pci);
}

// The operations options: --metrics-listen takes ADDRESS:PORT (IPv6 in brackets) or off;
// --metrics-services takes the views' service names, normalised; --no-log-events switches the
// event lines off.
TEST_F(ConfigTest, OperationsOptions) {
    EXPECT_EQ(parse({}).metrics_listen, "127.0.0.1:9464");
    for (const char* ok : {"off", "127.0.0.1:9464", "[::1]:9464", ":9464", "0.0.0.0:0"})
        EXPECT_EQ(parse({"--metrics-listen", ok}).metrics_listen, ok);
    EXPECT_EQ(error_of({"--metrics-listen", "9464"}),
              "--metrics-listen: '9464': expected ADDRESS:PORT or off");
    EXPECT_EQ(error_of({"--metrics-listen", "::1:9464"}),
              "--metrics-listen: '::1:9464': an IPv6 address goes in brackets: [::1]:9464");
    EXPECT_EQ(error_of({"--metrics-listen", "127.0.0.1:70000"}),
              "--metrics-listen: '127.0.0.1:70000': port over 65535");
    EXPECT_EQ(parse({"--metrics-services", "445/tcp, 053/udp,icmp"}).metrics_services,
              (std::vector<std::string>{"445/tcp", "53/udp", "icmp"}));
    EXPECT_EQ(error_of({"--metrics-services", "445"}),
              "--metrics-services: '445': expected PORT/tcp, PORT/udp, icmp or icmpv6");
    EXPECT_EQ(error_of({"--metrics-services", "70000/tcp"}),
              "--metrics-services: '70000/tcp': port over 65535");
    EXPECT_TRUE(parse({}).log_events);
    EXPECT_FALSE(parse({"--no-log-events"}).log_events);
}
