//! Open-addressing index of foreign SPIs (SPIs ferrogate did not allocate, e.g. static SAs
//! from a configuration file, or SPIs whose home slot was taken): SPI → slot.
//!
//! Single writer (the control thread), lock-free readers. Each entry is one `AtomicU64`
//! (`spi << 32 | slot`), so a reader sees an entry whole or not at all. Entries never move
//! while readers may probe: a delete leaves a tombstone (backward-shift deletion could make
//! a concurrent probe miss a live entry), and when tombstones pile up the control thread
//! builds a clean copy, publishes it by pointer swap and retires the old one through QSBR.

use core::sync::atomic::Ordering;

use super::sync::AtomicU64;

const EMPTY: u64 = 0;
/// A deleted entry. Cannot be a live one: live slots are below 2^31.
const TOMBSTONE: u64 = u64::MAX;
/// Fibonacci hashing multiplier (2^64 / golden ratio).
const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug)]
pub(crate) struct SpiIndex {
    entries: Box<[AtomicU64]>,
    shift: u32,
}

impl SpiIndex {
    /// An empty index of `len` entries (a power of two, at least 2).
    pub(crate) fn new(len: usize) -> Self {
        debug_assert!(len.is_power_of_two() && len >= 2);
        SpiIndex {
            entries: (0..len).map(|_| AtomicU64::new(EMPTY)).collect(),
            shift: 64 - len.trailing_zeros(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    fn home(&self, spi: u32) -> usize {
        (u64::from(spi).wrapping_mul(FIB) >> self.shift) as usize
    }

    /// The slot of `spi`, if indexed. Probes at most the whole table; the writer keeps at
    /// least a quarter of the entries empty, so a miss ends at the first empty entry.
    #[inline]
    pub(crate) fn lookup(&self, spi: u32) -> Option<u32> {
        let mask = self.entries.len() - 1;
        let mut i = self.home(spi);
        for _ in 0..self.entries.len() {
            let e = self.entries[i].load(Ordering::Acquire);
            if e == EMPTY {
                return None;
            }
            if e != TOMBSTONE && (e >> 32) as u32 == spi {
                return Some(e as u32);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Writer: adds `spi → slot`; `spi` must not be indexed yet. Returns whether a
    /// tombstone was reused, or `None` when no entry is free.
    pub(crate) fn insert(&self, spi: u32, slot: u32) -> Option<bool> {
        let mask = self.entries.len() - 1;
        let mut i = self.home(spi);
        for _ in 0..self.entries.len() {
            let e = self.entries[i].load(Ordering::Relaxed);
            if e == EMPTY || e == TOMBSTONE {
                self.entries[i].store(u64::from(spi) << 32 | u64::from(slot), Ordering::Release);
                return Some(e == TOMBSTONE);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Writer: removes `spi`; returns whether it was indexed.
    pub(crate) fn remove(&self, spi: u32) -> bool {
        let mask = self.entries.len() - 1;
        let mut i = self.home(spi);
        for _ in 0..self.entries.len() {
            let e = self.entries[i].load(Ordering::Relaxed);
            if e == EMPTY {
                return false;
            }
            if e != TOMBSTONE && (e >> 32) as u32 == spi {
                self.entries[i].store(TOMBSTONE, Ordering::Release);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Writer: a copy without tombstones.
    pub(crate) fn rebuilt(&self) -> SpiIndex {
        let fresh = SpiIndex::new(self.entries.len());
        for e in self.entries.iter() {
            let e = e.load(Ordering::Relaxed);
            if e != EMPTY && e != TOMBSTONE {
                // Cannot fail: the copy has as many entries and fewer in use.
                let _ = fresh.insert((e >> 32) as u32, e as u32);
            }
        }
        fresh
    }
}
