//! Stateful failover of an ISAKMP SA between two IKEv1 endpoints on a virtual clock: A and
//! B establish (Main Mode, pre-shared key, PFS), A's SA is exported, sent through the
//! failover link's codec, imported into A' on a fresh endpoint (the standby taking over)
//! and A is dropped. A' and B then carry on without renegotiating: DPD both ways, Quick
//! Mode rekeys from either side, a new Quick Mode, DELETE. The same behind a NAT (ports
//! floated to 4500), where the responder is taken over too. Deterministic: seeded RNG.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use super::*;
use crate::crypto::{DhGroup, WeakGroups};
use crate::ha::Record;
use crate::ha::record::{MAX_IKEV1_IV_LEN, Selector};
use crate::ha::wire::Message as HaMessage;
use crate::ikev1::keys::HashAlg;
use crate::ikev1::proposal::{AuthMethod, EncapMode, Phase1Policy, Phase2Policy};
use crate::ikev1::sa::{Dpd, Ikev1Endpoint, Ikev1Handle, Phase1Mode};
use crate::ikev1::wire::{Identification, esp_id, p2attr};
use crate::ikev2::sa::{ChildSa, CloseReason, Event, Psk};
use crate::ikev2::selectors::{PolicySelectors, from_prefix};
use crate::retransmit::RetransmitPolicy;

include!("../../../../tests/support/test_rng.rs");

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The NAT in front of A in the NAT-T lab: A's port 500 appears as 40000, 4500 as 40001.
const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn config(local: Ipv4Addr, peer: Ipv4Addr, local_net: &str, remote_net: &str) -> Ikev1Config {
    let net = |s: &str| {
        let (a, l) = s.split_once('/').unwrap();
        from_prefix(a.parse::<IpAddr>().unwrap(), l.parse().unwrap())
    };
    Ikev1Config {
        local: SocketAddr::new(local.into(), 500),
        peer: SocketAddr::new(peer.into(), 500),
        local_id: Identification::address(local.into()),
        remote_id: None,
        psk: Psk::new(b"ikev1 failover key"),
        certificates: None,
        remote_access: None,
        phase1: vec![Phase1Policy {
            encryption_key_bits: 256,
            hash: HashAlg::Sha256,
            auth: AuthMethod::Psk,
            group: DhGroup::Ecp256,
            lifetime: Duration::from_secs(86_400),
        }],
        mode: Phase1Mode::Main,
        allow_aggressive: false,
        phase2: vec![Phase2Policy {
            esp_id: esp_id::ESP_AES_CBC,
            key_bits: Some(256),
            auth: Some(p2attr::AUTH_HMAC_SHA2_256),
            mode: EncapMode::Tunnel,
            pfs: Some(DhGroup::Ecp256),
            lifetime_seconds: 3600,
            lifetime_kilobytes: 4_608_000,
        }],
        selectors: PolicySelectors { local: vec![net(local_net)], remote: vec![net(remote_net)] },
        dpd: Some(Dpd::default()),
        retransmit: RetransmitPolicy::default(),
        initial_contact: true,
        nat_traversal: true,
        weak_groups: WeakGroups::Reject,
        rekey_overlap: Duration::from_secs(5),
    }
}

fn configs() -> (Ikev1Config, Ikev1Config) {
    (config(A, B, "10.1.0.0/16", "10.2.0.0/16"), config(B, A, "10.2.0.0/16", "10.1.0.0/16"))
}

/// Two endpoints and the wire between them; `nat` rewrites A's source address as B sees
/// it, like a NAPT in front of A.
struct Sim {
    now: Time,
    a: Ikev1Endpoint,
    b: Ikev1Endpoint,
    rng: TestRng,
    events_a: Vec<(Ikev1Handle, Event)>,
    events_b: Vec<(Ikev1Handle, Event)>,
    nat: Option<SocketAddr>,
}

