// Options from the config file and the command line (Boost.Program_options). The command line
// wins. Every error names the option and the reason; main() prints it and exits 2.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "darkscope/prefix.hpp"
#include "darkscope/udp_service_ports.hpp"

namespace darkscope {

// Thrown for any bad option or config file; what() is one line: "--sensor: 'x/33': prefix
// length 33 is over 32", or for a value from the --config file "FILE:LINE: sensor: 'x/33': ...".
// main() prints "darkscope: <what>" and exits with status 2.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct SensorSpec {
    std::string name;
    std::vector<IpPrefix> prefixes;
};

// How far workers take each packet: the benchmark's per-stage cost breakdown, and `plain`, the
// reference path the tests hold the optimised one to (every packet counted whole, one at a time:
// no source tuples, prefetch or bulk passes). Checked once per burst, so the full pipeline pays
// nothing for it.
enum class PipelineStage : uint8_t { decode, classify, attribute, count, full, plain };

// --record-compress: how continuous recording's pcapng files are compressed.
enum class RecordCompression : uint8_t { none, gzip, zstd };
inline constexpr const char* kRecordCompressions[] = {"none", "gzip", "zstd"};

// Each packet pool keeps a cache of kMbufCache mbufs per lcore; DPDK refuses a pool smaller than
// that cache's flush threshold (1.5 x the cache), so --mbufs is at least kMinMbufs.
inline constexpr unsigned kMbufCache = 256;
inline constexpr unsigned kMinMbufs = kMbufCache * 3 / 2;

// --log-level: the most detailed messages logged (EAL's log level; info is EAL's notice).
enum class LogLevel : uint8_t { error, warning, info, debug };

struct Config {
    // Capture
    std::vector<std::string> ports;     // --port: PCI address or vdev string
    unsigned workers = 1;               // --workers
    std::vector<unsigned> cores;        // --cores LIST (explicit worker cores), empty = plan
    int stats_core = -1;                // --stats-core, -1 = plan
    unsigned rx_queues = 1;             // --rx-queues per port
    unsigned rx_desc = 1024;            // --rx-desc
    unsigned burst = 32;                // --burst (1..64)
    unsigned mbufs = 16383;             // --mbufs per NUMA socket
    unsigned link_wait_s = 5;           // --link-wait
    bool promiscuous = true;            // --promiscuous / --no-promiscuous
    bool no_pci = false;                // --no-pci; also set by parse_config when no port
                                        // is a PCI address (all vdevs, or offline)
    unsigned memory_budget_mb = 512;    // --memory-budget-mb per worker (its tables)
    unsigned precise_sketches = 512;    // --precise-sketches per worker table (x4 per window)
    unsigned tuple_entries = 1u << 21;  // --tuple-entries per worker table (power of two)
    bool share_cpus = false;            // --share-cpus: lcores may time-share CPUs (tests, VMs)

    // What this box watches
    std::vector<SensorSpec> sensors;  // --sensor NAME=PREFIX[,PREFIX...]
    // --udp-service-ports LIST: UDP sources seen as reflection/backscatter; by default the
    // classifier's list.
    std::vector<uint16_t> udp_service_ports{kDefaultUdpServicePorts.begin(),
                                            kDefaultUdpServicePorts.end()};

    // Intervals and output
    unsigned interval_s = 60;                // --interval
    std::vector<std::string> read_files;     // --read FILE... (offline mode)
    std::string summary_file;                // --summary FILE
    std::string db_file;                     // --db FILE (SQLite history), empty = none
    unsigned top_k = 100;                    // --top-k rows per dimension stored per interval
    unsigned retention_intervals_days = 14;  // --retention-intervals DAYS (interval rows)
    unsigned retention_hours_days = 400;     // --retention-hours DAYS (hourly rollups)
    unsigned rollup_checkpoint_s = 60;       // --rollup-checkpoint S: a crash loses at most this

    // Fleet export (docs/fleet.md)
    std::string fleet_url;                                       // --fleet-url URL, empty = off
    std::string fleet_credentials;                               // --fleet-credentials FILE
    std::string fleet_spool = "/var/lib/darkscope/fleet-spool";  // --fleet-spool DIR
    unsigned fleet_spool_quota_mb = 1024;                        // --fleet-spool-quota-mb
    bool fleet_tuples = true;                                    // --fleet-tuples on|off
    unsigned fleet_spill_entries = 1u << 16;  // --fleet-spill-entries per worker and epoch
    // Recording (docs/recording.md)
    std::string record_dir;           // --record-dir DIR, empty = no recording
    std::string record_filter;        // --record-filter EXPR, empty = every counted packet
    unsigned record_rotate_s = 3600;  // --record-rotate SECONDS, a multiple of --interval
    unsigned record_snaplen = 65535;  // --record-snaplen BYTES kept of each frame
    RecordCompression record_compress = RecordCompression::none;  // --record-compress
    unsigned record_quota_mb = 0;                                 // --record-quota-mb, 0 = no quota
    bool record_events = true;           // --record-events on|off (with --record-dir)
    unsigned record_pretrigger_s = 60;   // --record-pretrigger SECONDS
    unsigned record_pretrigger_mb = 64;  // --record-pretrigger-mb MB, per worker
    unsigned record_event_tail_s = 60;   // --record-event-tail SECONDS
    unsigned record_event_max_mb = 256;  // --record-event-max-mb MB
    std::string appliance;  // --appliance NAME (fleet tables, record files), empty = host name

