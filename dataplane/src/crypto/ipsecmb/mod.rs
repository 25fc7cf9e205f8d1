//! The intel-ipsec-mb engine (cargo feature `ipsec-mb`), through the C shim in
//! `csrc/imb_shim.c`.
//!
//! - [`MbSa`]: per-SA key data (AES key schedules, GCM key data with GHASH tables, HMAC
//!   inner/outer states) precomputed at install in one 64-byte aligned, zeroize-on-drop block.
//! - [`MbWorker`]: one `IMB_MGR` per worker; a burst is submitted job by job and flushed, so
//!   the multi-buffer HMAC/CBC lanes fill up across packets.
//!
//! AES-GMAC runs through ipsec-mb's direct GMAC API, one packet at a time, because with ESN
//! its AAD is not contiguous in the packet (RFC 4543 §3.3).
//!
//! This is the only module of the dataplane with `unsafe` code: FFI calls and the `Send`
//! claims of the raw manager and key pointers.

mod ffi;
mod sa;
mod worker;

use std::ptr::NonNull;
use std::sync::OnceLock;

pub(crate) use sa::MbSa;
pub(crate) use worker::MbWorker;

/// Bytes reserved for `struct gcm_key_data` (1024 in 1.3; checked at run time).
const GCM_KEY_BYTES: usize = 1024;

/// An owned `IMB_MGR`, freed on drop.
pub(super) struct Mgr(NonNull<ffi::ImbMgr>);

// SAFETY: an IMB_MGR has no thread affinity; it must only not be used from two threads at
// once, which `&mut self` on every use (and `Mgr: !Sync`) guarantees.
unsafe impl Send for Mgr {}

impl Mgr {
    /// A manager for the best code path of this CPU, or None (no AES-NI, allocation failed,
    /// or the shim and this code disagree on the job descriptor layout).
    pub(super) fn new() -> Option<Self> {
        // SAFETY: plain getters without arguments.
        let (op_size, gcm_size) = unsafe { (ffi::fg_imb_op_size(), ffi::fg_imb_gcm_key_size()) };
        if op_size != size_of::<ffi::FgImbOp>() || gcm_size > GCM_KEY_BYTES {
            return None;
        }
        // SAFETY: allocates and initialises a manager, or returns NULL.
        NonNull::new(unsafe { ffi::fg_imb_mgr_new() }).map(Mgr)
    }

    pub(super) fn as_ptr(&mut self) -> *mut ffi::ImbMgr {
        self.0.as_ptr()
    }

    /// The code path in use (IMB_ARCH: 2 SSE, 3 AVX, 4 AVX2, 5 AVX-512) and whether VAES is.
    pub(super) fn arch(&self) -> (i32, bool) {
        // SAFETY: the pointer is a live manager owned by self.
        unsafe {
            (ffi::fg_imb_mgr_arch(self.0.as_ptr()), ffi::fg_imb_mgr_vaes(self.0.as_ptr()) != 0)
        }
    }
}

impl Drop for Mgr {
    fn drop(&mut self) {
        // SAFETY: the manager came from fg_imb_mgr_new and is freed exactly once.
        unsafe { ffi::fg_imb_mgr_free(self.0.as_ptr()) }
    }
}

/// The code path intel-ipsec-mb picked on this CPU, if it can run here: the IMB_ARCH number
/// and whether VAES is in use. Probed once.
pub(crate) fn arch() -> Option<(i32, bool)> {
    static ARCH: OnceLock<Option<(i32, bool)>> = OnceLock::new();
    *ARCH.get_or_init(|| Mgr::new().map(|m| m.arch()))
}

pub(crate) fn available() -> bool {
    arch().is_some()
}