impl Sim {
    /// A (initiator) and B up, with their first pair.
    fn up(a_cfg: Ikev1Config, b_cfg: Ikev1Config, nat: bool, tag: &str) -> Sim {
        let mut b = Ikev1Endpoint::new();
        b.set_responder_configs(vec![b_cfg]);
        let mut a = Ikev1Endpoint::new();
        let mut rng = TestRng::new(tag);
        a.initiate(Time::ZERO, a_cfg, &mut rng).unwrap();
        let nat = nat.then(|| SocketAddr::new(NAT.into(), 40_000));
        let mut sim =
            Sim { now: Time::ZERO, a, b, rng, events_a: Vec::new(), events_b: Vec::new(), nat };
        sim.pump();
        assert_eq!((established(&sim.events_a), established(&sim.events_b)), (1, 1));
        assert_eq!((ups(&sim.events_a).len(), ups(&sim.events_b).len()), (1, 1));
        sim
    }

    /// Delivers everything queued until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                let from = match self.nat {
                    Some(outside) => SocketAddr::new(
                        outside.ip(),
                        outside.port() + u16::from(t.from.port() == 4500),
                    ),
                    None => t.from,
                };
                self.b.handle(self.now, &t.bytes, from, &mut self.rng);
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                self.a.handle(self.now, &t.bytes, t.from, &mut self.rng);
            }
            while let Some(e) = self.a.poll_event() {
                moved = true;
                self.events_a.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                moved = true;
                self.events_b.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the endpoints never went quiet");
    }

    /// Advances the clock timer by timer up to `until`.
    fn run_until(&mut self, until: Time) {
        self.pump();
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now, &mut self.rng);
                    self.b.handle_timeout(self.now, &mut self.rng);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }
}

fn only(ep: &Ikev1Endpoint) -> (Ikev1Handle, &Ikev1Sa) {
    let mut live = ep.sas().filter(|(_, sa)| !sa.is_dead());
    let one = live.next().expect("an SA");
    assert!(live.next().is_none(), "one SA only");
    one
}

fn ups(events: &[(Ikev1Handle, Event)]) -> Vec<&ChildSa> {
    events
        .iter()
        .filter_map(|(_, e)| if let Event::ChildSaUp(c) = e { Some(c) } else { None })
        .collect()
}

fn established(events: &[(Ikev1Handle, Event)]) -> usize {
    events.iter().filter(|(_, e)| matches!(e, Event::Established(_))).count()
}

fn failed(events: &[(Ikev1Handle, Event)]) -> usize {
    events.iter().filter(|(_, e)| matches!(e, Event::Failed(_) | Event::ChildSaFailed(_))).count()
}

fn downs(events: &[(Ikev1Handle, Event)]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ChildSaDown { inbound_spi, .. } => Some(*inbound_spi),
            _ => None,
        })
        .collect()
}

/// The two pairs are one: A's inbound SA is B's outbound one, with the same keys.
fn assert_mirrored(a: &ChildSa, b: &ChildSa) {
    assert_eq!((a.inbound_spi, a.outbound_spi), (b.outbound_spi, b.inbound_spi));
    assert_eq!(a.inbound.encr.as_bytes(), b.outbound.encr.as_bytes());
    assert_eq!(a.inbound.integ.as_bytes(), b.outbound.integ.as_bytes());
    assert_eq!(a.outbound.encr.as_bytes(), b.inbound.encr.as_bytes());
    assert_eq!(a.outbound.integ.as_bytes(), b.inbound.integ.as_bytes());
    assert_eq!((&a.local_ts, &a.remote_ts), (&b.remote_ts, &b.local_ts));
}

/// The same pair, as installed: SPIs, transforms, keys, selectors.
fn assert_same_pair(a: &ChildSa, b: &ChildSa) {
    assert_eq!((a.inbound_spi, a.outbound_spi), (b.inbound_spi, b.outbound_spi));
    assert_eq!(a.transforms, b.transforms);
    assert_eq!(a.inbound.encr.as_bytes(), b.inbound.encr.as_bytes());
    assert_eq!(a.inbound.integ.as_bytes(), b.inbound.integ.as_bytes());
    assert_eq!(a.outbound.encr.as_bytes(), b.outbound.encr.as_bytes());
    assert_eq!(a.outbound.integ.as_bytes(), b.outbound.integ.as_bytes());
    assert_eq!((&a.local_ts, &a.remote_ts), (&b.local_ts, &b.remote_ts));
}

