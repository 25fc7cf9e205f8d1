//! Phase-2 (Quick Mode) ESP offers and their negotiation (RFC 2407 sections 4.4.4 and 4.5,
//! RFC 3947 section 5 for the UDP encapsulation modes). See the parent module for the rules.

use core::fmt;

use super::{Attrs, NoProposal, check_doi, effective_lifetime, join, single_transform};
use crate::crypto::DhGroup;
use crate::esp::{UnsupportedEsp, dataplane_transform};
use crate::ikev1::wire::{
    Attribute, DOI_IPSEC, Proposal, SIT_IDENTITY_ONLY, SaPayload, Transform, esp_id, p2attr,
    protocol,
};
use crate::ikev2::wire::{EncrId, IntegId};

/// The default SA lifetime when an offer names none: 28800 seconds (RFC 2407 section 4.5).
pub const DEFAULT_LIFETIME_SECONDS: u64 = 28800;

/// Tunnel or transport mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncapMode {
    /// Tunnel mode.
    Tunnel,
    /// Transport mode.
    Transport,
}

/// Which ENCAPSULATION_MODE numbers carry the mode: plain ESP, or ESP in UDP as RFC 3947
/// numbers it or as the NAT-T drafts did (older Cisco and Windows peers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatEncap {
    /// No NAT: 1 (tunnel) / 2 (transport).
    None,
    /// RFC 3947: 3 / 4.
    Rfc3947,
    /// draft-ietf-ipsec-nat-t-ike-02/03: 61443 / 61444.
    Draft,
}

impl NatEncap {
    /// The ENCAPSULATION_MODE value for `mode` in this family.
    pub const fn encap_mode(self, mode: EncapMode) -> u16 {
        match (self, mode) {
            (NatEncap::None, EncapMode::Tunnel) => p2attr::ENCAP_TUNNEL,
            (NatEncap::None, EncapMode::Transport) => p2attr::ENCAP_TRANSPORT,
            (NatEncap::Rfc3947, EncapMode::Tunnel) => p2attr::ENCAP_UDP_TUNNEL,
            (NatEncap::Rfc3947, EncapMode::Transport) => p2attr::ENCAP_UDP_TRANSPORT,
            (NatEncap::Draft, EncapMode::Tunnel) => p2attr::ENCAP_UDP_TUNNEL_DRAFT,
            (NatEncap::Draft, EncapMode::Transport) => p2attr::ENCAP_UDP_TRANSPORT_DRAFT,
        }
    }

    /// The mode and family of an ENCAPSULATION_MODE value.
    pub const fn from_encap_mode(v: u16) -> Option<(EncapMode, NatEncap)> {
        Some(match v {
            p2attr::ENCAP_TUNNEL => (EncapMode::Tunnel, NatEncap::None),
            p2attr::ENCAP_TRANSPORT => (EncapMode::Transport, NatEncap::None),
            p2attr::ENCAP_UDP_TUNNEL => (EncapMode::Tunnel, NatEncap::Rfc3947),
            p2attr::ENCAP_UDP_TRANSPORT => (EncapMode::Transport, NatEncap::Rfc3947),
            p2attr::ENCAP_UDP_TUNNEL_DRAFT => (EncapMode::Tunnel, NatEncap::Draft),
            p2attr::ENCAP_UDP_TRANSPORT_DRAFT => (EncapMode::Transport, NatEncap::Draft),
            _ => return None,
        })
    }
}

/// One local ESP transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phase2Policy {
    /// ESP transform ID ([`esp_id`]).
    pub esp_id: u8,
    /// KEY_LENGTH in bits (AES; `None` for fixed-key ciphers).
    pub key_bits: Option<u16>,
    /// AUTH_ALG ([`p2attr`] `AUTH_*`); `None` for the combined-mode (GCM, GMAC) ciphers.
    pub auth: Option<u16>,
    /// Tunnel or transport.
    pub mode: EncapMode,
    /// The PFS group, if any.
    pub pfs: Option<DhGroup>,
    /// SA lifetime in seconds; 0: none.
    pub lifetime_seconds: u64,
    /// SA lifetime in kilobytes; 0: none.
    pub lifetime_kilobytes: u64,
}

