"""The binary itself: --help answers (every option with its default), --version, --plan prints the
core plan without starting anything, and jemalloc is the allocator of the control plane."""
import os
import subprocess

import pytest

OPTIONS = ("--port", "--workers", "--cores", "--rx-queues", "--rx-desc", "--burst", "--mbufs",
           "--sensor", "--interval", "--file-prefix", "--telemetry", "--log-level", "--eal",
           "--read", "--summary", "--geo-country", "--geo-asn", "--db", "--top-k",
           "--event-hook", "--plan", "--pipeline")


@pytest.fixture(scope="module")
def helptext(darkscope):
    return subprocess.run([darkscope, "--help"], capture_output=True, text=True)


def test_help_exits_0(helptext):
    assert helptext.returncode == 0, "--help exited %d" % helptext.returncode


def test_help_mentions_every_option(helptext):
    missing = [o for o in OPTIONS if o not in helptext.stdout]
    assert not missing, "--help does not mention %s" % ", ".join(missing)


def test_help_shows_defaults(helptext):
    assert "(default" in helptext.stdout or "default:" in helptext.stdout, "--help shows no defaults"


def test_version_names_darkscope(darkscope):
    version = subprocess.run([darkscope, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "darkscope" in version.stdout, "--version: %r" % (
        version.stdout,)


def test_plan_prints_the_core_plan(darkscope):
    plan = subprocess.run([darkscope, "--plan", "--port", "net_null0", "--workers", "1"],
                          capture_output=True, text=True)
    assert plan.returncode == 0 and "lcore" in plan.stdout.lower(), "--plan: exit %d, %r %r" % (
        plan.returncode, plan.stdout, plan.stderr)


def test_jemalloc_is_the_allocator(darkscope):
    # jemalloc prints its statistics at exit when asked through its own environment variable.
    stats = subprocess.run([darkscope, "--version"], capture_output=True, text=True,
                           env=dict(os.environ, MALLOC_CONF="stats_print:true"))
    assert "jemalloc statistics" in stats.stderr + stats.stdout, \
        "jemalloc is not the allocator (no statistics with MALLOC_CONF=stats_print)"
