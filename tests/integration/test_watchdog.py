"""systemd's notifications without systemd: darkscope run with NOTIFY_SOCKET pointing at a
datagram socket of this test and WATCHDOG_USEC set sends READY=1 once capturing, WATCHDOG=1
pings from its stats loop, and, once the stats loop is stalled by the fault-injection switch
(DARKSCOPE_FAULT_STALL_STATS_FILE: the loop wedges when that file exists), no more pings, which is what makes systemd restart a wedged
service. SIGTERM still stops it (exit 0, STOPPING=1)."""
import os
import socket
import sys
import time

import dsharness as h
import pytest


def test_watchdog(env):
    pcap, truth = env.generate("wd", "--seed", "4", "--packets", "2000", "--profile", "demo")
    sock_path = os.path.join(env.tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.1)

    PERIOD = 0.4  # WATCHDOG_USEC: darkscope pings every PERIOD / 2
    stall_file = os.path.join(env.tmp, "stall")
    os.environ["NOTIFY_SOCKET"] = sock_path
    os.environ["WATCHDOG_USEC"] = str(int(PERIOD * 1e6))
    os.environ["DARKSCOPE_FAULT_STALL_STATS_FILE"] = stall_file
    proc = env.start(env.base_args() + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
        "--metrics-listen", "off"])
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "DARKSCOPE_FAULT_STALL_STATS_FILE"):
        del os.environ[k]

    messages = []  # (time, text)


    def receive(seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                data = sock.recv(4096).decode()
            except socket.timeout:
                if proc.poll() is not None:
                    return
                continue
            messages.append((time.time(), data))


    errors = []
    deadline = time.time() + 60
    while time.time() < deadline and not any("READY=1" in m for _, m in messages):
        receive(0.5)
        if proc.poll() is not None:
            break
    ready = [t for t, m in messages if "READY=1" in m]
    if not ready:
        errors.append("no READY=1 within 60 s: %r" % messages)
        proc.kill()
        h.no_errors(errors)
    # Pings while the stats loop runs: three at least (the loop also closes intervals, which takes
    # longer on a busy machine: a generous deadline, no rate asserted).
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and \
            len([m for _, m in messages if "WATCHDOG=1" in m]) < 3:
        receive(0.5)
    pings = [t for t, m in messages if "WATCHDOG=1" in m]
    if len(pings) < 3:
        errors.append("only %d WATCHDOG=1 pings in 60 s of capture" % len(pings))
    # Stall the loop; a tick already past the check may still ping once, within a second.
    open(stall_file, "w").close()
    receive(1.0)
    # In the stall: no pings for 10 periods at least.
    quiet_from = time.time()
    receive(10 * PERIOD)
    late = [t for t, m in messages if "WATCHDOG=1" in m and t >= quiet_from]
    if late:
        errors.append("%d WATCHDOG=1 pings while the stats loop was stalled" % len(late))
    if proc.poll() is not None:
        errors.append("darkscope exited during the stall (%d)" % proc.returncode)
    rc = h.stop(proc) if proc.poll() is None else proc.returncode
    receive(0.5)
    if rc != 0:
        errors.append("exit status after the stall and SIGINT: %d" % rc)
    if not any("STOPPING=1" in m for _, m in messages):
        errors.append("no STOPPING=1 at shutdown")
    print("READY after %.2f s; %d pings before the stall" % (ready[0] - messages[0][0], len(pings)))
    h.no_errors(errors)
