//! The metric families built from a [`Scrape`].
//!
//! Names follow the Prometheus conventions: a `ferrogate_` prefix, counters end in `_total`,
//! base units (seconds, bytes). Descriptive values that are not numbers (a port's driver, an
//! SA's transform) are the labels of `*_info` gauges whose value is always 1, so that the
//! counters themselves carry only the labels that identify them.
//!
//! Counters that the snapshot lists only when non-zero (per-SA drops) appear the first time
//! they count, except `replay` and `auth-failed`, which are always written so that alerts on
//! them have a series from the start.

use std::collections::BTreeMap;

use super::exposition::{Exposition, Kind};
use super::scrape::{IkeCounters, Scrape};
use crate::operator::model::{Direction, InterfaceSnap, SaSnap, Snapshot};

/// One metric family with one sample per item: name, type, help, and the value of an item.
type Column<T> = (&'static str, Kind, &'static str, fn(&T) -> u64);

/// The per-SA drop reasons always exposed, zero or not (the dataplane's names for them).
pub const ALWAYS_EXPOSED_SA_DROPS: [&str; 2] = ["replay", "auth-failed"];

/// What to expose besides the families that are always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The per-SA families (`ferrogate_ipsec_sa_*`): about ten series and 1 KB of text per
    /// SA, so a hub with 100,000 tunnels may keep only the per-tunnel gauges.
    pub per_sa: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { per_sa: true }
    }
}

/// Renders `scrape` as a complete exposition, with the default [`Options`].
pub fn render(scrape: &Scrape) -> String {
    let mut e = Exposition::new();
    render_into(&mut e, scrape, Options::default());
    e.into_string()
}

/// Appends the families of `scrape` to `e`.
pub fn render_into(e: &mut Exposition, scrape: &Scrape, options: Options) {
    let s = &scrape.snapshot;
    appliance(e, s);
    interfaces(e, &s.interfaces);
    workers(e, s);
    let mut f = e.family(
        "ferrogate_dataplane_drops_total",
        Kind::Counter,
        "Packets the dataplane dropped that no single SA accounts for, by reason.",
    );
    for (reason, n) in &s.drops {
        f.sample(&[("reason", reason)], *n);
    }
    if options.per_sa {
        sas(e, &s.sas);
    }
    tunnels(e, &s.sas);
    if let Some(ike) = &scrape.ike {
        ike_exchanges(e, ike);
    }
    if let Some(f) = &scrape.failover {
        failover(e, f);
    }
}

/// The failover pair (issue 9): role and state as labels of a 1, the rest as numbers.
fn failover(e: &mut Exposition, f: &crate::operator::failover::FailoverSnap) {
    e.family(
        "ferrogate_failover_info",
        Kind::Gauge,
        "Always 1; labels: this unit's failover role (primary, secondary) and state \
         (negotiating, active, standby).",
    )
    .sample(&[("role", &f.role), ("state", &f.state)], 1u64);
    let gauges: [(&'static str, &'static str, u64); 5] = [
        (
            "ferrogate_failover_active",
            "1 while this unit is the active one.",
            u64::from(f.state == "active"),
        ),
        (
            "ferrogate_failover_mate_up",
            "1 while the mate is heard on the failover link.",
            u64::from(f.mate_up),
        ),
        (
            "ferrogate_failover_synced",
            "1 while this standby holds a complete copy of the SAs.",
            u64::from(f.synced),
        ),
        (
            "ferrogate_failover_ike_sas",
            "IKE SAs held: the active's replicated mirror or the standby's copy.",
            f.ike_sas as u64,
        ),
        (
            "ferrogate_failover_child_sas",
            "Child SAs held: the active's replicated mirror or the standby's copy.",
            f.child_sas as u64,
        ),
    ];
    for (name, help, v) in gauges {
        e.family(name, Kind::Gauge, help).sample(&[], v);
    }
    e.family("ferrogate_failover_takeovers_total", Kind::Counter, "Times this unit became active.")
        .sample(&[], f.takeovers);
    let mut m = e.family(
        "ferrogate_failover_messages_total",
        Kind::Counter,
        "Failover link messages, by what became of them (sent, received, refused).",
    );
    m.sample(&[("outcome", "sent")], f.messages_sent);
    m.sample(&[("outcome", "received")], f.messages_received);
    m.sample(&[("outcome", "refused")], f.messages_refused);
}

fn appliance(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "ferrogate_info",
        Kind::Gauge,
        "Always 1; labels: the appliance instance (EAL file prefix) and the software version.",
    )
    .sample(&[("appliance", &s.instance), ("version", env!("CARGO_PKG_VERSION"))], 1u64);
    e.family(
        "ferrogate_uptime_seconds",
        Kind::Gauge,
        "Seconds since the appliance started forwarding.",
    )
    .sample(&[], s.uptime_s);
}

