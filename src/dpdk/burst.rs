//! A fixed-capacity burst of owned mbufs: what RX fills and TX drains, with no allocation.
use std::mem::MaybeUninit;

use super::{Mbuf, ffi};

/// Largest burst a [`Burst`] holds.
pub const BURST_MAX: usize = 64;

/// Up to [`BURST_MAX`] owned mbufs. Dropping it frees those still held.
pub struct Burst<'e> {
    len: usize,
    pkts: [MaybeUninit<Mbuf<'e>>; BURST_MAX],
}

impl Default for Burst<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'e> Burst<'e> {
    /// An empty burst.
    pub fn new() -> Self {
        Burst { len: 0, pkts: [const { MaybeUninit::uninit() }; BURST_MAX] }
    }

    /// Number of mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots.
    pub fn room(&self) -> usize {
        BURST_MAX - self.len
    }

    /// Adds an mbuf; gives it back when full.
    pub fn push(&mut self, m: Mbuf<'e>) -> Result<(), Mbuf<'e>> {
        if self.len == BURST_MAX {
            return Err(m);
        }
        self.pkts[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last mbuf.
    pub fn pop(&mut self) -> Option<Mbuf<'e>> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live range.
        Some(unsafe { self.pkts[self.len].assume_init_read() })
    }

    /// The mbufs held.
    pub fn as_slice(&self) -> &[Mbuf<'e>] {
        // SAFETY: the first `len` slots are initialised; MaybeUninit<T> has T's layout.
        unsafe { std::slice::from_raw_parts(self.pkts.as_ptr().cast(), self.len) }
    }

    /// The mbufs held, writable.
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf<'e>] {
        // SAFETY: as in `as_slice`, with a unique borrow.
        unsafe { std::slice::from_raw_parts_mut(self.pkts.as_mut_ptr().cast(), self.len) }
    }

    /// Moves every mbuf, front first, to the end of `out` (no allocation when `out` has
    /// room for them).
    pub fn move_into(&mut self, out: &mut Vec<Mbuf<'e>>) {
        let n = self.len;
        // Emptied first: should `push` unwind, the mbufs not yet moved leak instead of being
        // freed twice.
        self.len = 0;
        for slot in &self.pkts[..n] {
            // SAFETY: slots 0..n were initialised, and each is read exactly once here while
            // `len` = 0 keeps `pop`/`Drop` from reading them again.
            out.push(unsafe { slot.assume_init_read() });
        }
    }

    /// Frees every mbuf held.
    pub fn clear(&mut self) {
        while self.pop().is_some() {}
    }

    /// Pointer to the slots, for DPDK burst calls.
    pub(crate) fn raw_slots(&mut self) -> *mut *mut ffi::rte_mbuf {
        // Mbuf is repr(transparent) over a non-null mbuf pointer.
        self.pkts.as_mut_ptr().cast()
    }

    /// Marks `n` more slots after `len` as filled by DPDK.
    ///
    /// # Safety
    /// DPDK wrote `n` valid, owned mbuf pointers into slots `len..len + n`.
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_MAX);
        self.len += n;
    }

    /// Forgets the first `n` mbufs (DPDK took them) and moves the rest to the front.
    ///
    /// # Safety
    /// DPDK took ownership of the first `n` mbufs, `n <= len`.
    pub(crate) unsafe fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let base = self.pkts.as_mut_ptr();
        // SAFETY: n <= len <= BURST_MAX, so both ranges lie in the array; ptr::copy allows
        // overlap; slots 0..n were moved out by DPDK, so overwriting them drops nothing.
        unsafe { std::ptr::copy(base.add(n), base, self.len - n) };
        self.len -= n;
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}
