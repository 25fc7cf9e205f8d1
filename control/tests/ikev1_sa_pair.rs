//! Deterministic simulations of two IKEv1 endpoints on a virtual clock: Main and Aggressive
//! Mode with pre-shared keys, Quick Mode with PFS, lost and duplicated messages, rekeying
//! with overlap, DPD, DELETE, NAT traversal and refusals.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use control::crypto::{DhGroup, WeakGroups};
use control::ikev1::keys::HashAlg;
use control::ikev1::proposal::{AuthMethod, EncapMode, Phase1Policy, Phase2Policy};
use control::ikev1::sa::{Dpd, Ikev1Config, Ikev1Endpoint, Ikev1Handle, Phase1Mode};
use control::ikev1::wire::{Identification, esp_id, p2attr};
use control::ikev2::sa::{ChildSa, CloseReason, Event, FailureCause, Psk, Transmit};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

include!("support/test_rng.rs");

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn phase1(group: DhGroup) -> Phase1Policy {
    Phase1Policy {
        encryption_key_bits: 256,
        hash: HashAlg::Sha256,
        auth: AuthMethod::Psk,
        group,
        lifetime: Duration::from_secs(86_400),
    }
}

fn phase2(pfs: Option<DhGroup>, seconds: u64) -> Phase2Policy {
    Phase2Policy {
        esp_id: esp_id::ESP_AES_CBC,
        key_bits: Some(256),
        auth: Some(p2attr::AUTH_HMAC_SHA2_256),
        mode: EncapMode::Tunnel,
        pfs,
        lifetime_seconds: seconds,
        lifetime_kilobytes: 4_608_000,
    }
}

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
        psk: Psk::new(b"ikev1 simulation key"),
        certificates: None,
        remote_access: None,
        phase1: vec![phase1(DhGroup::Modp2048)],
        mode: Phase1Mode::Main,
        allow_aggressive: false,
        phase2: vec![phase2(Some(DhGroup::Modp2048), 3600)],
        selectors: PolicySelectors { local: vec![net(local_net)], remote: vec![net(remote_net)] },
        dpd: Some(Dpd::default()),
        retransmit: RetransmitPolicy::default(),
        initial_contact: true,
        nat_traversal: true,
        weak_groups: WeakGroups::Reject,
        rekey_overlap: Duration::from_secs(5),
    }
}

/// Decides whether to drop a datagram: (from A, index of the datagram on the wire, it).
type DropRule = Box<dyn FnMut(bool, usize, &Transmit) -> bool>;

/// Two endpoints and the wire between them. `nat` rewrites A's source address as B sees
/// it (and back), like a NAPT in front of A.
struct Sim {
    now: Time,
    a: Ikev1Endpoint,
    b: Ikev1Endpoint,
    rng: TestRng,
    events_a: Vec<(Ikev1Handle, Event)>,
    events_b: Vec<(Ikev1Handle, Event)>,
    /// Drops a datagram when it returns true: (from A, index of the datagram on the wire).
    drop: DropRule,
    sent: usize,
    nat: Option<SocketAddr>,
}

impl Sim {
    fn new(a_cfg: Ikev1Config, b_cfg: Ikev1Config, tag: &str) -> Sim {
        let mut b = Ikev1Endpoint::new();
        b.set_responder_configs(vec![b_cfg]);
        let mut a = Ikev1Endpoint::new();
        let mut rng = TestRng::new(tag);
        a.initiate(Time::ZERO, a_cfg, &mut rng).unwrap();
        Sim {
            now: Time::ZERO,
            a,
            b,
            rng,
            events_a: Vec::new(),
            events_b: Vec::new(),
            drop: Box::new(|_, _, _| false),
            sent: 0,
            nat: None,
        }
    }

    /// Delivers everything queued until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                self.sent += 1;
                if (self.drop)(true, self.sent, &t) {
                    continue;
                }
                let from = match self.nat {
                    // The NAT maps port 500 and port 4500 of A to two outside ports.
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
                self.sent += 1;
                if (self.drop)(false, self.sent, &t) {
                    continue;
                }
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
}

fn children_up(events: &[(Ikev1Handle, Event)]) -> Vec<&ChildSa> {
    events
        .iter()
        .filter_map(|(_, e)| if let Event::ChildSaUp(c) = e { Some(c) } else { None })
        .collect()
}

fn established(events: &[(Ikev1Handle, Event)]) -> usize {
    events.iter().filter(|(_, e)| matches!(e, Event::Established(_))).count()
}

fn failures(events: &[(Ikev1Handle, Event)]) -> Vec<&FailureCause> {
    events
        .iter()
        .filter_map(|(_, e)| if let Event::Failed(f) = e { Some(f) } else { None })
        .collect()
}

fn downs(events: &[(Ikev1Handle, Event)]) -> Vec<(u32, u32)> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ChildSaDown { inbound_spi, outbound_spi } => Some((*inbound_spi, *outbound_spi)),
            _ => None,
        })
        .collect()
}

