//! UDP datagrams (RFC 768), with IPv4 and IPv6 (RFC 8200 section 8.1) checksums.

use core::fmt;

use super::{Error, IpProtocol, Ipv4Addr, Ipv6Addr, Result, checksum, read_u16, write_u16};

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header (RFC 768).
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write wrapper around a UDP datagram buffer.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header: at least 8 bytes and 8 ≤ length field ≤ buffer length. The
    /// buffer may be longer; [`payload`](Packet::payload) stops at the length field.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN || field_len > len { Err(Error) } else { Ok(()) }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field: header and payload.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// Verifies the checksum over the IPv4 pseudo-header. A zero checksum means the sender
    /// did not compute one and passes (RFC 768).
    #[inline]
    pub fn verify_checksum_v4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let d = self.datagram();
        checksum::combine(&[
            checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, self.len()),
            checksum::data(d),
        ]) == !0
    }

    /// Verifies the checksum over the IPv6 pseudo-header. A zero checksum is invalid over
    /// IPv6 (RFC 8200 section 8.1).
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let d = self.datagram();
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len())),
            checksum::data(d),
        ]) == !0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Payload, up to the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, value);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, value);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Computes and writes the checksum over the IPv4 pseudo-header and `len` bytes. A
    /// computed 0 is sent as 0xffff, since 0 means "no checksum" (RFC 768).
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        self.set_checksum(0);
        let sum = checksum::combine(&[
            checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, self.len()),
            checksum::data(self.datagram()),
        ]);
        self.set_checksum(nonzero(!sum));
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header and `len` bytes (0 is
    /// sent as 0xffff, RFC 8200 section 8.1).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len())),
            checksum::data(self.datagram()),
        ]);
        self.set_checksum(nonzero(!sum));
    }

    /// Payload up to the length field, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

fn nonzero(checksum: u16) -> u16 {
    if checksum == 0 { 0xffff } else { checksum }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("UDP (truncated or malformed)");
        }
        write!(f, "UDP src={} dst={} len={}", self.src_port(), self.dst_port(), self.len())
    }
}

