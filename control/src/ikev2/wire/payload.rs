//! The generic payload header (RFC 7296 section 3.2) and the iterator over a payload chain.

use core::fmt;

use super::{Error, Result};

mod field {
    use core::ops::Range;

    pub const NEXT_PAYLOAD: usize = 0;
    pub const FLAGS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
}

/// Length of the generic payload header (RFC 7296 section 3.2).
pub const GENERIC_HEADER_LEN: usize = field::LENGTH.end;

/// The critical bit of the generic payload header (RFC 7296 section 3.2); the other seven
/// bits of that octet are reserved.
const CRITICAL: u8 = 0x80;

/// Most payloads one chain may hold. RFC 7296 sets no limit; real messages carry well under
/// 30 (IKE_AUTH with a certificate chain and a dozen notifies), and a bound keeps a hostile
/// chain of 4-byte payloads from costing 16 000 iterations and allocations.
pub const MAX_PAYLOADS: usize = 64;

enum_with_unknown! {
    /// Payload types (RFC 7296 section 3.2, IANA "IKEv2 Payload Types").
    pub enum PayloadType(u8) {
        /// No Next Payload: the chain ends (RFC 7296 section 3.2).
        NoNextPayload = 0 => "NONE",
        /// Security Association (RFC 7296 section 3.3).
        Sa = 33 => "SA",
        /// Key Exchange (RFC 7296 section 3.4).
        Ke = 34 => "KE",
        /// Identification - Initiator (RFC 7296 section 3.5).
        IdI = 35 => "IDi",
        /// Identification - Responder (RFC 7296 section 3.5).
        IdR = 36 => "IDr",
        /// Certificate (RFC 7296 section 3.6).
        Cert = 37 => "CERT",
        /// Certificate Request (RFC 7296 section 3.7).
        CertReq = 38 => "CERTREQ",
        /// Authentication (RFC 7296 section 3.8).
        Auth = 39 => "AUTH",
        /// Nonce, Ni or Nr (RFC 7296 section 3.9).
        Nonce = 40 => "No",
        /// Notify (RFC 7296 section 3.10).
        Notify = 41 => "N",
        /// Delete (RFC 7296 section 3.11).
        Delete = 42 => "D",
        /// Vendor ID (RFC 7296 section 3.12).
        VendorId = 43 => "V",
        /// Traffic Selector - Initiator (RFC 7296 section 3.13).
        TsI = 44 => "TSi",
        /// Traffic Selector - Responder (RFC 7296 section 3.13).
        TsR = 45 => "TSr",
        /// Encrypted and Authenticated (RFC 7296 section 3.14).
        Encrypted = 46 => "SK",
        /// Configuration (RFC 7296 section 3.15).
        Configuration = 47 => "CP",
        /// Extensible Authentication (RFC 7296 section 3.16).
        Eap = 48 => "EAP",
        /// Generic Secure Password Methods (RFC 6467 section 3.1).
        Gspm = 49 => "GSPM",
        /// Encrypted and Authenticated Fragment (RFC 7383 section 2.5).
        EncryptedFragment = 53 => "SKF",
    }
}

impl PayloadType {
    /// SK or SKF: a payload that ends the outer chain and whose Next Payload field names the
    /// first payload inside it (RFC 7296 section 3.14, RFC 7383 section 2.5).
    pub fn is_encrypted(self) -> bool {
        matches!(self, PayloadType::Encrypted | PayloadType::EncryptedFragment)
    }
}

