"""Bad input: one clear line on stderr naming what is wrong, exit status 2, nothing started (the
refusal comes before EAL: no DPDK runtime directory appears for the run's --file-prefix)."""
import os
import re

import pytest

import dsharness as h

# (case, arguments, what the one "darkscope:" line must name) given the work files: f.good a
# capture, f.notpcap a file that is none, f.tmp the work directory, f.bad_conf a config file with
# a bad value on line 3.
CASES = [
    ("unknown-option", lambda f: (["--bogus-option"], "bogus")),
    ("read-missing-file", lambda f: (["--read", "/nonexistent/x.pcap"], "/nonexistent/x.pcap")),
    ("sensor-prefix-33", lambda f: (["--read", f.good, "--sensor", "tokyo=10.0.0.0/33"], "33")),
    ("sensor-without-equals", lambda f: (["--read", f.good, "--sensor", "noequals"],
                                         "--sensor")),
    ("port-bad-pci", lambda f: (["--port", "0000:zz:00.0"], "0000:zz:00.0")),
    ("port-absent-pci", lambda f: (["--port", "0000:3b:00.9"], "0000:3b:00.9")),
    ("interval-0", lambda f: (["--read", f.good, "--interval", "0"], "--interval")),
    ("burst-0", lambda f: (["--read", f.good, "--burst", "0"], "--burst")),
    ("workers-64", lambda f: (["--read", f.good, "--workers", "64"], "64")),
    ("read-not-a-capture", lambda f: (["--read", f.notpcap], "not-a-capture.pcap")),
    ("rx-pcap-missing-file", lambda f: (["--port", "net_pcap0,rx_pcap=/nonexistent/y.pcap"],
                                        "net_pcap0")),
    # A replay file libpcap cannot read: named before EAL, not "net_pcap0 was not probed".
    ("rx-pcap-not-a-capture", lambda f: (["--port", "net_pcap0,rx_pcap=" + f.notpcap],
                                         "rx_pcap file " + f.notpcap)),
    # An output that is also an input, a file given twice, an option taken for a file name.
    ("summary-is-the-read-file", lambda f: (["--read", f.good, "--summary", f.good],
                                            "--summary: '%s': is also the --read file" % f.good)),
    ("read-file-given-twice", lambda f: (["--read", f.good, f.good], "given twice")),
    ("read-followed-by-an-option", lambda f: (["--read", "--summary", "x.json"],
                                              "--read: needs a file name before the next option")),
    ("geo-country-missing-file", lambda f: (["--read", f.good, "--geo-country",
                                             "/nonexistent/c.mmdb"], "/nonexistent/c.mmdb")),
    ("memory-budget-too-small", lambda f: (["--read", f.good, "--memory-budget-mb", "32"],
                                           "--memory-budget-mb")),
    ("tuple-entries-not-a-power-of-2", lambda f: (["--read", f.good, "--tuple-entries", "3000"],
                                                  "--tuple-entries")),
    ("tuple-entries-too-few", lambda f: (["--read", f.good, "--tuple-entries", "16"],
                                         "--tuple-entries")),
    ("tuple-entries-not-a-number", lambda f: (["--read", f.good, "--tuple-entries", "2^20"],
                                              "--tuple-entries")),
    # A value error is not hidden behind "nothing to capture".
    ("burst-65-alone", lambda f: (["--burst", "65"], "--burst: '65'")),
    ("workers-0-alone", lambda f: (["--workers", "0"], "--workers: '0'")),
    ("interval-0-alone", lambda f: (["--interval", "0"], "--interval: '0'")),
    ("surge-factor-1-alone", lambda f: (["--surge-factor", "1"], "--surge-factor: '1'")),
    # --config of a directory is refused, not run on the defaults.
    ("config-a-directory", lambda f: (["--read", f.good, "--config", f.tmp], "is a directory")),
    # A value from the config file is named by its file and line.
    ("config-bad-value", lambda f: (["--config", f.bad_conf],
                                    f.bad_conf + ":3: workers: 'two'")),
    # DPDK refuses a packet pool smaller than 1.5 x its per-lcore cache (256): 384 mbufs at
    # least, live or offline, said before anything starts.
    ("mbufs-383-port", lambda f: (["--port", "net_null0", "--rx-desc", "32", "--mbufs", "383"],
                                  "--mbufs: '383': must be 384..")),
    ("mbufs-255-read", lambda f: (["--read", f.good, "--mbufs", "255"],
                                  "--mbufs: '255': must be 384..")),
    # A capture port is read, never written: net_pcap's output devargs would truncate the file
    # (tx_pcap) or send to an interface (tx_iface) at start-up.
    ("tx-pcap-on-port", lambda f: (["--port", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (
        f.good, f.victim), "--duration", "1"], "tx_pcap")),
    ("tx-iface-on-port", lambda f: (["--port", "net_pcap0,rx_pcap=%s,tx_iface=lo" % f.good,
                                     "--duration", "1"], "tx_iface")),
    # infinite_rx=1 keeps every packet of the file in the pool: too few mbufs for it is named
    # with the file's packet count, before the PMD fails (and DPDK's clean-up after it).
    ("infinite-rx-too-few-mbufs", lambda f: (["--port", "net_pcap0,rx_pcap=%s,infinite_rx=1" %
                                              f.replay, "--rx-desc", "32", "--mbufs", "1023"],
                                             "%d packets" % f.replay_packets)),
]
CASE_NAMES = [name for name, _ in CASES]


