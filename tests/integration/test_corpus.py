#!/usr/bin/python3
"""Every capture of the shared corpus MANIFEST read offline: no crash, and `packets` equals the
manifest's packet count (an independent tcpdump/capinfos reading)."""
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import dsharness as h

env = h.Env(sys.argv)
manifest = os.path.join(env.corpus, "pcaps", "MANIFEST.tsv")
if not os.path.exists(manifest):
    print("SKIP: %s not present" % manifest)
    sys.exit(h.SKIP)
rows = []
with open(manifest) as f:
    header = f.readline().rstrip("\n").split("\t")
    for line in f:
        rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))


def one(i_row):
    i, row = i_row
    path = os.path.join(env.corpus, "pcaps", row["local_path"])
    summary = os.path.join(env.tmp, "c%d.json" % i)
    args = env.base_args(prefix="%s_c%d" % (env.prefix, i)) + [
        "--read", path, "--summary", summary, "--sensor", "all=0.0.0.0/0,::/0"]
    import subprocess
    p = subprocess.run([env.darkscope] + args, capture_output=True, text=True, timeout=120)
    if p.returncode not in (0,):
        return "%s: exit %d: %s" % (row["local_path"], p.returncode, p.stderr.strip()[-300:])
    with open(summary) as f:
        s = json.load(f)
    got = s["/darkscope/stats"]["packets"]
    if got != int(row["packets"]):
        return "%s: packets %d, manifest %s" % (row["local_path"], got, row["packets"])
    return None


# One at a time: each run pins its worker to the same CPU, and two would time-share it.
with ThreadPoolExecutor(max_workers=1) as pool:
    results = list(pool.map(one, enumerate(rows)))
errors = [r for r in results if r]
print("%d captures read, %d mismatches" % (len(rows), len(errors)))
h.report(errors)
