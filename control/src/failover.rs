//! Multi-peer crypto-map failover: which peer of a crypto map entry a tunnel is tried with,
//! and when that changes (the reference document's "About IKEv2 Multi-Peer Crypto Map", its
//! peer-index transition table and its guidelines).
//!
//! One [`PeerFailover`] per crypto map entry (and per context: nothing here is shared). It
//! is sans-IO: the caller feeds it [`Input`]s with the current [`Time`] and carries out the
//! [`Action`]s it returns (start an IKE SA, delete one); it never reads a clock, sends a
//! datagram or keeps a timer. Whether a peer is unreachable is decided by the IKE state
//! machines' retransmission schedule ([`crate::retransmit`]: five retransmits and a final
//! one, about two minutes by default); this machine only consumes the outcome.
//!
//! - **Attempt order** ("position"): every IKE version the entry allows on a peer, IKEv2
//!   first, before the next peer: P1/IKEv2, P1/IKEv1, P2/IKEv2, P2/IKEv1, ... After the
//!   last it wraps around to Peer1, until an SA is established with some peer.
//! - **Initiator**: an attempt starts only on [`Input::Acquire`] (traffic) or
//!   [`Input::ManualTrigger`] (an operator command), never by itself after a failure: the
//!   document requires continuous traffic or a manual trigger for each next attempt.
//! - **Responder**: [`PeerFailover::accepts`] admits an IKE SA only from the current active
//!   peer; outcomes of SAs we answered never move the index to a next peer (no peer
//!   traversal on the responder side).
//! - **Transitions**: [`Row`] is the reference table, row by row; [`Outcome`] is what the
//!   caller observed about an attempt or SA, mapped onto those rows (and onto the few
//!   outcomes the table does not list, each with a documented choice).

use core::fmt;
use core::net::IpAddr;

use crate::ikev2::sa::FailureCause;
use crate::log::IKE_COMMON;
use crate::policy::{CryptoMapEntry, IkeVersion};
use crate::time::Time;

pub use crate::policy::MAX_PEERS;

/// The prefix of every line this module logs (`debug crypto ike-common 255`).
const PREFIX: &str = "[IKE COMMON DEBUG]";

/// Where the next attempt goes: a peer of the list with one IKE version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The peer's place in the crypto map's list, from 0 (0 is the document's Peer1).
    pub peer_index: usize,
    /// The peer's address.
    pub peer: IpAddr,
    /// The IKE version of the attempt.
    pub version: IkeVersion,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (Peer{}, {})", self.peer, self.peer_index.saturating_add(1), self.version)
    }
}

/// Which SA an input is about. Outcomes are matched against the SA or attempt the machine
/// knows by all three fields, so a late report from an SA that was superseded is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaRef {
    /// The peer's address.
    pub peer: IpAddr,
    /// The SA's IKE version.
    pub version: IkeVersion,
    /// Whether we initiated it (an attempt of this machine) or answered the peer.
    pub initiator: bool,
}

/// What started an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Traffic needed the tunnel (an ACQUIRE from the dataplane).
    Traffic,
    /// An operator command, for when traffic stopped.
    Manual,
}

/// The reference table's answer for a row: "Peer Index Moved Yes/No/Reset".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// "Yes": the next position (the next IKE version of the peer, else the next peer,
    /// after the last the first).
    Next,
    /// "Reset": back to Peer1 (with the first IKE version).
    Reset,
    /// "No": the index stays.
    NoChange,
}

/// A row of the reference document's peer-index transition table, in the document's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    /// "Peer not reachable" (before an SA): Yes.
    PeerNotReachable,
    /// "Phase 1 proposal mismatch" (before an SA): Yes.
    Phase1ProposalMismatch,
    /// "Phase 2 proposal mismatch" (before an SA): Yes.
    Phase2ProposalMismatch,
    /// "DPD ack not received" (before an SA): Yes.
    DpdAckNotReceived,
    /// "Traffic selectors mismatch during AUTH phase" (before an SA): Yes.
    TsMismatchDuringAuth,
    /// "Authentication failure" (before an SA): Yes.
    AuthenticationFailure,
    /// "Rekey failure due to peer not reachable" (listed before an SA): Reset.
    RekeyFailurePeerNotReachable,
    /// "Rekey failure due to proposal mismatch" (after an SA): Reset.
    RekeyFailureProposalMismatch,
    /// "Traffic selectors mismatch during rekey" (after an SA): Reset.
    TsMismatchDuringRekey,
    /// "Crypto map modification" (after an SA): Reset.
    CryptoMapModification,
    /// "HA switchover" (after an SA): No.
    HaSwitchover,
    /// "Clear crypto IKEv2 SA" (after an SA): Reset.
    ClearCryptoIkev2Sa,
    /// "Clear ipsec sa" (after an SA): Reset.
    ClearIpsecSa,
    /// "IKEv2 SA timeout" (after an SA): Reset.
    Ikev2SaTimeout,
}

