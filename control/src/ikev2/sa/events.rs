//! What an [`IkeSa`](super::IkeSa) reports to its owner: datagrams to send and typed events.
//!
//! Every IKE SA ends with exactly one terminal event, [`Event::Closed`] or [`Event::Failed`],
//! preceded by a [`Event::ChildSaDown`] for each Child SA that was up.
//!
//! Rekeying is make-before-break: the new pair's [`Event::ChildSaUp`] (with
//! [`ChildSa::rekey_of`] naming the pair it replaces) always comes before the old pair's
//! [`Event::ChildSaDown`], which follows once the INFORMATIONAL that deletes it completed.
//! An IKE SA rekey moves no Child SA: it only reports [`Event::IkeSaRekeyed`].

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crate::crypto::{DhError, DirectionKeys};
use crate::ikev2::proposal::Selected;
use crate::ikev2::wire::{ExchangeType, IdRepr, NotifyType, PayloadType, TrafficSelector};
use crate::pki::AuthSignature;

use super::config::Mode;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Source (our configured IKE address).
    pub from: SocketAddr,
    /// The whole IKE message (no non-ESP marker: port 4500 framing is the caller's).
    pub bytes: Vec<u8>,
}

/// The IKE SA as established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// Whether we are the original initiator.
    pub initiator: bool,
    /// The peer's IKE address.
    pub peer: SocketAddr,
    /// The identity the peer authenticated as.
    pub peer_id: IdRepr,
    /// The IKE SA's transforms.
    pub transforms: Selected,
    /// The NAT detection hashes showed a NAT between us (RFC 7296 section 2.23).
    pub nat_detected: bool,
    /// How we authenticated to the peer.
    pub local_auth: AuthInfo,
    /// How the peer authenticated.
    pub remote_auth: AuthInfo,
    /// Remote access (RFC 7296 section 3.15): the internal addresses assigned in IKE_AUTH,
    /// by us to the client (responder) or by the concentrator to us (initiator); empty for
    /// site-to-site. An IKE SA rekey keeps them.
    pub virtual_ips: Vec<IpAddr>,
    /// Remote access: the DNS servers of the CFG_REPLY (INTERNAL_IP4_DNS,
    /// INTERNAL_IP6_DNS), sent or received; empty for site-to-site.
    pub internal_dns: Vec<IpAddr>,
    /// Remote access: the DNS search domains of the CFG_REPLY (INTERNAL_DNS_DOMAIN, RFC
    /// 8598), sent or received.
    pub internal_domains: Vec<String>,
}

/// How one side authenticated in IKE_AUTH (for `show crypto ikev2 sa detail` and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthInfo {
    /// A pre-shared key (AUTH method 2).
    Psk,
    /// A signature with a certificate's key.
    Certificate {
        /// The AUTH method and, for method 14, the signature algorithm.
        signature: AuthSignature,
        /// The certificate's subject (RFC 4514 string).
        subject: String,
    },
}

impl fmt::Display for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthInfo::Psk => f.write_str("pre-shared key"),
            AuthInfo::Certificate { signature, subject } => {
                write!(f, "certificate \"{subject}\" ({})", signature.method())
            }
        }
    }
}

/// A Child SA pair ready for the dataplane, its keys mapped to this side's directions.
/// Built only from an authenticated IKE SA with negotiated selectors (see
/// [`AuthVerified`](super::auth::AuthVerified) and [`TsNarrowed`](super::child::TsNarrowed)).
#[derive(Debug)]
pub struct ChildSa {
    /// The SPI the peer sends to us with (the one we chose).
    pub inbound_spi: u32,
    /// The SPI we send to the peer with (the one it chose).
    pub outbound_spi: u32,
    /// The negotiated ESP transforms.
    pub transforms: Selected,
    /// Keys of the inbound SA.
    pub inbound: DirectionKeys,
    /// Keys of the outbound SA.
    pub outbound: DirectionKeys,
    /// Our side's traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Hard lifetime in seconds (0: none).
    pub lifetime_seconds: u64,
    /// Hard lifetime in kilobytes (0: none).
    pub lifetime_kilobytes: u64,
    /// Encapsulation mode.
    pub mode: Mode,
    /// The inbound SPI of the pair this one replaces (RFC 7296 section 2.8), `None` for a
    /// new pair. The old pair stays installed until its [`Event::ChildSaDown`]: both carry
    /// traffic in the meantime (section 2.8.1: "a node MUST accept incoming packets on both
    /// SAs").
    pub rekey_of: Option<u32>,
}

