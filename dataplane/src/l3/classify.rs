//! Classification of a received frame: for the control plane, ESP for us, to forward, or
//! dropped, with the offset of the IP header so the pipeline strips L2 without re-parsing.
//!
//! Rules:
//! - Ethernet with at most one 802.1Q/802.1ad tag; the (port, VLAN) pair must name an
//!   interface. Stacked tags are `WrongVlan`; a priority tag (VID 0) counts as untagged.
//! - The destination MAC must be the interface's, broadcast or multicast; a source MAC
//!   that is a group address is `BadL2`.
//! - Packets to one of our addresses: ESP (protocol 50) and UDP 4500 with a non-zero SPI
//!   are `EspToUs`; UDP 500 and UDP 4500 with the non-ESP marker are IKE punts; NAT
//!   keepalives are dropped here (`NatKeepalive`, counted: RFC 3948 section 2.3 says the
//!   receiver ignores them, and the IKE daemon has no use for them); ICMP echo requests
//!   are `IcmpEcho` punts; anything else to us, including fragments (reassembly is the
//!   control plane's business), is `OtherLocal`.
//! - ARP and IPv6 neighbour discovery (ICMPv6 types 133 to 137, to us or to a multicast
//!   group the interface listens to) are punts.
//! - Other IPv4 broadcast or multicast and IPv6 multicast are dropped (`NonUnicastDst`):
//!   the appliance runs no multicast routing.
//! - Everything else sent to our MAC is `Forward`, except IPv6 with a link-local source or
//!   destination, which must not leave the link (RFC 4291 section 2.5.6).

use core::fmt;

use super::iface::{IfIndex, Interfaces};
use crate::wire::icmpv4::Message as Icmpv4Message;
use crate::wire::{
    EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv6Packet, Udp4500, UdpPacket,
    classify_udp4500, ipv6, ipv6ext, udp,
};

/// UDP port of IKE (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// UDP port of IKE and ESP after NAT traversal (RFC 3948 section 2).
pub const NAT_T_PORT: u16 = crate::wire::udp_encap::NAT_T_PORT;

/// Which control-plane handler a punted packet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Punt {
    /// IKE on UDP 500.
    Ike500,
    /// IKE on UDP 4500 (after the non-ESP marker).
    Ike4500,
    /// ARP.
    Arp,
    /// IPv6 neighbour discovery (RS, RA, NS, NA, redirect).
    Nd,
    /// ICMP / ICMPv6 echo request to one of our addresses.
    IcmpEcho,
    /// Anything else addressed to us.
    OtherLocal,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Truncated Ethernet header or VLAN tag, or a group source MAC.
    BadL2,
    /// No interface for this port and VLAN (or stacked tags).
    WrongVlan,
    /// Unicast to another MAC.
    NotOurMac,
    /// Neither IPv4, IPv6 nor ARP.
    UnknownEthertype,
    /// IP header does not parse (length fields, version, checksum, extension chain) or the
    /// transport header to us is truncated.
    MalformedIp,
    /// Source address that no packet may carry (multicast, broadcast, unspecified for
    /// IPv4).
    BadSource,
    /// Broadcast or multicast we do not handle.
    NonUnicastDst,
    /// IPv6 link-local packet that would have to be forwarded.
    LinkLocal,
    /// NAT-keepalive on UDP 4500.
    NatKeepalive,
    /// UDP 4500 payload that is neither IKE, ESP nor a keepalive.
    MalformedUdp4500,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// IP version of a packet to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the control plane.
    Local(Punt),
    /// ESP addressed to us; `esp_offset` is the offset of the SPI from the frame start,
    /// `udp_encap` whether it came in UDP 4500.
    EspToUs {
        /// Offset of the ESP header in the frame.
        esp_offset: usize,
        /// Whether it was UDP-encapsulated.
        udp_encap: bool,
    },
    /// Route it.
    Forward(Family),
    /// Drop it (count the reason).
    Drop(DropReason),
}

/// Result of [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// Receiving interface, once known.
    pub iface: Option<IfIndex>,
    /// Offset of the L3 header (ARP or IP) from the frame start; 0 when not reached.
    pub l3_offset: usize,
    /// Length of the L3 packet (IP total length: Ethernet padding excluded; ARP: the rest
    /// of the frame); 0 when not reached.
    pub l3_len: usize,
    /// The decision.
    pub verdict: Verdict,
}

impl Classified {
    fn drop(iface: Option<IfIndex>, reason: DropReason) -> Classified {
        Classified { iface, l3_offset: 0, l3_len: 0, verdict: Verdict::Drop(reason) }
    }
}

