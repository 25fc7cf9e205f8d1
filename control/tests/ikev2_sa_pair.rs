//! The IKEv2 SA state machine between two endpoints on a virtual network (quinn's `Pair`
//! harness): a virtual clock jumped to the next timer or arrival, a fixed latency, and a
//! fault hook that drops, duplicates or delays each datagram. Whole retransmission and
//! liveness schedules run in milliseconds, deterministically (seeded RNGs).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{ChildSa, CloseReason, Event, FailureCause, PeerConfig, Psk};
use control::ikev2::selectors::PolicySelectors;
use control::ikev2::wire::{
    DhGroup, EncrId, ExchangeType, IdRepr, IntegId, Message, NotifyType, Payload, PrfId,
    ProtocolId, TrafficSelector,
};
use control::time::Time;
use proptest::prelude::*;

include!("support/pair.rs");

/// `Pair::check_live`'s default: tests here close the last Child SA.
const CHECK_LIVE: bool = false;
/// A test mutates the NAT detection hash: the port floats to 4500.
const EXACT_ADDRESSES: bool = false;

// ---------------------------------------------------------------------------------------
// Configuration.

fn ike(encr: Encr, integ: Option<IntegId>, dh: &[DhGroup]) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![encr],
        prf: vec![PrfId::HmacSha2_256],
        integ: integ.into_iter().collect(),
        dh: dh.to_vec(),
        esn: vec![],
    }
}

fn esp(encr: Encr, integ: Option<IntegId>) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![encr],
        prf: vec![],
        integ: integ.into_iter().collect(),
        dh: vec![],
        esn: vec![],
    }
}

const CBC256: Encr = (EncrId::AesCbc, Some(256));
const GCM128: Encr = (EncrId::AesGcm16, Some(128));
const CHACHA: Encr = (EncrId::ChaCha20Poly1305, None);

/// One side's configuration: `local` / `remote` are 10.1/16 and 10.2/16 seen from the
/// initiator.
fn config(initiator: bool, ike_p: LocalProposal, esp_p: LocalProposal) -> PeerConfig {
    psk_config(initiator, ike_p, esp_p, 3600)
}

fn gcm_pair() -> (PeerConfig, PeerConfig) {
    let i = config(true, ike(GCM128, None, &[DhGroup::Ecp256]), esp(GCM128, None));
    let r = config(false, ike(GCM128, None, &[DhGroup::Ecp256]), esp(GCM128, None));
    (i, r)
}

fn x25519_pair() -> (PeerConfig, PeerConfig) {
    let i = config(true, ike(CHACHA, None, &[DhGroup::Curve25519]), esp(CHACHA, None));
    let r = config(false, ike(CHACHA, None, &[DhGroup::Curve25519]), esp(CHACHA, None));
    (i, r)
}

// ---------------------------------------------------------------------------------------
// The harness (`support/pair.rs`): what these tests add.

impl Pair {
    /// Runs the handshake (a few virtual seconds suffice without loss).
    fn establish(&mut self) {
        self.run_for(Duration::from_secs(5));
        assert!(self.i.ep.sa(self.h).is_some_and(|sa| sa.is_established()), "initiator up");
    }

    fn rng_i(&mut self) -> &mut TestRng {
        &mut self.i.rng
    }
}

fn closes(s: &Side) -> Vec<CloseReason> {
    s.events
        .iter()
        .filter_map(|e| if let Event::Closed { reason } = e.2 { Some(reason) } else { None })
        .collect()
}

fn established(s: &Side) -> usize {
    s.events.iter().filter(|e| matches!(e.2, Event::Established(_))).count()
}

/// Datagrams of one direction and exchange, as parsed messages.
fn messages(log: &[Sent], dir: Dir, exchange: ExchangeType) -> Vec<(Time, Message)> {
    log.iter()
        .filter(|s| s.dir == dir)
        .filter_map(|s| Message::parse(&s.bytes).ok().map(|m| (s.at, m)))
        .filter(|(_, m)| m.header.exchange_type == exchange)
        .collect()
}

/// Both sides' Child SAs mirror each other: SPIs, keys, transforms, selectors.
fn assert_crosswise(a: &ChildSa, b: &ChildSa) {
    assert_eq!(a.inbound_spi, b.outbound_spi);
    assert_eq!(a.outbound_spi, b.inbound_spi);
    assert_ne!(a.inbound_spi, a.outbound_spi);
    assert_eq!(a.outbound.encr.as_bytes(), b.inbound.encr.as_bytes(), "my out = your in");
    assert_eq!(a.inbound.encr.as_bytes(), b.outbound.encr.as_bytes(), "my in = your out");
    assert_eq!(a.outbound.integ.as_bytes(), b.inbound.integ.as_bytes());
    assert_eq!(a.inbound.integ.as_bytes(), b.outbound.integ.as_bytes());
    assert_ne!(a.inbound.encr.as_bytes(), a.outbound.encr.as_bytes(), "two directions");
    assert_eq!(a.transforms.encr, b.transforms.encr);
    assert_eq!(a.transforms.integ, b.transforms.integ);
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
    assert!(a.inbound_spi >= 256 && a.outbound_spi >= 256, "reserved SPIs unused");
}

// ---------------------------------------------------------------------------------------
// (a) Establishment with three suites.

fn establish_and_check(icfg: PeerConfig, rcfg: PeerConfig, encr_len: usize, integ_len: usize) {
    let mut p = Pair::new(icfg, rcfg);
    p.establish();
    assert_eq!((established(&p.i), established(&p.r)), (1, 1));
    let (ci, cr) = (ups(&p.i), ups(&p.r));
    assert_eq!((ci.len(), cr.len()), (1, 1), "one Child SA each");
    assert_crosswise(ci[0], cr[0]);
    assert_eq!(ci[0].outbound.encr.len(), encr_len);
    assert_eq!(ci[0].outbound.integ.len(), integ_len);
    assert_eq!(ci[0].local_ts, vec![net([10, 1, 0, 0], 16)]);
    assert_eq!(ci[0].lifetime_seconds, 3600);
    assert!(failures(&p.i).is_empty() && failures(&p.r).is_empty());
    // Two exchanges, no retransmission: 2 datagrams each way.
    assert_eq!(p.log.len(), 4);
    let Event::Established(info) = &p.i.events[0].2 else { panic!("first event") };
    assert_eq!(info.peer_id, IdRepr::fqdn("r.example"));
    assert!(info.initiator && !info.nat_detected);
    assert_eq!(info.peer, R_ADDR);
    let sa = p.i.ep.sa(p.h).unwrap();
    assert_eq!(sa.child_spis(), vec![(ci[0].inbound_spi, ci[0].outbound_spi)]);
}

