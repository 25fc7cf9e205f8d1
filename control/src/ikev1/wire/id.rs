//! The Identification payload of the IPsec DOI (RFC 2407 section 4.6.2): phase 1 identities
//! and the phase 2 proxy IDs (client IDs) that name the traffic a Quick Mode SA carries.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;
use super::codec::Reader;

/// Identification types (RFC 2407 section 4.6.2.1).
pub mod id_type {
    /// ID_IPV4_ADDR: 4 bytes.
    pub const IPV4_ADDR: u8 = 1;
    /// ID_FQDN: a domain name.
    pub const FQDN: u8 = 2;
    /// ID_USER_FQDN: an email address.
    pub const USER_FQDN: u8 = 3;
    /// ID_IPV4_ADDR_SUBNET: address and mask, 8 bytes.
    pub const IPV4_ADDR_SUBNET: u8 = 4;
    /// ID_IPV6_ADDR: 16 bytes.
    pub const IPV6_ADDR: u8 = 5;
    /// ID_IPV6_ADDR_SUBNET: address and mask, 32 bytes.
    pub const IPV6_ADDR_SUBNET: u8 = 6;
    /// ID_IPV4_ADDR_RANGE: first and last address, 8 bytes.
    pub const IPV4_ADDR_RANGE: u8 = 7;
    /// ID_IPV6_ADDR_RANGE: first and last address, 32 bytes.
    pub const IPV6_ADDR_RANGE: u8 = 8;
    /// ID_DER_ASN1_DN: a DER-encoded X.500 distinguished name.
    pub const DER_ASN1_DN: u8 = 9;
    /// ID_DER_ASN1_GN: a DER-encoded X.509 general name.
    pub const DER_ASN1_GN: u8 = 10;
    /// ID_KEY_ID: opaque bytes (Cisco sends the group name of an aggressive mode client).
    pub const KEY_ID: u8 = 11;
}

/// The data length an address ID type fixes; `None` for the name types.
fn fixed_len(kind: u8) -> Option<usize> {
    match kind {
        id_type::IPV4_ADDR => Some(4),
        id_type::IPV6_ADDR => Some(16),
        id_type::IPV4_ADDR_SUBNET | id_type::IPV4_ADDR_RANGE => Some(8),
        id_type::IPV6_ADDR_SUBNET | id_type::IPV6_ADDR_RANGE => Some(32),
        _ => None,
    }
}

/// An Identification payload body (also the body of NAT-OA, RFC 3947 section 5.2, where
/// the protocol and port octets are reserved).
///
/// HASH_I / HASH_R cover the received body bytes (IDii_b, RFC 2409 section 5); take them
/// from the payload chain's spans, or from [`body_bytes`](Identification::body_bytes), which
/// gives the same bytes because every field is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identification {
    /// ID type ([`id_type`]).
    pub id_type: u8,
    /// IP protocol (0 = any).
    pub protocol: u8,
    /// Port (0 = any).
    pub port: u16,
    /// Identification data, in the type's encoding.
    pub data: Vec<u8>,
}

impl Identification {
    /// Parses the payload body (after the generic header). Address types must have exactly
    /// their data length (4, 8, 16 or 32 bytes); other types take any data.
    pub fn parse(body: &[u8]) -> core::result::Result<Identification, WireError> {
        let mut r = Reader::new(body, "ID payload");
        let id_type = r.u8()?;
        let protocol = r.u8()?;
        let port = r.u16()?;
        let id = Identification { id_type, protocol, port, data: r.rest().to_vec() };
        id.check()?;
        Ok(id)
    }

    /// Fails with [`WireError::BadId`] if an address type has the wrong data length.
    pub fn check(&self) -> core::result::Result<(), WireError> {
        match fixed_len(self.id_type) {
            Some(len) if len != self.data.len() => {
                Err(WireError::BadId { id_type: self.id_type, len: self.data.len() })
            }
            _ => Ok(()),
        }
    }

