//! Phase-1 encryption of ISAKMP messages (RFC 2409 section 5.3 and appendix B): everything
//! after the ISAKMP header is CBC-encrypted with Ka, and the IV chains from message to
//! message: the last ciphertext block of one message is the IV of the next in the same
//! exchange (the phase-2 exchanges start from [`super::keys::phase2_iv`]).
//!
//! There is no integrity check here: the HASH payloads authenticate IKEv1 messages.
//!
//! Padding (RFC 2409 appendix B): "All padding bytes, except for the last one, contain 0x00.
//! The last byte of the padding contains the number of the padding bytes used, excluding the
//! last one. Note that this means there will always be padding." That format is what this
//! module sends. Receivers do not rely on it: strongSwan (`encrypt_v1` in its
//! `encrypted_payload.c`) sends 1 to block-size zero bytes with no count, and on receipt parses
//! the payload chain by its lengths and ignores what follows. So both forms decode the same
//! everywhere, and [`Phase1Cipher::decrypt`] hands back the plaintext with the padding, for
//! the payload parser to stop where the payload chain ends.

use core::fmt;

use aes::cipher::consts::U16;
use aes::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use thiserror::Error;

use crate::crypto::SecretBytes;

/// ENCRYPTION attribute value of AES-CBC (RFC 3602 section 5.1, IANA IKE attribute class 1).
const ENC_AES_CBC: u16 = 7;

/// The AES block: the IV length and padding unit.
pub const AES_BLOCK_LEN: usize = 16;

