#!/usr/bin/env bash
# Prepares a Debian 12 machine to build, test and demo ferrogate. Run as root; idempotent:
# a second run changes nothing and takes a second.
#
#   scripts/setup.sh           install what is missing, reserve hugepages, mount hugetlbfs
#   scripts/setup.sh --check   exit 0 when nothing is missing, 1 otherwise (changes nothing)
#
# Hugepages: reserves HUGEPAGES (default 512) 2 MB pages and mounts hugetlbfs on
# /dev/hugepages. Where that is impossible (a container without the right), it warns and
# ferrogate runs with --no-huge (profiles with hugepages = "auto").
set -euo pipefail

HUGEPAGES="${HUGEPAGES:-512}"
HUGE_SYSFS=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HUGE_DIR=/dev/hugepages

# Build: DPDK headers and libraries, pkg-config, libclang for bindgen, a C compiler for the
# shim, intel-ipsec-mb. Tests and demo: libpcap (net_pcap), scapy, iproute2, tcpdump, ping and
# ethtool (the two-namespace test turns veth offloads off).
# Interop tests of later work: strongSwan with userspace ESP (never libreswan: it removes
# strongSwan).
PACKAGES=(
    dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev build-essential
    libipsec-mb-dev python3-scapy libpcap-dev iproute2 tcpdump iputils-ping ethtool
    strongswan-charon strongswan-swanctl libcharon-extra-plugins
    libstrongswan-extra-plugins libstrongswan-standard-plugins strongswan-pki
    libcharon-extauth-plugins
    ca-certificates curl
)

say() { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: warning: %s\n' "$*" >&2; }

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

have_cargo() {
    command -v cargo >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]
}

hugepages_ok() {
    local total
    total=$(cat "$HUGE_SYSFS" 2>/dev/null || echo 0)
    [ "$total" -ge "$HUGEPAGES" ] && grep -qs " $HUGE_DIR hugetlbfs " /proc/mounts
}

if [ "${1:-}" = "--check" ]; then
    ok=0
    m=$(missing_packages)
    [ -z "$m" ] || { say "missing packages: $(echo $m)"; ok=1; }
    have_cargo || { say "cargo is missing"; ok=1; }
    hugepages_ok || { say "hugepages not reserved or hugetlbfs not mounted"; ok=1; }
    exit $ok
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (sudo scripts/setup.sh)" >&2
    exit 1
fi

# 1. System packages: only what is missing, so a second run needs no network.
mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "system packages present"
fi
if dpkg-query -W -f='${Status}' libreswan 2>/dev/null | grep -q 'install ok installed'; then
    warn "libreswan is installed: it conflicts with strongSwan, which the interop tests use"
fi

# 2. Rust, only if cargo is missing (rustup's default profile has rustfmt and clippy).
if have_cargo; then
    say "cargo present"
else
    say "installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile default
    say "run: . \"\$HOME/.cargo/env\" (or open a new shell) to put cargo on PATH"
fi

# 3. Hugepages: reserve, never shrink an existing larger reservation, mount hugetlbfs.
current=$(cat "$HUGE_SYSFS" 2>/dev/null || echo 0)
if [ "$current" -lt "$HUGEPAGES" ]; then
    if echo "$HUGEPAGES" > "$HUGE_SYSFS" 2>/dev/null; then
        current=$(cat "$HUGE_SYSFS")
        [ "$current" -ge "$HUGEPAGES" ] \
            || warn "only $current of $HUGEPAGES hugepages could be reserved (memory fragmented?)"
    else
        warn "cannot reserve hugepages here: ferrogate will run with --no-huge (slower)"
    fi
fi
if ! grep -qs " $HUGE_DIR hugetlbfs " /proc/mounts; then
    mkdir -p "$HUGE_DIR"
    mount -t hugetlbfs nodev "$HUGE_DIR" 2>/dev/null \
        || warn "cannot mount hugetlbfs on $HUGE_DIR: ferrogate will run with --no-huge (slower)"
fi
say "hugepages: $(cat "$HUGE_SYSFS" 2>/dev/null || echo 0) x 2 MB reserved," \
    "$(grep -qs " $HUGE_DIR hugetlbfs " /proc/mounts && echo "hugetlbfs on $HUGE_DIR" || echo "no hugetlbfs")"
say "DPDK $(pkg-config --modversion libdpdk)"
say "done"