    /// The payload body without its generic header (IDii_b / IDir_b of RFC 2409).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        self.emit(&mut out);
        out
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.id_type);
        out.push(self.protocol);
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.data);
    }

    /// An ID_IPV4_ADDR or ID_IPV6_ADDR identity, protocol and port 0.
    pub fn address(addr: IpAddr) -> Self {
        let (id_type, data) = match addr {
            IpAddr::V4(a) => (id_type::IPV4_ADDR, a.octets().to_vec()),
            IpAddr::V6(a) => (id_type::IPV6_ADDR, a.octets().to_vec()),
        };
        Identification { id_type, protocol: 0, port: 0, data }
    }

    /// An ID_FQDN identity.
    pub fn fqdn(name: &str) -> Self {
        Identification { id_type: id_type::FQDN, protocol: 0, port: 0, data: name.into() }
    }

    /// An ID_USER_FQDN identity.
    pub fn user_fqdn(addr: &str) -> Self {
        Identification { id_type: id_type::USER_FQDN, protocol: 0, port: 0, data: addr.into() }
    }

    /// An ID_KEY_ID identity.
    pub fn key_id(key: &[u8]) -> Self {
        Identification { id_type: id_type::KEY_ID, protocol: 0, port: 0, data: key.to_vec() }
    }

    /// The text of an FQDN or USER_FQDN identity, if it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self.id_type {
            id_type::FQDN | id_type::USER_FQDN => core::str::from_utf8(&self.data).ok(),
            _ => None,
        }
    }

    /// The proxy ID for the inclusive range `start..=end`, in the form peers expect: one
    /// address as `*_ADDR`, a range that is exactly a CIDR prefix as `*_ADDR_SUBNET`
    /// (address and mask), anything else as `*_ADDR_RANGE`.
    ///
    /// Fails with [`WireError::BadRange`] if the families differ or `start > end`.
    pub fn from_range(
        start: IpAddr,
        end: IpAddr,
        protocol: u8,
        port: u16,
    ) -> core::result::Result<Self, WireError> {
        let (v6, first, last) = match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                (false, u128::from(u32::from(s)), u128::from(u32::from(e)))
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => (true, u128::from(s), u128::from(e)),
            _ => return Err(WireError::BadRange("start and end of different address families")),
        };
        if first > last {
            return Err(WireError::BadRange("start above end"));
        }
        let encode = |v: u128| -> Vec<u8> {
            if v6 { v.to_be_bytes().to_vec() } else { v.to_be_bytes()[12..].to_vec() }
        };
        let host = first ^ last;
        // A prefix: the differing bits are a run of low ones, and the range starts on the
        // prefix boundary (so it ends on the last address of the prefix).
        let is_prefix = host & host.wrapping_add(1) == 0 && first & host == 0;
        let (id_type, data) = if first == last {
            (if v6 { id_type::IPV6_ADDR } else { id_type::IPV4_ADDR }, encode(first))
        } else if is_prefix {
            let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
            let mask = all & !host;
            let mut data = encode(first);
            data.extend(encode(mask));
            (if v6 { id_type::IPV6_ADDR_SUBNET } else { id_type::IPV4_ADDR_SUBNET }, data)
        } else {
            let mut data = encode(first);
            data.extend(encode(last));
            (if v6 { id_type::IPV6_ADDR_RANGE } else { id_type::IPV4_ADDR_RANGE }, data)
        };
        Ok(Identification { id_type, protocol, port, data })
    }

    /// The inclusive address range of an address-type ID: one address, a subnet (the
    /// address masked, so host bits a peer left set are ignored), or a range. `None` for a
    /// name type, a wrong data length, a non-contiguous mask, or a range whose start is
    /// above its end.
    pub fn address_range(&self) -> Option<(IpAddr, IpAddr)> {
        if fixed_len(self.id_type) != Some(self.data.len()) {
            return None;
        }
        match self.id_type {
            id_type::IPV4_ADDR => {
                let a = IpAddr::V4(v4(&self.data)?);
                Some((a, a))
            }
            id_type::IPV6_ADDR => {
                let a = IpAddr::V6(v6(&self.data)?);
                Some((a, a))
            }
            id_type::IPV4_ADDR_SUBNET => {
                let (addr, mask) = self.data.split_at_checked(4)?;
                let (addr, mask) = (u32::from(v4(addr)?), u32::from(v4(mask)?));
                if mask.leading_ones() + mask.trailing_zeros() != 32 {
                    return None;
                }
                let (s, e) = (addr & mask, addr | !mask);
                Some((IpAddr::V4(s.into()), IpAddr::V4(e.into())))
            }
            id_type::IPV6_ADDR_SUBNET => {
                let (addr, mask) = self.data.split_at_checked(16)?;
                let (addr, mask) = (u128::from(v6(addr)?), u128::from(v6(mask)?));
                if mask.leading_ones() + mask.trailing_zeros() != 128 {
                    return None;
                }
                let (s, e) = (addr & mask, addr | !mask);
                Some((IpAddr::V6(s.into()), IpAddr::V6(e.into())))
            }
            id_type::IPV4_ADDR_RANGE => {
                let (s, e) = self.data.split_at_checked(4)?;
                let (s, e) = (v4(s)?, v4(e)?);
                (s <= e).then_some((IpAddr::V4(s), IpAddr::V4(e)))
            }
            id_type::IPV6_ADDR_RANGE => {
                let (s, e) = self.data.split_at_checked(16)?;
                let (s, e) = (v6(s)?, v6(e)?);
                (s <= e).then_some((IpAddr::V6(s), IpAddr::V6(e)))
            }
            _ => None,
        }
    }
}

