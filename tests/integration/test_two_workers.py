#!/usr/bin/python3
"""Two workers on two net_pcap vdevs (time-sharing CPUs on a small machine with --share-cpus):
the merged totals equal the sum of both generators' truths, live through telemetry and in the
summary written on SIGINT; each worker's bursts fit its packets."""
import json
import os
import sys

import dsharness as h

env = h.Env(sys.argv)
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
stats = h.wait_packets(env.prefix, truth["packets"], timeout=120)
errors = h.compare_stats(stats, truth, "two workers")
workers = h.ranked(h.telemetry(env.prefix, "/darkscope/workers"))
if len(workers) != 2 or any(w["packets"] == 0 for w in workers):
    errors.append("want two workers that both counted packets, got %s" % workers)
# `bursts` counts the receives that returned packets, up to --burst (32) each, also when a full
# burst and the next one are processed as one batch of up to 64.
for w in workers:
    if not w["bursts"] <= w["packets"] <= 32 * w["bursts"]:
        errors.append("worker %s: %d packets in %d bursts of at most 32"
                      % (w.get("lcore"), w["packets"], w["bursts"]))
top = h.telemetry(env.prefix, "/darkscope/top/ports,30")
errors += h.compare_top_ports(top, services, "two workers top 30", n=30)
rc = h.stop(proc)
if rc != 0:
    errors.append("exit status after SIGINT: %d" % rc)
with open(summary) as f:
    errors += h.compare_stats(json.load(f)["/darkscope/stats"], truth, "two workers summary")
h.report(errors)
