//! The Security Association payload: proposals, transforms, attributes (RFC 7296 section
//! 3.3), and the code points they carry.

use core::fmt;

use super::codec::{Reader, Writer, ensure, len16};
use super::{Error, PayloadBody, Result};

/// Last Substruc value of the last proposal or transform (RFC 7296 sections 3.3.1, 3.3.2).
const LAST: u8 = 0;
/// Last Substruc value of a proposal followed by another (RFC 7296 section 3.3.1).
const MORE_PROPOSALS: u8 = 2;
/// Last Substruc value of a transform followed by another (RFC 7296 section 3.3.2).
const MORE_TRANSFORMS: u8 = 3;
/// Fixed part of a proposal substructure, before the SPI (RFC 7296 section 3.3.1).
const PROPOSAL_HEADER_LEN: usize = 8;
/// Fixed part of a transform substructure, before the attributes (RFC 7296 section 3.3.2).
const TRANSFORM_HEADER_LEN: usize = 8;
/// Attribute Format bit: set for the 4-byte TV format (RFC 7296 section 3.3.5).
const ATTR_FORMAT_TV: u16 = 0x8000;

/// Key Length attribute type, in bits, always TV format (RFC 7296 section 3.3.5).
pub const ATTR_KEY_LENGTH: u16 = 14;

enum_with_unknown! {
    /// Security protocol identifiers (RFC 7296 section 3.3.1, IANA "IKEv2 Security Protocol
    /// Identifiers"); also used by Notify and Delete.
    pub enum ProtocolId(u8) {
        /// Reserved; what a Notify without SPI carries (RFC 7296 section 3.10).
        Reserved = 0 => "NONE",
        /// IKE (RFC 7296 section 3.3.1).
        Ike = 1 => "IKE",
        /// AH (RFC 4302).
        Ah = 2 => "AH",
        /// ESP (RFC 4303).
        Esp = 3 => "ESP",
    }
}

enum_with_unknown! {
    /// Transform types (RFC 7296 section 3.3.2, IANA "Transform Type Values").
    pub enum TransformType(u8) {
        /// Encryption Algorithm (ENCR).
        Encr = 1 => "ENCR",
        /// Pseudorandom Function (PRF).
        Prf = 2 => "PRF",
        /// Integrity Algorithm (INTEG).
        Integ = 3 => "INTEG",
        /// Diffie-Hellman group (D-H; "Key Exchange Method" in RFC 9370 section 2.2).
        Dh = 4 => "DH",
        /// Extended Sequence Numbers (ESN).
        Esn = 5 => "ESN",
    }
}

enum_with_unknown! {
    /// Transform type 1 IDs (RFC 7296 section 3.3.2, IANA "Transform Type 1 - Encryption
    /// Algorithm Transform IDs").
    pub enum EncrId(u16) {
        /// ENCR_3DES (RFC 2451).
        TripleDes = 3 => "ENCR_3DES",
        /// ENCR_NULL, ESP only (RFC 2410).
        Null = 11 => "ENCR_NULL",
        /// ENCR_AES_CBC, with a Key Length attribute (RFC 3602).
        AesCbc = 12 => "ENCR_AES_CBC",
        /// ENCR_AES_CTR (RFC 3686, RFC 5930).
        AesCtr = 13 => "ENCR_AES_CTR",
        /// ENCR_AES_CCM_8 (RFC 4309, RFC 5282).
        AesCcm8 = 14 => "ENCR_AES_CCM_8",
        /// ENCR_AES_CCM_12 (RFC 4309, RFC 5282).
        AesCcm12 = 15 => "ENCR_AES_CCM_12",
        /// ENCR_AES_CCM_16 (RFC 4309, RFC 5282).
        AesCcm16 = 16 => "ENCR_AES_CCM_16",
        /// ENCR_AES_GCM_8 (RFC 4106, RFC 5282).
        AesGcm8 = 18 => "ENCR_AES_GCM_8",
        /// ENCR_AES_GCM_12 (RFC 4106, RFC 5282).
        AesGcm12 = 19 => "ENCR_AES_GCM_12",
        /// ENCR_AES_GCM_16 (RFC 4106, RFC 5282).
        AesGcm16 = 20 => "ENCR_AES_GCM_16",
        /// ENCR_NULL_AUTH_AES_GMAC, ESP only (RFC 4543).
        NullAuthAesGmac = 21 => "ENCR_NULL_AUTH_AES_GMAC",
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        ChaCha20Poly1305 = 28 => "ENCR_CHACHA20_POLY1305",
    }
}

