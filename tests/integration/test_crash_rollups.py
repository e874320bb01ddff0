"""A crash loses at most the documented checkpoint of the hour and day rollups (docs/schema.md:
60 s of wall time). The same capture is replayed live twice into one history file, each run
killed with SIGKILL more than a checkpoint period after its last packet, the second starting on
the file the first left: every stored hour and day must hold the packets and bytes of the
intervals stored for it (read back with Python's sqlite3, independently of darkscope), in all
twice the generator's counts. A kill -9 loop of 20 runs at random moments needs 20 minutes of
live replay at this checkpoint period; two runs keep the test within CI time."""
import os
import signal
import sqlite3
import sys
import time

import dsharness as h
import pytest


def test_crash_rollups(env):
    pcap, truth = env.generate("crash", "--seed", "32", "--packets", "20000", "--profile", "demo")
    db = os.path.join(env.tmp, "history.sqlite")
    errors = []
    CHECKPOINT_S = 60
    for run in (1, 2):
        prefix = "%s_r%d" % (env.prefix, run)
        proc = env.start(env.base_args(prefix=prefix) + [
            "--config", os.path.join(env.src, "conf", "demo.conf"),
            "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
            "--db", db])
        h.wait_socket(prefix, proc)
        stats = h.wait_packets(prefix, truth["packets"], timeout=300)
        if stats.get("packets") != truth["packets"]:
            errors.append("run %d counted %s packets, truth %d" % (run, stats.get("packets"),
                                                                   truth["packets"]))
        # Past one checkpoint period after the last packet's interval closed: the rollups holding
        # every packet have been stored.
        time.sleep(CHECKPOINT_S + 5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    con = sqlite3.connect(db)


    def totals(resolution):
        return {start: (packets, nbytes, sources) for start, packets, nbytes, sources in con.execute(
            "select p.start, r.packets, r.bytes, r.sources from periods p join rows r on "
            "r.period_id = p.id where p.resolution = ? and r.dimension = 'total'", (resolution,))}


    intervals = totals("interval")
    packets = sum(v[0] for v in intervals.values())
    nbytes = sum(v[1] for v in intervals.values())
    print("two killed runs: %d intervals stored, %d packets, %d bytes (truth, once: %d packets, %d bytes)" % (
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
    h.no_errors(errors)
