//! ACQUIRE (RFC 4301 section 5.2 step 3a, PF_KEY `SADB_ACQUIRE`): traffic that matches a
//! protect entry whose policy has no outbound SA asks the control plane to negotiate one.
//!
//! [`AcquireTable`] is per worker and fixed-size: a table of pending policies (open
//! addressing over a window of [`PROBE`] slots, no chains, so a freed slot needs no
//! tombstone) and, per slot, a ring of at most `queue_len` held packets. One event per
//! policy per `interval_ns` leaves each worker; the control plane merges the workers'
//! events (it is negotiating already when the second one arrives). Nothing allocates after
//! [`AcquireTable::new`]; dropped packets are dropped as `B` values, which for an mbuf
//! wrapper returns the mbuf to its pool.

use core::fmt;

use super::PolicyId;
use super::key::{FlowKey, fold_mul};
use super::selector::SpdError;

/// Slots examined for one policy: where it may live in the table.
pub const PROBE: usize = 8;

/// Limits of an [`AcquireTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireConfig {
    /// Least time between two ACQUIREs for one policy from one worker, in ns.
    pub interval_ns: u64,
    /// Packets held per pending policy (0: drop them). When full, the oldest is dropped.
    pub queue_len: usize,
    /// Policies that can be pending at once: a power of two, at least [`PROBE`](super::ACQUIRE_PROBE). When more
    /// are, the one that asked longest ago is forgotten (its packets dropped, counted).
    pub policies: usize,
}

impl Default for AcquireConfig {
    /// One ACQUIRE per second per policy, 4 packets held, 256 pending policies.
    fn default() -> Self {
        AcquireConfig { interval_ns: 1_000_000_000, queue_len: 4, policies: 256 }
    }
}

/// An ACQUIRE for the control plane: negotiate an SA for `policy`. `key` is the packet that
/// triggered it, for narrowing the traffic selectors to the flow (RFC 7296 section 2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireEvent {
    /// The policy without an SA.
    pub policy: PolicyId,
    /// Selectors of the triggering packet.
    pub key: FlowKey,
    /// The caller's time when it was raised, in ns.
    pub now_ns: u64,
}

/// What [`AcquireTable::on_missing_sa`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireOutcome {
    /// An ACQUIRE to send to the control plane, unless one went out less than the interval
    /// ago.
    pub event: Option<AcquireEvent>,
    /// Whether the packet was queued (false: it was dropped because `queue_len` is 0).
    pub held: bool,
}

/// ACQUIRE counters (plain: one writer, the owning worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AcquireStats {
    /// ACQUIREs raised.
    pub sent: u64,
    /// Packets that would have raised one within the interval.
    pub suppressed: u64,
    /// Packets queued.
    pub held: u64,
    /// Queued packets dropped because a newer one arrived at a full queue.
    pub dropped_oldest: u64,
    /// Packets dropped because holding is disabled (`queue_len` 0).
    pub dropped_unheld: u64,
    /// Pending policies forgotten to make room for another.
    pub evicted_policies: u64,
    /// Queued packets dropped with a forgotten policy.
    pub evicted_packets: u64,
    /// Queued packets handed back by [`AcquireTable::release`].
    pub released: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    policy: Option<PolicyId>,
    last_sent_ns: u64,
    head: usize,
    len: usize,
}

const FREE: Pending = Pending { policy: None, last_sent_ns: 0, head: 0, len: 0 };

/// Pending policies and their held packets. See the module documentation.
pub struct AcquireTable<B> {
    slots: Box<[Pending]>,
    /// `queue_len` packets per slot, slot `i` at `i * queue_len ..`.
    queue: Box<[Option<B>]>,
    config: AcquireConfig,
    stats: AcquireStats,
}

