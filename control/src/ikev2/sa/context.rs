//! What the exchange states share ([`Context`]: configuration, SPIs, both message ID
//! windows, the output queues) and the state enum itself.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::ikev2::wire::{ExchangeType, HeaderRepr, Message, NotifyRepr, NotifyType, Payload};
use crate::log::IKEV2_PROTOCOL;
use crate::time::Time;

use super::child::{RandomSpis, SpiAllocator};
use super::config::PeerConfig;
use super::events::{Event, FailureCause, Transmit};
use super::exchange::{Purpose, Requests, Responses};
use super::keys::IkeKeys;
use super::{Stats, established, ike_auth, init, protect};

/// What the states share: configuration, SPIs, both message ID windows, the output queues.
pub(crate) struct Context {
    pub cfg: PeerConfig,
    /// We are the original initiator.
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub requests: Requests,
    pub responses: Responses,
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub stats: Stats,
    pub spis: Box<dyn SpiAllocator>,
    /// When the peer last proved it is alive (an authenticated message, or ESP traffic).
    pub last_heard: Time,
    /// Hard lifetime of the IKE SA (zero: none); it is rekeyed at about 90 % of it.
    pub ike_lifetime: Duration,
}

impl Context {
    pub fn new(cfg: PeerConfig, initiator: bool, spi_i: u64, spi_r: u64, now: Time) -> Context {
        Context {
            cfg,
            initiator,
            spi_i,
            spi_r,
            requests: Requests::default(),
            responses: Responses::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            spis: Box::new(RandomSpis),
            last_heard: now,
            ike_lifetime: super::config::DEFAULT_IKE_LIFETIME,
        }
    }

    /// A header for a message we send: the Initiator flag marks the original initiator
    /// (RFC 7296 section 3.1), whoever sends the request.
    pub fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> HeaderRepr {
        HeaderRepr {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            exchange_type: exchange,
            initiator: self.initiator,
            response,
            version_flag: false,
            message_id,
        }
    }

    pub fn send_to(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to, from: self.cfg.local_addr, bytes });
    }

    /// Sends a request with the next message ID and starts its retransmission.
    pub fn send_request(&mut self, now: Time, exchange: ExchangeType, bytes: Vec<u8>, p: Purpose) {
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = self.spi_i, mid = self.requests.next_id(),
            "sending {exchange} request ({p:?}, {} bytes)", bytes.len());
        self.send_to(self.cfg.remote_addr, bytes.clone());
        self.requests.sent(now, self.cfg.retransmit, exchange, bytes, p);
    }

    /// Sends the answer to request `message_id` and caches it for retransmissions.
    pub fn answer(&mut self, to: SocketAddr, message_id: u32, request: &[u8], answer: Vec<u8>) {
        self.responses.answered(message_id, request, &answer);
        self.send_to(to, answer);
    }

    /// Seals and sends a request in the next message ID.
    pub fn request_encrypted<R: CryptoRng + ?Sized>(
        &mut self,
        keys: &IkeKeys,
        now: Time,
        exchange: ExchangeType,
        payloads: &[Payload],
        purpose: Purpose,
        rng: &mut R,
    ) {
        let header = self.header(exchange, false, self.requests.next_id());
        match protect::seal(&keys.outbound, header, payloads, rng) {
            Ok(bytes) => self.send_request(now, exchange, bytes, purpose),
            Err(e) => self.internal_error(&e),
        }
    }

    /// Seals and sends the answer to an authenticated request.
    pub fn answer_encrypted<R: CryptoRng + ?Sized>(
        &mut self,
        keys: &IkeKeys,
        request: &Inbound<'_>,
        payloads: &[Payload],
        rng: &mut R,
    ) {
        let header = self.header(request.header.exchange_type, true, request.header.message_id);
        match protect::seal(&keys.outbound, header, payloads, rng) {
            Ok(bytes) => self.answer(request.from, request.header.message_id, request.bytes, bytes),
            Err(e) => self.internal_error(&e),
        }
    }

    fn internal_error(&mut self, e: &dyn core::fmt::Display) {
        self.stats.internal_errors += 1;
        tracing::warn!(target: IKEV2_PROTOCOL, spi_i = self.spi_i, "cannot build message: {e}");
    }

    /// How long a dead SA keeps answering retransmissions: as long as the peer may still be
    /// retransmitting, i.e. its whole schedule (assumed like ours).
    pub fn drain_time(&self) -> Duration {
        self.cfg.retransmit.give_up_after()
    }

    /// Opens an authenticated message, counting what fails. `Err(Some(e))`: authentic but
    /// malformed content; `Err(None)`: dropped.
    pub fn open(
        &mut self,
        keys: &IkeKeys,
        msg: &Inbound<'_>,
    ) -> Result<protect::Opened, Option<crate::ikev2::wire::Error>> {
        match protect::open(&keys.inbound, msg.bytes) {
            Ok(o) => Ok(o),
            Err(protect::OpenError::Integrity) => {
                self.stats.integrity_failures += 1;
                Err(None)
            }
            Err(protect::OpenError::Framing | protect::OpenError::Fragment) => {
                self.stats.malformed += 1;
                Err(None)
            }
            Err(protect::OpenError::Content(e)) => Err(Some(e)),
        }
    }

    /// Ends the SA with a terminal event.
    pub fn finish(&mut self, now: Time, event: Event) -> State {
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = self.spi_i, spi_r = self.spi_r,
            "IKE SA ends: {event:?}");
        self.events.push_back(event);
        // A dead SA sends nothing of its own: only cached answers.
        self.requests.complete();
        State::Dead(Dead { until: Some(now + self.drain_time()) })
    }

    pub fn fail(&mut self, now: Time, cause: FailureCause) -> State {
        self.finish(now, Event::Failed(cause))
    }
}

/// A received message, its header parsed.
pub(crate) struct Inbound<'a> {
    pub header: HeaderRepr,
    pub bytes: &'a [u8],
    pub from: SocketAddr,
}

/// The terminal state: answers retransmissions from the cache until `until` (`None` once
/// that has passed).
#[derive(Debug)]
pub(crate) struct Dead {
    pub until: Option<Time>,
}

impl Dead {
    /// The placeholder while a state is being moved.
    pub const GONE: Dead = Dead { until: None };
}

/// The exchange state.
pub(crate) enum State {
    SentInit(Box<init::ExpectSaInitResponse>),
    SentAuth(Box<ike_auth::ExpectAuthResponse>),
    WaitAuth(Box<ike_auth::ExpectAuthRequest>),
    Established(Box<established::Established>),
    Dead(Dead),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::SentInit(_) => "ExpectSaInitResponse",
            State::SentAuth(_) => "ExpectAuthResponse",
            State::WaitAuth(_) => "ExpectAuthRequest",
            State::Established(_) => "Established",
            State::Dead(_) => "Dead",
        }
    }
}

/// An unencrypted error answer to an IKE_SA_INIT request (RFC 7296 sections 1.2, 2.6):
/// responder SPI zero, since no state is kept.
pub(crate) fn init_error_answer(request: &HeaderRepr, notify: NotifyRepr) -> Option<Vec<u8>> {
    let header =
        HeaderRepr { spi_r: 0, response: true, initiator: false, version_flag: false, ..*request };
    Message { header, payloads: vec![Payload::Notify(notify)] }.to_vec().ok()
}

/// The first error notify of a message, if any.
pub(crate) fn error_notify(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}
