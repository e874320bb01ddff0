"""The compiled attribution image end to end: --geo-build-cache saves it, later runs map it, and a
run that finds it damaged says so, rebuilds it and still counts countries and ASNs exactly as the
generator's truth says (range CSVs converted here independently of darkscope)."""
import glob
import os
import subprocess

import pytest

import dsharness as h


@pytest.fixture(scope="module")
def setup(env):
    """(capture, truth, geo arguments with --geo-cache, cache directory)."""
    nets = os.path.join(env.tmp, "nets.csv")
    pcap, truth = env.generate("geocache", "--seed", "9", "--packets", "20000", "--profile",
                               "demo", "--write-networks", nets, "--source-networks", nets)
    cache = os.path.join(env.tmp, "cache")
    geo = h.geo_csvs(nets, env.tmp) + ["--geo-cache", cache]
    return pcap, truth, geo, cache


def images(cache):
    return glob.glob(os.path.join(cache, "*"))


def read(env, setup, name):
    """--read of the capture: (log, countries, ASNs) of the summary."""
    pcap, _, geo, _ = setup
    summary = os.path.join(env.tmp, name + ".json")
    # base_args() with --log-level info: the image's notice is the point.
    args = [a if a != "warning" else "info" for a in env.base_args()]
    p = env.run(args + ["--read", pcap, "--summary", summary] + geo)
    s = env.summary(summary)
    return p.stderr + p.stdout, s["/darkscope/top/countries,1000"], s["/darkscope/top/asns,1000"]


def check_truth(setup, countries, asns, label):
    truth = setup[1]
    h.no_errors(h.compare_named(countries, truth["countries"], "country", label) +
                h.compare_named(asns, truth["asns"], "asn", label))


def test_build_cache_saves_then_finds_the_image(env, setup):
    geo, cache = setup[2], setup[3]
    first = env.run(["--geo-build-cache"] + geo)
    assert "attribution image: built from the databases, saved as %s/geo-" % cache in first.stdout
    assert first.returncode == 0
    files = images(cache)
    assert len(files) == 1 and files[0].endswith(".dsgeo"), files
    again = env.run(["--geo-build-cache"] + geo)
    assert "attribution image: mapped %s" % files[0] in again.stdout, again.stdout


def test_build_cache_needs_a_database(env):
    p = env.run(["--geo-build-cache"], check=False)
    assert p.returncode == 2
    assert "no --geo-country or --geo-asn database to build from" in p.stderr, p.stderr


def test_read_maps_the_image_and_counts_the_truth(env, setup):
    env.run(["--geo-build-cache"] + setup[2])
    log, countries, asns = read(env, setup, "mapped")
    assert "attribution image: mapped " in log, log[-2000:]
    check_truth(setup, countries, asns, "mapped image")


def test_damaged_image_is_refused_rebuilt_and_the_counts_stay_true(env, setup):
    env.run(["--geo-build-cache"] + setup[2])
    path = images(setup[3])[0]
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)
    log, countries, asns = read(env, setup, "rebuilt")
    assert "attribution image: refused %s: truncated image" % path in log, log[-2000:]
    assert "built from the databases, saved as %s" % path in log, log[-2000:]
    check_truth(setup, countries, asns, "rebuilt image")
    again = env.run(["--geo-build-cache"] + setup[2])
    assert "attribution image: mapped %s" % path in again.stdout, again.stdout


def test_two_builders_at_once_leave_one_whole_image(env, setup):
    """Two darkscope --geo-build-cache on an empty cache at the same time: both succeed, each
    writes under its own temporary name and renames, and what stays is one image that a third
    run maps as it is."""
    cache = os.path.join(env.tmp, "race-cache")
    geo = [a if a != setup[3] else cache for a in setup[2]]
    procs = [subprocess.Popen([env.darkscope, "--geo-build-cache"] + geo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, "builder exited %d: %s %s" % (p.returncode, out, err)
        assert "attribution image: " in out, out
    files = images(cache)
    assert len(files) == 1 and files[0].endswith(".dsgeo"), "left in the cache: %s" % files
    third = env.run(["--geo-build-cache"] + geo)
    assert "attribution image: mapped %s" % files[0] in third.stdout, third.stdout
