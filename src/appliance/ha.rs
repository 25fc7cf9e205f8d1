//! The appliance's failover unit (issue 9): [`control::ha::Pair`] on the control thread,
//! its failover link through the dataplane, and what a role change does to the unit.
//!
//! - **Link.** Failover messages are UDP datagrams between `[ha] local` and `peer` on port
//!   [`FAILOVER_PORT`], sent and received through the `[ha] interface` like any traffic
//!   to and from the appliance (punted, then [`Command::Transmit`]); the pair seals them.
//! - **Addresses.** Active, the unit holds every interface's `address` and `mac`;
//!   otherwise their `standby_address` and `standby_mac` (or none / the port's MAC), the
//!   failover interface keeping its own address. On becoming active the workers switch
//!   and announce every address by gratuitous ARP, so that neighbours and switches move.
//! - **Replication.** Active, the unit compares its IKEv2 SAs with what it last sent every
//!   [`SCAN_EVERY`] (at most [`SCAN_BATCH`] SAs a round, round robin) and sends what
//!   changed (new SAs, Message IDs, rekeys, deletes), and every second each Child SA's
//!   outbound sequence number and inbound window top. Standby, the pair keeps the copy.
//! - **Takeover.** The copy is installed by [`IkeDaemon::ha_adopt`](super::ike): same SPIs
//!   and keys, sequence numbers jumped past anything the old active can have sent. On
//!   becoming standby the unit withdraws its SAs silently and starts a fresh IKE daemon.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use control::ha::{
    ActiveReason, ChildSaRecord, Event, IkeSaRecord, Pair, PairConfig, Record, ReplayState,
    StandbyReason, State,
};
use control::policy::HaConfig;
use control::rng::OsRng;
use control::time::Time;
use dataplane::l3::Interfaces;
use dataplane::queue::{Command, ControlEnd};
use dataplane::table::SaTable;

use super::ike::IkeDaemon;
use crate::dpdk::{Mbuf, Mempool};
use crate::operator::failover::{FailoverAction, FailoverSnap};

/// The failover link's UDP port (both ends).
pub(crate) const FAILOVER_PORT: u16 = 18_517;
/// How often the active looks for changed SAs.
const SCAN_EVERY: Duration = Duration::from_millis(20);
/// SAs exported per look.
const SCAN_BATCH: usize = 512;
/// How often sequence numbers and replay windows are replicated (the takeover margin's
/// `update_interval`).
const SEQ_EVERY: Duration = Duration::from_secs(1);
/// After a takeover, the addresses are announced again this long after the first time.
/// Frames the old active still sent after the first announcement (its last decrypted
/// packets) teach switches its port again; each announcement takes the MAC back.
const REANNOUNCE: [Duration; 6] = [
    Duration::from_millis(3),
    Duration::from_millis(8),
    Duration::from_millis(20),
    Duration::from_millis(50),
    Duration::from_millis(300),
    Duration::from_secs(1),
];
/// A unit handing over keeps forwarding at most this long for the mate to become active.
const DRAIN: Duration = Duration::from_millis(100);
/// ... and this long after the mate said it is active.
const SETTLE: Duration = Duration::from_millis(5);
/// The tracing target of role changes.
const TARGET: &str = "ha";

/// What was last replicated of one IKE SA (lifetimes, sequence numbers and windows
/// zeroed: they change by themselves and travel apart).
#[derive(Default)]
struct Sent {
    ike: Option<IkeSaRecord>,
    children: HashMap<u32, ChildSaRecord>,
    /// Per Child SA: the (outbound, inbound) numbers last sent.
    seqs: HashMap<u32, (u64, u64)>,
}

/// Which addresses the workers hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Active,
    Standby,
    Draining,
}

/// What a role change asks of the control thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleChange {
    /// Became active: the IKE daemon was given the copy. The caller installs what the
    /// SAs need besides (the dynamic entries' policies), then [`HaUnit::claim_addresses`].
    Active,
    /// Became standby: the IKE daemon must be rebuilt empty.
    Standby,
}

/// The interfaces' addresses and MACs in each role.
pub(crate) struct InterfaceSets {
    /// `address` and `mac`.
    pub active: Interfaces,
    /// `standby_address` and `standby_mac` (the failover interface's own).
    pub standby: Interfaces,
    /// Handing over: the active addresses, sent from `standby_mac`, frames to `mac`
    /// still taken. Switches keep the pair's MAC on the new active's port (nothing is
    /// sent from it here) while what already heads for this unit is forwarded.
    pub draining: Interfaces,
}

