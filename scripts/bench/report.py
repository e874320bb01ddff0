#!/usr/bin/python3
"""The table of scripts/bench.sh, from its measurements (one JSON object per line).

    report.py --machine machine.json --results results.jsonl [--json OUT]

Rows: testpmd rxonly (DPDK's floor) and darkscope with every feature, each as Mpps median, min
and max over the rounds, ns per packet at the median, the CPU share the polling thread got and
Mpps per CPU-second; the darkscope/testpmd ratio (median of the per-round ratios: each round ran
both back to back, so slow phases of a shared machine hit both); the cost by pipeline stage; the
offline rate; memory; the line-rate goals and the cores they imply.
"""

import argparse
import json
import math
import statistics
import sys

LINE_RATES = (("10GbE", 14.88), ("40GbE", 59.52), ("100GbE", 148.8))
GOAL_MPPS = 14.88
GOAL_RATIO = 0.25
STAGES = ("decode", "classify", "attribute", "count", "full")
STAGE_MEANING = {
    "decode": "rx + decode",
    "classify": "+ classify and sensor match",
    "attribute": "+ country and ASN lookup",
    "count": "+ counting (every dimension)",
    "full": "+ unique counting and top talkers",
}


def stats_of(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def fmt(x, spec="7.3f"):
    return format(x, spec) if x is not None else "-".rjust(len(format(0.0, spec)))


def mib(n):
    return f"{n / 2**20:8.1f} MiB"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machine", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--json")
    args = p.parse_args()
    machine = json.load(open(args.machine))
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    by_label = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)

    summary = {"machine": machine, "live": {}, "stages": {}, "offline": None, "memory": {}}
    out = []
    w = out.append
    w("")
    w("darkscope benchmark")
    w(f"  machine  {machine['cpu']}, {machine['cpus']} CPUs ({machine['threads_per_core']} "
      f"thread/core), L3 {machine['l3']}"
      + (f", {machine['hypervisor']} guest" if machine.get("hypervisor") else ""))
    w(f"           kernel {machine['kernel']}, DPDK {machine['dpdk']}, {machine['darkscope']}"
      + (f" (commit {machine['commit']})" if machine.get("commit") else ""))
    w(f"  capture  {machine['capture_packets']} packets, {machine['capture_sources']} distinct "
      f"sources: {machine['capture']}")
    w(f"  replay   net_pcap infinite_rx, worker/forwarding core on CPU {machine['worker_cpu']}, "
      f"main/stats on CPU {machine['stats_cpu']}; memory: {machine['memory']}")
    w(f"  geo      {machine['geo']}")
    w(f"  method   {machine['runs']} alternating rounds, {machine['duration_s']} s measured after "
      f"{machine['warmup_s']} s warm-up (telemetry counters, start-up excluded)")
    w(f"  load     before {machine['load_before']}, after {machine['load_after']} (1/5/15 min)")
    probe = machine.get("memory_probe")
    if probe:
        chase = ", ".join(f"{mib} MiB {ns:.0f} ns" for mib, ns in probe["latency_ns"].items())
        w(f"  memory   load-to-use latency on {probe['pages']} pages: {chase}; independent "
          f"random loads in {probe['independent_mib']} MiB {probe['independent_ns']:.1f} ns "
          f"each; 2 MiB of lines one per 4 KiB page {probe['spread_ns']:.0f} ns"
          + (f"; the worker's access pattern alone ({probe['pattern_lines']} lines per packet,"
             f" prefetched) {probe['pattern_ns']:.0f} ns per packet"
             if "pattern_ns" in probe else ""))
    w("")

    def live_row(label, name):
        rs = by_label.get(label, [])
        if not rs:
            return None
        mpps = stats_of([r["mpps"] for r in rs])
        share = stats_of([r["worker_cpu_share"] for r in rs])
        per_cpu = stats_of([r["mpps_per_cpu"] for r in rs])
        load = stats_of([r["loadavg"][0] for r in rs])
        row = {"mpps": mpps, "ns_per_packet": 1e3 / mpps["median"] if mpps["median"] else None,
               "cpu_share": share, "mpps_per_cpu": per_cpu,
               "ns_per_packet_cpu": 1e3 / per_cpu["median"] if per_cpu else None,
               "load": load}
        w(f"  {name:<40} {fmt(mpps['median'])} {fmt(mpps['min'])} {fmt(mpps['max'])}"
          f"  {fmt(row['ns_per_packet'], '7.1f')}   {fmt(share['median'], '5.2f')}"
          f"  {fmt(per_cpu['median'] if per_cpu else None)}  {fmt(row['ns_per_packet_cpu'], '7.1f')}"
          f"  {fmt(load['median'], '5.2f')}")
        return row

    header = (f"  {'':<40} {'Mpps':>7} {'min':>7} {'max':>7}  {'ns/pkt':>7}   {'CPU':>5}"
              f"  {'Mpps/CPU':>7}  {'ns/pkt':>7}  {'load':>5}")
    w(header)
    w(f"  {'':<40} {'median':>7} {'':>7} {'':>7}  {'':>7}   {'share':>5}  {'-second':>7}"
      f"  {'(CPU)':>7}")
    tp = live_row("testpmd", "testpmd rxonly (floor)")
    ds = live_row("darkscope-full", "darkscope, all features")
    summary["live"] = {"testpmd": tp, "darkscope": ds}

    def round_ratios(a, b, key="mpps"):
        """Per-round a/b of two labels' rows (each round ran both back to back)."""
        b_by_round = {r["round"]: r for r in by_label.get(b, [])}
        return stats_of([x[key] / b_by_round[x["round"]][key] for x in by_label.get(a, [])
                         if x["round"] in b_by_round and x.get(key)
                         and b_by_round[x["round"]].get(key)])

    def ratio_text(r):
        return (f"{fmt(r['median'], '7.3f')} (min {r['min']:.3f}, max {r['max']:.3f}, "
                f"per round)")

    ratio = ratio_cpu = None
    if tp and ds:
        ratio = round_ratios("darkscope-full", "testpmd")
        ratio_cpu = round_ratios("darkscope-full", "testpmd", "mpps_per_cpu")
        w("")
        w(f"  {'ratio darkscope/testpmd':<40} {ratio_text(ratio)}"
          + (f"; per CPU-second {ratio_cpu['median']:.3f}" if ratio_cpu else ""))
    summary["ratio"] = ratio
    summary["ratio_per_cpu"] = ratio_cpu
    # --baseline: the same full path of another build, right after darkscope in each round.
    baseline = live_row("baseline-full", "baseline (--baseline), all features")
    if baseline and ds:
        vs = round_ratios("darkscope-full", "baseline-full")
        won = sum(1 for r in by_label.get("darkscope-full", [])
                  for b in by_label.get("baseline-full", [])
                  if r["round"] == b["round"] and r["mpps"] > b["mpps"])
        vs_cpu = round_ratios("darkscope-full", "baseline-full", "mpps_per_cpu")
        w(f"  {'ratio darkscope/baseline':<40} {ratio_text(vs)}; darkscope faster in {won} of "
          f"{vs['n'] if vs and 'n' in vs else len(by_label.get('baseline-full', []))} rounds"
          + (f"; per CPU-second {vs_cpu['median']:.3f}" if vs_cpu else ""))
        summary["ratio_baseline"] = vs
        summary["ratio_baseline_per_cpu"] = vs_cpu
        summary["baseline"] = baseline
    if ds and probe and "pattern_ns" in probe:
        share = probe["pattern_ns"] / ds["ns_per_packet"]
        summary["memory_share"] = share
        w(f"  {'of which the memory pattern alone':<40} {probe['pattern_ns']:7.1f} ns of "
          f"{ds['ns_per_packet']:.1f} ({share:.0%}; the rest is instructions and stalls the "
          f"prefetches do not hide)")

    # Scaling: N workers against testpmd with N forwarding cores, the capture dealt over N ports.
    n_workers = int(machine.get("scale_workers", 1))
    scaling = None
    if n_workers > 1 and by_label.get("darkscope-scaled"):
        w("")
        w(f"  scaling to {n_workers} workers: {machine.get('scale_note', '')}")
        tps = live_row("testpmd-scaled", f"testpmd rxonly, {n_workers} forwarding cores")
        dss = live_row("darkscope-scaled", f"darkscope, {n_workers} workers")
        per_worker = dss["mpps"]["median"] / n_workers
        scaling = {"workers": n_workers, "testpmd": tps, "darkscope": dss,
                   "mpps_per_worker": per_worker,
                   "ratio": round_ratios("darkscope-scaled", "testpmd-scaled")}
        line = f"  {'per worker':<40} {fmt(per_worker)}"
        if ds:
            scaling["speedup"] = dss["mpps"]["median"] / ds["mpps"]["median"]
            line += (f"   {n_workers} workers give {scaling['speedup']:.2f} x one worker's"
                     f" {ds['mpps']['median']:.3f} Mpps (ideal {n_workers:.2f})")
        w(line)
        if scaling["ratio"]:
            w(f"  {'ratio darkscope/testpmd':<40} {ratio_text(scaling['ratio'])}")
    summary["scaling"] = scaling

    # Cost by stage: the extra ns each stage adds to the one before.
    stage_rows = {}
    for s in STAGES:
        rs = by_label.get(f"darkscope-{s}", [])
        if rs:
            mpps = stats_of([r["mpps"] for r in rs])
            per_cpu = stats_of([r["mpps_per_cpu"] for r in rs])
            stage_rows[s] = {"mpps": mpps, "mpps_per_cpu": per_cpu,
                             "ns_per_packet": 1e3 / mpps["median"],
                             "ns_per_packet_cpu": 1e3 / per_cpu["median"] if per_cpu else None}
    if len(stage_rows) > 1:
        w("")
        w(f"  {'cost by stage (--pipeline)':<40} {'Mpps':>7} {'ns/pkt':>7} {'+ns':>6}   "
          f"{'Mpps/CPU':>8} {'ns/pkt':>7} {'+ns':>6}   runs")
        prev = prev_cpu = None
        if tp:
            prev, prev_cpu = tp["ns_per_packet"], tp["ns_per_packet_cpu"]
            w(f"  {'testpmd rxonly':<40} {fmt(tp['mpps']['median'])} "
              f"{fmt(prev, '7.1f')} {'':>6}   {fmt(tp['mpps_per_cpu']['median'], '8.3f')} "
              f"{fmt(prev_cpu, '7.1f')}")
        for s in STAGES:
            if s not in stage_rows:
                continue
            r = stage_rows[s]
            d = r["ns_per_packet"] - prev if prev is not None else None
            dc = (r["ns_per_packet_cpu"] - prev_cpu
                  if prev_cpu is not None and r["ns_per_packet_cpu"] is not None else None)
            r["delta_ns"], r["delta_ns_cpu"] = d, dc
            w(f"  {s + ': ' + STAGE_MEANING[s]:<40} {fmt(r['mpps']['median'])} "
              f"{fmt(r['ns_per_packet'], '7.1f')} {fmt(d, '+6.1f')}   "
              f"{fmt(r['mpps_per_cpu']['median'] if r['mpps_per_cpu'] else None, '8.3f')} "
              f"{fmt(r['ns_per_packet_cpu'], '7.1f')} {fmt(dc, '+6.1f')}   {r['mpps']['n']}")
            prev, prev_cpu = r["ns_per_packet"], r["ns_per_packet_cpu"]
        spread = [stage_rows[s]["ns_per_packet_cpu"] or stage_rows[s]["ns_per_packet"]
                  for s in stage_rows]
        if max(spread) - min(spread) < 0.05 * max(spread):
            w("  note: every stage runs at the same speed: the worker does not honour --pipeline"
              " yet, or the stages cost nothing next to rx")
    elif machine.get("stages_note"):
        w("")
        w(f"  cost by stage: {machine['stages_note']}")
    summary["stages"] = stage_rows

    rec_rows = {}
    for label, name in (("darkscope-record-off", "recording off"),
                        ("darkscope-record-all", "recording everything"),
                        ("darkscope-record-1pct", "recording a 1% filter")):
        row = live_row(label, name)
        if row:
            rec_rows[label] = row
    writer = by_label.get("record-writer", [])
    if writer:
        wr = writer[-1]
        mbs = wr["bytes"] / wr["seconds"] / 1e6 if wr["seconds"] > 0 else 0
        rec_rows["writer_mb_per_s"] = mbs
        w(f"  {'record writer (offline, whole capture)':<40} {mbs:7.1f} MB/s of pcapng to "
          f"{wr['filesystem']} (a lower bound: the run's bytes over its wall time)")
    summary["recording"] = rec_rows

    off = by_label.get("offline", [])
    if off:
        by_round = {}
        for r in off:
            by_round.setdefault(r["round"], {})[r["copies"]] = r
        rates, naive, checks = [], [], []
        for rnd, c in sorted(by_round.items()):
            if 1 in c and 3 in c:
                dp = c[3]["packets"] - c[1]["packets"]
                dt = c[3]["seconds"] - c[1]["seconds"]
                if dt > 0:
                    rates.append(dp / dt / 1e6)
                naive.append(c[1]["packets"] / c[1]["seconds"] / 1e6)
                checks.append(c[1]["packets"] == machine["capture_packets"]
                              and c[3]["packets"] == 3 * machine["capture_packets"])
        o = stats_of(rates)
        n = stats_of(naive)
        summary["offline"] = {"mpps": o, "mpps_including_startup": n,
                              "packet_counts_ok": all(checks)}
        w("")
        if o:
            w(f"  {'offline --read (tmpfs)':<40} {fmt(o['median'])} {fmt(o['min'])} {fmt(o['max'])}"
              f"  {fmt(1e3 / o['median'], '7.1f')}   Mpps, start-up excluded (3 copies - 1 copy)")
        if n:
            w(f"  {'offline, start-up included':<40} {fmt(n['median'])} {fmt(n['min'])} {fmt(n['max'])}"
              f"  (one copy, wall time of the whole process)")
        if not all(checks):
            w("  WARNING: the offline summaries did not count every packet of the capture")
        # One pass of the capture: how the workers' tuple tables held its source side (spilled
        # packets are counted one by one: exact, but at the old per-packet cost).
        one = [c[1] for c in by_round.values() if 1 in c and "source_tuples" in c[1]]
        if one:
            t = one[-1]
            ip = t["ipv4"] + t.get("ipv6", 0)
            share = 100.0 * t["source_spills"] / ip if ip else 0.0
            summary["offline"]["tuples"] = {k: t.get(k, 0) for k in ("ipv4", "ipv6",
                                                                       "source_tuples",
                                                                       "source_spills")}
            w(f"  {'source tuples, one pass':<40} {t['source_tuples']:,} tuples; "
              f"{t['source_spills']:,} of {ip:,} IP packets spilled ({share:.1f}%; "
              f"--tuple-entries sizes the tables)")

    # Memory, from the last darkscope run with every feature (heap as DPDK reports it).
    def memory_of(label):
        rs = by_label.get(label, [])
        return rs[-1]["memory"] if rs else None

    w("")
    w(f"  {'memory':<28} DPDK heap in use   of which mbuf pools   rest (tables)"
      "   process RSS   RSS peak   hugetlb")
    for label, name in (("testpmd", "testpmd"), ("darkscope-full", "darkscope"),
                        ("darkscope-scaled", f"darkscope, {n_workers} workers")):
        m = memory_of(label)
        if not m:
            continue
        heap = sum(h.get("Alloc_size", 0) for h in m.get("heaps", []) if isinstance(h, dict))
        def pool_bytes(p):
            obj = (int(p.get("elt_size", 0)) + int(p.get("header_size", 0))
                   + int(p.get("trailer_size", 0)))
            page = int(p.get("mz_hugepage_sz", 0) or 0)
            # Objects never straddle a page: on 4 KiB pages a 2368-byte mbuf takes a page.
            if page and obj <= page:
                obj = page // (page // obj)
            return int(p.get("populated_size", 0)) * obj

        pools = sum(pool_bytes(p) for p in m.get("mempools", {}).values() if isinstance(p, dict))
        proc = m.get("process", {})
        summary["memory"][name] = {"heap_bytes": heap, "mempool_bytes": pools,
                                   "tables_bytes": heap - pools, **proc}
        w(f"  {name:<28} {mib(heap):>17} {mib(pools):>21} {mib(heap - pools):>15}"
          f"  {mib(proc.get('VmRSS_kB', 0) * 1024):>12} {mib(proc.get('VmHWM_kB', 0) * 1024):>10}"
          f" {mib(proc.get('HugetlbPages_kB', 0) * 1024):>9}")
    w("  (the mbuf pool holds the preloaded capture: a replay artefact, not a cost of darkscope;"
      " the rest is the geo/ASN tables, shared by all workers, plus each worker's counter"
      " tables)")

    # Goals and the cores they imply.
    if ds:
        per_core = ds["mpps"]["median"]
        per_core_cpu = ds["mpps_per_cpu"]["median"] if ds["mpps_per_cpu"] else per_core
        w("")
        w(f"  goal >= {GOAL_MPPS} Mpps per worker core: {per_core:.2f} Mpps measured"
          f" ({per_core_cpu:.2f} per CPU-second): "
          + ("met" if per_core >= GOAL_MPPS else
             "met per CPU-second only" if per_core_cpu >= GOAL_MPPS else "NOT met"))
        if ratio:
            w(f"  goal >= {GOAL_RATIO} of testpmd's floor: {ratio['median']:.3f}: "
              + ("met" if ratio["median"] >= GOAL_RATIO else "NOT met"))
        est = {}
        parts = []
        for name, rate in LINE_RATES:
            est[name] = math.ceil(rate / per_core_cpu) if per_core_cpu else None
            parts.append(f"{name} {est[name]}")
        summary["cores_at_min_size"] = est
        w(f"  worker cores for line rate at 64-byte frames (at {per_core_cpu:.2f} Mpps per core): "
          + ", ".join(parts) + " (plus one stats core; NIC rx on real hardware costs less than"
          " the pcap replay's per-packet copy)")
    w("")
    text = "\n".join(out)
    print(text)
    if args.json:
        summary["rows"] = rows
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
