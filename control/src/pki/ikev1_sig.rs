//! IKEv1 phase-1 signatures (RFC 2409 section 5.1): SIG_I and SIG_R sign HASH_I and HASH_R.
//!
//! - RSA (authentication method 3): PKCS#1 v1.5 type-1 padding over the raw HASH, with no
//!   DigestInfo (what strongSwan calls EMSA-PKCS1 "NULL" and every IKEv1 implementation
//!   does; RFC 2409 names no hash OID);
//! - ECDSA (methods 9 and 10): the HASH itself is the digest the signature is computed
//!   over (no second hash), the signature r | s at fixed length — what strongSwan (its
//!   "ECDSA with NULL" scheme) and the ASA put in IKEv1 SIG payloads.

use rand_core::CryptoRng;
use rsa::Pkcs1v15Sign;
use signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};

use super::key::{KeyKind, PrivateInner, PrivateKey, PublicInner, PublicKey};
use super::signature::{HashAlg, SignatureError, SignatureScheme};

/// An IKEv1 signature authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ikev1Signature {
    /// RSA signatures (method 3).
    Rsa,
    /// ECDSA on P-256 (method 9).
    EcdsaP256,
    /// ECDSA on P-384 (method 10).
    EcdsaP384,
}

impl Ikev1Signature {
    /// The method a key of `kind` signs with.
    pub fn for_key(kind: KeyKind) -> Ikev1Signature {
        match kind {
            KeyKind::Rsa { .. } => Ikev1Signature::Rsa,
            KeyKind::EcP256 => Ikev1Signature::EcdsaP256,
            KeyKind::EcP384 => Ikev1Signature::EcdsaP384,
        }
    }

    fn ecdsa_scheme(self) -> Option<SignatureScheme> {
        match self {
            Ikev1Signature::Rsa => None,
            Ikev1Signature::EcdsaP256 => Some(SignatureScheme::Ecdsa(HashAlg::Sha256)),
            Ikev1Signature::EcdsaP384 => Some(SignatureScheme::Ecdsa(HashAlg::Sha384)),
        }
    }
}

/// Signs a phase-1 HASH with `key` by its method.
pub fn sign_ikev1<R: CryptoRng + ?Sized>(
    key: &PrivateKey,
    hash: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignatureError> {
    let failed = |_| SignatureError::SigningFailed;
    match &key.0 {
        PrivateInner::Rsa(k) => {
            k.sign_with_rng(rng, Pkcs1v15Sign::new_unprefixed(), hash).map_err(failed)
        }
        PrivateInner::EcP256(k) => {
            let sig: p256::ecdsa::Signature =
                k.sign_prehash_with_rng(rng, hash).map_err(|_| SignatureError::SigningFailed)?;
            Ok(sig.to_bytes().to_vec())
        }
        PrivateInner::EcP384(k) => {
            let sig: p384::ecdsa::Signature =
                k.sign_prehash_with_rng(rng, hash).map_err(|_| SignatureError::SigningFailed)?;
            Ok(sig.to_bytes().to_vec())
        }
    }
}

/// Verifies a peer's SIG over the phase-1 HASH we computed, with the method negotiated.
/// Never panics, whatever the bytes.
pub fn verify_ikev1(
    key: &PublicKey,
    method: Ikev1Signature,
    hash: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let ok = match (&key.0, method) {
        (PublicInner::Rsa { key: k, pss_only: false }, Ikev1Signature::Rsa) => {
            k.verify(Pkcs1v15Sign::new_unprefixed(), hash, signature).is_ok()
        }
        (PublicInner::EcP256(k), Ikev1Signature::EcdsaP256) => {
            p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_prehash(hash, &s).is_ok())
        }
        (PublicInner::EcP384(k), Ikev1Signature::EcdsaP384) => {
            p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_prehash(hash, &s).is_ok())
        }
        _ => {
            return Err(SignatureError::KeyMismatch {
                scheme: method.ecdsa_scheme().unwrap_or(SignatureScheme::RsaPkcs1(HashAlg::Sha1)),
                key: key.kind(),
            });
        }
    };
    if ok { Ok(()) } else { Err(SignatureError::BadSignature) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::load::parse_private_key;
    use crate::rng::OsRng;

    fn key(name: &str) -> PrivateKey {
        let path = format!("{}/tests/data/pki/{name}", env!("CARGO_MANIFEST_DIR"));
        parse_private_key(name, &std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn each_key_kind_signs_and_verifies_and_tampering_fails() {
        let hash = [0x5au8; 32];
        for name in ["rsa-leaf.key.pem", "ecp256-leaf.key.pem", "ecp384-leaf.key.pem"] {
            let k = key(name);
            let method = Ikev1Signature::for_key(k.kind());
            let sig = sign_ikev1(&k, &hash, &mut OsRng).unwrap();
            let public = k.public_key();
            verify_ikev1(&public, method, &hash, &sig).unwrap();
            let mut other = hash;
            other[0] ^= 1;
            assert!(verify_ikev1(&public, method, &other, &sig).is_err(), "{name}");
            let mut bad = sig.clone();
            bad[5] ^= 0x40;
            assert!(verify_ikev1(&public, method, &hash, &bad).is_err(), "{name}");
            assert!(verify_ikev1(&public, method, &hash, &[]).is_err(), "{name}");
        }
        // RSA signatures are the raw PKCS#1 block: exactly the modulus length.
        let rsa = key("rsa-leaf.key.pem");
        assert_eq!(sign_ikev1(&rsa, &hash, &mut OsRng).unwrap().len(), 256);
        // ECDSA P-256 is r | s, 64 bytes.
        assert_eq!(sign_ikev1(&key("ecp256-leaf.key.pem"), &hash, &mut OsRng).unwrap().len(), 64);
    }

    #[test]
    fn a_method_for_another_key_kind_is_refused() {
        let public = key("ecp256-leaf.key.pem").public_key();
        assert!(matches!(
            verify_ikev1(&public, Ikev1Signature::Rsa, &[0; 20], &[0; 256]),
            Err(SignatureError::KeyMismatch { .. })
        ));
    }
}
