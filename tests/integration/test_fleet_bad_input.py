"""Fleet options, bad input. What can be wrong before ClickHouse is asked anything (a malformed
URL or scheme, an unreadable credentials file, a spool directory that cannot be written) stops
darkscope at start-up with one line and exit 2. What only ClickHouse can tell (unreachable, wrong
database, wrong credentials) does not: capture goes on, the reason is logged and counted in
/darkscope/fleet, the intervals stay in the spool. /darkscope/config never shows the password."""
import os
import sys
import time

import clickhouse_cluster as chc
import dsharness as h
import pytest


def test_fleet_bad_input(env):
    if not chc.available():
        h.fail("clickhouse-server is not installed (scripts/setup.sh installs it)")
    errors = []
    pcap, truth = env.generate("bad", "--seed", "51", "--packets", "2000", "--profile", "demo",
                               "--duration", "60")
    conf = os.path.join(env.src, "conf", "demo.conf")
    spool = os.path.join(env.tmp, "spool")
    a_file = os.path.join(env.tmp, "plain-file")
    with open(a_file, "w") as f:
        f.write("x\n")

    # Start-up errors: one line on stderr naming the option, exit 2.
    for what, args, needle in (
            ("no scheme", ["--fleet-url", "127.0.0.1:8123"], "--fleet-url"),
            ("ftp scheme", ["--fleet-url", "ftp://127.0.0.1/"], "scheme"),
            ("bad port", ["--fleet-url", "http://127.0.0.1:99999/"], "port"),
            ("unknown parameter", ["--fleet-url", "http://127.0.0.1:8123/?databse=x"], "databse"),
            ("unreadable credentials", ["--fleet-url", "http://127.0.0.1:8123/",
                                        "--fleet-credentials", os.path.join(env.tmp, "missing")],
             "--fleet-credentials"),
            ("credentials without a colon", ["--fleet-url", "http://127.0.0.1:8123/",
                                             "--fleet-credentials", a_file], "user:password"),
            ("spool under a file", ["--fleet-url", "http://127.0.0.1:8123/", "--fleet-spool",
                                    os.path.join(a_file, "spool")], "--fleet-spool"),
            ("bad --fleet-tuples", ["--fleet-url", "http://127.0.0.1:8123/", "--fleet-tuples",
                                    "maybe"], "fleet-tuples")):
        if "--fleet-spool" not in args:
            args = args + ["--fleet-spool", spool]
        p = env.run(env.base_args() + ["--config", conf, "--read", pcap] + args, check=False,
                    timeout=60)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        if p.returncode != 2 or len(lines) != 1 or needle not in lines[0]:
            errors.append("%s: exit %d, stderr %r (want exit 2 and one line naming %s)" % (
                what, p.returncode, p.stderr, needle))
        else:
            print("%s: %s" % (what, lines[0]))

    # Not start-up errors: a live run goes on capturing and counts the failure.
    cluster = chc.Cluster(os.path.join(env.tmp, "clickhouse"), shards=1).start()
    ch = cluster.servers[0]
    try:
        ch.query("CREATE DATABASE darkscope")
        port = ch.url.split(":")[2].rstrip("/")
        closed = chc._free_port()
        for what, url, needle in (
                ("unreachable", "http://%s:%s@127.0.0.1:%d/" % (chc.USER, chc.PASSWORD, closed),
                 "unreachable"),
                ("wrong database", "http://127.0.0.1:%s/?database=nowhere" % port, "nowhere"),
                ("wrong credentials", "http://%s:wrong-secret@127.0.0.1:%s/" % (chc.USER, port),
                 "HTTP")):
            prefix = env.prefix + what.split()[-1]
            sp = os.path.join(env.tmp, "spool-" + what.replace(" ", "-"))
            proc = env.start(["--file-prefix", prefix, "--config", conf, "--port",
                              "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap, "--interval", "1",
                              "--link-wait", "0", "--mbufs", "65535", "--memory", "1024",
                              "--no-huge", "--log-level", "warning", "--fleet-url", url,
                              "--fleet-spool", sp])
            h.wait_socket(prefix, proc)
            deadline = time.time() + 60
            f = {}
            while time.time() < deadline:
                f = h.telemetry(prefix, "/darkscope/fleet")
                if f.get("failures", 0) >= 2 and f.get("spool_intervals", 0) >= 2:
                    break
                time.sleep(0.2)
            # Capture goes on: the published count grows (within a few intervals).
            packets1 = packets2 = h.telemetry(prefix, "/darkscope/stats")["packets"]
            deadline = time.time() + 20
            while packets2 == packets1 and time.time() < deadline:
                time.sleep(0.5)
                packets2 = h.telemetry(prefix, "/darkscope/stats")["packets"]
            config = h.telemetry(prefix, "/darkscope/config")
            status = h.stop(proc)
            out = proc.stdout.read() if proc.stdout and not proc.stdout.closed else ""
            print("%s: %s" % (what, f))
            if f.get("failures", 0) < 2 or f.get("spool_intervals", 0) < 2 or f.get("connected"):
                errors.append("%s: /darkscope/fleet %s" % (what, f))
            if needle not in f.get("last_error", ""):
                errors.append("%s: last_error %r does not say %r" % (what, f.get("last_error"),
                                                                        needle))
            if packets2 <= packets1:
                errors.append("%s: capture stopped (%d then %d packets)" % (what, packets1, packets2))
            if status != 0:
                errors.append("%s: darkscope exited %d" % (what, status))
            shown = str(config)
            if chc.PASSWORD in shown or "wrong-secret" in shown:
                errors.append("%s: /darkscope/config shows the password: %s" % (what, shown))
            if "fleet_url" not in shown:
                errors.append("%s: /darkscope/config has no fleet_url" % what)
            left = [n for n in os.listdir(sp) if n.endswith(".interval")]
            if len(left) < 2:
                errors.append("%s: %d intervals in the spool after the run" % (what, len(left)))
    finally:
        cluster.stop()
    h.no_errors(errors)