impl Row {
    /// Every row, in the document's order.
    pub const ALL: [Row; 14] = [
        Row::PeerNotReachable,
        Row::Phase1ProposalMismatch,
        Row::Phase2ProposalMismatch,
        Row::DpdAckNotReceived,
        Row::TsMismatchDuringAuth,
        Row::AuthenticationFailure,
        Row::RekeyFailurePeerNotReachable,
        Row::RekeyFailureProposalMismatch,
        Row::TsMismatchDuringRekey,
        Row::CryptoMapModification,
        Row::HaSwitchover,
        Row::ClearCryptoIkev2Sa,
        Row::ClearIpsecSa,
        Row::Ikev2SaTimeout,
    ];

    /// The row's condition, worded as in the document.
    pub const fn text(self) -> &'static str {
        match self {
            Row::PeerNotReachable => "Peer not reachable",
            Row::Phase1ProposalMismatch => "Phase 1 proposal mismatch",
            Row::Phase2ProposalMismatch => "Phase 2 proposal mismatch",
            Row::DpdAckNotReceived => "DPD ack not received",
            Row::TsMismatchDuringAuth => "Traffic selectors mismatch during AUTH phase",
            Row::AuthenticationFailure => "Authentication failure",
            Row::RekeyFailurePeerNotReachable => "Rekey failure due to peer not reachable",
            Row::RekeyFailureProposalMismatch => "Rekey failure due to proposal mismatch",
            Row::TsMismatchDuringRekey => "Traffic selectors mismatch during rekey",
            Row::CryptoMapModification => "Crypto map modification",
            Row::HaSwitchover => "HA switchover",
            Row::ClearCryptoIkev2Sa => "Clear crypto IKEv2 SA",
            Row::ClearIpsecSa => "Clear ipsec sa",
            Row::Ikev2SaTimeout => "IKEv2 SA timeout",
        }
    }

    /// Whether the document lists the row under "Conditions after SA" (else "Conditions
    /// prior to SA").
    pub const fn after_sa(self) -> bool {
        !matches!(
            self,
            Row::PeerNotReachable
                | Row::Phase1ProposalMismatch
                | Row::Phase2ProposalMismatch
                | Row::DpdAckNotReceived
                | Row::TsMismatchDuringAuth
                | Row::AuthenticationFailure
                | Row::RekeyFailurePeerNotReachable
        )
    }

    /// The document's answer for the row.
    pub const fn transition(self) -> Transition {
        match self {
            Row::PeerNotReachable
            | Row::Phase1ProposalMismatch
            | Row::Phase2ProposalMismatch
            | Row::DpdAckNotReceived
            | Row::TsMismatchDuringAuth
            | Row::AuthenticationFailure => Transition::Next,
            Row::RekeyFailurePeerNotReachable
            | Row::RekeyFailureProposalMismatch
            | Row::TsMismatchDuringRekey
            | Row::CryptoMapModification
            | Row::ClearCryptoIkev2Sa
            | Row::ClearIpsecSa
            | Row::Ikev2SaTimeout => Transition::Reset,
            Row::HaSwitchover => Transition::NoChange,
        }
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// What became of an attempt or an SA, as the caller observed it (IKEv2: see the
/// `from_ikev2_*` constructors; IKEv1 callers pick the variant directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The first request went unanswered through the whole retransmission schedule.
    PeerUnreachable,
    /// No common IKE SA (Phase 1) proposal, including no acceptable DH group.
    Phase1ProposalMismatch,
    /// The Child SA (Phase 2) requested with the IKE SA was refused for its proposal; the
    /// IKE SA itself may be up.
    Phase2ProposalMismatch,
    /// An established SA's liveness check (DPD) went unanswered: the peer is dead.
    DpdAckNotReceived,
    /// The Child SA requested with the IKE SA was refused for its traffic selectors.
    TsMismatchDuringAuth,
    /// Our AUTH did not verify at the peer, or the peer's did not verify here.
    AuthenticationFailed,
    /// A rekey request went unanswered through the whole retransmission schedule.
    RekeyPeerUnreachable,
    /// A rekey was refused for its proposal (NO_PROPOSAL_CHOSEN, or no common DH group).
    RekeyProposalMismatch,
    /// A rekey was refused for its traffic selectors.
    TsMismatchDuringRekey,
    /// The IKE SA reached its lifetime without being rekeyed.
    Ikev2SaTimeout,
    /// Not in the table: the negotiation or the SA failed otherwise (the peer broke the
    /// protocol). Treated as a failure of the peer: next position.
    OtherFailure,
    /// Not in the table: an additional Child SA was refused while the IKE SA and its
    /// first Child SA stay up. No change, and the SA stays up.
    ChildSaRefused,
    /// Not in the table: the SA ended normally (the peer deleted it, or we did: a clear
    /// command reports its own input first). No change.
    ClosedNormally,
    /// Not in the table: the attempt could not even start here (a local configuration
    /// problem, not the peer's). No change.
    LocalError,
}