pub(crate) struct HaUnit {
    pair: Pair,
    local: SocketAddr,
    peer: SocketAddr,
    hello_ms: u64,
    hold_ms: u64,
    ifaces: InterfaceSets,
    epoch: Instant,
    sent: HashMap<u64, Sent>,
    cursor: usize,
    next_scan: Instant,
    next_seq: Instant,
    takeovers: u64,
    last_change: Option<(String, Instant)>,
    installed_ike: u64,
    installed_child: u64,
    install_failed: u64,
    /// Datagrams that could not be sent (no mbuf, ring full).
    tx_dropped: u64,
    /// A planned handover: this unit forwards until the mate is active, or this deadline.
    draining: Option<Instant>,
    /// When to announce the addresses again after a takeover.
    reannounce: Vec<Instant>,
    /// A switchover was asked for: poll closely until then.
    hurry_until: Option<Instant>,
    /// Handing over: when the mate was first heard active.
    mate_active_since: Option<Instant>,
}

impl HaUnit {
    /// The unit for `[ha]`, with the interfaces it holds as active and as standby.
    pub(crate) fn new(ha: &HaConfig, ifaces: InterfaceSets) -> Result<HaUnit, String> {
        let key = match &ha.key {
            control::policy::Secret::Inline(_) => None,
            s @ control::policy::Secret::File(_) => {
                let k = super::ike::read_secret(s)?;
                Some(control::crypto::SecretBytes::from_slice(&k))
            }
        };
        let cfg = PairConfig::from_ha(ha, key).map_err(|e| format!("[ha]: {e}"))?;
        let pair = Pair::new(cfg, Time::ZERO, &mut OsRng).map_err(|e| format!("[ha]: {e}"))?;
        let now = Instant::now();
        tracing::info!(
            target: TARGET,
            "failover: {:?} unit, link {} -> {} on {} (hello {} ms, hold {} ms); negotiating",
            ha.role,
            ha.local,
            ha.peer,
            ha.interface,
            ha.poll_ms,
            ha.hold_ms
        );
        Ok(HaUnit {
            pair,
            local: SocketAddr::new(ha.local, FAILOVER_PORT),
            peer: SocketAddr::new(ha.peer, FAILOVER_PORT),
            hello_ms: u64::from(ha.poll_ms),
            hold_ms: u64::from(ha.hold_ms),
            ifaces,
            epoch: now,
            sent: HashMap::new(),
            cursor: 0,
            next_scan: now,
            next_seq: now,
            takeovers: 0,
            last_change: None,
            installed_ike: 0,
            installed_child: 0,
            install_failed: 0,
            tx_dropped: 0,
            draining: None,
            reannounce: Vec::new(),
            hurry_until: None,
            mate_active_since: None,
        })
    }

    /// What the workers hold while this unit is not active.
    pub(crate) fn standby_interfaces(&self) -> &Interfaces {
        &self.ifaces.standby
    }

