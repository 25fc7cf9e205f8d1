//! Appliance profiles: the TOML files in `dpdk-config/` that say how to start DPDK.
//!
//! ```toml
//! [eal]
//! file_prefix = "fg-lab"      # required: distinct per running appliance
//! main_core = 0               # the control thread's core
//! worker_cores = [1]          # forwarding lcores, one pinned thread per core
//! memory_mb = 256
//! hugepages = "auto"          # "always" | "never" (--no-huge) | "auto"
//!
//! [[port]]                    # port ids follow the order of [[port]] tables
//! vdev = "net_ring0"          # or: pci = "0000:03:00.0"
//! ```
//!
//! Every error names the file, the line and column, and the field (as a path such as
//! `port[1].rx_queues`).
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// Largest lcore id DPDK 22.11 builds support (`RTE_MAX_LCORE`).
pub const MAX_LCORE: u32 = 128;
/// Largest RX burst (matches [`crate::dpdk::BURST_MAX`]).
pub const MAX_BURST: u16 = 64;
/// Headroom in front of each mbuf's data (`RTE_PKTMBUF_HEADROOM`).
pub const MBUF_HEADROOM: u16 = 128;
/// Ethernet header, one VLAN tag and FCS on top of the MTU.
const L2_OVERHEAD: u16 = 14 + 4 + 4;

/// How the EAL gets its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Hugepages {
    /// Use hugepages if enough free 2 MB pages are reserved, else `--no-huge` with a warning.
    #[default]
    Auto,
    /// Use hugepages; fail if there are not enough.
    Always,
    /// Plain memory (`--no-huge`): slower, but needs no setup.
    Never,
}

/// Which device a port is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// A virtual device, with its arguments: `net_pcap0,rx_pcap=in.pcap`.
    Vdev(String),
    /// A PCI device bound to vfio-pci: `0000:03:00.0`.
    Pci(String),
}

impl Device {
    /// The name DPDK registers the port under (what precedes the first comma).
    pub fn port_name(&self) -> &str {
        match self {
            Device::Vdev(s) | Device::Pci(s) => s.split(',').next().unwrap_or(s),
        }
    }
}

/// EAL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalSettings {
    /// `--file-prefix`.
    pub file_prefix: String,
    /// The main lcore's core.
    pub main_core: u32,
    /// Worker lcores' cores (may be empty: the main lcore then forwards).
    pub worker_cores: Vec<u32>,
    /// The CPU each lcore (main first, then the workers) runs on; empty: lcore N on CPU N.
    /// Several lcores on one CPU let a small lab machine run more workers than it has CPUs
    /// (they then share it: for tests, not for throughput).
    pub cpus: Vec<u32>,
    /// Memory to reserve, MB.
    pub memory_mb: u32,
    /// Hugepage use.
    pub hugepages: Hugepages,
    /// Leave no files behind (`--in-memory` with hugepages, `--no-shconf` without).
    pub in_memory: bool,
    /// `--log-level`, if set.
    pub log_level: Option<String>,
    /// Extra EAL arguments, passed as they are.
    pub extra_args: Vec<String>,
}

/// Mempool settings (one pool per NUMA socket in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolSettings {
    /// Mbufs per pool.
    pub mbufs: u32,
    /// Per-lcore cache.
    pub cache: u32,
    /// Data room per mbuf, headroom included.
    pub data_room: u16,
}

/// Forwarding loop settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// RX burst size.
    pub burst: u16,
    /// Statistics print interval, ms (0: only at exit).
    pub stats_interval_ms: u64,
    /// Sleep after an empty poll round, µs (0: busy-poll). Lab profiles use it to share a
    /// small machine.
    pub idle_sleep_us: u64,
    /// Before forwarding, wait up to this long for every port's link to come up (NIC
    /// autonegotiation, a net_memif peer connecting); 0: do not wait.
    pub wait_link_up_ms: u64,
}

