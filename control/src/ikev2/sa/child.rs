//! Child SA negotiation (RFC 7296 sections 1.2, 1.3, 2.9, 2.17), in IKE_AUTH for the first
//! one and in CREATE_CHILD_SA for further and rekeyed ones: the initiator's offer, the
//! responder's choice and narrowing, the initiator's checks, and the key material mapped to
//! inbound / outbound.
//!
//! The ESP proposals' DH groups are the PFS groups of CREATE_CHILD_SA; IKE_AUTH carries no
//! KE payload, so its proposals go without them (section 1.2: "SA payloads in the IKE_AUTH
//! exchange cannot contain Transform Type 4 ... with any value other than NONE").

use rand_core::CryptoRng;

use crate::crypto::{ChildSaKeys, PrfAlg, SecretBytes, SharedSecret};
use crate::ikev2::proposal::{LocalProposal, Selected, accept_choice, select};
use crate::ikev2::selectors::{narrow, within};
use crate::ikev2::wire::{DhGroup, NotifyType, Proposal, SaRepr, TrafficSelector};

use super::auth::AuthVerified;
use super::config::ChildConfig;
use super::events::{ChildSa, FailureCause, ProtocolError};
use super::keys::{esp_encr_key_len, esp_integ_key_len};

/// Lowest SPI that may be allocated: 1 to 255 are reserved by IANA (RFC 4303 section 2.1).
pub const MIN_SPI: u32 = 256;

/// Where inbound ESP SPIs come from. The appliance plugs in the dataplane's SA table so that
/// SPIs are unique across all IKE SAs; the default draws random ones.
pub trait SpiAllocator: Send {
    /// A fresh inbound SPI (at least [`MIN_SPI`]); `random` is a value from the caller's RNG
    /// the allocator may use.
    fn allocate(&mut self, random: u32) -> u32;
}

/// Random SPIs, without a uniqueness check: for tests and single-SA use.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomSpis;

impl SpiAllocator for RandomSpis {
    fn allocate(&mut self, random: u32) -> u32 {
        random.max(MIN_SPI)
    }
}

/// A fresh inbound SPI.
pub(crate) fn allocate_spi<R: CryptoRng + ?Sized>(
    alloc: &mut dyn SpiAllocator,
    rng: &mut R,
) -> u32 {
    alloc.allocate(rng.next_u32())
}

/// Proof that the Child SA's selectors were negotiated: the responder narrowed them to its
/// policy, or the initiator found the answer within its request. Only this module makes
/// one; `install` takes it.
#[derive(Debug)]
pub struct TsNarrowed {
    local: Vec<TrafficSelector>,
    remote: Vec<TrafficSelector>,
}

impl TsNarrowed {
    /// Our side's selectors.
    pub fn local(&self) -> &[TrafficSelector] {
        &self.local
    }

    /// The peer's side's selectors.
    pub fn remote(&self) -> &[TrafficSelector] {
        &self.remote
    }
}

/// What the initiator asked for, kept to check the answer.
#[derive(Debug, Clone)]
pub(crate) struct ChildOffer {
    pub spi_in: u32,
    pub proposals: Vec<Proposal>,
    pub tsi: Vec<TrafficSelector>,
    pub tsr: Vec<TrafficSelector>,
}

/// The wire proposals of a list of local proposals, numbered from 1 across the list.
pub(crate) fn offer_proposals(local: &[LocalProposal], spi: &[u8]) -> Vec<Proposal> {
    let mut out: Vec<Proposal> = Vec::new();
    for lp in local {
        let first = u8::try_from(out.len() + 1).unwrap_or(u8::MAX);
        out.extend(lp.to_wire(first, spi));
    }
    out
}

/// The proposals without their DH groups: what IKE_AUTH negotiates (no PFS there).
fn without_pfs(local: &[LocalProposal]) -> Vec<LocalProposal> {
    local.iter().map(|p| LocalProposal { dh: Vec::new(), ..p.clone() }).collect()
}

/// The PFS group a CREATE_CHILD_SA for `cfg` sends its KE payload for: the first DH group
/// of the first ESP proposal that has any (`None`: no PFS).
pub(crate) fn pfs_group(cfg: &ChildConfig) -> Option<DhGroup> {
    cfg.esp_proposals.iter().find_map(|p| p.dh.first().copied())
}