enum_with_unknown! {
    /// Transform type 2 IDs (RFC 7296 section 3.3.2, IANA "Transform Type 2 - Pseudorandom
    /// Function Transform IDs").
    pub enum PrfId(u16) {
        /// PRF_HMAC_MD5 (RFC 2104).
        HmacMd5 = 1 => "PRF_HMAC_MD5",
        /// PRF_HMAC_SHA1 (RFC 2104).
        HmacSha1 = 2 => "PRF_HMAC_SHA1",
        /// PRF_AES128_XCBC (RFC 4434).
        Aes128Xcbc = 4 => "PRF_AES128_XCBC",
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        HmacSha2_256 = 5 => "PRF_HMAC_SHA2_256",
        /// PRF_HMAC_SHA2_384 (RFC 4868).
        HmacSha2_384 = 6 => "PRF_HMAC_SHA2_384",
        /// PRF_HMAC_SHA2_512 (RFC 4868).
        HmacSha2_512 = 7 => "PRF_HMAC_SHA2_512",
        /// PRF_AES128_CMAC (RFC 4615).
        Aes128Cmac = 8 => "PRF_AES128_CMAC",
    }
}

enum_with_unknown! {
    /// Transform type 3 IDs (RFC 7296 section 3.3.2, IANA "Transform Type 3 - Integrity
    /// Algorithm Transform IDs").
    pub enum IntegId(u16) {
        /// NONE: no separate integrity (AEAD ciphers, RFC 5282 section 8).
        None = 0 => "NONE",
        /// AUTH_HMAC_MD5_96 (RFC 2403).
        HmacMd5_96 = 1 => "AUTH_HMAC_MD5_96",
        /// AUTH_HMAC_SHA1_96 (RFC 2404).
        HmacSha1_96 = 2 => "AUTH_HMAC_SHA1_96",
        /// AUTH_AES_XCBC_96 (RFC 3566).
        AesXcbc96 = 5 => "AUTH_AES_XCBC_96",
        /// AUTH_AES_CMAC_96 (RFC 4494).
        AesCmac96 = 8 => "AUTH_AES_CMAC_96",
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        HmacSha2_256_128 = 12 => "AUTH_HMAC_SHA2_256_128",
        /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
        HmacSha2_384_192 = 13 => "AUTH_HMAC_SHA2_384_192",
        /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
        HmacSha2_512_256 = 14 => "AUTH_HMAC_SHA2_512_256",
    }
}

enum_with_unknown! {
    /// Transform type 4 IDs (RFC 7296 section 3.3.2, IANA "Transform Type 4 - Diffie-Hellman
    /// Group Transform IDs"); also the DH Group Num of the KE payload (section 3.4).
    pub enum DhGroup(u16) {
        /// NONE (RFC 7296 section 3.3.2).
        None = 0 => "NONE",
        /// 768-bit MODP (RFC 7296 appendix B.1).
        Modp768 = 1 => "MODP_768",
        /// 1024-bit MODP (RFC 7296 appendix B.2).
        Modp1024 = 2 => "MODP_1024",
        /// 1536-bit MODP (RFC 3526 section 2).
        Modp1536 = 5 => "MODP_1536",
        /// 2048-bit MODP (RFC 3526 section 3).
        Modp2048 = 14 => "MODP_2048",
        /// 3072-bit MODP (RFC 3526 section 4).
        Modp3072 = 15 => "MODP_3072",
        /// 4096-bit MODP (RFC 3526 section 5).
        Modp4096 = 16 => "MODP_4096",
        /// 6144-bit MODP (RFC 3526 section 6).
        Modp6144 = 17 => "MODP_6144",
        /// 8192-bit MODP (RFC 3526 section 7).
        Modp8192 = 18 => "MODP_8192",
        /// 256-bit random ECP, NIST P-256 (RFC 5903).
        Ecp256 = 19 => "ECP_256",
        /// 384-bit random ECP, NIST P-384 (RFC 5903).
        Ecp384 = 20 => "ECP_384",
        /// 521-bit random ECP, NIST P-521 (RFC 5903).
        Ecp521 = 21 => "ECP_521",
        /// 2048-bit MODP with 256-bit prime order subgroup (RFC 5114 section 2.3).
        Modp2048s256 = 24 => "MODP_2048_256",
        /// Curve25519 (RFC 8031).
        Curve25519 = 31 => "CURVE_25519",
        /// Curve448 (RFC 8031).
        Curve448 = 32 => "CURVE_448",
    }
}

