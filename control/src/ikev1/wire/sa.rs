//! The Security Association payload with its Proposal and Transform substructures (RFC 2408
//! sections 3.4 to 3.6) and the IPsec DOI code points they carry (RFC 2407 section 4, RFC
//! 2409 appendix A).

use super::attr::parse_attributes;
use super::codec::{Mode, Reader, Result, clamped, fit, patch_len16, strict};
use super::{Attribute, PayloadType, WireError};

/// The IPsec Domain of Interpretation (RFC 2407 section 4.2).
pub const DOI_IPSEC: u32 = 1;
/// SIT_IDENTITY_ONLY (RFC 2407 section 4.2.1): the only situation without extra fields.
pub const SIT_IDENTITY_ONLY: u32 = 1;
/// SIT_SECRECY (RFC 2407 section 4.2.2): adds labelled-domain secrecy fields.
pub const SIT_SECRECY: u32 = 2;
/// SIT_INTEGRITY (RFC 2407 section 4.2.3): adds labelled-domain integrity fields.
pub const SIT_INTEGRITY: u32 = 4;
/// KEY_IKE: the one transform ID of a phase 1 (PROTO_ISAKMP) proposal (RFC 2407 section
/// 4.4.2).
pub const KEY_IKE: u8 = 1;

/// Most proposals one SA payload may hold. Real offers stay far below it (a Cisco client's
/// Quick Mode offers about a dozen); the bound keeps a hostile SA of 8-byte proposals from
/// costing thousands of allocations.
pub const MAX_PROPOSALS: usize = 64;

/// Size of a proposal's fixed part: generic header, number, protocol, SPI size, count.
const PROPOSAL_MIN: usize = 8;
/// Size of a transform's fixed part: generic header, number, ID, two reserved octets.
const TRANSFORM_MIN: usize = 8;

/// Protocol IDs (RFC 2407 section 4.4.1).
pub mod protocol {
    /// PROTO_ISAKMP: the phase 1 SA.
    pub const ISAKMP: u8 = 1;
    /// PROTO_IPSEC_AH.
    pub const AH: u8 = 2;
    /// PROTO_IPSEC_ESP.
    pub const ESP: u8 = 3;
    /// PROTO_IPCOMP.
    pub const IPCOMP: u8 = 4;
}

/// Phase 1 (ISAKMP SA) attribute types and values (RFC 2409 appendix A, RFC 4754 for
/// ECDSA, draft-beaulieu-ike-xauth for the hybrid XAUTH methods).
pub mod p1attr {
    /// Encryption algorithm.
    pub const ENCRYPTION: u16 = 1;
    /// Hash algorithm.
    pub const HASH: u16 = 2;
    /// Authentication method.
    pub const AUTH_METHOD: u16 = 3;
    /// Group description (the Diffie-Hellman group number).
    pub const GROUP: u16 = 4;
    /// Group type.
    pub const GROUP_TYPE: u16 = 5;
    /// Life type.
    pub const LIFE_TYPE: u16 = 11;
    /// Life duration (basic or variable).
    pub const LIFE_DURATION: u16 = 12;
    /// PRF.
    pub const PRF: u16 = 13;
    /// Key length in bits, for variable-key ciphers.
    pub const KEY_LENGTH: u16 = 14;

    /// DES-CBC.
    pub const ENC_DES_CBC: u16 = 1;
    /// 3DES-CBC.
    pub const ENC_3DES_CBC: u16 = 5;
    /// AES-CBC (RFC 3602).
    pub const ENC_AES_CBC: u16 = 7;

    /// MD5.
    pub const HASH_MD5: u16 = 1;
    /// SHA-1.
    pub const HASH_SHA1: u16 = 2;
    /// SHA2-256 (RFC 4868).
    pub const HASH_SHA2_256: u16 = 4;
    /// SHA2-384.
    pub const HASH_SHA2_384: u16 = 5;
    /// SHA2-512.
    pub const HASH_SHA2_512: u16 = 6;

