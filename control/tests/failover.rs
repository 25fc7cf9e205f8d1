//! Multi-peer crypto-map failover ([`control::failover`]) as a deterministic simulation on a
//! virtual clock: one case per row of the reference document's peer-index transition table,
//! the IKEv2/IKEv1 attempt order, the wrap-around to Peer1, the traffic and manual triggers,
//! the responder rule, HA and clusters, the debug lines, and the whole default two-minute
//! IKE_SA_INIT retransmission schedule run by real IKEv2 SAs against black holes and real
//! responders (no sleeping: the clock jumps to the next timer or arrival).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use control::failover::{
    Action, ChildStage, ClusterMode, FailoverError, Ikev2Stage, Input, MAX_PEERS, Move, MoveReason,
    Outcome, PeerFailover, Row, SaRef, State, Target, Transition, Trigger, check_cluster_mode,
};
use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, Event, FailureCause, IkeEndpoint, IkeSa, Mode, PeerConfig, Psk, SaHandle,
    UnansweredRequest,
};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{
    DhGroup, EncrId, ExchangeType, IdRepr, Message, PrfId, ProtocolId, TrafficSelector,
};
use control::policy::{
    ConnectionType, CryptoMapEntry, IkeVersion, Ikev1Phase1Mode, KilobyteLifetime,
};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

const V2: IkeVersion = IkeVersion::Ikev2;
const V1: IkeVersion = IkeVersion::Ikev1;

/// The document's example addresses: Peer1 192.168.2.2, Peer2 .3, Peer3 .4.
const P1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 2, 2));
const P2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 2, 3));
const P3: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 2, 4));
/// Our IKE address.
const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn line(version: &str, failed: IpAddr, next: IpAddr) -> String {
    format!(
        "[IKE COMMON DEBUG]Failed to initiate {version} SA with peer {failed}, initiate to next \
         peer {next} configured in the multiple peer list of the crypto map."
    )
}

fn target(peer_index: usize, peer: IpAddr, version: IkeVersion) -> Target {
    Target { peer_index, peer, version }
}

fn ours(peer: IpAddr, version: IkeVersion) -> SaRef {
    SaRef { peer, version, initiator: true }
}

fn theirs(peer: IpAddr, version: IkeVersion) -> SaRef {
    SaRef { peer, version, initiator: false }
}

fn three(versions: &[IkeVersion]) -> PeerFailover {
    PeerFailover::new("outside_map 10", &[P1, P2, P3], versions).expect("valid entry")
}

fn moves(actions: &[Action]) -> Vec<&Move> {
    actions.iter().filter_map(|a| if let Action::Moved(m) = a { Some(m) } else { None }).collect()
}

fn initiated(actions: &[Action]) -> Vec<(Target, Trigger)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Initiate { target, trigger } => Some((*target, *trigger)),
            _ => None,
        })
        .collect()
}

/// Starts an attempt on traffic and checks where it goes.
fn acquire(fo: &mut PeerFailover, now: Time, expect: Target) {
    let a = fo.handle(now, Input::Acquire);
    assert_eq!(a, vec![Action::Initiate { target: expect, trigger: Trigger::Traffic }]);
}

/// Lets the current attempt fail as unreachable (the IKE_SA_INIT schedule ran out).
fn unreachable(fo: &mut PeerFailover, now: Time) -> Vec<Action> {
    let t = fo.current();
    let sa = ours(t.peer, t.version);
    fo.handle(now, Input::Outcome { sa, outcome: Outcome::PeerUnreachable })
}

// ---------------------------------------------------------------------------------------
// The reference table, row by row.

/// The table as the document prints it: condition, section, "Peer Index Moved Yes/No/Reset".
const TABLE: [(&str, bool, &str); 14] = [
    ("Peer not reachable", false, "Yes"),
    ("Phase 1 proposal mismatch", false, "Yes"),
    ("Phase 2 proposal mismatch", false, "Yes"),
    ("DPD ack not received", false, "Yes"),
    ("Traffic selectors mismatch during AUTH phase", false, "Yes"),
    ("Authentication failure", false, "Yes"),
    ("Rekey failure due to peer not reachable", false, "Reset"),
    ("Rekey failure due to proposal mismatch", true, "Reset"),
    ("Traffic selectors mismatch during rekey", true, "Reset"),
    ("Crypto map modification", true, "Reset"),
    ("HA switchover", true, "No"),
    ("Clear crypto IKEv2 SA", true, "Reset"),
    ("Clear ipsec sa", true, "Reset"),
    ("IKEv2 SA timeout", true, "Reset"),
];

fn answer(t: Transition) -> &'static str {
    match t {
        Transition::Next => "Yes",
        Transition::Reset => "Reset",
        Transition::NoChange => "No",
    }
}

#[test]
fn the_table_is_transcribed_row_by_row() {
    assert_eq!(Row::ALL.len(), TABLE.len());
    for (row, (text, after, moved)) in Row::ALL.into_iter().zip(TABLE) {
        assert_eq!(row.text(), text);
        assert_eq!(row.after_sa(), after, "{text}: section");
        assert_eq!(answer(row.transition()), moved, "{text}");
    }
}

/// The state a row's condition arises in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// An attempt to Peer2 is in flight.
    Attempt,
    /// An SA with Peer2 is up (we initiated it).
    Sa,
}

/// How each row arises, and the input the caller feeds: for the IKEv2 rows, mapped from the
/// events the IKEv2 state machine reports (`Event::Failed(cause)` at a stage,
/// `Event::ChildSaFailed(cause)` for a Child SA).
fn scenario(row: Row) -> (Before, Input) {
    let unreachable = FailureCause::PeerUnreachable { sends: 7, waited: Duration::from_secs(127) };
    let no_proposal = FailureCause::NoProposalChosen("offered X, configured Y".into());
    let sa = ours(P2, V2);
    let failed = |cause: &FailureCause, stage| Input::Outcome {
        sa,
        outcome: Outcome::from_ikev2_failure(cause, stage),
    };
    let child = |cause: &FailureCause, stage| Input::Outcome {
        sa,
        outcome: Outcome::from_ikev2_child_failure(cause, stage),
    };
    match row {
        Row::PeerNotReachable => (Before::Attempt, failed(&unreachable, Ikev2Stage::Negotiating)),
        Row::Phase1ProposalMismatch => {
            (Before::Attempt, failed(&no_proposal, Ikev2Stage::Negotiating))
        }
        // The IKE SA comes up, its Child SA is refused (RFC 7296 section 2.21.2).
        Row::Phase2ProposalMismatch => (Before::Sa, child(&no_proposal, ChildStage::WithIkeAuth)),
        // An established SA's liveness check went unanswered.
        Row::DpdAckNotReceived => (Before::Sa, failed(&unreachable, Ikev2Stage::Established)),
        Row::TsMismatchDuringAuth => {
            (Before::Sa, child(&FailureCause::TsUnacceptable, ChildStage::WithIkeAuth))
        }
        Row::AuthenticationFailure => (
            Before::Attempt,
            failed(
                &FailureCause::AuthenticationFailed("AUTH mismatch".into()),
                Ikev2Stage::Negotiating,
            ),
        ),
        Row::RekeyFailurePeerNotReachable => {
            (Before::Sa, failed(&unreachable, Ikev2Stage::Rekeying))
        }
        Row::RekeyFailureProposalMismatch => (Before::Sa, child(&no_proposal, ChildStage::Rekey)),
        Row::TsMismatchDuringRekey => {
            (Before::Sa, child(&FailureCause::TsUnacceptable, ChildStage::Rekey))
        }
        Row::CryptoMapModification => (Before::Sa, Input::CryptoMapModified),
        Row::HaSwitchover => (Before::Sa, Input::HaSwitchover),
        Row::ClearCryptoIkev2Sa => (Before::Sa, Input::ClearCryptoIkev2Sa),
        Row::ClearIpsecSa => (Before::Sa, Input::ClearIpsecSa),
        // The IKE SA reached its lifetime (the IKEv2 code closes it; the caller knows why).
        Row::Ikev2SaTimeout => {
            (Before::Sa, Input::Outcome { sa, outcome: Outcome::Ikev2SaTimeout })
        }
    }
}

