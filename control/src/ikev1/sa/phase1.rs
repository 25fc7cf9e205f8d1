//! Phase 1 (RFC 2409 sections 5 and 5.4): Main Mode and Aggressive Mode with pre-shared
//! keys, NAT-T detection and floating (RFC 3947 sections 3 and 4).
//!
//! Main Mode:                           Aggressive Mode:
//!   I -> R  SA, VID                      I -> R  SA, KE, Ni, IDii, VID
//!   R -> I  SA, VID                      R -> I  SA, KE, Nr, IDir, HASH_R, NAT-D, VID
//!   I -> R  KE, Ni, NAT-D                I -> R  [HASH_I, NAT-D] (encrypted)
//!   R -> I  KE, Nr, NAT-D
//!   I -> R  [IDii, HASH_I, N(INITIAL-CONTACT)]
//!   R -> I  [IDir, HASH_R]

use core::net::SocketAddr;

use rand_core::CryptoRng;

use crate::crypto::{DhPrivate, SecretBytes};
use crate::ikev1::crypt::Phase1Cipher;
use crate::ikev1::keys::{self, Phase1Keys};
use crate::ikev1::proposal::{
    AuthMethod, Phase1Choice, Phase1Policy, phase1_from_answer, phase1_offer, select_phase1,
};
use crate::ikev1::wire::{
    ExchangeType, Header, ISAKMP_VERSION, Identification, Notification, Parsed, Payload,
    PayloadType, assemble, emit_payloads, notify, protocol, vendor,
};
use crate::ikev2::proposal::Selected;
use crate::ikev2::sa::{AuthInfo, Event, FailureCause, IkeSaInfo, ProtocolError, Transmit};
use crate::ikev2::wire::{DhGroup as WireDh, EncrId, IdRepr, IdType, PrfId, ProtocolId};
use crate::log::IKEV1;
use crate::time::Time;

use super::cert::is_signature;
use super::protect::{Isakmp, nat_d, raw_body};
use super::{Accept, Ikev1Sa, Phase1Mode, find, index_of};

/// IKEv1 nonces: 32 octets (RFC 2409 section 5: between 8 and 256).
pub(super) const NONCE_LEN: usize = 32;

/// Where phase 1 stands.
pub(super) enum Phase1 {
    Start,
    /// Initiator: Main Mode message 1 sent.
    MainSent1 {
        sa_i_b: Vec<u8>,
    },
    /// Initiator: message 3 sent.
    MainSent3 {
        sa_i_b: Vec<u8>,
        choice: Phase1Choice,
        dh: DhPrivate,
        ni: Vec<u8>,
    },
    /// Initiator: message 5 sent.
    MainSent5 {
        sa_i_b: Vec<u8>,
        choice: Phase1Choice,
        g_xi: Vec<u8>,
        g_xr: Vec<u8>,
    },
    /// Responder: message 2 sent.
    RespSent2 {
        sa_i_b: Vec<u8>,
        choice: Phase1Choice,
    },
    /// Responder: message 4 sent.
    RespSent4 {
        sa_i_b: Vec<u8>,
        choice: Phase1Choice,
        g_xi: Vec<u8>,
        g_xr: Vec<u8>,
    },
    /// Initiator: Aggressive Mode message 1 sent.
    AggrSent1 {
        sa_i_b: Vec<u8>,
        offered: Vec<Phase1Policy>,
        dh: DhPrivate,
        ni: Vec<u8>,
        idii_b: Vec<u8>,
    },
    /// Responder: Aggressive Mode message 2 sent.
    AggrRespSent2 {
        sa_i_b: Vec<u8>,
        choice: Phase1Choice,
        g_xi: Vec<u8>,
        g_xr: Vec<u8>,
        idii_b: Vec<u8>,
    },
    Established,
}

impl Phase1 {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Phase1::Start => "start",
            Phase1::MainSent1 { .. } => "MM_SENT_1",
            Phase1::MainSent3 { .. } => "MM_SENT_3",
            Phase1::MainSent5 { .. } => "MM_SENT_5",
            Phase1::RespSent2 { .. } => "MM_SENT_2",
            Phase1::RespSent4 { .. } => "MM_SENT_4",
            Phase1::AggrSent1 { .. } => "AM_SENT_1",
            Phase1::AggrRespSent2 { .. } => "AM_SENT_2",
            Phase1::Established => "ESTABLISHED",
        }
    }
}

/// The vendor IDs we send: NAT-T (RFC 3947) if configured, DPD (RFC 3706).
fn our_vendor_ids(sa: &Ikev1Sa) -> Vec<Payload> {
    let mut v = Vec::new();
    if sa.cfg.nat_traversal {
        v.push(Payload::VendorId(vendor::RFC3947_NAT_T.to_vec()));
    }
    v.push(Payload::VendorId(vendor::DPD.to_vec()));
    v
}

/// What the peer's vendor IDs announce.
fn read_vendor_ids(sa: &mut Ikev1Sa, payloads: &[Payload]) {
    for p in payloads {
        if let Payload::VendorId(v) = p {
            match vendor::classify(v) {
                vendor::Known::NatTRfc3947 => sa.caps.nat_t = sa.cfg.nat_traversal,
                vendor::Known::Dpd => sa.caps.dpd = true,
                _ => {}
            }
        }
    }
}

fn header(sa: &Ikev1Sa, exchange: ExchangeType) -> Header {
    Header {
        initiator_cookie: sa.cky_i,
        responder_cookie: sa.cky_r,
        next_payload: PayloadType::None,
        version: ISAKMP_VERSION,
        exchange,
        flags: 0,
        message_id: 0,
        length: 0,
    }
}

fn plain_message(h: &Header, payloads: &[Payload]) -> Vec<u8> {
    let mut body = Vec::new();
    let first = emit_payloads(payloads, &mut body);
    assemble(h, first, &body)
}

fn nonce<R: CryptoRng + ?Sized>(rng: &mut R) -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

