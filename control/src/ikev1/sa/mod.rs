//! The IKEv1 SA state machine (RFC 2409), sans-IO: one [`Ikev1Sa`] per ISAKMP SA with its
//! Quick Mode SAs, initiator or responder, pre-shared key authentication in Main Mode or
//! (opted in) Aggressive Mode, NAT traversal (RFC 3947), dead peer detection (RFC 3706),
//! Informational DELETE and notifies, retransmission and duplicate detection.
//!
//! It reports through the IKEv2 state machine's types ([`Event`], [`ChildSa`],
//! [`FailureCause`], [`Transmit`]) so that the appliance installs Child SAs and runs the
//! crypto-map failover the same way for both versions.
//!
//! - inputs: [`Ikev1Sa::handle`], [`Ikev1Sa::handle_timeout`], [`Ikev1Sa::close`],
//!   [`Ikev1Sa::rekey_child`], [`Ikev1Sa::expire_child`], [`Ikev1Sa::create_child`],
//!   [`Ikev1Sa::note_inbound_traffic`];
//! - outputs, to poll after every input: [`Ikev1Sa::poll_transmit`],
//!   [`Ikev1Sa::poll_timeout`], [`Ikev1Sa::poll_event`].
//!
//! Quick Mode SAs belong to their ISAKMP SA here: deleting or losing the ISAKMP SA takes them
//! down (the IKEv2 event contract), where RFC 2409 would let them live on unmanaged.
//!
//! Certificates (RSA and ECDSA signatures, [`Ikev1Certificates`]) authenticate Main Mode;
//! Aggressive Mode runs with pre-shared keys only.
//!
//! Legacy remote access: XAUTH and Mode Config ([`RemoteAccess`], the Transaction exchange).
//!
//! The ISAKMP SA is renewed before its lifetime ends (a new phase 1 beside it, see
//! `reauth`); its Quick Mode SAs carry on.
//!
//! Stateful failover (issue 9): an established SA as HA records ([`Ikev1Sa::export`]) and
//! rebuilt from them on the unit taking over ([`Ikev1Sa::import`],
//! [`Ikev1Endpoint::adopt`]); see `ha_export`.

mod cert;
mod config;
mod endpoint;
mod ha_export;
mod info;
mod phase1;
mod protect;
mod quick;
mod reauth;
mod transaction;

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::ikev1::proposal::Phase1Policy;
use crate::ikev1::wire::{
    ExchangeType, Header, Identification, Payload, PayloadType, parse_payloads,
};
use crate::ikev2::sa::{AuthInfo, CloseReason, Event, FailureCause, SpiAllocator, Transmit};
use crate::log::IKEV1;
use crate::retransmit::{Retransmit, Timeout};
use crate::time::Time;

pub use self::cert::Ikev1Certificates;
pub use self::config::{ConfigError, Dpd, Ikev1Config, Phase1Mode};
pub use self::endpoint::{Ikev1Endpoint, Ikev1Handle};
pub use self::ha_export::{DPD_SEQ_JUMP, ImportError};
pub use self::transaction::{RemoteAccess, RemoteAccessClient, RemoteAccessServer};

use self::phase1::Phase1;
use self::protect::Isakmp;
use self::quick::{Child, Quick};

/// Counters of what an ISAKMP SA dropped or repeated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Encrypted messages that did not decrypt to a valid payload chain.
    pub undecryptable: u64,
    /// HASH payloads (or phase-1 HASH_I/HASH_R) that did not verify.
    pub bad_hash: u64,
    /// Messages that do not fit the state.
    pub unexpected: u64,
    /// Our messages retransmitted on a timer.
    pub retransmits: u64,
    /// Our answers sent again for a duplicate of the message they answer.
    pub replays: u64,
    /// R-U-THERE sent.
    pub dpd_sent: u64,
    /// R-U-THERE answered.
    pub dpd_answered: u64,
    /// Informational notifies received (other than DPD).
    pub notifies: u64,
}

/// What the peer told us in phase 1 besides the exchange itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerCaps {
    pub nat_t: bool,
    pub dpd: bool,
}

/// An outstanding message of ours that expects an answer.
struct Pending {
    bytes: Vec<u8>,
    rtx: Retransmit,
}

