//! The negotiated IKE SA's keys, mapped to this side: the SK payload ciphers for what we
//! send and what we receive, SK_d for Child SAs and SK_pi / SK_pr for AUTH
//! (RFC 7296 sections 2.14 and 2.15).

use crate::crypto::keys::{rekey_skeyseed, skeyseed};
use crate::crypto::{
    DhGroup as CryptoDhGroup, EncrAlg, IkeKeyLengths, IkeSaKeys, IntegAlg, PrfAlg, SecretBytes,
    SharedSecret, SkCipher,
};
use crate::ikev2::proposal::Selected;
use crate::ikev2::wire::{DhGroup, EncrId, IntegId};

use super::events::ProtocolError;

/// The algorithms of a negotiated IKE SA proposal, as the crypto suite knows them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IkeAlgs {
    pub prf: PrfAlg,
    pub encr: EncrAlg,
    pub integ: Option<IntegAlg>,
}

fn unsupported(e: impl core::fmt::Display) -> ProtocolError {
    ProtocolError::Unsupported(e.to_string())
}

impl IkeAlgs {
    /// From what the negotiation picked.
    pub fn from_selected(s: &Selected) -> Result<IkeAlgs, ProtocolError> {
        let (id, bits) = s.encr;
        let encr = EncrAlg::from_iana(id.into(), bits).map_err(unsupported)?;
        let prf = s.prf.ok_or_else(|| unsupported("IKE SA without PRF"))?;
        let prf = PrfAlg::from_iana(prf.into()).map_err(unsupported)?;
        let integ = match s.integ {
            Some(i) if !encr.is_aead() => Some(IntegAlg::from_iana(i.into()).map_err(unsupported)?),
            None if encr.is_aead() => None,
            _ => return Err(unsupported("integrity transform does not fit the cipher")),
        };
        Ok(IkeAlgs { prf, encr, integ })
    }
}

/// The crypto suite's group for a wire group number.
pub(crate) fn crypto_group(g: DhGroup) -> Result<CryptoDhGroup, ProtocolError> {
    CryptoDhGroup::from_iana(g.into()).map_err(unsupported)
}

/// One IKE SA's keys, from this side's point of view. Zeroized on drop (each key is).
pub(crate) struct IkeKeys {
    pub prf: PrfAlg,
    pub sk_d: SecretBytes,
    pub sk_pi: SecretBytes,
    pub sk_pr: SecretBytes,
    /// Seals what we send (SK_ei/SK_ai for the initiator, SK_er/SK_ar for the responder).
    pub outbound: SkCipher,
    /// Opens what we receive.
    pub inbound: SkCipher,
    /// The algorithms and SK_e / SK_a of both directions, as derived: only for the
    /// operator's key log ([`IkeKeys::key_log_line`]). Zeroized on drop.
    log: LogKeys,
}

/// What a Wireshark `ikev2_decryption_table` line needs beyond the SPIs.
struct LogKeys {
    encr: EncrAlg,
    integ: Option<IntegAlg>,
    sk_ei: SecretBytes,
    sk_er: SecretBytes,
    sk_ai: SecretBytes,
    sk_ar: SecretBytes,
}

impl core::fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IkeKeys(<redacted>)")
    }
}

