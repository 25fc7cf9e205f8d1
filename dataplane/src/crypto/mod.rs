//! ESP cryptography: transforms and the engines that apply them.
pub mod transform;

pub use transform::{AesKeyLen, Cipher, Integ, Transform, TransformError};
