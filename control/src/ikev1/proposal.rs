//! IKEv1 SA offers and their negotiation (RFC 2408 section 4.2, RFC 2409 section 5 and
//! appendix A, RFC 2407 section 4.5).
//!
//! IKEv1 transforms are whole suites: one transform carries the cipher, hash, authentication
//! method, group and lifetime (phase 1) or the cipher, HMAC, mode, PFS group and lifetimes
//! (phase 2), so matching compares suites, not transform types one by one as in IKEv2.
//!
//! As a responder ([`select_phase1`], [`select_phase2`]) the LOCAL priority order decides, as
//! the reference ASA does: our policies are tried in order and the first one that any offered
//! transform matches wins; among the peer's transforms that match it, the peer's order breaks
//! the tie. Every parameter must match exactly, except the lifetime: an offered lifetime
//! shorter than ours is taken as is; a longer one (or none) is accepted and brought down to
//! ours, which the responder announces in a RESPONDER-LIFETIME notify (RFC 2407 section
//! 4.6.3.1), as the ASA and strongSwan do. The answer echoes the chosen transform exactly as
//! offered (RFC 2409 section 5: responders cannot modify the attributes of an offer, except
//! for their encoding).
//!
//! A transform with an attribute this module does not know is skipped: accepting it would
//! claim to honour a parameter that would in fact be ignored.
//!
//! Phase 1 offers are one proposal with many transforms (RFC 2409 section 5: multiple offers
//! "must take the form of multiple Transform Payloads for a single Proposal Payload").
//!
//! As an initiator, [`phase1_offer`] / [`phase2_offer`] write one proposal with one transform
//! per local policy, and [`phase1_from_answer`] / [`phase2_from_answer`] check that the
//! responder picked exactly one of them.

mod phase2;

use core::fmt;
use core::time::Duration;

pub use phase2::{
    DEFAULT_LIFETIME_SECONDS, EncapMode, NatEncap, Phase2Choice, Phase2Policy, esp_transform,
    lifetime_attributes, parse_lifetime_attributes, phase2_from_answer, phase2_offer,
    select_phase2,
};

use super::keys::HashAlg;
use super::wire::{
    AttrValue, Attribute, DOI_IPSEC, KEY_IKE, Proposal, SIT_IDENTITY_ONLY, SaPayload, Transform,
    p1attr, protocol,
};
use crate::crypto::DhGroup;

/// No acceptable proposal (NO-PROPOSAL-CHOSEN), with a log line naming what the peer offered
/// and what we have ("peer offered [#1 aes-256/sha256/group14/psk/86400s]; we have [...]").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoProposal(pub String);

/// Phase-1 authentication methods (RFC 2409 appendix A, RFC 4754 section 3 for ECDSA,
/// draft-beaulieu-ike-xauth section 3 for the XAUTH methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// Pre-shared key (1).
    Psk,
    /// RSA signatures (3).
    RsaSig,
    /// ECDSA signatures on the curve of this many bits: 256 (9), 384 (10) or 521 (11).
    EcdsaSig(u16),
    /// XAUTHInitPreShared (65001): PSK, the initiator is the XAUTH client.
    XauthInitPsk,
    /// XAUTHRespPreShared (65002).
    XauthRespPsk,
    /// XAUTHInitRSA (65005).
    XauthInitRsa,
    /// XAUTHRespRSA (65006).
    XauthRespRsa,
}

impl AuthMethod {
    /// The method for an AUTH_METHOD attribute value; `None` for methods not implemented
    /// (DSS, RSA encryption, hybrid).
    pub const fn from_p1attr(v: u16) -> Option<Self> {
        Some(match v {
            p1attr::AUTH_PSK => AuthMethod::Psk,
            p1attr::AUTH_RSA_SIG => AuthMethod::RsaSig,
            p1attr::AUTH_ECDSA_256 => AuthMethod::EcdsaSig(256),
            p1attr::AUTH_ECDSA_384 => AuthMethod::EcdsaSig(384),
            p1attr::AUTH_ECDSA_521 => AuthMethod::EcdsaSig(521),
            p1attr::AUTH_XAUTH_INIT_PSK => AuthMethod::XauthInitPsk,
            p1attr::AUTH_XAUTH_RESP_PSK => AuthMethod::XauthRespPsk,
            p1attr::AUTH_XAUTH_INIT_RSA => AuthMethod::XauthInitRsa,
            p1attr::AUTH_XAUTH_RESP_RSA => AuthMethod::XauthRespRsa,
            _ => return None,
        })
    }

