//! Logical cores.
use super::ffi;

/// The lcore id of the calling thread, or `None` for a thread DPDK does not know.
pub fn current_lcore() -> Option<u32> {
    // SAFETY: fg_lcore_id reads the calling thread's per-lcore id variable.
    let id = unsafe { ffi::fg_lcore_id() };
    (id < ffi::RTE_MAX_LCORE).then_some(id)
}

/// The NUMA socket of an lcore (0 on machines without NUMA or for unknown lcores).
pub fn socket_of_lcore(lcore: u32) -> u32 {
    if lcore >= ffi::RTE_MAX_LCORE {
        return 0;
    }
    // SAFETY: the id is below RTE_MAX_LCORE, the bound rte_lcore_to_socket_id indexes with.
    let s = unsafe { ffi::rte_lcore_to_socket_id(lcore) };
    if s >= ffi::RTE_MAX_NUMA_NODES { 0 } else { s }
}
