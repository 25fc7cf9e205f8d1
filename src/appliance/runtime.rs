//! `ferrogate run` with an appliance config: the pipeline on the worker lcores, the control
//! thread on the main lcore.
//!
//! - Every worker owns one TX queue on every port (TX takes no lock) and a share of the RX
//!   queues, dealt round-robin; with RSS each port has as many RX queues as the profile says.
//! - With several workers, inbound ESP is spread by SPI (`dataplane::pipeline::steer`): a
//!   frame whose SA another worker owns goes through a per-pair SPSC handoff ring, so every
//!   SA's replay window has one writer and the packets of one SA keep their order.
//! - Workers publish their counters every few rounds into cache-line-aligned atomics the
//!   control thread reads (no shared line is written per packet).
//! - The control thread drains the workers' event rings (punts, ACQUIREs, SA lifetime
//!   events), reclaims retired SAs, serves the operator socket and prints statistics.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dataplane::esp::BufAlloc;
use dataplane::l3::{Interface, Interfaces, Ipv4Cidr, Ipv6Cidr, NextHop, Route, RouteTable};
use dataplane::pipeline::steer::Steering;
use dataplane::pipeline::{Counters, Worker, WorkerConfig};
use dataplane::queue::{Consumer, ControlEnd, Producer, channel, worker_queues};
use dataplane::sa::{DropReason, InboundSa, OutboundSa};
use dataplane::spd::{
    Action, CacheConfig, Entry, IpPrefix, PolicyId, SaIndex, Spd, TrafficSelector,
};
use dataplane::table::{SaTable, TableConfig};
use dataplane::wire::EthernetAddress;

use super::config::{ApplianceConfig, PolicyAction, StaticSa};
use super::report::{ApplianceReport, Measured, WorkerReport};
use crate::dpdk::{Burst, Eal, Mbuf, Mempool, PortConfig, RxQueue, TxQueue};
use crate::forward::{RunOptions, fmt_mac, open_ports, print_stats, wait_for_links, with_eal};
use crate::operator::model::{Request, Response};

/// Control → worker commands and worker → control events per worker.
const COMMAND_RING: usize = 1024;
const EVENT_RING: usize = 4096;
/// Frames in flight between two workers (software spreading by SPI).
const HANDOFF_RING: usize = 1024;
/// Busy rounds between two control polls of a worker (timers, commands, counters).
const CONTROL_EVERY: u32 = 32;

/// Counters one worker publishes for the control thread (single writer).
#[repr(align(64))]
pub(crate) struct Published {
    pipeline: [AtomicU64; Counters::COUNT],
    esp_drops: [AtomicU64; DropReason::COUNT],
    tx_full: AtomicU64,
    handoff_full: AtomicU64,
}

impl Default for Published {
    fn default() -> Self {
        Published {
            pipeline: std::array::from_fn(|_| AtomicU64::new(0)),
            esp_drops: std::array::from_fn(|_| AtomicU64::new(0)),
            tx_full: AtomicU64::new(0),
            handoff_full: AtomicU64::new(0),
        }
    }
}

impl Published {
    pub(crate) fn pipeline(&self) -> [u64; Counters::COUNT] {
        std::array::from_fn(|i| self.pipeline[i].load(Ordering::Relaxed))
    }

    pub(crate) fn esp_drops(&self) -> [u64; DropReason::COUNT] {
        std::array::from_fn(|i| self.esp_drops[i].load(Ordering::Relaxed))
    }

    pub(crate) fn tx_full(&self) -> u64 {
        self.tx_full.load(Ordering::Relaxed)
    }

    pub(crate) fn handoff_full(&self) -> u64 {
        self.handoff_full.load(Ordering::Relaxed)
    }
}

/// Buffers for ARP requests, ICMP errors and fragments, from the worker's mempool.
pub(crate) struct MbufAlloc<'e> {
    pool: Mempool<'e>,
}

impl<'e> BufAlloc<Mbuf<'e>> for MbufAlloc<'e> {
    fn alloc(&mut self, len: usize) -> Option<Mbuf<'e>> {
        use dataplane::buf::PacketBuf;
        let mut m = self.pool.alloc()?;
        m.append(len).ok()?;
        Some(m)
    }
}

