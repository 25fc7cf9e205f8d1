//! SA table costs: lookup by SPI and by index at 1 to 1,000,000 installed SAs (random keys
//! from the installed set, so large tables miss the caches as a real worker would), lookup
//! through the foreign-SPI index, and the control thread's install / delete rate.
//!
//! `cargo bench -p dataplane --bench table`. Lookup benchmarks do 1024 lookups per
//! iteration; the throughput line gives lookups/s, time/1024 the ns per lookup.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dataplane::table::{InboundEntry, SaIndex, SaTable, TableConfig};

const LOOKUPS: usize = 1024;
const SIZES: [usize; 4] = [1, 1_000, 100_000, 1_000_000];

/// Stands in for a runtime SA: one cache line of hot fields, which the lookup touches.
#[repr(align(64))]
struct BenchSa {
    spi: u32,
    hot: [u64; 7],
}

impl BenchSa {
    fn new(spi: u32) -> Self {
        BenchSa { spi, hot: [u64::from(spi); 7] }
    }
}

impl InboundEntry for BenchSa {
    fn spi(&self) -> u32 {
        self.spi
    }
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn config() -> TableConfig {
    TableConfig {
        inbound_capacity: 1 << 20,
        outbound_capacity: 1 << 20,
        foreign_capacity: 1 << 16,
        max_workers: 1,
        seed: Some(1),
    }
}

fn sample<T: Copy>(keys: &[T]) -> Vec<T> {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    (0..1 << 16).map(|_| keys[rng.below(keys.len())]).collect()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    for n in SIZES {
        let mut t = SaTable::<BenchSa, BenchSa>::new(config()).unwrap();
        let mut spis = Vec::with_capacity(n);
        let mut idxs = Vec::with_capacity(n);
        for _ in 0..n {
            let spi = t.alloc_spi().unwrap();
            t.install_inbound(BenchSa::new(spi)).unwrap();
            spis.push(spi);
            idxs.push(t.install_outbound(BenchSa::new(spi)).unwrap());
        }
        let spis = sample(&spis);
        let idxs = sample(&idxs);
        let reader = t.reader(0).unwrap();
        let mut at = 0;
        group.bench_with_input(BenchmarkId::new("inbound-spi", n), &n, |b, _| {
            b.iter(|| {
                let mut sum = 0u64;
                for _ in 0..LOOKUPS {
                    at = (at + 1) & (spis.len() - 1);
                    let sa = reader.inbound(black_box(spis[at])).unwrap();
                    sum = sum.wrapping_add(sa.hot[1]);
                }
                sum
            })
        });
        group.bench_with_input(BenchmarkId::new("outbound-index", n), &n, |b, _| {
            b.iter(|| {
                let mut sum = 0u64;
                for _ in 0..LOOKUPS {
                    at = (at + 1) & (idxs.len() - 1);
                    let sa = reader.outbound(black_box(idxs[at])).unwrap();
                    sum = sum.wrapping_add(sa.hot[1]);
                }
                sum
            })
        });
        let mut found: Vec<Option<&BenchSa>> = vec![None; 32];
        group.bench_with_input(BenchmarkId::new("inbound-spi-burst32", n), &n, |b, _| {
            b.iter(|| {
                let mut sum = 0u64;
                for _ in 0..LOOKUPS / 32 {
                    at = (at + 32) & (spis.len() - 1) & !31;
                    reader.inbound_burst(black_box(&spis[at..at + 32]), &mut found);
                    for sa in &found {
                        sum = sum.wrapping_add(sa.unwrap().hot[1]);
                    }
                }
                sum
            })
        });
        group.bench_with_input(BenchmarkId::new("outbound-index-burst32", n), &n, |b, _| {
            b.iter(|| {
                let mut sum = 0u64;
                for _ in 0..LOOKUPS / 32 {
                    at = (at + 32) & (idxs.len() - 1) & !31;
                    reader.outbound_burst(black_box(&idxs[at..at + 32]), &mut found);
                    for sa in &found {
                        sum = sum.wrapping_add(sa.unwrap().hot[1]);
                    }
                }
                sum
            })
        });
        drop(found);
        if n == 100_000 {
            // Static SPIs whose home slot is taken: the foreign-index path.
            let mut foreign = Vec::new();
            for spi in spis.iter().take(10_000) {
                let f = spi ^ 0x8000_0000;
                if t.install_inbound(BenchSa::new(f)).is_ok() {
                    foreign.push(f);
                }
            }
            let foreign = sample(&foreign);
            group.bench_with_input(BenchmarkId::new("inbound-foreign", n), &n, |b, _| {
                b.iter(|| {
                    let mut sum = 0u64;
                    for _ in 0..LOOKUPS {
                        at = (at + 1) & (foreign.len() - 1);
                        let sa = reader.inbound(black_box(foreign[at])).unwrap();
                        sum = sum.wrapping_add(sa.hot[1]);
                    }
                    sum
                })
            });
        }
        // A miss (unknown SPI) costs the home-slot probe plus an index probe.
        group.bench_with_input(BenchmarkId::new("inbound-miss", n), &n, |b, _| {
            b.iter(|| {
                let mut hits = 0u64;
                for _ in 0..LOOKUPS {
                    at = (at + 1) & (spis.len() - 1);
                    hits += u64::from(reader.inbound(black_box(spis[at] ^ 0x4000_0000)).is_some());
                }
                hits
            })
        });
        drop(reader);
    }
    group.finish();
}

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    group.throughput(Throughput::Elements(1));
    let mut t = SaTable::<BenchSa, BenchSa>::new(config()).unwrap();
    let mut live: Vec<SaIndex> = Vec::new();
    for _ in 0..100_000 {
        let spi = t.alloc_spi().unwrap();
        t.install_inbound(BenchSa::new(spi)).unwrap();
        live.push(t.install_outbound(BenchSa::new(spi)).unwrap());
    }
    // A worker that keeps passing quiescent points would not change the writer's cost;
    // with none registered, reclaim frees at once and the free is part of the measure.
    group.bench_function("inbound-alloc-install-delete-reclaim", |b| {
        b.iter(|| {
            let spi = t.alloc_spi().unwrap();
            t.install_inbound(BenchSa::new(spi)).unwrap();
            t.delete_inbound(spi).unwrap();
            t.reclaim()
        })
    });
    let mut i = 0;
    group.bench_function("outbound-rekey-reclaim", |b| {
        b.iter(|| {
            i = (i + 1) % live.len();
            t.rekey_outbound(live[i], BenchSa::new(i as u32)).unwrap();
            t.reclaim()
        })
    });
    group.finish();
}

fn configured() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group!(name = benches; config = configured(); targets = lookup, update);
criterion_main!(benches);
