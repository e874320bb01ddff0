"""Two workers on two net_pcap vdevs (time-sharing CPUs on a small machine with --share-cpus):
the merged totals equal the sum of both generators' truths, live through telemetry and in the
summary written on SIGINT; each worker's bursts fit its packets."""
import os

import pytest

import dsharness as h


@pytest.fixture(scope="module")
def live(env):
    pcap_a, truth_a = env.generate("a", "--seed", "21", "--packets", "8000", "--profile", "demo")
    pcap_b, truth_b = env.generate("b", "--seed", "22", "--packets", "6000", "--profile", "demo")
    truth = {k: truth_a[k] + truth_b[k] for k in h.STAT_KEYS}
    services = {}
    for t in (truth_a, truth_b):
        for k, v in t["services"].items():
            s = services.setdefault(k, {"packets": 0, "bytes": 0})
            s["packets"] += v["packets"]
            s["bytes"] += v["bytes"]
    summary = os.path.join(env.tmp, "summary.json")
    proc = env.start(env.base_args() + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap_a, "--port", "net_pcap1,rx_pcap=" + pcap_b,
        "--workers", "2", "--share-cpus", "--interval", "1", "--link-wait", "0",
        "--summary", summary])
    h.wait_socket(env.prefix, proc)
    got = {"truth": truth, "services": services,
           "stats": h.wait_packets(env.prefix, truth["packets"], timeout=120),
           "workers": h.ranked(h.telemetry(env.prefix, "/darkscope/workers")),
           "top": h.telemetry(env.prefix, "/darkscope/top/ports,30")}
    got["exit"] = h.stop(proc)
    got["summary"] = env.summary(summary)
    return got


def test_merged_stats_equal_both_truths(live):
    h.no_errors(h.compare_stats(live["stats"], live["truth"], "two workers"))


def test_both_workers_counted_packets(live):
    workers = live["workers"]
    assert len(workers) == 2 and all(w["packets"] > 0 for w in workers), \
        "want two workers that both counted packets, got %s" % workers


def test_bursts_fit_packets(live):
    # `bursts` counts the receives that returned packets, up to --burst (32) each, also when a
    # full burst and the next one are processed as one batch of up to 64.
    h.no_errors(["worker %s: %d packets in %d bursts of at most 32"
                 % (w.get("lcore"), w["packets"], w["bursts"]) for w in live["workers"]
                 if not w["bursts"] <= w["packets"] <= 32 * w["bursts"]])


def test_merged_top_ports_equal_both_truths(live):
    h.no_errors(h.compare_top_ports(live["top"], live["services"], "two workers top 30", n=30))


def test_sigint_exits_0(live):
    assert live["exit"] == 0, "exit status after SIGINT: %d" % live["exit"]


def test_summary_equals_both_truths(live):
    h.no_errors(h.compare_stats(live["summary"]["/darkscope/stats"], live["truth"],
                                "two workers summary"))
