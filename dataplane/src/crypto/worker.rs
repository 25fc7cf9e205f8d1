//! Per-worker crypto state and the burst entry points.

use super::layout::{Layout, seq64};
use super::sa_cipher::EngineSa;
use super::{CryptoOp, OpStatus, SaCipher};

/// Per-worker crypto state: one per worker thread, never shared (not `Sync`). Holds
/// intel-ipsec-mb's multi-buffer manager when that engine is available.
pub struct WorkerCrypto {
    #[cfg(feature = "ipsec-mb")]
    mb: Option<super::ipsecmb::MbWorker>,
    /// Keeps the type `!Sync` whatever the engines hold.
    _not_sync: core::marker::PhantomData<core::cell::Cell<()>>,
}

impl Default for WorkerCrypto {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for WorkerCrypto {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        #[cfg(feature = "ipsec-mb")]
        let mb = self.mb.is_some();
        #[cfg(not(feature = "ipsec-mb"))]
        let mb = false;
        f.debug_struct("WorkerCrypto").field("ipsec_mb", &mb).finish()
    }
}

/// Writes the IV of one packet (RFC 4106 §3.1 style for counter modes: the 64-bit sequence
/// number, unique per key; CBC: see [`super::ivgen`]).
fn write_iv(sa: &SaCipher, esp: &mut [u8], l: &Layout, seq_hi: u32) {
    let seq = seq64(esp, seq_hi);
    let spi = [esp[0], esp[1], esp[2], esp[3]];
    let iv = &mut esp[l.iv_start()..l.region_start];
    match (sa.iv_gen(), iv.len()) {
        (Some(cbc), 16) => cbc.write_iv(seq, spi, iv),
        (_, 8) => iv.copy_from_slice(&seq.to_be_bytes()),
        _ => {}
    }
}

impl WorkerCrypto {
    pub fn new() -> Self {
        WorkerCrypto {
            #[cfg(feature = "ipsec-mb")]
            mb: if super::EngineKind::IpsecMb.available() {
                super::ipsecmb::MbWorker::new()
            } else {
                None
            },
            _not_sync: core::marker::PhantomData,
        }
    }

    /// For each op: writes the IV, encrypts the region in place and writes the ICV; sets
    /// `status` to `Ok` or `BadLength`. Ops may mix SAs and engines.
    pub fn seal_burst(&mut self, ops: &mut [CryptoOp<'_>]) {
        self.seal_inner(ops, true);
    }

    /// [`WorkerCrypto::seal_burst`] keeping the IVs already in the packets, for known-answer
    /// tests with published IVs.
    #[cfg(test)]
    pub(crate) fn seal_burst_keep_iv(&mut self, ops: &mut [CryptoOp<'_>]) {
        self.seal_inner(ops, false);
    }

    fn seal_inner(&mut self, ops: &mut [CryptoOp<'_>], write_ivs: bool) {
        for op in ops.iter_mut() {
            let t = op.sa.transform();
            let Some(l) = Layout::new(&t, op.esp.len()) else {
                op.status = OpStatus::BadLength;
                continue;
            };
            if write_ivs {
                write_iv(op.sa, op.esp, &l, op.seq_hi);
            }
            match op.sa.imp() {
                EngineSa::Rust(r) => {
                    r.seal(&t, op.esp, &l, op.seq_hi, op.esn);
                    op.status = OpStatus::Ok;
                }
                #[cfg(feature = "ipsec-mb")]
                EngineSa::Mb(_) => {
                    op.status = OpStatus::Pending;
                }
            }
        }
        self.run_deferred(ops, true);
    }

    /// For each op: verifies the ICV in constant time and, if it matches, decrypts the region
    /// in place. Status `Ok`, `AuthFailed` (packet untouched) or `BadLength`.
    pub fn open_burst(&mut self, ops: &mut [CryptoOp<'_>]) {
        for op in ops.iter_mut() {
            let t = op.sa.transform();
            let Some(l) = Layout::new(&t, op.esp.len()) else {
                op.status = OpStatus::BadLength;
                continue;
            };
            match op.sa.imp() {
                EngineSa::Rust(r) => op.status = r.open(&t, op.esp, &l, op.seq_hi, op.esn),
                #[cfg(feature = "ipsec-mb")]
                EngineSa::Mb(_) => {
                    op.status = OpStatus::Pending;
                }
            }
        }
        self.run_deferred(ops, false);
    }

    /// Runs the ops left `Pending` (those of ipsec-mb SAs) on the multi-buffer engine.
    #[cfg(feature = "ipsec-mb")]
    fn run_deferred(&mut self, ops: &mut [CryptoOp<'_>], seal: bool) {
        match &mut self.mb {
            Some(mb) if seal => mb.seal_burst(ops),
            Some(mb) => mb.open_burst(ops),
            // An ipsec-mb SA exists only if the engine was available, and then every
            // worker has a manager; should that ever not hold, drop rather than send.
            None => {
                for op in ops.iter_mut().filter(|op| op.status == OpStatus::Pending) {
                    op.status = OpStatus::AuthFailed;
                }
            }
        }
    }

    #[cfg(not(feature = "ipsec-mb"))]
    fn run_deferred(&mut self, _ops: &mut [CryptoOp<'_>], _seal: bool) {}
}
