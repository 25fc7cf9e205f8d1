//! Inbound anti-replay window (RFC 4303 3.4.3 and Appendix A) with extended sequence
//! number inference (RFC 4303 A2.2).
//!
//! The bitmap is a ring of 64-bit words (RFC 6479): advancing the window clears whole words
//! instead of shifting the bitmap, so an advance costs O(1) amortised at any window size.
//!
//! Words and the top sequence number are relaxed atomics only so that a runtime SA can be
//! shared (`Sync`) with the control thread; exactly one worker writes them (the SA's owner),
//! with plain load/store, never a locked instruction (see [`super::counters`]).
//!
//! A window built [`ReplayWindow::with_lab_sequence_restart`] also lets a sender restart
//! its sequence numbers (see `SaConfig::lab_sequence_restart`, labs only): the caller asks
//! [`ReplayWindow::restart_candidate`] about a refused number, and calls
//! [`ReplayWindow::restart_at`] once that packet authenticated.

use core::sync::atomic::{AtomicU64, Ordering};

use super::counters::Counter;

/// Default window in packets: 64, like the ASA (`crypto ipsec security-association
/// replay window-size`).
pub const DEFAULT_WINDOW: u32 = 64;
/// Largest window accepted (packets). Linux allows 2^32 bits in theory; 64 Ki is ample at
/// any rate this dataplane reaches and keeps the bitmap at 8 KiB.
pub const MAX_WINDOW: u32 = 65_536;
/// Window assumed for extended sequence number inference when anti-replay is off: RFC 4303
/// A2 needs some W, and the smallest real window keeps inference strict.
const ESN_INFERENCE_MIN_WINDOW: u64 = 64;

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Already received.
    Duplicate,
    /// Left of the window (or sequence number 0, which is never sent).
    TooOld,
}

/// An anti-replay window.
#[derive(Debug)]
pub struct ReplayWindow {
    /// Window in packets, a multiple of 64; 0 = anti-replay off.
    size: u64,
    /// Highest authenticated sequence number ("T" in RFC 4303 A2); 0 before the first.
    top: AtomicU64,
    /// Ring bitmap: bit `s % 64` of word `(s / 64) % len`. One word more than the window so
    /// the word holding `top` never overlaps the oldest word still inside the window.
    words: Box<[AtomicU64]>,
    /// Lab option: a number left of the window may restart it (see the module doc).
    lab_restart: bool,
    /// Restarts so far (single writer, like the rest).
    restarts: Counter,
}

impl ReplayWindow {
    /// A window of `size` packets: 0 turns anti-replay off, anything else is rounded up to a
    /// multiple of 64 and capped at [`MAX_WINDOW`].
    pub fn new(size: u32) -> Self {
        let size = u64::from(size.min(MAX_WINDOW)).div_ceil(64) * 64;
        let n_words = if size == 0 { 0 } else { size / 64 + 1 };
        ReplayWindow {
            size,
            top: AtomicU64::new(0),
            words: (0..n_words).map(|_| AtomicU64::new(0)).collect(),
            lab_restart: false,
            restarts: Counter::default(),
        }
    }

    /// The same window, letting a sender restart its sequence numbers when `on` (labs only:
    /// it defeats anti-replay for everything older than the window; see
    /// `SaConfig::lab_sequence_restart`).
    pub fn with_lab_sequence_restart(mut self, on: bool) -> Self {
        self.lab_restart = on;
        self
    }

    /// Whether this window lets a sender restart its sequence numbers.
    pub fn lab_sequence_restart(&self) -> bool {
        self.lab_restart
    }

    /// How many times [`Self::restart_at`] reset the window.
    pub fn sequence_restarts(&self) -> u64 {
        self.restarts.get()
    }

    /// The same window, starting after `top` as if every packet up to it had been received
    /// (used to resume an SA after failover).
    pub fn starting_at(size: u32, top: u64) -> Self {
        let w = Self::new(size);
        w.top.store(top, Ordering::Relaxed);
        for word in w.words.iter() {
            word.store(u64::MAX, Ordering::Relaxed);
        }
        w
    }

