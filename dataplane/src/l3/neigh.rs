//! The neighbour table (IPv4 via ARP, IPv6 via neighbour discovery), the ARP responder and
//! the ND responder.
//!
//! States and timers follow RFC 4861 section 7.3 in reduced form (the same machine serves
//! ARP):
//!
//! - `Incomplete`: a solicitation is out; packets wait in a bounded per-entry queue. It is
//!   retransmitted every `retrans_ns` up to `max_solicits` times, then the entry goes
//!   `Failed` and its queued packets are dropped (counted).
//! - `Reachable`: confirmed within `reachable_ns`; packets go straight out.
//! - `Stale`: the MAC is still used, and while traffic flows a unicast solicitation is sent
//!   at most once per `retrans_ns` to reconfirm it (in place of RFC 4861's DELAY/PROBE).
//!   After `max_solicits` unanswered probes the next packet restarts resolution as
//!   `Incomplete`. An entry not reconfirmed within `stale_ns` is removed.
//! - `Failed`: packets to it are dropped at once (counted) for `failed_hold_ns`, so a dead
//!   next hop costs no solicitation storm; then the entry is removed.
//! - `Permanent`: configured with [`NeighTable::add_static`] (an ASA `arp IFACE IP MAC`, a
//!   Linux `ip neigh add ... nud permanent`), for next hops that never answer ARP/ND such as
//!   a packet generator or a traffic sink. Never aged, solicited or failed; only
//!   [`NeighTable::remove`] or another `add_static` changes it.
//!
//! Learning rule (RFC 826 "merge", RFC 4861 section 7.2): an ARP request or reply whose
//! target is one of our addresses on the receiving interface, and a Neighbor Solicitation
//! for one of them, may create an entry (only for a sender inside one of the interface's
//! prefixes). Anything else, including gratuitous ARP and unsolicited Neighbor
//! Advertisements, only updates an entry that already exists. This keeps a flood of
//! gratuitous ARP from filling the table. Permanent entries are never updated by what is
//! received (Linux `NUD_PERMANENT`): a static entry exists precisely because the
//! configuration, not the wire, is trusted for that next hop.
//!
//! Outputs (solicitations to send, released packets, dropped packets) are handed to a
//! caller closure as [`NeighEvent`]s; the caller turns solicitations into frames with
//! [`emit_arp_request`] and [`emit_ns`].

use std::collections::VecDeque;

use super::FastMap;
use std::fmt::Debug;
use std::hash::Hash;

use super::iface::{IfIndex, Interface, Interfaces, ipv6_multicast_mac, solicited_node};
use crate::buf::PacketBuf;
use crate::wire::icmpv6::NeighborFlags;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, Icmpv6Packet, Icmpv6Repr,
    IpProtocol, Ipv4Addr, Ipv6Addr, Ipv6Packet, Ipv6Repr, arp, ipv6,
};

/// RFC 4861 section 10: RETRANS_TIMER, 1 s.
pub const RETRANS_NS: u64 = 1_000_000_000;
/// RFC 4861 section 10: MAX_MULTICAST_SOLICIT, 3.
pub const MAX_SOLICITS: u8 = 3;
/// RFC 4861 section 10: REACHABLE_TIME, 30 s.
pub const REACHABLE_NS: u64 = 30_000_000_000;
/// Hop limit of every ND message; receivers drop anything else (RFC 4861 section 7.1).
pub const ND_HOP_LIMIT: u8 = 255;

/// An address the table resolves: [`Ipv4Addr`] (ARP) or [`Ipv6Addr`] (ND).
pub trait NeighAddr: Copy + Eq + Hash + Debug {
    /// The unspecified address, used to fill free slots.
    const UNSPECIFIED: Self;
}
impl NeighAddr for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
}
impl NeighAddr for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
}

/// Table sizes and timers. Sizes are fixed when the table is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// Maximum number of entries.
    pub capacity: usize,
    /// Packets held per unresolved next hop; the oldest is dropped when full.
    pub pending_per_entry: usize,
    /// Interval between solicitations.
    pub retrans_ns: u64,
    /// Solicitations before an incomplete entry fails.
    pub max_solicits: u8,
    /// How long a confirmation keeps an entry reachable.
    pub reachable_ns: u64,
    /// How long an unconfirmed stale entry is kept.
    pub stale_ns: u64,
    /// How long a failed entry drops packets before it is forgotten.
    pub failed_hold_ns: u64,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            capacity: 1024,
            pending_per_entry: 8,
            retrans_ns: RETRANS_NS,
            max_solicits: MAX_SOLICITS,
            reachable_ns: REACHABLE_NS,
            stale_ns: 600_000_000_000,
            failed_hold_ns: 3_000_000_000,
        }
    }
}

/// State of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    /// Resolution in progress.
    Incomplete,
    /// Recently confirmed.
    Reachable,
    /// Usable but unconfirmed.
    Stale,
    /// Resolution failed.
    Failed,
    /// Configured: never aged, solicited, failed or changed by received ARP/ND.
    Permanent,
}

impl NeighState {
    /// Whether the entry's MAC is known and used (reachable, stale or permanent).
    pub fn is_resolved(self) -> bool {
        matches!(self, NeighState::Reachable | NeighState::Stale | NeighState::Permanent)
    }
}

/// Something the caller must do.
#[derive(Debug)]
pub enum NeighEvent<A, B> {
    /// Send an ARP request / Neighbor Solicitation for `target` out of `iface`; `unicast`
    /// is the MAC to send it to (reconfirming a stale entry), `None` for broadcast (ARP)
    /// or the solicited-node multicast group (ND).
    Solicit {
        /// Egress interface.
        iface: IfIndex,
        /// Address to resolve.
        target: A,
        /// Unicast destination MAC, if any.
        unicast: Option<EthernetAddress>,
    },
    /// A held packet, now resolved: send it to `mac` out of `iface` (released in arrival
    /// order).
    Send {
        /// Egress interface.
        iface: IfIndex,
        /// Destination MAC.
        mac: EthernetAddress,
        /// The packet (IP header first; the caller adds L2).
        pkt: B,
    },
    /// A packet the table gave up on (already counted in [`NeighStats`]).
    Drop(B),
}

