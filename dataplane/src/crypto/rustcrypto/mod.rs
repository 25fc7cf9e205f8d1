//! The RustCrypto engine: every transform, in pure Rust.

mod aes_key;
mod gcm;
mod mac;

use aes::cipher::consts::U16;
use aes::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    StreamCipherCore,
};
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
use ctr::CtrCore;
use ctr::flavors::Ctr32BE;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::layout::{Layout, aead_aad};
use super::{Cipher, CryptoError, OpStatus, SaKeys, Transform};
use aes_key::{AesEnc, AesFull, with_aes};
use gcm::Gcm;
use mac::{MAX_MAC_LEN, Mac};

/// Per-SA state of the RustCrypto engine.
pub(crate) struct RustSa {
    kind: Kind,
}

#[allow(
    clippy::large_enum_variant,
    reason = "built once per SA and read on every packet: inline keeps it one pointer away"
)]
enum Kind {
    /// AES-GCM and AES-GMAC (the transform says whether the region is encrypted).
    Gcm(Gcm),
    ChaCha {
        aead: ChaCha20Poly1305,
        salt: Zeroizing<[u8; 4]>,
    },
    Cbc {
        aes: AesFull,
        mac: Mac,
    },
    Ctr {
        aes: AesEnc,
        nonce: Zeroizing<[u8; 4]>,
        mac: Mac,
    },
    Null {
        mac: Mac,
    },
}

/// Splits KEYMAT into key and the trailing 4-byte salt/nonce.
fn split_salt(enc: &[u8]) -> Option<(&[u8], &[u8])> {
    enc.split_at_checked(enc.len().checked_sub(4)?)
}

fn salt4(s: &[u8]) -> Option<Zeroizing<[u8; 4]>> {
    Some(Zeroizing::new(<[u8; 4]>::try_from(s).ok()?))
}

impl RustSa {
    /// Key lengths were checked by the caller; a mismatch still gives an error, not a panic.
    pub fn new(t: Transform, keys: &SaKeys) -> Result<Self, CryptoError> {
        let bad_key = CryptoError::KeyLength { expected: t.enc_key_len(), got: keys.enc().len() };
        let bad_auth =
            CryptoError::AuthKeyLength { expected: t.auth_key_len(), got: keys.auth().len() };
        let mac = || Mac::new(t.integ(), keys.auth()).ok_or(bad_auth.clone());
        let kind = match t.cipher() {
            Cipher::AesGcm { .. } | Cipher::AesGmac(_) => {
                let (key, salt) = split_salt(keys.enc()).ok_or(bad_key.clone())?;
                Kind::Gcm(Gcm::new(key, salt).ok_or(bad_key)?)
            }
            Cipher::ChaCha20Poly1305 => {
                let (key, salt) = split_salt(keys.enc()).ok_or(bad_key.clone())?;
                let aead = ChaCha20Poly1305::new_from_slice(key).map_err(|_| bad_key.clone())?;
                Kind::ChaCha { aead, salt: salt4(salt).ok_or(bad_key)? }
            }
            Cipher::AesCbc(_) => {
                Kind::Cbc { aes: AesFull::new(keys.enc()).ok_or(bad_key)?, mac: mac()? }
            }
            Cipher::AesCtr(_) => {
                let (key, nonce) = split_salt(keys.enc()).ok_or(bad_key.clone())?;
                Kind::Ctr {
                    aes: AesEnc::new(key).ok_or(bad_key.clone())?,
                    nonce: salt4(nonce).ok_or(bad_key)?,
                    mac: mac()?,
                }
            }
            Cipher::Null => Kind::Null { mac: mac()? },
        };
        Ok(RustSa { kind })
    }

