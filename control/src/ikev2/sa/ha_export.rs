//! Stateful failover of IKEv2 SAs (issue 9): an established [`IkeSa`] as the replicated
//! records of [`crate::ha::record`] ([`IkeSa::export`]), an established `IkeSa` rebuilt from
//! them on the standby unit ([`IkeSa::import`]), and IKEv2 Message ID synchronisation (RFC
//! 6311) so that the peer accepts the new active's requests.
//!
//! The rebuilt SA keeps the IKE SA's SPIs, keys and both Message ID counters and knows its
//! Child SAs (SPIs, transforms, keys, selectors, lifetimes), so the peer sees no
//! renegotiation: liveness checks, Child SA rekeys, new Child SAs, DELETEs and IKE SA rekeys
//! carry on. What is not replicated is lost at a takeover: an exchange in flight on the old
//! active (a rekey half done, a request answered but whose answer the peer did not get), an
//! old IKE SA generation still being deleted, and the cached last answer (a retransmitted
//! request of the peer is dropped, not answered again).
//!
//! Message IDs (RFC 7296 section 2.3). The active may have sent requests after its last
//! replication, so the peer may expect a higher ID than the record says. A responder with
//! the default window of one accepts only exactly the ID it expects (ours drops the others,
//! strongSwan too): jumping ahead blindly makes every request of the new active be dropped.
//! Hence:
//! - where both sides announced IKEV2_MESSAGE_ID_SYNC_SUPPORTED in IKE_AUTH (we do when
//!   [`IkeSa::set_message_id_sync`] turned it on), the imported SA first sends an
//!   INFORMATIONAL in Message ID 0 carrying IKEV2_MESSAGE_ID_SYNC (nonce, the ID of our next
//!   request M1, the ID we expect next P1; RFC 6311 section 4). `msg_id_jump` is added to
//!   M1, so it covers requests sent since the last replication; the peer answers with the
//!   higher of each pair (section 5.1) and both sides continue from there. We answer such a
//!   request too, as the peer of a failed-over unit;
//! - otherwise `msg_id_jump` should be 0 (it still applies, for a peer with a larger window),
//!   and the appliance should replicate the IKE SA after each request it sends.
//!
//! The jump never applies to responses: they carry the peer's request's ID.
//!
//! Not carried over: the ESP sequence numbers and replay windows (the dataplane's; the
//! exported Child SA records hold zeros for the appliance to overlay with
//! [`Record::SeqUpdate`](crate::ha::Record::SeqUpdate) and
//! [`Record::ReplayUpdate`](crate::ha::Record::ReplayUpdate)), volume lifetimes used (the
//! record's `hard_kb` is the configured volume). How each side authenticated is carried for
//! the SA's reports only (the peer is not authenticated again): a certificate subject longer
//! than [`MAX_SUBJECT_LEN`] bytes is cut.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use rand_core::CryptoRng;

use crate::crypto::{DirectionKeys, SecretBytes};
use crate::ha::record::{
    ChildLifetimes, ChildPhase, ChildSaRecord, ChildTransforms, IkeExtensions, IkeKeys as RecKeys,
    IkeSaRecord, IkeTransforms, LocalAuthRecord, MAX_PEER_ID_LEN, MAX_SUBJECT_LEN,
    RemoteAuthRecord, ReplayState, Selector, SignatureRecord,
};
use crate::ikev2::proposal::Selected;
use crate::ikev2::wire::{
    DhGroup, EncrId, EsnId, ExchangeType, IdRepr, IdType, IntegId, NotifyRepr, NotifyType, Payload,
    PrfId, ProtocolId, TrafficSelector,
};
use crate::log::IKEV2_PROTOCOL;
use crate::pki::{AuthSignature, HashAlg, SignatureScheme};
use crate::time::Time;

use super::auth::AuthVerified;
use super::children::{Child, ChildState, PairKeys};
use super::config::{ConfigError, LocalAuth, PeerConfig, RemoteAccess, RemoteAuth};
use super::context::{Context, Inbound, MidSyncSupport, State};
use super::established::{Established, Queued};
use super::events::{AuthInfo, ChildSa, IkeSaInfo};
use super::exchange::Purpose;
use super::keys::{IkeAlgs, IkeKeys, esp_encr_key_len, esp_integ_key_len};
use super::{IkeSa, protect};

/// IKEV2_MESSAGE_ID_SYNC_SUPPORTED (RFC 6311 section 3).
pub(crate) const MESSAGE_ID_SYNC_SUPPORTED: NotifyType = NotifyType::Unknown(16420);
/// IKEV2_MESSAGE_ID_SYNC (RFC 6311 section 4).
pub(crate) const MESSAGE_ID_SYNC: NotifyType = NotifyType::Unknown(16422);

