//! What one IKE SA with one peer is configured with: addresses, identities, how each side
//! authenticates (pre-shared keys or certificates, [`AuthConfig`]), proposals, the first
//! Child SA's policy and the timers.
//!
//! These are the state machine's own types; the appliance builds them from the policy model
//! (crypto maps, tunnel groups, trustpoints, IKEv2 policies).

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::{DhGroup as CryptoDhGroup, EncrAlg, IntegAlg, PrfAlg, WeakGroups};
use crate::ikev2::proposal::LocalProposal;
use crate::ikev2::selectors::PolicySelectors;
use crate::ikev2::wire::{IdRepr, ProtocolId};
use crate::pki::{Credential, SignOptions, TrustStore, VerifyOptions};
use crate::pool::AddressPool;
use crate::retransmit::RetransmitPolicy;
use crate::time::Time;

/// The IKE SA's hard lifetime unless [`IkeSa::set_ike_lifetime`](super::IkeSa::set_ike_lifetime)
/// says otherwise: a day, the ASA's default (`lifetime seconds 86400`).
pub const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(86_400);

/// Liveness checks sent again after the first one before the peer is declared dead (with
/// [`PeerConfig::dpd_retry`]): five, as for IKEv1's R-U-THERE and the `[ike]`
/// retransmission default.
pub const DPD_RETRIES: u32 = 5;

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

/// How each side of the IKE SA authenticates: ours and the peer's are configured apart, so
/// mixed setups (we sign with a certificate, the peer uses a pre-shared key, or the other
/// way round) are possible. The default is pre-shared keys both ways, with the keys of
/// [`PeerConfig::psk_local`], [`PeerConfig::psk_remote`] and [`PeerConfig::psk_by_id`].
///
/// Cloning is cheap: credentials and trust stores are shared behind [`Arc`]s.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// How our AUTH payload is made.
    pub local: LocalAuth,
    /// How the peer's AUTH payload is checked.
    pub remote: RemoteAuth,
}

impl AuthConfig {
    /// Certificates on either side: then both roles send SIGNATURE_HASH_ALGORITHMS in
    /// IKE_SA_INIT (RFC 7427 section 4).
    pub fn uses_certificates(&self) -> bool {
        matches!(self.local, LocalAuth::Certificate(_))
            || matches!(self.remote, RemoteAuth::Certificate(_))
    }
}

/// How we authenticate to the peer.
#[derive(Debug, Clone, Default)]
pub enum LocalAuth {
    /// Shared key message integrity code with [`PeerConfig::psk_local`] (RFC 7296 section
    /// 2.15, AUTH method 2).
    #[default]
    Psk,
    /// A signature with the private key of a certificate (RFC 7427, RFC 4754, RFC 7296
    /// section 2.15), the certificate and its intermediates in CERT payloads.
    Certificate(LocalCertificate),
}

/// Our certificates and how we sign with them.
#[derive(Clone)]
pub struct LocalCertificate {
    /// Our credentials (certificate, intermediates, private key), the first the default:
    /// the first one under a CA that the peer's CERTREQ names is used, else the first (RFC
    /// 7296 section 3.7 lets us send a certificate nobody asked for). At least one.
    pub credentials: Vec<Arc<Credential>>,
    /// Which AUTH methods we may produce (RSA with SHA-1 is off by default).
    pub sign: SignOptions,
}

impl LocalCertificate {
    /// One credential, default signing options.
    pub fn new(credential: Arc<Credential>) -> LocalCertificate {
        LocalCertificate { credentials: vec![credential], sign: SignOptions::default() }
    }
}

/// Subjects only: the private keys stay out of logs.
impl fmt::Debug for LocalCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subjects: Vec<&str> =
            self.credentials.iter().map(|c| c.certificate().subject()).collect();
        f.debug_struct("LocalCertificate")
            .field("subjects", &subjects)
            .field("sign", &self.sign)
            .finish()
    }
}

