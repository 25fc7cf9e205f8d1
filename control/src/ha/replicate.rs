//! State replication: the active's [`ActiveReplicator`] turns changes into ordered,
//! acknowledged Replicate messages; the standby's [`StandbyStore`] applies them and, on
//! takeover, hands out the SAs with outbound sequence numbers jumped ahead.
//!
//! **Stream.** Messages are numbered from 1 within a *generation*. A generation starts
//! with a bulk sync (every SA the active holds, from an empty store) and goes on with the
//! incremental changes; the standby applies messages strictly in order (holding up to
//! [`REORDER_LIMIT`] early ones), acknowledges cumulatively, and the active retransmits
//! what is unacknowledged after the retransmission timeout, with at most [`WINDOW`]
//! messages in flight. A new generation (a standby's bulk sync request, too many queued
//! changes, or losing the standby) makes the standby start again from empty, so nothing
//! is ever left half-applied across generations.
//!
//! **Takeover margin.** The active reads the outbound sequence numbers from its
//! dataplane every update interval and replicates them ([`Record::SeqUpdate`]); it kept
//! sending after the last value the standby holds, until it died, which the standby only
//! knows happened before the takeover. So for each Child SA the standby jumps
//! `max(floor, factor × rate × (time since the value was read + update interval))`
//! ahead ([`MarginRule`]): `rate` is the highest packets-per-second rate seen on any SA
//! (the SA's own rate can burst past its history), measured between successive
//! replicated values; the time since the value was read is dated with the message's
//! `age` (so a retransmitted value is not taken as fresh); the extra update interval
//! covers the delivery of the last update. The floor covers SAs without a measured rate.
//! The jump wastes part of a 32-bit sequence space on a busy SA; the new active should
//! rekey such SAs early (appliance policy), while 64-bit (ESN) SAs never notice.

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use super::codec::WireError;
use super::record::{ChildSaRecord, IkeSaRecord, MAX_RECORD_LEN, Record};
use super::wire::{MAX_BODY, Message, REPLICATE_OVERHEAD};
use crate::time::Time;

/// Most unacknowledged Replicate messages in flight.
pub const WINDOW: usize = 32;
/// Most changes queued behind a full window before the active gives up on incremental
/// replication and starts a new generation (bulk sync) instead.
pub const MAX_PENDING: usize = 65_536;
/// Most out-of-order messages the standby holds.
pub const REORDER_LIMIT: u64 = 64;
/// Shortest interval between two values used to measure a packet rate (closer samples
/// would divide by jitter).
const MIN_RATE_SAMPLE: Duration = Duration::from_millis(100);

/// How far outbound sequence numbers jump on takeover (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarginRule {
    /// How often the active replicates its outbound sequence numbers.
    pub update_interval: Duration,
    /// The smallest jump.
    pub floor: u64,
    /// Safety factor on the highest rate seen.
    pub factor: u64,
}

impl Default for MarginRule {
    fn default() -> Self {
        MarginRule { update_interval: Duration::from_secs(1), floor: 1 << 16, factor: 2 }
    }
}

impl MarginRule {
    /// The jump for an SA whose last replicated value is `staleness` old, with `rate_pps`
    /// the highest rate seen.
    pub fn margin(&self, rate_pps: u64, staleness: Duration) -> u64 {
        let window_ms = staleness.saturating_add(self.update_interval).as_millis();
        let m = u128::from(rate_pps)
            .saturating_mul(window_ms)
            .saturating_mul(u128::from(self.factor))
            .div_ceil(1000);
        u64::try_from(m).unwrap_or(u64::MAX).max(self.floor)
    }
}

/// What the standby hands over on becoming active: the SAs to install, outbound
/// sequence numbers already jumped and lifetimes already reduced by the time elapsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Takeover {
    /// IKE SAs, by id. Message IDs are as replicated (never jumped: the peer needs them
    /// exact; RFC 6311 synchronisation covers a lost last update).
    pub ike: Vec<IkeSaRecord>,
    /// Child SAs, by inbound SPI.
    pub children: Vec<ChildSaRecord>,
}

/// Something odd in the replicated stream; counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// Delete of an IKE SA not held.
    UnknownIke,
    /// Update or delete of a Child SA not held.
    UnknownChild,
    /// A Child SA whose IKE SA is not held (kept anyway).
    OrphanChild,
    /// An IKEv2 SA update with older message IDs than held (ignored).
    StaleIke,
    /// An outbound sequence number below the one held (ignored).
    SeqRegression,
    /// A replay window below the one held (ignored).
    ReplayRegression,
}

/// Counters of the standby's stream handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Anomalies {
    /// [`Anomaly::UnknownIke`].
    pub unknown_ike: u64,
    /// [`Anomaly::UnknownChild`].
    pub unknown_child: u64,
    /// [`Anomaly::OrphanChild`].
    pub orphan_child: u64,
    /// [`Anomaly::StaleIke`].
    pub stale_ike: u64,
    /// [`Anomaly::SeqRegression`].
    pub seq_regression: u64,
    /// [`Anomaly::ReplayRegression`].
    pub replay_regression: u64,
    /// Messages of an older generation.
    pub stale_generation: u64,
    /// Messages already applied (retransmissions after a lost ack).
    pub duplicates: u64,
    /// Messages too far ahead to hold (the active retransmits them).
    pub beyond_reorder: u64,
}

