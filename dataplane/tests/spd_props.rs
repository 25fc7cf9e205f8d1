//! Property tests of the outbound classifier against the naive linear first-match SPD.
//!
//! Rule sets and packets are drawn from a deliberately small universe of addresses, ports
//! and protocols, so that prefixes overlap, ranges nest and most packets match several
//! entries: the cases where "first match wins" and the tuple-space early exit can go wrong.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use dataplane::spd::{
    Action, CacheConfig, Classifier, Decision, Entry, FlowKey, IpPrefix, LinearSpd, PolicyId,
    PortRange, PortsState, SaIndex, Spd,
};
use dataplane::wire::IpProtocol;
use proptest::prelude::*;

/// Protocols with and without port selectors (ICMP types ride in the port fields).
const PROTOCOLS: [u8; 6] = [1, 6, 17, 50, 58, 132];

fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    (0u8..3, 0u8..3, 0u8..4).prop_map(|(b, c, d)| Ipv4Addr::new(10, b, c, d))
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    (0u16..3, 0u16..3, 0u16..4).prop_map(|(a, b, c)| Ipv6Addr::new(0x2001, 0xdb8, a, 0, 0, 0, b, c))
}

fn v4_prefix() -> impl Strategy<Value = IpPrefix> {
    (v4_addr(), prop_oneof![Just(0u8), Just(8), Just(16), Just(24), Just(32), 0u8..=32])
        .prop_map(|(a, len)| IpPrefix::v4(a, len).unwrap())
}

fn v6_prefix() -> impl Strategy<Value = IpPrefix> {
    (v6_addr(), prop_oneof![Just(0u8), Just(32), Just(48), Just(64), Just(128), 0u8..=128])
        .prop_map(|(a, len)| IpPrefix::v6(a, len).unwrap())
}

fn port_range() -> impl Strategy<Value = PortRange> {
    prop_oneof![
        2 => Just(PortRange::ANY),
        1 => (0u16..10, 0u16..4).prop_map(|(lo, w)| PortRange::new(lo, lo + w).unwrap()),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0u32..5).prop_map(|p| Action::Protect(PolicyId(p))),
        1 => Just(Action::Bypass),
        1 => Just(Action::Discard),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let addrs = prop_oneof![(v4_prefix(), v4_prefix()), (v6_prefix(), v6_prefix())];
    let proto =
        prop_oneof![2 => Just(None), 3 => prop::sample::select(&PROTOCOLS[..]).prop_map(Some)];
    (addrs, proto, port_range(), port_range(), action()).prop_map(|((s, d), p, sp, dp, a)| {
        let e = Entry::new(s, d, a);
        match p {
            None => e,
            Some(p) if matches!(p, 50) => e.with_protocol(IpProtocol::from(p)),
            Some(p) => e.with_protocol(IpProtocol::from(p)).with_ports(sp, dp),
        }
    })
}

fn ports() -> impl Strategy<Value = PortsState> {
    prop_oneof![
        5 => (0u16..14, 0u16..14).prop_map(|(src, dst)| PortsState::Known { src, dst }),
        1 => Just(PortsState::Opaque),
    ]
}

fn key() -> impl Strategy<Value = FlowKey> {
    let proto = prop::sample::select(&PROTOCOLS[..]);
    prop_oneof![
        (v4_addr(), v4_addr(), proto.clone(), ports())
            .prop_map(|(s, d, p, ports)| FlowKey::v4(s, d, p, ports)),
        (v6_addr(), v6_addr(), proto, ports())
            .prop_map(|(s, d, p, ports)| FlowKey::v6(s, d, p, ports)),
    ]
}

fn default_action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::Bypass), Just(Action::Discard), Just(Action::Protect(PolicyId(9)))]
}

/// The decision the reference gives, with `bindings` the SAs installed per policy.
fn expected(
    reference: &LinearSpd,
    bindings: &HashMap<PolicyId, SaIndex>,
    key: &FlowKey,
) -> Decision {
    match reference.action(key) {
        Action::Protect(policy) => Decision::Protect { policy, sa: bindings.get(&policy).copied() },
        Action::Bypass => Decision::Bypass,
        Action::Discard => Decision::Discard,
    }
}

