"""Signals from the first instruction of main(): SIGTERM, then SIGHUP, sent every 10 ms from the
moment /proc/PID/status shows the signal caught or blocked (the dynamic loader runs before main,
and nothing protects that) until darkscope exits or 5 s pass, 50 runs each. darkscope is never
killed by the default action and never crashes; on SIGTERM it exits 0 whichever step of the
start-up (or the capture) the signal met; under SIGHUPs it keeps running (each remembered for
the stats loop) and stops with status 0 on its --duration."""
import os
import signal
import subprocess
import sys
import time

import dsharness as h
import pytest

RUNS = int(os.environ.get("DARKSCOPE_SIGNAL_RUNS", "50"))


def test_signals(env):
    pcap, truth = env.generate("sig", "--seed", "3", "--packets", "2000", "--profile", "demo")
    log_path = os.path.join(env.tmp, "darkscope.log")


    def sig_bits(pid):
        """(caught | blocked) signal mask of pid from /proc, or None when the process is gone."""
        try:
            with open("/proc/%d/status" % pid) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except (FileNotFoundError, ProcessLookupError):
            return None
        return int(fields["SigCgt"].strip(), 16) | int(fields["SigBlk"].strip(), 16)


    def storm(sig, extra):
        """One run: returns (returncode, seconds the storm lasted, signals sent)."""
        args = [env.darkscope] + env.base_args() + [
            "--config", os.path.join(env.src, "conf", "demo.conf"),
            "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
            "--metrics-listen", "off"] + extra
        with open(log_path, "w") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        bit = 1 << (sig - 1)
        while True:
            bits = sig_bits(proc.pid)
            if bits is None or proc.poll() is not None:
                break
            if bits & bit:
                break
        start = time.time()
        sent = 0
        while proc.poll() is None and time.time() - start < 5:
            try:
                os.kill(proc.pid, sig)
                sent += 1
            except ProcessLookupError:
                break
            time.sleep(0.01)
        if proc.poll() is None:
            # SIGHUP does not stop darkscope: --duration does, or this SIGTERM.
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return proc.returncode, time.time() - start, sent


    errors = []
    for name, sig, extra in (("SIGTERM", signal.SIGTERM, []),
                             ("SIGHUP", signal.SIGHUP, ["--duration", "1"])):
        codes = {}
        sent_total = 0
        for run in range(RUNS):
            rc, seconds, sent = storm(sig, extra)
            sent_total += sent
            codes[rc] = codes.get(rc, 0) + 1
            if rc != 0:
                with open(log_path) as f:
                    tail = f.read()[-2000:]
                how = ("killed by signal %d" % -rc) if rc < 0 else ("exit status %d" % rc)
                errors.append("%s run %d: %s after %d signals in %.2f s\n%s"
                              % (name, run + 1, how, sent, seconds, tail))
                if len(errors) > 3:
                    break
        print("%s: %d runs, %d signals sent, exit statuses %s" % (name, RUNS, sent_total, codes))
    h.no_errors(errors)
