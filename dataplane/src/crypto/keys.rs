//! Key material of one SA direction, as IKE hands it over.

use core::fmt;

use zeroize::Zeroizing;

/// Key material of one SA (one direction). `enc` includes the 4-byte salt where the
/// transform has one (RFC 4106 §8.1, RFC 3686 §5.1, RFC 4543 §5, RFC 7634 §2: KEYMAT is
/// key || salt). Zeroized on drop; `Debug` shows lengths only.
///
/// Lives on the SA-install path only: the per-packet path uses the [`super::SaCipher`] built
/// from it.
#[derive(Clone)]
pub struct SaKeys {
    enc: Zeroizing<Vec<u8>>,
    auth: Zeroizing<Vec<u8>>,
}

impl SaKeys {
    pub fn new(enc: &[u8], auth: &[u8]) -> Self {
        SaKeys { enc: Zeroizing::new(enc.to_vec()), auth: Zeroizing::new(auth.to_vec()) }
    }

    /// Encryption key followed by the salt, if any.
    pub fn enc(&self) -> &[u8] {
        &self.enc
    }

    /// Integrity (HMAC) key; empty for combined-mode transforms.
    pub fn auth(&self) -> &[u8] {
        &self.auth
    }
}

impl fmt::Debug for SaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaKeys")
            .field("enc", &format_args!("<{} bytes redacted>", self.enc.len()))
            .field("auth", &format_args!("<{} bytes redacted>", self.auth.len()))
            .finish()
    }
}