fn interfaces(e: &mut Exposition, ifs: &[InterfaceSnap]) {
    let mut f = e.family(
        "ferrogate_interface_info",
        Kind::Gauge,
        "Always 1; labels: the interface's role, DPDK port, device, driver and MAC address.",
    );
    for i in ifs {
        let port = i.port.to_string();
        f.sample(
            &[
                ("interface", &i.name),
                ("role", &i.role),
                ("port", &port),
                ("device", &i.device),
                ("driver", &i.driver),
                ("mac", &i.mac),
            ],
            1u64,
        );
    }
    use Kind::{Counter, Gauge};
    let columns: [Column<InterfaceSnap>; 11] = [
        ("ferrogate_interface_up", Gauge, "1 when the link is up.", |i| u64::from(i.link_up)),
        (
            "ferrogate_interface_speed_bytes",
            Gauge,
            "Link speed in bytes per second; 0 when unknown or down.",
            |i| u64::from(i.speed_mbps) * 125_000,
        ),
        ("ferrogate_interface_mtu_bytes", Gauge, "The IP MTU.", |i| u64::from(i.mtu)),
        ("ferrogate_interface_receive_packets_total", Counter, "Packets received.", |i| {
            i.rx_packets
        }),
        ("ferrogate_interface_receive_bytes_total", Counter, "Bytes received.", |i| i.rx_bytes),
        ("ferrogate_interface_transmit_packets_total", Counter, "Packets sent.", |i| i.tx_packets),
        ("ferrogate_interface_transmit_bytes_total", Counter, "Bytes sent.", |i| i.tx_bytes),
        ("ferrogate_interface_receive_errors_total", Counter, "Erroneous packets received.", |i| {
            i.rx_errors
        }),
        ("ferrogate_interface_transmit_errors_total", Counter, "Failed transmissions.", |i| {
            i.tx_errors
        }),
        (
            "ferrogate_interface_receive_missed_total",
            Counter,
            "Packets the NIC dropped because its receive queues were full.",
            |i| i.rx_missed,
        ),
        (
            "ferrogate_interface_receive_nombuf_total",
            Counter,
            "Receive buffer (mbuf) allocation failures.",
            |i| i.rx_nombuf,
        ),
    ];
    for (name, kind, help, get) in columns {
        let mut f = e.family(name, kind, help);
        for i in ifs {
            f.sample(&[("interface", &i.name)], get(i));
        }
    }
}

