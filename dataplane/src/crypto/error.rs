//! Why an SA's crypto context could not be built.

use core::fmt;

use super::{EngineKind, Transform};

/// Errors from [`super::SaCipher::new`]; the per-packet path reports through
/// [`super::OpStatus`] instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// Encryption key material (salt included) of the wrong length.
    KeyLength { expected: usize, got: usize },
    /// Integrity key of the wrong length.
    AuthKeyLength { expected: usize, got: usize },
    /// The engine was not built in, or this CPU cannot run it.
    EngineUnavailable(EngineKind),
    /// The engine does not implement this transform.
    Unsupported { transform: Transform, engine: EngineKind },
    /// The OS random source failed while drawing the per-SA CBC IV key.
    RandomUnavailable,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::KeyLength { expected, got } => {
                write!(f, "encryption key material of {got} bytes, transform needs {expected}")
            }
            CryptoError::AuthKeyLength { expected, got } => {
                write!(f, "integrity key of {got} bytes, transform needs {expected}")
            }
            CryptoError::EngineUnavailable(e) => {
                write!(f, "crypto engine {} is not available", e.name())
            }
            CryptoError::Unsupported { transform, engine } => {
                write!(f, "crypto engine {} does not support {transform}", engine.name())
            }
            CryptoError::RandomUnavailable => f.write_str("OS random source unavailable"),
        }
    }
}

impl std::error::Error for CryptoError {}
