//! One worker core's packet pipeline, without DPDK: a received burst from one port goes
//! through three stages (VPP's graph collapsed into burst loops, STYLE-EXAMPLES section 5):
//!
//! 1. **classify** ([`crate::l3::classify()`]) per frame: ARP and IPv6 Neighbor
//!    Solicitations / Advertisements are answered and learned here (the other neighbour
//!    discovery messages, RS, RA and redirect, are punted), ICMP and ICMPv6 echo to us
//!    answered here, other local traffic (IKE on UDP 500/4500, the rest) punted to the
//!    control queue as [`Event::Punt`] with the L2 header removed; ESP to us is collected for
//!    one [`decap_burst`](esp::decap_burst) call per burst; frames to forward (IPv4 and
//!    IPv6) go to stage 2.
//! 2. **SPD** ([`Classifier::classify_packet`]): bypass goes to stage 3, discard is counted,
//!    protect with an SA is collected (with its [`OutboundSa`] reference) for one
//!    [`encap_burst`](esp::encap_burst) call per burst, protect without an SA goes to the [`AcquireTable`]
//!    (held, one rate-limited [`Event::Acquire`]).
//! 3. **egress** (module `egress`): route lookup, neighbour resolution (ARP requests or
//!    Neighbor Solicitations, one neighbour table per family, and held packets), TTL / hop
//!    limit decrement for forwarded packets only (an ESP packet we just built is new), ICMP /
//!    ICMPv6 time-exceeded (rate-limited), the egress MTU for forwarded packets (IPv4 without
//!    DF is fragmented; IPv4 with DF and IPv6 get "fragmentation needed" / "packet too big"
//!    and are dropped), L2 header, `tx(port, pkt)`.
//!
//! [`Worker::poll_control`] runs between bursts: it applies [`crate::queue::Command`]s (SPD
//! installs, SA bindings, counters requests, packets to send), polls neighbour
//! and reassembly timers, encrypts packets held for an ACQUIRE once their SA is bound,
//! forwards SA events and announces a quiescent point to the SA table.
//!
//! Scratch vectors are cleared per burst and never shrunk, so a warmed-up worker allocates
//! nothing per packet.

mod egress;
pub mod steer;

use std::sync::Arc;

use crate::buf::PacketBuf;
use crate::esp::{self, BufAlloc, ControlReason, Disposition, EspWorker};
use crate::l3::classify::{Family, Punt, Verdict, classify};
use crate::l3::forward::{self, ForwardError, IcmpRateLimiter};
use crate::l3::neigh::{self, NeighConfig, NeighError, NeighTable};
use crate::l3::{IfIndex, Interfaces, Role, RouteTable};
use crate::queue::{Command, CountersReply, Event, WorkerEnd};
use crate::sa::{DropReason, OutboundSa};
use crate::spd::{
    AcquireConfig, AcquireTable, CacheConfig, Classifier, Decision, FlowKey, Found, PolicyId, Spd,
    SpdError,
};
use crate::table::{SaIndex, SaReader, SaRefs};
use crate::wire::icmpv6::{self, Message as Icmpv6Message};
use crate::wire::{EthernetAddress, IpProtocol, Ipv4Addr, Ipv6Addr, Ipv6Packet, ipv6};

use self::egress::Egress;

