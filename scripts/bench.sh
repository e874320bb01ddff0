#!/bin/bash
# darkscope benchmark: one worker core, every feature on, side by side with DPDK's own
# floor (dpdk-testpmd rxonly) on the same net_pcap infinite_rx replay, same capture, same core.
#
#   scripts/bench.sh                 full run (~6 min): 1.6M-packet capture, 5 alternating rounds
#   scripts/bench.sh --quick         CI smoke run (~20 s): small capture, 1 s per command, no speed
#                                    assertion; the geo databases only with --geo
#   scripts/bench.sh --workers 2     ... plus scaling rounds: two workers against testpmd on two
#                                    forwarding cores
#   scripts/bench.sh --help          every option
#
# What it prints (and writes as JSON with --json FILE): Mpps median/min/max, ns per packet and
# the darkscope/testpmd ratio; the cost by pipeline stage (--pipeline); offline --read Mpps from
# tmpfs; DPDK heap and process memory; the machine and its load; with --workers N the same for
# N workers and the speed-up over one; the analyst section (scripts/bench/analyst.py): --read
# start-up, whole process against tracereport and tcpdump, --read Mpps with 1 and 2 workers and
# the cost per interval of a long sparse capture; the fleet section (scripts/bench/fleet.py):
# the ClickHouse export's rows per interval, spool bytes per million tuples, tuples per second
# delivered and --read Mpps with the export off and on. See docs/performance.md, docs/fleet.md.
#
# Rates are steady state: scripts/bench/rate.py reads the packet counters over the telemetry
# socket twice, DURATION apart, after start-up (database loading, capture preload) and WARMUP.
# It also reports the CPU share the polling thread got in that window: on a shared machine
# other processes steal the worker's CPU, and "Mpps per CPU-second" is then the fairer figure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

