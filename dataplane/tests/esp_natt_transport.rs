//! RFC 3948 3.1.2: transport mode over UDP encapsulation through NAT. The peer computes its
//! TCP/UDP checksums over its own (private) addresses; after decapsulation the packet
//! carries the translated ones, and its checksum must verify against them.

mod esp_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::esp::{Disposition, EspWorker};
use dataplane::sa::{Direction, Encap, InboundSa, Mode, OriginalAddrs, OutboundSa};
use dataplane::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};
use esp_support::*;

/// The peer's own address, behind a NAT.
const PEER_PRIV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
/// What the NAT makes of it.
const PEER_PUB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// Our public address (the one the peer sends to) and, behind our own NAT, the real one.
const US_PUB: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const US_PRIV: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const PEER_PRIV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5);
const PEER_PUB6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 0, 0, 0, 0, 5);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

/// An IP packet from `src` to `dst` carrying a TCP segment or UDP datagram with `len`
/// payload bytes and a checksum computed over `src`/`dst`, then off by `skew`.
fn packet(src: IpAddr, dst: IpAddr, proto: IpProtocol, len: usize, skew: u16) -> Vec<u8> {
    let l4_len = if proto == IpProtocol::Tcp { 20 } else { 8 } + len;
    let ip_len = if src.is_ipv4() { 20 } else { 40 };
    let mut p = vec![0u8; ip_len + l4_len];
    for (k, b) in p[ip_len..].iter_mut().enumerate() {
        *b = (k * 37 + 11) as u8;
    }
    let seg = &mut p[ip_len..];
    match proto {
        IpProtocol::Tcp => {
            let mut t = TcpPacket::new_unchecked(&mut *seg);
            t.set_src_port(40000);
            t.set_dst_port(443);
            t.set_header_len(20);
            t.set_flags(0x018);
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => t.fill_checksum_v4(&s, &d).unwrap(),
                (IpAddr::V6(s), IpAddr::V6(d)) => t.fill_checksum_v6(&s, &d).unwrap(),
                _ => unreachable!(),
            }
            let c = t.checksum().wrapping_add(skew);
            t.set_checksum(c);
        }
        _ => {
            let mut u = UdpPacket::new_unchecked(&mut *seg);
            u.set_src_port(1701);
            u.set_dst_port(1701);
            u.set_len(l4_len as u16);
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => u.fill_checksum_v4(&s, &d),
                (IpAddr::V6(s), IpAddr::V6(d)) => u.fill_checksum_v6(&s, &d),
                _ => unreachable!(),
            }
            let c = u.checksum().wrapping_add(skew);
            u.set_checksum(c);
        }
    }
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len((ip_len + l4_len) as u16);
            ip.set_ttl(64);
            ip.set_next_header(proto);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            ip.fill_checksum();
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
            ip.set_version(6);
            ip.set_payload_len(l4_len as u16);
            ip.set_hop_limit(64);
            ip.set_next_header(proto);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
        }
        _ => unreachable!(),
    }
    p
}

/// Whether the packet's TCP/UDP checksum verifies over its own addresses.
fn checksum_ok(p: &[u8]) -> bool {
    if let Ok(ip) = Ipv4Packet::new_checked(p) {
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        match ip.next_header() {
            IpProtocol::Tcp => {
                TcpPacket::new_checked(ip.payload()).unwrap().verify_checksum_v4(&s, &d)
            }
            _ => UdpPacket::new_checked(ip.payload()).unwrap().verify_checksum_v4(&s, &d),
        }
    } else {
        let ip = Ipv6Packet::new_checked(p).unwrap();
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        match ip.next_header() {
            IpProtocol::Tcp => {
                TcpPacket::new_checked(ip.payload()).unwrap().verify_checksum_v6(&s, &d)
            }
            _ => UdpPacket::new_checked(ip.payload()).unwrap().verify_checksum_v6(&s, &d),
        }
    }
}

/// What a NAT does to the outer packet: new addresses, IPv4 header checksum fixed; the
/// UDP checksum of ESP-in-UDP is zero, so nothing else changes.
fn nat(p: &mut [u8], src: IpAddr, dst: IpAddr) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = Ipv4Packet::new_unchecked(p);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            ip.fill_checksum();
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = Ipv6Packet::new_unchecked(p);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
        }
        _ => unreachable!(),
    }
}

struct Path {
    /// Addresses as the peer sees them (its packet) and as we see them (after NAT).
    peer_side: (IpAddr, IpAddr),
    our_side: (IpAddr, IpAddr),
}

fn v4_both_natted() -> Path {
    Path {
        peer_side: (PEER_PRIV.into(), US_PUB.into()),
        our_side: (PEER_PUB.into(), US_PRIV.into()),
    }
}

fn v6_src_natted() -> Path {
    Path { peer_side: (PEER_PRIV6.into(), US6.into()), our_side: (PEER_PUB6.into(), US6.into()) }
}

