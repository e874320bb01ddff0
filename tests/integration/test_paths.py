#!/usr/bin/python3
"""The optimised path counts exactly what the plain one counts.

The worker's optimised path (`--pipeline full`, the default) handles bursts of up to 32 packets in
passes: one hash per address, prefetches a few packets ahead, bulk attribution of only the
packets whose source tuple is new, the source side counted per (source, sensor, service) tuple
on the stats core. The reference path, `--pipeline plain`, counts each packet whole, one at a
time (count_packet, a lookup per packet, the top talkers updated per packet), with none of that.

1. The plain path against the truth: the generated demo capture alone, read with `--pipeline
   plain`, must give the generator's own counts (packets, bytes, protocols, classes, flags,
   sensors, services, unique sources and destinations within 2%).
2. The optimised path against the plain one: that capture with attribution plus every capture of
   the shared corpus (VLAN/QinQ/MPLS, IPv6, fragments, malformed packets), read plain and
   optimised with bursts of 1, 5 and 32 (partial bursts, pipeline stages running off the end):
   every view of the summaries must be identical: packets, bytes, classes, flags, errors,
   services, countries, ASNs, sensors, unique counts (same sketches, so the same estimates), top
   talkers and prefixes, events.
3. Full tuple tables: a capture of 20,000 one-off scanners, read plain, with the default tuple
   table and with the smallest (1024 entries, so nearly every packet spills to per-packet
   counting) must give the same views, but for the top talkers: built from the tuples they are
   exact, counted per packet by Space-Saving (plain, spills) they are exact within its error
   bound; all must bracket the generator's counts of its 20 busiest sources. That capture keeps
   every bounded table within its capacity: past it, which keys get a slot follows arrival order,
   and the spills change that order.
4. Two workers against one (the optimised path): every view of the demo capture but the
   per-worker one is identical (tests/integration/test_sparse.py compares their history rows)."""
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


def run(burst, extra=(), pipeline="full", what=None):
    name = "%s%s%d%s" % ("alone-" if what is not None else "", pipeline, burst,
                         "".join(a.strip("-")[:1] + a.lstrip("-")[-3:] for a in extra))
    summary = os.path.join(env.tmp, "paths-%s.json" % name)
    env.run(env.base_args(prefix="%s_%s" % (env.prefix, name)) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"), "--burst", str(burst),
        "--pipeline", pipeline, "--summary", summary] + list(extra) + geo +
        (what if what is not None else reads), timeout=600)
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
# 1. The plain path against the generator's truth (the demo capture alone: the truth is its own).
alone = run(1, pipeline="plain", what=["--read", demo])
stats = alone["/darkscope/stats"]
errors += h.compare_stats(stats, truth, "plain path")
errors += h.compare_top_ports(alone["/darkscope/top/ports,1000,total,all"], truth["services_all"],
                              "plain path, all classes", n=1000)
for view, key in (("/darkscope/classes", "classes"), ("/darkscope/flags", "flags")):
    for name, count in truth.get(key, {}).items():
        if alone[view].get(name) != count:
            errors.append("plain path %s %s: %s, truth %s" % (key, name, alone[view].get(name),
                                                              count))
sensors = {r["sensor"]: r for r in h.ranked(alone["/darkscope/sensors"])}
for name, t in truth.get("sensors", {}).items():
    got = sensors.get(name, {})
    if (got.get("packets"), got.get("bytes")) != (t["packets"], t["bytes"]):
        errors.append("plain path sensor %s: %s, truth %s" % (name, got, t))
for key in ("sources", "destinations"):
    if abs(stats[key] - truth[key]) > 0.02 * truth[key]:
        errors.append("plain path unique %s: %d, truth %d (over 2%%)" % (key, stats[key],
                                                                         truth[key]))
print("plain path, demo capture: %d packets, %d bytes, %d unique sources (truth %d)" % (
    stats["packets"], stats["bytes"], stats["sources"], truth["sources"]))
if stats["source_tuples"] != 0 or stats["source_spills"] != 0:
    errors.append("plain path: %d tuples, %d spills; want no tuple tables at all" % (
        stats["source_tuples"], stats["source_spills"]))



def bracket_errors(s, top_sources, label):
    """Space-Saving's guarantee for the busiest sources: count - error <= truth <= count."""
    rows = {r["source"]: r for r in h.ranked(s["/darkscope/top/sources,1000"])}
    out = []
    for source, want in top_sources[:20]:
        r = rows.get(source)
        if r is None or not r["packets"] - r["error"] <= want <= r["packets"]:
            out.append("%s: top source %s has %d packets, listed as %s" % (label, source, want, r))
    return out


errors += bracket_errors(alone, truth["top_sources"], "plain path")


