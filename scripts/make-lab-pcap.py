#!/usr/bin/env python3
"""Writes the lab traffic capture: IPv4/UDP frames of IMIX-like sizes (Python stdlib only).

Usage: make-lab-pcap.py OUT.pcap [COUNT]
"""
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(i: int, size: int) -> bytes:
    eth = bytes.fromhex("020000000002" "020000000001") + struct.pack("!H", 0x0800)
    payload_len = size - 14 - 20 - 8
    payload = bytes((i + j) & 0xFF for j in range(payload_len))
    udp = struct.pack("!HHHH", 1024 + i % 64, 4500 if i % 2 else 9, 8 + payload_len, 0)
    total = 20 + 8 + payload_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, i & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1 + i % 200]), bytes([10, 1, 0, 1]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return eth + ip + udp + payload


def main() -> None:
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    sizes = [64, 64, 64, 64, 64, 64, 64, 594, 594, 594, 594, 1400]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            data = frame(i, sizes[i % len(sizes)])
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), len(data)))
            f.write(data)


if __name__ == "__main__":
    main()
