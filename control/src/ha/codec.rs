//! Byte-level reader and writer of the failover link's plaintext bodies: big-endian
//! integers, length-prefixed byte strings and addresses. Every read is checked; nothing
//! here panics on any input.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;
use zeroize::Zeroizing;

/// Why a plaintext body (a message or a record) could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum WireError {
    /// The body ends inside a field.
    #[error("truncated")]
    Truncated,
    /// Bytes follow the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A message or record kind this version does not know.
    #[error("unknown {what} {value}")]
    UnknownKind {
        /// Which kind field.
        what: &'static str,
        /// Its value.
        value: u8,
    },
    /// A field holds a value outside its range.
    #[error("bad {0}")]
    BadValue(&'static str),
    /// A field is longer than its cap.
    #[error("{0} too long")]
    TooLong(&'static str),
}

/// Appends fields to a zeroizing buffer (bodies carry key material).
pub(crate) struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        // Room for a whole datagram: bodies normally never reallocate.
        Writer { buf: Zeroizing::new(Vec::with_capacity(super::wire::MAX_DATAGRAM)) }
    }

    /// Grows into a fresh zeroizing buffer: `Vec`'s own growth would free the old
    /// allocation, key bytes included, without wiping it.
    fn reserve(&mut self, n: usize) {
        let need = self.buf.len().saturating_add(n);
        if need > self.buf.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.saturating_mul(2)));
            bigger.extend_from_slice(&self.buf);
            self.buf = bigger;
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.reserve(v.len());
        self.buf.extend_from_slice(v);
    }

    /// A byte string of at most `max` (<= 255) bytes behind a one-byte length.
    pub(crate) fn short_bytes(
        &mut self,
        v: &[u8],
        max: usize,
        what: &'static str,
    ) -> Result<(), WireError> {
        let len = u8::try_from(v.len()).map_err(|_| WireError::TooLong(what))?;
        if v.len() > max {
            return Err(WireError::TooLong(what));
        }
        self.u8(len);
        self.bytes(v);
        Ok(())
    }

    pub(crate) fn ip(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(v4) => {
                self.u8(4);
                self.bytes(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.u8(6);
                self.bytes(&v6.octets());
            }
        }
    }

    pub(crate) fn socket(&mut self, a: SocketAddr) {
        self.ip(a.ip());
        self.u16(a.port());
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    #[cfg(test)]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }
}

/// Reads fields from a body, refusing to run past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A 0/1 flag byte; anything else is malformed.
    pub(crate) fn bool(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadValue(what)),
        }
    }

    /// A byte string behind a one-byte length, at most `max` bytes.
    pub(crate) fn short_bytes(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(WireError::TooLong(what));
        }
        self.take(len)
    }

    pub(crate) fn ip(&mut self) -> Result<IpAddr, WireError> {
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => Err(WireError::BadValue("address family")),
        }
    }

    pub(crate) fn socket(&mut self) -> Result<SocketAddr, WireError> {
        let ip = self.ip()?;
        Ok(SocketAddr::new(ip, self.u16()?))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::new();
        w.u8(7);
        w.u16(0x1234);
        w.u32(0xdead_beef);
        w.u64(u64::MAX - 1);
        w.short_bytes(b"abc", 8, "x").unwrap();
        w.socket("[2001:db8::1]:500".parse().unwrap());
        w.socket("192.0.2.1:4500".parse().unwrap());
        let body = w.into_inner();
        let mut r = Reader::new(&body);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(0x1234));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.short_bytes(8, "x"), Ok(&b"abc"[..]));
        assert_eq!(r.socket(), Ok("[2001:db8::1]:500".parse().unwrap()));
        assert_eq!(r.socket(), Ok("192.0.2.1:4500".parse().unwrap()));
        assert_eq!(r.finish(), Ok(()));
        // Every strict prefix fails somewhere without panicking.
        for cut in 0..body.len() {
            let mut r = Reader::new(&body[..cut]);
            let res = (|| {
                r.u8()?;
                r.u16()?;
                r.u32()?;
                r.u64()?;
                r.short_bytes(8, "x")?;
                r.socket()?;
                r.socket()?;
                Ok::<_, WireError>(())
            })();
            assert_eq!(res, Err(WireError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn grows_past_the_initial_capacity() {
        let mut w = Writer::new();
        for i in 0..5000u32 {
            w.u32(i);
        }
        assert_eq!(w.len(), 20_000);
        let b = w.into_inner();
        assert_eq!(&b[19_996..], &4999u32.to_be_bytes());
    }

    #[test]
    fn caps_and_flags() {
        let mut w = Writer::new();
        assert_eq!(w.short_bytes(&[0; 9], 8, "k"), Err(WireError::TooLong("k")));
        assert_eq!(w.short_bytes(&[0; 300], 255, "k"), Err(WireError::TooLong("k")));
        assert_eq!(w.len(), 0);
        let mut r = Reader::new(&[9, 0, 0]);
        assert_eq!(r.short_bytes(8, "k"), Err(WireError::TooLong("k")));
        assert_eq!(Reader::new(&[2]).bool("f"), Err(WireError::BadValue("f")));
        assert_eq!(Reader::new(&[5, 1, 2, 3, 4]).ip(), Err(WireError::BadValue("address family")));
        assert_eq!(Reader::new(&[1, 2]).finish(), Err(WireError::Trailing(2)));
    }
}