/// Per-worker pipeline counters (plain integers: one writer).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Frames received.
    pub rx: u64,
    /// Frames transmitted (including ARP, ND and ICMP we generate).
    pub tx: u64,
    /// Packets punted to the control plane.
    pub punts: u64,
    /// ACQUIREs queued to the control plane.
    pub acquires: u64,
    /// Events (punts, ACQUIREs, SA events, counter replies) refused by a full event ring;
    /// a refused punt's packet is dropped.
    pub events_refused: u64,
    /// ARP replies sent.
    pub arp_replies: u64,
    /// ARP requests sent.
    pub arp_requests: u64,
    /// IPv6 Neighbor Advertisements sent (answers to solicitations for our addresses).
    pub nd_adverts: u64,
    /// IPv6 Neighbor Solicitations sent (resolution and reconfirmation).
    pub nd_solicits: u64,
    /// ICMP and ICMPv6 echo replies sent.
    pub echo_replies: u64,
    /// ICMP / ICMPv6 errors generated (time exceeded, fragmentation needed, packet too big).
    pub icmp_errors: u64,
    /// Dropped by frame classification (see [`crate::l3::DropReason`]).
    pub drop_classify: u64,
    /// IP header unreadable at a later stage, or a bad ARP / echo.
    pub drop_malformed: u64,
    /// Neither IPv4 nor IPv6 where an IP packet was expected.
    pub drop_unsupported: u64,
    /// SPD discard.
    pub drop_spd: u64,
    /// Protect policy bound to an SA that is no longer in the table.
    pub drop_no_sa: u64,
    /// Dropped by the ESP engine (reason counted on the SA or the ESP worker).
    pub drop_esp: u64,
    /// Decrypted packet outside its SA's traffic selectors (also counted on the SA as
    /// `policy-mismatch`).
    pub drop_inbound_policy: u64,
    /// ESP on an inbound SA marked non-primary (ASA single-SA mode; also counted in
    /// `drop_esp`, and on the SA as `vpn-overlap-conflict`).
    pub drop_vpn_overlap: u64,
    /// Protect policy without an SA, packet not held (holding disabled).
    pub drop_acquire: u64,
    /// No route (a forwarded IPv6 packet with a link-local address has none beyond its
    /// link).
    pub drop_no_route: u64,
    /// Given up by the neighbour table (resolution failed, table or queue full).
    pub drop_neighbour: u64,
    /// TTL / hop limit ran out.
    pub drop_ttl: u64,
    /// Forwarded IPv4 packet with DF set larger than the egress MTU (ICMP "fragmentation
    /// needed" sent, rate permitting).
    pub drop_frag_needed: u64,
    /// Forwarded IPv6 packet larger than the egress MTU (ICMPv6 "packet too big" sent, rate
    /// permitting).
    pub drop_packet_too_big: u64,
    /// Fragments sent for forwarded IPv4 packets larger than the egress MTU (RFC 791).
    pub fragments_out: u64,
    /// Forwarded IPv4 packets too big that could not be fragmented (IP options, no buffer).
    pub drop_frag_failed: u64,
    /// No headroom for the L2 header.
    pub drop_no_room: u64,
    /// No buffer for an ARP request, a Neighbor Solicitation or an ICMP error.
    pub drop_no_buffer: u64,
}

impl Counters {
    /// Number of counters.
    pub const COUNT: usize = 29;
    /// Counter names, in the order of [`Counters::values`].
    pub const NAMES: [&'static str; Self::COUNT] = [
        "rx",
        "tx",
        "punts",
        "acquires",
        "events_refused",
        "arp_replies",
        "arp_requests",
        "nd_adverts",
        "nd_solicits",
        "echo_replies",
        "icmp_errors",
        "drop_classify",
        "drop_malformed",
        "drop_unsupported",
        "drop_spd",
        "drop_no_sa",
        "drop_esp",
        "drop_inbound_policy",
        "drop_vpn_overlap",
        "drop_acquire",
        "drop_no_route",
        "drop_neighbour",
        "drop_ttl",
        "drop_frag_needed",
        "drop_packet_too_big",
        "fragments_out",
        "drop_frag_failed",
        "drop_no_room",
        "drop_no_buffer",
    ];

    /// Every counter, in the order of [`Counters::NAMES`] (for publishing and display).
    pub fn values(&self) -> [u64; Self::COUNT] {
        [
            self.rx,
            self.tx,
            self.punts,
            self.acquires,
            self.events_refused,
            self.arp_replies,
            self.arp_requests,
            self.nd_adverts,
            self.nd_solicits,
            self.echo_replies,
            self.icmp_errors,
            self.drop_classify,
            self.drop_malformed,
            self.drop_unsupported,
            self.drop_spd,
            self.drop_no_sa,
            self.drop_esp,
            self.drop_inbound_policy,
            self.drop_vpn_overlap,
            self.drop_acquire,
            self.drop_no_route,
            self.drop_neighbour,
            self.drop_ttl,
            self.drop_frag_needed,
            self.drop_packet_too_big,
            self.fragments_out,
            self.drop_frag_failed,
            self.drop_no_room,
            self.drop_no_buffer,
        ]
    }
}

/// Sizes of a worker's tables.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    pub neigh: NeighConfig,
    pub acquire: AcquireConfig,
    pub flow_cache: CacheConfig,
    /// ICMP errors per second per interface, and the burst.
    pub icmp_rate: (u32, u32),
    /// Expected burst size (scratch vectors are reserved for it).
    pub burst: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            neigh: NeighConfig::default(),
            acquire: AcquireConfig::default(),
            flow_cache: CacheConfig::default(),
            icmp_rate: (100, 10),
            burst: 64,
        }
    }
}