    fn now(&self) -> Time {
        Time::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    /// Whether this unit forwards, negotiates and answers IKE.
    pub(crate) fn is_active(&self) -> bool {
        self.pair.state() == State::Active
    }

    /// A punted packet: true when it was a failover datagram (taken).
    pub(crate) fn on_punt(&mut self, ip: &[u8]) -> bool {
        let Some(payload) = failover_payload(ip, self.local, self.peer) else { return false };
        let now = self.now();
        self.pair.handle(now, payload);
        true
    }

    /// Timers, events, replication and transmits. Returns the role change the caller
    /// must finish (rebuilding the IKE daemon on becoming standby).
    pub(crate) fn poll<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        table: &mut SaTable,
        pool: Option<&Mempool<'e>>,
        ike: Option<&mut IkeDaemon>,
        created_ns: u64,
    ) -> Option<RoleChange> {
        let now = self.now();
        if self.pair.poll_timeout().is_some_and(|t| now >= t) {
            self.pair.handle_timeout(now);
        }
        let mut ike = ike;
        let mut change = None;
        while let Some(ev) = self.pair.poll_event() {
            match ev {
                Event::BecameActive { reason } => {
                    self.takeovers += 1;
                    self.sent.clear();
                    let t = self.pair.take_over().unwrap_or_default();
                    let (n_ike, n_child) = (t.ike.len(), t.children.len());
                    let old_ids: Vec<u64> = t.ike.iter().map(|r| r.id).collect();
                    if let Some(ike) = ike.as_deref_mut() {
                        let done = ike.ha_adopt(controls, table, created_ns, t);
                        self.installed_ike += done.ike_sas;
                        self.installed_child += done.child_sas;
                        self.install_failed += done.failed;
                    }
                    // The mirror (what a standby joining later copies) holds the SAs under
                    // the old active's ids; this unit's next scan sends them under its own.
                    for id in old_ids {
                        self.replicate(now, Record::DeleteIke(id));
                    }
                    self.draining = None;
                    self.hurry_until = None;
                    let why = active_reason(reason);
                    tracing::warn!(
                        target: TARGET,
                        "failover: this unit is now ACTIVE ({why}); took over {n_ike} IKE SA(s), \
                         {n_child} Child SA(s)"
                    );
                    self.last_change = Some((format!("active ({why})"), Instant::now()));
                    change = Some(RoleChange::Active);
                }
                Event::BecameStandby { reason } => {
                    let why = standby_reason(reason);
                    self.last_change = Some((format!("standby ({why})"), Instant::now()));
                    self.reannounce.clear();
                    if matches!(reason, StandbyReason::Manual | StandbyReason::Preempted) {
                        // A planned handover: keep forwarding until the mate says it is
                        // active (it claims the addresses then), so that no packet finds
                        // neither unit holding them.
                        tracing::warn!(
                            target: TARGET,
                            "failover: this unit is now STANDBY ({why}); forwarding until the \
                             mate is active"
                        );
                        self.set_interfaces(controls, Held::Draining);
                        self.draining = Some(Instant::now() + DRAIN);
                    } else {
                        tracing::warn!(target: TARGET, "failover: this unit is now STANDBY ({why})");
                        self.withdraw(controls, table, ike.as_deref_mut());
                        change = Some(RoleChange::Standby);
                    }
                }
                Event::BadMessage(e) => {
                    tracing::debug!(target: TARGET, "failover: datagram refused: {e}");
                }
                other => tracing::info!(target: TARGET, "failover: {other:?}"),
            }
        }
        if let Some(deadline) = self.draining {
            let mate_active = self.pair.status().mate.and_then(|m| m.hello).map(|h| h.state)
                == Some(State::Active);
            let at = Instant::now();
            if mate_active && self.mate_active_since.is_none() {
                // Its announcement went out before its hello: what was already on the way
                // here arrives within a few milliseconds.
                self.mate_active_since = Some(at);
            }
            let settled = self.mate_active_since.is_some_and(|t| at >= t + SETTLE);
            if settled || at >= deadline {
                self.mate_active_since = None;
                self.draining = None;
                if !self.is_active() {
                    if !mate_active {
                        tracing::warn!(target: TARGET, "failover: the mate did not report active");
                    }
                    self.withdraw(controls, table, ike.as_deref_mut());
                    change = Some(RoleChange::Standby);
                }
            }
        }
        if self.reannounce.first().is_some_and(|t| Instant::now() >= *t) {
            // Again, for a switch or neighbour that a frame of the old active taught
            // otherwise in the meantime.
            self.reannounce.remove(0);
            self.set_interfaces(controls, Held::Active);
        }
        if self.is_active()
            && let Some(ike) = ike.as_deref()
        {
            let at = Instant::now();
            if at >= self.next_scan {
                self.next_scan = at + SCAN_EVERY;
                self.scan(now, ike, table);
            }
            if at >= self.next_seq {
                self.next_seq = at + SEQ_EVERY;
                self.sequence_numbers(now, ike, table);
            }
        }
        while let Some(d) = self.pair.poll_transmit() {
            self.transmit(controls, pool, &d);
        }
        change
    }

    /// Gives up the addresses and the SAs (the caller rebuilds the IKE daemon).
    fn withdraw(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        ike: Option<&mut IkeDaemon>,
    ) {
        self.set_interfaces(controls, Held::Standby);
        if let Some(ike) = ike {
            ike.ha_withdraw(controls, table);
        }
        self.sent.clear();
    }

