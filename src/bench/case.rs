//! One benchmark run in its own process (the EAL initialises once per process): what the
//! parent hands the child ([`ChildSpec`], as JSON), the DPDK profile and appliance config
//! built from it, and the child's side ([`run_child`]).
//!
//! Ports: 0 `traffic` = net_pcap replaying the case's capture(s) for ever (one RX queue per
//! file), 1 `sink` = net_null without RX. The appliance run puts the receiving interface on
//! `traffic` and the sending one on `sink`; the I/O-only run forwards `traffic` → `sink`
//! with the plain port-pair forwarder. Main lcore 0 (control thread), workers on lcores
//! 1..=N, hugepages if reserved, `--in-memory`, a file prefix of its own.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use dataplane::l3::Role;
use dataplane::sa::Direction;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::topology::{
    INSIDE_ADDR, INSIDE_GW, INSIDE_GW_MAC, INSIDE_MAC, INSIDE_PREFIX, LOCAL_HOSTS, MTU,
    OUTSIDE_ADDR, OUTSIDE_GW, OUTSIDE_GW_MAC, OUTSIDE_MAC, OUTSIDE_PREFIX, PEERS, Tunnel,
};
use super::traffic::{Dir, Plan, Written, packets_of};
use crate::appliance::config::{
    DataplaneSettings, InterfaceConfig, NeighbourConfig, PolicyAction, RouteConfig,
};
use crate::appliance::{self, ApplianceConfig};
use crate::esp_tool::sa_file::parse_transform;
use crate::forward::{self, RunOptions};
use crate::profile::{
    Device, EalSettings, Hugepages, MBUF_HEADROOM, MempoolSettings, PortSettings, Profile,
    RunSettings,
};

/// Per-lcore mbuf cache.
const MBUF_CACHE: u32 = 256;
/// Descriptors per RX and TX queue.
const RING_DESC: u16 = 1024;
/// Room after the largest frame of the capture: the ESP header, IV, padding and ICV an
/// encryption adds (at most 8 + 16 + 15 + 2 + 32 bytes) and the outer IPv4 header.
const GROWTH: usize = 128;
/// Bytes of each mbuf beyond its data room: `struct rte_mbuf` and the mempool's object
/// header.
const MBUF_OVERHEAD: u64 = 128 + 64;
/// EAL memory beyond the mbuf pool (rings, net_pcap's replay ring, heaps), MB.
const EAL_SLACK_MB: u64 = 96;

/// Which program the child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The IPsec appliance.
    Appliance,
    /// The plain port-pair forwarder (I/O-only baseline).
    Forwarder,
}

/// Everything a child needs (written by the parent as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildSpec {
    pub kind: Kind,
    pub dir: Dir,
    pub tunnels: u32,
    /// strongSwan proposal keyword, e.g. `aes128gcm16`.
    pub transform: String,
    pub replay_window: u32,
    pub traffic: Written,
    pub workers: u16,
    pub burst: u16,
    /// Flow-cache slots per worker.
    pub flow_cache: usize,
    pub warmup_s: f64,
    pub measure_s: f64,
    pub file_prefix: String,
    pub operator_socket: PathBuf,
    /// Where the child writes its result (JSON).
    pub result: PathBuf,
    /// Latency runs: the two ports are memif servers for `ferrogate gen` to connect to,
    /// instead of the capture and the sink.
    #[serde(default)]
    pub memif: Option<MemifSockets>,
}

/// The sockets of a latency run's memif ports (both ferrogate's side: role server).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemifSockets {
    /// Port 0 (`traffic`): where the generator sends.
    pub rx: PathBuf,
    /// Port 1 (`sink`): where ferrogate sends and the generator receives.
    pub tx: PathBuf,
}

/// A memif vdev's arguments (`net_memifN,role=...,socket=PATH,socket-abstract=no`).
pub fn memif_devargs(index: u32, role: &str, socket: &Path) -> anyhow::Result<String> {
    let s = socket.to_str().context("socket path is not UTF-8")?;
    if s.contains(',') || s.contains('=') {
        anyhow::bail!("socket path {s:?} must not contain ',' or '=' (DPDK devargs)");
    }
    Ok(format!("net_memif{index},role={role},socket={s},socket-abstract=no"))
}