usage() {
    cat <<EOF
Usage: scripts/bench.sh [options]
  --quick               CI mode: small capture, 1 round, 1 s per command, no geo unless --geo
  --darkscope PATH      darkscope binary [\$DARKSCOPE or build/app/darkscope/darkscope]
  --baseline PATH       another darkscope binary (for example the previous commit's build):
                        each round also runs it, right after darkscope, and the report gives
                        the per-round ratio darkscope/baseline of the full path [none]
  --testpmd PATH        dpdk-testpmd [\$TESTPMD or dpdk-testpmd on PATH]; absent = skipped
  --packets N           capture packets [1600000; quick 20000]
  --sources N           distinct IPv4 scanner sources [1000000; quick 10000]
  --seed N              generator seed [1]
  --runs N              alternating testpmd/darkscope rounds [5; quick 1]
  --stage-runs N        rounds of the per-stage breakdown [3; quick 1]
  --duration S          measuring window per command [5; quick 1]
  --warmup S            after the first packets, before measuring [2; quick 0.5]
  --geo / --no-geo      load the default databases from --geo-dir [full: on; quick: off]
  --geo-dir DIR         [/var/lib/darkscope/geo] (installed by scripts/fetch-geo.sh)
  --memory-mode M       auto, huge or nohuge [auto: hugepages when enough are free;
                        quick: nohuge, robust on shared CI machines]
  --cache DIR           captures are generated once per option set and kept here
                        [\$DARKSCOPE_BENCH_CACHE or \${XDG_CACHE_HOME:-~/.cache}/darkscope-bench]
  --json FILE           also write every measurement and the summary as JSON
  --no-stages           skip the per-stage breakdown
  --no-offline          skip the offline (--read) measurement
  --no-record           skip the recording section (worker Mpps with recording off, everything
                        with event captures, a 1% filter without them; the writer's MB/s)
  --record-dir DIR      where the recording section writes [a temporary directory under /tmp]
  --no-analyst          skip the analyst section (scripts/bench/analyst.py: --read start-up,
                        whole process against tracereport and tcpdump, sparse captures)
  --no-fleet            skip the fleet section (scripts/bench/fleet.py: the ClickHouse export on
                        the benchmark capture, with a server of its own on loopback)
  --wait-idle S         before measuring, wait up to S seconds for the 1-min load to drop below 1
  --darkscope-arg ARG   one more darkscope argument for every darkscope run (repeatable), e.g.
                        --darkscope-arg --precise-sketches=0 (what precise sketches cost)
  --memory-probe PATH   memory_latency, which measures the worker CPU's load latency (L2, L3,
                        DRAM) first: rates of different machines compare only with it
                        [build/tests/tools/memory_latency beside --darkscope's build]
  --no-memory-probe     skip that measurement
  --workers N           also run the scaling rounds: darkscope with N workers against testpmd
                        with N forwarding cores, the capture dealt round robin over N net_pcap
                        ports (one per worker, as RSS would spread a port over N queues). On a
                        machine with only N CPUs the stats core and testpmd's main lcore
                        time-share a worker's CPU (--share-cpus) [1: no scaling rounds]
EOF
}

quick=0
darkscope=${DARKSCOPE:-}
baseline=
testpmd=${TESTPMD:-}
packets= sources= runs= stage_runs= duration= warmup= geo=
seed=1
geo_dir=/var/lib/darkscope/geo
memory_mode=
cache=${DARKSCOPE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/darkscope-bench}
json_out=
do_stages=1
do_offline=1
do_record=1
record_dir=
do_analyst=1
do_fleet=1
wait_idle=0
extra_args=()
memory_probe=
do_memory_probe=1
scale_workers=1
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --darkscope) darkscope=$2; shift ;;
        --baseline) baseline=$2; shift ;;
        --testpmd) testpmd=$2; shift ;;
        --packets) packets=$2; shift ;;
        --sources) sources=$2; shift ;;
        --seed) seed=$2; shift ;;
        --runs) runs=$2; shift ;;
        --stage-runs) stage_runs=$2; shift ;;
        --duration) duration=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --geo) geo=1 ;;
        --no-geo) geo=0 ;;
        --geo-dir) geo_dir=$2; shift ;;
        --memory-mode) memory_mode=$2; shift ;;
        --cache) cache=$2; shift ;;
        --json) json_out=$2; shift ;;
        --no-stages) do_stages=0 ;;
        --no-offline) do_offline=0 ;;
        --no-record) do_record=0 ;;
        --record-dir) record_dir=$2; shift ;;
        --no-analyst) do_analyst=0 ;;
        --no-fleet) do_fleet=0 ;;
        --wait-idle) wait_idle=$2; shift ;;
        --darkscope-arg) extra_args+=("$2"); shift ;;
        --memory-probe) memory_probe=$2; shift ;;
        --no-memory-probe) do_memory_probe=0 ;;
        --workers) scale_workers=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    : "${packets:=20000}" "${sources:=10000}" "${runs:=1}" "${stage_runs:=1}"
    : "${duration:=1}" "${warmup:=0.5}" "${geo:=0}" "${memory_mode:=nohuge}"
else
    : "${packets:=1600000}" "${sources:=1000000}" "${runs:=5}" "${stage_runs:=3}"
    : "${duration:=5}" "${warmup:=2}" "${geo:=1}" "${memory_mode:=auto}"
fi
case $scale_workers in [1-9] | [1-5][0-9] | 6[0-4]) ;; *) echo "bench.sh: --workers '$scale_workers': must be 1..64" >&2; exit 2 ;; esac
case $memory_mode in auto | huge | nohuge) ;; *) echo "bench.sh: --memory-mode auto|huge|nohuge" >&2; exit 2 ;; esac

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

if [ -z "$darkscope" ]; then
    for b in "$root/build/app/darkscope/darkscope" "$root"/build*/app/darkscope/darkscope; do
        if [ -x "$b" ]; then darkscope=$b; break; fi
    done
fi
[ -n "$darkscope" ] && [ -x "$darkscope" ] || die "no darkscope binary (build it, or --darkscope PATH)"
[ -z "$baseline" ] || [ -x "$baseline" ] || die "--baseline $baseline: not an executable"
[ -n "$testpmd" ] || testpmd=$(command -v dpdk-testpmd || true)
if [ -n "$testpmd" ] && [ ! -x "$testpmd" ]; then testpmd=; fi
[ -n "$testpmd" ] || say "dpdk-testpmd not found: DPDK's floor and the ratio are skipped (apt-get install dpdk)"
py=/usr/bin/python3
gen="$root/scripts/darkscope-gen"