    /// Seals one packet whose IV is already in place.
    pub fn seal(&self, t: &Transform, esp: &mut [u8], l: &Layout, seq_hi: u32, esn: bool) {
        match &self.kind {
            Kind::Gcm(gcm) => {
                let iv = iv8(esp, l);
                if t.encrypts() {
                    let mut aad = [0u8; 12];
                    let n = aead_aad(esp, seq_hi, esn, &mut aad);
                    let (region, icv) = region_icv(esp, l);
                    gcm.seal(&iv, &aad[..n], &[], region, icv);
                } else {
                    let (data, icv) = esp.split_at_mut(l.region_end);
                    let mut head = [0u8; 16];
                    let (h, tail) = gmac_aad(data, seq_hi, esn, &mut head);
                    gcm.seal(&iv, h, tail, &mut [], icv);
                }
            }
            Kind::ChaCha { aead, salt } => {
                let nonce = chacha_nonce(salt, &iv8(esp, l));
                let mut aad = [0u8; 12];
                let n = aead_aad(esp, seq_hi, esn, &mut aad);
                let (region, icv) = region_icv(esp, l);
                // The only error is a message over 256 GiB, which a packet cannot be.
                if let Ok(tag) = aead.encrypt_inout_detached(&nonce, &aad[..n], region.into()) {
                    icv.copy_from_slice(&tag);
                }
            }
            Kind::Cbc { aes, mac } => {
                let iv = iv16(esp, l);
                let (region, _) = region_icv(esp, l);
                with_aes!(AesFull, aes, k => cbc_encrypt(k, &iv, region));
                write_mac(mac, esp, l, seq_hi, esn);
            }
            Kind::Ctr { aes, nonce, mac } => {
                let block = ctr_block(nonce, &iv8(esp, l));
                let (region, _) = region_icv(esp, l);
                with_aes!(AesEnc, aes, k => ctr_apply(k, &block, region));
                write_mac(mac, esp, l, seq_hi, esn);
            }
            Kind::Null { mac } => write_mac(mac, esp, l, seq_hi, esn),
        }
    }

    /// Verifies and decrypts one packet.
    pub fn open(
        &self,
        t: &Transform,
        esp: &mut [u8],
        l: &Layout,
        seq_hi: u32,
        esn: bool,
    ) -> OpStatus {
        let ok = match &self.kind {
            Kind::Gcm(gcm) => {
                let iv = iv8(esp, l);
                if t.encrypts() {
                    let mut aad = [0u8; 12];
                    let n = aead_aad(esp, seq_hi, esn, &mut aad);
                    let (region, icv) = region_icv(esp, l);
                    gcm.open(&iv, &aad[..n], &[], region, icv)
                } else {
                    let (data, icv) = esp.split_at_mut(l.region_end);
                    let mut head = [0u8; 16];
                    let (h, tail) = gmac_aad(data, seq_hi, esn, &mut head);
                    gcm.open(&iv, h, tail, &mut [], icv)
                }
            }
            Kind::ChaCha { aead, salt } => {
                let nonce = chacha_nonce(salt, &iv8(esp, l));
                let mut aad = [0u8; 12];
                let n = aead_aad(esp, seq_hi, esn, &mut aad);
                let (region, icv) = region_icv(esp, l);
                let tag = chacha20poly1305::Tag::try_from(&*icv);
                tag.is_ok_and(|tag| {
                    aead.decrypt_inout_detached(&nonce, &aad[..n], region.into(), &tag).is_ok()
                })
            }
            Kind::Cbc { aes, mac } => {
                let ok = check_mac(mac, esp, l, seq_hi, esn);
                if ok {
                    let iv = iv16(esp, l);
                    let (region, _) = region_icv(esp, l);
                    with_aes!(AesFull, aes, k => cbc_decrypt(k, &iv, region));
                }
                ok
            }
            Kind::Ctr { aes, nonce, mac } => {
                let ok = check_mac(mac, esp, l, seq_hi, esn);
                if ok {
                    let block = ctr_block(nonce, &iv8(esp, l));
                    let (region, _) = region_icv(esp, l);
                    with_aes!(AesEnc, aes, k => ctr_apply(k, &block, region));
                }
                ok
            }
            Kind::Null { mac } => check_mac(mac, esp, l, seq_hi, esn),
        };
        if ok { OpStatus::Ok } else { OpStatus::AuthFailed }
    }
}

/// The 8-byte IV of counter-mode transforms (layout checked: the IV is there).
fn iv8(esp: &[u8], l: &Layout) -> [u8; 8] {
    let mut iv = [0u8; 8];
    iv.copy_from_slice(&esp[l.iv_start()..l.iv_start() + 8]);
    iv
}