/// Our last answer and a digest of the message it answered, to resend on a duplicate.
struct Replay {
    digest: [u8; 32],
    answer: Vec<u8>,
}

/// The DPD state (RFC 3706).
#[derive(Debug, Clone, Copy)]
struct DpdState {
    /// The next sequence number we send.
    seq: u32,
    /// An R-U-THERE awaiting its ACK: its sequence, first send, sends so far, next send.
    outstanding: Option<(u32, Time, u32, Time)>,
    /// The sequence number of the peer's last R-U-THERE.
    peer_seq: Option<u32>,
}

/// One ISAKMP SA and its Quick Mode SAs.
pub struct Ikev1Sa {
    cfg: Ikev1Config,
    initiator: bool,
    cky_i: u64,
    cky_r: u64,
    local: SocketAddr,
    peer: SocketAddr,
    phase1: Phase1,
    isakmp: Option<Isakmp>,
    caps: PeerCaps,
    nat_detected: bool,
    established_at: Option<Time>,
    /// Phase-1 hard lifetime.
    expires: Option<Time>,
    pending: Option<Pending>,
    replay: Option<Replay>,
    quick: Vec<Quick>,
    children: Vec<Child>,
    spis: Box<dyn SpiAllocator>,
    dpd: DpdState,
    last_inbound: Time,
    initial_contact_received: bool,
    /// Legacy remote access (XAUTH, Mode Config).
    ra: transaction::RaState,
    /// This SA is the new phase 1 of a renewal, run inside the SA it will replace.
    inner: bool,
    /// The renewal in progress (see `reauth`).
    reauth: Option<Box<Ikev1Sa>>,
    /// When to renew phase 1.
    p1_soft: Option<Time>,
    /// How each side authenticated in phase 1.
    local_auth: AuthInfo,
    remote_auth: AuthInfo,
    /// The identity the peer authenticated as in phase 1.
    peer_id: Option<Identification>,
    /// The phase-1 suite, with the effective lifetime.
    p1_policy: Option<Phase1Policy>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    dead: bool,
}

impl core::fmt::Debug for Ikev1Sa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ikev1Sa")
            .field("initiator", &self.initiator)
            .field("cky_i", &format_args!("{:016x}", self.cky_i))
            .field("cky_r", &format_args!("{:016x}", self.cky_r))
            .field("peer", &self.peer)
            .field("phase1", &self.phase1.name())
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// The result of offering a first phase-1 message to [`Ikev1Sa::accept`].
#[derive(Debug)]
pub enum Accept {
    /// A new responder SA (its answer queued).
    Sa(Box<Ikev1Sa>),
    /// Refused with an unencrypted notify (NO_PROPOSAL_CHOSEN, ...).
    Refused {
        /// The notify to send.
        transmit: Transmit,
        /// The failed negotiation.
        failure: FailureCause,
    },
    /// Not a first phase-1 message: dropped.
    Drop,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn nonzero_u64<R: CryptoRng + ?Sized>(rng: &mut R) -> u64 {
    rng.next_u64().max(1)
}

impl Ikev1Sa {
    fn new(cfg: Ikev1Config, initiator: bool, cky_i: u64, cky_r: u64, now: Time) -> Ikev1Sa {
        Ikev1Sa {
            local: cfg.local,
            peer: cfg.peer,
            cfg,
            initiator,
            cky_i,
            cky_r,
            phase1: Phase1::Start,
            isakmp: None,
            caps: PeerCaps::default(),
            nat_detected: false,
            established_at: None,
            expires: None,
            pending: None,
            replay: None,
            quick: Vec::new(),
            children: Vec::new(),
            spis: Box::new(crate::ikev2::sa::RandomSpis),
            dpd: DpdState { seq: 0, outstanding: None, peer_seq: None },
            last_inbound: now,
            initial_contact_received: false,
            ra: transaction::RaState::Idle,
            inner: false,
            reauth: None,
            p1_soft: None,
            local_auth: AuthInfo::Psk,
            remote_auth: AuthInfo::Psk,
            peer_id: None,
            p1_policy: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            dead: false,
        }
    }

