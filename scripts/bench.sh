#!/usr/bin/env bash
# The ESP benchmark: builds ferrogate in release mode and runs `ferrogate bench`, passing
# every argument on (see `ferrogate bench --help`):
#
#   scripts/bench.sh --quick      # 1 tunnel, 64/imix/1420, enc+dec, short runs (< 2 min);
#                                 # ends with one `ferrogate SIZE DIR Mpps=N` line per case
#   scripts/bench.sh              # also 100,000 tunnels, longer runs
#
# Needs hugepages (scripts/setup.sh reserves them) and root for DPDK. Keep the machine idle
# while it measures: the load average before the run is printed and saved with the tables
# (benches/results/bench-<date>.{md,json}).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p ferrogate --bin ferrogate >&2
exec "$target/release/ferrogate" bench "$@"