/// Why replicated records cannot be rebuilt into an IKE SA under a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The configuration itself is unusable.
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    /// The record is of another IKE version.
    #[error("IKE version {0} record, not IKEv2")]
    Version(u8),
    /// An IKE SPI is zero.
    #[error("IKE SA record with a zero SPI")]
    ZeroSpi,
    /// The record's peer is not the configured one.
    #[error("record's peer {record} is not the configured {config}")]
    PeerMismatch {
        /// The record's peer address.
        record: SocketAddr,
        /// The configured one.
        config: SocketAddr,
    },
    /// The record's local address is not the configured one.
    #[error("record's local address {record} is not the configured {config}")]
    LocalMismatch {
        /// The record's local address.
        record: SocketAddr,
        /// The configured one.
        config: SocketAddr,
    },
    /// The IKE SA's transforms are in none of the configured IKE proposals.
    #[error("IKE transforms {0:?} are not in the configured proposals")]
    IkeTransforms(IkeTransforms),
    /// A Child SA's transforms are in none of the configured ESP proposals.
    #[error(
        "Child SA {spi:08x}: ESP transforms {transforms:?} are not in the configured proposals"
    )]
    ChildTransforms {
        /// Its inbound SPI.
        spi: u32,
        /// Its transforms.
        transforms: ChildTransforms,
    },
    /// Key lengths that do not fit the transforms.
    #[error("{0}: key lengths do not fit the transforms")]
    KeyLength(&'static str),
    /// A Child SA record of another IKE SA.
    #[error("Child SA {0:08x} belongs to another IKE SA")]
    ForeignChild(u32),
    /// Two Child SA records with the same inbound SPI.
    #[error("Child SA {0:08x} given twice")]
    DuplicateChild(u32),
    /// A Child SA whose SPIs are reserved (RFC 4303 section 2.1).
    #[error("Child SA {0:08x} with a reserved SPI")]
    ChildSpi(u32),
    /// The record's authentication (pre-shared key, certificate, signature) does not fit
    /// the configuration's, for our side (`"local"`) or the peer's (`"remote"`).
    #[error("{0} authentication does not fit the configuration")]
    AuthMismatch(&'static str),
    /// A remote-access client's address is in none of the configuration's pools, or this
    /// unit has leased it to someone else.
    #[error("the client's address {0} cannot be leased here (not in a pool, or taken)")]
    Lease(IpAddr),
}

fn signature_record(s: AuthSignature) -> SignatureRecord {
    let hash = |h: HashAlg| u8::try_from(h.iana_id()).unwrap_or(0);
    let (scheme, h, salt_len) = match s {
        AuthSignature::DigitalSignature(SignatureScheme::RsaPkcs1(h)) => (1, hash(h), 0),
        AuthSignature::DigitalSignature(SignatureScheme::RsaPss { hash: h, salt_len }) => {
            (2, hash(h), salt_len)
        }
        AuthSignature::DigitalSignature(SignatureScheme::Ecdsa(h)) => (3, hash(h), 0),
        AuthSignature::RsaSha1
        | AuthSignature::EcdsaP256Sha256
        | AuthSignature::EcdsaP384Sha384 => (0, 0, 0),
    };
    SignatureRecord { method: u8::from(s.method()), scheme, hash: h, salt_len }
}

fn signature_from(r: SignatureRecord) -> Option<AuthSignature> {
    let hash = || HashAlg::from_iana_id(u16::from(r.hash));
    Some(match (r.method, r.scheme) {
        (1, 0) => AuthSignature::RsaSha1,
        (9, 0) => AuthSignature::EcdsaP256Sha256,
        (10, 0) => AuthSignature::EcdsaP384Sha384,
        (14, 1) => AuthSignature::DigitalSignature(SignatureScheme::RsaPkcs1(hash()?)),
        (14, 2) => AuthSignature::DigitalSignature(SignatureScheme::RsaPss {
            hash: hash()?,
            salt_len: r.salt_len,
        }),
        (14, 3) => AuthSignature::DigitalSignature(SignatureScheme::Ecdsa(hash()?)),
        _ => return None,
    })
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn local_auth_record(info: &AuthInfo, cfg: &PeerConfig) -> LocalAuthRecord {
    match (info, &cfg.auth.local) {
        (AuthInfo::Certificate { signature, subject }, LocalAuth::Certificate(lc)) => {
            let i = lc.credentials.iter().position(|c| c.certificate().subject() == subject);
            LocalAuthRecord::Certificate {
                signature: signature_record(*signature),
                credential: i.and_then(|i| u8::try_from(i).ok()).unwrap_or(0),
            }
        }
        _ => LocalAuthRecord::Psk,
    }
}

fn remote_auth_record(info: &AuthInfo) -> RemoteAuthRecord {
    match info {
        AuthInfo::Certificate { signature, subject } => RemoteAuthRecord::Certificate {
            signature: signature_record(*signature),
            subject: cut(subject, MAX_SUBJECT_LEN),
        },
        AuthInfo::Psk => RemoteAuthRecord::Psk,
    }
}

/// How each side authenticated, as the SA reports it, if it fits the configuration.
fn auth_infos(ike: &IkeSaRecord, cfg: &PeerConfig) -> Result<(AuthInfo, AuthInfo), ImportError> {
    let local = match (&ike.local_auth, &cfg.auth.local) {
        (LocalAuthRecord::Psk, LocalAuth::Psk) => AuthInfo::Psk,
        (LocalAuthRecord::Certificate { signature, credential }, LocalAuth::Certificate(lc)) => {
            let c = lc.credentials.get(usize::from(*credential));
            match (c, signature_from(*signature)) {
                (Some(c), Some(signature)) => AuthInfo::Certificate {
                    signature,
                    subject: c.certificate().subject().to_owned(),
                },
                _ => return Err(ImportError::AuthMismatch("local")),
            }
        }
        _ => return Err(ImportError::AuthMismatch("local")),
    };
    let remote = match (&ike.remote_auth, &cfg.auth.remote) {
        (RemoteAuthRecord::Psk, RemoteAuth::Psk) => AuthInfo::Psk,
        (RemoteAuthRecord::Certificate { signature, subject }, RemoteAuth::Certificate(_)) => {
            let signature =
                signature_from(*signature).ok_or(ImportError::AuthMismatch("remote"))?;
            AuthInfo::Certificate { signature, subject: subject.clone() }
        }
        _ => return Err(ImportError::AuthMismatch("remote")),
    };
    Ok((local, remote))
}

/// Seconds from `now` to `deadline`, rounded up, at least 1 for one not yet run (0 is "no
/// deadline" in the records); 0 for none.
fn secs_left(now: Time, deadline: Option<Time>) -> u32 {
    let Some(t) = deadline else { return 0 };
    let ms = t.since(now).as_millis();
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1)
}

/// The deadline `secs` from `now` (0: none).
fn deadline(now: Time, secs: u32) -> Option<Time> {
    (secs != 0).then(|| now + Duration::from_secs(u64::from(secs)))
}

fn ike_transforms(s: &Selected) -> IkeTransforms {
    IkeTransforms {
        encr: s.encr.0.into(),
        encr_key_bits: s.encr.1.unwrap_or(0),
        prf: s.prf.map_or(0, u16::from),
        integ: s.integ.map_or(0, u16::from),
        dh: s.dh.map_or(0, u16::from),
    }
}

fn child_transforms(s: &Selected) -> ChildTransforms {
    ChildTransforms {
        encr: s.encr.0.into(),
        encr_key_bits: s.encr.1.unwrap_or(0),
        integ: s.integ.map_or(0, u16::from),
        esn: s.esn == Some(EsnId::Yes),
        dh: 0,
    }
}

fn bits(b: u16) -> Option<u16> {
    (b != 0).then_some(b)
}

/// The IKE proposal the transforms form, if the configuration has one that contains them.
fn ike_selected(cfg: &PeerConfig, t: IkeTransforms) -> Option<Selected> {
    let encr = (EncrId::from(t.encr), bits(t.encr_key_bits));
    let prf = PrfId::from(t.prf);
    let integ = (t.integ != 0).then(|| IntegId::from(t.integ));
    let dh = DhGroup::from(t.dh);
    let ok = cfg.ike_proposals.iter().any(|p| {
        p.encr.contains(&encr)
            && p.prf.contains(&prf)
            && p.dh.contains(&dh)
            && integ.is_none_or(|i| p.integ.contains(&i))
    });
    ok.then(|| Selected {
        number: 1,
        protocol: ProtocolId::Ike,
        spi: Vec::new(),
        encr,
        prf: Some(prf),
        integ,
        dh: Some(dh),
        esn: None,
    })
}

/// The ESP proposal the transforms form, if the configuration's Child SA policy has one
/// that contains them (its PFS groups are not part of an installed SA).
fn child_selected(cfg: &PeerConfig, t: ChildTransforms, outbound: u32) -> Option<Selected> {
    let encr = (EncrId::from(t.encr), bits(t.encr_key_bits));
    let integ = (t.integ != 0).then(|| IntegId::from(t.integ));
    let esn = if t.esn { EsnId::Yes } else { EsnId::No };
    let ok = cfg.child.esp_proposals.iter().any(|p| {
        p.encr.contains(&encr)
            && integ.is_none_or(|i| p.integ.contains(&i))
            && (p.esn.contains(&esn) || (p.esn.is_empty() && !t.esn))
    });
    ok.then(|| Selected {
        number: 1,
        protocol: ProtocolId::Esp,
        spi: outbound.to_be_bytes().to_vec(),
        encr,
        prf: None,
        integ,
        dh: None,
        esn: Some(esn),
    })
}

/// The record's selectors (address ranges only: other selector types are not negotiated).
fn to_record(ts: &[TrafficSelector]) -> Vec<Selector> {
    ts.iter()
        .filter_map(|s| match *s {
            TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => {
                Some(Selector {
                    start: IpAddr::V4(start),
                    end: IpAddr::V4(end),
                    protocol: ip_protocol,
                    start_port,
                    end_port,
                })
            }
            TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => {
                Some(Selector {
                    start: IpAddr::V6(start),
                    end: IpAddr::V6(end),
                    protocol: ip_protocol,
                    start_port,
                    end_port,
                })
            }
            TrafficSelector::Other { .. } => None,
        })
        .collect()
}

fn from_record(ts: &[Selector]) -> Vec<TrafficSelector> {
    ts.iter()
        .filter_map(|s| match (s.start, s.end) {
            (IpAddr::V4(start), IpAddr::V4(end)) => Some(TrafficSelector::Ipv4 {
                ip_protocol: s.protocol,
                start_port: s.start_port,
                end_port: s.end_port,
                start,
                end,
            }),
            (IpAddr::V6(start), IpAddr::V6(end)) => Some(TrafficSelector::Ipv6 {
                ip_protocol: s.protocol,
                start_port: s.start_port,
                end_port: s.end_port,
                start,
                end,
            }),
            _ => None,
        })
        .collect()
}

/// Encryption key then integrity key, as the record lays out one direction.
fn join(encr: &SecretBytes, integ: &SecretBytes) -> SecretBytes {
    // Exactly sized, so the vector never reallocates and leaves no unzeroized copy.
    let mut v = Vec::with_capacity(encr.len() + integ.len());
    v.extend_from_slice(encr.as_bytes());
    v.extend_from_slice(integ.as_bytes());
    SecretBytes::from_vec(v)
}

fn split(key: &SecretBytes, encr_len: usize) -> (SecretBytes, SecretBytes) {
    let (e, i) = key.as_bytes().split_at(encr_len.min(key.len()));
    (SecretBytes::from_slice(e), SecretBytes::from_slice(i))
}

fn id_bytes(id: &IdRepr) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + id.data.len());
    v.push(u8::from(id.id_type));
    v.extend_from_slice(&id.data);
    // Longer identities are not replicated (the peer's address stands in on import).
    if v.len() > MAX_PEER_ID_LEN { Vec::new() } else { v }
}

