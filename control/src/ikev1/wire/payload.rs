//! Payload types, the payload enum, the payload chain (RFC 2408 section 3.2) and whole
//! plaintext messages.

use core::ops::Range;

use super::codec::{Mode, Reader, Result, patch_len16};
use super::{
    CertPayload, ConfigAttributes, Delete, HEADER_LEN, Header, Identification, Notification,
    SaPayload, WireError, id_type,
};

/// Length of the generic payload header: next payload, reserved, length (RFC 2408 section
/// 3.2).
pub const GENERIC_HEADER_LEN: usize = 4;

/// Largest payload body: the 16-bit length field covers the generic header too.
pub const MAX_BODY_LEN: usize = u16::MAX as usize - GENERIC_HEADER_LEN;

/// Most payloads one chain may hold. ISAKMP sets no limit; a Main Mode message with every
/// vendor ID a client sends stays under 20, and a bound keeps a hostile chain of 4-byte
/// payloads from costing thousands of allocations.
pub const MAX_PAYLOADS: usize = 64;

enum_with_unknown! {
    /// Payload types (RFC 2408 section 3.1, RFC 3947 section 3, the NAT-T drafts, the
    /// proprietary IKE fragmentation).
    pub enum PayloadType(u8) {
        /// No next payload: the chain ends.
        None = 0 => "NONE",
        /// Security Association (RFC 2408 section 3.4).
        Sa = 1 => "SA",
        /// Proposal: only inside an SA (RFC 2408 section 3.5).
        Proposal = 2 => "P",
        /// Transform: only inside a proposal (RFC 2408 section 3.6).
        Transform = 3 => "T",
        /// Key Exchange (RFC 2408 section 3.7).
        Ke = 4 => "KE",
        /// Identification (RFC 2408 section 3.8).
        Id = 5 => "ID",
        /// Certificate (RFC 2408 section 3.9).
        Cert = 6 => "CERT",
        /// Certificate Request (RFC 2408 section 3.10).
        CertReq = 7 => "CR",
        /// Hash (RFC 2408 section 3.11).
        Hash = 8 => "HASH",
        /// Signature (RFC 2408 section 3.12).
        Signature = 9 => "SIG",
        /// Nonce (RFC 2408 section 3.13).
        Nonce = 10 => "NONCE",
        /// Notification (RFC 2408 section 3.14).
        Notify = 11 => "N",
        /// Delete (RFC 2408 section 3.15).
        Delete = 12 => "D",
        /// Vendor ID (RFC 2408 section 3.16).
        VendorId = 13 => "VID",
        /// Mode Config / XAUTH attributes (draft-dukes-ike-mode-cfg section 3.2).
        Attributes = 14 => "ATTR",
        /// NAT Discovery (RFC 3947 section 3.2).
        NatD = 20 => "NAT-D",
        /// NAT Original Address (RFC 3947 section 5.2).
        NatOa = 21 => "NAT-OA",
        /// NAT Discovery, NAT-T drafts 02 / 03.
        NatDDraft = 130 => "NAT-D(draft)",
        /// NAT Original Address, NAT-T drafts 02 / 03.
        NatOaDraft = 131 => "NAT-OA(draft)",
        /// IKE fragment (Cisco / Microsoft proprietary).
        Fragment = 132 => "FRAG",
    }
}