/// Classifies `frame`, received on DPDK port `port`. Never panics; reads only headers.
pub fn classify(ifaces: &Interfaces, port: u16, frame: &[u8]) -> Classified {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Classified::drop(None, DropReason::BadL2);
    };
    let Ok(vlan) = eth.vlan_info() else {
        return Classified::drop(None, DropReason::BadL2);
    };
    if vlan.inner.is_some() || matches!(vlan.ethertype, EtherType::Vlan | EtherType::QinQ) {
        return Classified::drop(None, DropReason::WrongVlan);
    }
    // VID 0 is a priority tag, not a VLAN (IEEE 802.1Q section 9.6): such frames belong
    // to the untagged interface.
    let vid = vlan.outer.map(|t| t.vid).filter(|&v| v != 0);
    let Some(index) = ifaces.find(port, vid) else {
        return Classified::drop(None, DropReason::WrongVlan);
    };
    let Some(ifc) = ifaces.get(index) else {
        return Classified::drop(None, DropReason::WrongVlan);
    };
    let iface = Some(index);
    if eth.src_addr().is_multicast() {
        return Classified::drop(iface, DropReason::BadL2);
    }
    let dst_mac = eth.dst_addr();
    let l2_unicast_to_us = dst_mac == ifc.mac || ifaces.accepts_also(index, dst_mac);
    if !l2_unicast_to_us && dst_mac.is_unicast() {
        return Classified::drop(iface, DropReason::NotOurMac);
    }
    let off = vlan.payload_offset;
    let l3 = frame.get(off..).unwrap_or_default();
    let (l3_len, verdict) = match vlan.ethertype {
        EtherType::Arp => (l3.len(), Verdict::Local(Punt::Arp)),
        EtherType::Ipv4 => classify_v4(ifaces, index, l2_unicast_to_us, l3, off),
        EtherType::Ipv6 => classify_v6(ifaces, index, l2_unicast_to_us, l3, off),
        _ => (0, Verdict::Drop(DropReason::UnknownEthertype)),
    };
    let (l3_offset, l3_len) = if l3_len == 0 { (0, 0) } else { (off, l3_len) };
    Classified { iface, l3_offset, l3_len, verdict }
}

const fn drop(reason: DropReason) -> (usize, Verdict) {
    (0, Verdict::Drop(reason))
}

/// UDP to one of our addresses: IKE, ESP-in-UDP, keepalive or other. `udp_offset` is the
/// UDP header's offset in the frame.
fn classify_udp(udp_bytes: &[u8], udp_offset: usize) -> Verdict {
    let Ok(dgram) = UdpPacket::new_checked(udp_bytes) else {
        return Verdict::Drop(DropReason::MalformedIp);
    };
    match dgram.dst_port() {
        IKE_PORT => Verdict::Local(Punt::Ike500),
        NAT_T_PORT => match classify_udp4500(dgram.payload()) {
            Udp4500::Esp => {
                Verdict::EspToUs { esp_offset: udp_offset + udp::HEADER_LEN, udp_encap: true }
            }
            Udp4500::Ike => Verdict::Local(Punt::Ike4500),
            Udp4500::Keepalive => Verdict::Drop(DropReason::NatKeepalive),
            Udp4500::Malformed => Verdict::Drop(DropReason::MalformedUdp4500),
        },
        _ => Verdict::Local(Punt::OtherLocal),
    }
}

fn classify_v4(
    ifaces: &Interfaces,
    index: IfIndex,
    l2_unicast_to_us: bool,
    l3: &[u8],
    off: usize,
) -> (usize, Verdict) {
    let Ok(ip) = Ipv4Packet::new_checked(l3) else {
        return drop(DropReason::MalformedIp);
    };
    if !ip.verify_checksum() {
        return drop(DropReason::MalformedIp);
    }
    let len = usize::from(ip.total_len());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if src.is_multicast() || src.is_broadcast() {
        return drop(DropReason::BadSource);
    }
    if ifaces.is_local_ipv4(dst) {
        if ip.is_fragment() {
            return (len, Verdict::Local(Punt::OtherLocal));
        }
        let hl = usize::from(ip.header_len());
        let payload = ip.payload();
        let verdict = match ip.next_header() {
            IpProtocol::Esp => Verdict::EspToUs { esp_offset: off + hl, udp_encap: false },
            IpProtocol::Udp => classify_udp(payload, off + hl),
            IpProtocol::Icmp => match payload.first().map(|&t| Icmpv4Message::from(t)) {
                Some(Icmpv4Message::EchoRequest) => Verdict::Local(Punt::IcmpEcho),
                _ => Verdict::Local(Punt::OtherLocal),
            },
            _ => Verdict::Local(Punt::OtherLocal),
        };
        return (len, verdict);
    }
    let directed_broadcast = ifaces
        .get(index)
        .is_some_and(|i| i.ipv4.iter().any(|c| c.prefix_len() < 31 && c.broadcast() == dst));
    if dst.is_broadcast() || dst.is_multicast() || directed_broadcast {
        return drop(DropReason::NonUnicastDst);
    }
    if src.is_unspecified() {
        return drop(DropReason::BadSource);
    }
    if !l2_unicast_to_us {
        return drop(DropReason::NonUnicastDst);
    }
    (len, Verdict::Forward(Family::V4))
}

