"""Checks scripts/darkscope-gen against an independent reading of what it wrote.

For a few seeds, a small capture is generated and read back with tshark and capinfos; every
count in the truth JSON that tshark can see is recomputed from tshark's fields with the
classification rules of docs/classify.md and compared. The same seed must give byte-identical
files. Bad options and files get one "darkscope-gen:" line naming the option, no traceback, and
leave no file behind (checked without tshark). The checks that read captures back are skipped
when tshark or capinfos is missing.
"""

import collections
import csv
import ipaddress
import json
import os
import shutil
import subprocess

import pytest

from darkscope_client import load_tables

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(ROOT, "scripts", "darkscope-gen")
# darkscope's default --udp-service-ports (the tables darkscope and its tools share).
UDP_SERVICE_PORTS = frozenset(load_tables()["udp_service_ports"])
SENSORS = {"tokyo-a": ["203.0.113.0/24"], "tokyo-b": ["198.51.100.0/24"],
           "osaka": ["192.0.2.0/24", "2001:db8:d::/48"]}
FIELDS = ["frame.len", "frame.protocols", "frame.time_epoch", "vlan.id", "ip.src", "ip.dst",
          "ip.proto", "ip.frag_offset", "ip.id", "ipv6.src", "ipv6.dst", "ipv6.nxt",
          "tcp.flags", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.window_size_value",
          "tcp.hdr_len", "tcp.options.mss_val", "udp.srcport", "udp.dstport", "icmp.type",
          "icmp.code", "icmpv6.type", "_ws.malformed"]


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
    """Generates a capture and reads it back: (pcap, {category: [what differs]})."""
    failures = collections.defaultdict(list)

    def check(category, what, got, want):
        if got != want:
            if isinstance(got, dict) and isinstance(want, dict):
                keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                got = {k: got.get(k) for k in keys[:8]}
                want = {k: want.get(k) for k in keys[:8]}
            failures[category].append(f"{what}: tshark says {got!r:.300}, truth says "
                                      f"{want!r:.300}")

    pcap, truth_path = os.path.join(tmp, f"g{seed}.pcap"), os.path.join(tmp, f"g{seed}.json")
    cmd = [GEN, "--seed", str(seed), "--out", pcap, "--truth", truth_path, "-q"] + extra
    if networks:
        cmd += ["--source-networks", networks]
    run(cmd)
    with open(truth_path) as f:
        truth = json.load(f)
    label = f"seed {seed} {' '.join(extra)}"

    # capinfos: packet count and bytes on the wire.
    info = run(["capinfos", "-M", "-c", "-d", pcap])
    packets = int(info.split("Number of packets:")[1].split()[0])
    data = int(info.split("Data size:")[1].split()[0])
    check("packets", f"{label}: packets (capinfos)", packets, truth["packets"])
    check("packets", f"{label}: bytes (capinfos)", data, truth["bytes"])

    rows = tshark_rows(pcap)
    check("packets", f"{label}: packets (tshark)", len(rows), truth["packets"])
    check("packets", f"{label}: bytes (tshark)", sum(int(r["frame.len"][0]) for r in rows), truth["bytes"])
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
        with open(networks) as f:
            for row in csv.reader(f):
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
        check("protocols", f"{label}: {key}", counts[key], truth[key])
    check("classes", f"{label}: malformed", classes["malformed"], truth["malformed"])
    check("classes", f"{label}: payloads tshark finds malformed", counts["payload_malformed"], 0)
    check("classes", f"{label}: non_ip", classes["non_ip"], truth["non_ip"])
    for cls, n in truth["classes"].items():
        check("classes", f"{label}: class {cls}", classes[cls], n)
    for name in ("zmap", "masscan", "mirai", "nmap"):
        check("flags", f"{label}: flag {name}", flags[name], truth["flags"][name])
    for name, e in truth["sensors"].items():
        check("sensors", f"{label}: sensor {name}", sensors[name], e["packets"])
    check("sources", f"{label}: sources", len(sources), truth["sources"])
    top = sorted(per_source.items(), key=lambda kv: -kv[1])[:5]
    check("sources", f"{label}: top source packets", [c for _, c in top],
          [c for _, c in truth["top_sources"][:5]])
    for flag_name in ("S", "SA", "R", "RA"):
        check("tcp_flags", f"{label}: tcp flags {flag_name}", tcp_flags[flag_name],
              truth["tcp_flags"].get(flag_name, {}).get("packets", 0))
    # The 15 busiest services, in order, with their counts; and every port of services_all.
    want_top = [(k, v["packets"]) for k, v in list(truth["services"].items())[:15]]
    got_top = sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    check("services", f"{label}: top services", got_top, want_top)
    check("services", f"{label}: services_all", dict(services_all),
          {k: v["packets"] for k, v in truth["services_all"].items()})
    if truth.get("intervals"):
        check("intervals", f"{label}: per interval packets", dict(per_interval),
              {iv["start"]: iv["packets"] for iv in truth["intervals"] if iv["packets"]})
        check("intervals", f"{label}: interval sum", sum(iv["packets"] for iv in truth["intervals"]),
              truth["packets"])
    if nets:
        check("countries", f"{label}: countries", dict(countries),
              {cc: e["packets"] for cc, e in truth["countries"].items()})
    return pcap, failures