impl Anomalies {
    fn count(&mut self, a: Anomaly) {
        let c = match a {
            Anomaly::UnknownIke => &mut self.unknown_ike,
            Anomaly::UnknownChild => &mut self.unknown_child,
            Anomaly::OrphanChild => &mut self.orphan_child,
            Anomaly::StaleIke => &mut self.stale_ike,
            Anomaly::SeqRegression => &mut self.seq_regression,
            Anomaly::ReplayRegression => &mut self.replay_regression,
        };
        *c = c.saturating_add(1);
    }
}

#[derive(Debug, Clone)]
struct IkeEntry {
    rec: IkeSaRecord,
    /// When the record's values were read on the active (estimate).
    at: Time,
}

#[derive(Debug, Clone)]
struct ChildEntry {
    rec: ChildSaRecord,
    at: Time,
    /// When `rec.outbound_seq` was read on the active (estimate).
    seq_at: Time,
    /// The value and time a rate is measured from.
    base: (Time, u64),
}

/// The SAs a unit holds for replication: the active's mirror (what a bulk sync sends)
/// or the standby's copy.
#[derive(Debug, Clone, Default)]
pub(crate) struct SaTable {
    ike: BTreeMap<u64, IkeEntry>,
    child: BTreeMap<u32, ChildEntry>,
    /// Highest packets-per-second rate measured on any Child SA.
    max_rate: u64,
}

impl SaTable {
    /// Applies one change read at `at`; the anomaly, if any, is for counting.
    pub(crate) fn apply(&mut self, rec: Record, at: Time) -> Option<Anomaly> {
        match rec {
            Record::UpsertIke(r) => {
                if let Some(old) = self.ike.get(&r.id)
                    && r.version == 2
                    && old.rec.version == 2
                    && (old.rec.spi_i, old.rec.spi_r) == (r.spi_i, r.spi_r)
                    && (r.next_send_msg_id < old.rec.next_send_msg_id
                        || r.next_recv_msg_id < old.rec.next_recv_msg_id)
                {
                    return Some(Anomaly::StaleIke);
                }
                self.ike.insert(r.id, IkeEntry { rec: r, at });
                None
            }
            Record::DeleteIke(id) => {
                let had = self.ike.remove(&id).is_some();
                let before = self.child.len();
                self.child.retain(|_, c| c.rec.ike_id != id);
                (!had && before == self.child.len()).then_some(Anomaly::UnknownIke)
            }
            Record::UpsertChild(mut c) => {
                let orphan = !self.ike.contains_key(&c.ike_id);
                let mut anomaly = orphan.then_some(Anomaly::OrphanChild);
                let spi = c.inbound_spi;
                let entry = match self.child.remove(&spi) {
                    Some(old) if old.rec.outbound_spi == c.outbound_spi => {
                        // The same SA again (a lifetime or selector change, or a bulk
                        // sync): never move its counters backwards.
                        if c.outbound_seq < old.rec.outbound_seq {
                            anomaly = Some(Anomaly::SeqRegression);
                            c.outbound_seq = old.rec.outbound_seq;
                        }
                        if c.replay.highest < old.rec.replay.highest {
                            anomaly = Some(Anomaly::ReplayRegression);
                            c.replay = old.rec.replay.clone();
                        }
                        let seq_at =
                            if c.outbound_seq > old.rec.outbound_seq { at } else { old.seq_at };
                        ChildEntry { rec: c, at, seq_at, base: old.base }
                    }
                    _ => {
                        let seq = c.outbound_seq;
                        ChildEntry { rec: c, at, seq_at: at, base: (at, seq) }
                    }
                };
                self.child.insert(spi, entry);
                anomaly
            }
            Record::DeleteChild(spi) => {
                self.child.remove(&spi).is_none().then_some(Anomaly::UnknownChild)
            }
            Record::SeqUpdate { inbound_spi, outbound_seq } => {
                let Some(e) = self.child.get_mut(&inbound_spi) else {
                    return Some(Anomaly::UnknownChild);
                };
                if outbound_seq < e.rec.outbound_seq {
                    return Some(Anomaly::SeqRegression);
                }
                e.rec.outbound_seq = outbound_seq;
                e.seq_at = at;
                let (t0, s0) = e.base;
                let dt = at.since(t0);
                if dt >= MIN_RATE_SAMPLE {
                    let dt_ms = u128::from(u64::try_from(dt.as_millis()).unwrap_or(u64::MAX));
                    let rate = u128::from(outbound_seq.saturating_sub(s0))
                        .saturating_mul(1000)
                        .div_ceil(dt_ms);
                    self.max_rate = self.max_rate.max(u64::try_from(rate).unwrap_or(u64::MAX));
                    e.base = (at, outbound_seq);
                }
                None
            }
            Record::ReplayUpdate { inbound_spi, highest, bitmap } => {
                let Some(e) = self.child.get_mut(&inbound_spi) else {
                    return Some(Anomaly::UnknownChild);
                };
                if highest < e.rec.replay.highest {
                    return Some(Anomaly::ReplayRegression);
                }
                e.rec.replay.highest = highest;
                e.rec.replay.bitmap = bitmap;
                None
            }
        }
    }

