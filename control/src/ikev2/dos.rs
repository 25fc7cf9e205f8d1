//! Admission control for new IKE_SA_INIT requests: the responder's defence against
//! half-open floods (RFC 7296 section 2.6, RFC 8019).
//!
//! Three layers, checked in this order for every new IKE_SA_INIT request:
//!
//! 1. Hard limits on half-open IKE SAs (responded to IKE_SA_INIT, IKE_AUTH not yet
//!    completed): globally ([`AdmissionConfig::max_half_open`]) and per source address
//!    ([`AdmissionConfig::max_half_open_per_peer`]). Above either, the request is dropped
//!    unanswered: an answer would cost as much as the work the limit saves.
//! 2. A per-source token bucket ([`AdmissionConfig::rate_per_sec`] /
//!    [`AdmissionConfig::burst`]), which also bounds how many COOKIE replies one address can
//!    draw. The bucket table has a fixed capacity and evicts the least recently seen source,
//!    so a flood from a million spoofed addresses costs a bounded amount of memory.
//! 3. The cookie challenge: at or above [`AdmissionConfig::cookie_threshold`] half-open SAs,
//!    a request without a valid cookie gets a COOKIE reply ([`Verdict::DemandCookie`], see
//!    [`super::cookie`]) and no state. strongSwan (`block_threshold`/`cookie_threshold`) and
//!    ASA (`crypto ikev2 cookie-challenge <percent>`) use the same scheme.
//!
//! The caller reports the life of each half-open SA: [`Admission::opened`] after answering
//! an accepted request, then exactly one of [`Admission::completed`] (IKE_AUTH done) or
//! [`Admission::expired`] (timed out or failed). Sans-IO: time comes in as [`Time`].

use core::fmt;
use core::net::IpAddr;
use std::collections::HashMap;

use crate::time::Time;

/// Default global half-open limit.
pub const DEFAULT_MAX_HALF_OPEN: u32 = 5_000;
/// Default per-source half-open limit: a NAT gateway in front of many clients needs some.
pub const DEFAULT_MAX_HALF_OPEN_PER_PEER: u32 = 32;
/// Default share of [`DEFAULT_MAX_HALF_OPEN`] above which cookies are demanded (ASA's
/// `cookie-challenge` default is 50 percent).
pub const DEFAULT_COOKIE_PERCENT: u32 = 50;
/// Default IKE_SA_INIT rate per source and second.
pub const DEFAULT_RATE_PER_SEC: u32 = 20;
/// Default burst per source.
pub const DEFAULT_BURST: u32 = 40;
/// Default capacity of the per-source rate table.
pub const DEFAULT_TABLE_CAPACITY: usize = 65_536;

/// Milli-tokens per token: the buckets count in thousandths so that refill needs no floats.
const MILLI: u64 = 1_000;

/// Admission limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// At or above this many half-open SAs, demand a cookie from requests without one.
    /// 0 demands cookies always.
    pub cookie_threshold: u32,
    /// At or above this many half-open SAs, drop new requests.
    pub max_half_open: u32,
    /// At or above this many half-open SAs from one source address, drop its requests.
    pub max_half_open_per_peer: u32,
    /// Sustained IKE_SA_INIT requests per second from one source address.
    pub rate_per_sec: u32,
    /// Requests one source address may send at once after being idle.
    pub burst: u32,
    /// Most source addresses the rate table tracks; the least recently seen is evicted.
    pub table_capacity: usize,
}

impl AdmissionConfig {
    /// Sets [`cookie_threshold`](Self::cookie_threshold) to `percent` of
    /// [`max_half_open`](Self::max_half_open) (rounded down; above 100 means never).
    pub fn with_cookie_percent(mut self, percent: u32) -> Self {
        let t = u64::from(self.max_half_open) * u64::from(percent) / 100;
        self.cookie_threshold = u32::try_from(t).unwrap_or(u32::MAX);
        self
    }
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            cookie_threshold: 0,
            max_half_open: DEFAULT_MAX_HALF_OPEN,
            max_half_open_per_peer: DEFAULT_MAX_HALF_OPEN_PER_PEER,
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            burst: DEFAULT_BURST,
            table_capacity: DEFAULT_TABLE_CAPACITY,
        }
        .with_cookie_percent(DEFAULT_COOKIE_PERCENT)
    }
}

/// Why a request was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// [`AdmissionConfig::max_half_open`] reached.
    HalfOpenLimit,
    /// [`AdmissionConfig::max_half_open_per_peer`] reached for this source.
    PeerHalfOpenLimit,
    /// This source's token bucket is empty.
    RateLimited,
}

