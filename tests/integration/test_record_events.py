"""Event captures (--record-dir with --record-events on): a capture with a planted surge of
21318/tcp and a planted DoS victim, plus sparse 21318/tcp probes before and after the surge (so
that both edges of the window are tested), read offline. Each event's file holds exactly the
packets of its key in [detection - pre-trigger, end + tail): the same count, bytes and
timestamps as tshark's filtering of the input by that key, with the window computed from the
event's phases in the history; nothing else. A scanner's file likewise holds every packet of its
source in its window. The event's log line, history JSON and telemetry
entry name the file."""
import json
import os
import re
import sqlite3
import struct
import subprocess

import pytest

import dsharness as h

PRETRIGGER = 300
TAIL = 120
SERVICE_PORT = 21318


def write_pcap(path, header, scale, packets):
    with open(path, "wb") as f:
        f.write(header)
        for ts, orig, raw in packets:
            f.write(struct.pack("<IIII", ts // 1_000_000_000, (ts % 1_000_000_000) // scale,
                                len(raw), orig))
            f.write(raw)


def tshark_frames(pcap, display_filter, outer_source=None):
    """Frame numbers (1-based) of the input packets tshark's filter selects; outer_source: only
    those whose outermost IPv4 source is that address."""
    p = subprocess.run(["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields", "-e",
                        "frame.number", "-e", "ip.src"], capture_output=True, text=True,
                       check=True)
    frames = []
    for line in p.stdout.splitlines():
        number, _, sources = line.partition("\t")
        if outer_source is None or sources.split(",")[0] == outer_source:
            frames.append(int(number))
    return frames


@pytest.fixture(scope="module")
def run(env):
    nets = os.path.join(env.tmp, "nets.csv")
    generated, truth = env.generate("evrec", "--seed", "1", "--profile", "events",
                                    "--write-networks", nets, "--source-networks", nets)
    surge = next(e for e in truth["events"] if e["kind"] == "surge" and
                 e["service"] == "%d/tcp" % SERVICE_PORT)
    header, scale, packets = h.read_pcap(generated)
    # The surge's first probe gives a destination at its sensor for the sparse probes.
    first = tshark_frames(generated, "tcp.dstport == %d && !icmp" % SERVICE_PORT)[0]
    from scapy.all import Ether, IP, TCP  # /usr/bin/python3 has scapy
    probe_dst = str(Ether(packets[first - 1][2])[IP].dst)
    extra = []
    times = list(range(surge["start"] - 1200, surge["start"], 20)) + \
        list(range(surge["end"], surge["end"] + 900, 20))
    for k, t in enumerate(times):
        raw = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                    IP(src="198.51.100.7", dst=probe_dst, id=k + 1, ttl=50) /
                    TCP(sport=40000 + k, dport=SERVICE_PORT, flags="S", seq=1000 + k))
        extra.append((t * 1_000_000_000 + 123_456_000, len(raw), raw))
    pcap = os.path.join(env.tmp, "evrec-planted.pcap")
    write_pcap(pcap, header, scale, sorted(packets + extra, key=lambda p: p[0]))

    directory = os.path.join(env.tmp, "rec")
    db = os.path.join(env.tmp, "history.sqlite")
    summary = os.path.join(env.tmp, "summary.json")
    p = env.run(record_args(env, pcap, truth, directory, db, summary) +
                h.geo_csvs(nets, env.tmp))
    con = sqlite3.connect(db)
    phases = {}
    for event_id, phase, text in con.execute(
            "select event_id, phase, json from events order by time, id"):
        phases.setdefault(event_id, {})[phase] = json.loads(text)
    con.close()
    _, _, source = h.read_pcap(pcap)
    return {"pcap": pcap, "source": source, "dir": directory, "phases": phases,
            "log": p.stdout + p.stderr, "truth": truth, "summary": env.summary(summary),
            "nets": nets}


def record_args(env, pcap, truth, directory, db, summary):
    args = env.base_args()
    args[args.index("--log-level") + 1] = "info"
    return args + ["--config", os.path.join(env.src, "conf", "demo.conf"), "--read", pcap,
                   "--interval", str(truth["generator"]["interval"]), "--db", db,
                   "--summary", summary, "--record-dir", directory,
                   "--record-filter", "proto=icmp", "--record-pretrigger", str(PRETRIGGER),
                   "--record-event-tail", str(TAIL)]