#[test]
fn ikev2_sa_establishes_aes256_sha256_modp2048() {
    let integ = Some(IntegId::HmacSha2_256_128);
    let i = config(true, ike(CBC256, integ, &[DhGroup::Modp2048]), esp(CBC256, integ));
    let r = config(false, ike(CBC256, integ, &[DhGroup::Modp2048]), esp(CBC256, integ));
    establish_and_check(i, r, 32, 32);
}

#[test]
fn ikev2_sa_establishes_aes128gcm16_prfsha256_ecp256() {
    let (i, r) = gcm_pair();
    establish_and_check(i, r, 20, 0);
}

#[test]
fn ikev2_sa_establishes_curve25519_chacha20poly1305() {
    let (i, r) = x25519_pair();
    establish_and_check(i, r, 36, 0);
}

#[test]
fn ikev2_sa_wildcard_responder_looks_the_key_up_by_identity() {
    let (i, mut r) = gcm_pair();
    r.remote_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    r.remote_id = None;
    r.psk_remote = Psk::new(b"the group key, not this peer's");
    r.psk_by_id = vec![(IdRepr::fqdn("i.example"), Psk::new(b"correct horse battery staple"))];
    let mut p = Pair::new(i, r);
    p.establish();
    assert_eq!(ups(&p.r).len(), 1);
}

// ---------------------------------------------------------------------------------------
// (b) INVALID_KE_PAYLOAD.

#[test]
fn ikev2_sa_invalid_ke_retries_once_with_the_requested_group() {
    let mut i =
        config(true, ike(GCM128, None, &[DhGroup::Modp2048, DhGroup::Ecp256]), esp(GCM128, None));
    i.ike_proposals[0].dh = vec![DhGroup::Modp2048, DhGroup::Ecp256];
    let r = config(false, ike(GCM128, None, &[DhGroup::Ecp256]), esp(GCM128, None));
    let mut p = Pair::new(i, r);
    p.establish();
    let init_i = messages(&p.log, Dir::IToR, ExchangeType::IkeSaInit);
    let init_r = messages(&p.log, Dir::RToI, ExchangeType::IkeSaInit);
    assert_eq!(init_i.len(), 2, "the guess, then the retry");
    let ke_group = |m: &Message| {
        m.payloads.iter().find_map(|p| if let Payload::Ke(k) = p { Some(k.group) } else { None })
    };
    assert_eq!(ke_group(&init_i[0].1), Some(DhGroup::Modp2048));
    assert_eq!(ke_group(&init_i[1].1), Some(DhGroup::Ecp256));
    let n = init_r[0].1.notify(NotifyType::InvalidKePayload).expect("INVALID_KE_PAYLOAD");
    assert_eq!(n.invalid_ke_group(), Some(DhGroup::Ecp256));
    assert_eq!(init_r[0].1.header.spi_r, 0, "stateless answer");
    assert_eq!(init_i[0].1.header.spi_i, init_i[1].1.header.spi_i, "same SPI");
    assert_eq!(init_i[1].1.header.message_id, 0);
    let Event::Established(info) = &p.i.events[0].2 else { panic!() };
    assert_eq!(info.transforms.dh, Some(DhGroup::Ecp256));
    assert_crosswise(ups(&p.i)[0], ups(&p.r)[0]);
}

#[test]
fn ikev2_sa_invalid_ke_for_a_group_we_did_not_offer_fails() {
    // A responder that answers INVALID_KE_PAYLOAD(ECP_384) although we offered only 19:
    // forged or broken, and retrying would not help.
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.flush();
    let req = p.log[0].bytes.clone();
    let m = Message::parse(&req).unwrap();
    let answer = Message {
        header: control::ikev2::wire::HeaderRepr { response: true, initiator: false, ..m.header },
        payloads: vec![Payload::Notify(control::ikev2::wire::NotifyRepr::new(
            NotifyType::InvalidKePayload,
            20u16.to_be_bytes().to_vec(),
        ))],
    };
    let h = p.h;
    p.i.ep.handle(Time::ZERO, &answer.to_vec().unwrap(), R_ADDR, &mut p.i.rng);
    p.flush();
    assert!(matches!(failures(&p.i)[..], [FailureCause::InvalidKe { requested: 20 }]));
    assert!(p.i.ep.sa(h).unwrap().is_dead());
}

#[test]
fn ikev2_sa_cookie_is_echoed_first_in_the_repeated_request() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.flush();
    let m = Message::parse(&p.log[0].bytes).unwrap();
    let cookie = control::ikev2::wire::NotifyRepr::new(NotifyType::Cookie, vec![0xc0; 33]);
    let answer = Message {
        header: control::ikev2::wire::HeaderRepr { response: true, initiator: false, ..m.header },
        payloads: vec![Payload::Notify(cookie.clone())],
    };
    // Taken off the wire before the real responder sees the first request.
    p.r.inbound.clear();
    p.i.ep.handle(Time::ZERO, &answer.to_vec().unwrap(), R_ADDR, &mut p.i.rng);
    p.flush();
    let again = Message::parse(&p.log.last().unwrap().bytes).unwrap();
    assert_eq!(again.payloads[0], Payload::Notify(cookie));
    assert_eq!(again.payloads[1..], m.payloads[..], "otherwise the same request");
    // The real responder (which ignores cookies it did not ask for) completes it.
    p.establish();
    assert_eq!(ups(&p.r).len(), 1);
}

// ---------------------------------------------------------------------------------------
// (c) Wrong PSK.

