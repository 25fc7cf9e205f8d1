//! The failover pair state machine, one per unit, sans-IO: the caller passes received
//! datagrams, timer expiries, interface health and operator commands with the current
//! [`Time`], and collects datagrams to send, the next timer and events.
//!
//! **Roles and states.** A unit starts [`State::Negotiating`]: it listens one hold time
//! for an active mate. Hearing one, it becomes standby; hearing a negotiating mate, the
//! election decides at once; hearing nothing, it becomes active. The election (and the
//! split-brain rule) compares interface health (more monitored interfaces up wins) and
//! breaks ties in favour of the primary, as the ASA does; between two standbys a synced
//! one wins first, since it holds the SAs.
//!
//! **Failure detection.** Only silence counts: the mate is down after one hold time
//! without an authenticated datagram from it (any kind: replication traffic is as good a
//! sign of life as a hello). A lossy link that drops every other hello therefore never
//! flips roles, and a unit whose hellos are late by less than the hold time is never
//! declared failed.
//!
//! **Split brain.** When both units claim active (a healed partition), each compares
//! its health with the mate's last hello; the loser becomes standby and asks for a bulk
//! sync, the winner stays (and drops what the loser created during the partition).
//! Both compute the same answer from the same two hellos.
//!
//! **Unsynced takeover.** A standby whose bulk sync has not completed still takes over
//! when the active falls silent: an active unit with part of the SAs beats no active
//! unit (the ASA does the same). It reports [`Event::TookOverUnsynced`] so that the
//! appliance logs it and re-establishes what is missing.
//!
//! **Switchover.** `failover active` on the standby sends a switchover request; the
//! active finishes replicating what is queued (at most half a hold time), becomes
//! standby and says so with the `handover` flag, on which the requester becomes active.
//! `no failover active` on the active does the same without the request. Preemption (a
//! recovered primary taking active back) is such a request made by the primary's
//! standby after it has been synced and at least as healthy as the active for the
//! configured delay; without a configured delay it never happens.
//!
//! **Replication.** The active owns an [`ActiveReplicator`] (fed by [`Pair::replicate`]),
//! the standby a [`StandbyStore`]; on becoming active, [`Pair::take_over`] hands out the
//! store's SAs with sequence numbers jumped ahead (see [`super::replicate`]).

use core::time::Duration;
use std::collections::VecDeque;

use rand_core::CryptoRng;
use thiserror::Error;

use super::codec::WireError;
use super::record::Record;
use super::replicate::{
    ActiveReplicator, Anomalies, MarginRule, ReplStats, SaTable, StandbyStore, Takeover,
};
use super::seal::{Adoption, Channel, FailoverKey, KeyError, OpenError, Opened};
use super::wire::{Header, Health, Hello, Message, Role, State};
use crate::crypto::SecretBytes;
use crate::policy::{HaConfig, Secret};
use crate::time::Time;

/// Shortest hello interval (ASA `failover polltime unit msec 200`).
pub const MIN_HELLO: Duration = Duration::from_millis(200);
/// Longest hello interval.
pub const MAX_HELLO: Duration = Duration::from_secs(15);
/// Longest hold time.
pub const MAX_HOLD: Duration = Duration::from_secs(45);
/// Longest preemption delay.
pub const MAX_PREEMPT: Duration = Duration::from_secs(3600);
/// Events kept for the caller beyond which bad-message events are dropped (they are
/// still counted): a flood of garbage must not grow memory.
const MAX_QUEUED_EVENTS: usize = 256;
/// The tracing target of state changes.
const LOG_TARGET: &str = "ha";

/// The pair's configuration.
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// This unit's role.
    pub role: Role,
    /// Hello interval (200 ms .. 15 s).
    pub hello: Duration,
    /// Silence after which the mate is declared failed (at least 3 hellos, at most 45 s).
    pub hold: Duration,
    /// Preemption delay for a recovered primary; `None`: never preempt.
    pub preempt: Option<Duration>,
    /// The shared `failover key`.
    pub key: SecretBytes,
    /// Monitored interfaces (the health's denominator).
    pub monitored_interfaces: u16,
    /// The takeover sequence number jump.
    pub margin: MarginRule,
}

/// Why a pair configuration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Hello interval outside 200 ms .. 15 s.
    #[error("hello interval {0:?} is outside 200 ms .. 15 s")]
    Hello(Duration),
    /// Hold time shorter than three hellos or over 45 s.
    #[error("hold time {hold:?} must be at least 3 hello intervals ({min:?}) and at most 45 s")]
    Hold {
        /// Configured.
        hold: Duration,
        /// Three hellos.
        min: Duration,
    },
    /// Preemption delay over an hour.
    #[error("preempt delay {0:?} is over 3600 s")]
    Preempt(Duration),
    /// The key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The config names a key file whose content was not passed.
    #[error("the failover key file was not read")]
    KeyNotLoaded,
}

