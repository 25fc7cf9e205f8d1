//! Text (ASA style) and JSON renderings of a [`Snapshot`].
//!
//! Only values present in the snapshot are printed: a line whose value the appliance does
//! not report is left out rather than filled with a guess.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::model::{Direction, InterfaceSnap, SaSnap, Snapshot, WorkerSnap};

/// `show interface`: one block per interface, then the per-worker counters.
pub fn interfaces(snap: &Snapshot) -> String {
    let mut out = String::new();
    for ifc in &snap.interfaces {
        interface_block(&mut out, ifc);
    }
    if snap.interfaces.is_empty() {
        out.push_str("No interfaces\n");
    }
    out.push('\n');
    workers_table(&mut out, &snap.workers);
    out
}

/// `show counters`: the workers' counters and the drops not charged to one SA or worker.
pub fn counters(snap: &Snapshot) -> String {
    let mut out = format!("Instance {}, uptime {}\n\n", snap.instance, uptime(snap.uptime_s));
    workers_table(&mut out, &snap.workers);
    out.push_str("\nGlobal drops:\n");
    if snap.drops.is_empty() {
        out.push_str("  none\n");
    } else {
        let width = snap.drops.keys().map(String::len).max().unwrap_or(0);
        for (reason, n) in &snap.drops {
            let _ = writeln!(out, "  {reason:<width$}  {n:>12}");
        }
    }
    out
}

/// `show crypto ipsec sa [detail]`.
pub fn ipsec_sa(snap: &Snapshot, detail: bool) -> String {
    if snap.sas.is_empty() {
        return "There are no ipsec sas\n".to_string();
    }
    let mut out = String::new();
    for (interface, groups) in group_sas(&snap.sas) {
        let _ = writeln!(out, "interface: {interface}");
        let media_mtu = snap.interfaces.iter().find(|i| i.name == interface).map(|i| i.mtu);
        for group in groups {
            tunnel_block(&mut out, &group, media_mtu, detail);
        }
    }
    out
}

/// `show interface --json`: the interfaces, pretty-printed.
pub fn interfaces_json(snap: &Snapshot) -> String {
    pretty(&snap.interfaces)
}

/// `show crypto ipsec sa --json`: the SAs, pretty-printed.
pub fn ipsec_sa_json(snap: &Snapshot) -> String {
    pretty(&snap.sas)
}

/// What `show counters --json` prints.
#[derive(Debug, Serialize)]
pub struct CountersJson<'a> {
    /// The instance name.
    pub instance: &'a str,
    /// Seconds since start.
    pub uptime_s: f64,
    /// The workers' counters.
    pub workers: &'a [WorkerSnap],
    /// The global drops.
    pub drops: &'a BTreeMap<String, u64>,
}

/// `show counters --json`.
pub fn counters_json(snap: &Snapshot) -> String {
    pretty(&CountersJson {
        instance: &snap.instance,
        uptime_s: snap.uptime_s,
        workers: &snap.workers,
        drops: &snap.drops,
    })
}

fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing plain data with string keys cannot fail; a non-finite float becomes null.
    let mut s =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":{e:?}}}"));
    s.push('\n');
    s
}

fn interface_block(out: &mut String, ifc: &InterfaceSnap) {
    let link = if ifc.link_up { "up" } else { "down" };
    let _ = writeln!(out, "Interface {} \"{}\", link is {link}", ifc.name, ifc.role);
    let _ = write!(out, "  Hardware is {}, port {}, device {}", ifc.driver, ifc.port, ifc.device);
    if ifc.speed_mbps > 0 {
        let _ = write!(out, ", BW {} Mbps", ifc.speed_mbps);
    }
    out.push('\n');
    let _ = writeln!(out, "\tMAC address {}, MTU {}", ifc.mac, ifc.mtu);
    if let Some(vlan) = ifc.vlan {
        let _ = writeln!(out, "\tVLAN identifier {vlan}");
    }
    if ifc.addresses.is_empty() {
        out.push_str("\tIP address unassigned\n");
    }
    for a in &ifc.addresses {
        let _ = writeln!(out, "\tIP address {a}");
    }
    let _ = writeln!(
        out,
        "\t{} packets input, {} bytes, {} no buffer",
        ifc.rx_packets, ifc.rx_bytes, ifc.rx_nombuf
    );
    let _ = writeln!(out, "\t{} input errors, {} missed", ifc.rx_errors, ifc.rx_missed);
    let _ = writeln!(out, "\t{} packets output, {} bytes", ifc.tx_packets, ifc.tx_bytes);
    let _ = writeln!(out, "\t{} output errors", ifc.tx_errors);
}

