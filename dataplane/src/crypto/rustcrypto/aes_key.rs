//! AES key schedules of the three key lengths behind one type.
//!
//! The `aes` crate picks AES-NI, VAES-256 or VAES-512 at run time (cpufeatures), so the
//! binary needs no `-C target-cpu`.

use aes::cipher::KeyInit;
use aes::{Aes128, Aes128Enc, Aes192, Aes192Enc, Aes256, Aes256Enc};

/// Encryption-only key schedule (GCM, GMAC, CTR, CBC IV generation).
pub(crate) enum AesEnc {
    A128(Aes128Enc),
    A192(Aes192Enc),
    A256(Aes256Enc),
}

/// Encryption and decryption key schedules (CBC).
pub(crate) enum AesFull {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl AesEnc {
    /// None if `key` is not 16, 24 or 32 bytes.
    pub fn new(key: &[u8]) -> Option<Self> {
        Some(match key.len() {
            16 => AesEnc::A128(Aes128Enc::new_from_slice(key).ok()?),
            24 => AesEnc::A192(Aes192Enc::new_from_slice(key).ok()?),
            32 => AesEnc::A256(Aes256Enc::new_from_slice(key).ok()?),
            _ => return None,
        })
    }
}

impl AesFull {
    /// None if `key` is not 16, 24 or 32 bytes.
    pub fn new(key: &[u8]) -> Option<Self> {
        Some(match key.len() {
            16 => AesFull::A128(Aes128::new_from_slice(key).ok()?),
            24 => AesFull::A192(Aes192::new_from_slice(key).ok()?),
            32 => AesFull::A256(Aes256::new_from_slice(key).ok()?),
            _ => return None,
        })
    }
}

/// Runs `$body` with `$k` bound to the concrete AES type of an [`AesEnc`] or [`AesFull`].
macro_rules! with_aes {
    ($ty:ident, $key:expr, $k:ident => $body:expr) => {
        match $key {
            $ty::A128($k) => $body,
            $ty::A192($k) => $body,
            $ty::A256($k) => $body,
        }
    };
}
pub(crate) use with_aes;
