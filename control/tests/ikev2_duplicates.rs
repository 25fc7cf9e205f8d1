//! Duplicate SAs between two IKE endpoints on a virtual network (the `Pair` harness of
//! `ikev2_sa_pair.rs`): crossing IKE_SA_INITs, crossing CREATE_CHILD_SAs for the same
//! selectors, and a duplicate Child SA asked for by the peer are each reduced to one SA
//! (RFC 7296 section 2.8). Both sides report the same redundant SA in an
//! `Event::DuplicateReduced`, exactly one of them deletes it, and once a Child SA is up
//! each side always has one (make before break). Deterministic: seeded RNGs and a virtual
//! clock; several seeds, so that each side ends up deleting.

use core::time::Duration;

use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, DUPLICATE_GRACE, Duplicate, DuplicateSa, Event, IkeEndpoint, PeerConfig, SaHandle,
};
use control::ikev2::selectors::PolicySelectors;
use control::ikev2::wire::{DhGroup, EncrId, ExchangeType, Message, PrfId, ProtocolId};

include!("support/pair.rs");

/// `Pair::check_live`'s default: a reduction never leaves a side without a Child SA.
const CHECK_LIVE: bool = true;
/// No NAT here: every datagram uses the configured addresses.
const EXACT_ADDRESSES: bool = true;

include!("support/gcm_suite.rs");

/// Side I's configuration (10.1/16 behind it) and side R's (10.2/16): each both initiates
/// with it and answers the other with it.
fn configs() -> (PeerConfig, PeerConfig) {
    (psk_config(true, ike(), esp(), 3600), psk_config(false, ike(), esp(), 3600))
}

/// The duplicates a side reported, in order.
fn reported(s: &Side) -> Vec<(SaHandle, Duplicate)> {
    s.events
        .iter()
        .filter_map(|e| if let Event::DuplicateReduced(d) = e.2 { Some((e.1, d)) } else { None })
        .collect()
}

/// Established IKE SAs of a side.
fn ike_sas(s: &Side) -> Vec<SaHandle> {
    let mut v: Vec<SaHandle> = s
        .events
        .iter()
        .filter(|e| matches!(e.2, Event::Established(_)))
        .map(|e| e.1)
        .filter(|h| s.ep.sa(*h).is_some_and(|sa| sa.is_established()))
        .collect();
    v.dedup();
    v
}

/// INFORMATIONAL requests with a Delete payload, both ways (their payloads are encrypted:
/// counted by exchange, every INFORMATIONAL here being a DELETE).
fn informational_requests(p: &Pair) -> usize {
    p.log
        .iter()
        .filter_map(|s| Message::parse(&s.bytes).ok())
        .filter(|m| m.header.exchange_type == ExchangeType::Informational && !m.header.response)
        .count()
}

/// Both sides' live pairs mirror each other, one for one.
fn assert_mirrored(p: &Pair) {
    let i: Vec<(u32, u32)> = p.i.live.iter().map(|(a, b)| (*a, *b)).collect();
    let mut r: Vec<(u32, u32)> = p.r.live.iter().map(|(a, b)| (*b, *a)).collect();
    r.sort();
    assert_eq!(i, r, "the two sides' pairs mirror each other");
}

/// The one finding each side reported: the same redundant SA, deleted by exactly one side.
/// Returns whether side I deleted it.
fn assert_agreed(p: &Pair) -> bool {
    let (ri, rr) = (reported(&p.i), reported(&p.r));
    assert_eq!((ri.len(), rr.len()), (1, 1), "one finding each: {ri:?} / {rr:?}");
    let (a, b) = (ri[0].1, rr[0].1);
    let mirror = match b.sa {
        DuplicateSa::IkeSa { .. } => b.sa,
        DuplicateSa::ChildSa { redundant, survivor } => DuplicateSa::ChildSa {
            redundant: (redundant.1, redundant.0),
            survivor: (survivor.1, survivor.0),
        },
    };
    assert_eq!(a.sa, mirror, "both sides judge the same SA redundant");
    assert_ne!(a.deleted_by_us, b.deleted_by_us, "exactly one side deletes it");
    a.deleted_by_us
}

// ---------------------------------------------------------------------------------------
// Crossing IKE_SA_INITs.

