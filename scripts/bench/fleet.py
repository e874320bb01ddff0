#!/usr/bin/python3
"""The fleet section of scripts/bench.sh: the ClickHouse export (docs/fleet.md), measured.

On the benchmark capture (bench profile: scanners from a million sources over one minute), with a
ClickHouse server of its own on loopback ports in a temporary directory:

- the spool: darkscope --read with the export pointed at a closed port, so every interval stays
  in the spool: rows per interval (tuples, totals, events) and the spool's bytes per million
  tuples, with tuples and with --fleet-tuples off;
- delivery: a second run on that spool (and a one-packet capture) with ClickHouse reachable
  delivers the backlog; tuples per second = the spool's tuples over its wall time less that of
  the same run on an empty spool. Also what ClickHouse keeps on disk per tuple (compressed);
- the workers' --read Mpps with the export off, on (delivering to the server) and on with the
  server unreachable (spooling only: darkscope's own share, without the server's CPU on this
  machine), alternating in the same run: packets over the time from the first packet dealt to
  the last one counted (darkscope logs both). The capture is read three times, as three files
  shifted by one and two minutes (in /dev/shm), with --interval 60: the first two minutes
  close, and are exported, while the next ones are read;
- live, the worker's receive rate on a net_pcap replay (infinite_rx) of the capture's first
  200,000 packets, export off, on and spooling only, alternating, with 5 s intervals: the
  worker polls on its own CPU while the stats core, the exporter and ClickHouse share the
  other, which is how an appliance runs (scripts/bench/rate.py samples the rate).
Figures only, no assertion: the machines are shared."""
import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from captures import cached_capture  # noqa: E402  (same directory)
root = os.path.dirname(os.path.dirname(here))
fleet_tool = os.path.join(root, "scripts", "darkscope-fleet")
sys.path.insert(0, os.path.join(root, "tests", "integration"))
import clickhouse_cluster as chc  # noqa: E402  (the fleet tests' throw-away servers)

py = "/usr/bin/python3"
SENSORS = ["tokyo-a=203.0.113.0/24", "tokyo-b=198.51.100.0/24",
           "osaka=192.0.2.0/24,2001:db8:d::/48"]
FIRST = re.compile(r"first packet dealt ([0-9.]+) s after exec")
LAST = re.compile(r"last packet counted ([0-9.]+) s after exec")
CLOSED_PORT = "http://127.0.0.1:1/?database=darkscope"


def say(msg):
    print("bench: fleet: " + msg, file=sys.stderr, flush=True)


def spool_contents(spool):
    """(bytes, intervals, {table: rows}) of the interval files in a spool directory."""
    size, intervals, rows = 0, 0, {}
    for name in os.listdir(spool):
        if not name.endswith(".interval"):
            continue
        path = os.path.join(spool, name)
        size += os.path.getsize(path)
        intervals += 1
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"table\t"):
                    parts = line.rstrip(b"\n").split(b"\t")
                    table = parts[1].decode()
                    rows[table] = rows.get(table, 0) + int(parts[-1])
    return size, intervals, rows


