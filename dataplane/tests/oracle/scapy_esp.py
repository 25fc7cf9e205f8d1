#!/usr/bin/python3
"""Independent ESP implementation used as an oracle by ferrogate's tests.

Reads JSON lines on stdin, one case each, and writes one JSON line per case on stdout.

A case:
  {"id": N, "op": "encrypt" | "decrypt",
   "cipher": "aes-gcm" | "aes-gmac" | "aes-cbc" | "aes-ctr" | "chacha20-poly1305" | "null",
   "integ": "none" | "sha1-96" | "sha256-128" | "sha384-192" | "sha512-256",
   "icv_len": 8|12|16 (aes-gcm only), "enc_key": hex (key || salt), "auth_key": hex,
   "spi": int, "seq": int (low 32 bits), "esn": bool, "seq_hi": int,
   "mode": "tunnel" | "transport", "outer_src": str, "outer_dst": str,
   "nat_t": null | [sport, dport], "packet": hex}
For "encrypt", packet is the plaintext IP packet and the reply's packet is the outer packet.
For "decrypt", packet is the outer packet (IP/ESP or IP/UDP/ESP) and the reply's packet is
the inner packet (tunnel) or the restored IP packet (transport).
Reply: {"id": N, "ok": true, "packet": hex} or {"id": N, "ok": false, "error": str}.

Where scapy's SecurityAssociation implements the transform (AES-CBC/CTR, AES-GCM with a
16-byte ICV, ChaCha20-Poly1305, NULL; HMAC without ESN) it does all the work. It lacks
AES-GMAC, truncated GCM ICVs and ESN with HMAC: for those the oracle frames the packet with
scapy's ESP layer and applies the RFC's computation with the `cryptography` package.
"""
import json
import os
import struct
import sys

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw, raw

INTEG = {
    "none": (None, 0, None),
    "sha1-96": ("HMAC-SHA1-96", 12, hashes.SHA1),
    "sha256-128": ("SHA2-256-128", 16, hashes.SHA256),
    "sha384-192": ("SHA2-384-192", 24, hashes.SHA384),
    "sha512-256": ("SHA2-512-256", 32, hashes.SHA512),
}
SCAPY_CIPHER = {
    "aes-gcm": "AES-GCM",
    "aes-cbc": "AES-CBC",
    "aes-ctr": "AES-CTR",
    "chacha20-poly1305": "CHACHA20-POLY1305",
    "null": "NULL",
}


def ip_of(data):
    return IP(data) if data[0] >> 4 == 4 else IPv6(data)


def outer_header(case):
    if ":" in case["outer_src"]:
        return IPv6(src=case["outer_src"], dst=case["outer_dst"])
    return IP(src=case["outer_src"], dst=case["outer_dst"])


def needs_manual(case):
    integ_name = INTEG[case["integ"]][0]
    return (
        case["cipher"] == "aes-gmac"
        or (case["cipher"] == "aes-gcm" and case.get("icv_len", 16) != 16)
        or (case["esn"] and integ_name is not None)
    )


def make_sa(case):
    integ_name = INTEG[case["integ"]][0]
    nat_t = case.get("nat_t")
    return SecurityAssociation(
        ESP,
        spi=case["spi"],
        crypt_algo=SCAPY_CIPHER[case["cipher"]],
        crypt_key=bytes.fromhex(case["enc_key"]) or None,
        auth_algo=integ_name,
        auth_key=bytes.fromhex(case["auth_key"]) or None,
        tunnel_header=outer_header(case) if case["mode"] == "tunnel" else None,
        nat_t_header=UDP(sport=nat_t[0], dport=nat_t[1]) if nat_t else None,
        esn_en=case["esn"],
        esn=case["seq_hi"],
    )


def fix_udp_len(pkt):
    """scapy 2.5 writes a wrong UDP length under NAT-T: rebuild it from the bytes."""
    if UDP in pkt:
        pkt[UDP].len = len(raw(pkt[UDP]))
        pkt[UDP].chksum = 0
        if IP in pkt:
            del pkt[IP].chksum
    return pkt.__class__(raw(pkt))


# --- the RFC computations, for what scapy lacks -------------------------------------------

def pad_region(payload, nh, block):
    padlen = (-(len(payload) + 2)) % block
    return payload + bytes(range(1, padlen + 1)) + bytes([padlen, nh])


def manual_icv(case, header, iv, region):
    """Returns (region_out, icv) for sealing."""
    key = bytes.fromhex(case["enc_key"])
    spi_seq = header
    hi = struct.pack("!L", case["seq_hi"])
    if case["cipher"] in ("aes-gcm", "aes-gmac"):
        k, salt = key[:-4], key[-4:]
        aad = spi_seq[:4] + hi + spi_seq[4:] if case["esn"] else spi_seq
        icv_len = case.get("icv_len", 16) if case["cipher"] == "aes-gcm" else 16
        enc = Cipher(algorithms.AES(k), modes.GCM(salt + iv), backend=default_backend()).encryptor()
        if case["cipher"] == "aes-gmac":
            enc.authenticate_additional_data(aad + iv + region)  # RFC 4543 3.3
            enc.finalize()
            return region, enc.tag[:16]
        enc.authenticate_additional_data(aad)
        out = enc.update(region) + enc.finalize()
        return out, enc.tag[:icv_len]
    # cipher + HMAC with ESN: scapy encrypts, the ICV is computed here (RFC 4303 3.3.2.1)
    raise ValueError("unexpected manual case")


