//! IPv6 extension headers (RFC 8200 section 4): the Fragment header, the generic
//! options/routing header layout, and a bounded walker that finds the upper-layer header.

use core::fmt;

use super::{Error, IpProtocol, Result, read_u16, read_u32, write_u16, write_u32};

/// Most extension headers [`upper_layer`] walks before giving up. RFC 8200 section 4.1
/// recommends at most one of each kind (two Destination Options); RFC 7045 lets a
/// forwarding node stop somewhere. Eight covers every legitimate chain.
pub const MAX_EXT_HEADERS: usize = 8;

mod field {
    use core::ops::Range;

    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const FR_OF_M: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..8;
}

/// Length of the Fragment header (RFC 8200 section 4.5).
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// A read/write wrapper around an IPv6 Fragment header.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> FragmentHeader<T> {
        FragmentHeader { buffer }
    }

    /// Wraps a buffer and checks that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<FragmentHeader<T>> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FRAGMENT_HEADER_LEN { Err(Error) } else { Ok(()) }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type of the header after this one (in the first fragment).
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FR_OF_M.start) & 0xfff8
    }

    /// The M flag: more fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FR_OF_M.start) & 0x1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::IDENT.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> FragmentHeader<&'a T> {
    /// The bytes after the Fragment header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[FRAGMENT_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }

    /// Zeroes the reserved byte and the two reserved bits.
    #[inline]
    pub fn clear_reserved(&mut self) {
        let d = self.buffer.as_mut();
        d[field::LENGTH] = 0;
        let raw = read_u16(d, field::FR_OF_M.start);
        write_u16(d, field::FR_OF_M.start, raw & 0xfff9);
    }

    /// Sets the fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, field::FR_OF_M.start);
        write_u16(d, field::FR_OF_M.start, (raw & 0x7) | (value & 0xfff8));
    }

    /// Sets the M flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let d = self.buffer.as_mut();
        let raw = read_u16(d, field::FR_OF_M.start);
        write_u16(d, field::FR_OF_M.start, (raw & !1) | u16::from(value));
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::IDENT.start, value);
    }
}

impl<T: AsRef<[u8]>> fmt::Display for FragmentHeader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match FragmentRepr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(_) => f.write_str("IPv6 Fragment (truncated)"),
        }
    }
}

