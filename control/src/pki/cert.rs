//! A parsed X.509 v3 certificate (RFC 5280) with what IKE needs pulled out once at parse
//! time: names, validity, public key, and the extensions that chain validation and identity
//! matching read.

use core::fmt;
use core::net::IpAddr;
use core::ops::Range;

use der::{Decode, Encode, Reader, SliceReader};
use sha1::{Digest, Sha1};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage as X509KeyUsage, SubjectAltName};

use super::key::{KeyError, PublicKey};
use super::oid;
use super::signature::{SignatureError, SignatureScheme};

/// The largest certificate accepted, DER octets. Real certificates are a few kilobytes;
/// the bound caps the work a hostile CERT payload can cause.
pub const MAX_CERT_LEN: usize = 64 * 1024;

/// Why bytes are not a usable certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// Over [`MAX_CERT_LEN`] octets.
    #[error("certificate of {0} octets is too large")]
    TooLarge(usize),
    /// Not DER X.509, or inconsistent (RFC 5280 section 4.1).
    #[error("malformed certificate: {0}")]
    Malformed(String),
}

/// keyUsage bits that IKE validation reads (RFC 5280 section 4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsage {
    /// digitalSignature: the key may sign (the AUTH payload).
    pub digital_signature: bool,
    /// keyCertSign: the key may sign certificates.
    pub key_cert_sign: bool,
}

/// A subjectAltName entry (RFC 5280 section 4.2.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    /// dNSName.
    Dns(String),
    /// rfc822Name (an email address).
    Rfc822(String),
    /// iPAddress, 4 or 16 octets.
    Ip(IpAddr),
    /// directoryName, as the DER of the Name.
    Directory(Vec<u8>),
    /// Any other form (otherName, URI, ...), kept only as DER for ID_DER_ASN1_GN.
    Other,
}

/// A parsed certificate. Cheap to clone relative to a handshake; immutable.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Range<usize>,
    version: u8,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_text: String,
    issuer_text: String,
    spki_sha1: [u8; 20],
    public_key: Result<PublicKey, KeyError>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
    not_before: u64,
    not_after: u64,
    basic_constraints: Option<(bool, Option<u8>)>,
    key_usage: Option<KeyUsage>,
    alt_names: Vec<(AltName, Vec<u8>)>,
    unhandled_critical: Option<String>,
}

