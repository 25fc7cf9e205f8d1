//! The algorithms a policy can name: their ASA keywords, IKEv2 transform IDs (RFC 7296
//! section 3.3.2 and the IANA "IKEv2 Transform Attribute Types" registry), key lengths, and a
//! `strength` rank used to order lists most- to least-secure as the ASA does.
//!
//! # Why this order
//! `strength` sorts by the protection offered first and speed only to break ties:
//! - Ciphers: authenticated encryption (AEAD) above encrypt-then-MAC compositions (one pass,
//!   one key, no padding oracle); inside each class, larger keys first (256-bit keys keep a
//!   margin against Grover's algorithm). ChaCha20-Poly1305 has a 256-bit key like
//!   AES-GCM-256 but ranks just below it: the security claims are equal and AES-GCM is 3-4x
//!   faster on the AES-NI/VAES machines ferrogate runs on (DESIGN-NOTES section 3). 3DES
//!   (112-bit effective key, 64-bit block: Sweet32) sits above DES (56-bit key, brute
//!   forced). ESP's integrity-only choices (AES-GMAC, NULL) give no confidentiality at all
//!   and therefore rank below every real cipher.
//! - Hashes: longer outputs first (SHA-512 > SHA-384 > SHA-256 > SHA-1 > MD5); `null`
//!   integrity last (it is only meaningful beside AEAD ciphers).
//! - DH groups by estimated security level (NIST SP 800-57 part 1 table 2, RFC 8247
//!   section 2.4): 21 (P-521, 256 bits) > 20 (P-384, 192) > 16 (MODP-4096, ~150) > the three
//!   128-bit groups, ordered 31 (Curve25519: constant-time by design, no point validation
//!   pitfalls) > 19 (P-256) > 15 (MODP-3072, same level but slowest) > 14 (MODP-2048,
//!   112 bits) > 24 (MODP-2048 with a 256-bit subgroup, RFC 8247: SHOULD NOT) > 5
//!   (MODP-1536) > 2 (MODP-1024) > 1 (MODP-768).

use core::fmt;

use super::keywords::keyword_enum;

keyword_enum! {
    /// An IKE encryption algorithm (`crypto ikev1 policy N / encryption`,
    /// `crypto ikev2 policy N / encryption`). IKEv1 accepts only the CBC ciphers.
    pub enum IkeEncryption {
        /// DES-CBC (56-bit key): weak.
        Des = "des",
        /// 3DES-CBC: weak (64-bit block).
        TripleDes = "3des",
        /// AES-128-CBC.
        Aes = "aes",
        /// AES-192-CBC.
        Aes192 = "aes-192",
        /// AES-256-CBC.
        Aes256 = "aes-256",
        /// AES-128-GCM with a 16-byte ICV (RFC 5282).
        AesGcm = "aes-gcm",
        /// AES-192-GCM.
        AesGcm192 = "aes-gcm-192",
        /// AES-256-GCM.
        AesGcm256 = "aes-gcm-256",
        /// ChaCha20-Poly1305 (RFC 7634).
        ChaCha20Poly1305 = "chacha20-poly1305",
    }
}

/// IANA IKEv2 encryption transform IDs (RFC 7296 section 3.3.2; RFC 5282; RFC 7634).
pub mod encr_id {
    /// ENCR_DES.
    pub const DES: u16 = 2;
    /// ENCR_3DES.
    pub const TRIPLE_DES: u16 = 3;
    /// ENCR_NULL.
    pub const NULL: u16 = 11;
    /// ENCR_AES_CBC (RFC 3602).
    pub const AES_CBC: u16 = 12;
    /// ENCR_AES_GCM_16 (RFC 4106, RFC 5282).
    pub const AES_GCM_16: u16 = 20;
    /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543).
    pub const NULL_AUTH_AES_GMAC: u16 = 21;
    /// ENCR_CHACHA20_POLY1305 (RFC 7634).
    pub const CHACHA20_POLY1305: u16 = 28;
}

