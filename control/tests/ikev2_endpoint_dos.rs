//! Admission control in the IKE endpoint (RFC 7296 section 2.6): a half-open flood makes
//! the responder demand COOKIEs without keeping state, a real initiator still gets through
//! by returning its cookie, and the global and per-source half-open limits hold.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use control::ikev2::dos::AdmissionConfig;
use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, Event, IkeEndpoint, IkeSa, Mode, PeerConfig, Psk, SaHandle, Transmit,
};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{
    DhGroup, EncrId, ExchangeType, IdRepr, Message, NotifyType, Payload, PrfId, ProtocolId,
    TrafficSelector,
};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

include!("support/test_rng.rs");

const CHACHA: Encr = (EncrId::ChaCha20Poly1305, None);
const R_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
const I_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 500);

fn net(a: [u8; 4], len: u8) -> TrafficSelector {
    from_prefix(IpAddr::V4(Ipv4Addr::from(a)), len)
}

fn config(local_addr: SocketAddr, remote_addr: SocketAddr, initiator: bool) -> PeerConfig {
    let (i_net, r_net) = (net([10, 1, 0, 0], 16), net([10, 2, 0, 0], 16));
    let (local, remote, me, peer) = if initiator {
        (i_net, r_net, "i.example", "r.example")
    } else {
        (r_net, i_net, "r.example", "i.example")
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
            encr: vec![CHACHA],
            prf: vec![PrfId::HmacSha2_256],
            integ: vec![],
            dh: vec![DhGroup::Curve25519],
            esn: vec![],
        }],
        child: ChildConfig {
            esp_proposals: vec![LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![CHACHA],
                prf: vec![],
                integ: vec![],
                dh: vec![],
                esn: vec![],
            }],
            selectors: PolicySelectors { local: vec![local], remote: vec![remote] },
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

/// A responder that answers any address.
fn responder() -> IkeEndpoint {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    IkeEndpoint::new(vec![config(R_ADDR, any, false)])
}

fn policy(max: u32, per_peer: u32, percent: u32) -> AdmissionConfig {
    AdmissionConfig {
        max_half_open: max,
        max_half_open_per_peer: per_peer,
        ..AdmissionConfig::default()
    }
    .with_cookie_percent(percent)
}

/// The `n`th flooding source address (all distinct).
fn source(n: u32) -> SocketAddr {
    let [_, _, b, c] = n.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, b, c)), 500)
}

/// A flooding initiator at `from`: it sends IKE_SA_INIT and never goes on to IKE_AUTH.
fn flooder(from: SocketAddr, rng: &mut TestRng) -> (IkeSa, Vec<u8>) {
    let mut sa = IkeSa::initiate(Time::ZERO, config(from, R_ADDR, true), rng).expect("config");
    let t = sa.poll_transmit().expect("IKE_SA_INIT");
    (sa, t.bytes)
}

fn drain(ep: &mut IkeEndpoint) -> Vec<Transmit> {
    core::iter::from_fn(|| ep.poll_transmit()).collect()
}

/// The COOKIE of a COOKIE-only IKE_SA_INIT answer, checking its RFC 7296 section 2.6 form.
fn cookie_of(t: &Transmit) -> Option<Vec<u8>> {
    let m = Message::parse(&t.bytes).ok()?;
    let h = m.header;
    if h.exchange_type != ExchangeType::IkeSaInit || !h.response || h.spi_r != 0 {
        return None;
    }
    match m.payloads.as_slice() {
        [Payload::Notify(n)] if n.notify_type == NotifyType::Cookie => Some(n.data.clone()),
        _ => None,
    }
}