/// Errors of phase-1 encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptError {
    /// The negotiated cipher (ENCRYPTION attribute value and key length in bits) is not one
    /// this module runs: only AES-CBC-128/192/256.
    #[error("unsupported phase-1 cipher {id} with key length {key_bits:?}")]
    UnsupportedCipher {
        /// ENCRYPTION attribute value.
        id: u16,
        /// KEY_LENGTH attribute, bits.
        key_bits: Option<u16>,
    },
    /// Ka has the wrong length for the cipher.
    #[error("phase-1 key of {got} bytes, the cipher needs {expected}")]
    WrongKeyLength {
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The IV is not one cipher block.
    #[error("IV of {got} bytes, the cipher needs {expected}")]
    WrongIvLength {
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The ciphertext is empty or not a whole number of blocks.
    #[error("ciphertext of {0} bytes is not a non-empty multiple of the block size")]
    BadCiphertextLength(usize),
}

/// The phase-1 cipher of an ISAKMP SA, key schedule built once (the AES keys zeroize on drop).
pub struct Phase1Cipher {
    key: AesKey,
}

enum AesKey {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl Phase1Cipher {
    /// The length of Ka (bytes) the negotiated cipher needs, for
    /// [`super::keys::Phase1Keys::derive`]. `key_bits` is the KEY_LENGTH attribute; AES-CBC
    /// without one is AES-128, as lenient peers (strongSwan) treat it.
    pub fn key_len(id: u16, key_bits: Option<u16>) -> Result<usize, CryptError> {
        match (id, key_bits.unwrap_or(128)) {
            (ENC_AES_CBC, 128) => Ok(16),
            (ENC_AES_CBC, 192) => Ok(24),
            (ENC_AES_CBC, 256) => Ok(32),
            _ => Err(CryptError::UnsupportedCipher { id, key_bits }),
        }
    }

    /// AES-CBC keyed with Ka ([`super::keys::Phase1Keys::enc_key`]); its length (16, 24 or
    /// 32 bytes) picks the AES key size.
    pub fn new(ka: &SecretBytes) -> Result<Self, CryptError> {
        Self::aes_cbc(ka.as_bytes())
    }

    /// The cipher for the negotiated ENCRYPTION / KEY_LENGTH attributes, keyed with Ka,
    /// which must have [`Self::key_len`] bytes.
    pub fn negotiated(id: u16, key_bits: Option<u16>, ka: &[u8]) -> Result<Self, CryptError> {
        let expected = Self::key_len(id, key_bits)?;
        if ka.len() != expected {
            return Err(CryptError::WrongKeyLength { expected, got: ka.len() });
        }
        Self::aes_cbc(ka)
    }

    /// AES-CBC with the key size given by `ka`'s length (16, 24 or 32 bytes).
    pub fn aes_cbc(ka: &[u8]) -> Result<Self, CryptError> {
        let wrong = || CryptError::WrongKeyLength { expected: 16, got: ka.len() };
        let key = match ka.len() {
            16 => AesKey::A128(Aes128::new_from_slice(ka).map_err(|_| wrong())?),
            24 => AesKey::A192(Aes192::new_from_slice(ka).map_err(|_| wrong())?),
            32 => AesKey::A256(Aes256::new_from_slice(ka).map_err(|_| wrong())?),
            _ => return Err(wrong()),
        };
        Ok(Phase1Cipher { key })
    }

    /// The block size: the IV length and the padding unit.
    pub const fn block_len(&self) -> usize {
        AES_BLOCK_LEN
    }

    /// Bytes of padding [`Self::encrypt`] appends to `len` plaintext bytes: 1 to a whole
    /// block, never 0 (appendix B: "there will always be padding").
    pub const fn pad_len(&self, len: usize) -> usize {
        AES_BLOCK_LEN - len % AES_BLOCK_LEN
    }

    /// Pads `plaintext` (the payloads after the ISAKMP header) per appendix B and encrypts it.
    /// Returns the ciphertext and the IV of the next message (its last block).
    ///
    /// `iv` is one block: [`super::keys::phase1_iv`], [`super::keys::phase2_iv`] or the
    /// previous message's last block, all computed locally. Rather than fail (or panic) on a
    /// caller's mis-sized IV, a shorter one is zero-extended and a longer one cut to the block;
    /// the peer then fails to decrypt, which the exchange's retransmission and timeout handle.
    pub fn encrypt(&self, iv: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut iv_block = Array::<u8, U16>::default();
        let n = iv.len().min(AES_BLOCK_LEN);
        iv_block[..n].copy_from_slice(&iv[..n]);
        let iv = iv_block;
        let pad = self.pad_len(plaintext.len());
        let mut buf = Vec::with_capacity(plaintext.len() + pad);
        buf.extend_from_slice(plaintext);
        buf.resize(plaintext.len() + pad - 1, 0);
        // pad <= 16, so it fits the byte.
        buf.push((pad - 1) as u8);
        let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(&mut buf);
        match &self.key {
            AesKey::A128(k) => {
                cbc::Encryptor::<&Aes128>::inner_iv_init(k, &iv).encrypt_blocks(blocks)
            }
            AesKey::A192(k) => {
                cbc::Encryptor::<&Aes192>::inner_iv_init(k, &iv).encrypt_blocks(blocks)
            }
            AesKey::A256(k) => {
                cbc::Encryptor::<&Aes256>::inner_iv_init(k, &iv).encrypt_blocks(blocks)
            }
        }
        let next = last_block(&buf);
        (buf, next)
    }

    /// Decrypts the encrypted part of a received message. Returns the plaintext, padding
    /// included (see the module doc), and the IV of the next message: the last ciphertext
    /// block. A message that fails to decrypt into valid payloads must not advance the IV
    /// chain; the caller keeps the old IV until the message's HASH checks.
    pub fn decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptError> {
        let iv = block_iv(iv)?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(AES_BLOCK_LEN) {
            return Err(CryptError::BadCiphertextLength(ciphertext.len()));
        }
        let next = last_block(ciphertext);
        let mut buf = ciphertext.to_vec();
        let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(&mut buf);
        match &self.key {
            AesKey::A128(k) => {
                cbc::Decryptor::<&Aes128>::inner_iv_init(k, &iv).decrypt_blocks(blocks)
            }
            AesKey::A192(k) => {
                cbc::Decryptor::<&Aes192>::inner_iv_init(k, &iv).decrypt_blocks(blocks)
            }
            AesKey::A256(k) => {
                cbc::Decryptor::<&Aes256>::inner_iv_init(k, &iv).decrypt_blocks(blocks)
            }
        }
        Ok((buf, next))
    }
}

impl fmt::Debug for Phase1Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self.key {
            AesKey::A128(_) => 128,
            AesKey::A192(_) => 192,
            AesKey::A256(_) => 256,
        };
        write!(f, "Phase1Cipher(aes-{bits}-cbc, <redacted>)")
    }
}

fn block_iv(iv: &[u8]) -> Result<Array<u8, U16>, CryptError> {
    Array::try_from(iv)
        .map_err(|_| CryptError::WrongIvLength { expected: AES_BLOCK_LEN, got: iv.len() })
}

