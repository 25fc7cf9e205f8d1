//! ICMP for IPv4 (RFC 792), with the "fragmentation needed" next-hop MTU of RFC 1191.

use core::fmt;

use super::{Error, Result, checksum, ipv4, read_u16, write_u16};

enum_with_unknown! {
    /// ICMPv4 message type (RFC 792, IANA "ICMP Type Numbers").
    pub enum Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Router advertisement (RFC 1256).
        RouterAdvert = 9,
        /// Router solicitation (RFC 1256).
        RouterSolicit = 10,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
        /// Timestamp.
        Timestamp = 13,
        /// Timestamp reply.
        TimestampReply = 14,
    }
}

enum_with_unknown! {
    /// Codes of "destination unreachable" (RFC 792, RFC 1191, RFC 1812 section 5.2.7.1).
    pub enum DstUnreachable(u8) {
        /// Net unreachable.
        NetUnreachable = 0,
        /// Host unreachable.
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191).
        FragRequired = 4,
        /// Source route failed.
        SrcRouteFailed = 5,
        /// Destination network unknown.
        DstNetUnknown = 6,
        /// Destination host unknown.
        DstHostUnknown = 7,
        /// Source host isolated.
        SrcHostIsolated = 8,
        /// Network administratively prohibited.
        NetProhibited = 9,
        /// Host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for ToS.
        NetUnreachToS = 11,
        /// Host unreachable for ToS.
        HostUnreachToS = 12,
        /// Communication administratively prohibited (RFC 1812).
        CommProhibited = 13,
        /// Host precedence violation.
        HostPrecedViol = 14,
        /// Precedence cutoff in effect.
        PrecedCutoff = 15,
    }
}

enum_with_unknown! {
    /// Codes of "time exceeded" (RFC 792).
    pub enum TimeExceeded(u8) {
        /// TTL exceeded in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

mod field {
    use core::ops::{Range, RangeFrom};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const UNUSED: Range<usize> = 4..6;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    pub const DATA: RangeFrom<usize> = 8..;
}

/// Length of the ICMPv4 header: type, code, checksum and the 4-byte rest-of-header.
pub const HEADER_LEN: usize = field::DATA.start;

/// Most bytes of the offending datagram an error message should quote: RFC 1812 section
/// 4.3.2.3 caps the whole error datagram at 576 bytes (minus IPv4 and ICMP headers).
pub const ERROR_DATA_MAX_LEN: usize = 576 - ipv4::HEADER_LEN - HEADER_LEN;

/// A read/write wrapper around an ICMPv4 message. ICMP has no length field: the message is
/// the whole buffer (slice it to the IPv4 payload).
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

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Echo identifier (echo request/reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number (echo request/reply).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191 section 4); 0 from
    /// routers that predate it.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// Whether the checksum over the whole buffer is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == !0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the 8-byte header (echo data, or the quoted datagram of an error).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value);
    }

    /// Zeroes the first two bytes of the rest-of-header (unused in error messages).
    #[inline]
    pub fn clear_unused(&mut self) {
        write_u16(self.buffer.as_mut(), field::UNUSED.start, 0);
    }

    /// Sets the next-hop MTU.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, value);
    }

    /// Computes the checksum over the whole buffer and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }

    /// The bytes after the header, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
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
            return f.write_str("ICMPv4 (truncated)");
        }
        match Repr::parse(&Packet::new_unchecked(self.buffer.as_ref())) {
            Ok(repr) => write!(f, "{repr}"),
            Err(_) => write!(
                f,
                "ICMPv4 type={:?} code={} len={}",
                self.msg_type(),
                self.msg_code(),
                self.buffer.as_ref().len()
            ),
        }
    }
}

/// A high-level representation of the ICMPv4 messages the dataplane answers or sends.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Code.
        reason: DstUnreachable,
        /// Next-hop MTU for [`DstUnreachable::FragRequired`]; 0 otherwise.
        next_hop_mtu: u16,
        /// The offending datagram's first bytes (IPv4 header and at least 8 more bytes).
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Code.
        reason: TimeExceeded,
        /// The offending datagram's first bytes.
        data: &'a [u8],
    },
}

