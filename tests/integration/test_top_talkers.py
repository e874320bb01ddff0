#!/usr/bin/python3
"""Top talkers against per-source counts that tshark reads from the capture itself.

A generated capture of 8,000 sources (far more than the 1024 a summary holds) is read three times:
with the default tuple table in 60 s intervals and in one interval, where the stats core builds
each interval's top talkers from the tuples with exact counts, and with the smallest table (1024
entries) in one interval, where most packets spill to the worker's per-packet Space-Saving. In both, every listed source
must bracket its true count (count - error <= true <= count) and every source with more than N/k
packets must be listed: the Space-Saving guarantee, checked against tshark's counts, which must
agree with the generator's own top 20. Read in one interval with nothing spilled, every row is exact."""
import collections
import json
import os
import subprocess
import sys

import dsharness as h

env = h.Env(sys.argv)
pcap, truth = env.generate("talkers", "--seed", "31", "--packets", "60000", "--profile", "demo",
                           "--sources", "8000")
# The outer IPv4 or IPv6 source of every packet (an ICMP error's quoted header is not its source).
out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "ip.src", "-e", "ipv6.src"],
                     check=True, capture_output=True, text=True).stdout
counts = collections.Counter()
for line in out.splitlines():
    v4, _, v6 = line.partition("\t")
    src = (v4 or v6).split(",")[0]
    if src:
        counts[src] += 1
errors = []
for source, n in truth["top_sources"][:20]:
    if counts.get(source) != n:
        errors.append("tshark counts %s packets from %s, the generator %d" % (
            counts.get(source), source, n))
print("tshark: %d sources, %d IP packets" % (len(counts), sum(counts.values())))

runs = (("default tuple table, 60 s intervals", []),
        ("default tuple table, one interval", ["--interval", "3600"]),
        ("--tuple-entries 1024, one interval", ["--interval", "3600", "--tuple-entries", "1024"]))
for i, (label, extra) in enumerate(runs):
    summary = os.path.join(env.tmp, "talkers-%d.json" % i)
    env.run(env.base_args(prefix="%s_%d" % (env.prefix, i)) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"), "--read", pcap,
        "--summary", summary] + extra)
    with open(summary) as f:
        s = json.load(f)
    rows = h.ranked(s["/darkscope/top/sources,1000"])
    stats = s["/darkscope/stats"]
    n = stats["packets"]
    bad = [r for r in rows if not r["packets"] - r["error"] <= counts.get(r["source"], 0) <= r["packets"]]
    listed = {r["source"] for r in rows}
    missing = [src for src, c in counts.items() if c > n // 1024 and src not in listed]
    exact = sum(1 for r in rows if r["packets"] == counts.get(r["source"]) and r["error"] == 0)
    print("%s: %d rows, %d exact, error sum %d, %d spills; %d rows outside their bracket, "
          "%d sources above N/k=%d not listed" % (label, len(rows), exact,
                                                   sum(r["error"] for r in rows),
                                                   stats["source_spills"], len(bad), len(missing),
                                                   n // 1024))
    if len(rows) != 1000:
        errors.append("%s: %d top sources, want 1000" % (label, len(rows)))
    # One interval, nothing spilled: the rows come from exact per-tuple counts, IPv4 and IPv6
    # summaries merged as disjoint: all exact.
    if extra == ["--interval", "3600"] and exact != len(rows):
        errors.append("%s: %d of %d rows exact, want all" % (label, exact, len(rows)))
    ip = stats["ipv4"] + stats["ipv6"]
    if "1024" in extra and stats["source_spills"] * 2 < ip:
        errors.append("%s: only %d of %d IP packets spilled to per-packet counting" % (
            label, stats["source_spills"], ip))
    errors += ["%s: %s listed with %d packets (error %d), true %d" % (
        label, r["source"], r["packets"], r["error"], counts.get(r["source"], 0)) for r in bad[:10]]
    errors += ["%s: %s has %d packets, above N/k, and is not listed" % (label, src, counts[src])
               for src in missing[:10]]
h.report(errors)