/// Both sides initiate to each other at the same moment; `r_delay` holds R's first message
/// back a little, so the two IKE SAs complete in either order. Returns whether side I
/// deleted the redundant IKE SA.
fn crossing_ike_sa_init(seed: &str, r_delay: Duration) -> bool {
    let (icfg, rcfg) = configs();
    let answer_r = icfg.clone();
    let mut p = Pair::seeded(icfg, rcfg.clone(), seed, |i, _| {
        i.set_responder_configs(vec![answer_r]);
    });
    p.run_for(r_delay);
    let now = p.time;
    let rh = p.r.ep.connect(now, rcfg, &mut p.r.rng).expect("valid config");
    p.flush();
    p.run_for(Duration::from_secs(5));

    // Both IKE SAs came up on both sides, each with its Child SA; then one went.
    let established =
        |s: &Side| s.events.iter().filter(|e| matches!(e.2, Event::Established(_))).count();
    assert_eq!((established(&p.i), established(&p.r)), (2, 2), "both IKE SAs completed");
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (2, 2));
    let i_deleted = assert_agreed(&p);
    let (ri, rr) = (reported(&p.i), reported(&p.r));
    let DuplicateSa::IkeSa { redundant, survivor } = ri[0].1.sa else {
        panic!("an IKE SA duplicate: {ri:?}")
    };
    assert_ne!(redundant, survivor);
    // The redundant one is the one its deleter initiated.
    let spis = |s: &Side, h: SaHandle| s.ep.sa(h).map(|sa| (sa.spi_i(), sa.spi_r()));
    if i_deleted {
        assert_eq!(ri[0].0, p.h, "I deletes the IKE SA it initiated");
    } else {
        assert_eq!(rr[0].0, rh, "R deletes the IKE SA it initiated");
    }
    // One IKE SA and one Child SA pair left, the same on both sides; no failure.
    let (li, lr) = (ike_sas(&p.i), ike_sas(&p.r));
    assert_eq!((li.len(), lr.len()), (1, 1), "one IKE SA each: {li:?} {lr:?}");
    assert_eq!(spis(&p.i, li[0]), Some(survivor));
    assert_eq!(spis(&p.r, lr[0]), Some(survivor));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    assert_mirrored(&p);
    assert!(failures(&p.i).is_empty() && failures(&p.r).is_empty());
    assert!(child_failures(&p.i).is_empty() && child_failures(&p.r).is_empty());
    // One DELETE (of the IKE SA, which takes its Child SA), and the survivor works.
    assert_eq!(informational_requests(&p), 1);
    let i_in = *p.i.live.keys().next().unwrap();
    let now = p.time;
    assert!(p.i.ep.rekey_child(now, li[0], i_in, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    assert_mirrored(&p);
    assert_eq!(reported(&p.i).len(), 1, "a rekey is not a duplicate");
    i_deleted
}

#[test]
fn ikev2_duplicates_crossing_ike_sa_init_leaves_one_ike_sa_and_one_child_sa() {
    let mut outcomes = Vec::new();
    for n in 0..8u64 {
        let delay = Duration::from_millis(n % 4 * 3);
        outcomes.push(crossing_ike_sa_init(&format!("-init{n}"), delay));
    }
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "both sides: {outcomes:?}");
}

// ---------------------------------------------------------------------------------------
// Duplicate Child SAs in one IKE SA.

/// The established pair, and a further Child SA policy for 10.1.5/24 <-> 10.2.7/24 as
/// each side sees it.
fn established(seed: &str) -> (Pair, ChildConfig, ChildConfig) {
    let (icfg, rcfg) = configs();
    let mut p = Pair::seeded(icfg.clone(), rcfg.clone(), seed, |_, _| {});
    p.run_for(Duration::from_secs(2));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    let (a, b) = (net([10, 1, 5, 0], 24), net([10, 2, 7, 0], 24));
    let extra = |c: &PeerConfig, local, remote| ChildConfig {
        selectors: PolicySelectors { local: vec![local], remote: vec![remote] },
        ..c.child.clone()
    };
    (p, extra(&icfg, a.clone(), b.clone()), extra(&rcfg, b, a))
}

/// Both sides ask for a Child SA for the same selectors at once (both saw traffic). Returns
/// whether side I deleted the redundant pair.
fn crossing_create_child(seed: &str) -> bool {
    let (mut p, ci, cr) = established(seed);
    let (now, h, rh) = (p.time, p.h, p.rh());
    assert!(p.i.ep.create_child(now, h, ci, &mut p.i.rng));
    assert!(p.r.ep.create_child(now, rh, cr, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    // Both completed: the first pair and two for the new selectors, then one of those went.
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (3, 3), "both exchanges completed");
    assert_eq!((downs(&p.i).len(), downs(&p.r).len()), (1, 1));
    let i_deleted = assert_agreed(&p);
    let DuplicateSa::ChildSa { redundant, survivor } = reported(&p.i)[0].1.sa else {
        panic!("a Child SA duplicate")
    };
    assert_eq!(downs(&p.i), vec![redundant]);
    assert_eq!(reported(&p.i)[0].1.survivor_sa, h);
    assert_eq!((p.i.live.len(), p.r.live.len()), (2, 2));
    assert_eq!(p.i.live.get(&survivor.0), Some(&survivor.1));
    assert_mirrored(&p);
    assert_eq!(informational_requests(&p), 1, "one DELETE");
    assert!(child_failures(&p.i).is_empty() && child_failures(&p.r).is_empty());
    assert_eq!(ike_sas(&p.i).len(), 1);
    i_deleted
}

#[test]
fn ikev2_duplicates_crossing_create_child_sa_for_the_same_selectors_leaves_one_pair() {
    let outcomes: Vec<bool> = (0..8).map(|n| crossing_create_child(&format!("-ccs{n}"))).collect();
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "both sides: {outcomes:?}");
}