enum_with_unknown! {
    /// Transform type 5 IDs (RFC 7296 section 3.3.2, IANA "Transform Type 5 - Extended
    /// Sequence Numbers Transform IDs").
    pub enum EsnId(u16) {
        /// No Extended Sequence Numbers.
        No = 0 => "NO_ESN",
        /// Extended Sequence Numbers.
        Yes = 1 => "ESN",
    }
}

/// The value of a transform attribute (RFC 7296 section 3.3.5).
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum AttributeValue {
    /// TV format (AF = 1): a 16-bit value in the length field's place.
    Tv(u16),
    /// TLV format (AF = 0): a length-prefixed value.
    Tlv(Vec<u8>),
}

/// A transform attribute (RFC 7296 section 3.3.5).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Attribute {
    /// Attribute Type (15 bits).
    pub attr_type: u16,
    /// The value, with its format.
    pub value: AttributeValue,
}

impl Attribute {
    /// A Key Length attribute ([`ATTR_KEY_LENGTH`]), in bits.
    pub fn key_length(bits: u16) -> Attribute {
        Attribute { attr_type: ATTR_KEY_LENGTH, value: AttributeValue::Tv(bits) }
    }

    fn buffer_len(&self) -> usize {
        match &self.value {
            AttributeValue::Tv(_) => 4,
            AttributeValue::Tlv(v) => 4 + v.len(),
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Attribute> {
        let word = r.u16()?;
        let attr_type = word & !ATTR_FORMAT_TV;
        let value = if word & ATTR_FORMAT_TV != 0 {
            AttributeValue::Tv(r.u16()?)
        } else {
            let len = usize::from(r.u16()?);
            AttributeValue::Tlv(r.bytes(len)?.to_vec())
        };
        if attr_type == ATTR_KEY_LENGTH && !matches!(value, AttributeValue::Tv(_)) {
            return Err(Error::Malformed("Key Length attribute not in TV format"));
        }
        Ok(Attribute { attr_type, value })
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        if self.attr_type & ATTR_FORMAT_TV != 0 {
            return Err(Error::Malformed("attribute type above 15 bits"));
        }
        match &self.value {
            AttributeValue::Tv(v) => {
                w.u16(self.attr_type | ATTR_FORMAT_TV)?;
                w.u16(*v)
            }
            AttributeValue::Tlv(v) => {
                w.u16(self.attr_type)?;
                w.u16(len16(v.len())?)?;
                w.bytes(v)
            }
        }
    }
}

/// A transform substructure (RFC 7296 section 3.3.2).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Transform {
    /// Transform Type.
    pub transform_type: TransformType,
    /// Transform ID; its meaning depends on the type ([`EncrId`], [`PrfId`], [`IntegId`],
    /// [`DhGroup`], [`EsnId`]).
    pub transform_id: u16,
    /// Transform attributes, in order.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, transform_id: u16) -> Transform {
        Transform { transform_type, transform_id, attributes: Vec::new() }
    }

    /// This transform with a Key Length attribute, in bits.
    pub fn with_key_length(mut self, bits: u16) -> Transform {
        self.attributes.push(Attribute::key_length(bits));
        self
    }

