//! L2/L3 pieces driven with real frames built by the wire `Repr`s: classification,
//! forwarding helpers (TTL, time-exceeded, echo reply), ND responder and resolution.

use dataplane::buf::VecBuf;
use dataplane::l3::classify::{DropReason, Family, Punt, Verdict, classify};
use dataplane::l3::forward::{
    self, ForwardError, IcmpRateLimiter, Ttl, echo_reply_v4, echo_reply_v6, emit_time_exceeded_v4,
    emit_time_exceeded_v6,
};
use dataplane::l3::iface::{Interface, Interfaces, Ipv4Cidr, Ipv6Cidr, Role, solicited_node};
use dataplane::l3::neigh::{
    self, NdReply, NeighConfig, NeighEvent, NeighState, NeighTable, emit_na, emit_ns, handle_nd,
};
use dataplane::l3::route::{NextHop, Route, RouteTable};
use dataplane::wire::icmpv4::{self, TimeExceeded};
use dataplane::wire::icmpv6::{self, NeighborFlags};
use dataplane::wire::{
    EtherType, EthernetAddress, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpProtocol,
    Ipv4Addr, Ipv4Packet, Ipv4Repr, Ipv6Addr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};
use proptest::prelude::*;

const OUT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const IN_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
const ME4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

fn me6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
fn peer6() -> Ipv6Addr {
    "2001:db8::99".parse().unwrap()
}

fn ifaces() -> Interfaces {
    Interfaces::new(vec![
        Interface {
            port: 0,
            vlan: None,
            mac: OUT_MAC,
            ipv4: vec![Ipv4Cidr::new(ME4, 24).unwrap()],
            ipv6: vec![
                Ipv6Cidr::new("fe80::1".parse().unwrap(), 64).unwrap(),
                Ipv6Cidr::new(me6(), 64).unwrap(),
            ],
            mtu: 1500,
            role: Role::Outside,
        },
        Interface {
            port: 1,
            vlan: Some(100),
            mac: IN_MAC,
            ipv4: vec![Ipv4Cidr::new(Ipv4Addr::new(10, 1, 0, 1), 16).unwrap()],
            ipv6: vec![],
            mtu: 1500,
            role: Role::Inside,
        },
    ])
}

/// Ethernet (optionally tagged) around an L3 payload.
fn eth(dst: EthernetAddress, vlan: Option<u16>, ethertype: EtherType, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(dst.as_bytes());
    f.extend_from_slice(PEER_MAC.as_bytes());
    if let Some(vid) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&u16::from(ethertype).to_be_bytes());
    f.extend_from_slice(l3);
    f
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len: payload.len(),
        hop_limit: ttl,
        dscp_ecn: 0,
        dont_frag: true,
    };
    let mut b = vec![0xa5; 20 + payload.len()];
    let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p).unwrap();
    p.payload_mut().copy_from_slice(payload);
    b
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, proto: IpProtocol, hop: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len: payload.len(),
        hop_limit: hop,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut b = vec![0xa5; 40 + payload.len()];
    let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p).unwrap();
    p.payload_mut().copy_from_slice(payload);
    b
}

fn udp4(src: Ipv4Addr, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0xa5; 8 + payload.len()];
    UdpRepr { src_port: 4500, dst_port: dport }
        .emit_v4(&mut UdpPacket::new_unchecked(&mut b[..]), &src, &dst, payload.len(), |p| {
            p.copy_from_slice(payload)
        })
        .unwrap();
    ipv4(src, dst, IpProtocol::Udp, 64, &b)
}

fn icmp4(repr: &Icmpv4Repr) -> Vec<u8> {
    let mut b = vec![0xa5; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut b[..])).unwrap();
    b
}

fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, repr: &Icmpv6Repr) -> Vec<u8> {
    let mut b = vec![0xa5; repr.buffer_len()];
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut b[..])).unwrap();
    b
}

fn verdict(port: u16, frame: &[u8]) -> Verdict {
    classify(&ifaces(), port, frame).verdict
}