    /// Starts an ISAKMP SA as the initiator (Main Mode, or Aggressive Mode if configured);
    /// its first Quick Mode follows phase 1.
    pub fn initiate<R: CryptoRng + ?Sized>(
        now: Time,
        cfg: Ikev1Config,
        rng: &mut R,
    ) -> Result<Ikev1Sa, ConfigError> {
        cfg.validate()?;
        let cky_i = nonzero_u64(rng);
        let mut sa = Ikev1Sa::new(cfg, true, cky_i, 0, now);
        sa.dpd.seq = rng.next_u32() & 0x7fff_ffff;
        phase1::start(&mut sa, now, rng);
        Ok(sa)
    }

    /// Answers the first message of Main or Aggressive Mode as the responder with `cfg`
    /// (chosen by the caller by the peer's address; `peer` is replaced by `from`).
    pub fn accept<R: CryptoRng + ?Sized>(
        now: Time,
        cfg: Ikev1Config,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) -> Accept {
        Self::accept_with(now, cfg, datagram, from, false, rng)
    }

    /// [`Ikev1Sa::accept`] for the new phase 1 of a renewal the peer started.
    fn accept_inner<R: CryptoRng + ?Sized>(
        now: Time,
        cfg: Ikev1Config,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) -> Accept {
        Self::accept_with(now, cfg, datagram, from, true, rng)
    }

    fn accept_with<R: CryptoRng + ?Sized>(
        now: Time,
        mut cfg: Ikev1Config,
        datagram: &[u8],
        from: SocketAddr,
        inner: bool,
        rng: &mut R,
    ) -> Accept {
        if cfg.validate().is_err() {
            return Accept::Drop;
        }
        let Ok((header, body)) = Header::parse(datagram) else { return Accept::Drop };
        if header.responder_cookie != 0
            || header.initiator_cookie == 0
            || header.message_id != 0
            || header.is_encrypted()
            || !matches!(
                header.exchange,
                ExchangeType::IdentityProtection | ExchangeType::Aggressive
            )
        {
            return Accept::Drop;
        }
        let Ok(parsed) = parse_payloads(header.next_payload, body) else { return Accept::Drop };
        cfg.peer = from;
        let cky_r = nonzero_u64(rng);
        let mut sa = Ikev1Sa::new(cfg, false, header.initiator_cookie, cky_r, now);
        sa.inner = inner;
        sa.dpd.seq = rng.next_u32() & 0x7fff_ffff;
        match phase1::respond_first(&mut sa, now, &header, body, &parsed, datagram, rng) {
            Ok(()) => Accept::Sa(Box::new(sa)),
            Err(refusal) => refusal,
        }
    }

    /// Replaces the source of inbound SPIs.
    pub fn set_spi_allocator(&mut self, alloc: Box<dyn SpiAllocator>) {
        self.spis = alloc;
    }

