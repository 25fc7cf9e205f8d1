//! RFC 3948 3.1.2: the TCP/UDP checksum of a transport-mode packet that arrived
//! UDP-encapsulated. The peer computed it over the addresses in its own packet, which a NAT
//! between us has since changed; after decapsulation the packet carries the addresses we
//! received, so the checksum must be fixed before the packet goes up (or on).
//!
//! Of the RFC's three options:
//! - with the peer's original addresses (NAT-OA, RFC 3947; the transport-mode traffic
//!   selectors in IKEv2, RFC 7296 2.23.1) the checksum is updated incrementally (RFC 1624
//!   eq. 3 over the address words): O(1) per packet, and a checksum the sender got wrong
//!   stays wrong, so end-to-end error detection is kept;
//! - without them it is recomputed over the whole segment: O(length), but always right,
//!   and the payload was just authenticated by ESP, so a fresh checksum hides nothing;
//! - zeroing the UDP checksum (IPv4 only) is not used: it does nothing for TCP or IPv6,
//!   and where no NAT intervened it would change a packet that was already correct.
//!
//! A zero UDP checksum means "none" (IPv4) or is invalid (IPv6): it is left as it is.

use crate::wire::ipv6ext::upper_layer;
use crate::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket, checksum};

/// Fixes the TCP or UDP checksum of the restored transport-mode packet `pkt` (exactly the
/// IP packet; its header, `hdr_len` bytes, was checked on the way in). `proto` follows the
/// ESP header; `original` is the ones' complement sum of the peer's original source and
/// destination addresses, if known. Anything else, and malformed segments, are left alone
/// (ESP authenticated them; the receiving stack judges them).
pub(crate) fn fix_transport_checksum(
    pkt: &mut [u8],
    v6: bool,
    hdr_len: usize,
    proto: IpProtocol,
    original: Option<u16>,
) {
    let Some((l4, proto)) = upper(pkt, v6, hdr_len, proto) else { return };
    let (src, dst) = if v6 {
        let p = Ipv6Packet::new_unchecked(&*pkt);
        (Addr::V6(p.src_addr().octets()), Addr::V6(p.dst_addr().octets()))
    } else {
        let p = Ipv4Packet::new_unchecked(&*pkt);
        (Addr::V4(p.src_addr().octets()), Addr::V4(p.dst_addr().octets()))
    };
    let Some(seg) = pkt.get_mut(l4..) else { return };
    let update = |field: u16, orig: u16| {
        let now = checksum::combine(&[src.sum(), dst.sum()]);
        checksum::update_u16(field, orig, now)
    };
    match proto {
        IpProtocol::Udp => {
            let Ok(mut u) = UdpPacket::new_checked(seg) else { return };
            if u.checksum() == 0 {
                return;
            }
            match original {
                Some(orig) => {
                    // RFC 768: a computed 0 is sent as all ones.
                    let c = update(u.checksum(), orig);
                    u.set_checksum(if c == 0 { 0xffff } else { c });
                }
                None => match (src, dst) {
                    (Addr::V4(s), Addr::V4(d)) => u.fill_checksum_v4(&s.into(), &d.into()),
                    (Addr::V6(s), Addr::V6(d)) => u.fill_checksum_v6(&s.into(), &d.into()),
                    _ => {}
                },
            }
        }
        IpProtocol::Tcp => {
            let Ok(mut t) = TcpPacket::new_checked(seg) else { return };
            match original {
                Some(orig) => {
                    let c = update(t.checksum(), orig);
                    t.set_checksum(c);
                }
                // The segment is an IP payload, so it fits the length fields.
                None => {
                    let _ = match (src, dst) {
                        (Addr::V4(s), Addr::V4(d)) => t.fill_checksum_v4(&s.into(), &d.into()),
                        (Addr::V6(s), Addr::V6(d)) => t.fill_checksum_v6(&s.into(), &d.into()),
                        _ => Ok(()),
                    };
                }
            }
        }
        _ => {}
    }
}

#[derive(Clone, Copy)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Addr {
    fn sum(&self) -> u16 {
        match self {
            Addr::V4(a) => checksum::data(a),
            Addr::V6(a) => checksum::data(a),
        }
    }
}

