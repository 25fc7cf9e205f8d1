//! The ISAKMP / IKEv1 message codec: RFC 2408 section 3 (header, generic payload header,
//! SA / proposal / transform, KE, ID, CERT, CR, HASH, SIG, NONCE, N, D, VID), the IPsec DOI
//! of RFC 2407 section 4 (situation, ID payload, attribute and notify code points), NAT-D and
//! NAT-OA of RFC 3947 (and the draft payload types 130 / 131), the DPD notifies of RFC 3706,
//! and the Mode Config / XAUTH attributes payload (draft-dukes-ike-mode-cfg,
//! draft-beaulieu-ike-xauth).
//!
//! Everything is owned values with `parse` / `body_bytes` pairs, assembled by
//! [`parse_payloads`] / [`emit_payloads`] and [`Message`]. Parsing never panics and never
//! allocates more than a small multiple of its input: every length is checked before use
//! (a typed [`WireError`] saying what and where), counts are bounded ([`MAX_PAYLOADS`],
//! [`MAX_PROPOSALS`], the transform count), and nothing recurses. For canonical input
//! (reserved octets zero, RFC payload types rather than the NAT-T draft ones) emission
//! reproduces the parsed bytes exactly; [`round_trip_check`] states that invariant and is
//! what the cargo-fuzz target and the property tests run.
//!
//! Emission without `try_` cannot fail: a value too big for its field is cut to fit. The
//! `try_` variants refuse such values instead.
//!
//! Not here: phase 1 encryption and the HASH / SIG computations ([`super::crypt`],
//! [`super::keys`]), which work on the spans and body bytes this module provides; reassembly
//! of the proprietary fragments ([`Fragment`] only parses one); the non-ESP marker of UDP
//! port 4500 (stripped by the caller).

mod attr;
mod cert;
mod codec;
mod delete;
mod error;
mod header;
mod id;
pub mod notify;
mod payload;
mod sa;
pub mod vendor;

pub use self::attr::{
    AttrValue, Attribute, ConfigAttributes, MAX_ATTRIBUTE_TYPE, cfg, encode_attribute_list,
    parse_attribute_list,
};
pub use self::cert::{CertPayload, FRAGMENT_LAST, Fragment, cert_encoding};
pub use self::delete::Delete;
pub use self::error::WireError;
pub use self::header::{ExchangeType, HEADER_LEN, Header, ISAKMP_VERSION, flags};
pub use self::id::{Identification, id_type};
pub use self::notify::{Notification, notify_name};
pub use self::payload::{
    GENERIC_HEADER_LEN, MAX_BODY_LEN, MAX_PAYLOADS, Message, Parsed, Payload, PayloadType,
    assemble, emit_payloads, parse_payloads, try_emit_payloads,
};
pub use self::sa::{
    DOI_IPSEC, KEY_IKE, MAX_PROPOSALS, Proposal, SIT_IDENTITY_ONLY, SIT_INTEGRITY, SIT_SECRECY,
    SaPayload, Transform, esp_id, p1attr, p2attr, protocol,
};

/// The codec's self-consistency on arbitrary bytes, shared by the cargo-fuzz target
/// (`control/fuzz/fuzz_targets/ikev1_message.rs`) and the property tests that run it in CI
/// (`control/tests/ikev1_wire.rs`). Returns a description of the first violation.
///
/// - A header that parses re-emits to the same 28 bytes.
/// - A plaintext message that parses re-emits ([`Message::to_bytes`]) to bytes that parse
///   to the same payloads and header (next-payload and length aside, which emission sets).
/// - Read as a payload chain whose first type is the first byte: a chain that parses has
///   spans that tile it, re-emits identically under the strict and the clamping emitter,
///   re-parses to the same payloads, and re-emits to the same bytes again.
/// - Every body parser, given the bytes, either fails or re-emits to bytes that parse to
///   the same value; an address ID's range converts back to the same range.
pub fn round_trip_check(data: &[u8]) -> Result<(), String> {
    if let Ok((header, body)) = Header::parse(data) {
        let mut again = Vec::new();
        header.emit(&mut again);
        same("header re-emission", again.as_slice(), data.get(..HEADER_LEN).unwrap_or_default())?;
        if header.is_encrypted() {
            same("encrypted message", Message::parse(data), Err(WireError::Encrypted))?;
        } else if let Ok(parsed) = parse_payloads(header.next_payload, body) {
            let m = Message::parse(data).map_err(|e| format!("chain parsed, message not: {e}"))?;
            same("message payloads", &m.payloads, &parsed.payloads)?;
            check_message(&m)?;
        }
    }
    if let Some((&first, chain)) = data.split_first() {
        check_chain(PayloadType::from(first), chain)?;
    }
    check_bodies(data)
}

