//! The per-tunnel parts of the command line: the target, source addresses and ports,
//! traffic selector patterns (one prefix for all, a prefix split into one block per tunnel,
//! or `dynamic`) and identity patterns.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use control::ikev1::wire::Identification;
use control::ikev2::selectors::from_prefix;
use control::ikev2::wire::{IdRepr, TrafficSelector};

/// The IKE port (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// The NAT-T port, where IKE messages carry the non-ESP marker (RFC 3948 section 2.2).
pub const NAT_T_PORT: u16 = 4500;

/// Parses `ADDR`, `ADDR:PORT`, `[V6]:PORT` or a bare IPv6 address; the port defaults to 500.
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Ok(sa);
    }
    match t.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, IKE_PORT)),
        Err(_) => Err(format!("'{s}' is not ADDR, ADDR:PORT or [IPv6]:PORT")),
    }
}

/// A prefix: address and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// Parses `ADDR/LEN` (or a bare address: a host prefix).
    pub fn parse(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("'{s}': bad address '{a}'"))?;
        let width = width(addr);
        let len = match l {
            None => width,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(format!("'{s}': prefix length must be 0 to {width}")),
            },
        };
        Ok(Prefix { addr, len })
    }

    /// The number of addresses (saturating at `u128::MAX`).
    pub fn size(&self) -> u128 {
        1u128.checked_shl(u32::from(width(self.addr) - self.len)).unwrap_or(u128::MAX)
    }

    /// The first address, the host part cleared.
    fn base(&self) -> u128 {
        let host = self.size().wrapping_sub(1);
        bits(self.addr) & !host
    }

    /// The `n`-th address of the prefix, if it has one.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        (n < self.size()).then(|| from_bits(self.addr, self.base() + n))
    }
}

fn width(a: IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => v.to_bits(),
    }
}

fn from_bits(family: IpAddr, b: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(b).unwrap_or(u32::MAX))),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from_bits(b)),
    }
}

/// The source addresses of `--sources CIDR`: the prefix's addresses in order, without an
/// IPv4 network address (x.x.x.0 of a /24 is no host), at most `max`.
pub fn source_addresses(p: &Prefix, max: usize) -> Vec<IpAddr> {
    let skip = u128::from(p.addr.is_ipv4() && p.len < 31);
    (0..max as u128).map_while(|i| p.nth(i + skip)).collect()
}

/// Parses `--source-ports`: `PORT` or `FIRST-LAST`, 1 to 65535, or `0`: one port the kernel
/// picks.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("'{s}' is not PORT or FIRST-LAST (1 to 65535), or 0");
    if s.trim() == "0" {
        return Ok((0, 0));
    }
    let (a, b) = match s.trim().split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// A traffic selector pattern: the same prefix for every tunnel, a prefix split into one
/// block per tunnel, or the tunnel's own IKE address (strongSwan's `dynamic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsPattern {
    /// `CIDR`: every tunnel proposes this prefix.
    Same(Prefix),
    /// `CIDR:LEN`: tunnel i proposes the i-th /LEN block of the prefix.
    Split(Prefix, u8),
    /// `dynamic`: the tunnel's IKE address (ours for the local side, the target's for the
    /// remote side).
    Dynamic,
}

impl TsPattern {
    /// Parses `dynamic`, `CIDR` or `CIDR:LEN` (`10.200.0.0/16:32`, `2001:db8::/48:64`).
    pub fn parse(s: &str) -> Result<TsPattern, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("dynamic") {
            return Ok(TsPattern::Dynamic);
        }
        // The split length follows the prefix length, so an IPv6 address's colons are
        // never mistaken for it.
        if let Some((addr, rest)) = t.split_once('/')
            && let Some((len, sub)) = rest.split_once(':')
        {
            let p = Prefix::parse(&format!("{addr}/{len}"))?;
            let sub: u8 = sub.parse().map_err(|_| format!("'{s}': bad split length '{sub}'"))?;
            if sub < p.len || sub > width(p.addr) {
                return Err(format!(
                    "'{s}': the split length must be {} to {}",
                    p.len,
                    width(p.addr)
                ));
            }
            return Ok(TsPattern::Split(p, sub));
        }
        Ok(TsPattern::Same(Prefix::parse(t)?))
    }

    /// How many tunnels the pattern has distinct selectors for (`None`: any number).
    pub fn capacity(&self) -> Option<u128> {
        match self {
            TsPattern::Split(p, sub) => {
                Some(1u128.checked_shl(u32::from(sub - p.len)).unwrap_or(u128::MAX))
            }
            _ => None,
        }
    }

    /// The selector of tunnel `i` whose own address on this side is `own`.
    pub fn selector(&self, i: u32, own: IpAddr) -> Option<TrafficSelector> {
        match *self {
            TsPattern::Same(p) => Some(from_prefix(p.addr, p.len)),
            TsPattern::Dynamic => Some(from_prefix(own, width(own))),
            TsPattern::Split(p, sub) => {
                let step = 1u128.checked_shl(u32::from(width(p.addr) - sub))?;
                let block = u128::from(i).checked_mul(step)?;
                Some(from_prefix(p.nth(block)?, sub))
            }
        }
    }
}

/// An identity pattern: `{i}` is replaced by the tunnel number, `{addr}` by the tunnel's
/// source address; the result is an IP address ID, an RFC 822 ID (with `@`) or an FQDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPattern(String);