#[test]
fn ikev2_sa_wrong_psk_fails_on_both_sides_when_the_responder_checks() {
    let (mut i, r) = gcm_pair();
    i.psk_local = Psk::new(b"wrong");
    let mut p = Pair::new(i, r);
    p.run_for(Duration::from_secs(5));
    assert!(matches!(failures(&p.i)[..], [FailureCause::AuthenticationFailed(_)]));
    assert!(matches!(failures(&p.r)[..], [FailureCause::AuthenticationFailed(_)]));
    assert_eq!(established(&p.i) + established(&p.r), 0);
    assert!(ups(&p.i).is_empty() && ups(&p.r).is_empty());
    let auth_r = messages(&p.log, Dir::RToI, ExchangeType::IkeAuth);
    assert_eq!(auth_r.len(), 1);
}

#[test]
fn ikev2_sa_wrong_psk_fails_on_both_sides_when_the_initiator_checks() {
    let (i, mut r) = gcm_pair();
    r.psk_local = Psk::new(b"wrong");
    let mut p = Pair::new(i, r);
    p.run_for(Duration::from_secs(5));
    assert!(matches!(failures(&p.i)[..], [FailureCause::AuthenticationFailed(_)]));
    assert_eq!(established(&p.i), 0);
    // The responder believed it and installed the Child SA; the initiator's notice
    // (INFORMATIONAL with AUTHENTICATION_FAILED) takes it down again.
    assert!(matches!(failures(&p.r)[..], [FailureCause::AuthenticationFailed(_)]));
    let up = ups(&p.r)[0];
    assert_eq!(downs(&p.r), vec![(up.inbound_spi, up.outbound_spi)]);
}

#[test]
fn ikev2_sa_unexpected_peer_identity_is_an_authentication_failure() {
    let (i, mut r) = gcm_pair();
    r.remote_id = Some(IdRepr::fqdn("someone-else.example"));
    let mut p = Pair::new(i, r);
    p.run_for(Duration::from_secs(5));
    assert!(
        matches!(failures(&p.r)[..], [FailureCause::AuthenticationFailed(s)] if s.contains("someone-else"))
    );
    assert!(matches!(failures(&p.i)[..], [FailureCause::AuthenticationFailed(_)]));
}

// ---------------------------------------------------------------------------------------
// (d) No common proposal.

#[test]
fn ikev2_sa_no_common_ike_proposal_names_both_offers() {
    let integ = Some(IntegId::HmacSha2_256_128);
    let i = config(true, ike(CBC256, integ, &[DhGroup::Modp2048]), esp(GCM128, None));
    let r = config(false, ike(GCM128, None, &[DhGroup::Ecp256]), esp(GCM128, None));
    let mut p = Pair::new(i, r);
    p.run_for(Duration::from_secs(5));
    let [FailureCause::NoProposalChosen(ri)] = failures(&p.r)[..] else {
        panic!("{:?}", p.r.events)
    };
    assert!(ri.contains("ENCR_AES_CBC_256") && ri.contains("ENCR_AES_GCM_16_128"), "{ri}");
    assert!(ri.contains("offered") && ri.contains("configured"), "{ri}");
    let [FailureCause::NoProposalChosen(ii)] = failures(&p.i)[..] else {
        panic!("{:?}", p.i.events)
    };
    assert!(ii.contains("ENCR_AES_CBC_256"), "{ii}");
    assert_eq!(p.log.len(), 2, "one request, one stateless answer");
    assert!(p.r.ep.is_empty(), "no responder state kept");
}

#[test]
fn ikev2_sa_no_common_esp_proposal_keeps_the_ike_sa() {
    let i = config(true, ike(GCM128, None, &[DhGroup::Ecp256]), esp(CHACHA, None));
    let r = config(false, ike(GCM128, None, &[DhGroup::Ecp256]), esp(GCM128, None));
    let mut p = Pair::new(i, r);
    p.establish();
    assert_eq!((established(&p.i), established(&p.r)), (1, 1));
    assert!(ups(&p.i).is_empty() && ups(&p.r).is_empty());
    assert!(
        matches!(child_failures(&p.r)[..], [FailureCause::NoProposalChosen(s)] if s.contains("CHACHA20"))
    );
    assert!(matches!(child_failures(&p.i)[..], [FailureCause::NoProposalChosen(_)]));
    assert!(failures(&p.i).is_empty() && failures(&p.r).is_empty());
}

// ---------------------------------------------------------------------------------------
// (e) Traffic selectors.

#[test]
fn ikev2_sa_responder_narrows_any_to_its_policy() {
    let (mut i, r) = gcm_pair();
    let any = TrafficSelector::ipv4_any();
    i.child.selectors = PolicySelectors { local: vec![any.clone()], remote: vec![any] };
    let mut p = Pair::new(i, r);
    p.establish();
    let (ci, cr) = (ups(&p.i)[0], ups(&p.r)[0]);
    assert_eq!(ci.local_ts, vec![net([10, 1, 0, 0], 16)], "narrowed to the responder's remote");
    assert_eq!(ci.remote_ts, vec![net([10, 2, 0, 0], 16)]);
    assert_crosswise(ci, cr);
}

#[test]
fn ikev2_sa_disjoint_selectors_are_ts_unacceptable_and_keep_the_ike_sa() {
    let (mut i, r) = gcm_pair();
    i.child.selectors.remote = vec![net([172, 16, 0, 0], 12)];
    let mut p = Pair::new(i, r);
    p.establish();
    assert!(matches!(child_failures(&p.i)[..], [FailureCause::TsUnacceptable]));
    assert!(matches!(child_failures(&p.r)[..], [FailureCause::TsUnacceptable]));
    assert!(p.r.ep.sa(p.rh()).unwrap().is_established());
    let auth_r = messages(&p.log, Dir::RToI, ExchangeType::IkeAuth);
    let inner_ok = auth_r.len() == 1 && auth_r[0].1.encrypted().is_some();
    assert!(inner_ok, "the answer is encrypted and single");
}

#[test]
fn ikev2_sa_responder_narrows_its_wider_policy_to_the_request() {
    // The responder's policy (10.2/16) is wider than the request (10.2.1/24): the answer
    // is the request, never the wider policy (the initiator would refuse that).
    let (mut i, r) = gcm_pair();
    i.child.selectors.remote = vec![net([10, 2, 1, 0], 24)];
    let mut p = Pair::new(i, r);
    p.establish();
    assert_eq!(ups(&p.i)[0].remote_ts, vec![net([10, 2, 1, 0], 24)]);
}

// ---------------------------------------------------------------------------------------
// (f) Loss, duplication, retransmission.

