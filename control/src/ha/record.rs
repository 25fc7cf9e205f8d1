//! The replicated state: what the active unit tells the standby about its IKE SAs and
//! Child SAs, as plain data (IANA transform numbers, opaque key bytes, addresses and
//! counters), so that neither side depends on the IKE state machines' internal types.
//!
//! Key material is held in [`SecretBytes`]: zeroized on drop, and `Debug` shows only its
//! length. Every record has a size cap ([`MAX_RECORD_LEN`]) small enough that any single
//! record fits one sealed failover datagram, so a record is never split.

use core::net::{IpAddr, SocketAddr};

use subtle::ConstantTimeEq;

use super::codec::{Reader, WireError, Writer};
use crate::crypto::SecretBytes;

/// Longest IKE SA key (`SK_*`): the largest PRF output, HMAC-SHA-512's 64 bytes.
pub const MAX_IKE_KEY_LEN: usize = 64;
/// Longest Child SA key string per direction (encryption key with salt, then integrity
/// key): AES-256 with a 4-byte salt plus HMAC-SHA-512 is 100; room is left.
pub const MAX_CHILD_KEY_LEN: usize = 128;
/// Most traffic selectors per side of a Child SA.
pub const MAX_SELECTORS: usize = 8;
/// Longest crypto map name, in bytes.
pub const MAX_MAP_NAME_LEN: usize = 64;
/// Most 64-bit words of an inbound replay bitmap (1024 bits).
pub const MAX_REPLAY_WORDS: usize = 16;
/// Most addresses a remote-access client holds ([`IkeSaRecord::virtual_ips`]): one per
/// family, as the concentrator leases them.
pub const MAX_VIRTUAL_IPS: usize = 2;
/// Longest peer identity ([`IkeSaRecord::peer_id`]: the ID type octet and the data).
pub const MAX_PEER_ID_LEN: usize = 255;
/// Longest peer certificate subject ([`RemoteAuthRecord::Certificate`]), in bytes: the
/// largest IKE record then stays within a Child SA record's [`MAX_RECORD_LEN`].
pub const MAX_SUBJECT_LEN: usize = 144;
/// Longest phase-1 IV of an IKEv1 SA ([`Ikev1Record::phase1_iv`]): one AES block, the
/// only phase-1 cipher.
pub const MAX_IKEV1_IV_LEN: usize = 16;
/// The largest encoded record (a Child SA with every field at its cap): see the unit test
/// that builds one.
pub const MAX_RECORD_LEN: usize = 1067;

/// The transforms of an IKE SA, as IANA numbers (RFC 7296 Transform IDs; IKEv1 attribute
/// values for an IKEv1 SA: ENCRYPTION, KEY_LENGTH, HASH in `prf` (the PRF is its HMAC,
/// RFC 2409 section 4), `integ` 0, GROUP_DESCRIPTION).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IkeTransforms {
    /// Encryption algorithm.
    pub encr: u16,
    /// Its key length in bits (0 where the algorithm has a fixed length).
    pub encr_key_bits: u16,
    /// PRF (IKEv1: the HASH attribute).
    pub prf: u16,
    /// Integrity algorithm (0 for an AEAD, and for IKEv1).
    pub integ: u16,
    /// Diffie-Hellman group.
    pub dh: u16,
}

/// The keys of an IKE SA (RFC 7296 §2.14; for IKEv1 SKEYID_d / SKEYID_a / SKEYID_e in
/// `sk_d` / `sk_ai` / `sk_ei`, the others empty).
#[derive(Debug, Clone)]
pub struct IkeKeys {
    /// SK_d.
    pub sk_d: SecretBytes,
    /// SK_ai.
    pub sk_ai: SecretBytes,
    /// SK_ar.
    pub sk_ar: SecretBytes,
    /// SK_ei.
    pub sk_ei: SecretBytes,
    /// SK_er.
    pub sk_er: SecretBytes,
    /// SK_pi.
    pub sk_pi: SecretBytes,
    /// SK_pr.
    pub sk_pr: SecretBytes,
}

impl IkeKeys {
    fn all(&self) -> [&SecretBytes; 7] {
        [&self.sk_d, &self.sk_ai, &self.sk_ar, &self.sk_ei, &self.sk_er, &self.sk_pi, &self.sk_pr]
    }

    /// Only SKEYID_d / SKEYID_a / SKEYID_e: what a record with the IKEv1 section carries
    /// (which keeps the largest IKEv1 record within [`MAX_RECORD_LEN`]).
    fn ikev1_shaped(&self) -> bool {
        [&self.sk_ar, &self.sk_er, &self.sk_pi, &self.sk_pr].iter().all(|k| k.is_empty())
    }
}

/// Constant-time: key bytes are never compared with `==` on slices.
impl PartialEq for IkeKeys {
    fn eq(&self, other: &Self) -> bool {
        self.all().iter().zip(other.all()).all(|(a, b)| ct_eq(a, b))
    }
}
impl Eq for IkeKeys {}

fn ct_eq(a: &SecretBytes, b: &SecretBytes) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What the peer announced in the IKE SA's setup that later exchanges depend on; each
/// flag is set only where both sides announced the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IkeExtensions {
    /// IKE fragmentation (RFC 7383, IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT).
    pub fragmentation: bool,
    /// IKEv2 Message ID synchronization (RFC 6311, IKEV2_MESSAGE_ID_SYNC_SUPPORTED in
    /// IKE_AUTH): the new active may resynchronise the Message IDs after a takeover.
    pub message_id_sync: bool,
    /// A synchronisation already ran in this IKE SA (Message ID 0 is spent): a peer whose
    /// IVs follow the Message ID (strongSwan with AES-GCM) cannot answer a second one and
    /// tears the IKE SA down instead, so a later takeover does without.
    pub message_id_sync_used: bool,
}

