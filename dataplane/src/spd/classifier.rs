//! One worker's outbound classifier: flow cache in front of the shared compiled SPD.

use std::collections::HashMap;
use std::sync::Arc;

use super::cache::{CacheConfig, CacheStats, FlowCache};
use super::key::FlowKey;
use super::selector::SpdError;
use super::table::{NO_ENTRY, Spd, Verdict};
use super::{Action, Decision, PolicyId, SaIndex};
use crate::wire;

/// What [`Classifier::install_spd`] hands back: the SPD it replaced and that SPD's final
/// per-entry hit counts (indexed like its entries), for the control plane to fold into
/// its totals.
#[derive(Debug)]
pub struct RetiredSpd {
    /// The previous SPD.
    pub spd: Arc<Spd>,
    /// Its per-entry hit counts on this worker.
    pub entry_hits: Box<[u64]>,
    /// Its count of packets that matched no entry on this worker.
    pub default_hits: u64,
}

/// A worker's outbound classifier. Owned by exactly one worker thread; nothing in it is
/// shared except the read-only `Arc<Spd>`, so the per-packet path has no atomics and no
/// locks.
///
/// Counters are plain `u64`s written only by the owner. The control plane reads them by
/// asking the worker (over its control queue) for a copy of [`Classifier::entry_hits`] and
/// [`Classifier::cache_stats`], and sums the copies of all workers entry by entry; an SPD
/// replacement returns the old SPD's final counts in [`RetiredSpd`].
#[derive(Debug)]
pub struct Classifier {
    spd: Arc<Spd>,
    cache: FlowCache,
    /// Per entry of `spd`, then one for its default action: the hit counter and, for a
    /// protect action, its policy and the SA bound to that policy, side by side so that a
    /// packet reads one line for all three (separate arrays would be three, and at 100,000
    /// tunnels every one of them is a cache miss).
    entries: Box<[EntryState]>,
    /// The entries of each policy slot, for [`Classifier::bind_sa`]: those of slot `s` are
    /// `slot_entries[slot_start[s]..slot_start[s + 1]]`.
    slot_start: Box<[u32]>,
    slot_entries: Box<[u32]>,
    /// Every binding the control plane has told this worker about, including policies the
    /// current SPD does not name (they take effect when an SPD that names them arrives).
    bindings: HashMap<PolicyId, SaIndex>,
}

/// One SPD entry's state on this worker: half a cache line, so that it never straddles two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(32))]
struct EntryState {
    hits: u64,
    /// The SA bound to `policy` (protect entries only).
    sa: Option<SaIndex>,
    /// The entry's policy (protect entries only).
    policy: PolicyId,
}

/// What [`Classifier::lookup`] found for a packet, to hand to [`Classifier::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Found {
    entry: u32,
    verdict: Verdict,
    /// The flow cache's epoch at the lookup: the SPD it refers to.
    epoch: u32,
}

impl Classifier {
    /// A classifier over `spd` with an empty cache and no SA bound.
    pub fn new(spd: Arc<Spd>, cache: CacheConfig) -> Result<Classifier, SpdError> {
        let cache = FlowCache::new(cache)?;
        let mut c = Classifier {
            entries: Box::default(),
            slot_start: Box::default(),
            slot_entries: Box::default(),
            spd,
            cache,
            bindings: HashMap::new(),
        };
        c.rebind();
        Ok(c)
    }

    fn rebind(&mut self) {
        let spd = &self.spd;
        // Every entry's action, then the default's.
        let actions = || spd.entries().iter().map(|e| e.action).chain([spd.default_action()]);
        let slot_of = |a: Action| match a {
            Action::Protect(p) => spd.policy_slot(p).map(|s| (s, p)),
            _ => None,
        };
        self.entries = actions()
            .map(|a| {
                let policy = slot_of(a).map_or(PolicyId(0), |(_, p)| p);
                let sa = slot_of(a).and_then(|(_, p)| self.bindings.get(&p).copied());
                EntryState { hits: 0, sa, policy }
            })
            .collect();
        // Counting sort of the protect entries by slot.
        let slots = spd.policies().len();
        let mut start = vec![0u32; slots + 1];
        for (s, _) in actions().filter_map(slot_of) {
            start[s + 1] += 1;
        }
        for s in 0..slots {
            start[s + 1] += start[s];
        }
        let mut next = start.clone();
        let mut list = vec![0u32; start[slots] as usize];
        for (i, a) in actions().enumerate() {
            if let Some((s, _)) = slot_of(a) {
                list[next[s] as usize] = i as u32;
                next[s] += 1;
            }
        }
        self.slot_start = start.into_boxed_slice();
        self.slot_entries = list.into_boxed_slice();
    }

