#!/usr/bin/python3
"""Steady-state receive rate of a running DPDK process, read over its telemetry socket.

    rate.py --prefix P --pid PID --kind darkscope|testpmd [--warmup S] [--duration S]
            [--threads N]

Waits until the process answers and has received packets (start-up, capture preload and
database loading excluded), waits --warmup seconds, then samples the packet counter (the sum
over every port), the polling threads' CPU time and the load twice, --duration apart. Prints
one JSON object: packets, seconds, mpps, worker_cpu_share (CPU time the N busiest threads got
/ wall time / N: below ~0.95 means something else ran on the workers' CPUs and the figure is
low), mpps_per_cpu (packets per CPU-second of those threads: what the cores do when they have
their CPUs to themselves), loadavg, and memory (DPDK heap, mempools, VmRSS/VmHWM/HugetlbPages
of the process).
Standard library only, and scripts/darkscope_client.py.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))
from darkscope_client import TelemetryError, query  # noqa: E402  (in scripts/)


def received(prefix, kind):
    """Packets the poll-mode driver handed to the worker: the ethdev rx counters of every port.

    The same counter for both applications; darkscope's /darkscope/workers counters would do
    too, but the status they come from is refreshed once per merged interval only."""
    del kind
    total = 0
    for port in query(prefix, "/ethdev/list") or []:
        stats = query(prefix, f"/ethdev/stats,{port}")
        if not isinstance(stats, dict):
            return None
        total += int(stats["ipackets"])
    return total


def threads(pid):
    """{tid: (name, cpu seconds)} of every thread of pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def proc_status(pid):
    keep = ("VmRSS", "VmHWM", "HugetlbPages", "VmSize")
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keep:
                out[key + "_kB"] = int(value.split()[0])
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def memory(prefix, pid):
    mem = {"process": proc_status(pid)}
    try:
        heaps = query(prefix, "/eal/heap_list") or []
        mem["heaps"] = [query(prefix, f"/eal/heap_info,{h}") for h in heaps]
        pools = query(prefix, "/mempool/list") or []
        mem["mempools"] = {p: query(prefix, f"/mempool/info,{p}") for p in pools}
    except TelemetryError as e:
        mem["error"] = str(e)
    return mem


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefix", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--kind", choices=("darkscope", "testpmd"), required=True)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--start-timeout", type=float, default=300.0)
    p.add_argument("--min-packets", type=int, default=0,
                   help="running once the counter passes this: give the capture's packet count "
                        "(net_pcap infinite_rx counts its preload in ipackets, then resets it)")
    p.add_argument("--threads", type=int, default=1,
                   help="polling threads (workers, forwarding cores): their CPU time is summed")
    args = p.parse_args()
    if args.threads < 1:
        p.error(f"--threads {args.threads}: must be 1 or more")

    deadline = time.monotonic() + args.start_timeout
    started = time.monotonic()
    while True:
        if not os.path.exists(f"/proc/{args.pid}"):
            sys.exit(f"rate.py: process {args.pid} exited before it received packets")
        try:
            n = received(args.prefix, args.kind)
            if n and n > args.min_packets:
                break
        except (TelemetryError, ValueError, KeyError, AttributeError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"rate.py: no packets from {args.prefix} within {args.start_timeout:g} s")
        time.sleep(0.1)
    startup_s = time.monotonic() - started
    time.sleep(args.warmup)

    def sample():
        t = time.monotonic()
        n = received(args.prefix, args.kind)
        return t, n, threads(args.pid)

    t0, n0, th0 = sample()
    load0 = loadavg()
    time.sleep(args.duration)
    t1, n1, th1 = sample()
    load1 = loadavg()
    seconds = t1 - t0
    # The polling threads are the --threads that burnt the most CPU in the window (their names
    # depend on the application: rte-worker-N for both EAL applications here).
    used = sorted(((c1 - th0.get(tid, (name, 0.0))[1], name) for tid, (name, c1) in th1.items()),
                  reverse=True)[:args.threads]
    cpu = sum(u for u, _ in used)
    busiest = ",".join(name for _, name in used) if used else None
    packets = n1 - n0
    result = {
        "kind": args.kind,
        "packets": packets,
        "seconds": round(seconds, 4),
        "mpps": packets / seconds / 1e6,
        "worker_thread": busiest,
        "worker_cpu_share": round(cpu / seconds / args.threads, 3),
        "mpps_per_cpu": packets / cpu / 1e6 if cpu > 0 else None,
        "loadavg": [load0, load1],
        "startup_s": round(startup_s, 2),
        "memory": memory(args.prefix, args.pid),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
