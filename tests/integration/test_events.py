"""Events found in a generated capture with planted events (a surge of a rare service from one
country at one sensor, a spike of a common service at every sensor, a DoS victim's SYN-ACK
backscatter) over a steady background: exactly those surges and that attack, with start and end
within one interval of the generator's truth, in the SQLite history and the summary; a steady
background alone gives no surge and no attack. Then the real corpus: backscatter.trace's DoS on
202.229.120.98 and the masscan sweep's scanner."""
import csv
import datetime
import json
import os
import sqlite3
import subprocess

import pytest

import dsharness as h

# /darkscope/events entries (and the summary's): counts and times are JSON numbers, names
# strings, as in the history's event JSON.
EVENT_NUMBERS = ("start", "end", "asn", "packets", "sources", "destinations", "peak_packets",
                 "peak_ppm")
EVENT_STRINGS = ("id", "kind", "phase", "key", "address", "country", "vector", "tools",
                 "reason")


def ended(db_path, kinds=("surge", "dos")):
    con = sqlite3.connect(db_path)
    rows = con.execute("select json from events where phase = 'end' order by time").fetchall()
    con.close()
    return [e for e in (json.loads(r[0]) for r in rows) if e["kind"] in kinds]


@pytest.fixture(scope="module")
def planted(env):
    """The planted-events capture read offline with a history, a summary and an event hook."""
    conf = os.path.join(env.src, "conf", "demo.conf")
    nets = os.path.join(env.tmp, "nets.csv")
    pcap, truth = env.generate("events", "--seed", "1", "--profile", "events",
                               "--write-networks", nets, "--source-networks", nets)
    interval = truth["generator"]["interval"]
    db = os.path.join(env.tmp, "history.sqlite")
    summary = os.path.join(env.tmp, "events.json")
    hook_out = os.path.join(env.tmp, "hook.jsonl")
    env.run(env.base_args() + ["--config", conf, "--read", pcap, "--db", db, "--summary",
                               summary, "--interval", str(interval),
                               "--event-hook", "cat >> %s; echo >> %s" % (hook_out, hook_out)]
            + h.geo_csvs(nets, env.tmp))
    return {"truth": truth, "interval": interval, "db": db, "summary": env.summary(summary),
            "hook_out": hook_out, "found": ended(db)}


@pytest.fixture(scope="module")
def matched(planted):
    """Each planted event matched with the ended events of the history: {"surge": errors,
    "dos": errors, "used": indexes of the matched events}."""
    truth, interval, found = planted["truth"], planted["interval"], planted["found"]
    out = {"surge": [], "dos": [], "used": set()}
    for want in truth["events"]:
        if want["kind"] == "surge":
            keys = [("service", want["service"])]
            if want.get("sensor"):
                keys.append(("sensor_service", want["sensor"] + "|" + want["service"]))
            if want.get("country"):
                keys.append(("country_service", want["country"] + "|" + want["service"]))
            for dim, key in keys:
                match = [i for i, e in enumerate(found) if e["kind"] == "surge" and
                         e.get("dimension") == dim and e.get("key") == key]
                if len(match) != 1:
                    out["surge"].append("surge %s=%s: %d events, want 1" % (dim, key,
                                                                            len(match)))
                    continue
                e = found[match[0]]
                out["used"].add(match[0])
                if abs(e["start"] - want["start"]) > interval or \
                        abs(e["end"] - want["end"]) > interval:
                    out["surge"].append("surge %s=%s: %s..%s, truth %s..%s" % (
                        dim, key, e["start"], e["end"], want["start"], want["end"]))
        else:
            errors = out["dos"]
            match = [i for i, e in enumerate(found) if e["kind"] == "dos" and
                     e.get("victim") == want["victim"]]
            if len(match) != 1:
                errors.append("dos on %s: %d attacks, want 1" % (want["victim"], len(match)))
                continue
            e = found[match[0]]
            out["used"].add(match[0])
            port = int(want["service"].split("/")[0])
            if e.get("ports") != [port] or "SYN-ACK" not in e.get("vector", ""):
                errors.append("dos vector %s ports %s, want SYN-ACK from %s" % (
                    e.get("vector"), e.get("ports"), want["service"]))
            if e.get("country") != want.get("country"):
                errors.append("dos victim country %s, want %s" % (e.get("country"),
                                                                  want["country"]))
            if abs(e["start"] - want["start"]) > interval or \
                    abs(e["end"] - want["end"]) > interval:
                errors.append("dos %s..%s, truth %s..%s" % (e["start"], e["end"],
                                                            want["start"], want["end"]))
    return out


def test_planted_surges_found_once_within_an_interval(matched):
    h.no_errors(matched["surge"])


def test_planted_dos_found_with_its_vector_and_country(matched):
    h.no_errors(matched["dos"])


def test_no_unexpected_event(planted, matched):
    # The 53/udp spike across all sensors may also surge per sensor; anything else is wrong.
    errors = []
    planted_services = [w["service"] for w in planted["truth"]["events"] if w["kind"] == "surge"]
    for i, e in enumerate(planted["found"]):
        if i in matched["used"]:
            continue
        if e["kind"] == "surge" and any(e.get("key", "").endswith(s) for s in planted_services):
            continue
        errors.append("unexpected event: %s %s %s %s" % (e["kind"], e.get("dimension"),
                                                         e.get("key"), e.get("victim")))
    h.no_errors(errors)


