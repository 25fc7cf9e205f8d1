//! IPv6 in the worker pipeline: plaintext IPv6 through ESP with an IPv4 or IPv6 outer
//! header chosen by the SA, bypass forwarding, hop limit, neighbour discovery handled in
//! the worker (solicitation, advertisement, DAD, static entries, stale reconfirmation),
//! echo replies, and no allocation per packet once warm.

mod pipeline_support;

mod alloc_counter;

use std::process::Command;
use std::sync::atomic::Ordering;

use alloc_counter::{ALLOCS, Counting, counting};

use dataplane::buf::VecBuf;
use dataplane::esp::{self, ControlReason, Disposition, EspWorker, VecBufAlloc};
use dataplane::l3::NeighState;
use dataplane::pipeline::Counters;
use dataplane::queue::Event;
use dataplane::wire::icmpv6::{Message as Icmpv6Message, NeighborFlags, TimeExceeded};
use dataplane::wire::{
    EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Packet, Ipv6Addr, Ipv6Packet,
};

use pipeline_support::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Set in the child process that runs the allocation test alone.
const ALLOC_CHILD: &str = "PIPELINE_IPV6_ALLOC_CHILD";

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const SO: NeighborFlags = NeighborFlags { router: false, solicited: true, override_: true };

fn inner6(n: u8) -> Vec<u8> {
    udp6(HOST_A6, HOST_B6, 1234, 5678, &[n; 100])
}

fn ipv6_of(f: &[u8]) -> Ipv6Packet<&[u8]> {
    assert_eq!(ethertype(f), ETH_IPV6);
    Ipv6Packet::new_checked(&f[14..]).unwrap()
}

fn icmpv6_of<'a>(ip: &Ipv6Packet<&'a [u8]>) -> Icmpv6Repr<'a> {
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap()
}

/// Checks that `f` is an NA from `mac`/`src` to `dst_mac`/`dst` about `target` with
/// `flags` and the target link-layer address `mac`.
fn assert_na(
    f: &[u8],
    dst_mac: EthernetAddress,
    mac: EthernetAddress,
    (src, dst): (Ipv6Addr, Ipv6Addr),
    target: Ipv6Addr,
    flags: NeighborFlags,
) {
    assert_eq!(&f[..6], dst_mac.as_bytes());
    assert_eq!(&f[6..12], mac.as_bytes());
    let ip = ipv6_of(f);
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (src, dst, 255));
    assert_eq!(
        icmpv6_of(&ip),
        Icmpv6Repr::NeighborAdvert { flags, target_addr: target, lladdr: Some(mac) }
    );
}

/// Checks that `f` is a multicast NS from `mac`/`src` for `target`.
fn assert_multicast_ns(f: &[u8], mac: EthernetAddress, src: Ipv6Addr, target: Ipv6Addr) {
    let ns = parse_ns(f).expect("a Neighbor Solicitation");
    let (group, group_mac) = solicited_node_of(target);
    assert_eq!((ns.dst, ns.dst_mac), (group, group_mac));
    assert_eq!(&f[6..12], mac.as_bytes());
    assert_eq!((ns.src, ns.hop_limit, ns.target, ns.lladdr), (src, 255, target, Some(mac)));
}