/// What a received ARP/ND message says about a neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learn {
    /// Whether a missing entry may be created.
    pub create: bool,
    /// Whether this confirms reachability (ARP reply, NA with S set).
    pub solicited: bool,
    /// Whether a different MAC replaces the known one (always for ARP; the O flag for NA).
    pub override_: bool,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighStats {
    /// Packets queued behind a resolution.
    pub queued: u64,
    /// Oldest packets dropped because a pending queue was full.
    pub pending_overflow: u64,
    /// Packets dropped because their resolution failed.
    pub resolution_failed: u64,
    /// Packets dropped because their next hop is in the failed state.
    pub to_failed: u64,
    /// Packets dropped because the table was full.
    pub table_full: u64,
    /// Solicitations requested.
    pub solicits: u64,
    /// Learn calls that changed or created an entry.
    pub learned: u64,
}

#[derive(Debug)]
struct Slot<A, B> {
    used: bool,
    iface: IfIndex,
    addr: A,
    mac: EthernetAddress,
    state: NeighState,
    /// Incomplete: next retransmission. Reachable: becomes stale. Stale, Failed: removal.
    deadline_ns: u64,
    solicits: u8,
    last_probe_ns: u64,
    pending: VecDeque<B>,
}

/// Neighbour table for one address family. `B` is the held packet type.
#[derive(Debug)]
pub struct NeighTable<A, B> {
    cfg: NeighConfig,
    slots: Vec<Slot<A, B>>,
    index: FastMap<(IfIndex, A), usize>,
    free: Vec<usize>,
    stats: NeighStats,
}