/// The pairs mirror each other: A's inbound SA is B's outbound one, with the same keys.
fn assert_mirrored(a: &ChildSa, b: &ChildSa) {
    assert_eq!(a.inbound_spi, b.outbound_spi);
    assert_eq!(a.outbound_spi, b.inbound_spi);
    assert_eq!(a.inbound.encr.as_bytes(), b.outbound.encr.as_bytes());
    assert_eq!(a.inbound.integ.as_bytes(), b.outbound.integ.as_bytes());
    assert_eq!(a.outbound.encr.as_bytes(), b.inbound.encr.as_bytes());
    assert_eq!(a.outbound.integ.as_bytes(), b.inbound.integ.as_bytes());
    assert_ne!(
        a.inbound.encr.as_bytes(),
        a.outbound.encr.as_bytes(),
        "each direction has its own keys"
    );
    assert_eq!(a.inbound.encr.len(), 32, "AES-256");
    assert_eq!(a.inbound.integ.len(), 32, "HMAC-SHA-256");
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
}

fn lab() -> (Ikev1Config, Ikev1Config) {
    (config(A, B, "10.1.0.0/16", "10.2.0.0/16"), config(B, A, "10.2.0.0/16", "10.1.0.0/16"))
}

#[test]
fn main_mode_with_a_pre_shared_key_brings_up_a_pfs_pair() {
    let (a, b) = lab();
    let mut sim = Sim::new(a, b, "main mode");
    sim.pump();
    assert_eq!(established(&sim.events_a), 1);
    assert_eq!(established(&sim.events_b), 1);
    let (ca, cb) = (children_up(&sim.events_a), children_up(&sim.events_b));
    assert_eq!((ca.len(), cb.len()), (1, 1));
    assert_mirrored(ca[0], cb[0]);
    assert_eq!(ca[0].lifetime_seconds, 3600);
    assert_eq!(ca[0].transforms.dh.map(u16::from), Some(14), "PFS group 14");
    // Main Mode's six messages and Quick Mode's three.
    assert_eq!(sim.sent, 9);
}

#[test]
fn ecp256_phase_1_and_phase_2() {
    let (mut a, mut b) = lab();
    for c in [&mut a, &mut b] {
        c.phase1 = vec![phase1(DhGroup::Ecp256)];
        c.phase2 = vec![phase2(Some(DhGroup::Ecp256), 3600)];
    }
    let mut sim = Sim::new(a, b, "ecp256");
    sim.pump();
    assert_mirrored(children_up(&sim.events_a)[0], children_up(&sim.events_b)[0]);
}

#[test]
fn every_first_transmission_lost_still_converges() {
    let (mut a, mut b) = lab();
    // Every R-U-THERE is a new message (fresh Message ID), which this wire would drop.
    a.dpd = None;
    b.dpd = None;
    let mut sim = Sim::new(a, b, "lossy");
    // Drop each distinct message the first time it is sent.
    let mut seen = std::collections::HashSet::new();
    sim.drop = Box::new(move |_, _, t| seen.insert(t.bytes.clone()));
    sim.run_until(Time::from_secs(60));
    assert_eq!(established(&sim.events_a), 1);
    assert_eq!(established(&sim.events_b), 1);
    let (ca, cb) = (children_up(&sim.events_a), children_up(&sim.events_b));
    assert_eq!((ca.len(), cb.len()), (1, 1), "one pair each, no duplicates from retransmits");
    assert_mirrored(ca[0], cb[0]);
    assert!(failures(&sim.events_a).is_empty() && failures(&sim.events_b).is_empty());
}

#[test]
fn aggressive_mode_is_refused_unless_enabled() {
    let (mut a, b) = lab();
    a.mode = Phase1Mode::Aggressive;
    a.allow_aggressive = true;
    let mut sim = Sim::new(a.clone(), b.clone(), "aggressive refused");
    sim.pump();
    assert_eq!(established(&sim.events_b), 0);
    assert!(!failures(&sim.events_a).is_empty(), "the initiator learns of the refusal");
    let mut b2 = b;
    b2.allow_aggressive = true;
    let mut sim = Sim::new(a, b2, "aggressive allowed");
    sim.pump();
    assert_eq!(established(&sim.events_a), 1);
    assert_eq!(established(&sim.events_b), 1);
    assert_mirrored(children_up(&sim.events_a)[0], children_up(&sim.events_b)[0]);
    assert_eq!(sim.sent, 6, "three Aggressive Mode messages and three Quick Mode ones");
}

#[test]
fn aggressive_mode_initiation_needs_the_opt_in() {
    let (mut a, _) = lab();
    a.mode = Phase1Mode::Aggressive;
    let mut ep = Ikev1Endpoint::new();
    assert!(ep.initiate(Time::ZERO, a, &mut TestRng::new("x")).is_err());
}

#[test]
fn a_wrong_pre_shared_key_fails_authentication() {
    let (a, mut b) = lab();
    b.psk = Psk::new(b"another key");
    let mut sim = Sim::new(a, b, "wrong key");
    sim.run_until(Time::from_secs(300));
    let fb = failures(&sim.events_b);
    assert!(matches!(fb.as_slice(), [FailureCause::AuthenticationFailed(_)]), "{fb:?}");
    let fa = failures(&sim.events_a);
    assert_eq!(fa.len(), 1, "{fa:?}");
    assert!(children_up(&sim.events_a).is_empty());
}

