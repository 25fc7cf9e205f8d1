//! MODP Diffie-Hellman groups 1, 2, 5 (weak) and 14, 15, 16 over safe primes with g = 2.
//!
//! Bignum choice: `crypto-bigint`'s `BoxedMontyForm::pow_bounded_exp` runs in time that
//! depends only on the modulus size and the (fixed, public) exponent bit count, not on the
//! exponent's value, so the private exponent does not leak through timing. `num-bigint-dig`
//! uses variable-time sliding windows and was not taken. Peer values are public, so their
//! range check compares bytes without constant-time care.

use std::sync::OnceLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::errors::DhError;

/// Group 1 prime, RFC 2409 §6.1: 2^768 - 2^704 - 1 + 2^64 * ([2^638 pi] + 149686); g = 2.
const MODP_768: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
);

/// Group 2 prime, RFC 2409 §6.2: 2^1024 - 2^960 - 1 + 2^64 * ([2^894 pi] + 129093); g = 2.
const MODP_1024: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
);

/// Group 5 prime, RFC 3526 §2: 2^1536 - 2^1472 - 1 + 2^64 * ([2^1406 pi] + 741804); g = 2.
const MODP_1536: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

/// Group 14 prime, RFC 3526 §3: 2^2048 - 2^1984 - 1 + 2^64 * ([2^1918 pi] + 124476); g = 2.
const MODP_2048: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// Group 15 prime, RFC 3526 §4: 2^3072 - 2^3008 - 1 + 2^64 * ([2^2942 pi] + 1690314); g = 2.
const MODP_3072: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// Group 16 prime, RFC 3526 §5: 2^4096 - 2^4032 - 1 + 2^64 * ([2^3966 pi] + 240904); g = 2.
const MODP_4096: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

/// A MODP group's static parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModpSpec {
    /// IANA Transform Type 4 number.
    pub id: u16,
    /// Modulus length in bytes: the KE data and the shared secret are exactly this long
    /// (RFC 7296 §3.4 pads the public value; §2.14 uses g^ir left-padded to it).
    pub len: usize,
    /// Private exponent length in bits: the upper end of the "exponent size" column of
    /// RFC 3526 §8 (twice the group's estimated strength). For groups 1 and 2, which that
    /// table does not cover, 256 bits (more than twice their ~80-bit strength).
    pub exp_bits: u32,
    prime_hex: &'static str,
}

/// Group 1, 768-bit (RFC 2409 §6.1). Weak.
pub(crate) const GROUP_1: ModpSpec =
    ModpSpec { id: 1, len: 96, exp_bits: 256, prime_hex: MODP_768 };
/// Group 2, 1024-bit (RFC 2409 §6.2). Weak.
pub(crate) const GROUP_2: ModpSpec =
    ModpSpec { id: 2, len: 128, exp_bits: 256, prime_hex: MODP_1024 };
/// Group 5, 1536-bit (RFC 3526 §2). Weak.
pub(crate) const GROUP_5: ModpSpec =
    ModpSpec { id: 5, len: 192, exp_bits: 256, prime_hex: MODP_1536 };
/// Group 14, 2048-bit (RFC 3526 §3); RFC 3526 §8 exponent 220..320 bits.
pub(crate) const GROUP_14: ModpSpec =
    ModpSpec { id: 14, len: 256, exp_bits: 320, prime_hex: MODP_2048 };
/// Group 15, 3072-bit (RFC 3526 §4); RFC 3526 §8 exponent 260..420 bits.
pub(crate) const GROUP_15: ModpSpec =
    ModpSpec { id: 15, len: 384, exp_bits: 420, prime_hex: MODP_3072 };
/// Group 16, 4096-bit (RFC 3526 §5); RFC 3526 §8 exponent 300..480 bits.
pub(crate) const GROUP_16: ModpSpec =
    ModpSpec { id: 16, len: 512, exp_bits: 480, prime_hex: MODP_4096 };

const ALL: [ModpSpec; 6] = [GROUP_1, GROUP_2, GROUP_5, GROUP_14, GROUP_15, GROUP_16];

/// Montgomery parameters, built once per group on first use.
static PARAMS: [OnceLock<Params>; 6] = [const { OnceLock::new() }; 6];

struct Params {
    monty: BoxedMontyParams,
    /// p - 1, big-endian, `len` bytes: the exclusive upper bound for peer values.
    p_minus_1: Vec<u8>,
}

fn decode_hex(hex: &str) -> Vec<u8> {
    fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            b'a'..=b'f' => c - b'a' + 10,
            // The primes above are compile-time constants checked by the unit test below.
            _ => 0,
        }
    }
    hex.as_bytes().chunks_exact(2).map(|p| (nibble(p[0]) << 4) | nibble(p[1])).collect()
}

impl ModpSpec {
    fn bits(&self) -> u32 {
        // Lengths are at most 512 bytes.
        (self.len as u32) * 8
    }

