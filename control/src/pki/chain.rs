//! Certificate path validation (RFC 5280 section 6, the parts IKE needs): from the peer's
//! end-entity certificate through the intermediates it sent (CERT payloads, any order) to a
//! CA certificate of a [`TrustStore`].
//!
//! Each link checks the issuer's signature over the TBSCertificate octets as received,
//! the issuer's basicConstraints cA, keyUsage keyCertSign (when present) and
//! pathLenConstraint, and every certificate's validity period at the caller's time and the
//! absence of unhandled critical extensions. The end entity needs keyUsage digitalSignature
//! when it has a keyUsage at all. SHA-1 signatures are refused.
//!
//! The search is a depth-first walk over issuer candidates (subject == issuer, octet for
//! octet). It cannot loop: a certificate is used at most once per path, a path has at most
//! [`MAX_PATH_LEN`] certificates. Its cost is bounded for hostile CERT payloads (many
//! certificates with one subject): duplicates are dropped, each (certificate, issuer)
//! signature is checked once, at most [`MAX_SIGNATURE_CHECKS`] signatures and
//! [`MAX_LINK_CHECKS`] candidate links in all.
//!
//! Not covered: revocation (CRL, OCSP), name constraints and certificate policies (a
//! certificate marking either critical is refused as an unhandled critical extension).

use crate::ikev2::wire::{CertEncoding, CertRepr};

use super::cert::{CertError, Certificate};
use super::key::{KeyError, PublicKey};
use super::signature::{self, HashAlg, SignatureError};

/// Most certificates in one path, end entity and trust anchor included.
pub const MAX_PATH_LEN: usize = 8;

/// Most intermediate certificates accepted with an end entity.
pub const MAX_INTERMEDIATES: usize = 16;

/// Most signature verifications in one validation: the costly part of a candidate link.
pub const MAX_SIGNATURE_CHECKS: usize = 32;

/// Most candidate links (certificate, issuer) examined in one validation.
pub const MAX_LINK_CHECKS: usize = 1024;

/// Why a chain was refused. Subjects are RFC 4514 strings, times UNIX seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No X.509 certificate among the CERT payloads.
    #[error("no X.509 certificate received")]
    NoCertificate,
    /// A received certificate does not parse (0: the end entity).
    #[error("certificate {index}: {error}")]
    Malformed {
        /// Position among the received X.509 certificates.
        index: usize,
        /// The parse error.
        error: CertError,
    },
    /// More than [`MAX_INTERMEDIATES`] intermediates.
    #[error("{0} intermediate certificates (at most {MAX_INTERMEDIATES})")]
    TooManyCertificates(usize),
    /// Past its notAfter.
    #[error("certificate \"{subject}\" expired (notAfter {not_after})")]
    Expired {
        /// The certificate.
        subject: String,
        /// Its notAfter.
        not_after: u64,
    },
    /// Before its notBefore.
    #[error("certificate \"{subject}\" is not valid yet (notBefore {not_before})")]
    NotYetValid {
        /// The certificate.
        subject: String,
        /// Its notBefore.
        not_before: u64,
    },
    /// No trusted CA and no received intermediate has this subject.
    #[error("issuer \"{issuer}\" is not a trusted CA")]
    UnknownCa {
        /// The issuer name that found no certificate.
        issuer: String,
    },
    /// The issuer's signature does not verify.
    #[error("bad signature on certificate \"{subject}\"")]
    BadSignature {
        /// The signed certificate.
        subject: String,
    },
    /// A signature algorithm not implemented, or SHA-1.
    #[error("certificate \"{subject}\": {error}")]
    Algorithm {
        /// The signed certificate.
        subject: String,
        /// Why its algorithm is refused.
        error: SignatureError,
    },
    /// A key type or size not supported.
    #[error("certificate \"{subject}\": {error}")]
    UnsupportedKey {
        /// The certificate holding the key.
        subject: String,
        /// Why.
        error: KeyError,
    },
    /// An issuer without basicConstraints cA=true.
    #[error("certificate \"{subject}\" is not a CA certificate")]
    NotCa {
        /// The would-be issuer.
        subject: String,
    },
    /// A keyUsage extension without the needed bit.
    #[error("certificate \"{subject}\": keyUsage lacks {needed}")]
    KeyUsage {
        /// The certificate.
        subject: String,
        /// `"keyCertSign"` or `"digitalSignature"`.
        needed: &'static str,
    },
    /// More CAs below an issuer than its pathLenConstraint allows.
    #[error("path length constraint of \"{subject}\" exceeded")]
    PathLength {
        /// The constrained CA.
        subject: String,
    },
    /// A critical extension that is not processed here.
    #[error("certificate \"{subject}\": unhandled critical extension {oid}")]
    UnhandledCriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension, dotted.
        oid: String,
    },
    /// No path within [`MAX_PATH_LEN`] certificates.
    #[error("certificate path longer than {MAX_PATH_LEN}")]
    PathTooLong,
    /// [`MAX_SIGNATURE_CHECKS`] signatures or [`MAX_LINK_CHECKS`] candidate links examined
    /// without finding a path.
    #[error("path search limit reached")]
    SearchLimit,
}