#[test]
fn ikev2_sa_total_loss_follows_the_schedule_and_gives_up_after_127s() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r).with_fault(|_, _, _| Fate::Drop);
    p.run_until(Time::from_secs(200));
    let sends: Vec<u64> = p.log.iter().map(|s| s.at.as_millis() / 1000).collect();
    assert_eq!(sends, [0, 1, 3, 7, 15, 31, 63]);
    assert!(p.log.windows(2).all(|w| w[0].bytes == w[1].bytes), "identical retransmissions");
    let at = p.i.events.iter().find(|e| matches!(e.2, Event::Failed(_))).unwrap().0;
    assert_eq!(at, Time::from_secs(127));
    assert!(matches!(
        failures(&p.i)[..],
        [FailureCause::PeerUnreachable { sends: 7, waited }] if waited.as_secs() == 127
    ));
    assert_eq!(p.i.ep.sa(p.h).unwrap().stats().retransmits, 6);
}

#[test]
fn ikev2_sa_lost_auth_response_is_answered_from_the_cache() {
    let (i, r) = gcm_pair();
    // The responder's second datagram is its IKE_AUTH answer.
    let mut p = Pair::new(i, r)
        .with_fault(|d, n, _| if d == Dir::RToI && n == 1 { Fate::Drop } else { Fate::Deliver });
    p.establish();
    let auth_i = messages(&p.log, Dir::IToR, ExchangeType::IkeAuth);
    let auth_r = messages(&p.log, Dir::RToI, ExchangeType::IkeAuth);
    assert_eq!(auth_i.len(), 2, "retransmitted once");
    assert_eq!(auth_i[1].0, auth_i[0].0 + Duration::from_secs(1));
    assert_eq!(auth_r.len(), 2);
    assert_eq!(auth_r[0].1, auth_r[1].1, "the same answer, byte for byte");
    let rsa = p.r.ep.sa(p.rh()).unwrap().stats();
    assert_eq!((rsa.requests_processed, rsa.replays), (2, 1), "IKE_SA_INIT and IKE_AUTH once");
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (1, 1));
    assert_crosswise(ups(&p.i)[0], ups(&p.r)[0]);
}

#[test]
fn ikev2_sa_lost_init_response_is_answered_from_the_cache() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r)
        .with_fault(|d, n, _| if d == Dir::RToI && n == 0 { Fate::Drop } else { Fate::Deliver });
    p.establish();
    let init_r = messages(&p.log, Dir::RToI, ExchangeType::IkeSaInit);
    assert_eq!(init_r.len(), 2);
    assert_eq!(init_r[0].1, init_r[1].1, "same SPI, keys and nonce: one responder SA");
    assert_eq!(p.r.ep.len(), 1);
    assert_crosswise(ups(&p.i)[0], ups(&p.r)[0]);
}

#[test]
fn ikev2_sa_duplicated_datagrams_are_processed_once() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r).with_fault(|_, _, _| Fate::Duplicate);
    p.establish();
    assert_eq!((established(&p.i), established(&p.r)), (1, 1));
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (1, 1));
    let rs = p.r.ep.sa(p.rh()).unwrap().stats();
    assert_eq!(rs.requests_processed, 2);
    assert_eq!(rs.replays, 2, "each duplicate request got the cached answer");
    let is = p.i.ep.sa(p.h).unwrap().stats();
    assert!(is.unexpected >= 3, "duplicate and replayed answers ignored: {is:?}");
    assert_eq!(p.r.ep.len(), 1);
}

#[test]
fn ikev2_sa_reordered_and_late_answers_are_ignored() {
    let (i, r) = gcm_pair();
    // The IKE_SA_INIT answer is 1.5 s late: the request is retransmitted at 1 s, both
    // answers arrive, the second is stale.
    let mut p = Pair::new(i, r).with_fault(|d, n, _| {
        if d == Dir::RToI && n == 0 {
            Fate::Delay(Duration::from_millis(1500))
        } else {
            Fate::Deliver
        }
    });
    p.establish();
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (1, 1));
    assert!(p.i.ep.sa(p.h).unwrap().stats().unexpected >= 1);
}

// ---------------------------------------------------------------------------------------
// (g) Liveness.

fn dpd_pair(secs: u64) -> Pair {
    let (mut i, mut r) = gcm_pair();
    i.dpd_interval = Duration::from_secs(secs);
    r.dpd_interval = Duration::from_secs(secs);
    Pair::new(i, r)
}

#[test]
fn ikev2_sa_answering_peer_is_kept() {
    let mut p = dpd_pair(10);
    p.establish();
    p.run_for(Duration::from_secs(300));
    let checks = messages(&p.log, Dir::IToR, ExchangeType::Informational).len()
        + messages(&p.log, Dir::RToI, ExchangeType::Informational).len();
    // One side's check keeps the other from needing its own (it heard from the peer).
    assert!(checks >= 2 * 28, "a check and its answer every ~10 s: {checks}");
    assert!(failures(&p.i).is_empty() && failures(&p.r).is_empty());
    assert!(p.i.ep.sa(p.h).unwrap().is_established());
    assert!(p.r.ep.sa(p.rh()).unwrap().is_established());
}

#[test]
fn ikev2_sa_silent_peer_is_detected() {
    let mut p = dpd_pair(10);
    p.establish();
    let t0 = p.time;
    p.fault = Box::new(|d, _, _| if d == Dir::RToI { Fate::Drop } else { Fate::Deliver });
    p.run_for(Duration::from_secs(200));
    let (at, _, _) = p.i.events.iter().find(|e| matches!(e.2, Event::Failed(_))).expect("failed");
    assert!(matches!(failures(&p.i)[..], [FailureCause::PeerUnreachable { sends: 7, .. }]));
    // Last heard at the handshake (t = 0.02 s): checked at 10 s, given up 127 s later.
    assert!(t0 < Time::from_secs(10));
    assert_eq!(at.as_millis() / 1000, 137, "10 s idle + 127 s schedule");
    let up = ups(&p.i)[0];
    assert_eq!(downs(&p.i), vec![(up.inbound_spi, up.outbound_spi)], "Child SA down first");
}

