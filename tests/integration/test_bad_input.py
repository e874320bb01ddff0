#!/usr/bin/python3
"""Bad input: one clear line on stderr naming what is wrong, exit status 2, nothing started (the
refusal comes before EAL: no DPDK runtime directory appears for the run's --file-prefix)."""
import json
import os
import subprocess
import sys
import time

import dsharness as h

env = h.Env(sys.argv)
notpcap = os.path.join(env.tmp, "not-a-capture.pcap")
with open(notpcap, "w") as f:
    f.write("this is not a capture file\n")
good, _ = env.generate("good", "--seed", "3", "--packets", "50")
cases = [
    (["--bogus-option"], "bogus"),
    (["--read", "/nonexistent/x.pcap"], "/nonexistent/x.pcap"),
    (["--read", good, "--sensor", "tokyo=10.0.0.0/33"], "33"),
    (["--read", good, "--sensor", "noequals"], "--sensor"),
    (["--port", "0000:zz:00.0"], "0000:zz:00.0"),
    (["--port", "0000:3b:00.9"], "0000:3b:00.9"),
    (["--read", good, "--interval", "0"], "--interval"),
    (["--read", good, "--burst", "0"], "--burst"),
    (["--read", good, "--workers", "64"], "64"),
    (["--read", notpcap], "not-a-capture.pcap"),
    (["--port", "net_pcap0,rx_pcap=/nonexistent/y.pcap"], "net_pcap0"),
    # A replay file libpcap cannot read: named before EAL, not "net_pcap0 was not probed".
    (["--port", "net_pcap0,rx_pcap=" + notpcap], "rx_pcap file " + notpcap),
    # An output that is also an input, a file given twice, an option taken for a file name.
    (["--read", good, "--summary", good], "--summary: '%s': is also the --read file" % good),
    (["--read", good, good], "given twice"),
    (["--read", "--summary", "x.json"], "--read: needs a file name before the next option"),
    (["--read", good, "--geo-country", "/nonexistent/c.mmdb"], "/nonexistent/c.mmdb"),
    (["--read", good, "--memory-budget-mb", "32"], "--memory-budget-mb"),
    (["--read", good, "--tuple-entries", "3000"], "--tuple-entries"),
    (["--read", good, "--tuple-entries", "16"], "--tuple-entries"),
    (["--read", good, "--tuple-entries", "2^20"], "--tuple-entries"),
    # A value error is not hidden behind "nothing to capture".
    (["--burst", "65"], "--burst: '65'"),
    (["--workers", "0"], "--workers: '0'"),
    (["--interval", "0"], "--interval: '0'"),
    (["--surge-factor", "1"], "--surge-factor: '1'"),
    # --config of a directory is refused, not run on the defaults.
    (["--read", good, "--config", env.tmp], "is a directory"),
]
# A value from the config file is named by its file and line.
bad_conf = os.path.join(env.tmp, "bad.conf")
with open(bad_conf, "w") as f:
    f.write("# a comment\nread = %s\nworkers = two\n" % good)
cases.append((["--config", bad_conf], bad_conf + ":3: workers: 'two'"))
errors = []
for i, (args, needle) in enumerate(cases):
    # A prefix of its own per case: EAL creates /var/run/dpdk/PREFIX and leaves it behind, so a
    # directory there means the refusal came after EAL had started.
    prefix = "%sbad%d" % (env.prefix, i)
    runtime_dir = os.path.join("/var/run/dpdk", prefix)
    p = env.run(env.base_args(prefix) + args, check=False, timeout=60)
    lines = [l for l in p.stderr.splitlines() if l.startswith("darkscope:")]
    if p.returncode != 2:
        errors.append("%s: exit %d, want 2" % (args, p.returncode))
    if len(lines) != 1 or needle not in lines[0]:
        errors.append("%s: want one 'darkscope:' line naming %r, got %r" % (args, needle, p.stderr))
    if os.path.exists(runtime_dir):
        errors.append("%s: refused after EAL started (%s exists: %s)" % (
            args, runtime_dir, sorted(os.listdir(runtime_dir))))

def summary_of(name, args):
    """Runs darkscope offline on `good` with these extra arguments; returns (process, summary)."""
    out = os.path.join(env.tmp, name + ".json")
    p = env.run(env.base_args() + ["--read", good, "--sensor", "all=0.0.0.0/0", "--summary", out] +
                args, check=False, timeout=120)
    if p.returncode != 0 or not os.path.exists(out):
        errors.append("%s: exit %d, want a run: %r" % (args, p.returncode, p.stderr))
        return p, {}
    with open(out) as f:
        return p, json.load(f)


def udp_backscatter(summary):
    return summary.get("/darkscope/classes", {}).get("udp_backscatter")


# --udp-service-ports given empty means none: no UDP packet is reflection backscatter.
backscatter, _ = env.generate("backscatter", "--seed", "1", "--packets", "2000")
good_default = good
good = backscatter
_, default = summary_of("udp-default", [])
_, none = summary_of("udp-none", ["--udp-service-ports", ""])
empty_conf = os.path.join(env.tmp, "udp-none.conf")
with open(empty_conf, "w") as f:
    f.write("udp-service-ports =\n")