/// Where an IKEv2 SA stood when it reported [`Event::Failed`](crate::ikev2::sa::Event):
/// the caller tracks this, since the failure cause alone does not say whether the SA had
/// been established or what request went unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ikev2Stage {
    /// Not established yet (IKE_SA_INIT or IKE_AUTH).
    Negotiating,
    /// Established, no rekey in flight: an unanswered request is the liveness check (DPD).
    Established,
    /// Established, a rekey (CREATE_CHILD_SA) in flight.
    Rekeying,
}

/// Which Child SA negotiation reported
/// [`Event::ChildSaFailed`](crate::ikev2::sa::Event::ChildSaFailed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildStage {
    /// The first Child SA, requested with IKE_AUTH (no Child SA of this IKE SA came up).
    WithIkeAuth,
    /// The rekeying of a Child SA.
    Rekey,
    /// An additional Child SA (CREATE_CHILD_SA) while the first one is up.
    Additional,
}

impl Outcome {
    /// The reference table's row for this outcome; `None` for the outcomes it does not list.
    pub const fn row(self) -> Option<Row> {
        Some(match self {
            Outcome::PeerUnreachable => Row::PeerNotReachable,
            Outcome::Phase1ProposalMismatch => Row::Phase1ProposalMismatch,
            Outcome::Phase2ProposalMismatch => Row::Phase2ProposalMismatch,
            Outcome::DpdAckNotReceived => Row::DpdAckNotReceived,
            Outcome::TsMismatchDuringAuth => Row::TsMismatchDuringAuth,
            Outcome::AuthenticationFailed => Row::AuthenticationFailure,
            Outcome::RekeyPeerUnreachable => Row::RekeyFailurePeerNotReachable,
            Outcome::RekeyProposalMismatch => Row::RekeyFailureProposalMismatch,
            Outcome::TsMismatchDuringRekey => Row::TsMismatchDuringRekey,
            Outcome::Ikev2SaTimeout => Row::Ikev2SaTimeout,
            Outcome::OtherFailure
            | Outcome::ChildSaRefused
            | Outcome::ClosedNormally
            | Outcome::LocalError => return None,
        })
    }

    /// The transition: the table's for listed outcomes, else this module's choice.
    pub const fn transition(self) -> Transition {
        match self.row() {
            Some(row) => row.transition(),
            None => match self {
                Outcome::OtherFailure => Transition::Next,
                _ => Transition::NoChange,
            },
        }
    }

    /// Whether the tunnel with the peer is over (or never came up). Only an additional
    /// Child SA's refusal leaves it as it was.
    pub const fn ends_tunnel(self) -> bool {
        !matches!(self, Outcome::ChildSaRefused)
    }

    /// Whether an IKE SA may still be up after this outcome although the tunnel is over:
    /// the Child SA failures, after which RFC 7296 section 2.21 keeps the IKE SA. The
    /// machine then asks for it to be deleted ([`Action::Close`]), so that no SA stays
    /// with a peer the index moved away from.
    pub const fn leaves_ike_sa_up(self) -> bool {
        matches!(
            self,
            Outcome::Phase2ProposalMismatch
                | Outcome::TsMismatchDuringAuth
                | Outcome::RekeyProposalMismatch
                | Outcome::TsMismatchDuringRekey
        )
    }