#[test]
fn ikev2_sa_inbound_esp_traffic_postpones_the_liveness_check() {
    let mut p = dpd_pair(10);
    p.establish();
    let before = p.log.len();
    for _ in 0..12 {
        p.run_for(Duration::from_secs(5));
        let now = p.time;
        p.i.ep.sa_mut(p.h).unwrap().note_inbound_traffic(now);
    }
    let from_i = p.log[before..].iter().filter(|s| s.dir == Dir::IToR).count();
    // The responder still checks (it saw no traffic), the initiator only answers.
    let from_i_requests = p.log[before..]
        .iter()
        .filter(|s| s.dir == Dir::IToR)
        .filter_map(|s| Message::parse(&s.bytes).ok())
        .filter(|m| !m.header.response)
        .count();
    assert_eq!(from_i_requests, 0, "no check while ESP arrives");
    assert!(from_i >= 5, "answers to the responder's checks: {from_i}");
}

/// The ASA's `isakmp keepalive threshold 10 retry 2` on the initiator; the responder runs
/// no checks of its own, so every INFORMATIONAL request in the log is the initiator's.
fn keepalive_pair() -> Pair {
    let (mut i, r) = gcm_pair();
    i.dpd_interval = Duration::from_secs(10);
    i.dpd_retry = Duration::from_secs(2);
    Pair::new(i, r)
}

/// Send times (ms) of the initiator's INFORMATIONAL requests from `from` on.
fn checks_sent(p: &Pair, from: usize) -> Vec<u64> {
    p.log[from..]
        .iter()
        .filter(|s| s.dir == Dir::IToR)
        .filter_map(|s| Message::parse(&s.bytes).ok().map(|m| (s.at, m)))
        .filter(|(_, m)| m.header.exchange_type == ExchangeType::Informational)
        .filter(|(_, m)| !m.header.response)
        .map(|(at, _)| at.as_millis())
        .collect()
}

/// On-demand DPD with the ASA's keepalive semantics: the first check after `threshold` of
/// silence, resent every `retry` (not on the doubling IKE schedule), the peer dead after
/// DPD_RETRIES unanswered resends plus one more `retry`.
#[test]
fn ikev2_dpd_silent_peer_checked_at_threshold_retried_every_retry_then_dead() {
    use control::ikev2::sa::{DPD_RETRIES, UnansweredRequest};
    let mut p = keepalive_pair();
    p.establish();
    let heard = p.log.iter().filter(|s| s.dir == Dir::RToI).map(|s| s.at).max().unwrap();
    // The IKE_AUTH answer arrives one latency after it was sent.
    let heard = (heard + p.latency).as_millis();
    let from = p.log.len();
    p.fault = Box::new(|d, _, _| if d == Dir::RToI { Fate::Drop } else { Fate::Deliver });
    p.run_for(Duration::from_secs(60));
    let sent = checks_sent(&p, from);
    let first = heard + 10_000;
    let want: Vec<u64> = (0..=u64::from(DPD_RETRIES)).map(|k| first + 2_000 * k).collect();
    assert_eq!(sent, want, "a check at the threshold, then one every retry");
    let (at, _, _) = p.i.events.iter().find(|e| matches!(e.2, Event::Failed(_))).expect("dead");
    assert_eq!(at.as_millis(), first + 2_000 * (u64::from(DPD_RETRIES) + 1));
    let fi = failures(&p.i);
    assert!(
        matches!(fi[..], [FailureCause::PeerUnreachable { sends: 6, waited }]
            if *waited == Duration::from_secs(12)),
        "{fi:?}"
    );
    assert_eq!(p.i.ep.sa(p.h).and_then(|sa| sa.unanswered()), Some(UnansweredRequest::Liveness));
    assert_eq!(downs(&p.i).len(), 1, "the Child SA goes down with the IKE SA");
}

/// A peer whose IKE is silent but whose ESP keeps arriving (reported once a second, as the
/// appliance polls the dataplane's counters) is never checked; once the ESP stops, the
/// check comes one threshold after the last packet.
#[test]
fn ikev2_dpd_peer_sending_only_esp_is_never_checked() {
    let mut p = keepalive_pair();
    p.establish();
    let from = p.log.len();
    p.fault = Box::new(|d, _, _| if d == Dir::RToI { Fate::Drop } else { Fate::Deliver });
    for _ in 0..120 {
        p.run_for(Duration::from_secs(1));
        let now = p.time;
        p.i.ep.sa_mut(p.h).unwrap().note_inbound_traffic(now);
    }
    assert_eq!(checks_sent(&p, from), Vec::<u64>::new(), "no check while ESP arrives");
    assert!(failures(&p.i).is_empty());
    let last_esp = p.time.as_millis();
    let from = p.log.len();
    p.run_for(Duration::from_secs(30));
    let sent = checks_sent(&p, from);
    assert_eq!(sent.first(), Some(&(last_esp + 10_000)), "threshold after the last ESP");
    assert_eq!(sent.len(), 6);
    assert_eq!(failures(&p.i).len(), 1, "dead after the retries");
}

/// `dpd_retry` zero keeps the old behaviour: the check is retransmitted on the `[ike]`
/// doubling schedule.
#[test]
fn ikev2_dpd_without_retry_uses_the_retransmission_schedule() {
    let (mut i, r) = gcm_pair();
    i.dpd_interval = Duration::from_secs(10);
    let mut p = Pair::new(i, r);
    p.establish();
    let from = p.log.len();
    p.fault = Box::new(|d, _, _| if d == Dir::RToI { Fate::Drop } else { Fate::Deliver });
    p.run_for(Duration::from_secs(200));
    let sent = checks_sent(&p, from);
    let gaps: Vec<u64> = sent.windows(2).map(|w| (w[1] - w[0]) / 1000).collect();
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32]);
}

// ---------------------------------------------------------------------------------------
// (h) DELETE.

fn assert_both_down_and_closed(p: &Pair, i_reason: CloseReason, r_reason: CloseReason) {
    let (ci, cr) = (ups(&p.i)[0], ups(&p.r)[0]);
    assert_eq!(downs(&p.i), vec![(ci.inbound_spi, ci.outbound_spi)]);
    assert_eq!(downs(&p.r), vec![(cr.inbound_spi, cr.outbound_spi)]);
    assert_eq!(closes(&p.i), vec![i_reason]);
    assert_eq!(closes(&p.r), vec![r_reason]);
    // ChildSaDown precedes the terminal event.
    for s in [&p.i, &p.r] {
        let last = &s.events.last().unwrap().2;
        assert!(matches!(last, Event::Closed { .. }), "{last:?}");
    }
}

