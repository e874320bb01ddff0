"""Continuous recording (--record-dir): the files darkscope writes, read back by Wireshark's
tools (tshark, editcap), hold exactly the input's packets (count, bytes up to the snap length,
timestamps), split at the rotation boundaries; with --record-filter exactly the packets the
generator's truth selects; live, recorded + record_dropped == counted; the quota deletes the
oldest files; a full disk costs recorded packets, never counted ones; a directory that cannot
be written stops darkscope at start-up (exit 2, one line); kill -9 leaves every complete file
whole."""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import dsharness as h
import pytest


def test_record(env):
    errors = []
    START = 1363046400

    def tshark_count(path):
        p = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True)
        complaints = [l for l in p.stderr.splitlines() if "Running as user" not in l]
        if p.returncode != 0 or complaints:
            errors.append("tshark -r %s: exit %d %s" % (os.path.basename(path), p.returncode,
                                                        complaints))
        return len(p.stdout.split())


    def period_of(name):
        stamp = re.search(r"-(\d{8}T\d{6}Z)", name).group(1)
        return int(time.mktime(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))) - time.timezone


    def record_files(directory):
        return sorted(f for f in glob.glob(os.path.join(directory, "*.pcapng*"))
                      if not f.endswith(".part"))


    def final_line(output):
        m = re.search(r"record: (\d+) packets recorded in (\d+) files \((\d+) bytes\), (\d+) dropped "
                      r"\(buffers (\d+), disk_full (\d+), write_error (\d+), quota (\d+)\), (\d+) files "
                      r"deleted", output)
        if not m:
            errors.append("no final record: line in the log")
            return None
        keys = ["recorded", "files", "bytes", "dropped", "buffers", "disk_full", "write_error",
                "quota", "deleted"]
        return dict(zip(keys, map(int, m.groups())))


    def base_args():
        """The harness's arguments at log level info: the recording's log lines are checked."""
        args = env.base_args()
        args[args.index("--log-level") + 1] = "info"
        return args


    def offline(name, pcap, extra):
        directory = os.path.join(env.tmp, name)
        summary = os.path.join(env.tmp, name + ".json")
        p = env.run(base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                                       "--read", pcap, "--record-dir", directory, "--summary", summary] + extra)
        with open(summary) as f:
            return directory, json.load(f)["/darkscope/stats"], p.stdout + p.stderr


    # 1. Everything, gzip, a 64-byte snap length, 120 s files of a 600 s capture (interval 60).
    pcap, truth = env.generate("rec", "--seed", "3", "--packets", "3000", "--profile", "demo",
                               "--duration", "600")
    source = h.read_pcap(pcap)[2]
    directory, stats, log = offline("all", pcap, ["--interval", "60", "--record-rotate", "120",
                                                  "--record-snaplen", "64", "--record-compress",
                                                  "gzip", "--appliance", "lab1"])
    files = record_files(directory)
    names = [os.path.basename(f) for f in files]
    want_names = ["lab1-%s.pcapng.gz" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(START + 120 * i))
                  for i in range(5)]
    if names != want_names:
        errors.append("files %s, want %s" % (names, want_names))
    recorded = []
    for f in files:
        packets = h.read_recorded(f, errors)
        if tshark_count(f) != len(packets):
            errors.append("%s: tshark and editcap disagree" % f)
        start = period_of(os.path.basename(f)) * 1_000_000_000
        late = [p for p in packets if not start <= p[0] < start + 120_000_000_000]
        if late:
            errors.append("%s: %d packets outside its period, first at %d" % (f, len(late), late[0][0]))
        recorded += packets
    want = sorted((ts, orig, data[:64]) for ts, orig, data in source)
    if sorted(recorded) != want:
        errors.append("gzip/snaplen 64: %d packets recorded, %d in the input; first difference %s" %
                      (len(recorded), len(want),
                       next(((a, b) for a, b in zip(sorted(recorded), want) if a != b), None)))
    if stats["packets"] != truth["packets"]:
        errors.append("counted %d, truth %d" % (stats["packets"], truth["packets"]))
    line = final_line(log)
    if line and (line["recorded"] != truth["packets"] or line["dropped"] or line["files"] != 5):
        errors.append("final record line %s" % line)

    # 2. A filter, zstd, whole frames: exactly the selected packets (truth from the generator).
    directory, stats, log = offline("filtered", pcap, [
        "--interval", "60", "--record-rotate", "600", "--record-compress", "zstd",
        "--record-filter", "sensor=tokyo-a|osaka service=tcp/23|tcp/445"])
    services = truth["sensor_services"]
    want_packets = sum(services[s][k]["packets"] for s in ("tokyo-a", "osaka")
                       for k in ("23/tcp", "445/tcp") if k in services[s])
    want_bytes = sum(services[s][k]["bytes"] for s in ("tokyo-a", "osaka")
                     for k in ("23/tcp", "445/tcp") if k in services[s])
    files = record_files(directory)
    recorded = [p for f in files for p in h.read_recorded(f, errors)]
    if not files or not all(f.endswith(".pcapng.zst") for f in files):
        errors.append("zstd files: %s" % files)
    if len(recorded) != want_packets or sum(p[1] for p in recorded) != want_bytes:
        errors.append("filter: %d packets / %d bytes recorded, truth %d / %d" % (
            len(recorded), sum(p[1] for p in recorded), want_packets, want_bytes))
    if not set(recorded) <= set(source):
        errors.append("filter: recorded packets that are not in the input (or not whole)")
    # The same selection by tshark's own dissection of the input.
    p = subprocess.run(["tshark", "-r", pcap, "-Y", "(ip.dst==203.0.113.0/24 || ip.dst==192.0.2.0/24 "
                        "|| ipv6.dst==2001:db8:d::/48) && (tcp.dstport==23 || tcp.dstport==445) && "
                        "!icmp && !icmpv6", "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True)
    # (tshark also reads ports where darkscope sees no valid L4 header: at least as many.)
    if len(p.stdout.split()) < want_packets:
        errors.append("tshark selects %d packets of the input, the generator's truth %d" %
                      (len(p.stdout.split()), want_packets))

    # 3. A filter that does not parse, and a directory that cannot be written: exit 2, one line.
    for extra, what in ((["--record-dir", os.path.join(env.tmp, "x"), "--record-filter",
                          "colour=red"], "bad filter"),
                        (["--record-dir", os.path.join(pcap, "sub")], "directory under a file")):
        p = env.run(base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                                       "--read", pcap] + extra, check=False)
        lines = [l for l in p.stderr.splitlines() if l.startswith("darkscope:")]
        if p.returncode != 2 or len(lines) != 1:
            errors.append("%s: exit %d, lines %s" % (what, p.returncode, lines))
    readonly = os.path.join(env.tmp, "readonly")
    os.makedirs(readonly)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", readonly]).returncode == 0
    if mounted:
        try:
            p = env.run(base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                                           "--read", pcap, "--record-dir", readonly], check=False)
            lines = [l for l in p.stderr.splitlines() if l.startswith("darkscope:")]
            if p.returncode != 2 or len(lines) != 1 or "not writable" not in lines[0]:
                errors.append("read-only directory: exit %d, lines %s" % (p.returncode, lines))
        finally:
            subprocess.run(["umount", readonly])

    # 4. Quota: 1 MiB for ~2.5 MB of recording; the oldest files go, the newest stay.
    big, big_truth = env.generate("big", "--seed", "5", "--packets", "2000", "--profile", "demo",
                                  "--duration", "600", "--frame-size-range", "1000-1400")
    directory, stats, log = offline("quota", big, ["--interval", "60", "--record-rotate", "60",
                                                   "--record-quota-mb", "1"])
    files = [os.path.basename(f) for f in record_files(directory)]
    deleted = re.findall(r"deleted the oldest file (\S+)", log)
    line = final_line(log)
    all_names = ["%s-%s.pcapng" % (files[0].split("-2013")[0] if files else "?",
                                   time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(START + 60 * i)))
                 for i in range(10)]
    if not deleted or sorted(deleted) != all_names[:len(deleted)] or files != all_names[len(deleted):]:
        errors.append("quota: deleted %s, kept %s" % (deleted, files))
    if sum(os.path.getsize(os.path.join(directory, f)) for f in files) > 1 << 20:
        errors.append("quota: the kept files exceed 1 MiB")
    if line and line["deleted"] != len(deleted):
        errors.append("quota: %d deletions logged, %s counted" % (len(deleted), line))

    # 5. A small tmpfs that fills up: counting goes on, record_dropped rises, the exit is clean.
    small = os.path.join(env.tmp, "small")
    os.makedirs(small)
    if mounted and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", small]).returncode == 0:
        try:
            directory = os.path.join(small, "rec")
            summary = os.path.join(env.tmp, "small.json")
            p = env.run(base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                                           "--read", big, "--record-dir", directory, "--interval",
                                           "60", "--record-rotate", "60", "--summary", summary], check=False)
            with open(summary) as f:
                counted = json.load(f)["/darkscope/stats"]["packets"]
            line = final_line(p.stdout + p.stderr)
            if p.returncode != 0 or counted != big_truth["packets"]:
                errors.append("full disk: exit %d, counted %d of %d" % (p.returncode, counted,
                                                                        big_truth["packets"]))
            if line and (line["disk_full"] == 0 or line["recorded"] + line["dropped"] != counted):
                errors.append("full disk: %s, counted %d" % (line, counted))
            readable = sum(tshark_count(f) for f in record_files(directory))
            if line and readable != line["recorded"]:
                errors.append("full disk: %d packets readable, %d recorded" % (readable,
                                                                               line["recorded"]))
        finally:
            subprocess.run(["umount", small])

    # 6. Live: counted == truth, and recorded + record_dropped == counted.
    directory = os.path.join(env.tmp, "live")
    proc = env.start(base_args() + [
        "--config", os.path.join(env.src, "conf", "demo.conf"), "--port", "net_pcap0,rx_pcap=" + pcap,
        "--interval", "1", "--record-rotate", "1", "--link-wait", "0", "--record-dir", directory])
    h.wait_socket(env.prefix, proc)
    stats = h.wait_packets(env.prefix, truth["packets"], timeout=90)
    rec = {}
    deadline = time.time() + 30
    while time.time() < deadline:
        rec = h.telemetry(env.prefix, "/darkscope/record")
        if rec.get("packets_recorded", 0) + rec.get("record_dropped", 0) == stats.get("packets"):
            break
        time.sleep(0.5)
    if stats.get("packets") != truth["packets"]:
        errors.append("live: counted %s, truth %d" % (stats.get("packets"), truth["packets"]))
    if rec.get("enabled") != 1 or rec["packets_recorded"] + rec["record_dropped"] != stats["packets"]:
        errors.append("live: /darkscope/record %s, counted %s" % (rec, stats.get("packets")))
    # Event captures are on by default: the writer holds the workers' last packets for them.
    if rec.get("event_captures") != 1 or rec.get("pretrigger_bytes", 0) == 0:
        errors.append("live: /darkscope/record %s: no pre-trigger held for event captures" % rec)
    rc = h.stop(proc)
    out = proc.stdout.read() if proc.stdout and not proc.stdout.closed else ""
    readable = sum(tshark_count(f) for f in record_files(directory))
    if rc != 0 or readable != rec.get("packets_recorded"):
        errors.append("live: exit %d, %d packets in the files, %s recorded" % (
            rc, readable, rec.get("packets_recorded")))

    # 7. kill -9 while writing: every complete file reads whole; the one in progress is `.part`.
    directory = os.path.join(env.tmp, "killed")
    proc = env.start(base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                                         "--read", big, "--interval", "60", "--record-rotate", "60",
                                         "--record-dir", directory])
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(record_files(directory)) < 3:
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        complete = record_files(directory)
        for f in complete:
            packets = h.read_recorded(f, errors)
            start = period_of(os.path.basename(f)) * 1_000_000_000
            want = sorted(p for p in h.read_pcap(big)[2] if start <= p[0] < start + 60_000_000_000)
            if sorted(packets) != want:
                errors.append("kill -9: %s holds %d packets, want %d" % (f, len(packets), len(want)))
        print("kill -9 left %d complete files and %s" % (
            len(complete), [os.path.basename(f) for f in glob.glob(os.path.join(directory, "*.part"))]))
    else:
        print("kill -9: the run ended before it could be killed (exit %s); not tested" % proc.returncode)

    h.no_errors(errors)