fn id_from(bytes: &[u8], cfg: &PeerConfig) -> IdRepr {
    match bytes.split_first() {
        Some((t, data)) => IdRepr { id_type: IdType::from(*t), data: data.to_vec() },
        None => cfg.remote_id.clone().unwrap_or_else(|| match cfg.remote_addr.ip() {
            IpAddr::V4(a) => IdRepr::ipv4(a),
            IpAddr::V6(a) => IdRepr::ipv6(a),
        }),
    }
}

/// Whether the record's address fits the configured one: the same IP unless the
/// configuration leaves it unspecified (a responder configuration for any peer); the port
/// may differ (NAT traversal moves to 4500).
fn address_fits(record: SocketAddr, config: SocketAddr) -> bool {
    config.ip().is_unspecified() || record.ip() == config.ip()
}

impl IkeSa {
    /// The established IKE SA as HA records: the IKE SA (SPIs, role, addresses, IANA
    /// transforms, the seven keys, both Message ID counters, the lifetimes left at `now`,
    /// NAT, the peer's identity, fragmentation and RFC 6311 support) and one record per
    /// Child SA (SPIs, transforms, keys, selectors, lifetimes left, phase). `None` unless
    /// established.
    ///
    /// How each side authenticated goes along for the SA's reports (our certificate by its
    /// index in the configuration, the peer's subject cut to
    /// [`MAX_SUBJECT_LEN`] bytes).
    ///
    /// The records' `id` / `ike_id` is our IKE SPI; an owner that keys records by its own
    /// handle overwrites them. ESP sequence numbers and replay windows are zero (the
    /// dataplane's to fill), `hard_kb` is the configured volume and `soft_kb` 0. A deadline
    /// that already fired (a rekey under way) is exported as 1 s, so the new active rekeys
    /// soon after a takeover. For the operator and the failover link only: it holds keys.
    pub fn export(&self, now: Time) -> Option<(IkeSaRecord, Vec<ChildSaRecord>)> {
        let State::Established(est) = &self.state else { return None };
        let cx = &self.cx;
        let k = &est.keys;
        let [sk_ai, sk_ar, sk_ei, sk_er] = k.sk_a_e();
        let id = self.local_spi();
        let ike_soft = match (est.ike_soft, est.ike_hard) {
            (None, Some(h)) if h > now => Some(now + Duration::from_secs(1)),
            (s, _) => s,
        };
        let ike = IkeSaRecord {
            id,
            version: 2,
            spi_i: cx.spi_i,
            spi_r: cx.spi_r,
            initiator: cx.initiator,
            local: cx.cfg.local_addr,
            peer: cx.cfg.remote_addr,
            transforms: ike_transforms(&est.info.transforms),
            keys: RecKeys {
                sk_d: k.sk_d.clone(),
                sk_ai: sk_ai.clone(),
                sk_ar: sk_ar.clone(),
                sk_ei: sk_ei.clone(),
                sk_er: sk_er.clone(),
                sk_pi: k.sk_pi.clone(),
                sk_pr: k.sk_pr.clone(),
            },
            // Counting a request in flight: with RFC 6311 the peer takes the higher of this
            // and what it expects, so it is never too low.
            next_send_msg_id: cx.requests.next_id(),
            next_recv_msg_id: cx.responses.expected(),
            soft_lifetime_secs: secs_left(now, ike_soft),
            hard_lifetime_secs: secs_left(now, est.ike_hard),
            crypto_map: None,
            nat: est.info.nat_detected,
            peer_id: id_bytes(&est.info.peer_id),
            extensions: IkeExtensions {
                fragmentation: cx.frag.peer_supports,
                message_id_sync: cx.mid_sync.both(),
                message_id_sync_used: cx.mid_sync.used,
            },
            local_auth: local_auth_record(&est.info.local_auth, &cx.cfg),
            remote_auth: remote_auth_record(&est.info.remote_auth),
            virtual_ips: cx.leases.iter().map(crate::pool::Lease::addr).collect(),
            ikev1: None,
        };
        let udp_encap =
            est.info.nat_detected.then(|| (cx.cfg.local_addr.port(), cx.cfg.remote_addr.port()));
        let children = est
            .children
            .iter()
            .map(|c| {
                let phase = match c.state {
                    ChildState::Installed => ChildPhase::Active,
                    ChildState::Replaced => ChildPhase::Replaced,
                    ChildState::Deleting => ChildPhase::Deleting,
                };
                let soft = match (phase, c.soft, c.hard) {
                    (ChildPhase::Active, None, Some(h)) if h > now => {
                        Some(now + Duration::from_secs(1))
                    }
                    (_, s, _) => s,
                };
                ChildSaRecord {
                    ike_id: id,
                    inbound_spi: c.inbound,
                    outbound_spi: c.outbound,
                    transforms: child_transforms(&c.transforms),
                    inbound_key: join(&c.keys.inbound_encr, &c.keys.inbound_integ),
                    outbound_key: join(&c.keys.outbound_encr, &c.keys.outbound_integ),
                    local_ts: to_record(&c.local_ts),
                    remote_ts: to_record(&c.remote_ts),
                    lifetimes: ChildLifetimes {
                        soft_secs: secs_left(now, soft),
                        hard_secs: secs_left(now, c.hard),
                        soft_kb: 0,
                        hard_kb: c.cfg.lifetime_kilobytes,
                    },
                    outbound_seq: 0,
                    replay: ReplayState { highest: 0, bitmap: vec![0] },
                    udp_encap,
                    phase,
                }
            })
            .collect();
        Some((ike, children))
    }

