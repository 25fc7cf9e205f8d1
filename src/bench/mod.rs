//! `ferrogate bench`: ESP throughput of the appliance, with replayed traffic.
//!
//! Every case (transform × workers × size × direction × tunnels; `--matrix full` is the
//! issue's 144) writes its capture ([`traffic`]), then runs two
//! child processes of this binary (`bench --child SPEC`, [`case`]): the appliance on
//! net_pcap (`infinite_rx`) → net_null, measured from its report after a warm-up, and the
//! plain port-pair forwarder on the same capture (the I/O-only baseline). Each run is
//! checked ([`results`]): a run that drops most of its packets is an error, not a number.
//! The table goes to the terminal and, unless `--no-save`, to `benches/results/` as
//! Markdown and JSON, with SVG charts ([`plot`]) next to them; the output ends with one
//! `ferrogate SIZE DIR Mpps=N` line per case.

pub mod case;
pub mod charts;
pub mod latency;
pub mod plot;
pub mod results;
pub mod topology;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use case::{ChildSpec, Kind, flow_cache_for};
use results::{CaseResult, Outcome};
use traffic::{Dir, Plan, Size};

use crate::esp_tool::sa_file::parse_transform;

/// The default transform (the target: AES-128-GCM with a 16-byte ICV).
pub const DEFAULT_TRANSFORM: &str = "aes128gcm16";

/// `--matrix full`: the tunnel counts of the reference run.
pub const FULL_TUNNELS: [u32; 4] = [1, 1_000, 100_000, 1_000_000];
/// `--matrix full`: worker lcores.
pub const FULL_WORKERS: [u16; 2] = [1, 2];
/// `--matrix full`: AES-128-GCM, AES-256-GCM, AES-128-CBC with HMAC-SHA-256-128.
pub const FULL_TRANSFORMS: [&str; 3] = ["aes128gcm16", "aes256gcm16", "aes128-sha256"];

/// Which set of cases the dimensions not given on the command line default to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Matrix {
    /// enc,dec × 64,imix,1420 × 1 and 100,000 tunnels, one worker, AES-128-GCM.
    Default,
    /// enc,dec × 64,imix,1420 × 1/1,000/100,000/1,000,000 tunnels × 1 and 2 workers ×
    /// aes128gcm16, aes256gcm16, aes128-sha256 (144 cases).
    Full,
}

/// Arguments of `ferrogate bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// One tunnel, every size, both directions, short runs (under 2 minutes in all).
    #[arg(long, conflicts_with = "matrix")]
    pub quick: bool,
    /// The cases: `default`, or `full` (the reference run of scripts/bench.sh: 144 cases).
    /// --dir, --size, --tunnels, --workers and --transform narrow it.
    #[arg(long, value_enum, value_name = "SET")]
    pub matrix: Option<Matrix>,
    /// Directions [default: enc,dec].
    #[arg(long = "dir", value_enum, value_delimiter = ',')]
    pub dirs: Vec<Dir>,
    /// Sizes: 64 and imix (7:4:1 of 64/594/1518) are Ethernet frame lengths without the
    /// FCS, 1420 is the IPv4 packet length [default: 64,imix,1420].
    #[arg(long = "size", value_enum, value_delimiter = ',')]
    pub sizes: Vec<Size>,
    /// Tunnel counts [default: 1,100000; --quick: 1; --matrix full: 1,1000,100000,1000000].
    #[arg(long = "tunnels", value_delimiter = ',')]
    pub tunnels: Vec<u32>,
    /// Worker lcores, one or a list (each 1..=16; the main lcore 0 runs the control thread)
    /// [default: 1; --matrix full: 1,2].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=16))]
    pub workers: Vec<u16>,
    /// ESP transforms as strongSwan proposals, one or a list: aes128gcm16, aes256gcm16,
    /// aes128-sha256, ... [default: aes128gcm16; --matrix full: those three].
    #[arg(long, value_delimiter = ',')]
    pub transform: Vec<String>,
    /// Anti-replay window of the inbound SAs (0: anti-replay off).
    #[arg(long, default_value_t = 64)]
    pub replay_window: u32,
    /// RX burst size.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub burst: u16,
    /// Seconds before the measured interval [default: 1; --quick: 0.5].
    #[arg(long, value_name = "SECS")]
    pub warmup: Option<f64>,
    /// Seconds measured [default: 5; --quick: 2].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Skip the I/O-only baseline runs.
    #[arg(long)]
    pub no_baseline: bool,
    /// Do not write the tables to the results directory.
    #[arg(long)]
    pub no_save: bool,
    /// Where the Markdown and JSON tables go.
    #[arg(long, default_value = "benches/results", value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Keep the generated captures, child specs and logs (their directory is printed).
    #[arg(long)]
    pub keep_temp: bool,
    /// Do not write the SVG charts next to the tables.
    #[arg(long)]
    pub no_plots: bool,
    /// Skip the latency runs (`ferrogate gen` at --latency-rate through a ferrogate on
    /// memif, one tunnel, per direction and size; never with --quick).
    #[arg(long)]
    pub no_latency: bool,
    /// Packets per second of the latency runs.
    #[arg(long, default_value_t = 10_000, value_name = "PPS",
          value_parser = clap::value_parser!(u32).range(100..=1_000_000))]
    pub latency_rate: u32,
    /// Internal: run one case described by this JSON file (a child process).
    #[arg(long, hide = true, value_name = "SPEC")]
    pub child: Option<PathBuf>,
}