/// One worker core's pipeline state. `A` makes buffers for ARP requests, Neighbor
/// Solicitations, ICMP errors and ESP fragments.
pub struct Worker<B: PacketBuf, A: BufAlloc<B>> {
    esp: EspWorker,
    spd: Classifier,
    acquire: AcquireTable<B>,
    sas: SaReader,
    queues: WorkerEnd<B>,
    out: Egress<B, A>,
    refs: SaRefs<OutboundSa>,
    // Scratch, cleared every burst and never shrunk.
    decap: Vec<B>,
    decap_ingress: Vec<IfIndex>,
    /// The SPI of each packet in `decap` (0 when unreadable).
    decap_spi: Vec<u32>,
    encap: Vec<B>,
    encap_sa: Vec<SaIndex>,
    /// Per collected packet: whether its SA was still installed at the encap lookup.
    encap_found: Vec<bool>,
    extra: Vec<B>,
    /// `extra` while its packets are sent after their parents.
    extra_pending: Vec<Option<B>>,
    /// `originated` while it is routed (see [`Worker::route_originated`]).
    originated: Vec<B>,
    /// Plaintext packets of the burst waiting for the SPD, with their ingress interface.
    to_classify: Vec<(IfIndex, B)>,
    /// Their flow keys (`None`: unreadable).
    keys: Vec<Option<FlowKey>>,
    /// Their flow-cache lookups.
    found: Vec<Option<Found>>,
}

impl<B: PacketBuf, A: BufAlloc<B>> core::fmt::Debug for Worker<B, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("worker", &self.queues.worker)
            .field("counters", &self.out.counters)
            .finish_non_exhaustive()
    }
}

impl<B: PacketBuf, A: BufAlloc<B>> Worker<B, A> {
    /// A worker serving `ifaces` with `routes`, reading SAs through `sas`, classifying
    /// with `spd`.
    pub fn new(
        ifaces: Interfaces,
        routes: RouteTable,
        spd: Arc<Spd>,
        sas: SaReader,
        queues: WorkerEnd<B>,
        alloc: A,
        cfg: WorkerConfig,
    ) -> Result<Self, SpdError> {
        let n_ifaces = ifaces.len();
        let (rate, burst) = cfg.icmp_rate;
        let b = cfg.burst;
        Ok(Worker {
            esp: EspWorker::new(),
            spd: Classifier::new(spd, cfg.flow_cache)?,
            acquire: AcquireTable::new(cfg.acquire)?,
            sas,
            queues,
            out: Egress {
                ifaces,
                routes,
                neigh: NeighTable::new(cfg.neigh),
                neigh6: NeighTable::new(cfg.neigh),
                icmp: IcmpRateLimiter::new(n_ifaces, rate, burst),
                alloc,
                counters: Counters::default(),
                neigh_events: Vec::with_capacity(b),
                neigh6_events: Vec::with_capacity(b),
                frags: Vec::with_capacity(8),
                originated: Vec::with_capacity(b),
            },
            refs: SaRefs::with_capacity(b),
            decap: Vec::with_capacity(b),
            decap_ingress: Vec::with_capacity(b),
            decap_spi: Vec::with_capacity(b),
            encap: Vec::with_capacity(b),
            encap_sa: Vec::with_capacity(b),
            encap_found: Vec::with_capacity(b),
            extra: Vec::with_capacity(b),
            extra_pending: Vec::with_capacity(b),
            originated: Vec::with_capacity(b),
            to_classify: Vec::with_capacity(b),
            keys: Vec::with_capacity(b),
            found: Vec::with_capacity(b),
        })
    }

    /// The counters now.
    pub fn counters(&self) -> Counters {
        self.out.counters
    }

    /// The ESP engine (its own counters, reassembly table).
    pub fn esp(&self) -> &EspWorker {
        &self.esp
    }

    /// The ACQUIRE table (pending policies, held packets).
    pub fn acquire(&self) -> &AcquireTable<B> {
        &self.acquire
    }

    /// The IPv4 neighbour table (ARP).
    pub fn neighbours(&self) -> &NeighTable<Ipv4Addr, B> {
        &self.out.neigh
    }

    /// The IPv6 neighbour table (neighbour discovery).
    pub fn neighbours_v6(&self) -> &NeighTable<Ipv6Addr, B> {
        &self.out.neigh6
    }

    /// Binds `policy`'s outbound SA before the worker starts (at run time the control plane
    /// sends [`Command::BindSa`], which also releases the packets held for an ACQUIRE).
    pub fn bind_sa(&mut self, policy: PolicyId, sa: Option<SaIndex>) {
        self.spd.bind_sa(policy, sa);
    }

    /// Adds a permanent neighbour (static ARP entry); packets already held for it are
    /// released on the next [`Worker::poll_control`].
    pub fn add_static_neighbour(
        &mut self,
        iface: IfIndex,
        addr: Ipv4Addr,
        mac: EthernetAddress,
    ) -> Result<(), NeighError> {
        let Egress { neigh, neigh_events, .. } = &mut self.out;
        neigh.add_static(iface, addr, mac, &mut |e| neigh_events.push(e))
    }

