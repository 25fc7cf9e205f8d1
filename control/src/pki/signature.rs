//! Signature schemes, their X.509 AlgorithmIdentifiers (RFC 3279, RFC 4055, RFC 5758; the
//! encodings RFC 7427 appendix A lists), and signing / verification with [`PublicKey`] and
//! [`PrivateKey`].

use core::fmt;

use der::Decode;
use rand_core::CryptoRng;
use rsa::{Pkcs1v15Sign, pss::Pss};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use spki::AlgorithmIdentifierRef;

use super::key::{KeyKind, PrivateInner, PrivateKey, PublicInner, PublicKey};
use super::oid;

/// Hash algorithms, with their RFC 7427 section 7 (IANA "IKEv2 Hash Algorithms") numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1: legacy AUTH method 1 only; refused in certificates and in RFC 7427 AUTH.
    Sha1,
    /// SHA2-256.
    Sha256,
    /// SHA2-384.
    Sha384,
    /// SHA2-512.
    Sha512,
}

impl HashAlg {
    /// The IANA "IKEv2 Hash Algorithms" number (SIGNATURE_HASH_ALGORITHMS notify).
    pub const fn iana_id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 1,
            HashAlg::Sha256 => 2,
            HashAlg::Sha384 => 3,
            HashAlg::Sha512 => 4,
        }
    }

    /// The hash with this IANA number, if implemented.
    pub const fn from_iana_id(id: u16) -> Option<HashAlg> {
        match id {
            1 => Some(HashAlg::Sha1),
            2 => Some(HashAlg::Sha256),
            3 => Some(HashAlg::Sha384),
            4 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// Digest length in octets.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => Sha1::digest(data).to_vec(),
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            HashAlg::Sha1 => oid::SHA1,
            HashAlg::Sha256 => oid::SHA256,
            HashAlg::Sha384 => oid::SHA384,
            HashAlg::Sha512 => oid::SHA512,
        }
    }

    fn from_oid(o: const_oid::ObjectIdentifier) -> Option<HashAlg> {
        [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512]
            .into_iter()
            .find(|h| h.oid() == o)
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        })
    }
}

/// A signature scheme as named by an X.509 AlgorithmIdentifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 (sha*WithRSAEncryption).
    RsaPkcs1(HashAlg),
    /// RSASSA-PSS with MGF1 over the same hash and trailer field 1 (RFC 4055). The hash is
    /// never SHA-1: [`SignatureScheme::from_algorithm_identifier`] refuses it.
    RsaPss {
        /// Message and MGF1 hash.
        hash: HashAlg,
        /// Salt length in octets.
        salt_len: u8,
    },
    /// ECDSA (ecdsa-with-SHA*), the signature a DER `ECDSA-Sig-Value` (RFC 3279
    /// section 2.2.3). The curve is the key's. Never SHA-1.
    Ecdsa(HashAlg),
}

impl SignatureScheme {
    /// RSASSA-PSS with the salt as long as the hash, the usual choice (RFC 8017 section 9.1).
    pub const fn rsa_pss(hash: HashAlg) -> SignatureScheme {
        // Digest lengths are at most 64, so the cast cannot truncate.
        SignatureScheme::RsaPss { hash, salt_len: hash.output_len() as u8 }
    }

    /// The hash the scheme applies to the message.
    pub const fn hash(self) -> HashAlg {
        match self {
            SignatureScheme::RsaPkcs1(h)
            | SignatureScheme::RsaPss { hash: h, .. }
            | SignatureScheme::Ecdsa(h) => h,
        }
    }