    /// Rebuilds an established IKE SA from its HA records under `cfg` (the standby's
    /// configuration for the same peer), as the unit taking it over: same SPIs, role, keys
    /// and Child SAs; the peer's next request is expected with the recorded ID, and ours
    /// goes out with the recorded ID plus `msg_id_jump` (see the module documentation:
    /// with RFC 6311 it goes into the synchronisation, which is sent at once; without it,
    /// a strict peer drops requests above the ID it expects). The IKE SA's and the Child
    /// SAs' rekey and expiry timers restart from the lifetimes left in the records, the
    /// liveness check from `now`; a Child SA that was being deleted is deleted again.
    ///
    /// Emits no events: the owner installs the Child SAs in the dataplane from the records.
    /// Refuses records that do not fit `cfg`: another peer or local address, transforms in
    /// none of its proposals, keys of the wrong lengths, another kind of authentication.
    pub fn import<R: CryptoRng + ?Sized>(
        now: Time,
        mut cfg: PeerConfig,
        ike: &IkeSaRecord,
        children: &[ChildSaRecord],
        msg_id_jump: u32,
        rng: &mut R,
    ) -> Result<IkeSa, ImportError> {
        cfg.validate().map_err(ImportError::Config)?;
        if ike.version != 2 {
            return Err(ImportError::Version(ike.version));
        }
        if ike.spi_i == 0 || ike.spi_r == 0 {
            return Err(ImportError::ZeroSpi);
        }
        if !address_fits(ike.peer, cfg.remote_addr) {
            return Err(ImportError::PeerMismatch { record: ike.peer, config: cfg.remote_addr });
        }
        if !address_fits(ike.local, cfg.local_addr) {
            return Err(ImportError::LocalMismatch { record: ike.local, config: cfg.local_addr });
        }
        let (local_auth, remote_auth) = auth_infos(ike, &cfg)?;
        // The addresses in use (a NAT may have moved the port to 4500).
        cfg.remote_addr = ike.peer;
        cfg.local_addr = ike.local;
        let selected =
            ike_selected(&cfg, ike.transforms).ok_or(ImportError::IkeTransforms(ike.transforms))?;
        let algs = IkeAlgs::from_selected(&selected)
            .map_err(|_| ImportError::IkeTransforms(ike.transforms))?;
        let r = &ike.keys;
        let keys = IkeKeys::from_replicated(
            algs,
            &r.sk_d,
            [&r.sk_ai, &r.sk_ar, &r.sk_ei, &r.sk_er],
            &r.sk_pi,
            &r.sk_pr,
            ike.initiator,
        )
        .map_err(|_| ImportError::KeyLength("IKE SA"))?;
        let child_cfg = cfg.child.clone();
        let mut rebuilt: Vec<Child> = Vec::with_capacity(children.len());
        for c in children {
            if c.ike_id != ike.id {
                return Err(ImportError::ForeignChild(c.inbound_spi));
            }
            if rebuilt.iter().any(|x| x.inbound == c.inbound_spi) {
                return Err(ImportError::DuplicateChild(c.inbound_spi));
            }
            if c.inbound_spi < super::MIN_SPI || c.outbound_spi < super::MIN_SPI {
                return Err(ImportError::ChildSpi(c.inbound_spi));
            }
            let transforms = child_selected(&cfg, c.transforms, c.outbound_spi).ok_or(
                ImportError::ChildTransforms { spi: c.inbound_spi, transforms: c.transforms },
            )?;
            let encr_len = esp_encr_key_len(transforms.encr.0, transforms.encr.1);
            let integ_len = esp_integ_key_len(transforms.integ);
            let (Some(encr_len), Some(integ_len)) = (encr_len, integ_len) else {
                return Err(ImportError::ChildTransforms {
                    spi: c.inbound_spi,
                    transforms: c.transforms,
                });
            };
            let want = encr_len + integ_len;
            if c.inbound_key.len() != want || c.outbound_key.len() != want {
                return Err(ImportError::KeyLength("Child SA"));
            }
            let (inbound_encr, inbound_integ) = split(&c.inbound_key, encr_len);
            let (outbound_encr, outbound_integ) = split(&c.outbound_key, encr_len);
            let (state, soft) = match c.phase {
                ChildPhase::Active => (ChildState::Installed, deadline(now, c.lifetimes.soft_secs)),
                // A Deleting pair is made Installed here and deleted below, which queues
                // its DELETE again.
                ChildPhase::Deleting => (ChildState::Installed, None),
                ChildPhase::Replaced => (ChildState::Replaced, None),
            };
            rebuilt.push(Child {
                inbound: c.inbound_spi,
                outbound: c.outbound_spi,
                cfg: child_cfg.clone(),
                local_ts: from_record(&c.local_ts),
                remote_ts: from_record(&c.remote_ts),
                transforms,
                keys: PairKeys { inbound_encr, inbound_integ, outbound_encr, outbound_integ },
                soft,
                hard: deadline(now, c.lifetimes.hard_secs),
                state,
                origin: None,
            });
        }
        let deleting: Vec<u32> = children
            .iter()
            .filter(|c| c.phase == ChildPhase::Deleting)
            .map(|c| c.inbound_spi)
            .collect();

        let peer_id = id_from(&ike.peer_id, &cfg);
        // A remote-access client keeps its addresses: leased here again, under the same
        // identity a fresh connection would use, and its side of every Child SA narrowed to
        // them as the first IKE_AUTH did.
        let mut leases = Vec::with_capacity(ike.virtual_ips.len());
        if !ike.virtual_ips.is_empty() {
            let Some(RemoteAccess::Server(server)) = &cfg.remote_access else {
                return Err(ImportError::Lease(ike.virtual_ips[0]));
            };
            let identity = crate::ikev2::wire::PayloadBody::to_vec(&peer_id)
                .unwrap_or_else(|_| peer_id.to_string().into_bytes());
            for &a in &ike.virtual_ips {
                let lease = server.pools.iter().find_map(|p| p.claim(a, &identity));
                leases.push(lease.ok_or(ImportError::Lease(a))?);
            }
            cfg.child.selectors.remote = super::remote_access::host_selectors(&ike.virtual_ips);
        }
        let mut cx = Context::new(cfg, ike.initiator, ike.spi_i, ike.spi_r, now);
        cx.leases = leases;
        cx.requests.set_next_id(ike.next_send_msg_id.saturating_add(msg_id_jump));
        cx.responses.set_expected(ike.next_recv_msg_id);
        cx.frag.peer_supports = ike.extensions.fragmentation;
        let both = ike.extensions.message_id_sync;
        let used = ike.extensions.message_id_sync_used;
        cx.mid_sync = MidSyncSupport { local: both, peer: both, used };
        let info = IkeSaInfo {
            spi_i: ike.spi_i,
            spi_r: ike.spi_r,
            initiator: ike.initiator,
            peer: cx.cfg.remote_addr,
            peer_id,
            transforms: selected,
            nat_detected: ike.nat,
            local_auth,
            remote_auth,
            virtual_ips: ike.virtual_ips.clone(),
            internal_dns: Vec::new(),
            internal_domains: Vec::new(),
        };
        let mut est = Established::new(keys, AuthVerified::replicated(), info, now);
        est.children = rebuilt;
        est.ike_soft = deadline(now, ike.soft_lifetime_secs);
        est.ike_hard = deadline(now, ike.hard_lifetime_secs);
        // The generation's start, as far as a later `set_ike_lifetime` is concerned.
        est.since = match est.ike_hard {
            Some(h) => {
                let ms = u64::try_from(cx.ike_lifetime.as_millis()).unwrap_or(u64::MAX);
                Time::from_millis(h.as_millis().saturating_sub(ms))
            }
            None => now,
        };
        for spi in deleting {
            est.start_delete_child(spi);
        }
        tracing::info!(target: IKEV2_PROTOCOL, spi_i = ike.spi_i, spi_r = ike.spi_r,
            children = est.children.len(), mid_sync = both && !used,
            "IKE SA taken over from the HA records");
        if both && !used {
            // First, before anything else uses a Message ID.
            send_mid_sync(&est, &mut cx, now, rng);
        }
        est.send_next(&mut cx, now, rng);
        Ok(IkeSa { cx, state: State::Established(Box::new(est)) })
    }