    /// Adds a permanent IPv6 neighbour (static ND entry); packets already held for it are
    /// released on the next [`Worker::poll_control`].
    pub fn add_static_neighbour_v6(
        &mut self,
        iface: IfIndex,
        addr: Ipv6Addr,
        mac: EthernetAddress,
    ) -> Result<(), NeighError> {
        let Egress { neigh6, neigh6_events, .. } = &mut self.out;
        neigh6.add_static(iface, addr, mac, &mut |e| neigh6_events.push(e))
    }

    /// Runs a burst received on `port` through the pipeline; `pkts` is left empty (its
    /// capacity kept). Outputs go to `tx(port, frame)`.
    pub fn process_rx(
        &mut self,
        port: u16,
        pkts: &mut Vec<B>,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        self.decap.clear();
        self.decap_ingress.clear();
        self.decap_spi.clear();
        self.encap.clear();
        self.encap_sa.clear();
        for pkt in pkts.drain(..) {
            self.out.counters.rx += 1;
            let c = classify(&self.out.ifaces, port, pkt.data());
            let Some(iface) = c.iface else {
                self.out.counters.drop_classify += 1;
                continue;
            };
            match c.verdict {
                Verdict::Drop(_) => self.out.counters.drop_classify += 1,
                Verdict::Local(Punt::Arp) => {
                    self.arp(iface, pkt, c.l3_offset, c.l3_len, now_ns, tx)
                }
                Verdict::Local(Punt::Nd) if is_ns_or_na(pkt.data(), c.l3_offset, c.l3_len) => {
                    self.nd(iface, pkt, c.l3_offset, c.l3_len, now_ns, tx)
                }
                Verdict::Local(punt) => {
                    let Some(pkt) = strip_l2(pkt, c.l3_offset, c.l3_len) else {
                        self.out.counters.drop_malformed += 1;
                        continue;
                    };
                    if punt == Punt::IcmpEcho {
                        self.echo(iface, pkt, now_ns, tx);
                    } else {
                        let reason = match punt {
                            Punt::Ike500 | Punt::Ike4500 => ControlReason::Ike,
                            _ => ControlReason::NotEsp,
                        };
                        self.punt(reason, pkt);
                    }
                }
                Verdict::EspToUs { esp_offset, .. } => {
                    // The SA's slot starts loading now; `run_decap` looks it up later.
                    let spi = pkt
                        .data()
                        .get(esp_offset..esp_offset + 4)
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map_or(0, u32::from_be_bytes);
                    self.sas.prefetch_inbound(spi);
                    self.decap_spi.push(spi);
                    match strip_l2(pkt, c.l3_offset, c.l3_len) {
                        Some(pkt) => {
                            self.decap.push(pkt);
                            self.decap_ingress.push(iface);
                        }
                        None => {
                            self.decap_spi.pop();
                            self.out.counters.drop_malformed += 1;
                        }
                    }
                }
                Verdict::Forward(Family::V4 | Family::V6) => {
                    match strip_l2(pkt, c.l3_offset, c.l3_len) {
                        Some(pkt) => self.to_classify.push((iface, pkt)),
                        None => self.out.counters.drop_malformed += 1,
                    }
                }
            }
        }
        // The burst's inbound SAs, one level down: their slots' pointer cells were
        // prefetched above, so the nodes' hot lines can start loading now, while the
        // plaintext packets are classified.
        for &spi in &self.decap_spi {
            self.sas.prefetch_inbound_node(spi);
        }
        self.run_outbound(now_ns, tx);
        self.run_decap(now_ns, tx);
        self.run_encap(now_ns, tx);
        self.route_originated(now_ns, tx);
    }

    /// Between bursts: commands, timers, held packets, SA events, quiescent point.
    pub fn poll_control(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        self.encap.clear();
        self.encap_sa.clear();
        while let Some(cmd) = self.queues.commands.pop() {
            match cmd {
                Command::CountersRequest { request } => {
                    let reply = CountersReply::from_stats(
                        request,
                        self.queues.worker,
                        self.esp.stats(),
                        self.queues.events.refused(),
                    );
                    self.event(Event::Counters(reply));
                }
                Command::Transmit(pkt) => self.out.output(pkt, None, false, now_ns, tx),
                Command::SetInterfaces { ifaces, announce } => {
                    if self.out.set_interfaces(*ifaces) && announce {
                        self.out.announce(tx);
                    }
                }
                Command::InstallSpd(spd) => {
                    // The old SPD is freed here, between bursts.
                    let _retired = self.spd.install_spd(spd);
                }
                Command::BindSa { policy, sa } => {
                    self.spd.bind_sa(policy, sa);
                    if let Some(idx) = sa {
                        let usable = self.sas.outbound(idx).is_some();
                        for pkt in self.acquire.release(policy) {
                            if usable {
                                self.encap.push(pkt);
                                self.encap_sa.push(idx);
                            } else {
                                self.out.counters.drop_no_sa += 1;
                            }
                        }
                    }
                }
            }
        }
        self.run_encap(now_ns, tx);
        self.route_originated(now_ns, tx);
        let Egress { neigh, neigh_events, neigh6, neigh6_events, .. } = &mut self.out;
        neigh.poll(now_ns, &mut |e| neigh_events.push(e));
        neigh6.poll(now_ns, &mut |e| neigh6_events.push(e));
        self.out.drain_neigh_events(tx);
        self.esp.expire(now_ns);
        let Worker { esp, queues, out, .. } = self;
        for e in esp.drain_events() {
            if queues.events.push(Event::Sa(e)).is_err() {
                out.counters.events_refused += 1;
            }
        }
        self.sas.quiescent();
    }

