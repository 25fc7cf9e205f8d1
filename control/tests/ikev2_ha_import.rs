//! Stateful failover of an IKEv2 SA (issue 9) between two IKE endpoints on a virtual
//! network (the `Pair` harness of `ikev2_sa_pair.rs`): A and B establish, A's SA is exported
//! as HA records, sent through the failover link's codec, imported into a fresh SA A' on a
//! fresh endpoint (the standby taking over), and A is dropped. Then A' and B carry on with
//! the same IKE SA and Child SAs: liveness checks, Child SA rekeys from either side, a new
//! Child SA, DELETE of the IKE SA, without B ever renegotiating. With RFC 6311 Message ID
//! synchronisation, A' also recovers from requests A sent after the last replication.
//! Deterministic: seeded RNGs and a virtual clock.

use core::time::Duration;

use control::ha::wire::Message as HaMessage;
use control::ha::{ChildSaRecord, IkeSaRecord, Record};
use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, CloseReason, Event, IkeEndpoint, IkeSa, ImportError, PeerConfig,
};
use control::ikev2::wire::{DhGroup, EncrId, ExchangeType, Message, PrfId, ProtocolId};
use control::time::Time;

include!("support/pair.rs");

/// `Pair::check_live`'s default: rekeying is make-before-break (turned off before the IKE
/// SA is deleted, which takes every pair down).
const CHECK_LIVE: bool = true;
/// No NAT here: every datagram uses the configured addresses.
const EXACT_ADDRESSES: bool = true;

const GCM128: Encr = (EncrId::AesGcm16, Some(128));
const GCM256: Encr = (EncrId::AesGcm16, Some(256));
const DPD: Duration = Duration::from_secs(10);

fn ike(encr: Encr) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![encr],
        prf: vec![PrfId::HmacSha2_256],
        integ: vec![],
        dh: vec![DhGroup::Ecp256],
        esn: vec![],
    }
}

fn esp(encr: Encr) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![encr],
        prf: vec![],
        integ: vec![],
        dh: vec![DhGroup::Ecp256],
        esn: vec![],
    }
}

/// One side: GCM-128 IKE and ESP (PFS over ECP-256); the initiator (A, A') checks
/// liveness after 10 s, the responder never (so that whose check runs is known).
fn config(initiator: bool) -> PeerConfig {
    let mut c = psk_config(initiator, ike(GCM128), esp(GCM128), 3600);
    c.dpd_interval = if initiator { DPD } else { Duration::ZERO };
    c
}