    /// What an established SA was negotiated with (for one rebuilt by [`IkeSa::import`]:
    /// what the records said). `None` unless established.
    pub fn established_info(&self) -> Option<&IkeSaInfo> {
        match &self.state {
            State::Established(est) => Some(&est.info),
            _ => None,
        }
    }

    /// The Child SAs an SA rebuilt by [`IkeSa::import`] holds, as the [`ChildSa`]s its owner
    /// installs in the dataplane (import emits no events): every pair still carrying
    /// traffic, a replaced one included (it decrypts until the peer's DELETE). Keys
    /// included: for the dataplane only.
    pub fn resumed_children(&self) -> Vec<ChildSa> {
        let State::Established(est) = &self.state else { return Vec::new() };
        est.children
            .iter()
            .filter(|c| c.state != ChildState::Deleting)
            .map(|c| ChildSa {
                inbound_spi: c.inbound,
                outbound_spi: c.outbound,
                transforms: c.transforms.clone(),
                inbound: DirectionKeys {
                    encr: c.keys.inbound_encr.clone(),
                    integ: c.keys.inbound_integ.clone(),
                },
                outbound: DirectionKeys {
                    encr: c.keys.outbound_encr.clone(),
                    integ: c.keys.outbound_integ.clone(),
                },
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
                lifetime_seconds: c.cfg.lifetime_seconds,
                lifetime_kilobytes: c.cfg.lifetime_kilobytes,
                mode: c.cfg.mode,
                rekey_of: None,
            })
            .collect()
    }

