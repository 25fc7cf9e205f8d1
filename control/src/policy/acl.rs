//! Crypto access lists (`access-list NAME extended permit|deny PROTO SRC DST ...`): what a
//! crypto map protects, and their translation into dataplane SPD entries.

use core::fmt;
use core::net::IpAddr;

use dataplane::spd::{Action, Entry, IpPrefix, PolicyId, PortRange};
use dataplane::wire::IpProtocol;

use super::keywords::keyword_enum;

keyword_enum! {
    /// What a rule does: in a crypto ACL, `permit` means "protect", `deny` means "leave in
    /// the clear" (not interesting traffic).
    pub enum AclAction {
        /// Protect matching traffic.
        Permit = "permit",
        /// Do not protect matching traffic.
        Deny = "deny",
    }
}

/// The protocol a rule matches (`access-list ... permit PROTO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclProtocol {
    /// `ip`: every protocol.
    Ip,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmp6,
    /// ESP (50).
    Esp,
    /// GRE (47).
    Gre,
    /// Any other protocol number.
    Number(u8),
}

impl AclProtocol {
    /// The keywords accepted besides numbers, for messages.
    pub const KEYWORDS: &'static str = "ip, tcp, udp, icmp, icmp6, esp, gre or a number 0..255";

    /// Parses a keyword.
    pub fn from_keyword(s: &str) -> Option<AclProtocol> {
        Some(match s {
            "ip" => AclProtocol::Ip,
            "tcp" => AclProtocol::Tcp,
            "udp" => AclProtocol::Udp,
            "icmp" => AclProtocol::Icmp,
            "icmp6" => AclProtocol::Icmp6,
            "esp" => AclProtocol::Esp,
            "gre" => AclProtocol::Gre,
            _ => return None,
        })
    }

    /// The protocol with this number; numbers that have a keyword become that keyword, so
    /// `6` and `tcp` load as the same rule.
    pub fn from_number(n: u8) -> AclProtocol {
        match n {
            1 => AclProtocol::Icmp,
            6 => AclProtocol::Tcp,
            17 => AclProtocol::Udp,
            47 => AclProtocol::Gre,
            50 => AclProtocol::Esp,
            58 => AclProtocol::Icmp6,
            n => AclProtocol::Number(n),
        }
    }

    /// The IP protocol number, or `None` for `ip` (any).
    pub const fn number(self) -> Option<u8> {
        match self {
            AclProtocol::Ip => None,
            AclProtocol::Tcp => Some(6),
            AclProtocol::Udp => Some(17),
            AclProtocol::Icmp => Some(1),
            AclProtocol::Icmp6 => Some(58),
            AclProtocol::Esp => Some(50),
            AclProtocol::Gre => Some(47),
            AclProtocol::Number(n) => Some(n),
        }
    }

    /// Whether `src_port` / `dst_port` apply.
    pub const fn has_ports(self) -> bool {
        matches!(self, AclProtocol::Tcp | AclProtocol::Udp)
    }

    /// Whether `icmp_type` applies.
    pub const fn is_icmp(self) -> bool {
        matches!(self, AclProtocol::Icmp | AclProtocol::Icmp6)
    }
}

impl fmt::Display for AclProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclProtocol::Ip => f.write_str("ip"),
            AclProtocol::Tcp => f.write_str("tcp"),
            AclProtocol::Udp => f.write_str("udp"),
            AclProtocol::Icmp => f.write_str("icmp"),
            AclProtocol::Icmp6 => f.write_str("icmp6"),
            AclProtocol::Esp => f.write_str("esp"),
            AclProtocol::Gre => f.write_str("gre"),
            AclProtocol::Number(n) => write!(f, "{n}"),
        }
    }
}

/// A source or destination: `any` (both families), `any4`, `any6` or a prefix (a bare
/// address is a host prefix, as `host A.B.C.D` on the ASA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressSpec {
    /// Every IPv4 and IPv6 address.
    Any,
    /// Every IPv4 address.
    Any4,
    /// Every IPv6 address.
    Any6,
    /// One prefix.
    Prefix(IpPrefix),
}