impl ChildSpec {
    /// The DPDK profile of the run: ports, pool sized to the capture, lcores.
    pub fn profile(&self) -> anyhow::Result<Profile> {
        let files = &self.traffic.files;
        let (traffic_dev, sink_dev, rx_queues) = match &self.memif {
            Some(m) => (memif_devargs(0, "server", &m.rx)?, memif_devargs(1, "server", &m.tx)?, 1),
            None => {
                let mut pcap = String::from("net_pcap0");
                for f in files {
                    let s = f.to_str().context("capture path is not UTF-8")?;
                    if s.contains(',') || s.contains('=') {
                        anyhow::bail!(
                            "capture path {s:?} must not contain ',' or '=' (DPDK devargs)"
                        );
                    }
                    pcap.push_str(&format!(",rx_pcap={s}"));
                }
                pcap.push_str(",infinite_rx=1");
                (pcap, "net_null0,no-rx=1".to_owned(), files.len())
            }
        };
        let port = |name: &str, dev: String, rx_queues: usize| PortSettings {
            name: name.to_owned(),
            device: Device::Vdev(dev),
            rx_queues: rx_queues as u16,
            rx_desc: RING_DESC,
            tx_desc: RING_DESC,
            rss: false,
            promiscuous: false,
            mtu: None,
        };
        let data_room =
            usize::from(MBUF_HEADROOM) + (self.traffic.max_frame + GROWTH).div_ceil(64) * 64;
        let data_room = u16::try_from(data_room).context("frames too large for an mbuf")?;
        let mut profile = Profile {
            path: PathBuf::from(format!("<bench {}>", self.file_prefix)),
            eal: EalSettings {
                cpus: Vec::new(),
                file_prefix: self.file_prefix.clone(),
                main_core: 0,
                worker_cores: (1..=u32::from(self.workers)).collect(),
                memory_mb: 0,
                hugepages: Hugepages::Auto,
                in_memory: true,
                log_level: None,
                extra_args: Vec::new(),
            },
            mempool: MempoolSettings { mbufs: 0, cache: MBUF_CACHE, data_room },
            run: RunSettings {
                burst: self.burst,
                stats_interval_ms: 0,
                idle_sleep_us: 0,
                wait_link_up_ms: 0,
            },
            ports: vec![port("traffic", traffic_dev, rx_queues), port("sink", sink_dev, 1)],
        };
        // net_pcap copies the whole capture into mbufs of this pool, then every received
        // packet into another one: the pool holds both.
        let working = profile.mbufs_needed() + 4096;
        let mbufs = self.traffic.packets + working;
        profile.mempool.mbufs = u32::try_from(mbufs).context("capture too large")?;
        let bytes = mbufs * (u64::from(data_room) + MBUF_OVERHEAD);
        let mb = bytes.div_ceil(1 << 20) + EAL_SLACK_MB;
        profile.eal.memory_mb = u32::try_from(mb.div_ceil(2) * 2).context("memory")?;
        Ok(profile)
    }

    /// The appliance config: two interfaces, routes via static neighbours, every tunnel's
    /// outbound and inbound SA and protect policy.
    pub fn appliance_config(&self) -> anyhow::Result<ApplianceConfig> {
        let transform = parse_transform(&self.transform).map_err(anyhow::Error::msg)?;
        let (inside_port, outside_port) = match self.dir {
            Dir::Enc => (0, 1),
            Dir::Dec => (1, 0),
        };
        let iface = |name: &str, port, role, addr, len, mac| InterfaceConfig {
            name: name.to_owned(),
            port,
            role,
            addresses: vec![(IpAddr::V4(addr), len)],
            mac: Some(mac),
            standby_addresses: Vec::new(),
            standby_mac: None,
            vlan: None,
            mtu: MTU,
        };
        let interfaces = vec![
            iface("inside", inside_port, Role::Inside, INSIDE_ADDR, INSIDE_PREFIX, INSIDE_MAC),
            iface(
                "outside",
                outside_port,
                Role::Outside,
                OUTSIDE_ADDR,
                OUTSIDE_PREFIX,
                OUTSIDE_MAC,
            ),
        ];
        let routes = vec![
            RouteConfig {
                destination: (LOCAL_HOSTS.0.into(), LOCAL_HOSTS.1),
                interface: 0,
                via: Some(INSIDE_GW.into()),
            },
            RouteConfig {
                destination: (PEERS.0.into(), PEERS.1),
                interface: 1,
                via: Some(OUTSIDE_GW.into()),
            },
        ];
        let neighbours = vec![
            NeighbourConfig { interface: 0, address: INSIDE_GW.into(), mac: INSIDE_GW_MAC },
            NeighbourConfig { interface: 1, address: OUTSIDE_GW.into(), mac: OUTSIDE_GW_MAC },
        ];
        let n = self.tunnels as usize;
        let mut sas = Vec::with_capacity(2 * n);
        let mut policies = Vec::with_capacity(n);
        for t in (0..self.tunnels).map(Tunnel) {
            sas.push(t.sa(transform, Direction::Outbound, self.replay_window));
            sas.push(t.sa(transform, Direction::Inbound, self.replay_window));
            policies.push(t.policy());
        }
        Ok(ApplianceConfig {
            profile: self.profile()?,
            interfaces,
            routes,
            neighbours,
            sas,
            policies,
            dataplane: DataplaneSettings {
                // Traffic no policy covers is a mistake of the case: count it as a drop.
                default_action: PolicyAction::Discard,
                sa_capacity: n.next_power_of_two().max(256),
                flow_cache: self.flow_cache,
                ..DataplaneSettings::default()
            },
            operator_socket: Some(self.operator_socket.clone()),
            // Built in code, not read from a file: nothing to reload.
            document: Default::default(),
            policy: Default::default(),
            warnings: Vec::new(),
        })
    }
}

