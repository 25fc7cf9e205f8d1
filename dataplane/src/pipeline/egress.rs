//! Stage 3 of the pipeline: route lookup, neighbour resolution (ARP for IPv4, neighbour
//! discovery for IPv6), TTL / hop limit, the egress MTU, L2 header, transmit.
//!
//! Forwarded packets (bypass traffic, decapsulated packets) that exceed the egress
//! interface's MTU get what a router gives them: IPv4 without DF is fragmented (RFC 791);
//! IPv4 with DF set gets an ICMP "fragmentation needed" carrying the next-hop MTU (RFC 1191
//! section 4), IPv6 an ICMPv6 "packet too big" (RFC 4443 section 3.2; routers never
//! fragment IPv6, RFC 8200 section 5); both errors are rate-limited and sourced from the
//! ingress interface, and the packet is dropped. Packets
//! we originate are not checked: the SA sizes ESP packets, errors are at most 576 / 1280
//! bytes, echo replies are as long as their request.

use core::mem;

use crate::buf::PacketBuf;
use crate::esp::{self, BufAlloc};
use crate::l3::forward::{self, ForwardError, IcmpError, IcmpRateLimiter, Ttl};
use crate::l3::neigh::{self, NeighEvent, NeighTable};
use crate::l3::{IfIndex, Interfaces, NextHop, Route, RouteTable};
use crate::wire::icmpv6;
use crate::wire::{EtherType, EthernetAddress, Ipv4Addr, Ipv4Packet, Ipv6Addr, Ipv6Packet, ipv6};

use super::Counters;

/// RFC 1812 section 4.3.2.3: an ICMP error is at most 576 bytes.
const ICMP_ERROR_MAX: usize = 576;

/// RFC 4443 section 2.4 (c): an ICMPv6 error is at most the IPv6 minimum MTU, 1280 bytes.
const ICMPV6_ERROR_MAX: usize = ipv6::MIN_MTU;

/// Minimum Ethernet frame without FCS (IEEE 802.3), the size of a buffer for an ARP frame.
const MIN_FRAME: usize = 60;

/// A Neighbor Solicitation frame: Ethernet with an 802.1Q tag, IPv6, NS with the source
/// link-layer address option (RFC 4861 section 4.3).
const NS_FRAME_MAX: usize =
    18 + ipv6::HEADER_LEN + icmpv6::ND_HEADER_LEN + icmpv6::LLADDR_OPTION_LEN;

/// Everything stage 3 reads and writes, split off the worker so it can run while the ESP
/// engine's per-burst results are still borrowed.
pub(crate) struct Egress<B, A> {
    pub ifaces: Interfaces,
    pub routes: RouteTable,
    pub neigh: NeighTable<Ipv4Addr, B>,
    pub neigh6: NeighTable<Ipv6Addr, B>,
    pub icmp: IcmpRateLimiter,
    pub alloc: A,
    pub counters: Counters,
    /// ARP events of one call, drained before it returns.
    pub neigh_events: Vec<NeighEvent<Ipv4Addr, B>>,
    /// ND events of one call, drained before it returns.
    pub neigh6_events: Vec<NeighEvent<Ipv6Addr, B>>,
    /// Fragments of one packet, drained before `output` returns.
    pub frags: Vec<B>,
    /// Packets this worker generated (ICMP errors, echo replies) that must pass the SPD
    /// before they leave: an error about tunnel traffic goes back through the tunnel, or
    /// nowhere, never in clear (RFC 4301 section 6). The worker drains it after each stage.
    pub originated: Vec<B>,
}