impl AddressSpec {
    /// What the parser accepts, for messages.
    pub const EXPECTED: &'static str =
        "expected A.B.C.D/LEN, IPV6/LEN, a bare address, any, any4 or any6";

    /// Parses `any`, `any4`, `any6`, `ADDR/LEN` or `ADDR`. Host bits must be zero.
    pub fn parse(s: &str) -> Result<AddressSpec, String> {
        match s {
            "any" => return Ok(AddressSpec::Any),
            "any4" => return Ok(AddressSpec::Any4),
            "any6" => return Ok(AddressSpec::Any6),
            _ => {}
        }
        parse_prefix(s).map(AddressSpec::Prefix)
    }

    /// Whether IPv4 / IPv6 addresses can match.
    pub const fn families(self) -> (bool, bool) {
        match self {
            AddressSpec::Any => (true, true),
            AddressSpec::Any4 => (true, false),
            AddressSpec::Any6 => (false, true),
            AddressSpec::Prefix(p) => (!p.is_v6(), p.is_v6()),
        }
    }

    /// The prefix for one family (`v6`), or `None` if this spec matches nothing there.
    pub fn prefix_for(self, v6: bool) -> Option<IpPrefix> {
        match self {
            AddressSpec::Any => Some(if v6 { IpPrefix::ANY_V6 } else { IpPrefix::ANY_V4 }),
            AddressSpec::Any4 => (!v6).then_some(IpPrefix::ANY_V4),
            AddressSpec::Any6 => v6.then_some(IpPrefix::ANY_V6),
            AddressSpec::Prefix(p) => (p.is_v6() == v6).then_some(p),
        }
    }
}

impl fmt::Display for AddressSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressSpec::Any => f.write_str("any"),
            AddressSpec::Any4 => f.write_str("any4"),
            AddressSpec::Any6 => f.write_str("any6"),
            AddressSpec::Prefix(p) => write!(f, "{p}"),
        }
    }
}

/// Parses `ADDR/LEN` or a bare address (host prefix); refuses set host bits, which on the
/// ASA would be a mistyped mask.
pub fn parse_prefix(s: &str) -> Result<IpPrefix, String> {
    let (addr_s, len_s) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr_s.parse().map_err(|_| format!("\"{addr_s}\" is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_s {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("prefix length \"{l}\" is not 0..{max}")),
        },
    };
    let prefix = IpPrefix::new(addr, len).map_err(|e| e.to_string())?;
    if prefix.addr() != addr {
        return Err(format!("host bits set (did you mean {prefix}?)"));
    }
    Ok(prefix)
}

/// Parses a port range `N` or `N-M` (N <= M).
pub fn parse_port_range(s: &str) -> Option<PortRange> {
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let p = s.trim().parse().ok()?;
            (p, p)
        }
    };
    PortRange::new(lo, hi).ok()
}

/// Writes a port range as the parser reads it.
pub fn port_range_text(r: PortRange) -> String {
    if r.lo() == r.hi() { r.lo().to_string() } else { format!("{}-{}", r.lo(), r.hi()) }
}

/// One ACE (`access-list NAME extended ACTION PROTO SRC [PORT] DST [PORT]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AclRule {
    /// Permit (protect) or deny (bypass).
    pub action: AclAction,
    /// Protocol.
    pub protocol: AclProtocol,
    /// Source (the local protected network, outbound).
    pub src: AddressSpec,
    /// Destination (the remote protected network, outbound).
    pub dst: AddressSpec,
    /// Source ports (TCP/UDP only); `None` is any.
    pub src_port: Option<PortRange>,
    /// Destination ports (TCP/UDP only); `None` is any.
    pub dst_port: Option<PortRange>,
    /// ICMP type (ICMP/ICMPv6 only); `None` is any.
    pub icmp_type: Option<u8>,
}