/// One record through the failover link's codec, as one Replicate message.
fn over_the_link(rec: Record) -> Record {
    let m = HaMessage::Replicate { generation: 1, seq: 1, age_ms: 0, records: vec![rec] };
    let body = m.encode().expect("every record fits a message");
    match HaMessage::decode(&body).expect("decodes") {
        HaMessage::Replicate { mut records, .. } if records.len() == 1 => records.remove(0),
        other => panic!("not a Replicate: {other:?}"),
    }
}

/// An SA's records, through the link and back (and equal after the round trip).
fn export(sa: &Ikev1Sa, now: Time) -> (IkeSaRecord, Vec<ChildSaRecord>) {
    let (ike, children) = sa.export(now).expect("established");
    let Record::UpsertIke(ike2) = over_the_link(Record::UpsertIke(ike.clone())) else {
        panic!("IKE SA record")
    };
    assert_eq!(ike2, ike);
    let children2: Vec<ChildSaRecord> = children
        .iter()
        .map(|c| match over_the_link(Record::UpsertChild(c.clone())) {
            Record::UpsertChild(c) => c,
            other => panic!("pair record expected: {other:?}"),
        })
        .collect();
    assert_eq!(children2, children);
    (ike2, children2)
}

/// The standby takes over: the SA imported from the records, on a fresh endpoint,
/// replaces the old unit's (dropped, with whatever was in flight to it). Checks that the
/// imported SA holds exactly the pairs of `before` (the old unit's ChildSaUp events).
fn take_over(
    now: Time,
    cfg: Ikev1Config,
    ike: &IkeSaRecord,
    children: &[ChildSaRecord],
    before: &[ChildSa],
) -> Ikev1Endpoint {
    let mut rng = TestRng::new("standby");
    let sa = Ikev1Sa::import(now, cfg, ike, children, &mut rng).expect("import");
    assert!(sa.is_established());
    assert_eq!((sa.cky_i(), sa.cky_r()), (ike.spi_i, ike.spi_r));
    assert_eq!((sa.local_addr(), sa.peer()), (ike.local, ike.peer));
    assert_eq!(sa.nat_detected(), ike.nat);
    let info = sa.established_info().expect("established");
    assert_eq!((info.spi_i, info.spi_r, info.initiator), (ike.spi_i, ike.spi_r, ike.initiator));
    assert_eq!(info.transforms.dh.map(u16::from), Some(19));
    let resumed = sa.resumed_children();
    assert_eq!(resumed.len(), before.len());
    for (r, b) in resumed.iter().zip(before) {
        assert_same_pair(r, b);
    }
    let mut ep = Ikev1Endpoint::new();
    ep.adopt(now, sa);
    assert_eq!(ep.len(), 1);
    ep
}

fn rekey(ep: &mut Ikev1Endpoint, spi: u32, now: Time, tag: &str) {
    let h = only(ep).0;
    let mut rng = TestRng::new(tag);
    assert_eq!(ep.with_sa(h, |sa| sa.rekey_child(now, spi, &mut rng)), Some(true));
}

/// The cookies of the only SA of each side.
fn cookies(sim: &Sim) -> [(u64, u64); 2] {
    let (_, a) = only(&sim.a);
    let (_, b) = only(&sim.b);
    [(a.cky_i(), a.cky_r()), (b.cky_i(), b.cky_r())]
}

