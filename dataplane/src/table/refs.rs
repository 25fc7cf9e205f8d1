//! A reusable vector of SA references for burst APIs that take `&[&OutboundSa]`
//! (`esp::encap_burst`): filled per burst from a reader's lookups without allocating once
//! warm.
// A `Vec<&'a T>` cannot be kept across bursts (each burst borrows the reader anew), so the
// storage holds lifetime-free pointers and lends them out as references for one borrow.
#![allow(unsafe_code)]

use core::ptr::NonNull;

/// Per-worker scratch: `refs.fill(...)` returns `&[&T]` that lives as long as both the
/// scratch borrow and the references put in.
#[derive(Debug)]
pub struct SaRefs<T> {
    ptrs: Vec<NonNull<T>>,
}

// SAFETY: between `fill` calls the pointers are never dereferenced (they are overwritten
// first), so moving the scratch to another thread moves no access to a `T`.
unsafe impl<T: Sync> Send for SaRefs<T> {}

impl<T> Default for SaRefs<T> {
    fn default() -> Self {
        SaRefs { ptrs: Vec::new() }
    }
}

impl<T> SaRefs<T> {
    pub fn with_capacity(n: usize) -> Self {
        SaRefs { ptrs: Vec::with_capacity(n) }
    }

    /// Replaces the contents with `refs` and lends them out as a slice.
    pub fn fill<'a>(&'a mut self, refs: impl IntoIterator<Item = &'a T>) -> &'a [&'a T] {
        self.ptrs.clear();
        self.ptrs.extend(refs.into_iter().map(NonNull::from));
        let s: &[NonNull<T>] = &self.ptrs;
        // SAFETY: `NonNull<T>` is `repr(transparent)` over `*const T`, which has the layout
        // of `&T` for sized `T`; every pointer was made from a `&'a T` in this call, and the
        // slice borrows `self` for `'a`, so it cannot be refilled while the references live.
        unsafe { &*(s as *const [NonNull<T>] as *const [&'a T]) }
    }
}
