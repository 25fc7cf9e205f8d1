//! The ciphers of the IKEv2 Encrypted (SK) payload (IANA Transform Type 1).
//!
//! Layout of the payload body: IV | ciphertext | ICV, the plaintext ending in
//! Padding | Pad Length (RFC 7296 §3.14). What is authenticated depends on the suite:
//! - AES-CBC + HMAC (RFC 7296 §3.14): the ICV is the truncated HMAC over everything from the
//!   IKE header to the last ciphertext byte, so the MAC input is `aad | iv | ciphertext`
//!   where `aad` is the IKE header plus the Encrypted payload header;
//! - AES-GCM (RFC 5282 §5.1) and ChaCha20-Poly1305 (RFC 7634 §3): the same `aad` is the AEAD's
//!   associated data, the nonce is salt (4 bytes from the end of the key material) | IV
//!   (8 bytes, explicit in the payload), and the ICV is the AEAD tag.

use core::fmt;

use aes::cipher::consts::{U8, U12, U16};
use aes::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::{AeadInOut, AesGcm};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

use super::errors::SkError;
use super::integ::{IntegAlg, IntegKey};

/// AES key sizes, from the Key Length attribute (RFC 7296 §3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    /// 128-bit key.
    Aes128,
    /// 192-bit key.
    Aes192,
    /// 256-bit key.
    Aes256,
}

impl AesKeySize {
    /// From the Key Length attribute in bits.
    pub const fn from_bits(bits: u16) -> Option<Self> {
        match bits {
            128 => Some(AesKeySize::Aes128),
            192 => Some(AesKeySize::Aes192),
            256 => Some(AesKeySize::Aes256),
            _ => None,
        }
    }

    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            AesKeySize::Aes128 => 16,
            AesKeySize::Aes192 => 24,
            AesKeySize::Aes256 => 32,
        }
    }

    /// Key length in bits, the Key Length attribute value.
    pub const fn bits(self) -> u16 {
        (self.key_len() * 8) as u16
    }
}

/// The AES-GCM ICV lengths of RFC 5282 §8 (one transform number each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GcmIcv {
    /// 8-byte ICV, ENCR_AES_GCM_8 (transform 18).
    Icv8,
    /// 12-byte ICV, ENCR_AES_GCM_12 (transform 19).
    Icv12,
    /// 16-byte ICV, ENCR_AES_GCM_16 (transform 20).
    Icv16,
}

impl GcmIcv {
    /// ICV length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            GcmIcv::Icv8 => 8,
            GcmIcv::Icv12 => 12,
            GcmIcv::Icv16 => 16,
        }
    }
}

/// The SK payload encryption algorithms this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncrAlg {
    /// ENCR_AES_CBC (RFC 3602, transform 12), with a separate integrity algorithm.
    AesCbc(AesKeySize),
    /// ENCR_AES_GCM_8/12/16 (RFC 5282, transforms 18/19/20).
    AesGcm(AesKeySize, GcmIcv),
    /// ENCR_CHACHA20_POLY1305 (RFC 7634, transform 28), 256-bit key.
    ChaCha20Poly1305,
}

/// The salt at the end of AEAD key material (RFC 5282 §7.1, RFC 7634 §2).
pub const AEAD_SALT_LEN: usize = 4;
/// The explicit IV of the AEAD suites (RFC 5282 §3.1, RFC 7634 §2).
pub const AEAD_IV_LEN: usize = 8;
/// AES block size: the CBC IV length and padding unit (RFC 3602 §2.1, RFC 7296 §3.14).
pub const AES_BLOCK_LEN: usize = 16;
/// ChaCha20-Poly1305 key length (RFC 7634 §2) and tag length (RFC 7634 §3).
const CHACHA_KEY_LEN: usize = 32;
const POLY1305_TAG_LEN: usize = 16;

