"""Outputs cannot be redirected by planted paths and do not expose data to other users: a
--summary or --db that is a symbolic link, a device or a FIFO is refused with exit 2 and left as
it is; a link planted where a predictable temporary name would be is not followed; the summary
and the database are created with mode 0640 (docs/configuration.md)."""
import json
import os
import stat
import sys

import dsharness as h
import pytest


def test_output_files(env):
    errors = []
    pcap, truth = env.generate("out", "--seed", "11", "--packets", "2000")

    victim = os.path.join(env.tmp, "victim")
    with open(victim, "w") as f:
        f.write("secret\n")
    os.chmod(victim, 0o600)
    link = os.path.join(env.tmp, "link.json")
    os.symlink(victim, link)
    device = os.path.join(env.tmp, "full")
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # what /dev/full is
    fifo = os.path.join(env.tmp, "fifo")
    os.mkfifo(fifo)

    for option, target in [("--summary", link), ("--summary", device), ("--summary", fifo),
                           ("--db", link), ("--db", device), ("--db", fifo)]:
        before = os.lstat(target)
        p = env.run(env.base_args() + ["--read", pcap, option, target], check=False)
        after = os.lstat(target)
        if p.returncode != 2 or target not in p.stderr:
            errors.append("%s %s: exit %d, stderr %r (want 2 naming it)" % (
                option, target, p.returncode, p.stderr.strip()[-200:]))
        if stat.S_IFMT(after.st_mode) != stat.S_IFMT(before.st_mode) or \
                after.st_ino != before.st_ino:
            errors.append("%s %s was replaced" % (option, target))
    with open(victim) as f:
        if f.read() != "secret\n":
            errors.append("the link's target was written")

    # A link planted at the names a writer might pick for its temporary file.
    summary = os.path.join(env.tmp, "summary.json")
    db = os.path.join(env.tmp, "history.db")
    for planted in (summary + ".tmp", db + "-journal"):
        os.symlink(victim, planted)
    os.umask(0o022)
    env.run(env.base_args() + ["--read", pcap, "--summary", summary, "--db", db], timeout=1200)
    with open(victim) as f:
        if f.read() != "secret\n":
            errors.append("a planted temporary-file link was followed")
    with open(summary) as f:
        if json.load(f)["/darkscope/stats"]["packets"] != truth["packets"]:
            errors.append("summary packets differ from the truth")
    for path in (summary, db):
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o640:
            errors.append("%s: mode %o, want a regular file of mode 640" % (
                path, stat.S_IMODE(st.st_mode)))
    leftovers = [n for n in os.listdir(env.tmp) if n.startswith(".summary.json")]
    if leftovers:
        errors.append("temporary files left behind: %s" % leftovers)
    h.no_errors(errors)
