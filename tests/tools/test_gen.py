#!/usr/bin/python3
"""Checks scripts/darkscope-gen against an independent reading of what it wrote.

For a few seeds, a small capture is generated and read back with tshark and capinfos; every
count in the truth JSON that tshark can see is recomputed from tshark's fields with the
classification rules of docs/classify.md and compared. The same seed must give byte-identical
files. Bad options and files get one "darkscope-gen:" line naming the option, no traceback, and
leave no file behind (checked first, without tshark). Exit 77 (meson: skipped) when tshark is
missing.
"""

import collections
import csv
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(ROOT, "scripts", "darkscope-gen")
UDP_SERVICE_PORTS = {17, 19, 53, 69, 111, 123, 137, 161, 389, 500, 520, 1434, 1900, 3283, 3702,
                     4500, 5353, 5683, 10001, 11211, 37810, 47808}
SENSORS = {"tokyo-a": ["203.0.113.0/24"], "tokyo-b": ["198.51.100.0/24"],
           "osaka": ["192.0.2.0/24", "2001:db8:d::/48"]}
FIELDS = ["frame.len", "frame.protocols", "frame.time_epoch", "vlan.id", "ip.src", "ip.dst",
          "ip.proto", "ip.frag_offset", "ip.id", "ipv6.src", "ipv6.dst", "ipv6.nxt",
          "tcp.flags", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.window_size_value",
          "tcp.hdr_len", "tcp.options.mss_val", "udp.srcport", "udp.dstport", "icmp.type",
          "icmp.code", "icmpv6.type", "_ws.malformed"]

failures = []


def check(what, got, want):
    if got != want:
        if isinstance(got, dict) and isinstance(want, dict):
            keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            got = {k: got.get(k) for k in keys[:8]}
            want = {k: want.get(k) for k in keys[:8]}
        failures.append(f"{what}: tshark says {got!r:.300}, truth says {want!r:.300}")


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def tshark_rows(pcap):
    """One dict per frame; outer headers only for single fields (quoted headers in ICMP
    errors come later), every occurrence for vlan.id."""
    cmd = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=\t", "-E",
           "occurrence=a", "-E", "aggregator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    rows = []
    for line in run(cmd).splitlines():
        values = line.split("\t")
        row = {}
        for name, v in zip(FIELDS, values):
            row[name] = v.split("|") if v else []
        rows.append(row)
    return rows


def first(row, field, conv=str):
    v = row[field]
    return conv(v[0]) if v else None


def classify(row):
    """(l3, proto, class, sensor-address, service, src, detail) from tshark fields, after the
    rules in docs/classify.md; l3 is 0 when the IP header is not whole."""
    protos = row["frame.protocols"][0].split(":") if row["frame.protocols"] else []
    # Only a broken network or transport header makes a packet malformed for darkscope; a
    # payload tshark cannot parse is reported by the caller as a generator bug.
    malformed = any(m.split(": ")[-1].split(":")[0].rstrip("]") in ("IPv4", "IPv6", "TCP",
                                                                     "UDP", "ICMP", "ICMPv6")
                    for m in row["_ws.malformed"])
    if "arp" in protos:
        return 0, None, "non_ip", None, None, None, None
    if row["ip.src"] and not (malformed and "tcp" not in protos):
        l3, src, dst = 4, first(row, "ip.src"), first(row, "ip.dst")
        ipproto = first(row, "ip.proto", int)
        if first(row, "ip.frag_offset", int):
            return 4, {17: "udp", 6: "tcp"}.get(ipproto, "other"), "fragment", dst, None, src, None
    elif row["ipv6.src"]:
        l3, src, dst = 6, first(row, "ipv6.src"), first(row, "ipv6.dst")
        ipproto = first(row, "ipv6.nxt", int)
    else:
        return 0, None, "malformed", None, None, None, None
    proto = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(ipproto, "other")
    if proto == "other":
        return l3, proto, "other_ip", dst, None, src, None
    if malformed:
        return l3, proto, "malformed", dst, None, src, None
    if proto == "tcp":
        flags = int(first(row, "tcp.flags"), 16)
        dport = first(row, "tcp.dstport", int)
        detail = {0x02: "S", 0x12: "SA", 0x04: "R", 0x14: "RA", 0x10: "A", 0x11: "FA",
                  0x18: "PA"}[flags]
        cls = ("tcp_scan" if detail == "S" else
               "tcp_backscatter" if detail in ("SA", "R", "RA") else "tcp_other")
        return l3, proto, cls, dst, f"{dport}/tcp", src, detail
    if proto == "udp":
        sport, dport = first(row, "udp.srcport", int), first(row, "udp.dstport", int)
        cls = "udp_backscatter" if sport in UDP_SERVICE_PORTS and dport >= 1024 else "udp_probe"
        return l3, proto, cls, dst, f"{dport}/udp", src, None
    if proto == "icmp":
        t, c = first(row, "icmp.type", int), first(row, "icmp.code", int)
        return l3, proto, "icmp_probe" if t == 8 else "icmp_backscatter", dst, "icmp", src, \
            f"{t}/{c}"
    t = first(row, "icmpv6.type", int)
    return l3, proto, "icmp_probe" if t == 128 else "icmp_backscatter", dst, "icmpv6", src, \
        f"{t}/0" if t == 128 else None