fn iv16(esp: &[u8], l: &Layout) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&esp[l.iv_start()..l.iv_start() + 16]);
    iv
}

fn region_icv<'a>(esp: &'a mut [u8], l: &Layout) -> (&'a mut [u8], &'a mut [u8]) {
    esp[l.region_start..l.icv_end].split_at_mut(l.region_len())
}

/// GMAC AAD (RFC 4543 §3.3): SPI || seq || IV || region, with seq_hi after the SPI for ESN.
/// With ESN the first 16 bytes (SPI, seq_hi, seq_lo, IV[..4]) are assembled in `head` so
/// the rest stays a slice of the packet. Returns the two parts to hash in order.
fn gmac_aad<'a>(
    data: &'a [u8],
    seq_hi: u32,
    esn: bool,
    head: &'a mut [u8; 16],
) -> (&'a [u8], &'a [u8]) {
    if esn {
        head[..4].copy_from_slice(&data[..4]);
        head[4..8].copy_from_slice(&seq_hi.to_be_bytes());
        head[8..16].copy_from_slice(&data[4..12]);
        (&head[..], &data[12..])
    } else {
        (data, &[])
    }
}

/// RFC 7634 §2: nonce = salt || IV.
fn chacha_nonce(salt: &[u8; 4], iv: &[u8; 8]) -> chacha20poly1305::Nonce {
    let mut n = chacha20poly1305::Nonce::default();
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    n
}

/// RFC 3686 §4: counter block = nonce || IV || 32-bit block counter starting at 1.
fn ctr_block(nonce: &[u8; 4], iv: &[u8; 8]) -> Array<u8, U16> {
    let mut b = Array::<u8, U16>::default();
    b[..4].copy_from_slice(nonce);
    b[4..12].copy_from_slice(iv);
    b[15] = 1;
    b
}

fn ctr_apply<A: BlockCipherEncrypt<BlockSize = U16>>(
    aes: &A,
    block: &Array<u8, U16>,
    region: &mut [u8],
) {
    CtrCore::<&A, Ctr32BE>::inner_iv_init(aes, block).apply_keystream_partial(region.into());
}

fn cbc_encrypt<A: BlockCipherEncrypt<BlockSize = U16>>(aes: &A, iv: &[u8; 16], region: &mut [u8]) {
    let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(region);
    cbc::Encryptor::<&A>::inner_iv_init(aes, &Array::from(*iv)).encrypt_blocks(blocks);
}

fn cbc_decrypt<A: BlockCipherDecrypt<BlockSize = U16>>(aes: &A, iv: &[u8; 16], region: &mut [u8]) {
    let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(region);
    cbc::Decryptor::<&A>::inner_iv_init(aes, &Array::from(*iv)).decrypt_blocks(blocks);
}

/// HMAC over SPI .. end of region, then seq_hi when ESN (RFC 4303 §3.3.2.1, RFC 4304 §2).
fn mac_of(
    mac: &Mac,
    esp: &[u8],
    l: &Layout,
    seq_hi: u32,
    esn: bool,
    out: &mut [u8; MAX_MAC_LEN],
) -> usize {
    let hi = seq_hi.to_be_bytes();
    let trailer: &[u8] = if esn { &hi } else { &[] };
    mac.compute(&esp[..l.region_end], trailer, out)
}

fn write_mac(mac: &Mac, esp: &mut [u8], l: &Layout, seq_hi: u32, esn: bool) {
    let mut full = Zeroizing::new([0u8; MAX_MAC_LEN]);
    mac_of(mac, esp, l, seq_hi, esn, &mut full);
    let icv = &mut esp[l.region_end..l.icv_end];
    let n = icv.len();
    icv.copy_from_slice(&full[..n]);
}

fn check_mac(mac: &Mac, esp: &[u8], l: &Layout, seq_hi: u32, esn: bool) -> bool {
    let mut full = Zeroizing::new([0u8; MAX_MAC_LEN]);
    mac_of(mac, esp, l, seq_hi, esn, &mut full);
    let icv = &esp[l.region_end..l.icv_end];
    full[..icv.len()].ct_eq(icv).into()
}
