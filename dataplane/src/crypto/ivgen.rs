//! Unpredictable CBC IVs without a per-packet RNG call.
//!
//! RFC 3602 §3 requires the CBC IV to be unpredictable to an attacker. Each SA gets its own
//! random 128-bit IV key at install time; the IV of a packet is AES-ECB under that key of
//! (64-bit sequence number || SPI || 0), a block that never repeats under one SA, so the
//! IVs are distinct and, without the IV key, unpredictable (NIST SP 800-38A Appendix C
//! recommends exactly this: encrypt a nonce under the forward cipher).

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

/// Length of the per-SA IV key.
pub(crate) const IV_KEY_LEN: usize = 16;

/// Per-SA CBC IV generator (the expanded IV key zeroizes on drop).
pub(crate) struct CbcIvGen {
    key: Aes128Enc,
}

impl CbcIvGen {
    pub fn new(iv_key: &[u8; IV_KEY_LEN]) -> Self {
        CbcIvGen { key: Aes128Enc::new(&Array::from(*iv_key)) }
    }

    /// Writes the IV for sequence number `seq64` of the SA with `spi` (bytes as on the wire).
    pub fn write_iv(&self, seq64: u64, spi: [u8; 4], iv: &mut [u8]) {
        let mut block = Array::<u8, aes::cipher::consts::U16>::default();
        block[..8].copy_from_slice(&seq64.to_be_bytes());
        block[8..12].copy_from_slice(&spi);
        self.key.encrypt_block(&mut block);
        iv.copy_from_slice(&block);
    }
}