    /// An IKEv2 SA's terminal failure (`Event::Failed(cause)`), at the stage it was in.
    pub fn from_ikev2_failure(cause: &FailureCause, stage: Ikev2Stage) -> Outcome {
        use FailureCause as F;
        match (stage, cause) {
            (Ikev2Stage::Negotiating, F::PeerUnreachable { .. }) => Outcome::PeerUnreachable,
            // A DH group the peer wants and we cannot offer is a Phase 1 mismatch too.
            (Ikev2Stage::Negotiating, F::NoProposalChosen(_) | F::InvalidKe { .. }) => {
                Outcome::Phase1ProposalMismatch
            }
            (Ikev2Stage::Negotiating, F::AuthenticationFailed(_)) => Outcome::AuthenticationFailed,
            (Ikev2Stage::Negotiating, F::TsUnacceptable) => Outcome::TsMismatchDuringAuth,
            (Ikev2Stage::Negotiating, F::ProtocolError(_) | F::InternalAddressFailure(_)) => {
                Outcome::OtherFailure
            }
            (Ikev2Stage::Established, F::PeerUnreachable { .. }) => Outcome::DpdAckNotReceived,
            (
                Ikev2Stage::Established,
                F::NoProposalChosen(_)
                | F::AuthenticationFailed(_)
                | F::TsUnacceptable
                | F::InvalidKe { .. }
                | F::ProtocolError(_)
                | F::InternalAddressFailure(_),
            ) => Outcome::OtherFailure,
            (Ikev2Stage::Rekeying, F::PeerUnreachable { .. }) => Outcome::RekeyPeerUnreachable,
            (Ikev2Stage::Rekeying, F::NoProposalChosen(_) | F::InvalidKe { .. }) => {
                Outcome::RekeyProposalMismatch
            }
            (Ikev2Stage::Rekeying, F::TsUnacceptable) => Outcome::TsMismatchDuringRekey,
            (
                Ikev2Stage::Rekeying,
                F::AuthenticationFailed(_) | F::ProtocolError(_) | F::InternalAddressFailure(_),
            ) => Outcome::OtherFailure,
        }
    }

    /// An IKEv2 Child SA's failure (`Event::ChildSaFailed(cause)`); the IKE SA is still up.
    pub fn from_ikev2_child_failure(cause: &FailureCause, child: ChildStage) -> Outcome {
        use FailureCause as F;
        match (child, cause) {
            (ChildStage::WithIkeAuth, F::NoProposalChosen(_) | F::InvalidKe { .. }) => {
                Outcome::Phase2ProposalMismatch
            }
            (ChildStage::WithIkeAuth, F::TsUnacceptable) => Outcome::TsMismatchDuringAuth,
            (ChildStage::WithIkeAuth, F::AuthenticationFailed(_)) => Outcome::AuthenticationFailed,
            (ChildStage::WithIkeAuth, F::PeerUnreachable { .. }) => Outcome::PeerUnreachable,
            (ChildStage::WithIkeAuth, F::ProtocolError(_)) => Outcome::OtherFailure,
            // A remote-access client the concentrator gave no address (a pool exhausted).
            (ChildStage::WithIkeAuth, F::InternalAddressFailure(_)) => Outcome::ChildSaRefused,
            (ChildStage::Rekey, F::NoProposalChosen(_) | F::InvalidKe { .. }) => {
                Outcome::RekeyProposalMismatch
            }
            (ChildStage::Rekey, F::TsUnacceptable) => Outcome::TsMismatchDuringRekey,
            (ChildStage::Rekey, F::PeerUnreachable { .. }) => Outcome::RekeyPeerUnreachable,
            // The old pair keeps running until its hard lifetime: the tunnel is not over.
            (
                ChildStage::Rekey,
                F::AuthenticationFailed(_) | F::ProtocolError(_) | F::InternalAddressFailure(_),
            ) => Outcome::ChildSaRefused,
            (
                ChildStage::Additional,
                F::PeerUnreachable { .. }
                | F::NoProposalChosen(_)
                | F::AuthenticationFailed(_)
                | F::TsUnacceptable
                | F::InvalidKe { .. }
                | F::ProtocolError(_)
                | F::InternalAddressFailure(_),
            ) => Outcome::ChildSaRefused,
        }
    }
}

/// Why the index moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoveReason {
    /// A row of the reference table whose answer is Yes or Reset.
    Row(Row),
    /// An outcome the table does not list (see [`Outcome::transition`]).
    Unlisted(Outcome),
    /// This unit became the HA active without an SA: it starts from Peer1 whatever the old
    /// active's index was (the document's High Availability guideline).
    HaNewActive,
    /// The centralized cluster's control node moved the index ([`Input::ClusterPeerIndex`]).
    Cluster,
    /// The current peer established an SA with us in its other IKE version (as responder):
    /// the position follows the SA, the peer stays.
    Established,
}

/// A move of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// When.
    pub at: Time,
    /// The position before.
    pub from: Target,
    /// The position after.
    pub to: Target,
    /// Why.
    pub reason: MoveReason,
    /// The line logged at target [`crate::log::IKE_COMMON`] (debug level), e.g.
    /// `[IKE COMMON DEBUG]Failed to initiate ikev2 SA with peer 192.168.2.2, initiate to
    /// next peer 192.168.2.3 configured in the multiple peer list of the crypto map.`
    pub debug_line: String,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start an IKE SA (IKEv2 IKE_SA_INIT, IKEv1 Main Mode) with the target. Exactly one
    /// [`Input::Established`] or [`Input::Outcome`] for it is expected back.
    Initiate {
        /// Peer and version.
        target: Target,
        /// What asked for it.
        trigger: Trigger,
    },
    /// Delete this SA: it is not (or no longer) the tunnel of the entry (an IKE SA left
    /// without its Child SA, or an SA that came up with a peer that is not the active one).
    Close(SaRef),
    /// The index moved (already logged).
    Moved(Move),
}