def test_summary_lists_the_dos_event(planted):
    recent = h.ranked(planted["summary"]["/darkscope/events,50"])
    assert any(r.get("kind") == "dos" for r in recent), \
        "the summary's /darkscope/events lists no dos event"


def test_summary_events_carry_numbers_as_numbers(planted):
    recent = h.ranked(planted["summary"]["/darkscope/events,50"])
    errors = []
    for e in recent:
        for k in EVENT_NUMBERS:
            if k in e and (isinstance(e[k], bool) or not isinstance(e[k], int)):
                errors.append("event %s: %s = %r, want a JSON number" % (e.get("id"), k, e[k]))
        for k in EVENT_STRINGS:
            if k in e and not isinstance(e[k], str):
                errors.append("event %s: %s = %r, want a string" % (e.get("id"), k, e[k]))
        for k in ("start", "end", "packets"):
            if k not in e:
                errors.append("event %s has no %s: %r" % (e.get("id"), k, e))
    if not recent:
        errors.append("the summary lists no event")
    h.no_errors(errors)


def test_offline_history_written_without_drops(planted):
    # Offline, a full store queue waits for the writer: every period reached the database.
    stats = planted["summary"]["/darkscope/stats"]
    assert stats.get("store_dropped") == 0 and stats.get("store_written", 0) >= 1, \
        "offline history: %s periods written, %s dropped" % (stats.get("store_written"),
                                                             stats.get("store_dropped"))


def test_hook_received_every_event(planted):
    # The hook got every event phase as JSON on stdin, the DoS attack among them.
    with open(planted["hook_out"]) as f:
        hooked = [json.loads(line) for line in f if line.strip()]
    con = sqlite3.connect(planted["db"])
    stored = con.execute("select count(*) from events").fetchone()[0]
    con.close()
    assert len(hooked) == stored and any(e["kind"] == "dos" for e in hooked), \
        "hook received %d events (%s), the history holds %d" % (
            len(hooked), sorted({e["kind"] for e in hooked}), stored)


@pytest.fixture(scope="module")
def report(env, planted):
    """The period report of the day of the planted events, from their history."""
    day = datetime.datetime.utcfromtimestamp(
        planted["truth"]["generator"]["start"]).strftime("%Y-%m-%d")
    out = os.path.join(env.tmp, "report")
    subprocess.run(["/usr/bin/python3", os.path.join(env.src, "scripts", "darkscope-report"),
                    "--from", day, "--to", day, "--db", planted["db"], "--out", out],
                   check=True)
    return out


@pytest.mark.parametrize("table,key,truth_key", [("services.csv", "service", "services"),
                                                 ("regions.csv", "country", "countries")])
def test_report_top_5_equal_truth(planted, report, table, key, truth_key):
    # The top 5 services and regions in order, with the generator's exact packet counts.
    with open(os.path.join(report, table)) as f:
        got = [(r[key], int(r["packets"])) for r in csv.DictReader(f)][:5]
    want = sorted(((k, v["packets"]) for k, v in planted["truth"][truth_key].items()
                   if k != "??"), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert got == want, "report %s: got %s, want %s" % (table, got, want)


def test_steady_background_gives_no_event(env, planted):
    interval = planted["interval"]
    steady, _ = env.generate("steady", "--seed", "2", "--profile", "demo", "--packets", "60000",
                             "--duration", "14400", "--interval", str(interval))
    steady_db = os.path.join(env.tmp, "steady.sqlite")
    env.run(env.base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"), "--read",
                               steady, "--db", steady_db, "--interval", str(interval)])
    h.no_errors(["steady background gave %s %s %s" % (e["kind"], e.get("key"), e.get("victim"))
                 for e in ended(steady_db)])


@pytest.fixture(scope="module")
def pcaps(env):
    """The shared corpus's captures (skips without them)."""
    path = os.path.join(env.corpus, "pcaps")
    if not os.path.isdir(path):
        pytest.skip("corpus not present (%s)" % path)
    return path


def test_backscatter_trace_dos_found(env, pcaps):
    bs_db = os.path.join(env.tmp, "bs.sqlite")
    # Corsaro's default needs 30 packets in some minute; this victim peaks at 11 (a tcpdump
    # count of its SYN-ACKs per minute says so), so the real capture is judged with 10.
    env.run(env.base_args() + ["--read", os.path.join(pcaps, "ncsa-bro-simple-scan",
                                                      "backscatter.trace"),
                               "--sensor", "dark=192.150.0.0/16", "--db", bs_db,
                               "--dos-min-window-packets", "10"])
    attacks = [e for e in ended(bs_db, ("dos",)) if e.get("victim") == "202.229.120.98"]
    assert attacks and "SYN-ACK from 80/tcp" in attacks[0].get("vector", ""), \
        "backscatter.trace: no SYN-ACK-from-80 attack on 202.229.120.98: %s" % [
            (e.get("victim"), e.get("vector")) for e in ended(bs_db, ("dos",))]


def test_masscan_sweep_found_as_one_scanner(env, pcaps):
    ms_db = os.path.join(env.tmp, "ms.sqlite")
    env.run(env.base_args() + [
        "--read", os.path.join(pcaps, "esnet-curated", "attacks", "scanners", "masscan",
                               "tcp_0_1000_20190821.pcap"),
        "--sensor", "all=0.0.0.0/0", "--db", ms_db])
    scanners = ended(ms_db, ("scanner",))
    assert len(scanners) == 1 and "masscan" in scanners[0].get("tools", []), \
        "masscan capture: want one scanner flagged masscan, got %s" % [
            (e.get("source"), e.get("tools")) for e in scanners]