VICTIM_TEXT = "a file no capture port may write\n"


class Files:
    pass


def base_args_for(env, prefix, args):
    """The module's base arguments, without its --mbufs when the case gives its own."""
    base = env.base_args(prefix)
    if "--mbufs" in args:
        i = base.index("--mbufs")
        del base[i:i + 2]
    return base


@pytest.fixture(scope="module")
def files(env):
    f = Files()
    f.tmp = env.tmp
    f.notpcap = os.path.join(env.tmp, "not-a-capture.pcap")
    with open(f.notpcap, "w") as out:
        out.write("this is not a capture file\n")
    f.good, _ = env.generate("good", "--seed", "3", "--packets", "50")
    f.victim = os.path.join(env.tmp, "victim.txt")
    with open(f.victim, "w") as out:
        out.write(VICTIM_TEXT)
    # More packets than --mbufs 1023 holds (infinite_rx), counted independently by the generator.
    f.replay, truth = env.generate("replay", "--seed", "4", "--packets", "1500")
    f.replay_packets = truth["packets"]
    f.bad_conf = os.path.join(env.tmp, "bad.conf")
    with open(f.bad_conf, "w") as out:
        out.write("# a comment\nread = %s\nworkers = two\n" % f.good)
    return f


@pytest.fixture(scope="module")
def refusals(env, files):
    """{case: (arguments, needle, process, what EAL left in the runtime directory or None)}."""
    out = {}
    for i, (name, case) in enumerate(CASES):
        args, needle = case(files)
        # A prefix of its own per case: EAL creates /var/run/dpdk/PREFIX and leaves it behind,
        # so a directory there means the refusal came after EAL had started.
        prefix = "%sbad%d" % (env.prefix, i)
        runtime_dir = os.path.join("/var/run/dpdk", prefix)
        p = env.run(base_args_for(env, prefix, args) + args, check=False, timeout=60)
        left = sorted(os.listdir(runtime_dir)) if os.path.exists(runtime_dir) else None
        out[name] = (args, needle, p, left)
    return out


def darkscope_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("darkscope:")]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_refused_with_exit_2(refusals, case):
    args, _, p, _ = refusals[case]
    assert p.returncode == 2, "%s: exit %d, want 2" % (args, p.returncode)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_refused_in_one_line_naming_it(refusals, case):
    args, needle, p, _ = refusals[case]
    lines = darkscope_lines(p.stderr)
    assert len(lines) == 1 and needle in lines[0], \
        "%s: want one 'darkscope:' line naming %r, got %r" % (args, needle, p.stderr)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_refused_before_eal(refusals, case):
    # EAL's runtime directory is removed at a clean exit, so its messages tell too: at
    # --log-level warning EAL's start still logs (its TELEMETRY: line).
    args, _, p, left = refusals[case]
    assert left is None, "%s: refused after EAL started (its runtime directory exists: %s)" % (
        args, left)
    eal_lines = [line for line in p.stderr.splitlines()
                 if line.startswith(("EAL:", "TELEMETRY:"))]
    assert not eal_lines, "%s: refused after EAL started: %s" % (args, eal_lines)


def test_refused_tx_pcap_leaves_its_file_alone(refusals, files):
    with open(files.victim, "rb") as f:
        got = f.read()
    assert got == VICTIM_TEXT.encode(), "the refused tx_pcap= file was rewritten: %r" % got[:200]


def test_mbufs_floor_runs(env):
    # The floor the refusal names is enough for a port to start and run.
    prefix = env.prefix + "floor"
    base = base_args_for(env, prefix, ["--mbufs"])
    p = env.run(base + ["--port", "net_null0", "--rx-desc", "32", "--mbufs", "384", "--sensor",
                        "a=192.0.2.0/24", "--link-wait", "0", "--duration", "1"],
                check=False, timeout=120)
    assert p.returncode == 0, "--mbufs 384: exit %d, want a run: %r" % (p.returncode, p.stderr)


