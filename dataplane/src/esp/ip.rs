//! The family-neutral summary of an IP header that the ESP engine works from ([`IpInfo`]),
//! computed once per packet from the [`crate::wire`] views, and the few header rewrites
//! both directions share. Fields are read and written through `wire::ipv4::Packet`,
//! `wire::ipv6::Packet` and `wire::ipv6ext::ExtHeader`.

use crate::wire::ipv6ext::ExtHeader;
use crate::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, checksum, ipv6};

/// Where the byte naming the upper-layer protocol sits (rewritten by transport mode and
/// by IPv6 reassembly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextHeaderAt {
    /// The IPv4 Protocol field.
    Ipv4,
    /// The IPv6 fixed header's Next Header field.
    Ipv6,
    /// The Next Header field of the IPv6 extension header starting at this offset.
    Ipv6Ext(usize),
}

/// What the ESP engine needs to know about an IP header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpInfo {
    pub v6: bool,
    /// Bytes before the upper-layer header (IPv4 header with options; IPv6 fixed header plus
    /// the extension headers that precede it).
    pub hdr_len: usize,
    /// Where the upper-layer protocol is named.
    pub nh_at: NextHeaderAt,
    /// The upper-layer protocol (or the Fragment header when one was reached).
    pub proto: IpProtocol,
    /// Length of the whole IP packet per its header.
    pub total_len: usize,
    /// DSCP and ECN: IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    pub df: bool,
    /// IPv4: MF set or offset non-zero. IPv6: a Fragment header was reached.
    pub is_fragment: bool,
}

/// Parses an IPv4 or IPv6 header at the start of `data` (checked views). IPv6 extension
/// headers (Hop-by-Hop, Routing, Destination Options) are walked up to the upper layer or
/// a Fragment header. `verify_csum` checks the IPv4 header checksum.
pub(crate) fn parse(data: &[u8], verify_csum: bool) -> Option<IpInfo> {
    // The version nibble picks the view; each view's `check_len` checks it again.
    match data.first()? >> 4 {
        4 => parse_v4(data, verify_csum),
        6 => parse_v6(data),
        _ => None,
    }
}

fn parse_v4(data: &[u8], verify_csum: bool) -> Option<IpInfo> {
    let p = Ipv4Packet::new_checked(data).ok()?;
    if verify_csum && !p.verify_checksum() {
        return None;
    }
    Some(IpInfo {
        v6: false,
        hdr_len: usize::from(p.header_len()),
        nh_at: NextHeaderAt::Ipv4,
        proto: p.next_header(),
        total_len: usize::from(p.total_len()),
        tos: p.dscp_ecn(),
        df: p.dont_frag(),
        is_fragment: p.is_fragment(),
    })
}

fn parse_v6(data: &[u8]) -> Option<IpInfo> {
    let p = Ipv6Packet::new_checked(data).ok()?;
    // Jumbograms (payload length 0, RFC 2675) never carry ESP here.
    if p.payload_len() == 0 {
        return None;
    }
    let payload = p.payload();
    let (mut proto, mut nh_at, mut off) = (p.next_header(), NextHeaderAt::Ipv6, 0usize);
    // Bounded by the payload length: every extension header is at least 8 bytes. Unlike
    // `wire::ipv6ext::upper_layer` this stops at a Fragment header and reports where the
    // protocol byte sits, which that walker does not.
    while matches!(proto, IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts) {
        let h = ExtHeader::new_checked(payload.get(off..)?).ok()?;
        nh_at = NextHeaderAt::Ipv6Ext(ipv6::HEADER_LEN + off);
        proto = h.next_header();
        off += h.header_len();
    }
    Some(IpInfo {
        v6: true,
        hdr_len: ipv6::HEADER_LEN + off,
        nh_at,
        proto,
        total_len: ipv6::HEADER_LEN + payload.len(),
        tos: p.traffic_class(),
        df: true,
        is_fragment: proto == IpProtocol::Ipv6Frag,
    })
}

