#!/usr/bin/python3
"""The optimised path counts exactly what the plain one counts.

The worker's optimised path (`--pipeline full`, the default) handles bursts of up to 32 packets in
passes: one hash per address, prefetches a few packets ahead, bulk attribution of only the
packets whose source tuple is new, the source side counted per (source, sensor, service) tuple
on the stats core. The reference path, `--pipeline plain`, counts each packet whole, one at a
time (count_packet, a lookup per packet, the top talkers updated per packet), with none of that.

1. The plain path against the truth: the generated demo capture alone, read with `--pipeline
   plain`, must give the generator's own counts (packets, bytes, protocols, classes, flags,
   sensors, services, unique sources and destinations within 2%).
2. The optimised path against the plain one: that capture with attribution plus every capture of
   the shared corpus (VLAN/QinQ/MPLS, IPv6, fragments, malformed packets), read plain and
   optimised with bursts of 1, 5 and 32 (partial bursts, pipeline stages running off the end):
   every view of the summaries must be identical: packets, bytes, classes, flags, errors,
   services, countries, ASNs, sensors, unique counts (same sketches, so the same estimates), top
   talkers and prefixes, events.
3. Full tuple tables: a capture of 20,000 one-off scanners, read plain, with the default tuple
   table and with the smallest (1024 entries, so nearly every packet spills to per-packet
   counting) must give the same views, but for the top talkers: built from the tuples they are
   exact, counted per packet by Space-Saving (plain, spills) they are exact within its error
   bound; all must bracket the generator's counts of its 20 busiest sources. Which keys get a
   slot in a bounded table follows arrival order, and the spills change that order: a table that
   counted packets in `other` in either run (/darkscope/stats_core) is left out of the comparison.
4. Two workers against one (the optimised path): every view of the demo capture and the corpus
   but the per-worker one is identical, but for which keys past a full table's capacity have
   unique counts (tests/integration/test_sparse.py compares their history rows)."""
import copy
import os

import pytest

import dsharness as h

# Fields that describe the run, not the traffic.
VOLATILE_STATS = {"uptime_s", "rss_bytes", "rss_peak_bytes", "dpdk_heap_bytes"}
VOLATILE_WORKER = {"bursts", "idle_polls"}
BURSTS = (1, 5, 32)


def run(env, reads, geo, burst, extra=(), pipeline="full", name_prefix=""):
    """The summary of one offline run (without the fields that describe the run)."""
    name = "%s%s%d%s" % (name_prefix, pipeline, burst,
                         "".join(a.strip("-")[:1] + a.lstrip("-")[-3:] for a in extra))
    summary = os.path.join(env.tmp, "paths-%s.json" % name)
    env.run(env.base_args(prefix="%s_%s" % (env.prefix, name)) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"), "--burst", str(burst),
        "--pipeline", pipeline, "--summary", summary] + list(extra) + geo + reads, timeout=600)
    s = env.summary(summary)
    # What closing intervals took: timings, not counts. The rest are the bounded tables.
    s["/darkscope/stats_core"] = {k: v for k, v in s["/darkscope/stats_core"].items()
                                  if isinstance(v, dict) and "keys" in v}
    for k in VOLATILE_STATS:
        s["/darkscope/stats"].pop(k, None)
    for w in s.get("/darkscope/workers", {}).values():
        for k in VOLATILE_WORKER:
            w.pop(k, None)
    return s


def differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s/%s: only in %s" % (path, k, "plain" if k in a else "optimised"))
            else:
                out += differences(a[k], b[k], "%s/%s" % (path, k))
        return out
    return [] if a == b else ["%s: plain %r, optimised %r" % (path, a, b)]


def overflowed(summary):
    """The bounded tables (/darkscope/stats_core) that counted packets in `other`."""
    return sorted(k for k, v in summary["/darkscope/stats_core"].items() if v["other_packets"])


def without_full_tables(a, b):
    """Copies of two summaries without the /darkscope/tables entries of the tables that counted
    packets in `other` in either run: once a table is full (or a key's probe run is), which keys
    got a slot follows the order keys came, and spills or a second worker change that order."""
    full = set(overflowed(a)) | set(overflowed(b))
    out = []
    for s in (a, b):
        s = dict(s)
        s["/darkscope/stats_core"] = {k: v for k, v in s["/darkscope/stats_core"].items()
                                      if k not in full}
        out.append(s)
    return out


def comparable(s):
    """A copy without how the source side was counted (per tuple or per packet), which is not
    what it counted."""
    s = copy.deepcopy(s)
    for k in ("source_spills", "source_tuples"):
        s["/darkscope/stats"].pop(k, None)
    return s


