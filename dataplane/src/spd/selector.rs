//! SPD entries: the selectors (RFC 4301 section 4.4.1.1) and the action.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::PolicyId;
use super::key::{FlowKey, PortsState};
use crate::wire::IpProtocol;

/// Why an SPD could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpdError {
    /// Prefix length longer than the address (more than 32 for IPv4, 128 for IPv6).
    PrefixTooLong {
        /// The offending length.
        len: u8,
    },
    /// Source and destination prefixes of one entry are of different address families.
    MixedFamily {
        /// Index of the entry.
        entry: usize,
    },
    /// A port (or ICMP type/code) range on an entry whose protocol has none: it could never
    /// match anything but would look as if it did.
    PortsWithoutProtocol {
        /// Index of the entry.
        entry: usize,
    },
    /// A range whose low end is above its high end.
    EmptyRange {
        /// Low end.
        lo: u16,
        /// High end.
        hi: u16,
    },
    /// More entries than a `u32` index can name.
    TooManyEntries,
    /// A cache or table size that is zero, not a power of two, or too large.
    BadSize,
}

impl fmt::Display for SpdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpdError::PrefixTooLong { len } => write!(f, "prefix length {len} too long"),
            SpdError::MixedFamily { entry } => {
                write!(f, "SPD entry {entry}: source and destination families differ")
            }
            SpdError::PortsWithoutProtocol { entry } => {
                write!(f, "SPD entry {entry}: port range without a protocol that has ports")
            }
            SpdError::EmptyRange { lo, hi } => write!(f, "empty range {lo}-{hi}"),
            SpdError::TooManyEntries => f.write_str("too many SPD entries"),
            SpdError::BadSize => f.write_str("size must be a non-zero power of two"),
        }
    }
}

impl std::error::Error for SpdError {}

/// An address prefix, IPv4 or IPv6. Host bits are cleared on construction, so
/// `10.1.2.3/8` and `10.0.0.0/8` are the same prefix.
///
/// Internally the address is "top-aligned" in a `u128` (an IPv4 address occupies the top
/// 32 bits), so one mask computation serves both families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    bits: u128,
    len: u8,
    v6: bool,
}

impl IpPrefix {
    /// The prefix `addr/len`. Errors if `len` exceeds the address length.
    pub fn new(addr: IpAddr, len: u8) -> Result<IpPrefix, SpdError> {
        let (bits, v6, max) = match addr {
            IpAddr::V4(a) => (v4_bits(a), false, 32),
            IpAddr::V6(a) => (u128::from(a), true, 128),
        };
        if len > max {
            return Err(SpdError::PrefixTooLong { len });
        }
        Ok(IpPrefix { bits: bits & prefix_mask(len), len, v6 })
    }

    /// `0.0.0.0/0`.
    pub const ANY_V4: IpPrefix = IpPrefix { bits: 0, len: 0, v6: false };
    /// `::/0`.
    pub const ANY_V6: IpPrefix = IpPrefix { bits: 0, len: 0, v6: true };

    /// An IPv4 prefix.
    pub fn v4(addr: Ipv4Addr, len: u8) -> Result<IpPrefix, SpdError> {
        IpPrefix::new(IpAddr::V4(addr), len)
    }

    /// An IPv6 prefix.
    pub fn v6(addr: Ipv6Addr, len: u8) -> Result<IpPrefix, SpdError> {
        IpPrefix::new(IpAddr::V6(addr), len)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.bits))
        } else {
            IpAddr::V4(Ipv4Addr::from((self.bits >> 96) as u32))
        }
    }

    /// Prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is an IPv6 prefix.
    pub const fn is_v6(&self) -> bool {
        self.v6
    }

    /// Whether `addr` lies inside the prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => !self.v6 && self.contains_bits(v4_bits(a)),
            IpAddr::V6(a) => self.v6 && self.contains_bits(u128::from(a)),
        }
    }

    /// Top-aligned network bits (host bits zero).
    pub(crate) const fn bits(&self) -> u128 {
        self.bits
    }

    /// Whether the top-aligned address `bits` (same family) lies inside the prefix.
    #[inline]
    pub(crate) const fn contains_bits(&self, bits: u128) -> bool {
        bits & prefix_mask(self.len) == self.bits
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

/// An IPv4 address top-aligned in a `u128`.
#[inline]
pub(crate) const fn v4_bits(addr: Ipv4Addr) -> u128 {
    (addr.to_bits() as u128) << 96
}

/// The mask keeping the top `len` bits of a `u128` (`len` ≤ 128).
#[inline]
pub(crate) const fn prefix_mask(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - len as u32) }
}

