//! IKE datagrams between the wire and the control plane.
//!
//! Workers punt IKE (UDP 500, and UDP 4500 behind the non-ESP marker) as IP packets without
//! their L2 header; the control plane sends its messages back as IP packets the workers
//! route like any packet the appliance originates ([`crate::queue::Command::Transmit`]).
//! This module is both conversions: [`parse`] turns a punted packet into addresses and the
//! IKE message, [`emit`] builds the packet for a message. Either way, a message on port
//! 4500 (ours or the peer's) carries the four zero bytes of the non-ESP marker in front
//! (RFC 3948 section 2.2), which the control plane never sees.

use core::net::{IpAddr, SocketAddr};

use crate::wire::{IpProtocol, ipv4, ipv6, udp};

/// The IKE port (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// The NAT-traversal port (RFC 3948 section 2.2 / RFC 7296 section 2.23).
pub const NATT_PORT: u16 = 4500;
/// The non-ESP marker: where ESP-in-UDP has an SPI, IKE on port 4500 has four zero bytes
/// (RFC 3948 section 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// Hop limit of the packets [`emit`] builds (RFC 1700's default TTL).
pub const HOP_LIMIT: u8 = 64;

/// One IKE message and its addresses, as the control plane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeDatagram<'a> {
    /// Our address and port the message came to.
    pub local: SocketAddr,
    /// The peer's address and port (after any NAT).
    pub remote: SocketAddr,
    /// The IKE message, without the non-ESP marker.
    pub message: &'a [u8],
}

/// Why a punted packet carries no IKE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotIke {
    /// Not a well-formed IPv4 or IPv6 packet, or a bad IPv4 header checksum.
    MalformedIp,
    /// An IPv4 fragment: IKE messages larger than the path MTU need IKE fragmentation
    /// (RFC 7383), which both ends negotiate, not IP reassembly on the control path.
    IpFragment,
    /// Not UDP (IPv6 extension headers included: IKE never sends them).
    NotUdp,
    /// A malformed UDP header, or a bad checksum.
    MalformedUdp,
    /// Neither port 500 nor 4500 at our end.
    WrongPort(u16),
    /// A NAT keepalive: the single byte 0xFF (RFC 3948 section 2.3).
    NatKeepalive,
    /// ESP-in-UDP (a non-zero SPI where the marker should be): not for the control plane.
    EspInUdp,
    /// Shorter than an IKE header (28 bytes, RFC 7296 section 3.1).
    TooShort,
}

/// The smallest IKE message: the fixed header (RFC 7296 section 3.1).
const IKE_HEADER_LEN: usize = 28;

/// Reads the IKE message out of a punted IP packet.
pub fn parse(ip: &[u8]) -> Result<IkeDatagram<'_>, NotIke> {
    let (src, dst, udp_bytes) = match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let p = ipv4::Packet::new_checked(ip).map_err(|_| NotIke::MalformedIp)?;
            if p.is_fragment() {
                return Err(NotIke::IpFragment);
            }
            let r = ipv4::Repr::parse(&p).map_err(|_| NotIke::MalformedIp)?;
            if r.next_header != IpProtocol::Udp {
                return Err(NotIke::NotUdp);
            }
            let udp_bytes = p.payload();
            let u = udp::Packet::new_checked(udp_bytes).map_err(|_| NotIke::MalformedUdp)?;
            udp::Repr::parse_v4(&u, &r.src_addr, &r.dst_addr).map_err(|_| NotIke::MalformedUdp)?;
            (IpAddr::V4(r.src_addr), IpAddr::V4(r.dst_addr), udp_bytes)
        }
        Some(6) => {
            let p = ipv6::Packet::new_checked(ip).map_err(|_| NotIke::MalformedIp)?;
            let r = ipv6::Repr::parse(&p).map_err(|_| NotIke::MalformedIp)?;
            if r.next_header != IpProtocol::Udp {
                return Err(NotIke::NotUdp);
            }
            let udp_bytes = p.payload();
            let u = udp::Packet::new_checked(udp_bytes).map_err(|_| NotIke::MalformedUdp)?;
            udp::Repr::parse_v6(&u, &r.src_addr, &r.dst_addr).map_err(|_| NotIke::MalformedUdp)?;
            (IpAddr::V6(r.src_addr), IpAddr::V6(r.dst_addr), udp_bytes)
        }
        _ => return Err(NotIke::MalformedIp),
    };
    let u = udp::Packet::new_checked(udp_bytes).map_err(|_| NotIke::MalformedUdp)?;
    let (sport, dport) = (u.src_port(), u.dst_port());
    let payload = u.payload();
    let message = match dport {
        IKE_PORT => payload,
        NATT_PORT => match payload {
            [0xff] => return Err(NotIke::NatKeepalive),
            [0, 0, 0, 0, rest @ ..] => rest,
            _ => return Err(NotIke::EspInUdp),
        },
        other => return Err(NotIke::WrongPort(other)),
    };
    if message.len() < IKE_HEADER_LEN {
        return Err(NotIke::TooShort);
    }
    Ok(IkeDatagram {
        local: SocketAddr::new(dst, dport),
        remote: SocketAddr::new(src, sport),
        message,
    })
}