/// A read/write wrapper around one payload: the generic header and the body after it.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct GenericPayload<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenericPayload<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> GenericPayload<T> {
        GenericPayload { buffer }
    }

    /// Wraps a buffer and checks that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<GenericPayload<T>> {
        let payload = Self::new_unchecked(buffer);
        payload.check_len()?;
        Ok(payload)
    }

    /// Checks the buffer holds the 4-byte header and that 4 ≤ Payload Length ≤ buffer length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < GENERIC_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(self.payload_len());
        if field_len < GENERIC_HEADER_LEN {
            Err(Error::BadLength)
        } else if field_len > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type of the next payload (for SK / SKF: of the first payload inside).
    pub fn next_payload(&self) -> PayloadType {
        PayloadType::from(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// The critical bit.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & CRITICAL != 0
    }

    /// Payload Length: header and body.
    pub fn payload_len(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LENGTH.start], b[field::LENGTH.start + 1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GenericPayload<&'a T> {
    /// The body, up to Payload Length.
    pub fn body(&self) -> &'a [u8] {
        let buf = self.buffer.as_ref();
        buf.get(GENERIC_HEADER_LEN..usize::from(self.payload_len())).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenericPayload<T> {
    /// Sets the Next Payload field.
    pub fn set_next_payload(&mut self, value: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = value.into();
    }

    /// Sets the critical bit and clears the reserved bits.
    pub fn set_critical(&mut self, value: bool) {
        self.buffer.as_mut()[field::FLAGS] = if value { CRITICAL } else { 0 };
    }

    /// Sets the Payload Length field.
    pub fn set_payload_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// The body up to Payload Length, writable.
    pub fn body_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.payload_len());
        &mut self.buffer.as_mut()[GENERIC_HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for GenericPayload<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("payload (truncated or malformed)");
        }
        write!(f, "payload len={} next={}", self.payload_len(), self.next_payload())?;
        if self.critical() { f.write_str(" critical") } else { Ok(()) }
    }
}

/// One payload of a chain, as the [`Payloads`] iterator yields it.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RawPayload<'a> {
    /// This payload's type (named by the previous payload or the IKE header).
    pub payload_type: PayloadType,
    /// The critical bit.
    pub critical: bool,
    /// This payload's Next Payload field. For SK / SKF it is the first payload inside the
    /// encrypted data; for the others the type of the payload that follows.
    pub next_payload: PayloadType,
    /// Offset of the generic header from the start of the chain.
    pub offset: usize,
    /// The body: everything after the generic header, up to Payload Length.
    pub body: &'a [u8],
}

impl RawPayload<'_> {
    /// Offset of the body from the start of the chain.
    pub fn body_offset(&self) -> usize {
        self.offset + GENERIC_HEADER_LEN
    }
}

/// Walks a payload chain: the bytes after the IKE header, or the plaintext of an SK payload
/// without its padding. Each step checks the generic header (Payload Length ≥ 4 and within
/// the chain); the chain must end exactly at the end of the bytes, either with Next Payload 0
/// or with an SK / SKF payload (which must be last); at most [`MAX_PAYLOADS`] payloads.
///
/// Yields `Err` once, at the first problem, and then stops. Unknown payload types are yielded
/// like known ones; skipping them or rejecting critical ones is the caller's decision (as
/// [`parse_chain`](super::parse_chain) does it).
#[derive(Debug, Clone)]
pub struct Payloads<'a> {
    chain: &'a [u8],
    offset: usize,
    next: PayloadType,
    count: usize,
    done: bool,
}

impl<'a> Payloads<'a> {
    /// Iterates over `chain`, whose first payload has type `first` (the IKE header's Next
    /// Payload, or an SK payload's).
    pub fn new(first: PayloadType, chain: &'a [u8]) -> Payloads<'a> {
        Payloads { chain, offset: 0, next: first, count: 0, done: false }
    }

    fn step(&mut self) -> Option<Result<RawPayload<'a>>> {
        let rest = self.chain.get(self.offset..).unwrap_or(&[]);
        if self.next == PayloadType::NoNextPayload {
            self.done = true;
            return if rest.is_empty() { None } else { Some(Err(Error::TrailingBytes)) };
        }
        if self.count == MAX_PAYLOADS {
            return Some(Err(Error::TooManyPayloads));
        }
        let header = match GenericPayload::new_checked(rest) {
            Ok(header) => header,
            Err(e) => return Some(Err(e)),
        };
        let len = usize::from(header.payload_len());
        let payload_type = self.next;
        let raw = RawPayload {
            payload_type,
            critical: header.critical(),
            next_payload: header.next_payload(),
            offset: self.offset,
            body: header.body(),
        };
        if payload_type.is_encrypted() {
            if len != rest.len() {
                return Some(Err(Error::EncryptedNotLast));
            }
            self.next = PayloadType::NoNextPayload;
        } else {
            self.next = raw.next_payload;
        }
        self.offset += len;
        self.count += 1;
        Some(Ok(raw))
    }
}

impl<'a> Iterator for Payloads<'a> {
    type Item = Result<RawPayload<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step();
        if matches!(item, Some(Err(_))) {
            self.done = true;
        }
        item
    }
}

impl core::iter::FusedIterator for Payloads<'_> {}

#[cfg(test)]
mod test {
    use super::*;