/// A table with one row per counter name and one column per worker, plus a total.
fn workers_table(out: &mut String, workers: &[WorkerSnap]) {
    out.push_str("Worker counters:\n");
    if workers.is_empty() {
        out.push_str("  no workers\n");
        return;
    }
    let mut names: Vec<&str> =
        workers.iter().flat_map(|w| w.counters.keys()).map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let headers: Vec<String> =
        workers.iter().map(|w| format!("w{} (lcore {})", w.worker, w.lcore)).collect();
    let name_w = names.iter().map(|n| n.len()).max().unwrap_or(0).max("counter".len());
    let col_w: Vec<usize> = headers
        .iter()
        .zip(workers)
        .map(|(h, w)| w.counters.values().map(|v| digits(*v)).max().unwrap_or(1).max(h.len()))
        .collect();
    let totals: Vec<u64> = names
        .iter()
        .map(|n| {
            workers
                .iter()
                .filter_map(|w| w.counters.get(*n))
                .fold(0u64, |a, v| a.saturating_add(*v))
        })
        .collect();
    let total_w = totals.iter().map(|v| digits(*v)).max().unwrap_or(1).max("total".len());

    let _ = write!(out, "  {:<name_w$}", "counter");
    for (h, w) in headers.iter().zip(&col_w) {
        let _ = write!(out, "  {h:>w$}");
    }
    let _ = writeln!(out, "  {:>total_w$}", "total");
    for (name, total) in names.iter().zip(&totals) {
        let _ = write!(out, "  {name:<name_w$}");
        for (worker, w) in workers.iter().zip(&col_w) {
            match worker.counters.get(*name) {
                Some(v) => {
                    let _ = write!(out, "  {v:>w$}");
                }
                None => {
                    let _ = write!(out, "  {:>w$}", "-");
                }
            }
        }
        let _ = writeln!(out, "  {total:>total_w$}");
    }
}

fn digits(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn uptime(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "unknown".to_string();
    }
    // Truncation to whole seconds is what the display wants.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = secs as u64;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 { format!("{d}d {h:02}:{m:02}:{s:02}") } else { format!("{h:02}:{m:02}:{s:02}") }
}

/// The SAs of one crypto-map entry and selector pair, as the ASA groups them.
struct Group<'a> {
    tunnel: &'a str,
    local: &'a str,
    remote: &'a str,
    local_ident: Option<&'a str>,
    remote_ident: Option<&'a str>,
    inbound: Vec<&'a SaSnap>,
    outbound: Vec<&'a SaSnap>,
}

/// Groups by interface, then by tunnel, peer and selectors, keeping first-seen order.
fn group_sas(sas: &[SaSnap]) -> Vec<(&str, Vec<Group<'_>>)> {
    let mut by_if: Vec<(&str, Vec<Group<'_>>)> = Vec::new();
    for sa in sas {
        let idx = match by_if.iter().position(|(i, _)| *i == sa.interface) {
            Some(i) => i,
            None => {
                by_if.push((&sa.interface, Vec::new()));
                by_if.len() - 1
            }
        };
        let groups = &mut by_if[idx].1;
        let key = (
            sa.tunnel.as_str(),
            sa.local.as_str(),
            sa.remote.as_str(),
            sa.local_ident.as_deref(),
            sa.remote_ident.as_deref(),
        );
        let gi = match groups
            .iter()
            .position(|g| (g.tunnel, g.local, g.remote, g.local_ident, g.remote_ident) == key)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    tunnel: key.0,
                    local: key.1,
                    remote: key.2,
                    local_ident: key.3,
                    remote_ident: key.4,
                    inbound: Vec::new(),
                    outbound: Vec::new(),
                });
                groups.len() - 1
            }
        };
        match sa.direction {
            Direction::Inbound => groups[gi].inbound.push(sa),
            Direction::Outbound => groups[gi].outbound.push(sa),
        }
    }
    by_if
}

/// Sum of one drop reason over SAs.
fn drop_sum(sas: &[&SaSnap], reason: &str) -> u64 {
    sas.iter().filter_map(|s| s.drops.get(reason)).fold(0u64, |a, v| a.saturating_add(*v))
}

fn all_drops(sas: &[&SaSnap]) -> u64 {
    sas.iter().flat_map(|s| s.drops.values()).fold(0u64, |a, v| a.saturating_add(*v))
}