/// Plaintext IPv6 on A's inside, ESP with the SA's outer family between the gateways,
/// plaintext out of B's inside; both gateways resolve their next hop (A: B's outside
/// address, by ARP or ND; B: the inside host, by ND) before the packet leaves.
fn through_esp(outer_v6: bool) {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    net.tunnel_v6(1, outer_v6);
    net.run();
    let pkt = inner6(7);
    net.host_sends_v6(Side::A, &pkt);
    assert_eq!(net.run_v6(), 1, "B solicited its inside host once");

    // A's outside: the resolution first, then the ESP packet.
    assert_eq!(net.wire_ab.len(), 2);
    let esp = &net.wire_ab[1];
    assert_eq!(&esp[..6], B_OUT_MAC.as_bytes());
    if outer_v6 {
        assert_multicast_ns(&net.wire_ab[0], A_OUT_MAC, A_OUT6, B_OUT6);
        assert_na(&net.wire_ba[0], A_OUT_MAC, B_OUT_MAC, (B_OUT6, A_OUT6), B_OUT6, SO);
        let outer = ipv6_of(esp);
        assert_eq!(outer.next_header(), IpProtocol::Esp);
        assert_eq!((outer.src_addr(), outer.dst_addr()), (A_OUT6, B_OUT6));
        assert_eq!(net.a.w.neighbours_v6().lookup(0, B_OUT6).unwrap().0, NeighState::Reachable);
        assert_eq!((net.a.w.counters().nd_solicits, net.b.w.counters().nd_adverts), (1, 1));
    } else {
        assert_eq!(ethertype(&net.wire_ab[0]), ETH_ARP);
        assert_eq!(ethertype(esp), ETH_IPV4);
        let outer = Ipv4Packet::new_checked(&esp[14..]).unwrap();
        assert_eq!(outer.next_header(), IpProtocol::Esp);
        assert_eq!((outer.src_addr(), outer.dst_addr()), (A_OUT, B_OUT));
        assert_eq!((net.a.w.counters().arp_requests, net.a.w.counters().nd_solicits), (1, 0));
    }

    // B's inside: the host was solicited (and answered), then the inner packet went out.
    assert_eq!(net.b.w.counters().nd_solicits, 1);
    assert_eq!(
        net.b.w.neighbours_v6().lookup(1, HOST_B6),
        Some((NeighState::Reachable, HOST_B_MAC))
    );
    assert_eq!(net.b_inside.len(), 1);
    let out = &net.b_inside[0];
    assert_eq!(&out[..6], HOST_B_MAC.as_bytes());
    assert_eq!(&out[6..12], B_IN_MAC.as_bytes());
    assert_eq!(ethertype(out), ETH_IPV6);
    assert_eq!(&out[14..], &two_hops_v6(&pkt)[..], "byte-identical but for the hop limit");
    assert_eq!(net.b.w.counters().drop_esp, 0);

    // Resolved: the next packets go straight through.
    for n in 0..3 {
        net.host_sends_v6(Side::A, &inner6(n));
    }
    assert_eq!(net.run_v6(), 0);
    assert_eq!(net.b_inside.len(), 4);
    assert_eq!(&net.b_inside[3][14..], &two_hops_v6(&inner6(2))[..]);
}

#[test]
fn ipv6_through_esp_in_ipv4() {
    through_esp(false);
}

#[test]
fn ipv6_through_esp_in_ipv6() {
    through_esp(true);
}

#[test]
fn first_packet_waits_for_the_advertisement() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    net.tunnel_v6(1, true);
    net.run();
    let f = eth(A_IN_MAC, HOST_A_MAC, ETH_IPV6, &inner6(1));
    let out = one_frame(&mut net, Side::A, IN_PORT, &f);
    assert_eq!(out.len(), 1, "only the solicitation leaves");
    assert_eq!(out[0].0, OUT_PORT);
    assert_multicast_ns(&out[0].1, A_OUT_MAC, A_OUT6, B_OUT6);
    assert_eq!(net.a.w.neighbours_v6().pending_len(0, B_OUT6), 1, "packet held");

    let replies = one_frame(&mut net, Side::B, OUT_PORT, &out[0].1);
    assert_eq!(replies.len(), 1);
    assert_na(&replies[0].1, A_OUT_MAC, B_OUT_MAC, (B_OUT6, A_OUT6), B_OUT6, SO);
    // B learnt A from the solicitation's source link-layer option (RFC 4861 7.2.3): stale.
    assert_eq!(net.b.w.neighbours_v6().lookup(0, A_OUT6), Some((NeighState::Stale, A_OUT_MAC)));

    let released = one_frame(&mut net, Side::A, OUT_PORT, &replies[0].1);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].0, OUT_PORT);
    assert_eq!(&released[0].1[..6], B_OUT_MAC.as_bytes());
    assert_eq!(ipv6_of(&released[0].1).next_header(), IpProtocol::Esp, "the held packet, now ESP");
    assert_eq!(net.a.w.neighbours_v6().pending_len(0, B_OUT6), 0);
}