impl<B> fmt::Debug for AcquireTable<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireTable")
            .field("config", &self.config)
            .field("pending", &self.slots.iter().filter(|s| s.policy.is_some()).count())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<B> AcquireTable<B> {
    /// An empty table; allocates everything it will ever use.
    pub fn new(config: AcquireConfig) -> Result<AcquireTable<B>, SpdError> {
        let n = config.policies;
        if !n.is_power_of_two() || !(PROBE..=1 << 20).contains(&n) || config.queue_len > 1 << 12 {
            return Err(SpdError::BadSize);
        }
        Ok(AcquireTable {
            slots: vec![FREE; n].into_boxed_slice(),
            queue: (0..n * config.queue_len).map(|_| None).collect(),
            config,
            stats: AcquireStats::default(),
        })
    }

    #[inline]
    fn home(&self, policy: PolicyId) -> usize {
        fold_mul(u64::from(policy.0) ^ 0x9e37_79b9_7f4a_7c15, 0xff51_afd7_ed55_8ccd) as usize
    }

    #[inline]
    fn find(&self, policy: PolicyId) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let home = self.home(policy);
        (0..PROBE)
            .map(|i| (home + i) & mask)
            .find(|&i| self.slots.get(i).is_some_and(|s| s.policy == Some(policy)))
    }

    /// A slot for a policy not in the table: a free one in its window, else the one in its
    /// window that asked longest ago, emptied.
    fn claim(&mut self, policy: PolicyId) -> usize {
        let mask = self.slots.len() - 1;
        let home = self.home(policy);
        let window = (0..PROBE).map(|i| (home + i) & mask);
        let free = window.clone().find(|&i| self.slots.get(i).is_some_and(|s| s.policy.is_none()));
        let idx = match free {
            Some(i) => i,
            None => {
                let oldest = window
                    .min_by_key(|&i| self.slots.get(i).map_or(0, |s| s.last_sent_ns))
                    .unwrap_or(home & mask);
                self.stats.evicted_policies += 1;
                self.stats.evicted_packets += self.drop_queue(oldest) as u64;
                oldest
            }
        };
        if let Some(slot) = self.slots.get_mut(idx) {
            *slot = Pending { policy: Some(policy), ..FREE };
        }
        idx
    }

    /// Drops the packets held in slot `idx`; returns how many.
    fn drop_queue(&mut self, idx: usize) -> usize {
        let q = self.config.queue_len;
        let mut dropped = 0;
        if let Some(ring) = self.queue.get_mut(idx * q..idx * q + q) {
            for p in ring.iter_mut() {
                dropped += usize::from(p.take().is_some());
            }
        }
        dropped
    }

    /// Handles a packet classified to `policy` while the policy has no outbound SA: queues
    /// it (dropping the oldest held packet when the queue is full) and raises an ACQUIRE
    /// unless this worker raised one for the policy less than `interval_ns` ago.
    pub fn on_missing_sa(
        &mut self,
        policy: PolicyId,
        key: &FlowKey,
        packet: B,
        now_ns: u64,
    ) -> AcquireOutcome {
        let (idx, fresh) = match self.find(policy) {
            Some(i) => (i, false),
            None => (self.claim(policy), true),
        };
        let interval = self.config.interval_ns;
        let q = self.config.queue_len;
        let Some(slot) = self.slots.get_mut(idx) else {
            return AcquireOutcome { event: None, held: false };
        };
        let event = if fresh || now_ns.saturating_sub(slot.last_sent_ns) >= interval {
            slot.last_sent_ns = now_ns;
            self.stats.sent += 1;
            Some(AcquireEvent { policy, key: *key, now_ns })
        } else {
            self.stats.suppressed += 1;
            None
        };
        if q == 0 {
            self.stats.dropped_unheld += 1;
            return AcquireOutcome { event, held: false };
        }
        if slot.len == q {
            if let Some(old) = self.queue.get_mut(idx * q + slot.head) {
                *old = None;
            }
            slot.head = (slot.head + 1) % q;
            slot.len -= 1;
            self.stats.dropped_oldest += 1;
        }
        if let Some(cell) = self.queue.get_mut(idx * q + (slot.head + slot.len) % q) {
            *cell = Some(packet);
            slot.len += 1;
            self.stats.held += 1;
        }
        AcquireOutcome { event, held: true }
    }

    /// Forgets `policy` and hands back its held packets, oldest first: encrypt them once
    /// its SA is installed, or drop them when negotiation failed. The next packet without
    /// an SA raises an ACQUIRE at once. Packets the iterator is dropped before yielding
    /// are dropped.
    pub fn release(&mut self, policy: PolicyId) -> HeldPackets<'_, B> {
        let q = self.config.queue_len;
        let found = self.find(policy);
        let (head, len) = match found.and_then(|i| self.slots.get_mut(i)) {
            Some(slot) => {
                let hl = (slot.head, slot.len);
                *slot = FREE;
                hl
            }
            None => (0, 0),
        };
        let ring = match found {
            Some(i) => self.queue.get_mut(i * q..i * q + q).unwrap_or(&mut []),
            None => &mut [],
        };
        HeldPackets { ring, head, len, released: &mut self.stats.released }
    }

    /// Packets held for `policy`.
    pub fn held(&self, policy: PolicyId) -> usize {
        self.find(policy).and_then(|i| self.slots.get(i)).map_or(0, |s| s.len)
    }

    /// Whether `policy` is pending (an ACQUIRE went out and no release came since).
    pub fn is_pending(&self, policy: PolicyId) -> bool {
        self.find(policy).is_some()
    }

    /// Counters.
    pub fn stats(&self) -> AcquireStats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> AcquireConfig {
        self.config
    }
}

/// Packets released by [`AcquireTable::release`], oldest first.
pub struct HeldPackets<'a, B> {
    ring: &'a mut [Option<B>],
    head: usize,
    len: usize,
    released: &'a mut u64,
}