/// Runs one row from Peer2 (so that "next" and "reset" differ): the index must end at
/// Peer3 (Yes), Peer1 (Reset) or Peer2 (No), and the next attempt must go there.
fn run_row(row: Row, expected: &str) {
    let mut fo = three(&[V2]);
    let mut now = Time::ZERO;
    acquire(&mut fo, now, target(0, P1, V2));
    now = Time::from_secs(127);
    unreachable(&mut fo, now);
    assert_eq!(fo.current(), target(1, P2, V2), "{row}: starts at Peer2");

    let (before, input) = scenario(row);
    now = now + Duration::from_secs(1);
    acquire(&mut fo, now, target(1, P2, V2));
    if before == Before::Sa {
        assert!(fo.handle(now, Input::Established(ours(P2, V2))).is_empty());
        assert!(matches!(fo.state(), State::Up { sa, .. } if sa == ours(P2, V2)));
    }
    now = now + Duration::from_secs(30);
    let actions = fo.handle(now, input);

    let (want, line_want) = match expected {
        "Yes" => (target(2, P3, V2), Some(line("ikev2", P2, P3))),
        "Reset" => (target(0, P1, V2), None),
        "No" => (target(1, P2, V2), None),
        other => panic!("not a table answer: {other}"),
    };
    assert_eq!(fo.current(), want, "{row}: index after");
    let m = moves(&actions);
    if expected == "No" {
        assert!(m.is_empty(), "{row}: {actions:?}");
    } else {
        assert_eq!(m.len(), 1, "{row}: {actions:?}");
        assert_eq!((m[0].from, m[0].to, m[0].at), (target(1, P2, V2), want, now), "{row}");
        assert_eq!(m[0].reason, MoveReason::Row(row), "{row}");
        if let Some(l) = line_want {
            assert_eq!(m[0].debug_line, l, "{row}");
        } else {
            assert!(m[0].debug_line.contains("reset to peer 192.168.2.2 (Peer1)"), "{row}");
            assert!(m[0].debug_line.contains(row.text()), "{row}");
        }
        assert_eq!(fo.last_move(), Some(m[0]));
    }
    // A Child SA failure leaves the IKE SA up: it must go, the index having moved off it.
    let closes: Vec<_> = actions
        .iter()
        .filter_map(|a| if let Action::Close(s) = a { Some(*s) } else { None })
        .collect();
    let child_failure = matches!(
        row,
        Row::Phase2ProposalMismatch
            | Row::TsMismatchDuringAuth
            | Row::RekeyFailureProposalMismatch
            | Row::TsMismatchDuringRekey
    );
    assert_eq!(closes, if child_failure { vec![ours(P2, V2)] } else { vec![] }, "{row}");

    // The next attempt goes to the index, once the SA (if any survived) has ended.
    if let State::Up { sa, .. } = fo.state() {
        assert!(fo.handle(now, Input::Acquire).is_empty(), "{row}: the SA is still up");
        let a = fo.handle(now, Input::Outcome { sa, outcome: Outcome::ClosedNormally });
        assert!(moves(&a).is_empty(), "{row}: a normal close moves nothing");
    }
    assert_eq!(fo.state(), State::Idle, "{row}");
    acquire(&mut fo, now + Duration::from_secs(1), want);
}

macro_rules! row_cases {
    ($($name:ident: $row:expr => $answer:literal;)+) => {
        $(
            #[test]
            fn $name() {
                run_row($row, $answer);
            }
        )+

        #[test]
        fn every_row_has_a_case() {
            let covered = [$($row),+];
            assert_eq!(covered, Row::ALL);
            let answers = [$($answer),+];
            for (row, a) in Row::ALL.into_iter().zip(answers) {
                let (text, _, moved) = TABLE.iter().find(|t| t.0 == row.text()).unwrap();
                assert_eq!(a, *moved, "{text}");
            }
        }
    };
}

row_cases! {
    row_peer_not_reachable: Row::PeerNotReachable => "Yes";
    row_phase_1_proposal_mismatch: Row::Phase1ProposalMismatch => "Yes";
    row_phase_2_proposal_mismatch: Row::Phase2ProposalMismatch => "Yes";
    row_dpd_ack_not_received: Row::DpdAckNotReceived => "Yes";
    row_traffic_selectors_mismatch_during_auth_phase: Row::TsMismatchDuringAuth => "Yes";
    row_authentication_failure: Row::AuthenticationFailure => "Yes";
    row_rekey_failure_due_to_peer_not_reachable: Row::RekeyFailurePeerNotReachable => "Reset";
    row_rekey_failure_due_to_proposal_mismatch: Row::RekeyFailureProposalMismatch => "Reset";
    row_traffic_selectors_mismatch_during_rekey: Row::TsMismatchDuringRekey => "Reset";
    row_crypto_map_modification: Row::CryptoMapModification => "Reset";
    row_ha_switchover: Row::HaSwitchover => "No";
    row_clear_crypto_ikev2_sa: Row::ClearCryptoIkev2Sa => "Reset";
    row_clear_ipsec_sa: Row::ClearIpsecSa => "Reset";
    row_ikev2_sa_timeout: Row::Ikev2SaTimeout => "Reset";
}

