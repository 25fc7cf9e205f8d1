//! IPv4 headers (RFC 791), with options.

use core::fmt;

use super::{Error, IpProtocol, Ipv4Addr, Result, checksum, read_ipv4, read_u16, write_u16};

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options (RFC 791 section 3.1, IHL = 5).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Largest IPv4 header: IHL = 15 (RFC 791 section 3.1).
pub const MAX_HEADER_LEN: usize = 60;

/// Minimum MTU every IPv4 link must carry without fragmentation (RFC 791 section 3.2).
pub const MIN_MTU: usize = 68;

/// "Don't Fragment" flag bit in the flags/fragment-offset word (RFC 791 section 3.1).
const FLAG_DF: u16 = 0x4000;
/// "More Fragments" flag bit.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask (units of 8 bytes).
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write wrapper around an IPv4 packet buffer.
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

    /// Checks the header: at least 20 bytes, version 4, IHL ≥ 5, header length ≤ total
    /// length ≤ buffer length. The buffer may be longer than the total length (Ethernet
    /// padding); [`payload`](Packet::payload) stops at the total length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || self.version() != 4 {
            return Err(Error);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || header_len > total_len || total_len > len {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 for a packet that passed `check_len`).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification bits (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The whole DSCP/ECN byte (former TOS), as tunnel mode copies it (RFC 4301 5.1.2.1).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length: header and payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// The "Don't Fragment" flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }

    /// The "More Fragments" flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Time to live, under its IPv6 name.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.ttl()
    }

    /// Protocol of the payload.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// Whether the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let header_len = usize::from(self.header_len());
        checksum::data(&self.buffer.as_ref()[..header_len]) == !0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Option bytes (between the fixed header and the payload).
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        let header_len = usize::from(self.header_len());
        &self.buffer.as_ref()[HEADER_LEN..header_len]
    }

    /// Payload, up to the total length (Ethernet padding excluded).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field.
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_IHL] = (d[field::VER_IHL] & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_IHL] = (d[field::VER_IHL] & 0xf0) | ((value / 4) & 0x0f);
    }

    /// Sets the DSCP.
    #[inline]
    pub fn set_dscp(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::DSCP_ECN] = (d[field::DSCP_ECN] & 0x03) | (value << 2);
    }

    /// Sets the ECN bits.
    #[inline]
    pub fn set_ecn(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::DSCP_ECN] = (d[field::DSCP_ECN] & 0xfc) | (value & 0x03);
    }

    /// Sets the whole DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, value);
    }

    /// Clears the flags and the fragment offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, field::FLG_OFF.start) & OFFSET_MASK;
        write_u16(d, field::FLG_OFF.start, raw);
    }

    fn set_flag(&mut self, flag: u16, value: bool) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, field::FLG_OFF.start);
        write_u16(d, field::FLG_OFF.start, if value { raw | flag } else { raw & !flag });
    }

    /// Sets the "Don't Fragment" flag.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flag(FLAG_DF, value);
    }

    /// Sets the "More Fragments" flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flag(FLAG_MF, value);
    }

    /// Sets the fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, field::FLG_OFF.start);
        write_u16(d, field::FLG_OFF.start, (raw & !OFFSET_MASK) | ((value >> 3) & OFFSET_MASK));
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the time to live, under its IPv6 name.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.set_ttl(value);
    }

    /// Sets the protocol field.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Computes the header checksum (over `header_len` bytes) and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = usize::from(self.header_len());
        let sum = checksum::data(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(!sum);
    }

    /// Decrements the TTL and patches the checksum incrementally (RFC 1624, RFC 1812
    /// 5.3.1), as a forwarding router does. Returns the new TTL; a packet arriving with TTL
    /// 0 or 1 must not be forwarded, and is left unchanged with `Err`.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Result<u8> {
        let ttl = self.ttl();
        if ttl <= 1 {
            return Err(Error);
        }
        let proto = self.buffer.as_ref()[field::PROTOCOL];
        let updated = checksum::update_for_ttl_decrement(self.checksum(), ttl, proto);
        self.set_ttl(ttl - 1);
        self.set_checksum(updated);
        Ok(ttl - 1)
    }

    /// Option bytes, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..header_len]
    }

    /// Payload up to the total length, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
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
            return f.write_str("IPv4 (truncated or malformed)");
        }
        write!(
            f,
            "IPv4 src={} dst={} proto={} len={} ttl={} id={:#06x}",
            self.src_addr(),
            self.dst_addr(),
            self.next_header(),
            self.total_len(),
            self.ttl(),
            self.ident()
        )?;
        if self.dont_frag() {
            f.write_str(" DF")?;
        }
        if self.is_fragment() {
            write!(f, " frag off={} mf={}", self.frag_offset(), self.more_frags())?;
        }
        if self.header_len() as usize > HEADER_LEN {
            write!(f, " opts={}", self.header_len() as usize - HEADER_LEN)?;
        }
        if !self.verify_checksum() {
            f.write_str(" (bad checksum)")?;
        }
        Ok(())
    }
}