/// A (initiator) and B (responder) up, both announcing RFC 6311 support if `sync`.
fn establish(seed: &str, sync: bool) -> Pair {
    let mut p = Pair::seeded(config(true), config(false), seed, |i, r| {
        i.set_message_id_sync(sync);
        r.set_message_id_sync(sync);
    });
    p.run_for(Duration::from_secs(2));
    assert!(p.i.ep.sa(p.h).is_some_and(IkeSa::is_established));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    let b = p.r.ep.sa(p.rh()).unwrap();
    assert_eq!(b.message_id_sync(), sync);
    p
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

/// A's records, encoded and decoded (and checked equal after the round trip).
fn export(p: &Pair) -> (IkeSaRecord, Vec<ChildSaRecord>) {
    let (ike, children) = p.i.ep.sa(p.h).unwrap().export(p.time).expect("established");
    let Record::UpsertIke(ike2) = over_the_link(Record::UpsertIke(ike.clone())) else {
        panic!("IKE record")
    };
    assert_eq!(ike2, ike);
    let children2: Vec<ChildSaRecord> = children
        .iter()
        .map(|c| match over_the_link(Record::UpsertChild(c.clone())) {
            Record::UpsertChild(c) => c,
            other => panic!("Child SA record expected: {other:?}"),
        })
        .collect();
    assert_eq!(children2, children);
    (ike2, children2)
}

/// The standby takes over: A' imported from the records on a fresh endpoint replaces A
/// (dropped, with whatever was in flight to it).
fn take_over(p: &mut Pair, ike: &IkeSaRecord, children: &[ChildSaRecord], jump: u32) {
    let mut rng = TestRng::new("standby");
    let a2 = IkeSa::import(p.time, config(true), ike, children, jump, &mut rng).expect("import");
    assert!(a2.is_established());
    // What the owner installs in the dataplane: every pair not being deleted, with the
    // replicated SPIs and keys, and the IKE SA's own description.
    let info = a2.established_info().expect("established");
    assert_eq!((info.spi_i, info.spi_r), (ike.spi_i, ike.spi_r));
    let live: Vec<&ChildSaRecord> =
        children.iter().filter(|c| c.phase != control::ha::ChildPhase::Deleting).collect();
    let resumed = a2.resumed_children();
    assert_eq!(resumed.len(), live.len());
    for (r, c) in resumed.iter().zip(live) {
        assert_eq!((r.inbound_spi, r.outbound_spi), (c.inbound_spi, c.outbound_spi));
        let key =
            |k: &control::crypto::DirectionKeys| [k.encr.as_bytes(), k.integ.as_bytes()].concat();
        assert_eq!(key(&r.inbound), c.inbound_key.as_bytes());
        assert_eq!(key(&r.outbound), c.outbound_key.as_bytes());
        assert!(r.rekey_of.is_none());
    }
    let mut ep = IkeEndpoint::new(vec![]);
    let h = ep.adopt(p.time, a2);
    p.i.ep = ep;
    p.i.inbound.clear();
    p.h = h;
    p.flush();
}

/// B's view of the IKE SA: SPIs and Child SA SPIs.
fn b_state(p: &Pair) -> ((u64, u64), Vec<(u32, u32)>) {
    let b = p.r.ep.sa(p.rh()).expect("B's SA");
    ((b.spi_i(), b.spi_r()), b.child_spis())
}

fn sent_since(p: &Pair, from: usize, dir: Dir, exchange: ExchangeType, response: bool) -> usize {
    p.log[from..]
        .iter()
        .filter(|s| s.dir == dir)
        .filter_map(|s| Message::parse(&s.bytes).ok())
        .filter(|m| m.header.exchange_type == exchange && m.header.response == response)
        .count()
}

/// A side's first live pair (inbound, outbound).
fn first(s: &Side) -> (u32, u32) {
    s.live.iter().next().map(|(a, b)| (*a, *b)).expect("a live pair")
}

fn established_events(s: &Side) -> usize {
    s.events.iter().filter(|e| matches!(e.2, Event::Established(_))).count()
}

fn terminal(s: &Side) -> Vec<&Event> {
    s.events
        .iter()
        .map(|e| &e.2)
        .filter(|e| matches!(e, Event::Closed { .. } | Event::Failed(_)))
        .collect()
}

/// Everything A' must be able to do with B after the takeover.
fn carry_on(p: &mut Pair) {
    let before = b_state(p);
    let b_up = established_events(&p.r);
    // A liveness check of A' (10 s after the takeover), answered.
    let from = p.log.len();
    p.run_for(DPD + Duration::from_secs(1));
    assert!(sent_since(p, from, Dir::IToR, ExchangeType::Informational, false) >= 1, "DPD sent");
    assert!(sent_since(p, from, Dir::RToI, ExchangeType::Informational, true) >= 1, "answered");
    assert!(terminal(&p.i).is_empty() && terminal(&p.r).is_empty());
    assert_eq!(b_state(p), before, "B kept its IKE SA and Child SAs");
    assert_eq!(p.i.ep.sa(p.h).unwrap().stats().retransmits, 0);

    // A Child SA rekey by A', then one by B.
    let ((spi_i, spi_r), _) = before;
    let (old, _) = first(&p.i);
    assert!(p.i.ep.rekey_child(p.time, p.h, old, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.i.live.len(), 1, "{:?}", p.i.live);
    let (new_a, new_b_in) = first(&p.i);
    assert_ne!(new_a, old);
    assert_eq!(p.r.live.get(&new_b_in), Some(&new_a), "B installed the mirror pair");
    let rh = p.rh();
    assert!(p.r.ep.rekey_child(p.time, rh, new_b_in, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(3));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    assert!(!p.i.live.contains_key(&new_a), "B's rekey replaced it");
    let (a_in, a_out) = first(&p.i);
    assert_eq!(p.r.live.get(&a_out), Some(&a_in));

    // A new Child SA from A', for other selectors (the same ones would make a duplicate,
    // which the endpoints reduce to one).
    let mut cfg: ChildConfig = config(true).child;
    cfg.selectors.local = vec![net([10, 1, 5, 0], 24)];
    cfg.selectors.remote = vec![net([10, 2, 7, 0], 24)];
    assert!(p.i.ep.create_child(p.time, p.h, cfg, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(3));
    assert_eq!((p.i.live.len(), p.r.live.len()), (2, 2));
    for (i, o) in &p.i.live {
        assert_eq!(p.r.live.get(o), Some(i), "the pairs mirror each other");
    }
    assert!(child_failures(&p.i).is_empty() && child_failures(&p.r).is_empty());
    assert!(terminal(&p.i).is_empty() && terminal(&p.r).is_empty());
    // Never renegotiated: same IKE SA at B, no second Established.
    assert_eq!(b_state(p).0, (spi_i, spi_r));
    assert_eq!(established_events(&p.r), b_up);

    // DELETE of the IKE SA by A'.
    p.check_live = false;
    p.i.ep.close(p.time, p.h, &mut p.i.rng);
    p.flush();
    p.run_for(Duration::from_secs(3));
    assert!(matches!(terminal(&p.i)[..], [Event::Closed { reason: CloseReason::Local }]));
    assert!(matches!(terminal(&p.r)[..], [Event::Closed { reason: CloseReason::PeerDeleted }]));
    assert!(p.i.live.is_empty() && p.r.live.is_empty());
}

#[test]
fn ha_import_carries_on_without_renegotiation() {
    let mut p = establish("plain", false);
    let before = b_state(&p);
    let (ike, children) = export(&p);
    assert_eq!((ike.spi_i, ike.spi_r), before.0);
    assert_eq!(children.len(), 1);
    assert_eq!((children[0].inbound_spi, children[0].outbound_spi), (before.1[0].1, before.1[0].0));
    assert_eq!((ike.next_send_msg_id, ike.next_recv_msg_id), (2, 0), "IKE_SA_INIT, IKE_AUTH");
    assert!(!ike.extensions.message_id_sync);
    assert!(ike.initiator && ike.hard_lifetime_secs > 0 && ike.soft_lifetime_secs > 0);
    assert!(children[0].lifetimes.soft_secs > 0 && children[0].lifetimes.hard_secs <= 3600);
    take_over(&mut p, &ike, &children, 0);
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (2, 0));
    carry_on(&mut p);
}

#[test]
fn ha_import_with_message_id_sync_carries_on() {
    let mut p = establish("sync", true);
    let (ike, children) = export(&p);
    assert!(ike.extensions.message_id_sync);
    let from = p.log.len();
    take_over(&mut p, &ike, &children, 0);
    p.run_for(Duration::from_millis(100));
    // One INFORMATIONAL in Message ID 0 each way.
    let sync: Vec<_> = p.log[from..]
        .iter()
        .filter_map(|s| Message::parse(&s.bytes).ok().map(|m| (s.dir, m.header)))
        .collect();
    assert_eq!(sync.len(), 2, "{sync:?}");
    assert!(
        sync.iter()
            .all(|(_, h)| h.message_id == 0 && h.exchange_type == ExchangeType::Informational)
    );
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (2, 0));
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().message_ids(), (0, 2));
    carry_on(&mut p);
}

/// Message ID 0 serves one synchronisation per IKE SA: a peer whose IVs follow the Message
/// ID (strongSwan with AES-GCM) cannot answer a second one at ID 0 and deletes the IKE SA.
/// The records say the first was spent, so the unit that takes over next (a switchover
/// back) does without, and the SA carries on with the replicated Message IDs.
#[test]
fn ha_import_a_second_takeover_does_not_synchronise_again() {
    let mut p = establish("sync-twice", true);
    let (ike, children) = export(&p);
    assert!(ike.extensions.message_id_sync && !ike.extensions.message_id_sync_used);
    take_over(&mut p, &ike, &children, 0);
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (2, 0));

    // The new active's own records: support still announced, the synchronisation spent.
    let (ike, children) = export(&p);
    assert!(ike.extensions.message_id_sync && ike.extensions.message_id_sync_used);
    let from = p.log.len();
    take_over(&mut p, &ike, &children, 0);
    p.run_for(Duration::from_millis(100));
    assert_eq!(
        sent_since(&p, from, Dir::IToR, ExchangeType::Informational, false),
        0,
        "no second IKEV2_MESSAGE_ID_SYNC"
    );
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (2, 0));

    // An IKE SA rekey brings new keys: Message ID 0 may serve again.
    let (before, _) = export(&p);
    assert!(p.i.ep.rekey_ike(p.time, p.h, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(2));
    let (ike, _) = export(&p);
    assert_ne!((ike.spi_i, ike.spi_r), (before.spi_i, before.spi_r), "rekeyed");
    assert!(ike.extensions.message_id_sync && !ike.extensions.message_id_sync_used);
    carry_on(&mut p);
}