/// How the peer must authenticate.
#[derive(Debug, Clone, Default)]
pub enum RemoteAuth {
    /// Shared key message integrity code, checked with [`PeerConfig::psk_remote`] (or the
    /// key of [`PeerConfig::psk_by_id`] for the identity received).
    #[default]
    Psk,
    /// A signature AUTH (methods 1, 9, 10, 14) with a certificate that chains to one of our
    /// CAs and names the identity the peer claims.
    Certificate(PeerCertificate),
}

/// What a certificate-authenticated peer is checked against.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    /// The CAs the peer's certificate must chain to; their key hashes go out in our
    /// CERTREQ payloads. At least one.
    pub trust: Arc<TrustStore>,
    /// Whether the peer's IDi/IDr must be a name its certificate carries.
    pub id_check: PeerIdCheck,
    /// Where the time for the certificates' validity periods comes from.
    pub clock: WallClock,
    /// Which AUTH methods we accept (RSA with SHA-1 is accepted by default).
    pub verify: VerifyOptions,
}

impl PeerCertificate {
    /// A peer checked against `trust` with `id_check`, the system clock, default options.
    pub fn new(trust: Arc<TrustStore>, id_check: PeerIdCheck) -> PeerCertificate {
        PeerCertificate {
            trust,
            id_check,
            clock: WallClock::System,
            verify: VerifyOptions::default(),
        }
    }
}

/// How the identity a certificate-authenticated peer claims (its IDi or IDr) must relate to
/// its certificate ([`Certificate::match_id`](crate::pki::Certificate::match_id)); the ASA's
/// `peer-id-validate`. [`PeerConfig::remote_id`], if set, must be equal to it in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerIdCheck {
    /// The certificate must name the identity (`peer-id-validate req`).
    #[default]
    Required,
    /// The certificate must not contradict the identity: an identity of a type the
    /// certificate holds no name of (e.g. an address ID and a certificate without address
    /// subjectAltNames) is accepted (`peer-id-validate cert`, "if supported").
    IfSupported,
    /// The identity is not compared with the certificate (`peer-id-validate nocheck`).
    NoCheck,
}

/// The UNIX time for certificate validity checks. The state machine's [`Time`] is only a
/// monotonic clock, so the wall clock is a separate input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WallClock {
    /// The host's clock (`SystemTime::now()`), read when a certificate chain is validated:
    /// the one place the state machine reads a clock, for deployments that run it on real
    /// time.
    #[default]
    System,
    /// UNIX seconds at [`Time::ZERO`] of the caller's time line: the UNIX time is this plus
    /// the [`Time`] passed in. Deterministic; for tests and for callers whose time line
    /// starts at a known UNIX instant.
    Offset(u64),
}