/// An input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// Traffic needs the tunnel (an ACQUIRE from the dataplane).
    Acquire,
    /// An operator command asks for the next attempt (when traffic is not continuous).
    ManualTrigger,
    /// An SA came up: as initiator, the attempt this machine asked for; as responder, one
    /// the caller admitted with [`PeerFailover::accepts`].
    Established(SaRef),
    /// What became of an attempt or an SA.
    Outcome {
        /// Which.
        sa: SaRef,
        /// What.
        outcome: Outcome,
    },
    /// The crypto map entry was modified (row "Crypto map modification"); a changed peer
    /// or version list goes through [`PeerFailover::reconfigure`] instead.
    CryptoMapModified,
    /// `clear crypto ikev2 sa` cleared this entry's SA (row "Clear crypto IKEv2 SA").
    ClearCryptoIkev2Sa,
    /// `clear ipsec sa` cleared this entry's SA (row "Clear ipsec sa").
    ClearIpsecSa,
    /// This unit just became the HA active unit (row "HA switchover", and the High
    /// Availability guideline).
    HaSwitchover,
    /// Centralized cluster: the control node's position for this entry, which every node
    /// adopts (the control node publishes its own [`Action::Moved`]s).
    ClusterPeerIndex {
        /// The peer's place in the list, from 0.
        peer_index: usize,
        /// The IKE version.
        version: IkeVersion,
    },
}

/// Where the entry's tunnel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No SA and no attempt: the next trigger initiates to the current position.
    Idle,
    /// An attempt is in flight.
    Initiating {
        /// Where to.
        target: Target,
        /// Since when.
        since: Time,
        /// What started it.
        trigger: Trigger,
    },
    /// An SA is up.
    Up {
        /// Which.
        sa: SaRef,
        /// Since when.
        since: Time,
    },
}

/// A peer or version list [`PeerFailover`] cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailoverError {
    /// No peer.
    #[error("the crypto map lists no peer")]
    NoPeers,
    /// More than [`MAX_PEERS`].
    #[error("{0} peers; a crypto map takes at most {MAX_PEERS}")]
    TooManyPeers(usize),
    /// A peer listed twice.
    #[error("peer {0} listed twice")]
    DuplicatePeer(IpAddr),
    /// No IKE version.
    #[error("the crypto map allows no IKE version")]
    NoIkeVersion,
}

/// The view `show crypto map` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The entry's name as given to [`PeerFailover::new`] (e.g. `outside_map 10`).
    pub name: String,
    /// The peers, in order.
    pub peers: Vec<IpAddr>,
    /// The IKE versions, in attempt order.
    pub versions: Vec<IkeVersion>,
    /// The current position: the next attempt's target and the only peer accepted as
    /// responder.
    pub current: Target,
    /// The tunnel.
    pub state: State,
    /// The last move of the index, if any.
    pub last_move: Option<Move>,
}

impl fmt::Display for Snapshot {
    /// E.g. `peers: 192.168.2.2 *192.168.2.3 (current index 2, ikev2); initiating to ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("peers:")?;
        for (i, p) in self.peers.iter().enumerate() {
            let mark = if i == self.current.peer_index { "*" } else { "" };
            write!(f, " {mark}{p}")?;
        }
        write!(
            f,
            " (current index {}, {}); ",
            self.current.peer_index.saturating_add(1),
            self.current.version
        )?;
        match self.state {
            State::Idle => f.write_str("no SA"),
            State::Initiating { target, since, .. } => {
                write!(f, "initiating to {target} since {since}")
            }
            State::Up { sa, since } => {
                write!(f, "{} SA up with {} since {since}", sa.version, sa.peer)
            }
        }
    }
}

/// The multi-peer failover state of one crypto map entry.
#[derive(Debug, Clone)]
pub struct PeerFailover {
    name: String,
    peers: Vec<IpAddr>,
    versions: Vec<IkeVersion>,
    /// Index into the attempt order: peer `position / versions.len()`, version
    /// `position % versions.len()`.
    position: usize,
    state: State,
    last_move: Option<Move>,
}