/// An inclusive range of ports, or of ICMP types (source side) and codes (destination
/// side), as RFC 4301 section 4.4.1.1 carries ICMP type/code in the port selectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// Every port. Also matches packets whose ports cannot be read (non-initial fragments:
    /// RFC 4301 section 4.4.1.1, "ANY" matches "OPAQUE").
    pub const ANY: PortRange = PortRange { lo: 0, hi: u16::MAX };

    /// `lo..=hi`. Errors if `lo > hi`.
    pub const fn new(lo: u16, hi: u16) -> Result<PortRange, SpdError> {
        if lo > hi { Err(SpdError::EmptyRange { lo, hi }) } else { Ok(PortRange { lo, hi }) }
    }

    /// Exactly one port.
    pub const fn single(port: u16) -> PortRange {
        PortRange { lo: port, hi: port }
    }

    /// Low end (inclusive).
    pub const fn lo(&self) -> u16 {
        self.lo
    }

    /// High end (inclusive).
    pub const fn hi(&self) -> u16 {
        self.hi
    }

    /// Whether this is [`PortRange::ANY`].
    pub const fn is_any(&self) -> bool {
        self.lo == 0 && self.hi == u16::MAX
    }

    /// Whether `port` is inside.
    #[inline]
    pub const fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange::ANY
    }
}

/// What an entry does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Encrypt under the policy's SA (ASA: `permit` in a crypto-map ACL).
    Protect(PolicyId),
    /// Forward in the clear (ASA: `deny` in a crypto-map ACL, i.e. "not interesting").
    Bypass,
    /// Drop.
    Discard,
}

/// One SPD entry. Entries are ordered; the first whose selectors all match decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Source prefix (the local protected network, outbound).
    pub src: IpPrefix,
    /// Destination prefix (the remote protected network, outbound). Same family as `src`.
    pub dst: IpPrefix,
    /// IP protocol, or `None` for any.
    pub protocol: Option<IpProtocol>,
    /// Source ports (TCP, UDP, SCTP, DCCP, UDP-Lite) or ICMP type (ICMP, ICMPv6).
    pub src_ports: PortRange,
    /// Destination ports, or ICMP code.
    pub dst_ports: PortRange,
    /// What to do on a match.
    pub action: Action,
}

impl Entry {
    /// An entry matching every packet from `src` to `dst`, any protocol and port.
    pub const fn new(src: IpPrefix, dst: IpPrefix, action: Action) -> Entry {
        Entry {
            src,
            dst,
            protocol: None,
            src_ports: PortRange::ANY,
            dst_ports: PortRange::ANY,
            action,
        }
    }

    /// The same entry restricted to one protocol.
    pub const fn with_protocol(mut self, protocol: IpProtocol) -> Entry {
        self.protocol = Some(protocol);
        self
    }

    /// The same entry restricted to port (or ICMP type/code) ranges.
    pub const fn with_ports(mut self, src: PortRange, dst: PortRange) -> Entry {
        self.src_ports = src;
        self.dst_ports = dst;
        self
    }

    /// Checks that the entry can be compiled; `index` names it in the error.
    pub(crate) fn validate(&self, index: usize) -> Result<(), SpdError> {
        if self.src.v6 != self.dst.v6 {
            return Err(SpdError::MixedFamily { entry: index });
        }
        let has_ports = self.protocol.is_some_and(|p| protocol_has_ports(u8::from(p)));
        let any_ports = self.src_ports.is_any() && self.dst_ports.is_any();
        if !has_ports && !any_ports {
            return Err(SpdError::PortsWithoutProtocol { entry: index });
        }
        Ok(())
    }

    /// Whether the entry matches `key` (the reference semantics every classifier follows).
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        self.src.v6 == key.is_v6()
            && self.src.contains_bits(key.src_bits())
            && self.dst.contains_bits(key.dst_bits())
            && self.matches_upper(key)
    }

    /// The protocol and port part of [`Entry::matches`]: what the tuple-space search checks
    /// after the address tables have hit.
    #[inline]
    pub(crate) fn matches_upper(&self, key: &FlowKey) -> bool {
        if let Some(p) = self.protocol
            && u8::from(p) != key.protocol()
        {
            return false;
        }
        if self.src_ports.is_any() && self.dst_ports.is_any() {
            return true;
        }
        match key.ports() {
            PortsState::Known { src, dst } => {
                self.src_ports.contains(src) && self.dst_ports.contains(dst)
            }
            PortsState::Opaque | PortsState::None => false,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)?;
        if let Some(p) = self.protocol {
            write!(f, " {p}")?;
        }
        if !self.src_ports.is_any() || !self.dst_ports.is_any() {
            let (s, d) = (self.src_ports, self.dst_ports);
            write!(f, " {}-{} -> {}-{}", s.lo, s.hi, d.lo, d.hi)?;
        }
        match self.action {
            Action::Protect(p) => write!(f, ": protect {p}"),
            Action::Bypass => f.write_str(": bypass"),
            Action::Discard => f.write_str(": discard"),
        }
    }
}

