"""Shared helpers for the integration tests: run the real darkscope binary, talk to its
telemetry socket (through scripts/darkscope_client.py), compare what it reports with the
generator's truth. The `env` fixture (conftest.py) gives each test module one Env."""
import csv
import ipaddress
import itertools
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest

import darkscope_client as client

_env_numbers = itertools.count()


def read_pcap(path):
    """A classic pcap file (microsecond or nanosecond magic) as (its 24-byte header, the
    timestamp scale to nanoseconds, [(ts_ns, orig_len, bytes)])."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    scale = {0xA1B2C3D4: 1000, 0xA1B23C4D: 1}[magic]
    out, at = [], 24
    while at + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack("<IIII", data[at:at + 16])
        out.append((sec * 1_000_000_000 + frac * scale, orig, data[at + 16:at + 16 + incl]))
        at += 16 + incl
    return data[:24], scale, out


def read_recorded(path, errors):
    """A recording (pcapng, .gz or .zst) through editcap, as [(ts_ns, orig_len, bytes)]; an
    editcap failure goes to errors and gives []."""
    out = path + ".check.pcap"
    p = subprocess.run(["editcap", "-F", "nsecpcap", path, out], capture_output=True, text=True)
    if p.returncode != 0:
        errors.append("editcap %s: %s" % (os.path.basename(path), p.stderr.strip()))
        return []
    packets = read_pcap(out)[2]
    os.unlink(out)
    return packets


class Env:
    """One test module's darkscope binary, source tree, work directory and --file-prefix.

    A module with a failed test keeps its work directory (captures, summaries, logs) for
    inspection and says where; a passing one removes it. DARKSCOPE_KEEP_TEST_FILES=1 keeps it
    always."""

    def __init__(self, darkscope, src):
        self.darkscope = darkscope
        self.src = src
        self.gen = os.path.join(self.src, "scripts", "darkscope-gen")
        self.ctl = os.path.join(self.src, "scripts", "darkscope-ctl")
        self.corpus = os.path.normpath(os.path.join(self.src, "..", "shared", "corpus"))
        self.tmp = tempfile.mkdtemp(prefix="dsit-")
        self.prefix = "dsit%d_%d" % (os.getpid(), next(_env_numbers))
        self.prefixes = {self.prefix}  # every --file-prefix a process of this module was given
        self.procs = []

    def close(self, failed):
        # Whatever happened to the tests, no darkscope is left polling behind them.
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # DPDK leaves /var/run/dpdk/<prefix> behind, and the work directory holds captures of up
        # to tens of MiB.
        for prefix in self.prefixes:
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)
        if failed or os.environ.get("DARKSCOPE_KEEP_TEST_FILES") == "1":
            print("test files kept in %s" % self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _note_prefixes(self, args):
        for i, arg in enumerate(args[:-1]):
            if arg == "--file-prefix":
                self.prefixes.add(args[i + 1])

    def generate(self, name, *args):
        pcap = os.path.join(self.tmp, name + ".pcap")
        truth = os.path.join(self.tmp, name + ".truth.json")
        cmd = ["/usr/bin/python3", self.gen, "--out", pcap, "--truth", truth] + list(args)
        subprocess.run(cmd, check=True)
        with open(truth) as f:
            return pcap, json.load(f)

    def base_args(self, prefix=None):
        self.prefixes.add(prefix or self.prefix)
        return ["--file-prefix", prefix or self.prefix, "--no-huge", "--memory", "1024",
                "--mbufs", "8191", "--log-level", "warning"]

    def run(self, args, timeout=300, check=True):
        self._note_prefixes(args)
        cmd = [self.darkscope] + args
        print("+ " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        if check and p.returncode != 0:
            fail("darkscope exited %d: %s" % (p.returncode, p.stderr.strip()[-2000:]))
        return p

    def start(self, args, cmd_prefix=()):
        """darkscope started in the background (cmd_prefix: e.g. ip netns exec NS); the module's
        end kills it if the test did not stop it."""
        self._note_prefixes(args)
        cmd = list(cmd_prefix) + [self.darkscope] + args
        print("+ " + " ".join(cmd), flush=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        return proc

    def summary(self, path):
        """A --summary file darkscope wrote."""
        try:
            return client.read_summary(path)
        except client.SummaryError as e:
            fail("summary %s" % e)


def fail(msg):
    """Fails the test (or the fixture) with this message, without a traceback."""
    pytest.fail(msg, pytrace=False)


def no_errors(errors):
    """Passes when errors is empty; otherwise fails listing every one."""
    if errors:
        fail("\n".join(errors))


def geo_csvs(nets_csv, directory):
    """Range CSV databases (ip-location-db layout) from the generator's network list, converted
    here with Python's ipaddress, independently of darkscope: returns the geo arguments."""
    country_csv = os.path.join(directory, "country.csv")
    asn_csv = os.path.join(directory, "asn.csv")
    with open(nets_csv) as f, open(country_csv, "w", newline="") as c, \
            open(asn_csv, "w", newline="") as a:
        cw, aw = csv.writer(c), csv.writer(a)
        for row in csv.reader(f):
            net = ipaddress.ip_network(row[0])
            cw.writerow([net[0], net[-1], row[1]])
            aw.writerow([net[0], net[-1], row[2], row[3] if len(row) > 3 else ""])
    return ["--geo-country", country_csv, "--geo-asn", asn_csv]


