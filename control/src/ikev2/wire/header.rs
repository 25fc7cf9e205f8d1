//! The IKE header (RFC 7296 section 3.1).

use core::fmt;

use super::{Error, PayloadType, Result};

mod field {
    use core::ops::Range;

    pub const SPI_I: Range<usize> = 0..8;
    pub const SPI_R: Range<usize> = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    pub const VERSION: usize = 17;
    pub const EXCHANGE_TYPE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Range<usize> = 20..24;
    pub const LENGTH: Range<usize> = 24..28;
}

/// Length of the IKE header (RFC 7296 section 3.1).
pub const HEADER_LEN: usize = field::LENGTH.end;

/// Major version of IKEv2 (RFC 7296 section 3.1: "MUST set the major version to 2").
pub const MAJOR_VERSION: u8 = 2;

/// Minor version sent by RFC 7296 implementations; ignored on receipt (RFC 7296 section 3.1).
pub const MINOR_VERSION: u8 = 0;

/// Initiator flag: set in messages sent by the original initiator of the IKE SA (RFC 7296
/// section 3.1, bit 3).
pub const FLAG_INITIATOR: u8 = 0x08;

/// Version flag: the sender can speak a higher major version (RFC 7296 section 3.1, bit 4;
/// IKEv2 implementations MUST clear it).
pub const FLAG_VERSION: u8 = 0x10;

/// Response flag: the message answers a request with the same Message ID (RFC 7296 section
/// 3.1, bit 5).
pub const FLAG_RESPONSE: u8 = 0x20;

enum_with_unknown! {
    /// Exchange types (RFC 7296 section 3.1, IANA "IKEv2 Exchange Types").
    pub enum ExchangeType(u8) {
        /// IKE_SA_INIT (RFC 7296 section 1.2).
        IkeSaInit = 34 => "IKE_SA_INIT",
        /// IKE_AUTH (RFC 7296 section 1.2).
        IkeAuth = 35 => "IKE_AUTH",
        /// CREATE_CHILD_SA (RFC 7296 section 1.3).
        CreateChildSa = 36 => "CREATE_CHILD_SA",
        /// INFORMATIONAL (RFC 7296 section 1.4).
        Informational = 37 => "INFORMATIONAL",
        /// IKE_SESSION_RESUME (RFC 5723 section 4.1).
        IkeSessionResume = 38 => "IKE_SESSION_RESUME",
        /// IKE_INTERMEDIATE (RFC 9242 section 3).
        IkeIntermediate = 43 => "IKE_INTERMEDIATE",
    }
}

/// A read/write wrapper around an IKE message buffer, giving access to its header.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wraps a buffer and checks that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Header<T>> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks the buffer holds the 28-byte header and that 28 ≤ Length ≤ buffer length. The
    /// buffer may be longer; [`payloads`](Header::payloads) stops at the Length field.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::try_from(self.length()).map_err(|_| Error::BadLength)?;
        if field_len < HEADER_LEN {
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

    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.buffer.as_ref()[at..at + N]);
        out
    }

    /// IKE SA Initiator's SPI.
    pub fn spi_i(&self) -> u64 {
        u64::from_be_bytes(self.array(field::SPI_I.start))
    }

    /// IKE SA Responder's SPI (zero in the first IKE_SA_INIT request).
    pub fn spi_r(&self) -> u64 {
        u64::from_be_bytes(self.array(field::SPI_R.start))
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType::from(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// Major version (high nibble of the version octet).
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }

    /// Minor version (low nibble of the version octet).
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }

    /// Exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType::from(self.buffer.as_ref()[field::EXCHANGE_TYPE])
    }

    /// The raw flags octet.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Initiator flag ([`FLAG_INITIATOR`]).
    pub fn initiator(&self) -> bool {
        self.flags() & FLAG_INITIATOR != 0
    }

    /// Version flag ([`FLAG_VERSION`]).
    pub fn version_flag(&self) -> bool {
        self.flags() & FLAG_VERSION != 0
    }

    /// Response flag ([`FLAG_RESPONSE`]).
    pub fn response(&self) -> bool {
        self.flags() & FLAG_RESPONSE != 0
    }

    /// Message ID.
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.array(field::MESSAGE_ID.start))
    }

    /// Length field: the whole message, header included.
    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.array(field::LENGTH.start))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Header<&'a T> {
    /// The payload chain: the bytes after the header, up to the Length field.
    pub fn payloads(&self) -> &'a [u8] {
        let buf = self.buffer.as_ref();
        let end = usize::try_from(self.length()).unwrap_or(usize::MAX).min(buf.len());
        buf.get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Sets the initiator's SPI.
    pub fn set_spi_i(&mut self, value: u64) {
        self.buffer.as_mut()[field::SPI_I].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the responder's SPI.
    pub fn set_spi_r(&mut self, value: u64) {
        self.buffer.as_mut()[field::SPI_R].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the first payload's type.
    pub fn set_next_payload(&mut self, value: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = value.into();
    }

    /// Sets the version octet from a major and a minor version (low nibbles used).
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }

    /// Sets the exchange type.
    pub fn set_exchange_type(&mut self, value: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE_TYPE] = value.into();
    }

    /// Sets the raw flags octet.
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    /// Sets the Message ID.
    pub fn set_message_id(&mut self, value: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, value: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Header<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Header<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("IKE (truncated or malformed)");
        }
        write!(
            f,
            "IKE v{}.{} {} {} mid={} spi_i={:016x} spi_r={:016x} next={} len={}",
            self.major_version(),
            self.minor_version(),
            self.exchange_type(),
            if self.response() { "response" } else { "request" },
            self.message_id(),
            self.spi_i(),
            self.spi_r(),
            self.next_payload(),
            self.length()
        )
    }
}

