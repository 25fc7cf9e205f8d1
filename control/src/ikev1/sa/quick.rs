//! Quick Mode (RFC 2409 section 5.5): the IPsec SA pairs, with PFS, proxy identities,
//! lifetimes in seconds and kilobytes, the RESPONDER-LIFETIME notify (RFC 2407 section
//! 4.6.3.1), and rekeying before expiry with an overlap (make before break).
//!
//!   I -> R  [HASH(1), SA, Ni, [KE], [IDci, IDcr]]
//!   R -> I  [HASH(2), SA, Nr, [KE], [IDci, IDcr], [N(RESPONDER-LIFETIME)]]
//!   I -> R  [HASH(3)]
//!
//! The initiator installs its pair when message 2 verifies, the responder when message 3
//! does; the responder retransmits message 2 until then.

use core::net::IpAddr;

use rand_core::CryptoRng;

use crate::crypto::{DhPrivate, DirectionKeys, SharedSecret};
use crate::ikev1::keys::{self, EspKeyLengths, QuickModeKeys};
use crate::ikev1::proposal::{
    NatEncap, Phase2Choice, Phase2Policy, lifetime_attributes, parse_lifetime_attributes,
    phase2_from_answer, phase2_offer, select_phase2,
};
use crate::ikev1::wire::{
    ExchangeType, Header, ISAKMP_VERSION, Identification, Notification, Payload, PayloadType,
    encode_attribute_list, flags, notify, p2attr, parse_attribute_list, protocol,
};
use crate::ikev2::proposal::Selected;
use crate::ikev2::sa::keys::{esp_encr_key_len, esp_integ_key_len};
use crate::ikev2::sa::{ChildSa, Event, FailureCause, Mode, ProtocolError};
use crate::ikev2::selectors::covers;
use crate::ikev2::wire::{DhGroup as WireDh, EncrId, IntegId, ProtocolId, TrafficSelector};
use crate::log::IKEV1;
use crate::retransmit::{Retransmit, Timeout};
use crate::time::Time;

use super::phase1::NONCE_LEN;
use super::protect::{Isakmp, OpenError, Opened};
use super::{Ikev1Sa, digest, find};

/// How long a finished initiator exchange keeps its message 3 for a duplicate message 2.
const DONE_KEEP: core::time::Duration = core::time::Duration::from_secs(60);

/// An installed pair.
#[derive(Debug)]
pub(super) struct Child {
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local_ts: TrafficSelector,
    pub remote_ts: TrafficSelector,
    pub soft: Option<Time>,
    pub hard: Option<Time>,
    /// A successor is being negotiated or is up: no rekey of this one any more.
    pub rekeying: bool,
    /// Its successor is up: delete it then.
    pub retire_at: Option<Time>,
    /// The negotiated suite, with the effective lifetimes (for an imported pair: those it
    /// had left).
    pub policy: Phase2Policy,
    /// The ESP transforms as reported in [`ChildSa::transforms`].
    pub transforms: Selected,
    /// Keys of the inbound SA (kept for stateful failover, see `ha_export`).
    pub inbound: DirectionKeys,
    /// Keys of the outbound SA.
    pub outbound: DirectionKeys,
}

/// A Quick Mode exchange in progress, by Message ID.
pub(super) struct Quick {
    mid: u32,
    /// The exchange's CBC chain.
    iv: Vec<u8>,
    role: Role,
}

enum Role {
    /// We sent message 1.
    Initiator(Box<InitiatorState>),
    /// We sent message 2.
    Responder(Box<ResponderState>),
    /// Initiator done: message 3 kept for a duplicate message 2.
    Done { rx_digest: [u8; 32], answer: Vec<u8>, until: Time },
}

struct InitiatorState {
    our_spi: u32,
    offered: Vec<Phase2Policy>,
    ni: Vec<u8>,
    dh: Option<DhPrivate>,
    local_ts: TrafficSelector,
    remote_ts: TrafficSelector,
    bytes: Vec<u8>,
    rtx: Retransmit,
    rekey_of: Option<u32>,
}

struct ResponderState {
    choice: Phase2Choice,
    our_spi: u32,
    ni: Vec<u8>,
    nr: Vec<u8>,
    g_qm: Option<SharedSecret>,
    local_ts: TrafficSelector,
    remote_ts: TrafficSelector,
    bytes: Vec<u8>,
    rtx: Retransmit,
    rx_digest: [u8; 32],
    rekey_of: Option<u32>,
}

fn qm_header(sa: &Ikev1Sa, mid: u32) -> Header {
    Header {
        initiator_cookie: sa.cky_i,
        responder_cookie: sa.cky_r,
        next_payload: PayloadType::None,
        version: ISAKMP_VERSION,
        exchange: ExchangeType::QuickMode,
        flags: flags::ENCRYPTION,
        message_id: mid,
        length: 0,
    }
}

