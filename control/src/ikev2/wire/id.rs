//! The Identification payloads IDi and IDr (RFC 7296 section 3.5).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, Writer, ensure};
use super::{Error, Hex, PayloadBody, Result};

enum_with_unknown! {
    /// ID types (RFC 7296 section 3.5, IANA "IKEv2 Identification Payload ID Types").
    pub enum IdType(u8) {
        /// ID_IPV4_ADDR: a 4-byte IPv4 address.
        Ipv4Addr = 1 => "ID_IPV4_ADDR",
        /// ID_FQDN: a domain name, no terminator.
        Fqdn = 2 => "ID_FQDN",
        /// ID_RFC822_ADDR (USER_FQDN): an email address, no terminator.
        Rfc822Addr = 3 => "ID_RFC822_ADDR",
        /// ID_IPV6_ADDR: a 16-byte IPv6 address.
        Ipv6Addr = 5 => "ID_IPV6_ADDR",
        /// ID_DER_ASN1_DN: the DER encoding of an X.500 Distinguished Name.
        DerAsn1Dn = 9 => "ID_DER_ASN1_DN",
        /// ID_DER_ASN1_GN: the DER encoding of an X.509 GeneralName.
        DerAsn1Gn = 10 => "ID_DER_ASN1_GN",
        /// ID_KEY_ID: an opaque octet stream.
        KeyId = 11 => "ID_KEY_ID",
        /// ID_FC_NAME (RFC 4595 section 4.5.4).
        FcName = 12 => "ID_FC_NAME",
        /// ID_NULL: no identity, empty data (RFC 7619 section 3).
        Null = 13 => "ID_NULL",
    }
}

/// An IDi or IDr payload body. Which of the two it is follows from the payload type.
///
/// The AUTH computation signs the received body bytes ("RestOfIDPayload", RFC 7296 section
/// 2.15), reserved octets included: take them from the [`Payloads`](super::Payloads)
/// iterator rather than from a re-emitted `IdRepr`, which writes the reserved octets as zero.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct IdRepr {
    /// ID Type.
    pub id_type: IdType,
    /// Identification Data, in the type's encoding.
    pub data: Vec<u8>,
}

impl IdRepr {
    /// An ID_IPV4_ADDR identity.
    pub fn ipv4(addr: Ipv4Addr) -> IdRepr {
        IdRepr { id_type: IdType::Ipv4Addr, data: addr.octets().to_vec() }
    }

    /// An ID_IPV6_ADDR identity.
    pub fn ipv6(addr: Ipv6Addr) -> IdRepr {
        IdRepr { id_type: IdType::Ipv6Addr, data: addr.octets().to_vec() }
    }

    /// An ID_FQDN identity.
    pub fn fqdn(name: &str) -> IdRepr {
        IdRepr { id_type: IdType::Fqdn, data: name.as_bytes().to_vec() }
    }

    /// An ID_RFC822_ADDR identity.
    pub fn rfc822(addr: &str) -> IdRepr {
        IdRepr { id_type: IdType::Rfc822Addr, data: addr.as_bytes().to_vec() }
    }

    /// The address of an ID_IPV4_ADDR identity.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        match self.id_type {
            IdType::Ipv4Addr => <[u8; 4]>::try_from(self.data.as_slice()).ok().map(Into::into),
            _ => None,
        }
    }

    /// The address of an ID_IPV6_ADDR identity.
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        match self.id_type {
            IdType::Ipv6Addr => <[u8; 16]>::try_from(self.data.as_slice()).ok().map(Into::into),
            _ => None,
        }
    }

    /// The text of an ID_FQDN or ID_RFC822_ADDR identity, if it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self.id_type {
            IdType::Fqdn | IdType::Rfc822Addr => core::str::from_utf8(&self.data).ok(),
            _ => None,
        }
    }

    /// Checks the data length the type fixes: 4 for IPv4, 16 for IPv6, 0 for ID_NULL, and at
    /// least one byte for the others (an empty name identifies nobody).
    fn check(&self) -> Result<()> {
        let ok = match self.id_type {
            IdType::Ipv4Addr => self.data.len() == 4,
            IdType::Ipv6Addr => self.data.len() == 16,
            IdType::Null => self.data.is_empty(),
            _ => !self.data.is_empty(),
        };
        if ok { Ok(()) } else { Err(Error::Malformed("identification data length")) }
    }
}

impl PayloadBody for IdRepr {
    fn parse(body: &[u8]) -> Result<IdRepr> {
        let mut r = Reader::new(body);
        let id_type = IdType::from(r.u8()?);
        let _reserved = r.bytes(3)?;
        let repr = IdRepr { id_type, data: r.rest().to_vec() };
        repr.check()?;
        Ok(repr)
    }

    fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        self.check()?;
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.bytes(&[self.id_type.into(), 0, 0, 0])?;
        w.bytes(&self.data)
    }
}

impl fmt::Display for IdRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.as_ipv4() {
            write!(f, "{} {a}", self.id_type)
        } else if let Some(a) = self.as_ipv6() {
            write!(f, "{} {a}", self.id_type)
        } else if let Some(s) = self.as_text() {
            write!(f, "{} {s}", self.id_type)
        } else {
            write!(f, "{} {}", self.id_type, Hex(&self.data))
        }
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_ipv4() {
        let bytes = [0x01, 0, 0, 0, 192, 0, 2, 1];
        let repr = IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 1));
        check_body(&bytes, &repr, bytes.len());
        assert_eq!(repr.to_string(), "ID_IPV4_ADDR 192.0.2.1");
        assert!(IdRepr::parse(&[0x01, 0, 0, 0, 192, 0, 2, 1, 0]).is_err());
    }

    #[test]
    fn test_ipv6() {
        let mut bytes = vec![0x05, 0, 0, 0];
        bytes.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        bytes.extend_from_slice(&[0; 11]);
        bytes.push(1);
        let repr = IdRepr::ipv6("2001:db8::1".parse().unwrap());
        check_body(&bytes, &repr, bytes.len());
        assert_eq!(repr.as_ipv6(), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn test_fqdn_rfc822() {
        let mut bytes = vec![0x02, 0, 0, 0];
        bytes.extend_from_slice(b"vpn.example.com");
        let repr = IdRepr::fqdn("vpn.example.com");
        check_body(&bytes, &repr, 5);
        assert_eq!(repr.to_string(), "ID_FQDN vpn.example.com");
        let mut bytes = vec![0x03, 0, 0, 0];
        bytes.extend_from_slice(b"alice@example.com");
        check_body(&bytes, &IdRepr::rfc822("alice@example.com"), 5);
    }

    #[test]
    fn test_dn_key_id_null() {
        // DER of the DN "CN=a": SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String "a" } } }.
        let dn =
            [0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, 0x61];
        let mut bytes = vec![0x09, 0, 0, 0];
        bytes.extend_from_slice(&dn);
        check_body(&bytes, &IdRepr { id_type: IdType::DerAsn1Dn, data: dn.to_vec() }, 5);
        let bytes = [0x0b, 0, 0, 0, 0xca, 0xfe];
        check_body(&bytes, &IdRepr { id_type: IdType::KeyId, data: vec![0xca, 0xfe] }, 5);
        check_body(&[0x0d, 0, 0, 0], &IdRepr { id_type: IdType::Null, data: vec![] }, 4);
        assert!(IdRepr::parse(&[0x0d, 0, 0, 0, 1]).is_err());
        assert!(IdRepr::parse(&[0x02, 0, 0, 0]).is_err());
    }
}