/// One port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSettings {
    /// A label for logs and statistics.
    pub name: String,
    /// The device.
    pub device: Device,
    /// RX queues (spread over the workers).
    pub rx_queues: u16,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// RSS across RX queues.
    pub rss: bool,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// MTU, if not the device default.
    pub mtu: Option<u16>,
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The file it came from.
    pub path: PathBuf,
    /// EAL settings.
    pub eal: EalSettings,
    /// Mempool settings.
    pub mempool: MempoolSettings,
    /// Forwarding settings.
    pub run: RunSettings,
    /// Ports, in port-id order.
    pub ports: Vec<PortSettings>,
}

/// What kind of mistake a profile has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Read,
    /// Not valid TOML.
    Syntax,
    /// A key ferrogate does not know.
    UnknownField,
    /// A required key is absent.
    MissingField,
    /// A value of the wrong type or an unknown choice.
    WrongType,
    /// A well-typed value that is not acceptable.
    InvalidValue,
}

/// A profile error: file, line, column, field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The kind of mistake.
    pub kind: ErrorKind,
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the error has no position, e.g. a read error).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field, as a path (`eal.worker_cores`, `port[1].vdev`); empty when none applies.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ProfileError {}

// ---- the file format (serde) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    eal: Spanned<RawEal>,
    #[serde(default)]
    mempool: Option<Spanned<RawMempool>>,
    #[serde(default)]
    run: Option<RawRun>,
    #[serde(default, rename = "port")]
    ports: Vec<Spanned<RawPort>>,
    // The appliance's sections (crate::appliance::config) are checked there.
    #[serde(default, rename = "interface")]
    _interface: Option<toml::Value>,
    #[serde(default, rename = "route")]
    _route: Option<toml::Value>,
    #[serde(default, rename = "neighbour")]
    _neighbour: Option<toml::Value>,
    #[serde(default, rename = "sa")]
    _sa: Option<toml::Value>,
    #[serde(default, rename = "policy")]
    _policy: Option<toml::Value>,
    #[serde(default, rename = "dataplane")]
    _dataplane: Option<toml::Value>,
    #[serde(default, rename = "operator")]
    _operator: Option<toml::Value>,
    // The crypto policy's sections (control::policy::POLICY_SECTIONS) are checked there.
    #[serde(default, rename = "ike")]
    _ike: Option<toml::Value>,
    #[serde(default, rename = "access_list")]
    _access_list: Option<toml::Value>,
    #[serde(default, rename = "ikev1_policy")]
    _ikev1_policy: Option<toml::Value>,
    #[serde(default, rename = "ikev2_policy")]
    _ikev2_policy: Option<toml::Value>,
    #[serde(default, rename = "transform_set")]
    _transform_set: Option<toml::Value>,
    #[serde(default, rename = "ipsec_proposal")]
    _ipsec_proposal: Option<toml::Value>,
    #[serde(default, rename = "crypto_map")]
    _crypto_map: Option<toml::Value>,
    #[serde(default, rename = "crypto_interface")]
    _crypto_interface: Option<toml::Value>,
    #[serde(default, rename = "trustpoint")]
    _trustpoint: Option<toml::Value>,
    #[serde(default, rename = "address_pool")]
    _address_pool: Option<toml::Value>,
    #[serde(default, rename = "tunnel_group")]
    _tunnel_group: Option<toml::Value>,
    #[serde(default, rename = "user")]
    _user: Option<toml::Value>,
    #[serde(default, rename = "ha")]
    _ha: Option<toml::Value>,
    #[serde(default, rename = "cluster")]
    _cluster: Option<toml::Value>,
    #[serde(default, rename = "management")]
    _management: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEal {
    file_prefix: Spanned<String>,
    main_core: Option<Spanned<u32>>,
    worker_cores: Option<Spanned<Vec<u32>>>,
    cpus: Option<Spanned<Vec<u32>>>,
    memory_mb: Option<Spanned<u32>>,
    hugepages: Option<Hugepages>,
    in_memory: Option<bool>,
    log_level: Option<String>,
    extra_args: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMempool {
    mbufs: Option<Spanned<u32>>,
    cache: Option<Spanned<u32>>,
    data_room: Option<Spanned<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    burst: Option<Spanned<u16>>,
    stats_interval_ms: Option<u64>,
    idle_sleep_us: Option<u64>,
    wait_link_up_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Option<String>,
    vdev: Option<Spanned<String>>,
    pci: Option<Spanned<String>>,
    rx_queues: Option<Spanned<u16>>,
    rx_desc: Option<u16>,
    tx_desc: Option<u16>,
    rss: Option<bool>,
    promiscuous: Option<bool>,
    mtu: Option<Spanned<u16>>,
}

impl Profile {
    /// Reads and validates a profile file. `${PROFILE_DIR}` in vdev arguments becomes the
    /// file's directory, so a profile can name files that lie beside it.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            kind: ErrorKind::Read,
            file: path.to_owned(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Validates profile text; `path` names it in errors and anchors `${PROFILE_DIR}`.
    pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let ctx = Ctx { file: path, text };
        let raw: RawProfile = ctx.deserialize(text)?;
        ctx.validate(raw)
    }

    /// Lcores that forward packets: the workers, or the main lcore when there are none.
    pub fn forwarding_cores(&self) -> Vec<u32> {
        if self.eal.worker_cores.is_empty() {
            vec![self.eal.main_core]
        } else {
            self.eal.worker_cores.clone()
        }
    }

    /// The EAL command line for this profile, given whether hugepages will be used.
    pub fn eal_args(&self, use_hugepages: bool) -> Vec<String> {
        let e = &self.eal;
        let mut cores = vec![e.main_core];
        cores.extend(&e.worker_cores);
        let (flag, list) = if e.cpus.is_empty() {
            let l: Vec<String> = cores.iter().map(u32::to_string).collect();
            ("-l", l.join(","))
        } else {
            let l: Vec<String> =
                cores.iter().zip(&e.cpus).map(|(l, c)| format!("{l}@{c}")).collect();
            ("--lcores", l.join(","))
        };
        let mut a = vec![
            flag.to_owned(),
            list,
            "--main-lcore".to_owned(),
            e.main_core.to_string(),
            "--file-prefix".to_owned(),
            e.file_prefix.clone(),
            "-m".to_owned(),
            e.memory_mb.to_string(),
            "--no-telemetry".to_owned(),
        ];
        match (use_hugepages, e.in_memory) {
            (true, true) => a.push("--in-memory".to_owned()),
            (true, false) => a.push("--huge-unlink".to_owned()),
            (false, _) => a.extend(["--no-huge".to_owned(), "--no-shconf".to_owned()]),
        }
        let mut any_pci = false;
        for p in &self.ports {
            match &p.device {
                Device::Vdev(v) => a.extend(["--vdev".to_owned(), v.clone()]),
                Device::Pci(addr) => {
                    any_pci = true;
                    a.extend(["-a".to_owned(), addr.clone()]);
                }
            }
        }
        if !any_pci {
            a.push("--no-pci".to_owned());
        }
        if let Some(l) = &e.log_level {
            a.extend(["--log-level".to_owned(), l.clone()]);
        }
        a.extend(e.extra_args.iter().cloned());
        a
    }

    /// Mbufs the ports and lcores can hold at once: the pool must be larger.
    pub fn mbufs_needed(&self) -> u64 {
        let lcores = self.forwarding_cores().len() as u64;
        let rings: u64 = self
            .ports
            .iter()
            .map(|p| u64::from(p.rx_queues) * u64::from(p.rx_desc) + lcores * u64::from(p.tx_desc))
            .sum();
        rings + (lcores + 1) * (u64::from(self.mempool.cache) + u64::from(MAX_BURST) * 2)
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        span: Option<Range<usize>>,
        field: &str,
        msg: String,
    ) -> ProfileError {
        let (line, column) = span.map_or((1, 1), |s| line_col(self.text, s.start));
        ProfileError {
            kind,
            file: self.file.to_owned(),
            line,
            column,
            field: field.to_owned(),
            message: msg,
        }
    }

    pub(crate) fn invalid(
        &self,
        span: Range<usize>,
        field: &str,
        msg: impl Into<String>,
    ) -> ProfileError {
        self.error(ErrorKind::InvalidValue, Some(span), field, msg.into())
    }

    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        text: &str,
    ) -> Result<T, ProfileError> {
        // Syntax first: a syntax error has no field.
        if let Err(e) = text.parse::<toml::Table>() {
            return Err(self.error(ErrorKind::Syntax, e.span(), "", e.message().trim().to_owned()));
        }
        let de = toml::Deserializer::parse(text).map_err(|e| {
            self.error(ErrorKind::Syntax, e.span(), "", e.message().trim().to_owned())
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = field_path(e.path());
            let inner = e.into_inner();
            let message = inner.message().trim().to_owned();
            let (kind, field) = if let Some(name) = quoted_after(&message, "unknown field `") {
                (ErrorKind::UnknownField, join_field(&path, name))
            } else if let Some(name) = quoted_after(&message, "missing field `") {
                (ErrorKind::MissingField, join_field(&path, name))
            } else {
                (ErrorKind::WrongType, path)
            };
            self.error(kind, inner.span(), &field, message)
        })
    }

    fn validate(&self, raw: RawProfile) -> Result<Profile, ProfileError> {
        let eal_span = raw.eal.span();
        let raw_interfaces = raw._interface;
        let e = raw.eal.into_inner();

        let prefix = e.file_prefix;
        let p = prefix.get_ref();
        if p.is_empty()
            || p.len() > 32
            || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.invalid(
                prefix.span(),
                "eal.file_prefix",
                "must be 1 to 32 characters of A-Z, a-z, 0-9, '-' or '_'",
            ));
        }

        let main_core = e.main_core.as_ref().map_or(0, |c| *c.get_ref());
        if let Some(c) = &e.main_core
            && *c.get_ref() >= MAX_LCORE
        {
            return Err(self.invalid(
                c.span(),
                "eal.main_core",
                format!("must be below {MAX_LCORE}"),
            ));
        }
        let worker_cores = match e.worker_cores {
            None => Vec::new(),
            Some(w) => {
                let span = w.span();
                let cores = w.into_inner();
                let mut seen = Vec::with_capacity(cores.len());
                for &c in &cores {
                    let msg = if c >= MAX_LCORE {
                        Some(format!("core {c} is not below {MAX_LCORE}"))
                    } else if c == main_core {
                        Some(format!("core {c} is the main core"))
                    } else if seen.contains(&c) {
                        Some(format!("core {c} is listed twice"))
                    } else {
                        None
                    };
                    if let Some(msg) = msg {
                        return Err(self.invalid(span, "eal.worker_cores", msg));
                    }
                    seen.push(c);
                }
                cores
            }
        };
        let cpus = match e.cpus {
            None => Vec::new(),
            Some(c) => {
                let n = 1 + worker_cores.len();
                let list = c.get_ref();
                if list.len() != n {
                    return Err(self.invalid(
                        c.span(),
                        "eal.cpus",
                        format!(
                            "{} CPU(s) for {n} lcore(s): give one per lcore, the main one first",
                            list.len()
                        ),
                    ));
                }
                if let Some(bad) = list.iter().find(|&&x| x >= MAX_LCORE) {
                    return Err(self.invalid(
                        c.span(),
                        "eal.cpus",
                        format!("CPU {bad} is not below {MAX_LCORE}"),
                    ));
                }
                c.into_inner()
            }
        };
        let memory_mb = match e.memory_mb {
            None => 256,
            Some(m) if *m.get_ref() < 16 => {
                return Err(self.invalid(m.span(), "eal.memory_mb", "must be at least 16"));
            }
            Some(m) => m.into_inner(),
        };

        let mempool = match raw.mempool {
            None => MempoolSettings { mbufs: 8191, cache: 256, data_room: 2176 },
            Some(mp) => {
                let mp = mp.into_inner();
                let mbufs = mp.mbufs.map_or(8191, Spanned::into_inner);
                let cache = match mp.cache {
                    Some(c) if *c.get_ref() > 512 => {
                        return Err(self.invalid(c.span(), "mempool.cache", "must be at most 512"));
                    }
                    Some(c) => c.into_inner(),
                    None => 256,
                };
                let data_room = match mp.data_room {
                    Some(d) if *d.get_ref() < MBUF_HEADROOM + 64 => {
                        return Err(self.invalid(
                            d.span(),
                            "mempool.data_room",
                            format!(
                                "must be at least {} (headroom + a minimum frame)",
                                MBUF_HEADROOM + 64
                            ),
                        ));
                    }
                    Some(d) => d.into_inner(),
                    None => 2176,
                };
                MempoolSettings { mbufs, cache, data_room }
            }
        };

        let run = match raw.run {
            None => RunSettings {
                burst: 32,
                stats_interval_ms: 1000,
                idle_sleep_us: 0,
                wait_link_up_ms: 0,
            },
            Some(r) => {
                let burst = match r.burst {
                    Some(b) if *b.get_ref() == 0 || *b.get_ref() > MAX_BURST => {
                        return Err(self.invalid(
                            b.span(),
                            "run.burst",
                            format!("must be 1 to {MAX_BURST}"),
                        ));
                    }
                    Some(b) => b.into_inner(),
                    None => 32,
                };
                RunSettings {
                    burst,
                    stats_interval_ms: r.stats_interval_ms.unwrap_or(1000),
                    idle_sleep_us: r.idle_sleep_us.unwrap_or(0),
                    wait_link_up_ms: r.wait_link_up_ms.unwrap_or(0),
                }
            }
        };

        if raw.ports.is_empty() {
            return Err(self.invalid(eal_span, "port", "the profile has no [[port]] table"));
        }
        let mut ports = Vec::with_capacity(raw.ports.len());
        let mut last_span = eal_span.clone();
        for (i, sp) in raw.ports.into_iter().enumerate() {
            let span = sp.span();
            last_span = span.clone();
            let p = sp.into_inner();
            let field = |f: &str| format!("port[{i}].{f}");
            let device = match (p.vdev, p.pci) {
                (Some(_), Some(pci)) => {
                    return Err(self.invalid(
                        pci.span(),
                        &field("pci"),
                        "give either vdev or pci, not both",
                    ));
                }
                (None, None) => {
                    return Err(self.invalid(
                        span,
                        &format!("port[{i}]"),
                        "needs a vdev or a pci address",
                    ));
                }
                (Some(v), None) => {
                    let vs = v.get_ref();
                    let driver = vs.split(',').next().unwrap_or("");
                    if !(driver.starts_with("net_") || driver.starts_with("eth_"))
                        || driver.len() <= 4
                    {
                        return Err(self.invalid(
                            v.span(),
                            &field("vdev"),
                            format!(
                                "{driver:?} is not an ethdev vdev name (net_ring0, net_pcap0, ...)"
                            ),
                        ));
                    }
                    let dir = self
                        .file
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    Device::Vdev(vs.replace("${PROFILE_DIR}", &dir.to_string_lossy()))
                }
                (None, Some(pci)) => {
                    if !is_pci_address(pci.get_ref()) {
                        return Err(self.invalid(
                            pci.span(),
                            &field("pci"),
                            format!("{:?} is not a PCI address (0000:03:00.0)", pci.get_ref()),
                        ));
                    }
                    Device::Pci(pci.into_inner())
                }
            };
            for (name, other) in ports.iter().map(|q: &PortSettings| (q.device.port_name(), q)) {
                if name == device.port_name() {
                    return Err(self.invalid(
                        span,
                        &format!("port[{i}]"),
                        format!("device {name} is already port {:?}", other.name),
                    ));
                }
            }
            let rx_queues = match p.rx_queues {
                Some(q) if *q.get_ref() == 0 || *q.get_ref() > 64 => {
                    return Err(self.invalid(q.span(), &field("rx_queues"), "must be 1 to 64"));
                }
                Some(q) => q.into_inner(),
                None => u16::try_from(worker_cores.len().max(1)).unwrap_or(1),
            };
            if let Some(m) = &p.mtu {
                let max = mempool.data_room.saturating_sub(MBUF_HEADROOM + L2_OVERHEAD);
                if *m.get_ref() < 68 || *m.get_ref() > max {
                    return Err(self.invalid(
                        m.span(),
                        &field("mtu"),
                        format!("must be 68 to {max} (mempool.data_room - headroom - L2 overhead)"),
                    ));
                }
            }
            ports.push(PortSettings {
                name: p.name.unwrap_or_else(|| format!("port{i}")),
                device,
                rx_queues,
                rx_desc: p.rx_desc.unwrap_or(1024),
                tx_desc: p.tx_desc.unwrap_or(1024),
                rss: p.rss.unwrap_or(true),
                promiscuous: p.promiscuous.unwrap_or(true),
                mtu: p.mtu.map(Spanned::into_inner),
            });
        }
        // The appliance ([[interface]] tables) routes between any number of ports.
        if ports.len() % 2 != 0 && raw_interfaces.is_none() {
            return Err(self.invalid(
                last_span,
                "port",
                format!("ports are forwarded in pairs (0<->1, 2<->3, ...): {} is odd", ports.len()),
            ));
        }

        let profile = Profile {
            path: self.file.to_owned(),
            eal: EalSettings {
                file_prefix: prefix.into_inner(),
                main_core,
                worker_cores,
                cpus,
                memory_mb,
                hugepages: e.hugepages.unwrap_or_default(),
                in_memory: e.in_memory.unwrap_or(true),
                log_level: e.log_level,
                extra_args: e.extra_args.unwrap_or_default(),
            },
            mempool,
            run,
            ports,
        };
        let need = profile.mbufs_needed();
        if u64::from(profile.mempool.mbufs) <= need {
            return Err(self.error(
                ErrorKind::InvalidValue,
                Some(eal_span),
                "mempool.mbufs",
                format!(
                    "{} mbufs cannot fill the descriptor rings and caches: need more than {need}",
                    profile.mempool.mbufs
                ),
            ));
        }
        Ok(profile)
    }
}