def test_infinite_rx_runs_with_the_mbufs_it_was_told(env, files, refusals):
    # The refusal names the --mbufs the replay needs; with that many it replays the file.
    args, _, p, _ = refusals["infinite-rx-too-few-mbufs"]
    m = re.search(r"--mbufs (\d+)", p.stderr)
    assert m, "no --mbufs advice in %r" % p.stderr
    needed = int(m.group(1))
    assert needed > files.replay_packets, "advised --mbufs %d below the file's %d packets" % (
        needed, files.replay_packets)
    prefix = env.prefix + "replay"
    out = os.path.join(env.tmp, "replay.json")
    run = env.run(base_args_for(env, prefix, ["--mbufs"]) + [
        "--port", args[1], "--rx-desc", "32", "--mbufs", str(needed), "--sensor", "all=0.0.0.0/0",
        "--link-wait", "0", "--duration", "2", "--summary", out], check=False, timeout=120)
    assert run.returncode == 0, "--mbufs %d: exit %d: %r" % (needed, run.returncode, run.stderr)
    packets = env.summary(out).get("/darkscope/stats", {}).get("packets", 0)
    assert packets >= files.replay_packets, \
        "replayed %d packets in 2 s, want the file's %d at least" % (packets, files.replay_packets)


def summary_of(env, good, name, args):
    """Runs darkscope offline on `good` with these extra arguments; returns its summary (fails
    unless it ran)."""
    out = os.path.join(env.tmp, name + ".json")
    p = env.run(env.base_args() + ["--read", good, "--sensor", "all=0.0.0.0/0", "--summary",
                                   out] + args, check=False, timeout=120)
    if p.returncode != 0 or not os.path.exists(out):
        h.fail("%s: exit %d, want a run: %r" % (args, p.returncode, p.stderr))
    return env.summary(out)


@pytest.fixture(scope="module")
def backscatter(env):
    """A capture with UDP reflection backscatter."""
    return env.generate("backscatter", "--seed", "1", "--packets", "2000")[0]


def udp_backscatter(summary):
    return summary.get("/darkscope/classes", {}).get("udp_backscatter")


def test_default_udp_service_ports_find_udp_backscatter(env, backscatter):
    s = summary_of(env, backscatter, "udp-default", [])
    assert udp_backscatter(s), "default --udp-service-ports: no udp_backscatter in %r" % (s,)


def test_empty_udp_service_ports_option_means_none(env, backscatter):
    # --udp-service-ports given empty means none: no UDP packet is reflection backscatter.
    s = summary_of(env, backscatter, "udp-none", ["--udp-service-ports", ""])
    assert "/darkscope/classes" in s and udp_backscatter(s) in (0, None), \
        "--udp-service-ports '': udp_backscatter %r, want 0" % (udp_backscatter(s),)


def test_empty_udp_service_ports_in_config_means_none(env, backscatter):
    empty_conf = os.path.join(env.tmp, "udp-none.conf")
    with open(empty_conf, "w") as f:
        f.write("udp-service-ports =\n")
    s = summary_of(env, backscatter, "udp-none-file", ["--config", empty_conf])
    assert "/darkscope/classes" in s and udp_backscatter(s) in (0, None), \
        "udp-service-ports = (file): udp_backscatter %r, want 0" % (udp_backscatter(s),)


# The command line beats the file for options that exclude each other: the file's port gives
# way to --read, its workers to --cores.
def test_read_beats_the_config_files_port(env, files):
    port_conf = os.path.join(env.tmp, "port.conf")
    with open(port_conf, "w") as f:
        f.write("port = 0000:3b:00.0\n")
    summary_of(env, files.good, "read-beats-port", ["--config", port_conf])


def test_cores_beat_the_config_files_workers(env, files):
    workers_conf = os.path.join(env.tmp, "workers.conf")
    with open(workers_conf, "w") as f:
        f.write("workers = 2\n")
    summary_of(env, files.good, "cores-beat-workers", ["--config", workers_conf, "--cores", "1",
                                                       "--stats-core", "0", "--share-cpus"])


@pytest.fixture(scope="module")
def used_prefix(env):
    """A second darkscope started on the --file-prefix of a running one: the first one's plan,
    the second's process, whether the first survived it and the first's exit status."""
    first = env.start(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                         "--link-wait", "0", "--duration", "60"])
    h.wait_socket(env.prefix, first)
    got = {"plan": h.telemetry(env.prefix, "/darkscope/plan")}
    got["second"] = env.run(env.base_args() + ["--port", "net_null0", "--sensor",
                                               "a=192.0.2.0/24", "--link-wait", "0",
                                               "--duration", "1"], check=False, timeout=60)
    got["first_died"] = first.poll() is not None
    got["first_output"] = first.stdout.read() if got["first_died"] else ""
    got["first_exit"] = h.stop(first)
    return got


