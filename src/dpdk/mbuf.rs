//! An owned packet mbuf.
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use dataplane::buf::{BufError, PacketBuf};

use super::{Eal, ffi};

/// One packet in DPDK memory, owned: dropping it returns it to its pool.
///
/// The [`PacketBuf`] view is the first segment: mbufs from ferrogate's pools hold a whole
/// frame in one segment (the data room is sized for the MTU).
#[repr(transparent)]
pub struct Mbuf<'e> {
    ptr: NonNull<ffi::rte_mbuf>,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: an Mbuf is uniquely owned (like Box); DPDK lets any thread free or use an mbuf.
unsafe impl Send for Mbuf<'_> {}

impl Mbuf<'_> {
    /// Wraps an mbuf pointer.
    ///
    /// # Safety
    /// `ptr` is a valid mbuf that nobody else owns, from a pool alive for `'e`.
    pub(crate) unsafe fn from_raw(ptr: NonNull<ffi::rte_mbuf>) -> Self {
        Mbuf { ptr, _eal: PhantomData }
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: self owns a valid mbuf.
        unsafe { ffi::fg_pktmbuf_pkt_len(self.ptr.as_ptr()) }
    }

    /// Number of segments.
    pub fn segments(&self) -> u16 {
        // SAFETY: self owns a valid mbuf.
        unsafe { ffi::fg_pktmbuf_nb_segs(self.ptr.as_ptr()) }
    }

    fn data_len(&self) -> usize {
        // SAFETY: self owns a valid mbuf.
        usize::from(unsafe { ffi::fg_pktmbuf_data_len(self.ptr.as_ptr()) })
    }

    /// The first segment's data pointer and length, in one call into the shim.
    #[inline]
    fn view(&self) -> (*mut u8, usize) {
        let mut len = 0u16;
        // SAFETY: self owns a valid mbuf; the shim writes the length through the pointer to
        // a local and returns buf_addr + data_off.
        let p = unsafe { ffi::fg_pktmbuf_view(self.ptr.as_ptr(), &mut len) };
        (p.cast(), usize::from(len))
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: self owns the mbuf (chain); it is freed exactly once.
        unsafe { ffi::fg_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Mbuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbuf")
            .field("headroom", &self.headroom())
            .field("len", &self.len())
            .field("tailroom", &self.tailroom())
            .field("segments", &self.segments())
            .finish()
    }
}

/// Lengths DPDK takes as `uint16_t`: anything larger cannot fit in one segment.
fn len16(n: usize) -> Option<u16> {
    u16::try_from(n).ok()
}

impl PacketBuf for Mbuf<'_> {
    fn data(&self) -> &[u8] {
        let (p, len) = self.view();
        // SAFETY: the first segment holds data_len initialised bytes at mtod; the borrow
        // of self keeps the mbuf alive and unmodified.
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    fn data_mut(&mut self) -> &mut [u8] {
        let (p, len) = self.view();
        // SAFETY: as in `data`, and the unique borrow of self makes the slice exclusive.
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }

    fn headroom(&self) -> usize {
        // SAFETY: self owns a valid mbuf.
        usize::from(unsafe { ffi::fg_pktmbuf_headroom(self.ptr.as_ptr()) })
    }

    fn tailroom(&self) -> usize {
        // SAFETY: self owns a valid mbuf.
        usize::from(unsafe { ffi::fg_pktmbuf_tailroom(self.ptr.as_ptr()) })
    }

    fn prepend(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        let n16 = len16(n).filter(|_| n <= self.headroom()).ok_or(BufError::NoHeadroom)?;
        // SAFETY: n fits the headroom, so DPDK moves data_off back and returns the new start.
        let p = unsafe { ffi::fg_pktmbuf_prepend(self.ptr.as_ptr(), n16) };
        if p.is_null() {
            return Err(BufError::NoHeadroom);
        }
        // SAFETY: p..p+n lies inside the mbuf's buffer, now part of the data, owned by self.
        Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), n) })
    }

    fn append(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if self.segments() != 1 {
            return Err(BufError::NoTailroom);
        }
        let n16 = len16(n).filter(|_| n <= self.tailroom()).ok_or(BufError::NoTailroom)?;
        // SAFETY: single segment with n bytes of tailroom: DPDK extends data_len and returns
        // the old end.
        let p = unsafe { ffi::fg_pktmbuf_append(self.ptr.as_ptr(), n16) };
        if p.is_null() {
            return Err(BufError::NoTailroom);
        }
        // SAFETY: p..p+n lies inside the buffer, now part of the data, owned by self.
        Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), n) })
    }

    fn adj(&mut self, n: usize) -> Result<(), BufError> {
        let n16 = len16(n).filter(|_| n <= self.data_len()).ok_or(BufError::TooShort)?;
        // SAFETY: n is at most the first segment's length, which rte_pktmbuf_adj requires.
        let p = unsafe { ffi::fg_pktmbuf_adj(self.ptr.as_ptr(), n16) };
        if p.is_null() { Err(BufError::TooShort) } else { Ok(()) }
    }

    fn trim(&mut self, n: usize) -> Result<(), BufError> {
        if self.segments() != 1 {
            return Err(BufError::TooShort);
        }
        let n16 = len16(n).filter(|_| n <= self.data_len()).ok_or(BufError::TooShort)?;
        // SAFETY: single segment holding at least n bytes.
        let r = unsafe { ffi::fg_pktmbuf_trim(self.ptr.as_ptr(), n16) };
        if r == 0 { Ok(()) } else { Err(BufError::TooShort) }
    }
}
