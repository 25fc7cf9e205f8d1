//! ESP headers and trailers (RFC 4303).
//!
//! The header view covers SPI and sequence number; everything after them (IV, ciphertext,
//! ICV) is the transform's business and sized by the SA. [`Trailer`] reads and
//! [`write_trailer`] writes the plaintext trailer: padding, pad length and next header.

use core::fmt;

use super::{Error, IpProtocol, Result, read_u32, write_u32};

mod field {
    use core::ops::{Range, RangeFrom};

    pub const SPI: Range<usize> = 0..4;
    pub const SEQUENCE_NUMBER: Range<usize> = 4..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// Length of the ESP header: SPI and sequence number (RFC 4303 section 2).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// Length of the fixed trailer fields: Pad Length and Next Header (RFC 4303 sections 2.5,
/// 2.6).
pub const TRAILER_LEN: usize = 2;

/// Largest padding a trailer can announce (RFC 4303 section 2.4: 0–255 bytes).
pub const MAX_PAD_LEN: usize = 255;

/// A read/write wrapper around an ESP packet buffer.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN { Err(Error) } else { Ok(()) }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Security parameters index.
    #[inline]
    pub fn spi(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SPI.start)
    }

    /// Sequence number (the low 32 bits when ESN is in use, RFC 4303 section 2.2.1).
    #[inline]
    pub fn sequence_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQUENCE_NUMBER.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the header: IV, ciphertext, ICV.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the SPI.
    #[inline]
    pub fn set_spi(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SPI.start, value);
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_sequence_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SEQUENCE_NUMBER.start, value);
    }

    /// Everything after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("ESP (truncated)");
        }
        write!(
            f,
            "ESP spi={:#010x} seq={} len={}",
            self.spi(),
            self.sequence_number(),
            self.buffer.as_ref().len() - HEADER_LEN
        )
    }
}

/// A high-level representation of an ESP header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Security parameters index.
    pub spi: u32,
    /// Sequence number (low 32 bits).
    pub sequence_number: u32,
}

impl Repr {
    /// Parses an ESP header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr { spi: packet.spi(), sequence_number: packet.sequence_number() })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into a buffer of at least [`HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_spi(self.spi);
        packet.set_sequence_number(self.sequence_number);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ESP spi={:#010x} seq={}", self.spi, self.sequence_number)
    }
}

/// The plaintext ESP trailer, read from the end of a decrypted region
/// `payload || padding || pad length || next header`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Trailer {
    /// Number of padding bytes.
    pub pad_len: u8,
    /// Protocol of the payload (IPv4/IPv6 for tunnel mode, TCP/UDP/... for transport;
    /// 59 for a dummy packet, RFC 4303 section 2.6).
    pub next_header: IpProtocol,
    /// Length of the payload before the padding.
    pub payload_len: usize,
}

impl Trailer {
    /// Reads the trailer at the end of `decrypted` and checks that the padding is the
    /// default 1, 2, 3, ... sequence (RFC 4303 section 2.4: a receiver should check it).
    /// Errors if the region is too short for the announced padding or a pad byte is wrong.
    pub fn parse(decrypted: &[u8]) -> Result<Trailer> {
        let [.., pad_len, next_header] = *decrypted else { return Err(Error) };
        let payload_len =
            decrypted.len().checked_sub(TRAILER_LEN + usize::from(pad_len)).ok_or(Error)?;
        let padding = &decrypted[payload_len..decrypted.len() - TRAILER_LEN];
        // Pad byte i (0-based) must be i + 1; `zip` with 1..=255 covers all of it since the
        // padding is at most 255 bytes.
        if padding.iter().zip(1..=u8::MAX).any(|(&b, expected)| b != expected) {
            return Err(Error);
        }
        Ok(Trailer { pad_len, next_header: IpProtocol::from(next_header), payload_len })
    }

    /// Length of padding plus the two fixed trailer bytes.
    pub const fn len(&self) -> usize {
        self.pad_len as usize + TRAILER_LEN
    }

    /// Always false: a trailer holds at least its two fixed bytes.
    pub const fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Trailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ESP trailer payload_len={} pad_len={} next={}",
            self.payload_len, self.pad_len, self.next_header
        )
    }
}

