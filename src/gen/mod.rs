//! `ferrogate gen`: a DPDK traffic generator for benchmarks and lab tests.
//!
//! It sends N inner flows across M tunnels ([`traffic`]): plaintext for the encrypt
//! direction of a device under test, or ESP sealed with the tunnels' SAs for the decrypt
//! direction; fixed sizes, IMIX or a size list; at a fixed rate or as fast as the port takes
//! them. Every packet carries a stamp ([`stamp`]: flow, sequence number, send time). What
//! comes back, through a DUT or looped straight back, is measured ([`measure`]): received
//! rate, loss, reordering, latency percentiles. The DPDK side is [`run`]. `--write-pcap`
//! writes the same packets to a capture instead (for net_pcap replay), without DPDK.

pub mod measure;
pub mod run;
pub mod stamp;
pub mod traffic;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::esp::{Disposition, EspWorker, VecBufAlloc};
use serde_json::{Value, json};

use crate::bench::traffic::Dir;
use crate::esp_tool::sa_file::{self, parse_transform};
use crate::pcap::{self, LinkType};
use crate::profile::{
    Device, EalSettings, Hugepages, MBUF_HEADROOM, MempoolSettings, PortSettings, Profile,
    RunSettings,
};
use run::{Outcome, RunConfig};
use traffic::{SaSource, SizeMix, Traffic, TrafficSpec, TxStream};

/// Arguments of `ferrogate gen`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// enc: plaintext (to a DUT's inside); dec: ESP sealed with the tunnels' SAs (to its
    /// outside).
    #[arg(long, value_enum, default_value = "enc", help_heading = "Traffic")]
    pub dir: Dir,
    /// Ethernet frame length without FCS (dec: of the inner plaintext frame): one size
    /// (64..=9000), `imix` (7:4:1 of 64/594/1518, interleaved) or a list sent in turn
    /// (`64,128,1518`).
    #[arg(long, default_value = "64", value_parser = SizeMix::parse, help_heading = "Traffic")]
    pub size: SizeMix,
    /// Tunnels (tunnel i gets the benchmark lab's SAs: SPI 0x20000000 + i for dec) [default:
    /// 1, or the SA count of --sa].
    #[arg(long, help_heading = "Traffic")]
    pub tunnels: Option<u32>,
    /// Inner flows, dealt round-robin over the tunnels (flow f is in tunnel f % tunnels)
    /// [default: one per tunnel].
    #[arg(long, help_heading = "Traffic")]
    pub flows: Option<u32>,
    /// ESP transform of the derived SAs (strongSwan proposal keyword).
    #[arg(long, default_value = crate::bench::DEFAULT_TRANSFORM, help_heading = "Traffic")]
    pub transform: String,
    /// dec: seal with the SAs of this `ferrogate esp` SA file (tunnel i = SA i) instead of
    /// the derived ones.
    #[arg(long, value_name = "SA_FILE", help_heading = "Traffic")]
    pub sa: Option<PathBuf>,
    /// More SAs (an SA file) to decrypt returning ESP with, e.g. a DUT's outbound SAs.
    #[arg(long, value_name = "SA_FILE", help_heading = "Traffic")]
    pub rx_sa: Option<PathBuf>,
    /// Write the derived SAs (dec: the sealing ones; enc: those the DUT's ESP is decrypted
    /// with) as an SA file for `ferrogate esp` (mode 0600: it holds keys).
    #[arg(long, value_name = "FILE", help_heading = "Traffic")]
    pub write_sa: Option<PathBuf>,
    /// Source MAC of the frames [default: the lab's gateway MAC].
    #[arg(long, value_parser = parse_mac, help_heading = "Traffic")]
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC of the frames [default: the lab's DUT interface MAC].
    #[arg(long, value_parser = parse_mac, help_heading = "Traffic")]
    pub dst_mac: Option<[u8; 6]>,

    /// Packets per second over all workers (1000, 250k, 1.5M) [default: as fast as possible].
    #[arg(long, value_parser = parse_rate, help_heading = "Pacing and bounds")]
    pub rate: Option<f64>,
    /// Packets to send.
    #[arg(long, help_heading = "Pacing and bounds")]
    pub count: Option<u64>,
    /// Seconds to send [default: until --count, or Ctrl-C].
    #[arg(long, value_name = "SECS", help_heading = "Pacing and bounds")]
    pub duration: Option<f64>,
    /// After sending, wait at most this long for packets still in flight.
    #[arg(long, value_name = "SECS", default_value_t = 0.5, help_heading = "Pacing and bounds")]
    pub drain: f64,
    /// Packets built and handed to the port at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Pacing and bounds")]
    pub burst: u16,

    /// A profile (TOML, as for `ferrogate run`): its EAL settings, worker lcores and ports;
    /// the first port sends, the second (if any) receives.
    #[arg(long, conflicts_with_all = ["port", "rx_port", "workers", "cpus"], help_heading = "Ports")]
    pub profile: Option<PathBuf>,
    /// The port to send on: a vdev with its arguments (net_ring0, net_null0,no-rx=1,
    /// net_memif0,role=client,socket=/run/x.sock, net_af_packet0,iface=veth0,
    /// net_pcap0,tx_pcap=out.pcap) or a PCI address bound to vfio-pci (0000:03:00.0).
    #[arg(long, value_name = "DEV", help_heading = "Ports")]
    pub port: Option<String>,
    /// The port traffic comes back on [default: the sending port].
    #[arg(long, value_name = "DEV", help_heading = "Ports")]
    pub rx_port: Option<String>,
    /// Worker lcores, each sending a share of the flows and receiving on its own RX queue
    /// (0: the main lcore does it all) [default: 1].
    #[arg(long, help_heading = "Ports")]
    pub workers: Option<u16>,
    /// The CPU of the main lcore, then of each worker (several lcores may share one CPU)
    /// [default: lcore N on CPU N].
    #[arg(long, value_delimiter = ',', help_heading = "Ports")]
    pub cpus: Vec<u32>,
    /// Set this MTU on the ports (NICs need it for frames above 1514 bytes).
    #[arg(long, help_heading = "Ports")]
    pub mtu: Option<u16>,
    /// Wait at most this long for the links to come up (a NIC, a memif peer).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, help_heading = "Ports")]
    pub wait_link: f64,
    /// Use plain memory (--no-huge) whatever the profile says.
    #[arg(long, help_heading = "Ports")]
    pub no_huge: bool,
    /// Require hugepages.
    #[arg(long, conflicts_with = "no_huge", help_heading = "Ports")]
    pub huge: bool,
    /// EAL --file-prefix [default: fg-gen-PID].
    #[arg(long, value_name = "PREFIX", help_heading = "Ports")]
    pub file_prefix: Option<String>,
    /// Send only: do not poll RX or measure (the fastest figure on net_null0,no-rx=1).
    #[arg(long, help_heading = "Ports")]
    pub no_rx: bool,

    /// Write the packets to this pcap instead of sending them (needs --count; no DPDK).
    /// Timestamps follow --rate (1 µs apart without it).
    #[arg(long, value_name = "FILE", requires = "count", help_heading = "Output")]
    pub write_pcap: Option<PathBuf>,
    /// Print the results as JSON on stdout (progress lines stay on stderr).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 1.0, help_heading = "Output")]
    pub progress: f64,
}

