//! IKEv1 key derivation (RFC 2409 sections 5, 5.5 and appendix B; NIST SP 800-135 section 4.1).
//!
//! The phase-1 hash algorithm fixes everything: the PRF is its HMAC (RFC 2409 section 4: "if
//! no PRF is negotiated, the HMAC version of the negotiated hash algorithm is used"), the IVs
//! are plain digests of it.
//!
//! ```text
//! SKEYID   = prf(pre-shared-key, Ni_b | Nr_b)          (PSK)
//!          = prf(Ni_b | Nr_b, g^xy)                    (signatures)
//! SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//! SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//! SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//! Ka       = SKEYID_e, or K1 | K2 | ... with K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1)
//! KEYMAT   = K1 | K2 | ... with K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
//!            Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//! ```
//!
//! Everything secret is a [`SecretBytes`] (zeroized on drop, redacted in `Debug`); the hashes
//! that travel in HASH payloads are plain `Vec<u8>` and are compared with [`verify_hash`].

use core::fmt;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{DirectionKeys, PrfAlg, SecretBytes};

/// The phase-1 hash algorithms (RFC 2409 appendix A "Hash Algorithm" class, RFC 4868 and the
/// IANA registry for the SHA-2 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// MD5, attribute value 1. Legacy peers only.
    Md5,
    /// SHA-1, attribute value 2.
    Sha1,
    /// SHA2-256, attribute value 4.
    Sha256,
    /// SHA2-384, attribute value 5.
    Sha384,
    /// SHA2-512, attribute value 6.
    Sha512,
}

