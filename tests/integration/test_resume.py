"""A live restart in the middle of an hour or day keeps what the earlier run stored.

The same capture is replayed live twice, one darkscope after the other, into one history file.
The hour and day rollups of the second run must merge the first run's instead of replacing them:
every stored hour and day holds the packets and bytes of the intervals stored for it (read back
with Python's sqlite3, independently of darkscope), in all twice the generator's counts, and a
day that both runs fed has the union of their sources (the same sources, so the generator's
distinct count within 2%), not their sum."""
import os
import sqlite3

import pytest

import dsharness as h


@pytest.fixture(scope="module")
def runs(env):
    """The two runs' counts and exit statuses, the history they wrote and the truth."""
    pcap, truth = env.generate("resume", "--seed", "31", "--packets", "20000", "--profile",
                               "demo")
    db = os.path.join(env.tmp, "history.sqlite")
    results = []
    for run in (1, 2):
        prefix = "%s_r%d" % (env.prefix, run)
        proc = env.start(env.base_args(prefix=prefix) + [
            "--config", os.path.join(env.src, "conf", "demo.conf"),
            "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
            "--db", db])
        h.wait_socket(prefix, proc)
        stats = h.wait_packets(prefix, truth["packets"], timeout=90)
        results.append({"packets": stats.get("packets"), "exit": h.stop(proc)})
    con = sqlite3.connect(db)
    yield {"truth": truth, "runs": results, "db": con}
    con.close()


def totals(con, resolution):
    return {start: (packets, nbytes, sources) for start, packets, nbytes, sources in con.execute(
        "select p.start, r.packets, r.bytes, r.sources from periods p join rows r on "
        "r.period_id = p.id where p.resolution = ? and r.dimension = 'total'", (resolution,))}


def test_each_run_counted_the_capture(runs):
    want = runs["truth"]["packets"]
    h.no_errors(["run %d counted %s packets, truth %d" % (i + 1, r["packets"], want)
                 for i, r in enumerate(runs["runs"]) if r["packets"] != want])


def test_each_run_exits_0_on_sigint(runs):
    h.no_errors(["run %d: exit status after SIGINT: %d" % (i + 1, r["exit"])
                 for i, r in enumerate(runs["runs"]) if r["exit"] != 0])


def test_intervals_hold_twice_the_truth(runs):
    truth = runs["truth"]
    intervals = totals(runs["db"], "interval")
    packets = sum(v[0] for v in intervals.values())
    nbytes = sum(v[1] for v in intervals.values())
    print("two runs: %d intervals stored, %d packets, %d bytes (truth, once: %d packets, %d "
          "bytes)" % (len(intervals), packets, nbytes, truth["packets"], truth["bytes"]))
    assert (packets, nbytes) == (2 * truth["packets"], 2 * truth["bytes"]), \
        "intervals hold %d packets, %d bytes; want twice the truth: %d, %d" % (
            packets, nbytes, 2 * truth["packets"], 2 * truth["bytes"])


@pytest.mark.parametrize("resolution,length", [("hour", 3600), ("day", 86400)])
def test_rollups_hold_their_intervals(runs, resolution, length):
    intervals = totals(runs["db"], "interval")
    rollups = totals(runs["db"], resolution)
    want = {}
    for start, (p, b, _) in intervals.items():
        got = want.setdefault(start - start % length, [0, 0])
        got[0] += p
        got[1] += b
    errors = []
    for start, (p, b) in sorted(want.items()):
        got = rollups.get(start)
        print("%s %d: stored %s, its intervals %d packets, %d bytes" % (resolution, start, got,
                                                                       p, b))
        if got is None or got[:2] != (p, b):
            errors.append("%s %d holds %s; its intervals hold %d packets, %d bytes" % (
                resolution, start, got, p, b))
    if sorted(rollups) != sorted(want):
        errors.append("%s rollups %s for intervals in %s" % (resolution, sorted(rollups),
                                                            sorted(want)))
    h.no_errors(errors)


def test_day_sources_are_the_union_of_the_runs(runs):
    truth = runs["truth"]
    days = totals(runs["db"], "day")
    if len(days) != 1:
        pytest.skip("the runs straddled midnight (UTC): the day's union is not checked")
    sources = next(iter(days.values()))[2]
    print("the day's unique sources: %d (truth %d; the sum of the runs would be %d)" % (
        sources, truth["sources"], 2 * truth["sources"]))
    assert abs(sources - truth["sources"]) <= 0.02 * truth["sources"], \
        "the day's unique sources %d, truth %d: not the union of the two runs" % (
            sources, truth["sources"])
