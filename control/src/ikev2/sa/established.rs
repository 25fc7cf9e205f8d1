//! The established IKE SA: INFORMATIONAL exchanges (RFC 7296 section 1.4) for DELETE of
//! the IKE SA or of Child SAs and for liveness checks, CREATE_CHILD_SA (section 1.3, in
//! [`create_child`](super::create_child)), the Child SAs' and the IKE SA's lifetimes
//! (section 2.8), and the older generations of a rekeyed IKE SA (section 2.18, see
//! [`generation`](super::generation)).
//!
//! Our own requests wait in a queue while one is outstanding (window size 1); a DELETE of
//! the IKE SA jumps the queue, since it makes every other request moot.

use core::time::Duration;
use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::ikev2::wire::{
    DeleteRepr, ExchangeType, HeaderRepr, NotifyRepr, NotifyType, Payload, ProtocolId,
};
use crate::log::IKEV2_PROTOCOL;
use crate::time::Time;

use super::auth::AuthVerified;
use super::children::{Child, ChildState, Origin, PairKeys, hard_deadline, soft_deadline};
use super::config::ChildConfig;
use super::context::{Context, Inbound, State};
use super::create_child::{CreateKind, CreateReq, Outgoing};
use super::events::{ChildSa, CloseReason, Event, FailureCause, IkeSaInfo, UnansweredRequest};
use super::exchange::{Purpose, RequestCheck, RequestTimeout};
use super::generation::{self, Fate, NewGen, OldGen};
use super::keys::IkeKeys;

/// A request of ours waiting for the window.
#[derive(Debug, Clone)]
pub(super) enum Queued {
    DeleteIke,
    DeleteChild(u32),
    Create(CreateReq),
}

/// What a message of an old generation leaves to do once it is swapped out again.
enum OldOutcome {
    Keep,
    /// Deleted: keep answering retransmissions for a while, nothing else.
    Retire,
    /// The answer to our IKE SA rekey, which crossed the peer's.
    IkeRekeyAnswer(Vec<Payload>),
}

/// The established state. Holds the IKE SA's keys, its Child SAs, its queued requests and
/// the CREATE_CHILD_SA of ours in flight.
pub(crate) struct Established {
    pub(super) keys: IkeKeys,
    /// The peer authenticated; Child SAs of later exchanges are installed under it too.
    pub(super) auth: AuthVerified,
    /// The current generation, for [`Event::IkeSaRekeyed`].
    pub(super) info: IkeSaInfo,
    pub(super) children: Vec<Child>,
    pub(super) queue: VecDeque<Queued>,
    /// Our CREATE_CHILD_SA in flight, with its secrets.
    pub(super) ccs: Option<Outgoing>,
    /// Older generations not yet deleted.
    pub(super) old: Vec<OldGen>,
    /// CREATE_CHILD_SA requests to send again (the peer answered TEMPORARY_FAILURE).
    pub(super) retries: Vec<(Time, CreateReq)>,
    pub(super) ike_soft: Option<Time>,
    pub(super) ike_hard: Option<Time>,
    /// When the current generation was made, from which its lifetime counts.
    pub(super) since: Time,
    /// The IKE_SA_INIT that made the IKE SA (kept through rekeys: both peers keep the
    /// same, so they rank duplicates alike); `None` when rebuilt from HA records.
    pub(super) origin: Option<Origin>,
}

impl Established {
    pub fn new(keys: IkeKeys, auth: AuthVerified, info: IkeSaInfo, now: Time) -> Established {
        Established {
            keys,
            auth,
            info,
            children: Vec::new(),
            queue: VecDeque::new(),
            ccs: None,
            old: Vec::new(),
            retries: Vec::new(),
            ike_soft: None,
            ike_hard: None,
            since: now,
            origin: None,
        }
    }