/// A fresh Message ID no exchange of this SA uses.
pub(super) fn fresh_mid<R: CryptoRng + ?Sized>(sa: &Ikev1Sa, rng: &mut R) -> u32 {
    loop {
        let mid = rng.next_u32();
        if mid != 0 && !sa.quick.iter().any(|q| q.mid == mid) {
            return mid;
        }
    }
}

/// An IKEv1 proxy identity for a selector. IKEv1 carries one port or all of them.
pub(super) fn to_id(ts: &TrafficSelector) -> Option<Identification> {
    let (start, end, proto, sp, ep) = match *ts {
        TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => {
            (IpAddr::V4(start), IpAddr::V4(end), ip_protocol, start_port, end_port)
        }
        TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => {
            (IpAddr::V6(start), IpAddr::V6(end), ip_protocol, start_port, end_port)
        }
        _ => return None,
    };
    let port = match (sp, ep) {
        (0, 65535) => 0,
        (a, b) if a == b => a,
        _ => return None,
    };
    Identification::from_range(start, end, proto, port).ok()
}

/// The selector of a proxy identity.
fn to_ts(id: &Identification) -> Option<TrafficSelector> {
    let (start, end) = id.address_range()?;
    let (start_port, end_port) = if id.port == 0 { (0, 65535) } else { (id.port, id.port) };
    let ip_protocol = id.protocol;
    match (start, end) {
        (IpAddr::V4(start), IpAddr::V4(end)) => {
            Some(TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end })
        }
        (IpAddr::V6(start), IpAddr::V6(end)) => {
            Some(TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end })
        }
        _ => None,
    }
}

fn host_ts(addr: IpAddr) -> TrafficSelector {
    match addr {
        IpAddr::V4(a) => TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: a,
            end: a,
        },
        IpAddr::V6(a) => TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: a,
            end: a,
        },
    }
}

/// The transform sets offered together: one KE payload means one PFS group, that of the
/// first transform set.
fn offered_policies(sa: &Ikev1Sa) -> Vec<Phase2Policy> {
    let pfs = sa.cfg.phase2.first().and_then(|p| p.pfs);
    sa.cfg.phase2.iter().filter(|p| p.pfs == pfs).copied().collect()
}

fn nat_encap(sa: &Ikev1Sa) -> NatEncap {
    if sa.nat_detected { NatEncap::Rfc3947 } else { NatEncap::None }
}

/// Starts a Quick Mode for the configured proxy identities (a rekey of `rekey_of` if set).
pub(super) fn start<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    rekey_of: Option<u32>,
    rng: &mut R,
) {
    if sa.inner {
        return;
    }
    let (local_ts, remote_ts) =
        match rekey_of.and_then(|s| sa.children.iter().find(|c| c.inbound_spi == s)) {
            Some(c) => (c.local_ts.clone(), c.remote_ts.clone()),
            None => {
                let (Some(l), Some(r)) =
                    (sa.cfg.selectors.local.first(), sa.cfg.selectors.remote.first())
                else {
                    return;
                };
                (l.clone(), r.clone())
            }
        };
    if rekey_of.is_none()
        && sa.quick.iter().any(|q| matches!(&q.role, Role::Initiator(i) if i.rekey_of.is_none()))
    {
        return;
    }
    if !sa.ra.allows_quick_mode(sa.cfg.remote_access.as_ref()) {
        // XAUTH / Mode Config first; their end starts this Quick Mode.
        return;
    }
    // A remote-access client protects the address the concentrator gave it.
    let local_ts = match sa.ra.client_addr() {
        Some(a) if rekey_of.is_none() => host_ts(IpAddr::V4(a)),
        _ => local_ts,
    };
    let (Some(idci), Some(idcr)) = (to_id(&local_ts), to_id(&remote_ts)) else {
        sa.events.push_back(Event::ChildSaFailed(FailureCause::TsUnacceptable));
        return;
    };
    let Some(isakmp) = &sa.isakmp else { return };
    let mid = fresh_mid(sa, rng);
    let our_spi = crate::ikev2::sa::child::allocate_spi(&mut *sa.spis, rng);
    let offered = offered_policies(sa);
    let offer = phase2_offer(our_spi, &offered, nat_encap(sa));
    let mut ni = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut ni);
    let dh = match offered.first().and_then(|p| p.pfs) {
        Some(g) => match g.generate(rng, sa.cfg.weak_groups) {
            Ok(d) => Some(d),
            Err(e) => {
                sa.events.push_back(Event::ChildSaFailed(FailureCause::ProtocolError(
                    ProtocolError::KeyExchange(e),
                )));
                return;
            }
        },
        None => None,
    };
    let mut rest = vec![Payload::Sa(offer), Payload::Nonce(ni.clone())];
    if let Some(d) = &dh {
        rest.push(Payload::Ke(d.public().to_vec()));
    }
    rest.push(Payload::Id(idci));
    rest.push(Payload::Id(idcr));
    let (first, chain) = Isakmp::hashed_chain(&rest, |r| keys::qm_hash1(&isakmp.keys, mid, r));
    let iv = isakmp.exchange_iv(mid);
    let (bytes, next_iv) = isakmp.seal_chain(&qm_header(sa, mid), first, &chain, &iv);
    tracing::debug!(target: IKEV1, peer = %sa.peer, mid, spi = format_args!("{our_spi:08x}"), rekey = ?rekey_of, "Quick Mode started");
    if let Some(old) = rekey_of.and_then(|s| sa.children.iter_mut().find(|c| c.inbound_spi == s)) {
        old.rekeying = true;
    }
    let st = InitiatorState {
        our_spi,
        offered,
        ni,
        dh,
        local_ts,
        remote_ts,
        bytes: bytes.clone(),
        rtx: Retransmit::start(sa.cfg.retransmit, now),
        rekey_of,
    };
    sa.quick.push(Quick { mid, iv: next_iv, role: Role::Initiator(Box::new(st)) });
    sa.send(bytes);
}

