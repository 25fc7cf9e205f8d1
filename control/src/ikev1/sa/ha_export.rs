//! Stateful failover of IKEv1 SAs (issue 9): an established ISAKMP SA with its Quick Mode
//! pairs as the replicated records of [`crate::ha::record`] ([`Ikev1Sa::export`]), and an
//! established SA rebuilt from them on the unit taking over ([`Ikev1Sa::import`], then
//! [`Ikev1Endpoint::adopt`](super::Ikev1Endpoint::adopt)).
//!
//! The rebuilt SA has the same cookies, SKEYID_d / SKEYID_a / SKEYID_e (Ka is expanded
//! again from SKEYID_e) and the last phase-1 CBC block, from which every later exchange's
//! first IV is derived (RFC 2409 appendix B): the peer decrypts and authenticates its
//! Informational and Quick Mode messages as the old active's, and the other way round.
//! IKEv1 needs no Message ID synchronisation: Message IDs are random, not counted.
//!
//! Dead peer detection (RFC 3706 section 7): the old active may have run checks after its
//! last replication, and a peer may drop an R-U-THERE whose sequence number is not above
//! the last it saw as a replay. The rebuilt SA therefore continues [`DPD_SEQ_JUMP`] above
//! the replicated number.
//!
//! What a takeover loses: an exchange in flight on the old active (a Quick Mode half done,
//! an R-U-THERE awaiting its ACK, a phase-1 renewal under way: the renewal starts again
//! soon after, the pair's rekey too), the cached last answer (a retransmitted request of
//! the peer is not answered again), the SKEYID that only phase 1's HASH_I / HASH_R used,
//! the ESP sequence numbers and replay windows (the dataplane's, exported as zeros for the
//! appliance to overlay as for IKEv2) and the volume already used (`hard_kb` is the
//! negotiated volume). A pair replaced by a rekey is retired by the new active after the
//! configured overlap whichever side rekeyed it (a DELETE for an SPI the peer already
//! removed is ignored). Legacy remote access (XAUTH / Mode Config) is exported with the
//! client's address in `virtual_ips` but not imported ([`ImportError::RemoteAccess`]): the
//! client connects again.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use rand_core::CryptoRng;

use crate::crypto::{DhGroup, DirectionKeys, SecretBytes};
use crate::ha::record::{
    ChildLifetimes, ChildPhase, ChildSaRecord, ChildTransforms, IkeExtensions, IkeKeys,
    IkeSaRecord, IkeTransforms, Ikev1Record, LocalAuthRecord, MAX_PEER_ID_LEN, MAX_SUBJECT_LEN,
    RemoteAuthRecord, ReplayState, Selector, SignatureRecord,
};
use crate::ikev1::crypt::Phase1Cipher;
use crate::ikev1::keys::{HashAlg, Phase1Keys};
use crate::ikev1::proposal::{AuthMethod, Phase1Policy, Phase2Policy};
use crate::ikev1::wire::Identification;
use crate::ikev2::proposal::Selected;
use crate::ikev2::sa::keys::{esp_encr_key_len, esp_integ_key_len};
use crate::ikev2::sa::{AuthInfo, ChildSa, IkeSaInfo, Mode};
use crate::ikev2::selectors::covers;
use crate::ikev2::wire::{DhGroup as WireDh, EncrId, ProtocolId, TrafficSelector};
use crate::log::IKEV1;
use crate::pki::AuthSignature;
use crate::time::Time;

use super::cert::is_signature;
use super::config::ConfigError;
use super::phase1::{Phase1, phase1_selected, to_id_repr};
use super::protect::Isakmp;
use super::quick::{self, Child};
use super::{Ikev1Config, Ikev1Sa, PeerCaps, info};

/// How far above the replicated R-U-THERE sequence number the unit taking over continues
/// (RFC 3706 section 7). The number grows by one per check (retries reuse it), and a check
/// needs a DPD threshold of silence first, so 2^16 covers the checks of a whole day at a
/// threshold above 1.3 s (the ASA's shortest is 10 s) if the record is replicated at least
/// once per ISAKMP SA lifetime (its renewal changes the record anyway). Section 7 starts
/// numbers below 2^31, so the jumps do not wrap in practice (they would wrap harmlessly).
pub const DPD_SEQ_JUMP: u32 = 1 << 16;