    /// Parses a DER AlgorithmIdentifier (from a certificate's signatureAlgorithm or an RFC
    /// 7427 AUTH payload). RSA PKCS#1 parameters must be NULL or absent, ECDSA parameters
    /// absent; RSA-PSS parameters need MGF1 over the message hash, trailer field 1, and a
    /// hash other than SHA-1.
    pub fn from_algorithm_identifier(der: &[u8]) -> Result<SignatureScheme, SignatureError> {
        let alg = AlgorithmIdentifierRef::from_der(der)
            .map_err(|_| SignatureError::MalformedAlgorithm)?;
        let params_absent_or_null = alg.parameters.is_none_or(|p| p.is_null());
        let rsa = |h| {
            if params_absent_or_null {
                Ok(SignatureScheme::RsaPkcs1(h))
            } else {
                Err(SignatureError::MalformedAlgorithm)
            }
        };
        let ecdsa = |h| match alg.parameters {
            None => Ok(SignatureScheme::Ecdsa(h)),
            Some(_) => Err(SignatureError::MalformedAlgorithm),
        };
        match alg.oid {
            o if o == oid::SHA1_WITH_RSA => rsa(HashAlg::Sha1),
            o if o == oid::SHA256_WITH_RSA => rsa(HashAlg::Sha256),
            o if o == oid::SHA384_WITH_RSA => rsa(HashAlg::Sha384),
            o if o == oid::SHA512_WITH_RSA => rsa(HashAlg::Sha512),
            o if o == oid::ECDSA_WITH_SHA256 => ecdsa(HashAlg::Sha256),
            o if o == oid::ECDSA_WITH_SHA384 => ecdsa(HashAlg::Sha384),
            o if o == oid::ECDSA_WITH_SHA512 => ecdsa(HashAlg::Sha512),
            o if o == oid::RSASSA_PSS => {
                let params = alg.parameters.ok_or(SignatureError::MalformedAlgorithm)?;
                let params: pkcs1::RsaPssParamsOwned =
                    params.decode_as().map_err(|_| SignatureError::MalformedAlgorithm)?;
                pss_from_params(&params)
            }
            o => Err(SignatureError::UnsupportedAlgorithm(o.to_string())),
        }
    }

    /// The DER AlgorithmIdentifier: parameters NULL for RSA PKCS#1 and inside the RSA-PSS
    /// hash identifiers, absent for ECDSA (RFC 7427 appendix A).
    pub fn algorithm_identifier(self) -> Vec<u8> {
        match self {
            SignatureScheme::RsaPkcs1(h) => {
                let o = match h {
                    HashAlg::Sha1 => oid::SHA1_WITH_RSA,
                    HashAlg::Sha256 => oid::SHA256_WITH_RSA,
                    HashAlg::Sha384 => oid::SHA384_WITH_RSA,
                    HashAlg::Sha512 => oid::SHA512_WITH_RSA,
                };
                alg_id(o, Some(&NULL))
            }
            SignatureScheme::Ecdsa(h) => {
                let o = match h {
                    // Never parsed, never signed or verified; encoded as what it names.
                    HashAlg::Sha1 => oid::ECDSA_WITH_SHA1,
                    HashAlg::Sha256 => oid::ECDSA_WITH_SHA256,
                    HashAlg::Sha384 => oid::ECDSA_WITH_SHA384,
                    HashAlg::Sha512 => oid::ECDSA_WITH_SHA512,
                };
                alg_id(o, None)
            }
            SignatureScheme::RsaPss { hash, salt_len } => {
                let hash_id = alg_id(hash.oid(), Some(&NULL));
                let mgf = alg_id(oid::MGF1, Some(&hash_id));
                let mut params = tlv(0xa0, &hash_id);
                params.extend(tlv(0xa1, &mgf));
                params.extend(tlv(0xa2, &der_uint(salt_len)));
                alg_id(oid::RSASSA_PSS, Some(&tlv(0x30, &params)))
            }
        }
    }

    /// Whether a key of this kind can make or check such a signature.
    pub fn fits(self, key: KeyKind) -> bool {
        matches!(
            (self, key),
            (SignatureScheme::RsaPkcs1(_) | SignatureScheme::RsaPss { .. }, KeyKind::Rsa { .. })
                | (SignatureScheme::Ecdsa(_), KeyKind::EcP256 | KeyKind::EcP384)
        )
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureScheme::RsaPkcs1(h) => write!(f, "RSA PKCS#1 v1.5 {h}"),
            SignatureScheme::RsaPss { hash, salt_len } => {
                write!(f, "RSA-PSS {hash} (salt {salt_len})")
            }
            SignatureScheme::Ecdsa(h) => write!(f, "ECDSA {h}"),
        }
    }
}

