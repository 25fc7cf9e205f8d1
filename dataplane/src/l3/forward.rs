//! Per-packet IP forwarding helpers: TTL / hop-limit decrement, ICMP error generation
//! (time exceeded, fragmentation needed / packet too big), echo replies for our own addresses and the ICMP error rate limiter.
//!
//! The buffers handed in and out are IP packets (L2 stripped); the caller prepends L2
//! after routing the result like any other locally originated packet.

use super::iface::{IfIndex, Interface};
use crate::wire::icmpv4::{self, Message as Icmpv4Message, TimeExceeded as Icmpv4TimeExceeded};
use crate::wire::icmpv6::{self, Message as Icmpv6Message, TimeExceeded as Icmpv6TimeExceeded};
use crate::wire::{
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr,
    Ipv6Addr, Ipv6Packet, Ipv6Repr, checksum, ipv4, ipv6, ipv6ext,
};

/// TTL / hop limit of packets the appliance originates (RFC 1700 default, 64).
pub const DEFAULT_TTL: u8 = 64;

/// Why a forwarding helper refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    /// The packet does not parse (length fields, version, checksum).
    Malformed,
    /// The packet is of a kind this helper does not handle (fragmented echo request,
    /// extension headers before ICMPv6, not an echo request).
    Unsupported,
    /// The output buffer is too short.
    NoRoom,
}

/// Outcome of a TTL / hop-limit decrement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Decremented (checksum patched); forward it.
    Forward,
    /// The packet arrived with TTL 0 or 1: do not forward; send time-exceeded if
    /// [`may_send_error_v4`] / [`may_send_error_v6`] allows.
    Expired,
}

/// Decrements the IPv4 TTL with an incremental checksum update (RFC 1624, RFC 1812
/// section 5.3.1).
pub fn decrement_ttl_v4(ip: &mut [u8]) -> Result<Ttl, ForwardError> {
    let mut pkt = Ipv4Packet::new_checked(ip).map_err(|_| ForwardError::Malformed)?;
    Ok(if pkt.decrement_ttl().is_ok() { Ttl::Forward } else { Ttl::Expired })
}

/// Decrements the IPv6 hop limit (RFC 8200 section 3; no checksum to patch).
pub fn decrement_hop_limit_v6(ip: &mut [u8]) -> Result<Ttl, ForwardError> {
    let mut pkt = Ipv6Packet::new_checked(ip).map_err(|_| ForwardError::Malformed)?;
    let hop = pkt.hop_limit();
    if hop <= 1 {
        return Ok(Ttl::Expired);
    }
    pkt.set_hop_limit(hop - 1);
    Ok(Ttl::Forward)
}

fn unicast_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Whether an ICMPv4 error may be sent about `ip` (RFC 1812 section 4.3.2.7): not about an
/// ICMP error, a non-initial fragment, or a packet whose source is not a unicast address
/// or whose destination is broadcast or multicast.
pub fn may_send_error_v4(ip: &[u8]) -> bool {
    let Ok(pkt) = Ipv4Packet::new_checked(ip) else {
        return false;
    };
    if !unicast_v4(pkt.src_addr()) || pkt.dst_addr().is_broadcast() || pkt.dst_addr().is_multicast()
    {
        return false;
    }
    if pkt.frag_offset() != 0 {
        return false;
    }
    if pkt.next_header() == IpProtocol::Icmp {
        // Only queries (echo) may provoke an error; an unreadable type counts as an error.
        return matches!(
            pkt.payload().first().map(|&t| Icmpv4Message::from(t)),
            Some(Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply)
        );
    }
    true
}