/// Whether we can authenticate with `p`'s method: a pre-shared key configured, or a
/// certificate whose key signs with it.
fn usable(sa: &Ikev1Sa, p: &Phase1Policy) -> bool {
    match p.auth {
        AuthMethod::Psk | AuthMethod::XauthInitPsk => !sa.cfg.psk.as_bytes().is_empty(),
        m if is_signature(m) => sa.cfg.certificates.as_ref().and_then(|c| c.method()) == Some(m),
        _ => false,
    }
}

/// The configured policies we can authenticate with. With legacy remote access a
/// pre-shared-key policy means XAUTHInitPreShared (65001): the client offers it, the
/// concentrator insists on it (the ASA's remote-access tunnel groups do).
fn policies(sa: &Ikev1Sa) -> Vec<Phase1Policy> {
    let ra = sa.cfg.remote_access.is_some();
    sa.cfg
        .phase1
        .iter()
        .map(|p| match p.auth {
            AuthMethod::Psk if ra => Phase1Policy { auth: AuthMethod::XauthInitPsk, ..*p },
            _ => *p,
        })
        .filter(|p| usable(sa, p))
        .collect()
}

/// Pre-shared-key methods (Aggressive Mode runs with those only here).
fn psk_based(auth: AuthMethod) -> bool {
    matches!(auth, AuthMethod::Psk | AuthMethod::XauthInitPsk)
}

/// The policies offered: Main Mode offers all; Aggressive Mode sends its KE with the
/// first policy's group, so it can only offer policies of that group.
fn offered_policies(sa: &Ikev1Sa) -> Vec<Phase1Policy> {
    let all = policies(sa);
    match sa.cfg.mode {
        Phase1Mode::Main => all,
        Phase1Mode::Aggressive => {
            let group = all.iter().find(|p| psk_based(p.auth)).map(|p| p.group);
            all.into_iter().filter(|p| psk_based(p.auth) && Some(p.group) == group).collect()
        }
    }
}

/// Initiator: the first message.
pub(super) fn start<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    let offered = offered_policies(sa);
    if offered.is_empty() {
        sa.fail(FailureCause::NoProposalChosen(
            "no pre-shared-key IKEv1 policy to offer (certificates are not supported yet)".into(),
        ));
        return;
    }
    let offer = phase1_offer(&offered);
    let sa_i_b = offer.body_bytes();
    match sa.cfg.mode {
        Phase1Mode::Main => {
            let mut payloads = vec![Payload::Sa(offer)];
            payloads.extend(our_vendor_ids(sa));
            let bytes = plain_message(&header(sa, ExchangeType::IdentityProtection), &payloads);
            sa.phase1 = Phase1::MainSent1 { sa_i_b };
            sa.send_request(now, bytes);
        }
        Phase1Mode::Aggressive => {
            tracing::warn!(
                target: IKEV1,
                peer = %sa.peer,
                "initiating Aggressive Mode with a pre-shared key: the answer exposes a hash of the key to offline attack"
            );
            let group = offered[0].group;
            let dh = match group.generate(rng, sa.cfg.weak_groups) {
                Ok(dh) => dh,
                Err(e) => {
                    sa.fail(FailureCause::ProtocolError(ProtocolError::KeyExchange(e)));
                    return;
                }
            };
            let ni = nonce(rng);
            let id = sa.cfg.local_id.clone();
            let idii_b = id.body_bytes();
            let mut payloads = vec![
                Payload::Sa(offer),
                Payload::Ke(dh.public().to_vec()),
                Payload::Nonce(ni.clone()),
                Payload::Id(id),
            ];
            payloads.extend(our_vendor_ids(sa));
            let bytes = plain_message(&header(sa, ExchangeType::Aggressive), &payloads);
            sa.phase1 = Phase1::AggrSent1 { sa_i_b, offered, dh, ni, idii_b };
            sa.send_request(now, bytes);
        }
    }
}

/// An unencrypted notify answering a first message we refuse.
fn refusal(cfg_local: SocketAddr, to: SocketAddr, cky_i: u64, kind: u16) -> Transmit {
    let h = Header {
        initiator_cookie: cky_i,
        responder_cookie: 0,
        next_payload: PayloadType::None,
        version: ISAKMP_VERSION,
        exchange: ExchangeType::Informational,
        flags: 0,
        message_id: 0,
        length: 0,
    };
    let n = Notification {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ISAKMP,
        spi: Vec::new(),
        kind,
        data: Vec::new(),
    };
    Transmit { to, from: cfg_local, bytes: plain_message(&h, &[Payload::Notify(n)]) }
}