/// The active sent a request (a liveness check) after the last replication: B expects a
/// higher Message ID than the record says. A jump covers it through RFC 6311; without the
/// jump B refuses the synchronisation (RFC 6311 section 5.1), and without RFC 6311 a strict
/// responder (RFC 7296 section 2.3, window 1: ours, like strongSwan) drops the jumped IDs.
#[test]
fn ha_import_requests_sent_after_the_last_replication() {
    let lagging = |sync: bool| {
        let mut p = establish(if sync { "lag-sync" } else { "lag" }, sync);
        let records = export(&p);
        // A's liveness check, answered, after the records were read.
        p.run_for(DPD + Duration::from_secs(1));
        assert_eq!(p.r.ep.sa(p.rh()).unwrap().message_ids().1, 3);
        (p, records)
    };

    // RFC 6311 with a jump: B moves to A''s numbering.
    let (mut p, (ike, children)) = lagging(true);
    take_over(&mut p, &ike, &children, 5);
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (7, 0));
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().message_ids(), (0, 7));
    carry_on(&mut p);

    // RFC 6311 without a jump: M1 = 2 is below the 3 B expects, so B drops it.
    let (mut p, (ike, children)) = lagging(true);
    let unexpected = p.r.ep.sa(p.rh()).unwrap().stats().unexpected;
    take_over(&mut p, &ike, &children, 0);
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().stats().unexpected, unexpected + 1);
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().message_ids(), (0, 3), "B unchanged");
    assert_eq!(sent_since(&p, 0, Dir::RToI, ExchangeType::Informational, true), 1, "DPD only");

    // No RFC 6311: the jumped request ID is outside B's window and dropped.
    let (mut p, (ike, children)) = lagging(false);
    take_over(&mut p, &ike, &children, 5);
    let (old, _) = first(&p.i);
    let unexpected = p.r.ep.sa(p.rh()).unwrap().stats().unexpected;
    assert!(p.i.ep.rekey_child(p.time, p.h, old, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(2));
    assert!(p.r.ep.sa(p.rh()).unwrap().stats().unexpected > unexpected);
    assert_eq!(p.r.ep.sa(p.rh()).unwrap().message_ids(), (0, 3));
    assert_eq!(ups(&p.r).len(), 1, "no rekey at B");
}

