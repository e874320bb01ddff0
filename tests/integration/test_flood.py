#!/usr/bin/python3
"""Bounded memory: a spoofed-source flood of 10^7 distinct sources with random ports (and
SYN-ACK backscatter from random victims) must not grow darkscope's memory past its budget.
Measured from the process (peak resident set) and the DPDK heap, as darkscope reports them at the
end of the run; no timing involved. The flood's counts must still be exact."""
import json
import os
import subprocess
import sys

import dsharness as h

env = h.Env(sys.argv)
flood_exe = sys.argv[3]
big = int(os.environ.get("DARKSCOPE_FLOOD_PACKETS", "10000000"))
# The per-worker and stats-core budgets (docs/metrics.md): 2 x 24 MiB counter sets with their
# precise sketches, 2 x 170.0 MiB of IPv4 and IPv6 source tuples and four Space-Saving summaries
# per worker; four window accumulators with theirs, their snapshot copies and the series history on the
# stats core, which also sorts each retired epoch's tuples (8 bytes each) for the top talkers.
# With --no-huge the DPDK heap (mbufs, tables) is part of the resident set; the budget below is
# the EAL memory given plus 640 MiB for the control plane.
eal_mb = 1024
budget = (eal_mb + 640) << 20
shm = "/dev/shm" if os.path.isdir("/dev/shm") else env.tmp
results = {}
errors = []
for n in (big // 10, big):
    pcap = os.path.join(shm, "darkscope-flood-%d-%d.pcap" % (os.getpid(), n))
    subprocess.run([flood_exe, pcap, str(n), "7", "600"], check=True)
    summary = os.path.join(env.tmp, "flood-%d.json" % n)
    try:
        env.run(["--file-prefix", "%s_%d" % (env.prefix, n), "--no-huge", "--memory",
                 str(eal_mb), "--mbufs", "8191", "--log-level", "warning", "--read", pcap,
                 "--sensor", "dark=203.0.113.0/24", "--interval", "60", "--summary", summary],
                timeout=900)
    finally:
        os.unlink(pcap)
    with open(summary) as f:
        stats = json.load(f)["/darkscope/stats"]
    results[n] = stats
    print("%d packets: peak RSS %.1f MiB, DPDK heap %.1f MiB, unique sources %d" % (
        n, stats["rss_peak_bytes"] / 2**20, stats["dpdk_heap_bytes"] / 2**20, stats["sources"]))
    if stats["packets"] != n:
        errors.append("%d-packet flood: counted %d" % (n, stats["packets"]))
    if stats["rss_peak_bytes"] > budget:
        errors.append("%d-packet flood: peak RSS %d over the budget %d" % (
            n, stats["rss_peak_bytes"], budget))
    # Nearly every packet has a new source: the sketch must say so within 2%.
    if abs(stats["sources"] - n) > 0.02 * n:
        errors.append("%d-packet flood: %d unique sources estimated" % (n, stats["sources"]))
small, large = results[big // 10], results[big]
# What may grow with the flood is bounded by design: the precise per-key sketches (pools of
# --precise-sketches, default 512, per worker counter set and 4 x 512 per stats-core window;
# docs/metrics.md). The big flood must have filled the run window's pool and reported the keys
# that fell back to small sketches, and the growth between the two floods must stay within what
# full pools hold: 4 windows, their published copies and the copies being replaced, 16 KiB each.
window_sketches = 4 * 512
if large.get("precise_sketches") != window_sketches or large.get("degraded_keys", 0) == 0:
    errors.append("the %d-source flood should fill the run's %d precise sketches and report "
                  "degraded keys: precise_sketches %s, degraded_keys %s" % (
                      big, window_sketches, large.get("precise_sketches"),
                      large.get("degraded_keys")))
pools_max = 3 * 4 * window_sketches * 16448 + 2 * 512 * 16448
growth = large["rss_peak_bytes"] - small["rss_peak_bytes"]
print("peak RSS growth %.1f MiB; bound from full sketch pools %.1f MiB" % (
    growth / 2**20, pools_max / 2**20))
if growth > pools_max + (64 << 20):
    errors.append("peak RSS grew by %.1f MiB from %d to %d distinct sources: more than full "
                  "sketch pools (%.1f MiB) can explain" % (
                      growth / 2**20, big // 10, big, pools_max / 2**20))
h.report(errors)
