//! The Authentication payload (RFC 7296 section 3.8), with the RFC 7427 digital signature
//! format.

use core::fmt;

use super::codec::{Reader, Writer, ensure};
use super::{Error, PayloadBody, Result};

enum_with_unknown! {
    /// Authentication methods (RFC 7296 section 3.8, IANA "IKEv2 Authentication Method").
    pub enum AuthMethod(u8) {
        /// RSA Digital Signature, PKCS#1 v1.5 with SHA-1 (RFC 7296 section 3.8).
        RsaSig = 1 => "RSA_SIG",
        /// Shared Key Message Integrity Code (RFC 7296 section 3.8).
        SharedKeyMic = 2 => "PSK",
        /// DSS Digital Signature (RFC 7296 section 3.8).
        DssSig = 3 => "DSS_SIG",
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        EcdsaSha256P256 = 9 => "ECDSA_256",
        /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
        EcdsaSha384P384 = 10 => "ECDSA_384",
        /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
        EcdsaSha512P521 = 11 => "ECDSA_521",
        /// Generic Secure Password Authentication Method (RFC 6467).
        GenericSecurePassword = 12 => "GSPAM",
        /// NULL Authentication (RFC 7619).
        Null = 13 => "NULL",
        /// Digital Signature (RFC 7427 section 3).
        DigitalSignature = 14 => "DIGITAL_SIGNATURE",
    }
}

/// The AUTH payload body.
///
/// For [`AuthMethod::DigitalSignature`] the data starts with a one-octet length and the DER
/// `AlgorithmIdentifier` of the signature algorithm (RFC 7427 section 3); that prefix is kept
/// as bytes in `algorithm_identifier` and `data` holds the signature only. For every other
/// method `algorithm_identifier` is `None` and `data` is the whole Authentication Data.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct AuthRepr {
    /// Auth Method.
    pub method: AuthMethod,
    /// The RFC 7427 ASN.1 AlgorithmIdentifier (1 to 255 bytes), for method 14 only.
    pub algorithm_identifier: Option<Vec<u8>>,
    /// The signature or MIC.
    pub data: Vec<u8>,
}

impl AuthRepr {
    fn check(&self) -> Result<()> {
        match (&self.algorithm_identifier, self.method) {
            (Some(alg), AuthMethod::DigitalSignature) if !alg.is_empty() && alg.len() <= 255 => {}
            (None, m) if m != AuthMethod::DigitalSignature => {}
            _ => return Err(Error::Malformed("AlgorithmIdentifier present iff method 14")),
        }
        if self.data.is_empty() {
            return Err(Error::Malformed("empty authentication data"));
        }
        Ok(())
    }
}

impl PayloadBody for AuthRepr {
    fn parse(body: &[u8]) -> Result<AuthRepr> {
        let mut r = Reader::new(body);
        let method = AuthMethod::from(r.u8()?);
        let _reserved = r.bytes(3)?;
        let algorithm_identifier = if method == AuthMethod::DigitalSignature {
            let len = usize::from(r.u8()?);
            Some(r.bytes(len)?.to_vec())
        } else {
            None
        };
        let repr = AuthRepr { method, algorithm_identifier, data: r.rest().to_vec() };
        repr.check()?;
        Ok(repr)
    }

    fn buffer_len(&self) -> usize {
        4 + self.algorithm_identifier.as_ref().map_or(0, |a| 1 + a.len()) + self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        self.check()?;
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.bytes(&[self.method.into(), 0, 0, 0])?;
        if let Some(alg) = &self.algorithm_identifier {
            w.u8(u8::try_from(alg.len()).map_err(|_| Error::TooLong)?)?;
            w.bytes(alg)?;
        }
        w.bytes(&self.data)
    }
}

impl fmt::Display for AuthRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AUTH {} ({} bytes)", self.method, self.data.len())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_psk() {
        let mut bytes = vec![0x02, 0, 0, 0];
        bytes.extend_from_slice(&[0x5a; 32]);
        let repr = AuthRepr {
            method: AuthMethod::SharedKeyMic,
            algorithm_identifier: None,
            data: vec![0x5a; 32],
        };
        check_body(&bytes, &repr, 5);
        assert_eq!(repr.to_string(), "AUTH PSK (32 bytes)");
        assert!(AuthRepr::parse(&[0x02, 0, 0, 0]).is_err());
    }

    #[test]
    fn test_digital_signature() {
        // RFC 7427 appendix A.1.2: sha256WithRSAEncryption AlgorithmIdentifier (15 bytes).
        let alg = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ];
        let mut bytes = vec![0x0e, 0, 0, 0, 0x0f];
        bytes.extend_from_slice(&alg);
        bytes.extend_from_slice(&[0x77; 64]);
        let repr = AuthRepr {
            method: AuthMethod::DigitalSignature,
            algorithm_identifier: Some(alg.to_vec()),
            data: vec![0x77; 64],
        };
        check_body(&bytes, &repr, 21);
        // The length octet points past the end; or no signature after the identifier.
        assert!(AuthRepr::parse(&[0x0e, 0, 0, 0, 0x10, 1, 2]).is_err());
        assert!(AuthRepr::parse(&bytes[..20]).is_err());
        assert!(AuthRepr::parse(&[0x0e, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn test_inconsistent_emit() {
        let repr = AuthRepr {
            method: AuthMethod::RsaSig,
            algorithm_identifier: Some(vec![1]),
            data: vec![1],
        };
        assert!(repr.to_vec().is_err());
        let repr = AuthRepr {
            method: AuthMethod::DigitalSignature,
            algorithm_identifier: None,
            data: vec![1],
        };
        assert!(repr.to_vec().is_err());
    }
}