def shifted_copy(src, dst, seconds):
    """A classic pcap with every timestamp `seconds` later (either byte order)."""
    with open(src, "rb") as f:
        data = bytearray(f.read())
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    ts, length = struct.Struct(order + "I"), struct.Struct(order + "I")
    pos = 24
    while pos + 16 <= len(data):
        ts.pack_into(data, pos, ts.unpack_from(data, pos)[0] + seconds)
        pos += 16 + length.unpack_from(data, pos + 8)[0]
    with open(dst, "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--darkscope", required=True)
    ap.add_argument("--capture", help="the benchmark capture [generated: the bench profile, "
                    "1600000 packets from 1000000 sources; quick 20000 from 10000]")
    ap.add_argument("--quick", action="store_true", help="small capture, one round")
    ap.add_argument("--runs", type=int, help="alternating export off/on rounds [3; quick 1]")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/darkscope-bench"))
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    if not chc.available():
        say("clickhouse-server is not installed (scripts/setup.sh installs it): skipped")
        return 0
    os.makedirs(a.cache, exist_ok=True)
    runs = a.runs or (1 if a.quick else 3)
    work = tempfile.mkdtemp(prefix="darkscope-fleet-bench.")
    prefixes = []
    cluster = None
    try:
        cluster = chc.Cluster(os.path.join(work, "clickhouse"), shards=1).start()
        return measure(a, runs, work, cluster.servers[0], prefixes)
    finally:
        for i in range(3):
            try:
                os.remove("/dev/shm/darkscope-fleet-bench-%d-%d.pcap" % (os.getpid(), i))
            except OSError:
                pass
        if cluster:
            cluster.stop()
        for p in prefixes:
            shutil.rmtree("/var/run/dpdk/" + p, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def live_rounds(a, runs, url, work, prefixes, sensors, capture):
    """{mode: [Mpps per round]}: darkscope live on a net_pcap infinite_rx replay of the first
    200,000 packets of the capture (the replay preloads them into mbufs), its receive rate read
    by scripts/bench/rate.py after a warm-up."""
    part = os.path.join(work, "live.pcap")
    subprocess.run(["editcap", "-r", capture, part, "1-200000"], check=True,
                   stdout=subprocess.DEVNULL)
    duration, warmup = (4, 2) if a.quick else (12, 4)
    rates = {"off": [], "on": [], "spool": []}
    for r in range(runs):
        for mode in ("off", "on", "spool"):
            prefix = "dsfl_live_%d_%s_%d" % (os.getpid(), mode, r)
            prefixes.append(prefix)
            # The replay keeps its packets in the pool: room for 200,000 and the receive rings.
            cmd = [a.darkscope, "--file-prefix", prefix, "--no-huge", "--memory", "3072",
                   "--mbufs", "262143", "--log-level", "warning", "--interval", "5", "--port",
                   "net_pcap0,rx_pcap=%s,infinite_rx=1" % part] + sensors
            if mode != "off":
                cmd += ["--appliance", "bench-live-%d" % r, "--fleet-url",
                        url if mode == "on" else CLOSED_PORT, "--fleet-spool",
                        os.path.join(work, "spool-live-%s-%d" % (mode, r)),
                        "--fleet-spool-quota-mb", "2048"]
            log = open(os.path.join(work, prefix + ".log"), "w")
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            try:
                out = subprocess.run(
                    [py, os.path.join(here, "rate.py"), "--prefix", prefix, "--pid",
                     str(p.pid), "--kind", "darkscope", "--warmup", str(warmup), "--duration",
                     str(duration), "--threads", "1", "--start-timeout", "60"],
                    stdout=subprocess.PIPE, text=True)
                if out.returncode == 0:
                    rates[mode].append(json.loads(out.stdout)["mpps"])
                else:
                    with open(log.name) as f:
                        say("live round %s failed: %s" % (mode, f.read()[-600:]))
            finally:
                p.terminate()
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                log.close()
            shutil.rmtree(os.path.join(work, "spool-live-%s-%d" % (mode, r)),
                          ignore_errors=True)
            shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    return rates


def measure(a, runs, work, server, prefixes):
    url = server.url + "?database=darkscope"
    subprocess.run([py, fleet_tool, "init", "--cluster", chc.CLUSTER, "--url", url],
                   check=True, stdout=subprocess.DEVNULL)
    sensors = sum((["--sensor", s] for s in SENSORS), [])
    capture = a.capture
    if not capture:
        packets, sources = (20000, 10000) if a.quick else (1600000, 1000000)
        capture = cached_capture(a.cache, "fleet", "bench-p%d-s%d" % (packets, sources),
                                 ["--profile", "bench", "--packets", str(packets), "--sources",
                                  str(sources)])
    one = cached_capture(a.cache, "fleet", "one",
                         ["--profile", "bench", "--packets", "1", "--sources", "1", "--start",
                          "1363050000"])
    counter = [0]

    def darkscope(files, extra):
        """(wall s, first packet s, last packet s, log) of one --read run."""
        counter[0] += 1
        prefix = "dsfl_%d_%d" % (os.getpid(), counter[0])
        prefixes.append(prefix)
        cmd = [a.darkscope, "--file-prefix", prefix, "--no-huge", "--memory", "2048",
               "--log-level", "info"] + sensors + list(extra)
        for f in files:
            cmd += ["--read", f]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.monotonic() - t0
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-3000:])
            raise SystemExit("bench: fleet: darkscope exited %d" % p.returncode)
        first, last = FIRST.search(p.stdout), LAST.search(p.stdout)
        return (wall, float(first.group(1)) if first else None,
                float(last.group(1)) if last else None, p.stdout)

    def stats_of(summary):
        with open(summary) as f:
            return json.load(f)["/darkscope/stats"]

    figures = {"capture": capture, "runs": runs}
    rows = []

    # The spool, with and without tuples: the export pointed at a closed port.
    spools = {}
    for mode in ("on", "off"):
        spool = os.path.join(work, "spool-" + mode)
        summary = os.path.join(work, "spool-%s.json" % mode)
        darkscope([capture], ["--interval", "60", "--appliance", "bench-spool-" + mode,
                              "--fleet-url", CLOSED_PORT, "--fleet-spool", spool,
                              "--fleet-tuples", mode, "--summary", summary])
        size, intervals, table_rows = spool_contents(spool)
        stats = stats_of(summary)
        packets, spills = int(stats["packets"]), int(stats.get("source_spills", 0))
        spools[mode] = (spool, size, intervals, table_rows)
        tuples = table_rows.get("tuples", 0)
        f = {"packets": packets, "source_spills": spills, "intervals": intervals, "spool_bytes": size,
             "rows": table_rows,
             "rows_per_interval": {t: n / intervals for t, n in table_rows.items()}
             if intervals else {},
             "spool_bytes_per_interval": size / intervals if intervals else None,
             "spool_bytes_per_million_tuples": size / tuples * 1e6 if tuples else None}
        figures["spool_tuples_" + mode] = f
        per = ", ".join("%s %.0f" % (t, n) for t, n in sorted(f["rows_per_interval"].items()))
        rows.append(("spool, --fleet-tuples %s, --interval 60" % mode,
                     "%d packets (%d spilled), %d intervals; rows per interval: %s; %.1f MB "
                     "spooled%s" % (packets, spills, intervals, per, size / 1e6,
                         ", %.0f MB per million tuples" % (size / tuples) if tuples else "")))

    # Delivery of the spool with tuples: the backlog run less the same run on an empty spool.
    def one_run(appliance, spool):
        return darkscope([one], ["--interval", "60", "--appliance", appliance, "--fleet-url", url,
                                 "--fleet-spool", spool])[0]
    base = one_run("bench-empty", os.path.join(work, "spool-empty"))
    spool, size, intervals, table_rows = spools["on"]
    backlog = one_run("bench-spool-on", spool)
    left = spool_contents(spool)[1]
    # (Less the one-packet capture's own interval.)
    delivered = server.rows("SELECT sum(tuples), count() FROM darkscope.intervals WHERE "
                            "appliance = 'bench-spool-on' AND interval_start < "
                            "toDateTime(1363050000)")[0]
    tuples, all_rows = table_rows.get("tuples", 0), sum(table_rows.values())
    seconds = max(backlog - base, 1e-3)
    on_disk = server.rows(
        "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM "
        "system.parts WHERE database = 'darkscope' AND table = 'tuples_local' AND active")[0]
    figures["delivery"] = {
        "tuples": tuples, "rows": all_rows, "seconds": seconds, "base_run_s": base,
        "backlog_run_s": backlog, "tuples_per_s": tuples / seconds, "rows_per_s":
        all_rows / seconds, "left_in_spool": left, "clickhouse_tuples": int(delivered[0]),
        "tuple_rows_on_disk": int(on_disk[0]),
        "compressed_bytes_per_tuple": int(on_disk[1]) / int(on_disk[0]) if int(on_disk[0])
        else None,
        "uncompressed_bytes_per_tuple": int(on_disk[2]) / int(on_disk[0]) if int(on_disk[0])
        else None}
    d = figures["delivery"]
    rows.append(("delivery of that spool to ClickHouse (loopback)",
                 "%d tuples, %d rows in %.2f s: %.0f tuples/s, %.0f rows/s (%d intervals left "
                 "in the spool; ClickHouse has %d tuples)" % (
                     tuples, all_rows, seconds, d["tuples_per_s"], d["rows_per_s"], left,
                     d["clickhouse_tuples"])))
    if d["compressed_bytes_per_tuple"]:
        rows.append(("ClickHouse's tuples table on disk",
                     "%.1f bytes per tuple compressed (%.1f uncompressed)" % (
                         d["compressed_bytes_per_tuple"], d["uncompressed_bytes_per_tuple"])))

    # The workers' Mpps, export off and on, alternating, on three minutes of traffic.
    minutes = []
    for i in range(3):
        minutes.append("/dev/shm/darkscope-fleet-bench-%d-%d.pcap" % (os.getpid(), i))
        shifted_copy(capture, minutes[-1], 60 * i)
    rates = {"off": [], "on": [], "spool": []}
    tails = []
    for r in range(runs):
        for mode in ("off", "on", "spool"):
            summary = os.path.join(work, "mpps.json")
            extra = ["--interval", "60", "--summary", summary]
            if mode != "off":
                spool = os.path.join(work, "spool-mpps-%s-%d" % (mode, r))
                extra += ["--appliance", "bench-mpps-%d" % r, "--fleet-url",
                          url if mode == "on" else CLOSED_PORT, "--fleet-spool", spool]
            wall, first, last, _ = darkscope(minutes, extra)
            packets = int(stats_of(summary)["packets"])
            if first is not None and last is not None and last > first:
                rates[mode].append(packets / (last - first) / 1e6)
            if mode == "on" and last is not None:
                tails.append(wall - last)
            if mode == "spool":
                shutil.rmtree(spool, ignore_errors=True)
    med = {m: statistics.median(v) if v else None for m, v in rates.items()}
    figures["read_mpps"] = {"export_off": rates["off"], "export_on": rates["on"],
                            "export_spool_only": rates["spool"],
                            "median_off": med["off"], "median_on": med["on"],
                            "median_spool_only": med["spool"],
                            "exit_after_last_packet_s_export_on": tails}
    fmt = lambda x: "%.2f" % x if x else "?"
    ratio = lambda m: "%.2f" % (med[m] / med["off"]) if med[m] and med["off"] else "?"
    for m in minutes:
        os.remove(m)
    rows.append(("--read Mpps, 3 minutes, export off / on / spool only",
                 "%s / %s / %s (median of %d alternating rounds; on/off %s, spool only/off %s)"
                 % (fmt(med["off"]), fmt(med["on"]), fmt(med["spool"]), runs, ratio("on"),
                    ratio("spool"))))

    # Live: the worker's receive rate on a net_pcap replay (infinite_rx), export off, on
    # (delivering) and spooling only, alternating; 5 s intervals, so intervals close and are
    # exported while the rate is sampled. The worker polls on its own CPU; the stats core, the
    # exporter and ClickHouse share the other one.
    live = live_rounds(a, runs, url, work, prefixes, sensors, capture)
    figures["live_mpps"] = live
    lmed = {m: statistics.median(v) if v else None for m, v in live.items()}
    lratio = lambda m: "%.2f" % (lmed[m] / lmed["off"]) if lmed[m] and lmed["off"] else "?"
    rows.append(("live Mpps (net_pcap replay), export off / on / spool only",
                 "%s / %s / %s (median of %d alternating rounds; on/off %s, spool only/off %s)"
                 % (fmt(lmed["off"]), fmt(lmed["on"]), fmt(lmed["spool"]), runs, lratio("on"),
                    lratio("spool"))))

    width = max(len(r[0]) for r in rows)
    print("\nfleet (ClickHouse export, one server on loopback; figures, not assertions)")
    for label, value in rows:
        print("  %-*s  %s" % (width, label, value))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