    /// Processes a datagram from the peer (without the non-ESP marker).
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) {
        if self.dead {
            return;
        }
        let Ok((header, body)) = Header::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        // Checked first: a duplicate of the first message has no responder cookie yet.
        // A duplicate of the message our last answer answered: the answer was lost.
        let d = digest(datagram);
        if let Some(r) = &self.replay
            && r.digest == d
        {
            self.stats.replays += 1;
            let bytes = r.answer.clone();
            self.send(bytes);
            return;
        }
        if let Some(r) = &self.reauth
            && header.initiator_cookie == r.cky_i
        {
            reauth::handle(self, now, datagram, from, rng);
            return;
        }
        let answer_to_first = self.initiator && self.cky_r == 0 && header.responder_cookie != 0;
        if header.initiator_cookie != self.cky_i
            || (header.responder_cookie != self.cky_r && !answer_to_first)
        {
            self.stats.unexpected += 1;
            return;
        }
        tracing::trace!(target: IKEV1, exchange = ?header.exchange, mid = header.message_id, "received");
        match header.exchange {
            ExchangeType::IdentityProtection | ExchangeType::Aggressive
                if header.message_id == 0 =>
            {
                phase1::handle(self, now, &header, body, datagram, from, rng);
            }
            ExchangeType::QuickMode if self.is_established() => {
                quick::handle(self, now, &header, body, datagram, rng);
            }
            ExchangeType::Informational => info::handle(self, now, &header, body, rng),
            ExchangeType::Transaction if self.is_established() => {
                transaction::handle(self, now, &header, body, datagram, rng);
            }
            _ => self.stats.unexpected += 1,
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        if self.dead {
            return;
        }
        if let Some(p) = &mut self.pending {
            match p.rtx.on_timeout(now) {
                Timeout::Wait => {}
                Timeout::Resend { .. } => {
                    self.stats.retransmits += 1;
                    let bytes = p.bytes.clone();
                    self.send(bytes);
                }
                Timeout::GiveUp { sends, waited } => {
                    self.pending = None;
                    self.fail(FailureCause::PeerUnreachable { sends, waited });
                    return;
                }
            }
        }
        if let Some(at) = self.expires
            && now >= at
        {
            tracing::info!(target: IKEV1, peer = %self.peer, "ISAKMP SA lifetime expired");
            self.close(now, rng);
            return;
        }
        transaction::handle_timeout(self, now);
        if self.dead {
            return;
        }
        reauth::handle_timeout(self, now, rng);
        if !self.inner && self.p1_soft.is_some_and(|t| t <= now) && self.reauth.is_none() {
            self.p1_soft = None;
            reauth::start(self, now, rng);
        }
        quick::handle_timeout(self, now, rng);
        if !self.dead {
            info::dpd_timeout(self, now, rng);
        }
    }

    /// Deletes every Quick Mode SA and the ISAKMP SA (Informational DELETEs to the peer).
    pub fn close<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        if self.dead {
            return;
        }
        if self.is_established() {
            info::send_deletes(self, now, rng);
        }
        self.finish(Event::Closed { reason: CloseReason::Local });
    }

