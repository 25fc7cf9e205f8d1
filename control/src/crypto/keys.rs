//! IKEv2 key derivation: SKEYSEED and the IKE SA keys (RFC 7296 §2.14), the rekeyed
//! SKEYSEED (§2.18) and Child SA KEYMAT (§2.17).

use core::fmt;

use super::dh::SharedSecret;
use super::errors::PrfError;
use super::integ::IntegAlg;
use super::prf::PrfAlg;
use super::secret::SecretBytes;
use super::sk::EncrAlg;

/// Bytes of each nonce that key SKEYSEED when the PRF takes a fixed-size key
/// (AES-XCBC-PRF-128, AES-CMAC-PRF-128): the first 64 bits (RFC 7296 §2.14).
pub const FIXED_KEY_NONCE_PREFIX: usize = 8;

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). For a PRF with a fixed key size only the
/// first 64 bits of each nonce form the key (same section: "for historical
/// backward-compatibility reasons"); `ni` and `nr` are the nonce data without headers.
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], g_ir: &SharedSecret) -> SecretBytes {
    let (ni, nr) = if prf.has_fixed_key() {
        (prefix(ni, FIXED_KEY_NONCE_PREFIX), prefix(nr, FIXED_KEY_NONCE_PREFIX))
    } else {
        (ni, nr)
    };
    let mut key = zeroize::Zeroizing::new(Vec::with_capacity(ni.len() + nr.len()));
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    prf.prf(&key, g_ir.as_bytes())
}

fn prefix(b: &[u8], n: usize) -> &[u8] {
    &b[..b.len().min(n)]
}

/// SKEYSEED of a rekeyed IKE SA: prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296 §2.18).
/// `prf` is the OLD IKE SA's PRF ("the rekeying exchange belongs to the old IKE SA"); the new
/// SA's keys then come from [`IkeSaKeys::derive`] with the NEW SA's PRF, nonces and SPIs.
pub fn rekey_skeyseed(
    prf: PrfAlg,
    old_sk_d: &SecretBytes,
    g_ir_new: &SharedSecret,
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    prf.prf_parts(old_sk_d.as_bytes(), &[g_ir_new.as_bytes(), ni, nr])
}

/// The lengths of the keys taken from prf+ for an IKE SA: SK_d, SK_pi and SK_pr are the
/// PRF's preferred key length (RFC 7296 §2.14), SK_a* the integrity key (0 for AEAD), SK_e*
/// the cipher key plus any salt (RFC 5282 §7.1, RFC 7634 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeKeyLengths {
    /// Length of SK_d, SK_pi, SK_pr.
    pub prf: usize,
    /// Length of SK_ai and SK_ar.
    pub integ: usize,
    /// Length of SK_ei and SK_er.
    pub encr: usize,
}

impl IkeKeyLengths {
    /// The lengths for a negotiated IKE SA proposal.
    pub fn for_transforms(prf: PrfAlg, encr: EncrAlg, integ: Option<IntegAlg>) -> Self {
        IkeKeyLengths {
            prf: prf.key_len(),
            integ: integ.map_or(0, IntegAlg::key_len),
            encr: encr.key_len(),
        }
    }

    /// Total prf+ output: 3 PRF keys, 2 integrity keys, 2 encryption keys.
    pub fn total(&self) -> usize {
        // Saturating: absurd lengths then fail prf+'s 255-block limit instead of wrapping.
        self.prf
            .saturating_mul(3)
            .saturating_add(self.integ.saturating_mul(2))
            .saturating_add(self.encr.saturating_mul(2))
    }
}

/// The seven IKE SA keys, zeroized on drop.
pub struct IkeSaKeys {
    /// Key for Child SA (and rekeyed IKE SA) derivation.
    pub sk_d: SecretBytes,
    /// Integrity key, initiator to responder.
    pub sk_ai: SecretBytes,
    /// Integrity key, responder to initiator.
    pub sk_ar: SecretBytes,
    /// Encryption key (with salt for AEAD), initiator to responder.
    pub sk_ei: SecretBytes,
    /// Encryption key (with salt for AEAD), responder to initiator.
    pub sk_er: SecretBytes,
    /// Initiator's AUTH payload key (RFC 7296 §2.15).
    pub sk_pi: SecretBytes,
    /// Responder's AUTH payload key.
    pub sk_pr: SecretBytes,
}

