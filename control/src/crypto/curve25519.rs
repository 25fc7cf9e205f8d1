//! Group 31, Curve25519 (X25519) for IKEv2, RFC 8031 / RFC 7748.
//!
//! KE data and shared secret are the 32-byte little-endian u-coordinates (RFC 8031 §2). The
//! peer value needs no validation beyond its length, but an all-zero shared secret (a
//! low-order peer point) MUST be rejected (RFC 8031 §2.3, RFC 7748 §6.1), in constant time.

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::errors::DhError;

/// IANA Transform Type 4 number of Curve25519 (RFC 8031 §4).
pub(crate) const ID: u16 = 31;
/// Key and u-coordinate length (RFC 7748 §5).
pub(crate) const LEN: usize = 32;
/// The base point u = 9 (RFC 7748 §4.1).
const BASEPOINT: [u8; LEN] = {
    let mut b = [0u8; LEN];
    b[0] = 9;
    b
};

/// An X25519 private scalar (as 32 random bytes, clamped inside `x25519`) and its public
/// u-coordinate.
pub(crate) struct X25519Private {
    scalar: Zeroizing<[u8; LEN]>,
    public: [u8; LEN],
}

impl X25519Private {
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut scalar = Zeroizing::new([0u8; LEN]);
        rng.fill_bytes(scalar.as_mut_slice());
        Self::from_scalar_array(scalar)
    }

    pub fn from_scalar(bytes: &[u8]) -> Result<Self, DhError> {
        let arr = <[u8; LEN]>::try_from(bytes).map_err(|_| DhError::InvalidPrivateKey)?;
        Ok(Self::from_scalar_array(Zeroizing::new(arr)))
    }

    fn from_scalar_array(scalar: Zeroizing<[u8; LEN]>) -> Self {
        let public = x25519_dalek::x25519(*scalar, BASEPOINT);
        Self { scalar, public }
    }

    pub fn public(&self) -> &[u8] {
        &self.public
    }

    pub fn shared_secret(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, DhError> {
        let u = <[u8; LEN]>::try_from(peer).map_err(|_| DhError::WrongPublicLength {
            group: ID,
            expected: LEN,
            got: peer.len(),
        })?;
        let k = Zeroizing::new(x25519_dalek::x25519(*self.scalar, u));
        if bool::from(k.ct_eq(&[0u8; LEN])) {
            return Err(DhError::LowOrderPoint);
        }
        Ok(Zeroizing::new(k.to_vec()))
    }
}