/// A Quick Mode message.
pub(super) fn handle<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    rng: &mut R,
) {
    if !h.is_encrypted() {
        sa.stats.unexpected += 1;
        return;
    }
    let mid = h.message_id;
    let Some(pos) = sa.quick.iter().position(|q| q.mid == mid) else {
        respond(sa, now, h, body, datagram, rng);
        return;
    };
    let q = sa.quick.remove(pos);
    match q.role {
        Role::Initiator(st) => initiator_answer(sa, now, h, body, datagram, q.iv, mid, st, rng),
        Role::Responder(st) if st.rx_digest == digest(datagram) => {
            // Message 1 again: our message 2 was lost.
            sa.stats.replays += 1;
            sa.send(st.bytes.clone());
            sa.quick.push(Quick { mid, iv: q.iv, role: Role::Responder(st) });
        }
        Role::Responder(st) => responder_finish(sa, now, h, body, q.iv, mid, st, rng),
        Role::Done { rx_digest, answer, until } => {
            if rx_digest == digest(datagram) {
                sa.stats.replays += 1;
                sa.send(answer.clone());
            } else {
                sa.stats.unexpected += 1;
            }
            sa.quick.push(Quick { mid, iv: q.iv, role: Role::Done { rx_digest, answer, until } });
        }
    }
}

fn open(sa: &mut Ikev1Sa, h: &Header, body: &[u8], iv: &[u8]) -> Option<Opened> {
    let isakmp = sa.isakmp.as_ref()?;
    match isakmp.open(h, body, iv) {
        Ok(o) => Some(o),
        Err(OpenError::Undecryptable | OpenError::BadHash) => {
            sa.stats.undecryptable += 1;
            None
        }
    }
}

fn nonce_of(p: &[Payload]) -> Option<Vec<u8>> {
    find(p, |p| if let Payload::Nonce(n) = p { Some(n.clone()) } else { None })
}

fn ke_of(p: &[Payload]) -> Option<Vec<u8>> {
    find(p, |p| if let Payload::Ke(k) = p { Some(k.clone()) } else { None })
}

/// The two proxy identities (IDci, IDcr), if sent.
fn ids_of(p: &[Payload]) -> Option<(Identification, Identification)> {
    let mut ids =
        p.iter().filter_map(|p| if let Payload::Id(i) = p { Some(i.clone()) } else { None });
    Some((ids.next()?, ids.next()?))
}