#[test]
fn stale_next_hop_is_reconfirmed_by_unicast_solicitation() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    net.tunnel_v6(1, true);
    net.run();
    net.host_sends_v6(Side::A, &inner6(1));
    net.run_v6();
    assert_eq!(net.wire_ab.len(), 2);
    // Past REACHABLE_TIME the entry is stale: the packet still goes out at once (first),
    // followed by a unicast solicitation to the known MAC, which B answers.
    net.now += 31_000_000_000;
    net.host_sends_v6(Side::A, &inner6(2));
    net.run_v6();
    assert_eq!(net.wire_ab.len(), 4);
    assert_eq!(ipv6_of(&net.wire_ab[2]).next_header(), IpProtocol::Esp);
    let ns = parse_ns(&net.wire_ab[3]).expect("a reconfirming solicitation");
    assert_eq!((ns.dst, ns.dst_mac, ns.target), (B_OUT6, B_OUT_MAC, B_OUT6));
    assert_na(net.wire_ba.last().unwrap(), A_OUT_MAC, B_OUT_MAC, (B_OUT6, A_OUT6), B_OUT6, SO);
    assert_eq!(net.b_inside.len(), 2);
    assert_eq!(net.a.w.neighbours_v6().lookup(0, B_OUT6).unwrap().0, NeighState::Reachable);
    assert_eq!(net.a.w.counters().nd_solicits, 2);
}

#[test]
fn bypass_ipv6_is_forwarded_with_the_hop_limit_decremented() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    let pkt = udp6(OUTSIDE_HOST6, HOST_A6, 53, 4000, b"answer");
    net.inject(Side::A, OUT_PORT, &eth(A_OUT_MAC, OUTSIDE_HOST6_MAC, ETH_IPV6, &pkt));
    assert_eq!(net.run_v6(), 1);
    assert_eq!(net.a_inside.len(), 1);
    let f = &net.a_inside[0];
    assert_eq!(&f[..12], [HOST_A_MAC.0, A_IN_MAC.0].concat());
    assert_eq!(&f[14..], &one_hop_v6(&pkt)[..]);
    let c = net.a.w.counters();
    assert_eq!((c.drop_unsupported, c.drop_spd, c.acquires), (0, 0, 0));
}

#[test]
fn hop_limit_one_gets_time_exceeded_from_the_ingress_interface() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    let pkt = ipv6(HOST_A6, OUTSIDE_HOST6, IpProtocol::Udp, 1, &[0; 16]);
    net.host_sends_v6(Side::A, &pkt);
    net.run_v6();
    assert!(net.wire_ab.is_empty(), "nothing forwarded");
    assert_eq!(net.a_inside.len(), 1);
    let ip = ipv6_of(&net.a_inside[0]);
    assert_eq!((ip.src_addr(), ip.dst_addr()), (A_IN6, HOST_A6));
    match icmpv6_of(&ip) {
        Icmpv6Repr::TimeExceeded { reason: TimeExceeded::HopLimitExceeded, data } => {
            assert_eq!(data, &pkt[..])
        }
        other => panic!("expected time exceeded, got {other:?}"),
    }
    let c = net.a.w.counters();
    assert_eq!((c.drop_ttl, c.icmp_errors), (1, 1));

    // No error about an ICMPv6 error (RFC 4443 2.4 (e)).
    let err = ipv6(HOST_A6, OUTSIDE_HOST6, IpProtocol::Icmpv6, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
    net.host_sends_v6(Side::A, &err);
    net.run_v6();
    let c = net.a.w.counters();
    assert_eq!((c.drop_ttl, c.icmp_errors, net.a_inside.len()), (2, 1, 1));
}