def without_talkers(s):
    """The views but the top talkers and what is found among them (scanner events): exact only
    while Space-Saving holds every source, else they follow the order of their updates, which is
    per packet on the plain path and per tuple on the optimised one."""
    out = {k: v for k, v in s.items()
           if not k.startswith("/darkscope/top/sources") and
           not k.startswith("/darkscope/top/prefixes")}
    out["/darkscope/events,50"] = [v for v in h.ranked(s["/darkscope/events,50"])
                                   if v.get("kind") != "scanner"]
    return out


def bracket_errors(s, top_sources, label):
    """Space-Saving's guarantee for the busiest sources: count - error <= truth <= count."""
    rows = {r["source"]: r for r in h.ranked(s["/darkscope/top/sources,1000"])}
    out = []
    for source, want in top_sources[:20]:
        r = rows.get(source)
        if r is None or not r["packets"] - r["error"] <= want <= r["packets"]:
            out.append("%s: top source %s has %d packets, listed as %s" % (label, source, want, r))
    return out


@pytest.fixture(scope="module")
def demo(env):
    """The demo capture with sources from networks the test turns into country and ASN
    databases (attribution is on too), and every capture of the corpus: {truth, geo, reads (the
    demo and the corpus), corpus_packets}."""
    nets = os.path.join(env.tmp, "nets.csv")
    pcap, truth = env.generate("paths", "--seed", "21", "--packets", "30000", "--profile",
                               "demo", "--write-networks", nets, "--source-networks", nets)
    reads = ["--read", pcap]
    rows = h.manifest_rows(env.corpus)
    for row in rows:
        reads += ["--read", os.path.join(env.corpus, "pcaps", row["local_path"])]
    if not rows:
        print("corpus not present (%s): the generated capture only" % env.corpus)
    return {"pcap": pcap, "truth": truth, "geo": h.geo_csvs(nets, env.tmp), "reads": reads,
            "corpus_packets": sum(int(r["packets"]) for r in rows)}


# 1. The plain path against the generator's truth (the demo capture alone: the truth is its own).
@pytest.fixture(scope="module")
def alone(env, demo):
    s = run(env, ["--read", demo["pcap"]], demo["geo"], 1, pipeline="plain", name_prefix="alone-")
    stats = s["/darkscope/stats"]
    print("plain path, demo capture: %d packets, %d bytes, %d unique sources (truth %d)" % (
        stats["packets"], stats["bytes"], stats["sources"], demo["truth"]["sources"]))
    return s


def test_plain_path_stats_equal_truth(alone, demo):
    h.no_errors(h.compare_stats(alone["/darkscope/stats"], demo["truth"], "plain path"))


def test_plain_path_top_ports_equal_truth(alone, demo):
    h.no_errors(h.compare_top_ports(alone["/darkscope/top/ports,1000,total,all"],
                                    demo["truth"]["services_all"], "plain path, all classes",
                                    n=1000))


def test_plain_path_classes_and_flags_equal_truth(alone, demo):
    errors = []
    for view, key in (("/darkscope/classes", "classes"), ("/darkscope/flags", "flags")):
        for name, count in demo["truth"].get(key, {}).items():
            if alone[view].get(name) != count:
                errors.append("plain path %s %s: %s, truth %s" % (key, name,
                                                                  alone[view].get(name), count))
    h.no_errors(errors)


def test_plain_path_sensors_equal_truth(alone, demo):
    sensors = {r["sensor"]: r for r in h.ranked(alone["/darkscope/sensors"])}
    errors = []
    for name, t in demo["truth"].get("sensors", {}).items():
        got = sensors.get(name, {})
        if (got.get("packets"), got.get("bytes")) != (t["packets"], t["bytes"]):
            errors.append("plain path sensor %s: %s, truth %s" % (name, got, t))
    h.no_errors(errors)


def test_plain_path_unique_counts_within_2_percent(alone, demo):
    stats, truth = alone["/darkscope/stats"], demo["truth"]
    h.no_errors(["plain path unique %s: %d, truth %d (over 2%%)" % (key, stats[key], truth[key])
                 for key in ("sources", "destinations")
                 if abs(stats[key] - truth[key]) > 0.02 * truth[key]])


def test_plain_path_builds_no_tuple_tables(alone):
    stats = alone["/darkscope/stats"]
    assert stats["source_tuples"] == 0 and stats["source_spills"] == 0, \
        "plain path: %d tuples, %d spills; want no tuple tables at all" % (
            stats["source_tuples"], stats["source_spills"])


def test_plain_path_top_sources_bracket_truth(alone, demo):
    h.no_errors(bracket_errors(alone, demo["truth"]["top_sources"], "plain path"))