impl<B: PacketBuf, A: BufAlloc<B>> Egress<B, A> {
    /// Routes the IP packet `pkt` (IP header first, IPv4 or IPv6). `forwarded`: the packet
    /// passes through this router (its TTL / hop limit is decremented and the egress MTU
    /// enforced; errors go back towards its source, sourced from `ingress`); otherwise it is
    /// one we originate (an ESP packet, an ICMP message). `ingress` also names the link of
    /// a reply to a link-local IPv6 address.
    pub fn output(
        &mut self,
        pkt: B,
        ingress: Option<IfIndex>,
        forwarded: bool,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        match pkt.data().first().map(|b| b >> 4) {
            Some(4) => self.output_v4(pkt, ingress, forwarded, now_ns, tx),
            Some(6) => self.output_v6(pkt, ingress, forwarded, now_ns, tx),
            _ => self.counters.drop_unsupported += 1,
        }
    }

    fn output_v4(
        &mut self,
        mut pkt: B,
        ingress: Option<IfIndex>,
        forwarded: bool,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Ok(ip) = Ipv4Packet::new_checked(pkt.data()) else {
            self.counters.drop_malformed += 1;
            return;
        };
        let (dst, len, df) = (ip.dst_addr(), usize::from(ip.total_len()), ip.dont_frag());
        if forwarded && !self.hop(forward::decrement_ttl_v4(pkt.data_mut()), &pkt, ingress, now_ns)
        {
            return;
        }
        let Some(route) = self.routes.lookup_v4(dst) else {
            self.counters.drop_no_route += 1;
            return;
        };
        let next_hop = route.next_hop_addr(dst);
        if forwarded && let Some(mtu) = self.exceeded_mtu(route.iface, len) {
            if df {
                self.counters.drop_frag_needed += 1;
                self.icmp_error(IcmpError::TooBig { mtu }, &pkt, ingress, now_ns);
                return;
            }
            // RFC 791: a router fragments what may be fragmented; the fragments follow the
            // first through neighbour resolution in order.
            let mut frags = mem::take(&mut self.frags);
            frags.clear();
            match esp::fragment_ipv4(&mut pkt, usize::from(mtu), &mut self.alloc, &mut frags) {
                Ok(()) => {
                    self.counters.fragments_out += 1 + frags.len() as u64;
                    self.resolve_v4(route.iface, next_hop, pkt, now_ns, tx);
                    for f in frags.drain(..) {
                        self.resolve_v4(route.iface, next_hop, f, now_ns, tx);
                    }
                }
                Err(_) => {
                    // Options or no buffer: what a router cannot fragment it drops.
                    self.counters.drop_frag_failed += 1;
                }
            }
            self.frags = frags;
            return;
        }
        self.resolve_v4(route.iface, next_hop, pkt, now_ns, tx);
    }

    /// Neighbour resolution and transmit of one IPv4 packet routed to `next_hop`.
    fn resolve_v4(
        &mut self,
        iface: IfIndex,
        next_hop: Ipv4Addr,
        pkt: B,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let mut events = mem::take(&mut self.neigh_events);
        let ready = self.neigh.output(iface, next_hop, now_ns, pkt, &mut |e| events.push(e));
        if let Some((mac, pkt)) = ready {
            self.send(iface, mac, EtherType::Ipv4, pkt, tx);
        }
        self.neigh_events = events;
        self.drain_neigh_events(tx);
    }