/// Checks a peer list and normalizes a version list (IKEv2 first, each once).
fn checked(
    peers: &[IpAddr],
    versions: &[IkeVersion],
) -> Result<(Vec<IpAddr>, Vec<IkeVersion>), FailoverError> {
    if peers.is_empty() {
        return Err(FailoverError::NoPeers);
    }
    if peers.len() > MAX_PEERS {
        return Err(FailoverError::TooManyPeers(peers.len()));
    }
    for (i, p) in peers.iter().enumerate() {
        if peers.iter().take(i).any(|q| q == p) {
            return Err(FailoverError::DuplicatePeer(*p));
        }
    }
    // The document's order whatever the configuration's: "P1 with IKEv2, P1 with IKEv1".
    let ordered: Vec<IkeVersion> = [IkeVersion::Ikev2, IkeVersion::Ikev1]
        .into_iter()
        .filter(|v| versions.contains(v))
        .collect();
    if ordered.is_empty() {
        return Err(FailoverError::NoIkeVersion);
    }
    Ok((peers.to_vec(), ordered))
}

impl PeerFailover {
    /// An entry named `name` (for logs and `show crypto map`, e.g. `outside_map 10`) with
    /// its peers in failover order and the IKE versions it allows; it starts at Peer1 with
    /// no SA.
    pub fn new(
        name: impl Into<String>,
        peers: &[IpAddr],
        versions: &[IkeVersion],
    ) -> Result<PeerFailover, FailoverError> {
        let (peers, versions) = checked(peers, versions)?;
        Ok(PeerFailover {
            name: name.into(),
            peers,
            versions,
            position: 0,
            state: State::Idle,
            last_move: None,
        })
    }

    /// [`PeerFailover::new`] from a policy entry, named `NAME SEQ`.
    pub fn from_entry(entry: &CryptoMapEntry) -> Result<PeerFailover, FailoverError> {
        PeerFailover::new(
            format!("{} {}", entry.name, entry.sequence),
            &entry.peers,
            &entry.ike_versions,
        )
    }

    /// The entry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The peers, in order.
    pub fn peers(&self) -> &[IpAddr] {
        &self.peers
    }

    /// The IKE versions, in attempt order.
    pub fn versions(&self) -> &[IkeVersion] {
        &self.versions
    }

    /// The tunnel's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The current position: where the next attempt goes.
    pub fn current(&self) -> Target {
        self.target_at(self.position).unwrap_or(Target {
            // Unreachable: the position is kept below `positions()` and both lists are
            // non-empty; a harmless answer rather than a panic.
            peer_index: 0,
            peer: self.peers.first().copied().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            version: IkeVersion::Ikev2,
        })
    }

    /// The last move of the index, if any.
    pub fn last_move(&self) -> Option<&Move> {
        self.last_move.as_ref()
    }

    /// The responder rule: an IKE SA attempt is admitted only from the current active
    /// peer's address (no peer traversal on the responder side).
    pub fn accepts(&self, from: IpAddr) -> bool {
        self.current().peer == from
    }

