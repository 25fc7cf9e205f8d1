//! Informational exchanges (RFC 2409 section 5.7): DELETE and notifies protected by the
//! phase-1 keys with HASH(1) = prf(SKEYID_a, M-ID | N/D), and dead peer detection (RFC 3706)
//! with R-U-THERE / R-U-THERE-ACK.
//!
//! Informational messages are single messages: nothing is retransmitted but R-U-THERE,
//! which DPD resends every `retry` until an ACK or the retry budget runs out.

use rand_core::CryptoRng;

use crate::ikev1::keys;
use crate::ikev1::wire::{
    Delete, ExchangeType, Header, ISAKMP_VERSION, Notification, Payload, PayloadType, flags,
    notify, notify_name, parse_payloads, protocol,
};
use crate::ikev2::sa::{CloseReason, Event, FailureCause};
use crate::log::IKEV1;
use crate::time::Time;

use super::protect::Isakmp;
use super::{Ikev1Sa, quick};

fn info_header(sa: &Ikev1Sa, mid: u32) -> Header {
    Header {
        initiator_cookie: sa.cky_i,
        responder_cookie: sa.cky_r,
        next_payload: PayloadType::None,
        version: ISAKMP_VERSION,
        exchange: ExchangeType::Informational,
        flags: flags::ENCRYPTION,
        message_id: mid,
        length: 0,
    }
}

/// The ISAKMP SA's SPI in notifies and deletes: CKY-I | CKY-R.
fn isakmp_spi(sa: &Ikev1Sa) -> Vec<u8> {
    let mut spi = sa.cky_i.to_be_bytes().to_vec();
    spi.extend_from_slice(&sa.cky_r.to_be_bytes());
    spi
}

/// Sends a protected Informational with `payloads`.
pub(super) fn send_informational<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    _now: Time,
    payloads: Vec<Payload>,
    rng: &mut R,
) {
    let mid = quick::fresh_mid(sa, rng);
    let Some(isakmp) = &sa.isakmp else { return };
    let (first, chain) = Isakmp::hashed_chain(&payloads, |r| keys::info_hash(&isakmp.keys, mid, r));
    let iv = isakmp.exchange_iv(mid);
    let (bytes, _) = isakmp.seal_chain(&info_header(sa, mid), first, &chain, &iv);
    sa.send(bytes);
}

/// DELETE of our inbound SPIs (the peer removes the pairs).
pub(super) fn send_delete_esp<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    spis: &[u32],
    rng: &mut R,
) {
    if spis.is_empty() {
        return;
    }
    let d = Delete {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ESP,
        spi_size: 4,
        spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
    };
    send_informational(sa, now, vec![Payload::Delete(d)], rng);
}

/// On close: DELETE every pair, then the ISAKMP SA (two messages, as strongSwan and the
/// ASA send them).
pub(super) fn send_deletes<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    let spis: Vec<u32> = sa.children.iter().map(|c| c.inbound_spi).collect();
    send_delete_esp(sa, now, &spis, rng);
    send_delete_isakmp(sa, now, rng);
}

/// DELETE of the ISAKMP SA alone (after a renewal, the old one).
pub(super) fn send_delete_isakmp<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    let d = Delete {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ISAKMP,
        spi_size: 16,
        spis: vec![isakmp_spi(sa)],
    };
    send_informational(sa, now, vec![Payload::Delete(d)], rng);
}

/// An Informational from the peer.
pub(super) fn handle<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    rng: &mut R,
) {
    if !h.is_encrypted() {
        plain(sa, h, body);
        return;
    }
    let Some(isakmp) = &sa.isakmp else {
        sa.stats.unexpected += 1;
        return;
    };
    // During phase 1 the peer's error notifies use the phase-1 chain; afterwards, a fresh
    // IV from the Message ID.
    let iv = if sa.is_established() { isakmp.exchange_iv(h.message_id) } else { isakmp.iv.clone() };
    let opened = match isakmp.open(h, body, &iv) {
        Ok(o) => o,
        Err(_) => {
            sa.stats.undecryptable += 1;
            return;
        }
    };
    let mid = h.message_id;
    let hashed = Isakmp::check_hash(&opened, |r| keys::info_hash(&isakmp.keys, mid, r)).is_ok();
    if !hashed {
        // Phase-1 error notifies of some implementations carry no HASH: believe only the
        // failure they report, and only before phase 1 completed.
        if !sa.is_established()
            && let Some(n) = opened.parsed.payloads.iter().find_map(|p| match p {
                Payload::Notify(n) => Some(n.clone()),
                _ => None,
            })
            && n.kind < 16384
        {
            phase1_error(sa, &n);
            return;
        }
        sa.stats.bad_hash += 1;
        return;
    }
    sa.last_inbound = sa.last_inbound.max(now);
    for p in opened.parsed.payloads.into_iter().skip(1) {
        match p {
            Payload::Notify(n) => notify(sa, now, n, rng),
            Payload::Delete(d) => delete(sa, d),
            _ => {}
        }
        if sa.dead {
            return;
        }
    }
}

/// An unencrypted Informational: only an error notify during phase 1 counts (it fails
/// the negotiation; the cookies, which only the peer has seen, authenticate it weakly).
fn plain(sa: &mut Ikev1Sa, h: &Header, body: &[u8]) {
    if sa.is_established() {
        sa.stats.unexpected += 1;
        return;
    }
    let Ok(parsed) = parse_payloads(h.next_payload, body) else {
        sa.stats.malformed += 1;
        return;
    };
    match parsed
        .payloads
        .into_iter()
        .find_map(|p| if let Payload::Notify(n) = p { Some(n) } else { None })
    {
        Some(n) if n.kind < 16384 => phase1_error(sa, &n),
        _ => sa.stats.unexpected += 1,
    }
}

