//! IKEv2 integrity algorithms (IANA Transform Type 3): truncated HMACs for the SK payload of
//! non-AEAD suites (RFC 7296 §3.14).

use core::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::errors::SkError;

/// The integrity algorithms this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IntegAlg {
    /// AUTH_HMAC_MD5_96 (RFC 2403), transform 1. Legacy peers only (RFC 8247 §2.3: MUST NOT).
    HmacMd5_96,
    /// AUTH_HMAC_SHA1_96 (RFC 2404), transform 2.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868 §2), transform 12.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868 §2), transform 13.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868 §2), transform 14.
    HmacSha512_256,
}

/// Largest untruncated HMAC output: SHA-512, 64 bytes (RFC 4868 §2.1.1).
const MAX_MAC_LEN: usize = 64;

/// Largest ICV of any integrity algorithm here: HMAC-SHA2-512-256, 32 bytes (RFC 4868 §2.1.1).
pub const MAX_ICV_LEN: usize = 32;

impl IntegAlg {
    /// Every implemented integrity algorithm.
    pub const ALL: [IntegAlg; 5] = [
        IntegAlg::HmacMd5_96,
        IntegAlg::HmacSha1_96,
        IntegAlg::HmacSha256_128,
        IntegAlg::HmacSha384_192,
        IntegAlg::HmacSha512_256,
    ];

    /// The algorithm for an IANA Transform Type 3 number.
    pub fn from_iana(id: u16) -> Result<Self, SkError> {
        Self::ALL.into_iter().find(|a| a.iana() == id).ok_or(SkError::UnsupportedInteg(id))
    }

    /// IANA Transform Type 3 number (RFC 7296 §3.3.2, RFC 4868 §6).
    pub const fn iana(self) -> u16 {
        match self {
            IntegAlg::HmacMd5_96 => 1,
            IntegAlg::HmacSha1_96 => 2,
            IntegAlg::HmacSha256_128 => 12,
            IntegAlg::HmacSha384_192 => 13,
            IntegAlg::HmacSha512_256 => 14,
        }
    }

    /// Key length in bytes: the hash output length (RFC 2403 §3, RFC 2404 §3,
    /// RFC 4868 §2.1.1).
    pub const fn key_len(self) -> usize {
        match self {
            IntegAlg::HmacMd5_96 => 16,
            IntegAlg::HmacSha1_96 => 20,
            IntegAlg::HmacSha256_128 => 32,
            IntegAlg::HmacSha384_192 => 48,
            IntegAlg::HmacSha512_256 => 64,
        }
    }

    /// ICV length in bytes: the leftmost bits kept of the HMAC (RFC 2403 §3, RFC 2404 §3:
    /// 96 bits; RFC 4868 §2.1.1: half the hash output).
    pub const fn icv_len(self) -> usize {
        match self {
            IntegAlg::HmacMd5_96 | IntegAlg::HmacSha1_96 => 12,
            IntegAlg::HmacSha256_128 => 16,
            IntegAlg::HmacSha384_192 => 24,
            IntegAlg::HmacSha512_256 => 32,
        }
    }
}

/// An integrity algorithm with its key, the HMAC pads precomputed once per SA direction.
#[derive(Clone)]
pub struct IntegKey {
    alg: IntegAlg,
    mac: KeyedMac,
}

#[derive(Clone)]
enum KeyedMac {
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl IntegKey {
    /// `key` must be exactly [`IntegAlg::key_len`] bytes (RFC 4868 §2.1.1: fixed key sizes).
    pub fn new(alg: IntegAlg, key: &[u8]) -> Result<Self, SkError> {
        if key.len() != alg.key_len() {
            return Err(SkError::WrongKeyLength { expected: alg.key_len(), got: key.len() });
        }
        fn keyed<M: Mac + KeyInit>(key: &[u8]) -> M {
            let Ok(m) = <M as KeyInit>::new_from_slice(key) else {
                unreachable!("HMAC takes any key length")
            };
            m
        }
        let mac = match alg {
            IntegAlg::HmacMd5_96 => KeyedMac::Md5(keyed(key)),
            IntegAlg::HmacSha1_96 => KeyedMac::Sha1(keyed(key)),
            IntegAlg::HmacSha256_128 => KeyedMac::Sha256(keyed(key)),
            IntegAlg::HmacSha384_192 => KeyedMac::Sha384(keyed(key)),
            IntegAlg::HmacSha512_256 => KeyedMac::Sha512(keyed(key)),
        };
        Ok(IntegKey { alg, mac })
    }

    /// The algorithm.
    pub fn alg(&self) -> IntegAlg {
        self.alg
    }

    /// The truncated ICV of `parts` concatenated, written to `icv` (which must be
    /// [`IntegAlg::icv_len`] bytes; a shorter or longer slice gets that many or all bytes).
    pub fn compute_into(&self, parts: &[&[u8]], icv: &mut [u8]) {
        let full = self.full_mac(parts);
        let n = icv.len().min(self.alg.icv_len());
        icv[..n].copy_from_slice(&full[..n]);
    }

    /// The truncated ICV of `parts` concatenated.
    pub fn compute(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut icv = vec![0u8; self.alg.icv_len()];
        self.compute_into(parts, &mut icv);
        icv
    }

    /// Checks `icv` against the ICV of `parts` in constant time.
    pub fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> Result<(), SkError> {
        if icv.len() != self.alg.icv_len() {
            return Err(SkError::IcvMismatch);
        }
        let full = self.full_mac(parts);
        if bool::from(full[..icv.len()].ct_eq(icv)) { Ok(()) } else { Err(SkError::IcvMismatch) }
    }

    fn full_mac(&self, parts: &[&[u8]]) -> Zeroizing<[u8; MAX_MAC_LEN]> {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]], out: &mut [u8; MAX_MAC_LEN]) {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            let tag = m.finalize().into_bytes();
            out[..tag.len()].copy_from_slice(&tag);
        }
        let mut out = Zeroizing::new([0u8; MAX_MAC_LEN]);
        match &self.mac {
            KeyedMac::Md5(m) => run(m, parts, &mut out),
            KeyedMac::Sha1(m) => run(m, parts, &mut out),
            KeyedMac::Sha256(m) => run(m, parts, &mut out),
            KeyedMac::Sha384(m) => run(m, parts, &mut out),
            KeyedMac::Sha512(m) => run(m, parts, &mut out),
        }
        out
    }
}

impl fmt::Debug for IntegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegKey").field("alg", &self.alg).field("key", &"<redacted>").finish()
    }
}