#[test]
fn ha_import_refuses_records_that_do_not_fit_the_config() {
    let p = establish("refuse", false);
    let (ike, children) = export(&p);
    let mut rng = TestRng::new("refuse");
    let import = |cfg: PeerConfig, ike: &IkeSaRecord, ch: &[ChildSaRecord], rng: &mut TestRng| {
        IkeSa::import(Time::from_secs(5), cfg, ike, ch, 0, rng).map(|_| ())
    };
    assert_eq!(import(config(true), &ike, &children, &mut rng), Ok(()));

    let mut other_peer = config(true);
    other_peer.remote_addr = "203.0.113.9:500".parse().unwrap();
    assert!(matches!(
        import(other_peer, &ike, &children, &mut rng),
        Err(ImportError::PeerMismatch { .. })
    ));
    let mut other_local = config(true);
    other_local.local_addr = "192.0.2.99:500".parse().unwrap();
    assert!(matches!(
        import(other_local, &ike, &children, &mut rng),
        Err(ImportError::LocalMismatch { .. })
    ));
    let mut other_ike = config(true);
    other_ike.ike_proposals = vec![ike_p(GCM256)];
    assert_eq!(
        import(other_ike, &ike, &children, &mut rng),
        Err(ImportError::IkeTransforms(ike.transforms))
    );
    let mut other_esp = config(true);
    other_esp.child.esp_proposals = vec![esp(GCM256)];
    assert_eq!(
        import(other_esp, &ike, &children, &mut rng),
        Err(ImportError::ChildTransforms {
            spi: children[0].inbound_spi,
            transforms: children[0].transforms
        })
    );
    let mut v1 = ike.clone();
    v1.version = 1;
    assert_eq!(import(config(true), &v1, &children, &mut rng), Err(ImportError::Version(1)));
    let mut foreign = children.clone();
    foreign[0].ike_id ^= 1;
    assert_eq!(
        import(config(true), &ike, &foreign, &mut rng),
        Err(ImportError::ForeignChild(children[0].inbound_spi))
    );
    let twice = [children[0].clone(), children[0].clone()];
    assert_eq!(
        import(config(true), &ike, &twice, &mut rng),
        Err(ImportError::DuplicateChild(children[0].inbound_spi))
    );
    let mut short = ike.clone();
    short.keys.sk_d = control::crypto::SecretBytes::from_slice(&[1; 16]);
    assert_eq!(
        import(config(true), &short, &children, &mut rng),
        Err(ImportError::KeyLength("IKE SA"))
    );
    let mut short = children.clone();
    short[0].inbound_key = control::crypto::SecretBytes::from_slice(&[1; 19]);
    assert_eq!(
        import(config(true), &ike, &short, &mut rng),
        Err(ImportError::KeyLength("Child SA"))
    );
}

