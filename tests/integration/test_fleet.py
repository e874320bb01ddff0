"""Two appliances, one truth: two darkscope runs with different --appliance names and sensors
replay two generated captures (their sources overlap on purpose) into a two-shard ClickHouse
cluster. Through the Distributed tables: packets and bytes per service, country and sensor equal
the generators' truth added up, and the fleet-wide unique sources per service and country equal
the size of the union of the two captures' source sets (not the sum of the two appliances'
counts). Each darkscope's spool is empty at the end and /darkscope/config shows no password.

Both darkscope runs also write their own SQLite history (--db). darkscope-report --fleet on the
cluster then ranks the top 5 services and regions as the union truth says, with the packets,
bytes and rankings of the two SQLite histories added up here, and unique sources equal to the
exact distinct count over both captures (which the SQLite histories can only bound: at least
their largest single count, at most the sum of all of them).

The same two captures exported with --fleet-tuples off (aggregates only) ship each interval's
source sketches instead of tuples: the fleet report merges them, and its unique sources are
again the union's size (exact: small captures keep the sketches sparse), above the largest
single count of one appliance's interval that the totals alone give."""
import json
import os
import sqlite3
import subprocess
import sys
import time

import clickhouse_cluster as chc
import dsharness as h
import pytest


def test_fleet(env):
    if not chc.available():
        h.fail("clickhouse-server is not installed (scripts/setup.sh installs it)")
    cluster = chc.Cluster(os.path.join(env.tmp, "clickhouse")).start()
    errors = []
    try:
        fleet_tool = os.path.join(env.src, "scripts", "darkscope-fleet")
        subprocess.run(["/usr/bin/python3", fleet_tool, "init", "--cluster", chc.CLUSTER] +
                       sum((["--url", s.url + "?database=darkscope"] for s in cluster.servers), []),
                       check=True)

        nets = os.path.join(env.tmp, "nets.csv")
        subprocess.run(["/usr/bin/python3", env.gen, "--write-networks", nets], check=True)
        geo = h.geo_csvs(nets, env.tmp)
        # The same seed draws the same source pool: capture B (fewer packets, other times, other
        # sensors) shares most of A's sources, which is what makes summed unique counts wrong.
        sensors_a = ["tokyo-a=203.0.113.0/24", "tokyo-b=198.51.100.0/24"]
        sensors_b = ["osaka=192.0.2.0/24,2001:db8:d::/48", "kyoto=203.0.113.0/24"]
        common = ["--profile", "demo", "--source-networks", nets, "--truth-source-sets",
                  "--interval", "60", "--sources", "400"]
        pcap_a, truth_a = env.generate("a", "--seed", "31", "--packets", "12000", "--duration",
                                       "600", *common, *sum((["--sensor", s] for s in sensors_a), []))
        pcap_b, truth_b = env.generate("b", "--seed", "31", "--packets", "8000", "--duration", "480",
                                       "--start", "1363046700", *common,
                                       *sum((["--sensor", s] for s in sensors_b), []))

        credentials = os.path.join(env.tmp, "credentials")
        with open(credentials, "w") as f:
            f.write("%s:%s\n" % (chc.USER, chc.PASSWORD))
        dbs = {}
        for name, pcap, sensors, server, auth in (
                ("site-a", pcap_a, sensors_a, cluster.servers[0], ["--fleet-credentials", credentials]),
                ("site-b", pcap_b, sensors_b, cluster.servers[1], [])):
            spool = os.path.join(env.tmp, "spool-" + name)
            dbs[name] = os.path.join(env.tmp, "history-%s.sqlite" % name)
            url = server.url + "?database=darkscope"
            if not auth:  # the other way: credentials in the URL
                url = url.replace("http://", "http://%s:%s@" % (chc.USER, chc.PASSWORD))
            p = env.run(env.base_args(prefix=env.prefix + name) + [
                "--read", pcap, "--interval", "60", "--appliance", name, "--fleet-url", url,
                "--fleet-spool", spool, "--db", dbs[name]] + auth + geo +
                sum((["--sensor", s] for s in sensors), []))
            if chc.PASSWORD in p.stdout + p.stderr:
                errors.append("%s: the password appears in darkscope's output" % name)
            left = [f for f in os.listdir(spool) if f.endswith(".interval")]
            if left:
                errors.append("%s: %d intervals left in the spool: %s" % (name, len(left), left[:3]))

        ch = cluster.servers[0]

        def fleet(sql):
            return ch.rows(sql, database="darkscope")

        # Each appliance's intervals, once each, with the truth's packets.
        for name, truth in (("site-a", truth_a), ("site-b", truth_b)):
            got = {int(s): (int(n), int(p), int(b)) for s, n, p, b in fleet(
                "SELECT toUInt32(interval_start), count(), sum(packets), sum(bytes) FROM intervals "
                "WHERE appliance = '%s' GROUP BY interval_start" % name)}
            want = {i["start"]: (1, i["packets"], i["bytes"]) for i in truth["intervals"]
                    if i["packets"]}
            if got != want:
                errors.append("%s: intervals (start: count, packets, bytes) %s, truth %s" % (
                    name, sorted(got.items())[:4], sorted(want.items())[:4]))

        def added(*maps):
            out = {}
            for m in maps:
                for k, v in m.items():
                    o = out.setdefault(k, [0, 0])
                    o[0] += v["packets"]
                    o[1] += v["bytes"]
            return {k: tuple(v) for k, v in out.items() if v[0]}

        # Per-dimension totals (every key of every interval) against the truth added up.
        for dim, want in (("service", added(truth_a["services"], truth_b["services"])),
                          ("country", added(truth_a["countries"], truth_b["countries"])),
                          ("sensor", added(truth_a["sensors"], truth_b["sensors"]))):
            got = {k: (int(p), int(b)) for k, p, b in fleet(
                "SELECT key, sum(packets), sum(bytes) FROM totals WHERE dimension = '%s' AND "
                "key NOT IN ('none', 'unmatched', 'other') GROUP BY key" % dim)}
            got = {k: v for k, v in got.items() if v[0]}
            if got != want:
                diff = sorted(set(got.items()) ^ set(want.items()))[:6]
                errors.append("totals per %s differ from the truth added up: %s" % (dim, diff))

        # The same from the source tuples (no spills at this size: they hold every packet).
        tuple_services = {k: (int(p), int(b)) for k, p, b in fleet(
            "SELECT service, sum(packets), sum(bytes) FROM tuples WHERE probe = 1 GROUP BY service")}
        want = added(truth_a["services"], truth_b["services"])
        if tuple_services != want:
            errors.append("tuples per service differ from the truth added up: %s" % sorted(
                set(tuple_services.items()) ^ set(want.items()))[:6])
        tuple_sensors = {k: (int(p), int(b)) for k, p, b in fleet(
            "SELECT sensor, sum(packets), sum(bytes) FROM tuples WHERE sensor != 'unmatched' "
            "GROUP BY sensor")}
        want = added(truth_a["sensors"], truth_b["sensors"])
        if tuple_sensors != want:
            errors.append("tuples per sensor %s, truth added up %s" % (tuple_sensors, want))

        # Fleet-wide unique sources: the union's size, which the overlap makes smaller than the sum.
        overlap = 0
        for dim, column, extra, sets in (
                ("service", "service", "probe = 1", "service_source_sets"),
                ("country", "country", "1", "country_source_sets")):
            got = {k: int(n) for k, n in fleet(
                "SELECT %s, uniqExact(source) FROM tuples WHERE %s GROUP BY %s" % (
                    column, extra, column))}
            want = {}
            for k in set(truth_a[sets]) | set(truth_b[sets]):
                a, b = set(truth_a[sets].get(k, [])), set(truth_b[sets].get(k, []))
                want[k] = len(a | b)
                overlap += len(a & b)
            if got != want:
                errors.append("unique sources per %s: fleet %s, union of the captures %s" % (
                    dim, sorted(set(got.items()) ^ set(want.items()))[:6], ""))
            per_appliance = {}
            for a, k, n in fleet("SELECT appliance, %s, uniqExact(source) FROM tuples WHERE %s "
                                 "GROUP BY appliance, %s" % (column, extra, column)):
                per_appliance[k] = per_appliance.get(k, 0) + int(n)
            print("%s: %d keys; unique sources fleet-wide %d, the appliances' own counts sum to %d"
                  % (dim, len(got), sum(got.values()), sum(per_appliance.values())))
        if overlap == 0:
            errors.append("the two captures share no source: the union check proves nothing")
        print("sources shared by the two captures (per key, summed): %d" % overlap)

        # Both shards hold part of the data (the Distributed tables spread it).
        shares = [int(s.rows("SELECT count() FROM darkscope.intervals_local")[0][0])
                  for s in cluster.servers]
        print("intervals per shard: %s" % shares)
        delivered = sum(1 for t in (truth_a, truth_b) for i in t["intervals"] if i["packets"])
        if sum(shares) != delivered or 0 in shares:
            errors.append("intervals per shard %s" % shares)

        # darkscope-fleet status names both appliances.
        out = subprocess.run(["/usr/bin/python3", fleet_tool, "status", "--url",
                              ch.url + "?database=darkscope"], check=True, capture_output=True,
                             text=True).stdout
        print(out)
        if "site-a" not in out or "site-b" not in out:
            errors.append("darkscope-fleet status does not name both appliances:\n" + out)

        report_failures(env, cluster, credentials, dbs, {"site-a": truth_a, "site-b": truth_b},
                        sensors_a + sensors_b, errors)
        aggregates_only_failures(env, cluster, fleet_tool,
                                 [("site-c", pcap_a, sensors_a), ("site-d", pcap_b, sensors_b)],
                                 geo, {"site-c": truth_a, "site-d": truth_b}, errors)
    finally:
        cluster.stop()
    h.no_errors(errors)


