//! Which implementation runs an SA's crypto.

/// A crypto engine. Every SA names one; a burst may mix SAs of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// RustCrypto crates: always built, every transform; AES-NI/VAES picked at run time by
    /// the `aes` crate.
    RustCrypto,
    /// intel-ipsec-mb (cargo feature `ipsec-mb`): multi-buffer AES-CBC + HMAC, AES-GCM/GMAC,
    /// AES-CTR; picks its SSE/AVX2/AVX-512 code path at run time.
    IpsecMb,
}

impl EngineKind {
    /// Every engine kind, best first.
    pub const ALL: [EngineKind; 2] = [EngineKind::IpsecMb, EngineKind::RustCrypto];

    /// Whether this engine was built in and can run on this CPU.
    pub fn available(self) -> bool {
        match self {
            EngineKind::RustCrypto => true,
            #[cfg(feature = "ipsec-mb")]
            EngineKind::IpsecMb => super::ipsecmb::available(),
            #[cfg(not(feature = "ipsec-mb"))]
            EngineKind::IpsecMb => false,
        }
    }

    /// The engine this build and CPU run fastest in general (ipsec-mb where available).
    pub fn best_available() -> EngineKind {
        Self::ALL.into_iter().find(|e| e.available()).unwrap_or(EngineKind::RustCrypto)
    }

    /// The faster engine for one transform on this CPU.
    ///
    /// ipsec-mb wins for AES-GCM/GMAC, AES-CTR and ChaCha20-Poly1305 at every packet size.
    /// For HMAC-SHA1 and HMAC-SHA-256 transforms on a CPU with the SHA extensions, the
    /// RustCrypto engine wins: ipsec-mb 1.3's AVX2 path hashes with multi-buffer SIMD SHA
    /// and ignores SHA-NI, and on a 2-vCPU EPYC with SHA-NI but no VAES, AES-128-CBC +
    /// HMAC-SHA-256 measured 3.4 µs (RustCrypto) against 3.9 µs (ipsec-mb) to seal 1420 B
    /// and 1.9 µs against 3.9 µs to open (`cargo bench -p dataplane --bench esp`).
    /// SHA-384/512 have no SHA-NI instructions, so they stay on ipsec-mb.
    pub fn best_for(transform: super::Transform) -> EngineKind {
        use super::Integ;
        let sha_ni_hmac = matches!(transform.integ(), Integ::HmacSha1_96 | Integ::HmacSha256_128)
            && cpu_has_sha_ni();
        if sha_ni_hmac { EngineKind::RustCrypto } else { Self::best_available() }
    }

    /// The code path this engine runs on this CPU, for logs and operator output: the `aes`
    /// crate's runtime choice for RustCrypto, the `IMB_ARCH` (and VAES use) for ipsec-mb;
    /// "unavailable" if the engine cannot run here.
    pub fn code_path(self) -> &'static str {
        match self {
            EngineKind::RustCrypto => rustcrypto_code_path(),
            #[cfg(feature = "ipsec-mb")]
            EngineKind::IpsecMb => match super::ipsecmb::arch() {
                Some((5, true)) => "avx512+vaes",
                Some((5, false)) => "avx512",
                Some((4, true)) => "avx2+vaes",
                Some((4, false)) => "avx2",
                Some((3, _)) => "avx",
                Some((2, _)) => "sse",
                Some(_) => "other",
                None => "unavailable",
            },
            #[cfg(not(feature = "ipsec-mb"))]
            EngineKind::IpsecMb => "unavailable",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::RustCrypto => "rustcrypto",
            EngineKind::IpsecMb => "ipsec-mb",
        }
    }
}

/// Mirrors the `aes` crate's run-time backend choice (AES-NI, VAES-256, VAES-512 or its
/// constant-time software fallback).
fn rustcrypto_code_path() -> &'static str {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        if std::arch::is_x86_feature_detected!("vaes") {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return "vaes-512";
            }
            return "vaes-256";
        }
        if std::arch::is_x86_feature_detected!("aes") {
            return "aes-ni";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("aes") {
            return "armv8-aes";
        }
    }
    "soft"
}

fn cpu_has_sha_ni() -> bool {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        std::arch::is_x86_feature_detected!("sha")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
    {
        false
    }
}
