//! Ethernet II frames (IEEE 802.3 / RFC 894) and 802.1Q / 802.1ad VLAN tags.

use core::fmt;

use super::{Error, EtherType, EthernetAddress, Result, read_u16, write_u16};

mod field {
    use core::ops::{Range, RangeFrom};

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of an untagged Ethernet II header (IEEE 802.3 clause 3.1.1).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// Length of one 802.1Q/802.1ad tag: TPID + TCI (IEEE 802.1Q clause 9.3).
pub const VLAN_TAG_LEN: usize = 4;

/// Most VLAN tags [`Frame::vlan_info`] walks: an 802.1ad service tag and an 802.1Q
/// customer tag (QinQ).
pub const MAX_VLAN_TAGS: usize = 2;

/// A read/write wrapper around an Ethernet II frame buffer.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the 14-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN { Err(Error) } else { Ok(()) }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Header length (without VLAN tags).
    pub const fn header_len() -> usize {
        HEADER_LEN
    }

    /// Buffer length needed for a frame carrying `payload_len` bytes.
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let d = self.buffer.as_ref();
        EthernetAddress([d[0], d[1], d[2], d[3], d[4], d[5]])
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let d = self.buffer.as_ref();
        EthernetAddress([d[6], d[7], d[8], d[9], d[10], d[11]])
    }

    /// The EtherType field (for a tagged frame: the outer TPID).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Walks up to [`MAX_VLAN_TAGS`] VLAN tags and reports them with the EtherType and offset
    /// of what follows. An untagged frame gives no tags and offset 14. Errors if a tag is
    /// truncated. A third stacked tag is not walked: it shows up as an `EtherType::Vlan` or
    /// `EtherType::QinQ` inner type, which callers treat as unsupported.
    pub fn vlan_info(&self) -> Result<VlanInfo> {
        let d = self.buffer.as_ref();
        let mut info = VlanInfo {
            outer: None,
            inner: None,
            ethertype: self.ethertype(),
            payload_offset: HEADER_LEN,
        };
        for _ in 0..MAX_VLAN_TAGS {
            let tpid = info.ethertype;
            if tpid != EtherType::Vlan && tpid != EtherType::QinQ {
                break;
            }
            let off = info.payload_offset;
            if d.len() < off + VLAN_TAG_LEN {
                return Err(Error);
            }
            let tag = VlanTag::from_tci(tpid, read_u16(d, off));
            if info.outer.is_none() {
                info.outer = Some(tag);
            } else {
                info.inner = Some(tag);
            }
            info.ethertype = EtherType::from(read_u16(d, off + 2));
            info.payload_offset = off + VLAN_TAG_LEN;
        }
        Ok(info)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The bytes after the 14-byte header (for a tagged frame they start with the TCI).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(value.as_bytes());
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(value.as_bytes());
    }

    /// Sets the EtherType field.
    #[inline]
    pub fn set_ethertype(&mut self, value: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value.into());
    }

    /// The bytes after the 14-byte header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Frame<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("EthernetII (truncated)");
        }
        write!(
            f,
            "EthernetII src={} dst={} type={}",
            self.src_addr(),
            self.dst_addr(),
            self.ethertype()
        )
    }
}

/// One VLAN tag: the TPID it was found under and the decoded TCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// `EtherType::Vlan` (0x8100) or `EtherType::QinQ` (0x88a8).
    pub tpid: EtherType,
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    /// Decodes a tag control information word.
    pub fn from_tci(tpid: EtherType, tci: u16) -> VlanTag {
        VlanTag { tpid, pcp: (tci >> 13) as u8, dei: tci & 0x1000 != 0, vid: tci & 0x0fff }
    }

    /// Encodes the tag control information word.
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 0x7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }
}

/// What [`Frame::vlan_info`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanInfo {
    /// The first tag, if any.
    pub outer: Option<VlanTag>,
    /// The second tag of a QinQ frame, if any.
    pub inner: Option<VlanTag>,
    /// The EtherType after the tags.
    pub ethertype: EtherType,
    /// Offset of the network-layer header from the start of the frame.
    pub payload_offset: usize,
}

/// A high-level representation of an untagged Ethernet II header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source MAC address.
    pub src_addr: EthernetAddress,
    /// Destination MAC address.
    pub dst_addr: EthernetAddress,
    /// EtherType.
    pub ethertype: EtherType,
}

