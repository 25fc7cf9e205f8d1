//! The worker pipeline end to end: two gateways back to back, plaintext in on A's inside,
//! ESP between them, plaintext out of B's inside.

mod pipeline_support;

use std::sync::Arc;

use dataplane::esp::ControlReason;
use dataplane::queue::{Command, CountersReply, Event};
use dataplane::sa::{Direction, DropReason, LimitKind, SaEvent, SaEventKind};
use dataplane::spd::{Action, Entry, IpPrefix, Spd, TrafficSelector};
use dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpProtocol,
    Ipv4Addr, Ipv4Packet,
};

use pipeline_support::*;

fn inner(n: u8) -> Vec<u8> {
    udp(HOST_A, HOST_B, 1234, 5678, &[n; 100])
}

fn spi_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[34..38].try_into().unwrap())
}

fn acquires(s: &mut Site) -> usize {
    let mut n = 0;
    while let Some(e) = s.ctl.events.pop() {
        n += usize::from(matches!(e, Event::Acquire(_)));
    }
    n
}

#[test]
fn plaintext_through_esp_and_back_to_plaintext() {
    let mut net = Net::new();
    let (_, spi) = net.tunnel(1);
    let pkt = inner(7);
    net.host_sends(Side::A, &pkt);
    net.run();

    let esp: Vec<_> = net.wire_ab.iter().filter(|f| ethertype(f) == ETH_IPV4).collect();
    assert_eq!(esp.len(), 1);
    let f = esp[0];
    assert_eq!(&f[..6], B_OUT_MAC.as_bytes());
    assert_eq!(&f[6..12], A_OUT_MAC.as_bytes());
    let outer = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(outer.next_header(), IpProtocol::Esp);
    assert_eq!((outer.src_addr(), outer.dst_addr()), (A_OUT, B_OUT));
    assert!(outer.verify_checksum());
    assert_eq!(spi_of(f), spi);

    assert_eq!(net.b_inside.len(), 1);
    let out = &net.b_inside[0];
    assert_eq!(&out[..6], HOST_B_MAC.as_bytes());
    assert_eq!(&out[6..12], B_IN_MAC.as_bytes());
    assert_eq!(ethertype(out), ETH_IPV4);
    // Two routers forwarded it (A into the tunnel, B out of it): TTL - 2.
    assert_eq!(&out[14..], &two_hops(&pkt)[..], "inner packet byte-identical but for TTL");
    assert_eq!(net.a.w.counters().tx, 2, "ARP request + ESP");
    assert_eq!(net.b.w.counters().drop_esp, 0);
}

#[test]
fn next_hop_is_resolved_before_the_first_packet_leaves() {
    let mut net = Net::new();
    net.tunnel(1);
    // Apply the binding, then send one packet on A alone.
    net.run();
    let mut out = Vec::new();
    let mut burst =
        vec![dataplane::buf::VecBuf::from_slice(&eth(A_IN_MAC, HOST_A_MAC, ETH_IPV4, &inner(1)))];
    net.a.w.process_rx(IN_PORT, &mut burst, net.now, &mut |p, b| out.push((p, b.to_vec())));
    assert_eq!(out.len(), 1, "only the ARP request leaves");
    let (port, req) = &out[0];
    assert_eq!(*port, OUT_PORT);
    assert_eq!(ethertype(req), ETH_ARP);
    assert_eq!(&req[..6], EthernetAddress::BROADCAST.as_bytes());
    let r = ArpRepr::parse(&ArpPacket::new_checked(&req[14..]).unwrap()).unwrap();
    assert_eq!(r.operation, ArpOperation::Request);
    assert_eq!((r.source_protocol_addr, r.target_protocol_addr), (A_OUT, B_OUT));
    assert_eq!(net.a.w.neighbours().pending_len(0, B_OUT), 1, "packet held");

    // B answers; its reply releases the held ESP packet on A.
    let mut replies = Vec::new();
    let mut b_in = vec![dataplane::buf::VecBuf::from_slice(req)];
    net.b.w.process_rx(OUT_PORT, &mut b_in, net.now, &mut |p, b| replies.push((p, b.to_vec())));
    assert_eq!(replies.len(), 1);
    assert_eq!(ethertype(&replies[0].1), ETH_ARP);
    assert_eq!(net.b.w.counters().arp_replies, 1);
    let mut released = Vec::new();
    let mut a_in = vec![dataplane::buf::VecBuf::from_slice(&replies[0].1)];
    net.a.w.process_rx(OUT_PORT, &mut a_in, net.now, &mut |p, b| released.push((p, b.to_vec())));
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].0, OUT_PORT);
    assert_eq!(&released[0].1[..6], B_OUT_MAC.as_bytes());
    assert_eq!(released[0].1[23], 50, "the held packet, now ESP");
    assert_eq!(net.a.w.neighbours().pending_len(0, B_OUT), 0);
}