/// One payload, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Security Association.
    Sa(SaPayload),
    /// Key Exchange: the Diffie-Hellman public value.
    Ke(Vec<u8>),
    /// Identification.
    Id(Identification),
    /// Certificate.
    Cert(CertPayload),
    /// Certificate Request.
    CertReq(CertPayload),
    /// Hash.
    Hash(Vec<u8>),
    /// Signature.
    Signature(Vec<u8>),
    /// Nonce.
    Nonce(Vec<u8>),
    /// Notification.
    Notify(Notification),
    /// Delete.
    Delete(Delete),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// Mode Config / XAUTH attributes.
    Attributes(ConfigAttributes),
    /// NAT-D hash; received as type 20 or 130, emitted as 20.
    NatD(Vec<u8>),
    /// NAT-OA original address (ID_IPV4_ADDR or ID_IPV6_ADDR only); received as type 21 or
    /// 131, emitted as 21.
    NatOa(Identification),
    /// Any other payload type, with its raw body.
    Unknown {
        /// The payload type.
        kind: PayloadType,
        /// The body after the generic header.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type this payload is emitted as.
    pub fn kind(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::Sa,
            Payload::Ke(_) => PayloadType::Ke,
            Payload::Id(_) => PayloadType::Id,
            Payload::Cert(_) => PayloadType::Cert,
            Payload::CertReq(_) => PayloadType::CertReq,
            Payload::Hash(_) => PayloadType::Hash,
            Payload::Signature(_) => PayloadType::Signature,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::Notify(_) => PayloadType::Notify,
            Payload::Delete(_) => PayloadType::Delete,
            Payload::VendorId(_) => PayloadType::VendorId,
            Payload::Attributes(_) => PayloadType::Attributes,
            Payload::NatD(_) => PayloadType::NatD,
            Payload::NatOa(_) => PayloadType::NatOa,
            Payload::Unknown { kind, .. } => *kind,
        }
    }

    /// Parses the body (after the generic header) of a payload of type `kind`. Proposal and
    /// Transform are refused: they only occur inside an SA.
    pub fn parse(kind: PayloadType, body: &[u8]) -> core::result::Result<Payload, WireError> {
        Ok(match kind {
            PayloadType::Proposal | PayloadType::Transform => {
                return Err(WireError::TopLevelSubstructure(kind));
            }
            PayloadType::Sa => Payload::Sa(SaPayload::parse(body)?),
            PayloadType::Ke => Payload::Ke(body.to_vec()),
            PayloadType::Id => Payload::Id(Identification::parse(body)?),
            PayloadType::Cert => Payload::Cert(CertPayload::parse(body)?),
            PayloadType::CertReq => Payload::CertReq(CertPayload::parse(body)?),
            PayloadType::Hash => Payload::Hash(body.to_vec()),
            PayloadType::Signature => Payload::Signature(body.to_vec()),
            PayloadType::Nonce => Payload::Nonce(body.to_vec()),
            PayloadType::Notify => Payload::Notify(Notification::parse(body)?),
            PayloadType::Delete => Payload::Delete(Delete::parse(body)?),
            PayloadType::VendorId => Payload::VendorId(body.to_vec()),
            PayloadType::Attributes => Payload::Attributes(ConfigAttributes::parse(body)?),
            PayloadType::NatD | PayloadType::NatDDraft => Payload::NatD(body.to_vec()),
            PayloadType::NatOa | PayloadType::NatOaDraft => {
                let id = Identification::parse(body)?;
                check_nat_oa(&id)?;
                Payload::NatOa(id)
            }
            _ => Payload::Unknown { kind, body: body.to_vec() },
        })
    }

    /// The body bytes (after the generic header); values that do not fit their fields are
    /// cut to fit, as in [`emit_payloads`].
    pub fn body_bytes(&self) -> Vec<u8> {
        super::codec::clamped(|out, mode| self.emit_body(out, mode))
    }

    /// Appends the body.
    fn emit_body(&self, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        match self {
            Payload::Sa(sa) => sa.emit(out, mode)?,
            Payload::Ke(b)
            | Payload::Hash(b)
            | Payload::Signature(b)
            | Payload::Nonce(b)
            | Payload::VendorId(b)
            | Payload::NatD(b)
            | Payload::Unknown { body: b, .. } => out.extend_from_slice(b),
            Payload::Id(id) => {
                if mode == Mode::Strict {
                    id.check()?;
                }
                id.emit(out);
            }
            Payload::NatOa(id) => {
                if mode == Mode::Strict {
                    id.check()?;
                    check_nat_oa(id)?;
                }
                id.emit(out);
            }
            Payload::Cert(c) | Payload::CertReq(c) => out.extend_from_slice(&c.body_bytes()),
            Payload::Notify(n) => n.emit(out, mode)?,
            Payload::Delete(d) => d.emit(out, mode)?,
            Payload::Attributes(a) => a.emit(out, mode)?,
        }
        Ok(())
    }

    /// Appends the payload with its generic header, whose next-payload field is `next`.
    fn emit(&self, next: PayloadType, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        if mode == Mode::Strict
            && let Payload::Unknown { kind, .. } = self
        {
            match kind {
                PayloadType::None => return Err(WireError::Malformed("payload of type NONE")),
                PayloadType::Proposal | PayloadType::Transform => {
                    return Err(WireError::TopLevelSubstructure(*kind));
                }
                _ => {}
            }
        }
        let start = out.len();
        out.extend_from_slice(&[next.into(), 0, 0, 0]);
        self.emit_body(out, mode)?;
        // The body of a payload too long for its length field is cut when clamping; the
        // strict check is in `patch_len16`.
        if mode == Mode::Clamp {
            out.truncate(start + GENERIC_HEADER_LEN + MAX_BODY_LEN);
        }
        patch_len16(out, start, mode, "payload length")
    }
}