/// A high-level representation of a Fragment header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct FragmentRepr {
    /// Type of the header after this one.
    pub next_header: IpProtocol,
    /// Offset in bytes.
    pub frag_offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl FragmentRepr {
    /// Parses a Fragment header.
    pub fn parse<T: AsRef<[u8]>>(header: &FragmentHeader<T>) -> Result<FragmentRepr> {
        header.check_len()?;
        Ok(FragmentRepr {
            next_header: header.next_header(),
            frag_offset: header.frag_offset(),
            more_frags: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Writes the header into a buffer of at least [`FRAGMENT_HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut FragmentHeader<T>) {
        header.set_next_header(self.next_header);
        header.clear_reserved();
        header.set_frag_offset(self.frag_offset);
        header.set_more_frags(self.more_frags);
        header.set_ident(self.ident);
    }
}

impl fmt::Display for FragmentRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv6 Fragment nxt={} off={} m={} id={:#010x}",
            self.next_header, self.frag_offset, self.more_frags, self.ident
        )
    }
}

/// A view of an extension header in the common TLV layout of Hop-by-Hop,
/// Routing and Destination Options (RFC 8200 sections 4.3, 4.4, 4.6): next header, length
/// in 8-octet units not counting the first 8 octets, then data.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> ExtHeader<T> {
        ExtHeader { buffer }
    }

    /// Wraps a buffer and checks that the whole header is present.
    pub fn new_checked(buffer: T) -> Result<ExtHeader<T>> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks that the buffer holds the length byte and the whole header it announces.
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        if d.len() < 2 || d.len() < self.header_len() { Err(Error) } else { Ok(()) }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type of the header after this one.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Whole header length in bytes: `(Hdr Ext Len + 1) * 8`.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[field::LENGTH]) + 1) * 8
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ExtHeader<T> {
    /// Sets the type of the header after this one (transport-mode ESP splices itself in).
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> ExtHeader<&'a T> {
    /// The options (or routing data) after the two fixed bytes.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for ExtHeader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("IPv6 extension header (truncated)");
        }
        write!(f, "IPv6 extension header nxt={} len={}", self.next_header(), self.header_len())
    }
}

/// Where [`upper_layer`] found the upper-layer header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct UpperLayer {
    /// Upper-layer protocol (TCP, UDP, ICMPv6, ESP, AH, IPv4/IPv6-in-IPv6, No Next Header,
    /// or an unknown number).
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header from the start of the IPv6 payload.
    pub offset: usize,
    /// The Fragment header, if the chain had one. When its `frag_offset` is not 0 the bytes
    /// at `offset` are the middle of a datagram, not an upper-layer header.
    pub fragment: Option<FragmentRepr>,
}

impl UpperLayer {
    /// Whether the bytes at `offset` begin the upper-layer header (not a later fragment).
    pub fn has_header(&self) -> bool {
        self.fragment.is_none_or(|f| f.frag_offset == 0)
    }
}

/// Walks the extension header chain of an IPv6 payload, starting with `next_header` from
/// the fixed header, and returns the upper-layer protocol and offset.
///
/// Walks Hop-by-Hop (only as the first header, RFC 8200 section 4.1), Routing, Destination
/// Options and Fragment headers; stops at anything else (AH and ESP count as upper layers:
/// IPsec processes them). Stops after a Fragment header with non-zero offset. Errors on a
/// truncated header, a misplaced Hop-by-Hop header, or more than [`MAX_EXT_HEADERS`].
pub fn upper_layer(next_header: IpProtocol, payload: &[u8]) -> Result<UpperLayer> {
    let mut protocol = next_header;
    let mut offset = 0usize;
    let mut fragment = None;
    for walked in 0..=MAX_EXT_HEADERS {
        let rest = payload.get(offset..).ok_or(Error)?;
        match protocol {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                if walked == MAX_EXT_HEADERS || (protocol == IpProtocol::HopByHop && walked != 0) {
                    return Err(Error);
                }
                let header = ExtHeader::new_checked(rest)?;
                protocol = header.next_header();
                offset += header.header_len();
            }
            IpProtocol::Ipv6Frag => {
                if walked == MAX_EXT_HEADERS || fragment.is_some() {
                    return Err(Error);
                }
                let header = FragmentHeader::new_checked(rest)?;
                let repr = FragmentRepr::parse(&header)?;
                fragment = Some(repr);
                protocol = repr.next_header;
                offset += FRAGMENT_HEADER_LEN;
                if repr.frag_offset != 0 {
                    return Ok(UpperLayer { protocol, offset, fragment });
                }
            }
            _ => return Ok(UpperLayer { protocol, offset, fragment }),
        }
    }
    Err(Error)
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// IPv6 payload from scapy: `IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/
    /// IPv6ExtHdrFragment(offset=0, m=1, id=0xdeadbeef)/UDP(sport=500, dport=4500)/b"hi"`
    /// (the fixed header said next header 0).
    static CHAIN_BYTES: [u8; 34] = [
        0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00,
        0x00, 0x11, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x01, 0xf4, 0x11, 0x94, 0x00, 0x0a,
        0x28, 0x74, 0x68, 0x69,
    ];

    /// A non-first fragment header: next header UDP, offset 1448, M=1, id 0xdeadbeef.
    static PACKET_BYTES: [u8; 8] = [0x11, 0x00, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef];

    fn repr() -> FragmentRepr {
        FragmentRepr {
            next_header: IpProtocol::Udp,
            frag_offset: 1448,
            more_frags: true,
            ident: 0xdead_beef,
        }
    }

    #[test]
    fn test_deconstruct() {
        let header = FragmentHeader::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(header.next_header(), IpProtocol::Udp);
        assert_eq!(header.frag_offset(), 1448);
        assert!(header.more_frags());
        assert_eq!(header.ident(), 0xdead_beef);
        assert_eq!(header.payload(), &[] as &[u8]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 8];
        let mut header = FragmentHeader::new_unchecked(&mut bytes);
        header.set_next_header(IpProtocol::Udp);
        header.clear_reserved();
        header.set_frag_offset(1448);
        header.set_more_frags(true);
        header.set_ident(0xdead_beef);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..8 {
            assert_eq!(FragmentHeader::new_checked(&PACKET_BYTES[..n]).err(), Some(Error));
        }
        for n in 0..8 {
            assert_eq!(ExtHeader::new_checked(&CHAIN_BYTES[..n]).err(), Some(Error));
        }
        let ext = ExtHeader::new_checked(&CHAIN_BYTES[..8]).unwrap();
        assert_eq!(ext.next_header(), IpProtocol::Ipv6Opts);
        assert_eq!(ext.header_len(), 8);
        assert_eq!(ext.data(), &[0x01, 0x04, 0, 0, 0, 0]);
    }

    #[test]
    fn test_parse() {
        let header = FragmentHeader::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(FragmentRepr::parse(&header).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; 8];
        repr().emit(&mut FragmentHeader::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 8);
    }

    #[test]
    fn test_walk_chain() {
        let upper = upper_layer(IpProtocol::HopByHop, &CHAIN_BYTES).unwrap();
        assert_eq!(upper.protocol, IpProtocol::Udp);
        assert_eq!(upper.offset, 24);
        assert!(upper.has_header());
        assert_eq!(
            upper.fragment,
            Some(FragmentRepr {
                next_header: IpProtocol::Udp,
                frag_offset: 0,
                more_frags: true,
                ident: 0xdead_beef
            })
        );
        // No extension headers at all.
        let plain = upper_layer(IpProtocol::Esp, &CHAIN_BYTES).unwrap();
        assert_eq!(plain, UpperLayer { protocol: IpProtocol::Esp, offset: 0, fragment: None });
        // Every truncation inside the chain is an error.
        for n in 0..24 {
            assert_eq!(upper_layer(IpProtocol::HopByHop, &CHAIN_BYTES[..n]), Err(Error));
        }
        assert!(upper_layer(IpProtocol::HopByHop, &CHAIN_BYTES[..24]).is_ok());
    }

    #[test]
    fn test_walk_rejects() {
        // Hop-by-Hop after Destination Options.
        let mut bytes = CHAIN_BYTES;
        bytes[0] = 0; // HBH -> HBH
        assert_eq!(upper_layer(IpProtocol::HopByHop, &bytes), Err(Error));
        // A loop of Destination Options headers longer than the limit.
        let looped = [0x3cu8, 0, 0, 0, 0, 0, 0, 0].repeat(MAX_EXT_HEADERS + 1);
        assert_eq!(upper_layer(IpProtocol::Ipv6Opts, &looped), Err(Error));
        // Exactly the limit, then UDP.
        let mut ok = [0x3cu8, 0, 0, 0, 0, 0, 0, 0].repeat(MAX_EXT_HEADERS);
        ok[(MAX_EXT_HEADERS - 1) * 8] = 17;
        let upper = upper_layer(IpProtocol::Ipv6Opts, &ok).unwrap();
        assert_eq!((upper.protocol, upper.offset), (IpProtocol::Udp, MAX_EXT_HEADERS * 8));
        // Two Fragment headers.
        let two = [0x2cu8, 0, 0, 0, 0, 0, 0, 1, 0x11, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(upper_layer(IpProtocol::Ipv6Frag, &two), Err(Error));
    }

    #[test]
    fn test_walk_later_fragment() {
        let upper = upper_layer(IpProtocol::Ipv6Frag, &PACKET_BYTES).unwrap();
        assert_eq!(upper.protocol, IpProtocol::Udp);
        assert_eq!(upper.offset, 8);
        assert!(!upper.has_header());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                                       first in any::<u8>()) {
            if let Ok(h) = FragmentHeader::new_checked(&bytes[..]) {
                let _ = (h.next_header(), h.frag_offset(), h.more_frags(), h.ident(), h.payload());
                let _ = h.to_string();
            }
            if let Ok(h) = ExtHeader::new_checked(&bytes[..]) {
                let _ = (h.next_header(), h.header_len(), h.data());
                let _ = h.to_string();
            }
            let _ = ExtHeader::new_unchecked(&bytes[..]).to_string();
            let _ = FragmentHeader::new_unchecked(&bytes[..]).to_string();
            for start in [IpProtocol::from(first), IpProtocol::HopByHop, IpProtocol::Ipv6Opts] {
                if let Ok(upper) = upper_layer(start, &bytes) {
                    prop_assert!(upper.offset <= bytes.len());
                }
            }
        }
    }
}
