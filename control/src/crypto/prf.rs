//! IKEv2 pseudo-random functions (IANA Transform Type 2, RFC 7296 §3.3.2) and prf+
//! (RFC 7296 §2.13).

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::errors::PrfError;
use super::secret::SecretBytes;
use super::xcbc;

/// The PRFs this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrfAlg {
    /// PRF_HMAC_MD5 (RFC 2104), transform 1. Legacy peers only (RFC 8247 §2.2: MUST NOT).
    HmacMd5,
    /// PRF_HMAC_SHA1 (RFC 2104), transform 2.
    HmacSha1,
    /// PRF_AES128_XCBC (RFC 4434), transform 4.
    Aes128Xcbc,
    /// PRF_HMAC_SHA2_256 (RFC 4868 §4), transform 5.
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (RFC 4868 §4), transform 6.
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (RFC 4868 §4), transform 7.
    HmacSha512,
}

/// prf+ counts its blocks in one octet from 0x01, so it yields at most 255 blocks
/// (RFC 7296 §2.13).
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;

/// Largest PRF output: PRF_HMAC_SHA2_512, 64 bytes (RFC 4868 §2.1.2).
pub const MAX_PRF_OUTPUT: usize = 64;

impl PrfAlg {
    /// Every implemented PRF.
    pub const ALL: [PrfAlg; 6] = [
        PrfAlg::HmacMd5,
        PrfAlg::HmacSha1,
        PrfAlg::Aes128Xcbc,
        PrfAlg::HmacSha256,
        PrfAlg::HmacSha384,
        PrfAlg::HmacSha512,
    ];

    /// The PRF for an IANA Transform Type 2 number.
    pub fn from_iana(id: u16) -> Result<Self, PrfError> {
        Self::ALL.into_iter().find(|p| p.iana() == id).ok_or(PrfError::UnsupportedPrf(id))
    }

    /// IANA Transform Type 2 number (RFC 7296 §3.3.2, RFC 4868 §4, RFC 4434).
    pub const fn iana(self) -> u16 {
        match self {
            PrfAlg::HmacMd5 => 1,
            PrfAlg::HmacSha1 => 2,
            PrfAlg::Aes128Xcbc => 4,
            PrfAlg::HmacSha256 => 5,
            PrfAlg::HmacSha384 => 6,
            PrfAlg::HmacSha512 => 7,
        }
    }

    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            PrfAlg::HmacMd5 | PrfAlg::Aes128Xcbc => 16,
            PrfAlg::HmacSha1 => 20,
            PrfAlg::HmacSha256 => 32,
            PrfAlg::HmacSha384 => 48,
            PrfAlg::HmacSha512 => 64,
        }
    }

    /// The preferred key length: the length of SK_d, SK_pi and SK_pr (RFC 7296 §2.14).
    /// For HMAC it is the output length (RFC 4868 §2.1.2 / RFC 2104 §3), for
    /// AES-XCBC-PRF-128 the 128-bit AES key (RFC 4434 §2).
    pub const fn key_len(self) -> usize {
        self.output_len()
    }

    /// True for the PRFs that take a fixed-size key, for which SKEYSEED is keyed with only
    /// the first 64 bits of each nonce (RFC 7296 §2.14).
    pub const fn has_fixed_key(self) -> bool {
        matches!(self, PrfAlg::Aes128Xcbc)
    }

    /// prf(key, data).
    pub fn prf(self, key: &[u8], data: &[u8]) -> SecretBytes {
        self.prf_parts(key, &[data])
    }

    /// prf(key, parts[0] | parts[1] | ...), without building the concatenation.
    pub fn prf_parts(self, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
        let mut out = [0u8; MAX_PRF_OUTPUT];
        let n = self.prf_into(key, parts, &mut out);
        let s = SecretBytes::from_slice(&out[..n]);
        zeroize::Zeroize::zeroize(&mut out);
        s
    }

    /// Writes prf(key, parts...) into `out`; returns the output length.
    fn prf_into(self, key: &[u8], parts: &[&[u8]], out: &mut [u8; MAX_PRF_OUTPUT]) -> usize {
        fn hmac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], out: &mut [u8]) -> usize {
            // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
            let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
                unreachable!("HMAC takes any key length")
            };
            for p in parts {
                m.update(p);
            }
            let tag = Zeroizing::new(m.finalize().into_bytes());
            out[..tag.len()].copy_from_slice(&tag);
            tag.len()
        }
        match self {
            PrfAlg::HmacMd5 => hmac::<Hmac<Md5>>(key, parts, out),
            PrfAlg::HmacSha1 => hmac::<Hmac<Sha1>>(key, parts, out),
            PrfAlg::HmacSha256 => hmac::<Hmac<Sha256>>(key, parts, out),
            PrfAlg::HmacSha384 => hmac::<Hmac<Sha384>>(key, parts, out),
            PrfAlg::HmacSha512 => hmac::<Hmac<Sha512>>(key, parts, out),
            PrfAlg::Aes128Xcbc => {
                let t = Zeroizing::new(xcbc::prf(key, parts));
                out[..xcbc::LEN].copy_from_slice(&*t);
                xcbc::LEN
            }
        }
    }

    /// Largest prf+ output: 255 blocks (RFC 7296 §2.13).
    pub const fn prf_plus_max(self) -> usize {
        PRF_PLUS_MAX_BLOCKS * self.output_len()
    }

    /// prf+(key, seed) truncated to `len` bytes (RFC 7296 §2.13):
    /// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Result<SecretBytes, PrfError> {
        self.prf_plus_parts(key, &[seed], len)
    }

    /// prf+ with the seed given as the concatenation of `seed_parts`.
    pub fn prf_plus_parts(
        self,
        key: &[u8],
        seed_parts: &[&[u8]],
        len: usize,
    ) -> Result<SecretBytes, PrfError> {
        if len > self.prf_plus_max() {
            return Err(PrfError::OutputTooLong { requested: len, max: self.prf_plus_max() });
        }
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        let mut t = Zeroizing::new([0u8; MAX_PRF_OUTPUT]);
        let mut t_len = 0;
        let mut counter: u8 = 1;
        while out.len() < len {
            let prev = Zeroizing::new(*t);
            let c = [counter];
            let mut parts: Vec<&[u8]> = Vec::with_capacity(seed_parts.len() + 2);
            parts.push(&prev[..t_len]);
            parts.extend_from_slice(seed_parts);
            parts.push(&c);
            t_len = self.prf_into(key, &parts, &mut t);
            let take = t_len.min(len - out.len());
            out.extend_from_slice(&t[..take]);
            // The length check above keeps the counter within 1..=255.
            counter = counter.wrapping_add(1);
        }
        Ok(SecretBytes::from_vec(core::mem::take(&mut *out)))
    }
}