    /// Starts a Quick Mode for a new pair with the configured proxy identities (after phase
    /// 1 completes if it has not yet). False if the SA is dead.
    pub fn create_child<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) -> bool {
        if self.dead {
            return false;
        }
        if self.is_established() {
            quick::start(self, now, None, rng);
        }
        true
    }

    /// Rekeys the pair whose inbound SPI is `inbound_spi` (its volume soft limit was
    /// reached). False if there is no such pair or it is already being rekeyed.
    pub fn rekey_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        quick::rekey(self, now, inbound_spi, rng)
    }

    /// Deletes the pair whose inbound SPI is `inbound_spi` (its hard volume limit was
    /// reached). False if there is no such pair.
    pub fn expire_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        quick::delete_child(self, now, inbound_spi, true, rng)
    }

    /// Inbound ESP arrived on one of this SA's pairs: the peer is alive (DPD only probes
    /// after [`Dpd::threshold`] of silence).
    pub fn note_inbound_traffic(&mut self, now: Time) {
        if now > self.last_inbound {
            self.last_inbound = now;
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Ikev1Sa::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.dead {
            return None;
        }
        let mut t: Option<Time> = None;
        let mut add = |x: Option<Time>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        add(self.pending.as_ref().and_then(|p| p.rtx.poll_timeout()));
        add(self.expires);
        add(quick::next_timeout(self));
        add(info::dpd_next(self));
        add(transaction::next_timeout(self));
        add(self.reauth.as_ref().and_then(|r| r.poll_timeout()));
        add(self.p1_soft.filter(|_| !self.inner && self.reauth.is_none()));
        t
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The initiator's cookie.
    pub fn cky_i(&self) -> u64 {
        self.cky_i
    }

    /// The responder's cookie (zero until the initiator learns it).
    pub fn cky_r(&self) -> u64 {
        self.cky_r
    }

    /// Whether we started this ISAKMP SA.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// The peer's current IKE address (port 4500 after a NAT-T float).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Our current IKE address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Phase 1 completed.
    pub fn is_established(&self) -> bool {
        matches!(self.phase1, Phase1::Established) && !self.dead
    }

    /// Ended (after its terminal event).
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// A NAT lies between us (ESP goes in UDP 4500).
    pub fn nat_detected(&self) -> bool {
        self.nat_detected
    }

    /// The peer sent INITIAL-CONTACT: it has no other SA with us (the endpoint deletes
    /// them). Cleared by reading.
    pub fn take_initial_contact(&mut self) -> bool {
        core::mem::take(&mut self.initial_contact_received)
    }

    /// The initiator cookies this SA answers to: its own, and during a renewal the new
    /// phase 1's.
    pub fn cookies(&self) -> Vec<u64> {
        let mut c = vec![self.cky_i];
        c.extend(self.reauth.as_ref().map(|r| r.cky_i));
        c
    }

    /// The peer's first message of a new ISAKMP SA, taken as a renewal of this one (the
    /// endpoint asks when an established SA with the same peer exists). False if this SA
    /// cannot take it (not established, renewing already, or a remote-access server, whose
    /// clients may share an address behind a NAT).
    pub fn accept_renewal<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) -> bool {
        if matches!(self.cfg.remote_access, Some(RemoteAccess::Server(_))) || self.dead {
            return false;
        }
        reauth::accept(self, now, datagram, from, rng)
    }

    /// The XAUTH user this SA authenticated (remote-access server).
    pub fn xauth_user(&self) -> Option<&str> {
        self.ra.user()
    }

    /// The address Mode Config gave the client: the one we leased (server) or were given
    /// (client).
    pub fn assigned_address(&self) -> Option<core::net::Ipv4Addr> {
        self.ra.leased().or(self.ra.client_addr())
    }

    /// The installed pairs as (inbound, outbound) SPIs.
    pub fn child_spis(&self) -> Vec<(u32, u32)> {
        self.children.iter().map(|c| (c.inbound_spi, c.outbound_spi)).collect()
    }

    /// Dead peer detection's sequence numbers (RFC 3706 section 7): of our last R-U-THERE,
    /// and of the peer's last one (`None` before it sent any).
    pub fn dpd_sequences(&self) -> (u32, Option<u32>) {
        (self.dpd.seq, self.dpd.peer_seq)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration this SA runs.
    pub fn config(&self) -> &Ikev1Config {
        &self.cfg
    }

    /// Queues a datagram to the peer from our current address.
    fn send(&mut self, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to: self.peer, from: self.local, bytes });
    }

    /// Sends a message that expects an answer, retransmitted until [`Self::answered`].
    fn send_request(&mut self, now: Time, bytes: Vec<u8>) {
        self.pending = Some(Pending {
            bytes: bytes.clone(),
            rtx: Retransmit::start(self.cfg.retransmit, now),
        });
        self.send(bytes);
    }

    /// Sends an answer to `request`, resent if `request` arrives again.
    fn send_answer(&mut self, request: &[u8], bytes: Vec<u8>) {
        self.replay = Some(Replay { digest: digest(request), answer: bytes.clone() });
        self.send(bytes);
    }

    fn answered(&mut self) {
        self.pending = None;
    }

    /// The terminal event: every pair goes down first.
    pub(crate) fn finish(&mut self, terminal: Event) {
        for c in core::mem::take(&mut self.children) {
            self.events.push_back(Event::ChildSaDown {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
        }
        self.quick.clear();
        self.reauth = None;
        self.pending = None;
        self.events.push_back(terminal);
        self.dead = true;
    }

    fn fail(&mut self, cause: FailureCause) {
        tracing::info!(target: IKEV1, peer = %self.peer, %cause, "ISAKMP SA failed");
        self.finish(Event::Failed(cause));
    }

    /// The soft and hard deadlines of something with `lifetime` created at `now`.
    fn deadlines<R: CryptoRng + ?Sized>(
        now: Time,
        lifetime: Duration,
        rng: &mut R,
    ) -> (Option<Time>, Option<Time>) {
        (
            crate::ikev2::sa::children::soft_deadline(now, lifetime, rng),
            crate::ikev2::sa::children::hard_deadline(now, lifetime),
        )
    }
}

/// Payloads of a type in a parsed chain.
fn find<'a, T>(payloads: &'a [Payload], f: impl Fn(&'a Payload) -> Option<T>) -> Option<T> {
    payloads.iter().find_map(f)
}

/// The index of the first payload of `kind`.
fn index_of(payloads: &[Payload], kind: PayloadType) -> Option<usize> {
    payloads.iter().position(|p| p.kind() == kind)
}
