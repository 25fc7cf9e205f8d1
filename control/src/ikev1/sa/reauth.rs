//! Phase-1 renewal ("reauthentication"): before the ISAKMP SA's lifetime ends a new Main
//! or Aggressive Mode runs beside it, and when it completes it takes the old one's place
//! under new cookies and keys. The Quick Mode SAs are not touched (in IKEv1 they do not
//! depend on the ISAKMP SA that made them, RFC 2409 section 5.5), so traffic flows on;
//! later Quick Modes, DPD and DELETEs use the new phase-1 keys. The renewing side then
//! deletes the old ISAKMP SA; strongSwan and the ASA do the same and adopt the Quick Mode
//! SAs into the new one.
//!
//! The new phase 1 is an inner [`Ikev1Sa`] flagged `inner`: it sends no INITIAL-CONTACT
//! (which would tell the peer to drop the Quick Mode SAs), starts no Quick Mode and runs no
//! XAUTH. The original initiator renews at the usual jittered soft lifetime (80-90 %); the
//! responder only at 95 %, so that it renews only if the initiator did not.
//!
//! Reported as [`Event::IkeSaRekeyed`] with the old cookies as the old SPIs.

use core::net::SocketAddr;
use core::time::Duration;

use rand_core::CryptoRng;

use crate::ikev2::sa::{Event, IkeSaInfo};
use crate::log::IKEV1;
use crate::time::Time;

use super::{Accept, Ikev1Sa, info};

/// When the responder renews (if the initiator has not): 95 % of the lifetime.
pub(super) fn responder_soft(now: Time, lifetime: Duration) -> Option<Time> {
    (!lifetime.is_zero()).then(|| now + lifetime.mul_f64(0.95))
}

/// Starts renewing (at the soft deadline). Does nothing if a renewal runs already.
pub(super) fn start<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    if sa.reauth.is_some() || !sa.is_established() {
        return;
    }
    let mut cfg = sa.cfg.clone();
    // A new phase 1 starts on the IKE port; NAT-T floats it again if needed.
    cfg.local.set_port(500);
    cfg.peer = SocketAddr::new(sa.peer.ip(), 500);
    let mut inner = Ikev1Sa::new(cfg, true, rng.next_u64().max(1), 0, now);
    inner.inner = true;
    inner.dpd.seq = sa.dpd.seq;
    super::phase1::start(&mut inner, now, rng);
    tracing::info!(target: IKEV1, peer = %sa.peer, "renewing the ISAKMP SA");
    sa.reauth = Some(Box::new(inner));
    drain(sa, now, rng);
}

/// The peer renews: its first message for a new ISAKMP SA with us. False if it cannot be
/// taken as a renewal (we are not established, or a renewal runs already).
pub(super) fn accept<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    datagram: &[u8],
    from: SocketAddr,
    rng: &mut R,
) -> bool {
    if !sa.is_established() || sa.reauth.as_ref().is_some_and(|r| !r.is_dead()) {
        return false;
    }
    match Ikev1Sa::accept_inner(now, sa.cfg.clone(), datagram, from, rng) {
        Accept::Sa(inner) => {
            tracing::info!(target: IKEV1, peer = %sa.peer, "the peer renews the ISAKMP SA");
            sa.reauth = Some(inner);
            drain(sa, now, rng);
            true
        }
        Accept::Refused { transmit, .. } => {
            sa.transmits.push_back(transmit);
            true
        }
        Accept::Drop => false,
    }
}

/// A datagram for the renewing phase 1 (its initiator cookie).
pub(super) fn handle<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    datagram: &[u8],
    from: SocketAddr,
    rng: &mut R,
) {
    if let Some(inner) = &mut sa.reauth {
        inner.handle(now, datagram, from, rng);
    }
    drain(sa, now, rng);
}

/// The renewing phase 1's timers.
pub(super) fn handle_timeout<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    if let Some(inner) = &mut sa.reauth
        && inner.poll_timeout().is_some_and(|t| t <= now)
    {
        inner.handle_timeout(now, rng);
    }
    drain(sa, now, rng);
}

/// Moves the inner SA's datagrams out and acts on its events: established → take its
/// place; failed → forget it (the old SA runs on to its hard lifetime).
fn drain<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    let Some(inner) = &mut sa.reauth else { return };
    while let Some(t) = inner.poll_transmit() {
        sa.transmits.push_back(t);
    }
    let mut up = None;
    let mut failed = None;
    while let Some(e) = inner.poll_event() {
        match e {
            Event::Established(info) => up = Some(info),
            Event::Failed(cause) => failed = Some(cause),
            _ => {}
        }
    }
    if let Some(cause) = failed {
        tracing::warn!(target: IKEV1, peer = %sa.peer, %cause, "renewing the ISAKMP SA failed; the old one runs on");
        sa.reauth = None;
        return;
    }
    if let Some(info) = up {
        let Some(inner) = sa.reauth.take() else { return };
        swap(sa, now, *inner, info, rng);
    }
}

/// The new phase 1 takes the old one's place.
fn swap<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    mut new: Ikev1Sa,
    info: IkeSaInfo,
    rng: &mut R,
) {
    let (old_i, old_r) = (sa.cky_i, sa.cky_r);
    // The side that renewed deletes the old ISAKMP SA, with the old keys.
    if new.initiator {
        info::send_delete_isakmp(sa, now, rng);
    }
    sa.cky_i = new.cky_i;
    sa.cky_r = new.cky_r;
    sa.local = new.local;
    sa.peer = new.peer;
    sa.isakmp = new.isakmp.take();
    sa.caps = new.caps;
    sa.nat_detected = new.nat_detected;
    sa.established_at = Some(now);
    sa.expires = new.expires;
    sa.p1_soft = new.p1_soft;
    sa.initiator = new.initiator;
    sa.pending = None;
    sa.replay = new.replay.take();
    sa.last_inbound = now;
    sa.dpd.outstanding = None;
    sa.local_auth = new.local_auth.clone();
    sa.remote_auth = new.remote_auth.clone();
    sa.peer_id = new.peer_id.take();
    sa.p1_policy = new.p1_policy;
    // Quick Modes half-way under the old keys cannot finish under the new ones.
    super::quick::abandon_exchanges(sa);
    if new.initial_contact_received {
        // Not a renewal after all: the peer restarted and has none of our Quick Mode SAs.
        tracing::info!(target: IKEV1, peer = %sa.peer, "INITIAL-CONTACT in the new phase 1: dropping the old Quick Mode SAs");
        super::quick::drop_all(sa);
    }
    tracing::info!(
        target: IKEV1,
        peer = %sa.peer,
        old = format_args!("{old_i:016x}/{old_r:016x}"),
        new = format_args!("{:016x}/{:016x}", sa.cky_i, sa.cky_r),
        "ISAKMP SA renewed"
    );
    sa.events.push_back(Event::IkeSaRekeyed { old_spi_i: old_i, old_spi_r: old_r, info });
}