    fn output_v6(
        &mut self,
        mut pkt: B,
        ingress: Option<IfIndex>,
        forwarded: bool,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Ok(ip) = Ipv6Packet::new_checked(pkt.data()) else {
            self.counters.drop_malformed += 1;
            return;
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
        // RFC 4291 section 2.5.6: link-local packets never leave their link. Classification
        // drops received ones; this catches decapsulated ones.
        if forwarded && (src.is_unicast_link_local() || dst.is_unicast_link_local()) {
            self.counters.drop_no_route += 1;
            return;
        }
        if forwarded
            && !self.hop(forward::decrement_hop_limit_v6(pkt.data_mut()), &pkt, ingress, now_ns)
        {
            return;
        }
        // A link-local destination (a reply to a neighbour's link-local address) is on the
        // link the request came from, whatever the routes say: every link has fe80::/64.
        let route = match ingress {
            Some(iface) if dst.is_unicast_link_local() => {
                Some(Route { iface, next_hop: NextHop::Connected })
            }
            _ => self.routes.lookup_v6(dst),
        };
        let Some(route) = route else {
            self.counters.drop_no_route += 1;
            return;
        };
        if forwarded && let Some(mtu) = self.exceeded_mtu(route.iface, len) {
            self.counters.drop_packet_too_big += 1;
            self.icmp_error(IcmpError::TooBig { mtu }, &pkt, ingress, now_ns);
            return;
        }
        let next_hop = route.next_hop_addr(dst);
        let mut events = mem::take(&mut self.neigh6_events);
        let ready = self.neigh6.output(route.iface, next_hop, now_ns, pkt, &mut |e| events.push(e));
        if let Some((mac, pkt)) = ready {
            self.send(route.iface, mac, EtherType::Ipv6, pkt, tx);
        }
        self.neigh6_events = events;
        self.drain_neigh_events(tx);
    }

    /// Acts on a TTL / hop-limit decrement; `true` when the packet may go on.
    fn hop(
        &mut self,
        ttl: Result<Ttl, ForwardError>,
        pkt: &B,
        ingress: Option<IfIndex>,
        now_ns: u64,
    ) -> bool {
        match ttl {
            Ok(Ttl::Forward) => true,
            Ok(Ttl::Expired) => {
                self.counters.drop_ttl += 1;
                self.icmp_error(IcmpError::TimeExceeded, pkt, ingress, now_ns);
                false
            }
            Err(_) => {
                self.counters.drop_malformed += 1;
                false
            }
        }
    }

    /// The MTU of `iface` when a packet of `len` bytes exceeds it.
    fn exceeded_mtu(&self, iface: IfIndex, len: usize) -> Option<u16> {
        let mtu = self.ifaces.get(iface)?.mtu;
        (len > usize::from(mtu)).then_some(mtu)
    }

    /// Acts on the neighbour events queued in `neigh_events` and `neigh6_events`.
    pub fn drain_neigh_events(&mut self, tx: &mut impl FnMut(u16, B)) {
        let mut events = mem::take(&mut self.neigh_events);
        for e in events.drain(..) {
            match e {
                NeighEvent::Solicit { iface, target, unicast } => {
                    self.solicit(iface, target, unicast, tx)
                }
                NeighEvent::Send { iface, mac, pkt } => {
                    self.send(iface, mac, EtherType::Ipv4, pkt, tx)
                }
                NeighEvent::Drop(_) => self.counters.drop_neighbour += 1,
            }
        }
        self.neigh_events = events;
        let mut events = mem::take(&mut self.neigh6_events);
        for e in events.drain(..) {
            match e {
                NeighEvent::Solicit { iface, target, unicast } => {
                    self.solicit_v6(iface, target, unicast, tx)
                }
                NeighEvent::Send { iface, mac, pkt } => {
                    self.send(iface, mac, EtherType::Ipv6, pkt, tx)
                }
                NeighEvent::Drop(_) => self.counters.drop_neighbour += 1,
            }
        }
        self.neigh6_events = events;
    }

    /// Prepends the egress interface's Ethernet header and transmits.
    pub fn send(
        &mut self,
        iface: IfIndex,
        mac: EthernetAddress,
        ethertype: EtherType,
        mut pkt: B,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Some(ifc) = self.ifaces.get(iface) else {
            self.counters.drop_no_route += 1;
            return;
        };
        if ifc.prepend_l2(&mut pkt, mac, ethertype).is_err() {
            self.counters.drop_no_room += 1;
            return;
        }
        self.counters.tx += 1;
        tx(ifc.port, pkt);
    }

    /// Takes `ifaces` as the interfaces' new addresses and MACs when they are the same
    /// interfaces (count, order, ports, VLANs) as now; returns whether it did. Neighbour
    /// entries stay: the neighbours did not move, this unit's addresses did.
    pub fn set_interfaces(&mut self, ifaces: Interfaces) -> bool {
        if !self.ifaces.same_layout(&ifaces) {
            return false;
        }
        self.ifaces = ifaces;
        true
    }

    /// Gratuitous ARP (a broadcast request for its own address, RFC 5227 section 3) for
    /// every IPv4 address and an unsolicited Neighbor Advertisement for every IPv6 address
    /// of every interface: neighbours update their caches and switches learn the MAC's new
    /// port.
    pub fn announce(&mut self, tx: &mut impl FnMut(u16, B)) {
        for i in 0..self.ifaces.len() {
            let Some(ifc) = self.ifaces.get(i) else { continue };
            for c in &ifc.ipv4 {
                let Some(mut b) = self.alloc.alloc(MIN_FRAME) else {
                    self.counters.drop_no_buffer += 1;
                    return;
                };
                let repr = crate::wire::ArpRepr {
                    operation: crate::wire::ArpOperation::Request,
                    source_hardware_addr: ifc.mac,
                    source_protocol_addr: c.addr(),
                    target_hardware_addr: EthernetAddress::default(),
                    target_protocol_addr: c.addr(),
                };
                if b.len() != MIN_FRAME
                    || neigh::emit_arp(ifc, EthernetAddress::BROADCAST, &repr, b.data_mut())
                        .is_none()
                {
                    self.counters.drop_no_buffer += 1;
                    continue;
                }
                let n = ifc.l2_len() + crate::wire::arp::PACKET_LEN;
                if let Some(pad) = b.data_mut().get_mut(n..) {
                    pad.fill(0);
                }
                self.counters.arp_requests += 1;
                self.counters.tx += 1;
                tx(ifc.port, b);
            }
            // Unsolicited Neighbor Advertisements (RFC 4861 section 7.2.6): to all nodes,
            // Override set so that caches take the (possibly new) MAC at once.
            for c in &ifc.ipv6 {
                let Some(mut b) = self.alloc.alloc(NS_FRAME_MAX) else {
                    self.counters.drop_no_buffer += 1;
                    return;
                };
                let reply = neigh::NdReply {
                    src: c.addr(),
                    dst: neigh::ALL_NODES,
                    dst_mac: crate::l3::iface::ipv6_multicast_mac(neigh::ALL_NODES),
                    flags: icmpv6::NeighborFlags {
                        router: true,
                        solicited: false,
                        override_: true,
                    },
                    target: c.addr(),
                };
                let n = (b.len() == NS_FRAME_MAX)
                    .then(|| neigh::emit_na(ifc, &reply, b.data_mut()))
                    .flatten();
                match n {
                    Some(n) if b.trim(b.len() - n).is_ok() => {
                        self.counters.nd_adverts += 1;
                        self.counters.tx += 1;
                        tx(ifc.port, b);
                    }
                    _ => self.counters.drop_no_buffer += 1,
                }
            }
        }
    }

    /// Broadcasts (or unicasts, to reconfirm) an ARP request for `target` on `iface`.
    fn solicit(
        &mut self,
        iface: IfIndex,
        target: Ipv4Addr,
        unicast: Option<EthernetAddress>,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Some(ifc) = self.ifaces.get(iface) else {
            return;
        };
        let Some(mut b) = self.alloc.alloc(MIN_FRAME) else {
            self.counters.drop_no_buffer += 1;
            return;
        };
        if b.len() != MIN_FRAME {
            self.counters.drop_no_buffer += 1;
            return;
        }
        let Some(n) = neigh::emit_arp_request(ifc, target, unicast, b.data_mut()) else {
            return;
        };
        // Ethernet pads short frames; the ARP body length is fixed, so the rest is padding.
        if let Some(pad) = b.data_mut().get_mut(n..) {
            pad.fill(0);
        }
        self.counters.arp_requests += 1;
        self.counters.tx += 1;
        tx(ifc.port, b);
    }

    /// Sends a Neighbor Solicitation for `target` on `iface`: to its solicited-node group
    /// (and that group's Ethernet multicast address), or to `unicast` to reconfirm a stale
    /// entry (RFC 4861 section 7.2.2).
    fn solicit_v6(
        &mut self,
        iface: IfIndex,
        target: Ipv6Addr,
        unicast: Option<EthernetAddress>,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Some(ifc) = self.ifaces.get(iface) else {
            return;
        };
        let Some(mut b) = self.alloc.alloc(NS_FRAME_MAX) else {
            self.counters.drop_no_buffer += 1;
            return;
        };
        if b.len() != NS_FRAME_MAX {
            self.counters.drop_no_buffer += 1;
            return;
        }
        // `None` only when the interface has no IPv6 address to solicit from.
        let Some(n) = neigh::emit_ns(ifc, target, unicast, b.data_mut()) else {
            return;
        };
        if b.trim(b.len() - n).is_err() {
            return;
        }
        self.counters.nd_solicits += 1;
        self.counters.tx += 1;
        tx(ifc.port, b);
    }

    /// Queues `kind` about `offending` for the SPD and then back towards its source, sourced
    /// from `ingress` (rate-limited per interface, and never where RFC 1812 section 4.3.2.7
    /// / RFC 4443 section 2.4 (e) forbid it).
    fn icmp_error(
        &mut self,
        kind: IcmpError,
        offending: &B,
        ingress: Option<IfIndex>,
        now_ns: u64,
    ) {
        let Some(ingress) = ingress else { return };
        let Some(ifc) = self.ifaces.get(ingress) else { return };
        let data = offending.data();
        let (allowed, max) = match data.first().map(|b| b >> 4) {
            Some(4) => (forward::may_send_error_v4(data), ICMP_ERROR_MAX),
            Some(6) => (forward::may_send_error_v6(data), ICMPV6_ERROR_MAX),
            _ => return,
        };
        if !allowed || !self.icmp.allow(ingress, now_ns) {
            return;
        }
        let Some(mut b) = self.alloc.alloc(max) else {
            self.counters.drop_no_buffer += 1;
            return;
        };
        let Ok(n) = forward::emit_error(ifc, data, kind, b.data_mut()) else { return };
        if b.trim(b.len().saturating_sub(n)).is_err() {
            return;
        }
        self.counters.icmp_errors += 1;
        self.originated.push(b);
    }

    /// Decrements the TTL / hop limit of a packet this router forwards (into a tunnel);
    /// `false` when it may not go on (expired: time exceeded queued; unreadable: counted).
    pub fn forward_hop(&mut self, pkt: &mut B, ingress: IfIndex, now_ns: u64) -> bool {
        let ttl = match pkt.data().first().map(|b| b >> 4) {
            Some(4) => forward::decrement_ttl_v4(pkt.data_mut()),
            Some(6) => forward::decrement_hop_limit_v6(pkt.data_mut()),
            _ => Err(ForwardError::Unsupported),
        };
        self.hop(ttl, pkt, Some(ingress), now_ns)
    }

    /// The role of the interface `pkt` would leave by (`None`: no route).
    pub fn egress_role(&self, pkt: &B) -> Option<crate::l3::Role> {
        let d = pkt.data();
        let iface = match d.first().map(|b| b >> 4) {
            Some(4) => self.routes.lookup_v4(Ipv4Packet::new_checked(d).ok()?.dst_addr())?.iface,
            Some(6) => self.routes.lookup_v6(Ipv6Packet::new_checked(d).ok()?.dst_addr())?.iface,
            _ => return None,
        };
        Some(self.ifaces.get(iface)?.role)
    }
}