/// A high-level representation of an IKE header. Next Payload and Length are not here: they
/// follow from the payloads and are written by [`Message::emit`](super::Message::emit).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct HeaderRepr {
    /// IKE SA Initiator's SPI.
    pub spi_i: u64,
    /// IKE SA Responder's SPI.
    pub spi_r: u64,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Sent by the original initiator ([`FLAG_INITIATOR`]).
    pub initiator: bool,
    /// A response ([`FLAG_RESPONSE`]).
    pub response: bool,
    /// The sender speaks a higher major version ([`FLAG_VERSION`]); IKEv2 senders clear it.
    pub version_flag: bool,
    /// Message ID.
    pub message_id: u32,
}

impl HeaderRepr {
    /// Parses a header: lengths as in [`Header::check_len`], then the major version must be
    /// 2 (RFC 7296 section 2.5: a higher one is answered with INVALID_MAJOR_VERSION). The
    /// minor version and the reserved flag bits are ignored (RFC 7296 section 3.1).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(header: &Header<&T>) -> Result<HeaderRepr> {
        header.check_len()?;
        if header.major_version() != MAJOR_VERSION {
            return Err(Error::InvalidMajorVersion(header.major_version()));
        }
        Ok(HeaderRepr {
            spi_i: header.spi_i(),
            spi_r: header.spi_r(),
            exchange_type: header.exchange_type(),
            initiator: header.initiator(),
            response: header.response(),
            version_flag: header.version_flag(),
            message_id: header.message_id(),
        })
    }

    /// Length of the header in bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The flags octet this header emits.
    pub fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.initiator {
            flags |= FLAG_INITIATOR;
        }
        if self.version_flag {
            flags |= FLAG_VERSION;
        }
        if self.response {
            flags |= FLAG_RESPONSE;
        }
        flags
    }

    /// Writes the header (version 2.0) with the given first payload type and total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        header: &mut Header<T>,
        next_payload: PayloadType,
        length: u32,
    ) -> Result<()> {
        if header.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Exhausted);
        }
        header.set_spi_i(self.spi_i);
        header.set_spi_r(self.spi_r);
        header.set_next_payload(next_payload);
        header.set_version(MAJOR_VERSION, MINOR_VERSION);
        header.set_exchange_type(self.exchange_type);
        header.set_flags(self.flags());
        header.set_message_id(self.message_id);
        header.set_length(length);
        Ok(())
    }
}

