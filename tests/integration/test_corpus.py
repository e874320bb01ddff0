"""Every capture of the shared corpus MANIFEST read offline: no crash, and `packets` equals the
manifest's packet count (an independent tcpdump/capinfos reading). One case per capture."""
import os
import subprocess

import pytest

import darkscope_client as client
import dsharness as h


def pytest_generate_tests(metafunc):
    if "row" in metafunc.fixturenames:
        src = metafunc.config.getoption("source_root")
        corpus = os.path.normpath(os.path.join(src, "..", "shared", "corpus"))
        rows = h.manifest_rows(corpus)
        params = [pytest.param(r, id=r["local_path"]) for r in rows] or [
            pytest.param(None, id="no-corpus", marks=pytest.mark.skip(
                reason="%s not present" % os.path.join(corpus, "pcaps", "MANIFEST.tsv")))]
        metafunc.parametrize("row", params)


@pytest.fixture(scope="module")
def runs():
    """How many captures were read (for a prefix and a summary of their own)."""
    return {"n": 0}


def test_packets_equal_the_manifest(env, runs, row):
    i = runs["n"]
    runs["n"] += 1
    path = os.path.join(env.corpus, "pcaps", row["local_path"])
    summary = os.path.join(env.tmp, "c%d.json" % i)
    # One at a time: each run pins its worker to the same CPU, and two would time-share it.
    p = subprocess.run([env.darkscope] + env.base_args(prefix="%s_c%d" % (env.prefix, i)) + [
        "--read", path, "--summary", summary, "--sensor", "all=0.0.0.0/0,::/0"],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "%s: exit %d: %s" % (row["local_path"], p.returncode,
                                                   p.stderr.strip()[-300:])
    got = client.read_summary(summary)["/darkscope/stats"]["packets"]
    assert got == int(row["packets"]), "%s: packets %d, manifest %s" % (row["local_path"], got,
                                                                        row["packets"])
