//! The IKE endpoint: routes datagrams to IKE SAs by SPI and creates responder SAs for new
//! IKE_SA_INIT requests (quinn's `Endpoint` analogue; no I/O).
//!
//! Routing uses the Initiator flag (RFC 7296 section 3.1): a message from the original
//! initiator is for one of our responder SAs and is found by the responder SPI (ours); any
//! other is for one of our initiator SAs and is found by the initiator SPI. An IKE_SA_INIT
//! request has no responder SPI yet: retransmissions of one we answered are found by the
//! sender's address and initiator SPI (section 2.1).
//!
//! Admission control (optional, [`IkeEndpoint::set_dos_policy`]): every new IKE_SA_INIT
//! request passes [`Admission`] before any Diffie-Hellman work. Above the cookie threshold
//! of half-open SAs (responder SAs not yet authenticated) a request without a valid COOKIE
//! gets a COOKIE notify from a [`CookieJar`] and no state (section 2.6); above the hard
//! limits, global or per source address, or the per-source rate, it is dropped unanswered.
//!
//! A rekeyed IKE SA (section 2.18) runs under new SPIs, possibly in the other role, while
//! its old SPIs stay in use until the old SA is deleted: after every call into an SA the
//! endpoint re-reads its [`IkeSa::routes`] and re-indexes it.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rand_core::CryptoRng;

use crate::crypto::{EncrAlg, IntegAlg};
use crate::ikev2::cookie::{CookieJar, DEFAULT_ROTATION};
use crate::ikev2::dos::{Admission, AdmissionConfig, AdmissionCounters, DropReason, Verdict};
use crate::ikev2::wire::{ExchangeType, Header, IntegId, Message, Payload};
use crate::keylog::{EspSaEntry, KeyLog, KeyLogTable};
use crate::time::Time;

use super::context::init_error_answer;
use super::duplicates::{self, Finding, IkeView};
use super::events::{Duplicate, DuplicateSa};
use super::{
    Accept, ChildConfig, ConfigError, Event, IkeSa, IkeSpis, PeerConfig, SpiAllocator, Transmit,
};

/// Makes the [`SpiAllocator`] of each new SA (e.g. a handle on the dataplane's SA table).
pub type SpiAllocatorFactory = Box<dyn FnMut() -> Box<dyn SpiAllocator> + Send>;

/// The factory slot: `Debug` without showing the closure.
#[derive(Default)]
struct Factory(Option<SpiAllocatorFactory>);

impl core::fmt::Debug for Factory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(<spi allocator factory>)" } else { "None" })
    }
}

/// Where key log lines go: the endpoint formats, the sink stores (see [`IkeEndpoint::set_key_log`]).
pub type KeyLogSink = Box<dyn KeyLog + Send>;

/// The key log slot: `Debug` without showing the sink, which holds keys.
#[derive(Default)]
struct KeyLogSlot(Option<KeyLogSink>);

impl core::fmt::Debug for KeyLogSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(<key log>)" } else { "None" })
    }
}

/// How long the peer has to delete a duplicate that is its to delete (it initiated the
/// exchange that made it) before we do: a peer applying the same rule does at once, one
/// that does not (strongSwan, for one, keeps both) would leave it up for good. Should both
/// DELETEs cross, each side answers the other's (RFC 7296 section 1.4.1).
pub const DUPLICATE_GRACE: Duration = Duration::from_secs(5);

/// Whether an SA that came up may have made a duplicate (see [`IkeEndpoint::handle`]).
fn may_duplicate(e: &Event) -> bool {
    matches!(e, Event::Established(_) | Event::ChildSaUp(_))
}

/// Names one IKE SA of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaHandle(pub u64);

