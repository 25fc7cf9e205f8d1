//! Packet buffers with headroom and tailroom.
//!
//! The ESP engine works in place: encapsulation prepends the outer headers into headroom and
//! appends the trailer and ICV into tailroom, exactly as it would on a DPDK mbuf. The
//! appliance implements [`PacketBuf`] for its mbuf wrapper; [`VecBuf`] is the plain-memory
//! implementation used by tests, benchmarks and the offline `ferrogate esp` tool.

use core::fmt;

/// Why a buffer operation could not be done. The buffer is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufError {
    /// Not enough headroom for a prepend.
    NoHeadroom,
    /// Not enough tailroom for an append.
    NoTailroom,
    /// Asked to remove more bytes than the packet holds.
    TooShort,
}

impl fmt::Display for BufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BufError::NoHeadroom => "not enough headroom",
            BufError::NoTailroom => "not enough tailroom",
            BufError::TooShort => "packet shorter than the bytes to remove",
        })
    }
}

impl std::error::Error for BufError {}

/// A single-segment packet buffer: `[headroom][data][tailroom]`.
pub trait PacketBuf {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes free in front of the data.
    fn headroom(&self) -> usize;
    /// Bytes free after the data.
    fn tailroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front and returns the new front bytes
    /// (their content is unspecified).
    fn prepend(&mut self, n: usize) -> Result<&mut [u8], BufError>;
    /// Grows the packet by `n` bytes at the end and returns the new tail bytes
    /// (their content is unspecified).
    fn append(&mut self, n: usize) -> Result<&mut [u8], BufError>;
    /// Removes `n` bytes from the front.
    fn adj(&mut self, n: usize) -> Result<(), BufError>;
    /// Removes `n` bytes from the end.
    fn trim(&mut self, n: usize) -> Result<(), BufError>;

    /// Packet length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// Whether the packet holds no bytes.
    fn is_empty(&self) -> bool {
        self.data().is_empty()
    }
}

/// A [`PacketBuf`] over a heap buffer, laid out like an mbuf.
#[derive(Clone)]
pub struct VecBuf {
    mem: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecBuf {
    /// Headroom DPDK gives an mbuf by default (`RTE_PKTMBUF_HEADROOM`).
    pub const DEFAULT_HEADROOM: usize = 128;
    /// Tailroom that fits any ESP trailer, TFC padding and ICV.
    pub const DEFAULT_TAILROOM: usize = 512;

    /// An empty buffer with the given room on each side.
    pub fn with_room(headroom: usize, tailroom: usize) -> Self {
        VecBuf { mem: vec![0; headroom + tailroom], start: headroom, end: headroom }
    }

    /// A buffer holding `data`, with the default head- and tailroom.
    pub fn from_slice(data: &[u8]) -> Self {
        Self::from_slice_with_room(data, Self::DEFAULT_HEADROOM, Self::DEFAULT_TAILROOM)
    }

    /// A buffer holding `data` with the given room on each side.
    pub fn from_slice_with_room(data: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut mem = vec![0; headroom + data.len() + tailroom];
        mem[headroom..headroom + data.len()].copy_from_slice(data);
        VecBuf { mem, start: headroom, end: headroom + data.len() }
    }

    /// Replaces the content with `data`, keeping the capacity where it fits.
    pub fn reset(&mut self, data: &[u8], headroom: usize) {
        let need = headroom + data.len() + Self::DEFAULT_TAILROOM;
        if self.mem.len() < need {
            self.mem.resize(need, 0);
        }
        self.start = headroom;
        self.end = headroom + data.len();
        self.mem[self.start..self.end].copy_from_slice(data);
    }

    /// The packet bytes as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.data().to_vec()
    }
}

impl fmt::Debug for VecBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecBuf")
            .field("headroom", &self.headroom())
            .field("len", &self.len())
            .field("tailroom", &self.tailroom())
            .finish()
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.mem[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.end]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn tailroom(&self) -> usize {
        self.mem.len() - self.end
    }
    fn prepend(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.start {
            return Err(BufError::NoHeadroom);
        }
        self.start -= n;
        Ok(&mut self.mem[self.start..self.start + n])
    }
    fn append(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.tailroom() {
            return Err(BufError::NoTailroom);
        }
        let old = self.end;
        self.end += n;
        Ok(&mut self.mem[old..self.end])
    }
    fn adj(&mut self, n: usize) -> Result<(), BufError> {
        if n > self.len() {
            return Err(BufError::TooShort);
        }
        self.start += n;
        Ok(())
    }
    fn trim(&mut self, n: usize) -> Result<(), BufError> {
        if n > self.len() {
            return Err(BufError::TooShort);
        }
        self.end -= n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_append_adj_trim_round_trip() {
        let mut b = VecBuf::from_slice_with_room(&[1, 2, 3], 4, 4);
        b.prepend(2).unwrap().copy_from_slice(&[9, 8]);
        b.append(1).unwrap()[0] = 7;
        assert_eq!(b.data(), &[9, 8, 1, 2, 3, 7]);
        assert_eq!((b.headroom(), b.tailroom()), (2, 3));
        b.adj(2).unwrap();
        b.trim(1).unwrap();
        assert_eq!(b.data(), &[1, 2, 3]);
    }

    #[test]
    fn out_of_room_is_an_error_and_changes_nothing() {
        let mut b = VecBuf::from_slice_with_room(&[1, 2], 1, 1);
        assert_eq!(b.prepend(2).unwrap_err(), BufError::NoHeadroom);
        assert_eq!(b.append(2).unwrap_err(), BufError::NoTailroom);
        assert_eq!(b.adj(3).unwrap_err(), BufError::TooShort);
        assert_eq!(b.trim(3).unwrap_err(), BufError::TooShort);
        assert_eq!(b.data(), &[1, 2]);
        assert_eq!((b.headroom(), b.tailroom()), (1, 1));
    }
}