/// Responder: the first message of Main or Aggressive Mode.
pub(super) fn respond_first<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    parsed: &Parsed,
    datagram: &[u8],
    rng: &mut R,
) -> Result<(), Accept> {
    let payloads = &parsed.payloads;
    let Some(i) = index_of(payloads, PayloadType::Sa) else { return Err(Accept::Drop) };
    let (Some(Payload::Sa(offer)), Some(sa_i_b)) = (payloads.get(i), raw_body(body, parsed, i))
    else {
        return Err(Accept::Drop);
    };
    let aggressive = h.exchange == ExchangeType::Aggressive;
    let (local, peer, cky_i) = (sa.cfg.local, sa.peer, h.initiator_cookie);
    let refuse = |kind: u16, failure: FailureCause| Accept::Refused {
        transmit: refusal(local, peer, cky_i, kind),
        failure,
    };
    if aggressive && !sa.cfg.allow_aggressive {
        tracing::warn!(target: IKEV1, peer = %sa.peer, "refused Aggressive Mode (not enabled for this peer)");
        return Err(refuse(
            notify::INVALID_EXCHANGE_TYPE,
            FailureCause::NoProposalChosen("Aggressive Mode is not enabled for this peer".into()),
        ));
    }
    // Aggressive Mode runs with pre-shared keys only here.
    let ours: Vec<Phase1Policy> =
        policies(sa).into_iter().filter(|p| !aggressive || psk_based(p.auth)).collect();
    let (choice, answer) = match select_phase1(offer, &ours) {
        Ok(x) => x,
        Err(e) => {
            tracing::info!(target: IKEV1, peer = %sa.peer, "phase 1: no proposal chosen: {e}");
            return Err(refuse(
                notify::NO_PROPOSAL_CHOSEN,
                FailureCause::NoProposalChosen(e.to_string()),
            ));
        }
    };
    let sa_i_b = sa_i_b.to_vec();
    read_vendor_ids(sa, payloads);
    let mut out = vec![Payload::Sa(answer)];
    if !aggressive {
        out.extend(our_vendor_ids(sa));
        let bytes = plain_message(&header(sa, ExchangeType::IdentityProtection), &out);
        sa.phase1 = Phase1::RespSent2 { sa_i_b, choice };
        sa.send_answer(datagram, bytes);
        return Ok(());
    }
    // Aggressive Mode: KE, Ni and IDii came with the offer.
    let ke = find(payloads, |p| if let Payload::Ke(k) = p { Some(k.clone()) } else { None });
    let ni = find(payloads, |p| if let Payload::Nonce(n) = p { Some(n.clone()) } else { None });
    let idi = index_of(payloads, PayloadType::Id);
    let (Some(ke), Some(ni), Some(idi)) = (ke, ni, idi) else {
        return Err(refuse(
            notify::PAYLOAD_MALFORMED,
            malformed(ExchangeType::Aggressive, "KE, Ni and IDii"),
        ));
    };
    let Some(idii_b) = raw_body(body, parsed, idi).map(<[u8]>::to_vec) else {
        return Err(Accept::Drop);
    };
    let Some(Payload::Id(peer_id)) = payloads.get(idi) else { return Err(Accept::Drop) };
    if let Err(cause) = check_peer_id(sa, peer_id) {
        return Err(refuse(notify::INVALID_ID_INFORMATION, cause));
    }
    let dh = match choice.policy.group.generate(rng, sa.cfg.weak_groups) {
        Ok(dh) => dh,
        Err(e) => {
            return Err(refuse(
                notify::NO_PROPOSAL_CHOSEN,
                FailureCause::ProtocolError(ProtocolError::KeyExchange(e)),
            ));
        }
    };
    let nr = nonce(rng);
    let g_xr = dh.public().to_vec();
    let Ok(shared) = dh.shared_secret(&ke) else {
        return Err(refuse(
            notify::INVALID_KEY_INFORMATION,
            malformed(ExchangeType::Aggressive, "a valid KE"),
        ));
    };
    derive(sa, &choice, shared.as_bytes(), &ke, &g_xr, &ni, &nr);
    let Some(isakmp) = &sa.isakmp else { return Err(Accept::Drop) };
    let id = sa.cfg.local_id.clone();
    let hash_r =
        keys::hash_r(&isakmp.keys, &ke, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, &id.body_bytes());
    out.push(Payload::Ke(g_xr.clone()));
    out.push(Payload::Nonce(nr));
    out.push(Payload::Id(id));
    out.push(Payload::Hash(hash_r));
    out.extend(our_vendor_ids(sa));
    if sa.caps.nat_t {
        out.extend(nat_d_payloads(sa));
    }
    let bytes = plain_message(&header(sa, ExchangeType::Aggressive), &out);
    sa.phase1 = Phase1::AggrRespSent2 { sa_i_b, choice, g_xi: ke, g_xr, idii_b };
    // Message 3 completes the exchange: retransmit message 2 until it comes.
    sa.send_request(now, bytes);
    Ok(())
}

fn malformed(exchange: ExchangeType, what: &str) -> FailureCause {
    FailureCause::ProtocolError(ProtocolError::Unsupported(format!(
        "{exchange:?} message without {what}"
    )))
}

/// The two NAT-D payloads we send: the peer's address as we send to it, then ours.
fn nat_d_payloads(sa: &Ikev1Sa) -> [Payload; 2] {
    let hash = sa.isakmp.as_ref().map(|s| s.hash);
    let Some(hash) = hash.or_else(|| current_hash(sa)) else {
        return [Payload::NatD(Vec::new()), Payload::NatD(Vec::new())];
    };
    [
        Payload::NatD(nat_d(hash, sa.cky_i, sa.cky_r, sa.peer)),
        Payload::NatD(nat_d(hash, sa.cky_i, sa.cky_r, sa.local)),
    ]
}

fn current_hash(sa: &Ikev1Sa) -> Option<keys::HashAlg> {
    match &sa.phase1 {
        Phase1::MainSent3 { choice, .. }
        | Phase1::MainSent5 { choice, .. }
        | Phase1::RespSent2 { choice, .. }
        | Phase1::RespSent4 { choice, .. }
        | Phase1::AggrRespSent2 { choice, .. } => Some(choice.policy.hash),
        _ => None,
    }
}

/// Compares the peer's NAT-D payloads with what we see (RFC 3947 section 3.2): the first is
/// the hash of our address as the peer sent to it, the others of the peer's.
fn detect_nat(sa: &mut Ikev1Sa, payloads: &[Payload]) {
    if !sa.caps.nat_t {
        return;
    }
    let Some(hash) = sa.isakmp.as_ref().map(|s| s.hash) else { return };
    let hashes: Vec<&Vec<u8>> = payloads
        .iter()
        .filter_map(|p| if let Payload::NatD(d) = p { Some(d) } else { None })
        .collect();
    let Some((us, them)) = hashes.split_first() else {
        // RFC 3947 peers send NAT-D; one that announced NAT-T but sent none cannot float.
        sa.caps.nat_t = false;
        return;
    };
    let we_are_natted = !keys::verify_hash(&nat_d(hash, sa.cky_i, sa.cky_r, sa.local), us);
    let mine = nat_d(hash, sa.cky_i, sa.cky_r, sa.peer);
    let peer_natted = !them.iter().any(|d| keys::verify_hash(&mine, d));
    sa.nat_detected = we_are_natted || peer_natted;
    if sa.nat_detected {
        tracing::info!(target: IKEV1, peer = %sa.peer, we_are_natted, peer_natted, "NAT detected: floating to UDP 4500");
    }
}