/// A MAC address `02:fe:00:00:01:01`.
fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!("'{s}' is not a MAC address (aa:bb:cc:dd:ee:ff)"));
    }
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).map_err(|_| format!("'{s}' is not a MAC address"))?;
    }
    Ok(mac)
}

/// A rate: `1000`, `250k`, `1.5M`, `2G` packets per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("'{s}' is not a packet rate"))?;
    let v = v * mult;
    if (1.0..=1e10).contains(&v) {
        Ok(v)
    } else {
        Err(format!("rate {s}: must be 1 to 1e10 packets per second"))
    }
}

fn secs(v: f64, flag: &str, zero_ok: bool) -> anyhow::Result<Duration> {
    if v.is_finite() && (v > 0.0 || zero_ok && v == 0.0) && v < 1e6 {
        Ok(Duration::from_secs_f64(v))
    } else {
        bail!("--{flag} must be a {}number of seconds", if zero_ok { "" } else { "positive " })
    }
}

/// A device string: a PCI address (`0000:03:00.0` or `03:00.0`) or a vdev.
fn device(s: &str) -> Device {
    let addr = s.split(',').next().unwrap_or(s);
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let pci = addr.rsplit_once('.').is_some_and(|(head, func)| {
        let parts: Vec<&str> = head.split(':').collect();
        hex(func, 1)
            && match parts[..] {
                [bus, dev] => hex(bus, 2) && hex(dev, 2),
                [domain, bus, dev] => hex(domain, 4) && hex(bus, 2) && hex(dev, 2),
                _ => false,
            }
    });
    if pci { Device::Pci(s.to_owned()) } else { Device::Vdev(s.to_owned()) }
}