#[test]
fn main_mode_takeover_carries_on_without_renegotiation() {
    let (a_cfg, b_cfg) = configs();
    let mut sim = Sim::up(a_cfg.clone(), b_cfg, false, "ikev1 takeover");
    // A has run a DPD check, so B has a sequence number from it that A' must exceed.
    sim.run_for(Duration::from_secs(11));
    let (a_seq, _) = only(&sim.a).1.dpd_sequences();
    assert_eq!(only(&sim.b).1.dpd_sequences().1, Some(a_seq));
    let before: Vec<ChildSa> = ups(&sim.events_a).into_iter().map(clone_pair).collect();
    let original = cookies(&sim);

    let (ike, children) = export(only(&sim.a).1, sim.now);
    assert_eq!((ike.version, ike.initiator, ike.nat), (1, true, false));
    assert_eq!((ike.spi_i, ike.spi_r), original[0]);
    assert_eq!(
        ike.transforms,
        IkeTransforms { encr: 7, encr_key_bits: 256, prf: 4, integ: 0, dh: 19 }
    );
    assert_eq!([ike.keys.sk_d.len(), ike.keys.sk_ai.len(), ike.keys.sk_ei.len()], [32; 3]);
    assert_eq!(ike.peer_id, [&[1u8][..], &B.octets()].concat(), "ID_IPV4_ADDR of B");
    let v1 = ike.ikev1.as_ref().unwrap();
    assert_eq!((v1.auth_method, v1.dpd_seq, v1.peer_dpd, v1.peer_nat_t), (1, a_seq, true, true));
    assert_eq!(v1.phase1_iv.len(), MAX_IKEV1_IV_LEN);
    assert_eq!(children.len(), 1);
    let c = &children[0];
    assert_eq!((c.transforms.encr, c.transforms.encr_key_bits, c.transforms.dh), (12, 256, 19));
    assert_eq!((c.inbound_key.len(), c.udp_encap, c.phase), (64, None, ChildPhase::Active));
    assert!(c.lifetimes.soft_secs > 0 && c.lifetimes.soft_secs < c.lifetimes.hard_secs);
    assert_eq!(c.lifetimes.hard_kb, 4_608_000);

    sim.a = take_over(sim.now, a_cfg, &ike, &children, &before);
    sim.events_a.clear();
    let b_answered = only(&sim.b).1.stats().dpd_answered;
    let b_sent = only(&sim.b).1.stats().dpd_sent;

    // DPD both ways: A' probes after a threshold of silence and B answers it, above the
    // old unit's sequence number; B probes and A' answers. Nobody declares the other dead.
    sim.run_for(Duration::from_secs(40));
    let (a2, b) = (only(&sim.a).1, only(&sim.b).1);
    assert!(a2.stats().dpd_sent >= 1 && b.stats().dpd_answered > b_answered);
    assert!(b.stats().dpd_sent > b_sent && a2.stats().dpd_answered >= 1);
    let seen = b.dpd_sequences().1.unwrap();
    assert!(seen > a_seq.wrapping_add(DPD_SEQ_JUMP), "B saw {seen}, A had sent {a_seq}");
    assert_eq!(failed(&sim.events_a) + failed(&sim.events_b), 0);
    assert_eq!(cookies(&sim), original);

    // A Quick Mode rekey from A': a new pair on both sides, the old one retired by A'
    // after the overlap.
    let old = before[0].inbound_spi;
    rekey(&mut sim.a, old, sim.now, "rekey from A'");
    sim.pump();
    let (na, nb) = (ups(&sim.events_a), ups(&sim.events_b));
    assert_eq!((na.len(), nb.len()), (1, 2));
    assert_mirrored(na[0], nb[1]);
    assert_eq!(na[0].rekey_of, Some(old));
    assert_ne!(na[0].inbound.encr.as_bytes(), before[0].inbound.encr.as_bytes());
    let b_spi = nb[1].inbound_spi;
    sim.run_for(Duration::from_secs(6));
    assert_eq!(downs(&sim.events_a), [old]);
    assert_eq!(downs(&sim.events_b), [before[0].outbound_spi]);

    // A rekey from B of the new pair.
    rekey(&mut sim.b, b_spi, sim.now, "rekey from B");
    sim.pump();
    let (na, nb) = (ups(&sim.events_a), ups(&sim.events_b));
    assert_eq!((na.len(), nb.len()), (2, 3));
    assert_mirrored(na[1], nb[2]);
    assert_eq!(nb[2].rekey_of, Some(b_spi));

    // A new Quick Mode from A'.
    let h = only(&sim.a).0;
    let mut rng = TestRng::new("new pair");
    let now = sim.now;
    assert_eq!(sim.a.with_sa(h, |sa| sa.create_child(now, &mut rng)), Some(true));
    sim.pump();
    let (na, nb) = (ups(&sim.events_a), ups(&sim.events_b));
    assert_eq!((na.len(), nb.len()), (3, 4));
    assert_mirrored(na[2], nb[3]);
    assert_eq!(na[2].rekey_of, None);

    // Never a second phase 1, always the same ISAKMP SA.
    assert_eq!((established(&sim.events_a), established(&sim.events_b)), (0, 1));
    assert_eq!(failed(&sim.events_a) + failed(&sim.events_b), 0);
    assert_eq!(cookies(&sim), original);
    assert_eq!(sim.b.len(), 1);

    // DELETE from A' closes B's SA and its pairs.
    let live_b = only(&sim.b).1.child_spis().len();
    sim.a.close_all(sim.now, &mut TestRng::new("close"));
    sim.pump();
    assert!(
        sim.events_b
            .iter()
            .any(|(_, e)| matches!(e, Event::Closed { reason: CloseReason::PeerDeleted }))
    );
    assert_eq!(downs(&sim.events_b).len(), 1 + live_b);
    assert!(sim.b.sas().all(|(_, sa)| sa.is_dead()));
}