/// One step of a worker's life: a packet, or a control-plane change between packets.
#[derive(Debug, Clone)]
enum Op {
    Classify(FlowKey),
    Insert(usize, Entry),
    Remove(usize),
    Bind(u32, Option<u32>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => key().prop_map(Op::Classify),
        1 => (any::<usize>(), entry()).prop_map(|(i, e)| Op::Insert(i, e)),
        1 => any::<usize>().prop_map(Op::Remove),
        1 => (0u32..6, prop::option::of(0u32..100)).prop_map(|(p, s)| Op::Bind(p, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The tuple-space search returns exactly the linear scan's first match.
    #[test]
    fn tuple_space_equals_linear_first_match(
        entries in prop::collection::vec(entry(), 0..40),
        default in default_action(),
        keys in prop::collection::vec(key(), 1..64),
    ) {
        let spd = Spd::new(entries.clone(), default).unwrap();
        let reference = LinearSpd::new(entries, default).unwrap();
        for k in &keys {
            prop_assert_eq!(spd.lookup(k), reference.lookup(k), "key {}", k);
            prop_assert_eq!(spd.action(k), reference.action(k));
        }
    }

    /// A worker's classifier (flow cache + tuple space + SA bindings) gives the reference's
    /// decision for every packet, while entries are inserted and removed and SAs bound and
    /// unbound between packets: no stale cached decision survives a change. The cache is
    /// tiny so that evictions happen too; keys repeat so that hits happen.
    #[test]
    fn classifier_never_returns_a_stale_decision(
        initial in prop::collection::vec(entry(), 0..24),
        default in default_action(),
        pool in prop::collection::vec(key(), 1..12),
        ops in prop::collection::vec(op(), 1..200),
        seed in any::<u64>(),
    ) {
        let mut entries = initial;
        let mut bindings = HashMap::new();
        let mut reference = LinearSpd::new(entries.clone(), default).unwrap();
        let spd = Arc::new(Spd::new(entries.clone(), default).unwrap());
        let mut worker = Classifier::new(spd, CacheConfig { entries: 8, seed }).unwrap();
        let mut hits = vec![0u64; entries.len()];
        let mut default_hits = 0u64;
        let mut classified = 0u64;
        for (n, op) in ops.into_iter().enumerate() {
            let policy_change = match op {
                Op::Classify(k) => {
                    // Every other packet comes from the pool, so flows repeat.
                    let k = if n % 2 == 0 { pool[n % pool.len()] } else { k };
                    prop_assert_eq!(worker.classify(&k), expected(&reference, &bindings, &k), "key {}", k);
                    match reference.lookup(&k) {
                        Some(i) => hits[i] += 1,
                        None => default_hits += 1,
                    }
                    classified += 1;
                    false
                }
                Op::Insert(i, e) => {
                    entries.insert(i % (entries.len() + 1), e);
                    true
                }
                Op::Remove(i) => {
                    if !entries.is_empty() {
                        entries.remove(i % entries.len());
                    }
                    true
                }
                Op::Bind(p, sa) => {
                    let sa = sa.map(SaIndex);
                    match sa {
                        Some(sa) => bindings.insert(PolicyId(p), sa),
                        None => bindings.remove(&PolicyId(p)),
                    };
                    worker.bind_sa(PolicyId(p), sa);
                    false
                }
            };
            if policy_change {
                reference = LinearSpd::new(entries.clone(), default).unwrap();
                let epoch = worker.epoch();
                let retired = worker.install_spd(Arc::new(Spd::new(entries.clone(), default).unwrap()));
                prop_assert_ne!(worker.epoch(), epoch);
                prop_assert_eq!(&retired.entry_hits[..], &hits[..]);
                prop_assert_eq!(retired.default_hits, default_hits);
                hits = vec![0; entries.len()];
                default_hits = 0;
            }
        }
        prop_assert_eq!(worker.entry_hits(), &hits[..]);
        prop_assert_eq!(worker.default_hits(), default_hits);
        let stats = worker.cache_stats();
        prop_assert_eq!(stats.hits + stats.misses, classified);
    }

    /// Reading a key never panics, whatever the bytes.
    #[test]
    fn flow_key_from_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let _ = FlowKey::from_ip(&bytes);
        let mut v4 = bytes.clone();
        if let Some(b) = v4.first_mut() { *b = 0x45; }
        let _ = FlowKey::from_ip(&v4);
        let mut v6 = bytes;
        if let Some(b) = v6.first_mut() { *b = 0x60; }
        let _ = FlowKey::from_ip(&v6);
    }
}

/// The crypto-map shape at scale: 100,000 site-to-site entries (one /24 pair each) plus a
/// few port-restricted exceptions in front make a tuple space of a handful of groups, and
/// agree with the linear scan.
#[test]
fn hundred_thousand_entries_stay_a_few_groups() {
    let mut entries = vec![
        Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V4, Action::Bypass)
            .with_protocol(IpProtocol::Udp)
            .with_ports(PortRange::ANY, PortRange::single(500)),
        Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V4, Action::Bypass)
            .with_protocol(IpProtocol::Udp)
            .with_ports(PortRange::ANY, PortRange::single(4500)),
    ];
    for i in 0..100_000u32 {
        let remote = Ipv4Addr::from(0x0a00_0000 | (i << 8));
        entries.push(Entry::new(
            IpPrefix::v4(Ipv4Addr::new(192, 168, (i % 4) as u8, 0), 24).unwrap(),
            IpPrefix::v4(remote, 24).unwrap(),
            Action::Protect(PolicyId(i)),
        ));
    }
    let spd = Spd::new(entries.clone(), Action::Bypass).unwrap();
    let stats = spd.tuple_space_stats();
    assert_eq!((stats.groups_v4, stats.groups_v6, stats.max_candidates), (2, 0, 2));
    let reference = LinearSpd::new(entries, Action::Bypass).unwrap();
    for i in (0..100_000u32).step_by(997) {
        let k = FlowKey::v4(
            Ipv4Addr::new(192, 168, (i % 4) as u8, 9),
            Ipv4Addr::from(0x0a00_0000 | (i << 8) | 7),
            6,
            PortsState::Known { src: 40000, dst: 443 },
        );
        assert_eq!(spd.lookup(&k), Some(i as usize + 2));
        assert_eq!(spd.lookup(&k), reference.lookup(&k));
        let ike = FlowKey::v4(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::from(0x0a00_0000 | (i << 8) | 1),
            17,
            PortsState::Known { src: 500, dst: 500 },
        );
        assert_eq!(spd.lookup(&ike), Some(0));
    }
}
