//! Per-SA key data of the ipsec-mb engine.

use core::ffi::c_void;
use core::mem::offset_of;
use std::cell::RefCell;

use zeroize::Zeroize;

use super::{GCM_KEY_BYTES, Mgr, ffi};
use crate::crypto::{Cipher, Integ, SaKeys, Transform};

/// Expanded AES key: 15 round keys of 16 bytes (AES-256), padded to 256.
const AES_SCHED_BYTES: usize = 256;
/// Largest HMAC inner/outer state (SHA-512: 8 × 8 bytes).
const HMAC_STATE_BYTES: usize = 64;

/// Key data in the layout and alignment ipsec-mb wants (gcm_key_data 64-byte aligned, key
/// schedules 16-byte aligned: every field size is a multiple of 64). Zeroized on drop.
#[repr(C, align(64))]
pub(super) struct MbKeys {
    pub gcm: [u8; GCM_KEY_BYTES],
    pub enc: [u8; AES_SCHED_BYTES],
    pub dec: [u8; AES_SCHED_BYTES],
    pub ipad: [u8; HMAC_STATE_BYTES],
    pub opad: [u8; HMAC_STATE_BYTES],
    pub chacha: [u8; 32],
}

impl Drop for MbKeys {
    fn drop(&mut self) {
        self.gcm.zeroize();
        self.enc.zeroize();
        self.dec.zeroize();
        self.ipad.zeroize();
        self.opad.zeroize();
        self.chacha.zeroize();
    }
}

/// Per-SA state of the ipsec-mb engine. It lives in the SA's hot lines, so what every packet
/// reads besides the key schedules (the salt) is here rather than behind `keys`.
pub(crate) struct MbSa {
    pub(super) keys: Box<MbKeys>,
    /// `ffi::KIND_*`; GMAC is `KIND_GCM` with `gmac` set.
    pub(super) kind: u32,
    pub(super) key_len: u32,
    pub(super) hash: u32,
    pub(super) gmac: bool,
    /// RFC 4106 / 4543 / 3686 / 7634 salt: the last 4 bytes of the cipher's KEYMAT.
    pub(super) salt: [u8; 4],
    /// The parts of `keys` a packet reads, for [`MbSa::prefetch`].
    lines: KeyLines,
}

impl Drop for MbSa {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

/// Up to two runs of cache lines of [`MbKeys`] a seal reads, as (first line, count) pairs;
/// an open reads the same except that the first run starts at `open_first` (CBC decrypts
/// with the decryption schedule), and with `vaes_hkeys` the second run depends on the
/// packet's length. Six bytes: the SA's hot lines have no room for more.
#[derive(Debug, Clone, Copy, Default)]
struct KeyLines {
    runs: [(u8, u8); 2],
    open_first: u8,
    vaes_hkeys: bool,
}

/// Where the VAES/AVX-512 GCM code keeps H^n: `16 * (63 - n)` bytes into `gcm_key_data`
/// (ipsec-mb's `gcm_keys_vaes_avx512.inc`), H^48 first and H^1 last.
const fn vaes_hkey(n: usize) -> usize {
    16 * (63 - n)
}

/// The lines holding H^1..H^n of the VAES layout, for a packet whose GHASH input is about
/// `len` bytes: the code multiplies a run of n blocks by H^n..H^1, at most 48 at a time.
fn vaes_hkey_lines(len: usize) -> (u8, u8) {
    let n = (len / 16 + 2).clamp(1, 48);
    let (first, last) = (line(vaes_hkey(n)), line(vaes_hkey(1)));
    (first, last - first + 1)
}

/// Line index in [`MbKeys`] of a byte offset.
const fn line(offset: usize) -> u8 {
    (offset / 64) as u8
}

/// Lines covering `len` (> 0) bytes from `offset`.
const fn lines_of(offset: usize, len: usize) -> (u8, u8) {
    let (first, last) = (line(offset), line(offset + len - 1));
    (first, last - first + 1)
}

impl KeyLines {
    /// What a seal or open of a `kind` SA with a `key_len`-byte key reads first. The GHASH
    /// key powers are where this CPU's GCM code keeps them: the VAES/AVX-512 code stores
    /// H^48 down to H^1 after the round keys, so H^1..H^16 (what short and medium packets
    /// use) are the block's last 256 bytes; the other code paths store H^1 upwards right
    /// after the round keys.
    fn new(kind: u32, key_len: u32, hash: u32, vaes: bool) -> Self {
        let rounds = match key_len {
            16 => 11 * 16,
            24 => 13 * 16,
            _ => 15 * 16,
        };
        let (enc, dec) = (offset_of!(MbKeys, enc), offset_of!(MbKeys, dec));
        let mac = match hash {
            ffi::HASH_NONE => (0, 0),
            _ => lines_of(offset_of!(MbKeys, ipad), 2 * HMAC_STATE_BYTES),
        };
        match kind {
            ffi::KIND_GCM => {
                let hkeys = if vaes {
                    vaes_hkey_lines(256)
                } else {
                    // H^1..H^8 and their Karatsuba halves: 16 entries after 15 round keys.
                    lines_of(16 * 15, 16 * 16)
                };
                KeyLines { runs: [lines_of(0, rounds), hkeys], open_first: 0, vaes_hkeys: vaes }
            }
            ffi::KIND_CBC | ffi::KIND_CTR => {
                let open_sched = if kind == ffi::KIND_CBC { dec } else { enc };
                KeyLines {
                    runs: [lines_of(enc, rounds), mac],
                    open_first: line(open_sched),
                    vaes_hkeys: false,
                }
            }
            ffi::KIND_CHACHA => {
                let key = lines_of(offset_of!(MbKeys, chacha), 32);
                KeyLines { runs: [key, (0, 0)], open_first: key.0, vaes_hkeys: false }
            }
            _ => KeyLines::default(),
        }
    }
}

// MbSa holds no raw pointer, so it is Send + Sync by construction, as SaCipher needs; the
// shim only reads the key block (through const pointers) after install.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MbSa>();
};