#[test]
fn ikev2_sa_initiator_delete_closes_both() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    let (now, h) = (p.time, p.h);
    p.i.ep.close(now, h, &mut p.i.rng);
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_both_down_and_closed(&p, CloseReason::Local, CloseReason::PeerDeleted);
    p.run_for(Duration::from_secs(200));
    assert!(p.i.ep.is_empty() && p.r.ep.is_empty(), "drained and forgotten");
}

#[test]
fn ikev2_sa_responder_delete_closes_both() {
    let (i, r) = x25519_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    let (now, rh) = (p.time, p.rh());
    p.r.ep.close(now, rh, &mut p.r.rng);
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_both_down_and_closed(&p, CloseReason::PeerDeleted, CloseReason::Local);
}

#[test]
fn ikev2_sa_lost_delete_answer_is_replayed_and_still_closes_both() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    // Drop the responder's answer to the DELETE (its third datagram).
    p.fault = Box::new(|d, n, _| if d == Dir::RToI && n == 2 { Fate::Drop } else { Fate::Deliver });
    let (now, h) = (p.time, p.h);
    p.i.ep.close(now, h, &mut p.i.rng);
    p.flush();
    p.run_for(Duration::from_secs(10));
    assert_both_down_and_closed(&p, CloseReason::Local, CloseReason::PeerDeleted);
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().stats().replays, 1, "the dead SA answered again");
}

#[test]
fn ikev2_sa_child_delete_is_answered_with_the_paired_spi() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    let (cr_in, cr_out) = (ups(&p.r)[0].inbound_spi, ups(&p.r)[0].outbound_spi);
    let (now, rh) = (p.time, p.rh());
    assert!(!p.r.ep.delete_child(now, rh, 0x1234, &mut p.r.rng), "unknown SPI");
    assert!(p.r.ep.delete_child(now, rh, cr_in, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(5));
    assert_eq!(downs(&p.r), vec![(cr_in, cr_out)]);
    assert_eq!(downs(&p.i), vec![(cr_out, cr_in)]);
    assert!(closes(&p.i).is_empty() && closes(&p.r).is_empty(), "the IKE SA stays");
    assert!(p.i.ep.sa(p.h).unwrap().is_established());
    assert!(p.i.ep.sa(p.h).unwrap().child_spis().is_empty());
    let _ = p.rng_i();
}

// ---------------------------------------------------------------------------------------
// (i) Garbage and hostile input.

#[test]
fn ikev2_sa_garbage_is_counted_and_ignored() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    let captured: Vec<Vec<u8>> = p.log.iter().map(|s| s.bytes.clone()).collect();
    let (h, rh, now) = (p.h, p.rh(), p.time);
    let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0; 27], vec![0xff; 28], vec![0; 2000]];
    for c in &captured {
        for n in [1, 27, 28, 29, c.len() - 1] {
            inputs.push(c[..n].to_vec());
        }
        let mut flipped = c.clone();
        *flipped.last_mut().unwrap() ^= 0x80; // the ICV of SK messages
        inputs.push(flipped);
        let mut spi = c.clone();
        spi[3] ^= 1;
        inputs.push(spi);
        let mut longer = c.clone();
        longer.push(0);
        inputs.push(longer);
    }
    for bytes in &inputs {
        p.i.ep.handle(now, bytes, R_ADDR, &mut p.i.rng);
        p.r.ep.handle(now, bytes, I_ADDR, &mut p.r.rng);
    }
    // Replays of the captured genuine requests get cached answers only.
    p.flush();
    p.run_for(Duration::from_secs(5));
    let (is, rs) = (p.i.ep.sa(h).unwrap().stats(), p.r.ep.sa(rh).unwrap().stats());
    assert!(is.malformed + is.wrong_spi + is.unexpected + is.integrity_failures > 0);
    assert!(rs.unexpected > 0, "old message IDs: {rs:?}");
    assert_eq!(rs.requests_processed, 2);
    assert!(p.i.ep.sa(h).unwrap().is_established() && p.r.ep.sa(rh).unwrap().is_established());
    assert!(failures(&p.i).is_empty() && failures(&p.r).is_empty());
}

#[test]
fn ikev2_sa_unexpected_exchanges_get_the_right_answer() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    // The initiator's IKE_AUTH request again, as a CREATE_CHILD_SA with a new message ID,
    // is not authentic (the ICV covers the header): dropped.
    let auth = messages(&p.log, Dir::IToR, ExchangeType::IkeAuth)[0].1.clone();
    let mut bytes = auth.to_vec().unwrap();
    bytes[18] = 36;
    bytes[23] = 2;
    let (now, rh) = (p.time, p.rh());
    p.r.ep.handle(now, &bytes, I_ADDR, &mut p.r.rng);
    assert_eq!(p.r.ep.sa(rh).unwrap().stats().integrity_failures, 1);
    // An IKE_SA_INIT response nobody asked for.
    let init = messages(&p.log, Dir::RToI, ExchangeType::IkeSaInit)[0].1.clone();
    p.i.ep.handle(now, &init.to_vec().unwrap(), R_ADDR, &mut p.i.rng);
    assert!(p.i.ep.sa(p.h).unwrap().stats().unexpected >= 1);
    assert!(p.r.ep.sa(rh).unwrap().is_established());
}

/// The scenario of the mutation test (curve25519, fast): the handshake, then the initiator
/// deletes the IKE SA at 5 s; 6 datagrams in all. `inject`: a datagram to deliver just
/// before the genuine datagram it was made from arrives.
fn scenario(inject: Option<(&Sent, &[u8])>) -> Pair {
    let (i, r) = x25519_pair();
    let mut p = Pair::new(i, r);
    let (mut injected, mut closed) = (false, false);
    for _ in 0..2000 {
        if let Some((target, bad)) = inject
            && !injected
            && p.log.iter().any(|s| s.dir == target.dir && s.n == target.n)
        {
            injected = true;
            let now = p.time;
            match target.dir {
                Dir::IToR => p.r.ep.handle(now, bad, I_ADDR, &mut p.r.rng),
                Dir::RToI => p.i.ep.handle(now, bad, R_ADDR, &mut p.i.rng),
            }
            p.flush();
        }
        if !closed && p.time >= Time::from_secs(5) {
            closed = true;
            let (now, h) = (p.time, p.h);
            p.i.ep.close(now, h, &mut p.i.rng);
            p.flush();
        }
        p.step();
        let close_at = Time::from_secs(5);
        p.time = match p.next_wakeup() {
            // Before the close, never jump past it.
            Some(t) if !closed => t.min(close_at).max(p.time),
            None if !closed => close_at,
            Some(t) if t <= Time::from_secs(300) => t.max(p.time),
            _ => break,
        };
    }
    p
}

