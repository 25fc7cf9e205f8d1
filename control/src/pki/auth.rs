//! Signature AUTH payloads (RFC 7296 sections 2.15 and 3.8).
//!
//! The signer signs its SignedOctets (the same octets the PSK method MACs, see
//! [`signed_octets`]):
//!
//! ```text
//! InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)
//! ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, RestOfRespIDPayload)
//! ```
//!
//! Methods:
//! - 14, Digital Signature (RFC 7427): Authentication Data = one length octet, the DER
//!   AlgorithmIdentifier, the signature (ECDSA as a DER ECDSA-Sig-Value). Only with a peer
//!   that sent SIGNATURE_HASH_ALGORITHMS, and only with a hash it listed (RFC 7427 section 4);
//! - 1, RSA Digital Signature: RSASSA-PKCS1-v1_5 with SHA-1. Verified by default; produced
//!   only when [`SignOptions::allow_rsa_sha1`] says so (RFC 8247 section 3.2: SHOULD NOT);
//! - 9 / 10, ECDSA with SHA-256 on P-256 / SHA-384 on P-384 (RFC 4754): the signature is the
//!   fixed-length `r || s`.

use rand_core::CryptoRng;

use crate::crypto::{PrfAlg, SecretBytes};
use crate::ikev2::wire::{AuthMethod, AuthRepr};

use super::key::{KeyKind, PrivateKey, PublicKey};
use super::signature::{self, EcdsaFormat, HashAlg, SignatureError, SignatureScheme};

/// The hashes this implementation accepts in RFC 7427 signatures, in our order of
/// preference: what our SIGNATURE_HASH_ALGORITHMS lists. SHA-1 is left out (RFC 8247
/// section 3.2).
pub const SUPPORTED_HASHES: [HashAlg; 3] = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

/// The Notification Data of our SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 section 4): the
/// 2-octet IDs of [`SUPPORTED_HASHES`].
pub fn signature_hash_algorithms_data() -> Vec<u8> {
    SUPPORTED_HASHES.iter().flat_map(|h| h.iana_id().to_be_bytes()).collect()
}

/// The hashes of a peer's SIGNATURE_HASH_ALGORITHMS (the IDs from
/// [`NotifyRepr::signature_hash_algorithms`](crate::ikev2::wire::NotifyRepr::signature_hash_algorithms))
/// that we implement, duplicates dropped. SHA-1 is kept: choosing never picks it.
pub fn peer_signature_hashes(ids: &[u16]) -> Vec<HashAlg> {
    let mut out = Vec::new();
    for h in ids.iter().filter_map(|&id| HashAlg::from_iana_id(id)) {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// The octets a signature AUTH signs, computed like the PSK AUTH's input (RFC 7296 section
/// 2.15): `real_message` is RealMessage1 (initiator) or RealMessage2 (responder),
/// `peer_nonce` the other side's nonce data, `sk_p` SK_pi or SK_pr, `id_body` the signer's
/// ID payload body from the ID Type on.
pub fn signed_octets(
    prf: PrfAlg,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &SecretBytes,
    id_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.prf(sk_p.as_bytes(), id_body);
    let mut out =
        Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.as_bytes().len());
    out.extend_from_slice(real_message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(maced_id.as_bytes());
    out
}

/// How an AUTH payload is (to be) signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthSignature {
    /// Method 14 with this scheme (RFC 7427).
    DigitalSignature(SignatureScheme),
    /// Method 1: RSASSA-PKCS1-v1_5 with SHA-1.
    RsaSha1,
    /// Method 9: ECDSA P-256 with SHA-256, `r || s`.
    EcdsaP256Sha256,
    /// Method 10: ECDSA P-384 with SHA-384, `r || s`.
    EcdsaP384Sha384,
}

impl AuthSignature {
    /// The AUTH payload's method.
    pub fn method(self) -> AuthMethod {
        match self {
            AuthSignature::DigitalSignature(_) => AuthMethod::DigitalSignature,
            AuthSignature::RsaSha1 => AuthMethod::RsaSig,
            AuthSignature::EcdsaP256Sha256 => AuthMethod::EcdsaSha256P256,
            AuthSignature::EcdsaP384Sha384 => AuthMethod::EcdsaSha384P384,
        }
    }

    /// The scheme and ECDSA encoding underneath.
    fn scheme(self) -> (SignatureScheme, EcdsaFormat) {
        match self {
            AuthSignature::DigitalSignature(s) => (s, EcdsaFormat::Der),
            AuthSignature::RsaSha1 => (SignatureScheme::RsaPkcs1(HashAlg::Sha1), EcdsaFormat::Der),
            AuthSignature::EcdsaP256Sha256 => {
                (SignatureScheme::Ecdsa(HashAlg::Sha256), EcdsaFormat::Raw)
            }
            AuthSignature::EcdsaP384Sha384 => {
                (SignatureScheme::Ecdsa(HashAlg::Sha384), EcdsaFormat::Raw)
            }
        }
    }

    /// Whether a key of this kind makes or checks such an AUTH: RFC 4754 ties methods 9 and
    /// 10 to their curves.
    pub fn fits(self, key: KeyKind) -> bool {
        match self {
            AuthSignature::DigitalSignature(s) => s.fits(key),
            AuthSignature::RsaSha1 => matches!(key, KeyKind::Rsa { .. }),
            AuthSignature::EcdsaP256Sha256 => key == KeyKind::EcP256,
            AuthSignature::EcdsaP384Sha384 => key == KeyKind::EcP384,
        }
    }
}

/// What we are willing to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignOptions {
    /// Allow method 1 (RSA with SHA-1) when the peer does not support RFC 7427. Off by
    /// default.
    pub allow_rsa_sha1: bool,
    /// Sign with RSA-PSS rather than PKCS#1 v1.5 in method 14 (RSA keys). Off by default:
    /// PKCS#1 v1.5 is what every RFC 7427 implementation verifies.
    pub rsa_pss: bool,
}