    /// Starts loading the bitmap word that holds the top of the window, where the next
    /// packets land.
    #[inline]
    pub(crate) fn prefetch(&self) {
        let n = self.words.len();
        if n != 0 {
            let top = self.top.load(Ordering::Relaxed);
            if let Some(w) = self.words.get((top / 64) as usize % n) {
                crate::prefetch::lines(w, 1);
            }
        }
    }

    /// Window size in packets (0 = off).
    pub fn size(&self) -> u32 {
        self.size as u32
    }

    /// Highest authenticated sequence number so far.
    pub fn top(&self) -> u64 {
        self.top.load(Ordering::Relaxed)
    }

    /// The full 64-bit sequence number of a packet carrying `seq_lo`, for an SA with
    /// extended sequence numbers (RFC 4303 A2.2). `None` when the number would lie below
    /// zero, which only a replayed or forged packet can carry.
    #[inline]
    pub fn infer_esn(&self, seq_lo: u32) -> Option<u64> {
        infer_esn(self.top(), self.size.max(ESN_INFERENCE_MIN_WINDOW), seq_lo)
    }

    /// Whether a packet with sequence number `seq` may be accepted: cheap and read-only, run
    /// before the ICV is checked and again after it (duplicates within one burst all pass
    /// the first check).
    #[inline]
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if self.size == 0 {
            return Ok(());
        }
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        let top = self.top();
        if seq > top {
            return Ok(());
        }
        if top - seq >= self.size {
            return Err(ReplayError::TooOld);
        }
        let (word, bit) = self.slot(seq);
        if self.words[word].load(Ordering::Relaxed) & bit != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as received. Only after its ICV verified and [`Self::check`] passed.
    #[inline]
    pub fn advance(&self, seq: u64) {
        let top = self.top();
        if seq > top {
            if !self.words.is_empty() {
                let n = self.words.len() as u64;
                let (old_w, new_w) = (top / 64, seq / 64);
                if new_w - old_w >= n {
                    for w in self.words.iter() {
                        w.store(0, Ordering::Relaxed);
                    }
                } else {
                    for w in old_w + 1..=new_w {
                        self.words[(w % n) as usize].store(0, Ordering::Relaxed);
                    }
                }
            }
            self.top.store(seq, Ordering::Relaxed);
        }
        if self.size != 0 {
            let (word, bit) = self.slot(seq);
            let w = &self.words[word];
            w.store(w.load(Ordering::Relaxed) | bit, Ordering::Relaxed);
        }
    }

    /// Whether a packet that [`Self::check`] refused with `err` may restart the window
    /// instead of being dropped: only with the lab option, only left of the window (a
    /// duplicate inside it stays a duplicate) and never sequence number 0, which no sender
    /// uses. The option is tested first: when it is off this costs one predictable branch
    /// on a path that already failed.
    #[inline]
    pub fn restart_candidate(&self, seq: u64, err: ReplayError) -> bool {
        self.lab_restart && err == ReplayError::TooOld && seq != 0
    }

    /// Resets the window so that `seq` is its top and the only number received, as if the
    /// sender had restarted its counter at `seq`, and counts a restart. Only for a
    /// [`Self::restart_candidate`] whose ICV verified, and only by the single writer (same
    /// relaxed-store discipline as [`Self::advance`]). O(window): clears every word, which
    /// is fine for an event that happens once per replayed capture.
    #[cold]
    pub fn restart_at(&self, seq: u64) {
        for w in self.words.iter() {
            w.store(0, Ordering::Relaxed);
        }
        self.top.store(seq, Ordering::Relaxed);
        if self.size != 0 {
            let (word, bit) = self.slot(seq);
            self.words[word].store(bit, Ordering::Relaxed);
        }
        self.restarts.add(1);
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        (((seq / 64) % self.words.len() as u64) as usize, 1u64 << (seq % 64))
    }
}