    /// Announces IKEv2 Message ID synchronisation (RFC 6311) in IKE_AUTH, for a unit of a
    /// failover pair; call it right after [`IkeSa::initiate`] or [`IkeSa::accept`], before
    /// IKE_AUTH. Where the peer announces it too, an SA taken over by the other unit
    /// resynchronises the Message IDs, and we answer a peer unit's synchronisation.
    pub fn set_message_id_sync(&mut self, on: bool) {
        self.cx.mid_sync.local = on;
    }

    /// Whether both sides announced RFC 6311 Message ID synchronisation.
    pub fn message_id_sync(&self) -> bool {
        self.cx.mid_sync.both()
    }

    /// The Message ID our next request gets, and the one the peer's next request must
    /// have (RFC 7296 section 2.2), for diagnostics and tests.
    pub fn message_ids(&self) -> (u32, u32) {
        (self.cx.requests.next_id(), self.cx.responses.expected())
    }
}

/// IKEV2_MESSAGE_ID_SYNC data (RFC 6311 section 4): nonce, EXPECTED_SEND_REQ_MESSAGE_ID,
/// EXPECTED_RECV_REQ_MESSAGE_ID, from the sender's point of view.
fn sync_data(nonce: [u8; 4], send: u32, recv: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(12);
    d.extend_from_slice(&nonce);
    d.extend_from_slice(&send.to_be_bytes());
    d.extend_from_slice(&recv.to_be_bytes());
    d
}

