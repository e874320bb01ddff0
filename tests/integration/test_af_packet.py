"""darkscope on a kernel interface through net_af_packet: a veth pair inside a network
namespace this test creates (nothing leaves the machine), a generated capture sent into the peer
byte for byte, and every frame counted: packets and bytes equal what was sent.

DPDK 22.11's af_packet PMD joins a PACKET_FANOUT group with the DEFRAG flag (no devarg turns it
off): the kernel reassembles IP fragments before the PMD sees them and drops orphan ones. The
capture sent here therefore leaves out non-first fragments (tshark filters them), and the expected
counts are capinfos' reading of what is sent."""
import os
import subprocess
import time

import pytest

import dsharness as h


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


# Byte-exact replay through a raw packet socket (scapy would re-serialise what it parses). Paced
# (64 frames a millisecond at most): the point here is exact counting, not loss under load (the
# benchmark's business); drops would show as rx_missed.
SEND = ("import socket, struct, sys, time\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
        "s.bind(('dsa1', 0))\n"
        "f = open(sys.argv[1], 'rb'); f.read(24)\n"
        "n = 0\n"
        "while True:\n"
        "    h = f.read(16)\n"
        "    if len(h) < 16: break\n"
        "    caplen = struct.unpack('<IIII', h)[2]\n"
        "    s.send(f.read(caplen))\n"
        "    n += 1\n"
        "    if n % 64 == 0: time.sleep(0.002)\n")


@pytest.fixture(scope="module")
def namespace():
    """A network namespace with the veth pair dsa0 (darkscope's) and dsa1 (the sender's)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    ns = "dsaf%d" % os.getpid()
    try:
        sh("ip", "netns", "add", ns)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip("cannot create a network namespace: %s" % e)
    try:
        sh("ip", "netns", "exec", ns, "ip", "link", "add", "dsa0", "type", "veth", "peer",
           "name", "dsa1")
        for dev in ("dsa0", "dsa1"):
            # No kernel chatter (router solicitations, MLD) on the capture side: exact counts.
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.%s.disable_ipv6=1" % dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        yield ns
    finally:
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def live(env, namespace):
    """darkscope on dsa0 while the capture is sent into dsa1: what it counted, the port's
    counters, whether its worker polled, its exit status, and capinfos' truth."""
    full, _ = env.generate("afp", "--seed", "13", "--packets", "3000", "--profile", "demo")
    pcap = os.path.join(env.tmp, "afp-nofrag.pcap")
    sh("tshark", "-r", full, "-Y", "!(ip.frag_offset > 0) && !(ipv6.fraghdr.offset > 0)",
       "-F", "pcap", "-w", pcap)
    info = sh("capinfos", "-T", "-r", "-c", "-d", pcap).stdout.split("\t")
    truth = {"packets": int(info[1]), "bytes": int(info[2])}
    proc = env.start(env.base_args() + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        # A ring that holds the whole capture (the default is 512 frames): a worker preempted
        # for a moment on a busy box must not cost frames.
        "--port", "net_af_packet0,iface=dsa0,framecnt=4096", "--interval", "1",
        "--link-wait", "2"], cmd_prefix=("ip", "netns", "exec", namespace))
    h.wait_socket(env.prefix, proc)
    # The socket answers before the port starts: wait until the worker has polled it.
    got = {"truth": truth, "polled": False}
    deadline = time.time() + 30
    while time.time() < deadline and not got["polled"]:
        workers = h.telemetry(env.prefix, "/darkscope/workers")
        got["polled"] = any(w.get("idle_polls", 0) > 0 for w in h.ranked(workers))
        if not got["polled"]:
            time.sleep(0.2)
    started = time.time()
    sh("ip", "netns", "exec", namespace, "/usr/bin/python3", "-c", SEND, pcap)
    offered_s = time.time() - started
    got["stats"] = h.wait_packets(env.prefix, truth["packets"], timeout=60)
    got["port"] = h.telemetry(env.prefix, "/ethdev/stats,0")
    # The pipeline at a fixed offered rate: offered, received, missed, counted.
    print("offered %d frames at %.0f frames/s; received %s, missed %s, counted %s" % (
        truth["packets"], truth["packets"] / offered_s, got["port"].get("ipackets"),
        got["port"].get("imissed"), got["stats"].get("packets")))
    got["exit"] = h.stop(proc)
    return got


def test_worker_polls_the_port(live):
    assert live["polled"], "af_packet: the worker did not poll its port within 30 s"


def test_stats_equal_what_was_sent(live):
    h.no_errors(h.compare_stats(live["stats"], live["truth"], "af_packet"))


def test_port_counters_equal_what_was_sent(live):
    # Frames shorter than 60 bytes are padded by nothing on veth; bytes are as sent.
    port, truth = live["port"], live["truth"]
    assert (port.get("ipackets"), port.get("ibytes")) == (truth["packets"], truth["bytes"]), \
        "af_packet port counters %s, sent %s" % (port, truth)


def test_no_frame_missed(live):
    missed = live["stats"].get("rx_missed")
    assert not missed, "af_packet: %d frames missed by the port" % missed


def test_sigint_exits_0(live):
    assert live["exit"] == 0, "af_packet run did not exit 0"
