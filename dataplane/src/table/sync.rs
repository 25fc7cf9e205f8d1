//! The atomics and cells the lock-free table and queues are built on: std's, or loom's when
//! the crate is built with `--cfg loom` so the model checker sees every access.
//!
//! Only the crate's own unit tests switch (`all(loom, test)`): loom is a dev-dependency, and
//! integration tests built with `--cfg loom` link the ordinary library.
//!
//! loom's `UnsafeCell` hands out raw pointers through closures (so it can track each
//! access); the std build gets the same `with`/`with_mut` interface at zero cost.

#[cfg(all(loom, test))]
pub(crate) use loom::sync::Arc;
#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::Arc;
#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};

#[cfg(all(loom, test))]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` with loom's closure interface.
#[cfg(not(all(loom, test)))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(all(loom, test)))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        UnsafeCell(core::cell::UnsafeCell::new(v))
    }
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Takes the pointer out of an atomic the caller owns exclusively (no model-checker step).
#[cfg(not(all(loom, test)))]
pub(crate) fn take_ptr<T>(a: &mut AtomicPtr<T>) -> *mut T {
    core::mem::replace(a.get_mut(), core::ptr::null_mut())
}

/// Takes the pointer out of an atomic the caller owns exclusively (no model-checker step).
#[cfg(all(loom, test))]
pub(crate) fn take_ptr<T>(a: &mut AtomicPtr<T>) -> *mut T {
    a.with_mut(|p| core::mem::replace(p, core::ptr::null_mut()))
}