# 2. The optimised path against the plain one, on the demo capture and the corpus.
@pytest.fixture(scope="module")
def plain(env, demo):
    s = run(env, demo["reads"], demo["geo"], 1, pipeline="plain")
    stats = s["/darkscope/stats"]
    print("plain path, demo capture and corpus: %d packets, %d bytes, %d unique sources" % (
        stats["packets"], stats["bytes"], stats["sources"]))
    return s


@pytest.fixture(scope="module")
def optimised(env, demo):
    """{burst: the optimised path's summary} for each of BURSTS."""
    return {burst: run(env, demo["reads"], demo["geo"], burst) for burst in BURSTS}


def test_plain_path_counts_demo_and_corpus(plain, demo):
    got = plain["/darkscope/stats"]["packets"]
    want = demo["truth"]["packets"] + demo["corpus_packets"]
    assert got == want, "plain path counted %d packets, truth %d" % (got, want)


def test_default_tuple_table_spills_next_to_nothing(optimised):
    # The default tables take every IP packet but those whose time does not fit their 32-bit
    # seconds (the corpus has a capture stamped after 2106): those few are counted per packet.
    stats = optimised[32]["/darkscope/stats"]
    ip = stats["ipv4"] + stats["ipv6"]
    print("optimised path: %d tuples, %d of %d IP packets spilled" % (
        stats["source_tuples"], stats["source_spills"], ip))
    assert stats["source_tuples"] != 0 and stats["source_spills"] * 1000 <= ip, \
        "default tuple table: %d tuples, %d spills; want tuples and next to no spills" % (
            stats["source_tuples"], stats["source_spills"])


@pytest.mark.parametrize("burst", BURSTS)
def test_optimised_top_sources_bracket_truth(optimised, demo, burst):
    h.no_errors(bracket_errors(optimised[burst], demo["truth"]["top_sources"],
                               "optimised, --burst %d" % burst))


@pytest.mark.parametrize("burst", BURSTS)
def test_optimised_views_equal_plain(plain, optimised, burst):
    # Demo and corpus together have more sources than the top talkers hold (Space-Saving's
    # capacity): those are checked against the generator's counts of its busiest sources
    # instead (test_optimised_top_sources_bracket_truth).
    stats = optimised[32]["/darkscope/stats"]
    talkers_exact = stats["sources"] <= len(h.ranked(plain["/darkscope/top/sources,1000"])) \
        < 1000
    a = comparable(plain if talkers_exact else without_talkers(plain))
    b = comparable(optimised[burst] if talkers_exact else without_talkers(optimised[burst]))
    diff = differences(a, b)
    print("optimised, --burst %d: %d differences from plain over %d views%s" % (
        burst, len(diff), len(a), "" if talkers_exact else
        " (top talkers and scanner events checked against the truth)"))
    h.no_errors(["--burst %d %s" % (burst, d) for d in diff[:20]])


# A row's unique counts come from its key's slot in a bounded table (services, sensor x service,
# country x service); a key past the table's capacity has exact packets and bytes (dense arrays)
# but no unique counts. Which keys get the slots follows the order keys arrive in each worker and
# the order the stats core merges workers, so past capacity one worker and two may hold other keys.
UNIQUE_FIELDS = ("sources", "destinations")
TABLE_OF_VIEW = {"/darkscope/top/ports": "services"}


def tolerated(difference, full_tables):
    """A difference that only says which keys a full table held: a unique-count field present
    in one run's row and absent from the other's."""
    path, _, what = difference.partition(": ")
    parts = path.lstrip("/").split("/")
    if what != "only in plain" and what != "only in optimised":
        return False
    view = "/".join(["", *parts[:3]]).split(",")[0]  # "/darkscope/top/ports,1000" -> ports
    table = TABLE_OF_VIEW.get(view)
    return table in full_tables and parts[-1] in UNIQUE_FIELDS


