//! Latency percentiles through the appliance: `ferrogate gen` at a fixed low rate into a
//! ferrogate whose two ports are memif servers, one tunnel, one worker.
//!
//! The appliance child is the same as a throughput case's ([`super::case`]) with memif
//! ports instead of the capture and the sink. The generator (this binary, `gen`) connects as
//! the memif client: for enc it sends plaintext into the inside and decrypts the ESP that
//! comes out of the outside with the lab's peer SA; for dec the other way round. Its stamps
//! give one-way latency on one clock (sent and received on the same machine), percentiles
//! from its HDR histogram. On a small machine the generator shares CPU 0 with the
//! appliance's control thread, and the figures include that scheduling.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use super::case::{self, ChildSpec, Kind, MemifSockets, flow_cache_for};
use super::traffic::{Dir, Size, Written};

/// How long the generator sends, seconds.
pub const SEND_S: f64 = 3.0;
/// The appliance child's own limit: far past any latency run, in case the parent dies.
const DUT_LIMIT_S: f64 = 120.0;
/// Room in the mbufs for what encryption adds (as [`case`] sizes its pools).
const GROWTH: usize = 128;

/// One latency run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub size: Size,
    pub dir: Dir,
    pub transform: String,
    /// Packets per second the generator sent at.
    pub rate_pps: u32,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    /// Microseconds.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p99_9_us: Option<f64>,
    pub max_us: Option<f64>,
    pub error: Option<String>,
}

impl LatencyResult {
    pub fn label(&self) -> String {
        let mut s = format!("{} {}", self.size.label(), self.dir.label());
        if self.transform != super::DEFAULT_TRANSFORM {
            s.push(' ');
            s.push_str(&self.transform);
        }
        s
    }

    /// Fills the figures from `ferrogate gen --json` output.
    pub fn read_gen(&mut self, v: &Value) {
        self.sent = v["tx"]["packets"].as_u64().unwrap_or(0);
        self.received = v["rx"]["packets"].as_u64().unwrap_or(0);
        self.lost = v["rx"]["lost"].as_u64().unwrap_or(self.sent.saturating_sub(self.received));
        let l = &v["latency_ns"];
        let us = |k: &str| l[k].as_f64().map(|ns| ns / 1e3);
        self.p50_us = us("p50");
        self.p99_us = us("p99");
        self.p99_9_us = us("p99_9");
        self.max_us = us("max");
        if self.error.is_none() && (self.received == 0 || self.p50_us.is_none()) {
            self.error = Some(format!("{} of {} packets came back", self.received, self.sent));
        }
    }
}

/// The generator's `--size` for a bench size (the bench's 1420 is the IP packet).
fn gen_size(size: Size) -> &'static str {
    match size {
        Size::B64 => "64",
        Size::Imix => "imix",
        Size::Ip1420 => "1434",
    }
}

/// Runs one latency measurement in `dir`; never fails, errors go into the result.
pub fn run_one(
    size: Size,
    d: Dir,
    transform: &str,
    s: &super::Settings,
    dir: &Path,
    prefix: &str,
) -> LatencyResult {
    let (rate_pps, replay_window, burst) = (s.latency_rate, s.replay_window, s.burst);
    let mut r = LatencyResult {
        size,
        dir: d,
        transform: transform.to_owned(),
        rate_pps,
        sent: 0,
        received: 0,
        lost: 0,
        p50_us: None,
        p99_us: None,
        p99_9_us: None,
        max_us: None,
        error: None,
    };
    match measure(&mut r, replay_window, burst, dir, prefix) {
        Ok(()) => {}
        Err(e) => r.error = Some(format!("{e:#}")),
    }
    r
}

