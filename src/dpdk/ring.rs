//! Lock-free rings of mbufs, for handing packets between lcores.
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::{Burst, DpdkError, Eal, Result, ffi};

/// A multi-producer, multi-consumer ring of owned mbufs. Dropping it frees the mbufs left in
/// it and the ring.
#[derive(Debug)]
pub struct Ring<'e> {
    ptr: NonNull<ffi::rte_ring>,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: an MP/MC rte_ring is safe to use from any thread concurrently.
unsafe impl Send for Ring<'_> {}
// SAFETY: as for Send; every method is an MP/MC-safe ring operation.
unsafe impl Sync for Ring<'_> {}

impl<'e> Ring<'e> {
    /// Creates a ring with `count` slots (a power of two) on `socket`.
    pub fn new(_eal: &'e Eal, name: &str, count: u32, socket: u32) -> Result<Self> {
        let cname = CString::new(name).map_err(|_| DpdkError::Nul(name.to_owned()))?;
        let socket = i32::try_from(socket).unwrap_or(ffi::SOCKET_ID_ANY);
        // SAFETY: the EAL is initialised; the name is copied; flags 0 = MP/MC.
        let p = unsafe { ffi::rte_ring_create(cname.as_ptr(), count, socket, 0) };
        NonNull::new(p)
            .map(|ptr| Ring { ptr, _eal: PhantomData })
            .ok_or_else(|| DpdkError::from_errno("rte_ring_create"))
    }

    /// Moves packets from the front of `burst` into the ring; returns how many went.
    pub fn enqueue_burst(&self, burst: &mut Burst<'e>) -> usize {
        let len = burst.len();
        if len == 0 {
            return 0;
        }
        let slots = burst.raw_slots();
        // SAFETY: slots[0..len] are owned mbufs; the ring takes ownership of the first n.
        let n = unsafe {
            ffi::fg_ring_enqueue_burst(
                self.ptr.as_ptr(),
                slots.cast(),
                len as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        // SAFETY: the ring owns the first n mbufs now.
        unsafe { burst.consume_front(n) };
        n
    }

    /// Moves up to `burst.room()` packets from the ring into `burst`.
    pub fn dequeue_burst(&self, burst: &mut Burst<'e>) -> usize {
        let room = burst.room();
        if room == 0 {
            return 0;
        }
        let len = burst.len();
        let slots = burst.raw_slots();
        // SAFETY: slots[len..len+room] are free; the ring only ever holds owned mbufs, which
        // it hands over.
        let n = unsafe {
            ffi::fg_ring_dequeue_burst(
                self.ptr.as_ptr(),
                slots.add(len).cast(),
                room as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        // SAFETY: n owned mbufs were written after len.
        unsafe { burst.commit(n) };
        n
    }

    /// Packets in the ring.
    pub fn count(&self) -> u32 {
        // SAFETY: valid ring; reads its indexes.
        unsafe { ffi::fg_ring_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Ring<'_> {
    fn drop(&mut self) {
        let mut b = Burst::new();
        while self.dequeue_burst(&mut b) > 0 {
            b.clear();
        }
        // SAFETY: the ring is empty and nobody else holds it (self is dropped).
        unsafe { ffi::rte_ring_free(self.ptr.as_ptr()) }
    }
}