impl IkeKeys {
    /// SKEYSEED and the seven keys (section 2.14), for the original `initiator` or not.
    pub fn derive(
        algs: IkeAlgs,
        g_ir: &SharedSecret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<IkeKeys, ProtocolError> {
        let seed = skeyseed(algs.prf, ni, nr, g_ir);
        Self::from_seed(algs, &seed, ni, nr, spi_i, spi_r, initiator)
    }

    /// The keys of the IKE SA that rekeys this one (section 2.18): SKEYSEED = prf(SK_d (old),
    /// g^ir (new) | Ni | Nr) with this (the old) SA's PRF, then the seven keys with the new
    /// SA's algorithms, nonces and SPIs. `initiator`: we initiated the rekeying exchange,
    /// and so are the new SA's original initiator.
    #[allow(clippy::too_many_arguments)]
    pub fn rekey(
        &self,
        algs: IkeAlgs,
        g_ir: &SharedSecret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<IkeKeys, ProtocolError> {
        let seed = rekey_skeyseed(self.prf, &self.sk_d, g_ir, ni, nr);
        Self::from_seed(algs, &seed, ni, nr, spi_i, spi_r, initiator)
    }

    fn from_seed(
        algs: IkeAlgs,
        seed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<IkeKeys, ProtocolError> {
        let lengths = IkeKeyLengths::for_transforms(algs.prf, algs.encr, algs.integ);
        let k = IkeSaKeys::derive(
            algs.prf,
            seed,
            ni,
            nr,
            &spi_i.to_be_bytes(),
            &spi_r.to_be_bytes(),
            lengths,
        )
        .map_err(unsupported)?;
        let cipher = |e: &SecretBytes, a: &SecretBytes| {
            SkCipher::new(algs.encr, algs.integ, e.as_bytes(), a.as_bytes()).map_err(unsupported)
        };
        let i2r = cipher(&k.sk_ei, &k.sk_ai)?;
        let r2i = cipher(&k.sk_er, &k.sk_ar)?;
        let (outbound, inbound) = if initiator { (i2r, r2i) } else { (r2i, i2r) };
        Ok(IkeKeys {
            prf: algs.prf,
            sk_d: k.sk_d,
            sk_pi: k.sk_pi,
            sk_pr: k.sk_pr,
            outbound,
            inbound,
            log: LogKeys {
                encr: algs.encr,
                integ: algs.integ,
                sk_ei: k.sk_ei,
                sk_er: k.sk_er,
                sk_ai: k.sk_ai,
                sk_ar: k.sk_ar,
            },
        })
    }

    /// The four SK payload keys as derived, in RFC 7296 order: (SK_ai, SK_ar, SK_ei,
    /// SK_er), whichever side we are. For replication to a standby unit only.
    pub fn sk_a_e(&self) -> [&SecretBytes; 4] {
        let l = &self.log;
        [&l.sk_ai, &l.sk_ar, &l.sk_ei, &l.sk_er]
    }

    /// Rebuilds an IKE SA's keys from the seven replicated ones (the standby's side of
    /// [`IkeKeys::sk_a_e`]): the SK payload ciphers are keyed again, outbound with the
    /// original `initiator`'s direction.
    pub fn from_replicated(
        algs: IkeAlgs,
        sk_d: &SecretBytes,
        [sk_ai, sk_ar, sk_ei, sk_er]: [&SecretBytes; 4],
        sk_pi: &SecretBytes,
        sk_pr: &SecretBytes,
        initiator: bool,
    ) -> Result<IkeKeys, ProtocolError> {
        let lengths = IkeKeyLengths::for_transforms(algs.prf, algs.encr, algs.integ);
        let lengths_ok = [sk_d, sk_pi, sk_pr].iter().all(|k| k.len() == lengths.prf)
            && [sk_ai, sk_ar].iter().all(|k| k.len() == lengths.integ)
            && [sk_ei, sk_er].iter().all(|k| k.len() == lengths.encr);
        if !lengths_ok {
            return Err(unsupported("replicated key lengths do not fit the transforms"));
        }
        let cipher = |e: &SecretBytes, a: &SecretBytes| {
            SkCipher::new(algs.encr, algs.integ, e.as_bytes(), a.as_bytes()).map_err(unsupported)
        };
        let i2r = cipher(sk_ei, sk_ai)?;
        let r2i = cipher(sk_er, sk_ar)?;
        let (outbound, inbound) = if initiator { (i2r, r2i) } else { (r2i, i2r) };
        Ok(IkeKeys {
            prf: algs.prf,
            sk_d: sk_d.clone(),
            sk_pi: sk_pi.clone(),
            sk_pr: sk_pr.clone(),
            outbound,
            inbound,
            log: LogKeys {
                encr: algs.encr,
                integ: algs.integ,
                sk_ei: sk_ei.clone(),
                sk_er: sk_er.clone(),
                sk_ai: sk_ai.clone(),
                sk_ar: sk_ar.clone(),
            },
        })
    }

    /// This IKE SA's `ikev2_decryption_table` line (see [`crate::keylog`]) under these SPIs.
    pub fn key_log_line(
        &self,
        spi_i: u64,
        spi_r: u64,
    ) -> Result<zeroize::Zeroizing<String>, crate::keylog::KeyLogError> {
        let l = &self.log;
        crate::keylog::ikev2_decryption_table_line(&crate::keylog::IkeSaEntry {
            spi_i,
            spi_r,
            encr: l.encr,
            integ: l.integ,
            sk_ei: l.sk_ei.as_bytes(),
            sk_er: l.sk_er.as_bytes(),
            sk_ai: l.sk_ai.as_bytes(),
            sk_ar: l.sk_ar.as_bytes(),
        })
    }
}

/// Bytes of KEYMAT one ESP SA's encryption key takes, salt / nonce included
/// (RFC 7296 section 2.17 and the ciphers' RFCs); `None` for a cipher we cannot key.
pub(crate) fn esp_encr_key_len(id: EncrId, bits: Option<u16>) -> Option<usize> {
    let bytes = bits.map(|b| usize::from(b / 8));
    match id {
        EncrId::Null => Some(0),
        // RFC 2451: three 64-bit DES keys.
        EncrId::TripleDes => Some(24),
        // RFC 3686 section 5.1 and RFC 4543 section 8: a 4-byte nonce after the key.
        EncrId::AesCtr | EncrId::NullAuthAesGmac => bytes.map(|b| b + 4),
        // RFC 4309 section 7.1: a 3-byte salt after the key.
        EncrId::AesCcm8 | EncrId::AesCcm12 | EncrId::AesCcm16 => bytes.map(|b| b + 3),
        other => EncrAlg::from_iana(other.into(), bits).ok().map(EncrAlg::key_len),
    }
}

/// Bytes of KEYMAT one ESP SA's integrity key takes (0 for none / AEAD).
pub(crate) fn esp_integ_key_len(id: Option<IntegId>) -> Option<usize> {
    match id {
        None | Some(IntegId::None) => Some(0),
        // RFC 3566 section 2.1 and RFC 4494 section 2: 128-bit AES keys.
        Some(IntegId::AesXcbc96 | IntegId::AesCmac96) => Some(16),
        Some(other) => IntegAlg::from_iana(other.into()).ok().map(IntegAlg::key_len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{AesKeySize, GcmIcv};

    /// A rekeyed IKE SA's keys: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old
    /// PRF (section 2.18), then prf+ over the new nonces and SPIs with the new PRF.
    #[test]
    fn rekeyed_ike_sa_keys_follow_section_2_18() {
        let algs = IkeAlgs {
            prf: PrfAlg::HmacSha256,
            encr: EncrAlg::AesGcm(AesKeySize::Aes128, GcmIcv::Icv16),
            integ: None,
        };
        let g = SharedSecret::from_bytes(&[3; 32]);
        let old = IkeKeys::derive(algs, &g, &[1; 32], &[2; 32], 11, 22, true).unwrap();
        let new_algs = IkeAlgs { prf: PrfAlg::HmacSha384, ..algs };
        let g_new = SharedSecret::from_bytes(&[4; 32]);
        let (ni, nr) = ([5u8; 32], [6u8; 32]);
        let new = old.rekey(new_algs, &g_new, &ni, &nr, 33, 44, false).unwrap();
        let seed = rekey_skeyseed(PrfAlg::HmacSha256, &old.sk_d, &g_new, &ni, &nr);
        let lengths = IkeKeyLengths::for_transforms(new_algs.prf, new_algs.encr, None);
        let want = IkeSaKeys::derive(
            PrfAlg::HmacSha384,
            &seed,
            &ni,
            &nr,
            &33u64.to_be_bytes(),
            &44u64.to_be_bytes(),
            lengths,
        )
        .unwrap();
        assert_eq!(new.sk_d.as_bytes(), want.sk_d.as_bytes());
        assert_eq!(new.sk_d.len(), 48, "the new PRF's key length");
        assert_eq!(new.prf, PrfAlg::HmacSha384);
        assert_ne!(new.sk_d.as_bytes(), old.sk_d.as_bytes());
    }
}
