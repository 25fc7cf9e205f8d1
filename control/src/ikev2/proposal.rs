//! Proposal negotiation (RFC 7296 sections 2.7, 3.3 and 3.3.6).
//!
//! The local side's acceptable algorithms are [`LocalProposal`]s: one per configured IKEv2
//! policy or IPsec proposal, each with, per transform type, a list ordered most- to
//! least-preferred (the policy model sorts them most- to least-secure, as the reference
//! document says the ASA does). As a responder, [`select`] picks by the LOCAL order: the
//! first local proposal (priority order) that any offered proposal matches, and within it
//! the best-ranked transform of each type. The initiator's order only breaks ties. One
//! exception: a DH group for which the initiator already sent a KE payload wins over
//! better-ranked groups, which saves the INVALID_KE_PAYLOAD round trip (RFC 7296 1.2).
//!
//! As an initiator, [`LocalProposal::to_wire`] writes the offer (an AEAD and a non-AEAD
//! proposal apart, since they cannot share integrity transforms, RFC 7296 3.3) and
//! [`accept_choice`] checks that the responder picked exactly one of what was offered.

use core::fmt;

use super::wire::{
    DhGroup, EncrId, EsnId, IntegId, PrfId, Proposal, ProtocolId, SaRepr, Transform, TransformType,
};

/// An encryption transform with its key length in bits (`None` for fixed-length ciphers).
pub type Encr = (EncrId, Option<u16>);

/// What the local side accepts for one SA, each list most-preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProposal {
    /// IKE for the IKE SA, ESP for Child SAs.
    pub protocol: ProtocolId,
    pub encr: Vec<Encr>,
    /// IKE SAs only.
    pub prf: Vec<PrfId>,
    /// Ignored for AEAD ciphers (their proposals carry no integrity transform).
    pub integ: Vec<IntegId>,
    /// Required for IKE SAs; for Child SAs the PFS groups (empty: no PFS).
    pub dh: Vec<DhGroup>,
    /// Child SAs only; empty means "no ESN".
    pub esn: Vec<EsnId>,
}

/// The transforms both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The Proposal Num of the offered proposal it came from (echoed in the answer).
    pub number: u8,
    pub protocol: ProtocolId,
    /// The peer's SPI from that proposal (empty for IKE_SA_INIT).
    pub spi: Vec<u8>,
    pub encr: Encr,
    pub prf: Option<PrfId>,
    /// `None` for AEAD ciphers.
    pub integ: Option<IntegId>,
    pub dh: Option<DhGroup>,
    pub esn: Option<EsnId>,
}

/// Whether an encryption transform authenticates by itself (RFC 5282).
pub fn is_aead(id: EncrId) -> bool {
    matches!(
        id,
        EncrId::AesGcm8
            | EncrId::AesGcm12
            | EncrId::AesGcm16
            | EncrId::AesCcm8
            | EncrId::AesCcm12
            | EncrId::AesCcm16
            | EncrId::ChaCha20Poly1305
            | EncrId::NullAuthAesGmac
    )
}

fn encr_transform((id, bits): Encr) -> Transform {
    let t = Transform::new(TransformType::Encr, id.into());
    match bits {
        Some(b) => t.with_key_length(b),
        None => t,
    }
}

