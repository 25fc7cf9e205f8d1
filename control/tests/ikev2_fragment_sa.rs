//! IKE fragmentation (RFC 7383) in the SA state machine: both sides announce it in
//! IKE_SA_INIT, an IKE_AUTH too large for the datagram size goes out as SKF fragments, and
//! the receiver reassembles them whatever their order; a lost fragment is recovered by the
//! retransmission of all of them, and a retransmitted request is answered from the cache on
//! its fragment 1 only.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::collections::VecDeque;

use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, Event, IkeEndpoint, IkeSa, Mode, PeerConfig, Psk, SaHandle, Transmit,
};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{
    DhGroup, EncrId, ExchangeType, Header, IdRepr, IntegId, Message, NotifyType, PayloadType,
    PrfId, ProtocolId, TrafficSelector,
};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

include!("support/test_rng.rs");

const R_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
const I_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 500);

/// `n` host selectors in 10.`net`.0.0/16.
fn hosts(net: u8, n: u16) -> Vec<TrafficSelector> {
    (0..n)
        .map(|i| {
            let [a, b] = i.to_be_bytes();
            from_prefix(IpAddr::V4(Ipv4Addr::new(10, net, a, b)), 32)
        })
        .collect()
}

/// A configuration with `n` selectors each way: IKE_AUTH then carries about 32 n bytes of
/// TSi and TSr.
fn config(initiator: bool, encr: Encr, integ: Option<IntegId>, n: u16) -> PeerConfig {
    let (local_addr, remote_addr, local, remote, me, peer) = if initiator {
        (I_ADDR, R_ADDR, hosts(1, n), hosts(2, n), "i.example", "r.example")
    } else {
        (R_ADDR, I_ADDR, hosts(2, n), hosts(1, n), "r.example", "i.example")
    };
    PeerConfig {
        local_addr,
        remote_addr,
        local_id: IdRepr::fqdn(me),
        remote_id: Some(IdRepr::fqdn(peer)),
        psk_local: Psk::new(b"correct horse battery staple"),
        psk_remote: Psk::new(b"correct horse battery staple"),
        psk_by_id: vec![],
        ike_proposals: vec![LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![encr],
            prf: vec![PrfId::HmacSha2_256],
            integ: integ.into_iter().collect(),
            dh: vec![DhGroup::Curve25519],
            esn: vec![],
        }],
        child: ChildConfig {
            esp_proposals: vec![LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![encr],
                prf: vec![],
                integ: integ.into_iter().collect(),
                dh: vec![],
                esn: vec![],
            }],
            selectors: PolicySelectors { local, remote },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 4_608_000,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy::default(),
        dpd_interval: Duration::ZERO,
        dpd_retry: Duration::ZERO,
        remote_access: None,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

const GCM: Encr = (EncrId::AesGcm16, Some(128));
const CBC: Encr = (EncrId::AesCbc, Some(256));

fn is_fragment(bytes: &[u8]) -> bool {
    Header::new_checked(bytes).is_ok_and(|h| h.next_payload() == PayloadType::EncryptedFragment)
}

/// A datagram on the virtual wire, numbered in sending order per direction.
struct Wire {
    to_r: bool,
    bytes: Vec<u8>,
}

/// What the fault hook does with the `n`th datagram of a direction.
#[derive(PartialEq)]
enum Fate {
    Deliver,
    Drop,
}

struct Run {
    i: IkeEndpoint,
    r: IkeEndpoint,
    h: SaHandle,
    rng: TestRng,
    now: Time,
    /// Every datagram sent, in order: (to the responder, bytes).
    log: Vec<(bool, Vec<u8>)>,
}

impl Run {
    fn new(icfg: PeerConfig, rcfg: PeerConfig, mtu: usize) -> Run {
        let mut rng = TestRng::new("fragments");
        let mut i = IkeEndpoint::new(Vec::new());
        let mut r = IkeEndpoint::new(vec![rcfg]);
        i.set_fragment_mtu(mtu);
        r.set_fragment_mtu(mtu);
        let h = i.connect(Time::ZERO, icfg, &mut rng).expect("config");
        Run { i, r, h, rng, now: Time::ZERO, log: Vec::new() }
    }

    /// Runs the exchange for `span` of virtual time: each side's output is passed through
    /// `fault` (given the datagram and its index among those sent to the same side) and
    /// `reorder` (reverses each batch of fragments), then delivered.
    fn run(&mut self, span: Duration, mut fault: impl FnMut(&Wire, usize) -> Fate, reorder: bool) {
        let end = self.now + span;
        let mut counts = [0usize; 2];
        loop {
            let mut batch: VecDeque<Wire> = VecDeque::new();
            let take = |t: Transmit, to_r: bool, batch: &mut VecDeque<Wire>| {
                batch.push_back(Wire { to_r, bytes: t.bytes });
            };
            while let Some(t) = self.i.poll_transmit() {
                take(t, true, &mut batch);
            }
            while let Some(t) = self.r.poll_transmit() {
                take(t, false, &mut batch);
            }
            if batch.is_empty() {
                let next =
                    [self.i.poll_timeout(), self.r.poll_timeout()].into_iter().flatten().min();
                match next {
                    Some(t) if t <= end => {
                        self.now = self.now.max(t);
                        self.i.handle_timeout(self.now, &mut self.rng);
                        self.r.handle_timeout(self.now, &mut self.rng);
                        continue;
                    }
                    _ => break,
                }
            }
            let mut batch: Vec<Wire> = batch.into();
            if reorder {
                batch.reverse();
            }
            self.now = self.now + Duration::from_millis(5);
            for w in batch {
                let k = usize::from(!w.to_r);
                let n = counts[k];
                counts[k] += 1;
                self.log.push((w.to_r, w.bytes.clone()));
                if fault(&w, n) == Fate::Drop {
                    continue;
                }
                if w.to_r {
                    self.r.handle(self.now, &w.bytes, I_ADDR, &mut self.rng);
                } else {
                    self.i.handle(self.now, &w.bytes, R_ADDR, &mut self.rng);
                }
            }
        }
    }

    fn initiator(&self) -> &IkeSa {
        self.i.sa(self.h).expect("initiator SA")
    }

    fn responder(&self) -> &IkeSa {
        self.r.sa(SaHandle(1)).expect("responder SA")
    }

    fn fragments(&self, to_r: bool) -> Vec<&[u8]> {
        self.log
            .iter()
            .filter(|(d, b)| *d == to_r && is_fragment(b))
            .map(|(_, b)| b.as_slice())
            .collect()
    }

    fn child_up(&mut self) -> (usize, usize) {
        let ups = |ep: &mut IkeEndpoint| {
            core::iter::from_fn(|| ep.poll_event())
                .filter(|(_, e)| matches!(e, Event::ChildSaUp(_)))
                .count()
        };
        (ups(&mut self.i), ups(&mut self.r))
    }
}

fn established(run: &mut Run) {
    assert!(run.initiator().is_established(), "initiator up");
    assert!(run.responder().is_established(), "responder up");
    assert_eq!(run.child_up(), (1, 1), "one Child SA each");
}

#[test]
fn both_sides_announce_fragmentation_and_a_large_ike_auth_is_fragmented() {
    for (encr, integ, mtu) in
        [(GCM, None, 576), (CBC, Some(IntegId::HmacSha2_256_128), 576), (GCM, None, 1280)]
    {
        let mut run = Run::new(config(true, encr, integ, 80), config(false, encr, integ, 80), mtu);
        run.run(Duration::from_secs(5), |_, _| Fate::Deliver, false);
        established(&mut run);
        let inits: Vec<Message> = run
            .log
            .iter()
            .filter_map(|(_, b)| Message::parse(b).ok())
            .filter(|m| m.header.exchange_type == ExchangeType::IkeSaInit)
            .collect();
        assert_eq!(inits.len(), 2);
        assert!(inits.iter().all(|m| m.notify(NotifyType::Ikev2FragmentationSupported).is_some()));
        assert!(run.initiator().peer_supports_fragmentation());
        assert!(run.responder().peer_supports_fragmentation());
        for to_r in [true, false] {
            let frags = run.fragments(to_r);
            assert!(frags.len() >= 3, "IKE_AUTH of 80 selectors each way needs fragments");
            // IP + UDP headers around each fragment stay within the datagram size.
            assert!(frags.iter().all(|f| f.len() + 28 <= mtu), "{mtu}");
        }
        let (si, sr) = (run.initiator().stats(), run.responder().stats());
        assert_eq!(si.fragments_sent as usize, run.fragments(true).len());
        assert_eq!(sr.fragments_sent as usize, run.fragments(false).len());
        assert_eq!((si.messages_reassembled, sr.messages_reassembled), (1, 1));
        assert_eq!((si.integrity_failures, sr.integrity_failures), (0, 0));
    }
}

#[test]
fn small_messages_and_peers_without_support_are_not_fragmented() {
    let mut run = Run::new(config(true, GCM, None, 2), config(false, GCM, None, 2), 1280);
    run.run(Duration::from_secs(5), |_, _| Fate::Deliver, false);
    established(&mut run);
    assert!(run.fragments(true).is_empty() && run.fragments(false).is_empty());

    // A responder that does not announce support: the initiator sends IKE_AUTH whole.
    // (Rewriting IKE_SA_INIT breaks the AUTH payloads, which sign it, so the exchange
    // fails; what matters here is what the initiator sent.)
    let mut stripped = Run::new(config(true, GCM, None, 80), config(false, GCM, None, 80), 576);
    stripped.run_stripping_support();
    assert!(!stripped.initiator().peer_supports_fragmentation());
    assert!(stripped.fragments(true).is_empty(), "no fragments to a peer without support");
    let auth = stripped.log.iter().find(|(to_r, b)| {
        *to_r && Message::parse(b).is_ok_and(|m| m.header.exchange_type == ExchangeType::IkeAuth)
    });
    assert!(auth.is_some_and(|(_, b)| b.len() > 576), "IKE_AUTH sent whole");
}

/// `no crypto ikev2 fragmentation` on either side (or both): that side sends no
/// IKEV2_FRAGMENTATION_SUPPORTED, so neither fragments, and the large IKE_AUTH of both
/// goes whole; the tunnel still comes up.
#[test]
fn fragmentation_off_announces_nothing_and_sends_large_messages_whole() {
    for (i_on, r_on) in [(false, true), (true, false), (false, false)] {
        let mut icfg = config(true, GCM, None, 80);
        let mut rcfg = config(false, GCM, None, 80);
        icfg.fragmentation = i_on.then_some(576);
        rcfg.fragmentation = r_on.then_some(576);
        let mut run = Run::new(icfg, rcfg, 576);
        run.run(Duration::from_secs(5), |_, _| Fate::Deliver, false);
        established(&mut run);
        let announced = |to_r: bool| {
            run.log.iter().any(|(d, b)| {
                *d == to_r
                    && Message::parse(b).is_ok_and(|m| {
                        m.header.exchange_type == ExchangeType::IkeSaInit
                            && m.notify(NotifyType::Ikev2FragmentationSupported).is_some()
                    })
            })
        };
        assert_eq!(announced(true), i_on, "initiator's notify ({i_on}, {r_on})");
        // The responder announces only to an initiator that did, and only when on.
        assert_eq!(announced(false), i_on && r_on, "responder's notify ({i_on}, {r_on})");
        assert!(!run.initiator().peer_supports_fragmentation());
        assert!(!run.responder().peer_supports_fragmentation());
        assert!(run.fragments(true).is_empty() && run.fragments(false).is_empty());
        for to_r in [true, false] {
            let auth = run.log.iter().find(|(d, b)| {
                *d == to_r
                    && Message::parse(b)
                        .is_ok_and(|m| m.header.exchange_type == ExchangeType::IkeAuth)
            });
            assert!(auth.is_some_and(|(_, b)| b.len() + 28 > 576), "IKE_AUTH whole ({to_r})");
        }
        let (si, sr) = (run.initiator().stats(), run.responder().stats());
        assert_eq!((si.fragments_sent, sr.fragments_sent), (0, 0));
    }
}

impl Run {
    /// Runs the exchange with the responder's IKE_SA_INIT answer rewritten without its
    /// IKEV2_FRAGMENTATION_SUPPORTED notify: a responder that does not do RFC 7383.
    fn run_stripping_support(&mut self) {
        for _ in 0..50 {
            let mut quiet = true;
            while let Some(t) = self.i.poll_transmit() {
                quiet = false;
                self.log.push((true, t.bytes.clone()));
                self.r.handle(self.now, &t.bytes, I_ADDR, &mut self.rng);
            }
            while let Some(t) = self.r.poll_transmit() {
                quiet = false;
                let mut bytes = t.bytes;
                if let Ok(mut m) = Message::parse(&bytes)
                    && m.header.exchange_type == ExchangeType::IkeSaInit
                {
                    m.payloads.retain(|p| {
                        !matches!(p, control::ikev2::wire::Payload::Notify(n)
                            if n.notify_type == NotifyType::Ikev2FragmentationSupported)
                    });
                    bytes = m.to_vec().expect("re-emit");
                }
                self.log.push((false, bytes.clone()));
                self.i.handle(self.now, &bytes, R_ADDR, &mut self.rng);
            }
            if quiet {
                break;
            }
            self.now = self.now + Duration::from_millis(5);
        }
    }
}

#[test]
fn reordered_fragments_are_reassembled() {
    let mut run = Run::new(config(true, GCM, None, 80), config(false, GCM, None, 80), 576);
    run.run(Duration::from_secs(5), |_, _| Fate::Deliver, true);
    established(&mut run);
    let (si, sr) = (run.initiator().stats(), run.responder().stats());
    assert_eq!((si.messages_reassembled, sr.messages_reassembled), (1, 1));
    assert_eq!((si.retransmits, sr.replays), (0, 0), "no loss, no retransmission");
}

#[test]
fn a_lost_request_fragment_is_recovered_by_retransmitting_all_fragments() {
    let mut run = Run::new(config(true, GCM, None, 80), config(false, GCM, None, 80), 576);
    // Datagram 0 to the responder is IKE_SA_INIT; 1.. are the IKE_AUTH fragments: lose
    // the second fragment of the first transmission.
    run.run(
        Duration::from_secs(10),
        |w, n| if w.to_r && n == 2 { Fate::Drop } else { Fate::Deliver },
        false,
    );
    established(&mut run);
    let per_send = run.initiator().stats().fragments_sent as usize;
    assert_eq!(run.fragments(true).len(), 2 * per_send, "all fragments sent twice");
    assert_eq!(run.initiator().stats().retransmits, 1);
    // The retransmitted copies of fragments the responder already held are duplicates.
    assert_eq!(run.responder().stats().messages_reassembled, 1);
}

#[test]
fn a_lost_response_fragment_makes_the_responder_replay_on_fragment_one_only() {
    let mut run = Run::new(config(true, GCM, None, 80), config(false, GCM, None, 80), 576);
    // Datagram 0 to the initiator is the IKE_SA_INIT answer; lose the last fragment of
    // the first IKE_AUTH answer (the third datagram).
    let mut answer_frags = 0;
    run.run(
        Duration::from_secs(10),
        |w, _| {
            if !w.to_r && is_fragment(&w.bytes) {
                answer_frags += 1;
                if answer_frags == 3 {
                    return Fate::Drop;
                }
            }
            Fate::Deliver
        },
        false,
    );
    established(&mut run);
    let sr = run.responder().stats();
    assert_eq!(sr.replays, 1, "one replay for the whole retransmitted request");
    assert_eq!(sr.requests_processed, 2, "IKE_SA_INIT and IKE_AUTH, each processed once");
    let frags = run.fragments(false);
    assert_eq!(frags.len() as u64, 2 * sr.fragments_sent, "the whole answer sent again");
    assert_eq!(run.initiator().stats().messages_reassembled, 1);
}

#[test]
fn a_forged_fragment_is_dropped_and_the_real_ones_still_complete() {
    let mut run = Run::new(config(true, GCM, None, 80), config(false, GCM, None, 80), 576);
    // Lose the first IKE_AUTH fragment (datagram 1 to the responder), briefly: no
    // retransmission yet.
    run.run(
        Duration::from_millis(100),
        |w, n| if w.to_r && n == 1 { Fate::Drop } else { Fate::Deliver },
        false,
    );
    assert!(!run.responder().is_established());
    let lost = run.fragments(true)[0].to_vec();
    let mut bad = lost.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    run.r.handle(run.now, &bad, I_ADDR, &mut run.rng);
    assert_eq!(run.responder().stats().integrity_failures, 1, "forgery fails its ICV");
    assert_eq!(run.responder().stats().fragments_received as usize, run.fragments(true).len() - 1);
    // The real one completes the message.
    run.r.handle(run.now, &lost, I_ADDR, &mut run.rng);
    run.run(Duration::from_secs(5), |_, _| Fate::Deliver, false);
    established(&mut run);
    assert_eq!(run.initiator().stats().retransmits, 0);
    assert_eq!(run.responder().stats().messages_reassembled, 1);
}
