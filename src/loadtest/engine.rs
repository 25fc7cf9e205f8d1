//! The load tester's event loop: one thread, one nonblocking UDP socket per source
//! address/port, epoll for readiness, one [`IkeSa`] (or with IKEv1 one [`Ikev1Sa`]) per
//! tunnel and a timer heap fed by their `poll_timeout`.
//!
//! A run goes through phases: setup (tunnels started at the target rate or as fast as the
//! in-flight bound lets them), optionally ICMP echo through every tunnel (`--traffic`,
//! [`Traffic`]), optionally a rekey storm (every tunnel's Child SA and/or IKE
//! SA rekeyed at once, paced the same way), an optional hold, and the teardown (DELETE of
//! every IKE SA, unless `--keep`). The `--duration` cap and Ctrl-C cut setup, traffic,
//! rekey and hold short and go to the teardown, which has its own bound.
//!
//! Datagrams go only to the target's address: to its IKE port, or to 4500 with the non-ESP
//! marker once an SA has floated there (NAT detected, RFC 7296 section 2.23; strongSwan
//! with kernel-libipsec always fakes a NAT to get UDP-encapsulated ESP). Datagrams from any
//! other address are dropped unread. With `--traffic`, ESP goes to the same address, raw or
//! in UDP 4500, and comes back on a raw socket or the tunnels' own sockets.
//!
//! Both state machines report the same [`Event`]s, so the engine's bookkeeping is one; the
//! [`Sa`] adapter hides the rest. An IKEv1 tunnel's messages are routed by our initiator
//! cookie (we always initiate; every message of the ISAKMP SA, Quick Mode and
//! Informational ones included, carries it), an IKEv2 tunnel's by our SPI.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use control::ikev1::sa::{Ikev1Config, Ikev1Sa};
use control::ikev2::sa::{Event, FailureCause, IkeSa, PeerConfig, Transmit};
use control::ikev2::selectors::PolicySelectors;
use control::ikev2::wire::Header;
use control::retransmit::RetransmitPolicy;
use control::rng::OsRng;
use control::time::Time;
use hdrhistogram::Histogram;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use super::pattern::{IdPattern, NAT_T_PORT, TsPattern};
use super::report::{
    Failures, Latency, Memory, Phase as PhaseReport, RekeyReport, Report, SocketStats, StopReason,
    TeardownReport, Usage,
};
use super::traffic::{Traffic, TrafficPlan};

/// What to rekey in the storm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RekeyKind {
    /// Every tunnel's Child SA (CREATE_CHILD_SA with REKEY_SA; IKEv1: a Quick Mode).
    Child,
    /// Every IKE SA (CREATE_CHILD_SA with a new IKE SA).
    Ike,
    /// Both, the Child SA first.
    Both,
}

/// The template of every tunnel's configuration, by IKE version.
#[derive(Debug, Clone)]
pub enum Base {
    /// IKEv2.
    V2(PeerConfig),
    /// IKEv1: Main Mode with the pre-shared key, then one Quick Mode.
    V1(Ikev1Config),
}

impl Base {
    /// The IKE version.
    pub fn version(&self) -> u8 {
        match self {
            Base::V2(_) => 2,
            Base::V1(_) => 1,
        }
    }

    /// The retransmission schedule of every request.
    pub fn retransmit(&self) -> RetransmitPolicy {
        match self {
            Base::V2(c) => c.retransmit,
            Base::V1(c) => c.retransmit,
        }
    }
}

/// One tunnel's configuration.
#[derive(Debug, Clone)]
pub enum TunnelConfig {
    /// IKEv2.
    V2(PeerConfig),
    /// IKEv1.
    V1(Ikev1Config),
}

impl TunnelConfig {
    /// Checks what the state machine relies on.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TunnelConfig::V2(c) => c.validate().map_err(|e| e.to_string()),
            TunnelConfig::V1(c) => c.validate().map_err(|e| e.to_string()),
        }
    }

    /// The tunnel's state machine, started.
    fn initiate(self, now: Time, rng: &mut OsRng) -> Result<Sa, String> {
        match self {
            TunnelConfig::V2(c) => {
                IkeSa::initiate(now, c, rng).map(|s| Sa::V2(Box::new(s))).map_err(|e| e.to_string())
            }
            TunnelConfig::V1(c) => Ikev1Sa::initiate(now, c, rng)
                .map(|s| Sa::V1(Box::new(s)))
                .map_err(|e| e.to_string()),
        }
    }
}

/// One tunnel's state machine. Both report [`Event`]s; the differences are here.
enum Sa {
    V2(Box<IkeSa>),
    V1(Box<Ikev1Sa>),
}