/// Counters of datagrams the endpoint itself dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Not an IKE header.
    pub malformed: u64,
    /// For an SA we do not have (RFC 7296 section 2.21.4 allows not answering).
    pub unknown_spi: u64,
    /// IKE_SA_INIT requests from addresses without a responder configuration.
    pub no_config: u64,
    /// IKE_SA_INIT requests answered with a COOKIE notify (no state kept).
    pub cookies_sent: u64,
    /// IKE_SA_INIT requests whose COOKIE did not verify (expired, forged or for another
    /// request); each is challenged again or dropped like a request without one.
    pub bad_cookies: u64,
    /// IKE_SA_INIT requests dropped: the global half-open limit was reached.
    pub dropped_half_open: u64,
    /// IKE_SA_INIT requests dropped: the sender's address reached its half-open limit.
    pub dropped_peer_half_open: u64,
    /// IKE_SA_INIT requests dropped: the sender's address exceeded its request rate.
    pub dropped_rate: u64,
    /// SAs whose keys the key log could not express (e.g. ChaCha20-Poly1305 for IKE,
    /// which Wireshark's table lacks): one per IKE SA generation or ESP SA direction.
    pub key_log_unsupported: u64,
}

/// Admission control state: the limits with their half-open accounting, the cookie
/// secrets, and which of our responder SAs are counted as half-open (with their source).
#[derive(Debug)]
struct Dos {
    admission: Admission,
    cookies: CookieJar,
    half_open: HashMap<SaHandle, core::net::IpAddr>,
}

/// Routes datagrams among IKE SAs. SAs are kept in handle order, so that runs are repeatable.
#[derive(Debug, Default)]
pub struct IkeEndpoint {
    sas: BTreeMap<SaHandle, IkeSa>,
    /// Our initiator SAs by initiator SPI.
    initiated: HashMap<u64, SaHandle>,
    /// Our responder SAs by responder SPI.
    responding: HashMap<u64, SaHandle>,
    /// The SPIs each SA is indexed under in `initiated` / `responding`.
    routes: HashMap<SaHandle, Vec<IkeSpis>>,
    /// The IKE SA lifetime given to new SAs (`None`: their default).
    ike_lifetime: Option<Duration>,
    /// The fragmentation datagram size given to new SAs (`None`: their default).
    fragment_mtu: Option<usize>,
    /// New SAs announce RFC 6311 Message ID synchronisation (a unit of a failover pair).
    message_id_sync: bool,
    /// Responder SAs by the initiator's address and SPI, for IKE_SA_INIT retransmissions;
    /// kept for the SA's life, so a late duplicate never starts a second SA.
    half_open: HashMap<(SocketAddr, u64), SaHandle>,
    /// Configurations for peers that initiate to us: the first whose remote address matches
    /// the sender (an unspecified address matches any).
    responder_configs: Vec<PeerConfig>,
    next: u64,
    spis: Factory,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(SaHandle, Event)>,
    stats: EndpointStats,
    /// Admission control; `None` (the default) admits every request.
    dos: Option<Dos>,
    /// The operator's key log; `None` (the default) logs nothing.
    key_log: KeyLogSlot,
    /// The IKE SA generation (SPIs) last written to the key log, per SA.
    key_logged: HashMap<SaHandle, (u64, u64)>,
    /// SAs by the peer's address, to find duplicates without a scan of every SA.
    by_peer: HashMap<core::net::IpAddr, Vec<SaHandle>>,
    /// Duplicates are not reduced ([`IkeEndpoint::set_reduce_duplicates`]).
    keep_duplicates: bool,
    /// An SA came up since the last duplicate check.
    dup_check: bool,
    /// Redundant SAs already reported: (IKE SA, the pair's inbound SPI or `None` for the
    /// IKE SA itself).
    dup_reported: HashSet<(SaHandle, Option<u32>)>,
    /// Redundant SAs the peer should delete, and when we delete them if it has not.
    dup_deadlines: Vec<(Time, (SaHandle, Option<u32>))>,
}

impl IkeEndpoint {
    /// An endpoint that answers peers matching `responder_configs`.
    pub fn new(responder_configs: Vec<PeerConfig>) -> IkeEndpoint {
        IkeEndpoint { responder_configs, ..IkeEndpoint::default() }
    }

