"""DPDK's own capture tool on a running darkscope: dpdk-dumpcap attaches as a secondary process
(darkscope enables the packet-dump service at start-up) and captures N packets from the live
port while darkscope goes on counting; tshark reads them back (N, or up to a burst more: dumpcap
stops after the burst that reached N), each one of the replayed capture's. Needs hugepages (a
secondary process maps the primary's shared memory): skipped with the reason without them."""
import os
import shutil
import socket
import subprocess
import urllib.request
import sys

import dsharness as h
import pytest

N = 100


def test_dumpcap(env):
    dumpcap = shutil.which("dpdk-dumpcap")
    if dumpcap is None:
        print("SKIP: dpdk-dumpcap (Debian's dpdk package) is not installed")
        pytest.skip("see the message above")
    free_pages = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                free_pages = int(line.split()[1])
    if free_pages * 2 < 1024:
        print("SKIP: dpdk-dumpcap needs darkscope on hugepages (shared memory a secondary process "
              "can map); %d MiB of 2 MiB pages free, 1024 needed (scripts/setup.sh reserves them)"
              % (free_pages * 2))
        pytest.skip("see the message above")

    pcap, truth = env.generate("dump", "--seed", "9", "--packets", "5000", "--profile", "demo")
    env.prefixes.add(env.prefix)
    # infinite_rx: the port replays the capture for as long as darkscope runs, so there is traffic
    # whenever dumpcap attaches.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    metrics_port = probe.getsockname()[1]
    probe.close()
    proc = env.start(["--file-prefix", env.prefix, "--memory", "1024", "--mbufs", "8191",
                      "--log-level", "warning",
                      "--sensor", "tokyo-a=203.0.113.0/24", "--sensor", "tokyo-b=198.51.100.0/24",
                      "--sensor", "osaka=192.0.2.0/24,2001:db8:d::/48", "--precise-sketches", "64",
                      "--tuple-entries", "65536",
                      "--port", "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap, "--interval", "1",
                      "--link-wait", "0", "--metrics-listen", "127.0.0.1:%d" % metrics_port])
    h.wait_socket(env.prefix, proc)
    out = os.path.join(env.tmp, "dump.pcapng")
    errors = []
    try:
        p = subprocess.run([dumpcap, "--file-prefix=" + env.prefix, "-i", "net_pcap0", "-c", str(N),
                            "-w", out, "-q"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            errors.append("dpdk-dumpcap exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr))
    except subprocess.TimeoutExpired as e:
        errors.append("dpdk-dumpcap did not capture %d packets in 120 s: %s" % (N, e))
    if not errors:
        t = subprocess.run(["tshark", "-r", out, "-T", "fields", "-e", "frame.len"],
                           capture_output=True, text=True)
        frames = [line for line in t.stdout.splitlines() if line.strip()]
        # dumpcap stops after the burst that reached N: N or a little more.
        if t.returncode != 0 or not N <= len(frames) < N + 512:
            errors.append("tshark read %d frames from dumpcap's file, %d asked (%s)"
                          % (len(frames), N, t.stderr.strip()))
        # They are the replayed capture's frames: every length is one the capture has.
        src = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.len"],
                             capture_output=True, text=True)
        lengths = set(src.stdout.split())
        strange = [f for f in frames if f not in lengths]
        if strange:
            errors.append("%d captured frames have lengths the capture has not: %s"
                          % (len(strange), strange[:5]))
    # darkscope went on counting through the capture (read from /metrics: the telemetry socket is
    # the one thing a secondary process touches besides the port).
    if proc.poll() is not None:
        errors.append("darkscope exited while dumpcap ran (%d)" % proc.returncode)
    else:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=10) as r:
            text = r.read().decode()
        counted = sum(float(line.split()[-1]) for line in text.splitlines()
                      if line.startswith("darkscope_packets_total{"))
        if counted < N:
            errors.append("darkscope counted %s packets while dumpcap ran" % counted)
    rc = h.stop(proc)
    if rc != 0:
        errors.append("exit status after SIGINT: %d" % rc)
    h.no_errors(errors)