impl GenArgs {
    /// The traffic to generate, SAs built.
    pub fn traffic(&self) -> anyhow::Result<(Traffic, Option<String>)> {
        let rx_sas = match &self.rx_sa {
            Some(p) => sa_file::load(p)?,
            None => Vec::new(),
        };
        let (sas, tunnels, keyword) = match &self.sa {
            Some(p) => {
                let list = sa_file::load(p)?;
                let n = u32::try_from(list.len()).context("too many SAs")?;
                if self.tunnels.is_some_and(|t| t != n) {
                    bail!(
                        "--tunnels {}: the SA file has {n} SA(s), one per tunnel",
                        self.tunnels.unwrap_or(0)
                    );
                }
                (SaSource::File(list), n, None)
            }
            None => {
                let transform = parse_transform(&self.transform)
                    .map_err(|e| anyhow::anyhow!("--transform: {e}"))?;
                let keyword = self.transform.trim().to_ascii_lowercase();
                let sas = SaSource::Derived { transform };
                (sas, self.tunnels.unwrap_or(1), Some(keyword))
            }
        };
        let spec = TrafficSpec {
            dir: self.dir,
            sizes: self.size.clone(),
            flows: self.flows.unwrap_or(tunnels),
            tunnels,
            sas,
            rx_sas,
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
        };
        Ok((Traffic::new(&spec)?, keyword))
    }

    /// The DPDK profile of the run: from --profile, or built from the port flags.
    pub fn profile(&self, traffic: &Traffic) -> anyhow::Result<Profile> {
        let data_room =
            usize::from(MBUF_HEADROOM) + (traffic.max_wire_frame() + 64).div_ceil(64) * 64;
        let data_room = u16::try_from(data_room).context("frames too large for an mbuf")?;
        let wait_ms = secs(self.wait_link, "wait-link", true)?.as_millis() as u64;
        let mut profile = match &self.profile {
            Some(path) => Profile::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => {
                let Some(port) = &self.port else {
                    bail!(
                        "say which port to use: --port DEV (and --rx-port DEV), or --profile FILE"
                    );
                };
                let workers = u32::from(self.workers.unwrap_or(1));
                if self.cpus.is_empty() {
                    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                    if workers as usize + 1 > cpus {
                        bail!(
                            "--workers {workers} needs {} CPUs (main lcore 0 + workers); this \
                             machine has {cpus} (--cpus can put several lcores on one CPU)",
                            workers + 1
                        );
                    }
                } else if self.cpus.len() != workers as usize + 1 {
                    bail!("--cpus: give {} CPUs, the main lcore's first", workers + 1);
                }
                let settings = |name: &str, dev: &str| PortSettings {
                    name: name.to_owned(),
                    device: device(dev),
                    rx_queues: 1,
                    rx_desc: 1024,
                    tx_desc: 1024,
                    rss: true,
                    promiscuous: true,
                    mtu: self.mtu,
                };
                let mut ports = vec![settings("gen", port)];
                if let Some(rx) = self.rx_port.as_deref().filter(|r| r != port) {
                    ports.push(settings("gen-rx", rx));
                }
                Profile {
                    path: PathBuf::from("<ferrogate gen>"),
                    eal: EalSettings {
                        file_prefix: self
                            .file_prefix
                            .clone()
                            .unwrap_or_else(|| format!("fg-gen-{}", std::process::id())),
                        main_core: 0,
                        worker_cores: (1..=workers).collect(),
                        cpus: self.cpus.clone(),
                        memory_mb: 0,
                        hugepages: Hugepages::Auto,
                        in_memory: true,
                        log_level: Some("error".into()),
                        extra_args: Vec::new(),
                    },
                    mempool: MempoolSettings { mbufs: 0, cache: 256, data_room },
                    run: RunSettings {
                        burst: self.burst,
                        stats_interval_ms: 0,
                        idle_sleep_us: 0,
                        wait_link_up_ms: wait_ms,
                    },
                    ports,
                }
            }
        };
        if profile.ports.is_empty() || profile.ports.len() > 2 {
            bail!(
                "{}: the generator uses one port (send and receive) or two (send, receive); \
                 this profile has {}",
                profile.path.display(),
                profile.ports.len()
            );
        }
        if let Some(p) = &self.file_prefix {
            profile.eal.file_prefix = p.clone();
        }
        if self.mtu.is_some() {
            for p in &mut profile.ports {
                p.mtu = self.mtu;
            }
        }
        profile.mempool.data_room = profile.mempool.data_room.max(data_room);
        let lcores = profile.forwarding_cores().len() as u64;
        let needed = profile.mbufs_needed() + 4 * crate::dpdk::BURST_MAX as u64 * lcores + 1024;
        let mbufs = (needed + 1).next_power_of_two() - 1;
        profile.mempool.mbufs =
            profile.mempool.mbufs.max(u32::try_from(mbufs).context("mbuf pool")?);
        let bytes = u64::from(profile.mempool.mbufs)
            * (u64::from(profile.mempool.data_room) + 192)
            * profile.ports.len() as u64;
        let mb = bytes.div_ceil(1 << 20) + 64;
        profile.eal.memory_mb = profile.eal.memory_mb.max(u32::try_from(mb.div_ceil(2) * 2)?);
        Ok(profile)
    }
}