/// Memory per tunnel beyond the mbufs, bytes, for the pre-flight check: two SAs with their
/// keyed cipher contexts, counters and replay window, a policy, its SPD entry, the tunnel's
/// share of the flow cache, and the config they are built from. Measured: the appliance
/// child of a 1,000,000-tunnel 64 B enc case peaked at 9.6 GB resident with its mbufs in
/// hugepages (`peak_rss_mb` in the results JSON).
const BYTES_PER_TUNNEL: u64 = 10 * 1024;

/// About how much memory a case's appliance child takes, MB: the mbuf pool holding the
/// capture (see [`ChildSpec::profile`]) plus the tunnels' state. Known before the capture is
/// written.
pub fn memory_estimate_mb(plan: &Plan) -> u64 {
    let packets = packets_of(plan);
    let plain = plan.size.round().iter().copied().max().unwrap_or(0);
    // dec captures hold the ESP frames: outer IPv4 header and the ESP overhead on top.
    let max_frame = if plan.dir == Dir::Dec { plain + GROWTH } else { plain };
    let data_room = u64::from(MBUF_HEADROOM) + (max_frame + GROWTH).div_ceil(64) as u64 * 64;
    let pool = (packets + 65_536) * (data_room + MBUF_OVERHEAD);
    let tunnels = u64::from(plan.tunnels) * BYTES_PER_TUNNEL;
    (pool + tunnels).div_ceil(1 << 20) + EAL_SLACK_MB
}

/// Flow-cache slots for a case with `flows` flows: at least 4 slots per flow (the cache is
/// set-associative, a fuller one evicts), between 2^14 and 2^20.
pub fn flow_cache_for(flows: u64) -> usize {
    (flows.saturating_mul(4) as usize).next_power_of_two().clamp(1 << 14, 1 << 20)
}

/// The child's side: runs the spec in `path`, writes its result JSON.
pub fn run_child(path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let spec: ChildSpec = serde_json::from_str(&text).context("parsing the case")?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("signal handler")?;
    }
    let warmup = Duration::from_secs_f64(spec.warmup_s);
    let total = warmup + Duration::from_secs_f64(spec.measure_s);
    let started = Instant::now();
    let result = match spec.kind {
        Kind::Appliance => {
            let cfg = spec.appliance_config()?;
            let built = started.elapsed().as_secs_f64();
            let opts = RunOptions {
                duration: Some(total),
                hugepages: None,
                file_prefix: None,
                warmup: Some(warmup),
                reload: None,
            };
            let report = appliance::run(&cfg, &opts, stop)?;
            let mut v = report.to_json();
            v["config_build_s"] = json!(built);
            v
        }
        Kind::Forwarder => {
            let profile = spec.profile()?;
            let opts = RunOptions {
                duration: Some(total),
                hugepages: None,
                file_prefix: None,
                warmup: None,
                reload: None,
            };
            let r = forward::run(&profile, &opts, stop)?;
            let ports: Vec<Value> = r
                .ports
                .iter()
                .map(|(name, dev, s)| {
                    json!({
                        "name": name, "device": dev, "rx_packets": s.rx_packets,
                        "tx_packets": s.tx_packets, "rx_nombuf": s.rx_nombuf,
                    })
                })
                .collect();
            json!({
                "hugepages": r.hugepages,
                "elapsed_s": r.elapsed.as_secs_f64(),
                "rx": r.workers.iter().map(|w| w.1).sum::<u64>(),
                "tx": r.workers.iter().map(|w| w.2).sum::<u64>(),
                "dropped": r.workers.iter().map(|w| w.3).sum::<u64>(),
                "ports": ports,
            })
        }
    };
    std::fs::write(&spec.result, serde_json::to_string_pretty(&result)? + "\n")
        .with_context(|| format!("writing {}", spec.result.display()))
}