/// Signature failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The AlgorithmIdentifier does not parse, or has parameters its algorithm forbids.
    #[error("malformed signature AlgorithmIdentifier")]
    MalformedAlgorithm,
    /// A well-formed identifier of an algorithm not implemented (by dotted OID).
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// RSA-PSS parameters this implementation does not accept (SHA-1, another MGF, ...).
    #[error("unsupported RSA-PSS parameters: {0}")]
    UnsupportedPssParameters(&'static str),
    /// The scheme needs another kind of key (ECDSA with an RSA key, PKCS#1 with a key whose
    /// certificate restricts it to PSS, ...).
    #[error("{scheme} signature with a {key} key")]
    KeyMismatch {
        /// The scheme.
        scheme: SignatureScheme,
        /// The key's kind.
        key: KeyKind,
    },
    /// SHA-1 where it is not accepted.
    #[error("SHA-1 signatures are not accepted here")]
    WeakHash,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The private-key operation failed (a too-small RSA key for the hash, an RNG error).
    #[error("signing failed")]
    SigningFailed,
}

const NULL: [u8; 2] = [0x05, 0x00];

fn pss_from_params(p: &pkcs1::RsaPssParamsOwned) -> Result<SignatureScheme, SignatureError> {
    let hash = HashAlg::from_oid(p.hash.oid)
        .ok_or(SignatureError::UnsupportedPssParameters("message hash"))?;
    if hash == HashAlg::Sha1 {
        return Err(SignatureError::UnsupportedPssParameters("SHA-1"));
    }
    if !p.hash.parameters.as_ref().is_none_or(|a| a.is_null()) {
        return Err(SignatureError::MalformedAlgorithm);
    }
    let mgf_hash = p.mask_gen.parameters.as_ref().map(|a| a.oid);
    if p.mask_gen.oid != oid::MGF1 || mgf_hash != Some(hash.oid()) {
        return Err(SignatureError::UnsupportedPssParameters("MGF1 over another hash"));
    }
    // The MGF1 hash's own parameters, like the message hash's, are NULL or absent: any
    // other element would let two encodings name one scheme.
    if let Some(mgf) = &p.mask_gen.parameters
        && !mgf.parameters.as_ref().is_none_or(|a| a.is_null())
    {
        return Err(SignatureError::MalformedAlgorithm);
    }
    if p.trailer_field != pkcs1::TrailerField::BC {
        return Err(SignatureError::UnsupportedPssParameters("trailer field"));
    }
    Ok(SignatureScheme::RsaPss { hash, salt_len: p.salt_len })
}

/// A DER TLV; `content` is at most a few hundred octets here, but any length encodes.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER holding an unsigned octet value.
fn der_uint(v: u8) -> Vec<u8> {
    if v >= 0x80 { tlv(0x02, &[0, v]) } else { tlv(0x02, &[v]) }
}

fn alg_id(o: const_oid::ObjectIdentifier, params: Option<&[u8]>) -> Vec<u8> {
    let mut content = tlv(0x06, o.as_bytes());
    if let Some(p) = params {
        content.extend_from_slice(p);
    }
    tlv(0x30, &content)
}

/// How an ECDSA signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EcdsaFormat {
    /// DER ECDSA-Sig-Value (X.509, RFC 7427).
    Der,
    /// Fixed-length r || s (RFC 4754, AUTH methods 9 to 11).
    Raw,
}

/// Verifies `signature` over `message` (hashed here with the scheme's hash). ECDSA
/// signatures are DER. Never panics, whatever the bytes.
pub fn verify(
    key: &PublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_with(key, scheme, message, signature, EcdsaFormat::Der)
}

