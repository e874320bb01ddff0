"""Any byte in any string darkscope answers comes out as valid JSON. AS names made of random
bytes (every value but NUL and the line ends a CSV line cannot hold, invalid UTF-8 and control
characters included) are attributed to real traffic; the offline summary and every telemetry reply
must parse as strict JSON, valid UTF-8 must come out as the same characters and every other byte
as U+FFFD (docs/telemetry.md, "Strings"). Telemetry parameters of every byte value, echoed in
error replies, must do the same."""
import csv
import ipaddress
import json
import os
import random
import socket
import sys

import dsharness as h
import pytest


def test_json_bytes(env):
    rng = random.Random(25)
    errors = []


    def sanitized(raw):
        """What darkscope promises for a byte string: each valid UTF-8 sequence as its character,
        every other byte as U+FFFD. Computed here with Python's own decoder, sequence by sequence."""
        out, i = [], 0
        while i < len(raw):
            c = raw[i]
            n = 1 if c < 0x80 else 2 if 0xc2 <= c <= 0xdf else 3 if 0xe0 <= c <= 0xef else \
                4 if 0xf0 <= c <= 0xf4 else 0
            try:
                if n == 0:
                    raise UnicodeDecodeError("utf-8", raw, i, i + 1, "invalid start")
                out.append(raw[i:i + n].decode("utf-8"))
                i += n
            except UnicodeDecodeError:
                out.append("\ufffd")
                i += 1
        return "".join(out)


    def telemetry_text(value):
        """A telemetry string value back to its characters: DPDK 22.11 cannot carry bytes outside
        ASCII, so darkscope sends every string as the body of a JSON string in ASCII."""
        return json.loads('"' + value + '"')


    def request(command):
        """One raw request: the reply must be UTF-8 and strict JSON (no raw control characters)."""
        path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % env.prefix
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(path)
        info = json.loads(s.recv(1024).decode())
        s.send(command)
        raw = s.recv(info["max_output_len"])
        s.close()
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as e:
            errors.append("%r: reply is not JSON (%s): %r" % (command[:80], e, raw[:300]))
            return None


    # Names of random bytes; line ends cannot be in a CSV line, and the reader trims blanks.
    line_ends = {0x0a, 0x0d}
    names = [bytes(range(0x80, 0x100)), bytes(b for b in range(1, 0x80) if b not in line_ends),
             "Telecomunicações Ltda".encode(), b"\xc3", b"\xe2\x82", b"\xed\xa0\x80 surrogate",
             b"\xf4\x90\x80\x80 beyond", b"\xc0\xaf overlong", "日本 😀".encode()]
    while len(names) < 60:
        names.append(bytes(rng.choice([b for b in range(1, 256) if b not in line_ends])
                           for _ in range(rng.randint(1, 40))))

    nets = os.path.join(env.tmp, "nets.csv")
    pcap, truth = env.generate("bytes", "--seed", "25", "--packets", "20000", "--profile", "demo",
                               "--write-networks", nets, "--source-networks", nets)
    country_csv = os.path.join(env.tmp, "country.csv")
    asn_csv = os.path.join(env.tmp, "asn.csv")
    expected = {}  # asn -> characters
    chosen = {}  # asn -> bytes
    with open(nets) as f, open(country_csv, "w", newline="") as c, open(asn_csv, "wb") as a:
        cw = csv.writer(c)
        for row in csv.reader(f):
            net = ipaddress.ip_network(row[0])
            cw.writerow([net[0], net[-1], row[1]])
            # One name per ASN (an ASN may have several networks; the first row's name holds).
            name = chosen.setdefault(row[2], names[len(chosen) % len(names)])
            a.write(("%s,%s,%s," % (net[0], net[-1], row[2])).encode() + b'"' +
                    name.replace(b'"', b'""') + b'"\n')
            expected[row[2]] = sanitized(name.strip(b" \t"))
    geo = ["--geo-country", country_csv, "--geo-asn", asn_csv]
    conf = os.path.join(env.src, "conf", "demo.conf")

    # Offline: the summary is strict JSON with the names as the same characters.
    summary = os.path.join(env.tmp, "offline.json")
    env.run(env.base_args() + ["--config", conf, "--read", pcap, "--summary", summary] + geo, timeout=1200)
    with open(summary, "rb") as f:
        try:
            s = json.loads(f.read().decode("utf-8"))
        except ValueError as e:
            h.fail("summary is not JSON: %s" % e)
    rows = h.ranked(s["/darkscope/top/asns,1000"])
    if not rows:
        errors.append("summary: no ASN rows")
    for r in rows:
        want = expected.get(str(r["asn"]))
        if want is not None and r.get("name", "") != want:
            errors.append("summary: AS%s name %r, want %r" % (r["asn"], r.get("name"), want))

    # Live: every reply parses; names decode to the same characters, clipped from the end at most.
    proc = env.start(env.base_args() + ["--config", conf, "--port", "net_pcap0,rx_pcap=" + pcap,
                                        "--interval", "1", "--link-wait", "0"] + geo)
    h.wait_socket(env.prefix, proc)
    h.wait_packets(env.prefix, truth["packets"])
    reply = request(b"/darkscope/top/asns,100")
    rows = h.ranked(reply["/darkscope/top/asns"]) if reply else []
    if not rows:
        errors.append("telemetry: no ASN rows")
    exact = 0
    for r in rows:
        want = expected.get(str(r["asn"]))
        if want is None:
            continue
        got = telemetry_text(r.get("name", ""))
        if not want.startswith(got) or (len(r.get("name", "")) < 100 and got != want):
            errors.append("telemetry: AS%s name %r, want %r" % (r["asn"], got, want))
        exact += got == want
    if exact == 0:
        errors.append("telemetry: no ASN name came through whole")

    # Parameters of every byte value and random bytes, echoed in error replies.
    params = [bytes([b]) for b in range(1, 256)] + ["é".encode(), b"\xff\xfe"] + \
        [bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 60))) for _ in range(100)]
    for p in params:
        for command in (b"/darkscope/top/countries,5,total,sensor=" + p, b"/darkscope/series," + p):
            reply = request(command)
            if reply is None:
                continue
            message = next(iter(reply.values()), {})
            if isinstance(message, dict) and "error" in message and p == "é".encode() and \
                    "sensor" in command.decode() and "é" not in telemetry_text(message["error"]):
                errors.append("echoed parameter lost its character: %r" % message["error"])
    for command in ("/darkscope/sensors", "/darkscope/config", "/darkscope/geo", "/darkscope/stats"):
        request(command.encode())
    if h.stop(proc) != 0:
        errors.append("live run did not exit 0")
    h.no_errors(errors)
