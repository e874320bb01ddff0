#!/usr/bin/python3
"""scripts/darkscope-ctl against a fake DPDK telemetry v2 server on a socket in a temp dir, and
(given the darkscope binary) against a real darkscope and a real --summary file of the same capture.

    test_ctl.py [DARKSCOPE]

The fake speaks the v2 protocol as DPDK 22.11's lib/telemetry does: on connect it sends
{"version":..., "pid":..., "max_output_len":16384}; each command string gets one JSON reply
{"<command>": value}, and an unknown command gets {"<command>": null}.
"""

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTL = os.path.join(ROOT, "scripts", "darkscope-ctl")
GEN = os.path.join(ROOT, "scripts", "darkscope-gen")
DEMO_CONF = os.path.join(ROOT, "conf", "demo.conf")
GEO = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "geo")
SPARKS = "▁▂▃▄▅▆▇█"

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
    "/darkscope/top/ports,-1": {"error": "N must be a whole number from 1 to 100, got '-1'"},
}
# Commands that take no parameters (COMMANDS in darkscope-ctl; README.md's telemetry table).
NO_PARAMETERS = ["stats", "classes", "flags", "errors", "sensors", "workers", "ports", "plan",
                 "config", "geo", "reload", "list"]


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
    return bool(cond)


def darkscope_args(prefix):
    return ["--config", DEMO_CONF, "--file-prefix", prefix, "--no-huge", "--memory", "1024",
            "--mbufs", "8191", "--log-level", "warning"]