#[test]
fn no_common_phase_1_policy_is_reported_as_no_proposal_chosen() {
    let (a, mut b) = lab();
    b.phase1 = vec![Phase1Policy { hash: HashAlg::Sha1, ..phase1(DhGroup::Modp2048) }];
    let mut sim = Sim::new(a, b, "no proposal");
    sim.pump();
    let fa = failures(&sim.events_a);
    assert!(matches!(fa.as_slice(), [FailureCause::NoProposalChosen(_)]), "{fa:?}");
    assert!(matches!(failures(&sim.events_b).as_slice(), [FailureCause::NoProposalChosen(_)]));
}

#[test]
fn proxy_identities_outside_the_acl_are_refused() {
    let (a, _) = lab();
    let b = config(B, A, "10.2.0.0/16", "10.9.0.0/16");
    let mut sim = Sim::new(a, b, "ts");
    sim.pump();
    assert_eq!(established(&sim.events_a), 1);
    assert!(children_up(&sim.events_a).is_empty() && children_up(&sim.events_b).is_empty());
    let child_failed = |ev: &[(Ikev1Handle, Event)]| {
        ev.iter().any(|(_, e)| matches!(e, Event::ChildSaFailed(FailureCause::TsUnacceptable)))
    };
    assert!(child_failed(&sim.events_b));
    assert!(child_failed(&sim.events_a), "INVALID-ID-INFORMATION reaches the initiator");
}

#[test]
fn quick_mode_rekeys_before_expiry_and_retires_the_old_pair_after_the_overlap() {
    let (mut a, mut b) = lab();
    a.phase2 = vec![phase2(Some(DhGroup::Modp2048), 120)];
    b.phase2 = vec![phase2(Some(DhGroup::Modp2048), 120)];
    a.dpd = None;
    b.dpd = None;
    let mut sim = Sim::new(a, b, "rekey");
    sim.pump();
    let first = children_up(&sim.events_a)[0].inbound_spi;
    sim.run_until(Time::from_secs(115));
    let ua = children_up(&sim.events_a);
    let ub = children_up(&sim.events_b);
    assert_eq!(ua.len(), 2, "one rekey before the 120 s hard lifetime");
    assert_eq!(ub.len(), 2);
    let rekeyed_a = ua.iter().find(|c| c.rekey_of.is_some()).expect("a rekey on A");
    let rekeyed_b = ub.iter().find(|c| c.rekey_of.is_some()).expect("a rekey on B");
    assert_mirrored(rekeyed_a, rekeyed_b);
    assert_eq!(rekeyed_a.rekey_of, Some(first));
    // The old pair is gone on both sides, and only after its successor came up.
    let da = downs(&sim.events_a);
    assert_eq!(da.len(), 1);
    assert_eq!(da[0].0, first);
    assert_eq!(downs(&sim.events_b).len(), 1);
    let pos_up = sim
        .events_a
        .iter()
        .position(|(_, e)| matches!(e, Event::ChildSaUp(c) if c.rekey_of.is_some()))
        .unwrap();
    let pos_down =
        sim.events_a.iter().position(|(_, e)| matches!(e, Event::ChildSaDown { .. })).unwrap();
    assert!(pos_up < pos_down, "make before break");
    // Many lifetimes later, still exactly one pair each and no failure.
    sim.run_until(Time::from_secs(1200));
    let live = |ev: &[(Ikev1Handle, Event)]| children_up(ev).len() - downs(ev).len();
    assert_eq!(live(&sim.events_a), 1);
    assert_eq!(live(&sim.events_b), 1);
    assert!(failures(&sim.events_a).is_empty());
}

#[test]
fn a_volume_soft_limit_rekeys_on_demand() {
    let (a, b) = lab();
    let mut sim = Sim::new(a, b, "volume");
    sim.pump();
    let (h, spi) = match &sim.events_a[..] {
        [.., (h, Event::ChildSaUp(c))] => (*h, c.inbound_spi),
        other => panic!("{other:?}"),
    };
    let mut rng = TestRng::new("volume2");
    assert_eq!(sim.a.with_sa(h, |sa| sa.rekey_child(Time::ZERO, spi, &mut rng)), Some(true));
    assert_eq!(
        sim.a.with_sa(h, |sa| sa.rekey_child(Time::ZERO, spi, &mut rng)),
        Some(false),
        "already rekeying"
    );
    sim.pump();
    assert_eq!(children_up(&sim.events_a).len(), 2);
    assert_eq!(children_up(&sim.events_b).len(), 2);
}

