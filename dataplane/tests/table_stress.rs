//! Real threads against the lock-free SA table: one writer installing, rekeying and
//! deleting, two readers looking up and touching SAs, for about a second. Every SA carries
//! a magic word that its `Drop` poisons, and a holder count readers raise while they use it;
//! a reader that ever sees a poisoned, foreign or inconsistent SA, or an SA freed while a
//! reader holds it, fails the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dataplane::table::{InboundEntry, SaIndex, SaTable, TableConfig};

const MAGIC: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;
const RECENT: usize = 512;

static CREATED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static FREED_WHILE_HELD: AtomicU64 = AtomicU64::new(0);

struct Probe {
    magic: AtomicU64,
    key: u32,
    /// `!key`, written with it: a torn or foreign node fails the check.
    check: u32,
    holders: AtomicU32,
    touches: AtomicU64,
}

impl Probe {
    fn new(key: u32) -> Self {
        CREATED.fetch_add(1, Ordering::Relaxed);
        Probe {
            magic: AtomicU64::new(MAGIC),
            key,
            check: !key,
            holders: AtomicU32::new(0),
            touches: AtomicU64::new(0),
        }
    }

    fn verify(&self, key: u32) -> Result<(), String> {
        let m = self.magic.load(Ordering::Relaxed);
        if m != MAGIC {
            return Err(format!("magic {m:#x} (freed SA) for key {key:#x}"));
        }
        if self.key != key || self.check != !key {
            return Err(format!("key {:#x}/{:#x} for {key:#x}", self.key, self.check));
        }
        Ok(())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.holders.load(Ordering::SeqCst) != 0 {
            FREED_WHILE_HELD.fetch_add(1, Ordering::Relaxed);
        }
        self.magic.store(POISON, Ordering::SeqCst);
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

impl InboundEntry for Probe {
    fn spi(&self) -> u32 {
        self.key
    }
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Keys the writer installed recently (live or deleted since): what readers look up.
struct Recent {
    spis: Vec<AtomicU32>,
    idxs: Vec<AtomicU32>,
}

#[test]
fn one_writer_two_readers() {
    let cfg = TableConfig {
        inbound_capacity: 4096,
        outbound_capacity: 1024,
        foreign_capacity: 256,
        max_workers: 2,
        seed: Some(42),
    };
    let mut table = SaTable::<Probe, Probe>::new(cfg).unwrap();
    let recent = Arc::new(Recent {
        spis: (0..RECENT).map(|_| AtomicU32::new(0)).collect(),
        idxs: (0..RECENT).map(|_| AtomicU32::new(0)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..2u32 {
        let mut reader = table.reader(w).unwrap();
        let recent = recent.clone();
        let stop = stop.clone();
        handles.push(thread::spawn(move || -> Result<(u64, u64, u64), String> {
            let mut rng = XorShift(0x9E37_79B9 + u64::from(w));
            let (mut hits, mut lookups, mut bursts) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                // One "burst": up to 32 lookups each way, references kept until the end.
                {
                    // References borrow `reader`: they must all be gone before `quiescent`.
                    let mut held: Vec<&Probe> = Vec::with_capacity(64);
                    for _ in 0..32 {
                        let spi = recent.spis[rng.below(RECENT)].load(Ordering::Relaxed);
                        lookups += 1;
                        if let Some(sa) = reader.inbound(spi) {
                            sa.holders.fetch_add(1, Ordering::SeqCst);
                            sa.verify(spi)?;
                            held.push(sa);
                        }
                        let idx = SaIndex(recent.idxs[rng.below(RECENT)].load(Ordering::Relaxed));
                        lookups += 1;
                        if let Some(sa) = reader.outbound(idx) {
                            sa.holders.fetch_add(1, Ordering::SeqCst);
                            sa.verify(idx.0)?;
                            held.push(sa);
                        }
                    }
                    for sa in &held {
                        sa.touches.fetch_add(1, Ordering::Relaxed);
                        sa.verify(sa.key)?;
                        sa.holders.fetch_sub(1, Ordering::SeqCst);
                    }
                    hits += held.len() as u64;
                }
                reader.quiescent();
                bursts += 1;
                if bursts % 1024 == 0 {
                    // Parked for a moment (a sleep would last milliseconds on a busy host).
                    let parked = reader.offline();
                    for _ in 0..4 {
                        thread::yield_now();
                    }
                    parked.online();
                }
            }
            Ok((hits, lookups, bursts))
        }));
    }

    let mut rng = XorShift(0xC0FF_EE00_1234_5678);
    let mut live_in: Vec<u32> = Vec::new();
    let mut live_out: Vec<SaIndex> = Vec::new();
    let (mut installs, mut deletes, mut rekeys, mut reclaimed) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut op = 0usize;
    while start.elapsed() < Duration::from_millis(1000) {
        op += 1;
        match rng.below(10) {
            0..=2 if live_in.len() < 3000 => {
                let spi = table.alloc_spi().unwrap();
                table.install_inbound(Probe::new(spi)).unwrap();
                recent.spis[op % RECENT].store(spi, Ordering::Relaxed);
                live_in.push(spi);
                installs += 1;
            }
            3 if table.foreign_len() < 200 => {
                // A static SA with an arbitrary SPI: home slot or foreign index.
                let spi = (rng.next() as u32) | 0x100;
                if table.install_inbound(Probe::new(spi)).is_ok() {
                    recent.spis[op % RECENT].store(spi, Ordering::Relaxed);
                    live_in.push(spi);
                    installs += 1;
                }
            }
            4 | 5 if !live_in.is_empty() => {
                let spi = live_in.swap_remove(rng.below(live_in.len()));
                table.delete_inbound(spi).unwrap();
                deletes += 1;
            }
            6 if live_out.len() < 900 => {
                let idx = table.install_outbound(Probe::new(0)).unwrap();
                // The key readers check is the index; rebuild the probe with it.
                table.rekey_outbound(idx, Probe::new(idx.0)).unwrap();
                recent.idxs[op % RECENT].store(idx.0, Ordering::Relaxed);
                live_out.push(idx);
                installs += 1;
            }
            7 if !live_out.is_empty() => {
                let idx = live_out[rng.below(live_out.len())];
                table.rekey_outbound(idx, Probe::new(idx.0)).unwrap();
                rekeys += 1;
            }
            8 if !live_out.is_empty() => {
                let idx = live_out.swap_remove(rng.below(live_out.len()));
                table.delete_outbound(idx).unwrap();
                deletes += 1;
            }
            _ => reclaimed += table.reclaim() as u64,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = (0, 0, 0);
    for h in handles {
        let (hits, lookups, bursts) = h.join().unwrap().unwrap_or_else(|e| panic!("reader: {e}"));
        assert!(hits > 0 && bursts > 0);
        total = (total.0 + hits, total.1 + lookups, total.2 + bursts);
    }
    reclaimed += table.reclaim() as u64;
    assert_eq!(table.pending_reclaim(), 0, "readers gone: everything retired is freed");
    assert_eq!(FREED_WHILE_HELD.load(Ordering::Relaxed), 0, "an SA was freed while in use");
    let live = (live_in.len() + live_out.len()) as u64;
    assert_eq!(CREATED.load(Ordering::Relaxed) - DROPPED.load(Ordering::Relaxed), live);
    for spi in &live_in {
        assert_eq!(table.inbound(*spi).map(|p| p.key), Some(*spi));
    }
    for idx in &live_out {
        assert_eq!(table.outbound(*idx).map(|p| p.key), Some(idx.0));
    }
    eprintln!(
        "writer: {installs} installs, {deletes} deletes, {rekeys} rekeys, {reclaimed} freed; \
         readers: {} lookups, {} hits, {} bursts",
        total.1, total.0, total.2
    );
    drop(table);
    assert_eq!(CREATED.load(Ordering::Relaxed), DROPPED.load(Ordering::Relaxed));
}
