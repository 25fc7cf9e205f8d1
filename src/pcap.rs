//! Reading and writing packet captures: classic pcap (both byte orders, micro- and
//! nanosecond timestamps) and pcapng (the format Wireshark and tshark write by default).
//!
//! Captures come from users and are untrusted: every length is checked, a damaged file gives
//! an error naming the byte offset, and record sizes are capped so a hostile header cannot
//! make the reader allocate gigabytes.

use std::fmt;
use std::io::{self, Read, Write};

/// Largest record accepted (jumbo frames plus headroom; tcpdump's own limit is 256 KiB).
pub const MAX_RECORD: usize = 262_144;

/// Data link types this crate knows how to find an IP packet in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback: a 4-byte address family in host order.
    Null,
    Ethernet,
    /// Raw IPv4 or IPv6, no link header (DLT_RAW = 101 in files, 12/14 on some systems).
    Raw,
    Ipv4,
    Ipv6,
    /// Linux cooked capture v1 (16-byte header).
    LinuxSll,
    /// Linux cooked capture v2 (20-byte header).
    LinuxSll2,
    Other(u32),
}

impl LinkType {
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 | 12 | 14 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    pub fn code(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(c) => c,
        }
    }
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length on the wire (may exceed `data.len()` when the capture was truncated).
    pub orig_len: u32,
    pub link: LinkType,
    pub data: Vec<u8>,
}

/// Why a capture could not be read.
#[derive(Debug)]
pub enum PcapError {
    Io(io::Error),
    /// Not a pcap or pcapng file.
    BadMagic(u32),
    /// A structural error at the given byte offset of the file.
    Malformed {
        offset: u64,
        what: &'static str,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "{e}"),
            PcapError::BadMagic(m) => {
                write!(f, "not a pcap or pcapng file (magic number {m:#010x})")
            }
            PcapError::Malformed { offset, what } => write!(f, "at byte {offset}: {what}"),
        }
    }
}

impl std::error::Error for PcapError {}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

enum Format {
    Classic { swapped: bool, nanos: bool, link: LinkType },
    Ng,
}

/// Streams records out of a pcap or pcapng file.
pub struct Reader<R: Read> {
    inner: R,
    format: Format,
    offset: u64,
    /// pcapng: byte order of the current section.
    ng_swapped: bool,
    /// pcapng: the current section's interfaces (link type, timestamp units per second).
    ng_interfaces: Vec<(LinkType, u64)>,
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;

impl<R: Read> Reader<R> {
    /// Reads the file header and detects the format.
    pub fn new(mut inner: R) -> Result<Self, PcapError> {
        let mut magic = [0u8; 4];
        inner.read_exact(&mut magic)?;
        let le = u32::from_le_bytes(magic);
        let be = u32::from_be_bytes(magic);
        let mut reader = Reader {
            inner,
            format: Format::Classic { swapped: false, nanos: false, link: LinkType::Ethernet },
            offset: 4,
            ng_swapped: false,
            ng_interfaces: Vec::new(),
        };
        if le == PCAPNG_SHB {
            reader.format = Format::Ng;
            let mut len = [0u8; 4];
            reader.read_exact_at(&mut len, "truncated pcapng section header")?;
            reader.read_section_header(0, len)?;
            return Ok(reader);
        }
        let (swapped, nanos) = match (le, be) {
            (PCAP_MAGIC_US, _) => (false, false),
            (PCAP_MAGIC_NS, _) => (false, true),
            (_, PCAP_MAGIC_US) => (true, false),
            (_, PCAP_MAGIC_NS) => (true, true),
            _ => return Err(PcapError::BadMagic(le)),
        };
        let mut hdr = [0u8; 20];
        reader.read_exact_at(&mut hdr, "truncated pcap file header")?;
        let link_code = read_u32(&hdr[16..20], swapped) & 0x0fff_ffff;
        reader.format = Format::Classic { swapped, nanos, link: LinkType::from_code(link_code) };
        Ok(reader)
    }

