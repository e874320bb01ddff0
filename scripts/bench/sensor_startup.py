#!/usr/bin/python3
"""Start-up time of darkscope against the number of sensor prefixes.

    sensor_startup.py --darkscope PATH [--prefixes 100000,300000,1000000] [--work DIR]

For each count: a config of that many distinct random prefixes (80% IPv4 /24, /28 and /32, 20%
IPv6 /48 and /64) over 8 sensors, then `darkscope --config C --read ONE_PACKET.pcap` (4 KiB
pages, 1 GiB) timed whole: wall seconds, CPU seconds and peak RSS, one line per count, next to a
run with one prefix. Reading a one-packet capture leaves start-up (option parsing, validation,
the sensor table, EAL, the tables) and exit. Standard library only.
"""

import argparse
import ipaddress
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time


def write_config(path, n):
    rnd = random.Random(7)
    seen = set()
    nets = []
    while len(nets) < n:
        if rnd.random() < 0.8:
            length = rnd.choice([24, 28, 32])
            net = (4, rnd.getrandbits(32) >> (32 - length) << (32 - length), length)
        else:
            length = rnd.choice([48, 64])
            net = (6, rnd.getrandbits(128) >> (128 - length) << (128 - length), length)
        if net not in seen:
            seen.add(net)
            nets.append(str(ipaddress.ip_network((net[1], net[2]))))
    with open(path, "w") as f:
        for s in range(min(8, n)):
            f.write("sensor = s%d=%s\n" % (s, ",".join(nets[s::8])))


def write_one_packet(path):
    # Classic pcap, Ethernet, one IPv4 UDP packet.
    frame = (b"\x00" * 12 + b"\x08\x00" + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0,
                                                  198, 18, 0, 1, 192, 0, 2, 1]) +
             struct.pack(">HHHH", 40000, 53, 8, 0))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("sensor_startup.py: darkscope exited %d: %s" % (p.returncode,
                                                                p.stderr.strip()[-500:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--darkscope", required=True)
    ap.add_argument("--prefixes", default="100000,300000,1000000")
    ap.add_argument("--work", help="directory for the configs (default: a temporary one)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="sensor-startup-")
    pcap = os.path.join(work, "one.pcap")
    write_one_packet(pcap)
    print("prefixes  wall_s  cpu_s  (peak RSS of the largest run so far, MiB)")
    for n in [1] + [int(x) for x in args.prefixes.split(",")]:
        conf = os.path.join(work, "sensors-%d.conf" % n)
        write_config(conf, n)
        wall, cpu, rss = timed([args.darkscope, "--config", conf, "--read", pcap,
                                "--file-prefix", "sensor-startup", "--no-huge", "--memory",
                                "1024", "--log-level", "error"])
        print("%8d  %6.2f  %5.2f  (%d)" % (n, wall, cpu, rss // 1024), flush=True)


if __name__ == "__main__":
    main()
