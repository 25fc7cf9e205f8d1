//! Loading certificates (PEM with one or more CERTIFICATE blocks, or one DER certificate)
//! and private keys (PEM or DER: PKCS#8, PKCS#1 RSA, SEC1 EC) from files or bytes. Every
//! error names its source. Private key bytes are held in zeroizing buffers.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::policy::Trustpoint;

use super::cert::{CertError, Certificate};
use super::chain::{ChainError, TrustStore};
use super::credential::{Credential, CredentialError};
use super::key::{KeyError, PrivateKey};

/// A load failure, naming the file (or the name the caller gave the bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {kind}")]
pub struct LoadError {
    /// The file path or caller-given name.
    pub name: String,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

/// What went wrong in a [`LoadError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// A PEM block does not decode.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// No CERTIFICATE block (PEM) or no data.
    #[error("no certificate found")]
    NoCertificate,
    /// A certificate does not parse (index among the file's certificates, from 0).
    #[error("certificate {index}: {error}")]
    Certificate {
        /// Position in the file.
        index: usize,
        /// Why.
        error: CertError,
    },
    /// No private key block, or several.
    #[error("expected exactly one private key, found {0}")]
    KeyCount(usize),
    /// The private key does not parse or is not supported.
    #[error("private key: {0}")]
    Key(KeyError),
    /// A CA certificate the trust store refuses.
    #[error("CA certificate: {0}")]
    Ca(ChainError),
    /// The certificate and key do not fit together.
    #[error("{0}")]
    Credential(CredentialError),
}

fn err(name: &str, kind: LoadErrorKind) -> LoadError {
    LoadError { name: name.to_owned(), kind }
}

/// One PEM block: its label and decoded contents.
struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

/// Splits PEM text into blocks; text outside blocks (comments, `openssl` bag attributes)
/// is skipped.
fn pem_blocks(data: &[u8]) -> Result<Vec<PemBlock>, String> {
    let text = core::str::from_utf8(data).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + "-----BEGIN ".len()..];
        let label_len = after.find("-----").ok_or("unterminated BEGIN line")?;
        let label = &after[..label_len];
        let end_marker = format!("-----END {label}-----");
        let end = rest[begin..]
            .find(&end_marker)
            .map(|e| begin + e + end_marker.len())
            .ok_or_else(|| format!("no END line for {label}"))?;
        let block = &rest[begin..end];
        if block.contains("Proc-Type:") {
            return Err(format!("{label}: encrypted (legacy PEM encryption) is not supported"));
        }
        let (decoded_label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| format!("{label}: {e}"))?;
        let der = Zeroizing::new(der);
        blocks.push(PemBlock { label: decoded_label.to_owned(), der });
        rest = &rest[end..];
    }
    Ok(blocks)
}

fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses certificates from PEM (every CERTIFICATE block, in order; other blocks skipped)
/// or from one DER certificate. `name` labels errors.
pub fn parse_certificates(name: &str, data: &[u8]) -> Result<Vec<Certificate>, LoadError> {
    let parse = |index, der: &[u8]| {
        Certificate::from_der(der)
            .map_err(|error| err(name, LoadErrorKind::Certificate { index, error }))
    };
    if !is_pem(data) {
        if data.is_empty() {
            return Err(err(name, LoadErrorKind::NoCertificate));
        }
        return Ok(vec![parse(0, data)?]);
    }
    let blocks = pem_blocks(data).map_err(|e| err(name, LoadErrorKind::Pem(e)))?;
    let certs = blocks
        .iter()
        .filter(|b| b.label == "CERTIFICATE")
        .enumerate()
        .map(|(i, b)| parse(i, &b.der))
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(err(name, LoadErrorKind::NoCertificate));
    }
    Ok(certs)
}

