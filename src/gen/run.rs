//! The DPDK side of `ferrogate gen`: one EAL, a TX port and an RX port (or one port for
//! both), and one loop per worker lcore that sends its share of the flows and receives on
//! its own RX queue.
//!
//! A worker's loop allocates nothing and takes no lock: mbufs come from the pool (per-lcore
//! cache), packets are built from the templates ([`super::traffic`]), ESP is sealed by the
//! dataplane engine into the same mbufs, and the counters the main lcore prints are relaxed
//! single-writer atomics. The main lcore watches the clock, Ctrl-C and the counters, prints
//! the progress line, and after sending has ended waits for what is still in flight (at most
//! the drain time) before it stops the workers. With no worker lcores the main lcore does
//! all of it in one loop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dataplane::buf::PacketBuf;
use dataplane::esp::{BufAlloc, Disposition, EspWorker};

use super::measure::{Meter, Totals};
use super::traffic::{Traffic, TxStream};
use crate::dpdk::{BURST_MAX, Burst, Eal, Mbuf, Mempool, PortConfig, PortStats, RxQueue, TxQueue};
use crate::forward::{self, RunOptions};
use crate::profile::{Hugepages, Profile};

/// How to run (after the command line is checked).
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// EAL, ports (the first sends, the second, if any, receives) and worker lcores.
    pub profile: Profile,
    pub hugepages: Option<Hugepages>,
    /// Packets per second over all workers; `None`: as fast as the port takes them.
    pub rate_pps: Option<f64>,
    /// Packets to send over all workers.
    pub count: Option<u64>,
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// After sending, wait at most this long for packets still in flight.
    pub drain: Duration,
    /// Packets built and handed to the port at once.
    pub burst: u16,
    /// Progress line interval (none: no progress line).
    pub progress: Option<Duration>,
    /// Poll RX and measure.
    pub rx: bool,
    /// Tag of this run's stamps.
    pub run_tag: u16,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub hugepages: bool,
    pub workers: usize,
    /// Packets and frame bytes the TX port took.
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// From the first packet sent to the last one.
    pub tx_seconds: f64,
    /// First send time on the run's clock (ns).
    pub tx_first_ns: u64,
    pub rx: Totals,
    /// Built but never taken by the port (freed at the end).
    pub unsent: u64,
    /// The pool had no mbuf when a packet was to be built.
    pub no_mbuf: u64,
    /// ESP sealing refused a packet (e.g. sequence number overflow).
    pub seal_failed: u64,
    /// Stopped by Ctrl-C / SIGTERM before its count or duration.
    pub interrupted: bool,
    /// `(role, device, counters)` per port.
    pub ports: Vec<(String, String, PortStats)>,
}

/// Counters of one worker, written by it only, read by the main lcore.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Published {
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    rx_packets: AtomicU64,
    tx_first_ns: AtomicU64,
    tx_last_ns: AtomicU64,
    tx_done: AtomicBool,
}

fn bump(c: &AtomicU64, v: u64) {
    // Single writer: a relaxed load+store is enough and cheaper than fetch_add.
    c.store(c.load(Ordering::Relaxed) + v, Ordering::Relaxed);
}

/// Run-wide flags.
struct Shared {
    epoch: Instant,
    /// Stop sending (time is up, Ctrl-C).
    tx_stop: AtomicBool,
    /// Stop receiving too: the workers return.
    stop: AtomicBool,
}

impl Shared {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// Mbufs for fragments and reassembled datagrams, from the worker's pool.
struct PoolAlloc<'e>(Mempool<'e>);

impl<'e> BufAlloc<Mbuf<'e>> for PoolAlloc<'e> {
    fn alloc(&mut self, len: usize) -> Option<Mbuf<'e>> {
        let mut m = self.0.alloc()?;
        m.append(len).ok()?;
        Some(m)
    }
}

