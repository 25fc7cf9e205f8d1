//! TCP segments (RFC 9293), as far as classification, checksums and MSS clamping need.

use core::fmt;

use super::{
    Error, IpProtocol, Ipv4Addr, Ipv6Addr, Result, checksum, read_u16, read_u32, write_u16,
    write_u32,
};

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a TCP header without options (RFC 9293 section 3.1).
pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP control bits (RFC 9293 section 3.1; ECE and CWR from RFC 3168).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push function.
    pub const PSH: u16 = 0x008;
    /// Acknowledgment field is significant.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer field is significant.
    pub const URG: u16 = 0x020;
    /// ECN-Echo.
    pub const ECE: u16 = 0x040;
    /// Congestion Window Reduced.
    pub const CWR: u16 = 0x080;
}

/// Option kinds used here (RFC 9293 section 3.2).
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_MSS_LEN: usize = 4;

/// A read/write wrapper around a TCP segment buffer.
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

    /// Checks the header: at least 20 bytes, and 20 ≤ data offset × 4 ≤ buffer length.
    /// The segment is the whole buffer (TCP has no length field): slice it to the IP
    /// payload first.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN || header_len > len { Err(Error) } else { Ok(()) }
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes, options included (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The control bits (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS.start) & 0x0fff
    }

    /// FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    /// SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    /// PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    /// ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// URG flag.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    /// ECE flag.
    #[inline]
    pub fn ece(&self) -> bool {
        self.flags() & flags::ECE != 0
    }

    /// CWR flag.
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flags() & flags::CWR != 0
    }

    /// Window size.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    fn options_slice(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The MSS option value, if present. Errors on a malformed option list.
    pub fn mss(&self) -> Result<Option<u16>> {
        let opts = self.options_slice();
        Ok(find_mss(opts)?.map(|at| read_u16(opts, at + 2)))
    }

    /// Verifies the checksum over the IPv4 pseudo-header and the whole buffer.
    #[inline]
    pub fn verify_checksum_v4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        let d = self.buffer.as_ref();
        let Ok(len) = u16::try_from(d.len()) else { return false };
        checksum::combine(&[
            checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, len),
            checksum::data(d),
        ]) == !0
    }

    /// Verifies the checksum over the IPv6 pseudo-header and the whole buffer.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let d = self.buffer.as_ref();
        let Ok(len) = u32::try_from(d.len()) else { return false };
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, len),
            checksum::data(d),
        ]) == !0
    }
}