pub(crate) fn verify_with(
    key: &PublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
    format: EcdsaFormat,
) -> Result<(), SignatureError> {
    let mismatch = || SignatureError::KeyMismatch { scheme, key: key.kind() };
    if scheme == SignatureScheme::Ecdsa(HashAlg::Sha1) {
        return Err(SignatureError::WeakHash);
    }
    let digest = scheme.hash().digest(message);
    let ok = match (&key.0, scheme) {
        (PublicInner::Rsa { key: k, pss_only: false }, SignatureScheme::RsaPkcs1(h)) => {
            k.verify(pkcs1v15(h), &digest, signature).is_ok()
        }
        (PublicInner::Rsa { key: k, .. }, SignatureScheme::RsaPss { hash, salt_len }) => {
            let salt = usize::from(salt_len);
            match hash {
                HashAlg::Sha1 => return Err(SignatureError::WeakHash),
                HashAlg::Sha256 => k.verify(Pss::<Sha256>::new_with_salt(salt), &digest, signature),
                HashAlg::Sha384 => k.verify(Pss::<Sha384>::new_with_salt(salt), &digest, signature),
                HashAlg::Sha512 => k.verify(Pss::<Sha512>::new_with_salt(salt), &digest, signature),
            }
            .is_ok()
        }
        (PublicInner::EcP256(k), SignatureScheme::Ecdsa(_)) => {
            let sig = match format {
                EcdsaFormat::Der => p256::ecdsa::Signature::from_der(signature),
                EcdsaFormat::Raw => p256::ecdsa::Signature::from_slice(signature),
            };
            sig.is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok())
        }
        (PublicInner::EcP384(k), SignatureScheme::Ecdsa(_)) => {
            let sig = match format {
                EcdsaFormat::Der => p384::ecdsa::Signature::from_der(signature),
                EcdsaFormat::Raw => p384::ecdsa::Signature::from_slice(signature),
            };
            sig.is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok())
        }
        _ => return Err(mismatch()),
    };
    if ok { Ok(()) } else { Err(SignatureError::BadSignature) }
}

