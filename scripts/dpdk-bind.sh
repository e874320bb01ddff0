#!/bin/bash
# dpdk-bind.sh: give NICs to DPDK (vfio-pci) and back, and manage hugepages, for darkscope.
# Wraps DPDK's own dpdk-devbind.py and dpdk-hugepages.py (Debian package "dpdk").
set -euo pipefail

PROG=${0##*/}
STATE_DIR=${DARKSCOPE_STATE_DIR:-/var/lib/darkscope}
STATE_FILE=$STATE_DIR/bind-state   # lines "PCI DRIVER": the kernel driver a device had
DEVBIND=${DPDK_DEVBIND:-dpdk-devbind.py}
HUGEPAGES=${DPDK_HUGEPAGES:-dpdk-hugepages.py}
DRY_RUN=${DARKSCOPE_BIND_DRY_RUN:-0}

# Every command that changes the machine goes through run: --dry-run prints it instead.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

usage() {
    cat <<EOF
Usage: $PROG COMMAND [ARGS]

  status                          NICs and their drivers (DPDK-usable, kernel, other), hugepages
  bind [--force] [--noiommu] IFACE|PCI...
                                  bind to vfio-pci (loads the module); refuses an interface
                                  that is up or has addresses or routes unless --force;
                                  --noiommu sets vfio enable_unsafe_noiommu_mode (no IOMMU:
                                  no DMA protection, for VMs and test boxes only)
  unbind [--driver DRV] PCI...    back to the kernel driver the device had before bind
                                  (remembered in $STATE_FILE, else from its modalias)
  hugepages reserve SIZE [--node N] [--pagesize SZ]
                                  reserve SIZE (e.g. 1G, 512M) of hugepages and mount hugetlbfs
  hugepages release               release all reserved hugepages and unmount
  hugepages show                  current reservation and mounts
  -n, --dry-run                   (before COMMAND) print what would change, change nothing
  -h, --help                      this help

Examples:
  $PROG status
  $PROG bind eth1                 # or: $PROG bind 0000:3b:00.0
  $PROG unbind 0000:3b:00.0
  $PROG hugepages reserve 1G
EOF
}

die() { echo "$PROG: $*" >&2; exit 2; }
fail() { echo "$PROG: $*" >&2; exit 1; }

need_tool() {
    command -v "$1" >/dev/null 2>&1 || fail "$1 not found (install Debian's 'dpdk' package)"
}

need_root() {
    [ "$(id -u)" -eq 0 ] || fail "$1 needs root"
}

is_pci() { [[ $1 =~ ^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; }

full_pci() {  # 3b:00.0 -> 0000:3b:00.0
    if [[ $1 =~ ^[0-9a-fA-F]{4}: ]]; then echo "${1,,}"; else echo "0000:${1,,}"; fi
}

iface_of_pci() {  # the kernel interface name of a PCI device (virtio: one level down)
    local d
    for d in "/sys/bus/pci/devices/$1/net" "/sys/bus/pci/devices/$1"/virtio*/net; do
        if [ -d "$d" ]; then
            find "$d" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n1
            return 0
        fi
    done
}

pci_of_iface() {  # the PCI address under an interface (virtio-net sits on a virtio device)
    local link cand
    link=$(readlink -f "/sys/class/net/$1/device" 2>/dev/null) || return 1
    for cand in "$link" "$(dirname "$link")"; do
        if [ "$(basename "$(readlink -f "$cand/subsystem")")" = pci ]; then
            basename "$cand"
            return 0
        fi
    done
    return 1
}

current_driver() {
    local link=/sys/bus/pci/devices/$1/driver
    if [ -e "$link" ]; then basename "$(readlink -f "$link")"; fi
}

# Why an interface must not be taken from the kernel: up, addresses, routes.
iface_in_use() {
    local ifc=$1 why=()
    if ip -o link show dev "$ifc" 2>/dev/null | grep -q '[<,]UP[,>]'; then why+=("it is up"); fi
    if [ -n "$(ip -o addr show dev "$ifc" 2>/dev/null)" ]; then why+=("it has addresses"); fi
    if [ -n "$(ip route show dev "$ifc" 2>/dev/null; ip -6 route show dev "$ifc" 2>/dev/null |
               grep -v '^fe80::/64')" ]; then
        why+=("it has routes")
    fi
    if [ ${#why[@]} -gt 0 ]; then
        local joined
        joined=$(printf '%s, ' "${why[@]}")
        echo "${joined%, }"
    fi
}

remember_driver() {
    local pci=$1 drv=$2
    mkdir -p "$STATE_DIR"
    touch "$STATE_FILE"
    grep -v "^$pci " "$STATE_FILE" >"$STATE_FILE.tmp" || true
    echo "$pci $drv" >>"$STATE_FILE.tmp"
    mv "$STATE_FILE.tmp" "$STATE_FILE"
}

remembered_driver() {
    if [ -f "$STATE_FILE" ]; then awk -v p="$1" '$1 == p { print $2 }' "$STATE_FILE" | tail -n1; fi
}

modalias_driver() {  # the kernel driver that claims this device by its modalias
    local alias
    alias=$(cat "/sys/bus/pci/devices/$1/modalias" 2>/dev/null) || return 0
    modprobe -R "$alias" 2>/dev/null | grep -v '^vfio' | head -n1 || true
}

cmd_status() {
    need_tool "$DEVBIND"
    "$DEVBIND" --status-dev net
    echo
    if command -v "$HUGEPAGES" >/dev/null 2>&1; then
        "$HUGEPAGES" --show || true
    fi
    if [ -s "$STATE_FILE" ]; then
        echo
        echo "Devices bound by $PROG (kernel driver to restore):"
        sed 's/^/  /' "$STATE_FILE"
    fi
}

cmd_bind() {
    local force=0 noiommu=0 targets=()
    while [ $# -gt 0 ]; do
        case $1 in
            --force) force=1 ;;
            --noiommu) noiommu=1 ;;
            -h|--help) usage; exit 0 ;;
            -*) die "bind: unknown option $1" ;;
            *) targets+=("$1") ;;
        esac
        shift
    done
    [ ${#targets[@]} -gt 0 ] || die "bind: name at least one interface or PCI address"
    local pcis=() t pci ifc why
    for t in "${targets[@]}"; do
        if is_pci "$t"; then
            pci=$(full_pci "$t")
            [ -e "/sys/bus/pci/devices/$pci" ] || die "bind: no PCI device $pci"
        else
            [ -e "/sys/class/net/$t" ] || die "bind: no interface or PCI address '$t'"
            pci=$(pci_of_iface "$t") || die "bind: interface $t is not a PCI device"
        fi
        ifc=$(iface_of_pci "$pci")
        is_pci "$t" || ifc=$t
        if [ -n "$ifc" ]; then
            why=$(iface_in_use "$ifc")
            if [ -n "$why" ] && [ $force -eq 0 ]; then
                die "bind: refusing to take $ifc ($pci) from the kernel: $why" \
                    "(take it down and flush it first, or use --force)"
            fi
        fi
        pcis+=("$pci")
    done
    need_root bind
    need_tool "$DEVBIND"
    run modprobe vfio-pci || fail "bind: cannot load the vfio-pci module"
    if [ $noiommu -eq 1 ]; then
        run sh -c 'echo 1 >/sys/module/vfio/parameters/enable_unsafe_noiommu_mode' ||
            fail "bind: cannot enable vfio no-IOMMU mode"
        echo "$PROG: vfio no-IOMMU mode on: DMA is not isolated" >&2
    elif [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
        fail "bind: no IOMMU groups (enable VT-d/AMD-Vi and intel_iommu=on, or use --noiommu)"
    fi
    for pci in "${pcis[@]}"; do
        local drv
        drv=$(current_driver "$pci")
        if [ "$drv" = vfio-pci ]; then
            echo "$pci already on vfio-pci"
            continue
        fi
        [ -n "$drv" ] && [ "$DRY_RUN" != 1 ] && remember_driver "$pci" "$drv"
        run "$DEVBIND" --bind=vfio-pci "$pci"
        echo "$pci: ${drv:-no driver} -> vfio-pci"
    done
}

cmd_unbind() {
    local driver="" pcis=()
    while [ $# -gt 0 ]; do
        case $1 in
            --driver) [ $# -ge 2 ] || die "unbind: --driver needs a driver name"
                      driver=$2; shift ;;
            --driver=*) driver=${1#--driver=} ;;
            -h|--help) usage; exit 0 ;;
            -*) die "unbind: unknown option $1" ;;
            *) is_pci "$1" || die "unbind: '$1' is not a PCI address (like 0000:3b:00.0)"
               pcis+=("$(full_pci "$1")") ;;
        esac
        shift
    done
    [ ${#pcis[@]} -gt 0 ] || die "unbind: name at least one PCI address"
    local pci drv
    for pci in "${pcis[@]}"; do
        [ -e "/sys/bus/pci/devices/$pci" ] || die "unbind: no PCI device $pci"
    done
    need_root unbind
    need_tool "$DEVBIND"
    for pci in "${pcis[@]}"; do
        drv=${driver:-$(remembered_driver "$pci")}
        [ -n "$drv" ] || drv=$(modalias_driver "$pci")
        [ -n "$drv" ] || fail "unbind: do not know the kernel driver of $pci (use --driver)"
        run modprobe "$drv" 2>/dev/null || true
        run "$DEVBIND" --bind="$drv" "$pci"
        if [ -f "$STATE_FILE" ] && [ "$DRY_RUN" != 1 ]; then
            grep -v "^$pci " "$STATE_FILE" >"$STATE_FILE.tmp" || true
            mv "$STATE_FILE.tmp" "$STATE_FILE"
        fi
        echo "$pci -> $drv"
    done
}

cmd_hugepages() {
    [ $# -gt 0 ] || die "hugepages: want reserve SIZE, release or show"
    local sub=$1
    shift
    need_tool "$HUGEPAGES"
    case $sub in
        show) "$HUGEPAGES" --show ;;
        reserve)
            [ $# -gt 0 ] || die "hugepages reserve: want a SIZE such as 1G or 512M"
            local size=$1 extra=()
            shift
            [[ $size =~ ^[0-9]+[KMGkmg]?$ ]] || die "hugepages reserve: bad size '$size'"
            while [ $# -gt 0 ]; do
                case $1 in
                    --node) [ $# -ge 2 ] || die "hugepages: --node needs a number"
                            extra+=(--node "$2"); shift ;;
                    --pagesize) [ $# -ge 2 ] || die "hugepages: --pagesize needs a size"
                                extra+=(--pagesize "$2"); shift ;;
                    *) die "hugepages reserve: unknown argument $1" ;;
                esac
                shift
            done
            need_root "hugepages reserve"
            run "$HUGEPAGES" --setup "$size" "${extra[@]}"
            "$HUGEPAGES" --show ;;
        release)
            [ $# -eq 0 ] || die "hugepages release: takes no arguments"
            need_root "hugepages release"
            run "$HUGEPAGES" --unmount --clear
            "$HUGEPAGES" --show ;;
        *) die "hugepages: unknown subcommand '$sub' (reserve, release, show)" ;;
    esac
}

if [ "${1:-}" = -n ] || [ "${1:-}" = --dry-run ]; then
    DRY_RUN=1
    shift
fi
[ $# -gt 0 ] || { usage >&2; exit 2; }
cmd=$1
shift
case $cmd in
    -h|--help|help) usage ;;
    status) [ $# -eq 0 ] || die "status: takes no arguments"; cmd_status ;;
    bind) cmd_bind "$@" ;;
    unbind) cmd_unbind "$@" ;;
    hugepages) cmd_hugepages "$@" ;;
    *) die "unknown command '$cmd' (try --help)" ;;
esac
