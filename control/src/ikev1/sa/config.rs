//! What one IKEv1 peer is configured with: addresses, identities, the pre-shared key, the
//! phase-1 policies, the phase-2 transform sets and proxy identities, DPD and the timers.
//! The appliance builds it from the crypto map, its tunnel group and the IKEv1 policies.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::crypto::WeakGroups;
use crate::ikev1::proposal::{EncapMode, Phase1Policy, Phase2Policy};
use crate::ikev1::wire::Identification;
use crate::ikev2::sa::Psk;
use crate::ikev2::selectors::PolicySelectors;

use super::cert::Ikev1Certificates;
use super::transaction::RemoteAccess;
use crate::retransmit::RetransmitPolicy;

/// Dead peer detection (RFC 3706): `isakmp keepalive threshold N retry M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dpd {
    /// Silence (no IKE message, no inbound ESP) before an R-U-THERE.
    pub threshold: Duration,
    /// Wait between unanswered R-U-THEREs.
    pub retry: Duration,
    /// Unanswered R-U-THEREs after the first before the peer is declared dead.
    pub retries: u32,
}

impl Default for Dpd {
    /// The ASA's defaults: 10 s threshold, 2 s retry; strongSwan-like five retries.
    fn default() -> Self {
        Dpd { threshold: Duration::from_secs(10), retry: Duration::from_secs(2), retries: 5 }
    }
}

/// Which phase-1 exchange the initiator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase1Mode {
    /// Main Mode (identity protection): six messages, identities encrypted.
    #[default]
    Main,
    /// Aggressive Mode: three messages, identities in the clear and, with a pre-shared key,
    /// a hash an eavesdropper can attack offline. Needs [`Ikev1Config::allow_aggressive`].
    Aggressive,
}

/// One IKEv1 peer's configuration.
#[derive(Clone)]
pub struct Ikev1Config {
    /// Our IKE address and port (500).
    pub local: SocketAddr,
    /// The peer's IKE address and port (for a responder: where the first message came from).
    pub peer: SocketAddr,
    /// Our phase-1 identity (ID_IPV4_ADDR of `local` by default).
    pub local_id: Identification,
    /// The identity the peer must present; `None`: any (the key is chosen by address).
    pub remote_id: Option<Identification>,
    /// The pre-shared key (`ikev1 pre-shared-key`); may be empty with certificates.
    pub psk: Psk,
    /// Certificate authentication (`authentication rsa-sig` policies, the tunnel group's
    /// trustpoint); `None`: pre-shared keys only.
    pub certificates: Option<Ikev1Certificates>,
    /// Legacy remote access: XAUTH and Mode Config as the server (concentrator) or client.
    pub remote_access: Option<RemoteAccess>,
    /// Phase-1 policies, by priority (lowest number first).
    pub phase1: Vec<Phase1Policy>,
    /// Phase-1 exchange we initiate with.
    pub mode: Phase1Mode,
    /// Accept (and allow initiating) Aggressive Mode with a pre-shared key. Off by default:
    /// its second message carries a hash of the key an eavesdropper can brute-force.
    pub allow_aggressive: bool,
    /// Phase-2 transform sets, in the crypto map's order.
    pub phase2: Vec<Phase2Policy>,
    /// The proxy identities: the crypto map ACL's entries (`local` our side). Quick Mode
    /// negotiates the first pair; the responder accepts any pair inside one of them.
    pub selectors: PolicySelectors,
    /// Dead peer detection; `None`: off (the R-U-THERE of the peer is still answered).
    pub dpd: Option<Dpd>,
    /// Retransmission of our messages that expect an answer.
    pub retransmit: RetransmitPolicy,
    /// Send INITIAL-CONTACT in the last phase-1 message (the peer then drops every older SA
    /// with us: we have rebooted, or this is the first SA).
    pub initial_contact: bool,
    /// Offer NAT traversal (RFC 3947 vendor ID and NAT-D payloads).
    pub nat_traversal: bool,
    /// Whether groups 1, 2 and 5 may be negotiated.
    pub weak_groups: WeakGroups,
    /// How long a rekeyed Quick Mode SA keeps carrying traffic after its successor is up,
    /// before we delete it: the peer may still be installing the new pair.
    pub rekey_overlap: Duration,
}

impl fmt::Debug for Ikev1Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ikev1Config")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .field("phase1", &self.phase1)
            .field("mode", &self.mode)
            .field("allow_aggressive", &self.allow_aggressive)
            .field("phase2", &self.phase2)
            .field("selectors", &self.selectors)
            .field("dpd", &self.dpd)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No phase-1 policy.
    #[error("no IKEv1 policy")]
    NoPhase1Policy,
    /// No transform set.
    #[error("no IKEv1 transform set")]
    NoTransformSet,
    /// Only tunnel mode is installed by the dataplane.
    #[error("transform set mode {0:?}: only tunnel mode is supported")]
    Mode(EncapMode),
    /// Aggressive Mode configured without the opt-in.
    #[error(
        "aggressive mode with a pre-shared key needs allow_aggressive (it exposes a crackable hash)"
    )]
    AggressiveNotAllowed,
    /// No proxy identities.
    #[error("no proxy identities (crypto map ACL entries)")]
    NoSelectors,
    /// Neither a pre-shared key nor a certificate.
    #[error("no pre-shared key and no certificate")]
    EmptyPsk,
}

impl Ikev1Config {
    /// Checks what the state machine relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.phase1.is_empty() {
            return Err(ConfigError::NoPhase1Policy);
        }
        if self.phase2.is_empty() {
            return Err(ConfigError::NoTransformSet);
        }
        if let Some(p) = self.phase2.iter().find(|p| p.mode != EncapMode::Tunnel) {
            return Err(ConfigError::Mode(p.mode));
        }
        if self.mode == Phase1Mode::Aggressive && !self.allow_aggressive {
            return Err(ConfigError::AggressiveNotAllowed);
        }
        if self.selectors.local.is_empty() || self.selectors.remote.is_empty() {
            return Err(ConfigError::NoSelectors);
        }
        if self.psk.as_bytes().is_empty() && self.certificates.is_none() {
            return Err(ConfigError::EmptyPsk);
        }
        Ok(())
    }
}