/// The negotiated phase-2 suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase2Choice {
    /// The matching local policy with the effective lifetimes (the shorter of the peer's and
    /// ours; 0: no limit).
    pub policy: Phase2Policy,
    /// The peer's SPI: the SPI of the SA we send on.
    pub peer_spi: u32,
    /// The chosen proposal's number.
    pub proposal_number: u8,
    /// The chosen transform's number.
    pub transform_number: u8,
    /// The encapsulation family the chosen transform used.
    pub nat: NatEncap,
    /// Our (seconds, kilobytes) lifetimes, 0 meaning none, when the peer offered a longer
    /// one of either: the RESPONDER-LIFETIME notify to send with the answer.
    pub responder_lifetime: Option<(u64, u64)>,
}

/// AES transforms read a missing KEY_LENGTH as 128 bits (lenient, as strongSwan), the others
/// have no key length.
const fn default_key_bits(id: u8) -> Option<u16> {
    match id {
        esp_id::ESP_AES_CBC
        | esp_id::ESP_AES_CTR
        | esp_id::ESP_AES_GCM_8
        | esp_id::ESP_AES_GCM_12
        | esp_id::ESP_AES_GCM_16
        | esp_id::ESP_NULL_AUTH_AES_GMAC => Some(128),
        _ => None,
    }
}

/// The LIFE_TYPE / LIFE_DURATION pairs of a phase-2 lifetime (zero: none of that kind), as
/// a transform and the RESPONDER-LIFETIME notify carry them.
pub fn lifetime_attributes(seconds: u64, kilobytes: u64) -> Vec<Attribute> {
    let mut a = Vec::new();
    if seconds > 0 {
        a.push(Attribute::basic(p2attr::LIFE_TYPE, p2attr::LIFE_SECONDS));
        a.push(Attribute::number(p2attr::LIFE_DURATION, seconds));
    }
    if kilobytes > 0 {
        a.push(Attribute::basic(p2attr::LIFE_TYPE, p2attr::LIFE_KILOBYTES));
        a.push(Attribute::number(p2attr::LIFE_DURATION, kilobytes));
    }
    a
}

/// The phase-2 lifetimes (seconds, kilobytes) a list of LIFE_TYPE / LIFE_DURATION pairs
/// gives, with the transform's rules (pairs in order, each kind once); other attributes
/// are ignored.
pub fn parse_lifetime_attributes(
    attrs: &[Attribute],
) -> Result<(Option<u64>, Option<u64>), String> {
    let mut a = Attrs::new(p2attr::LIFE_SECONDS, p2attr::LIFE_KILOBYTES);
    for attr in attrs {
        match attr.kind {
            p2attr::LIFE_TYPE => a.life_type(attr)?,
            p2attr::LIFE_DURATION => a.life_duration(attr)?,
            _ => {}
        }
    }
    a.finish()?;
    Ok((a.seconds, a.kilobytes))
}

fn p2_attributes(p: &Phase2Policy, nat: NatEncap) -> Vec<Attribute> {
    let mut a = lifetime_attributes(p.lifetime_seconds, p.lifetime_kilobytes);
    if let Some(g) = p.pfs {
        a.push(Attribute::basic(p2attr::GROUP, g.iana()));
    }
    a.push(Attribute::basic(p2attr::ENCAP_MODE, nat.encap_mode(p.mode)));
    if let Some(auth) = p.auth {
        a.push(Attribute::basic(p2attr::AUTH_ALG, auth));
    }
    if let Some(bits) = p.key_bits {
        a.push(Attribute::basic(p2attr::KEY_LENGTH, bits));
    }
    a
}

/// The initiator's Quick Mode SA: one ESP proposal with our inbound `spi` and one transform
/// per policy, numbered from 1 (at most 255), each with its lifetimes (seconds and kilobytes
/// when non-zero), its PFS group and the ENCAPSULATION_MODE of `nat`'s family. All PFS
/// groups should be the same: Quick Mode carries one KE payload (RFC 2409 section 5.5).
pub fn phase2_offer(spi: u32, policies: &[Phase2Policy], nat: NatEncap) -> SaPayload {
    let transforms = policies
        .iter()
        .take(usize::from(u8::MAX))
        .enumerate()
        .map(|(i, p)| Transform {
            number: u8::try_from(i + 1).unwrap_or(u8::MAX),
            id: p.esp_id,
            attributes: p2_attributes(p, nat),
        })
        .collect();
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: protocol::ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        }],
    }
}