    fn read_exact_at(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), PcapError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(PcapError::Malformed { offset: self.offset, what })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads up to `buf.len()` bytes; returns false on a clean end of file before any byte.
    fn read_or_eof(&mut self, buf: &mut [u8], what: &'static str) -> Result<bool, PcapError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(PcapError::Malformed { offset: self.offset, what }),
                Ok(n) => {
                    got += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Reads a section header block after its type: `len` holds the block length in the
    /// section's own (not yet known) byte order, which the byte-order magic that follows
    /// decides. A new section starts with no interfaces.
    fn read_section_header(&mut self, start: u64, len: [u8; 4]) -> Result<(), PcapError> {
        let mut bom = [0u8; 4];
        self.read_exact_at(&mut bom, "truncated pcapng section header")?;
        let swapped = match u32::from_le_bytes(bom) {
            PCAPNG_BYTE_ORDER => false,
            x if x.swap_bytes() == PCAPNG_BYTE_ORDER => true,
            _ => {
                return Err(PcapError::Malformed {
                    offset: start,
                    what: "bad pcapng byte-order magic",
                });
            }
        };
        let total = read_u32(&len, swapped) as usize;
        if !(28..=MAX_RECORD).contains(&total) || !total.is_multiple_of(4) {
            return Err(PcapError::Malformed {
                offset: start,
                what: "bad pcapng section header length",
            });
        }
        let mut rest = vec![0u8; total - 12];
        self.read_exact_at(&mut rest, "truncated pcapng section header")?;
        self.ng_swapped = swapped;
        self.ng_interfaces.clear();
        Ok(())
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, PcapError> {
        match self.format {
            Format::Classic { swapped, nanos, link } => self.next_classic(swapped, nanos, link),
            Format::Ng => self.next_ng(),
        }
    }

    fn next_classic(
        &mut self,
        swapped: bool,
        nanos: bool,
        link: LinkType,
    ) -> Result<Option<Record>, PcapError> {
        let start = self.offset;
        let mut hdr = [0u8; 16];
        if !self.read_or_eof(&mut hdr, "truncated record header")? {
            return Ok(None);
        }
        let sec = u64::from(read_u32(&hdr[0..4], swapped));
        let frac = u64::from(read_u32(&hdr[4..8], swapped));
        let incl = read_u32(&hdr[8..12], swapped) as usize;
        let orig_len = read_u32(&hdr[12..16], swapped);
        if incl > MAX_RECORD {
            return Err(PcapError::Malformed { offset: start, what: "record larger than 256 KiB" });
        }
        let mut data = vec![0u8; incl];
        self.read_exact_at(&mut data, "truncated record data")?;
        let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        Ok(Some(Record { ts_ns, orig_len, link, data }))
    }

    fn next_ng(&mut self) -> Result<Option<Record>, PcapError> {
        loop {
            let start = self.offset;
            let mut hdr = [0u8; 8];
            if !self.read_or_eof(&mut hdr, "truncated pcapng block header")? {
                return Ok(None);
            }
            let swapped = self.ng_swapped;
            let raw_type = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            if raw_type == PCAPNG_SHB {
                // A new section may change the byte order.
                self.read_section_header(start, [hdr[4], hdr[5], hdr[6], hdr[7]])?;
                continue;
            }
            let block_type = read_u32(&hdr[0..4], swapped);
            let total = read_u32(&hdr[4..8], swapped) as usize;
            if total < 12 || !total.is_multiple_of(4) || total > MAX_RECORD + 64 {
                return Err(PcapError::Malformed {
                    offset: start,
                    what: "bad pcapng block length",
                });
            }
            let mut body = vec![0u8; total - 8];
            self.read_exact_at(&mut body, "truncated pcapng block")?;
            let body = &body[..body.len() - 4]; // trailing copy of the length
            match block_type {
                // Interface Description Block
                1 => {
                    if body.len() < 8 {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "short interface block",
                        });
                    }
                    let link = LinkType::from_code(u32::from(read_u16(&body[0..2], swapped)));
                    let ts_div = if_tsresol(&body[8..], swapped);
                    if self.ng_interfaces.len() >= 4096 {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "too many interfaces",
                        });
                    }
                    self.ng_interfaces.push((link, ts_div));
                }
                // Enhanced Packet Block
                6 => {
                    if body.len() < 20 {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "short packet block",
                        });
                    }
                    let iface = read_u32(&body[0..4], swapped) as usize;
                    let ts = (u64::from(read_u32(&body[4..8], swapped)) << 32)
                        | u64::from(read_u32(&body[8..12], swapped));
                    let caplen = read_u32(&body[12..16], swapped) as usize;
                    let orig_len = read_u32(&body[16..20], swapped);
                    let Some(data) = body.get(20..20 + caplen) else {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "packet longer than its block",
                        });
                    };
                    let Some(&(link, units_per_sec)) = self.ng_interfaces.get(iface) else {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "packet on an undeclared interface",
                        });
                    };
                    let ts_ns = scale_to_ns(ts, units_per_sec);
                    return Ok(Some(Record { ts_ns, orig_len, link, data: data.to_vec() }));
                }
                // Simple Packet Block (interface 0, no timestamp)
                3 => {
                    if body.len() < 4 {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "short simple packet block",
                        });
                    }
                    let orig_len = read_u32(&body[0..4], swapped);
                    let caplen = (orig_len as usize).min(body.len() - 4);
                    let Some(&(link, _)) = self.ng_interfaces.first() else {
                        return Err(PcapError::Malformed {
                            offset: start,
                            what: "packet on an undeclared interface",
                        });
                    };
                    return Ok(Some(Record {
                        ts_ns: 0,
                        orig_len,
                        link,
                        data: body[4..4 + caplen].to_vec(),
                    }));
                }
                // Name resolution, statistics, custom blocks...: not packets.
                _ => {}
            }
        }
    }
}