impl DropReason {
    /// A stable name for metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::HalfOpenLimit => "half_open_limit",
            DropReason::PeerHalfOpenLimit => "peer_half_open_limit",
            DropReason::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a new IKE_SA_INIT request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Process it (and call [`Admission::opened`] once answered).
    Accept,
    /// Answer with a COOKIE notify only; keep no state.
    DemandCookie,
    /// Do not answer.
    Drop(DropReason),
}

/// Counters for metrics; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionCounters {
    /// Requests accepted.
    pub accepted: u64,
    /// Requests answered with a cookie demand.
    pub cookie_demanded: u64,
    /// Requests dropped at the global half-open limit.
    pub dropped_half_open: u64,
    /// Requests dropped at the per-source half-open limit.
    pub dropped_peer_half_open: u64,
    /// Requests dropped by the rate limit.
    pub dropped_rate: u64,
    /// Sources evicted from the full rate table.
    pub table_evictions: u64,
    /// Half-open SAs opened.
    pub opened: u64,
    /// Half-open SAs completed.
    pub completed: u64,
    /// Half-open SAs expired.
    pub expired: u64,
    /// `completed`/`expired` reports for a source with no half-open SA (a caller bug):
    /// ignored.
    pub unmatched_reports: u64,
}

impl AdmissionCounters {
    /// The drop count for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::HalfOpenLimit => self.dropped_half_open,
            DropReason::PeerHalfOpenLimit => self.dropped_peer_half_open,
            DropReason::RateLimited => self.dropped_rate,
        }
    }
}

/// A token bucket in the LRU rate table.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    ip: IpAddr,
    milli_tokens: u64,
    last_refill: Time,
    /// Towards the most recently used end; `NIL` at the head.
    newer: u32,
    /// Towards the least recently used end; `NIL` at the tail.
    older: u32,
}

const NIL: u32 = u32::MAX;

/// A fixed-capacity map from source address to token bucket that evicts the least recently
/// used entry: a slab of buckets threaded on an index list, and a hash index sized once.
struct RateTable {
    index: HashMap<IpAddr, u32>,
    slots: Vec<Bucket>,
    capacity: usize,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
}

