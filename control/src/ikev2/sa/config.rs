//! What one IKE SA with one peer is configured with: addresses, identities, pre-shared keys,
//! proposals, the first Child SA's policy and the timers.
//!
//! These are the state machine's own types; the appliance builds them from the policy model
//! (crypto maps, tunnel groups, IKEv2 policies).

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::{DhGroup as CryptoDhGroup, EncrAlg, IntegAlg, PrfAlg, WeakGroups};
use crate::ikev2::proposal::LocalProposal;
use crate::ikev2::selectors::PolicySelectors;
use crate::ikev2::wire::{IdRepr, ProtocolId};
use crate::retransmit::RetransmitPolicy;

/// The IKE SA's hard lifetime unless [`IkeSa::set_ike_lifetime`](super::IkeSa::set_ike_lifetime)
/// says otherwise: a day, the ASA's default (`lifetime seconds 86400`).
pub const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(86_400);

/// A pre-shared key: zeroized on drop, never printed.
#[derive(Clone)]
pub struct Psk(Zeroizing<Vec<u8>>);

impl Psk {
    /// Copies the key bytes.
    pub fn new(bytes: &[u8]) -> Psk {
        Psk(Zeroizing::new(bytes.to_vec()))
    }

    /// The key bytes, for the AUTH computation only.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// Child SA encapsulation mode. Only tunnel mode is negotiated (no USE_TRANSPORT_MODE,
/// RFC 7296 section 1.3.1): the concentrator terminates site-to-site tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ESP tunnel mode (RFC 4303 section 3.1.2).
    Tunnel,
}

/// The first Child SA's policy: the crypto map's transform sets and ACL.
#[derive(Debug, Clone)]
pub struct ChildConfig {
    /// ESP proposals, most preferred first (`protocol` must be ESP).
    pub esp_proposals: Vec<LocalProposal>,
    /// Protected traffic: `local` is our side, `remote` the peer's.
    pub selectors: PolicySelectors,
    /// Hard lifetime in seconds (0: none).
    pub lifetime_seconds: u64,
    /// Hard lifetime in kilobytes (0: none).
    pub lifetime_kilobytes: u64,
    /// Encapsulation mode.
    pub mode: Mode,
}

/// One peer's IKE SA configuration.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Our IKE address and port.
    pub local_addr: SocketAddr,
    /// The peer's IKE address and port (for a responder: where the request came from).
    pub remote_addr: SocketAddr,
    /// Our identity (IDi or IDr).
    pub local_id: IdRepr,
    /// The identity the peer must present; `None` accepts any, and the key that checks its
    /// AUTH is then looked up in `psk_by_id` by the identity received (else `psk_remote`).
    pub remote_id: Option<IdRepr>,
    /// The key our AUTH payload is computed with.
    pub psk_local: Psk,
    /// The key the peer's AUTH payload is checked with.
    pub psk_remote: Psk,
    /// Per-identity keys for a wildcard peer (`remote_id` `None`).
    pub psk_by_id: Vec<(IdRepr, Psk)>,
    /// IKE SA proposals, most preferred first (`protocol` must be IKE).
    pub ike_proposals: Vec<LocalProposal>,
    /// The first Child SA.
    pub child: ChildConfig,
    /// Retransmission schedule of our requests.
    pub retransmit: RetransmitPolicy,
    /// Liveness check after this long without traffic from the peer (zero: never).
    pub dpd_interval: Duration,
    /// Whether DH groups 1, 2 and 5 may be used (RFC 8247 section 2.4 advises against).
    pub allow_weak_dh: bool,
}

/// A configuration the state machine cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No IKE proposal, or one without encryption, PRF or DH group.
    #[error("IKE proposal {0} is incomplete")]
    IncompleteIkeProposal(usize),
    /// No ESP proposal, or one without encryption.
    #[error("ESP proposal {0} is incomplete")]
    IncompleteEspProposal(usize),
    /// A proposal's protocol is not the one its list is for.
    #[error("proposal {0} has the wrong protocol")]
    WrongProtocol(usize),
    /// An algorithm the crypto suite does not implement.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// A weak DH group without `allow_weak_dh`.
    #[error("weak DH group {0} not allowed")]
    WeakGroup(u16),
    /// Empty traffic selectors.
    #[error("the child policy has no traffic selectors")]
    NoSelectors,
}

impl PeerConfig {
    /// The weak-group rule to hand the DH code.
    pub(crate) fn weak(&self) -> WeakGroups {
        if self.allow_weak_dh { WeakGroups::Allow } else { WeakGroups::Reject }
    }

    /// The key that checks the peer's AUTH, given the identity it sent (section 2.15:
    /// the key is chosen by the peer's identity).
    pub(crate) fn remote_psk(&self, id: &IdRepr) -> &Psk {
        if self.remote_id.is_none()
            && let Some((_, psk)) = self.psk_by_id.iter().find(|(i, _)| i == id)
        {
            return psk;
        }
        &self.psk_remote
    }

    /// Checks that every configured IKE algorithm is implemented, so that anything the
    /// negotiation picks can be run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ike_proposals.is_empty() {
            return Err(ConfigError::IncompleteIkeProposal(0));
        }
        for (i, p) in self.ike_proposals.iter().enumerate() {
            if p.protocol != ProtocolId::Ike {
                return Err(ConfigError::WrongProtocol(i));
            }
            if p.encr.is_empty() || p.prf.is_empty() || p.dh.is_empty() {
                return Err(ConfigError::IncompleteIkeProposal(i));
            }
            for &(id, bits) in &p.encr {
                EncrAlg::from_iana(id.into(), bits)
                    .map_err(|e| ConfigError::Unsupported(e.to_string()))?;
            }
            for &prf in &p.prf {
                PrfAlg::from_iana(prf.into())
                    .map_err(|e| ConfigError::Unsupported(e.to_string()))?;
            }
            for &integ in p.integ.iter().filter(|&&i| i != crate::ikev2::wire::IntegId::None) {
                IntegAlg::from_iana(integ.into())
                    .map_err(|e| ConfigError::Unsupported(e.to_string()))?;
            }
            for &g in &p.dh {
                let g = CryptoDhGroup::from_iana(g.into())
                    .map_err(|e| ConfigError::Unsupported(e.to_string()))?;
                g.check_allowed(self.weak()).map_err(|_| ConfigError::WeakGroup(g.iana()))?;
            }
        }
        if self.child.esp_proposals.is_empty() {
            return Err(ConfigError::IncompleteEspProposal(0));
        }
        for (i, p) in self.child.esp_proposals.iter().enumerate() {
            if p.protocol != ProtocolId::Esp {
                return Err(ConfigError::WrongProtocol(i));
            }
            if p.encr.is_empty() {
                return Err(ConfigError::IncompleteEspProposal(i));
            }
        }
        if self.child.selectors.local.is_empty() || self.child.selectors.remote.is_empty() {
            return Err(ConfigError::NoSelectors);
        }
        Ok(())
    }
}