/// The phase-1 ENCRYPTION attribute value of AES-CBC (RFC 2409 appendix A), the only
/// phase-1 cipher.
const ENCR_AES_CBC: u16 = 7;

/// The smallest SPI a pair may have (RFC 4303 section 2.1: 1 to 255 are reserved).
const MIN_SPI: u32 = 256;

/// Why replicated records cannot be rebuilt into an ISAKMP SA under a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The configuration itself is unusable.
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    /// The record is of another IKE version.
    #[error("IKE version {0} record, not IKEv1")]
    Version(u8),
    /// An IKEv1 record without its IKEv1 section (phase-1 IV, DPD state).
    #[error("IKEv1 record without its IKEv1 state (phase-1 IV, DPD)")]
    MissingIkev1State,
    /// A cookie is zero.
    #[error("ISAKMP SA record with a zero cookie")]
    ZeroCookie,
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
    /// The phase-1 suite is in none of the configured IKEv1 policies.
    #[error("phase-1 transforms {0:?} are not in the configured IKEv1 policies")]
    Phase1Transforms(IkeTransforms),
    /// The phase-1 authentication method (AUTH_METHOD value) is not that of a configured
    /// policy with the record's suite, or we cannot authenticate with it here.
    #[error("phase-1 authentication method {0} does not fit the configured policies")]
    AuthMethod(u16),
    /// The phase-1 IV is not one cipher block.
    #[error("phase-1 IV of {0} bytes, not one cipher block")]
    Phase1Iv(usize),
    /// Key lengths that do not fit the transforms.
    #[error("{0}: key lengths do not fit the transforms")]
    KeyLength(&'static str),
    /// The record's authentication (pre-shared key, certificate, signature) does not fit
    /// the method, for our side (`"local"`) or the peer's (`"remote"`).
    #[error("{0} authentication does not fit the configuration")]
    AuthMismatch(&'static str),
    /// The peer's identity is not the one the configuration requires.
    #[error("the peer's identity is not the configured one")]
    PeerIdentity,
    /// Legacy remote access (XAUTH / Mode Config) is not taken over: the record carries a
    /// client address or the configuration is a remote-access one.
    #[error("IKEv1 remote access (XAUTH / Mode Config) is not taken over")]
    RemoteAccess,
    /// A pair's transforms are in none of the configured transform sets.
    #[error(
        "Quick Mode SA {spi:08x}: ESP transforms {transforms:?} are not in the configured transform sets"
    )]
    ChildTransforms {
        /// Its inbound SPI.
        spi: u32,
        /// Its transforms.
        transforms: ChildTransforms,
    },
    /// A pair's proxy identities are not one selector per side inside the crypto map ACL.
    #[error("Quick Mode SA {0:08x}: proxy identities outside the configured ones")]
    Selectors(u32),
    /// A pair record of another ISAKMP SA.
    #[error("Quick Mode SA {0:08x} belongs to another ISAKMP SA")]
    ForeignChild(u32),
    /// Two pair records with the same inbound SPI.
    #[error("Quick Mode SA {0:08x} given twice")]
    DuplicateChild(u32),
    /// A pair whose SPIs are reserved (RFC 4303 section 2.1).
    #[error("Quick Mode SA {0:08x} with a reserved SPI")]
    ChildSpi(u32),
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

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Encryption key then integrity key, as the record lays out one direction.
fn join(k: &DirectionKeys) -> SecretBytes {
    // Exactly sized, so the vector never reallocates and leaves no unzeroized copy.
    let mut v = Vec::with_capacity(k.encr.len() + k.integ.len());
    v.extend_from_slice(k.encr.as_bytes());
    v.extend_from_slice(k.integ.as_bytes());
    SecretBytes::from_vec(v)
}

