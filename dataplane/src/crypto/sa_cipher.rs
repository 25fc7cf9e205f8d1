//! The per-SA crypto context, built once at SA install.

use core::fmt;

use zeroize::Zeroizing;

use super::ivgen::{CbcIvGen, IV_KEY_LEN};
use super::rustcrypto::RustSa;
use super::{Cipher, CryptoError, EngineKind, SaKeys, Transform};

/// Per-SA crypto context: key schedules, GHASH tables, HMAC inner/outer states and, for CBC,
/// the IV generator. Built once when the SA is installed; `Send + Sync`, shared read-only by
/// all workers. Key material inside zeroizes on drop; `Debug` shows no key.
pub struct SaCipher {
    transform: Transform,
    engine: EngineKind,
    iv_gen: Option<CbcIvGen>,
    imp: EngineSa,
}

/// The engine-specific half.
#[allow(
    clippy::large_enum_variant,
    reason = "built once per SA and read on every packet: inline keeps it one pointer away"
)]
pub(crate) enum EngineSa {
    Rust(RustSa),
    #[cfg(feature = "ipsec-mb")]
    Mb(super::ipsecmb::MbSa),
}

impl SaCipher {
    /// Starts loading the key data a seal or open of this SA reads first.
    #[inline]
    pub fn prefetch(&self) {
        match &self.imp {
            EngineSa::Rust(r) => crate::prefetch::lines(r, 4),
            #[cfg(feature = "ipsec-mb")]
            EngineSa::Mb(m) => m.prefetch(),
        }
    }

    /// Builds the context for `transform` on `engine`. A CBC SA draws its IV key from the OS
    /// random source here, once.
    pub fn new(
        engine: EngineKind,
        transform: Transform,
        keys: &SaKeys,
    ) -> Result<Self, CryptoError> {
        let mut iv_key = Zeroizing::new([0u8; IV_KEY_LEN]);
        if matches!(transform.cipher(), Cipher::AesCbc(_)) {
            getrandom::fill(iv_key.as_mut_slice()).map_err(|_| CryptoError::RandomUnavailable)?;
        }
        Self::with_iv_key(engine, transform, keys, &iv_key)
    }

    /// Like [`SaCipher::new`] on the best available engine that supports `transform`.
    pub fn new_best(transform: Transform, keys: &SaKeys) -> Result<Self, CryptoError> {
        let mut last = CryptoError::EngineUnavailable(EngineKind::RustCrypto);
        for engine in EngineKind::ALL {
            if !engine.available() {
                continue;
            }
            match Self::new(engine, transform, keys) {
                Err(e @ CryptoError::Unsupported { .. }) => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    /// Like [`SaCipher::new`] with a caller-chosen CBC IV key, so that tests can compare
    /// engines byte for byte. Production code uses [`SaCipher::new`]: a predictable IV key
    /// makes CBC IVs predictable (RFC 3602 §3).
    pub fn with_iv_key(
        engine: EngineKind,
        transform: Transform,
        keys: &SaKeys,
        iv_key: &[u8; IV_KEY_LEN],
    ) -> Result<Self, CryptoError> {
        let expected = transform.enc_key_len();
        if keys.enc().len() != expected {
            return Err(CryptoError::KeyLength { expected, got: keys.enc().len() });
        }
        let expected = transform.auth_key_len();
        if keys.auth().len() != expected {
            return Err(CryptoError::AuthKeyLength { expected, got: keys.auth().len() });
        }
        if !engine.available() {
            return Err(CryptoError::EngineUnavailable(engine));
        }
        let imp = match engine {
            EngineKind::RustCrypto => EngineSa::Rust(RustSa::new(transform, keys)?),
            #[cfg(feature = "ipsec-mb")]
            EngineKind::IpsecMb => EngineSa::Mb(
                super::ipsecmb::MbSa::new(transform, keys)
                    .ok_or(CryptoError::Unsupported { transform, engine })?,
            ),
            #[cfg(not(feature = "ipsec-mb"))]
            EngineKind::IpsecMb => return Err(CryptoError::EngineUnavailable(engine)),
        };
        let iv_gen = matches!(transform.cipher(), Cipher::AesCbc(_)).then(|| CbcIvGen::new(iv_key));
        Ok(SaCipher { transform, engine, iv_gen, imp })
    }

    pub fn transform(&self) -> Transform {
        self.transform
    }

    pub fn engine(&self) -> EngineKind {
        self.engine
    }

    pub(crate) fn iv_gen(&self) -> Option<&CbcIvGen> {
        self.iv_gen.as_ref()
    }

    pub(crate) fn imp(&self) -> &EngineSa {
        &self.imp
    }
}

impl fmt::Debug for SaCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaCipher")
            .field("transform", &self.transform)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}
