#!/usr/bin/env bash
# Runs the appliance on the lab profile (dpdk-config/lab.toml), no NIC needed: a capture is
# replayed for ever on net_pcap (port 0) and forwarded to a net_null sink (port 1); port
# statistics print every second; the run stops by itself.
#
#   scripts/demo.sh [SECONDS]      default 5; FERROGATE_RELEASE=1 for an optimised build
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-5}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! command -v cargo >/dev/null || ! pkg-config --exists libdpdk 2>/dev/null; then
    echo "demo: build tools or DPDK missing: run scripts/setup.sh (as root) first" >&2
    exit 1
fi

[ -f dpdk-config/lab-traffic.pcap ] \
    || python3 scripts/make-lab-pcap.py dpdk-config/lab-traffic.pcap

if [ "${FERROGATE_RELEASE:-0}" = 1 ]; then
    cargo build --release -p ferrogate --bin ferrogate
    bin=${CARGO_TARGET_DIR:-target}/release/ferrogate
else
    cargo build -p ferrogate --bin ferrogate
    bin=${CARGO_TARGET_DIR:-target}/debug/ferrogate
fi

"$bin" version
"$bin" check-config dpdk-config/lab.toml
# --duration bounds the run; the outer timeout only guards against a hung EAL.
timeout --signal=INT --kill-after=10 "$((${DURATION%.*} + 60))" \
    "$bin" run --profile dpdk-config/lab.toml --duration "$DURATION"