/// One worker's queues and state.
struct Worker<'e> {
    lcore: u32,
    txq: TxQueue<'e>,
    rxq: Option<RxQueue<'e>>,
    pool: Mempool<'e>,
    stream: TxStream,
    meter: Option<Meter>,
    /// Packets this worker sends (its share of `--count`).
    quota: Option<u64>,
    /// Its share of the rate, packets per ns.
    rate_per_ns: Option<f64>,
    no_mbuf: u64,
    seal_failed: u64,
    unsent: u64,
}

/// Keeps the packets whose `keep` entry is true, in order; frees the others.
fn retain(burst: &mut Burst<'_>, keep: &[bool]) {
    let mut reversed = Burst::new();
    while let Some(m) = burst.pop() {
        // Cannot fail: both bursts hold at most BURST_MAX.
        let _ = reversed.push(m);
    }
    let mut i = 0;
    while let Some(m) = reversed.pop() {
        if keep.get(i).copied().unwrap_or(false) {
            let _ = burst.push(m);
        }
        i += 1;
    }
}

fn frame_bytes(b: &Burst<'_>) -> u64 {
    b.as_slice().iter().map(|m| u64::from(m.pkt_len())).sum()
}

/// The worker loop. `tick` runs every 64 rounds (the main lcore's control when it works
/// alone; nothing on worker lcores).
fn worker_loop(
    w: &mut Worker<'_>,
    traffic: &Traffic,
    shared: &Shared,
    out: &Published,
    burst_size: usize,
    tick: &mut dyn FnMut(),
) {
    let mut pending = Burst::new();
    let mut pending_bytes = 0u64;
    let mut rx = Burst::new();
    let mut tunnels = [0u32; BURST_MAX];
    let mut keep = [true; BURST_MAX];
    let mut extra: Vec<Mbuf<'_>> = Vec::with_capacity(4 * BURST_MAX);
    let mut esp = EspWorker::new();
    let mut alloc = PoolAlloc(w.pool);
    let mut built = 0u64;
    let mut done = w.quota == Some(0) || w.stream.is_empty();
    if done {
        out.tx_done.store(true, Ordering::Relaxed);
    }
    let start = shared.now_ns();
    let mut first_sent = false;
    let mut round = 0u32;
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some(rxq) = &mut w.rxq {
            let n = rxq.rx_burst(&mut rx, BURST_MAX);
            if n > 0 {
                let now = shared.now_ns();
                if let Some(m) = &mut w.meter {
                    let before = m.counts.packets;
                    m.burst(rx.as_mut_slice(), &mut alloc, now);
                    bump(&out.rx_packets, m.counts.packets - before);
                }
                rx.clear();
            }
        }
        if !done && shared.tx_stop.load(Ordering::Relaxed) {
            done = true;
            out.tx_done.store(true, Ordering::Relaxed);
        }
        if !done {
            if pending.is_empty() {
                let now = shared.now_ns();
                let mut want = burst_size as u64;
                if let Some(q) = w.quota {
                    want = want.min(q - built);
                }
                if let Some(r) = w.rate_per_ns {
                    // The schedule: packet k is due at k / rate after the start.
                    let due = (now.saturating_sub(start) as f64 * r) as u64 + 1;
                    want = want.min(due.saturating_sub(built));
                }
                for _ in 0..want {
                    let Some(mut m) = w.pool.alloc() else {
                        w.no_mbuf += 1;
                        break;
                    };
                    match w.stream.next(traffic, &mut m, now) {
                        Ok(t) => {
                            tunnels[pending.len()] = t;
                            let _ = pending.push(m);
                            built += 1;
                        }
                        // Cannot happen with mbufs sized for the largest frame; the packet
                        // is not sent and not counted.
                        Err(_) => break,
                    }
                }
                if traffic.sealed() && !pending.is_empty() {
                    let n = pending.len();
                    let d = traffic.seal(
                        &mut esp,
                        pending.as_mut_slice(),
                        &tunnels[..n],
                        &mut extra,
                        &mut alloc,
                        now,
                    );
                    let mut all = true;
                    for (k, d) in keep.iter_mut().zip(d) {
                        *k = *d == Disposition::Forward;
                        all &= *k;
                    }
                    if !all {
                        w.seal_failed += keep[..n].iter().filter(|k| !**k).count() as u64;
                        retain(&mut pending, &keep[..n]);
                    }
                    for m in extra.drain(..) {
                        if pending.push(m).is_err() {
                            w.unsent += 1;
                        }
                    }
                }
                pending_bytes = frame_bytes(&pending);
            }
            if !pending.is_empty() {
                let before = pending.len();
                let sent = w.txq.tx_burst(&mut pending);
                if sent > 0 {
                    let left = if pending.is_empty() { 0 } else { frame_bytes(&pending) };
                    let now = shared.now_ns();
                    if !first_sent {
                        out.tx_first_ns.store(now, Ordering::Relaxed);
                        first_sent = true;
                    }
                    bump(&out.tx_bytes, pending_bytes - left);
                    bump(&out.tx_packets, (before - pending.len()) as u64);
                    out.tx_last_ns.store(now, Ordering::Relaxed);
                    pending_bytes = left;
                }
            }
            if w.quota.is_some_and(|q| built >= q) && pending.is_empty() {
                done = true;
                out.tx_done.store(true, Ordering::Relaxed);
            }
        }
        round = round.wrapping_add(1);
        if round.is_multiple_of(64) {
            tick();
        }
    }
    w.unsent += pending.len() as u64;
    pending.clear();
    tick();
}