/// A high-level representation of a UDP header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Repr {
    fn parse_common<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        // Destination port 0 is reserved (RFC 768 gives no meaning to it).
        if packet.dst_port() == 0 {
            return Err(Error);
        }
        Ok(Repr { src_port: packet.src_port(), dst_port: packet.dst_port() })
    }

    /// Parses a datagram received over IPv4, verifying the checksum (0 = none).
    pub fn parse_v4<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src: &Ipv4Addr,
        dst: &Ipv4Addr,
    ) -> Result<Repr> {
        let repr = Self::parse_common(packet)?;
        if !packet.verify_checksum_v4(src, dst) {
            return Err(Error);
        }
        Ok(repr)
    }

    /// Parses a datagram received over IPv6, verifying the (mandatory) checksum.
    pub fn parse_v6<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> Result<Repr> {
        let repr = Self::parse_common(packet)?;
        if !packet.verify_checksum_v6(src, dst) {
            return Err(Error);
        }
        Ok(repr)
    }

    /// Header length in bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Datagram length for a payload of `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
    ) -> Result<()> {
        let len = u16::try_from(HEADER_LEN + payload_len).map_err(|_| Error)?;
        if packet.buffer.as_ref().len() < usize::from(len) {
            return Err(Error);
        }
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        emit_payload(packet.payload_mut());
        Ok(())
    }

    /// Writes the header, lets `emit_payload` write the payload, then fills the IPv4
    /// checksum. Errors if the buffer is shorter than the datagram or it exceeds 65535 bytes.
    pub fn emit_v4<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &Ipv4Addr,
        dst: &Ipv4Addr,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
    ) -> Result<()> {
        self.emit_header(packet, payload_len, emit_payload)?;
        packet.fill_checksum_v4(src, dst);
        Ok(())
    }

    /// As [`emit_v4`](Repr::emit_v4), with the IPv6 checksum.
    pub fn emit_v6<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
    ) -> Result<()> {
        self.emit_header(packet, payload_len, emit_payload)?;
        packet.fill_checksum_v6(src, dst);
        Ok(())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UDP src={} dst={}", self.src_port, self.dst_port)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    const SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    /// NAT-keepalive from 192.0.2.1:4500 to 198.51.100.2:4500 (scapy, checksum 0xf17b).
    static PACKET_BYTES: [u8; 9] = [0x11, 0x94, 0x11, 0x94, 0x00, 0x09, 0xf1, 0x7b, 0xff];

    /// 2001:db8::1:500 → 2001:db8::2:500, payload "abcd" (scapy, checksum 0xdbb2).
    static PACKET_BYTES_V6: [u8; 12] =
        [0x01, 0xf4, 0x01, 0xf4, 0x00, 0x0c, 0xdb, 0xb2, 0x61, 0x62, 0x63, 0x64];

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.src_port(), 4500);
        assert_eq!(packet.dst_port(), 4500);
        assert_eq!(packet.len(), 9);
        assert_eq!(packet.checksum(), 0xf17b);
        assert_eq!(packet.payload(), &[0xff]);
        assert!(packet.verify_checksum_v4(&SRC4, &DST4));
        assert!(!packet.verify_checksum_v4(&DST4, &DST4));

        let packet = Packet::new_checked(&PACKET_BYTES_V6[..]).unwrap();
        assert_eq!(packet.payload(), b"abcd");
        assert!(packet.verify_checksum_v6(&SRC6, &DST6));
        assert!(!packet.verify_checksum_v6(&DST6, &DST6));
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 9];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_src_port(4500);
        packet.set_dst_port(4500);
        packet.set_len(9);
        packet.payload_mut()[0] = 0xff;
        packet.fill_checksum_v4(&SRC4, &DST4);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);

        let mut bytes = vec![0xa5; 12];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_src_port(500);
        packet.set_dst_port(500);
        packet.set_len(12);
        packet.payload_mut().copy_from_slice(b"abcd");
        packet.fill_checksum_v6(&SRC6, &DST6);
        assert_eq!(&bytes[..], &PACKET_BYTES_V6[..]);
    }

    #[test]
    fn test_zero_checksum() {
        let mut bytes = PACKET_BYTES;
        bytes[6] = 0;
        bytes[7] = 0;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum_v4(&SRC4, &DST4));
        let mut bytes6 = PACKET_BYTES_V6;
        bytes6[6] = 0;
        bytes6[7] = 0;
        let packet = Packet::new_checked(&bytes6[..]).unwrap();
        assert!(!packet.verify_checksum_v6(&SRC6, &DST6));
        // A datagram whose checksum computes to 0 is sent with 0xffff: pick the payload
        // word that makes the sum 0xffff.
        let mut bytes = [0x11, 0x94, 0x11, 0x94, 0x00, 0x0a, 0, 0, 0, 0];
        let partial = checksum::combine(&[
            checksum::pseudo_header_v4(&SRC4, &DST4, IpProtocol::Udp, 10),
            checksum::data(&bytes),
        ]);
        bytes[8..10].copy_from_slice(&(!partial).to_be_bytes());
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum_v4(&SRC4, &DST4);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum_v4(&SRC4, &DST4));
    }

    #[test]
    fn test_check_len() {
        for n in 0..PACKET_BYTES.len() {
            assert_eq!(Packet::new_checked(&PACKET_BYTES[..n]).err(), Some(Error));
        }
        let mut bad = PACKET_BYTES;
        bad[5] = 7;
        assert_eq!(Packet::new_checked(&bad[..]).err(), Some(Error));
        let padded = [&PACKET_BYTES[..], &[0, 0, 0]].concat();
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload(), &[0xff]);
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        let repr = Repr::parse_v4(&packet, &SRC4, &DST4).unwrap();
        assert_eq!(repr, Repr { src_port: 4500, dst_port: 4500 });
        assert_eq!(Repr::parse_v4(&packet, &SRC4, &SRC4), Err(Error));
        let packet = Packet::new_checked(&PACKET_BYTES_V6[..]).unwrap();
        assert_eq!(
            Repr::parse_v6(&packet, &SRC6, &DST6),
            Ok(Repr { src_port: 500, dst_port: 500 })
        );
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; 9];
        let repr = Repr { src_port: 4500, dst_port: 4500 };
        repr.emit_v4(&mut Packet::new_unchecked(&mut bytes), &SRC4, &DST4, 1, |p| p[0] = 0xff)
            .unwrap();
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
        let mut bytes = vec![0xa5; 12];
        let repr = Repr { src_port: 500, dst_port: 500 };
        repr.emit_v6(&mut Packet::new_unchecked(&mut bytes), &SRC6, &DST6, 4, |p| {
            p.copy_from_slice(b"abcd")
        })
        .unwrap();
        assert_eq!(&bytes[..], &PACKET_BYTES_V6[..]);
        let mut short = vec![0u8; 10];
        assert_eq!(
            repr.emit_v6(&mut Packet::new_unchecked(&mut short), &SRC6, &DST6, 4, |_| {}),
            Err(Error)
        );
    }

    #[test]
    fn test_buffer_len() {
        let repr = Repr { src_port: 4500, dst_port: 4500 };
        assert_eq!(repr.header_len(), 8);
        assert_eq!(repr.buffer_len(1), PACKET_BYTES.len());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..40),
                                       fix in any::<bool>()) {
            if fix && bytes.len() >= HEADER_LEN {
                // Steer half the cases past the length check.
                let len = bytes.len() as u16;
                bytes[4..6].copy_from_slice(&len.to_be_bytes());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload(),
                         p.verify_checksum_v4(&SRC4, &DST4), p.verify_checksum_v6(&SRC6, &DST6));
                let _ = Repr::parse_v4(&p, &SRC4, &DST4);
                let _ = Repr::parse_v6(&p, &SRC6, &DST6);
                let _ = p.to_string();
                let mut copy = bytes.clone();
                let mut pm = Packet::new_checked(&mut copy[..]).unwrap();
                pm.fill_checksum_v4(&SRC4, &DST4);
                prop_assert!(pm.verify_checksum_v4(&SRC4, &DST4));
                pm.fill_checksum_v6(&SRC6, &DST6);
                prop_assert!(pm.verify_checksum_v6(&SRC6, &DST6));
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
        }
    }
}