/// Protocols whose first four header bytes carry two 16-bit selectors: ports for TCP (6),
/// UDP (17), DCCP (33), SCTP (132) and UDP-Lite (136); type and code for ICMP (1) and
/// ICMPv6 (58) (RFC 4301 section 4.4.1.1).
#[inline]
pub(crate) const fn protocol_has_ports(protocol: u8) -> bool {
    matches!(protocol, 1 | 6 | 17 | 33 | 58 | 132 | 136)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_clears_host_bits_and_checks_length() {
        let p = IpPrefix::v4(Ipv4Addr::new(10, 1, 2, 3), 8).unwrap();
        assert_eq!(p.to_string(), "10.0.0.0/8");
        assert!(p.contains(IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1))));
        assert!(!p.contains(IpAddr::V4(Ipv4Addr::new(11, 0, 0, 1))));
        assert!(!p.contains(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(
            IpPrefix::v4(Ipv4Addr::UNSPECIFIED, 33),
            Err(SpdError::PrefixTooLong { len: 33 })
        );
        assert_eq!(
            IpPrefix::v6(Ipv6Addr::UNSPECIFIED, 129),
            Err(SpdError::PrefixTooLong { len: 129 })
        );
        let host = IpPrefix::v6("2001:db8::1".parse().unwrap(), 128).unwrap();
        assert!(host.contains("2001:db8::1".parse().unwrap()));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
        assert!(IpPrefix::ANY_V6.contains("::1".parse().unwrap()));
        assert!(IpPrefix::ANY_V4.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn opaque_ports_match_only_any() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let net = IpPrefix::v4(a, 8).unwrap();
        let any = Entry::new(net, net, Action::Bypass).with_protocol(IpProtocol::Tcp);
        let web = any.with_ports(PortRange::ANY, PortRange::single(443));
        let opaque = FlowKey::v4(a, a, 6, PortsState::Opaque);
        let https = FlowKey::v4(a, a, 6, PortsState::Known { src: 40000, dst: 443 });
        let ssh = FlowKey::v4(a, a, 6, PortsState::Known { src: 40000, dst: 22 });
        let udp = FlowKey::v4(a, a, 17, PortsState::Known { src: 40000, dst: 443 });
        assert!(any.matches(&opaque) && any.matches(&https) && !any.matches(&udp));
        assert!(!web.matches(&opaque) && web.matches(&https) && !web.matches(&ssh));
        let v6 = FlowKey::v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 6, PortsState::Opaque);
        assert!(!Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V4, Action::Bypass).matches(&v6));
        assert!(Entry::new(IpPrefix::ANY_V6, IpPrefix::ANY_V6, Action::Bypass).matches(&v6));
    }

    #[test]
    fn entry_validation() {
        let v4 = IpPrefix::ANY_V4;
        let v6 = IpPrefix::ANY_V6;
        assert_eq!(
            Entry::new(v4, v6, Action::Bypass).validate(3),
            Err(SpdError::MixedFamily { entry: 3 })
        );
        let ports =
            Entry::new(v4, v4, Action::Bypass).with_ports(PortRange::single(80), PortRange::ANY);
        assert_eq!(ports.validate(1), Err(SpdError::PortsWithoutProtocol { entry: 1 }));
        assert_eq!(
            ports.with_protocol(IpProtocol::Esp).validate(1),
            Err(SpdError::PortsWithoutProtocol { entry: 1 })
        );
        assert_eq!(ports.with_protocol(IpProtocol::Tcp).validate(1), Ok(()));
        assert_eq!(PortRange::new(5, 4), Err(SpdError::EmptyRange { lo: 5, hi: 4 }));
    }
}

/// The selectors of one SA's traffic (an IKEv2 traffic selector pair, a Quick Mode proxy-ID
/// pair, or a static SA's policy): what an inbound SA may carry once decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector(Entry);

impl TrafficSelector {
    /// Every packet from `src` to `dst`, any protocol and port.
    pub const fn new(src: IpPrefix, dst: IpPrefix) -> TrafficSelector {
        TrafficSelector(Entry::new(src, dst, Action::Bypass))
    }

    /// Restricted to one protocol.
    pub const fn with_protocol(self, protocol: IpProtocol) -> TrafficSelector {
        TrafficSelector(self.0.with_protocol(protocol))
    }

    /// Restricted to port (or ICMP type/code) ranges.
    pub const fn with_ports(self, src: PortRange, dst: PortRange) -> TrafficSelector {
        TrafficSelector(self.0.with_ports(src, dst))
    }

    /// The selector of the return traffic of an outbound policy entry: addresses and ports
    /// swapped (ICMP type/code selectors are not swapped: they describe the message).
    pub fn reverse_of(e: &Entry) -> TrafficSelector {
        let icmp = e.protocol.is_some_and(|p| matches!(u8::from(p), 1 | 58));
        let (sp, dp) = if icmp { (e.src_ports, e.dst_ports) } else { (e.dst_ports, e.src_ports) };
        TrafficSelector(Entry {
            src: e.dst,
            dst: e.src,
            protocol: e.protocol,
            src_ports: sp,
            dst_ports: dp,
            action: Action::Bypass,
        })
    }

    /// Source prefix.
    pub const fn src(&self) -> IpPrefix {
        self.0.src
    }

    /// Destination prefix.
    pub const fn dst(&self) -> IpPrefix {
        self.0.dst
    }

    /// Whether `key` is inside the selector.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        self.0.matches(key)
    }
}