/// The main lcore's control: time limit, Ctrl-C, end of sending, drain, progress.
struct Control<'a> {
    shared: &'a Shared,
    pubs: &'a [Published],
    signal: &'a AtomicBool,
    cfg: &'a RunConfig,
    deadline: Option<Instant>,
    drain_until: Option<Instant>,
    next_progress: Option<Instant>,
    last: (Instant, u64, u64, u64),
    interrupted: bool,
}

impl<'a> Control<'a> {
    fn new(
        shared: &'a Shared,
        pubs: &'a [Published],
        signal: &'a AtomicBool,
        cfg: &'a RunConfig,
    ) -> Self {
        let now = Instant::now();
        Control {
            shared,
            pubs,
            signal,
            cfg,
            deadline: cfg.duration.map(|d| now + d),
            drain_until: None,
            next_progress: cfg.progress.map(|p| now + p),
            last: (now, 0, 0, 0),
            interrupted: false,
        }
    }

    fn sum(&self, f: impl Fn(&Published) -> &AtomicU64) -> u64 {
        self.pubs.iter().map(|p| f(p).load(Ordering::Relaxed)).sum()
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if self.signal.load(Ordering::Relaxed) && !self.shared.stop.load(Ordering::Relaxed) {
            if !self.shared.tx_stop.load(Ordering::Relaxed) {
                self.interrupted = true;
            }
            self.shared.tx_stop.store(true, Ordering::Relaxed);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.shared.tx_stop.store(true, Ordering::Relaxed);
        }
        let sending_over = self.shared.tx_stop.load(Ordering::Relaxed)
            || self.pubs.iter().all(|p| p.tx_done.load(Ordering::Relaxed));
        if sending_over && self.drain_until.is_none() {
            self.shared.tx_stop.store(true, Ordering::Relaxed);
            let drain = if self.cfg.rx { self.cfg.drain } else { Duration::ZERO };
            self.drain_until = Some(now + drain);
        }
        // Sending has stopped once every worker says so; then what is in flight drains.
        let all_done = self.pubs.iter().all(|p| p.tx_done.load(Ordering::Relaxed));
        if let Some(d) = self.drain_until
            && all_done
            && (now >= d || self.sum(|p| &p.rx_packets) >= self.sum(|p| &p.tx_packets))
        {
            self.shared.stop.store(true, Ordering::Relaxed);
        }
        if let (Some(at), Some(every)) = (self.next_progress, self.cfg.progress)
            && now >= at
        {
            self.progress(now);
            self.next_progress = Some(at + every);
        }
    }

