//! The L2/L3 per-packet work allocates nothing once the tables are built: classification,
//! route lookups, neighbour resolution (queueing, release, failure, entry reuse), TTL
//! handling, echo replies and ICMP errors run under a counting global allocator.

mod alloc_counter;

use std::sync::atomic::Ordering;

use alloc_counter::{ALLOCS, Counting, counting};

use dataplane::buf::VecBuf;
use dataplane::l3::classify::{Verdict, classify};
use dataplane::l3::forward::{self, IcmpRateLimiter, Ttl};
use dataplane::l3::iface::{Interface, Interfaces, Ipv4Cidr, Ipv6Cidr, Role, solicited_node};
use dataplane::l3::neigh::{
    Learn, NeighConfig, NeighEvent, NeighTable, emit_na, emit_ns, handle_arp, handle_nd,
};
use dataplane::l3::route::RouteTable;
use dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol,
    Ipv4Addr, Ipv4Packet, Ipv4Repr, Ipv6Addr, Ipv6Packet, Ipv6Repr, arp,
};

/// An IPv6 packet from `src` to `dst` carrying `icmp` with hop limit 255.
fn nd_packet(src: Ipv6Addr, dst: Ipv6Addr, icmp: &Icmpv6Repr) -> Vec<u8> {
    let mut b = vec![0u8; 40 + icmp.buffer_len()];
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p).unwrap();
    icmp.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(p.payload_mut())).unwrap();
    b
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0x55, 0, 0, 0, 1]);
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn frame(ttl: u8, dst: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(MAC.as_bytes());
    f.extend_from_slice(PEER_MAC.as_bytes());
    f.extend_from_slice(&[0x08, 0x00]);
    let repr = Ipv4Repr {
        src_addr: Ipv4Addr::new(198, 51, 100, 7),
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: 8,
        hop_limit: ttl,
        dscp_ecn: 0,
        dont_frag: false,
    };
    let mut ip = [0u8; 28];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut ip[..])).unwrap();
    ip[20] = 8; // echo request, zero checksum: fine for classification
    f.extend_from_slice(&ip);
    f
}

#[test]
fn l3_work_does_not_allocate_after_setup() {
    let ifs = Interfaces::new(vec![Interface {
        port: 0,
        vlan: None,
        mac: MAC,
        ipv4: vec![Ipv4Cidr::new(ME, 24).unwrap()],
        ipv6: vec![Ipv6Cidr::new("2001:db8::1".parse().unwrap(), 64).unwrap()],
        mtu: 1500,
        role: Role::Outside,
    }]);
    let routes = RouteTable::with_connected(&ifs);
    let cfg = NeighConfig { capacity: 8, pending_per_entry: 4, ..NeighConfig::default() };
    let mut neigh = NeighTable::<Ipv4Addr, VecBuf>::new(cfg);
    let mut limiter = IcmpRateLimiter::new(1, 100, 10);
    let transit = frame(64, Ipv4Addr::new(192, 0, 2, 50));
    let expiring = frame(1, Ipv4Addr::new(192, 0, 2, 50));
    let local = frame(64, ME);
    let mut arp_reply = [0u8; arp::PACKET_LEN];
    let mut pkts: Vec<VecBuf> = (0..4000).map(|_| VecBuf::from_slice(&transit[14..])).collect();
    let mut events: Vec<NeighEvent<Ipv4Addr, VecBuf>> = Vec::with_capacity(64);
    let mut work = transit.clone();
    let mut out_buf = [0u8; 600];

    let me6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let peer6: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let ns = nd_packet(
        peer6,
        solicited_node(me6),
        &Icmpv6Repr::NeighborSolicit { target_addr: me6, lladdr: Some(PEER_MAC) },
    );
    let mut neigh6 = NeighTable::<Ipv6Addr, VecBuf>::new(cfg);
    let mut events6: Vec<NeighEvent<Ipv6Addr, VecBuf>> = Vec::with_capacity(64);
    let mut frame_buf = [0u8; 128];

    counting(true);
    let mut now = 0u64;
    let mut sent = 0usize;
    for round in 0..200u64 {
        now += 100_000_000;
        for f in [&transit, &expiring, &local] {
            let c = classify(&ifs, 0, f);
            work.copy_from_slice(f);
            let ip = &mut work[c.l3_offset..c.l3_offset + c.l3_len];
            match c.verdict {
                Verdict::Forward(_) => match forward::decrement_ttl_v4(ip) {
                    Ok(Ttl::Forward) => {
                        let dst = Ipv4Packet::new_checked(&*ip).unwrap().dst_addr();
                        let r = routes.lookup_v4(dst).unwrap();
                        let nh = r.next_hop_addr(dst);
                        let pkt = pkts.pop().unwrap();
                        let mut sink = |e| events.push(e);
                        if neigh.output(r.iface, nh, now, pkt, &mut sink).is_some() {
                            sent += 1;
                        }
                    }
                    Ok(Ttl::Expired) => {
                        if forward::may_send_error_v4(ip) && limiter.allow(0, now) {
                            forward::emit_time_exceeded_v4(ME, ip, &mut out_buf).unwrap();
                        }
                    }
                    Err(e) => panic!("{e:?}"),
                },
                Verdict::Local(_) => {
                    let _ = forward::echo_reply_v4(ip);
                }
                other => panic!("{other:?}"),
            }
        }
        // Every 5th round the neighbour answers; otherwise entries age, fail and are
        // reused.
        if round % 5 == 4 {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: PEER_MAC,
                source_protocol_addr: Ipv4Addr::new(192, 0, 2, 50),
                target_hardware_addr: MAC,
                target_protocol_addr: ME,
            };
            reply.emit(&mut ArpPacket::new_unchecked(&mut arp_reply[..]));
            let mut sink = |e| events.push(e);
            handle_arp(&ifs, 0, &arp_reply, now, &mut neigh, &mut sink).unwrap();
        }
        let mut sink = |e| events.push(e);
        neigh.poll(now, &mut sink);
        let how = Learn { create: true, solicited: false, override_: true };
        neigh.learn(0, Ipv4Addr::new(192, 0, 2, 60), PEER_MAC, how, now, &mut sink);
        // IPv6: answer a solicitation, solicit a gateway.
        let mut sink6 = |e| events6.push(e);
        let reply = handle_nd(&ifs, 0, &ns, now, &mut neigh6, &mut sink6).unwrap().unwrap();
        emit_na(ifs.get(0).unwrap(), &reply, &mut frame_buf).unwrap();
        emit_ns(ifs.get(0).unwrap(), peer6, None, &mut frame_buf).unwrap();
        neigh6.poll(now, &mut sink6);
        events6.clear();
        // Hand buffers back to the pool, as the pipeline would after TX or drop.
        for e in events.drain(..) {
            match e {
                NeighEvent::Send { pkt, .. } | NeighEvent::Drop(pkt) => pkts.push(pkt),
                NeighEvent::Solicit { .. } => {}
            }
        }
    }
    counting(false);
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 0);
    assert!(sent > 0);
    assert!(neigh.stats().solicits > 0);
}
