#!/bin/sh
# Builds fuzz_decode with clang + libFuzzer + ASan/UBSan, seeds it with one file per corpus
# packet (up to 50 per capture), runs it for a bounded time and fails on any finding.
#   tests/fuzz/run-fuzz.sh [SECONDS]     (default 60; run from anywhere)
# Environment: FUZZ_BUILD_DIR (default build-fuzz), CORPUS_DIR (default ../shared/corpus/pcaps).
set -eu
seconds="${1:-60}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$repo/build-fuzz}"
corpus="${CORPUS_DIR:-$repo/../shared/corpus/pcaps}"

if [ ! -f "$build/build.ninja" ]; then
    # tests=true: the fuzz target lives in tests/fuzz; only that target is built.
    CC=clang CXX=clang++ meson setup "$build" "$repo" -Dfuzz=true -Dtests=true \
        -Dbenchmarks=false -Db_sanitize=address,undefined -Db_lundef=false \
        -Dcpp_args=-fsanitize=fuzzer-no-link \
        -Dbuildtype=debugoptimized
fi
ninja -C "$build" -j2 tests/fuzz/fuzz_decode

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Findings outlive the run (beside the fuzz build), so a crash seen in CI can be replayed:
#   $build/tests/fuzz/fuzz_decode $build/fuzz-findings/crash-...
# libFuzzer also prints its seed ("INFO: Seed: N"; -seed=N repeats the run).
findings="$build/fuzz-findings"
rm -rf "$findings"
mkdir -p "$work/seeds" "$findings"
if [ -f "$corpus/MANIFEST.tsv" ]; then
    # The seed extractor is a plain (non-fuzzer) program; build it beside the fuzz target.
    clang++ -std=c++20 -O1 -I"$repo/lib/decode/include" -I"$repo/lib/common/include" -I"$repo/tests/decode" \
        "$repo/tests/fuzz/seed_extract.cpp" "$repo/lib/decode/decode.cpp" -lpcap \
        -o "$work/seed_extract"
    "$work/seed_extract" "$corpus" "$work/seeds" 50
else
    echo "no corpus at $corpus: fuzzing from an empty seed set"
fi

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
status=0
"$build/tests/fuzz/fuzz_decode" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$findings/" -print_final_stats=1 "$work/seeds" || status=$?
if [ "$status" != 0 ] || [ -n "$(ls -A "$findings")" ]; then
    echo "fuzz_decode failed (exit $status); crashing inputs kept in $findings:"
    ls -l "$findings"
    exit 1
fi
echo "fuzz_decode: no finding in ${seconds}s"