fn split(key: &SecretBytes, encr_len: usize) -> DirectionKeys {
    let (e, i) = key.as_bytes().split_at(encr_len.min(key.len()));
    DirectionKeys { encr: SecretBytes::from_slice(e), integ: SecretBytes::from_slice(i) }
}

fn copy_keys(k: &DirectionKeys) -> DirectionKeys {
    DirectionKeys { encr: k.encr.clone(), integ: k.integ.clone() }
}

/// A proxy identity's selector in the record's form (IKEv1 pairs have address selectors
/// only: `to_ts` never builds another kind).
fn selector_record(ts: &TrafficSelector) -> Option<Selector> {
    let (start, end, protocol, start_port, end_port) = match *ts {
        TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => {
            (IpAddr::V4(start), IpAddr::V4(end), ip_protocol, start_port, end_port)
        }
        TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => {
            (IpAddr::V6(start), IpAddr::V6(end), ip_protocol, start_port, end_port)
        }
        TrafficSelector::Other { .. } => return None,
    };
    Some(Selector { start, end, protocol, start_port, end_port })
}

fn selector_from(s: &Selector) -> Option<TrafficSelector> {
    let (ip_protocol, start_port, end_port) = (s.protocol, s.start_port, s.end_port);
    match (s.start, s.end) {
        (IpAddr::V4(start), IpAddr::V4(end)) => {
            Some(TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end })
        }
        (IpAddr::V6(start), IpAddr::V6(end)) => {
            Some(TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end })
        }
        _ => None,
    }
}

/// The signature of a phase-1 method (IKEv1 signs with these three only).
fn method_signature(m: AuthMethod) -> Option<AuthSignature> {
    match m {
        AuthMethod::RsaSig | AuthMethod::XauthInitRsa | AuthMethod::XauthRespRsa => {
            Some(AuthSignature::RsaSha1)
        }
        AuthMethod::EcdsaSig(256) => Some(AuthSignature::EcdsaP256Sha256),
        AuthMethod::EcdsaSig(384) => Some(AuthSignature::EcdsaP384Sha384),
        _ => None,
    }
}

fn signature_record(s: AuthSignature) -> SignatureRecord {
    SignatureRecord { method: u8::from(s.method()), ..SignatureRecord::default() }
}

/// The record's signature, if it is the one `method` makes.
fn signature_of(r: SignatureRecord, method: AuthMethod) -> Option<AuthSignature> {
    method_signature(method).filter(|s| signature_record(*s) == r)
}

fn peer_id_bytes(id: Option<&Identification>) -> Vec<u8> {
    let Some(id) = id else { return Vec::new() };
    let mut v = Vec::with_capacity(1 + id.data.len());
    v.push(id.id_type);
    v.extend_from_slice(&id.data);
    // Longer identities are not replicated (the peer's address stands in on import).
    if v.len() > MAX_PEER_ID_LEN { Vec::new() } else { v }
}

/// Whether the record's address fits the configured one: the same IP unless the
/// configuration leaves it unspecified; the port may differ (NAT-T floats to 4500, and a
/// NAT maps the peer's).
fn address_fits(record: SocketAddr, config: SocketAddr) -> bool {
    config.ip().is_unspecified() || record.ip() == config.ip()
}

