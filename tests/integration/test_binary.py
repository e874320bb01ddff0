#!/usr/bin/python3
"""The binary itself: --help answers (every option with its default), --version, --plan prints the
core plan without starting anything, and jemalloc is the allocator of the control plane."""
import os
import subprocess
import sys

import dsharness as h

env = h.Env(sys.argv)
errors = []
helptext = subprocess.run([env.darkscope, "--help"], capture_output=True, text=True)
if helptext.returncode != 0:
    errors.append("--help exited %d" % helptext.returncode)
for option in ("--port", "--workers", "--cores", "--rx-queues", "--rx-desc", "--burst", "--mbufs",
               "--sensor", "--interval", "--file-prefix", "--telemetry", "--log-level", "--eal",
               "--read", "--summary", "--geo-country", "--geo-asn", "--db", "--top-k",
               "--event-hook", "--plan", "--pipeline"):
    if option not in helptext.stdout:
        errors.append("--help does not mention %s" % option)
if "(default" not in helptext.stdout and "default:" not in helptext.stdout:
    errors.append("--help shows no defaults")
version = subprocess.run([env.darkscope, "--version"], capture_output=True, text=True)
if version.returncode != 0 or "darkscope" not in version.stdout:
    errors.append("--version: %r" % version.stdout)
plan = subprocess.run([env.darkscope, "--plan", "--port", "net_null0", "--workers", "1"],
                      capture_output=True, text=True)
if plan.returncode != 0 or "lcore" not in plan.stdout.lower():
    errors.append("--plan: exit %d, %r %r" % (plan.returncode, plan.stdout, plan.stderr))
# jemalloc prints its statistics at exit when asked through its own environment variable.
stats = subprocess.run([env.darkscope, "--version"], capture_output=True, text=True,
                       env=dict(os.environ, MALLOC_CONF="stats_print:true"))
if "jemalloc statistics" not in stats.stderr + stats.stdout:
    errors.append("jemalloc is not the allocator (no statistics with MALLOC_CONF=stats_print)")
h.report(errors)
