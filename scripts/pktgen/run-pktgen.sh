#!/usr/bin/env bash
# Starts Pktgen-DPDK against a running ferrogate (see README.md here). Not run in ferrogate's
# CI: Pktgen is not installed there. Two setups:
#
#   scripts/pktgen/run-pktgen.sh memif [SCRIPT]          # ferrogate on dpdk-config/memif-bench.toml
#   scripts/pktgen/run-pktgen.sh nic PCI_TX PCI_RX [SCRIPT]
#
# memif: Pktgen's ports 0 and 1 are memif clients of ferrogate's inside and outside memif
# servers. nic: Pktgen's port 0 (PCI_TX) is cabled to ferrogate's inside NIC, port 1
# (PCI_RX) to its outside NIC. SCRIPT defaults to ferrogate-enc.lua (SIZE, FLOWS, TUNNELS,
# RATE_PCT, DURATION_MS at its top). PKTGEN (the binary) and PKTGEN_CORES (the EAL lcore
# list, default 0,2-5: main lcore 0, RX/TX lcores 2-5) can be set in the environment; keep
# them off ferrogate's cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pktgen="${PKTGEN:-pktgen}"
cores="${PKTGEN_CORES:-0,2-5}"
mode="${1:-}"
case "$mode" in
    memif)
        script="${2:-$here/ferrogate-enc.lua}"
        devs=(--no-pci
              --vdev "net_memif0,role=client,socket=/run/ferrogate/bench-in.sock,socket-abstract=no"
              --vdev "net_memif1,role=client,socket=/run/ferrogate/bench-out.sock,socket-abstract=no")
        ;;
    nic)
        [ $# -ge 3 ] || { sed -n '2,14p' "$0"; exit 2; }
        script="${4:-$here/ferrogate-enc.lua}"
        devs=(-a "$2" -a "$3")
        ;;
    *)
        sed -n '2,14p' "$0"
        exit 2
        ;;
esac
# -P: promiscuous (ferrogate's ESP is addressed to its peer's MAC, not Pktgen's);
# -T: themed console; -m: lcores 2/3 RX/TX port 0, 4/5 port 1.
exec "$pktgen" -l "$cores" -n 4 --file-prefix pktgen "${devs[@]}" -- \
    -P -T -m "[2:3].0,[4:5].1" -f "$script"