impl Ikev1Sa {
    /// The established ISAKMP SA as HA records: the IKE SA record (cookies as SPIs, role,
    /// addresses (port 4500 after a NAT-T float), the phase-1 suite as IKEv1 attribute
    /// values, SKEYID_d / SKEYID_a / SKEYID_e in `sk_d` / `sk_ai` / `sk_ei`, lifetimes left
    /// at `now`, NAT, the peer's identity and how each side authenticated, and the
    /// [`Ikev1Record`]: authentication method, last phase-1 CBC block, DPD sequence number,
    /// the peer's DPD and NAT-T announcements) and one record per Quick Mode pair (SPIs,
    /// ESP transforms with the PFS group, keys, proxy identities, lifetimes left, UDP
    /// encapsulation, phase). `None` unless established.
    ///
    /// The records' `id` / `ike_id` is our cookie (the responder's if we answered); an
    /// owner that keys records by its own handle overwrites them. For remote access the
    /// client's address goes in `virtual_ips` (see [`ImportError::RemoteAccess`]). ESP
    /// sequence numbers and replay windows are zero (the dataplane's to fill). A deadline
    /// that already fired (a rekey or renewal under way) is exported as 1 s, so the new
    /// active starts it again soon after a takeover. For the failover link only: it holds
    /// keys.
    pub fn export(&self, now: Time) -> Option<(IkeSaRecord, Vec<ChildSaRecord>)> {
        if !self.is_established() || self.inner {
            return None;
        }
        let isakmp = self.isakmp.as_ref()?;
        let policy = self.p1_policy?;
        let auth_method = policy.auth.p1attr()?;
        let id = if self.initiator { self.cky_i } else { self.cky_r };
        let p1_soft = match (self.p1_soft, self.expires) {
            (None, Some(h)) if h > now => Some(now + Duration::from_secs(1)),
            (s, _) => s,
        };
        let none = || SecretBytes::from_slice(&[]);
        let keys = &isakmp.keys;
        let ike = IkeSaRecord {
            id,
            version: 1,
            spi_i: self.cky_i,
            spi_r: self.cky_r,
            initiator: self.initiator,
            local: self.local,
            peer: self.peer,
            transforms: IkeTransforms {
                encr: ENCR_AES_CBC,
                encr_key_bits: policy.encryption_key_bits,
                prf: policy.hash.p1attr(),
                integ: 0,
                dh: policy.group.iana(),
            },
            keys: IkeKeys {
                sk_d: keys.skeyid_d().clone(),
                sk_ai: keys.skeyid_a().clone(),
                sk_ar: none(),
                sk_ei: keys.skeyid_e().clone(),
                sk_er: none(),
                sk_pi: none(),
                sk_pr: none(),
            },
            next_send_msg_id: 0,
            next_recv_msg_id: 0,
            soft_lifetime_secs: secs_left(now, p1_soft),
            hard_lifetime_secs: secs_left(now, self.expires),
            crypto_map: None,
            nat: self.nat_detected,
            peer_id: peer_id_bytes(self.peer_id.as_ref()),
            extensions: IkeExtensions::default(),
            local_auth: match &self.local_auth {
                AuthInfo::Certificate { signature, .. } => LocalAuthRecord::Certificate {
                    signature: signature_record(*signature),
                    // IKEv1 signs with the first configured credential.
                    credential: 0,
                },
                AuthInfo::Psk => LocalAuthRecord::Psk,
            },
            remote_auth: match &self.remote_auth {
                AuthInfo::Certificate { signature, subject } => RemoteAuthRecord::Certificate {
                    signature: signature_record(*signature),
                    subject: cut(subject, MAX_SUBJECT_LEN),
                },
                AuthInfo::Psk => RemoteAuthRecord::Psk,
            },
            virtual_ips: self.assigned_address().map(IpAddr::V4).into_iter().collect(),
            ikev1: Some(Ikev1Record {
                auth_method,
                phase1_iv: isakmp.iv.clone(),
                dpd_seq: self.dpd.seq,
                peer_dpd: self.caps.dpd,
                peer_nat_t: self.caps.nat_t,
            }),
        };
        let in_flight = quick::rekeys_in_flight(self);
        let udp_encap = self.nat_detected.then(|| (self.local.port(), self.peer.port()));
        let children = self
            .children
            .iter()
            .filter_map(|c| {
                // Rekeying with no exchange of ours in flight: its successor is up.
                let replaced = c.rekeying && !in_flight.contains(&c.inbound_spi);
                let (phase, soft) = if replaced {
                    (ChildPhase::Replaced, 0)
                } else {
                    (ChildPhase::Active, secs_left(now, c.soft))
                };
                let t = &c.transforms;
                Some(ChildSaRecord {
                    ike_id: id,
                    inbound_spi: c.inbound_spi,
                    outbound_spi: c.outbound_spi,
                    transforms: ChildTransforms {
                        encr: t.encr.0.into(),
                        encr_key_bits: t.encr.1.unwrap_or(0),
                        integ: t.integ.map_or(0, u16::from),
                        esn: false,
                        dh: t.dh.map_or(0, u16::from),
                    },
                    inbound_key: join(&c.inbound),
                    outbound_key: join(&c.outbound),
                    local_ts: vec![selector_record(&c.local_ts)?],
                    remote_ts: vec![selector_record(&c.remote_ts)?],
                    lifetimes: ChildLifetimes {
                        soft_secs: soft,
                        hard_secs: secs_left(now, c.hard),
                        soft_kb: 0,
                        hard_kb: c.policy.lifetime_kilobytes,
                    },
                    outbound_seq: 0,
                    replay: ReplayState { highest: 0, bitmap: vec![0] },
                    udp_encap,
                    phase,
                })
            })
            .collect();
        Some((ike, children))
    }