impl IkeEncryption {
    /// IKEv2 transform ID (transform type 1).
    pub const fn transform_id(self) -> u16 {
        match self {
            IkeEncryption::Des => encr_id::DES,
            IkeEncryption::TripleDes => encr_id::TRIPLE_DES,
            IkeEncryption::Aes | IkeEncryption::Aes192 | IkeEncryption::Aes256 => encr_id::AES_CBC,
            IkeEncryption::AesGcm | IkeEncryption::AesGcm192 | IkeEncryption::AesGcm256 => {
                encr_id::AES_GCM_16
            }
            IkeEncryption::ChaCha20Poly1305 => encr_id::CHACHA20_POLY1305,
        }
    }

    /// The cipher key size in bits (without the AEAD salt).
    pub const fn key_bits(self) -> u16 {
        match self {
            IkeEncryption::Des => 64,
            IkeEncryption::TripleDes => 192,
            IkeEncryption::Aes | IkeEncryption::AesGcm => 128,
            IkeEncryption::Aes192 | IkeEncryption::AesGcm192 => 192,
            IkeEncryption::Aes256 | IkeEncryption::AesGcm256 | IkeEncryption::ChaCha20Poly1305 => {
                256
            }
        }
    }

    /// The Key Length attribute (RFC 7296 section 3.3.5) to send: only for ciphers with a
    /// variable key length (AES); fixed-length ciphers must not carry it.
    pub const fn key_length_attribute(self) -> Option<u16> {
        match self {
            IkeEncryption::Des | IkeEncryption::TripleDes | IkeEncryption::ChaCha20Poly1305 => None,
            _ => Some(self.key_bits()),
        }
    }

    /// Whether it is an AEAD cipher (needs no separate integrity transform).
    pub const fn is_aead(self) -> bool {
        matches!(
            self,
            IkeEncryption::AesGcm
                | IkeEncryption::AesGcm192
                | IkeEncryption::AesGcm256
                | IkeEncryption::ChaCha20Poly1305
        )
    }

    /// Accepted, with a warning (RFC 8247 section 2.1: MUST NOT / SHOULD NOT).
    pub const fn is_weak(self) -> bool {
        matches!(self, IkeEncryption::Des | IkeEncryption::TripleDes)
    }

    /// Whether IKEv1 (`crypto ikev1 policy`) offers it: IKEv1 has no AEAD ciphers.
    pub const fn ikev1_allowed(self) -> bool {
        !self.is_aead()
    }

    /// Rank: higher is more secure (see the module doc for the order).
    pub const fn strength(self) -> u8 {
        match self {
            IkeEncryption::AesGcm256 => 90,
            IkeEncryption::ChaCha20Poly1305 => 85,
            IkeEncryption::AesGcm192 => 80,
            IkeEncryption::AesGcm => 75,
            IkeEncryption::Aes256 => 60,
            IkeEncryption::Aes192 => 55,
            IkeEncryption::Aes => 50,
            IkeEncryption::TripleDes => 20,
            IkeEncryption::Des => 10,
        }
    }

    /// The keywords IKEv1 accepts, for messages.
    pub fn expected_ikev1() -> String {
        let v: Vec<&str> =
            Self::ALL.iter().filter(|e| e.ikev1_allowed()).map(|e| e.keyword()).collect();
        v.join(", ")
    }
}

keyword_enum! {
    /// An IKEv2 integrity algorithm (`crypto ikev2 policy N / integrity`).
    pub enum IkeIntegrity {
        /// HMAC-MD5-96: weak.
        Md5 = "md5",
        /// HMAC-SHA1-96.
        Sha1 = "sha",
        /// HMAC-SHA2-256-128 (RFC 4868).
        Sha256 = "sha256",
        /// HMAC-SHA2-384-192.
        Sha384 = "sha384",
        /// HMAC-SHA2-512-256.
        Sha512 = "sha512",
        /// No integrity transform: only with AEAD ciphers.
        Null = "null",
    }
}