#[test]
fn ikev2_sa_mutation_scenario_is_six_datagrams() {
    let p = scenario(None);
    assert_eq!(p.log.len(), 6);
    assert_eq!((ups(&p.i).len(), ups(&p.r).len()), (1, 1));
    assert_eq!(
        (closes(&p.i), closes(&p.r)),
        (vec![CloseReason::Local], vec![CloseReason::PeerDeleted])
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A mutated copy of one datagram (handshake or DELETE) is delivered just before the
    /// genuine one: nothing panics, and when the copy was an encrypted message (which
    /// cannot be forged) the run still ends as a clean one does.
    #[test]
    fn ikev2_sa_mutated_messages_never_panic(
        which in 0usize..6,
        pos in any::<prop::sample::Index>(),
        kind in 0u8..4,
        byte in any::<u8>(),
    ) {
        let capture = scenario(None).log;
        let target = &capture[which];
        let mut bad = target.bytes.clone();
        let at = pos.index(bad.len());
        match kind {
            0 => bad[at] ^= byte | 1,
            1 => bad.truncate(at),
            2 => bad.insert(at, byte),
            _ => bad[at] = byte,
        }
        let p = scenario(Some((target, &bad)));
        if Message::parse(&target.bytes).is_ok_and(|m| m.encrypted().is_some()) {
            prop_assert_eq!(ups(&p.i).len(), 1);
            prop_assert_eq!(ups(&p.r).len(), 1);
            prop_assert_eq!(closes(&p.i), vec![CloseReason::Local]);
            prop_assert_eq!(closes(&p.r), vec![CloseReason::PeerDeleted]);
        }
    }

    /// Random bytes behind a header with the established SA's SPIs (so they reach the
    /// decryption and parsing code, not only the SPI check) change nothing.
    #[test]
    fn ikev2_sa_random_payloads_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..300),
        exchange in prop::sample::select(vec![34u8, 35, 36, 37, 99]),
        flags in prop::sample::select(vec![0x08u8, 0x20, 0x28, 0x00]),
        mid in 0u32..4,
        next in any::<u8>(),
    ) {
        let (i, r) = x25519_pair();
        let mut p = Pair::new(i, r);
        p.establish();
        let genuine = &p.log[2].bytes;
        let mut bytes = genuine[..16].to_vec();
        bytes.extend_from_slice(&[next, 0x20, exchange, flags]);
        bytes.extend_from_slice(&mid.to_be_bytes());
        bytes.extend_from_slice(&u32::try_from(28 + tail.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&tail);
        let (now, h, rh) = (p.time, p.h, p.rh());
        p.i.ep.handle(now, &bytes, R_ADDR, &mut p.i.rng);
        p.r.ep.handle(now, &bytes, I_ADDR, &mut p.r.rng);
        p.flush();
        p.run_for(Duration::from_secs(5));
        prop_assert!(p.i.ep.sa(h).unwrap().is_established());
        prop_assert!(p.r.ep.sa(rh).unwrap().is_established());
        prop_assert_eq!(p.r.ep.sa(rh).unwrap().stats().requests_processed, 2);
    }
}

// ---------------------------------------------------------------------------------------
// Identities, SPI allocation, half-open SAs.

#[test]
fn ikev2_sa_ipv4_and_key_id_identities_authenticate() {
    let (mut i, mut r) = gcm_pair();
    let key_id = IdRepr { id_type: control::ikev2::wire::IdType::KeyId, data: vec![1, 2, 3] };
    i.local_id = IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 1));
    r.remote_id = Some(i.local_id.clone());
    r.local_id = key_id.clone();
    i.remote_id = Some(key_id.clone());
    let mut p = Pair::new(i, r);
    p.establish();
    let Event::Established(info) = &p.i.events[0].2 else { panic!() };
    assert_eq!(info.peer_id, key_id);
    let Event::Established(info) = &p.r.events[0].2 else { panic!() };
    assert_eq!(info.peer_id, IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(info.spi_r, p.r.ep.sa(p.rh()).unwrap().spi_r());
}

/// Hands out consecutive SPIs from a base, as a dataplane SA table would.
struct Counting(u32);

impl control::ikev2::sa::SpiAllocator for Counting {
    fn allocate(&mut self, _random: u32) -> u32 {
        self.0 += 1;
        self.0
    }
}

#[test]
fn ikev2_sa_spis_come_from_the_allocator() {
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.i.ep.sa_mut(p.h).unwrap().set_spi_allocator(Box::new(Counting(0x1000)));
    p.r.ep.set_spi_allocator_factory(Box::new(|| Box::new(Counting(0x2000))));
    p.establish();
    assert_eq!(ups(&p.i)[0].inbound_spi, 0x1001);
    assert_eq!(ups(&p.r)[0].inbound_spi, 0x2001);
    assert_crosswise(ups(&p.i)[0], ups(&p.r)[0]);
}

#[test]
fn ikev2_sa_half_open_responder_gives_up_and_late_duplicates_start_nothing() {
    let (i, r) = gcm_pair();
    // The initiator's IKE_AUTH never arrives.
    let mut p = Pair::new(i, r)
        .with_fault(|d, n, _| if d == Dir::IToR && n >= 1 { Fate::Drop } else { Fate::Deliver });
    p.run_until(Time::from_secs(300));
    assert!(matches!(failures(&p.r)[..], [FailureCause::PeerUnreachable { .. }]));
    assert!(matches!(failures(&p.i)[..], [FailureCause::PeerUnreachable { sends: 7, .. }]));
    assert!(p.r.ep.is_empty(), "the half-open SA is forgotten");

    // Established, then the first IKE_SA_INIT request arrives again, late.
    let (i, r) = gcm_pair();
    let mut p = Pair::new(i, r);
    p.establish();
    let first = p.log[0].bytes.clone();
    let now = p.time;
    p.r.ep.handle(now, &first, I_ADDR, &mut p.r.rng);
    p.flush();
    assert_eq!(p.r.ep.len(), 1, "no second responder SA");
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().stats().unexpected, 1);
}