fn last_block(b: &[u8]) -> Vec<u8> {
    b[b.len().saturating_sub(AES_BLOCK_LEN)..].to_vec()
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    // NIST SP 800-38A appendix F.2.1 (CBC-AES128.Encrypt) and F.2.5 (CBC-AES256.Encrypt).
    const IV: [u8; 16] = hex!("000102030405060708090a0b0c0d0e0f");
    const PLAIN: [u8; 64] = hex!(
        "6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
        "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710"
    );

    #[test]
    fn sp800_38a_cbc_vectors() {
        let cases: [(&[u8], [u8; 64]); 3] = [
            (
                &hex!("2b7e151628aed2a6abf7158809cf4f3c"),
                hex!(
                    "7649abac8119b246cee98e9b12e9197d" "5086cb9b507219ee95db113a917678b2"
                    "73bed6b8e3c1743b7116e69e22229516" "3ff1caa1681fac09120eca307586e1a7"
                ),
            ),
            (
                &hex!("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b"),
                hex!(
                    "4f021db243bc633d7178183a9fa071e8" "b4d9ada9ad7dedf4e5e738763f69145a"
                    "571b242012fb7ae07fa9baac3df102e0" "08b0e27988598881d920a9e64f5615cd"
                ),
            ),
            (
                &hex!("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
                hex!(
                    "f58c4c04d6e5f1ba779eabfb5f7bfbd6" "9cfc4e967edb808d679f777bc6702c7d"
                    "39f23369a9d9bacfa530e26304231461" "b2eb05e2c39be9fcda6c19078c6a9d1b"
                ),
            ),
        ];
        for (key, ct) in cases {
            let c = Phase1Cipher::aes_cbc(key).unwrap();
            // Encrypting 64 aligned bytes appends one block of padding; the first 64 bytes
            // of ciphertext are the standard's.
            let (out, next) = c.encrypt(&IV, &PLAIN);
            assert_eq!(out.len(), 80);
            assert_eq!(&out[..64], &ct);
            assert_eq!(next, &out[64..]);
            let (plain, next_d) = c.decrypt(&IV, &ct).unwrap();
            assert_eq!(plain, PLAIN);
            assert_eq!(next_d, &ct[48..], "the IV chains from the last ciphertext block");
        }
    }

    #[test]
    fn padding_follows_appendix_b_and_round_trips() {
        let c = Phase1Cipher::negotiated(ENC_AES_CBC, Some(256), &[5u8; 32]).unwrap();
        for len in [0usize, 1, 15, 16, 17, 31, 100] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (ct, next) = c.encrypt(&[1u8; 16], &data);
            let pad = 16 - len % 16;
            assert_eq!(ct.len(), len + pad);
            let (plain, next_d) = c.decrypt(&[1u8; 16], &ct).unwrap();
            assert_eq!(next, next_d);
            assert_eq!(&plain[..len], &data[..]);
            assert!(plain[len..plain.len() - 1].iter().all(|&b| b == 0));
            assert_eq!(usize::from(plain[plain.len() - 1]), pad - 1);
        }
    }

    #[test]
    fn refuses_other_ciphers_bad_keys_ivs_and_lengths() {
        assert_eq!(Phase1Cipher::key_len(ENC_AES_CBC, None), Ok(16));
        assert_eq!(Phase1Cipher::key_len(ENC_AES_CBC, Some(192)), Ok(24));
        assert!(matches!(
            Phase1Cipher::key_len(5, None),
            Err(CryptError::UnsupportedCipher { id: 5, .. })
        ));
        assert!(Phase1Cipher::key_len(ENC_AES_CBC, Some(100)).is_err());
        assert!(matches!(
            Phase1Cipher::negotiated(ENC_AES_CBC, Some(256), &[0u8; 16]),
            Err(CryptError::WrongKeyLength { expected: 32, got: 16 })
        ));
        assert!(Phase1Cipher::negotiated(5, Some(192), &[0u8; 24]).is_err(), "3DES");
        assert!(Phase1Cipher::aes_cbc(&[0u8; 20]).is_err());
        assert!(Phase1Cipher::new(&SecretBytes::from_slice(&[0u8; 24])).is_ok());
        assert!(Phase1Cipher::new(&SecretBytes::from_slice(&[0u8; 8])).is_err());
        let c = Phase1Cipher::aes_cbc(&[0u8; 16]).unwrap();
        assert!(format!("{c:?}").contains("redacted"));
        // A mis-sized IV is fitted to the block, not a panic: zero-extended or cut.
        let (short, _) = c.encrypt(&[0u8; 8], b"x");
        assert_eq!(short, c.encrypt(&[0u8; 16], b"x").0);
        let (long, _) = c.encrypt(&[0u8; 20], b"x");
        assert_eq!(long, short);
        assert_eq!(c.decrypt(&[0u8; 16], &[]), Err(CryptError::BadCiphertextLength(0)));
        assert_eq!(c.decrypt(&[0u8; 16], &[0u8; 17]), Err(CryptError::BadCiphertextLength(17)));
        assert!(c.decrypt(&[0u8; 15], &[0u8; 16]).is_err());
    }
}
