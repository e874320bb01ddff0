"""Offline mode: --read of a generated capture; the summary equals the generator's truth."""
import os

import pytest

import dsharness as h


@pytest.fixture(scope="module")
def run(env):
    """(summary, truth) of one offline run of the demo capture."""
    pcap, truth = env.generate("offline", "--seed", "11", "--packets", "20000", "--profile",
                               "demo")
    summary = os.path.join(env.tmp, "summary.json")
    env.run(env.base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                               "--read", pcap, "--summary", summary])
    return env.summary(summary), truth


def test_stats_equal_truth(run):
    s, truth = run
    h.no_errors(h.compare_stats(s["/darkscope/stats"], truth, "offline stats"))


def test_top_ports_equal_truth(run):
    s, truth = run
    h.no_errors(h.compare_top_ports(s["/darkscope/top/ports,1000"], truth["services"], "offline",
                                    n=1000))


def test_top_ports_of_all_classes_equal_truth(run):
    s, truth = run
    h.no_errors(h.compare_top_ports(s["/darkscope/top/ports,1000,total,all"],
                                    truth["services_all"], "offline all classes", n=1000))


def test_classes_equal_truth(run):
    s, truth = run
    classes = s["/darkscope/classes"]
    h.no_errors(["class %s: %s, truth %s" % (name, classes.get(name), count)
                 for name, count in truth.get("classes", {}).items()
                 if classes.get(name) != count])


def test_sensors_equal_truth(run):
    s, truth = run
    sensors = {r["sensor"]: r for r in h.ranked(s["/darkscope/sensors"])}
    errors = []
    for name, t in truth.get("sensors", {}).items():
        got = sensors.get(name, {})
        if (got.get("packets"), got.get("bytes")) != (t["packets"], t["bytes"]):
            errors.append("sensor %s: %s, truth %s" % (name, got, t))
    h.no_errors(errors)


def test_flags_equal_truth(run):
    s, truth = run
    flags = s["/darkscope/flags"]
    h.no_errors(["flag %s: %s, truth %s" % (name, flags.get(name), count)
                 for name, count in truth.get("flags", {}).items() if flags.get(name) != count])


def test_unique_sources_and_destinations_within_2_percent(run):
    # HyperLogLog within 2% of the generator's exact distinct counts.
    s, truth = run
    stats = s["/darkscope/stats"]
    h.no_errors(["unique %s: %d, truth %d (over 2%%)" % (key, stats[key], truth[key])
                 for key in ("sources", "destinations")
                 if abs(stats[key] - truth[key]) > 0.02 * truth[key]])


def test_unique_sources_per_sensor_within_2_percent(run):
    s, truth = run
    errors = []
    for r in h.ranked(s["/darkscope/sensors"]):
        want = truth.get("sensor_sources", {}).get(r["sensor"])
        if want and abs(r["sources"] - want) > 0.02 * want:
            errors.append("sensor %s sources %d, truth %d" % (r["sensor"], r["sources"], want))
    h.no_errors(errors)


def test_unique_sources_per_service_and_country_within_2_percent(run):
    # Per-key unique sources (pooled sketches: exact to 1024, then P = 14): within 2% of the
    # generator's exact distinct counts for every service and country.
    s, truth = run
    errors = []
    checked = 0
    for r in h.ranked(s["/darkscope/top/ports,1000"]):
        want = truth.get("service_sources", {}).get(r["service"])
        if want:
            checked += 1
            if abs(r["sources"] - want) > 0.02 * want:
                errors.append("service %s sources %d, truth %d" % (r["service"], r["sources"],
                                                                  want))
    for r in h.ranked(s["/darkscope/top/countries,1000"]):
        want = truth.get("countries", {}).get(r["country"], {}).get("sources")
        if want:
            checked += 1
            if abs(r["sources"] - want) > 0.02 * want:
                errors.append("country %s sources %d, truth %d" % (r["country"], r["sources"],
                                                                  want))
    print("per-key unique sources checked against the truth: %d keys" % checked)
    if checked < 10:
        errors.append("only %d per-key unique counts had a truth to compare with" % checked)
    h.no_errors(errors)


def test_no_degraded_keys(run):
    # The default sketch pools hold this capture: no key fell back to a small sketch.
    s, _ = run
    degraded = s["/darkscope/stats"].get("degraded_keys")
    assert degraded == 0, "degraded_keys %s: the default pools should hold this capture" % (
        degraded,)


def test_top_sources_exact(run):
    # The busiest sources in the right order with exact counts (no eviction at this size).
    s, truth = run
    got = [[r["source"], r["packets"]] for r in h.ranked(s["/darkscope/top/sources,1000"])[:10]]
    assert got == truth["top_sources"][:10], "top sources\n  got  %s\n  want %s" % (
        got, truth["top_sources"][:10])


def test_no_huge_without_memory_fits_the_default_pool(env, run):
    """--no-huge and no --memory, as a new user types it (demo.conf's `memory` and `mbufs` set back
    to their defaults): EAL's own 64 MiB do not hold the default 16,383-mbuf pool on 4 KiB pages
    (the capture could fill it), so offline darkscope asks EAL for what the pool takes; the counts
    are the same."""
    _, truth = run
    summary = os.path.join(env.tmp, "summary-default-memory.json")
    env.run(["--file-prefix", env.prefix + "_mem", "--no-huge", "--log-level", "info",
             "--config", os.path.join(env.src, "conf", "demo.conf"), "--memory", "0",
             "--mbufs", "16383", "--read", os.path.join(env.tmp, "offline.pcap"), "--summary", summary])
    h.no_errors(h.compare_stats(env.summary(summary)["/darkscope/stats"], truth,
                                "offline stats, default memory"))
