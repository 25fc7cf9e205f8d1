#!/usr/bin/python3
"""Independent view of the frames the ferrogate appliance sends and receives, for
tests/appliance.rs: scapy parses every frame and decrypts ESP with its own
SecurityAssociation, or builds ESP frames for ferrogate to decrypt.

One JSON request on stdin, one JSON answer on stdout.

SA (both ops): {"spi": int, "crypt": "AES-GCM" | "AES-CBC", "crypt_key": hex (key || salt
for GCM), "auth": null | "SHA2-256-128", "auth_key": hex, "src": outer source, "dst": outer
destination, "nat_t": optional [sport, dport] for ESP in UDP (RFC 3948)}.

{"op": "inspect", "sas": [SA...], "frames": [hex...]}
  -> {"frames": [FRAME...]}, one per input frame:
  {"eth_dst", "eth_src", "type": ethertype (inside an 802.1Q tag), "vlan": VID (tagged),
   "arp": {"op", "hwsrc", "psrc", "hwdst", "pdst"}                     (ARP only)
   "ip": {"src", "dst", "proto", "ttl", "id", "flags", "tos", "len", "frame_room",
          "chksum_ok", "hex": the IP packet (total length, no Ethernet padding)}  (IPv4)
   "icmp": {"type", "code", "id", "seq", "chksum_ok", "payload": hex}  (ICMP)
   "udp": {"sport", "dport", "len", "chksum"}                           (ESP in UDP)
   "esp": {"spi", "seq", "inner": hex} or {"spi", "seq", "error": str} (ESP, raw or in
          UDP: UDP to or from port 4500 whose first four payload bytes are not zero)}

{"op": "seal", "sa": SA, "eth_src", "eth_dst", "packets": [{"seq": int, "packet": hex}]}
  -> {"frames": [hex...]}: Ethernet / outer IPv4 / [UDP /] ESP (tunnel mode) per packet.
"""
import json
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw, raw
from scapy.utils import checksum


def make_sa(sa):
    auth_key = bytes.fromhex(sa.get("auth_key") or "")
    return SecurityAssociation(
        ESP,
        spi=sa["spi"],
        crypt_algo=sa["crypt"],
        crypt_key=bytes.fromhex(sa["crypt_key"]),
        auth_algo=sa.get("auth") or "NULL",
        auth_key=auth_key or None,
        tunnel_header=IP(src=sa["src"], dst=sa["dst"]),
    )


def ip_checksum_ok(ip_bytes):
    hdr = IP(ip_bytes)
    want = hdr.chksum
    del hdr.chksum
    return IP(raw(hdr)).chksum == want


def icmp_view(ip_bytes):
    """The ICMP header, read from the bytes: "id" and "seq" are the two 16-bit halves of
    the rest of the header (echo: identifier and sequence number; fragmentation needed:
    unused and the next-hop MTU, RFC 1191)."""
    body = ip_bytes[(ip_bytes[0] & 0x0F) * 4:]
    return {
        "type": body[0],
        "code": body[1],
        "id": int.from_bytes(body[4:6], "big"),
        "seq": int.from_bytes(body[6:8], "big"),
        "chksum_ok": checksum(body) == 0,
        "payload": body[8:].hex(),
    }


def inspect(req):
    sas = {s["spi"]: s for s in req["sas"]}
    out = []
    for h in req["frames"]:
        data = bytes.fromhex(h)
        eth = Ether(data)
        f = {"eth_dst": eth.dst, "eth_src": eth.src, "type": eth.type}
        l3 = 14
        if Dot1Q in eth:
            f["vlan"] = eth[Dot1Q].vlan
            f["type"] = eth[Dot1Q].type
            l3 = 18
        if ARP in eth:
            a = eth[ARP]
            f["arp"] = {"op": a.op, "hwsrc": a.hwsrc, "psrc": a.psrc, "hwdst": a.hwdst,
                        "pdst": a.pdst}
        elif IP in eth:
            room = data[l3:]
            ip = IP(room)
            ip_bytes = room[: ip.len]
            f["ip"] = {
                "src": ip.src,
                "dst": ip.dst,
                "proto": ip.proto,
                "ttl": ip.ttl,
                "id": ip.id,
                "flags": int(ip.flags),
                "tos": ip.tos,
                "len": ip.len,
                "frame_room": len(room),
                "chksum_ok": ip_checksum_ok(ip_bytes),
                "hex": ip_bytes.hex(),
            }
            if ip.proto == 1:
                f["icmp"] = icmp_view(ip_bytes)
            esp_bytes = None
            if ip.proto == 50:
                esp_bytes = ip_bytes[(ip_bytes[0] & 0x0F) * 4:]
            elif ip.proto == 17 and UDP in ip:
                u = ip[UDP]
                payload = raw(u.payload)
                if 4500 in (u.sport, u.dport) and len(payload) >= 8 and payload[:4] != bytes(4):
                    f["udp"] = {"sport": u.sport, "dport": u.dport, "len": u.len,
                                "chksum": u.chksum}
                    esp_bytes = payload
            if esp_bytes is not None:
                f["esp"] = decrypt(sas, ip.src, ip.dst, esp_bytes)
        out.append(f)
    return {"frames": out}


def decrypt(sas, src, dst, esp_bytes):
    """Decrypts raw ESP bytes (the UDP header of RFC 3948 already removed)."""
    spi, seq = int.from_bytes(esp_bytes[:4], "big"), int.from_bytes(esp_bytes[4:8], "big")
    out = {"spi": spi, "seq": seq}
    sa = sas.get(spi)
    if sa is None:
        out["error"] = "no SA for this SPI"
        return out
    try:
        # decrypt() mutates its argument (scapy 2.5): give it a fresh packet.
        pkt = IP(raw(IP(src=src, dst=dst, proto=50) / Raw(esp_bytes)))
        out["inner"] = raw(make_sa(sa).decrypt(pkt)).hex()
    except Exception as e:  # noqa: BLE001 - reported to the test
        out["error"] = f"{type(e).__name__}: {e}"
    return out


def seal(req):
    sa = make_sa(req["sa"])
    nat_t = req["sa"].get("nat_t")
    frames = []
    for p in req["packets"]:
        outer = IP(raw(sa.encrypt(IP(bytes.fromhex(p["packet"])), seq_num=p["seq"])))
        if nat_t:
            # Built here rather than by scapy's nat_t_header (wrong UDP length in 2.5).
            esp = raw(outer.payload)
            outer = IP(src=outer.src, dst=outer.dst, id=outer.id, ttl=outer.ttl) / UDP(
                sport=nat_t[0], dport=nat_t[1], chksum=0) / Raw(esp)
        frame = Ether(src=req["eth_src"], dst=req["eth_dst"]) / IP(raw(outer))
        frames.append(raw(frame).hex())
    return {"frames": frames}


def main():
    req = json.loads(sys.stdin.read())
    ops = {"inspect": inspect, "seal": seal}
    json.dump(ops[req["op"]](req), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