    fn margin(&self, e: &ChildEntry, now: Time, rule: &MarginRule) -> u64 {
        rule.margin(self.max_rate, now.since(e.seq_at))
    }

    /// The SAs for a new active: sequence numbers jumped, lifetimes reduced.
    pub(crate) fn takeover(&self, now: Time, rule: &MarginRule) -> Takeover {
        let elapsed = |at: Time| u32::try_from(now.since(at).as_secs()).unwrap_or(u32::MAX);
        let ike = self
            .ike
            .values()
            .map(|e| {
                let mut r = e.rec.clone();
                let gone = elapsed(e.at);
                r.soft_lifetime_secs = r.soft_lifetime_secs.saturating_sub(gone);
                r.hard_lifetime_secs = r.hard_lifetime_secs.saturating_sub(gone);
                r
            })
            .collect();
        let children = self
            .child
            .values()
            .map(|e| {
                let mut c = e.rec.clone();
                c.outbound_seq = c.outbound_seq.saturating_add(self.margin(e, now, rule));
                let gone = elapsed(e.at);
                c.lifetimes.soft_secs = c.lifetimes.soft_secs.saturating_sub(gone);
                c.lifetimes.hard_secs = c.lifetimes.hard_secs.saturating_sub(gone);
                c
            })
            .collect();
        Takeover { ike, children }
    }

    /// The table of a new active, from what it installed.
    pub(crate) fn from_takeover(t: &Takeover, now: Time) -> SaTable {
        let mut table = SaTable::default();
        for r in &t.ike {
            table.ike.insert(r.id, IkeEntry { rec: r.clone(), at: now });
        }
        for c in &t.children {
            let base = (now, c.outbound_seq);
            table
                .child
                .insert(c.inbound_spi, ChildEntry { rec: c.clone(), at: now, seq_at: now, base });
        }
        table
    }

    fn clear(&mut self) {
        self.ike.clear();
        self.child.clear();
        self.max_rate = 0;
    }
}

/// The standby's copy of the active's SAs.
#[derive(Debug, Clone)]
pub struct StandbyStore {
    table: SaTable,
    generation: Option<u32>,
    applied: u64,
    reorder: BTreeMap<u64, (Vec<Record>, Time)>,
    bulk_done: Option<(u32, u64, u32)>,
    anomalies: Anomalies,
    rule: MarginRule,
}

impl StandbyStore {
    /// An empty store that jumps sequence numbers by `rule` on takeover.
    pub fn new(rule: MarginRule) -> StandbyStore {
        StandbyStore {
            table: SaTable::default(),
            generation: None,
            applied: 0,
            reorder: BTreeMap::new(),
            bulk_done: None,
            anomalies: Anomalies::default(),
            rule,
        }
    }

    /// Forgets everything but the counters (a new standby period, a reload).
    pub fn reset(&mut self) {
        self.table.clear();
        self.generation = None;
        self.applied = 0;
        self.reorder.clear();
        self.bulk_done = None;
    }

    /// Takes a Replicate message received at `now`; returns the cumulative
    /// acknowledgement to send (`generation`, highest sequence number applied in order).
    pub fn on_replicate(
        &mut self,
        now: Time,
        generation: u32,
        seq: u64,
        age: Duration,
        records: Vec<Record>,
    ) -> (u32, u64) {
        match self.generation {
            Some(g) if generation < g => {
                self.anomalies.stale_generation = self.anomalies.stale_generation.saturating_add(1);
                return (g, self.applied);
            }
            Some(g) if g == generation => {}
            _ => {
                // A new generation starts from empty: its first messages are a bulk sync.
                self.table.clear();
                self.generation = Some(generation);
                self.applied = 0;
                self.reorder.clear();
            }
        }
        let at = Time(
            now.as_millis().saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
        );
        if seq <= self.applied || self.reorder.contains_key(&seq) {
            self.anomalies.duplicates = self.anomalies.duplicates.saturating_add(1);
        } else if seq == self.applied.saturating_add(1) {
            self.apply_all(records, at);
            self.applied = seq;
            while let Some((recs, at)) = self.reorder.remove(&self.applied.saturating_add(1)) {
                self.apply_all(recs, at);
                self.applied = self.applied.saturating_add(1);
            }
        } else if seq - self.applied <= REORDER_LIMIT {
            self.reorder.insert(seq, (records, at));
        } else {
            self.anomalies.beyond_reorder = self.anomalies.beyond_reorder.saturating_add(1);
        }
        (generation, self.applied)
    }

