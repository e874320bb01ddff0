#!/usr/bin/python3
"""The optimised path counts exactly what the plain one counts.

The worker's fast path handles bursts of up to 32 packets in passes (decode with prefetch a few
packets ahead, bulk classification and attribution, one hash per address, a prefetch pass over
every table line, then counting). `--burst 1` turns all of that into plain packet-at-a-time
processing: the same packet order, one packet per pass. Odd burst sizes leave partial bursts and
prefetch windows that run off the end. This test reads the generated demo capture and every
capture of the shared corpus (VLAN/QinQ/MPLS, IPv6, fragments, malformed packets) with bursts of
1, 5 and 32 and requires every view of the summaries to be identical: packets, bytes, classes,
flags, errors, services, countries, ASNs, sensors, unique counts (same sketches, so the same
estimates), top talkers and prefixes, events. The plain run is also checked against the truth:
the generator's own counts and the corpus manifest's packet total.

The worker counts the source side of its packets per (source, sensor, service)
tuple (IPv4 and IPv6 tables) and falls back to per-packet counting when a tuple table is full. A capture of 20,000
one-off scanners read with the smallest table (1024 entries, so nearly every packet spills) must
give the same views as the default table, but for the top talkers: built from the tuples they are
exact, counted per packet by Space-Saving they are exact within its error bound; both must
bracket the generator's counts of its 20 busiest sources. That capture keeps every bounded table within its
capacity: past it, which keys get a slot follows arrival order, and the spills change that order."""
import json
import os
import sys

import dsharness as h

env = h.Env(sys.argv)
# Sources from networks the test turns into country and ASN databases: attribution is on too.
nets = os.path.join(env.tmp, "nets.csv")
demo, truth = env.generate("paths", "--seed", "21", "--packets", "30000", "--profile", "demo",
                           "--write-networks", nets, "--source-networks", nets)
geo = h.geo_csvs(nets, env.tmp)
reads = ["--read", demo]
manifest = os.path.join(env.corpus, "pcaps", "MANIFEST.tsv")
corpus_packets = 0
if os.path.exists(manifest):
    with open(manifest) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            reads += ["--read", os.path.join(env.corpus, "pcaps", row["local_path"])]
            corpus_packets += int(row["packets"])
else:
    print("corpus not present (%s): the generated capture only" % manifest)

# Fields that describe the run, not the traffic.
VOLATILE_STATS = {"uptime_s", "rss_bytes", "rss_peak_bytes", "dpdk_heap_bytes"}
VOLATILE_WORKER = {"bursts", "idle_polls"}


def run(burst, extra=()):
    name = "b%d%s" % (burst, "".join(a.strip("-")[:1] + a.lstrip("-")[-3:] for a in extra))
    summary = os.path.join(env.tmp, "paths-%s.json" % name)
    env.run(env.base_args(prefix="%s_%s" % (env.prefix, name)) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"), "--burst", str(burst),
        "--summary", summary] + list(extra) + geo + reads, timeout=600)
    with open(summary) as f:
        s = json.load(f)
    for k in VOLATILE_STATS:
        s["/darkscope/stats"].pop(k, None)
    for w in s.get("/darkscope/workers", {}).values():
        for k in VOLATILE_WORKER:
            w.pop(k, None)
    return s


def differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s/%s: only in %s" % (path, k, "plain" if k in a else "optimised"))
            else:
                out += differences(a[k], b[k], "%s/%s" % (path, k))
        return out
    return [] if a == b else ["%s: plain %r, optimised %r" % (path, a, b)]


errors = []
plain = run(1)
stats = plain["/darkscope/stats"]
want = truth["packets"] + corpus_packets
if stats["packets"] != want:
    errors.append("plain path counted %d packets, truth %d" % (stats["packets"], want))
print("plain path (--burst 1): %d packets, %d bytes, %d unique sources" % (
    stats["packets"], stats["bytes"], stats["sources"]))
# The default tables take every IP packet but those whose time does not fit their 32-bit seconds
# (the corpus has a capture stamped after 2106): those few are counted per packet.
ip = stats["ipv4"] + stats["ipv6"]
print("default tuple tables: %d tuples, %d of %d IP packets spilled" % (
    stats["source_tuples"], stats["source_spills"], ip))
if stats["source_tuples"] == 0 or stats["source_spills"] * 1000 > ip:
    errors.append("default tuple table: %d tuples, %d spills; want tuples and next to no spills" %
                  (stats["source_tuples"], stats["source_spills"]))


def comparable(s):
    # How the source side was counted (per tuple or per packet), not what it counted.
    for k in ("source_spills", "source_tuples"):
        s["/darkscope/stats"].pop(k, None)
    return s


for burst in (5, 32):
    diff = differences(comparable(plain), comparable(run(burst)))
    print("--burst %d: %d differences over %d views" % (burst, len(diff), len(plain)))
    errors += ["--burst %d %s" % (burst, d) for d in diff[:20]]

nets2 = os.path.join(env.tmp, "nets2.csv")
scans, scans_truth = env.generate("tuples", "--seed", "22", "--packets", "30000", "--profile",
                                  "bench", "--sources", "20000", "--write-networks", nets2,
                                  "--source-networks", nets2)
geo = h.geo_csvs(nets2, env.tmp)
reads = ["--read", scans]
whole = run(32, ("--tuple-entries", "2097152"))
small = run(32, ("--tuple-entries", "1024"))
ws, ss = whole["/darkscope/stats"], small["/darkscope/stats"]
print("one-off scanners: %d IP packets; default tables %d tuples, %d spills; 1024 entries %d "
      "tuples, %d spills" % (ws["ipv4"] + ws["ipv6"], ws["source_tuples"], ws["source_spills"],
                             ss["source_tuples"], ss["source_spills"]))
if ws["source_spills"] != 0 or ss["source_spills"] < (ws["ipv4"] + ws["ipv6"]) // 2:
    errors.append("want no spills with the default table and most packets spilled with 1024")
# Top talkers: from the tuples the stats core builds them with exact counts; what spills is
# counted per packet by Space-Saving, exact only while it holds every source. Both must bracket
# the generator's own counts of its busiest sources (count - error <= truth <= count).
for label, s in (("default table", whole), ("--tuple-entries 1024", small)):
    rows = {r["source"]: r for r in h.ranked(s["/darkscope/top/sources,1000"])}
    for source, want in scans_truth["top_sources"][:20]:
        r = rows.get(source)
        if r is None or not r["packets"] - r["error"] <= want <= r["packets"]:
            errors.append("%s: top source %s has %d packets, listed as %s" % (label, source, want, r))
for s in (whole, small):
    for k in ("/darkscope/top/sources,1000", "/darkscope/top/prefixes,1000"):
        s.pop(k)
    # Scanner events are found among the interval's top talkers: they differ as those may.
    ev = s["/darkscope/events,50"]
    s["/darkscope/events,50"] = [v for v in ev.values() if v.get("kind") != "scanner"]
diff = differences(comparable(whole), comparable(small))
print("--tuple-entries 1024: %d differences over %d views (top talkers checked against the truth)"
      % (len(diff), len(whole)))
errors += ["--tuple-entries 1024 %s" % d for d in diff[:20]]
h.report(errors)