/// The configured CA certificates of one trustpoint.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
}

/// A chain that validated: proof that `end_entity` chains to `anchor`.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    end_entity: Certificate,
    public_key: PublicKey,
    intermediates: Vec<Certificate>,
    anchor: Certificate,
}

impl ValidatedChain {
    /// The peer's certificate.
    pub fn end_entity(&self) -> &Certificate {
        &self.end_entity
    }

    /// The end entity's public key: verifies the peer's AUTH payload.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The intermediates used, from the end entity's issuer up.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    /// The trusted CA the path ends at.
    pub fn anchor(&self) -> &Certificate {
        &self.anchor
    }
}

impl TrustStore {
    /// An empty store: validates nothing.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Adds a CA certificate. It must be a CA ([`Certificate::is_ca`]), allowed to sign
    /// certificates if it has a keyUsage, and hold a supported key. Duplicates are ignored.
    /// Its validity period is checked at validation time, not here (no clock here).
    pub fn add(&mut self, ca: Certificate) -> Result<(), ChainError> {
        let subject = || ca.subject().to_owned();
        if !ca.is_ca() {
            return Err(ChainError::NotCa { subject: subject() });
        }
        if ca.key_usage().is_some_and(|ku| !ku.key_cert_sign) {
            return Err(ChainError::KeyUsage { subject: subject(), needed: "keyCertSign" });
        }
        if let Err(e) = ca.public_key() {
            return Err(ChainError::UnsupportedKey { subject: subject(), error: e.clone() });
        }
        if let Some(oid) = ca.unhandled_critical_extension() {
            return Err(ChainError::UnhandledCriticalExtension {
                subject: subject(),
                oid: oid.to_owned(),
            });
        }
        if !self.anchors.contains(&ca) {
            self.anchors.push(ca);
        }
        Ok(())
    }

    /// The CA certificates.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// The CA whose SubjectPublicKeyInfo hashes to `sha1` (a CERTREQ entry).
    pub fn anchor_by_key_hash(&self, sha1: &[u8]) -> Option<&Certificate> {
        self.anchors.iter().find(|c| c.spki_sha1().as_slice() == sha1)
    }

    /// Validates CERT payloads as received: the first X.509 certificate is the end entity
    /// (RFC 7296 section 3.6), the others intermediates in any order. Other encodings are
    /// skipped. `now` is UNIX seconds.
    pub fn validate_payloads(
        &self,
        certs: &[CertRepr],
        now: u64,
    ) -> Result<ValidatedChain, ChainError> {
        let x509: Vec<&[u8]> = certs
            .iter()
            .filter(|c| c.encoding == CertEncoding::X509Signature)
            .map(|c| c.data.as_slice())
            .collect();
        let (leaf, rest) = x509.split_first().ok_or(ChainError::NoCertificate)?;
        self.validate_der(leaf, rest, now)
    }

