"""scripts/darkscope-ctl against a fake DPDK telemetry v2 server on a socket in a temp dir, and
(given --darkscope) against a real darkscope and a real --summary file of the same capture.

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

import pytest

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
# /darkscope/events entries: counts and times are JSON numbers, names strings.
EVENTS = [{"id": "dos-3", "kind": "dos", "phase": "update", "start": 1363046400,
           "end": 1363050000, "address": "192.0.2.10", "country": "JP", "asn": 64500,
           "packets": 123456, "destinations": 12, "peak_ppm": 4321,
           "vector": "SYN-ACK from 80/tcp"},
          {"id": "surge-1", "kind": "surge", "phase": "start", "start": 1363046100,
           "end": 1363046400, "key": "service=23/tcp", "packets": 7100, "sources": 1234,
           "peak_packets": 5000}]
REPLIES = {
    "/": ["/", "/darkscope/stats", "/darkscope/top/ports", "/help", "/info"],
    "/darkscope/stats": STATS,
    "/darkscope/top/ports,10,last": TOP_PORTS,
    "/darkscope/top/countries,5": [{"country": "CN", "packets": 10, "bytes": 600},
                                   {"country": "JP", "packets": 9, "bytes": 540}],
    "/darkscope/series,service=23/tcp,7": SERIES,
    "/darkscope/top/ports,-1": {"error": "N must be a whole number from 1 to 100, got '-1'"},
    "/darkscope/events,2": {"1": EVENTS[0], "2": EVENTS[1]},
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


def ctl(*args):
    r = subprocess.run([sys.executable, CTL] + list(args), capture_output=True, text=True,
                       timeout=20)
    return r.returncode, r.stdout, r.stderr


def json_of(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- against the fake server ----------------------------------------------------------------
@pytest.fixture(scope="module")
def fake():
    """(the fake server, ["--socket", its path]); closed when the module ends."""
    with tempfile.TemporaryDirectory(prefix="darkscope-ctl-test-") as tmp:
        path = os.path.join(tmp, "dpdk_telemetry.v2")
        server = FakeTelemetry(path)
        server.start()
        yield server, ["--socket", path]
        server.sock.close()


def test_stats_sends_darkscope_stats(fake):
    server, s = fake
    rc, out, err = ctl(*s, "stats")
    assert rc == 0, err
    assert server.commands[-1:] == ["/darkscope/stats"], server.commands


@pytest.fixture(scope="module")
def stats(fake):
    """ctl stats: (status, stdout, stderr)."""
    return ctl(*fake[1], "stats")


def test_stats_one_line_per_key(stats):
    rc, out, err = stats
    assert rc == 0 and len(out.splitlines()) == len(STATS), out + err


def test_stats_thousands_separators(stats):
    rc, out, err = stats
    assert any(ln.split() == ["packets", "1,234,567"] for ln in out.splitlines()), out + err


def test_stats_values_aligned(stats):
    rc, out, err = stats
    lines = out.splitlines()
    assert rc == 0 and len({ln.index(ln.split()[1]) for ln in lines}) == 1, out + err


def test_top_ports_sent_with_its_parameters(fake):
    server, s = fake
    rc, out, err = ctl(*s, "top", "ports", "10", "last")
    assert rc == 0, err
    assert server.commands[-1] == "/darkscope/top/ports,10,last", server.commands


@pytest.fixture(scope="module")
def top_ports(fake):
    """ctl top ports 10 last: (status, stdout, stderr)."""
    return ctl(*fake[1], "top", "ports", "10", "last")


def test_list_of_dicts_as_a_table(top_ports):
    rc, out, err = top_ports
    lines = out.splitlines()
    assert lines[0].split() == ["service", "proto", "port", "packets", "bytes"], out
    assert len(lines) == 2 + len(TOP_PORTS), out
    assert [ln.split()[0] for ln in lines[2:]] == [r["service"] for r in TOP_PORTS], out


def test_table_numbers_right_aligned_with_thousands(top_ports):
    rc, out, err = top_ports
    lines = out.splitlines()
    assert len({len(ln.rstrip()) for ln in lines[2:]}) == 1, out
    assert "52,000" in lines[2] and "3,328,000" in lines[2], out


def test_json_prints_the_raw_reply(fake):
    rc, out, err = ctl(*fake[1], "--json", "top", "ports", "10", "last")
    assert rc == 0, err
    assert json.loads(out) == {"/darkscope/top/ports": TOP_PORTS}, out


def test_top_countries(fake):
    rc, out, err = ctl(*fake[1], "top", "countries", "5")
    assert rc == 0 and out.split()[:2] == ["country", "packets"] and "CN" in out, out + err


def test_events_with_numbers_as_a_table(fake):
    # Times as plain Unix seconds, counts with thousands separators, names as they are.
    server, s = fake
    rc, out, err = ctl(*s, "events", "2")
    assert rc == 0 and server.commands[-1] == "/darkscope/events,2", out + err
    lines = out.splitlines()
    header = lines[0].split()
    assert len(lines) == 2 + len(EVENTS) and header[:5] == ["id", "kind", "phase", "start",
                                                            "end"], out
    rows = [dict(zip(header, ln.split(None, len(header) - 1))) for ln in lines[2:]]
    first = lines[2]
    assert "1363046400" in first and "1363050000" in first and "123,456" in first and \
        "4,321" in first and "64500" in first and "64,500" not in first, out
    assert rows[1]["id"] == "surge-1" and "1,234" in lines[3] and "5,000" in lines[3], out


def test_events_json_keeps_numbers(fake):
    rc, out, err = ctl(*fake[1], "--json", "events", "2")
    reply = (json_of(out) or {}).get("/darkscope/events") or {}
    assert rc == 0 and reply == {"1": EVENTS[0], "2": EVENTS[1]}, out + err
    assert isinstance(reply["1"]["packets"], int) and isinstance(reply["1"]["start"], int), out


def test_raw_command_sent_as_written(fake):
    server, s = fake
    rc, out, err = ctl(*s, "/darkscope/stats")
    assert rc == 0 and server.commands[-1] == "/darkscope/stats", err


def test_list_sends_slash(fake):
    server, s = fake
    rc, out, err = ctl(*s, "list")
    assert rc == 0 and server.commands[-1] == "/" and "/darkscope/stats" in out, out + err


def test_series_as_a_sparkline(fake):
    server, s = fake
    rc, out, err = ctl(*s, "series", "service=23/tcp", "7")
    assert server.commands[-1] == "/darkscope/series,service=23/tcp,7", server.commands
    assert rc == 0 and "▁▅▃█▂▁█" in out, out + err


@pytest.mark.parametrize("words,want", [
    (["top", "ports", "-1"], "/darkscope/top/ports,-1"),
    (["dos", "3,surge"], "/darkscope/dos,3,surge"),
    (["scanners", "5,surge"], "/darkscope/scanners,5,surge"),
    (["scanners", "abc"], "/darkscope/scanners,abc"),
    (["series", "bogus", "10"], "/darkscope/series,bogus,10"),
    (["events", "5", "surge"], "/darkscope/events,5,surge"),
    (["top", "sources", "3", "hour"], "/darkscope/top/sources,3,hour")])
def test_words_after_a_command_sent_as_parameters(fake, words, want):
    # After a command's name every word is a parameter, a comma-joined one as it is.
    server, s = fake
    ctl(*s, *words)
    assert server.commands[-1] == want, server.commands[-1:]


def test_darkscopes_refusal_passed_on(fake):
    rc, out, err = ctl(*fake[1], "top", "ports", "-1")
    assert rc == 1 and out == "" and err == \
        "darkscope-ctl: /darkscope/top/ports,-1: N must be a whole number from 1 to 100, " \
        "got '-1'\n", f"rc={rc} {out}{err}"


@pytest.mark.parametrize("name", NO_PARAMETERS)
def test_parameters_to_a_command_without_refused_unsent(fake, name):
    # A command without parameters given some: refused here, nothing sent.
    server, s = fake
    sent = len(server.commands)
    rc, out, err = ctl(*s, name, "extra")
    assert rc == 1 and out == "" and err == \
        f"darkscope-ctl: {name} takes no arguments, got 'extra'\n", f"rc={rc} {out}{err}"
    assert len(server.commands) == sent, server.commands[sent:]


def test_reload_with_words_refused(fake):
    rc, out, err = ctl(*fake[1], "reload", "now", "please")
    assert rc == 1 and err == "darkscope-ctl: reload takes no arguments, got 'now please'\n", err


@pytest.mark.parametrize("bad", ["-1", "nan", "0", "inf", "-inf", "1e300", "soon"])
def test_bad_timeout_a_usage_error_unsent(fake, bad):
    # --timeout: a positive, finite number of seconds, else one argparse error, exit 2.
    server, s = fake
    sent = len(server.commands)
    # (argparse takes "-inf" for an option unless it is given as --timeout=-inf)
    given = [f"--timeout={bad}"] if bad == "-inf" else ["--timeout", bad]
    rc, out, err = ctl(*s, *given, "stats")
    last = err.strip().splitlines()[-1:] or [""]
    assert rc == 2 and out == "" and "Traceback" not in err and last[0].startswith(
        "darkscope-ctl: error: argument --timeout: ") and f"'{bad}'" in last[0], \
        f"rc={rc} {out}{err}"
    assert len(server.commands) == sent, server.commands[sent:]


def test_fractional_timeout(fake):
    server, s = fake
    rc, out, err = ctl(*s, "--timeout", "0.5", "stats")
    assert rc == 0 and server.commands[-1] == "/darkscope/stats", err


def test_unknown_command_fails(fake):
    rc, out, err = ctl(*fake[1], "no", "such")
    assert rc == 1, f"rc={rc}"
    assert "unknown command" in err and out == "", err


def test_missing_socket_names_the_prefix():
    rc, out, err = ctl("-f", "no-such-prefix-xyz", "stats")
    assert rc == 1, f"rc={rc}"
    assert "no darkscope running with file prefix no-such-prefix-xyz: " \
        "/var/run/dpdk/no-such-prefix-xyz/dpdk_telemetry.v2 not found" in err, err


@pytest.mark.parametrize("closed", ["directory", "socket"])
def test_socket_without_permission_says_so(closed):
    # Not "not found": a socket this user may not open exists. Behind a directory this user may
    # not look into, that directory is named (whether the socket exists cannot be told); else
    # the socket is.
    if os.geteuid() != 0:
        pytest.skip("needs root to run ctl as another user")
    runuser = shutil.which("runuser")
    if not runuser:
        pytest.skip("runuser is not installed")
    # Under /tmp itself: pytest's tmp_path lies in a directory only root may look into.
    base = tempfile.mkdtemp(prefix="ctl-denied-")
    private = os.path.join(base, "private")
    os.mkdir(private, 0o700)
    path = os.path.join(private, "dpdk_telemetry.v2")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        server.bind(path)
        server.listen(1)
        os.chmod(base, 0o755)
        if closed == "socket":
            os.chmod(private, 0o755)
            os.chmod(path, 0o755)
        r = subprocess.run([runuser, "-u", "nobody", "--", sys.executable, CTL, "--socket",
                            path, "stats"], capture_output=True, text=True, timeout=20)
    finally:
        server.close()
        shutil.rmtree(base, ignore_errors=True)
    want = (f"permission denied on {private}: this user may not look into it, so whether "
            f"{path} exists cannot be told (run as root?)" if closed == "directory" else
            f"permission denied on {path}: the socket exists but this user may not connect "
            "to it (run as root?)")
    assert r.returncode == 1 and r.stdout == "" and r.stderr == f"darkscope-ctl: {want}\n", \
        f"rc={r.returncode} {r.stdout}{r.stderr}"


def test_no_command_a_usage_error(fake):
    rc, out, err = ctl(*fake[1])
    assert rc == 2, f"rc={rc} {err}"


def test_help_lists_the_servers_commands(fake):
    # `help` alone lists the commands (the server's own list), not /darkscope/help.
    server, s = fake
    rc, out, err = ctl(*s, "help")
    assert rc == 0, f"rc={rc} {err}"
    assert "/darkscope/top/ports" in out and server.commands[-1] == "/", out + err


def test_help_without_a_darkscope_lists_the_commands():
    rc, out, err = ctl("-f", "no-such-prefix-xyz", "help")
    assert rc == 0 and "top ports" in out and "reload" in out, f"rc={rc} {out}{err}"


# --- from a --summary file -------------------------------------------------------------------
@pytest.fixture(scope="module")
def summary_file(tmp_path_factory):
    """A summary with stats, the top ports and events (counts and times as numbers)."""
    path = str(tmp_path_factory.mktemp("summary") / "summary.json")
    with open(path, "w") as f:
        json.dump({"/darkscope/stats": STATS,
                   "/darkscope/events,50": {str(i + 1): e for i, e in enumerate(EVENTS)},
                   "/darkscope/top/ports,1000": {str(i + 1): r for i, r in
                                                 enumerate(TOP_PORTS)}}, f)
    return path


@pytest.mark.parametrize("words,want", [
    (["top", "ports", "-1"], "/darkscope/top/ports,-1: N must be a whole number from 1 to 1000, "
                             "got '-1'"),
    (["dos", "3,surge"], "/darkscope/dos,3,surge: expected N"),
    (["scanners", "5,surge"], "/darkscope/scanners,5,surge: expected N"),
    (["scanners", "abc"], "/darkscope/scanners,abc: N must be a whole number from 1 to 50, got "
                          "'abc'"),
    (["series", "bogus", "10"], "series need a live darkscope"),
    (["stats", "extra"], "stats takes no arguments, got 'extra'")])
def test_summary_refuses_as_darkscope_words_it(summary_file, words, want):
    # --summary gets the same command strings (and so darkscope's refusals, as it words them).
    rc, out, err = ctl("--summary", summary_file, *words)
    assert rc == 1 and out == "" and err.startswith("darkscope-ctl: ") and want in err and \
        len(err.splitlines()) == 1, f"rc={rc} {out}{err}"


def test_summary_top_ports_n_rows(summary_file):
    rc, out, err = ctl("--summary", summary_file, "top", "ports", "2")
    assert rc == 0 and len(out.splitlines()) == 4, out + err


def test_summary_events_of_a_kind_with_numbers(summary_file):
    rc, out, err = ctl("--summary", summary_file, "--json", "dos", "5")
    assert rc == 0 and json_of(out) == {"/darkscope/dos": {"1": EVENTS[0]}}, out + err
    rc, out, err = ctl("--summary", summary_file, "events", "5", "surge")
    assert rc == 0 and len(out.splitlines()) == 3 and "surge-1" in out and "7,100" in out, \
        out + err


def test_unreadable_summary_named(tmp_path):
    missing = str(tmp_path / "none.json")
    rc, out, err = ctl("--summary", missing, "stats")
    assert rc == 1 and out == "" and \
        err == f"darkscope-ctl: --summary {missing}: No such file or directory\n", err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, out, err = ctl("--summary", str(bad), "stats")
    assert rc == 1 and err == f"darkscope-ctl: --summary {bad}: not a darkscope summary " \
        "(bad JSON)\n", err


# --- against a real darkscope ----------------------------------------------------------------
def darkscope_args(prefix):
    return ["--config", DEMO_CONF, "--file-prefix", prefix, "--no-huge", "--memory", "1024",
            "--mbufs", "8191", "--log-level", "warning"]


def wait_counted(prefix, packets, proc, timeout=60):
    """Until the live darkscope's totals hold every packet and a few intervals have closed."""
    deadline = time.time() + timeout
    stats = None
    while time.time() < deadline and proc.poll() is None:
        rc, out, _ = ctl("-f", prefix, "--json", "stats")
        stats = (json_of(out) or {}).get("/darkscope/stats") if rc == 0 else None
        if stats and stats.get("packets") == packets and stats.get("intervals", 0) >= 3:
            return
        time.sleep(0.3)
    pytest.fail(f"live darkscope did not count {packets} packets: {stats}", pytrace=False)