/// The offset and protocol of the upper-layer header: right after the IPv4 header, or
/// after any IPv6 extension headers (Destination Options may follow ESP) that come after
/// ESP. A fragment has no whole segment to fix.
fn upper(pkt: &[u8], v6: bool, hdr_len: usize, proto: IpProtocol) -> Option<(usize, IpProtocol)> {
    if !v6 {
        return Some((hdr_len, proto));
    }
    let up = upper_layer(proto, pkt.get(hdr_len..)?).ok()?;
    up.fragment.is_none().then_some((hdr_len + up.offset, up.protocol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ipv4Addr, Ipv6Addr};

    fn v4_udp(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 8 + 11];
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len(39);
        ip.set_next_header(IpProtocol::Udp);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        ip.fill_checksum();
        let mut u = UdpPacket::new_unchecked(&mut p[20..]);
        u.set_src_port(1701);
        u.set_dst_port(1701);
        u.set_len(19);
        u.payload_mut().copy_from_slice(b"hello, l2tp");
        u.fill_checksum_v4(&src, &dst);
        p
    }

    fn set_addrs(p: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let mut ip = Ipv4Packet::new_unchecked(p);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        ip.fill_checksum();
    }

    fn verifies(p: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(p).unwrap();
        UdpPacket::new_checked(&p[20..]).unwrap().verify_checksum_v4(&ip.src_addr(), &ip.dst_addr())
    }

    const PRIV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
    const PUB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
    const US: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    #[test]
    fn incremental_and_full_agree_on_a_good_checksum() {
        let mut a = v4_udp(PRIV, US);
        set_addrs(&mut a, PUB, US);
        assert!(!verifies(&a));
        let mut b = a.clone();
        let orig =
            checksum::combine(&[checksum::data(&PRIV.octets()), checksum::data(&US.octets())]);
        fix_transport_checksum(&mut a, false, 20, IpProtocol::Udp, Some(orig));
        fix_transport_checksum(&mut b, false, 20, IpProtocol::Udp, None);
        assert!(verifies(&a) && verifies(&b));
        assert_eq!(a, b);
    }

    #[test]
    fn v6_fix_skips_destination_options_after_esp() {
        let (s, d): (Ipv6Addr, Ipv6Addr) =
            ("2001:db8::5".parse().unwrap(), "2001:db8::1".parse().unwrap());
        let mut p = vec![0u8; 40 + 8 + 8 + 4];
        let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
        ip.set_version(6);
        ip.set_payload_len(20);
        ip.set_next_header(IpProtocol::Ipv6Opts);
        ip.set_src_addr(s);
        ip.set_dst_addr(d);
        p[40] = 17; // Destination Options, next: UDP, 8 bytes
        let mut u = UdpPacket::new_unchecked(&mut p[48..]);
        u.set_len(12);
        u.set_checksum(0x1234);
        fix_transport_checksum(&mut p, true, 40, IpProtocol::Ipv6Opts, None);
        assert!(UdpPacket::new_checked(&p[48..]).unwrap().verify_checksum_v6(&s, &d));
    }

    #[test]
    fn zero_udp_checksum_and_other_protocols_are_left_alone() {
        let mut p = v4_udp(PRIV, US);
        UdpPacket::new_unchecked(&mut p[20..]).set_checksum(0);
        let before = p.clone();
        fix_transport_checksum(&mut p, false, 20, IpProtocol::Udp, None);
        assert_eq!(p, before);
        fix_transport_checksum(&mut p, false, 20, IpProtocol::Icmp, None);
        assert_eq!(p, before);
        // A truncated segment is not touched either.
        fix_transport_checksum(&mut p[..25], false, 20, IpProtocol::Tcp, None);
        assert_eq!(p, before);
    }

    proptest::proptest! {
        /// Whatever follows a checked IP header (the fix runs on authenticated bytes, but
        /// those are the peer's), nothing panics.
        #[test]
        fn arbitrary_segments_never_panic(
            v6: bool,
            proto: u8,
            original: Option<u16>,
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
        ) {
            let hdr = if v6 { 40 } else { 20 };
            let mut p = vec![0u8; hdr];
            if v6 {
                Ipv6Packet::new_unchecked(&mut p[..]).set_version(6);
            } else {
                Ipv4Packet::new_unchecked(&mut p[..]).set_version(4);
            }
            p.extend_from_slice(&tail);
            fix_transport_checksum(&mut p, v6, hdr, IpProtocol::from(proto), original);
            for proto in [IpProtocol::Tcp, IpProtocol::Udp, IpProtocol::Ipv6Opts] {
                fix_transport_checksum(&mut p, v6, hdr, proto, original);
            }
        }
    }
}