#[test]
fn a_flood_from_many_sources_meets_cookies_and_the_hard_limit_bounds_state() {
    let mut rng = TestRng::new("flood");
    let mut r = responder();
    // Cookies from 10 half-open SAs, drops from 20.
    r.set_dos_policy(Time::ZERO, policy(20, 4, 50), &mut rng);
    let now = Time::from_millis(10);
    let mut flooders = Vec::new();
    let mut cookie_answers = Vec::new();
    for n in 0..300 {
        let (sa, req) = flooder(source(n), &mut rng);
        r.handle(now, &req, source(n), &mut rng);
        let out = drain(&mut r);
        assert_eq!(out.len(), 1, "every request below the hard limit is answered once");
        if n < 10 {
            assert!(cookie_of(&out[0]).is_none(), "below the threshold: a real answer");
        } else {
            let cookie = cookie_of(&out[0]).expect("over the threshold: COOKIE only");
            assert_eq!(cookie.len(), 33);
            assert_eq!(out[0].to, source(n));
            cookie_answers.push((n, out[0].clone()));
        }
        flooders.push(sa);
    }
    assert_eq!(r.len(), 10, "no state for challenged requests");
    assert_eq!(r.half_open(), 10);
    let s = r.stats();
    assert_eq!((s.cookies_sent, s.dropped_half_open, s.bad_cookies), (290, 0, 0));

    // The flooders own their addresses and return the cookies: they fill the table up to
    // the hard limit, and the rest is dropped unanswered.
    for (n, answer) in &cookie_answers {
        let sa = &mut flooders[*n as usize];
        sa.handle(now, &answer.bytes, R_ADDR, &mut rng);
        let again = sa.poll_transmit().expect("IKE_SA_INIT again with the COOKIE");
        let m = Message::parse(&again.bytes).unwrap();
        assert_eq!(m.notify(NotifyType::Cookie).map(|c| c.data.clone()), cookie_of(answer));
        r.handle(now, &again.bytes, source(*n), &mut rng);
    }
    let out = drain(&mut r);
    assert_eq!(out.len(), 10, "ten more accepted with their cookies");
    assert!(out.iter().all(|t| cookie_of(t).is_none()));
    assert_eq!(r.len(), 20, "the hard limit holds");
    assert_eq!(r.half_open(), 20);
    assert_eq!(r.stats().dropped_half_open, 280);
    let c = r.admission_counters().expect("admission on");
    assert_eq!((c.opened, c.accepted, c.cookie_demanded), (20, 20, 290));

    // The half-open SAs time out: their slots come back and no cookie is demanded.
    let later = Time::from_secs(600);
    r.handle_timeout(later, &mut rng);
    r.handle_timeout(later + Duration::from_secs(600), &mut rng);
    assert_eq!(r.half_open(), 0);
    assert_eq!(r.len(), 0, "expired SAs are dropped");
    assert_eq!(r.admission_counters().unwrap().expired, 20);
    let (_, req) = flooder(source(1000), &mut rng);
    r.handle(later + Duration::from_secs(601), &req, source(1000), &mut rng);
    let out = drain(&mut r);
    assert!(out.len() == 1 && cookie_of(&out[0]).is_none(), "back to normal");
}

#[test]
fn a_forged_or_foreign_cookie_is_challenged_again() {
    let mut rng = TestRng::new("forged");
    let mut r = responder();
    r.set_dos_policy(Time::ZERO, policy(20, 4, 0), &mut rng);
    let (mut sa, req) = flooder(source(1), &mut rng);
    r.handle(Time::ZERO, &req, source(1), &mut rng);
    let answer = drain(&mut r).pop().unwrap();
    assert!(cookie_of(&answer).is_some(), "threshold 0: always challenged");
    sa.handle(Time::ZERO, &answer.bytes, R_ADDR, &mut rng);
    let again = sa.poll_transmit().unwrap().bytes;
    // The cookie is bound to the source address: from elsewhere it is refused.
    r.handle(Time::ZERO, &again, source(2), &mut rng);
    assert!(cookie_of(&drain(&mut r)[0]).is_some());
    assert_eq!((r.stats().bad_cookies, r.len()), (1, 0));
    // From the right address it is accepted.
    r.handle(Time::ZERO, &again, source(1), &mut rng);
    assert!(cookie_of(&drain(&mut r)[0]).is_none());
    assert_eq!(r.len(), 1);
}

/// Shuttles datagrams between an initiator endpoint at [`I_ADDR`] and the responder until
/// both are quiet, running timers on a virtual clock.
fn run(i: &mut IkeEndpoint, r: &mut IkeEndpoint, rng: &mut TestRng, mut now: Time) -> Vec<Message> {
    let mut to_r = Vec::new();
    for _ in 0..100 {
        let mut quiet = true;
        while let Some(t) = i.poll_transmit() {
            quiet = false;
            to_r.extend(Message::parse(&t.bytes).ok());
            r.handle(now, &t.bytes, I_ADDR, rng);
        }
        while let Some(t) = r.poll_transmit() {
            if t.to == I_ADDR {
                quiet = false;
                i.handle(now, &t.bytes, R_ADDR, rng);
            }
        }
        if quiet {
            break;
        }
        now = now + Duration::from_millis(5);
    }
    to_r
}