/// How a certificate signature AUTH payload was made (RFC 7296 section 3.8, RFC 7427), as
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignatureRecord {
    /// The AUTH method (1, 9, 10 or 14).
    pub method: u8,
    /// For method 14, the signature scheme: 1 RSASSA-PKCS1-v1_5, 2 RSASSA-PSS, 3 ECDSA;
    /// otherwise 0.
    pub scheme: u8,
    /// For method 14, its hash (IANA IKEv2 Hash Algorithm number); otherwise 0.
    pub hash: u8,
    /// For RSASSA-PSS, the salt length in octets; otherwise 0.
    pub salt_len: u8,
}

/// How we authenticated to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LocalAuthRecord {
    /// With a pre-shared key (and every IKEv1 SA).
    #[default]
    Psk,
    /// With a certificate signature.
    Certificate {
        /// How we signed.
        signature: SignatureRecord,
        /// Which of the configured credentials (the standby has the same configuration).
        credential: u8,
    },
}

/// How the peer authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum RemoteAuthRecord {
    /// With a pre-shared key (and every IKEv1 SA).
    #[default]
    Psk,
    /// With a certificate signature.
    Certificate {
        /// How it signed.
        signature: SignatureRecord,
        /// Its certificate's subject (RFC 4514), at most [`MAX_SUBJECT_LEN`] bytes.
        subject: String,
    },
}

/// Where an IKE SA sits in the crypto map, so that its peer index does not move on a
/// switchover (the reference document's "HA switchover: No" row).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapRef {
    /// Crypto map name.
    pub name: String,
    /// Entry sequence number.
    pub seq: u32,
    /// The peer's index in the entry's peer list, from 0 (Peer1).
    pub peer_index: u8,
}

/// One IKE SA as replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaRecord {
    /// The active's handle for the SA; the key of the record.
    pub id: u64,
    /// IKE version, 1 or 2.
    pub version: u8,
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// Whether we were the original initiator.
    pub initiator: bool,
    /// Our IKE address and port.
    pub local: SocketAddr,
    /// The peer's IKE address and port.
    pub peer: SocketAddr,
    /// Negotiated transforms.
    pub transforms: IkeTransforms,
    /// Keys.
    pub keys: IkeKeys,
    /// The message ID of our next request.
    pub next_send_msg_id: u32,
    /// The message ID of the next request we expect from the peer.
    pub next_recv_msg_id: u32,
    /// Seconds left until rekey when replicated (adjusted for elapsed time on takeover).
    pub soft_lifetime_secs: u32,
    /// Seconds left until expiry when replicated.
    pub hard_lifetime_secs: u32,
    /// The crypto map entry and peer index (absent for a remote-access or dynamic SA).
    pub crypto_map: Option<MapRef>,
    /// NAT detected between us and the peer (UDP 4500 with encapsulation).
    pub nat: bool,
    /// The identity the peer authenticated as: the ID payload's type octet, then its data
    /// (RFC 7296 section 3.5); empty where unknown. At most [`MAX_PEER_ID_LEN`] bytes.
    pub peer_id: Vec<u8>,
    /// Extensions both sides announced.
    pub extensions: IkeExtensions,
    /// How we authenticated.
    pub local_auth: LocalAuthRecord,
    /// How the peer authenticated.
    pub remote_auth: RemoteAuthRecord,
    /// Remote access, as the concentrator: the addresses leased to the client (the unit
    /// taking over leases the same ones from its pools). At most [`MAX_VIRTUAL_IPS`].
    pub virtual_ips: Vec<IpAddr>,
    /// What an IKEv1 SA (version 1) needs beyond the fields above; `None` for IKEv2, whose
    /// records it never accompanies (the encoder refuses).
    pub ikev1: Option<Ikev1Record>,
}

/// The state of an ISAKMP SA (IKEv1) that later exchanges depend on and that has no IKEv2
/// counterpart in [`IkeSaRecord`]. An IKEv1 record's Message ID counters are 0 (IKEv1
/// picks Message IDs at random) and its keys are SKEYID_d / SKEYID_a / SKEYID_e.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ikev1Record {
    /// The phase-1 authentication method: the AUTH_METHOD attribute value (RFC 2409
    /// appendix A; 65001 for XAUTHInitPreShared).
    pub auth_method: u16,
    /// The last CBC block of phase 1: every later exchange starts from hash(it | M-ID)
    /// (RFC 2409 appendix B). At most [`MAX_IKEV1_IV_LEN`] bytes; sent in the clear by
    /// phase 1 (it is a ciphertext block), so not key material.
    pub phase1_iv: Vec<u8>,
    /// The sequence number of our last R-U-THERE (RFC 3706 section 7): the unit taking
    /// over continues above it.
    pub dpd_seq: u32,
    /// The peer announced dead peer detection (the RFC 3706 vendor ID).
    pub peer_dpd: bool,
    /// The peer announced NAT traversal (the RFC 3947 vendor ID).
    pub peer_nat_t: bool,
}

/// An address range, protocol and port range: one traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// First address.
    pub start: IpAddr,
    /// Last address (same family as `start`).
    pub end: IpAddr,
    /// IP protocol, 0 for any.
    pub protocol: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
}

/// The transforms of a Child SA, as IANA numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChildTransforms {
    /// Encryption algorithm.
    pub encr: u16,
    /// Its key length in bits.
    pub encr_key_bits: u16,
    /// Integrity algorithm (0 for an AEAD).
    pub integ: u16,
    /// Extended (64-bit) sequence numbers.
    pub esn: bool,
    /// The Diffie-Hellman group of the exchange that made the pair (PFS), 0 for none.
    /// IKEv1 Quick Mode pairs carry it; IKEv2 exports leave it 0.
    pub dh: u16,
}

/// An inbound anti-replay window: the highest sequence number received and the bitmap
/// below it (bit `i` of word `i / 64` is `highest - i`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplayState {
    /// Highest sequence number accepted.
    pub highest: u64,
    /// 1..=16 words (64..1024 bits).
    pub bitmap: Vec<u64>,
}

/// Where a Child SA stands in its life, so that the new active finishes what the old one
/// started: a pair replaced by a rekey (the peer deletes it) or one being deleted (the
/// DELETE is sent again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChildPhase {
    /// In use, rekeyed at its soft lifetime.
    #[default]
    Active,
    /// Replaced by a newer pair; never rekeyed again, deleted by whoever rekeyed it.
    Replaced,
    /// Our DELETE of it was queued or in flight.
    Deleting,
}

