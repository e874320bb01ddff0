"""Jumbo frames live: net_pcap hands a 9000-byte frame over as a chain of mbufs. The worker must
decode it through rte_pktmbuf_read and give the whole chain back (a burst with a chain takes
rte_pktmbuf_free_bulk, the others one rte_mempool_put_bulk). The capture needs about 40,000
mbufs against a pool of 8,191, so a leak would run the pool dry and show as rx_nombuf and
missing packets. Truth: the frames this test writes."""
import collections
import os
import struct

import pytest

import dsharness as h

PACKETS = 20000
JUMBO_EVERY = 4  # every 4th frame is a jumbo: most bursts mix both kinds
JUMBO_LEN = 9000


def frame(i, jumbo):
    """An Ethernet/IPv4/TCP frame from a distinct source to the tokyo-a sensor (203.0.113/24):
    a 60-byte SYN to 445/tcp, or a JUMBO_LEN-byte PSH/ACK to 8080/tcp."""
    length = JUMBO_LEN if jumbo else 60
    port, flags = (8080, 0x18) if jumbo else (445, 0x02)
    src = struct.pack("!I", 0x2D000000 + i)  # 45.0.0.0 + i: routed space
    dst = bytes([203, 0, 113, i % 256])
    ip_len = length - 14
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, i & 0xFFFF, 0, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", 40000 + i % 20000, port, i, 0, 0x50, flags, 1024, 0, 0)
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    body = eth + ip + tcp
    return body + b"\x00" * (length - len(body)), port


def write_capture(pcap):
    """Writes the capture; returns (truth stats, truth services)."""
    truth = collections.Counter()
    services = collections.defaultdict(lambda: {"packets": 0, "bytes": 0})
    with open(pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(PACKETS):
            data, port = frame(i, i % JUMBO_EVERY == 0)
            f.write(struct.pack("<IIII", 1700000000 + i // 1000, i % 1000 * 1000, len(data),
                                len(data)))
            f.write(data)
            truth["packets"] += 1
            truth["bytes"] += len(data)
            services["%d/tcp" % port]["packets"] += 1
            services["%d/tcp" % port]["bytes"] += len(data)
    truth.update(ipv4=PACKETS, tcp=PACKETS, unmatched=0, malformed=0, non_ip=0)
    return truth, services


@pytest.fixture(scope="module")
def live(env):
    pcap = os.path.join(env.tmp, "jumbo.pcap")
    truth, services = write_capture(pcap)
    proc = env.start(env.base_args() + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0"])
    h.wait_socket(env.prefix, proc)
    got = {"truth": truth, "services": services,
           "stats": h.wait_packets(env.prefix, truth["packets"], timeout=90),
           "top": h.telemetry(env.prefix, "/darkscope/top/ports,5,total,all"),
           "port": h.telemetry(env.prefix, "/ethdev/stats,0")}
    got["exit"] = h.stop(proc)
    print("jumbo: %d frames (%d of %d bytes), %d bytes in all; counted %s packets, %s bytes"
          % (PACKETS, PACKETS // JUMBO_EVERY, JUMBO_LEN, truth["bytes"],
             got["stats"].get("packets"), got["stats"].get("bytes")))
    return got


def test_stats_equal_truth(live):
    h.no_errors(h.compare_stats(live["stats"], live["truth"], "jumbo stats"))


def test_top_ports_equal_truth(live):
    h.no_errors(h.compare_top_ports(live["top"], live["services"], "jumbo top ports"))


def test_no_mbuf_leaked_or_lost(live):
    port = live["port"]
    h.no_errors(["/ethdev/stats,0 %s = %s, want 0 (mbufs leaked or lost?)" % (key, port[key])
                 for key in ("rx_nombuf", "imissed", "ierrors") if port.get(key, 0) != 0])


def test_port_received_every_frame(live):
    port = live["port"]
    assert port.get("ipackets") == PACKETS, "/ethdev/stats,0 ipackets = %s, want %d" % (
        port.get("ipackets"), PACKETS)


def test_sigint_exits_0(live):
    assert live["exit"] == 0, "exit status after SIGINT: %d" % live["exit"]