/// An ESP transform's attributes, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct P2Suite {
    esp_id: u8,
    key_bits: Option<u16>,
    auth: Option<u16>,
    /// `None` when the transform has no ENCAPSULATION_MODE ("host-dependent", RFC 2407
    /// section 4.5): it then takes our policy's mode without UDP encapsulation.
    encap: Option<(EncapMode, NatEncap)>,
    group: Option<u16>,
    seconds: Option<u64>,
    kilobytes: Option<u64>,
}

fn parse_p2(t: &Transform) -> Result<P2Suite, String> {
    let mut a = Attrs::new(p2attr::LIFE_SECONDS, p2attr::LIFE_KILOBYTES);
    for attr in &t.attributes {
        match attr.kind {
            p2attr::GROUP | p2attr::ENCAP_MODE | p2attr::AUTH_ALG | p2attr::KEY_LENGTH => {
                a.set(attr)?;
            }
            p2attr::LIFE_TYPE => a.life_type(attr)?,
            p2attr::LIFE_DURATION => a.life_duration(attr)?,
            other => return Err(format!("unknown attribute {other}")),
        }
    }
    a.finish()?;
    let encap = match a.get(p2attr::ENCAP_MODE) {
        Some(v) => {
            Some(NatEncap::from_encap_mode(v).ok_or_else(|| format!("unknown encapsulation {v}"))?)
        }
        None => None,
    };
    Ok(P2Suite {
        esp_id: t.id,
        key_bits: a.get(p2attr::KEY_LENGTH),
        auth: a.get(p2attr::AUTH_ALG),
        encap,
        group: a.get(p2attr::GROUP),
        seconds: a.seconds,
        kilobytes: a.kilobytes,
    })
}

impl P2Suite {
    /// Same suite as `p`, lifetimes and encapsulation family aside.
    fn matches(&self, p: &Phase2Policy) -> bool {
        self.esp_id == p.esp_id
            && self.key_bits.or(default_key_bits(self.esp_id))
                == p.key_bits.or(default_key_bits(p.esp_id))
            && self.auth == p.auth
            && self.group == p.pfs.map(DhGroup::iana)
            && self.encap.is_none_or(|(mode, _)| mode == p.mode)
    }

    fn nat(&self) -> NatEncap {
        self.encap.map_or(NatEncap::None, |(_, n)| n)
    }
}

fn esp_name(id: u8) -> String {
    match id {
        esp_id::ESP_DES => "des".into(),
        esp_id::ESP_3DES => "3des".into(),
        esp_id::ESP_NULL => "null".into(),
        esp_id::ESP_AES_CBC => "aes".into(),
        esp_id::ESP_AES_CTR => "aes-ctr".into(),
        esp_id::ESP_AES_GCM_8 => "aes-gcm-8".into(),
        esp_id::ESP_AES_GCM_12 => "aes-gcm-12".into(),
        esp_id::ESP_AES_GCM_16 => "aes-gcm-16".into(),
        esp_id::ESP_NULL_AUTH_AES_GMAC => "aes-gmac".into(),
        other => format!("esp{other}"),
    }
}

fn auth_name(v: u16) -> String {
    match v {
        p2attr::AUTH_HMAC_MD5 => "md5".into(),
        p2attr::AUTH_HMAC_SHA1 => "sha1".into(),
        p2attr::AUTH_HMAC_SHA2_256 => "sha256".into(),
        p2attr::AUTH_HMAC_SHA2_384 => "sha384".into(),
        p2attr::AUTH_HMAC_SHA2_512 => "sha512".into(),
        other => format!("auth{other}"),
    }
}

/// "aes-256/sha256/tunnel/group14/3600s/4608000kB" — the shared log format of both sides.
fn describe(
    f: &mut fmt::Formatter<'_>,
    id: u8,
    key_bits: Option<u16>,
    auth: Option<u16>,
    encap: Option<(EncapMode, NatEncap)>,
    group: Option<u16>,
) -> fmt::Result {
    f.write_str(&esp_name(id))?;
    if let Some(b) = key_bits {
        write!(f, "-{b}")?;
    }
    if let Some(a) = auth {
        write!(f, "/{}", auth_name(a))?;
    }
    match encap {
        Some((mode, nat)) => {
            f.write_str(if mode == EncapMode::Tunnel { "/tunnel" } else { "/transport" })?;
            f.write_str(match nat {
                NatEncap::None => "",
                NatEncap::Rfc3947 => "-udp",
                NatEncap::Draft => "-udp-draft",
            })?;
        }
        None => f.write_str("/no-mode")?,
    }
    if let Some(g) = group {
        write!(f, "/group{g}")?;
    }
    Ok(())
}