    /// Validates DER certificates: `end_entity` and `intermediates` in any order.
    pub fn validate_der(
        &self,
        end_entity: &[u8],
        intermediates: &[&[u8]],
        now: u64,
    ) -> Result<ValidatedChain, ChainError> {
        if intermediates.len() > MAX_INTERMEDIATES {
            return Err(ChainError::TooManyCertificates(intermediates.len()));
        }
        let parse = |index, der| {
            Certificate::from_der(der).map_err(|error| ChainError::Malformed { index, error })
        };
        let leaf = parse(0, end_entity)?;
        let mut inter = Vec::with_capacity(intermediates.len());
        for (i, der) in intermediates.iter().enumerate() {
            inter.push(parse(i + 1, der)?);
        }
        self.validate(&leaf, &inter, now)
    }

    /// Validates a parsed end entity with parsed intermediates (any order) at `now`
    /// (UNIX seconds).
    pub fn validate(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        now: u64,
    ) -> Result<ValidatedChain, ChainError> {
        if intermediates.len() > MAX_INTERMEDIATES {
            return Err(ChainError::TooManyCertificates(intermediates.len()));
        }
        let public_key = check_common(end_entity, now)?.clone();
        if end_entity.key_usage().is_some_and(|ku| !ku.digital_signature) {
            return Err(ChainError::KeyUsage {
                subject: end_entity.subject().to_owned(),
                needed: "digitalSignature",
            });
        }
        // Copies (and the end entity sent again) only multiply the paths to try.
        let mut unique: Vec<&Certificate> = Vec::with_capacity(intermediates.len());
        for c in intermediates {
            if c != end_entity && !unique.contains(&c) {
                unique.push(c);
            }
        }
        let mut search = Search {
            anchors: &self.anchors,
            intermediates: &unique,
            now,
            links_left: MAX_LINK_CHECKS,
            signatures_left: MAX_SIGNATURE_CHECKS,
            verified: Vec::new(),
            used: vec![false; unique.len()],
            path: Vec::new(),
            first_error: None,
        };
        match search.extend(Node::EndEntity, end_entity, 0) {
            Some(anchor) => Ok(ValidatedChain {
                end_entity: end_entity.clone(),
                public_key,
                intermediates: search.path.iter().map(|&i| unique[i].clone()).collect(),
                anchor: anchor.clone(),
            }),
            None => Err(search.first_error.unwrap_or_else(|| ChainError::UnknownCa {
                issuer: end_entity.issuer().to_owned(),
            })),
        }
    }
}

/// Checks every certificate of a path needs: validity at `now`, no unhandled critical
/// extension, a usable key (returned).
fn check_common(cert: &Certificate, now: u64) -> Result<&PublicKey, ChainError> {
    let subject = || cert.subject().to_owned();
    if now < cert.not_before() {
        return Err(ChainError::NotYetValid { subject: subject(), not_before: cert.not_before() });
    }
    if now > cert.not_after() {
        return Err(ChainError::Expired { subject: subject(), not_after: cert.not_after() });
    }
    if let Some(oid) = cert.unhandled_critical_extension() {
        return Err(ChainError::UnhandledCriticalExtension { subject: subject(), oid: oid.into() });
    }
    cert.public_key()
        .map_err(|e| ChainError::UnsupportedKey { subject: subject(), error: e.clone() })
}

/// A certificate of the search, to remember signature results by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    EndEntity,
    Intermediate(usize),
    Anchor(usize),
}

struct Search<'a> {
    anchors: &'a [Certificate],
    intermediates: &'a [&'a Certificate],
    now: u64,
    links_left: usize,
    signatures_left: usize,
    /// Signature checks done: (signed, signer, verified).
    verified: Vec<(Node, Node, bool)>,
    used: Vec<bool>,
    /// Indices into `intermediates` of the path so far, from the end entity up.
    path: Vec<usize>,
    first_error: Option<ChainError>,
}

