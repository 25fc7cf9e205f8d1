//! The per-worker flow cache: 5-tuple → verdict, fixed size, invalidated by an epoch.
//!
//! Set-associative ([`WAYS`] slots per set, one cache line per slot), indexed by a seeded
//! hash of the [`FlowKey`]. Every slot records the epoch it was filled in; a slot is valid
//! only while that equals the cache's current epoch, so bumping the epoch empties the whole
//! cache in O(1). Replacement prefers an invalid slot, else takes the set's ways in turn.
//! Nothing allocates after [`FlowCache::new`].

use core::net::Ipv4Addr;

use super::key::{FlowKey, PortsState};
use super::selector::SpdError;
use super::table::{NO_ENTRY, Verdict};

/// Slots per set.
pub const WAYS: usize = 4;

/// Slots of a set [`FlowCache::prefetch`] loads ahead.
const PREFETCH_WAYS: usize = 2;

/// Largest cache, in slots (64 MiB of slots).
const MAX_ENTRIES: usize = 1 << 20;

/// Flow cache size and hash seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Number of slots: a power of two, at least [`WAYS`], at most 2^20. Each slot is one
    /// 64-byte cache line.
    pub entries: usize,
    /// Hash seed. Give each worker a random one (the dataplane has no RNG of its own), so
    /// that senders cannot aim many flows at one set.
    pub seed: u64,
}

impl Default for CacheConfig {
    /// 16,384 slots (1 MiB per worker), seed 0.
    fn default() -> Self {
        CacheConfig { entries: 1 << 14, seed: 0 }
    }
}

/// Flow cache counters. Plain integers: only the owning worker writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went to the tuple-space search.
    pub misses: u64,
    /// Valid (current-epoch) slots overwritten by a new flow.
    pub evictions: u64,
    /// Times the whole cache was invalidated (policy changes).
    pub invalidations: u64,
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    key: FlowKey,
    epoch: u32,
    entry: u32,
    verdict: Verdict,
}

/// The first slot of a key's set, from a missed [`FlowCache::lookup`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetIndex(usize);

/// A fixed-size flow cache. See the module documentation.
#[derive(Debug)]
pub(crate) struct FlowCache {
    slots: Box<[Slot]>,
    set_mask: usize,
    seed: u64,
    epoch: u32,
    victim: usize,
    stats: CacheStats,
}