fn hash_of(integ: Integ) -> u32 {
    match integ {
        Integ::None => ffi::HASH_NONE,
        Integ::HmacSha1_96 => ffi::HASH_SHA1,
        Integ::HmacSha256_128 => ffi::HASH_SHA256,
        Integ::HmacSha384_192 => ffi::HASH_SHA384,
        Integ::HmacSha512_256 => ffi::HASH_SHA512,
    }
}

impl MbSa {
    /// Precomputes the key data; None if ipsec-mb cannot run here or refuses a key.
    pub(crate) fn new(t: Transform, keys: &SaKeys) -> Option<Self> {
        with_key_mgr(|m| Self::build(m, t, keys))
    }

    /// Starts loading the key data a seal (`open` false) or an open of an ESP packet of
    /// `len` bytes reads: the round keys and the GHASH key powers of GCM, the AES schedule
    /// and HMAC states of CBC.
    #[inline]
    pub(crate) fn prefetch(&self, open: bool, len: usize) {
        let base = (&raw const *self.keys).cast::<u8>();
        let mut runs = self.lines.runs;
        if open {
            runs[0].0 = self.lines.open_first;
        }
        if self.lines.vaes_hkeys {
            runs[1] = vaes_hkey_lines(len);
        }
        for (first, n) in runs {
            crate::prefetch::lines_at(base.wrapping_add(usize::from(first) * 64), usize::from(n));
        }
    }

    fn build(m: *mut ffi::ImbMgr, t: Transform, keys: &SaKeys) -> Option<Self> {
        let mut k = Box::new(MbKeys {
            gcm: [0; GCM_KEY_BYTES],
            enc: [0; AES_SCHED_BYTES],
            dec: [0; AES_SCHED_BYTES],
            ipad: [0; HMAC_STATE_BYTES],
            opad: [0; HMAC_STATE_BYTES],
            chacha: [0; 32],
        });
        let mut salt = [0u8; 4];
        let enc = keys.enc();
        let (kind, gmac, key) = match t.cipher() {
            Cipher::AesGcm { .. } => (ffi::KIND_GCM, false, split_salt(enc, &mut salt)?),
            Cipher::AesGmac(_) => (ffi::KIND_GCM, true, split_salt(enc, &mut salt)?),
            Cipher::AesCbc(_) => (ffi::KIND_CBC, false, enc),
            Cipher::AesCtr(_) => (ffi::KIND_CTR, false, split_salt(enc, &mut salt)?),
            Cipher::Null => (ffi::KIND_NULL, false, &[][..]),
            Cipher::ChaCha20Poly1305 => (ffi::KIND_CHACHA, false, split_salt(enc, &mut salt)?),
        };
        let key_len = u32::try_from(key.len()).ok()?;
        let rc = match kind {
            // SAFETY: key is key_len readable bytes; k.gcm is a GCM_KEY_BYTES (>= the shim's
            // sizeof(struct gcm_key_data), checked by Mgr::new) 64-byte aligned buffer.
            ffi::KIND_GCM => unsafe {
                ffi::fg_imb_gcm_pre(m, key.as_ptr(), key_len, k.gcm.as_mut_ptr().cast::<c_void>())
            },
            // SAFETY: key is key_len readable bytes; enc and dec are 256-byte, 16-byte aligned
            // buffers (an AES-256 schedule is 240 bytes).
            ffi::KIND_CBC | ffi::KIND_CTR => unsafe {
                ffi::fg_imb_aes_keyexp(
                    m,
                    key.as_ptr(),
                    key_len,
                    k.enc.as_mut_ptr().cast::<c_void>(),
                    k.dec.as_mut_ptr().cast::<c_void>(),
                )
            },
            ffi::KIND_CHACHA => {
                k.chacha.copy_from_slice(<&[u8; 32]>::try_from(key).ok()?);
                0
            }
            _ => 0,
        };
        if rc != 0 {
            return None;
        }
        let hash = hash_of(t.integ());
        if hash != ffi::HASH_NONE {
            let auth = keys.auth();
            let auth_len = u32::try_from(auth.len()).ok()?;
            // SAFETY: auth is auth_len readable bytes (at most one hash block: the shim
            // refuses longer keys); ipad/opad hold 64 bytes, the largest state (SHA-512).
            let rc = unsafe {
                ffi::fg_imb_hmac_pre(
                    m,
                    hash,
                    auth.as_ptr(),
                    auth_len,
                    k.ipad.as_mut_ptr(),
                    k.opad.as_mut_ptr(),
                )
            };
            if rc != 0 {
                return None;
            }
        }
        let vaes = super::arch().is_some_and(|(_, vaes)| vaes);
        let lines = KeyLines::new(kind, key_len, hash, vaes);
        Some(MbSa { keys: k, kind, key_len, hash, gmac, salt, lines })
    }
}