/// One case to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseKey {
    pub size: Size,
    pub dir: Dir,
    pub tunnels: u32,
    pub workers: u16,
    /// strongSwan proposal keyword, lower case.
    pub transform: String,
}

impl CaseKey {
    /// A unique name: `64-enc-1000tun-1w-aes128gcm16`.
    pub fn name(&self) -> String {
        format!(
            "{}-{}-{}tun-{}w-{}",
            self.size.label(),
            self.dir.label(),
            self.tunnels,
            self.workers,
            self.transform
        )
    }
}

/// The settings every case shares, after defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cases: Vec<CaseKey>,
    /// Latency runs: direction and size, with the first case's transform, one tunnel.
    pub latency: Vec<(Dir, Size)>,
    pub latency_rate: u32,
    pub replay_window: u32,
    pub burst: u16,
    pub warmup_s: f64,
    pub measure_s: f64,
    pub baseline: bool,
}

impl BenchArgs {
    /// The cases and settings, defaults filled in and checked.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let dirs = if self.dirs.is_empty() { vec![Dir::Enc, Dir::Dec] } else { self.dirs.clone() };
        let sizes = if self.sizes.is_empty() {
            vec![Size::B64, Size::Imix, Size::Ip1420]
        } else {
            self.sizes.clone()
        };
        let full = self.matrix == Some(Matrix::Full);
        let tunnels = match (&self.tunnels[..], self.quick, full) {
            ([], true, _) => vec![1],
            ([], false, true) => FULL_TUNNELS.to_vec(),
            ([], false, false) => vec![1, 100_000],
            (t, _, _) => t.to_vec(),
        };
        if let Some(&t) = tunnels.iter().find(|&&t| t == 0 || t > topology::MAX_TUNNELS) {
            bail!("--tunnels {t}: must be 1..={}", topology::MAX_TUNNELS);
        }
        let workers = match (&self.workers[..], full) {
            ([], true) => FULL_WORKERS.to_vec(),
            ([], false) => vec![1],
            (w, _) => w.to_vec(),
        };
        let transforms: Vec<String> = match (&self.transform[..], full) {
            ([], true) => FULL_TRANSFORMS.iter().map(|t| (*t).to_owned()).collect(),
            ([], false) => vec![DEFAULT_TRANSFORM.to_owned()],
            (t, _) => t.iter().map(|t| t.trim().to_ascii_lowercase()).collect(),
        };
        for t in &transforms {
            parse_transform(t).map_err(|e| anyhow::anyhow!("--transform {t}: {e}"))?;
        }
        let secs = |v: Option<f64>, quick: f64, full: f64, flag: &str| match v {
            None => Ok(if self.quick { quick } else { full }),
            Some(s) if s.is_finite() && s > 0.0 && s < 3600.0 => Ok(s),
            Some(_) => Err(anyhow::anyhow!("--{flag} must be a positive number of seconds")),
        };
        // Transform and workers outermost: one table section per setting, in the order the
        // charts compare them. A dimension given twice on the command line runs once.
        let mut cases: Vec<CaseKey> = Vec::new();
        for transform in &transforms {
            for &w in &workers {
                for &size in &sizes {
                    for &dir in &dirs {
                        for &t in &tunnels {
                            let key = CaseKey {
                                size,
                                dir,
                                tunnels: t,
                                workers: w,
                                transform: transform.clone(),
                            };
                            if !cases.contains(&key) {
                                cases.push(key);
                            }
                        }
                    }
                }
            }
        }
        let latency = if self.quick || self.no_latency {
            Vec::new()
        } else {
            let mut l: Vec<(Dir, Size)> = Vec::new();
            for c in &cases {
                if !l.contains(&(c.dir, c.size)) {
                    l.push((c.dir, c.size));
                }
            }
            l
        };
        Ok(Settings {
            cases,
            latency,
            latency_rate: self.latency_rate,
            replay_window: self.replay_window,
            burst: self.burst,
            warmup_s: secs(self.warmup, 0.5, 1.0, "warmup")?,
            measure_s: secs(self.duration, 2.0, 5.0, "duration")?,
            baseline: !self.no_baseline,
        })
    }
}