impl Repr {
    /// Parses an Ethernet II header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into a frame of at least [`HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthernetII src={} dst={} type={}", self.src_addr, self.dst_addr, self.ethertype)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    static FRAME_BYTES: [u8; 64] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x08, 0x00, 0xaa,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0xff,
    ];

    /// QinQ: S-tag 0x88a8 PCP 5 VID 100, C-tag 0x8100 DEI VID 4094, then IPv6.
    static QINQ_BYTES: [u8; 24] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0xa8, 0xa0,
        0x64, 0x81, 0x00, 0x1f, 0xfe, 0x86, 0xdd, 0x60, 0x00,
    ];

    fn repr() -> Repr {
        Repr {
            dst_addr: EthernetAddress([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]),
            src_addr: EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]),
            ethertype: EtherType::Ipv4,
        }
    }

    #[test]
    fn test_deconstruct() {
        let frame = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(frame.dst_addr(), EthernetAddress([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]));
        assert_eq!(frame.src_addr(), EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]));
        assert_eq!(frame.ethertype(), EtherType::Ipv4);
        assert_eq!(frame.payload().len(), 50);
        assert_eq!(frame.payload()[0], 0xaa);
        assert_eq!(frame.payload()[49], 0xff);
        let info = frame.vlan_info().unwrap();
        assert_eq!(info.outer, None);
        assert_eq!(info.ethertype, EtherType::Ipv4);
        assert_eq!(info.payload_offset, 14);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 64];
        let mut frame = Frame::new_unchecked(&mut bytes);
        frame.set_dst_addr(EthernetAddress([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]));
        frame.set_src_addr(EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]));
        frame.set_ethertype(EtherType::Ipv4);
        frame.payload_mut().fill(0);
        frame.payload_mut()[0] = 0xaa;
        frame.payload_mut()[49] = 0xff;
        assert_eq!(&bytes[..], &FRAME_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&FRAME_BYTES[..n]).err(), Some(Error));
        }
        assert!(Frame::new_checked(&FRAME_BYTES[..HEADER_LEN]).is_ok());
    }

    #[test]
    fn test_parse() {
        let frame = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&frame).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = vec![0xa5; HEADER_LEN];
        repr().emit(&mut Frame::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &FRAME_BYTES[..HEADER_LEN]);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 14);
        assert_eq!(Frame::<&[u8]>::buffer_len(50), 64);
    }

    #[test]
    fn test_qinq() {
        let frame = Frame::new_checked(&QINQ_BYTES[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::QinQ);
        let info = frame.vlan_info().unwrap();
        assert_eq!(
            info.outer,
            Some(VlanTag { tpid: EtherType::QinQ, pcp: 5, dei: false, vid: 100 })
        );
        assert_eq!(
            info.inner,
            Some(VlanTag { tpid: EtherType::Vlan, pcp: 0, dei: true, vid: 4094 })
        );
        assert_eq!(info.ethertype, EtherType::Ipv6);
        assert_eq!(info.payload_offset, 22);
        assert_eq!(info.outer.unwrap().tci(), 0xa064);
        assert_eq!(info.inner.unwrap().tci(), 0x1ffe);
        // A truncated second tag is an error, not a misparse.
        let short = Frame::new_checked(&QINQ_BYTES[..19]).unwrap();
        assert_eq!(short.vlan_info(), Err(Error));
    }

    #[test]
    fn test_single_tag() {
        let mut bytes = QINQ_BYTES;
        bytes[12] = 0x81;
        bytes[13] = 0x00;
        bytes[16] = 0x08;
        bytes[17] = 0x00;
        let info = Frame::new_checked(&bytes[..]).unwrap().vlan_info().unwrap();
        assert_eq!(info.outer.map(|t| t.vid), Some(100));
        assert_eq!(info.inner, None);
        assert_eq!(info.ethertype, EtherType::Ipv4);
        assert_eq!(info.payload_offset, 18);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(frame) = Frame::new_checked(&bytes[..]) {
                let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.payload());
                if let Ok(info) = frame.vlan_info() {
                    prop_assert!(info.payload_offset <= bytes.len());
                }
                let _ = Repr::parse(&frame);
                let _ = frame.to_string();
            }
            let _ = Frame::new_unchecked(&bytes[..]).to_string();
        }
    }
}