/// A high-level representation of an unfragmented IPv4 header without options.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub next_header: IpProtocol,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub hop_limit: u8,
    /// DSCP/ECN byte.
    pub dscp_ecn: u8,
    /// "Don't Fragment" flag.
    pub dont_frag: bool,
}

impl Repr {
    /// Parses a header, verifying its checksum. Fragments are rejected (they need
    /// reassembly first); options are skipped.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() || packet.is_fragment() {
            return Err(Error);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            hop_limit: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header (identification 0, checksum filled) into a buffer of at
    /// least [`HEADER_LEN`] bytes. Errors if the total length does not fit in 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let total_len = u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| Error)?;
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len(total_len);
        packet.set_ident(0);
        packet.clear_flags();
        packet.set_frag_offset(0);
        packet.set_dont_frag(self.dont_frag);
        packet.set_ttl(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv4 src={} dst={} proto={} payload_len={} ttl={}",
            self.src_addr, self.dst_addr, self.next_header, self.payload_len, self.hop_limit
        )
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// IPv4/UDP from scapy: `IP(tos=0xb9, id=0x1234, flags="DF", ttl=64, src="192.0.2.1",
    /// dst="198.51.100.2")/UDP(sport=4500, dport=4500)/b"\xff"` (a NAT-keepalive).
    static PACKET_BYTES: [u8; 29] = [
        0x45, 0xb9, 0x00, 0x1d, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x3b, 0xac, 0xc0, 0x00, 0x02,
        0x01, 0xc6, 0x33, 0x64, 0x02, 0x11, 0x94, 0x11, 0x94, 0x00, 0x09, 0xf1, 0x7b, 0xff,
    ];

    static PAYLOAD_BYTES: [u8; 9] = [0x11, 0x94, 0x11, 0x94, 0x00, 0x09, 0xf1, 0x7b, 0xff];

