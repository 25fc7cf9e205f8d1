#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace, the DPDK
# integration tests included. Runs scripts/setup.sh first when something it installs is
# missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! scripts/setup.sh --check; then
    if [ "$(id -u)" -eq 0 ]; then
        scripts/setup.sh
    else
        sudo scripts/setup.sh
    fi
fi
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