/// After NAT detection the initiator moves IKE to port 4500 (RFC 3947 section 4).
fn float(sa: &mut Ikev1Sa) {
    if sa.nat_detected && sa.initiator {
        sa.local.set_port(4500);
        sa.peer.set_port(4500);
    }
}

/// Completes the Diffie-Hellman with the peer's public value and derives the phase-1 keys.
/// Returns our public value, or `None` once the SA has failed (a bad peer value, an
/// unusable cipher).
fn agree(
    sa: &mut Ikev1Sa,
    choice: &Phase1Choice,
    dh: &DhPrivate,
    peer_public: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Option<Vec<u8>> {
    let shared = match dh.shared_secret(peer_public) {
        Ok(s) => s,
        Err(e) => {
            sa.fail(FailureCause::ProtocolError(ProtocolError::KeyExchange(e)));
            return None;
        }
    };
    let ours = dh.public().to_vec();
    let (g_xi, g_xr) =
        if sa.initiator { (&ours[..], peer_public) } else { (peer_public, &ours[..]) };
    derive(sa, choice, shared.as_bytes(), g_xi, g_xr, ni, nr);
    (!sa.dead).then_some(ours)
}

/// Derives the phase-1 keys and the first IV.
fn derive(
    sa: &mut Ikev1Sa,
    choice: &Phase1Choice,
    g_xy: &[u8],
    g_xi: &[u8],
    g_xr: &[u8],
    ni: &[u8],
    nr: &[u8],
) {
    let h = choice.policy.hash;
    let skeyid: SecretBytes = if is_signature(choice.policy.auth) {
        keys::skeyid_sig(h, ni, nr, g_xy)
    } else {
        keys::skeyid_psk(h, sa.cfg.psk.as_bytes(), ni, nr)
    };
    let key_len = usize::from(choice.policy.encryption_key_bits / 8);
    let keys = Phase1Keys::derive(h, skeyid, g_xy, sa.cky_i, sa.cky_r, key_len);
    let Ok(cipher) = Phase1Cipher::new(keys.enc_key()) else {
        sa.fail(FailureCause::ProtocolError(ProtocolError::Unsupported(format!(
            "phase-1 cipher AES-{}",
            choice.policy.encryption_key_bits
        ))));
        return;
    };
    let iv = keys::phase1_iv(h, g_xi, g_xr, cipher.block_len());
    sa.isakmp = Some(Isakmp { hash: h, keys, cipher, iv });
}

/// Checks the peer's phase-1 identity against the configured one.
fn check_peer_id(sa: &Ikev1Sa, id: &Identification) -> Result<(), FailureCause> {
    match &sa.cfg.remote_id {
        Some(want) if want.id_type != id.id_type || want.data != id.data => {
            Err(FailureCause::AuthenticationFailed(format!(
                "peer identity {} is not the configured {}",
                describe_id(id),
                describe_id(want)
            )))
        }
        _ => Ok(()),
    }
}

pub(super) fn describe_id(id: &Identification) -> String {
    let repr = to_id_repr(id);
    format!("{repr}")
}

/// The IKEv2 form of an identity, for the shared event types.
pub(super) fn to_id_repr(id: &Identification) -> IdRepr {
    IdRepr { id_type: IdType::from(id.id_type), data: id.data.clone() }
}

/// Phase-1 messages after the first.
pub(super) fn handle<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    from: SocketAddr,
    rng: &mut R,
) {
    let state = core::mem::replace(&mut sa.phase1, Phase1::Start);
    sa.phase1 = match state {
        Phase1::MainSent1 { sa_i_b } if !h.is_encrypted() => main_i2(sa, now, h, body, sa_i_b, rng),
        Phase1::MainSent3 { sa_i_b, choice, dh, ni } if !h.is_encrypted() => {
            main_i4(sa, now, h, body, sa_i_b, choice, dh, ni, rng)
        }
        Phase1::MainSent5 { sa_i_b, choice, g_xi, g_xr } if h.is_encrypted() => {
            main_i6(sa, now, h, body, sa_i_b, choice, g_xi, g_xr, rng)
        }
        Phase1::RespSent2 { sa_i_b, choice } if !h.is_encrypted() => {
            main_r3(sa, now, h, body, datagram, sa_i_b, choice, rng)
        }
        Phase1::RespSent4 { sa_i_b, choice, g_xi, g_xr } if h.is_encrypted() => {
            main_r5(sa, now, h, body, datagram, from, sa_i_b, choice, g_xi, g_xr, rng)
        }
        Phase1::AggrSent1 { sa_i_b, offered, dh, ni, idii_b } if !h.is_encrypted() => {
            aggr_i2(sa, now, h, body, sa_i_b, offered, dh, ni, idii_b, rng)
        }
        Phase1::AggrRespSent2 { sa_i_b, choice, g_xi, g_xr, idii_b } if h.is_encrypted() => {
            aggr_r3(sa, now, h, body, from, sa_i_b, choice, g_xi, g_xr, idii_b, rng)
        }
        other => {
            sa.stats.unexpected += 1;
            other
        }
    };
}

fn parse_plain(sa: &mut Ikev1Sa, h: &Header, body: &[u8]) -> Option<Parsed> {
    match crate::ikev1::wire::parse_payloads(h.next_payload, body) {
        Ok(p) => Some(p),
        Err(_) => {
            sa.stats.malformed += 1;
            None
        }
    }
}

