#!/usr/bin/python3
"""The SQLite history: one row set per interval with the generator's exact totals and
per-dimension sums; hourly rollups whose unique sources are the union of the hour's intervals
(not their sum); files given out of time order read in time order; kill -9 in the middle of a live run leaves a database that opens cleanly with
every interval committed before the kill, and a restart appends. SIGHUP reloads attribution."""
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import dsharness as h

env = h.Env(sys.argv)
conf = os.path.join(env.src, "conf", "demo.conf")
pcap, truth = env.generate("hist", "--seed", "9", "--packets", "40000", "--profile", "demo",
                           "--duration", "7200", "--interval", "300")
db = os.path.join(env.tmp, "history.sqlite")
env.run(env.base_args() + ["--config", conf, "--read", pcap, "--db", db, "--interval", "300"])
con = sqlite3.connect(db)
errors = []
periods = {start: pid for pid, start in con.execute(
    "select id, start from periods where resolution = 'interval'")}
want = {i["start"]: i for i in truth["intervals"] if i["packets"]}
if sorted(periods) != sorted(want):
    errors.append("interval periods %s, truth %s" % (sorted(periods), sorted(want)))
for start, pid in periods.items():
    t = want.get(start)
    if not t:
        continue
    total = con.execute("select packets, bytes from rows where period_id = ? and "
                        "dimension = 'total'", (pid,)).fetchone()
    if total != (t["packets"], t["bytes"]):
        errors.append("interval %d: total %s, truth %s" % (start, total, (t["packets"], t["bytes"])))
    for dim in ("class", "sensor", "service", "country"):
        s = con.execute("select sum(packets) from rows where period_id = ? and dimension = ?",
                        (pid, dim)).fetchone()[0]
        if s != t["packets"]:
            errors.append("interval %d: dimension %s sums to %s, total %d" % (start, dim, s,
                                                                              t["packets"]))
# Hourly rollups: unique sources of the hour are the union of its intervals' sources: tshark's
# exact distinct count of the hour's outer sources, within 2% (the rollup's sketch is P = 16).
out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.time_epoch", "-e",
                      "ip.src", "-e", "ipv6.src"], check=True, capture_output=True,
                     text=True).stdout
hour_sources = collections.defaultdict(set)
for line in out.splitlines():
    t, v4, v6 = (line.split("\t") + ["", ""])[:3]
    src = (v4 or v6).split(",")[0]
    if src:
        sec = int(float(t))
        hour_sources[sec - sec % 3600].add(src)
hours = 0
for hour_start, pid in con.execute("select start, id from periods where resolution = 'hour'"):
    hours += 1
    got = con.execute("select sources from rows where period_id = ? and dimension = 'total'",
                      (pid,)).fetchone()[0]
    want = len(hour_sources.get(hour_start, ()))
    summed = sum(i["sources"] for i in truth["intervals"]
                 if hour_start <= i["start"] < hour_start + 3600)
    print("hour %d: %d unique sources stored, tshark %d distinct, its intervals sum to %d" % (
        hour_start, got, want, summed))
    if abs(got - want) > 0.02 * want:
        errors.append("hour %d: sources %d, tshark counts %d distinct" % (hour_start, got, want))
if hours != len(hour_sources):
    errors.append("%d hour rollups stored, the capture spans %d hours" % (hours, len(hour_sources)))
day = con.execute("select r.sources from rows r join periods p on p.id = r.period_id where "
                  "p.resolution = 'day' and r.dimension = 'total'").fetchall()
if len(day) != 1 or abs(day[0][0] - truth["sources"]) > 0.02 * truth["sources"]:
    errors.append("day rollup sources %s, truth %d distinct" % (day, truth["sources"]))
con.close()

# Files given out of time order are read in the order of their first packets: a day's capture
# given after the next day's still lands in its own intervals (and that day exists).
day1, truth1 = env.generate("day1", "--seed", "12", "--packets", "3000", "--profile", "demo",
                            "--start", "1363046400", "--duration", "600", "--interval", "300")