impl<'a> Search<'a> {
    fn note(&mut self, e: ChainError) {
        self.first_error.get_or_insert(e);
    }

    /// Finds issuers of `cert` up to a trust anchor; `cas_below` counts the intermediate CA
    /// certificates between `cert`'s issuer and the end entity. Returns the anchor.
    fn extend(
        &mut self,
        node: Node,
        cert: &Certificate,
        cas_below: usize,
    ) -> Option<&'a Certificate> {
        let mut any_candidate = false;
        let anchors = self.anchors;
        for (i, anchor) in anchors.iter().enumerate() {
            if anchor.subject_der() != cert.issuer_der() {
                continue;
            }
            any_candidate = true;
            match self.check_link((node, cert), (Node::Anchor(i), anchor), cas_below) {
                Ok(()) => return Some(anchor),
                Err(e) => self.note(e),
            }
        }
        // The end entity, the path so far, one more intermediate and an anchor.
        let room = self.path.len() + 3 <= MAX_PATH_LEN;
        let intermediates = self.intermediates;
        for (j, &issuer) in intermediates.iter().enumerate() {
            if self.used[j] || issuer.subject_der() != cert.issuer_der() {
                continue;
            }
            any_candidate = true;
            if !room {
                self.note(ChainError::PathTooLong);
                break;
            }
            let issuer_node = Node::Intermediate(j);
            if let Err(e) = self.check_link((node, cert), (issuer_node, issuer), cas_below) {
                self.note(e);
                continue;
            }
            self.used[j] = true;
            self.path.push(j);
            if let Some(anchor) = self.extend(issuer_node, issuer, cas_below + 1) {
                return Some(anchor);
            }
            self.path.pop();
            self.used[j] = false;
        }
        if !any_candidate {
            self.note(ChainError::UnknownCa { issuer: cert.issuer().to_owned() });
        }
        None
    }

    /// Checks that `issuer` may have issued `cert` and did.
    fn check_link(
        &mut self,
        (node, cert): (Node, &Certificate),
        (issuer_node, issuer): (Node, &Certificate),
        cas_below: usize,
    ) -> Result<(), ChainError> {
        if self.links_left == 0 {
            return Err(ChainError::SearchLimit);
        }
        self.links_left -= 1;
        let subject = || issuer.subject().to_owned();
        if !issuer.is_ca() {
            return Err(ChainError::NotCa { subject: subject() });
        }
        if issuer.key_usage().is_some_and(|ku| !ku.key_cert_sign) {
            return Err(ChainError::KeyUsage { subject: subject(), needed: "keyCertSign" });
        }
        if let Some((_, Some(max))) = issuer.basic_constraints()
            && cas_below > usize::from(max)
        {
            return Err(ChainError::PathLength { subject: subject() });
        }
        let algorithm = |error| ChainError::Algorithm { subject: cert.subject().into(), error };
        let scheme = cert.signature_scheme().map_err(algorithm)?;
        if scheme.hash() == HashAlg::Sha1 {
            return Err(algorithm(SignatureError::WeakHash));
        }
        let key = check_common(issuer, self.now)?;
        let bad = || ChainError::BadSignature { subject: cert.subject().into() };
        if let Some(&(_, _, ok)) =
            self.verified.iter().find(|(a, b, _)| *a == node && *b == issuer_node)
        {
            return if ok { Ok(()) } else { Err(bad()) };
        }
        if self.signatures_left == 0 {
            return Err(ChainError::SearchLimit);
        }
        self.signatures_left -= 1;
        let result = signature::verify(key, scheme, cert.tbs_der(), cert.signature());
        self.verified.push((node, issuer_node, result.is_ok()));
        match result {
            Ok(()) => Ok(()),
            Err(SignatureError::BadSignature) => Err(bad()),
            Err(e) => Err(algorithm(e)),
        }
    }
}
