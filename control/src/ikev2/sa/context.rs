//! What the exchange states share ([`Context`]: configuration, SPIs, both message ID
//! windows, the output queues) and the state enum itself.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::ikev2::fragment::{
    IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD, NON_ESP_MARKER_LEN, Reassembled, Reassembly,
};
use crate::ikev2::wire::{ExchangeType, HeaderRepr, Message, NotifyRepr, NotifyType, Payload};
use crate::log::IKEV2_PROTOCOL;
use crate::pool::Lease;
use crate::retransmit::RetransmitPolicy;
use crate::time::Time;

use super::child::{RandomSpis, SpiAllocator};
use super::config::PeerConfig;
use super::events::{Event, FailureCause, Transmit, UnansweredRequest};
use super::exchange::{Purpose, Requests, Responses};
use super::keys::IkeKeys;
use super::{Stats, established, ike_auth, init, protect};

/// The IKE port after NAT detection (RFC 3948, RFC 7296 section 2.23).
pub(super) const NATT_PORT: u16 = 4500;
/// The IKE port before it.
pub(super) const IKE_PORT: u16 = 500;

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
    /// IKE fragmentation (RFC 7383).
    pub frag: Fragmentation,
    /// IKEv2 Message ID synchronisation (RFC 6311).
    pub mid_sync: MidSyncSupport,
    /// The request of the established SA that went unanswered, once it has failed for it.
    pub unanswered: Option<UnansweredRequest>,
    /// Remote access: the addresses leased to the client in IKE_AUTH. They belong to the
    /// IKE SA, not to one generation of it (a rekey keeps this context), and go back to
    /// their pools when it ends ([`Context::finish`]) or is dropped.
    pub leases: Vec<Lease>,
}

/// Who announced IKEV2_MESSAGE_ID_SYNC_SUPPORTED in IKE_AUTH (RFC 6311 section 3): the
/// synchronisation may be used only when both did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MidSyncSupport {
    /// We announce it (the owner turned it on: we are one unit of a failover pair).
    pub local: bool,
    /// The peer announced it.
    pub peer: bool,
    /// A synchronisation ran in this IKE SA generation, by us or by the peer: Message ID
    /// 0 is spent (see [`crate::ha::IkeExtensions::message_id_sync_used`]).
    pub used: bool,
}

impl MidSyncSupport {
    pub fn both(self) -> bool {
        self.local && self.peer
    }
}

/// IKE fragmentation state (RFC 7383): whether the peer does it, how large our datagrams
/// may be, and the one message being reassembled (a window of one in each direction means
/// at most one message in fragments is ever useful).
pub(crate) struct Fragmentation {
    /// The peer sent IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (section 2.3).
    pub peer_supports: bool,
    /// Largest IP datagram we send: larger encrypted messages go out as SKF fragments.
    pub mtu: usize,
    /// The message being reassembled, with whether it is a response.
    pub reassembly: Option<(bool, Reassembly)>,
    /// The datagram of its fragment 1: a retransmitted request is recognised by it
    /// (section 2.6.1).
    pub first: Vec<u8>,
}

impl Default for Fragmentation {
    fn default() -> Self {
        Fragmentation {
            peer_supports: false,
            mtu: super::DEFAULT_FRAGMENT_MTU,
            reassembly: None,
            first: Vec::new(),
        }
    }
}

impl Context {
    pub fn new(cfg: PeerConfig, initiator: bool, spi_i: u64, spi_r: u64, now: Time) -> Context {
        let frag = Fragmentation {
            mtu: cfg.fragmentation.unwrap_or(super::DEFAULT_FRAGMENT_MTU),
            ..Fragmentation::default()
        };
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
            frag,
            mid_sync: MidSyncSupport::default(),
            unanswered: None,
            leases: Vec::new(),
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

    pub fn send_all(&mut self, to: SocketAddr, datagrams: Vec<Vec<u8>>) {
        for bytes in datagrams {
            self.send_to(to, bytes);
        }
    }

    /// Sends a request with the next message ID and starts its retransmission.
    pub fn send_request(&mut self, now: Time, exchange: ExchangeType, bytes: Vec<u8>, p: Purpose) {
        self.send_request_datagrams(now, exchange, vec![bytes], p);
    }

    /// Sends a request (one message, or all its fragments) with the next message ID and
    /// starts its retransmission.
    fn send_request_datagrams(
        &mut self,
        now: Time,
        exchange: ExchangeType,
        datagrams: Vec<Vec<u8>>,
        p: Purpose,
    ) {
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = self.spi_i, mid = self.requests.next_id(),
            "sending {exchange} request ({p:?}, {} datagrams, {} bytes)", datagrams.len(),
            datagrams.iter().map(Vec::len).sum::<usize>());
        self.send_all(self.cfg.remote_addr, datagrams.clone());
        let policy = self.retransmit_policy(&p);
        self.requests.sent(now, policy, exchange, datagrams, p);
    }

