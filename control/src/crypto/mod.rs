//! The IKE crypto suite: Diffie-Hellman groups, PRFs, IKEv2 key derivation and the SK
//! (Encrypted) payload ciphers.
//!
//! Sans-IO like the rest of `control`: nothing here reads the clock, and all randomness comes
//! from a caller-supplied [`rand_core::CryptoRng`], so tests are deterministic. Every secret
//! type zeroizes on drop and prints as `<redacted>`.
//!
//! - [`DhGroup`] / [`DhPrivate`]: MODP 1, 2, 5 (weak), 14, 15, 16; ECP 19, 20, 21; X25519 (31);
//! - [`PrfAlg`]: HMAC-MD5/SHA1/SHA2 and AES128-XCBC, `prf` and `prf+`;
//! - [`keys`]: SKEYSEED, the seven SK_* keys, rekey SKEYSEED, Child SA KEYMAT;
//! - [`SkCipher`]: AES-CBC + HMAC, AES-GCM (8/12/16-byte ICV), ChaCha20-Poly1305.

mod curve25519;
mod dh;
mod ecp;
mod errors;
mod integ;
pub mod keys;
mod modp;
mod prf;
mod secret;
mod sk;
mod xcbc;

pub use dh::{DhGroup, DhPrivate, SharedSecret, WeakGroups};
pub use errors::{DhError, PrfError, SkError};
pub use integ::{IntegAlg, IntegKey, MAX_ICV_LEN};
pub use keys::{ChildSaKeys, DirectionKeys, IkeKeyLengths, IkeSaKeys};
pub use prf::{MAX_PRF_OUTPUT, PRF_PLUS_MAX_BLOCKS, PrfAlg};
pub use secret::SecretBytes;
pub use sk::{AesKeySize, EncrAlg, GcmIcv, SkCipher, strip_padding};