work=$(mktemp -d /tmp/darkscope-bench.XXXXXX)
results="$work/results.jsonl"
: >"$results"
child=
prefixes=()
cleanup() {
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -INT "$child" 2>/dev/null || true
        sleep 1
        kill -KILL "$child" 2>/dev/null || true
    fi
    for p in "${prefixes[@]}"; do
        rm -rf "/var/run/dpdk/$p"
        rm -f /dev/hugepages/"$p"map_* 2>/dev/null || true
    done
    rm -f "/dev/shm/darkscope-bench-$$"-[123].pcap
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the capture, generated once per option set -------------------------------------------
geo_country="$geo_dir/geo-whois-asn-country.mmdb"
geo_asn4="$geo_dir/asn-ipv4.csv"
geo_asn6="$geo_dir/asn-ipv6.csv"
geo_args=()
geo_note="off"
if [ "$geo" = 1 ]; then
    if [ -s "$geo_country" ] && [ -s "$geo_asn4" ]; then
        geo_args=(--geo-country "$geo_country" --geo-asn "$geo_asn4")
        [ -s "$geo_asn6" ] && geo_args+=(--geo-asn "$geo_asn6")
        geo_note="country+ASN from $geo_dir"
    else
        geo_note="off: no databases in $geo_dir (run scripts/fetch-geo.sh)"
        say "geo databases not found in $geo_dir: running WITHOUT country/ASN attribution"
    fi
elif [ "$quick" = 1 ]; then
    geo_note="off (quick mode; --geo loads them)"
fi

mkdir -p "$cache"
# Sources over announced address space: every 8th range of the ASN database (sources then
# resolve to real ASNs and countries all over the table); the built-in generator space else.
nets_args=()
nets_key=builtin
if [ -s "$geo_asn4" ] && [ "$quick" = 0 ]; then
    nets_key=$(cksum <"$geo_asn4" | cut -d' ' -f1)
    nets="$cache/networks-$nets_key.csv"
    if [ ! -s "$nets" ]; then
        "$py" "$here/bench/networks.py" "$geo_asn4" "$nets.tmp" >&2
        mv "$nets.tmp" "$nets"
    fi
    nets_args=(--source-networks "$nets")
fi
gen_key=$(cksum <"$gen" | cut -d' ' -f1)
capture="$cache/bench-p$packets-s$sources-seed$seed-nets$nets_key-gen$gen_key.pcap"
if [ ! -s "$capture" ]; then
    say "generating $capture (once; the generator does ~50-100k packets/s)"
    "$py" "$gen" --profile bench --seed "$seed" --packets "$packets" --sources "$sources" \
        "${nets_args[@]}" --out "$capture.tmp" --truth "$capture.truth.json.tmp" >&2
    mv "$capture.truth.json.tmp" "$capture.truth.json"
    mv "$capture.tmp" "$capture"
else
    say "reusing $capture"
fi
capture_sources=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sources"])' \
    "$capture.truth.json" 2>/dev/null || echo "?")

# --- memory: net_pcap infinite_rx preloads the whole capture, one mbuf per packet ------------
# (drivers/net/pcap eth_rx_queue_setup: every packet is copied into an mbuf of the queue's pool
# and kept in a ring; each rx burst then allocates fresh mbufs and copies into them.) So the
# pool must hold the capture plus the mbufs in flight, and both processes get the same pool.
mbufs=$((packets + 8192 * scale_workers))
# An mbuf is 2368 bytes (elt 2304 = 128 mbuf + 2176 data room, + 64 mempool header, as
# /mempool/info says). On 4 KiB pages (--no-huge) the mempool puts one object per page (objects
# never straddle a page), so each mbuf then takes 4096 bytes.
mbuf_bytes=2368
huge_free_mb=$(awk '/HugePages_Free/ {f=$2} /Hugepagesize/ {s=$2} END {print int(f*s/1024)}' /proc/meminfo)
pool_mb=$(((mbufs * mbuf_bytes >> 20) + 64))
if [ ${#geo_args[@]} -gt 0 ]; then tables_mb=1792; else tables_mb=768; fi
# Each worker beyond the first adds its own counter and tuple tables (411 MiB at the defaults).
extra_workers_mb=$((512 * (scale_workers - 1)))
ds_memory_mb=$((pool_mb + tables_mb))
tp_memory_mb=$((pool_mb + 256))
if [ "$memory_mode" = auto ]; then
    if [ "$huge_free_mb" -ge $((ds_memory_mb + extra_workers_mb + 64)) ]; then memory_mode=huge; else memory_mode=nohuge; fi
fi
if [ "$memory_mode" = huge ]; then
    memory_note="hugepages (${huge_free_mb} MiB free)"
    ds_mem_args=(--memory "$ds_memory_mb")
    tp_mem_args=(-m "$tp_memory_mb")
    no_huge=false
else
    pool_mb=$(((mbufs * 4096 >> 20) + 64))
    ds_memory_mb=$((pool_mb + tables_mb))
    tp_memory_mb=$((pool_mb + 256))
    memory_note="4 KiB pages (--no-huge): ${ds_memory_mb} MiB needed, ${huge_free_mb} MiB of hugepages free"
    ds_mem_args=(--memory "$ds_memory_mb")
    tp_mem_args=(--no-huge -m "$tp_memory_mb")
    no_huge=true
fi
avail_mb=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
if [ "$memory_mode" = nohuge ] && [ "$avail_mb" -lt $((ds_memory_mb + extra_workers_mb + 512)) ]; then
    die "need ~${ds_memory_mb} MiB of memory for the preloaded capture, ${avail_mb} MiB available: use --packets smaller"
fi

# Configuration: the generator's default sensors, one worker (the plan puts the stats core on
# one CPU and the worker on the next).
conf="$work/bench.conf"
cat >"$conf" <<EOF
sensor = tokyo-a=203.0.113.0/24
sensor = tokyo-b=198.51.100.0/24
sensor = osaka=192.0.2.0/24,2001:db8:d::/48
interval = 60
workers = 1
no-huge = $no_huge
mbufs = $mbufs
log-level = warning
EOF
worker_cpu=$("$darkscope" --config "$conf" --port "net_pcap0,rx_pcap=$capture" --plan 2>/dev/null |
    awk '$1 == "worker0" {print $3}')
stats_cpu=$("$darkscope" --config "$conf" --port "net_pcap0,rx_pcap=$capture" --plan 2>/dev/null |
    awk '$1 == "stats" {print $3}')
[ -n "$worker_cpu" ] && [ -n "$stats_cpu" ] || die "darkscope --plan gave no worker core"

# --- the worker CPU's memory latency (tests/tools/memory_latency.cpp) ------------------------
memory_probe_json="$work/memory_probe.json"
echo null >"$memory_probe_json"
if [ "$do_memory_probe" = 1 ]; then
    if [ -z "$memory_probe" ]; then
        memory_probe="$(dirname "$(dirname "$(dirname "$darkscope")")")/tests/tools/memory_latency"
    fi
    if [ -x "$memory_probe" ]; then
        if [ "$quick" = 1 ]; then probe_args=(--sizes 2,32 --steps 200000); else probe_args=(); fi
        say "measuring memory latency on CPU $worker_cpu ($memory_probe)"
        taskset -c "$worker_cpu" "$memory_probe" "${probe_args[@]}" >"$memory_probe_json" ||
            die "$memory_probe failed"
    else
        say "no memory probe at $memory_probe (build the tests, or --memory-probe PATH): skipped"
    fi
fi

has_pipeline=0
if "$darkscope" --help 2>/dev/null | grep -q -- '--pipeline'; then has_pipeline=1; fi

# --- runners ---------------------------------------------------------------------------------
wait_for_idle() {
    [ "$wait_idle" != 0 ] || return 0
    local end=$((SECONDS + ${wait_idle%.*}))
    while [ $SECONDS -lt $end ]; do
        awk '{exit !($1 < 1.0)}' /proc/loadavg && return 0
        sleep 5
    done
    say "load still $(cut -d' ' -f1 /proc/loadavg) after ${wait_idle}s: measuring anyway"
}

# finish PID: SIGINT, wait for a clean exit, then SIGKILL (only our own child).
finish() {
    local pid=$1 i
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "process $pid did not stop on SIGINT: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    child=
    return $rc
}

# measure LABEL KIND PREFIX ROUND -- command...: run, read the steady-state rate over the
# $rate_threads polling threads, stop; append JSON.
rate_threads=1
measure() {
    local label=$1 kind=$2 prefix=$3 round=$4
    shift 5
    prefixes+=("$prefix")
    wait_for_idle
    "$@" >"$work/$prefix.log" 2>&1 &
    child=$!
    local out
    if out=$("$py" "$here/bench/rate.py" --prefix "$prefix" --pid "$child" --kind "$kind" \
        --warmup "$warmup" --duration "$duration" --min-packets "$packets" \
        --threads "$rate_threads"); then
        finish "$child" || true
        echo "$out" | "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(label=sys.argv[1], round=int(sys.argv[2])); print(json.dumps(d))' \
            "$label" "$round" >>"$results"
        "$py" -c 'import json,sys; d=json.loads(sys.argv[1]); print("bench: %-22s round %s: %7.3f Mpps  (worker CPU share %.2f, %.3f Mpps per CPU-second, load %.2f)" % (sys.argv[2], sys.argv[3], d["mpps"], d["worker_cpu_share"], d["mpps_per_cpu"] or 0, d["loadavg"][0]))' \
            "$out" "$label" "$round" >&2
    else
        local rc=0
        finish "$child" || rc=$?
        echo "bench: $label failed (exit status $rc); its log:" >&2
        tail -n 30 "$work/$prefix.log" >&2
        return 1
    fi
    rm -rf "/var/run/dpdk/$prefix"
}

# testpmd_rxonly LABEL PREFIX ROUND NB_CORES EAL-ARGS...: rxonly forwarding on the cores and
# vdevs the EAL arguments give, with darkscope's pool size.
testpmd_rxonly() {
    local label=$1 prefix=$2 round=$3 cores=$4
    shift 4
    measure "$label" testpmd "$prefix" "$round" -- \
        "$testpmd" "$@" --file-prefix "$prefix" "${tp_mem_args[@]}" --no-pci \
        --log-level 'pmd.net.pcap:notice' -- \
        --forward-mode=rxonly --nb-cores="$cores" --total-num-mbufs="$mbufs" --stats-period 1
}

# darkscope_live LABEL PREFIX ROUND ARGS...: every feature, the geo databases, --darkscope-arg.
darkscope_live() {
    local label=$1 prefix=$2 round=$3
    shift 3
    measure "$label" darkscope "$prefix" "$round" -- \
        "$darkscope" --file-prefix "$prefix" "$@" "${geo_args[@]}" ${extra_args[@]+"${extra_args[@]}"}
}

run_testpmd() { # round
    testpmd_rxonly testpmd "dsb_tp_$$_$1" "$1" 1 -l "$stats_cpu,$worker_cpu" \
        --main-lcore "$stats_cpu" --vdev "net_pcap0,rx_pcap=$capture,infinite_rx=1"
}

run_darkscope() { # round stage
    local stage_args=()
    if [ "$has_pipeline" = 1 ]; then stage_args=(--pipeline "$2"); fi
    darkscope_live "darkscope-$2" "dsb_ds_$$_$1_$2" "$1" --config "$conf" "${ds_mem_args[@]}" \
        --port "net_pcap0,rx_pcap=$capture,infinite_rx=1" "${stage_args[@]}"
}

run_baseline() { # round: the --baseline binary's full path, as run_darkscope runs darkscope's
    measure baseline-full darkscope "dsb_bl_$$_$1" "$1" -- \
        "$baseline" --file-prefix "dsb_bl_$$_$1" --config "$conf" "${ds_mem_args[@]}" \
        --port "net_pcap0,rx_pcap=$capture,infinite_rx=1" "${geo_args[@]}" \
        ${extra_args[@]+"${extra_args[@]}"}
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "capture: $packets packets, $capture_sources distinct sources; memory: $memory_note; geo: $geo_note"
say "worker on CPU $worker_cpu, stats core on CPU $stats_cpu; load $load_before"

# --- 1. testpmd and darkscope (full), alternating ------------------------------------------
for r in $(seq 1 "$runs"); do
    if [ -n "$testpmd" ]; then run_testpmd "$r"; fi
    run_darkscope "$r" full
    if [ -n "$baseline" ]; then run_baseline "$r"; fi
done

# --- 1b. scaling: N workers against testpmd with N forwarding cores -------------------------
scale_note="not run (--workers 1)"
scale_cpus=()
if [ "$scale_workers" -gt 1 ]; then
    read -r -a cpus <<<"$("$py" -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
    if [ "${#cpus[@]}" -lt "$scale_workers" ]; then
        die "--workers $scale_workers: only ${#cpus[@]} CPU(s) usable here (${cpus[*]})"
    fi
    # Worker CPUs: the one-worker rounds' CPU first, then the others, the stats CPU last (taken
    # only when the machine has no other, and then time-shared).
    scale_cpus=("$worker_cpu")
    for c in "${cpus[@]}"; do
        if [ "$c" != "$worker_cpu" ] && [ "$c" != "$stats_cpu" ]; then scale_cpus+=("$c"); fi
    done
    scale_cpus+=("$stats_cpu")
    scale_cpus=("${scale_cpus[@]:0:$scale_workers}")
    share_args=()
    scale_note="worker CPUs ${scale_cpus[*]}; stats core on CPU $stats_cpu"
    if [ "${scale_cpus[$((scale_workers - 1))]}" = "$stats_cpu" ]; then
        share_args=(--share-cpus)
        scale_note="$scale_note, time-shared with the last worker, as is testpmd's main lcore"
    fi
    split_prefix="${capture%.pcap}.rr$scale_workers"
    if [ ! -s "$split_prefix.$((scale_workers - 1)).pcap" ]; then
        "$py" "$here/bench/split_pcap.py" "$capture" "$scale_workers" "$split_prefix.tmp" ||
            die "could not split $capture"
        for i in $(seq 0 $((scale_workers - 1))); do
            mv "$split_prefix.tmp.$i.pcap" "$split_prefix.$i.pcap"
        done
    fi
    scale_ports=() scale_vdevs=()
    tp_lcores="0@$stats_cpu"
    for i in $(seq 0 $((scale_workers - 1))); do
        scale_ports+=(--port "net_pcap$i,rx_pcap=$split_prefix.$i.pcap,infinite_rx=1")
        scale_vdevs+=(--vdev "net_pcap$i,rx_pcap=$split_prefix.$i.pcap,infinite_rx=1")
        tp_lcores="$tp_lcores,$((i + 1))@${scale_cpus[$i]}"
    done
    scale_conf="$work/bench-scale.conf"
    sed -e '/^workers = /d' "$conf" >"$scale_conf"
    scale_mem=$((ds_memory_mb + extra_workers_mb))
    say "scaling: $scale_workers workers ($scale_note)"
    rate_threads=$scale_workers
    for r in $(seq 1 "$runs"); do
        if [ -n "$testpmd" ]; then
            testpmd_rxonly testpmd-scaled "dsb_tps_$$_$r" "$r" "$scale_workers" \
                --lcores "$tp_lcores" --main-lcore 0 "${scale_vdevs[@]}"
        fi
        darkscope_live darkscope-scaled "dsb_dss_$$_$r" "$r" --config "$scale_conf" \
            --memory "$scale_mem" "${scale_ports[@]}" --cores "$(IFS=,; echo "${scale_cpus[*]}")" \
            --stats-core "$stats_cpu" ${share_args[@]+"${share_args[@]}"}
    done
    rate_threads=1
fi

# --- 2. cost by stage -------------------------------------------------------------------------
stages_note=
if [ "$do_stages" = 1 ]; then
    if [ "$has_pipeline" = 1 ]; then
        for r in $(seq 1 "$stage_runs"); do
            for s in decode classify attribute count; do run_darkscope "$r" "$s"; done
        done
    else
        stages_note="skipped: this darkscope has no --pipeline switch"
        say "per-stage breakdown $stages_note"
    fi
else
    stages_note="skipped (--no-stages)"
fi

# --- 3. offline: --read from tmpfs --------------------------------------------------------
# Start-up (EAL, databases) cancels out: the rate is (3N - N) packets over the difference of
# the wall times of a run reading the capture three times and a run reading it once.
if [ "$do_offline" = 1 ]; then
    # Three copies: darkscope refuses a file given twice (it would be counted twice).
    shm="/dev/shm/darkscope-bench-$$"
    for c in 1 2 3; do cp "$capture" "$shm-$c.pcap"; done
    off_conf="$work/offline.conf"
    sed -e "s/^mbufs = .*/mbufs = 16383/" "$conf" >"$off_conf"
    off_mem=$((tables_mb + 128))
    for r in $(seq 1 "$runs"); do
        for copies in 1 3; do
            files=()
            for c in $(seq 1 "$copies"); do files+=("$shm-$c.pcap"); done
            prefix="dsb_off_$$_${r}_$copies"
            prefixes+=("$prefix")
            wait_for_idle
            t0=$(date +%s.%N)
            if ! "$darkscope" --config "$off_conf" --file-prefix "$prefix" --memory "$off_mem" \
                "${geo_args[@]}" --summary "$work/offline-$copies.json" --read "${files[@]}" \
                >"$work/$prefix.log" 2>&1; then
                tail -n 30 "$work/$prefix.log" >&2
                die "offline run failed"
            fi
            t1=$(date +%s.%N)
            "$py" - "$work/offline-$copies.json" "$t0" "$t1" "$copies" "$r" "$(cut -d' ' -f1 /proc/loadavg)" >>"$results" <<'EOF'
import json, sys
summary, t0, t1, copies, rnd, load = sys.argv[1:]
stats = json.load(open(summary))["/darkscope/stats"]
print(json.dumps({"label": "offline", "copies": int(copies), "round": int(rnd),
                  "packets": int(stats["packets"]), "seconds": float(t1) - float(t0),
                  "ipv4": int(stats.get("ipv4", 0)),
                  "ipv6": int(stats.get("ipv6", 0)),
                  "source_tuples": int(stats.get("source_tuples", 0)),
                  "source_spills": int(stats.get("source_spills", 0)),
                  "loadavg": [float(load)]}))
EOF
            rm -rf "/var/run/dpdk/$prefix"
        done
    done
    rm -f "$shm"-[123].pcap
fi

# --- 4. recording (docs/recording.md): the worker with recording off, everything, 1% -------
# Side by side in each round; the live runs record into a quota so a long run cannot fill the
# disk (packets beyond it are dropped by the writer, after the worker's copy: the worker's cost
# is the same). The writer's MB/s: an offline run recording the whole capture (offline workers
# wait for the writer, so the run's pcapng bytes over its wall time are a lower bound).
if [ "$do_record" = 1 ]; then
    rec_root=${record_dir:-$work/record}
    mkdir -p "$rec_root"
    # The service whose share of the capture is nearest 1% (generator truth).
    one_pct=$("$py" - "$capture.truth.json" <<'EOF'
import json, sys
try:
    t = json.load(open(sys.argv[1]))
    total = t["packets"]
    best = min(((abs(v["packets"] / total - 0.01), k) for k, v in t["services"].items()
                if "/" in k), default=(0, "23/tcp"))[1]
except (OSError, ValueError, KeyError):
    best = "23/tcp"
port, proto = best.split("/")
print("service=%s/%s" % (proto, port))
EOF
)
    say "recording: the 1% filter is $one_pct"
    for r in $(seq 1 "$runs"); do
        darkscope_live "darkscope-record-off" "dsb_ro_$$_$r" "$r" --config "$conf" \
            "${ds_mem_args[@]}" --port "net_pcap0,rx_pcap=$capture,infinite_rx=1"
        darkscope_live "darkscope-record-all" "dsb_ra_$$_$r" "$r" --config "$conf" \
            "${ds_mem_args[@]}" --port "net_pcap0,rx_pcap=$capture,infinite_rx=1" \
            --record-dir "$rec_root/all-$r" --record-quota-mb 512 --record-rotate 3600
        darkscope_live "darkscope-record-1pct" "dsb_rf_$$_$r" "$r" --config "$conf" \
            "${ds_mem_args[@]}" --port "net_pcap0,rx_pcap=$capture,infinite_rx=1" \
            --record-dir "$rec_root/filter-$r" --record-filter "$one_pct" --record-quota-mb 512 \
            --record-rotate 3600 --record-events off
        rm -rf "$rec_root/all-$r" "$rec_root/filter-$r"
    done
    prefix="dsb_rw_$$"
    prefixes+=("$prefix")
    wait_for_idle
    t0=$(date +%s.%N)
    if "$darkscope" --config "$conf" --file-prefix "$prefix" "${ds_mem_args[@]}" \
        --read "$capture" --record-dir "$rec_root/writer" --record-rotate 86400 \
        --interval 60 >"$work/$prefix.log" 2>&1; then
        t1=$(date +%s.%N)
        bytes=$(du -sb "$rec_root/writer" | cut -f1)
        fs=$(df -T "$rec_root" | awk 'NR==2 {print $2}')
        "$py" -c 'import json,sys; b,t0,t1,fs=sys.argv[1:]; print(json.dumps({"label": "record-writer", "bytes": int(b), "seconds": float(t1)-float(t0), "filesystem": fs}))' \
            "$bytes" "$t0" "$t1" "$fs" >>"$results"
    else
        tail -n 30 "$work/$prefix.log" >&2
        say "recording: the writer's offline run failed"
    fi
    rm -rf "$rec_root/writer" "/var/run/dpdk/$prefix"
fi

# --- 5. analyst: --read as an analyst runs it, whole process (printed after the report) ------
analyst_args=(--darkscope "$darkscope" --geo-dir "$geo_dir" --cache "$cache"
    --json "$work/analyst.json")
[ "$quick" = 1 ] && analyst_args+=(--quick)
[ "$geo" = 1 ] || analyst_args+=(--no-geo)
if [ "$do_analyst" = 1 ]; then
    wait_for_idle
    "$py" "$here/bench/analyst.py" "${analyst_args[@]}" >"$work/analyst.txt" ||
        die "analyst section failed"
fi

# --- 6. fleet: the ClickHouse export on the benchmark capture (printed after the report) -----
fleet_args=(--darkscope "$darkscope" --capture "$capture" --cache "$cache"
    --json "$work/fleet.json")
[ "$quick" = 1 ] && fleet_args+=(--quick)
if [ "$do_fleet" = 1 ]; then
    wait_for_idle
    "$py" "$here/bench/fleet.py" "${fleet_args[@]}" >"$work/fleet.txt" ||
        die "fleet section failed"
fi

# --- report ---------------------------------------------------------------------------------
machine_json="$work/machine.json"
"$py" - "$machine_json" <<EOF
import json, subprocess, sys, os
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
lscpu = dict(l.split(":", 1) for l in sh("LC_ALL=C lscpu").splitlines() if ":" in l)
json.dump({
    "cpu": lscpu.get("Model name", "?").strip(),
    "cpus": os.cpu_count(),
    "threads_per_core": lscpu.get("Thread(s) per core", "?").strip(),
    "l3": lscpu.get("L3 cache", "?").strip(),
    "hypervisor": lscpu.get("Hypervisor vendor", "").strip(),
    "kernel": sh("uname -r"),
    "dpdk": sh("pkg-config --modversion libdpdk 2>/dev/null || dpkg-query -W -f='\${Version}' dpdk"),
    "darkscope": sh("'$darkscope' --version"),
    "commit": sh("git -C '$root' rev-parse --short HEAD 2>/dev/null"),
    "capture": "$capture", "capture_packets": $packets, "capture_sources": "$capture_sources",
    "memory": "$memory_note", "geo": "$geo_note", "worker_cpu": "$worker_cpu",
    "stats_cpu": "$stats_cpu", "duration_s": $duration, "warmup_s": $warmup,
    "runs": $runs, "stage_runs": $stage_runs, "stages_note": "$stages_note",
    "testpmd": "$testpmd", "baseline": "$baseline", "load_before": "$load_before",
    "load_after": sh("cut -d' ' -f1-3 /proc/loadavg"),
    "memory_probe": json.load(open("$memory_probe_json")),
    "scale_workers": $scale_workers, "scale_note": "$scale_note",
}, open(sys.argv[1], "w"))
EOF
"$py" "$here/bench/report.py" --machine "$machine_json" --results "$results" ${json_out:+--json "$json_out"}
[ "$do_analyst" = 0 ] || cat "$work/analyst.txt"
[ "$do_fleet" = 0 ] || cat "$work/fleet.txt"