fn ike_p(encr: Encr) -> LocalProposal {
    ike(encr)
}

#[test]
fn ha_export_only_of_an_established_sa() {
    let mut rng = TestRng::new("half");
    let sa = IkeSa::initiate(Time::ZERO, config(true), &mut rng).unwrap();
    assert!(sa.export(Time::ZERO).is_none(), "IKE_SA_INIT sent, nothing established");

    let mut p = establish("dead", false);
    p.check_live = false;
    p.i.ep.close(p.time, p.h, &mut p.i.rng);
    p.flush();
    p.run_for(Duration::from_millis(100));
    let r = p.r.ep.sa(p.rh()).expect("B answers retransmissions for a while");
    assert!(r.is_dead());
    assert!(r.export(p.time).is_none(), "deleted");
    assert!(failures(&p.i).is_empty());
}

#[test]
fn ha_records_and_imported_sa_never_show_keys() {
    let p = establish("debug", true);
    let (ike, children) = export(&p);
    let mut rng = TestRng::new("debug");
    let a2 = IkeSa::import(p.time, config(true), &ike, &children, 0, &mut rng).unwrap();
    let text = format!("{ike:?} {children:?} {a2:?} {:?}", Record::UpsertIke(ike.clone()));
    let keys = [
        &ike.keys.sk_d,
        &ike.keys.sk_ei,
        &ike.keys.sk_er,
        &ike.keys.sk_pi,
        &ike.keys.sk_pr,
        &children[0].inbound_key,
        &children[0].outbound_key,
    ];
    for k in keys {
        let b = k.as_bytes();
        assert!(b.len() >= 16);
        let dec = format!("{:?}", &b[..4]);
        let dec = dec.trim_matches(|c| c == '[' || c == ']');
        let hex: String = b[..6].iter().map(|x| format!("{x:02x}")).collect();
        assert!(!text.contains(dec), "key bytes in {text}");
        assert!(!text.to_lowercase().contains(&hex), "key hex in {text}");
    }
    assert!(text.contains("secret bytes"), "{text}");
}