    /// Where entry `entry` (or [`NO_ENTRY`], the default action) is in `entries`.
    #[inline]
    fn state_index(&self, entry: u32) -> usize {
        if entry == NO_ENTRY { self.entries.len().saturating_sub(1) } else { entry as usize }
    }

    /// Replaces the SPD (between bursts; allocates the per-entry counters of the new one).
    /// Bumps the epoch, so no decision cached under the old SPD is ever returned again.
    pub fn install_spd(&mut self, spd: Arc<Spd>) -> RetiredSpd {
        self.cache.invalidate();
        let old = core::mem::replace(&mut self.spd, spd);
        let entry_hits = self.entry_hits().into_boxed_slice();
        let default_hits = self.default_hits();
        self.rebind();
        RetiredSpd { spd: old, entry_hits, default_hits }
    }

    /// Records that `sa` is now the outbound SA of `policy` on this worker (`None`: it has
    /// none). Takes effect for the very next packet. Cached decisions name the policy, not
    /// the SA, so this does not flush the cache.
    pub fn bind_sa(&mut self, policy: PolicyId, sa: Option<SaIndex>) {
        match sa {
            Some(sa) => self.bindings.insert(policy, sa),
            None => self.bindings.remove(&policy),
        };
        let Some(slot) = self.spd.policy_slot(policy) else { return };
        let (Some(&from), Some(&to)) = (self.slot_start.get(slot), self.slot_start.get(slot + 1))
        else {
            return;
        };
        for &e in self.slot_entries.get(from as usize..to as usize).unwrap_or_default() {
            if let Some(state) = self.entries.get_mut(e as usize) {
                state.sa = sa;
            }
        }
    }

    /// Classifies one packet by its key: flow cache first, tuple-space search on a miss.
    #[inline]
    pub fn classify(&mut self, key: &FlowKey) -> Decision {
        let found = self.lookup(key);
        self.finish(key, found)
    }

