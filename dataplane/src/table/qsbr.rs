//! Quiescent-state-based reclamation (QSBR, as in DPDK's `rte_rcu_qsbr` and liburcu-qsbr).
//!
//! A global token is advanced by the control thread each time it retires something; the
//! retired object waits for the token value it got (its *target*). Each worker, between two
//! bursts, copies the token into its own cache line (one acquire load of a line that is
//! almost always in the shared state, one release store to a line nobody else writes). An
//! object is freed when every online worker has stored a value at or past its target.
//!
//! Why that is enough (`W` = worker, `C` = control):
//! - A worker's references from before its quiescent store are sequenced before the release
//!   store; C's acquire load that sees the value synchronizes with it, so those reads happen
//!   before the free.
//! - A worker that stored a value `>= target` loaded it from the token with acquire, which
//!   synchronizes with C's release `fetch_add` that came after the unpublish: every pointer
//!   load after that quiescent point sees the new (or a later) pointer, never the retired one.
//! - Offline workers store [`OFFLINE`] (release) and are skipped. Going online again is the
//!   store-buffering pattern (W: store own line, load the table; C: store the table, load W's
//!   line), so both sides put a `SeqCst` fence between their store and their load: either C
//!   sees W online (and waits for it), or W sees the new pointers.

use core::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use super::sync::{AtomicBool, AtomicU64, fence};

/// A worker's line while it holds no references and does not block reclamation.
pub(crate) const OFFLINE: u64 = 0;

/// The shared part of the reclamation domain.
#[derive(Debug)]
pub(crate) struct Qsbr {
    token: CachePadded<AtomicU64>,
    workers: Box<[CachePadded<AtomicU64>]>,
    /// Whether a reader handle exists for the worker (one handle per worker id).
    taken: Box<[AtomicBool]>,
}

impl Qsbr {
    pub(crate) fn new(workers: usize) -> Self {
        Qsbr {
            token: CachePadded::new(AtomicU64::new(1)),
            workers: (0..workers).map(|_| CachePadded::new(AtomicU64::new(OFFLINE))).collect(),
            taken: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.workers.len()
    }

    /// Claims worker id `w` for a new reader handle, which starts online.
    pub(crate) fn register(&self, w: usize) -> bool {
        let Some(t) = self.taken.get(w) else { return false };
        if t.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.online(w);
        true
    }

    /// Gives worker id `w` back (its handle is being dropped): offline, then free.
    pub(crate) fn unregister(&self, w: usize) {
        self.offline(w);
        self.taken[w].store(false, Ordering::Release);
    }

    /// The worker holds no reference into the table from here on until its next lookup.
    #[inline]
    pub(crate) fn quiescent(&self, w: usize) {
        let t = self.token.load(Ordering::Acquire);
        self.workers[w].store(t, Ordering::Release);
    }

    /// The worker stops reading (it may block or sleep) and must not hold up reclamation.
    pub(crate) fn offline(&self, w: usize) {
        self.workers[w].store(OFFLINE, Ordering::Release);
    }

    /// The worker reads again.
    pub(crate) fn online(&self, w: usize) {
        let t = self.token.load(Ordering::Acquire);
        self.workers[w].store(t, Ordering::Relaxed);
        // Store-buffering with the control thread's `min_seen`: see the module docs.
        fence(Ordering::SeqCst);
    }

    /// Control thread, after unpublishing an object: the token value every online worker
    /// must reach before the object may be freed.
    pub(crate) fn advance(&self) -> u64 {
        self.token.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Control thread: everything retired with a target `<=` the result may be freed.
    pub(crate) fn min_seen(&self) -> u64 {
        fence(Ordering::SeqCst);
        let mut min = u64::MAX;
        for w in self.workers.iter() {
            let v = w.load(Ordering::Acquire);
            if v != OFFLINE {
                min = min.min(v);
            }
        }
        min
    }
}