/// B's side exported and imported: the responder role. A had a CREATE_CHILD_SA in flight
/// to B when B died: B' does not know it, and RFC 6311 gives it a new Message ID at A (the
/// peer's request in flight is sent again under the new numbering).
#[test]
fn ha_import_rebuilds_a_responder_sa_and_resends_the_peers_request() {
    let mut p = establish("responder", true);
    let (ike, children) = p.r.ep.sa(p.rh()).unwrap().export(p.time).unwrap();
    assert!(!ike.initiator);
    assert_eq!((ike.next_send_msg_id, ike.next_recv_msg_id), (0, 2));
    // A's rekey request, lost with B.
    let (old, _) = first(&p.i);
    assert!(p.i.ep.rekey_child(p.time, p.h, old, &mut p.i.rng));
    p.flush();
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (3, 0));
    let mut rng = TestRng::new("standby-r");
    let b2 = IkeSa::import(p.time, config(false), &ike, &children, 0, &mut rng).unwrap();
    let mut ep = IkeEndpoint::new(vec![]);
    let h = ep.adopt(p.time, b2);
    p.r.ep = ep;
    p.r.inbound.clear();
    p.flush();
    p.run_for(Duration::from_millis(15));
    // A answered the synchronisation with P2 = 3 (one above its request in flight, which
    // B' never saw) and sent that request again as Message ID 3.
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (4, 0));
    p.run_for(Duration::from_secs(3));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    assert!(!p.i.live.contains_key(&old), "A's rekey went through B'");
    let (a_in, a_out) = first(&p.i);
    assert_eq!(p.r.live.get(&a_out), Some(&a_in));
    assert_eq!(p.i.ep.sa(p.h).unwrap().message_ids(), (5, 0), "CREATE_CHILD_SA, DELETE");
    // And B' rekeys too, in its own numbering (from 0).
    assert!(p.r.ep.rekey_child(p.time, h, a_out, &mut p.r.rng));
    p.flush();
    p.run_for(Duration::from_secs(3));
    assert_eq!((p.i.live.len(), p.r.live.len()), (1, 1));
    assert!(!p.i.live.contains_key(&a_in), "B''s rekey replaced it");
    assert_eq!(p.r.ep.sa(h).unwrap().message_ids(), (2, 5));
    assert!(failures(&p.i).is_empty() && child_failures(&p.i).is_empty());
    assert!(failures(&p.r).is_empty() && child_failures(&p.r).is_empty());
}

// ---------------------------------------------------------------------------------------
// Certificate authentication (the test PKI of `tests/data/pki`).

fn pki(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki").join(name)
}

fn credential(chain: &str, key: &str, ca: &str) -> std::sync::Arc<control::pki::Credential> {
    use control::pki::load::{load_certificates, load_private_key};
    let mut certs = load_certificates(&pki(chain)).unwrap().into_iter();
    let leaf = certs.next().unwrap();
    let key = load_private_key(&pki(key)).unwrap();
    let mut cred = control::pki::Credential::new(leaf, certs.collect(), key).unwrap();
    cred.link_anchors(&trust(ca));
    std::sync::Arc::new(cred)
}