    /// The retransmission schedule of a request: a liveness check with a configured
    /// `dpd_retry` goes again at that fixed interval (`isakmp keepalive retry`), `DPD_RETRIES`
    /// times, and gives up one interval after the last; everything else follows
    /// `retransmit`.
    fn retransmit_policy(&self, p: &Purpose) -> RetransmitPolicy {
        if *p == Purpose::Liveness && !self.cfg.dpd_retry.is_zero() {
            // RetransmitPolicy counts `tries` retransmissions plus a final one.
            RetransmitPolicy {
                interval: self.cfg.dpd_retry,
                tries: super::config::DPD_RETRIES.saturating_sub(1),
                max_interval: self.cfg.dpd_retry,
            }
        } else {
            self.cfg.retransmit
        }
    }

    /// Sends the answer to request `message_id` and caches it for retransmissions.
    pub fn answer(&mut self, to: SocketAddr, message_id: u32, request: &[u8], answer: Vec<u8>) {
        self.answer_datagrams(to, message_id, request, vec![answer]);
    }

    fn answer_datagrams(
        &mut self,
        to: SocketAddr,
        message_id: u32,
        request: &[u8],
        answer: Vec<Vec<u8>>,
    ) {
        self.responses.answered(message_id, request, answer.clone());
        self.send_all(to, answer);
    }

    /// Seals a message to `to`: one SK message, or SKF fragments when the peer supports
    /// them and the message would exceed our datagram size (RFC 7383 section 2.5).
    fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        keys: &IkeKeys,
        to: SocketAddr,
        header: HeaderRepr,
        payloads: &[Payload],
        rng: &mut R,
    ) -> Option<Vec<Vec<u8>>> {
        let whole = match protect::seal(&keys.outbound, header, payloads, rng) {
            Ok(b) => b,
            Err(e) => {
                self.internal_error(&e);
                return None;
            }
        };
        let overhead = match to {
            SocketAddr::V4(_) => IPV4_UDP_OVERHEAD,
            SocketAddr::V6(_) => IPV6_UDP_OVERHEAD,
        } + if to.port() == NATT_PORT { NON_ESP_MARKER_LEN } else { 0 };
        if !self.frag.peer_supports || whole.len() + overhead <= self.frag.mtu {
            return Some(vec![whole]);
        }
        match protect::seal_fragments(
            &keys.outbound,
            header,
            payloads,
            self.frag.mtu,
            overhead,
            rng,
        ) {
            Ok(fragments) => {
                self.stats.fragments_sent += fragments.len() as u64;
                Some(fragments)
            }
            Err(e) => {
                // Too many fragments or an MTU too small to carry one: send it whole and
                // let IP fragment it, which is what a peer without RFC 7383 gets anyway.
                tracing::debug!(target: IKEV2_PROTOCOL, "not fragmenting: {e}");
                Some(vec![whole])
            }
        }
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
        if let Some(datagrams) = self.seal(keys, self.cfg.remote_addr, header, payloads, rng) {
            self.send_request_datagrams(now, exchange, datagrams, purpose);
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
        if let Some(datagrams) = self.seal(keys, request.from, header, payloads, rng) {
            let mid = request.header.message_id;
            self.answer_datagrams(request.from, mid, request.bytes, datagrams);
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
        if let Some(whole) = &msg.reassembled {
            // Every fragment was authenticated as it arrived.
            return protect::opened_from(whole).map_err(Some);
        }
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
        // The client's addresses are free for others from now on.
        self.leases.clear();
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
    /// The datagram; for a message reassembled from fragments, its fragment 1.
    pub bytes: &'a [u8],
    pub from: SocketAddr,
    /// The inner payloads of a message that came in SKF fragments (RFC 7383).
    pub reassembled: Option<Reassembled>,
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
    /// The cipher that opens the peer's encrypted messages in this state, if any.
    pub fn inbound_cipher(&self) -> Option<&crate::crypto::SkCipher> {
        match self {
            State::SentAuth(s) => Some(&s.keys().inbound),
            State::WaitAuth(s) => Some(&s.keys().inbound),
            State::Established(s) => Some(&s.keys.inbound),
            State::SentInit(_) | State::Dead(_) => None,
        }
    }

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