    /// A fragment with a Router Alert option carrying ESP: scapy `IP(id=0xabcd, flags="MF",
    /// frag=185, ttl=1, proto=50, src="10.0.0.1", dst="10.0.0.2",
    /// options=[IPOption_Router_Alert()])/payload`.
    static OPTIONS_BYTES: [u8; 32] = [
        0x46, 0x00, 0x00, 0x20, 0xab, 0xcd, 0x20, 0xb9, 0x01, 0x32, 0x44, 0x1f, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0x94, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa5, 0xf8, 0x00, 0x00,
        0x00, 0x0a,
    ];

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 2),
            next_header: IpProtocol::Udp,
            payload_len: 9,
            hop_limit: 64,
            dscp_ecn: 0xb9,
            dont_frag: true,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.dscp(), 46);
        assert_eq!(packet.ecn(), 1);
        assert_eq!(packet.total_len(), 29);
        assert_eq!(packet.ident(), 0x1234);
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert!(!packet.is_fragment());
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.next_header(), IpProtocol::Udp);
        assert_eq!(packet.checksum(), 0x3bac);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(198, 51, 100, 2));
        assert!(packet.verify_checksum());
        assert_eq!(packet.options(), &[] as &[u8]);
        assert_eq!(packet.payload(), &PAYLOAD_BYTES[..]);
    }

    #[test]
    fn test_deconstruct_options_and_fragment() {
        let packet = Packet::new_checked(&OPTIONS_BYTES[..]).unwrap();
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert!(packet.more_frags());
        assert!(!packet.dont_frag());
        assert_eq!(packet.frag_offset(), 185 * 8);
        assert!(packet.is_fragment());
        assert_eq!(packet.next_header(), IpProtocol::Esp);
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &OPTIONS_BYTES[24..]);
        assert_eq!(Repr::parse(&packet), Err(Error));
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 29];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_version(4);
        packet.set_header_len(20);
        packet.clear_flags();
        packet.set_dscp(46);
        packet.set_ecn(1);
        packet.set_total_len(29);
        packet.set_ident(0x1234);
        packet.set_more_frags(false);
        packet.set_dont_frag(true);
        packet.set_frag_offset(0);
        packet.set_ttl(64);
        packet.set_next_header(IpProtocol::Udp);
        packet.set_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        packet.set_dst_addr(Ipv4Addr::new(198, 51, 100, 2));
        packet.fill_checksum();
        packet.payload_mut().copy_from_slice(&PAYLOAD_BYTES[..]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_construct_fragment() {
        let mut bytes = OPTIONS_BYTES;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_frag_offset(0);
        packet.set_more_frags(false);
        assert!(!packet.is_fragment());
        packet.set_frag_offset(185 * 8);
        packet.set_more_frags(true);
        packet.options_mut()[0] = 0x94;
        assert_eq!(bytes, OPTIONS_BYTES);
    }

    #[test]
    fn test_check_len() {
        for n in 0..PACKET_BYTES.len() {
            assert_eq!(Packet::new_checked(&PACKET_BYTES[..n]).err(), Some(Error), "len {n}");
        }
        for n in 0..OPTIONS_BYTES.len() {
            assert_eq!(Packet::new_checked(&OPTIONS_BYTES[..n]).err(), Some(Error), "len {n}");
        }
        // Longer buffer (Ethernet padding) is fine and not part of the payload.
        let mut padded = PACKET_BYTES.to_vec();
        padded.extend_from_slice(&[0; 17]);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(packet.payload(), &PAYLOAD_BYTES[..]);
        // Wrong version, IHL < 5, total length < header length.
        let mut bad = PACKET_BYTES;
        bad[0] = 0x65;
        assert!(Packet::new_checked(&bad[..]).is_err());
        let mut bad = PACKET_BYTES;
        bad[0] = 0x44;
        assert!(Packet::new_checked(&bad[..]).is_err());
        let mut bad = PACKET_BYTES;
        bad[3] = 19;
        assert!(Packet::new_checked(&bad[..]).is_err());
        let mut bad = PACKET_BYTES;
        bad[0] = 0x4f; // 60-byte header in a 29-byte packet
        assert!(Packet::new_checked(&bad[..]).is_err());
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), repr());
        let mut bad = PACKET_BYTES;
        bad[11] ^= 1;
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bad[..])), Err(Error));
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; 29];
        let mut packet = Packet::new_unchecked(&mut bytes);
        repr().emit(&mut packet).unwrap();
        // Repr leaves the identification at 0; set it like the original and re-checksum.
        packet.set_ident(0x1234);
        packet.fill_checksum();
        packet.payload_mut().copy_from_slice(&PAYLOAD_BYTES[..]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
        let big = Repr { payload_len: 65536, ..repr() };
        assert_eq!(big.emit(&mut Packet::new_unchecked(&mut [0u8; 20][..])), Err(Error));
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 20);
    }

    #[test]
    fn test_decrement_ttl() {
        let mut bytes = PACKET_BYTES;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        assert_eq!(packet.decrement_ttl(), Ok(63));
        assert!(packet.verify_checksum());
        let incremental = packet.checksum();
        packet.fill_checksum();
        assert_eq!(packet.checksum(), incremental);
        packet.set_ttl(1);
        packet.fill_checksum();
        assert_eq!(packet.decrement_ttl(), Err(Error));
        assert_eq!(packet.ttl(), 1);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..80),
                                       fix in any::<bool>()) {
            if fix && bytes.len() >= 20 {
                // Steer half the cases past the version/length checks.
                bytes[0] = 0x40 | (bytes[0] & 0x0f);
                let len = bytes.len() as u16;
                bytes[2..4].copy_from_slice(&len.to_be_bytes());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.version(), p.header_len(), p.dscp(), p.ecn(), p.total_len(),
                         p.ident(), p.dont_frag(), p.more_frags(), p.frag_offset(), p.ttl(),
                         p.next_header(), p.checksum(), p.src_addr(), p.dst_addr(),
                         p.verify_checksum(), p.options(), p.payload(), p.is_fragment());
                let _ = p.to_string();
                if let Ok(repr) = Repr::parse(&p) {
                    prop_assert_eq!(repr.payload_len, p.payload().len());
                }
                let mut copy = bytes.clone();
                let mut pm = Packet::new_checked(&mut copy[..]).unwrap();
                let _ = pm.decrement_ttl();
                let _ = (pm.options_mut().len(), pm.payload_mut().len());
                pm.fill_checksum();
                prop_assert!(pm.verify_checksum());
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
        }
    }
}