#[test]
fn ikev2_causes_map_onto_rows_by_stage() {
    use Outcome as O;
    let unreachable = FailureCause::PeerUnreachable { sends: 7, waited: Duration::from_secs(127) };
    let np = FailureCause::NoProposalChosen(String::new());
    let ke = FailureCause::InvalidKe { requested: 31 };
    let auth = FailureCause::AuthenticationFailed(String::new());
    let ts = FailureCause::TsUnacceptable;
    let proto =
        FailureCause::ProtocolError(control::ikev2::sa::ProtocolError::Unsupported("x".into()));
    let f = Outcome::from_ikev2_failure;
    let c = Outcome::from_ikev2_child_failure;
    let (n, e, r) = (Ikev2Stage::Negotiating, Ikev2Stage::Established, Ikev2Stage::Rekeying);
    assert_eq!(f(&unreachable, n), O::PeerUnreachable);
    assert_eq!(f(&np, n), O::Phase1ProposalMismatch);
    assert_eq!(f(&ke, n), O::Phase1ProposalMismatch, "no common DH group");
    assert_eq!(f(&auth, n), O::AuthenticationFailed);
    assert_eq!(f(&ts, n), O::TsMismatchDuringAuth);
    assert_eq!(f(&proto, n), O::OtherFailure);
    assert_eq!(f(&unreachable, e), O::DpdAckNotReceived);
    assert_eq!(f(&proto, e), O::OtherFailure);
    assert_eq!(f(&unreachable, r), O::RekeyPeerUnreachable);
    assert_eq!(f(&np, r), O::RekeyProposalMismatch);
    assert_eq!(f(&ts, r), O::TsMismatchDuringRekey);
    let (auth_c, rekey_c, more) =
        (ChildStage::WithIkeAuth, ChildStage::Rekey, ChildStage::Additional);
    assert_eq!(c(&np, auth_c), O::Phase2ProposalMismatch);
    assert_eq!(c(&ke, auth_c), O::Phase2ProposalMismatch, "PFS group refused");
    assert_eq!(c(&ts, auth_c), O::TsMismatchDuringAuth);
    assert_eq!(c(&np, rekey_c), O::RekeyProposalMismatch);
    assert_eq!(c(&ts, rekey_c), O::TsMismatchDuringRekey);
    assert_eq!(c(&np, more), O::ChildSaRefused);
    // The outcomes the table does not list.
    assert_eq!(O::OtherFailure.transition(), Transition::Next);
    for o in [O::ChildSaRefused, O::ClosedNormally, O::LocalError] {
        assert_eq!((o.row(), o.transition()), (None, Transition::NoChange), "{o:?}");
    }
}

