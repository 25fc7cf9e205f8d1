//! HMAC integrity (RFC 2404, RFC 4868) with the keyed inner/outer states precomputed per SA.

use hmac::{Hmac, KeyInit};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

use crate::crypto::Integ;

/// Largest untruncated HMAC output (SHA-512).
pub(crate) const MAX_MAC_LEN: usize = 64;

/// A keyed HMAC; cloning it per packet reuses the ipad/opad compression of the key.
pub(crate) enum Mac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl Mac {
    /// None for [`Integ::None`].
    pub fn new(integ: Integ, key: &[u8]) -> Option<Self> {
        Some(match integ {
            Integ::None => return None,
            Integ::HmacSha1_96 => Mac::Sha1(Hmac::new_from_slice(key).ok()?),
            Integ::HmacSha256_128 => Mac::Sha256(Hmac::new_from_slice(key).ok()?),
            Integ::HmacSha384_192 => Mac::Sha384(Hmac::new_from_slice(key).ok()?),
            Integ::HmacSha512_256 => Mac::Sha512(Hmac::new_from_slice(key).ok()?),
        })
    }

    /// Full HMAC of `data || trailer` into `out`; returns the untruncated length.
    pub fn compute(&self, data: &[u8], trailer: &[u8], out: &mut [u8; MAX_MAC_LEN]) -> usize {
        fn run<M: hmac::Mac + Clone>(
            m: &M,
            data: &[u8],
            trailer: &[u8],
            out: &mut [u8; MAX_MAC_LEN],
        ) -> usize {
            let mut m = m.clone();
            m.update(data);
            m.update(trailer);
            let tag = m.finalize().into_bytes();
            out[..tag.len()].copy_from_slice(&tag);
            tag.len()
        }
        match self {
            Mac::Sha1(m) => run(m, data, trailer, out),
            Mac::Sha256(m) => run(m, data, trailer, out),
            Mac::Sha384(m) => run(m, data, trailer, out),
            Mac::Sha512(m) => run(m, data, trailer, out),
        }
    }
}
