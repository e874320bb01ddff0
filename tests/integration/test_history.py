"""The SQLite history: one row set per interval with the generator's exact totals and
per-dimension sums; hourly rollups whose unique sources are the union of the hour's intervals
(not their sum); files given out of time order read in time order; kill -9 in the middle of a live run leaves a database that opens cleanly with
every interval committed before the kill, and a restart appends. SIGHUP reloads attribution."""
import collections
import os
import signal
import sqlite3
import subprocess
import time

import pytest

import dsharness as h


def demo_conf(env):
    return os.path.join(env.src, "conf", "demo.conf")


@pytest.fixture(scope="module")
def history(env):
    """(capture, truth, an open connection to the history of its offline run)."""
    pcap, truth = env.generate("hist", "--seed", "9", "--packets", "40000", "--profile", "demo",
                               "--duration", "7200", "--interval", "300")
    db = os.path.join(env.tmp, "history.sqlite")
    env.run(env.base_args() + ["--config", demo_conf(env), "--read", pcap, "--db", db,
                               "--interval", "300"])
    con = sqlite3.connect(db)
    yield pcap, truth, con
    con.close()


def interval_periods(con):
    return {start: pid for pid, start in con.execute(
        "select id, start from periods where resolution = 'interval'")}


def test_one_period_per_interval_of_the_truth(history):
    _, truth, con = history
    periods = interval_periods(con)
    want = sorted(i["start"] for i in truth["intervals"] if i["packets"])
    assert sorted(periods) == want, "interval periods %s, truth %s" % (sorted(periods), want)


def test_interval_totals_equal_truth(history):
    _, truth, con = history
    want = {i["start"]: i for i in truth["intervals"] if i["packets"]}
    errors = []
    for start, pid in interval_periods(con).items():
        t = want.get(start)
        if not t:
            continue
        total = con.execute("select packets, bytes from rows where period_id = ? and "
                            "dimension = 'total'", (pid,)).fetchone()
        if total != (t["packets"], t["bytes"]):
            errors.append("interval %d: total %s, truth %s" % (start, total,
                                                               (t["packets"], t["bytes"])))
    h.no_errors(errors)


def test_interval_dimensions_sum_to_the_total(history):
    _, truth, con = history
    want = {i["start"]: i for i in truth["intervals"] if i["packets"]}
    errors = []
    for start, pid in interval_periods(con).items():
        t = want.get(start)
        if not t:
            continue
        for dim in ("class", "sensor", "service", "country"):
            s = con.execute("select sum(packets) from rows where period_id = ? and "
                            "dimension = ?", (pid, dim)).fetchone()[0]
            if s != t["packets"]:
                errors.append("interval %d: dimension %s sums to %s, total %d" % (
                    start, dim, s, t["packets"]))
    h.no_errors(errors)


@pytest.fixture(scope="module")
def hour_sources(history):
    """tshark's exact distinct outer sources per hour of the capture."""
    out = subprocess.run(["tshark", "-r", history[0], "-T", "fields", "-e", "frame.time_epoch",
                          "-e", "ip.src", "-e", "ipv6.src"], check=True, capture_output=True,
                         text=True).stdout
    sources = collections.defaultdict(set)
    for line in out.splitlines():
        t, v4, v6 = (line.split("\t") + ["", ""])[:3]
        src = (v4 or v6).split(",")[0]
        if src:
            sec = int(float(t))
            sources[sec - sec % 3600].add(src)
    return sources


def test_hour_sources_are_the_union_of_its_intervals(history, hour_sources):
    # Unique sources of the hour are the union of its intervals' sources: tshark's exact
    # distinct count of the hour's outer sources, within 2% (the rollup's sketch is P = 16).
    _, truth, con = history
    errors = []
    for hour_start, pid in con.execute("select start, id from periods where "
                                       "resolution = 'hour'").fetchall():
        got = con.execute("select sources from rows where period_id = ? and "
                          "dimension = 'total'", (pid,)).fetchone()[0]
        want = len(hour_sources.get(hour_start, ()))
        summed = sum(i["sources"] for i in truth["intervals"]
                     if hour_start <= i["start"] < hour_start + 3600)
        print("hour %d: %d unique sources stored, tshark %d distinct, its intervals sum to %d" %
              (hour_start, got, want, summed))
        if abs(got - want) > 0.02 * want:
            errors.append("hour %d: sources %d, tshark counts %d distinct" % (hour_start, got,
                                                                              want))
    h.no_errors(errors)


def test_one_rollup_per_hour_of_the_capture(history, hour_sources):
    con = history[2]
    hours = con.execute("select count(*) from periods where resolution = 'hour'").fetchone()[0]
    assert hours == len(hour_sources), "%d hour rollups stored, the capture spans %d hours" % (
        hours, len(hour_sources))


def test_day_sources_within_2_percent(history):
    _, truth, con = history
    day = con.execute("select r.sources from rows r join periods p on p.id = r.period_id where "
                      "p.resolution = 'day' and r.dimension = 'total'").fetchall()
    assert len(day) == 1 and abs(day[0][0] - truth["sources"]) <= 0.02 * truth["sources"], \
        "day rollup sources %s, truth %d distinct" % (day, truth["sources"])