impl PairConfig {
    /// The ASA defaults: 1 s hello, 15 s hold, no preemption.
    pub fn new(role: Role, key: SecretBytes) -> PairConfig {
        PairConfig {
            role,
            hello: Duration::from_secs(1),
            hold: Duration::from_secs(15),
            preempt: None,
            key,
            monitored_interfaces: 0,
            margin: MarginRule::default(),
        }
    }

    /// From the `[ha]` table. `key_file` is the content of `key_file` when the config
    /// names one (the caller reads files); an inline key is taken from the config.
    pub fn from_ha(
        ha: &HaConfig,
        key_file: Option<SecretBytes>,
    ) -> Result<PairConfig, ConfigError> {
        let key = match (&ha.key, key_file) {
            (Secret::Inline(k), _) => SecretBytes::from_slice(k.as_bytes()),
            (Secret::File(_), Some(k)) => k,
            (Secret::File(_), None) => return Err(ConfigError::KeyNotLoaded),
        };
        let cfg = PairConfig {
            hello: Duration::from_millis(ha.poll_ms.into()),
            hold: Duration::from_millis(ha.hold_ms.into()),
            preempt: (ha.preempt_seconds > 0)
                .then(|| Duration::from_secs(ha.preempt_seconds.into())),
            ..PairConfig::new(ha.role.into(), key)
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the timers and the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hello < MIN_HELLO || self.hello > MAX_HELLO {
            return Err(ConfigError::Hello(self.hello));
        }
        let min = self.hello.saturating_mul(3);
        if self.hold < min || self.hold > MAX_HOLD {
            return Err(ConfigError::Hold { hold: self.hold, min });
        }
        if let Some(p) = self.preempt
            && p > MAX_PREEMPT
        {
            return Err(ConfigError::Preempt(p));
        }
        FailoverKey::new(self.key.as_bytes())?;
        Ok(())
    }
}

/// Why a unit became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActiveReason {
    /// Nothing heard from the mate for the hold time since `since` (the last datagram,
    /// or our start).
    MateSilent {
        /// Last sign of life (or our start).
        since: Time,
    },
    /// `failover active`, or the mate's `no failover active`.
    Manual,
    /// Won the election against a negotiating or standby mate.
    Elected,
    /// The active mate reported fewer interfaces up than we have.
    MateReportedFailure,
    /// The active mate restarted (it lost its SAs; we hold them).
    MateRestarted,
    /// Our preemption took active back.
    Preempt,
}

/// Why a unit became standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandbyReason {
    /// Found an active mate while negotiating.
    MateActive,
    /// Lost the election.
    Elected,
    /// Lost the split-brain resolution.
    SplitBrain,
    /// `no failover active` here, or `failover active` on the mate.
    Manual,
    /// The mate's preemption.
    Preempted,
}

/// What the caller is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// This unit is now active: install [`Pair::take_over`]'s SAs, claim the virtual
    /// addresses (gratuitous ARP / unsolicited NA), forward, run DPD and rekeys.
    BecameActive {
        /// Why.
        reason: ActiveReason,
    },
    /// This unit is now standby: stop forwarding, drop the SAs.
    BecameStandby {
        /// Why.
        reason: StandbyReason,
    },
    /// The takeover happened before the bulk sync completed: some SAs are missing.
    TookOverUnsynced,
    /// The mate is heard (first time, or again after [`Event::MateDown`]).
    MateUp,
    /// Nothing heard from the mate for the hold time.
    MateDown {
        /// Its last datagram.
        silent_since: Time,
    },
    /// The mate restarted (a new boot epoch).
    MateRestarted,
    /// Both units were active; resolved.
    SplitBrainResolved {
        /// Whether we remain the active one.
        we_stay_active: bool,
    },
    /// The standby's copy is complete.
    StandbySynced,
    /// The standby no longer follows the active's stream; a new bulk sync follows.
    SyncLost,
    /// The active asked this standby to reload (`failover reload-standby`); the copy is
    /// already being rebuilt, the appliance may restart the process as well.
    ReloadRequested,
    /// Our switchover request was not answered within the hold time.
    SwitchoverTimedOut,
    /// A datagram was refused (counted in [`Stats`]).
    BadMessage(OpenError),
}

/// Why an operator command is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum CommandError {
    /// This unit is active already.
    #[error("this unit is already active")]
    AlreadyActive,
    /// This unit is standby already.
    #[error("this unit is already standby")]
    AlreadyStandby,
    /// Only the active unit can do this.
    #[error("this unit is not active")]
    NotActive,
    /// The mate is not heard: nobody would take over.
    #[error("the mate is down")]
    NoMate,
    /// The mate is not standby.
    #[error("the mate is not standby")]
    MateNotStandby,
}