/// The peer's outbound SA and our inbound SA, transport mode, UDP-encapsulated (or not).
fn sas(path: &Path, udp: bool, original: bool) -> (OutboundSa, InboundSa) {
    let t = gcm128();
    let encap = if udp { Encap::Udp { src_port: 4500, dst_port: 4500 } } else { Encap::Raw };
    let mut o = config(t, Direction::Outbound, path.peer_side.0, path.peer_side.1);
    let mut i = config(t, Direction::Inbound, path.our_side.1, path.our_side.0);
    for c in [&mut o, &mut i] {
        c.mode = Mode::Transport;
        c.encap = encap;
    }
    if original {
        i.original_addrs = Some(OriginalAddrs { peer: path.peer_side.0, local: path.peer_side.1 });
    }
    (OutboundSa::new(&o).unwrap(), InboundSa::new(&i).unwrap())
}

/// Peer encapsulates, the NAT translates, we decapsulate.
fn through_nat(path: &Path, udp: bool, original: bool, pkt: &[u8]) -> Vec<u8> {
    let (o, i) = sas(path, udp, original);
    let mut w = EspWorker::new();
    let (d, out, _) = encap(&mut w, &o, &[pkt.to_vec()], 0);
    assert_eq!(d, [Disposition::Forward]);
    let mut wire = out[0].to_vec();
    nat(&mut wire, path.our_side.0, path.our_side.1);
    let (r, back) = decap(&mut w, &i, &[wire], 0);
    assert_eq!(r[0].disposition, Disposition::Forward);
    back[0].to_vec()
}

#[test]
fn restored_checksums_verify_after_nat_with_and_without_original_addresses() {
    for path in [v4_both_natted(), v6_src_natted()] {
        for proto in [IpProtocol::Tcp, IpProtocol::Udp] {
            for len in [0, 1, 33, 1000] {
                let pkt = packet(path.peer_side.0, path.peer_side.1, proto, len, 0);
                assert!(checksum_ok(&pkt));
                let mut expect = pkt.clone();
                nat(&mut expect, path.our_side.0, path.our_side.1);
                assert!(!checksum_ok(&expect), "the NAT broke the checksum");
                for original in [false, true] {
                    let back = through_nat(&path, true, original, &pkt);
                    let what = format!("{proto} len {len} original {original}");
                    assert!(checksum_ok(&back), "{what}");
                    // Only the addresses and the checksum differ from the peer's packet.
                    let l4 = if path.peer_side.0.is_ipv4() { 20 } else { 40 };
                    let ck = if proto == IpProtocol::Tcp { 16 } else { 6 };
                    let mut a = back.clone();
                    a[l4 + ck..l4 + ck + 2].copy_from_slice(&[0, 0]);
                    expect[l4 + ck..l4 + ck + 2].copy_from_slice(&[0, 0]);
                    assert_eq!(a, expect, "{what}");
                }
            }
        }
    }
}

#[test]
fn incremental_fix_keeps_a_senders_bad_checksum_bad() {
    // With the original addresses the fix is incremental: an error the sender made
    // survives it (end-to-end detection kept). Without them the checksum is recomputed.
    let path = v4_both_natted();
    for proto in [IpProtocol::Tcp, IpProtocol::Udp] {
        let pkt = packet(path.peer_side.0, path.peer_side.1, proto, 64, 1);
        assert!(!checksum_ok(&through_nat(&path, true, true, &pkt)), "{proto}");
        assert!(checksum_ok(&through_nat(&path, true, false, &pkt)), "{proto}");
    }
}

#[test]
fn zero_udp_checksum_stays_zero() {
    let path = v4_both_natted();
    let mut pkt = packet(path.peer_side.0, path.peer_side.1, IpProtocol::Udp, 40, 0);
    UdpPacket::new_unchecked(&mut pkt[20..]).set_checksum(0);
    for original in [false, true] {
        let back = through_nat(&path, true, original, &pkt);
        assert_eq!(UdpPacket::new_checked(&back[20..]).unwrap().checksum(), 0);
    }
}

#[test]
fn without_nat_the_packet_comes_back_unchanged() {
    // ESP-in-UDP with no address change (kernel-libipsec style forced encapsulation) and
    // raw ESP transport mode: byte-identical restores.
    let same = Path { peer_side: (V4_LOCAL, V4_REMOTE), our_side: (V4_LOCAL, V4_REMOTE) };
    for proto in [IpProtocol::Tcp, IpProtocol::Udp] {
        let pkt = packet(V4_LOCAL, V4_REMOTE, proto, 100, 0);
        for (udp, original) in [(true, false), (true, true), (false, false)] {
            assert_eq!(through_nat(&same, udp, original, &pkt), pkt, "{proto} udp {udp}");
        }
        // Raw ESP is never fixed: a bad checksum stays exactly as sent.
        let bad = packet(V4_LOCAL, V4_REMOTE, proto, 100, 7);
        assert_eq!(through_nat(&same, false, false, &bad), bad);
    }
}

#[test]
fn original_addresses_of_the_other_family_are_refused() {
    let t = gcm128();
    let mut i = config(t, Direction::Inbound, V4_LOCAL, V4_REMOTE);
    i.original_addrs = Some(OriginalAddrs { peer: V6_REMOTE, local: V4_LOCAL });
    assert_eq!(InboundSa::new(&i).unwrap_err(), dataplane::sa::SaError::FamilyMismatch);
}