/// ICMPv6 types 133 (RS) to 137 (redirect): neighbour discovery (RFC 4861 section 4).
fn is_nd_type(t: u8) -> bool {
    (133..=137).contains(&t)
}

fn classify_v6(
    ifaces: &Interfaces,
    index: IfIndex,
    l2_unicast_to_us: bool,
    l3: &[u8],
    off: usize,
) -> (usize, Verdict) {
    let Ok(ip) = Ipv6Packet::new_checked(l3) else {
        return drop(DropReason::MalformedIp);
    };
    let len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if src.is_multicast() {
        return drop(DropReason::BadSource);
    }
    let listens = ifaces.get(index).is_some_and(|i| i.listens_ipv6_multicast(dst));
    let local = ifaces.is_local_ipv6(dst);
    if local || listens {
        let payload = ip.payload();
        let Ok(ul) = ipv6ext::upper_layer(ip.next_header(), payload) else {
            return drop(DropReason::MalformedIp);
        };
        let first = payload.get(ul.offset).copied();
        if ul.protocol == IpProtocol::Icmpv6
            && ul.fragment.is_none()
            && first.is_some_and(is_nd_type)
        {
            return (len, Verdict::Local(Punt::Nd));
        }
        if !local {
            return drop(DropReason::NonUnicastDst);
        }
        if ul.fragment.is_some() {
            return (len, Verdict::Local(Punt::OtherLocal));
        }
        let at = off + ipv6::HEADER_LEN + ul.offset;
        let verdict = match ul.protocol {
            IpProtocol::Esp => Verdict::EspToUs { esp_offset: at, udp_encap: false },
            IpProtocol::Udp => classify_udp(payload.get(ul.offset..).unwrap_or_default(), at),
            IpProtocol::Icmpv6 if first == Some(128) => Verdict::Local(Punt::IcmpEcho),
            _ => Verdict::Local(Punt::OtherLocal),
        };
        return (len, verdict);
    }
    if dst.is_multicast() {
        return drop(DropReason::NonUnicastDst);
    }
    if src.is_unspecified() {
        return drop(DropReason::BadSource);
    }
    if src.is_unicast_link_local() || dst.is_unicast_link_local() {
        return drop(DropReason::LinkLocal);
    }
    if !l2_unicast_to_us {
        return drop(DropReason::NonUnicastDst);
    }
    (len, Verdict::Forward(Family::V6))
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;
    use crate::l3::iface::test::sample;
    use crate::wire::{EthernetAddress, Ipv4Addr, Ipv4Repr, Ipv6Addr, Ipv6Repr, UdpRepr};

    pub(crate) const MAC0: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
    const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0x44, 0, 0, 0, 9]);

    pub(crate) fn eth(
        dst: EthernetAddress,
        tags: &[u16],
        ethertype: EtherType,
        l3: &[u8],
    ) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(dst.as_bytes());
        f.extend_from_slice(PEER_MAC.as_bytes());
        for (i, vid) in tags.iter().enumerate() {
            let tpid: u16 = if i == 0 && tags.len() > 1 { 0x88a8 } else { 0x8100 };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&u16::from(ethertype).to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    pub(crate) fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, payload: &[u8]) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: proto,
            payload_len: payload.len(),
            hop_limit: 64,
            dscp_ecn: 0,
            dont_frag: false,
        };
        let mut b = vec![0xa5; 20 + payload.len()];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        repr.emit(&mut p).unwrap();
        p.payload_mut().copy_from_slice(payload);
        b
    }

    pub(crate) fn v6(src: Ipv6Addr, dst: Ipv6Addr, nh: IpProtocol, payload: &[u8]) -> Vec<u8> {
        let repr = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: nh,
            payload_len: payload.len(),
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut b = vec![0xa5; 40 + payload.len()];
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        repr.emit(&mut p).unwrap();
        p.payload_mut().copy_from_slice(payload);
        b
    }

    const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn run(frame: &[u8]) -> Classified {
        classify(&sample(), 0, frame)
    }

    #[test]
    fn priority_tagged_frames_belong_to_the_untagged_interface() {
        let f = eth(MAC0, &[0], EtherType::Ipv4, &v4(PEER, ME, IpProtocol::Esp, &[0, 0, 1, 1]));
        let c = run(&f);
        assert_eq!((c.iface, c.l3_offset), (Some(0), 18));
        assert_eq!(c.verdict, Verdict::EspToUs { esp_offset: 38, udp_encap: false });
    }

    #[test]
    fn stacked_tags_are_wrong_vlan() {
        let f = eth(MAC0, &[5, 100], EtherType::Ipv4, &v4(PEER, ME, IpProtocol::Tcp, &[0; 20]));
        assert_eq!(run(&f).verdict, Verdict::Drop(DropReason::WrongVlan));
    }

    #[test]
    fn fragments_to_us_go_to_the_control_plane() {
        let mut ip = v4(PEER, ME, IpProtocol::Esp, &[0, 0, 1, 1, 0, 0, 0, 1]);
        let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
        p.set_more_frags(true);
        p.fill_checksum();
        let f = eth(MAC0, &[], EtherType::Ipv4, &ip);
        assert_eq!(run(&f).verdict, Verdict::Local(Punt::OtherLocal));
    }

    #[test]
    fn sources_and_destinations_that_are_not_unicast() {
        let f = eth(
            MAC0,
            &[],
            EtherType::Ipv4,
            &v4(Ipv4Addr::new(224, 0, 0, 5), ME, IpProtocol::Udp, &[0; 8]),
        );
        assert_eq!(run(&f).verdict, Verdict::Drop(DropReason::BadSource));
        let mc = EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 5]);
        let f = eth(
            mc,
            &[],
            EtherType::Ipv4,
            &v4(PEER, Ipv4Addr::new(224, 0, 0, 5), IpProtocol::Udp, &[0; 8]),
        );
        assert_eq!(run(&f).verdict, Verdict::Drop(DropReason::NonUnicastDst));
        // Transit IP inside an L2 broadcast is not forwarded.
        let f = eth(
            EthernetAddress::BROADCAST,
            &[],
            EtherType::Ipv4,
            &v4(PEER, Ipv4Addr::new(8, 8, 8, 8), IpProtocol::Udp, &[0; 8]),
        );
        assert_eq!(run(&f).verdict, Verdict::Drop(DropReason::NonUnicastDst));
        let mut bad_src = eth(MAC0, &[], EtherType::Ipv4, &v4(PEER, ME, IpProtocol::Udp, &[0; 8]));
        bad_src[6] |= 1;
        assert_eq!(run(&bad_src).verdict, Verdict::Drop(DropReason::BadL2));
    }

    #[test]
    fn ike_behind_ipv6_extension_header() {
        let me: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let peer: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut udp = vec![0u8; 8 + 4];
        UdpRepr { src_port: 500, dst_port: 500 }
            .emit_v6(&mut UdpPacket::new_unchecked(&mut udp[..]), &peer, &me, 4, |p| p.fill(1))
            .unwrap();
        // Hop-by-Hop header: next = UDP, length 0 (8 bytes), PadN.
        let mut payload = vec![17, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&udp);
        let f = eth(MAC0, &[], EtherType::Ipv6, &v6(peer, me, IpProtocol::HopByHop, &payload));
        let c = run(&f);
        assert_eq!((c.l3_offset, c.l3_len, c.verdict), (14, 40 + 20, Verdict::Local(Punt::Ike500)));
        // Multicast that is neither ND nor one of our groups.
        let other: Ipv6Addr = "ff02::1:ff00:77".parse().unwrap();
        let f =
            eth(MAC0, &[], EtherType::Ipv6, &v6(peer, other, IpProtocol::Icmpv6, &[135, 0, 0, 0]));
        assert_eq!(run(&f).verdict, Verdict::Drop(DropReason::NonUnicastDst));
        let f = eth(MAC0, &[], EtherType::Ipv6, &v6(peer, me, IpProtocol::Icmpv6, &[135, 0, 0, 0]));
        let f = &f[..14 + 42];
        assert_eq!(run(f).verdict, Verdict::Drop(DropReason::MalformedIp));
    }
}
