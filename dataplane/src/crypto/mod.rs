//! ESP cryptography: transforms and the engines that apply them.
//!
//! The ESP layer builds one [`CryptoOp`] per packet and hands a whole burst to its worker's
//! [`WorkerCrypto`] (VPP style: prepare → one crypto batch → finish). Each op points at a
//! [`SaCipher`], the per-SA context built once at SA install time (key schedules, GHASH
//! tables, HMAC inner/outer states), which names the engine that runs it:
//!
//! - [`EngineKind::RustCrypto`]: pure Rust (RustCrypto crates), always built, every transform.
//! - [`EngineKind::IpsecMb`]: intel-ipsec-mb through a small C shim (cargo feature `ipsec-mb`),
//!   multi-buffer AES-CBC + HMAC, AES-GCM/GMAC and AES-CTR; ChaCha20-Poly1305 stays on
//!   RustCrypto.
//!
//! Both engines produce byte-identical packets for every transform they share.
//!
//! Packet layout seen by the engines (RFC 4303 §2):
//! `[SPI(4) | seq low 32 bits (4) | IV (iv_len) | region | ICV (icv_len)]`, where region is
//! payload || padding || pad length || next header and a multiple of
//! [`Transform::block_len`].

mod engine;
mod error;
mod ivgen;
mod keys;
mod layout;
mod op;
mod rustcrypto;
mod sa_cipher;
pub mod transform;
mod worker;

#[cfg(feature = "ipsec-mb")]
#[allow(unsafe_code)]
mod ipsecmb;

pub use engine::EngineKind;
pub use error::CryptoError;
pub use keys::SaKeys;
pub use op::{CryptoOp, OpStatus};
pub use sa_cipher::SaCipher;
pub use transform::{AesKeyLen, Cipher, Integ, Transform, TransformError};
pub use worker::WorkerCrypto;

#[cfg(test)]
mod tests;