    /// A chain of three payloads: Nonce (body 16 bytes of 0x11), a non-critical Vendor ID of
    /// an unknown type 200 (body "ab"), and a Notify (body 4 bytes), ending with Next Payload 0.
    fn chain() -> Vec<u8> {
        let mut c = vec![200, 0x00, 0x00, 0x14];
        c.extend_from_slice(&[0x11; 16]);
        c.extend_from_slice(&[41, 0x00, 0x00, 0x06, b'a', b'b']);
        c.extend_from_slice(&[0, 0x00, 0x00, 0x08, 0, 0, 0x40, 0x00]);
        c
    }

    static PAYLOAD_BYTES: [u8; 8] = [0x29, 0x80, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef];

    #[test]
    fn test_deconstruct() {
        let p = GenericPayload::new_checked(&PAYLOAD_BYTES[..]).unwrap();
        assert_eq!(p.next_payload(), PayloadType::Notify);
        assert!(p.critical());
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.body(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(p.to_string(), "payload len=8 next=N critical");
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5; 8];
        let mut p = GenericPayload::new_unchecked(&mut bytes);
        p.set_next_payload(PayloadType::Notify);
        p.set_critical(true);
        p.set_payload_len(8);
        p.body_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(bytes, PAYLOAD_BYTES);
    }

    #[test]
    fn test_check_len() {
        for n in 0..PAYLOAD_BYTES.len() {
            assert!(GenericPayload::new_checked(&PAYLOAD_BYTES[..n]).is_err());
        }
        let mut bad = PAYLOAD_BYTES;
        bad[3] = 3;
        assert_eq!(GenericPayload::new_checked(&bad[..]).err(), Some(Error::BadLength));
        assert_eq!(GenericPayload::new_unchecked(&bad[..]).body(), &[] as &[u8]);
    }

    #[test]
    fn test_iterate() {
        let c = chain();
        let items: Vec<_> = Payloads::new(PayloadType::Nonce, &c).collect::<Result<_>>().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].payload_type, PayloadType::Nonce);
        assert_eq!(items[0].body, &[0x11; 16]);
        assert_eq!(items[1].payload_type, PayloadType::Unknown(200));
        assert_eq!((items[1].offset, items[1].body_offset()), (20, 24));
        assert_eq!(items[2].payload_type, PayloadType::Notify);
        assert_eq!(items[2].next_payload, PayloadType::NoNextPayload);
    }

    #[test]
    fn test_iterate_errors() {
        let c = chain();
        // Every truncation fails, with exactly one error and then nothing.
        for n in 0..c.len() {
            let items: Vec<_> = Payloads::new(PayloadType::Nonce, &c[..n]).collect();
            assert!(items.last().unwrap().is_err(), "{n}");
            assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        }
        let mut trailing = c.clone();
        trailing.push(0);
        let last = Payloads::new(PayloadType::Nonce, &trailing).last().unwrap();
        assert_eq!(last, Err(Error::TrailingBytes));
        let mut zero_len = c.clone();
        zero_len[3] = 0;
        let first = Payloads::new(PayloadType::Nonce, &zero_len).next().unwrap();
        assert_eq!(first, Err(Error::BadLength));
        // An empty chain is fine when the header says there is no payload.
        assert_eq!(Payloads::new(PayloadType::NoNextPayload, &[]).count(), 0);
        assert!(Payloads::new(PayloadType::Sa, &[]).next().unwrap().is_err());
    }

    #[test]
    fn test_bounded_count() {
        let mut c = Vec::new();
        for _ in 0..MAX_PAYLOADS + 1 {
            c.extend_from_slice(&[43, 0, 0, 4]);
        }
        let items: Vec<_> = Payloads::new(PayloadType::VendorId, &c).collect();
        assert_eq!(items.len(), MAX_PAYLOADS + 1);
        assert_eq!(items.last().unwrap(), &Err(Error::TooManyPayloads));
    }

    #[test]
    fn test_encrypted_ends_chain() {
        // SK whose Next Payload names the inner IDi (35), followed by more bytes.
        let mut c = vec![35, 0, 0, 8, 1, 2, 3, 4];
        let items: Vec<_> = Payloads::new(PayloadType::Encrypted, &c).collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].unwrap().next_payload, PayloadType::IdI);
        c.extend_from_slice(&[0, 0, 0, 4]);
        let first = Payloads::new(PayloadType::Encrypted, &c).next().unwrap();
        assert_eq!(first, Err(Error::EncryptedNotLast));
    }
}
