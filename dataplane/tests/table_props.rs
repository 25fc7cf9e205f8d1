//! Property tests of the SA table against a `HashMap` model: any sequence of control
//! operations leaves the table answering every lookup (reader and control side) as the
//! model does, with allocated SPIs never reserved (0..=255) and never reused while live.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use dataplane::table::{InboundEntry, SaIndex, SaTable, TableConfig, TableError};

#[derive(Debug)]
struct In {
    spi: u32,
    version: u32,
}

impl InboundEntry for In {
    fn spi(&self) -> u32 {
        self.spi
    }
}

#[derive(Debug)]
struct Out {
    version: u32,
}

#[derive(Debug, Clone)]
enum Op {
    AllocSpi,
    /// Install an SA under the n-th reserved SPI.
    InstallReserved(usize),
    ReleaseReserved(usize),
    /// Install a static SA: an SPI near an existing one (same home slot) or arbitrary.
    InstallStatic {
        near: Option<usize>,
        spi: u32,
    },
    ReplaceIn(usize),
    DeleteIn(usize),
    InstallOut,
    RekeyOut(usize),
    DeleteOut(usize),
    Reclaim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::AllocSpi),
        4 => any::<usize>().prop_map(Op::InstallReserved),
        1 => any::<usize>().prop_map(Op::ReleaseReserved),
        3 => (proptest::option::of(any::<usize>()), any::<u32>())
            .prop_map(|(near, spi)| Op::InstallStatic { near, spi }),
        1 => any::<usize>().prop_map(Op::ReplaceIn),
        3 => any::<usize>().prop_map(Op::DeleteIn),
        3 => Just(Op::InstallOut),
        2 => any::<usize>().prop_map(Op::RekeyOut),
        2 => any::<usize>().prop_map(Op::DeleteOut),
        1 => Just(Op::Reclaim),
    ]
}

fn sorted<K: Copy + Ord, V>(m: &HashMap<K, V>) -> Vec<K> {
    let mut v: Vec<K> = m.keys().copied().collect();
    v.sort();
    v
}