fn trust(ca: &str) -> std::sync::Arc<control::pki::TrustStore> {
    std::sync::Arc::new(control::pki::load::load_trust_store(&[pki(ca)]).unwrap())
}

/// A signs with the P-256 test key, B with the RSA one; each trusts the other's CA (checked
/// at 2030, inside every test certificate's validity) and accepts any identity it names.
fn cert_config(initiator: bool) -> PeerConfig {
    use control::ikev2::sa::{
        LocalAuth, LocalCertificate, PeerCertificate, PeerIdCheck, RemoteAuth, WallClock,
    };
    let p256 = ("ecp256-leaf.pem", "ecp256-leaf.key.pem", "ecp256-ca.pem", "gw2.example.test");
    let rsa = ("rsa-leaf-chain.pem", "rsa-leaf.key.pem", "rsa-ca.pem", "gw1.example.test");
    let (me, peer) = if initiator { (p256, rsa) } else { (rsa, p256) };
    let mut c = config(initiator);
    c.local_id = control::ikev2::wire::IdRepr::fqdn(me.3);
    c.remote_id = None;
    let mut pc = PeerCertificate::new(trust(peer.2), PeerIdCheck::Required);
    pc.clock = WallClock::Offset(1_893_456_000);
    c.auth.local = LocalAuth::Certificate(LocalCertificate::new(credential(me.0, me.1, me.2)));
    c.auth.remote = RemoteAuth::Certificate(pc);
    c
}

/// How each side authenticated goes with the records: after the takeover the SA reports
/// the same (seen in its IKE SA rekey event), and a configuration with another kind of
/// authentication is refused.
#[test]
fn ha_import_of_a_certificate_authenticated_sa() {
    let mut p = Pair::seeded(cert_config(true), cert_config(false), "certs", |_, _| {});
    p.run_for(Duration::from_secs(2));
    let info =
        p.i.events
            .iter()
            .find_map(|e| match &e.2 {
                Event::Established(info) => Some(info.clone()),
                _ => None,
            })
            .expect("A up");
    assert!(matches!(info.local_auth, control::ikev2::sa::AuthInfo::Certificate { .. }));
    let (ike, children) = export(&p);
    assert!(matches!(
        ike.local_auth,
        control::ha::LocalAuthRecord::Certificate { credential: 0, .. }
    ));
    let mut rng = TestRng::new("certs");
    for (cfg, side) in [(config(true), "local"), (cert_config(true), "remote")] {
        let mut cfg = cfg;
        if side == "remote" {
            cfg.auth.remote = Default::default();
        }
        let r = IkeSa::import(p.time, cfg, &ike, &children, 0, &mut rng).map(|_| ());
        assert_eq!(r, Err(ImportError::AuthMismatch(side)));
    }
    let a2 = IkeSa::import(p.time, cert_config(true), &ike, &children, 0, &mut rng).unwrap();
    let mut ep = IkeEndpoint::new(vec![]);
    let h = ep.adopt(p.time, a2);
    p.i.ep = ep;
    p.h = h;
    assert!(p.i.ep.rekey_ike(p.time, p.h, &mut p.i.rng));
    p.flush();
    p.run_for(Duration::from_secs(2));
    let rekeyed =
        p.i.events
            .iter()
            .find_map(|e| match &e.2 {
                Event::IkeSaRekeyed { info, .. } => Some(info.clone()),
                _ => None,
            })
            .expect("A' rekeyed the IKE SA");
    assert_eq!((&rekeyed.local_auth, &rekeyed.remote_auth), (&info.local_auth, &info.remote_auth));
    assert_eq!(rekeyed.peer_id, info.peer_id);
    assert_eq!(rekeyed.transforms.encr, info.transforms.encr);
    assert!(terminal(&p.i).is_empty() && terminal(&p.r).is_empty());
}