impl<B> Iterator for HeldPackets<'_, B> {
    type Item = B;

    fn next(&mut self) -> Option<B> {
        while self.len > 0 {
            let q = self.ring.len();
            let cell = self.ring.get_mut(self.head);
            self.head = (self.head + 1) % q.max(1);
            self.len -= 1;
            if let Some(p) = cell.and_then(Option::take) {
                *self.released += 1;
                return Some(p);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.len))
    }
}

impl<B> Drop for HeldPackets<'_, B> {
    fn drop(&mut self) {
        // The slot is already free: do not leave its packets to be dropped whenever the
        // slot is reused.
        for p in self.ring.iter_mut() {
            p.take();
        }
    }
}

impl<B> fmt::Debug for HeldPackets<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldPackets").field("remaining", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spd::PortsState;
    use core::net::Ipv4Addr;

    fn key() -> FlowKey {
        FlowKey::v4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 1, 0, 1), 6, PortsState::Opaque)
    }

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn rate_limit_per_policy() {
        let mut t = AcquireTable::new(AcquireConfig::default()).unwrap();
        let (a, b) = (PolicyId(1), PolicyId(2));
        assert!(t.on_missing_sa(a, &key(), 1u32, 10).event.is_some());
        assert!(t.on_missing_sa(b, &key(), 2, 11).event.is_some());
        assert_eq!(t.on_missing_sa(a, &key(), 3, 10 + SEC - 1).event, None);
        let e = t.on_missing_sa(a, &key(), 4, 10 + SEC).event.unwrap();
        assert_eq!((e.policy, e.now_ns, e.key), (a, 10 + SEC, key()));
        // A clock that goes backwards never raises a flood.
        assert_eq!(t.on_missing_sa(a, &key(), 5, 0).event, None);
        let s = t.stats();
        assert_eq!((s.sent, s.suppressed), (3, 2));
    }

    #[test]
    fn queue_drops_oldest_and_release_returns_in_order() {
        let cfg = AcquireConfig { queue_len: 3, ..AcquireConfig::default() };
        let mut t = AcquireTable::new(cfg).unwrap();
        let p = PolicyId(7);
        for n in 0..5u32 {
            assert!(t.on_missing_sa(p, &key(), n, u64::from(n)).held);
        }
        assert_eq!(t.held(p), 3);
        assert_eq!(t.stats().dropped_oldest, 2);
        assert_eq!(t.release(p).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(!t.is_pending(p));
        assert_eq!(t.stats().released, 3);
        assert_eq!(t.release(p).count(), 0);
        // After release the next packet asks again at once.
        assert!(t.on_missing_sa(p, &key(), 9, 6).event.is_some());
    }

    #[test]
    fn partially_consumed_release_drops_the_rest() {
        use std::rc::Rc;
        let token = Rc::new(());
        let mut t = AcquireTable::new(AcquireConfig::default()).unwrap();
        for n in 0..4u64 {
            t.on_missing_sa(PolicyId(1), &key(), Rc::clone(&token), n);
        }
        assert_eq!(Rc::strong_count(&token), 5);
        let first = t.release(PolicyId(1)).next();
        assert!(first.is_some());
        drop(first);
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn zero_queue_drops_and_full_table_evicts_oldest() {
        let cfg = AcquireConfig { queue_len: 0, policies: PROBE, interval_ns: SEC };
        let mut t = AcquireTable::new(cfg).unwrap();
        let out = t.on_missing_sa(PolicyId(0), &key(), (), 0);
        assert!(out.event.is_some() && !out.held);
        for n in 1..PROBE as u32 {
            t.on_missing_sa(PolicyId(n), &key(), (), u64::from(n));
        }
        assert_eq!(t.stats().evicted_policies, 0);
        // A ninth policy evicts the one that asked longest ago (policy 0).
        assert!(t.on_missing_sa(PolicyId(100), &key(), (), 50).event.is_some());
        assert_eq!(t.stats().evicted_policies, 1);
        assert!(!t.is_pending(PolicyId(0)));
        assert!((1..PROBE as u32).all(|n| t.is_pending(PolicyId(n))));
        assert_eq!(t.stats().dropped_unheld, PROBE as u64 + 1);
    }

    #[test]
    fn eviction_drops_held_packets() {
        let cfg = AcquireConfig { queue_len: 2, policies: PROBE, interval_ns: SEC };
        let mut t = AcquireTable::new(cfg).unwrap();
        for n in 0..=PROBE as u32 {
            t.on_missing_sa(PolicyId(n), &key(), n, u64::from(n));
        }
        assert_eq!(t.stats().evicted_packets, 1);
        assert_eq!(t.release(PolicyId(PROBE as u32)).collect::<Vec<_>>(), vec![PROBE as u32]);
    }

    #[test]
    fn bad_config_is_rejected() {
        for policies in [0, 4, 12] {
            let cfg = AcquireConfig { policies, ..AcquireConfig::default() };
            assert_eq!(AcquireTable::<()>::new(cfg).err(), Some(SpdError::BadSize));
        }
    }
}
