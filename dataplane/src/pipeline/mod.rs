//! One worker core's packet pipeline, without DPDK: a received burst from one port goes
//! through three stages (VPP's graph collapsed into burst loops, STYLE-EXAMPLES section 5):
//!
//! 1. **classify** ([`crate::l3::classify()`]) per frame: ARP is answered and learned here,
//!    ICMP echo to us answered here, other local traffic (IKE on UDP 500/4500, the rest)
//!    punted to the control queue as [`Event::Punt`] with the L2 header removed; ESP to us is
//!    collected for one [`decap_burst`](esp::decap_burst) call per burst; frames to forward go to stage 2.
//! 2. **SPD** ([`Classifier::classify_packet`]): bypass goes to stage 3, discard is counted,
//!    protect with an SA is collected (with its [`OutboundSa`] reference) for one
//!    [`encap_burst`](esp::encap_burst) call per burst, protect without an SA goes to the [`AcquireTable`]
//!    (held, one rate-limited [`Event::Acquire`]).
//! 3. **egress** (module `egress`): route lookup, neighbour resolution (ARP requests and held
//!    packets), TTL decrement for forwarded packets only (an ESP packet we just built is
//!    new), ICMP time-exceeded (rate-limited), L2 header, `tx(port, pkt)`.
//!
//! [`Worker::poll_control`] runs between bursts: it applies [`crate::queue::Command`]s (SPD
//! installs, SA bindings, counters requests, packets to send), polls neighbour
//! and reassembly timers, encrypts packets held for an ACQUIRE once their SA is bound,
//! forwards SA events and announces a quiescent point to the SA table.
//!
//! Forwarding is IPv4 only for now: IPv6 frames to forward are counted in
//! [`Counters::drop_unsupported`]. Scratch vectors are cleared per burst and never shrunk,
//! so a warmed-up worker allocates nothing per packet.

mod egress;

use std::sync::Arc;

use crate::buf::PacketBuf;
use crate::esp::{self, BufAlloc, ControlReason, Disposition, EspWorker};
use crate::l3::classify::{Family, Punt, Verdict, classify};
use crate::l3::forward::{self, IcmpRateLimiter};
use crate::l3::neigh::{self, NeighConfig, NeighTable};
use crate::l3::{IfIndex, Interfaces, RouteTable};
use crate::queue::{Command, CountersReply, Event, WorkerEnd};
use crate::sa::OutboundSa;
use crate::spd::{AcquireConfig, AcquireTable, CacheConfig, Classifier, Decision, Spd, SpdError};
use crate::table::{SaIndex, SaReader, SaRefs};
use crate::wire::Ipv4Addr;

use self::egress::Egress;

/// Per-worker pipeline counters (plain integers: one writer).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Frames received.
    pub rx: u64,
    /// Frames transmitted (including ARP and ICMP we generate).
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
    /// ICMP echo replies sent.
    pub echo_replies: u64,
    /// ICMP errors generated (time exceeded).
    pub icmp_errors: u64,
    /// Dropped by frame classification (see [`crate::l3::DropReason`]).
    pub drop_classify: u64,
    /// IP header unreadable at a later stage, or a bad ARP / echo.
    pub drop_malformed: u64,
    /// IPv6 to forward or route (not supported yet).
    pub drop_unsupported: u64,
    /// SPD discard.
    pub drop_spd: u64,
    /// Protect policy bound to an SA that is no longer in the table.
    pub drop_no_sa: u64,
    /// Dropped by the ESP engine (reason counted on the SA or the ESP worker).
    pub drop_esp: u64,
    /// Protect policy without an SA, packet not held (holding disabled).
    pub drop_acquire: u64,
    /// No route.
    pub drop_no_route: u64,
    /// Given up by the neighbour table (resolution failed, table or queue full).
    pub drop_neighbour: u64,
    /// TTL ran out.
    pub drop_ttl: u64,
    /// No headroom for the L2 header.
    pub drop_no_room: u64,
    /// No buffer for an ARP request or an ICMP error.
    pub drop_no_buffer: u64,
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