_, none_file = summary_of("udp-none-file", ["--config", empty_conf])
if not udp_backscatter(default):
    errors.append("default --udp-service-ports: no udp_backscatter in %r" % (default,))
for what, s in (("--udp-service-ports ''", none), ("udp-service-ports = (file)", none_file)):
    if udp_backscatter(s) not in (0, None) or "/darkscope/classes" not in s:
        errors.append("%s: udp_backscatter %r, want 0" % (what, udp_backscatter(s)))
good = good_default

# The command line beats the file for options that exclude each other: the file's port gives
# way to --read, its workers to --cores.
port_conf = os.path.join(env.tmp, "port.conf")
with open(port_conf, "w") as f:
    f.write("port = 0000:3b:00.0\n")
summary_of("read-beats-port", ["--config", port_conf])
workers_conf = os.path.join(env.tmp, "workers.conf")
with open(workers_conf, "w") as f:
    f.write("workers = 2\n")
summary_of("cores-beat-workers", ["--config", workers_conf, "--cores", "1", "--stats-core", "0",
                                  "--share-cpus"])

# A second darkscope on a --file-prefix in use: one line saying so (EAL left rte_errno 0 and
# it read "EAL initialisation failed: Success"). The first one's /darkscope/plan has each
# worker as a dict, not as a JSON string.
first = env.start(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                     "--link-wait", "0", "--duration", "60"])
h.wait_socket(env.prefix, first)
plan = h.telemetry(env.prefix, "/darkscope/plan")
worker = plan.get("worker_1") if isinstance(plan, dict) else None
if not isinstance(worker, dict) or not isinstance(worker.get("lcore"), int) or \
        plan.get("workers") != 1 or worker.get("queues") != "0:0":
    errors.append("/darkscope/plan: want worker_1 a dict {lcore, numa_node, queues}, got %r" %
                  (plan,))
p = env.run(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                               "--link-wait", "0", "--duration", "1"], check=False, timeout=60)
lines = [l for l in p.stderr.splitlines() if l.startswith("darkscope:")]
want = "--file-prefix %s: another DPDK process" % env.prefix
if p.returncode != 2 or len(lines) != 1 or want not in lines[0] or "Success" in p.stderr:
    errors.append("second darkscope on prefix %s: exit %d, want 2 and one line %r, got %r" % (
        env.prefix, p.returncode, want, p.stderr))
if first.poll() is not None:
    errors.append("the first darkscope died when the second started: %r" % first.stdout.read())
if h.stop(first) != 0:
    errors.append("the first darkscope did not stop cleanly")

# A reload that does not fit the DPDK heap: refused with what the heap has left and what to do
# (DPDK's own errno read "No such file or directory"), the running tables kept. The default
# country database takes ~600 MiB; --memory 1024 has no room for a second copy.
geo_db = "/var/lib/darkscope/geo/geo-whois-asn-country.mmdb"
if not os.path.exists(geo_db):
    print("SKIP reload without memory: %s not installed (scripts/fetch-geo.sh)" % geo_db)
else:
    live = env.start(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                        "--link-wait", "0", "--duration", "120",
                                        "--geo-country", geo_db])
    h.wait_socket(env.prefix, live, timeout=120)
    r = h.telemetry(env.prefix, "/darkscope/reload", timeout=60)
    result = str(r.get("result", "")) if isinstance(r, dict) else ""
    if not isinstance(r, dict) or r.get("ok") != 0 or "MiB free" not in result or \
            "raise --memory" not in result:
        errors.append("reload without memory: want ok 0 and the heap's free MiB and 'raise "
                      "--memory' in the result, got %r" % (r,))
    geo = h.telemetry(env.prefix, "/darkscope/geo")
    if not isinstance(geo, dict) or geo.get("enabled") != 1 or geo.get("reloads_failed") != 1:
        errors.append("after a reload without memory: want the old tables on and one failed "
                      "reload, got %r" % (geo,))
    if h.stop(live) != 0:
        errors.append("darkscope did not stop cleanly after a failed reload")

# A memif client with no server: found at start-up, after EAL (so exit 1, not 2), with the
# driver's bare "Operation not permitted" explained.
nosock = os.path.join(env.tmp, "no-server.sock")
p = env.run(env.base_args() + ["--port", "net_memif0,role=client,socket=%s,socket-abstract=no" %
                               nosock, "--sensor", "a=192.0.2.0/24", "--link-wait", "1"],
            check=False, timeout=60)
lines = [l for l in p.stderr.splitlines() if l.startswith("darkscope:")]
if p.returncode == 0 or len(lines) != 1 or "server running first" not in lines[0]:
    errors.append("memif client without a server: exit %d, want one line explaining it, got %r" % (
        p.returncode, p.stderr))
h.report(errors)