/// NAT-OA carries an address ID (RFC 3947 section 5.2).
fn check_nat_oa(id: &Identification) -> Result<()> {
    match id.id_type {
        id_type::IPV4_ADDR | id_type::IPV6_ADDR => Ok(()),
        other => Err(WireError::BadId { id_type: other, len: id.data.len() }),
    }
}

/// A parsed payload chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The payloads, in order.
    pub payloads: Vec<Payload>,
    /// `spans[i]` is the byte range within the parsed body of payload i, including its
    /// 4-byte generic header: what Quick Mode's HASH(1) and the phase 1 HASH_I / HASH_R
    /// inputs are cut from.
    pub spans: Vec<Range<usize>>,
    /// Where the chain ended; anything after it is encryption padding and was ignored.
    pub end: usize,
}

/// Walks the payload chain in `body`, the first payload being of type `first`.
///
/// Each payload has a generic header (next payload, reserved octet — ignored — and a length
/// of at least 4 that must lie within `body`). The walk stops at next payload 0; bytes after
/// the last payload are allowed (CBC padding of a decrypted body) and reported through
/// [`Parsed::end`]. Proposal and Transform at top level are errors, as is a chain of more
/// than [`MAX_PAYLOADS`] payloads.
pub fn parse_payloads(first: PayloadType, body: &[u8]) -> core::result::Result<Parsed, WireError> {
    let mut payloads = Vec::new();
    let mut spans = Vec::new();
    let mut next = first;
    let mut offset = 0;
    while next != PayloadType::None {
        if payloads.len() == MAX_PAYLOADS {
            return Err(WireError::TooManyPayloads);
        }
        if matches!(next, PayloadType::Proposal | PayloadType::Transform) {
            return Err(WireError::TopLevelSubstructure(next));
        }
        let rest = body.get(offset..).unwrap_or_default();
        let mut r = Reader::new(rest, "generic payload header");
        let following = PayloadType::from(r.u8()?);
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        if len < GENERIC_HEADER_LEN {
            return Err(WireError::BadLength { what: "payload", len, min: GENERIC_HEADER_LEN });
        }
        let payload_body = rest.get(GENERIC_HEADER_LEN..len).ok_or(WireError::Truncated {
            what: "payload",
            need: len,
            have: rest.len(),
        })?;
        payloads.push(Payload::parse(next, payload_body)?);
        spans.push(offset..offset + len);
        offset += len;
        next = following;
    }
    Ok(Parsed { payloads, spans, end: offset })
}

/// Appends the chain, filling each generic header's next-payload and length fields.
/// Returns the type of the first payload ([`PayloadType::None`] for an empty slice), for the
/// header or the enclosing structure.
///
/// Emission does not fail: a value that does not fit its field is cut to fit (an SPI to 255
/// bytes, a body to [`MAX_BODY_LEN`], ...). Values that came from [`parse_payloads`] always
/// fit. [`try_emit_payloads`] refuses instead.
pub fn emit_payloads(payloads: &[Payload], out: &mut Vec<u8>) -> PayloadType {
    let _never_fails_when_clamping = emit_chain(payloads, out, Mode::Clamp);
    first_kind(payloads)
}