/// RFC 4303 A2.2: the high-order 32 bits of a received sequence number, from the top of the
/// window `top` ("T"), the window size `window` ("W", at least 1) and the received low-order
/// bits.
pub fn infer_esn(top: u64, window: u64, seq_lo: u32) -> Option<u64> {
    let tl = top & 0xffff_ffff;
    let th = top >> 32;
    let sl = u64::from(seq_lo);
    let seq_hi = if tl >= window - 1 {
        // Case A: the window lies within one sequence number subspace.
        if sl >= tl + 1 - window {
            th
        } else {
            th.checked_add(1).filter(|&h| h <= u32::MAX.into())?
        }
    } else {
        // Case B: the window spans two subspaces.
        let bottom = (tl + (1 << 32) + 1 - window) & 0xffff_ffff;
        if sl >= bottom { th.checked_sub(1)? } else { th }
    };
    Some(seq_hi << 32 | sl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_then_duplicate() {
        let w = ReplayWindow::new(64);
        for s in 1..=200 {
            assert_eq!(w.check(s), Ok(()));
            w.advance(s);
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.top(), 200);
    }

    #[test]
    fn reordered_within_window_accepted_once() {
        let w = ReplayWindow::new(64);
        w.advance(100);
        for s in (37..100).rev() {
            assert_eq!(w.check(s), Ok(()), "seq {s}");
            w.advance(s);
        }
        for s in 37..=100 {
            assert_eq!(w.check(s), Err(ReplayError::Duplicate), "seq {s}");
        }
        assert_eq!(w.check(36), Err(ReplayError::TooOld));
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
    }

    #[test]
    fn very_old_and_big_jumps() {
        let w = ReplayWindow::new(128);
        w.advance(5);
        w.advance(1_000_000);
        assert_eq!(w.check(5), Err(ReplayError::TooOld));
        assert_eq!(w.check(1_000_000 - 127), Ok(()));
        assert_eq!(w.check(1_000_000 - 128), Err(ReplayError::TooOld));
        // Bits from before the jump must not linger in the ring.
        for s in 1_000_000 - 127..1_000_000 {
            assert_eq!(w.check(s), Ok(()));
        }
    }

    #[test]
    fn window_zero_accepts_everything() {
        let w = ReplayWindow::new(0);
        w.advance(10);
        w.advance(10);
        assert_eq!(w.check(10), Ok(()));
        assert_eq!(w.check(1), Ok(()));
        assert_eq!(w.top(), 10);
    }

    #[test]
    fn window_4096_exact_edges() {
        let w = ReplayWindow::new(4096);
        assert_eq!(w.size(), 4096);
        w.advance(10_000);
        assert_eq!(w.check(10_000 - 4095), Ok(()));
        assert_eq!(w.check(10_000 - 4096), Err(ReplayError::TooOld));
        for s in (10_000 - 4095..10_000).step_by(7) {
            w.advance(s);
        }
        for s in 10_000 - 4095..10_000 {
            let seen = (s - (10_000u64 - 4095)).is_multiple_of(7);
            assert_eq!(w.check(s).is_err(), seen, "seq {s}");
        }
        // Slide by half a window: the lower half falls out, the upper half keeps its bits.
        w.advance(12_048);
        assert_eq!(w.check(12_048 - 4096), Err(ReplayError::TooOld));
        let kept = 10_000 - 4095 + 7 * 400;
        assert!(kept > 12_048 - 4096);
        assert_eq!(w.check(kept), Err(ReplayError::Duplicate));
        assert_eq!(w.check(kept + 1), Ok(()));
    }

    #[test]
    fn restart_at_makes_seq_the_only_number_received() {
        for size in [64, 128, 4096] {
            let w = ReplayWindow::new(size).with_lab_sequence_restart(true);
            for s in 1..=10_000 {
                w.advance(s);
            }
            assert_eq!(w.check(5), Err(ReplayError::TooOld));
            assert!(w.restart_candidate(5, ReplayError::TooOld));
            w.restart_at(5);
            assert_eq!((w.top(), w.sequence_restarts()), (5, 1));
            assert_eq!(w.check(5), Err(ReplayError::Duplicate));
            // Nothing from before the restart lingers: 1..=4 are inside the new window and
            // unseen, everything above 5 is ahead.
            for s in (1..5).chain(6..300) {
                assert_eq!(w.check(s), Ok(()), "size {size} seq {s}");
            }
            for s in 6..=200 {
                w.advance(s);
            }
            assert_eq!(w.check(200), Err(ReplayError::Duplicate));
            assert_eq!(w.check(201), Ok(()));
        }
    }

    #[test]
    fn only_old_numbers_are_restart_candidates_and_only_with_the_option() {
        let off = ReplayWindow::new(64);
        let on = ReplayWindow::new(64).with_lab_sequence_restart(true);
        assert!(!off.lab_sequence_restart() && on.lab_sequence_restart());
        assert!(!off.restart_candidate(5, ReplayError::TooOld));
        assert!(on.restart_candidate(5, ReplayError::TooOld));
        assert!(!on.restart_candidate(5, ReplayError::Duplicate));
        assert!(!on.restart_candidate(0, ReplayError::TooOld));
    }

    #[test]
    fn restart_with_anti_replay_off_only_moves_the_top() {
        let w = ReplayWindow::new(0).with_lab_sequence_restart(true);
        w.advance(100);
        w.restart_at(3);
        assert_eq!((w.top(), w.sequence_restarts()), (3, 1));
        assert_eq!(w.check(3), Ok(()));
    }

    #[test]
    fn sizes_round_up_and_cap() {
        assert_eq!(ReplayWindow::new(1).size(), 64);
        assert_eq!(ReplayWindow::new(100).size(), 128);
        assert_eq!(ReplayWindow::new(u32::MAX).size(), MAX_WINDOW);
    }

    #[test]
    fn starting_at_treats_the_past_as_received() {
        let w = ReplayWindow::starting_at(64, 1000);
        assert_eq!(w.check(999), Err(ReplayError::Duplicate));
        assert_eq!(w.check(1001), Ok(()));
    }

    /// RFC 4303 A2.2 case A (window inside one subspace) and case B (window spans the
    /// 2^32 boundary), with W = 64.
    #[test]
    fn esn_inference_rfc4303_a2_2() {
        let w = 64;
        // Case A: T = 2^32 + 1000 (Th = 1, Tl = 1000).
        let t = (1 << 32) + 1000;
        assert_eq!(infer_esn(t, w, 1000), Some((1 << 32) + 1000));
        assert_eq!(infer_esn(t, w, 937), Some((1 << 32) + 937)); // Tl - W + 1
        assert_eq!(infer_esn(t, w, 5000), Some((1 << 32) + 5000)); // ahead, same subspace
        assert_eq!(infer_esn(t, w, 936), Some((2 << 32) + 936)); // below window: wrapped
        // Case A near the top of a subspace: a small Seql means the next subspace.
        let t = (1 << 32) + 0xffff_fff0;
        assert_eq!(infer_esn(t, w, 3), Some((2 << 32) + 3));
        assert_eq!(infer_esn(t, w, 0xffff_ffff), Some((1 << 32) + 0xffff_ffff));
        // Case B: T = 2^32 + 10, window reaches back into subspace 0.
        let t = (1 << 32) + 10;
        assert_eq!(infer_esn(t, w, 0xffff_fff0), Some(0xffff_fff0)); // previous subspace
        assert_eq!(infer_esn(t, w, 5), Some((1 << 32) + 5));
        assert_eq!(infer_esn(t, w, 20), Some((1 << 32) + 20)); // ahead
        // Case B in subspace 0: nothing below zero exists.
        assert_eq!(infer_esn(10, w, 0xffff_fff0), None);
        assert_eq!(infer_esn(0, w, 1), Some(1));
    }

    #[test]
    fn esn_window_across_the_boundary() {
        let base = (1u64 << 32) - 10;
        let w = ReplayWindow::starting_at(64, base - 1);
        for s in base..base + 20 {
            let lo = s as u32;
            let inferred = w.infer_esn(lo).unwrap();
            assert_eq!(inferred, s);
            assert_eq!(w.check(inferred), Ok(()));
            w.advance(inferred);
        }
        // A late packet from before the wrap is still placed in subspace 0 and is a duplicate.
        let late = w.infer_esn((base + 3) as u32).unwrap();
        assert_eq!(late, base + 3);
        assert_eq!(w.check(late), Err(ReplayError::Duplicate));
    }
}
