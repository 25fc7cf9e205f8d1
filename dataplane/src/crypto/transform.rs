//! ESP transforms: which cipher and which integrity algorithm an SA uses, and the sizes
//! that follow from them.

use core::fmt;

/// AES key length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeyLen {
    Aes128,
    Aes192,
    Aes256,
}

impl AesKeyLen {
    /// Key length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            AesKeyLen::Aes128 => 16,
            AesKeyLen::Aes192 => 24,
            AesKeyLen::Aes256 => 32,
        }
    }
    /// Key length in bits.
    pub const fn bits(self) -> usize {
        self.bytes() * 8
    }
}

/// The encryption half of an ESP transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// ENCR_NULL (RFC 2410): integrity only.
    Null,
    /// AES-CBC (RFC 3602), 16-byte IV.
    AesCbc(AesKeyLen),
    /// AES-CTR (RFC 3686), 4-byte nonce (salt) from the key material, 8-byte IV.
    AesCtr(AesKeyLen),
    /// AES-GCM (RFC 4106) with an ICV of 8, 12 or 16 bytes; 4-byte salt, 8-byte IV.
    AesGcm { key: AesKeyLen, icv_len: u8 },
    /// AES-GMAC (RFC 4543): authentication only, 16-byte ICV; 4-byte salt, 8-byte IV.
    AesGmac(AesKeyLen),
    /// ChaCha20-Poly1305 (RFC 7634): 32-byte key, 4-byte salt, 8-byte IV, 16-byte ICV.
    ChaCha20Poly1305,
}

/// The integrity half of an ESP transform (none for combined-mode ciphers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    None,
    /// HMAC-SHA1-96 (RFC 2404).
    HmacSha1_96,
    /// HMAC-SHA-256-128 (RFC 4868).
    HmacSha256_128,
    /// HMAC-SHA-384-192 (RFC 4868).
    HmacSha384_192,
    /// HMAC-SHA-512-256 (RFC 4868).
    HmacSha512_256,
}

impl Integ {
    /// Truncated ICV length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            Integ::None => 0,
            Integ::HmacSha1_96 => 12,
            Integ::HmacSha256_128 => 16,
            Integ::HmacSha384_192 => 24,
            Integ::HmacSha512_256 => 32,
        }
    }
    /// HMAC key length in bytes (the hash output length, RFC 2404/4868).
    pub const fn key_len(self) -> usize {
        match self {
            Integ::None => 0,
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }
}

/// Why a transform is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformError {
    /// A combined-mode cipher (GCM, GMAC, ChaCha20-Poly1305) was given an HMAC too.
    IntegWithAead,
    /// A plain cipher (CBC, CTR, NULL) needs an integrity algorithm.
    MissingInteg,
    /// AES-GCM ICV must be 8, 12 or 16 bytes.
    BadIcvLen(u8),
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransformError::IntegWithAead => {
                f.write_str("combined-mode cipher must not have an integrity algorithm")
            }
            TransformError::MissingInteg => {
                f.write_str("cipher without integrity protection needs an integrity algorithm")
            }
            TransformError::BadIcvLen(n) => write!(f, "AES-GCM ICV of {n} bytes (8, 12 or 16)"),
        }
    }
}

impl std::error::Error for TransformError {}

/// A validated ESP transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    cipher: Cipher,
    integ: Integ,
}

impl Transform {
    /// Checks that the combination is one ESP allows. Encryption without integrity is refused
    /// (RFC 8221 makes it a MUST NOT for ESP with CBC/CTR).
    pub fn new(cipher: Cipher, integ: Integ) -> Result<Self, TransformError> {
        match cipher {
            Cipher::AesGcm { icv_len, .. } if !matches!(icv_len, 8 | 12 | 16) => {
                Err(TransformError::BadIcvLen(icv_len))
            }
            Cipher::AesGcm { .. } | Cipher::AesGmac(_) | Cipher::ChaCha20Poly1305
                if integ != Integ::None =>
            {
                Err(TransformError::IntegWithAead)
            }
            Cipher::Null | Cipher::AesCbc(_) | Cipher::AesCtr(_) if integ == Integ::None => {
                Err(TransformError::MissingInteg)
            }
            _ => Ok(Transform { cipher, integ }),
        }
    }

    pub const fn cipher(&self) -> Cipher {
        self.cipher
    }
    pub const fn integ(&self) -> Integ {
        self.integ
    }

    /// Whether the cipher authenticates by itself (GCM, GMAC, ChaCha20-Poly1305).
    pub const fn is_combined(&self) -> bool {
        matches!(self.cipher, Cipher::AesGcm { .. } | Cipher::AesGmac(_) | Cipher::ChaCha20Poly1305)
    }