fn main_i2<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    sa_i_b: Vec<u8>,
    rng: &mut R,
) -> Phase1 {
    let Some(parsed) = parse_plain(sa, h, body) else { return Phase1::MainSent1 { sa_i_b } };
    let Some(Payload::Sa(answer)) = parsed.payloads.iter().find(|p| p.kind() == PayloadType::Sa)
    else {
        sa.stats.unexpected += 1;
        return Phase1::MainSent1 { sa_i_b };
    };
    let offered = offered_policies(sa);
    let choice = match phase1_from_answer(answer, &offered) {
        Ok(c) => c,
        Err(e) => {
            sa.fail(FailureCause::ProtocolError(ProtocolError::BadChoice(e.to_string())));
            return Phase1::Start;
        }
    };
    sa.cky_r = h.responder_cookie;
    read_vendor_ids(sa, &parsed.payloads);
    let dh = match choice.policy.group.generate(rng, sa.cfg.weak_groups) {
        Ok(dh) => dh,
        Err(e) => {
            sa.fail(FailureCause::ProtocolError(ProtocolError::KeyExchange(e)));
            return Phase1::Start;
        }
    };
    let ni = nonce(rng);
    let mut out = vec![Payload::Ke(dh.public().to_vec()), Payload::Nonce(ni.clone())];
    out.extend(certreqs(sa, &choice));
    if sa.caps.nat_t {
        let hash = choice.policy.hash;
        out.push(Payload::NatD(nat_d(hash, sa.cky_i, sa.cky_r, sa.peer)));
        out.push(Payload::NatD(nat_d(hash, sa.cky_i, sa.cky_r, sa.local)));
    }
    let bytes = plain_message(&header(sa, ExchangeType::IdentityProtection), &out);
    sa.answered();
    sa.send_request(now, bytes);
    Phase1::MainSent3 { sa_i_b, choice, dh, ni }
}

#[allow(clippy::too_many_arguments)]
fn main_i4<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    sa_i_b: Vec<u8>,
    choice: Phase1Choice,
    dh: DhPrivate,
    ni: Vec<u8>,
    rng: &mut R,
) -> Phase1 {
    let Some(parsed) = parse_plain(sa, h, body) else {
        return Phase1::MainSent3 { sa_i_b, choice, dh, ni };
    };
    let p = &parsed.payloads;
    let ke = find(p, |p| if let Payload::Ke(k) = p { Some(k.clone()) } else { None });
    let nr = find(p, |p| if let Payload::Nonce(n) = p { Some(n.clone()) } else { None });
    let (Some(g_xr), Some(nr)) = (ke, nr) else {
        sa.stats.unexpected += 1;
        return Phase1::MainSent3 { sa_i_b, choice, dh, ni };
    };
    let Some(g_xi) = agree(sa, &choice, &dh, &g_xr, &ni, &nr) else { return Phase1::Start };
    detect_nat(sa, p);
    float(sa);
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let hash_of =
        |idb: &[u8]| keys::hash_i(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, idb);
    let (mut out, local_auth) = match our_proof(sa, &choice, hash_of, rng) {
        Ok(x) => x,
        Err(cause) => {
            sa.fail(cause);
            return Phase1::Start;
        }
    };
    if sa.cfg.initial_contact && !sa.inner {
        out.push(Payload::Notify(initial_contact(sa)));
    }
    let (bytes, next_iv) =
        isakmp.seal(&header(sa, ExchangeType::IdentityProtection), &out, &isakmp.iv);
    if let Some(s) = &mut sa.isakmp {
        s.iv = next_iv;
    }
    sa.answered();
    sa.send_request(now, bytes);
    sa.local_auth = local_auth;
    Phase1::MainSent5 { sa_i_b, choice, g_xi, g_xr }
}

/// Main Mode message 5 or 6 did not decrypt to a payload chain. The keys come from the
/// pre-shared key, so a mismatch shows here (IKEv1 has no integrity check on phase-1
/// encryption). UDP's checksum rules out corruption; an on-path attacker who knows the
/// cookies could forge this failure, as it could forge an error notify.
fn undecryptable(n: u8) -> FailureCause {
    FailureCause::AuthenticationFailed(format!(
        "Main Mode message {n} did not decrypt: pre-shared key mismatch?"
    ))
}

fn initial_contact(sa: &Ikev1Sa) -> Notification {
    let mut spi = sa.cky_i.to_be_bytes().to_vec();
    spi.extend_from_slice(&sa.cky_r.to_be_bytes());
    Notification {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ISAKMP,
        spi,
        kind: notify::INITIAL_CONTACT,
        data: Vec::new(),
    }
}

