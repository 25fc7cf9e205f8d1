//! `ferrogate run`: start the EAL from a profile and forward between port pairs
//! (0<->1, 2<->3, ...) on the forwarding lcores until stopped.
//!
//! Each forwarding lcore owns one TX queue on every port (so TX needs no lock) and a share
//! of the RX queues, dealt round-robin. The main lcore prints statistics and watches for
//! SIGINT/SIGTERM and the time limit; with no worker lcores it forwards as well.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::dpdk::{Burst, Eal, Mempool, Port, PortConfig, PortStats, RxQueue, TxQueue};
use crate::profile::{Hugepages, Profile};

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Overrides the profile's hugepage setting.
    pub hugepages: Option<Hugepages>,
    /// Overrides the profile's `--file-prefix`.
    pub file_prefix: Option<String>,
    /// Appliance runs: the measured interval of the report starts after this long.
    pub warmup: Option<Duration>,
    /// Appliance runs: set (by SIGHUP) to reload the config file; the control thread
    /// clears it.
    pub reload: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Counters of one forwarding lcore, written only by it.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WorkerCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    dropped: AtomicU64,
}

impl WorkerCounters {
    fn add(&self, rx: usize, tx: usize, dropped: usize) {
        // Single writer: a relaxed load+store is enough and cheaper than fetch_add.
        let bump = |c: &AtomicU64, n: usize| {
            c.store(c.load(Ordering::Relaxed) + n as u64, Ordering::Relaxed)
        };
        bump(&self.rx, rx);
        bump(&self.tx, tx);
        bump(&self.dropped, dropped);
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.rx.load(Ordering::Relaxed),
            self.tx.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Whether hugepages were used.
    pub hugepages: bool,
    /// How long forwarding ran.
    pub elapsed: Duration,
    /// `(label, device name, counters)` per port, in port order.
    pub ports: Vec<(String, String, PortStats)>,
    /// `(lcore, rx, tx, dropped)` per forwarding lcore.
    pub workers: Vec<(u32, u64, u64, u64)>,
}

/// One forwarding lcore's queues.
struct Worker<'e> {
    lcore: u32,
    /// RX queues it polls, each with the index of the port its packets go out of.
    routes: Vec<(RxQueue<'e>, usize)>,
    /// Its TX queue on every port, by port index.
    tx: Vec<TxQueue<'e>>,
}

/// Whether enough free 2 MB hugepages are reserved and hugetlbfs is mounted.
pub fn hugepages_available(memory_mb: u32) -> bool {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let free_kb = field("HugePages_Free:") * field("Hugepagesize:");
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"));
    mounted && free_kb >= u64::from(memory_mb) * 1024
}

/// Decides whether this run uses hugepages.
pub(crate) fn choose_hugepages(mode: Hugepages, memory_mb: u32) -> anyhow::Result<bool> {
    let available = hugepages_available(memory_mb);
    match mode {
        Hugepages::Never => Ok(false),
        Hugepages::Always if available => Ok(true),
        Hugepages::Always => bail!(
            "the profile wants hugepages but fewer than {memory_mb} MB of free 2 MB pages are \
             reserved on a mounted hugetlbfs: run `sudo scripts/setup.sh`"
        ),
        Hugepages::Auto if available => Ok(true),
        Hugepages::Auto => {
            tracing::warn!(
                "fewer than {memory_mb} MB of free hugepages: running with --no-huge (slower); \
                 `sudo scripts/setup.sh` reserves them"
            );
            Ok(false)
        }
    }
}

/// Runs the appliance until `stop` is set or the duration ends; returns the final counters.
pub fn run(
    profile: &Profile,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunReport> {
    with_eal(profile, opts, |eal, profile, huge| forward(eal, profile, opts, &stop, huge))
}

/// Starts the EAL for `profile` (with the command line's overrides), runs `f`, then removes
/// the run's DPDK files, also when start-up failed half-way. `f` gets the EAL, the profile
/// as overridden and whether hugepages are in use; the DPDK objects it makes are gone
/// (ports closed) before the EAL is cleaned up.
pub(crate) fn with_eal<T>(
    profile: &Profile,
    opts: &RunOptions,
    f: impl FnOnce(&Eal, &Profile, bool) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut profile = profile.clone();
    if let Some(p) = &opts.file_prefix {
        profile.eal.file_prefix = p.clone();
    }
    let huge =
        choose_hugepages(opts.hugepages.unwrap_or(profile.eal.hugepages), profile.eal.memory_mb)?;
    let args = profile.eal_args(huge);
    tracing::info!("EAL arguments: {}", args.join(" "));
    let prefix = profile.eal.file_prefix.clone();
    let result =
        Eal::init(&args).context("starting the DPDK EAL").and_then(|eal| f(&eal, &profile, huge));
    if let Err(e) =
        crate::dpdk::remove_runtime_files(&prefix, Path::new(crate::dpdk::DEFAULT_HUGEDIR))
    {
        tracing::warn!("could not remove DPDK runtime files for prefix {prefix}: {e}");
    }
    result
}

/// One mbuf pool per NUMA socket in use, as `(socket, pool)`.
pub(crate) type Pools<'e> = Vec<(u32, Mempool<'e>)>;

/// The profile's ports, and one mbuf pool on every NUMA socket a port or one of `lcores`
/// is on.
pub(crate) fn open_ports<'e>(
    eal: &'e Eal,
    profile: &Profile,
    lcores: &[u32],
) -> anyhow::Result<(Vec<Port<'e>>, Pools<'e>)> {
    let mut ports = Vec::with_capacity(profile.ports.len());
    for p in &profile.ports {
        let port = Port::by_name(eal, p.device.port_name()).with_context(|| {
            format!("port {:?}: known ports: {:?}", p.name, Port::all_names(eal))
        })?;
        ports.push(port);
    }
    let mut sockets: Vec<u32> = ports.iter().map(Port::socket).collect();
    sockets.extend(lcores.iter().map(|&c| eal.socket_of_lcore(c)));
    sockets.sort_unstable();
    sockets.dedup();
    let mp = &profile.mempool;
    let mut pools: Vec<(u32, Mempool<'_>)> = Vec::new();
    for &s in &sockets {
        let pool = Mempool::new(eal, &format!("fg_pool_s{s}"), mp.mbufs, mp.cache, mp.data_room, s)
            .with_context(|| format!("creating the mbuf pool on socket {s}"))?;
        pools.push((s, pool));
    }
    Ok((ports, pools))
}

fn forward(
    eal: &Eal,
    profile: &Profile,
    opts: &RunOptions,
    stop: &AtomicBool,
    huge: bool,
) -> anyhow::Result<RunReport> {
    let fwd_cores = profile.forwarding_cores();
    let n_fwd = u16::try_from(fwd_cores.len()).context("too many forwarding lcores")?;
    let workers_on_main = profile.eal.worker_cores.is_empty();

    // A pool goes on every socket a port or forwarding lcore is on.
    let (mut ports, pools) = open_ports(eal, profile, &fwd_cores)?;

    let mut rx_all = Vec::new();
    let mut tx_all = Vec::new();
    for (port, settings) in ports.iter_mut().zip(&profile.ports) {
        let pool = pools.iter().find(|(s, _)| *s == port.socket()).map_or(pools[0].1, |(_, p)| *p);
        let cfg = PortConfig {
            rx_queues: settings.rx_queues,
            tx_queues: n_fwd,
            rx_desc: settings.rx_desc,
            tx_desc: settings.tx_desc,
            rss: settings.rss,
            promiscuous: settings.promiscuous,
            mtu: settings.mtu,
        };
        port.configure(&cfg, &pool)
            .with_context(|| format!("configuring port {:?}", settings.name))?;
        let (rx, tx) =
            port.start().with_context(|| format!("starting port {:?}", settings.name))?;
        let mac = port.mac().map(fmt_mac).unwrap_or_else(|_| "?".into());
        let link = port
            .link()
            .map(|l| if l.up { format!("up {} Mb/s", l.speed_mbps) } else { "down".into() });
        tracing::info!(
            "port {} {:?} ({}, {}): mac {mac}, link {}, {} rx / {} tx queues",
            port.id(),
            settings.name,
            port.name(),
            port.driver().unwrap_or_default(),
            link.unwrap_or_else(|_| "?".into()),
            settings.rx_queues,
            n_fwd
        );
        rx_all.push(rx);
        tx_all.push(tx);
    }

    // Deal the queues out: TX queue w of every port to worker w, RX queues round-robin.
    let mut workers: Vec<Worker<'_>> = fwd_cores
        .iter()
        .map(|&lcore| Worker { lcore, routes: Vec::new(), tx: Vec::new() })
        .collect();
    for tx in tx_all {
        for (w, q) in tx.into_iter().enumerate() {
            workers[w].tx.push(q);
        }
    }
    let mut k = 0;
    let n_workers = workers.len();
    for (p, rx) in rx_all.into_iter().enumerate() {
        for q in rx {
            workers[k % n_workers].routes.push((q, p ^ 1));
            k += 1;
        }
    }

    wait_for_links(&ports, Duration::from_millis(profile.run.wait_link_up_ms));

    let counters: Vec<WorkerCounters> = workers.iter().map(|_| WorkerCounters::default()).collect();
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let interval = match profile.run.stats_interval_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let mut next_stats = interval.map(|i| started + i);
    let mut housekeeping = || {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            stop.store(true, Ordering::Relaxed);
        }
        if let (Some(at), Some(i)) = (next_stats, interval)
            && now >= at
        {
            print_stats(
                &format!("{:.1}s", (now - started).as_secs_f64()),
                &ports,
                &profile_names(profile),
            );
            next_stats = Some(at + i);
        }
    };

    let run = profile.run;
    tracing::info!(
        "forwarding on lcore(s) {fwd_cores:?}{}; pairs 0<->1{}",
        if workers_on_main { " (the main lcore)" } else { "" },
        if ports.len() > 2 { ", 2<->3, ..." } else { "" }
    );
    if workers_on_main {
        // Exactly one worker: the main lcore itself.
        for (mut worker, c) in workers.into_iter().zip(&counters) {
            forward_loop(&mut worker, stop, c, run.burst, run.idle_sleep_us, &mut housekeeping);
        }
    } else {
        eal.scope(|scope| -> anyhow::Result<()> {
            for (w, mut worker) in workers.into_iter().enumerate() {
                let c = &counters[w];
                let lcore = worker.lcore;
                scope
                    .spawn(lcore, move || {
                        forward_loop(
                            &mut worker,
                            stop,
                            c,
                            run.burst,
                            run.idle_sleep_us,
                            &mut || {},
                        );
                        0
                    })
                    .with_context(|| format!("launching the worker on lcore {lcore}"))
                    .inspect_err(|_| stop.store(true, Ordering::Relaxed))?;
            }
            while !stop.load(Ordering::Relaxed) {
                housekeeping();
                std::thread::sleep(Duration::from_millis(10));
            }
            for (lcore, ret) in scope.join() {
                if ret != 0 {
                    bail!("the worker on lcore {lcore} failed ({ret})");
                }
            }
            Ok(())
        })?;
    }
    let elapsed = started.elapsed();
    print_stats(&format!("final, {:.2}s", elapsed.as_secs_f64()), &ports, &profile_names(profile));
    let workers: Vec<(u32, u64, u64, u64)> = fwd_cores
        .iter()
        .zip(&counters)
        .map(|(&l, c)| {
            let (rx, tx, dropped) = c.snapshot();
            (l, rx, tx, dropped)
        })
        .collect();
    for (l, rx, tx, dropped) in &workers {
        println!("lcore {l}: rx {rx} tx {tx} dropped {dropped}");
    }
    let port_stats = ports
        .iter()
        .zip(&profile.ports)
        .map(|(p, s)| (s.name.clone(), p.name().to_owned(), p.stats().unwrap_or_default()))
        .collect();
    // Dropping `ports` stops and closes them (net_pcap flushes its output file) before the
    // EAL is cleaned up.
    drop(ports);
    Ok(RunReport { hugepages: huge, elapsed, ports: port_stats, workers })
}