impl<A: NeighAddr, B: PacketBuf> NeighTable<A, B> {
    /// Builds a table; every allocation it will ever make happens here.
    pub fn new(cfg: NeighConfig) -> Self {
        let slots = (0..cfg.capacity)
            .map(|_| Slot {
                used: false,
                iface: 0,
                addr: A::UNSPECIFIED,
                mac: EthernetAddress::default(),
                state: NeighState::Failed,
                deadline_ns: 0,
                solicits: 0,
                last_probe_ns: 0,
                pending: VecDeque::with_capacity(cfg.pending_per_entry),
            })
            .collect();
        NeighTable {
            cfg,
            slots,
            index: FastMap::with_capacity_and_hasher(cfg.capacity, Default::default()),
            free: (0..cfg.capacity).rev().collect(),
            stats: NeighStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> NeighStats {
        self.stats
    }

    /// Number of entries in use.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// State and MAC of the entry for `addr` on `iface` (the MAC is meaningless while
    /// incomplete or failed).
    pub fn lookup(&self, iface: IfIndex, addr: A) -> Option<(NeighState, EthernetAddress)> {
        let slot = &self.slots[*self.index.get(&(iface, addr))?];
        Some((slot.state, slot.mac))
    }

    /// Number of packets held for `addr` on `iface`.
    pub fn pending_len(&self, iface: IfIndex, addr: A) -> usize {
        self.index.get(&(iface, addr)).map_or(0, |&i| self.slots[i].pending.len())
    }

    /// Routes a packet to next hop `addr` on `iface`. Returns the MAC and the packet when it
    /// can go out now; otherwise the table keeps the packet (queued behind a resolution) or
    /// hands it back through `out` as [`NeighEvent::Drop`].
    pub fn output(
        &mut self,
        iface: IfIndex,
        addr: A,
        now_ns: u64,
        pkt: B,
        out: &mut impl FnMut(NeighEvent<A, B>),
    ) -> Option<(EthernetAddress, B)> {
        let Some(&i) = self.index.get(&(iface, addr)) else {
            let Some(i) = self.free.pop() else {
                self.stats.table_full += 1;
                out(NeighEvent::Drop(pkt));
                return None;
            };
            self.index.insert((iface, addr), i);
            let slot = &mut self.slots[i];
            slot.used = true;
            slot.iface = iface;
            slot.addr = addr;
            slot.mac = EthernetAddress::default();
            slot.state = NeighState::Incomplete;
            slot.deadline_ns = now_ns.saturating_add(self.cfg.retrans_ns);
            slot.solicits = 1;
            slot.last_probe_ns = now_ns;
            slot.pending.push_back(pkt);
            self.stats.queued += 1;
            self.stats.solicits += 1;
            out(NeighEvent::Solicit { iface, target: addr, unicast: None });
            return None;
        };
        let cfg = self.cfg;
        let slot = &mut self.slots[i];
        if slot.state == NeighState::Reachable && now_ns >= slot.deadline_ns {
            slot.state = NeighState::Stale;
            slot.deadline_ns = now_ns.saturating_add(cfg.stale_ns);
            slot.solicits = 0;
        }
        match slot.state {
            NeighState::Reachable | NeighState::Permanent => Some((slot.mac, pkt)),
            NeighState::Stale => {
                let due = slot.solicits == 0
                    || now_ns >= slot.last_probe_ns.saturating_add(cfg.retrans_ns);
                if due && slot.solicits >= cfg.max_solicits {
                    // Unicast probes went unanswered: the neighbour moved or died. Resolve
                    // afresh (broadcast / multicast), holding packets meanwhile.
                    slot.state = NeighState::Incomplete;
                    slot.solicits = 1;
                    slot.last_probe_ns = now_ns;
                    slot.deadline_ns = now_ns.saturating_add(cfg.retrans_ns);
                    self.stats.solicits += 1;
                    out(NeighEvent::Solicit { iface, target: addr, unicast: None });
                    if cfg.pending_per_entry == 0 {
                        self.stats.pending_overflow += 1;
                        out(NeighEvent::Drop(pkt));
                    } else {
                        self.stats.queued += 1;
                        slot.pending.push_back(pkt);
                    }
                    return None;
                }
                if due && slot.solicits < cfg.max_solicits {
                    slot.solicits += 1;
                    slot.last_probe_ns = now_ns;
                    self.stats.solicits += 1;
                    out(NeighEvent::Solicit { iface, target: addr, unicast: Some(slot.mac) });
                }
                Some((slot.mac, pkt))
            }
            NeighState::Incomplete => {
                if slot.pending.len() >= cfg.pending_per_entry {
                    match slot.pending.pop_front() {
                        Some(old) => {
                            self.stats.pending_overflow += 1;
                            out(NeighEvent::Drop(old));
                        }
                        None => {
                            // A zero-length queue holds nothing: the new packet is the one
                            // dropped.
                            self.stats.pending_overflow += 1;
                            out(NeighEvent::Drop(pkt));
                            return None;
                        }
                    }
                }
                slot.pending.push_back(pkt);
                self.stats.queued += 1;
                None
            }
            NeighState::Failed => {
                self.stats.to_failed += 1;
                out(NeighEvent::Drop(pkt));
                None
            }
        }
    }

    /// Applies what an ARP/ND message said about `addr` on `iface` (see the module doc for
    /// the rules). Returns whether an entry was created or changed. Held packets are
    /// released through `out` in arrival order.
    pub fn learn(
        &mut self,
        iface: IfIndex,
        addr: A,
        mac: EthernetAddress,
        how: Learn,
        now_ns: u64,
        out: &mut impl FnMut(NeighEvent<A, B>),
    ) -> bool {
        if !mac.is_unicast() {
            return false;
        }
        let cfg = self.cfg;
        let i = match self.index.get(&(iface, addr)) {
            Some(&i) => i,
            None if how.create => {
                let Some(i) = self.free.pop() else {
                    return false;
                };
                self.index.insert((iface, addr), i);
                let slot = &mut self.slots[i];
                slot.used = true;
                slot.iface = iface;
                slot.addr = addr;
                slot.mac = mac;
                slot.solicits = 0;
                slot.last_probe_ns = now_ns;
                set_confirmed(slot, how.solicited, now_ns, &cfg);
                self.stats.learned += 1;
                return true;
            }
            None => return false,
        };
        let slot = &mut self.slots[i];
        let changed = match slot.state {
            NeighState::Permanent => false,
            NeighState::Incomplete | NeighState::Failed => {
                slot.mac = mac;
                set_confirmed(slot, how.solicited, now_ns, &cfg);
                while let Some(pkt) = slot.pending.pop_front() {
                    out(NeighEvent::Send { iface, mac, pkt });
                }
                true
            }
            NeighState::Reachable | NeighState::Stale if slot.mac == mac => {
                if how.solicited {
                    set_confirmed(slot, true, now_ns, &cfg);
                }
                how.solicited
            }
            NeighState::Reachable | NeighState::Stale => {
                if how.override_ {
                    slot.mac = mac;
                    set_confirmed(slot, how.solicited, now_ns, &cfg);
                    true
                } else if slot.state == NeighState::Reachable {
                    // RFC 4861 7.2.5: a different address without O makes the entry stale
                    // but does not replace the address.
                    set_confirmed(slot, false, now_ns, &cfg);
                    true
                } else {
                    false
                }
            }
        };
        if changed {
            self.stats.learned += 1;
        }
        changed
    }

    /// Advances timers: retransmits solicitations, fails unanswered resolutions (dropping
    /// their packets), ages reachable entries and removes expired stale and failed ones.
    /// Call it every few hundred milliseconds.
    pub fn poll(&mut self, now_ns: u64, out: &mut impl FnMut(NeighEvent<A, B>)) {
        let cfg = self.cfg;
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if !slot.used || now_ns < slot.deadline_ns {
                continue;
            }
            match slot.state {
                NeighState::Incomplete if slot.solicits < cfg.max_solicits => {
                    slot.solicits += 1;
                    slot.last_probe_ns = now_ns;
                    slot.deadline_ns = now_ns.saturating_add(cfg.retrans_ns);
                    self.stats.solicits += 1;
                    out(NeighEvent::Solicit {
                        iface: slot.iface,
                        target: slot.addr,
                        unicast: None,
                    });
                }
                NeighState::Incomplete => {
                    slot.state = NeighState::Failed;
                    slot.deadline_ns = now_ns.saturating_add(cfg.failed_hold_ns);
                    while let Some(pkt) = slot.pending.pop_front() {
                        self.stats.resolution_failed += 1;
                        out(NeighEvent::Drop(pkt));
                    }
                }
                NeighState::Reachable => {
                    slot.state = NeighState::Stale;
                    slot.solicits = 0;
                    slot.deadline_ns = now_ns.saturating_add(cfg.stale_ns);
                }
                NeighState::Stale | NeighState::Failed => {
                    slot.used = false;
                    let key = (slot.iface, slot.addr);
                    self.index.remove(&key);
                    self.free.push(i);
                }
                // Its deadline is never reached; this arm only keeps `now_ns == u64::MAX`
                // harmless.
                NeighState::Permanent => {}
            }
        }
    }

    /// Makes the entry for `addr` on `iface` permanent with `mac` (static ARP / ND), creating
    /// it or converting an existing one, whatever its state. Packets held behind a pending
    /// resolution are released through `out` as [`NeighEvent::Send`] to `mac`, in arrival
    /// order. Calling it again with another MAC replaces the MAC.
    ///
    /// Errors: [`NeighError::NotUnicastMac`] for a group (multicast, broadcast) or all-zero
    /// MAC; [`NeighError::TableFull`] when the entry is new and no slot is free (dynamic
    /// entries are not evicted for it: configure static entries before traffic flows).
    pub fn add_static(
        &mut self,
        iface: IfIndex,
        addr: A,
        mac: EthernetAddress,
        out: &mut impl FnMut(NeighEvent<A, B>),
    ) -> Result<(), NeighError> {
        if !mac.is_unicast() || mac == EthernetAddress::default() {
            return Err(NeighError::NotUnicastMac);
        }
        let i = match self.index.get(&(iface, addr)) {
            Some(&i) => i,
            None => {
                let i = self.free.pop().ok_or(NeighError::TableFull)?;
                self.index.insert((iface, addr), i);
                let slot = &mut self.slots[i];
                slot.used = true;
                slot.iface = iface;
                slot.addr = addr;
                i
            }
        };
        let slot = &mut self.slots[i];
        slot.mac = mac;
        slot.state = NeighState::Permanent;
        slot.deadline_ns = u64::MAX;
        slot.solicits = 0;
        while let Some(pkt) = slot.pending.pop_front() {
            out(NeighEvent::Send { iface, mac, pkt });
        }
        Ok(())
    }

    /// Removes the entry for `addr` on `iface` (configuration change), dropping its held
    /// packets through `out`. Permanent entries are removed too: this is how a static entry
    /// is deleted.
    pub fn remove(&mut self, iface: IfIndex, addr: A, out: &mut impl FnMut(NeighEvent<A, B>)) {
        if let Some(i) = self.index.remove(&(iface, addr)) {
            let slot = &mut self.slots[i];
            slot.used = false;
            while let Some(pkt) = slot.pending.pop_front() {
                out(NeighEvent::Drop(pkt));
            }
            self.free.push(i);
        }
    }
}

fn set_confirmed<A, B>(slot: &mut Slot<A, B>, reachable: bool, now_ns: u64, cfg: &NeighConfig) {
    slot.solicits = 0;
    if reachable {
        slot.state = NeighState::Reachable;
        slot.deadline_ns = now_ns.saturating_add(cfg.reachable_ns);
    } else {
        slot.state = NeighState::Stale;
        slot.deadline_ns = now_ns.saturating_add(cfg.stale_ns);
    }
}

/// Why an ARP or ND message was not processed, or a static entry not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighError {
    /// Not a valid ARP packet / ND message (length, types, checksum, options).
    Malformed,
    /// ND message with a hop limit other than 255 (RFC 4861 section 7.1): it came from
    /// off-link.
    BadHopLimit,
    /// The receiving interface index is unknown.
    NoInterface,
    /// A static entry's MAC is a group (multicast, broadcast) or the all-zero address: no
    /// station has it.
    NotUnicastMac,
    /// No free slot for a new static entry.
    TableFull,
}