/// `ferrogate gen`.
pub fn main(args: &GenArgs) -> ExitCode {
    match run_cli(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrogate gen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(args: &GenArgs) -> anyhow::Result<()> {
    let duration = args.duration.map(|d| secs(d, "duration", false)).transpose()?;
    let drain = secs(args.drain, "drain", true)?;
    let progress = secs(args.progress, "progress", true)?;
    if args.sa.is_some() && args.write_sa.is_some() {
        bail!("--write-sa writes the derived SAs; with --sa you already have them");
    }
    let (traffic, keyword) = args.traffic()?;
    if let (Some(path), Some(k)) = (&args.write_sa, &keyword) {
        traffic.write_sa_file(path, k)?;
    }
    let head = header(args, &traffic);
    if let Some(path) = &args.write_pcap {
        let count = args.count.unwrap_or(0);
        let w = write_pcap(&traffic, path, count, args.rate)?;
        let mut v = head;
        v["mode"] = json!("pcap");
        v["pcap"] = json!({
            "file": path, "packets": w.0, "bytes": w.1,
            "mean_frame": if w.0 == 0 { 0.0 } else { w.1 as f64 / w.0 as f64 },
        });
        if args.json {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!(
                "ferrogate gen: wrote {} packets ({} bytes, {:.1} B mean frame) to {}",
                w.0,
                w.1,
                v["pcap"]["mean_frame"].as_f64().unwrap_or(0.0),
                path.display()
            );
        }
        return Ok(());
    }
    let profile = args.profile(&traffic)?;
    let signal = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&signal))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&signal)))
            .context("installing the signal handler")?;
    }
    let cfg = RunConfig {
        profile,
        hugepages: if args.no_huge {
            Some(Hugepages::Never)
        } else if args.huge {
            Some(Hugepages::Always)
        } else {
            None
        },
        rate_pps: args.rate,
        // At a fixed rate for a fixed time the count is known: sending stops exactly there
        // rather than at the main lcore's next look at the clock.
        count: match (args.rate, duration) {
            (Some(r), Some(d)) => {
                let n = (r * d.as_secs_f64()).round() as u64;
                Some(args.count.map_or(n, |c| c.min(n)))
            }
            _ => args.count,
        },
        // With the count known from the rate, the time limit is only a backstop for a port
        // that cannot keep the rate up: it must not cut the last packets short.
        duration: match (args.rate, duration) {
            (Some(_), Some(d)) => Some(d + (d / 20).max(Duration::from_millis(100))),
            (_, d) => d,
        },
        drain,
        burst: args.burst,
        progress: (!progress.is_zero()).then_some(progress),
        rx: !args.no_rx,
        run_tag: run_tag(),
    };
    let outcome = run::run(&traffic, &cfg, &signal)?;
    let v = results(head, &cfg, &outcome);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render_text(&v));
    }
    Ok(())
}

/// A tag that tells this run's packets from an earlier run's still in a DUT's queues.
fn run_tag() -> u16 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (t ^ (t >> 16) ^ std::process::id()) as u16
}

