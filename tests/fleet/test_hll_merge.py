"""scripts/darkscope_hll.py (what darkscope-report --fleet merges aggregates-only sketches with)
against darkscope's own sketches: tests/fleet/sketch_writer serializes sketches with
BasicHyperLogLog and counts their union in C++ (merge, fold_from, Ertl's estimator); the Python
union of the same bytes must give the same count, exact while every sketch is sparse, and the
standard error of the union's precision. The hash of a source address in Python (what a tuple's
source adds to a union) is darkscope's."""
import ipaddress
import json
import subprocess

import darkscope_hll


def test_python_union_equals_cpp(request):
    writer = request.config.getoption("sketch_writer")
    assert writer, "--sketch-writer PATH is needed"
    out = subprocess.run([writer], check=True,
                         capture_output=True, text=True).stdout
    cases = [json.loads(line) for line in out.splitlines()]
    hashes = cases.pop()
    assert len(cases) == 5 and hashes["name"] == "hashes"
    for number, want in hashes["v4"]:
        assert darkscope_hll.source_hash(str(ipaddress.IPv4Address(number))) == int(want)
    for packed, want in hashes["v6"]:
        text = str(ipaddress.IPv6Address(bytes.fromhex(packed)))
        assert darkscope_hll.source_hash(text) == int(want), text
    for case in cases:
        union = darkscope_hll.Union()
        for text in case["sketches"]:
            union.add(darkscope_hll.decode(bytes.fromhex(text)))
        count, error = union.count()
        print("%s: C++ %d, Python %d, error %.4f" % (case["name"], case["union"], count, error))
        assert count == case["union"], case["name"]
        if case["name"] == "sparse overlap":
            assert union.exact() and count == 1000 and error == 0
        else:
            assert not union.exact()
            want = {"dense overlap": 14, "mixed precisions": 14, "degraded": 8,
                    "precise alone": 16}[case["name"]]
            assert union.precision() == want
            assert error == 1.04 / 2 ** (want / 2)


def test_fleet_text_form():
    """The form the `sketches` table holds: zlib, then base64."""
    import base64
    import zlib
    raw = b"DH\x01\x0e\x00" + (2).to_bytes(4, "little") + (5).to_bytes(8, "little") + \
        (9).to_bytes(8, "little")
    precision, hashes = darkscope_hll.decode_text(base64.b64encode(zlib.compress(raw)).decode())
    assert (precision, hashes) == (14, {5, 9})
    for bad in ("not base64!", base64.b64encode(b"DH\x01\x0e\x00").decode()):
        try:
            darkscope_hll.decode_text(bad)
        except darkscope_hll.SketchError:
            continue
        raise AssertionError("decoded %r" % bad)