/// `ferrogate bench`.
pub fn main(args: &BenchArgs) -> ExitCode {
    if let Some(spec) = &args.child {
        return match case::run_child(spec) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrogate bench child: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(args) {
        Ok(rows) if rows.iter().all(|r| r.failure().is_none()) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ferrogate bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every case, prints and saves the tables; returns the rows.
pub fn run(args: &BenchArgs) -> anyhow::Result<Vec<CaseResult>> {
    let s = args.settings()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A case whose workers this machine cannot give a core each is reported as skipped;
    // when no case fits, that is a usage error.
    let too_many = |w: u16| usize::from(w) + 1 > cpus;
    if let Some(w) = s.cases.iter().map(|c| c.workers).find(|&w| too_many(w))
        && s.cases.iter().all(|c| too_many(c.workers))
    {
        bail!(
            "--workers {w} needs {} CPUs (main lcore 0 + workers 1..={w}); this machine has \
             {cpus}",
            usize::from(w) + 1,
        );
    }
    let load_before = loadavg();
    let started = Instant::now();
    let stamp = utc_stamp(SystemTime::now());
    let cpu = cpu_model();
    eprintln!(
        "ferrogate bench: {} case(s), worker(s) {}, {}, replay window {}, warm-up {}s, \
         measured {}s; {cpu}; load average before: {load_before}",
        s.cases.len(),
        list(s.cases.iter().map(|c| c.workers.to_string())),
        list(s.cases.iter().map(|c| c.transform.clone())),
        s.replay_window,
        s.warmup_s,
        s.measure_s
    );
    if load_before.split_whitespace().next().and_then(|l| l.parse::<f64>().ok()).unwrap_or(0.0)
        > 0.5
    {
        eprintln!("warning: the machine is not idle (load {load_before}): figures may be low");
    }
    let tmp = std::env::temp_dir().join(format!("ferrogate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;

    let mut rows = Vec::with_capacity(s.cases.len());
    for (i, key) in s.cases.iter().enumerate() {
        let dir = tmp.join(format!("case{i}"));
        std::fs::create_dir_all(&dir)?;
        let transform = parse_transform(&key.transform).map_err(anyhow::Error::msg)?;
        let plan = Plan {
            dir: key.dir,
            size: key.size,
            tunnels: key.tunnels,
            transform,
            replay_window: s.replay_window,
            queues: usize::from(key.workers),
        };
        let row = if too_many(key.workers) {
            let mut row = empty_row(&s, key);
            row.error = Some(format!(
                "skipped: {} worker(s) need {} CPUs, this machine has {cpus}",
                key.workers,
                usize::from(key.workers) + 1
            ));
            row
        } else {
            run_case(&s, key, &plan, &dir, i)
        };
        eprintln!(
            "[{}/{}] {}: {}",
            i + 1,
            s.cases.len(),
            row.label(),
            match (row.mpps, row.failure()) {
                (Some(m), _) => format!(
                    "{m:.3} Mpps (I/O-only {})",
                    row.io_mpps.map_or_else(|| "-".into(), |m| format!("{m:.2} Mpps"))
                ),
                (None, e) => format!("ERROR: {}", e.unwrap_or("no result")),
            }
        );
        rows.push(row);
        if !args.keep_temp {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    results::compare_to_one_tunnel(&mut rows);

    let mut lat_rows = Vec::with_capacity(s.latency.len());
    let lat_transform = s.cases.first().map_or(DEFAULT_TRANSFORM, |c| c.transform.as_str());
    for (i, &(d, size)) in s.latency.iter().enumerate() {
        let dir = tmp.join(format!("latency{i}"));
        std::fs::create_dir_all(&dir)?;
        let prefix = format!("fgb{}l{i}", std::process::id());
        let r = latency::run_one(size, d, lat_transform, &s, &dir, &prefix);
        eprintln!(
            "[latency {}/{}] {} at {} pps: {}",
            i + 1,
            s.latency.len(),
            r.label(),
            r.rate_pps,
            match (&r.error, r.p50_us, r.p99_us, r.p99_9_us) {
                (Some(e), ..) => format!("ERROR: {e}"),
                (None, Some(a), Some(b), Some(c)) => format!(
                    "p50 {a:.1} µs, p99 {b:.1} µs, p99.9 {c:.1} µs, {} of {} lost",
                    r.lost, r.sent
                ),
                _ => "no figures".into(),
            }
        );
        lat_rows.push(r);
        if !args.keep_temp {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    let notes = notes(&s, &load_before, &cpu);
    println!();
    print!("{}", results::render_text(&rows));
    for n in &notes {
        println!("  {n}");
    }
    if !lat_rows.is_empty() {
        println!();
        print!("{}", latency::render_text(&lat_rows));
        println!("  {}", latency_note(&s));
    }
    if !args.no_save {
        let md = dir_save(
            &args.out_dir,
            &stamp,
            &s,
            (&rows, &lat_rows),
            &notes,
            &load_before,
            &cpu,
            started,
        )?;
        println!("saved {md}");
        if !args.no_plots {
            let mut all = charts::charts(&rows);
            all.extend(charts::latency_charts(&lat_rows));
            for chart in all {
                let path = args.out_dir.join(format!("bench-{stamp}-{}.svg", chart.file));
                std::fs::write(&path, plot::render(&chart.chart))
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("saved {}", path.display());
            }
        }
    }
    if args.keep_temp {
        println!("captures, specs and child logs kept in {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    println!();
    for r in &rows {
        println!("{}", r.machine_line(DEFAULT_TRANSFORM));
    }
    Ok(rows)
}

/// Distinct values in first-seen order, joined with commas.
fn list(values: impl Iterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(",")
}

/// A row with no figures yet.
fn empty_row(s: &Settings, key: &CaseKey) -> CaseResult {
    CaseResult {
        size: key.size,
        dir: key.dir,
        tunnels: key.tunnels,
        workers: key.workers,
        transform: key.transform.clone(),
        replay_window: s.replay_window,
        pcap_packets: 0,
        mean_input_frame: 0.0,
        flow_cache: 0,
        mpps: None,
        ns_per_packet: None,
        gbps: None,
        l1_gbps: None,
        io_mpps: None,
        vs_one_tunnel_pct: None,
        appliance: Outcome::default(),
        io: None,
        error: None,
    }
}

/// Generates the traffic and runs both children of one case.
fn run_case(s: &Settings, key: &CaseKey, plan: &Plan, dir: &Path, index: usize) -> CaseResult {
    let mut row = empty_row(s, key);
    // The capture holds the fewest packets that reach every tunnel; with a million tunnels
    // its mbufs alone take gigabytes. Refuse a case this machine cannot hold rather than
    // push a shared machine into swapping or the OOM killer.
    let need_mb = case::memory_estimate_mb(plan);
    let have_mb = mem_available_mb();
    if let Some(have) = have_mb
        && need_mb > have * 8 / 10
    {
        row.error = Some(format!(
            "skipped: needs about {need_mb} MB of memory, {have} MB available (80% limit)"
        ));
        return row;
    }
    let t0 = Instant::now();
    let written = match traffic::generate(plan, dir) {
        Ok(w) => {
            eprintln!(
                "    {} {} {} tunnel(s): {} packets ({:.1} B mean frame) generated in {:.1}s",
                plan.size.label(),
                plan.dir.label(),
                plan.tunnels,
                w.packets,
                w.mean_frame(),
                t0.elapsed().as_secs_f64()
            );
            w
        }
        Err(e) => {
            row.error = Some(format!("generating the traffic: {e:#}"));
            return row;
        }
    };
    row.pcap_packets = written.packets;
    row.mean_input_frame = written.mean_frame();
    row.flow_cache = flow_cache_for(written.flows);
    let prefix = format!("fgb{}c{index}", std::process::id());
    let spec = ChildSpec {
        kind: Kind::Appliance,
        dir: plan.dir,
        tunnels: plan.tunnels,
        transform: key.transform.clone(),
        replay_window: s.replay_window,
        traffic: written,
        workers: key.workers,
        burst: s.burst,
        flow_cache: row.flow_cache,
        warmup_s: s.warmup_s,
        measure_s: s.measure_s,
        file_prefix: format!("{prefix}a"),
        operator_socket: dir.join("op.sock"),
        result: dir.join("appliance-result.json"),
        memif: None,
    };
    // Start-up with 1,000,000 tunnels builds 2,000,000 SAs: allow for it.
    let limit = Duration::from_secs_f64(s.warmup_s + s.measure_s + 60.0)
        + Duration::from_millis(u64::from(plan.tunnels));
    match run_child(&spec, dir, "appliance", limit) {
        Ok(v) => row.appliance = results::appliance_outcome(&v),
        Err(e) => row.error = Some(format!("{e:#}")),
    }
    if s.baseline {
        let io = ChildSpec {
            kind: Kind::Forwarder,
            file_prefix: format!("{prefix}f"),
            result: dir.join("forwarder-result.json"),
            ..spec
        };
        row.io = Some(match run_child(&io, dir, "forwarder", limit) {
            Ok(v) => results::forwarder_outcome(&v),
            Err(e) => Outcome { error: Some(format!("{e:#}")), ..Outcome::default() },
        });
    }
    row.derive();
    row
}

/// Runs one child process and returns its result JSON.
fn run_child(spec: &ChildSpec, dir: &Path, name: &str, limit: Duration) -> anyhow::Result<Value> {
    let spec_path = dir.join(format!("{name}-spec.json"));
    std::fs::write(&spec_path, serde_json::to_string_pretty(spec)?)?;
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)?;
    let exe = std::env::current_exe().context("finding this program")?;
    let mut cmd = Command::new(exe);
    cmd.arg("bench")
        .arg("--child")
        .arg(&spec_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if std::env::var_os("FERROGATE_LOG").is_none() {
        cmd.env("FERROGATE_LOG", "warn");
    }
    let _ = std::fs::remove_file(&spec.result);
    let mut child = cmd.spawn().context("starting the child process")?;
    let deadline = Instant::now() + limit;
    let t0 = Instant::now();
    let mut cpu = CpuSampler::new(child.id());
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        cpu.sample();
        if Instant::now() > deadline {
            // Only the child this function started, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            bail!("{name} run did not finish within {limit:?}{}", log_tail(&log_path));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let cpu_share = cpu.share(spec.measure_s);
    eprintln!(
        "    {name} run: {:.1}s wall, worker CPU share {}",
        t0.elapsed().as_secs_f64(),
        cpu_share.map_or_else(|| "?".into(), |s| format!("{:.0}%", s * 100.0))
    );
    if !status.success() {
        bail!("{name} run failed ({status}){}", log_tail(&log_path));
    }
    let text = std::fs::read_to_string(&spec.result)
        .with_context(|| format!("{name} run wrote no result{}", log_tail(&log_path)))?;
    let mut v: Value = serde_json::from_str(&text)?;
    v["worker_cpu_share"] = json!(cpu_share);
    v["peak_rss_mb"] = json!(cpu.peak_rss_kb.map(|kb| kb as f64 / 1024.0));
    Ok(v)
}

/// `USER_HZ`: the unit of the times in `/proc/<pid>/task/<tid>/stat` (100 on Linux x86).
const USER_HZ: f64 = 100.0;

/// Samples of the CPU time of a child's worker lcore threads (`rte-worker-*`), which
/// busy-poll while the run lasts: a share well below 1 means other programs took the
/// worker's core and the figures are low.
struct CpuSampler {
    pid: u32,
    /// `(uptime in ticks, least CPU ticks of any worker thread)`.
    samples: Vec<(f64, f64)>,
    /// The child's peak resident memory (`VmHWM`), kB: plain memory only, hugepages are
    /// not counted in it.
    peak_rss_kb: Option<u64>,
}

impl CpuSampler {
    fn new(pid: u32) -> Self {
        CpuSampler { pid, samples: Vec::new(), peak_rss_kb: None }
    }

    fn sample(&mut self) {
        if let Some(s) = self.read() {
            self.samples.push(s);
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid));
        let hwm = status.ok().and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        });
        if let Some(kb) = hwm {
            self.peak_rss_kb = Some(self.peak_rss_kb.map_or(kb, |p| p.max(kb)));
        }
    }

    fn read(&self) -> Option<(f64, f64)> {
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let mut least: Option<f64> = None;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid)).ok()?.flatten() {
            let dir = task.path();
            let is_worker = std::fs::read_to_string(dir.join("comm"))
                .is_ok_and(|c| c.starts_with("rte-worker"));
            let stat =
                if is_worker { std::fs::read_to_string(dir.join("stat")).ok() } else { None };
            // Fields after the command name (which may hold spaces): state (3), ppid (4),
            // ..., utime (14), stime (15).
            let Some((_, rest)) = stat.as_deref().and_then(|s| s.rsplit_once(')')) else {
                continue;
            };
            let f: Vec<f64> =
                rest.split_whitespace().skip(1).map_while(|x| x.parse().ok()).collect();
            if let (Some(u), Some(s)) = (f.get(10), f.get(11)) {
                least = Some(least.map_or(u + s, |l: f64| l.min(u + s)));
            }
        }
        Some((uptime * USER_HZ, least?))
    }

    /// The largest share of CPU the workers got over any `window` seconds of samples (the
    /// run itself: start-up and teardown, where they wait, give lower shares).
    fn share(&self, window: f64) -> Option<f64> {
        let w = window * USER_HZ;
        let mut best: Option<f64> = None;
        for (j, &(t1, c1)) in self.samples.iter().enumerate() {
            let Some(&(t0, c0)) = self.samples[..j].iter().find(|(t, _)| t1 - t <= w) else {
                continue;
            };
            if t1 - t0 >= 0.8 * w {
                let share = ((c1 - c0) / (t1 - t0)).clamp(0.0, 1.0);
                best = Some(best.map_or(share, |b: f64| b.max(share)));
            }
        }
        best
    }
}

/// The child's own error line (or its log's last line), for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let own = text.lines().find_map(|l| l.strip_prefix("ferrogate bench child: "));
    match own.or_else(|| lines.next_back()) {
        Some(l) => format!(": {l}"),
        None => String::new(),
    }
}

/// What the table's figures mean (printed under it and saved with it).
fn notes(s: &Settings, load: &str, cpu: &str) -> Vec<String> {
    let mut n = vec![
        format!(
            "worker lcore(s) {}, transform(s) {}, anti-replay window {}, burst {}; {cpu}; load \
             average before the run: {load}",
            list(s.cases.iter().map(|c| c.workers.to_string())),
            list(s.cases.iter().map(|c| c.transform.clone())),
            if s.replay_window == 0 { "off".into() } else { s.replay_window.to_string() },
            s.burst
        ),
        "Sizes are Ethernet frames without FCS: 64 = 64 B frame; imix = 7:4:1 of 64/594/1518 B \
         frames; 1420 = 1420 B IPv4 packet (1434 B frame). dec sends the ESP frames of the same \
         plaintext."
            .into(),
        format!(
            "Mpps = packets sent by the workers per second over {} s after a {} s warm-up; \
             ns/pkt = 1e3 / (Mpps per worker); Gbit/s = Mpps x the mean input frame (plaintext \
             for enc, ESP for dec), L2 bits without FCS; L1 Gbit/s adds the 4 B FCS and 20 B of \
             preamble and inter-frame gap per frame (the line rate a NIC would need).",
            s.measure_s, s.warmup_s
        ),
        "I/O-only = the same capture through the plain port-pair forwarder (net_pcap -> \
         net_null), whole run including its first second."
            .into(),
    ];
    if s.cases.iter().any(|c| c.tunnels > 1) {
        n.push(
            "N tunnels = N outbound + N inbound SAs + N /32 protect policies; enc has one flow \
             per packet of the capture (flow cache 4 slots per flow), dec two packets per SA \
             with sequence numbers spaced past the window, i.e. a lab sequence restart every \
             other packet (slightly pessimistic)."
                .into(),
        );
    }
    if s.cases.iter().any(|c| c.tunnels > topology::PEER_ADDRESSES) {
        n.push(format!(
            "Beyond {} tunnels peers repeat (198.18.0.0/15 holds no more): every tunnel still \
             has its own SPIs, keys and /32 policy. The capture is the smallest that reaches \
             every tunnel: one packet per tunnel for enc, two per SA for dec; a case whose \
             mbufs and SAs would not fit in 80% of the available memory is skipped.",
            topology::PEER_ADDRESSES
        ));
    }
    n
}

/// What the latency table's figures mean.
fn latency_note(s: &Settings) -> String {
    format!(
        "Latency: `ferrogate gen` sends {} pps for {} s into a ferrogate on memif (one tunnel, \
         one worker, {}) and reads what comes out of the other port (enc: decrypts the ESP with \
         the peer SA); one-way time from the generator's send stamp to its receive, on one \
         clock. The generator shares CPU 0 with the appliance's control thread.",
        s.latency_rate,
        latency::SEND_S,
        s.cases.first().map_or(DEFAULT_TRANSFORM, |c| c.transform.as_str()),
    )
}

#[allow(clippy::too_many_arguments)]
fn dir_save(
    out: &Path,
    stamp: &str,
    s: &Settings,
    (rows, lat_rows): (&[CaseResult], &[latency::LatencyResult]),
    notes: &[String],
    load: &str,
    cpu: &str,
    started: Instant,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let base = out.join(format!("bench-{stamp}"));
    let command: Vec<String> = std::env::args().collect();
    let mut md = format!("# ferrogate bench {stamp}\n\n`{}`\n\n", command.join(" "));
    md.push_str(&results::render_markdown(rows));
    md.push('\n');
    for n in notes {
        md.push_str(&format!("- {n}\n"));
    }
    if !lat_rows.is_empty() {
        md.push_str("\n## Latency\n\n");
        md.push_str(&latency::render_markdown(lat_rows));
        md.push_str(&format!("\n- {}\n", latency_note(s)));
    }
    let md_path = base.with_extension("md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    let json = json!({
        "date_utc": stamp,
        "command": command,
        "cpu": cpu,
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "load_average_before": load,
        "wall_s": started.elapsed().as_secs_f64(),
        "settings": {
            "workers": list(s.cases.iter().map(|c| c.workers.to_string())),
            "transforms": list(s.cases.iter().map(|c| c.transform.clone())),
            "replay_window": s.replay_window,
            "burst": s.burst, "warmup_s": s.warmup_s, "measure_s": s.measure_s,
        },
        "notes": notes,
        "cases": rows,
        "latency": lat_rows,
    });
    let json_path = base.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    Ok(format!("{} and {}", md_path.display(), json_path.display()))
}

/// `MemAvailable` of /proc/meminfo, MB.
fn mem_available_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim()))
        .unwrap_or("unknown CPU");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model} ({cpus} CPUs)")
}

/// `YYYYmmdd-HHMMSS` in UTC.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}
