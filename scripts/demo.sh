#!/usr/bin/env bash
# The ferrogate demo.
#
#   sudo scripts/demo.sh              the IKEv2 lab (root, strongSwan; a few seconds)
#   scripts/demo.sh --pcap [SECONDS]  the lab profile on a replayed capture, no root (5 s)
#
# The IKEv2 lab builds three network namespaces and deletes them again on exit:
#
#   fgdemo-host             fgdemo-fg                                  fgdemo-sw
#   10.1.0.2 eth0 --veth-- fgdemo-in  ferrogate  fgdemo-out --veth-- eth0 192.0.2.2
#                          10.1.0.1   (DPDK,     192.0.2.1               strongSwan charon
#                                     af_packet)                         LAN 10.2.0.1 on lo
#
# ferrogate runs dpdk-config/ikev2-lab.toml; strongSwan's charon (userspace ESP through
# kernel-libipsec) runs in its own mount namespace with a private /run, as the tests start
# it. The host pings 10.2.0.1: the dataplane has no SA yet, raises an ACQUIRE, and
# ferrogate initiates IKEv2 to 192.0.2.2. Then 1 MiB crosses the tunnel over TCP (SHA-256
# computed at both ends), ferrogate and charon show their SAs, and everything is removed.
# The pre-shared key is random for each run (/run/ferrogate-demo/psk, mode 0600).
#
# FERROGATE_RELEASE=1 builds optimised; CARGO_TARGET_DIR is honoured; FERROGATE_BIN=PATH
# runs that binary instead of building one (tests/demo.rs does).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

usage() {
    echo "usage:"
    sed -n '4,5p' "$0" | sed 's/^#/ /'
}

# Builds ferrogate (or takes $FERROGATE_BIN as it is); sets $bin.
build() {
    if [ -n "${FERROGATE_BIN:-}" ]; then
        if [ ! -x "$FERROGATE_BIN" ]; then
            echo "demo: FERROGATE_BIN=$FERROGATE_BIN: not executable" >&2
            exit 1
        fi
        bin=$(realpath "$FERROGATE_BIN")
        return
    fi
    if ! command -v cargo >/dev/null || ! pkg-config --exists libdpdk 2>/dev/null; then
        echo "demo: build tools or DPDK missing: run scripts/setup.sh (as root) first" >&2
        exit 1
    fi
    if [ "${FERROGATE_RELEASE:-0}" = 1 ]; then
        cargo build --release -p ferrogate --bin ferrogate
        bin=${CARGO_TARGET_DIR:-target}/release/ferrogate
    else
        cargo build -p ferrogate --bin ferrogate
        bin=${CARGO_TARGET_DIR:-target}/debug/ferrogate
    fi
    # Absolute: the lab runs it through `ip netns exec`.
    bin=$(realpath "$bin")
}

# ---- --pcap: the lab profile (dpdk-config/lab.toml), no NIC, no root ------------------
# A capture is replayed for ever on net_pcap (port 0) and forwarded to a net_null sink
# (port 1); port statistics print every second; the run stops by itself.
pcap_demo() {
    local duration=$1
    [ -f dpdk-config/lab-traffic.pcap ] \
        || python3 scripts/make-lab-pcap.py dpdk-config/lab-traffic.pcap
    build
    "$bin" version
    "$bin" check-config dpdk-config/lab.toml
    # --duration bounds the run; the outer timeout only guards against a hung EAL.
    timeout --signal=INT --kill-after=10 "$((${duration%.*} + 60))" \
        "$bin" run --profile dpdk-config/lab.toml --duration "$duration"
}

case "${1:-}" in
    --pcap)
        pcap_demo "${2:-5}"
        exit
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    "") ;;
    *)
        usage >&2
        exit 2
        ;;
esac

# ---- the IKEv2 lab ---------------------------------------------------------------------

CONFIG=dpdk-config/ikev2-lab.toml
CHARON=/usr/lib/ipsec/charon
PLUGINS=/usr/lib/ipsec/plugins
# Fixed by $CONFIG: the key file and the operator socket. /run is root's, so a fixed name
# there cannot be planted by another user.
RUN=/run/ferrogate-demo
SOCK=$RUN/ferrogate.sock
NS_H=fgdemo-host
NS_FG=fgdemo-fg
NS_SW=fgdemo-sw
HOST=10.1.0.2
SITE=10.2.0.1 # strongSwan's LAN address (on lo of fgdemo-sw)
BYTES=1048576