thread_local! {
    /// This thread's manager for key setup: making one costs about 100 µs here, which an
    /// install of 100,000 SAs would otherwise pay 100,000 times.
    static KEY_MGR: RefCell<Option<Mgr>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's key-setup manager (made on first use).
fn with_key_mgr<T>(f: impl FnOnce(*mut ffi::ImbMgr) -> Option<T>) -> Option<T> {
    KEY_MGR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Mgr::new()?);
        }
        f(slot.as_mut()?.as_ptr())
    })
}

/// Splits KEYMAT into key and the trailing 4-byte salt (copied into `salt`).
fn split_salt<'a>(enc: &'a [u8], salt: &mut [u8; 4]) -> Option<&'a [u8]> {
    let (key, s) = enc.split_at_checked(enc.len().checked_sub(4)?)?;
    salt.copy_from_slice(s);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of the `gcm` block (at offset 0 of [`MbKeys`]).
    const GCM_LINES: usize = GCM_KEY_BYTES / 64;

    #[test]
    fn vaes_hkey_lines_cover_the_powers_a_packet_uses_and_stay_in_the_gcm_block() {
        // H^1 is the block's last 16 bytes but one, H^48 right after 15 round keys.
        assert_eq!(vaes_hkey(1), 992);
        assert_eq!(vaes_hkey(48), 15 * 16);
        // A tiny packet: H^1, H^2 (line 15 only); 64 bytes: H^1..H^6; a full-size one:
        // all 48 powers.
        assert_eq!(vaes_hkey_lines(0), (15, 1));
        assert_eq!(vaes_hkey_lines(64), (14, 2));
        assert_eq!(vaes_hkey_lines(1500), (3, 13));
        assert_eq!(vaes_hkey_lines(usize::MAX), (3, 13));
        for len in 0..=9000 {
            let (first, n) = vaes_hkey_lines(len);
            let powers = (len / 16 + 2).clamp(1, 48);
            assert!(usize::from(first) * 64 <= vaes_hkey(powers), "H^{powers} at {len}");
            assert!(usize::from(first + n) * 64 >= vaes_hkey(1) + 16, "H^1 at {len}");
            assert!(usize::from(first + n) <= GCM_LINES, "past the block at {len}");
        }
    }

    #[test]
    fn key_lines_name_the_schedules_each_direction_reads() {
        let (enc, dec) = (line(offset_of!(MbKeys, enc)), line(offset_of!(MbKeys, dec)));
        let ipad = line(offset_of!(MbKeys, ipad));
        // AES-256-CBC + HMAC-SHA-256: 15 round keys (4 lines), then ipad and opad.
        let cbc = KeyLines::new(ffi::KIND_CBC, 32, ffi::HASH_SHA256, true);
        assert_eq!(cbc.runs, [(enc, 4), (ipad, 2)]);
        assert_eq!(cbc.open_first, dec, "CBC decrypts with the decryption schedule");
        assert!(!cbc.vaes_hkeys);
        // CTR opens with the encryption schedule.
        assert_eq!(KeyLines::new(ffi::KIND_CTR, 16, ffi::HASH_SHA1, false).open_first, enc);
        // AES-128-GCM: 11 round keys (3 lines); H^n where this CPU's code keeps them.
        let vaes = KeyLines::new(ffi::KIND_GCM, 16, ffi::HASH_NONE, true);
        assert_eq!(vaes.runs[0], (0, 3));
        assert!(vaes.vaes_hkeys);
        let sse = KeyLines::new(ffi::KIND_GCM, 16, ffi::HASH_NONE, false);
        // H^1..H^8 and their halves from byte 240: lines 3 to 7.
        assert_eq!(sse.runs, [(0, 3), (3, 5)]);
        let chacha = KeyLines::new(ffi::KIND_CHACHA, 32, ffi::HASH_NONE, true);
        assert_eq!(chacha.runs, [(line(offset_of!(MbKeys, chacha)), 1), (0, 0)]);
        assert_eq!(chacha.open_first, chacha.runs[0].0);
    }
}