#[test]
fn missing_sa_raises_one_acquire_per_interval_and_holds_until_bound() {
    let mut net = Net::new();
    let interval = 1_000_000_000;
    for n in 0..3 {
        net.host_sends(Side::A, &inner(n));
        net.run();
        net.now += interval / 10;
    }
    assert_eq!(acquires(&mut net.a), 1, "one ACQUIRE within the interval");
    assert_eq!(net.a.w.acquire().held(POLICY), 3);
    assert!(net.wire_ab.is_empty(), "nothing leaves without an SA");

    net.now += interval;
    net.host_sends(Side::A, &inner(3));
    net.run();
    assert_eq!(acquires(&mut net.a), 1, "the next interval raises the next one");
    assert_eq!(net.a.w.counters().acquires, 2);
    assert_eq!(net.a.w.acquire().held(POLICY), 4);

    net.tunnel(1);
    net.run();
    assert_eq!(net.a.w.acquire().held(POLICY), 0);
    assert_eq!(net.b_inside.len(), 4, "every held packet released after BindSa");
    for (n, f) in net.b_inside.iter().enumerate() {
        assert_eq!(&f[14..], &two_hops(&inner(n as u8))[..]);
    }
    assert_eq!(acquires(&mut net.a), 0);
}

#[test]
fn echo_to_us_is_answered_and_ike_is_punted() {
    let mut net = Net::new();
    let echo = Icmpv4Repr::EchoRequest { ident: 9, seq_no: 1, data: b"ping" };
    let mut icmp = vec![0; echo.buffer_len()];
    echo.emit(&mut Icmpv4Packet::new_unchecked(&mut icmp[..])).unwrap();
    net.host_sends(Side::A, &ipv4(HOST_A, A_IN, IpProtocol::Icmp, 64, &icmp));
    net.run();
    assert_eq!(net.a_inside.len(), 1);
    let f = &net.a_inside[0];
    assert_eq!(&f[..6], HOST_A_MAC.as_bytes());
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (A_IN, HOST_A));
    let reply = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(matches!(
        Icmpv4Repr::parse(&reply).unwrap(),
        Icmpv4Repr::EchoReply { ident: 9, seq_no: 1, data: b"ping" }
    ));
    assert_eq!(net.a.w.counters().echo_replies, 1);

    let ike = udp(B_OUT, A_OUT, 500, 500, b"IKE_SA_INIT");
    net.inject(Side::A, OUT_PORT, &eth(A_OUT_MAC, B_OUT_MAC, ETH_IPV4, &ike));
    net.run();
    match net.a.ctl.events.pop() {
        Some(Event::Punt { reason: ControlReason::Ike, packet }) => {
            assert_eq!(packet.to_vec(), ike, "punted without its L2 header");
        }
        other => panic!("expected an IKE punt, got {other:?}"),
    }
    assert_eq!(net.a.w.counters().punts, 1);
}

