#!/usr/bin/python3
"""No loss at the offered rate, on a ladder of rates: darkscope fed over net_memif by a paced
DPDK generator (tests/tools/ds_paced_gen), one fresh pair of processes per rate.

    scripts/bench/offered_rate.py [--rates 0.25,0.5,1,2,4] [--seconds 4] [--mode drop|retry]
                                  [--darkscope PATH] [--gen PATH] [--geo] [--json FILE] ...

For each rate (Mpps) the generator sends a looped capture for about --seconds, paced on the TSC
in bursts of 32, into the memif ring darkscope polls (darkscope: one worker, every feature, the
core plan's CPUs; the generator on a CPU no worker polls, on 2 CPUs the stats core's). Then,
once darkscope has counted what it received, one row:

  offered   packets the generator tried to send at the target rate
  received  darkscope's port ipackets
  missed    packets that found the ring full: --mode drop (default) drops them, as a NIC's full
            rx ring would (the generator's tx_failed), plus the port's imissed (always 0 on memif)
  counted   darkscope's /darkscope/stats packets
  loss%     (offered - counted) / offered

"achieved" is the rate the generator really offered: it restarts its schedule rather than send a
catch-up burst when it was kept off its CPU (on 2 CPUs it shares one with darkscope's stats core,
whose merges every --interval take a slice; --gen-nice -10, the default as root, puts it ahead).
The memif ring (the receiver's rx ring) has 2^--rsize slots.

--mode retry retries a full ring instead (nothing is lost, the sender slows down): the table then
shows the rate actually achieved, and "sustained" means within 2% of the target. The result line
names the highest rate with zero loss. Nothing is asserted: on a shared machine the figures move
with the load (printed per row, with the CPU share darkscope's worker got).

Standard library only; the capture comes from scripts/darkscope-gen (--profile bench by default,
cached under ~/.cache/darkscope-bench/) unless --capture is given.
"""

import argparse
import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from darkscope_client import query  # noqa: E402  (in scripts/)
from rate import loadavg, threads  # noqa: E402  (same directory)


def say(msg):
    print("offered_rate: " + msg, file=sys.stderr, flush=True)


def die(msg):
    say(msg)
    sys.exit(1)  # the work directory (generator and darkscope logs) stays for a look


def find_binary(explicit, relative):
    if explicit:
        return explicit
    return os.path.join(ROOT, "build", relative)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="0.25,0.5,1,2,4", help="Mpps, comma list [%(default)s]")
    p.add_argument("--seconds", type=float, default=4.0,
                   help="traffic per rate, seconds [%(default)s]")
    p.add_argument("--interval", type=int, default=1,
                   help="darkscope's merge interval, seconds [%(default)s]")
    p.add_argument("--gen-nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                   help="nice increment of the generator: negative puts it ahead of darkscope's "
                   "stats core on the CPU they share, so merges delay the traffic less "
                   "[%(default)s]")
    p.add_argument("--runs", type=int, default=1, help="runs per rate [%(default)s]")
    p.add_argument("--mode", choices=("drop", "retry"), default="drop",
                   help="a full memif ring drops (like a NIC) or holds the sender back")
    p.add_argument("--darkscope", help="darkscope binary [build/app/darkscope/darkscope]")
    p.add_argument("--gen", help="ds_paced_gen binary [build/tests/tools/ds_paced_gen]")
    p.add_argument("--capture", help="pcap to loop (Ethernet); default: a generated one")
    p.add_argument("--packets", type=int, default=200000, help="generated capture [%(default)s]")
    p.add_argument("--profile", default="bench", help="generator profile [%(default)s]")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--burst", type=int, default=32, help="generator tx burst [%(default)s]")
    p.add_argument("--rsize", type=int, default=10,
                   help="memif ring size, log2 (the receiver's ring: 10 = 1024) [%(default)s]")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds between darkscope's first poll and the traffic [%(default)s]")
    p.add_argument("--geo", action="store_true",
                   help="load the default country/ASN databases from --geo-dir")
    p.add_argument("--geo-dir", default="/var/lib/darkscope/geo")
    p.add_argument("--json", help="also write every row as JSON here")
    return p.parse_args()