#[test]
fn solicitation_for_our_address_is_answered_and_its_sender_learnt() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    let (group, group_mac) = solicited_node_of(A_OUT6);
    let ns = ns_frame(
        group_mac,
        OUTSIDE_HOST6_MAC,
        OUTSIDE_HOST6,
        group,
        A_OUT6,
        Some(OUTSIDE_HOST6_MAC),
        255,
    );
    let out = one_frame(&mut net, Side::A, OUT_PORT, &ns);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, OUT_PORT);
    assert_na(&out[0].1, OUTSIDE_HOST6_MAC, A_OUT_MAC, (A_OUT6, OUTSIDE_HOST6), A_OUT6, SO);
    assert_eq!(
        net.a.w.neighbours_v6().lookup(0, OUTSIDE_HOST6),
        Some((NeighState::Stale, OUTSIDE_HOST6_MAC))
    );
    let c = net.a.w.counters();
    assert_eq!((c.nd_adverts, c.tx, c.punts), (1, 1, 0));

    // Not our address: no answer, nothing learnt.
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99);
    let (group, group_mac) = solicited_node_of(other);
    let ns = ns_frame(group_mac, B_OUT_MAC, B_OUT6, group, other, Some(B_OUT_MAC), 255);
    // A does not listen to that group: classification drops it.
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &ns).is_empty());
    let ns = ns_frame(A_OUT_MAC, B_OUT_MAC, B_OUT6, A_OUT6, other, Some(B_OUT_MAC), 255);
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &ns).is_empty());
    assert_eq!(net.a.w.neighbours_v6().lookup(0, B_OUT6), None);

    // Hop limit other than 255: from off-link, dropped (RFC 4861 7.1.1).
    let ns = ns_frame(A_OUT_MAC, B_OUT_MAC, B_OUT6, A_OUT6, A_OUT6, Some(B_OUT_MAC), 64);
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &ns).is_empty());
    assert_eq!(net.a.w.neighbours_v6().lookup(0, B_OUT6), None);
    assert_eq!(net.a.w.counters().drop_malformed, 1);
    assert_eq!(net.a.w.counters().nd_adverts, 1);
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    let (group, group_mac) = solicited_node_of(A_IN6);
    let dad = ns_frame(group_mac, HOST_A_MAC, Ipv6Addr::UNSPECIFIED, group, A_IN6, None, 255);
    let out = one_frame(&mut net, Side::A, IN_PORT, &dad);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, IN_PORT);
    // RFC 4861 7.2.4: to all-nodes, S clear, O set.
    let flags = NeighborFlags { router: false, solicited: false, override_: true };
    let all_nodes_mac = EthernetAddress([0x33, 0x33, 0, 0, 0, 1]);
    assert_na(&out[0].1, all_nodes_mac, A_IN_MAC, (A_IN6, ALL_NODES), A_IN6, flags);
    assert!(net.a.w.neighbours_v6().is_empty(), "nothing to learn from ::");
    assert_eq!(net.a.w.counters().nd_adverts, 1);
}

#[test]
fn advertisements_update_but_do_not_create_entries() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    // Unsolicited NA for an unknown neighbour: ignored.
    let na = na_frame(A_OUT_MAC, B_OUT_MAC, B_OUT6, A_OUT6, B_OUT6, SO);
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &na).is_empty());
    assert!(net.a.w.neighbours_v6().is_empty());
    assert_eq!(net.a.w.counters().drop_malformed, 0);
}

#[test]
fn static_neighbour_is_used_without_solicitation_and_never_overridden() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    // A packet held behind a resolution is released by the static entry.
    let held = udp6(HOST_A6, OUTSIDE_HOST6, 1, 2, b"held");
    net.host_sends_v6(Side::A, &held);
    net.run();
    assert_eq!(net.wire_ab.len(), 1, "the solicitation");
    assert!(parse_ns(&net.wire_ab[0]).is_some());
    net.a.w.add_static_neighbour_v6(0, OUTSIDE_HOST6, OUTSIDE_HOST6_MAC).unwrap();
    net.run();
    assert_eq!(net.wire_ab.len(), 2);
    assert_eq!(&net.wire_ab[1][..6], OUTSIDE_HOST6_MAC.as_bytes());
    assert_eq!(&net.wire_ab[1][14..], &one_hop_v6(&held)[..]);

    let pkt = udp6(HOST_A6, OUTSIDE_HOST6, 1, 2, b"static");
    net.host_sends_v6(Side::A, &pkt);
    net.run();
    assert_eq!(net.wire_ab.len(), 3);
    assert_eq!(&net.wire_ab[2][14..], &one_hop_v6(&pkt)[..]);
    assert_eq!(net.a.w.counters().nd_solicits, 1, "none for the static entry");

    // An overriding advertisement does not move a static entry.
    let other_mac = EthernetAddress([2, 0, 0, 0, 0x66, 6]);
    let na = na_frame(A_OUT_MAC, other_mac, OUTSIDE_HOST6, A_OUT6, OUTSIDE_HOST6, SO);
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &na).is_empty());
    assert_eq!(
        net.a.w.neighbours_v6().lookup(0, OUTSIDE_HOST6),
        Some((NeighState::Permanent, OUTSIDE_HOST6_MAC))
    );
    assert_eq!(
        net.a.w.add_static_neighbour_v6(0, OUTSIDE_HOST6, EthernetAddress::BROADCAST),
        Err(dataplane::l3::neigh::NeighError::NotUnicastMac)
    );
}