    /// Rebuilds an established ISAKMP SA from its HA records under `cfg` (the standby's
    /// configuration for the same peer), as the unit taking it over: same cookies, role,
    /// keys, phase-1 IV, NAT-T state and Quick Mode pairs, so that the peer sees no
    /// renegotiation. The phase-1 and pairs' rekey and expiry timers restart from the
    /// lifetimes left in the records, DPD from `now` with its sequence number
    /// [`DPD_SEQ_JUMP`] ahead; a pair replaced by a rekey is retired after
    /// [`Ikev1Config::rekey_overlap`]; a pair that was being deleted is deleted again (its
    /// DELETE queued).
    ///
    /// Emits no events: the owner installs [`Ikev1Sa::resumed_children`] in the dataplane
    /// and reports [`Ikev1Sa::established_info`]. Refuses records that do not fit `cfg`
    /// (another IKE version, peer or local address, a suite or transform set it does not
    /// have, keys or IV of the wrong length, another kind of authentication, remote access)
    /// with a specific [`ImportError`]; never panics.
    pub fn import<R: CryptoRng + ?Sized>(
        now: Time,
        mut cfg: Ikev1Config,
        ike: &IkeSaRecord,
        children: &[ChildSaRecord],
        rng: &mut R,
    ) -> Result<Ikev1Sa, ImportError> {
        cfg.validate().map_err(ImportError::Config)?;
        if ike.version != 1 {
            return Err(ImportError::Version(ike.version));
        }
        let v1 = ike.ikev1.as_ref().ok_or(ImportError::MissingIkev1State)?;
        if ike.spi_i == 0 || ike.spi_r == 0 {
            return Err(ImportError::ZeroCookie);
        }
        if !address_fits(ike.peer, cfg.peer) {
            return Err(ImportError::PeerMismatch { record: ike.peer, config: cfg.peer });
        }
        if !address_fits(ike.local, cfg.local) {
            return Err(ImportError::LocalMismatch { record: ike.local, config: cfg.local });
        }
        if cfg.remote_access.is_some() || !ike.virtual_ips.is_empty() {
            return Err(ImportError::RemoteAccess);
        }
        let policy = phase1_policy(&cfg, ike.transforms, v1.auth_method)?;
        let isakmp = isakmp(policy, ike, v1)?;
        let (local_auth, remote_auth) = auth_infos(&cfg, policy.auth, ike)?;
        let peer_id = match ike.peer_id.split_first() {
            Some((t, data)) => {
                Identification { id_type: *t, protocol: 0, port: 0, data: data.to_vec() }
            }
            None => Identification::address(ike.peer.ip()),
        };
        if let Some(want) = &cfg.remote_id
            && !ike.peer_id.is_empty()
            && (want.id_type != peer_id.id_type || want.data != peer_id.data)
        {
            return Err(ImportError::PeerIdentity);
        }
        let mut rebuilt: Vec<Child> = Vec::with_capacity(children.len());
        let mut deleting = Vec::new();
        for c in children {
            if c.ike_id != ike.id {
                return Err(ImportError::ForeignChild(c.inbound_spi));
            }
            if rebuilt.iter().any(|x| x.inbound_spi == c.inbound_spi)
                || deleting.contains(&c.inbound_spi)
            {
                return Err(ImportError::DuplicateChild(c.inbound_spi));
            }
            let child = rebuild_child(&cfg, now, c)?;
            if c.phase == ChildPhase::Deleting {
                deleting.push(c.inbound_spi);
            } else {
                rebuilt.push(child);
            }
        }

        // The addresses in use (NAT-T may have moved both ports to 4500); a configuration
        // for any peer takes the record's.
        if cfg.peer.ip().is_unspecified() {
            cfg.peer = ike.peer;
        }
        if cfg.local.ip().is_unspecified() {
            cfg.local = ike.local;
        }
        let mut sa = Ikev1Sa::new(cfg, ike.initiator, ike.spi_i, ike.spi_r, now);
        sa.local = ike.local;
        sa.peer = ike.peer;
        sa.phase1 = Phase1::Established;
        sa.isakmp = Some(isakmp);
        sa.caps = PeerCaps { nat_t: v1.peer_nat_t, dpd: v1.peer_dpd };
        sa.nat_detected = ike.nat;
        sa.established_at = Some(now);
        sa.expires = deadline(now, ike.hard_lifetime_secs);
        sa.p1_soft = deadline(now, ike.soft_lifetime_secs);
        sa.dpd.seq = v1.dpd_seq.wrapping_add(DPD_SEQ_JUMP);
        sa.local_auth = local_auth;
        sa.remote_auth = remote_auth;
        sa.peer_id = Some(peer_id);
        sa.p1_policy = Some(policy);
        sa.children = rebuilt;
        tracing::info!(target: IKEV1, peer = %sa.peer,
            cky_i = format_args!("{:016x}", sa.cky_i), cky_r = format_args!("{:016x}", sa.cky_r),
            pairs = sa.children.len(), nat = sa.nat_detected,
            "ISAKMP SA taken over from the HA records");
        // Whatever was being deleted is deleted again (the peer ignores an SPI it already
        // removed).
        info::send_delete_esp(&mut sa, now, &deleting, rng);
        Ok(sa)
    }

