//! The IKEv2 SA state machine (RFC 7296), sans-IO: one [`IkeSa`] per IKE SA, initiator or
//! responder, with pre-shared key or X.509 certificate authentication (RSA and ECDSA, RFC
//! 7427 and RFC 4754; each side configured apart, see [`AuthConfig`]), the first Child SA,
//! INFORMATIONAL (DELETE, liveness checks) and request retransmission; and an
//! [`IkeEndpoint`] that routes datagrams to SAs by SPI.
//!
//! Like quinn's `Connection`, an `IkeSa` does no I/O and reads no clock (the one exception,
//! if configured: [`WallClock::System`] for certificate validity):
//!
//! - inputs: [`IkeSa::handle`] (a datagram), [`IkeSa::handle_timeout`], and the mutators
//!   [`IkeSa::close`], [`IkeSa::delete_child`], [`IkeSa::note_inbound_traffic`],
//!   [`IkeSa::create_child`], [`IkeSa::rekey_child`], [`IkeSa::expire_child`],
//!   [`IkeSa::rekey_ike`];
//! - outputs, to poll after every input in this order: [`IkeSa::poll_transmit`],
//!   [`IkeSa::poll_timeout`], [`IkeSa::poll_event`].
//!
//! The exchange state is a rustls-style enum of per-state structs, each consumed by value:
//! the initiator goes `ExpectSaInitResponse` → `ExpectAuthResponse` → `Established`, the
//! responder is created from an IKE_SA_INIT request and goes `ExpectAuthRequest` →
//! `Established`; every end is `Dead`, which only replays cached answers until the peer can
//! no longer be retransmitting. Keys live only in the states that use them.
//!
//! Once established, CREATE_CHILD_SA (section 1.3) makes further Child SAs and rekeys them
//! and the IKE SA, both ways, with the collision rules of sections 2.8.1, 2.8.2 and 2.25:
//! each Child SA and the IKE SA are rekeyed at a jittered soft lifetime and deleted at
//! their hard one. A rekeyed IKE SA keeps this object (and its Child SAs) under new SPIs:
//! [`IkeSa::routes`] lists the SPI pairs to route by while the old SA is being deleted.
//!
//! Stateful failover (issue 9): [`IkeSa::export`] turns an established SA into the HA
//! records of [`crate::ha::record`], [`IkeSa::import`] rebuilds it on the unit taking over
//! (same SPIs, keys, Message IDs and Child SAs: the peer sees no renegotiation), and IKEv2
//! Message ID synchronisation (RFC 6311, opt-in with [`IkeSa::set_message_id_sync`]) lets
//! the new active's requests be accepted; see `ha_export`.
//!
//! Certificates: the peer's chain is validated against the configured CAs at the UNIX time
//! of [`PeerCertificate::clock`] (a [`WallClock`]: the host's clock, or an offset to the
//! caller's [`Time`] line for deterministic runs), its identity matched against the
//! certificate per [`PeerIdCheck`]; a refusal ends the SA with
//! [`FailureCause::AuthenticationFailed`] saying what failed (see `cert_auth`).
//!
//! Remote access (RFC 7296 sections 2.19, 3.15): with [`RemoteAccess::Server`] the
//! responder answers a client's CP(CFG_REQUEST) in IKE_AUTH with an address leased from
//! shared [`crate::pool::AddressPool`]s (the lease lives as long as the IKE SA, rekeys
//! included) and DNS servers, and narrows the client's side of every Child SA to that
//! address; with [`RemoteAccess::Client`] the initiator asks for one (see `remote_access`).
//!
//! Not implemented: EAP, certificate revocation (CRL, OCSP),
//! NAT-T port floating and MOBIKE, windows above 1, issuing COOKIEs as a responder,
//! transport mode.

pub mod auth;
mod cert_auth;
pub mod child;
pub(crate) mod children;
pub mod config;
mod context;
mod create_child;
mod duplicates;
mod endpoint;
mod established;
pub mod events;
mod exchange;
mod generation;
mod ha_export;
mod ike_auth;
mod init;
pub(crate) mod keys;
mod protect;
mod remote_access;

use core::net::SocketAddr;
use core::time::Duration;

use rand_core::CryptoRng;