fn lifetimes(f: &mut fmt::Formatter<'_>, seconds: u64, kilobytes: u64) -> fmt::Result {
    if seconds > 0 {
        write!(f, "/{seconds}s")?;
    }
    if kilobytes > 0 {
        write!(f, "/{kilobytes}kB")?;
    }
    Ok(())
}

impl fmt::Display for P2Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(f, self.esp_id, self.key_bits, self.auth, self.encap, self.group)?;
        lifetimes(f, self.seconds.unwrap_or(0), self.kilobytes.unwrap_or(0))
    }
}

impl fmt::Display for Phase2Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = self.pfs.map(DhGroup::iana);
        describe(
            f,
            self.esp_id,
            self.key_bits,
            self.auth,
            Some((self.mode, NatEncap::None)),
            group,
        )?;
        lifetimes(f, self.lifetime_seconds, self.lifetime_kilobytes)
    }
}

/// The effective (seconds, kilobytes) and whether either offer exceeded ours. No seconds
/// lifetime in the offer means the RFC 2407 default; no kilobytes lifetime means none.
fn effective_p2(s: &P2Suite, p: &Phase2Policy) -> ((u64, u64), bool) {
    let offered_secs = s.seconds.or(Some(DEFAULT_LIFETIME_SECONDS));
    let (secs, longer_s) = effective_lifetime(offered_secs, p.lifetime_seconds);
    let (kb, longer_kb) = effective_lifetime(s.kilobytes, p.lifetime_kilobytes);
    ((secs, kb), longer_s || longer_kb)
}

/// The ESP proposals of an offer that can be accepted alone: protocol ESP with a 4-byte SPI,
/// and no other proposal sharing the number (proposals with one number are a bundle, e.g.
/// IPComp + ESP or AH + ESP, RFC 2408 section 4.2, which is all or nothing).
fn lone_esp_proposals(offer: &SaPayload) -> impl Iterator<Item = (&Proposal, u32)> {
    offer.proposals.iter().filter_map(|p| {
        let alone = offer.proposals.iter().filter(|q| q.number == p.number).count() == 1;
        let spi: [u8; 4] = p.spi.as_slice().try_into().ok()?;
        (alone && p.protocol == protocol::ESP).then_some((p, u32::from_be_bytes(spi)))
    })
}

/// Picks, as the responder, the Quick Mode transform to accept (see the parent module doc).
/// `our_spi` goes into the answer. Both encapsulation families are accepted whatever
/// `nat_detected` says (lenient, as strongSwan: the peer knows whether it is behind a NAT, and
/// its choice is echoed and recorded); when the peer offers the same suite in both, the one
/// matching `nat_detected` wins.
pub fn select_phase2(
    offer: &SaPayload,
    ours: &[Phase2Policy],
    our_spi: u32,
    nat_detected: bool,
) -> Result<(Phase2Choice, SaPayload), NoProposal> {
    check_doi(offer)?;
    let offered: Vec<(&Proposal, u32, &Transform, Result<P2Suite, String>)> =
        lone_esp_proposals(offer)
            .flat_map(|(p, spi)| p.transforms.iter().map(move |t| (p, spi, t, parse_p2(t))))
            .collect();
    let fits_nat = |s: &P2Suite| (s.nat() != NatEncap::None) == nat_detected;
    for policy in ours {
        let mut candidates = offered.iter().filter_map(|(p, spi, t, s)| match s {
            Ok(s) if s.matches(policy) => Some((*p, *spi, *t, s)),
            _ => None,
        });
        let first = candidates.next();
        let preferred = first
            .filter(|c| fits_nat(c.3))
            .or_else(|| candidates.find(|c| fits_nat(c.3)))
            .or(first);
        let Some((prop, peer_spi, t, suite)) = preferred else { continue };
        let ((secs, kb), longer) = effective_p2(suite, policy);
        let choice = Phase2Choice {
            policy: Phase2Policy { lifetime_seconds: secs, lifetime_kilobytes: kb, ..*policy },
            peer_spi,
            proposal_number: prop.number,
            transform_number: t.number,
            nat: suite.nat(),
            responder_lifetime: longer.then_some((secs, kb)),
        };
        let answer = SaPayload {
            doi: offer.doi,
            situation: offer.situation,
            proposals: vec![Proposal {
                number: prop.number,
                protocol: protocol::ESP,
                spi: our_spi.to_be_bytes().to_vec(),
                transforms: vec![t.clone()],
            }],
        };
        return Ok((choice, answer));
    }
    let described: Vec<String> = offered
        .iter()
        .map(|(p, _, t, s)| match s {
            Ok(s) => format!("#{}.{} {s}", p.number, t.number),
            Err(why) => format!("#{}.{} ({why})", p.number, t.number),
        })
        .collect();
    Err(NoProposal(format!(
        "peer offered [{}]; we have [{}]",
        if described.is_empty() { "no ESP transform".to_owned() } else { described.join(", ") },
        join(ours)
    )))
}