/// Decrypts a phase-1 message with the phase-1 IV chain; advances the chain only when
/// `accept` (the HASH check) passes.
fn open_phase1(
    sa: &mut Ikev1Sa,
    h: &Header,
    body: &[u8],
) -> Option<(super::protect::Opened, Vec<u8>)> {
    let isakmp = sa.isakmp.as_ref()?;
    match isakmp.open(h, body, &isakmp.iv) {
        Ok(o) => {
            let next = o.next_iv.clone();
            Some((o, next))
        }
        Err(_) => {
            sa.stats.undecryptable += 1;
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn main_i6<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    sa_i_b: Vec<u8>,
    choice: Phase1Choice,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    rng: &mut R,
) -> Phase1 {
    let keep = |sa_i_b, choice, g_xi, g_xr| Phase1::MainSent5 { sa_i_b, choice, g_xi, g_xr };
    let Some((opened, next_iv)) = open_phase1(sa, h, body) else {
        sa.fail(undecryptable(6));
        return Phase1::Start;
    };
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let expected =
        |idb: &[u8]| keys::hash_r(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, idb);
    let (peer_id, remote_auth) = match check_proof(sa, now, &choice, &opened, expected, "HASH_R") {
        Ok(x) => x,
        Err(Check::Incomplete) => {
            sa.stats.unexpected += 1;
            return keep(sa_i_b, choice, g_xi, g_xr);
        }
        Err(Check::Failed(cause)) => {
            sa.stats.bad_hash += 1;
            sa.fail(cause);
            return Phase1::Start;
        }
    };
    if let Err(cause) = check_peer_id(sa, &peer_id) {
        sa.fail(cause);
        return Phase1::Start;
    }
    sa.remote_auth = remote_auth;
    if let Some(s) = &mut sa.isakmp {
        s.iv = next_iv;
    }
    sa.answered();
    established(sa, now, &choice, &peer_id, false);
    super::transaction::phase1_done(sa, now, rng);
    super::quick::start(sa, now, None, rng);
    Phase1::Established
}

#[allow(clippy::too_many_arguments)]
fn main_r3<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    sa_i_b: Vec<u8>,
    choice: Phase1Choice,
    rng: &mut R,
) -> Phase1 {
    let Some(parsed) = parse_plain(sa, h, body) else {
        return Phase1::RespSent2 { sa_i_b, choice };
    };
    let p = &parsed.payloads;
    let ke = find(p, |p| if let Payload::Ke(k) = p { Some(k.clone()) } else { None });
    let ni = find(p, |p| if let Payload::Nonce(n) = p { Some(n.clone()) } else { None });
    let (Some(g_xi), Some(ni)) = (ke, ni) else {
        sa.stats.unexpected += 1;
        return Phase1::RespSent2 { sa_i_b, choice };
    };
    let dh = match choice.policy.group.generate(rng, sa.cfg.weak_groups) {
        Ok(dh) => dh,
        Err(e) => {
            sa.fail(FailureCause::ProtocolError(ProtocolError::KeyExchange(e)));
            return Phase1::Start;
        }
    };
    let nr = nonce(rng);
    let Some(g_xr) = agree(sa, &choice, &dh, &g_xi, &ni, &nr) else { return Phase1::Start };
    detect_nat(sa, p);
    let mut out = vec![Payload::Ke(g_xr.clone()), Payload::Nonce(nr)];
    out.extend(certreqs(sa, &choice));
    if sa.caps.nat_t {
        out.extend(nat_d_payloads(sa));
    }
    let bytes = plain_message(&header(sa, ExchangeType::IdentityProtection), &out);
    sa.send_answer(datagram, bytes);
    let _ = now;
    Phase1::RespSent4 { sa_i_b, choice, g_xi, g_xr }
}

#[allow(clippy::too_many_arguments)]
fn main_r5<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    from: SocketAddr,
    sa_i_b: Vec<u8>,
    choice: Phase1Choice,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    rng: &mut R,
) -> Phase1 {
    let keep = |sa_i_b, choice, g_xi, g_xr| Phase1::RespSent4 { sa_i_b, choice, g_xi, g_xr };
    let Some((opened, next_iv)) = open_phase1(sa, h, body) else {
        sa.fail(undecryptable(5));
        return Phase1::Start;
    };
    let p = &opened.parsed.payloads;
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let expected =
        |idb: &[u8]| keys::hash_i(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, idb);
    let (peer_id, remote_auth) = match check_proof(sa, now, &choice, &opened, expected, "HASH_I") {
        Ok(x) => x,
        Err(Check::Incomplete) => {
            sa.stats.unexpected += 1;
            return keep(sa_i_b, choice, g_xi, g_xr);
        }
        Err(Check::Failed(cause)) => {
            sa.stats.bad_hash += 1;
            send_phase1_notify(sa, notify::AUTHENTICATION_FAILED);
            sa.fail(cause);
            return Phase1::Start;
        }
    };
    if let Err(cause) = check_peer_id(sa, &peer_id) {
        send_phase1_notify(sa, notify::INVALID_ID_INFORMATION);
        sa.fail(cause);
        return Phase1::Start;
    }
    if p.iter().any(|x| matches!(x, Payload::Notify(n) if n.kind == notify::INITIAL_CONTACT)) {
        sa.initial_contact_received = true;
    }
    // The initiator floated to 4500 (RFC 3947 section 4): answer where it now is.
    if sa.nat_detected || from.port() != sa.peer.port() {
        if from.port() != 500 {
            sa.local.set_port(4500);
        }
        sa.peer = from;
    }
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let hash_of =
        |idb: &[u8]| keys::hash_r(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, idb);
    let (out, local_auth) = match our_proof(sa, &choice, hash_of, rng) {
        Ok(x) => x,
        Err(cause) => {
            sa.fail(cause);
            return Phase1::Start;
        }
    };
    let (bytes, iv) = isakmp.seal(&header(sa, ExchangeType::IdentityProtection), &out, &next_iv);
    if let Some(s) = &mut sa.isakmp {
        s.iv = iv;
    }
    sa.send_answer(datagram, bytes);
    sa.local_auth = local_auth;
    sa.remote_auth = remote_auth;
    established(sa, now, &choice, &peer_id, false);
    super::transaction::phase1_done(sa, now, rng);
    Phase1::Established
}

/// What the peer's message 5 or 6 proved.
enum Check {
    /// Payloads missing: not (yet) a complete message; keep waiting.
    Incomplete,
    /// The proof is wrong.
    Failed(FailureCause),
}

/// Checks the peer's [ID, HASH] or [ID, CERT, SIG] against `expected(ID body)` (HASH_I or
/// HASH_R, named `what`). Returns the peer's identity and how it authenticated.
fn check_proof(
    sa: &Ikev1Sa,
    now: Time,
    choice: &Phase1Choice,
    opened: &super::protect::Opened,
    expected: impl FnOnce(&[u8]) -> Vec<u8>,
    what: &str,
) -> Result<(Identification, AuthInfo), Check> {
    let p = &opened.parsed.payloads;
    let idx = index_of(p, PayloadType::Id).ok_or(Check::Incomplete)?;
    let idb = raw_body(&opened.plaintext, &opened.parsed, idx).ok_or(Check::Incomplete)?;
    let Some(Payload::Id(peer_id)) = p.get(idx).cloned() else { return Err(Check::Incomplete) };
    let expected = expected(idb);
    if is_signature(choice.policy.auth) {
        let certs = sa.cfg.certificates.as_ref().ok_or(Check::Incomplete)?;
        if !p.iter().any(|x| matches!(x, Payload::Signature(_))) {
            return Err(Check::Incomplete);
        }
        let info = certs
            .verify(now, p, &peer_id, choice.policy.auth, &expected)
            .map_err(|e| Check::Failed(FailureCause::AuthenticationFailed(e)))?;
        return Ok((peer_id, info));
    }
    let hash = find(p, |p| if let Payload::Hash(x) = p { Some(x.clone()) } else { None })
        .ok_or(Check::Incomplete)?;
    if !keys::verify_hash(&expected, &hash) {
        return Err(Check::Failed(FailureCause::AuthenticationFailed(format!(
            "{what} did not verify (pre-shared key mismatch?)"
        ))));
    }
    Ok((peer_id, AuthInfo::Psk))
}

