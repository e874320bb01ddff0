#!/usr/bin/python3
"""Offline mode: --read of a generated capture; the summary equals the generator's truth."""
import json
import os
import sys

import dsharness as h

env = h.Env(sys.argv)
pcap, truth = env.generate("offline", "--seed", "11", "--packets", "20000", "--profile", "demo")
summary = os.path.join(env.tmp, "summary.json")
env.run(env.base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                           "--read", pcap, "--summary", summary])
with open(summary) as f:
    s = json.load(f)
errors = h.compare_stats(s["/darkscope/stats"], truth, "offline stats")
errors += h.compare_top_ports(s["/darkscope/top/ports,1000"], truth["services"], "offline", n=1000)
errors += h.compare_top_ports(s["/darkscope/top/ports,1000,total,all"], truth["services_all"],
                              "offline all classes", n=1000)
classes = s["/darkscope/classes"]
for name, count in truth.get("classes", {}).items():
    if classes.get(name) != count:
        errors.append("class %s: %s, truth %s" % (name, classes.get(name), count))
sensors = {r["sensor"]: r for r in h.ranked(s["/darkscope/sensors"])}
for name, t in truth.get("sensors", {}).items():
    got = sensors.get(name, {})
    if (got.get("packets"), got.get("bytes")) != (t["packets"], t["bytes"]):
        errors.append("sensor %s: %s, truth %s" % (name, got, t))
flags = s["/darkscope/flags"]
for name, count in truth.get("flags", {}).items():
    if flags.get(name) != count:
        errors.append("flag %s: %s, truth %s" % (name, flags.get(name), count))
# Unique counts: HyperLogLog within 2% of the generator's exact distinct counts.
stats = s["/darkscope/stats"]
for key in ("sources", "destinations"):
    if abs(stats[key] - truth[key]) > 0.02 * truth[key]:
        errors.append("unique %s: %d, truth %d (over 2%%)" % (key, stats[key], truth[key]))
for r in h.ranked(s["/darkscope/sensors"]):
    want = truth.get("sensor_sources", {}).get(r["sensor"])
    if want and abs(r["sources"] - want) > 0.02 * want:
        errors.append("sensor %s sources %d, truth %d" % (r["sensor"], r["sources"], want))
# Per-key unique sources (pooled sketches: exact to 1024, then P = 14): within 2% of the
# generator's exact distinct counts for every service and country, none degraded.
checked = 0
for r in h.ranked(s["/darkscope/top/ports,1000"]):
    want = truth.get("service_sources", {}).get(r["service"])
    if want:
        checked += 1
        if abs(r["sources"] - want) > 0.02 * want:
            errors.append("service %s sources %d, truth %d" % (r["service"], r["sources"], want))
for r in h.ranked(s["/darkscope/top/countries,1000"]):
    want = truth.get("countries", {}).get(r["country"], {}).get("sources")
    if want:
        checked += 1
        if abs(r["sources"] - want) > 0.02 * want:
            errors.append("country %s sources %d, truth %d" % (r["country"], r["sources"], want))
print("per-key unique sources checked against the truth: %d keys" % checked)
if checked < 10:
    errors.append("only %d per-key unique counts had a truth to compare with" % checked)
if stats.get("degraded_keys") != 0:
    errors.append("degraded_keys %s: the default pools should hold this capture" %
                  stats.get("degraded_keys"))
# Top talkers: the busiest sources in the right order with exact counts (no eviction at this size).
got = [[r["source"], r["packets"]] for r in h.ranked(s["/darkscope/top/sources,1000"])[:10]]
if got != truth["top_sources"][:10]:
    errors.append("top sources\n  got  %s\n  want %s" % (got, truth["top_sources"][:10]))
h.report(errors)
