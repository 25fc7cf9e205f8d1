#!/usr/bin/python3
"""A minimal ICMP echo client for tests/appliance.rs on machines without iputils ping.

    ping.py -c COUNT -i INTERVAL -W TIMEOUT DESTINATION

Sends COUNT echo requests INTERVAL seconds apart through the kernel (a raw socket: the
host's routing and ARP do the rest), waits up to TIMEOUT seconds after the last one, and
prints iputils ping's summary line, "N packets transmitted, M received, ...". Exits 0 if
any reply came, 1 otherwise (as ping does).
"""
import argparse
import os
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def request(ident, seq):
    payload = struct.pack("!d", time.time()) + bytes(range(48))
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq) + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", type=int, default=5)
    ap.add_argument("-i", type=float, default=1.0)
    ap.add_argument("-W", type=float, default=2.0)
    ap.add_argument("dst")
    a = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    replied = set()
    sent = 0
    next_send = time.monotonic()
    deadline = None
    while True:
        now = time.monotonic()
        if sent < a.c and now >= next_send:
            sent += 1
            sock.sendto(request(ident, sent), (a.dst, 0))
            next_send = now + a.i
            if sent == a.c:
                deadline = now + a.W
        if deadline is not None and (now >= deadline or len(replied) == a.c):
            break
        wait = (next_send if sent < a.c else deadline) - now
        ready, _, _ = select.select([sock], [], [], max(wait, 0))
        if not ready:
            continue
        data, (src, _) = sock.recvfrom(65535)
        ihl = (data[0] & 0x0F) * 4
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and src == a.dst and 1 <= rseq <= sent:
            if rseq not in replied:
                print(f"{len(data) - ihl} bytes from {src}: icmp_seq={rseq}")
            replied.add(rseq)
    loss = 100 * (sent - len(replied)) // sent
    print(f"{sent} packets transmitted, {len(replied)} received, {loss}% packet loss")
    return 0 if replied else 1


if __name__ == "__main__":
    sys.exit(main())
