//! The egress MTU on the plaintext path: forwarded IPv4 without DF is fragmented; IPv4
//! with DF set and IPv6 that do not fit the egress link get "fragmentation needed" (RFC
//! 1191) / "packet too big" (RFC 4443 3.2), rate-limited, sourced from the ingress
//! interface, and are dropped; packets that fit pass.

mod pipeline_support;

use dataplane::wire::icmpv4::DstUnreachable;
use dataplane::wire::{
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Addr, Ipv4Packet,
    Ipv6Packet,
};

use pipeline_support::*;

/// An IPv4/UDP datagram of `len` bytes in all from HOST_A to `dst`, DF as given.
fn v4_of_len(dst: Ipv4Addr, len: usize, df: bool) -> Vec<u8> {
    let mut ip = udp(HOST_A, dst, 7, 9, &vec![0x5a; len - 28]);
    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
    p.set_dont_frag(df);
    p.fill_checksum();
    ip
}

/// The ICMP error in frame `f`: (source, destination, reason, next-hop MTU, quoted bytes).
fn icmpv4_error(f: &[u8]) -> (Ipv4Addr, Ipv4Addr, DstUnreachable, u16, Vec<u8>) {
    assert_eq!(ethertype(f), ETH_IPV4);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.next_header(), IpProtocol::Icmp);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    match Icmpv4Repr::parse(&icmp).unwrap() {
        Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, data } => {
            (ip.src_addr(), ip.dst_addr(), reason, next_hop_mtu, data.to_vec())
        }
        other => panic!("expected destination unreachable, got {other:?}"),
    }
}

#[test]
fn ipv4_with_df_too_big_for_the_egress_link_gets_fragmentation_needed() {
    let mut net = Net::dual(Mtus { outside: 1300, inside: 1500 }, Mtus::default());
    net.a.w.add_static_neighbour(0, OUTSIDE_HOST, OUTSIDE_HOST_MAC).unwrap();
    let big = v4_of_len(OUTSIDE_HOST, 1301, true);
    net.host_sends(Side::A, &big);
    net.run();
    assert!(net.wire_ab.is_empty(), "not forwarded");
    assert_eq!(net.a_inside.len(), 1);
    let (src, dst, code, mtu, quoted) = icmpv4_error(&net.a_inside[0]);
    assert_eq!((src, dst), (A_IN, HOST_A), "from the ingress interface to the sender");
    assert_eq!((code, mtu), (DstUnreachable::FragRequired, 1300));
    // RFC 1812 4.3.2.3: as much of the packet as fits in 576 bytes.
    assert_eq!(quoted.len(), 576 - 28);
    assert_eq!(&quoted[..], &one_hop(&big)[..576 - 28]);
    let c = net.a.w.counters();
    assert_eq!((c.drop_frag_needed, c.icmp_errors, c.drop_packet_too_big), (1, 1, 0));

    // Exactly the MTU passes.
    let fits = v4_of_len(OUTSIDE_HOST, 1300, true);
    net.host_sends(Side::A, &fits);
    net.run();
    assert_eq!(net.wire_ab.len(), 1);
    assert_eq!(&net.wire_ab[0][..6], OUTSIDE_HOST_MAC.as_bytes());
    assert_eq!(&net.wire_ab[0][14..], &one_hop(&fits)[..]);
    assert_eq!(net.a.w.counters().drop_frag_needed, 1);
}

#[test]
fn decapsulated_packet_too_big_for_the_inside_link() {
    let mut net = Net::dual(Mtus::default(), Mtus { outside: 1500, inside: 1280 });
    net.tunnel(1);
    let big = v4_of_len(HOST_B, 1400, true);
    net.host_sends(Side::A, &big);
    net.run();
    assert_eq!(net.wire_ab.iter().filter(|f| f.get(23) == Some(&50)).count(), 1, "ESP fits");
    assert!(net.b_inside.is_empty(), "not forwarded inside");
    let c = net.b.w.counters();
    assert_eq!((c.drop_frag_needed, c.icmp_errors, c.drop_esp), (1, 1, 0));
    // The error leaves B's outside (the ingress interface), from its address, towards the
    // sender; A forwards it to its host.
    assert_eq!(net.a_inside.len(), 1);
    let (src, dst, code, mtu, quoted) = icmpv4_error(&net.a_inside[0]);
    assert_eq!((src, dst, code, mtu), (B_OUT, HOST_A, DstUnreachable::FragRequired, 1280));
    // The inner packet's TTL was decremented twice: by A into the tunnel, by B out of it.
    assert_eq!(&quoted[..], &two_hops(&big)[..576 - 28]);
}

#[test]
fn ipv6_too_big_for_the_egress_link_gets_packet_too_big() {
    let mut net = Net::dual(Mtus { outside: 1280, inside: 1500 }, Mtus::default());
    net.a.w.add_static_neighbour_v6(0, OUTSIDE_HOST6, OUTSIDE_HOST6_MAC).unwrap();
    net.a.w.add_static_neighbour_v6(1, HOST_A6, HOST_A_MAC).unwrap();
    let big = udp6(HOST_A6, OUTSIDE_HOST6, 7, 9, &[0x6b; 1400 - 48]);
    net.host_sends_v6(Side::A, &big);
    net.run();
    assert!(net.wire_ab.is_empty(), "routers never fragment IPv6");
    assert_eq!(net.a_inside.len(), 1);
    let f = &net.a_inside[0];
    assert_eq!(ethertype(f), ETH_IPV6);
    let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (A_IN6, HOST_A6));
    assert!(14 + 1280 >= f.len(), "RFC 4443 2.4 (c): at most the minimum MTU");
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap() {
        Icmpv6Repr::PktTooBig { mtu, data } => {
            assert_eq!(mtu, 1280);
            assert_eq!(data, &one_hop_v6(&big)[..1280 - 48]);
        }
        other => panic!("expected packet too big, got {other:?}"),
    }
    let c = net.a.w.counters();
    assert_eq!((c.drop_packet_too_big, c.icmp_errors, c.drop_frag_needed), (1, 1, 0));

    let fits = udp6(HOST_A6, OUTSIDE_HOST6, 7, 9, &[0x6b; 1280 - 48]);
    net.host_sends_v6(Side::A, &fits);
    net.run();
    assert_eq!(net.wire_ab.len(), 1);
    assert_eq!(&net.wire_ab[0][14..], &one_hop_v6(&fits)[..]);
}

