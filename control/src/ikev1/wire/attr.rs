//! Data attributes (RFC 2408 section 3.3), shared by SA transforms and the Mode Config /
//! XAUTH attributes payload (draft-dukes-ike-mode-cfg section 3.2,
//! draft-beaulieu-ike-xauth section 6.2).

use core::fmt;

use super::codec::{Mode, Reader, Result, clamped, fit, strict};

/// The AF bit of an attribute's type field: set for a basic (type/value) attribute, whose
/// 16-bit value takes the place of the length field (RFC 2408 section 3.3).
const AF: u16 = 0x8000;

/// Largest attribute type: the 15 bits below the AF bit.
pub const MAX_ATTRIBUTE_TYPE: u16 = AF - 1;

/// An attribute value in the form it travels in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// Basic (AF = 1): a 16-bit value.
    Basic(u16),
    /// Variable (AF = 0): a 16-bit length and that many bytes. In Mode Config an empty value
    /// asks the other side for one (draft-dukes-ike-mode-cfg section 3.2).
    Variable(Vec<u8>),
}

impl AttrValue {
    /// The value as a number: a basic value, or a variable value of 1 to 8 bytes read
    /// big-endian. Life durations arrive in either form (RFC 2407 section 4.5 lets a sender
    /// pick), so consumers read them through this. `None` for an empty or longer value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            AttrValue::Basic(v) => Some(u64::from(*v)),
            AttrValue::Variable(bytes) if (1..=8).contains(&bytes.len()) => {
                Some(bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b)))
            }
            AttrValue::Variable(_) => None,
        }
    }

    /// The bytes of a variable value; `None` for a basic one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            AttrValue::Basic(_) => None,
            AttrValue::Variable(bytes) => Some(bytes),
        }
    }
}

/// One data attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Attribute type, without the AF bit (so at most [`MAX_ATTRIBUTE_TYPE`]).
    pub kind: u16,
    /// The value, basic or variable.
    pub value: AttrValue,
}

impl Attribute {
    /// A basic attribute.
    pub fn basic(kind: u16, v: u16) -> Self {
        Attribute { kind, value: AttrValue::Basic(v) }
    }

    /// A variable attribute.
    pub fn variable(kind: u16, v: impl Into<Vec<u8>>) -> Self {
        Attribute { kind, value: AttrValue::Variable(v.into()) }
    }

    /// A numeric attribute in the smallest form: basic if `v` fits 16 bits, else variable
    /// with 4 bytes, or 8 if it does not fit 32 (the encodings strongSwan and Cisco use for
    /// life durations).
    pub fn number(kind: u16, v: u64) -> Self {
        let value = if let Ok(short) = u16::try_from(v) {
            AttrValue::Basic(short)
        } else if let Ok(word) = u32::try_from(v) {
            AttrValue::Variable(word.to_be_bytes().to_vec())
        } else {
            AttrValue::Variable(v.to_be_bytes().to_vec())
        };
        Attribute { kind, value }
    }

    /// Encoded length: 4 bytes, plus the value of a variable attribute.
    pub fn encoded_len(&self) -> usize {
        match &self.value {
            AttrValue::Basic(_) => 4,
            AttrValue::Variable(v) => 4 + v.len(),
        }
    }

