//! The IKEv2 message codec (RFC 7296 section 3), in the smoltcp wire-view style.
//!
//! Two levels, as in `dataplane::wire`:
//!
//! - Zero-copy views over a buffer: [`Header`] (the 28-byte IKE header), [`GenericPayload`]
//!   (the 4-byte generic payload header), the [`Payloads`] iterator that walks a payload chain
//!   and validates every length on the way, and [`Encrypted`], which locates the SK / SKF
//!   payload of a whole message and splits it into IV, ciphertext and ICV for the cipher's
//!   sizes. `new_checked` is the constructor for untrusted input; once it succeeds no accessor
//!   panics. `new_unchecked` plus setters is for emission.
//! - Owned `Repr` types for every payload body ([`SaRepr`], [`KeRepr`], [`IdRepr`], ...),
//!   all implementing [`PayloadBody`] (`parse` / `buffer_len` / `emit`), the [`Payload`]
//!   enum over them and [`Message`] (header plus ordered payload list), whose `emit`
//!   computes the total length and the next-payload chain itself.
//!
//! Parsing never panics, whatever the bytes: every failure is a typed [`Error`], which maps to
//! the notify a responder would send ([`Error::notify_type`]). Emission writes into a
//! caller-sized slice through a checked cursor, so a short buffer is [`Error::Exhausted`],
//! not a panic.
//!
//! Not here: decryption and integrity (the SK payload stays encrypted; [`Encrypted`] gives
//! the cipher its byte ranges), fragment reassembly (RFC 7383 section 2.6), the non-ESP marker
//! of UDP port 4500 (RFC 3948 section 2.2, stripped by the caller) and IKEv1.

use core::fmt;

mod auth;
mod cert;
mod codec;
mod cp;
mod delete;
mod eap;
mod error;
mod header;
mod id;
mod ke;
mod message;
mod nonce;
mod notify;
mod payload;
mod sa;
mod sk;
mod ts;
mod vendor_id;

pub use self::auth::{AuthMethod, AuthRepr};
pub use self::cert::{CertEncoding, CertRepr, CertReqRepr, SHA1_LEN};
pub use self::cp::{CfgAttribute, CfgAttributeType, CfgType, CpRepr};
pub use self::delete::DeleteRepr;
pub use self::eap::EapRepr;
pub use self::error::{Error, Result};
pub use self::header::{
    ExchangeType, FLAG_INITIATOR, FLAG_RESPONSE, FLAG_VERSION, HEADER_LEN, Header, HeaderRepr,
    MAJOR_VERSION, MINOR_VERSION,
};
pub use self::id::{IdRepr, IdType};
pub use self::ke::KeRepr;
pub use self::message::{Message, Payload, chain_len, emit_chain, parse_chain};
pub use self::nonce::{MAX_NONCE_LEN, MIN_NONCE_LEN, NonceRepr};
pub use self::notify::{NAT_DETECTION_HASH_LEN, NotifyRepr, NotifyType, nat_detection_input};
pub use self::payload::{
    GENERIC_HEADER_LEN, GenericPayload, MAX_PAYLOADS, PayloadType, Payloads, RawPayload,
};
pub use self::sa::{
    ATTR_KEY_LENGTH, Attribute, AttributeValue, DhGroup, EncrId, EsnId, IntegId, PrfId, Proposal,
    ProtocolId, SaRepr, Transform, TransformType,
};
pub use self::sk::{Encrypted, SkParts, SkPartsMut, SkRepr, SkfRepr};
pub use self::ts::{TS_IPV4_LEN, TS_IPV6_LEN, TrafficSelector, TsRepr, TsType};
pub use self::vendor_id::VendorIdRepr;

/// A payload body (everything after the 4-byte generic payload header) with an owned
/// representation: the `Repr` level of this codec.
///
/// `parse` takes exactly the body bytes and rejects anything inconsistent; `emit` writes
/// exactly [`buffer_len`](PayloadBody::buffer_len) bytes at the start of `buf` and fails with
/// [`Error::Exhausted`] if `buf` is shorter, or [`Error::TooLong`] if an inner length field
/// cannot hold the value.
pub trait PayloadBody: Sized {
    /// Parses a payload body.
    fn parse(body: &[u8]) -> Result<Self>;

    /// Length of the emitted body in bytes.
    fn buffer_len(&self) -> usize;

    /// Writes the body into the start of `buf`.
    fn emit(&self, buf: &mut [u8]) -> Result<()>;

    /// Emits into a new vector of exactly [`buffer_len`](PayloadBody::buffer_len) bytes.
    fn to_vec(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf)?;
        Ok(buf)
    }
}

/// Writes `bytes` as lowercase hex, for `Display` of opaque fields in logs.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::{Error, PayloadBody};

    /// The smoltcp test set for a payload body: `parse` gives `repr`, `emit` into a buffer
    /// pre-filled with 0xa5 gives exactly `bytes` (and writes no further), `buffer_len`
    /// matches, and every truncation shorter than `min_len` fails.
    pub(crate) fn check_body<R: PayloadBody + PartialEq + core::fmt::Debug>(
        bytes: &[u8],
        repr: &R,
        min_len: usize,
    ) {
        assert_eq!(&R::parse(bytes).unwrap(), repr, "parse");
        assert_eq!(repr.buffer_len(), bytes.len(), "buffer_len");
        let mut buf = vec![0xa5; bytes.len() + 3];
        repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[..bytes.len()], bytes, "emit");
        assert_eq!(&buf[bytes.len()..], &[0xa5; 3], "emit wrote past buffer_len");
        for n in 0..bytes.len() {
            let mut short = vec![0xa5; n];
            assert_eq!(repr.emit(&mut short), Err(Error::Exhausted), "emit into {n} bytes");
        }
        for n in 0..min_len.min(bytes.len()) {
            assert!(R::parse(&bytes[..n]).is_err(), "truncated to {n} bytes parsed");
        }
    }
}