fn parse_sync(data: &[u8]) -> Option<([u8; 4], u32, u32)> {
    let d: &[u8; 12] = data.try_into().ok()?;
    let word = |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    Some(([d[0], d[1], d[2], d[3]], word(4), word(8)))
}

fn sync_notify(payloads: &[Payload]) -> Option<&NotifyRepr> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == MESSAGE_ID_SYNC => Some(n),
        _ => None,
    })
}

/// The new active's synchronisation request (RFC 6311 section 4): an INFORMATIONAL in
/// Message ID 0, outside the normal numbering, which stays as it is until the answer.
fn send_mid_sync<R: CryptoRng + ?Sized>(
    est: &Established,
    cx: &mut Context,
    now: Time,
    rng: &mut R,
) {
    let mut nonce = [0u8; 4];
    rng.fill_bytes(&mut nonce);
    let data = sync_data(nonce, cx.requests.next_id(), cx.responses.expected());
    let payloads = [Payload::Notify(NotifyRepr::new(MESSAGE_ID_SYNC, data))];
    let header = cx.header(ExchangeType::Informational, false, 0);
    match protect::seal(&est.keys.outbound, header, &payloads, rng) {
        Ok(bytes) => {
            tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
                next = cx.requests.next_id(), expected = cx.responses.expected(),
                "sending IKEV2_MESSAGE_ID_SYNC");
            let to = cx.cfg.remote_addr;
            cx.send_to(to, bytes.clone());
            cx.mid_sync.used = true;
            let policy = cx.cfg.retransmit;
            let (x, p) = (ExchangeType::Informational, Purpose::MidSync { nonce });
            cx.requests.sent_out_of_sequence(now, policy, 0, x, vec![bytes], p);
        }
        Err(e) => {
            cx.stats.internal_errors += 1;
            tracing::warn!(target: IKEV2_PROTOCOL, "cannot build IKEV2_MESSAGE_ID_SYNC: {e}");
        }
    }
}

/// The peer's answer to our synchronisation: its values are from its side, so its next
/// request is the one we expect and it expects our next request to have its "receive"
/// value; each counter moves to the higher of ours and the peer's (section 5.1).
pub(crate) fn mid_sync_answer(cx: &mut Context, nonce: [u8; 4], payloads: &[Payload]) {
    let parsed = sync_notify(payloads).and_then(|n| parse_sync(&n.data));
    let Some((echo, peer_send, peer_recv)) = parsed else {
        tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
            "peer answered IKEV2_MESSAGE_ID_SYNC without one: Message IDs unchanged");
        return;
    };
    if echo != nonce {
        cx.stats.unexpected += 1;
        tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
            "IKEV2_MESSAGE_ID_SYNC answer with another nonce: ignored");
        return;
    }
    let next = cx.requests.next_id().max(peer_recv);
    let expected = cx.responses.expected().max(peer_send);
    cx.requests.set_next_id(next);
    cx.responses.set_expected(expected);
    tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, next, expected,
        "Message IDs synchronised with the peer (RFC 6311)");
}

/// Whether a request might be a peer unit's synchronisation (RFC 6311 section 4): Message
/// ID 0, INFORMATIONAL, on an SA where both sides announced support.
pub(crate) fn is_sync_candidate(cx: &Context, h: &crate::ikev2::wire::HeaderRepr) -> bool {
    !h.response
        && h.message_id == 0
        && h.exchange_type == ExchangeType::Informational
        && cx.mid_sync.both()
}