/// Whether a message between these ports carries the non-ESP marker: it does whenever
/// either end uses 4500 (behind a NAT the peer's port is the NAT's, ours stays 4500).
pub fn has_marker(local: SocketAddr, remote: SocketAddr) -> bool {
    local.port() == NATT_PORT || remote.port() == NATT_PORT
}

/// The length of the packet [`emit`] builds, or `None` when the addresses are of
/// different families or it would exceed 65535 bytes.
pub fn emit_len(local: SocketAddr, remote: SocketAddr, message_len: usize) -> Option<usize> {
    let marker = if has_marker(local, remote) { NON_ESP_MARKER.len() } else { 0 };
    let udp_len = 8 + marker + message_len;
    let len = match (local.ip(), remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => ipv4::HEADER_LEN + udp_len,
        (IpAddr::V6(_), IpAddr::V6(_)) if udp_len <= usize::from(u16::MAX) => {
            ipv6::HEADER_LEN + udp_len
        }
        _ => return None,
    };
    (len <= usize::from(u16::MAX)).then_some(len)
}

/// Writes the IP packet for `message` from `local` to `remote` into the front of `buf`
/// (checksums filled; IPv4 with DF clear, so a router may still fragment an oversized
/// message) and returns its length; `None` when [`emit_len`] refuses or `buf` is short.
pub fn emit(
    buf: &mut [u8],
    local: SocketAddr,
    remote: SocketAddr,
    message: &[u8],
) -> Option<usize> {
    emit_udp(buf, local, remote, has_marker(local, remote), message)
}

/// The NAT keepalive's payload (RFC 3948 section 2.3): one byte, no non-ESP marker.
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

/// The length of the packet [`emit_nat_keepalive`] builds (`None`: mixed families).
pub fn nat_keepalive_len(local: SocketAddr, remote: SocketAddr) -> Option<usize> {
    let ip = match (local.ip(), remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => ipv4::HEADER_LEN,
        (IpAddr::V6(_), IpAddr::V6(_)) => ipv6::HEADER_LEN,
        _ => return None,
    };
    Some(ip + 8 + NAT_KEEPALIVE.len())
}

/// Writes a NAT keepalive from `local` to `remote` (normally both port 4500) into the front
/// of `buf`: it keeps the NAT mapping of an idle tunnel open. Returns its length.
pub fn emit_nat_keepalive(buf: &mut [u8], local: SocketAddr, remote: SocketAddr) -> Option<usize> {
    emit_udp(buf, local, remote, false, &NAT_KEEPALIVE)
}