    /// Appends the attribute. A type above 15 bits or a variable value over 65535 bytes is
    /// refused (strict) or cut to fit (clamp).
    pub(crate) fn emit(&self, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        let kind =
            fit(mode, "attribute type", usize::from(self.kind), usize::from(MAX_ATTRIBUTE_TYPE))?;
        let kind = u16::try_from(kind).unwrap_or(MAX_ATTRIBUTE_TYPE);
        match &self.value {
            AttrValue::Basic(v) => {
                out.extend_from_slice(&(kind | AF).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttrValue::Variable(v) => {
                let len = fit(mode, "attribute value", v.len(), usize::from(u16::MAX))?;
                out.extend_from_slice(&kind.to_be_bytes());
                out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
                out.extend_from_slice(v.get(..len).unwrap_or(v));
            }
        }
        Ok(())
    }

    /// Parses one attribute from the reader.
    fn parse(r: &mut Reader<'_>) -> Result<Attribute> {
        let type_field = r.u16()?;
        let kind = type_field & MAX_ATTRIBUTE_TYPE;
        let value = if type_field & AF != 0 {
            AttrValue::Basic(r.u16()?)
        } else {
            let len = r.u16()?;
            AttrValue::Variable(r.bytes(usize::from(len))?.to_vec())
        };
        Ok(Attribute { kind, value })
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            AttrValue::Basic(v) => write!(f, "{}={}", self.kind, v),
            AttrValue::Variable(v) => {
                write!(f, "{}=", self.kind)?;
                v.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A list of data attributes in its wire form, as notify data carries it (RESPONDER-LIFETIME,
/// RFC 2407 section 4.6.3.1); values that do not fit their fields are cut to fit.
pub fn encode_attribute_list(attributes: &[Attribute]) -> Vec<u8> {
    super::codec::clamped(|out, mode| attributes.iter().try_for_each(|a| a.emit(out, mode)))
}

/// Parses a list of data attributes (notify data).
pub fn parse_attribute_list(data: &[u8]) -> Result<Vec<Attribute>> {
    parse_attributes(data, "attribute list")
}

/// Parses attributes until `body` ends. Each attribute is at least 4 bytes, so the list
/// grows at most one entry per 4 input bytes.
pub(crate) fn parse_attributes(body: &[u8], what: &'static str) -> Result<Vec<Attribute>> {
    let mut r = Reader::new(body, what);
    let mut attributes = Vec::with_capacity(body.len() / 4);
    while !r.is_empty() {
        attributes.push(Attribute::parse(&mut r)?);
    }
    Ok(attributes)
}

/// Mode Config message types and attribute types (draft-dukes-ike-mode-cfg sections 3.2 and
/// 3.3, draft-beaulieu-ike-xauth section 6.2, the Cisco Unity extensions).
pub mod cfg {
    /// ISAKMP_CFG_REQUEST.
    pub const REQUEST: u8 = 1;
    /// ISAKMP_CFG_REPLY.
    pub const REPLY: u8 = 2;
    /// ISAKMP_CFG_SET.
    pub const SET: u8 = 3;
    /// ISAKMP_CFG_ACK.
    pub const ACK: u8 = 4;

    /// INTERNAL_IP4_ADDRESS.
    pub const INTERNAL_IP4_ADDRESS: u16 = 1;
    /// INTERNAL_IP4_NETMASK.
    pub const INTERNAL_IP4_NETMASK: u16 = 2;
    /// INTERNAL_IP4_DNS.
    pub const INTERNAL_IP4_DNS: u16 = 3;
    /// INTERNAL_IP4_NBNS.
    pub const INTERNAL_IP4_NBNS: u16 = 4;
    /// INTERNAL_ADDRESS_EXPIRY.
    pub const INTERNAL_ADDRESS_EXPIRY: u16 = 5;
    /// INTERNAL_IP4_DHCP.
    pub const INTERNAL_IP4_DHCP: u16 = 6;
    /// APPLICATION_VERSION.
    pub const APPLICATION_VERSION: u16 = 7;
    /// INTERNAL_IP6_ADDRESS.
    pub const INTERNAL_IP6_ADDRESS: u16 = 8;
    /// INTERNAL_IP6_NETMASK.
    pub const INTERNAL_IP6_NETMASK: u16 = 9;
    /// INTERNAL_IP6_DNS.
    pub const INTERNAL_IP6_DNS: u16 = 10;
    /// INTERNAL_IP6_NBNS.
    pub const INTERNAL_IP6_NBNS: u16 = 11;
    /// INTERNAL_IP6_DHCP.
    pub const INTERNAL_IP6_DHCP: u16 = 12;
    /// INTERNAL_IP4_SUBNET.
    pub const INTERNAL_IP4_SUBNET: u16 = 13;
    /// SUPPORTED_ATTRIBUTES.
    pub const SUPPORTED_ATTRIBUTES: u16 = 14;
    /// INTERNAL_IP6_SUBNET.
    pub const INTERNAL_IP6_SUBNET: u16 = 15;

    /// XAUTH_TYPE (draft-beaulieu-ike-xauth section 6.2).
    pub const XAUTH_TYPE: u16 = 16520;
    /// XAUTH_USER_NAME.
    pub const XAUTH_USER_NAME: u16 = 16521;
    /// XAUTH_USER_PASSWORD.
    pub const XAUTH_USER_PASSWORD: u16 = 16522;
    /// XAUTH_PASSCODE.
    pub const XAUTH_PASSCODE: u16 = 16523;
    /// XAUTH_MESSAGE.
    pub const XAUTH_MESSAGE: u16 = 16524;
    /// XAUTH_CHALLENGE.
    pub const XAUTH_CHALLENGE: u16 = 16525;
    /// XAUTH_DOMAIN.
    pub const XAUTH_DOMAIN: u16 = 16526;
    /// XAUTH_STATUS: 1 OK, 0 FAIL.
    pub const XAUTH_STATUS: u16 = 16527;

    /// UNITY_BANNER (Cisco Unity).
    pub const UNITY_BANNER: u16 = 28672;
    /// UNITY_SAVE_PASSWD (Cisco Unity).
    pub const UNITY_SAVE_PASSWD: u16 = 28673;
    /// UNITY_DEF_DOMAIN (Cisco Unity).
    pub const UNITY_DEF_DOMAIN: u16 = 28674;
    /// UNITY_SPLIT_DOMAIN (Cisco Unity).
    pub const UNITY_SPLIT_DOMAIN: u16 = 28675;
    /// UNITY_SPLIT_INCLUDE (Cisco Unity): 14-byte entries of address, mask and padding.
    pub const UNITY_SPLIT_INCLUDE: u16 = 28676;
    /// UNITY_NATT_PORT (Cisco Unity).
    pub const UNITY_NATT_PORT: u16 = 28677;
    /// UNITY_LOCAL_LAN (Cisco Unity).
    pub const UNITY_LOCAL_LAN: u16 = 28678;
    /// UNITY_PFS (Cisco Unity).
    pub const UNITY_PFS: u16 = 28679;
    /// UNITY_FW_TYPE (Cisco Unity).
    pub const UNITY_FW_TYPE: u16 = 28680;
    /// UNITY_BACKUP_SERVERS (Cisco Unity).
    pub const UNITY_BACKUP_SERVERS: u16 = 28681;
    /// UNITY_DDNS_HOSTNAME (Cisco Unity).
    pub const UNITY_DDNS_HOSTNAME: u16 = 28682;
}

/// The Mode Config / XAUTH attributes payload body (payload type 14,
/// draft-dukes-ike-mode-cfg section 3.2): message type, reserved octet, identifier, then
/// data attributes. An attribute with AF = 0 may be empty (a request for a value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigAttributes {
    /// Message type: [`cfg::REQUEST`], [`cfg::REPLY`], [`cfg::SET`] or [`cfg::ACK`].
    pub kind: u8,
    /// Identifier matching a reply or acknowledgement to its request or set.
    pub identifier: u16,
    /// The attributes, in order.
    pub attributes: Vec<Attribute>,
}

impl ConfigAttributes {
    /// Parses the payload body (everything after the generic header). The reserved octet is
    /// ignored.
    pub fn parse(body: &[u8]) -> core::result::Result<Self, super::WireError> {
        let mut r = Reader::new(body, "attributes payload");
        let kind = r.u8()?;
        let _reserved = r.u8()?;
        let identifier = r.u16()?;
        let attributes = parse_attributes(r.rest(), "configuration attribute")?;
        Ok(ConfigAttributes { kind, identifier, attributes })
    }

    /// The body bytes; values that do not fit their fields are cut to fit.
    pub fn body_bytes(&self) -> Vec<u8> {
        clamped(|out, mode| self.emit(out, mode))
    }

    /// The body bytes, or [`WireError::TooLong`](super::WireError::TooLong) if a value does
    /// not fit its field.
    pub fn try_body_bytes(&self) -> core::result::Result<Vec<u8>, super::WireError> {
        strict(|out, mode| self.emit(out, mode))
    }

    /// The first attribute of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&AttrValue> {
        self.attributes.iter().find(|a| a.kind == kind).map(|a| &a.value)
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        out.push(self.kind);
        out.push(0);
        out.extend_from_slice(&self.identifier.to_be_bytes());
        self.attributes.iter().try_for_each(|a| a.emit(out, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikev1::wire::WireError;
    use hex_literal::hex;

    #[test]
    fn basic_and_variable_layouts() {
        let mut out = Vec::new();
        Attribute::basic(1, 7).emit(&mut out, Mode::Strict).unwrap();
        Attribute::variable(12, [0, 1, 0x51, 0x80]).emit(&mut out, Mode::Strict).unwrap();
        Attribute::variable(cfg::INTERNAL_IP4_ADDRESS, []).emit(&mut out, Mode::Strict).unwrap();
        assert_eq!(out, hex!("8001 0007  000c 0004 00015180  0001 0000"));
        let parsed = parse_attributes(&out, "t").unwrap();
        assert_eq!(
            parsed,
            [
                Attribute::basic(1, 7),
                Attribute::variable(12, [0, 1, 0x51, 0x80]),
                Attribute::variable(1, []),
            ]
        );
    }

    #[test]
    fn number_picks_the_smallest_form() {
        assert_eq!(Attribute::number(12, 0).value, AttrValue::Basic(0));
        assert_eq!(Attribute::number(12, 0xffff).value, AttrValue::Basic(0xffff));
        assert_eq!(Attribute::number(12, 0x1_0000).value, AttrValue::Variable(vec![0, 1, 0, 0]));
        assert_eq!(Attribute::number(12, 0xffff_ffff).value, AttrValue::Variable(vec![0xff; 4]));
        assert_eq!(
            Attribute::number(12, 0x1_0000_0000).value,
            AttrValue::Variable(vec![0, 0, 0, 1, 0, 0, 0, 0])
        );
        for v in [0, 1, 0xffff, 0x1_0000, 86400, u64::from(u32::MAX) + 1, u64::MAX] {
            assert_eq!(Attribute::number(2, v).value.as_u64(), Some(v));
        }
        assert_eq!(AttrValue::Variable(vec![]).as_u64(), None);
        assert_eq!(AttrValue::Variable(vec![0; 9]).as_u64(), None);
        assert_eq!(AttrValue::Variable(vec![1, 2, 3]).as_u64(), Some(0x010203));
    }

    #[test]
    fn truncated_attributes_fail() {
        let bytes = hex!("000c 0004 00015180");
        for n in 1..bytes.len() {
            assert!(matches!(
                parse_attributes(&bytes[..n], "t"),
                Err(WireError::Truncated { what: "t", .. })
            ));
        }
        assert_eq!(parse_attributes(&[], "t"), Ok(vec![]));
    }

    #[test]
    fn oversize_values_are_refused_or_clamped() {
        let big = Attribute::variable(1, vec![7; 70000]);
        let mut out = Vec::new();
        assert_eq!(
            big.emit(&mut out, Mode::Strict),
            Err(WireError::TooLong { what: "attribute value", len: 70000, max: 65535 })
        );
        out.clear();
        big.emit(&mut out, Mode::Clamp).unwrap();
        assert_eq!(out.len(), 4 + 65535);
        assert_eq!(parse_attributes(&out, "t").unwrap()[0], Attribute::variable(1, vec![7; 65535]));
        let bad_type = Attribute::basic(0x8001, 1);
        out.clear();
        assert!(bad_type.emit(&mut out, Mode::Strict).is_err());
    }

    #[test]
    fn config_payload_layout() {
        let c = ConfigAttributes {
            kind: cfg::REQUEST,
            identifier: 0x1234,
            attributes: vec![
                Attribute::variable(cfg::XAUTH_USER_NAME, []),
                Attribute::variable(cfg::XAUTH_USER_PASSWORD, []),
                Attribute::basic(cfg::XAUTH_TYPE, 0),
            ],
        };
        let bytes = c.body_bytes();
        assert_eq!(bytes, hex!("01 00 1234  4089 0000  408a 0000  c088 0000"));
        assert_eq!(ConfigAttributes::parse(&bytes), Ok(c.clone()));
        assert_eq!(c.get(cfg::XAUTH_TYPE), Some(&AttrValue::Basic(0)));
        assert!(ConfigAttributes::parse(&bytes[..3]).is_err());
    }
}