fn v4(bytes: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(bytes).ok().map(Ipv4Addr::from)
}

fn v6(bytes: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(bytes).ok().map(Ipv6Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn layouts() {
        let id = Identification::from_range(ip("10.1.0.0"), ip("10.1.255.255"), 17, 500).unwrap();
        assert_eq!(id.body_bytes(), hex!("04 11 01f4 0a010000 ffff0000"));
        assert_eq!(Identification::parse(&id.body_bytes()), Ok(id));
        let a = Identification::address(ip("192.0.2.1"));
        assert_eq!(a.body_bytes(), hex!("01 00 0000 c0000201"));
        assert_eq!(Identification::fqdn("vpn.example").as_text(), Some("vpn.example"));
        assert_eq!(
            Identification::parse(&hex!("02 00 00")),
            Err(WireError::Truncated { what: "ID payload", need: 2, have: 1 })
        );
    }

    #[test]
    fn address_data_lengths_are_checked() {
        assert_eq!(
            Identification::parse(&hex!("01 00 0000 c00002")),
            Err(WireError::BadId { id_type: 1, len: 3 })
        );
        assert_eq!(
            Identification::parse(&hex!("04 00 0000 c0000201")),
            Err(WireError::BadId { id_type: 4, len: 4 })
        );
        assert!(Identification::parse(&hex!("02 00 0000")).is_ok(), "empty names parse");
        assert!(Identification::parse(&hex!("63 00 0000 01")).is_ok(), "unknown types parse");
    }

    #[test]
    fn range_forms() {
        let cases = [
            ("10.0.0.1", "10.0.0.1", id_type::IPV4_ADDR),
            ("0.0.0.0", "255.255.255.255", id_type::IPV4_ADDR_SUBNET),
            ("10.0.0.0", "10.0.0.1", id_type::IPV4_ADDR_SUBNET),
            ("10.0.0.1", "10.0.0.2", id_type::IPV4_ADDR_RANGE),
            ("10.0.0.0", "10.0.0.2", id_type::IPV4_ADDR_RANGE),
            ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", id_type::IPV6_ADDR_SUBNET),
            ("2001:db8::", "2001:db8::ffff", id_type::IPV6_ADDR_SUBNET),
            ("2001:db8::1", "2001:db8::1", id_type::IPV6_ADDR),
            ("2001:db8::1", "2001:db8::8", id_type::IPV6_ADDR_RANGE),
        ];
        for (s, e, kind) in cases {
            let id = Identification::from_range(ip(s), ip(e), 0, 0).unwrap();
            assert_eq!(id.id_type, kind, "{s}-{e}");
            assert_eq!(id.address_range(), Some((ip(s), ip(e))), "{s}-{e}");
        }
        assert_eq!(
            Identification::from_range(ip("10.0.0.2"), ip("10.0.0.1"), 0, 0),
            Err(WireError::BadRange("start above end"))
        );
        assert!(Identification::from_range(ip("10.0.0.1"), ip("::1"), 0, 0).is_err());
    }

    #[test]
    fn address_range_refusals() {
        let id = |kind: u8, data: &[u8]| Identification {
            id_type: kind,
            protocol: 0,
            port: 0,
            data: data.to_vec(),
        };
        // A non-contiguous mask.
        assert_eq!(id(id_type::IPV4_ADDR_SUBNET, &hex!("0a000000 ff00ff00")).address_range(), None);
        // Host bits set: masked off.
        assert_eq!(
            id(id_type::IPV4_ADDR_SUBNET, &hex!("0a000005 ffffff00")).address_range(),
            Some((ip("10.0.0.0"), ip("10.0.0.255")))
        );
        // A reversed range.
        assert_eq!(id(id_type::IPV4_ADDR_RANGE, &hex!("0a000002 0a000001")).address_range(), None);
        // Wrong lengths and names.
        assert_eq!(id(id_type::IPV4_ADDR, &hex!("0a0000")).address_range(), None);
        assert_eq!(id(id_type::IPV6_ADDR, &hex!("0a000001")).address_range(), None);
        assert_eq!(id(id_type::FQDN, b"a.b").address_range(), None);
    }
}
