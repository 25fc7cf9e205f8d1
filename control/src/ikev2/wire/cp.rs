//! The Configuration payload (RFC 7296 section 3.15).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, Writer, ensure, len16};
use super::{Error, PayloadBody, Result};

/// The reserved R bit above the 15-bit attribute type (RFC 7296 section 3.15.1: sent as
/// zero, ignored on receipt).
const RESERVED_BIT: u16 = 0x8000;

enum_with_unknown! {
    /// CFG types (RFC 7296 section 3.15, IANA "IKEv2 Configuration Payload CFG Types").
    pub enum CfgType(u8) {
        /// CFG_REQUEST.
        Request = 1 => "CFG_REQUEST",
        /// CFG_REPLY.
        Reply = 2 => "CFG_REPLY",
        /// CFG_SET.
        Set = 3 => "CFG_SET",
        /// CFG_ACK.
        Ack = 4 => "CFG_ACK",
    }
}

enum_with_unknown! {
    /// Configuration attribute types (RFC 7296 section 3.15.1, IANA "IKEv2 Configuration
    /// Payload Attribute Types").
    pub enum CfgAttributeType(u16) {
        /// INTERNAL_IP4_ADDRESS: 0 or 4 octets.
        InternalIp4Address = 1 => "INTERNAL_IP4_ADDRESS",
        /// INTERNAL_IP4_NETMASK: 0 or 4 octets.
        InternalIp4Netmask = 2 => "INTERNAL_IP4_NETMASK",
        /// INTERNAL_IP4_DNS: 0 or 4 octets.
        InternalIp4Dns = 3 => "INTERNAL_IP4_DNS",
        /// INTERNAL_IP4_NBNS: 0 or 4 octets.
        InternalIp4Nbns = 4 => "INTERNAL_IP4_NBNS",
        /// INTERNAL_IP4_DHCP: 0 or 4 octets.
        InternalIp4Dhcp = 6 => "INTERNAL_IP4_DHCP",
        /// APPLICATION_VERSION: 0 or more octets.
        ApplicationVersion = 7 => "APPLICATION_VERSION",
        /// INTERNAL_IP6_ADDRESS: 0 or 17 octets (address and prefix length).
        InternalIp6Address = 8 => "INTERNAL_IP6_ADDRESS",
        /// INTERNAL_IP6_DNS: 0 or 16 octets.
        InternalIp6Dns = 10 => "INTERNAL_IP6_DNS",
        /// INTERNAL_IP6_DHCP: 0 or 16 octets.
        InternalIp6Dhcp = 12 => "INTERNAL_IP6_DHCP",
        /// INTERNAL_IP4_SUBNET: 0 or 8 octets (address and netmask).
        InternalIp4Subnet = 13 => "INTERNAL_IP4_SUBNET",
        /// SUPPORTED_ATTRIBUTES: a multiple of 2 octets.
        SupportedAttributes = 14 => "SUPPORTED_ATTRIBUTES",
        /// INTERNAL_IP6_SUBNET: 0 or 17 octets (address and prefix length).
        InternalIp6Subnet = 15 => "INTERNAL_IP6_SUBNET",
        /// INTERNAL_DNS_DOMAIN (RFC 8598): a domain name, ASCII, no trailing NUL; empty in
        /// a request.
        InternalDnsDomain = 25 => "INTERNAL_DNS_DOMAIN",
    }
}

/// One configuration attribute. An empty value in a CFG_REQUEST asks for any value.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct CfgAttribute {
    /// Attribute Type (15 bits).
    pub attr_type: CfgAttributeType,
    /// The value: empty, or in the type's encoding.
    pub value: Vec<u8>,
}

impl CfgAttribute {
    /// An attribute with an empty value: a request for any value.
    pub fn request(attr_type: CfgAttributeType) -> CfgAttribute {
        CfgAttribute { attr_type, value: Vec::new() }
    }

    /// An attribute holding an IPv4 address.
    pub fn ipv4(attr_type: CfgAttributeType, addr: Ipv4Addr) -> CfgAttribute {
        CfgAttribute { attr_type, value: addr.octets().to_vec() }
    }