#[test]
fn classify_ike_esp_and_keepalives() {
    let ifs = ifaces();
    let ike = eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 500, &[1; 28]));
    let c = classify(&ifs, 0, &ike);
    assert_eq!((c.iface, c.l3_offset, c.verdict), (Some(0), 14, Verdict::Local(Punt::Ike500)));
    assert_eq!(c.l3_len, 20 + 8 + 28);
    let mut ike4500 = vec![0, 0, 0, 0];
    ike4500.extend_from_slice(&[7; 28]);
    let f = eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 4500, &ike4500));
    assert_eq!(verdict(0, &f), Verdict::Local(Punt::Ike4500));
    let esp_in_udp = [0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1, 9, 9, 9, 9];
    let f = eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 4500, &esp_in_udp));
    assert_eq!(verdict(0, &f), Verdict::EspToUs { esp_offset: 14 + 20 + 8, udp_encap: true });
    let f = eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 4500, &[0xff]));
    assert_eq!(verdict(0, &f), Verdict::Drop(DropReason::NatKeepalive));
    let f = eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 4500, &[1, 2]));
    assert_eq!(verdict(0, &f), Verdict::Drop(DropReason::MalformedUdp4500));
    let esp = ipv4(PEER4, ME4, IpProtocol::Esp, 64, &[0, 0, 0x10, 1, 0, 0, 0, 1, 5, 5]);
    let mut f = eth(OUT_MAC, None, EtherType::Ipv4, &esp);
    f.extend_from_slice(&[0; 6]); // Ethernet padding
    let c = classify(&ifs, 0, &f);
    assert_eq!(c.verdict, Verdict::EspToUs { esp_offset: 34, udp_encap: false });
    assert_eq!(c.l3_len, esp.len());
    let other = eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 53, &[1]));
    assert_eq!(verdict(0, &other), Verdict::Local(Punt::OtherLocal));
    // IPv6 ESP to us.
    let esp6 = ipv6(peer6(), me6(), IpProtocol::Esp, 64, &[0, 0, 0x10, 1, 0, 0, 0, 1]);
    let f = eth(OUT_MAC, None, EtherType::Ipv6, &esp6);
    assert_eq!(verdict(0, &f), Verdict::EspToUs { esp_offset: 54, udp_encap: false });
}

#[test]
fn classify_vlan_arp_icmp_forward_and_drops() {
    let echo = icmp4(&Icmpv4Repr::EchoRequest { ident: 1, seq_no: 2, data: b"ping" });
    let inside_me = Ipv4Addr::new(10, 1, 0, 1);
    let host = Ipv4Addr::new(10, 1, 2, 3);
    let f = eth(
        IN_MAC,
        Some(100),
        EtherType::Ipv4,
        &ipv4(host, inside_me, IpProtocol::Icmp, 64, &echo),
    );
    let c = classify(&ifaces(), 1, &f);
    assert_eq!((c.iface, c.l3_offset, c.verdict), (Some(1), 18, Verdict::Local(Punt::IcmpEcho)));
    // Same frame untagged on port 1, or with another VLAN: no such interface.
    let f = eth(IN_MAC, None, EtherType::Ipv4, &ipv4(host, inside_me, IpProtocol::Icmp, 64, &echo));
    assert_eq!(verdict(1, &f), Verdict::Drop(DropReason::WrongVlan));
    let f = eth(
        IN_MAC,
        Some(101),
        EtherType::Ipv4,
        &ipv4(host, inside_me, IpProtocol::Icmp, 64, &echo),
    );
    assert_eq!(verdict(1, &f), Verdict::Drop(DropReason::WrongVlan));
    // Transit packet.
    let f =
        eth(IN_MAC, Some(100), EtherType::Ipv4, &ipv4(host, PEER4, IpProtocol::Tcp, 64, &[0; 20]));
    let c = classify(&ifaces(), 1, &f);
    assert_eq!((c.l3_offset, c.verdict), (18, Verdict::Forward(Family::V4)));
    // Wrong MAC, unknown ethertype, broken checksum, ARP.
    let f = eth(PEER_MAC, None, EtherType::Ipv4, &ipv4(PEER4, ME4, IpProtocol::Tcp, 64, &[0; 20]));
    assert_eq!(verdict(0, &f), Verdict::Drop(DropReason::NotOurMac));
    let f = eth(OUT_MAC, None, EtherType::Unknown(0x88cc), &[0; 40]);
    assert_eq!(verdict(0, &f), Verdict::Drop(DropReason::UnknownEthertype));
    let mut ip = ipv4(PEER4, ME4, IpProtocol::Tcp, 64, &[0; 20]);
    ip[10] ^= 1;
    assert_eq!(
        verdict(0, &eth(OUT_MAC, None, EtherType::Ipv4, &ip)),
        Verdict::Drop(DropReason::MalformedIp)
    );
    let f = eth(EthernetAddress::BROADCAST, None, EtherType::Arp, &[0; 28]);
    assert_eq!(verdict(0, &f), Verdict::Local(Punt::Arp));
    assert_eq!(verdict(0, &f[..10]), Verdict::Drop(DropReason::BadL2));
    let bcast = ipv4(PEER4, Ipv4Addr::new(192, 0, 2, 255), IpProtocol::Udp, 64, &[0; 8]);
    let f = eth(EthernetAddress::BROADCAST, None, EtherType::Ipv4, &bcast);
    assert_eq!(verdict(0, &f), Verdict::Drop(DropReason::NonUnicastDst));
}