impl ChildPhase {
    fn bits(self) -> u8 {
        match self {
            ChildPhase::Active => 0,
            ChildPhase::Replaced => 1,
            ChildPhase::Deleting => 2,
        }
    }

    fn from_bits(b: u8) -> Result<ChildPhase, WireError> {
        match b {
            0 => Ok(ChildPhase::Active),
            1 => Ok(ChildPhase::Replaced),
            2 => Ok(ChildPhase::Deleting),
            _ => Err(WireError::BadValue("Child SA phase")),
        }
    }
}

/// Lifetimes left when replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChildLifetimes {
    /// Seconds until rekey (0: no soft deadline, e.g. a pair already replaced).
    pub soft_secs: u32,
    /// Seconds until expiry (0: no hard lifetime).
    pub hard_secs: u32,
    /// Kilobytes until rekey (0: no volume limit).
    pub soft_kb: u64,
    /// Kilobytes until expiry (0: no volume limit).
    pub hard_kb: u64,
}

/// One Child SA (an inbound and outbound ESP SA pair) as replicated; keyed by its
/// inbound SPI, which we allocated and which is therefore unique on the unit (outbound
/// SPIs are chosen by peers and may collide).
#[derive(Debug, Clone)]
pub struct ChildSaRecord {
    /// The IKE SA it belongs to ([`IkeSaRecord::id`]).
    pub ike_id: u64,
    /// Our SPI.
    pub inbound_spi: u32,
    /// The peer's SPI.
    pub outbound_spi: u32,
    /// Transforms.
    pub transforms: ChildTransforms,
    /// Inbound key material (encryption key and salt, then integrity key).
    pub inbound_key: SecretBytes,
    /// Outbound key material, same layout.
    pub outbound_key: SecretBytes,
    /// Local traffic selectors.
    pub local_ts: Vec<Selector>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<Selector>,
    /// Lifetimes left.
    pub lifetimes: ChildLifetimes,
    /// The next outbound sequence number to use (jumped ahead on takeover).
    pub outbound_seq: u64,
    /// The inbound replay window.
    pub replay: ReplayState,
    /// UDP encapsulation (RFC 3948): local and remote port.
    pub udp_encap: Option<(u16, u16)>,
    /// Where it stands (in use, replaced, being deleted).
    pub phase: ChildPhase,
}

/// Constant-time on the keys; plain on everything else.
impl PartialEq for ChildSaRecord {
    fn eq(&self, o: &Self) -> bool {
        // Keys first, both always compared, so timing does not depend on which differs.
        let keys =
            ct_eq(&self.inbound_key, &o.inbound_key) & ct_eq(&self.outbound_key, &o.outbound_key);
        keys && self.ike_id == o.ike_id
            && self.inbound_spi == o.inbound_spi
            && self.outbound_spi == o.outbound_spi
            && self.transforms == o.transforms
            && self.local_ts == o.local_ts
            && self.remote_ts == o.remote_ts
            && self.lifetimes == o.lifetimes
            && self.outbound_seq == o.outbound_seq
            && self.replay == o.replay
            && self.udp_encap == o.udp_encap
            && self.phase == o.phase
    }
}
impl Eq for ChildSaRecord {}

/// One change the active tells the standby about, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
// Records live briefly (built, queued until acknowledged, applied): boxing the IKE SA
// variant would cost an allocation per record for a few hundred bytes per queued record.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// An IKE SA was created or changed (message IDs, rekey, lifetimes).
    UpsertIke(IkeSaRecord),
    /// An IKE SA (and with it its Child SAs) is gone.
    DeleteIke(u64),
    /// A Child SA was created or changed.
    UpsertChild(ChildSaRecord),
    /// A Child SA is gone (by inbound SPI).
    DeleteChild(u32),
    /// The periodic outbound sequence number of a Child SA (by inbound SPI, the record key).
    SeqUpdate {
        /// The Child SA's inbound SPI.
        inbound_spi: u32,
        /// The next outbound sequence number when read.
        outbound_seq: u64,
    },
    /// The periodic inbound replay window of a Child SA.
    ReplayUpdate {
        /// The Child SA's inbound SPI.
        inbound_spi: u32,
        /// Highest sequence number accepted.
        highest: u64,
        /// The bitmap below it.
        bitmap: Vec<u64>,
    },
}

const REC_UPSERT_IKE: u8 = 1;
const REC_DELETE_IKE: u8 = 2;
const REC_UPSERT_CHILD: u8 = 3;
const REC_DELETE_CHILD: u8 = 4;
const REC_SEQ: u8 = 5;
const REC_REPLAY: u8 = 6;

impl Record {
    /// Checks the record against the caps and consistency rules the decoder enforces, so
    /// that everything the active accepts the standby can decode.
    pub fn validate(&self) -> Result<(), WireError> {
        let mut w = Writer::new();
        self.encode(&mut w)
    }