#[test]
fn make_before_break_rekey_loses_nothing() {
    let mut net = Net::new();
    let (tunnel, spi1) = net.tunnel(1);
    let mut sent = 0u8;
    for _ in 0..3 {
        net.host_sends(Side::A, &inner(sent));
        sent += 1;
        net.run();
    }
    // Two packets under the old SA stay in flight.
    net.divert_esp = Some(Vec::new());
    for _ in 0..2 {
        net.host_sends(Side::A, &inner(sent));
        sent += 1;
    }
    net.run();
    let in_flight = net.divert_esp.take().unwrap();
    assert_eq!(in_flight.len(), 2);
    assert!(in_flight.iter().all(|f| spi_of(f) == spi1));

    // B installs the new inbound SA first, then A switches the tunnel over.
    let spi2 = net.b.table.alloc_spi().unwrap();
    let (o2, i2) = sa_pair(spi2, 2);
    net.b.table.install_inbound(i2).unwrap();
    net.a.table.rekey_outbound(tunnel, o2).unwrap();
    for _ in 0..3 {
        net.host_sends(Side::A, &inner(sent));
        sent += 1;
        net.run();
    }
    let last = net.wire_ab.last().unwrap();
    assert_eq!(spi_of(last), spi2, "A encrypts under the new SA");

    // The old SA's packets arrive late: still accepted.
    net.inject(Side::B, OUT_PORT, &in_flight[0]);
    net.run();
    assert_eq!(net.b_inside.len(), usize::from(sent) - 1);

    // Old inbound SA deleted: its stragglers are dropped, the new SA keeps working.
    net.b.table.delete_inbound(spi1).unwrap();
    net.run();
    net.inject(Side::B, OUT_PORT, &in_flight[1]);
    net.run();
    assert_eq!(net.b.w.counters().drop_esp, 1);
    net.host_sends(Side::A, &inner(sent));
    net.run();
    assert_eq!(net.b_inside.len(), usize::from(sent));
    net.a.table.reclaim();
    assert_eq!(net.a.table.pending_reclaim(), 0, "A's worker passed a quiescent point");
    assert_eq!(net.b.table.reclaim(), 1);

    // Every packet but the one sent after the delete on the old SA arrived once, in order.
    let got: Vec<u8> = net.b_inside.iter().map(|f| f[14 + 28]).collect();
    assert_eq!(got, [0, 1, 2, 5, 6, 7, 3, 8]);
}

