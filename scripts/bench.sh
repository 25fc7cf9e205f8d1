#!/usr/bin/env bash
# The ESP benchmark: builds ferrogate in release mode and runs `ferrogate bench` (see
# `ferrogate bench --help`):
#
#   scripts/bench.sh              # the reference run: --matrix full, 144 cases (enc/dec x
#                                 # 64/imix/1420 x 1/1,000/100,000/1,000,000 tunnels x 1 and 2
#                                 # workers x aes128gcm16/aes256gcm16/aes128-sha256), each
#                                 # with its I/O-only baseline, then latency percentiles
#   scripts/bench.sh --quick      # 1 tunnel, 64/imix/1420, enc+dec, short runs (< 2 min);
#                                 # ends with one `ferrogate SIZE DIR Mpps=N` line per case
#   scripts/bench.sh --size 64 --tunnels 1,1000   # the full matrix narrowed by any option
#   scripts/bench.sh --matrix default             # the old default: 1 and 100,000 tunnels
#
# Without --quick or --matrix, `--matrix full` comes first and the other arguments narrow
# it. Needs hugepages (scripts/setup.sh reserves them; the 1,000,000-tunnel cases need
# about 10 GB of memory and, for dec and the large sizes, more than 1 GB of hugepages: a
# case that would not fit in 80% of the available memory is skipped) and root for DPDK. Cases whose workers this machine has no core for are reported as skipped. Keep the
# machine idle while it measures: the load average before the run is printed and saved
# with the tables and charts (benches/results/bench-<date>.{md,json} and
# bench-<date>-*.svg).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p ferrogate --bin ferrogate >&2

matrix=(--matrix full)
for arg in "$@"; do
    case "$arg" in
        --quick|--matrix|--matrix=*|--child|--help|-h) matrix=() ;;
    esac
done
exec "$target/release/ferrogate" bench "${matrix[@]}" "$@"
