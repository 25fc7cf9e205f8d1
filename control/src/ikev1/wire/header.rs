//! The ISAKMP header (RFC 2408 section 3.1).

use core::fmt;

use super::codec::{Reader, Result};
use super::{PayloadType, WireError};

/// The version octet ISAKMP sends: major version 1, minor version 0 (RFC 2408 section 3.1).
pub const ISAKMP_VERSION: u8 = 0x10;

/// Length of the ISAKMP header (RFC 2408 section 3.1).
pub const HEADER_LEN: usize = 28;

/// Header flag bits (RFC 2408 section 3.1).
pub mod flags {
    /// E: everything after the header is encrypted.
    pub const ENCRYPTION: u8 = 1;
    /// C: commit bit (key exchange synchronisation).
    pub const COMMIT: u8 = 2;
    /// A: authentication only; the payloads are not encrypted (Informational only).
    pub const AUTH_ONLY: u8 = 4;
}

enum_with_unknown! {
    /// Exchange types (RFC 2408 section 3.1, RFC 2409 sections 5 and 9,
    /// draft-dukes-ike-mode-cfg section 3).
    pub enum ExchangeType(u8) {
        /// Identity Protection: Main Mode (RFC 2409 section 5).
        IdentityProtection = 2 => "ID_PROT",
        /// Aggressive Mode (RFC 2409 section 5).
        Aggressive = 4 => "AGGRESSIVE",
        /// Informational (RFC 2408 section 4.8).
        Informational = 5 => "INFORMATIONAL",
        /// Transaction: Mode Config and XAUTH (draft-dukes-ike-mode-cfg section 3).
        Transaction = 6 => "TRANSACTION",
        /// Quick Mode (RFC 2409 section 5.5).
        QuickMode = 32 => "QUICK_MODE",
        /// New Group Mode (RFC 2409 section 5.6).
        NewGroup = 33 => "NEW_GROUP",
    }
}