/// Whether an ICMPv6 error may be sent about `ip` (RFC 4443 section 2.4 (e)): not about
/// an ICMPv6 error message, a packet to a multicast address, or from an unspecified or
/// multicast source.
pub fn may_send_error_v6(ip: &[u8]) -> bool {
    let Ok(pkt) = Ipv6Packet::new_checked(ip) else {
        return false;
    };
    let (src, dst) = (pkt.src_addr(), pkt.dst_addr());
    if src.is_unspecified() || src.is_multicast() || src.is_loopback() || dst.is_multicast() {
        return false;
    }
    let payload = pkt.payload();
    match ipv6ext::upper_layer(pkt.next_header(), payload) {
        Ok(ul) if ul.protocol == IpProtocol::Icmpv6 && ul.has_header() => {
            // Types below 128 are errors.
            payload.get(ul.offset).is_some_and(|&t| t >= 128)
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// An ICMP / ICMPv6 error a router sends about a packet it does not forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// TTL / hop limit exceeded in transit (RFC 1812 5.3.1, RFC 4443 3.3).
    TimeExceeded,
    /// Larger than the next link's `mtu`: ICMP "fragmentation needed and DF set" with the
    /// next-hop MTU (RFC 1191 section 4), or ICMPv6 "packet too big" (RFC 4443 3.2).
    TooBig { mtu: u16 },
}

/// DSCP of generated ICMP errors: CS6, "internetwork control" (RFC 4594 section 3.2).
const ERROR_DSCP: u8 = 0xc0;

/// Writes an IPv4 packet from `src` carrying `kind` about `offending` into `buf`, quoting
/// as much of it as fits in 576 bytes (RFC 1812 section 4.3.2.3). Returns the packet
/// length. Check [`may_send_error_v4`] and the rate limiter first.
pub fn emit_error_v4(
    src: Ipv4Addr,
    offending: &[u8],
    kind: IcmpError,
    buf: &mut [u8],
) -> Result<usize, ForwardError> {
    let pkt = Ipv4Packet::new_checked(offending).map_err(|_| ForwardError::Malformed)?;
    let quoted_len = usize::from(pkt.total_len()).min(icmpv4::ERROR_DATA_MAX_LEN);
    let quoted = offending.get(..quoted_len).ok_or(ForwardError::Malformed)?;
    let icmp = match kind {
        IcmpError::TimeExceeded => {
            Icmpv4Repr::TimeExceeded { reason: Icmpv4TimeExceeded::TtlExpired, data: quoted }
        }
        IcmpError::TooBig { mtu } => Icmpv4Repr::DstUnreachable {
            reason: icmpv4::DstUnreachable::FragRequired,
            next_hop_mtu: mtu,
            data: quoted,
        },
    };
    let icmp_len = icmp.buffer_len();
    let ip_repr = Ipv4Repr {
        src_addr: src,
        dst_addr: pkt.src_addr(),
        next_header: IpProtocol::Icmp,
        payload_len: icmp_len,
        hop_limit: DEFAULT_TTL,
        dscp_ecn: ERROR_DSCP,
        dont_frag: false,
    };
    let total = ipv4::HEADER_LEN + icmp_len;
    let out = buf.get_mut(..total).ok_or(ForwardError::NoRoom)?;
    let mut ip = Ipv4Packet::new_unchecked(out);
    ip_repr.emit(&mut ip).map_err(|_| ForwardError::NoRoom)?;
    icmp.emit(&mut Icmpv4Packet::new_unchecked(ip.payload_mut()))
        .map_err(|_| ForwardError::NoRoom)?;
    Ok(total)
}

/// Writes an IPv6 packet from `src` carrying `kind` about `offending` into `buf`, quoting
/// as much as fits in the minimum MTU (RFC 4443 section 2.4 (c)). Returns the packet
/// length.
pub fn emit_error_v6(
    src: Ipv6Addr,
    offending: &[u8],
    kind: IcmpError,
    buf: &mut [u8],
) -> Result<usize, ForwardError> {
    let pkt = Ipv6Packet::new_checked(offending).map_err(|_| ForwardError::Malformed)?;
    let quoted_len =
        (ipv6::HEADER_LEN + usize::from(pkt.payload_len())).min(icmpv6::ERROR_DATA_MAX_LEN);
    let quoted = offending.get(..quoted_len).ok_or(ForwardError::Malformed)?;
    let dst = pkt.src_addr();
    let icmp = match kind {
        IcmpError::TimeExceeded => {
            Icmpv6Repr::TimeExceeded { reason: Icmpv6TimeExceeded::HopLimitExceeded, data: quoted }
        }
        IcmpError::TooBig { mtu } => Icmpv6Repr::PktTooBig { mtu: u32::from(mtu), data: quoted },
    };
    let icmp_len = icmp.buffer_len();
    let ip_repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp_len,
        hop_limit: DEFAULT_TTL,
        traffic_class: ERROR_DSCP,
        flow_label: 0,
    };
    let total = ipv6::HEADER_LEN + icmp_len;
    let out = buf.get_mut(..total).ok_or(ForwardError::NoRoom)?;
    let mut ip = Ipv6Packet::new_unchecked(out);
    ip_repr.emit(&mut ip).map_err(|_| ForwardError::NoRoom)?;
    icmp.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(ip.payload_mut()))
        .map_err(|_| ForwardError::NoRoom)?;
    Ok(total)
}