/// `if_tsresol` option (code 9) of an interface block: units per second.
fn if_tsresol(mut opts: &[u8], swapped: bool) -> u64 {
    let mut per_sec = 1_000_000;
    while opts.len() >= 4 {
        let code = read_u16(&opts[0..2], swapped);
        let len = usize::from(read_u16(&opts[2..4], swapped));
        let padded = (len + 3) & !3;
        let Some(value) = opts.get(4..4 + len) else { break };
        if code == 0 {
            break;
        }
        if code == 9 && len == 1 {
            let v = value[0];
            let exp = u32::from(v & 0x7f);
            per_sec = if v & 0x80 == 0 {
                10u64.checked_pow(exp).unwrap_or(1_000_000)
            } else {
                1u64.checked_shl(exp).unwrap_or(1_000_000)
            };
        }
        opts = opts.get(4 + padded..).unwrap_or(&[]);
    }
    per_sec.max(1)
}

fn scale_to_ns(ts: u64, units_per_sec: u64) -> u64 {
    let ns = u128::from(ts) * 1_000_000_000 / u128::from(units_per_sec);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

fn read_u16(b: &[u8], swapped: bool) -> u16 {
    let v = u16::from_le_bytes([b[0], b[1]]);
    if swapped { v.swap_bytes() } else { v }
}

fn read_u32(b: &[u8], swapped: bool) -> u32 {
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if swapped { v.swap_bytes() } else { v }
}

/// Writes a classic little-endian pcap with nanosecond timestamps.
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    /// Writes the file header for the given link type.
    pub fn new(mut inner: W, link: LinkType) -> io::Result<Self> {
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
        hdr.extend_from_slice(&2u16.to_le_bytes());
        hdr.extend_from_slice(&4u16.to_le_bytes());
        hdr.extend_from_slice(&0i32.to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        hdr.extend_from_slice(&(MAX_RECORD as u32).to_le_bytes());
        hdr.extend_from_slice(&link.code().to_le_bytes());
        inner.write_all(&hdr)?;
        Ok(Writer { inner })
    }

    /// Appends one packet.
    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet over 4 GiB"))?;
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        hdr[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        hdr[8..12].copy_from_slice(&len.to_le_bytes());
        hdr[12..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&hdr)?;
        self.inner.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Where the IP packet starts in a frame of the given link type, and which IP version the
/// link header announces (`None` when the link header does not say, e.g. raw IP).
pub fn ip_offset(link: LinkType, frame: &[u8]) -> Option<usize> {
    match link {
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Some(0),
        LinkType::Null => (frame.len() >= 4).then_some(4),
        LinkType::LinuxSll => (frame.len() >= 16).then_some(16),
        LinkType::LinuxSll2 => (frame.len() >= 20).then_some(20),
        LinkType::Ethernet => {
            let mut off = 12;
            // Up to two VLAN tags (802.1Q / 802.1ad).
            for _ in 0..3 {
                let ty = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
                match ty {
                    0x8100 | 0x88a8 => off += 4,
                    0x0800 | 0x86dd => return Some(off + 2),
                    _ => return None,
                }
            }
            None
        }
        LinkType::Other(_) => None,
    }
}

/// Rewrites the link header's protocol field after the IP version of the packet changed
/// (e.g. IPv4 in IPv6 encapsulation). Returns false where the link type cannot say.
pub fn set_link_ip_version(link: LinkType, header: &mut [u8], version: u8) -> bool {
    let ethertype: u16 = if version == 6 { 0x86dd } else { 0x0800 };
    match link {
        LinkType::Ethernet if header.len() >= 14 => {
            let at = header.len() - 2;
            header[at..].copy_from_slice(&ethertype.to_be_bytes());
            true
        }
        LinkType::LinuxSll if header.len() == 16 => {
            header[14..16].copy_from_slice(&ethertype.to_be_bytes());
            true
        }
        LinkType::LinuxSll2 if header.len() == 20 => {
            header[0..2].copy_from_slice(&ethertype.to_be_bytes());
            true
        }
        LinkType::Raw => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic(records: &[&[u8]]) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), LinkType::Raw).unwrap();
        for (i, r) in records.iter().enumerate() {
            w.write(1_000_000_000 * i as u64 + 5, r).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn classic_round_trip() {
        let file = classic(&[b"\x45abc", b"", &[0x60; 1500]]);
        let mut r = Reader::new(&file[..]).unwrap();
        let a = r.next_record().unwrap().unwrap();
        assert_eq!((a.ts_ns, a.link, a.data.as_slice()), (5, LinkType::Raw, &b"\x45abc"[..]));
        assert_eq!(r.next_record().unwrap().unwrap().data.len(), 0);
        let c = r.next_record().unwrap().unwrap();
        assert_eq!((c.ts_ns, c.data.len()), (2_000_000_005, 1500));
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn big_endian_microsecond_file() {
        let mut f = Vec::new();
        f.extend_from_slice(&PCAP_MAGIC_US.to_be_bytes());
        f.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 60, 0xaa, 0xbb]);
        let mut r = Reader::new(&f[..]).unwrap();
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(rec.ts_ns, 2_000_003_000);
        assert_eq!(rec.orig_len, 60);
        assert_eq!(rec.link, LinkType::Ethernet);
        assert_eq!(rec.data, vec![0xaa, 0xbb]);
    }

    fn ng_block(ty: u32, body: &[u8]) -> Vec<u8> {
        let pad = (4 - body.len() % 4) % 4;
        let total = (12 + body.len() + pad) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(body);
        b.extend(std::iter::repeat_n(0, pad));
        b.extend_from_slice(&total.to_le_bytes());
        b
    }

    #[test]
    fn pcapng_with_nanosecond_interface() {
        let mut f = ng_block(
            PCAPNG_SHB,
            &[0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        );
        // IDB: linktype 101, snaplen 0, option if_tsresol=9, end of options.
        f.extend(ng_block(1, &[101, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]));
        f.extend(ng_block(4, &[1, 2, 3, 4])); // name resolution: skipped
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&1234u32.to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&[0x45, 1, 2]);
        f.extend(ng_block(6, &epb));
        let mut r = Reader::new(&f[..]).unwrap();
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(
            (rec.ts_ns, rec.link, rec.data.as_slice()),
            (1234, LinkType::Raw, &[0x45, 1, 2][..])
        );
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn damaged_files_give_errors_not_panics() {
        let good = classic(&[b"\x45abcdef"]);
        // Cutting right after the 24-byte file header leaves a valid, empty capture.
        for cut in (0..good.len()).filter(|&c| c != 24) {
            let res = Reader::new(&good[..cut]).and_then(|mut r| {
                while r.next_record()?.is_some() {}
                Ok(())
            });
            assert!(res.is_err(), "truncation at {cut} accepted");
        }
        let mut huge = classic(&[]);
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let err = Reader::new(&huge[..]).unwrap().next_record().unwrap_err();
        assert_eq!(err.to_string(), "at byte 24: record larger than 256 KiB");
        assert!(matches!(Reader::new(&b"GIF89a.."[..]), Err(PcapError::BadMagic(_))));
    }

    #[test]
    fn ip_offsets() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00, 0x45]);
        assert_eq!(ip_offset(LinkType::Ethernet, &eth), Some(18));
        assert_eq!(ip_offset(LinkType::Ethernet, &eth[..15]), None);
        assert_eq!(ip_offset(LinkType::Raw, &[]), Some(0));
        eth[16] = 0x88;
        assert_eq!(ip_offset(LinkType::Ethernet, &eth), None);
    }
}