    /// Stage 2 for one plaintext IP packet: forwarded (received on `ingress`) or, without
    /// an ingress, one this worker generated (an ICMP error, an echo reply).
    fn outbound(
        &mut self,
        ingress: Option<IfIndex>,
        pkt: B,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        match FlowKey::from_ip(pkt.data()) {
            Ok(key) => self.outbound_with_key(ingress, pkt, key, now_ns, tx),
            Err(_) => self.out.counters.drop_malformed += 1,
        }
    }

    /// Stage 2 for the plaintext packets a burst collected: their flow keys first, with
    /// the flow-cache sets they need prefetched, then classification, so the cache misses
    /// of the burst overlap instead of stalling one after another.
    fn run_outbound(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        if self.to_classify.is_empty() {
            return;
        }
        self.keys.clear();
        for (_, pkt) in &self.to_classify {
            let key = FlowKey::from_ip(pkt.data()).ok();
            if let Some(k) = &key {
                self.spd.prefetch(k);
            }
            self.keys.push(key);
        }
        // The flow-cache lookups, which prefetch what the decisions read.
        self.found.clear();
        for key in &self.keys {
            let found = key.as_ref().map(|k| self.spd.lookup(k));
            self.found.push(found);
        }
        let mut batch = core::mem::take(&mut self.to_classify);
        let mut keys = core::mem::take(&mut self.keys);
        let mut found = core::mem::take(&mut self.found);
        for (((ingress, pkt), key), f) in batch.drain(..).zip(keys.drain(..)).zip(found.drain(..)) {
            match (key, f) {
                (Some(key), Some(f)) => {
                    let decision = self.spd.finish(&key, f);
                    self.outbound_decided(Some(ingress), pkt, key, decision, now_ns, tx)
                }
                _ => self.out.counters.drop_malformed += 1,
            }
        }
        self.found = found;
        self.to_classify = batch;
        self.keys = keys;
        // The SAs' slots were prefetched at classification: now their nodes' hot lines,
        // while decapsulation runs; `run_encap` reads them and prefetches the key data
        // behind them. Each level is prefetched for the whole burst before any packet reads
        // it, so a burst pays about one memory latency per level, not one per packet.
        for &idx in &self.encap_sa {
            self.sas.prefetch_outbound_node(idx);
        }
    }

    fn outbound_with_key(
        &mut self,
        ingress: Option<IfIndex>,
        pkt: B,
        key: FlowKey,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let decision = self.spd.classify(&key);
        self.outbound_decided(ingress, pkt, key, decision, now_ns, tx)
    }

    fn outbound_decided(
        &mut self,
        ingress: Option<IfIndex>,
        mut pkt: B,
        key: FlowKey,
        decision: Decision,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let (policy, sa) = match decision {
            Decision::Bypass => {
                return self.out.output(pkt, ingress, ingress.is_some(), now_ns, tx);
            }
            Decision::Discard => {
                self.out.counters.drop_spd += 1;
                return;
            }
            Decision::Protect { policy, sa } => (policy, sa),
        };
        // A router forwarding into a tunnel decrements the TTL first (RFC 1812 5.3.1), and
        // an expired packet gets its time-exceeded like any other.
        if let Some(i) = ingress
            && !self.out.forward_hop(&mut pkt, i, now_ns)
        {
            return;
        }
        match sa {
            // Whether the SA is still installed is checked once, in `run_encap`.
            Some(idx) => {
                self.sas.prefetch_outbound(idx);
                self.encap.push(pkt);
                self.encap_sa.push(idx);
            }
            None => {
                let o = self.acquire.on_missing_sa(policy, &key, pkt, now_ns);
                if !o.held {
                    self.out.counters.drop_acquire += 1;
                }
                if let Some(ev) = o.event {
                    self.out.counters.acquires += 1;
                    self.event(Event::Acquire(ev));
                }
            }
        }
    }

