//! Packet mbuf pools.
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::{DpdkError, Eal, Mbuf, Result, ffi};

/// A pool of packet mbufs (`rte_pktmbuf_pool_create`) on one NUMA socket. Freed when the
/// EAL is cleaned up: mbufs may still be in flight in ports until then.
#[derive(Debug, Clone, Copy)]
pub struct Mempool<'e> {
    ptr: NonNull<ffi::rte_mempool>,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the handle is a pointer
// to a pool that lives until rte_eal_cleanup, which the 'e borrow keeps away.
unsafe impl Send for Mempool<'_> {}
// SAFETY: see Send: every operation on the pool is thread-safe.
unsafe impl Sync for Mempool<'_> {}

impl<'e> Mempool<'e> {
    /// Creates a pool of `n` mbufs with a per-lcore cache of `cache` and `data_room` bytes
    /// per mbuf (headroom included) on `socket`.
    pub fn new(
        _eal: &'e Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: u32,
    ) -> Result<Self> {
        let cname = CString::new(name).map_err(|_| DpdkError::Nul(name.to_owned()))?;
        let socket = i32::try_from(socket).unwrap_or(ffi::SOCKET_ID_ANY);
        // SAFETY: the EAL is initialised (borrowed); the name is NUL-terminated and copied
        // by DPDK.
        let p =
            unsafe { ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket) };
        NonNull::new(p)
            .map(|ptr| Mempool { ptr, _eal: PhantomData })
            .ok_or_else(|| DpdkError::from_errno("rte_pktmbuf_pool_create"))
    }

    /// Takes one mbuf from the pool (reset, empty, default headroom).
    pub fn alloc(&self) -> Option<Mbuf<'e>> {
        // SAFETY: the pool pointer is valid for 'e.
        let m = unsafe { ffi::fg_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: a non-null result is a fresh mbuf owned by the caller.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Mbufs available in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool pointer is valid for 'e; the call only reads counters.
        unsafe { ffi::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs taken from the pool and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as in `available`.
        unsafe { ffi::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.ptr.as_ptr()
    }
}