#[test]
fn echo_request_to_us_is_answered() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    let echo = Icmpv6Repr::EchoRequest { ident: 9, seq_no: 1, data: b"ping6" };
    let mut icmp = vec![0; echo.buffer_len()];
    echo.emit(&HOST_A6, &A_IN6, &mut Icmpv6Packet::new_unchecked(&mut icmp[..])).unwrap();
    net.host_sends_v6(Side::A, &ipv6(HOST_A6, A_IN6, IpProtocol::Icmpv6, 64, &icmp));
    assert_eq!(net.run_v6(), 1, "the reply waited for the host's address");
    assert_eq!(net.a_inside.len(), 1);
    let f = &net.a_inside[0];
    assert_eq!(&f[..6], HOST_A_MAC.as_bytes());
    let ip = ipv6_of(f);
    assert_eq!((ip.src_addr(), ip.dst_addr()), (A_IN6, HOST_A6));
    assert_eq!(icmpv6_of(&ip), Icmpv6Repr::EchoReply { ident: 9, seq_no: 1, data: b"ping6" });
    assert_eq!((net.a.w.counters().echo_replies, net.a.w.counters().punts), (1, 0));
}

#[test]
fn router_advertisements_are_punted() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    let router = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let mut ra = vec![0u8; 16];
    ra[0] = u8::from(Icmpv6Message::RouterAdvert);
    let ip = ipv6(router, ALL_NODES, IpProtocol::Icmpv6, 255, &ra);
    let f = eth(EthernetAddress([0x33, 0x33, 0, 0, 0, 1]), OUTSIDE_HOST6_MAC, ETH_IPV6, &ip);
    assert!(one_frame(&mut net, Side::A, OUT_PORT, &f).is_empty());
    match net.a.ctl.events.pop() {
        Some(Event::Punt { reason: ControlReason::NotEsp, packet }) => {
            assert_eq!(packet.to_vec(), ip, "punted without its L2 header")
        }
        other => panic!("expected a punt, got {other:?}"),
    }
    assert_eq!(net.a.w.counters().punts, 1);
}

#[test]
fn decapsulated_link_local_is_not_forwarded() {
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    // A peer that encrypts what A's classification would never let into the tunnel.
    let spi = net.b.table.alloc_spi().unwrap();
    let (o, i) = sa_pair_outer_v6(spi, 3);
    net.b.table.install_inbound(i).unwrap();
    net.b.w.add_static_neighbour_v6(1, HOST_B6, HOST_B_MAC).unwrap();
    let link_local = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 5);
    let mut esp = EspWorker::new();
    let mut extra = Vec::new();
    let mut frames = Vec::new();
    for (src, dst) in [(HOST_A6, link_local), (link_local, HOST_B6), (HOST_A6, HOST_B6)] {
        let mut bufs = [VecBuf::from_slice(&udp6(src, dst, 1, 2, b"x"))];
        let d = esp::encap_burst(&mut esp, &[&o], &mut bufs, &mut extra, &mut VecBufAlloc, 0);
        assert_eq!(d, &[Disposition::Forward]);
        frames.push(eth(B_OUT_MAC, A_OUT_MAC, ETH_IPV6, &bufs[0].to_vec()));
    }
    net.b.w.add_static_neighbour_v6(0, A_OUT6, A_OUT_MAC).unwrap();
    for f in &frames {
        net.inject(Side::B, OUT_PORT, f);
    }
    net.run();
    assert_eq!(net.b_inside.len(), 1, "only the global-to-global packet");
    assert_eq!(ipv6_of(&net.b_inside[0]).src_addr(), HOST_A6);
    let c = net.b.w.counters();
    assert_eq!((c.drop_no_route, c.drop_esp, c.nd_solicits), (2, 0, 0));
}

