#!/usr/bin/python3
"""Deal a pcap's packets round robin into N files, one per receive queue of a scaling run.

    split_pcap.py IN.pcap N OUT_PREFIX     writes OUT_PREFIX.0.pcap .. OUT_PREFIX.{N-1}.pcap

bench.sh --workers N replays each file on its own net_pcap port, one per worker: the stand-in
for a NIC's RSS spreading a port's packets over N queues. Round robin, not a hash of the
addresses: the bench mix is uniform over its sources, so both give every worker the same mix,
and round robin needs no parsing. Standard library only; classic pcap (either byte order).
"""

import struct
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    src, n, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        n = int(n)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        sys.exit(f"split_pcap.py: N '{sys.argv[2]}': must be 1..64")
    with open(src, "rb") as f:
        data = f.read()
    if len(data) < 24:
        sys.exit(f"split_pcap.py: {src}: too short for a pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        sys.exit(f"split_pcap.py: {src}: not a classic pcap file (magic {magic.hex()})")
    record = struct.Struct(order + "IIII")
    outs = [bytearray(data[:24]) for _ in range(n)]
    pos, count = 24, 0
    while pos < len(data):
        if pos + 16 > len(data):
            sys.exit(f"split_pcap.py: {src}: truncated record header at byte {pos}")
        incl = record.unpack_from(data, pos)[2]
        end = pos + 16 + incl
        if end > len(data):
            sys.exit(f"split_pcap.py: {src}: packet {count + 1} truncated at byte {pos}")
        outs[count % n] += data[pos:end]
        pos, count = end, count + 1
    for i, out in enumerate(outs):
        with open(f"{prefix}.{i}.pcap", "wb") as f:
            f.write(out)
    print(f"split_pcap.py: {count} packets of {src} dealt into {n} files {prefix}.*.pcap",
          file=sys.stderr)


if __name__ == "__main__":
    main()