/// 1-based line and column (in characters) of a byte offset, for error messages.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `eal.worker_cores`, `port[1].vdev` from serde_path_to_error's path.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // toml::Spanned wraps each value in a private one-field struct.
            Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn join_field(path: &str, name: &str) -> String {
    // serde_path_to_error already includes an unknown key in the path.
    if path.is_empty() {
        name.to_owned()
    } else if path.ends_with(name) {
        path.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The text between `prefix` and the next backquote.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// `DDDD:BB:DD.F` or `BB:DD.F`, hexadecimal.
fn is_pci_address(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (dom, bus, devfn) = match parts.as_slice() {
        [d, b, df] => (Some(*d), *b, *df),
        [b, df] => (None, *b, *df),
        _ => return false,
    };
    let Some((dev, func)) = devfn.split_once('.') else { return false };
    dom.is_none_or(|d| hex(d, 4)) && hex(bus, 2) && hex(dev, 2) && hex(func, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "dpdk-config/t.toml";
    const GOOD: &str = "[eal]\nfile_prefix = \"t\"\n[[port]]\nvdev = \"net_ring0\"\n[[port]]\nvdev = \"net_ring1\"\n";

    fn err(text: &str) -> ProfileError {
        Profile::parse(Path::new(FILE), text).unwrap_err()
    }

    fn check(text: &str, kind: ErrorKind, line: usize, field: &str, display: &str) {
        let e = err(text);
        assert_eq!(e.kind, kind, "{e}");
        assert_eq!(e.line, line, "{e}");
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.to_string(), display);
    }

    #[test]
    fn unreadable_file_is_a_read_error() {
        let e = Profile::load(Path::new("/nonexistent/ferrogate.toml")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Read);
        assert_eq!(
            e.to_string(),
            "/nonexistent/ferrogate.toml: cannot read: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn bad_toml_is_a_syntax_error_with_position() {
        check(
            "[eal\nfile_prefix = \"x\"\n",
            ErrorKind::Syntax,
            1,
            "",
            "dpdk-config/t.toml:1:5: unclosed table, expected `]`",
        );
    }

    #[test]
    fn unknown_key_names_the_field_and_the_known_ones() {
        check(
            "[eal]\nfile_prefix = \"x\"\nbogus = 1\n",
            ErrorKind::UnknownField,
            3,
            "eal.bogus",
            "dpdk-config/t.toml:3:1: eal.bogus: unknown field `bogus`, expected one of \
             `file_prefix`, `main_core`, `worker_cores`, `cpus`, `memory_mb`, `hugepages`, \
             `in_memory`, `log_level`, `extra_args`",
        );
        check(
            &format!("{GOOD}speed = 3\n"),
            ErrorKind::UnknownField,
            7,
            "port[1].speed",
            "dpdk-config/t.toml:7:1: port[1].speed: unknown field `speed`, expected one of \
             `name`, `vdev`, `pci`, `rx_queues`, `rx_desc`, `tx_desc`, `rss`, `promiscuous`, `mtu`",
        );
    }

    #[test]
    fn missing_required_key_points_at_its_table() {
        check(
            "[eal]\nmain_core = 0\n",
            ErrorKind::MissingField,
            1,
            "eal.file_prefix",
            "dpdk-config/t.toml:1:1: eal.file_prefix: missing field `file_prefix`",
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        check(
            &format!("{GOOD}rx_queues = \"two\"\n"),
            ErrorKind::WrongType,
            7,
            "port[1].rx_queues",
            "dpdk-config/t.toml:7:13: port[1].rx_queues: invalid type: string \"two\", expected u16",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\nhugepages = \"sometimes\"\n",
            ErrorKind::WrongType,
            3,
            "eal.hugepages",
            "dpdk-config/t.toml:3:13: eal.hugepages: unknown variant `sometimes`, expected one of \
             `auto`, `always`, `never`",
        );
    }

    #[test]
    fn invalid_values_name_field_and_reason() {
        check(
            "[eal]\nfile_prefix = \"x\"\nworker_cores = [1, 0]\n",
            ErrorKind::InvalidValue,
            3,
            "eal.worker_cores",
            "dpdk-config/t.toml:3:16: eal.worker_cores: core 0 is the main core",
        );
        check(
            "[eal]\nfile_prefix = \"a/b\"\n",
            ErrorKind::InvalidValue,
            2,
            "eal.file_prefix",
            "dpdk-config/t.toml:2:15: eal.file_prefix: must be 1 to 32 characters of A-Z, a-z, \
             0-9, '-' or '_'",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\n[[port]]\nname = \"a\"\n",
            ErrorKind::InvalidValue,
            3,
            "port[0]",
            "dpdk-config/t.toml:3:1: port[0]: needs a vdev or a pci address",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\n[[port]]\nvdev = \"net_ring0\"\npci = \"0000:03:00.0\"\n",
            ErrorKind::InvalidValue,
            5,
            "port[0].pci",
            "dpdk-config/t.toml:5:7: port[0].pci: give either vdev or pci, not both",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\n[[port]]\npci = \"03:00\"\n",
            ErrorKind::InvalidValue,
            4,
            "port[0].pci",
            "dpdk-config/t.toml:4:7: port[0].pci: \"03:00\" is not a PCI address (0000:03:00.0)",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\n[[port]]\nvdev = \"ring0\"\n",
            ErrorKind::InvalidValue,
            4,
            "port[0].vdev",
            "dpdk-config/t.toml:4:8: port[0].vdev: \"ring0\" is not an ethdev vdev name \
             (net_ring0, net_pcap0, ...)",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\n[[port]]\nvdev = \"net_ring0\"\n",
            ErrorKind::InvalidValue,
            3,
            "port",
            "dpdk-config/t.toml:3:1: port: ports are forwarded in pairs (0<->1, 2<->3, ...): 1 is odd",
        );
        check(
            "[eal]\nfile_prefix = \"x\"\n",
            ErrorKind::InvalidValue,
            1,
            "port",
            "dpdk-config/t.toml:1:1: port: the profile has no [[port]] table",
        );
        check(
            &format!("{GOOD}[mempool]\nmbufs = 1000\n"),
            ErrorKind::InvalidValue,
            1,
            "mempool.mbufs",
            "dpdk-config/t.toml:1:1: mempool.mbufs: 1000 mbufs cannot fill the descriptor rings \
             and caches: need more than 4864",
        );
        check(
            &format!("{GOOD}[run]\nburst = 65\n"),
            ErrorKind::InvalidValue,
            8,
            "run.burst",
            "dpdk-config/t.toml:8:9: run.burst: must be 1 to 64",
        );
    }

    #[test]
    fn good_profile_gives_defaults_and_eal_arguments() {
        let p = Profile::parse(Path::new("conf/lab.toml"), GOOD).unwrap();
        assert_eq!(p.forwarding_cores(), vec![0]);
        assert_eq!(p.ports.len(), 2);
        assert_eq!(p.ports[1].name, "port1");
        assert_eq!(p.ports[0].device.port_name(), "net_ring0");
        assert_eq!(
            p.eal_args(false).join(" "),
            "-l 0 --main-lcore 0 --file-prefix t -m 256 --no-telemetry --no-huge --no-shconf \
             --vdev net_ring0 --vdev net_ring1 --no-pci"
        );
        assert!(p.eal_args(true).contains(&"--in-memory".to_owned()));
    }

    #[test]
    fn profile_dir_placeholder_becomes_the_files_directory() {
        let text = "[eal]\nfile_prefix = \"t\"\nworker_cores = [1, 2]\n[[port]]\n\
                    vdev = \"net_pcap0,rx_pcap=${PROFILE_DIR}/in.pcap\"\n[[port]]\n\
                    pci = \"0000:03:00.1\"\nrx_queues = 2\n[mempool]\nmbufs = 16383\n";
        let p = Profile::parse(Path::new("/etc/fg/p.toml"), text).unwrap();
        assert_eq!(p.ports[0].device, Device::Vdev("net_pcap0,rx_pcap=/etc/fg/in.pcap".into()));
        assert_eq!(p.ports[0].device.port_name(), "net_pcap0");
        assert_eq!(p.ports[0].rx_queues, 2, "defaults to one RX queue per worker");
        let args = p.eal_args(true).join(" ");
        assert!(args.starts_with("-l 0,1,2 --main-lcore 0 "), "{args}");
        assert!(args.contains("-a 0000:03:00.1") && !args.contains("--no-pci"), "{args}");
    }

    #[test]
    fn positions_and_pci_addresses() {
        assert_eq!(line_col("a\nbc\ndéf", 0), (1, 1));
        assert_eq!(line_col("a\nbc\ndéf", 3), (2, 2));
        assert_eq!(line_col("a\nbc\ndéf", 8), (3, 3), "columns count characters");
        assert_eq!(line_col("ab", 99), (1, 3), "offsets past the end clamp");
        for good in ["0000:03:00.0", "03:00.1", "abcd:ef:1f.7"] {
            assert!(is_pci_address(good), "{good}");
        }
        for bad in
            ["", "03:00", "0000:03:00", "0000:3:00.0", "0000:03:00.00", "00:03:00:00.0", "g0:00.0"]
        {
            assert!(!is_pci_address(bad), "{bad}");
        }
    }

    #[test]
    fn shipped_profiles_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dpdk-config");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 2, "expected the lab and bare-metal profiles in {}", dir.display());
    }
}