/// What was asked for (the first part of the results).
fn header(args: &GenArgs, t: &Traffic) -> Value {
    json!({
        "dir": args.dir.label(),
        "sizes": t.sizes.label,
        "size_round": t.sizes.round,
        "mean_frame": t.sizes.mean(),
        "flows": t.flows,
        "tunnels": t.tunnels,
        "esp": t.sealed(),
        "transform": if args.sa.is_some() { Value::Null } else { json!(args.transform) },
        "rate_pps": args.rate,
        "count": args.count,
        "duration_s": args.duration,
    })
}

/// Writes `count` packets (one stream, flows and sizes in turn) to a pcap; returns the
/// packets and bytes written.
pub fn write_pcap(
    traffic: &Traffic,
    path: &Path,
    count: u64,
    rate: Option<f64>,
) -> anyhow::Result<(u64, u64)> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = pcap::Writer::new(BufWriter::new(file), LinkType::Ethernet)?;
    let mut stream = TxStream::new(traffic, 0, 1, 0);
    let gap_ns = rate.map_or(1_000.0, |r| 1e9 / r);
    let mut esp = EspWorker::new();
    let room = traffic.max_wire_frame() + 64;
    let (mut packets, mut bytes, mut k) = (0u64, 0u64, 0u64);
    let mut chunk: Vec<VecBuf> = Vec::with_capacity(32);
    let mut tunnels: Vec<u32> = Vec::with_capacity(32);
    let mut extra: Vec<VecBuf> = Vec::new();
    while k < count {
        chunk.clear();
        tunnels.clear();
        extra.clear();
        let ts: Vec<u64> = (k..count.min(k + 32)).map(|i| (i as f64 * gap_ns) as u64).collect();
        for &t in &ts {
            let mut b = VecBuf::with_room(128, room);
            tunnels.push(stream.next(traffic, &mut b, t).map_err(|e| anyhow::anyhow!("{e:?}"))?);
            chunk.push(b);
        }
        k += ts.len() as u64;
        let keep: Vec<bool> = if traffic.sealed() {
            let d = traffic.seal(&mut esp, &mut chunk, &tunnels, &mut extra, &mut VecBufAlloc, 0);
            d.iter().map(|d| *d == Disposition::Forward).collect()
        } else {
            vec![true; chunk.len()]
        };
        for ((b, &t), keep) in chunk.iter().zip(&ts).zip(keep) {
            if !keep {
                bail!("sealing a packet failed");
            }
            w.write(t, b.data())?;
            packets += 1;
            bytes += b.len() as u64;
        }
        for b in &extra {
            w.write(ts.last().copied().unwrap_or(0), b.data())?;
            packets += 1;
            bytes += b.len() as u64;
        }
    }
    w.into_inner()?;
    Ok((packets, bytes))
}

/// The results of a DPDK run as JSON.
fn results(mut v: Value, cfg: &RunConfig, o: &Outcome) -> Value {
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let rx = &o.rx.counts;
    let rx_seconds = o.rx.first_ns.map_or(0.0, |f| o.rx.last_ns.saturating_sub(f) as f64 / 1e9);
    let lost = o.tx_packets.saturating_sub(rx.packets);
    v["mode"] = json!("dpdk");
    v["workers"] = json!(o.workers);
    v["hugepages"] = json!(o.hugepages);
    v["interrupted"] = json!(o.interrupted);
    v["tx"] = json!({
        "packets": o.tx_packets,
        "bytes": o.tx_bytes,
        "seconds": o.tx_seconds,
        "pps": rate(o.tx_packets, o.tx_seconds),
        "gbps": rate(o.tx_bytes * 8, o.tx_seconds) / 1e9,
        "unsent": o.unsent,
        "no_mbuf": o.no_mbuf,
        "seal_failed": o.seal_failed,
    });
    v["rx"] = if cfg.rx {
        json!({
            "frames": rx.frames,
            "packets": rx.packets,
            "bytes": rx.bytes,
            "seconds": rx_seconds,
            "pps": rate(rx.packets, rx_seconds),
            "gbps": rate(rx.bytes * 8, rx_seconds) / 1e9,
            "lost": lost,
            "loss_pct": if o.tx_packets == 0 { 0.0 } else { lost as f64 * 100.0 / o.tx_packets as f64 },
            "extra": rx.packets.saturating_sub(o.tx_packets),
            "reordered": rx.reordered,
            "foreign": rx.foreign,
            "undecryptable": rx.undecryptable,
        })
    } else {
        Value::Null
    };
    v["latency_ns"] = json!(o.rx.latency());
    v["ports"] = o
        .ports
        .iter()
        .map(|(role, dev, s)| {
            json!({
                "role": role, "device": dev, "tx_packets": s.tx_packets,
                "rx_packets": s.rx_packets, "rx_missed": s.rx_missed, "rx_nombuf": s.rx_nombuf,
                "tx_errors": s.tx_errors, "rx_errors": s.rx_errors,
            })
        })
        .collect();
    v
}

