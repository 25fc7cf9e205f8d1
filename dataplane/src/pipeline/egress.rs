//! Stage 3 of the pipeline: route lookup, neighbour resolution, TTL, L2 header, transmit.

use core::mem;

use crate::buf::PacketBuf;
use crate::esp::BufAlloc;
use crate::l3::forward::{self, IcmpRateLimiter, Ttl};
use crate::l3::neigh::{self, NeighEvent, NeighTable};
use crate::l3::{IfIndex, Interfaces, RouteTable};
use crate::wire::{EtherType, EthernetAddress, Ipv4Addr, Ipv4Packet};

use super::Counters;

/// RFC 1812 section 4.3.2.3: an ICMP error is at most 576 bytes.
const ICMP_ERROR_MAX: usize = 576;

/// Minimum Ethernet frame without FCS (IEEE 802.3), the size of a buffer for an ARP frame.
const MIN_FRAME: usize = 60;

/// Everything stage 3 reads and writes, split off the worker so it can run while the ESP
/// engine's per-burst results are still borrowed.
pub(crate) struct Egress<B, A> {
    pub ifaces: Interfaces,
    pub routes: RouteTable,
    pub neigh: NeighTable<Ipv4Addr, B>,
    pub icmp: IcmpRateLimiter,
    pub alloc: A,
    pub counters: Counters,
    /// Neighbour events of one call, drained before it returns.
    pub neigh_events: Vec<NeighEvent<Ipv4Addr, B>>,
}

impl<B: PacketBuf, A: BufAlloc<B>> Egress<B, A> {
    /// Routes the IPv4 packet `pkt` (IP header first). `forwarded`: the packet passes
    /// through this router (its TTL is decremented; on expiry an ICMP time-exceeded goes
    /// back through `ingress`); otherwise it is one we originate (an ESP packet, an ICMP
    /// message).
    pub fn output(
        &mut self,
        mut pkt: B,
        ingress: Option<IfIndex>,
        forwarded: bool,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        if pkt.data().first().is_some_and(|b| b >> 4 == 6) {
            self.counters.drop_unsupported += 1;
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(pkt.data()) else {
            self.counters.drop_malformed += 1;
            return;
        };
        let dst = ip.dst_addr();
        if forwarded {
            match forward::decrement_ttl_v4(pkt.data_mut()) {
                Ok(Ttl::Forward) => {}
                Ok(Ttl::Expired) => {
                    self.counters.drop_ttl += 1;
                    self.time_exceeded(&pkt, ingress, now_ns, tx);
                    return;
                }
                Err(_) => {
                    self.counters.drop_malformed += 1;
                    return;
                }
            }
        }
        let Some(route) = self.routes.lookup_v4(dst) else {
            self.counters.drop_no_route += 1;
            return;
        };
        let next_hop = route.next_hop_addr(dst);
        let mut events = mem::take(&mut self.neigh_events);
        let ready = self.neigh.output(route.iface, next_hop, now_ns, pkt, &mut |e| events.push(e));
        if let Some((mac, pkt)) = ready {
            self.send(route.iface, mac, pkt, tx);
        }
        self.neigh_events = events;
        self.drain_neigh_events(tx);
    }

    /// Acts on the neighbour events queued in `neigh_events`.
    pub fn drain_neigh_events(&mut self, tx: &mut impl FnMut(u16, B)) {
        let mut events = mem::take(&mut self.neigh_events);
        for e in events.drain(..) {
            match e {
                NeighEvent::Solicit { iface, target, unicast } => {
                    self.solicit(iface, target, unicast, tx)
                }
                NeighEvent::Send { iface, mac, pkt } => self.send(iface, mac, pkt, tx),
                NeighEvent::Drop(_) => self.counters.drop_neighbour += 1,
            }
        }
        self.neigh_events = events;
    }

    /// Prepends the egress interface's Ethernet header and transmits.
    pub fn send(
        &mut self,
        iface: IfIndex,
        mac: EthernetAddress,
        mut pkt: B,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Some(ifc) = self.ifaces.get(iface) else {
            self.counters.drop_no_route += 1;
            return;
        };
        if ifc.prepend_l2(&mut pkt, mac, EtherType::Ipv4).is_err() {
            self.counters.drop_no_room += 1;
            return;
        }
        self.counters.tx += 1;
        tx(ifc.port, pkt);
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

    /// Sends an ICMP time-exceeded about `offending` back out of `ingress` (rate-limited,
    /// never about an ICMP error or a non-first fragment).
    fn time_exceeded(
        &mut self,
        offending: &B,
        ingress: Option<IfIndex>,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Some(ingress) = ingress else { return };
        let Some(ifc) = self.ifaces.get(ingress) else { return };
        if !forward::may_send_error_v4(offending.data()) || !self.icmp.allow(ingress, now_ns) {
            return;
        }
        let Some(mut b) = self.alloc.alloc(ICMP_ERROR_MAX) else {
            self.counters.drop_no_buffer += 1;
            return;
        };
        let Ok(n) = forward::emit_time_exceeded(ifc, offending.data(), b.data_mut()) else {
            return;
        };
        if b.trim(b.len().saturating_sub(n)).is_err() {
            return;
        }
        self.counters.icmp_errors += 1;
        self.output(b, None, false, now_ns, tx);
    }
}