/// Responder: message 1 of a new exchange.
fn respond<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    rng: &mut R,
) {
    let mid = h.message_id;
    let Some(iv) = sa.isakmp.as_ref().map(|s| s.exchange_iv(mid)) else { return };
    let Some(opened) = open(sa, h, body, &iv) else { return };
    let Some(isakmp) = &sa.isakmp else { return };
    if Isakmp::check_hash(&opened, |r| keys::qm_hash1(&isakmp.keys, mid, r)).is_err() {
        sa.stats.bad_hash += 1;
        return;
    }
    sa.last_inbound = sa.last_inbound.max(now);
    let p = &opened.parsed.payloads;
    let offer = find(p, |p| if let Payload::Sa(s) = p { Some(s.clone()) } else { None });
    let (Some(offer), Some(ni)) = (offer, nonce_of(p)) else {
        sa.stats.unexpected += 1;
        return;
    };
    // Proxy identities: the initiator's side (IDci) is our remote one.
    let ids = ids_of(p);
    let (remote_ts, local_ts) = match &ids {
        Some((ci, cr)) => match (to_ts(ci), to_ts(cr)) {
            (Some(r), Some(l)) => (r, l),
            _ => {
                refuse(sa, now, notify::INVALID_ID_INFORMATION, rng);
                sa.events.push_back(Event::ChildSaFailed(FailureCause::TsUnacceptable));
                return;
            }
        },
        None => (host_ts(sa.peer.ip()), host_ts(sa.local.ip())),
    };
    // A remote-access client may only protect the address it was given, and only once
    // XAUTH accepted it.
    let single = match &remote_ts {
        TrafficSelector::Ipv4 { start, end, .. } if start == end => Some(*start),
        _ => None,
    };
    let ra_ok = sa.ra.quick_mode_peer_ok(sa.cfg.remote_access.as_ref(), single);
    let allowed = ra_ok
        && sa.cfg.selectors.remote.iter().any(|o| covers(o, &remote_ts))
        && sa.cfg.selectors.local.iter().any(|o| covers(o, &local_ts));
    if !allowed {
        tracing::info!(target: IKEV1, peer = %sa.peer, ?local_ts, ?remote_ts, "Quick Mode: proxy identities outside the crypto map ACL");
        refuse(sa, now, notify::INVALID_ID_INFORMATION, rng);
        sa.events.push_back(Event::ChildSaFailed(FailureCause::TsUnacceptable));
        return;
    }
    let our_spi = crate::ikev2::sa::child::allocate_spi(&mut *sa.spis, rng);
    let (choice, answer) = match select_phase2(&offer, &sa.cfg.phase2, our_spi, sa.nat_detected) {
        Ok(x) => x,
        Err(e) => {
            tracing::info!(target: IKEV1, peer = %sa.peer, "Quick Mode: no proposal chosen: {e}");
            refuse(sa, now, notify::NO_PROPOSAL_CHOSEN, rng);
            sa.events
                .push_back(Event::ChildSaFailed(FailureCause::NoProposalChosen(e.to_string())));
            return;
        }
    };
    let mut nr = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut nr);
    let mut g_qm = None;
    let mut our_ke = None;
    if let Some(group) = choice.policy.pfs {
        let Some(peer_ke) = ke_of(p) else {
            refuse(sa, now, notify::NO_PROPOSAL_CHOSEN, rng);
            sa.events.push_back(Event::ChildSaFailed(FailureCause::NoProposalChosen(
                "PFS required but no KE payload".into(),
            )));
            return;
        };
        let shared = group.generate(rng, sa.cfg.weak_groups).and_then(|d| {
            let s = d.shared_secret(&peer_ke)?;
            Ok((d.public().to_vec(), s))
        });
        match shared {
            Ok((public, s)) => {
                our_ke = Some(public);
                g_qm = Some(s);
            }
            Err(e) => {
                refuse(sa, now, notify::INVALID_KEY_INFORMATION, rng);
                sa.events.push_back(Event::ChildSaFailed(FailureCause::ProtocolError(
                    ProtocolError::KeyExchange(e),
                )));
                return;
            }
        }
    }
    let mut rest = vec![Payload::Sa(answer), Payload::Nonce(nr.clone())];
    if let Some(k) = our_ke {
        rest.push(Payload::Ke(k));
    }
    if let Some((ci, cr)) = ids {
        rest.push(Payload::Id(ci));
        rest.push(Payload::Id(cr));
    }
    if let Some((secs, kb)) = choice.responder_lifetime {
        rest.push(Payload::Notify(responder_lifetime(choice.peer_spi, secs, kb)));
    }
    let Some(isakmp) = &sa.isakmp else { return };
    let (first, chain) = Isakmp::hashed_chain(&rest, |r| keys::qm_hash2(&isakmp.keys, mid, &ni, r));
    let (bytes, next_iv) = isakmp.seal_chain(&qm_header(sa, mid), first, &chain, &opened.next_iv);
    let rekey_of = sa
        .children
        .iter()
        .find(|c| c.local_ts == local_ts && c.remote_ts == remote_ts && c.retire_at.is_none())
        .map(|c| c.inbound_spi);
    let st = ResponderState {
        choice,
        our_spi,
        ni,
        nr,
        g_qm,
        local_ts,
        remote_ts,
        bytes: bytes.clone(),
        rtx: Retransmit::start(sa.cfg.retransmit, now),
        rx_digest: digest(datagram),
        rekey_of,
    };
    sa.quick.push(Quick { mid, iv: next_iv, role: Role::Responder(Box::new(st)) });
    sa.send(bytes);
}