#[test]
fn nat_t_takeover_stays_on_4500_on_either_side() {
    let (a_cfg, mut b_cfg) = configs();
    // B knows A by the NAT's public address.
    b_cfg.peer = SocketAddr::new(NAT.into(), 500);
    let mut sim = Sim::up(a_cfg.clone(), b_cfg.clone(), true, "ikev1 nat takeover");
    let before_a: Vec<ChildSa> = ups(&sim.events_a).into_iter().map(clone_pair).collect();
    let before_b: Vec<ChildSa> = ups(&sim.events_b).into_iter().map(clone_pair).collect();
    let original = cookies(&sim);

    // The initiator, behind the NAT, taken over: it keeps sending from 4500.
    let (ike, children) = export(only(&sim.a).1, sim.now);
    assert!(ike.nat);
    assert_eq!((ike.local.port(), ike.peer.port()), (4500, 4500));
    assert_eq!(children[0].udp_encap, Some((4500, 4500)));
    sim.a = take_over(sim.now, a_cfg, &ike, &children, &before_a);
    sim.events_a.clear();
    let old = before_a[0].inbound_spi;
    rekey(&mut sim.a, old, sim.now, "rekey behind the NAT");
    sim.pump();
    assert_eq!(ups(&sim.events_a).len(), 1);
    assert_mirrored(ups(&sim.events_a)[0], ups(&sim.events_b)[1]);
    assert_eq!(
        only(&sim.b).1.peer(),
        SocketAddr::new(NAT.into(), 40_001),
        "B still answers the NAT's 4500 mapping"
    );

    // Then the responder is taken over: its peer is the NAT's mapping of A's port 4500.
    let (ike, children) = export(only(&sim.b).1, sim.now);
    assert_eq!((ike.initiator, ike.nat), (false, true));
    assert_eq!(ike.peer, SocketAddr::new(NAT.into(), 40_001));
    assert_eq!(ike.local, SocketAddr::new(B.into(), 4500));
    assert_eq!(children.len(), 2);
    let replaced: Vec<u32> = children
        .iter()
        .filter(|c| c.phase == ChildPhase::Replaced)
        .map(|c| c.inbound_spi)
        .collect();
    assert_eq!(replaced, [before_b[0].inbound_spi], "the pair A' rekeyed is replaced");
    let live: Vec<ChildSa> = ups(&sim.events_b).into_iter().map(clone_pair).collect();
    sim.b = take_over(sim.now, b_cfg, &ike, &children, &live);
    sim.events_b.clear();

    // A' retires the old pair after the overlap (B' too); DPD and a rekey from B' work.
    sim.run_for(Duration::from_secs(30));
    assert_eq!(downs(&sim.events_a), [old]);
    assert_eq!(downs(&sim.events_b), [before_b[0].inbound_spi]);
    let (a2, b2) = (only(&sim.a).1, only(&sim.b).1);
    assert!(a2.stats().dpd_answered >= 1 && b2.stats().dpd_answered >= 1);
    let spi = live[1].inbound_spi;
    rekey(&mut sim.b, spi, sim.now, "rekey from B'");
    sim.pump();
    assert_eq!(ups(&sim.events_b).len(), 1);
    assert_mirrored(ups(&sim.events_a)[1], ups(&sim.events_b)[0]);
    assert_eq!(failed(&sim.events_a) + failed(&sim.events_b), 0);
    assert_eq!(cookies(&sim), original);
    assert_eq!(only(&sim.a).1.local_addr().port(), 4500);
}

