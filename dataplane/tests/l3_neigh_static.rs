//! Permanent (static) neighbour entries: configured next hops that never answer ARP/ND (a
//! packet generator, a traffic sink) must be usable at once and must stay exactly as
//! configured whatever time does and whatever the wire says.

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::l3::iface::{Interface, Interfaces, Ipv4Cidr, Ipv6Cidr, Role};
use dataplane::l3::neigh::{
    NeighConfig, NeighError, NeighEvent, NeighState, NeighTable, handle_arp, handle_nd,
};
use dataplane::wire::icmpv6::NeighborFlags;
use dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol,
    Ipv4Addr, Ipv6Addr, Ipv6Packet, Ipv6Repr, arp, ipv6,
};

type Ev4 = NeighEvent<Ipv4Addr, VecBuf>;

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const STATIC_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
const OTHER_MAC: EthernetAddress = EthernetAddress([0x02, 0xbb, 0, 0, 0, 9]);
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn me6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
fn gw6() -> Ipv6Addr {
    "2001:db8::2".parse().unwrap()
}

fn ifaces() -> Interfaces {
    Interfaces::new(vec![Interface {
        port: 0,
        vlan: None,
        mac: OUR_MAC,
        ipv4: vec![Ipv4Cidr::new(ME, 24).unwrap()],
        ipv6: vec![Ipv6Cidr::new(me6(), 64).unwrap()],
        mtu: 1500,
        role: Role::Outside,
    }])
}

fn cfg() -> NeighConfig {
    NeighConfig { capacity: 4, pending_per_entry: 4, ..NeighConfig::default() }
}

fn pkt(tag: u8) -> VecBuf {
    VecBuf::from_slice(&[tag; 8])
}

/// An event sink that fails the test on any event.
fn no_events<A: core::fmt::Debug>(e: NeighEvent<A, VecBuf>) {
    panic!("unexpected neighbour event {e:?}");
}

fn arp_bytes(op: ArpOperation, sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let repr = ArpRepr {
        operation: op,
        source_hardware_addr: sha,
        source_protocol_addr: spa,
        target_hardware_addr: if op == ArpOperation::Reply { OUR_MAC } else { Default::default() },
        target_protocol_addr: tpa,
    };
    let mut b = vec![0xa5; arp::PACKET_LEN];
    repr.emit(&mut ArpPacket::new_unchecked(&mut b[..]));
    b
}

/// An IPv6 packet (hop limit 255) carrying the ICMPv6 message `repr`.
fn nd_bytes(src: Ipv6Addr, dst: Ipv6Addr, repr: &Icmpv6Repr<'_>) -> Vec<u8> {
    let len = repr.buffer_len();
    let mut b = vec![0xa5; ipv6::HEADER_LEN + len];
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: len,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
    ip.emit(&mut p).unwrap();
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(p.payload_mut())).unwrap();
    b
}

#[test]
fn output_to_a_static_entry_is_immediate_and_solicits_nothing() {
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
    assert_eq!(t.add_static(0, GW, STATIC_MAC, &mut no_events), Ok(()));
    assert_eq!(t.lookup(0, GW), Some((NeighState::Permanent, STATIC_MAC)));
    for (k, now) in [0u64, 1, 5_000_000_000].into_iter().enumerate() {
        let (mac, b) = t.output(0, GW, now, pkt(k as u8), &mut no_events).unwrap();
        assert_eq!((mac, b.data()[0]), (STATIC_MAC, k as u8));
    }
    assert_eq!(t.stats().solicits, 0);
    assert_eq!(t.stats().queued, 0);
}

#[test]
fn a_static_entry_never_ages_fails_or_is_reprobed() {
    let c = cfg();
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
    t.add_static(0, GW, STATIC_MAC, &mut no_events).unwrap();
    // Well past every timer: reachable, stale, retransmission and failed hold.
    let far = c.reachable_ns + c.stale_ns + c.failed_hold_ns + 1000 * c.retrans_ns;
    for now in [c.reachable_ns, c.reachable_ns + c.stale_ns, far, u64::MAX / 2, u64::MAX] {
        t.poll(now, &mut no_events);
        assert_eq!(t.lookup(0, GW), Some((NeighState::Permanent, STATIC_MAC)), "at {now}");
        assert!(t.output(0, GW, now, pkt(1), &mut no_events).is_some());
    }
    assert_eq!(t.len(), 1);
    assert_eq!(t.stats().solicits, 0);
}

