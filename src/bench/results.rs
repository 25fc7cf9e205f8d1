//! What the children report, whether a run is believable, and the tables (text, Markdown,
//! JSON, and the machine-readable `ferrogate SIZE DIR Mpps=N` lines).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::traffic::{Dir, Size};

/// Below this fraction of received packets sent, a run is an error, not a number.
pub const MIN_DELIVERED: f64 = 0.5;
/// Below this fraction a run gets a warning note.
pub const WARN_DELIVERED: f64 = 0.99;
/// A worker thread that got less of its core than this shared it with other programs.
pub const BUSY_SHARE: f64 = 0.95;
/// Bytes a frame takes on the wire beyond what a capture holds: FCS (4), preamble and
/// start delimiter (8), inter-frame gap (12).
pub const L1_OVERHEAD: f64 = 24.0;

/// One child's packets over its measured interval, checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub seconds: f64,
    pub rx: u64,
    pub tx: u64,
    pub hugepages: bool,
    /// The smallest share of its lifetime a worker thread spent on a CPU (below ~0.95:
    /// other programs took its core).
    pub worker_cpu_share: Option<f64>,
    /// The child's peak resident memory, MB (plain memory: with hugepages the mbuf pool is
    /// not in it).
    pub peak_rss_mb: Option<f64>,
    /// Non-zero drop counters over the whole run (pipeline, ESP engine, TX rings).
    pub drops: BTreeMap<String, u64>,
    pub notes: Vec<String>,
    /// Why this run gives no number.
    pub error: Option<String>,
}

impl Outcome {
    /// Packets sent per second, millions.
    pub fn mpps(&self) -> Option<f64> {
        (self.error.is_none() && self.seconds > 0.0).then(|| self.tx as f64 / self.seconds / 1e6)
    }

    fn check_cpu(&mut self, v: &Value) {
        self.worker_cpu_share = v["worker_cpu_share"].as_f64();
        self.peak_rss_mb = v["peak_rss_mb"].as_f64();
        if let Some(share) = self.worker_cpu_share
            && share < BUSY_SHARE
        {
            self.notes.push(format!("worker had {:.0}% of its core: machine busy", share * 100.0));
        }
    }

    fn check_delivery(&mut self) {
        if self.rx == 0 || self.seconds <= 0.0 {
            self.error = Some("no packets received in the measured interval".into());
            return;
        }
        let delivered = self.tx as f64 / self.rx as f64;
        let top: Vec<String> = self.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if delivered < MIN_DELIVERED {
            self.error = Some(format!(
                "only {:.1}% of {} received packets sent; drops: {}",
                delivered * 100.0,
                self.rx,
                if top.is_empty() { "none counted".into() } else { top.join(" ") }
            ));
        } else if delivered < WARN_DELIVERED {
            self.notes.push(format!(
                "{:.2}% of received packets dropped ({})",
                (1.0 - delivered) * 100.0,
                top.join(" ")
            ));
        }
    }
}

fn u(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

fn port<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    v["ports"].as_array()?.iter().find(|p| p["name"] == name)
}