#[test]
fn dpd_declares_a_frozen_peer_dead_and_keeps_a_live_one() {
    let (a, b) = lab();
    let mut sim = Sim::new(a, b, "dpd");
    sim.pump();
    // Idle but alive: R-U-THEREs are answered, nothing fails.
    sim.run_until(Time::from_secs(120));
    assert!(failures(&sim.events_a).is_empty());
    assert!(sim.a.sas().next().unwrap().1.stats().dpd_sent >= 5);
    assert!(sim.b.sas().next().unwrap().1.stats().dpd_answered >= 5);
    // Freeze B: nothing declares it dead early ...
    sim.drop = Box::new(|from_a, _, _| !from_a);
    let frozen_at = sim.now;
    sim.run_until(frozen_at + Duration::from_secs(5));
    assert!(failures(&sim.events_a).is_empty(), "not dead after 5 s");
    // ... and it is dead by threshold + (retries + 1) x retry (+1 s of slack).
    let dpd = Dpd::default();
    sim.run_until(
        frozen_at + dpd.threshold + dpd.retry * (dpd.retries + 1) + Duration::from_secs(1),
    );
    let fa = failures(&sim.events_a);
    assert!(matches!(fa.as_slice(), [FailureCause::PeerUnreachable { .. }]), "{fa:?}");
    assert_eq!(downs(&sim.events_a).len(), 1, "the pair goes down with the ISAKMP SA");
}

/// A's R-U-THEREs so far (0 once its SA is gone).
fn dpd_sent(sim: &Sim) -> u64 {
    sim.a.sas().next().map_or(0, |(_, sa)| sa.stats().dpd_sent)
}

/// A lab where only A runs DPD (`isakmp keepalive threshold 10 retry 2`), up at t = 0,
/// with B frozen from then on.
fn frozen_b() -> (Sim, Ikev1Handle) {
    let (a, mut b) = lab();
    b.dpd = None;
    let mut sim = Sim::new(a, b, "dpd-semantics");
    sim.pump();
    assert_eq!(children_up(&sim.events_a).len(), 1);
    sim.drop = Box::new(|from_a, _, _| !from_a);
    let h = sim.a.sas().next().unwrap().0;
    (sim, h)
}

/// On-demand DPD as the ASA does it: nothing before `threshold` of silence, then an
/// R-U-THERE every `retry`, and the peer dead after `retries` unanswered resends plus one
/// more `retry`.
#[test]
fn dpd_silent_peer_checked_at_threshold_retried_every_retry_then_dead() {
    let (mut sim, _) = frozen_b();
    let dpd = Dpd::default();
    let ms = Time::from_millis;
    sim.run_until(ms(9_999));
    assert_eq!(dpd_sent(&sim), 0, "nothing before the threshold");
    for k in 0..=u64::from(dpd.retries) {
        let at = 10_000 + 2_000 * k;
        sim.run_until(ms(at - 1));
        assert_eq!(dpd_sent(&sim), k, "before send {k}");
        sim.run_until(ms(at));
        assert_eq!(dpd_sent(&sim), k + 1, "send {k} at {at} ms");
    }
    sim.run_until(ms(21_999));
    assert!(failures(&sim.events_a).is_empty(), "alive until the last retry ran out");
    sim.run_until(ms(22_000));
    let fa = failures(&sim.events_a);
    assert!(
        matches!(fa[..], [FailureCause::PeerUnreachable { sends: 6, waited }]
            if *waited == Duration::from_secs(12)),
        "{fa:?}"
    );
}

/// Inbound ESP (reported once a second, as the appliance polls the dataplane) proves the
/// peer alive: no R-U-THERE while it flows; one threshold after it stops, DPD starts; ESP
/// arriving during a check ends it, and the next waits for another threshold.
#[test]
fn dpd_peer_sending_only_esp_is_never_checked() {
    let (mut sim, h) = frozen_b();
    for s in 1..=120 {
        sim.run_until(Time::from_secs(s));
        let now = sim.now;
        sim.a.with_sa(h, |sa| sa.note_inbound_traffic(now));
    }
    assert_eq!(dpd_sent(&sim), 0, "no R-U-THERE while ESP arrives");
    assert!(failures(&sim.events_a).is_empty());
    sim.run_until(Time::from_millis(129_999));
    assert_eq!(dpd_sent(&sim), 0);
    sim.run_until(Time::from_secs(130));
    assert_eq!(dpd_sent(&sim), 1, "threshold after the last ESP");
    // ESP again during the check: the check is over, the next one 10 s after this packet.
    sim.run_until(Time::from_secs(131));
    sim.a.with_sa(h, |sa| sa.note_inbound_traffic(Time::from_secs(131)));
    sim.run_until(Time::from_millis(140_999));
    assert_eq!(dpd_sent(&sim), 1, "no resend once ESP proved the peer alive");
    assert!(failures(&sim.events_a).is_empty());
    sim.run_until(Time::from_secs(141));
    assert_eq!(dpd_sent(&sim), 2, "a new check after another threshold of silence");
    sim.run_until(Time::from_secs(153));
    assert_eq!(failures(&sim.events_a).len(), 1, "dead 12 s into the new check");
}

#[test]
fn delete_tears_down_both_sides() {
    let (a, b) = lab();
    let mut sim = Sim::new(a, b, "delete");
    sim.pump();
    let mut rng = TestRng::new("close");
    sim.a.close_all(Time::from_secs(1), &mut rng);
    sim.pump();
    assert!(
        sim.events_a.iter().any(|(_, e)| matches!(e, Event::Closed { reason: CloseReason::Local }))
    );
    assert!(
        sim.events_b
            .iter()
            .any(|(_, e)| matches!(e, Event::Closed { reason: CloseReason::PeerDeleted }))
    );
    assert_eq!(downs(&sim.events_a).len(), 1);
    assert_eq!(downs(&sim.events_b).len(), 1);
    assert!(sim.b.is_empty() || sim.b.sas().all(|(_, sa)| sa.is_dead()));
}