    /// An attribute holding an IPv6 address and a prefix length (INTERNAL_IP6_ADDRESS,
    /// INTERNAL_IP6_SUBNET).
    pub fn ipv6_prefix(attr_type: CfgAttributeType, addr: Ipv6Addr, len: u8) -> CfgAttribute {
        let mut value = addr.octets().to_vec();
        value.push(len);
        CfgAttribute { attr_type, value }
    }

    /// The value as an IPv4 address, if it is 4 octets.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value.as_slice()).ok().map(Ipv4Addr::from)
    }

    /// The value as an IPv6 address, if it is 16 octets.
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        <[u8; 16]>::try_from(self.value.as_slice()).ok().map(Ipv6Addr::from)
    }

    /// The value as an IPv6 address and prefix length, if it is 17 octets.
    pub fn as_ipv6_prefix(&self) -> Option<(Ipv6Addr, u8)> {
        let (addr, len) = self.value.split_first_chunk::<16>()?;
        match len {
            [len] => Some((Ipv6Addr::from(*addr), *len)),
            _ => None,
        }
    }

    /// Checks the value length against RFC 7296 section 3.15.1's table; unknown types take
    /// any length.
    fn check(&self) -> Result<()> {
        use CfgAttributeType as T;
        let n = self.value.len();
        let ok = match self.attr_type {
            T::InternalIp4Address
            | T::InternalIp4Netmask
            | T::InternalIp4Dns
            | T::InternalIp4Nbns
            | T::InternalIp4Dhcp => matches!(n, 0 | 4),
            T::InternalIp6Address | T::InternalIp6Subnet => matches!(n, 0 | 17),
            T::InternalIp6Dns | T::InternalIp6Dhcp => matches!(n, 0 | 16),
            T::InternalIp4Subnet => matches!(n, 0 | 8),
            T::SupportedAttributes => n.is_multiple_of(2),
            // A DNS name is at most 253 characters (RFC 1035 section 2.3.4).
            T::InternalDnsDomain => n <= 253,
            T::ApplicationVersion | T::Unknown(_) => true,
        };
        if u16::from(self.attr_type) & RESERVED_BIT != 0 {
            return Err(Error::Malformed("configuration attribute type above 15 bits"));
        }
        if ok { Ok(()) } else { Err(Error::Malformed("configuration attribute length")) }
    }
}

impl fmt::Display for CfgAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr_type)?;
        if let Some(a) = self.as_ipv4() {
            write!(f, "={a}")
        } else if let Some(a) = self.as_ipv6() {
            write!(f, "={a}")
        } else if let Some((a, len)) = self.as_ipv6_prefix() {
            write!(f, "={a}/{len}")
        } else if !self.value.is_empty() {
            write!(f, "=({} bytes)", self.value.len())
        } else {
            Ok(())
        }
    }
}

/// The CP payload body.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct CpRepr {
    /// CFG Type.
    pub cfg_type: CfgType,
    /// Configuration attributes, in order.
    pub attributes: Vec<CfgAttribute>,
}

impl PayloadBody for CpRepr {
    fn parse(body: &[u8]) -> Result<CpRepr> {
        let mut r = Reader::new(body);
        let cfg_type = CfgType::from(r.u8()?);
        let _reserved = r.bytes(3)?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let attr_type = CfgAttributeType::from(r.u16()? & !RESERVED_BIT);
            let len = usize::from(r.u16()?);
            let attribute = CfgAttribute { attr_type, value: r.bytes(len)?.to_vec() };
            attribute.check()?;
            attributes.push(attribute);
        }
        Ok(CpRepr { cfg_type, attributes })
    }

    fn buffer_len(&self) -> usize {
        4 + self.attributes.iter().map(|a| 4 + a.value.len()).sum::<usize>()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.bytes(&[self.cfg_type.into(), 0, 0, 0])?;
        self.attributes.iter().try_for_each(|a| {
            a.check()?;
            w.u16(a.attr_type.into())?;
            w.u16(len16(a.value.len())?)?;
            w.bytes(&a.value)
        })
    }
}

