//! The dataplane's ESP transform for negotiated IANA transform IDs. IKEv2 and IKEv1 share it:
//! the IPsec DOI's ESP transform numbers (RFC 2407 4.4.4) are IKEv2's ENCR IDs, and both
//! install their Child SAs through the same dataplane `Transform`.

use dataplane::crypto::{AesKeyLen, Cipher, Integ, Transform};

use crate::ikev2::wire::{EncrId, IntegId};

/// A negotiated ESP algorithm the dataplane does not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsupportedEsp(String);

/// The dataplane transform of `encr` (ID and key length) with `integ` (`None` or
/// `NONE` for combined-mode ciphers).
pub fn dataplane_transform(
    (id, bits): (EncrId, Option<u16>),
    integ: Option<IntegId>,
) -> Result<Transform, UnsupportedEsp> {
    let aes = |bits: Option<u16>| match bits {
        Some(128) => Ok(AesKeyLen::Aes128),
        Some(192) => Ok(AesKeyLen::Aes192),
        Some(256) => Ok(AesKeyLen::Aes256),
        other => Err(UnsupportedEsp(format!("AES key length {other:?}"))),
    };
    let cipher = match id {
        EncrId::AesCbc => Cipher::AesCbc(aes(bits)?),
        EncrId::AesCtr => Cipher::AesCtr(aes(bits)?),
        EncrId::AesGcm8 => Cipher::AesGcm { key: aes(bits)?, icv_len: 8 },
        EncrId::AesGcm12 => Cipher::AesGcm { key: aes(bits)?, icv_len: 12 },
        EncrId::AesGcm16 => Cipher::AesGcm { key: aes(bits)?, icv_len: 16 },
        EncrId::NullAuthAesGmac => Cipher::AesGmac(aes(bits)?),
        EncrId::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305,
        EncrId::Null => Cipher::Null,
        other => {
            return Err(UnsupportedEsp(format!("ESP cipher {other:?} is not in the dataplane")));
        }
    };
    let integ = match integ {
        None | Some(IntegId::None) => Integ::None,
        Some(IntegId::HmacSha1_96) => Integ::HmacSha1_96,
        Some(IntegId::HmacSha2_256_128) => Integ::HmacSha256_128,
        Some(IntegId::HmacSha2_384_192) => Integ::HmacSha384_192,
        Some(IntegId::HmacSha2_512_256) => Integ::HmacSha512_256,
        Some(other) => {
            return Err(UnsupportedEsp(format!("ESP integrity {other:?} is not in the dataplane")));
        }
    };
    Transform::new(cipher, integ).map_err(|e| UnsupportedEsp(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_suites_and_refuses_the_rest() {
        let t = dataplane_transform((EncrId::AesGcm16, Some(256)), None).unwrap();
        assert_eq!(t.cipher(), Cipher::AesGcm { key: AesKeyLen::Aes256, icv_len: 16 });
        assert_eq!(t.integ(), Integ::None);
        let t = dataplane_transform((EncrId::AesCbc, Some(128)), Some(IntegId::HmacSha2_256_128))
            .unwrap();
        assert_eq!(t.cipher(), Cipher::AesCbc(AesKeyLen::Aes128));
        assert_eq!(t.integ(), Integ::HmacSha256_128);
        let c = dataplane_transform((EncrId::ChaCha20Poly1305, None), Some(IntegId::None));
        assert_eq!(c.unwrap().cipher(), Cipher::ChaCha20Poly1305);
        assert!(dataplane_transform((EncrId::AesGcm16, Some(100)), None).is_err());
        assert!(
            dataplane_transform((EncrId::AesCbc, Some(256)), None).is_err(),
            "CBC needs an HMAC"
        );
        assert!(
            dataplane_transform((EncrId::AesGcm16, Some(128)), Some(IntegId::HmacSha1_96)).is_err(),
            "AEAD with an HMAC"
        );
    }
}