impl EncrAlg {
    /// The algorithm for an IANA Transform Type 1 number and its Key Length attribute
    /// (bits; `None` when absent). AES requires the attribute (RFC 5282 §8); ChaCha20-Poly1305
    /// forbids it (RFC 7634 §4).
    pub fn from_iana(id: u16, key_bits: Option<u16>) -> Result<Self, SkError> {
        let unsupported = SkError::UnsupportedEncr { id, key_bits: key_bits.unwrap_or(0) };
        let aes = || key_bits.and_then(AesKeySize::from_bits).ok_or(unsupported);
        Ok(match id {
            12 => EncrAlg::AesCbc(aes()?),
            18 => EncrAlg::AesGcm(aes()?, GcmIcv::Icv8),
            19 => EncrAlg::AesGcm(aes()?, GcmIcv::Icv12),
            20 => EncrAlg::AesGcm(aes()?, GcmIcv::Icv16),
            28 if key_bits.is_none() => EncrAlg::ChaCha20Poly1305,
            _ => return Err(unsupported),
        })
    }

    /// IANA Transform Type 1 number (RFC 7296 §3.3.2, RFC 5282 §8, RFC 7634 §4).
    pub const fn iana(self) -> u16 {
        match self {
            EncrAlg::AesCbc(_) => 12,
            EncrAlg::AesGcm(_, GcmIcv::Icv8) => 18,
            EncrAlg::AesGcm(_, GcmIcv::Icv12) => 19,
            EncrAlg::AesGcm(_, GcmIcv::Icv16) => 20,
            EncrAlg::ChaCha20Poly1305 => 28,
        }
    }

    /// The Key Length attribute in bits, if the transform carries one.
    pub const fn key_bits(self) -> Option<u16> {
        match self {
            EncrAlg::AesCbc(k) | EncrAlg::AesGcm(k, _) => Some(k.bits()),
            EncrAlg::ChaCha20Poly1305 => None,
        }
    }

    /// True for the combined-mode (AEAD) suites, which take no integrity transform.
    pub const fn is_aead(self) -> bool {
        !matches!(self, EncrAlg::AesCbc(_))
    }

    /// Bytes of key material SK_e / KEYMAT supplies: the cipher key plus, for AEAD suites,
    /// the 4-byte salt (RFC 5282 §7.1, RFC 7634 §2).
    pub const fn key_len(self) -> usize {
        match self {
            EncrAlg::AesCbc(k) => k.key_len(),
            EncrAlg::AesGcm(k, _) => k.key_len() + AEAD_SALT_LEN,
            EncrAlg::ChaCha20Poly1305 => CHACHA_KEY_LEN + AEAD_SALT_LEN,
        }
    }

    /// IV length in the payload.
    pub const fn iv_len(self) -> usize {
        match self {
            EncrAlg::AesCbc(_) => AES_BLOCK_LEN,
            EncrAlg::AesGcm(..) | EncrAlg::ChaCha20Poly1305 => AEAD_IV_LEN,
        }
    }

    /// The unit the plaintext (with padding and Pad Length) must fill: the AES block for
    /// CBC; 1 for the AEAD suites, which need no padding (RFC 5282 §3, RFC 7634 §3).
    pub const fn block_len(self) -> usize {
        match self {
            EncrAlg::AesCbc(_) => AES_BLOCK_LEN,
            EncrAlg::AesGcm(..) | EncrAlg::ChaCha20Poly1305 => 1,
        }
    }
}

/// One direction's SK payload cipher (e.g. SK_ei + SK_ai), key schedules built once.
pub struct SkCipher {
    encr: EncrAlg,
    kind: Kind,
}

enum Kind {
    Cbc { aes: AesCbcKey, integ: IntegKey },
    Gcm { gcm: Gcm, salt: Zeroizing<[u8; AEAD_SALT_LEN]> },
    ChaCha { aead: ChaCha20Poly1305, salt: Zeroizing<[u8; AEAD_SALT_LEN]> },
}