fn phase1_error(sa: &mut Ikev1Sa, n: &Notification) {
    let name = notify_name(n.kind).unwrap_or("(unknown)");
    tracing::info!(target: IKEV1, peer = %sa.peer, "phase 1 refused by peer: {name}");
    let cause = match n.kind {
        notify::NO_PROPOSAL_CHOSEN => {
            FailureCause::NoProposalChosen(format!("peer answered {name} to our IKEv1 policies"))
        }
        notify::AUTHENTICATION_FAILED
        | notify::INVALID_HASH_INFORMATION
        | notify::INVALID_ID_INFORMATION => {
            FailureCause::AuthenticationFailed(format!("peer answered {name}"))
        }
        _ => FailureCause::ProtocolError(crate::ikev2::sa::ProtocolError::Unsupported(format!(
            "peer answered {name}"
        ))),
    };
    sa.fail(cause);
}

fn notify<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, n: Notification, rng: &mut R) {
    match n.kind {
        notify::R_U_THERE => {
            let Ok(seq) = <[u8; 4]>::try_from(n.data.as_slice()) else { return };
            // Answered whatever the number (RFC 3706 section 7 lets a receiver drop one not
            // above the last as a replay; the HASH already authenticated it), but kept: a
            // peer unit that took the SA over must continue above it.
            sa.dpd.peer_seq = Some(u32::from_be_bytes(seq));
            sa.stats.dpd_answered += 1;
            let ack = Notification {
                doi: crate::ikev1::wire::DOI_IPSEC,
                protocol: protocol::ISAKMP,
                spi: isakmp_spi(sa),
                kind: notify::R_U_THERE_ACK,
                data: seq.to_vec(),
            };
            send_informational(sa, now, vec![Payload::Notify(ack)], rng);
        }
        notify::R_U_THERE_ACK => {
            let Ok(seq) = <[u8; 4]>::try_from(n.data.as_slice()) else { return };
            if let Some((want, ..)) = sa.dpd.outstanding
                && want == u32::from_be_bytes(seq)
            {
                sa.dpd.outstanding = None;
            }
        }
        notify::INITIAL_CONTACT => sa.initial_contact_received = true,
        kind if kind < 16384 => {
            sa.stats.notifies += 1;
            quick::peer_refused(sa, &n);
        }
        kind => {
            sa.stats.notifies += 1;
            tracing::debug!(target: IKEV1, peer = %sa.peer, kind, "notify ignored");
        }
    }
}

fn delete(sa: &mut Ikev1Sa, d: Delete) {
    match d.protocol {
        protocol::ISAKMP => {
            let ours = isakmp_spi(sa);
            if d.spis.contains(&ours) {
                tracing::info!(target: IKEV1, peer = %sa.peer, "peer deleted the ISAKMP SA");
                sa.finish(Event::Closed { reason: CloseReason::PeerDeleted });
            }
        }
        protocol::ESP | protocol::AH => {
            let spis: Vec<u32> = d
                .spis
                .iter()
                .filter_map(|s| <[u8; 4]>::try_from(s.as_slice()).ok().map(u32::from_be_bytes))
                .collect();
            quick::peer_deleted(sa, &spis);
        }
        _ => {}
    }
}

/// Whether DPD runs: configured, and the peer announced it.
fn dpd_on(sa: &Ikev1Sa) -> bool {
    sa.cfg.dpd.is_some() && sa.caps.dpd && sa.is_established()
}

/// The next DPD timer.
pub(super) fn dpd_next(sa: &Ikev1Sa) -> Option<Time> {
    let dpd = sa.cfg.dpd.filter(|_| dpd_on(sa))?;
    Some(match sa.dpd.outstanding {
        Some((.., next)) => next,
        None => sa.last_inbound + dpd.threshold,
    })
}

/// Sends an R-U-THERE after the threshold of silence; resends it every `retry`; declares
/// the peer dead when the retries run out.
pub(super) fn dpd_timeout<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    let Some(dpd) = sa.cfg.dpd.filter(|_| dpd_on(sa)) else { return };
    if let Some((_, first, ..)) = sa.dpd.outstanding
        && sa.last_inbound > first
    {
        // The peer spoke (or its ESP arrived) since the check began: it is alive, and the
        // next check waits for another threshold of silence.
        sa.dpd.outstanding = None;
    }
    let (seq, first, sends) = match sa.dpd.outstanding {
        Some((seq, first, sends, next)) => {
            if now < next {
                return;
            }
            if sends > dpd.retries {
                sa.dpd.outstanding = None;
                tracing::info!(target: IKEV1, peer = %sa.peer, sends, "DPD: peer dead");
                sa.fail(FailureCause::PeerUnreachable { sends, waited: now - first });
                return;
            }
            (seq, first, sends + 1)
        }
        None => {
            if now < sa.last_inbound + dpd.threshold {
                return;
            }
            sa.dpd.seq = sa.dpd.seq.wrapping_add(1);
            (sa.dpd.seq, now, 1)
        }
    };
    sa.dpd.outstanding = Some((seq, first, sends, now + dpd.retry));
    sa.stats.dpd_sent += 1;
    let n = Notification {
        doi: crate::ikev1::wire::DOI_IPSEC,
        protocol: protocol::ISAKMP,
        spi: isakmp_spi(sa),
        kind: notify::R_U_THERE,
        data: seq.to_be_bytes().to_vec(),
    };
    send_informational(sa, now, vec![Payload::Notify(n)], rng);
}