/// Whether `group` is among the PFS groups of `cfg` (an INVALID_KE_PAYLOAD may only ask
/// for one we offered).
pub(crate) fn offers_group(cfg: &ChildConfig, group: DhGroup) -> bool {
    cfg.esp_proposals.iter().any(|p| p.dh.contains(&group))
}

impl ChildOffer {
    /// The initiator's SAi2 / TSi / TSr in IKE_AUTH (section 1.2): TSi is our side.
    pub fn first(cfg: &ChildConfig, spi_in: u32) -> ChildOffer {
        ChildOffer {
            spi_in,
            proposals: offer_proposals(&without_pfs(&cfg.esp_proposals), &spi_in.to_be_bytes()),
            tsi: cfg.selectors.local.clone(),
            tsr: cfg.selectors.remote.clone(),
        }
    }

    /// The SA / TSi / TSr of a CREATE_CHILD_SA request (section 1.3.1), PFS groups
    /// included; `tsi` is our side. A rekey offers the old pair's selectors again (section
    /// 2.8: the new SA "SHOULD NOT have different Traffic Selectors").
    pub fn create(
        cfg: &ChildConfig,
        spi_in: u32,
        tsi: Vec<TrafficSelector>,
        tsr: Vec<TrafficSelector>,
    ) -> ChildOffer {
        ChildOffer {
            spi_in,
            proposals: offer_proposals(&cfg.esp_proposals, &spi_in.to_be_bytes()),
            tsi,
            tsr,
        }
    }

    /// The SAi2 payload.
    pub fn sa(&self) -> SaRepr {
        SaRepr { proposals: self.proposals.clone() }
    }

    /// Checks the responder's SAr2 / TSi / TSr (sections 2.7 and 2.9).
    pub fn accept(
        &self,
        sa: &SaRepr,
        tsi: &[TrafficSelector],
        tsr: &[TrafficSelector],
    ) -> Result<(Selected, TsNarrowed), FailureCause> {
        let selected = accept_choice(&self.proposals, sa)
            .map_err(|e| FailureCause::ProtocolError(ProtocolError::BadChoice(e.to_string())))?;
        if selected.spi_u32().is_none() {
            return Err(FailureCause::ProtocolError(ProtocolError::BadChoice(
                "ESP answer without a 4-byte SPI".into(),
            )));
        }
        if !within(tsi, &self.tsi) || !within(tsr, &self.tsr) {
            return Err(FailureCause::TsUnacceptable);
        }
        Ok((selected, TsNarrowed { local: tsi.to_vec(), remote: tsr.to_vec() }))
    }
}

trait SpiOf {
    fn spi_u32(&self) -> Option<u32>;
}

impl SpiOf for Selected {
    fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice()).ok().map(u32::from_be_bytes)
    }
}

/// The responder's answer to SAi2 / TSi / TSr in IKE_AUTH: the chosen proposal and the
/// narrowed selectors, or the error notify to answer with (the IKE SA stays up, section
/// 2.21.3). The configured PFS groups do not apply (no KE payload in IKE_AUTH).
pub(crate) fn respond(
    cfg: &ChildConfig,
    sa: &SaRepr,
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
) -> Result<(Selected, TsNarrowed), (NotifyType, FailureCause)> {
    choose(&without_pfs(&cfg.esp_proposals), cfg, sa, None, tsi, tsr)
}

/// The responder's answer to a CREATE_CHILD_SA request's SA / TSi / TSr (section 1.3.1).
/// `ke_group`: the group of the request's KE payload, if it had one. The caller checks
/// that a chosen DH group matches it (else INVALID_KE_PAYLOAD).
pub(crate) fn respond_create(
    cfg: &ChildConfig,
    sa: &SaRepr,
    ke_group: Option<DhGroup>,
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
) -> Result<(Selected, TsNarrowed), (NotifyType, FailureCause)> {
    choose(&cfg.esp_proposals, cfg, sa, ke_group, tsi, tsr)
}

