//! The Certificate and Certificate Request payloads (RFC 2408 sections 3.9 and 3.10), and
//! the proprietary IKE fragment payload (type 132) that Cisco and Microsoft peers use to
//! split Main / Aggressive Mode messages carrying certificates.

use super::WireError;
use super::codec::Reader;

/// Certificate encodings (RFC 2408 section 3.9).
pub mod cert_encoding {
    /// PKCS #7 wrapped X.509 certificate.
    pub const PKCS7: u8 = 1;
    /// PGP certificate.
    pub const PGP: u8 = 2;
    /// DNS signed key.
    pub const DNS_SIGNED_KEY: u8 = 3;
    /// X.509 certificate, signature: the one every IKEv1 peer uses.
    pub const X509_SIGNATURE: u8 = 4;
    /// X.509 certificate, key exchange.
    pub const X509_KEY_EXCHANGE: u8 = 5;
    /// Kerberos tokens.
    pub const KERBEROS: u8 = 6;
    /// Certificate revocation list.
    pub const CRL: u8 = 7;
    /// Authority revocation list.
    pub const ARL: u8 = 8;
    /// SPKI certificate.
    pub const SPKI: u8 = 9;
    /// X.509 certificate, attribute.
    pub const X509_ATTRIBUTE: u8 = 10;
}

/// A CERT payload body (encoding and certificate) or a CR payload body (certificate type
/// and an optional certificate authority, a DER distinguished name; empty asks for any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertPayload {
    /// Certificate encoding ([`cert_encoding`]).
    pub encoding: u8,
    /// The certificate, or for CR the authority.
    pub data: Vec<u8>,
}

impl CertPayload {
    /// Parses the payload body (after the generic header).
    pub fn parse(body: &[u8]) -> Result<CertPayload, WireError> {
        let mut r = Reader::new(body, "certificate payload");
        let encoding = r.u8()?;
        Ok(CertPayload { encoding, data: r.rest().to_vec() })
    }

    /// The body bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.data.len());
        out.push(self.encoding);
        out.extend_from_slice(&self.data);
        out
    }
}

/// The LAST_FRAGMENT flag of the fragment payload.
pub const FRAGMENT_LAST: u8 = 0x01;

/// The body of an IKE fragment payload (type 132; it travels alone in an unencrypted
/// message and parses as [`Payload::Unknown`](super::Payload::Unknown) with kind
/// [`PayloadType::Fragment`](super::PayloadType::Fragment)): fragment ID, fragment number
/// from 1, flags, data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Fragment ID, the same in all fragments of one message.
    pub id: u16,
    /// Fragment number, from 1.
    pub number: u8,
    /// Flags ([`FRAGMENT_LAST`]).
    pub flags: u8,
    /// This fragment's part of the message.
    pub data: Vec<u8>,
}

impl Fragment {
    /// Parses a fragment payload body. Fragment number 0 is refused.
    pub fn parse(body: &[u8]) -> Result<Fragment, WireError> {
        let mut r = Reader::new(body, "fragment payload");
        let id = r.u16()?;
        let number = r.u8()?;
        let flags = r.u8()?;
        if number == 0 {
            return Err(WireError::Malformed("fragment number 0"));
        }
        Ok(Fragment { id, number, flags, data: r.rest().to_vec() })
    }

    /// Whether this is the last fragment.
    pub fn is_last(&self) -> bool {
        self.flags & FRAGMENT_LAST != 0
    }

    /// The body bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        out.extend_from_slice(&self.id.to_be_bytes());
        out.push(self.number);
        out.push(self.flags);
        out.extend_from_slice(&self.data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_fragment_layouts() {
        let c = CertPayload { encoding: cert_encoding::X509_SIGNATURE, data: vec![0x30, 0x00] };
        assert_eq!(c.body_bytes(), [4, 0x30, 0]);
        assert_eq!(CertPayload::parse(&c.body_bytes()), Ok(c));
        assert!(CertPayload::parse(&[]).is_err());
        let cr = CertPayload { encoding: 4, data: vec![] };
        assert_eq!(CertPayload::parse(&[4]), Ok(cr));

        let f = Fragment { id: 0x0102, number: 2, flags: FRAGMENT_LAST, data: vec![9, 9] };
        assert_eq!(f.body_bytes(), [1, 2, 2, 1, 9, 9]);
        assert_eq!(Fragment::parse(&f.body_bytes()), Ok(f.clone()));
        assert!(f.is_last());
        assert!(Fragment::parse(&[1, 2, 0, 1]).is_err());
        assert!(Fragment::parse(&[1, 2, 1]).is_err());
    }
}