/// ARP responder and learner. `arp_bytes` is the ARP packet (L2 stripped) received on
/// interface `iface`. Applies the learning rule of the module doc to `table` and returns
/// the reply to send, if the packet is a request for one of `iface`'s addresses (send it
/// with [`emit_arp`] to the requester's MAC).
pub fn handle_arp<B: PacketBuf>(
    ifaces: &Interfaces,
    iface: IfIndex,
    arp_bytes: &[u8],
    now_ns: u64,
    table: &mut NeighTable<Ipv4Addr, B>,
    out: &mut impl FnMut(NeighEvent<Ipv4Addr, B>),
) -> Result<Option<ArpRepr>, NeighError> {
    let ifc = ifaces.get(iface).ok_or(NeighError::NoInterface)?;
    let pkt = ArpPacket::new_checked(arp_bytes).map_err(|_| NeighError::Malformed)?;
    let repr = ArpRepr::parse(&pkt).map_err(|_| NeighError::Malformed)?;
    if !repr.source_hardware_addr.is_unicast() {
        return Err(NeighError::Malformed);
    }
    let spa = repr.source_protocol_addr;
    let for_us = ifc.has_ipv4(repr.target_protocol_addr);
    // An ARP probe (RFC 5227) has sender 0.0.0.0: nothing to learn, but still answered.
    let sender_valid = !spa.is_unspecified() && !spa.is_broadcast() && !spa.is_multicast();
    if sender_valid && !ifc.has_ipv4(spa) {
        let on_link = ifc.ipv4.iter().any(|c| c.contains(spa));
        let how = Learn {
            create: for_us && on_link,
            solicited: for_us && repr.operation == ArpOperation::Reply,
            override_: true,
        };
        table.learn(iface, spa, repr.source_hardware_addr, how, now_ns, out);
    }
    if for_us && repr.operation == ArpOperation::Request {
        return Ok(Some(ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: ifc.mac,
            source_protocol_addr: repr.target_protocol_addr,
            target_hardware_addr: repr.source_hardware_addr,
            target_protocol_addr: spa,
        }));
    }
    Ok(None)
}

/// Writes an Ethernet (+802.1Q) frame carrying `repr` from `ifc` to `dst` into `buf`;
/// returns its length, or `None` if `buf` is too short.
pub fn emit_arp(
    ifc: &Interface,
    dst: EthernetAddress,
    repr: &ArpRepr,
    buf: &mut [u8],
) -> Option<usize> {
    let l2 = ifc.write_l2(buf, dst, EtherType::Arp)?;
    let body = buf.get_mut(l2..l2 + arp::PACKET_LEN)?;
    repr.emit(&mut ArpPacket::new_unchecked(body));
    Some(l2 + arp::PACKET_LEN)
}