/// What we are willing to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept method 1 (RSA with SHA-1) from peers without RFC 7427. On by default: older
    /// peers have nothing else for RSA keys.
    pub accept_rsa_sha1: bool,
}

impl Default for VerifyOptions {
    fn default() -> VerifyOptions {
        VerifyOptions { accept_rsa_sha1: true }
    }
}

/// AUTH payload failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A method that is not one of 1, 9, 10, 14 (PSK, NULL, DSS, P-521 ...).
    #[error("AUTH method {0} is not a supported signature method")]
    UnsupportedMethod(AuthMethod),
    /// The method needs another kind of key than the certificate's.
    #[error("AUTH method {method} with a {key} key")]
    KeyMismatch {
        /// The AUTH method.
        method: AuthMethod,
        /// The key's kind.
        key: KeyKind,
    },
    /// Method 1 refused by the options.
    #[error("RSA signatures with SHA-1 (AUTH method 1) are disabled")]
    RsaSha1Disabled,
    /// No method both sides support (an RSA key, a peer without RFC 7427, method 1 off).
    #[error("no signature AUTH method acceptable to both sides for a {0} key")]
    NoCommonMethod(KeyKind),
    /// A method 14 payload without its AlgorithmIdentifier (the wire parser forbids it).
    #[error("method 14 AUTH without an AlgorithmIdentifier")]
    MissingAlgorithm,
    /// The signature itself, or its RFC 7427 algorithm, is refused.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Picks how to sign our AUTH with `key`, given the hashes the peer listed in its
/// SIGNATURE_HASH_ALGORITHMS ([`peer_signature_hashes`]; empty if it sent none).
///
/// Method 14 whenever the peer lists a hash we support: ECDSA prefers the hash matching the
/// curve, RSA the order of [`SUPPORTED_HASHES`]. Otherwise the RFC 4754 method of an EC key,
/// or method 1 for RSA if allowed.
pub fn choose_auth_signature(
    key: &PrivateKey,
    peer_hashes: &[HashAlg],
    opts: &SignOptions,
) -> Result<AuthSignature, AuthError> {
    let kind = key.kind();
    let preference: [HashAlg; 3] = match kind {
        KeyKind::EcP384 => [HashAlg::Sha384, HashAlg::Sha512, HashAlg::Sha256],
        _ => SUPPORTED_HASHES,
    };
    if let Some(&h) = preference.iter().find(|h| peer_hashes.contains(h)) {
        let scheme = match kind {
            KeyKind::Rsa { .. } if opts.rsa_pss => SignatureScheme::rsa_pss(h),
            KeyKind::Rsa { .. } => SignatureScheme::RsaPkcs1(h),
            KeyKind::EcP256 | KeyKind::EcP384 => SignatureScheme::Ecdsa(h),
        };
        return Ok(AuthSignature::DigitalSignature(scheme));
    }
    match kind {
        KeyKind::EcP256 => Ok(AuthSignature::EcdsaP256Sha256),
        KeyKind::EcP384 => Ok(AuthSignature::EcdsaP384Sha384),
        KeyKind::Rsa { .. } if opts.allow_rsa_sha1 => Ok(AuthSignature::RsaSha1),
        KeyKind::Rsa { .. } => Err(AuthError::NoCommonMethod(kind)),
    }
}