class Real:
    """The same capture read offline into a --summary file and replayed live."""

    def __init__(self):
        self.answers = {}

    def ctl(self, *args):
        """ctl's answer to these arguments, asked once (for requests whose answer stays)."""
        if args not in self.answers:
            self.answers[args] = ctl(*args)
        return self.answers[args]


@pytest.fixture(scope="module")
def real(pytestconfig):
    """ctl's options for the live darkscope (real.live) and for its summary (real.offline), and
    the attribution database it loaded (real.geo, None without the corpus's test databases)."""
    darkscope = pytestconfig.getoption("darkscope")
    if not darkscope:
        pytest.skip("no --darkscope given: ctl against the fake server only")
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
            pytest.fail(f"darkscope --read failed: {r.stderr}", pytrace=False)
        real = Real()
        real.geo = os.path.join(tmp, "geo.mmdb")
        if os.path.exists(GOOD_GEO) and os.path.exists(CORRUPT_GEO):
            shutil.copy(GOOD_GEO, real.geo)
        else:
            real.geo = None
        with open(os.path.join(tmp, "live.log"), "w") as log:
            proc = subprocess.Popen([darkscope] + darkscope_args(prefixes[1]) +
                                    ["--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1",
                                     "--link-wait", "0"] +
                                    (["--geo-country", real.geo] if real.geo else []),
                                    stdout=log, stderr=subprocess.STDOUT)
        real.live = ["-f", prefixes[1]]
        real.offline = ["--summary", summary]
        try:
            wait_counted(prefixes[1], 2000, proc)
        except BaseException:
            with open(os.path.join(tmp, "live.log")) as f:
                print(f.read())
            raise
        yield real
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