#[test]
fn counter_names_follow_the_values() {
    let c = Counters {
        nd_adverts: 1,
        nd_solicits: 2,
        drop_frag_needed: 3,
        drop_packet_too_big: 4,
        echo_replies: 5,
        ..Counters::default()
    };
    let v = c.values();
    let at = |name: &str| v[Counters::NAMES.iter().position(|n| *n == name).unwrap()];
    assert_eq!(
        ["nd_adverts", "nd_solicits", "drop_frag_needed", "drop_packet_too_big", "echo_replies"]
            .map(at),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(v.iter().sum::<u64>(), 15);
}

/// The allocation counter is process-wide and the other tests of this binary run in
/// parallel threads: the measurement runs in a child process running this test alone.
#[test]
fn steady_state_ipv6_tunnel_traffic_allocates_nothing() {
    const NAME: &str = "steady_state_ipv6_tunnel_traffic_allocates_nothing";
    if std::env::var_os(ALLOC_CHILD).is_some() {
        measure_steady_state_allocations();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--test-threads=1"])
        .env(ALLOC_CHILD, "1")
        .output()
        .unwrap();
    let log =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("1 passed"), "the child ran the test: {log}");
}

fn measure_steady_state_allocations() {
    // The counter sees allocations at all.
    counting(true);
    drop(std::hint::black_box(vec![0u8; 16]));
    counting(false);
    assert!(ALLOCS.load(Ordering::SeqCst) > 0);

    const BURST: usize = 32;
    let mut net = Net::dual(Mtus::default(), Mtus::default());
    net.tunnel_v6(1, true);
    net.run();
    // Resolve every neighbour on the path once (ND on both sides).
    net.host_sends_v6(Side::A, &udp6(HOST_A6, HOST_B6, 1, 2, &[0; 200]));
    net.run_v6();
    assert_eq!(net.b_inside.len(), 1);

    let frames: Vec<Vec<u8>> = (0..BURST)
        .map(|i| {
            let ip = udp6(HOST_A6, HOST_B6, 1000 + i as u16 % 4, 2, &[i as u8; 200]);
            eth(A_IN_MAC, HOST_A_MAC, ETH_IPV6, &ip)
        })
        .collect();
    let mut burst: Vec<VecBuf> = Vec::with_capacity(BURST);
    let mut a_out: Vec<(u16, VecBuf)> = Vec::with_capacity(2 * BURST);
    let mut b_in: Vec<VecBuf> = Vec::with_capacity(2 * BURST);
    let mut b_out: Vec<(u16, VecBuf)> = Vec::with_capacity(2 * BURST);
    for round in 0..8 {
        burst.extend(frames.iter().map(|f| VecBuf::from_slice(f)));
        a_out.clear();
        b_out.clear();
        let measured = round >= 3;
        ALLOCS.store(0, Ordering::SeqCst);
        counting(measured);
        let now = net.now + round * 1000;
        net.a.w.process_rx(IN_PORT, &mut burst, now, &mut |p, b| a_out.push((p, b)));
        b_in.extend(a_out.drain(..).map(|(p, b)| {
            assert_eq!(p, OUT_PORT);
            b
        }));
        net.b.w.process_rx(OUT_PORT, &mut b_in, now, &mut |p, b| b_out.push((p, b)));
        net.a.w.poll_control(now, &mut |p, b| a_out.push((p, b)));
        net.b.w.poll_control(now, &mut |p, b| b_out.push((p, b)));
        counting(false);
        if measured {
            assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "round {round} allocated");
        }
        assert_eq!(b_out.len(), BURST);
        assert!(b_out.iter().all(|(p, b)| *p == IN_PORT && ethertype(&b.to_vec()) == ETH_IPV6));
    }
    assert_eq!(net.b.w.counters().drop_esp, 0);
}
