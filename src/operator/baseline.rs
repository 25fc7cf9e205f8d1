//! `clear ... counters` without touching the dataplane: the values at the time of the clear
//! are remembered and subtracted from every later snapshot.
//!
//! The dataplane's counters have one writer each (the worker that owns them) and are read
//! lock-free by the control thread; resetting them from the control thread would race with
//! that writer. Subtracting a baseline gives the operator the same view and leaves the
//! dataplane's totals intact for anything else that reads them.

use std::collections::{BTreeMap, HashMap};

use super::model::{ClearScope, Direction, InterfaceSnap, SaSnap, Snapshot};

/// An SA's identity across snapshots.
type SaKey = (String, String, Direction, u32);

#[derive(Debug, Clone, PartialEq, Eq)]
struct SaBase {
    packets: u64,
    bytes: u64,
    drops: BTreeMap<String, u64>,
}

/// The counter values at the last clear of each scope.
#[derive(Debug, Default)]
pub struct Baselines {
    interfaces: HashMap<String, [u64; 8]>,
    workers: HashMap<u32, BTreeMap<String, u64>>,
    drops: BTreeMap<String, u64>,
    sas: HashMap<SaKey, SaBase>,
}

impl Baselines {
    /// Remembers the counters of `scope` in `snap` (raw, as the appliance reports them) as
    /// the new zero.
    pub fn clear(&mut self, scope: ClearScope, snap: &Snapshot) {
        match scope {
            ClearScope::Counters => {
                self.interfaces =
                    snap.interfaces.iter().map(|i| (i.name.clone(), if_counters(i))).collect();
                self.workers =
                    snap.workers.iter().map(|w| (w.worker, w.counters.clone())).collect();
                self.drops = snap.drops.clone();
            }
            ClearScope::IpsecSa => {
                self.sas = snap
                    .sas
                    .iter()
                    .map(|s| {
                        let base =
                            SaBase { packets: s.packets, bytes: s.bytes, drops: s.drops.clone() };
                        (sa_key(s), base)
                    })
                    .collect();
            }
        }
    }

    /// Turns a raw snapshot into the operator's view: counters since the last clear.
    /// Baselines of SAs that no longer exist are forgotten.
    pub fn apply(&mut self, snap: &mut Snapshot) {
        for ifc in &mut snap.interfaces {
            if let Some(base) = self.interfaces.get(&ifc.name) {
                for (cur, base) in if_counters_mut(ifc).into_iter().zip(base) {
                    *cur = since(*cur, *base);
                }
            }
        }
        for w in &mut snap.workers {
            if let Some(base) = self.workers.get(&w.worker) {
                subtract_map(&mut w.counters, base, false);
            }
        }
        subtract_map(&mut snap.drops, &self.drops, true);
        if !self.sas.is_empty() {
            let mut live = HashMap::with_capacity(self.sas.len());
            for sa in &mut snap.sas {
                let key = sa_key(sa);
                if let Some(base) = self.sas.remove(&key) {
                    if sa.packets < base.packets || sa.bytes < base.bytes {
                        // Reinstalled under the same SPI since the clear: all of it is new.
                        continue;
                    }
                    sa.packets = since(sa.packets, base.packets);
                    sa.bytes = since(sa.bytes, base.bytes);
                    subtract_map(&mut sa.drops, &base.drops, true);
                    live.insert(key, base);
                }
            }
            self.sas = live;
        }
    }
}

/// The count since the baseline; a counter below its baseline was reset underneath (an SA
/// reinstalled under the same SPI), so all of it is new.
fn since(cur: u64, base: u64) -> u64 {
    cur.checked_sub(base).unwrap_or(cur)
}

fn subtract_map(cur: &mut BTreeMap<String, u64>, base: &BTreeMap<String, u64>, drop_zero: bool) {
    for (name, v) in cur.iter_mut() {
        if let Some(b) = base.get(name) {
            *v = since(*v, *b);
        }
    }
    if drop_zero {
        cur.retain(|_, v| *v != 0);
    }
}

fn sa_key(sa: &SaSnap) -> SaKey {
    (sa.interface.clone(), sa.tunnel.clone(), sa.direction, sa.spi)
}

fn if_counters(i: &InterfaceSnap) -> [u64; 8] {
    [
        i.rx_packets,
        i.rx_bytes,
        i.tx_packets,
        i.tx_bytes,
        i.rx_missed,
        i.rx_errors,
        i.tx_errors,
        i.rx_nombuf,
    ]
}