/// [`emit_error_v4`] for time-exceeded.
pub fn emit_time_exceeded_v4(
    src: Ipv4Addr,
    offending: &[u8],
    buf: &mut [u8],
) -> Result<usize, ForwardError> {
    emit_error_v4(src, offending, IcmpError::TimeExceeded, buf)
}

/// [`emit_error_v6`] for time-exceeded.
pub fn emit_time_exceeded_v6(
    src: Ipv6Addr,
    offending: &[u8],
    buf: &mut [u8],
) -> Result<usize, ForwardError> {
    emit_error_v6(src, offending, IcmpError::TimeExceeded, buf)
}

/// Writes `kind` (v4 or v6, by the offending packet's version) about `offending`,
/// received on `ingress`, into `buf`, sourced from the ingress interface's address: its
/// primary IPv4 address, or for IPv6 the address that fits the offender's source (RFC 1812
/// section 4.3.2.4; RFC 4443 section 2.2). Does not check [`may_send_error_v4`] /
/// [`may_send_error_v6`] or the rate limiter: the caller does.
pub fn emit_error(
    ingress: &Interface,
    offending: &[u8],
    kind: IcmpError,
    buf: &mut [u8],
) -> Result<usize, ForwardError> {
    match offending.first().map(|b| b >> 4) {
        Some(4) => {
            let src = ingress.primary_ipv4().ok_or(ForwardError::Unsupported)?;
            emit_error_v4(src, offending, kind, buf)
        }
        Some(6) => {
            let pkt = Ipv6Packet::new_checked(offending).map_err(|_| ForwardError::Malformed)?;
            let src = ingress.source_ipv6_for(pkt.src_addr()).ok_or(ForwardError::Unsupported)?;
            emit_error_v6(src, offending, kind, buf)
        }
        _ => Err(ForwardError::Malformed),
    }
}

/// [`emit_error`] for time-exceeded.
pub fn emit_time_exceeded(
    ingress: &Interface,
    offending: &[u8],
    buf: &mut [u8],
) -> Result<usize, ForwardError> {
    emit_error(ingress, offending, IcmpError::TimeExceeded, buf)
}

