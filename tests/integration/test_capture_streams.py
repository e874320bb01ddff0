"""--read of a stream: a named FIFO, /dev/stdin fed by a pipe and a compressed capture are refused
at once with exit 2 and a message saying what to do (a capture is read twice, first to put the
files in time order, and libpcap reads no compressed files), instead of hanging or answering
"unknown file format"."""
import gzip
import os
import shutil
import subprocess
import sys

import dsharness as h
import pytest


def test_capture_streams(env):
    errors = []
    pcap, _ = env.generate("stream", "--seed", "4", "--packets", "50")
    fifo = os.path.join(env.tmp, "capture.fifo")
    os.mkfifo(fifo)
    compressed = pcap + ".gz"
    with open(pcap, "rb") as src, gzip.open(compressed, "wb") as dst:
        shutil.copyfileobj(src, dst)

    for target, want in ((fifo, "not a regular file"), (compressed, "gzip-compressed")):
        try:
            p = env.run(env.base_args() + ["--read", target], check=False, timeout=120)
        except subprocess.TimeoutExpired:
            errors.append("--read %s: still running after 120 s" % target)
            continue
        if p.returncode != 2 or want not in p.stderr or target not in p.stderr:
            errors.append("--read %s: exit %d, stderr %r (want 2 and %r)" % (
                target, p.returncode, p.stderr.strip()[-300:], want))

    with open(pcap, "rb") as f:
        cmd = [env.darkscope] + env.base_args() + ["--read", "/dev/stdin"]
        print("+ cat capture | " + " ".join(cmd), flush=True)
        cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
        try:
            p = subprocess.run(cmd, stdin=cat.stdout, capture_output=True, text=True, timeout=120)
            if p.returncode != 2 or "not a regular file" not in p.stderr:
                errors.append("--read /dev/stdin from a pipe: exit %d, stderr %r" % (
                    p.returncode, p.stderr.strip()[-300:]))
        except subprocess.TimeoutExpired:
            errors.append("--read /dev/stdin from a pipe: still running after 120 s")
        cat.kill()
        cat.wait()
    h.no_errors(errors)