impl HashAlg {
    /// Every hash this module implements.
    pub const ALL: [HashAlg; 5] =
        [HashAlg::Md5, HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    /// The hash for a phase-1 HASH attribute value (class 2); `None` for Tiger (3) and
    /// unknown values.
    pub const fn from_p1attr(value: u16) -> Option<Self> {
        match value {
            1 => Some(HashAlg::Md5),
            2 => Some(HashAlg::Sha1),
            4 => Some(HashAlg::Sha256),
            5 => Some(HashAlg::Sha384),
            6 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// The phase-1 HASH attribute value.
    pub const fn p1attr(self) -> u16 {
        match self {
            HashAlg::Md5 => 1,
            HashAlg::Sha1 => 2,
            HashAlg::Sha256 => 4,
            HashAlg::Sha384 => 5,
            HashAlg::Sha512 => 6,
        }
    }

    /// The PRF: the HMAC of this hash (RFC 2409 section 4). For the SHA-2 hashes it is the
    /// untruncated HMAC, as every IKEv1 implementation and the NIST KDF tests use it.
    pub const fn prf(self) -> PrfAlg {
        match self {
            HashAlg::Md5 => PrfAlg::HmacMd5,
            HashAlg::Sha1 => PrfAlg::HmacSha1,
            HashAlg::Sha256 => PrfAlg::HmacSha256,
            HashAlg::Sha384 => PrfAlg::HmacSha384,
            HashAlg::Sha512 => PrfAlg::HmacSha512,
        }
    }

    /// Digest length in bytes (also the PRF output length).
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// hash(parts[0] | parts[1] | ...).
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            HashAlg::Md5 => run::<Md5>(parts),
            HashAlg::Sha1 => run::<Sha1>(parts),
            HashAlg::Sha256 => run::<Sha256>(parts),
            HashAlg::Sha384 => run::<Sha384>(parts),
            HashAlg::Sha512 => run::<Sha512>(parts),
        }
    }

    /// Lower-case name for logs ("sha256").
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Md5 => "md5",
            HashAlg::Sha1 => "sha",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SKEYID for pre-shared key authentication: prf(pre-shared-key, Ni_b | Nr_b) (RFC 2409
/// section 5). `ni`/`nr` are the nonce payload bodies.
pub fn skeyid_psk(h: HashAlg, psk: &[u8], ni: &[u8], nr: &[u8]) -> SecretBytes {
    h.prf().prf_parts(psk, &[ni, nr])
}

/// SKEYID for signature authentication: prf(Ni_b | Nr_b, g^xy) (RFC 2409 section 5).
pub fn skeyid_sig(h: HashAlg, ni: &[u8], nr: &[u8], g_xy: &[u8]) -> SecretBytes {
    let mut key = Zeroizing::new(Vec::with_capacity(ni.len() + nr.len()));
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    h.prf().prf(&key, g_xy)
}

/// The keys of an ISAKMP SA: SKEYID and its three children, and the phase-1 cipher key.
pub struct Phase1Keys {
    hash: HashAlg,
    skeyid: SecretBytes,
    skeyid_d: SecretBytes,
    skeyid_a: SecretBytes,
    skeyid_e: SecretBytes,
    enc_key: SecretBytes,
}

impl Phase1Keys {
    /// Derives SKEYID_d, SKEYID_a, SKEYID_e from `skeyid` ([`skeyid_psk`] or [`skeyid_sig`])
    /// and the phase-1 DH secret (RFC 2409 section 5), and the encryption key Ka of
    /// `enc_key_len` bytes (RFC 2409 appendix B). Cookies are the ISAKMP header's, as
    /// big-endian integers.
    pub fn derive(
        h: HashAlg,
        skeyid: SecretBytes,
        g_xy: &[u8],
        cky_i: u64,
        cky_r: u64,
        enc_key_len: usize,
    ) -> Phase1Keys {
        let prf = h.prf();
        let (ci, cr) = (cky_i.to_be_bytes(), cky_r.to_be_bytes());
        let k = skeyid.as_bytes();
        let skeyid_d = prf.prf_parts(k, &[g_xy, &ci, &cr, &[0]]);
        let skeyid_a = prf.prf_parts(k, &[skeyid_d.as_bytes(), g_xy, &ci, &cr, &[1]]);
        let skeyid_e = prf.prf_parts(k, &[skeyid_a.as_bytes(), g_xy, &ci, &cr, &[2]]);
        let enc_key = expand_ka(h, &skeyid_e, enc_key_len);
        Phase1Keys { hash: h, skeyid, skeyid_d, skeyid_a, skeyid_e, enc_key }
    }

    /// The keys of an established ISAKMP SA taken over from another unit (stateful
    /// failover): SKEYID_d, SKEYID_a and SKEYID_e as replicated, Ka expanded again from
    /// SKEYID_e. SKEYID itself keys only phase 1's HASH_I / HASH_R, which an established SA
    /// never computes again: it is not replicated and stays empty.
    pub fn from_replicated(
        h: HashAlg,
        skeyid_d: SecretBytes,
        skeyid_a: SecretBytes,
        skeyid_e: SecretBytes,
        enc_key_len: usize,
    ) -> Phase1Keys {
        let enc_key = expand_ka(h, &skeyid_e, enc_key_len);
        Phase1Keys {
            hash: h,
            skeyid: SecretBytes::from_slice(&[]),
            skeyid_d,
            skeyid_a,
            skeyid_e,
            enc_key,
        }
    }

    /// The negotiated hash (and so the PRF).
    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// SKEYID: keys HASH_I / HASH_R.
    pub fn skeyid(&self) -> &SecretBytes {
        &self.skeyid
    }

    /// SKEYID_d: keys the phase-2 KEYMAT.
    pub fn skeyid_d(&self) -> &SecretBytes {
        &self.skeyid_d
    }

    /// SKEYID_a: keys the phase-2 and informational HASH payloads.
    pub fn skeyid_a(&self) -> &SecretBytes {
        &self.skeyid_a
    }

    /// SKEYID_e: the source of the encryption key.
    pub fn skeyid_e(&self) -> &SecretBytes {
        &self.skeyid_e
    }

    /// Ka, the phase-1 cipher key (appendix B).
    pub fn enc_key(&self) -> &SecretBytes {
        &self.enc_key
    }
}

impl fmt::Debug for Phase1Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phase1Keys({}, <redacted>)", self.hash)
    }
}

/// Ka from SKEYID_e (RFC 2409 appendix B): its first `len` bytes when it is long enough,
/// else the first `len` bytes of K1 | K2 | ... with K1 = prf(SKEYID_e, 0) (one zero octet)
/// and Kn = prf(SKEYID_e, Kn-1). The fed-back blocks chain without a counter, so there is
/// no length limit.
pub fn expand_ka(h: HashAlg, skeyid_e: &SecretBytes, len: usize) -> SecretBytes {
    let e = skeyid_e.as_bytes();
    if e.len() >= len {
        return SecretBytes::from_slice(&e[..len]);
    }
    let prf = h.prf();
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut k = prf.prf(e, &[0]);
    loop {
        let take = k.len().min(len - out.len());
        out.extend_from_slice(&k.as_bytes()[..take]);
        if out.len() >= len || k.is_empty() {
            break;
        }
        k = prf.prf(e, k.as_bytes());
    }
    SecretBytes::from_slice(&out)
}

/// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (RFC 2409 section 5).
/// `sai_b` is the body of the initiator's SA payload (from the DOI field on), `idii_b` the
/// body of the initiator's ID payload (from the ID type on).
pub fn hash_i(
    keys: &Phase1Keys,
    g_xi: &[u8],
    g_xr: &[u8],
    cky_i: u64,
    cky_r: u64,
    sai_b: &[u8],
    idii_b: &[u8],
) -> Vec<u8> {
    let (ci, cr) = (cky_i.to_be_bytes(), cky_r.to_be_bytes());
    prf_out(keys.hash, &keys.skeyid, &[g_xi, g_xr, &ci, &cr, sai_b, idii_b])
}

/// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b). SAi_b is still the
/// INITIATOR's SA body: the responder hashes the offer it received, not its answer.
pub fn hash_r(
    keys: &Phase1Keys,
    g_xi: &[u8],
    g_xr: &[u8],
    cky_i: u64,
    cky_r: u64,
    sai_b: &[u8],
    idir_b: &[u8],
) -> Vec<u8> {
    let (ci, cr) = (cky_i.to_be_bytes(), cky_r.to_be_bytes());
    prf_out(keys.hash, &keys.skeyid, &[g_xr, g_xi, &cr, &ci, sai_b, idir_b])
}

/// Quick Mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [| KE] [| IDci | IDcr]) (RFC 2409 section
/// 5.5): `rest` is the message from the payload after HASH(1) to its end, headers included.
pub fn qm_hash1(keys: &Phase1Keys, mid: u32, rest: &[u8]) -> Vec<u8> {
    prf_out(keys.hash, &keys.skeyid_a, &[&mid.to_be_bytes(), rest])
}

/// Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [| KE] [| IDci | IDcr]): `ni_b`
/// is the initiator's nonce body, `rest` the responder's message after HASH(2).
pub fn qm_hash2(keys: &Phase1Keys, mid: u32, ni_b: &[u8], rest: &[u8]) -> Vec<u8> {
    prf_out(keys.hash, &keys.skeyid_a, &[&mid.to_be_bytes(), ni_b, rest])
}

/// Quick Mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b), the leading 0 a single octet.
pub fn qm_hash3(keys: &Phase1Keys, mid: u32, ni_b: &[u8], nr_b: &[u8]) -> Vec<u8> {
    prf_out(keys.hash, &keys.skeyid_a, &[&[0], &mid.to_be_bytes(), ni_b, nr_b])
}

/// HASH(1) of an Informational exchange = prf(SKEYID_a, M-ID | N/D) (RFC 2409 section 5.7):
/// `rest` is the Notification or Delete payload (header included).
pub fn info_hash(keys: &Phase1Keys, mid: u32, rest: &[u8]) -> Vec<u8> {
    prf_out(keys.hash, &keys.skeyid_a, &[&mid.to_be_bytes(), rest])
}

/// Compares a received HASH (or HASH_I / HASH_R) with the expected one in constant time.
pub fn verify_hash(expected: &[u8], received: &[u8]) -> bool {
    expected.len() == received.len() && bool::from(expected.ct_eq(received))
}

fn prf_out(h: HashAlg, key: &SecretBytes, parts: &[&[u8]]) -> Vec<u8> {
    h.prf().prf_parts(key.as_bytes(), parts).as_bytes().to_vec()
}

/// Quick Mode KEYMAT of `len` bytes for one SA (RFC 2409 section 5.5): K1 = prf(SKEYID_d,
/// [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b), Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol
/// | SPI | Ni_b | Nr_b). `g_qm` is the Quick Mode DH secret when PFS ran; `spi` the SPI of the
/// SA the keys protect, which its RECEIVER chose; the nonces always initiator first.
pub fn keymat(
    keys: &Phase1Keys,
    g_qm: Option<&[u8]>,
    protocol: u8,
    spi: u32,
    ni_b: &[u8],
    nr_b: &[u8],
    len: usize,
) -> SecretBytes {
    let prf = keys.hash.prf();
    let d = keys.skeyid_d.as_bytes();
    let spi = spi.to_be_bytes();
    let g = g_qm.unwrap_or(&[]);
    let seed: [&[u8]; 5] = [g, &[protocol], &spi, ni_b, nr_b];
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut k = prf.prf_parts(d, &seed);
    loop {
        let take = k.len().min(len - out.len());
        out.extend_from_slice(&k.as_bytes()[..take]);
        if out.len() >= len || k.is_empty() {
            break;
        }
        let prev = k;
        k = prf.prf_parts(d, &[prev.as_bytes(), g, &[protocol], &spi, ni_b, nr_b]);
    }
    SecretBytes::from_slice(&out)
}

/// Bytes of KEYMAT one ESP SA takes: the encryption key (with the 4-byte salt of AES-GCM,
/// AES-CTR and GMAC, RFC 4106 section 8.1 / RFC 3686 section 5.1: KEYMAT carries it after the
/// key) and the integrity key (0 for combined-mode ciphers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspKeyLengths {
    /// Encryption key plus salt.
    pub encr: usize,
    /// Integrity key.
    pub integ: usize,
}

