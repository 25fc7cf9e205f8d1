//! The Certificate and Certificate Request payloads (RFC 7296 sections 3.6 and 3.7).

use core::fmt;

use super::codec::{Reader, Writer, ensure};
use super::{Error, PayloadBody, Result};

/// Length of a SHA-1 hash: the unit of a CERTREQ's Certification Authority list for
/// X.509 encodings (RFC 7296 section 3.7).
pub const SHA1_LEN: usize = 20;

enum_with_unknown! {
    /// Certificate encodings (RFC 7296 section 3.6, IANA "IKEv2 Certificate Encodings").
    pub enum CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        Pkcs7X509 = 1 => "PKCS7_X509",
        /// PGP Certificate.
        Pgp = 2 => "PGP",
        /// DNS Signed Key.
        DnsSignedKey = 3 => "DNS_KEY",
        /// X.509 Certificate - Signature: one DER certificate.
        X509Signature = 4 => "X509_SIGNATURE",
        /// Kerberos Token.
        Kerberos = 6 => "KERBEROS",
        /// Certificate Revocation List (CRL).
        Crl = 7 => "CRL",
        /// Authority Revocation List (ARL).
        Arl = 8 => "ARL",
        /// SPKI Certificate.
        Spki = 9 => "SPKI",
        /// X.509 Certificate - Attribute.
        X509Attribute = 10 => "X509_ATTRIBUTE",
        /// Raw RSA Key (deprecated by RFC 7296 section 3.6).
        RawRsaKey = 11 => "RAW_RSA_KEY",
        /// Hash and URL of X.509 certificate (RFC 7296 section 3.6).
        HashUrlX509 = 12 => "HASH_URL_X509",
        /// Hash and URL of X.509 bundle (RFC 7296 section 3.6).
        HashUrlX509Bundle = 13 => "HASH_URL_X509_BUNDLE",
        /// OCSP Content (RFC 4806 section 3).
        OcspContent = 14 => "OCSP_CONTENT",
        /// Raw Public Key (RFC 7670 section 3).
        RawPublicKey = 15 => "RAW_PUBLIC_KEY",
    }
}

fn parse_encoded(body: &[u8]) -> Result<(CertEncoding, &[u8])> {
    let mut r = Reader::new(body);
    let encoding = CertEncoding::from(r.u8()?);
    Ok((encoding, r.rest()))
}

fn emit_encoded(encoding: CertEncoding, data: &[u8], buf: &mut [u8]) -> Result<()> {
    ensure(buf, 1 + data.len())?;
    let mut w = Writer::new(buf);
    w.u8(encoding.into())?;
    w.bytes(data)
}

/// The CERT payload body: one certificate (or CRL, or hash and URL) in some encoding.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct CertRepr {
    /// Cert Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data, in that encoding.
    pub data: Vec<u8>,
}

impl PayloadBody for CertRepr {
    fn parse(body: &[u8]) -> Result<CertRepr> {
        let (encoding, data) = parse_encoded(body)?;
        if data.is_empty() {
            return Err(Error::Malformed("CERT payload without certificate data"));
        }
        Ok(CertRepr { encoding, data: data.to_vec() })
    }

    fn buffer_len(&self) -> usize {
        1 + self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        emit_encoded(self.encoding, &self.data, buf)
    }
}

impl fmt::Display for CertRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CERT {} ({} bytes)", self.encoding, self.data.len())
    }
}

/// The CERTREQ payload body: an encoding and the trusted authorities, for X.509 a
/// concatenation of SHA-1 hashes of CA public keys (RFC 7296 section 3.7). The list may be
/// empty ("any CA").
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct CertReqRepr {
    /// Cert Encoding of the certificate wanted.
    pub encoding: CertEncoding,
    /// Certification Authority.
    pub authorities: Vec<u8>,
}

impl CertReqRepr {
    /// The CA public key hashes of an X.509 request, or `None` if the list is not a whole
    /// number of SHA-1 hashes.
    pub fn ca_hashes(&self) -> Option<impl Iterator<Item = &[u8]>> {
        if !self.authorities.len().is_multiple_of(SHA1_LEN) {
            return None;
        }
        Some(self.authorities.chunks_exact(SHA1_LEN))
    }
}

impl PayloadBody for CertReqRepr {
    fn parse(body: &[u8]) -> Result<CertReqRepr> {
        let (encoding, authorities) = parse_encoded(body)?;
        Ok(CertReqRepr { encoding, authorities: authorities.to_vec() })
    }

    fn buffer_len(&self) -> usize {
        1 + self.authorities.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        emit_encoded(self.encoding, &self.authorities, buf)
    }
}

impl fmt::Display for CertReqRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CERTREQ {} ({} bytes)", self.encoding, self.authorities.len())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_cert() {
        // X.509 signature encoding, then the first bytes of a DER certificate.
        let bytes = [0x04, 0x30, 0x82, 0x01, 0x0a];
        let repr = CertRepr { encoding: CertEncoding::X509Signature, data: bytes[1..].to_vec() };
        check_body(&bytes, &repr, 2);
        assert_eq!(repr.to_string(), "CERT X509_SIGNATURE (4 bytes)");
    }

    #[test]
    fn test_certreq() {
        let mut bytes = vec![0x04];
        bytes.extend_from_slice(&[0x11; 20]);
        bytes.extend_from_slice(&[0x22; 20]);
        let repr =
            CertReqRepr { encoding: CertEncoding::X509Signature, authorities: bytes[1..].to_vec() };
        check_body(&bytes, &repr, 1);
        let hashes: Vec<_> = repr.ca_hashes().unwrap().collect();
        assert_eq!(hashes, [&[0x11; 20][..], &[0x22; 20][..]]);
        let odd = CertReqRepr::parse(&bytes[..30]).unwrap();
        assert!(odd.ca_hashes().is_none());
        let empty = CertReqRepr::parse(&[0x04]).unwrap();
        assert_eq!(empty.ca_hashes().unwrap().count(), 0);
    }
}
