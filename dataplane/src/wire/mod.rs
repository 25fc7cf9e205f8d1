//! Zero-copy typed views of packet headers (smoltcp style).
//!
//! Every header has two levels:
//!
//! - `Packet<T: AsRef<[u8]>>` (or `Frame<T>`) wraps a buffer and has one getter and one `set_*`
//!   setter per field. `new_checked` (= `new_unchecked` + `check_len`) is the constructor for
//!   untrusted input: once it succeeds, no accessor panics, whatever the bytes are.
//!   `new_unchecked` is for emission into a buffer the caller has sized itself (a reused
//!   buffer holds stale bytes, so checking its length fields would be meaningless).
//! - `Repr` is a small validated struct with `parse`, `emit` and `buffer_len`, for slow paths
//!   and tests. The per-packet fast path reads the views directly.
//!
//! Errors are the unit [`Error`]: callers turn it into a counted drop reason of their own.

use core::fmt;

/// Declares a `u8`/`u16` code point enum with an `Unknown(raw)` arm and the two `From`
/// conversions, so every raw value round-trips.
macro_rules! enum_with_unknown {
    (
        $( #[$enum_attr:meta] )*
        pub enum $name:ident($ty:ty) {
            $(
              $( #[$variant_attr:meta] )*
              $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $( #[$enum_attr] )*
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Clone, Copy)]
        pub enum $name {
            $(
              $( #[$variant_attr] )*
              $variant
            ),*,
            /// A code point this enum has no name for.
            Unknown($ty)
        }

        impl ::core::convert::From<$ty> for $name {
            #[inline]
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),*,
                    other => $name::Unknown(other)
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            #[inline]
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other
                }
            }
        }
    }
}

pub mod arp;
pub mod checksum;
pub mod esp;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod tcp;
pub mod udp;
pub mod udp_encap;

pub use self::arp::{
    Hardware as ArpHardware, Operation as ArpOperation, Packet as ArpPacket, Repr as ArpRepr,
};
pub use self::esp::{Packet as EspPacket, Repr as EspRepr, Trailer as EspTrailer};
pub use self::ethernet::{Frame as EthernetFrame, Repr as EthernetRepr, VlanInfo, VlanTag};
pub use self::icmpv4::{Packet as Icmpv4Packet, Repr as Icmpv4Repr};
pub use self::icmpv6::{Packet as Icmpv6Packet, Repr as Icmpv6Repr};
pub use self::ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use self::ipv6::{Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use self::ipv6ext::{
    ExtHeader as Ipv6ExtHeader, FragmentHeader as Ipv6FragmentHeader, UpperLayer,
};
pub use self::tcp::Packet as TcpPacket;
pub use self::udp::{Packet as UdpPacket, Repr as UdpRepr};
pub use self::udp_encap::{Udp4500, classify_udp4500};
pub use core::net::{Ipv4Addr, Ipv6Addr};

/// The bytes do not form a valid header (truncated, inconsistent length fields, bad
/// checksum, unsupported value). Deliberately carries no detail: it is cheap to return on
/// the fast path, and the caller knows which header it was parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wire::Error")
    }
}

impl std::error::Error for Error {}

/// Result of a wire-level operation.
pub type Result<T> = core::result::Result<T, Error>;

enum_with_unknown! {
    /// IP protocol numbers (IPv4 "Protocol", IPv6 "Next Header"), from the IANA
    /// "Assigned Internet Protocol Numbers" registry.
    pub enum IpProtocol(u8) {
        /// IPv6 Hop-by-Hop Options (RFC 8200 section 4.3).
        HopByHop = 0,
        /// ICMP for IPv4 (RFC 792).
        Icmp = 1,
        /// IPv4 encapsulated in IP (RFC 2003); the inner packet of IPv4 tunnel-mode ESP.
        IpIp = 4,
        /// TCP (RFC 9293).
        Tcp = 6,
        /// UDP (RFC 768).
        Udp = 17,
        /// IPv6 encapsulated in IP (RFC 2473); the inner packet of IPv6 tunnel-mode ESP.
        Ipv6 = 41,
        /// IPv6 Routing header (RFC 8200 section 4.4).
        Ipv6Route = 43,
        /// IPv6 Fragment header (RFC 8200 section 4.5).
        Ipv6Frag = 44,
        /// Encapsulating Security Payload (RFC 4303).
        Esp = 50,
        /// Authentication Header (RFC 4302).
        Ah = 51,
        /// ICMP for IPv6 (RFC 4443).
        Icmpv6 = 58,
        /// IPv6 "No Next Header" (RFC 8200 section 4.7).
        Ipv6NoNxt = 59,
        /// IPv6 Destination Options (RFC 8200 section 4.6).
        Ipv6Opts = 60,
    }
}