/// One worker core's pipeline state. `A` makes buffers for ARP requests, ICMP errors and
/// ESP fragments.
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
    encap: Vec<B>,
    encap_sa: Vec<SaIndex>,
    /// Per collected packet: whether its SA was still installed at the encap lookup.
    encap_found: Vec<bool>,
    extra: Vec<B>,
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
                icmp: IcmpRateLimiter::new(n_ifaces, rate, burst),
                alloc,
                counters: Counters::default(),
                neigh_events: Vec::with_capacity(b),
            },
            refs: SaRefs::with_capacity(b),
            decap: Vec::with_capacity(b),
            decap_ingress: Vec::with_capacity(b),
            encap: Vec::with_capacity(b),
            encap_sa: Vec::with_capacity(b),
            encap_found: Vec::with_capacity(b),
            extra: Vec::with_capacity(b),
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

    /// The neighbour table.
    pub fn neighbours(&self) -> &NeighTable<Ipv4Addr, B> {
        &self.out.neigh
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
                Verdict::Local(punt) => {
                    let Some(pkt) = strip_l2(pkt, c.l3_offset, c.l3_len) else {
                        self.out.counters.drop_malformed += 1;
                        continue;
                    };
                    if punt == Punt::IcmpEcho && pkt.data().first().is_some_and(|b| b >> 4 == 4) {
                        self.echo(iface, pkt, now_ns, tx);
                    } else {
                        let reason = match punt {
                            Punt::Ike500 | Punt::Ike4500 => ControlReason::Ike,
                            _ => ControlReason::NotEsp,
                        };
                        self.punt(reason, pkt);
                    }
                }
                Verdict::EspToUs { .. } => match strip_l2(pkt, c.l3_offset, c.l3_len) {
                    Some(pkt) => {
                        self.decap.push(pkt);
                        self.decap_ingress.push(iface);
                    }
                    None => self.out.counters.drop_malformed += 1,
                },
                Verdict::Forward(Family::V4) => match strip_l2(pkt, c.l3_offset, c.l3_len) {
                    Some(pkt) => self.outbound(iface, pkt, now_ns, tx),
                    None => self.out.counters.drop_malformed += 1,
                },
                Verdict::Forward(Family::V6) => self.out.counters.drop_unsupported += 1,
            }
        }
        self.run_decap(now_ns, tx);
        self.run_encap(now_ns, tx);
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
        let Egress { neigh, neigh_events, .. } = &mut self.out;
        neigh.poll(now_ns, &mut |e| neigh_events.push(e));
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

    /// Stage 2 for one plaintext IPv4 packet.
    fn outbound(&mut self, ingress: IfIndex, pkt: B, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        let (key, decision) = match self.spd.classify_packet(pkt.data()) {
            Ok(kd) => kd,
            Err(_) => {
                self.out.counters.drop_malformed += 1;
                return;
            }
        };
        match decision {
            Decision::Bypass => self.out.output(pkt, Some(ingress), true, now_ns, tx),
            Decision::Discard => self.out.counters.drop_spd += 1,
            Decision::Protect { sa: Some(idx), .. } => {
                if self.sas.outbound(idx).is_some() {
                    self.encap.push(pkt);
                    self.encap_sa.push(idx);
                } else {
                    self.out.counters.drop_no_sa += 1;
                }
            }
            Decision::Protect { policy, sa: None } => {
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

    /// One `encap_burst` over the collected packets, then stage 3 for the outer packets.
    fn run_encap(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        if self.encap.is_empty() {
            return;
        }
        let Worker { esp, sas, refs, encap, encap_sa, encap_found, extra, out, .. } = self;
        // The control thread may delete an SA at any time (QSBR only delays freeing it). One
        // lookup per packet here: the references handed to `encap_burst` are the ones found,
        // and the packets whose SA went away since they were collected are dropped, in order.
        encap_found.clear();
        let slice = refs.fill(encap_sa.iter().filter_map(|&idx| {
            let sa = sas.outbound(idx);
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
        let d = esp::encap_burst(esp, slice, encap, extra, &mut out.alloc, now_ns);
        for (pkt, d) in encap.drain(..).zip(d.iter()) {
            match d {
                Disposition::Forward | Disposition::IcmpError => {
                    out.output(pkt, None, false, now_ns, tx)
                }
                Disposition::Drop(_) | Disposition::ToControl(_) | Disposition::Consumed => {
                    out.counters.drop_esp += 1
                }
            }
        }
        for pkt in extra.drain(..) {
            out.output(pkt, None, false, now_ns, tx);
        }
        encap_sa.clear();
    }

    /// One `decap_burst` over the collected ESP packets, then stage 3 for the inner ones.
    fn run_decap(&mut self, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        if self.decap.is_empty() {
            return;
        }
        let Worker { esp, sas, decap, decap_ingress, out, queues, .. } = self;
        let r = esp::decap_burst(esp, decap, |spi| sas.inbound(spi), &mut out.alloc, now_ns);
        for ((pkt, r), &ingress) in decap.drain(..).zip(r.iter()).zip(decap_ingress.iter()) {
            match r.disposition {
                Disposition::Forward => out.output(pkt, Some(ingress), true, now_ns, tx),
                Disposition::IcmpError => out.output(pkt, None, false, now_ns, tx),
                Disposition::ToControl(reason) => {
                    out.counters.punts += 1;
                    if queues.events.push(Event::Punt { reason, packet: pkt }).is_err() {
                        out.counters.events_refused += 1;
                    }
                }
                Disposition::Drop(_) => out.counters.drop_esp += 1,
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

    /// Answers an ICMPv4 echo request to us in place.
    fn echo(&mut self, iface: IfIndex, mut pkt: B, now_ns: u64, tx: &mut impl FnMut(u16, B)) {
        match forward::echo_reply_v4(pkt.data_mut()) {
            Ok(n) if pkt.trim(pkt.len().saturating_sub(n)).is_ok() => {
                self.out.counters.echo_replies += 1;
                self.out.output(pkt, Some(iface), false, now_ns, tx);
            }
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

/// Removes the L2 header and any Ethernet padding; `None` when the lengths do not fit.
fn strip_l2<B: PacketBuf>(mut pkt: B, l3_offset: usize, l3_len: usize) -> Option<B> {
    pkt.adj(l3_offset).ok()?;
    let pad = pkt.len().checked_sub(l3_len)?;
    pkt.trim(pad).ok()?;
    Some(pkt)
}