#[test]
fn an_additional_child_sa_refused_keeps_the_tunnel_and_the_index() {
    let mut fo = three(&[V2]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    fo.handle(Time::ZERO, Input::Established(ours(P1, V2)));
    let outcome = Outcome::from_ikev2_child_failure(
        &FailureCause::NoProposalChosen(String::new()),
        ChildStage::Additional,
    );
    let a = fo.handle(Time::from_secs(5), Input::Outcome { sa: ours(P1, V2), outcome });
    assert!(a.is_empty());
    assert!(matches!(fo.state(), State::Up { .. }));
    assert_eq!(fo.current(), target(0, P1, V2));
}

// ---------------------------------------------------------------------------------------
// Order, wrap-around, triggers.

#[test]
fn both_versions_try_ikev2_then_ikev1_on_each_peer_and_wrap_around() {
    // Configured as "ikev1, ikev2": the document's order (IKEv2 first) wins.
    let mut fo = PeerFailover::new("outside_map 10", &[P1, P2], &[V1, V2]).unwrap();
    assert_eq!(fo.versions(), &[V2, V1]);
    let order = [
        target(0, P1, V2),
        target(0, P1, V1),
        target(1, P2, V2),
        target(1, P2, V1),
        target(0, P1, V2),
        target(0, P1, V1),
    ];
    let mut lines = Vec::new();
    for (i, want) in order.into_iter().enumerate() {
        let now = Time::from_secs(127 * i as u64);
        acquire(&mut fo, now, want);
        let a = unreachable(&mut fo, now + Duration::from_secs(127));
        lines.extend(moves(&a).iter().map(|m| m.debug_line.clone()));
    }
    assert_eq!(
        lines,
        [
            line("ikev2", P1, P1),
            line("ikev1", P1, P2),
            line("ikev2", P2, P2),
            line("ikev1", P2, P1),
            line("ikev2", P1, P1),
            line("ikev1", P1, P2),
        ]
    );
}

#[test]
fn after_the_last_peer_it_starts_again_from_peer1_until_an_sa_is_established() {
    let mut fo = three(&[V2]);
    let mut now = Time::ZERO;
    let mut tried = Vec::new();
    for _ in 0..7 {
        let a = fo.handle(now, Input::Acquire);
        tried.extend(initiated(&a).into_iter().map(|(t, _)| t.peer));
        now = now + Duration::from_secs(127);
        let a = unreachable(&mut fo, now);
        if tried.len() == 3 {
            assert_eq!(moves(&a)[0].debug_line, line("ikev2", P3, P1), "wrap-around line");
            assert_eq!(moves(&a)[0].to, target(0, P1, V2));
        }
    }
    assert_eq!(tried, [P1, P2, P3, P1, P2, P3, P1]);
    // Peer2 answers at last: the SA is up and traffic starts nothing more.
    acquire(&mut fo, now, target(1, P2, V2));
    assert!(fo.handle(now, Input::Established(ours(P2, V2))).is_empty());
    for s in 1..10 {
        assert!(fo.handle(now + Duration::from_secs(s), Input::Acquire).is_empty());
    }
    assert!(matches!(fo.state(), State::Up { sa, since } if sa == ours(P2, V2) && since == now));
}

#[test]
fn attempts_start_only_on_traffic_or_a_manual_trigger() {
    let mut fo = three(&[V2]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    // More traffic while the attempt is in flight starts nothing.
    for s in 1..127 {
        assert!(fo.handle(Time::from_secs(s), Input::Acquire).is_empty());
        assert!(fo.handle(Time::from_secs(s), Input::ManualTrigger).is_empty());
    }
    let a = unreachable(&mut fo, Time::from_secs(127));
    assert!(initiated(&a).is_empty(), "a failure alone starts no next attempt");
    assert_eq!(fo.state(), State::Idle);
    // Traffic stopped: the operator triggers the attempt with the next peer.
    let a = fo.handle(Time::from_secs(600), Input::ManualTrigger);
    assert_eq!(a, vec![Action::Initiate { target: target(1, P2, V2), trigger: Trigger::Manual }]);
    assert!(matches!(
        fo.state(),
        State::Initiating { target: t, since, trigger: Trigger::Manual }
            if t == target(1, P2, V2) && since == Time::from_secs(600)
    ));
    // A local failure to start (configuration) moves nothing.
    let a = fo.handle(
        Time::from_secs(600),
        Input::Outcome { sa: ours(P2, V2), outcome: Outcome::LocalError },
    );
    assert!(a.is_empty());
    assert_eq!((fo.current(), fo.state()), (target(1, P2, V2), State::Idle));
}

#[test]
fn stale_reports_are_ignored() {
    let mut fo = three(&[V2]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    unreachable(&mut fo, Time::from_secs(127));
    acquire(&mut fo, Time::from_secs(128), target(1, P2, V2));
    // A report about Peer1's abandoned attempt, another version, or a responder SA.
    for (sa, o) in [
        (ours(P1, V2), Outcome::PeerUnreachable),
        (ours(P2, V1), Outcome::AuthenticationFailed),
        (theirs(P2, V2), Outcome::Phase1ProposalMismatch),
    ] {
        assert!(fo.handle(Time::from_secs(130), Input::Outcome { sa, outcome: o }).is_empty());
    }
    assert_eq!(fo.current(), target(1, P2, V2));
    // A late SA with Peer1 is not the entry's tunnel: delete it.
    let a = fo.handle(Time::from_secs(131), Input::Established(ours(P1, V2)));
    assert_eq!(a, vec![Action::Close(ours(P1, V2))]);
    assert!(matches!(fo.state(), State::Initiating { .. }));
}

// ---------------------------------------------------------------------------------------
// Responder.

#[test]
fn the_responder_accepts_only_the_current_active_peer() {
    let mut fo = three(&[V2, V1]);
    assert!(fo.accepts(P1) && !fo.accepts(P2) && !fo.accepts(P3));
    assert!(!fo.accepts(IpAddr::from([203, 0, 113, 9])));
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    unreachable(&mut fo, Time::from_secs(127));
    assert!(fo.accepts(P1), "IKEv1 with Peer1 is next: still Peer1");
    acquire(&mut fo, Time::from_secs(128), target(0, P1, V1));
    unreachable(&mut fo, Time::from_secs(255));
    assert!(fo.accepts(P2) && !fo.accepts(P1) && !fo.accepts(P3));

    // Peer1 initiating to us is refused by the caller; if an SA came up anyway it goes.
    let a = fo.handle(Time::from_secs(256), Input::Established(theirs(P1, V2)));
    assert_eq!(a, vec![Action::Close(theirs(P1, V2))]);
    // Peer2 initiates with IKEv1 while the index says IKEv2: same peer, the SA is adopted.
    let a = fo.handle(Time::from_secs(257), Input::Established(theirs(P2, V1)));
    assert_eq!(moves(&a).len(), 1);
    assert_eq!(moves(&a)[0].reason, MoveReason::Established);
    assert_eq!(fo.current(), target(1, P2, V1));
    // No peer traversal on the responder side: its SA dying moves nothing on.
    let a = fo.handle(
        Time::from_secs(400),
        Input::Outcome { sa: theirs(P2, V1), outcome: Outcome::DpdAckNotReceived },
    );
    assert!(moves(&a).is_empty());
    assert_eq!((fo.current(), fo.state()), (target(1, P2, V1), State::Idle));
    assert!(fo.accepts(P2));
    // ...but a reset row still resets.
    fo.handle(Time::from_secs(401), Input::Established(theirs(P2, V1)));
    fo.handle(
        Time::from_secs(402),
        Input::Outcome { sa: theirs(P2, V1), outcome: Outcome::Ikev2SaTimeout },
    );
    assert!(fo.accepts(P1) && !fo.accepts(P2));
}

// ---------------------------------------------------------------------------------------
// HA, clusters, contexts, configuration.

#[test]
fn after_an_ha_switchover_the_new_active_starts_from_peer1() {
    // The unit that becomes active carries the old active's index (Peer3) without an SA.
    let mut fo = three(&[V2]);
    for s in [0, 127] {
        let next = fo.current();
        acquire(&mut fo, Time::from_secs(s), next);
        unreachable(&mut fo, Time::from_secs(s + 127));
    }
    acquire(&mut fo, Time::from_secs(300), target(2, P3, V2));
    let a = fo.handle(Time::from_secs(310), Input::HaSwitchover);
    assert_eq!(moves(&a).len(), 1);
    assert_eq!(moves(&a)[0].reason, MoveReason::HaNewActive);
    assert_eq!(
        moves(&a)[0].debug_line,
        "[IKE COMMON DEBUG]Crypto map outside_map 10: HA switchover, the new active unit starts \
         from peer 192.168.2.2 (Peer1)."
    );
    assert_eq!(fo.state(), State::Idle, "the old active's attempt is not ours");
    acquire(&mut fo, Time::from_secs(311), target(0, P1, V2));

    // With an SA up (it survived the switchover): row "HA switchover", no change.
    let mut fo = three(&[V2]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    unreachable(&mut fo, Time::from_secs(127));
    acquire(&mut fo, Time::from_secs(128), target(1, P2, V2));
    fo.handle(Time::from_secs(129), Input::Established(ours(P2, V2)));
    assert!(fo.handle(Time::from_secs(200), Input::HaSwitchover).is_empty());
    assert_eq!(fo.current(), target(1, P2, V2));
    assert!(matches!(fo.state(), State::Up { .. }));
}

#[test]
fn every_centralized_cluster_node_moves_to_peer2_when_peer1_is_unreachable() {
    let mut control_node = three(&[V2]);
    let mut members = [three(&[V2]), three(&[V2])];
    acquire(&mut control_node, Time::ZERO, target(0, P1, V2));
    let a = unreachable(&mut control_node, Time::from_secs(127));
    // The control node publishes its move; every node adopts it.
    for m in moves(&a) {
        for node in &mut members {
            let input =
                Input::ClusterPeerIndex { peer_index: m.to.peer_index, version: m.to.version };
            let b = node.handle(Time::from_secs(127), input);
            assert_eq!(moves(&b)[0].reason, MoveReason::Cluster);
            assert_eq!(moves(&b)[0].to, target(1, P2, V2));
        }
    }
    for node in &members {
        assert_eq!(node.current(), target(1, P2, V2));
        assert!(node.accepts(P2) && !node.accepts(P1));
    }
    // Nonsense from the cluster (an index this node's map does not have) is ignored.
    let node = &mut members[0];
    assert!(
        node.handle(Time::ZERO, Input::ClusterPeerIndex { peer_index: 9, version: V2 }).is_empty()
    );
    assert!(
        node.handle(Time::ZERO, Input::ClusterPeerIndex { peer_index: 0, version: V1 }).is_empty()
    );
    assert_eq!(node.current(), target(1, P2, V2));
}

fn entry(peers: Vec<IpAddr>, versions: Vec<IkeVersion>) -> CryptoMapEntry {
    CryptoMapEntry {
        dynamic: false,
        tunnel_group: None,
        name: "outside_map".into(),
        sequence: 10,
        match_address: "l2l".into(),
        peers,
        ike_versions: versions,
        ikev1_transform_sets: vec![],
        ikev2_proposals: vec!["p".into()],
        pfs: None,
        lifetime_seconds: 28_800,
        lifetime_kilobytes: KilobyteLifetime::Limited(4_608_000),
        connection_type: ConnectionType::Bidirectional,
        replay_window: 64,
        nat_t: true,
        reverse_route: false,
        phase1_mode: Ikev1Phase1Mode::Main,
    }
}

#[test]
fn distributed_clustering_refuses_an_ikev2_multi_peer_crypto_map() {
    let multi = entry(vec![P1, P2], vec![V2]);
    let err = check_cluster_mode(&multi, ClusterMode::Distributed).unwrap_err();
    assert_eq!(
        err,
        "crypto map outside_map 10: an IKEv2 multi-peer crypto map (2 peers) is not supported \
         with distributed clustering; list a single peer or use centralized clustering"
    );
    assert!(check_cluster_mode(&multi, ClusterMode::Centralized).is_ok());
    assert!(check_cluster_mode(&multi, ClusterMode::Off).is_ok());
    assert!(check_cluster_mode(&entry(vec![P1], vec![V2]), ClusterMode::Distributed).is_ok());
    assert!(check_cluster_mode(&entry(vec![P1, P2], vec![V1]), ClusterMode::Distributed).is_ok());
    let fo = PeerFailover::from_entry(&multi).unwrap();
    assert_eq!((fo.name(), fo.peers()), ("outside_map 10", &[P1, P2][..]));
}

#[test]
fn state_is_per_entry_and_per_context() {
    // Two contexts with the same map: one failing over leaves the other at Peer1.
    let mut a = three(&[V2]);
    let b = three(&[V2]);
    acquire(&mut a, Time::ZERO, target(0, P1, V2));
    unreachable(&mut a, Time::from_secs(127));
    assert_eq!((a.current().peer, b.current().peer), (P2, P1));
}

#[test]
fn peer_lists_are_checked_and_a_modified_map_starts_from_peer1() {
    let peers: Vec<IpAddr> = (1..=11).map(|i| IpAddr::from([10, 0, 0, i])).collect();
    assert!(PeerFailover::new("m 1", &peers[..MAX_PEERS], &[V2]).is_ok());
    assert_eq!(
        PeerFailover::new("m 1", &peers, &[V2]).unwrap_err(),
        FailoverError::TooManyPeers(11)
    );
    assert_eq!(PeerFailover::new("m 1", &[], &[V2]).unwrap_err(), FailoverError::NoPeers);
    assert_eq!(
        PeerFailover::new("m 1", &[P1, P1], &[V2]).unwrap_err(),
        FailoverError::DuplicatePeer(P1)
    );
    assert_eq!(PeerFailover::new("m 1", &[P1], &[]).unwrap_err(), FailoverError::NoIkeVersion);

    let mut fo = three(&[V2]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    unreachable(&mut fo, Time::from_secs(127));
    acquire(&mut fo, Time::from_secs(128), target(1, P2, V2));
    let a = fo.reconfigure(Time::from_secs(130), &[P3, P2], &[V1, V2]).unwrap();
    assert_eq!(moves(&a)[0].reason, MoveReason::Row(Row::CryptoMapModification));
    assert_eq!((fo.current(), fo.state()), (target(0, P3, V2), State::Idle));
    assert!(fo.reconfigure(Time::from_secs(131), &[], &[V2]).is_err());
    assert_eq!(fo.peers(), &[P3, P2], "a refused list changes nothing");
}

#[test]
fn show_crypto_map_snapshot() {
    let mut fo = three(&[V2, V1]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    unreachable(&mut fo, Time::from_secs(127));
    acquire(&mut fo, Time::from_secs(128), target(0, P1, V1));
    let s = fo.snapshot();
    assert_eq!(s.name, "outside_map 10");
    assert_eq!(s.peers, [P1, P2, P3]);
    assert_eq!(s.versions, [V2, V1]);
    assert_eq!(s.current, target(0, P1, V1));
    assert_eq!(s.last_move.as_ref().map(|m| m.debug_line.clone()), Some(line("ikev2", P1, P1)));
    assert_eq!(
        s.to_string(),
        "peers: *192.168.2.2 192.168.2.3 192.168.2.4 (current index 1, ikev1); initiating to \
         192.168.2.2 (Peer1, ikev1) since 128.000s"
    );
    fo.handle(Time::from_secs(129), Input::Established(ours(P1, V1)));
    assert!(fo.snapshot().to_string().ends_with("ikev1 SA up with 192.168.2.2 since 129.000s"));
}

// ---------------------------------------------------------------------------------------
// The debug lines, as logged.

/// A tracing subscriber that keeps (target, message) of every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String)>>>);

struct MessageOf(String);

impl tracing::field::Visit for MessageOf {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut m = MessageOf(String::new());
        event.record(&mut m);
        if let Ok(mut v) = self.0.lock() {
            v.push((event.metadata().target().to_owned(), m.0));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_failed_attempt_logs_the_documents_debug_line() {
    let capture = Capture::default();
    let returned = tracing::subscriber::with_default(capture.clone(), || {
        let mut fo = three(&[V2, V1]);
        let mut returned = Vec::new();
        for i in 0..6u64 {
            let now = Time::from_secs(127 * i);
            let next = fo.current();
            acquire(&mut fo, now, next);
            let a = unreachable(&mut fo, now + Duration::from_secs(127));
            returned.extend(moves(&a).iter().map(|m| m.debug_line.clone()));
        }
        returned
    });
    let logged: Vec<String> = capture
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, m)| t == control::log::IKE_COMMON && m.starts_with("[IKE COMMON DEBUG]Failed"))
        .map(|(_, m)| m.clone())
        .collect();
    let want = [
        line("ikev2", P1, P1),
        line("ikev1", P1, P2),
        // The same peer's other version: the address repeats.
        line("ikev2", P2, P2),
        line("ikev1", P2, P3),
        line("ikev2", P3, P3),
        // Wrap-around.
        line("ikev1", P3, P1),
    ];
    assert_eq!(logged, want);
    assert_eq!(returned, want, "the same lines come back as data");

    // And the document's own example (Peer1 IKEv2 → Peer2), on an IKEv2-only map.
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let mut fo = three(&[V2]);
        acquire(&mut fo, Time::ZERO, target(0, P1, V2));
        unreachable(&mut fo, Time::from_secs(127));
    });
    let logged = capture.0.lock().unwrap().clone();
    assert!(logged.contains(&(
        "ike_common".to_owned(),
        "[IKE COMMON DEBUG]Failed to initiate ikev2 SA with peer 192.168.2.2, initiate to next \
         peer 192.168.2.3 configured in the multiple peer list of the crypto map."
            .to_owned()
    )));
}

// ---------------------------------------------------------------------------------------
// Real IKEv2 SAs on a virtual network: the default two-minute schedule, and failover
// driven by continuous traffic.

include!("support/test_rng.rs");

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

fn esp(encr: Encr) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![encr],
        prf: vec![],
        integ: vec![],
        dh: vec![],
        esn: vec![],
    }
}

fn net(a: [u8; 4], len: u8) -> TrafficSelector {
    from_prefix(IpAddr::V4(Ipv4Addr::from(a)), len)
}

/// How a peer differs from our configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Matches: the tunnel comes up.
    Good,
    /// Other IKE SA proposals.
    OtherIkeProposal,
    /// Other ESP proposals.
    OtherEspProposal,
    /// Another pre-shared key.
    OtherKey,
}

/// One side's configuration; `ours` is the crypto-map side (10.1/16 behind it).
fn peer_config(ours: bool, peer: IpAddr, kind: Peer, dpd: Duration) -> PeerConfig {
    let (local, remote) = if ours { (ME, peer) } else { (peer, ME) };
    let (l_net, r_net) = if ours {
        (net([10, 1, 0, 0], 16), net([10, 2, 0, 0], 16))
    } else {
        (net([10, 2, 0, 0], 16), net([10, 1, 0, 0], 16))
    };
    let theirs = !ours;
    let ike_p = if theirs && kind == Peer::OtherIkeProposal {
        ike(CHACHA, DhGroup::Curve25519)
    } else {
        ike(GCM128, DhGroup::Ecp256)
    };
    let esp_p = if theirs && kind == Peer::OtherEspProposal { esp(CHACHA) } else { esp(GCM128) };
    let key: &[u8] =
        if theirs && kind == Peer::OtherKey { b"another key" } else { b"correct horse battery" };
    PeerConfig {
        local_addr: SocketAddr::new(local, 500),
        remote_addr: SocketAddr::new(remote, 500),
        local_id: IdRepr::fqdn(if ours { "ferrogate.example" } else { "peer.example" }),
        remote_id: None,
        psk_local: Psk::new(key),
        psk_remote: Psk::new(key),
        psk_by_id: vec![],
        ike_proposals: vec![ike_p],
        child: ChildConfig {
            esp_proposals: vec![esp_p],
            selectors: PolicySelectors { local: vec![l_net], remote: vec![r_net] },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 4_608_000,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy::default(),
        dpd_interval: dpd,
        dpd_retry: Duration::ZERO,
        remote_access: None,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

#[test]
fn the_default_schedule_declares_peer1_unreachable_after_two_minutes() {
    // A real IKEv2 initiator against a black hole: every datagram is lost.
    let mut rng = TestRng::new("black hole");
    let cfg = peer_config(true, P1, Peer::Good, Duration::ZERO);
    let mut sa = IkeSa::initiate(Time::ZERO, cfg, &mut rng).expect("valid config");
    let mut now = Time::ZERO;
    let mut sends = Vec::new();
    let cause = 'run: {
        for _ in 0..100 {
            while let Some(t) = sa.poll_transmit() {
                let m = Message::parse(&t.bytes).expect("well-formed");
                assert_eq!(m.header.exchange_type, ExchangeType::IkeSaInit);
                assert_eq!(t.to, SocketAddr::new(P1, 500));
                sends.push(now.as_millis() / 1000);
            }
            if let Some(ev) = sa.poll_event() {
                match ev {
                    Event::Failed(cause) => break 'run cause,
                    other => panic!("unexpected {other:?}"),
                }
            }
            now = sa.poll_timeout().expect("a timer runs until it gives up");
            sa.handle_timeout(now, &mut rng);
        }
        panic!("never gave up");
    };
    assert_eq!(sends, [0, 1, 3, 7, 15, 31, 63], "the first send, 5 retransmits, a final one");
    assert_eq!(now, Time::from_secs(127), "about two minutes");
    assert_eq!(cause, FailureCause::PeerUnreachable { sends: 7, waited: Duration::from_secs(127) });

    // Fed to the crypto map entry: the index moves on to Peer2 with the document's line.
    let mut fo = three(&[V2]);
    acquire(&mut fo, Time::ZERO, target(0, P1, V2));
    let outcome = Outcome::from_ikev2_failure(&cause, Ikev2Stage::Negotiating);
    assert_eq!(outcome, Outcome::PeerUnreachable);
    let a = fo.handle(now, Input::Outcome { sa: ours(P1, V2), outcome });
    assert_eq!(moves(&a)[0].debug_line, line("ikev2", P1, P2));
    assert_eq!(moves(&a)[0].at, Time::from_secs(127));
    assert_eq!(fo.current(), target(1, P2, V2));
}

struct Responder {
    addr: IpAddr,
    ep: IkeEndpoint,
    rng: TestRng,
    /// False: the peer went silent (everything to it is lost).
    alive: bool,
}

#[derive(Debug, Default)]
struct Track {
    peer: Option<IpAddr>,
    established: bool,
    child_up: bool,
    done: bool,
}

/// Our IKEv2 endpoint driven by a crypto map entry's failover machine, on a virtual
/// network with 10 ms of latency where peers without a responder are black holes.
struct Sim {
    now: Time,
    fo: PeerFailover,
    ep: IkeEndpoint,
    rng: TestRng,
    dpd: Duration,
    responders: Vec<Responder>,
    /// (arrival, from, to, datagram).
    wire: Vec<(Time, SocketAddr, SocketAddr, Vec<u8>)>,
    sas: HashMap<SaHandle, Track>,
    /// Our IKE_SA_INIT requests: (time, peer).
    inits: Vec<(Time, IpAddr)>,
    initiated: Vec<(Time, Target, Trigger)>,
    moves: Vec<Move>,
    up: Vec<(Time, IpAddr)>,
    failures: Vec<(Time, IpAddr, FailureCause)>,
    child_failures: Vec<(Time, IpAddr, FailureCause)>,
    /// Which request each failed established SA gave up on.
    unanswered: Vec<(IpAddr, Option<UnansweredRequest>)>,
}

impl Sim {
    fn new(peers: &[(IpAddr, Option<Peer>)], dpd: Duration) -> Sim {
        let addrs: Vec<IpAddr> = peers.iter().map(|p| p.0).collect();
        let responders = peers
            .iter()
            .filter_map(|&(addr, kind)| {
                let kind = kind?;
                let cfg = peer_config(false, addr, kind, Duration::ZERO);
                Some(Responder {
                    addr,
                    ep: IkeEndpoint::new(vec![cfg]),
                    rng: TestRng::new(&format!("responder {addr}")),
                    alive: true,
                })
            })
            .collect();
        Sim {
            now: Time::ZERO,
            fo: PeerFailover::new("outside_map 10", &addrs, &[V2]).unwrap(),
            ep: IkeEndpoint::new(vec![]),
            rng: TestRng::new("ferrogate"),
            dpd,
            responders,
            wire: Vec::new(),
            sas: HashMap::new(),
            inits: Vec::new(),
            initiated: Vec::new(),
            moves: Vec::new(),
            up: Vec::new(),
            failures: Vec::new(),
            child_failures: Vec::new(),
            unanswered: Vec::new(),
        }
    }

    fn feed(&mut self, input: Input) {
        let actions = self.fo.handle(self.now, input);
        for a in actions {
            match a {
                Action::Initiate { target, trigger } => {
                    assert_eq!(target.version, V2, "this network speaks IKEv2 only");
                    self.initiated.push((self.now, target, trigger));
                    let cfg = peer_config(true, target.peer, Peer::Good, self.dpd);
                    let h = self.ep.connect(self.now, cfg, &mut self.rng).expect("valid config");
                    self.sas.insert(h, Track { peer: Some(target.peer), ..Track::default() });
                }
                Action::Close(sa) => {
                    let h = self
                        .sas
                        .iter()
                        .find(|(_, t)| t.peer == Some(sa.peer) && !t.done)
                        .map(|(&h, _)| h);
                    if let Some(h) = h {
                        self.ep.close(self.now, h, &mut self.rng);
                    }
                }
                Action::Moved(m) => self.moves.push(m),
            }
        }
    }

    /// Moves datagrams onto the wire and our SAs' events into the failover machine.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(t) = self.ep.poll_transmit() {
                busy = true;
                let m = Message::parse(&t.bytes).expect("well-formed");
                if m.header.exchange_type == ExchangeType::IkeSaInit && !m.header.response {
                    self.inits.push((self.now, t.to.ip()));
                }
                let alive = self.responders.iter().any(|r| r.addr == t.to.ip() && r.alive);
                if alive {
                    self.wire.push((self.now + Duration::from_millis(10), t.from, t.to, t.bytes));
                }
            }
            for r in &mut self.responders {
                while let Some(t) = r.ep.poll_transmit() {
                    busy = true;
                    if r.alive {
                        self.wire.push((
                            self.now + Duration::from_millis(10),
                            t.from,
                            t.to,
                            t.bytes,
                        ));
                    }
                }
                while r.ep.poll_event().is_some() {}
            }
            let mut inputs = Vec::new();
            while let Some((h, ev)) = self.ep.poll_event() {
                busy = true;
                let track = self.sas.entry(h).or_default();
                let Some(peer) = track.peer else { continue };
                let sa = ours(peer, V2);
                match ev {
                    Event::Established(info) => {
                        assert_eq!(info.peer.ip(), peer);
                        track.established = true;
                        self.up.push((self.now, peer));
                        inputs.push(Input::Established(sa));
                    }
                    Event::ChildSaUp(_) => track.child_up = true,
                    Event::ChildSaFailed(cause) => {
                        let stage = if track.child_up {
                            ChildStage::Rekey
                        } else {
                            ChildStage::WithIkeAuth
                        };
                        let outcome = Outcome::from_ikev2_child_failure(&cause, stage);
                        self.child_failures.push((self.now, peer, cause));
                        inputs.push(Input::Outcome { sa, outcome });
                    }
                    Event::Failed(cause) => {
                        track.done = true;
                        // As the appliance does: the SA says which request went unanswered.
                        let unanswered = self.ep.sa(h).and_then(|sa| sa.unanswered());
                        self.unanswered.push((peer, unanswered));
                        let stage = match (track.established, unanswered) {
                            (false, _) => Ikev2Stage::Negotiating,
                            (true, Some(UnansweredRequest::CreateChildSa)) => Ikev2Stage::Rekeying,
                            (true, _) => Ikev2Stage::Established,
                        };
                        let outcome = Outcome::from_ikev2_failure(&cause, stage);
                        self.failures.push((self.now, peer, cause));
                        inputs.push(Input::Outcome { sa, outcome });
                    }
                    Event::Closed { .. } => {
                        track.done = true;
                        inputs.push(Input::Outcome { sa, outcome: Outcome::ClosedNormally });
                    }
                    _ => {}
                }
            }
            for i in inputs {
                self.feed(i);
            }
            if !busy {
                return;
            }
        }
    }

    /// Delivers what has arrived and runs the timers that are due.
    fn step(&mut self) {
        self.wire.sort_by_key(|w| w.0);
        let due = self.wire.iter().take_while(|w| w.0 <= self.now).count();
        let arrived: Vec<_> = self.wire.drain(..due).collect();
        for (_, from, to, bytes) in arrived {
            if to.ip() == ME {
                self.ep.handle(self.now, &bytes, from, &mut self.rng);
            } else if let Some(r) = self.responders.iter_mut().find(|r| r.addr == to.ip()) {
                r.ep.handle(self.now, &bytes, from, &mut r.rng);
            }
        }
        if self.ep.poll_timeout().is_some_and(|t| t <= self.now) {
            self.ep.handle_timeout(self.now, &mut self.rng);
        }
        for r in &mut self.responders {
            if r.ep.poll_timeout().is_some_and(|t| t <= self.now) {
                r.ep.handle_timeout(self.now, &mut r.rng);
            }
        }
        self.pump();
    }

    fn next_wakeup(&self) -> Option<Time> {
        let responders = self.responders.iter().filter_map(|r| r.ep.poll_timeout());
        let wire = self.wire.iter().map(|w| w.0);
        self.ep.poll_timeout().into_iter().chain(responders).chain(wire).min()
    }

    /// Runs until `end`, with an ACQUIRE every `traffic` (continuous traffic) or none.
    fn run_until(&mut self, end: Time, traffic: Option<Duration>) {
        let mut next_acquire = traffic.map(|_| self.now);
        for _ in 0..1_000_000 {
            // Timers and arrivals first: a give-up due now frees the entry for this
            // instant's traffic.
            self.step();
            if let (Some(t), Some(every)) = (next_acquire, traffic)
                && t <= self.now
            {
                self.feed(Input::Acquire);
                self.pump();
                next_acquire = Some(self.now + every);
            }
            match self.next_wakeup().into_iter().chain(next_acquire).min() {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    self.step();
                    return;
                }
            }
        }
        panic!("no progress at {}", self.now);
    }

    fn init_times(&self, peer: IpAddr) -> Vec<u64> {
        self.inits.iter().filter(|i| i.1 == peer).map(|i| i.0.as_millis()).collect()
    }
}