impl Established {
    /// A candidate synchronisation request (see [`is_sync_candidate`]). Returns false if it
    /// is not one (it then goes through the normal request window), true once handled.
    pub(super) fn mid_sync_request<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> bool {
        let o = match cx.open(&self.keys, msg) {
            Ok(o) => o,
            Err(None) => return true,
            Err(Some(_)) => return false,
        };
        // The notify alone (as strongSwan checks too): anything else is a normal request.
        let [Payload::Notify(n)] = o.payloads.as_slice() else { return false };
        if n.notify_type != MESSAGE_ID_SYNC {
            return false;
        }
        let Some((nonce, m1, p1)) = parse_sync(&n.data) else {
            cx.stats.malformed += 1;
            return true;
        };
        let expected = cx.responses.expected();
        if m1 < expected {
            // Section 5.1: not above the highest ID already seen from the cluster: a
            // replay or a stale unit.
            cx.stats.unexpected += 1;
            tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, m1, expected,
                "IKEV2_MESSAGE_ID_SYNC below the expected Message ID: dropped");
            return true;
        }
        cx.stats.requests_processed += 1;
        cx.last_heard = now;
        // Section 5.1: M2 at least M1 and above what we saw; P2 at least P1 and above what
        // we sent. A request of ours in flight has an ID the new active will not accept:
        // it is sent again under the new numbering.
        let m2 = m1.max(expected);
        let p2 = p1.max(cx.requests.next_id());
        if let Some(out) = cx.requests.complete() {
            self.requeue(out.purpose);
        }
        cx.requests.set_next_id(p2);
        cx.responses.set_expected(m2);
        let payloads =
            [Payload::Notify(NotifyRepr::new(MESSAGE_ID_SYNC, sync_data(nonce, p2, m2)))];
        let header = cx.header(ExchangeType::Informational, true, 0);
        match protect::seal(&self.keys.outbound, header, &payloads, rng) {
            // Not cached: a retransmitted synchronisation is processed again, to the same
            // result unless we sent something since.
            Ok(bytes) => {
                cx.send_to(msg.from, bytes);
                cx.mid_sync.used = true;
            }
            Err(e) => {
                cx.stats.internal_errors += 1;
                tracing::warn!(target: IKEV2_PROTOCOL, "cannot answer IKEV2_MESSAGE_ID_SYNC: {e}");
            }
        }
        tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, next = p2, expected = m2,
            "peer unit synchronised the Message IDs (RFC 6311)");
        self.send_next(cx, now, rng);
        true
    }

    /// Puts a request of ours that lost its Message ID back in the queue.
    fn requeue(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::DeleteIke => self.queue.push_front(Queued::DeleteIke),
            Purpose::DeleteChild(spis) => {
                for spi in spis.into_iter().rev() {
                    if self.child(spi).is_some() {
                        self.queue.push_front(Queued::DeleteChild(spi));
                    }
                }
            }
            Purpose::CreateChildSa => {
                if let Some(out) = self.ccs.take() {
                    self.queue.push_front(Queued::Create(out.req));
                }
            }
            // A liveness check is moot (the peer just spoke); the others do not happen on
            // an established SA.
            Purpose::Liveness
            | Purpose::MidSync { .. }
            | Purpose::Notice
            | Purpose::SaInit
            | Purpose::Auth => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_zero_means_none() {
        let now = Time::from_millis(1_500);
        assert_eq!(secs_left(now, None), 0);
        assert_eq!(secs_left(now, Some(Time::from_millis(1_501))), 1);
        assert_eq!(secs_left(now, Some(Time::from_millis(3_500))), 2);
        assert_eq!(secs_left(now, Some(Time::from_millis(3_501))), 3);
        assert_eq!(secs_left(now, Some(Time::from_millis(1_000))), 1, "overdue: soon");
        assert_eq!(deadline(now, 0), None);
        assert_eq!(deadline(now, 2), Some(Time::from_millis(3_500)));
    }

    #[test]
    fn sync_data_layout() {
        let d = sync_data([1, 2, 3, 4], 0x0506_0708, 9);
        assert_eq!(d, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9]);
        assert_eq!(parse_sync(&d), Some(([1, 2, 3, 4], 0x0506_0708, 9)));
        assert_eq!(parse_sync(&d[..11]), None);
        assert_eq!(parse_sync(&[0; 13]), None);
    }

    #[test]
    fn selectors_round_trip_through_the_record() {
        let ts = vec![
            TrafficSelector::ipv4_any(),
            TrafficSelector::ipv6_any(),
            TrafficSelector::Ipv4 {
                ip_protocol: 6,
                start_port: 80,
                end_port: 443,
                start: [10, 0, 0, 0].into(),
                end: [10, 0, 255, 255].into(),
            },
        ];
        assert_eq!(from_record(&to_record(&ts)), ts);
    }

    #[test]
    fn signatures_round_trip_through_the_record() {
        let all = [
            AuthSignature::RsaSha1,
            AuthSignature::EcdsaP256Sha256,
            AuthSignature::EcdsaP384Sha384,
            AuthSignature::DigitalSignature(SignatureScheme::RsaPkcs1(HashAlg::Sha384)),
            AuthSignature::DigitalSignature(SignatureScheme::RsaPss {
                hash: HashAlg::Sha256,
                salt_len: 32,
            }),
            AuthSignature::DigitalSignature(SignatureScheme::Ecdsa(HashAlg::Sha512)),
        ];
        for s in all {
            assert_eq!(signature_from(signature_record(s)), Some(s));
        }
        let bad = SignatureRecord { method: 14, scheme: 4, hash: 2, salt_len: 0 };
        assert_eq!(signature_from(bad), None);
        let bad = SignatureRecord { method: 14, scheme: 1, hash: 9, salt_len: 0 };
        assert_eq!(signature_from(bad), None);
        assert_eq!(cut("ab\u{e9}c", 3), "ab");
        assert_eq!(cut("abc", 160), "abc");
    }

    #[test]
    fn keys_split_where_they_were_joined() {
        let (e, i) = (SecretBytes::from_slice(&[1; 36]), SecretBytes::from_slice(&[2; 32]));
        let j = join(&e, &i);
        assert_eq!(j.len(), 68);
        let (e2, i2) = split(&j, 36);
        assert_eq!((e2.as_bytes(), i2.as_bytes()), (e.as_bytes(), i.as_bytes()));
    }
}