    /// The AUTH_METHOD attribute value; `None` for an ECDSA curve size other than 256, 384
    /// or 521, which has no code point (such a policy is never offered nor matched).
    pub const fn p1attr(self) -> Option<u16> {
        Some(match self {
            AuthMethod::Psk => p1attr::AUTH_PSK,
            AuthMethod::RsaSig => p1attr::AUTH_RSA_SIG,
            AuthMethod::EcdsaSig(256) => p1attr::AUTH_ECDSA_256,
            AuthMethod::EcdsaSig(384) => p1attr::AUTH_ECDSA_384,
            AuthMethod::EcdsaSig(521) => p1attr::AUTH_ECDSA_521,
            AuthMethod::EcdsaSig(_) => return None,
            AuthMethod::XauthInitPsk => p1attr::AUTH_XAUTH_INIT_PSK,
            AuthMethod::XauthRespPsk => p1attr::AUTH_XAUTH_RESP_PSK,
            AuthMethod::XauthInitRsa => p1attr::AUTH_XAUTH_INIT_RSA,
            AuthMethod::XauthRespRsa => p1attr::AUTH_XAUTH_RESP_RSA,
        })
    }

    /// True for the methods whose SKEYID comes from the pre-shared key
    /// ([`super::keys::skeyid_psk`]); the others sign ([`super::keys::skeyid_sig`]).
    pub const fn uses_psk(self) -> bool {
        matches!(self, AuthMethod::Psk | AuthMethod::XauthInitPsk | AuthMethod::XauthRespPsk)
    }
}

/// One local phase-1 policy (an ASA `crypto ikev1 policy`): AES-CBC with the given key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phase1Policy {
    /// AES-CBC key size: 128, 192 or 256.
    pub encryption_key_bits: u16,
    /// Hash (and PRF).
    pub hash: HashAlg,
    /// Authentication method.
    pub auth: AuthMethod,
    /// Diffie-Hellman group.
    pub group: DhGroup,
    /// ISAKMP SA lifetime.
    pub lifetime: Duration,
}

/// The negotiated phase-1 suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase1Choice {
    /// The matching local policy, with `lifetime` the effective one (the shorter of the
    /// peer's and ours).
    pub policy: Phase1Policy,
    /// The chosen transform's number.
    pub transform_number: u8,
    /// Our lifetime, when the peer offered a longer one (or none): the value of the
    /// RESPONDER-LIFETIME notify to send with the answer.
    pub responder_lifetime: Option<Duration>,
}

/// The initiator's phase-1 SA: one ISAKMP proposal (empty SPI) with one KEY_IKE transform
/// per policy, numbered from 1, in policy order. Policies with an ECDSA size that has no code
/// point are left out; at most 255 transforms fit.
pub fn phase1_offer(policies: &[Phase1Policy]) -> SaPayload {
    let transforms = policies
        .iter()
        .filter_map(|p| p1_attributes(p).map(|a| (p, a)))
        .take(usize::from(u8::MAX))
        .enumerate()
        .map(|(i, (_, attributes))| Transform {
            number: u8::try_from(i + 1).unwrap_or(u8::MAX),
            id: KEY_IKE,
            attributes,
        })
        .collect();
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: protocol::ISAKMP,
            spi: vec![],
            transforms,
        }],
    }
}