#[test]
fn continuous_traffic_walks_the_peer_list_until_a_peer_answers() {
    // Peer1 and Peer2 are black holes, Peer3 answers.
    let mut sim = Sim::new(&[(P1, None), (P2, None), (P3, Some(Peer::Good))], Duration::ZERO);
    sim.run_until(Time::from_secs(400), Some(Duration::from_secs(1)));
    // Seven IKE_SA_INIT to each dead peer on the default schedule, then the next peer at
    // the next packet of traffic after the two minutes.
    let s = |v: &[u64]| v.iter().map(|ms| ms * 1000).collect::<Vec<u64>>();
    assert_eq!(sim.init_times(P1), s(&[0, 1, 3, 7, 15, 31, 63]));
    assert_eq!(sim.init_times(P2), s(&[127, 128, 130, 134, 142, 158, 190]));
    assert_eq!(sim.init_times(P3), s(&[254]));
    let attempts: Vec<(u64, IpAddr)> =
        sim.initiated.iter().map(|(t, target, _)| (t.as_millis() / 1000, target.peer)).collect();
    assert_eq!(attempts, [(0, P1), (127, P2), (254, P3)], "one attempt at a time");
    assert!(sim.initiated.iter().all(|i| i.2 == Trigger::Traffic));
    assert_eq!(sim.failures.len(), 2);
    assert!(sim.failures.iter().all(
        |f| f.2 == FailureCause::PeerUnreachable { sends: 7, waited: Duration::from_secs(127) }
    ));
    let lines: Vec<&str> = sim.moves.iter().map(|m| m.debug_line.as_str()).collect();
    assert_eq!(lines, [line("ikev2", P1, P2), line("ikev2", P2, P3)]);
    assert_eq!(sim.up, [(Time::from_millis(254_040), P3)], "IKE_SA_INIT and IKE_AUTH: 40 ms");
    assert!(matches!(sim.fo.state(), State::Up { sa, .. } if sa.peer == P3));
    assert!(sim.fo.accepts(P3) && !sim.fo.accepts(P1));
}

