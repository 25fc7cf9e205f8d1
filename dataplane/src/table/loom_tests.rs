//! loom models of the publish / retire / QSBR protocol. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p dataplane --release --lib loom`.
//!
//! Each published value carries a magic word in a loom `UnsafeCell`; its `Drop` overwrites
//! it. loom reports any read of the word not ordered before the overwrite (a reader touching
//! an SA the control thread may free), and the assertions catch a poisoned value.
// The probe's cell is read through a raw pointer (loom's `UnsafeCell` interface).
#![allow(unsafe_code)]

use loom::cell::UnsafeCell;
use loom::thread;

use super::{InboundEntry, SaTable, TableConfig};

const MAGIC: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

struct Probe {
    spi: u32,
    magic: UnsafeCell<u64>,
}

impl Probe {
    fn new(spi: u32) -> Self {
        Probe { spi, magic: UnsafeCell::new(MAGIC) }
    }
    fn check(&self) {
        // SAFETY: a shared read of the cell; loom checks it against the writer in `drop`.
        let m = self.magic.with(|p| unsafe { *p });
        assert_eq!(m, MAGIC, "reader saw a freed SA");
    }
}

// SAFETY: after construction the cell is only read (`check`) until `drop`, which has
// exclusive access; loom verifies exactly that ordering.
unsafe impl Sync for Probe {}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: `drop` has exclusive access; loom checks no reader is concurrent.
        self.magic.with_mut(|p| unsafe { *p = POISON });
    }
}

impl InboundEntry for Probe {
    fn spi(&self) -> u32 {
        self.spi
    }
}

fn config() -> TableConfig {
    TableConfig {
        inbound_capacity: 256,
        outbound_capacity: 256,
        foreign_capacity: 1,
        max_workers: 1,
        seed: Some(7),
    }
}

/// A worker uses an outbound SA around its quiescent points while the control thread
/// rekeys it (make-before-break) and reclaims: the worker sees the old SA or the new one,
/// never none, and never a freed one.
#[test]
fn loom_rekey_reclaim() {
    loom::model(|| {
        let mut t = SaTable::<Probe, Probe>::new(config()).unwrap();
        let idx = t.install_outbound(Probe::new(1)).unwrap();
        let mut r = t.reader(0).unwrap();
        let h = thread::spawn(move || {
            let mut last = 0;
            for _ in 0..2 {
                let sa = r.outbound(idx).expect("a rekey never leaves the tunnel without SA");
                sa.check();
                assert!(sa.spi >= last, "went back to the old SA");
                last = sa.spi;
                r.quiescent();
            }
        });
        t.rekey_outbound(idx, Probe::new(2)).unwrap();
        t.reclaim();
        h.join().unwrap();
        // The reader is gone (offline): nothing may stay pending.
        t.reclaim();
        assert_eq!(t.pending_reclaim(), 0);
    });
}

/// Delete while a worker uses the SA: once gone it stays gone, and it is freed only after
/// the worker's quiescent point.
#[test]
fn loom_delete_reclaim() {
    loom::model(|| {
        let mut t = SaTable::<Probe, Probe>::new(config()).unwrap();
        let idx = t.install_outbound(Probe::new(1)).unwrap();
        let mut r = t.reader(0).unwrap();
        let h = thread::spawn(move || {
            let mut gone = false;
            for _ in 0..2 {
                match r.outbound(idx) {
                    Some(sa) => {
                        assert!(!gone, "deleted SA came back");
                        sa.check();
                    }
                    None => gone = true,
                }
                r.quiescent();
            }
        });
        t.delete_outbound(idx).unwrap();
        t.reclaim();
        h.join().unwrap();
        t.reclaim();
        assert_eq!(t.pending_reclaim(), 0);
    });
}

/// A parked worker does not block reclamation, and after going online it cannot reach what
/// was freed meanwhile.
#[test]
fn loom_offline_online() {
    loom::model(|| {
        let mut t = SaTable::<Probe, Probe>::new(config()).unwrap();
        let spi = t.alloc_spi().unwrap();
        t.install_inbound(Probe::new(spi)).unwrap();
        let mut r = t.reader(0).unwrap();
        let h = thread::spawn(move || {
            r.offline().online();
            if let Some(sa) = r.inbound(spi) {
                sa.check();
            }
            r.quiescent();
        });
        t.delete_inbound(spi).unwrap();
        t.reclaim();
        h.join().unwrap();
        t.reclaim();
        assert_eq!(t.pending_reclaim(), 0);
    });
}

/// Foreign SPIs: the index is rebuilt (and the old one retired) while a worker probes it.
#[test]
fn loom_foreign_index_rebuild() {
    loom::model(|| {
        let mut t = SaTable::<Probe, Probe>::new(config()).unwrap();
        let own = t.alloc_spi().unwrap();
        t.install_inbound(Probe::new(own)).unwrap();
        // Same home slot as `own`, so they go through the index.
        let a = own ^ 0x100;
        let b = own ^ 0x200;
        t.install_inbound(Probe::new(a)).unwrap();
        let mut r = t.reader(0).unwrap();
        let h = thread::spawn(move || {
            for spi in [a, b] {
                if let Some(sa) = r.inbound(spi) {
                    assert_eq!(sa.spi, spi);
                    sa.check();
                }
            }
            r.quiescent();
            assert_eq!(r.inbound(own).map(|sa| sa.spi), Some(own));
        });
        t.delete_inbound(a).unwrap();
        // Tombstone + new entry crosses the load factor: rebuild, retire the old index.
        t.install_inbound(Probe::new(b)).unwrap();
        t.reclaim();
        h.join().unwrap();
        t.reclaim();
        assert_eq!(t.pending_reclaim(), 0);
        assert_eq!(t.inbound(b).map(|sa| sa.spi), Some(b));
    });
}