impl IkeSaKeys {
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    ///   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)  (RFC 7296 §2.14), all bits of the nonces.
    pub fn derive(
        prf: PrfAlg,
        skeyseed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
        lengths: IkeKeyLengths,
    ) -> Result<Self, PrfError> {
        let km =
            prf.prf_plus_parts(skeyseed.as_bytes(), &[ni, nr, spi_i, spi_r], lengths.total())?;
        let mut rest = km.as_bytes();
        let mut take = |n: usize| {
            let (k, r) = rest.split_at(n);
            rest = r;
            SecretBytes::from_slice(k)
        };
        Ok(IkeSaKeys {
            sk_d: take(lengths.prf),
            sk_ai: take(lengths.integ),
            sk_ar: take(lengths.integ),
            sk_ei: take(lengths.encr),
            sk_er: take(lengths.encr),
            sk_pi: take(lengths.prf),
            sk_pr: take(lengths.prf),
        })
    }
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IkeSaKeys(<redacted>)")
    }
}

/// KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr) (RFC 7296 §2.17), `len` bytes. The nonces are
/// those of IKE_SA_INIT for the first Child SA, else of the CREATE_CHILD_SA exchange;
/// `g_ir_new` is present when that exchange ran its own Diffie-Hellman (PFS).
pub fn child_keymat(
    prf: PrfAlg,
    sk_d: &SecretBytes,
    g_ir_new: Option<&SharedSecret>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<SecretBytes, PrfError> {
    match g_ir_new {
        Some(g) => prf.prf_plus_parts(sk_d.as_bytes(), &[g.as_bytes(), ni, nr], len),
        None => prf.prf_plus_parts(sk_d.as_bytes(), &[ni, nr], len),
    }
}

/// One direction's Child SA keys.
#[derive(Debug)]
pub struct DirectionKeys {
    /// Encryption key (with salt/nonce for AEAD and CTR suites).
    pub encr: SecretBytes,
    /// Integrity key (empty for AEAD suites).
    pub integ: SecretBytes,
}

/// The keys of an ESP/AH Child SA pair.
#[derive(Debug)]
pub struct ChildSaKeys {
    /// Keys of the SA carrying initiator-to-responder traffic.
    pub initiator_to_responder: DirectionKeys,
    /// Keys of the SA carrying responder-to-initiator traffic.
    pub responder_to_initiator: DirectionKeys,
}

impl ChildSaKeys {
    /// Splits [`child_keymat`] for one ESP or AH Child SA (RFC 7296 §2.17): the
    /// initiator-to-responder SA's keys come first, and within each SA the encryption key
    /// precedes the integrity key (RFC 4301 §5.2 via RFC 7296 §2.17). `encr_len` includes any
    /// salt; 0 for AH. `integ_len` is 0 for AEAD suites.
    pub fn derive(
        prf: PrfAlg,
        sk_d: &SecretBytes,
        g_ir_new: Option<&SharedSecret>,
        ni: &[u8],
        nr: &[u8],
        encr_len: usize,
        integ_len: usize,
    ) -> Result<Self, PrfError> {
        let one = encr_len.saturating_add(integ_len);
        let km = child_keymat(prf, sk_d, g_ir_new, ni, nr, one.saturating_mul(2))?;
        let (i2r, r2i) = km.as_bytes().split_at(one);
        let dir = |b: &[u8]| {
            let (e, a) = b.split_at(encr_len);
            DirectionKeys { encr: SecretBytes::from_slice(e), integ: SecretBytes::from_slice(a) }
        };
        Ok(ChildSaKeys { initiator_to_responder: dir(i2r), responder_to_initiator: dir(r2i) })
    }
}