/// Why an IKE SA ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// [`IkeSa::close`](super::IkeSa::close) was called.
    Local,
    /// The peer deleted the IKE SA (RFC 7296 section 1.4.1).
    PeerDeleted,
}

/// Why a negotiation or an IKE SA failed. Typed for the multi-peer failover logic, which
/// moves to the next peer on some causes and not on others.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// A request went unanswered through the whole retransmission schedule.
    PeerUnreachable {
        /// Sends of the last request, the first included.
        sends: u32,
        /// From its first send to giving up.
        waited: Duration,
    },
    /// No common proposal; the text names both sides' offers where this side knows them.
    NoProposalChosen(String),
    /// The peer's AUTH did not verify, or the peer rejected ours.
    AuthenticationFailed(String),
    /// No acceptable traffic selectors.
    TsUnacceptable,
    /// The peer wants a DH group we could not switch to (not configured, or a second
    /// INVALID_KE_PAYLOAD).
    InvalidKe {
        /// The group the peer asked for.
        requested: u16,
    },
    /// The peer broke the protocol.
    ProtocolError(ProtocolError),
    /// Remote access: no internal address could be assigned to the client (every pool of
    /// its family exhausted, or none configured), or the client was given none; the Child
    /// SA is refused with INTERNAL_ADDRESS_FAILURE (RFC 7296 section 3.15.4), the IKE SA
    /// stays. The text says which.
    InternalAddressFailure(String),
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::PeerUnreachable { sends, waited } => {
                write!(f, "peer unreachable after {sends} sends in {}s", waited.as_secs())
            }
            FailureCause::NoProposalChosen(s) => write!(f, "NO_PROPOSAL_CHOSEN: {s}"),
            FailureCause::AuthenticationFailed(s) => write!(f, "AUTHENTICATION_FAILED: {s}"),
            FailureCause::TsUnacceptable => f.write_str("TS_UNACCEPTABLE"),
            FailureCause::InvalidKe { requested } => {
                write!(f, "INVALID_KE_PAYLOAD: peer wants group {requested}")
            }
            FailureCause::ProtocolError(e) => write!(f, "protocol error: {e}"),
            FailureCause::InternalAddressFailure(s) => write!(f, "INTERNAL_ADDRESS_FAILURE: {s}"),
        }
    }
}

/// Which request of an established IKE SA went unanswered when it failed with
/// [`FailureCause::PeerUnreachable`]: the multi-peer failover table treats a dead peer found
/// by the liveness check (DPD: next peer) apart from a failed rekey (back to Peer1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnansweredRequest {
    /// The liveness check (an empty INFORMATIONAL).
    Liveness,
    /// A CREATE_CHILD_SA: a Child SA or IKE SA rekey, or an additional Child SA.
    CreateChildSa,
    /// Another INFORMATIONAL (a DELETE, an error notice, a Message ID sync).
    Informational,
}