/// Signs `message` with `key` under `scheme`. RSA signing is blinded and PSS salted from
/// `rng`; ECDSA uses RFC 6979 nonces hedged with `rng` output. ECDSA signatures are DER.
pub fn sign<R: CryptoRng + ?Sized>(
    key: &PrivateKey,
    scheme: SignatureScheme,
    message: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignatureError> {
    sign_with(key, scheme, message, rng, EcdsaFormat::Der)
}

pub(crate) fn sign_with<R: CryptoRng + ?Sized>(
    key: &PrivateKey,
    scheme: SignatureScheme,
    message: &[u8],
    rng: &mut R,
    format: EcdsaFormat,
) -> Result<Vec<u8>, SignatureError> {
    if scheme == SignatureScheme::Ecdsa(HashAlg::Sha1) {
        return Err(SignatureError::WeakHash);
    }
    let digest = scheme.hash().digest(message);
    let failed = |_| SignatureError::SigningFailed;
    match (&key.0, scheme) {
        (PrivateInner::Rsa(k), SignatureScheme::RsaPkcs1(h)) => {
            k.sign_with_rng(rng, pkcs1v15(h), &digest).map_err(failed)
        }
        (PrivateInner::Rsa(k), SignatureScheme::RsaPss { hash, salt_len }) => {
            let salt = usize::from(salt_len);
            match hash {
                HashAlg::Sha1 => return Err(SignatureError::WeakHash),
                HashAlg::Sha256 => {
                    k.sign_with_rng(rng, Pss::<Sha256>::new_with_salt(salt), &digest)
                }
                HashAlg::Sha384 => {
                    k.sign_with_rng(rng, Pss::<Sha384>::new_with_salt(salt), &digest)
                }
                HashAlg::Sha512 => {
                    k.sign_with_rng(rng, Pss::<Sha512>::new_with_salt(salt), &digest)
                }
            }
            .map_err(failed)
        }
        (PrivateInner::EcP256(k), SignatureScheme::Ecdsa(_)) => {
            let sig: p256::ecdsa::Signature =
                k.sign_prehash_with_rng(rng, &digest).map_err(|_| SignatureError::SigningFailed)?;
            Ok(match format {
                EcdsaFormat::Der => sig.to_der().as_bytes().to_vec(),
                EcdsaFormat::Raw => sig.to_bytes().to_vec(),
            })
        }
        (PrivateInner::EcP384(k), SignatureScheme::Ecdsa(_)) => {
            let sig: p384::ecdsa::Signature =
                k.sign_prehash_with_rng(rng, &digest).map_err(|_| SignatureError::SigningFailed)?;
            Ok(match format {
                EcdsaFormat::Der => sig.to_der().as_bytes().to_vec(),
                EcdsaFormat::Raw => sig.to_bytes().to_vec(),
            })
        }
        _ => Err(SignatureError::KeyMismatch { scheme, key: key.kind() }),
    }
}

fn pkcs1v15(h: HashAlg) -> Pkcs1v15Sign {
    match h {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7427 appendix A encodings.
    #[test]
    fn rfc7427_algorithm_identifiers() {
        let sha256_rsa = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ];
        let ecdsa_sha256 = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        assert_eq!(SignatureScheme::RsaPkcs1(HashAlg::Sha256).algorithm_identifier(), sha256_rsa);
        assert_eq!(SignatureScheme::Ecdsa(HashAlg::Sha256).algorithm_identifier(), ecdsa_sha256);
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&sha256_rsa),
            Ok(SignatureScheme::RsaPkcs1(HashAlg::Sha256))
        );
        // RSASSA-PSS, SHA-256, MGF1 SHA-256, salt 10, hash parameters NULL (the layout of
        // `openssl asn1parse` dumps of such identifiers).
        let pss_der = [
            0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
            0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
            0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
            0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
            0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x0a,
        ];
        let pss = SignatureScheme::RsaPss { hash: HashAlg::Sha256, salt_len: 10 };
        let der = pss.algorithm_identifier();
        assert_eq!(der, pss_der);
        assert_eq!(SignatureScheme::from_algorithm_identifier(&der), Ok(pss));
    }

    #[test]
    fn round_trip_every_scheme() {
        let schemes = [
            SignatureScheme::RsaPkcs1(HashAlg::Sha1),
            SignatureScheme::RsaPkcs1(HashAlg::Sha384),
            SignatureScheme::RsaPkcs1(HashAlg::Sha512),
            SignatureScheme::Ecdsa(HashAlg::Sha384),
            SignatureScheme::Ecdsa(HashAlg::Sha512),
            SignatureScheme::rsa_pss(HashAlg::Sha384),
            SignatureScheme::rsa_pss(HashAlg::Sha512),
            SignatureScheme::RsaPss { hash: HashAlg::Sha256, salt_len: 200 },
            SignatureScheme::RsaPss { hash: HashAlg::Sha256, salt_len: 20 },
        ];
        for s in schemes {
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(&s.algorithm_identifier()),
                Ok(s)
            );
        }
    }

    #[test]
    fn rejects_bad_identifiers() {
        // ECDSA with NULL parameters; RSA with a non-NULL parameter; PSS with SHA-1
        // defaults (empty parameters); an unknown OID.
        let mut ecdsa_null = vec![0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
        ecdsa_null.extend_from_slice(&[0x03, 0x02, 0x05, 0x00]);
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&ecdsa_null),
            Err(SignatureError::MalformedAlgorithm)
        );
        let rsa_int = alg_id(oid::SHA256_WITH_RSA, Some(&[0x02, 0x01, 0x00]));
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&rsa_int),
            Err(SignatureError::MalformedAlgorithm)
        );
        let pss_default = alg_id(oid::RSASSA_PSS, Some(&[0x30, 0x00]));
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&pss_default),
            Err(SignatureError::UnsupportedPssParameters("SHA-1"))
        );
        let md5_rsa =
            alg_id(const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4"), Some(&NULL));
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&md5_rsa),
            Err(SignatureError::UnsupportedAlgorithm("1.2.840.113549.1.1.4".into()))
        );
        assert!(SignatureScheme::from_algorithm_identifier(&[]).is_err());
        assert!(SignatureScheme::from_algorithm_identifier(&[0x30, 0x80]).is_err());
    }

    #[test]
    fn hash_ids() {
        for h in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            assert_eq!(HashAlg::from_iana_id(h.iana_id()), Some(h));
            assert_eq!(h.digest(b"abc").len(), h.output_len());
        }
        assert_eq!(HashAlg::from_iana_id(5), None);
        assert_eq!(HashAlg::from_iana_id(0), None);
    }

    #[test]
    fn long_tlv() {
        let t = tlv(0x04, &[0; 300]);
        assert_eq!(&t[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(t.len(), 304);
    }
}
