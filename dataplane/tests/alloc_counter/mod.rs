//! A global allocator that counts allocations while [`counting`] is on, for the tests that
//! prove a warmed-up path allocates nothing. Each test binary installs it with
//! `#[global_allocator] static GLOBAL: Counting = Counting;`.
//!
//! Only the thread that turned counting on is counted: the test harness's other threads
//! (its main thread, other tests) allocate whenever they like, and a loaded machine once
//! made one of them land inside a measured window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Counting;

pub static COUNTING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread's allocations are counted (const-initialised: reading it never
    /// allocates, so the allocator may).
    static HERE: Cell<bool> = const { Cell::new(false) };
}

/// Turns counting of the calling thread's allocations on or off.
pub fn counting(on: bool) {
    HERE.with(|h| h.set(on));
    COUNTING.store(on, Ordering::SeqCst);
}

fn counted() -> bool {
    COUNTING.load(Ordering::Relaxed) && HERE.try_with(Cell::get).unwrap_or(false)
}
pub static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