use crate::ikev2::fragment::{self, Progress};
use crate::ikev2::wire::{ExchangeType, Header, HeaderRepr, IdRepr, Message, PayloadType};
use crate::log::IKEV2_PROTOCOL;
use crate::time::Time;

pub use self::auth::AuthVerified;
pub use self::child::{MIN_SPI, RandomSpis, SpiAllocator, TsNarrowed};
pub use self::config::{
    AuthConfig, ChildConfig, ConfigError, DEFAULT_IKE_LIFETIME, DPD_RETRIES, LocalAuth,
    LocalCertificate, Mode, PeerCertificate, PeerConfig, PeerIdCheck, Psk, RemoteAccess,
    RemoteAccessClient, RemoteAccessServer, RemoteAuth, WallClock,
};
pub use self::endpoint::{
    DUPLICATE_GRACE, EndpointStats, IkeEndpoint, KeyLogSink, SaHandle, SpiAllocatorFactory,
};
pub use self::events::{
    AuthInfo, ChildSa, CloseReason, Duplicate, DuplicateSa, Event, FailureCause, IkeSaInfo,
    ProtocolError, Transmit, UnansweredRequest,
};
pub use self::ha_export::ImportError;

use self::context::{Context, Dead, IKE_PORT, Inbound, NATT_PORT, State};
use self::exchange::{RequestCheck, RequestTimeout};

/// Counters of what an IKE SA dropped or repeated, for `show crypto ikev2 sa detail`-style
/// diagnostics and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not parse as an IKE message.
    pub malformed: u64,
    /// Messages for other SPIs.
    pub wrong_spi: u64,
    /// Responses to no outstanding request, requests outside the window, messages of the
    /// wrong direction or exchange for the state.
    pub unexpected: u64,
    /// SK payloads whose ICV did not verify (RFC 7296 section 2.21.1: dropped silently).
    pub integrity_failures: u64,
    /// Requests of the peer processed (a retransmission is not processed again).
    pub requests_processed: u64,
    /// Our requests retransmitted.
    pub retransmits: u64,
    /// Cached answers sent again for retransmitted requests.
    pub replays: u64,
    /// Messages we failed to build (never expected).
    pub internal_errors: u64,
    /// SKF fragments we sent (RFC 7383), not counting retransmissions.
    pub fragments_sent: u64,
    /// SKF fragments received that authenticated and were kept for reassembly.
    pub fragments_received: u64,
    /// Messages reassembled from SKF fragments.
    pub messages_reassembled: u64,
}

/// Default largest IP datagram for our encrypted messages, above which they are sent as
/// SKF fragments when the peer supports them: 1280 octets, which every IPv6 path carries
/// and which RFC 7383 section 2.5.1 suggests for IPv4 too, where 576 is often too small.
pub const DEFAULT_FRAGMENT_MTU: usize = 1280;

/// The result of offering an IKE_SA_INIT request to [`IkeSa::accept`].
#[derive(Debug)]
pub enum Accept {
    /// A new responder SA (whose answer is queued).
    Sa(Box<IkeSa>),
    /// Answered without keeping state (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, ...); the
    /// event, if any, reports a failed negotiation.
    Stateless {
        /// The error answer.
        transmit: Transmit,
        /// The failed negotiation to report, if it is one (not for INVALID_KE_PAYLOAD,
        /// which the initiator is expected to retry).
        failure: Option<FailureCause>,
    },
    /// Not a valid IKE_SA_INIT request: dropped without an answer (RFC 7296 section 2.21.1
    /// forbids answering unauthenticated garbage in ways that amplify).
    Drop,
}

/// The SPIs of one IKE SA generation this object handles messages for (the current one,
/// and after a rekey the old ones until they are deleted), with our role in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSpis {
    /// The initiator's SPI.
    pub spi_i: u64,
    /// The responder's SPI (zero until the IKE_SA_INIT answer).
    pub spi_r: u64,
    /// Whether we are this generation's original initiator: then the peer's messages have
    /// the Initiator flag clear and are found by `spi_i`, else by `spi_r`.
    pub initiator: bool,
}

impl IkeSpis {
    /// Our SPI in this generation: the one the peer's messages are routed by.
    pub fn local(&self) -> u64 {
        if self.initiator { self.spi_i } else { self.spi_r }
    }
}

/// One IKE SA with one peer.
pub struct IkeSa {
    cx: Context,
    state: State,
}