/// Like [`emit_payloads`], but fails with [`WireError::TooLong`] (or another error naming
/// the field) instead of cutting a value to fit, and on [`Payload::Unknown`] of type NONE,
/// Proposal or Transform, which would break the chain. On error `out` is left as it was.
pub fn try_emit_payloads(
    payloads: &[Payload],
    out: &mut Vec<u8>,
) -> core::result::Result<PayloadType, WireError> {
    let start = out.len();
    match emit_chain(payloads, out, Mode::Strict) {
        Ok(()) => Ok(first_kind(payloads)),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn first_kind(payloads: &[Payload]) -> PayloadType {
    payloads.first().map_or(PayloadType::None, Payload::kind)
}

fn emit_chain(payloads: &[Payload], out: &mut Vec<u8>, mode: Mode) -> Result<()> {
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(PayloadType::None, Payload::kind);
        p.emit(next, out, mode)?;
    }
    Ok(())
}

/// A plaintext message: header and payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header. [`to_bytes`](Message::to_bytes) overwrites its next-payload and length
    /// fields.
    pub header: Header,
    /// The payloads, in order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a whole plaintext message: the header ([`Header::parse`]), then the chain
    /// ([`parse_payloads`]); bytes after the chain but within the header's length are
    /// ignored. Fails with [`WireError::Encrypted`] if the E flag is set.
    pub fn parse(buf: &[u8]) -> core::result::Result<Message, WireError> {
        let (header, body) = Header::parse(buf)?;
        if header.is_encrypted() {
            return Err(WireError::Encrypted);
        }
        let parsed = parse_payloads(header.next_payload, body)?;
        Ok(Message { header, payloads: parsed.payloads })
    }

    /// The message bytes, with the header's next-payload and length set from the payloads;
    /// values that do not fit are cut to fit, as in [`emit_payloads`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let first = emit_payloads(&self.payloads, &mut body);
        assemble(&self.header, first, &body)
    }

    /// The message bytes, or an error if a value does not fit its field
    /// ([`try_emit_payloads`]).
    pub fn try_to_bytes(&self) -> core::result::Result<Vec<u8>, WireError> {
        let mut body = Vec::new();
        let first = try_emit_payloads(&self.payloads, &mut body)?;
        if HEADER_LEN + body.len() > u32::MAX as usize {
            return Err(WireError::TooLong {
                what: "message length",
                len: HEADER_LEN + body.len(),
                max: u32::MAX as usize,
            });
        }
        Ok(assemble(&self.header, first, &body))
    }
}