/// Signs `signed_octets` ([`signed_octets`]) and returns the AUTH payload body.
pub fn sign_auth<R: CryptoRng + ?Sized>(
    key: &PrivateKey,
    how: AuthSignature,
    signed_octets: &[u8],
    opts: &SignOptions,
    rng: &mut R,
) -> Result<AuthRepr, AuthError> {
    if how == AuthSignature::RsaSha1 && !opts.allow_rsa_sha1 {
        return Err(AuthError::RsaSha1Disabled);
    }
    if !how.fits(key.kind()) {
        return Err(AuthError::KeyMismatch { method: how.method(), key: key.kind() });
    }
    let (scheme, format) = how.scheme();
    if matches!(how, AuthSignature::DigitalSignature(_)) && scheme.hash() == HashAlg::Sha1 {
        return Err(SignatureError::WeakHash.into());
    }
    let data = signature::sign_with(key, scheme, signed_octets, rng, format)?;
    let algorithm_identifier = match how {
        AuthSignature::DigitalSignature(s) => Some(s.algorithm_identifier()),
        _ => None,
    };
    Ok(AuthRepr { method: how.method(), algorithm_identifier, data })
}

/// Verifies the peer's AUTH payload over its `signed_octets` with the public key of its
/// (validated) certificate. Returns how it was signed, for logs. Never panics, whatever the
/// payload holds.
pub fn verify_auth(
    key: &PublicKey,
    auth: &AuthRepr,
    signed_octets: &[u8],
    opts: &VerifyOptions,
) -> Result<AuthSignature, AuthError> {
    let how = match auth.method {
        AuthMethod::DigitalSignature => {
            let alg = auth.algorithm_identifier.as_deref().ok_or(AuthError::MissingAlgorithm)?;
            let scheme = SignatureScheme::from_algorithm_identifier(alg)?;
            if scheme.hash() == HashAlg::Sha1 {
                return Err(SignatureError::WeakHash.into());
            }
            AuthSignature::DigitalSignature(scheme)
        }
        AuthMethod::RsaSig if opts.accept_rsa_sha1 => AuthSignature::RsaSha1,
        AuthMethod::RsaSig => return Err(AuthError::RsaSha1Disabled),
        AuthMethod::EcdsaSha256P256 => AuthSignature::EcdsaP256Sha256,
        AuthMethod::EcdsaSha384P384 => AuthSignature::EcdsaP384Sha384,
        m => return Err(AuthError::UnsupportedMethod(m)),
    };
    if !how.fits(key.kind()) {
        return Err(AuthError::KeyMismatch { method: auth.method, key: key.kind() });
    }
    let (scheme, format) = how.scheme();
    signature::verify_with(key, scheme, signed_octets, &auth.data, format)?;
    Ok(how)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_data() {
        assert_eq!(signature_hash_algorithms_data(), [0, 2, 0, 3, 0, 4]);
        assert_eq!(
            peer_signature_hashes(&[4, 1, 5, 4, 2, 0xffff]),
            [HashAlg::Sha512, HashAlg::Sha1, HashAlg::Sha256]
        );
    }

    #[test]
    fn octets_are_the_psk_formula_input() {
        let sk = SecretBytes::from_slice(&[7; 32]);
        let got = signed_octets(PrfAlg::HmacSha256, b"msg", b"nonce", &sk, &[1, 0, 0, 0, 9]);
        let mac = PrfAlg::HmacSha256.prf(&[7; 32], &[1, 0, 0, 0, 9]);
        let mut want = b"msgnonce".to_vec();
        want.extend_from_slice(mac.as_bytes());
        assert_eq!(got, want);
    }
}