/// IANA IKEv2 integrity transform IDs (RFC 7296 section 3.3.2; RFC 4868).
pub mod auth_id {
    /// NONE (used with AEAD ciphers).
    pub const NONE: u16 = 0;
    /// AUTH_HMAC_MD5_96.
    pub const HMAC_MD5_96: u16 = 1;
    /// AUTH_HMAC_SHA1_96.
    pub const HMAC_SHA1_96: u16 = 2;
    /// AUTH_HMAC_SHA2_256_128.
    pub const HMAC_SHA2_256_128: u16 = 12;
    /// AUTH_HMAC_SHA2_384_192.
    pub const HMAC_SHA2_384_192: u16 = 13;
    /// AUTH_HMAC_SHA2_512_256.
    pub const HMAC_SHA2_512_256: u16 = 14;
}

/// Transform ID, key bytes and ICV bytes of the HMAC integrity algorithms (RFC 4868 section
/// 2.6: the truncation halves the output; RFC 2403/2404: 96-bit ICVs).
const fn hmac_params(hash: Prf) -> (u16, usize, usize) {
    match hash {
        Prf::Md5 => (auth_id::HMAC_MD5_96, 16, 12),
        Prf::Sha1 => (auth_id::HMAC_SHA1_96, 20, 12),
        Prf::Sha256 => (auth_id::HMAC_SHA2_256_128, 32, 16),
        Prf::Sha384 => (auth_id::HMAC_SHA2_384_192, 48, 24),
        Prf::Sha512 => (auth_id::HMAC_SHA2_512_256, 64, 32),
    }
}

impl IkeIntegrity {
    /// The hash behind the HMAC, or `None` for `null`.
    pub const fn hash(self) -> Option<Prf> {
        match self {
            IkeIntegrity::Md5 => Some(Prf::Md5),
            IkeIntegrity::Sha1 => Some(Prf::Sha1),
            IkeIntegrity::Sha256 => Some(Prf::Sha256),
            IkeIntegrity::Sha384 => Some(Prf::Sha384),
            IkeIntegrity::Sha512 => Some(Prf::Sha512),
            IkeIntegrity::Null => None,
        }
    }

    /// IKEv2 transform ID (transform type 3).
    pub const fn transform_id(self) -> u16 {
        match self.hash() {
            Some(h) => hmac_params(h).0,
            None => auth_id::NONE,
        }
    }

    /// Key length in bytes (0 for `null`).
    pub const fn key_bytes(self) -> usize {
        match self.hash() {
            Some(h) => hmac_params(h).1,
            None => 0,
        }
    }

    /// Accepted with a warning.
    pub const fn is_weak(self) -> bool {
        matches!(self, IkeIntegrity::Md5)
    }

    /// Rank: higher is more secure.
    pub const fn strength(self) -> u8 {
        match self.hash() {
            Some(h) => h.strength(),
            None => 0,
        }
    }
}

keyword_enum! {
    /// A pseudo-random function (`crypto ikev2 policy N / prf`), also the IKEv1 policy's
    /// `hash`.
    pub enum Prf {
        /// PRF_HMAC_MD5: weak.
        Md5 = "md5",
        /// PRF_HMAC_SHA1.
        Sha1 = "sha",
        /// PRF_HMAC_SHA2_256.
        Sha256 = "sha256",
        /// PRF_HMAC_SHA2_384.
        Sha384 = "sha384",
        /// PRF_HMAC_SHA2_512.
        Sha512 = "sha512",
    }
}

impl Prf {
    /// IKEv2 transform ID (transform type 2; RFC 7296 section 3.3.2, RFC 4868).
    pub const fn transform_id(self) -> u16 {
        match self {
            Prf::Md5 => 1,
            Prf::Sha1 => 2,
            Prf::Sha256 => 5,
            Prf::Sha384 => 6,
            Prf::Sha512 => 7,
        }
    }

    /// The hash output (and preferred key) length in bytes.
    pub const fn output_bytes(self) -> usize {
        hmac_params(self).1
    }

    /// Accepted with a warning.
    pub const fn is_weak(self) -> bool {
        matches!(self, Prf::Md5)
    }