def without_talkers(s):
    """The views but the top talkers and what is found among them (scanner events): exact only
    while Space-Saving holds every source, else they follow the order of their updates, which is
    per packet on the plain path and per tuple on the optimised one."""
    out = {k: v for k, v in s.items()
           if not k.startswith("/darkscope/top/sources") and
           not k.startswith("/darkscope/top/prefixes")}
    ev = s["/darkscope/events,50"]
    out["/darkscope/events,50"] = [v for v in ev.values() if v.get("kind") != "scanner"]
    return out


# 2. The optimised path against the plain one, on the demo capture and the corpus.
plain = run(1, pipeline="plain")
stats = plain["/darkscope/stats"]
want = truth["packets"] + corpus_packets
if stats["packets"] != want:
    errors.append("plain path counted %d packets, truth %d" % (stats["packets"], want))
print("plain path, demo capture and corpus: %d packets, %d bytes, %d unique sources" % (
    stats["packets"], stats["bytes"], stats["sources"]))
optimised = run(32)
stats = optimised["/darkscope/stats"]
# The default tables take every IP packet but those whose time does not fit their 32-bit seconds
# (the corpus has a capture stamped after 2106): those few are counted per packet.
ip = stats["ipv4"] + stats["ipv6"]
print("optimised path: %d tuples, %d of %d IP packets spilled" % (
    stats["source_tuples"], stats["source_spills"], ip))
if stats["source_tuples"] == 0 or stats["source_spills"] * 1000 > ip:
    errors.append("default tuple table: %d tuples, %d spills; want tuples and next to no spills" %
                  (stats["source_tuples"], stats["source_spills"]))


def comparable(s):
    # How the source side was counted (per tuple or per packet), not what it counted.
    for k in ("source_spills", "source_tuples"):
        s["/darkscope/stats"].pop(k, None)
    return s


# Demo and corpus together have more sources than the top talkers hold (Space-Saving's
# capacity): those are checked against the generator's counts of its busiest sources instead.
talkers_exact = stats["sources"] <= len(h.ranked(plain["/darkscope/top/sources,1000"])) < 1000
plain = comparable(plain if talkers_exact else without_talkers(plain))
for burst in (1, 5, 32):
    s = optimised if burst == 32 else run(burst)
    errors += bracket_errors(s, truth["top_sources"], "optimised, --burst %d" % burst)
    diff = differences(plain, comparable(s if talkers_exact else without_talkers(s)))
    print("optimised, --burst %d: %d differences from plain over %d views%s" % (
        burst, len(diff), len(plain), "" if talkers_exact else
        " (top talkers and scanner events checked against the truth)"))
    errors += ["--burst %d %s" % (burst, d) for d in diff[:20]]

# Two workers (bursts dealt over them, their tables merged on the stats core) against one, on
# the demo capture: every view but the per-worker one is the same; the top talkers and scanner
# events as above (more sources than Space-Saving holds). With the corpus too, keys that do not
# fit a bounded table go to its `other`, and which keys those are follows the order the workers'
# tables are merged in (a service then showed no sources with one worker and two with two).
one_demo = run(32, ("--workers", "1"), what=["--read", demo])
two_demo = run(32, ("--workers", "2", "--share-cpus"), what=["--read", demo])
views = []
for s in (one_demo, two_demo):
    s = dict(comparable(without_talkers(s)))
    s.pop("/darkscope/workers", None)
    views.append(s)
diff = differences(views[0], views[1])
print("two workers: %d differences from one over %d views" % (len(diff), len(views[0])))
errors += ["--workers 2 (plain = one worker) %s" % d for d in diff[:20]]

nets2 = os.path.join(env.tmp, "nets2.csv")
scans, scans_truth = env.generate("tuples", "--seed", "22", "--packets", "30000", "--profile",
                                  "bench", "--sources", "20000", "--write-networks", nets2,
                                  "--source-networks", nets2)
geo = h.geo_csvs(nets2, env.tmp)
reads = ["--read", scans]
reference = run(32, pipeline="plain")
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
for label, s in (("plain", reference), ("default table", whole), ("--tuple-entries 1024", small)):
    errors += bracket_errors(s, scans_truth["top_sources"], label)
for s in (reference, whole, small):
    for k in ("/darkscope/top/sources,1000", "/darkscope/top/prefixes,1000"):
        s.pop(k)
    # Scanner events are found among the interval's top talkers: they differ as those may.
    ev = s["/darkscope/events,50"]
    s["/darkscope/events,50"] = [v for v in ev.values() if v.get("kind") != "scanner"]
reference = comparable(reference)
for label, s in (("default table", whole), ("--tuple-entries 1024", small)):
    diff = differences(reference, comparable(s))
    print("one-off scanners, %s: %d differences from plain over %d views (top talkers checked "
          "against the truth)" % (label, len(diff), len(reference)))
    errors += ["%s %s" % (label, d) for d in diff[:20]]
h.report(errors)