#[test]
fn decapsulated_ipv6_too_big_for_the_inside_link() {
    let mut net = Net::dual(Mtus::default(), Mtus { outside: 1500, inside: 1280 });
    net.tunnel_v6(1, true);
    let big = udp6(HOST_A6, HOST_B6, 7, 9, &[1; 1300]);
    net.host_sends_v6(Side::A, &big);
    net.run_v6();
    assert!(net.b_inside.is_empty());
    let c = net.b.w.counters();
    assert_eq!((c.drop_packet_too_big, c.icmp_errors), (1, 1));
    // From B's outside address, routed back over the outside towards the sender.
    let to_host: Vec<_> = net
        .wire_ba
        .iter()
        .filter_map(|f| {
            let ip = Ipv6Packet::new_checked(&f[14..]).ok()?;
            (ip.dst_addr() == HOST_A6).then(|| ip.into_inner().to_vec())
        })
        .collect();
    assert_eq!(to_host.len(), 1);
    let ip = Ipv6Packet::new_checked(&to_host[0][..]).unwrap();
    assert_eq!(ip.src_addr(), B_OUT6);
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap() {
        Icmpv6Repr::PktTooBig { mtu, data } => {
            assert_eq!(mtu, 1280);
            assert!(data == &two_hops_v6(&big)[..1280 - 48], "quotes what fits in 1280 bytes");
        }
        other => panic!("expected packet too big, got {other:?}"),
    }
    // A forwards it to its host.
    assert_eq!(net.a_inside.len(), 1);
}

#[test]
fn errors_are_rate_limited_but_every_packet_is_dropped() {
    let mut net = Net::dual(Mtus { outside: 1300, inside: 1500 }, Mtus::default());
    // Resolved beforehand, so that no error waits in (and overflows) a neighbour queue.
    net.a.w.add_static_neighbour(1, HOST_A, HOST_A_MAC).unwrap();
    for _ in 0..30 {
        net.host_sends(Side::A, &v4_of_len(OUTSIDE_HOST, 1400, true));
    }
    net.run();
    let c = net.a.w.counters();
    // WorkerConfig::default(): 100 errors per second, bursts of 10.
    assert_eq!((c.drop_frag_needed, c.icmp_errors), (30, 10));
    assert_eq!(net.a_inside.len(), 10);
    assert!(net.wire_ab.is_empty(), "nothing forwarded");
}

#[test]
fn originated_packets_are_not_checked() {
    // The SA sizes ESP packets (its own MTU, 1500 here): the outside link's smaller MTU is
    // the SA's configuration problem, not the forwarding path's.
    let mut net = Net::dual(Mtus { outside: 1300, inside: 1500 }, Mtus::default());
    net.tunnel(1);
    net.host_sends(Side::A, &v4_of_len(HOST_B, 1290, true));
    net.run();
    assert_eq!(net.b_inside.len(), 1);
    assert_eq!(net.a.w.counters().drop_frag_needed, 0);
}

#[test]
fn ipv4_without_df_is_fragmented_to_the_egress_mtu() {
    let mut net = Net::dual(Mtus { outside: 1300, inside: 1500 }, Mtus::default());
    net.a.w.add_static_neighbour(0, OUTSIDE_HOST, OUTSIDE_HOST_MAC).unwrap();
    let big = v4_of_len(OUTSIDE_HOST, 3000, false);
    net.host_sends(Side::A, &big);
    net.run();
    let frags: Vec<&Vec<u8>> = net.wire_ab.iter().filter(|f| ethertype(f) == ETH_IPV4).collect();
    assert_eq!(frags.len(), 3, "3000 bytes over a 1300-byte link: 1296 + 1296 + 448");
    // Reassemble in the test and compare with what a router forwards (TTL - 1).
    let want = one_hop(&big);
    let mut payload = vec![0u8; want.len() - 20];
    let mut seen = 0;
    for (i, f) in frags.iter().enumerate() {
        assert_eq!(&f[..6], OUTSIDE_HOST_MAC.as_bytes());
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(usize::from(ip.total_len()) <= 1300);
        assert_eq!(ip.more_frags(), i < 2, "MF on all but the last");
        assert_eq!(ip.ident(), Ipv4Packet::new_checked(&want[..]).unwrap().ident());
        let off = usize::from(ip.frag_offset());
        let data = ip.payload();
        payload[off..off + data.len()].copy_from_slice(data);
        seen += data.len();
    }
    assert_eq!(seen, payload.len());
    assert_eq!(&payload[..], &want[20..]);
    let c = net.a.w.counters();
    assert_eq!((c.fragments_out, c.drop_frag_needed, c.icmp_errors), (3, 0, 0));
}