def test_two_workers_views_equal_one_worker(env, demo):
    """--read with two workers (bursts dealt over them, their tables merged on the stats core)
    gives every view of one worker but the per-worker one, on the demo capture and the corpus;
    the top talkers and scanner events as above (more sources than Space-Saving holds). The
    corpus fills the services table (a capture of spoofed SYNs to every port) and the victims
    table: packets and bytes of every key stay identical, and so does every unique count both
    runs hold; only which keys past the capacity have unique counts may differ, and the test
    says how many did. tests/integration/test_sparse.py compares history rows."""
    views = []
    for workers in ("1", "2"):
        s = run(env, demo["reads"], demo["geo"], 32, ("--workers", workers, "--share-cpus"),
                name_prefix="w%s" % workers)
        s = dict(comparable(without_talkers(s)))
        s.pop("/darkscope/workers", None)
        views.append(s)
    full = sorted(set(overflowed(views[0])) | set(overflowed(views[1])))
    print("bounded tables past capacity: %s" % (", ".join(full) or "none"))
    errors = []
    tables = [v.pop("/darkscope/stats_core") for v in views]
    for name in tables[0]:
        # Every packet is in a table's keys or its `other`: a table both runs held whole holds
        # the same keys.
        if name not in full and tables[0][name] != tables[1][name]:
            errors.append("table %s: one worker %r, two %r" % (name, tables[0][name],
                                                               tables[1][name]))
    diff = differences(views[0], views[1])
    kept = [d for d in diff if not tolerated(d, full)]
    print("two workers: %d differences from one over %d views, %d of them a unique count of a "
          "key one run's full table did not hold" % (len(diff), len(views[0]),
                                                     len(diff) - len(kept)))
    if demo["corpus_packets"]:
        assert views[0]["/darkscope/stats"]["packets"] == \
            demo["truth"]["packets"] + demo["corpus_packets"]
    h.no_errors(errors + ["--workers 2 %s" % d for d in kept[:20]])


# 3. Full tuple tables: 20,000 one-off scanners.
@pytest.fixture(scope="module")
def scans(env):
    """{run: summary} of the one-off scanners' capture read plain, with the default tuple table
    and with the smallest, and the capture's truth."""
    work = os.path.join(env.tmp, "scans")
    os.mkdir(work)
    nets = os.path.join(work, "nets.csv")
    pcap, truth = env.generate("tuples", "--seed", "22", "--packets", "30000", "--profile",
                               "bench", "--sources", "20000", "--write-networks", nets,
                               "--source-networks", nets)
    geo = h.geo_csvs(nets, work)
    reads = ["--read", pcap]
    out = {"truth": truth,
           "plain": run(env, reads, geo, 32, pipeline="plain"),
           "default-table": run(env, reads, geo, 32, ("--tuple-entries", "2097152")),
           "1024-entries": run(env, reads, geo, 32, ("--tuple-entries", "1024"))}
    ws, ss = out["default-table"]["/darkscope/stats"], out["1024-entries"]["/darkscope/stats"]
    print("one-off scanners: %d IP packets; default tables %d tuples, %d spills; 1024 entries "
          "%d tuples, %d spills" % (ws["ipv4"] + ws["ipv6"], ws["source_tuples"],
                                    ws["source_spills"], ss["source_tuples"],
                                    ss["source_spills"]))
    return out


def test_default_table_holds_one_off_scanners_without_spills(scans):
    ws = scans["default-table"]["/darkscope/stats"]
    assert ws["source_spills"] == 0, "want no spills with the default table, got %d" % (
        ws["source_spills"])


def test_smallest_table_spills_most_one_off_scanners(scans):
    ws, ss = scans["default-table"]["/darkscope/stats"], scans["1024-entries"]["/darkscope/stats"]
    ip = ws["ipv4"] + ws["ipv6"]
    assert ss["source_spills"] >= ip // 2, \
        "want most packets spilled with 1024 entries: %d of %d" % (ss["source_spills"], ip)


@pytest.mark.parametrize("label", ["plain", "default-table", "1024-entries"])
def test_one_off_scanner_top_sources_bracket_truth(scans, label):
    # From the tuples the stats core builds them with exact counts; what spills is counted per
    # packet by Space-Saving, exact only while it holds every source. Both must bracket the
    # generator's own counts of its busiest sources (count - error <= truth <= count).
    h.no_errors(bracket_errors(scans[label], scans["truth"]["top_sources"], label))


def without_top_lists(s):
    """The views but the top talkers and prefixes, and the scanner events (found among the
    interval's top talkers: they differ as those may)."""
    s = {k: v for k, v in s.items()
         if k not in ("/darkscope/top/sources,1000", "/darkscope/top/prefixes,1000")}
    s["/darkscope/events,50"] = [v for v in h.ranked(s["/darkscope/events,50"])
                                 if v.get("kind") != "scanner"]
    return comparable(s)


@pytest.mark.parametrize("label", ["default-table", "1024-entries"])
def test_full_tuple_tables_count_as_plain(scans, label):
    reference = without_top_lists(scans["plain"])
    diff = differences(*without_full_tables(reference, without_top_lists(scans[label])))
    print("one-off scanners, %s: %d differences from plain over %d views (top talkers checked "
          "against the truth)" % (label, len(diff), len(reference)))
    h.no_errors(["%s %s" % (label, d) for d in diff[:20]])
