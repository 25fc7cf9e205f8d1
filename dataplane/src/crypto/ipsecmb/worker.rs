//! Per-worker ipsec-mb state and the burst paths.

use core::ffi::c_void;

use subtle::ConstantTimeEq;

use super::{MbSa, Mgr, ffi};
use crate::crypto::layout::{Layout, aead_aad};
use crate::crypto::sa_cipher::EngineSa;
use crate::crypto::{CryptoOp, OpStatus};

/// Jobs handed to the manager per `fg_imb_run` call; longer bursts go in chunks.
const BATCH: usize = 64;
/// Largest untruncated tag the manager writes (HMAC-SHA-512).
const TAG_BYTES: usize = 64;
/// Largest ICV (HMAC-SHA-512-256).
const ICV_BYTES: usize = 32;

/// Where a job's result goes once the manager is done with it.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// Index of the op in the burst.
    op: usize,
    region_end: usize,
    icv_len: usize,
    /// The ICV area held seq_hi during hashing (HMAC with ESN) and must be restored.
    restore_icv: bool,
    /// Where the job's IV lives: in the packet at this offset (CBC), else in `ivs`.
    iv_in_packet: Option<usize>,
}

/// Job descriptors and scratch for one chunk, allocated once per worker.
struct Scratch {
    jobs: [ffi::FgImbOp; BATCH],
    slots: [Slot; BATCH],
    tags: [[u8; TAG_BYTES]; BATCH],
    ivs: [[u8; 16]; BATCH],
    /// Received ICVs (open) so the computed tag can be checked and the packet restored.
    icvs: [[u8; ICV_BYTES]; BATCH],
}

// SAFETY: the raw pointers in `jobs` are only dereferenced (by the shim) during the
// `fg_imb_run` call of the burst that wrote them, while that burst's packets and SAs are
// borrowed; between bursts they are stale values nobody reads, so moving the scratch to
// another thread cannot create a data race.
unsafe impl Send for Scratch {}

/// One worker's multi-buffer manager and job scratch.
pub(crate) struct MbWorker {
    mgr: Mgr,
    s: Box<Scratch>,
}

impl MbWorker {
    /// None if ipsec-mb cannot run on this CPU.
    pub(crate) fn new() -> Option<Self> {
        let mgr = Mgr::new()?;
        let s = Box::new(Scratch {
            jobs: [ffi::FgImbOp::EMPTY; BATCH],
            slots: [Slot::default(); BATCH],
            tags: [[0; TAG_BYTES]; BATCH],
            ivs: [[0; 16]; BATCH],
            icvs: [[0; ICV_BYTES]; BATCH],
        });
        Some(MbWorker { mgr, s })
    }