day2, truth2 = env.generate("day2", "--seed", "13", "--packets", "3000", "--profile", "demo",
                            "--start", "1363132800", "--duration", "600", "--interval", "300")
order_db = os.path.join(env.tmp, "order.sqlite")
env.run(env.base_args(prefix=env.prefix + "o") + ["--config", conf, "--read", day2, day1,
                                                  "--db", order_db, "--interval", "300"])
con = sqlite3.connect(order_db)
stored = {(res, start): n for res, start, n in con.execute(
    "select p.resolution, p.start, r.packets from periods p join rows r on r.period_id = p.id "
    "where r.dimension = 'total'")}
con.close()
want = {("interval", i["start"]): i["packets"] for t in (truth1, truth2) for i in t["intervals"]
        if i["packets"]}
want[("day", 1363046400)] = truth1["packets"]
want[("day", 1363132800)] = truth2["packets"]
got = {k: v for k, v in stored.items() if k[0] != "hour"}
print("--read day2 day1: stored %s" % sorted(got.items()))
if got != want:
    errors.append("--read of two days given in reverse order stored %s, truth %s" % (
        sorted(got.items()), sorted(want.items())))

# kill -9 in the middle of a live run, then a restart that appends.
live_db = os.path.join(env.tmp, "live.sqlite")
# infinite_rx keeps the capture in mbufs: the pool must hold all of it.
replay = ["--config", conf, "--port", "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap,
          "--interval", "1", "--link-wait", "0", "--db", live_db, "--mbufs", "65535",
          "--memory", "1024", "--no-huge", "--log-level", "warning"]
args = ["--file-prefix", env.prefix] + replay
proc = env.start(args)
h.wait_socket(env.prefix, proc)
deadline = time.time() + 60
while time.time() < deadline and h.telemetry(env.prefix, "/darkscope/stats").get(
        "store_written", 0) < 3:
    time.sleep(0.2)
written = h.telemetry(env.prefix, "/darkscope/stats").get("store_written", 0)
os.kill(proc.pid, signal.SIGKILL)
proc.wait()
con = sqlite3.connect(live_db)
check = con.execute("pragma integrity_check").fetchone()[0]
# store_written counts every period, hour and day rollups too (one lands when the run crosses
# a UTC hour).
n1 = con.execute("select count(*) from periods where resolution = 'interval'").fetchone()[0]
n_all = con.execute("select count(*) from periods").fetchone()[0]
con.close()
if check != "ok" or n_all < written or n1 < 1:
    errors.append("after kill -9: integrity %s, %d intervals stored, %d reported written" % (
        check, n1, written))
args = ["--file-prefix", env.prefix + "b"] + replay + ["--duration", "3"]
env.run(args, timeout=120)
con = sqlite3.connect(live_db)
n2 = con.execute("select count(*) from periods where resolution = 'interval'").fetchone()[0]
con.close()
if n2 <= n1:
    errors.append("restart did not append: %d intervals before, %d after" % (n1, n2))

# SIGHUP reloads the attribution databases.
nets = os.path.join(env.tmp, "nets.csv")
small, _ = env.generate("hup", "--seed", "4", "--packets", "2000", "--write-networks", nets,
                        "--source-networks", nets)
proc = env.start(env.base_args(prefix=env.prefix + "c") + [
    "--config", conf, "--port", "net_pcap0,rx_pcap=" + small, "--link-wait", "0",
    "--interval", "1"] + h.geo_csvs(nets, env.tmp))
h.wait_socket(env.prefix + "c", proc)
before = h.telemetry(env.prefix + "c", "/darkscope/geo")["reloads_ok"]
proc.send_signal(signal.SIGHUP)
deadline = time.time() + 30
after = before
while time.time() < deadline and after == before:
    time.sleep(0.2)
    after = h.telemetry(env.prefix + "c", "/darkscope/geo")["reloads_ok"]
if after != before + 1:
    errors.append("SIGHUP: reloads_ok %d -> %d" % (before, after))
if h.stop(proc) != 0:
    errors.append("SIGHUP run did not exit 0")
h.report(errors)