impl Sa {
    fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Sa::V2(s) => s.poll_transmit(),
            Sa::V1(s) => s.poll_transmit(),
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        match self {
            Sa::V2(s) => s.poll_event(),
            Sa::V1(s) => s.poll_event(),
        }
    }

    fn poll_timeout(&self) -> Option<Time> {
        match self {
            Sa::V2(s) => s.poll_timeout(),
            Sa::V1(s) => s.poll_timeout(),
        }
    }

    fn handle(&mut self, now: Time, msg: &[u8], from: SocketAddr, rng: &mut OsRng) {
        match self {
            Sa::V2(s) => s.handle(now, msg, from, rng),
            Sa::V1(s) => s.handle(now, msg, from, rng),
        }
    }

    fn handle_timeout(&mut self, now: Time, rng: &mut OsRng) {
        match self {
            Sa::V2(s) => s.handle_timeout(now, rng),
            Sa::V1(s) => s.handle_timeout(now, rng),
        }
    }

    /// Nothing left to do: ended, and (IKEv2) no late message left to answer. An ended
    /// IKEv1 SA has sent its DELETEs, which expect no answer.
    fn is_drained(&self, now: Time) -> bool {
        match self {
            Sa::V2(s) => s.is_drained(now),
            Sa::V1(s) => s.is_dead(),
        }
    }

    fn is_dead(&self) -> bool {
        match self {
            Sa::V2(s) => s.is_dead(),
            Sa::V1(s) => s.is_dead(),
        }
    }

    /// The keys inbound messages are routed by: our SPIs (IKEv2), our initiator cookies
    /// (IKEv1: the SA's own and, during a phase-1 renewal, the new one's).
    fn routes(&self) -> Vec<u64> {
        match self {
            Sa::V2(s) => s.routes().iter().map(|r| r.local()).collect(),
            Sa::V1(s) => s.cookies(),
        }
    }

    fn retransmits(&self) -> u64 {
        match self {
            Sa::V2(s) => s.stats().retransmits,
            Sa::V1(s) => s.stats().retransmits,
        }
    }

    fn child_spis(&self) -> Vec<(u32, u32)> {
        match self {
            Sa::V2(s) => s.child_spis(),
            Sa::V1(s) => s.child_spis(),
        }
    }

    fn rekey_child(&mut self, now: Time, inbound: u32, rng: &mut OsRng) -> bool {
        match self {
            Sa::V2(s) => s.rekey_child(now, inbound, rng),
            Sa::V1(s) => s.rekey_child(now, inbound, rng),
        }
    }

    /// False with IKEv1, which the plan refuses (no on-demand phase-1 rekey).
    fn rekey_ike(&mut self, now: Time, rng: &mut OsRng) -> bool {
        match self {
            Sa::V2(s) => s.rekey_ike(now, rng),
            Sa::V1(_) => false,
        }
    }

    /// DELETE of the IKE SA (IKEv1: of every Quick Mode SA and the ISAKMP SA).
    fn close(&mut self, now: Time, rng: &mut OsRng) {
        match self {
            Sa::V2(s) => s.close(now, rng),
            Sa::V1(s) => s.close(now, rng),
        }
    }
}

/// Everything a run needs, checked.
#[derive(Debug)]
pub struct Plan {
    /// The responder.
    pub target: SocketAddr,
    /// Tunnels to open.
    pub tunnels: u32,
    /// Setups (and rekeys, deletes) per second; `None`: as fast as `max_inflight` allows.
    pub rate: Option<f64>,
    /// Negotiations in flight at most.
    pub max_inflight: usize,
    /// The local addresses to bind, one socket each (port 0: the kernel picks one).
    pub sockets: Vec<SocketAddr>,
    /// The template of every tunnel's configuration (IKE version, proposals, key, timers);
    /// addresses, identity and selectors are filled in per tunnel.
    pub base: Base,
    /// Our side's selectors.
    pub local_ts: TsPattern,
    /// The responder's side's selectors.
    pub remote_ts: TsPattern,
    /// Our identity.
    pub local_id: IdPattern,
    /// Rekey storm this long after the setup ended.
    pub rekey_after: Option<Duration>,
    /// What the storm rekeys.
    pub rekey: RekeyKind,
    /// Keep the tunnels up this long before the teardown.
    pub hold: Duration,
    /// Safety cap on setup, rekey and hold together.
    pub duration: Duration,
    /// Bound on the teardown.
    pub teardown_timeout: Duration,
    /// Leave the tunnels up at the end.
    pub keep: bool,
    /// The responder's process, for its memory.
    pub responder_pid: Option<u32>,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// ICMP echo through every tunnel after the setup.
    pub traffic: Option<TrafficPlan>,
}

impl Plan {
    /// Tunnel `i`'s configuration: its socket's address, identity and selectors.
    pub fn tunnel_config(&self, i: u32, local: SocketAddr) -> Result<TunnelConfig, String> {
        let ts = |p: &TsPattern, own: IpAddr, side: &str| {
            p.selector(i, own)
                .ok_or_else(|| format!("{side} traffic selectors run out at tunnel {i}"))
        };
        let selectors = PolicySelectors {
            local: vec![ts(&self.local_ts, local.ip(), "local")?],
            remote: vec![ts(&self.remote_ts, self.target.ip(), "remote")?],
        };
        Ok(match &self.base {
            Base::V2(base) => {
                let mut cfg = base.clone();
                cfg.local_addr = local;
                cfg.remote_addr = self.target;
                cfg.local_id = self.local_id.id(i, local.ip());
                cfg.child.selectors = selectors;
                TunnelConfig::V2(cfg)
            }
            Base::V1(base) => {
                let mut cfg = base.clone();
                cfg.local = local;
                cfg.peer = self.target;
                cfg.local_id = self.local_id.v1_id(i, local.ip());
                cfg.selectors = selectors;
                TunnelConfig::V1(cfg)
            }
        })
    }
}

/// Where one tunnel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started.
    Idle,
    /// IKE_SA_INIT / IKE_AUTH under way.
    Negotiating,
    /// IKE SA and first Child SA up.
    Up,
    /// The setup failed (the IKE SA may be up with its Child SA refused).
    Failed,
    /// Went down after being up.
    Lost,
    /// DELETE sent in the teardown.
    Closing,
    /// Ended in the teardown.
    Gone,
}

/// A rekey of the storm waiting for its outcome. A Child SA rekey is over when the new pair
/// is up and the old one deleted (make-before-break), so that a run that ends right after
/// the storm (`--keep`) leaves no half-deleted pair behind; an IKE SA rekey when the new
/// IKE SA is up (the state machine reports no event for the old one's deletion).
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    /// The inbound SPI of the Child SA being rekeyed, until its replacement is up.
    child: Option<u32>,
    /// The inbound SPI of the replaced Child SA, until it is deleted.
    old_child: Option<u32>,
    /// An IKE SA rekey, until [`Event::IkeSaRekeyed`].
    ike: bool,
    /// Counted in `Counters::rekey_pending`.
    counted: bool,
    /// When to give up waiting (an IKE SA rekey the peer refuses reports no event).
    deadline: Time,
}

impl Pending {
    fn any(&self) -> bool {
        self.child.is_some() || self.old_child.is_some() || self.ike
    }
}

struct Tunnel {
    sa: Option<Sa>,
    sock: u32,
    state: State,
    started: Time,
    /// The timer pushed on the heap for this tunnel.
    armed: Option<Time>,
    /// The SPIs this tunnel is indexed under.
    routes: Vec<u64>,
    rekey: Pending,
}