impl AclRule {
    /// The dataplane SPD entries for this rule: one per address family it can match (a rule
    /// with `any` on both sides yields an IPv4 and an IPv6 entry). `permit` protects under
    /// `policy`; `deny` bypasses. The ICMP type goes in the source-port selector, as RFC 4301
    /// section 4.4.1.1 carries it.
    pub fn spd_entries(&self, policy: PolicyId) -> Vec<Entry> {
        let action = match self.action {
            AclAction::Permit => Action::Protect(policy),
            AclAction::Deny => Action::Bypass,
        };
        let mut out = Vec::with_capacity(2);
        for v6 in [false, true] {
            let (Some(src), Some(dst)) = (self.src.prefix_for(v6), self.dst.prefix_for(v6)) else {
                continue;
            };
            // ICMP rules only exist in their own family.
            if (self.protocol == AclProtocol::Icmp && v6)
                || (self.protocol == AclProtocol::Icmp6 && !v6)
            {
                continue;
            }
            let mut e = Entry::new(src, dst, action);
            if let Some(n) = self.protocol.number() {
                e = e.with_protocol(IpProtocol::from(n));
            }
            let src_ports = match self.icmp_type {
                Some(t) => PortRange::single(u16::from(t)),
                None => self.src_port.unwrap_or(PortRange::ANY),
            };
            let dst_ports = self.dst_port.unwrap_or(PortRange::ANY);
            out.push(e.with_ports(src_ports, dst_ports));
        }
        out
    }
}

/// A named, ordered list of rules (`access-list NAME extended ...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessList {
    /// The ACL name (`match address NAME` refers to it).
    pub name: String,
    /// Rules, first match wins.
    pub rules: Vec<AclRule>,
}

impl AccessList {
    /// Whether any rule protects traffic: a crypto map over an ACL without one protects
    /// nothing.
    pub fn has_permit(&self) -> bool {
        self.rules.iter().any(|r| r.action == AclAction::Permit)
    }

    /// All rules' SPD entries in order (see [`AclRule::spd_entries`]).
    pub fn spd_entries(&self, policy: PolicyId) -> Vec<Entry> {
        self.rules.iter().flat_map(|r| r.spd_entries(policy)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn prefixes() {
        assert_eq!(AddressSpec::parse("any4"), Ok(AddressSpec::Any4));
        let p = parse_prefix("10.1.0.9").unwrap();
        assert_eq!(p.prefix_len(), 32);
        assert_eq!(parse_prefix("2001:db8::/32").unwrap().prefix_len(), 32);
        assert_eq!(
            parse_prefix("10.0.0.1/24").unwrap_err(),
            "host bits set (did you mean 10.0.0.0/24?)"
        );
        assert_eq!(parse_prefix("10.0.0.0/33").unwrap_err(), "prefix length \"33\" is not 0..32");
        assert!(parse_prefix("10.0.0/8").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port_range("22"), Some(PortRange::single(22)));
        assert_eq!(parse_port_range("500-4500"), PortRange::new(500, 4500).ok());
        assert_eq!(parse_port_range("4500-500"), None);
        assert_eq!(parse_port_range("70000"), None);
        assert_eq!(port_range_text(PortRange::new(1, 2).unwrap()), "1-2");
    }

    #[test]
    fn spd_entries_split_families() {
        let r = AclRule {
            action: AclAction::Permit,
            protocol: AclProtocol::Udp,
            src: AddressSpec::Any,
            dst: AddressSpec::Any,
            src_port: None,
            dst_port: PortRange::new(500, 4500).ok(),
            icmp_type: None,
        };
        let e = r.spd_entries(PolicyId(7));
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].action, Action::Protect(PolicyId(7)));
        assert_eq!(e[0].dst_ports, PortRange::new(500, 4500).unwrap());
        assert!(e[1].src.is_v6());
        let r = AclRule {
            action: AclAction::Deny,
            src: AddressSpec::Any,
            dst: AddressSpec::Prefix(IpPrefix::v4(Ipv4Addr::new(10, 1, 0, 0), 24).unwrap()),
            protocol: AclProtocol::Ip,
            ..r
        };
        let e = r.spd_entries(PolicyId(1));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Bypass);
        assert_eq!(e[0].protocol, None);
    }
}