fn p1_attributes(p: &Phase1Policy) -> Option<Vec<Attribute>> {
    Some(vec![
        Attribute::basic(p1attr::ENCRYPTION, p1attr::ENC_AES_CBC),
        Attribute::basic(p1attr::KEY_LENGTH, p.encryption_key_bits),
        Attribute::basic(p1attr::HASH, p.hash.p1attr()),
        Attribute::basic(p1attr::AUTH_METHOD, p.auth.p1attr()?),
        Attribute::basic(p1attr::GROUP, p.group.iana()),
        Attribute::basic(p1attr::LIFE_TYPE, p1attr::LIFE_SECONDS),
        Attribute::number(p1attr::LIFE_DURATION, p.lifetime.as_secs()),
    ])
}

/// A phase-1 transform's attributes, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct P1Suite {
    encryption: u16,
    key_bits: Option<u16>,
    hash: u16,
    auth: u16,
    group: u16,
    /// Seconds; `None` when the transform has no seconds lifetime.
    life_seconds: Option<u64>,
}

/// Reads a phase-1 transform; `Err` says why it cannot be accepted.
fn parse_p1(t: &Transform) -> Result<P1Suite, String> {
    if t.id != KEY_IKE {
        return Err(format!("transform ID {} is not KEY_IKE", t.id));
    }
    let mut a = Attrs::new(p1attr::LIFE_SECONDS, p1attr::LIFE_KILOBYTES);
    for attr in &t.attributes {
        match attr.kind {
            p1attr::ENCRYPTION
            | p1attr::HASH
            | p1attr::AUTH_METHOD
            | p1attr::GROUP
            | p1attr::KEY_LENGTH => a.set(attr)?,
            p1attr::LIFE_TYPE => a.life_type(attr)?,
            p1attr::LIFE_DURATION => a.life_duration(attr)?,
            other => return Err(format!("unknown attribute {other}")),
        }
    }
    a.finish()?;
    let need = |kind: u16, name: &str| a.get(kind).ok_or_else(|| format!("no {name} attribute"));
    Ok(P1Suite {
        encryption: need(p1attr::ENCRYPTION, "encryption")?,
        key_bits: a.get(p1attr::KEY_LENGTH),
        hash: need(p1attr::HASH, "hash")?,
        auth: need(p1attr::AUTH_METHOD, "authentication")?,
        group: need(p1attr::GROUP, "group")?,
        life_seconds: a.seconds,
    })
}

impl P1Suite {
    /// Same suite as `p`, lifetime aside. AES-CBC without KEY_LENGTH is AES-128, as lenient
    /// peers read it.
    fn matches(&self, p: &Phase1Policy) -> bool {
        self.encryption == p1attr::ENC_AES_CBC
            && self.key_bits.unwrap_or(128) == p.encryption_key_bits
            && self.hash == p.hash.p1attr()
            && Some(self.auth) == p.auth.p1attr()
            && self.group == p.group.iana()
    }
}

impl fmt::Display for P1Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.encryption {
            p1attr::ENC_AES_CBC => write!(f, "aes-{}", self.key_bits.unwrap_or(128))?,
            p1attr::ENC_3DES_CBC => f.write_str("3des")?,
            1 => f.write_str("des")?,
            other => write!(f, "cipher{other}")?,
        }
        match HashAlg::from_p1attr(self.hash) {
            Some(h) => write!(f, "/{h}")?,
            None => write!(f, "/hash{}", self.hash)?,
        }
        write!(f, "/group{}/", self.group)?;
        match AuthMethod::from_p1attr(self.auth) {
            Some(a) => write!(f, "{}", AuthName(a))?,
            None => write!(f, "auth{}", self.auth)?,
        }
        match self.life_seconds {
            Some(s) => write!(f, "/{s}s"),
            None => f.write_str("/no-lifetime"),
        }
    }
}

struct AuthName(AuthMethod);

impl fmt::Display for AuthName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AuthMethod::Psk => f.write_str("psk"),
            AuthMethod::RsaSig => f.write_str("rsa-sig"),
            AuthMethod::EcdsaSig(bits) => write!(f, "ecdsa-{bits}"),
            AuthMethod::XauthInitPsk => f.write_str("xauth-init-psk"),
            AuthMethod::XauthRespPsk => f.write_str("xauth-resp-psk"),
            AuthMethod::XauthInitRsa => f.write_str("xauth-init-rsa"),
            AuthMethod::XauthRespRsa => f.write_str("xauth-resp-rsa"),
        }
    }
}

