//! What an appliance run reports when it ends (printed, and written as JSON with
//! `ferrogate run --report-json FILE` for scripts and the benchmark driver).

use std::time::Duration;

use dataplane::pipeline::Counters;
use dataplane::sa::DropReason;
use serde_json::{Map, Value, json};

use crate::dpdk::PortStats;

/// One worker's final counters.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    pub worker: u32,
    pub lcore: u32,
    /// In the order of [`Counters::NAMES`].
    pub counters: [u64; Counters::COUNT],
    /// ESP drops not attributable to an SA, by [`DropReason::index`].
    pub esp_drops: [u64; DropReason::COUNT],
    /// Packets the TX rings refused (dropped).
    pub tx_full: u64,
    /// Frames a full handoff ring refused (dropped).
    pub handoff_full: u64,
}

impl WorkerReport {
    /// A pipeline counter by name (0 for an unknown name).
    pub fn get(&self, name: &str) -> u64 {
        Counters::NAMES.iter().position(|n| *n == name).map_or(0, |i| self.counters[i])
    }
}

/// Packets over the interval that began when the warm-up ended.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub seconds: f64,
    pub rx: u64,
    pub tx: u64,
}

/// Control-thread event counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventStats {
    pub punts_ike: u64,
    pub punts_other: u64,
    pub acquires: u64,
    pub sa_soft: u64,
    pub sa_hard: u64,
    /// IKE datagrams received and sent by the IKEv2 daemon.
    pub ike_rx: u64,
    pub ike_tx: u64,
    /// IKE datagrams that could not be sent (no mbuf, command ring full).
    pub ike_tx_dropped: u64,
    /// Child SAs installed in and removed from the dataplane.
    pub children_up: u64,
    pub children_down: u64,
    /// Child SAs the dataplane could not take.
    pub install_failed: u64,
    /// NAT keepalives the IKE daemon sent.
    pub nat_keepalives_sent: u64,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct ApplianceReport {
    pub hugepages: bool,
    pub elapsed: Duration,
    /// `(label, device, counters)` per port.
    pub ports: Vec<(String, String, PortStats)>,
    pub workers: Vec<WorkerReport>,
    pub measured: Option<Measured>,
    pub events: EventStats,
}

impl ApplianceReport {
    /// A pipeline counter summed over the workers.
    pub fn total(&self, name: &str) -> u64 {
        self.workers.iter().map(|w| w.get(name)).sum()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let workers: Vec<Value> = self
            .workers
            .iter()
            .map(|w| {
                let mut c = Map::new();
                for (n, v) in Counters::NAMES.iter().zip(w.counters) {
                    c.insert((*n).to_owned(), v.into());
                }
                let mut d = Map::new();
                for r in DropReason::ALL {
                    let v = w.esp_drops[r.index()];
                    if v != 0 {
                        d.insert(r.name().to_owned(), v.into());
                    }
                }
                json!({
                    "worker": w.worker, "lcore": w.lcore, "counters": c, "esp_drops": d,
                    "tx_full": w.tx_full, "handoff_full": w.handoff_full,
                })
            })
            .collect();
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|(label, dev, s)| {
                json!({
                    "name": label, "device": dev,
                    "rx_packets": s.rx_packets, "rx_bytes": s.rx_bytes,
                    "tx_packets": s.tx_packets, "tx_bytes": s.tx_bytes,
                    "rx_missed": s.rx_missed, "rx_errors": s.rx_errors,
                    "tx_errors": s.tx_errors, "rx_nombuf": s.rx_nombuf,
                })
            })
            .collect();
        let e = self.events;
        json!({
            "hugepages": self.hugepages,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "ports": ports,
            "workers": workers,
            "measured": self.measured.map(|m| json!({"seconds": m.seconds, "rx": m.rx, "tx": m.tx})),
            "events": {
                "punts_ike": e.punts_ike, "punts_other": e.punts_other, "acquires": e.acquires,
                "sa_soft": e.sa_soft, "sa_hard": e.sa_hard,
                "ike_rx": e.ike_rx, "ike_tx": e.ike_tx, "ike_tx_dropped": e.ike_tx_dropped,
                "children_up": e.children_up, "children_down": e.children_down,
                "install_failed": e.install_failed, "nat_keepalives_sent": e.nat_keepalives_sent,
            },
        })
    }
}