fn responder_lifetime(spi: u32, secs: u64, kb: u64) -> Notification {
    Notification {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ESP,
        spi: spi.to_be_bytes().to_vec(),
        kind: notify::RESPONDER_LIFETIME,
        data: encode_attribute_list(&lifetime_attributes(secs, kb)),
    }
}

/// The lifetimes of RESPONDER-LIFETIME data: (seconds, kilobytes), zero where absent or
/// where the data does not parse (the notify then changes nothing).
fn responder_lifetimes(data: &[u8]) -> (u64, u64) {
    parse_attribute_list(data)
        .ok()
        .and_then(|attrs| parse_lifetime_attributes(&attrs).ok())
        .map_or((0, 0), |(s, k)| (s.unwrap_or(0), k.unwrap_or(0)))
}

/// A protected Informational notify refusing a Quick Mode.
fn refuse<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, kind: u16, rng: &mut R) {
    let n = Notification {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ESP,
        spi: Vec::new(),
        kind,
        data: Vec::new(),
    };
    super::info::send_informational(sa, now, vec![Payload::Notify(n)], rng);
}

#[allow(clippy::too_many_arguments)]
fn initiator_answer<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    iv: Vec<u8>,
    mid: u32,
    mut st: Box<InitiatorState>,
    rng: &mut R,
) {
    let Some(opened) = open(sa, h, body, &iv) else {
        sa.quick.push(Quick { mid, iv, role: Role::Initiator(st) });
        return;
    };
    let Some(isakmp) = &sa.isakmp else { return };
    if Isakmp::check_hash(&opened, |r| keys::qm_hash2(&isakmp.keys, mid, &st.ni, r)).is_err() {
        sa.stats.bad_hash += 1;
        sa.quick.push(Quick { mid, iv, role: Role::Initiator(st) });
        return;
    }
    sa.last_inbound = sa.last_inbound.max(now);
    st.rtx.answered();
    let p = &opened.parsed.payloads;
    let answer = find(p, |p| if let Payload::Sa(s) = p { Some(s.clone()) } else { None });
    let (Some(answer), Some(nr)) = (answer, nonce_of(p)) else {
        child_failed(
            sa,
            &st,
            FailureCause::ProtocolError(ProtocolError::Unsupported(
                "Quick Mode message 2 without SA or nonce".into(),
            )),
        );
        return;
    };
    let mut choice = match phase2_from_answer(&answer, &st.offered) {
        Ok(c) => c,
        Err(e) => {
            child_failed(
                sa,
                &st,
                FailureCause::ProtocolError(ProtocolError::BadChoice(e.to_string())),
            );
            return;
        }
    };
    if let Some((ci, cr)) = ids_of(p)
        && (to_ts(&ci).as_ref() != Some(&st.local_ts) || to_ts(&cr).as_ref() != Some(&st.remote_ts))
    {
        child_failed(sa, &st, FailureCause::TsUnacceptable);
        return;
    }
    for n in p.iter().filter_map(|p| if let Payload::Notify(n) = p { Some(n) } else { None }) {
        if n.kind == notify::RESPONDER_LIFETIME {
            let (secs, kb) = responder_lifetimes(&n.data);
            if secs > 0
                && (choice.policy.lifetime_seconds == 0 || secs < choice.policy.lifetime_seconds)
            {
                choice.policy.lifetime_seconds = secs;
            }
            if kb > 0
                && (choice.policy.lifetime_kilobytes == 0 || kb < choice.policy.lifetime_kilobytes)
            {
                choice.policy.lifetime_kilobytes = kb;
            }
        }
    }
    let g_qm = match (&st.dh, ke_of(p)) {
        (Some(d), Some(k)) => match d.shared_secret(&k) {
            Ok(s) => Some(s),
            Err(e) => {
                child_failed(sa, &st, FailureCause::ProtocolError(ProtocolError::KeyExchange(e)));
                return;
            }
        },
        (Some(_), None) => {
            child_failed(
                sa,
                &st,
                FailureCause::ProtocolError(ProtocolError::Unsupported(
                    "PFS offered but no KE in Quick Mode message 2".into(),
                )),
            );
            return;
        }
        (None, _) => None,
    };
    let hash3 = keys::qm_hash3(&isakmp.keys, mid, &st.ni, &nr);
    let (bytes, _) = isakmp.seal(&qm_header(sa, mid), &[Payload::Hash(hash3)], &opened.next_iv);
    sa.send(bytes.clone());
    sa.quick.push(Quick {
        mid,
        iv: Vec::new(),
        role: Role::Done { rx_digest: digest(datagram), answer: bytes, until: now + DONE_KEEP },
    });
    let (st_ni, our_spi) = (st.ni.clone(), st.our_spi);
    install(
        sa,
        now,
        Installed {
            policy: choice.policy,
            choice: &choice,
            our_spi,
            ni: &st_ni,
            nr: &nr,
            g_qm: g_qm.as_ref(),
            local_ts: st.local_ts.clone(),
            remote_ts: st.remote_ts.clone(),
            rekey_of: st.rekey_of,
            we_rekeyed: true,
        },
        rng,
    );
}