impl RateTable {
    fn new(capacity: usize) -> RateTable {
        // The slab index is u32 with NIL reserved.
        let capacity = capacity.clamp(1, (NIL - 1) as usize);
        RateTable {
            // Twice the capacity: with at most `capacity` live entries the hash table then
            // always rehashes in place instead of growing, whatever the churn.
            index: HashMap::with_capacity(capacity.saturating_mul(2)),
            slots: Vec::with_capacity(capacity),
            capacity,
            head: NIL,
            tail: NIL,
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn unlink(&mut self, i: u32) {
        let Bucket { newer, older, .. } = self.slots[i as usize];
        match newer {
            NIL => self.head = older,
            n => self.slots[n as usize].older = older,
        }
        match older {
            NIL => self.tail = newer,
            o => self.slots[o as usize].newer = newer,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        {
            let b = &mut self.slots[i as usize];
            b.newer = NIL;
            b.older = old_head;
        }
        match old_head {
            NIL => self.tail = i,
            h => self.slots[h as usize].newer = i,
        }
        self.head = i;
    }

    /// The bucket for `ip`, moved to the most recently used end; a new full bucket if `ip`
    /// is not tracked, evicting the least recently used source when full (the bool says so).
    fn touch(&mut self, ip: IpAddr, now: Time, full: u64) -> (&mut Bucket, bool) {
        let mut evicted = false;
        let i = match self.index.get(&ip) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => {
                let fresh =
                    Bucket { ip, milli_tokens: full, last_refill: now, newer: NIL, older: NIL };
                let i = if self.slots.len() < self.capacity {
                    self.slots.push(fresh);
                    (self.slots.len() - 1) as u32
                } else {
                    let victim = self.tail;
                    self.unlink(victim);
                    let old = self.slots[victim as usize].ip;
                    self.index.remove(&old);
                    self.slots[victim as usize] = fresh;
                    evicted = true;
                    victim
                };
                self.index.insert(ip, i);
                i
            }
        };
        self.push_front(i);
        (&mut self.slots[i as usize], evicted)
    }
}

/// The responder's admission state.
pub struct Admission {
    config: AdmissionConfig,
    half_open: u32,
    /// Half-open SAs per source; only sources with at least one, so at most
    /// `max_half_open` entries.
    per_peer: HashMap<IpAddr, u32>,
    rates: RateTable,
    counters: AdmissionCounters,
}

impl Admission {
    /// Empty state under `config`.
    pub fn new(config: AdmissionConfig) -> Admission {
        Admission {
            config,
            half_open: 0,
            per_peer: HashMap::new(),
            rates: RateTable::new(config.table_capacity),
            counters: AdmissionCounters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Half-open IKE SAs now.
    pub fn half_open(&self) -> u32 {
        self.half_open
    }

    /// Half-open IKE SAs from `ip` now.
    pub fn half_open_from(&self, ip: IpAddr) -> u32 {
        self.per_peer.get(&ip).copied().unwrap_or(0)
    }

    /// Whether a request without a cookie would be challenged now.
    pub fn under_attack(&self) -> bool {
        self.half_open >= self.config.cookie_threshold
    }

    /// Source addresses the rate table tracks now (at most its capacity).
    pub fn tracked_sources(&self) -> usize {
        self.rates.len()
    }

    /// Entries the rate table can hold without reallocating: sized at creation to twice its
    /// capacity, so the table rehashes in place under churn and its memory stays bounded
    /// however many sources pass through (the figure dips between rehashes, never exceeds
    /// its initial value).
    pub fn table_allocated_slots(&self) -> usize {
        self.rates.index.capacity().max(self.rates.slots.capacity())
    }

    /// The counters.
    pub fn counters(&self) -> &AdmissionCounters {
        &self.counters
    }

    /// Decides on a new IKE_SA_INIT request from `src` (not a retransmission of one already
    /// answered: those are answered from the retransmit cache). `has_valid_cookie`: the
    /// request carries a COOKIE notify that [`super::cookie::CookieJar::verify`] accepted.
    pub fn check(&mut self, now: Time, src: IpAddr, has_valid_cookie: bool) -> Verdict {
        let verdict = self.decide(now, src, has_valid_cookie);
        let c = &mut self.counters;
        match verdict {
            Verdict::Accept => c.accepted += 1,
            Verdict::DemandCookie => c.cookie_demanded += 1,
            Verdict::Drop(DropReason::HalfOpenLimit) => c.dropped_half_open += 1,
            Verdict::Drop(DropReason::PeerHalfOpenLimit) => c.dropped_peer_half_open += 1,
            Verdict::Drop(DropReason::RateLimited) => c.dropped_rate += 1,
        }
        verdict
    }

    fn decide(&mut self, now: Time, src: IpAddr, has_valid_cookie: bool) -> Verdict {
        if self.half_open >= self.config.max_half_open {
            return Verdict::Drop(DropReason::HalfOpenLimit);
        }
        if self.half_open_from(src) >= self.config.max_half_open_per_peer {
            return Verdict::Drop(DropReason::PeerHalfOpenLimit);
        }
        if !self.take_token(now, src) {
            return Verdict::Drop(DropReason::RateLimited);
        }
        if self.under_attack() && !has_valid_cookie {
            return Verdict::DemandCookie;
        }
        Verdict::Accept
    }

    /// Refills `src`'s bucket for the time since its last refill and takes one token.
    fn take_token(&mut self, now: Time, src: IpAddr) -> bool {
        let full = u64::from(self.config.burst) * MILLI;
        let rate = u64::from(self.config.rate_per_sec);
        let (bucket, evicted) = self.rates.touch(src, now, full);
        if now > bucket.last_refill {
            // rate tokens per 1000 ms = rate milli-tokens per ms.
            let elapsed = now.as_millis() - bucket.last_refill.as_millis();
            bucket.milli_tokens = bucket.milli_tokens.saturating_add(elapsed.saturating_mul(rate));
            bucket.milli_tokens = bucket.milli_tokens.min(full);
            bucket.last_refill = now;
        }
        let ok = bucket.milli_tokens >= MILLI;
        if ok {
            bucket.milli_tokens -= MILLI;
        }
        if evicted {
            self.counters.table_evictions += 1;
        }
        ok
    }

    /// An accepted request from `ip` was answered: one more half-open SA.
    pub fn opened(&mut self, ip: IpAddr) {
        self.half_open = self.half_open.saturating_add(1);
        let n = self.per_peer.entry(ip).or_insert(0);
        *n = n.saturating_add(1);
        self.counters.opened += 1;
    }

    /// A half-open SA from `ip` completed IKE_AUTH.
    pub fn completed(&mut self, ip: IpAddr) {
        if self.close(ip) {
            self.counters.completed += 1;
        }
    }

    /// A half-open SA from `ip` timed out or failed.
    pub fn expired(&mut self, ip: IpAddr) {
        if self.close(ip) {
            self.counters.expired += 1;
        }
    }

    fn close(&mut self, ip: IpAddr) -> bool {
        let Some(n) = self.per_peer.get_mut(&ip) else {
            self.counters.unmatched_reports += 1;
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.per_peer.remove(&ip);
        }
        self.half_open = self.half_open.saturating_sub(1);
        true
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("config", &self.config)
            .field("half_open", &self.half_open)
            .field("peers_half_open", &self.per_peer.len())
            .field("tracked_sources", &self.rates.len())
            .field("counters", &self.counters)
            .finish()
    }
}