GOOD_GEO = os.path.join(GEO, "GeoLite2-Country-Test.mmdb")
CORRUPT_GEO = os.path.join(GEO, "bad-data", "libmaxminddb-corrupt-search-tree.mmdb")


@pytest.mark.parametrize("cmd", [["top", "ports", "3"], ["top", "ports", "2", "total", "all"],
                                 ["top", "sensors", "2"], ["sensors"], ["classes"]],
                         ids=" ".join)
def test_summary_json_as_live(real, cmd):
    # What a summary holds comes in the shape the socket sends (ranked dicts, N entries).
    lrc, lout, lerr = ctl(*real.live, "--json", *cmd)
    src, sout, serr = ctl(*real.offline, "--json", *cmd)
    assert lrc == 0, lerr
    assert src == 0 and json_of(sout) == json_of(lout), \
        f"rc={src}\nsummary: {sout}{serr}\nlive:    {lout}"


def test_summary_stats_have_lives_fields(real):
    lrc, lout, _ = ctl(*real.live, "--json", "stats")
    src, sout, _ = ctl(*real.offline, "--json", "stats")
    assert src == 0 and lrc == 0 and list(json_of(sout)["/darkscope/stats"]) == \
        list(json_of(lout)["/darkscope/stats"]), sout + lout