# --- bad options and files (no tshark needed) -------------------------------------------------
class Work:
    pass


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory for the refused runs' output (w.dir, w.out), a directory where a file is
    expected (w.a_dir), an ASN list with a name for a number and one with a /33."""
    w = Work()
    tmp = str(tmp_path_factory.mktemp("gen"))
    w.dir = os.path.join(tmp, "bad")
    os.mkdir(w.dir)
    w.out = os.path.join(w.dir, "x.pcap")
    w.a_dir = os.path.join(w.dir, "a-directory")
    os.mkdir(w.a_dir)
    w.bad_asn = os.path.join(tmp, "bad-asn.csv")
    with open(w.bad_asn, "w") as f:
        f.write("1.2.3.0/24,JP,as-one\n")
    w.bad_prefix = os.path.join(tmp, "bad-prefix.csv")
    with open(w.bad_prefix, "w") as f:
        f.write("1.2.3.0/33,JP,1\n")
    w.tmp = tmp
    return w


# (case, arguments given the work files, what the one "darkscope-gen:" line names, exit status:
# 2 argparse's usage error, 1 a file's content)
BAD = [
    ("out-in-a-missing-directory", lambda w: ["--out", "/nonexistent/dir/x.pcap"],
     "--out /nonexistent/dir/x.pcap", 2),
    ("out-a-directory", lambda w: ["--out", w.a_dir], lambda w: "--out " + w.a_dir, 2),
    ("start-negative", lambda w: ["--start", "-100"], "--start", 2),
    ("start-past-32-bit-seconds", lambda w: ["--start", "4294967000"], "--start", 2),
    ("sensor-prefix-33", lambda w: ["--sensor", "a=10.0.0.0/33"], "--sensor", 2),
    ("sensor-host-bits", lambda w: ["--sensor", "a=10.0.0.5/24"],
     "--sensor 'a=10.0.0.5/24': 10.0.0.5/24 has host bits", 2),
    ("sensor-ipv6-host-bits", lambda w: ["--sensor", "a=10.0.0.0/24,2001:db8::1/48"],
     "--sensor", 2),
    ("sensor-empty", lambda w: ["--sensor", "a="], "--sensor", 2),
    ("truncated-negative", lambda w: ["--truncated", "-1"], "--truncated", 2),
    ("source-networks-missing", lambda w: ["--source-networks", "/nonexistent.csv"],
     "--source-networks /nonexistent.csv", 2),
    ("source-networks-a-directory", lambda w: ["--source-networks", w.a_dir],
     "--source-networks", 2),
    ("source-networks-asn-not-a-number", lambda w: ["--source-networks", w.bad_asn],
     "--source-networks", 1),
    ("source-networks-prefix-33", lambda w: ["--source-networks", w.bad_prefix],
     "--source-networks", 1),
    ("truth-in-a-missing-directory", lambda w: ["--truth", "/nonexistent/t.json"],
     "--truth /nonexistent/t.json", 2),
    ("truth-a-directory", lambda w: ["--truth", w.a_dir], "--truth", 2),
    ("truth-the-out-file", lambda w: ["--truth", w.out], "--truth", 2),
    ("write-networks-in-a-missing-directory", lambda w: ["--write-networks",
                                                          "/nonexistent/n.csv"],
     "--write-networks", 2),
    ("interval-0", lambda w: ["--interval", "0"], "--interval", 2),
    ("interval-negative", lambda w: ["--interval", "-60"], "--interval", 2),
    ("duration-0", lambda w: ["--duration", "0"], "--duration", 2),
    ("duration-nan", lambda w: ["--duration", "nan"], "--duration", 2),
    ("duration-inf", lambda w: ["--duration", "inf"], "--duration", 2),
    ("packets-0", lambda w: ["--packets", "0"], "--packets", 2),
    ("sources-negative", lambda w: ["--sources", "-5"], "--sources", 2),
    ("ipv6-share-2", lambda w: ["--ipv6-share", "2"], "--ipv6-share", 2),
    ("vlan-share-nan", lambda w: ["--vlan-share", "nan"], "--vlan-share", 2),
    ("frame-size-range-past-65535", lambda w: ["--frame-size-range", "60-70000"],
     "--frame-size-range", 2),
    ("frame-size-range-words", lambda w: ["--frame-size-range", "sixty"], "--frame-size-range",
     2),
    ("events-profile-interval-0", lambda w: ["--profile", "events", "--interval", "0"],
     "--interval", 2),
]


@pytest.fixture(scope="module")
def refused(work):
    """{case: (arguments, needle, status wanted, the run, files it left)}, the cases run one
    after the other (each leftover removed before the next)."""
    out = {}
    for name, args_of, needle, status in BAD:
        args = args_of(work)
        needle = needle(work) if callable(needle) else needle
        cmd = [GEN, "-q", "--packets", "500", "--sources", "50"] + \
            (["--out", work.out] if "--out" not in args else []) + args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        left = sorted(set(os.listdir(work.dir)) - {"a-directory"}) + os.listdir(work.a_dir)
        for leftover in left:
            path = os.path.join(work.dir, leftover)
            os.remove(path if os.path.exists(path) else os.path.join(work.a_dir, leftover))
        out[name] = (args, needle, status, r, left)
    return out


@pytest.mark.parametrize("case", [name for name, _, _, _ in BAD])
def test_bad_input_refused_in_one_line(refused, case):
    args, needle, status, r, _ = refused[case]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("darkscope-gen:")]
    assert r.returncode == status and "Traceback" not in r.stderr and len(lines) == 1 and \
        needle in lines[0], f"bad input {args}: want exit {status} and one 'darkscope-gen:' " \
        f"line naming {needle!r}, got exit {r.returncode}, {r.stderr!r:.600}"


@pytest.mark.parametrize("case", [name for name, _, _, _ in BAD])
def test_bad_input_leaves_no_file(refused, case):
    args, _, _, _, left = refused[case]
    assert not left, f"bad input {args}: left {left} behind"


def test_good_options_write(work, refused):
    # The same options, made good, do write (the cases above fail for what they name).
    r = subprocess.run([GEN, "-q", "--packets", "500", "--sources", "50", "--out", work.out,
                        "--truth", work.out + ".json", "--sensor", "a=10.0.0.0/24",
                        "--start", "0", "--interval", "60", "--truncated", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and os.path.exists(work.out) and \
        os.path.exists(work.out + ".json"), f"good options: exit {r.returncode}, {r.stderr!r}"


def test_source_networks_may_name_the_file_write_networks_writes(work, refused):
    # (the tests do)
    nets = os.path.join(work.dir, "new-networks.csv")
    r = subprocess.run([GEN, "-q", "--packets", "500", "--out", work.out, "--write-networks",
                        nets, "--source-networks", nets], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and os.path.exists(nets), \
        f"--write-networks and --source-networks of one new file: exit {r.returncode}, " \
        f"{r.stderr!r}"


# --- captures read back with tshark ---------------------------------------------------------
@pytest.fixture(scope="module")
def tshark_dir(tmp_path_factory):
    if not shutil.which("tshark") or not shutil.which("capinfos"):
        pytest.skip("tshark/capinfos not installed")
    return str(tmp_path_factory.mktemp("tshark"))


@pytest.fixture(scope="module")
def networks(tshark_dir):
    """The generator's default source networks (--write-networks)."""
    nets = os.path.join(tshark_dir, "networks.csv")
    run([GEN, "--write-networks", nets])
    return nets


