//! Raw declarations of the C shim `csrc/imb_shim.c` (no bindgen: a dozen plain functions).

use core::ffi::c_void;

/// `IMB_MGR`, opaque here: only the shim touches its fields.
#[repr(C)]
pub(in crate::crypto) struct ImbMgr {
    _opaque: [u8; 0],
    _pinned: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// `IMB_STATUS_COMPLETED`: cipher and hash both done.
pub(super) const STATUS_COMPLETED: i32 = 3;

/// `FG_KIND_*` of the shim.
pub(super) const KIND_GCM: u32 = 1;
pub(super) const KIND_CBC: u32 = 2;
pub(super) const KIND_CTR: u32 = 3;
pub(super) const KIND_NULL: u32 = 4;
pub(super) const KIND_CHACHA: u32 = 5;

/// `FG_HASH_*` of the shim.
pub(super) const HASH_NONE: u32 = 0;
pub(super) const HASH_SHA1: u32 = 1;
pub(super) const HASH_SHA256: u32 = 2;
pub(super) const HASH_SHA384: u32 = 3;
pub(super) const HASH_SHA512: u32 = 4;

/// `struct fg_imb_op`: one job descriptor, field for field.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct FgImbOp {
    pub buf: *mut u8,
    pub enc_keys: *const c_void,
    pub dec_keys: *const c_void,
    pub ipad: *const c_void,
    pub opad: *const c_void,
    pub iv: *const u8,
    pub tag_out: *mut u8,
    pub cipher_off: u64,
    pub cipher_len: u64,
    pub hash_len: u64,
    pub iv_len: u64,
    pub aad_len: u64,
    pub tag_len: u64,
    pub aad: [u8; 16],
    pub kind: u32,
    pub encrypt: u32,
    pub key_len: u32,
    pub hash: u32,
    pub status: i32,
    pub reserved: u32,
}

impl FgImbOp {
    pub const EMPTY: FgImbOp = FgImbOp {
        buf: core::ptr::null_mut(),
        enc_keys: core::ptr::null(),
        dec_keys: core::ptr::null(),
        ipad: core::ptr::null(),
        opad: core::ptr::null(),
        iv: core::ptr::null(),
        tag_out: core::ptr::null_mut(),
        cipher_off: 0,
        cipher_len: 0,
        hash_len: 0,
        iv_len: 0,
        aad_len: 0,
        tag_len: 0,
        aad: [0; 16],
        kind: 0,
        encrypt: 0,
        key_len: 0,
        hash: 0,
        status: 0,
        reserved: 0,
    };
}

unsafe extern "C" {
    pub(super) fn fg_imb_op_size() -> usize;
    pub(super) fn fg_imb_gcm_key_size() -> usize;
    pub(super) fn fg_imb_mgr_new() -> *mut ImbMgr;
    pub(super) fn fg_imb_mgr_free(m: *mut ImbMgr);
    pub(super) fn fg_imb_mgr_arch(m: *const ImbMgr) -> i32;
    pub(super) fn fg_imb_mgr_vaes(m: *const ImbMgr) -> i32;
    pub(super) fn fg_imb_aes_keyexp(
        m: *mut ImbMgr,
        key: *const u8,
        key_len: u32,
        enc: *mut c_void,
        dec: *mut c_void,
    ) -> i32;
    pub(super) fn fg_imb_gcm_pre(
        m: *mut ImbMgr,
        key: *const u8,
        key_len: u32,
        gcm_key: *mut c_void,
    ) -> i32;
    pub(super) fn fg_imb_hmac_pre(
        m: *mut ImbMgr,
        hash: u32,
        key: *const u8,
        key_len: u32,
        ipad: *mut u8,
        opad: *mut u8,
    ) -> i32;
    pub(super) fn fg_imb_gmac(
        m: *mut ImbMgr,
        gcm_key: *const c_void,
        key_len: u32,
        nonce12: *const u8,
        head: *const u8,
        head_len: u64,
        tail: *const u8,
        tail_len: u64,
        tag: *mut u8,
        tag_len: u64,
    ) -> i32;
    pub(super) fn fg_imb_run(m: *mut ImbMgr, ops: *mut FgImbOp, n: u32);
}