enum AesCbcKey {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

/// One AES-GCM instance per (key size, ICV length) pair.
#[allow(clippy::enum_variant_names, reason = "variants name key and tag size alike")]
enum Gcm {
    A128T8(AesGcm<Aes128, U12, U8>),
    A128T12(AesGcm<Aes128, U12, U12>),
    A128T16(AesGcm<Aes128, U12, U16>),
    A192T8(AesGcm<Aes192, U12, U8>),
    A192T12(AesGcm<Aes192, U12, U12>),
    A192T16(AesGcm<Aes192, U12, U16>),
    A256T8(AesGcm<Aes256, U12, U8>),
    A256T12(AesGcm<Aes256, U12, U12>),
    A256T16(AesGcm<Aes256, U12, U16>),
}

/// Runs `$body` with `$g` bound to the concrete AES-GCM type.
macro_rules! with_gcm {
    ($gcm:expr, $g:ident => $body:expr) => {
        match $gcm {
            Gcm::A128T8($g) => $body,
            Gcm::A128T12($g) => $body,
            Gcm::A128T16($g) => $body,
            Gcm::A192T8($g) => $body,
            Gcm::A192T12($g) => $body,
            Gcm::A192T16($g) => $body,
            Gcm::A256T8($g) => $body,
            Gcm::A256T12($g) => $body,
            Gcm::A256T16($g) => $body,
        }
    };
}

fn key_init<K: KeyInit>(key: &[u8]) -> Result<K, SkError> {
    K::new_from_slice(key)
        .map_err(|_| SkError::WrongKeyLength { expected: K::key_size(), got: key.len() })
}

impl Gcm {
    fn new(size: AesKeySize, icv: GcmIcv, key: &[u8]) -> Result<Self, SkError> {
        use AesKeySize::*;
        use GcmIcv::*;
        Ok(match (size, icv) {
            (Aes128, Icv8) => Gcm::A128T8(key_init(key)?),
            (Aes128, Icv12) => Gcm::A128T12(key_init(key)?),
            (Aes128, Icv16) => Gcm::A128T16(key_init(key)?),
            (Aes192, Icv8) => Gcm::A192T8(key_init(key)?),
            (Aes192, Icv12) => Gcm::A192T12(key_init(key)?),
            (Aes192, Icv16) => Gcm::A192T16(key_init(key)?),
            (Aes256, Icv8) => Gcm::A256T8(key_init(key)?),
            (Aes256, Icv12) => Gcm::A256T12(key_init(key)?),
            (Aes256, Icv16) => Gcm::A256T16(key_init(key)?),
        })
    }
}

impl Gcm {
    fn icv_len(&self) -> usize {
        match self {
            Gcm::A128T8(_) | Gcm::A192T8(_) | Gcm::A256T8(_) => 8,
            Gcm::A128T12(_) | Gcm::A192T12(_) | Gcm::A256T12(_) => 12,
            Gcm::A128T16(_) | Gcm::A192T16(_) | Gcm::A256T16(_) => 16,
        }
    }
}

/// nonce = salt | IV (RFC 5282 §4, RFC 7634 §2).
fn aead_nonce(salt: &[u8; AEAD_SALT_LEN], iv: &[u8]) -> Array<u8, U12> {
    let mut n = Array::<u8, U12>::default();
    n[..AEAD_SALT_LEN].copy_from_slice(salt);
    n[AEAD_SALT_LEN..].copy_from_slice(iv);
    n
}

fn split_salt(key: &[u8]) -> (&[u8], Zeroizing<[u8; AEAD_SALT_LEN]>) {
    let (k, s) = key.split_at(key.len() - AEAD_SALT_LEN);
    let mut salt = Zeroizing::new([0u8; AEAD_SALT_LEN]);
    salt.copy_from_slice(s);
    (k, salt)
}

impl SkCipher {
    /// Builds the cipher of one direction from its keys: `encr_key` is SK_e (or the KEYMAT
    /// slice), [`EncrAlg::key_len`] bytes with the salt last for AEAD suites; `integ` and
    /// `integ_key` (SK_a) are required for CBC and must be absent/empty for AEAD suites.
    pub fn new(
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, SkError> {
        if encr_key.len() != encr.key_len() {
            return Err(SkError::WrongKeyLength { expected: encr.key_len(), got: encr_key.len() });
        }
        let kind = match (encr, integ) {
            (EncrAlg::AesCbc(size), Some(integ)) => {
                let aes = match size {
                    AesKeySize::Aes128 => AesCbcKey::A128(key_init(encr_key)?),
                    AesKeySize::Aes192 => AesCbcKey::A192(key_init(encr_key)?),
                    AesKeySize::Aes256 => AesCbcKey::A256(key_init(encr_key)?),
                };
                Kind::Cbc { aes, integ: IntegKey::new(integ, integ_key)? }
            }
            (EncrAlg::AesGcm(size, icv), None) if integ_key.is_empty() => {
                let (k, salt) = split_salt(encr_key);
                Kind::Gcm { gcm: Gcm::new(size, icv, k)?, salt }
            }
            (EncrAlg::ChaCha20Poly1305, None) if integ_key.is_empty() => {
                let (k, salt) = split_salt(encr_key);
                Kind::ChaCha { aead: key_init(k)?, salt }
            }
            _ => return Err(SkError::IntegMismatch),
        };
        Ok(SkCipher { encr, kind })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    /// IV length in the payload.
    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    /// ICV length in the payload.
    pub fn icv_len(&self) -> usize {
        match &self.kind {
            Kind::Cbc { integ, .. } => integ.alg().icv_len(),
            Kind::Gcm { gcm, .. } => gcm.icv_len(),
            Kind::ChaCha { .. } => POLY1305_TAG_LEN,
        }
    }

    /// How many padding bytes to put before the Pad Length byte after `inner_len` bytes of
    /// inner payloads, so the plaintext fills whole blocks (the minimum RFC 7296 §3.14
    /// allows; 0 for the AEAD suites).
    pub fn pad_len(&self, inner_len: usize) -> usize {
        let b = self.encr.block_len();
        (b - (inner_len + 1) % b) % b
    }

    /// Encrypts `buf` (inner payloads, padding and Pad Length) in place and writes the ICV
    /// into `icv` ([`SkCipher::icv_len`] bytes). `aad` is the IKE header plus the Encrypted
    /// payload header; `iv` is [`SkCipher::iv_len`] bytes, fresh per message (the caller's
    /// RNG for CBC, which RFC 7296 §3.14 requires unpredictable; a counter is fine for
    /// AEAD, which only needs it unique per key).
    pub fn seal_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), SkError> {
        self.check_lengths(iv, buf.len(), icv.len())?;
        match &self.kind {
            Kind::Cbc { aes, integ } => {
                cbc_encrypt(aes, &cbc_iv(iv)?, buf);
                integ.compute_into(&[aad, iv, buf], icv);
            }
            Kind::Gcm { gcm, salt } => {
                let nonce = aead_nonce(salt, iv);
                with_gcm!(gcm, g => {
                    let tag = g
                        .encrypt_inout_detached(&nonce, aad, buf.into())
                        .map_err(|_| SkError::TooLong(buf.len()))?;
                    icv.copy_from_slice(&tag);
                });
            }
            Kind::ChaCha { aead, salt } => {
                let nonce = aead_nonce(salt, iv);
                let tag = aead
                    .encrypt_inout_detached(&nonce, aad, buf.into())
                    .map_err(|_| SkError::TooLong(buf.len()))?;
                icv.copy_from_slice(&tag);
            }
        }
        Ok(())
    }

    /// Checks `icv` in constant time and, only if it matches, decrypts `buf` in place.
    pub fn open_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), SkError> {
        self.check_lengths(iv, buf.len(), icv.len())?;
        match &self.kind {
            Kind::Cbc { aes, integ } => {
                integ.verify(&[aad, iv, buf], icv)?;
                cbc_decrypt(aes, &cbc_iv(iv)?, buf);
            }
            Kind::Gcm { gcm, salt } => {
                let nonce = aead_nonce(salt, iv);
                with_gcm!(gcm, g => {
                    let tag = Array::try_from(icv).map_err(|_| SkError::IcvMismatch)?;
                    g.decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
                        .map_err(|_| SkError::IcvMismatch)?;
                });
            }
            Kind::ChaCha { aead, salt } => {
                let nonce = aead_nonce(salt, iv);
                let tag = Array::try_from(icv).map_err(|_| SkError::IcvMismatch)?;
                aead.decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
                    .map_err(|_| SkError::IcvMismatch)?;
            }
        }
        Ok(())
    }