    /// Routes the packets this worker generated: towards an outside interface they pass
    /// the SPD like forwarded traffic (an error about a tunnelled packet goes back through
    /// the tunnel, or not at all, RFC 4301 section 6), towards the inside they leave as
    /// they are. Errors about those packets are generated in turn, a bounded number of
    /// rounds (an ICMP error is never sent about an ICMP error).
    fn route_originated(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        for _ in 0..4 {
            if self.out.originated.is_empty() {
                return;
            }
            let mut batch = core::mem::take(&mut self.originated);
            core::mem::swap(&mut batch, &mut self.out.originated);
            self.encap.clear();
            self.encap_sa.clear();
            for pkt in batch.drain(..) {
                match self.out.egress_role(&pkt) {
                    Some(Role::Outside) => self.outbound(None, pkt, now_ns, tx),
                    _ => self.out.output(pkt, None, false, now_ns, tx),
                }
            }
            self.originated = batch;
            self.run_encap(now_ns, tx);
        }
        // Still more after the bound: a loop the rules above should make impossible.
        self.out.counters.drop_malformed += self.out.originated.len() as u64;
        self.out.originated.clear();
    }

    /// One `encap_burst` over the collected packets, then stage 3 for the outer packets.
    fn run_encap(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        if self.encap.is_empty() {
            return;
        }
        let Worker {
            esp, sas, refs, encap, encap_sa, encap_found, extra, extra_pending, out, ..
        } = self;
        // The control thread may delete an SA at any time (QSBR only delays freeing it). One
        // lookup per packet here: the references handed to `encap_burst` are the ones found,
        // and the packets whose SA went away since they were collected are dropped, in order.
        encap_found.clear();
        let slice = refs.fill(encap_sa.iter().zip(encap.iter()).filter_map(|(&idx, pkt)| {
            let sa = sas.outbound(idx);
            if let Some(sa) = sa {
                // The key data, behind the node's lines read here: it loads while
                // `encap_burst` prepares the headers of the burst.
                sa.prefetch(pkt.len());
            }
            encap_found.push(sa.is_some());
            sa
        }));
        let mut keep = 0;
        for i in 0..encap.len() {
            if encap_found.get(i) == Some(&true) {
                encap.swap(keep, i);
                keep += 1;
            } else {
                out.counters.drop_no_sa += 1;
            }
        }
        encap.truncate(keep);
        extra.clear();
        esp::encap_burst(esp, slice, encap, extra, &mut out.alloc, now_ns);
        let (d, parents) = (esp.encap_dispositions(), esp.extra_parents());
        // Each packet's fragments leave right after it, so the SA's sequence numbers follow
        // the wire order.
        extra_pending.clear();
        extra_pending.extend(extra.drain(..).map(Some));
        for (i, (pkt, d)) in encap.drain(..).zip(d.iter()).enumerate() {
            match d {
                Disposition::Forward => out.output(pkt, None, false, now_ns, tx),
                Disposition::IcmpError => out.originated.push(pkt),
                Disposition::Drop(_) | Disposition::ToControl(_) | Disposition::Consumed => {
                    out.counters.drop_esp += 1
                }
            }
            for (slot, _) in extra_pending.iter_mut().zip(parents).filter(|(_, p)| **p == i) {
                if let Some(f) = slot.take() {
                    out.output(f, None, false, now_ns, tx);
                }
            }
        }
        for f in extra_pending.drain(..).flatten() {
            out.output(f, None, false, now_ns, tx);
        }
        encap_sa.clear();
    }

