//! loom models of the SPSC ring. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p dataplane --release --lib loom`.
//!
//! Items carry their payload in a loom `UnsafeCell`, so loom reports any slot hand-over
//! that is not ordered by the head/tail counters.
// The payload cell is accessed through raw pointers (loom's `UnsafeCell` interface).
#![allow(unsafe_code)]

use loom::cell::UnsafeCell;
use loom::thread;

use super::channel;

struct Item(UnsafeCell<u32>);

impl Item {
    fn new(v: u32) -> Self {
        Item(UnsafeCell::new(v))
    }
    fn get(&self) -> u32 {
        // SAFETY: shared read; loom checks it against the writes.
        self.0.with(|p| unsafe { *p })
    }
}

/// One by one through a ring of 2: order kept, nothing lost, refusals counted.
#[test]
fn loom_spsc_push_pop() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<Item>(2);
        let h = thread::spawn(move || {
            let mut refused = 0;
            for v in 0..3 {
                let mut item = Item::new(v);
                loop {
                    match tx.push(item) {
                        Ok(()) => break,
                        Err(back) => {
                            refused += 1;
                            item = back;
                            thread::yield_now();
                        }
                    }
                }
            }
            assert_eq!(tx.refused(), refused);
        });
        let mut next = 0;
        while next < 3 {
            match rx.pop() {
                Some(item) => {
                    assert_eq!(item.get(), next);
                    next += 1;
                }
                None => thread::yield_now(),
            }
        }
        h.join().unwrap();
        assert!(rx.pop().is_none());
    });
}

/// Bursts both ways, and items left in the ring are dropped with it.
#[test]
fn loom_spsc_bursts() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<Item>(2);
        let h = thread::spawn(move || {
            let mut items: Vec<Item> = (0..3).map(Item::new).collect();
            let mut first = 0;
            while !items.is_empty() {
                let n = tx.push_burst(&mut items);
                first += n;
                if items.is_empty() {
                    break;
                }
                thread::yield_now();
            }
            assert_eq!(first, 3);
            // Pushed after the consumer stopped: freed by the ring's drop.
            let mut tail = vec![Item::new(9)];
            let _ = tx.push_burst(&mut tail);
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let want = 3 - got.len();
            if rx.pop_burst(&mut got, want) == 0 {
                thread::yield_now();
            }
        }
        let values: Vec<u32> = got.iter().map(Item::get).collect();
        assert_eq!(values, [0, 1, 2]);
        h.join().unwrap();
    });
}