    /// What an established SA was negotiated with, as the IKEv2 event types report it
    /// (for one rebuilt by [`Ikev1Sa::import`]: what the records said). `None` unless
    /// established.
    pub fn established_info(&self) -> Option<IkeSaInfo> {
        if !self.is_established() {
            return None;
        }
        let policy = self.p1_policy?;
        let peer_id = match &self.peer_id {
            Some(id) => to_id_repr(id),
            None => to_id_repr(&Identification::address(self.peer.ip())),
        };
        Some(IkeSaInfo {
            spi_i: self.cky_i,
            spi_r: self.cky_r,
            initiator: self.initiator,
            peer: self.peer,
            peer_id,
            transforms: phase1_selected(&policy),
            nat_detected: self.nat_detected,
            local_auth: self.local_auth.clone(),
            remote_auth: self.remote_auth.clone(),
            virtual_ips: self.assigned_address().map(IpAddr::V4).into_iter().collect(),
            internal_dns: Vec::new(),
            internal_domains: Vec::new(),
        })
    }

    /// The Quick Mode pairs an SA holds, as the [`ChildSa`]s its owner installs in the
    /// dataplane (for one rebuilt by [`Ikev1Sa::import`], which emits no events): every
    /// installed pair, a replaced one included (it decrypts until it is retired). The
    /// lifetimes are those negotiated, for an imported pair those it had left. Keys
    /// included: for the dataplane only.
    pub fn resumed_children(&self) -> Vec<ChildSa> {
        self.children
            .iter()
            .map(|c| ChildSa {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
                transforms: c.transforms.clone(),
                inbound: copy_keys(&c.inbound),
                outbound: copy_keys(&c.outbound),
                local_ts: vec![c.local_ts.clone()],
                remote_ts: vec![c.remote_ts.clone()],
                lifetime_seconds: c.policy.lifetime_seconds,
                lifetime_kilobytes: c.policy.lifetime_kilobytes,
                mode: Mode::Tunnel,
                rekey_of: None,
            })
            .collect()
    }
}

