//! IPv6 fixed headers (RFC 8200 section 3). Extension headers are in
//! [`ipv6ext`](super::ipv6ext).

use core::fmt;

use super::{
    Error, IpProtocol, Ipv6Addr, Result, read_ipv6, read_u16, read_u32, write_u16, write_u32,
};

mod field {
    use core::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the IPv6 fixed header (RFC 8200 section 3).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Minimum link MTU for IPv6 (RFC 8200 section 5).
pub const MIN_MTU: usize = 1280;

/// A read/write wrapper around an IPv6 packet buffer.
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

    /// Checks the header: at least 40 bytes, version 6, and 40 + payload length ≤ buffer
    /// length (the buffer may be longer; [`payload`](Packet::payload) stops at the payload
    /// length). Jumbograms (RFC 2675, payload length 0) are not supported: their payload
    /// reads as empty.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN
            || self.version() != 6
            || len < HEADER_LEN + usize::from(self.payload_len())
        {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((read_u16(self.buffer.as_ref(), 0) >> 4) & 0xff) as u8
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// Explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start) & 0x000f_ffff
    }

    /// Payload length: everything after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Type of the first header after the fixed header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        read_ipv6(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        read_ipv6(self.buffer.as_ref(), field::DST_ADDR.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Payload (extension headers included), up to the payload length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field.
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[0] = (d[0] & 0x0f) | (value << 4);
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, 0);
        write_u16(d, 0, (raw & 0xf00f) | (u16::from(value) << 4));
    }

    /// Sets the DSCP.
    #[inline]
    pub fn set_dscp(&mut self, value: u8) {
        let tc = self.traffic_class();
        self.set_traffic_class((tc & 0x03) | (value << 2));
    }

    /// Sets the ECN bits.
    #[inline]
    pub fn set_ecn(&mut self, value: u8) {
        let tc = self.traffic_class();
        self.set_traffic_class((tc & 0xfc) | (value & 0x03));
    }

    /// Sets the flow label (low 20 bits of `value`).
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let d = self.buffer.as_mut();
        let raw = read_u32(d, 0);
        write_u32(d, 0, (raw & 0xfff0_0000) | (value & 0x000f_ffff));
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Payload up to the payload length, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
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
            return f.write_str("IPv6 (truncated or malformed)");
        }
        write!(
            f,
            "IPv6 src={} dst={} nxt={} len={} hlim={} tc={:#04x} flow={:#07x}",
            self.src_addr(),
            self.dst_addr(),
            self.next_header(),
            self.payload_len(),
            self.hop_limit(),
            self.traffic_class(),
            self.flow_label()
        )
    }
}

/// A high-level representation of an IPv6 fixed header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// First header after the fixed header.
    pub next_header: IpProtocol,
    /// Payload length (extension headers included).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Parses a fixed header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header into a buffer of at least [`HEADER_LEN`] bytes. Errors if the
    /// payload length does not fit in 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let payload_len = u16::try_from(self.payload_len).map_err(|_| Error)?;
        // Write the first word whole: version, traffic class and flow label share it.
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xfffff);
        write_u32(packet.buffer.as_mut(), 0, word);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv6 src={} dst={} nxt={} payload_len={} hlim={}",
            self.src_addr, self.dst_addr, self.next_header, self.payload_len, self.hop_limit
        )
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// scapy: `IPv6(tc=0xb9, fl=0x12345, hlim=64, src="2001:db8::1",
    /// dst="2001:db8::2")/UDP(sport=500, dport=500)/b"abcd"`.
    static PACKET_BYTES: [u8; 52] = [
        0x6b, 0x91, 0x23, 0x45, 0x00, 0x0c, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0xf4, 0x01, 0xf4, 0x00,
        0x0c, 0xdb, 0xb2, 0x61, 0x62, 0x63, 0x64,
    ];

    fn src() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
    }

    fn dst() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)
    }

    fn repr() -> Repr {
        Repr {
            src_addr: src(),
            dst_addr: dst(),
            next_header: IpProtocol::Udp,
            payload_len: 12,
            hop_limit: 64,
            traffic_class: 0xb9,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0xb9);
        assert_eq!(packet.dscp(), 46);
        assert_eq!(packet.ecn(), 1);
        assert_eq!(packet.flow_label(), 0x12345);
        assert_eq!(packet.payload_len(), 12);
        assert_eq!(packet.next_header(), IpProtocol::Udp);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.src_addr(), src());
        assert_eq!(packet.dst_addr(), dst());
        assert_eq!(packet.payload(), &PACKET_BYTES[40..]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 52];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_version(6);
        packet.set_traffic_class(0);
        packet.set_dscp(46);
        packet.set_ecn(1);
        packet.set_flow_label(0x12345);
        packet.set_payload_len(12);
        packet.set_next_header(IpProtocol::Udp);
        packet.set_hop_limit(64);
        packet.set_src_addr(src());
        packet.set_dst_addr(dst());
        packet.payload_mut().copy_from_slice(&PACKET_BYTES[40..]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..PACKET_BYTES.len() {
            assert_eq!(Packet::new_checked(&PACKET_BYTES[..n]).err(), Some(Error), "len {n}");
        }
        let mut padded = PACKET_BYTES.to_vec();
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload(), &PACKET_BYTES[40..]);
        let mut bad = PACKET_BYTES;
        bad[0] = 0x4b;
        assert_eq!(Packet::new_checked(&bad[..]).err(), Some(Error));
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; 52];
        repr().emit(&mut Packet::new_unchecked(&mut bytes)).unwrap();
        bytes[40..].copy_from_slice(&PACKET_BYTES[40..]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
        let big = Repr { payload_len: 65536, ..repr() };
        assert_eq!(big.emit(&mut Packet::new_unchecked(&mut [0u8; 40][..])), Err(Error));
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 40);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..90),
                                       fix in any::<bool>()) {
            if fix && bytes.len() >= 40 {
                bytes[0] = 0x60 | (bytes[0] & 0x0f);
                let len = (bytes.len() - 40) as u16;
                bytes[4..6].copy_from_slice(&len.to_be_bytes());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.version(), p.traffic_class(), p.dscp(), p.ecn(), p.flow_label(),
                         p.payload_len(), p.next_header(), p.hop_limit(), p.src_addr(),
                         p.dst_addr(), p.payload());
                let _ = p.to_string();
                let repr = Repr::parse(&p).unwrap();
                let mut out = vec![0u8; repr.buffer_len()];
                repr.emit(&mut Packet::new_unchecked(&mut out)).unwrap();
                prop_assert_eq!(&out[..], &bytes[..40]);
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
        }
    }
}