    fn apply_all(&mut self, records: Vec<Record>, at: Time) {
        for r in records {
            if let Some(a) = self.table.apply(r, at) {
                self.anomalies.count(a);
            }
        }
    }

    /// Notes where a generation's bulk sync ends (from BulkSyncDone or a hello).
    pub fn on_bulk_done(&mut self, generation: u32, seq: u64, request: u32) {
        if self.bulk_done.is_none_or(|(g, ..)| generation >= g) {
            self.bulk_done = Some((generation, seq, request));
        }
    }

    /// Whether the store holds a complete copy: the bulk sync of its generation, serving
    /// `request`, is applied.
    pub fn is_synced_for(&self, request: u32) -> bool {
        matches!(self.bulk_done, Some((g, s, r))
            if Some(g) == self.generation && r == request && self.applied >= s)
    }

    /// The generation followed.
    pub fn generation(&self) -> Option<u32> {
        self.generation
    }

    /// Highest sequence number applied in order.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The IKE SA `id`.
    pub fn ike(&self, id: u64) -> Option<&IkeSaRecord> {
        self.table.ike.get(&id).map(|e| &e.rec)
    }

    /// The Child SA with inbound SPI `spi`.
    pub fn child(&self, spi: u32) -> Option<&ChildSaRecord> {
        self.table.child.get(&spi).map(|e| &e.rec)
    }

    /// IKE SAs held.
    pub fn ike_count(&self) -> usize {
        self.table.ike.len()
    }

    /// Child SAs held.
    pub fn child_count(&self) -> usize {
        self.table.child.len()
    }

    /// Highest packet rate measured on any Child SA.
    pub fn max_rate_pps(&self) -> u64 {
        self.table.max_rate
    }

    /// The jump the Child SA `spi` would get on a takeover at `now`.
    pub fn margin_for(&self, spi: u32, now: Time) -> Option<u64> {
        self.table.child.get(&spi).map(|e| self.table.margin(e, now, &self.rule))
    }

    /// Counters.
    pub fn anomalies(&self) -> &Anomalies {
        &self.anomalies
    }

    /// Hands out the SAs for a takeover at `now` (sequence numbers jumped, see
    /// [`MarginRule`]) and empties the store.
    pub fn takeover(&mut self, now: Time) -> Takeover {
        let t = self.table.takeover(now, &self.rule);
        self.reset();
        t
    }
}

/// Why a change cannot be replicated.
pub type RecordError = WireError;

/// Counters of the active's replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReplStats {
    /// Records sent (first transmissions).
    pub records: u64,
    /// Replicate messages sent (first transmissions).
    pub messages: u64,
    /// Replicate messages retransmitted.
    pub retransmits: u64,
    /// Generations started (bulk syncs).
    pub bulk_syncs: u64,
    /// Bulk syncs started because the queue overflowed.
    pub overflows: u64,
    /// Changes that did not match the active's own mirror (deleting an unknown SA...).
    pub local_anomalies: u64,
}

impl ReplStats {
    pub(crate) fn add(&mut self, o: &ReplStats) {
        self.records = self.records.saturating_add(o.records);
        self.messages = self.messages.saturating_add(o.messages);
        self.retransmits = self.retransmits.saturating_add(o.retransmits);
        self.bulk_syncs = self.bulk_syncs.saturating_add(o.bulk_syncs);
        self.overflows = self.overflows.saturating_add(o.overflows);
        self.local_anomalies = self.local_anomalies.saturating_add(o.local_anomalies);
    }
}

#[derive(Debug, Clone)]
struct Outstanding {
    records: Vec<Record>,
    /// When the oldest value in the message was read.
    born: Time,
    last_sent: Time,
}

/// Where a bulk sync is: the last key sent in each phase (IKE SAs first, so that a Child
/// SA never arrives before its IKE SA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    Ike(Option<u64>),
    Child(Option<u32>),
    Done,
}

/// The generation's replication status, as the active's hello reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StreamStatus {
    /// Generation.
    pub generation: u32,
    /// Last sequence number assigned.
    pub last_seq: u64,
    /// The sequence number completing the bulk sync (0: not yet).
    pub bulk_done_seq: u64,
    /// The request served (0: none, detached).
    pub request: u32,
}

/// The active's side: keeps a mirror of every SA (for bulk syncs) and streams changes.
#[derive(Debug, Clone)]
pub struct ActiveReplicator {
    table: SaTable,
    generation: u32,
    attached: bool,
    next_seq: u64,
    pending: VecDeque<(Record, Time)>,
    cursor: Cursor,
    bulk_active: bool,
    start_pending: bool,
    bulk_request: u32,
    bulk_done_seq: u64,
    done_notice: bool,
    unacked: BTreeMap<u64, Outstanding>,
    rto: Duration,
    stats: ReplStats,
}