fn choose(
    proposals: &[LocalProposal],
    cfg: &ChildConfig,
    sa: &SaRepr,
    ke_group: Option<DhGroup>,
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
) -> Result<(Selected, TsNarrowed), (NotifyType, FailureCause)> {
    let selected = select(proposals, sa, ke_group).map_err(|e| {
        (NotifyType::NoProposalChosen, FailureCause::NoProposalChosen(e.to_string()))
    })?;
    if selected.spi_u32().is_none() {
        return Err((NotifyType::InvalidSyntax, FailureCause::NoProposalChosen("no SPI".into())));
    }
    // TSi is the initiator's side: our remote.
    let (remote, local) = narrow(tsi, tsr, &cfg.selectors)
        .map_err(|_| (NotifyType::TsUnacceptable, FailureCause::TsUnacceptable))?;
    Ok((selected, TsNarrowed { local, remote }))
}

/// What a Child SA's KEYMAT comes from (section 2.17): SK_d, the nonces (of IKE_SA_INIT for
/// the first Child SA, else of its CREATE_CHILD_SA), and the exchange's own shared secret
/// when it ran one (PFS). `initiator`: we initiated that exchange, so the first keys are
/// our outbound ones.
pub(crate) struct KeySource<'a> {
    pub prf: PrfAlg,
    pub sk_d: &'a SecretBytes,
    pub g_ir: Option<&'a SharedSecret>,
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub initiator: bool,
}