    /// The first half of [`Classifier::classify`], for a burst: finds the entry (flow
    /// cache, or the SPD search on a miss) and starts loading what [`Classifier::finish`]
    /// reads (the entry's hit counter, the policy and its SA), so that calling `lookup` for
    /// every packet of a burst and then `finish` for each overlaps those misses.
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey) -> Found {
        let (entry, verdict) = match self.cache.lookup(key) {
            Ok(hit) => hit,
            Err(set) => {
                let (entry, verdict) = self.spd.search(key);
                self.cache.insert(set, key, entry, verdict);
                (entry, verdict)
            }
        };
        if let Some(state) = self.entries.get(self.state_index(entry)) {
            crate::prefetch::lines(state, 1);
        }
        Found { entry, verdict, epoch: self.cache.epoch() }
    }

    /// The second half of [`Classifier::classify`] for `key`: counts the hit and decides. A
    /// `Found` from before a policy change (a new SPD between the two halves) is looked up
    /// again.
    #[inline]
    pub fn finish(&mut self, key: &FlowKey, found: Found) -> Decision {
        let found = if found.epoch == self.cache.epoch() { found } else { self.lookup(key) };
        let Found { entry, verdict, .. } = found;
        let i = self.state_index(entry);
        let Some(state) = self.entries.get_mut(i) else { return Decision::Discard };
        state.hits += 1;
        match verdict {
            Verdict::Protect(_) => Decision::Protect { policy: state.policy, sa: state.sa },
            Verdict::Bypass => Decision::Bypass,
            Verdict::Discard => Decision::Discard,
        }
    }

    /// Starts loading what [`Classifier::classify`] will read for `key` (its flow-cache
    /// set): call it for a burst's packets before classifying them.
    #[inline]
    pub fn prefetch(&self, key: &FlowKey) {
        self.cache.prefetch(key);
    }

    /// Reads the key of an IP packet and classifies it. The key comes back too: an ACQUIRE
    /// needs it. A malformed packet is an error (count it as a drop).
    #[inline]
    pub fn classify_packet(&mut self, ip: &[u8]) -> wire::Result<(FlowKey, Decision)> {
        let key = FlowKey::from_ip(ip)?;
        Ok((key, self.classify(&key)))
    }

    /// The SPD in use.
    pub fn spd(&self) -> &Arc<Spd> {
        &self.spd
    }

    /// The current epoch: changes on every [`Classifier::install_spd`].
    pub fn epoch(&self) -> u32 {
        self.cache.epoch()
    }

    /// Packets that matched each entry of the current SPD on this worker.
    pub fn entry_hits(&self) -> Vec<u64> {
        let n = self.entries.len().saturating_sub(1);
        self.entries.iter().take(n).map(|e| e.hits).collect()
    }

    /// Packets that matched no entry (the default action) on this worker.
    pub fn default_hits(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.hits)
    }

    /// Flow cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        *self.cache.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spd::{Action, Entry, IpPrefix, PortsState};
    use core::net::Ipv4Addr;

    fn spd(entries: Vec<Entry>) -> Arc<Spd> {
        Arc::new(Spd::new(entries, Action::Bypass).unwrap())
    }

    fn net(a: u8) -> IpPrefix {
        IpPrefix::v4(Ipv4Addr::new(10, a, 0, 0), 16).unwrap()
    }

    fn key(a: u8, b: u8) -> FlowKey {
        FlowKey::v4(Ipv4Addr::new(10, a, 1, 1), Ipv4Addr::new(10, b, 1, 1), 50, PortsState::None)
    }

    #[test]
    fn bindings_counters_and_spd_replacement() {
        let p = PolicyId(42);
        let first = spd(vec![Entry::new(net(1), net(2), Action::Protect(p))]);
        let mut c = Classifier::new(first.clone(), CacheConfig { entries: 64, seed: 1 }).unwrap();
        assert_eq!(c.classify(&key(1, 2)), Decision::Protect { policy: p, sa: None });
        c.bind_sa(p, Some(SaIndex(5)));
        assert_eq!(c.classify(&key(1, 2)), Decision::Protect { policy: p, sa: Some(SaIndex(5)) });
        assert_eq!(c.classify(&key(1, 3)), Decision::Bypass);
        assert_eq!(c.entry_hits(), &[2]);
        assert_eq!(c.default_hits(), 1);
        assert_eq!(c.cache_stats().hits, 1);
        assert_eq!(c.cache_stats().misses, 2);

        // A binding for a policy the SPD does not name yet applies once an SPD names it.
        c.bind_sa(PolicyId(9), Some(SaIndex(77)));
        let epoch = c.epoch();
        let second = spd(vec![
            Entry::new(net(1), net(3), Action::Protect(PolicyId(9))),
            Entry::new(net(1), net(2), Action::Discard),
        ]);
        let retired = c.install_spd(second);
        assert!(Arc::ptr_eq(&retired.spd, &first));
        assert_eq!((&*retired.entry_hits, retired.default_hits), (&[2u64][..], 1));
        assert_ne!(c.epoch(), epoch);
        assert_eq!(c.classify(&key(1, 2)), Decision::Discard);
        assert_eq!(
            c.classify(&key(1, 3)),
            Decision::Protect { policy: PolicyId(9), sa: Some(SaIndex(77)) }
        );
        c.bind_sa(PolicyId(9), None);
        assert_eq!(c.classify(&key(1, 3)), Decision::Protect { policy: PolicyId(9), sa: None });
        assert_eq!(c.entry_hits(), &[2, 1]);
    }

    #[test]
    fn a_binding_reaches_every_entry_of_its_policy_and_a_protecting_default() {
        let (p, q) = (PolicyId(1), PolicyId(2));
        let spd = Arc::new(
            Spd::new(
                vec![
                    Entry::new(net(1), net(2), Action::Protect(p)),
                    Entry::new(net(1), net(3), Action::Bypass),
                    Entry::new(net(1), net(4), Action::Protect(p)),
                ],
                Action::Protect(q),
            )
            .unwrap(),
        );
        let mut c = Classifier::new(spd, CacheConfig { entries: 64, seed: 3 }).unwrap();
        c.bind_sa(p, Some(SaIndex(10)));
        c.bind_sa(q, Some(SaIndex(20)));
        for _ in 0..2 {
            for (dst, want) in
                [(2, Some((p, 10))), (3, None), (4, Some((p, 10))), (9, Some((q, 20)))]
            {
                let got = c.classify(&key(1, dst));
                let want = match want {
                    Some((policy, sa)) => Decision::Protect { policy, sa: Some(SaIndex(sa)) },
                    None => Decision::Bypass,
                };
                assert_eq!(got, want, "to 10.{dst}");
            }
        }
        c.bind_sa(p, None);
        assert_eq!(c.classify(&key(1, 4)), Decision::Protect { policy: p, sa: None });
        assert_eq!(c.classify(&key(1, 9)), Decision::Protect { policy: q, sa: Some(SaIndex(20)) });
        assert_eq!(c.entry_hits(), vec![2, 2, 3]);
        assert_eq!(c.default_hits(), 3);
    }

    #[test]
    fn classify_packet_rejects_garbage() {
        let mut c = Classifier::new(spd(Vec::new()), CacheConfig::default()).unwrap();
        assert_eq!(c.classify_packet(&[0x45, 1, 2]), Err(wire::Error));
    }
}