/// Our [ID, HASH] or [ID, CERT, SIG], `hash_of(ID body)` being HASH_I or HASH_R.
fn our_proof<R: CryptoRng + ?Sized>(
    sa: &Ikev1Sa,
    choice: &Phase1Choice,
    hash_of: impl FnOnce(&[u8]) -> Vec<u8>,
    rng: &mut R,
) -> Result<(Vec<Payload>, AuthInfo), FailureCause> {
    if !is_signature(choice.policy.auth) {
        let id = sa.cfg.local_id.clone();
        let hash = hash_of(&id.body_bytes());
        return Ok((vec![Payload::Id(id), Payload::Hash(hash)], AuthInfo::Psk));
    }
    let fail = |e: String| FailureCause::AuthenticationFailed(format!("cannot authenticate: {e}"));
    let certs = sa.cfg.certificates.as_ref().ok_or_else(|| fail("no certificate".into()))?;
    let id = certs.our_id().ok_or_else(|| fail("no certificate".into()))?;
    let hash = hash_of(&id.body_bytes());
    let (cert_payloads, sig, info) = certs.sign(&hash, rng).map_err(fail)?;
    let mut out = vec![Payload::Id(id)];
    out.extend(cert_payloads);
    out.push(sig);
    Ok((out, info))
}

/// CERTREQs for messages 3 and 4 when the policy authenticates with signatures.
fn certreqs(sa: &Ikev1Sa, choice: &Phase1Choice) -> Vec<Payload> {
    match &sa.cfg.certificates {
        Some(c) if is_signature(choice.policy.auth) => c.certreqs(),
        _ => Vec::new(),
    }
}

/// An encrypted phase-1 notify (AUTHENTICATION_FAILED, ...) before giving up.
fn send_phase1_notify(sa: &mut Ikev1Sa, kind: u16) {
    let Some(isakmp) = &sa.isakmp else { return };
    let n = Notification {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ISAKMP,
        spi: Vec::new(),
        kind,
        data: Vec::new(),
    };
    let (bytes, _) =
        isakmp.seal(&header(sa, ExchangeType::Informational), &[Payload::Notify(n)], &isakmp.iv);
    sa.send(bytes);
}

#[allow(clippy::too_many_arguments)]
fn aggr_i2<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    sa_i_b: Vec<u8>,
    offered: Vec<Phase1Policy>,
    dh: DhPrivate,
    ni: Vec<u8>,
    idii_b: Vec<u8>,
    rng: &mut R,
) -> Phase1 {
    let Some(parsed) = parse_plain(sa, h, body) else {
        return Phase1::AggrSent1 { sa_i_b, offered, dh, ni, idii_b };
    };
    let p = &parsed.payloads;
    let answer = find(p, |p| if let Payload::Sa(s) = p { Some(s.clone()) } else { None });
    let ke = find(p, |p| if let Payload::Ke(k) = p { Some(k.clone()) } else { None });
    let nr = find(p, |p| if let Payload::Nonce(n) = p { Some(n.clone()) } else { None });
    let hash = find(p, |p| if let Payload::Hash(x) = p { Some(x.clone()) } else { None });
    let idx = index_of(p, PayloadType::Id);
    let (Some(answer), Some(g_xr), Some(nr), Some(hash), Some(idx)) = (answer, ke, nr, hash, idx)
    else {
        sa.stats.unexpected += 1;
        return Phase1::AggrSent1 { sa_i_b, offered, dh, ni, idii_b };
    };
    let choice = match phase1_from_answer(&answer, &offered) {
        Ok(c) => c,
        Err(e) => {
            sa.fail(FailureCause::ProtocolError(ProtocolError::BadChoice(e.to_string())));
            return Phase1::Start;
        }
    };
    let Some(idir_b) = raw_body(body, &parsed, idx).map(<[u8]>::to_vec) else {
        return Phase1::Start;
    };
    sa.cky_r = h.responder_cookie;
    read_vendor_ids(sa, p);
    let Some(g_xi) = agree(sa, &choice, &dh, &g_xr, &ni, &nr) else { return Phase1::Start };
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let expected = keys::hash_r(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, &idir_b);
    if !keys::verify_hash(&expected, &hash) {
        sa.stats.bad_hash += 1;
        sa.fail(FailureCause::AuthenticationFailed(
            "HASH_R did not verify (pre-shared key mismatch?)".into(),
        ));
        return Phase1::Start;
    }
    let Some(Payload::Id(peer_id)) = p.get(idx).cloned() else { return Phase1::Start };
    if let Err(cause) = check_peer_id(sa, &peer_id) {
        sa.fail(cause);
        return Phase1::Start;
    }
    detect_nat(sa, p);
    float(sa);
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let hash_i = keys::hash_i(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, &idii_b);
    let mut out = vec![Payload::Hash(hash_i)];
    if sa.caps.nat_t {
        out.extend(nat_d_payloads(sa));
    }
    if sa.cfg.initial_contact && !sa.inner {
        out.push(Payload::Notify(initial_contact(sa)));
    }
    let (bytes, iv) = isakmp.seal(&header(sa, ExchangeType::Aggressive), &out, &isakmp.iv);
    if let Some(s) = &mut sa.isakmp {
        s.iv = iv;
    }
    sa.answered();
    // Our last message answers message 2: resend it if message 2 comes again.
    let d = super::digest(&assemble_again(h, body));
    sa.replay = Some(super::Replay { digest: d, answer: bytes.clone() });
    sa.send(bytes);
    established(sa, now, &choice, &peer_id, true);
    super::transaction::phase1_done(sa, now, rng);
    super::quick::start(sa, now, None, rng);
    Phase1::Established
}