fn clone_pair(c: &ChildSa) -> ChildSa {
    ChildSa {
        inbound_spi: c.inbound_spi,
        outbound_spi: c.outbound_spi,
        transforms: c.transforms.clone(),
        inbound: copy_keys(&c.inbound),
        outbound: copy_keys(&c.outbound),
        local_ts: c.local_ts.clone(),
        remote_ts: c.remote_ts.clone(),
        lifetime_seconds: c.lifetime_seconds,
        lifetime_kilobytes: c.lifetime_kilobytes,
        mode: c.mode,
        rekey_of: c.rekey_of,
    }
}

#[test]
fn only_an_established_sa_is_exported() {
    let (a_cfg, _) = configs();
    let mut rng = TestRng::new("half open");
    let sa = Ikev1Sa::initiate(Time::ZERO, a_cfg, &mut rng).unwrap();
    assert!(sa.export(Time::ZERO).is_none());
    assert!(sa.established_info().is_none());
    assert!(sa.resumed_children().is_empty());
}

/// A's records and configuration, for the refusal tests.
fn records() -> (Ikev1Config, IkeSaRecord, Vec<ChildSaRecord>) {
    let (a_cfg, b_cfg) = configs();
    let sim = Sim::up(a_cfg.clone(), b_cfg, false, "ikev1 refusals");
    let (ike, children) = export(only(&sim.a).1, sim.now);
    (a_cfg, ike, children)
}