/// The configured phase-1 policy with the record's suite and method.
fn phase1_policy(
    cfg: &Ikev1Config,
    t: IkeTransforms,
    method: u16,
) -> Result<Phase1Policy, ImportError> {
    let bad = || ImportError::Phase1Transforms(t);
    if t.encr != ENCR_AES_CBC || t.integ != 0 {
        return Err(bad());
    }
    Phase1Cipher::key_len(t.encr, Some(t.encr_key_bits)).map_err(|_| bad())?;
    let hash = HashAlg::from_p1attr(t.prf).ok_or_else(bad)?;
    let group = DhGroup::from_iana(t.dh).map_err(|_| bad())?;
    let suite: Vec<&Phase1Policy> = cfg
        .phase1
        .iter()
        .filter(|p| p.encryption_key_bits == t.encr_key_bits && p.hash == hash && p.group == group)
        .collect();
    if suite.is_empty() {
        return Err(bad());
    }
    let auth = AuthMethod::from_p1attr(method).ok_or(ImportError::AuthMethod(method))?;
    let policy =
        suite.into_iter().find(|p| p.auth == auth).ok_or(ImportError::AuthMethod(method))?;
    // We must still be able to authenticate with it (a renewal will).
    let usable = if auth.uses_psk() {
        !cfg.psk.as_bytes().is_empty()
    } else {
        is_signature(auth) && cfg.certificates.as_ref().and_then(|c| c.method()) == Some(auth)
    };
    if !usable {
        return Err(ImportError::AuthMethod(method));
    }
    Ok(*policy)
}

/// The keys and IV state: SKEYID_d / SKEYID_a / SKEYID_e of the hash's length, Ka of the
/// cipher's, the IV one block.
fn isakmp(
    policy: Phase1Policy,
    ike: &IkeSaRecord,
    v1: &Ikev1Record,
) -> Result<Isakmp, ImportError> {
    let k = &ike.keys;
    let n = policy.hash.output_len();
    let ours = [&k.sk_d, &k.sk_ai, &k.sk_ei].iter().all(|s| s.len() == n);
    let unused = [&k.sk_ar, &k.sk_er, &k.sk_pi, &k.sk_pr].iter().all(|s| s.is_empty());
    if !ours || !unused {
        return Err(ImportError::KeyLength("ISAKMP SA"));
    }
    let key_len = usize::from(policy.encryption_key_bits / 8);
    let keys = Phase1Keys::from_replicated(
        policy.hash,
        k.sk_d.clone(),
        k.sk_ai.clone(),
        k.sk_ei.clone(),
        key_len,
    );
    let cipher =
        Phase1Cipher::new(keys.enc_key()).map_err(|_| ImportError::KeyLength("ISAKMP SA"))?;
    if v1.phase1_iv.len() != cipher.block_len() {
        return Err(ImportError::Phase1Iv(v1.phase1_iv.len()));
    }
    Ok(Isakmp { hash: policy.hash, keys, cipher, iv: v1.phase1_iv.clone() })
}

/// How each side authenticated, as the SA reports it, if it fits the method: a pre-shared
/// key on both sides, or the method's signature on both (ours with our certificate).
fn auth_infos(
    cfg: &Ikev1Config,
    method: AuthMethod,
    ike: &IkeSaRecord,
) -> Result<(AuthInfo, AuthInfo), ImportError> {
    let psk = method.uses_psk();
    let local = match ike.local_auth {
        LocalAuthRecord::Psk if psk => AuthInfo::Psk,
        LocalAuthRecord::Certificate { signature, credential: 0 } if !psk => {
            let subject = cfg
                .certificates
                .as_ref()
                .and_then(|c| c.local.credentials.first())
                .map(|c| c.certificate().subject().to_owned());
            match (signature_of(signature, method), subject) {
                (Some(signature), Some(subject)) => AuthInfo::Certificate { signature, subject },
                _ => return Err(ImportError::AuthMismatch("local")),
            }
        }
        _ => return Err(ImportError::AuthMismatch("local")),
    };
    let remote = match &ike.remote_auth {
        RemoteAuthRecord::Psk if psk => AuthInfo::Psk,
        RemoteAuthRecord::Certificate { signature, subject } if !psk => {
            let signature =
                signature_of(*signature, method).ok_or(ImportError::AuthMismatch("remote"))?;
            AuthInfo::Certificate { signature, subject: subject.clone() }
        }
        _ => return Err(ImportError::AuthMismatch("remote")),
    };
    Ok((local, remote))
}