def test_plan_has_each_worker_as_a_dict(used_prefix):
    # /darkscope/plan has each worker as a dict, not as a JSON string.
    plan = used_prefix["plan"]
    worker = plan.get("worker_1") if isinstance(plan, dict) else None
    assert isinstance(worker, dict) and isinstance(worker.get("lcore"), int) and \
        plan.get("workers") == 1 and worker.get("queues") == "0:0", \
        "/darkscope/plan: want worker_1 a dict {lcore, numa_node, queues}, got %r" % (plan,)


def test_second_darkscope_on_a_used_prefix_refused_in_one_line(env, used_prefix):
    # EAL left rte_errno 0 and it read "EAL initialisation failed: Success".
    p = used_prefix["second"]
    lines = darkscope_lines(p.stderr)
    want = "--file-prefix %s: another DPDK process" % env.prefix
    assert p.returncode == 2 and len(lines) == 1 and want in lines[0] and \
        "Success" not in p.stderr, \
        "second darkscope on prefix %s: exit %d, want 2 and one line %r, got %r" % (
            env.prefix, p.returncode, want, p.stderr)


def test_first_darkscope_survives_the_second(used_prefix):
    assert not used_prefix["first_died"], \
        "the first darkscope died when the second started: %r" % used_prefix["first_output"]


def test_first_darkscope_stops_cleanly(used_prefix):
    assert used_prefix["first_exit"] == 0, "the first darkscope did not stop cleanly"


GEO_DB = "/var/lib/darkscope/geo/geo-whois-asn-country.mmdb"


@pytest.fixture(scope="module")
def reload_in_a_small_heap(env):
    """A reload of the default country database in a small DPDK heap (--memory 1024): the
    compiled image is a mapped file, not DPDK memory, so the reload fits whatever the heap has
    left. The first start builds the image in the test's own cache, the reload maps it. The
    reload's reply, /darkscope/geo after it, the exit status."""
    if not os.path.exists(GEO_DB):
        pytest.skip("reload in a small heap: %s not installed (scripts/fetch-geo.sh)" % GEO_DB)
    cache = os.path.join(env.tmp, "geo-cache")
    live = env.start(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                        "--link-wait", "0", "--duration", "120",
                                        "--geo-country", GEO_DB, "--geo-cache", cache])
    h.wait_socket(env.prefix, live, timeout=120)
    got = {"reload": h.telemetry(env.prefix, "/darkscope/reload", timeout=60),
           "geo": h.telemetry(env.prefix, "/darkscope/geo"), "cache": cache}
    got["exit"] = h.stop(live)
    return got


def test_reload_in_a_small_heap_succeeds(reload_in_a_small_heap):
    r = reload_in_a_small_heap["reload"]
    assert isinstance(r, dict) and r.get("ok") == 1 and r.get("result") == "reloaded", \
        "reload in a small heap: want ok 1, 'reloaded', got %r" % (r,)


def test_reload_in_a_small_heap_maps_the_saved_image(reload_in_a_small_heap):
    geo = reload_in_a_small_heap["geo"]
    want = "mapped %s/geo-" % reload_in_a_small_heap["cache"]
    assert isinstance(geo, dict) and geo.get("enabled") == 1 and \
        geo.get("reloads_ok") == 2 and geo.get("reloads_failed") == 0 and \
        str(geo.get("image", "")).startswith(want), \
        "after the reload: want attribution on, 2 loads ok, the image %s..., got %r" % (want, geo)


def test_stops_cleanly_after_the_reload(reload_in_a_small_heap):
    assert reload_in_a_small_heap["exit"] == 0, "darkscope did not stop cleanly after a reload"


def test_memif_client_without_a_server_explained(env):
    # Found at start-up, after EAL (so exit 1, not 2), with the driver's bare "Operation not
    # permitted" explained.
    nosock = os.path.join(env.tmp, "no-server.sock")
    p = env.run(env.base_args() + ["--port", "net_memif0,role=client,socket=%s,"
                                   "socket-abstract=no" % nosock, "--sensor", "a=192.0.2.0/24",
                                   "--link-wait", "1"], check=False, timeout=60)
    lines = darkscope_lines(p.stderr)
    assert p.returncode != 0 and len(lines) == 1 and "server running first" in lines[0], \
        "memif client without a server: exit %d, want one line explaining it, got %r" % (
            p.returncode, p.stderr)