/// The TX side of one worker: its queue on every port and a pending burst per port.
struct TxSide<'e> {
    /// By port id.
    queues: Vec<Option<TxQueue<'e>>>,
    pending: Vec<Burst<'e>>,
    /// Refused by a full TX ring (freed).
    full: u64,
}

impl<'e> TxSide<'e> {
    #[inline]
    fn send(&mut self, port: u16, m: Mbuf<'e>) {
        let p = usize::from(port);
        let Some(burst) = self.pending.get_mut(p) else {
            self.full += 1;
            return;
        };
        if let Err(m) = burst.push(m) {
            self.flush_port(p);
            if self.pending[p].push(m).is_err() {
                self.full += 1;
            }
        }
    }

    fn flush_port(&mut self, p: usize) {
        let (Some(Some(q)), Some(burst)) = (self.queues.get_mut(p), self.pending.get_mut(p)) else {
            return;
        };
        if burst.is_empty() {
            return;
        }
        q.tx_burst(burst);
        if !burst.is_empty() {
            // The device is full: drop rather than stall the worker (counted).
            self.full += burst.len() as u64;
            burst.clear();
        }
    }

    fn flush(&mut self) {
        for p in 0..self.pending.len() {
            self.flush_port(p);
        }
    }
}

type Handoff<'e> = (u16, Mbuf<'e>);

/// Everything one worker lcore owns.
struct WorkerSlot<'e> {
    id: u32,
    lcore: u32,
    pipeline: Worker<Mbuf<'e>, MbufAlloc<'e>>,
    rx: Vec<RxQueue<'e>>,
    tx: TxSide<'e>,
    steer: Option<Steering<Mbuf<'e>>>,
    /// To worker `j` (None for itself).
    handoff_out: Vec<Option<Producer<Handoff<'e>>>>,
    handoff_in: Vec<Consumer<Handoff<'e>>>,
}