def main():
    args = parse_args()
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        die("--rates: want Mpps numbers, comma separated, e.g. 0.25,0.5,1")
    if not rates or min(rates) <= 0:
        die("--rates: want positive Mpps numbers")
    darkscope = find_binary(args.darkscope, "app/darkscope/darkscope")
    gen = find_binary(args.gen, "tests/tools/ds_paced_gen")
    if not darkscope or not os.access(darkscope, os.X_OK):
        die("no darkscope binary (build it, or --darkscope PATH)")
    if not gen or not os.access(gen, os.X_OK):
        die("no ds_paced_gen binary (ninja -C build tests/tools/ds_paced_gen, or --gen PATH)")
    conf = os.path.join(ROOT, "conf", "demo.conf")

    work = tempfile.mkdtemp(prefix="ds-offered-")
    capture = args.capture
    if not capture:
        cache = os.path.join(os.path.expanduser("~"), ".cache", "darkscope-bench")
        os.makedirs(cache, exist_ok=True)
        capture = os.path.join(cache, "offered-%s-%d-%d.pcap" % (args.profile, args.packets,
                                                                 args.seed))
        if not os.path.exists(capture):
            say("generating %s (%d packets, profile %s)" % (capture, args.packets, args.profile))
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "darkscope-gen"),
                            "--profile", args.profile, "--seed", str(args.seed), "--packets",
                            str(args.packets), "--out", capture + ".tmp", "--quiet"], check=True)
            os.rename(capture + ".tmp", capture)
    packets = args.packets
    if args.capture:  # the generator reads pcap and pcapng; capinfos counts either
        packets = int(subprocess.run(["capinfos", "-T", "-r", "-c", capture], check=True,
                                     capture_output=True, text=True).stdout.split("\t")[1])

    geo_args, tables_mb = [], 768
    if args.geo:
        country = os.path.join(args.geo_dir, "geo-whois-asn-country.mmdb")
        asn4 = os.path.join(args.geo_dir, "asn-ipv4.csv")
        asn6 = os.path.join(args.geo_dir, "asn-ipv6.csv")
        if not (os.path.exists(country) and os.path.exists(asn4)):
            die("no databases in %s (scripts/fetch-geo.sh)" % args.geo_dir)
        geo_args = ["--geo-country", country, "--geo-asn", asn4]
        if os.path.exists(asn6):
            geo_args += ["--geo-asn", asn6]
        tables_mb = 1792

    sock = os.path.join(work, "memif.sock")
    port_spec = "net_memif0,role=client,socket=%s,socket-abstract=no,rsize=%d" % (sock,
                                                                                 args.rsize)
    # CPUs from darkscope's own plan; the generator on a CPU no worker polls.
    plan = subprocess.run([darkscope, "--config", conf, "--port", port_spec, "--plan"],
                          capture_output=True, text=True)
    share = []
    if plan.returncode != 0:
        share = ["--share-cpus"]
        plan = subprocess.run([darkscope, "--config", conf, "--port", port_spec, "--plan"] +
                              share, capture_output=True, text=True, check=True)
    roles = {}
    for line in plan.stdout.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1].isdigit() and f[2].isdigit():
            roles[f[0]] = int(f[2])
    workers = {c for r, c in roles.items() if r.startswith("worker")}
    allowed = sorted(os.sched_getaffinity(0))
    free = [c for c in allowed if c not in workers] or allowed
    gen_cpu = free[0]
    say("capture %s (%d packets); darkscope plan %s%s; generator on CPU %d; mode %s; geo %s" % (
        capture, packets, roles, " (shared CPUs)" if share else "", gen_cpu, args.mode,
        "on" if geo_args else "off"))

    rows = []
    step = 0
    for mpps in rates:
        for run in range(1, args.runs + 1):
            row = run_rate(args, step, mpps, packets, capture, gen, gen_cpu, darkscope, conf,
                           port_spec, sock, share, geo_args, tables_mb)
            row["run"] = run
            step += 1
            rows.append(row)
            say("%.3f Mpps run %d: %s" % (mpps, run, json.dumps(row)))

    retry = args.mode == "retry"
    print("%-10s %3s %8s %11s %11s %9s %11s %7s %5s %5s" % (
        "target", "run", "achieved", "offered", "received", "missed", "counted", "loss%",
        "w.cpu", "load"))
    ok_by_rate = {}
    for r in rows:
        cpu = r["worker_cpu_share"]
        print("%-10s %3d %8.3f %11d %11d %9d %11d %7.3f %5s %5.2f" % (
            "%.3g Mpps" % r["target_mpps"], r["run"], r["achieved_mpps"], r["offered"],
            r["received"], r["missed"], r["counted"], r["loss_pct"],
            "%.2f" % cpu if cpu is not None else "-", r["load"]))
        ok = r["counted"] == r["offered"] and r["missed"] == 0 and r["offered"] > 0
        if retry:
            ok = ok and r["achieved_mpps"] >= 0.98 * r["target_mpps"]
        ok_by_rate[r["target_mpps"]] = ok_by_rate.get(r["target_mpps"], True) and ok
    best = max((m for m, ok in ok_by_rate.items() if ok), default=None)
    print("(achieved: Mpps the generator offered, below target when its CPU was taken from it; "
          "w.cpu: CPU share darkscope's worker got while the traffic ran, below ~0.95 = shared)")
    what = ("highest rate sustained (achieved within 2%%, every packet counted)" if retry
            else "highest rate with zero loss") + (" in every run" if args.runs > 1 else "")
    if best is None:
        print("%s: none of the ladder" % what)
    else:
        print("%s: %.3g Mpps (%s mode, memif ring 2^%d, burst %d)" % (
            what, best, args.mode, args.rsize, args.burst))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mode": args.mode, "capture": capture, "packets": packets,
                       "plan": roles, "generator_cpu": gen_cpu, "geo": bool(geo_args),
                       "rows": rows, "highest_zero_loss_mpps": best}, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)  # kept (logs) only when a run died