/// Why a change cannot be replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ReplicateError {
    /// Only the active unit replicates.
    #[error("this unit is not active")]
    NotActive,
    /// The record breaks a cap or a consistency rule.
    #[error("invalid record: {0}")]
    Invalid(WireError),
}

/// Refused datagrams, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BadCounts {
    /// [`OpenError::Length`].
    pub length: u64,
    /// [`OpenError::Header`].
    pub header: u64,
    /// [`OpenError::WrongKey`].
    pub wrong_key: u64,
    /// [`OpenError::SameRole`].
    pub same_role: u64,
    /// [`OpenError::StaleEpoch`].
    pub stale_epoch: u64,
    /// [`OpenError::Replayed`].
    pub replayed: u64,
    /// [`OpenError::AuthFailed`].
    pub auth_failed: u64,
    /// [`OpenError::Body`].
    pub body: u64,
}

impl BadCounts {
    fn count(&mut self, e: OpenError) {
        let c = match e {
            OpenError::Length(_) => &mut self.length,
            OpenError::Header(_) => &mut self.header,
            OpenError::WrongKey => &mut self.wrong_key,
            OpenError::SameRole => &mut self.same_role,
            OpenError::StaleEpoch => &mut self.stale_epoch,
            OpenError::Replayed => &mut self.replayed,
            OpenError::AuthFailed => &mut self.auth_failed,
            OpenError::Body(_) => &mut self.body,
        };
        *c = c.saturating_add(1);
    }

    /// All refused datagrams.
    pub fn total(&self) -> u64 {
        [
            self.length,
            self.header,
            self.wrong_key,
            self.same_role,
            self.stale_epoch,
            self.replayed,
            self.auth_failed,
            self.body,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// Counters (`show failover statistics`, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    /// Datagrams sealed.
    pub sent: u64,
    /// Datagrams accepted.
    pub received: u64,
    /// Hellos sent.
    pub hellos_sent: u64,
    /// Hellos accepted.
    pub hellos_received: u64,
    /// Hellos older than one already processed (reordered; used as a sign of life only).
    pub stale_hellos: u64,
    /// Authentic datagrams from a mate epoch not yet adopted.
    pub probes: u64,
    /// Refused datagrams.
    pub bad: BadCounts,
    /// Messages that do not apply in our state (replication to a non-standby...).
    pub ignored: u64,
    /// Messages that could not be sealed.
    pub seal_errors: u64,
    /// Active/standby transitions.
    pub transitions: u64,
    /// Split brains seen.
    pub split_brains: u64,
    /// Takeovers before a completed bulk sync.
    pub unsynced_takeovers: u64,
    /// The active side's replication (all active periods).
    pub replication: ReplStats,
    /// The standby side's stream anomalies.
    pub anomalies: Anomalies,
}

/// What is known of the mate (`show failover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MateStatus {
    /// Heard within the hold time.
    pub up: bool,
    /// Its last datagram.
    pub last_heard: Time,
    /// Its boot epoch.
    pub epoch: u64,
    /// Its last hello.
    pub hello: Option<Hello>,
}

/// `show failover`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// Our role.
    pub role: Role,
    /// Our state.
    pub state: State,
    /// Our health.
    pub health: Health,
    /// Standby: the copy is complete.
    pub synced: bool,
    /// The mate.
    pub mate: Option<MateStatus>,
    /// IKE SAs held (the active's mirror or the standby's copy).
    pub ike_sas: usize,
    /// Child SAs held.
    pub child_sas: usize,
}

#[derive(Debug, Clone)]
struct Mate {
    epoch: u64,
    last_heard: Time,
    up: bool,
    hello: Option<Hello>,
    hello_seq: u64,
    /// Highest switchover request number honoured from this epoch.
    switchover_id: u32,
    /// The bulk sync request we served for this epoch.
    served_request: Option<u32>,
}

impl Mate {
    fn new(epoch: u64, now: Time) -> Mate {
        Mate {
            epoch,
            last_heard: now,
            up: false,
            hello: None,
            hello_seq: 0,
            switchover_id: 0,
            served_request: None,
        }
    }

    fn state(&self) -> Option<State> {
        self.hello.map(|h| h.state)
    }
}

#[derive(Debug, Clone, Copy)]
struct Switchover {
    id: u32,
    preempt: bool,
    deadline: Time,
}

#[derive(Debug, Clone, Copy)]
struct Yield {
    reason: StandbyReason,
    deadline: Time,
}