/// Padding needed after `payload_len` bytes so that payload + padding + the 2 trailer bytes
/// is a multiple of `block_size` (the cipher block size, or 4 for stream and AEAD modes:
/// RFC 4303 section 2.4 requires 4-byte alignment of the ciphertext). `block_size` values
/// below 4 are raised to 4. Errors if `block_size` exceeds 256 (the padding would not fit
/// the 8-bit Pad Length).
pub const fn pad_len(payload_len: usize, block_size: usize) -> Result<u8> {
    let align = if block_size < 4 { 4 } else { block_size };
    if align > MAX_PAD_LEN + 1 {
        return Err(Error);
    }
    let rem = (payload_len % align + TRAILER_LEN) % align;
    Ok(((align - rem) % align) as u8)
}

/// RFC 4303 2.4 default padding: 1, 2, 3, ..., 255.
const DEFAULT_PADDING: [u8; 255] = {
    let mut t = [0u8; 255];
    let mut i = 0;
    while i < 255 {
        t[i] = (i + 1) as u8;
        i += 1;
    }
    t
};

/// Writes a trailer into `trailer`, whose length fixes the padding: `trailer.len() - 2` pad
/// bytes 1, 2, 3, ..., then the pad length and `next_header`. Errors if `trailer` is shorter
/// than 2 or longer than 257 bytes.
pub fn write_trailer(trailer: &mut [u8], next_header: IpProtocol) -> Result<()> {
    let pad_len = trailer.len().checked_sub(TRAILER_LEN).ok_or(Error)?;
    let pad_len_byte = u8::try_from(pad_len).map_err(|_| Error)?;
    let (padding, fixed) = trailer.split_at_mut(pad_len);
    // One copy from a table instead of a byte loop: this runs for every packet sent.
    padding.copy_from_slice(&DEFAULT_PADDING[..pad_len]);
    fixed[0] = pad_len_byte;
    fixed[1] = next_header.into();
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// The first 32 bytes of the AES-128-GCM ESP packet in draft-mcgrew-gcm-test-01
    /// section 4: SPI 0x0000a5f8, sequence number 10, IV facedbaddecaf888, ciphertext.
    static PACKET_BYTES: [u8; 32] = [
        0x00, 0x00, 0xa5, 0xf8, 0x00, 0x00, 0x00, 0x0a, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8,
        0x88, 0xde, 0xb2, 0x2c, 0xd9, 0xb0, 0x7c, 0x72, 0xc1, 0x6e, 0x3a, 0x65, 0xbe, 0xeb, 0x8d,
        0xf3, 0x04,
    ];

    /// Decrypted plaintext of the AES-256-GCM ESP packet in draft-mcgrew-gcm-test-01
    /// section 4 (SPI 0x4a2cbfe3, sequence number 2): a 48-byte IPv4/TCP SYN, padding
    /// 01 02, pad length 2, next header 1 (as published).
    static DECRYPTED_BYTES: [u8; 52] = [
        0x45, 0x00, 0x00, 0x30, 0x69, 0xa6, 0x40, 0x00, 0x80, 0x06, 0x26, 0x90, 0xc0, 0xa8, 0x01,
        0x02, 0x93, 0x89, 0x15, 0x5e, 0x0a, 0x9e, 0x00, 0x8b, 0x2d, 0xc5, 0x7e, 0xe0, 0x00, 0x00,
        0x00, 0x00, 0x70, 0x02, 0x40, 0x00, 0x20, 0xbf, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01,
        0x01, 0x04, 0x02, 0x01, 0x02, 0x02, 0x01,
    ];

    fn repr() -> Repr {
        Repr { spi: 0x0000_a5f8, sequence_number: 10 }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.spi(), 0xa5f8);
        assert_eq!(packet.sequence_number(), 10);
        assert_eq!(packet.payload(), &PACKET_BYTES[8..]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 32];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_spi(0xa5f8);
        packet.set_sequence_number(10);
        packet.payload_mut().copy_from_slice(&PACKET_BYTES[8..]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&PACKET_BYTES[..n]).err(), Some(Error));
        }
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..8]).unwrap().payload(), &[] as &[u8]);
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(repr()));
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; 8];
        repr().emit(&mut Packet::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &PACKET_BYTES[..8]);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 8);
    }

    #[test]
    fn test_trailer_parse() {
        let trailer = Trailer::parse(&DECRYPTED_BYTES).unwrap();
        assert_eq!(trailer, Trailer { pad_len: 2, next_header: IpProtocol::Icmp, payload_len: 48 });
        assert_eq!(trailer.len(), 4);
        // The inner packet's own length agrees with the trailer.
        assert_eq!(usize::from(DECRYPTED_BYTES[3]), trailer.payload_len);

        // No padding at all.
        assert_eq!(
            Trailer::parse(&[0xaa, 0x00, 0x04]),
            Ok(Trailer { pad_len: 0, next_header: IpProtocol::IpIp, payload_len: 1 })
        );
        // Only the trailer, no payload (a dummy packet with next header 59).
        assert_eq!(
            Trailer::parse(&[1, 2, 2, 59]),
            Ok(Trailer { pad_len: 2, next_header: IpProtocol::Ipv6NoNxt, payload_len: 0 })
        );
    }

    #[test]
    fn test_trailer_rejects() {
        assert_eq!(Trailer::parse(&[]), Err(Error));
        assert_eq!(Trailer::parse(&[4]), Err(Error));
        // Pad length larger than the region.
        assert_eq!(Trailer::parse(&[1, 2, 3, 4]), Err(Error));
        // Non-monotonic padding.
        let mut bad = DECRYPTED_BYTES;
        bad[49] = 3;
        assert_eq!(Trailer::parse(&bad), Err(Error));
        let mut bad = DECRYPTED_BYTES;
        bad[48] = 0;
        assert_eq!(Trailer::parse(&bad), Err(Error));
    }

    #[test]
    fn test_write_trailer() {
        let mut bytes = [0xa5u8; 6];
        write_trailer(&mut bytes, IpProtocol::Ipv6).unwrap();
        assert_eq!(bytes, [1, 2, 3, 4, 4, 41]);
        let mut bytes = [0xa5u8; 2];
        write_trailer(&mut bytes, IpProtocol::IpIp).unwrap();
        assert_eq!(bytes, [0, 4]);
        assert_eq!(write_trailer(&mut [0u8; 1], IpProtocol::IpIp), Err(Error));
        assert_eq!(write_trailer(&mut [0u8; 258], IpProtocol::IpIp), Err(Error));
        let mut max = [0u8; 257];
        write_trailer(&mut max, IpProtocol::IpIp).unwrap();
        assert_eq!((max[254], max[255], max[256]), (255, 255, 4));
        assert_eq!(Trailer::parse(&max).map(|t| t.payload_len), Ok(0));
    }

    #[test]
    fn test_pad_len() {
        // AES-GCM: 4-byte alignment.
        assert_eq!(pad_len(48, 1), Ok(2));
        assert_eq!(pad_len(62, 4), Ok(0));
        // AES-CBC: 16-byte blocks.
        assert_eq!(pad_len(48, 16), Ok(14));
        assert_eq!(pad_len(14, 16), Ok(0));
        assert_eq!(pad_len(0, 256), Ok(254));
        assert_eq!(pad_len(10, 512), Err(Error));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.spi(), p.sequence_number(), p.payload(), Repr::parse(&p));
                let _ = p.to_string();
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
            if let Ok(t) = Trailer::parse(&bytes) {
                prop_assert_eq!(t.payload_len + t.len(), bytes.len());
            }
        }

        #[test]
        fn trailer_round_trips(payload_len in 0usize..100, block in 1usize..=256, nh in any::<u8>()) {
            let pad = pad_len(payload_len, block).unwrap();
            let total = payload_len + usize::from(pad) + TRAILER_LEN;
            prop_assert_eq!(total % block.max(4), 0);
            let mut buf = vec![0x5a; total];
            write_trailer(&mut buf[payload_len..], IpProtocol::from(nh)).unwrap();
            let t = Trailer::parse(&buf).unwrap();
            prop_assert_eq!(t, Trailer { pad_len: pad, next_header: IpProtocol::from(nh), payload_len });
        }
    }
}
