"""Top talkers against per-source counts that tshark reads from the capture itself.

A generated capture of 8,000 sources (far more than the 1024 a summary holds) is read three times:
with the default tuple table in 60 s intervals and in one interval, where the stats core builds
each interval's top talkers from the tuples with exact counts, and with the smallest table (1024
entries) in one interval, where most packets spill to the worker's per-packet Space-Saving. In both, every listed source
must bracket its true count (count - error <= true <= count) and every source with more than N/k
packets must be listed: the Space-Saving guarantee, checked against tshark's counts, which must
agree with the generator's own top 20. Read in one interval with nothing spilled, every row is exact."""
import collections
import os
import subprocess

import pytest

import dsharness as h

RUNS = {"default-table-60s-intervals": [],
        "default-table-one-interval": ["--interval", "3600"],
        "1024-entries-one-interval": ["--interval", "3600", "--tuple-entries", "1024"]}


@pytest.fixture(scope="module")
def capture(env):
    """(pcap, generator truth, tshark's packets per outer source)."""
    pcap, truth = env.generate("talkers", "--seed", "31", "--packets", "60000", "--profile",
                               "demo", "--sources", "8000")
    # The outer IPv4 or IPv6 source of every packet (an ICMP error's quoted header is not its
    # source).
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "ip.src", "-e",
                          "ipv6.src"], check=True, capture_output=True, text=True).stdout
    counts = collections.Counter()
    for line in out.splitlines():
        v4, _, v6 = line.partition("\t")
        src = (v4 or v6).split(",")[0]
        if src:
            counts[src] += 1
    print("tshark: %d sources, %d IP packets" % (len(counts), sum(counts.values())))
    return pcap, truth, counts


@pytest.fixture(scope="module")
def runs(env, capture):
    """{run: (top sources rows, stats)} of the capture read with each RUNS' options."""
    pcap = capture[0]
    out = {}
    for i, (label, extra) in enumerate(RUNS.items()):
        summary = os.path.join(env.tmp, "talkers-%d.json" % i)
        env.run(env.base_args(prefix="%s_%d" % (env.prefix, i)) + [
            "--config", os.path.join(env.src, "conf", "demo.conf"), "--read", pcap,
            "--summary", summary] + extra)
        s = env.summary(summary)
        out[label] = (h.ranked(s["/darkscope/top/sources,1000"]), s["/darkscope/stats"])
    return out


def test_tshark_agrees_with_the_generator(capture):
    _, truth, counts = capture
    h.no_errors(["tshark counts %s packets from %s, the generator %d" % (counts.get(source),
                                                                          source, n)
                 for source, n in truth["top_sources"][:20] if counts.get(source) != n])


@pytest.mark.parametrize("label", RUNS)
def test_summary_lists_1000_top_sources(runs, label):
    rows, _ = runs[label]
    assert len(rows) == 1000, "%s: %d top sources, want 1000" % (label, len(rows))


@pytest.mark.parametrize("label", RUNS)
def test_counts_bracket_true_counts(runs, capture, label):
    rows, stats = runs[label]
    counts = capture[2]
    bad = [r for r in rows
           if not r["packets"] - r["error"] <= counts.get(r["source"], 0) <= r["packets"]]
    exact = sum(1 for r in rows if r["packets"] == counts.get(r["source"]) and r["error"] == 0)
    print("%s: %d rows, %d exact, error sum %d, %d spills; %d rows outside their bracket" % (
        label, len(rows), exact, sum(r["error"] for r in rows), stats["source_spills"],
        len(bad)))
    h.no_errors(["%s: %s listed with %d packets (error %d), true %d" % (
        label, r["source"], r["packets"], r["error"], counts.get(r["source"], 0))
        for r in bad[:10]])


@pytest.mark.parametrize("label", RUNS)
def test_sources_above_n_over_k_listed(runs, capture, label):
    rows, stats = runs[label]
    counts = capture[2]
    n = stats["packets"]
    listed = {r["source"] for r in rows}
    missing = [src for src, c in counts.items() if c > n // 1024 and src not in listed]
    h.no_errors(["%s: %s has %d packets, above N/k=%d, and is not listed" % (
        label, src, counts[src], n // 1024) for src in missing[:10]])


def test_one_interval_without_spills_is_exact(runs, capture):
    # One interval, nothing spilled: the rows come from exact per-tuple counts, IPv4 and IPv6
    # summaries merged as disjoint: all exact.
    label = "default-table-one-interval"
    rows, _ = runs[label]
    counts = capture[2]
    exact = sum(1 for r in rows if r["packets"] == counts.get(r["source"]) and r["error"] == 0)
    assert exact == len(rows), "%s: %d of %d rows exact, want all" % (label, exact, len(rows))


def test_smallest_table_spills_most_packets(runs):
    label = "1024-entries-one-interval"
    _, stats = runs[label]
    ip = stats["ipv4"] + stats["ipv6"]
    assert stats["source_spills"] * 2 >= ip, \
        "%s: only %d of %d IP packets spilled to per-packet counting" % (
            label, stats["source_spills"], ip)