/// The datagram a header and body came from (the header's length covers exactly them).
fn assemble_again(h: &Header, body: &[u8]) -> Vec<u8> {
    assemble(h, h.next_payload, body)
}

#[allow(clippy::too_many_arguments)]
fn aggr_r3<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    from: SocketAddr,
    sa_i_b: Vec<u8>,
    choice: Phase1Choice,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    idii_b: Vec<u8>,
    rng: &mut R,
) -> Phase1 {
    let keep = |sa_i_b, choice, g_xi, g_xr, idii_b| Phase1::AggrRespSent2 {
        sa_i_b,
        choice,
        g_xi,
        g_xr,
        idii_b,
    };
    let Some((opened, next_iv)) = open_phase1(sa, h, body) else {
        return keep(sa_i_b, choice, g_xi, g_xr, idii_b);
    };
    let p = &opened.parsed.payloads;
    let Some(hash) = find(p, |p| if let Payload::Hash(x) = p { Some(x.clone()) } else { None })
    else {
        sa.stats.unexpected += 1;
        return keep(sa_i_b, choice, g_xi, g_xr, idii_b);
    };
    let Some(isakmp) = &sa.isakmp else { return Phase1::Start };
    let expected = keys::hash_i(&isakmp.keys, &g_xi, &g_xr, sa.cky_i, sa.cky_r, &sa_i_b, &idii_b);
    if !keys::verify_hash(&expected, &hash) {
        sa.stats.bad_hash += 1;
        send_phase1_notify(sa, notify::AUTHENTICATION_FAILED);
        sa.fail(FailureCause::AuthenticationFailed(
            "HASH_I did not verify (pre-shared key mismatch?)".into(),
        ));
        return Phase1::Start;
    }
    detect_nat(sa, p);
    if p.iter().any(|x| matches!(x, Payload::Notify(n) if n.kind == notify::INITIAL_CONTACT)) {
        sa.initial_contact_received = true;
    }
    if from.port() != sa.peer.port() {
        if from.port() != 500 {
            sa.local.set_port(4500);
        }
        sa.peer = from;
    }
    if let Some(s) = &mut sa.isakmp {
        s.iv = next_iv;
    }
    sa.answered();
    let peer_id = match crate::ikev1::wire::parse_payloads(PayloadType::Id, &id_payload(&idii_b)) {
        Ok(parsed) => match parsed.payloads.into_iter().next() {
            Some(Payload::Id(id)) => id,
            _ => Identification::address(sa.peer.ip()),
        },
        Err(_) => Identification::address(sa.peer.ip()),
    };
    established(sa, now, &choice, &peer_id, true);
    super::transaction::phase1_done(sa, now, rng);
    Phase1::Established
}

/// An ID payload around a raw ID body (to parse it again).
fn id_payload(idb: &[u8]) -> Vec<u8> {
    let len = u16::try_from(idb.len() + 4).unwrap_or(u16::MAX);
    let mut v = vec![0, 0];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(idb);
    v
}

/// Phase 1 done: report it, arm the lifetime and DPD. The initiator's caller then starts
/// Quick Mode.
fn established(
    sa: &mut Ikev1Sa,
    now: Time,
    choice: &Phase1Choice,
    peer_id: &Identification,
    aggressive: bool,
) {
    sa.established_at = Some(now);
    sa.last_inbound = now;
    sa.peer_id = Some(peer_id.clone());
    sa.p1_policy = Some(choice.policy);
    let lifetime = choice.policy.lifetime;
    sa.expires = (!lifetime.is_zero()).then(|| now + lifetime);
    // The initiator renews at 85 %, the responder at 95 % if the initiator did not.
    sa.p1_soft = if sa.initiator {
        (!lifetime.is_zero()).then(|| now + lifetime.mul_f64(0.85))
    } else {
        super::reauth::responder_soft(now, lifetime)
    };
    let info = IkeSaInfo {
        spi_i: sa.cky_i,
        spi_r: sa.cky_r,
        initiator: sa.initiator,
        peer: sa.peer,
        peer_id: to_id_repr(peer_id),
        transforms: phase1_selected(&choice.policy),
        nat_detected: sa.nat_detected,
        local_auth: sa.local_auth.clone(),
        remote_auth: sa.remote_auth.clone(),
        // Mode Config assigns addresses after Phase 1 (see `transaction`).
        virtual_ips: Vec::new(),
        internal_dns: Vec::new(),
        internal_domains: Vec::new(),
    };
    tracing::info!(
        target: IKEV1,
        peer = %sa.peer,
        cky_i = format_args!("{:016x}", sa.cky_i),
        cky_r = format_args!("{:016x}", sa.cky_r),
        nat = sa.nat_detected,
        "phase 1 established ({})",
        if aggressive { "aggressive" } else { "main" }
    );
    sa.events.push_back(Event::Established(info));
    sa.phase1 = Phase1::Established;
}

/// The phase-1 transforms in the shared (IKEv2) form: AES-CBC, HMAC of the hash as PRF,
/// the group.
pub(super) fn phase1_selected(p: &Phase1Policy) -> Selected {
    Selected {
        number: 1,
        protocol: ProtocolId::Ike,
        spi: Vec::new(),
        encr: (EncrId::AesCbc, Some(p.encryption_key_bits)),
        prf: Some(PrfId::from(p.hash.prf().iana())),
        integ: None,
        dh: Some(WireDh::from(p.group.iana())),
        esn: None,
    }
}