def ranked(totals):
    """[(key, packets, bytes)] by packets, then key (the report's order), without the keys that
    are not ranked."""
    keys = [(k, p, b) for k, (p, b) in totals.items() if k not in ("other", "none") and p]
    return sorted(keys, key=lambda x: (-x[1], x[0]))


def sqlite_added(dbs):
    """The two SQLite histories added up, read here with sqlite3 from their interval periods
    (each moment once): {dimension: {key: [packets, bytes]}} (sensor keys as APPLIANCE/SENSOR,
    as the fleet names them), and {dimension: {key: [largest sources, sum of sources]}}."""
    totals, sources = {}, {}
    for appliance, path in dbs.items():
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        for dim, key, p, b, s_max, s_sum in db.execute(
                "SELECT r.dimension, r.key, sum(r.packets), sum(r.bytes), max(r.sources), "
                "sum(r.sources) FROM rows r JOIN periods p ON p.id = r.period_id "
                "WHERE p.resolution = 'interval' GROUP BY r.dimension, r.key"):
            if dim.startswith("sensor") and key.split("|")[0] not in ("other", "none",
                                                                     "unmatched"):
                key = appliance + "/" + key
            t = totals.setdefault(dim, {}).setdefault(key, [0, 0])
            t[0] += p
            t[1] += b
            u = sources.setdefault(dim, {}).setdefault(key, [0, 0])
            u[0] = max(u[0], s_max)
            u[1] += s_sum
        db.close()
    return totals, sources


