//! The selector values of one packet (its "5-tuple"), read from the wire views.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::selector::{protocol_has_ports, v4_bits};
use crate::wire::{self, Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet};

/// Whether a packet's port selectors could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortsState {
    /// Source and destination port (or ICMP type and code).
    Known {
        /// Source port, or ICMP type.
        src: u16,
        /// Destination port, or ICMP code.
        dst: u16,
    },
    /// The protocol has ports but this packet does not show them: a non-initial fragment
    /// (RFC 4301 section 4.4.1.1 "OPAQUE"). Matches only entries whose ranges are ANY.
    Opaque,
    /// The protocol has no ports (ESP, GRE, ...).
    None,
}

const FLAG_V6: u8 = 1;
const FLAG_OPAQUE: u8 = 2;
const FLAG_NO_PORTS: u8 = 4;

/// The selector values of one packet: addresses, protocol and ports.
///
/// Addresses are top-aligned in `u128`s (an IPv4 address in the top 32 bits) so that one
/// masking routine serves both families; the family is part of the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    src: u128,
    dst: u128,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    flags: u8,
}

impl FlowKey {
    /// A key from its parts; `None` if the two addresses are of different families.
    /// `ports` is normalised: a protocol without ports always gets [`PortsState::None`], and
    /// one with ports given `None` gets [`PortsState::Opaque`].
    pub fn new(src: IpAddr, dst: IpAddr, protocol: u8, ports: PortsState) -> Option<FlowKey> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(FlowKey::v4(s, d, protocol, ports)),
            (IpAddr::V6(s), IpAddr::V6(d)) => Some(FlowKey::v6(s, d, protocol, ports)),
            _ => None,
        }
    }

    /// An IPv4 key (see [`FlowKey::new`] for how `ports` is normalised).
    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ports: PortsState) -> FlowKey {
        FlowKey::from_bits(v4_bits(src), v4_bits(dst), false, protocol, ports)
    }

    /// An IPv6 key (see [`FlowKey::new`] for how `ports` is normalised).
    pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, ports: PortsState) -> FlowKey {
        FlowKey::from_bits(u128::from(src), u128::from(dst), true, protocol, ports)
    }

    #[inline]
    fn from_bits(src: u128, dst: u128, v6: bool, protocol: u8, ports: PortsState) -> FlowKey {
        let family = if v6 { FLAG_V6 } else { 0 };
        let (src_port, dst_port, state) = match ports {
            _ if !protocol_has_ports(protocol) => (0, 0, FLAG_NO_PORTS),
            PortsState::Known { src, dst } => (src, dst, 0),
            PortsState::Opaque | PortsState::None => (0, 0, FLAG_OPAQUE),
        };
        FlowKey { src, dst, src_port, dst_port, protocol, flags: family | state }
    }

    /// Reads the key of an IP packet (IPv4 or IPv6 by the version nibble).
    ///
    /// Errors on a malformed IP header, an IPv6 extension chain that cannot be walked, or an
    /// initial (or unfragmented) packet too short to hold the first four bytes of its TCP,
    /// UDP, SCTP, DCCP or UDP-Lite header, or the 8 of its ICMP header: such packets are
    /// dropped, not classified on guessed selectors (RFC 1858 tiny fragments).
    pub fn from_ip(packet: &[u8]) -> wire::Result<FlowKey> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => FlowKey::from_ipv4(&Ipv4Packet::new_checked(packet)?),
            Some(6) => FlowKey::from_ipv6(&Ipv6Packet::new_checked(packet)?),
            _ => Err(wire::Error),
        }
    }

    /// Reads the key of a checked IPv4 packet.
    pub fn from_ipv4<T: AsRef<[u8]> + ?Sized>(ip: &Ipv4Packet<&T>) -> wire::Result<FlowKey> {
        let protocol = u8::from(ip.next_header());
        let ports = if ip.frag_offset() != 0 {
            PortsState::Opaque
        } else {
            upper_ports(protocol, ip.payload())?
        };
        Ok(FlowKey::v4(ip.src_addr(), ip.dst_addr(), protocol, ports))
    }

    /// Reads the key of a checked IPv6 packet, walking its extension headers.
    pub fn from_ipv6<T: AsRef<[u8]> + ?Sized>(ip: &Ipv6Packet<&T>) -> wire::Result<FlowKey> {
        let payload = ip.payload();
        let upper = wire::ipv6ext::upper_layer(ip.next_header(), payload)?;
        let protocol = u8::from(upper.protocol);
        let ports = if upper.has_header() {
            upper_ports(protocol, payload.get(upper.offset..).ok_or(wire::Error)?)?
        } else {
            PortsState::Opaque
        };
        Ok(FlowKey::v6(ip.src_addr(), ip.dst_addr(), protocol, ports))
    }

    /// Whether this is an IPv6 key.
    #[inline]
    pub const fn is_v6(&self) -> bool {
        self.flags & FLAG_V6 != 0
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        addr(self.src, self.is_v6())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        addr(self.dst, self.is_v6())
    }

    /// IP protocol number (of the upper layer, after IPv6 extension headers).
    #[inline]
    pub const fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The port selectors.
    #[inline]
    pub const fn ports(&self) -> PortsState {
        if self.flags & FLAG_NO_PORTS != 0 {
            PortsState::None
        } else if self.flags & FLAG_OPAQUE != 0 {
            PortsState::Opaque
        } else {
            PortsState::Known { src: self.src_port, dst: self.dst_port }
        }
    }

    #[inline]
    pub(crate) const fn src_bits(&self) -> u128 {
        self.src
    }

    #[inline]
    pub(crate) const fn dst_bits(&self) -> u128 {
        self.dst
    }

    /// A 64-bit hash of the key under `seed` (folded multiplies, as in foldhash/wyhash).
    /// The seed is per cache and comes from the caller, so a sender cannot aim packets at
    /// one cache set without knowing it.
    #[inline]
    pub(crate) fn hash(&self, seed: u64) -> u64 {
        let ports = u64::from(self.src_port) << 32
            | u64::from(self.dst_port) << 16
            | u64::from(self.protocol) << 8
            | u64::from(self.flags);
        let a = fold_mul(self.src as u64 ^ seed, (self.src >> 64) as u64 ^ K0);
        let b = fold_mul(self.dst as u64 ^ K1, (self.dst >> 64) as u64 ^ seed);
        fold_mul(a ^ K2, b ^ ports)
    }
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;

