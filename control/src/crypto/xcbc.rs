//! AES-XCBC-MAC (RFC 3566 §4) and AES-XCBC-PRF-128 (RFC 4434 §2), PRF transform 4.

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use zeroize::Zeroizing;

/// AES block and key length, and the XCBC output length (RFC 3566 §4).
pub(crate) const LEN: usize = 16;

type Block = Array<u8, aes::cipher::consts::U16>;

/// AES-XCBC-MAC-128 of `parts` concatenated, with a 16-byte key (RFC 3566 §4).
fn mac(key: &[u8; LEN], parts: &[&[u8]]) -> [u8; LEN] {
    let k = Aes128::new(&Array::from(*key));
    // K1, K2, K3 = E(K, 0x01..01), E(K, 0x02..02), E(K, 0x03..03) (RFC 3566 §4, step 1).
    let derive = |c: u8| {
        let mut b = Zeroizing::new(Block::from([c; LEN]));
        k.encrypt_block(&mut b);
        b
    };
    let k1 = Aes128::new(&derive(1));
    let (k2, k3) = (derive(2), derive(3));

    let total: usize = parts.iter().map(|p| p.len()).sum();
    // The last block is the final 1..=16 bytes (the whole message if it is shorter);
    // an empty message is one empty, padded block.
    let last_start = if total == 0 { 0 } else { (total - 1) / LEN * LEN };
    let mut e = Zeroizing::new(Block::default());
    let mut buf = Zeroizing::new([0u8; LEN]);
    let mut fill = 0;
    for (pos, &b) in parts.iter().flat_map(|p| p.iter()).enumerate() {
        buf[fill] = b;
        fill += 1;
        // Full blocks before the last one are chained now (step 2); the last stays in `buf`.
        if fill == LEN && pos < last_start {
            for (x, y) in e.iter_mut().zip(buf.iter()) {
                *x ^= y;
            }
            k1.encrypt_block(&mut e);
            fill = 0;
        }
    }
    // Step 3: a complete last block is XORed with K2; otherwise 10* padding and K3.
    let tweak = if fill == LEN && total != 0 {
        &k2
    } else {
        buf[fill..].fill(0);
        buf[fill] = 0x80;
        &k3
    };
    for ((x, y), t) in e.iter_mut().zip(buf.iter()).zip(tweak.iter()) {
        *x ^= y ^ t;
    }
    k1.encrypt_block(&mut e);
    (*e).into()
}

/// AES-XCBC-PRF-128 (RFC 4434 §2): keys shorter than 16 bytes are zero-padded on the
/// right, longer keys are first reduced with AES-XCBC-MAC under the all-zero key.
pub(crate) fn prf(key: &[u8], parts: &[&[u8]]) -> [u8; LEN] {
    let mut k = Zeroizing::new([0u8; LEN]);
    if key.len() <= LEN {
        k[..key.len()].copy_from_slice(key);
    } else {
        *k = mac(&[0u8; LEN], &[key]);
    }
    mac(&k, parts)
}