impl WallClock {
    /// The UNIX time at `now`, in seconds.
    pub fn unix_seconds(self, now: Time) -> u64 {
        match self {
            WallClock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            WallClock::Offset(base) => base.saturating_add(now.as_millis() / 1000),
        }
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
    /// Our identity (IDi or IDr). With certificate authentication it should be a name our
    /// certificate carries; an ID_DER_ASN1_DN that is not the subject of the certificate
    /// chosen for a peer (several credentials, one picked by CERTREQ) is replaced by that
    /// certificate's subject, so we never claim a DN our certificate contradicts.
    pub local_id: IdRepr,
    /// The identity the peer must present; `None` accepts any, and the key that checks its
    /// AUTH is then looked up in `psk_by_id` by the identity received (else `psk_remote`).
    pub remote_id: Option<IdRepr>,
    /// The key our AUTH payload is computed with ([`LocalAuth::Psk`]).
    pub psk_local: Psk,
    /// The key the peer's AUTH payload is checked with ([`RemoteAuth::Psk`]).
    pub psk_remote: Psk,
    /// Per-identity keys for a wildcard peer (`remote_id` `None`).
    pub psk_by_id: Vec<(IdRepr, Psk)>,
    /// IKE SA proposals, most preferred first (`protocol` must be IKE).
    pub ike_proposals: Vec<LocalProposal>,
    /// The first Child SA.
    pub child: ChildConfig,
    /// Retransmission schedule of our requests.
    pub retransmit: RetransmitPolicy,
    /// Liveness check after this long without traffic from the peer (zero: never): an
    /// authenticated IKE message or inbound ESP reported with
    /// [`IkeSa::note_inbound_traffic`](super::IkeSa::note_inbound_traffic) (the ASA's
    /// `isakmp keepalive threshold`).
    pub dpd_interval: Duration,
    /// Wait between unanswered liveness checks (`isakmp keepalive retry`): the check is
    /// sent again every `dpd_retry`, [`DPD_RETRIES`] times, and the peer is declared dead
    /// one `dpd_retry` after the last. Zero: the check is retransmitted on `retransmit`'s
    /// schedule like any other request.
    pub dpd_retry: Duration,
    /// IKE fragmentation (RFC 7383, the ASA's `crypto ikev2 fragmentation mtu N`):
    /// `Some(mtu)` announces IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT and, when the peer
    /// announced it too, sends encrypted messages whose IP datagram would exceed `mtu` as
    /// SKF fragments; `None` (`no crypto ikev2 fragmentation`) announces nothing, so every
    /// message goes whole (IP fragments it if it must).
    pub fragmentation: Option<usize>,
    /// Whether DH groups 1, 2 and 5 may be used (RFC 8247 section 2.4 advises against).
    pub allow_weak_dh: bool,
    /// How each side authenticates; the default is the pre-shared keys above.
    pub auth: AuthConfig,
    /// Remote access (RFC 7296 section 3.15, Configuration payload): as the responder,
    /// the pools and DNS servers a client's CFG_REQUEST is answered from; as the initiator,
    /// what we ask the responder for. `None`: site-to-site, CP payloads are ignored.
    pub remote_access: Option<RemoteAccess>,
}

/// A remote-access role of an IKE SA (the ASA's `tunnel-group NAME type remote-access`,
/// strongSwan's `rightsourceip` / `leftsourceip=%config`).
#[derive(Debug, Clone)]
pub enum RemoteAccess {
    /// We are the concentrator: clients get addresses from our pools.
    Server(RemoteAccessServer),
    /// We are a client and ask for an address (initiator only).
    Client(RemoteAccessClient),
}

/// The concentrator side of remote access.
#[derive(Debug, Clone)]
pub struct RemoteAccessServer {
    /// Address pools, tried in order per family (`address-pool`). Handles to pools shared
    /// by every IKE SA of the endpoint (see [`AddressPool`]); the lease a client gets lives
    /// as long as its IKE SA (an IKE SA rekey keeps it).
    pub pools: Vec<AddressPool>,
    /// DNS servers sent in INTERNAL_IP4_DNS / INTERNAL_IP6_DNS (`dns-server value`).
    pub dns_servers: Vec<IpAddr>,
    /// Domains sent in INTERNAL_DNS_DOMAIN (RFC 8598) to a client that asks for them
    /// (`default-domain value`).
    pub dns_domains: Vec<String>,
}

/// The client side of remote access: what our CFG_REQUEST asks for. The first Child SA's
/// local selectors should cover the address we may get (e.g. `0.0.0.0/0`); the responder
/// narrows them to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAccessClient {
    /// Ask for INTERNAL_IP4_ADDRESS (and INTERNAL_IP4_DNS).
    pub ipv4: bool,
    /// Ask for INTERNAL_IP6_ADDRESS (and INTERNAL_IP6_DNS).
    pub ipv6: bool,
}

impl Default for RemoteAccessClient {
    /// An IPv4 address and DNS servers.
    fn default() -> Self {
        RemoteAccessClient { ipv4: true, ipv6: false }
    }
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
    /// Certificate authentication of our side without a credential.
    #[error("certificate authentication without a certificate and private key")]
    NoCredential,
    /// Certificate authentication of the peer without a CA to check it with.
    #[error("certificate authentication of the peer without a CA certificate")]
    NoTrustAnchor,
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
        if let LocalAuth::Certificate(c) = &self.auth.local
            && c.credentials.is_empty()
        {
            return Err(ConfigError::NoCredential);
        }
        if let RemoteAuth::Certificate(c) = &self.auth.remote
            && c.trust.anchors().is_empty()
        {
            return Err(ConfigError::NoTrustAnchor);
        }
        Ok(())
    }
}