#[test]
fn classify_ipv6_nd_echo_and_link_local() {
    let target = me6();
    let ns = icmp6(
        peer6(),
        solicited_node(target),
        &Icmpv6Repr::NeighborSolicit { target_addr: target, lladdr: Some(PEER_MAC) },
    );
    let f = eth(
        EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1]),
        None,
        EtherType::Ipv6,
        &ipv6(peer6(), solicited_node(target), IpProtocol::Icmpv6, 255, &ns),
    );
    assert_eq!(verdict(0, &f), Verdict::Local(Punt::Nd));
    let echo = icmp6(peer6(), me6(), &Icmpv6Repr::EchoRequest { ident: 3, seq_no: 4, data: b"hi" });
    let f =
        eth(OUT_MAC, None, EtherType::Ipv6, &ipv6(peer6(), me6(), IpProtocol::Icmpv6, 64, &echo));
    assert_eq!(verdict(0, &f), Verdict::Local(Punt::IcmpEcho));
    let far: Ipv6Addr = "2001:db8:5::1".parse().unwrap();
    let f = eth(OUT_MAC, None, EtherType::Ipv6, &ipv6(peer6(), far, IpProtocol::Tcp, 64, &[0; 20]));
    assert_eq!(verdict(0, &f), Verdict::Forward(Family::V6));
    let ll: Ipv6Addr = "fe80::99".parse().unwrap();
    let f = eth(OUT_MAC, None, EtherType::Ipv6, &ipv6(ll, far, IpProtocol::Tcp, 64, &[0; 20]));
    assert_eq!(verdict(0, &f), Verdict::Drop(DropReason::LinkLocal));
}

#[test]
fn ttl_decrement_and_time_exceeded_v4() {
    let mut ip = ipv4(PEER4, Ipv4Addr::new(10, 1, 2, 3), IpProtocol::Udp, 2, &[0; 12]);
    assert_eq!(forward::decrement_ttl_v4(&mut ip), Ok(Ttl::Forward));
    let p = Ipv4Packet::new_checked(&ip[..]).unwrap();
    assert!(p.verify_checksum() && p.ttl() == 1);
    assert_eq!(forward::decrement_ttl_v4(&mut ip), Ok(Ttl::Expired));
    assert!(forward::may_send_error_v4(&ip));
    let mut buf = [0u8; 600];
    let n = emit_time_exceeded_v4(ME4, &ip, &mut buf).unwrap();
    let out = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    let repr = Ipv4Repr::parse(&out).unwrap();
    assert_eq!((repr.src_addr, repr.dst_addr, repr.next_header), (ME4, PEER4, IpProtocol::Icmp));
    let icmp = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(out.payload()).unwrap()).unwrap();
    assert_eq!(icmp, Icmpv4Repr::TimeExceeded { reason: TimeExceeded::TtlExpired, data: &ip[..] });
    // No error about an ICMP error.
    let err = ipv4(PEER4, ME4, IpProtocol::Icmp, 1, &buf[20..n]);
    assert!(!forward::may_send_error_v4(&err));
    assert_eq!(emit_time_exceeded_v4(ME4, &ip, &mut buf[..30]), Err(ForwardError::NoRoom));
    // The quote is capped so the error fits in 576 bytes.
    let big = ipv4(PEER4, ME4, IpProtocol::Udp, 1, &[0; 1400]);
    let n = emit_time_exceeded_v4(ME4, &big, &mut buf).unwrap();
    assert_eq!(n, 20 + 8 + icmpv4::ERROR_DATA_MAX_LEN);
}

