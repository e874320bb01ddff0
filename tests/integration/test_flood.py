"""Bounded memory: a spoofed-source flood of 10^7 distinct sources with random ports (and
SYN-ACK backscatter from random victims) must not grow darkscope's memory past its budget.
Measured from the process (peak resident set) and the DPDK heap, as darkscope reports them at the
end of the run; no timing involved. The flood's counts must still be exact."""
import os
import subprocess

import pytest

BIG = int(os.environ.get("DARKSCOPE_FLOOD_PACKETS", "10000000"))
SIZES = (BIG // 10, BIG)
# The per-worker and stats-core budgets (docs/metrics.md): 2 x 24 MiB counter sets with their
# precise sketches, 2 x 170.0 MiB of IPv4 and IPv6 source tuples and four Space-Saving summaries
# per worker; four window accumulators with theirs, their snapshot copies and the series history on the
# stats core, which also sorts each retired epoch's tuples (8 bytes each) for the top talkers.
# With --no-huge the DPDK heap (mbufs, tables) is part of the resident set; the budget below is
# the EAL memory given plus 640 MiB for the control plane.
EAL_MB = 1024
BUDGET = (EAL_MB + 640) << 20
# What may grow with the flood is bounded by design: the precise per-key sketches (pools of
# --precise-sketches, default 512, per worker counter set and 4 x 512 per stats-core window;
# docs/metrics.md).
WINDOW_SKETCHES = 4 * 512
# Full pools: 4 windows, their published copies and the copies being replaced, 16 KiB each.
POOLS_MAX = 3 * 4 * WINDOW_SKETCHES * 16448 + 2 * 512 * 16448


@pytest.fixture(scope="module")
def floods(env, flood_pcap):
    """{packets: the run's /darkscope/stats} for a flood of each size."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else env.tmp
    results = {}
    for n in SIZES:
        pcap = os.path.join(shm, "darkscope-flood-%d-%d.pcap" % (os.getpid(), n))
        subprocess.run([flood_pcap, pcap, str(n), "7", "600"], check=True)
        summary = os.path.join(env.tmp, "flood-%d.json" % n)
        try:
            env.run(["--file-prefix", "%s_%d" % (env.prefix, n), "--no-huge", "--memory",
                     str(EAL_MB), "--mbufs", "8191", "--log-level", "warning", "--read", pcap,
                     "--sensor", "dark=203.0.113.0/24", "--interval", "60", "--summary",
                     summary], timeout=900)
        finally:
            os.unlink(pcap)
        stats = env.summary(summary)["/darkscope/stats"]
        results[n] = stats
        print("%d packets: peak RSS %.1f MiB, DPDK heap %.1f MiB, unique sources %d" % (
            n, stats["rss_peak_bytes"] / 2**20, stats["dpdk_heap_bytes"] / 2**20,
            stats["sources"]))
    return results


@pytest.mark.parametrize("n", SIZES)
def test_every_packet_counted(floods, n):
    assert floods[n]["packets"] == n, "%d-packet flood: counted %d" % (n, floods[n]["packets"])


@pytest.mark.parametrize("n", SIZES)
def test_peak_rss_within_budget(floods, n):
    peak = floods[n]["rss_peak_bytes"]
    assert peak <= BUDGET, "%d-packet flood: peak RSS %d over the budget %d" % (n, peak, BUDGET)


@pytest.mark.parametrize("n", SIZES)
def test_unique_sources_within_2_percent(floods, n):
    # Nearly every packet has a new source: the sketch must say so within 2%.
    sources = floods[n]["sources"]
    assert abs(sources - n) <= 0.02 * n, "%d-packet flood: %d unique sources estimated" % (
        n, sources)


def test_big_flood_fills_the_precise_sketches_and_reports_degraded_keys(floods):
    # The big flood must have filled the run window's pool and reported the keys that fell back
    # to small sketches.
    large = floods[BIG]
    assert large.get("precise_sketches") == WINDOW_SKETCHES and \
        large.get("degraded_keys", 0) != 0, \
        "the %d-source flood should fill the run's %d precise sketches and report degraded " \
        "keys: precise_sketches %s, degraded_keys %s" % (
            BIG, WINDOW_SKETCHES, large.get("precise_sketches"), large.get("degraded_keys"))


def test_rss_growth_within_full_sketch_pools(floods):
    # The growth between the two floods must stay within what full pools hold.
    growth = floods[BIG]["rss_peak_bytes"] - floods[BIG // 10]["rss_peak_bytes"]
    print("peak RSS growth %.1f MiB; bound from full sketch pools %.1f MiB" % (
        growth / 2**20, POOLS_MAX / 2**20))
    assert growth <= POOLS_MAX + (64 << 20), \
        "peak RSS grew by %.1f MiB from %d to %d distinct sources: more than full sketch pools " \
        "(%.1f MiB) can explain" % (growth / 2**20, BIG // 10, BIG, POOLS_MAX / 2**20)