fn child_failed(sa: &mut Ikev1Sa, st: &InitiatorState, cause: FailureCause) {
    tracing::info!(target: IKEV1, peer = %sa.peer, %cause, "Quick Mode failed");
    if let Some(old) = st.rekey_of.and_then(|s| sa.children.iter_mut().find(|c| c.inbound_spi == s))
    {
        old.rekeying = false;
    }
    sa.events.push_back(Event::ChildSaFailed(cause));
}

#[allow(clippy::too_many_arguments)]
fn responder_finish<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    iv: Vec<u8>,
    mid: u32,
    st: Box<ResponderState>,
    rng: &mut R,
) {
    let Some(opened) = open(sa, h, body, &iv) else {
        sa.quick.push(Quick { mid, iv, role: Role::Responder(st) });
        return;
    };
    let Some(isakmp) = &sa.isakmp else { return };
    let expected = keys::qm_hash3(&isakmp.keys, mid, &st.ni, &st.nr);
    let ok = matches!(opened.parsed.payloads.first(), Some(Payload::Hash(h)) if keys::verify_hash(&expected, h));
    if !ok {
        // Possibly a retransmitted message 1 (its digest): answer again.
        sa.stats.bad_hash += 1;
        sa.quick.push(Quick { mid, iv, role: Role::Responder(st) });
        return;
    }
    sa.last_inbound = sa.last_inbound.max(now);
    let st = *st;
    install(
        sa,
        now,
        Installed {
            policy: st.choice.policy,
            choice: &st.choice,
            our_spi: st.our_spi,
            ni: &st.ni,
            nr: &st.nr,
            g_qm: st.g_qm.as_ref(),
            local_ts: st.local_ts,
            remote_ts: st.remote_ts,
            rekey_of: st.rekey_of,
            we_rekeyed: false,
        },
        rng,
    );
}

struct Installed<'a> {
    policy: Phase2Policy,
    choice: &'a Phase2Choice,
    our_spi: u32,
    ni: &'a [u8],
    nr: &'a [u8],
    g_qm: Option<&'a SharedSecret>,
    local_ts: TrafficSelector,
    remote_ts: TrafficSelector,
    rekey_of: Option<u32>,
    we_rekeyed: bool,
}

pub(super) fn auth_to_integ(auth: Option<u16>) -> Option<IntegId> {
    auth.map(|a| match a {
        p2attr::AUTH_HMAC_MD5 => IntegId::HmacMd5_96,
        p2attr::AUTH_HMAC_SHA1 => IntegId::HmacSha1_96,
        p2attr::AUTH_HMAC_SHA2_256 => IntegId::HmacSha2_256_128,
        p2attr::AUTH_HMAC_SHA2_384 => IntegId::HmacSha2_384_192,
        p2attr::AUTH_HMAC_SHA2_512 => IntegId::HmacSha2_512_256,
        other => IntegId::from(other),
    })
}

