//! Public keys (from a certificate's SubjectPublicKeyInfo) and our private keys (PKCS#8,
//! PKCS#1 RSA, SEC1 EC), behind opaque types so the RustCrypto versions stay an internal
//! matter.

use core::fmt;

use der::Decode;
use pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

use super::oid;

/// The smallest RSA modulus accepted, ours or a peer's (RFC 8247 section 3.2 / NIST SP
/// 800-131A: 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;

/// The largest RSA modulus accepted: verification cost grows with the cube of the size, and
/// a hostile peer chooses the size of the keys in the certificates it sends.
pub const MAX_RSA_BITS: usize = 8192;

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a well-formed key of the expected encoding.
    #[error("malformed key: {0}")]
    Malformed(String),
    /// A key algorithm other than RSA and EC (Ed25519, DSA, ...).
    #[error("unsupported key algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// An EC key on a curve other than P-256 and P-384.
    #[error("unsupported elliptic curve {0}")]
    UnsupportedCurve(String),
    /// An RSA modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    #[error("RSA key of {0} bits (accepted: {MIN_RSA_BITS} to {MAX_RSA_BITS})")]
    RsaSize(usize),
    /// An encrypted private key: keys must be stored unencrypted (and protected by file
    /// permissions), as the appliance has nobody to type a passphrase.
    #[error("encrypted private keys are not supported")]
    Encrypted,
}

/// The type and size of a key, for logs and algorithm selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// ECDSA on NIST P-256 (secp256r1).
    EcP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcP384,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::EcP256 => f.write_str("ECDSA P-256"),
            KeyKind::EcP384 => f.write_str("ECDSA P-384"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PublicInner {
    Rsa {
        key: rsa::PublicKey,
        /// An id-RSASSA-PSS SubjectPublicKeyInfo: the key may only sign with PSS (RFC 4055
        /// section 1.2).
        pss_only: bool,
    },
    EcP256(p256::ecdsa::VerifyingKey),
    EcP384(p384::ecdsa::VerifyingKey),
}

/// A public key usable to verify signatures: RSA (2048 to 8192 bits), ECDSA P-256 or P-384.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) PublicInner);

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(malformed)?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Malformed("public key is not whole octets".into()))?;
        let alg = spki.algorithm.oid;
        if alg == oid::RSA_ENCRYPTION || alg == oid::RSASSA_PSS {
            let pkcs1: pkcs1::RsaPublicKey<der::asn1::UintRef<'_>> =
                pkcs1::RsaPublicKey::from_der(key_bytes).map_err(malformed)?;
            let bits = bit_len(pkcs1.modulus.as_bytes());
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(KeyError::RsaSize(bits));
            }
            let key = rsa::PublicKey::try_from(pkcs1).map_err(malformed)?;
            Ok(PublicKey(PublicInner::Rsa { key, pss_only: alg == oid::RSASSA_PSS }))
        } else if alg == oid::EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Malformed("EC key without a named curve".into()))?;
            if curve == oid::SECP256R1 {
                p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(|k| PublicKey(PublicInner::EcP256(k)))
                    .map_err(|_| KeyError::Malformed("invalid P-256 point".into()))
            } else if curve == oid::SECP384R1 {
                p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(|k| PublicKey(PublicInner::EcP384(k)))
                    .map_err(|_| KeyError::Malformed("invalid P-384 point".into()))
            } else {
                Err(KeyError::UnsupportedCurve(curve.to_string()))
            }
        } else {
            Err(KeyError::UnsupportedAlgorithm(alg.to_string()))
        }
    }

    /// The key's type and size.
    pub fn kind(&self) -> KeyKind {
        match &self.0 {
            PublicInner::Rsa { key, .. } => KeyKind::Rsa { bits: rsa_bits(key) },
            PublicInner::EcP256(_) => KeyKind::EcP256,
            PublicInner::EcP384(_) => KeyKind::EcP384,
        }
    }

    /// True for an RSA key restricted to RSASSA-PSS by its certificate.
    pub fn is_pss_only(&self) -> bool {
        matches!(self.0, PublicInner::Rsa { pss_only: true, .. })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.kind())
    }
}

pub(crate) enum PrivateInner {
    Rsa(Box<rsa::PrivateKey>),
    EcP256(p256::ecdsa::SigningKey),
    EcP384(p384::ecdsa::SigningKey),
}

/// Our private key: RSA (2048 to 8192 bits), ECDSA P-256 or P-384. The RustCrypto key types
/// inside zeroize themselves on drop; `Debug` shows the type only.
pub struct PrivateKey(pub(crate) PrivateInner);