def test_write_networks_rows_and_countries(networks):
    with open(networks) as f:
        rows = list(csv.reader(f))
    assert 40 <= len(rows) <= 80 and not {"CN", "JP", "US", "TH", "ID"} - {r[1] for r in rows}, \
        f"--write-networks: {len(rows)} rows, countries {sorted({r[1] for r in rows})}"


SMALL = ["--packets", "6000", "--duration", "600", "--sources", "800"]
# seed: (options, whether sources come from the default networks)
CAPTURES = {1: (SMALL + ["--interval", "60", "--truncated", "8", "--vlan-share", "0.1"], True),
            2: (SMALL + ["--ipv6-share", "0.2", "--truncated", "4"], False),
            3: (["--profile", "bench", "--packets", "5000", "--sources", "3000"], True),
            4: (SMALL + ["--no-linktype-variety", "--truncated", "0"], False)}
CATEGORIES = ["packets", "protocols", "classes", "flags", "sensors", "sources", "tcp_flags",
              "services", "intervals", "countries"]


@pytest.fixture(scope="module")
def captures(tshark_dir, networks):
    """{seed: (pcap, {category: [what differs from tshark's reading]})}."""
    return {seed: check_capture(tshark_dir, seed, extra, networks if nets else None)
            for seed, (extra, nets) in CAPTURES.items()}