    /// The Key Length attribute, in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Tv(bits) if a.attr_type == ATTR_KEY_LENGTH => Some(bits),
            _ => None,
        })
    }

    fn buffer_len(&self) -> usize {
        TRANSFORM_HEADER_LEN + self.attributes.iter().map(Attribute::buffer_len).sum::<usize>()
    }

    /// Parses one transform substructure from the front of `r`; returns it and whether
    /// another transform follows.
    fn parse(r: &mut Reader<'_>) -> Result<(Transform, bool)> {
        let last = r.u8()?;
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        let body = len.checked_sub(4).ok_or(Error::BadLength)?;
        let mut t = Reader::new(r.bytes(body)?);
        let transform_type = TransformType::from(t.u8()?);
        let _reserved = t.u8()?;
        let transform_id = t.u16()?;
        let mut attributes = Vec::new();
        while !t.is_empty() {
            attributes.push(Attribute::parse(&mut t)?);
        }
        let more = match last {
            LAST => false,
            MORE_TRANSFORMS => true,
            _ => return Err(Error::Malformed("transform Last Substruc not 0 or 3")),
        };
        Ok((Transform { transform_type, transform_id, attributes }, more))
    }

    fn emit(&self, w: &mut Writer<'_>, last: bool) -> Result<()> {
        w.u8(if last { LAST } else { MORE_TRANSFORMS })?;
        w.u8(0)?;
        w.u16(len16(self.buffer_len())?)?;
        w.u8(self.transform_type.into())?;
        w.u8(0)?;
        w.u16(self.transform_id)?;
        self.attributes.iter().try_for_each(|a| a.emit(w))
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.transform_id;
        match self.transform_type {
            TransformType::Encr => write!(f, "{}", EncrId::from(id))?,
            TransformType::Prf => write!(f, "{}", PrfId::from(id))?,
            TransformType::Integ => write!(f, "{}", IntegId::from(id))?,
            TransformType::Dh => write!(f, "{}", DhGroup::from(id))?,
            TransformType::Esn => write!(f, "{}", EsnId::from(id))?,
            TransformType::Unknown(t) => write!(f, "TRANSFORM({t})={id}")?,
        }
        match self.key_length() {
            Some(bits) => write!(f, "_{bits}"),
            None => Ok(()),
        }
    }
}

/// A proposal substructure (RFC 7296 section 3.3.1).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Proposal {
    /// Proposal Num: 1 for the first, counting up in a request; the chosen one's in a reply.
    pub number: u8,
    /// Protocol ID.
    pub protocol: ProtocolId,
    /// The SPI: empty for the IKE SA of an IKE_SA_INIT, 8 bytes for an IKE SA rekey, 4 for
    /// AH and ESP.
    pub spi: Vec<u8>,
    /// The transforms, at least one.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// Checks the SPI size against the protocol (RFC 7296 section 3.3.1): IKE 0 or 8, AH and
    /// ESP 4, anything else 0, 4 or 8.
    fn check_spi_size(protocol: ProtocolId, size: usize) -> Result<()> {
        let ok = match protocol {
            ProtocolId::Ike => matches!(size, 0 | 8),
            ProtocolId::Ah | ProtocolId::Esp => size == 4,
            _ => matches!(size, 0 | 4 | 8),
        };
        if ok { Ok(()) } else { Err(Error::InvalidSpiSize(u8::try_from(size).unwrap_or(u8::MAX))) }
    }

    /// The 4-byte SPI of an AH or ESP proposal.
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice()).ok().map(u32::from_be_bytes)
    }

    /// The transforms of one type, in order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.transform_type == ty)
    }

    fn buffer_len(&self) -> usize {
        PROPOSAL_HEADER_LEN
            + self.spi.len()
            + self.transforms.iter().map(Transform::buffer_len).sum::<usize>()
    }

    fn parse(r: &mut Reader<'_>) -> Result<(Proposal, bool)> {
        let last = r.u8()?;
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        let body = len.checked_sub(4).ok_or(Error::BadLength)?;
        let mut p = Reader::new(r.bytes(body)?);
        let number = p.u8()?;
        let protocol = ProtocolId::from(p.u8()?);
        let spi_size = p.u8()?;
        let count = p.u8()?;
        Self::check_spi_size(protocol, usize::from(spi_size))?;
        let spi = p.bytes(usize::from(spi_size))?.to_vec();
        if count == 0 {
            return Err(Error::Malformed("proposal without transforms"));
        }
        let mut transforms = Vec::with_capacity(usize::from(count));
        loop {
            let (transform, more) = Transform::parse(&mut p)?;
            transforms.push(transform);
            if !more {
                break;
            }
        }
        if !p.is_empty() {
            return Err(Error::Malformed("bytes after the last transform"));
        }
        if transforms.len() != usize::from(count) {
            return Err(Error::Malformed("Num Transforms disagrees with the transforms"));
        }
        let more = match last {
            LAST => false,
            MORE_PROPOSALS => true,
            _ => return Err(Error::Malformed("proposal Last Substruc not 0 or 2")),
        };
        Ok((Proposal { number, protocol, spi, transforms }, more))
    }

    fn emit(&self, w: &mut Writer<'_>, last: bool) -> Result<()> {
        Self::check_spi_size(self.protocol, self.spi.len())?;
        let count = u8::try_from(self.transforms.len()).map_err(|_| Error::TooLong)?;
        if count == 0 {
            return Err(Error::Malformed("proposal without transforms"));
        }
        w.u8(if last { LAST } else { MORE_PROPOSALS })?;
        w.u8(0)?;
        w.u16(len16(self.buffer_len())?)?;
        w.u8(self.number)?;
        w.u8(self.protocol.into())?;
        w.u8(u8::try_from(self.spi.len()).map_err(|_| Error::TooLong)?)?;
        w.u8(count)?;
        w.bytes(&self.spi)?;
        let n = self.transforms.len();
        self.transforms.iter().enumerate().try_for_each(|(i, t)| t.emit(w, i + 1 == n))
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.number, self.protocol)?;
        if !self.spi.is_empty() {
            write!(f, " spi={}", super::Hex(&self.spi))?;
        }
        let mut sep = ":";
        for t in &self.transforms {
            write!(f, "{sep}{t}")?;
            sep = "/";
        }
        Ok(())
    }
}

