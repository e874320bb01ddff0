"""Sensors with 100,000 prefixes (IPv4 and IPv6, nested across sensors): every packet goes to the
sensor of its longest matching prefix, against a longest-prefix match computed here with
Python's ipaddress; a prefix given to two sensors, or twice to one, is refused with the same
words at this size as with two prefixes. Start-up time is measured by scripts/bench, not here."""
import ipaddress
import os
import random

import pytest

import dsharness as h

PREFIXES = 100_000
SENSORS = 8
PACKETS = 4000


def random_prefix(rnd):
    if rnd.random() < 0.8:
        length = rnd.choice([12, 16, 20, 24, 28, 32])
        return ipaddress.ip_network((rnd.getrandbits(32) >> (32 - length) << (32 - length),
                                     length))
    length = rnd.choice([32, 48, 64, 128])
    return ipaddress.ip_network((rnd.getrandbits(128) >> (128 - length) << (128 - length),
                                 length))


@pytest.fixture(scope="module")
def layout():
    """{prefix: sensor name}: random prefixes, a quarter of them inside another one (so the
    longest match decides between sensors)."""
    rnd = random.Random(11)
    owner = {}
    nets = []
    while len(owner) < PREFIXES:
        if nets and rnd.random() < 0.25:
            outer = rnd.choice(nets)
            extra = rnd.randint(1, outer.max_prefixlen - outer.prefixlen) \
                if outer.prefixlen < outer.max_prefixlen else 0
            if extra == 0:
                continue
            net = rnd.choice(list(outer.subnets(prefixlen_diff=min(extra, 4))))
        else:
            net = random_prefix(rnd)
        if net not in owner:
            owner[net] = "s%d" % rnd.randrange(SENSORS)
            nets.append(net)
    return owner


def write_config(path, owner, extra=()):
    by_sensor = {}
    for net, sensor in list(owner.items()) + list(extra):
        by_sensor.setdefault(sensor, []).append(str(net))
    with open(path, "w") as f:
        for sensor in sorted(by_sensor):
            f.write("sensor = %s=%s\n" % (sensor, ",".join(by_sensor[sensor])))


def longest_match(owner):
    """addr -> sensor name or None, by the longest prefix (here, independently of darkscope)."""
    by_length = {}
    for net, sensor in owner.items():
        by_length.setdefault((net.version, net.prefixlen), {})[int(net.network_address)] = sensor
    lengths = {4: sorted((l for v, l in by_length if v == 4), reverse=True),
               6: sorted((l for v, l in by_length if v == 6), reverse=True)}

    def match(addr):
        bits = addr.max_prefixlen
        for length in lengths[addr.version]:
            key = int(addr) >> (bits - length) << (bits - length)
            sensor = by_length[(addr.version, length)].get(key)
            if sensor is not None:
                return sensor
        return None
    return match


@pytest.fixture(scope="module")
def capture(env, layout):
    """A capture of UDP packets, two thirds to an address inside a random prefix, the rest to a
    random address; and the truth per sensor."""
    from scapy.all import IP, IPv6, UDP, Ether, wrpcap  # /usr/bin/python3 has scapy
    rnd = random.Random(12)
    # Addresses given: scapy would otherwise look each destination's MAC address up.
    ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x0800)
    ETHER6 = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x86dd)
    nets = list(layout)
    match = longest_match(layout)
    truth = {"s%d" % i: 0 for i in range(SENSORS)}
    unmatched = 0
    packets = []
    for _ in range(PACKETS):
        if rnd.random() < 2 / 3:
            net = rnd.choice(nets)
            dst = net.network_address + rnd.randrange(net.num_addresses)
        elif rnd.random() < 0.8:
            dst = ipaddress.IPv4Address(rnd.getrandbits(32))
        else:
            dst = ipaddress.IPv6Address(rnd.getrandbits(128))
        if dst.version == 4:
            pkt = ETHER / IP(src="198.18.0.1", dst=str(dst)) / UDP(sport=40000, dport=53)
        else:
            pkt = ETHER6 / IPv6(src="2001:db8::1", dst=str(dst)) / UDP(sport=40000, dport=53)
        packets.append(pkt)
        sensor = match(dst)
        if sensor is None:
            unmatched += 1
        else:
            truth[sensor] += 1
    path = os.path.join(env.tmp, "many.pcap")
    wrpcap(path, packets)
    return path, truth, unmatched


def test_packets_go_to_the_longest_matching_prefixs_sensor(env, layout, capture):
    pcap, truth, unmatched = capture
    conf = os.path.join(env.tmp, "many.conf")
    write_config(conf, layout)
    out = os.path.join(env.tmp, "many.json")
    env.run(env.base_args() + ["--config", conf, "--read", pcap, "--summary", out], timeout=600)
    summary = env.summary(out)
    got = {row["sensor"]: row["packets"] for row in h.ranked(summary["/darkscope/sensors"])}
    stats = summary["/darkscope/stats"]
    errors = []
    truth = dict(truth, unmatched=unmatched)  # the sensors view has an "unmatched" row
    if got != truth:
        errors.append("per-sensor packets %s, truth %s" % (got, truth))
    if stats.get("unmatched") != unmatched:
        errors.append("unmatched %s, truth %d" % (stats.get("unmatched"), unmatched))
    h.no_errors(errors)


@pytest.mark.parametrize("where", ["another-sensor", "same-sensor"])
def test_repeated_prefix_refused_as_with_two(env, layout, where):
    net, sensor = next(iter(layout.items()))
    other = sensor if where == "same-sensor" else ("s1" if sensor == "s0" else "s0")
    # The config lists sensors in name order: the first one to list the prefix keeps it.
    first, second = sorted([sensor, other])
    want = ("%s listed twice in this sensor" % net if where == "same-sensor" else
            "%s is already in sensor '%s' (a prefix belongs to one sensor)" % (net, first))
    for name, owner in [("few", {net: sensor}), ("many", layout)]:
        conf = os.path.join(env.tmp, "repeat-%s-%s.conf" % (where, name))
        write_config(conf, owner, [(net, other)])
        p = env.run(env.base_args() + ["--config", conf, "--read", os.devnull], check=False,
                    timeout=600)
        lines = [line for line in p.stderr.splitlines() if line.startswith("darkscope:")]
        assert p.returncode == 2 and len(lines) == 1 and want in lines[0] and \
            "sensor: '%s': " % second in lines[0], \
            "%s prefixes: exit %d, %r; want %r" % (name, p.returncode, p.stderr[-500:], want)
