//! The per-SA crypto context, built once at SA install.

use core::fmt;

use zeroize::Zeroizing;

use super::ivgen::{CbcIvGen, IV_KEY_LEN};
use super::rustcrypto::RustSa;
use super::{Cipher, CryptoError, EngineKind, SaKeys, Transform};

/// Per-SA crypto context: key schedules, GHASH tables, HMAC inner/outer states and, for CBC,
/// the IV generator. Built once when the SA is installed; `Send + Sync`, shared read-only by
/// all workers. Key material inside zeroizes on drop; `Debug` shows no key.
///
/// Small on purpose (`repr(C)`, the engine half first): it sits in the hot lines of a
/// runtime SA, and the key data (hundreds of bytes) lies one pointer away, where
/// [`SaCipher::prefetch`] starts loading it once those lines have arrived. With the key data
/// inline, a table of 100,000 SAs spread every SA's per-packet fields over seven lines.
#[repr(C)]
pub struct SaCipher {
    imp: EngineSa,
    transform: Transform,
    engine: EngineKind,
    iv_gen: Option<Box<CbcIvGen>>,
}

/// The engine-specific half.
pub(crate) enum EngineSa {
    Rust(Box<RustSa>),
    #[cfg(feature = "ipsec-mb")]
    Mb(super::ipsecmb::MbSa),
}

impl SaCipher {
    /// Starts loading the key data a seal (`open` false) or an open of a packet of about
    /// `len` bytes reads.
    #[inline]
    pub fn prefetch(&self, open: bool, len: usize) {
        match &self.imp {
            EngineSa::Rust(r) => crate::prefetch::lines(&**r, 4),
            #[cfg(feature = "ipsec-mb")]
            EngineSa::Mb(m) => m.prefetch(open, len),
        }
        if let Some(g) = &self.iv_gen {
            crate::prefetch::lines(&**g, 3);
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
            EngineKind::RustCrypto => EngineSa::Rust(Box::new(RustSa::new(transform, keys)?)),
            #[cfg(feature = "ipsec-mb")]
            EngineKind::IpsecMb => EngineSa::Mb(
                super::ipsecmb::MbSa::new(transform, keys)
                    .ok_or(CryptoError::Unsupported { transform, engine })?,
            ),
            #[cfg(not(feature = "ipsec-mb"))]
            EngineKind::IpsecMb => return Err(CryptoError::EngineUnavailable(engine)),
        };
        let iv_gen = matches!(transform.cipher(), Cipher::AesCbc(_))
            .then(|| Box::new(CbcIvGen::new(iv_key)));
        Ok(SaCipher { transform, engine, iv_gen, imp })
    }

    pub fn transform(&self) -> Transform {
        self.transform
    }

    pub fn engine(&self) -> EngineKind {
        self.engine
    }

    pub(crate) fn iv_gen(&self) -> Option<&CbcIvGen> {
        self.iv_gen.as_deref()
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