/// Checks, as the initiator, the responder's Quick Mode answer: one ESP proposal with a 4-byte
/// SPI (the peer's) and one transform equal to one we `offered`, its lifetimes no longer than
/// ours (shorter ones are taken; absent ones mean ours). The encapsulation family is read
/// from the answer, leniently as on the responder side: the choice's `nat` says which one the
/// responder echoed, for the caller to compare with what NAT-D found.
pub fn phase2_from_answer(
    answer: &SaPayload,
    offered: &[Phase2Policy],
) -> Result<Phase2Choice, NoProposal> {
    check_doi(answer)?;
    let (prop, t) = single_transform(answer, protocol::ESP)?;
    let spi: [u8; 4] = prop
        .spi
        .as_slice()
        .try_into()
        .map_err(|_| NoProposal("the answer's ESP SPI is not 4 bytes".to_owned()))?;
    let suite = parse_p2(t).map_err(|why| {
        NoProposal(format!("the answer's transform #{} is unacceptable: {why}", t.number))
    })?;
    let policy = offered.iter().find(|p| suite.matches(p)).ok_or_else(|| {
        NoProposal(format!("the answer picks {suite}, which we did not offer ({})", join(offered)))
    })?;
    let raised = |answered: Option<u64>, ours: u64| answered.is_some_and(|a| ours > 0 && a > ours);
    if raised(suite.seconds, policy.lifetime_seconds)
        || raised(suite.kilobytes, policy.lifetime_kilobytes)
    {
        return Err(NoProposal(format!("the answer {suite} raises the lifetimes of {policy}")));
    }
    Ok(Phase2Choice {
        policy: Phase2Policy {
            lifetime_seconds: suite.seconds.unwrap_or(policy.lifetime_seconds),
            lifetime_kilobytes: suite.kilobytes.unwrap_or(policy.lifetime_kilobytes),
            ..*policy
        },
        peer_spi: u32::from_be_bytes(spi),
        proposal_number: prop.number,
        transform_number: t.number,
        nat: suite.nat(),
        responder_lifetime: None,
    })
}

/// The dataplane transform of a negotiated policy: the ESP transform IDs are IKEv2's ENCR
/// IDs (RFC 2407 4.4.4 and the IKEv2 registry share the numbers), AUTH_ALG maps to the
/// equivalent IKEv2 integrity algorithm. HMAC-MD5 and unknown AUTH_ALG values are refused
/// (the dataplane runs neither).
pub fn esp_transform(p: &Phase2Policy) -> Result<dataplane::crypto::Transform, UnsupportedEsp> {
    let integ = p.auth.map(|a| match a {
        p2attr::AUTH_HMAC_MD5 => IntegId::HmacMd5_96,
        p2attr::AUTH_HMAC_SHA1 => IntegId::HmacSha1_96,
        p2attr::AUTH_HMAC_SHA2_256 => IntegId::HmacSha2_256_128,
        p2attr::AUTH_HMAC_SHA2_384 => IntegId::HmacSha2_384_192,
        p2attr::AUTH_HMAC_SHA2_512 => IntegId::HmacSha2_512_256,
        // No IKEv2 number: an ID the dataplane mapping refuses by name.
        other => IntegId::Unknown(other),
    });
    let encr = EncrId::from(u16::from(p.esp_id));
    dataplane_transform((encr, p.key_bits.or(default_key_bits(p.esp_id))), integ)
}
