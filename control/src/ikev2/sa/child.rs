//! The first Child SA, negotiated inside IKE_AUTH (RFC 7296 sections 1.2, 2.9, 2.17):
//! the initiator's offer, the responder's choice and narrowing, the initiator's checks,
//! and the key material mapped to inbound / outbound.

use rand_core::CryptoRng;

use crate::crypto::{ChildSaKeys, PrfAlg, SecretBytes};
use crate::ikev2::proposal::{LocalProposal, Selected, accept_choice, select};
use crate::ikev2::selectors::{narrow, within};
use crate::ikev2::wire::{NotifyType, Proposal, SaRepr, TrafficSelector};

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

impl ChildOffer {
    /// The initiator's SAi2 / TSi / TSr (section 1.2): TSi is our side.
    pub fn new(cfg: &ChildConfig, spi_in: u32) -> ChildOffer {
        ChildOffer {
            spi_in,
            proposals: offer_proposals(&cfg.esp_proposals, &spi_in.to_be_bytes()),
            tsi: cfg.selectors.local.clone(),
            tsr: cfg.selectors.remote.clone(),
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

/// The responder's answer to SAi2 / TSi / TSr: the chosen proposal and the narrowed
/// selectors, or the error notify to answer with (the IKE SA stays up, section 2.21.3).
pub(crate) fn respond(
    cfg: &ChildConfig,
    sa: &SaRepr,
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
) -> Result<(Selected, TsNarrowed), (NotifyType, FailureCause)> {
    let selected = select(&cfg.esp_proposals, sa, None).map_err(|e| {
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

/// The nonces and key the first Child SA's KEYMAT comes from (section 2.17).
pub(crate) struct KeySource<'a> {
    pub prf: PrfAlg,
    pub sk_d: &'a SecretBytes,
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
) -> Result<ChildSa, ProtocolError> {
    let outbound_spi = selected
        .spi_u32()
        .ok_or_else(|| ProtocolError::BadChoice("ESP SPI is not 4 bytes".into()))?;
    let (id, bits) = selected.encr;
    let encr_len = esp_encr_key_len(id, bits)
        .ok_or_else(|| ProtocolError::Unsupported(format!("ESP cipher {id}")))?;
    let integ_len = esp_integ_key_len(selected.integ)
        .ok_or_else(|| ProtocolError::Unsupported("ESP integrity".into()))?;
    let km = ChildSaKeys::derive(keys.prf, keys.sk_d, None, keys.ni, keys.nr, encr_len, integ_len)
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
    })
}
