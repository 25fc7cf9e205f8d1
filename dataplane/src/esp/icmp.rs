//! ICMP errors sent back to an inside host whose packet does not fit the tunnel:
//! "fragmentation needed" (RFC 792, RFC 1191) and ICMPv6 "packet too big" (RFC 4443 3.2).
//! Built in place: the offending packet's buffer becomes the error message.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::buf::PacketBuf;
use crate::wire::icmpv4::{self, DstUnreachable};
use crate::wire::icmpv6;
use crate::wire::{
    Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, ipv4, ipv6,
};

use super::ip::IpInfo;
use crate::l3::forward;

/// RFC 1812 4.3.2.3: an ICMP error should not exceed 576 bytes.
const ICMPV4_ERROR_MAX: usize = 576;
/// RFC 4443 2.4 (c): an ICMPv6 error must not exceed the minimum IPv6 MTU.
const ICMPV6_ERROR_MAX: usize = 1280;
/// RFC 1191: smallest next-hop MTU worth advertising (RFC 791 minimum).
pub(crate) const IPV4_MIN_MTU: usize = 68;
/// RFC 8200 5: the IPv6 minimum link MTU; a "packet too big" never advertises less.
pub(crate) const IPV6_MIN_MTU: usize = 1280;
/// TTL / hop limit of generated errors.
const ERROR_TTL: u8 = 64;
/// DSCP/ECN of generated ICMPv4 errors: precedence 6, "internetwork control" (RFC 1812
/// 4.3.2.5).
const ERROR_TOS: u8 = 0xc0;

/// RFC 1122 3.2.2 / RFC 1812 4.3.2.7 / RFC 4443 2.4 (e): no error about an error, a
/// non-first fragment, or a packet from or to an address that does not name one host. The
/// rules are the forwarding path's ([`crate::l3::forward`]), so both answer alike.
fn may_answer(data: &[u8], info: &IpInfo) -> bool {
    if info.v6 { forward::may_send_error_v6(data) } else { forward::may_send_error_v4(data) }
}

/// Turns the IPv4 packet in `pkt` into an ICMP "fragmentation needed and DF set" (type 3
/// code 4) back to its source, advertising `mtu`. `false` (buffer unchanged) if no error may
/// be sent for this packet or the buffer lacks headroom.
pub(crate) fn frag_needed_v4<B: PacketBuf>(
    pkt: &mut B,
    info: &IpInfo,
    src: Ipv4Addr,
    mtu: usize,
) -> bool {
    const HDR: usize = ipv4::HEADER_LEN + icmpv4::HEADER_LEN;
    if !may_answer(pkt.data(), info) || pkt.headroom() < HDR {
        return false;
    }
    let dst = Ipv4Packet::new_unchecked(pkt.data()).src_addr();
    let quote = pkt.len().min(ICMPV4_ERROR_MAX - HDR);
    if pkt.trim(pkt.len() - quote).is_err() || pkt.prepend(HDR).is_err() {
        return false;
    }
    let d = pkt.data_mut();
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: d.len() - ipv4::HEADER_LEN,
        hop_limit: ERROR_TTL,
        dscp_ecn: ERROR_TOS,
        dont_frag: false,
    };
    // At most 576 bytes: `emit` cannot fail.
    let (ip_hdr, icmp) = d.split_at_mut(ipv4::HEADER_LEN);
    if repr.emit(&mut Ipv4Packet::new_unchecked(ip_hdr)).is_err() {
        return false;
    }
    let mtu = mtu.clamp(IPV4_MIN_MTU, usize::from(u16::MAX)) as u16;
    let mut m = Icmpv4Packet::new_unchecked(icmp);
    m.set_msg_type(icmpv4::Message::DstUnreachable);
    m.set_msg_code(DstUnreachable::FragRequired.into());
    m.clear_unused();
    m.set_next_hop_mtu(mtu);
    m.fill_checksum();
    true
}

/// Turns the IPv6 packet in `pkt` into an ICMPv6 "packet too big" (type 2) back to its
/// source, advertising `mtu` (at least 1280).
pub(crate) fn packet_too_big_v6<B: PacketBuf>(
    pkt: &mut B,
    info: &IpInfo,
    src: Ipv6Addr,
    mtu: usize,
) -> bool {
    const HDR: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    if !may_answer(pkt.data(), info) || pkt.headroom() < HDR {
        return false;
    }
    let dst = Ipv6Packet::new_unchecked(pkt.data()).src_addr();
    let quote = pkt.len().min(ICMPV6_ERROR_MAX - HDR);
    if pkt.trim(pkt.len() - quote).is_err() || pkt.prepend(HDR).is_err() {
        return false;
    }
    let d = pkt.data_mut();
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: d.len() - ipv6::HEADER_LEN,
        hop_limit: ERROR_TTL,
        traffic_class: 0,
        flow_label: 0,
    };
    let (ip_hdr, icmp) = d.split_at_mut(ipv6::HEADER_LEN);
    if repr.emit(&mut Ipv6Packet::new_unchecked(ip_hdr)).is_err() {
        return false;
    }
    let mtu = mtu.clamp(IPV6_MIN_MTU, u32::MAX as usize) as u32;
    let mut m = Icmpv6Packet::new_unchecked(icmp);
    m.set_msg_type(icmpv6::Message::PktTooBig);
    m.set_msg_code(0);
    m.set_pkt_too_big_mtu(mtu);
    m.fill_checksum(&src, &dst);
    true
}
