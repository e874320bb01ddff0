#!/usr/bin/python3
"""A live restart in the middle of an hour or day keeps what the earlier run stored.

The same capture is replayed live twice, one darkscope after the other, into one history file.
The hour and day rollups of the second run must merge the first run's instead of replacing them:
every stored hour and day holds the packets and bytes of the intervals stored for it (read back
with Python's sqlite3, independently of darkscope), in all twice the generator's counts, and a
day that both runs fed has the union of their sources (the same sources, so the generator's
distinct count within 2%), not their sum."""
import os
import sqlite3
import sys

import dsharness as h

env = h.Env(sys.argv)
pcap, truth = env.generate("resume", "--seed", "31", "--packets", "20000", "--profile", "demo")
db = os.path.join(env.tmp, "history.sqlite")
errors = []
for run in (1, 2):
    prefix = "%s_r%d" % (env.prefix, run)
    proc = env.start(env.base_args(prefix=prefix) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
        "--db", db])
    h.wait_socket(prefix, proc)
    stats = h.wait_packets(prefix, truth["packets"], timeout=90)
    if stats.get("packets") != truth["packets"]:
        errors.append("run %d counted %s packets, truth %d" % (run, stats.get("packets"),
                                                               truth["packets"]))
    rc = h.stop(proc)
    if rc != 0:
        errors.append("run %d: exit status after SIGINT: %d" % (run, rc))

con = sqlite3.connect(db)


def totals(resolution):
    return {start: (packets, nbytes, sources) for start, packets, nbytes, sources in con.execute(
        "select p.start, r.packets, r.bytes, r.sources from periods p join rows r on "
        "r.period_id = p.id where p.resolution = ? and r.dimension = 'total'", (resolution,))}


intervals = totals("interval")
packets = sum(v[0] for v in intervals.values())
nbytes = sum(v[1] for v in intervals.values())
print("two runs: %d intervals stored, %d packets, %d bytes (truth, once: %d packets, %d bytes)" % (
    len(intervals), packets, nbytes, truth["packets"], truth["bytes"]))
if (packets, nbytes) != (2 * truth["packets"], 2 * truth["bytes"]):
    errors.append("intervals hold %d packets, %d bytes; want twice the truth: %d, %d" % (
        packets, nbytes, 2 * truth["packets"], 2 * truth["bytes"]))
for resolution, length in (("hour", 3600), ("day", 86400)):
    rollups = totals(resolution)
    want = {}
    for start, (p, b, _) in intervals.items():
        key = start - start % length
        got = want.setdefault(key, [0, 0])
        got[0] += p
        got[1] += b
    for start, (p, b) in sorted(want.items()):
        got = rollups.get(start)
        print("%s %d: stored %s, its intervals %d packets, %d bytes" % (resolution, start, got, p,
                                                                       b))
        if got is None or got[:2] != (p, b):
            errors.append("%s %d holds %s; its intervals hold %d packets, %d bytes" % (
                resolution, start, got, p, b))
    if sorted(rollups) != sorted(want):
        errors.append("%s rollups %s for intervals in %s" % (resolution, sorted(rollups),
                                                            sorted(want)))
days = totals("day")
if len(days) == 1:
    sources = next(iter(days.values()))[2]
    print("the day's unique sources: %d (truth %d; the sum of the runs would be %d)" % (
        sources, truth["sources"], 2 * truth["sources"]))
    if abs(sources - truth["sources"]) > 0.02 * truth["sources"]:
        errors.append("the day's unique sources %d, truth %d: not the union of the two runs" % (
            sources, truth["sources"]))
else:
    print("the runs straddled midnight (UTC): the day's union is not checked")
h.report(errors)
