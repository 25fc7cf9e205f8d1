//! ECP groups 19, 20, 21 (NIST P-256, P-384, P-521) for IKEv2, RFC 5903.
//!
//! Wire form (RFC 5903 §7): the KE data is x || y, each coordinate left-padded to the field
//! length, without the SEC1 0x04 prefix; the shared secret g^ir is the x coordinate alone.
//! Peer points are validated as on the curve and not the identity (RFC 6989 §2), which the
//! SEC1 decoder of the RustCrypto curves does. These curves have cofactor 1, so a valid
//! point needs no subgroup check.

use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::errors::DhError;

/// Generates a private-key type, its generation/import and ECDH for one RustCrypto curve.
macro_rules! ecp_group {
    ($name:ident, $curve:ident, $id:expr, $field_len:expr) => {
        /// A private scalar of this curve (zeroized on drop by `SecretKey`) and its public
        /// value in RFC 5903 §7 form.
        pub(crate) struct $name {
            secret: $curve::SecretKey,
            public: Vec<u8>,
        }

        impl $name {
            /// IANA Transform Type 4 number.
            pub const ID: u16 = $id;
            /// Field element length in bytes; the KE data is twice this (RFC 5903 §7).
            pub const FIELD_LEN: usize = $field_len;

            pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
                Self::from_secret($curve::SecretKey::generate_from_rng(rng))
            }

            /// Imports a big-endian scalar, which must lie in [1, n-1].
            pub fn from_scalar(bytes: &[u8]) -> Result<Self, DhError> {
                if bytes.len() != Self::FIELD_LEN {
                    return Err(DhError::InvalidPrivateKey);
                }
                $curve::SecretKey::from_slice(bytes)
                    .map(Self::from_secret)
                    .map_err(|_| DhError::InvalidPrivateKey)
            }

            fn from_secret(secret: $curve::SecretKey) -> Self {
                let point = secret.public_key().to_sec1_point(false);
                // Uncompressed SEC1: 0x04 || x || y; RFC 5903 §7 drops the 0x04.
                let public = point.as_bytes().get(1..).unwrap_or_default().to_vec();
                Self { secret, public }
            }

            pub fn public(&self) -> &[u8] {
                &self.public
            }

            pub fn shared_secret(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, DhError> {
                if peer.len() != 2 * Self::FIELD_LEN {
                    return Err(DhError::WrongPublicLength {
                        group: Self::ID,
                        expected: 2 * Self::FIELD_LEN,
                        got: peer.len(),
                    });
                }
                let mut sec1 = Vec::with_capacity(1 + peer.len());
                sec1.push(0x04);
                sec1.extend_from_slice(peer);
                let pk =
                    $curve::PublicKey::from_sec1_bytes(&sec1).map_err(|_| DhError::InvalidPoint)?;
                let shared =
                    $curve::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    };
}

ecp_group!(Ecp256, p256, 19, 32);
ecp_group!(Ecp384, p384, 20, 48);
ecp_group!(Ecp521, p521, 21, 66);
