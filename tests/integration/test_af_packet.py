#!/usr/bin/python3
"""darkscope on a kernel interface through net_af_packet: a veth pair inside a network
namespace this test creates (nothing leaves the machine), a generated capture sent into the peer
byte for byte, and every frame counted: packets and bytes equal what was sent.

DPDK 22.11's af_packet PMD joins a PACKET_FANOUT group with the DEFRAG flag (no devarg turns it
off): the kernel reassembles IP fragments before the PMD sees them and drops orphan ones. The
capture sent here therefore leaves out non-first fragments (tshark filters them), and the expected
counts are capinfos' reading of what is sent."""
import os
import subprocess
import sys
import time

import dsharness as h

env = h.Env(sys.argv)
if os.geteuid() != 0:
    print("SKIP: needs root for a network namespace")
    sys.exit(h.SKIP)
ns = "dsaf%d" % os.getpid()


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


try:
    sh("ip", "netns", "add", ns)
except (subprocess.CalledProcessError, FileNotFoundError) as e:
    print("SKIP: cannot create a network namespace: %s" % e)
    sys.exit(h.SKIP)
errors = []
try:
    def ns_run(*cmd):
        return sh("ip", "netns", "exec", ns, *cmd)

    ns_run("ip", "link", "add", "dsa0", "type", "veth", "peer", "name", "dsa1")
    for dev in ("dsa0", "dsa1"):
        # No kernel chatter (router solicitations, MLD) on the capture side: exact counts.
        ns_run("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % dev)
        ns_run("ip", "link", "set", dev, "up")
    full, _ = env.generate("afp", "--seed", "13", "--packets", "3000", "--profile", "demo")
    pcap = os.path.join(env.tmp, "afp-nofrag.pcap")
    sh("tshark", "-r", full, "-Y", "!(ip.frag_offset > 0) && !(ipv6.fraghdr.offset > 0)",
       "-F", "pcap", "-w", pcap)
    info = sh("capinfos", "-T", "-r", "-c", "-d", pcap).stdout.split("\t")
    truth = {"packets": int(info[1]), "bytes": int(info[2])}
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, env.darkscope] + env.base_args() + [
            "--config", os.path.join(env.src, "conf", "demo.conf"),
            # A ring that holds the whole capture (the default is 512 frames): a worker
            # preempted for a moment on a busy box must not cost frames.
            "--port", "net_af_packet0,iface=dsa0,framecnt=4096", "--interval", "1",
            "--link-wait", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    h.wait_socket(env.prefix, proc)
    # The socket answers before the port starts: wait until the worker has polled it.
    deadline = time.time() + 30
    while time.time() < deadline:
        workers = h.telemetry(env.prefix, "/darkscope/workers")
        if any(w.get("idle_polls", 0) > 0 for w in h.ranked(workers)):
            break
        time.sleep(0.2)
    else:
        errors.append("af_packet: the worker did not poll its port within 30 s")
    # Byte-exact replay through a raw packet socket (scapy would re-serialise what it parses).
    # Paced (64 frames a millisecond at most): the point here is exact counting, not loss
    # under load (the benchmark's business); drops would show as rx_missed.
    send = ("import socket, struct, time\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            "s.bind(('dsa1', 0))\n"
            "f = open(%r, 'rb'); f.read(24)\n"
            "n = 0\n"
            "while True:\n"
            "    h = f.read(16)\n"
            "    if len(h) < 16: break\n"
            "    caplen = struct.unpack('<IIII', h)[2]\n"
            "    s.send(f.read(caplen))\n"
            "    n += 1\n"
            "    if n %% 64 == 0: time.sleep(0.002)\n" % pcap)
    started = time.time()
    ns_run("/usr/bin/python3", "-c", send)
    offered_s = time.time() - started
    stats = h.wait_packets(env.prefix, truth["packets"], timeout=60)
    # Frames shorter than 60 bytes are padded by nothing on veth; bytes are as sent.
    port = h.telemetry(env.prefix, "/ethdev/stats,0")
    # The pipeline at a fixed offered rate: offered, received, missed, counted.
    print("offered %d frames at %.0f frames/s; received %s, missed %s, counted %s" % (
        truth["packets"], truth["packets"] / offered_s, port.get("ipackets"),
        port.get("imissed"), stats.get("packets")))
    errors += h.compare_stats(stats, truth, "af_packet")
    if (port.get("ipackets"), port.get("ibytes")) != (truth["packets"], truth["bytes"]):
        errors.append("af_packet port counters %s, sent %s" % (port, truth))
    if stats.get("rx_missed"):
        errors.append("af_packet: %d frames missed by the port" % stats["rx_missed"])
    if h.stop(proc) != 0:
        errors.append("af_packet run did not exit 0")
finally:
    if "proc" in dir() and proc.poll() is None:
        proc.kill()
    sh("ip", "netns", "del", ns, check=False)
h.report(errors)
