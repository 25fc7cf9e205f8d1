//! The established IKE SA: INFORMATIONAL exchanges (RFC 7296 section 1.4) for DELETE of
//! the IKE SA or of Child SAs and for liveness checks, in both directions.
//!
//! Our own requests wait in a queue while one is outstanding (window size 1); a DELETE of
//! the IKE SA jumps the queue, since it makes every other request moot.

use core::time::Duration;
use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::ikev2::wire::{DeleteRepr, ExchangeType, NotifyRepr, NotifyType, Payload, ProtocolId};
use crate::log::IKEV2_PROTOCOL;
use crate::time::Time;

use super::context::{Context, Inbound, State};
use super::events::{CloseReason, Event, FailureCause};
use super::exchange::Purpose;
use super::keys::IkeKeys;

/// A request of ours waiting for the window.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Queued {
    DeleteIke,
    DeleteChild(u32),
}

/// The established state. Holds the IKE SA's keys and its Child SAs' SPI pairs.
pub(crate) struct Established {
    keys: IkeKeys,
    /// (inbound, outbound) SPIs.
    children: Vec<(u32, u32)>,
    queue: VecDeque<Queued>,
}

impl Established {
    pub fn new(keys: IkeKeys) -> Established {
        Established { keys, children: Vec::new(), queue: VecDeque::new() }
    }

    pub fn add_child(&mut self, inbound: u32, outbound: u32) {
        self.children.push((inbound, outbound));
    }

    pub fn children(&self) -> &[(u32, u32)] {
        &self.children
    }

    pub fn queue_delete_child(&mut self, inbound: u32) {
        self.queue.push_back(Queued::DeleteChild(inbound));
    }

    /// Enters the state: sends anything already queued.
    pub fn start<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> State {
        self.send_next(cx, now, rng);
        State::Established(self)
    }

    /// ChildSaDown for every Child SA, before the IKE SA's terminal event (deleting the IKE
    /// SA deletes its Child SAs, section 1.4.1).
    fn all_children_down(&mut self, cx: &mut Context) {
        for (inbound_spi, outbound_spi) in self.children.drain(..) {
            cx.events.push_back(Event::ChildSaDown { inbound_spi, outbound_spi });
        }
    }

    fn child_down(&mut self, cx: &mut Context, inbound: u32) -> bool {
        let Some(i) = self.children.iter().position(|c| c.0 == inbound) else { return false };
        let (inbound_spi, outbound_spi) = self.children.remove(i);
        cx.events.push_back(Event::ChildSaDown { inbound_spi, outbound_spi });
        true
    }

    /// Sends the next queued request if the window is free.
    fn send_next<R: CryptoRng + ?Sized>(&mut self, cx: &mut Context, now: Time, rng: &mut R) {
        if !cx.requests.is_idle() {
            return;
        }
        let Some(q) = self.queue.pop_front() else { return };
        let (payloads, purpose) = match q {
            Queued::DeleteIke => (
                vec![Payload::Delete(DeleteRepr { protocol: ProtocolId::Ike, spis: vec![] })],
                Purpose::DeleteIke,
            ),
            Queued::DeleteChild(spi) => (
                vec![Payload::Delete(DeleteRepr { protocol: ProtocolId::Esp, spis: vec![spi] })],
                Purpose::DeleteChild(vec![spi]),
            ),
        };
        let keys = &self.keys;
        cx.request_encrypted(keys, now, ExchangeType::Informational, &payloads, purpose, rng);
    }

    /// A request from the peer (its ID already checked against the window).
    pub fn handle_request<R: CryptoRng + ?Sized>(
        self: Box<Self>,
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
                // Rekeying and further Child SAs are not implemented: refuse politely, the
                // IKE SA stays (section 1.3).
                let n = [Payload::Notify(NotifyRepr::new(NotifyType::NoAdditionalSas, vec![]))];
                cx.answer_encrypted(&self.keys, msg, &n, rng);
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
        let deletes: Vec<&DeleteRepr> = payloads
            .iter()
            .filter_map(|p| if let Payload::Delete(d) = p { Some(d) } else { None })
            .collect();
        if deletes.iter().any(|d| d.protocol == ProtocolId::Ike) {
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
        // Child SA deletes name the sender's inbound SPIs, our outbound ones; we answer
        // with our inbound SPIs of the same pairs (section 1.4.1). Unknown SPIs are
        // ignored, as the section allows.
        let mut ours = Vec::new();
        for d in deletes.iter().filter(|d| d.protocol == ProtocolId::Esp) {
            for &out in &d.spis {
                if let Some(&(inbound, _)) = self.children.iter().find(|c| c.1 == out) {
                    // Our own pending DELETE of the same pair becomes moot.
                    self.queue.retain(|q| *q != Queued::DeleteChild(inbound));
                    self.child_down(cx, inbound);
                    ours.push(inbound);
                }
            }
        }
        let answer: Vec<Payload> = if ours.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(DeleteRepr { protocol: ProtocolId::Esp, spis: ours })]
        };
        cx.answer_encrypted(&self.keys, msg, &answer, rng);
        State::Established(self)
    }

    /// The answer to our outstanding request.
    pub fn handle_response<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        match cx.open(&self.keys, msg) {
            Ok(_) => {}
            Err(None) => return State::Established(self),
            // Authentic but garbled: the peer did answer; treat it as answered.
            Err(Some(e)) => tracing::debug!(target: IKEV2_PROTOCOL, "malformed response: {e}"),
        }
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
        if cx.cfg.dpd_interval.is_zero() || !cx.requests.is_idle() || !self.queue.is_empty() {
            return None;
        }
        Some(cx.last_heard + cx.cfg.dpd_interval)
    }

    pub fn poll_timeout(&self, cx: &Context) -> Option<Time> {
        self.liveness_due(cx)
    }

    pub fn handle_timeout<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> State {
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

    /// Starts deleting the IKE SA.
    pub fn close<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        rng: &mut R,
    ) -> State {
        if !self.queue.contains(&Queued::DeleteIke) {
            self.queue.clear();
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
        if !self.children.iter().any(|c| c.0 == inbound) {
            return false;
        }
        let q = Queued::DeleteChild(inbound);
        if !self.queue.contains(&q) && !self.queue.contains(&Queued::DeleteIke) {
            self.queue.push_back(q);
        }
        self.send_next(cx, now, rng);
        true
    }
}