impl LocalProposal {
    /// The wire proposals for this offer, numbered from `first_number`: the AEAD ciphers
    /// in one proposal, the others (with the integrity list) in another.
    pub fn to_wire(&self, first_number: u8, spi: &[u8]) -> Vec<Proposal> {
        let (aead, plain): (Vec<Encr>, Vec<Encr>) =
            self.encr.iter().partition(|(id, _)| is_aead(*id));
        let mut out = Vec::new();
        for (group, with_integ) in [(aead, false), (plain, true)] {
            if group.is_empty() {
                continue;
            }
            let mut transforms: Vec<Transform> = group.into_iter().map(encr_transform).collect();
            transforms
                .extend(self.prf.iter().map(|&p| Transform::new(TransformType::Prf, p.into())));
            if with_integ {
                transforms.extend(
                    self.integ
                        .iter()
                        .filter(|&&i| i != IntegId::None)
                        .map(|&i| Transform::new(TransformType::Integ, i.into())),
                );
            }
            transforms.extend(self.dh.iter().map(|&g| Transform::new(TransformType::Dh, g.into())));
            let esn: &[EsnId] = if self.protocol == ProtocolId::Ike { &[] } else { &self.esn };
            if self.protocol != ProtocolId::Ike && esn.is_empty() {
                transforms.push(Transform::new(TransformType::Esn, EsnId::No.into()));
            }
            transforms.extend(esn.iter().map(|&e| Transform::new(TransformType::Esn, e.into())));
            out.push(Proposal {
                number: first_number.saturating_add(out.len() as u8),
                protocol: self.protocol,
                spi: spi.to_vec(),
                transforms,
            });
        }
        out
    }
}

impl fmt::Display for LocalProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.protocol)?;
        let mut sep = "";
        for &(id, bits) in &self.encr {
            write!(f, "{sep}{id}")?;
            if let Some(b) = bits {
                write!(f, "_{b}")?;
            }
            sep = "/";
        }
        for p in &self.prf {
            write!(f, "/{p}")?;
        }
        for i in &self.integ {
            write!(f, "/{i}")?;
        }
        for g in &self.dh {
            write!(f, "/{g}")?;
        }
        for e in &self.esn {
            write!(f, "/{e}")?;
        }
        Ok(())
    }
}

/// No offered proposal matched: both sides, for the log (the reference document's
/// NO_PROPOSAL_CHOSEN "with a clear log of both sides' offers").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoProposalChosen {
    pub offered: Vec<String>,
    pub configured: Vec<String>,
}

impl fmt::Display for NoProposalChosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no proposal chosen: peer offered [{}]; configured [{}]",
            self.offered.join(", "),
            self.configured.join(", ")
        )
    }
}

/// Picks, as a responder, what to answer `offered` with (see the module doc). `ke_group`:
/// the DH group of the initiator's KE payload, if it sent one.
pub fn select(
    local: &[LocalProposal],
    offered: &SaRepr,
    ke_group: Option<DhGroup>,
) -> Result<Selected, NoProposalChosen> {
    for lp in local {
        let best = offered
            .proposals
            .iter()
            .filter_map(|p| match_one(lp, p, ke_group))
            .min_by_key(|(rank, _)| *rank);
        if let Some((_, sel)) = best {
            return Ok(sel);
        }
    }
    Err(NoProposalChosen {
        offered: offered.proposals.iter().map(ToString::to_string).collect(),
        configured: local.iter().map(ToString::to_string).collect(),
    })
}

/// Ranks: per type, the position in the local list (lower is better), in the order
/// encryption, integrity, PRF, DH, ESN.
type Rank = [usize; 5];