fn emit_udp(
    buf: &mut [u8],
    local: SocketAddr,
    remote: SocketAddr,
    marker: bool,
    message: &[u8],
) -> Option<usize> {
    let marker_len = if marker { NON_ESP_MARKER.len() } else { 0 };
    let ip_len = match (local.ip(), remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => ipv4::HEADER_LEN,
        (IpAddr::V6(_), IpAddr::V6(_)) => ipv6::HEADER_LEN,
        _ => return None,
    };
    let len = ip_len + 8 + marker_len + message.len();
    if len > usize::from(u16::MAX) {
        return None;
    }
    let buf = buf.get_mut(..len)?;
    let udp_repr = udp::Repr { src_port: local.port(), dst_port: remote.port() };
    let payload_len = message.len() + if marker { NON_ESP_MARKER.len() } else { 0 };
    let fill = |out: &mut [u8]| {
        let (m, rest) = out.split_at_mut(if marker { NON_ESP_MARKER.len() } else { 0 });
        m.copy_from_slice(&NON_ESP_MARKER[..m.len()]);
        rest[..message.len()].copy_from_slice(message);
    };
    match (local.ip(), remote.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut p = ipv4::Packet::new_unchecked(&mut *buf);
            ipv4::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Udp,
                payload_len: 8 + payload_len,
                hop_limit: HOP_LIMIT,
                dscp_ecn: 0,
                dont_frag: false,
            }
            .emit(&mut p)
            .ok()?;
            let mut u = udp::Packet::new_unchecked(p.payload_mut());
            udp_repr.emit_v4(&mut u, &src, &dst, payload_len, fill).ok()?;
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut p = ipv6::Packet::new_unchecked(&mut *buf);
            ipv6::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Udp,
                payload_len: 8 + payload_len,
                hop_limit: HOP_LIMIT,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut p)
            .ok()?;
            let mut u = udp::Packet::new_unchecked(p.payload_mut());
            udp_repr.emit_v6(&mut u, &src, &dst, payload_len, fill).ok()?;
        }
        _ => return None,
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// An IKE_SA_INIT-sized message: a 28-byte header and a payload.
    fn message(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 1) as u8).collect()
    }

    fn built(local: &str, remote: &str, msg: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xa5; 2000];
        let n = emit(&mut buf, addr(local), addr(remote), msg).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn port_500_round_trips_over_both_families() {
        let msg = message(300);
        for (us, peer) in
            [("192.0.2.1:500", "192.0.2.2:500"), ("[2001:db8::1]:500", "[2001:db8::2]:500")]
        {
            // What we send is what the peer's punt would see, with the ends swapped.
            let pkt = built(us, peer, &msg);
            assert_eq!(pkt.len(), emit_len(addr(us), addr(peer), msg.len()).unwrap());
            let d = parse(&pkt).unwrap();
            assert_eq!((d.local, d.remote, d.message), (addr(peer), addr(us), &msg[..]));
        }
    }

    /// A UDP/IPv4 packet with exactly `payload` after the UDP header (no marker added).
    fn raw_udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = (addr(src), addr(dst));
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else { panic!() };
        let mut buf = vec![0; 28 + payload.len()];
        let mut p = ipv4::Packet::new_unchecked(&mut buf[..]);
        ipv4::Repr {
            src_addr: s,
            dst_addr: d,
            next_header: IpProtocol::Udp,
            payload_len: 8 + payload.len(),
            hop_limit: 64,
            dscp_ecn: 0,
            dont_frag: false,
        }
        .emit(&mut p)
        .unwrap();
        let mut u = udp::Packet::new_unchecked(p.payload_mut());
        udp::Repr { src_port: src.port(), dst_port: dst.port() }
            .emit_v4(&mut u, &s, &d, payload.len(), |b| b.copy_from_slice(payload))
            .unwrap();
        buf
    }

    #[test]
    fn port_4500_carries_the_marker_on_the_wire_only() {
        let msg = message(80);
        let pkt = built("192.0.2.1:4500", "198.51.100.7:31337", &msg);
        assert_eq!(&pkt[28..32], &[0, 0, 0, 0], "marker after the UDP header");
        assert_eq!(pkt.len(), 20 + 8 + 4 + 80);
        // The peer's message to our 4500 from a NAT's port: marker stripped.
        let back = built("198.51.100.7:31337", "192.0.2.1:4500", &msg);
        let d = parse(&back).unwrap();
        assert_eq!(
            (d.local, d.remote, d.message),
            (addr("192.0.2.1:4500"), addr("198.51.100.7:31337"), &msg[..])
        );
        // A non-zero word where the marker should be is an SPI: ESP-in-UDP.
        let mut esp = msg.clone();
        esp[..4].copy_from_slice(&[0, 0, 0x10, 0x01]);
        assert_eq!(
            parse(&raw_udp("198.51.100.7:31337", "192.0.2.1:4500", &esp)),
            Err(NotIke::EspInUdp)
        );
    }

    #[test]
    fn nat_keepalives_are_one_byte_without_marker() {
        let (a, b): (SocketAddr, SocketAddr) =
            ("192.0.2.1:4500".parse().unwrap(), "198.51.100.7:4500".parse().unwrap());
        let n = nat_keepalive_len(a, b).unwrap();
        let mut buf = vec![0u8; n + 10];
        assert_eq!(emit_nat_keepalive(&mut buf, a, b), Some(n));
        assert_eq!(n, 20 + 8 + 1);
        assert_eq!(buf[n - 1], 0xff);
        assert_eq!(parse(&buf[..n]), Err(NotIke::NatKeepalive), "the receiver counts it");
        let v6: SocketAddr = "[2001:db8::1]:4500".parse().unwrap();
        assert_eq!(nat_keepalive_len(a, v6), None);
        assert_eq!(emit_nat_keepalive(&mut buf, a, v6), None);
        assert_eq!(emit_nat_keepalive(&mut buf[..n - 1], a, b), None, "short buffer");
    }

    #[test]
    fn keepalives_short_messages_and_other_ports_are_not_ike() {
        assert_eq!(
            parse(&raw_udp("198.51.100.7:4500", "192.0.2.1:4500", &[0xff])),
            Err(NotIke::NatKeepalive)
        );
        assert_eq!(
            parse(&built("192.0.2.2:500", "192.0.2.1:500", &message(27))),
            Err(NotIke::TooShort)
        );
        assert_eq!(
            parse(&built("192.0.2.2:500", "192.0.2.1:501", &message(40))),
            Err(NotIke::WrongPort(501))
        );
    }

    #[test]
    fn corrupted_packets_are_refused_not_misread() {
        let pkt = built("192.0.2.2:500", "192.0.2.1:500", &message(60));
        let mut bad = pkt.clone();
        bad[40] ^= 1; // payload byte: the UDP checksum no longer matches
        assert_eq!(parse(&bad), Err(NotIke::MalformedUdp));
        let mut bad = pkt.clone();
        bad[8] ^= 1; // TTL: the IPv4 header checksum no longer matches
        assert_eq!(parse(&bad), Err(NotIke::MalformedIp));
        let mut frag = pkt.clone();
        frag[6] |= 0x20; // more fragments
        assert_eq!(parse(&frag), Err(NotIke::IpFragment));
        assert_eq!(parse(&[]), Err(NotIke::MalformedIp));
        assert_eq!(parse(&pkt[..30]), Err(NotIke::MalformedIp));
        // Every truncation and every single-byte change: an answer, never a panic.
        for n in 0..pkt.len() {
            let _ = parse(&pkt[..n]);
        }
        for i in 0..pkt.len() {
            for v in [0u8, 0xff, 0x45, 0x60] {
                let mut m = pkt.clone();
                m[i] = v;
                let _ = parse(&m);
            }
        }
    }

    #[test]
    fn mixed_families_and_short_buffers_are_refused() {
        assert_eq!(emit_len(addr("192.0.2.1:500"), addr("[2001:db8::2]:500"), 10), None);
        let mut small = [0u8; 40];
        assert_eq!(
            emit(&mut small, addr("192.0.2.1:500"), addr("192.0.2.2:500"), &message(100)),
            None
        );
        assert_eq!(emit_len(addr("192.0.2.1:500"), addr("192.0.2.2:500"), 65_600), None);
    }
}
