//! Arrays of atomically published pointers, and the owned allocations behind them.
//!
//! The control thread is the only writer: it boxes a [`Node`], publishes the pointer with a
//! release swap and gets the previous one back as an [`Owned`] to retire. Readers load with
//! acquire and dereference; that is sound only while the node cannot be freed, which the
//! QSBR protocol ([`super::qsbr`]) guarantees to the callers of [`Slots::get`].
// Raw pointers are the point of this module: a published node is shared by readers on other
// threads while the control thread still owns it, which no safe Rust pointer expresses.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::Ordering;

use super::sync::{AtomicPtr, take_ptr};

/// A published value and the key readers check before they use it (the SPI of an inbound
/// SA, the generation of an outbound slot): a slot reused for something else, or a stale or
/// guessed key, misses. The key comes first and the node starts a cache line, so the check
/// reads the line the value's hot fields begin in (laid out by `repr(C)`), and nodes never
/// share a line.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Node<T> {
    pub(crate) key: u32,
    pub(crate) value: T,
}

/// A heap allocation owned by the control thread: published (readers may hold `&T`),
/// retired (waiting for its grace period) or about to be freed. Unlike `Box`, holding one
/// asserts nothing about other references, which is exactly the retired state.
pub(crate) struct Owned<T>(NonNull<T>);

// SAFETY: `Owned<T>` is a unique owner of a `T` like `Box<T>`; moving it to another thread
// moves the `T`, which is fine when `T: Send`.
unsafe impl<T: Send> Send for Owned<T> {}

impl<T> Owned<T> {
    pub(crate) fn new(v: T) -> Self {
        Owned(NonNull::from(Box::leak(Box::new(v))))
    }

    fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }

    /// The value, for the control thread.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the pointer came from `Box::leak` and is freed only by `Drop`, so it is
        // valid while `self` lives; only shared references are ever made from it.
        unsafe { self.0.as_ref() }
    }

    /// Rebuilds an `Owned` from a pointer taken out of a [`Slots`] array.
    ///
    /// # Safety
    /// `p` came from [`Owned::into_raw`] and no other `Owned` for it exists.
    unsafe fn from_raw(p: NonNull<T>) -> Self {
        Owned(p)
    }

    fn into_raw(self) -> *mut T {
        let p = self.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` and this is its unique owner; callers
        // drop an `Owned` only after the grace period (or with exclusive access), so no
        // reader still holds a reference.
        drop(unsafe { Box::from_raw(self.as_ptr()) });
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Owned<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.get().fmt(f)
    }
}

/// A fixed array of published pointers to `T` (null = empty).
pub(crate) struct Slots<T> {
    ptrs: Box<[AtomicPtr<T>]>,
    /// The array owns the `T`s it points to (for auto traits and drop check).
    _own: PhantomData<Box<T>>,
}

impl<T> Slots<T> {
    pub(crate) fn new(len: usize) -> Self {
        Slots {
            ptrs: (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            _own: PhantomData,
        }
    }

    /// The value published in slot `i`, if any.
    ///
    /// # Safety
    /// The caller is a reader online in the table's QSBR domain (or the control thread, the
    /// only one that frees) and does not use the reference after its next quiescent point
    /// (or after the control thread's next reclaim). Out-of-range `i` returns `None`.
    #[inline]
    pub(crate) unsafe fn get(&self, i: usize) -> Option<&T> {
        let p = self.ptrs.get(i)?.load(Ordering::Acquire);
        // SAFETY: non-null pointers in the array come from `Owned::into_raw` (`publish`);
        // the acquire load pairs with the release swap, so the pointee is initialised; by
        // the caller's contract it is not freed before the reference's last use.
        unsafe { p.as_ref() }
    }

    /// Starts loading the pointer cell of slot `i` (a hint; nothing is read).
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        if let Some(cell) = self.ptrs.get(i) {
            crate::prefetch::lines(cell, 1);
        }
    }

    /// Starts loading the first `lines` cache lines of the node published in slot `i`, if
    /// any: reads the pointer cell (prefetch it first), not the node, so a burst's node
    /// misses overlap instead of stalling one after another.
    #[inline]
    pub(crate) fn prefetch_node(&self, i: usize, lines: usize) {
        if let Some(cell) = self.ptrs.get(i) {
            // Only an address for the prefetch: no ordering needed, nothing is dereferenced.
            let p = cell.load(Ordering::Relaxed);
            if !p.is_null() {
                crate::prefetch::lines_at(p.cast_const(), lines);
            }
        }
    }

    /// Control thread: publishes `v` in slot `i` and returns what was there, to retire.
    pub(crate) fn publish(&self, i: usize, v: Owned<T>) -> Option<Owned<T>> {
        let old = self.ptrs[i].swap(v.into_raw(), Ordering::AcqRel);
        // SAFETY: every non-null pointer stored here came from `Owned::into_raw` and was
        // removed from the array by this swap, so this is its only owner.
        NonNull::new(old).map(|p| unsafe { Owned::from_raw(p) })
    }

    /// Control thread: empties slot `i` and returns what was there, to retire.
    pub(crate) fn take(&self, i: usize) -> Option<Owned<T>> {
        let old = self.ptrs[i].swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `publish`: the swap removed the only array copy of the pointer.
        NonNull::new(old).map(|p| unsafe { Owned::from_raw(p) })
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        for a in self.ptrs.iter_mut() {
            // Dropping the array means no reader exists any more (it is inside the last
            // `Arc` of the table); free what is still published.
            if let Some(p) = NonNull::new(take_ptr(a)) {
                // SAFETY: the pointer came from `Owned::into_raw` and was just removed from
                // the array, which had the only copy.
                drop(unsafe { Owned::from_raw(p) });
            }
        }
    }
}