fn same<T: PartialEq + core::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

fn check_message(m: &Message) -> Result<(), String> {
    let bytes = m.to_bytes();
    let again = Message::parse(&bytes).map_err(|e| format!("re-emitted message fails: {e}"))?;
    same("re-parsed payloads", &again.payloads, &m.payloads)?;
    let mut want = m.header;
    want.next_payload = m.payloads.first().map_or(PayloadType::None, Payload::kind);
    want.length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    same("re-parsed header", again.header, want)?;
    same("strict message emission", m.try_to_bytes().as_ref(), Ok(&bytes))
}

fn check_chain(first: PayloadType, chain: &[u8]) -> Result<(), String> {
    let Ok(parsed) = parse_payloads(first, chain) else { return Ok(()) };
    let mut at = 0;
    for span in &parsed.spans {
        same("span start", span.start, at)?;
        let len = chain
            .get(span.start + 2..span.start + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        same("span length", Some(span.len()), len)?;
        at = span.end;
    }
    same("chain end", parsed.end, at)?;
    same("span count", parsed.spans.len(), parsed.payloads.len())?;
    let mut out = Vec::new();
    let first_out = emit_payloads(&parsed.payloads, &mut out);
    let mut strict_out = Vec::new();
    same(
        "strict chain emission",
        try_emit_payloads(&parsed.payloads, &mut strict_out),
        Ok(first_out),
    )?;
    same("strict chain bytes", &strict_out, &out)?;
    let again =
        parse_payloads(first_out, &out).map_err(|e| format!("re-emitted chain fails: {e}"))?;
    same("re-parsed chain", &again.payloads, &parsed.payloads)?;
    same("re-parsed chain end", again.end, out.len())?;
    let mut out2 = Vec::new();
    emit_payloads(&again.payloads, &mut out2);
    same("second emission", &out2, &out)
}

fn check_bodies(data: &[u8]) -> Result<(), String> {
    if let Ok(sa) = SaPayload::parse(data) {
        same("SA body", SaPayload::parse(&sa.body_bytes()).as_ref(), Ok(&sa))?;
        same("SA strict body", sa.try_body_bytes(), Ok(sa.body_bytes()))?;
        for a in sa.proposals.iter().flat_map(|p| &p.transforms).flat_map(|t| &t.attributes) {
            if let Some(v) = a.value.as_u64() {
                same("attribute number", Attribute::number(a.kind, v).value.as_u64(), Some(v))?;
            }
        }
    }
    if let Ok(id) = Identification::parse(data) {
        same("ID body", id.body_bytes().as_slice(), data)?;
        if let Some((start, end)) = id.address_range() {
            let canon = Identification::from_range(start, end, id.protocol, id.port)
                .map_err(|e| format!("range of {id:?} does not convert back: {e}"))?;
            same("ID range", canon.address_range(), Some((start, end)))?;
        }
    }
    if let Ok(n) = Notification::parse(data) {
        same("notification body", n.body_bytes().as_slice(), data)?;
        let _ = (n.name(), n.dpd_sequence());
    }
    if let Ok(d) = Delete::parse(data) {
        same("delete body", d.body_bytes().as_slice(), data)?;
    }
    if let Ok(c) = ConfigAttributes::parse(data) {
        same("attributes body", ConfigAttributes::parse(&c.body_bytes()).as_ref(), Ok(&c))?;
    }
    if let Ok(c) = CertPayload::parse(data) {
        same("cert body", c.body_bytes().as_slice(), data)?;
    }
    if let Ok(f) = Fragment::parse(data) {
        same("fragment body", f.body_bytes().as_slice(), data)?;
    }
    let _ = vendor::classify(data);
    Ok(())
}