    /// `ciphertext | ICV` of `plaintext` (which already ends in Padding | Pad Length).
    pub fn encrypt(&self, aad: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SkError> {
        let n = plaintext.len();
        let mut out = vec![0u8; n + self.icv_len()];
        out[..n].copy_from_slice(plaintext);
        let (buf, icv) = out.split_at_mut(n);
        self.seal_in_place(aad, iv, buf, icv)?;
        Ok(out)
    }

    /// The plaintext (Padding and Pad Length included, see [`strip_padding`]) of
    /// `ciphertext | ICV`, or [`SkError::IcvMismatch`].
    pub fn decrypt(
        &self,
        aad: &[u8],
        iv: &[u8],
        ciphertext_and_icv: &[u8],
    ) -> Result<Vec<u8>, SkError> {
        let n = ciphertext_and_icv
            .len()
            .checked_sub(self.icv_len())
            .ok_or(SkError::Truncated(ciphertext_and_icv.len()))?;
        let (ct, icv) = ciphertext_and_icv.split_at(n);
        let mut buf = ct.to_vec();
        self.open_in_place(aad, iv, &mut buf, icv)?;
        Ok(buf)
    }

    fn check_lengths(&self, iv: &[u8], buf_len: usize, icv_len: usize) -> Result<(), SkError> {
        if iv.len() != self.iv_len() {
            return Err(SkError::WrongIvLength { expected: self.iv_len(), got: iv.len() });
        }
        if icv_len != self.icv_len() {
            return Err(SkError::Truncated(icv_len));
        }
        if !buf_len.is_multiple_of(self.encr.block_len()) {
            return Err(SkError::NotBlockAligned(buf_len));
        }
        Ok(())
    }
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let integ = match &self.kind {
            Kind::Cbc { integ, .. } => Some(integ.alg()),
            _ => None,
        };
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &integ)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// The inner payloads of a decrypted SK payload: drops Padding and the Pad Length byte
/// (RFC 7296 §3.14), refusing a Pad Length that points before the start.
pub fn strip_padding(decrypted: &[u8]) -> Result<&[u8], SkError> {
    let (&pad, rest) = decrypted.split_last().ok_or(SkError::BadPadding { pad: 0, len: 0 })?;
    let pad = usize::from(pad);
    let end =
        rest.len().checked_sub(pad).ok_or(SkError::BadPadding { pad, len: decrypted.len() })?;
    Ok(&rest[..end])
}

fn cbc_iv(iv: &[u8]) -> Result<Array<u8, U16>, SkError> {
    Array::try_from(iv)
        .map_err(|_| SkError::WrongIvLength { expected: AES_BLOCK_LEN, got: iv.len() })
}

fn cbc_encrypt(key: &AesCbcKey, iv: &Array<u8, U16>, buf: &mut [u8]) {
    let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(buf);
    match key {
        AesCbcKey::A128(k) => {
            cbc::Encryptor::<&Aes128>::inner_iv_init(k, iv).encrypt_blocks(blocks)
        }
        AesCbcKey::A192(k) => {
            cbc::Encryptor::<&Aes192>::inner_iv_init(k, iv).encrypt_blocks(blocks)
        }
        AesCbcKey::A256(k) => {
            cbc::Encryptor::<&Aes256>::inner_iv_init(k, iv).encrypt_blocks(blocks)
        }
    }
}

fn cbc_decrypt(key: &AesCbcKey, iv: &Array<u8, U16>, buf: &mut [u8]) {
    let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(buf);
    match key {
        AesCbcKey::A128(k) => {
            cbc::Decryptor::<&Aes128>::inner_iv_init(k, iv).decrypt_blocks(blocks)
        }
        AesCbcKey::A192(k) => {
            cbc::Decryptor::<&Aes192>::inner_iv_init(k, iv).decrypt_blocks(blocks)
        }
        AesCbcKey::A256(k) => {
            cbc::Decryptor::<&Aes256>::inner_iv_init(k, iv).decrypt_blocks(blocks)
        }
    }
}