/// Header plus an already encoded body (plaintext, or encrypted with the E flag in
/// `header.flags`): the header's next-payload is set to `first` and its length to 28 plus
/// the body length (saturating at `u32::MAX`, which no datagram reaches).
pub fn assemble(header: &Header, first: PayloadType, body: &[u8]) -> Vec<u8> {
    let header = Header {
        next_payload: first,
        length: u32::try_from(HEADER_LEN + body.len()).unwrap_or(u32::MAX),
        ..*header
    };
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    header.emit(&mut out);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikev1::wire::{ExchangeType, ISAKMP_VERSION, flags, vendor};
    use hex_literal::hex;

    fn header() -> Header {
        Header {
            initiator_cookie: 1,
            responder_cookie: 2,
            next_payload: PayloadType::None,
            version: ISAKMP_VERSION,
            exchange: ExchangeType::Informational,
            flags: 0,
            message_id: 0x0a0b0c0d,
            length: 0,
        }
    }

    #[test]
    fn chain_layout_spans_and_padding() {
        let payloads = vec![
            Payload::Hash(vec![0xaa; 4]),
            Payload::VendorId(vendor::XAUTH.to_vec()),
            Payload::NatD(vec![1, 2]),
        ];
        let mut body = Vec::new();
        assert_eq!(emit_payloads(&payloads, &mut body), PayloadType::Hash);
        assert_eq!(body, hex!("0d 00 0008 aaaaaaaa  14 00 000c 09002689dfd6b712  00 00 0006 0102"));
        // Padding after the chain, as a decrypted CBC body has.
        body.extend_from_slice(&[0; 6]);
        let parsed = parse_payloads(PayloadType::Hash, &body).unwrap();
        assert_eq!(parsed.payloads, payloads);
        assert_eq!(parsed.spans, [0..8, 8..20, 20..26]);
        assert_eq!(parsed.end, 26);
    }

    #[test]
    fn chain_errors() {
        let body = hex!("00 00 0008 aaaaaaaa");
        assert_eq!(
            parse_payloads(PayloadType::Proposal, &body),
            Err(WireError::TopLevelSubstructure(PayloadType::Proposal))
        );
        assert_eq!(
            parse_payloads(PayloadType::Hash, &hex!("00 00 0003")),
            Err(WireError::BadLength { what: "payload", len: 3, min: 4 })
        );
        assert_eq!(
            parse_payloads(PayloadType::Hash, &body[..7]),
            Err(WireError::Truncated { what: "payload", need: 8, have: 7 })
        );
        assert!(matches!(
            parse_payloads(PayloadType::Hash, &body[..3]),
            Err(WireError::Truncated { what: "generic payload header", .. })
        ));
        // The chain names a second payload that is not there.
        assert!(parse_payloads(PayloadType::Hash, &hex!("0d 00 0004")).is_err());
        // A Transform named by a next-payload field.
        assert_eq!(
            parse_payloads(PayloadType::Hash, &hex!("03 00 0004 00 00 0004")),
            Err(WireError::TopLevelSubstructure(PayloadType::Transform))
        );
        assert_eq!(
            parse_payloads(PayloadType::None, &body),
            Ok(Parsed { payloads: vec![], spans: vec![], end: 0 })
        );
    }

    #[test]
    fn payload_count_is_capped() {
        let vid = Payload::VendorId(vec![]);
        let mut body = Vec::new();
        emit_payloads(&vec![vid.clone(); MAX_PAYLOADS], &mut body);
        assert_eq!(parse_payloads(PayloadType::VendorId, &body).unwrap().payloads.len(), 64);
        body.clear();
        emit_payloads(&vec![vid; MAX_PAYLOADS + 1], &mut body);
        assert_eq!(parse_payloads(PayloadType::VendorId, &body), Err(WireError::TooManyPayloads));
    }

    #[test]
    fn draft_nat_types_parse_and_emit_as_rfc() {
        let body = hex!("83 00 0008 aabbccdd  00 00 000c 01 00 0000 c0000201");
        let parsed = parse_payloads(PayloadType::NatDDraft, &body).unwrap();
        assert_eq!(
            parsed.payloads,
            [
                Payload::NatD(hex!("aabbccdd").to_vec()),
                Payload::NatOa(Identification::address("192.0.2.1".parse().unwrap())),
            ]
        );
        let mut out = Vec::new();
        assert_eq!(emit_payloads(&parsed.payloads, &mut out), PayloadType::NatD);
        assert_eq!(out, hex!("15 00 0008 aabbccdd  00 00 000c 01 00 0000 c0000201"));
        // NAT-OA must be an address.
        assert_eq!(
            parse_payloads(PayloadType::NatOa, &hex!("00 00 0009 02 00 0000 61")),
            Err(WireError::BadId { id_type: 2, len: 1 })
        );
    }

    #[test]
    fn message_round_trip_and_encrypted() {
        let m = Message {
            header: header(),
            payloads: vec![Payload::Notify(Notification {
                doi: 1,
                protocol: 1,
                spi: vec![],
                kind: crate::ikev1::wire::notify::INVALID_COOKIE,
                data: vec![],
            })],
        };
        let bytes = m.to_bytes();
        assert_eq!(
            bytes,
            hex!(
                "0000000000000001 0000000000000002 0b 10 05 00 0a0b0c0d 00000028"
                "00 00 000c 00000001 01 00 0004"
            )
        );
        assert_eq!(m.try_to_bytes().unwrap(), bytes);
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed.payloads, m.payloads);
        assert_eq!(parsed.header.next_payload, PayloadType::Notify);
        assert_eq!(parsed.header.length, 40);

        let mut h = header();
        h.flags = flags::ENCRYPTION;
        let enc = assemble(&h, PayloadType::Hash, &[0x55; 16]);
        assert_eq!(enc.len(), 44);
        assert_eq!(Message::parse(&enc), Err(WireError::Encrypted));
        let (h2, body) = Header::parse(&enc).unwrap();
        assert_eq!((h2.next_payload, h2.length, body), (PayloadType::Hash, 44, &[0x55; 16][..]));
    }

    #[test]
    fn strict_emission_refuses_what_clamping_cuts() {
        let big = Payload::Ke(vec![1; MAX_BODY_LEN + 1]);
        let mut out = vec![7];
        assert_eq!(
            try_emit_payloads(core::slice::from_ref(&big), &mut out),
            Err(WireError::TooLong { what: "payload length", len: 65536, max: 65535 })
        );
        assert_eq!(out, [7], "a failed strict emission leaves the buffer as it was");
        out.clear();
        emit_payloads(&[big], &mut out);
        assert_eq!(out.len(), 65535);
        assert_eq!(
            parse_payloads(PayloadType::Ke, &out).unwrap().payloads,
            [Payload::Ke(vec![1; MAX_BODY_LEN])]
        );
        for kind in [PayloadType::None, PayloadType::Proposal, PayloadType::Transform] {
            let p = Payload::Unknown { kind, body: vec![] };
            assert!(try_emit_payloads(&[p], &mut out).is_err());
        }
        let odd = Payload::Unknown { kind: PayloadType::Fragment, body: vec![1, 2, 1, 1] };
        out.clear();
        assert_eq!(
            try_emit_payloads(core::slice::from_ref(&odd), &mut out),
            Ok(PayloadType::Fragment)
        );
        assert_eq!(parse_payloads(PayloadType::Fragment, &out).unwrap().payloads, [odd]);
        let bad_id = Payload::Id(Identification { id_type: 1, protocol: 0, port: 0, data: vec![] });
        assert_eq!(
            try_emit_payloads(&[bad_id], &mut out),
            Err(WireError::BadId { id_type: 1, len: 0 })
        );
    }
}