/// Nanoseconds since the start of the run (one clock for every worker).
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Runs the appliance until `stop` is set or the duration ends.
pub fn run(
    cfg: &ApplianceConfig,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<ApplianceReport> {
    with_eal(&cfg.profile, opts, |eal, profile, huge| {
        let mut cfg = cfg.clone();
        cfg.profile = profile.clone();
        appliance(eal, &cfg, opts, &stop, huge)
    })
}

/// The SA table with the config's static SAs, and the outbound index of each SPI.
fn build_sas(
    cfg: &ApplianceConfig,
    workers: usize,
) -> anyhow::Result<(SaTable, Vec<(u32, SaIndex)>)> {
    let inbound =
        cfg.sas.iter().filter(|s| s.direction == dataplane::sa::Direction::Inbound).count();
    let mut table = SaTable::new(TableConfig {
        inbound_capacity: cfg.dataplane.sa_capacity,
        outbound_capacity: cfg.dataplane.sa_capacity,
        foreign_capacity: inbound.max(256),
        max_workers: workers,
        seed: None,
    })
    .map_err(|e| anyhow::anyhow!("building the SA table: {e:?}"))?;
    let mut outbound = Vec::new();
    let by_tunnel = policies_by_tunnel(cfg);
    for s in &cfg.sas {
        match build_sa(cfg, &by_tunnel, s)? {
            BuiltSa::Outbound(sa) => {
                let idx = table
                    .install_outbound(sa)
                    .map_err(|e| anyhow::anyhow!("installing SA {:#x}: {e:?}", s.spec.spi))?;
                outbound.push((s.spec.spi, idx));
            }
            BuiltSa::Inbound(sa) => {
                table
                    .install_inbound(sa)
                    .map_err(|e| anyhow::anyhow!("installing SA {:#x}: {e:?}", s.spec.spi))?;
            }
        }
    }
    Ok((table, outbound))
}

/// One static SA, ready for the table.
pub(crate) enum BuiltSa {
    Outbound(OutboundSa),
    Inbound(InboundSa),
}

/// Builds the runtime SA of a static SA (an inbound one with its selectors).
pub(crate) fn build_sa(
    cfg: &ApplianceConfig,
    by_tunnel: &HashMap<&str, Vec<usize>>,
    s: &StaticSa,
) -> anyhow::Result<BuiltSa> {
    let mut sc = s.spec.config(s.direction);
    let context = |e| anyhow::anyhow!("SA {:#x} ({}): {e}", s.spec.spi, s.tunnel);
    match s.direction {
        dataplane::sa::Direction::Outbound => {
            OutboundSa::new(&sc).map(BuiltSa::Outbound).map_err(context)
        }
        dataplane::sa::Direction::Inbound => {
            sc.traffic_selectors = inbound_selectors(cfg, by_tunnel, s);
            if sc.traffic_selectors.is_empty() {
                tracing::warn!(
                    "inbound SA {:#x} ({}): no protect policy in its tunnel and no match_src/\
                     match_dst: decrypted packets are not checked against selectors",
                    s.spec.spi,
                    s.tunnel
                );
            }
            InboundSa::new(&sc).map(BuiltSa::Inbound).map_err(context)
        }
    }
}

/// The protect policies of each tunnel, by tunnel name (built once: the lookups below would
/// otherwise be quadratic in the number of tunnels).
pub(crate) fn policies_by_tunnel(cfg: &ApplianceConfig) -> HashMap<&str, Vec<usize>> {
    let tunnel_of: HashMap<u32, &str> = cfg
        .sas
        .iter()
        .filter(|o| o.direction == dataplane::sa::Direction::Outbound)
        .map(|o| (o.spec.spi, o.tunnel.as_str()))
        .collect();
    let mut by: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in cfg.policies.iter().enumerate() {
        if let PolicyAction::Protect { sa } = p.action
            && let Some(t) = tunnel_of.get(&sa)
        {
            by.entry(t).or_default().push(i);
        }
    }
    by
}

/// What an inbound static SA may carry once decrypted: its own `match_src`/`match_dst` (the
/// peer's side, ours) when given, else the mirror of its tunnel's protect policies.
pub(crate) fn inbound_selectors(
    cfg: &ApplianceConfig,
    by_tunnel: &HashMap<&str, Vec<usize>>,
    sa: &StaticSa,
) -> Vec<TrafficSelector> {
    let any = |v6: bool| {
        let a =
            if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
        IpPrefix::new(a, 0).ok()
    };
    let spec = &sa.spec;
    if spec.match_src.is_some() || spec.match_dst.is_some() {
        let v6 = spec.match_src.or(spec.match_dst).is_some_and(|p| p.addr.is_ipv6());
        let pick = |p: Option<crate::esp_tool::sa_file::Prefix>| match p {
            Some(p) => IpPrefix::new(p.addr, p.len).ok(),
            None => any(v6),
        };
        return match (pick(spec.match_src), pick(spec.match_dst)) {
            (Some(s), Some(d)) => vec![TrafficSelector::new(s, d)],
            _ => Vec::new(),
        };
    }
    by_tunnel
        .get(sa.tunnel.as_str())
        .into_iter()
        .flatten()
        .map(|&i| {
            let p = &cfg.policies[i];
            let mut e =
                Entry::new(p.src, p.dst, Action::Bypass).with_ports(p.src_ports, p.dst_ports);
            e.protocol = p.protocol;
            TrafficSelector::reverse_of(&e)
        })
        .collect()
}

/// The SPD, its policies numbered by `ids` (one per policy of `cfg`), and per protect
/// policy the SA it is bound to.
pub(crate) fn build_spd(
    cfg: &ApplianceConfig,
    ids: &[PolicyId],
    index: &HashMap<u32, SaIndex>,
) -> anyhow::Result<(Spd, Vec<(PolicyId, SaIndex)>)> {
    build_spd_with(cfg, ids, index, Vec::new())
}

/// [`build_spd`] with `extra` entries after the config's (dynamic crypto map entries'
/// Child SAs), before the default action.
pub(crate) fn build_spd_with(
    cfg: &ApplianceConfig,
    ids: &[PolicyId],
    index: &HashMap<u32, SaIndex>,
    extra: Vec<Entry>,
) -> anyhow::Result<(Spd, Vec<(PolicyId, SaIndex)>)> {
    let mut entries = Vec::with_capacity(cfg.policies.len() + extra.len());
    let mut binds = Vec::new();
    for (p, &id) in cfg.policies.iter().zip(ids) {
        let action = match p.action {
            PolicyAction::Protect { sa } => {
                if let Some(&idx) = index.get(&sa) {
                    binds.push((id, idx));
                }
                Action::Protect(id)
            }
            PolicyAction::CryptoMap { .. } => Action::Protect(id),
            PolicyAction::Bypass => Action::Bypass,
            PolicyAction::Discard => Action::Discard,
        };
        let mut e = Entry::new(p.src, p.dst, action).with_ports(p.src_ports, p.dst_ports);
        e.protocol = p.protocol;
        entries.push(e);
    }
    entries.extend(extra);
    let default = match cfg.dataplane.default_action {
        PolicyAction::Discard => Action::Discard,
        _ => Action::Bypass,
    };
    let spd = Spd::new(entries, default).map_err(|e| anyhow::anyhow!("building the SPD: {e}"))?;
    Ok((spd, binds))
}

fn appliance(
    eal: &Eal,
    cfg: &ApplianceConfig,
    opts: &RunOptions,
    stop: &AtomicBool,
    huge: bool,
) -> anyhow::Result<ApplianceReport> {
    let profile = &cfg.profile;
    let lcores = profile.forwarding_cores();
    if profile.eal.worker_cores.is_empty() {
        bail!(
            "{}: the appliance needs at least one worker lcore ([eal] worker_cores); the main \
             lcore runs the control plane",
            profile.path.display()
        );
    }
    let n_workers = lcores.len();
    let n_tx = u16::try_from(n_workers).context("too many worker lcores")?;

    let (mut ports, pools) = open_ports(eal, profile, &lcores)?;
    let pool_for =
        |socket: u32| pools.iter().find(|(s, _)| *s == socket).map_or(pools[0].1, |p| p.1);

    let max_port = ports.iter().map(|p| usize::from(p.id())).max().unwrap_or(0);
    let mut rx_all: Vec<RxQueue<'_>> = Vec::new();
    let mut tx_by_worker: Vec<Vec<Option<TxQueue<'_>>>> =
        (0..n_workers).map(|_| (0..=max_port).map(|_| None).collect()).collect();
    for (port, settings) in ports.iter_mut().zip(&profile.ports) {
        let pcfg = PortConfig {
            rx_queues: settings.rx_queues,
            tx_queues: n_tx,
            rx_desc: settings.rx_desc,
            tx_desc: settings.tx_desc,
            rss: settings.rss,
            promiscuous: settings.promiscuous,
            mtu: settings.mtu,
        };
        port.configure(&pcfg, &pool_for(port.socket()))
            .with_context(|| format!("configuring port {:?}", settings.name))?;
        let (rx, tx) =
            port.start().with_context(|| format!("starting port {:?}", settings.name))?;
        tracing::info!(
            "port {} {:?} ({}): mac {}, {} rx / {} tx queues",
            port.id(),
            settings.name,
            port.name(),
            port.mac().map(fmt_mac).unwrap_or_else(|_| "?".into()),
            settings.rx_queues,
            n_tx
        );
        rx_all.extend(rx);
        for (w, q) in tx.into_iter().enumerate() {
            let p = usize::from(q.port());
            tx_by_worker[w][p] = Some(q);
        }
    }

    // Interfaces: the port index of the config becomes the DPDK port id. With `[ha]` the
    // workers start with the standby set; the failover unit switches them when active.
    let ha = cfg.policy.ha.as_ref();
    let mut list = Vec::with_capacity(cfg.interfaces.len());
    let mut standby_list = Vec::with_capacity(cfg.interfaces.len());
    let mut draining_list = Vec::with_capacity(cfg.interfaces.len());
    let mut pair_macs = Vec::with_capacity(cfg.interfaces.len());
    for ic in &cfg.interfaces {
        let port = &ports[ic.port];
        let port_mac = port.mac().with_context(|| format!("reading the MAC of {}", port.name()))?;
        let mac = ic.mac.unwrap_or(port_mac);
        list.push(interface(ic, port.id(), mac, &ic.addresses));
        if ha.is_some() {
            let keeps = ha.is_some_and(|h| h.interface == ic.name);
            let addrs = if keeps { &ic.addresses } else { &ic.standby_addresses };
            let own_mac = if keeps { mac } else { ic.standby_mac.unwrap_or(port_mac) };
            standby_list.push(interface(ic, port.id(), own_mac, addrs));
            // Handing over: the active addresses, sent from the unit's own MAC.
            draining_list.push(interface(ic, port.id(), own_mac, &ic.addresses));
            pair_macs.push(EthernetAddress(mac));
        }
        tracing::info!(
            "interface {} ({:?}) on port {}{}: mac {}, {:?}{}",
            ic.name,
            ic.role,
            port.id(),
            ic.vlan.map(|v| format!(" vlan {v}")).unwrap_or_default(),
            fmt_mac(mac),
            ic.addresses,
            if ic.standby_addresses.is_empty() {
                String::new()
            } else {
                format!(", standby {:?}", ic.standby_addresses)
            }
        );
    }
    let ifaces = Interfaces::new(list);
    let ha_unit = match ha {
        Some(h) => {
            let standby = Interfaces::new(standby_list);
            let draining = pair_macs
                .into_iter()
                .enumerate()
                .fold(Interfaces::new(draining_list), |d, (i, mac)| d.also_accept(i, mac));
            let sets = super::ha::InterfaceSets { active: ifaces.clone(), standby, draining };
            Some(
                super::ha::HaUnit::new(h, sets)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", profile.path.display()))?,
            )
        }
        None => None,
    };
    let worker_ifaces = match &ha_unit {
        Some(u) => u.standby_interfaces().clone(),
        None => ifaces.clone(),
    };
    let mut routes = RouteTable::with_connected(&ifaces);
    for r in &cfg.routes {
        let iface = r.interface;
        match (r.destination.0, r.via) {
            (IpAddr::V4(d), via) => {
                let prefix = Ipv4Cidr::new(d, r.destination.1).context("route prefix")?;
                let next_hop = match via {
                    Some(IpAddr::V4(g)) => NextHop::Gateway(g),
                    _ => NextHop::Connected,
                };
                routes.add_v4(prefix, Route { iface, next_hop });
            }
            (IpAddr::V6(d), via) => {
                let prefix = Ipv6Cidr::new(d, r.destination.1).context("route prefix")?;
                let next_hop = match via {
                    Some(IpAddr::V6(g)) => NextHop::Gateway(g),
                    _ => NextHop::Connected,
                };
                routes.add_v6(prefix, Route { iface, next_hop });
            }
        }
    }

    let (mut table, outbound) = build_sas(cfg, n_workers)?;
    let policy_ids: Vec<PolicyId> = (0..cfg.policies.len() as u32).map(PolicyId).collect();
    let index: HashMap<u32, SaIndex> = outbound.iter().copied().collect();
    let (spd, binds) = build_spd(cfg, &policy_ids, &index)?;
    let spd = Arc::new(spd);
    tracing::info!(
        "{} static SA(s) ({} outbound), {} policies, {} interface(s), {} route(s)",
        cfg.sas.len(),
        outbound.len(),
        spd.len(),
        ifaces.len(),
        cfg.routes.len()
    );

    // Handoff rings: rings[i][j] carries frames from worker i to worker j.
    let mut producers: Vec<Vec<Option<Producer<Handoff<'_>>>>> =
        (0..n_workers).map(|_| (0..n_workers).map(|_| None).collect()).collect();
    let mut consumers: Vec<Vec<Consumer<Handoff<'_>>>> =
        (0..n_workers).map(|_| Vec::new()).collect();
    if n_workers > 1 {
        for (i, row) in producers.iter_mut().enumerate() {
            for (j, slot) in row.iter_mut().enumerate() {
                if i != j {
                    let (p, c) = channel(HANDOFF_RING);
                    *slot = Some(p);
                    consumers[j].push(c);
                }
            }
        }
    }

    let wcfg = WorkerConfig {
        flow_cache: CacheConfig { entries: cfg.dataplane.flow_cache, ..CacheConfig::default() },
        neigh: dataplane::l3::NeighConfig {
            capacity: cfg.dataplane.neighbours,
            ..dataplane::l3::NeighConfig::default()
        },
        burst: usize::from(profile.run.burst),
        ..WorkerConfig::default()
    };
    let mut controls: Vec<ControlEnd<Mbuf<'_>>> = Vec::with_capacity(n_workers);
    let mut slots: Vec<WorkerSlot<'_>> = Vec::with_capacity(n_workers);
    for (w, (&lcore, (tx, (handoff_out, handoff_in)))) in lcores
        .iter()
        .zip(tx_by_worker.into_iter().zip(producers.into_iter().zip(consumers)))
        .enumerate()
    {
        let (control, queues) = worker_queues(w as u32, COMMAND_RING, EVENT_RING);
        let pool = pool_for(eal.socket_of_lcore(lcore));
        let reader = table.reader(w as u32).map_err(|e| anyhow::anyhow!("SA reader: {e:?}"))?;
        let mut pipeline = Worker::new(
            worker_ifaces.clone(),
            routes.clone(),
            Arc::clone(&spd),
            reader,
            queues,
            MbufAlloc { pool },
            wcfg,
        )
        .map_err(|e| anyhow::anyhow!("building worker {w}: {e}"))?;
        for n in &cfg.neighbours {
            let mac = EthernetAddress(n.mac);
            match n.address {
                IpAddr::V4(a) => pipeline.add_static_neighbour(n.interface, a, mac),
                IpAddr::V6(a) => pipeline.add_static_neighbour_v6(n.interface, a, mac),
            }
            .map_err(|e| anyhow::anyhow!("static neighbour {}: {e:?}", n.address))?;
        }
        for &(policy, sa) in &binds {
            pipeline.bind_sa(policy, Some(sa));
        }
        let steer = if n_workers > 1 {
            let burst = usize::from(profile.run.burst);
            Some(
                Steering::with_burst(w as u32, n_workers as u32, burst)
                    .map_err(|e| anyhow::anyhow!("worker {w}: {e}"))?,
            )
        } else {
            None
        };
        slots.push(WorkerSlot {
            id: w as u32,
            lcore,
            pipeline,
            rx: Vec::new(),
            tx: TxSide {
                queues: tx,
                pending: (0..=max_port).map(|_| Burst::new()).collect(),
                full: 0,
            },
            steer,
            handoff_out,
            handoff_in,
        });
        controls.push(control);
    }
    for (k, q) in rx_all.into_iter().enumerate() {
        slots[k % n_workers].rx.push(q);
    }

    wait_for_links(&ports, Duration::from_millis(profile.run.wait_link_up_ms));

    let published: Vec<Published> = (0..n_workers).map(|_| Published::default()).collect();
    let clock = Clock(Instant::now());
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let warmup_at = opts.warmup.map(|d| started + d);
    let run = profile.run;
    let labels: Vec<String> = profile.ports.iter().map(|p| p.name.clone()).collect();
    let mut control = super::control::Control::new(cfg.clone(), index, policy_ids);
    if let Some(u) = ha_unit {
        control.set_ha(u);
    }
    let mut measured_start: Option<(Instant, Vec<[u64; Counters::COUNT]>)> = None;

    let mut server = super::control::bind_operator(cfg);
    let mut metrics = match cfg.policy.management.metrics {
        Some(addr) => Some(
            crate::metrics::MetricsServer::bind(addr)
                .with_context(|| format!("binding the metrics endpoint {addr}"))?,
        ),
        None => None,
    };
    if let Some(addr) = cfg.policy.management.metrics {
        tracing::info!("metrics on http://{addr}/metrics");
    }
    // Everything that needs root is done: ports started, memory allocated, sockets bound.
    if let Some(user) = &cfg.policy.management.user {
        let id = crate::privilege::drop_privileges(user, cfg.policy.management.group.as_deref())
            .with_context(|| format!("dropping privileges to {user}"))?;
        tracing::info!("running as {user} ({id:?})");
    }
    eal.scope(|scope| -> anyhow::Result<()> {
        for mut slot in slots.drain(..) {
            let lcore = slot.lcore;
            let p = &published[slot.id as usize];
            scope
                .spawn(lcore, move || {
                    worker_loop(&mut slot, stop, p, run.burst, run.idle_sleep_us, clock);
                    0
                })
                .with_context(|| format!("launching the worker on lcore {lcore}"))
                .inspect_err(|_| stop.store(true, Ordering::Relaxed))?;
        }
        let interval = match run.stats_interval_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let mut next_stats = interval.map(|i| started + i);
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            if measured_start.is_none() && warmup_at.is_some_and(|w| now >= w) {
                measured_start = Some((now, published.iter().map(Published::pipeline).collect()));
            }
            control.poll(&mut controls, &mut table, Some(&pools[0].1), clock.now_ns());
            if opts.reload.as_ref().is_some_and(|r| r.swap(false, Ordering::Relaxed)) {
                match control.reload(&mut controls, &mut table) {
                    Ok(lines) => tracing::info!("SIGHUP: reloaded: {}", lines.join("; ")),
                    Err(e) => tracing::error!("SIGHUP: reload refused: {e}"),
                }
            }
            if let Some(s) = server.as_mut() {
                s.poll(&mut |req| match req {
                    Request::Reload => match control.reload(&mut controls, &mut table) {
                        Ok(lines) => {
                            tracing::info!("reloaded: {}", lines.join("; "));
                            Response::Reloaded { lines }
                        }
                        Err(e) => {
                            tracing::error!("reload refused: {e}");
                            Response::error(e)
                        }
                    },
                    Request::Debug { .. } | Request::UndebugAll | Request::ShowDebug => {
                        crate::operator::debug::serve(req)
                    }
                    _ => control.answer(req, &ports, &published, &lcores, &table, started),
                });
            }
            if let Some(m) = metrics.as_mut() {
                control.poll_metrics(m, &ports, &published, &lcores, &table, started);
            }
            if let (Some(at), Some(i)) = (next_stats, interval)
                && now >= at
            {
                print_stats(&format!("{:.1}s", (now - started).as_secs_f64()), &ports, &labels);
                next_stats = Some(at + i);
            }
            if control.hurried() {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for (lcore, ret) in scope.join() {
            if ret != 0 {
                bail!("the worker on lcore {lcore} failed ({ret})");
            }
        }
        Ok(())
    })?;
    let ended = Instant::now();
    control.poll(&mut controls, &mut table, None, clock.now_ns());
    let elapsed = ended - started;
    print_stats(&format!("final, {:.2}s", elapsed.as_secs_f64()), &ports, &labels);
    let workers: Vec<WorkerReport> = lcores
        .iter()
        .zip(&published)
        .enumerate()
        .map(|(w, (&lcore, p))| WorkerReport {
            worker: w as u32,
            lcore,
            counters: p.pipeline(),
            esp_drops: p.esp_drops(),
            tx_full: p.tx_full(),
            handoff_full: p.handoff_full(),
        })
        .collect();
    let measured = measured_start.map(|(t0, start)| {
        let secs = (ended - t0).as_secs_f64();
        let idx = |name: &str| Counters::NAMES.iter().position(|n| *n == name).unwrap_or(0);
        let (rx, tx) = (idx("rx"), idx("tx"));
        let sum = |i: usize, end: bool| -> u64 {
            if end {
                workers.iter().map(|w| w.counters[i]).sum()
            } else {
                start.iter().map(|c| c[i]).sum()
            }
        };
        Measured {
            seconds: secs,
            rx: sum(rx, true) - sum(rx, false),
            tx: sum(tx, true) - sum(tx, false),
        }
    });
    let report = ApplianceReport {
        hugepages: huge,
        elapsed,
        ports: ports
            .iter()
            .zip(&profile.ports)
            .map(|(p, s)| (s.name.clone(), p.name().to_owned(), p.stats().unwrap_or_default()))
            .collect(),
        workers,
        measured,
        events: control.stats(),
    };
    drop(server);
    // Stopping and closing the ports (net_pcap flushes its file) before the EAL goes.
    drop(ports);
    Ok(report)
}

/// The dataplane's view of a configured interface with `addresses` and `mac`.
fn interface(
    ic: &super::config::InterfaceConfig,
    port: u16,
    mac: [u8; 6],
    addresses: &[(IpAddr, u8)],
) -> Interface {
    Interface {
        port,
        vlan: ic.vlan,
        mac: EthernetAddress(mac),
        ipv4: addresses
            .iter()
            .filter_map(|&(a, l)| match a {
                IpAddr::V4(a) => Ipv4Cidr::new(a, l),
                IpAddr::V6(_) => None,
            })
            .collect(),
        ipv6: addresses
            .iter()
            .filter_map(|&(a, l)| match a {
                IpAddr::V6(a) => Ipv6Cidr::new(a, l),
                IpAddr::V4(_) => None,
            })
            .collect(),
        mtu: ic.mtu,
        role: ic.role,
    }
}

/// One worker lcore's poll loop.
fn worker_loop<'e>(
    slot: &mut WorkerSlot<'e>,
    stop: &AtomicBool,
    published: &Published,
    burst_size: u16,
    idle_sleep_us: u64,
    clock: Clock,
) {
    let max = usize::from(burst_size);
    let mut burst = Burst::new();
    let mut pkts: Vec<Mbuf<'e>> = Vec::with_capacity(crate::dpdk::BURST_MAX);
    let mut handed: Vec<Handoff<'e>> = Vec::with_capacity(crate::dpdk::BURST_MAX);
    let WorkerSlot { pipeline, rx, tx, steer, handoff_out, handoff_in, .. } = slot;
    let mut handoff_full = 0u64;
    let mut round = 0u32;
    let mut now = clock.now_ns();
    pipeline.poll_control(now, &mut |p, m| tx.send(p, m));
    while !stop.load(Ordering::Relaxed) {
        let mut received = 0;
        now = clock.now_ns();
        for q in rx.iter_mut() {
            let n = q.rx_burst(&mut burst, max);
            if n == 0 {
                continue;
            }
            received += n;
            let port = q.port();
            burst.move_into(&mut pkts);
            if let Some(s) = steer.as_mut() {
                s.split(&mut pkts, |owner, frame| {
                    let ring = handoff_out.get_mut(owner as usize).and_then(Option::as_mut);
                    let sent = ring.map(|r| r.push((port, frame)).is_ok());
                    // A full ring drops the frame (counted) rather than block.
                    if sent != Some(true) {
                        handoff_full += 1;
                    }
                });
            }
            pipeline.process_rx(port, &mut pkts, now, &mut |p, m| tx.send(p, m));
        }
        for c in handoff_in.iter_mut() {
            handed.clear();
            while handed.len() < max {
                match c.pop() {
                    Some(h) => handed.push(h),
                    None => break,
                }
            }
            received += handed.len();
            // Consecutive frames from one port go through the pipeline as one burst.
            let mut it = handed.drain(..).peekable();
            while let Some((port, frame)) = it.next() {
                pkts.push(frame);
                while let Some((_, f)) = it.next_if(|(p, _)| *p == port) {
                    pkts.push(f);
                }
                pipeline.process_rx(port, &mut pkts, now, &mut |p, m| tx.send(p, m));
            }
        }
        tx.flush();
        round = round.wrapping_add(1);
        let idle = received == 0;
        if idle || round.is_multiple_of(CONTROL_EVERY) {
            pipeline.poll_control(now, &mut |p, m| tx.send(p, m));
            tx.flush();
            publish(published, pipeline, tx.full, handoff_full);
        }
        if idle && idle_sleep_us > 0 {
            std::thread::sleep(Duration::from_micros(idle_sleep_us));
        }
    }
    pipeline.poll_control(clock.now_ns(), &mut |p, m| tx.send(p, m));
    tx.flush();
    publish(published, pipeline, tx.full, handoff_full);
}

fn publish<B: dataplane::buf::PacketBuf, A: BufAlloc<B>>(
    p: &Published,
    w: &Worker<B, A>,
    tx_full: u64,
    handoff_full: u64,
) {
    for (slot, v) in p.pipeline.iter().zip(w.counters().values()) {
        slot.store(v, Ordering::Relaxed);
    }
    let drops = &w.esp().stats().drops;
    for r in DropReason::ALL {
        p.esp_drops[r.index()].store(drops.get(*r), Ordering::Relaxed);
    }
    p.tx_full.store(tx_full, Ordering::Relaxed);
    p.handoff_full.store(handoff_full, Ordering::Relaxed);
}
