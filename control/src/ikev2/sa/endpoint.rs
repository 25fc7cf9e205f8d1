//! The IKE endpoint: routes datagrams to IKE SAs by SPI and creates responder SAs for new
//! IKE_SA_INIT requests (quinn's `Endpoint` analogue; no I/O).
//!
//! Routing uses the Initiator flag (RFC 7296 section 3.1): a message from the original
//! initiator is for one of our responder SAs and is found by the responder SPI (ours); any
//! other is for one of our initiator SAs and is found by the initiator SPI. An IKE_SA_INIT
//! request has no responder SPI yet: retransmissions of one we answered are found by the
//! sender's address and initiator SPI (section 2.1).
//!
//! A rekeyed IKE SA (section 2.18) runs under new SPIs, possibly in the other role, while
//! its old SPIs stay in use until the old SA is deleted: after every call into an SA the
//! endpoint re-reads its [`IkeSa::routes`] and re-indexes it.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BTreeMap, HashMap, VecDeque};

use rand_core::CryptoRng;

use crate::ikev2::wire::Header;
use crate::time::Time;

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

    fn install_allocator<R: CryptoRng + ?Sized>(&mut self, sa: &mut IkeSa, rng: &mut R) {
        if let Some(f) = &mut self.spis.0 {
            sa.set_spi_allocator(f());
        }
        if let Some(l) = self.ike_lifetime {
            sa.set_ike_lifetime(l, rng);
        }
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
        self.sas.insert(h, sa);
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
        match IkeSa::accept(now, cfg.clone(), datagram, from, rng) {
            Accept::Sa(mut sa) => {
                self.install_allocator(&mut sa, rng);
                let h = self.handle_id();
                self.half_open.insert((from, sa.spi_i()), h);
                self.sas.insert(h, *sa);
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
        let Some(sa) = self.sas.get_mut(&h) else { return };
        while let Some(t) = sa.poll_transmit() {
            self.transmits.push_back(t);
        }
        while let Some(e) = sa.poll_event() {
            self.events.push_back((h, e));
        }
        if sa.is_drained(now) {
            let spi_i = sa.spi_i();
            let peer = sa.peer();
            self.sas.remove(&h);
            self.reindex(h, Vec::new());
            self.half_open.remove(&(peer, spi_i));
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
        self.sas.values().filter_map(IkeSa::poll_timeout).min()
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
