//! A hostile IKEv1 initiator against the responder: each message of a real Main Mode +
//! Quick Mode conversation is replaced by mutations of itself (bit flips, truncations,
//! extensions, random bytes under the real header) before the genuine message arrives.
//! Nothing may panic; a mutation of an encrypted message after phase 1 must not cost the
//! responder its state (the genuine message still completes the exchange), and a mutation
//! never yields a Quick Mode SA with keys other than the genuine ones.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use control::crypto::{DhGroup, WeakGroups};
use control::ikev1::keys::HashAlg;
use control::ikev1::proposal::{AuthMethod, EncapMode, Phase1Policy, Phase2Policy};
use control::ikev1::sa::{Ikev1Config, Ikev1Endpoint, Phase1Mode};
use control::ikev1::wire::{Identification, esp_id, p2attr};
use control::ikev2::sa::{Event, Psk};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::retransmit::RetransmitPolicy;
use control::time::Time;
use proptest::prelude::*;

include!("support/test_rng.rs");

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn config(local: Ipv4Addr, peer: Ipv4Addr, l: &str, r: &str) -> Ikev1Config {
    let net = |s: &str| {
        let (a, len) = s.split_once('/').unwrap();
        from_prefix(a.parse::<IpAddr>().unwrap(), len.parse().unwrap())
    };
    Ikev1Config {
        local: SocketAddr::new(local.into(), 500),
        peer: SocketAddr::new(peer.into(), 500),
        local_id: Identification::address(local.into()),
        remote_id: None,
        psk: Psk::new(b"fuzz key"),
        certificates: None,
        remote_access: None,
        phase1: vec![Phase1Policy {
            encryption_key_bits: 128,
            hash: HashAlg::Sha256,
            auth: AuthMethod::Psk,
            group: DhGroup::Ecp256,
            lifetime: Duration::from_secs(86_400),
        }],
        mode: Phase1Mode::Main,
        allow_aggressive: false,
        phase2: vec![Phase2Policy {
            esp_id: esp_id::ESP_AES_CBC,
            key_bits: Some(128),
            auth: Some(p2attr::AUTH_HMAC_SHA2_256),
            mode: EncapMode::Tunnel,
            pfs: None,
            lifetime_seconds: 3600,
            lifetime_kilobytes: 0,
        }],
        selectors: PolicySelectors { local: vec![net(l)], remote: vec![net(r)] },
        dpd: None,
        retransmit: RetransmitPolicy::default(),
        initial_contact: false,
        nat_traversal: true,
        weak_groups: WeakGroups::Reject,
        rekey_overlap: Duration::from_secs(5),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Truncate {
        to: usize,
    },
    Extend {
        bytes: Vec<u8>,
    },
    /// Random bytes after the real 28-octet header.
    Body {
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|to| Mutation::Truncate { to }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| Mutation::Body { bytes }),
    ]
}

fn apply(m: &Mutation, msg: &[u8]) -> Vec<u8> {
    let mut v = msg.to_vec();
    match m {
        Mutation::Flip { at, bit } => {
            let i = at % v.len();
            v[i] ^= 1 << bit;
        }
        Mutation::Truncate { to } => v.truncate(to % v.len()),
        Mutation::Extend { bytes } => v.extend_from_slice(bytes),
        Mutation::Body { bytes } => {
            v.truncate(28);
            v.extend_from_slice(bytes);
            let len = (v.len() as u32).to_be_bytes();
            v[24..28].copy_from_slice(&len);
        }
    }
    v
}

/// Runs the conversation with A's message `target` preceded by `mutated` copies of itself.
/// Returns B's Quick Mode SA inbound encryption key if one came up, A's outbound one if one
/// came up, and whether B's events included a failure.
fn run(target: usize, mutations: &[Mutation]) -> (Option<Vec<u8>>, Option<Vec<u8>>, bool) {
    let mut rng = TestRng::new("ikev1 fuzz");
    let mut a = Ikev1Endpoint::new();
    let mut b = Ikev1Endpoint::new();
    b.set_responder_configs(vec![config(B, A, "10.2.0.0/16", "10.1.0.0/16")]);
    a.initiate(Time::ZERO, config(A, B, "10.1.0.0/16", "10.2.0.0/16"), &mut rng).unwrap();
    let now = Time::from_secs(1);
    let mut index = 0;
    let mut key = None;
    let mut a_key = None;
    let mut failed = false;
    for _ in 0..50 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            moved = true;
            if index == target {
                for m in mutations {
                    b.handle(now, &apply(m, &t.bytes), t.from, &mut rng);
                }
            }
            index += 1;
            b.handle(now, &t.bytes, t.from, &mut rng);
        }
        while let Some(t) = b.poll_transmit() {
            moved = true;
            a.handle(now, &t.bytes, t.from, &mut rng);
        }
        while let Some((_, e)) = b.poll_event() {
            match e {
                Event::ChildSaUp(c) => key = Some(c.inbound.encr.as_bytes().to_vec()),
                Event::Failed(_) => failed = true,
                _ => {}
            }
        }
        while let Some((_, e)) = a.poll_event() {
            if let Event::ChildSaUp(c) = e {
                a_key = Some(c.outbound.encr.as_bytes().to_vec());
            }
        }
        if !moved {
            break;
        }
    }
    (key, a_key, failed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn mutated_messages_never_panic_nor_split_keys(
        target in 0usize..5,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let (key, a_key, failed) = run(target, &mutations);
        if let Some(k) = &key {
            prop_assert_eq!(Some(k), a_key.as_ref(), "B's pair has keys A did not make");
        }
        // A's messages: 0, 1, 2 are Main Mode 1, 3, 5; 3 and 4 are Quick Mode 1 and 3.
        // Mutated Quick Mode messages fail to decrypt or to verify: the genuine ones follow
        // and complete the exchange.
        if target >= 3 {
            prop_assert!(key.is_some(), "state lost to a mutated Quick Mode message");
            prop_assert!(!failed);
        }
    }
}
