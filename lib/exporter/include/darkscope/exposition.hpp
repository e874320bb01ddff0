// Prometheus metrics from a published Snapshot: the text exposition format (version 0.0.4), built
// from the snapshot only (no worker memory, no EAL), so it is tested on plain Snapshots.
// docs/operations.md lists every metric and why it has the labels it has.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "darkscope/snapshot.hpp"

namespace darkscope {

// What the Snapshot does not hold: build facts and the attribution databases' state.
struct ExporterInfo {
    std::string version;       // darkscope's
    std::string dpdk_version;  // rte_version()
    struct Database {
        std::string kind;    // country, asn
        std::string file;    // base name of the file
        double built_s = 0;  // build time, epoch seconds (0 when unknown)
    };
    std::vector<Database> databases;
    uint64_t reloads_ok = 0, reloads_failed = 0;
    bool attribution = false;  // databases configured
};

// Which services get a `service` label of their own. Labels stay once given (a counter never
// disappears or resets); at most `cap` of them, the rest count under service="other".
struct ServiceLabelPolicy {
    std::vector<std::string> watch;  // always labelled, from the start ("445/tcp", "icmp")
    unsigned top_n = 10;             // services in an interval's top N get a label
    unsigned cap = 200;              // labels at most (watch list included)
};

// The exporter's state: the service labels given so far, and what each labelled service had
// counted before its label existed (kept under "other", so other never goes down and the sum
// over labels stays the total). Thread-safe: scrapes and the observer thread share it.
class MetricsExporter {
  public:
    explicit MetricsExporter(ServiceLabelPolicy policy);

    // Looks at a snapshot: each new interval's top N services get labels (until the cap).
    // Call it for every published snapshot, or often (render() calls it too).
    void observe(const std::shared_ptr<const Snapshot>& s);
    // The exposition for `s` (observed first). now_s: wall clock, for the age of the last
    // interval; started_s: when darkscope started (the age before any interval has closed).
    std::string render(const std::shared_ptr<const Snapshot>& s, const ExporterInfo& info,
                       double now_s, double started_s);

    std::vector<std::string> labelled_services() const;

  private:
    void observe_locked(const std::shared_ptr<const Snapshot>& s);
    void label_locked(const std::string& service);

    ServiceLabelPolicy policy_;
    mutable std::mutex mutex_;
    // Labelled services: packets they had counted (run total) when they got the label.
    std::map<std::string, uint64_t> base_;
    // The last snapshot observed, and its intervals count.
    std::shared_ptr<const Snapshot> last_;
    uint64_t last_intervals_ = 0;
};

// Probe packets of each service in a counter set ("445/tcp" -> packets), as /darkscope/top/ports
// counts them by default (what scanners want).
std::map<std::string, uint64_t> service_probe_packets(const CounterSet& c);

// A label value escaped for the exposition format (backslash, double quote, newline).
std::string escape_label_value(const std::string& v);

}  // namespace darkscope
