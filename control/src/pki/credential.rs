//! Our own certificate-based identity: a certificate, the intermediates to send with it,
//! and the matching private key.

use crate::ikev2::wire::{CertEncoding, CertRepr, SHA1_LEN};

use super::cert::Certificate;
use super::certreq::CertRequest;
use super::chain::TrustStore;
use super::key::{KeyError, PrivateKey};

/// Why a certificate and key do not make a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The certificate's key type is not supported.
    #[error("certificate \"{subject}\": {error}")]
    UnsupportedKey {
        /// The certificate.
        subject: String,
        /// Why.
        error: KeyError,
    },
    /// The private key is not the certificate's.
    #[error("the private key does not match certificate \"{0}\"")]
    KeyMismatch(String),
}

/// A certificate, its chain and its private key (zeroized on drop).
#[derive(Debug)]
pub struct Credential {
    certificate: Certificate,
    intermediates: Vec<Certificate>,
    key: PrivateKey,
    authorities: Vec<[u8; SHA1_LEN]>,
}

impl Credential {
    /// Pairs `certificate` with its `key`; `intermediates` go out after it in CERT payloads.
    /// The intermediates' key hashes become CAs this credential answers CERTREQs for.
    pub fn new(
        certificate: Certificate,
        intermediates: Vec<Certificate>,
        key: PrivateKey,
    ) -> Result<Credential, CredentialError> {
        let cert_key = certificate.public_key().map_err(|e| CredentialError::UnsupportedKey {
            subject: certificate.subject().to_owned(),
            error: e.clone(),
        })?;
        if *cert_key != key.public_key() {
            return Err(CredentialError::KeyMismatch(certificate.subject().to_owned()));
        }
        let mut cred = Credential { certificate, intermediates, key, authorities: Vec::new() };
        for i in 0..cred.intermediates.len() {
            let h = *cred.intermediates[i].spki_sha1();
            cred.add_authority_hash(h);
        }
        Ok(cred)
    }

    /// Records the CAs of `store` that issued a certificate of this chain (matched by name),
    /// so CERTREQs naming them select this credential.
    pub fn link_anchors(&mut self, store: &TrustStore) {
        let issuers: Vec<Vec<u8>> = core::iter::once(&self.certificate)
            .chain(&self.intermediates)
            .map(|c| c.issuer_der().to_vec())
            .collect();
        for ca in store.anchors() {
            if issuers.iter().any(|i| i.as_slice() == ca.subject_der()) {
                self.add_authority_hash(*ca.spki_sha1());
            }
        }
    }

    fn add_authority_hash(&mut self, h: [u8; SHA1_LEN]) {
        if !self.authorities.contains(&h) {
            self.authorities.push(h);
        }
    }

    /// Our certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The intermediates sent after it.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    /// The private key (signs our AUTH).
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }

    /// SubjectPublicKeyInfo hashes of the CAs above our certificate.
    pub fn authority_hashes(&self) -> &[[u8; SHA1_LEN]] {
        &self.authorities
    }

    /// Whether a peer's CERTREQs ask for a certificate under one of our CAs.
    pub fn answers(&self, request: &CertRequest) -> bool {
        request.any_ca || self.authorities.iter().any(|h| request.authorities.contains(h))
    }

    /// The CERT payload bodies to send: our certificate first (RFC 7296 section 3.6), then
    /// the intermediates.
    pub fn cert_payloads(&self) -> Vec<CertRepr> {
        core::iter::once(&self.certificate)
            .chain(&self.intermediates)
            .map(|c| CertRepr { encoding: CertEncoding::X509Signature, data: c.der().to_vec() })
            .collect()
    }
}

/// The first credential that answers `request`, or `None` if none does (the caller may then
/// fall back to its configured one: RFC 7296 section 3.7 lets a responder send any).
pub fn select_credential<'a>(
    credentials: impl IntoIterator<Item = &'a Credential>,
    request: &CertRequest,
) -> Option<&'a Credential> {
    credentials.into_iter().find(|c| c.answers(request))
}