    /// Rank: higher is more secure.
    pub const fn strength(self) -> u8 {
        match self {
            Prf::Sha512 => 50,
            Prf::Sha384 => 40,
            Prf::Sha256 => 30,
            Prf::Sha1 => 20,
            Prf::Md5 => 10,
        }
    }

    /// The integrity algorithm built on the same hash (the default PRF list of an IKEv2
    /// policy follows its integrity list).
    pub const fn from_integrity(i: IkeIntegrity) -> Option<Prf> {
        i.hash()
    }
}

/// A Diffie-Hellman group (`group N`, `set pfs groupN`). The number is the IKEv2 transform
/// ID (transform type 4, IANA "Transform Type 4 - Key Exchange Method Transform IDs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 768-bit MODP (RFC 2409): weak.
    Modp768 = 1,
    /// 1024-bit MODP (RFC 2409): weak.
    Modp1024 = 2,
    /// 1536-bit MODP (RFC 3526): weak.
    Modp1536 = 5,
    /// 2048-bit MODP (RFC 3526).
    Modp2048 = 14,
    /// 3072-bit MODP (RFC 3526).
    Modp3072 = 15,
    /// 4096-bit MODP (RFC 3526).
    Modp4096 = 16,
    /// 256-bit random ECP, P-256 (RFC 5903).
    Ecp256 = 19,
    /// 384-bit random ECP, P-384 (RFC 5903).
    Ecp384 = 20,
    /// 521-bit random ECP, P-521 (RFC 5903).
    Ecp521 = 21,
    /// 2048-bit MODP with 256-bit prime order subgroup (RFC 5114): weak.
    Modp2048s256 = 24,
    /// Curve25519 (RFC 8031).
    Curve25519 = 31,
}