def test_summary_top_ports_three_rows(real):
    rc, out, err = ctl(*real.offline, "top", "ports", "3")
    assert rc == 0 and len(out.splitlines()) == 5, out + err


BAD_REQUESTS = [["top", "ports", "3", "total", "sensor=nosuch"],
                ["top", "countries", "3", "total", "country=ZZ"],
                ["top", "ports", "0"], ["top", "ports", "3", "all"], ["events", "0"],
                ["top", "ports", "-1"], ["dos", "3,surge"], ["scanners", "5,surge"],
                ["scanners", "abc"], ["stats", "extra"]]


@pytest.mark.parametrize("cmd", BAD_REQUESTS, ids=" ".join)
def test_bad_request_refused_by_live(real, cmd):
    lrc, lout, lerr = real.ctl(*real.live, *cmd)
    assert lrc == 1 and lout == "" and lerr, f"rc={lrc} {lout}"


@pytest.mark.parametrize("cmd", BAD_REQUESTS, ids=" ".join)
def test_bad_request_refused_by_summary_as_live(real, cmd):
    # Bad requests fail the same way from a summary as from darkscope itself (N's upper bound
    # differs: the socket caps it at 100, a summary holds 1000).
    lrc, lout, lerr = real.ctl(*real.live, *cmd)
    src, sout, serr = ctl(*real.offline, *cmd)
    same = re.sub(r"from 1 to \d+", "from 1 to N", serr) == \
        re.sub(r"from 1 to \d+", "from 1 to N", lerr)
    assert src == 1 and sout == "" and same, \
        f"rc={src}\nsummary: {sout}{serr}\nlive:    {lerr}"