def check_capture(run, event_id, display_filter, both_edges, outer_source=None):
    """The event's file against tshark's filtering of the input by its key and window;
    both_edges: the input has key packets before and after the window."""
    errors = []
    phases = run["phases"].get(event_id)
    if not phases or "start" not in phases or "end" not in phases:
        return ["event %s: phases %s in the history, want start and end" % (
            event_id, sorted(phases or {}))]
    path = phases["start"].get("capture")
    if not path:
        return ["event %s: no capture in its history JSON" % event_id]
    for phase, e in phases.items():
        if e.get("capture") != path:
            errors.append("event %s: phase %s names %s, start names %s" % (
                event_id, phase, e.get("capture"), path))
    if not os.path.exists(path) or os.path.exists(path + ".part"):
        return errors + ["event %s: %s not complete (exists %s)" % (
            event_id, path, os.path.exists(path))]
    if os.path.dirname(path) != os.path.join(run["dir"], "events"):
        errors.append("event %s: capture %s not in DIR/events" % (event_id, path))
    lines = [l for l in run["log"].splitlines() if "id=%s " % event_id in l + " "]
    if not lines or any("capture=%s" % path not in l for l in lines):
        errors.append("event %s: log lines %s do not all name capture=%s" % (event_id, lines,
                                                                             path))
    low = (phases["start"]["time"] - PRETRIGGER) * 1_000_000_000
    high = (phases["end"]["time"] + TAIL) * 1_000_000_000
    frames = tshark_frames(run["pcap"], display_filter, outer_source)
    keyed = [run["source"][n - 1] for n in frames]
    want = sorted(p for p in keyed if low <= p[0] < high)
    got = sorted(h.read_recorded(path, errors))
    if both_edges and (not any(p[0] < low for p in keyed) or
                       not any(p[0] >= high for p in keyed)):
        errors.append("event %s: the input has no key packet outside the window on both "
                      "sides: the test would not see a window too wide" % event_id)
    if len(got) != len(want):
        errors.append("event %s: %d packets in %s, tshark: %d of %d key packets in the window"
                      % (event_id, len(got), os.path.basename(path), len(want), len(keyed)))
    elif got != want:
        diff = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
        errors.append("event %s: %d packets differ from the input's (first at %d: %s vs %s)"
                      % (event_id, len(diff), diff[0], got[diff[0]][:2], want[diff[0]][:2]))
    return errors


def test_surge_capture_holds_exactly_its_key_in_the_window(run):
    ids = [i for i, p in run["phases"].items() if "start" in p and
           p["start"].get("dimension") == "service" and
           p["start"].get("key") == "%d/tcp" % SERVICE_PORT]
    assert len(ids) == 1, "surge events of service=%d/tcp: %s" % (SERVICE_PORT, ids)
    h.no_errors(check_capture(run, ids[0], "tcp.dstport == %d && !icmp" % SERVICE_PORT, True))


def test_dos_capture_holds_exactly_the_victims_backscatter(run):
    victim = next(e["victim"] for e in run["truth"]["events"] if e["kind"] == "dos")
    ids = [i for i, p in run["phases"].items() if "start" in p and
           p["start"].get("kind") == "dos" and p["start"].get("victim") == victim]
    assert len(ids) == 1, "dos events on %s: %s" % (victim, ids)
    h.no_errors(check_capture(run, ids[0], "ip.src == %s && !icmp" % victim, False))


def test_telemetry_entries_name_their_captures(run):
    recent = h.ranked(run["summary"]["/darkscope/events,50"])
    errors = []
    for e in recent:
        want = run["phases"].get(e.get("id"), {}).get("start", {}).get("capture")
        if want and e.get("capture") != want:
            errors.append("event %s: telemetry capture %s, history %s" % (
                e.get("id"), e.get("capture"), want))
    if not any(e.get("capture") for e in recent):
        errors.append("no /darkscope/events entry names a capture")
    h.no_errors(errors)


def test_every_event_has_a_complete_capture_and_the_log_counts_them(run):
    files = sorted(os.listdir(os.path.join(run["dir"], "events")))
    named = sorted(os.path.basename(p["start"]["capture"]) for p in run["phases"].values()
                   if "start" in p and p["start"].get("capture"))
    errors = []
    if files != named:
        errors.append("DIR/events holds %s, the events name %s" % (files, named))
    m = re.search(r"record: (\d+) event captures \((\d+) packets", run["log"])
    if not m or int(m.group(1)) != len(named):
        errors.append("final event capture line %s, want %d captures" % (
            m.group(0) if m else None, len(named)))
    h.no_errors(errors)


def test_scanner_capture_holds_exactly_the_sources_packets(run):
    ended = sorted(i for i, p in run["phases"].items() if "start" in p and "end" in p and
                   p["start"].get("kind") == "scanner" and ":" not in p["start"]["source"])
    assert ended, "no scanner event started and ended in the run"
    # The first ended IPv4 scanner: tshark's outer source address (an ICMP error's quoted
    # header would carry the address too).
    event_id = ended[0]
    source = run["phases"][event_id]["start"]["source"]
    errors = check_capture(run, event_id, "ip.src == %s" % source, False, outer_source=source)
    h.no_errors(errors)


def test_two_workers_capture_the_same_packets(env, run):
    """Each worker keeps its own pre-trigger and the captures read them all: two workers'
    files hold the same packets as one worker's (in each worker's order, so compared sorted)."""
    directory = os.path.join(env.tmp, "rec2")
    env.run(record_args(env, run["pcap"], run["truth"], directory,
                        os.path.join(env.tmp, "history2.sqlite"),
                        os.path.join(env.tmp, "summary2.json")) +
            ["--workers", "2", "--share-cpus"] + h.geo_csvs(run["nets"], env.tmp))
    errors = []
    one = sorted(os.listdir(os.path.join(run["dir"], "events")))
    two = sorted(os.listdir(os.path.join(directory, "events")))
    if one != two:
        errors.append("two workers wrote %s, one worker %s" % (two, one))
    for name in set(one) & set(two):
        a = sorted(h.read_recorded(os.path.join(run["dir"], "events", name), errors))
        b = sorted(h.read_recorded(os.path.join(directory, "events", name), errors))
        if a != b:
            errors.append("%s: %d packets with two workers, %d with one" % (name, len(b), len(a)))
    h.no_errors(errors)