    /// For `show crypto map`.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            name: self.name.clone(),
            peers: self.peers.clone(),
            versions: self.versions.clone(),
            current: self.current(),
            state: self.state,
            last_move: self.last_move.clone(),
        }
    }

    /// A modified crypto map with (possibly) new peers or versions: the index resets to
    /// Peer1 (row "Crypto map modification"). An attempt in flight is dropped from the
    /// machine (the caller abandons it); an SA that is up stays known until its end is
    /// reported.
    pub fn reconfigure(
        &mut self,
        now: Time,
        peers: &[IpAddr],
        versions: &[IkeVersion],
    ) -> Result<Vec<Action>, FailoverError> {
        let (peers, versions) = checked(peers, versions)?;
        let from = self.current();
        self.peers = peers;
        self.versions = versions;
        self.position = 0;
        if matches!(self.state, State::Initiating { .. }) {
            self.state = State::Idle;
        }
        let to = self.current();
        let mut actions = Vec::new();
        if from != to {
            let line = self.reset_line(Row::CryptoMapModification);
            actions.push(self.record(
                now,
                from,
                to,
                MoveReason::Row(Row::CryptoMapModification),
                line,
            ));
        }
        Ok(actions)
    }

    /// Applies an input at `now`.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        match input {
            Input::Acquire => self.trigger(now, Trigger::Traffic),
            Input::ManualTrigger => self.trigger(now, Trigger::Manual),
            Input::Established(sa) => self.established(now, sa),
            Input::Outcome { sa, outcome } => self.outcome(now, sa, outcome),
            Input::CryptoMapModified => self.local(now, Row::CryptoMapModification),
            Input::ClearCryptoIkev2Sa => self.local(now, Row::ClearCryptoIkev2Sa),
            Input::ClearIpsecSa => self.local(now, Row::ClearIpsecSa),
            Input::HaSwitchover => self.switchover(now),
            Input::ClusterPeerIndex { peer_index, version } => {
                self.cluster(now, peer_index, version)
            }
        }
    }

    fn positions(&self) -> usize {
        self.peers.len().saturating_mul(self.versions.len())
    }

    fn target_at(&self, position: usize) -> Option<Target> {
        let per_peer = self.versions.len();
        let peer_index = position.checked_div(per_peer)?;
        let version = *self.versions.get(position.checked_rem(per_peer)?)?;
        let peer = *self.peers.get(peer_index)?;
        Some(Target { peer_index, peer, version })
    }

    fn position_of(&self, peer: IpAddr, version: IkeVersion) -> Option<usize> {
        let p = self.peers.iter().position(|&q| q == peer)?;
        let v = self.versions.iter().position(|&w| w == version)?;
        Some(p * self.versions.len() + v)
    }

    fn trigger(&mut self, now: Time, trigger: Trigger) -> Vec<Action> {
        if self.state != State::Idle {
            // An attempt in flight or an SA up: nothing to start.
            return Vec::new();
        }
        let target = self.current();
        tracing::debug!(
            target: IKE_COMMON,
            "{PREFIX}Crypto map {}: initiating {} SA to peer {} (Peer{}), {}.",
            self.name,
            target.version,
            target.peer,
            target.peer_index.saturating_add(1),
            match trigger {
                Trigger::Traffic => "triggered by traffic",
                Trigger::Manual => "triggered manually",
            }
        );
        self.state = State::Initiating { target, since: now, trigger };
        vec![Action::Initiate { target, trigger }]
    }

    fn established(&mut self, now: Time, sa: SaRef) -> Vec<Action> {
        let adopt = if sa.initiator {
            // Only the attempt this machine asked for: a late one it gave up on is not the
            // entry's tunnel any more.
            matches!(self.state, State::Initiating { target, .. }
                if target.peer == sa.peer && target.version == sa.version)
        } else {
            self.accepts(sa.peer)
        };
        let position = self.position_of(sa.peer, sa.version);
        let Some(position) = position.filter(|_| adopt) else {
            tracing::debug!(
                target: IKE_COMMON,
                "{PREFIX}Crypto map {}: {} SA with peer {} is not with the active peer {}; deleting it.",
                self.name,
                sa.version,
                sa.peer,
                self.current().peer
            );
            return vec![Action::Close(sa)];
        };
        self.state = State::Up { sa, since: now };
        let mut actions = Vec::new();
        if position != self.position {
            // Same peer (the responder rule), the other IKE version.
            let from = self.current();
            self.position = position;
            let to = self.current();
            let line = format!(
                "{PREFIX}Crypto map {}: {} SA up with peer {} (Peer{}), now the active peer.",
                self.name,
                to.version,
                to.peer,
                to.peer_index.saturating_add(1)
            );
            actions.push(self.record(now, from, to, MoveReason::Established, line));
        }
        actions
    }

    fn outcome(&mut self, now: Time, sa: SaRef, outcome: Outcome) -> Vec<Action> {
        let concerns = match self.state {
            State::Initiating { target, .. } => {
                sa.initiator && target.peer == sa.peer && target.version == sa.version
            }
            State::Up { sa: up, .. } => up == sa,
            State::Idle => false,
        };
        if !concerns {
            tracing::debug!(
                target: IKE_COMMON,
                "{PREFIX}Crypto map {}: ignoring {outcome:?} of a {} SA with peer {} that is \
                 not the entry's attempt or SA.",
                self.name,
                sa.version,
                sa.peer
            );
            return Vec::new();
        }
        if !outcome.ends_tunnel() {
            return Vec::new();
        }
        self.state = State::Idle;
        let mut actions = Vec::new();
        if outcome.leaves_ike_sa_up() {
            actions.push(Action::Close(sa));
        }
        let reason = outcome.row().map_or(MoveReason::Unlisted(outcome), MoveReason::Row);
        match outcome.transition() {
            // No peer traversal on the responder side: an SA the peer initiated ending does
            // not make this side try another peer.
            Transition::Next if sa.initiator => {
                let from = self.current();
                let next = self.position.saturating_add(1);
                self.position = if next >= self.positions() { 0 } else { next };
                let to = self.current();
                if from != to {
                    let line = format!(
                        "{PREFIX}Failed to initiate {} SA with peer {}, initiate to next peer {} \
                         configured in the multiple peer list of the crypto map.",
                        sa.version, sa.peer, to.peer
                    );
                    actions.push(self.record(now, from, to, reason, line));
                }
            }
            Transition::Next | Transition::NoChange => {}
            Transition::Reset => {
                let from = self.current();
                self.position = 0;
                let to = self.current();
                if from != to {
                    let line = match reason {
                        MoveReason::Row(row) => self.reset_line(row),
                        _ => format!("{PREFIX}Crypto map {}: peer index reset.", self.name),
                    };
                    actions.push(self.record(now, from, to, reason, line));
                }
            }
        }
        actions
    }

    /// The operator and configuration rows: all reset the index.
    fn local(&mut self, now: Time, row: Row) -> Vec<Action> {
        match (row, self.state) {
            // The clear commands end the SA or attempt there and then.
            (Row::ClearCryptoIkev2Sa | Row::ClearIpsecSa, _) => self.state = State::Idle,
            // A modification may leave an SA up (the appliance decides); an attempt in
            // flight is abandoned.
            (_, State::Initiating { .. }) => self.state = State::Idle,
            _ => {}
        }
        let from = self.current();
        self.position = 0;
        let to = self.current();
        if from == to {
            return Vec::new();
        }
        let line = self.reset_line(row);
        vec![self.record(now, from, to, MoveReason::Row(row), line)]
    }

    fn switchover(&mut self, now: Time) -> Vec<Action> {
        if let State::Up { .. } = self.state {
            // Row "HA switchover" (a condition after an SA): the SA survived the switchover
            // and the index stays with its peer.
            return Vec::new();
        }
        // The guideline: without an SA the new active starts from Peer1's address
        // "irrespective of the crypto map moving to the Peer2 IP address on the active".
        self.state = State::Idle;
        let from = self.current();
        self.position = 0;
        let to = self.current();
        if from == to {
            return Vec::new();
        }
        let line = format!(
            "{PREFIX}Crypto map {}: HA switchover, the new active unit starts from peer {} (Peer1).",
            self.name, to.peer
        );
        vec![self.record(now, from, to, MoveReason::HaNewActive, line)]
    }

    fn cluster(&mut self, now: Time, peer_index: usize, version: IkeVersion) -> Vec<Action> {
        let Some(position) =
            self.peers.get(peer_index).and_then(|&peer| self.position_of(peer, version))
        else {
            tracing::warn!(
                target: IKE_COMMON,
                "{PREFIX}Crypto map {}: the cluster's peer index {} ({version}) is not in this \
                 unit's crypto map; ignored.",
                self.name,
                peer_index.saturating_add(1)
            );
            return Vec::new();
        };
        if position == self.position {
            return Vec::new();
        }
        if matches!(self.state, State::Initiating { .. }) {
            // The cluster moved on: the attempt in flight is to a peer it left.
            self.state = State::Idle;
        }
        let from = self.current();
        self.position = position;
        let to = self.current();
        let line = format!(
            "{PREFIX}Crypto map {}: the cluster moved the peer index to peer {} (Peer{}, {}).",
            self.name,
            to.peer,
            to.peer_index.saturating_add(1),
            to.version
        );
        vec![self.record(now, from, to, MoveReason::Cluster, line)]
    }

    fn reset_line(&self, row: Row) -> String {
        format!(
            "{PREFIX}Crypto map {}: peer index reset to peer {} (Peer1): {}.",
            self.name,
            self.peers.first().map_or_else(String::new, IpAddr::to_string),
            row.text()
        )
    }

    /// Logs a move, keeps it for `show crypto map` and returns it as an action.
    fn record(
        &mut self,
        now: Time,
        from: Target,
        to: Target,
        reason: MoveReason,
        debug_line: String,
    ) -> Action {
        tracing::debug!(target: IKE_COMMON, "{debug_line}");
        let m = Move { at: now, from, to, reason, debug_line };
        self.last_move = Some(m.clone());
        Action::Moved(m)
    }
}

/// How the unit is clustered, for [`check_cluster_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterMode {
    /// Not clustered.
    Off,
    /// Centralized: the control node runs IKE; every node follows its peer index.
    Centralized,
    /// Distributed: IKE on every node.
    Distributed,
}

/// The configuration check: "Distributed clustering isn't supported when an IKEv2
/// multi-peer crypto map is configured." The error names the entry.
pub fn check_cluster_mode(entry: &CryptoMapEntry, mode: ClusterMode) -> Result<(), String> {
    if mode == ClusterMode::Distributed && entry.uses(IkeVersion::Ikev2) && entry.peers.len() > 1 {
        return Err(format!(
            "crypto map {} {}: an IKEv2 multi-peer crypto map ({} peers) is not supported with \
             distributed clustering; list a single peer or use centralized clustering",
            entry.name,
            entry.sequence,
            entry.peers.len()
        ));
    }
    Ok(())
}