@pytest.mark.parametrize("cmd,sent,word", [
    (["top", "ports", "-1"], "/darkscope/top/ports,-1", "'-1'"),
    (["scanners", "abc"], "/darkscope/scanners,abc", "'abc'"),
    (["dos", "3,surge"], "/darkscope/dos,3,surge", "expected N"),
    (["series", "bogus", "10"], "/darkscope/series,bogus,10", "KEY")], ids=lambda v: str(v))
def test_parameters_reach_darkscope(real, cmd, sent, word):
    # Parameters reach darkscope as parameters: its own refusal, not "unknown command".
    lrc, lout, lerr = real.ctl(*real.live, *cmd)
    assert lrc == 1 and lout == "" and lerr.startswith(f"darkscope-ctl: {sent}: ") and \
        word in lerr and "unknown command" not in lerr and len(lerr.splitlines()) == 1, \
        f"rc={lrc} {lout}{lerr}"


LIVE_ONLY = [(["top", "ports", "3", "hour", "sensor=tokyo-b"], "hour"),
             (["top", "ports", "3", "last"], "last"),
             (["top", "sensors", "3", "total", "service=445/tcp"], "service"),
             (["series", "service=445/tcp", "5"], "series")]


@pytest.mark.parametrize("cmd,what", LIVE_ONLY, ids=lambda v: str(v))
def test_window_or_filter_answered_live(real, cmd, what):
    lrc, lout, lerr = ctl(*real.live, *cmd)
    assert lrc == 0 and lout, f"rc={lrc} {lerr}"