/// Turns an ICMPv4 echo request to one of our addresses into the echo reply, in place:
/// addresses swapped, TTL reset, type changed, both checksums updated. Returns the reply's
/// length (the request's total length). The caller has checked that the destination is
/// ours (see [`mod@super::classify`]).
pub fn echo_reply_v4(ip: &mut [u8]) -> Result<usize, ForwardError> {
    let mut pkt = Ipv4Packet::new_checked(&mut *ip).map_err(|_| ForwardError::Malformed)?;
    if !pkt.verify_checksum() {
        return Err(ForwardError::Malformed);
    }
    if pkt.next_header() != IpProtocol::Icmp || pkt.is_fragment() {
        return Err(ForwardError::Unsupported);
    }
    let (src, dst) = (pkt.src_addr(), pkt.dst_addr());
    if !unicast_v4(src) {
        return Err(ForwardError::Unsupported);
    }
    let total = usize::from(pkt.total_len());
    {
        let mut icmp =
            Icmpv4Packet::new_checked(pkt.payload_mut()).map_err(|_| ForwardError::Malformed)?;
        if !icmp.verify_checksum() {
            return Err(ForwardError::Malformed);
        }
        if icmp.msg_type() != Icmpv4Message::EchoRequest || icmp.msg_code() != 0 {
            return Err(ForwardError::Unsupported);
        }
        // Type and code share the first 16-bit word: patch the checksum for that word only.
        let old = u16::from_be_bytes([u8::from(Icmpv4Message::EchoRequest), 0]);
        let new = u16::from_be_bytes([u8::from(Icmpv4Message::EchoReply), 0]);
        let sum = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_msg_type(Icmpv4Message::EchoReply);
        icmp.set_checksum(sum);
    }
    pkt.set_src_addr(dst);
    pkt.set_dst_addr(src);
    pkt.set_ttl(DEFAULT_TTL);
    pkt.fill_checksum();
    Ok(total)
}

/// Turns an ICMPv6 echo request to one of our unicast addresses into the echo reply, in
/// place. ICMPv6 must follow the fixed header directly (requests with extension headers
/// give `Unsupported`). Returns the reply's length.
pub fn echo_reply_v6(ip: &mut [u8]) -> Result<usize, ForwardError> {
    let mut pkt = Ipv6Packet::new_checked(&mut *ip).map_err(|_| ForwardError::Malformed)?;
    if pkt.next_header() != IpProtocol::Icmpv6 {
        return Err(ForwardError::Unsupported);
    }
    let (src, dst) = (pkt.src_addr(), pkt.dst_addr());
    if src.is_unspecified() || src.is_multicast() || dst.is_multicast() {
        return Err(ForwardError::Unsupported);
    }
    let total = ipv6::HEADER_LEN + usize::from(pkt.payload_len());
    {
        let payload = pkt.payload_mut();
        let mut icmp = Icmpv6Packet::new_checked(payload).map_err(|_| ForwardError::Malformed)?;
        if !icmp.verify_checksum(&src, &dst) {
            return Err(ForwardError::Malformed);
        }
        if icmp.msg_type() != Icmpv6Message::EchoRequest || icmp.msg_code() != 0 {
            return Err(ForwardError::Unsupported);
        }
        icmp.set_msg_type(Icmpv6Message::EchoReply);
        // The pseudo-header is symmetric in source and destination, so computing it with the
        // swapped pair gives the same sum.
        icmp.fill_checksum(&dst, &src);
    }
    pkt.set_src_addr(dst);
    pkt.set_dst_addr(src);
    pkt.set_hop_limit(DEFAULT_TTL);
    Ok(total)
}

/// Token bucket per interface limiting ICMP error generation (RFC 1812 section 4.3.2.8,
/// RFC 4443 section 2.4 (f)). Credit is kept in nanoseconds: each message costs
/// `1e9 / rate` ns of credit, and a bucket holds at most `burst` messages' worth.
#[derive(Debug, Clone)]
pub struct IcmpRateLimiter {
    cost_ns: u64,
    cap_ns: u64,
    buckets: Vec<(u64, u64)>,
}