impl IdPattern {
    /// Checks the pattern's shape.
    pub fn parse(s: &str) -> Result<IdPattern, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty identity".into());
        }
        let rest = t.replace("{i}", "").replace("{addr}", "");
        if rest.contains('{') || rest.contains('}') {
            return Err(format!("'{s}': only {{i}} and {{addr}} may be substituted"));
        }
        Ok(IdPattern(t.to_owned()))
    }

    /// Whether every tunnel gets a distinct identity from it.
    pub fn per_tunnel(&self) -> bool {
        self.0.contains("{i}")
    }

    /// The identity of tunnel `i` with source address `addr`.
    pub fn id(&self, i: u32, addr: IpAddr) -> IdRepr {
        let s = self.text(i, addr);
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => IdRepr::ipv4(a),
            Ok(IpAddr::V6(a)) => IdRepr::ipv6(a),
            Err(_) if s.contains('@') => IdRepr::rfc822(&s),
            Err(_) => IdRepr::fqdn(&s),
        }
    }

    /// Tunnel `i`'s identity as an IKEv1 ID payload, typed as [`IdPattern::id`] types it.
    pub fn v1_id(&self, i: u32, addr: IpAddr) -> Identification {
        let s = self.text(i, addr);
        match s.parse::<IpAddr>() {
            Ok(a) => Identification::address(a),
            Err(_) if s.contains('@') => Identification::user_fqdn(&s),
            Err(_) => Identification::fqdn(&s),
        }
    }

    fn text(&self, i: u32, addr: IpAddr) -> String {
        self.0.replace("{i}", &i.to_string()).replace("{addr}", &addr.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("127.0.0.1").unwrap(), "127.0.0.1:500".parse().unwrap());
        assert_eq!(parse_target("10.0.0.1:4500").unwrap(), "10.0.0.1:4500".parse().unwrap());
        assert_eq!(parse_target("::1").unwrap(), "[::1]:500".parse().unwrap());
        assert_eq!(parse_target("[::1]:4500").unwrap(), "[::1]:4500".parse().unwrap());
        assert!(parse_target("gateway.example").is_err());
    }

    #[test]
    fn split_selectors_are_distinct_blocks() {
        let p = TsPattern::parse("10.200.0.0/16:32").unwrap();
        assert_eq!(p.capacity(), Some(65536));
        let own = v4("127.0.0.1");
        assert_eq!(p.selector(0, own), Some(from_prefix(v4("10.200.0.0"), 32)));
        assert_eq!(p.selector(258, own), Some(from_prefix(v4("10.200.1.2"), 32)));
        assert_eq!(p.selector(65536, own), None, "beyond the prefix");
        let p = TsPattern::parse("10.0.0.0/8:24").unwrap();
        assert_eq!(p.selector(3, own), Some(from_prefix(v4("10.0.3.0"), 24)));
        let p = TsPattern::parse("2001:db8::/48:64").unwrap();
        assert_eq!(p.selector(1, own), Some(from_prefix(v4("2001:db8:0:1::"), 64)));
    }

    #[test]
    fn same_and_dynamic_selectors() {
        let own = v4("10.9.0.7");
        let same = TsPattern::parse("10.100.0.0/16").unwrap();
        assert_eq!(same.capacity(), None);
        assert_eq!(same.selector(5, own), Some(from_prefix(v4("10.100.0.0"), 16)));
        let dynamic = TsPattern::parse("dynamic").unwrap();
        assert_eq!(dynamic.selector(5, own), Some(from_prefix(own, 32)));
        for bad in ["10.0.0.0/16:8", "10.0.0.0/33", "10.0.0.0/16:33", "x/8"] {
            assert!(TsPattern::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn sources_skip_the_network_address() {
        let p = Prefix::parse("10.98.0.0/24").unwrap();
        let a = source_addresses(&p, 1000);
        assert_eq!(a.len(), 255);
        assert_eq!(a[0], v4("10.98.0.1"));
        assert_eq!(a[254], v4("10.98.0.255"));
        let host = Prefix::parse("127.0.0.1").unwrap();
        assert_eq!(source_addresses(&host, 5), vec![v4("127.0.0.1")]);
    }

    #[test]
    fn ports_and_ids() {
        assert_eq!(parse_port_range("20000-20999").unwrap(), (20000, 20999));
        assert_eq!(parse_port_range("500").unwrap(), (500, 500));
        assert!(parse_port_range("0-3").is_err());
        assert_eq!(parse_port_range("0").unwrap(), (0, 0), "one ephemeral port");
        assert!(parse_port_range("9-3").is_err());
        let p = IdPattern::parse("t{i}.loadtest").unwrap();
        assert!(p.per_tunnel());
        assert_eq!(p.id(7, v4("127.0.0.1")), IdRepr::fqdn("t7.loadtest"));
        let p = IdPattern::parse("{addr}").unwrap();
        assert_eq!(p.id(7, v4("10.98.0.3")), IdRepr::ipv4(Ipv4Addr::new(10, 98, 0, 3)));
        let p = IdPattern::parse("u{i}@lab").unwrap();
        assert_eq!(p.id(1, v4("10.0.0.1")), IdRepr::rfc822("u1@lab"));
        assert!(IdPattern::parse("{n}").is_err());
    }
}