    /// Pre-shared key.
    pub const AUTH_PSK: u16 = 1;
    /// DSS signatures.
    pub const AUTH_DSS: u16 = 2;
    /// RSA signatures.
    pub const AUTH_RSA_SIG: u16 = 3;
    /// ECDSA with SHA-256 on P-256 (RFC 4754).
    pub const AUTH_ECDSA_256: u16 = 9;
    /// ECDSA with SHA-384 on P-384.
    pub const AUTH_ECDSA_384: u16 = 10;
    /// ECDSA with SHA-512 on P-521.
    pub const AUTH_ECDSA_521: u16 = 11;
    /// XAUTHInitPreShared.
    pub const AUTH_XAUTH_INIT_PSK: u16 = 65001;
    /// XAUTHRespPreShared.
    pub const AUTH_XAUTH_RESP_PSK: u16 = 65002;
    /// XAUTHInitRSA.
    pub const AUTH_XAUTH_INIT_RSA: u16 = 65005;
    /// XAUTHRespRSA.
    pub const AUTH_XAUTH_RESP_RSA: u16 = 65006;

    /// Life type seconds.
    pub const LIFE_SECONDS: u16 = 1;
    /// Life type kilobytes.
    pub const LIFE_KILOBYTES: u16 = 2;
}

/// Phase 2 (IPsec SA) attribute types and values (RFC 2407 section 4.5, RFC 3947 section 5
/// and its drafts for UDP encapsulation, RFC 4304 for ESN).
pub mod p2attr {
    /// SA life type.
    pub const LIFE_TYPE: u16 = 1;
    /// SA life duration (basic or variable).
    pub const LIFE_DURATION: u16 = 2;
    /// Group description (PFS group).
    pub const GROUP: u16 = 3;
    /// Encapsulation mode.
    pub const ENCAP_MODE: u16 = 4;
    /// Authentication algorithm.
    pub const AUTH_ALG: u16 = 5;
    /// Key length in bits.
    pub const KEY_LENGTH: u16 = 6;
    /// Extended (64-bit) sequence numbers (RFC 4304).
    pub const ESN: u16 = 11;

    /// Tunnel mode.
    pub const ENCAP_TUNNEL: u16 = 1;
    /// Transport mode.
    pub const ENCAP_TRANSPORT: u16 = 2;
    /// UDP-encapsulated tunnel (RFC 3947).
    pub const ENCAP_UDP_TUNNEL: u16 = 3;
    /// UDP-encapsulated transport (RFC 3947).
    pub const ENCAP_UDP_TRANSPORT: u16 = 4;
    /// UDP-encapsulated tunnel, NAT-T drafts (sent by older Cisco and Windows peers).
    pub const ENCAP_UDP_TUNNEL_DRAFT: u16 = 61443;
    /// UDP-encapsulated transport, NAT-T drafts.
    pub const ENCAP_UDP_TRANSPORT_DRAFT: u16 = 61444;

    /// HMAC-MD5.
    pub const AUTH_HMAC_MD5: u16 = 1;
    /// HMAC-SHA1.
    pub const AUTH_HMAC_SHA1: u16 = 2;
    /// HMAC-SHA2-256 (RFC 4868).
    pub const AUTH_HMAC_SHA2_256: u16 = 5;
    /// HMAC-SHA2-384.
    pub const AUTH_HMAC_SHA2_384: u16 = 6;
    /// HMAC-SHA2-512.
    pub const AUTH_HMAC_SHA2_512: u16 = 7;

    /// Life type seconds.
    pub const LIFE_SECONDS: u16 = 1;
    /// Life type kilobytes.
    pub const LIFE_KILOBYTES: u16 = 2;
}

/// IPsec ESP transform IDs (RFC 2407 section 4.4.4, IANA "IPsec ESP Transform Identifiers").
pub mod esp_id {
    /// ESP_DES.
    pub const ESP_DES: u8 = 2;
    /// ESP_3DES.
    pub const ESP_3DES: u8 = 3;
    /// ESP_NULL.
    pub const ESP_NULL: u8 = 11;
    /// ESP_AES (CBC).
    pub const ESP_AES_CBC: u8 = 12;
    /// ESP_AES-CTR.
    pub const ESP_AES_CTR: u8 = 13;
    /// ESP_AES-GCM with an 8-octet ICV.
    pub const ESP_AES_GCM_8: u8 = 18;
    /// ESP_AES-GCM with a 12-octet ICV.
    pub const ESP_AES_GCM_12: u8 = 19;
    /// ESP_AES-GCM with a 16-octet ICV.
    pub const ESP_AES_GCM_16: u8 = 20;
    /// ESP_NULL_AUTH_AES-GMAC.
    pub const ESP_NULL_AUTH_AES_GMAC: u8 = 23;
}