def applies(seed, category):
    """Intervals are in the truth with --interval only, countries with source networks."""
    extra, nets = CAPTURES[seed]
    return {"intervals": "--interval" in extra, "countries": nets}.get(category, True)


@pytest.mark.parametrize("seed,category", [
    pytest.param(seed, category, id=f"seed{seed}-{category}")
    for seed in CAPTURES for category in CATEGORIES if applies(seed, category)])
def test_truth_equals_tshark(captures, seed, category):
    failures = captures[seed][1].get(category, [])
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def again(captures, networks, tshark_dir):
    """Seed 1 generated a second time with the same options."""
    path = os.path.join(tshark_dir, "again.pcap")
    run([GEN, "--seed", "1", "--out", path, "--truth", path + ".json", "-q",
         "--source-networks", networks, "--interval", "60", "--truncated", "8",
         "--vlan-share", "0.1"] + SMALL)
    return path


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_same_seed_same_capture(captures, again):
    assert read_bytes(captures[1][0]) == read_bytes(again), "seed 1 twice: captures differ"


def test_same_seed_same_truth(captures, again):
    assert read_bytes(captures[1][0][:-5] + ".json") == read_bytes(again + ".json"), \
        "seed 1 twice: truths differ"


def test_other_seed_other_capture(captures, tshark_dir):
    other = os.path.join(tshark_dir, "other.pcap")
    run([GEN, "--seed", "5", "--out", other, "-q"] + SMALL)
    assert read_bytes(captures[1][0])[:4096] != read_bytes(other)[:4096], \
        "seeds 1 and 5 give the same capture"


def test_bench_frames_within_their_range(captures):
    lens = {int(x) for x in run(["tshark", "-r", captures[3][0], "-T", "fields", "-e",
                                 "frame.len"]).split()}
    assert min(lens) >= 60 and max(lens) <= 78, \
        f"bench frame sizes {min(lens)}..{max(lens)} outside 60-78"
