//! Traffic selector arithmetic (RFC 7296 section 2.9): narrowing as a responder, the
//! subset check as an initiator, and conversions between address ranges (what IKEv2
//! carries) and prefixes (what crypto ACLs and the dataplane's SPD hold).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::wire::TrafficSelector;

/// The Child SA selectors a policy allows: `local` is our side (TSi when we initiate, TSr
/// when we respond), `remote` the peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySelectors {
    pub local: Vec<TrafficSelector>,
    pub remote: Vec<TrafficSelector>,
}

/// The narrowed selectors did not leave anything: answer TS_UNACCEPTABLE (RFC 7296 2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsUnacceptable;

/// An address range of one family as 128-bit integers (IPv4 mapped into the low bits), with
/// protocol and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    v6: bool,
    proto: u8,
    ports: (u16, u16),
    addrs: (u128, u128),
}

fn range(ts: &TrafficSelector) -> Option<Range> {
    match *ts {
        TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => Some(Range {
            v6: false,
            proto: ip_protocol,
            ports: (start_port, end_port),
            addrs: (u128::from(u32::from(start)), u128::from(u32::from(end))),
        }),
        TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => Some(Range {
            v6: true,
            proto: ip_protocol,
            ports: (start_port, end_port),
            addrs: (start.to_bits(), end.to_bits()),
        }),
        TrafficSelector::Other { .. } => None,
    }
}

fn selector(r: Range) -> TrafficSelector {
    if r.v6 {
        TrafficSelector::Ipv6 {
            ip_protocol: r.proto,
            start_port: r.ports.0,
            end_port: r.ports.1,
            start: Ipv6Addr::from_bits(r.addrs.0),
            end: Ipv6Addr::from_bits(r.addrs.1),
        }
    } else {
        // Both ends came from IPv4 addresses, so they fit in 32 bits.
        let v4 = |a: u128| Ipv4Addr::from(u32::try_from(a).unwrap_or(u32::MAX));
        TrafficSelector::Ipv4 {
            ip_protocol: r.proto,
            start_port: r.ports.0,
            end_port: r.ports.1,
            start: v4(r.addrs.0),
            end: v4(r.addrs.1),
        }
    }
}

/// The selector both `a` and `b` cover, if any. Protocol 0 is "any"; the port range is
/// only meaningful for protocols with ports (and ICMP type/code), but RFC 7296 intersects
/// it regardless, as do we. An "opaque" range (start 65535, end 0, RFC 7296 3.13.1)
/// intersects with nothing but itself and the full range.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let (x, y) = (range(a)?, range(b)?);
    if x.v6 != y.v6 {
        return None;
    }
    let proto = match (x.proto, y.proto) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let opaque = |r: &Range| r.ports == (65535, 0);
    let full = |r: &Range| r.ports == (0, 65535);
    let ports = match (opaque(&x), opaque(&y)) {
        (true, true) => (65535, 0),
        (true, false) if full(&y) => (65535, 0),
        (false, true) if full(&x) => (65535, 0),
        (true, false) | (false, true) => return None,
        (false, false) => {
            let p = (x.ports.0.max(y.ports.0), x.ports.1.min(y.ports.1));
            if p.0 > p.1 {
                return None;
            }
            p
        }
    };
    let addrs = (x.addrs.0.max(y.addrs.0), x.addrs.1.min(y.addrs.1));
    if addrs.0 > addrs.1 {
        return None;
    }
    Some(selector(Range { v6: x.v6, proto, ports, addrs }))
}

/// Whether `inner` lies within `outer`.
pub fn covers(outer: &TrafficSelector, inner: &TrafficSelector) -> bool {
    intersect(outer, inner).as_ref() == Some(inner)
}

fn narrow_list(offered: &[TrafficSelector], ours: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for o in offered {
        for l in ours {
            if let Some(i) = intersect(o, l)
                && !out.iter().any(|e| covers(e, &i))
            {
                out.retain(|e| !covers(&i, e));
                out.push(i);
            }
        }
    }
    out
}

