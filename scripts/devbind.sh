#!/usr/bin/env bash
# Binds NICs to vfio-pci for DPDK, or gives them back to a kernel driver, with
# dpdk-devbind.py (Debian's `dpdk` package).
#
#   scripts/devbind.sh --status
#   scripts/devbind.sh [--dry-run] --bind 0000:03:00.0 [0000:03:00.1 ...]
#   scripts/devbind.sh [--dry-run] --unbind 0000:03:00.0 [...]
#   scripts/devbind.sh [--dry-run] --restore DRIVER 0000:03:00.0 [...]   # e.g. ixgbe
#
# --dry-run prints the commands instead of running them. Binding needs root and the IOMMU
# on (intel_iommu=on / amd_iommu=on); an interface that is up is refused by dpdk-devbind.py.
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

DEVBIND="$(command -v dpdk-devbind.py || command -v dpdk-devbind || true)"
dry=0
action=""
driver=""
devices=()

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1 ;;
        --status) action=status ;;
        --bind) action=bind ;;
        --unbind) action=unbind ;;
        --restore) action=restore; shift; driver="${1:-}"; [ -n "$driver" ] || usage ;;
        -h|--help) usage 0 ;;
        -*) echo "devbind: unknown option $1" >&2; usage ;;
        *) devices+=("$1") ;;
    esac
    shift
done

[ -n "$action" ] || usage
[ -n "$DEVBIND" ] || { echo "devbind: dpdk-devbind.py not found: run scripts/setup.sh" >&2; exit 1; }

for d in "${devices[@]}"; do
    if ! [[ "$d" =~ ^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; then
        echo "devbind: $d is not a PCI address (0000:03:00.0)" >&2
        exit 1
    fi
done

run() {
    if [ "$dry" = 1 ]; then
        echo "$*"
    else
        "$@"
    fi
}

case "$action" in
    status)
        run "$DEVBIND" --status-dev net
        ;;
    bind)
        [ "${#devices[@]}" -gt 0 ] || usage
        if [ "$dry" = 0 ] && [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
            echo "devbind: warning: no IOMMU groups; vfio-pci needs the IOMMU on" \
                "(or: echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)" >&2
        fi
        run modprobe vfio-pci
        run "$DEVBIND" --bind=vfio-pci "${devices[@]}"
        ;;
    unbind)
        [ "${#devices[@]}" -gt 0 ] || usage
        run "$DEVBIND" --unbind "${devices[@]}"
        ;;
    restore)
        [ "${#devices[@]}" -gt 0 ] || usage
        run "$DEVBIND" --bind="$driver" "${devices[@]}"
        ;;
esac