fn install<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, i: Installed<'_>, rng: &mut R) {
    let encr = (EncrId::from(u16::from(i.policy.esp_id)), i.policy.key_bits);
    let integ = auth_to_integ(i.policy.auth);
    let (Some(encr_len), Some(integ_len)) =
        (esp_encr_key_len(encr.0, encr.1), esp_integ_key_len(integ))
    else {
        sa.events.push_back(Event::ChildSaFailed(FailureCause::ProtocolError(
            ProtocolError::Unsupported(format!("ESP transform {encr:?} / {integ:?}")),
        )));
        return;
    };
    let peer_spi = i.choice.peer_spi;
    let Some(isakmp) = &sa.isakmp else { return };
    let QuickModeKeys { inbound, outbound } = keys::child_keys(
        &isakmp.keys,
        i.g_qm.map(SharedSecret::as_bytes),
        protocol::ESP,
        (i.ni, i.nr),
        (i.our_spi, peer_spi),
        EspKeyLengths { encr: encr_len, integ: integ_len },
    );
    let transforms = Selected {
        number: i.choice.proposal_number,
        protocol: ProtocolId::Esp,
        spi: peer_spi.to_be_bytes().to_vec(),
        encr,
        prf: None,
        integ,
        dh: i.policy.pfs.map(|g| WireDh::from(g.iana())),
        esn: None,
    };
    let lifetime = core::time::Duration::from_secs(i.policy.lifetime_seconds);
    let (soft, hard) = Ikev1Sa::deadlines(now, lifetime, rng);
    tracing::info!(
        target: IKEV1,
        peer = %sa.peer,
        inbound = format_args!("{:08x}", i.our_spi),
        outbound = format_args!("{peer_spi:08x}"),
        rekey_of = ?i.rekey_of,
        "Quick Mode SA up"
    );
    if let Some(old) = i.rekey_of.and_then(|s| sa.children.iter_mut().find(|c| c.inbound_spi == s))
    {
        old.rekeying = true;
        if i.we_rekeyed {
            old.retire_at = Some(now + sa.cfg.rekey_overlap);
        }
    }
    let copy = |k: &DirectionKeys| DirectionKeys { encr: k.encr.clone(), integ: k.integ.clone() };
    sa.children.push(Child {
        inbound_spi: i.our_spi,
        outbound_spi: peer_spi,
        local_ts: i.local_ts.clone(),
        remote_ts: i.remote_ts.clone(),
        soft,
        hard,
        rekeying: false,
        retire_at: None,
        policy: i.policy,
        transforms: transforms.clone(),
        inbound: copy(&inbound),
        outbound: copy(&outbound),
    });
    sa.events.push_back(Event::ChildSaUp(ChildSa {
        inbound_spi: i.our_spi,
        outbound_spi: peer_spi,
        transforms,
        inbound,
        outbound,
        local_ts: vec![i.local_ts],
        remote_ts: vec![i.remote_ts],
        lifetime_seconds: i.policy.lifetime_seconds,
        lifetime_kilobytes: i.policy.lifetime_kilobytes,
        mode: Mode::Tunnel,
        rekey_of: i.rekey_of,
    }));
}

/// Starts the rekey of a pair. False if there is none or it is already being rekeyed.
pub(super) fn rekey<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    inbound_spi: u32,
    rng: &mut R,
) -> bool {
    if !sa.is_established() {
        return false;
    }
    match sa.children.iter().find(|c| c.inbound_spi == inbound_spi) {
        Some(c) if !c.rekeying => {
            start(sa, now, Some(inbound_spi), rng);
            true
        }
        _ => false,
    }
}

/// Removes a pair, telling the peer (an Informational DELETE of our inbound SPI).
pub(super) fn delete_child<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    inbound_spi: u32,
    notify_peer: bool,
    rng: &mut R,
) -> bool {
    let Some(pos) = sa.children.iter().position(|c| c.inbound_spi == inbound_spi) else {
        return false;
    };
    let c = sa.children.remove(pos);
    if notify_peer && sa.is_established() {
        super::info::send_delete_esp(sa, now, &[c.inbound_spi], rng);
    }
    sa.events
        .push_back(Event::ChildSaDown { inbound_spi: c.inbound_spi, outbound_spi: c.outbound_spi });
    true
}

/// A renewed phase 1 replaced the keys: Quick Modes half-way cannot finish. Ours are
/// reported failed (and a rekey is retried by the old pair's soft lifetime later).
pub(super) fn abandon_exchanges(sa: &mut Ikev1Sa) {
    for q in core::mem::take(&mut sa.quick) {
        if let Role::Initiator(st) = q.role {
            child_failed(
                sa,
                &st,
                FailureCause::ProtocolError(ProtocolError::Unsupported(
                    "Quick Mode abandoned: the ISAKMP SA was renewed".into(),
                )),
            );
        }
    }
}

/// The peer restarted: every pair is gone on its side (no DELETE: it has no keys for them).
pub(super) fn drop_all(sa: &mut Ikev1Sa) {
    for c in core::mem::take(&mut sa.children) {
        sa.events.push_back(Event::ChildSaDown {
            inbound_spi: c.inbound_spi,
            outbound_spi: c.outbound_spi,
        });
    }
}

/// The inbound SPIs of the pairs our own Quick Modes in flight are rekeying.
pub(super) fn rekeys_in_flight(sa: &Ikev1Sa) -> Vec<u32> {
    sa.quick
        .iter()
        .filter_map(|q| match &q.role {
            Role::Initiator(st) => st.rekey_of,
            _ => None,
        })
        .collect()
}