fn packets(sas: &[&SaSnap]) -> u64 {
    sas.iter().fold(0u64, |a, s| a.saturating_add(s.packets))
}

fn tunnel_block(out: &mut String, g: &Group<'_>, media_mtu: Option<u16>, detail: bool) {
    let _ = writeln!(out, "    Crypto map tag: {}, local addr: {}", g.tunnel, g.local);
    out.push('\n');
    if let Some(id) = g.local_ident {
        let _ = writeln!(out, "      local ident {}", ident(id));
    }
    if let Some(id) = g.remote_ident {
        let _ = writeln!(out, "      remote ident {}", ident(id));
    }
    let _ = writeln!(out, "      current_peer: {}", g.remote);
    out.push('\n');

    let (enc, dec) = (packets(&g.outbound), packets(&g.inbound));
    let (inb, outb) = (&g.inbound[..], &g.outbound[..]);
    let _ = writeln!(out, "      #pkts encaps: {enc}, #pkts encrypt: {enc}, #pkts digest: {enc}");
    let _ = writeln!(out, "      #pkts decaps: {dec}, #pkts decrypt: {dec}, #pkts verify: {dec}");
    let _ = writeln!(
        out,
        "      #pkts invalid len (rcv): {}, #pkts invalid pad (rcv): {}",
        drop_sum(inb, "malformed"),
        drop_sum(inb, "bad-padding")
    );
    let _ = writeln!(
        out,
        "      #pkts verify failed: {}, #pkts replay failed (rcv): {}",
        drop_sum(inb, "auth-failed"),
        drop_sum(inb, "replay")
    );
    let _ = writeln!(
        out,
        "      #pkts replay rollover (send): {}",
        drop_sum(outb, "sequence-overflow")
    );
    let _ = writeln!(
        out,
        "      #pkts internal err (send): {}, #pkts internal err (rcv): {}",
        drop_sum(outb, "crypto-error"),
        drop_sum(inb, "crypto-error")
    );
    let _ =
        writeln!(out, "      #send errors: {}, #recv errors: {}", all_drops(outb), all_drops(inb));
    // Single-SA mode only: a duplicate SA the peer kept using (the ASA's `show asp drop`
    // reason); absent when there is none.
    let overlap = drop_sum(inb, "vpn-overlap-conflict");
    if overlap > 0 {
        let _ = writeln!(out, "      #pkts vpn-overlap-conflict (rcv): {overlap}");
    }
    out.push('\n');

    // The current SA of each direction is the newest: the last one listed.
    let cur_out = g.outbound.last();
    let cur_in = g.inbound.last();
    if let Some(sa) = cur_out.or(cur_in) {
        match udp_ports(&sa.encap) {
            Some((l, r)) => {
                let _ = writeln!(
                    out,
                    "      local crypto endpt.: {}/{l}, remote crypto endpt.: {}/{r}",
                    g.local, g.remote
                );
            }
            None if sa.encap == "esp" => {
                let _ = writeln!(
                    out,
                    "      local crypto endpt.: {}/0, remote crypto endpt.: {}/0",
                    g.local, g.remote
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "      local crypto endpt.: {}, remote crypto endpt.: {}",
                    g.local, g.remote
                );
            }
        }
    }
    match (cur_out.map(|s| s.path_mtu), media_mtu) {
        (Some(p), Some(m)) => {
            let _ = writeln!(out, "      path mtu {p}, media mtu {m}");
        }
        (Some(p), None) => {
            let _ = writeln!(out, "      path mtu {p}");
        }
        (None, Some(m)) => {
            let _ = writeln!(out, "      media mtu {m}");
        }
        (None, None) => {}
    }
    if let Some(sa) = cur_out {
        let _ = writeln!(out, "      current outbound spi: 0x{:08X}", sa.spi);
    }
    if let Some(sa) = cur_in {
        let _ = writeln!(out, "      current inbound spi : 0x{:08X}", sa.spi);
    }
    out.push('\n');
    if !g.inbound.is_empty() {
        out.push_str("    inbound esp sas:\n");
        for sa in &g.inbound {
            sa_block(out, sa, detail);
        }
    }
    if !g.outbound.is_empty() {
        out.push_str("    outbound esp sas:\n");
        for sa in &g.outbound {
            sa_block(out, sa, detail);
        }
    }
    out.push('\n');
}

