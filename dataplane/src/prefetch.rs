//! Software prefetch: start loading the cache lines a later stage of the burst will read,
//! so that the misses of a burst's packets overlap instead of stalling one after another
//! (VPP's dual/quad loops). At 100,000 tunnels every packet brings a cold flow-cache set,
//! SA and key schedule.

/// Asks the CPU to bring the `lines` 64-byte cache lines starting at `p` into the cache. A
/// hint: it changes no state a program can observe.
#[inline(always)]
pub(crate) fn lines<T: ?Sized>(p: &T, lines: usize) {
    lines_at(p as *const T, lines)
}

/// [`lines`] for an address that may be dangling or null (a pointer loaded only to start a
/// load early): prefetching never faults, whatever the address.
#[inline(always)]
pub(crate) fn lines_at<T: ?Sized>(p: *const T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let base = p.cast::<i8>();
        for i in 0..lines {
            let addr = base.wrapping_add(i * 64);
            // Only `unsafe` because the intrinsic carries `#[target_feature(enable = "sse")]`,
            // which every x86_64 target has.
            #[allow(unsafe_code)]
            // SAFETY: PREFETCHT0 never faults and reads nothing architecturally, whatever the
            // address (`wrapping_add` keeps the pointer arithmetic defined); SSE is part of
            // the x86_64 baseline.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr)
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}