fn if_counters_mut(i: &mut InterfaceSnap) -> [&mut u64; 8] {
    [
        &mut i.rx_packets,
        &mut i.rx_bytes,
        &mut i.tx_packets,
        &mut i.tx_bytes,
        &mut i.rx_missed,
        &mut i.rx_errors,
        &mut i.tx_errors,
        &mut i.rx_nombuf,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::model::WorkerSnap;

    fn snap(n: u64) -> Snapshot {
        Snapshot {
            instance: "t".into(),
            uptime_s: 1.0,
            interfaces: vec![InterfaceSnap {
                name: "outside".into(),
                role: "outside".into(),
                port: 0,
                device: "net_null0".into(),
                driver: "net_null".into(),
                mac: "02:00:00:00:00:01".into(),
                vlan: None,
                addresses: vec![],
                mtu: 1500,
                link_up: true,
                speed_mbps: 0,
                rx_packets: n,
                rx_bytes: 64 * n,
                tx_packets: n,
                tx_bytes: 64 * n,
                rx_missed: n,
                rx_errors: n,
                tx_errors: n,
                rx_nombuf: n,
            }],
            workers: vec![WorkerSnap {
                worker: 0,
                lcore: 1,
                counters: BTreeMap::from([("rx".into(), n)]),
            }],
            sas: vec![SaSnap {
                tunnel: "t1".into(),
                interface: "outside".into(),
                direction: Direction::Inbound,
                spi: 7,
                transform: "esp-aes-gcm-128".into(),
                mode: "tunnel".into(),
                local: "192.0.2.1".into(),
                remote: "192.0.2.2".into(),
                encap: "esp".into(),
                esn: false,
                replay_window: 64,
                local_ident: None,
                remote_ident: None,
                packets: n,
                bytes: 100 * n,
                seq: n,
                drops: BTreeMap::from([("replay".into(), n)]),
                lifetime_remaining_s: None,
                lifetime_remaining_kb: None,
                path_mtu: 1500,
            }],
            drops: BTreeMap::from([("no-sa".into(), n)]),
        }
    }

    #[test]
    fn nothing_cleared_changes_nothing() {
        let mut b = Baselines::default();
        let mut s = snap(10);
        b.apply(&mut s);
        assert_eq!(s, snap(10));
    }

    #[test]
    fn sa_clear_zeroes_sa_counters_only() {
        let mut b = Baselines::default();
        b.clear(ClearScope::IpsecSa, &snap(10));
        let mut s = snap(15);
        b.apply(&mut s);
        let sa = &s.sas[0];
        assert_eq!((sa.packets, sa.bytes, sa.seq), (5, 500, 15));
        assert_eq!(sa.drops, BTreeMap::from([("replay".into(), 5)]));
        assert_eq!(s.interfaces, snap(15).interfaces);
        assert_eq!(s.drops, snap(15).drops);

        // Right after the clear the drops map is empty (only non-zero entries), not zeros.
        let mut s = snap(10);
        b.apply(&mut s);
        assert!(s.sas[0].drops.is_empty());
        assert_eq!(s.sas[0].packets, 0);
    }

    #[test]
    fn counters_clear_zeroes_interfaces_workers_and_drops() {
        let mut b = Baselines::default();
        b.clear(ClearScope::Counters, &snap(10));
        let mut s = snap(12);
        b.apply(&mut s);
        let i = &s.interfaces[0];
        assert_eq!(if_counters(i), [2, 128, 2, 128, 2, 2, 2, 2]);
        assert_eq!(s.workers[0].counters["rx"], 2);
        assert_eq!(s.drops["no-sa"], 2);
        assert_eq!(s.sas, snap(12).sas);
        let mut s = snap(10);
        b.apply(&mut s);
        assert!(s.drops.is_empty());
        assert_eq!(s.workers[0].counters["rx"], 0, "worker rows stay, at zero");
    }

    #[test]
    fn a_reset_counter_counts_from_zero_and_gone_sas_are_forgotten() {
        let mut b = Baselines::default();
        b.clear(ClearScope::IpsecSa, &snap(10));
        let mut s = snap(3);
        b.apply(&mut s);
        assert_eq!(s.sas[0].packets, 3);
        assert!(b.sas.is_empty(), "the stale baseline is dropped");
        let mut s = snap(15);
        b.apply(&mut s);
        assert_eq!(s.sas[0].packets, 15);

        b.clear(ClearScope::IpsecSa, &snap(10));
        let mut empty = snap(3);
        empty.sas.clear();
        b.apply(&mut empty);
        assert!(b.sas.is_empty());
    }
}