#[test]
fn without_traffic_the_next_peer_waits_for_a_manual_trigger() {
    let mut sim = Sim::new(&[(P1, None), (P2, Some(Peer::Good))], Duration::ZERO);
    sim.run_until(Time::ZERO, Some(Duration::from_secs(3600)));
    sim.run_until(Time::from_secs(600), None);
    assert_eq!(sim.init_times(P1).len(), 7);
    assert!(sim.init_times(P2).is_empty(), "nothing tried Peer2 by itself");
    assert_eq!(sim.fo.current(), target(1, P2, V2));
    sim.feed(Input::ManualTrigger);
    sim.run_until(Time::from_secs(605), None);
    assert_eq!(sim.init_times(P2), [600_000]);
    assert_eq!(sim.initiated.last().map(|i| i.2), Some(Trigger::Manual));
    assert_eq!(sim.up, [(Time::from_millis(600_040), P2)]);
}

#[test]
fn real_negotiation_failures_move_to_the_next_peer() {
    // Peer1: no common IKE proposal; Peer2: another key; Peer3: no common ESP proposal (the
    // IKE SA comes up, its Child SA does not); Peer4 matches.
    let p4 = IpAddr::V4(Ipv4Addr::new(192, 168, 2, 5));
    let mut sim = Sim::new(
        &[
            (P1, Some(Peer::OtherIkeProposal)),
            (P2, Some(Peer::OtherKey)),
            (P3, Some(Peer::OtherEspProposal)),
            (p4, Some(Peer::Good)),
        ],
        Duration::ZERO,
    );
    sim.run_until(Time::from_secs(10), Some(Duration::from_secs(1)));
    let reasons: Vec<MoveReason> = sim.moves.iter().map(|m| m.reason).collect();
    assert_eq!(
        reasons,
        [
            MoveReason::Row(Row::Phase1ProposalMismatch),
            MoveReason::Row(Row::AuthenticationFailure),
            MoveReason::Row(Row::Phase2ProposalMismatch),
        ]
    );
    assert!(matches!(sim.failures[0].2, FailureCause::NoProposalChosen(_)));
    assert!(matches!(sim.failures[1].2, FailureCause::AuthenticationFailed(_)));
    assert!(matches!(sim.child_failures[0].2, FailureCause::NoProposalChosen(_)));
    // Peer3's IKE SA (left without a Child SA) was deleted as asked.
    let p3 = sim.sas.values().find(|t| t.peer == Some(P3)).unwrap();
    assert!(p3.established && p3.done);
    // Each next attempt came with the next second of traffic; Peer4 is up.
    let attempts: Vec<(u64, IpAddr)> =
        sim.initiated.iter().map(|(t, target, _)| (t.as_millis() / 1000, target.peer)).collect();
    assert_eq!(attempts, [(0, P1), (1, P2), (2, P3), (3, p4)]);
    assert!(matches!(sim.fo.state(), State::Up { sa, .. } if sa.peer == p4));
    assert_eq!(sim.fo.current(), target(3, p4, V2));
}