impl EspKeyLengths {
    /// The lengths the dataplane transform needs.
    pub const fn of(t: &dataplane::crypto::Transform) -> Self {
        EspKeyLengths { encr: t.enc_key_len(), integ: t.auth_key_len() }
    }
}

/// The keys of the two SAs one Quick Mode creates.
#[derive(Debug)]
pub struct QuickModeKeys {
    /// Keys of the SA we receive on: KEYMAT with OUR SPI.
    pub inbound: DirectionKeys,
    /// Keys of the SA we send on: KEYMAT with the PEER's SPI.
    pub outbound: DirectionKeys,
}

/// Splits the KEYMAT of both SAs of a Quick Mode: each SA has its own KEYMAT keyed by its
/// receiver's SPI (RFC 2409 section 5.5), the encryption key first and the integrity key after
/// it (RFC 2407 / RFC 4301 5.2 key ordering, the layout the dataplane's `SaKeys` takes).
/// `nonces` is (Ni_b, Nr_b) and `spis` is (our SPI, the peer's SPI), whichever side
/// initiated.
pub fn child_keys(
    keys: &Phase1Keys,
    g_qm: Option<&[u8]>,
    protocol: u8,
    (ni_b, nr_b): (&[u8], &[u8]),
    (our_spi, peer_spi): (u32, u32),
    lens: EspKeyLengths,
) -> QuickModeKeys {
    let total = lens.encr.saturating_add(lens.integ);
    let dir = |spi: u32| {
        let km = keymat(keys, g_qm, protocol, spi, ni_b, nr_b, total);
        let (e, a) = km.as_bytes().split_at(lens.encr.min(km.len()));
        DirectionKeys { encr: SecretBytes::from_slice(e), integ: SecretBytes::from_slice(a) }
    };
    QuickModeKeys { inbound: dir(our_spi), outbound: dir(peer_spi) }
}