def test_files_out_of_time_order_read_in_time_order(env):
    # Files given out of time order are read in the order of their first packets: a day's
    # capture given after the next day's still lands in its own intervals (and that day exists).
    day1, truth1 = env.generate("day1", "--seed", "12", "--packets", "3000", "--profile", "demo",
                                "--start", "1363046400", "--duration", "600", "--interval",
                                "300")
    day2, truth2 = env.generate("day2", "--seed", "13", "--packets", "3000", "--profile", "demo",
                                "--start", "1363132800", "--duration", "600", "--interval",
                                "300")
    order_db = os.path.join(env.tmp, "order.sqlite")
    env.run(env.base_args(prefix=env.prefix + "o") + ["--config", demo_conf(env), "--read", day2,
                                                      day1, "--db", order_db, "--interval",
                                                      "300"])
    con = sqlite3.connect(order_db)
    stored = {(res, start): n for res, start, n in con.execute(
        "select p.resolution, p.start, r.packets from periods p join rows r on "
        "r.period_id = p.id where r.dimension = 'total'")}
    con.close()
    want = {("interval", i["start"]): i["packets"] for t in (truth1, truth2)
            for i in t["intervals"] if i["packets"]}
    want[("day", 1363046400)] = truth1["packets"]
    want[("day", 1363132800)] = truth2["packets"]
    got = {k: v for k, v in stored.items() if k[0] != "hour"}
    print("--read day2 day1: stored %s" % sorted(got.items()))
    assert got == want, "--read of two days given in reverse order stored %s, truth %s" % (
        sorted(got.items()), sorted(want.items()))


@pytest.fixture(scope="module")
def killed(env, history):
    """A live run killed with SIGKILL once it has written a few periods, then a restart on the
    same history: what the database held after the kill and after the restart."""
    live_db = os.path.join(env.tmp, "live.sqlite")
    # infinite_rx keeps the capture in mbufs: the pool must hold all of it.
    replay = ["--config", demo_conf(env), "--port",
              "net_pcap0,rx_pcap=%s,infinite_rx=1" % history[0], "--interval", "1",
              "--link-wait", "0", "--db", live_db, "--mbufs", "65535", "--memory", "1024",
              "--no-huge", "--log-level", "warning"]
    proc = env.start(["--file-prefix", env.prefix] + replay)
    h.wait_socket(env.prefix, proc)
    deadline = time.time() + 60
    while time.time() < deadline and h.telemetry(env.prefix, "/darkscope/stats").get(
            "store_written", 0) < 3:
        time.sleep(0.2)
    got = {"written": h.telemetry(env.prefix, "/darkscope/stats").get("store_written", 0)}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(live_db)
    got["integrity"] = con.execute("pragma integrity_check").fetchone()[0]
    # store_written counts every period, hour and day rollups too (one lands when the run
    # crosses a UTC hour).
    got["intervals"] = con.execute("select count(*) from periods where "
                                   "resolution = 'interval'").fetchone()[0]
    got["periods"] = con.execute("select count(*) from periods").fetchone()[0]
    con.close()
    env.run(["--file-prefix", env.prefix + "b"] + replay + ["--duration", "3"], timeout=120)
    con = sqlite3.connect(live_db)
    got["intervals_after_restart"] = con.execute(
        "select count(*) from periods where resolution = 'interval'").fetchone()[0]
    con.close()
    return got


def test_kill_9_leaves_every_committed_period(killed):
    assert killed["integrity"] == "ok" and killed["periods"] >= killed["written"] and \
        killed["intervals"] >= 1, \
        "after kill -9: integrity %s, %d intervals stored, %d reported written" % (
            killed["integrity"], killed["intervals"], killed["written"])


def test_restart_after_kill_9_appends(killed):
    assert killed["intervals_after_restart"] > killed["intervals"], \
        "restart did not append: %d intervals before, %d after" % (
            killed["intervals"], killed["intervals_after_restart"])


@pytest.fixture(scope="module")
def sighup(env):
    """reloads_ok before and after a SIGHUP to a live darkscope with attribution, and its exit
    status."""
    nets = os.path.join(env.tmp, "nets.csv")
    small, _ = env.generate("hup", "--seed", "4", "--packets", "2000", "--write-networks", nets,
                            "--source-networks", nets)
    prefix = env.prefix + "c"
    proc = env.start(env.base_args(prefix=prefix) + [
        "--config", demo_conf(env), "--port", "net_pcap0,rx_pcap=" + small, "--link-wait", "0",
        "--interval", "1"] + h.geo_csvs(nets, env.tmp))
    h.wait_socket(prefix, proc)
    before = h.telemetry(prefix, "/darkscope/geo")["reloads_ok"]
    proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 30
    after = before
    while time.time() < deadline and after == before:
        time.sleep(0.2)
        after = h.telemetry(prefix, "/darkscope/geo")["reloads_ok"]
    return {"before": before, "after": after, "exit": h.stop(proc)}


def test_sighup_reloads_attribution(sighup):
    assert sighup["after"] == sighup["before"] + 1, "SIGHUP: reloads_ok %d -> %d" % (
        sighup["before"], sighup["after"])


def test_sighup_run_exits_0(sighup):
    assert sighup["exit"] == 0, "SIGHUP run did not exit 0"
