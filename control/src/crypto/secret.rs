//! A byte string holding key material: zeroized on drop, redacted in Debug.

use core::fmt;

use zeroize::Zeroizing;

/// Key material (SKEYSEED, SK_*, KEYMAT slices, prf output). No `PartialEq`: comparing keys
/// with `==` would not be constant-time; tests compare [`SecretBytes::as_bytes`].
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Copies `bytes` into a new zeroizing buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(Zeroizing::new(bytes.to_vec()))
    }

    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(v))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a zero-length key (the integrity key of an AEAD suite).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}