#[test]
fn hop_limit_and_time_exceeded_v6() {
    let far: Ipv6Addr = "2001:db8:5::1".parse().unwrap();
    let mut ip = ipv6(peer6(), far, IpProtocol::Udp, 1, &[0; 16]);
    assert_eq!(forward::decrement_hop_limit_v6(&mut ip), Ok(Ttl::Expired));
    assert!(forward::may_send_error_v6(&ip));
    let mut buf = [0u8; 1400];
    let n = emit_time_exceeded_v6(me6(), &ip, &mut buf).unwrap();
    let out = Ipv6Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!((out.src_addr(), out.dst_addr()), (me6(), peer6()));
    let icmp =
        Icmpv6Repr::parse(&me6(), &peer6(), &Icmpv6Packet::new_checked(out.payload()).unwrap())
            .unwrap();
    assert_eq!(
        icmp,
        Icmpv6Repr::TimeExceeded { reason: icmpv6::TimeExceeded::HopLimitExceeded, data: &ip[..] }
    );
    let err = ipv6(peer6(), me6(), IpProtocol::Icmpv6, 64, &buf[40..n]);
    assert!(!forward::may_send_error_v6(&err));
    let mut ip = ipv6(peer6(), far, IpProtocol::Udp, 9, &[0; 16]);
    assert_eq!(forward::decrement_hop_limit_v6(&mut ip), Ok(Ttl::Forward));
    assert_eq!(ip[7], 8);
}

#[test]
fn echo_replies_in_place() {
    let echo = icmp4(&Icmpv4Repr::EchoRequest { ident: 7, seq_no: 9, data: b"abcdef" });
    let mut ip = ipv4(PEER4, ME4, IpProtocol::Icmp, 60, &echo);
    let n = echo_reply_v4(&mut ip).unwrap();
    let p = Ipv4Packet::new_checked(&ip[..n]).unwrap();
    let r = Ipv4Repr::parse(&p).unwrap();
    assert_eq!((r.src_addr, r.dst_addr, r.hop_limit), (ME4, PEER4, forward::DEFAULT_TTL));
    let icmp = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(p.payload()).unwrap()).unwrap();
    assert_eq!(icmp, Icmpv4Repr::EchoReply { ident: 7, seq_no: 9, data: b"abcdef" });
    // A reply is not answered again.
    assert_eq!(echo_reply_v4(&mut ip), Err(ForwardError::Unsupported));

    let echo =
        icmp6(peer6(), me6(), &Icmpv6Repr::EchoRequest { ident: 1, seq_no: 2, data: b"xyz" });
    let mut ip = ipv6(peer6(), me6(), IpProtocol::Icmpv6, 64, &echo);
    let n = echo_reply_v6(&mut ip).unwrap();
    let p = Ipv6Packet::new_checked(&ip[..n]).unwrap();
    assert_eq!((p.src_addr(), p.dst_addr()), (me6(), peer6()));
    let icmp =
        Icmpv6Repr::parse(&me6(), &peer6(), &Icmpv6Packet::new_checked(p.payload()).unwrap())
            .unwrap();
    assert_eq!(icmp, Icmpv6Repr::EchoReply { ident: 1, seq_no: 2, data: b"xyz" });
}

#[test]
fn icmp_rate_limiter_token_bucket() {
    let mut rl = IcmpRateLimiter::new(2, 10, 3);
    let t0 = 5_000_000_000;
    assert!((0..3).all(|_| rl.allow(0, t0)));
    assert!(!rl.allow(0, t0));
    assert!(rl.allow(1, t0), "buckets are per interface");
    assert!(!rl.allow(0, t0 + 99_000_000));
    assert!(rl.allow(0, t0 + 100_000_000));
    assert!(!rl.allow(0, t0 + 100_000_000));
    assert!(!rl.allow(7, t0), "unknown interface");
    assert!((0..3).all(|_| rl.allow(0, t0 + 60_000_000_000)));
    assert!(!rl.allow(0, t0 + 60_000_000_000));
}

