//! CREATE_CHILD_SA between two IKE endpoints on a virtual network (the `Pair` harness of
//! `ikev2_sa_pair.rs`): further Child SAs, Child SA and IKE SA rekeying from either side,
//! lifetimes with jitter, and the collisions of RFC 7296 sections 2.8.1, 2.8.2 and 2.25,
//! with loss and reordering. Deterministic: seeded RNGs and a virtual clock.
//!
//! Every run checks, event by event, that once a Child SA is up each side always has one
//! (Up not yet followed by Down): rekeying is make-before-break.

use core::time::Duration;

use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, ChildSa, Event, FailureCause, IkeSaInfo, PeerConfig, ProtocolError,
};
use control::ikev2::selectors::PolicySelectors;
use control::ikev2::wire::{
    DhGroup, EncrId, ExchangeType, IdRepr, Message, NotifyType, PrfId, ProtocolId, TrafficSelector,
};
use control::time::Time;

include!("support/pair.rs");

/// `Pair::check_live`'s default: rekeying is make-before-break.
const CHECK_LIVE: bool = true;
/// No NAT here: every datagram uses the configured addresses.
const EXACT_ADDRESSES: bool = true;

// ---------------------------------------------------------------------------------------
// Configuration.

const GCM128: Encr = (EncrId::AesGcm16, Some(128));
const CHACHA: Encr = (EncrId::ChaCha20Poly1305, None);

fn ike(encr: Encr, dh: DhGroup) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![encr],
        prf: vec![PrfId::HmacSha2_256],
        integ: vec![],
        dh: vec![dh],
        esn: vec![],
    }
}

/// An ESP proposal; `pfs` are its DH groups for CREATE_CHILD_SA (empty: no PFS).
fn esp(encr: Encr, pfs: &[DhGroup]) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![encr],
        prf: vec![],
        integ: vec![],
        dh: pfs.to_vec(),
        esn: vec![],
    }
}

/// One side: 10.1/16 (initiator) and 10.2/16 (responder), GCM IKE and ESP over ECP-256, the
/// Child SA lifetime `life` seconds.
fn config(initiator: bool, pfs: &[DhGroup], life: u64) -> PeerConfig {
    psk_config(initiator, ike(GCM128, DhGroup::Ecp256), esp(GCM128, pfs), life)
}

fn pair_cfg(pfs: &[DhGroup], life: u64) -> (PeerConfig, PeerConfig) {
    (config(true, pfs, life), config(false, pfs, life))
}

// ---------------------------------------------------------------------------------------
// The harness (`support/pair.rs`): what these tests add.

impl Pair {
    fn establish(&mut self) {
        self.run_for(Duration::from_secs(2));
        assert!(self.i.ep.sa(self.h).is_some_and(|sa| sa.is_established()));
        assert_eq!((self.i.live.len(), self.r.live.len()), (1, 1));
    }

    /// The one live pair of each side.
    fn only_live(&self) -> ((u32, u32), (u32, u32)) {
        assert_eq!(self.i.live.len(), 1, "initiator: {:?}", self.i.live);
        assert_eq!(self.r.live.len(), 1, "responder: {:?}", self.r.live);
        let i = self.i.live.iter().next().map(|(a, b)| (*a, *b)).unwrap();
        let r = self.r.live.iter().next().map(|(a, b)| (*a, *b)).unwrap();
        assert_eq!((i.0, i.1), (r.1, r.0), "the two sides' pairs mirror each other");
        (i, r)
    }

    fn rekey_child_i(&mut self, inbound: u32) -> bool {
        let (now, h) = (self.time, self.h);
        let ok = self.i.ep.rekey_child(now, h, inbound, &mut self.i.rng);
        self.flush();
        ok
    }

    fn rekey_child_r(&mut self, inbound: u32) -> bool {
        let (now, h) = (self.time, self.rh());
        let ok = self.r.ep.rekey_child(now, h, inbound, &mut self.r.rng);
        self.flush();
        ok
    }

    /// The current IKE SPIs of both sides (which must agree).
    fn ike_spis(&self) -> (u64, u64) {
        let i = self.i.ep.sa(self.h).unwrap();
        let r = self.r.ep.sa(self.rh()).unwrap();
        assert_eq!((i.spi_i(), i.spi_r()), (r.spi_i(), r.spi_r()), "both sides agree");
        (i.spi_i(), i.spi_r())
    }
}

fn up_times(s: &Side) -> Vec<Time> {
    s.events.iter().filter(|e| matches!(e.2, Event::ChildSaUp(_))).map(|e| e.0).collect()
}

fn terminal(s: &Side) -> usize {
    s.events.iter().filter(|e| matches!(e.2, Event::Closed { .. } | Event::Failed(_))).count()
}

