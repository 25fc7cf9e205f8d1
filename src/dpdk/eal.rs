//! The Environment Abstraction Layer: start-up, lcore launch, clean-up.
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_void};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{DpdkError, Result, ffi, lcore};

/// Where hugetlbfs is mounted (what `scripts/setup.sh` mounts).
pub const DEFAULT_HUGEDIR: &str = "/dev/hugepages";

/// DPDK initialises its EAL once per process, even after `rte_eal_cleanup`.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The running EAL. Dropping it stops every lcore job and calls `rte_eal_cleanup`; every
/// DPDK object borrows it, so none outlives that.
#[derive(Debug)]
pub struct Eal {
    file_prefix: Option<String>,
    /// `rte_eal_init` keeps pointers into argv: the strings live as long as the EAL.
    _argv: Vec<CString>,
}

impl Eal {
    /// Starts the EAL with command-line style `args` (without the program name).
    ///
    /// Fails with [`DpdkError::AlreadyInitialised`] on a second call in one process.
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut argv = vec![CString::new("ferrogate").expect("no NUL")];
        let mut file_prefix = None;
        let mut prev_was_prefix = false;
        for a in args {
            let a = a.as_ref();
            if prev_was_prefix {
                file_prefix = Some(a.to_owned());
            }
            if let Some(p) = a.strip_prefix("--file-prefix=") {
                file_prefix = Some(p.to_owned());
            }
            prev_was_prefix = a == "--file-prefix";
            argv.push(CString::new(a).map_err(|_| DpdkError::Nul(a.to_owned()))?);
        }
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialised);
        }
        // rte_eal_init may permute the pointer array, so it gets a copy; the strings stay.
        let mut ptrs: Vec<*mut c_char> = argv.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(ptrs.len()).map_err(|_| DpdkError::Nul("argc".into()))?;
        // SAFETY: argc matches the array; each pointer is a NUL-terminated string that lives
        // in `argv` as long as the returned Eal; EAL init runs once (guarded by STARTED).
        let ret = unsafe { ffi::rte_eal_init(argc, ptrs.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_ret("rte_eal_init", ret));
        }
        Ok(Eal { file_prefix, _argv: argv })
    }

    /// The DPDK version string (`rte_version()`); usable without starting the EAL.
    pub fn version() -> &'static str {
        // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
        let p = unsafe { ffi::rte_version() };
        // SAFETY: p points to a static C string (see above).
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("DPDK (unknown version)")
    }

    /// The `--file-prefix` the EAL was started with, if any.
    pub fn file_prefix(&self) -> Option<&str> {
        self.file_prefix.as_deref()
    }

    /// The main lcore (the thread that called [`Eal::init`]).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: the EAL is initialised (self exists).
        unsafe { ffi::rte_get_main_lcore() }
    }

    /// The worker lcores, in id order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX; // rte_get_next_lcore starts after i; -1 means "from the start"
        loop {
            // SAFETY: the EAL is initialised; i is -1 or an lcore id it returned.
            i = unsafe { ffi::rte_get_next_lcore(i, 1, 0) };
            if i >= ffi::RTE_MAX_LCORE {
                return out;
            }
            out.push(i);
        }
    }

    /// The NUMA socket of an lcore.
    pub fn socket_of_lcore(&self, lcore: u32) -> u32 {
        lcore::socket_of_lcore(lcore)
    }

    /// Runs `f`, in which closures can be launched on worker lcores. Every launched closure
    /// has returned when `scope` returns (also when `f` panics), so they may borrow from the
    /// caller's stack, as with `std::thread::scope`.
    pub fn scope<'env, F, T>(&'env self, f: F) -> T
    where
        F: FnOnce(&LcoreScope<'env>) -> T,
    {
        let scope = LcoreScope { launched: RefCell::new(Vec::new()), _env: PhantomData };
        f(&scope)
        // `scope` drops here, waiting for every launched lcore.
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: no lcore job can be running (LcoreScope waits for them) and no DPDK
        // object is alive (they all borrow self); the EAL was initialised.
        unsafe {
            ffi::rte_eal_mp_wait_lcore();
            ffi::rte_eal_cleanup();
        }
        // rte_eal_cleanup leaves the runtime directory (and, without --in-memory or
        // --huge-unlink, the hugepage files): nothing of this run is needed by the next.
        if let Some(prefix) = &self.file_prefix
            && let Err(e) = remove_runtime_files(prefix, Path::new(DEFAULT_HUGEDIR))
        {
            tracing::warn!("could not remove DPDK runtime files for prefix {prefix}: {e}");
        }
    }
}

/// Launches closures on worker lcores; see [`Eal::scope`].
pub struct LcoreScope<'env> {
    launched: RefCell<Vec<(u32, Option<i32>)>>,
    _env: PhantomData<&'env mut &'env ()>,
}

type Job<'env> = Box<dyn FnOnce() -> i32 + Send + 'env>;

impl<'env> LcoreScope<'env> {
    /// Runs `f` on worker lcore `lcore`. Its return value comes back from [`Self::join`].
    pub fn spawn<F>(&self, lcore: u32, f: F) -> Result<()>
    where
        F: FnOnce() -> i32 + Send + 'env,
    {
        let job: Box<Job<'env>> = Box::new(Box::new(f));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: the trampoline takes back ownership of `arg` exactly once; the closure's
        // borrows ('env) outlive this scope, which waits for the lcore before it ends.
        let ret = unsafe { ffi::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if ret < 0 {
            // SAFETY: the launch failed, so the trampoline never ran: `arg` is still ours.
            drop(unsafe { Box::from_raw(arg.cast::<Job<'env>>()) });
            return Err(DpdkError::from_ret("rte_eal_remote_launch", ret));
        }
        self.launched.borrow_mut().push((lcore, None));
        Ok(())
    }

    /// Waits for every launched lcore and returns `(lcore, return value)` pairs (-1 for a
    /// closure that panicked).
    pub fn join(&self) -> Vec<(u32, i32)> {
        let mut launched = self.launched.borrow_mut();
        for (lcore, result) in launched.iter_mut() {
            if result.is_none() {
                // SAFETY: the lcore was launched by this scope; waiting has no other effect.
                *result = Some(unsafe { ffi::rte_eal_wait_lcore(*lcore) });
            }
        }
        launched.iter().map(|(l, r)| (*l, r.unwrap_or(-1))).collect()
    }
}

impl Drop for LcoreScope<'_> {
    fn drop(&mut self) {
        self.join();
    }
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from Box::into_raw in LcoreScope::spawn and is consumed once here.
    let job = unsafe { Box::from_raw(arg.cast::<Job<'static>>()) };
    // A panic must not unwind into C.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}

/// Removes what an EAL run with `prefix` may leave behind: `<hugedir>/<prefix>map_*` and
/// `/var/run/dpdk/<prefix>`. Call only when no process uses the prefix.
pub fn remove_runtime_files(prefix: &str, hugedir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    if let Ok(dir) = std::fs::read_dir(hugedir) {
        let stem = format!("{prefix}map_");
        for entry in dir.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&stem) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    for run in ["/var/run/dpdk", "/run/dpdk"] {
        let d = Path::new(run).join(prefix);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
            removed += 1;
        }
    }
    Ok(removed)
}
