#!/usr/bin/python3
"""A TCP transfer with a checksum, for tests/appliance.rs (through the kernels of two
network namespaces and the ferrogates between them).

    tcp_transfer.py serve ADDRESS PORT       accept one connection, read it to the end,
                                             print "BYTES SHA256"
    tcp_transfer.py send ADDRESS PORT BYTES  connect (retrying for 10 s), send BYTES
                                             deterministic bytes, print "BYTES SHA256"
"""
import hashlib
import socket
import sys
import time

TIMEOUT = 20


def serve(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    s.settimeout(TIMEOUT)
    print("listening", flush=True)
    conn, _ = s.accept()
    conn.settimeout(TIMEOUT)
    digest, n = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        digest.update(chunk)
        n += len(chunk)
    print(n, digest.hexdigest(), flush=True)


def send(addr, port, size):
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=TIMEOUT)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)  # wait for the server to close: everything arrived
    conn.close()
    print(size, hashlib.sha256(data).hexdigest(), flush=True)


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))


if __name__ == "__main__":
    main()