/// The peer (R) asks for a second Child SA with the selectors of the one it has: reduced
/// to one, whichever side's exchange ranks lower. Returns whether side I deleted.
fn duplicate_from_the_peer(seed: &str) -> bool {
    let (mut p, _, _) = established(seed);
    let (now, rh) = (p.time, p.rh());
    let same = configs().1.child;
    assert!(p.r.ep.create_child(now, rh, same, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (2, 2), "the duplicate came up");
    let i_deleted = assert_agreed(&p);
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1), "reduced to one");
    assert_mirrored(&p);
    assert_eq!(informational_requests(&p), 1);
    // The pair the IKE_AUTH made was I's exchange, the duplicate R's: the deleter is the
    // initiator of whichever went.
    let first = ups(&p.i)[0].inbound_spi;
    assert_eq!(p.i.live.contains_key(&first), !i_deleted);
    i_deleted
}

#[test]
fn ikev2_duplicates_a_duplicate_child_sa_from_the_peer_is_reduced_to_one() {
    let outcomes: Vec<bool> =
        (0..8).map(|n| duplicate_from_the_peer(&format!("-dup{n}"))).collect();
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "both sides: {outcomes:?}");
}

#[test]
fn ikev2_duplicates_are_kept_when_reduction_is_off() {
    let (icfg, rcfg) = configs();
    let mut p = Pair::seeded(icfg, rcfg, "-keep", |i: &mut IkeEndpoint, r: &mut IkeEndpoint| {
        i.set_reduce_duplicates(false);
        r.set_reduce_duplicates(false);
    });
    p.run_for(Duration::from_secs(2));
    let (now, rh) = (p.time, p.rh());
    let same = configs().1.child;
    assert!(p.r.ep.create_child(now, rh, same, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_eq!((p.i.live.len(), p.r.live.len()), (2, 2), "both pairs stay (RFC 4301 allows it)");
    assert!(reported(&p.i).is_empty() && reported(&p.r).is_empty());
    assert_eq!(informational_requests(&p), 0);
}

/// A peer that keeps duplicates (as strongSwan does) never deletes the one that is its to
/// delete: after [`DUPLICATE_GRACE`] we do. Returns whether the redundant pair was the
/// peer's to delete.
fn peer_keeps_its_duplicate(seed: &str) -> bool {
    let (icfg, rcfg) = configs();
    let mut p = Pair::seeded(icfg, rcfg, seed, |_, r: &mut IkeEndpoint| {
        r.set_reduce_duplicates(false);
    });
    p.run_for(Duration::from_secs(2));
    let (now, rh) = (p.time, p.rh());
    let same = configs().1.child;
    assert!(p.r.ep.create_child(now, rh, same, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(1));
    let found = reported(&p.i);
    assert_eq!(found.len(), 1, "I found it: {found:?}");
    assert!(reported(&p.r).is_empty(), "R does not look");
    let peers = !found[0].1.deleted_by_us;
    // The peer's to delete: both pairs stay through the grace, then I delete it.
    assert_eq!(p.i.live.len(), if peers { 2 } else { 1 }, "at 1 s");
    p.run_for(DUPLICATE_GRACE);
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1), "reduced to one in the end");
    assert_mirrored(&p);
    assert_eq!(informational_requests(&p), 1, "one DELETE");
    let DuplicateSa::ChildSa { redundant, .. } = found[0].1.sa else { panic!("a pair") };
    assert_eq!(downs(&p.i), vec![redundant]);
    peers
}

#[test]
fn ikev2_duplicates_a_peer_that_keeps_its_duplicate_loses_it_after_the_grace() {
    let outcomes: Vec<bool> =
        (0..8).map(|n| peer_keeps_its_duplicate(&format!("-keep{n}"))).collect();
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "both cases: {outcomes:?}");
}