/// One transform: an algorithm suite as attributes (RFC 2408 section 3.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform number, unique within the proposal.
    pub number: u8,
    /// Transform ID: [`KEY_IKE`] in phase 1, an [`esp_id`] value for ESP.
    pub id: u8,
    /// SA attributes, in order.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// The first attribute of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&super::AttrValue> {
        self.attributes.iter().find(|a| a.kind == kind).map(|a| &a.value)
    }

    /// Parses a transform body (after its generic header). The two reserved octets are
    /// ignored.
    fn parse(body: &[u8]) -> Result<Transform> {
        let mut r = Reader::new(body, "transform");
        let number = r.u8()?;
        let id = r.u8()?;
        let _reserved = r.u16()?;
        let attributes = parse_attributes(r.rest(), "transform attribute")?;
        Ok(Transform { number, id, attributes })
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(&[next, 0, 0, 0, self.number, self.id, 0, 0]);
        self.attributes.iter().try_for_each(|a| a.emit(out, mode))?;
        patch_len16(out, start, mode, "transform length")
    }
}

/// One proposal: a protocol, its SPI and the transforms offered for it (RFC 2408 section
/// 3.5). Proposals sharing a number are ANDed (e.g. AH with ESP); the list keeps them flat,
/// in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposal number.
    pub number: u8,
    /// Protocol ID ([`protocol`]).
    pub protocol: u8,
    /// SPI: empty (or the 16 cookie bytes) in phase 1, 4 bytes for AH / ESP, 2 for IPComp.
    pub spi: Vec<u8>,
    /// The transforms, in order of preference.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// Parses a proposal body (after its generic header): the fixed fields, the SPI, then
    /// exactly the announced number of transforms, each chained with next-payload 3 and the
    /// last with 0, filling the body exactly.
    fn parse(body: &[u8]) -> Result<Proposal> {
        let mut r = Reader::new(body, "proposal");
        let number = r.u8()?;
        let protocol = r.u8()?;
        let spi_size = r.u8()?;
        let count = usize::from(r.u8()?);
        let spi = r.bytes(usize::from(spi_size))?.to_vec();
        let mut transforms = Vec::with_capacity(count.min(r.remaining() / TRANSFORM_MIN));
        for i in 0..count {
            if r.is_empty() {
                return Err(WireError::CountMismatch {
                    what: "proposal transforms",
                    declared: count,
                    found: i,
                });
            }
            let expected = if i + 1 == count { 0 } else { u8::from(PayloadType::Transform) };
            let (next, body) = substructure(&mut r, "transform", TRANSFORM_MIN)?;
            if next != expected {
                return Err(WireError::BadSubstructure { what: "transform", next, expected });
            }
            transforms.push(Transform::parse(body)?);
        }
        r.finish()?;
        Ok(Proposal { number, protocol, spi, transforms })
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        let start = out.len();
        let spi_len = fit(mode, "proposal SPI", self.spi.len(), usize::from(u8::MAX))?;
        let count = fit(mode, "proposal transforms", self.transforms.len(), usize::from(u8::MAX))?;
        out.extend_from_slice(&[next, 0, 0, 0, self.number, self.protocol]);
        out.push(u8::try_from(spi_len).unwrap_or(u8::MAX));
        out.push(u8::try_from(count).unwrap_or(u8::MAX));
        out.extend_from_slice(self.spi.get(..spi_len).unwrap_or(&self.spi));
        let transforms = self.transforms.get(..count).unwrap_or(&self.transforms);
        for (i, t) in transforms.iter().enumerate() {
            let next = if i + 1 == count { 0 } else { u8::from(PayloadType::Transform) };
            t.emit(next, out, mode)?;
        }
        patch_len16(out, start, mode, "proposal length")
    }
}

/// Reads one Proposal or Transform substructure: a generic header (next, reserved, length)
/// whose length is at least `min` and within the reader. Returns the next-payload field and
/// the body after the header.
fn substructure<'a>(r: &mut Reader<'a>, what: &'static str, min: usize) -> Result<(u8, &'a [u8])> {
    let next = r.u8()?;
    let _reserved = r.u8()?;
    let len = usize::from(r.u16()?);
    if len < min {
        return Err(WireError::BadLength { what, len, min });
    }
    let body = r.bytes(len - 4)?;
    Ok((next, body))
}