impl fmt::Display for CpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CP {}", self.cfg_type)?;
        for a in &self.attributes {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_request() {
        // CFG_REQUEST for an IPv4 address, DNS, and an IPv6 address: all empty values.
        let bytes =
            [0x01, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00];
        let repr = CpRepr {
            cfg_type: CfgType::Request,
            attributes: vec![
                CfgAttribute::request(CfgAttributeType::InternalIp4Address),
                CfgAttribute::request(CfgAttributeType::InternalIp4Dns),
                CfgAttribute::request(CfgAttributeType::InternalIp6Address),
            ],
        };
        check_body(&bytes, &repr, 4);
        assert_eq!(
            repr.to_string(),
            "CP CFG_REQUEST INTERNAL_IP4_ADDRESS INTERNAL_IP4_DNS INTERNAL_IP6_ADDRESS"
        );
    }

    #[test]
    fn test_dns_domain() {
        // INTERNAL_DNS_DOMAIN (type 25, RFC 8598): the name's octets, at most 253.
        let mut bytes = vec![0x02, 0, 0, 0, 0x00, 0x19, 0x00, 0x0c];
        bytes.extend_from_slice(b"corp.example");
        let domain = CfgAttribute {
            attr_type: CfgAttributeType::InternalDnsDomain,
            value: b"corp.example".to_vec(),
        };
        let repr = CpRepr { cfg_type: CfgType::Reply, attributes: vec![domain] };
        check_body(&bytes, &repr, 4);
        let long =
            CfgAttribute { attr_type: CfgAttributeType::InternalDnsDomain, value: vec![b'a'; 254] };
        assert!(long.check().is_err());
    }

    #[test]
    fn test_reply() {
        let mut bytes = vec![0x02, 0, 0, 0];
        bytes.extend_from_slice(&[0x00, 0x01, 0x00, 0x04, 10, 1, 0, 7]);
        bytes.extend_from_slice(&[0x00, 0x02, 0x00, 0x04, 255, 255, 255, 0]);
        bytes.extend_from_slice(&[0x00, 0x0a, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53]);
        bytes.extend_from_slice(&[0x00, 0x08, 0x00, 0x11, 0x20, 0x01, 0x0d, 0xb8]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, 64]);
        let repr = CpRepr {
            cfg_type: CfgType::Reply,
            attributes: vec![
                CfgAttribute::ipv4(
                    CfgAttributeType::InternalIp4Address,
                    Ipv4Addr::new(10, 1, 0, 7),
                ),
                CfgAttribute::ipv4(
                    CfgAttributeType::InternalIp4Netmask,
                    Ipv4Addr::new(255, 255, 255, 0),
                ),
                CfgAttribute {
                    attr_type: CfgAttributeType::InternalIp6Dns,
                    value: "2001:db8::53".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                },
                CfgAttribute::ipv6_prefix(
                    CfgAttributeType::InternalIp6Address,
                    "2001:db8::7".parse().unwrap(),
                    64,
                ),
            ],
        };
        check_body(&bytes, &repr, 4);
        assert_eq!(repr.attributes[0].as_ipv4(), Some(Ipv4Addr::new(10, 1, 0, 7)));
        assert_eq!(repr.attributes[3].as_ipv6_prefix(), Some(("2001:db8::7".parse().unwrap(), 64)));
        assert!(repr.to_string().contains("INTERNAL_IP6_ADDRESS=2001:db8::7/64"));
    }

    #[test]
    fn test_malformed() {
        // A 3-byte IPv4 address.
        assert!(CpRepr::parse(&[0x02, 0, 0, 0, 0x00, 0x01, 0x00, 0x03, 1, 2, 3]).is_err());
        // Attribute length past the end.
        assert!(CpRepr::parse(&[0x02, 0, 0, 0, 0x00, 0x07, 0x00, 0x05, 1]).is_err());
        // Half an attribute header.
        assert!(CpRepr::parse(&[0x02, 0, 0, 0, 0x00]).is_err());
        // The R bit is ignored on receipt.
        let r = CpRepr::parse(&[0x01, 0, 0, 0, 0x80, 0x01, 0x00, 0x00]).unwrap();
        assert_eq!(r.attributes[0].attr_type, CfgAttributeType::InternalIp4Address);
        let bad = CpRepr {
            cfg_type: CfgType::Set,
            attributes: vec![CfgAttribute::request(CfgAttributeType::Unknown(0x8001))],
        };
        assert!(bad.to_vec().is_err());
    }
}