#[test]
fn a_legitimate_initiator_returns_the_cookie_and_gets_through_a_flood() {
    let mut rng = TestRng::new("legit");
    let mut r = responder();
    r.set_dos_policy(Time::ZERO, policy(20, 4, 50), &mut rng);
    for n in 0..50 {
        let (_, req) = flooder(source(n), &mut rng);
        r.handle(Time::ZERO, &req, source(n), &mut rng);
    }
    drain(&mut r);
    assert_eq!((r.half_open(), r.len()), (10, 10));

    let mut i = IkeEndpoint::new(Vec::new());
    let h: SaHandle = i.connect(Time::ZERO, config(I_ADDR, R_ADDR, true), &mut rng).unwrap();
    let sent = run(&mut i, &mut r, &mut rng, Time::from_millis(1));
    assert!(i.sa(h).is_some_and(IkeSa::is_established), "the initiator is up");
    let inits: Vec<_> =
        sent.iter().filter(|m| m.header.exchange_type == ExchangeType::IkeSaInit).collect();
    assert_eq!(inits.len(), 2, "challenged once, then with the cookie");
    assert!(inits[0].notify(NotifyType::Cookie).is_none());
    assert!(
        matches!(inits[1].payloads.first(), Some(Payload::Notify(n)) if n.notify_type == NotifyType::Cookie),
        "COOKIE goes first (section 2.6)"
    );
    let ups = core::iter::from_fn(|| r.poll_event())
        .filter(|(_, e)| matches!(e, Event::Established(_)))
        .count();
    assert_eq!(ups, 1, "the responder is up too");
    assert_eq!(r.half_open(), 10, "an authenticated SA is no longer half-open");
    assert_eq!(r.admission_counters().unwrap().completed, 1);
    assert_eq!(r.stats().cookies_sent, 41);
}

#[test]
fn the_per_source_limit_caps_one_address_only() {
    let mut rng = TestRng::new("per-source");
    let mut r = responder();
    // Percent above 100: no cookies, only the limits.
    r.set_dos_policy(Time::ZERO, policy(100, 3, 200), &mut rng);
    let noisy = source(7);
    for _ in 0..10 {
        let (_, req) = flooder(noisy, &mut rng);
        r.handle(Time::ZERO, &req, noisy, &mut rng);
    }
    assert_eq!(drain(&mut r).len(), 3, "three answers, seven dropped unanswered");
    assert_eq!((r.len(), r.stats().dropped_peer_half_open), (3, 7));
    let (_, req) = flooder(source(8), &mut rng);
    r.handle(Time::ZERO, &req, source(8), &mut rng);
    assert_eq!(drain(&mut r).len(), 1, "another source is unaffected");
    assert_eq!(r.half_open(), 4);
}

#[test]
fn a_policy_set_later_counts_the_sas_already_half_open() {
    let mut rng = TestRng::new("later");
    let mut r = responder();
    for n in 0..5 {
        let (_, req) = flooder(source(n), &mut rng);
        r.handle(Time::ZERO, &req, source(n), &mut rng);
    }
    assert_eq!(r.half_open(), 0, "no accounting while off");
    r.set_dos_policy(Time::ZERO, policy(6, 4, 200), &mut rng);
    assert_eq!(r.half_open(), 5);
    for n in 5..8 {
        let (_, req) = flooder(source(n), &mut rng);
        r.handle(Time::ZERO, &req, source(n), &mut rng);
    }
    assert_eq!((r.len(), r.stats().dropped_half_open), (6, 2));
    // Tightening the limits keeps the count.
    r.set_dos_policy(Time::ZERO, policy(3, 4, 200), &mut rng);
    assert_eq!(r.half_open(), 6);
    r.clear_dos_policy();
    let (_, req) = flooder(source(9), &mut rng);
    r.handle(Time::ZERO, &req, source(9), &mut rng);
    assert_eq!(r.len(), 7, "off again: admitted");
}