struct Sock {
    udp: UdpSocket,
    local: SocketAddr,
}

/// The run's phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Traffic,
    RekeyWait(Time),
    Rekey,
    Hold(Time),
    Teardown(Time),
    Done,
}

#[derive(Default)]
struct Counters {
    started: u64,
    up: u64,
    negotiating: u64,
    failures: Failures,
    lost: Failures,
    first_start: Option<Time>,
    last_up: Option<Time>,
    setup_end: Option<Time>,
    retired_retransmits: u64,
    retransmits_setup: u64,
    rekey_requested: u64,
    rekey_child_ok: u64,
    rekey_ike_ok: u64,
    rekey_failures: Failures,
    rekey_pending: u64,
    rekey_start: Option<Time>,
    rekey_end: Option<Time>,
    rekey_last_ok: Option<Time>,
    peer_rekeys: u64,
    teardown_requested: u64,
    teardown_closed: u64,
    teardown_failures: Failures,
    closing: u64,
    teardown_start: Option<Time>,
    teardown_end: Option<Time>,
    socks: SocketStats,
}

/// A failure's cause as a stable, short key for counting (the typed [`FailureCause`]).
pub fn cause_key(c: &FailureCause) -> &'static str {
    match c {
        FailureCause::PeerUnreachable { .. } => "peer_unreachable",
        FailureCause::NoProposalChosen(_) => "no_proposal_chosen",
        FailureCause::AuthenticationFailed(_) => "authentication_failed",
        FailureCause::TsUnacceptable => "ts_unacceptable",
        FailureCause::InvalidKe { .. } => "invalid_ke",
        FailureCause::ProtocolError(_) => "protocol_error",
        _ => "other",
    }
}

struct Engine<'p> {
    plan: &'p Plan,
    socks: Vec<Sock>,
    tunnels: Vec<Tunnel>,
    by_spi: HashMap<u64, u32>,
    timers: BinaryHeap<Reverse<(Time, u32)>>,
    c: Counters,
    latency: Histogram<u64>,
    rng: OsRng,
    /// The next tunnel to act on in the current phase (start, rekey, close).
    cursor: u32,
    /// When the current phase's pacing started.
    paced_from: Time,
    /// When to look for rekeys without an outcome next.
    next_rekey_check: Time,
    /// `--traffic`: the Child SAs' keys as they come up, then the echo test.
    traffic: Option<Traffic>,
}

/// The responder's and the load tester's own memory and CPU time at one point of the run.
#[derive(Debug, Clone, Copy, Default)]
struct Samples {
    responder: Option<Sample>,
    ours: Option<Sample>,
}

impl Samples {
    fn take(plan: &Plan) -> Samples {
        Samples { responder: plan.responder_pid.and_then(|p| sample(Some(p))), ours: sample(None) }
    }
}

/// The longest the loop sleeps: progress lines are due every second.
const MAX_WAIT_MS: u64 = 250;

/// The epoll token of the raw ESP socket (the UDP sockets' are their indexes).
const RAW_TOKEN: u64 = u64::MAX;