/// The SA payload body (RFC 2408 section 3.4, RFC 2407 section 4.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaPayload {
    /// Domain of Interpretation: [`DOI_IPSEC`].
    pub doi: u32,
    /// Situation bitmap: [`SIT_IDENTITY_ONLY`].
    pub situation: u32,
    /// The proposals, in wire order.
    pub proposals: Vec<Proposal>,
}

impl SaPayload {
    /// Parses an SA payload body (after the generic header): DOI, a 4-byte situation, then
    /// proposals chained with next-payload 2, the last with 0, filling the body exactly.
    ///
    /// Refuses a situation with the secrecy or integrity bits ([`SIT_SECRECY`],
    /// [`SIT_INTEGRITY`]): they append labelled-domain fields before the proposals, which no
    /// peer of a concentrator sends. An SA with no proposals parses (to an empty list); the
    /// negotiation answers it with NO-PROPOSAL-CHOSEN.
    pub fn parse(body: &[u8]) -> core::result::Result<SaPayload, WireError> {
        let mut r = Reader::new(body, "SA payload");
        let doi = r.u32()?;
        let situation = r.u32()?;
        if situation & (SIT_SECRECY | SIT_INTEGRITY) != 0 {
            return Err(WireError::UnsupportedSituation(situation));
        }
        let mut proposals = Vec::new();
        let mut next = if r.is_empty() { 0 } else { u8::from(PayloadType::Proposal) };
        while next != 0 {
            if proposals.len() == MAX_PROPOSALS {
                return Err(WireError::TooManyProposals);
            }
            let (n, body) = substructure(&mut r, "proposal", PROPOSAL_MIN)?;
            if n != 0 && n != u8::from(PayloadType::Proposal) {
                return Err(WireError::BadSubstructure {
                    what: "proposal",
                    next: n,
                    expected: PayloadType::Proposal.into(),
                });
            }
            proposals.push(Proposal::parse(body)?);
            next = n;
        }
        r.finish()?;
        Ok(SaPayload { doi, situation, proposals })
    }

    /// The payload body without its generic header: SAi_b of RFC 2409 section 5, the bytes
    /// HASH_I and HASH_R cover. Values that do not fit their fields are cut to fit.
    pub fn body_bytes(&self) -> Vec<u8> {
        clamped(|out, mode| self.emit(out, mode))
    }

