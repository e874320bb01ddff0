#!/usr/bin/env bash
# darkscope set-up on Debian 12, as root: installs every build, test and run dependency with
# apt-get, fetches the default attribution databases, builds into build/, and reserves hugepages
# when it can. Safe to run again: it only does what is missing.
#
#   ./scripts/setup.sh                 everything
#   DARKSCOPE_OFFLINE=1 ./scripts/setup.sh   skip the npm download of the geo/ASN databases
#   HUGEPAGES_MB=4096 ./scripts/setup.sh     reserve another amount of 2 MiB pages (default 2048)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
say() { printf 'setup: %s\n' "$*"; }

packages=(
  # build
  build-essential g++ meson ninja-build pkg-config git
  dpdk dpdk-dev libdpdk-dev libhwloc-dev hwloc libboost-program-options-dev libjemalloc-dev
  libpcap-dev libmaxminddb-dev libsqlite3-dev
  # recording: gzip and zstd compression; --read of gzip, zstd, xz and bzip2 captures
  zlib1g-dev libzstd-dev liblzma-dev libbz2-dev
  # operations: the /metrics endpoint, systemd notifications, Prometheus for its tests
  libcpp-httplib-dev libsystemd-dev prometheus
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format
  tshark tcpdump zstd mmdb-bin sqlite3 libmaxmind-db-writer-perl iproute2 procps iso-codes
  python3 python3-scapy python3-matplotlib python3-pytest chromium
  # fleet export (libcurl) and the fleet tests' ClickHouse servers
  libcurl4-openssl-dev clickhouse-server clickhouse-client
  # the analyst benchmark's reference (tracereport)
  libtrace-tools
  # default attribution data comes from the npm registry
  nodejs npm
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs packages and reserves hugepages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A machine that already has node and npm (not from Debian) keeps them.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/#nodejs/}"); missing=("${missing[@]/#npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all ${#packages[@]} packages already installed"
fi
# The fleet tests start their own ClickHouse servers on loopback ports; the packaged service
# is not needed, and on a machine with systemd it would start and hold ports 8123 and 9000.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled clickhouse-server >/dev/null 2>&1; then
  systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
  say "clickhouse-server service stopped and disabled (tests start their own servers)"
fi

# Hugepages: 2 GiB of 2 MiB pages by default (one worker's tables, 411 MiB, and the attribution
# tables, ~600 MiB and twice that during a reload), mounted on /dev/hugepages.
want_mb=${HUGEPAGES_MB:-2048}
pages=$(( want_mb / 2 ))
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -w "$nr" ]; then
  have=$(cat "$nr")
  if [ "$have" -lt "$pages" ]; then
    echo "$pages" > "$nr" 2>/dev/null || true
    have=$(cat "$nr")
  fi
  mkdir -p /dev/hugepages
  if ! mountpoint -q /dev/hugepages; then
    mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages 2>/dev/null || true
  fi
  if mountpoint -q /dev/hugepages; then
    say "hugepages: $have x 2 MiB reserved (wanted $pages: $want_mb MiB), hugetlbfs on /dev/hugepages"
  else
    say "hugepages: $have x 2 MiB reserved but hugetlbfs could not be mounted; use --no-huge"
  fi
else
  say "hugepages: cannot write $nr (container?); darkscope will need --no-huge"
fi

# Default attribution databases (country and ASN) from the npm registry.
if [ "${DARKSCOPE_OFFLINE:-0}" = 1 ]; then
  say "DARKSCOPE_OFFLINE=1: not fetching the geo/ASN databases"
else
  "$here/scripts/fetch-geo.sh" || say "geo/ASN databases not fetched; darkscope runs without attribution"
fi

# Build.
if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build
fi
ninja -C build
say "built: $here/build/app/darkscope/darkscope"
say "next: meson test -C build --print-errorlogs"
