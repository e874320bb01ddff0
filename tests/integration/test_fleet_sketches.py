"""Aggregates only (--fleet-tuples off) past the sketches' exact range: two appliances read two
captures of 30,000 sources that share most of them, so that an interval's total (P = 16, sparse
up to 4,096 hashes), its sensors and its busiest services and countries (P = 14, sparse up to
1,024) turn dense. darkscope-report --fleet merges their sketches: each top service's and
region's unique sources and the whole period's are within 3 of the report's own relative
standard errors of the exact count (the union of the two captures' source sets), or equal to it
where the report says the count is exact; the whole period's count is an estimate with the
standard error of P = 14 or 16, and it is far above the largest single count (what the totals
alone can give).

A third appliance then exports its tuples into the same window (another capture, with sources
of its own): the report merges the sketches with the hashes of the tuples' distinct sources, and
the same holds for the union of the three captures."""
import json
import os
import subprocess

import clickhouse_cluster as chc
import dsharness as h


def test_fleet_sketches(env):
    if not chc.available():
        h.fail("clickhouse-server is not installed (scripts/setup.sh installs it)")
    cluster = chc.Cluster(os.path.join(env.tmp, "clickhouse")).start()
    errors = []
    try:
        fleet_tool = os.path.join(env.src, "scripts", "darkscope-fleet")
        urls = [s.url + "?database=sketched" for s in cluster.servers]
        subprocess.run(["/usr/bin/python3", fleet_tool, "init", "--cluster", chc.CLUSTER] +
                       sum((["--url", u] for u in urls), []), check=True)
        nets = os.path.join(env.tmp, "nets.csv")
        subprocess.run(["/usr/bin/python3", env.gen, "--write-networks", nets], check=True)
        geo = h.geo_csvs(nets, env.tmp)
        sensors = ["east=203.0.113.0/24", "west=198.51.100.0/24"]
        common = ["--profile", "demo", "--source-networks", nets, "--truth-source-sets",
                  "--interval", "60", "--sources", "30000",
                  *sum((["--sensor", s] for s in sensors), [])]
        truths = {}
        for name, packets, duration, start in (("site-e", "60000", "120", "1363046400"),
                                               ("site-f", "40000", "120", "1363046460")):
            pcap, truths[name] = env.generate(name, "--packets", packets, "--duration", duration,
                                              "--start", start, "--seed", "5", *common)
            env.run(env.base_args(prefix=env.prefix + name) + [
                "--read", pcap, "--interval", "60", "--appliance", name, "--fleet-url",
                urls[0], "--fleet-spool", os.path.join(env.tmp, "spool-" + name),
                "--fleet-tuples", "off"] + geo + sum((["--sensor", s] for s in sensors), []))

        report_failures(env, cluster, urls, truths, "aggregates only", errors)

        # A third appliance exports its tuples: the window mixes both modes, and the report
        # merges the sketches with the hashes of the tuples' distinct sources.
        pcap, truths["site-g"] = env.generate(
            "site-g", "--packets", "30000", "--duration", "120", "--start", "1363046400",
            "--seed", "6", *common)
        env.run(env.base_args(prefix=env.prefix + "site-g") + [
            "--read", pcap, "--interval", "60", "--appliance", "site-g", "--fleet-url",
            urls[0], "--fleet-spool", os.path.join(env.tmp, "spool-site-g")] + geo +
            sum((["--sensor", s] for s in sensors), []))
        report_failures(env, cluster, urls, truths, "mixed", errors)
    finally:
        cluster.stop()
    h.no_errors(errors)


def report_failures(env, cluster, urls, truths, label, errors):
    """darkscope-report --fleet's unique sources against the union of the truths' source sets:
    equal where it says exact, within 3 of its relative standard errors where it estimates."""
    out = os.path.join(env.tmp, "report-" + label.replace(" ", "-"))
    r = subprocess.run(["/usr/bin/python3", os.path.join(env.src, "scripts", "darkscope-report"),
                        "--from", "2013-03-12", "--to", "2013-03-12", "--fleet", urls[1],
                        "--out", out], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        errors.append("%s: darkscope-report --fleet exited %d: %s" % (label, r.returncode,
                                                                     r.stderr))
        return
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)

    def union(sets, key):
        return set().union(*(set(t[sets].get(key, [])) for t in truths.values()))

    def check(what, got, per, error, exact):
        if per == "period":
            ok = got == exact
        elif per == "period-estimate":
            ok = 0 < error <= 0.0082 and abs(got - exact) <= 3 * error * exact
        else:
            ok = False
        print("%s: %s: report %s (%s, error %s), exact %d, off by %.2f%%" % (
            label, what, got, per, error, exact, 100.0 * (got - exact) / exact))
        if not ok:
            errors.append("%s: %s: report %s over %s (error %s), exact %d" % (
                label, what, got, per, error, exact))
        return per == "period-estimate"

    estimates = 0
    for dim, key_of, sets in (("services", "service", "service_source_sets"),
                              ("regions", "country", "country_source_sets")):
        for x in rep[dim]:
            estimates += check("%s %s" % (key_of, x["key"]), x["max_sources"],
                               x["max_sources_per"], x.get("sources_error", 0.0),
                               len(union(sets, x["key"])))
    everyone = set()
    for t in truths.values():
        for v in t["country_source_sets"].values():
            everyone.update(v)
    u = rep["unique_sources"]
    if not check("whole period", u["count"], u["over"], u.get("error", 0.0), len(everyone)):
        errors.append("%s: the whole period's unique sources are not an estimate: the dense "
                      "sketches were not exercised" % label)
    if not estimates:
        errors.append("%s: no top key's count is an estimate: the test proves nothing there" %
                      label)
    (largest,), = cluster.servers[0].rows(
        "SELECT max(sources) FROM totals WHERE dimension = 'total'", database="sketched")
    print("%s: largest single count %s, the captures' distinct sources %d" % (
        label, largest, len(everyone)))
    if not int(largest) < 0.9 * len(everyone):
        errors.append("%s: the largest single count %s is near the union %d: the merge is not "
                      "shown" % (label, largest, len(everyone)))
    with open(os.path.join(out, "report.md")) as f:
        md = f.read()
    if "merged sketches" not in md or "±" not in md:
        errors.append("%s: report.md does not say its unique sources are estimates" % label)