#[test]
fn ikev2_sa_requests_from_unconfigured_peers_are_dropped() {
    let (i, mut r) = gcm_pair();
    r.remote_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 500);
    let mut p = Pair::new(i, r);
    p.run_for(Duration::from_secs(2));
    assert!(p.r.ep.is_empty());
    assert_eq!(p.r.ep.stats().no_config, 2, "the request and its retransmission");
    assert!(p.log.iter().all(|s| s.dir == Dir::IToR), "no answer");
}

// ---------------------------------------------------------------------------------------
// A real peer's request.

/// strongSwan 5.9's IKE_SA_INIT request (`aes256-sha256-x25519`, 10.99.0.1 → 10.99.0.2),
/// the capture of `ikev2_wire_strongswan.rs`.
const STRONGSWAN_SA_INIT: &str = concat!(
    "4b024b47a1dae2a000000000000000002120220800000000000000f0220000300000002c010100040300000c",
    "0100000c800e0100030000080300000c0300000802000005000000080400001f28000028001f0000a7f29e5e",
    "41c35b43ff49064e5481c232c68d38a8a70003f593d572f2f4221b1229000024a6cc3f6551dd8c99f744e4df",
    "208a839b022279298089630bf4439755fe8e39c22900001c000040040a4951a8f1153cada8677ffa665f98a2",
    "8b64c9022900001c000040055e1e3a78cccd77b9126fa33791f26614e508c04f290000080000402e29000010",
    "0000402f00020003000400050000000800004016",
);

#[test]
fn ikev2_sa_answers_a_strongswan_ike_sa_init() {
    use control::ikev2::sa::{Accept, IkeSa};
    let bytes: Vec<u8> = (0..STRONGSWAN_SA_INIT.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&STRONGSWAN_SA_INIT[i..i + 2], 16).unwrap())
        .collect();
    let peer: SocketAddr = "10.99.0.1:500".parse().unwrap();
    let integ = Some(IntegId::HmacSha2_256_128);
    let mut cfg = config(false, ike(CBC256, integ, &[DhGroup::Curve25519]), esp(CBC256, integ));
    cfg.local_addr = "10.99.0.2:500".parse().unwrap();
    let mut rng = TestRng::new("strongswan");
    let Accept::Sa(mut sa) = IkeSa::accept(Time::ZERO, cfg, &bytes, peer, &mut rng) else {
        panic!("not accepted")
    };
    let t = sa.poll_transmit().expect("answer");
    assert_eq!(t.to, peer);
    let m = Message::parse(&t.bytes).unwrap();
    assert_eq!(m.header.spi_i, 0x4b02_4b47_a1da_e2a0);
    assert_eq!(m.header.spi_r, sa.spi_r());
    assert!(m.header.response && !m.header.initiator);
    let Payload::Sa(chosen) = &m.payloads[0] else { panic!("SA first") };
    assert_eq!(
        chosen.proposals[0].to_string(),
        "#1 IKE:ENCR_AES_CBC_256/PRF_HMAC_SHA2_256/AUTH_HMAC_SHA2_256_128/CURVE_25519"
    );
    let Payload::Ke(ke) = &m.payloads[1] else { panic!("KE second") };
    assert_eq!((ke.group, ke.data.len()), (DhGroup::Curve25519, 32));
    assert!(m.notify(NotifyType::NatDetectionSourceIp).is_some());
    assert!(m.notify(NotifyType::NatDetectionDestinationIp).is_some());
    // Its retransmission gets the same answer.
    sa.handle(Time::from_secs(1), &bytes, peer, &mut rng);
    assert_eq!(sa.poll_transmit().unwrap().bytes, t.bytes);
}

/// RFC 7296 section 2.23: once the peer's authenticated request comes from its port 4500
/// (strongSwan moves there in IKE_AUTH when it forces UDP encapsulation), the responder
/// answers there and sends its own requests there, from its own 4500; a datagram that
/// fails the integrity check moves nothing.
#[test]
fn ikev2_sa_responder_follows_the_peer_to_port_4500_on_authenticated_requests_only() {
    let (icfg, rcfg) = gcm_pair();
    let mut p = Pair::new(icfg, rcfg);
    p.establish();
    let rh = p.rh();
    let now = p.time;
    let spi = ups(&p.i)[0].inbound_spi;
    let (h, rng) = (p.h, &mut p.i.rng);
    p.i.ep.delete_child(now, h, spi, rng);
    let request = p.i.ep.poll_transmit().expect("the DELETE request").bytes;
    let floated = SocketAddr::new(I_ADDR.ip(), 4500);

    // Forged: the last byte (in the ICV) changed, from yet another port.
    let mut forged = request.clone();
    *forged.last_mut().unwrap() ^= 1;
    let elsewhere = SocketAddr::new(I_ADDR.ip(), 4600);
    p.r.ep.handle(now, &forged, elsewhere, &mut p.r.rng);
    assert!(p.r.ep.poll_transmit().is_none(), "a forged request is not answered");
    assert_eq!(p.r.ep.sa(rh).unwrap().peer(), I_ADDR, "a forged request moves nothing");

    p.r.ep.handle(now, &request, floated, &mut p.r.rng);
    let answer = p.r.ep.poll_transmit().expect("the answer");
    assert_eq!((answer.to, answer.from.port()), (floated, 4500));
    assert_eq!(p.r.ep.sa(rh).unwrap().peer(), floated);

    // Our own request (a DELETE of the IKE SA) follows too.
    p.r.ep.close(now, rh, &mut p.r.rng);
    let delete = p.r.ep.poll_transmit().expect("the responder's DELETE");
    assert_eq!((delete.to, delete.from.port()), (floated, 4500));
    let m = Message::parse(&delete.bytes).unwrap();
    assert_eq!((m.header.exchange_type, m.header.response), (ExchangeType::Informational, false));
}
