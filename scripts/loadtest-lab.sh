#!/usr/bin/env bash
# Tunnel-scale comparison: the same `ferrogate loadtest` against a ferrogate appliance (DPDK
# dataplane on af_packet, a dynamic crypto map answering any peer of DefaultL2LGroup) and
# against strongSwan 5.9 (charon, kernel-libipsec), in one run, on this machine.
#
#   sudo scripts/loadtest-lab.sh [TUNNELS] [LOADTEST OPTIONS...]
#
#   TUNNELS defaults to 1000; further options go to both loadtest runs as they are (e.g.
#   --rate 500, --max-inflight 128, --rekey-after 1 --rekey both, --traffic).
#
# Namespaces (created here, removed on exit):
#
#   fglab-gw: ferrogate        gw-out 10.96.0.1/12 --veth-- lt-gw 10.96.0.2/12  fglab-lt:
#             (run --config)   gw-in 10.100.0.1/16 --veth-- lt-in 10.100.0.2/16   the load
#   fglab-sw: charon           sw0 10.80.0.1/12    --veth-- lt-sw 10.80.0.2/12    tester
#             10.100.0.1 on lo
#
# Each tunnel comes from its own source address (10.160.0.0/16 towards ferrogate,
# 10.170.0.0/16 towards charon, added to the tester's lo for the run, routed through the
# tester's namespace as through an upstream router) with its own /32 of
# 10.200.0.0/16; both responders protect 10.100.0.0/16 and use AES-128-GCM, PRF SHA-256,
# Curve25519 with a fresh random pre-shared key. The responders' RSS and CPU per tunnel
# come from /proc (--responder-pid). Results: the two loadtest reports, and their JSON in
# $RESULTS (default benches/results/loadtest-lab-DATE.json).
#
# FERROGATE_BIN=PATH runs that binary (default: a release build, built if missing);
# LAB_LOGS=DIR keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

TUNNELS=${1:-1000}
shift || true
case "$TUNNELS" in
    '' | *[!0-9]*)
        echo "usage: sudo scripts/loadtest-lab.sh [TUNNELS] [LOADTEST OPTIONS...]" >&2
        exit 2
        ;;
esac
EXTRA=("$@")
NS_GW=fglab-gw
NS_SW=fglab-sw
NS_LT=fglab-lt
CHARON=/usr/lib/ipsec/charon
RESULTS=${RESULTS:-benches/results/loadtest-lab-$(date -u +%Y%m%d-%H%M%S).json}

[ "$(id -u)" -eq 0 ] || { echo "loadtest-lab: needs root (network namespaces)" >&2; exit 1; }
[ -x "$CHARON" ] || { echo "loadtest-lab: strongSwan missing (scripts/setup.sh)" >&2; exit 1; }

if [ -n "${FERROGATE_BIN:-}" ]; then
    bin=$(realpath "$FERROGATE_BIN")
else
    cargo build --release -p ferrogate --bin ferrogate
    bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/ferrogate")
fi

exec 9<"$0"
flock -w 10 9 || { echo "loadtest-lab: another run holds the lab" >&2; exit 1; }

work=$(mktemp -d /tmp/fglab.XXXXXX)
fg_pid=""
sw_pid=""

remove_namespaces() {
    local ns pid
    for ns in "$NS_GW" "$NS_SW" "$NS_LT"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
}

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