    /// The encoded length (after [`Record::validate`] succeeded).
    pub fn encoded_len(&self) -> usize {
        let mut w = Writer::new();
        match self.encode(&mut w) {
            Ok(()) => w.len(),
            Err(_) => usize::MAX,
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        match self {
            Record::UpsertIke(r) => {
                w.u8(REC_UPSERT_IKE);
                encode_ike(r, w)
            }
            Record::DeleteIke(id) => {
                w.u8(REC_DELETE_IKE);
                w.u64(*id);
                Ok(())
            }
            Record::UpsertChild(c) => {
                w.u8(REC_UPSERT_CHILD);
                encode_child(c, w)
            }
            Record::DeleteChild(spi) => {
                w.u8(REC_DELETE_CHILD);
                w.u32(*spi);
                Ok(())
            }
            Record::SeqUpdate { inbound_spi, outbound_seq } => {
                w.u8(REC_SEQ);
                w.u32(*inbound_spi);
                w.u64(*outbound_seq);
                Ok(())
            }
            Record::ReplayUpdate { inbound_spi, highest, bitmap } => {
                w.u8(REC_REPLAY);
                w.u32(*inbound_spi);
                encode_replay(*highest, bitmap, w)
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Record, WireError> {
        Ok(match r.u8()? {
            REC_UPSERT_IKE => Record::UpsertIke(decode_ike(r)?),
            REC_DELETE_IKE => Record::DeleteIke(r.u64()?),
            REC_UPSERT_CHILD => Record::UpsertChild(decode_child(r)?),
            REC_DELETE_CHILD => Record::DeleteChild(r.u32()?),
            REC_SEQ => Record::SeqUpdate { inbound_spi: r.u32()?, outbound_seq: r.u64()? },
            REC_REPLAY => {
                let inbound_spi = r.u32()?;
                let (highest, bitmap) = decode_replay(r)?;
                Record::ReplayUpdate { inbound_spi, highest, bitmap }
            }
            value => return Err(WireError::UnknownKind { what: "record", value }),
        })
    }
}

fn encode_ike(r: &IkeSaRecord, w: &mut Writer) -> Result<(), WireError> {
    if !matches!(r.version, 1 | 2) {
        return Err(WireError::BadValue("IKE version"));
    }
    if r.ikev1.is_some() && r.version != 1 {
        return Err(WireError::BadValue("IKEv1 state"));
    }
    if r.ikev1.is_some() && !r.keys.ikev1_shaped() {
        return Err(WireError::BadValue("IKEv1 keys"));
    }
    w.u64(r.id);
    w.u8(r.version);
    w.u64(r.spi_i);
    w.u64(r.spi_r);
    let e = r.extensions;
    // Bit 4 announces the IKEv1 section at the end: an IKEv2 record is unchanged, and a
    // decoder that predates the section refuses it (an unknown flag) rather than misreads.
    w.u8(u8::from(r.initiator)
        | (u8::from(r.nat) << 1)
        | (u8::from(e.fragmentation) << 2)
        | (u8::from(e.message_id_sync) << 3)
        | (u8::from(r.ikev1.is_some()) << 4)
        | (u8::from(e.message_id_sync_used) << 5));
    w.socket(r.local);
    w.socket(r.peer);
    let t = &r.transforms;
    for v in [t.encr, t.encr_key_bits, t.prf, t.integ, t.dh] {
        w.u16(v);
    }
    for k in r.keys.all() {
        w.short_bytes(k.as_bytes(), MAX_IKE_KEY_LEN, "IKE key")?;
    }
    w.u32(r.next_send_msg_id);
    w.u32(r.next_recv_msg_id);
    w.u32(r.soft_lifetime_secs);
    w.u32(r.hard_lifetime_secs);
    match &r.crypto_map {
        None => w.u8(0),
        Some(m) => {
            w.u8(1);
            w.short_bytes(m.name.as_bytes(), MAX_MAP_NAME_LEN, "crypto map name")?;
            w.u32(m.seq);
            w.u8(m.peer_index);
        }
    }
    w.short_bytes(&r.peer_id, MAX_PEER_ID_LEN, "peer identity")?;
    match r.local_auth {
        LocalAuthRecord::Psk => w.u8(0),
        LocalAuthRecord::Certificate { signature, credential } => {
            w.u8(1);
            encode_signature(signature, w);
            w.u8(credential);
        }
    }
    match &r.remote_auth {
        RemoteAuthRecord::Psk => w.u8(0),
        RemoteAuthRecord::Certificate { signature, subject } => {
            w.u8(1);
            encode_signature(*signature, w);
            w.short_bytes(subject.as_bytes(), MAX_SUBJECT_LEN, "certificate subject")?;
        }
    }
    if r.virtual_ips.len() > MAX_VIRTUAL_IPS {
        return Err(WireError::TooLong("virtual IPs"));
    }
    w.u8(r.virtual_ips.len() as u8);
    for &a in &r.virtual_ips {
        w.ip(a);
    }
    if let Some(v1) = &r.ikev1 {
        w.u16(v1.auth_method);
        w.short_bytes(&v1.phase1_iv, MAX_IKEV1_IV_LEN, "IKEv1 phase-1 IV")?;
        w.u32(v1.dpd_seq);
        w.u8(u8::from(v1.peer_dpd) | (u8::from(v1.peer_nat_t) << 1));
    }
    Ok(())
}

fn decode_ikev1(r: &mut Reader<'_>) -> Result<Ikev1Record, WireError> {
    let auth_method = r.u16()?;
    let phase1_iv = r.short_bytes(MAX_IKEV1_IV_LEN, "IKEv1 phase-1 IV")?.to_vec();
    let dpd_seq = r.u32()?;
    let flags = r.u8()?;
    if flags & !0b11 != 0 {
        return Err(WireError::BadValue("IKEv1 flags"));
    }
    Ok(Ikev1Record {
        auth_method,
        phase1_iv,
        dpd_seq,
        peer_dpd: flags & 1 != 0,
        peer_nat_t: flags & 2 != 0,
    })
}

fn encode_signature(s: SignatureRecord, w: &mut Writer) {
    for v in [s.method, s.scheme, s.hash, s.salt_len] {
        w.u8(v);
    }
}

fn decode_signature(r: &mut Reader<'_>) -> Result<SignatureRecord, WireError> {
    Ok(SignatureRecord { method: r.u8()?, scheme: r.u8()?, hash: r.u8()?, salt_len: r.u8()? })
}

fn decode_ike(r: &mut Reader<'_>) -> Result<IkeSaRecord, WireError> {
    let id = r.u64()?;
    let version = r.u8()?;
    if !matches!(version, 1 | 2) {
        return Err(WireError::BadValue("IKE version"));
    }
    let spi_i = r.u64()?;
    let spi_r = r.u64()?;
    let flags = r.u8()?;
    if flags & !0b11_1111 != 0 {
        return Err(WireError::BadValue("IKE flags"));
    }
    if flags & 0x10 != 0 && version != 1 {
        return Err(WireError::BadValue("IKEv1 state"));
    }
    let local = r.socket()?;
    let peer = r.socket()?;
    let transforms = IkeTransforms {
        encr: r.u16()?,
        encr_key_bits: r.u16()?,
        prf: r.u16()?,
        integ: r.u16()?,
        dh: r.u16()?,
    };
    let mut key = || r.short_bytes(MAX_IKE_KEY_LEN, "IKE key").map(SecretBytes::from_slice);
    let keys = IkeKeys {
        sk_d: key()?,
        sk_ai: key()?,
        sk_ar: key()?,
        sk_ei: key()?,
        sk_er: key()?,
        sk_pi: key()?,
        sk_pr: key()?,
    };
    let next_send_msg_id = r.u32()?;
    let next_recv_msg_id = r.u32()?;
    let soft_lifetime_secs = r.u32()?;
    let hard_lifetime_secs = r.u32()?;
    let crypto_map = if r.bool("crypto map flag")? {
        let name = r.short_bytes(MAX_MAP_NAME_LEN, "crypto map name")?;
        let name =
            core::str::from_utf8(name).map_err(|_| WireError::BadValue("crypto map name"))?;
        Some(MapRef { name: name.to_owned(), seq: r.u32()?, peer_index: r.u8()? })
    } else {
        None
    };
    let peer_id = r.short_bytes(MAX_PEER_ID_LEN, "peer identity")?.to_vec();
    let local_auth = if r.bool("local auth kind")? {
        LocalAuthRecord::Certificate { signature: decode_signature(r)?, credential: r.u8()? }
    } else {
        LocalAuthRecord::Psk
    };
    let remote_auth = if r.bool("remote auth kind")? {
        let signature = decode_signature(r)?;
        let subject = r.short_bytes(MAX_SUBJECT_LEN, "certificate subject")?;
        let subject = core::str::from_utf8(subject)
            .map_err(|_| WireError::BadValue("certificate subject"))?;
        RemoteAuthRecord::Certificate { signature, subject: subject.to_owned() }
    } else {
        RemoteAuthRecord::Psk
    };
    let n = usize::from(r.u8()?);
    if n > MAX_VIRTUAL_IPS {
        return Err(WireError::TooLong("virtual IPs"));
    }
    let virtual_ips = (0..n).map(|_| r.ip()).collect::<Result<Vec<_>, _>>()?;
    let ikev1 = if flags & 0x10 != 0 { Some(decode_ikev1(r)?) } else { None };
    if ikev1.is_some() && !keys.ikev1_shaped() {
        return Err(WireError::BadValue("IKEv1 keys"));
    }
    Ok(IkeSaRecord {
        id,
        version,
        spi_i,
        spi_r,
        initiator: flags & 1 != 0,
        local,
        peer,
        transforms,
        keys,
        next_send_msg_id,
        next_recv_msg_id,
        soft_lifetime_secs,
        hard_lifetime_secs,
        crypto_map,
        nat: flags & 2 != 0,
        peer_id,
        extensions: IkeExtensions {
            fragmentation: flags & 4 != 0,
            message_id_sync: flags & 8 != 0,
            message_id_sync_used: flags & 0x20 != 0,
        },
        local_auth,
        remote_auth,
        virtual_ips,
        ikev1,
    })
}

fn encode_selectors(ts: &[Selector], w: &mut Writer) -> Result<(), WireError> {
    if ts.len() > MAX_SELECTORS {
        return Err(WireError::TooLong("traffic selectors"));
    }
    w.u8(ts.len() as u8);
    for s in ts {
        check_selector(s)?;
        w.ip(s.start);
        // The family is written once: `end` has the same one (checked above).
        match s.end {
            IpAddr::V4(a) => w.bytes(&a.octets()),
            IpAddr::V6(a) => w.bytes(&a.octets()),
        }
        w.u8(s.protocol);
        w.u16(s.start_port);
        w.u16(s.end_port);
    }
    Ok(())
}

fn check_selector(s: &Selector) -> Result<(), WireError> {
    if s.start.is_ipv4() != s.end.is_ipv4() {
        return Err(WireError::BadValue("selector address families"));
    }
    if s.start > s.end || s.start_port > s.end_port {
        return Err(WireError::BadValue("selector range"));
    }
    Ok(())
}

fn decode_selectors(r: &mut Reader<'_>) -> Result<Vec<Selector>, WireError> {
    let n = usize::from(r.u8()?);
    if n > MAX_SELECTORS {
        return Err(WireError::TooLong("traffic selectors"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = r.ip()?;
        let end = match start {
            IpAddr::V4(_) => {
                let b: [u8; 4] = r.take(4)?.try_into().map_err(|_| WireError::Truncated)?;
                IpAddr::from(b)
            }
            IpAddr::V6(_) => {
                let b: [u8; 16] = r.take(16)?.try_into().map_err(|_| WireError::Truncated)?;
                IpAddr::from(b)
            }
        };
        let s =
            Selector { start, end, protocol: r.u8()?, start_port: r.u16()?, end_port: r.u16()? };
        check_selector(&s)?;
        out.push(s);
    }
    Ok(out)
}

fn encode_replay(highest: u64, bitmap: &[u64], w: &mut Writer) -> Result<(), WireError> {
    if bitmap.is_empty() {
        return Err(WireError::BadValue("replay bitmap"));
    }
    if bitmap.len() > MAX_REPLAY_WORDS {
        return Err(WireError::TooLong("replay bitmap"));
    }
    w.u64(highest);
    w.u8(bitmap.len() as u8);
    for word in bitmap {
        w.u64(*word);
    }
    Ok(())
}

fn decode_replay(r: &mut Reader<'_>) -> Result<(u64, Vec<u64>), WireError> {
    let highest = r.u64()?;
    let n = usize::from(r.u8()?);
    if n == 0 {
        return Err(WireError::BadValue("replay bitmap"));
    }
    if n > MAX_REPLAY_WORDS {
        return Err(WireError::TooLong("replay bitmap"));
    }
    let mut bitmap = Vec::with_capacity(n);
    for _ in 0..n {
        bitmap.push(r.u64()?);
    }
    Ok((highest, bitmap))
}

fn encode_child(c: &ChildSaRecord, w: &mut Writer) -> Result<(), WireError> {
    w.u64(c.ike_id);
    w.u32(c.inbound_spi);
    w.u32(c.outbound_spi);
    w.u16(c.transforms.encr);
    w.u16(c.transforms.encr_key_bits);
    w.u16(c.transforms.integ);
    // The phase shares the flags octet (bits 2 and 3), so the record does not grow. Bit 4
    // announces the PFS group at the end (absent, the record is as before it existed).
    w.u8(u8::from(c.transforms.esn)
        | (u8::from(c.udp_encap.is_some()) << 1)
        | (c.phase.bits() << 2)
        | (u8::from(c.transforms.dh != 0) << 4));
    w.short_bytes(c.inbound_key.as_bytes(), MAX_CHILD_KEY_LEN, "Child SA key")?;
    w.short_bytes(c.outbound_key.as_bytes(), MAX_CHILD_KEY_LEN, "Child SA key")?;
    encode_selectors(&c.local_ts, w)?;
    encode_selectors(&c.remote_ts, w)?;
    w.u32(c.lifetimes.soft_secs);
    w.u32(c.lifetimes.hard_secs);
    w.u64(c.lifetimes.soft_kb);
    w.u64(c.lifetimes.hard_kb);
    w.u64(c.outbound_seq);
    encode_replay(c.replay.highest, &c.replay.bitmap, w)?;
    if let Some((l, p)) = c.udp_encap {
        w.u16(l);
        w.u16(p);
    }
    if c.transforms.dh != 0 {
        w.u16(c.transforms.dh);
    }
    Ok(())
}

fn decode_child(r: &mut Reader<'_>) -> Result<ChildSaRecord, WireError> {
    let ike_id = r.u64()?;
    let inbound_spi = r.u32()?;
    let outbound_spi = r.u32()?;
    let encr = r.u16()?;
    let encr_key_bits = r.u16()?;
    let integ = r.u16()?;
    let flags = r.u8()?;
    if flags & !0b1_1111 != 0 {
        return Err(WireError::BadValue("Child SA flags"));
    }
    let phase = ChildPhase::from_bits((flags >> 2) & 0b11)?;
    let inbound_key = SecretBytes::from_slice(r.short_bytes(MAX_CHILD_KEY_LEN, "Child SA key")?);
    let outbound_key = SecretBytes::from_slice(r.short_bytes(MAX_CHILD_KEY_LEN, "Child SA key")?);
    let local_ts = decode_selectors(r)?;
    let remote_ts = decode_selectors(r)?;
    let lifetimes = ChildLifetimes {
        soft_secs: r.u32()?,
        hard_secs: r.u32()?,
        soft_kb: r.u64()?,
        hard_kb: r.u64()?,
    };
    let outbound_seq = r.u64()?;
    let (highest, bitmap) = decode_replay(r)?;
    let udp_encap = if flags & 2 != 0 { Some((r.u16()?, r.u16()?)) } else { None };
    let dh = if flags & 0x10 != 0 {
        match r.u16()? {
            // Present means non-zero: one encoding per record.
            0 => return Err(WireError::BadValue("Child SA DH group")),
            g => g,
        }
    } else {
        0
    };
    Ok(ChildSaRecord {
        ike_id,
        inbound_spi,
        outbound_spi,
        transforms: ChildTransforms { encr, encr_key_bits, integ, esn: flags & 1 != 0, dh },
        inbound_key,
        outbound_key,
        local_ts,
        remote_ts,
        lifetimes,
        outbound_seq,
        replay: ReplayState { highest, bitmap },
        udp_encap,
        phase,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn v6_selector(i: u16) -> Selector {
        Selector {
            start: IpAddr::from([0x2001, 0xdb8, i, 0, 0, 0, 0, 0]),
            end: IpAddr::from([0x2001, 0xdb8, i, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]),
            protocol: 6,
            start_port: 0,
            end_port: 65535,
        }
    }

    /// A Child SA with every variable field at its cap.
    pub(crate) fn max_child() -> ChildSaRecord {
        ChildSaRecord {
            ike_id: u64::MAX,
            inbound_spi: u32::MAX,
            outbound_spi: u32::MAX,
            transforms: ChildTransforms {
                encr: 12,
                encr_key_bits: 256,
                integ: 14,
                esn: true,
                dh: 21,
            },
            inbound_key: SecretBytes::from_slice(&[0xaa; MAX_CHILD_KEY_LEN]),
            outbound_key: SecretBytes::from_slice(&[0xbb; MAX_CHILD_KEY_LEN]),
            local_ts: (0..MAX_SELECTORS as u16).map(v6_selector).collect(),
            remote_ts: (0..MAX_SELECTORS as u16).map(v6_selector).collect(),
            lifetimes: ChildLifetimes { soft_secs: 1, hard_secs: 2, soft_kb: 3, hard_kb: 4 },
            outbound_seq: u64::MAX,
            replay: ReplayState { highest: 9, bitmap: vec![u64::MAX; MAX_REPLAY_WORDS] },
            udp_encap: Some((4500, 4500)),
            phase: ChildPhase::Deleting,
        }
    }

    const SIG: SignatureRecord = SignatureRecord { method: 14, scheme: 2, hash: 2, salt_len: 32 };

    pub(crate) fn max_ike() -> IkeSaRecord {
        let k = || SecretBytes::from_slice(&[0x5a; MAX_IKE_KEY_LEN]);
        IkeSaRecord {
            id: 1,
            version: 2,
            spi_i: 2,
            spi_r: 3,
            initiator: true,
            local: "[2001:db8::1]:4500".parse().unwrap(),
            peer: "[2001:db8::2]:4500".parse().unwrap(),
            transforms: IkeTransforms { encr: 20, encr_key_bits: 256, prf: 7, integ: 0, dh: 21 },
            keys: IkeKeys {
                sk_d: k(),
                sk_ai: k(),
                sk_ar: k(),
                sk_ei: k(),
                sk_er: k(),
                sk_pi: k(),
                sk_pr: k(),
            },
            next_send_msg_id: 5,
            next_recv_msg_id: 6,
            soft_lifetime_secs: 100,
            hard_lifetime_secs: 200,
            crypto_map: Some(MapRef { name: "m".repeat(MAX_MAP_NAME_LEN), seq: 10, peer_index: 1 }),
            nat: true,
            peer_id: vec![0x42; MAX_PEER_ID_LEN],
            extensions: IkeExtensions {
                fragmentation: true,
                message_id_sync: true,
                message_id_sync_used: true,
            },
            local_auth: LocalAuthRecord::Certificate { signature: SIG, credential: 3 },
            remote_auth: RemoteAuthRecord::Certificate {
                signature: SIG,
                subject: "s".repeat(MAX_SUBJECT_LEN),
            },
            virtual_ips: vec!["2001:db8:77::10".parse().unwrap(); MAX_VIRTUAL_IPS],
            ikev1: None,
        }
    }

    /// The largest IKEv1 record: [`max_ike`] (identity, subject and addresses at their
    /// caps) with its three keys at their cap and the IKEv1 section at its own.
    pub(crate) fn max_ike_v1() -> IkeSaRecord {
        let k = || SecretBytes::from_slice(&[0x5a; MAX_IKE_KEY_LEN]);
        let none = || SecretBytes::from_slice(&[]);
        IkeSaRecord {
            version: 1,
            keys: IkeKeys {
                sk_d: k(),
                sk_ai: k(),
                sk_ar: none(),
                sk_ei: k(),
                sk_er: none(),
                sk_pi: none(),
                sk_pr: none(),
            },
            transforms: IkeTransforms { encr: 7, encr_key_bits: 256, prf: 6, integ: 0, dh: 21 },
            next_send_msg_id: 0,
            next_recv_msg_id: 0,
            ikev1: Some(Ikev1Record {
                auth_method: 65001,
                phase1_iv: vec![0x17; MAX_IKEV1_IV_LEN],
                dpd_seq: u32::MAX,
                peer_dpd: true,
                peer_nat_t: true,
            }),
            ..max_ike()
        }
    }

    fn round_trip(rec: &Record) {
        let mut w = Writer::new();
        rec.encode(&mut w).unwrap();
        let mut r = Reader::new(w.as_slice());
        assert_eq!(&Record::decode(&mut r).unwrap(), rec);
        r.finish().unwrap();
        // Every strict prefix is rejected.
        for cut in 0..w.len() {
            let mut r = Reader::new(&w.as_slice()[..cut]);
            assert!(Record::decode(&mut r).is_err(), "prefix {cut} of {rec:?}");
        }
    }

    #[test]
    fn max_record_len_is_exact() {
        assert_eq!(Record::UpsertChild(max_child()).encoded_len(), MAX_RECORD_LEN);
        assert!(Record::UpsertIke(max_ike()).encoded_len() <= MAX_RECORD_LEN);
        assert!(Record::UpsertIke(max_ike_v1()).encoded_len() <= MAX_RECORD_LEN);
    }

    #[test]
    fn ikev1_records_round_trip() {
        round_trip(&Record::UpsertIke(max_ike_v1()));
        let mut ike = max_ike_v1();
        ike.crypto_map = None;
        ike.virtual_ips = vec!["10.9.0.7".parse().unwrap()];
        ike.local_auth = LocalAuthRecord::Psk;
        ike.remote_auth = RemoteAuthRecord::Psk;
        let v1 = ike.ikev1.as_mut().unwrap();
        v1.peer_dpd = false;
        v1.phase1_iv.clear();
        round_trip(&Record::UpsertIke(ike.clone()));
        let v1 = ike.ikev1.as_mut().unwrap();
        v1.peer_dpd = true;
        v1.peer_nat_t = false;
        v1.dpd_seq = 0;
        round_trip(&Record::UpsertIke(ike.clone()));
        // A Quick Mode pair: PFS group, no ESN, UDP-encapsulated.
        let mut c = max_child();
        c.transforms =
            ChildTransforms { encr: 12, encr_key_bits: 128, integ: 12, esn: false, dh: 14 };
        c.local_ts.truncate(1);
        c.remote_ts.truncate(1);
        round_trip(&Record::UpsertChild(c.clone()));
        c.transforms.dh = 0;
        round_trip(&Record::UpsertChild(c));
    }

    /// The sections added for IKEv1 leave the other records' encoding as it was: an IKEv2
    /// record or a pair without a PFS group is byte for byte what a unit that predates
    /// them sends and reads.
    #[test]
    fn ikev1_additions_leave_older_records_unchanged() {
        let encoded = |rec: &Record| {
            let mut w = Writer::new();
            rec.encode(&mut w).unwrap();
            w.as_slice().to_vec()
        };
        let v2 = encoded(&Record::UpsertIke(max_ike()));
        let v1 = encoded(&Record::UpsertIke(max_ike_v1()));
        // Kind, id, version, SPIs: the IKE flags octet is at 26. The section is the last
        // 2 + 1 + 16 + 4 + 1 bytes.
        assert_eq!(v2[26] & 0x10, 0);
        assert_eq!(v1[26] & 0x10, 0x10);
        assert_eq!(
            v1.len() - 24,
            encoded(&Record::UpsertIke(IkeSaRecord { ikev1: None, ..max_ike_v1() })).len()
        );
        let mut c = max_child();
        c.transforms.dh = 0;
        let plain = encoded(&Record::UpsertChild(c));
        assert_eq!(plain.len() + 2, MAX_RECORD_LEN);
        assert_eq!(plain[23] & 0x10, 0);
    }

    #[test]
    fn ikev1_sections_out_of_place_are_refused() {
        let mut i = max_ike();
        i.ikev1 = max_ike_v1().ikev1;
        assert_eq!(Record::UpsertIke(i).validate(), Err(WireError::BadValue("IKEv1 state")));
        let mut i = max_ike_v1();
        i.ikev1.as_mut().unwrap().phase1_iv.push(0);
        assert_eq!(Record::UpsertIke(i).validate(), Err(WireError::TooLong("IKEv1 phase-1 IV")));
        // SK_ar and the others are IKEv2's: an IKEv1 record has them empty.
        let mut i = max_ike_v1();
        i.keys.sk_pr = SecretBytes::from_slice(&[1]);
        assert_eq!(Record::UpsertIke(i).validate(), Err(WireError::BadValue("IKEv1 keys")));
        let encoded = |rec: &Record| {
            let mut w = Writer::new();
            rec.encode(&mut w).unwrap();
            w.as_slice().to_vec()
        };
        let decode = |b: &[u8]| Record::decode(&mut Reader::new(b));
        // An IKEv1 section announced on an IKEv2 record.
        let mut b = encoded(&Record::UpsertIke(max_ike_v1()));
        b[9] = 2;
        assert_eq!(decode(&b), Err(WireError::BadValue("IKEv1 state")));
        // Unknown IKEv1 flags (the section's last octet).
        let mut b = encoded(&Record::UpsertIke(max_ike_v1()));
        *b.last_mut().unwrap() |= 4;
        assert_eq!(decode(&b), Err(WireError::BadValue("IKEv1 flags")));
        // A PFS group announced but zero.
        let mut b = encoded(&Record::UpsertChild(max_child()));
        let n = b.len();
        b[n - 2..].copy_from_slice(&[0, 0]);
        assert_eq!(decode(&b), Err(WireError::BadValue("Child SA DH group")));
    }

    #[test]
    fn records_round_trip() {
        round_trip(&Record::UpsertIke(max_ike()));
        let mut ike = max_ike();
        ike.crypto_map = None;
        ike.local = "192.0.2.1:500".parse().unwrap();
        ike.version = 1;
        ike.nat = false;
        ike.peer_id.clear();
        ike.extensions = IkeExtensions {
            fragmentation: false,
            message_id_sync: true,
            message_id_sync_used: false,
        };
        round_trip(&Record::UpsertIke(ike.clone()));
        ike.extensions = IkeExtensions {
            fragmentation: true,
            message_id_sync: false,
            message_id_sync_used: true,
        };
        ike.local_auth = LocalAuthRecord::Psk;
        round_trip(&Record::UpsertIke(ike.clone()));
        ike.remote_auth = RemoteAuthRecord::Psk;
        round_trip(&Record::UpsertIke(ike.clone()));
        ike.remote_auth = RemoteAuthRecord::Certificate {
            signature: SignatureRecord { method: 9, ..SignatureRecord::default() },
            subject: "CN=peer, O=Example".into(),
        };
        round_trip(&Record::UpsertIke(ike));
        round_trip(&Record::UpsertChild(max_child()));
        let mut c = max_child();
        c.udp_encap = None;
        c.local_ts.clear();
        c.transforms.esn = false;
        c.phase = ChildPhase::Active;
        round_trip(&Record::UpsertChild(c.clone()));
        c.phase = ChildPhase::Replaced;
        round_trip(&Record::UpsertChild(c));
        round_trip(&Record::DeleteIke(7));
        round_trip(&Record::DeleteChild(8));
        round_trip(&Record::SeqUpdate { inbound_spi: 1, outbound_seq: 2 });
        round_trip(&Record::ReplayUpdate { inbound_spi: 1, highest: 2, bitmap: vec![3] });
    }

    #[test]
    fn over_cap_records_are_refused() {
        let mut c = max_child();
        c.local_ts.push(v6_selector(99));
        assert_eq!(Record::UpsertChild(c).validate(), Err(WireError::TooLong("traffic selectors")));
        let mut c = max_child();
        c.inbound_key = SecretBytes::from_slice(&[0; MAX_CHILD_KEY_LEN + 1]);
        assert!(Record::UpsertChild(c).validate().is_err());
        let mut c = max_child();
        c.local_ts[0].end = "10.0.0.1".parse().unwrap();
        assert!(Record::UpsertChild(c).validate().is_err());
        let mut i = max_ike();
        i.version = 3;
        assert!(Record::UpsertIke(i).validate().is_err());
        let mut i = max_ike();
        i.crypto_map.as_mut().unwrap().name.push('x');
        assert!(Record::UpsertIke(i).validate().is_err());
        let mut i = max_ike();
        if let RemoteAuthRecord::Certificate { subject, .. } = &mut i.remote_auth {
            subject.push('x');
        }
        assert_eq!(Record::UpsertIke(i).validate(), Err(WireError::TooLong("certificate subject")));
        let mut i = max_ike();
        i.peer_id.push(0);
        assert_eq!(Record::UpsertIke(i).validate(), Err(WireError::TooLong("peer identity")));
        let r = Record::ReplayUpdate { inbound_spi: 1, highest: 0, bitmap: vec![] };
        assert!(r.validate().is_err());
        let r = Record::ReplayUpdate { inbound_spi: 1, highest: 0, bitmap: vec![0; 17] };
        assert!(r.validate().is_err());
    }

    /// Unknown flag bits and the unused Child SA phase value are refused, not ignored.
    #[test]
    fn reserved_flag_bits_are_refused() {
        let encoded = |rec: &Record| {
            let mut w = Writer::new();
            rec.encode(&mut w).unwrap();
            w.as_slice().to_vec()
        };
        let decode = |b: &[u8]| Record::decode(&mut Reader::new(b));
        // Kind, id, version, SPIs: the IKE flags octet is at 26.
        let mut ike = encoded(&Record::UpsertIke(max_ike()));
        assert_eq!(ike[26], 0b10_1111, "initiator, NAT, fragmentation, Message ID sync (used)");
        ike[26] |= 0x40;
        assert_eq!(decode(&ike), Err(WireError::BadValue("IKE flags")));
        // Kind, IKE id, SPIs, three transforms: the Child SA flags octet is at 23.
        let mut child = encoded(&Record::UpsertChild(max_child()));
        assert_eq!(child[23], 0b1_1011, "ESN, UDP encapsulation, Deleting, PFS group");
        child[23] |= 0b1100;
        assert_eq!(decode(&child), Err(WireError::BadValue("Child SA phase")));
        child[23] = 0x23;
        assert_eq!(decode(&child), Err(WireError::BadValue("Child SA flags")));
    }

    #[test]
    fn debug_hides_keys() {
        let s = format!("{:?}", Record::UpsertIke(max_ike()));
        assert!(s.contains("<64 secret bytes>"), "{s}");
        assert!(!s.contains("90, 90"), "{s}");
    }
}
