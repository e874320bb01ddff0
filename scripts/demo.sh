#!/usr/bin/env bash
# The main job on any Linux machine, no DPDK NIC needed: generate a darknet-like capture, run it
# through the whole DPDK pipeline (workers, stats core, attribution when the default databases
# are installed), and print the tables an observation report ranks.
#
#   ./scripts/demo.sh [PACKETS]        (default 200000)
#   LIVE=1 ./scripts/demo.sh           replay on a net_pcap port and query the telemetry socket
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
packets=${1:-200000}
bin=${DARKSCOPE:-$here/build/app/darkscope/darkscope}
geo=${DARKSCOPE_GEO_DIR:-/var/lib/darkscope/geo}
work=${DEMO_DIR:-/tmp/darkscope-demo}
mkdir -p "$work"
[ -x "$bin" ] || { echo "demo: $bin not built: run ./scripts/setup.sh first" >&2; exit 1; }

pcap=$work/demo-$packets.pcap
if [ ! -s "$pcap" ]; then
  echo "demo: generating $packets packets into $pcap"
  /usr/bin/python3 "$here/scripts/darkscope-gen" --seed 1 --packets "$packets" --sources 20000 \
    --duration 3600 --out "$pcap" --truth "$work/demo-$packets.truth.json"
fi

geo_args=()
for f in "$geo"/*country*.mmdb; do
  [ -s "$f" ] && geo_args+=(--geo-country "$f")
done
for f in "$geo"/asn-ipv4.csv "$geo"/asn-ipv6.csv; do
  [ -s "$f" ] && geo_args+=(--geo-asn "$f")
done
[ ${#geo_args[@]} -gt 0 ] || echo "demo: no databases in $geo: countries and ASNs show as ??/0"

summary=$work/summary.json
ctl=("$here/scripts/darkscope-ctl")
if [ "${LIVE:-0}" = 1 ]; then
  "$bin" --config "$here/conf/demo.conf" --file-prefix darkscope-demo --no-log-events "${geo_args[@]}" \
    --port "net_pcap0,rx_pcap=$pcap" --interval 5 --link-wait 0 --summary "$summary" &
  pid=$!
  trap 'kill -INT $pid 2>/dev/null || true' EXIT
  sleep 8
  ctl+=(-f darkscope-demo)
else
  "$bin" --config "$here/conf/demo.conf" --file-prefix darkscope-demo --no-log-events "${geo_args[@]}" \
    --read "$pcap" --db "$work/history.sqlite" --summary "$summary"
  ctl+=(--summary "$summary")
fi

section() { printf '\n== %s\n' "$*"; }
section "totals";                 "${ctl[@]}" stats
section "top 10 destination services (scans and probes)"; "${ctl[@]}" top ports 10
section "top 5 source regions";   "${ctl[@]}" top countries 5
section "top 5 source ASNs";      "${ctl[@]}" top asns 5
section "sensors";                "${ctl[@]}" top sensors 10
section "top 5 talkers";          "${ctl[@]}" top sources 5
section "traffic classes";        "${ctl[@]}" classes
if [ "${LIVE:-0}" = 1 ]; then kill -INT "$pid"; wait "$pid" || true; trap - EXIT; fi
echo
echo "demo: summary in $summary${LIVE:+}; history in $work/history.sqlite"