def run_rate(args, i, mpps, packets, capture, gen, gen_cpu, darkscope, conf, port_spec, sock,
             share, geo_args, tables_mb):
    pps = mpps * 1e6
    loops = max(1, math.ceil(pps * args.seconds / packets))
    prefix = "dsor%d_%d" % (os.getpid(), i)
    gen_err = os.path.join(os.path.dirname(sock), "gen%d.err" % i)
    gen_cmd = [gen, "--pcap", capture, "--socket", sock, "--rate", "%.0f" % pps,
               "--loops", str(loops), "--burst", str(args.burst), "--lcore", str(gen_cpu),
               "--file-prefix", prefix + "gen", "--link-timeout", "120", "--stall-timeout", "30",
               "--linger", "600", "--delay", str(args.warmup)]
    if args.mode == "drop":
        gen_cmd.append("--drop")
    g = d = None
    try:
        with open(gen_err, "w") as err:
            g = subprocess.Popen(gen_cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                 preexec_fn=(lambda: os.nice(args.gen_nice)) if args.gen_nice
                                 else None)
        deadline = time.time() + 60
        while "ds_paced_gen: ready" not in open(gen_err).read():
            if g.poll() is not None or time.time() > deadline:
                die("ds_paced_gen did not start:\n" + open(gen_err).read())
            time.sleep(0.1)
        d_log = open(os.path.join(os.path.dirname(sock), "darkscope%d.log" % i), "w")
        d = subprocess.Popen([darkscope, "--config", conf, "--file-prefix", prefix,
                              "--no-huge", "--memory", str(tables_mb), "--mbufs", "8191",
                              "--log-level", "warning", "--interval", str(args.interval),
                              "--link-wait", "10",
                              "--port", port_spec] + share + geo_args,
                             stdout=d_log, stderr=subprocess.STDOUT)
        # The generator's JSON line comes once it has sent everything; meanwhile, darkscope's
        # worker CPU time over the sending window.
        t0, cpu0 = None, None
        line = ""
        deadline = time.time() + args.seconds * 20 + 180
        while not line:
            if d.poll() is not None:
                die("darkscope exited %d (see %s)" % (d.returncode, d_log.name))
            if time.time() > deadline:
                die("no result from ds_paced_gen:\n" + open(gen_err).read())
            if t0 is None and "link up" in open(gen_err).read():
                t0, cpu0 = time.time(), threads(d.pid)
            ready, _, _ = select.select([g.stdout], [], [], 0.2)
            if ready:
                line = g.stdout.readline()
                if not line:
                    die("ds_paced_gen exited without a result:\n" + open(gen_err).read())
        t1, cpu1 = time.time(), threads(d.pid)
        res = json.loads(line)
        # Counted: darkscope's merged totals catch up within an interval or two.
        stats, port = {}, {}
        deadline = time.time() + 30
        while time.time() < deadline:
            port = query(prefix, "/ethdev/stats,0") or {}
            stats = query(prefix, "/darkscope/stats") or {}
            if port.get("ipackets") == res["offered"] and stats.get("packets") == res["offered"]:
                break
            time.sleep(0.5)
        share_cpu = None
        if cpu0 and t0:
            used = max((cpu1.get(t, ("", 0))[1] - c for t, (_, c) in cpu0.items()), default=0)
            share_cpu = round(used / (t1 - t0), 3)
        attempted = res["offered"] + res["tx_failed"]
        counted = stats.get("packets", 0)
        seconds = res["seconds"] or 1e-9
        return {
            "target_mpps": mpps,
            "achieved_mpps": round(attempted / seconds / 1e6, 4),
            "offered": attempted,
            "accepted": res["offered"],
            "received": port.get("ipackets", 0),
            "missed": res["tx_failed"] + port.get("imissed", 0),
            "counted": counted,
            "loss_pct": round(100.0 * (attempted - counted) / attempted, 3) if attempted else 0,
            "seconds": res["seconds"],
            "late": res.get("late"),
            "worker_cpu_share": share_cpu,
            "load": loadavg(),
        }
    finally:
        # Receiver first: the generator keeps the ring's memory until the client leaves.
        for p in (d, g):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.path.lexists(sock):
            os.unlink(sock)
        for pre in (prefix, prefix + "gen"):  # DPDK leaves its runtime directory behind
            shutil.rmtree(os.path.join("/var/run/dpdk", pre), ignore_errors=True)


if __name__ == "__main__":
    main()