#[test]
fn import_refuses_records_that_do_not_fit_the_config() {
    let (cfg, ike, children) = records();
    let now = Time::from_secs(100);
    let import = |cfg: &Ikev1Config, ike: &IkeSaRecord, children: &[ChildSaRecord]| {
        Ikev1Sa::import(now, cfg.clone(), ike, children, &mut TestRng::new("refuse")).err()
    };
    assert_eq!(import(&cfg, &ike, &children), None, "the records fit as they are");
    let with = |f: &dyn Fn(&mut IkeSaRecord)| {
        let mut r = ike.clone();
        f(&mut r);
        import(&cfg, &r, &children)
    };
    let v1 = |f: &dyn Fn(&mut Ikev1Record)| with(&|r| f(r.ikev1.as_mut().unwrap()));
    let t = ike.transforms;

    assert_eq!(with(&|r| r.version = 2), Some(ImportError::Version(2)));
    assert_eq!(with(&|r| r.ikev1 = None), Some(ImportError::MissingIkev1State));
    assert_eq!(with(&|r| r.spi_r = 0), Some(ImportError::ZeroCookie));
    let elsewhere: SocketAddr = "198.51.100.3:500".parse().unwrap();
    assert_eq!(
        with(&|r| r.peer = elsewhere),
        Some(ImportError::PeerMismatch { record: elsewhere, config: cfg.peer })
    );
    // Unknown or unconfigured phase-1 transforms: Tiger, 3DES, AES-128, group 14.
    for bad in [
        IkeTransforms { prf: 3, ..t },
        IkeTransforms { encr: 5, ..t },
        IkeTransforms { encr_key_bits: 128, ..t },
        IkeTransforms { encr_key_bits: 100, ..t },
        IkeTransforms { dh: 14, ..t },
        IkeTransforms { dh: 9999, ..t },
        IkeTransforms { integ: 2, ..t },
    ] {
        assert_eq!(with(&|r| r.transforms = bad), Some(ImportError::Phase1Transforms(bad)));
    }
    assert_eq!(v1(&|s| s.auth_method = 3), Some(ImportError::AuthMethod(3)), "RSA, PSK configured");
    assert_eq!(v1(&|s| s.auth_method = 9999), Some(ImportError::AuthMethod(9999)));
    assert_eq!(v1(&|s| s.phase1_iv.truncate(8)), Some(ImportError::Phase1Iv(8)));
    let short = SecretBytes::from_slice(&[7; 20]);
    assert_eq!(
        with(&|r| r.keys.sk_ai = short.clone()),
        Some(ImportError::KeyLength("ISAKMP SA")),
        "a SHA-1 sized SKEYID_a for SHA-256"
    );
    assert_eq!(with(&|r| r.keys.sk_pi = short.clone()), Some(ImportError::KeyLength("ISAKMP SA")));
    let sig = SignatureRecord { method: 1, ..SignatureRecord::default() };
    assert_eq!(
        with(&|r| r.local_auth = LocalAuthRecord::Certificate { signature: sig, credential: 0 }),
        Some(ImportError::AuthMismatch("local"))
    );
    assert_eq!(
        with(&|r| r.remote_auth =
            RemoteAuthRecord::Certificate { signature: sig, subject: "CN=b".into() }),
        Some(ImportError::AuthMismatch("remote"))
    );
    assert_eq!(
        with(&|r| r.virtual_ips = vec!["10.9.0.10".parse().unwrap()]),
        Some(ImportError::RemoteAccess)
    );
    let mut other = cfg.clone();
    other.remote_id = Some(Identification::address("198.51.100.7".parse().unwrap()));
    assert_eq!(import(&other, &ike, &children), Some(ImportError::PeerIdentity));
    let mut broken = cfg.clone();
    broken.phase2.clear();
    assert_eq!(
        import(&broken, &ike, &children),
        Some(ImportError::Config(ConfigError::NoTransformSet))
    );

    // The pairs.
    let spi = children[0].inbound_spi;
    let pair = |f: &dyn Fn(&mut ChildSaRecord)| {
        let mut c = children[0].clone();
        f(&mut c);
        import(&cfg, &ike, &[c])
    };
    let ct = children[0].transforms;
    for bad in [
        ChildTransforms { encr: 20, ..ct },
        ChildTransforms { encr_key_bits: 128, ..ct },
        ChildTransforms { integ: 2, ..ct },
        ChildTransforms { dh: 0, ..ct },
        ChildTransforms { dh: 14, ..ct },
        ChildTransforms { esn: true, ..ct },
    ] {
        assert_eq!(
            pair(&|c| c.transforms = bad),
            Some(ImportError::ChildTransforms { spi, transforms: bad })
        );
    }
    let short = SecretBytes::from_slice(&[1; 63]);
    assert_eq!(
        pair(&|c| c.outbound_key = short.clone()),
        Some(ImportError::KeyLength("Quick Mode SA"))
    );
    assert_eq!(pair(&|c| c.ike_id ^= 1), Some(ImportError::ForeignChild(spi)));
    assert_eq!(pair(&|c| c.inbound_spi = 255), Some(ImportError::ChildSpi(255)));
    assert_eq!(pair(&|c| c.outbound_spi = 0), Some(ImportError::ChildSpi(spi)));
    assert_eq!(pair(&|c| c.local_ts.clear()), Some(ImportError::Selectors(spi)));
    let outside = Selector {
        start: "10.7.0.0".parse().unwrap(),
        end: "10.7.255.255".parse().unwrap(),
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    };
    assert_eq!(pair(&|c| c.remote_ts = vec![outside]), Some(ImportError::Selectors(spi)));
    let ports = Selector { start_port: 80, end_port: 443, ..children[0].local_ts[0] };
    assert_eq!(
        pair(&|c| c.local_ts = vec![ports]),
        Some(ImportError::Selectors(spi)),
        "a port range IKEv1 cannot carry"
    );
    let twice = [children[0].clone(), children[0].clone()];
    assert_eq!(import(&cfg, &ike, &twice), Some(ImportError::DuplicateChild(spi)));
}