impl fmt::Display for Phase1Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "aes-{}/{}/group{}/{}/{}s",
            self.encryption_key_bits,
            self.hash,
            self.group.iana(),
            AuthName(self.auth),
            self.lifetime.as_secs()
        )
    }
}

/// The SA payload header fields every IPsec-DOI negotiation requires.
fn check_doi(sa: &SaPayload) -> Result<(), NoProposal> {
    if sa.doi != DOI_IPSEC {
        return Err(NoProposal(format!("peer offered DOI {}, not IPsec (1)", sa.doi)));
    }
    if sa.situation != SIT_IDENTITY_ONLY {
        return Err(NoProposal(format!(
            "peer offered situation {:#x}, only SIT_IDENTITY_ONLY (1) is supported",
            sa.situation
        )));
    }
    Ok(())
}

/// The effective lifetime from an offered one and ours (0: no limit of ours), and whether
/// the offer was longer than ours (so a RESPONDER-LIFETIME is due). An absent offer counts as
/// unlimited.
fn effective_lifetime(offered: Option<u64>, ours: u64) -> (u64, bool) {
    match offered {
        _ if ours == 0 => (offered.unwrap_or(0), false),
        Some(o) if o <= ours => (o, false),
        _ => (ours, true),
    }
}

/// Picks, as the responder, the phase-1 transform to accept (see the module doc). Returns the
/// choice and the answer: the same proposal with only the chosen transform, as offered.
pub fn select_phase1(
    offer: &SaPayload,
    ours: &[Phase1Policy],
) -> Result<(Phase1Choice, SaPayload), NoProposal> {
    check_doi(offer)?;
    let offered: Vec<(&Proposal, &Transform, Result<P1Suite, String>)> = offer
        .proposals
        .iter()
        .filter(|p| p.protocol == protocol::ISAKMP)
        .flat_map(|p| p.transforms.iter().map(move |t| (p, t, parse_p1(t))))
        .collect();
    for policy in ours {
        let found = offered.iter().find_map(|(p, t, s)| match s {
            Ok(s) if s.matches(policy) => Some((*p, *t, s)),
            _ => None,
        });
        let Some((prop, t, suite)) = found else { continue };
        let ours_secs = policy.lifetime.as_secs();
        let (secs, longer) = effective_lifetime(suite.life_seconds, ours_secs);
        let choice = Phase1Choice {
            policy: Phase1Policy { lifetime: Duration::from_secs(secs), ..*policy },
            transform_number: t.number,
            responder_lifetime: longer.then(|| Duration::from_secs(ours_secs)),
        };
        let answer = SaPayload {
            doi: offer.doi,
            situation: offer.situation,
            proposals: vec![Proposal { transforms: vec![t.clone()], ..prop.clone() }],
        };
        return Ok((choice, answer));
    }
    let described: Vec<String> = offered
        .iter()
        .map(|(_, t, s)| match s {
            Ok(s) => format!("#{} {s}", t.number),
            Err(why) => format!("#{} ({why})", t.number),
        })
        .collect();
    Err(NoProposal(format!(
        "peer offered [{}]; we have [{}]",
        if described.is_empty() { "no ISAKMP transform".to_owned() } else { described.join(", ") },
        join(ours)
    )))
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Checks, as the initiator, the responder's phase-1 answer: exactly one ISAKMP proposal with
/// one transform whose suite is one of the `offered` policies and whose lifetime is not longer
/// than the one we offered with it (a shorter one is taken; none means ours).
pub fn phase1_from_answer(
    answer: &SaPayload,
    offered: &[Phase1Policy],
) -> Result<Phase1Choice, NoProposal> {
    check_doi(answer)?;
    let (_, t) = single_transform(answer, protocol::ISAKMP)?;
    let suite = parse_p1(t).map_err(|why| {
        NoProposal(format!("the answer's transform #{} is unacceptable: {why}", t.number))
    })?;
    let policy = offered.iter().find(|p| suite.matches(p)).ok_or_else(|| {
        NoProposal(format!("the answer picks {suite}, which we did not offer ({})", join(offered)))
    })?;
    let ours = policy.lifetime.as_secs();
    let (secs, longer) = effective_lifetime(suite.life_seconds, ours);
    if longer && suite.life_seconds.is_some() {
        return Err(NoProposal(format!(
            "the answer raises the lifetime to {}s, we offered {ours}s",
            suite.life_seconds.unwrap_or(0)
        )));
    }
    Ok(Phase1Choice {
        policy: Phase1Policy { lifetime: Duration::from_secs(secs), ..*policy },
        transform_number: t.number,
        responder_lifetime: None,
    })
}

/// The proposal and transform of a one-proposal, one-transform answer of `protocol`.
fn single_transform(
    answer: &SaPayload,
    protocol: u8,
) -> Result<(&Proposal, &Transform), NoProposal> {
    let [p] = answer.proposals.as_slice() else {
        return Err(NoProposal(format!(
            "the answer has {} proposals, not 1",
            answer.proposals.len()
        )));
    };
    if p.protocol != protocol {
        return Err(NoProposal(format!(
            "the answer's proposal is for protocol {}, not {protocol}",
            p.protocol
        )));
    }
    let [t] = p.transforms.as_slice() else {
        return Err(NoProposal(format!("the answer has {} transforms, not 1", p.transforms.len())));
    };
    Ok((p, t))
}

/// Attribute reader shared by both phases: each suite attribute at most once, lifetimes as
/// LIFE_TYPE / LIFE_DURATION pairs (RFC 2407 section 4.5: a duration applies to the type just
/// before it), each type at most once.
struct Attrs {
    values: Vec<(u16, u16)>,
    pending_life: Option<u16>,
    seconds_type: u16,
    kilobytes_type: u16,
    seconds: Option<u64>,
    kilobytes: Option<u64>,
}

impl Attrs {
    /// A reader for a phase whose LIFE_TYPE values for seconds and kilobytes are these.
    fn new(seconds_type: u16, kilobytes_type: u16) -> Self {
        Attrs {
            values: Vec::new(),
            pending_life: None,
            seconds_type,
            kilobytes_type,
            seconds: None,
            kilobytes: None,
        }
    }

    /// Records a 16-bit suite attribute (basic, or a variable one that fits 16 bits).
    fn set(&mut self, attr: &Attribute) -> Result<(), String> {
        let v = attr
            .value
            .as_u64()
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| format!("attribute {} has a malformed value", attr.kind))?;
        if self.get(attr.kind).is_some() {
            return Err(format!("attribute {} repeated", attr.kind));
        }
        self.values.push((attr.kind, v));
        Ok(())
    }

    fn get(&self, kind: u16) -> Option<u16> {
        self.values.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }

    fn life_type(&mut self, attr: &Attribute) -> Result<(), String> {
        if self.pending_life.is_some() {
            return Err("life type without a duration".to_owned());
        }
        match attr.value {
            AttrValue::Basic(v) if v == self.seconds_type || v == self.kilobytes_type => {
                self.pending_life = Some(v);
                Ok(())
            }
            _ => Err("unknown life type".to_owned()),
        }
    }

    fn life_duration(&mut self, attr: &Attribute) -> Result<(), String> {
        let ty = self.pending_life.take().ok_or("life duration without a life type")?;
        let v = attr.value.as_u64().filter(|&v| v > 0).ok_or("malformed life duration")?;
        let slot = if ty == self.seconds_type { &mut self.seconds } else { &mut self.kilobytes };
        if slot.replace(v).is_some() {
            return Err("lifetime repeated".to_owned());
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), String> {
        match self.pending_life {
            Some(_) => Err("life type without a duration".to_owned()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
