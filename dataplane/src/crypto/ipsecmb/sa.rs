//! Per-SA key data of the ipsec-mb engine.

use core::ffi::c_void;
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
    pub salt: [u8; 4],
}

impl Drop for MbKeys {
    fn drop(&mut self) {
        self.gcm.zeroize();
        self.enc.zeroize();
        self.dec.zeroize();
        self.ipad.zeroize();
        self.opad.zeroize();
        self.chacha.zeroize();
        self.salt.zeroize();
    }
}

/// Per-SA state of the ipsec-mb engine.
pub(crate) struct MbSa {
    pub(super) keys: Box<MbKeys>,
    /// `ffi::KIND_*`; GMAC is `KIND_GCM` with `gmac` set.
    pub(super) kind: u32,
    pub(super) gmac: bool,
    pub(super) key_len: u32,
    pub(super) hash: u32,
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

    /// Starts loading the key data of this SA's cipher: the GCM key data (round keys and
    /// hash key powers) or the AES schedule and HMAC states.
    #[inline]
    pub(crate) fn prefetch(&self) {
        let k = &*self.keys;
        match self.kind {
            ffi::KIND_GCM => crate::prefetch::lines(&k.gcm, 8),
            ffi::KIND_CBC | ffi::KIND_CTR => {
                crate::prefetch::lines(&k.enc, 4);
                crate::prefetch::lines(&k.ipad, 2);
            }
            _ => crate::prefetch::lines(k, 1),
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
            salt: [0; 4],
        });
        let enc = keys.enc();
        let (kind, gmac, key) = match t.cipher() {
            Cipher::AesGcm { .. } => (ffi::KIND_GCM, false, split_salt(enc, &mut k.salt)?),
            Cipher::AesGmac(_) => (ffi::KIND_GCM, true, split_salt(enc, &mut k.salt)?),
            Cipher::AesCbc(_) => (ffi::KIND_CBC, false, enc),
            Cipher::AesCtr(_) => (ffi::KIND_CTR, false, split_salt(enc, &mut k.salt)?),
            Cipher::Null => (ffi::KIND_NULL, false, &[][..]),
            Cipher::ChaCha20Poly1305 => (ffi::KIND_CHACHA, false, split_salt(enc, &mut k.salt)?),
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
        Some(MbSa { keys: k, kind, gmac, key_len, hash })
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
