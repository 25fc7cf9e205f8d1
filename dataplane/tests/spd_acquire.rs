//! The outbound path a worker runs for traffic without an SA: classify, ACQUIRE (rate
//! limited), hold, then release once the control plane installs the SA.

use std::net::Ipv4Addr;
use std::sync::Arc;

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::spd::{
    AcquireConfig, AcquireTable, Action, CacheConfig, Classifier, Decision, Entry, FlowKey,
    IpPrefix, PolicyId, PortsState, SaIndex, Spd,
};

const MS: u64 = 1_000_000;

/// An IPv4/UDP packet 192.168.1.10:5000 -> 10.20.0.5:53 whose payload byte is `tag`.
fn packet(tag: u8) -> VecBuf {
    let mut p = vec![0x45, 0, 0, 29, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, 10, 10, 20, 0, 5];
    p.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 9, 0, 0, tag]);
    VecBuf::from_slice(&p)
}

#[test]
fn acquire_hold_and_release_on_sa_install() {
    let policy = PolicyId(3);
    let spd = Spd::new(
        vec![Entry::new(
            IpPrefix::v4(Ipv4Addr::new(192, 168, 1, 0), 24).unwrap(),
            IpPrefix::v4(Ipv4Addr::new(10, 20, 0, 0), 16).unwrap(),
            Action::Protect(policy),
        )],
        Action::Bypass,
    )
    .unwrap();
    let mut worker = Classifier::new(Arc::new(spd), CacheConfig { entries: 64, seed: 5 }).unwrap();
    let cfg = AcquireConfig { interval_ns: 1000 * MS, queue_len: 3, policies: 16 };
    let mut acquire: AcquireTable<VecBuf> = AcquireTable::new(cfg).unwrap();

    let mut events = Vec::new();
    for tag in 0..6u8 {
        let buf = packet(tag);
        let now = u64::from(tag) * 300 * MS;
        let (key, decision) = worker.classify_packet(buf.data()).unwrap();
        assert_eq!(decision, Decision::Protect { policy, sa: None });
        assert_eq!(
            key,
            FlowKey::v4(
                Ipv4Addr::new(192, 168, 1, 10),
                Ipv4Addr::new(10, 20, 0, 5),
                17,
                PortsState::Known { src: 5000, dst: 53 }
            )
        );
        let out = acquire.on_missing_sa(policy, &key, buf, now);
        assert!(out.held);
        events.extend(out.event);
    }
    // Packets at 0, 300, ..., 1500 ms: ACQUIREs at 0 and 1200 ms only.
    assert_eq!(events.iter().map(|e| e.now_ns / MS).collect::<Vec<_>>(), vec![0, 1200]);
    assert!(events.iter().all(|e| e.policy == policy));
    let stats = acquire.stats();
    assert_eq!((stats.sent, stats.suppressed, stats.held, stats.dropped_oldest), (2, 4, 6, 3));

    // The control plane installs the SA: bind it, then send the held packets (the newest
    // three, oldest first).
    worker.bind_sa(policy, Some(SaIndex(11)));
    let released: Vec<u8> = acquire.release(policy).map(|b| b.data()[28]).collect();
    assert_eq!(released, vec![3, 4, 5]);
    let (_, decision) = worker.classify_packet(packet(9).data()).unwrap();
    assert_eq!(decision, Decision::Protect { policy, sa: Some(SaIndex(11)) });
    assert_eq!(worker.entry_hits(), &[7]);
}