/// Multiplies to 128 bits and folds the halves together.
#[inline(always)]
pub(crate) const fn fold_mul(a: u64, b: u64) -> u64 {
    let m = (a as u128).wrapping_mul(b as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

fn addr(bits: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from((bits >> 96) as u32))
    }
}

/// Port selectors of the upper-layer header at the start of `l4`.
///
/// Ports are read from the first four bytes rather than through the TCP/UDP views: an
/// initial fragment may hold less than the whole header, and its UDP length field speaks
/// for the whole datagram, so the views' length checks would reject a legitimate packet.
fn upper_ports(protocol: u8, l4: &[u8]) -> wire::Result<PortsState> {
    match protocol {
        1 => {
            let icmp = Icmpv4Packet::new_checked(l4)?;
            Ok(PortsState::Known {
                src: u16::from(u8::from(icmp.msg_type())),
                dst: u16::from(icmp.msg_code()),
            })
        }
        58 => {
            let icmp = Icmpv6Packet::new_checked(l4)?;
            Ok(PortsState::Known {
                src: u16::from(u8::from(icmp.msg_type())),
                dst: u16::from(icmp.msg_code()),
            })
        }
        p if protocol_has_ports(p) => match l4 {
            [s0, s1, d0, d1, ..] => Ok(PortsState::Known {
                src: u16::from_be_bytes([*s0, *s1]),
                dst: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(wire::Error),
        },
        _ => Ok(PortsState::None),
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} {}",
            self.src_addr(),
            self.dst_addr(),
            IpProtocol::from(self.protocol)
        )?;
        match self.ports() {
            PortsState::Known { src, dst } => write!(f, " {src} -> {dst}"),
            PortsState::Opaque => f.write_str(" (opaque ports)"),
            PortsState::None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, frag_word: u16, l4: &[u8]) -> Vec<u8> {
        let total = 20 + l4.len();
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1];
        p.extend_from_slice(&frag_word.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7]);
        p.extend_from_slice(l4);
        p
    }

    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv4_udp_tcp_icmp_and_fragments() {
        let udp = [0x01, 0xf4, 0x11, 0x94, 0, 10, 0, 0, 0xaa, 0xbb];
        let key = FlowKey::from_ip(&ipv4(17, 0, &udp)).unwrap();
        assert_eq!(key.src_addr(), "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(key.dst_addr(), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(key.protocol(), 17);
        assert_eq!(key.ports(), PortsState::Known { src: 500, dst: 4500 });
        assert!(!key.is_v6());

        // First fragment (MF set) with only four bytes of TCP: ports still read.
        let key = FlowKey::from_ip(&ipv4(6, 0x2000, &[0, 22, 0x1f, 0x90])).unwrap();
        assert_eq!(key.ports(), PortsState::Known { src: 22, dst: 8080 });
        // Later fragment: opaque.
        let key = FlowKey::from_ip(&ipv4(6, 0x0010, &[0, 22, 0x1f, 0x90])).unwrap();
        assert_eq!(key.ports(), PortsState::Opaque);
        // Tiny initial fragment: dropped.
        assert_eq!(FlowKey::from_ip(&ipv4(6, 0x2000, &[0, 22])), Err(wire::Error));

        let echo = [8, 0, 0, 0, 0, 1, 0, 1];
        let key = FlowKey::from_ip(&ipv4(1, 0, &echo)).unwrap();
        assert_eq!(key.ports(), PortsState::Known { src: 8, dst: 0 });
        assert_eq!(FlowKey::from_ip(&ipv4(1, 0, &echo[..4])), Err(wire::Error));

        let key = FlowKey::from_ip(&ipv4(50, 0, &[0; 8])).unwrap();
        assert_eq!(key.ports(), PortsState::None);
    }

    #[test]
    fn ipv6_walks_extension_headers() {
        // Destination options (8 bytes) then UDP.
        let mut payload = vec![17, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
        let key = FlowKey::from_ip(&ipv6(60, &payload)).unwrap();
        assert!(key.is_v6());
        assert_eq!(key.protocol(), 17);
        assert_eq!(key.ports(), PortsState::Known { src: 0x1234, dst: 53 });
        assert_eq!(key.dst_addr(), "2001:db8:1::2".parse::<IpAddr>().unwrap());

        // Non-initial fragment of TCP.
        let frag = [6, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4];
        let key = FlowKey::from_ip(&ipv6(44, &frag)).unwrap();
        assert_eq!((key.protocol(), key.ports()), (6, PortsState::Opaque));

        let icmp = [128, 0, 0, 0, 0, 1, 0, 1];
        let key = FlowKey::from_ip(&ipv6(58, &icmp)).unwrap();
        assert_eq!(key.ports(), PortsState::Known { src: 128, dst: 0 });
    }

    #[test]
    fn malformed_is_an_error() {
        assert_eq!(FlowKey::from_ip(&[]), Err(wire::Error));
        assert_eq!(FlowKey::from_ip(&[0x45, 0, 0]), Err(wire::Error));
        assert_eq!(FlowKey::from_ip(&[0x50; 40]), Err(wire::Error));
        let mut bad = ipv6(60, &[17, 5, 0, 0, 0, 0, 0, 0]);
        bad.truncate(44);
        assert_eq!(FlowKey::from_ip(&bad), Err(wire::Error));
    }

    #[test]
    fn constructor_normalises_ports() {
        let a = Ipv4Addr::new(1, 2, 3, 4);
        let k = FlowKey::v4(a, a, 50, PortsState::Known { src: 1, dst: 2 });
        assert_eq!(k.ports(), PortsState::None);
        assert_eq!(k, FlowKey::v4(a, a, 50, PortsState::Opaque));
        assert_eq!(FlowKey::v4(a, a, 6, PortsState::None).ports(), PortsState::Opaque);
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(FlowKey::new(IpAddr::V4(a), v6, 6, PortsState::Opaque), None);
    }
}