    /// The body bytes, or [`WireError::TooLong`] if a value does not fit its field.
    pub fn try_body_bytes(&self) -> core::result::Result<Vec<u8>, WireError> {
        strict(|out, mode| self.emit(out, mode))
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.extend_from_slice(&self.situation.to_be_bytes());
        let count = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 == count { 0 } else { u8::from(PayloadType::Proposal) };
            p.emit(next, out, mode)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikev1::wire::AttrValue;
    use hex_literal::hex;

    fn esp_offer() -> SaPayload {
        SaPayload {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![
                Proposal {
                    number: 1,
                    protocol: protocol::ESP,
                    spi: vec![0xc0, 0x01, 0x02, 0x03],
                    transforms: vec![
                        Transform {
                            number: 1,
                            id: esp_id::ESP_AES_CBC,
                            attributes: vec![
                                Attribute::basic(p2attr::KEY_LENGTH, 256),
                                Attribute::basic(p2attr::AUTH_ALG, p2attr::AUTH_HMAC_SHA2_256),
                            ],
                        },
                        Transform { number: 2, id: esp_id::ESP_3DES, attributes: vec![] },
                    ],
                },
                Proposal { number: 2, protocol: protocol::AH, spi: vec![0; 4], transforms: vec![] },
            ],
        }
    }

    const ESP_OFFER: [u8; 56] = hex!(
        "00000001 00000001"
        "02 00 0024 01 03 04 02 c0010203"
        "  03 00 0010 01 0c 0000 8006 0100 8005 0005"
        "  00 00 0008 02 03 0000"
        "00 00 000c 02 02 04 00 00000000"
    );

    #[test]
    fn layout_and_round_trip() {
        let sa = esp_offer();
        assert_eq!(sa.body_bytes(), ESP_OFFER);
        assert_eq!(sa.try_body_bytes().unwrap(), ESP_OFFER);
        assert_eq!(SaPayload::parse(&ESP_OFFER), Ok(sa.clone()));
        assert_eq!(
            sa.proposals[0].transforms[0].get(p2attr::KEY_LENGTH),
            Some(&AttrValue::Basic(256))
        );
    }

    #[test]
    fn structure_errors() {
        // A proposal chained with next-payload 3.
        let mut b = ESP_OFFER;
        b[8] = 3;
        assert_eq!(
            SaPayload::parse(&b),
            Err(WireError::BadSubstructure { what: "proposal", next: 3, expected: 2 })
        );
        // The last transform chained with 3 instead of 0.
        let mut b = ESP_OFFER;
        b[36] = 3;
        assert_eq!(
            SaPayload::parse(&b),
            Err(WireError::BadSubstructure { what: "transform", next: 3, expected: 0 })
        );
        // Three transforms announced, two present: the second must chain to a third.
        let mut b = ESP_OFFER;
        b[15] = 3;
        assert_eq!(
            SaPayload::parse(&b),
            Err(WireError::BadSubstructure { what: "transform", next: 0, expected: 3 })
        );
        // ... and if it does, the proposal ends before the third.
        b[36] = 3;
        assert_eq!(
            SaPayload::parse(&b),
            Err(WireError::CountMismatch { what: "proposal transforms", declared: 3, found: 2 })
        );
        // One announced, two present.
        let mut b = ESP_OFFER;
        b[15] = 1;
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::BadSubstructure { what: "transform", next: 3, expected: 0 })
        ));
        // The last proposal says another follows, but the body ends.
        let mut b = ESP_OFFER;
        b[44] = 2;
        assert!(matches!(SaPayload::parse(&b), Err(WireError::Truncated { .. })));
        // Bytes after the last proposal.
        let mut b = ESP_OFFER.to_vec();
        b.push(0);
        assert_eq!(
            SaPayload::parse(&b),
            Err(WireError::TrailingBytes { what: "SA payload", extra: 1 })
        );
        // A proposal length below its fixed part.
        let mut b = ESP_OFFER;
        b[11] = 7;
        assert_eq!(
            SaPayload::parse(&b),
            Err(WireError::BadLength { what: "proposal", len: 7, min: 8 })
        );
        // A transform length below its fixed part.
        let mut b = ESP_OFFER;
        b[39] = 4;
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::BadLength { what: "transform", .. })
        ));
    }

    #[test]
    fn situations() {
        let mut b = ESP_OFFER;
        for (sit, ok) in [(1u32, true), (0, true), (3, false), (5, false), (0x8000_0001, true)] {
            b[4..8].copy_from_slice(&sit.to_be_bytes());
            assert_eq!(SaPayload::parse(&b).is_ok(), ok, "situation {sit:#x}");
        }
        b[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(SaPayload::parse(&b), Err(WireError::UnsupportedSituation(2)));
    }

    #[test]
    fn empty_sa_and_proposal_cap() {
        let empty = SaPayload { doi: 1, situation: 1, proposals: vec![] };
        assert_eq!(empty.body_bytes(), hex!("00000001 00000001"));
        assert_eq!(SaPayload::parse(&empty.body_bytes()), Ok(empty));
        let p = Proposal { number: 1, protocol: 3, spi: vec![], transforms: vec![] };
        let at_cap = SaPayload { doi: 1, situation: 1, proposals: vec![p.clone(); MAX_PROPOSALS] };
        assert_eq!(SaPayload::parse(&at_cap.body_bytes()), Ok(at_cap));
        let over = SaPayload { doi: 1, situation: 1, proposals: vec![p; MAX_PROPOSALS + 1] };
        assert_eq!(SaPayload::parse(&over.body_bytes()), Err(WireError::TooManyProposals));
    }

    #[test]
    fn oversize_fields_refused_or_clamped() {
        let t = Transform { number: 1, id: 12, attributes: vec![] };
        let p = Proposal { number: 1, protocol: 3, spi: vec![9; 300], transforms: vec![t; 256] };
        let sa = SaPayload { doi: 1, situation: 1, proposals: vec![p] };
        assert_eq!(
            sa.try_body_bytes(),
            Err(WireError::TooLong { what: "proposal SPI", len: 300, max: 255 })
        );
        let parsed = SaPayload::parse(&sa.body_bytes()).unwrap();
        assert_eq!(parsed.proposals[0].spi.len(), 255);
        assert_eq!(parsed.proposals[0].transforms.len(), 255);
    }
}