/// One pair, checked against the configuration (its ESP suite and PFS group a configured
/// transform set's, its proxy identities inside the crypto map ACL), with its timers.
fn rebuild_child(cfg: &Ikev1Config, now: Time, c: &ChildSaRecord) -> Result<Child, ImportError> {
    let spi = c.inbound_spi;
    if spi < MIN_SPI || c.outbound_spi < MIN_SPI {
        return Err(ImportError::ChildSpi(spi));
    }
    let (local_ts, remote_ts) = match (c.local_ts.as_slice(), c.remote_ts.as_slice()) {
        ([l], [r]) => match (selector_from(l), selector_from(r)) {
            (Some(l), Some(r)) => (l, r),
            _ => return Err(ImportError::Selectors(spi)),
        },
        _ => return Err(ImportError::Selectors(spi)),
    };
    let expressible = quick::to_id(&local_ts).is_some() && quick::to_id(&remote_ts).is_some();
    let inside = cfg.selectors.local.iter().any(|o| covers(o, &local_ts))
        && cfg.selectors.remote.iter().any(|o| covers(o, &remote_ts));
    if !expressible || !inside {
        return Err(ImportError::Selectors(spi));
    }
    let t = c.transforms;
    let bad = || ImportError::ChildTransforms { spi, transforms: t };
    let (index, policy) = cfg
        .phase2
        .iter()
        .enumerate()
        .find(|(_, p)| {
            u16::from(p.esp_id) == t.encr
                && p.key_bits.unwrap_or(0) == t.encr_key_bits
                && quick::auth_to_integ(p.auth).map_or(0, u16::from) == t.integ
                && p.pfs.map_or(0, DhGroup::iana) == t.dh
                && !t.esn
        })
        .map(|(i, p)| (i, *p))
        .ok_or_else(bad)?;
    let encr = (EncrId::from(t.encr), policy.key_bits);
    let integ = quick::auth_to_integ(policy.auth);
    let (Some(encr_len), Some(integ_len)) =
        (esp_encr_key_len(encr.0, encr.1), esp_integ_key_len(integ))
    else {
        return Err(bad());
    };
    let want = encr_len + integ_len;
    if c.inbound_key.len() != want || c.outbound_key.len() != want {
        return Err(ImportError::KeyLength("Quick Mode SA"));
    }
    let transforms = Selected {
        // As we number our offers (the peer's numbering of its offer is not replicated).
        number: u8::try_from(index + 1).unwrap_or(u8::MAX),
        protocol: ProtocolId::Esp,
        spi: c.outbound_spi.to_be_bytes().to_vec(),
        encr,
        prf: None,
        integ,
        dh: policy.pfs.map(|g| WireDh::from(g.iana())),
        esn: None,
    };
    let hard = deadline(now, c.lifetimes.hard_secs);
    let (soft, rekeying, retire_at) = match c.phase {
        ChildPhase::Active | ChildPhase::Deleting => {
            (deadline(now, c.lifetimes.soft_secs), false, None)
        }
        ChildPhase::Replaced => (None, true, Some(now + cfg.rekey_overlap)),
    };
    Ok(Child {
        inbound_spi: spi,
        outbound_spi: c.outbound_spi,
        local_ts,
        remote_ts,
        soft,
        hard,
        rekeying,
        retire_at,
        // What it has left is what it reports.
        policy: Phase2Policy {
            lifetime_seconds: u64::from(c.lifetimes.hard_secs),
            lifetime_kilobytes: c.lifetimes.hard_kb,
            ..policy
        },
        transforms,
        inbound: split(&c.inbound_key, encr_len),
        outbound: split(&c.outbound_key, encr_len),
    })
}

#[cfg(test)]
mod tests;