impl DhGroup {
    /// Every group, in number order.
    pub const ALL: &'static [DhGroup] = &[
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Modp2048s256,
        DhGroup::Curve25519,
    ];

    /// The group number (the ASA keyword and the IKEv2 transform ID).
    pub const fn number(self) -> u16 {
        self as u16
    }

    /// The group with this number.
    pub fn from_number(n: i64) -> Option<DhGroup> {
        DhGroup::ALL.iter().copied().find(|g| i64::from(g.number()) == n)
    }

    /// Refused unless `[ike] allow_weak_dh = true` (RFC 8247 section 2.4).
    pub const fn is_weak(self) -> bool {
        matches!(self, DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536)
            || matches!(self, DhGroup::Modp2048s256)
    }

    /// Whether IKEv1 policies offer it (the ASA has no Curve25519 for IKEv1).
    pub const fn ikev1_allowed(self) -> bool {
        !matches!(self, DhGroup::Curve25519)
    }

    /// Rank: higher is more secure (see the module doc for the order).
    pub const fn strength(self) -> u8 {
        match self {
            DhGroup::Ecp521 => 110,
            DhGroup::Ecp384 => 100,
            DhGroup::Modp4096 => 90,
            DhGroup::Curve25519 => 82,
            DhGroup::Ecp256 => 81,
            DhGroup::Modp3072 => 80,
            DhGroup::Modp2048 => 70,
            DhGroup::Modp2048s256 => 60,
            DhGroup::Modp1536 => 30,
            DhGroup::Modp1024 => 20,
            DhGroup::Modp768 => 10,
        }
    }

    /// The accepted numbers, for messages.
    pub fn expected(ikev1: bool) -> String {
        let v: Vec<String> = DhGroup::ALL
            .iter()
            .filter(|g| !ikev1 || g.ikev1_allowed())
            .map(|g| g.number().to_string())
            .collect();
        v.join(", ")
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

keyword_enum! {
    /// An ESP encryption algorithm of an IKEv2 IPsec proposal
    /// (`crypto ipsec ikev2 ipsec-proposal NAME / protocol esp encryption ...`); the IKEv1
    /// transform sets name a subset with `esp-` keywords ([`EspEncryption::transform_set_keyword`]).
    pub enum EspEncryption {
        /// DES-CBC: weak.
        Des = "des",
        /// 3DES-CBC: weak.
        TripleDes = "3des",
        /// AES-128-CBC.
        Aes = "aes",
        /// AES-192-CBC.
        Aes192 = "aes-192",
        /// AES-256-CBC.
        Aes256 = "aes-256",
        /// AES-128-GCM, 16-byte ICV (RFC 4106).
        AesGcm = "aes-gcm",
        /// AES-192-GCM.
        AesGcm192 = "aes-gcm-192",
        /// AES-256-GCM.
        AesGcm256 = "aes-gcm-256",
        /// AES-128-GMAC: integrity only (RFC 4543).
        AesGmac = "aes-gmac",
        /// AES-192-GMAC.
        AesGmac192 = "aes-gmac-192",
        /// AES-256-GMAC.
        AesGmac256 = "aes-gmac-256",
        /// ChaCha20-Poly1305 (RFC 7634).
        ChaCha20Poly1305 = "chacha20-poly1305",
        /// NULL encryption (RFC 2410): integrity only.
        Null = "null",
    }
}

impl EspEncryption {
    /// IKEv2 transform ID (transform type 1).
    pub const fn transform_id(self) -> u16 {
        match self {
            EspEncryption::Des => encr_id::DES,
            EspEncryption::TripleDes => encr_id::TRIPLE_DES,
            EspEncryption::Aes | EspEncryption::Aes192 | EspEncryption::Aes256 => encr_id::AES_CBC,
            EspEncryption::AesGcm | EspEncryption::AesGcm192 | EspEncryption::AesGcm256 => {
                encr_id::AES_GCM_16
            }
            EspEncryption::AesGmac | EspEncryption::AesGmac192 | EspEncryption::AesGmac256 => {
                encr_id::NULL_AUTH_AES_GMAC
            }
            EspEncryption::ChaCha20Poly1305 => encr_id::CHACHA20_POLY1305,
            EspEncryption::Null => encr_id::NULL,
        }
    }

    /// The cipher key size in bits (without salt); 0 for NULL.
    pub const fn key_bits(self) -> u16 {
        match self {
            EspEncryption::Des => 64,
            EspEncryption::TripleDes => 192,
            EspEncryption::Aes | EspEncryption::AesGcm | EspEncryption::AesGmac => 128,
            EspEncryption::Aes192 | EspEncryption::AesGcm192 | EspEncryption::AesGmac192 => 192,
            EspEncryption::Aes256
            | EspEncryption::AesGcm256
            | EspEncryption::AesGmac256
            | EspEncryption::ChaCha20Poly1305 => 256,
            EspEncryption::Null => 0,
        }
    }

    /// The Key Length attribute (RFC 7296 section 3.3.5): AES variants only.
    pub const fn key_length_attribute(self) -> Option<u16> {
        match self {
            EspEncryption::Des
            | EspEncryption::TripleDes
            | EspEncryption::ChaCha20Poly1305
            | EspEncryption::Null => None,
            _ => Some(self.key_bits()),
        }
    }

    /// Whether it carries its own integrity (GCM, GMAC, ChaCha20-Poly1305): the ASA then
    /// requires `integrity null`.
    pub const fn is_aead(self) -> bool {
        matches!(
            self,
            EspEncryption::AesGcm
                | EspEncryption::AesGcm192
                | EspEncryption::AesGcm256
                | EspEncryption::AesGmac
                | EspEncryption::AesGmac192
                | EspEncryption::AesGmac256
                | EspEncryption::ChaCha20Poly1305
        )
    }

    /// Whether it hides the payload (GMAC and NULL do not).
    pub const fn is_confidential(self) -> bool {
        !matches!(
            self,
            EspEncryption::AesGmac
                | EspEncryption::AesGmac192
                | EspEncryption::AesGmac256
                | EspEncryption::Null
        )
    }

    /// Accepted with a warning.
    pub const fn is_weak(self) -> bool {
        matches!(self, EspEncryption::Des | EspEncryption::TripleDes)
    }

    /// The IKEv1 transform-set keyword (`crypto ipsec ikev1 transform-set NAME esp-aes-256
    /// ...`), or `None` where IKEv1 transform sets cannot name it.
    pub const fn transform_set_keyword(self) -> Option<&'static str> {
        match self {
            EspEncryption::Des => Some("esp-des"),
            EspEncryption::TripleDes => Some("esp-3des"),
            EspEncryption::Aes => Some("esp-aes"),
            EspEncryption::Aes192 => Some("esp-aes-192"),
            EspEncryption::Aes256 => Some("esp-aes-256"),
            EspEncryption::Null => Some("esp-null"),
            _ => None,
        }
    }

    /// Parses a transform-set keyword.
    pub fn from_transform_set_keyword(s: &str) -> Option<EspEncryption> {
        EspEncryption::ALL.iter().copied().find(|e| e.transform_set_keyword() == Some(s))
    }

    /// The transform-set keywords, for messages.
    pub fn expected_transform_set() -> String {
        let v: Vec<&str> =
            EspEncryption::ALL.iter().filter_map(|e| e.transform_set_keyword()).collect();
        v.join(", ")
    }

    /// Rank: higher is more secure (see the module doc for the order).
    pub const fn strength(self) -> u8 {
        match self {
            EspEncryption::AesGcm256 => 90,
            EspEncryption::ChaCha20Poly1305 => 85,
            EspEncryption::AesGcm192 => 80,
            EspEncryption::AesGcm => 75,
            EspEncryption::Aes256 => 60,
            EspEncryption::Aes192 => 55,
            EspEncryption::Aes => 50,
            EspEncryption::TripleDes => 20,
            EspEncryption::Des => 10,
            EspEncryption::AesGmac256 => 8,
            EspEncryption::AesGmac192 => 7,
            EspEncryption::AesGmac => 6,
            EspEncryption::Null => 0,
        }
    }
}