/// One unit of a failover pair.
#[derive(Debug)]
pub struct Pair {
    role: Role,
    hello: Duration,
    hold: Duration,
    preempt: Option<Duration>,
    rto: Duration,
    channel: Channel,
    started: Time,
    state: State,
    health: Health,
    mate: Option<Mate>,
    next_hello: Time,
    negotiate_until: Option<Time>,
    replicator: Option<ActiveReplicator>,
    store: StandbyStore,
    next_gen: u32,
    synced: bool,
    bulk_request: u32,
    switchover: Option<Switchover>,
    next_switchover_id: u32,
    yielding: Option<Yield>,
    handover_until: Option<Time>,
    preempt_since: Option<Time>,
    split_brain: bool,
    takeover: Option<Takeover>,
    last_probe_hello: Option<Time>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Pair {
    /// A unit starting at `now` (negotiating; its first hello is queued). The RNG draws
    /// the boot epoch.
    pub fn new<R: CryptoRng + ?Sized>(
        config: PairConfig,
        now: Time,
        rng: &mut R,
    ) -> Result<Pair, ConfigError> {
        config.validate()?;
        let key = FailoverKey::new(config.key.as_bytes())?;
        let mut epoch = 0;
        while epoch == 0 {
            epoch = rng.next_u64();
        }
        let rto = (config.hello / 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut pair = Pair {
            role: config.role,
            hello: config.hello,
            hold: config.hold,
            preempt: config.preempt,
            rto,
            channel: Channel::new(key, config.role, epoch),
            started: now,
            state: State::Negotiating,
            health: Health {
                up: config.monitored_interfaces,
                monitored: config.monitored_interfaces,
            },
            mate: None,
            next_hello: now,
            negotiate_until: Some(now + config.hold),
            replicator: None,
            store: StandbyStore::new(config.margin),
            next_gen: 0,
            synced: false,
            bulk_request: 0,
            switchover: None,
            next_switchover_id: 0,
            yielding: None,
            handover_until: None,
            preempt_since: None,
            split_brain: false,
            takeover: None,
            last_probe_hello: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        };
        pair.send_hello(now);
        Ok(pair)
    }

    // ----- outputs -----

    /// The next datagram to send to the mate.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// When [`Pair::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        let mut t = Some(self.next_hello);
        let mut at = |x: Option<Time>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        at(self.mate.as_ref().filter(|m| m.up).map(|m| m.last_heard + self.hold));
        at(self.negotiate_until);
        at(self.replicator.as_ref().and_then(ActiveReplicator::next_timeout));
        at(self.switchover.map(|s| s.deadline));
        at(self.yielding.map(|y| y.deadline));
        at(self.preempt_since.zip(self.preempt).map(|(s, p)| s + p));
        t
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The SAs to install after [`Event::BecameActive`] (once).
    pub fn take_over(&mut self) -> Option<Takeover> {
        self.takeover.take()
    }

    // ----- queries -----

    /// Our state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Our boot epoch.
    pub fn epoch(&self) -> u64 {
        self.channel.epoch()
    }

    /// Standby: whether the copy is complete.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether the mate is heard.
    pub fn mate_up(&self) -> bool {
        self.mate.as_ref().is_some_and(|m| m.up)
    }

    /// The standby's store (empty while active).
    pub fn store(&self) -> &StandbyStore {
        &self.store
    }

    /// The active's replicator.
    pub fn replicator(&self) -> Option<&ActiveReplicator> {
        self.replicator.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        if let Some(r) = &self.replicator {
            s.replication.add(r.stats());
        }
        s.anomalies = *self.store.anomalies();
        s
    }

    /// `show failover`.
    pub fn status(&self) -> Status {
        let (ike_sas, child_sas) = match &self.replicator {
            Some(r) => (r.ike_count(), r.child_count()),
            None => (self.store.ike_count(), self.store.child_count()),
        };
        Status {
            role: self.role,
            state: self.state,
            health: self.health,
            synced: self.synced,
            mate: self.mate.as_ref().map(|m| MateStatus {
                up: m.up,
                last_heard: m.last_heard,
                epoch: m.epoch,
                hello: m.hello,
            }),
            ike_sas,
            child_sas,
        }
    }

    // ----- inputs -----

    /// Monitored interfaces that are up now.
    pub fn set_local_health(&mut self, now: Time, up: u16) {
        if up != self.health.up {
            self.health.up = up;
            // Tell the mate at once: it may have to take over.
            self.send_hello(now);
        }
    }

    /// A datagram from the failover link.
    pub fn handle(&mut self, now: Time, datagram: &[u8]) {
        match self.channel.open(datagram) {
            Err(e) => {
                self.stats.bad.count(e);
                if self.events.len() < MAX_QUEUED_EVENTS {
                    self.events.push_back(Event::BadMessage(e));
                }
            }
            Ok(Opened::Probe { new, .. }) => {
                self.stats.probes = self.stats.probes.saturating_add(1);
                // Answer a new epoch at once (our hello echoes it, which lets the mate
                // adopt us), but not more than four times a hello interval.
                if new && self.last_probe_hello.is_none_or(|t| now >= t + self.hello / 4) {
                    self.last_probe_hello = Some(now);
                    self.send_hello(now);
                }
            }
            Ok(Opened::Message { header, message, adoption }) => {
                self.stats.received = self.stats.received.saturating_add(1);
                self.on_message(now, header, message, adoption);
            }
        }
        self.pump(now);
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Time) {
        if let Some(m) = &mut self.mate
            && m.up
            && now >= m.last_heard + self.hold
        {
            m.up = false;
            let since = m.last_heard;
            self.events.push_back(Event::MateDown { silent_since: since });
            self.on_mate_down(now, since);
        }
        if self.state == State::Negotiating && self.negotiate_until.is_some_and(|t| now >= t) {
            self.negotiation_deadline(now);
        }
        if let Some(s) = self.switchover
            && now >= s.deadline
        {
            self.switchover = None;
            self.events.push_back(Event::SwitchoverTimedOut);
        }
        self.check_yield(now);
        self.update_preempt(now);
        if now >= self.next_hello {
            self.send_hello(now);
        }
        self.pump(now);
    }

    /// `failover active` on this unit.
    pub fn request_active(&mut self, now: Time) -> Result<(), CommandError> {
        match self.state {
            State::Active => Err(CommandError::AlreadyActive),
            State::Negotiating => {
                self.become_active(now, ActiveReason::Manual);
                self.pump(now);
                Ok(())
            }
            State::Standby if !self.mate_up() => {
                self.become_active(now, ActiveReason::Manual);
                self.pump(now);
                Ok(())
            }
            State::Standby => {
                self.start_switchover(now, false);
                Ok(())
            }
        }
    }

    /// `no failover active` on this unit: hand active to the standby mate.
    pub fn request_standby(&mut self, now: Time) -> Result<(), CommandError> {
        match self.state {
            State::Standby => Err(CommandError::AlreadyStandby),
            State::Negotiating => Err(CommandError::NotActive),
            State::Active => {
                let mate = self.mate.as_ref().filter(|m| m.up).ok_or(CommandError::NoMate)?;
                if mate.state() != Some(State::Standby) {
                    return Err(CommandError::MateNotStandby);
                }
                self.begin_yield(now, StandbyReason::Manual);
                self.pump(now);
                Ok(())
            }
        }
    }

    /// `failover reload-standby` on the active.
    pub fn request_reload_standby(&mut self) -> Result<(), CommandError> {
        if self.state != State::Active {
            return Err(CommandError::NotActive);
        }
        let mate = self.mate.as_ref().filter(|m| m.up).ok_or(CommandError::NoMate)?;
        if mate.state() != Some(State::Standby) {
            return Err(CommandError::MateNotStandby);
        }
        self.send(&Message::ReloadStandby);
        Ok(())
    }

    /// A change of the active's SAs, to replicate.
    pub fn replicate(&mut self, now: Time, record: Record) -> Result<(), ReplicateError> {
        let r = self.replicator.as_mut().ok_or(ReplicateError::NotActive)?;
        r.record(now, record).map_err(ReplicateError::Invalid)?;
        self.pump(now);
        Ok(())
    }

    // ----- internals -----

    fn send(&mut self, m: &Message) {
        match self.channel.seal(m) {
            Ok(d) => {
                self.stats.sent = self.stats.sent.saturating_add(1);
                self.transmits.push_back(d);
            }
            Err(_) => self.stats.seal_errors = self.stats.seal_errors.saturating_add(1),
        }
    }

    fn hello_message(&self, now: Time) -> Hello {
        let (repl_gen, repl_seq, bulk_done_seq, bulk_request) = match (&self.replicator, self.state)
        {
            (Some(r), State::Active) => {
                let s = r.status();
                (s.generation, s.last_seq, s.bulk_done_seq, s.request)
            }
            (_, State::Standby) => {
                (self.store.generation().unwrap_or(0), self.store.applied(), 0, self.bulk_request)
            }
            _ => (0, 0, 0, 0),
        };
        Hello {
            state: self.state,
            health: self.health,
            uptime_ms: now.since(self.started).as_millis().try_into().unwrap_or(u64::MAX),
            handover: self.state == State::Standby && self.handover_until.is_some_and(|t| now < t),
            synced: self.synced,
            repl_gen,
            repl_seq,
            bulk_done_seq,
            bulk_request,
        }
    }

    fn send_hello(&mut self, now: Time) {
        let h = self.hello_message(now);
        self.send(&Message::Hello(h));
        self.stats.hellos_sent = self.stats.hellos_sent.saturating_add(1);
        self.next_hello = now + self.hello;
        // Requests ride along with every hello until answered.
        if self.needs_bulk_request() {
            self.send(&Message::BulkSyncRequest { id: self.bulk_request });
        }
        if let Some(s) = self.switchover {
            self.send(&Message::SwitchoverRequest { id: s.id, preempt: s.preempt });
        }
    }

    /// A standby whose copy is incomplete asks until the active's hello shows it serves
    /// the request.
    fn needs_bulk_request(&self) -> bool {
        self.state == State::Standby
            && !self.synced
            && self.channel.mate_epoch().is_some()
            && !self
                .mate
                .as_ref()
                .and_then(|m| m.hello)
                .is_some_and(|h| h.state == State::Active && h.bulk_request == self.bulk_request)
    }

    /// Moves the replicator's messages to the transmit queue and finishes a pending
    /// handover once everything is acknowledged.
    fn pump(&mut self, now: Time) {
        while let Some(m) = self.replicator.as_mut().and_then(|r| r.poll_message(now)) {
            self.send(&m);
        }
        self.check_yield(now);
    }

    fn wins_against(&self, mate: Health) -> bool {
        if self.health.up != mate.up {
            return self.health.up > mate.up;
        }
        self.role == Role::Primary
    }

    fn on_message(&mut self, now: Time, header: Header, message: Message, adoption: Adoption) {
        match adoption {
            Adoption::Current => {}
            Adoption::First => {
                self.mate = Some(Mate::new(header.epoch, now));
            }
            Adoption::Restarted { .. } => {
                self.mate = Some(Mate::new(header.epoch, now));
                self.events.push_back(Event::MateRestarted);
                self.on_mate_restarted(now, &message);
            }
        }
        let Some(mate) = self.mate.as_mut() else {
            return;
        };
        mate.last_heard = now;
        if !mate.up {
            mate.up = true;
            self.events.push_back(Event::MateUp);
        }
        match message {
            Message::Hello(h) => {
                self.stats.hellos_received = self.stats.hellos_received.saturating_add(1);
                if header.seq < mate.hello_seq {
                    // Reordered behind a newer hello: proof of life, but old news.
                    self.stats.stale_hellos = self.stats.stale_hellos.saturating_add(1);
                } else {
                    mate.hello_seq = header.seq;
                    mate.hello = Some(h);
                    self.on_hello(now, h);
                }
            }
            Message::Replicate { generation, seq, age_ms, records } => {
                if self.state == State::Standby {
                    let age = Duration::from_millis(age_ms.into());
                    let (generation, seq) =
                        self.store.on_replicate(now, generation, seq, age, records);
                    self.send(&Message::ReplicateAck { generation, seq });
                    self.check_sync();
                } else {
                    self.ignored();
                }
            }
            Message::ReplicateAck { generation, seq } => match &mut self.replicator {
                Some(r) => r.on_ack(generation, seq),
                None => self.ignored(),
            },
            Message::BulkSyncRequest { id } => {
                let fresh = mate.served_request != Some(id);
                match &mut self.replicator {
                    Some(r) if fresh => {
                        mate.served_request = Some(id);
                        r.start_bulk(id);
                    }
                    _ => self.ignored(),
                }
            }
            Message::BulkSyncDone { generation, seq, request } => {
                if self.state == State::Standby {
                    self.store.on_bulk_done(generation, seq, request);
                    self.check_sync();
                } else {
                    self.ignored();
                }
            }
            Message::SwitchoverRequest { id, preempt } => {
                if id > mate.switchover_id {
                    mate.switchover_id = id;
                    if self.state == State::Active && self.yielding.is_none() {
                        let reason =
                            if preempt { StandbyReason::Preempted } else { StandbyReason::Manual };
                        self.begin_yield(now, reason);
                    }
                } else {
                    // A repeat of a request already honoured.
                    self.ignored();
                }
            }
            Message::ReloadStandby => {
                if self.state == State::Standby {
                    self.events.push_back(Event::ReloadRequested);
                    self.restart_sync();
                    self.send_hello(now);
                } else {
                    self.ignored();
                }
            }
        }
        if !matches!(adoption, Adoption::Current) {
            // Our next hello echoes the mate's epoch: send it now so that the mate
            // adopts us without waiting a hello interval.
            self.send_hello(now);
        }
    }

    fn ignored(&mut self) {
        self.stats.ignored = self.stats.ignored.saturating_add(1);
    }

    fn on_mate_restarted(&mut self, now: Time, first: &Message) {
        self.split_brain = false;
        match self.state {
            State::Active => {
                // Whatever the old standby held is gone with it; it will ask again.
                if let Some(r) = &mut self.replicator {
                    r.detach();
                }
                self.yielding = None;
            }
            State::Standby => {
                let claims_active = matches!(first, Message::Hello(h) if h.state == State::Active);
                if claims_active {
                    // It restarted and came up active without us (it did not hear us
                    // while negotiating): follow its new stream.
                    self.restart_sync();
                } else {
                    // Our active restarted and lost its SAs; we hold them.
                    self.become_active(now, ActiveReason::MateRestarted);
                }
            }
            State::Negotiating => {}
        }
    }

    fn on_mate_down(&mut self, now: Time, since: Time) {
        self.split_brain = false;
        match self.state {
            State::Standby => {
                self.become_active(now, ActiveReason::MateSilent { since });
            }
            State::Active => {
                if let Some(r) = &mut self.replicator {
                    r.detach();
                }
                if let Some(m) = &mut self.mate {
                    m.served_request = None;
                }
                // Nobody to hand over to.
                self.yielding = None;
            }
            State::Negotiating => {}
        }
    }

    fn negotiation_deadline(&mut self, now: Time) {
        let mate = self.mate.as_ref().filter(|m| m.up);
        match mate.and_then(|m| m.hello) {
            None => {
                let since =
                    self.mate.as_ref().map_or(self.started, |m| m.last_heard.max(self.started));
                self.become_active(now, ActiveReason::MateSilent { since });
            }
            Some(h) => match h.state {
                State::Active => self.become_standby(now, StandbyReason::MateActive, false),
                State::Standby => self.become_active(now, ActiveReason::Elected),
                State::Negotiating => {
                    if self.wins_against(h.health) {
                        self.become_active(now, ActiveReason::Elected);
                    } else {
                        self.become_standby(now, StandbyReason::Elected, false);
                    }
                }
            },
        }
    }

    fn on_hello(&mut self, now: Time, h: Hello) {
        match self.state {
            State::Negotiating => match h.state {
                State::Active => self.become_standby(now, StandbyReason::MateActive, false),
                State::Negotiating => {
                    if self.wins_against(h.health) {
                        self.become_active(now, ActiveReason::Elected);
                    } else {
                        self.become_standby(now, StandbyReason::Elected, false);
                    }
                }
                // A standby holding a copy was the standby of our previous boot: it takes
                // over as soon as it adopts our new epoch. One without a copy lost the
                // election to us (or has nothing to offer): we take active.
                State::Standby => {
                    if !h.synced {
                        self.become_active(now, ActiveReason::Elected);
                    }
                }
            },
            State::Standby => match h.state {
                State::Active => {
                    self.handover_until = None;
                    if h.bulk_done_seq > 0 {
                        self.store.on_bulk_done(h.repl_gen, h.bulk_done_seq, h.bulk_request);
                    }
                    if self.synced && h.repl_gen > self.store.generation().unwrap_or(0) {
                        // The active moved to a generation we do not follow (it lost us
                        // for a hold time): start over under a new request.
                        self.events.push_back(Event::SyncLost);
                        self.restart_sync();
                    }
                    self.check_sync();
                    if self.needs_bulk_request() {
                        self.send(&Message::BulkSyncRequest { id: self.bulk_request });
                    }
                    if self.health.up > h.health.up {
                        self.become_active(now, ActiveReason::MateReportedFailure);
                    }
                }
                State::Standby => {
                    if h.handover {
                        let reason = match self.switchover {
                            Some(s) if s.preempt => ActiveReason::Preempt,
                            _ => ActiveReason::Manual,
                        };
                        self.become_active(now, reason);
                    } else if self.handover_until.is_some_and(|t| now < t) {
                        // We handed over; the mate is about to take it.
                    } else if self.wins_standby_election(h) {
                        self.become_active(now, ActiveReason::Elected);
                    }
                }
                State::Negotiating => {}
            },
            State::Active => match h.state {
                State::Active => {
                    if self.wins_against(h.health) {
                        if !self.split_brain {
                            self.split_brain = true;
                            self.stats.split_brains = self.stats.split_brains.saturating_add(1);
                            self.events
                                .push_back(Event::SplitBrainResolved { we_stay_active: true });
                        }
                    } else {
                        self.stats.split_brains = self.stats.split_brains.saturating_add(1);
                        self.events.push_back(Event::SplitBrainResolved { we_stay_active: false });
                        self.become_standby(now, StandbyReason::SplitBrain, false);
                    }
                }
                State::Standby | State::Negotiating => {
                    self.split_brain = false;
                    if let Some(r) = &mut self.replicator {
                        r.on_ack(h.repl_gen, h.repl_seq);
                    }
                }
            },
        }
        self.update_preempt(now);
    }

    /// Between two standbys: the one holding a complete copy, then health, then primary.
    fn wins_standby_election(&self, h: Hello) -> bool {
        if self.synced != h.synced {
            return self.synced;
        }
        self.wins_against(h.health)
    }

    fn check_sync(&mut self) {
        if self.state != State::Standby {
            return;
        }
        if self.synced && !self.store.is_synced_for(self.bulk_request) {
            // The store moved to a new generation (the active restarted the stream).
            self.synced = false;
            self.events.push_back(Event::SyncLost);
        }
        if !self.synced && self.store.is_synced_for(self.bulk_request) {
            self.synced = true;
            self.events.push_back(Event::StandbySynced);
        }
    }

    /// Forgets the copy and asks for a new one under a new request number.
    fn restart_sync(&mut self) {
        self.store.reset();
        self.synced = false;
        self.bulk_request = self.bulk_request.wrapping_add(1).max(1);
    }

    fn start_switchover(&mut self, now: Time, preempt: bool) {
        self.next_switchover_id = self.next_switchover_id.wrapping_add(1).max(1);
        let s = Switchover { id: self.next_switchover_id, preempt, deadline: now + self.hold };
        self.switchover = Some(s);
        self.send(&Message::SwitchoverRequest { id: s.id, preempt });
    }

    fn begin_yield(&mut self, now: Time, reason: StandbyReason) {
        self.yielding = Some(Yield { reason, deadline: now + self.hold / 2 });
        self.check_yield(now);
    }

    fn check_yield(&mut self, now: Time) {
        let Some(y) = self.yielding else {
            return;
        };
        let drained = self.replicator.as_ref().is_none_or(ActiveReplicator::is_drained);
        if drained || now >= y.deadline {
            self.yielding = None;
            self.become_standby(now, y.reason, true);
        }
    }

    fn update_preempt(&mut self, now: Time) {
        let mate = self.mate.as_ref().filter(|m| m.up).and_then(|m| m.hello);
        let eligible = self.state == State::Standby
            && self.role == Role::Primary
            && self.preempt.is_some()
            && self.synced
            && self.switchover.is_none()
            && mate.is_some_and(|h| h.state == State::Active && self.health.up >= h.health.up);
        let Some(delay) = self.preempt.filter(|_| eligible) else {
            self.preempt_since = None;
            return;
        };
        let since = *self.preempt_since.get_or_insert(now);
        if now >= since + delay {
            self.preempt_since = None;
            self.start_switchover(now, true);
        }
    }

    fn become_active(&mut self, now: Time, reason: ActiveReason) {
        if self.state == State::Active {
            return;
        }
        let takeover = if self.state == State::Standby {
            if !self.synced {
                self.stats.unsynced_takeovers = self.stats.unsynced_takeovers.saturating_add(1);
                self.events.push_back(Event::TookOverUnsynced);
            }
            self.store.takeover(now)
        } else {
            self.store.reset();
            Takeover::default()
        };
        let table = SaTable::from_takeover(&takeover, now);
        self.replicator = Some(ActiveReplicator::with_table(table, self.next_gen, self.rto));
        self.takeover = Some(takeover);
        self.state = State::Active;
        self.synced = false;
        self.switchover = None;
        self.handover_until = None;
        self.preempt_since = None;
        self.split_brain = false;
        self.negotiate_until = None;
        if let Some(m) = &mut self.mate {
            m.served_request = None;
        }
        self.stats.transitions = self.stats.transitions.saturating_add(1);
        self.events.push_back(Event::BecameActive { reason });
        tracing::info!(target: LOG_TARGET, ?reason, "failover: this unit is now active");
        self.send_hello(now);
    }

    fn become_standby(&mut self, now: Time, reason: StandbyReason, handover: bool) {
        if self.state == State::Standby {
            return;
        }
        if let Some(r) = self.replicator.take() {
            // Generations stay increasing across our active periods, so that a standby
            // that followed us before never takes a new stream for an old one.
            self.next_gen = r.generation().wrapping_add(1);
            self.stats.replication.add(r.stats());
        }
        self.takeover = None;
        self.restart_sync();
        self.state = State::Standby;
        self.yielding = None;
        self.switchover = None;
        self.split_brain = false;
        self.negotiate_until = None;
        self.handover_until = handover.then(|| now + self.hold);
        self.stats.transitions = self.stats.transitions.saturating_add(1);
        self.events.push_back(Event::BecameStandby { reason });
        tracing::info!(target: LOG_TARGET, ?reason, "failover: this unit is now standby");
        self.send_hello(now);
    }
}