#[test]
fn received_arp_does_not_change_a_static_entry() {
    let ifs = ifaces();
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
    t.add_static(0, GW, STATIC_MAC, &mut no_events).unwrap();
    let want = Some((NeighState::Permanent, STATIC_MAC));
    // A reply addressed to us, a gratuitous ARP, and a request for us: all claim another MAC.
    let reply = arp_bytes(ArpOperation::Reply, OTHER_MAC, GW, ME);
    assert_eq!(handle_arp(&ifs, 0, &reply, 10, &mut t, &mut no_events), Ok(None));
    assert_eq!(t.lookup(0, GW), want);
    let garp = arp_bytes(ArpOperation::Request, OTHER_MAC, GW, GW);
    assert_eq!(handle_arp(&ifs, 0, &garp, 20, &mut t, &mut no_events), Ok(None));
    assert_eq!(t.lookup(0, GW), want);
    let req = arp_bytes(ArpOperation::Request, OTHER_MAC, GW, ME);
    let answer = handle_arp(&ifs, 0, &req, 30, &mut t, &mut no_events).unwrap().unwrap();
    // Still answered (to the MAC that asked), still not learned.
    assert_eq!(answer.target_hardware_addr, OTHER_MAC);
    assert_eq!(t.lookup(0, GW), want);
    assert_eq!(t.stats().learned, 0);
    let (mac, _) = t.output(0, GW, 40, pkt(7), &mut no_events).unwrap();
    assert_eq!(mac, STATIC_MAC);
}

#[test]
fn received_nd_does_not_change_a_static_entry() {
    let ifs = ifaces();
    let mut t = NeighTable::<Ipv6Addr, VecBuf>::new(cfg());
    t.add_static(0, gw6(), STATIC_MAC, &mut no_events).unwrap();
    let want = Some((NeighState::Permanent, STATIC_MAC));
    let flags = NeighborFlags { router: true, solicited: true, override_: true };
    let na = Icmpv6Repr::NeighborAdvert { flags, target_addr: gw6(), lladdr: Some(OTHER_MAC) };
    let ip = nd_bytes(gw6(), me6(), &na);
    assert_eq!(handle_nd(&ifs, 0, &ip, 1, &mut t, &mut no_events), Ok(None));
    assert_eq!(t.lookup(0, gw6()), want);
    // A unicast solicitation from the static neighbour: answered, entry unchanged.
    let ns = Icmpv6Repr::NeighborSolicit { target_addr: me6(), lladdr: Some(OTHER_MAC) };
    let ip = nd_bytes(gw6(), me6(), &ns);
    let reply = handle_nd(&ifs, 0, &ip, 2, &mut t, &mut no_events).unwrap().unwrap();
    assert_eq!(reply.dst, gw6());
    assert_eq!(t.lookup(0, gw6()), want);
    // Without a link-layer option the reply goes to the configured MAC.
    let ns = Icmpv6Repr::NeighborSolicit { target_addr: me6(), lladdr: None };
    let ip = nd_bytes(gw6(), me6(), &ns);
    let reply = handle_nd(&ifs, 0, &ip, 3, &mut t, &mut no_events).unwrap().unwrap();
    assert_eq!(reply.dst_mac, STATIC_MAC);
    assert_eq!(t.stats().learned, 0);
}

