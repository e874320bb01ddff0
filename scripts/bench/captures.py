"""Benchmark captures generated once per option set and kept in a cache directory, keyed by the
generator's own checksum so that a changed generator makes new ones (analyst.py, fleet.py)."""
import os
import subprocess
import sys
import zlib

GEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "darkscope-gen")
PY = "/usr/bin/python3"


def cached_capture(cache, prefix, name, args):
    """The capture `prefix-name` generated with darkscope-gen ARGS, once (kept in `cache`)."""
    with open(GEN, "rb") as f:
        key = "%08x" % zlib.crc32(f.read())
    path = os.path.join(cache, "%s-%s-%s.pcap" % (prefix, name, key))
    if not os.path.exists(path):
        print("bench: %s: generating %s (once)" % (prefix, path), file=sys.stderr, flush=True)
        os.makedirs(cache, exist_ok=True)
        subprocess.run([PY, GEN, "-q", "--out", path + ".tmp"] + args, check=True)
        os.replace(path + ".tmp", path)
    return path