    /// Replaces the responder configurations (a configuration reload): SAs already
    /// running keep the configuration they were made with.
    pub fn set_responder_configs(&mut self, responder_configs: Vec<PeerConfig>) {
        self.responder_configs = responder_configs;
    }

    /// Gives every SA created from now on an SPI allocator from `factory` (the default
    /// draws random SPIs).
    pub fn set_spi_allocator_factory(&mut self, factory: SpiAllocatorFactory) {
        self.spis = Factory(Some(factory));
    }

    /// Gives every SA created from now on this IKE SA lifetime (see
    /// [`IkeSa::set_ike_lifetime`]).
    pub fn set_ike_lifetime(&mut self, lifetime: Duration) {
        self.ike_lifetime = Some(lifetime);
    }

    /// Writes the keys of every IKE SA (each generation, rekeyed ones included) and every
    /// Child SA (both directions) from now on to `sink`, as Wireshark `ikev2_decryption_table`
    /// and `esp_sa` lines (see [`crate::keylog`]), for an operator debugging with a capture.
    /// IKE keys are written once IKE_SA_INIT is done (so that a failing IKE_AUTH can be
    /// read too), ESP keys when the Child SA comes up. Off by default; keys leave the
    /// endpoint nowhere else.
    pub fn set_key_log(&mut self, sink: KeyLogSink) {
        self.key_log = KeyLogSlot(Some(sink));
    }

    /// Stops the key log and returns its sink.
    pub fn take_key_log(&mut self) -> Option<KeyLogSink> {
        self.key_logged.clear();
        self.key_log.0.take()
    }

    /// Writes SA `h`'s current IKE keys if that generation was not written yet, and the
    /// keys of a Child SA that came up.
    fn log_keys(&mut self, h: SaHandle, event: Option<&Event>) {
        let Some(log) = &mut self.key_log.0 else { return };
        let Some(sa) = self.sas.get(&h) else { return };
        let spis = (sa.spi_i(), sa.spi_r());
        if event.is_none()
            && self.key_logged.get(&h) != Some(&spis)
            && let Some(line) = sa.key_log_line()
        {
            self.key_logged.insert(h, spis);
            match line {
                Ok(line) => log.append(KeyLogTable::Ikev2DecryptionTable, &line),
                Err(_) => self.stats.key_log_unsupported += 1,
            }
        }
        let Some(Event::ChildSaUp(c)) = event else { return };
        let (local, peer) = (sa.local_addr().ip(), sa.peer().ip());
        let (id, bits) = c.transforms.encr;
        let algs = EncrAlg::from_iana(id.into(), bits).ok().and_then(|e| {
            match c.transforms.integ.filter(|&i| i != IntegId::None) {
                None => Some((e, None)),
                Some(i) => IntegAlg::from_iana(i.into()).ok().map(|i| (e, Some(i))),
            }
        });
        let Some((encr, integ)) = algs else {
            self.stats.key_log_unsupported += 2;
            return;
        };
        for entry in [
            EspSaEntry::new(peer, local, c.inbound_spi, encr, integ, &c.inbound),
            EspSaEntry::new(local, peer, c.outbound_spi, encr, integ, &c.outbound),
        ] {
            if log.log_esp_sa(&entry).is_err() {
                self.stats.key_log_unsupported += 1;
            }
        }
    }

    /// Gives every SA created from now on this largest datagram size for IKE fragmentation
    /// (see [`IkeSa::set_fragment_mtu`]; default [`super::DEFAULT_FRAGMENT_MTU`]).
    pub fn set_fragment_mtu(&mut self, mtu: usize) {
        self.fragment_mtu = Some(mtu);
    }