# Everything missing at once, with where it comes from.
missing=()
[ "$(id -u)" -eq 0 ] || missing+=("root: the lab creates network namespaces (sudo scripts/demo.sh)")
need_cmd() { # COMMAND PACKAGE
    command -v "$1" >/dev/null || missing+=("$1 (Debian package $2)")
}
need_cmd ip iproute2
need_cmd unshare util-linux
need_cmd flock util-linux
need_cmd ethtool ethtool
need_cmd ping iputils-ping
need_cmd python3 python3
need_cmd sha256sum coreutils
need_cmd swanctl strongswan-swanctl
[ -x "$CHARON" ] || missing+=("$CHARON (Debian package strongswan-charon)")
for p in kernel-libipsec:libcharon-extra-plugins curve25519:libstrongswan-standard-plugins \
    vici:strongswan-swanctl; do
    [ -f "$PLUGINS/libstrongswan-${p%%:*}.so" ] \
        || missing+=("strongSwan plugin ${p%%:*} (Debian package ${p#*:})")
done
[ -c /dev/net/tun ] || missing+=("/dev/net/tun (kernel-libipsec's TUN device)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "demo: the IKEv2 lab needs:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "scripts/setup.sh (as root) installs the packages; scripts/demo.sh --pcap runs the" \
        "replay demo without root or strongSwan." >&2
    exit 1
fi

# One lab at a time: the names above are fixed. (Background processes get the lock's fd
# closed: were the script killed, they must not hold the lock for ever.)
exec 9<"$0"
# A killed run's last foreground command may hold it for a moment.
flock -w 10 9 || { echo "demo: another scripts/demo.sh is running" >&2; exit 1; }

build
"$bin" version
umask 077

swdir=""
fg_pid=""
sw_pid=""
rx_pid=""

# Stops `pid` with SIGTERM, then SIGKILL after `secs` seconds.
stop_pid() { # PID SECS
    local pid=$1 secs=$2 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Deletes the namespaces (their veths go with them) after ending what still runs in them:
# only processes this script started can be there.
remove_namespaces() {
    local ns pid
    for ns in "$NS_H" "$NS_FG" "$NS_SW"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$?
    set +e
    [ -n "$rx_pid" ] && stop_pid "$rx_pid" 1
    [ -n "$fg_pid" ] && stop_pid "$fg_pid" 10
    [ -n "$sw_pid" ] && stop_pid "$sw_pid" 3
    remove_namespaces
    rm -rf "$RUN"
    [ -n "$swdir" ] && rm -rf "$swdir"
    echo "== lab removed (namespaces $NS_H $NS_FG $NS_SW, $RUN)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "demo: FAILED: $*" >&2
    if [ -s "$RUN/ferrogate.log" ]; then
        echo "---- ferrogate log (last 30 lines)" >&2
        tail -n 30 "$RUN/ferrogate.log" >&2
    fi
    if [ -n "$swdir" ] && [ -s "$swdir/charon.log" ]; then
        echo "---- charon log (last 30 lines)" >&2
        tail -n 30 "$swdir/charon.log" "$swdir/charon.err" >&2
    fi
    exit 1
}

in_ns() { # NS COMMAND...
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# A previous run killed with SIGKILL leaves its namespaces and files: we hold the lock.
if [ -e "/run/netns/$NS_FG" ] || [ -e "/run/netns/$NS_H" ] || [ -e "/run/netns/$NS_SW" ] \
    || [ -e "$RUN" ]; then
    echo "== removing what an interrupted demo left"
    remove_namespaces
    rm -rf "$RUN"
    # Its charon directory too (only root's: the pattern is in a world-writable /tmp).
    find /tmp -maxdepth 1 -type d -user root -name 'fgdemo-sw.??????' -exec rm -rf {} +
fi

echo "== network namespaces"
for ns in "$NS_H" "$NS_FG" "$NS_SW"; do
    ip netns add "$ns"
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$NS_FG" link add fgdemo-in type veth peer name eth0 netns "$NS_H"
ip -n "$NS_FG" link add fgdemo-out type veth peer name eth0 netns "$NS_SW"
ip -n "$NS_FG" link set fgdemo-in up
ip -n "$NS_FG" link set fgdemo-out up
for pair in "$NS_H:$HOST/24" "$NS_SW:192.0.2.2/24"; do
    ns=${pair%%:*}
    # ferrogate reads whole frames from af_packet: no TSO/GSO super-frames, no checksums
    # left to an offload that never happens.
    in_ns "$ns" ethtool -K eth0 tx off tso off gso off >/dev/null
    ip -n "$ns" addr add "${pair#*:}" dev eth0
    ip -n "$ns" link set eth0 up
done
ip -n "$NS_H" route add default via 10.1.0.1
# strongSwan's LAN: an address on lo inside its local selector (kernel-libipsec routes the
# tunnel through its TUN device from it).
ip -n "$NS_SW" addr add "$SITE/16" dev lo
echo "   $NS_H: $HOST/24 via 10.1.0.1 | $NS_FG: ferrogate on fgdemo-in, fgdemo-out" \
    "| $NS_SW: 192.0.2.2/24, LAN $SITE/16"

# The pre-shared key, fresh for each run: hex, so it reads the same to both sides.
mkdir -m 700 "$RUN"
od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$RUN/psk"
psk=$(cat "$RUN/psk")

echo "== strongSwan (charon, kernel-libipsec) in $NS_SW"
# Not under /run: charon gets a private tmpfs there.
swdir=$(mktemp -d /tmp/fgdemo-sw.XXXXXX)
cat >"$swdir/strongswan.conf" <<EOF
charon {
    load_modular = no
    load = random nonce aes sha1 sha2 hmac gmp curve25519 openssl chapoly gcm pem pkcs1 pkcs8 x509 pubkey constraints revocation kdf kernel-libipsec kernel-netlink socket-default vici updown
    install_routes = no
    retransmit_tries = 3
    retransmit_timeout = 1.0
    plugins {
        vici {
            socket = unix://$swdir/charon.vici
        }
        kernel-libipsec {
            allow_peer_ts = yes
        }
    }
    filelog {
        demo {
            path = $swdir/charon.log
            time_format = %T
            default = 1
            flush_line = yes
        }
    }
    syslog {
        daemon {
            default = -1
        }
    }
}
swanctl {
    socket = unix://$swdir/charon.vici
}
EOF
cat >"$swdir/swanctl.conf" <<EOF
connections {
    ferrogate {
        version = 2
        local_addrs = 192.0.2.2
        remote_addrs = 192.0.2.1
        proposals = aes256gcm16-prfsha384-curve25519
        local {
            auth = psk
            id = 192.0.2.2
        }
        remote {
            auth = psk
            id = 192.0.2.1
        }
        children {
            lan {
                local_ts = 10.2.0.0/16
                remote_ts = 10.1.0.0/24
                esp_proposals = aes256gcm16
            }
        }
    }
}
secrets {
    ike-ferrogate {
        id-1 = 192.0.2.1
        id-2 = 192.0.2.2
        secret = "$psk"
    }
}
EOF
export STRONGSWAN_CONF=$swdir/strongswan.conf
# A mount namespace with its own /run: charon's compiled-in pid file and sockets never meet
# a system charon's. `ip netns exec`, unshare and sh all exec: $! is charon.
ip netns exec "$NS_SW" unshare -m --propagation private \
    sh -c "mount -t tmpfs fgdemo-charon /run && exec $CHARON" \
    </dev/null >"$swdir/charon.out" 2>"$swdir/charon.err" 9<&- &
sw_pid=$!
for ((i = 0; i < 100; i++)); do
    [ -S "$swdir/charon.vici" ] && break
    kill -0 "$sw_pid" 2>/dev/null || fail "charon exited"
    sleep 0.1
done
[ -S "$swdir/charon.vici" ] || fail "charon's vici socket did not appear"
swanctl --load-all --file "$swdir/swanctl.conf" >"$swdir/load.out" 2>&1 \
    || { cat "$swdir/load.out" >&2; fail "swanctl --load-all"; }
echo "   connection 'ferrogate' loaded: 10.2.0.0/16 <-> 10.1.0.0/24, responder"

echo "== ferrogate in $NS_FG ($CONFIG)"
checked=$("$bin" check-config "$CONFIG") || fail "check-config $CONFIG"
echo "$checked" | sed -n '1,3s/^/   /p'
# --duration is the safety bound; it is stopped with SIGTERM below.
FERROGATE_LOG=${FERROGATE_LOG:-info} ip netns exec "$NS_FG" "$bin" run --config "$CONFIG" \
    --duration 120 </dev/null >"$RUN/ferrogate.out" 2>"$RUN/ferrogate.log" 9<&- &
fg_pid=$!
ready=""
for ((i = 0; i < 300; i++)); do
    if "$bin" show crypto ipsec sa --socket "$SOCK" >/dev/null 2>&1; then
        ready=1
        break
    fi
    kill -0 "$fg_pid" 2>/dev/null || fail "ferrogate exited"
    sleep 0.1
done
[ -n "$ready" ] || fail "ferrogate's operator socket $SOCK did not answer in 30 s"
echo "   running; operator socket $SOCK"

echo "== $NS_H: ping $SITE (no SA yet: the dataplane raises an ACQUIRE, ferrogate initiates)"
t0=$(date +%s%N)
up=""
for ((i = 0; i < 15; i++)); do
    if in_ns "$NS_H" ping -n -q -c 1 -W 1 "$SITE" >/dev/null; then
        up=1
        break
    fi
done
[ -n "$up" ] || fail "no reply through the tunnel in 15 s"
echo "   first reply after $((($(date +%s%N) - t0) / 1000000)) ms"
grep -E "traffic needs a tunnel|IKEv2 SA .* established|Child SA up" "$RUN/ferrogate.log" \
    | sed -E 's/^[^ ]+ +INFO [^ ]+: /   ferrogate: /' || true
grep -m 1 "is initiating an IKE_SA" "$swdir/charon.log" | sed 's/^/   charon: /' || true
grep -m 1 "CHILD_SA lan{.*} established" "$swdir/charon.log" | sed 's/^/   charon: /' || true

echo "== $NS_H: ping -c 5 $SITE"
pings=$(in_ns "$NS_H" ping -n -c 5 -i 0.2 -W 2 "$SITE" 2>&1) || true
echo "$pings" | sed 's/^/   /'
[[ $pings == *" 5 received"* ]] || fail "not all pings came back"

echo "== 1 MiB over TCP, $HOST -> $SITE:5001"
head -c "$BYTES" /dev/urandom >"$RUN/send.bin"
# The receiver writes what arrives and prints its size and SHA-256.
in_ns "$NS_SW" timeout 60 python3 -c '
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
s.settimeout(30)
conn, peer = s.accept()
conn.settimeout(30)
digest, n = hashlib.sha256(), 0
with open(sys.argv[2], "wb") as out:
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        out.write(chunk)
        digest.update(chunk)
        n += len(chunk)
conn.close()
print(f"   {sys.argv[3]}: received {n} bytes from {peer[0]}, sha256 {digest.hexdigest()}")
' "$SITE" "$RUN/recv.bin" "$NS_SW" >"$RUN/recv.out" 2>&1 9<&- &
rx_pid=$!
# The sender retries the connection for 10 s (the receiver may not listen yet).
t0=$(date +%s%N)
in_ns "$NS_H" timeout 60 python3 -c '
import hashlib, socket, sys, time
data = open(sys.argv[2], "rb").read()
deadline = time.monotonic() + 10
while True:
    try:
        conn = socket.create_connection((sys.argv[1], 5001), timeout=30)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
conn.sendall(data)
conn.shutdown(socket.SHUT_WR)
conn.recv(1)  # the receiver closes once it has everything
conn.close()
print(f"   {sys.argv[3]}: sent {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
' "$SITE" "$RUN/send.bin" "$NS_H" >"$RUN/send.out" 2>&1 || { cat "$RUN/send.out" >&2; fail "send"; }
wait "$rx_pid" || { cat "$RUN/recv.out" >&2; rx_pid=""; fail "receive"; }
rx_pid=""
t1=$(date +%s%N)
cat "$RUN/send.out" "$RUN/recv.out"
sent=$(in_ns "$NS_H" sha256sum "$RUN/send.bin" | cut -d' ' -f1)
got=$(in_ns "$NS_SW" sha256sum "$RUN/recv.bin" | cut -d' ' -f1)
[ "$sent" = "$got" ] || fail "sha256 differs: sent $sent, received $got"
ms=$(((t1 - t0) / 1000000))
echo "   sha256 match ($BYTES bytes in ${ms} ms)"

echo "== ferrogate show crypto ipsec sa"
"$bin" show crypto ipsec sa --socket "$SOCK" | sed 's/^/   /'
# `show crypto ikev2 sa` arrived after `show crypto ipsec sa`: shown where the binary has it.
commands=$("$bin" show crypto --help 2>/dev/null) || commands=""
if grep -qE '^ +ikev2( |$)' <<<"$commands"; then
    echo "== ferrogate show crypto ikev2 sa"
    "$bin" show crypto ikev2 sa --socket "$SOCK" | sed 's/^/   /' || true
fi
echo "== strongSwan: swanctl --list-sas"
swanctl --list-sas | sed 's/^/   /'

echo "== stopping ferrogate (SIGTERM) and charon"
kill -TERM "$fg_pid"
for ((i = 0; i < 200; i++)); do
    kill -0 "$fg_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$fg_pid" 2>/dev/null; then
    fail "ferrogate did not stop in 20 s after SIGTERM"
fi
fg_rc=0
wait "$fg_pid" || fg_rc=$?
fg_pid=""
[ "$fg_rc" -eq 0 ] || fail "ferrogate exited with status $fg_rc"
stop_pid "$sw_pid" 3
sw_pid=""
echo "   ferrogate exited cleanly"
echo "== demo OK: IKEv2 tunnel initiated by ferrogate, 5/5 pings, 1 MiB with matching sha256"