    fn params(&self) -> &'static Params {
        let slot = ALL.iter().position(|s| s.id == self.id).unwrap_or(0);
        PARAMS[slot].get_or_init(|| {
            let p = decode_hex(self.prime_hex);
            let n = BoxedUint::from_be_slice_vartime(&p);
            // The RFC primes are odd; `Odd::new` fails only for an even modulus.
            let odd = Odd::new(n).into_option().unwrap_or_else(|| unreachable!("prime is odd"));
            let mut p_minus_1 = p;
            if let Some(last) = p_minus_1.last_mut() {
                *last -= 1; // p is odd: no borrow
            }
            Params { monty: BoxedMontyParams::new_vartime(odd), p_minus_1 }
        })
    }

    fn uint(&self, be: &[u8]) -> BoxedUint {
        BoxedUint::from_be_slice_truncated(be, self.bits())
    }

    /// base^x mod p, big-endian, left-padded to the modulus length.
    fn exp(&self, base: &BoxedUint, x: &BoxedUint) -> Zeroizing<Vec<u8>> {
        let params = self.params();
        let b = BoxedMontyForm::new(base.clone(), &params.monty);
        let r = Zeroizing::new(b.pow_bounded_exp(x, self.exp_bits));
        let out = Zeroizing::new(r.retrieve());
        Zeroizing::new(out.to_be_bytes().into_vec())
    }

    /// A fresh private exponent: `exp_bits` random bits with the top bit set, so it is never
    /// 0 or 1 and its length (which the exponentiation time depends on) is fixed.
    pub fn generate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> ModpPrivate {
        let mut raw = Zeroizing::new(vec![0u8; (self.exp_bits as usize).div_ceil(8)]);
        rng.fill_bytes(&mut raw);
        let extra = (raw.len() * 8) as u32 - self.exp_bits;
        raw[0] &= 0xff >> extra;
        raw[0] |= 0x80 >> extra;
        self.with_exponent(Zeroizing::new(BoxedUint::from_be_slice_truncated(&raw, self.exp_bits)))
    }

    /// Imports a private exponent (big-endian). It must satisfy 1 < x < p - 1 and fit in
    /// `exp_bits` bits (the exponentiation reads only that many).
    pub fn import_exponent(&self, x: &[u8]) -> Result<ModpPrivate, DhError> {
        let first = x.iter().position(|&b| b != 0).unwrap_or(x.len());
        let sig = &x[first..];
        if sig.len() > (self.exp_bits as usize).div_ceil(8) {
            return Err(DhError::InvalidPrivateKey);
        }
        // At most 60 bytes here, so the bit count fits a u32.
        let bits = sig.first().map_or(0, |b| (sig.len() * 8) as u32 - b.leading_zeros());
        if bits > self.exp_bits || bits < 2 {
            return Err(DhError::InvalidPrivateKey);
        }
        Ok(self
            .with_exponent(Zeroizing::new(BoxedUint::from_be_slice_truncated(sig, self.exp_bits))))
    }

    fn with_exponent(&self, x: Zeroizing<BoxedUint>) -> ModpPrivate {
        let g = self.uint(&[2]);
        let public = self.exp(&g, &x);
        ModpPrivate { spec: *self, x, public: public.to_vec() }
    }

    /// RFC 7296 §3.4 length check and the 1 < y < p-1 range check (SP 800-56A rev3
    /// §5.6.2.3.1 partial public-key validation; RFC 6989 §2.1 for IKEv2).
    pub fn check_peer(&self, y: &[u8]) -> Result<(), DhError> {
        if y.len() != self.len {
            return Err(DhError::WrongPublicLength {
                group: self.id,
                expected: self.len,
                got: y.len(),
            });
        }
        let (head, last) = y.split_at(self.len - 1);
        let le_one = head.iter().all(|&b| b == 0) && last.first().is_some_and(|&b| b <= 1);
        // Big-endian byte strings of equal length compare like the integers they encode.
        if le_one || y >= self.params().p_minus_1.as_slice() {
            return Err(DhError::PublicOutOfRange);
        }
        Ok(())
    }
}

/// A MODP private exponent with its public value.
pub(crate) struct ModpPrivate {
    spec: ModpSpec,
    x: Zeroizing<BoxedUint>,
    public: Vec<u8>,
}

impl ModpPrivate {
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// y^x mod p, `len` bytes.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, DhError> {
        self.spec.check_peer(peer)?;
        let y = self.spec.uint(peer);
        Ok(self.spec.exp(&y, &self.x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prime has the RFC's length and fixed top/bottom 64 bits of ones.
    #[test]
    fn primes_have_rfc_shape() {
        for s in ALL {
            let p = decode_hex(s.prime_hex);
            assert_eq!(p.len(), s.len, "group {}", s.id);
            assert!(p[..8].iter().chain(&p[p.len() - 8..]).all(|&b| b == 0xff), "group {}", s.id);
            assert_eq!(s.prime_hex.len(), 2 * s.len);
            assert!(s.prime_hex.bytes().all(|c| c.is_ascii_hexdigit()));
        }
    }
}