impl core::fmt::Debug for IkeSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IkeSa")
            .field("spi_i", &format_args!("{:016x}", self.cx.spi_i))
            .field("spi_r", &format_args!("{:016x}", self.cx.spi_r))
            .field("initiator", &self.cx.initiator)
            .field("state", &self.state.name())
            .finish()
    }
}

/// Whether a datagram carries an SKF payload (RFC 7383 section 2.5): its header's Next
/// Payload, since an SKF payload must be the only one.
fn is_fragment(datagram: &[u8]) -> bool {
    Header::new_checked(datagram).is_ok_and(|h| h.next_payload() == PayloadType::EncryptedFragment)
}

/// A random non-zero IKE SPI (RFC 7296 section 3.1: zero only for an unknown responder SPI).
fn random_ike_spi<R: CryptoRng + ?Sized>(rng: &mut R) -> u64 {
    rng.next_u64().max(1)
}

impl IkeSa {
    /// Starts an IKE SA as the initiator: the IKE_SA_INIT request is queued.
    pub fn initiate<R: CryptoRng + ?Sized>(
        now: Time,
        cfg: PeerConfig,
        rng: &mut R,
    ) -> Result<IkeSa, ConfigError> {
        cfg.validate()?;
        let spi_i = random_ike_spi(rng);
        let mut cx = Context::new(cfg, true, spi_i, 0, now);
        let state = init::start(&mut cx, now, rng)?;
        Ok(IkeSa { cx, state })
    }

    /// Answers an IKE_SA_INIT request as the responder with `cfg` (chosen by the caller,
    /// e.g. by the source address; `remote_addr` is replaced by `from`).
    pub fn accept<R: CryptoRng + ?Sized>(
        now: Time,
        mut cfg: PeerConfig,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) -> Accept {
        if cfg.validate().is_err() {
            return Accept::Drop;
        }
        let Ok(message) = Message::parse(datagram) else { return Accept::Drop };
        let h = &message.header;
        if h.exchange_type != ExchangeType::IkeSaInit
            || h.response
            || !h.initiator
            || h.message_id != 0
            || h.spi_r != 0
            || h.spi_i == 0
        {
            return Accept::Drop;
        }
        cfg.remote_addr = from;
        let spi_r = random_ike_spi(rng);
        let mut cx = Context::new(cfg, false, h.spi_i, spi_r, now);
        match init::respond(&mut cx, now, &message, datagram, from, rng) {
            Ok(state) => Accept::Sa(Box::new(IkeSa { cx, state })),
            Err(stateless) => *stateless,
        }
    }

    /// Replaces the source of inbound Child SA SPIs. The initiator allocates when the
    /// IKE_SA_INIT answer arrives, the responder when the IKE_AUTH request does.
    pub fn set_spi_allocator(&mut self, alloc: Box<dyn SpiAllocator>) {
        self.cx.spis = alloc;
    }