/// Whatever a damaged or hostile record holds, the import answers with an error or an SA,
/// never a panic: every byte of the encoded records flipped three ways.
#[test]
fn import_never_panics_on_damaged_records() {
    let (cfg, ike, children) = records();
    let encode = |rec: &Record| {
        let m =
            HaMessage::Replicate { generation: 1, seq: 1, age_ms: 0, records: vec![rec.clone()] };
        m.encode().unwrap().to_vec()
    };
    let decode = |b: &[u8]| match HaMessage::decode(b) {
        Ok(HaMessage::Replicate { mut records, .. }) if records.len() == 1 => {
            Some(records.remove(0))
        }
        _ => None,
    };
    let mut rng = TestRng::new("damaged");
    let now = Time::from_secs(5);
    let (mut imported, mut refused) = (0, 0);
    let mut run = |ike: &IkeSaRecord, children: &[ChildSaRecord]| match Ikev1Sa::import(
        now,
        cfg.clone(),
        ike,
        children,
        &mut rng,
    ) {
        Ok(sa) => {
            imported += 1;
            let _ = sa.export(now);
        }
        Err(e) => {
            refused += 1;
            assert!(!e.to_string().is_empty());
        }
    };
    let ike_bytes = encode(&Record::UpsertIke(ike.clone()));
    for i in 0..ike_bytes.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut b = ike_bytes.clone();
            b[i] ^= x;
            if let Some(Record::UpsertIke(r)) = decode(&b) {
                run(&r, &children);
            }
        }
    }
    let child_bytes = encode(&Record::UpsertChild(children[0].clone()));
    for i in 0..child_bytes.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut b = child_bytes.clone();
            b[i] ^= x;
            if let Some(Record::UpsertChild(c)) = decode(&b) {
                run(&ike, &[c]);
            }
        }
    }
    // Both outcomes occur: lifetimes and SPIs take any value, transforms do not.
    assert!(imported > 0 && refused > 0, "{imported} imported, {refused} refused");
}

/// The phase-1 IV is state the peer shares: with it damaged, the new active's messages no
/// longer decrypt at the peer, which then never answers its DPD checks.
#[test]
fn a_wrong_phase_1_iv_desynchronises_the_peer() {
    let (a_cfg, b_cfg) = configs();
    let mut sim = Sim::up(a_cfg.clone(), b_cfg, false, "ikev1 wrong iv");
    let (mut ike, children) = export(only(&sim.a).1, sim.now);
    ike.ikev1.as_mut().unwrap().phase1_iv[0] ^= 1;
    let before: Vec<ChildSa> = ups(&sim.events_a).into_iter().map(clone_pair).collect();
    sim.a = take_over(sim.now, a_cfg, &ike, &children, &before);
    sim.events_a.clear();
    let bad = only(&sim.b).1.stats().undecryptable + only(&sim.b).1.stats().bad_hash;
    // Only A' checks: B would otherwise keep A' alive with its own (decryptable) checks.
    sim.b.with_sa(only(&sim.b).0, |sa| sa.cfg.dpd = None);
    sim.run_for(Duration::from_secs(60));
    let b = only(&sim.b).1;
    assert!(b.stats().undecryptable + b.stats().bad_hash > bad);
    assert!(
        sim.events_a.iter().any(|(_, e)| matches!(e, Event::Failed(_))),
        "A' declared the peer dead"
    );
}