const FOREIGN: usize = 8;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn table_matches_model(ops in proptest::collection::vec(op(), 1..400), seed: u64) {
        let cfg = TableConfig {
            inbound_capacity: 256,
            outbound_capacity: 256,
            foreign_capacity: FOREIGN,
            max_workers: 1,
            seed: Some(seed),
        };
        let mut t = SaTable::<In, Out>::new(cfg).unwrap();
        let mut reader = t.reader(0).unwrap();
        let mut reserved: Vec<u32> = Vec::new();
        let mut inbound: HashMap<u32, u32> = HashMap::new();
        let mut outbound: HashMap<SaIndex, u32> = HashMap::new();
        let mut dead_spis: HashSet<u32> = HashSet::new();
        let mut dead_idx: HashSet<SaIndex> = HashSet::new();
        let mut version = 0u32;
        for op in ops {
            version += 1;
            match op {
                Op::AllocSpi => match t.alloc_spi() {
                    Ok(spi) => {
                        prop_assert!(spi >= 256);
                        prop_assert!(!inbound.contains_key(&spi) && !reserved.contains(&spi));
                        reserved.push(spi);
                        dead_spis.remove(&spi);
                    }
                    Err(e) => {
                        prop_assert_eq!(e, TableError::Full);
                        prop_assert_eq!(t.inbound_len(), t.inbound_capacity());
                    }
                },
                Op::InstallReserved(i) if !reserved.is_empty() => {
                    let spi = reserved.swap_remove(i % reserved.len());
                    t.install_inbound(In { spi, version }).unwrap();
                    inbound.insert(spi, version);
                }
                Op::ReleaseReserved(i) if !reserved.is_empty() => {
                    let spi = reserved.swap_remove(i % reserved.len());
                    t.release_spi(spi).unwrap();
                    prop_assert_eq!(t.release_spi(spi), Err(TableError::UnknownSpi(spi)));
                    dead_spis.insert(spi);
                }
                Op::InstallStatic { near, spi } => {
                    let keys = sorted(&inbound);
                    let spi = match near {
                        Some(i) if !keys.is_empty() => keys[i % keys.len()] ^ (spi & !0xFF),
                        _ => spi,
                    };
                    match t.install_inbound(In { spi, version }) {
                        Ok(()) => {
                            prop_assert!(spi >= 256);
                            prop_assert!(!inbound.contains_key(&spi) && !reserved.contains(&spi));
                            inbound.insert(spi, version);
                            dead_spis.remove(&spi);
                        }
                        Err(TableError::ReservedSpi(s)) => prop_assert!(s == spi && spi < 256),
                        Err(TableError::SpiInUse(s)) => {
                            prop_assert_eq!(s, spi);
                            prop_assert!(inbound.contains_key(&spi) || reserved.contains(&spi));
                        }
                        Err(TableError::Full) => {
                            prop_assert_eq!(t.inbound_len(), t.inbound_capacity())
                        }
                        Err(TableError::ForeignIndexFull) => {
                            prop_assert_eq!(t.foreign_len(), FOREIGN)
                        }
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    }
                }
                Op::ReplaceIn(i) if !inbound.is_empty() => {
                    let keys = sorted(&inbound);
                    let spi = keys[i % keys.len()];
                    t.replace_inbound(In { spi, version }).unwrap();
                    inbound.insert(spi, version);
                }
                Op::DeleteIn(i) if !inbound.is_empty() => {
                    let keys = sorted(&inbound);
                    let spi = keys[i % keys.len()];
                    t.delete_inbound(spi).unwrap();
                    prop_assert_eq!(t.delete_inbound(spi), Err(TableError::UnknownSpi(spi)));
                    inbound.remove(&spi);
                    dead_spis.insert(spi);
                }
                Op::InstallOut => match t.install_outbound(Out { version }) {
                    Ok(idx) => {
                        prop_assert!(!outbound.contains_key(&idx) && !dead_idx.contains(&idx));
                        outbound.insert(idx, version);
                    }
                    Err(e) => {
                        prop_assert_eq!(e, TableError::Full);
                        prop_assert_eq!(outbound.len(), t.outbound_capacity());
                    }
                },
                Op::RekeyOut(i) if !outbound.is_empty() => {
                    let keys = sorted(&outbound);
                    let idx = keys[i % keys.len()];
                    t.rekey_outbound(idx, Out { version }).unwrap();
                    outbound.insert(idx, version);
                }
                Op::DeleteOut(i) if !outbound.is_empty() => {
                    let keys = sorted(&outbound);
                    let idx = keys[i % keys.len()];
                    t.delete_outbound(idx).unwrap();
                    outbound.remove(&idx);
                    dead_idx.insert(idx);
                }
                Op::Reclaim => {
                    // The only reader passes a quiescent point: all that was retired goes.
                    reader.quiescent();
                    let _ = t.reclaim();
                    prop_assert_eq!(t.pending_reclaim(), 0);
                }
                _ => {}
            }
            // Every lookup agrees with the model, on both sides.
            for (&spi, &v) in &inbound {
                prop_assert_eq!(reader.inbound(spi).map(|s| (s.spi, s.version)), Some((spi, v)));
                prop_assert_eq!(t.inbound(spi).map(|s| s.version), Some(v));
            }
            for spi in reserved.iter().chain(dead_spis.iter()) {
                prop_assert!(reader.inbound(*spi).is_none(), "spi {:#x} must miss", spi);
                prop_assert!(t.inbound(*spi).is_none());
            }
            for (&idx, &v) in &outbound {
                prop_assert_eq!(reader.outbound(idx).map(|s| s.version), Some(v));
                prop_assert_eq!(t.outbound(idx).map(|s| s.version), Some(v));
            }
            for idx in &dead_idx {
                prop_assert!(reader.outbound(*idx).is_none());
            }
            // Burst lookups agree with single ones (more than one chunk of 32).
            let probe: Vec<u32> =
                inbound.keys().chain(reserved.iter()).chain(dead_spis.iter()).copied().collect();
            let mut found = vec![None; probe.len()];
            reader.inbound_burst(&probe, &mut found);
            for (spi, f) in probe.iter().zip(&found) {
                prop_assert_eq!(f.map(|s| s.version), inbound.get(spi).copied());
            }
            let probe: Vec<SaIndex> = outbound.keys().chain(dead_idx.iter()).copied().collect();
            let mut found = vec![None; probe.len()];
            reader.outbound_burst(&probe, &mut found);
            for (idx, f) in probe.iter().zip(&found) {
                prop_assert_eq!(f.map(|s| s.version), outbound.get(idx).copied());
            }
            prop_assert_eq!(t.inbound_len(), inbound.len() + reserved.len());
            prop_assert_eq!(t.outbound_len(), outbound.len());
        }
        drop(reader);
        t.reclaim();
        prop_assert_eq!(t.pending_reclaim(), 0);
    }
}