#[test]
fn add_static_releases_held_packets_in_order_to_the_static_mac() {
    let c = cfg();
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
    let mut ev: Vec<Ev4> = Vec::new();
    for k in 1..=3 {
        assert!(t.output(0, GW, u64::from(k), pkt(k), &mut |e| ev.push(e)).is_none());
    }
    assert_eq!(t.lookup(0, GW).unwrap().0, NeighState::Incomplete);
    assert_eq!(ev.len(), 1, "one solicitation so far");
    assert!(matches!(ev[0], NeighEvent::Solicit { target: GW, unicast: None, .. }));
    ev.clear();
    t.add_static(0, GW, STATIC_MAC, &mut |e| ev.push(e)).unwrap();
    let sent: Vec<u8> = ev
        .iter()
        .map(|e| match e {
            NeighEvent::Send { iface: 0, mac, pkt } if *mac == STATIC_MAC => pkt.data()[0],
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(sent, [1, 2, 3]);
    assert_eq!(t.pending_len(0, GW), 0);
    assert_eq!(t.lookup(0, GW), Some((NeighState::Permanent, STATIC_MAC)));
    // The pending resolution is over: no retransmission, no failure later.
    for k in 1..=u64::from(c.max_solicits) + 2 {
        t.poll(k * c.retrans_ns, &mut no_events);
    }
    assert_eq!(t.stats().solicits, 1);
    assert_eq!(t.stats().resolution_failed, 0);
}

#[test]
fn add_static_converts_learned_and_failed_entries() {
    let c = cfg();
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
    let ifs = ifaces();
    // Learned from a request for us (stale, OTHER_MAC), then made static.
    let req = arp_bytes(ArpOperation::Request, OTHER_MAC, GW, ME);
    handle_arp(&ifs, 0, &req, 0, &mut t, &mut no_events).unwrap();
    assert_eq!(t.lookup(0, GW), Some((NeighState::Stale, OTHER_MAC)));
    t.add_static(0, GW, STATIC_MAC, &mut no_events).unwrap();
    assert_eq!(t.lookup(0, GW), Some((NeighState::Permanent, STATIC_MAC)));
    // A failed resolution, then made static: packets flow at once.
    let dead = Ipv4Addr::new(192, 0, 2, 3);
    let mut drops = 0;
    let mut count = |e: Ev4| {
        if let NeighEvent::Drop(_) = e {
            drops += 1;
        }
    };
    t.output(0, dead, 0, pkt(1), &mut count);
    for k in 1..=u64::from(c.max_solicits) {
        t.poll(k * c.retrans_ns, &mut count);
    }
    assert_eq!((t.lookup(0, dead).unwrap().0, drops), (NeighState::Failed, 1));
    t.add_static(0, dead, STATIC_MAC, &mut no_events).unwrap();
    let now = (u64::from(c.max_solicits) + 1) * c.retrans_ns;
    assert_eq!(t.output(0, dead, now, pkt(2), &mut no_events).unwrap().0, STATIC_MAC);
    // Configuring it again with another MAC replaces the MAC.
    t.add_static(0, dead, OTHER_MAC, &mut no_events).unwrap();
    assert_eq!(t.lookup(0, dead), Some((NeighState::Permanent, OTHER_MAC)));
}

#[test]
fn group_and_zero_macs_are_refused() {
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
    let ifs = ifaces();
    let req = arp_bytes(ArpOperation::Request, OTHER_MAC, GW, ME);
    handle_arp(&ifs, 0, &req, 0, &mut t, &mut no_events).unwrap();
    let bad = [
        EthernetAddress::BROADCAST,
        EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]),
        EthernetAddress([0x33, 0x33, 0, 0, 0, 1]),
        EthernetAddress([0x03, 0, 0, 0, 0, 1]),
        EthernetAddress([0; 6]),
    ];
    for mac in bad {
        let new = Ipv4Addr::new(192, 0, 2, 50);
        assert_eq!(t.add_static(0, new, mac, &mut no_events), Err(NeighError::NotUnicastMac));
        assert_eq!(t.add_static(0, GW, mac, &mut no_events), Err(NeighError::NotUnicastMac));
        assert_eq!(t.lookup(0, new), None, "{mac}");
        assert_eq!(t.lookup(0, GW), Some((NeighState::Stale, OTHER_MAC)), "{mac}");
    }
    assert_eq!(t.len(), 1);
}

#[test]
fn a_full_table_refuses_a_new_static_entry() {
    let c = NeighConfig { capacity: 2, ..cfg() };
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
    let mut solicits = 0;
    for a in [GW, Ipv4Addr::new(192, 0, 2, 3)] {
        t.output(0, a, 0, pkt(1), &mut |e: Ev4| {
            assert!(matches!(e, NeighEvent::Solicit { .. }));
            solicits += 1;
        });
    }
    assert_eq!((t.len(), solicits), (2, 2));
    let new = Ipv4Addr::new(192, 0, 2, 4);
    assert_eq!(t.add_static(0, new, STATIC_MAC, &mut no_events), Err(NeighError::TableFull));
    assert_eq!(t.lookup(0, new), None);
    assert_eq!(t.len(), 2);
    // An entry that exists needs no new slot.
    let mut released = 0;
    t.add_static(0, GW, STATIC_MAC, &mut |e: Ev4| {
        assert!(matches!(e, NeighEvent::Send { mac: STATIC_MAC, .. }));
        released += 1;
    })
    .unwrap();
    assert_eq!(released, 1);
    assert_eq!(t.lookup(0, GW), Some((NeighState::Permanent, STATIC_MAC)));
}

#[test]
fn remove_deletes_a_static_entry_and_resolution_starts_afresh() {
    let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
    t.add_static(0, GW, STATIC_MAC, &mut no_events).unwrap();
    t.remove(0, GW, &mut no_events);
    assert_eq!(t.lookup(0, GW), None);
    assert!(t.is_empty());
    let mut ev: Vec<Ev4> = Vec::new();
    assert!(t.output(0, GW, 0, pkt(1), &mut |e| ev.push(e)).is_none());
    assert!(matches!(ev[..], [NeighEvent::Solicit { target: GW, unicast: None, .. }]));
}