#[test]
fn nd_solicit_answer_and_resolution() {
    let ifs = ifaces();
    let ifc = ifs.get(0).unwrap();
    let mut t = NeighTable::<Ipv6Addr, VecBuf>::new(NeighConfig::default());
    let mut ev: Vec<NeighEvent<Ipv6Addr, VecBuf>> = Vec::new();
    let mut out = |e| ev.push(e);
    // A peer solicits our address: we answer with S and O, and learn the peer.
    let group = solicited_node(me6());
    let ns = icmp6(
        peer6(),
        group,
        &Icmpv6Repr::NeighborSolicit { target_addr: me6(), lladdr: Some(PEER_MAC) },
    );
    let ip = ipv6(peer6(), group, IpProtocol::Icmpv6, 255, &ns);
    let reply = handle_nd(&ifs, 0, &ip, 0, &mut t, &mut out).unwrap().unwrap();
    assert_eq!(
        reply,
        NdReply {
            src: me6(),
            dst: peer6(),
            dst_mac: PEER_MAC,
            flags: NeighborFlags { router: false, solicited: true, override_: true },
            target: me6()
        }
    );
    assert_eq!(t.lookup(0, peer6()), Some((NeighState::Stale, PEER_MAC)));
    let mut buf = [0u8; 128];
    let n = emit_na(ifc, &reply, &mut buf).unwrap();
    assert_eq!(&buf[..6], PEER_MAC.as_bytes());
    let p = Ipv6Packet::new_checked(&buf[14..n]).unwrap();
    assert_eq!(p.hop_limit(), 255);
    let na = Icmpv6Repr::parse(&me6(), &peer6(), &Icmpv6Packet::new_checked(p.payload()).unwrap())
        .unwrap();
    assert_eq!(
        na,
        Icmpv6Repr::NeighborAdvert {
            flags: reply.flags,
            target_addr: me6(),
            lladdr: Some(OUT_MAC)
        }
    );
    // Hop limit other than 255 is refused.
    let ip = ipv6(peer6(), group, IpProtocol::Icmpv6, 64, &ns);
    assert_eq!(handle_nd(&ifs, 0, &ip, 0, &mut t, &mut out), Err(neigh::NeighError::BadHopLimit));

    // Resolving a gateway: NS to its solicited-node group, NA releases the held packet.
    let gw: Ipv6Addr = "2001:db8::fe".parse().unwrap();
    assert!(t.output(0, gw, 0, VecBuf::from_slice(&[42]), &mut out).is_none());
    let n = emit_ns(ifc, gw, None, &mut buf).unwrap();
    assert_eq!(&buf[..6], &[0x33, 0x33, 0xff, 0, 0, 0xfe]);
    let p = Ipv6Packet::new_checked(&buf[14..n]).unwrap();
    assert_eq!((p.src_addr(), p.dst_addr()), (me6(), solicited_node(gw)));
    let gw_mac = EthernetAddress([0x02, 0x77, 0, 0, 0, 0xfe]);
    let flags = NeighborFlags { router: true, solicited: true, override_: true };
    let na = icmp6(
        gw,
        me6(),
        &Icmpv6Repr::NeighborAdvert { flags, target_addr: gw, lladdr: Some(gw_mac) },
    );
    let ip = ipv6(gw, me6(), IpProtocol::Icmpv6, 255, &na);
    assert_eq!(handle_nd(&ifs, 0, &ip, 1, &mut t, &mut out), Ok(None));
    assert_eq!(t.lookup(0, gw), Some((NeighState::Reachable, gw_mac)));
    // Unsolicited NA for an unknown address creates nothing.
    let stranger: Ipv6Addr = "2001:db8::77".parse().unwrap();
    let flags = NeighborFlags { router: false, solicited: false, override_: true };
    let na = icmp6(
        stranger,
        neigh::ALL_NODES,
        &Icmpv6Repr::NeighborAdvert { flags, target_addr: stranger, lladdr: Some(gw_mac) },
    );
    let ip = ipv6(stranger, neigh::ALL_NODES, IpProtocol::Icmpv6, 255, &na);
    assert_eq!(handle_nd(&ifs, 0, &ip, 1, &mut t, &mut out), Ok(None));
    assert_eq!(t.lookup(0, stranger), None);
    assert!(matches!(&ev[0], NeighEvent::Solicit { iface: 0, unicast: None, .. }));
    match &ev[1] {
        NeighEvent::Send { iface: 0, mac, pkt } => {
            assert_eq!((*mac, pkt.to_vec()), (gw_mac, vec![42]))
        }
        other => panic!("expected release, got {other:?}"),
    }
    assert_eq!(ev.len(), 2);
}