/// The results as text.
pub fn render_text(v: &Value) -> String {
    use std::fmt::Write as _;
    let f = |p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let u = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ferrogate gen: {} {}, {:.1} B mean frame, {} flow(s) over {} tunnel(s), {}, {} worker(s), {}{}",
        v["dir"].as_str().unwrap_or("?"),
        v["sizes"].as_str().unwrap_or("?"),
        f("/mean_frame"),
        u("/flows"),
        u("/tunnels"),
        v["rate_pps"].as_f64().map_or_else(|| "maximum rate".into(), |r| format!("{r} pps")),
        u("/workers"),
        if v["hugepages"].as_bool() == Some(true) { "hugepages" } else { "--no-huge" },
        if v["interrupted"].as_bool() == Some(true) { ", interrupted" } else { "" },
    );
    let _ = writeln!(
        s,
        "tx: {} packets, {} bytes in {:.3} s: {:.4} Mpps, {:.3} Gbit/s (unsent {}, no mbuf {}, \
         seal failed {})",
        u("/tx/packets"),
        u("/tx/bytes"),
        f("/tx/seconds"),
        f("/tx/pps") / 1e6,
        f("/tx/gbps"),
        u("/tx/unsent"),
        u("/tx/no_mbuf"),
        u("/tx/seal_failed"),
    );
    if !v["rx"].is_null() {
        let _ = writeln!(
            s,
            "rx: {} packets ({} frames), {} bytes in {:.3} s: {:.4} Mpps, {:.3} Gbit/s",
            u("/rx/packets"),
            u("/rx/frames"),
            u("/rx/bytes"),
            f("/rx/seconds"),
            f("/rx/pps") / 1e6,
            f("/rx/gbps"),
        );
        let _ = writeln!(
            s,
            "lost {} ({:.4} %), reordered {}, foreign {}, undecryptable {}",
            u("/rx/lost"),
            f("/rx/loss_pct"),
            u("/rx/reordered"),
            u("/rx/foreign"),
            u("/rx/undecryptable"),
        );
    }
    if v["latency_ns"].is_null() {
        if !v["rx"].is_null() {
            let _ = writeln!(s, "latency: no packet came back");
        }
    } else {
        let us = |k: &str| f(&format!("/latency_ns/{k}")) / 1e3;
        let _ = writeln!(
            s,
            "latency (µs): min {:.2} mean {:.2} p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} \
             p99.99 {:.2} max {:.2} ({} samples)",
            us("min"),
            us("mean"),
            us("p50"),
            us("p90"),
            us("p99"),
            us("p99_9"),
            us("p99_99"),
            us("max"),
            u("/latency_ns/samples"),
        );
    }
    if let Some(ports) = v["ports"].as_array() {
        for p in ports {
            let g = |k: &str| p[k].as_u64().unwrap_or(0);
            let _ = writeln!(
                s,
                "port {} ({}): tx {} rx {} rx-missed {} rx-nombuf {} tx-errors {}",
                p["role"].as_str().unwrap_or("?"),
                p["device"].as_str().unwrap_or("?"),
                g("tx_packets"),
                g("rx_packets"),
                g("rx_missed"),
                g("rx_nombuf"),
                g("tx_errors"),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_macs_and_devices_parse() {
        assert_eq!(parse_rate("1.5M"), Ok(1.5e6));
        assert_eq!(parse_rate("250k"), Ok(250e3));
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        for bad in ["0", "-5", "fast", "1e11", "NaNk"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mac("02:fe:00:00:01:0a"), Ok([2, 0xfe, 0, 0, 1, 10]));
        assert!(parse_mac("02:fe:00:00:01").is_err());
        assert!(matches!(device("0000:03:00.0"), Device::Pci(_)));
        assert!(matches!(device("03:00.1"), Device::Pci(_)));
        assert!(matches!(device("net_ring0"), Device::Vdev(_)));
        assert!(matches!(device("net_memif0,role=client,socket=/run/a:b.sock"), Device::Vdev(_)));
    }
}