fn sa_block(out: &mut String, sa: &SaSnap, detail: bool) {
    let _ = writeln!(out, "      spi: 0x{:08X} ({})", sa.spi, sa.spi);
    let _ = writeln!(out, "         transform: {}", sa.transform);
    let mode = match sa.mode.as_str() {
        "tunnel" => "Tunnel",
        "transport" => "Transport",
        other => other,
    };
    let mut settings = format!("L2L, {mode}, ");
    if sa.encap.starts_with("udp") {
        settings.push_str("NAT-T-Encaps, ");
    }
    if sa.esn {
        settings.push_str("ESN, ");
    }
    let _ = writeln!(out, "         in use settings ={{{settings}}}");
    match (sa.lifetime_remaining_kb, sa.lifetime_remaining_s) {
        (Some(kb), Some(s)) => {
            let _ =
                writeln!(out, "         sa timing: remaining key lifetime (kB/sec): ({kb}/{s})");
        }
        (Some(kb), None) => {
            let _ = writeln!(out, "         sa timing: remaining key lifetime (kB): {kb}");
        }
        (None, Some(s)) => {
            let _ = writeln!(out, "         sa timing: remaining key lifetime (sec): {s}");
        }
        (None, None) => {}
    }
    if sa.replay_window > 0 {
        let _ = writeln!(out, "         replay detection support: Y");
        let _ = writeln!(out, "         replay window size: {}", sa.replay_window);
    } else {
        let _ = writeln!(out, "         replay detection support: N");
    }
    if detail {
        let _ = writeln!(out, "         encapsulation: {}", sa.encap);
        let seq_label = match sa.direction {
            Direction::Outbound => "last sequence number sent",
            Direction::Inbound => "highest sequence number received",
        };
        let _ = writeln!(out, "         packets: {}, bytes: {}", sa.packets, sa.bytes);
        let _ = writeln!(out, "         {seq_label}: {}", sa.seq);
        if sa.drops.is_empty() {
            out.push_str("         drops: none\n");
        } else {
            out.push_str("         drops:\n");
            for (reason, n) in &sa.drops {
                let _ = writeln!(out, "           {reason}: {n}");
            }
        }
    }
}

/// `udp 4500->4500` → the two ports.
fn udp_ports(encap: &str) -> Option<(u16, u16)> {
    let rest = encap.strip_prefix("udp")?.trim();
    let (l, r) = rest.split_once("->")?;
    Some((l.trim().parse().ok()?, r.trim().parse().ok()?))
}