/// Names `proto` as the upper layer of the header at the start of `hdr`, at `at` (from the
/// [`IpInfo`] of the same header, so every offset is in bounds).
pub(crate) fn set_next_header(hdr: &mut [u8], at: NextHeaderAt, proto: IpProtocol) {
    match at {
        NextHeaderAt::Ipv4 => Ipv4Packet::new_unchecked(hdr).set_next_header(proto),
        NextHeaderAt::Ipv6 => Ipv6Packet::new_unchecked(hdr).set_next_header(proto),
        NextHeaderAt::Ipv6Ext(off) => {
            ExtHeader::new_unchecked(&mut hdr[off..]).set_next_header(proto)
        }
    }
}

/// Writes the ECN field of an IP header (IPv4 checksum updated incrementally).
pub(crate) fn set_ecn(hdr: &mut [u8], v6: bool, ecn: u8) {
    if v6 {
        Ipv6Packet::new_unchecked(hdr).set_ecn(ecn);
    } else {
        let mut p = Ipv4Packet::new_unchecked(hdr);
        let old = p.dscp_ecn();
        p.set_ecn(ecn);
        // RFC 1624: the other byte of the 16-bit word is unchanged and cancels out.
        let c = checksum::update_u16(p.checksum(), u16::from(old), u16::from(p.dscp_ecn()));
        p.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill_v4_checksum(hdr: &mut [u8]) {
        Ipv4Packet::new_unchecked(hdr).fill_checksum();
    }

    fn v4(total: u16) -> Vec<u8> {
        let mut h = vec![0x45, 0x00, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        fill_v4_checksum(&mut h);
        h.resize(usize::from(total), 0);
        h
    }

    #[test]
    fn parses_and_rejects_v4() {
        let p = v4(28);
        let i = parse(&p, true).unwrap();
        assert_eq!(
            (i.hdr_len, i.proto, i.total_len, i.df, i.is_fragment, i.nh_at),
            (20, IpProtocol::Udp, 28, true, false, NextHeaderAt::Ipv4)
        );
        let mut bad = p.clone();
        bad[8] = 1;
        assert!(parse(&bad, true).is_none());
        assert!(parse(&bad, false).is_some());
        assert!(parse(&p[..27], false).is_none());
        assert!(parse(&[0x44], false).is_none());
        assert!(parse(&[], false).is_none());
    }

    #[test]
    fn walks_v6_extension_headers() {
        let mut p = vec![0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&16u16.to_be_bytes());
        p[6] = 0; // Hop-by-Hop
        p[40] = 50; // next: ESP
        p[41] = 0;
        let i = parse(&p, false).unwrap();
        assert_eq!((i.hdr_len, i.nh_at, i.proto), (48, NextHeaderAt::Ipv6Ext(40), IpProtocol::Esp));
        set_next_header(&mut p, i.nh_at, IpProtocol::Udp);
        assert_eq!(p[40], 17);
        // An extension header running past the payload is refused.
        p[41] = 5;
        assert!(parse(&p, false).is_none());
        // A Fragment header stops the walk.
        p[41] = 0;
        p[40] = 44;
        let i = parse(&p, false).unwrap();
        assert!(i.is_fragment && i.hdr_len == 48);
        // Jumbogram payload length 0.
        p[4..6].copy_from_slice(&[0, 0]);
        assert!(parse(&p, false).is_none());
    }

    #[test]
    fn ecn_update_keeps_checksum_valid() {
        let mut p = v4(20);
        p[1] = 0xb8;
        fill_v4_checksum(&mut p);
        set_ecn(&mut p, false, 3);
        assert_eq!(checksum::data(&p[..20]), 0xffff);
        assert_eq!(p[1], 0xbb);
        let mut h6 = [0x6bu8, 0x80, 0, 0];
        set_ecn(&mut h6, true, 1);
        assert_eq!(h6, [0x6b, 0x90, 0, 0]);
    }
}