    // Attribution
    std::vector<std::string> geo_country;  // --geo-country FILE...
    std::vector<std::string> geo_asn;      // --geo-asn FILE...
    std::string geo_cache;                 // --geo-cache DIR of the compiled image, "" = default
    bool geo_build_cache = false;          // --geo-build-cache: build the image and exit

    // Events
    double surge_factor = 5.0;               // --surge-factor: current / baseline to start
    uint64_t surge_min_packets = 100;        // --surge-min-packets in the interval
    uint64_t surge_min_sources = 5;          // --surge-min-sources unique sources
    unsigned surge_quiet_intervals = 3;      // --surge-quiet-intervals before `end`
    uint64_t dos_min_packets = 25;           // --dos-min-packets per attack (Corsaro: 25)
    unsigned dos_min_duration_s = 60;        // --dos-min-duration SECONDS (Corsaro: 60)
    uint64_t dos_min_window_packets = 30;    // --dos-min-window-packets in some 60 s (30)
    unsigned scanner_min_destinations = 64;  // --scanner-min-destinations per source
    std::string event_hook;                  // --event-hook CMD (event JSON on stdin)
    double event_hook_timeout_s = 5.0;       // --event-hook-timeout SECONDS

    // Runtime
    std::string file_prefix = "darkscope";  // --file-prefix
    bool telemetry = true;                  // --telemetry / --no-telemetry
    LogLevel log_level = LogLevel::info;    // --log-level LEVEL
    std::string eal_args;                   // --eal "ARGS" passed through to EAL
    bool no_huge = false;                   // --no-huge (tests, machines without hugepages)
    unsigned memory_mb = 0;                 // --memory MB (EAL -m), 0 = EAL default
    std::optional<double> duration_s;       // --duration SECONDS: stop after this long (live)
    PipelineStage pipeline = PipelineStage::full;  // --pipeline STAGE (benchmarks, tests)
    bool plan_only = false;                        // --plan: print the core plan and exit
    std::string topology_xml;                      // --topology-xml FILE: plan on this hwloc XML
    std::string config_file;                       // --config FILE

    // Operations (docs/operations.md).
    // --metrics-listen: Prometheus /metrics in live runs, ADDRESS:PORT or "off".
    std::string metrics_listen = "127.0.0.1:9464";
    // --metrics-services: services labelled from the start.
    std::vector<std::string> metrics_services;
    // --metrics-top: services in an interval's top N get labels.
    unsigned metrics_top = 10;
    // --metrics-service-cap: service labels at most.
    unsigned metrics_service_cap = 200;
    // --log-events / --no-log-events: a log line per event start and end.
    bool log_events = true;

    // Set by parse_config(). Where each option applied from the --config file came from,
    // "FILE:LINE" ("FILE" for a repeatable option on several lines), so that validate_config()
    // names the file's line rather than a command-line option.
    std::map<std::string, std::string> origins;
    // What parse_config() decided that the operator may not expect, one line each (e.g. the
    // file's `port` dropped because the command line gives --read); main() logs them at notice.
    std::vector<std::string> notes;

    bool offline() const { return !read_files.empty(); }
};

// What parse_config() decided besides the Config.
enum class ParseOutcome { run, help_printed, version_printed };

// Parses argv (and the file named by --config, if any). Throws ConfigError on bad input.
// On --help / --version prints to `out` and returns the matching outcome.
// The command line wins option by option. Of a set of options that exclude or fix each other
// (--read / --port, --cores / --workers, a PCI --port / --no-pci), a member given on the command
// line drops the file's other members (said in Config::notes).
ParseOutcome parse_config(int argc, const char* const* argv, Config& config, std::ostream& out);

// Checks that do not need the machine: ranges, prefixes, sensors' overlaps, files exist. Value
// errors come before "nothing to capture"; an option from the file is named by its line.
void validate_config(const Config& config);  // throws ConfigError

// Is this a PCI address (DDDD:BB:DD.F or BB:DD.F, hex, device <= 1f, function <= 7), optionally
// followed by ",devargs" as EAL -a takes it? Otherwise a port is a vdev string.
bool is_pci_address(const std::string& spec);
// The rx_pcap= files of a port spec (a net_pcap vdev's inputs; none for other ports).
std::vector<std::string> rx_pcap_files(const std::string& port_spec);

// The config as key/value pairs for /darkscope/config and the summary: one pair per option, in
// --help order, named as the option with '-' written '_' (telemetry names allow [A-Za-z0-9_/]),
// repeatable options' values joined by a space; --help, --version and --no-X twins are left out.
std::vector<std::pair<std::string, std::string>> config_items(const Config& config);

}  // namespace darkscope