/// Offset of the MSS option in an option list, if any.
fn find_mss(opts: &[u8]) -> Result<Option<usize>> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            OPT_END => return Ok(None),
            OPT_NOP => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1).ok_or(Error)?);
                if len < 2 || i + len > opts.len() {
                    return Err(Error);
                }
                if kind == OPT_MSS {
                    if len != OPT_MSS_LEN {
                        return Err(Error);
                    }
                    return Ok(Some(i));
                }
                i += len;
            }
        }
    }
    Ok(None)
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Option bytes.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// Segment data after the header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM.start, value);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM.start, value);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::FLAGS.start] = (d[field::FLAGS.start] & 0x0f) | ((value / 4) << 4);
    }

    /// Sets the control bits (the reserved bits above them are cleared).
    #[inline]
    pub fn set_flags(&mut self, value: u16) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, field::FLAGS.start);
        write_u16(d, field::FLAGS.start, (raw & 0xf000) | (value & 0x00ff));
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE.start, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, value);
    }

    /// Computes and writes the checksum over the IPv4 pseudo-header and the whole buffer.
    /// Errors if the buffer exceeds 65535 bytes.
    pub fn fill_checksum_v4(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) -> Result<()> {
        let len = u16::try_from(self.buffer.as_ref().len()).map_err(|_| Error)?;
        self.set_checksum(0);
        let sum = checksum::combine(&[
            checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, len),
            checksum::data(self.buffer.as_ref()),
        ]);
        self.set_checksum(!sum);
        Ok(())
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header and the whole buffer.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<()> {
        let len = u32::try_from(self.buffer.as_ref().len()).map_err(|_| Error)?;
        self.set_checksum(0);
        let sum = checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, len),
            checksum::data(self.buffer.as_ref()),
        ]);
        self.set_checksum(!sum);
        Ok(())
    }

    /// Lowers the MSS option to `max` if it is larger, patching the checksum incrementally
    /// (RFC 1624), as a tunnel endpoint does for SYNs so that segments fit the tunnel MTU.
    /// Returns whether the segment changed. Errors on a malformed option list.
    pub fn clamp_mss(&mut self, max: u16) -> Result<bool> {
        let header_len = usize::from(self.header_len());
        let Some(at) = find_mss(&self.buffer.as_ref()[HEADER_LEN..header_len])? else {
            return Ok(false);
        };
        let at = HEADER_LEN + at + 2;
        let old = read_u16(self.buffer.as_ref(), at);
        if old <= max {
            return Ok(false);
        }
        // The option is 16-bit aligned only if `at` is even; an odd offset shifts the word
        // into the other byte lane of the ones' complement sum.
        let (old_w, new_w) = if at.is_multiple_of(2) {
            (old, max)
        } else {
            (old.rotate_left(8), max.rotate_left(8))
        };
        let updated = checksum::update_u16(self.checksum(), old_w, new_w);
        write_u16(self.buffer.as_mut(), at, max);
        self.set_checksum(updated);
        Ok(true)
    }

    /// Option bytes, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..header_len]
    }

    /// Segment data, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = usize::from(self.header_len());
        &mut self.buffer.as_mut()[header_len..]
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
            return f.write_str("TCP (truncated or malformed)");
        }
        write!(f, "TCP src={} dst={}", self.src_port(), self.dst_port())?;
        for (bit, name) in [
            (flags::SYN, " syn"),
            (flags::ACK, " ack"),
            (flags::FIN, " fin"),
            (flags::RST, " rst"),
            (flags::PSH, " psh"),
            (flags::URG, " urg"),
            (flags::ECE, " ece"),
            (flags::CWR, " cwr"),
        ] {
            if self.flags() & bit != 0 {
                f.write_str(name)?;
            }
        }
        write!(
            f,
            " seq={} ack={} win={} len={}",
            self.seq_number(),
            self.ack_number(),
            self.window_len(),
            self.buffer.as_ref().len() - usize::from(self.header_len())
        )?;
        if let Ok(Some(mss)) = self.mss() {
            write!(f, " mss={mss}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    /// SYN+ECE with MSS 1460, NOP, window scale 7, from scapy: `IP(src="192.0.2.1",
    /// dst="198.51.100.2")/TCP(sport=12345, dport=80, flags="SE", seq=0x01020304,
    /// window=65535, options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])`.
    static PACKET_BYTES: [u8; 28] = [
        0x30, 0x39, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x70, 0x42, 0xff,
        0xff, 0x63, 0x12, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07,
    ];

    static OPTION_BYTES: [u8; 8] = [0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07];

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.src_port(), 12345);
        assert_eq!(packet.dst_port(), 80);
        assert_eq!(packet.seq_number(), 0x0102_0304);
        assert_eq!(packet.ack_number(), 0);
        assert_eq!(packet.header_len(), 28);
        assert_eq!(packet.flags(), flags::SYN | flags::ECE);
        assert!(packet.syn() && packet.ece());
        assert!(!(packet.fin() || packet.rst() || packet.psh() || packet.ack()));
        assert!(!(packet.urg() || packet.cwr()));
        assert_eq!(packet.window_len(), 65535);
        assert_eq!(packet.checksum(), 0x6312);
        assert_eq!(packet.urgent_at(), 0);
        assert_eq!(packet.options(), &OPTION_BYTES[..]);
        assert_eq!(packet.payload(), &[] as &[u8]);
        assert_eq!(packet.mss(), Ok(Some(1460)));
        assert!(packet.verify_checksum_v4(&SRC, &DST));
        assert!(!packet.verify_checksum_v4(&DST, &DST));
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 28];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_src_port(12345);
        packet.set_dst_port(80);
        packet.set_seq_number(0x0102_0304);
        packet.set_ack_number(0);
        packet.set_header_len(28);
        packet.set_flags(flags::SYN | flags::ECE);
        packet.set_window_len(65535);
        packet.set_urgent_at(0);
        packet.options_mut().copy_from_slice(&OPTION_BYTES);
        packet.fill_checksum_v4(&SRC, &DST).unwrap();
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..PACKET_BYTES.len() {
            assert_eq!(Packet::new_checked(&PACKET_BYTES[..n]).err(), Some(Error));
        }
        let mut bad = PACKET_BYTES;
        bad[12] = 0x40; // data offset 4 (16 bytes)
        assert_eq!(Packet::new_checked(&bad[..]).err(), Some(Error));
    }

    #[test]
    fn test_clamp_mss() {
        let mut bytes = PACKET_BYTES;
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(packet.clamp_mss(1500), Ok(false));
        assert_eq!(packet.clamp_mss(1360), Ok(true));
        assert_eq!(packet.mss(), Ok(Some(1360)));
        assert!(packet.verify_checksum_v4(&SRC, &DST));
        // MSS at an odd offset (after one NOP): still a correct incremental update.
        let mut odd = [0u8; 32];
        odd[..20].copy_from_slice(&PACKET_BYTES[..20]);
        odd[12] = 0x80;
        odd[20..32].copy_from_slice(&[1, 2, 4, 0x05, 0xb4, 1, 1, 1, 0, 0, 0, 0]);
        let mut packet = Packet::new_checked(&mut odd[..]).unwrap();
        packet.fill_checksum_v4(&SRC, &DST).unwrap();
        assert_eq!(packet.clamp_mss(1200), Ok(true));
        assert_eq!(packet.mss(), Ok(Some(1200)));
        assert!(packet.verify_checksum_v4(&SRC, &DST));
        // Malformed options: a zero-length option.
        let mut bad = PACKET_BYTES;
        bad[24] = 8;
        bad[25] = 0;
        let mut packet = Packet::new_checked(&mut bad[..]).unwrap();
        assert_eq!(packet.mss(), Ok(Some(1460)));
        packet.options_mut()[0] = 30;
        packet.options_mut()[1] = 0;
        assert_eq!(packet.mss(), Err(Error));
        assert_eq!(packet.clamp_mss(1000), Err(Error));
    }

    #[test]
    fn test_checksum_v6() {
        let src = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        let mut bytes = PACKET_BYTES;
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum_v6(&src, &dst).unwrap();
        assert!(packet.verify_checksum_v6(&src, &dst));
        assert!(!packet.verify_checksum_v6(&dst, &dst));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80),
                                       max in any::<u16>()) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(),
                         p.header_len(), p.flags(), p.fin(), p.syn(), p.rst(), p.psh(),
                         p.ack(), p.urg(), p.ece(), p.cwr(), p.window_len(), p.checksum(),
                         p.urgent_at(), p.options(), p.payload(), p.mss());
                let _ = p.verify_checksum_v4(&SRC, &DST);
                let _ = p.to_string();
                let mut copy = bytes.clone();
                let mut pm = Packet::new_checked(&mut copy[..]).unwrap();
                pm.fill_checksum_v4(&SRC, &DST).unwrap();
                if pm.clamp_mss(max) == Ok(true) {
                    prop_assert!(pm.verify_checksum_v4(&SRC, &DST));
                    prop_assert_eq!(pm.mss(), Ok(Some(max)));
                }
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
        }
    }
}
