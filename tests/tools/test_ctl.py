#!/usr/bin/python3
"""scripts/darkscope-ctl against a fake DPDK telemetry v2 server on a socket in a temp dir.

The fake speaks the v2 protocol as DPDK 22.11's lib/telemetry does: on connect it sends
{"version":..., "pid":..., "max_output_len":16384}; each command string gets one JSON reply
{"<command>": value}, and an unknown command gets {"<command>": null}.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTL = os.path.join(ROOT, "scripts", "darkscope-ctl")

STATS = {"packets": 1234567, "bytes": 98765432, "ipv4": 1200000, "ipv6": 34567,
         "tcp": 1000000, "malformed": 3, "uptime_s": 12.5}
TOP_PORTS = [{"service": "445/tcp", "proto": "tcp", "port": 445, "packets": 52000,
              "bytes": 3328000},
             {"service": "23/tcp", "proto": "tcp", "port": 23, "packets": 7100, "bytes": 454400},
             {"service": "icmp", "proto": "icmp", "port": 0, "packets": 650, "bytes": 48100}]
SERIES = {"key": "service=23/tcp", "packets": [1, 5, 3, 8, 2, 0, 8], "sources": [1, 2, 2, 3, 1,
                                                                               0, 4]}
REPLIES = {
    "/": ["/", "/darkscope/stats", "/darkscope/top/ports", "/help", "/info"],
    "/darkscope/stats": STATS,
    "/darkscope/top/ports,10,last": TOP_PORTS,
    "/darkscope/top/countries,5": [{"country": "CN", "packets": 10, "bytes": 600},
                                   {"country": "JP", "packets": 9, "bytes": 540}],
    "/darkscope/series,service=23/tcp,7": SERIES,
}


class FakeTelemetry(threading.Thread):
    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(4)
        self.commands = []

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.send(json.dumps({"version": "DPDK 22.11.0", "pid": os.getpid(),
                                      "max_output_len": 16384}).encode())
                cmd = conn.recv(1024).decode()
                if not cmd:
                    continue
                self.commands.append(cmd)
                conn.send(json.dumps({cmd.split(",")[0]: REPLIES.get(cmd)}).encode())


failures = []


def ctl(*args):
    r = subprocess.run([sys.executable, CTL] + list(args), capture_output=True, text=True,
                       timeout=20)
    return r.returncode, r.stdout, r.stderr


def expect(what, cond, detail=""):
    if not cond:
        failures.append(f"{what}: {detail}")


def main():
    with tempfile.TemporaryDirectory(prefix="darkscope-ctl-test-") as tmp:
        path = os.path.join(tmp, "dpdk_telemetry.v2")
        server = FakeTelemetry(path)
        server.start()
        s = ["--socket", path]

        rc, out, err = ctl(*s, "stats")
        expect("stats status", rc == 0, err)
        expect("stats sent", server.commands[-1:] == ["/darkscope/stats"], server.commands)
        lines = out.splitlines()
        expect("stats: one line per key", len(lines) == len(STATS), out)
        expect("stats: thousands separators", any(ln.split() == ["packets", "1,234,567"]
                                                  for ln in lines), out)
        expect("stats: values aligned", len({ln.index(ln.split()[1]) for ln in lines}) == 1,
               out)

        rc, out, err = ctl(*s, "top", "ports", "10", "last")
        expect("top ports status", rc == 0, err)
        expect("top ports sent", server.commands[-1] == "/darkscope/top/ports,10,last",
               server.commands)
        lines = out.splitlines()
        header = lines[0].split()
        expect("table header", header == ["service", "proto", "port", "packets", "bytes"], out)
        expect("table rows", len(lines) == 2 + len(TOP_PORTS), out)
        expect("table numbers right-aligned",
               len({ln.rstrip().__len__() for ln in lines[2:]}) == 1, out)
        expect("table thousands", "52,000" in lines[2] and "3,328,000" in lines[2], out)
        expect("table row order", [ln.split()[0] for ln in lines[2:]] ==
               [r["service"] for r in TOP_PORTS], out)

        rc, out, err = ctl(*s, "--json", "top", "ports", "10", "last")
        expect("json status", rc == 0, err)
        expect("json is the raw reply", json.loads(out) == {"/darkscope/top/ports": TOP_PORTS},
               out)

        rc, out, err = ctl(*s, "top", "countries", "5")
        expect("top countries", rc == 0 and out.split()[:2] == ["country", "packets"]
               and "CN" in out, out + err)

        rc, out, err = ctl(*s, "/darkscope/stats")
        expect("raw command", rc == 0 and server.commands[-1] == "/darkscope/stats", err)

        rc, out, err = ctl(*s, "list")
        expect("list", rc == 0 and server.commands[-1] == "/" and "/darkscope/stats" in out,
               out + err)

        rc, out, err = ctl(*s, "series", "service=23/tcp", "7")
        expect("series sent", server.commands[-1] == "/darkscope/series,service=23/tcp,7",
               server.commands)
        expect("series sparkline", rc == 0 and "▁▅▃█▂▁█" in out, out + err)

        rc, out, err = ctl(*s, "no", "such")
        expect("unknown command status", rc == 1, f"rc={rc}")
        expect("unknown command message", "unknown command" in err and out == "", err)

        rc, out, err = ctl("-f", "no-such-prefix-xyz", "stats")
        expect("missing socket status", rc == 1, f"rc={rc}")
        expect("missing socket message",
               "no darkscope running with file prefix no-such-prefix-xyz: "
               "/var/run/dpdk/no-such-prefix-xyz/dpdk_telemetry.v2 not found" in err, err)

        rc, out, err = ctl(*s)
        expect("no command: usage error", rc == 2, f"rc={rc} {err}")
        server.sock.close()
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
