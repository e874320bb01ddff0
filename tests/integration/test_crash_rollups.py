"""A crash loses at most the documented checkpoint of the hour and day rollups (docs/schema.md,
--rollup-checkpoint). 20 live runs, each killed with SIGKILL at a random moment of its traffic and
each restarted on the history file the previous one left: at the end, the stored hour and day
rows hold the packets and bytes of the stored interval rows of the same span, less at most what
each kill can cost them (the intervals closed within one checkpoint period and one interval
before it), and never more; their unique sources are the union of the runs', not the sum. Read
back with Python's sqlite3, independently of darkscope. The traffic is the same capture offered
by ds_paced_gen over memif at a fixed rate, so each kill falls inside a known stretch of it."""
import os
import random
import signal
import sqlite3
import time

import dsharness as h

RUNS = 20
# 8 s of traffic a run, killed after 3 s or more: a kill may cost the rollups about 3 intervals
# (below), a small part of the run's.
RATE = 2000  # packets per second
PACKETS = 16000
CHECKPOINT_S = 1
INTERVAL_S = 1


def test_kill_loop_loses_at_most_the_checkpoint(env, paced_gen):
    pcap, truth = env.generate("crash", "--seed", "32", "--packets", str(PACKETS), "--profile",
                               "demo")
    db = os.path.join(env.tmp, "history.sqlite")
    conf = os.path.join(env.src, "conf", "demo.conf")
    rng = random.Random(25)
    kills = []  # wall time of each kill
    for run in range(RUNS):
        prefix = "%s_r%d" % (env.prefix, run)
        gen = h.PacedGenerator(env, paced_gen, pcap, RATE, linger=60)
        share = gen.place(conf)
        gen.start()
        proc = env.start(env.base_args(prefix=prefix) + [
            "--config", conf, "--port", gen.port_spec, "--interval", str(INTERVAL_S),
            "--link-wait", "10", "--rollup-checkpoint", str(CHECKPOINT_S), "--db", db] + share)
        try:
            h.wait_socket(prefix, proc)
            time.sleep(rng.uniform(3, PACKETS / RATE + 0.5))
            kills.append(time.time())
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            gen.close()
        print("run %d killed" % (run + 1), flush=True)

    con = sqlite3.connect(db)

    def totals(resolution):
        return {start: (packets, nbytes, sources) for start, packets, nbytes, sources in
                con.execute("select p.start, r.packets, r.bytes, r.sources from periods p join "
                            "rows r on r.period_id = p.id where p.resolution = ? and "
                            "r.dimension = 'total'", (resolution,))}

    intervals = totals("interval")
    packets = sum(v[0] for v in intervals.values())
    nbytes = sum(v[1] for v in intervals.values())
    # What each kill may cost the rollups: the packets of the intervals that closed within a
    # checkpoint period and an interval before it (the checkpoint runs at the first interval
    # close after the period), as the interval rows stored them.
    allowance = 0
    for kill in kills:
        allowance += sum(p for start, (p, _, _) in intervals.items()
                         if kill - (CHECKPOINT_S + 2 * INTERVAL_S) <= start + INTERVAL_S <= kill)
    print("%d killed runs: %d intervals stored, %d packets, %d bytes; allowed rollup loss %d "
          "packets" % (RUNS, len(intervals), packets, nbytes, allowance), flush=True)
    errors = []
    if packets == 0:
        errors.append("no interval rows stored")
    for resolution in ("hour", "day"):
        rollups = totals(resolution)
        got = sum(v[0] for v in rollups.values())
        print("%s rows: %d packets (intervals %d, %d lost)" % (resolution, got, packets,
                                                               packets - got), flush=True)
        if got > packets:
            errors.append("%s rows hold %d packets, more than their intervals' %d" % (
                resolution, got, packets))
        elif packets - got > allowance:
            errors.append("%s rows hold %d packets, their intervals %d: %d lost in %d kills, "
                          "more than the checkpoint allows (%d)" % (
                              resolution, got, packets, packets - got, RUNS, allowance))
    days = totals("day")
    if len(days) == 1:
        sources = next(iter(days.values()))[2]
        print("the day's unique sources: %d (the capture has %d)" % (sources, truth["sources"]))
        if sources > 1.02 * truth["sources"]:
            errors.append("the day's unique sources %d, the capture has %d: the runs' sources "
                          "were added, not united" % (sources, truth["sources"]))
    else:
        print("the runs straddled midnight (UTC): the day's union is not checked")
    h.no_errors(errors)
