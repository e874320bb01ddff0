#!/usr/bin/python3
"""The analyst section of scripts/bench.sh: darkscope --read as an analyst runs it, whole process.

- start-up: from exec to the first packet dealt (darkscope logs it), on a one-packet capture,
  with and without the default databases;
- whole process on a darknet-like capture (bench profile, 60-78 byte frames, two sensors):
  darkscope --read with the default databases and --summary, against `tracereport -p -P -m`
  (libtrace-tools) and `tcpdump -r FILE -w /dev/null` on the same file: wall time and peak
  resident memory of each process;
- --read Mpps with 1 and 2 workers: packets over the time from the first packet dealt to the
  last one counted (both logged by darkscope);
- a long sparse capture (one-minute intervals, most holding a packet or a few) read with --db:
  whole-process time, the cost per stored interval, and the stats core's own time per busy
  interval close (/darkscope/stats_core);
- live, an idle port (net_null without receive) with one-second intervals: the stats core's
  time per empty interval close, once the first closes (page faults) are behind it.
Figures only, no assertion: the machines are shared."""
import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from captures import cached_capture  # noqa: E402  (same directory)
root = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.dirname(here))
import darkscope_client  # noqa: E402  (scripts/)

SENSORS = ["tokyo-a=203.0.113.0/24", "tokyo-b=198.51.100.0/24"]
FIRST_PACKET = re.compile(r"first packet dealt ([0-9.]+) s after exec")
LAST_PACKET = re.compile(r"last packet counted ([0-9.]+) s after exec")


def say(msg):
    print("bench: analyst: " + msg, file=sys.stderr, flush=True)


def run(cmd, cwd=None):
    """Runs cmd; returns (wall seconds, peak RSS MiB, output)."""
    out = tempfile.TemporaryFile(mode="w+")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read()
    if p.returncode != 0:
        sys.stderr.write(text[-3000:])
        raise SystemExit("bench: analyst: %s exited %d" % (" ".join(cmd), p.returncode))
    return wall, usage.ru_maxrss / 1024.0, text


def first_packet_s(text):
    m = FIRST_PACKET.search(text)
    return float(m.group(1)) if m else None


