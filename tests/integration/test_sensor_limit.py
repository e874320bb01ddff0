"""Sensors up to the limit of a source tuple's 8-bit sensor slot (255, beside `unmatched`): with
255 sensors every sensor's traffic is counted at that sensor, the last ones included (past the
64th it used to be counted as `unmatched`); 256 are refused at start-up with exit 2, the limit
and the memory one sensor takes in the message. The capture is built here with scapy and its
truth counted here, independently of darkscope."""
import os

import pytest

import dsharness as h

MAX_SENSORS = 255
# Sensor i holds 10.i.0.0/16; these get traffic, i + 1 packets each, so that every count differs.
BUSY = [0, 1, 63, 64, 65, 100, 127, 128, 200, 253, 254]
UNMATCHED = 7  # packets to 11.0.0.1, in no sensor


def sensor_args(n):
    args = []
    for i in range(n):
        args += ["--sensor", "s%d=10.%d.0.0/16" % (i, i)]
    return args


@pytest.fixture(scope="module")
def capture(env):
    """(pcap path, {sensor name: (packets, bytes)})."""
    from scapy.all import IP, TCP, Ether, wrpcap  # Debian's python3-scapy
    packets, truth = [], {}
    t = 1362101400.0
    for i in BUSY:
        for k in range(i + 1):
            p = Ether() / IP(src="198.18.%d.%d" % (i, k % 250 + 1), dst="10.%d.0.1" % i) / \
                TCP(sport=40000 + k, dport=445, flags="S")
            p.time = t
            t += 0.001
            packets.append(p)
            name = "s%d" % i
            got = truth.get(name, (0, 0))
            truth[name] = (got[0] + 1, got[1] + len(p))
    for k in range(UNMATCHED):
        p = Ether() / IP(src="198.18.250.%d" % (k + 1), dst="11.0.0.1") / TCP(dport=23, flags="S")
        p.time = t
        t += 0.001
        packets.append(p)
        got = truth.get("unmatched", (0, 0))
        truth["unmatched"] = (got[0] + 1, got[1] + len(p))
    pcap = os.path.join(env.tmp, "sensors.pcap")
    wrpcap(pcap, packets)
    return pcap, truth


def test_max_sensors_each_counted_at_its_own(env, capture):
    pcap, truth = capture
    summary = os.path.join(env.tmp, "summary.json")
    env.run(env.base_args() + ["--read", pcap, "--summary", summary] +
            sensor_args(MAX_SENSORS), timeout=1200)
    rows = h.ranked(env.summary(summary)["/darkscope/sensors"])
    got = {r["sensor"]: (r["packets"], r["bytes"]) for r in rows if r["packets"]}
    h.no_errors(["sensor %s: got %s, truth %s" % (name, got.get(name), want)
                 for name, want in sorted(truth.items()) if got.get(name) != want] +
                ["sensor %s: got %s, truth none" % (name, value)
                 for name, value in sorted(got.items()) if name not in truth])
    listed = {r["sensor"] for r in rows}
    missing = ["s%d" % i for i in range(MAX_SENSORS) if "s%d" % i not in listed]
    assert not missing, "configured sensors missing from /darkscope/sensors: %s" % missing[:10]


def test_one_more_refused_with_the_limit(env, capture):
    pcap, _ = capture
    p = env.run(env.base_args() + ["--read", pcap] + sensor_args(MAX_SENSORS + 1), check=False,
                timeout=1200)
    assert p.returncode == 2 and "at most %d sensors" % MAX_SENSORS in p.stderr and \
        "KiB" in p.stderr, "%d sensors: exit %d, stderr %r (want 2 with the limit and the " \
        "memory)" % (MAX_SENSORS + 1, p.returncode, p.stderr.strip()[-300:])