#[test]
fn nat_traversal_floats_to_4500_and_encapsulates_esp() {
    let (a, mut b) = lab();
    // B knows A by the NAT's public address (its tunnel group is named after it).
    b.peer = SocketAddr::new(Ipv4Addr::new(203, 0, 113, 9).into(), 500);
    let mut sim = Sim::new(a, b, "nat");
    sim.nat = Some(SocketAddr::new(Ipv4Addr::new(203, 0, 113, 9).into(), 40_000));
    sim.pump();
    assert_eq!(established(&sim.events_a), 1);
    let info = sim
        .events_a
        .iter()
        .find_map(|(_, e)| if let Event::Established(i) = e { Some(i) } else { None })
        .unwrap();
    assert!(info.nat_detected);
    let (_, sa_a) = sim.a.sas().next().unwrap();
    assert_eq!(sa_a.local_addr().port(), 4500);
    assert_eq!(sa_a.peer().port(), 4500);
    let (_, sa_b) = sim.b.sas().next().unwrap();
    assert!(sa_b.nat_detected());
    assert_eq!(
        sa_b.peer(),
        SocketAddr::new(Ipv4Addr::new(203, 0, 113, 9).into(), 40_001),
        "B answers the NAT's 4500 mapping"
    );
    assert_mirrored(children_up(&sim.events_a)[0], children_up(&sim.events_b)[0]);
}

#[test]
fn a_shorter_responder_lifetime_wins() {
    let (mut a, mut b) = lab();
    a.phase2 = vec![phase2(Some(DhGroup::Modp2048), 28_800)];
    b.phase2 = vec![phase2(Some(DhGroup::Modp2048), 3600)];
    let mut sim = Sim::new(a, b, "responder lifetime");
    sim.pump();
    assert_eq!(children_up(&sim.events_b)[0].lifetime_seconds, 3600);
    assert_eq!(children_up(&sim.events_a)[0].lifetime_seconds, 3600, "RESPONDER-LIFETIME applied");
}

#[test]
fn garbage_changes_nothing() {
    let (a, b) = lab();
    let mut sim = Sim::new(a, b, "garbage");
    sim.pump();
    let mut rng = TestRng::new("garbage bytes");
    let (h, sa) = sim.b.sas().next().unwrap();
    let (cky_i, cky_r) = (sa.cky_i(), sa.cky_r());
    for len in [0usize, 3, 27, 28, 29, 64, 200, 1500] {
        for exchange in [2u8, 4, 5, 32, 99] {
            let mut bytes = vec![0u8; len];
            rand_core::Rng::fill_bytes(&mut rng, &mut bytes);
            if len >= 28 {
                bytes[..8].copy_from_slice(&cky_i.to_be_bytes());
                bytes[8..16].copy_from_slice(&cky_r.to_be_bytes());
                bytes[17] = 0x10;
                bytes[18] = exchange;
                bytes[24..28].copy_from_slice(&(len as u32).to_be_bytes());
            }
            sim.b.handle(sim.now, &bytes, SocketAddr::new(A.into(), 500), &mut rng);
        }
    }
    assert!(sim.b.sa(h).unwrap().is_established());
    if let Some(e) = sim.b.poll_event() {
        panic!("garbage produced {e:?}");
    }
    // The tunnel still works: a rekey goes through.
    let spi = sim.b.sa(h).unwrap().child_spis()[0].0;
    sim.b.with_sa(h, |sa| sa.rekey_child(sim.now, spi, &mut rng));
    sim.pump();
    assert_eq!(children_up(&sim.events_a).len(), 2);
}

// ---------------------------------------------------------------------------------------
// Certificates (RSA and ECDSA signatures in Main Mode).

mod certificates {
    use std::path::PathBuf;
    use std::sync::Arc;

    use control::ikev1::sa::Ikev1Certificates;
    use control::ikev2::sa::{AuthInfo, LocalCertificate, PeerCertificate, PeerIdCheck, WallClock};
    use control::pki::load::{load_certificates, load_private_key, load_trust_store};
    use control::pki::{AuthSignature, Credential, TrustStore};

    use super::*;

    /// 2030-01-01: inside the test certificates' validity.
    const Y2030: u64 = 1_893_456_000;

    fn pki(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki").join(name)
    }

    fn store(cas: &[&str]) -> Arc<TrustStore> {
        let paths: Vec<PathBuf> = cas.iter().map(|c| pki(c)).collect();
        Arc::new(load_trust_store(&paths).unwrap())
    }

    /// (chain, key, CA) of the RSA leaf (IP 192.0.2.1 = A) and the P-256 leaf (IP 192.0.2.2).
    fn credential(chain: &str, key: &str, ca: &str) -> Arc<Credential> {
        let mut certs = load_certificates(&pki(chain)).unwrap().into_iter();
        let leaf = certs.next().unwrap();
        let key = load_private_key(&pki(key)).unwrap();
        let mut cred = Credential::new(leaf, certs.collect(), key).unwrap();
        cred.link_anchors(&store(&[ca]));
        Arc::new(cred)
    }