#[test]
fn route_then_resolve_next_hop() {
    let ifs = ifaces();
    let mut routes = RouteTable::with_connected(&ifs);
    let gw = Ipv4Addr::new(192, 0, 2, 254);
    routes.add_v4(
        Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).unwrap(),
        Route { iface: 0, next_hop: NextHop::Gateway(gw) },
    );
    let r = routes.lookup_v4(PEER4).unwrap();
    assert_eq!((r.iface, r.next_hop_addr(PEER4)), (0, gw));
    let r = routes.lookup_v4(Ipv4Addr::new(10, 1, 200, 1)).unwrap();
    assert_eq!((r.iface, r.next_hop), (1, NextHop::Connected));
}

proptest! {
    #[test]
    fn classify_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        port in 0u16..3,
    ) {
        let ifs = ifaces();
        let c = classify(&ifs, port, &bytes);
        prop_assert!(c.l3_offset + c.l3_len <= bytes.len());
    }

    #[test]
    fn classify_never_panics_on_mutated_frames(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        which in 0usize..3,
    ) {
        let base = match which {
            0 => eth(OUT_MAC, None, EtherType::Ipv4, &udp4(PEER4, ME4, 4500, &[0, 0, 1, 1, 0, 0, 0, 1, 2, 2])),
            1 => eth(OUT_MAC, None, EtherType::Ipv6, &ipv6(peer6(), me6(), IpProtocol::Icmpv6, 255, &[135, 0, 0, 0, 0, 0, 0, 0])),
            _ => eth(IN_MAC, Some(100), EtherType::Arp, &[0; 28]),
        };
        let mut f = base.clone();
        for (i, v) in &flips {
            let at = i.index(f.len());
            f[at] = *v;
        }
        f.truncate(cut.index(f.len() + 1));
        let ifs = ifaces();
        let c = classify(&ifs, if which == 2 { 1 } else { 0 }, &f);
        prop_assert!(c.l3_offset + c.l3_len <= f.len());
        // Whatever the bytes, the forwarding helpers do not panic either.
        let mut ip = f.get(14..).unwrap_or_default().to_vec();
        let _ = forward::decrement_ttl_v4(&mut ip);
        let _ = forward::decrement_hop_limit_v6(&mut ip);
        let _ = forward::may_send_error_v4(&ip) || forward::may_send_error_v6(&ip);
        let _ = echo_reply_v4(&mut ip.clone());
        let _ = echo_reply_v6(&mut ip.clone());
        let mut buf = [0u8; 1300];
        let _ = emit_time_exceeded_v4(ME4, &ip, &mut buf);
        let _ = emit_time_exceeded_v6(me6(), &ip, &mut buf);
    }
}

#[test]
fn nd_duplicate_address_detection_is_defended() {
    let ifs = ifaces();
    let mut t = NeighTable::<Ipv6Addr, VecBuf>::new(NeighConfig::default());
    let mut out = |e: NeighEvent<Ipv6Addr, VecBuf>| panic!("unexpected {e:?}");
    let group = solicited_node(me6());
    let ns = icmp6(
        Ipv6Addr::UNSPECIFIED,
        group,
        &Icmpv6Repr::NeighborSolicit { target_addr: me6(), lladdr: None },
    );
    let ip = ipv6(Ipv6Addr::UNSPECIFIED, group, IpProtocol::Icmpv6, 255, &ns);
    let reply = handle_nd(&ifs, 0, &ip, 0, &mut t, &mut out).unwrap().unwrap();
    assert_eq!((reply.dst, reply.src), (neigh::ALL_NODES, me6()));
    assert!(!reply.flags.solicited && reply.flags.override_);
    assert_eq!(reply.dst_mac, EthernetAddress([0x33, 0x33, 0, 0, 0, 1]));
    assert!(t.is_empty());
    // DAD for an address that is not ours is ignored.
    let other: Ipv6Addr = "2001:db8::5".parse().unwrap();
    let g = solicited_node(other);
    let ns = icmp6(
        Ipv6Addr::UNSPECIFIED,
        g,
        &Icmpv6Repr::NeighborSolicit { target_addr: other, lladdr: None },
    );
    let ip = ipv6(Ipv6Addr::UNSPECIFIED, g, IpProtocol::Icmpv6, 255, &ns);
    assert_eq!(handle_nd(&ifs, 0, &ip, 0, &mut t, &mut out), Ok(None));
}
