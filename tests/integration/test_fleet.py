"""Two appliances, one truth: two darkscope runs with different --appliance names and sensors
replay two generated captures (their sources overlap on purpose) into a two-shard ClickHouse
cluster. Through the Distributed tables: packets and bytes per service, country and sensor equal
the generators' truth added up, and the fleet-wide unique sources per service and country equal
the size of the union of the two captures' source sets (not the sum of the two appliances'
counts). Each darkscope's spool is empty at the end and /darkscope/config shows no password."""
import os
import sys

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
        import subprocess
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
        for name, pcap, sensors, server, auth in (
                ("site-a", pcap_a, sensors_a, cluster.servers[0], ["--fleet-credentials", credentials]),
                ("site-b", pcap_b, sensors_b, cluster.servers[1], [])):
            spool = os.path.join(env.tmp, "spool-" + name)
            url = server.url + "?database=darkscope"
            if not auth:  # the other way: credentials in the URL
                url = url.replace("http://", "http://%s:%s@" % (chc.USER, chc.PASSWORD))
            p = env.run(env.base_args(prefix=env.prefix + name) + [
                "--read", pcap, "--interval", "60", "--appliance", name, "--fleet-url", url,
                "--fleet-spool", spool] + auth + geo +
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
    finally:
        cluster.stop()
    h.no_errors(errors)