/// Parses one private key: PEM ("PRIVATE KEY" PKCS#8, "RSA PRIVATE KEY" PKCS#1, "EC PRIVATE
/// KEY" SEC1; "EC PARAMETERS" and other blocks skipped) or DER of any of the three.
pub fn parse_private_key(name: &str, data: &[u8]) -> Result<PrivateKey, LoadError> {
    let key_err = |e| err(name, LoadErrorKind::Key(e));
    if !is_pem(data) {
        return PrivateKey::from_der(data).map_err(key_err);
    }
    let blocks = pem_blocks(data).map_err(|e| err(name, LoadErrorKind::Pem(e)))?;
    let keys: Vec<&PemBlock> = blocks
        .iter()
        .filter(|b| {
            matches!(
                b.label.as_str(),
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY"
            )
        })
        .collect();
    let [block] = keys.as_slice() else {
        return Err(err(name, LoadErrorKind::KeyCount(keys.len())));
    };
    match block.label.as_str() {
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&block.der),
        "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(&block.der),
        "EC PRIVATE KEY" => PrivateKey::from_sec1_der(&block.der),
        _ => Err(KeyError::Encrypted),
    }
    .map_err(key_err)
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, LoadError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| err(&path.display().to_string(), LoadErrorKind::Io(e.to_string())))
}

/// Reads certificates from a file ([`parse_certificates`]).
pub fn load_certificates(path: &Path) -> Result<Vec<Certificate>, LoadError> {
    parse_certificates(&path.display().to_string(), &read(path)?)
}

/// Reads a private key from a file ([`parse_private_key`]); the file contents are zeroized
/// after parsing.
pub fn load_private_key(path: &Path) -> Result<PrivateKey, LoadError> {
    parse_private_key(&path.display().to_string(), &read(path)?)
}

/// Reads every certificate of every file into a trust store; each must be a usable CA.
pub fn load_trust_store(paths: &[PathBuf]) -> Result<TrustStore, LoadError> {
    let mut store = TrustStore::new();
    for path in paths {
        for ca in load_certificates(path)? {
            store.add(ca).map_err(|e| err(&path.display().to_string(), LoadErrorKind::Ca(e)))?;
        }
    }
    Ok(store)
}

/// A trustpoint's files, loaded.
#[derive(Debug)]
pub struct LoadedTrustpoint {
    /// The trustpoint's name.
    pub name: String,
    /// Its CA certificates.
    pub store: TrustStore,
    /// Our certificate (the first in its file; the rest are sent as intermediates) and key,
    /// if the trustpoint is enrolled.
    pub credential: Option<Credential>,
}

/// Loads the files a `[[trustpoint]]` names. Our certificate's CAs among the trustpoint's
/// are linked for CERTREQ matching ([`Credential::link_anchors`]).
pub fn load_trustpoint(tp: &Trustpoint) -> Result<LoadedTrustpoint, LoadError> {
    let store = load_trust_store(&tp.ca_certificates)?;
    let credential = match (&tp.certificate, &tp.private_key) {
        (Some(cert_path), Some(key_path)) => {
            let mut chain = load_certificates(cert_path)?.into_iter();
            let name = cert_path.display().to_string();
            let leaf = chain.next().ok_or_else(|| err(&name, LoadErrorKind::NoCertificate))?;
            let key = load_private_key(key_path)?;
            let mut cred = Credential::new(leaf, chain.collect(), key)
                .map_err(|e| err(&name, LoadErrorKind::Credential(e)))?;
            cred.link_anchors(&store);
            Some(cred)
        }
        // The policy validator requires both or neither; a lone path means nothing to load.
        _ => None,
    };
    Ok(LoadedTrustpoint { name: tp.name.clone(), store, credential })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_splitting() {
        let text = b"junk\n-----BEGIN FOO-----\nAAEC\n-----END FOO-----\nmore\n-----BEGIN BAR-----\nAw==\n-----END BAR-----\n";
        let blocks = pem_blocks(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "FOO");
        assert_eq!(blocks[0].der.as_slice(), &[0, 1, 2]);
        assert_eq!(blocks[1].label, "BAR");
        assert_eq!(blocks[1].der.as_slice(), &[3]);
        assert!(pem_blocks(b"-----BEGIN FOO-----\nAAEC\n").is_err());
        assert!(pem_blocks(b"-----BEGIN FOO").is_err());
        assert!(pem_blocks(b"-----BEGIN FOO-----\n!!!!\n-----END FOO-----").is_err());
        assert!(pem_blocks(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn errors_name_the_source() {
        let e = parse_certificates("x.pem", b"-----BEGIN KEY-----\nAA==\n-----END KEY-----\n")
            .unwrap_err();
        assert_eq!(e.to_string(), "x.pem: no certificate found");
        let e = parse_private_key("k.der", &[0x30, 0x00]).unwrap_err();
        assert!(e.to_string().starts_with("k.der: private key: malformed key"), "{e}");
        let e = load_certificates(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/ca.pem: cannot read"), "{e}");
    }
}