#[test]
fn a_dead_peer_detected_by_dpd_moves_on_and_clear_resets_to_peer1() {
    // Peer1 is a black hole; Peer2 answers, then goes silent; Peer3 answers.
    let dpd = Duration::from_secs(10);
    let mut sim = Sim::new(&[(P1, None), (P2, Some(Peer::Good)), (P3, Some(Peer::Good))], dpd);
    sim.run_until(Time::from_secs(130), Some(Duration::from_secs(1)));
    assert_eq!(sim.up.last().map(|u| u.1), Some(P2));
    sim.responders.iter_mut().find(|r| r.addr == P2).unwrap().alive = false;
    // Liveness check 10 s after the peer was last heard, then the whole schedule.
    sim.run_until(Time::from_secs(300), Some(Duration::from_secs(1)));
    let dead = sim.failures.iter().find(|f| f.1 == P2).expect("Peer2 declared dead");
    // Up at 127.040 s (last heard), checked at 137.040 s, given up 127 s later.
    assert_eq!(dead.0, Time::from_millis(264_040));
    assert_eq!(
        dead.2,
        FailureCause::PeerUnreachable { sends: 7, waited: Duration::from_secs(127) }
    );
    assert!(sim.unanswered.contains(&(P2, Some(UnansweredRequest::Liveness))));
    let dpd_move = sim.moves.iter().find(|m| m.reason == MoveReason::Row(Row::DpdAckNotReceived));
    assert_eq!(dpd_move.map(|m| (m.from.peer, m.to.peer)), Some((P2, P3)));
    assert_eq!(sim.up.last().copied(), Some((Time::from_millis(265_040), P3)), "next second");

    // `clear crypto ikev2 sa`: the SA goes and the index resets to Peer1.
    sim.feed(Input::ClearCryptoIkev2Sa);
    let h = sim.sas.iter().find(|(_, t)| t.peer == Some(P3) && !t.done).map(|(&h, _)| h).unwrap();
    let now = sim.now;
    sim.ep.close(now, h, &mut sim.rng);
    assert_eq!(sim.fo.current(), target(0, P1, V2));
    sim.run_until(sim.now + Duration::from_secs(5), Some(Duration::from_secs(1)));
    assert_eq!(sim.initiated.last().map(|i| i.1.peer), Some(P1), "traffic starts from Peer1");
}