    /// One `decap_burst` over the collected ESP packets, then stage 3 for the inner ones.
    fn run_decap(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        if self.decap.is_empty() {
            return;
        }
        let Worker { esp, sas, decap, decap_ingress, decap_spi, out, queues, .. } = self;
        // What lies behind the SAs' hot lines (prefetched at the end of classification):
        // key data, replay words and selectors, for the whole burst before the first packet
        // needs them.
        for (&spi, pkt) in decap_spi.iter().zip(decap.iter()) {
            if let Some(sa) = sas.inbound(spi) {
                sa.prefetch(pkt.len());
            }
        }
        decap_spi.clear();
        let r = esp::decap_burst(esp, decap, |spi| sas.inbound(spi), &mut out.alloc, now_ns);
        for ((pkt, r), &ingress) in decap.drain(..).zip(r.iter()).zip(decap_ingress.iter()) {
            match r.disposition {
                Disposition::Forward => {
                    // RFC 4301 5.2 step 4: the inner packet must be traffic this SA was set
                    // up for, or a peer could inject packets for any destination.
                    if let Some(sa) = sas.inbound(r.spi)
                        && !sa.admits(pkt.data())
                    {
                        sa.counters().drops.count(DropReason::PolicyMismatch);
                        out.counters.drop_inbound_policy += 1;
                        continue;
                    }
                    if is_for_us(&out.ifaces, pkt.data()) {
                        // Through the tunnel to the appliance itself: answered (the reply
                        // goes back through the SPD, hence the tunnel) or punted; never
                        // routed on as transit traffic.
                        local_via_tunnel(out, queues, pkt);
                        continue;
                    }
                    out.output(pkt, Some(ingress), true, now_ns, tx)
                }
                Disposition::IcmpError => out.originated.push(pkt),
                Disposition::ToControl(reason) => {
                    out.counters.punts += 1;
                    if queues.events.push(Event::Punt { reason, packet: pkt }).is_err() {
                        out.counters.events_refused += 1;
                    }
                }
                Disposition::Drop(reason) => {
                    out.counters.drop_esp += 1;
                    if reason == DropReason::VpnOverlapConflict {
                        out.counters.drop_vpn_overlap += 1;
                    }
                }
                Disposition::Consumed => {}
            }
        }
        decap_ingress.clear();
    }

    /// Learns from an ARP packet and answers a request for one of our addresses, reusing
    /// the request's buffer.
    fn arp(
        &mut self,
        iface: IfIndex,
        mut frame: B,
        l3_offset: usize,
        l3_len: usize,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Egress { ifaces, neigh, neigh_events, counters, .. } = &mut self.out;
        let body = frame.data().get(l3_offset..l3_offset.saturating_add(l3_len));
        let reply = body.map(|body| {
            neigh::handle_arp(ifaces, iface, body, now_ns, neigh, &mut |e| neigh_events.push(e))
        });
        match reply {
            Some(Ok(Some(repr))) => {
                let sent = ifaces.get(iface).and_then(|ifc| {
                    let n =
                        neigh::emit_arp(ifc, repr.target_hardware_addr, &repr, frame.data_mut())?;
                    Some((ifc.port, n))
                });
                match sent {
                    Some((port, n)) if frame.trim(frame.len() - n).is_ok() => {
                        counters.arp_replies += 1;
                        counters.tx += 1;
                        tx(port, frame);
                    }
                    _ => counters.drop_no_room += 1,
                }
            }
            Some(Ok(None)) => {}
            Some(Err(_)) | None => counters.drop_malformed += 1,
        }
        self.out.drain_neigh_events(tx);
    }

    /// Learns from an IPv6 Neighbor Solicitation or Advertisement (RFC 4861 section 7.2)
    /// and answers a solicitation for one of our addresses with a solicited, override
    /// advertisement (to all-nodes for duplicate address detection), reusing the
    /// solicitation's buffer.
    fn nd(
        &mut self,
        iface: IfIndex,
        mut frame: B,
        l3_offset: usize,
        l3_len: usize,
        now_ns: u64,
        tx: &mut impl FnMut(u16, B),
    ) {
        let Egress { ifaces, neigh6, neigh6_events, counters, .. } = &mut self.out;
        let body = frame.data().get(l3_offset..l3_offset.saturating_add(l3_len));
        let reply = body.map(|body| {
            neigh::handle_nd(ifaces, iface, body, now_ns, neigh6, &mut |e| neigh6_events.push(e))
        });
        match reply {
            Some(Ok(Some(reply))) => {
                let sent = ifaces.get(iface).and_then(|ifc| {
                    // An NS without the link-layer option (DAD) is shorter than the NA.
                    let need = ifc.l2_len() + NA_LEN;
                    if let Some(more) = need.checked_sub(frame.len()).filter(|&m| m > 0) {
                        frame.append(more).ok()?;
                    }
                    let n = neigh::emit_na(ifc, &reply, frame.data_mut())?;
                    Some((ifc.port, n))
                });
                match sent {
                    Some((port, n)) if frame.trim(frame.len() - n).is_ok() => {
                        counters.nd_adverts += 1;
                        counters.tx += 1;
                        tx(port, frame);
                    }
                    _ => counters.drop_no_room += 1,
                }
            }
            Some(Ok(None)) => {}
            Some(Err(_)) | None => counters.drop_malformed += 1,
        }
        self.out.drain_neigh_events(tx);
    }