/// The 28-byte ISAKMP header, as plain fields.
///
/// [`parse`](Header::parse) checks the version and the Length field against the buffer;
/// [`emit`](Header::emit) writes every field as given, so the message builders
/// ([`Message::to_bytes`](super::Message::to_bytes), [`assemble`](super::assemble)) are
/// where Next Payload and Length get their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator cookie (RFC 2408 section 2.5.3).
    pub initiator_cookie: u64,
    /// Responder cookie; zero in the first message of a phase 1 exchange.
    pub responder_cookie: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Version octet: major version in the high nibble, minor in the low.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flag bits ([`flags`]).
    pub flags: u8,
    /// Message ID: zero in phase 1, random per phase 2 / informational exchange.
    pub message_id: u32,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl Header {
    /// Parses the header at the start of `buf`: at least 28 bytes, major version 1 (any
    /// minor version, RFC 2408 section 3.1 leaves it to the receiver), and a Length field
    /// between 28 and the buffer length. Bytes after Length are ignored (a datagram carries
    /// one message). Returns the header and the body, bytes 28..Length.
    pub fn parse(buf: &[u8]) -> core::result::Result<(Header, &[u8]), WireError> {
        let mut r = Reader::new(buf, "ISAKMP header");
        let initiator_cookie = u64::from_be_bytes(r.array()?);
        let responder_cookie = u64::from_be_bytes(r.array()?);
        let next_payload = PayloadType::from(r.u8()?);
        let version = r.u8()?;
        let exchange = ExchangeType::from(r.u8()?);
        let flags = r.u8()?;
        let message_id = r.u32()?;
        let length = r.u32()?;
        if version >> 4 != ISAKMP_VERSION >> 4 {
            return Err(WireError::UnsupportedVersion(version));
        }
        let header = Header {
            initiator_cookie,
            responder_cookie,
            next_payload,
            version,
            exchange,
            flags,
            message_id,
            length,
        };
        Ok((header, header.body(buf)?))
    }

    /// Bytes 28..Length of `buf`, after checking Length.
    fn body<'a>(&self, buf: &'a [u8]) -> Result<&'a [u8]> {
        let len = usize::try_from(self.length).unwrap_or(usize::MAX);
        if len < HEADER_LEN {
            return Err(WireError::BadLength { what: "ISAKMP message", len, min: HEADER_LEN });
        }
        buf.get(HEADER_LEN..len).ok_or(WireError::Truncated {
            what: "ISAKMP message",
            need: len,
            have: buf.len(),
        })
    }

    /// Appends the 28 header bytes, every field as given.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.initiator_cookie.to_be_bytes());
        out.extend_from_slice(&self.responder_cookie.to_be_bytes());
        out.push(self.next_payload.into());
        out.push(self.version);
        out.push(self.exchange.into());
        out.push(self.flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// The E flag: the body is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.flags & flags::ENCRYPTION != 0
    }

    /// The C flag.
    pub fn is_commit(&self) -> bool {
        self.flags & flags::COMMIT != 0
    }

    /// The 28 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = Vec::with_capacity(HEADER_LEN);
        self.emit(&mut out);
        let mut bytes = [0; HEADER_LEN];
        bytes.copy_from_slice(&out);
        bytes
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:016x}/{:016x} mid {:08x} flags {:#04x} len {}",
            self.exchange,
            self.initiator_cookie,
            self.responder_cookie,
            self.message_id,
            self.flags,
            self.length
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            initiator_cookie: 0x0102_0304_0506_0708,
            responder_cookie: 0,
            next_payload: PayloadType::Sa,
            version: ISAKMP_VERSION,
            exchange: ExchangeType::IdentityProtection,
            flags: 0,
            message_id: 0,
            length: 30,
        }
    }

    #[test]
    fn layout_and_round_trip() {
        let mut bytes = Vec::new();
        sample().emit(&mut bytes);
        assert_eq!(
            bytes,
            hex_literal::hex!("0102030405060708 0000000000000000 01 10 02 00 00000000 0000001e")
        );
        bytes.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
        let (h, body) = Header::parse(&bytes).unwrap();
        assert_eq!(h, sample());
        // Length 30: two body bytes; the third trailing byte is beyond Length and ignored.
        assert_eq!(body, &[0xaa, 0xbb]);
        assert_eq!(h.to_bytes()[..], bytes[..28]);
    }

    #[test]
    fn length_field_is_checked() {
        let mut h = sample();
        h.length = 27;
        let mut bytes = Vec::new();
        h.emit(&mut bytes);
        assert_eq!(
            Header::parse(&bytes),
            Err(WireError::BadLength { what: "ISAKMP message", len: 27, min: 28 })
        );
        h.length = 29;
        bytes.clear();
        h.emit(&mut bytes);
        assert!(matches!(Header::parse(&bytes), Err(WireError::Truncated { need: 29, .. })));
        h.length = u32::MAX;
        bytes.clear();
        h.emit(&mut bytes);
        assert!(matches!(Header::parse(&bytes), Err(WireError::Truncated { .. })));
        for n in 0..28 {
            assert!(matches!(Header::parse(&bytes[..n]), Err(WireError::Truncated { .. })));
        }
    }

    #[test]
    fn version_major_must_be_one() {
        let mut h = sample();
        h.length = 28;
        for (version, ok) in [(0x10, true), (0x1f, true), (0x20, false), (0x00, false)] {
            h.version = version;
            let mut bytes = Vec::new();
            h.emit(&mut bytes);
            let got = Header::parse(&bytes);
            if ok {
                assert_eq!(got.map(|(h, b)| (h.version, b.len())), Ok((version, 0)));
            } else {
                assert_eq!(got, Err(WireError::UnsupportedVersion(version)));
            }
        }
    }

    #[test]
    fn flags_and_exchange_names() {
        let mut h = sample();
        assert!(!h.is_encrypted());
        h.flags = flags::ENCRYPTION | flags::COMMIT;
        assert!(h.is_encrypted() && h.is_commit());
        assert_eq!(u8::from(ExchangeType::QuickMode), 32);
        assert_eq!(ExchangeType::from(6), ExchangeType::Transaction);
        assert_eq!(ExchangeType::from(34), ExchangeType::Unknown(34));
        assert_eq!(ExchangeType::Aggressive.to_string(), "AGGRESSIVE");
        assert_eq!(ExchangeType::Unknown(99).to_string(), "UNKNOWN(99)");
    }
}
