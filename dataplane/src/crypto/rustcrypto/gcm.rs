//! AES-GCM (RFC 4106) and AES-GMAC (RFC 4543) from the `aes`, `ctr` and `ghash` crates.
//!
//! Built from parts rather than `aes-gcm` because ESP needs what that crate does not offer:
//! 8-byte ICVs (RFC 4106 §6), an AAD split around the ESN high half for GMAC (RFC 4543 §3.3)
//! and the tag check before any decryption.

use aes::cipher::consts::U16;
use aes::cipher::{Array, BlockCipherEncrypt, InnerIvInit, StreamCipherCore};
use ctr::CtrCore;
use ctr::flavors::Ctr32BE;
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::aes_key::{AesEnc, with_aes};

type Block = Array<u8, U16>;

/// Per-SA GCM context: AES key schedule, GHASH key tables and the salt.
pub(crate) struct Gcm {
    aes: AesEnc,
    ghash: GHash,
    salt: Zeroizing<[u8; 4]>,
}

/// The counter block J0 for a 96-bit nonce salt || IV (NIST SP 800-38D §7.1, RFC 4106 §4).
fn j0(salt: &[u8; 4], iv: &[u8; 8]) -> Block {
    let mut b = Block::default();
    b[..4].copy_from_slice(salt);
    b[4..12].copy_from_slice(iv);
    b[15] = 1;
    b
}

/// Counter-mode keystream from J0: returns the tag mask E(K, J0) and the generator
/// positioned at J0 + 1, where the payload keystream starts.
fn keystream<'a, A: BlockCipherEncrypt<BlockSize = U16>>(
    aes: &'a A,
    j0: &Block,
) -> (CtrCore<&'a A, Ctr32BE>, Block) {
    let mut ctr = CtrCore::<&'a A, Ctr32BE>::inner_iv_init(aes, j0);
    let mut mask = Block::default();
    ctr.write_keystream_block(&mut mask);
    (ctr, mask)
}

impl Gcm {
    /// `key` is the AES key, `salt` the 4 bytes after it in KEYMAT.
    pub fn new(key: &[u8], salt: &[u8]) -> Option<Self> {
        let aes = AesEnc::new(key)?;
        let mut h = Zeroizing::new(Block::default());
        with_aes!(AesEnc, &aes, k => k.encrypt_block(&mut h));
        let ghash = GHash::new(&h);
        let salt = Zeroizing::new(<[u8; 4]>::try_from(salt).ok()?);
        Some(Gcm { aes, ghash, salt })
    }

    /// GHASH over AAD (`aad_head || aad_tail`) and ciphertext, masked: the full 16-byte tag.
    /// `aad_head` must be a whole number of blocks unless `aad_tail` is empty.
    fn tag(&self, aad_head: &[u8], aad_tail: &[u8], ct: &[u8], mask: &Block) -> Block {
        debug_assert!(aad_head.len().is_multiple_of(16) || aad_tail.is_empty());
        let mut g = self.ghash.clone();
        g.update_padded(aad_head);
        g.update_padded(aad_tail);
        g.update_padded(ct);
        let mut lens = Block::default();
        lens[..8].copy_from_slice(&(((aad_head.len() + aad_tail.len()) as u64) * 8).to_be_bytes());
        lens[8..].copy_from_slice(&((ct.len() as u64) * 8).to_be_bytes());
        g.update(&[lens]);
        let mut t = g.finalize();
        for (t, m) in t.iter_mut().zip(mask.iter()) {
            *t ^= m;
        }
        t
    }

    /// Encrypts `region` in place and writes the (truncated) tag into `icv`. For GMAC the
    /// region is empty and everything is AAD.
    pub fn seal(
        &self,
        iv: &[u8; 8],
        aad_head: &[u8],
        aad_tail: &[u8],
        region: &mut [u8],
        icv: &mut [u8],
    ) {
        let j0 = j0(&self.salt, iv);
        let t = with_aes!(AesEnc, &self.aes, k => {
            let (ctr, mask) = keystream(k, &j0);
            ctr.apply_keystream_partial(region.into());
            self.tag(aad_head, aad_tail, region, &mask)
        });
        icv.copy_from_slice(&t[..icv.len()]);
    }

    /// Checks the (truncated) tag in constant time and, only if it matches, decrypts
    /// `region` in place.
    pub fn open(
        &self,
        iv: &[u8; 8],
        aad_head: &[u8],
        aad_tail: &[u8],
        region: &mut [u8],
        icv: &[u8],
    ) -> bool {
        let j0 = j0(&self.salt, iv);
        with_aes!(AesEnc, &self.aes, k => {
            let (ctr, mask) = keystream(k, &j0);
            let t = self.tag(aad_head, aad_tail, region, &mask);
            let ok: bool = t[..icv.len()].ct_eq(icv).into();
            if ok {
                ctr.apply_keystream_partial(region.into());
            }
            ok
        })
    }
}