impl ActiveReplicator {
    /// An empty mirror, not streaming; generations continue after `generation`.
    pub fn new(generation: u32, rto: Duration) -> ActiveReplicator {
        Self::with_table(SaTable::default(), generation, rto)
    }

    pub(crate) fn with_table(table: SaTable, generation: u32, rto: Duration) -> ActiveReplicator {
        ActiveReplicator {
            table,
            generation,
            attached: false,
            next_seq: 1,
            pending: VecDeque::new(),
            cursor: Cursor::Done,
            bulk_active: false,
            start_pending: false,
            bulk_request: 0,
            bulk_done_seq: 0,
            done_notice: false,
            unacked: BTreeMap::new(),
            rto,
            stats: ReplStats::default(),
        }
    }

    /// Takes a change made at `now`: applied to the mirror and, when a standby follows,
    /// queued for it. Refuses a record the standby could not decode.
    pub fn record(&mut self, now: Time, rec: Record) -> Result<(), RecordError> {
        rec.validate()?;
        if rec.encoded_len() > MAX_RECORD_LEN {
            return Err(WireError::TooLong("record"));
        }
        let passed = self.cursor_passed(&rec);
        if self.table.apply(rec.clone(), now).is_some() {
            self.stats.local_anomalies = self.stats.local_anomalies.saturating_add(1);
        }
        // During a bulk sync a change to an SA the cursor has not reached yet is in the
        // mirror the cursor will read: sending it too would only be a duplicate.
        if self.attached && passed {
            self.pending.push_back((rec, now));
            if self.pending.len() > MAX_PENDING {
                self.stats.overflows = self.stats.overflows.saturating_add(1);
                let request = self.bulk_request;
                self.start_bulk(request);
            }
        }
        Ok(())
    }

    fn cursor_passed(&self, rec: &Record) -> bool {
        if !self.bulk_active {
            return true;
        }
        match rec {
            Record::UpsertIke(IkeSaRecord { id, .. }) | Record::DeleteIke(id) => {
                match self.cursor {
                    Cursor::Ike(last) => last.is_some_and(|l| *id <= l),
                    Cursor::Child(_) | Cursor::Done => true,
                }
            }
            Record::UpsertChild(ChildSaRecord { inbound_spi: spi, .. })
            | Record::DeleteChild(spi)
            | Record::SeqUpdate { inbound_spi: spi, .. }
            | Record::ReplayUpdate { inbound_spi: spi, .. } => match self.cursor {
                Cursor::Ike(_) => false,
                Cursor::Child(last) => last.is_some_and(|l| *spi <= l),
                Cursor::Done => true,
            },
        }
    }

    /// Starts a new generation with a bulk sync of the whole mirror, serving the
    /// standby's `request`.
    pub fn start_bulk(&mut self, request: u32) {
        self.generation = self.generation.wrapping_add(1).max(1);
        self.attached = true;
        self.next_seq = 1;
        self.pending.clear();
        self.unacked.clear();
        self.cursor = Cursor::Ike(None);
        self.bulk_active = true;
        self.start_pending = true;
        self.bulk_request = request;
        self.bulk_done_seq = 0;
        self.done_notice = false;
        self.stats.bulk_syncs = self.stats.bulk_syncs.saturating_add(1);
    }

    /// Stops streaming (the standby is gone). The generation moves on, so a standby that
    /// still believes it follows the stream sees from the next hello that it does not.
    pub fn detach(&mut self) {
        if self.attached {
            self.generation = self.generation.wrapping_add(1).max(1);
        }
        self.attached = false;
        self.pending.clear();
        self.unacked.clear();
        self.cursor = Cursor::Done;
        self.bulk_active = false;
        self.start_pending = false;
        self.bulk_request = 0;
        self.bulk_done_seq = 0;
        self.done_notice = false;
    }

    /// A cumulative acknowledgement.
    pub fn on_ack(&mut self, generation: u32, seq: u64) {
        if self.attached && generation == self.generation && seq < self.next_seq {
            self.unacked.retain(|&s, _| s > seq);
        }
    }

    /// Whether a standby follows the stream.
    pub fn is_attached(&self) -> bool {
        self.attached
    }

    /// Whether everything queued is sent and acknowledged (true when detached).
    pub fn is_drained(&self) -> bool {
        !self.attached || (self.unacked.is_empty() && self.pending.is_empty() && !self.bulk_active)
    }