/// The SA payload body (RFC 7296 section 3.3): one or more proposals.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct SaRepr {
    /// The proposals, in order of preference.
    pub proposals: Vec<Proposal>,
}

impl PayloadBody for SaRepr {
    fn parse(body: &[u8]) -> Result<SaRepr> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        loop {
            let (proposal, more) = Proposal::parse(&mut r)?;
            proposals.push(proposal);
            if !more {
                break;
            }
        }
        if !r.is_empty() {
            return Err(Error::Malformed("bytes after the last proposal"));
        }
        Ok(SaRepr { proposals })
    }

    fn buffer_len(&self) -> usize {
        self.proposals.iter().map(Proposal::buffer_len).sum()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if self.proposals.is_empty() {
            return Err(Error::Malformed("SA payload without proposals"));
        }
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        let n = self.proposals.len();
        self.proposals.iter().enumerate().try_for_each(|(i, p)| p.emit(&mut w, i + 1 == n))
    }
}

impl fmt::Display for SaRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SA")?;
        for p in &self.proposals {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    /// Two proposals: #1 IKE (no SPI) with ENCR_AES_CBC key length 256, PRF_HMAC_SHA2_256,
    /// AUTH_HMAC_SHA2_256_128, DH 19; #2 ESP with SPI 0xc1c2c3c4, ENCR_AES_GCM_16 key length
    /// 128 and ESN NO.
    static SA_BYTES: [u8; 76] = [
        // proposal 1: more (2), length 44, #1, IKE, SPI size 0, 4 transforms
        0x02, 0x00, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x04,
        // transform: more (3), length 12, ENCR, AES_CBC (12), attr TV key length 256
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c, 0x80, 0x0e, 0x01, 0x00,
        // transform: more, length 8, PRF, HMAC_SHA2_256 (5)
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05,
        // transform: more, length 8, INTEG, HMAC_SHA2_256_128 (12)
        0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c,
        // transform: last (0), length 8, DH, ECP_256 (19)
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x13,
        // proposal 2: last, length 32, #2, ESP, SPI size 4, 2 transforms, SPI
        0x00, 0x00, 0x00, 0x20, 0x02, 0x03, 0x04, 0x02, 0xc1, 0xc2, 0xc3, 0xc4,
        // transform: more, length 12, ENCR, AES_GCM_16 (20), key length 128
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x00, 0x80,
        // transform: last, length 8, ESN, NO (0)
        0x00, 0x00, 0x00, 0x08, 0x05, 0x00, 0x00, 0x00,
    ];

    fn repr() -> SaRepr {
        SaRepr {
            proposals: vec![
                Proposal {
                    number: 1,
                    protocol: ProtocolId::Ike,
                    spi: vec![],
                    transforms: vec![
                        Transform::new(TransformType::Encr, EncrId::AesCbc.into())
                            .with_key_length(256),
                        Transform::new(TransformType::Prf, PrfId::HmacSha2_256.into()),
                        Transform::new(TransformType::Integ, IntegId::HmacSha2_256_128.into()),
                        Transform::new(TransformType::Dh, DhGroup::Ecp256.into()),
                    ],
                },
                Proposal {
                    number: 2,
                    protocol: ProtocolId::Esp,
                    spi: vec![0xc1, 0xc2, 0xc3, 0xc4],
                    transforms: vec![
                        Transform::new(TransformType::Encr, EncrId::AesGcm16.into())
                            .with_key_length(128),
                        Transform::new(TransformType::Esn, EsnId::No.into()),
                    ],
                },
            ],
        }
    }

    #[test]
    fn test_body() {
        check_body(&SA_BYTES, &repr(), SA_BYTES.len());
    }

    #[test]
    fn test_deconstruct() {
        let sa = SaRepr::parse(&SA_BYTES).unwrap();
        assert_eq!(sa.proposals[0].transforms[0].key_length(), Some(256));
        assert_eq!(sa.proposals[1].spi_u32(), Some(0xc1c2_c3c4));
        assert_eq!(sa.proposals[0].transforms_of(TransformType::Dh).count(), 1);
        assert_eq!(
            sa.to_string(),
            "SA #1 IKE:ENCR_AES_CBC_256/PRF_HMAC_SHA2_256/AUTH_HMAC_SHA2_256_128/ECP_256 \
             #2 ESP spi=c1c2c3c4:ENCR_AES_GCM_16_128/NO_ESN"
        );
    }

    #[test]
    fn test_malformed() {
        // Num Transforms 5 where 4 follow.
        let mut b = SA_BYTES;
        b[7] = 5;
        assert!(matches!(SaRepr::parse(&b), Err(Error::Malformed(_))));
        // ESP with an 8-byte SPI.
        let mut b = SA_BYTES;
        b[50] = 8;
        assert_eq!(SaRepr::parse(&b), Err(Error::InvalidSpiSize(8)));
        // The last transform says "more".
        let mut b = SA_BYTES;
        b[36] = 3;
        assert!(SaRepr::parse(&b).is_err());
        // Last Substruc 1 is neither value.
        let mut b = SA_BYTES;
        b[0] = 1;
        assert!(SaRepr::parse(&b).is_err());
        // Key length in TLV format.
        let mut b = SA_BYTES;
        b[16] = 0x00;
        assert!(SaRepr::parse(&b).is_err());
        // Transform length 3.
        let mut b = SA_BYTES;
        b[11] = 3;
        assert_eq!(SaRepr::parse(&b), Err(Error::BadLength));
        assert!(SaRepr::parse(&[]).is_err());
        let mut extra = SA_BYTES.to_vec();
        extra.push(0);
        assert!(SaRepr::parse(&extra).is_err());
    }

    #[test]
    fn test_emit_invalid() {
        assert!(SaRepr { proposals: vec![] }.to_vec().is_err());
        let mut r = repr();
        r.proposals[1].spi = vec![1, 2];
        assert_eq!(r.to_vec(), Err(Error::InvalidSpiSize(2)));
        let mut r = repr();
        r.proposals[0].transforms[1]
            .attributes
            .push(Attribute { attr_type: 0x8001, value: AttributeValue::Tv(1) });
        assert!(r.to_vec().is_err());
    }

    #[test]
    fn test_tlv_attribute() {
        let mut r = repr();
        r.proposals[0].transforms[1]
            .attributes
            .push(Attribute { attr_type: 17, value: AttributeValue::Tlv(vec![9, 8, 7]) });
        let bytes = r.to_vec().unwrap();
        assert_eq!(bytes.len(), SA_BYTES.len() + 7);
        assert_eq!(SaRepr::parse(&bytes).unwrap(), r);
    }
}