    /// Whether the payload is encrypted (false for NULL and GMAC).
    pub const fn encrypts(&self) -> bool {
        !matches!(self.cipher, Cipher::Null | Cipher::AesGmac(_))
    }

    /// Bytes of IV carried in every ESP packet after the sequence number.
    pub const fn iv_len(&self) -> usize {
        match self.cipher {
            Cipher::Null => 0,
            Cipher::AesCbc(_) => 16,
            _ => 8,
        }
    }

    /// Bytes of ICV at the end of every ESP packet.
    pub const fn icv_len(&self) -> usize {
        match self.cipher {
            Cipher::AesGcm { icv_len, .. } => icv_len as usize,
            Cipher::AesGmac(_) | Cipher::ChaCha20Poly1305 => 16,
            _ => self.integ.icv_len(),
        }
    }

    /// The payload + padding + pad length + next header must be a multiple of this
    /// (RFC 4303 2.4: the cipher's block size, and at least 4 for alignment).
    pub const fn block_len(&self) -> usize {
        match self.cipher {
            Cipher::AesCbc(_) => 16,
            _ => 4,
        }
    }

    /// Encryption key material the SA needs, salt included (RFC 4106 / 3686 / 4543 / 7634
    /// KEYMAT: key followed by a 4-byte salt).
    pub const fn enc_key_len(&self) -> usize {
        match self.cipher {
            Cipher::Null => 0,
            Cipher::AesCbc(k) => k.bytes(),
            Cipher::AesCtr(k) | Cipher::AesGcm { key: k, .. } | Cipher::AesGmac(k) => k.bytes() + 4,
            Cipher::ChaCha20Poly1305 => 36,
        }
    }

    /// Integrity key material the SA needs.
    pub const fn auth_key_len(&self) -> usize {
        self.integ.key_len()
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cipher {
            Cipher::Null => f.write_str("esp-null")?,
            Cipher::AesCbc(k) => write!(f, "esp-aes-{}", k.bits())?,
            Cipher::AesCtr(k) => write!(f, "esp-aes-ctr-{}", k.bits())?,
            Cipher::AesGcm { key, icv_len } => write!(f, "esp-aes-gcm-{}-{}", key.bits(), icv_len)?,
            Cipher::AesGmac(k) => write!(f, "esp-aes-gmac-{}", k.bits())?,
            Cipher::ChaCha20Poly1305 => f.write_str("esp-chacha20-poly1305")?,
        }
        match self.integ {
            Integ::None => Ok(()),
            Integ::HmacSha1_96 => f.write_str(" esp-sha-hmac"),
            Integ::HmacSha256_128 => f.write_str(" esp-sha256-hmac"),
            Integ::HmacSha384_192 => f.write_str(" esp-sha384-hmac"),
            Integ::HmacSha512_256 => f.write_str(" esp-sha512-hmac"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_rfcs() {
        let gcm =
            Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes128, icv_len: 16 }, Integ::None)
                .unwrap();
        assert_eq!(
            (gcm.iv_len(), gcm.icv_len(), gcm.enc_key_len(), gcm.block_len()),
            (8, 16, 20, 4)
        );
        let cbc = Transform::new(Cipher::AesCbc(AesKeyLen::Aes256), Integ::HmacSha256_128).unwrap();
        assert_eq!(
            (cbc.iv_len(), cbc.icv_len(), cbc.enc_key_len(), cbc.auth_key_len()),
            (16, 16, 32, 32)
        );
        let chacha = Transform::new(Cipher::ChaCha20Poly1305, Integ::None).unwrap();
        assert_eq!((chacha.iv_len(), chacha.icv_len(), chacha.enc_key_len()), (8, 16, 36));
        let null = Transform::new(Cipher::Null, Integ::HmacSha1_96).unwrap();
        assert_eq!((null.iv_len(), null.icv_len(), null.encrypts()), (0, 12, false));
    }

    #[test]
    fn invalid_combinations_are_refused() {
        assert_eq!(
            Transform::new(Cipher::AesCbc(AesKeyLen::Aes128), Integ::None),
            Err(TransformError::MissingInteg)
        );
        assert_eq!(
            Transform::new(Cipher::ChaCha20Poly1305, Integ::HmacSha1_96),
            Err(TransformError::IntegWithAead)
        );
        assert_eq!(
            Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes128, icv_len: 10 }, Integ::None),
            Err(TransformError::BadIcvLen(10))
        );
    }
}