    fn certs(cred: Arc<Credential>, cas: &[&str]) -> Ikev1Certificates {
        let mut remote = PeerCertificate::new(store(cas), PeerIdCheck::Required);
        remote.clock = WallClock::Offset(Y2030);
        Ikev1Certificates { local: LocalCertificate::new(cred), remote }
    }

    fn rsa() -> Arc<Credential> {
        credential("rsa-leaf-chain.pem", "rsa-leaf.key.pem", "rsa-ca.pem")
    }

    /// Both sides sign with `cred` (the same test key: the point is the protocol) under
    /// `method`, no pre-shared key.
    fn cert_lab(
        cred: fn() -> Arc<Credential>,
        ca: &str,
        method: AuthMethod,
    ) -> (Ikev1Config, Ikev1Config) {
        let (mut a, mut b) = lab();
        for c in [&mut a, &mut b] {
            c.psk = Psk::new(b"");
            c.certificates = Some(certs(cred(), &[ca]));
            c.phase1 = vec![Phase1Policy { auth: method, ..phase1(DhGroup::Modp2048) }];
        }
        (a, b)
    }

    #[test]
    fn rsa_signatures_authenticate_main_mode() {
        let (a, b) = cert_lab(rsa, "rsa-ca.pem", AuthMethod::RsaSig);
        let mut sim = Sim::new(a, b, "rsa sig");
        sim.pump();
        let info = |ev: &[(Ikev1Handle, Event)]| {
            ev.iter().find_map(
                |(_, e)| if let Event::Established(i) = e { Some(i.clone()) } else { None },
            )
        };
        let (ia, ib) = (info(&sim.events_a).expect("A up"), info(&sim.events_b).expect("B up"));
        assert!(matches!(
            &ia.remote_auth,
            AuthInfo::Certificate { signature: AuthSignature::RsaSha1, .. }
        ));
        assert!(
            matches!(&ib.remote_auth, AuthInfo::Certificate { subject, .. } if subject.contains("gw1")),
            "{:?}",
            ib.remote_auth
        );
        assert_eq!(ia.peer_id.id_type, control::ikev2::wire::IdType::DerAsn1Dn);
        assert_mirrored(children_up(&sim.events_a)[0], children_up(&sim.events_b)[0]);
    }

    #[test]
    fn ecdsa_p256_signatures_authenticate_main_mode() {
        let p256 = || credential("ecp256-leaf.pem", "ecp256-leaf.key.pem", "ecp256-ca.pem");
        let (a, b) = cert_lab(p256, "ecp256-ca.pem", AuthMethod::EcdsaSig(256));
        let mut sim = Sim::new(a, b, "ecdsa sig");
        sim.pump();
        assert_eq!(established(&sim.events_a), 1);
        assert_eq!(established(&sim.events_b), 1);
        assert_mirrored(children_up(&sim.events_a)[0], children_up(&sim.events_b)[0]);
    }

    #[test]
    fn a_certificate_from_an_untrusted_ca_is_refused_with_the_reason() {
        let (a, mut b) = cert_lab(rsa, "rsa-ca.pem", AuthMethod::RsaSig);
        b.certificates = Some(certs(rsa(), &["ecp256-ca.pem"]));
        let mut sim = Sim::new(a, b, "untrusted");
        sim.pump();
        let fb = failures(&sim.events_b);
        assert!(
            matches!(fb.as_slice(), [FailureCause::AuthenticationFailed(m)] if m.starts_with("certificate rejected")),
            "{fb:?}"
        );
        assert!(children_up(&sim.events_b).is_empty());
    }

    #[test]
    fn a_certificate_policy_without_a_certificate_is_not_offered() {
        let (mut a, b) = cert_lab(rsa, "rsa-ca.pem", AuthMethod::RsaSig);
        a.certificates = None;
        a.psk = Psk::new(b"k");
        let mut sim = Sim::new(a, b, "no cert");
        sim.pump();
        assert!(matches!(failures(&sim.events_a).as_slice(), [FailureCause::NoProposalChosen(_)]));
    }
}

// ---------------------------------------------------------------------------------------
// Legacy remote access: XAUTH and Mode Config.

mod remote_access {
    use std::sync::Arc;

    use control::ikev1::remote_access::UserDb;
    use control::ikev1::sa::{RemoteAccess, RemoteAccessClient, RemoteAccessServer};
    use control::ikev2::wire::TrafficSelector;
    use control::pool::{AddressPool, PoolRange};
    use zeroize::Zeroizing;

    use super::*;

    fn pool(first: [u8; 4], last: [u8; 4]) -> AddressPool {
        AddressPool::new("ra-pool", PoolRange::V4 { first: first.into(), last: last.into() })
    }