def sensor_of(addr):
    a = ipaddress.ip_address(addr)
    best, best_len = "", -1
    for name, prefixes in SENSORS.items():
        for p in prefixes:
            net = ipaddress.ip_network(p)
            if a.version == net.version and a in net and net.prefixlen > best_len:
                best, best_len = name, net.prefixlen
    return best


def check_capture(tmp, seed, extra, networks=None):
    pcap, truth_path = os.path.join(tmp, f"g{seed}.pcap"), os.path.join(tmp, f"g{seed}.json")
    cmd = [GEN, "--seed", str(seed), "--out", pcap, "--truth", truth_path, "-q"] + extra
    if networks:
        cmd += ["--source-networks", networks]
    run(cmd)
    truth = json.load(open(truth_path))
    label = f"seed {seed} {' '.join(extra)}"

    # capinfos: packet count and bytes on the wire.
    info = run(["capinfos", "-M", "-c", "-d", pcap])
    packets = int(info.split("Number of packets:")[1].split()[0])
    data = int(info.split("Data size:")[1].split()[0])
    check(f"{label}: packets (capinfos)", packets, truth["packets"])
    check(f"{label}: bytes (capinfos)", data, truth["bytes"])

    rows = tshark_rows(pcap)
    check(f"{label}: packets (tshark)", len(rows), truth["packets"])
    check(f"{label}: bytes (tshark)", sum(int(r["frame.len"][0]) for r in rows), truth["bytes"])
    counts = collections.Counter()
    classes = collections.Counter()
    sensors = collections.Counter()
    services = collections.Counter()
    services_all = collections.Counter()
    tcp_flags = collections.Counter()
    flags = collections.Counter()
    sources, per_source = set(), collections.Counter()
    per_interval = collections.Counter()
    countries = collections.Counter()
    nets = []
    if networks:
        for row in csv.reader(open(networks)):
            nets.append((ipaddress.ip_network(row[0]), row[1]))
    for r in rows:
        l3, proto, cls, dst, svc, src, detail = classify(r)
        classes[cls] += 1
        protos = r["frame.protocols"][0].split(":")
        if "vlan" in protos or "ieee8021ad" in protos:
            counts["vlan_tagged"] += 1
        if "ieee8021ad" in protos or protos.count("vlan") >= 2:
            counts["qinq"] += 1
        if r["_ws.malformed"] and cls != "malformed":
            counts["payload_malformed"] += 1
        if l3 == 4:
            counts["ipv4"] += 1
        elif l3 == 6:
            counts["ipv6"] += 1
        if proto:
            counts[proto] += 1
        if dst is not None:
            s = sensor_of(dst)
            if s:
                sensors[s] += 1
            else:
                counts["unmatched"] += 1
        if src is not None:
            sources.add(src)
            per_source[src] += 1
            if nets:
                a = ipaddress.ip_address(src)
                countries[next((cc for net, cc in nets if a in net), "??")] += 1
        if svc is not None:
            services_all[svc] += 1
            if cls in ("tcp_scan", "udp_probe", "icmp_probe"):
                services[svc] += 1
        if detail and proto == "tcp":
            tcp_flags[detail] += 1
        if proto == "tcp" and cls == "tcp_scan" and l3 == 4:
            ident = first(r, "ip.id", lambda v: int(v, 16))
            d, port = int(ipaddress.ip_address(dst)), first(r, "tcp.dstport", int)
            seq = first(r, "tcp.seq_raw", int)
            win = first(r, "tcp.window_size_value", int)
            if ident == 54321:
                flags["zmap"] += 1
            if ident == (d ^ port ^ seq) & 0xFFFF:
                flags["masscan"] += 1
            if seq == d:
                flags["mirai"] += 1
            if win == 1024 and first(r, "tcp.hdr_len", int) == 24 and r["tcp.options.mss_val"]:
                flags["nmap"] += 1
        if truth.get("intervals"):
            step = truth["intervals"][0]["end"] - truth["intervals"][0]["start"]
            t = r["frame.time_epoch"][0]
            per_interval[int(t.split(".")[0]) // step * step] += 1

    for key in ("ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6", "other", "unmatched",
                "vlan_tagged", "qinq"):
        check(f"{label}: {key}", counts[key], truth[key])
    check(f"{label}: malformed", classes["malformed"], truth["malformed"])
    check(f"{label}: payloads tshark finds malformed", counts["payload_malformed"], 0)
    check(f"{label}: non_ip", classes["non_ip"], truth["non_ip"])
    for cls, n in truth["classes"].items():
        check(f"{label}: class {cls}", classes[cls], n)
    for name in ("zmap", "masscan", "mirai", "nmap"):
        check(f"{label}: flag {name}", flags[name], truth["flags"][name])
    for name, e in truth["sensors"].items():
        check(f"{label}: sensor {name}", sensors[name], e["packets"])
    check(f"{label}: sources", len(sources), truth["sources"])
    top = sorted(per_source.items(), key=lambda kv: -kv[1])[:5]
    check(f"{label}: top source packets", [c for _, c in top],
          [c for _, c in truth["top_sources"][:5]])
    for flag_name in ("S", "SA", "R", "RA"):
        check(f"{label}: tcp flags {flag_name}", tcp_flags[flag_name],
              truth["tcp_flags"].get(flag_name, {}).get("packets", 0))
    # The 15 busiest services, in order, with their counts; and every port of services_all.
    want_top = [(k, v["packets"]) for k, v in list(truth["services"].items())[:15]]
    got_top = sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    check(f"{label}: top services", got_top, want_top)
    check(f"{label}: services_all", dict(services_all),
          {k: v["packets"] for k, v in truth["services_all"].items()})
    if truth.get("intervals"):
        check(f"{label}: per interval packets", dict(per_interval),
              {iv["start"]: iv["packets"] for iv in truth["intervals"] if iv["packets"]})
        check(f"{label}: interval sum", sum(iv["packets"] for iv in truth["intervals"]),
              truth["packets"])
    if nets:
        check(f"{label}: countries", dict(countries),
              {cc: e["packets"] for cc, e in truth["countries"].items()})
    return pcap


def bad_input(tmp):
    """Each bad option or file: a non-zero exit (2: argparse's usage error, 1: a file's content),
    one "darkscope-gen:" line on stderr naming the option, no traceback, no file written."""
    work = os.path.join(tmp, "bad")
    os.mkdir(work)
    out = os.path.join(work, "x.pcap")
    a_dir = os.path.join(work, "a-directory")
    os.mkdir(a_dir)
    bad_asn = os.path.join(tmp, "bad-asn.csv")
    with open(bad_asn, "w") as f:
        f.write("1.2.3.0/24,JP,as-one\n")
    bad_prefix = os.path.join(tmp, "bad-prefix.csv")
    with open(bad_prefix, "w") as f:
        f.write("1.2.3.0/33,JP,1\n")
    cases = [
        (["--out", "/nonexistent/dir/x.pcap"], "--out /nonexistent/dir/x.pcap", 2),
        (["--out", a_dir], "--out " + a_dir, 2),
        (["--start", "-100"], "--start", 2),
        (["--start", "4294967000"], "--start", 2),  # past pcap's 32-bit seconds
        (["--sensor", "a=10.0.0.0/33"], "--sensor", 2),
        (["--sensor", "a=10.0.0.5/24"], "--sensor 'a=10.0.0.5/24': 10.0.0.5/24 has host bits", 2),
        (["--sensor", "a=10.0.0.0/24,2001:db8::1/48"], "--sensor", 2),
        (["--sensor", "a="], "--sensor", 2),
        (["--truncated", "-1"], "--truncated", 2),
        (["--source-networks", "/nonexistent.csv"], "--source-networks /nonexistent.csv", 2),
        (["--source-networks", a_dir], "--source-networks", 2),
        (["--source-networks", bad_asn], "--source-networks", 1),
        (["--source-networks", bad_prefix], "--source-networks", 1),
        (["--truth", "/nonexistent/t.json"], "--truth /nonexistent/t.json", 2),
        (["--truth", a_dir], "--truth", 2),
        (["--truth", out], "--truth", 2),  # the same file as --out
        (["--write-networks", "/nonexistent/n.csv"], "--write-networks", 2),
        (["--interval", "0"], "--interval", 2),
        (["--interval", "-60"], "--interval", 2),
        (["--duration", "0"], "--duration", 2),
        (["--duration", "nan"], "--duration", 2),
        (["--duration", "inf"], "--duration", 2),
        (["--packets", "0"], "--packets", 2),
        (["--sources", "-5"], "--sources", 2),
        (["--ipv6-share", "2"], "--ipv6-share", 2),
        (["--vlan-share", "nan"], "--vlan-share", 2),
        (["--frame-size-range", "60-70000"], "--frame-size-range", 2),
        (["--frame-size-range", "sixty"], "--frame-size-range", 2),
        (["--profile", "events", "--interval", "0"], "--interval", 2),
    ]
    for args, needle, status in cases:
        cmd = [GEN, "-q", "--packets", "500", "--sources", "50"] + \
            (["--out", out] if "--out" not in args else []) + args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("darkscope-gen:")]
        left = sorted(set(os.listdir(work)) - {"a-directory"}) + os.listdir(a_dir)
        if r.returncode != status or "Traceback" in r.stderr or len(lines) != 1 or \
                needle not in lines[0]:
            failures.append(f"bad input {args}: want exit {status} and one 'darkscope-gen:' line "
                            f"naming {needle!r}, got exit {r.returncode}, {r.stderr!r:.600}")
        if left:
            failures.append(f"bad input {args}: left {left} behind")
            for name in left:
                path = os.path.join(work, name)
                os.remove(path if os.path.exists(path) else os.path.join(a_dir, name))
    # The same options, made good, do write (the cases above fail for what they name).
    r = subprocess.run([GEN, "-q", "--packets", "500", "--sources", "50", "--out", out,
                        "--truth", out + ".json", "--sensor", "a=10.0.0.0/24",
                        "--start", "0", "--interval", "60", "--truncated", "0"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(out) or not os.path.exists(out + ".json"):
        failures.append(f"good options: exit {r.returncode}, {r.stderr!r}")
    # --source-networks may name the file --write-networks is about to write (the tests do).
    nets = os.path.join(work, "new-networks.csv")
    r = subprocess.run([GEN, "-q", "--packets", "500", "--out", out, "--write-networks", nets,
                        "--source-networks", nets], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(nets):
        failures.append(f"--write-networks and --source-networks of one new file: exit "
                        f"{r.returncode}, {r.stderr!r}")


def main():
    with tempfile.TemporaryDirectory(prefix="darkscope-gen-test-") as tmp:
        bad_input(tmp)
    if not shutil.which("tshark") or not shutil.which("capinfos"):
        for f in failures:
            print("FAIL:", f)
        print("SKIP: tshark/capinfos not installed")
        return 1 if failures else 77
    with tempfile.TemporaryDirectory(prefix="darkscope-gen-test-") as tmp:
        nets = os.path.join(tmp, "networks.csv")
        run([GEN, "--write-networks", nets])
        rows = list(csv.reader(open(nets)))
        if not 40 <= len(rows) <= 80 or {"CN", "JP", "US", "TH", "ID"} - {r[1] for r in rows}:
            failures.append(f"--write-networks: {len(rows)} rows, countries "
                            f"{sorted({r[1] for r in rows})}")
        small = ["--packets", "6000", "--duration", "600", "--sources", "800"]
        a = check_capture(tmp, 1, small + ["--interval", "60", "--truncated", "8",
                                           "--vlan-share", "0.1"], nets)
        check_capture(tmp, 2, small + ["--ipv6-share", "0.2", "--truncated", "4"])
        check_capture(tmp, 3, ["--profile", "bench", "--packets", "5000", "--sources", "3000"],
                      nets)
        check_capture(tmp, 4, small + ["--no-linktype-variety", "--truncated", "0"])
        # Determinism: the same options and seed give the same bytes; another seed does not.
        again = os.path.join(tmp, "again.pcap")
        run([GEN, "--seed", "1", "--out", again, "--truth", again + ".json", "-q",
             "--source-networks", nets, "--interval", "60", "--truncated", "8",
             "--vlan-share", "0.1"] + small)
        if open(a, "rb").read() != open(again, "rb").read():
            failures.append("seed 1 twice: captures differ")
        if open(a[:-5] + ".json").read() != open(again + ".json").read():
            failures.append("seed 1 twice: truths differ")
        other = os.path.join(tmp, "other.pcap")
        run([GEN, "--seed", "5", "--out", other, "-q"] + small)
        if open(a, "rb").read()[:4096] == open(other, "rb").read()[:4096]:
            failures.append("seeds 1 and 5 give the same capture")
        # Bench frames stay within the range.
        lens = {int(x) for x in run(["tshark", "-r", os.path.join(tmp, "g3.pcap"), "-T",
                                     "fields", "-e", "frame.len"]).split()}
        if min(lens) < 60 or max(lens) > 78:
            failures.append(f"bench frame sizes {min(lens)}..{max(lens)} outside 60-78")
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