/// Writes an ARP request for `target` from `ifc` into `buf` (broadcast unless `unicast`
/// is given, as for [`NeighEvent::Solicit`]). `None` if `buf` is too short or `ifc` has no
/// IPv4 address.
pub fn emit_arp_request(
    ifc: &Interface,
    target: Ipv4Addr,
    unicast: Option<EthernetAddress>,
    buf: &mut [u8],
) -> Option<usize> {
    let repr = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: ifc.mac,
        source_protocol_addr: ifc.source_ipv4_for(target)?,
        target_hardware_addr: EthernetAddress::default(),
        target_protocol_addr: target,
    };
    emit_arp(ifc, unicast.unwrap_or(EthernetAddress::BROADCAST), &repr, buf)
}

/// A Neighbor Advertisement to send in answer to a Neighbor Solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdReply {
    /// IPv6 source (the solicited target address).
    pub src: Ipv6Addr,
    /// IPv6 destination (the solicitor, or all-nodes for DAD).
    pub dst: Ipv6Addr,
    /// Destination MAC.
    pub dst_mac: EthernetAddress,
    /// R/S/O flags.
    pub flags: NeighborFlags,
    /// Target address (ours).
    pub target: Ipv6Addr,
}

/// IPv6 all-nodes multicast, ff02::1 (RFC 4291 section 2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// ND responder and learner. `ip_bytes` is the IPv6 packet (L2 stripped) received on
/// `iface`, carrying ICMPv6 right after the fixed header (ND messages carry no extension
/// headers in practice; a packet with them is `Malformed` here). Handles Neighbor
/// Solicitations (answered when the target is ours, learning the solicitor's link-layer
/// address) and Neighbor Advertisements (update existing entries only). Other ICMPv6
/// messages give `Ok(None)`.
pub fn handle_nd<B: PacketBuf>(
    ifaces: &Interfaces,
    iface: IfIndex,
    ip_bytes: &[u8],
    now_ns: u64,
    table: &mut NeighTable<Ipv6Addr, B>,
    out: &mut impl FnMut(NeighEvent<Ipv6Addr, B>),
) -> Result<Option<NdReply>, NeighError> {
    let ifc = ifaces.get(iface).ok_or(NeighError::NoInterface)?;
    let ip = Ipv6Packet::new_checked(ip_bytes).map_err(|_| NeighError::Malformed)?;
    if ip.next_header() != IpProtocol::Icmpv6 {
        return Err(NeighError::Malformed);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| NeighError::Malformed)?;
    let repr = match Icmpv6Repr::parse(&src, &dst, &icmp) {
        Ok(r @ (Icmpv6Repr::NeighborSolicit { .. } | Icmpv6Repr::NeighborAdvert { .. })) => r,
        Ok(_) => return Ok(None),
        Err(_) => return Err(NeighError::Malformed),
    };
    if ip.hop_limit() != ND_HOP_LIMIT {
        return Err(NeighError::BadHopLimit);
    }
    match repr {
        Icmpv6Repr::NeighborSolicit { target_addr, lladdr } => {
            if src.is_unspecified() {
                // Duplicate address detection (RFC 4861 7.1.1, 7.2.4): no SLLAO allowed,
                // sent to the solicited-node group, answered to all-nodes with S clear.
                if lladdr.is_some() || dst != solicited_node(target_addr) {
                    return Err(NeighError::Malformed);
                }
                if !ifc.has_ipv6(target_addr) {
                    return Ok(None);
                }
                return Ok(Some(NdReply {
                    src: target_addr,
                    dst: ALL_NODES,
                    dst_mac: ipv6_multicast_mac(ALL_NODES),
                    flags: NeighborFlags { router: false, solicited: false, override_: true },
                    target: target_addr,
                }));
            }
            if dst.is_multicast() && lladdr.is_none() {
                // RFC 4861 7.1.1: a multicast NS must carry the source link-layer address.
                return Err(NeighError::Malformed);
            }
            if !ifc.has_ipv6(target_addr) {
                return Ok(None);
            }
            let dst_mac = match lladdr {
                Some(mac) => {
                    let on_link =
                        src.is_unicast_link_local() || ifc.ipv6.iter().any(|c| c.contains(src));
                    let how = Learn { create: on_link, solicited: false, override_: true };
                    table.learn(iface, src, mac, how, now_ns, out);
                    mac
                }
                // Unicast NS without SLLAO: answer to the MAC we already know, if any.
                None => match table.lookup(iface, src) {
                    Some((state, mac)) if state.is_resolved() => mac,
                    _ => return Ok(None),
                },
            };
            Ok(Some(NdReply {
                src: target_addr,
                dst: src,
                dst_mac,
                flags: NeighborFlags { router: false, solicited: true, override_: true },
                target: target_addr,
            }))
        }
        Icmpv6Repr::NeighborAdvert { flags, target_addr, lladdr } => {
            // RFC 4861 7.1.2: S must be clear on multicast advertisements.
            if flags.solicited && dst.is_multicast() {
                return Err(NeighError::Malformed);
            }
            let mac = match (lladdr, table.lookup(iface, target_addr)) {
                (Some(mac), _) => mac,
                (None, Some((state, mac))) if state.is_resolved() => mac,
                (None, _) => return Ok(None),
            };
            let how =
                Learn { create: false, solicited: flags.solicited, override_: flags.override_ };
            table.learn(iface, target_addr, mac, how, now_ns, out);
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Writes an Ethernet (+802.1Q) + IPv6 (hop limit 255) + ICMPv6 ND frame into `buf`.
fn emit_nd_frame(
    ifc: &Interface,
    dst_mac: EthernetAddress,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    repr: &Icmpv6Repr<'_>,
    buf: &mut [u8],
) -> Option<usize> {
    let l2 = ifc.write_l2(buf, dst_mac, EtherType::Ipv6)?;
    let icmp_len = repr.buffer_len();
    let total = l2 + ipv6::HEADER_LEN + icmp_len;
    let ip_buf = buf.get_mut(l2..total)?;
    let ip_repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp_len,
        hop_limit: ND_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut ip = Ipv6Packet::new_unchecked(&mut *ip_buf);
    ip_repr.emit(&mut ip).ok()?;
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(ip.payload_mut())).ok()?;
    Some(total)
}

/// Writes the Neighbor Advertisement answering `reply` from `ifc` into `buf`.
pub fn emit_na(ifc: &Interface, reply: &NdReply, buf: &mut [u8]) -> Option<usize> {
    let repr = Icmpv6Repr::NeighborAdvert {
        flags: reply.flags,
        target_addr: reply.target,
        lladdr: Some(ifc.mac),
    };
    emit_nd_frame(ifc, reply.dst_mac, reply.src, reply.dst, &repr, buf)
}

/// Writes a Neighbor Solicitation for `target` from `ifc` into `buf`: to the solicited-node
/// group, or to `unicast` (and the target address itself) when reconfirming. `None` if
/// `buf` is too short or `ifc` has no IPv6 address.
pub fn emit_ns(
    ifc: &Interface,
    target: Ipv6Addr,
    unicast: Option<EthernetAddress>,
    buf: &mut [u8],
) -> Option<usize> {
    let src = ifc.source_ipv6_for(target)?;
    let (dst, dst_mac) = match unicast {
        Some(mac) => (target, mac),
        None => {
            let group = solicited_node(target);
            (group, ipv6_multicast_mac(group))
        }
    };
    let repr = Icmpv6Repr::NeighborSolicit { target_addr: target, lladdr: Some(ifc.mac) };
    emit_nd_frame(ifc, dst_mac, src, dst, &repr, buf)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::buf::VecBuf;
    use crate::l3::iface::test::sample;
    use proptest::prelude::*;

    type Ev = NeighEvent<Ipv4Addr, VecBuf>;

    fn cfg() -> NeighConfig {
        NeighConfig { capacity: 4, pending_per_entry: 2, ..NeighConfig::default() }
    }

    fn pkt(tag: u8) -> VecBuf {
        VecBuf::from_slice(&[tag; 4])
    }

    const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
    const MAC: EthernetAddress = EthernetAddress([0x02, 0xaa, 0, 0, 0, 1]);

    #[test]
    fn resolve_queue_release_in_order_and_overflow() {
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
        let mut ev: Vec<Ev> = Vec::new();
        let mut out = |e| ev.push(e);
        assert!(t.output(0, GW, 0, pkt(1), &mut out).is_none());
        assert!(t.output(0, GW, 1, pkt(2), &mut out).is_none());
        assert!(t.output(0, GW, 2, pkt(3), &mut out).is_none()); // drops pkt 1
        assert_eq!(t.lookup(0, GW).unwrap().0, NeighState::Incomplete);
        assert_eq!(t.pending_len(0, GW), 2);
        assert_eq!(t.stats().pending_overflow, 1);
        let how = Learn { create: true, solicited: true, override_: true };
        assert!(t.learn(0, GW, MAC, how, 10, &mut out));
        assert_eq!(t.lookup(0, GW), Some((NeighState::Reachable, MAC)));
        let tags: Vec<String> = ev
            .iter()
            .map(|e| match e {
                NeighEvent::Solicit { unicast: None, target, .. } if *target == GW => "S".into(),
                NeighEvent::Drop(b) => format!("D{}", b.data()[0]),
                NeighEvent::Send { mac, pkt, .. } if *mac == MAC => format!("T{}", pkt.data()[0]),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(tags, ["S", "D1", "T2", "T3"]);
        let mut none = |e: Ev| panic!("unexpected {e:?}");
        let (mac, b) = t.output(0, GW, 20, pkt(4), &mut none).unwrap();
        assert_eq!((mac, b.data()[0]), (MAC, 4));
    }

    #[test]
    fn retries_then_failure_drops_pending_then_forgets() {
        let c = cfg();
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
        let mut solicits = 0;
        let mut drops = 0;
        let mut out = |e: Ev| match e {
            NeighEvent::Solicit { .. } => solicits += 1,
            NeighEvent::Drop(_) => drops += 1,
            NeighEvent::Send { .. } => panic!("nothing resolves"),
        };
        t.output(0, GW, 0, pkt(1), &mut out);
        t.output(0, GW, 0, pkt(2), &mut out);
        t.poll(c.retrans_ns - 1, &mut out);
        for k in 1..=u64::from(c.max_solicits) {
            t.poll(k * c.retrans_ns, &mut out);
        }
        assert_eq!(t.lookup(0, GW).unwrap().0, NeighState::Failed);
        assert_eq!(t.stats().resolution_failed, 2);
        assert!(t.output(0, GW, 4 * c.retrans_ns, pkt(3), &mut out).is_none());
        assert_eq!(t.stats().to_failed, 1);
        t.poll(4 * c.retrans_ns + c.failed_hold_ns, &mut out);
        assert!(t.is_empty());
        assert_eq!(solicits, usize::from(c.max_solicits));
        assert_eq!(drops, 3);
        assert_eq!(t.stats().solicits, u64::from(c.max_solicits));
    }

    #[test]
    fn reachable_ages_to_stale_which_reprobes_and_expires() {
        let c = cfg();
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
        let mut ev: Vec<Ev> = Vec::new();
        let mut out = |e| ev.push(e);
        let how = Learn { create: true, solicited: true, override_: true };
        t.learn(0, GW, MAC, how, 0, &mut out);
        t.poll(c.reachable_ns, &mut out);
        assert_eq!(t.lookup(0, GW).unwrap().0, NeighState::Stale);
        assert!(t.output(0, GW, c.reachable_ns + 1, pkt(1), &mut out).is_some());
        assert!(t.output(0, GW, c.reachable_ns + 2, pkt(2), &mut out).is_some());
        t.poll(c.reachable_ns + c.stale_ns, &mut out);
        assert!(t.is_empty());
        assert_eq!(ev.len(), 1);
        assert!(matches!(ev[0], NeighEvent::Solicit { unicast: Some(MAC), .. }));
    }

    #[test]
    fn unanswered_stale_probes_restart_resolution() {
        let c = cfg();
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
        let mut ev: Vec<Ev> = Vec::new();
        let mut out = |e| ev.push(e);
        let how = Learn { create: true, solicited: false, override_: true };
        t.learn(0, GW, MAC, how, 0, &mut out);
        let mut now = 1;
        for _ in 0..c.max_solicits {
            assert!(t.output(0, GW, now, pkt(1), &mut out).is_some());
            now += c.retrans_ns;
        }
        assert!(t.output(0, GW, now, pkt(2), &mut out).is_none());
        assert_eq!(t.lookup(0, GW).unwrap().0, NeighState::Incomplete);
        assert_eq!(t.pending_len(0, GW), 1);
        let unicast =
            ev.iter().filter(|e| matches!(e, NeighEvent::Solicit { unicast: Some(_), .. }));
        assert_eq!(unicast.count(), usize::from(c.max_solicits));
        assert!(matches!(ev.last(), Some(NeighEvent::Solicit { unicast: None, .. })));
    }

    #[test]
    fn learning_rules() {
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
        let mut out = |e: Ev| panic!("unexpected {e:?}");
        let update = Learn { create: false, solicited: false, override_: true };
        assert!(!t.learn(0, GW, MAC, update, 0, &mut out));
        assert!(t.is_empty());
        let create = Learn { create: true, solicited: false, override_: true };
        assert!(t.learn(0, GW, MAC, create, 0, &mut out));
        assert_eq!(t.lookup(0, GW), Some((NeighState::Stale, MAC)));
        let other = EthernetAddress([0x02, 0xbb, 0, 0, 0, 2]);
        let no_override = Learn { create: false, solicited: true, override_: false };
        assert!(!t.learn(0, GW, other, no_override, 1, &mut out));
        assert_eq!(t.lookup(0, GW), Some((NeighState::Stale, MAC)));
        assert!(t.learn(0, GW, other, update, 2, &mut out));
        assert_eq!(t.lookup(0, GW), Some((NeighState::Stale, other)));
        assert!(!t.learn(0, GW, EthernetAddress::BROADCAST, update, 3, &mut out));
    }

    #[test]
    fn table_full_drops_and_counts() {
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
        let mut drops = 0;
        let mut out = |e: Ev| {
            if let NeighEvent::Drop(_) = e {
                drops += 1;
            }
        };
        for i in 0..5u8 {
            t.output(0, Ipv4Addr::new(192, 0, 2, i), 0, pkt(i), &mut out);
        }
        assert_eq!((t.len(), drops, t.stats().table_full), (4, 1, 1));
    }

    fn arp_bytes(op: ArpOperation, sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
        let repr = ArpRepr {
            operation: op,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: tpa,
        };
        let mut b = vec![0xa5; arp::PACKET_LEN];
        repr.emit(&mut ArpPacket::new_unchecked(&mut b[..]));
        b
    }

    #[test]
    fn arp_request_for_us_is_answered_and_learned() {
        let ifs = sample();
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
        let mut out = |e: Ev| panic!("unexpected {e:?}");
        let me = Ipv4Addr::new(192, 0, 2, 1);
        let peer = Ipv4Addr::new(192, 0, 2, 7);
        let req = arp_bytes(ArpOperation::Request, MAC, peer, me);
        let reply = handle_arp(&ifs, 0, &req, 0, &mut t, &mut out).unwrap().unwrap();
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!(reply.source_hardware_addr, ifs.get(0).unwrap().mac);
        assert_eq!((reply.source_protocol_addr, reply.target_protocol_addr), (me, peer));
        assert_eq!(reply.target_hardware_addr, MAC);
        assert_eq!(t.lookup(0, peer), Some((NeighState::Stale, MAC)));
        let mut frame = [0u8; 64];
        let n = emit_arp(ifs.get(0).unwrap(), MAC, &reply, &mut frame).unwrap();
        assert_eq!(n, 42);
        assert_eq!(&frame[12..14], &[0x08, 0x06]);
        assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&frame[14..n]).unwrap()), Ok(reply));
        // Not for us / gratuitous: no reply and no new entry.
        let other = Ipv4Addr::new(192, 0, 2, 8);
        let garp = arp_bytes(ArpOperation::Request, MAC, other, other);
        assert_eq!(handle_arp(&ifs, 0, &garp, 0, &mut t, &mut out), Ok(None));
        assert_eq!(t.lookup(0, other), None);
        // Off-link sender asking for us: answered, not learned.
        let far = Ipv4Addr::new(198, 51, 100, 1);
        let req = arp_bytes(ArpOperation::Request, MAC, far, me);
        assert!(handle_arp(&ifs, 0, &req, 0, &mut t, &mut out).unwrap().is_some());
        assert_eq!(t.lookup(0, far), None);
        assert_eq!(
            handle_arp(&ifs, 0, &req[..20], 0, &mut t, &mut out),
            Err(NeighError::Malformed)
        );
    }

    #[test]
    fn gratuitous_arp_updates_only_existing_entries() {
        let ifs = sample();
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
        let mut out = |e: Ev| panic!("unexpected {e:?}");
        let peer = Ipv4Addr::new(192, 0, 2, 7);
        let new_mac = EthernetAddress([0x02, 0xcc, 0, 0, 0, 3]);
        let garp = arp_bytes(ArpOperation::Request, new_mac, peer, peer);
        assert_eq!(handle_arp(&ifs, 0, &garp, 0, &mut t, &mut out), Ok(None));
        assert_eq!(t.lookup(0, peer), None);
        let how = Learn { create: true, solicited: true, override_: true };
        t.learn(0, peer, MAC, how, 0, &mut out);
        assert_eq!(handle_arp(&ifs, 0, &garp, 1, &mut t, &mut out), Ok(None));
        assert_eq!(t.lookup(0, peer), Some((NeighState::Stale, new_mac)));
        // A gratuitous reply claiming our own address changes nothing.
        let me = Ipv4Addr::new(192, 0, 2, 1);
        let claim = arp_bytes(ArpOperation::Reply, new_mac, me, me);
        assert_eq!(handle_arp(&ifs, 0, &claim, 2, &mut t, &mut out), Ok(None));
        assert_eq!(t.lookup(0, me), None);
    }

    #[test]
    fn arp_reply_resolves_pending() {
        let ifs = sample();
        let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
        let mut ev: Vec<Ev> = Vec::new();
        let mut out = |e| ev.push(e);
        t.output(0, GW, 0, pkt(9), &mut out);
        let mut req = [0u8; 64];
        let n = emit_arp_request(ifs.get(0).unwrap(), GW, None, &mut req).unwrap();
        let sent = ArpRepr::parse(&ArpPacket::new_checked(&req[14..n]).unwrap()).unwrap();
        assert_eq!(&req[..6], &[0xff; 6]);
        assert_eq!(sent.source_protocol_addr, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(sent.target_protocol_addr, GW);
        let rep = arp_bytes(ArpOperation::Reply, MAC, GW, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(handle_arp(&ifs, 0, &rep, 5, &mut t, &mut out), Ok(None));
        assert_eq!(t.lookup(0, GW), Some((NeighState::Reachable, MAC)));
        assert!(matches!(ev.last(), Some(NeighEvent::Send { mac: MAC, .. })));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Output(u8, u64),
        Learn(u8, bool, bool, bool, u8, u64),
        Poll(u64),
        Remove(u8),
        Static(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 0u64..3_000_000_000).prop_map(|(a, dt)| Op::Output(a, dt)),
            (0u8..6, any::<bool>(), any::<bool>(), any::<bool>(), 1u8..3, 0u64..3_000_000_000)
                .prop_map(|(a, c, s, o, m, dt)| Op::Learn(a, c, s, o, m, dt)),
            (0u64..40_000_000_000).prop_map(Op::Poll),
            (0u8..6).prop_map(Op::Remove),
            (0u8..6, 1u8..3).prop_map(|(a, m)| Op::Static(a, m)),
        ]
    }

    proptest! {
        /// Every packet handed to the table is, at any time, exactly one of: returned for
        /// sending, released, dropped, or still held; the table never exceeds its capacity;
        /// a static entry keeps its state and MAC whatever is received and however time
        /// passes, until it is removed or replaced.
        #[test]
        fn packets_are_conserved(ops in prop::collection::vec(op(), 1..80)) {
            let c = NeighConfig { capacity: 4, pending_per_entry: 2, ..NeighConfig::default() };
            let mut t = NeighTable::<Ipv4Addr, VecBuf>::new(c);
            let (mut given, mut out_now, mut released, mut dropped) = (0usize, 0usize, 0usize, 0usize);
            let mut now = 0u64;
            let addr = |a: u8| Ipv4Addr::new(192, 0, 2, 100 + a);
            let mut statics: [Option<EthernetAddress>; 6] = [None; 6];
            for op in ops {
                let mut sink = |e: Ev| match e {
                    NeighEvent::Send { .. } => released += 1,
                    NeighEvent::Drop(_) => dropped += 1,
                    NeighEvent::Solicit { .. } => {}
                };
                match op {
                    Op::Output(a, dt) => {
                        now += dt;
                        given += 1;
                        if t.output(0, addr(a), now, pkt(a), &mut sink).is_some() {
                            out_now += 1;
                        }
                    }
                    Op::Learn(a, create, solicited, override_, m, dt) => {
                        now += dt;
                        let mac = EthernetAddress([0x02, 0, 0, 0, 0, m]);
                        let how = Learn { create, solicited, override_ };
                        t.learn(0, addr(a), mac, how, now, &mut sink);
                    }
                    Op::Poll(dt) => {
                        now += dt;
                        t.poll(now, &mut sink);
                    }
                    Op::Remove(a) => {
                        t.remove(0, addr(a), &mut sink);
                        statics[usize::from(a)] = None;
                    }
                    Op::Static(a, m) => {
                        let mac = EthernetAddress([0x02, 0, 0, 0, 1, m]);
                        if t.add_static(0, addr(a), mac, &mut sink).is_ok() {
                            statics[usize::from(a)] = Some(mac);
                        }
                    }
                }
                for (a, mac) in statics.iter().enumerate() {
                    if let Some(mac) = *mac {
                        prop_assert_eq!(
                            t.lookup(0, addr(a as u8)),
                            Some((NeighState::Permanent, mac))
                        );
                    }
                }
                let held: usize = (0..6).map(|a| t.pending_len(0, addr(a))).sum();
                prop_assert_eq!(given, out_now + released + dropped + held);
                prop_assert!(t.len() <= c.capacity);
                prop_assert!((0..6).all(|a| t.pending_len(0, addr(a)) <= c.pending_per_entry));
            }
        }

        #[test]
        fn arbitrary_arp_and_nd_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
            let ifs = sample();
            let mut t4 = NeighTable::<Ipv4Addr, VecBuf>::new(cfg());
            let mut t6 = NeighTable::<Ipv6Addr, VecBuf>::new(cfg());
            for iface in 0..3 {
                let _ = handle_arp(&ifs, iface, &bytes, 0, &mut t4, &mut |_| {});
                let _ = handle_nd(&ifs, iface, &bytes, 0, &mut t6, &mut |_| {});
            }
        }
    }
}