fn rekeyed(s: &Side) -> Vec<(Time, u64, u64, &IkeSaInfo)> {
    s.events
        .iter()
        .filter_map(|e| match &e.2 {
            Event::IkeSaRekeyed { old_spi_i, old_spi_r, info } => {
                Some((e.0, *old_spi_i, *old_spi_r, info))
            }
            _ => None,
        })
        .collect()
}

fn up_index(s: &Side, inbound: u32) -> usize {
    s.events
        .iter()
        .position(|e| matches!(&e.2, Event::ChildSaUp(c) if c.inbound_spi == inbound))
        .expect("up")
}

fn down_index(s: &Side, inbound: u32) -> usize {
    s.events
        .iter()
        .position(
            |e| matches!(e.2, Event::ChildSaDown { inbound_spi, .. } if inbound_spi == inbound),
        )
        .expect("down")
}

/// Datagrams of one direction and exchange, requests or answers.
fn messages(
    log: &[Sent],
    dir: Dir,
    exchange: ExchangeType,
    response: bool,
) -> Vec<(Time, Message)> {
    log.iter()
        .filter(|s| s.dir == dir)
        .filter_map(|s| Message::parse(&s.bytes).ok().map(|m| (s.at, m)))
        .filter(|(_, m)| m.header.exchange_type == exchange && m.header.response == response)
        .collect()
}

fn is_ccs(bytes: &[u8], response: bool) -> bool {
    Message::parse(bytes).is_ok_and(|m| {
        m.header.exchange_type == ExchangeType::CreateChildSa && m.header.response == response
    })
}

/// Both sides' Child SAs mirror each other: SPIs, keys, transforms, selectors.
fn assert_crosswise(a: &ChildSa, b: &ChildSa) {
    assert_eq!((a.inbound_spi, a.outbound_spi), (b.outbound_spi, b.inbound_spi));
    assert_eq!(a.outbound.encr.as_bytes(), b.inbound.encr.as_bytes(), "my out = your in");
    assert_eq!(a.inbound.encr.as_bytes(), b.outbound.encr.as_bytes(), "my in = your out");
    assert_eq!(a.outbound.integ.as_bytes(), b.inbound.integ.as_bytes());
    assert_eq!(a.inbound.integ.as_bytes(), b.outbound.integ.as_bytes());
    assert_ne!(a.inbound.encr.as_bytes(), a.outbound.encr.as_bytes(), "two directions");
    assert_eq!(a.transforms.encr, b.transforms.encr);
    assert_eq!(a.transforms.dh, b.transforms.dh);
    assert_eq!((&a.local_ts, &a.remote_ts), (&b.remote_ts, &b.local_ts));
}

/// `new` replaces `old` with fresh SPIs and keys.
fn assert_fresh(new: &ChildSa, old: &ChildSa) {
    assert_eq!(new.rekey_of, Some(old.inbound_spi));
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_ne!(new.outbound_spi, old.outbound_spi);
    assert_ne!(new.inbound.encr.as_bytes(), old.inbound.encr.as_bytes());
    assert_ne!(new.outbound.encr.as_bytes(), old.outbound.encr.as_bytes());
    assert_ne!(new.inbound.encr.as_bytes(), old.outbound.encr.as_bytes());
    assert_eq!((&new.local_ts, &new.remote_ts), (&old.local_ts, &old.remote_ts));
    assert_eq!(new.transforms.encr, old.transforms.encr);
}

/// After one rekey of the first pair (no collision): both sides have exactly the new pair,
/// its Up came before the old pair's Down, and the keys are new and agree.
fn assert_one_rekey(p: &Pair) {
    let (ui, ur) = (ups(&p.i), ups(&p.r));
    assert_eq!((ui.len(), ur.len()), (2, 2), "one new pair each");
    assert_crosswise(ui[1], ur[1]);
    assert_fresh(ui[1], ui[0]);
    assert_fresh(ur[1], ur[0]);
    assert_eq!(downs(&p.i), vec![(ui[0].inbound_spi, ui[0].outbound_spi)]);
    assert_eq!(downs(&p.r), vec![(ur[0].inbound_spi, ur[0].outbound_spi)]);
    for (s, u) in [(&p.i, &ui), (&p.r, &ur)] {
        assert!(
            up_index(s, u[1].inbound_spi) < down_index(s, u[0].inbound_spi),
            "make before break"
        );
    }
    p.only_live();
    assert!(child_failures(&p.i).is_empty() && child_failures(&p.r).is_empty());
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
    let sa = p.i.ep.sa(p.h).unwrap();
    assert_eq!(sa.child_spis(), vec![(ui[1].inbound_spi, ui[1].outbound_spi)]);
}

// ---------------------------------------------------------------------------------------
// Child SA rekeying.