    /// The current generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// What the hello reports.
    pub fn status(&self) -> StreamStatus {
        if !self.attached {
            return StreamStatus { generation: self.generation, ..StreamStatus::default() };
        }
        StreamStatus {
            generation: self.generation,
            last_seq: self.next_seq.saturating_sub(1),
            bulk_done_seq: self.bulk_done_seq,
            request: self.bulk_request,
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ReplStats {
        &self.stats
    }

    /// IKE SAs in the mirror.
    pub fn ike_count(&self) -> usize {
        self.table.ike.len()
    }

    /// Child SAs in the mirror.
    pub fn child_count(&self) -> usize {
        self.table.child.len()
    }

    /// The Child SA with inbound SPI `spi` in the mirror.
    pub fn child(&self, spi: u32) -> Option<&ChildSaRecord> {
        self.table.child.get(&spi).map(|e| &e.rec)
    }

    /// When a retransmission is due.
    pub fn next_timeout(&self) -> Option<Time> {
        if !self.attached {
            return None;
        }
        self.unacked.values().map(|o| o.last_sent + self.rto).min()
    }

    /// The next message to send at `now`: a due retransmission, the bulk sync's end
    /// notice, or new records while the window has room.
    pub fn poll_message(&mut self, now: Time) -> Option<Message> {
        if !self.attached {
            return None;
        }
        let generation = self.generation;
        let rto = self.rto;
        if let Some((&seq, o)) = self.unacked.iter_mut().find(|(_, o)| o.last_sent + rto <= now) {
            o.last_sent = now;
            self.stats.retransmits = self.stats.retransmits.saturating_add(1);
            return Some(Message::Replicate {
                generation,
                seq,
                age_ms: age_ms(now, o.born),
                records: o.records.clone(),
            });
        }
        if self.done_notice {
            self.done_notice = false;
            return Some(Message::BulkSyncDone {
                generation,
                seq: self.bulk_done_seq,
                request: self.bulk_request,
            });
        }
        if self.unacked.len() >= WINDOW {
            return None;
        }
        let mut records = Vec::new();
        let mut size = REPLICATE_OVERHEAD;
        let mut born = now;
        // Live changes first (they are only ever about SAs the cursor has passed), then
        // the bulk sync.
        while let Some((rec, at)) = self.pending.front() {
            let len = rec.encoded_len();
            if size.saturating_add(len) > MAX_BODY {
                break;
            }
            size += len;
            born = born.min(*at);
            if let Some((rec, _)) = self.pending.pop_front() {
                records.push(rec);
            }
        }
        while let Some(rec) = self.cursor_peek() {
            let len = rec.encoded_len();
            if size.saturating_add(len) > MAX_BODY {
                break;
            }
            size += len;
            self.cursor_advance(&rec);
            records.push(rec);
        }
        let completes_bulk = self.bulk_active && self.cursor == Cursor::Done;
        if records.is_empty() && !self.start_pending && !completes_bulk {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = seq.saturating_add(1);
        self.start_pending = false;
        if completes_bulk {
            self.bulk_active = false;
            self.bulk_done_seq = seq;
            self.done_notice = true;
        }
        self.stats.messages = self.stats.messages.saturating_add(1);
        self.stats.records = self.stats.records.saturating_add(records.len() as u64);
        self.unacked.insert(seq, Outstanding { records: records.clone(), born, last_sent: now });
        Some(Message::Replicate { generation, seq, age_ms: age_ms(now, born), records })
    }

    fn cursor_peek(&mut self) -> Option<Record> {
        use core::ops::Bound::{Excluded, Unbounded};
        loop {
            match self.cursor {
                Cursor::Ike(last) => {
                    let next = match last {
                        None => self.table.ike.values().next(),
                        Some(l) => {
                            self.table.ike.range((Excluded(l), Unbounded)).next().map(|(_, e)| e)
                        }
                    };
                    match next {
                        Some(e) => return Some(Record::UpsertIke(e.rec.clone())),
                        None => self.cursor = Cursor::Child(None),
                    }
                }
                Cursor::Child(last) => {
                    let next = match last {
                        None => self.table.child.values().next(),
                        Some(l) => {
                            self.table.child.range((Excluded(l), Unbounded)).next().map(|(_, e)| e)
                        }
                    };
                    match next {
                        Some(e) => return Some(Record::UpsertChild(e.rec.clone())),
                        None => self.cursor = Cursor::Done,
                    }
                }
                Cursor::Done => return None,
            }
        }
    }

    fn cursor_advance(&mut self, rec: &Record) {
        match rec {
            Record::UpsertIke(r) => self.cursor = Cursor::Ike(Some(r.id)),
            Record::UpsertChild(c) => self.cursor = Cursor::Child(Some(c.inbound_spi)),
            _ => {}
        }
        // Look ahead so that the message taking the last record completes the bulk.
        let _ = self.cursor_peek();
    }
}

fn age_ms(now: Time, born: Time) -> u32 {
    u32::try_from(now.since(born).as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::record::tests::{max_child, max_ike};

    fn child(ike_id: u64, spi: u32, seq: u64) -> ChildSaRecord {
        let mut c = max_child();
        c.ike_id = ike_id;
        c.inbound_spi = spi;
        c.outbound_spi = spi ^ 0xffff;
        c.outbound_seq = seq;
        c.local_ts.truncate(1);
        c.remote_ts.truncate(1);
        c
    }

    fn ike(id: u64) -> IkeSaRecord {
        let mut r = max_ike();
        r.id = id;
        r
    }

    #[test]
    fn margin_rule() {
        let r = MarginRule { update_interval: Duration::from_secs(1), floor: 100, factor: 2 };
        assert_eq!(r.margin(0, Duration::ZERO), 100);
        // 10 000 pps, 2 s since the value + 1 s interval, factor 2: 60 000.
        assert_eq!(r.margin(10_000, Duration::from_secs(2)), 60_000);
        assert_eq!(r.margin(u64::MAX, Duration::MAX), u64::MAX);
    }

    #[test]
    fn store_applies_in_order_and_measures_rate() {
        let mut s = StandbyStore::new(MarginRule::default());
        let t = Time::from_secs(10);
        s.on_replicate(t, 1, 1, Duration::ZERO, vec![Record::UpsertIke(ike(1))]);
        // Message 3 early: held.
        let ack = s.on_replicate(
            t,
            1,
            3,
            Duration::ZERO,
            vec![Record::SeqUpdate { inbound_spi: 7, outbound_seq: 1000 }],
        );
        assert_eq!(ack, (1, 1));
        let ack =
            s.on_replicate(t, 1, 2, Duration::ZERO, vec![Record::UpsertChild(child(1, 7, 0))]);
        assert_eq!(ack, (1, 3));
        assert_eq!(s.child(7).unwrap().outbound_seq, 1000);
        // A duplicate changes nothing; a regression is ignored and counted.
        s.on_replicate(t, 1, 2, Duration::ZERO, vec![Record::UpsertChild(child(1, 7, 0))]);
        assert_eq!(s.anomalies().duplicates, 1);
        s.on_replicate(
            t + Duration::from_secs(1),
            1,
            4,
            Duration::ZERO,
            vec![Record::SeqUpdate { inbound_spi: 7, outbound_seq: 11_000 }],
        );
        // 11 000 in the second since the upsert (seq 0) was read.
        assert_eq!(s.max_rate_pps(), 11_000);
        s.on_replicate(
            t + Duration::from_secs(2),
            1,
            5,
            Duration::from_millis(500),
            vec![Record::SeqUpdate { inbound_spi: 7, outbound_seq: 5 }],
        );
        assert_eq!(s.anomalies().seq_regression, 1);
        assert_eq!(s.child(7).unwrap().outbound_seq, 11_000);
        // Deleting the IKE SA takes its children.
        s.on_replicate(t, 1, 6, Duration::ZERO, vec![Record::DeleteIke(1)]);
        assert_eq!((s.ike_count(), s.child_count()), (0, 0));
        s.on_replicate(t, 1, 7, Duration::ZERO, vec![Record::DeleteIke(1), Record::DeleteChild(9)]);
        assert_eq!((s.anomalies().unknown_ike, s.anomalies().unknown_child), (1, 1));
        // An older generation is ignored; a newer one starts from empty.
        s.on_replicate(t, 0, 8, Duration::ZERO, vec![Record::UpsertIke(ike(2))]);
        assert_eq!(s.anomalies().stale_generation, 1);
        assert_eq!(s.ike_count(), 0);
        s.on_replicate(t, 2, 1, Duration::ZERO, vec![Record::UpsertIke(ike(3))]);
        assert_eq!((s.generation(), s.applied(), s.ike_count()), (Some(2), 1, 1));
        s.on_replicate(t, 2, 1 + REORDER_LIMIT + 1, Duration::ZERO, vec![]);
        assert_eq!(s.anomalies().beyond_reorder, 1);
    }

    #[test]
    fn stale_ikev2_message_ids_are_ignored() {
        let mut s = StandbyStore::new(MarginRule::default());
        let mut a = ike(1);
        a.next_send_msg_id = 10;
        let mut old = a.clone();
        old.next_send_msg_id = 9;
        s.on_replicate(Time::ZERO, 1, 1, Duration::ZERO, vec![Record::UpsertIke(a)]);
        s.on_replicate(Time::ZERO, 1, 2, Duration::ZERO, vec![Record::UpsertIke(old)]);
        assert_eq!(s.ike(1).unwrap().next_send_msg_id, 10);
        assert_eq!(s.anomalies().stale_ike, 1);
    }

    #[test]
    fn takeover_jumps_and_ages() {
        let rule = MarginRule { update_interval: Duration::from_secs(1), floor: 10, factor: 2 };
        let mut s = StandbyStore::new(rule);
        let mut c = child(1, 7, 100);
        c.lifetimes.soft_secs = 100;
        c.lifetimes.hard_secs = 5;
        s.on_replicate(Time::ZERO, 1, 1, Duration::ZERO, vec![Record::UpsertIke(ike(1))]);
        s.on_replicate(Time::ZERO, 1, 2, Duration::ZERO, vec![Record::UpsertChild(c)]);
        // No rate yet: the floor.
        assert_eq!(s.margin_for(7, Time::from_secs(1)), Some(10));
        s.on_replicate(
            Time::from_secs(1),
            1,
            3,
            Duration::ZERO,
            vec![Record::SeqUpdate { inbound_spi: 7, outbound_seq: 1100 }],
        );
        let t = s.takeover(Time::from_secs(10));
        assert_eq!(t.ike.len(), 1);
        assert_eq!(t.ike[0].soft_lifetime_secs, 90);
        let c = &t.children[0];
        // 1000 pps × (9 s + 1 s) × 2.
        assert_eq!(c.outbound_seq, 1100 + 20_000);
        assert_eq!((c.lifetimes.soft_secs, c.lifetimes.hard_secs), (90, 0));
        assert_eq!(s.child_count(), 0, "the store is emptied");
    }

    fn drain(r: &mut ActiveReplicator, s: &mut StandbyStore, now: Time) -> usize {
        let mut n = 0;
        while let Some(m) = r.poll_message(now) {
            n += 1;
            assert!(m.encode().unwrap().len() <= MAX_BODY);
            match m {
                Message::Replicate { generation, seq, age_ms, records } => {
                    let (g, a) = s.on_replicate(
                        now,
                        generation,
                        seq,
                        Duration::from_millis(age_ms.into()),
                        records,
                    );
                    r.on_ack(g, a);
                }
                Message::BulkSyncDone { generation, seq, request } => {
                    s.on_bulk_done(generation, seq, request)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        n
    }

    #[test]
    fn bulk_sync_then_incremental() {
        let mut r = ActiveReplicator::new(0, Duration::from_millis(500));
        let now = Time::from_secs(1);
        for i in 1..=50u32 {
            r.record(now, Record::UpsertIke(ike(i.into()))).unwrap();
            r.record(now, Record::UpsertChild(child(i.into(), i, 0))).unwrap();
        }
        assert_eq!(r.poll_message(now), None, "nothing streams before a standby asks");
        let mut s = StandbyStore::new(MarginRule::default());
        r.start_bulk(7);
        // A change during the bulk sync to an SA not yet sent is folded into the mirror.
        let m = r.poll_message(now).unwrap();
        let Message::Replicate { generation, seq, records, .. } = m else { panic!() };
        assert!(records.iter().all(|r| matches!(r, Record::UpsertIke(_))));
        s.on_replicate(now, generation, seq, Duration::ZERO, records);
        r.record(now, Record::SeqUpdate { inbound_spi: 50, outbound_seq: 99 }).unwrap();
        r.record(now, Record::DeleteChild(49)).unwrap();
        drain(&mut r, &mut s, now);
        assert!(s.is_synced_for(7));
        assert!(r.is_drained());
        assert_eq!((s.ike_count(), s.child_count()), (50, 49));
        assert_eq!(s.child(50).unwrap().outbound_seq, 99);
        assert_eq!(s.anomalies(), &Anomalies::default());
        // Incremental from here.
        r.record(now, Record::SeqUpdate { inbound_spi: 1, outbound_seq: 5 }).unwrap();
        assert_eq!(drain(&mut r, &mut s, now), 1);
        assert_eq!(s.child(1).unwrap().outbound_seq, 5);
        let st = r.status();
        assert_eq!((st.request, st.bulk_done_seq > 0), (7, true));
    }

    #[test]
    fn empty_bulk_sync_still_completes() {
        let mut r = ActiveReplicator::new(3, Duration::from_millis(500));
        let mut s = StandbyStore::new(MarginRule::default());
        r.start_bulk(1);
        assert_eq!(drain(&mut r, &mut s, Time::ZERO), 2);
        assert!(s.is_synced_for(1));
        assert_eq!(s.generation(), Some(4));
    }

    #[test]
    fn retransmits_until_acked_and_window_bounds() {
        let mut r = ActiveReplicator::new(0, Duration::from_millis(500));
        let mut s = StandbyStore::new(MarginRule::default());
        let t0 = Time::ZERO;
        r.start_bulk(1);
        assert_eq!(drain(&mut r, &mut s, t0), 2, "an empty bulk sync and its end notice");
        for i in 0..2000u32 {
            r.record(t0, Record::UpsertChild(child(1, i, 0))).unwrap();
        }
        let mut sent = 0;
        while r.poll_message(t0).is_some() {
            sent += 1;
        }
        assert_eq!(sent, WINDOW, "no more than the window in flight");
        assert_eq!(r.next_timeout(), Some(t0 + Duration::from_millis(500)));
        let t1 = t0 + Duration::from_millis(500);
        let Some(Message::Replicate { seq: 2, age_ms: 500, .. }) = r.poll_message(t1) else {
            panic!("retransmission of 2 with its age")
        };
        r.on_ack(r.generation(), 10);
        assert!(r.poll_message(t1).is_some(), "room again");
        // Overflow of the queue restarts the generation.
        let g = r.generation();
        for i in 0..=MAX_PENDING as u32 {
            r.record(t1, Record::SeqUpdate { inbound_spi: i, outbound_seq: 2 }).unwrap();
        }
        assert_eq!(r.generation(), g + 1);
        assert_eq!(r.stats().overflows, 1);
        r.detach();
        assert_eq!(r.poll_message(t1), None);
        assert_eq!(r.generation(), g + 2);
        assert!(r.is_drained());
    }
}