impl Engine<'_> {
    /// Sends everything `idx`'s SA queued, handles its events, re-arms its timer and
    /// re-indexes its SPIs; drops it once it has nothing left to do.
    fn service(&mut self, idx: u32, now: Time) {
        let Some(t) = self.tunnels.get_mut(idx as usize) else { return };
        let Some(sa) = t.sa.as_mut() else { return };
        let target = self.plan.target;
        while let Some(tx) = sa.poll_transmit() {
            // Only the target's IKE ports (an SA replays answers to a request's source,
            // which is checked on receipt too).
            if tx.to.ip() != target.ip()
                || (tx.to.port() != target.port() && tx.to.port() != NAT_T_PORT)
            {
                self.c.socks.not_to_target += 1;
                continue;
            }
            if let Some(s) = self.socks.get(t.sock as usize) {
                send(&s.udp, tx.to, &tx.bytes, &mut self.c.socks);
            }
        }
        let mut events = Vec::new();
        while let Some(ev) = sa.poll_event() {
            events.push(ev);
        }
        let next = sa.poll_timeout();
        if next != t.armed {
            t.armed = next;
            if let Some(n) = next {
                self.timers.push(Reverse((n, idx)));
            }
        }
        let drained = sa.is_drained(now);
        let routes: Vec<u64> = if drained { Vec::new() } else { sa.routes() };
        if drained {
            self.c.retired_retransmits += sa.retransmits();
            t.sa = None;
            t.armed = None;
        }
        if routes != t.routes {
            for old in &t.routes {
                if !routes.contains(old) && self.by_spi.get(old) == Some(&idx) {
                    self.by_spi.remove(old);
                }
            }
            for r in &routes {
                self.by_spi.entry(*r).or_insert(idx);
            }
            t.routes = routes;
        }
        for ev in events {
            self.on_event(idx, ev, now);
        }
        if let Some(t) = self.tunnels.get_mut(idx as usize) {
            settle(&mut t.rekey, &mut self.c);
        }
    }

    fn on_event(&mut self, idx: u32, ev: Event, now: Time) {
        let Some(t) = self.tunnels.get_mut(idx as usize) else { return };
        let c = &mut self.c;
        match ev {
            Event::ChildSaUp(child) => {
                match child.rekey_of {
                    None if t.state == State::Negotiating => {
                        t.state = State::Up;
                        c.up += 1;
                        c.negotiating = c.negotiating.saturating_sub(1);
                        c.last_up = Some(now);
                        let ms = now.since(t.started).as_millis();
                        let _ = self.latency.record(u64::try_from(ms).unwrap_or(u64::MAX).max(1));
                    }
                    Some(old) if t.rekey.child == Some(old) => {
                        t.rekey.child = None;
                        t.rekey.old_child = Some(old);
                        c.rekey_child_ok += 1;
                        c.rekey_last_ok = Some(now);
                    }
                    _ => c.peer_rekeys += 1,
                }
                if let Some(tr) = self.traffic.as_mut() {
                    tr.on_child_up(idx, child);
                }
            }
            Event::Established(info) => {
                if let Some(tr) = self.traffic.as_mut() {
                    tr.on_established(idx, info.nat_detected, info.peer);
                }
            }
            Event::ChildSaFailed(cause) => {
                if t.state == State::Negotiating {
                    t.state = State::Failed;
                    c.negotiating = c.negotiating.saturating_sub(1);
                    c.failures.add(child_key(&cause), &cause.to_string());
                } else if t.rekey.child.take().is_some() {
                    c.rekey_failures.add(child_key(&cause), &cause.to_string());
                }
            }
            Event::ChildSaDown { inbound_spi, .. } => {
                if t.rekey.old_child == Some(inbound_spi) {
                    t.rekey.old_child = None;
                }
                if let Some(tr) = self.traffic.as_mut() {
                    tr.on_child_down(idx, inbound_spi);
                }
            }
            Event::IkeSaRekeyed { info, .. } => {
                if let Some(tr) = self.traffic.as_mut() {
                    tr.on_established(idx, info.nat_detected, info.peer);
                }
                if t.rekey.ike {
                    t.rekey.ike = false;
                    c.rekey_ike_ok += 1;
                    c.rekey_last_ok = Some(now);
                } else {
                    c.peer_rekeys += 1;
                }
            }
            Event::Closed { .. } | Event::Failed(_) => {
                let (key, text) = match &ev {
                    Event::Failed(cause) => (cause_key(cause), cause.to_string()),
                    _ => ("deleted_by_peer", "the responder deleted the IKE SA".to_owned()),
                };
                if t.rekey.child.is_some() || t.rekey.ike {
                    c.rekey_failures.add("ike_sa_ended", &text);
                }
                if let Some(tr) = self.traffic.as_mut() {
                    tr.on_ended(idx);
                }
                t.rekey = Pending { counted: t.rekey.counted, ..Pending::default() };
                match t.state {
                    State::Negotiating => {
                        c.negotiating = c.negotiating.saturating_sub(1);
                        t.state = State::Failed;
                        c.failures.add(key, &text);
                    }
                    State::Up => {
                        t.state = State::Lost;
                        c.lost.add(key, &text);
                    }
                    State::Closing => {
                        c.closing = c.closing.saturating_sub(1);
                        t.state = State::Gone;
                        match &ev {
                            Event::Closed { .. } => c.teardown_closed += 1,
                            _ => c.teardown_failures.add(key, &text),
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Starts tunnel `idx`.
    fn start(&mut self, idx: u32, now: Time) {
        let Some(t) = self.tunnels.get_mut(idx as usize) else { return };
        let Some(sock) = self.socks.get(t.sock as usize) else { return };
        self.c.started += 1;
        self.c.first_start.get_or_insert(now);
        t.started = now;
        let made = self
            .plan
            .tunnel_config(idx, sock.local)
            .and_then(|cfg| cfg.initiate(now, &mut self.rng));
        match made {
            Ok(sa) => {
                t.sa = Some(sa);
                t.state = State::Negotiating;
                self.c.negotiating += 1;
                self.service(idx, now);
            }
            Err(e) => {
                t.state = State::Failed;
                self.c.failures.add("config", &e);
            }
        }
    }

    /// Whether pacing lets action number `self.cursor` of the phase go at `now`.
    fn paced(&self, now: Time) -> bool {
        match self.plan.rate {
            None => true,
            Some(r) => {
                (f64::from(self.cursor)) < now.since(self.paced_from).as_secs_f64() * r + 1.0
            }
        }
    }

    /// When pacing lets the next action go.
    fn next_paced(&self) -> Option<Time> {
        let r = self.plan.rate?;
        let ms = (f64::from(self.cursor) / r * 1000.0).ceil();
        Some(self.paced_from + Duration::from_millis(ms as u64))
    }

    fn begin_phase(&mut self, now: Time) {
        self.cursor = 0;
        self.paced_from = now;
    }

    fn setup_step(&mut self, now: Time) -> bool {
        while self.cursor < self.plan.tunnels
            && (self.c.negotiating as usize) < self.plan.max_inflight
            && self.paced(now)
        {
            let idx = self.cursor;
            self.cursor += 1;
            self.start(idx, now);
        }
        self.cursor >= self.plan.tunnels && self.c.negotiating == 0
    }

    /// The traffic phase: tunnels send their echo requests, paced like the setup (at most
    /// `max_inflight` awaiting replies, fewer after timeouts, `rate` per second if set);
    /// over when every tunnel is done.
    fn traffic_step(&mut self, now: Time) -> bool {
        let Some(tr) = self.traffic.as_mut() else { return true };
        tr.expire(now);
        while self.cursor < self.plan.tunnels
            && self.traffic.as_ref().is_some_and(Traffic::may_send)
            && self.paced(now)
        {
            let idx = self.cursor;
            self.cursor += 1;
            let (Some(t), Some(tr)) = (self.tunnels.get(idx as usize), self.traffic.as_mut())
            else {
                continue;
            };
            let Some(sock) = self.socks.get(t.sock as usize) else { continue };
            tr.start(idx, t.state == State::Up, &sock.udp, sock.local.ip(), now);
        }
        self.cursor >= self.plan.tunnels && self.traffic.as_ref().is_none_or(|t| t.in_flight() == 0)
    }

    fn rekey_step(&mut self, now: Time) -> bool {
        let n = self.plan.tunnels;
        while self.cursor < n
            && (self.c.rekey_pending as usize) < self.plan.max_inflight
            && self.paced(now)
        {
            let idx = self.cursor;
            self.cursor += 1;
            self.rekey_one(idx, now);
        }
        // An IKE SA rekey the responder refuses produces no event: wait a full
        // retransmission schedule for it, then count it as failed (checked a few times a
        // second, not on every wakeup: it walks every tunnel).
        if self.c.rekey_pending > 0 && now >= self.next_rekey_check {
            self.next_rekey_check = now + Duration::from_millis(MAX_WAIT_MS);
            for t in &mut self.tunnels {
                if t.rekey.any() && now >= t.rekey.deadline {
                    let (key, text) = if t.rekey.child.is_some() || t.rekey.ike {
                        ("no_outcome", "no answer, or the responder refused the IKE SA rekey")
                    } else {
                        ("old_sa_not_deleted", "the replaced SA's DELETE got no answer")
                    };
                    self.c.rekey_failures.add(key, text);
                    t.rekey = Pending { counted: t.rekey.counted, ..Pending::default() };
                    settle(&mut t.rekey, &mut self.c);
                }
            }
        }
        self.cursor >= n && self.c.rekey_pending == 0
    }

    fn rekey_one(&mut self, idx: u32, now: Time) {
        let Some(t) = self.tunnels.get_mut(idx as usize) else { return };
        if t.state != State::Up {
            return;
        }
        let Some(sa) = t.sa.as_mut() else { return };
        let mut p = Pending {
            deadline: now + self.plan.base.retransmit().give_up_after() + Duration::from_secs(2),
            ..Pending::default()
        };
        let rng = &mut self.rng;
        let kind = self.plan.rekey;
        self.c.rekey_requested += 1;
        if matches!(kind, RekeyKind::Child | RekeyKind::Both) {
            match sa.child_spis().first() {
                Some(&(inbound, _)) if sa.rekey_child(now, inbound, rng) => p.child = Some(inbound),
                _ => self.c.rekey_failures.add("not_started", "no Child SA to rekey"),
            }
        }
        if matches!(kind, RekeyKind::Ike | RekeyKind::Both) {
            if sa.rekey_ike(now, rng) {
                p.ike = true;
            } else {
                self.c.rekey_failures.add("not_started", "the IKE SA cannot be rekeyed now");
            }
        }
        if p.any() {
            self.c.rekey_pending += 1;
            p.counted = true;
        }
        t.rekey = p;
        self.service(idx, now);
    }

    fn teardown_step(&mut self, now: Time) -> bool {
        let n = self.plan.tunnels;
        while self.cursor < n
            && (self.c.closing as usize) < self.plan.max_inflight
            && self.paced(now)
        {
            let idx = self.cursor;
            self.cursor += 1;
            let Some(t) = self.tunnels.get_mut(idx as usize) else { continue };
            let Some(sa) = t.sa.as_mut() else { continue };
            if sa.is_dead() {
                continue;
            }
            if t.state == State::Negotiating {
                self.c.negotiating = self.c.negotiating.saturating_sub(1);
                self.c.failures.add("cut_short", "still negotiating when the run stopped");
            }
            t.state = State::Closing;
            t.rekey = Pending { counted: t.rekey.counted, ..Pending::default() };
            settle(&mut t.rekey, &mut self.c);
            self.c.closing += 1;
            self.c.teardown_requested += 1;
            sa.close(now, &mut self.rng);
            self.service(idx, now);
        }
        self.cursor >= n && self.c.closing == 0
    }

    fn run_timers(&mut self, now: Time) {
        while let Some(&Reverse((at, idx))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(t) = self.tunnels.get_mut(idx as usize) else { continue };
            if t.armed != Some(at) {
                continue;
            }
            t.armed = None;
            if let Some(sa) = t.sa.as_mut() {
                sa.handle_timeout(now, &mut self.rng);
                self.service(idx, now);
            }
        }
    }

    fn receive(&mut self, si: usize, buf: &mut [u8], now: Time) {
        let target = self.plan.target;
        loop {
            let Some(sock) = self.socks.get(si) else { return };
            let (n, from) = match sock.udp.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    self.c.socks.port_unreachable += 1;
                    continue;
                }
                Err(_) => {
                    self.c.socks.recv_errors += 1;
                    return;
                }
            };
            if from.ip() != target.ip() {
                self.c.socks.foreign += 1;
                continue;
            }
            let local = sock.local.ip();
            let Some(dgram) = buf.get(..n) else { return };
            let msg = match (from.port() == NAT_T_PORT, dgram) {
                (false, m) => m,
                (true, [0, 0, 0, 0, rest @ ..]) => rest,
                // ESP in UDP (or a NAT keepalive): the traffic test's, counted there.
                (true, esp) if self.traffic.is_some() => {
                    if let Some(tr) = self.traffic.as_mut() {
                        tr.on_udp(esp, local);
                    }
                    continue;
                }
                (true, _) => {
                    self.c.socks.received += 1;
                    self.c.socks.malformed += 1;
                    continue;
                }
            };
            self.c.socks.received += 1;
            // The ISAKMP header's version octet (offset 17): major version 1 or 2.
            let key = match msg.get(17).map(|v| v >> 4) {
                // Ours to route by our initiator cookie (bytes 0..8): we started every
                // ISAKMP SA, and every IKEv1 message carries its cookies.
                Some(1) => {
                    msg.get(..8).and_then(|c| <[u8; 8]>::try_from(c).ok()).map(u64::from_be_bytes)
                }
                // The peer's messages are ours to route by our SPI: the initiator's for
                // generations we started, the responder's for ones the peer started.
                _ => Header::new_checked(msg)
                    .ok()
                    .map(|h| if h.initiator() { h.spi_r() } else { h.spi_i() }),
            };
            let Some(spi) = key else {
                self.c.socks.malformed += 1;
                continue;
            };
            let Some(&idx) = self.by_spi.get(&spi) else {
                self.c.socks.unknown_spi += 1;
                continue;
            };
            if let Some(sa) = self.tunnels.get_mut(idx as usize).and_then(|t| t.sa.as_mut()) {
                sa.handle(now, msg, from, &mut self.rng);
                self.service(idx, now);
            }
        }
    }

    fn end_setup(&mut self, now: Time) -> Samples {
        self.c.setup_end = Some(now);
        self.c.retransmits_setup = self.total_retransmits();
        Samples::take(self.plan)
    }

    fn total_retransmits(&self) -> u64 {
        self.c.retired_retransmits
            + self.tunnels.iter().filter_map(|t| t.sa.as_ref()).map(Sa::retransmits).sum::<u64>()
    }

    fn progress(&self, phase: Phase, now: Time, last_up: &mut u64) {
        let c = &self.c;
        let secs = now.as_millis() as f64 / 1000.0;
        let line = match phase {
            Phase::Setup => {
                let rate = c.up.saturating_sub(*last_up);
                format!(
                    "setup: up {}/{} (+{rate}/s), in flight {}, failed {}, retransmits {}",
                    c.up,
                    self.plan.tunnels,
                    c.negotiating,
                    c.failures.total(),
                    self.total_retransmits()
                )
            }
            Phase::Traffic => {
                let (tested, answered, (replies, requests)) = match &self.traffic {
                    Some(t) => (t.tested(), t.answered(), t.replies()),
                    None => (0, 0, (0, 0)),
                };
                format!(
                    "traffic: {answered}/{tested} tunnels answered, {replies}/{requests} \
                     replies, {} tunnels started",
                    self.cursor
                )
            }
            Phase::RekeyWait(_) | Phase::Hold(_) => {
                format!("holding: up {}, lost {}", c.up, c.lost.total())
            }
            Phase::Rekey => format!(
                "rekey: {} requested, child ok {}, ike ok {}, failed {}, in flight {}",
                c.rekey_requested,
                c.rekey_child_ok,
                c.rekey_ike_ok,
                c.rekey_failures.total(),
                c.rekey_pending
            ),
            Phase::Teardown(_) => format!(
                "teardown: deleted {}/{}, in flight {}",
                c.teardown_closed, c.teardown_requested, c.closing
            ),
            Phase::Done => return,
        };
        *last_up = c.up;
        eprintln!("[{secs:7.1}s] {line}");
    }
}

/// Takes a finished rekey off the in-flight count.
fn settle(p: &mut Pending, c: &mut Counters) {
    if p.counted && !p.any() {
        p.counted = false;
        c.rekey_pending = c.rekey_pending.saturating_sub(1);
    }
}

/// Sends one IKE message, with the non-ESP marker on the NAT-T port.
fn send(udp: &UdpSocket, to: SocketAddr, bytes: &[u8], st: &mut SocketStats) {
    let r = if to.port() == NAT_T_PORT {
        let mut framed = Vec::with_capacity(bytes.len() + 4);
        framed.extend_from_slice(&[0, 0, 0, 0]);
        framed.extend_from_slice(bytes);
        udp.send_to(&framed, to)
    } else {
        udp.send_to(bytes, to)
    };
    match r {
        Ok(_) => st.sent += 1,
        // A full socket buffer: the retransmission schedule covers the loss.
        Err(e) if e.kind() == ErrorKind::WouldBlock => st.send_dropped += 1,
        // An earlier datagram drew an ICMP port unreachable.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => st.port_unreachable += 1,
        Err(_) => st.send_errors += 1,
    }
}

fn child_key(c: &FailureCause) -> &'static str {
    match c {
        FailureCause::TsUnacceptable => "child_ts_unacceptable",
        FailureCause::NoProposalChosen(_) => "child_no_proposal_chosen",
        FailureCause::InvalidKe { .. } => "child_invalid_ke",
        FailureCause::ProtocolError(_) => "child_protocol_error",
        other => cause_key(other),
    }
}

/// Raises the open-file limit to its hard limit (one socket per source port).
fn raise_nofile(needed: usize) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let want = (needed as u64).saturating_add(64);
    if soft >= want {
        return Ok(());
    }
    if hard < want {
        return Err(format!(
            "{needed} sockets need about {want} open files, the hard limit is {hard}: raise it \
             (ulimit -Hn) or use fewer source ports (--source-ports, --sources)"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|e| e.to_string())
}

/// Opens the sockets: bound to each source, nonblocking.
fn open_sockets(plan: &Plan, epoll: &Epoll) -> Result<Vec<Sock>, String> {
    raise_nofile(plan.sockets.len())?;
    let mut socks = Vec::with_capacity(plan.sockets.len());
    for (i, &addr) in plan.sockets.iter().enumerate() {
        let udp = UdpSocket::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
        udp.set_nonblocking(true).map_err(|e| e.to_string())?;
        let local = udp.local_addr().map_err(|e| e.to_string())?;
        epoll
            .add(udp.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
            .map_err(|e| format!("epoll: {e}"))?;
        socks.push(Sock { udp, local });
    }
    Ok(socks)
}

/// A process's resident memory and CPU time at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// VmRSS of /proc/PID/status, KiB.
    pub rss_kib: u64,
    /// User plus system time of /proc/PID/stat, ms.
    pub cpu_ms: u64,
}

/// /proc's clock ticks per second: `USER_HZ`, fixed at 100 in Linux's user ABI.
const USER_HZ: u64 = 100;

/// Samples process `pid` (`None`: this one) from /proc.
pub fn sample(pid: Option<u32>) -> Option<Sample> {
    let dir = pid.map_or_else(|| "/proc/self".to_owned(), |p| format!("/proc/{p}"));
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); the first after ')' is field 3.
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu_ms = (ticks(14)? + ticks(15)?) * (1000 / USER_HZ);
    Some(Sample { rss_kib, cpu_ms })
}

/// Runs the plan until done, the duration cap, or `stop`.
pub fn run(plan: &Plan, stop: &AtomicBool) -> Result<Report, String> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll: {e}"))?;
    let socks = open_sockets(plan, &epoll)?;
    let nsock = u32::try_from(socks.len()).map_err(|_| "too many sockets".to_owned())?;
    if nsock == 0 {
        return Err("no source sockets".into());
    }
    let tunnels = (0..plan.tunnels)
        .map(|i| Tunnel {
            sa: None,
            sock: i % nsock,
            state: State::Idle,
            started: Time::ZERO,
            armed: None,
            routes: Vec::new(),
            rekey: Pending::default(),
        })
        .collect();
    let latency = Histogram::new_with_bounds(1, 3_600_000, 3).map_err(|e| e.to_string())?;
    let before = Samples::take(plan);
    if let Some(pid) = plan.responder_pid
        && before.responder.is_none()
    {
        return Err(format!("--responder-pid {pid}: cannot read /proc/{pid}/status and stat"));
    }
    let traffic = match (&plan.traffic, plan.target.ip()) {
        (Some(tp), IpAddr::V4(peer)) => {
            let t = Traffic::new(tp.clone(), plan.remote_ts, peer, plan.tunnels, plan.max_inflight);
            if let Some(fd) = t.raw_fd() {
                epoll
                    .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, RAW_TOKEN))
                    .map_err(|e| format!("epoll: {e}"))?;
            }
            Some(t)
        }
        (Some(_), IpAddr::V6(_)) => return Err("--traffic: IPv4 targets only".into()),
        (None, _) => None,
    };
    let mut e = Engine {
        plan,
        socks,
        tunnels,
        by_spi: HashMap::with_capacity(plan.tunnels as usize),
        timers: BinaryHeap::new(),
        c: Counters::default(),
        latency,
        rng: OsRng,
        cursor: 0,
        paced_from: Time::ZERO,
        next_rekey_check: Time::ZERO,
        traffic,
    };
    let clock = Instant::now();
    let now_of =
        |i: Instant| Time::from_millis(u64::try_from(i.elapsed().as_millis()).unwrap_or(u64::MAX));
    let cap = Time::ZERO + plan.duration;
    let mut phase = Phase::Setup;
    let mut stopped = StopReason::Completed;
    let mut next_progress = Time::from_secs(1);
    let mut last_up = 0u64;
    let mut at_setup = Samples::default();
    let mut buf = vec![0u8; 65536];
    let mut events = vec![EpollEvent::empty(); 256];
    loop {
        let now = now_of(clock);
        let cut = if stop.load(Ordering::Relaxed) {
            Some(StopReason::Interrupted)
        } else if now >= cap {
            Some(StopReason::DurationCap)
        } else {
            None
        };
        if let Some(why) = cut
            && !matches!(phase, Phase::Teardown(_) | Phase::Done)
        {
            stopped = why;
            if e.c.setup_end.is_none() {
                at_setup = e.end_setup(now);
            }
            if phase == Phase::Rekey {
                e.c.rekey_end = Some(now);
            }
            if let Some(tr) = e.traffic.as_mut() {
                tr.finish();
            }
            phase = Phase::Teardown(now + plan.teardown_timeout);
            e.c.teardown_start = Some(now);
            e.begin_phase(now);
            if plan.keep {
                phase = Phase::Done;
            }
        }
        e.run_timers(now);
        // Run the phase's work; on to the next phase when it is over.
        let over = match phase {
            Phase::Setup => e.setup_step(now),
            Phase::Traffic => e.traffic_step(now),
            Phase::Rekey => e.rekey_step(now),
            Phase::Teardown(deadline) => e.teardown_step(now) || now >= deadline,
            Phase::RekeyWait(at) | Phase::Hold(at) => now >= at,
            Phase::Done => false,
        };
        if over {
            phase = match phase {
                Phase::Setup if plan.traffic.is_some() => {
                    at_setup = e.end_setup(now);
                    if let Some(tr) = e.traffic.as_mut() {
                        tr.begin();
                    }
                    e.begin_phase(now);
                    Phase::Traffic
                }
                Phase::Setup | Phase::Traffic => {
                    if phase == Phase::Setup {
                        at_setup = e.end_setup(now);
                    }
                    if let Some(tr) = e.traffic.as_mut() {
                        tr.finish();
                    }
                    match plan.rekey_after {
                        Some(d) => Phase::RekeyWait(now + d),
                        None => Phase::Hold(now + plan.hold),
                    }
                }
                Phase::RekeyWait(_) => {
                    e.c.rekey_start = Some(now);
                    e.begin_phase(now);
                    Phase::Rekey
                }
                Phase::Rekey => {
                    e.c.rekey_end = Some(now);
                    Phase::Hold(now + plan.hold)
                }
                Phase::Hold(_) if plan.keep => Phase::Done,
                Phase::Hold(_) => {
                    e.c.teardown_start = Some(now);
                    e.begin_phase(now);
                    Phase::Teardown(now + plan.teardown_timeout)
                }
                Phase::Teardown(_) | Phase::Done => {
                    e.c.teardown_end = Some(now);
                    Phase::Done
                }
            };
        }
        if plan.progress && now >= next_progress {
            e.progress(phase, now, &mut last_up);
            next_progress = now + Duration::from_secs(1);
        }
        if phase == Phase::Done {
            break;
        }
        // Sleep until the next timer, paced action or phase change, at most MAX_WAIT_MS; a
        // phase just begun has its first work to do now.
        let mut wake = if over { now } else { now + Duration::from_millis(MAX_WAIT_MS) };
        if let Some(&Reverse((t, _))) = e.timers.peek() {
            wake = wake.min(t);
        }
        let pacing =
            matches!(phase, Phase::Setup | Phase::Traffic | Phase::Rekey | Phase::Teardown(_));
        if pacing && let Some(t) = e.next_paced() {
            wake = wake.min(t);
        }
        if phase == Phase::Traffic
            && let Some(t) = e.traffic.as_ref().and_then(Traffic::next_deadline)
        {
            wake = wake.min(t);
        }
        match phase {
            Phase::RekeyWait(t) | Phase::Hold(t) | Phase::Teardown(t) => wake = wake.min(t),
            _ => {}
        }
        let wait_ms = wake.since(now_of(clock)).as_millis();
        let timeout = u16::try_from(wait_ms).unwrap_or(u16::MAX);
        let ready = match epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(err) => return Err(format!("epoll_wait: {err}")),
        };
        let now = now_of(clock);
        let ready: Vec<u64> = events.iter().take(ready).map(EpollEvent::data).collect();
        for token in ready {
            if token == RAW_TOKEN {
                if let Some(tr) = e.traffic.as_mut() {
                    tr.recv_raw(&mut buf);
                }
            } else if let Ok(si) = usize::try_from(token) {
                e.receive(si, &mut buf, now);
            }
        }
    }
    let end = now_of(clock);
    let at_end = Samples::take(plan);
    Ok(build_report(&e, plan, stopped, end, [before, at_setup, at_end]))
}