#[test]
fn ikev2_rekey_child_by_the_initiator_without_pfs() {
    let (i, r) = pair_cfg(&[], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    let old = ups(&p.i)[0].inbound_spi;
    let before = p.log.len();
    assert!(p.rekey_child_i(old));
    assert!(!p.rekey_child_i(0x1234), "no such Child SA");
    p.run_for(Duration::from_secs(5));
    assert_one_rekey(&p);
    assert_eq!(ups(&p.i)[1].transforms.dh, None, "no PFS");
    // CREATE_CHILD_SA and the INFORMATIONAL that deletes the old pair, nothing else.
    assert_eq!(p.log.len() - before, 4);
    assert_eq!(messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, false).len(), 1);
    assert_eq!(messages(&p.log, Dir::IToR, ExchangeType::Informational, false).len(), 1);
    assert!(!p.rekey_child_i(old), "the old pair is gone");
}

#[test]
fn ikev2_rekey_child_by_the_responder_with_pfs() {
    let (i, r) = pair_cfg(&[DhGroup::Ecp256], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    assert_eq!(ups(&p.i)[0].transforms.dh, None, "IKE_AUTH carries no PFS group");
    let old = ups(&p.r)[0].inbound_spi;
    assert!(p.rekey_child_r(old));
    p.run_for(Duration::from_secs(5));
    assert_one_rekey(&p);
    assert_eq!(ups(&p.i)[1].transforms.dh, Some(DhGroup::Ecp256), "PFS");
    assert_eq!(messages(&p.log, Dir::RToI, ExchangeType::CreateChildSa, false).len(), 1);
    assert_eq!(messages(&p.log, Dir::RToI, ExchangeType::Informational, false).len(), 1);
    assert!(messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, false).is_empty());
}

#[test]
fn ikev2_rekey_child_with_pfs_follows_invalid_ke_payload() {
    let mut i = config(true, &[DhGroup::Curve25519, DhGroup::Ecp256], 3600);
    i.child.esp_proposals[0].dh = vec![DhGroup::Curve25519, DhGroup::Ecp256];
    let r = config(false, &[DhGroup::Ecp256], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    let old = ups(&p.i)[0].inbound_spi;
    assert!(p.rekey_child_i(old));
    p.run_for(Duration::from_secs(5));
    assert_eq!(
        messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, false).len(),
        2,
        "the guess (curve25519), then ECP-256 as the responder asked"
    );
    assert_one_rekey(&p);
    assert_eq!(ups(&p.r)[1].transforms.dh, Some(DhGroup::Ecp256));
}

#[test]
fn ikev2_rekey_child_twice_in_a_row_from_alternating_sides() {
    let (mut i, mut r) = pair_cfg(&[DhGroup::Ecp256], 3600);
    i.child.esp_proposals[0].encr = vec![CHACHA];
    r.child.esp_proposals[0].encr = vec![CHACHA];
    let mut p = Pair::new(i, r);
    p.establish();
    for round in 0..4 {
        let ((i_in, _), (r_in, _)) = p.only_live();
        if round % 2 == 0 {
            assert!(p.rekey_child_i(i_in));
        } else {
            assert!(p.rekey_child_r(r_in));
        }
        p.run_for(Duration::from_secs(5));
        let (ui, ur) = (ups(&p.i), ups(&p.r));
        assert_eq!(ui.len(), round + 2);
        assert_crosswise(ui[round + 1], ur[round + 1]);
        assert_fresh(ui[round + 1], ui[round]);
    }
    assert_eq!(downs(&p.i).len(), 4);
}

// ---------------------------------------------------------------------------------------
// Lifetimes.

/// The soft lifetime rekeys each pair at 80 to 90 % of its hard lifetime (100 s), with a
/// jitter drawn per pair, from whichever side fires first; the tunnel never goes down.
fn soft_lifetime_run(seed: &str) -> Vec<Time> {
    let (i, r) = pair_cfg(&[], 100);
    let mut p = Pair::seeded(i, r, seed, |_, _| {});
    p.establish();
    p.run_until(Time::from_secs(400));
    let times = up_times(&p.i);
    assert!(times.len() >= 5, "four or more rekeys in 400 s: {times:?}");
    for w in times.windows(2) {
        let gap = w[1].since(w[0]).as_millis();
        assert!((80_000..=90_100).contains(&gap), "rekeyed {gap} ms after the last: {times:?}");
    }
    // Exactly one pair in the end, the newest, and every old one deleted.
    let ((i_in, _), _) = p.only_live();
    let ui = ups(&p.i);
    assert_eq!(ui.last().unwrap().inbound_spi, i_in);
    assert_eq!(downs(&p.i).len(), ui.len() - 1);
    assert_eq!(downs(&p.r).len(), ups(&p.r).len() - 1);
    for w in ui.windows(2) {
        assert_eq!(w[1].rekey_of, Some(w[0].inbound_spi), "each replaces the one before");
    }
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
    times
}

#[test]
fn ikev2_rekey_soft_lifetime_with_jitter_keeps_the_tunnel_up() {
    let a = soft_lifetime_run("-a");
    let b = soft_lifetime_run("-b");
    assert_ne!(a[1], b[1], "the jitter depends on the RNG");
    // Within one run the gaps differ too: the jitter is drawn per pair.
    let gaps: Vec<u128> = a.windows(2).map(|w| w[1].since(w[0]).as_millis()).collect();
    assert!(gaps.windows(2).any(|g| g[0] != g[1]), "{gaps:?}");
}

