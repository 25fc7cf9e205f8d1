#!/usr/bin/env bash
# Rates and loss of a running ferrogate from its own port counters, for users who drive it
# with their own generator (Pktgen-DPDK or a hardware tester). Reads
# `ferrogate show interface --json` twice, SECS apart, and prints per interface the packet
# rate received and sent (Mpps), Gbit/s of the frames (FCS excluded, as ferrogate bench),
# the NIC's drops (rx_missed, rx_nombuf, rx_errors, tx_errors), and ferrogate's loss in the
# given direction: packets received on the ingress interface minus packets sent on the
# egress one, over the interval.
#
#   scripts/pktgen/ferrogate-rate.sh [--instance NAME | --socket PATH] [--dir enc|dec] [SECS]
#
# enc: ingress = the inside interface, egress = the outside one; dec: the other way round.
# Counters are read while traffic flows: packets in flight at the two reads make the loss
# of one interval slightly positive or negative; use an interval of several seconds.
set -euo pipefail

ferrogate="${FERROGATE:-ferrogate}"
target=(--instance "${FERROGATE_INSTANCE:-fg-memif-bench}")
dir=enc
secs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --instance) target=(--instance "$2"); shift 2 ;;
        --socket) target=(--socket "$2"); shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) secs="$1"; shift ;;
    esac
done
case "$dir" in enc|dec) ;; *) echo "--dir must be enc or dec" >&2; exit 2 ;; esac

a=$(mktemp) b=$(mktemp)
trap 'rm -f "$a" "$b"' EXIT
"$ferrogate" show interface --json "${target[@]}" >"$a"
t0=$(date +%s.%N)
sleep "$secs"
"$ferrogate" show interface --json "${target[@]}" >"$b"
t1=$(date +%s.%N)

python3 - "$a" "$b" "$t0" "$t1" "$dir" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
secs = float(sys.argv[4]) - float(sys.argv[3])
direction = sys.argv[5]
before = {i["name"]: i for i in a}
by_role = {}
print(f"over {secs:.2f} s:")
for now in b:
    old = before.get(now["name"])
    if old is None:
        continue
    d = {k: now[k] - old[k] for k in now if isinstance(now[k], int) and not isinstance(now[k], bool)}
    by_role[now["role"]] = d
    print(f"  {now['name']} ({now['role']}, {now['device']}): "
          f"rx {d['rx_packets'] / secs / 1e6:.3f} Mpps {d['rx_bytes'] * 8 / secs / 1e9:.2f} Gbit/s, "
          f"tx {d['tx_packets'] / secs / 1e6:.3f} Mpps {d['tx_bytes'] * 8 / secs / 1e9:.2f} Gbit/s, "
          f"rx_missed {d['rx_missed']} rx_nombuf {d['rx_nombuf']} "
          f"rx_errors {d['rx_errors']} tx_errors {d['tx_errors']}")
ingress, egress = ("inside", "outside") if direction == "enc" else ("outside", "inside")
if ingress in by_role and egress in by_role:
    rx = by_role[ingress]["rx_packets"]
    tx = by_role[egress]["tx_packets"]
    lost = rx - tx
    pct = lost * 100 / rx if rx else 0.0
    print(f"{direction}: {rx} in on {ingress}, {tx} out on {egress}: "
          f"{tx / secs / 1e6:.3f} Mpps forwarded, lost {lost} ({pct:.3f} %), "
          f"not counting the NIC's rx_missed {by_role[ingress]['rx_missed']}")
PY