def json_of(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def wait_counted(prefix, packets, proc, timeout=60):
    """Until the live darkscope's totals hold every packet and a few intervals have closed."""
    deadline = time.time() + timeout
    stats = None
    while time.time() < deadline and proc.poll() is None:
        rc, out, _ = ctl("-f", prefix, "--json", "stats")
        stats = (json_of(out) or {}).get("/darkscope/stats") if rc == 0 else None
        if stats and stats.get("packets") == packets and stats.get("intervals", 0) >= 3:
            return True
        time.sleep(0.3)
    failures.append(f"live darkscope did not count {packets} packets: {stats}")
    return False


def real_darkscope(darkscope):
    """The same capture read offline into a --summary file and replayed live: what ctl answers
    from each, the refusals of what a summary cannot answer, reload failures, series, help."""
    tmp = tempfile.mkdtemp(prefix="darkscope-ctl-real-")
    prefixes = [f"dsctl{os.getpid()}a", f"dsctl{os.getpid()}b"]
    proc = None
    try:
        pcap = os.path.join(tmp, "x.pcap")
        subprocess.run(["/usr/bin/python3", GEN, "--seed", "1", "--packets", "2000", "--out",
                        pcap], check=True, capture_output=True, timeout=120)
        summary = os.path.join(tmp, "summary.json")
        r = subprocess.run([darkscope] + darkscope_args(prefixes[0]) +
                           ["--read", pcap, "--summary", summary],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            failures.append(f"darkscope --read failed: {r.stderr}")
            return
        geo = os.path.join(tmp, "geo.mmdb")
        good_geo = os.path.join(GEO, "GeoLite2-Country-Test.mmdb")
        corrupt_geo = os.path.join(GEO, "bad-data", "libmaxminddb-corrupt-search-tree.mmdb")
        have_geo = os.path.exists(good_geo) and os.path.exists(corrupt_geo)
        if have_geo:
            shutil.copy(good_geo, geo)
        else:
            print(f"note: {GEO} missing: reload not tested")
        log = open(os.path.join(tmp, "live.log"), "w")
        proc = subprocess.Popen([darkscope] + darkscope_args(prefixes[1]) +
                                ["--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1",
                                 "--link-wait", "0"] + (["--geo-country", geo] if have_geo else []),
                                stdout=log, stderr=subprocess.STDOUT)
        live = ["-f", prefixes[1]]
        offline = ["--summary", summary]
        log.close()
        if not wait_counted(prefixes[1], 2000, proc):
            with open(os.path.join(tmp, "live.log")) as f:
                print(f.read())
            return

        # What a summary holds comes in the shape the socket sends (ranked dicts, N entries).
        for cmd in (["top", "ports", "3"], ["top", "ports", "2", "total", "all"],
                    ["top", "sensors", "2"], ["sensors"], ["classes"]):
            lrc, lout, lerr = ctl(*live, "--json", *cmd)
            src, sout, serr = ctl(*offline, "--json", *cmd)
            expect(f"{cmd}: live answers", lrc == 0, lerr)
            expect(f"{cmd}: --summary --json as live", src == 0 and json_of(sout) ==
                   json_of(lout), f"rc={src}\nsummary: {sout}{serr}\nlive:    {lout}")
        lrc, lout, _ = ctl(*live, "--json", "stats")
        src, sout, _ = ctl(*offline, "--json", "stats")
        expect("stats: --summary has live's fields", src == 0 and lrc == 0 and
               list(json_of(sout)["/darkscope/stats"]) == list(json_of(lout)["/darkscope/stats"]),
               sout + lout)
        rc, out, err = ctl(*offline, "top", "ports", "3")
        expect("summary top ports 3: three rows", rc == 0 and len(out.splitlines()) == 5,
               out + err)

        # Bad requests fail the same way from a summary as from darkscope itself.
        for cmd in (["top", "ports", "3", "total", "sensor=nosuch"],
                    ["top", "countries", "3", "total", "country=ZZ"],
                    ["top", "ports", "0"], ["top", "ports", "3", "all"], ["events", "0"],
                    ["top", "ports", "-1"], ["dos", "3,surge"], ["scanners", "5,surge"],
                    ["scanners", "abc"], ["stats", "extra"]):
            lrc, lout, lerr = ctl(*live, *cmd)
            src, sout, serr = ctl(*offline, *cmd)
            # (N's upper bound differs: the socket caps it at 100, a summary holds 1000.)
            same = re.sub(r"from 1 to \d+", "from 1 to N", serr) == \
                re.sub(r"from 1 to \d+", "from 1 to N", lerr)
            expect(f"{cmd}: live refuses", lrc == 1 and lout == "" and lerr, f"rc={lrc} {lout}")
            expect(f"{cmd}: --summary refuses as live", src == 1 and sout == "" and same,
                   f"rc={src}\nsummary: {sout}{serr}\nlive:    {lerr}")

        # Parameters reach darkscope as parameters: its own refusal, not "unknown command".
        for cmd, sent, word in ((["top", "ports", "-1"], "/darkscope/top/ports,-1", "'-1'"),
                                (["scanners", "abc"], "/darkscope/scanners,abc", "'abc'"),
                                (["dos", "3,surge"], "/darkscope/dos,3,surge", "expected N"),
                                (["series", "bogus", "10"], "/darkscope/series,bogus,10", "KEY")):
            lrc, lout, lerr = ctl(*live, *cmd)
            expect(f"{cmd}: live darkscope's own refusal", lrc == 1 and lout == "" and
                   lerr.startswith(f"darkscope-ctl: {sent}: ") and word in lerr and
                   "unknown command" not in lerr and len(lerr.splitlines()) == 1,
                   f"rc={lrc} {lout}{lerr}")

        # A window or filter a summary does not hold: live answers, the summary says so.
        for cmd, what in ((["top", "ports", "3", "hour", "sensor=tokyo-b"], "hour"),
                          (["top", "ports", "3", "last"], "last"),
                          (["top", "sensors", "3", "total", "service=445/tcp"], "service"),
                          (["series", "service=445/tcp", "5"], "series")):
            lrc, lout, lerr = ctl(*live, *cmd)
            src, sout, serr = ctl(*offline, *cmd)
            expect(f"{cmd}: live answers", lrc == 0 and lout, f"rc={lrc} {lerr}")
            expect(f"{cmd}: --summary refuses", src == 1 and sout == "" and what in serr
                   and "live darkscope" in serr, f"rc={src} {sout}{serr}")

        # series: the interval starts are times, shown as the span they cover, not a sparkline.
        # (K = 240: the first start stays put while the test runs; the last one may move on.)
        rc, out, err = ctl(*live, "--json", "series", "service=445/tcp", "240")
        starts = ((json_of(out) or {}).get("/darkscope/series") or {}).get("start") or []
        expect("series has interval starts", rc == 0 and len(starts) >= 2, out + err)
        rc, out, err = ctl(*live, "series", "service=445/tcp", "240")
        start_line = [ln for ln in out.splitlines() if ln.split()[:1] == ["start"]]
        if expect("series: a start line", rc == 0 and len(start_line) == 1, out + err) \
                and starts:
            first = dt.datetime.fromtimestamp(min(starts), dt.timezone.utc)
            last = dt.datetime.fromtimestamp(max(starts), dt.timezone.utc)
            expect("series: start is no sparkline",
                   not any(c in start_line[0] for c in SPARKS) and
                   not re.search(r"\d,\d\d\d", start_line[0]), start_line[0])
            span = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \.\. "
                             r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", start_line[0])
            expect("series: start as the time span", span and
                   span.group(1) == first.strftime("%Y-%m-%d %H:%M:%S") and
                   span.group(2) >= last.strftime("%Y-%m-%d %H:%M:%S"), start_line[0])
            expect("series: packets still a sparkline",
                   any(ln.startswith("packets") and any(c in ln for c in SPARKS)
                       for ln in out.splitlines()), out)

        # help: the commands the running darkscope registered, exit 0.
        rc, out, err = ctl(*live, "help")
        lrc, listed, _ = ctl(*live, "list")
        expect("live help status", rc == 0, f"rc={rc} {err}")
        expect("live help lists the registered commands", lrc == 0 and
               all(c in out for c in listed.split() if c.startswith("/darkscope/")), out)

        # reload: a corrupt database fails the reload (darkscope keeps the old tables): exit 1,
        # darkscope's reason on stderr; a good one succeeds.
        if have_geo:
            shutil.copy(corrupt_geo, geo)
            rc, out, err = ctl(*live, "--json", "reload")
            reply = (json_of(out) or {}).get("/darkscope/reload") or {}
            expect("failed reload: darkscope says ok 0", reply.get("ok") == 0 and
                   reply.get("result"), out + err)
            expect("failed reload --json: exit 1", rc == 1, f"rc={rc}")
            rc, out, err = ctl(*live, "reload")
            expect("failed reload: exit 1", rc == 1, f"rc={rc} {out}")
            expect("failed reload: reason on stderr", out == "" and
                   reply.get("result", "?") in err, f"stdout {out!r} stderr {err!r}")
            shutil.copy(good_geo, geo)
            rc, out, err = ctl(*live, "reload")
            expect("good reload: exit 0", rc == 0 and err == "", f"rc={rc} {out}{err}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for prefix in prefixes:
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


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

        # After a command's name every word is a parameter, a comma-joined one as it is.
        for words, want in ((["top", "ports", "-1"], "/darkscope/top/ports,-1"),
                            (["dos", "3,surge"], "/darkscope/dos,3,surge"),
                            (["scanners", "5,surge"], "/darkscope/scanners,5,surge"),
                            (["scanners", "abc"], "/darkscope/scanners,abc"),
                            (["series", "bogus", "10"], "/darkscope/series,bogus,10"),
                            (["events", "5", "surge"], "/darkscope/events,5,surge"),
                            (["top", "sources", "3", "hour"], "/darkscope/top/sources,3,hour")):
            ctl(*s, *words)
            expect(f"{words} sent", server.commands[-1] == want, server.commands[-1:])
        rc, out, err = ctl(*s, "top", "ports", "-1")
        expect("darkscope's refusal passed on", rc == 1 and out == "" and err ==
               "darkscope-ctl: /darkscope/top/ports,-1: N must be a whole number from 1 to 100, "
               "got '-1'\n", f"rc={rc} {out}{err}")
        # A command without parameters given some: refused here, nothing sent.
        for name in NO_PARAMETERS:
            sent = len(server.commands)
            rc, out, err = ctl(*s, name, "extra")
            expect(f"{name} extra refused", rc == 1 and out == "" and err ==
                   f"darkscope-ctl: {name} takes no arguments, got 'extra'\n",
                   f"rc={rc} {out}{err}")
            expect(f"{name} extra: nothing sent", len(server.commands) == sent,
                   server.commands[sent:])
        rc, out, err = ctl(*s, "reload", "now", "please")
        expect("reload now please refused", rc == 1 and
               err == "darkscope-ctl: reload takes no arguments, got 'now please'\n", err)

        # --timeout: a positive, finite number of seconds, else one argparse error, exit 2.
        for bad in ("-1", "nan", "0", "inf", "-inf", "1e300", "soon"):
            sent = len(server.commands)
            # (argparse takes "-inf" for an option unless it is given as --timeout=-inf)
            given = [f"--timeout={bad}"] if bad == "-inf" else ["--timeout", bad]
            rc, out, err = ctl(*s, *given, "stats")
            last = err.strip().splitlines()[-1:] or [""]
            expect(f"--timeout {bad}: usage error", rc == 2 and out == "" and
                   "Traceback" not in err and last[0].startswith(
                       "darkscope-ctl: error: argument --timeout: ") and f"'{bad}'" in last[0],
                   f"rc={rc} {out}{err}")
            expect(f"--timeout {bad}: nothing sent", len(server.commands) == sent,
                   server.commands[sent:])
        rc, out, err = ctl(*s, "--timeout", "0.5", "stats")
        expect("--timeout 0.5", rc == 0 and server.commands[-1] == "/darkscope/stats", err)

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

        # `help` alone lists the commands (the server's own list), not /darkscope/help.
        rc, out, err = ctl(*s, "help")
        expect("help status", rc == 0, f"rc={rc} {err}")
        expect("help lists the server's commands", "/darkscope/top/ports" in out
               and server.commands[-1] == "/", out + err)
        server.sock.close()

        # --summary gets the same command strings (and so darkscope's refusals, as it words them).
        summary = os.path.join(tmp, "summary.json")
        with open(summary, "w") as f:
            json.dump({"/darkscope/stats": STATS, "/darkscope/events,50": [],
                       "/darkscope/top/ports,1000": {str(i + 1): r for i, r in
                                                     enumerate(TOP_PORTS)}}, f)
        for words, want in ((["top", "ports", "-1"], "/darkscope/top/ports,-1: N must be a whole "
                             "number from 1 to 1000, got '-1'"),
                            (["dos", "3,surge"], "/darkscope/dos,3,surge: expected N"),
                            (["scanners", "5,surge"], "/darkscope/scanners,5,surge: expected N"),
                            (["scanners", "abc"], "/darkscope/scanners,abc: N must be a whole "
                             "number from 1 to 50, got 'abc'"),
                            (["series", "bogus", "10"], "series need a live darkscope"),
                            (["stats", "extra"], "stats takes no arguments, got 'extra'")):
            rc, out, err = ctl("--summary", summary, *words)
            expect(f"--summary {words}", rc == 1 and out == "" and
                   err.startswith("darkscope-ctl: ") and want in err and
                   len(err.splitlines()) == 1, f"rc={rc} {out}{err}")
        rc, out, err = ctl("--summary", summary, "top", "ports", "2")
        expect("--summary top ports 2", rc == 0 and len(out.splitlines()) == 4, out + err)
    # Without any darkscope to ask, `help` still lists the commands.
    rc, out, err = ctl("-f", "no-such-prefix-xyz", "help")
    expect("help without a darkscope", rc == 0 and "top ports" in out and "reload" in out,
           f"rc={rc} {out}{err}")
    if len(sys.argv) > 1:
        real_darkscope(sys.argv[1])
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