/// An IPv4 prefix as the ASA writes it, `(addr/mask): (10.1.0.0/255.255.0.0)`; anything
/// else (IPv6, ranges) as given.
fn ident(sel: &str) -> String {
    let v4 = sel.split_once('/').and_then(|(a, l)| {
        let addr: Ipv4Addr = a.parse().ok()?;
        let len: u32 = l.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0);
        (len <= 32).then(|| format!("(addr/mask): ({addr}/{})", Ipv4Addr::from(mask)))
    });
    v4.unwrap_or_else(|| format!("(addr/prefix): ({sel})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(direction: Direction, spi: u32) -> SaSnap {
        SaSnap {
            tunnel: "site-b".into(),
            interface: "outside".into(),
            direction,
            spi,
            transform: "esp-aes-gcm-256 esp-null-hmac".into(),
            mode: "tunnel".into(),
            local: "192.0.2.1".into(),
            remote: "198.51.100.2".into(),
            encap: "udp 4500->4500".into(),
            esn: false,
            replay_window: 1024,
            local_ident: Some("10.1.0.0/16".into()),
            remote_ident: Some("10.2.0.0/16".into()),
            packets: 1000,
            bytes: 1_420_000,
            seq: 1000,
            drops: BTreeMap::new(),
            lifetime_remaining_s: Some(28_734),
            lifetime_remaining_kb: Some(4_373_999),
            path_mtu: 1500,
        }
    }

    fn snap() -> Snapshot {
        let mut inb = sa(Direction::Inbound, 0xC0DE_0001);
        inb.packets = 900;
        inb.drops = BTreeMap::from([
            ("replay".into(), 3),
            ("auth-failed".into(), 2),
            ("dummy-packet".into(), 1),
        ]);
        Snapshot {
            instance: "fg-lab".into(),
            uptime_s: 93_784.5,
            interfaces: vec![InterfaceSnap {
                name: "outside".into(),
                role: "outside".into(),
                port: 1,
                device: "0000:3b:00.1".into(),
                driver: "net_ice".into(),
                mac: "02:00:00:00:00:02".into(),
                vlan: Some(100),
                addresses: vec!["192.0.2.1/24".into()],
                mtu: 1500,
                link_up: true,
                speed_mbps: 100_000,
                rx_packets: 10,
                rx_bytes: 640,
                tx_packets: 20,
                tx_bytes: 1280,
                rx_missed: 1,
                rx_errors: 2,
                tx_errors: 3,
                rx_nombuf: 4,
            }],
            workers: vec![
                WorkerSnap {
                    worker: 0,
                    lcore: 1,
                    counters: BTreeMap::from([("rx".into(), 5), ("tx".into(), 4)]),
                },
                WorkerSnap {
                    worker: 1,
                    lcore: 2,
                    counters: BTreeMap::from([("rx".into(), 7), ("punts".into(), 1)]),
                },
            ],
            sas: vec![inb, sa(Direction::Outbound, 0x0000_BEEF)],
            drops: BTreeMap::from([("no-sa".into(), 12)]),
        }
    }

    fn has_line(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "missing line {line:?} in:\n{text}");
    }

    #[test]
    fn ipsec_sa_shows_vpn_overlap_conflict_drops_only_when_there_are_some() {
        let t = ipsec_sa(&snap(), false);
        assert!(!t.contains("vpn-overlap-conflict"), "{t}");
        let mut s = snap();
        s.sas[0].drops.insert("vpn-overlap-conflict".into(), 7);
        let t = ipsec_sa(&s, false);
        has_line(&t, "      #pkts vpn-overlap-conflict (rcv): 7");
        has_line(&t, "      #send errors: 0, #recv errors: 13");
        let j: serde_json::Value = serde_json::from_str(&ipsec_sa_json(&s)).unwrap();
        assert_eq!(j[0]["drops"]["vpn-overlap-conflict"], 7);
    }

    #[test]
    fn ipsec_sa_key_lines() {
        let t = ipsec_sa(&snap(), false);
        assert!(t.starts_with("interface: outside\n"), "{t}");
        has_line(&t, "    Crypto map tag: site-b, local addr: 192.0.2.1");
        has_line(&t, "      local ident (addr/mask): (10.1.0.0/255.255.0.0)");
        has_line(&t, "      remote ident (addr/mask): (10.2.0.0/255.255.0.0)");
        has_line(&t, "      current_peer: 198.51.100.2");
        has_line(&t, "      #pkts encaps: 1000, #pkts encrypt: 1000, #pkts digest: 1000");
        has_line(&t, "      #pkts decaps: 900, #pkts decrypt: 900, #pkts verify: 900");
        has_line(&t, "      #pkts verify failed: 2, #pkts replay failed (rcv): 3");
        has_line(&t, "      #send errors: 0, #recv errors: 6");
        has_line(
            &t,
            "      local crypto endpt.: 192.0.2.1/4500, remote crypto endpt.: 198.51.100.2/4500",
        );
        has_line(&t, "      path mtu 1500, media mtu 1500");
        has_line(&t, "      current outbound spi: 0x0000BEEF");
        has_line(&t, "      current inbound spi : 0xC0DE0001");
        has_line(&t, "    inbound esp sas:");
        has_line(&t, "      spi: 0xC0DE0001 (3235774465)");
        has_line(&t, "    outbound esp sas:");
        has_line(&t, "      spi: 0x0000BEEF (48879)");
        has_line(&t, "         in use settings ={L2L, Tunnel, NAT-T-Encaps, }");
        has_line(&t, "         sa timing: remaining key lifetime (kB/sec): (4373999/28734)");
        has_line(&t, "         replay detection support: Y");
        assert!(!t.contains("drops:"), "detail only:\n{t}");
        // The inbound block precedes the outbound one.
        assert!(t.find("inbound esp sas").unwrap() < t.find("outbound esp sas").unwrap());
    }

    #[test]
    fn ipsec_sa_detail_adds_drop_reasons() {
        let t = ipsec_sa(&snap(), true);
        has_line(&t, "           replay: 3");
        has_line(&t, "           auth-failed: 2");
        has_line(&t, "           dummy-packet: 1");
        has_line(&t, "         drops: none");
        has_line(&t, "         highest sequence number received: 1000");
        has_line(&t, "         last sequence number sent: 1000");
        has_line(&t, "         packets: 900, bytes: 1420000");
    }

    #[test]
    fn unknown_values_are_left_out() {
        let mut s = snap();
        for sa in &mut s.sas {
            sa.lifetime_remaining_kb = None;
            sa.lifetime_remaining_s = None;
            sa.local_ident = None;
            sa.remote_ident = None;
            sa.encap = "esp".into();
            sa.replay_window = 0;
            sa.esn = true;
        }
        s.interfaces.clear();
        let t = ipsec_sa(&s, false);
        assert!(!t.contains("sa timing"), "{t}");
        assert!(!t.contains("ident"), "{t}");
        assert!(!t.contains("media mtu"), "{t}");
        has_line(&t, "      path mtu 1500");
        has_line(
            &t,
            "      local crypto endpt.: 192.0.2.1/0, remote crypto endpt.: 198.51.100.2/0",
        );
        has_line(&t, "         in use settings ={L2L, Tunnel, ESN, }");
        has_line(&t, "         replay detection support: N");

        s.sas[0].lifetime_remaining_s = Some(60);
        has_line(&ipsec_sa(&s, false), "         sa timing: remaining key lifetime (sec): 60");
        s.sas.retain(|sa| sa.direction == Direction::Inbound);
        let t = ipsec_sa(&s, false);
        assert!(!t.contains("outbound spi") && !t.contains("path mtu"), "{t}");
        assert_eq!(ipsec_sa(&Snapshot { sas: vec![], ..s }, false), "There are no ipsec sas\n");
    }

    #[test]
    fn rekeyed_tunnel_shows_the_newest_sa_as_current() {
        let mut s = snap();
        let mut newer = sa(Direction::Outbound, 0x1234_5678);
        newer.packets = 5;
        s.sas.push(newer);
        let t = ipsec_sa(&s, false);
        has_line(&t, "      current outbound spi: 0x12345678");
        has_line(&t, "      #pkts encaps: 1005, #pkts encrypt: 1005, #pkts digest: 1005");
        assert_eq!(t.matches("Crypto map tag").count(), 1);
    }

    #[test]
    fn interface_block_lines() {
        let t = interfaces(&snap());
        has_line(&t, "Interface outside \"outside\", link is up");
        has_line(&t, "  Hardware is net_ice, port 1, device 0000:3b:00.1, BW 100000 Mbps");
        has_line(&t, "\tMAC address 02:00:00:00:00:02, MTU 1500");
        has_line(&t, "\tVLAN identifier 100");
        has_line(&t, "\tIP address 192.0.2.1/24");
        has_line(&t, "\t10 packets input, 640 bytes, 4 no buffer");
        has_line(&t, "\t2 input errors, 1 missed");
        has_line(&t, "\t20 packets output, 1280 bytes");
        has_line(&t, "\t3 output errors");
        has_line(&t, "  counter  w0 (lcore 1)  w1 (lcore 2)  total");
        has_line(&t, "  punts               -             1      1");
        has_line(&t, "  rx                  5             7     12");
        has_line(&t, "  tx                  4             -      4");
    }

    #[test]
    fn counters_show_uptime_and_global_drops() {
        let t = counters(&snap());
        has_line(&t, "Instance fg-lab, uptime 1d 02:03:04");
        has_line(&t, "  no-sa            12");
        assert_eq!(uptime(59.9), "00:00:59");
        assert_eq!(uptime(f64::NAN), "unknown");
    }

    #[test]
    fn json_parts_round_trip() {
        let s = snap();
        let ifs: Vec<InterfaceSnap> = serde_json::from_str(&interfaces_json(&s)).unwrap();
        assert_eq!(ifs, s.interfaces);
        let sas: Vec<SaSnap> = serde_json::from_str(&ipsec_sa_json(&s)).unwrap();
        assert_eq!(sas, s.sas);
        let c: serde_json::Value = serde_json::from_str(&counters_json(&s)).unwrap();
        assert_eq!(c["drops"]["no-sa"], 12);
        assert_eq!(c["workers"][1]["counters"]["rx"], 7);
    }

    #[test]
    fn idents() {
        assert_eq!(ident("0.0.0.0/0"), "(addr/mask): (0.0.0.0/0.0.0.0)");
        assert_eq!(ident("10.0.0.1/32"), "(addr/mask): (10.0.0.1/255.255.255.255)");
        assert_eq!(ident("2001:db8::/32"), "(addr/prefix): (2001:db8::/32)");
        assert_eq!(ident("10.0.0.0/33"), "(addr/prefix): (10.0.0.0/33)");
        assert_eq!(udp_ports("udp 4500->4500"), Some((4500, 4500)));
        assert_eq!(udp_ports("udp 4500 -> 31000"), Some((4500, 31000)));
        assert_eq!(udp_ports("esp"), None);
    }
}