keyword_enum! {
    /// An ESP integrity algorithm of an IKEv2 IPsec proposal
    /// (`protocol esp integrity ...`); IKEv1 transform sets use `esp-*-hmac` keywords.
    pub enum EspIntegrity {
        /// HMAC-MD5-96: weak.
        Md5 = "md5",
        /// HMAC-SHA1-96.
        Sha1 = "sha-1",
        /// HMAC-SHA2-256-128 (RFC 4868).
        Sha256 = "sha-256",
        /// HMAC-SHA2-384-192.
        Sha384 = "sha-384",
        /// HMAC-SHA2-512-256.
        Sha512 = "sha-512",
        /// No integrity transform (AEAD ciphers).
        Null = "null",
    }
}

impl EspIntegrity {
    /// The hash behind the HMAC, or `None` for `null`.
    pub const fn hash(self) -> Option<Prf> {
        match self {
            EspIntegrity::Md5 => Some(Prf::Md5),
            EspIntegrity::Sha1 => Some(Prf::Sha1),
            EspIntegrity::Sha256 => Some(Prf::Sha256),
            EspIntegrity::Sha384 => Some(Prf::Sha384),
            EspIntegrity::Sha512 => Some(Prf::Sha512),
            EspIntegrity::Null => None,
        }
    }

    /// IKEv2 transform ID (transform type 3).
    pub const fn transform_id(self) -> u16 {
        match self.hash() {
            Some(h) => hmac_params(h).0,
            None => auth_id::NONE,
        }
    }

    /// Key length in bytes (0 for `null`).
    pub const fn key_bytes(self) -> usize {
        match self.hash() {
            Some(h) => hmac_params(h).1,
            None => 0,
        }
    }

    /// ICV length in bytes (0 for `null`).
    pub const fn icv_bytes(self) -> usize {
        match self.hash() {
            Some(h) => hmac_params(h).2,
            None => 0,
        }
    }

    /// Accepted with a warning.
    pub const fn is_weak(self) -> bool {
        matches!(self, EspIntegrity::Md5)
    }

