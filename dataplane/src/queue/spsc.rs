//! Bounded single-producer single-consumer ring (Lamport's queue with cached indices, as in
//! DPDK's `rte_ring` SP/SC mode): wait-free on both ends, never blocks, never allocates
//! after creation.
//!
//! `tail` (written by the producer) and `head` (written by the consumer) are free-running
//! counters on separate cache lines; each side keeps a private copy of the other's counter
//! and reloads it only when the ring looks full (producer) or empty (consumer), so in steady
//! state each side touches the other's line once per burst, not once per item.
// The slots are written by one thread and read by another with only the head/tail
// counters ordering them: that hand-over is what `UnsafeCell` + `unsafe` express.
#![allow(unsafe_code)]

use core::fmt;
use core::mem::MaybeUninit;
use core::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use crate::table::sync::{Arc, AtomicU64, AtomicUsize, UnsafeCell};

struct ProducerLine {
    tail: AtomicUsize,
    /// Items refused because the ring was full.
    refused: AtomicU64,
}

struct Ring<T> {
    tail: CachePadded<ProducerLine>,
    head: CachePadded<AtomicUsize>,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
}

// SAFETY: items cross from the producer's thread to the consumer's (`T: Send`); a slot is
// accessed by one side at a time, handed over by the release/acquire counters.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; the only shared accesses are to the atomics.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Both ends are gone (last `Arc`): drop what was pushed and never popped.
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.tail.load(Ordering::Acquire);
        let mut i = head;
        while i != tail {
            // SAFETY: slots in `head..tail` were written by the producer and not read out;
            // no other thread can access the ring any more.
            self.slots[i & self.mask].with_mut(|p| unsafe { (*p).assume_init_drop() });
            i = i.wrapping_add(1);
        }
    }
}

/// Creates a ring of at least `capacity` items (rounded up to a power of two, at least 2).
pub fn channel<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let n = capacity.max(2).next_power_of_two();
    let ring = Arc::new(Ring {
        tail: CachePadded::new(ProducerLine {
            tail: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }),
        head: CachePadded::new(AtomicUsize::new(0)),
        slots: (0..n).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect(),
        mask: n - 1,
    });
    (
        Producer { ring: ring.clone(), tail: 0, head_cache: 0 },
        Consumer { ring, head: 0, tail_cache: 0 },
    )
}

/// The sending end (one thread).
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    tail: usize,
    head_cache: usize,
}

/// The receiving end (one thread).
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    head: usize,
    tail_cache: usize,
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl<T> Producer<T> {
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Free slots, at least; reloads the consumer's counter only when needed.
    fn room(&mut self, want: usize) -> usize {
        let cap = self.capacity();
        let mut free = cap - self.tail.wrapping_sub(self.head_cache);
        if free < want {
            self.head_cache = self.ring.head.load(Ordering::Acquire);
            free = cap - self.tail.wrapping_sub(self.head_cache);
        }
        free
    }

    fn write(&mut self, v: T) {
        // SAFETY: `room` showed this slot free: the consumer moved `head` past it (acquire),
        // so it no longer reads it, and it reads it again only after our release of `tail`.
        self.ring.slots[self.tail & self.ring.mask].with_mut(|p| unsafe { (*p).write(v) });
        self.tail = self.tail.wrapping_add(1);
    }

    /// Pushes one item; when the ring is full, counts it as refused and gives it back.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        if self.room(1) == 0 {
            self.ring.tail.refused.fetch_add(1, Ordering::Relaxed);
            return Err(v);
        }
        self.write(v);
        self.ring.tail.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Pushes items from the front of `items` (in order) until the ring is full, with one
    /// publication for the lot; removes the pushed ones and returns their number. Those
    /// left in `items` are counted as refused.
    pub fn push_burst(&mut self, items: &mut Vec<T>) -> usize {
        let n = self.room(items.len()).min(items.len());
        if n < items.len() {
            self.ring.tail.refused.fetch_add((items.len() - n) as u64, Ordering::Relaxed);
        }
        if n == 0 {
            return 0;
        }
        for v in items.drain(..n) {
            self.write(v);
        }
        self.ring.tail.tail.store(self.tail, Ordering::Release);
        n
    }

    /// Items refused so far because the ring was full.
    pub fn refused(&self) -> u64 {
        self.ring.tail.refused.load(Ordering::Relaxed)
    }
}

impl<T> Consumer<T> {
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Items ready, at least; reloads the producer's counter only when needed.
    fn ready(&mut self, want: usize) -> usize {
        let mut n = self.tail_cache.wrapping_sub(self.head);
        if n < want {
            self.tail_cache = self.ring.tail.tail.load(Ordering::Acquire);
            n = self.tail_cache.wrapping_sub(self.head);
        }
        n
    }

    fn read(&mut self) -> T {
        // SAFETY: `ready` showed this slot written: the producer released `tail` past it
        // after writing (acquired by us), and does not write it again before our release of
        // `head`. Each slot is read out once.
        let v = self.ring.slots[self.head & self.ring.mask]
            .with(|p| unsafe { (*p).assume_init_read() });
        self.head = self.head.wrapping_add(1);
        v
    }

    pub fn pop(&mut self) -> Option<T> {
        if self.ready(1) == 0 {
            return None;
        }
        let v = self.read();
        self.ring.head.store(self.head, Ordering::Release);
        Some(v)
    }

    /// Appends up to `max` items to `out` (which allocates only if it lacks the capacity)
    /// with one release of the slots; returns how many.
    pub fn pop_burst(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let n = self.ready(max).min(max);
        if n == 0 {
            return 0;
        }
        out.reserve(n);
        for _ in 0..n {
            let v = self.read();
            out.push(v);
        }
        self.ring.head.store(self.head, Ordering::Release);
        n
    }

    /// Items waiting now (a snapshot).
    pub fn len(&mut self) -> usize {
        self.ready(usize::MAX)
    }

    pub fn is_empty(&mut self) -> bool {
        self.ready(1) == 0
    }

    /// Items the producer had refused so far because the ring was full.
    pub fn refused(&self) -> u64 {
        self.ring.tail.refused.load(Ordering::Relaxed)
    }
}