impl fmt::Display for HeaderRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} mid={} spi_i={:016x} spi_r={:016x}{}",
            self.exchange_type,
            if self.response { "response" } else { "request" },
            self.message_id,
            self.spi_i,
            self.spi_r,
            if self.initiator { " [I]" } else { "" }
        )
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// An IKE_SA_INIT request header from an initiator: SPIi 0x0102030405060708, SPIr 0,
    /// first payload SA (33), version 2.0, flags I, Message ID 0, length 0x150 (336).
    static HEADER_BYTES: [u8; 28] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // SPIi
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // SPIr
        0x21, 0x20, 0x22, 0x08, // next payload SA, version 2.0, IKE_SA_INIT, flags I
        0x00, 0x00, 0x00, 0x00, // message ID
        0x00, 0x00, 0x01, 0x50, // length
    ];

    fn repr() -> HeaderRepr {
        HeaderRepr {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0,
            exchange_type: ExchangeType::IkeSaInit,
            initiator: true,
            response: false,
            version_flag: false,
            message_id: 0,
        }
    }

    fn padded() -> Vec<u8> {
        let mut buf = HEADER_BYTES.to_vec();
        buf.resize(0x150, 0);
        buf
    }

    #[test]
    fn test_deconstruct() {
        let buf = padded();
        let header = Header::new_checked(&buf[..]).unwrap();
        assert_eq!(header.spi_i(), 0x0102_0304_0506_0708);
        assert_eq!(header.spi_r(), 0);
        assert_eq!(header.next_payload(), PayloadType::Sa);
        assert_eq!((header.major_version(), header.minor_version()), (2, 0));
        assert_eq!(header.exchange_type(), ExchangeType::IkeSaInit);
        assert!(header.initiator() && !header.response() && !header.version_flag());
        assert_eq!(header.message_id(), 0);
        assert_eq!(header.length(), 0x150);
        assert_eq!(header.payloads().len(), 0x150 - HEADER_LEN);
        assert!(header.to_string().contains("IKE_SA_INIT request"));
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5; 28];
        let mut header = Header::new_unchecked(&mut bytes);
        header.set_spi_i(0x0102_0304_0506_0708);
        header.set_spi_r(0);
        header.set_next_payload(PayloadType::Sa);
        header.set_version(2, 0);
        header.set_exchange_type(ExchangeType::IkeSaInit);
        header.set_flags(FLAG_INITIATOR);
        header.set_message_id(0);
        header.set_length(0x150);
        assert_eq!(bytes, HEADER_BYTES);
    }

    #[test]
    fn test_check_len() {
        let buf = padded();
        for n in 0..buf.len() {
            assert!(Header::new_checked(&buf[..n]).is_err(), "{n}");
        }
        let mut bad = HEADER_BYTES;
        bad[24..28].copy_from_slice(&27u32.to_be_bytes());
        assert_eq!(Header::new_checked(&bad[..]).err(), Some(Error::BadLength));
        let mut huge = HEADER_BYTES;
        huge[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Header::new_checked(&huge[..]).err(), Some(Error::Truncated));
        assert_eq!(Header::new_unchecked(&huge[..]).payloads(), &[] as &[u8]);
    }

    #[test]
    fn test_parse() {
        let buf = padded();
        let header = Header::new_checked(&buf[..]).unwrap();
        assert_eq!(HeaderRepr::parse(&header).unwrap(), repr());
        let mut v1 = buf.clone();
        v1[17] = 0x10;
        let header = Header::new_checked(&v1[..]).unwrap();
        assert_eq!(HeaderRepr::parse(&header), Err(Error::InvalidMajorVersion(1)));
        // Minor version and reserved flag bits are ignored.
        let mut odd = buf;
        odd[17] = 0x21;
        odd[19] |= 0xc7;
        let header = Header::new_checked(&odd[..]).unwrap();
        assert_eq!(HeaderRepr::parse(&header).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5; 28];
        repr().emit(&mut Header::new_unchecked(&mut bytes), PayloadType::Sa, 0x150).unwrap();
        assert_eq!(bytes, HEADER_BYTES);
        let mut short = [0; 27];
        assert_eq!(
            repr().emit(&mut Header::new_unchecked(&mut short), PayloadType::Sa, 28),
            Err(Error::Exhausted)
        );
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), HEADER_BYTES.len());
    }

    #[test]
    fn test_exchange_type_display() {
        assert_eq!(ExchangeType::from(37).to_string(), "INFORMATIONAL");
        assert_eq!(ExchangeType::from(99).to_string(), "UNKNOWN(99)");
        assert_eq!(u8::from(ExchangeType::CreateChildSa), 36);
    }
}