/// The appliance child's report (`ApplianceReport::to_json`).
pub fn appliance_outcome(v: &Value) -> Outcome {
    let m = &v["measured"];
    let mut o = Outcome {
        seconds: m["seconds"].as_f64().unwrap_or(0.0),
        rx: u(m, &["rx"]),
        tx: u(m, &["tx"]),
        hugepages: v["hugepages"].as_bool().unwrap_or(false),
        ..Outcome::default()
    };
    let mut worker_tx = 0;
    for w in v["workers"].as_array().into_iter().flatten() {
        worker_tx += u(w, &["counters", "tx"]);
        if let Some(c) = w["counters"].as_object() {
            for (k, n) in c {
                let n = n.as_u64().unwrap_or(0);
                if k.starts_with("drop_") && n > 0 {
                    *o.drops.entry(k.clone()).or_default() += n;
                }
            }
        }
        if let Some(d) = w["esp_drops"].as_object() {
            for (k, n) in d {
                *o.drops.entry(format!("esp_{k}")).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        for k in ["tx_full", "handoff_full"] {
            let n = u(w, &[k]);
            if n > 0 {
                *o.drops.entry(k.to_owned()).or_default() += n;
            }
        }
    }
    if m.is_null() {
        o.error = Some("the report has no measured interval".into());
        return o;
    }
    o.check_delivery();
    o.check_cpu(v);
    // Everything must leave by the sink: packets sent back out of the traffic port mean a
    // wrong route or a reflected frame.
    let sink_tx = port(v, "sink").map_or(0, |p| u(p, &["tx_packets"]));
    let back = port(v, "traffic").map_or(0, |p| u(p, &["tx_packets"]));
    if o.error.is_none() && (sink_tx as f64) < worker_tx as f64 * WARN_DELIVERED {
        o.error = Some(format!(
            "the sink port sent {sink_tx} of the {worker_tx} packets the workers sent \
             ({back} went back out of the traffic port)"
        ));
    }
    let nombuf = port(v, "traffic").map_or(0, |p| u(p, &["rx_nombuf"]));
    if nombuf > 0 {
        o.notes.push(format!("{nombuf} RX mbuf allocation failures"));
    }
    let events = &v["events"];
    let (punts, acquires) =
        (u(events, &["punts_ike"]) + u(events, &["punts_other"]), u(events, &["acquires"]));
    if punts + acquires > 0 {
        o.notes.push(format!("{punts} punts, {acquires} ACQUIREs"));
    }
    o
}

/// The forwarder child's result (whole run: the forwarder has no warm-up split).
pub fn forwarder_outcome(v: &Value) -> Outcome {
    let mut o = Outcome {
        seconds: v["elapsed_s"].as_f64().unwrap_or(0.0),
        rx: u(v, &["rx"]),
        tx: u(v, &["tx"]),
        hugepages: v["hugepages"].as_bool().unwrap_or(false),
        ..Outcome::default()
    };
    let dropped = u(v, &["dropped"]);
    if dropped > 0 {
        o.drops.insert("tx_full".into(), dropped);
    }
    o.check_delivery();
    o.check_cpu(v);
    o
}

/// One case's row.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub size: Size,
    pub dir: Dir,
    pub tunnels: u32,
    pub workers: u16,
    pub transform: String,
    pub replay_window: u32,
    pub pcap_packets: u64,
    /// Mean input frame (FCS excluded): plaintext for enc, ESP for dec.
    pub mean_input_frame: f64,
    pub flow_cache: usize,
    pub mpps: Option<f64>,
    /// Nanoseconds per packet per worker.
    pub ns_per_packet: Option<f64>,
    /// L2: Mpps × the mean input frame, FCS excluded.
    pub gbps: Option<f64>,
    /// L1: as `gbps` plus 4 B of FCS and 20 B of preamble and inter-frame gap per frame.
    pub l1_gbps: Option<f64>,
    pub io_mpps: Option<f64>,
    /// This case's rate as a percentage of the same case with one tunnel.
    pub vs_one_tunnel_pct: Option<f64>,
    pub appliance: Outcome,
    pub io: Option<Outcome>,
    /// Why the case did not run at all (traffic generation, a child failing).
    pub error: Option<String>,
}

impl CaseResult {
    pub fn label(&self) -> String {
        let mut s = format!("{} {} {} tun", self.size.label(), self.dir.label(), self.tunnels);
        if self.workers > 1 {
            let _ = write!(s, " {}w", self.workers);
        }
        if self.transform != super::DEFAULT_TRANSFORM {
            let _ = write!(s, " {}", self.transform);
        }
        s
    }

    /// Fills the derived figures from the outcomes.
    pub fn derive(&mut self) {
        self.mpps = self.appliance.mpps().filter(|_| self.error.is_none());
        self.ns_per_packet = self.mpps.map(|m| f64::from(self.workers) * 1e3 / m);
        self.gbps = self.mpps.map(|m| m * self.mean_input_frame * 8.0 / 1e3);
        self.l1_gbps = self.mpps.map(|m| m * (self.mean_input_frame + L1_OVERHEAD) * 8.0 / 1e3);
        self.io_mpps = self.io.as_ref().and_then(Outcome::mpps);
    }

    /// The first error of the case, if any.
    pub fn failure(&self) -> Option<&str> {
        self.error.as_deref().or(self.appliance.error.as_deref())
    }

    /// `ferrogate SIZE DIR Mpps=N`, with qualifiers for non-default settings.
    pub fn machine_line(&self, default_transform: &str) -> String {
        let mut s = format!("ferrogate {} {}", self.size.label(), self.dir.label());
        if self.tunnels != 1 {
            let _ = write!(s, " tunnels={}", self.tunnels);
        }
        if self.workers != 1 {
            let _ = write!(s, " workers={}", self.workers);
        }
        if self.transform != default_transform {
            let _ = write!(s, " transform={}", self.transform);
        }
        match (self.mpps, self.failure()) {
            (Some(m), _) => {
                let _ = write!(s, " Mpps={m:.2}");
            }
            (None, Some(e)) => {
                let short: String = e.chars().take(100).collect();
                let _ = write!(s, " ERROR={}", short.replace(char::is_whitespace, "_"));
            }
            (None, None) => s.push_str(" ERROR=no_result"),
        }
        s
    }
}

/// Fills `vs_one_tunnel_pct` from the one-tunnel row of the same size, direction and
/// workers.
pub fn compare_to_one_tunnel(rows: &mut [CaseResult]) {
    let ones: Vec<(Size, Dir, u16, f64)> = rows
        .iter()
        .filter(|r| r.tunnels == 1)
        .filter_map(|r| Some((r.size, r.dir, r.workers, r.mpps?)))
        .collect();
    for r in rows.iter_mut().filter(|r| r.tunnels != 1) {
        let base = ones.iter().find(|o| (o.0, o.1, o.2) == (r.size, r.dir, r.workers));
        r.vs_one_tunnel_pct = match (base, r.mpps) {
            (Some(b), Some(m)) if b.3 > 0.0 => Some(m / b.3 * 100.0),
            _ => None,
        };
    }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

/// Columns of the tables; the last one (notes) is free text.
const COLUMNS: usize = 9;
const HEADER: [&str; COLUMNS] = [
    "case",
    "Mpps",
    "ns/pkt",
    "Gbit/s",
    "L1 Gbit/s",
    "I/O-only Mpps",
    "vs 1 tunnel",
    "dropped",
    "notes",
];

fn cells(r: &CaseResult) -> [String; COLUMNS] {
    let dropped = if r.appliance.rx > 0 {
        format!("{:.2}%", (1.0 - r.appliance.tx as f64 / r.appliance.rx as f64).max(0.0) * 100.0)
    } else {
        "-".into()
    };
    let mut notes: Vec<String> = Vec::new();
    if let Some(e) = r.failure() {
        notes.push(format!("ERROR: {e}"));
    }
    notes.extend(r.appliance.notes.iter().cloned());
    if !r.appliance.hugepages && r.error.is_none() {
        notes.push("--no-huge".into());
    }
    if let Some(io) = &r.io {
        if let Some(e) = &io.error {
            notes.push(format!("I/O-only run: {e}"));
        }
        notes.extend(io.notes.iter().map(|n| format!("I/O-only run: {n}")));
    }
    [
        r.label(),
        opt(r.mpps, 2),
        opt(r.ns_per_packet, 1),
        opt(r.gbps, 2),
        opt(r.l1_gbps, 2),
        opt(r.io_mpps, 2),
        r.vs_one_tunnel_pct.map_or_else(|| "-".into(), |p| format!("{p:.1}%")),
        dropped,
        notes.join("; "),
    ]
}

/// The table for the terminal.
pub fn render_text(rows: &[CaseResult]) -> String {
    let all: Vec<[String; COLUMNS]> = rows.iter().map(cells).collect();
    let mut widths: [usize; COLUMNS] = HEADER.map(str::len);
    for row in &all {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, row: &[String]| {
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let last = i == COLUMNS - 1;
            let pad = if last { 0 } else { w };
            if i == 0 || last {
                let _ = write!(s, "{c:<pad$}  ");
            } else {
                let _ = write!(s, "{c:>pad$}  ");
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    };
    line(&mut s, &HEADER.map(str::to_owned));
    for row in &all {
        line(&mut s, row);
    }
    s
}

/// The table as Markdown.
pub fn render_markdown(rows: &[CaseResult]) -> String {
    let mut s = format!("| {} |\n", HEADER.join(" | "));
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        let c = cells(r);
        let _ = writeln!(s, "| {} |", c.map(|x| x.replace('|', "\\|")).join(" | "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(rx: u64, tx: u64, sink_tx: u64, drop_esp: u64) -> Value {
        json!({
            "hugepages": true,
            "measured": {"seconds": 2.0, "rx": rx, "tx": tx},
            "workers": [{"counters": {"tx": sink_tx, "drop_esp": drop_esp, "rx": rx},
                         "esp_drops": {"replay": drop_esp}, "tx_full": 0, "handoff_full": 0}],
            "ports": [{"name": "traffic", "tx_packets": 0, "rx_nombuf": 0},
                      {"name": "sink", "tx_packets": sink_tx}],
            "events": {"punts_ike": 0, "punts_other": 0, "acquires": 0},
        })
    }

    #[test]
    fn a_run_that_drops_most_packets_is_an_error() {
        let o = appliance_outcome(&report(1_000_000, 1_000, 1_000, 999_000));
        let e = o.error.as_deref().unwrap();
        assert!(e.contains("esp_replay=999000"), "{e}");
        assert_eq!(o.mpps(), None);
    }

    #[test]
    fn a_clean_run_gives_its_rate() {
        let o = appliance_outcome(&report(4_000_000, 4_000_000, 4_000_000, 0));
        assert!(o.error.is_none() && o.notes.is_empty(), "{o:?}");
        assert_eq!(o.mpps(), Some(2.0));
    }

    #[test]
    fn packets_leaving_by_the_wrong_port_are_an_error() {
        let mut v = report(4_000_000, 4_000_000, 4_000_000, 0);
        v["ports"][1]["tx_packets"] = json!(0);
        assert!(appliance_outcome(&v).error.unwrap().contains("sink port sent 0"));
    }
}