impl Certificate {
    /// Parses one DER certificate (the whole input). Accepts any key type; an unsupported
    /// key only fails when the key is used ([`Certificate::public_key`]).
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
        if der.len() > MAX_CERT_LEN {
            return Err(CertError::TooLarge(der.len()));
        }
        let cert = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        let tbs_cert = cert.tbs_certificate();
        if tbs_cert.signature() != cert.signature_algorithm() {
            return Err(CertError::Malformed(
                "signature algorithm differs from the TBSCertificate's".into(),
            ));
        }
        let tbs = tbs_range(der).map_err(malformed)?;
        let version = tbs_cert.version() as u8 + 1;
        if version < 3 && tbs_cert.extensions().is_some() {
            return Err(CertError::Malformed(format!("extensions in a v{version} certificate")));
        }
        let spki = tbs_cert.subject_public_key_info().to_der().map_err(malformed)?;
        let signature = cert
            .signature()
            .as_bytes()
            .ok_or_else(|| CertError::Malformed("signature is not whole octets".into()))?;
        let validity = tbs_cert.validity();
        let mut parsed = Certificate {
            der: der.to_vec(),
            tbs,
            version,
            subject: tbs_cert.subject().to_der().map_err(malformed)?,
            issuer: tbs_cert.issuer().to_der().map_err(malformed)?,
            subject_text: tbs_cert.subject().to_string(),
            issuer_text: tbs_cert.issuer().to_string(),
            spki_sha1: Sha1::digest(&spki).into(),
            public_key: PublicKey::from_spki_der(&spki),
            signature_algorithm: cert.signature_algorithm().to_der().map_err(malformed)?,
            signature: signature.to_vec(),
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
            basic_constraints: None,
            key_usage: None,
            alt_names: Vec::new(),
            unhandled_critical: None,
        };
        parsed.read_extensions(tbs_cert.extensions().map_or(&[], |e| e.as_slice()))?;
        Ok(parsed)
    }

    fn read_extensions(&mut self, exts: &[x509_cert::ext::Extension]) -> Result<(), CertError> {
        for (i, ext) in exts.iter().enumerate() {
            // RFC 5280 section 4.2: "A certificate MUST NOT include more than one instance of
            // a particular extension."
            if exts[..i].iter().any(|e| e.extn_id == ext.extn_id) {
                return Err(CertError::Malformed(format!("duplicate extension {}", ext.extn_id)));
            }
            let value = ext.extn_value.as_bytes();
            match ext.extn_id {
                o if o == oid::BASIC_CONSTRAINTS => {
                    let bc = BasicConstraints::from_der(value).map_err(malformed)?;
                    self.basic_constraints = Some((bc.ca, bc.path_len_constraint));
                }
                o if o == oid::KEY_USAGE => {
                    let ku = X509KeyUsage::from_der(value).map_err(malformed)?;
                    self.key_usage = Some(KeyUsage {
                        digital_signature: ku.digital_signature(),
                        key_cert_sign: ku.key_cert_sign(),
                    });
                }
                o if o == oid::SUBJECT_ALT_NAME => {
                    let san = SubjectAltName::from_der(value).map_err(malformed)?;
                    for name in &san.0 {
                        let der = name.to_der().map_err(malformed)?;
                        self.alt_names.push((alt_name(name)?, der));
                    }
                }
                // Understood well enough to ignore: key identifiers are hints for path
                // building (DN matching plus signature checks suffice); IKE ignores
                // extendedKeyUsage (RFC 4945 section 5.1.3.12); no policy is required, so
                // any certificatePolicies is acceptable.
                o if o == oid::SUBJECT_KEY_IDENTIFIER
                    || o == oid::AUTHORITY_KEY_IDENTIFIER
                    || o == oid::EXT_KEY_USAGE
                    || o == oid::CERTIFICATE_POLICIES => {}
                o if ext.critical && self.unhandled_critical.is_none() => {
                    self.unhandled_critical = Some(o.to_string());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The certificate's DER encoding, as received (for CERT payloads).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER TBSCertificate: what the issuer signed.
    pub fn tbs_der(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// X.509 version: 1, 2 or 3.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The DER subject Name (for ID_DER_ASN1_DN).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The DER issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The subject as an RFC 4514 string, for logs and errors.
    pub fn subject(&self) -> &str {
        &self.subject_text
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        &self.issuer_text
    }

    /// The SHA-1 hash of the DER SubjectPublicKeyInfo: a CA's identifier in CERTREQ
    /// payloads (RFC 7296 section 3.7).
    pub fn spki_sha1(&self) -> &[u8; 20] {
        &self.spki_sha1
    }

    /// The subject public key, or why it cannot be used.
    pub fn public_key(&self) -> Result<&PublicKey, &KeyError> {
        self.public_key.as_ref()
    }

    /// The issuer's signature scheme (signatureAlgorithm).
    pub fn signature_scheme(&self) -> Result<SignatureScheme, SignatureError> {
        SignatureScheme::from_algorithm_identifier(&self.signature_algorithm)
    }

    /// The issuer's signature value.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// notBefore, UNIX seconds.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// notAfter, UNIX seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// basicConstraints `(cA, pathLenConstraint)`, if present.
    pub fn basic_constraints(&self) -> Option<(bool, Option<u8>)> {
        self.basic_constraints
    }

    /// True if the certificate may act as a CA: basicConstraints cA=true, or a v1/v2
    /// self-issued certificate (an old-style root, which has no extensions to say so).
    pub fn is_ca(&self) -> bool {
        match self.basic_constraints {
            Some((ca, _)) => ca,
            None => self.version < 3 && self.subject == self.issuer,
        }
    }

    /// keyUsage, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.key_usage
    }

    /// The subjectAltName entries.
    pub fn alt_names(&self) -> impl Iterator<Item = &AltName> {
        self.alt_names.iter().map(|(n, _)| n)
    }

    /// The subjectAltName entries as DER GeneralNames (for ID_DER_ASN1_GN).
    pub(crate) fn alt_names_der(&self) -> impl Iterator<Item = &[u8]> {
        self.alt_names.iter().map(|(_, d)| d.as_slice())
    }

    /// The first critical extension this implementation does not process, by dotted OID;
    /// such a certificate must not be accepted (RFC 5280 section 4.2).
    pub fn unhandled_critical_extension(&self) -> Option<&str> {
        self.unhandled_critical.as_deref()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Certificate) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject_text)
            .field("issuer", &self.issuer_text)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subject_text)
    }
}

fn malformed(e: impl fmt::Display) -> CertError {
    CertError::Malformed(e.to_string())
}

/// The byte range of the TBSCertificate TLV inside the Certificate SEQUENCE, so the
/// signature is checked over the octets received rather than a re-encoding.
fn tbs_range(der: &[u8]) -> der::Result<Range<usize>> {
    let mut reader = SliceReader::new(der)?;
    // Skip the Certificate SEQUENCE header; its contents start with the TBSCertificate.
    der::Header::decode(&mut reader)?;
    let start = usize::try_from(reader.position())?;
    let tbs = reader.tlv_bytes()?;
    Ok(start..start + tbs.len())
}

fn alt_name(name: &GeneralName) -> Result<AltName, CertError> {
    Ok(match name {
        GeneralName::DnsName(s) => AltName::Dns(s.to_string()),
        GeneralName::Rfc822Name(s) => AltName::Rfc822(s.to_string()),
        GeneralName::IpAddress(o) => match o.as_bytes().len() {
            4 | 16 => AltName::Ip(ip_from(o.as_bytes())),
            n => return Err(CertError::Malformed(format!("iPAddress of {n} octets"))),
        },
        GeneralName::DirectoryName(n) => AltName::Directory(n.to_der().map_err(malformed)?),
        _ => AltName::Other,
    })
}

fn ip_from(b: &[u8]) -> IpAddr {
    match <[u8; 4]>::try_from(b) {
        Ok(v4) => IpAddr::from(v4),
        Err(_) => {
            let mut v6 = [0u8; 16];
            for (d, s) in v6.iter_mut().zip(b) {
                *d = *s;
            }
            IpAddr::from(v6)
        }
    }
}
