#!/bin/bash
# scripts/dpdk-bind.sh: help, status and argument errors only. Nothing is bound: the machine's
# only NIC is its network, so the one bind attempt below runs with --dry-run and must be
# refused before any change.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIND=$ROOT/scripts/dpdk-bind.sh
DARKSCOPE_STATE_DIR=$(mktemp -d)
export DARKSCOPE_STATE_DIR
trap 'rm -rf "$DARKSCOPE_STATE_DIR"' EXIT
failures=0

# expect STATUS PATTERN ARGS...: the exit status, and PATTERN in stdout+stderr
expect() {
    local want=$1 pattern=$2 out rc
    shift 2
    out=$("$BIND" "$@" 2>&1)
    rc=$?
    if [ "$rc" != "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
        echo "FAIL: dpdk-bind.sh $*: status $rc (want $want), output:"
        printf '    %s\n' "${out//$'\n'/$'\n'    }"
        failures=$((failures + 1))
    fi
}

expect 0 '^Usage: dpdk-bind.sh' --help
expect 0 'hugepages reserve SIZE' -h
expect 2 '^Usage:'                                   # no command
expect 2 "unknown command 'frobnicate'" frobnicate
expect 2 'status: takes no arguments' status extra
expect 2 'bind: name at least one' bind
expect 2 'bind: unknown option --bogus' bind --bogus eth9
expect 2 "bind: no interface or PCI address 'no-such-if0'" bind no-such-if0
expect 2 'bind: no PCI device 0000:ff:1f.7' bind ff:1f.7
expect 2 'bind: interface lo is not a PCI device' bind lo
expect 2 'unbind: name at least one PCI address' unbind
expect 2 "unbind: 'eth0' is not a PCI address" unbind eth0
expect 2 'unbind: --driver needs a driver name' unbind 0000:ff:1f.7 --driver
expect 2 'unbind: no PCI device 0000:ff:1f.7' unbind 0000:ff:1f.7
expect 2 'hugepages: want reserve SIZE, release or show' hugepages
expect 2 "hugepages: unknown subcommand 'grow'" hugepages grow
expect 2 "hugepages reserve: bad size '1T1'" hugepages reserve 1T1
expect 2 'hugepages reserve: want a SIZE' hugepages reserve
expect 2 'hugepages release: takes no arguments' hugepages release now

if command -v dpdk-devbind.py >/dev/null; then
    expect 0 'Network devices' status
    expect 0 'Hugepages|hugepage|Pages' hugepages show
    # The interface of the default route is up with addresses: bind must refuse it (dry run
    # anyway, so even a wrong answer changes nothing).
    dev=$(ip -o route show default 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="dev") print $(i+1)}' | head -n1)
    if [ -n "$dev" ] && [ -e "/sys/class/net/$dev/device" ]; then
        expect 2 "refusing to take $dev .*(it is up|it has addresses)" --dry-run bind "$dev"
    elif [ -n "$dev" ]; then
        expect 2 "interface $dev is not a PCI device" --dry-run bind "$dev"
    fi
else
    echo "note: dpdk-devbind.py not installed; status not tested"
fi
[ ! -s "$DARKSCOPE_STATE_DIR/bind-state" ] || { echo "FAIL: bind-state written"; failures=$((failures + 1)); }
echo "$failures failures"
[ $failures -eq 0 ]