/// As a responder: the selectors to answer a Child SA request with. `tsi` is the
/// initiator's side (our remote), `tsr` ours. Each list becomes its intersections with
/// the policy (RFC 7296 2.9: the responder narrows to what its policy allows); either
/// list empty means TS_UNACCEPTABLE.
pub fn narrow(
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    policy: &PolicySelectors,
) -> Result<(Vec<TrafficSelector>, Vec<TrafficSelector>), TsUnacceptable> {
    let i = narrow_list(tsi, &policy.remote);
    let r = narrow_list(tsr, &policy.local);
    if i.is_empty() || r.is_empty() { Err(TsUnacceptable) } else { Ok((i, r)) }
}

/// As an initiator: whether the responder's narrowed selectors stay within what we sent.
pub fn within(answer: &[TrafficSelector], sent: &[TrafficSelector]) -> bool {
    !answer.is_empty() && answer.iter().all(|a| sent.iter().any(|s| covers(s, a)))
}

/// The selector of a prefix (`10.1.0.0/24`), any protocol and port.
pub fn from_prefix(addr: IpAddr, len: u8) -> TrafficSelector {
    from_prefix_proto(addr, len, 0, (0, 65535))
}

/// The selector of a prefix with a protocol and a port range.
pub fn from_prefix_proto(addr: IpAddr, len: u8, proto: u8, ports: (u16, u16)) -> TrafficSelector {
    let (v6, bits, width) = match addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (true, a.to_bits(), 128u32),
    };
    let len = u32::from(len).min(width);
    let host = 1u128.checked_shl(width - len).map_or(u128::MAX, |b| b - 1);
    let start = bits & !host;
    selector(Range { v6, proto, ports, addrs: (start, start | host) })
}

/// `2^bits - 1`: the host part of a block of `bits` bits (all ones for 128).
fn block(bits: u32) -> u128 {
    1u128.checked_shl(bits).map_or(u128::MAX, |b| b - 1)
}

