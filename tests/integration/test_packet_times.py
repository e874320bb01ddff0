"""Packet times a forger controls: a pcap packet dated after 2038-01-19 (unsigned 32-bit seconds)
and a pcapng packet dated after 2106 (64-bit) are stored at their own times, and replaying them
into a history of 2013 deletes none of 2013: retention is measured from a clock a packet cannot
move (docs/schema.md, "Retention"). Captures are written here byte by byte, the truth is the
times the test put in them."""
import os
import sqlite3
import struct
import sys

import dsharness as h
import pytest


def test_packet_times(env):
    errors = []
    INTERVAL = 60


    def frame(i):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, i & 0xffff, 0, 64, 17, 0,
                         bytes([198, 18, 0, 1]), bytes([203, 0, 113, 5]))
        return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + struct.pack("!HHHH", 40000, 53, 8, 0)


    def write_pcap(path, seconds):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
            for i, s in enumerate(seconds):
                data = frame(i)
                f.write(struct.pack("<IIII", s & 0xffffffff, 0, len(data), len(data)) + data)


    def write_pcapng(path, seconds):
        def block(kind, body):
            body += b"\0" * (-len(body) % 4)
            return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
        with open(path, "wb") as f:
            f.write(block(0x0a0d0d0a, struct.pack("<IHHq", 0x1a2b3c4d, 1, 0, -1)))
            f.write(block(1, struct.pack("<HHI", 1, 0, 65535)))
            for i, s in enumerate(seconds):
                data = frame(i)
                us = s * 1000000
                f.write(block(6, struct.pack("<IIIII", 0, us >> 32, us & 0xffffffff, len(data),
                                             len(data)) + data))


    def periods(db):
        con = sqlite3.connect(db)
        rows = con.execute("SELECT resolution, start FROM periods").fetchall()
        con.close()
        return rows


    y2013 = 1370000000  # 2013-05-31
    old = [y2013 + 120 * k for k in range(30)]  # 30 intervals an hour apart of each other's hours
    history = os.path.join(env.tmp, "2013.pcap")
    write_pcap(history, old)
    late_pcap = os.path.join(env.tmp, "2040.pcap")
    y2040 = 2208988800  # 2040-01-01, past the signed 32-bit end
    write_pcap(late_pcap, [y2040, y2040 + 1])
    late_ng = os.path.join(env.tmp, "2107.pcapng")
    y2107 = 4323283200  # 2107-01-01, past the unsigned 32-bit end
    write_pcapng(late_ng, [y2107])

    db = os.path.join(env.tmp, "history.db")
    args = env.base_args() + ["--sensor", "lab=203.0.113.0/24", "--interval", str(INTERVAL),
                              "--db", db]
    env.run(args + ["--read", history], timeout=1200)
    before = sorted(s for r, s in periods(db) if r == "interval")
    want = sorted({t - t % INTERVAL for t in old})
    if before != want:
        errors.append("2013 intervals stored %s, want %s" % (before[:5], want[:5]))

    p = env.run(args + ["--read", late_pcap], check=False, timeout=1200)
    p2 = env.run(args + ["--read", late_ng], check=False, timeout=1200)
    after = periods(db)
    kept = sorted(s for r, s in after if r == "interval" and s < 1400000000)
    if kept != want:
        errors.append("a replay of future-dated packets deleted 2013: %d of %d intervals left" % (
            len(kept), len(want)))
    starts = {s for r, s in after if r == "interval"}
    for t, what in ((y2040, "pcap 2040"), (y2107, "pcapng 2107")):
        if t - t % INTERVAL not in starts:
            errors.append("%s packet: no interval starting %d (stored: %s)" % (
                what, t - t % INTERVAL, sorted(x for x in starts if x > 1400000000 or x < 0)))
    if any(s < 0 for s in starts):
        errors.append("negative period starts stored: %s" % sorted(s for s in starts if s < 0))
    h.no_errors(errors)