/// Builds the Child SA for the dataplane. Takes both proof tokens: the peer authenticated
/// and the selectors were negotiated.
pub(crate) fn install(
    _auth: &AuthVerified,
    ts: TsNarrowed,
    selected: Selected,
    spi_in: u32,
    keys: &KeySource<'_>,
    cfg: &ChildConfig,
    rekey_of: Option<u32>,
) -> Result<ChildSa, ProtocolError> {
    let outbound_spi = selected
        .spi_u32()
        .ok_or_else(|| ProtocolError::BadChoice("ESP SPI is not 4 bytes".into()))?;
    let (id, bits) = selected.encr;
    let encr_len = esp_encr_key_len(id, bits)
        .ok_or_else(|| ProtocolError::Unsupported(format!("ESP cipher {id}")))?;
    let integ_len = esp_integ_key_len(selected.integ)
        .ok_or_else(|| ProtocolError::Unsupported("ESP integrity".into()))?;
    let km =
        ChildSaKeys::derive(keys.prf, keys.sk_d, keys.g_ir, keys.ni, keys.nr, encr_len, integ_len)
            .map_err(|e| ProtocolError::Unsupported(e.to_string()))?;
    let (outbound, inbound) = if keys.initiator {
        (km.initiator_to_responder, km.responder_to_initiator)
    } else {
        (km.responder_to_initiator, km.initiator_to_responder)
    };
    Ok(ChildSa {
        inbound_spi: spi_in,
        outbound_spi,
        transforms: selected,
        inbound,
        outbound,
        local_ts: ts.local,
        remote_ts: ts.remote,
        lifetime_seconds: cfg.lifetime_seconds,
        lifetime_kilobytes: cfg.lifetime_kilobytes,
        mode: cfg.mode,
        rekey_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::child_keymat;
    use crate::ikev2::sa::auth::{SignedOctets, psk_auth, verify};
    use crate::ikev2::sa::config::Mode;
    use crate::ikev2::selectors::PolicySelectors;
    use crate::ikev2::wire::{EncrId, EsnId, ProtocolId, TransformType};

    fn token() -> AuthVerified {
        let sk_p = SecretBytes::from_slice(&[1; 32]);
        let o =
            SignedOctets { real_message: b"m", peer_nonce: &[2; 32], sk_p: &sk_p, id_body: b"i" };
        let data = psk_auth(PrfAlg::HmacSha256, b"k", &o);
        verify(PrfAlg::HmacSha256, b"k", &o, data.as_bytes()).expect("own AUTH verifies")
    }

    fn cfg(pfs: &[DhGroup]) -> ChildConfig {
        ChildConfig {
            esp_proposals: vec![LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![(EncrId::AesGcm16, Some(128))],
                prf: vec![],
                integ: vec![],
                dh: pfs.to_vec(),
                esn: vec![],
            }],
            selectors: PolicySelectors {
                local: vec![TrafficSelector::ipv4_any()],
                remote: vec![TrafficSelector::ipv4_any()],
            },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 0,
            mode: Mode::Tunnel,
        }
    }

    fn selected(dh: Option<DhGroup>) -> Selected {
        Selected {
            number: 1,
            protocol: ProtocolId::Esp,
            spi: vec![0, 0, 0x20, 0],
            encr: (EncrId::AesGcm16, Some(128)),
            prf: None,
            integ: None,
            dh,
            esn: Some(EsnId::No),
        }
    }

    fn ts() -> TsNarrowed {
        TsNarrowed { local: vec![TrafficSelector::ipv4_any()], remote: vec![] }
    }

    /// KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr), initiator-to-responder keys first
    /// (section 2.17), computed with the crypto module's own function.
    #[test]
    fn create_child_keymat_includes_the_pfs_secret_and_follows_the_exchange_roles() {
        let sk_d = SecretBytes::from_slice(&[9; 32]);
        let g = SharedSecret::from_bytes(&[7; 32]);
        let (ni, nr) = ([1u8; 32], [2u8; 32]);
        let cfg = cfg(&[DhGroup::Ecp256]);
        for (g_ir, initiator) in [(Some(&g), true), (Some(&g), false), (None, true)] {
            let ks = KeySource {
                prf: PrfAlg::HmacSha256,
                sk_d: &sk_d,
                g_ir,
                ni: &ni,
                nr: &nr,
                initiator,
            };
            let sel = selected(g_ir.map(|_| DhGroup::Ecp256));
            let c = install(&token(), ts(), sel, 0x1000, &ks, &cfg, Some(0x42)).unwrap();
            let km = child_keymat(PrfAlg::HmacSha256, &sk_d, g_ir, &ni, &nr, 40).unwrap();
            let (i2r, r2i) = km.as_bytes().split_at(20);
            let (out, inb) = if initiator { (i2r, r2i) } else { (r2i, i2r) };
            assert_eq!(c.outbound.encr.as_bytes(), out);
            assert_eq!(c.inbound.encr.as_bytes(), inb);
            assert_eq!((c.inbound_spi, c.outbound_spi, c.rekey_of), (0x1000, 0x2000, Some(0x42)));
        }
        let with = child_keymat(PrfAlg::HmacSha256, &sk_d, Some(&g), &ni, &nr, 40).unwrap();
        let without = child_keymat(PrfAlg::HmacSha256, &sk_d, None, &ni, &nr, 40).unwrap();
        assert_ne!(with.as_bytes(), without.as_bytes());
    }

    /// IKE_AUTH carries no KE, so its offer has no DH transform and its responder ignores
    /// the configured PFS groups (section 1.2); CREATE_CHILD_SA offers and requires them.
    #[test]
    fn pfs_groups_are_offered_in_create_child_sa_only() {
        let c = cfg(&[DhGroup::Ecp256]);
        let first = ChildOffer::first(&c, 0x1000);
        let dh = |o: &ChildOffer| {
            o.proposals.iter().flat_map(|p| p.transforms_of(TransformType::Dh)).count()
        };
        assert_eq!(dh(&first), 0);
        let create = ChildOffer::create(&c, 0x1000, vec![], vec![]);
        assert_eq!(dh(&create), 1);
        assert_eq!(pfs_group(&c), Some(DhGroup::Ecp256));
        assert_eq!(pfs_group(&cfg(&[])), None);
        let any = [TrafficSelector::ipv4_any()];
        let (sel, _) = respond(&c, &first.sa(), &any, &any).expect("IKE_AUTH without PFS");
        assert_eq!(sel.dh, None);
        let refused = respond_create(&c, &first.sa(), None, &any, &any);
        assert!(matches!(refused, Err((NotifyType::NoProposalChosen, _))), "PFS required");
        let (sel, _) = respond_create(&c, &create.sa(), Some(DhGroup::Ecp256), &any, &any).unwrap();
        assert_eq!(sel.dh, Some(DhGroup::Ecp256));
    }
}