/// The next Quick Mode timer.
pub(super) fn next_timeout(sa: &Ikev1Sa) -> Option<Time> {
    let q = sa.quick.iter().filter_map(|q| match &q.role {
        Role::Initiator(s) => s.rtx.poll_timeout(),
        Role::Responder(s) => s.rtx.poll_timeout(),
        Role::Done { until, .. } => Some(*until),
    });
    let c = sa.children.iter().flat_map(|c| {
        [if c.rekeying { None } else { c.soft }, c.hard, c.retire_at].into_iter().flatten()
    });
    q.chain(c).min()
}

/// Retransmits, lifetimes and retirements.
pub(super) fn handle_timeout<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    let mut resend = Vec::new();
    let mut failed = Vec::new();
    sa.quick.retain_mut(|q| match &mut q.role {
        Role::Initiator(s) => match s.rtx.on_timeout(now) {
            Timeout::Resend { .. } => {
                resend.push(s.bytes.clone());
                true
            }
            Timeout::GiveUp { sends, waited } => {
                failed.push((s.rekey_of, FailureCause::PeerUnreachable { sends, waited }));
                false
            }
            Timeout::Wait => true,
        },
        Role::Responder(s) => match s.rtx.on_timeout(now) {
            Timeout::Resend { .. } => {
                resend.push(s.bytes.clone());
                true
            }
            // The initiator never confirmed: nothing was installed, nothing to undo.
            Timeout::GiveUp { .. } => false,
            Timeout::Wait => true,
        },
        Role::Done { until, .. } => *until > now,
    });
    for bytes in resend {
        sa.stats.retransmits += 1;
        sa.send(bytes);
    }
    for (rekey_of, cause) in failed {
        if let Some(old) =
            rekey_of.and_then(|s| sa.children.iter_mut().find(|c| c.inbound_spi == s))
        {
            old.rekeying = false;
        }
        tracing::info!(target: IKEV1, peer = %sa.peer, %cause, "Quick Mode failed");
        sa.events.push_back(Event::ChildSaFailed(cause));
    }
    let retire: Vec<u32> = sa
        .children
        .iter()
        .filter(|c| c.retire_at.is_some_and(|t| t <= now) || c.hard.is_some_and(|t| t <= now))
        .map(|c| c.inbound_spi)
        .collect();
    for spi in retire {
        delete_child(sa, now, spi, true, rng);
    }
    let soft: Vec<u32> = sa
        .children
        .iter()
        .filter(|c| !c.rekeying && c.soft.is_some_and(|t| t <= now))
        .map(|c| c.inbound_spi)
        .collect();
    for spi in soft {
        rekey(sa, now, spi, rng);
    }
}

/// The peer deleted SPIs: remove the pairs they name (its inbound SPI is our outbound one;
/// our inbound one is accepted too, as some implementations send it).
pub(super) fn peer_deleted(sa: &mut Ikev1Sa, spis: &[u32]) {
    let (gone, keep): (Vec<Child>, Vec<Child>) = core::mem::take(&mut sa.children)
        .into_iter()
        .partition(|c| spis.contains(&c.outbound_spi) || spis.contains(&c.inbound_spi));
    sa.children = keep;
    for c in gone {
        tracing::info!(target: IKEV1, peer = %sa.peer, inbound = format_args!("{:08x}", c.inbound_spi), "peer deleted Quick Mode SA");
        sa.events.push_back(Event::ChildSaDown {
            inbound_spi: c.inbound_spi,
            outbound_spi: c.outbound_spi,
        });
    }
}

/// The peer refused our Quick Mode with an error notify: fail the exchange it names (by
/// SPI) or, when it names none, the only one outstanding.
pub(super) fn peer_refused(sa: &mut Ikev1Sa, n: &Notification) {
    let spi = <[u8; 4]>::try_from(n.spi.as_slice()).ok().map(u32::from_be_bytes);
    let initiators: Vec<usize> = sa
        .quick
        .iter()
        .enumerate()
        .filter(
            |(_, q)| matches!(&q.role, Role::Initiator(s) if spi.is_none_or(|x| x == s.our_spi)),
        )
        .map(|(i, _)| i)
        .collect();
    if initiators.len() != 1 {
        return;
    }
    let q = sa.quick.remove(initiators[0]);
    if let Role::Initiator(st) = q.role {
        let cause = match n.kind {
            notify::NO_PROPOSAL_CHOSEN => {
                FailureCause::NoProposalChosen("peer refused our transform sets".into())
            }
            notify::INVALID_ID_INFORMATION => FailureCause::TsUnacceptable,
            other => FailureCause::ProtocolError(ProtocolError::Unsupported(format!(
                "peer sent notify {}",
                crate::ikev1::wire::notify_name(other).unwrap_or("(unknown)")
            ))),
        };
        child_failed(sa, &st, cause);
    }
}