#[test]
fn expiring_ttl_sends_time_exceeded_back_to_the_sender() {
    let mut net = Net::new();
    // Bypass traffic (not 10.2.0.0/24) with TTL 1: A must not forward it.
    let mut pkt = udp(HOST_A, B_OUT, 1234, 9, b"x");
    pkt[8] = 1;
    Ipv4Packet::new_unchecked(&mut pkt[..]).fill_checksum();
    net.host_sends(Side::A, &pkt);
    net.run();
    assert!(net.wire_ab.is_empty());
    assert_eq!(net.a.w.counters().drop_ttl, 1);
    assert_eq!(net.a_inside.len(), 1);
    let ip = Ipv4Packet::new_checked(&net.a_inside[0][14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (A_IN, HOST_A));
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(matches!(Icmpv4Repr::parse(&icmp).unwrap(), Icmpv4Repr::TimeExceeded { .. }));

    // With TTL 64 the same packet is forwarded in the clear.
    net.host_sends(Side::A, &udp(HOST_A, B_OUT, 1234, 9, b"x"));
    net.run();
    assert_eq!(net.b.w.counters().punts, 1, "B punts the UDP datagram to its own address");
}

#[test]
fn control_commands_install_spd_transmit_and_report_counters() {
    let mut net = Net::new();
    net.tunnel(1);
    net.host_sends(Side::A, &inner(0));
    net.run();
    assert_eq!(net.b_inside.len(), 1);

    // A new SPD that discards the same traffic takes effect at once (flow cache flushed).
    let discard = Spd::new(
        vec![Entry::new(
            IpPrefix::v4(HOST_A, 32).unwrap(),
            IpPrefix::v4(HOST_B, 32).unwrap(),
            Action::Discard,
        )],
        Action::Bypass,
    )
    .unwrap();
    net.command(Side::A, Command::InstallSpd(Arc::new(discard)));
    net.run();
    net.host_sends(Side::A, &inner(1));
    net.run();
    assert_eq!(net.b_inside.len(), 1);
    assert_eq!(net.a.w.counters().drop_spd, 1);

    // An IKE message from A's control plane is routed out of the outside port; B punts it.
    let ike = udp(A_OUT, B_OUT, 500, 500, b"IKE_AUTH");
    let pkt = dataplane::buf::VecBuf::from_slice(&ike);
    net.command(Side::A, Command::Transmit(pkt));
    net.run();
    match net.b.ctl.events.pop() {
        Some(Event::Punt { reason: ControlReason::Ike, packet }) => {
            assert_eq!(packet.to_vec(), ike)
        }
        other => panic!("expected an IKE punt on B, got {other:?}"),
    }

    net.command(Side::B, Command::CountersRequest { request: 42 });
    net.run();
    match net.b.ctl.events.pop() {
        Some(Event::Counters(CountersReply { request: 42, worker: 0, .. })) => {}
        other => panic!("expected a counters reply, got {other:?}"),
    }
}

#[test]
fn sa_lifetime_events_reach_the_control_queue() {
    let mut net = Net::new();
    let spi = net.b.table.alloc_spi().unwrap();
    let (o, i) = sa_pair_with(spi, 1, |c| c.lifetimes.soft.packets = Some(2));
    net.b.table.install_inbound(i).unwrap();
    let idx = net.a.table.install_outbound(o).unwrap();
    net.command(Side::A, Command::BindSa { policy: POLICY, sa: Some(idx) });
    for n in 0..3 {
        net.host_sends(Side::A, &inner(n));
        net.run();
    }
    assert_eq!(net.b_inside.len(), 3, "a soft limit does not stop traffic");
    let mut soft = 0;
    while let Some(e) = net.a.ctl.events.pop() {
        if let Event::Sa(SaEvent { spi: s, direction: Direction::Outbound, kind }) = e {
            assert_eq!(s, spi);
            assert_eq!(kind, SaEventKind::SoftExpired(LimitKind::Packets));
            soft += 1;
        }
    }
    assert_eq!(soft, 1);
}

#[test]
fn decrypted_traffic_outside_the_sa_selectors_is_dropped() {
    let mut net = Net::new();
    // B's inbound SA admits 10.1.0.0/24 → HOST_B only (RFC 4301 5.2, step 4).
    let spi = net.b.table.alloc_spi().unwrap();
    let sel = TrafficSelector::new(
        IpPrefix::v4(Ipv4Addr::new(10, 1, 0, 0), 24).unwrap(),
        IpPrefix::v4(HOST_B, 32).unwrap(),
    );
    let (o, i) = sa_pair_with(spi, 3, |c| {
        if c.direction == Direction::Inbound {
            c.traffic_selectors = vec![sel];
        }
    });
    assert_eq!(i.traffic_selectors(), &[sel]);
    net.b.table.install_inbound(i).unwrap();
    let idx = net.a.table.install_outbound(o).unwrap();
    net.command(Side::A, Command::BindSa { policy: POLICY, sa: Some(idx) });

    let good = inner(1);
    // The same tunnel carrying a destination the SA was not set up for: A's SPD protects
    // 10.2.0.0/24, B's selector only covers HOST_B.
    let stray = udp(HOST_A, Ipv4Addr::new(10, 2, 0, 9), 1234, 5678, &[2; 100]);
    net.host_sends(Side::A, &good);
    net.host_sends(Side::A, &stray);
    net.run();

    assert_eq!(net.b_inside.len(), 1, "only the packet inside the selectors comes out");
    assert_eq!(&net.b_inside[0][14..], &two_hops(&good)[..]);
    assert_eq!(net.b.w.counters().drop_inbound_policy, 1);
    let sa = net.b.table.inbound(spi).unwrap();
    assert_eq!(sa.counters().drops.get(DropReason::PolicyMismatch), 1);
    assert!(sa.admits(&good));
    assert!(!sa.admits(&stray));
    assert!(!sa.admits(&[0x45, 0, 0]), "an unreadable packet is never admitted");
}

/// An HA unit becoming active: the worker takes the interfaces' active addresses and MAC
/// (only with the same layout), announces each IPv4 address by gratuitous ARP on its port,
/// and answers for the new address and no longer for the old one.
#[test]
fn set_interfaces_moves_addresses_and_announces_them() {
    use dataplane::l3::{Interface, Interfaces, Ipv4Cidr, Role};
    let mut net = Net::new();
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let vmac = EthernetAddress([2, 0, 0, 0, 0xaa, 0]);
    let iface = |port, mac, ip: Ipv4Addr, role| Interface {
        port,
        vlan: None,
        mac,
        ipv4: vec![Ipv4Cidr::new(ip, 24).unwrap()],
        ipv6: vec![],
        mtu: 1500,
        role,
    };
    // Another layout (ports swapped) is refused: nothing is announced, A_OUT still answers.
    let wrong = Interfaces::new(vec![
        iface(IN_PORT, vmac, vip, Role::Outside),
        iface(OUT_PORT, A_IN_MAC, A_IN, Role::Inside),
    ]);
    net.command(Side::A, Command::SetInterfaces { ifaces: Box::new(wrong), announce: true });
    net.run();
    assert!(net.wire_ab.is_empty(), "a refused layout announces nothing");

    let vip6: dataplane::wire::Ipv6Addr = "2001:db8::100".parse().unwrap();
    let mut outside = iface(OUT_PORT, vmac, vip, Role::Outside);
    outside.ipv6 = vec![dataplane::l3::Ipv6Cidr::new(vip6, 64).unwrap()];
    let active = Interfaces::new(vec![outside, iface(IN_PORT, A_IN_MAC, A_IN, Role::Inside)]);
    net.command(Side::A, Command::SetInterfaces { ifaces: Box::new(active), announce: true });
    let now = net.now;
    let mut sent = Vec::new();
    net.a.w.poll_control(now, &mut |p, b| sent.push((p, b.to_vec())));
    assert_eq!(sent.len(), 3, "a gratuitous ARP per IPv4 address, an NA per IPv6: {sent:?}");
    // The unsolicited NA (RFC 4861 7.2.6): all-nodes, from the new MAC, Override set.
    let (port, na) = &sent[1];
    assert_eq!(*port, OUT_PORT);
    assert_eq!(&na[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(&na[6..12], vmac.as_bytes());
    assert_eq!(&na[12..14], &[0x86, 0xdd]);
    assert_eq!(&na[22..38], &vip6.octets(), "sourced from the announced address");
    assert_eq!(na[54], 136, "Neighbor Advertisement");
    assert_eq!(na[58] & 0xe0, 0xa0, "Router and Override, not Solicited");
    assert_eq!(&na[62..78], &vip6.octets(), "target");
    sent.remove(1);
    let (port, garp) = &sent[0];
    assert_eq!(*port, OUT_PORT);
    assert_eq!(&garp[..6], &[0xff; 6]);
    assert_eq!(&garp[6..12], vmac.as_bytes());
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&garp[14..]).unwrap()).unwrap();
    assert_eq!(arp.operation, ArpOperation::Request);
    assert_eq!((arp.source_protocol_addr, arp.target_protocol_addr), (vip, vip));
    assert_eq!(arp.source_hardware_addr, vmac);
    assert_eq!(sent[1].0, IN_PORT);

    // ARP for the new address is answered with the new MAC; for the old one, not at all.
    let who_has = |target: Ipv4Addr| {
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: B_OUT_MAC,
            source_protocol_addr: B_OUT,
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: target,
        };
        let mut body = [0u8; dataplane::wire::arp::PACKET_LEN];
        req.emit(&mut ArpPacket::new_unchecked(&mut body[..]));
        eth(EthernetAddress::BROADCAST, B_OUT_MAC, ETH_ARP, &body)
    };
    let replies = one_frame(&mut net, Side::A, OUT_PORT, &who_has(vip));
    assert_eq!(replies.len(), 1);
    assert_eq!(&replies[0].1[6..12], vmac.as_bytes());
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &who_has(A_OUT)).is_empty());

    // Handing over: the unit sends from its own MAC (so that switches keep the pair's MAC
    // on the new active's port) and still takes what reaches it for the pair's MAC.
    let own = EthernetAddress([2, 0, 0, 0, 0xbb, 0]);
    let draining = Interfaces::new(vec![
        iface(OUT_PORT, own, vip, Role::Outside),
        iface(IN_PORT, A_IN_MAC, A_IN, Role::Inside),
    ])
    .also_accept(0, vmac);
    net.command(Side::A, Command::SetInterfaces { ifaces: Box::new(draining), announce: false });
    let mut sent = Vec::new();
    net.a.w.poll_control(now, &mut |p, b| sent.push((p, b.to_vec())));
    assert!(sent.is_empty(), "no announcement while handing over");
    let echo = Icmpv4Repr::EchoRequest { ident: 7, seq_no: 3, data: b"drain" };
    let mut icmp = vec![0; echo.buffer_len()];
    echo.emit(&mut Icmpv4Packet::new_unchecked(&mut icmp[..])).unwrap();
    let to = |mac| eth(mac, B_OUT_MAC, ETH_IPV4, &ipv4(B_OUT, vip, IpProtocol::Icmp, 64, &icmp));
    // (A stale neighbour entry may be reconfirmed by ARP on the way: IPv4 frames only.)
    let ip_out = |out: Vec<(u16, Vec<u8>)>| -> Vec<Vec<u8>> {
        out.into_iter().map(|(_, f)| f).filter(|f| ethertype(f) == ETH_IPV4).collect()
    };
    let replies = ip_out(one_frame(&mut net, Side::A, OUT_PORT, &to(vmac)));
    assert_eq!(replies.len(), 1, "a frame to the pair's MAC is still ours: {replies:02x?}");
    assert_eq!(&replies[0][6..12], own.as_bytes(), "answered from the unit's own MAC");
    assert_eq!(ip_out(one_frame(&mut net, Side::A, OUT_PORT, &to(own))).len(), 1);
    let other = EthernetAddress([2, 0, 0, 0, 0xcc, 0]);
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &to(other)).is_empty());
}
