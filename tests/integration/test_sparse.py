"""A long sparse capture: four days of one-minute intervals, most of them empty, read with --db.
Every interval that holds packets is stored with the generator's per-interval truth (totals,
unique sources and destinations, classes, sensors, services); an interval without packets is not
stored (the history reads a missing interval as zero, docs/schema.md). Two workers store the same
rows as one."""
import os
import sqlite3
import sys

import dsharness as h
import pytest


def test_sparse(env):
    conf = os.path.join(env.src, "conf", "demo.conf")
    # 1500 packets over 4 days: one per 230 s slot, so about three intervals in four are empty.
    pcap, truth = env.generate("sparse", "--seed", "21", "--packets", "1500", "--profile", "demo",
                               "--duration", str(4 * 86400), "--interval", "60")
    errors = []
    intervals = truth["intervals"]
    busy = {i["start"]: i for i in intervals if i["packets"]}
    empty = len(intervals) - len(busy)
    print("truth: %d intervals, %d of them empty" % (len(intervals), empty))
    if empty * 2 < len(intervals):
        errors.append("the capture is not sparse: %d of %d intervals empty" % (empty, len(intervals)))


    def stored_intervals(db):
        """{start: {(dimension, key): (packets, bytes, sources, destinations)}} of the interval
        periods in `db`."""
        con = sqlite3.connect(db)
        out = {}
        for pid, start, length in con.execute(
                "select id, start, length_s from periods where resolution = 'interval'"):
            if length != 60:
                errors.append("interval %d: length_s %d, want 60" % (start, length))
            out[start] = {(d, k): (p, b, s, t) for d, k, p, b, s, t in con.execute(
                "select dimension, key, packets, bytes, sources, destinations from rows "
                "where period_id = ?", (pid,))}
        con.close()
        return out


    def check(stored, what):
        if sorted(stored) != sorted(busy):
            missing = sorted(set(busy) - set(stored))[:5]
            extra = sorted(set(stored) - set(busy))[:5]
            errors.append("%s: %d interval periods stored, truth has %d with packets (missing %s, "
                          "extra %s)" % (what, len(stored), len(busy), missing, extra))
        for start, rows in sorted(stored.items()):
            t = busy.get(start)
            if t is None:
                continue
            want = {("total", "all"): (t["packets"], t["bytes"], t["sources"], t["destinations"])}
            got = {("total", "all"): rows.get(("total", "all"))}
            for cls, n in t["classes"].items():
                if n:
                    want[("class", cls)] = n
            for name, pb in t["sensors"].items():
                if pb["packets"]:
                    want[("sensor", name)] = (pb["packets"], pb["bytes"])
            for name, pb in t["services"].items():
                want[("service", name)] = (pb["packets"], pb["bytes"])
            for (dim, key), v in rows.items():
                if dim == "class":
                    got[(dim, key)] = v[0]
                elif dim == "sensor" and key not in ("unmatched", "none"):
                    got[(dim, key)] = v[:2]
                elif dim == "service" and key not in ("none", "other"):
                    got[(dim, key)] = v[:2]
            if got != want:
                diff = sorted(set(got.items()) ^ set(want.items()))
                errors.append("%s: interval %d: rows differ from the truth: %s" % (what, start, diff))
        return sum(rows[("total", "all")][0] for rows in stored.values() if ("total", "all") in rows)


    one = os.path.join(env.tmp, "one.sqlite")
    env.run(env.base_args() + ["--config", conf, "--read", pcap, "--db", one])
    stored_one = stored_intervals(one)
    packets = check(stored_one, "one worker")
    if packets != truth["packets"]:
        errors.append("stored intervals hold %d packets, the capture %d" % (packets, truth["packets"]))

    two = os.path.join(env.tmp, "two.sqlite")
    env.run(env.base_args() + ["--config", conf, "--read", pcap, "--db", two, "--workers", "2",
                               "--share-cpus"])
    stored_two = stored_intervals(two)
    check(stored_two, "two workers")
    if stored_two != stored_one:
        differ = [s for s in sorted(set(stored_one) | set(stored_two))
                  if stored_one.get(s) != stored_two.get(s)]
        errors.append("two workers stored other rows than one in %d intervals, first %s" %
                      (len(differ), differ[:3]))
    print("%d intervals stored, %d packets" % (len(stored_one), packets))
    h.no_errors(errors)