    /// Processes a datagram from the peer.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) {
        let cx = &mut self.cx;
        let Ok(view) = Header::new_checked(datagram) else {
            cx.stats.malformed += 1;
            return;
        };
        let header = match HeaderRepr::parse(&view) {
            Ok(h) if usize::try_from(view.length()).ok() == Some(datagram.len()) => h,
            _ => {
                cx.stats.malformed += 1;
                return;
            }
        };
        // The responder's SPI is unknown in answers to IKE_SA_INIT (the initiator learns it
        // there) and in retransmissions of the request (answered from the cache).
        let init = header.exchange_type == ExchangeType::IkeSaInit;
        let init_answer = cx.initiator && matches!(self.state, State::SentInit(_)) && init;
        let init_again = !cx.initiator && init && !header.response && header.spi_r == 0;
        let current = header.spi_i == cx.spi_i && header.spi_r == cx.spi_r;
        if !current
            && let State::Established(est) = &mut self.state
            && est.handle_old(cx, now, header, datagram, from, rng)
        {
            return;
        }
        if header.spi_i != cx.spi_i || (header.spi_r != cx.spi_r && !init_answer && !init_again) {
            cx.stats.wrong_spi += 1;
            return;
        }
        // The Initiator flag names the original initiator: a message with our own flag is
        // reflected or forged.
        if header.initiator == cx.initiator {
            cx.stats.unexpected += 1;
            return;
        }
        if ha_export::is_sync_candidate(cx, &header)
            && !is_fragment(datagram)
            && let State::Established(est) = &mut self.state
        {
            // RFC 6311: Message ID 0 outside the window, from a peer unit that took over.
            let msg = Inbound { header, bytes: datagram, from, reassembled: None };
            if est.mid_sync_request(cx, now, &msg, rng) {
                return;
            }
        }
        let first_fragment: Vec<u8>;
        let mut reassembled = None;
        let mut bytes = datagram;
        if is_fragment(datagram) {
            let Some((first, whole)) = self.take_fragment(now, header, datagram, from) else {
                return;
            };
            first_fragment = first;
            bytes = &first_fragment;
            reassembled = Some(whole);
        }
        let cx = &mut self.cx;
        let msg = Inbound { header, bytes, from, reassembled };
        tracing::trace!(target: IKEV2_PROTOCOL, "received {header} in {}", self.state.name());
        let state = core::mem::replace(&mut self.state, State::Dead(Dead::GONE));
        let expected = cx.responses.expected();
        let mut accepted = false;
        self.state = if header.response {
            if !cx.requests.matches(header.message_id, header.exchange_type) {
                cx.stats.unexpected += 1;
                state
            } else {
                let next = Self::dispatch_response(state, cx, now, &msg, rng);
                // Answered: it passed the integrity check (a forged one leaves the request
                // outstanding).
                accepted = !cx.requests.matches(header.message_id, header.exchange_type);
                next
            }
        } else {
            match cx.responses.check(header.message_id, msg.bytes) {
                RequestCheck::Replay(answer) => {
                    cx.stats.replays += 1;
                    cx.send_all(from, answer);
                    state
                }
                RequestCheck::Drop => {
                    cx.stats.unexpected += 1;
                    state
                }
                RequestCheck::New => {
                    let next = Self::dispatch_request(state, cx, now, &msg, rng);
                    accepted = cx.responses.expected() != expected;
                    next
                }
            }
        };
        if accepted {
            self.follow_peer(from);
        }
    }

    /// RFC 7296 section 2.23: after an authenticated message from another port (a peer
    /// that moved to 4500 in IKE_AUTH, as strongSwan does when it forces UDP
    /// encapsulation, or whose NAT mapping changed), our answers and our own requests
    /// (liveness, rekeys, DELETEs) go where it came from, from our port 4500. Another
    /// address is followed only behind a NAT. Without this, a responder kept sending its
    /// requests to the peer's port 500 with the non-ESP marker, and a unit that took the
    /// SA over (HA) sent ESP there too.
    fn follow_peer(&mut self, from: SocketAddr) {
        let State::Established(est) = &self.state else { return };
        let cx = &mut self.cx;
        let current = cx.cfg.remote_addr;
        if from == current || from.port() == IKE_PORT {
            return;
        }
        if from.ip() != current.ip() && !est.info.nat_detected {
            return;
        }
        tracing::debug!(target: IKEV2_PROTOCOL, "peer {current} now at {from}");
        cx.cfg.remote_addr = from;
        cx.cfg.local_addr.set_port(NATT_PORT);
        // The answer to this very message is queued already, from the old port.
        for t in cx.transmits.iter_mut().filter(|t| t.to == from) {
            t.from.set_port(NATT_PORT);
        }
    }

    /// Takes one SKF fragment (RFC 7383 section 2.6) of the current IKE SA: authenticates
    /// it, keeps it, and once the message is whole returns its fragment 1's datagram and
    /// its inner payloads. A fragment of a request already answered replays the answer if
    /// it is an identical fragment 1 and is ignored otherwise (section 2.6.1).
    fn take_fragment(
        &mut self,
        now: Time,
        header: HeaderRepr,
        datagram: &[u8],
        from: SocketAddr,
    ) -> Option<(Vec<u8>, fragment::Reassembled)> {
        let cx = &mut self.cx;
        let mid = header.message_id;
        if header.response {
            if !cx.requests.matches(mid, header.exchange_type) {
                cx.stats.unexpected += 1;
                return None;
            }
        } else {
            match cx.responses.check(mid, datagram) {
                RequestCheck::New => {}
                RequestCheck::Replay(answer) => {
                    cx.stats.replays += 1;
                    cx.send_all(from, answer);
                    return None;
                }
                RequestCheck::Drop => {
                    cx.stats.unexpected += 1;
                    return None;
                }
            }
        }
        let Some(cipher) = self.state.inbound_cipher() else {
            cx.stats.unexpected += 1;
            return None;
        };
        let rx = match fragment::open_fragment(datagram, cipher) {
            Ok(rx) => rx,
            Err(fragment::FragmentError::Cipher(_)) => {
                cx.stats.integrity_failures += 1;
                return None;
            }
            Err(_) => {
                cx.stats.malformed += 1;
                return None;
            }
        };
        let number = rx.fragment.number;
        let same =
            |r: &(bool, fragment::Reassembly)| r.0 == header.response && r.1.message_id() == mid;
        if !cx.frag.reassembly.as_ref().is_some_and(same) {
            // A new message: whatever was partial is outdated (a window of one).
            let limits = fragment::ReassemblyLimits::default();
            cx.frag.reassembly = Some((header.response, fragment::Reassembly::new(mid, limits)));
            cx.frag.first.clear();
        }
        let (_, r) = cx.frag.reassembly.as_mut()?;
        r.handle_timeout(now);
        let progress = match r.accept(now, rx) {
            Ok(p) => p,
            Err(_) => {
                cx.stats.malformed += 1;
                return None;
            }
        };
        if number == 1 && matches!(progress, Progress::Incomplete { .. } | Progress::Complete(_)) {
            cx.frag.first = datagram.to_vec();
        }
        match progress {
            Progress::Incomplete { .. } => {
                cx.stats.fragments_received += 1;
                None
            }
            Progress::Complete(whole) => {
                cx.stats.fragments_received += 1;
                cx.stats.messages_reassembled += 1;
                cx.frag.reassembly = None;
                Some((core::mem::take(&mut cx.frag.first), whole))
            }
            Progress::Duplicate | Progress::Stale => None,
        }
    }

    fn dispatch_response<R: CryptoRng + ?Sized>(
        state: State,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        match state {
            State::SentInit(s) => s.handle_response(cx, now, msg, rng),
            State::SentAuth(s) => s.handle_response(cx, now, msg, rng),
            State::Established(s) => s.handle_response(cx, now, msg, rng),
            other => {
                cx.stats.unexpected += 1;
                other
            }
        }
    }

    fn dispatch_request<R: CryptoRng + ?Sized>(
        state: State,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        match state {
            State::WaitAuth(s) => s.handle_request(cx, now, msg, rng),
            State::Established(s) => s.handle_request(cx, now, msg, rng),
            other => {
                cx.stats.unexpected += 1;
                other
            }
        }
    }

    /// Runs the timers due at `now`; calling it early or twice does nothing.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        let cx = &mut self.cx;
        let mut state = core::mem::replace(&mut self.state, State::Dead(Dead::GONE));
        match cx.requests.on_timeout(now) {
            RequestTimeout::Wait => {}
            RequestTimeout::Resend(datagrams) => {
                cx.stats.retransmits += 1;
                tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "retransmitting");
                cx.send_all(cx.cfg.remote_addr, datagrams);
            }
            RequestTimeout::GiveUp { sends, waited, purpose } => {
                state = match state {
                    State::Established(s) => s.give_up(cx, now, sends, waited, purpose),
                    State::Dead(d) => State::Dead(d),
                    _ => cx.fail(now, FailureCause::PeerUnreachable { sends, waited }),
                };
            }
        }
        self.state = match state {
            State::Established(s) => s.handle_timeout(cx, now, rng),
            State::WaitAuth(s) => s.handle_timeout(cx, now),
            State::Dead(Dead { until: Some(t) }) if now >= t => State::Dead(Dead::GONE),
            other => other,
        };
    }

    /// Deletes the IKE SA (and with it its Child SAs, RFC 7296 section 1.4.1): an
    /// INFORMATIONAL with a Delete payload once established, else the negotiation is
    /// abandoned at once.
    pub fn close<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        let cx = &mut self.cx;
        let state = core::mem::replace(&mut self.state, State::Dead(Dead::GONE));
        self.state = match state {
            State::Established(s) => s.close(cx, now, rng),
            State::Dead(d) => State::Dead(d),
            _ => cx.finish(now, Event::Closed { reason: CloseReason::Local }),
        };
    }

    /// Deletes one Child SA by its inbound SPI (RFC 7296 section 1.4.1). Returns false if
    /// there is no such Child SA.
    pub fn delete_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        match &mut self.state {
            State::Established(s) => s.delete_child(&mut self.cx, now, inbound_spi, rng),
            _ => false,
        }
    }

    /// Asks the peer for a further Child SA with `child`'s proposals, selectors and lifetimes
    /// (CREATE_CHILD_SA, RFC 7296 section 1.3.1); the outcome is a
    /// [`Event::ChildSaUp`] or [`Event::ChildSaFailed`]. Returns false if the IKE SA is not
    /// established or is being deleted.
    pub fn create_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        child: ChildConfig,
        rng: &mut R,
    ) -> bool {
        match &mut self.state {
            State::Established(s) => s.create_child(&mut self.cx, now, child, rng),
            _ => false,
        }
    }

    /// Rekeys a Child SA now, e.g. because the dataplane reports its soft lifetime in
    /// kilobytes ran out (the soft lifetime in seconds is kept here). Returns false if there
    /// is no such Child SA in use (already replaced or being deleted). Make-before-break:
    /// the new pair comes up, then the old one is deleted.
    pub fn rekey_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        match &mut self.state {
            State::Established(s) => s.rekey_child(&mut self.cx, now, inbound_spi, rng),
            _ => false,
        }
    }

    /// A Child SA reached its hard lifetime (e.g. in kilobytes, seen by the dataplane): it
    /// is deleted, replaced or not. Returns false if there is no such Child SA.
    pub fn expire_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        self.delete_child(now, inbound_spi, rng)
    }

    /// Rekeys the IKE SA now (RFC 7296 section 2.18). Returns false if it is not
    /// established or is being deleted.
    pub fn rekey_ike<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) -> bool {
        match &mut self.state {
            State::Established(s) => s.rekey_ike(&mut self.cx, now, rng),
            _ => false,
        }
    }

    /// Sets the IKE SA's hard lifetime (zero: none; default [`DEFAULT_IKE_LIFETIME`]). It is
    /// rekeyed at 80 to 90 % of it, and deleted at the end if that failed. Applies to the
    /// current IKE SA, counted from when it was made, and to the ones that rekey it.
    pub fn set_ike_lifetime<R: CryptoRng + ?Sized>(&mut self, lifetime: Duration, rng: &mut R) {
        self.cx.ike_lifetime = lifetime;
        if let State::Established(s) = &mut self.state {
            s.lifetime_changed(&self.cx, rng);
        }
    }

    /// Sets the largest IP datagram for our encrypted messages (default
    /// [`PeerConfig::fragmentation`]'s): once both sides announced IKE fragmentation in
    /// IKE_SA_INIT (RFC 7383; we do unless it is configured off), larger messages go out as
    /// SKF fragments that fit it. `usize::MAX` never fragments. Received fragments are reassembled whatever
    /// this says.
    pub fn set_fragment_mtu(&mut self, mtu: usize) {
        self.cx.frag.mtu = mtu;
    }

    /// The Wireshark `ikev2_decryption_table` line (see [`crate::keylog`]) of the current
    /// IKE SA generation, once its keys exist (after IKE_SA_INIT) and until it ends. For
    /// the operator's opt-in key log only: it holds the keys.
    pub fn key_log_line(
        &self,
    ) -> Option<Result<zeroize::Zeroizing<String>, crate::keylog::KeyLogError>> {
        let keys = match &self.state {
            State::SentAuth(s) => s.keys(),
            State::WaitAuth(s) => s.keys(),
            State::Established(s) => &s.keys,
            State::SentInit(_) | State::Dead(_) => return None,
        };
        Some(keys.key_log_line(self.cx.spi_i, self.cx.spi_r))
    }

    /// Our IKE address.
    pub fn local_addr(&self) -> SocketAddr {
        self.cx.cfg.local_addr
    }

    /// Whether the peer announced IKE fragmentation support (RFC 7383 section 2.3).
    pub fn peer_supports_fragmentation(&self) -> bool {
        self.cx.frag.peer_supports
    }

    /// Reports authenticated traffic from the peer (inbound ESP), which proves it alive and
    /// postpones the liveness check (RFC 7296 section 1.4).
    pub fn note_inbound_traffic(&mut self, now: Time) {
        self.cx.last_heard = self.cx.last_heard.max(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.cx.transmits.pop_front()
    }

    /// When [`IkeSa::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Time> {
        let state = match &self.state {
            State::Established(s) => s.poll_timeout(&self.cx),
            State::WaitAuth(s) => Some(s.deadline()),
            State::Dead(d) => d.until,
            _ => None,
        };
        match (self.cx.requests.poll_timeout(), state) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.cx.events.pop_front()
    }

    /// The initiator's SPI.
    pub fn spi_i(&self) -> u64 {
        self.cx.spi_i
    }

    /// The responder's SPI (zero until the IKE_SA_INIT answer).
    pub fn spi_r(&self) -> u64 {
        self.cx.spi_r
    }

    /// Our SPI: the one the peer's messages are routed by.
    pub fn local_spi(&self) -> u64 {
        if self.cx.initiator { self.cx.spi_i } else { self.cx.spi_r }
    }

    /// Remote access, as the concentrator: the addresses leased to the client of this IKE
    /// SA (empty for site-to-site, before IKE_AUTH and once it has ended).
    pub fn leased_addresses(&self) -> Vec<core::net::IpAddr> {
        self.cx.leases.iter().map(crate::pool::Lease::addr).collect()
    }

    /// Whether we are the original initiator.
    pub fn is_initiator(&self) -> bool {
        self.cx.initiator
    }

    /// The peer's IKE address.
    pub fn peer(&self) -> SocketAddr {
        self.cx.cfg.remote_addr
    }

    /// Whether the IKE SA is up.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// After [`Event::Failed`] with [`FailureCause::PeerUnreachable`] of an established SA:
    /// which request went unanswered (the liveness check or a rekey; the failover table
    /// tells them apart). `None` otherwise.
    pub fn unanswered(&self) -> Option<UnansweredRequest> {
        self.cx.unanswered
    }

    /// Whether the SA has ended (a terminal event was emitted).
    pub fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead(_))
    }

    /// Whether the SA has ended and no longer needs to answer retransmissions at `now`: the
    /// owner may drop it.
    pub fn is_drained(&self, now: Time) -> bool {
        matches!(&self.state, State::Dead(d) if d.until.is_none_or(|t| now >= t))
            && self.cx.transmits.is_empty()
            && self.cx.events.is_empty()
    }

    /// The (inbound, outbound) SPIs of the Child SAs that are up (reported by
    /// [`Event::ChildSaUp`] and not yet by [`Event::ChildSaDown`]).
    pub fn child_spis(&self) -> Vec<(u32, u32)> {
        match &self.state {
            State::Established(s) => s.children(),
            _ => Vec::new(),
        }
    }

    /// Every IKE SA generation this object answers for, current first: the owner routes
    /// the peer's messages to it by these (see [`IkeSpis`]). The list changes when the IKE
    /// SA is rekeyed and when an old generation is gone.
    pub fn routes(&self) -> Vec<IkeSpis> {
        let gens = match &self.state {
            State::Established(s) => s.generations(&self.cx),
            _ => vec![(self.cx.spi_i, self.cx.spi_r, self.cx.initiator)],
        };
        gens.into_iter()
            .map(|(spi_i, spi_r, initiator)| IkeSpis { spi_i, spi_r, initiator })
            .collect()
    }

    /// Drop and retransmission counters.
    pub fn stats(&self) -> Stats {
        self.cx.stats
    }

    /// Who the SA is with, for finding duplicates: our address, the peer's, and the
    /// identity it authenticated as (`None` until established).
    pub(crate) fn peer_key(&self) -> Option<(core::net::IpAddr, core::net::IpAddr, &IdRepr)> {
        match &self.state {
            State::Established(s) => {
                Some((self.cx.cfg.local_addr.ip(), self.cx.cfg.remote_addr.ip(), &s.info.peer_id))
            }
            _ => None,
        }
    }

    /// The SA as the duplicate rule sees it (`None` unless established and not being
    /// deleted).
    pub(crate) fn duplicate_view(&self, handle: SaHandle) -> Option<duplicates::IkeView> {
        match &self.state {
            State::Established(s) => s.duplicate_view(&self.cx, handle),
            _ => None,
        }
    }
}