#[test]
fn ikev2_rekey_hard_expiry_deletes_and_expire_child_is_a_delete() {
    let (i, r) = pair_cfg(&[], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    p.check_live = false;
    let (now, h) = (p.time, p.h);
    let old = ups(&p.i)[0].inbound_spi;
    assert!(!p.i.ep.expire_child(now, h, 0x4321, &mut p.i.rng));
    assert!(p.i.ep.expire_child(now, h, old, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_eq!(downs(&p.i).len(), 1);
    assert_eq!(downs(&p.r).len(), 1);
    assert!(p.i.live.is_empty() && p.r.live.is_empty());
    assert!(p.i.ep.sa(p.h).unwrap().is_established(), "the IKE SA stays");
}

#[test]
fn ikev2_rekey_hard_lifetime_deletes_a_pair_the_peer_will_not_rekey() {
    // The responder's policy only allows PFS; the initiator's rekey (without) is refused,
    // so its pair is deleted at the hard lifetime.
    let i = config(true, &[], 100);
    let r = config(false, &[DhGroup::Ecp256], 0);
    let mut p = Pair::new(i, r);
    p.establish();
    p.check_live = false;
    p.run_until(Time::from_secs(150));
    let [FailureCause::NoProposalChosen(_)] = child_failures(&p.i)[..] else {
        panic!("{:?}", p.i.events)
    };
    let down = p.i.events.iter().find(|e| matches!(e.2, Event::ChildSaDown { .. })).unwrap().0;
    assert_eq!(down.as_millis() / 1000, 100, "deleted at the hard lifetime");
    assert!(p.i.live.is_empty() && p.r.live.is_empty());
    assert_eq!(terminal(&p.i), 0);
}

// ---------------------------------------------------------------------------------------
// IKE SA rekeying.

fn assert_ike_rekeyed(p: &Pair, old: (u64, u64), by_initiator: bool) {
    let (ri, rr) = (rekeyed(&p.i), rekeyed(&p.r));
    assert_eq!((ri.len(), rr.len()), (1, 1));
    let new = p.ike_spis();
    assert_ne!(new.0, old.0);
    assert_ne!(new.1, old.1);
    assert_eq!((ri[0].1, ri[0].2), old);
    assert_eq!((ri[0].3.spi_i, ri[0].3.spi_r), new);
    assert_eq!((rr[0].3.spi_i, rr[0].3.spi_r), new);
    // The initiator of the rekey is the original initiator of the new SA (section 2.18).
    assert_eq!(ri[0].3.initiator, by_initiator);
    assert_eq!(rr[0].3.initiator, !by_initiator);
    assert_eq!(p.i.ep.sa(p.h).unwrap().is_initiator(), by_initiator);
    assert_eq!(ri[0].3.peer_id, IdRepr::fqdn("r.example"));
    assert!(downs(&p.i).is_empty() && downs(&p.r).is_empty(), "the Child SAs move along");
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
}

fn ike_rekey_then_use(by_initiator: bool) {
    let (i, r) = pair_cfg(&[DhGroup::Ecp256], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    let old = p.ike_spis();
    let children = p.i.ep.sa(p.h).unwrap().child_spis();
    let (now, h, rh) = (p.time, p.h, p.rh());
    if by_initiator {
        assert!(p.i.ep.rekey_ike(now, h, &mut p.i.rng));
    } else {
        assert!(p.r.ep.rekey_ike(now, rh, &mut p.r.rng));
    }
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_ike_rekeyed(&p, old, by_initiator);
    assert_eq!(p.i.ep.sa(p.h).unwrap().child_spis(), children);
    // The old SA was deleted with a DELETE on it, the last message under its SPIs.
    let deleter = if by_initiator { Dir::IToR } else { Dir::RToI };
    let on_old: Vec<Message> = p
        .log
        .iter()
        .filter(|s| s.dir == deleter)
        .filter_map(|s| Message::parse(&s.bytes).ok())
        .filter(|m| (m.header.spi_i, m.header.spi_r) == old)
        .collect();
    assert_eq!(on_old.last().unwrap().header.exchange_type, ExchangeType::Informational);
    // Both SPI pairs route until the old SA is drained, then only the new one.
    assert_eq!(p.i.ep.sa(p.h).unwrap().routes().len(), 2);
    p.run_for(Duration::from_secs(200));
    for sa in [p.i.ep.sa(p.h).unwrap(), p.r.ep.sa(p.rh()).unwrap()] {
        let routes = sa.routes();
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!((routes[0].spi_i, routes[0].spi_r), (sa.spi_i(), sa.spi_r()));
    }
    // The new SPIs route both ways: a Child SA rekey from each side over the new IKE SA.
    let ((i_in, _), _) = p.only_live();
    assert!(p.rekey_child_i(i_in));
    p.run_for(Duration::from_secs(5));
    let ((_, _), (r_in, _)) = p.only_live();
    assert!(p.rekey_child_r(r_in));
    p.run_for(Duration::from_secs(5));
    let (ui, ur) = (ups(&p.i), ups(&p.r));
    assert_eq!(ui.len(), 3);
    assert_crosswise(ui[2], ur[2]);
    let new = p.ike_spis();
    let ccs = messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, false);
    assert_eq!((ccs.last().unwrap().1.header.spi_i, ccs.last().unwrap().1.header.spi_r), new);
    // A message for the old SPIs is now unknown.
    let stale = p.log.iter().find(|s| {
        Message::parse(&s.bytes).is_ok_and(|m| {
            (m.header.spi_i, m.header.spi_r) == old
                && m.header.exchange_type == ExchangeType::Informational
        })
    });
    let stale = stale.unwrap().bytes.clone();
    let before = (p.i.ep.stats().unknown_spi, p.r.ep.stats().unknown_spi);
    let now = p.time;
    p.i.ep.handle(now, &stale, R_ADDR, &mut p.i.rng);
    p.r.ep.handle(now, &stale, I_ADDR, &mut p.r.rng);
    let after = (p.i.ep.stats().unknown_spi, p.r.ep.stats().unknown_spi);
    assert_eq!(after, (before.0 + 1, before.1 + 1), "unknown on both sides");
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
}

#[test]
fn ikev2_rekey_ike_sa_by_the_initiator_keeps_children_and_routes_new_spis() {
    ike_rekey_then_use(true);
}

#[test]
fn ikev2_rekey_ike_sa_by_the_responder_swaps_roles_and_routes_new_spis() {
    ike_rekey_then_use(false);
}

#[test]
fn ikev2_rekey_ike_lifetime_rekeys_periodically() {
    let (i, r) = pair_cfg(&[], 3600);
    let life = Duration::from_secs(100);
    let mut p = Pair::seeded(i, r, "-ike", |a, b| {
        a.set_ike_lifetime(life);
        b.set_ike_lifetime(life);
    });
    p.establish();
    p.run_until(Time::from_secs(400));
    let times: Vec<Time> = rekeyed(&p.i).iter().map(|x| x.0).collect();
    assert!(times.len() >= 4, "{times:?}");
    assert_eq!(rekeyed(&p.r).len(), times.len());
    let mut last = Time::ZERO;
    for t in &times {
        let gap = t.since(last).as_millis();
        assert!((79_900..=90_100).contains(&gap), "IKE SA rekeyed {gap} ms after: {times:?}");
        last = *t;
    }
    assert_eq!(ups(&p.i).len(), 1, "the Child SA is untouched");
    assert!(downs(&p.i).is_empty() && downs(&p.r).is_empty());
    p.ike_spis();
    assert!(p.i.ep.sa(p.h).unwrap().routes().len() <= 3, "old SAs are drained");
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
}

// ---------------------------------------------------------------------------------------
// Further Child SAs.

fn extra(cfg: &PeerConfig, local: TrafficSelector, remote: TrafficSelector) -> ChildConfig {
    ChildConfig {
        selectors: PolicySelectors { local: vec![local], remote: vec![remote] },
        ..cfg.child.clone()
    }
}

#[test]
fn ikev2_rekey_create_child_narrows_into_the_responders_policy() {
    let (i, r) = pair_cfg(&[DhGroup::Ecp256], 3600);
    let icfg = i.clone();
    let mut p = Pair::new(i, r);
    p.establish();
    let (now, h) = (p.time, p.h);
    let inside = extra(&icfg, net([10, 1, 5, 0], 24), net([10, 2, 7, 0], 24));
    assert!(p.i.ep.create_child(now, h, inside, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    let (ui, ur) = (ups(&p.i), ups(&p.r));
    assert_eq!((ui.len(), ur.len()), (2, 2));
    assert_crosswise(ui[1], ur[1]);
    assert_eq!(ui[1].rekey_of, None);
    assert_eq!(ui[1].local_ts, vec![net([10, 1, 5, 0], 24)]);
    assert_eq!(ui[1].remote_ts, vec![net([10, 2, 7, 0], 24)]);
    assert_eq!(ui[1].transforms.dh, Some(DhGroup::Ecp256));
    let extra_in = ui[1].inbound_spi;
    // Wider than the responder's policy on one side: narrowed to it. (Half of our side:
    // the whole of it would be a duplicate of the first pair, which the endpoints reduce.)
    let wider = extra(&icfg, net([10, 1, 0, 0], 17), TrafficSelector::ipv4_any());
    let now = p.time;
    assert!(p.i.ep.create_child(now, h, wider, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_eq!(ups(&p.i)[2].remote_ts, vec![net([10, 2, 0, 0], 16)]);
    // Outside it: TS_UNACCEPTABLE, the IKE SA and the other pairs stay.
    let outside = extra(&icfg, net([10, 1, 0, 0], 16), net([172, 16, 0, 0], 12));
    let now = p.time;
    assert!(p.i.ep.create_child(now, h, outside, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert!(matches!(child_failures(&p.i)[..], [FailureCause::TsUnacceptable]));
    assert!(matches!(child_failures(&p.r)[..], [FailureCause::TsUnacceptable]));
    assert_eq!((p.i.live.len(), p.r.live.len()), (3, 3));
    // The extra pair is rekeyed by itself, keeping its own selectors.
    assert!(p.rekey_child_i(extra_in));
    p.run_for(Duration::from_secs(5));
    let last = *ups(&p.i).last().unwrap();
    assert_fresh(last, ups(&p.i)[1]);
    assert_eq!(p.i.live.len(), 3);
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
}

#[test]
fn ikev2_rekey_no_additional_sas_beyond_the_limit() {
    let (i, r) = pair_cfg(&[], 3600);
    let icfg = i.clone();
    let mut p = Pair::new(i, r);
    p.establish();
    let (now, h) = (p.time, p.h);
    for n in 0..64u8 {
        let c = extra(&icfg, net([10, 1, n, 0], 24), net([10, 2, n, 0], 24));
        assert!(p.i.ep.create_child(now, h, c, &mut p.i.rng));
    }
    p.flush();
    p.run_for(Duration::from_secs(30));
    assert_eq!(p.i.live.len(), 64, "the first and 63 more");
    assert_eq!(p.r.live.len(), 64);
    assert!(matches!(
        child_failures(&p.i)[..],
        [FailureCause::ProtocolError(ProtocolError::ErrorNotify(NotifyType::NoAdditionalSas))]
    ));
    // Rekeying is not limited.
    let i_in = *p.i.live.keys().next().unwrap();
    assert!(p.rekey_child_i(i_in));
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.i.live.len(), 64);
    assert_eq!(child_failures(&p.i).len(), 1);
}

// ---------------------------------------------------------------------------------------
// Collisions.

/// Both sides rekey the one pair at the same moment (section 2.8.1). Returns whether the
/// initiator's new pair survived.
fn simultaneous_child_rekey(seed: &str, pfs: &[DhGroup]) -> bool {
    let (i, r) = pair_cfg(pfs, 3600);
    let mut p = Pair::seeded(i, r, seed, |_, _| {});
    p.establish();
    let ((i_in, _), (r_in, _)) = p.only_live();
    let (now, h, rh) = (p.time, p.h, p.rh());
    assert!(p.i.ep.rekey_child(now, h, i_in, &mut p.i.rng));
    assert!(p.r.ep.rekey_child(now, rh, r_in, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(10));
    // Both exchanges completed: two new pairs each, then one of them and the old pair
    // deleted. Exactly one new pair is left, the same on both sides.
    let (ui, ur) = (ups(&p.i), ups(&p.r));
    assert_eq!((ui.len(), ur.len()), (3, 3), "both rekeys completed");
    assert_eq!((downs(&p.i).len(), downs(&p.r).len()), (2, 2));
    let ((survivor, _), _) = p.only_live();
    let s = ui.iter().find(|c| c.inbound_spi == survivor).unwrap();
    assert_eq!(s.rekey_of, Some(i_in));
    let sr = ur.iter().find(|c| c.outbound_spi == survivor).unwrap();
    assert_crosswise(s, sr);
    assert!(child_failures(&p.i).is_empty() && child_failures(&p.r).is_empty());
    // Exactly two DELETEs: the redundant pair by its initiator, the old one by the
    // survivor's initiator.
    let deletes = messages(&p.log, Dir::IToR, ExchangeType::Informational, false).len()
        + messages(&p.log, Dir::RToI, ExchangeType::Informational, false).len();
    assert_eq!(deletes, 2);
    // The initiator's answer to the responder's request came first (10 ms), its own
    // pair second (20 ms).
    ui[2].inbound_spi == survivor
}

#[test]
fn ikev2_rekey_simultaneous_child_rekey_leaves_exactly_one_new_pair() {
    let mut outcomes = Vec::new();
    for n in 0..10 {
        let pfs: &[DhGroup] = if n % 2 == 0 { &[] } else { &[DhGroup::Ecp256] };
        outcomes.push(simultaneous_child_rekey(&format!("-sim{n}"), pfs));
    }
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "both outcomes: {outcomes:?}");
}

/// Both sides rekey the IKE SA at once (section 2.8.2).
fn simultaneous_ike_rekey(seed: &str) -> bool {
    let (i, r) = pair_cfg(&[], 3600);
    let mut p = Pair::seeded(i, r, seed, |_, _| {});
    p.establish();
    let old = p.ike_spis();
    let (now, h, rh) = (p.time, p.h, p.rh());
    assert!(p.i.ep.rekey_ike(now, h, &mut p.i.rng));
    assert!(p.r.ep.rekey_ike(now, rh, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    let new = p.ike_spis();
    assert_ne!(new, old);
    assert!(downs(&p.i).is_empty() && downs(&p.r).is_empty());
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
    // Three IKE SAs existed; two were deleted, each with a DELETE on it.
    let deletes = messages(&p.log, Dir::IToR, ExchangeType::Informational, false).len()
        + messages(&p.log, Dir::RToI, ExchangeType::Informational, false).len();
    assert_eq!(deletes, 2);
    p.run_for(Duration::from_secs(200));
    assert_eq!(p.i.ep.sa(p.h).unwrap().routes().len(), 1);
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().routes().len(), 1);
    // The survivor works: a Child SA rekey over it.
    let ((i_in, _), _) = p.only_live();
    assert!(p.rekey_child_i(i_in));
    p.run_for(Duration::from_secs(5));
    assert_eq!(ups(&p.i).len(), 2);
    assert_crosswise(ups(&p.i)[1], ups(&p.r)[1]);
    p.i.ep.sa(p.h).unwrap().is_initiator()
}

#[test]
fn ikev2_rekey_simultaneous_ike_rekey_leaves_one_ike_sa() {
    let outcomes: Vec<bool> = (0..8).map(|n| simultaneous_ike_rekey(&format!("-ike{n}"))).collect();
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "both outcomes: {outcomes:?}");
}

#[test]
fn ikev2_rekey_late_crossing_request_gets_temporary_failure_or_not_found() {
    // The responder's rekey request for the same pair arrives only after the initiator's
    // rekey completed (the initiator never sees a collision; the responder does): at
    // 25 ms the old pair is being deleted (TEMPORARY_FAILURE), at 60 ms it is gone
    // (CHILD_SA_NOT_FOUND). Either way exactly one new pair results.
    for delay in [15u64, 50] {
        let (i, r) = pair_cfg(&[], 3600);
        let mut p = Pair::new(i, r).with_delay_first_ccs_request(Dir::RToI, delay);
        p.establish();
        let ((i_in, _), (r_in, _)) = p.only_live();
        let (now, h, rh) = (p.time, p.h, p.rh());
        assert!(p.i.ep.rekey_child(now, h, i_in, &mut p.i.rng));
        assert!(p.r.ep.rekey_child(now, rh, r_in, &mut p.r.rng));
        p.flush();
        p.run_for(Duration::from_secs(20));
        assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (2, 2), "delay {delay}: one new pair");
        assert_one_rekey(&p);
        // The late request was answered, and not retried to any effect.
        assert_eq!(messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, true).len(), 1);
    }
}

impl Pair {
    /// Delays the first CREATE_CHILD_SA request in `dir` by `ms` more.
    fn with_delay_first_ccs_request(mut self, dir: Dir, ms: u64) -> Pair {
        let mut done = false;
        self.fault = Box::new(move |d, _, b| {
            if d == dir && !done && is_ccs(b, false) {
                done = true;
                return Fate::Delay(Duration::from_millis(ms));
            }
            Fate::Deliver
        });
        self
    }
}

#[test]
fn ikev2_rekey_of_a_pair_being_deleted_gets_temporary_failure() {
    // Two pairs; the responder deletes the second while the initiator rekeys it: the
    // rekey is refused (section 2.25.1), the pair goes, no replacement appears, and the
    // first pair carries on.
    let (i, r) = pair_cfg(&[], 3600);
    let icfg = i.clone();
    let mut p = Pair::new(i, r);
    p.establish();
    let (now, h) = (p.time, p.h);
    let c = extra(&icfg, net([10, 1, 9, 0], 24), net([10, 2, 9, 0], 24));
    assert!(p.i.ep.create_child(now, h, c, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(2));
    let (second_i, second_r) = (ups(&p.i)[1].inbound_spi, ups(&p.r)[1].inbound_spi);
    let (now, rh) = (p.time, p.rh());
    assert!(p.i.ep.rekey_child(now, h, second_i, &mut p.i.rng));
    assert!(p.r.ep.delete_child(now, rh, second_r, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(20));
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (2, 2), "no replacement");
    assert_eq!(downs(&p.i), vec![(second_i, second_r)]);
    assert_eq!(downs(&p.r), vec![(second_r, second_i)]);
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    assert!(child_failures(&p.i).is_empty(), "TEMPORARY_FAILURE is not a failure");
    // The refused rekey was not sent again for a pair that is gone.
    assert_eq!(messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, false).len(), 2);
}

#[test]
fn ikev2_rekey_ike_rekey_crossing_a_child_rekey_is_retried() {
    // The initiator rekeys the pair while the responder rekeys the IKE SA: the IKE SA
    // rekey is refused (TEMPORARY_FAILURE: a Child SA exchange is in flight on it) and
    // retried 2 to 4 s later; the Child SA rekey completes.
    let (i, r) = pair_cfg(&[], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    let old = p.ike_spis();
    let ((i_in, _), _) = p.only_live();
    let (now, h, rh) = (p.time, p.h, p.rh());
    assert!(p.i.ep.rekey_child(now, h, i_in, &mut p.i.rng));
    assert!(p.r.ep.rekey_ike(now, rh, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(1));
    assert!(rekeyed(&p.r).is_empty(), "refused for now");
    assert_eq!(ups(&p.i).len(), 2);
    p.run_for(Duration::from_secs(10));
    let (ri, rr) = (rekeyed(&p.i), rekeyed(&p.r));
    assert_eq!((ri.len(), rr.len()), (1, 1));
    assert_ne!(p.ike_spis(), old);
    assert!(rr[0].3.initiator && !ri[0].3.initiator, "the responder rekeyed it");
    assert_eq!(terminal(&p.i) + terminal(&p.r), 0);
    let at = rekeyed(&p.r)[0].0.since(now).as_millis();
    assert!((2000..=4100).contains(&at), "retried after {at} ms");
    let (ui, ur) = (ups(&p.i), ups(&p.r));
    assert_crosswise(ui[1], ur[1]);
    assert_fresh(ui[1], ui[0]);
    p.only_live();
}

// ---------------------------------------------------------------------------------------
// Loss and reordering.

#[test]
fn ikev2_rekey_lost_request_and_lost_answer_are_retransmitted() {
    let (i, r) = pair_cfg(&[DhGroup::Ecp256], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    // The first CREATE_CHILD_SA request and the first answer are lost.
    let (mut req_lost, mut ans_lost) = (false, false);
    p.fault = Box::new(move |d, _, b| {
        if d == Dir::IToR && !req_lost && is_ccs(b, false) {
            req_lost = true;
            return Fate::Drop;
        }
        if d == Dir::RToI && !ans_lost && is_ccs(b, true) {
            ans_lost = true;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let old = ups(&p.i)[0].inbound_spi;
    let t0 = p.time;
    assert!(p.rekey_child_i(old));
    p.run_for(Duration::from_secs(10));
    assert_one_rekey(&p);
    let reqs = messages(&p.log, Dir::IToR, ExchangeType::CreateChildSa, false);
    assert_eq!(reqs.len(), 3, "sent, lost; resent at 1 s, answer lost; resent at 3 s");
    assert!(reqs.windows(2).all(|w| w[0].1 == w[1].1), "identical retransmissions");
    assert_eq!(reqs[2].0.since(t0).as_millis(), 3000);
    let rs = p.r.ep.sa(p.rh()).unwrap().stats();
    assert_eq!(rs.replays, 1, "the answer came from the cache: one new pair");
    assert_eq!(ups(&p.r).len(), 2);
}

#[test]
fn ikev2_rekey_late_answer_and_retransmission_make_one_pair() {
    let (i, r) = pair_cfg(&[], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    // The answer is 1.5 s late: the request is resent at 1 s and answered again from the
    // cache; the second answer is stale.
    let mut done = false;
    p.fault = Box::new(move |d, _, b| {
        if d == Dir::RToI && !done && is_ccs(b, true) {
            done = true;
            return Fate::Delay(Duration::from_millis(1500));
        }
        Fate::Deliver
    });
    let old = ups(&p.i)[0].inbound_spi;
    assert!(p.rekey_child_i(old));
    p.run_for(Duration::from_secs(10));
    assert_one_rekey(&p);
    assert_eq!(messages(&p.log, Dir::RToI, ExchangeType::CreateChildSa, true).len(), 2);
    assert!(p.i.ep.sa(p.h).unwrap().stats().unexpected >= 1);
}

#[test]
fn ikev2_rekey_lost_delete_of_the_old_ike_sa_is_retransmitted() {
    let (i, r) = pair_cfg(&[], 3600);
    let mut p = Pair::new(i, r);
    p.establish();
    let old = p.ike_spis();
    // The first INFORMATIONAL request (the DELETE of the old IKE SA) is lost.
    let mut lost = false;
    p.fault = Box::new(move |d, _, b| {
        let info = Message::parse(b).is_ok_and(|m| {
            m.header.exchange_type == ExchangeType::Informational && !m.header.response
        });
        if d == Dir::IToR && info && !lost {
            lost = true;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let (now, h) = (p.time, p.h);
    assert!(p.i.ep.rekey_ike(now, h, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_ike_rekeyed(&p, old, true);
    let dels = messages(&p.log, Dir::IToR, ExchangeType::Informational, false);
    assert_eq!(dels.len(), 2, "resent once");
    assert!(dels.iter().all(|(_, m)| (m.header.spi_i, m.header.spi_r) == old));
    assert!(p.i.ep.sa(p.h).unwrap().stats().retransmits >= 1);
    p.run_for(Duration::from_secs(200));
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().routes().len(), 1);
}