def encrypt(case):
    pkt = ip_of(bytes.fromhex(case["packet"]))
    if not needs_manual(case):
        sa = make_sa(case)
        out = sa.encrypt(pkt, seq_num=case["seq"], esn_en=case["esn"], esn=case["seq_hi"])
        return raw(fix_udp_len(out))
    # Manual path: frame with scapy, compute crypto per RFC.
    integ_name, icv_len, digest = INTEG[case["integ"]]
    header = struct.pack("!LL", case["spi"], case["seq"])
    if case["mode"] == "tunnel":
        payload, nh, base = raw(pkt), (4 if pkt.version == 4 else 41), outer_header(case)
    else:
        base = pkt.copy()
        payload = raw(base.payload)
        nh = base.proto if base.version == 4 else base.nh
        base.remove_payload()
        # Lengths and checksum are recomputed for the new payload.
        if base.version == 4:
            del base.len
            del base.chksum
        else:
            del base.plen
    if case["cipher"] in ("aes-gcm", "aes-gmac"):
        iv = os.urandom(8)
        region = pad_region(payload, nh, 4)
        body, icv = manual_icv(case, header, iv, region)
        esp_bytes = header + iv + body + icv
    else:
        # Encrypt with scapy's cipher (no integrity), then append an ESN-aware HMAC.
        c = dict(case, integ="none", esn=False)
        sa = make_sa(c)
        sa.tunnel_header = None
        sa.nat_t_header = None
        inner = IP(src="0.0.0.0", dst="0.0.0.0", proto=nh) / Raw(payload)
        enc = sa.encrypt(inner, seq_num=case["seq"])
        esp_bytes = raw(enc[ESP])
        mac = hmac.HMAC(bytes.fromhex(case["auth_key"]), digest(), backend=default_backend())
        mac.update(esp_bytes + struct.pack("!L", case["seq_hi"]))
        esp_bytes += mac.finalize()[:icv_len]
    nat_t = case.get("nat_t")
    if base.version == 4:
        base.proto = 17 if nat_t else 50
    else:
        base.nh = 17 if nat_t else 50
    if nat_t:
        out = base / UDP(sport=nat_t[0], dport=nat_t[1], chksum=0) / Raw(esp_bytes)
    else:
        out = base / Raw(esp_bytes)
    return raw(fix_udp_len(out.__class__(raw(out))))


def decrypt(case):
    data = bytes.fromhex(case["packet"])
    pkt = ip_of(data)
    nat_t = case.get("nat_t")
    if nat_t:
        # Strip the UDP header so scapy sees IP/ESP (RFC 3948 3.2 decapsulation).
        udp = pkt[UDP]
        esp_bytes = raw(udp.payload)
        base = pkt.copy()
        if base.version == 4:
            base[IP].remove_payload()
            base.proto = 50
            del base.len
            del base.chksum
        else:
            base.remove_payload()
            base.nh = 50
            del base.plen
        pkt = ip_of(raw(base / ESP(esp_bytes)))
    if not needs_manual(case):
        sa = make_sa(case)
        sa.nat_t_header = None
        return raw(sa.decrypt(pkt.copy(), esn_en=case["esn"], esn=case["seq_hi"]))
    integ_name, icv_len, digest = INTEG[case["integ"]]
    esp = raw(pkt[ESP])
    header, rest = esp[:8], esp[8:]
    if case["cipher"] in ("aes-gcm", "aes-gmac"):
        icv_len = case.get("icv_len", 16) if case["cipher"] == "aes-gcm" else 16
        iv, body, icv = rest[:8], rest[8:-icv_len], rest[-icv_len:]
        key = bytes.fromhex(case["enc_key"])
        k, salt = key[:-4], key[-4:]
        hi = struct.pack("!L", case["seq_hi"])
        aad = header[:4] + hi + header[4:] if case["esn"] else header
        dec = Cipher(algorithms.AES(k), modes.GCM(salt + iv, icv, min_tag_length=8),
                     backend=default_backend()).decryptor()
        if case["cipher"] == "aes-gmac":
            dec.authenticate_additional_data(aad + iv + body)
            dec.finalize()
            region = body
        else:
            dec.authenticate_additional_data(aad)
            region = dec.update(body) + dec.finalize()
    else:
        body, icv = esp[:-icv_len], esp[-icv_len:]
        mac = hmac.HMAC(bytes.fromhex(case["auth_key"]), digest(), backend=default_backend())
        mac.update(body + struct.pack("!L", case["seq_hi"]))
        if mac.finalize()[:icv_len] != icv:
            raise ValueError("ICV mismatch")
        c = dict(case, integ="none", esn=False, mode="transport")
        sa = make_sa(c)
        sa.nat_t_header = None
        plain = sa.decrypt(IP(raw(IP(src="0.0.0.0", dst="0.0.0.0") / ESP(body))))
        return finish(case, pkt, raw(plain.payload), plain.proto)
    padlen, nh = region[-2], region[-1]
    if padlen + 2 > len(region):
        raise ValueError("bad pad length")
    pad = region[len(region) - 2 - padlen:-2]
    if pad != bytes(range(1, padlen + 1)):
        raise ValueError("bad padding")
    inner = region[: len(region) - 2 - padlen]
    return finish(case, pkt, inner, nh)


def finish(case, outer, inner, nh):
    if case["mode"] == "tunnel":
        return inner
    base = outer.copy()
    if base.version == 4:
        base.remove_payload()
        base.proto = nh
        del base.len
        del base.chksum
    else:
        base.remove_payload()
        base.nh = nh
        del base.plen
    return raw(base.__class__(raw(base / Raw(inner))))


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        case = json.loads(line)
        try:
            out = encrypt(case) if case["op"] == "encrypt" else decrypt(case)
            reply = {"id": case["id"], "ok": True, "packet": out.hex()}
        except Exception as err:  # every failure is reported to the test, which decides
            reply = {"id": case["id"], "ok": False, "error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
