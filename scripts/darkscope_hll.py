"""darkscope's HyperLogLog sketches (lib/metrics/include/darkscope/hll.hpp) read and merged in
Python: what the fleet's aggregates-only mode ships (docs/fleet.md, the `sketches` table), merged
across appliances and intervals by darkscope-report --fleet.

A serialized sketch is "DH", version 1, the precision P, the mode (0 sparse, 1 dense), then
(sparse) a u32 count and the sorted u64 hashes or (dense) the 2^P one-byte registers, all little
endian; the fleet stores it deflated (zlib) and in base64.

The union of sketches is exact while every one is sparse (the union of their hashes: exact up to
collisions of 64-bit hashes, none for IPv4 sources, whose hash is a bijection). Once one is dense,
the union is a dense sketch of the lowest precision among the dense ones: the registers of more
precise sketches are folded down to it (as BasicHyperLogLog::fold_from does), the sparse hashes
added, the registers merged by element-wise maximum, and the count is Ertl's improved estimator
(hll.cpp), with a relative standard error of 1.04 / sqrt(2^P). Standard library only.
"""

import base64
import ipaddress
import math
import struct
import zlib

MASK64 = 0xFFFFFFFFFFFFFFFF
# darkscope/hash.hpp's seeds: IPv4 and IPv6 sources hash as darkscope hashes them into its
# sketches, so that source addresses (the fleet's tuples) and sketches merge.
SEED_V4 = 0x9e3779b97f4a7c15
SEED_V6 = 0xc2b2ae3d27d4eb4f


def mix64(x):
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & MASK64
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & MASK64
    return x ^ (x >> 31)


def source_hash(text):
    """The 64-bit hash darkscope adds to its sketches for a source address (hash_address):
    IPv4 mix64(address ^ seed), IPv6 mix64(mix64(high ^ seed) ^ low) of the address's two
    halves read as darkscope reads them (little-endian words of the network-order bytes)."""
    address = ipaddress.ip_address(text)
    if address.version == 4:
        return mix64(int(address) ^ SEED_V4)
    packed = address.packed
    high = int.from_bytes(packed[:8], "little")
    low = int.from_bytes(packed[8:], "little")
    return mix64(mix64(high ^ SEED_V6) ^ low)


class SketchError(ValueError):
    """Bytes that are not one serialized sketch."""


def standard_error(precision):
    return 1.04 / math.sqrt(1 << precision)


def _rank(h, precision):
    """(register index, rank) of a 64-bit hash, as BasicHyperLogLog::add_dense computes them."""
    index = h >> (64 - precision)
    rest = ((h << precision) & 0xFFFFFFFFFFFFFFFF) | (1 << (precision - 1))
    return index, 64 - rest.bit_length() + 1


def _fold(registers, precise, precision):
    """Registers of precision `precise` folded down to `precision` (fold_from)."""
    dropped = precise - precision
    low_mask = (1 << dropped) - 1
    out = bytearray(1 << precision)
    for i, r in enumerate(registers):
        if r == 0:
            continue
        low = i & low_mask
        rank = dropped - low.bit_length() + 1 if low else dropped + r
        j = i >> dropped
        if rank > out[j]:
            out[j] = rank
    return out


def _sigma(x):
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x):
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) * (1.0 - x) * y
        if z == previous:
            return z / 3.0


def ertl_estimate(registers, precision):
    """Ertl's improved raw estimator (hll.cpp's ertl_estimate) over dense registers."""
    q = 64 - precision
    m = float(1 << precision)
    histogram = [0] * (q + 2)
    for r in registers:
        histogram[r] += 1
    z = m * _tau(1.0 - histogram[q + 1] / m)
    for k in range(q, 0, -1):
        z = 0.5 * (z + histogram[k])
    z += m * _sigma(histogram[0] / m)
    return 0.721347520444481703680 * m * m / z


def decode(data):
    """(precision, hashes) of a sparse sketch or (precision, registers) of a dense one: a set
    of ints, or bytes."""
    if len(data) < 5 or data[:3] != b"DH\x01" or not 4 <= data[3] <= 16 or data[4] > 1:
        raise SketchError("not a darkscope sketch")
    precision = data[3]
    body = data[5:]
    if data[4] == 1:
        if len(body) != 1 << precision:
            raise SketchError("dense sketch of %d registers, want %d" % (len(body),
                                                                       1 << precision))
        return precision, bytes(body)
    if len(body) < 4:
        raise SketchError("sparse sketch without its count")
    (count,) = struct.unpack_from("<I", body)
    if len(body) != 4 + 8 * count:
        raise SketchError("sparse sketch of %d bytes for %d hashes" % (len(body), count))
    return precision, set(struct.unpack_from("<%dQ" % count, body, 4))


def decode_text(text):
    """A sketch as the fleet's `sketches` table holds it (zlib, then base64)."""
    try:
        return decode(zlib.decompress(base64.b64decode(text, validate=True)))
    except (ValueError, zlib.error) as e:
        raise SketchError(str(e)) from None


class Union:
    """The union of any number of sketches, of any precisions."""

    def __init__(self):
        self.hashes = set()
        self.dense = []  # [(precision, registers)]
        self.sketches = 0

    def add_sources(self, addresses):
        """Source addresses (text) seen exactly, added as their hashes."""
        self.hashes.update(source_hash(a) for a in addresses)
        self.sketches += 1

    def add(self, sketch):
        precision, content = sketch
        self.sketches += 1
        if isinstance(content, set):
            self.hashes |= content
        else:
            self.dense.append((precision, content))

    def exact(self):
        return not self.dense

    def precision(self):
        """The union's precision once dense (None while exact)."""
        return min(p for p, _ in self.dense) if self.dense else None

    def count(self):
        """(count, relative standard error): the exact union's size (error 0) while every
        sketch was sparse, else the estimate of the merged registers."""
        if not self.dense:
            return len(self.hashes), 0.0
        precision = self.precision()
        merged = bytearray(1 << precision)
        for p, registers in self.dense:
            if p != precision:
                registers = _fold(registers, p, precision)
            merged = bytearray(map(max, merged, registers))
        for h in self.hashes:
            i, rank = _rank(h, precision)
            if rank > merged[i]:
                merged[i] = rank
        return int(ertl_estimate(merged, precision) + 0.5), standard_error(precision)