    /// Records a Child SA just reported up, made by the exchange `origin`, and starts its
    /// lifetimes.
    pub fn add_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        c: &ChildSa,
        cfg: ChildConfig,
        origin: Option<Origin>,
        rng: &mut R,
    ) {
        let life = Duration::from_secs(cfg.lifetime_seconds);
        self.children.push(Child {
            inbound: c.inbound_spi,
            outbound: c.outbound_spi,
            local_ts: c.local_ts.clone(),
            remote_ts: c.remote_ts.clone(),
            transforms: c.transforms.clone(),
            keys: PairKeys::of(c),
            soft: soft_deadline(now, life, rng),
            hard: hard_deadline(now, life),
            cfg,
            state: ChildState::Installed,
            origin,
        });
    }

    /// What the duplicate rule judges the IKE SA by: its origin and its pairs in use
    /// (`None` while we delete it: it is on its way out already).
    pub fn duplicate_view(
        &self,
        cx: &Context,
        handle: super::endpoint::SaHandle,
    ) -> Option<super::duplicates::IkeView> {
        if self.closing(cx) {
            return None;
        }
        let children = self
            .children
            .iter()
            .filter(|c| c.state == ChildState::Installed)
            .map(|c| super::duplicates::ChildView {
                inbound: c.inbound,
                outbound: c.outbound,
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
                origin: c.origin.clone(),
            })
            .collect();
        Some(super::duplicates::IkeView {
            handle,
            spis: (cx.spi_i, cx.spi_r),
            origin: self.origin.clone(),
            children,
        })
    }

    /// The (inbound, outbound) SPIs of the Child SAs that are up.
    pub fn children(&self) -> Vec<(u32, u32)> {
        self.children.iter().map(|c| (c.inbound, c.outbound)).collect()
    }

    /// The SPIs of every generation still handled: (spi_i, spi_r, we are its initiator).
    pub fn generations(&self, cx: &Context) -> Vec<(u64, u64, bool)> {
        let mut v = vec![(cx.spi_i, cx.spi_r, cx.initiator)];
        v.extend(self.old.iter().map(|g| (g.spi_i, g.spi_r, g.initiator)));
        v
    }

    pub(super) fn child(&self, inbound: u32) -> Option<&Child> {
        self.children.iter().find(|c| c.inbound == inbound)
    }

    pub(super) fn child_mut(&mut self, inbound: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.inbound == inbound)
    }

    /// Deletes a Child SA the peer may have installed although we refused it (its SPI is
    /// our inbound one, known to us but not in our table).
    pub fn queue_delete_child(&mut self, inbound: u32) {
        self.queue.push_back(Queued::DeleteChild(inbound));
    }

    /// Enters the state: starts the IKE SA's lifetime, sends anything already queued.
    pub fn start<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> State {
        self.since = now;
        self.set_ike_timers(cx, now, rng);
        self.send_next(cx, now, rng);
        State::Established(self)
    }

    fn set_ike_timers<R: CryptoRng + ?Sized>(&mut self, cx: &Context, start: Time, rng: &mut R) {
        self.ike_soft = soft_deadline(start, cx.ike_lifetime, rng);
        self.ike_hard = hard_deadline(start, cx.ike_lifetime);
    }

    /// Applies a changed `cx.ike_lifetime` to the current generation.
    pub fn lifetime_changed<R: CryptoRng + ?Sized>(&mut self, cx: &Context, rng: &mut R) {
        let since = self.since;
        self.set_ike_timers(cx, since, rng);
    }

    /// ChildSaDown for every Child SA, before the IKE SA's terminal event (deleting the IKE
    /// SA deletes its Child SAs, section 1.4.1).
    fn all_children_down(&mut self, cx: &mut Context) {
        for c in self.children.drain(..) {
            cx.events
                .push_back(Event::ChildSaDown { inbound_spi: c.inbound, outbound_spi: c.outbound });
        }
    }

    pub(super) fn child_down(&mut self, cx: &mut Context, inbound: u32) -> bool {
        let Some(i) = self.children.iter().position(|c| c.inbound == inbound) else {
            return false;
        };
        let c = self.children.remove(i);
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
            "Child SA {:08x}/{:08x} down", c.inbound, c.outbound);
        cx.events
            .push_back(Event::ChildSaDown { inbound_spi: c.inbound, outbound_spi: c.outbound });
        true
    }

    /// Whether we are deleting the IKE SA (section 2.25: the peer's CREATE_CHILD_SA then
    /// gets TEMPORARY_FAILURE).
    pub(super) fn closing(&self, cx: &Context) -> bool {
        self.queue.iter().any(|q| matches!(q, Queued::DeleteIke))
            || matches!(cx.requests.purpose(), Some(Purpose::DeleteIke))
    }

    /// Whether a CREATE_CHILD_SA like `kind` is in flight, queued or waiting to be retried.
    pub(super) fn create_pending(&self, kind: &CreateKind) -> bool {
        self.ccs.as_ref().is_some_and(|o| o.req.kind.same(kind))
            || self.queue.iter().any(|q| matches!(q, Queued::Create(r) if r.kind.same(kind)))
            || self.retries.iter().any(|(_, r)| r.kind.same(kind))
    }

    /// Drops queued and to-be-retried CREATE_CHILD_SAs like `kind` (not one in flight).
    pub(super) fn cancel_create(&mut self, kind: &CreateKind) {
        self.queue.retain(|q| !matches!(q, Queued::Create(r) if r.kind.same(kind)));
        self.retries.retain(|(_, r)| !r.kind.same(kind));
    }

    /// Starts deleting one of our Child SAs (the caller runs `send_next`).
    pub(super) fn start_delete_child(&mut self, inbound: u32) {
        let Some(c) = self.child_mut(inbound) else { return };
        if c.state == ChildState::Deleting {
            return;
        }
        c.state = ChildState::Deleting;
        c.soft = None;
        self.cancel_create(&CreateKind::RekeyChild(inbound));
        let queued =
            self.queue.iter().any(|q| matches!(q, Queued::DeleteChild(s) if *s == inbound));
        if !queued && !self.queue.iter().any(|q| matches!(q, Queued::DeleteIke)) {
            // Ahead of queued CREATE_CHILD_SAs: a replaced pair should not linger behind
            // a batch of new ones.
            let at = self
                .queue
                .iter()
                .position(|q| matches!(q, Queued::Create(_)))
                .unwrap_or(self.queue.len());
            self.queue.insert(at, Queued::DeleteChild(inbound));
        }
    }

    /// Sends the next queued requests while the window is free: on the current generation,
    /// and any DELETE due on an old one.
    pub(super) fn send_next<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) {
        self.pump_old(cx, now, rng);
        while cx.requests.is_idle() {
            // Our CREATE_CHILD_SA in flight on an old generation (an IKE SA rekey that
            // crossed the peer's) holds everything but the DELETE of the IKE SA: which
            // generation survives is not known yet.
            let blocked = self.ccs.is_some();
            let Some(pos) =
                self.queue.iter().position(|q| !blocked || matches!(q, Queued::DeleteIke))
            else {
                return;
            };
            let Some(q) = self.queue.remove(pos) else { return };
            let (payloads, purpose) = match q {
                Queued::DeleteIke => (
                    vec![Payload::Delete(DeleteRepr { protocol: ProtocolId::Ike, spis: vec![] })],
                    Purpose::DeleteIke,
                ),
                Queued::DeleteChild(spi) => (
                    vec![Payload::Delete(DeleteRepr {
                        protocol: ProtocolId::Esp,
                        spis: vec![spi],
                    })],
                    Purpose::DeleteChild(vec![spi]),
                ),
                Queued::Create(req) => {
                    // Sends nothing if the request became moot; then the next one goes.
                    self.start_create(cx, now, req, rng);
                    continue;
                }
            };
            let keys = &self.keys;
            cx.request_encrypted(keys, now, ExchangeType::Informational, &payloads, purpose, rng);
            if cx.requests.is_idle() {
                // Could not be built (counted as an internal error): do not spin on it.
                return;
            }
        }
    }

    /// A request from the peer (its ID already checked against the window).
    pub fn handle_request<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        let o = match cx.open(&self.keys, msg) {
            Ok(o) => o,
            Err(None) => return State::Established(self),
            Err(Some(e)) => {
                tracing::debug!(target: IKEV2_PROTOCOL, "malformed request: {e}");
                let n = [Payload::Notify(NotifyRepr::new(e.notify_type(), vec![]))];
                cx.answer_encrypted(&self.keys, msg, &n, rng);
                return State::Established(self);
            }
        };
        cx.stats.requests_processed += 1;
        cx.last_heard = now;
        match msg.header.exchange_type {
            ExchangeType::Informational => self.informational(cx, now, msg, &o.payloads, rng),
            ExchangeType::CreateChildSa => {
                self.create_request(cx, now, msg, &o.payloads, rng);
                self.send_next(cx, now, rng);
                State::Established(self)
            }
            other => {
                tracing::debug!(target: IKEV2_PROTOCOL, "unexpected {other} request");
                let n = [Payload::Notify(NotifyRepr::new(NotifyType::InvalidSyntax, vec![]))];
                cx.answer_encrypted(&self.keys, msg, &n, rng);
                State::Established(self)
            }
        }
    }

    fn informational<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        payloads: &[Payload],
        rng: &mut R,
    ) -> State {
        if deletes_ike(payloads) {
            tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "peer deleted the IKE SA");
            cx.answer_encrypted(&self.keys, msg, &[], rng);
            self.all_children_down(cx);
            return cx.finish(now, Event::Closed { reason: CloseReason::PeerDeleted });
        }
        let auth_failed = payloads.iter().any(|p| {
            matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::AuthenticationFailed)
        });
        if auth_failed {
            cx.answer_encrypted(&self.keys, msg, &[], rng);
            self.all_children_down(cx);
            let why = "peer rejected our AUTH".to_string();
            return cx.fail(now, FailureCause::AuthenticationFailed(why));
        }
        let answer = self.peer_deletes_children(cx, payloads);
        cx.answer_encrypted(&self.keys, msg, &answer, rng);
        self.send_next(cx, now, rng);
        State::Established(self)
    }

    /// The peer's DELETE of Child SAs: they go down, and the answer names our inbound SPIs
    /// of the same pairs.
    fn peer_deletes_children(&mut self, cx: &mut Context, payloads: &[Payload]) -> Vec<Payload> {
        // Child SA deletes name the sender's inbound SPIs, our outbound ones; we answer
        // with our inbound SPIs of the same pairs (section 1.4.1). Unknown SPIs are
        // ignored, as the section allows.
        let mut ours = Vec::new();
        for d in payloads.iter().filter_map(|p| match p {
            Payload::Delete(d) if d.protocol == ProtocolId::Esp => Some(d),
            _ => None,
        }) {
            for &out in &d.spis {
                if let Some(inbound) =
                    self.children.iter().find(|c| c.outbound == out).map(|c| c.inbound)
                {
                    // Our own pending DELETE or rekey of the same pair becomes moot.
                    self.queue.retain(|q| !matches!(q, Queued::DeleteChild(s) if *s == inbound));
                    self.cancel_create(&CreateKind::RekeyChild(inbound));
                    self.child_down(cx, inbound);
                    ours.push(inbound);
                }
            }
        }
        if ours.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(DeleteRepr { protocol: ProtocolId::Esp, spis: ours })]
        }
    }

    /// The answer to our outstanding request.
    pub fn handle_response<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        let payloads = match cx.open(&self.keys, msg) {
            Ok(o) => o.payloads,
            Err(None) => return State::Established(self),
            // Authentic but garbled: the peer did answer; treat it as answered.
            Err(Some(e)) => {
                tracing::debug!(target: IKEV2_PROTOCOL, "malformed response: {e}");
                Vec::new()
            }
        };
        cx.last_heard = now;
        let Some(done) = cx.requests.complete() else { return State::Established(self) };
        match done.purpose {
            Purpose::DeleteIke => {
                self.all_children_down(cx);
                return cx.finish(now, Event::Closed { reason: CloseReason::Local });
            }
            Purpose::DeleteChild(spis) => {
                for spi in spis {
                    self.child_down(cx, spi);
                }
            }
            Purpose::Notice => return cx.finish(now, Event::Closed { reason: CloseReason::Local }),
            Purpose::CreateChildSa => self.create_response(cx, now, &payloads, rng),
            Purpose::MidSync { nonce } => super::ha_export::mid_sync_answer(cx, nonce, &payloads),
            Purpose::Liveness | Purpose::SaInit | Purpose::Auth => {}
        }
        self.send_next(cx, now, rng);
        State::Established(self)
    }

    /// Our request went unanswered through the whole schedule.
    pub fn give_up(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        sends: u32,
        waited: Duration,
        purpose: Purpose,
    ) -> State {
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "no answer to {purpose:?}");
        cx.unanswered = Some(match purpose {
            Purpose::Liveness => UnansweredRequest::Liveness,
            Purpose::CreateChildSa => UnansweredRequest::CreateChildSa,
            _ => UnansweredRequest::Informational,
        });
        self.all_children_down(cx);
        match purpose {
            // We were deleting it anyway.
            Purpose::DeleteIke => cx.finish(now, Event::Closed { reason: CloseReason::Local }),
            _ => cx.fail(now, FailureCause::PeerUnreachable { sends, waited }),
        }
    }

    /// When the liveness check is due: `dpd_interval` after the peer was last heard from,
    /// if nothing else is in flight.
    fn liveness_due(&self, cx: &Context) -> Option<Time> {
        if cx.cfg.dpd_interval.is_zero()
            || !cx.requests.is_idle()
            || !self.queue.is_empty()
            || self.ccs.is_some()
        {
            return None;
        }
        Some(cx.last_heard + cx.cfg.dpd_interval)
    }

    pub fn poll_timeout(&self, cx: &Context) -> Option<Time> {
        let old = self.old.iter().flat_map(|g| [g.requests.poll_timeout(), Some(g.until)]);
        [self.liveness_due(cx), self.ike_soft, self.ike_hard]
            .into_iter()
            .chain(self.children.iter().flat_map(|c| [c.soft, c.hard]))
            .chain(self.retries.iter().map(|r| Some(r.0)))
            .chain(old)
            .flatten()
            .min()
    }

    pub fn handle_timeout<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> State {
        self.old_timeouts(cx, now);
        let (due, later): (Vec<_>, Vec<_>) = self.retries.drain(..).partition(|r| r.0 <= now);
        self.retries = later;
        for (_, req) in due {
            if !self.create_pending(&req.kind) {
                self.queue.push_back(Queued::Create(req));
            }
        }
        if self.ike_hard.is_some_and(|t| now >= t) {
            // Not rekeyed in time (section 2.8: an SA past its lifetime must not be used).
            tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "IKE SA lifetime expired");
            self.ike_hard = None;
            self.ike_soft = None;
            return self.close(cx, now, rng);
        }
        if self.ike_soft.is_some_and(|t| now >= t) {
            self.ike_soft = None;
            self.queue_create(cx, CreateKind::RekeyIke);
        }
        let mut expired = Vec::new();
        let mut rekey = Vec::new();
        for c in &mut self.children {
            if c.hard.is_some_and(|t| now >= t) {
                c.hard = None;
                c.soft = None;
                expired.push(c.inbound);
            } else if c.soft.is_some_and(|t| now >= t) {
                c.soft = None;
                if c.state == ChildState::Installed {
                    rekey.push(c.inbound);
                }
            }
        }
        for spi in expired {
            tracing::debug!(target: IKEV2_PROTOCOL, "Child SA {spi:08x} lifetime expired");
            self.start_delete_child(spi);
        }
        for spi in rekey {
            self.queue_create(cx, CreateKind::RekeyChild(spi));
        }
        self.send_next(cx, now, rng);
        if self.liveness_due(cx).is_some_and(|due| now >= due) {
            tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "liveness check");
            let keys = &self.keys;
            cx.request_encrypted(
                keys,
                now,
                ExchangeType::Informational,
                &[],
                Purpose::Liveness,
                rng,
            );
        }
        State::Established(self)
    }

    /// Queues a CREATE_CHILD_SA unless one like it is pending or the IKE SA is going away.
    fn queue_create(&mut self, cx: &Context, kind: CreateKind) -> bool {
        if self.closing(cx) {
            return false;
        }
        if !self.create_pending(&kind) {
            self.queue.push_back(Queued::Create(CreateReq::new(kind)));
        }
        true
    }

    /// Starts deleting the IKE SA.
    pub fn close<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> State {
        if !self.queue.iter().any(|q| matches!(q, Queued::DeleteIke)) {
            self.queue.clear();
            self.retries.clear();
            self.queue.push_front(Queued::DeleteIke);
        }
        self.send_next(cx, now, rng);
        State::Established(self)
    }

    /// Starts deleting one Child SA.
    pub fn delete_child<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        inbound: u32,
        rng: &mut R,
    ) -> bool {
        if self.child(inbound).is_none() {
            return false;
        }
        self.start_delete_child(inbound);
        self.send_next(cx, now, rng);
        true
    }

    /// Rekeys one Child SA now (e.g. its soft lifetime in kilobytes ran out).
    pub fn rekey_child<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        inbound: u32,
        rng: &mut R,
    ) -> bool {
        if self.child(inbound).is_none_or(|c| c.state != ChildState::Installed) {
            return false;
        }
        let queued = self.queue_create(cx, CreateKind::RekeyChild(inbound));
        self.send_next(cx, now, rng);
        queued
    }

    /// Asks for a further Child SA.
    pub fn create_child<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        cfg: ChildConfig,
        rng: &mut R,
    ) -> bool {
        let queued = self.queue_create(cx, CreateKind::NewChild(Box::new(cfg)));
        self.send_next(cx, now, rng);
        queued
    }

    /// Rekeys the IKE SA now.
    pub fn rekey_ike<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> bool {
        let queued = self.queue_create(cx, CreateKind::RekeyIke);
        self.send_next(cx, now, rng);
        queued
    }

    // -----------------------------------------------------------------------------------
    // Generations.

    /// Makes `new` the current generation; the current one becomes old with `fate`.
    pub(super) fn promote<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        new: NewGen,
        fate: Fate,
        rng: &mut R,
    ) {
        let (old_spi_i, old_spi_r) = (cx.spi_i, cx.spi_r);
        let old = OldGen {
            spi_i: cx.spi_i,
            spi_r: cx.spi_r,
            initiator: cx.initiator,
            requests: core::mem::take(&mut cx.requests),
            responses: core::mem::take(&mut cx.responses),
            keys: core::mem::replace(&mut self.keys, new.keys),
            fate,
            until: now + cx.drain_time(),
        };
        self.old.push(old);
        cx.spi_i = new.spi_i;
        cx.spi_r = new.spi_r;
        cx.initiator = new.initiator;
        // New keys: Message ID 0 is unspent again.
        cx.mid_sync.used = false;
        self.info.spi_i = new.spi_i;
        self.info.spi_r = new.spi_r;
        self.info.initiator = new.initiator;
        self.info.transforms = new.ike;
        self.since = now;
        self.set_ike_timers(cx, now, rng);
        tracing::info!(target: IKEV2_PROTOCOL,
            "IKE SA {old_spi_i:016x}/{old_spi_r:016x} rekeyed to {:016x}/{:016x}",
            new.spi_i, new.spi_r);
        cx.events.push_back(Event::IkeSaRekeyed { old_spi_i, old_spi_r, info: self.info.clone() });
    }

    /// Sends the DELETE of each old generation we delete, once its window is free.
    fn pump_old<R: CryptoRng + ?Sized>(&mut self, cx: &mut Context, now: Time, rng: &mut R) {
        for i in 0..self.old.len() {
            let due = self.old[i].fate == Fate::WeDelete { sent: false }
                && self.old[i].requests.is_idle();
            if !due {
                continue;
            }
            generation::swap(cx, &mut self.keys, &mut self.old[i]);
            let d = [Payload::Delete(DeleteRepr { protocol: ProtocolId::Ike, spis: vec![] })];
            let keys = &self.keys;
            cx.request_encrypted(
                keys,
                now,
                ExchangeType::Informational,
                &d,
                Purpose::DeleteIke,
                rng,
            );
            generation::swap(cx, &mut self.keys, &mut self.old[i]);
            self.old[i].fate = Fate::WeDelete { sent: true };
        }
    }

    /// A request of an old generation that will never be answered: what it was for is
    /// done another way.
    fn abandon(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::DeleteChild(spis) => {
                for spi in spis {
                    let queued =
                        self.queue.iter().any(|q| matches!(q, Queued::DeleteChild(s) if *s == spi));
                    if self.child(spi).is_some() && !queued {
                        self.queue.push_back(Queued::DeleteChild(spi));
                    }
                }
            }
            Purpose::CreateChildSa => {
                // Only one CREATE_CHILD_SA of ours is ever in flight, so this was it. For an
                // IKE SA rekey that crossed the peer's (section 2.8.2): the peer deleted the
                // old IKE SA, so it did not notice ours, and its new SA is the one.
                tracing::debug!(target: IKEV2_PROTOCOL, "CREATE_CHILD_SA abandoned");
                self.ccs = None;
            }
            _ => {}
        }
    }

    /// Retransmissions and ends of the old generations.
    fn old_timeouts(&mut self, cx: &mut Context, now: Time) {
        let mut i = 0;
        while i < self.old.len() {
            generation::swap(cx, &mut self.keys, &mut self.old[i]);
            let t = cx.requests.on_timeout(now);
            if let RequestTimeout::Resend(datagrams) = &t {
                cx.stats.retransmits += 1;
                let to = cx.cfg.remote_addr;
                cx.send_all(to, datagrams.clone());
            }
            generation::swap(cx, &mut self.keys, &mut self.old[i]);
            let gave_up = match t {
                RequestTimeout::GiveUp { purpose, .. } => Some(purpose),
                _ => None,
            };
            if gave_up.is_some() || now >= self.old[i].until {
                let mut g = self.old.remove(i);
                tracing::debug!(target: IKEV2_PROTOCOL,
                    "old IKE SA {:016x}/{:016x} forgotten", g.spi_i, g.spi_r);
                if let Some(p) = gave_up {
                    self.abandon(p);
                }
                if let Some(o) = g.requests.complete() {
                    self.abandon(o.purpose);
                }
                continue;
            }
            i += 1;
        }
    }

    /// A message for an old generation. Returns false if no old generation has its SPIs.
    pub fn handle_old<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        header: HeaderRepr,
        bytes: &[u8],
        from: core::net::SocketAddr,
        rng: &mut R,
    ) -> bool {
        let Some(i) =
            self.old.iter().position(|g| g.spi_i == header.spi_i && g.spi_r == header.spi_r)
        else {
            return false;
        };
        if header.initiator == self.old[i].initiator {
            cx.stats.unexpected += 1;
            return true;
        }
        let mut g = self.old.swap_remove(i);
        let fate = g.fate;
        generation::swap(cx, &mut self.keys, &mut g);
        let msg = Inbound { header, bytes, from, reassembled: None };
        let outcome = self.old_message(cx, now, fate, &msg, rng);
        generation::swap(cx, &mut self.keys, &mut g);
        match outcome {
            OldOutcome::Keep => self.old.push(g),
            OldOutcome::Retire => {
                tracing::debug!(target: IKEV2_PROTOCOL,
                    "old IKE SA {:016x}/{:016x} deleted", g.spi_i, g.spi_r);
                g.fate = Fate::Retired;
                g.until = now + cx.drain_time();
                self.old.push(g);
            }
            OldOutcome::IkeRekeyAnswer(payloads) => {
                self.old.push(g);
                let at = self.old.len() - 1;
                if let Some(out) = self.ccs.take() {
                    self.ike_rekey_answer(cx, now, out, &payloads, Some(at), rng);
                }
            }
        }
        self.send_next(cx, now, rng);
        true
    }

    /// Processes a message of an old generation swapped into `cx` and `self.keys`: only
    /// what such an SA still does (answer a DELETE, finish requests of ours in flight).
    fn old_message<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        fate: Fate,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> OldOutcome {
        let h = msg.header;
        if h.response {
            if !cx.requests.matches(h.message_id, h.exchange_type) {
                cx.stats.unexpected += 1;
                return OldOutcome::Keep;
            }
            let payloads = match cx.open(&self.keys, msg) {
                Ok(o) => o.payloads,
                Err(None) => return OldOutcome::Keep,
                Err(Some(e)) => {
                    tracing::debug!(target: IKEV2_PROTOCOL, "malformed response: {e}");
                    Vec::new()
                }
            };
            cx.last_heard = now;
            let Some(done) = cx.requests.complete() else { return OldOutcome::Keep };
            return match done.purpose {
                Purpose::DeleteIke => OldOutcome::Retire,
                Purpose::DeleteChild(spis) => {
                    for spi in spis {
                        self.child_down(cx, spi);
                    }
                    OldOutcome::Keep
                }
                Purpose::CreateChildSa if self.ccs.as_ref().is_some_and(Outgoing::is_ike) => {
                    OldOutcome::IkeRekeyAnswer(payloads)
                }
                Purpose::CreateChildSa => {
                    // A Child SA exchange never outlives its generation (an IKE SA rekey
                    // is refused while one is in flight); should one, it must not block.
                    self.ccs = None;
                    OldOutcome::Keep
                }
                _ => OldOutcome::Keep,
            };
        }
        match cx.responses.check(h.message_id, msg.bytes) {
            RequestCheck::Replay(answer) => {
                cx.stats.replays += 1;
                cx.send_all(msg.from, answer);
                return OldOutcome::Keep;
            }
            RequestCheck::Drop => {
                cx.stats.unexpected += 1;
                return OldOutcome::Keep;
            }
            RequestCheck::New => {}
        }
        if fate == Fate::Retired {
            cx.stats.unexpected += 1;
            return OldOutcome::Keep;
        }
        let o = match cx.open(&self.keys, msg) {
            Ok(o) => o,
            Err(None) => return OldOutcome::Keep,
            Err(Some(e)) => {
                let n = [Payload::Notify(NotifyRepr::new(e.notify_type(), vec![]))];
                cx.answer_encrypted(&self.keys, msg, &n, rng);
                return OldOutcome::Keep;
            }
        };
        cx.stats.requests_processed += 1;
        cx.last_heard = now;
        match h.exchange_type {
            ExchangeType::Informational if deletes_ike(&o.payloads) => {
                cx.answer_encrypted(&self.keys, msg, &[], rng);
                // Whatever we still had in flight on it will not be answered (section
                // 2.8.2: "stop retransmitting").
                if let Some(out) = cx.requests.complete() {
                    self.abandon(out.purpose);
                }
                OldOutcome::Retire
            }
            ExchangeType::Informational => {
                let answer = self.peer_deletes_children(cx, &o.payloads);
                cx.answer_encrypted(&self.keys, msg, &answer, rng);
                OldOutcome::Keep
            }
            ExchangeType::CreateChildSa => {
                // Section 2.25.2: the SA is being closed.
                let n = [Payload::Notify(NotifyRepr::new(NotifyType::TemporaryFailure, vec![]))];
                cx.answer_encrypted(&self.keys, msg, &n, rng);
                OldOutcome::Keep
            }
            _ => {
                let n = [Payload::Notify(NotifyRepr::new(NotifyType::InvalidSyntax, vec![]))];
                cx.answer_encrypted(&self.keys, msg, &n, rng);
                OldOutcome::Keep
            }
        }
    }
}

/// Whether an INFORMATIONAL deletes the IKE SA it came on.
fn deletes_ike(payloads: &[Payload]) -> bool {
    payloads.iter().any(|p| matches!(p, Payload::Delete(d) if d.protocol == ProtocolId::Ike))
}
