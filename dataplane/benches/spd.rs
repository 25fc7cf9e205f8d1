//! Outbound classification cost per packet against SPD size: (a) flow-cache hit, (b) miss
//! path (cache miss + tuple-space search + cache fill), (c) the naive linear first-match
//! scan, at 1, 100, 1,000 and 100,000 crypto-map entries.
//!
//! `cargo bench -p dataplane --bench spd` runs the criterion groups and then prints a
//! side-by-side table of ns/packet (`-- --quick` shortens the criterion part; the table is
//! measured separately, best of several rounds). The SPD has the common crypto-map shape:
//! two IKE bypass entries (UDP 500/4500) in front of N site-to-site entries, each a distinct
//! (local /24, remote /24) pair. Flows hit entries spread evenly over the SPD, so the linear
//! scan pays its average, not its best, case.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use dataplane::spd::{
    Action, CacheConfig, Classifier, Entry, FlowKey, IpPrefix, LinearSpd, PolicyId, PortRange,
    PortsState, SaIndex, Spd,
};
use dataplane::wire::IpProtocol;

const SIZES: [usize; 4] = [1, 100, 1_000, 100_000];
/// Distinct flows per batch (fits the default cache of 16,384 slots many times over).
const FLOWS: usize = 1024;
/// Flows per batch for the linear scan at large sizes, to keep a batch under ~10 ms.
const LINEAR_FLOWS: usize = 64;

fn remote(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | ((i as u32) << 8))
}

fn local(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, (i % 8) as u8, 0)
}

fn entries(n: usize) -> Vec<Entry> {
    let ike = |port| {
        Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V4, Action::Bypass)
            .with_protocol(IpProtocol::Udp)
            .with_ports(PortRange::ANY, PortRange::single(port))
    };
    let mut v = vec![ike(500), ike(4500)];
    v.extend((0..n).map(|i| {
        Entry::new(
            IpPrefix::v4(local(i), 24).unwrap(),
            IpPrefix::v4(remote(i), 24).unwrap(),
            Action::Protect(PolicyId(i as u32)),
        )
    }));
    v
}

/// `count` TCP flows, the k-th to a host behind entry `k * n / count`.
fn flows(n: usize, count: usize) -> Vec<FlowKey> {
    (0..count)
        .map(|k| {
            let i = k * n / count;
            let host = u32::from(remote(i)) | (k as u32 & 0xff);
            let src = Ipv4Addr::from(u32::from(local(i)) | 10);
            let ports = PortsState::Known { src: 30000 + k as u16, dst: 443 };
            FlowKey::v4(src, Ipv4Addr::from(host), 6, ports)
        })
        .collect()
}

struct Setup {
    hit: Classifier,
    miss: Classifier,
    linear: LinearSpd,
    flows: Vec<FlowKey>,
    linear_flows: Vec<FlowKey>,
}

fn setup(n: usize) -> Setup {
    let e = entries(n);
    let spd = Arc::new(Spd::new(e.clone(), Action::Bypass).unwrap());
    let mut hit = Classifier::new(spd.clone(), CacheConfig { entries: 1 << 14, seed: 7 }).unwrap();
    for p in 0..n.min(4096) {
        hit.bind_sa(PolicyId(p as u32), Some(SaIndex(p as u32)));
    }
    // One set of four slots: with 1024 flows cycling, every lookup misses.
    let miss = Classifier::new(spd, CacheConfig { entries: 4, seed: 7 }).unwrap();
    let flows = flows(n, FLOWS);
    for f in &flows {
        hit.classify(f);
    }
    let linear_count = if n >= 10_000 { LINEAR_FLOWS } else { FLOWS };
    Setup {
        hit,
        miss,
        linear: LinearSpd::new(e, Action::Bypass).unwrap(),
        flows,
        linear_flows: self::flows(n, linear_count),
    }
}

fn run_hit(s: &mut Setup) {
    for f in &s.flows {
        black_box(s.hit.classify(black_box(f)));
    }
}

fn run_miss(s: &mut Setup) {
    for f in &s.flows {
        black_box(s.miss.classify(black_box(f)));
    }
}

fn run_linear(s: &Setup) {
    for f in &s.linear_flows {
        black_box(s.linear.lookup(black_box(f)));
    }
}

fn criterion_groups(c: &mut Criterion, setups: &mut [(usize, Setup)]) {
    let mut group = c.benchmark_group("spd");
    for (n, s) in setups.iter_mut() {
        group.throughput(Throughput::Elements(FLOWS as u64));
        group.bench_function(BenchmarkId::new("cache_hit", *n), |b| b.iter(|| run_hit(s)));
        group.bench_function(BenchmarkId::new("miss_tuple_space", *n), |b| b.iter(|| run_miss(s)));
        group.throughput(Throughput::Elements(s.linear_flows.len() as u64));
        if *n >= 10_000 {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::new("linear", *n), |b| b.iter(|| run_linear(s)));
    }
    group.finish();
}

/// Minimum over `ROUNDS` short rounds (about 2 ms each) of the wall time per packet of `f`,
/// which classifies `per_call` packets. On a shared machine some rounds are preempted or
/// share the core; the minimum is the round that ran undisturbed.
fn ns_per_packet(per_call: usize, mut f: impl FnMut()) -> f64 {
    const ROUNDS: usize = 60;
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed().as_millis() < 20 {
        f();
        calls += 1;
    }
    let reps = (calls / 10).max(1);
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_nanos() as f64 / (reps * per_call) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn table(setups: &mut [(usize, Setup)]) {
    println!();
    println!("ns/packet, best of 60 rounds of ~2 ms:");
    println!("SPD size                    cache hit   miss (tuple space)      linear   groups");
    for (n, s) in setups.iter_mut() {
        let hit = ns_per_packet(FLOWS, || run_hit(s));
        let miss = ns_per_packet(FLOWS, || run_miss(s));
        let linear_len = s.linear_flows.len();
        let linear = ns_per_packet(linear_len, || run_linear(s));
        let t = s.hit.spd().tuple_space_stats();
        println!(
            "{:>8} entries (+2 IKE) {:>10.1} {:>20.1} {:>11.1} {:>8}",
            n, hit, miss, linear, t.groups_v4
        );
        let c = s.miss.cache_stats();
        assert!(c.hits * 100 < c.misses, "miss path must miss: {c:?}");
    }
    let packet = [
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 168, 0, 10, 10, 0, 0, 5, 0x75, 0x30, 0x01,
        0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x10, 0, 0, 0, 0, 0, 0,
    ];
    let key = ns_per_packet(1, || {
        black_box(FlowKey::from_ip(black_box(&packet)).unwrap());
    });
    println!("FlowKey::from_ip (IPv4/TCP): {key:.1} ns/packet");
}

fn main() {
    let mut setups: Vec<(usize, Setup)> = SIZES.iter().map(|&n| (n, setup(n))).collect();
    let mut c = Criterion::default().configure_from_args();
    criterion_groups(&mut c, &mut setups);
    c.final_summary();
    table(&mut setups);
}