def last_packet_s(text):
    m = LAST_PACKET.search(text)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--darkscope", required=True)
    ap.add_argument("--quick", action="store_true", help="small captures, one run each")
    ap.add_argument("--geo-dir", default="/var/lib/darkscope/geo")
    ap.add_argument("--no-geo", action="store_true", help="never load the databases")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/darkscope-bench"))
    ap.add_argument("--runs", type=int, help="runs of each command [3; quick 1]")
    ap.add_argument("--packets", type=int, help="whole-process capture [1350000; quick 20000]")
    ap.add_argument("--sparse-days", type=int, help="sparse capture's days [90; quick 2]")
    ap.add_argument("--sparse-packets", type=int, help="its packets [1000000; quick 2000]")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    runs = a.runs or (1 if a.quick else 3)
    packets = a.packets or (20000 if a.quick else 1350000)
    sparse_days = a.sparse_days or (2 if a.quick else 90)
    sparse_packets = a.sparse_packets or (2000 if a.quick else 1000000)
    os.makedirs(a.cache, exist_ok=True)
    work = tempfile.mkdtemp(prefix="darkscope-analyst.")
    prefixes = []
    try:
        return measure(a, runs, packets, sparse_days, sparse_packets, work, prefixes)
    finally:
        for p in prefixes:
            shutil.rmtree("/var/run/dpdk/" + p, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def live_idle_closes(a, prefixes, seconds):
    """The stats core's time per empty interval close, live: darkscope on a net_null port that
    receives nothing, --interval 1; the mean over the closes between two readings of
    /darkscope/stats_core taken after the first 5 s (the first closes fault the windows in)."""
    prefix = "dsan_idle_%d" % os.getpid()
    prefixes.append(prefix)
    cmd = [a.darkscope, "--file-prefix", prefix, "--no-huge", "--memory", "1024", "--port",
           "net_null0,no-rx=1", "--sensor", SENSORS[0], "--interval", "1", "--log-level",
           "warning"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def reading():
        d = darkscope_client.query(prefix, "/darkscope/stats_core")
        return {k: (d[k]["closes"], d[k]["closes"] * d[k]["mean_ns"])
                for k in ("close_empty", "flip_wait")}
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(darkscope_client.socket_path(prefix)):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: analyst: idle darkscope did not start: %s" %
                                 (p.stderr.read() if p.poll() is not None else "timeout"))
            time.sleep(0.1)
        time.sleep(5)
        before = reading()
        time.sleep(seconds)
        after = reading()
    finally:
        p.terminate()
        p.wait(timeout=30)

    def mean_us(k):
        n = after[k][0] - before[k][0]
        return (after[k][1] - before[k][1]) / n / 1e3 if n else float("nan")
    return {"closes": after["close_empty"][0] - before["close_empty"][0],
            "close_us": mean_us("close_empty"), "flip_wait_us": mean_us("flip_wait")}


def measure(a, runs, packets, sparse_days, sparse_packets, work, prefixes):
    sensors = sum((["--sensor", s] for s in SENSORS), [])
    one = cached_capture(a.cache, "analyst", "one",
                         ["--profile", "bench", "--packets", "1", "--sources", "1"] + sensors)
    whole = cached_capture(a.cache, "analyst", "whole-%d" % packets,
                           ["--profile", "bench", "--packets", str(packets), "--sources",
                            str(max(1, packets * 17000 // 1350000)), "--frame-size-range",
                            "60-78"] + sensors)
    sparse = cached_capture(a.cache, "analyst", "sparse-%d-%d" % (sparse_packets, sparse_days),
                            ["--profile", "demo", "--packets", str(sparse_packets), "--duration",
                             str(sparse_days * 86400)] + sensors)
    country = os.path.join(a.geo_dir, "geo-whois-asn-country.mmdb")
    asns = [os.path.join(a.geo_dir, f) for f in ("asn-ipv4.csv", "asn-ipv6.csv")]
    geo = []
    if a.no_geo:
        say("databases off")
    elif os.path.exists(country) and os.path.exists(asns[0]):
        geo = ["--geo-country", country] + sum((["--geo-asn", f] for f in asns
                                                if os.path.exists(f)), [])
    else:
        say("no default databases in %s (scripts/fetch-geo.sh): runs without them" % a.geo_dir)
    counter = [0]
    last_counted = [None]  # the last run's "last packet counted" time

    def darkscope(files, extra=()):
        counter[0] += 1
        prefix = "dsan_%d_%d" % (os.getpid(), counter[0])
        prefixes.append(prefix)
        # As a new user runs it, but on 4 KiB pages (any machine): without --memory, offline
        # darkscope asks EAL for what the capture's mbuf pool takes.
        cmd = [a.darkscope, "--file-prefix", prefix, "--no-huge",
               "--log-level", "info", "--interval", "60"] + sensors + list(extra)
        for f in files:
            cmd += ["--read", f]
        wall, rss, text = run(cmd)
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
        last_counted[0] = last_packet_s(text)
        return wall, rss, first_packet_s(text)

    figures = {"runs": runs, "packets": packets, "geo": bool(geo)}

    class Rows(list):
        def append(self, row):  # each figure on stderr as it comes, the table at the end
            say("%s: %s" % row)
            list.append(self, row)

    rows = Rows()
    # Start-up.
    for label, extra in (("with databases", geo), ("without databases", [])):
        if label == "with databases" and not geo:
            continue
        got = [darkscope([one], extra) for _ in range(runs)]
        start = statistics.median(g[2] for g in got if g[2] is not None) if got[0][2] else None
        wall = statistics.median(g[0] for g in got)
        figures["startup_" + label.split()[0]] = {"first_packet_s": start, "wall_s": wall,
                                                  "peak_rss_mib": max(g[1] for g in got)}
        rows.append(("start-up, one-packet capture, " + label,
                     "first packet %s s after exec; whole process %.3f s, peak %.0f MiB" % (
                         "%.3f" % start if start is not None else "?", wall,
                         max(g[1] for g in got))))
    # Whole process on the capture, side by side.
    tools = [("darkscope --read (databases, --summary)",
              lambda: darkscope([whole], geo + ["--summary", os.path.join(work, "s.json")]))]
    tracereport = shutil.which("tracereport")
    if tracereport:
        trdir = os.path.join(work, "tracereport")
        os.makedirs(trdir, exist_ok=True)
        tools.append(("tracereport -p -P -m",
                      lambda: run([tracereport, "-p", "-P", "-m", "pcapfile:" + whole],
                                  cwd=trdir)))
    else:
        rows.append(("tracereport -p -P -m", "not installed (Debian package libtrace-tools)"))
    tcpdump = shutil.which("tcpdump")
    if tcpdump:
        tools.append(("tcpdump -r FILE -w /dev/null",
                      lambda: run([tcpdump, "-r", whole, "-w", "/dev/null"])))
    results = {label: [] for label, _ in tools}
    for _ in range(runs):  # alternating, so the machine's load hits all alike
        for label, fn in tools:
            results[label].append(fn())
    for label, got in results.items():
        wall = statistics.median(g[0] for g in got)
        rss = max(g[1] for g in got)
        figures["whole_" + label.split()[0]] = {"wall_s": wall, "peak_rss_mib": rss}
        rows.append(("%s, %d packets" % (label, packets),
                     "%.3f s wall (median of %d), peak %.0f MiB" % (wall, len(got), rss)))
    # --read Mpps with 1 and 2 workers: packets over the time from the first packet dealt to
    # the last one counted (what follows, the last close, the summary and the exit, is
    # measured whole above).
    for workers in (1, 2):
        extra = geo + ["--workers", str(workers)] + (["--share-cpus"] if workers > 1 else [])
        rates = []
        for _ in range(runs):
            wall, rss, start = darkscope([whole], extra)
            last = last_counted[0]
            if start is not None and last is not None and last > start:
                rates.append(packets / (last - start) / 1e6)
        mpps = statistics.median(rates) if rates else None
        figures["read_mpps_%d_workers" % workers] = mpps
        rows.append(("--read, %d worker%s" % (workers, "s" if workers > 1 else ""),
                     "%s Mpps (first packet dealt to last counted)" % (
                         "%.2f" % mpps if mpps else "?")))
    # The long sparse capture.
    db = os.path.join(work, "sparse.sqlite")
    sparse_summary = os.path.join(work, "sparse.json")
    wall, rss, start = darkscope([sparse], ["--db", db, "--summary", sparse_summary])
    busy_close = darkscope_client.read_summary(sparse_summary)["/darkscope/stats_core"][
        "close_busy"]
    con = sqlite3.connect(db)
    stored = con.execute("select count(*) from periods where resolution = 'interval'").fetchone()[0]
    con.close()
    spanned = sparse_days * 1440
    per = (wall - (start or 0)) / stored * 1e6 if stored else None
    figures["sparse"] = {"days": sparse_days, "packets": sparse_packets, "wall_s": wall,
                         "intervals_spanned": spanned, "intervals_stored": stored,
                         "us_per_busy_interval": per, "peak_rss_mib": rss,
                         "stats_core_us_per_busy_close": busy_close["mean_ns"] / 1e3}
    rows.append(("sparse: %d packets over %d days (%d one-minute intervals), --db" % (
        sparse_packets, sparse_days, spanned),
        "%.2f s whole process, %d intervals stored, %s us per busy interval (packets included), "
        "%.0f us of it the stats core's close; empty intervals are skipped offline" % (
            wall, stored, "%.0f" % per if per else "?", busy_close["mean_ns"] / 1e3)))
    # Live, empty intervals: an idle port, one-second intervals.
    idle = live_idle_closes(a, prefixes, 5 if a.quick else 30)
    figures["live_empty_close"] = idle
    rows.append(("live, idle port, 1 s intervals (%d closes after the first 5 s)" % idle["closes"],
                 "%.0f us per empty interval close (stats core), %.0f us waiting for the flip" % (
                     idle["close_us"], idle["flip_wait_us"])))
    width = max(len(r[0]) for r in rows)
    print("\nanalyst (darkscope --read, whole process; figures, not assertions)")
    for label, value in rows:
        print("  %-*s  %s" % (width, label, value))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
