"""Spilled packets reach the fleet as one-packet tuples: a capture of many sources read with the
smallest tuple tables (--tuple-entries 1024), so that most of its tuples find no room and spill
(source_spills > 0 in the summary), exported with tuples to a ClickHouse cluster. The fleet's
tuples then add up to the generator's truth exactly: packets and bytes per service, sensor and
country, and uniqExact(source) per service, per country and over everything equal the distinct
sources of the capture. Every interval row says no packet is without a tuple
(tuples_unexported 0, tuple_packets = its IP packets).

The same capture with a spill log of 16 packets per worker and interval (--fleet-spill-entries
16): the tuples lack packets now, and the interval rows state how many (tuples_unexported), so
that tuple_packets + tuples_unexported is still every IP packet.

darkscope-fleet init on tables from before the column and the sketches table existed adds
them."""
import os
import subprocess

import clickhouse_cluster as chc
import dsharness as h


def added(truth, field):
    return {k: (v["packets"], v["bytes"]) for k, v in truth[field].items()
            if v["packets"] and k not in ("none", "unmatched", "other")}


def test_fleet_spills(env):
    if not chc.available():
        h.fail("clickhouse-server is not installed (scripts/setup.sh installs it)")
    cluster = chc.Cluster(os.path.join(env.tmp, "clickhouse")).start()
    errors = []
    try:
        fleet_tool = os.path.join(env.src, "scripts", "darkscope-fleet")
        nets = os.path.join(env.tmp, "nets.csv")
        subprocess.run(["/usr/bin/python3", env.gen, "--write-networks", nets], check=True)
        geo = h.geo_csvs(nets, env.tmp)
        sensors = ["north=203.0.113.0/24,2001:db8:d::/48", "south=198.51.100.0/24"]
        pcap, truth = env.generate(
            "spills", "--seed", "7", "--profile", "demo", "--source-networks", nets,
            "--truth-source-sets", "--interval", "60", "--sources", "3000", "--packets", "16000",
            "--duration", "180", "--ipv6-share", "0.05",
            *sum((["--sensor", s] for s in sensors), []))

        def run(database, *extra):
            urls = [s.url + "?database=" + database for s in cluster.servers]
            subprocess.run(["/usr/bin/python3", fleet_tool, "init", "--cluster", chc.CLUSTER] +
                           sum((["--url", u] for u in urls), []), check=True)
            summary = os.path.join(env.tmp, database + ".json")
            p = env.run(env.base_args(prefix=env.prefix + database) + [
                "--read", pcap, "--interval", "60", "--appliance", "spilly", "--fleet-url",
                urls[0], "--fleet-spool", os.path.join(env.tmp, "spool-" + database),
                "--tuple-entries", "1024", "--summary", summary] + list(extra) + geo +
                sum((["--sensor", s] for s in sensors), []))
            return env.summary(summary)["/darkscope/stats"], p.stdout + p.stderr

        def fleet(database, sql):
            return cluster.servers[1].rows(sql, database=database)

        stats, _ = run("spills")
        print("source_tuples %d, source_spills %d" % (stats["source_tuples"],
                                                      stats["source_spills"]))
        if stats["source_spills"] == 0:
            errors.append("no packet spilled: the test proves nothing")

        # Packets and bytes from the tuples, against the truth.
        for dim, column, extra, field in (("service", "service", "probe = 1", "services"),
                                          ("sensor", "sensor", "sensor != 'unmatched'",
                                           "sensors"),
                                          ("country", "country", "1", "countries")):
            got = {k: (int(p), int(b)) for k, p, b in fleet(
                "spills", "SELECT %s, sum(packets), sum(bytes) FROM tuples WHERE %s GROUP BY %s"
                % (column, extra, column))}
            want = added(truth, field)
            if got != want:
                errors.append("tuples per %s differ from the truth: %s" % (
                    dim, sorted(set(got.items()) ^ set(want.items()))[:6]))

        # Exact distinct sources from the tuples.
        everyone = set()
        for column, extra, sets in (("service", "probe = 1", "service_source_sets"),
                                    ("country", "1", "country_source_sets")):
            got = {k: int(n) for k, n in fleet(
                "spills", "SELECT %s, uniqExact(source) FROM tuples WHERE %s GROUP BY %s" % (
                    column, extra, column))}
            want = {k: len(v) for k, v in truth[sets].items()}
            for v in truth[sets].values():
                everyone.update(v)
            if got != want:
                errors.append("uniqExact(source) per %s: %s, truth %s" % (
                    column, sorted(set(got.items()) ^ set(want.items()))[:6], ""))
        (n,), = fleet("spills", "SELECT uniqExact(source) FROM tuples")
        if int(n) != len(everyone):
            errors.append("uniqExact(source) over everything %s, truth %d" % (n, len(everyone)))

        # Every interval: no packet without its tuple.
        rows = fleet("spills", "SELECT toUInt32(interval_start), packets, tuple_packets, "
                     "tuples_unexported FROM intervals ORDER BY interval_start")
        tuple_packets = 0
        for start, packets, tp, unexported in rows:
            tuple_packets += int(tp)
            if int(unexported) != 0:
                errors.append("interval %s: tuples_unexported %s with a large spill log" % (
                    start, unexported))
        sensor_packets = sum(v["packets"] for v in truth["sensors"].values())
        print("intervals %d, tuple packets %d, IP packets in sensors %d" % (
            len(rows), tuple_packets, sensor_packets))
        (in_tuples,), = fleet("spills", "SELECT sum(packets) FROM tuples")
        if int(in_tuples) != tuple_packets:
            errors.append("tuples hold %s packets, the interval rows say %d" % (in_tuples,
                                                                                 tuple_packets))

        # A spill log too small: the gap is stated, interval by interval.
        _, log = run("cut", "--fleet-spill-entries", "16")
        if "the spill log was full" not in log:
            errors.append("a full spill log was not logged")
        cut = {int(s): (int(tp), int(u)) for s, tp, u in fleet(
            "cut", "SELECT toUInt32(interval_start), tuple_packets, tuples_unexported "
            "FROM intervals")}
        full = {int(s): int(tp) for s, _, tp, _ in rows}
        if sum(u for _, u in cut.values()) == 0:
            errors.append("a spill log of 16 packets lost none: the check proves nothing")
        if {s: tp + u for s, (tp, u) in cut.items()} != full:
            errors.append("with a small spill log, tuple_packets + tuples_unexported %s, the "
                          "IP packets %s" % ({s: tp + u for s, (tp, u) in cut.items()}, full))
        print("small spill log: tuples_unexported per interval %s" % {
            s: u for s, (_, u) in cut.items()})
        upgrade_failures(cluster, fleet_tool, errors)
    finally:
        cluster.stop()
    h.no_errors(errors)