impl IcmpRateLimiter {
    /// `rate_per_s` messages per second sustained (at least 1), bursts of `burst` (at least
    /// 1), for interfaces `0..ifaces`. Buckets start full.
    pub fn new(ifaces: usize, rate_per_s: u32, burst: u32) -> IcmpRateLimiter {
        let cost_ns = 1_000_000_000 / u64::from(rate_per_s.max(1));
        let cap_ns = cost_ns * u64::from(burst.max(1));
        IcmpRateLimiter { cost_ns, cap_ns, buckets: vec![(cap_ns, 0); ifaces] }
    }

    /// Whether an error may be sent out of `iface` at `now_ns`; takes a token if so.
    /// Unknown interfaces are refused.
    pub fn allow(&mut self, iface: IfIndex, now_ns: u64) -> bool {
        let Some((credit, last)) = self.buckets.get_mut(iface) else {
            return false;
        };
        let elapsed = now_ns.saturating_sub(*last);
        *credit = credit.saturating_add(elapsed).min(self.cap_ns);
        *last = (*last).max(now_ns);
        if *credit >= self.cost_ns {
            *credit -= self.cost_ns;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::l3::classify::test::v4;

    const A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    #[test]
    fn ttl_zero_is_expired_and_untouched() {
        let mut ip = v4(A, B, IpProtocol::Udp, &[0; 8]);
        Ipv4Packet::new_unchecked(&mut ip[..]).set_ttl(0);
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        let before = ip.clone();
        assert_eq!(decrement_ttl_v4(&mut ip), Ok(Ttl::Expired));
        assert_eq!(ip, before);
        assert_eq!(decrement_ttl_v4(&mut ip[..10]), Err(ForwardError::Malformed));
    }

    #[test]
    fn no_errors_about_fragments_or_broadcasts() {
        let mut ip = v4(A, B, IpProtocol::Udp, &[0; 8]);
        Ipv4Packet::new_unchecked(&mut ip[..]).set_frag_offset(64);
        assert!(!may_send_error_v4(&ip));
        assert!(!may_send_error_v4(&v4(A, Ipv4Addr::BROADCAST, IpProtocol::Udp, &[0; 8])));
        assert!(!may_send_error_v4(&v4(Ipv4Addr::UNSPECIFIED, B, IpProtocol::Udp, &[0; 8])));
        assert!(may_send_error_v4(&v4(A, B, IpProtocol::Icmp, &[8, 0, 0, 0, 0, 0, 0, 0])));
        assert!(!may_send_error_v4(&v4(A, B, IpProtocol::Icmp, &[3, 0, 0, 0, 0, 0, 0, 0])));
    }

    #[test]
    fn time_exceeded_sourced_from_the_ingress_interface() {
        let ifs = crate::l3::iface::test::sample();
        let inside = ifs.get(1).unwrap();
        let ip = v4(Ipv4Addr::new(10, 1, 7, 7), A, IpProtocol::Udp, &[0; 8]);
        let mut buf = [0u8; 100];
        let n = emit_time_exceeded(inside, &ip, &mut buf).unwrap();
        let out = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(out.src_addr(), Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(out.dst_addr(), Ipv4Addr::new(10, 1, 7, 7));
        // The inside interface has no IPv6 address to source an ICMPv6 error from.
        let ip6 = crate::l3::classify::test::v6(
            "2001:db8::9".parse().unwrap(),
            "2001:db8:1::9".parse().unwrap(),
            IpProtocol::Udp,
            &[0; 8],
        );
        assert_eq!(emit_time_exceeded(inside, &ip6, &mut buf), Err(ForwardError::Unsupported));
        let n = emit_time_exceeded(ifs.get(0).unwrap(), &ip6, &mut buf).unwrap();
        let out = Ipv6Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(out.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(emit_time_exceeded(inside, &[0x10; 30], &mut buf), Err(ForwardError::Malformed));
    }

    #[test]
    fn corrupted_echo_is_refused() {
        let mut ip = v4(A, B, IpProtocol::Icmp, &[8, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(echo_reply_v4(&mut ip), Err(ForwardError::Malformed));
    }
}