/// The prefixes that exactly cover an address range (at most 2 × width of them), for the
/// SPD: e.g. 10.0.0.1 - 10.0.0.6 is 10.0.0.1/32, .2/31, .4/31, .6/32.
pub fn to_prefixes(ts: &TrafficSelector) -> Vec<(IpAddr, u8)> {
    let Some(r) = range(ts) else { return Vec::new() };
    let width: u32 = if r.v6 { 128 } else { 32 };
    let mut out = Vec::new();
    let (mut start, end) = r.addrs;
    loop {
        // The largest aligned block at `start` that stays within `end`.
        let align = if start == 0 { width } else { start.trailing_zeros().min(width) };
        let mut size = align;
        while size > 0 {
            let span = block(size);
            if start.checked_add(span).is_some_and(|last| last <= end) {
                break;
            }
            size -= 1;
        }
        let addr = if r.v6 {
            IpAddr::V6(Ipv6Addr::from_bits(start))
        } else {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(start).unwrap_or(u32::MAX)))
        };
        out.push((addr, (width - size) as u8));
        let span = block(size);
        match start.checked_add(span).and_then(|l| l.checked_add(1)) {
            Some(next) if next <= end && next > start => start = next,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str, e: &str) -> TrafficSelector {
        TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: s.parse().unwrap(),
            end: e.parse().unwrap(),
        }
    }

    fn p(s: &str) -> TrafficSelector {
        let (a, l) = s.split_once('/').unwrap();
        from_prefix(a.parse().unwrap(), l.parse().unwrap())
    }

    #[test]
    fn prefixes_and_ranges() {
        assert_eq!(p("10.1.0.0/24"), v4("10.1.0.0", "10.1.0.255"));
        assert_eq!(p("10.1.0.77/24"), v4("10.1.0.0", "10.1.0.255"), "host bits dropped");
        assert_eq!(p("0.0.0.0/0"), TrafficSelector::ipv4_any());
        assert_eq!(p("::/0"), TrafficSelector::ipv6_any());
        let hosts = to_prefixes(&v4("10.0.0.1", "10.0.0.6"));
        let s: Vec<String> = hosts.iter().map(|(a, l)| format!("{a}/{l}")).collect();
        assert_eq!(s, ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]);
        assert_eq!(
            to_prefixes(&TrafficSelector::ipv4_any()),
            vec![("0.0.0.0".parse().unwrap(), 0)]
        );
        assert_eq!(to_prefixes(&TrafficSelector::ipv6_any()), vec![("::".parse().unwrap(), 0)]);
        assert_eq!(to_prefixes(&p("2001:db8::/32")), vec![("2001:db8::".parse().unwrap(), 32)]);
        let top = to_prefixes(&v4("255.255.255.254", "255.255.255.255"));
        assert_eq!(top, vec![("255.255.255.254".parse().unwrap(), 31)]);
    }

    #[test]
    fn the_responder_narrows_any_to_its_policy() {
        // An ASA-style peer proposes any/any; our policy is 10.2/16 (theirs) <-> 10.1/24 (ours).
        let policy =
            PolicySelectors { local: vec![p("10.1.0.0/24")], remote: vec![p("10.2.0.0/16")] };
        let (i, r) =
            narrow(&[TrafficSelector::ipv4_any()], &[TrafficSelector::ipv4_any()], &policy)
                .unwrap();
        assert_eq!((i, r), (vec![p("10.2.0.0/16")], vec![p("10.1.0.0/24")]));
        // A narrower request stays as it is.
        let (i, r) = narrow(&[p("10.2.3.0/24")], &[p("10.1.0.0/25")], &policy).unwrap();
        assert_eq!((i, r), (vec![p("10.2.3.0/24")], vec![p("10.1.0.0/25")]));
        // Disjoint, or the wrong family: TS_UNACCEPTABLE.
        assert_eq!(narrow(&[p("10.9.0.0/16")], &[p("10.1.0.0/24")], &policy), Err(TsUnacceptable));
        assert_eq!(
            narrow(&[TrafficSelector::ipv6_any()], &[TrafficSelector::ipv6_any()], &policy),
            Err(TsUnacceptable)
        );
    }

    #[test]
    fn protocols_and_ports_intersect() {
        let tcp443 = from_prefix_proto("10.1.0.0".parse().unwrap(), 24, 6, (443, 443));
        let any = p("10.0.0.0/8");
        assert_eq!(intersect(&tcp443, &any), Some(tcp443.clone()));
        let udp = from_prefix_proto("10.0.0.0".parse().unwrap(), 8, 17, (0, 65535));
        assert_eq!(intersect(&tcp443, &udp), None);
        let tcp_hi = from_prefix_proto("10.0.0.0".parse().unwrap(), 8, 6, (1024, 65535));
        assert_eq!(intersect(&tcp443, &tcp_hi), None);
        let opaque = from_prefix_proto("10.1.0.0".parse().unwrap(), 24, 6, (65535, 0));
        assert_eq!(intersect(&opaque, &any), Some(opaque.clone()));
        assert_eq!(intersect(&opaque, &tcp443), None);
        assert!(covers(&any, &tcp443));
        assert!(!covers(&tcp443, &any));
    }

    #[test]
    fn the_initiator_checks_the_answer_is_within_its_request() {
        let sent = [p("10.1.0.0/16")];
        assert!(within(&[p("10.1.2.0/24")], &sent));
        assert!(within(&[p("10.1.0.0/16")], &sent));
        assert!(!within(&[p("10.0.0.0/8")], &sent), "wider than asked");
        assert!(!within(&[], &sent), "nothing");
    }

    #[test]
    fn narrowing_keeps_no_duplicates_or_covered_entries() {
        let policy = PolicySelectors {
            local: vec![p("10.1.0.0/24"), p("10.1.0.0/16")],
            remote: vec![p("10.2.0.0/16")],
        };
        let (_, r) = narrow(&[p("10.2.0.0/16")], &[TrafficSelector::ipv4_any()], &policy).unwrap();
        assert_eq!(r, vec![p("10.1.0.0/16")]);
    }
}
