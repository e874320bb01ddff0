#!/usr/bin/python3
"""Live mode on a net_pcap replay: telemetry answers the generator's truth exactly, SIGINT stops
cleanly (exit 0) and flushes the last partial interval into the summary."""
import json
import os
import sys

import dsharness as h

env = h.Env(sys.argv)
pcap, truth = env.generate("live", "--seed", "7", "--packets", "20000", "--profile", "demo")
summary = os.path.join(env.tmp, "summary.json")
proc = env.start(env.base_args() + [
    "--config", os.path.join(env.src, "conf", "demo.conf"),
    "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
    "--summary", summary])
h.wait_socket(env.prefix, proc)
stats = h.wait_packets(env.prefix, truth["packets"], timeout=90)
errors = h.compare_stats(stats, truth, "live stats")
top = h.telemetry(env.prefix, "/darkscope/top/ports,20")
errors += h.compare_top_ports(top, truth["services"], "live top 20", n=20)
for sensor, services in truth["sensor_services"].items():
    top = h.telemetry(env.prefix, "/darkscope/top/ports,10,total,sensor=" + sensor)
    errors += h.compare_top_ports(top, services, "live top 10 at " + sensor, n=10)
last = h.telemetry(env.prefix, "/darkscope/top/ports,5,last")
if not isinstance(h.ranked(last), list):
    errors.append("top/ports,5,last: not a list: %r" % (last,))
bad = h.telemetry(env.prefix, "/darkscope/top/ports,100000")
if not (isinstance(bad, dict) and "error" in bad):
    errors.append("top/ports,100000 should be refused with an error, got %r" % (bad,))
workers = h.ranked(h.telemetry(env.prefix, "/darkscope/workers"))
if sum(w["packets"] for w in workers) != truth["packets"]:
    errors.append("workers' packets %s != %d" % (workers, truth["packets"]))
rc = h.stop(proc)
if rc != 0:
    errors.append("exit status after SIGINT: %d" % rc)
with open(summary) as f:
    s = json.load(f)
errors += h.compare_stats(s["/darkscope/stats"], truth, "live summary")
h.report(errors)
