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
the generator's own counts and the corpus manifest's packet total."""
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


def run(burst):
    summary = os.path.join(env.tmp, "paths-burst%d.json" % burst)
    env.run(env.base_args(prefix="%s_b%d" % (env.prefix, burst)) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"), "--burst", str(burst),
        "--summary", summary] + geo + reads, timeout=600)
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
for burst in (5, 32):
    diff = differences(plain, run(burst))
    print("--burst %d: %d differences over %d views" % (burst, len(diff), len(plain)))
    errors += ["--burst %d %s" % (burst, d) for d in diff[:20]]
h.report(errors)