    /// Answers an ICMP or ICMPv6 echo request to us in place. An ICMPv6 request the reply
    /// helper does not handle (extension headers before ICMPv6) goes to the control plane.
    fn echo(&mut self, iface: IfIndex, mut pkt: B, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        let v6 = pkt.data().first().is_some_and(|b| b >> 4 == 6);
        let reply = if v6 {
            forward::echo_reply_v6(pkt.data_mut())
        } else {
            forward::echo_reply_v4(pkt.data_mut())
        };
        match reply {
            Ok(n) if pkt.trim(pkt.len().saturating_sub(n)).is_ok() => {
                self.out.counters.echo_replies += 1;
                // A reply to a link-local address must leave by the link it came from; the
                // others pass the SPD like every packet we generate.
                if v6 && is_link_local_dst(pkt.data()) {
                    self.out.output(pkt, Some(iface), false, now_ns, tx);
                } else {
                    self.out.originated.push(pkt);
                }
            }
            Err(ForwardError::Unsupported) if v6 => self.punt(ControlReason::NotEsp, pkt),
            _ => self.out.counters.drop_malformed += 1,
        }
    }

    fn punt(&mut self, reason: ControlReason, packet: B) {
        self.out.counters.punts += 1;
        self.event(Event::Punt { reason, packet });
    }

    fn event(&mut self, e: Event<B>) {
        if self.queues.events.push(e).is_err() {
            self.out.counters.events_refused += 1;
        }
    }
}

/// Length of a Neighbor Advertisement with the target link-layer address option, IPv6
/// header included (RFC 4861 section 4.4).
const NA_LEN: usize = ipv6::HEADER_LEN + icmpv6::ND_HEADER_LEN + icmpv6::LLADDR_OPTION_LEN;

/// Whether the IPv6 packet at `l3_offset` in `frame` is a Neighbor Solicitation or
/// Advertisement right after the fixed header: the messages the worker handles itself.
/// Router solicitations and advertisements and redirects (and ND behind extension headers,
/// which real stacks do not send) are left to the control plane.
fn is_ns_or_na(frame: &[u8], l3_offset: usize, l3_len: usize) -> bool {
    let Some(l3) = frame.get(l3_offset..l3_offset.saturating_add(l3_len)) else {
        return false;
    };
    Ipv6Packet::new_checked(l3).is_ok_and(|ip| {
        ip.next_header() == IpProtocol::Icmpv6
            && matches!(
                ip.payload().first().map(|&t| Icmpv6Message::from(t)),
                Some(Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert)
            )
    })
}

/// Removes the L2 header and any Ethernet padding; `None` when the lengths do not fit.
fn strip_l2<B: PacketBuf>(mut pkt: B, l3_offset: usize, l3_len: usize) -> Option<B> {
    pkt.adj(l3_offset).ok()?;
    let pad = pkt.len().checked_sub(l3_len)?;
    pkt.trim(pad).ok()?;
    Some(pkt)
}

/// Whether the IP packet `ip` is addressed to one of our interface addresses.
fn is_for_us(ifaces: &Interfaces, ip: &[u8]) -> bool {
    match ip.first().map(|b| b >> 4) {
        Some(4) => ip
            .get(16..20)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
            .is_some_and(|d| ifaces.is_local_ipv4(Ipv4Addr::from(d))),
        Some(6) => ip
            .get(24..40)
            .and_then(|d| <[u8; 16]>::try_from(d).ok())
            .is_some_and(|d| ifaces.is_local_ipv6(Ipv6Addr::from(d))),
        _ => false,
    }
}

/// Whether the IPv6 packet `ip` goes to a link-local address (fe80::/10).
fn is_link_local_dst(ip: &[u8]) -> bool {
    ip.get(24..26).is_some_and(|d| d[0] == 0xfe && d[1] & 0xc0 == 0x80)
}

/// A decrypted packet for the appliance itself: an echo request is answered (queued for
/// the SPD, so the reply goes back through the tunnel), anything else goes to the control
/// plane.
fn local_via_tunnel<B: PacketBuf, A: BufAlloc<B>>(
    out: &mut Egress<B, A>,
    queues: &mut WorkerEnd<B>,
    mut pkt: B,
) {
    let v6 = pkt.data().first().is_some_and(|b| b >> 4 == 6);
    let reply = if v6 {
        forward::echo_reply_v6(pkt.data_mut())
    } else {
        forward::echo_reply_v4(pkt.data_mut())
    };
    match reply {
        Ok(n) if pkt.trim(pkt.len().saturating_sub(n)).is_ok() => {
            out.counters.echo_replies += 1;
            out.originated.push(pkt);
        }
        Ok(_) => out.counters.drop_malformed += 1,
        // Not an echo request (or one the helper does not handle): the control plane's.
        Err(_) => {
            out.counters.punts += 1;
            let packet = pkt;
            if queues.events.push(Event::Punt { reason: ControlReason::NotEsp, packet }).is_err() {
                out.counters.events_refused += 1;
            }
        }
    }
}