    /// A (client) and B (concentrator: users alice/bob, the pool, 10.2.0.0/16 behind it).
    fn ra_lab(password: &[u8], pool: &AddressPool) -> (Ikev1Config, Ikev1Config) {
        let mut users = UserDb::new();
        users.add("alice", b"correct horse");
        users.add("bob", b"hunter2");
        let mut a = config(A, B, "10.1.0.0/16", "10.2.0.0/16");
        a.remote_access = Some(RemoteAccess::Client(RemoteAccessClient {
            user: "alice".into(),
            password: Zeroizing::new(password.to_vec()),
            mode_config: true,
        }));
        let mut b = config(B, A, "10.2.0.0/16", "10.9.0.0/24");
        b.remote_access = Some(RemoteAccess::Server(RemoteAccessServer {
            users: Arc::new(users),
            pools: vec![pool.clone()],
            dns: vec![Ipv4Addr::new(10, 2, 0, 53)],
            domain: Some("corp.example".into()),
        }));
        (a, b)
    }

    fn host(a: [u8; 4]) -> TrafficSelector {
        from_prefix(IpAddr::V4(a.into()), 32)
    }

    #[test]
    fn xauth_and_mode_config_give_the_client_an_address_its_quick_mode_protects() {
        let pool = pool([10, 9, 0, 10], [10, 9, 0, 20]);
        let (a, b) = ra_lab(b"correct horse", &pool);
        let mut sim = Sim::new(a, b, "xauth");
        sim.pump();
        let (ca, cb) = (children_up(&sim.events_a), children_up(&sim.events_b));
        assert_eq!(
            (ca.len(), cb.len()),
            (1, 1),
            "{:?} / {:?}",
            failures(&sim.events_a),
            failures(&sim.events_b)
        );
        assert_mirrored(ca[0], cb[0]);
        assert_eq!(
            ca[0].local_ts,
            vec![host([10, 9, 0, 10])],
            "the client protects its pool address"
        );
        assert_eq!(cb[0].remote_ts, vec![host([10, 9, 0, 10])]);
        let (_, sb) = sim.b.sas().next().unwrap();
        assert_eq!(sb.xauth_user(), Some("alice"));
        assert_eq!(sb.assigned_address(), Some(Ipv4Addr::new(10, 9, 0, 10)));
        let (_, sa) = sim.a.sas().next().unwrap();
        assert_eq!(sa.assigned_address(), Some(Ipv4Addr::new(10, 9, 0, 10)));
        assert_eq!(pool.stats().in_use, 1);
        // The lease goes back when the SA ends.
        sim.a.close_all(sim.now, &mut TestRng::new("bye"));
        sim.pump();
        assert!(sim.events_b.iter().any(|(_, e)| matches!(e, Event::Closed { .. })));
        assert_eq!(pool.stats().in_use, 0, "address released");
    }

