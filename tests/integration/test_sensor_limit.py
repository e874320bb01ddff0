"""More sensors than the per-sensor tables hold are refused at start-up with exit 2, the limit
and the memory one sensor takes in the message, instead of counting the traffic of the sensors
past the limit as unmatched."""
import sys

import dsharness as h
import pytest


def test_sensor_limit(env):
    errors = []
    pcap, _ = env.generate("limit", "--seed", "3", "--packets", "50")
    sensors = []
    for i in range(65):
        sensors += ["--sensor", "s%d=10.%d.0.0/16" % (i, i)]
    p = env.run(env.base_args() + ["--read", pcap] + sensors, check=False, timeout=1200)
    if p.returncode != 2 or "at most 64 sensors" not in p.stderr or "KiB" not in p.stderr:
        errors.append("65 sensors: exit %d, stderr %r (want 2 with the limit and the memory)" % (
            p.returncode, p.stderr.strip()[-300:]))
    h.no_errors(errors)