    /// The IKEv1 transform-set keyword.
    pub const fn transform_set_keyword(self) -> &'static str {
        match self {
            EspIntegrity::Md5 => "esp-md5-hmac",
            EspIntegrity::Sha1 => "esp-sha-hmac",
            EspIntegrity::Sha256 => "esp-sha256-hmac",
            EspIntegrity::Sha384 => "esp-sha384-hmac",
            EspIntegrity::Sha512 => "esp-sha512-hmac",
            EspIntegrity::Null => "esp-none",
        }
    }

    /// Parses a transform-set keyword.
    pub fn from_transform_set_keyword(s: &str) -> Option<EspIntegrity> {
        EspIntegrity::ALL.iter().copied().find(|e| e.transform_set_keyword() == s)
    }

    /// The transform-set keywords, for messages.
    pub fn expected_transform_set() -> String {
        let v: Vec<&str> = EspIntegrity::ALL.iter().map(|e| e.transform_set_keyword()).collect();
        v.join(", ")
    }

    /// Rank: higher is more secure.
    pub const fn strength(self) -> u8 {
        match self.hash() {
            Some(h) => h.strength(),
            None => 0,
        }
    }
}

/// Sorts a list most- to least-secure (stable: equal ranks keep their order).
pub(crate) fn sort_by_strength<T: Copy>(list: &mut [T], strength: impl Fn(T) -> u8) {
    list.sort_by_key(|&x| core::cmp::Reverse(strength(x)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_ids() {
        assert_eq!(IkeEncryption::Aes256.transform_id(), 12);
        assert_eq!(IkeEncryption::AesGcm.transform_id(), 20);
        assert_eq!(IkeEncryption::ChaCha20Poly1305.transform_id(), 28);
        assert_eq!(EspEncryption::AesGmac.transform_id(), 21);
        assert_eq!(EspEncryption::Null.transform_id(), 11);
        assert_eq!(EspEncryption::TripleDes.transform_id(), 3);
        assert_eq!(Prf::Sha384.transform_id(), 6);
        assert_eq!(IkeIntegrity::Sha512.transform_id(), 14);
        assert_eq!(EspIntegrity::Sha1.transform_id(), 2);
        assert_eq!(DhGroup::Curve25519.number(), 31);
        assert_eq!(IkeEncryption::AesGcm192.key_length_attribute(), Some(192));
        assert_eq!(IkeEncryption::TripleDes.key_length_attribute(), None);
        assert_eq!(EspIntegrity::Sha256.icv_bytes(), 16);
    }

    #[test]
    fn strength_orders_are_total() {
        // Distinct ranks: sorting never depends on the order the user wrote.
        let mut ranks: Vec<u8> = IkeEncryption::ALL.iter().map(|e| e.strength()).collect();
        ranks.sort_unstable();
        ranks.dedup();
        assert_eq!(ranks.len(), IkeEncryption::ALL.len());
        let mut ranks: Vec<u8> = DhGroup::ALL.iter().map(|g| g.strength()).collect();
        ranks.sort_unstable();
        ranks.dedup();
        assert_eq!(ranks.len(), DhGroup::ALL.len());
        let mut ranks: Vec<u8> = EspEncryption::ALL.iter().map(|g| g.strength()).collect();
        ranks.sort_unstable();
        ranks.dedup();
        assert_eq!(ranks.len(), EspEncryption::ALL.len());
    }

    #[test]
    fn keywords_round_trip() {
        for e in EspEncryption::ALL {
            assert_eq!(EspEncryption::from_keyword(e.keyword()), Some(*e));
            if let Some(k) = e.transform_set_keyword() {
                assert_eq!(EspEncryption::from_transform_set_keyword(k), Some(*e));
            }
        }
        for i in EspIntegrity::ALL {
            assert_eq!(
                EspIntegrity::from_transform_set_keyword(i.transform_set_keyword()),
                Some(*i)
            );
        }
        for g in DhGroup::ALL {
            assert_eq!(DhGroup::from_number(i64::from(g.number())), Some(*g));
        }
    }
}