    fn progress(&mut self, now: Instant) {
        let (tx, bytes, rx) =
            (self.sum(|p| &p.tx_packets), self.sum(|p| &p.tx_bytes), self.sum(|p| &p.rx_packets));
        let (t0, tx0, b0, rx0) = self.last;
        let dt = (now - t0).as_secs_f64().max(1e-9);
        let elapsed = (now - self.shared.epoch).as_secs_f64();
        let tx_mpps = (tx - tx0) as f64 / dt / 1e6;
        let gbps = (bytes - b0) as f64 * 8.0 / dt / 1e9;
        let rx_mpps = rx.saturating_sub(rx0) as f64 / dt / 1e6;
        if self.cfg.rx {
            eprintln!(
                "gen {elapsed:7.1}s  tx {tx_mpps:8.4} Mpps {gbps:7.3} Gbit/s  rx {rx_mpps:8.4} Mpps  \
                 sent {tx}  received {rx}  not (yet) back {}",
                tx.saturating_sub(rx)
            );
        } else {
            eprintln!("gen {elapsed:7.1}s  tx {tx_mpps:8.4} Mpps {gbps:7.3} Gbit/s  sent {tx}");
        }
        self.last = (now, tx, bytes, rx);
    }
}

/// Starts the EAL and the ports, runs the workers until the count, the duration or Ctrl-C
/// (`signal`) ends sending and what is in flight has come back (or the drain time is up).
pub fn run(traffic: &Traffic, cfg: &RunConfig, signal: &AtomicBool) -> anyhow::Result<Outcome> {
    let opts = RunOptions { hugepages: cfg.hugepages, ..RunOptions::default() };
    forward::with_eal(&cfg.profile, &opts, |eal, profile, huge| {
        run_on(eal, profile, huge, traffic, cfg, signal)
    })
}