    /// Whether a role change is under way (a switchover asked for, a handover draining,
    /// announcements due): the control thread then polls without sleeping, since every
    /// millisecond of it is traffic that no unit forwards.
    pub(crate) fn hurried(&self) -> bool {
        let now = Instant::now();
        self.draining.is_some()
            || self.reannounce.first().is_some_and(|t| *t <= now + Duration::from_millis(60))
            || self.hurry_until.is_some_and(|t| now < t)
    }

    /// Whether the IKE daemon runs: active, and not handing over.
    pub(crate) fn runs_ike(&self) -> bool {
        self.is_active()
    }

    /// After a takeover, once the SAs, their bindings and the policies of dynamic entries'
    /// clients are queued (same command rings, applied in order): the addresses, announced.
    /// The first frame the announcement draws here then finds all of them; claimed before
    /// the policies, a remote-access client's first reply met the default action.
    pub(crate) fn claim_addresses(&mut self, controls: &mut [ControlEnd<Mbuf<'_>>]) {
        self.set_interfaces(controls, Held::Active);
        let at = Instant::now();
        self.reannounce = REANNOUNCE.iter().map(|d| at + *d).collect();
    }

    fn set_interfaces(&mut self, controls: &mut [ControlEnd<Mbuf<'_>>], role: Held) {
        let ifaces = match role {
            Held::Active => &self.ifaces.active,
            Held::Standby => &self.ifaces.standby,
            Held::Draining => &self.ifaces.draining,
        };
        for (w, c) in controls.iter_mut().enumerate() {
            // One worker announces: the others would only repeat it.
            let announce = role == Held::Active && w == 0;
            let cmd = Command::SetInterfaces { ifaces: Box::new(ifaces.clone()), announce };
            if c.commands.push(cmd).is_err() {
                tracing::error!(
                    target: TARGET,
                    "failover: worker {} did not take the new addresses (command ring full)",
                    c.worker
                );
            }
        }
    }

    fn replicate(&mut self, now: Time, r: Record) {
        if let Err(e) = self.pair.replicate(now, r) {
            tracing::warn!(target: TARGET, "failover: not replicated: {e}");
        }
    }

    /// Sends what changed in a batch of IKE SAs, and the deletes.
    fn scan(&mut self, now: Time, ike: &IkeDaemon, table: &SaTable) {
        let handles = ike.ha_handles();
        // A set: with 10,000 SAs a scan per SA would cost 10^8 steps every round.
        let live: std::collections::HashSet<u64> = handles.iter().map(|h| h.0).collect();
        let gone: Vec<u64> = self.sent.keys().filter(|id| !live.contains(id)).copied().collect();
        for id in gone {
            self.sent.remove(&id);
            self.replicate(now, Record::DeleteIke(id));
        }
        if handles.is_empty() {
            return;
        }
        let n = handles.len();
        let take = n.min(SCAN_BATCH);
        let ike_now = ike.ha_now();
        for k in 0..take {
            let h = handles[(self.cursor + k) % n];
            let Some((rec, children)) = ike.ha_export(h, ike_now) else { continue };
            let mut sent = self.sent.remove(&rec.id).unwrap_or_default();
            let key = ike_key(&rec);
            if sent.ike.as_ref() != Some(&key) {
                self.replicate(now, Record::UpsertIke(rec.clone()));
                sent.ike = Some(key);
            }
            let gone: Vec<u32> = sent
                .children
                .keys()
                .filter(|s| !children.iter().any(|c| c.inbound_spi == **s))
                .copied()
                .collect();
            for spi in gone {
                sent.children.remove(&spi);
                sent.seqs.remove(&spi);
                self.replicate(now, Record::DeleteChild(spi));
            }
            for mut c in children {
                let key = child_key(&c);
                if sent.children.get(&c.inbound_spi) == Some(&key) {
                    continue;
                }
                if let Some((out, top)) = ike.ha_child_state(table, c.inbound_spi) {
                    c.outbound_seq = out;
                    c.replay = window(top);
                    sent.seqs.insert(c.inbound_spi, (out, top));
                }
                sent.children.insert(c.inbound_spi, key);
                self.replicate(now, Record::UpsertChild(c));
            }
            self.sent.insert(rec.id, sent);
        }
        self.cursor = (self.cursor + take) % n;
    }

    /// Each Child SA's outbound sequence number and inbound window top, where they moved.
    fn sequence_numbers(&mut self, now: Time, ike: &IkeDaemon, table: &SaTable) {
        let mut updates = Vec::new();
        for sent in self.sent.values_mut() {
            for (&spi, last) in sent.seqs.iter_mut() {
                let Some((out, top)) = ike.ha_child_state(table, spi) else { continue };
                if out != last.0 {
                    updates.push(Record::SeqUpdate { inbound_spi: spi, outbound_seq: out });
                }
                if top != last.1 {
                    let w = window(top);
                    updates.push(Record::ReplayUpdate {
                        inbound_spi: spi,
                        highest: w.highest,
                        bitmap: w.bitmap,
                    });
                }
                *last = (out, top);
            }
        }
        for r in updates {
            self.replicate(now, r);
        }
    }

    fn transmit<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        pool: Option<&Mempool<'e>>,
        datagram: &[u8],
    ) {
        use dataplane::buf::PacketBuf;
        let sent = (|| {
            let len = dataplane::ike_io::emit_len(self.local, self.peer, datagram.len())?;
            let mut m = pool?.alloc()?;
            m.append(len).ok()?;
            dataplane::ike_io::emit(m.data_mut(), self.local, self.peer, datagram)?;
            controls.first_mut()?.commands.push(Command::Transmit(m)).ok()
        })();
        if sent.is_none() {
            self.tx_dropped += 1;
        }
    }

    /// `failover active`, `no failover active`, `failover reload-standby`.
    pub(crate) fn command(&mut self, action: FailoverAction) -> Result<String, String> {
        let now = self.now();
        if action != FailoverAction::ReloadStandby {
            self.hurry_until = Some(Instant::now() + Duration::from_millis(self.hold_ms));
        }
        let r = match action {
            FailoverAction::Active => self
                .pair
                .request_active(now)
                .map(|()| "switchover requested: this unit becomes active".to_owned()),
            FailoverAction::Standby => self
                .pair
                .request_standby(now)
                .map(|()| "switchover requested: the mate becomes active".to_owned()),
            FailoverAction::ReloadStandby => self
                .pair
                .request_reload_standby()
                .map(|()| "the standby rebuilds its copy".to_owned()),
        };
        r.map_err(|e| format!("failover: {e}"))
    }

    /// `show failover`.
    pub(crate) fn snapshot(&self) -> FailoverSnap {
        let s = self.pair.status();
        let st = self.pair.stats();
        let state = |s: State| {
            match s {
                State::Negotiating => "negotiating",
                State::Active => "active",
                State::Standby => "standby",
            }
            .to_owned()
        };
        let records = st.replication.records.max(self.pair.store().applied());
        FailoverSnap {
            role: format!("{:?}", s.role).to_lowercase(),
            state: state(s.state),
            synced: s.synced,
            mate_up: s.mate.is_some_and(|m| m.up),
            mate_state: s.mate.and_then(|m| m.hello).map(|h| state(h.state)),
            local: self.local.ip().to_string(),
            peer: self.peer.ip().to_string(),
            hello_ms: self.hello_ms,
            hold_ms: self.hold_ms,
            ike_sas: s.ike_sas,
            child_sas: s.child_sas,
            takeovers: self.takeovers,
            last_change: self.last_change.as_ref().map(|(c, _)| c.clone()),
            last_change_age_s: self.last_change.as_ref().map(|(_, t)| t.elapsed().as_secs()),
            messages_sent: st.sent,
            messages_received: st.received,
            messages_refused: st.bad.total(),
            records,
            installed_ike_sas: self.installed_ike,
            installed_child_sas: self.installed_child,
            install_failed: self.install_failed,
            ike_dropped_not_active: 0,
        }
    }
}

/// The record as compared between two scans: lifetimes left out (they count down).
fn ike_key(r: &IkeSaRecord) -> IkeSaRecord {
    IkeSaRecord { soft_lifetime_secs: 0, hard_lifetime_secs: 0, ..r.clone() }
}

/// The Child SA record as compared: lifetimes, sequence numbers and window left out.
fn child_key(c: &ChildSaRecord) -> ChildSaRecord {
    ChildSaRecord {
        lifetimes: Default::default(),
        outbound_seq: 0,
        replay: ReplayState { highest: 0, bitmap: vec![0] },
        ..c.clone()
    }
}

/// An inbound window as replicated: its top, everything below taken as received (what the
/// dataplane resumes with, [`dataplane::sa::ReplayWindow::starting_at`]).
fn window(top: u64) -> ReplayState {
    ReplayState { highest: top, bitmap: vec![u64::MAX] }
}

/// The payload of a UDP datagram from the mate to our failover address and port.
fn failover_payload(ip: &[u8], local: SocketAddr, peer: SocketAddr) -> Option<&[u8]> {
    use dataplane::wire::{IpProtocol, ipv4, ipv6, udp};
    let (src, dst, udp_bytes) = match ip.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked(ip).ok()?;
            if p.is_fragment() {
                return None;
            }
            let r = ipv4::Repr::parse(&p).ok()?;
            if r.next_header != IpProtocol::Udp {
                return None;
            }
            let u = udp::Packet::new_checked(p.payload()).ok()?;
            udp::Repr::parse_v4(&u, &r.src_addr, &r.dst_addr).ok()?;
            (IpAddr::V4(r.src_addr), IpAddr::V4(r.dst_addr), p.payload())
        }
        6 => {
            let p = ipv6::Packet::new_checked(ip).ok()?;
            let r = ipv6::Repr::parse(&p).ok()?;
            if r.next_header != IpProtocol::Udp {
                return None;
            }
            let u = udp::Packet::new_checked(p.payload()).ok()?;
            udp::Repr::parse_v6(&u, &r.src_addr, &r.dst_addr).ok()?;
            (IpAddr::V6(r.src_addr), IpAddr::V6(r.dst_addr), p.payload())
        }
        _ => return None,
    };
    let u = udp::Packet::new_checked(udp_bytes).ok()?;
    (src == peer.ip()
        && dst == local.ip()
        && u.dst_port() == local.port()
        && u.src_port() == peer.port())
    .then(|| u.payload())
}