    /// A dynamic entry's configuration (the unspecified address) answers a client no other
    /// configuration lists; a listed address keeps its own configuration wherever the
    /// wildcard is in the list.
    #[test]
    fn a_wildcard_answers_unlisted_clients_and_a_listed_peer_keeps_its_own() {
        let pool = pool([10, 9, 0, 10], [10, 9, 0, 20]);
        let (a, b) = ra_lab(b"correct horse", &pool);
        let mut wildcard = b.clone();
        wildcard.peer = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 500);
        let mut elsewhere = b.clone();
        elsewhere.peer = SocketAddr::new(Ipv4Addr::new(203, 0, 113, 9).into(), 500);
        elsewhere.remote_access = None;
        let mut sim = Sim::new(a.clone(), b.clone(), "wildcard");
        sim.b.set_responder_configs(vec![elsewhere, wildcard.clone()]);
        sim.pump();
        assert_eq!(children_up(&sim.events_b).len(), 1, "{:?}", failures(&sim.events_b));
        let (_, sb) = sim.b.sas().next().unwrap();
        assert_eq!(sb.config().peer, SocketAddr::new(A.into(), 500), "the client's address");
        assert_eq!(sb.assigned_address(), Some(Ipv4Addr::new(10, 9, 0, 10)));
        // A listed site-to-site peer at A, after the wildcard: a plain PSK peer gets its pair
        // (the remote-access wildcard would refuse it without XAUTH).
        let mut plain = a;
        plain.remote_access = None;
        let mut listed = b;
        listed.remote_access = None;
        listed.selectors.remote = plain.selectors.local.clone();
        let mut sim = Sim::new(plain, listed.clone(), "listed first");
        sim.b.set_responder_configs(vec![wildcard, listed]);
        sim.pump();
        assert_eq!(children_up(&sim.events_a).len(), 1, "{:?}", failures(&sim.events_a));
        assert!(sim.b.sas().all(|(_, sa)| sa.xauth_user().is_none()));
    }

    /// One pool for a group's IKEv1 and IKEv2 clients: the address an IKEv2 client holds
    /// is skipped, and the IKEv1 client's comes back to the pool for the next one.
    #[test]
    fn ikev1_and_ikev2_clients_of_a_pool_never_share_an_address() {
        let pool = pool([10, 9, 0, 10], [10, 9, 0, 20]);
        let ikev2 = pool.allocate(b"ikev2 client").unwrap();
        assert_eq!(ikev2.addr(), IpAddr::V4(Ipv4Addr::new(10, 9, 0, 10)));
        let (a, b) = ra_lab(b"correct horse", &pool);
        let mut sim = Sim::new(a, b, "shared pool");
        sim.pump();
        let (_, sb) = sim.b.sas().next().unwrap();
        assert_eq!(sb.assigned_address(), Some(Ipv4Addr::new(10, 9, 0, 11)));
        assert_eq!(children_up(&sim.events_b)[0].remote_ts, vec![host([10, 9, 0, 11])]);
        assert!(pool.is_leased(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 11))));
        sim.a.close_all(sim.now, &mut TestRng::new("bye"));
        sim.pump();
        assert!(!pool.is_leased(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 11))));
        assert_eq!(pool.stats().in_use, 1, "the IKEv2 client keeps its address");
        drop(ikev2);
    }

    #[test]
    fn a_wrong_password_ends_both_sides_without_a_pair() {
        let pool = pool([10, 9, 0, 10], [10, 9, 0, 20]);
        let (a, b) = ra_lab(b"wrong", &pool);
        let mut sim = Sim::new(a, b, "xauth wrong");
        sim.pump();
        let fb = failures(&sim.events_b);
        assert!(
            matches!(fb.as_slice(), [FailureCause::AuthenticationFailed(m)] if m.contains("alice")),
            "{fb:?}"
        );
        assert!(matches!(
            failures(&sim.events_a).as_slice(),
            [FailureCause::AuthenticationFailed(_)]
        ));
        assert!(children_up(&sim.events_a).is_empty() && children_up(&sim.events_b).is_empty());
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn a_plain_psk_client_is_refused_by_a_remote_access_group() {
        let pool = pool([10, 9, 0, 10], [10, 9, 0, 20]);
        let (mut a, b) = ra_lab(b"correct horse", &pool);
        a.remote_access = None;
        let mut sim = Sim::new(a, b, "no xauth");
        sim.pump();
        assert!(matches!(failures(&sim.events_a).as_slice(), [FailureCause::NoProposalChosen(_)]));
    }

    #[test]
    fn an_exhausted_pool_refuses_the_quick_mode_of_the_client_it_could_not_serve() {
        let pool = pool([10, 9, 0, 10], [10, 9, 0, 10]);
        let (a, b) = ra_lab(b"correct horse", &pool);
        let mut first = Sim::new(a.clone(), b.clone(), "first");
        first.pump();
        assert_eq!(children_up(&first.events_a).len(), 1);
        let mut second = Sim::new(a, b, "second");
        second.pump();
        assert!(children_up(&second.events_b).is_empty(), "no address, no pair");
        assert!(
            second
                .events_b
                .iter()
                .any(|(_, e)| matches!(e, Event::ChildSaFailed(FailureCause::TsUnacceptable)))
        );
        assert_eq!(pool.stats().in_use, 1);
    }
}

#[test]
fn the_isakmp_sa_is_renewed_before_its_lifetime_and_the_pair_survives() {
    let (mut a, mut b) = lab();
    for c in [&mut a, &mut b] {
        c.phase1 =
            vec![Phase1Policy { lifetime: Duration::from_secs(600), ..phase1(DhGroup::Modp2048) }];
        c.phase2 = vec![phase2(Some(DhGroup::Modp2048), 28_800)];
    }
    let mut sim = Sim::new(a, b, "renewal");
    sim.pump();
    let first = children_up(&sim.events_a)[0].inbound_spi;
    let cookies = sim.a.sas().next().unwrap().1.cky_i();
    // Three lifetimes: renewed each time at 85 %, never expired, the pair untouched.
    sim.run_until(Time::from_secs(1800));
    let rekeyed = |ev: &[(Ikev1Handle, Event)]| {
        ev.iter().filter(|(_, e)| matches!(e, Event::IkeSaRekeyed { .. })).count()
    };
    assert_eq!(rekeyed(&sim.events_a), 3, "renewed at 510, 1020 and 1530 s");
    assert_eq!(rekeyed(&sim.events_b), 3);
    assert!(failures(&sim.events_a).is_empty() && failures(&sim.events_b).is_empty());
    assert!(
        downs(&sim.events_a).is_empty() && downs(&sim.events_b).is_empty(),
        "the Quick Mode SA carried on"
    );
    assert_eq!(children_up(&sim.events_a).len(), 1);
    let (_, sa) = sim.a.sas().next().unwrap();
    assert_ne!(sa.cky_i(), cookies, "new cookies");
    assert_eq!(sa.child_spis()[0].0, first);
    assert_eq!(sim.a.len(), 1);
    assert_eq!(sim.b.len(), 1, "the responder renewed in place, no second SA");
    // The renewed keys work: a Quick Mode rekey and DPD go through them.
    let h = sim.a.sas().next().unwrap().0;
    let mut rng = TestRng::new("after renewal");
    assert_eq!(sim.a.with_sa(h, |sa| sa.rekey_child(sim.now, first, &mut rng)), Some(true));
    sim.run_until(sim.now + Duration::from_secs(60));
    assert_eq!(children_up(&sim.events_a).len(), 2);
    assert_eq!(children_up(&sim.events_b).len(), 2);
    assert!(failures(&sim.events_a).is_empty());
}