@pytest.mark.parametrize("cmd,what", LIVE_ONLY, ids=lambda v: str(v))
def test_window_or_filter_refused_by_summary(real, cmd, what):
    # A window or filter a summary does not hold: the summary says so.
    src, sout, serr = ctl(*real.offline, *cmd)
    assert src == 1 and sout == "" and what in serr and "live darkscope" in serr, \
        f"rc={src} {sout}{serr}"


@pytest.fixture(scope="module")
def series(real):
    """The interval starts of a live series (--json), and its rendering for people. K = 240:
    the first start stays put while the test runs; the last one may move on."""
    rc, out, err = ctl(*real.live, "--json", "series", "service=445/tcp", "240")
    starts = ((json_of(out) or {}).get("/darkscope/series") or {}).get("start") or []
    if rc != 0 or len(starts) < 2:
        pytest.fail("series has no interval starts: " + out + err, pytrace=False)
    rc, out, err = ctl(*real.live, "series", "service=445/tcp", "240")
    start_line = [ln for ln in out.splitlines() if ln.split()[:1] == ["start"]]
    if rc != 0 or len(start_line) != 1:
        pytest.fail("series: no one start line: " + out + err, pytrace=False)
    return starts, start_line[0], out


def test_series_start_is_no_sparkline(series):
    # The interval starts are times, not quantities.
    _, line, _ = series
    assert not any(c in line for c in SPARKS) and not re.search(r"\d,\d\d\d", line), line


def test_series_start_as_the_time_span(series):
    starts, line, _ = series
    first = dt.datetime.fromtimestamp(min(starts), dt.timezone.utc)
    last = dt.datetime.fromtimestamp(max(starts), dt.timezone.utc)
    span = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \.\. "
                     r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", line)
    assert span and span.group(1) == first.strftime("%Y-%m-%d %H:%M:%S") and \
        span.group(2) >= last.strftime("%Y-%m-%d %H:%M:%S"), line


def test_series_packets_still_a_sparkline(series):
    _, _, out = series
    assert any(ln.startswith("packets") and any(c in ln for c in SPARKS)
               for ln in out.splitlines()), out


def test_live_help_lists_the_registered_commands(real):
    rc, out, err = ctl(*real.live, "help")
    lrc, listed, _ = ctl(*real.live, "list")
    assert rc == 0, f"rc={rc} {err}"
    assert lrc == 0 and all(c in out for c in listed.split() if c.startswith("/darkscope/")), out


@pytest.fixture(scope="module")
def reloads(real):
    """A reload of a corrupt database (--json, then for people), then of a good one: (rc, out,
    err) of each."""
    if not real.geo:
        pytest.skip(f"{GEO} missing: reload not tested")
    shutil.copy(CORRUPT_GEO, real.geo)
    got = {"failed_json": ctl(*real.live, "--json", "reload"),
           "failed": ctl(*real.live, "reload")}
    shutil.copy(GOOD_GEO, real.geo)
    got["good"] = ctl(*real.live, "reload")
    return got


def test_failed_reload_darkscope_says_ok_0(reloads):
    rc, out, err = reloads["failed_json"]
    reply = (json_of(out) or {}).get("/darkscope/reload") or {}
    assert reply.get("ok") == 0 and reply.get("result"), out + err


def test_failed_reload_json_exits_1(reloads):
    rc, out, err = reloads["failed_json"]
    assert rc == 1, f"rc={rc}"


def test_failed_reload_exits_1_with_the_reason_on_stderr(reloads):
    # A corrupt database fails the reload (darkscope keeps the old tables).
    _, jout, _ = reloads["failed_json"]
    reply = (json_of(jout) or {}).get("/darkscope/reload") or {}
    rc, out, err = reloads["failed"]
    assert rc == 1, f"rc={rc} {out}"
    assert out == "" and reply.get("result", "?") in err, f"stdout {out!r} stderr {err!r}"


def test_good_reload_exits_0(reloads):
    rc, out, err = reloads["good"]
    assert rc == 0 and err == "", f"rc={rc} {out}{err}"