fn run_on(
    eal: &Eal,
    profile: &Profile,
    huge: bool,
    traffic: &Traffic,
    cfg: &RunConfig,
    signal: &AtomicBool,
) -> anyhow::Result<Outcome> {
    let lcores = profile.forwarding_cores();
    let on_main = profile.eal.worker_cores.is_empty();
    let n = lcores.len();
    let nq = u16::try_from(n).context("too many workers")?;
    if profile.ports.is_empty() || profile.ports.len() > 2 {
        bail!("give one port (send and receive) or two (send on the first, receive on the second)");
    }
    let (mut ports, pools) = forward::open_ports(eal, profile, &lcores)?;
    let mut tx_queues = Vec::new();
    let mut rx_queues = Vec::new();
    for (i, (port, settings)) in ports.iter_mut().zip(&profile.ports).enumerate() {
        let pool = pools.iter().find(|(s, _)| *s == port.socket()).map(|(_, p)| *p);
        let pool = pool.or_else(|| pools.first().map(|(_, p)| *p)).context("no mbuf pool")?;
        let pc = PortConfig {
            rx_queues: nq,
            tx_queues: nq,
            rx_desc: settings.rx_desc,
            tx_desc: settings.tx_desc,
            rss: settings.rss,
            promiscuous: settings.promiscuous,
            mtu: settings.mtu,
        };
        port.configure(&pc, &pool)
            .with_context(|| format!("configuring port {:?}", settings.name))?;
        let (rx, tx) =
            port.start().with_context(|| format!("starting port {:?}", settings.name))?;
        tracing::info!(
            "port {} {:?} ({}, {}): {n} rx / {n} tx queues",
            port.id(),
            settings.name,
            port.name(),
            port.driver().unwrap_or_default()
        );
        if i == 0 {
            tx_queues = tx;
        }
        if i + 1 == profile.ports.len() {
            rx_queues = rx;
        }
    }
    forward::wait_for_links(&ports, Duration::from_millis(profile.run.wait_link_up_ms));

    let shared = Shared {
        epoch: Instant::now(),
        tx_stop: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    };
    let rate_per_ns = cfg.rate_pps.map(|r| r / n as f64 / 1e9);
    let mut workers = Vec::with_capacity(n);
    for (i, ((&lcore, txq), rxq)) in
        lcores.iter().zip(tx_queues).zip(rx_queues.into_iter().map(Some)).enumerate()
    {
        let socket = eal.socket_of_lcore(lcore);
        let pool = pools.iter().find(|(s, _)| *s == socket).or(pools.first()).map(|(_, p)| *p);
        let quota = cfg.count.map(|c| c / n as u64 + u64::from((i as u64) < c % n as u64));
        workers.push(Worker {
            lcore,
            txq,
            rxq: if cfg.rx { rxq } else { None },
            pool: pool.context("no mbuf pool")?,
            stream: TxStream::new(traffic, i as u32, n as u32, cfg.run_tag),
            meter: if cfg.rx { Some(Meter::new(traffic, cfg.run_tag)?) } else { None },
            quota,
            rate_per_ns,
            no_mbuf: 0,
            seal_failed: 0,
            unsent: 0,
        });
    }
    let pubs: Vec<Published> = (0..n).map(|_| Published::default()).collect();
    let burst = usize::from(cfg.burst).clamp(1, BURST_MAX);
    for p in ports.iter() {
        let _ = p.reset_stats();
    }
    let mut control = Control::new(&shared, &pubs, signal, cfg);
    if on_main {
        for (w, out) in workers.iter_mut().zip(&pubs) {
            worker_loop(w, traffic, &shared, out, burst, &mut || control.tick());
        }
    } else {
        eal.scope(|scope| -> anyhow::Result<()> {
            for (w, out) in workers.iter_mut().zip(&pubs) {
                let lcore = w.lcore;
                let shared = &shared;
                scope
                    .spawn(lcore, move || {
                        worker_loop(w, traffic, shared, out, burst, &mut || {});
                        0
                    })
                    .with_context(|| format!("launching the worker on lcore {lcore}"))
                    .inspect_err(|_| shared.stop.store(true, Ordering::Relaxed))?;
            }
            while !shared.stop.load(Ordering::Relaxed) {
                control.tick();
                std::thread::sleep(Duration::from_millis(5));
            }
            for (lcore, ret) in scope.join() {
                if ret != 0 {
                    bail!("the worker on lcore {lcore} failed ({ret})");
                }
            }
            Ok(())
        })?;
    }
    let interrupted = control.interrupted;
    let sum =
        |f: fn(&Published) -> &AtomicU64| pubs.iter().map(move |p| f(p).load(Ordering::Relaxed));
    let tx_first_ns = sum(|p| &p.tx_first_ns).filter(|&t| t > 0).min().unwrap_or(0);
    let tx_last_ns = sum(|p| &p.tx_last_ns).max().unwrap_or(0);
    let roles = ["tx", "rx"];
    let port_stats = ports
        .iter()
        .zip(&profile.ports)
        .enumerate()
        .map(|(i, (p, s))| {
            let role = if profile.ports.len() == 1 { "tx+rx" } else { roles[i.min(1)] };
            (format!("{role} {}", s.name), p.name().to_owned(), p.stats().unwrap_or_default())
        })
        .collect();
    let outcome = Outcome {
        hugepages: huge,
        workers: n,
        tx_packets: sum(|p| &p.tx_packets).sum(),
        tx_bytes: sum(|p| &p.tx_bytes).sum(),
        tx_seconds: tx_last_ns.saturating_sub(tx_first_ns) as f64 / 1e9,
        tx_first_ns,
        rx: Totals::merge(workers.iter().filter_map(|w| w.meter.as_ref())),
        unsent: workers.iter().map(|w| w.unsent).sum(),
        no_mbuf: workers.iter().map(|w| w.no_mbuf).sum(),
        seal_failed: workers.iter().map(|w| w.seal_failed).sum(),
        interrupted,
        ports: port_stats,
    };
    // Queues and mbufs go before the ports close and the EAL is cleaned up.
    drop(workers);
    drop(ports);
    Ok(outcome)
}