    /// Turns on admission control for new IKE_SA_INIT requests under `config` (half-open
    /// limits, cookie threshold, per-source rate; see [`crate::ikev2::dos`]), or replaces
    /// its limits. The appliance's `[ike]` settings map as
    /// `AdmissionConfig { max_half_open, max_half_open_per_peer, ..AdmissionConfig::default() }
    /// .with_cookie_percent(cookie_threshold_percent)`. Responder SAs already half-open are
    /// counted under the new limits; the cookie secret is kept when only the limits change.
    pub fn set_dos_policy<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        config: AdmissionConfig,
        rng: &mut R,
    ) {
        let mut admission = Admission::new(config);
        let (cookies, half_open) = match self.dos.take() {
            Some(d) => (d.cookies, d.half_open),
            None => {
                // Responder SAs made before admission control was on, not yet
                // authenticated, count as half-open from now.
                let half_open = self
                    .sas
                    .iter()
                    .filter(|(_, sa)| !sa.is_initiator() && !sa.is_established() && !sa.is_dead())
                    .map(|(&h, sa)| (h, sa.peer().ip()))
                    .collect();
                (CookieJar::new(now, DEFAULT_ROTATION, rng), half_open)
            }
        };
        for ip in half_open.values() {
            admission.opened(*ip);
        }
        self.dos = Some(Dos { admission, cookies, half_open });
    }

    /// Turns admission control off: every request is admitted again.
    pub fn clear_dos_policy(&mut self) {
        self.dos = None;
    }

    /// Responder SAs not yet authenticated, as admission control counts them (0 while it
    /// is off).
    pub fn half_open(&self) -> u32 {
        self.dos.as_ref().map_or(0, |d| d.admission.half_open())
    }

    /// Admission control's own counters (accepted, challenged, dropped by reason, opened,
    /// completed, expired), if it is on.
    pub fn admission_counters(&self) -> Option<AdmissionCounters> {
        self.dos.as_ref().map(|d| *d.admission.counters())
    }

    fn install_allocator<R: CryptoRng + ?Sized>(&mut self, sa: &mut IkeSa, rng: &mut R) {
        if let Some(f) = &mut self.spis.0 {
            sa.set_spi_allocator(f());
        }
        if let Some(l) = self.ike_lifetime {
            sa.set_ike_lifetime(l, rng);
        }
        if let Some(mtu) = self.fragment_mtu {
            sa.set_fragment_mtu(mtu);
        }
        if self.message_id_sync {
            sa.set_message_id_sync(true);
        }
    }

    /// Makes every SA created from now on announce IKEv2 Message ID synchronisation (RFC
    /// 6311, see [`IkeSa::set_message_id_sync`]): for the units of a failover pair.
    pub fn set_message_id_sync(&mut self, on: bool) {
        self.message_id_sync = on;
    }

    /// Takes over an IKE SA rebuilt from HA records ([`IkeSa::import`]) on the unit that
    /// became active: it is routed by its SPIs from now on, gets the endpoint's SPI
    /// allocator and fragmentation size, and the endpoint's IKE SA lifetime for the SAs
    /// that rekey it (its own timers stay as imported). What it queued (the RFC 6311
    /// synchronisation, DELETEs) goes out with the next [`IkeEndpoint::poll_transmit`].
    pub fn adopt(&mut self, now: Time, mut sa: IkeSa) -> SaHandle {
        if let Some(f) = &mut self.spis.0 {
            sa.set_spi_allocator(f());
        }
        if let Some(l) = self.ike_lifetime {
            // Not `set_ike_lifetime`: that would restart the imported timers.
            sa.cx.ike_lifetime = l;
        }
        if let Some(mtu) = self.fragment_mtu {
            sa.set_fragment_mtu(mtu);
        }
        let h = self.handle_id();
        self.insert(h, sa);
        self.collect(h, now);
        h
    }

    /// Holds a new SA, indexed by its peer's address.
    fn insert(&mut self, h: SaHandle, sa: IkeSa) {
        self.by_peer.entry(sa.peer().ip()).or_default().push(h);
        self.sas.insert(h, sa);
    }

    fn handle_id(&mut self) -> SaHandle {
        self.next += 1;
        SaHandle(self.next)
    }

    /// Starts an IKE SA as the initiator.
    pub fn connect<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        cfg: PeerConfig,
        rng: &mut R,
    ) -> Result<SaHandle, ConfigError> {
        let mut sa = IkeSa::initiate(now, cfg, rng)?;
        self.install_allocator(&mut sa, rng);
        let h = self.handle_id();
        self.insert(h, sa);
        self.collect(h, now);
        Ok(h)
    }

    /// Processes a datagram.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) {
        let Ok(h) = Header::new_checked(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let handle = if h.initiator() {
            if h.spi_r() != 0 {
                self.responding.get(&h.spi_r()).copied()
            } else if let Some(&handle) = self.half_open.get(&(from, h.spi_i())) {
                Some(handle)
            } else if !h.response() {
                self.accept(now, datagram, from, rng);
                return;
            } else {
                None
            }
        } else {
            self.initiated.get(&h.spi_i()).copied()
        };
        let Some(handle) = handle else {
            self.stats.unknown_spi += 1;
            return;
        };
        if let Some(sa) = self.sas.get_mut(&handle) {
            sa.handle(now, datagram, from, rng);
            self.collect(handle, now);
        }
        // Only a datagram brings an SA up, so only then can a duplicate appear (and a
        // survivor gain the twins that let a redundant IKE SA go).
        if core::mem::take(&mut self.dup_check) && !self.keep_duplicates {
            self.reduce_duplicates(now, handle, rng);
        }
    }

    /// Turns the reduction of duplicate SAs off (`true`) or on again (the default): see
    /// [`Event::DuplicateReduced`]. Off, duplicates stay, as RFC 4301 allows (several SAs
    /// with the same selectors, e.g. per class of service), and nothing is reported.
    pub fn set_reduce_duplicates(&mut self, reduce: bool) {
        self.keep_duplicates = !reduce;
    }

    /// Applies the duplicate rule (see `duplicates`) to the IKE SAs with SA `h`'s peer:
    /// reports each redundant SA once, and deletes those whose exchange we initiated.
    fn reduce_duplicates<R: CryptoRng + ?Sized>(&mut self, now: Time, h: SaHandle, rng: &mut R) {
        self.reduce_group(now, h, None, rng);
    }

    /// [`IkeEndpoint::reduce_duplicates`]; with `overdue`, a redundant SA the peer should
    /// have deleted by now: if the rule still finds it redundant, we delete it.
    fn reduce_group<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        h: SaHandle,
        overdue: Option<(SaHandle, Option<u32>)>,
        rng: &mut R,
    ) {
        let Some(sa) = self.sas.get(&h) else { return };
        let Some((local, peer, id)) = sa.peer_key() else { return };
        let id = id.clone();
        let group: Vec<IkeView> = self
            .by_peer
            .get(&peer)
            .into_iter()
            .flatten()
            .filter_map(|&o| {
                let sa = self.sas.get(&o)?;
                let same = sa.peer_key().is_some_and(|k| k == (local, peer, &id));
                if same { sa.duplicate_view(o) } else { None }
            })
            .collect();
        if group.iter().map(|v| v.children.len()).sum::<usize>() < 2 && group.len() < 2 {
            return;
        }
        let view = |o: SaHandle| group.iter().find(|v| v.handle == o);
        let pair = |o: SaHandle, inbound: u32| {
            view(o)
                .and_then(|v| v.children.iter().find(|c| c.inbound == inbound))
                .map(|c| (c.inbound, c.outbound))
        };
        let mut act: Vec<(SaHandle, Option<u32>)> = Vec::new();
        for f in duplicates::find(&group) {
            let (key, event, by_us) = match f {
                Finding::Ike { redundant, survivor, by_us } => {
                    let (Some(r), Some(s)) = (view(redundant), view(survivor)) else { continue };
                    let sa = DuplicateSa::IkeSa { redundant: r.spis, survivor: s.spis };
                    ((redundant, None), (redundant, sa, survivor), by_us)
                }
                Finding::Child { sa, inbound, twin, by_us } => {
                    let (Some(r), Some(t)) = (pair(sa, inbound), pair(twin.0, twin.1)) else {
                        continue;
                    };
                    let dup = DuplicateSa::ChildSa { redundant: r, survivor: t };
                    ((sa, Some(inbound)), (sa, dup, twin.0), by_us)
                }
            };
            if overdue == Some(key) {
                tracing::info!(target: crate::log::IKEV2_PROTOCOL,
                    "duplicate with {peer} not deleted by the peer in {}s: deleting it",
                    DUPLICATE_GRACE.as_secs());
                act.push(key);
                continue;
            }
            if !self.dup_reported.insert(key) {
                continue;
            }
            if !by_us {
                self.dup_deadlines.push((now + DUPLICATE_GRACE, key));
            }
            let (at, sa, survivor_sa) = event;
            tracing::info!(target: crate::log::IKEV2_PROTOCOL,
                "duplicate {sa:?} with {peer}: {}",
                if by_us { "deleting it" } else { "the peer deletes it" });
            let d = Duplicate { sa, survivor_sa, deleted_by_us: by_us };
            self.events.push_back((at, Event::DuplicateReduced(d)));
            if by_us {
                act.push(key);
            }
        }
        for (o, child) in act {
            let Some(sa) = self.sas.get_mut(&o) else { continue };
            match child {
                None => sa.close(now, rng),
                Some(inbound) => {
                    sa.delete_child(now, inbound, rng);
                }
            }
            self.collect(o, now);
        }
    }

    fn accept<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) {
        let Some(cfg) = self
            .responder_configs
            .iter()
            .find(|c| c.remote_addr.ip() == from.ip() || c.remote_addr.ip().is_unspecified())
        else {
            self.stats.no_config += 1;
            return;
        };
        let cfg = cfg.clone();
        if !self.admit(now, datagram, from, cfg.local_addr, rng) {
            return;
        }
        match IkeSa::accept(now, cfg, datagram, from, rng) {
            Accept::Sa(mut sa) => {
                self.install_allocator(&mut sa, rng);
                let h = self.handle_id();
                if let Some(d) = &mut self.dos {
                    d.admission.opened(from.ip());
                    d.half_open.insert(h, from.ip());
                }
                self.half_open.insert((from, sa.spi_i()), h);
                self.insert(h, *sa);
                self.collect(h, now);
            }
            Accept::Stateless { transmit, failure } => {
                self.transmits.push_back(transmit);
                if let Some(cause) = failure {
                    let h = self.handle_id();
                    self.events.push_back((h, Event::Failed(cause)));
                }
            }
            Accept::Drop => self.stats.malformed += 1,
        }
    }

    /// Admission control for a new IKE_SA_INIT request: true to go on with it. A request to
    /// challenge gets its COOKIE answer queued here; one to drop is counted.
    fn admit<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        local: SocketAddr,
        rng: &mut R,
    ) -> bool {
        let Some(d) = &mut self.dos else { return true };
        // Only the nonce and the COOKIE notify are needed; a request that does not parse
        // or has no nonce is dropped by `IkeSa::accept` anyway, and it costs no more than
        // this parse, so it goes on unchecked.
        let Ok(m) = Message::parse(datagram) else { return true };
        if m.header.exchange_type != ExchangeType::IkeSaInit {
            return true;
        }
        let Some(ni) =
            m.payloads.iter().find_map(|p| if let Payload::Nonce(n) = p { Some(n) } else { None })
        else {
            return true;
        };
        d.cookies.rotate_if_due(now, rng);
        let valid_cookie = match d.cookies.verify_message(&m, &ni.data, from.ip()) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(target: crate::log::IKEV2_PROTOCOL, %from, "bad COOKIE: {e}");
                self.stats.bad_cookies += 1;
                false
            }
        };
        match d.admission.check(now, from.ip(), valid_cookie) {
            Verdict::Accept => true,
            Verdict::DemandCookie => {
                let cookie = d.cookies.make(&ni.data, from.ip(), m.header.spi_i);
                // HDR(A,0), N(COOKIE) (section 2.6): the initiator's SPI, no SA here.
                if let Some(bytes) = init_error_answer(&m.header, cookie.to_notify()) {
                    self.transmits.push_back(Transmit { to: from, from: local, bytes });
                    self.stats.cookies_sent += 1;
                }
                false
            }
            Verdict::Drop(reason) => {
                let n = match reason {
                    DropReason::HalfOpenLimit => &mut self.stats.dropped_half_open,
                    DropReason::PeerHalfOpenLimit => &mut self.stats.dropped_peer_half_open,
                    DropReason::RateLimited => &mut self.stats.dropped_rate,
                };
                *n += 1;
                false
            }
        }
    }

    /// Ends SA `h`'s half-open accounting once it is authenticated or has ended.
    fn account_half_open(&mut self, h: SaHandle) {
        let Some(d) = &mut self.dos else { return };
        let Some(&ip) = d.half_open.get(&h) else { return };
        let (established, gone) = match self.sas.get(&h) {
            Some(sa) => (sa.is_established(), sa.is_dead()),
            None => (false, true),
        };
        if established {
            d.admission.completed(ip);
            d.half_open.remove(&h);
        } else if gone {
            d.admission.expired(ip);
            d.half_open.remove(&h);
        }
    }

    /// Runs every SA's timers due at `now`.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        let due: Vec<SaHandle> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.poll_timeout().is_some_and(|t| t <= now))
            .map(|(&h, _)| h)
            .collect();
        for h in due {
            if let Some(sa) = self.sas.get_mut(&h) {
                sa.handle_timeout(now, rng);
                self.collect(h, now);
            }
        }
        let (late, pending): (Vec<_>, Vec<_>) =
            self.dup_deadlines.drain(..).partition(|(t, _)| *t <= now);
        self.dup_deadlines = pending;
        for (_, key) in late {
            self.reduce_group(now, key.0, Some(key), rng);
        }
    }

    /// Deletes an IKE SA (see [`IkeSa::close`]).
    pub fn close<R: CryptoRng + ?Sized>(&mut self, now: Time, h: SaHandle, rng: &mut R) {
        if let Some(sa) = self.sas.get_mut(&h) {
            sa.close(now, rng);
            self.collect(h, now);
        }
    }

    /// Deletes a Child SA (see [`IkeSa::delete_child`]).
    pub fn delete_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        h: SaHandle,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        self.with_sa(h, now, |sa| sa.delete_child(now, inbound_spi, rng))
    }

    /// Rekeys a Child SA (see [`IkeSa::rekey_child`]).
    pub fn rekey_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        h: SaHandle,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        self.with_sa(h, now, |sa| sa.rekey_child(now, inbound_spi, rng))
    }

    /// A Child SA's hard lifetime ran out (see [`IkeSa::expire_child`]).
    pub fn expire_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        h: SaHandle,
        inbound_spi: u32,
        rng: &mut R,
    ) -> bool {
        self.with_sa(h, now, |sa| sa.expire_child(now, inbound_spi, rng))
    }

    /// Asks for a further Child SA (see [`IkeSa::create_child`]).
    pub fn create_child<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        h: SaHandle,
        child: ChildConfig,
        rng: &mut R,
    ) -> bool {
        self.with_sa(h, now, |sa| sa.create_child(now, child, rng))
    }

    /// Rekeys an IKE SA (see [`IkeSa::rekey_ike`]).
    pub fn rekey_ike<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        h: SaHandle,
        rng: &mut R,
    ) -> bool {
        self.with_sa(h, now, |sa| sa.rekey_ike(now, rng))
    }

    /// Runs `f` on SA `h` and collects what it produced; false without such an SA.
    fn with_sa(&mut self, h: SaHandle, now: Time, f: impl FnOnce(&mut IkeSa) -> bool) -> bool {
        let Some(sa) = self.sas.get_mut(&h) else { return false };
        let done = f(sa);
        self.collect(h, now);
        done
    }

    /// Moves an SA's output to the endpoint's queues, re-indexes it by its current SPIs and
    /// forgets it once drained.
    fn collect(&mut self, h: SaHandle, now: Time) {
        self.account_half_open(h);
        self.log_keys(h, None);
        let Some(sa) = self.sas.get_mut(&h) else { return };
        while let Some(t) = sa.poll_transmit() {
            self.transmits.push_back(t);
        }
        let events: Vec<Event> = core::iter::from_fn(|| sa.poll_event()).collect();
        for e in events {
            if matches!(e, Event::ChildSaUp(_)) {
                self.log_keys(h, Some(&e));
            }
            self.dup_check |= may_duplicate(&e);
            self.events.push_back((h, e));
        }
        let Some(sa) = self.sas.get_mut(&h) else { return };
        if sa.is_drained(now) {
            let spi_i = sa.spi_i();
            let peer = sa.peer();
            self.sas.remove(&h);
            self.key_logged.remove(&h);
            self.reindex(h, Vec::new());
            self.half_open.remove(&(peer, spi_i));
            self.dup_reported.retain(|k| k.0 != h);
            self.dup_deadlines.retain(|(_, k)| k.0 != h);
            let ip = peer.ip();
            if self.by_peer.get(&ip).is_some_and(|l| l.contains(&h)) {
                let list = self.by_peer.entry(ip).or_default();
                list.retain(|&o| o != h);
                if list.is_empty() {
                    self.by_peer.remove(&ip);
                }
            } else {
                // Indexed under an address it has since left (rare: a scan is fine).
                self.by_peer.values_mut().for_each(|l| l.retain(|&o| o != h));
                self.by_peer.retain(|_, l| !l.is_empty());
            }
        } else {
            let routes = sa.routes();
            self.reindex(h, routes);
        }
    }

    /// Indexes SA `h` under exactly `routes` (an SA's own SPIs are random, so another SA's
    /// entry is never taken over; one that would be is left alone).
    fn reindex(&mut self, h: SaHandle, routes: Vec<IkeSpis>) {
        let had = self.routes.get(&h).map(Vec::as_slice).unwrap_or_default();
        if had == routes.as_slice() {
            return;
        }
        for r in had {
            let map = if r.initiator { &mut self.initiated } else { &mut self.responding };
            if !routes.iter().any(|n| n.initiator == r.initiator && n.local() == r.local())
                && map.get(&r.local()) == Some(&h)
            {
                map.remove(&r.local());
            }
        }
        for r in &routes {
            let map = if r.initiator { &mut self.initiated } else { &mut self.responding };
            map.entry(r.local()).or_insert(h);
        }
        if routes.is_empty() {
            self.routes.remove(&h);
        } else {
            self.routes.insert(h, routes);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The earliest timer of any SA.
    pub fn poll_timeout(&self) -> Option<Time> {
        let grace = self.dup_deadlines.iter().map(|(t, _)| *t);
        self.sas.values().filter_map(IkeSa::poll_timeout).chain(grace).min()
    }

    /// The next event, with the SA it concerns.
    pub fn poll_event(&mut self) -> Option<(SaHandle, Event)> {
        self.events.pop_front()
    }

    /// One SA.
    pub fn sa(&self, h: SaHandle) -> Option<&IkeSa> {
        self.sas.get(&h)
    }

    /// One SA, to call its mutators (e.g. [`IkeSa::note_inbound_traffic`]).
    pub fn sa_mut(&mut self, h: SaHandle) -> Option<&mut IkeSa> {
        self.sas.get_mut(&h)
    }

    /// How many SAs are held (dead ones until drained).
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// No SAs held.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// The endpoint's drop counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }
}