/// Memory and CPU time per tunnel of one process, from its samples before the first
/// tunnel, at the setup's end and at the end.
fn usage(pid: Option<u32>, s: [Option<Sample>; 3], up: u64) -> Usage {
    let [before, at_up, at_end] = s;
    let delta = |f: fn(&Sample) -> u64| match (before, at_up) {
        (Some(a), Some(b)) if up > 0 => Some(f(&b).saturating_sub(f(&a)) as f64 / up as f64),
        _ => None,
    };
    Usage {
        pid,
        before_kib: before.map(|s| s.rss_kib),
        up_kib: at_up.map(|s| s.rss_kib),
        end_kib: at_end.map(|s| s.rss_kib),
        bytes_per_tunnel: delta(|s| s.rss_kib).map(|k| k * 1024.0),
        setup_cpu_s: match (before, at_up) {
            (Some(a), Some(b)) => Some(b.cpu_ms.saturating_sub(a.cpu_ms) as f64 / 1000.0),
            _ => None,
        },
        cpu_ms_per_tunnel: delta(|s| s.cpu_ms),
    }
}

fn build_report(
    e: &Engine<'_>,
    plan: &Plan,
    stopped: StopReason,
    end: Time,
    samples: [Samples; 3],
) -> Report {
    let c = &e.c;
    let secs = |a: Option<Time>, b: Option<Time>| match (a, b) {
        (Some(a), Some(b)) => b.since(a).as_secs_f64(),
        _ => 0.0,
    };
    let setup_seconds = secs(c.first_start, c.setup_end);
    let to_last_up = secs(c.first_start, c.last_up);
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let all_up = c.up == u64::from(plan.tunnels);
    let h = &e.latency;
    let latency = (c.up > 0).then(|| Latency {
        p50_ms: h.value_at_quantile(0.5),
        p90_ms: h.value_at_quantile(0.9),
        p99_ms: h.value_at_quantile(0.99),
        max_ms: h.max(),
    });
    let setup = PhaseReport {
        requested: u64::from(plan.tunnels),
        started: c.started,
        up: c.up,
        failed: c.failures.total(),
        seconds: setup_seconds,
        time_to_all_up_s: all_up.then_some(to_last_up),
        // Up to the last tunnel up: the tail of failures waiting out their retransmissions
        // is not setup work. One millisecond at least (the clock's resolution).
        rate_per_s: rate(c.up, to_last_up.max(0.001)),
        retransmits: c.retransmits_setup,
        latency,
        failures: c.failures.clone(),
    };
    let rekey = c.rekey_start.map(|start| {
        let s = secs(Some(start), c.rekey_end.or(Some(end)));
        let ok_s = secs(Some(start), c.rekey_last_ok);
        let ok = c.rekey_child_ok + c.rekey_ike_ok;
        RekeyReport {
            kind: plan.rekey,
            tunnels: c.rekey_requested,
            child_ok: c.rekey_child_ok,
            ike_ok: c.rekey_ike_ok,
            failed: c.rekey_failures.total(),
            seconds: s,
            rate_per_s: rate(ok, ok_s.max(0.001)),
            failures: c.rekey_failures.clone(),
        }
    });
    let teardown = c.teardown_start.filter(|_| !plan.keep).map(|start| TeardownReport {
        requested: c.teardown_requested,
        deleted: c.teardown_closed,
        unfinished: c.closing,
        seconds: secs(Some(start), c.teardown_end.or(Some(end))),
        failures: c.teardown_failures.clone(),
    });
    let responder =
        plan.responder_pid.map(|pid| usage(Some(pid), samples.map(|s| s.responder), c.up));
    let ours = usage(None, samples.map(|s| s.ours), c.up);
    let mut socks = c.socks;
    socks.sockets = e.socks.len() as u64;
    let traffic = e.traffic.as_ref().map(Traffic::report);
    let ok = all_up
        && stopped == StopReason::Completed
        && rekey.as_ref().is_none_or(|r| r.failed == 0)
        && c.lost.total() == 0
        // --traffic: every tunnel answered at least once.
        && traffic.as_ref().is_none_or(|t| t.answered == u64::from(plan.tunnels));
    Report {
        ok,
        target: plan.target.to_string(),
        ike_version: plan.base.version(),
        stopped,
        elapsed_s: end.as_millis() as f64 / 1000.0,
        setup,
        retransmits: e.total_retransmits(),
        lost_after_up: c.lost.clone(),
        peer_rekeys: c.peer_rekeys,
        traffic,
        rekey,
        teardown,
        kept: plan.keep,
        memory: Memory { responder, loadtester: ours },
        sockets: socks,
        max_inflight: plan.max_inflight as u64,
        target_rate: plan.rate,
        by_state: by_state(&e.tunnels),
    }
}

fn by_state(tunnels: &[Tunnel]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for t in tunnels {
        let k = match t.state {
            State::Idle => "not_started",
            State::Negotiating => "negotiating",
            State::Up => "up",
            State::Failed => "failed",
            State::Lost => "lost",
            State::Closing => "closing",
            State::Gone => "deleted",
        };
        *m.entry(k.to_owned()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = sample(None).expect("/proc/self");
        assert!(s.rss_kib > 0);
        assert!(sample(Some(u32::MAX)).is_none(), "no such process");
    }

    #[test]
    fn failure_causes_have_stable_keys() {
        let unreachable = FailureCause::PeerUnreachable { sends: 4, waited: Duration::ZERO };
        assert_eq!(cause_key(&unreachable), "peer_unreachable");
        assert_eq!(cause_key(&FailureCause::TsUnacceptable), "ts_unacceptable");
        assert_eq!(child_key(&FailureCause::TsUnacceptable), "child_ts_unacceptable");
        assert_eq!(child_key(&unreachable), "peer_unreachable");
    }
}