def telemetry(prefix, command, timeout=5.0):
    """One request on the telemetry socket of --file-prefix PREFIX: the value under the
    command's name (None when the reply has none)."""
    return client.query(prefix, command, timeout)


def ranked(value):
    """A ranked list as darkscope answers it (a dict keyed "1", "2", ...), back to a list."""
    try:
        return client.ranked(value)
    except ValueError as e:
        fail(str(e))


def wait_socket(prefix, proc, timeout=60):
    """Until darkscope answers /darkscope/stats on its socket (fails if it exits first)."""
    path = client.socket_path(prefix)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read()
            fail("darkscope exited early (%d):\n%s" % (proc.returncode, out))
        if os.path.exists(path):
            try:
                stats = telemetry(prefix, "/darkscope/stats")
                if isinstance(stats, dict) and "packets" in stats:
                    return
            except client.TelemetryError:
                pass
        time.sleep(0.2)
    fail("telemetry socket %s did not appear" % path)


def wait_packets(prefix, packets, timeout=120):
    """Polls /darkscope/stats until it has counted `packets` (or the time is up); returns it."""
    deadline = time.time() + timeout
    stats = {}
    while time.time() < deadline:
        stats = telemetry(prefix, "/darkscope/stats") or {}
        if stats.get("packets") == packets:
            break
        time.sleep(0.5)
    return stats


def stop(proc, timeout=60):
    """SIGINT, then its exit status (fails if it does not stop)."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        fail("darkscope did not stop on SIGINT:\n" + out)
    sys.stdout.write(out)
    return proc.returncode


STAT_KEYS = ["packets", "bytes", "ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6", "other",
             "malformed", "non_ip", "unmatched"]


def compare_stats(stats, truth, what):
    errors = []
    for k in STAT_KEYS:
        if k in truth and stats.get(k) != truth[k]:
            errors.append("%s: %s = %s, truth %s" % (what, k, stats.get(k), truth[k]))
    return errors


def compare_top_ports(top, truth_services, what, n=None):
    """top: list of {service, packets, bytes}; truth_services: {service: {packets, bytes}}."""
    errors = []
    expected = sorted(truth_services.items(), key=lambda kv: (-kv[1]["packets"], kv[0]))
    if n is not None:
        expected = expected[:n]
    got = [(e["service"], e["packets"], e["bytes"]) for e in ranked(top)]
    want = [(k, v["packets"], v["bytes"]) for k, v in expected]
    if got != want:
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
        errors.append("%s: top ports differ from rank %d (got %d rows, want %d)\n  got  %s\n"
                      "  want %s" % (what, first + 1, len(got), len(want), got[first:first + 5],
                                     want[first:first + 5]))
    return errors


def compare_named(rows, truth_map, key, what):
    errors = []
    got = {str(r[key]): (r["packets"], r["bytes"]) for r in ranked(rows)}
    want = {str(k): (v["packets"], v["bytes"]) for k, v in truth_map.items() if v["packets"]}
    if got != want:
        errors.append("%s: per-%s counts differ\n  got  %s\n  want %s" % (what, key, got, want))
    return errors


def manifest_rows(corpus):
    """The shared corpus's MANIFEST.tsv as dicts (local_path, packets, ...); [] without it."""
    manifest = os.path.join(corpus, "pcaps", "MANIFEST.tsv")
    if not os.path.exists(manifest):
        return []
    with open(manifest) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f]


