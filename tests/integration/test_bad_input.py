#!/usr/bin/python3
"""Bad input: one clear line on stderr naming what is wrong, exit status 2, nothing started."""
import os
import sys

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
    (["--read", good, "--geo-country", "/nonexistent/c.mmdb"], "/nonexistent/c.mmdb"),
    (["--read", good, "--memory-budget-mb", "32"], "--memory-budget-mb"),
    (["--read", good, "--tuple-entries", "3000"], "--tuple-entries"),
    (["--read", good, "--tuple-entries", "16"], "--tuple-entries"),
    (["--read", good, "--tuple-entries", "2^20"], "--tuple-entries"),
]
errors = []
for args, needle in cases:
    p = env.run(env.base_args() + args, check=False, timeout=60)
    lines = [l for l in p.stderr.splitlines() if l.startswith("darkscope:")]
    if p.returncode != 2:
        errors.append("%s: exit %d, want 2" % (args, p.returncode))
    if len(lines) != 1 or needle not in lines[0]:
        errors.append("%s: want one 'darkscope:' line naming %r, got %r" % (args, needle, p.stderr))
    if os.path.exists("/var/run/dpdk/%s/dpdk_telemetry.v2" % env.prefix):
        pass  # EAL may leave its runtime dir behind; nothing keeps running after exit
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