impl PrivateKey {
    /// Parses an unencrypted PKCS#8 PrivateKeyInfo (RFC 5208 / RFC 5958), an RSA PKCS#1
    /// RSAPrivateKey (RFC 8017 appendix A.1.2) or a SEC1 ECPrivateKey (RFC 5915), whichever
    /// the bytes are.
    pub fn from_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        match Self::from_pkcs8_der(der) {
            Err(KeyError::Malformed(pkcs8)) => Self::from_pkcs1_der(der)
                .or_else(|_| Self::from_sec1_der(der))
                .map_err(|_| KeyError::Malformed(format!("not PKCS#8 ({pkcs8}), PKCS#1 or SEC1"))),
            other => other,
        }
    }

    /// Parses an unencrypted PKCS#8 PrivateKeyInfo holding an RSA or EC key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(der).map_err(malformed)?;
        let alg = info.algorithm.oid;
        if alg == oid::RSA_ENCRYPTION {
            Self::from_pkcs1_der(info.private_key.as_bytes())
        } else if alg == oid::EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Malformed("EC key without a named curve".into()))?;
            if curve == oid::SECP256R1 {
                p256::SecretKey::try_from(info)
                    .map(|k| PrivateKey(PrivateInner::EcP256(k.into())))
                    .map_err(malformed)
            } else if curve == oid::SECP384R1 {
                p384::SecretKey::try_from(info)
                    .map(|k| PrivateKey(PrivateInner::EcP384(k.into())))
                    .map_err(malformed)
            } else {
                Err(KeyError::UnsupportedCurve(curve.to_string()))
            }
        } else {
            Err(KeyError::UnsupportedAlgorithm(alg.to_string()))
        }
    }

    /// Parses an RSA PKCS#1 RSAPrivateKey.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let key = rsa::PrivateKey::from_pkcs1_der(der).map_err(malformed)?;
        let bits = rsa_bits(&key.to_public_key());
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError::RsaSize(bits));
        }
        Ok(PrivateKey(PrivateInner::Rsa(Box::new(key))))
    }

    /// Parses a SEC1 ECPrivateKey. Without the optional curve parameters the curve follows
    /// from the private key's length (32 octets: P-256, 48: P-384).
    pub fn from_sec1_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let parsed = sec1::EcPrivateKey::from_der(der).map_err(malformed)?;
        let curve = parsed.parameters.and_then(|p| p.named_curve());
        let scalar = Zeroizing::new(parsed.private_key.to_vec());
        match (curve, scalar.len()) {
            (Some(c), _) if c == oid::SECP256R1 => p256_from_scalar(&scalar),
            (Some(c), _) if c == oid::SECP384R1 => p384_from_scalar(&scalar),
            (Some(c), _) => Err(KeyError::UnsupportedCurve(c.to_string())),
            (None, 32) => p256_from_scalar(&scalar),
            (None, 48) => p384_from_scalar(&scalar),
            (None, n) => Err(KeyError::Malformed(format!("EC private key of {n} octets"))),
        }
    }

    /// The key's type and size.
    pub fn kind(&self) -> KeyKind {
        self.public_key().kind()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            PrivateInner::Rsa(k) => PublicInner::Rsa { key: k.to_public_key(), pss_only: false },
            PrivateInner::EcP256(k) => PublicInner::EcP256(*k.verifying_key()),
            PrivateInner::EcP384(k) => PublicInner::EcP384(*k.verifying_key()),
        })
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.kind())
    }
}

fn p256_from_scalar(scalar: &[u8]) -> Result<PrivateKey, KeyError> {
    p256::ecdsa::SigningKey::from_slice(scalar)
        .map(|k| PrivateKey(PrivateInner::EcP256(k)))
        .map_err(|_| KeyError::Malformed("invalid P-256 private key".into()))
}

fn p384_from_scalar(scalar: &[u8]) -> Result<PrivateKey, KeyError> {
    p384::ecdsa::SigningKey::from_slice(scalar)
        .map(|k| PrivateKey(PrivateInner::EcP384(k)))
        .map_err(|_| KeyError::Malformed("invalid P-384 private key".into()))
}

fn malformed(e: impl fmt::Display) -> KeyError {
    KeyError::Malformed(e.to_string())
}

fn rsa_bits(key: &rsa::PublicKey) -> usize {
    bit_len(&key.n_bytes())
}

/// The bit length of a big-endian unsigned integer, leading zero octets ignored.
fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[0, 1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0, 0x7f, 0xff]), 15);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(PublicKey::from_spki_der(&[]).is_err());
        assert!(PublicKey::from_spki_der(&[0x30, 0x00]).is_err());
        assert!(PrivateKey::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(PrivateKey::from_sec1_der(&[0x04]).is_err());
    }
}