class PacedGenerator:
    """ds_paced_gen (tests/tools) serving a capture to darkscope over net_memif at a fixed rate:
    live traffic that lasts as long as a test needs, from a second DPDK process of the module's
    Env. Lossless unless drop=True (then a full ring drops the rest of a burst, counted in the
    result's tx_failed, as a NIC's full rx ring would).

    start() waits until the generator listens (skips the test when this DPDK has no net_memif);
    darkscope then takes `port_spec` as its --port; result() is the generator's one JSON line
    once every packet is offered; finish() its exit status after darkscope has left."""

    def __init__(self, env, paced_gen, pcap, rate, lcore=0, drop=False, rsize=14, linger=120):
        self.env = env
        self.sock = os.path.join(env.tmp, "memif-%d.sock" % rate)
        self.err = os.path.join(env.tmp, "paced-gen-%d.err" % rate)
        self.prefix = env.prefix + "gen"
        # The client sets the ring size (the server only caps it, at 2^14).
        self.port_spec = "net_memif0,role=client,socket=%s,socket-abstract=no,rsize=%d" % (
            self.sock, rsize)
        self.cmd = [paced_gen, "--pcap", pcap, "--socket", self.sock, "--rate", str(rate),
                    "--file-prefix", self.prefix, "--link-timeout", "90", "--stall-timeout",
                    "30", "--linger", str(linger)] + (["--drop"] if drop else [])
        self.lcore = lcore  # the generator's CPU: one no darkscope worker polls, when there is one
        self.rate = rate
        self.proc = None

    def place(self, conf):
        """Puts the generator on a CPU no darkscope worker polls (darkscope's --plan for this
        port, no EAL; on 2 CPUs: the stats core's, which sleeps between merges); returns the
        extra darkscope arguments that plan needs ([] or --share-cpus). With fewer CPUs
        everything time-shares, and the ring holds what the worker has not polled yet."""
        share = []
        roles = self._plan(conf, [])
        if roles is None:
            share = ["--share-cpus"]
            roles = self._plan(conf, share) or {}
        worker_cpus = {cpu for role, cpu in roles.items() if role.startswith("worker")}
        allowed = sorted(os.sched_getaffinity(0))
        free = [c for c in allowed if c not in worker_cpus]
        self.lcore = free[0] if free else allowed[0]
        print("darkscope plan %s; generator on cpu %d" % (roles, self.lcore), flush=True)
        return share

    def _plan(self, conf, extra):
        """darkscope's core plan for this port (no EAL): {role: cpu}, or None when it cannot."""
        p = subprocess.run([self.env.darkscope, "--config", conf, "--port", self.port_spec,
                            "--plan"] + extra, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            return None
        roles = {}
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) >= 3 and f[1].isdigit() and f[2].isdigit():
                roles[f[0]] = int(f[2])
        return roles

    def log(self):
        try:
            with open(self.err) as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout=60):
        # The memif server must listen before darkscope starts: a memif client that finds no
        # server fails its port start.
        self.env.prefixes.add(self.prefix)  # DPDK leaves its runtime directory behind
        cmd = self.cmd + ["--lcore", str(self.lcore)]
        print("+ " + " ".join(cmd), flush=True)
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        self.env.procs.append(self.proc)
        deadline = time.time() + timeout
        while "ds_paced_gen: ready" not in self.log():
            if self.proc.poll() is not None:
                if self.proc.returncode == 3:
                    pytest.skip("net_memif is not available in this DPDK:\n" + self.log())
                fail("ds_paced_gen exited %d before listening:\n%s" % (self.proc.returncode,
                                                                        self.log()))
            if time.time() > deadline:
                fail("ds_paced_gen did not start listening on %s:\n%s" % (self.sock, self.log()))
            time.sleep(0.1)

    def result(self, darkscope, packets):
        """The generator's result line (offered, bytes, tx_failed, rate_pps, seconds, mode)
        once it has sent `packets`; fails if it or darkscope exits first."""
        deadline = time.time() + packets / self.rate + 120
        while True:
            if time.time() > deadline:
                fail("ds_paced_gen did not finish sending:\n" + self.log())
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    fail("ds_paced_gen exited %s without a result:\n%s" % (self.proc.wait(),
                                                                          self.log()))
                return json.loads(line)
            if darkscope.poll() is not None:
                fail("darkscope exited (%d) while the generator was sending:\n%s\n%s" % (
                    darkscope.returncode, darkscope.stdout.read(), self.log()))

    def finish(self):
        """The generator's exit status once darkscope has left (it lingers with the ring's
        memory until the client does)."""
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            return self.proc.wait(timeout=30)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.path.lexists(self.sock):
            os.unlink(self.sock)