fn measure(
    r: &mut LatencyResult,
    replay_window: u32,
    burst: u16,
    dir: &Path,
    prefix: &str,
) -> anyhow::Result<()> {
    let sockets = MemifSockets { rx: dir.join("rx.sock"), tx: dir.join("tx.sock") };
    let max_plain = r.size.round().iter().copied().max().unwrap_or(64);
    let spec = ChildSpec {
        kind: Kind::Appliance,
        dir: r.dir,
        tunnels: 1,
        transform: r.transform.clone(),
        replay_window,
        traffic: Written {
            files: Vec::new(),
            packets: 0,
            bytes: 0,
            // dec receives ESP frames: room for the outer header and ESP overhead.
            max_frame: max_plain + GROWTH,
            flows: 1,
        },
        workers: 1,
        burst,
        flow_cache: flow_cache_for(1),
        warmup_s: 0.1,
        measure_s: DUT_LIMIT_S,
        file_prefix: format!("{prefix}d"),
        operator_socket: dir.join("op.sock"),
        result: dir.join("latency-dut-result.json"),
        memif: Some(sockets.clone()),
    };
    let spec_path = dir.join("latency-dut-spec.json");
    std::fs::write(&spec_path, serde_json::to_string_pretty(&spec)?)?;
    let exe = std::env::current_exe().context("finding this program")?;
    let dut_log = dir.join("latency-dut.log");
    let log = std::fs::File::create(&dut_log)?;
    let mut cmd = Command::new(&exe);
    cmd.arg("bench")
        .arg("--child")
        .arg(&spec_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if std::env::var_os("FERROGATE_LOG").is_none() {
        cmd.env("FERROGATE_LOG", "warn");
    }
    let mut dut = cmd.spawn().context("starting the appliance")?;
    let out = drive(&exe, r, &sockets, &mut dut, dir, prefix);
    stop(&mut dut);
    let v = out?;
    r.read_gen(&v);
    Ok(())
}

/// Waits for the appliance's sockets, runs the generator, returns its JSON.
fn drive(
    exe: &Path,
    r: &LatencyResult,
    sockets: &MemifSockets,
    dut: &mut Child,
    dir: &Path,
    prefix: &str,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(sockets.rx.exists() && sockets.tx.exists()) {
        if let Some(st) = dut.try_wait()? {
            bail!("the appliance exited ({st}){}", tail(&dir.join("latency-dut.log")));
        }
        if Instant::now() > deadline {
            bail!("the appliance's memif sockets did not appear within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let gen_log = dir.join("latency-gen.log");
    let stdout_path = dir.join("latency-gen.json");
    let profile = dir.join("latency-gen-profile.toml");
    std::fs::write(&profile, gen_profile(sockets, &format!("{prefix}g"))?)?;
    let mut cmd = Command::new(exe);
    cmd.arg("gen")
        .arg("--profile")
        .arg(&profile)
        .args(["--dir", r.dir.label(), "--size", gen_size(r.size), "--tunnels", "1"])
        .args(["--transform", &r.transform])
        .args(["--rate", &r.rate_pps.to_string(), "--duration", &SEND_S.to_string()])
        .args(["--drain", "0.5", "--wait-link", "20", "--progress", "0", "--json"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path)?)
        .stderr(std::fs::File::create(&gen_log)?);
    if std::env::var_os("FERROGATE_LOG").is_none() {
        cmd.env("FERROGATE_LOG", "warn");
    }
    let mut g = cmd.spawn().context("starting the generator")?;
    let deadline = Instant::now() + Duration::from_secs_f64(SEND_S + 60.0);
    let status = loop {
        if let Some(st) = g.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            // Only the generator this function started, by its handle.
            let _ = g.kill();
            let _ = g.wait();
            bail!("the generator did not finish{}", tail(&gen_log));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!("the generator failed ({status}){}", tail(&gen_log));
    }
    let text = std::fs::read_to_string(&stdout_path)?;
    serde_json::from_str(&text).with_context(|| format!("the generator's JSON{}", tail(&gen_log)))
}

/// The generator's profile: its two memif clients, and mbufs with room for a full-size
/// frame. Given on the command line instead, the generator sizes its mbufs to the frames it
/// sends, and for enc at 64 B the ESP frames coming back do not fit (they were all counted
/// as undecryptable). The generator runs on its main lcore alone, on CPU 0 beside the
/// appliance's control thread; the appliance's worker keeps CPU 1 to itself.
fn gen_profile(sockets: &MemifSockets, file_prefix: &str) -> anyhow::Result<String> {
    Ok(format!(
        "[eal]\n\
         file_prefix = \"{file_prefix}\"\n\
         main_core = 0\n\
         worker_cores = []\n\
         cpus = [0]\n\
         memory_mb = 160\n\
         hugepages = \"never\"\n\
         in_memory = true\n\
         \n\
         [mempool]\n\
         mbufs = 16383\n\
         cache = 256\n\
         data_room = 2176\n\
         \n\
         [run]\n\
         burst = 32\n\
         stats_interval_ms = 0\n\
         idle_sleep_us = 0\n\
         wait_link_up_ms = 20000\n\
         \n\
         [[port]]\n\
         name = \"gen\"\n\
         vdev = \"{}\"\n\
         rx_desc = 1024\n\
         tx_desc = 1024\n\
         \n\
         [[port]]\n\
         name = \"gen-rx\"\n\
         vdev = \"{}\"\n\
         rx_desc = 1024\n\
         tx_desc = 1024\n",
        case::memif_devargs(0, "client", &sockets.rx)?,
        case::memif_devargs(1, "client", &sockets.tx)?,
    ))
}

/// Stops the appliance child: SIGTERM (it stops cleanly and removes its DPDK files), then
/// SIGKILL if it has not exited within 20 s.
fn stop(dut: &mut Child) {
    if let Ok(Some(_)) = dut.try_wait() {
        return;
    }
    // By the pid of the child this module started.
    let _ = Command::new("kill")
        .args(["-TERM", &dut.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = dut.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = dut.kill();
    let _ = dut.wait();
}

fn tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.lines().map(str::trim).rfind(|l| !l.is_empty()) {
        Some(l) => format!(": {l}"),
        None => String::new(),
    }
}

const HEADER: [&str; 8] =
    ["case", "rate pps", "sent", "lost", "p50 µs", "p99 µs", "p99.9 µs", "notes"];

fn cells(r: &LatencyResult) -> [String; 8] {
    let us = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1}"));
    [
        r.label(),
        r.rate_pps.to_string(),
        r.sent.to_string(),
        r.lost.to_string(),
        us(r.p50_us),
        us(r.p99_us),
        us(r.p99_9_us),
        r.error.as_deref().map_or_else(String::new, |e| format!("ERROR: {e}")),
    ]
}

/// The latency table as Markdown (the last column holds errors).
pub fn render_markdown(rows: &[LatencyResult]) -> String {
    let mut s = format!("| {} |\n", HEADER.join(" | "));
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        let c = cells(r);
        s.push_str(&format!("| {} |\n", c.map(|x| x.replace('|', "\\|")).join(" | ")));
    }
    s
}

/// The latency table for the terminal.
pub fn render_text(rows: &[LatencyResult]) -> String {
    let mut s = String::new();
    let mut all: Vec<[String; 8]> = vec![HEADER.map(str::to_owned)];
    all.extend(rows.iter().map(cells));
    let mut widths = [0usize; 8];
    for row in &all {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &all {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if i == 0 || i == 7 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
            line.push_str("  ");
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_generators_json_and_renders_it() {
        let mut r = run_one_result();
        r.read_gen(&json!({
            "tx": {"packets": 30000},
            "rx": {"packets": 30000, "lost": 0},
            "latency_ns": {"p50": 12500, "p99": 40000, "p99_9": 95000, "max": 200000},
        }));
        assert_eq!((r.sent, r.received, r.lost), (30000, 30000, 0));
        assert_eq!(r.p99_9_us, Some(95.0));
        assert!(r.error.is_none());
        let md = render_markdown(std::slice::from_ref(&r));
        assert!(md.contains("| 64 enc | 10000 | 30000 | 0 | 12.5 | 40.0 | 95.0 |  |"), "{md}");
        assert!(render_text(&[r]).lines().nth(1).unwrap().starts_with("64 enc"));

        let mut none = run_one_result();
        none.read_gen(&json!({"tx": {"packets": 10}, "rx": {"packets": 0}, "latency_ns": null}));
        assert!(none.error.unwrap().contains("0 of 10"));
    }

    #[test]
    fn the_generators_profile_parses_with_room_for_esp() {
        let sockets = MemifSockets { rx: "/tmp/x/rx.sock".into(), tx: "/tmp/x/tx.sock".into() };
        let text = gen_profile(&sockets, "fgbtest").unwrap();
        let p = crate::profile::Profile::parse(Path::new("gen.toml"), &text).unwrap();
        assert_eq!(p.ports.len(), 2);
        assert!(p.eal.worker_cores.is_empty(), "the main lcore sends and receives");
        assert!(p.mempool.data_room >= 128 + 1518 + 128);
        assert!(text.contains("net_memif1,role=client,socket=/tmp/x/tx.sock,socket-abstract=no"));
        let bad = MemifSockets { rx: "/tmp/a,b".into(), tx: "/tmp/y".into() };
        assert!(gen_profile(&bad, "x").is_err(), "a comma would split the devargs");
    }

    fn run_one_result() -> LatencyResult {
        LatencyResult {
            size: Size::B64,
            dir: Dir::Enc,
            transform: super::super::DEFAULT_TRANSFORM.into(),
            rate_pps: 10_000,
            sent: 0,
            received: 0,
            lost: 0,
            p50_us: None,
            p99_us: None,
            p99_9_us: None,
            max_us: None,
            error: None,
        }
    }
}
