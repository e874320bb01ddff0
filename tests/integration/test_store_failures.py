"""Names and writes that collide with the history: a sensor named like a row darkscope writes
itself (unmatched, none, ...) is refused at start-up with exit 2, and a history write that
fails for good (here a database whose tables refuse every insert, made with sqlite3) is counted
in store_dropped as well as store_errors, never lost silently."""
import json
import os
import sqlite3
import sys

import dsharness as h
import pytest


def test_store_failures(env):
    errors = []
    pcap, truth = env.generate("names", "--seed", "7", "--packets", "3000")

    for name in ["unmatched", "none", "other", "Unmatched", "NONE", "Other"]:
        p = env.run(env.base_args() + ["--read", pcap, "--sensor", name + "=203.0.113.0/24"],
                    check=False, timeout=1200)
        if p.returncode != 2 or name not in p.stderr or "reserved" not in p.stderr:
            errors.append("sensor %r: exit %d, stderr %r (want exit 2 naming it reserved)" % (
                name, p.returncode, p.stderr.strip()[-200:]))
    # Names that are no sensor row key stay allowed.
    p = env.run(env.base_args() + ["--read", pcap, "--sensor", "all=203.0.113.0/24"],
                check=False, timeout=1200)
    if p.returncode != 0:
        errors.append("sensor 'all' refused: %r" % p.stderr.strip()[-200:])

    # A database that refuses every period insert: each failed write is a dropped period.
    db = os.path.join(env.tmp, "history.db")
    summary = os.path.join(env.tmp, "first.json")
    env.run(env.base_args() + ["--read", pcap, "--db", db, "--summary", summary], timeout=1200)
    con = sqlite3.connect(db)
    for table in ("periods", "rows"):
        con.execute("CREATE TRIGGER refuse_%s BEFORE INSERT ON %s BEGIN SELECT RAISE(ABORT, "
                    "'refused by the test'); END" % (table, table))
        con.execute("CREATE TRIGGER refuse_update_%s BEFORE UPDATE ON %s BEGIN SELECT RAISE(ABORT, "
                    "'refused by the test'); END" % (table, table))
    con.commit()
    con.close()
    summary = os.path.join(env.tmp, "second.json")
    env.run(env.base_args() + ["--read", pcap, "--db", db, "--summary", summary], check=False, timeout=1200)
    with open(summary) as f:
        stats = json.load(f)["/darkscope/stats"]
    print("store stats:", {k: v for k, v in stats.items() if k.startswith("store")})
    if stats.get("store_written") != 0 or not stats.get("store_errors"):
        errors.append("refusing database: written %s, errors %s (want 0 written, errors > 0)" % (
            stats.get("store_written"), stats.get("store_errors")))
    if stats.get("store_dropped") != stats.get("store_errors"):
        errors.append("refusing database: %s writes failed for good but store_dropped is %s" % (
            stats.get("store_errors"), stats.get("store_dropped")))
    h.no_errors(errors)