def report_failures(env, cluster, credentials, dbs, truths, sensors, errors):
    report = os.path.join(env.src, "scripts", "darkscope-report")
    url = cluster.servers[1].url + "?database=darkscope"
    starts = [i["start"] for t in truths.values() for i in t["intervals"] if i["packets"]]
    day = lambda t: time.strftime("%Y-%m-%d", time.gmtime(t))
    out = os.path.join(env.tmp, "fleet-report")
    r = subprocess.run(["/usr/bin/python3", report, "--from", day(min(starts)), "--to",
                        day(max(starts)), "--fleet", url, "--fleet-credentials", credentials,
                        "--out", out], capture_output=True, text=True, timeout=300)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        errors.append("darkscope-report --fleet exited %d: %s" % (r.returncode, r.stderr))
        return
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    sqlite_totals, sqlite_sources = sqlite_added(dbs)

    def union(sets, key):
        return set().union(*(set(t[sets].get(key, [])) for t in truths.values()))

    def truth_added(field):
        out = {}
        for t in truths.values():
            for k, v in t[field].items():
                o = out.setdefault(k, [0, 0])
                o[0] += v["packets"]
                o[1] += v["bytes"]
        return out

    exact_below_sum = 0
    for what, dim, field, sets in (("services", "service", "services", "service_source_sets"),
                                   ("regions", "country", "countries", "country_source_sets")):
        got = [(x["key"], x["packets"], x["bytes"]) for x in rep[what]]
        from_sqlite = ranked(sqlite_totals[dim])[:5]
        from_truth = ranked(truth_added(field))[:5]
        if len(got) != 5 or got != from_sqlite:
            errors.append("fleet report's top %s %s, the SQLite histories added up %s" % (
                what, got, from_sqlite))
        if [k for k, _, _ in got] != [k for k, _, _ in from_truth]:
            errors.append("fleet report's top %s %s, the union truth ranks %s" % (
                what, [k for k, _, _ in got], [k for k, _, _ in from_truth]))
        for x in rep[what]:
            exact = len(union(sets, x["key"]))
            largest, summed = sqlite_sources[dim].get(x["key"], [0, 0])
            if (x["max_sources"], x["max_sources_per"]) != (exact, "period"):
                errors.append("%s %s: fleet report's unique sources %s over %s, the captures' "
                              "union %d" % (what, x["key"], x["max_sources"],
                                            x["max_sources_per"], exact))
            if not largest <= exact <= summed:
                errors.append("%s %s: the SQLite histories do not bound the union %d: largest "
                              "%d, sum %d" % (what, x["key"], exact, largest, summed))
            exact_below_sum += exact < summed
            print("%s %s: %d packets, unique sources %d (SQLite: largest single count %d, "
                  "sum %d)" % (what, x["key"], x["packets"], exact, largest, summed))
    if not exact_below_sum:
        errors.append("no top key's union is below the SQLite counts' sum: the check proves "
                      "nothing")

    total = sqlite_totals["total"]["all"]
    truth_total = sum(i["packets"] for t in truths.values() for i in t["intervals"])
    if [rep["total_packets"], rep["total_bytes"]] != total or rep["total_packets"] != truth_total:
        errors.append("fleet report's total %d packets %d bytes, SQLite added up %s, truth %d" % (
            rep["total_packets"], rep["total_bytes"], total, truth_total))
    everyone = set()
    for t in truths.values():
        for sets in ("service_source_sets", "country_source_sets"):
            everyone.update(*map(set, t[sets].values()))
    if rep["unique_sources"] != {"count": len(everyone), "over": "period"}:
        errors.append("fleet report's unique sources %s, both captures' distinct sources %d" % (
            rep["unique_sources"], len(everyone)))

    # Per sensor (APPLIANCE/SENSOR): packets and top services as the SQLite histories have them.
    names = {"site-a/" + s.split("=")[0] for s in sensors[:2]} | {
        "site-b/" + s.split("=")[0] for s in sensors[2:]}
    got = {t["sensor"]: t["packets"] for t in rep["sensors"]}
    want = {k: p for k, (p, _) in sqlite_totals["sensor"].items() if k in names and p}
    if got != want:
        errors.append("fleet report's sensors %s, SQLite histories %s" % (got, want))
    for t in rep["sensors"]:
        cross = {k.split("|", 1)[1]: v for k, v in sqlite_totals["sensor_service"].items()
                 if k.split("|", 1)[0] == t["sensor"]}
        want_rows = [(k, p) for k, p, _ in ranked(cross)[:10]]
        got_rows = [(x["service"], x["packets"]) for x in t["rows"]]
        if got_rows != want_rows:
            errors.append("sensor %s: top services %s, SQLite %s" % (t["sensor"], got_rows,
                                                                   want_rows))

    # Services by average packets per sensor: packets over the four sensors.
    per = rep["services_per_sensor"]
    want = [(k, p / len(names)) for k, p, _ in ranked(sqlite_totals["service"])[:10]]
    got_rows = [(x["service"], x["per_sensor"]) for x in per["rows"]]
    if per["sensors"] != 4 or got_rows != want:
        errors.append("services per sensor over %s sensors %s, want over 4 %s" % (
            per["sensors"], got_rows, want))

    # The events of both appliances, once each.
    want = set()
    for appliance, path in dbs.items():
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        want |= {appliance + "/" + e for (e,) in db.execute("SELECT DISTINCT event_id FROM events")}
        db.close()
    got = [e["id"] for e in rep["events"]]
    if sorted(got) != sorted(want):
        errors.append("fleet report's events %s, the SQLite histories' %s" % (got, sorted(want)))
    with open(os.path.join(out, "report.md")) as f:
        md = f.read()
    for heading in ("Top 5 destination services", "Top 5 source regions",
                    "Services by average packets per sensor", "Notable events"):
        if "## " + heading not in md:
            errors.append("fleet report.md has no section %r" % heading)

    # What only the server can tell: one line, exit status 2.
    for what, fleet_url, text in (
            ("malformed URL", "ftp://127.0.0.1/", "want http://"),
            ("unknown parameter", url + "&colour=red", "unknown URL parameter"),
            ("unreachable server", "http://127.0.0.1:1/?database=darkscope", "cannot reach"),
            ("refused credentials", url.replace("http://", "http://fleet:not-the-password@"), "HTTP"),
            ("missing tables", cluster.servers[0].url + "?database=default", "no table")):
        r = subprocess.run(["/usr/bin/python3", report, "--from", "2013-03-12", "--to",
                            "2013-03-12", "--fleet", fleet_url, "--out",
                            os.path.join(env.tmp, "bad-report")], capture_output=True,
                           text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        if r.returncode != 2 or len(lines) != 1 or text not in r.stderr or \
                "not-the-password" in r.stderr:
            errors.append("darkscope-report --fleet with a %s: exit %d, %r" % (
                what, r.returncode, r.stderr))


def aggregates_only_failures(env, cluster, fleet_tool, runs, geo, truths, errors):
    """Captures A and B again, exported with --fleet-tuples off into a database of their own:
    no tuples, but each interval's source sketches. The fleet report merges them across both
    appliances and every interval: small captures keep every sketch sparse, so its unique
    sources are exact (the size of the union of the two captures' source sets), where the
    largest single count of one appliance's interval (all the totals alone can give) is only a
    lower bound, strictly below the union where the captures overlap only partly."""
    urls = [s.url + "?database=aggregates" for s in cluster.servers]
    subprocess.run(["/usr/bin/python3", fleet_tool, "init", "--cluster", chc.CLUSTER] +
                   sum((["--url", u] for u in urls), []), check=True)
    for name, pcap, sensors in runs:
        env.run(env.base_args(prefix=env.prefix + name) + [
            "--read", pcap, "--interval", "60", "--appliance", name, "--fleet-url", urls[0],
            "--fleet-spool", os.path.join(env.tmp, "spool-" + name), "--fleet-tuples", "off"] +
            geo + sum((["--sensor", s] for s in sensors), []))
    ch = cluster.servers[1]
    (tuples,), = ch.rows("SELECT count() FROM tuples", database="aggregates")
    if int(tuples):
        errors.append("aggregates only: %s tuples exported" % tuples)
    shipped = {k: int(n) for k, n in ch.rows(
        "SELECT dimension, count() FROM sketches GROUP BY dimension", database="aggregates")}
    print("aggregates only: sketches per dimension %s" % shipped)
    (intervals,), = ch.rows("SELECT count() FROM intervals", database="aggregates")
    if shipped.get("total") != int(intervals):
        errors.append("aggregates only: %s total sketches for %s intervals" % (
            shipped.get("total"), intervals))
    out = os.path.join(env.tmp, "aggregates-report")
    r = subprocess.run(["/usr/bin/python3", os.path.join(env.src, "scripts", "darkscope-report"),
                        "--from", "2013-03-12", "--to", "2013-03-12", "--fleet", urls[1],
                        "--out", out], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        errors.append("darkscope-report --fleet on aggregates only exited %d: %s" % (
            r.returncode, r.stderr))
        return
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)

    def union(sets, key):
        return set().union(*(set(t[sets].get(key, [])) for t in truths.values()))

    better = 0
    for dim, what, sets in (("service", "services", "service_source_sets"),
                            ("country", "regions", "country_source_sets")):
        for x in rep[what]:
            exact = len(union(sets, x["key"]))
            (bound,), = ch.rows("SELECT max(sources) FROM totals WHERE dimension = '%s' AND "
                                "key = '%s'" % (dim, x["key"]), database="aggregates")
            if (x["max_sources"], x["max_sources_per"]) != (exact, "period"):
                errors.append("aggregates only: %s %s: unique sources %s over %s, the captures' "
                              "union %d" % (dim, x["key"], x["max_sources"],
                                            x["max_sources_per"], exact))
            better += exact > int(bound)
            print("aggregates only: %s %s: merged sketches %s, union %d, largest single count "
                  "%s" % (dim, x["key"], x["max_sources"], exact, bound))
    if not better:
        errors.append("aggregates only: no top key's union is above the largest single count: "
                      "the check proves nothing")
    everyone = set()
    for t in truths.values():
        for sets in ("service_source_sets", "country_source_sets"):
            everyone.update(*map(set, t[sets].values()))
    if rep["unique_sources"] != {"count": len(everyone), "over": "period"}:
        errors.append("aggregates only: unique sources %s, both captures' distinct sources %d" % (
            rep["unique_sources"], len(everyone)))
    with open(os.path.join(out, "report.md")) as f:
        md = f.read()
    if "Unique sources (whole period, merged sketches)" not in md or "HyperLogLog" not in md:
        errors.append("the aggregates-only fleet report does not say its unique sources come "
                      "from merged sketches")