/// The first phase-1 IV: hash(g^xi | g^xr) cut to the cipher's block size (RFC 2409
/// appendix B). Never longer than the digest.
pub fn phase1_iv(h: HashAlg, g_xi: &[u8], g_xr: &[u8], block_len: usize) -> Vec<u8> {
    let mut d = h.digest(&[g_xi, g_xr]);
    d.truncate(block_len);
    d
}

/// The first IV of a phase-2 (Quick Mode or Informational) exchange: hash(last phase-1 CBC
/// output block | M-ID) cut to the block size (RFC 2409 appendix B). `last_phase1_block` is
/// the IV the phase-1 chain ended with.
pub fn phase2_iv(h: HashAlg, last_phase1_block: &[u8], mid: u32, block_len: usize) -> Vec<u8> {
    let mut d = h.digest(&[last_phase1_block, &mid.to_be_bytes()]);
    d.truncate(block_len);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_attribute_values_round_trip() {
        for h in HashAlg::ALL {
            assert_eq!(HashAlg::from_p1attr(h.p1attr()), Some(h));
            assert_eq!(h.prf().output_len(), h.output_len());
            assert_eq!(h.digest(&[b"abc"]).len(), h.output_len());
        }
        assert_eq!(HashAlg::from_p1attr(3), None, "Tiger");
        assert_eq!(HashAlg::from_p1attr(0), None);
    }

    #[test]
    fn digests_match_the_fips_abc_vectors() {
        // FIPS 180-2 appendix B.1 / RFC 1321 A.5, split across parts.
        assert_eq!(
            HashAlg::Sha1.digest(&[b"a", b"bc"]),
            hex_literal::hex!("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            HashAlg::Md5.digest(&[b"abc"]),
            hex_literal::hex!("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            HashAlg::Sha256.digest(&[b"ab", b"c"]),
            hex_literal::hex!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn ka_is_a_prefix_when_skeyid_e_is_long_enough() {
        let e = SecretBytes::from_slice(&[7u8; 32]);
        assert_eq!(expand_ka(HashAlg::Sha256, &e, 16).as_bytes(), &[7u8; 16]);
        assert_eq!(expand_ka(HashAlg::Sha256, &e, 32).as_bytes(), &[7u8; 32]);
        assert!(expand_ka(HashAlg::Sha256, &e, 0).is_empty());
        // SHA-1 SKEYID_e (20 bytes) is too short for AES-256: the feedback expansion.
        let e = SecretBytes::from_slice(&[9u8; 20]);
        let ka = expand_ka(HashAlg::Sha1, &e, 32);
        let k1 = HashAlg::Sha1.prf().prf(&[9u8; 20], &[0]);
        let k2 = HashAlg::Sha1.prf().prf(&[9u8; 20], k1.as_bytes());
        assert_eq!(&ka.as_bytes()[..20], k1.as_bytes());
        assert_eq!(&ka.as_bytes()[20..], &k2.as_bytes()[..12]);
    }

    #[test]
    fn hash_r_swaps_the_dh_values_and_cookies_but_not_sai() {
        let skeyid = skeyid_psk(HashAlg::Sha1, b"secret", b"ni", b"nr");
        let keys = Phase1Keys::derive(HashAlg::Sha1, skeyid, b"gxy", 1, 2, 16);
        let i = hash_i(&keys, b"gi", b"gr", 1, 2, b"sa", b"id");
        let r = hash_r(&keys, b"gi", b"gr", 1, 2, b"sa", b"id");
        assert_ne!(i, r);
        let manual = HashAlg::Sha1.prf().prf_parts(
            keys.skeyid().as_bytes(),
            &[b"gr", b"gi", &2u64.to_be_bytes(), &1u64.to_be_bytes(), b"sa", b"id"],
        );
        assert_eq!(r, manual.as_bytes());
        assert!(verify_hash(&r, manual.as_bytes()));
        assert!(!verify_hash(&r, &i));
        assert!(!verify_hash(&r, &r[..10]));
        assert!(format!("{keys:?}").contains("redacted"));
    }

    #[test]
    fn quick_mode_hashes_follow_section_5_5() {
        let skeyid = skeyid_sig(HashAlg::Sha256, b"ni", b"nr", b"gxy");
        let keys = Phase1Keys::derive(HashAlg::Sha256, skeyid, b"gxy", 1, 2, 32);
        let a = keys.skeyid_a().as_bytes();
        let prf = HashAlg::Sha256.prf();
        let mid = 0x0102_0304u32;
        assert_eq!(qm_hash1(&keys, mid, b"rest"), prf.prf(a, b"\x01\x02\x03\x04rest").as_bytes());
        assert_eq!(
            qm_hash2(&keys, mid, b"NI", b"rest"),
            prf.prf(a, b"\x01\x02\x03\x04NIrest").as_bytes()
        );
        assert_eq!(
            qm_hash3(&keys, mid, b"NI", b"NR"),
            prf.prf(a, b"\x00\x01\x02\x03\x04NINR").as_bytes()
        );
        assert_eq!(info_hash(&keys, mid, b"N"), prf.prf(a, b"\x01\x02\x03\x04N").as_bytes());
    }

    #[test]
    fn ivs_are_truncated_digests() {
        let iv = phase1_iv(HashAlg::Sha1, b"gi", b"gr", 16);
        assert_eq!(iv, &HashAlg::Sha1.digest(&[b"gigr"])[..16]);
        let iv2 = phase2_iv(HashAlg::Sha256, &iv, 7, 16);
        assert_eq!(iv2, &HashAlg::Sha256.digest(&[&iv, &[0, 0, 0, 7]])[..16]);
        // A block longer than the digest cannot be produced: no panic, a short IV.
        assert_eq!(phase1_iv(HashAlg::Md5, b"", b"", 32).len(), 16);
    }

    #[test]
    fn child_keys_split_encryption_then_integrity_per_spi() {
        let skeyid = skeyid_psk(HashAlg::Sha1, b"k", b"ni", b"nr");
        let keys = Phase1Keys::derive(HashAlg::Sha1, skeyid, b"gxy", 1, 2, 16);
        let lens = EspKeyLengths { encr: 36, integ: 0 };
        let ours = child_keys(&keys, None, 3, (b"ni", b"nr"), (0x1111, 0x2222), lens);
        let theirs = child_keys(&keys, None, 3, (b"ni", b"nr"), (0x2222, 0x1111), lens);
        assert_eq!(ours.inbound.encr.as_bytes(), theirs.outbound.encr.as_bytes());
        assert_eq!(ours.outbound.encr.as_bytes(), theirs.inbound.encr.as_bytes());
        assert_eq!(ours.inbound.encr.len(), 36);
        assert!(ours.inbound.integ.is_empty());
        let lens = EspKeyLengths { encr: 32, integ: 32 };
        let k = child_keys(&keys, Some(b"pfs"), 3, (b"ni", b"nr"), (0x1111, 0x2222), lens);
        let km = keymat(&keys, Some(b"pfs"), 3, 0x1111, b"ni", b"nr", 64);
        assert_eq!(k.inbound.encr.as_bytes(), &km.as_bytes()[..32]);
        assert_eq!(k.inbound.integ.as_bytes(), &km.as_bytes()[32..]);
        assert_ne!(
            k.inbound.encr.as_bytes(),
            keymat(&keys, None, 3, 0x1111, b"ni", b"nr", 32).as_bytes(),
            "PFS changes KEYMAT"
        );
    }
}