fn match_one(
    lp: &LocalProposal,
    p: &Proposal,
    ke_group: Option<DhGroup>,
) -> Option<(Rank, Selected)> {
    if p.protocol != lp.protocol {
        return None;
    }
    // A proposal with a transform type we do not know cannot be accepted (RFC 7296 3.3.6).
    if p.transforms.iter().any(|t| matches!(t.transform_type, TransformType::Unknown(_))) {
        return None;
    }
    let best = |ty: TransformType, rank_of: &dyn Fn(&Transform) -> Option<usize>| {
        p.transforms_of(ty).filter_map(|t| rank_of(t).map(|r| (r, t))).min_by_key(|(r, _)| *r)
    };
    let (er, et) = best(TransformType::Encr, &|t| {
        let id = EncrId::from(t.transform_id);
        lp.encr.iter().position(|&(lid, bits)| lid == id && bits == t.key_length())
    })?;
    let encr = (EncrId::from(et.transform_id), et.key_length());
    let aead = is_aead(encr.0);

    // Integrity: none (or only NONE) with AEAD, required otherwise.
    let offered_integ: Vec<IntegId> =
        p.transforms_of(TransformType::Integ).map(|t| IntegId::from(t.transform_id)).collect();
    let (ir, integ) = if aead {
        if offered_integ.iter().any(|&i| i != IntegId::None) {
            return None;
        }
        (0, None)
    } else {
        let (r, t) = best(TransformType::Integ, &|t| {
            let id = IntegId::from(t.transform_id);
            (id != IntegId::None).then(|| lp.integ.iter().position(|&l| l == id)).flatten()
        })?;
        (r, Some(IntegId::from(t.transform_id)))
    };

    let (pr, prf) = if lp.protocol == ProtocolId::Ike {
        let (r, t) = best(TransformType::Prf, &|t| {
            lp.prf.iter().position(|&l| l == PrfId::from(t.transform_id))
        })?;
        (r, Some(PrfId::from(t.transform_id)))
    } else {
        if p.transforms_of(TransformType::Prf).next().is_some() {
            return None;
        }
        (0, None)
    };

    // DH: a group the initiator already sent a KE for ranks first.
    let offered_dh: Vec<DhGroup> = p
        .transforms_of(TransformType::Dh)
        .map(|t| DhGroup::from(t.transform_id))
        .filter(|&g| g != DhGroup::None)
        .collect();
    let (dr, dh) = if lp.dh.is_empty() {
        // No PFS wanted: acceptable when the peer did not insist on a group.
        let peer_allows_none = offered_dh.is_empty()
            || p.transforms_of(TransformType::Dh)
                .any(|t| DhGroup::from(t.transform_id) == DhGroup::None);
        if !peer_allows_none {
            return None;
        }
        (0, None)
    } else {
        let rank = |g: DhGroup| {
            let pos = lp.dh.iter().position(|&l| l == g)?;
            Some(if Some(g) == ke_group { 0 } else { pos + 1 })
        };
        let (r, g) =
            offered_dh.iter().filter_map(|&g| rank(g).map(|r| (r, g))).min_by_key(|x| x.0)?;
        (r, Some(g))
    };

    let (nr, esn) = if lp.protocol == ProtocolId::Ike {
        (0, None)
    } else {
        let local_esn: &[EsnId] = if lp.esn.is_empty() { &[EsnId::No] } else { &lp.esn };
        let offered_esn: Vec<EsnId> =
            p.transforms_of(TransformType::Esn).map(|t| EsnId::from(t.transform_id)).collect();
        // A Child SA proposal without an ESN transform means "no ESN".
        let offered_esn = if offered_esn.is_empty() { vec![EsnId::No] } else { offered_esn };
        let (r, e) = offered_esn
            .iter()
            .filter_map(|&e| local_esn.iter().position(|&l| l == e).map(|r| (r, e)))
            .min_by_key(|x| x.0)?;
        (r, Some(e))
    };

    Some((
        [er, ir, pr, dr, nr],
        Selected {
            number: p.number,
            protocol: p.protocol,
            spi: p.spi.clone(),
            encr,
            prf,
            integ,
            dh,
            esn,
        },
    ))
}

impl Selected {
    /// The one-proposal SA payload a responder answers with (`spi`: its own SPI for a
    /// Child SA or an IKE rekey, empty in IKE_SA_INIT).
    pub fn to_wire(&self, spi: &[u8]) -> SaRepr {
        let mut transforms = vec![encr_transform(self.encr)];
        transforms.extend(self.prf.map(|p| Transform::new(TransformType::Prf, p.into())));
        transforms.extend(self.integ.map(|i| Transform::new(TransformType::Integ, i.into())));
        transforms.extend(self.dh.map(|g| Transform::new(TransformType::Dh, g.into())));
        transforms.extend(self.esn.map(|e| Transform::new(TransformType::Esn, e.into())));
        SaRepr {
            proposals: vec![Proposal {
                number: self.number,
                protocol: self.protocol,
                spi: spi.to_vec(),
                transforms,
            }],
        }
    }
}

/// Why a responder's choice is not acceptable to the initiator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadChoice {
    /// Not exactly one proposal.
    ProposalCount(usize),
    /// Its number is not one we sent, or its protocol differs.
    UnknownProposal(u8),
    /// Not exactly one transform of a type that needs one, or one of a type we did not
    /// offer.
    TransformCount(TransformType),
    /// A transform we did not offer in that proposal.
    NotOffered(String),
}