fn workers(e: &mut Exposition, s: &Snapshot) {
    let mut f = e.family(
        "ferrogate_worker_info",
        Kind::Gauge,
        "Always 1; labels: the EAL lcore each forwarding worker runs on.",
    );
    for w in &s.workers {
        f.sample(&[("worker", &w.worker.to_string()), ("lcore", &w.lcore.to_string())], 1u64);
    }
    let mut f = e.family(
        "ferrogate_worker_packets_total",
        Kind::Counter,
        "Packets each forwarding worker counted, by counter (rx, tx, punts, drop_*, ...).",
    );
    for w in &s.workers {
        let worker = w.worker.to_string();
        for (counter, n) in &w.counters {
            f.sample(&[("worker", &worker), ("counter", counter)], *n);
        }
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// The labels that identify one SA's series.
struct SaKey<'a> {
    tunnel: &'a str,
    spi: String,
    direction: &'static str,
}

impl<'a> SaKey<'a> {
    fn new(sa: &'a SaSnap) -> Self {
        SaKey {
            tunnel: &sa.tunnel,
            spi: format!("{:#010x}", sa.spi),
            direction: direction(sa.direction),
        }
    }

    fn labels(&self) -> [(&'static str, &str); 3] {
        [("tunnel", self.tunnel), ("spi", &self.spi), ("direction", self.direction)]
    }
}

fn sas(e: &mut Exposition, sas: &[SaSnap]) {
    let keys: Vec<SaKey<'_>> = sas.iter().map(SaKey::new).collect();
    let mut f = e.family(
        "ferrogate_ipsec_sa_info",
        Kind::Gauge,
        "Always 1; labels: each ESP SA's interface, transform, mode, encapsulation and endpoints.",
    );
    for (sa, k) in sas.iter().zip(&keys) {
        let [t, s, d] = k.labels();
        f.sample(
            &[
                t,
                s,
                d,
                ("interface", &sa.interface),
                ("transform", &sa.transform),
                ("mode", &sa.mode),
                ("encap", &sa.encap),
                ("local", &sa.local),
                ("remote", &sa.remote),
                ("esn", if sa.esn { "true" } else { "false" }),
            ],
            1u64,
        );
    }
    let per_sa: [Column<SaSnap>; 4] = [
        (
            "ferrogate_ipsec_sa_packets_total",
            Kind::Counter,
            "Packets the SA encapsulated, or decapsulated and verified.",
            |sa| sa.packets,
        ),
        (
            "ferrogate_ipsec_sa_bytes_total",
            Kind::Counter,
            "Bytes of the packets the SA encapsulated, or decapsulated and verified.",
            |sa| sa.bytes,
        ),
        (
            "ferrogate_ipsec_sa_sequence_number",
            Kind::Gauge,
            "Outbound: the last sequence number used; inbound: the highest authenticated one.",
            |sa| sa.seq,
        ),
        (
            "ferrogate_ipsec_sa_replay_window_packets",
            Kind::Gauge,
            "The anti-replay window; 0 when replay detection is off.",
            |sa| u64::from(sa.replay_window),
        ),
    ];
    for (name, kind, help, get) in per_sa {
        let mut f = e.family(name, kind, help);
        for (sa, k) in sas.iter().zip(&keys) {
            f.sample(&k.labels(), get(sa));
        }
    }
    let mut f = e.family(
        "ferrogate_ipsec_sa_drops_total",
        Kind::Counter,
        "Packets dropped on the SA, by reason (replay and auth-failed always present).",
    );
    for (sa, k) in sas.iter().zip(&keys) {
        let [t, s, d] = k.labels();
        for reason in ALWAYS_EXPOSED_SA_DROPS {
            let n = sa.drops.get(reason).copied().unwrap_or(0);
            f.sample(&[t, s, d, ("reason", reason)], n);
        }
        for (reason, n) in &sa.drops {
            if !ALWAYS_EXPOSED_SA_DROPS.contains(&reason.as_str()) {
                f.sample(&[t, s, d, ("reason", reason)], *n);
            }
        }
    }
    let mut f = e.family(
        "ferrogate_ipsec_sa_lifetime_remaining_seconds",
        Kind::Gauge,
        "Seconds until the SA's hard time lifetime (only SAs that have one).",
    );
    for (sa, k) in sas.iter().zip(&keys) {
        if let Some(s) = sa.lifetime_remaining_s {
            f.sample(&k.labels(), s);
        }
    }
    let mut f = e.family(
        "ferrogate_ipsec_sa_lifetime_remaining_bytes",
        Kind::Gauge,
        "Bytes until the SA's hard volume lifetime, in whole KiB (only SAs that have one).",
    );
    for (sa, k) in sas.iter().zip(&keys) {
        if let Some(kb) = sa.lifetime_remaining_kb {
            f.sample(&k.labels(), kb.saturating_mul(1024));
        }
    }
}

fn tunnels(e: &mut Exposition, sas: &[SaSnap]) {
    // (inbound, outbound) SA counts per tunnel.
    let mut by_tunnel: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for sa in sas {
        let c = by_tunnel.entry(sa.tunnel.as_str()).or_default();
        match sa.direction {
            Direction::Inbound => c.0 += 1,
            Direction::Outbound => c.1 += 1,
        }
    }
    let mut f = e.family(
        "ferrogate_ipsec_tunnel_up",
        Kind::Gauge,
        "1 when the tunnel has at least one inbound and one outbound SA.",
    );
    for (t, (i, o)) in &by_tunnel {
        f.sample(&[("tunnel", t)], *i > 0 && *o > 0);
    }
    let mut f =
        e.family("ferrogate_ipsec_tunnel_sas", Kind::Gauge, "ESP SAs installed per tunnel.");
    for (t, (i, o)) in &by_tunnel {
        f.sample(&[("tunnel", t), ("direction", "inbound")], *i);
        f.sample(&[("tunnel", t), ("direction", "outbound")], *o);
    }
}

fn ike_exchanges(e: &mut Exposition, ike: &IkeCounters) {
    let mut f = e.family(
        "ferrogate_ike_exchanges_total",
        Kind::Counter,
        "IKE exchanges by exchange type and outcome; failures carry their cause.",
    );
    let ok = |exchange| [("exchange", exchange), ("outcome", "ok")];
    f.sample(&ok("ike_sa_init"), ike.sa_init_ok);
    for (cause, n) in &ike.sa_init_fail_by_cause {
        f.sample(&[("exchange", "ike_sa_init"), ("outcome", "failed"), ("cause", cause)], *n);
    }
    f.sample(&ok("ike_auth"), ike.auth_ok);
    for (cause, n) in &ike.auth_fail_by_cause {
        f.sample(&[("exchange", "ike_auth"), ("outcome", "failed"), ("cause", cause)], *n);
    }
    f.sample(&[("exchange", "create_child_sa"), ("outcome", "rekeyed")], ike.rekeys);
    f.sample(&[("exchange", "informational"), ("outcome", "dpd_timeout")], ike.dpd_timeouts);
    let mut d = e.family(
        "ferrogate_ike_duplicates_total",
        Kind::Counter,
        "Duplicate SAs (crossing initiations, a second tunnel for the same peer and \
         selectors) found and reduced to one, by kind.",
    );
    d.sample(&[("sa", "ike")], ike.duplicate_ike_sas);
    d.sample(&[("sa", "child")], ike.duplicate_child_sas);
}