/// Waits until every port's link is up, at most `limit`; warns about those still down.
pub(crate) fn wait_for_links(ports: &[Port<'_>], limit: Duration) {
    if limit.is_zero() {
        return;
    }
    let start = Instant::now();
    let all_up = || ports.iter().all(|p| p.link().is_ok_and(|l| l.up));
    while !all_up() {
        if start.elapsed() >= limit {
            for p in ports.iter().filter(|p| !p.link().is_ok_and(|l| l.up)) {
                tracing::warn!("port {} ({}): link still down after {limit:?}", p.id(), p.name());
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!("all links up after {:?}", start.elapsed());
}

fn profile_names(profile: &Profile) -> Vec<String> {
    profile.ports.iter().map(|p| p.name.clone()).collect()
}

/// Polls the worker's RX queues and sends each burst out of the paired port; packets the TX
/// queue has no room for are dropped (counted). Calls `housekeeping` every 1024 rounds and
/// before each idle sleep.
fn forward_loop(
    worker: &mut Worker<'_>,
    stop: &AtomicBool,
    counters: &WorkerCounters,
    burst_size: u16,
    idle_sleep_us: u64,
    housekeeping: &mut dyn FnMut(),
) {
    let mut burst = Burst::new();
    let max = usize::from(burst_size);
    let Worker { routes, tx, .. } = worker;
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut received = 0;
        for (rxq, dst) in routes.iter_mut() {
            let n = rxq.rx_burst(&mut burst, max);
            if n == 0 {
                continue;
            }
            received += n;
            let sent = match tx.get_mut(*dst) {
                Some(txq) => txq.tx_burst(&mut burst),
                None => 0,
            };
            let dropped = burst.len();
            burst.clear();
            counters.add(n, sent, dropped);
        }
        round = round.wrapping_add(1);
        let idle = received == 0 && idle_sleep_us > 0;
        // Busy rounds are short, idle ones sleep: either way the clock is read rarely.
        if idle || round.is_multiple_of(1024) {
            housekeeping();
        }
        if idle {
            std::thread::sleep(Duration::from_micros(idle_sleep_us));
        }
    }
    housekeeping();
}

pub(crate) fn fmt_mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub(crate) fn print_stats(when: &str, ports: &[Port<'_>], labels: &[String]) {
    println!("--- port statistics ({when}) ---");
    for (p, label) in ports.iter().zip(labels) {
        match p.stats() {
            Ok(s) => println!(
                "port {} {label} ({}): rx-packets {} rx-bytes {} tx-packets {} tx-bytes {} \
                 rx-missed {} rx-errors {} tx-errors {} rx-nombuf {}",
                p.id(),
                p.name(),
                s.rx_packets,
                s.rx_bytes,
                s.tx_packets,
                s.tx_bytes,
                s.rx_missed,
                s.rx_errors,
                s.tx_errors,
                s.rx_nombuf
            ),
            Err(e) => println!("port {} {label}: statistics unavailable: {e}", p.id()),
        }
    }
}