/// An error message must quote at least an IPv4 header (RFC 792; RFC 1812 section
/// 4.3.2.3 asks for as much as fits).
fn check_quoted(data: &[u8]) -> Result<()> {
    match data.first() {
        Some(b) if b >> 4 == 4 && data.len() >= ipv4::HEADER_LEN => Ok(()),
        _ => Err(Error),
    }
}

impl<'a> Repr<'a> {
    /// Parses a message, verifying its checksum. Types other than the four above are an
    /// error (callers that forward or count them use the view).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error);
        }
        match (packet.msg_type(), packet.msg_code()) {
            (Message::EchoRequest, 0) => Ok(Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Message::EchoReply, 0) => Ok(Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Message::DstUnreachable, code) => {
                check_quoted(packet.data())?;
                let reason = DstUnreachable::from(code);
                let next_hop_mtu =
                    if reason == DstUnreachable::FragRequired { packet.next_hop_mtu() } else { 0 };
                Ok(Repr::DstUnreachable { reason, next_hop_mtu, data: packet.data() })
            }
            (Message::TimeExceeded, code) => {
                check_quoted(packet.data())?;
                Ok(Repr::TimeExceeded { reason: TimeExceeded::from(code), data: packet.data() })
            }
            _ => Err(Error),
        }
    }

    /// Message length in bytes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::DstUnreachable { data, .. }
            | Repr::TimeExceeded { data, .. } => HEADER_LEN + data.len(),
        }
    }

    /// Writes the message and its checksum. The buffer must be exactly
    /// [`buffer_len`](Repr::buffer_len) bytes (the checksum covers the whole buffer).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() != self.buffer_len() {
            return Err(Error);
        }
        let data = match *self {
            Repr::EchoRequest { ident, seq_no, data } | Repr::EchoReply { ident, seq_no, data } => {
                let ty = if matches!(self, Repr::EchoRequest { .. }) {
                    Message::EchoRequest
                } else {
                    Message::EchoReply
                };
                packet.set_msg_type(ty);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                data
            }
            Repr::DstUnreachable { reason, next_hop_mtu, data } => {
                packet.set_msg_type(Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.clear_unused();
                packet.set_next_hop_mtu(next_hop_mtu);
                data
            }
            Repr::TimeExceeded { reason, data } => {
                packet.set_msg_type(Message::TimeExceeded);
                packet.set_msg_code(reason.into());
                packet.clear_unused();
                packet.set_next_hop_mtu(0);
                data
            }
        };
        packet.data_mut().copy_from_slice(data);
        packet.fill_checksum();
        Ok(())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repr::EchoRequest { ident, seq_no, data } => {
                write!(f, "ICMPv4 echo request id={ident} seq={seq_no} len={}", data.len())
            }
            Repr::EchoReply { ident, seq_no, data } => {
                write!(f, "ICMPv4 echo reply id={ident} seq={seq_no} len={}", data.len())
            }
            Repr::DstUnreachable { reason, next_hop_mtu, data } => write!(
                f,
                "ICMPv4 destination unreachable ({reason:?}) mtu={next_hop_mtu} quoted={}",
                data.len()
            ),
            Repr::TimeExceeded { reason, data } => {
                write!(f, "ICMPv4 time exceeded ({reason:?}) quoted={}", data.len())
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// scapy: `ICMP(type=8, id=0x1234, seq=1)/b"abcdefgh"`.
    static ECHO_PACKET_BYTES: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];

    /// scapy: `ICMP(type=3, code=4, nexthopmtu=1400)` quoting the first 28 bytes of
    /// `IP(src="198.51.100.2", dst="203.0.113.9", id=7, flags="DF", ttl=63)/UDP(sport=1000,
    /// dport=2000)/(b"x"*1472)`.
    static PACKET_BYTES: [u8; 36] = [
        0x03, 0x04, 0xbd, 0xf7, 0x00, 0x00, 0x05, 0x78, 0x45, 0x00, 0x05, 0xdc, 0x00, 0x07, 0x40,
        0x00, 0x3f, 0x11, 0xcf, 0xca, 0xc6, 0x33, 0x64, 0x02, 0xcb, 0x00, 0x71, 0x09, 0x03, 0xe8,
        0x07, 0xd0, 0x05, 0xc8, 0x28, 0x0c,
    ];

    fn echo_repr() -> Repr<'static> {
        Repr::EchoRequest { ident: 0x1234, seq_no: 1, data: b"abcdefgh" }
    }

    fn ptb_repr() -> Repr<'static> {
        Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1400,
            data: &PACKET_BYTES[8..],
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&ECHO_PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::EchoRequest);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.checksum(), 0x5435);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq_no(), 1);
        assert_eq!(packet.data(), b"abcdefgh");
        assert!(packet.verify_checksum());

        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::DstUnreachable);
        assert_eq!(DstUnreachable::from(packet.msg_code()), DstUnreachable::FragRequired);
        assert_eq!(packet.next_hop_mtu(), 1400);
        assert!(packet.verify_checksum());
        let quoted = ipv4::Packet::new_unchecked(packet.data());
        assert_eq!(quoted.total_len(), 1500);
        assert!(quoted.dont_frag());
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 16];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_msg_type(Message::EchoRequest);
        packet.set_msg_code(0);
        packet.set_echo_ident(0x1234);
        packet.set_echo_seq_no(1);
        packet.data_mut().copy_from_slice(b"abcdefgh");
        packet.fill_checksum();
        assert_eq!(&bytes[..], &ECHO_PACKET_BYTES[..]);

        let mut bytes = vec![0xa5; 36];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_msg_type(Message::DstUnreachable);
        packet.set_msg_code(DstUnreachable::FragRequired.into());
        packet.clear_unused();
        packet.set_next_hop_mtu(1400);
        packet.data_mut().copy_from_slice(&PACKET_BYTES[8..]);
        packet.fill_checksum();
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&PACKET_BYTES[..n]).err(), Some(Error));
        }
        // An error message must quote at least a whole IPv4 header.
        let mut short = PACKET_BYTES[..27].to_vec();
        Packet::new_unchecked(&mut short[..]).fill_checksum();
        assert_eq!(Repr::parse(&Packet::new_checked(&short[..]).unwrap()), Err(Error));
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&ECHO_PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), echo_repr());
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), ptb_repr());
        let mut bad = ECHO_PACKET_BYTES;
        bad[15] ^= 1;
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bad[..])), Err(Error));
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; 16];
        echo_repr().emit(&mut Packet::new_unchecked(&mut bytes)).unwrap();
        assert_eq!(&bytes[..], &ECHO_PACKET_BYTES[..]);
        let mut bytes = vec![0xa5; 36];
        ptb_repr().emit(&mut Packet::new_unchecked(&mut bytes)).unwrap();
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
        let mut wrong = vec![0xa5; 37];
        assert_eq!(ptb_repr().emit(&mut Packet::new_unchecked(&mut wrong)), Err(Error));
        let te = Repr::TimeExceeded { reason: TimeExceeded::TtlExpired, data: &PACKET_BYTES[8..] };
        let mut bytes = vec![0xa5; te.buffer_len()];
        te.emit(&mut Packet::new_unchecked(&mut bytes)).unwrap();
        assert_eq!(&bytes[..8], &[11, 0, 0xbb, 0x73, 0, 0, 0, 0]);
        assert_eq!(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(te));
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(echo_repr().buffer_len(), ECHO_PACKET_BYTES.len());
        assert_eq!(ptb_repr().buffer_len(), PACKET_BYTES.len());
        assert_eq!(ERROR_DATA_MAX_LEN, 548);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..60)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(),
                         p.echo_seq_no(), p.next_hop_mtu(), p.verify_checksum(), p.data());
                let _ = p.to_string();
                let mut copy = bytes.clone();
                let mut pm = Packet::new_checked(&mut copy[..]).unwrap();
                pm.fill_checksum();
                let pm = Packet::new_checked(&copy[..]).unwrap();
                if let Ok(repr) = Repr::parse(&pm) {
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Packet::new_unchecked(&mut out[..])).unwrap();
                    let reparsed = Packet::new_checked(&out[..]).unwrap();
                    prop_assert_eq!(Repr::parse(&reparsed), Ok(repr));
                }
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
        }
    }
}
