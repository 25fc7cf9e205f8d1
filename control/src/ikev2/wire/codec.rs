//! Bounds-checked cursors: every read and write on untrusted lengths goes through these, so
//! a bad length is an [`Error`], never an out-of-range index.

use super::{Error, Result};

/// Reads big-endian fields from a slice; a read past the end is [`Error::Truncated`].
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(Error::Truncated)?;
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Everything not read yet; the reader is then empty.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Writes big-endian fields into a slice; a write past the end is [`Error::Exhausted`].
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf }
    }

    /// Takes the next `n` bytes for the caller to fill.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a mut [u8]> {
        let buf = core::mem::take(&mut self.buf);
        let (head, tail) = buf.split_at_mut_checked(n).ok_or(Error::Exhausted)?;
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<()> {
        self.take(data.len())?.copy_from_slice(data);
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<()> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<()> {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<()> {
        self.bytes(&v.to_be_bytes())
    }
}

/// A length as a 16-bit length field, or [`Error::TooLong`].
pub(crate) fn len16(len: usize) -> Result<u16> {
    u16::try_from(len).map_err(|_| Error::TooLong)
}

/// Checks up front that `buf` can hold `len` bytes, so an emit into a short buffer fails
/// before it writes anything.
pub(crate) fn ensure(buf: &[u8], len: usize) -> Result<()> {
    if buf.len() < len { Err(Error::Exhausted) } else { Ok(()) }
}