impl FlowCache {
    /// A cache with every slot invalid.
    pub(crate) fn new(config: CacheConfig) -> Result<FlowCache, SpdError> {
        let n = config.entries;
        if !n.is_power_of_two() || !(WAYS..=MAX_ENTRIES).contains(&n) {
            return Err(SpdError::BadSize);
        }
        let empty = Slot {
            key: FlowKey::v4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, 0, PortsState::None),
            epoch: 0,
            entry: NO_ENTRY,
            verdict: Verdict::Discard,
        };
        Ok(FlowCache {
            slots: vec![empty; n].into_boxed_slice(),
            set_mask: n / WAYS - 1,
            seed: config.seed,
            epoch: 1,
            victim: 0,
            stats: CacheStats::default(),
        })
    }

    #[inline]
    fn set(&self, key: &FlowKey) -> usize {
        (key.hash(self.seed) as usize & self.set_mask) * WAYS
    }

    /// Starts loading the first [`PREFETCH_WAYS`] slots of `key`'s set. A new flow takes
    /// the set's first free way, so with the cache sized above the number of flows nearly
    /// every flow sits in those; the rare one further on costs one demand miss, where
    /// loading all four ways for every packet would fill the CPU's line fill buffers twice
    /// as fast (at 100,000 tunnels that, not latency, bounds a burst's prefetches).
    #[inline]
    pub(crate) fn prefetch(&self, key: &FlowKey) {
        if let Some(slot) = self.slots.get(self.set(key)) {
            crate::prefetch::lines(slot, PREFETCH_WAYS);
        }
    }

    /// The cached (entry index, verdict) for `key`, counting a hit or a miss. On a miss,
    /// the error is the key's set, to hand to [`FlowCache::insert`] with the outcome.
    #[inline]
    pub(crate) fn lookup(&mut self, key: &FlowKey) -> Result<(u32, Verdict), SetIndex> {
        let base = self.set(key);
        let epoch = self.epoch;
        let found = self
            .slots
            .get(base..base + WAYS)
            .and_then(|set| set.iter().find(|s| s.epoch == epoch && s.key == *key))
            .map(|s| (s.entry, s.verdict));
        if found.is_some() {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        found.ok_or(SetIndex(base))
    }

    /// Records the outcome of a miss.
    #[inline]
    pub(crate) fn insert(&mut self, set: SetIndex, key: &FlowKey, entry: u32, verdict: Verdict) {
        let base = set.0;
        let epoch = self.epoch;
        let Some(set) = self.slots.get_mut(base..base + WAYS) else { return };
        let way = match set.iter().position(|s| s.epoch != epoch) {
            Some(way) => way,
            None => {
                self.stats.evictions += 1;
                self.victim = (self.victim + 1) % WAYS;
                self.victim
            }
        };
        if let Some(slot) = set.get_mut(way) {
            *slot = Slot { key: *key, epoch, entry, verdict };
        }
    }

    /// Empties the cache in O(1) (amortised: on the rare wrap of the 32-bit epoch every
    /// slot is reset, so no slot from 2^32 invalidations ago can come back to life).
    pub(crate) fn invalidate(&mut self) {
        self.stats.invalidations += 1;
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            for s in self.slots.iter_mut() {
                s.epoch = 0;
            }
            self.epoch = 1;
        }
    }

    pub(crate) fn stats(&self) -> &CacheStats {
        &self.stats
    }

    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    #[cfg(test)]
    pub(crate) fn force_epoch(&mut self, epoch: u32) {
        self.epoch = epoch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> FlowKey {
        FlowKey::v4(
            Ipv4Addr::from(n),
            Ipv4Addr::new(10, 0, 0, 1),
            17,
            PortsState::Known { src: 1, dst: 2 },
        )
    }

    #[test]
    fn slot_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<Slot>(), 64);
    }

    #[test]
    fn rejects_bad_sizes() {
        for entries in [0, 2, 3, 6, 1000, 1 << 21] {
            assert_eq!(
                FlowCache::new(CacheConfig { entries, seed: 0 }).err(),
                Some(SpdError::BadSize)
            );
        }
    }

    #[test]
    fn hit_miss_evict_invalidate() {
        let mut c = FlowCache::new(CacheConfig { entries: WAYS, seed: 9 }).unwrap();
        assert!(c.lookup(&key(1)).is_err());
        for n in 1..=WAYS as u32 {
            let set = c.lookup(&key(n)).unwrap_err();
            c.insert(set, &key(n), n, Verdict::Protect(n));
        }
        for n in 1..=WAYS as u32 {
            assert_eq!(c.lookup(&key(n)).ok(), Some((n, Verdict::Protect(n))));
        }
        assert_eq!(c.stats().evictions, 0);
        let set = c.lookup(&key(99)).unwrap_err();
        c.insert(set, &key(99), 99, Verdict::Bypass);
        assert_eq!(c.stats().evictions, 1);
        assert_eq!(c.lookup(&key(99)).ok(), Some((99, Verdict::Bypass)));
        c.invalidate();
        for n in [1, 2, 3, 4, 99] {
            assert!(c.lookup(&key(n)).is_err());
        }
        assert_eq!(c.stats().invalidations, 1);
        assert_eq!(c.stats().hits, WAYS as u64 + 1);
    }

    #[test]
    fn epoch_wrap_clears_every_slot() {
        let mut c = FlowCache::new(CacheConfig { entries: 16, seed: 0 }).unwrap();
        let set = c.lookup(&key(5)).unwrap_err();
        c.insert(set, &key(5), 5, Verdict::Bypass);
        c.force_epoch(u32::MAX);
        c.invalidate();
        assert_eq!(c.epoch(), 1);
        assert!(c.lookup(&key(5)).is_err());
    }
}
