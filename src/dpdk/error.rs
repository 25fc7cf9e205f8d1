//! Errors from DPDK calls.
use std::ffi::CStr;

use super::ffi;

/// A DPDK call failed, or the wrapper refused an argument before calling DPDK.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK function reported an error.
    #[error("{call} failed: {reason} (errno {errno})")]
    Call {
        /// The DPDK function.
        call: &'static str,
        /// The positive errno value.
        errno: i32,
        /// `rte_strerror(errno)`.
        reason: String,
    },
    /// `rte_eal_init` already ran in this process (DPDK allows it once per process).
    #[error("the EAL is already initialised in this process")]
    AlreadyInitialised,
    /// A string passed to DPDK contains a NUL byte.
    #[error("argument contains a NUL byte: {0:?}")]
    Nul(String),
    /// No ethdev port has this name.
    #[error(
        "no DPDK port named {0:?} (check the vdev spelling or that the NIC is bound to vfio-pci)"
    )]
    NoSuchPort(String),
    /// A port setting the device cannot do.
    #[error("port {port}: {what}")]
    Unsupported {
        /// Port name.
        port: String,
        /// What the device cannot do.
        what: String,
    },
}

impl DpdkError {
    /// An error for `call` from a negative return value (`-errno`) or, when that is not
    /// negative, from `rte_errno`.
    pub(crate) fn from_ret(call: &'static str, ret: i32) -> Self {
        let errno = if ret < 0 { -ret } else { rte_errno() };
        DpdkError::Call { call, errno, reason: strerror(errno) }
    }

    /// An error for `call` from `rte_errno` (calls that return NULL).
    pub(crate) fn from_errno(call: &'static str) -> Self {
        let errno = rte_errno();
        DpdkError::Call { call, errno, reason: strerror(errno) }
    }
}

/// The calling thread's `rte_errno` (a thread-local: only the shim can read it).
fn rte_errno() -> i32 {
    // SAFETY: fg_errno only reads the calling thread's per-lcore errno variable.
    unsafe { ffi::fg_errno() }
}

fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a pointer to a static or
    // thread-local NUL-terminated string, copied here before any other DPDK call.
    let p = unsafe { ffi::rte_strerror(errno) };
    if p.is_null() {
        return format!("error {errno}");
    }
    // SAFETY: p is non-null and NUL-terminated (see above).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