def upgrade_failures(cluster, fleet_tool, errors):
    """darkscope-fleet init on tables made before tuples_unexported and the sketches existed:
    it adds them, and the rows already there read the column's default."""
    for s in cluster.servers:
        s.query("CREATE DATABASE upgraded")
        s.query("CREATE TABLE upgraded.intervals_local (interval_start DateTime, appliance String, "
                "export_id UInt64, interval_end DateTime, packets UInt64, bytes UInt64, "
                "tuples UInt64, tuple_packets UInt64, tuple_mode UInt8, delivered_at DateTime "
                "DEFAULT now()) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(interval_start) "
                "ORDER BY (appliance, interval_start, export_id)")
        s.query("CREATE TABLE upgraded.intervals AS upgraded.intervals_local ENGINE = "
                "Distributed(%s, upgraded, intervals_local, cityHash64(appliance, "
                "toUInt32(interval_start)))" % chc.CLUSTER)
    cluster.servers[0].query(
        "INSERT INTO upgraded.intervals_local (interval_start, appliance, export_id, "
        "interval_end, packets, bytes, tuples, tuple_packets, tuple_mode) VALUES "
        "(1363046400, 'older', 1, 1363046460, 5, 300, 2, 5, 1)")
    subprocess.run(["/usr/bin/python3", fleet_tool, "init", "--cluster", chc.CLUSTER] +
                   sum((["--url", s.url + "?database=upgraded"] for s in cluster.servers), []),
                   check=True)
    for s in cluster.servers:
        got = s.rows("SELECT table FROM system.columns WHERE database = 'upgraded' AND "
                     "name = 'tuples_unexported' ORDER BY table")
        tables = s.rows("SELECT name FROM system.tables WHERE database = 'upgraded' AND "
                        "name LIKE 'sketches%' ORDER BY name")
        if got != [["intervals"], ["intervals_local"]] or tables != [["sketches"],
                                                                     ["sketches_local"]]:
            errors.append("init on older tables: tuples_unexported in %s, sketch tables %s" % (
                got, tables))
    rows = cluster.servers[1].rows("SELECT appliance, tuples_unexported FROM upgraded.intervals")
    if rows != [["older", "0"]]:
        errors.append("init on older tables: the rows there read %s" % rows)