    /// Seals the `Pending` ops of ipsec-mb SAs (IVs already written).
    pub(crate) fn seal_burst(&mut self, ops: &mut [CryptoOp<'_>]) {
        self.burst(ops, true);
    }

    /// Verifies and decrypts the `Pending` ops of ipsec-mb SAs.
    pub(crate) fn open_burst(&mut self, ops: &mut [CryptoOp<'_>]) {
        self.burst(ops, false);
    }

    fn burst(&mut self, ops: &mut [CryptoOp<'_>], seal: bool) {
        let mut n = 0;
        for i in 0..ops.len() {
            let op = &mut ops[i];
            if op.status != OpStatus::Pending {
                continue;
            }
            let EngineSa::Mb(sa) = op.sa.imp() else { continue };
            let t = op.sa.transform();
            let Some(l) = Layout::new(&t, op.esp.len()) else {
                op.status = OpStatus::BadLength;
                continue;
            };
            if sa.gmac {
                op.status = self.gmac(sa, op.esp, &l, op.seq_hi, op.esn, seal);
                continue;
            }
            self.fill(n, i, sa, op, &l, t.icv_len(), seal);
            n += 1;
            if n == BATCH {
                self.run(ops, n, seal);
                n = 0;
            }
        }
        if n > 0 {
            self.run(ops, n, seal);
        }
    }

    /// Prepares job `n` for op `i`.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        n: usize,
        i: usize,
        sa: &MbSa,
        op: &mut CryptoOp<'_>,
        l: &Layout,
        icv_len: usize,
        seal: bool,
    ) {
        let s = &mut *self.s;
        let k = &*sa.keys;
        let esp = &mut *op.esp;
        if !seal {
            s.icvs[n][..icv_len].copy_from_slice(&esp[l.region_end..l.icv_end]);
        }
        let mut job = ffi::FgImbOp::EMPTY;
        job.kind = sa.kind;
        job.encrypt = u32::from(seal);
        job.key_len = sa.key_len;
        job.hash = sa.hash;
        job.cipher_off = l.region_start as u64;
        job.cipher_len = l.region_len() as u64;
        job.tag_len = icv_len as u64;
        let mut restore_icv = false;
        let mut iv_in_packet = None;
        match sa.kind {
            ffi::KIND_GCM | ffi::KIND_CHACHA => {
                // RFC 4106 §4 / RFC 7634 §2: nonce = salt || IV.
                s.ivs[n][..4].copy_from_slice(&sa.salt);
                s.ivs[n][4..12].copy_from_slice(&esp[l.iv_start()..l.region_start]);
                job.iv_len = 12;
                let mut aad = [0u8; 12];
                let aad_len = aead_aad(esp, op.seq_hi, op.esn, &mut aad);
                job.aad[..aad_len].copy_from_slice(&aad[..aad_len]);
                job.aad_len = aad_len as u64;
                job.enc_keys = if sa.kind == ffi::KIND_GCM {
                    k.gcm.as_ptr().cast::<c_void>()
                } else {
                    k.chacha.as_ptr().cast::<c_void>()
                };
            }
            _ => {
                job.enc_keys = k.enc.as_ptr().cast::<c_void>();
                job.dec_keys = k.dec.as_ptr().cast::<c_void>();
                job.ipad = k.ipad.as_ptr().cast::<c_void>();
                job.opad = k.opad.as_ptr().cast::<c_void>();
                match sa.kind {
                    ffi::KIND_CBC => {
                        iv_in_packet = Some(l.iv_start());
                        job.iv_len = 16;
                    }
                    ffi::KIND_CTR => {
                        // RFC 3686 §4: nonce || IV || block counter 1.
                        s.ivs[n][..4].copy_from_slice(&sa.salt);
                        s.ivs[n][4..12].copy_from_slice(&esp[l.iv_start()..l.region_start]);
                        s.ivs[n][12..].copy_from_slice(&1u32.to_be_bytes());
                        job.iv_len = 16;
                    }
                    _ => job.cipher_len = 0,
                }
                // RFC 4303 §3.3.2.1 / RFC 4304: with ESN the ICV also covers seq_hi, as if
                // appended after the region: place it where the ICV goes (ICVs are >= 12
                // bytes), hash 4 bytes further, and restore or overwrite the ICV afterwards.
                job.hash_len = l.region_end as u64;
                if op.esn {
                    esp[l.region_end..l.region_end + 4].copy_from_slice(&op.seq_hi.to_be_bytes());
                    job.hash_len += 4;
                    restore_icv = !seal;
                }
            }
        }
        // The pointers (packet, IV, tag) are set by `run` right before the call, so that no
        // Rust access to the same memory comes between taking them and their use.
        s.jobs[n] = job;
        s.slots[n] = Slot { op: i, region_end: l.region_end, icv_len, restore_icv, iv_in_packet };
    }

    /// Runs jobs 0..n and writes the results back into their ops.
    fn run(&mut self, ops: &mut [CryptoOp<'_>], n: usize, seal: bool) {
        let m = self.mgr.as_ptr();
        let s = &mut *self.s;
        let tags = s.tags.as_mut_ptr();
        let ivs = s.ivs.as_ptr();
        for k in 0..n {
            let slot = s.slots[k];
            let Some(op) = ops.get_mut(slot.op) else { continue };
            let buf = op.esp.as_mut_ptr();
            let job = &mut s.jobs[k];
            job.buf = buf;
            job.tag_out = tags.wrapping_add(k).cast::<u8>();
            job.iv = match slot.iv_in_packet {
                Some(off) => buf.wrapping_add(off).cast_const(),
                None => ivs.wrapping_add(k).cast::<u8>(),
            };
        }
        // SAFETY: jobs 0..n were filled by `fill` in this burst and their pointers set just
        // above: each points into its op's packet (offsets and lengths checked by
        // Layout::new; the packets are exclusively borrowed through `ops` and not touched
        // from Rust until fg_imb_run returns), into the SA's key block (borrowed through
        // `ops` too) and into `self.s` (tags, IVs), which does not move. n <= BATCH fits in
        // u32.
        unsafe { ffi::fg_imb_run(m, s.jobs.as_mut_ptr(), n as u32) };
        for k in 0..n {
            let slot = s.slots[k];
            let Some(op) = ops.get_mut(slot.op) else { continue };
            let icv = &mut op.esp[slot.region_end..slot.region_end + slot.icv_len];
            let done = s.jobs[k].status == ffi::STATUS_COMPLETED;
            op.status = if seal {
                if done {
                    icv.copy_from_slice(&s.tags[k][..slot.icv_len]);
                    OpStatus::Ok
                } else {
                    OpStatus::BadLength
                }
            } else {
                let ok: bool = s.tags[k][..slot.icv_len].ct_eq(&s.icvs[k][..slot.icv_len]).into();
                if slot.restore_icv {
                    icv.copy_from_slice(&s.icvs[k][..slot.icv_len]);
                }
                if done && ok { OpStatus::Ok } else { OpStatus::AuthFailed }
            };
        }
    }

    /// AES-GMAC of one packet (RFC 4543 §3.3: AAD = SPI || [seq_hi] || seq || IV || region,
    /// nothing encrypted) through the direct API.
    fn gmac(
        &mut self,
        sa: &MbSa,
        esp: &mut [u8],
        l: &Layout,
        seq_hi: u32,
        esn: bool,
        seal: bool,
    ) -> OpStatus {
        let k = &*sa.keys;
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&sa.salt);
        nonce[4..].copy_from_slice(&esp[l.iv_start()..l.region_start]);
        let (data, icv) = esp.split_at_mut(l.region_end);
        let mut head = [0u8; 16];
        let (h, tail): (&[u8], &[u8]) = if esn {
            head[..4].copy_from_slice(&data[..4]);
            head[4..8].copy_from_slice(&seq_hi.to_be_bytes());
            head[8..].copy_from_slice(&data[4..12]);
            (&head, &data[12..])
        } else {
            (data, &[])
        };
        let mut tag = [0u8; 16];
        let m = self.mgr.as_ptr();
        // SAFETY: all pointers come from live slices with their own lengths; gcm_key_data was
        // precomputed for key_len by MbSa::new; tag has room for 16 bytes. h is 16 bytes
        // (a whole block) whenever tail is non-empty, as the shim requires.
        let rc = unsafe {
            ffi::fg_imb_gmac(
                m,
                k.gcm.as_ptr().cast::<c_void>(),
                sa.key_len,
                nonce.as_ptr(),
                h.as_ptr(),
                h.len() as u64,
                tail.as_ptr(),
                tail.len() as u64,
                tag.as_mut_ptr(),
                tag.len() as u64,
            )
        };
        let n = icv.len();
        match (seal, rc == 0) {
            (true, true) => {
                icv.copy_from_slice(&tag[..n]);
                OpStatus::Ok
            }
            (true, false) => OpStatus::BadLength,
            (false, ok) => {
                let matches: bool = tag[..n].ct_eq(icv).into();
                if ok && matches { OpStatus::Ok } else { OpStatus::AuthFailed }
            }
        }
    }
}