impl IpProtocol {
    /// Alias of [`IpProtocol::IpIp`]: protocol 4 carries an IPv4 packet.
    pub const IPV4: IpProtocol = IpProtocol::IpIp;
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::HopByHop => f.write_str("Hop-by-Hop"),
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::IpIp => f.write_str("IPv4"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Ipv6 => f.write_str("IPv6"),
            IpProtocol::Ipv6Route => f.write_str("IPv6-Route"),
            IpProtocol::Ipv6Frag => f.write_str("IPv6-Frag"),
            IpProtocol::Esp => f.write_str("ESP"),
            IpProtocol::Ah => f.write_str("AH"),
            IpProtocol::Icmpv6 => f.write_str("ICMPv6"),
            IpProtocol::Ipv6NoNxt => f.write_str("IPv6-NoNxt"),
            IpProtocol::Ipv6Opts => f.write_str("IPv6-Opts"),
            IpProtocol::Unknown(n) => write!(f, "0x{n:02x}"),
        }
    }
}

enum_with_unknown! {
    /// Ethernet type field values, from the IEEE "EtherType" registry.
    pub enum EtherType(u16) {
        /// IPv4 (RFC 894).
        Ipv4 = 0x0800,
        /// ARP (RFC 826).
        Arp = 0x0806,
        /// IPv6 (RFC 2464).
        Ipv6 = 0x86DD,
        /// IEEE 802.1Q customer VLAN tag.
        Vlan = 0x8100,
        /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
        QinQ = 0x88A8,
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4"),
            EtherType::Arp => f.write_str("ARP"),
            EtherType::Ipv6 => f.write_str("IPv6"),
            EtherType::Vlan => f.write_str("802.1Q"),
            EtherType::QinQ => f.write_str("802.1ad"),
            EtherType::Unknown(n) => write!(f, "0x{n:04x}"),
        }
    }
}

/// A 48-bit IEEE MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Builds an address from the first six bytes of `data`; `None` if it is shorter.
    pub fn from_bytes(data: &[u8]) -> Option<EthernetAddress> {
        match data {
            [a, b, c, d, e, g, ..] => Some(EthernetAddress([*a, *b, *c, *d, *e, *g])),
            _ => None,
        }
    }

    /// The six address bytes.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the I/G bit is set (group address; includes broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether the I/G bit is clear (individual address).
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the U/L bit is set (locally administered).
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// Reads a big-endian `u16` at `at`. Callers have checked the length, so the indexing is a
/// plain load (and never panics after `check_len`).
#[inline(always)]
pub(crate) fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

/// Reads a big-endian `u32` at `at`.
#[inline(always)]
pub(crate) fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Writes a big-endian `u16` at `at`.
#[inline(always)]
pub(crate) fn write_u16(data: &mut [u8], at: usize, value: u16) {
    let b = value.to_be_bytes();
    data[at] = b[0];
    data[at + 1] = b[1];
}

/// Writes a big-endian `u32` at `at`.
#[inline(always)]
pub(crate) fn write_u32(data: &mut [u8], at: usize, value: u32) {
    let b = value.to_be_bytes();
    data[at..at + 4].copy_from_slice(&b);
}

/// Reads an IPv4 address at `at`.
#[inline(always)]
pub(crate) fn read_ipv4(data: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(data[at], data[at + 1], data[at + 2], data[at + 3])
}

/// Reads an IPv6 address at `at`.
#[inline(always)]
pub(crate) fn read_ipv6(data: &[u8], at: usize) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[at..at + 16]);
    Ipv6Addr::from(b)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ip_protocol_round_trips() {
        for raw in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(raw)), raw);
        }
        assert_eq!(IpProtocol::from(50), IpProtocol::Esp);
        assert_eq!(IpProtocol::from(4), IpProtocol::IPV4);
        assert_eq!(IpProtocol::from(200), IpProtocol::Unknown(200));
    }

    #[test]
    fn ether_type_round_trips() {
        for raw in [0x0800u16, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x1234, 0xffff] {
            assert_eq!(u16::from(EtherType::from(raw)), raw);
        }
        assert_eq!(EtherType::from(0x86dd), EtherType::Ipv6);
        assert_eq!(EtherType::from(0x88a8), EtherType::QinQ);
    }

    #[test]
    fn ethernet_address_classes() {
        let bc = EthernetAddress::BROADCAST;
        assert!(bc.is_broadcast() && bc.is_multicast() && !bc.is_unicast());
        let mc = EthernetAddress([0x33, 0x33, 0, 0, 0, 1]);
        assert!(mc.is_multicast() && !mc.is_broadcast());
        let uc = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
        assert!(uc.is_unicast() && uc.is_local());
        assert_eq!(uc.to_string(), "02:00:5e:10:20:30");
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3, 4, 5]), None);
        assert_eq!(
            EthernetAddress::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
            Some(EthernetAddress([1, 2, 3, 4, 5, 6]))
        );
    }

    #[test]
    fn error_displays() {
        assert_eq!(Error.to_string(), "wire::Error");
    }
}