#[test]
fn an_unanswered_rekey_resets_to_peer1_where_an_unanswered_dpd_moves_on() {
    // Peer1 is a black hole, Peer2 answers and then goes silent just as we rekey.
    let dpd = Duration::from_secs(10);
    let mut sim = Sim::new(&[(P1, None), (P2, Some(Peer::Good)), (P3, Some(Peer::Good))], dpd);
    sim.run_until(Time::from_secs(130), Some(Duration::from_secs(1)));
    assert_eq!(sim.up.last().map(|u| u.1), Some(P2));
    sim.responders.iter_mut().find(|r| r.addr == P2).unwrap().alive = false;
    let h = sim.sas.iter().find(|(_, t)| t.peer == Some(P2) && !t.done).map(|(&h, _)| h).unwrap();
    let now = sim.now;
    let mut rng = TestRng::new("rekey into silence");
    assert!(sim.ep.rekey_ike(now, h, &mut rng));
    sim.run_until(Time::from_secs(300), None);
    assert!(sim.unanswered.contains(&(P2, Some(UnansweredRequest::CreateChildSa))));
    let reset =
        sim.moves.iter().find(|m| m.reason == MoveReason::Row(Row::RekeyFailurePeerNotReachable));
    assert_eq!(reset.map(|m| m.to.peer), Some(P1), "Reset: back to Peer1");
    assert_eq!(sim.fo.current(), target(0, P1, V2));
}