fn active_reason(r: ActiveReason) -> &'static str {
    match r {
        ActiveReason::MateSilent { .. } => "mate silent for the hold time",
        ActiveReason::Manual => "failover active",
        ActiveReason::Elected => "elected",
        ActiveReason::MateReportedFailure => "the mate reported an interface failure",
        ActiveReason::MateRestarted => "the active mate restarted",
        ActiveReason::Preempt => "preemption",
    }
}

fn standby_reason(r: StandbyReason) -> &'static str {
    match r {
        StandbyReason::MateActive => "an active mate answered",
        StandbyReason::Elected => "lost the election",
        StandbyReason::SplitBrain => "split brain resolved for the mate",
        StandbyReason::Manual => "switchover",
        StandbyReason::Preempted => "the primary preempted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
        let from = SocketAddr::from((src, sport));
        let to = SocketAddr::from((dst, dport));
        // ike_io emits a plain UDP datagram between ports other than 4500.
        let len = dataplane::ike_io::emit_len(from, to, body.len()).unwrap();
        let mut buf = vec![0; len];
        dataplane::ike_io::emit(&mut buf, from, to, body).unwrap();
        buf
    }

    #[test]
    fn only_the_mates_datagrams_to_our_port_are_taken() {
        let local = SocketAddr::from(([198, 18, 0, 1], FAILOVER_PORT));
        let peer = SocketAddr::from(([198, 18, 0, 2], FAILOVER_PORT));
        let ok = udp_packet([198, 18, 0, 2], [198, 18, 0, 1], FAILOVER_PORT, FAILOVER_PORT, b"x");
        assert_eq!(failover_payload(&ok, local, peer), Some(&b"x"[..]));
        let stranger =
            udp_packet([198, 18, 0, 9], [198, 18, 0, 1], FAILOVER_PORT, FAILOVER_PORT, b"x");
        assert_eq!(failover_payload(&stranger, local, peer), None);
        let other_port = udp_packet([198, 18, 0, 2], [198, 18, 0, 1], FAILOVER_PORT, 53, b"x");
        assert_eq!(failover_payload(&other_port, local, peer), None);
        let mut bad_sum = ok.clone();
        let last = bad_sum.len() - 1;
        bad_sum[last] ^= 0xff;
        assert_eq!(failover_payload(&bad_sum, local, peer), None);
        for n in 0..ok.len() {
            assert_eq!(failover_payload(&ok[..n], local, peer), None, "truncated at {n}");
        }
    }

    #[test]
    fn comparison_keys_ignore_what_changes_by_itself() {
        let w = window(77);
        assert_eq!((w.highest, w.bitmap.as_slice()), (77, &[u64::MAX][..]));
    }
}