cleanup() {
    local rc=$?
    set +e
    [ -n "$fg_pid" ] && stop_pid "$fg_pid" 10
    [ -n "$sw_pid" ] && stop_pid "$sw_pid" 5
    remove_namespaces
    # LAB_LOGS=DIR keeps the responders' logs and the loadtest reports.
    [ -n "${LAB_LOGS:-}" ] && mkdir -p "$LAB_LOGS" \
        && cp "$work"/*.log "$work"/*.json "$LAB_LOGS"/ 2>/dev/null
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "loadtest-lab: FAILED: $*" >&2
    for f in "$work/ferrogate.log" "$work/charon.log" "$work/charon.err"; do
        [ -s "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

remove_namespaces
for ns in "$NS_GW" "$NS_SW" "$NS_LT"; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$NS_GW" link add gw-out type veth peer name lt-gw netns "$NS_LT"
ip -n "$NS_GW" link add gw-in type veth peer name lt-in netns "$NS_LT"
ip -n "$NS_SW" link add sw0 type veth peer name lt-sw netns "$NS_LT"
ip -n "$NS_GW" link set gw-out up
ip -n "$NS_GW" link set gw-in up
for l in lt-gw:10.96.0.2/12 lt-in:10.100.0.2/16 lt-sw:10.80.0.2/12; do
    # ferrogate reads whole frames from af_packet: no TSO/GSO super-frames.
    ip netns exec "$NS_LT" ethtool -K "${l%%:*}" tx off tso off gso off >/dev/null
    ip -n "$NS_LT" addr add "${l#*:}" dev "${l%%:*}"
    ip -n "$NS_LT" link set "${l%%:*}" up
done
ip -n "$NS_SW" addr add 10.80.0.1/12 dev sw0
ip -n "$NS_SW" link set sw0 up
ip -n "$NS_SW" addr add 10.100.0.1/16 dev lo
# The peers sit behind a router (the tester's namespace), as on the Internet: one
# neighbour for all of them (Linux keeps 1,024 by default, and that limit is global).
ip -n "$NS_SW" route add 10.170.0.0/16 via 10.80.0.2

umask 077
od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$work/psk"
psk=$(cat "$work/psk")

# ---- ferrogate --------------------------------------------------------------------------
cat >"$work/ferrogate.toml" <<EOF
[eal]
file_prefix = "fglab"
worker_cores = [1]
main_core = 0
memory_mb = 512
hugepages = "auto"
in_memory = true

[[port]]
name = "wan"
vdev = "net_af_packet0,iface=gw-out"

[[port]]
name = "lan"
vdev = "net_af_packet1,iface=gw-in"

[[interface]]
name = "inside"
port = "lan"
role = "inside"
address = "10.100.0.1/16"

[[interface]]
name = "outside"
port = "wan"
role = "outside"
address = "10.96.0.1/12"

[[route]]                       # upstream: the load tester's namespace
destination = "0.0.0.0/0"
interface = "outside"
via = "10.96.0.2"

[dataplane]
default_action = "discard"
sa_capacity = 262144

[operator]
socket = "$work/ferrogate.sock"

[ike]
max_half_open = 100000
max_half_open_per_peer = 100000
cookie_threshold_percent = 100

[[access_list]]
name = "lab"
rules = [{ action = "permit", protocol = "ip", src = "10.100.0.0/16", dst = "10.200.0.0/16" }]

[[ikev2_policy]]
priority = 1
encryption = ["aes-gcm"]
integrity = ["null"]
prf = ["sha256"]
group = [31]

[[ipsec_proposal]]
name = "gcm"
encryption = ["aes-gcm"]
integrity = ["null"]

[[crypto_map]]
name = "outside_map"
sequence = 65535
dynamic = true
tunnel_group = "DefaultL2LGroup"
match = "lab"
ikev2_proposals = ["gcm"]

[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
ikev2 = true

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key_file = "$work/psk"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key_file = "$work/psk"
peer_id_validate = "nocheck"
EOF
"$bin" check-config "$work/ferrogate.toml" >/dev/null || fail "ferrogate config"
ip netns exec "$NS_GW" "$bin" run --config "$work/ferrogate.toml" --duration 3600 \
    </dev/null >"$work/ferrogate.log" 2>&1 9<&- &
fg_pid=$!
for ((i = 0; i < 100; i++)); do
    "$bin" show interface --socket "$work/ferrogate.sock" >/dev/null 2>&1 && break
    kill -0 "$fg_pid" 2>/dev/null || fail "ferrogate exited"
    sleep 0.1
done

# ---- charon -----------------------------------------------------------------------------
# With --traffic, kernel-libipsec routes each Child SA's selector into its TUN device so
# that the kernel answers the pings through the tunnel; without, charon spends nothing on
# routes while the setup is measured.
routes=no
for a in "${EXTRA[@]}"; do
    [ "$a" = --traffic ] && routes=yes
done
cat >"$work/strongswan.conf" <<EOF
charon {
    load_modular = no
    load = random nonce aes sha1 sha2 hmac gmp curve25519 openssl chapoly gcm kdf kernel-libipsec kernel-netlink socket-default vici
    install_routes = $routes
    ikesa_table_size = 4096
    ikesa_table_segments = 16
    init_limit_half_open = 0
    cookie_threshold = 1000000
    block_threshold = 1000000
    dos_protection = no
    plugins {
        vici {
            socket = unix://$work/charon.vici
        }
        kernel-libipsec {
            allow_peer_ts = yes
        }
    }
    filelog {
        lab {
            path = $work/charon.log
            time_format = %T
            default = 0
            ike = 1
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
    socket = unix://$work/charon.vici
}
EOF
cat >"$work/swanctl.conf" <<EOF
connections {
    lt {
        version = 2
        unique = never
        proposals = aes128gcm16-prfsha256-curve25519
        local {
            auth = psk
            id = 10.80.0.1
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = 10.100.0.0/16
                remote_ts = 10.200.0.0/16
                esp_proposals = aes128gcm16
            }
        }
    }
}
secrets {
    ike-lt {
        secret = "$psk"
    }
}
EOF
export STRONGSWAN_CONF=$work/strongswan.conf
ip netns exec "$NS_SW" unshare -m --propagation private \
    sh -c "mount -t tmpfs fglab-charon /run && exec $CHARON" \
    </dev/null >"$work/charon.out" 2>"$work/charon.err" 9<&- &
sw_pid=$!
for ((i = 0; i < 100; i++)); do
    [ -S "$work/charon.vici" ] && break
    kill -0 "$sw_pid" 2>/dev/null || fail "charon exited"
    sleep 0.1
done
swanctl --load-all --file "$work/swanctl.conf" >/dev/null || fail "swanctl --load-all"

# ---- the load, twice --------------------------------------------------------------------
run() { # NAME TARGET SOURCES RESPONDER_PID
    local name=$1 target=$2 sources=$3 pid=$4
    echo "== $TUNNELS tunnels against $name ($target)"
    ip netns exec "$NS_LT" "$bin" loadtest --target "$target" --tunnels "$TUNNELS" \
        --sources "$sources" --add-sources --local-id '{addr}' --psk-file "$work/psk" \
        --ike aes128gcm16-prfsha256-curve25519 --esp aes128gcm16 --responder-pid "$pid" \
        --json "${EXTRA[@]}" 9<&- >"$work/$name.json" || echo "   ($name: not every tunnel came up)"
    python3 - "$work/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["setup"]
lat = s.get("latency") or {}
print("   up %d/%d in %.2f s (%.0f tunnels/s), latency p50 %s ms / p99 %s ms, %d retransmits"
      % (s["up"], s["requested"], s.get("time_to_all_up_s") or s["seconds"], s["rate_per_s"],
         lat.get("p50_ms"), lat.get("p99_ms"), s["retransmits"]))
resp = (r.get("memory") or {}).get("responder") or {}
if resp.get("bytes_per_tunnel") is not None:
    print("   responder: %.1f KiB RSS and %.2f ms CPU per tunnel"
          % (resp["bytes_per_tunnel"] / 1024, resp.get("cpu_ms_per_tunnel") or 0))
t = r.get("traffic")
if t:
    print("   traffic: %d/%d tunnels answered, %d/%d echo replies, %.2f %% loss, %d decrypt failures"
          % (t["answered"], t["tunnels"], t["replies"], t["requests"], t["loss_percent"],
             t["decrypt_failed"]))
PY
}
run ferrogate 10.96.0.1 10.160.0.0/16 "$fg_pid"
run strongswan 10.80.0.1 10.170.0.0/16 "$sw_pid"

mkdir -p "$(dirname "$RESULTS")"
python3 - "$work/ferrogate.json" "$work/strongswan.json" "$RESULTS" "$TUNNELS" <<'PY'
import json, sys, datetime
fg, sw, out, n = sys.argv[1:5]
doc = {
    "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
    "tunnels": int(n),
    "ferrogate": json.load(open(fg)),
    "strongswan": json.load(open(sw)),
}
json.dump(doc, open(out, "w"), indent=2)
print("== results in %s" % out)
PY
