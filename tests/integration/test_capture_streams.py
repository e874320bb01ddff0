"""--read of streams and compressed captures. A named FIFO and /dev/stdin fed by a pipe are
refused at once with exit 2 and a message saying what to do (a capture is read twice, first to
put the files in time order), instead of hanging or answering "unknown file format". A capture
compressed with gzip, zstd, xz or bzip2 (pcap, and pcapng as tshark's editcap writes it) is read
as it is: its summary equals the generator's truth, as the uncompressed file's does; a damaged
compressed file is counted as far as it goes and said to be damaged. A pcapng whose interfaces
differ in link type and snap length (libpcap refuses it) is read whole."""
import bz2
import gzip
import lzma
import os
import shutil
import subprocess

import dsharness as h
import pytest


def compress(src, kind):
    """src compressed with Python's own codecs (gzip, xz, bzip2) or the zstd tool."""
    dst = "%s.%s" % (src, {"gzip": "gz", "zstd": "zst", "xz": "xz", "bzip2": "bz2"}[kind])
    if kind == "zstd":
        zstd = shutil.which("zstd")
        if zstd is None:
            pytest.skip("zstd (Debian's zstd package) is not installed")
        subprocess.run([zstd, "-q", "-f", src, "-o", dst], check=True)
        return dst
    opener = {"gzip": gzip.open, "xz": lzma.open, "bzip2": bz2.open}[kind]
    with open(src, "rb") as f, opener(dst, "wb") as out:
        shutil.copyfileobj(f, out)
    return dst


@pytest.fixture(scope="module")
def capture(env):
    return env.generate("stream", "--seed", "4", "--packets", "3000", "--profile", "demo")


def read_summary(env, path, name):
    summary = os.path.join(env.tmp, name + ".json")
    env.run(env.base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                               "--read", path, "--summary", summary], timeout=300)
    return env.summary(summary)


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])
def test_compressed_pcap_read_as_it_is(env, capture, kind):
    pcap, truth = capture
    s = read_summary(env, compress(pcap, kind), "pcap-" + kind)
    h.no_errors(h.compare_stats(s["/darkscope/stats"], truth, "--read pcap." + kind) +
                h.compare_top_ports(s["/darkscope/top/ports,1000"], truth["services"],
                                    "--read pcap." + kind))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_compressed_pcapng_read_as_it_is(env, capture, kind):
    pcap, truth = capture
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (Debian's tshark package) is not installed")
    pcapng = os.path.join(env.tmp, "stream.pcapng")
    if not os.path.exists(pcapng):
        subprocess.run([editcap, "-F", "pcapng", pcap, pcapng], check=True)
    s = read_summary(env, compress(pcapng, kind), "pcapng-" + kind)
    h.no_errors(h.compare_stats(s["/darkscope/stats"], truth, "--read pcapng." + kind))


def test_damaged_compressed_file_is_said_to_be(env, capture):
    pcap, truth = capture
    whole = compress(pcap, "gzip")
    cut = os.path.join(env.tmp, "cut.pcap.gz")
    with open(whole, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[:len(data) // 2])
    summary = os.path.join(env.tmp, "cut.json")
    p = env.run(env.base_args() + ["--read", cut, "--summary", summary], check=False,
                timeout=300)
    counted = env.summary(summary)["/darkscope/stats"]["packets"] if os.path.exists(summary) \
        else None
    assert p.returncode != 0 and cut in p.stderr and counted is not None and \
        0 < counted < truth["packets"], \
        "a gzip capture cut in half: exit %d, counted %s of %d, stderr %r (want a non-zero " \
        "exit naming the file, and the packets before the cut counted)" % (
            p.returncode, counted, truth["packets"], p.stderr.strip()[-300:])


def test_streams_refused(env, capture):
    errors = []
    pcap, _ = capture
    fifo = os.path.join(env.tmp, "capture.fifo")
    os.mkfifo(fifo)
    try:
        p = env.run(env.base_args() + ["--read", fifo], check=False, timeout=120)
        if p.returncode != 2 or "not a regular file" not in p.stderr or fifo not in p.stderr:
            errors.append("--read %s: exit %d, stderr %r (want 2 and 'not a regular file')" % (
                fifo, p.returncode, p.stderr.strip()[-300:]))
    except subprocess.TimeoutExpired:
        errors.append("--read %s: still running after 120 s" % fifo)

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


def pcapng_blocks(path):
    """(type, body) of each block of a little-endian pcapng file (as editcap writes it here)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    at, blocks = 0, []
    while at < len(data):
        kind, total = struct.unpack_from("<II", data, at)
        blocks.append((kind, data[at + 8:at + total - 4]))
        at += total
    return blocks


def block(kind, body):
    import struct
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


@pytest.mark.parametrize("layout", ["interfaces first", "second interface after packets"])
def test_pcapng_with_mixed_link_types(env, capture, layout):
    """A pcapng section with an Ethernet interface and a raw-IP one of another snap length
    (libpcap refuses it; tshark reads it): every packet of both is counted, as both truths say.
    Built here from two generated captures converted by editcap: mergecap's layout (both
    interfaces first) and one whose second interface comes after the first one's packets
    (libpcap has handed those over when it gives up)."""
    import struct
    editcap, mergecap = shutil.which("editcap"), shutil.which("mergecap")
    if editcap is None or mergecap is None:
        pytest.skip("editcap and mergecap (Debian's tshark package) are not installed")
    eth, eth_truth = capture
    raw, raw_truth = env.generate("raw", "--seed", "5", "--packets", "1500", "--profile", "demo",
                                  "--linktype", "raw")
    raw_cut = os.path.join(env.tmp, "raw1000.pcap")
    subprocess.run([editcap, "-s", "1000", raw, raw_cut], check=True)
    mixed = os.path.join(env.tmp, "mixed-%s.pcapng" % layout.split()[0])
    if layout == "interfaces first":
        subprocess.run([mergecap, "-F", "pcapng", "-w", mixed, eth, raw_cut], check=True)
    else:
        parts = []
        for src, iface in ((eth, 0), (raw_cut, 1)):
            ng = os.path.join(env.tmp, "part%d.pcapng" % iface)
            subprocess.run([editcap, "-F", "pcapng", src, ng], check=True)
            for kind, body in pcapng_blocks(ng):
                if kind == 0x0A0D0D0A and iface == 1:
                    continue  # one section: the second file's header goes
                if kind == 6:  # an enhanced packet block: renumber its interface
                    body = struct.pack("<I", iface) + body[4:]
                parts.append(block(kind, body))
        with open(mixed, "wb") as f:
            f.write(b"".join(parts))
    summary = os.path.join(env.tmp, "mixed.json")
    env.run(env.base_args() + ["--config", os.path.join(env.src, "conf", "demo.conf"),
                               "--read", mixed, "--summary", summary], timeout=300)
    stats = env.summary(summary)["/darkscope/stats"]
    both = {k: eth_truth.get(k, 0) + raw_truth.get(k, 0) for k in h.STAT_KEYS
            if k in eth_truth or k in raw_truth}
    h.no_errors(h.compare_stats(stats, both, "--read %s (%s)" % (mixed, layout)))