impl fmt::Display for BadChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadChoice::ProposalCount(n) => write!(f, "the answer has {n} proposals, not 1"),
            BadChoice::UnknownProposal(n) => {
                write!(f, "the answer picks proposal #{n}, which we did not send")
            }
            BadChoice::TransformCount(t) => {
                write!(f, "the answer has a wrong number of {t} transforms")
            }
            BadChoice::NotOffered(t) => write!(f, "the answer picks {t}, which we did not offer"),
        }
    }
}

/// Checks, as the initiator, the responder's one-proposal answer against what we `sent`
/// (RFC 7296 2.7: exactly one proposal, one transform per type, all from our offer).
pub fn accept_choice(sent: &[Proposal], answer: &SaRepr) -> Result<Selected, BadChoice> {
    let [chosen] = answer.proposals.as_slice() else {
        return Err(BadChoice::ProposalCount(answer.proposals.len()));
    };
    let ours = sent
        .iter()
        .find(|p| p.number == chosen.number && p.protocol == chosen.protocol)
        .ok_or(BadChoice::UnknownProposal(chosen.number))?;
    for t in &chosen.transforms {
        if !ours.transforms.contains(t) {
            return Err(BadChoice::NotOffered(t.to_string()));
        }
    }
    let one = |ty: TransformType| -> Result<Option<&Transform>, BadChoice> {
        let mut it = chosen.transforms_of(ty);
        let first = it.next();
        if it.next().is_some() {
            return Err(BadChoice::TransformCount(ty));
        }
        let offered = ours.transforms_of(ty).next().is_some();
        if offered && first.is_none() && !matches!(ty, TransformType::Integ | TransformType::Dh) {
            return Err(BadChoice::TransformCount(ty));
        }
        Ok(first)
    };
    let encr = one(TransformType::Encr)?.ok_or(BadChoice::TransformCount(TransformType::Encr))?;
    let encr = (EncrId::from(encr.transform_id), encr.key_length());
    let integ = one(TransformType::Integ)?
        .map(|t| IntegId::from(t.transform_id))
        .filter(|&i| i != IntegId::None);
    if !is_aead(encr.0) && integ.is_none() {
        return Err(BadChoice::TransformCount(TransformType::Integ));
    }
    Ok(Selected {
        number: chosen.number,
        protocol: chosen.protocol,
        spi: chosen.spi.clone(),
        encr,
        prf: one(TransformType::Prf)?.map(|t| PrfId::from(t.transform_id)),
        integ,
        dh: one(TransformType::Dh)?
            .map(|t| DhGroup::from(t.transform_id))
            .filter(|&g| g != DhGroup::None),
        esn: one(TransformType::Esn)?.map(|t| EsnId::from(t.transform_id)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike(encr: &[Encr], prf: &[PrfId], integ: &[IntegId], dh: &[DhGroup]) -> LocalProposal {
        LocalProposal {
            protocol: ProtocolId::Ike,
            encr: encr.to_vec(),
            prf: prf.to_vec(),
            integ: integ.to_vec(),
            dh: dh.to_vec(),
            esn: vec![],
        }
    }

    const GCM256: Encr = (EncrId::AesGcm16, Some(256));
    const GCM128: Encr = (EncrId::AesGcm16, Some(128));
    const CBC256: Encr = (EncrId::AesCbc, Some(256));
    const CBC128: Encr = (EncrId::AesCbc, Some(128));

    fn offer(lp: &LocalProposal) -> SaRepr {
        SaRepr { proposals: lp.to_wire(1, &[]) }
    }

    #[test]
    fn aead_and_plain_ciphers_go_in_separate_proposals() {
        let lp = ike(
            &[GCM256, CBC256],
            &[PrfId::HmacSha2_256],
            &[IntegId::HmacSha2_256_128],
            &[DhGroup::Ecp256, DhGroup::Modp2048],
        );
        let w = lp.to_wire(1, &[]);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].number, 1);
        assert_eq!(
            w[0].to_string(),
            "#1 IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256/MODP_2048"
        );
        assert_eq!(
            w[1].to_string(),
            "#2 IKE:ENCR_AES_CBC_256/PRF_HMAC_SHA2_256/AUTH_HMAC_SHA2_256_128/ECP_256/MODP_2048"
        );
        let esp =
            LocalProposal { protocol: ProtocolId::Esp, prf: vec![], dh: vec![], ..lp.clone() };
        let w = esp.to_wire(1, &[0, 0, 0x10, 1]);
        assert!(w.iter().all(|p| p.transforms_of(TransformType::Esn).count() == 1), "NO_ESN added");
    }

    #[test]
    fn the_local_order_decides_not_the_initiators() {
        // The peer prefers CBC-128 and sends it first; we prefer GCM-256.
        let peer = ike(
            &[CBC128, GCM256],
            &[PrfId::HmacSha1, PrfId::HmacSha2_256],
            &[IntegId::HmacSha1_96],
            &[DhGroup::Modp2048, DhGroup::Ecp256],
        );
        let us = ike(
            &[GCM256, GCM128, CBC256, CBC128],
            &[PrfId::HmacSha2_256, PrfId::HmacSha1],
            &[IntegId::HmacSha2_256_128, IntegId::HmacSha1_96],
            &[DhGroup::Ecp256, DhGroup::Modp2048],
        );
        let s = select(std::slice::from_ref(&us), &offer(&peer), None).unwrap();
        assert_eq!(s.encr, GCM256);
        assert_eq!(s.prf, Some(PrfId::HmacSha2_256));
        assert_eq!(s.integ, None, "AEAD: no integrity transform");
        assert_eq!(s.dh, Some(DhGroup::Ecp256));
        assert_eq!(s.number, 1, "the AEAD proposal was the peer's first");
        // A KE the peer already sent (group 14) wins over our better-ranked group 19.
        let s = select(&[us], &offer(&peer), Some(DhGroup::Modp2048)).unwrap();
        assert_eq!(s.dh, Some(DhGroup::Modp2048));
    }

    #[test]
    fn local_proposals_are_tried_in_priority_order() {
        let strong = ike(&[GCM256], &[PrfId::HmacSha2_384], &[], &[DhGroup::Ecp384]);
        let weak =
            ike(&[CBC128], &[PrfId::HmacSha1], &[IntegId::HmacSha1_96], &[DhGroup::Modp2048]);
        let peer = ike(
            &[CBC128, GCM256],
            &[PrfId::HmacSha1, PrfId::HmacSha2_384],
            &[IntegId::HmacSha1_96],
            &[DhGroup::Modp2048, DhGroup::Ecp384],
        );
        let s = select(&[strong.clone(), weak.clone()], &offer(&peer), None).unwrap();
        assert_eq!((s.encr, s.dh), (GCM256, Some(DhGroup::Ecp384)));
        let s = select(&[weak, strong], &offer(&peer), None).unwrap();
        assert_eq!((s.encr, s.dh), (CBC128, Some(DhGroup::Modp2048)));
    }

    #[test]
    fn no_match_names_both_sides() {
        let us = ike(&[GCM256], &[PrfId::HmacSha2_256], &[], &[DhGroup::Ecp256]);
        let peer =
            ike(&[CBC128], &[PrfId::HmacSha1], &[IntegId::HmacSha1_96], &[DhGroup::Modp1024]);
        let e = select(&[us], &offer(&peer), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no proposal chosen: peer offered [#1 IKE:ENCR_AES_CBC_128/PRF_HMAC_SHA1/AUTH_HMAC_SHA1_96/MODP_1024]; \
             configured [IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256]"
        );
    }

    #[test]
    fn key_lengths_unknown_types_and_aead_with_integrity_do_not_match() {
        let us = ike(
            &[CBC256, GCM256],
            &[PrfId::HmacSha2_256],
            &[IntegId::HmacSha2_256_128],
            &[DhGroup::Ecp256],
        );
        let mut p = offer(&ike(
            &[CBC128],
            &[PrfId::HmacSha2_256],
            &[IntegId::HmacSha2_256_128],
            &[DhGroup::Ecp256],
        ));
        assert!(select(std::slice::from_ref(&us), &p, None).is_err(), "AES-128 is not AES-256");
        p = offer(&ike(
            &[CBC256],
            &[PrfId::HmacSha2_256],
            &[IntegId::HmacSha2_256_128],
            &[DhGroup::Ecp256],
        ));
        p.proposals[0].transforms.push(Transform::new(TransformType::Unknown(9), 1));
        assert!(select(std::slice::from_ref(&us), &p, None).is_err(), "unknown transform type");
        p = offer(&ike(&[GCM256], &[PrfId::HmacSha2_256], &[], &[DhGroup::Ecp256]));
        p.proposals[0]
            .transforms
            .push(Transform::new(TransformType::Integ, IntegId::HmacSha1_96.into()));
        assert!(select(&[us], &p, None).is_err(), "AEAD with an integrity algorithm");
    }

    #[test]
    fn child_sa_pfs_and_esn() {
        let esp = |dh: &[DhGroup], esn: &[EsnId]| LocalProposal {
            protocol: ProtocolId::Esp,
            encr: vec![GCM128],
            prf: vec![],
            integ: vec![],
            dh: dh.to_vec(),
            esn: esn.to_vec(),
        };
        let spi = [0, 0, 0x20, 1];
        // Peer wants PFS with group 19; we do not do PFS: no match.
        let peer = SaRepr {
            proposals: esp(&[DhGroup::Ecp256], &[EsnId::Yes, EsnId::No]).to_wire(1, &spi),
        };
        assert!(select(&[esp(&[], &[EsnId::No])], &peer, None).is_err());
        let s = select(
            &[esp(&[DhGroup::Ecp256], &[EsnId::No, EsnId::Yes])],
            &peer,
            Some(DhGroup::Ecp256),
        )
        .unwrap();
        assert_eq!(
            (s.dh, s.esn, s.spi.clone()),
            (Some(DhGroup::Ecp256), Some(EsnId::No), spi.to_vec())
        );
        // The answer round-trips through the initiator's check.
        let answer = s.to_wire(&[0, 0, 0x30, 1]);
        let back = accept_choice(&peer.proposals, &answer).unwrap();
        assert_eq!(
            (back.encr, back.dh, back.esn),
            (GCM128, Some(DhGroup::Ecp256), Some(EsnId::No))
        );
        assert_eq!(back.spi, vec![0, 0, 0x30, 1]);
    }

    #[test]
    fn the_initiator_refuses_answers_it_did_not_offer() {
        let us = ike(
            &[CBC256],
            &[PrfId::HmacSha2_256],
            &[IntegId::HmacSha2_256_128],
            &[DhGroup::Ecp256],
        );
        let sent = us.to_wire(1, &[]);
        let good = select(std::slice::from_ref(&us), &SaRepr { proposals: sent.clone() }, None)
            .unwrap()
            .to_wire(&[]);
        assert!(accept_choice(&sent, &good).is_ok());
        let mut two = good.clone();
        two.proposals.push(two.proposals[0].clone());
        assert_eq!(accept_choice(&sent, &two), Err(BadChoice::ProposalCount(2)));
        let mut other = good.clone();
        other.proposals[0].transforms[0] = encr_transform(CBC128);
        assert_eq!(
            accept_choice(&sent, &other),
            Err(BadChoice::NotOffered("ENCR_AES_CBC_128".into()))
        );
        let mut renumbered = good.clone();
        renumbered.proposals[0].number = 7;
        assert_eq!(accept_choice(&sent, &renumbered), Err(BadChoice::UnknownProposal(7)));
        let mut no_integ = good;
        no_integ.proposals[0].transforms.retain(|t| t.transform_type != TransformType::Integ);
        assert_eq!(
            accept_choice(&sent, &no_integ),
            Err(BadChoice::TransformCount(TransformType::Integ))
        );
    }
}