/// A protocol violation by the peer (or an algorithm it chose that we cannot run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A required payload is missing.
    #[error("{exchange} without {payload}")]
    MissingPayload {
        /// The exchange.
        exchange: ExchangeType,
        /// The payload it lacked.
        payload: PayloadType,
    },
    /// The peer answered with an error notify we have no specific handling for.
    #[error("peer sent {0}")]
    ErrorNotify(NotifyType),
    /// The responder's SA payload is not a valid choice from our offer.
    #[error("bad proposal choice: {0}")]
    BadChoice(String),
    /// The KE payload's group differs from the negotiated one.
    #[error("KE payload for group {got}, negotiated {expected}")]
    KeGroupMismatch {
        /// Negotiated group.
        expected: u16,
        /// Group of the KE payload.
        got: u16,
    },
    /// The peer's public value is invalid.
    #[error("key exchange: {0}")]
    KeyExchange(DhError),
    /// A negotiated algorithm this implementation cannot run.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An authenticated message whose content did not parse.
    #[error("malformed message: {0}")]
    Malformed(crate::ikev2::wire::Error),
}

/// Which SAs are duplicates of each other (see [`Event::DuplicateReduced`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuplicateSa {
    /// Two IKE SAs with the same peer (crossing IKE_SA_INITs): their (initiator,
    /// responder) SPIs.
    IkeSa {
        /// The one deleted.
        redundant: (u64, u64),
        /// The one kept.
        survivor: (u64, u64),
    },
    /// Two Child SA pairs with the same traffic selectors with the same peer, not a rekey:
    /// their (inbound, outbound) SPIs.
    ChildSa {
        /// The pair deleted.
        redundant: (u32, u32),
        /// The pair kept.
        survivor: (u32, u32),
    },
}

/// A duplicate SA found, and reduced to one (RFC 7296 section 2.8: crossing initiations
/// may create duplicates, and either side may delete one). Both peers rank duplicates by
/// the nonces of the exchanges that made them, the lowest-ranked is redundant, and the
/// side that initiated its exchange deletes it with an INFORMATIONAL DELETE once the
/// survivor is installed (make before break); the other side reports the same finding
/// with `deleted_by_us` false and sees the DELETE come, or deletes it itself after
/// [`DUPLICATE_GRACE`](super::DUPLICATE_GRACE) if the peer does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duplicate {
    /// What is redundant and what survives.
    pub sa: DuplicateSa,
    /// The IKE SA that keeps the survivor: the event's own for twin pairs of one IKE SA.
    pub survivor_sa: super::endpoint::SaHandle,
    /// We delete the redundant SA; false: the peer does, by the same rule.
    pub deleted_by_us: bool,
}

/// What an IKE SA reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The IKE SA is authenticated and up.
    Established(IkeSaInfo),
    /// A Child SA to install in the dataplane.
    ChildSaUp(ChildSa),
    /// A Child SA negotiation failed, ours or the peer's: the Child SA requested with the
    /// IKE SA, one asked for with CREATE_CHILD_SA, or the rekeying of one (whose old pair
    /// then stays until its hard lifetime). The IKE SA stays up (RFC 7296 section 2.21.3).
    ChildSaFailed(FailureCause),
    /// A Child SA to remove from the dataplane.
    ChildSaDown {
        /// Its inbound SPI.
        inbound_spi: u32,
        /// Its outbound SPI.
        outbound_spi: u32,
    },
    /// The IKE SA was rekeyed (RFC 7296 section 2.18): it now runs under new SPIs and keys
    /// (`info`), its Child SAs unchanged. Messages for the old SPIs are still handled until
    /// the old SA is deleted; [`IkeSa::routes`](super::IkeSa::routes) lists every SPI pair
    /// to route by.
    IkeSaRekeyed {
        /// The initiator SPI of the SA replaced.
        old_spi_i: u64,
        /// The responder SPI of the SA replaced.
        old_spi_r: u64,
        /// The new SA.
        info: IkeSaInfo,
    },
    /// The IKE SA ended normally (terminal).
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// The negotiation or the IKE SA failed (terminal).
    Failed(FailureCause),
    /// A duplicate SA was found (reported by [`IkeEndpoint`](super::IkeEndpoint), for the
    /// IKE SA holding the redundant one; once per redundant SA). Its end follows as usual:
    /// [`Event::ChildSaDown`], or the IKE SA's terminal event.
    DuplicateReduced(Duplicate),
}
