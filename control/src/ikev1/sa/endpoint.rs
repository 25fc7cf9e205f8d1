//! Routes IKEv1 datagrams to ISAKMP SAs by initiator cookie, creates responder SAs for
//! first messages from configured peers, and applies INITIAL-CONTACT (the peer has
//! rebooted: its older SAs with us are dropped without DELETEs it could not decrypt).

use core::net::{IpAddr, SocketAddr};
use std::collections::{HashMap, VecDeque};

use rand_core::CryptoRng;

use crate::ikev1::wire::{ExchangeType, Header};
use crate::ikev2::sa::{CloseReason, Event, Transmit};
use crate::log::IKEV1;
use crate::time::Time;

use super::{Accept, ConfigError, Ikev1Config, Ikev1Sa};

/// An ISAKMP SA of an [`Ikev1Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ikev1Handle(pub u64);

/// Every IKEv1 SA of one appliance.
#[derive(Debug, Default)]
pub struct Ikev1Endpoint {
    sas: HashMap<Ikev1Handle, Ikev1Sa>,
    /// Initiator cookie → SA. Cookies are 64 random bits: a collision between two peers'
    /// choices is negligible, and a peer that forges another's cookie must also know the
    /// responder cookie and the keys to get anywhere.
    by_cookie: HashMap<u64, Ikev1Handle>,
    responders: Vec<Ikev1Config>,
    next: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(Ikev1Handle, Event)>,
    /// First messages refused or from unknown peers, and datagrams for no SA.
    pub dropped: u64,
}

impl Ikev1Endpoint {
    /// An endpoint with no SA and no responder configuration.
    pub fn new() -> Ikev1Endpoint {
        Ikev1Endpoint::default()
    }

    /// The peers we answer, by address (`peer` of each; its port is ignored). One whose
    /// address is unspecified answers any peer of its family that no other one lists (a
    /// dynamic crypto map entry).
    pub fn set_responder_configs(&mut self, configs: Vec<Ikev1Config>) {
        self.responders = configs;
    }

    /// Starts an ISAKMP SA to `cfg.peer`.
    pub fn initiate<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        cfg: Ikev1Config,
        rng: &mut R,
    ) -> Result<Ikev1Handle, ConfigError> {
        let sa = Ikev1Sa::initiate(now, cfg, rng)?;
        Ok(self.insert(sa))
    }

    /// Holds an ISAKMP SA rebuilt from HA records by [`Ikev1Sa::import`] on the unit taking
    /// over (stateful failover): datagrams with its cookies go to it from now on, and what
    /// the import queued (a DELETE of a pair that was being deleted) is collected. An SA
    /// already held under the same initiator cookie is the same ISAKMP SA adopted before:
    /// it is forgotten without events, since its pairs are the new SA's.
    pub fn adopt(&mut self, now: Time, sa: Ikev1Sa) -> Ikev1Handle {
        if let Some(old) = self.by_cookie.remove(&sa.cky_i()) {
            self.sas.remove(&old);
            self.by_cookie.retain(|_, v| *v != old);
        }
        tracing::info!(target: IKEV1, peer = %sa.peer(), at = %now,
            cky_i = format_args!("{:016x}", sa.cky_i()), "ISAKMP SA adopted from the HA records");
        self.insert(sa)
    }

    fn insert(&mut self, mut sa: Ikev1Sa) -> Ikev1Handle {
        self.next += 1;
        let h = Ikev1Handle(self.next);
        self.by_cookie.insert(sa.cky_i(), h);
        self.drain(h, &mut sa);
        self.sas.insert(h, sa);
        h
    }

    fn drain(&mut self, h: Ikev1Handle, sa: &mut Ikev1Sa) {
        // A renewal brings a new initiator cookie.
        for c in sa.cookies() {
            self.by_cookie.insert(c, h);
        }
        while let Some(t) = sa.poll_transmit() {
            self.transmits.push_back(t);
        }
        while let Some(e) = sa.poll_event() {
            self.events.push_back((h, e));
        }
    }

    /// A datagram (without the non-ESP marker) from `from`. Returns the SA it went to.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: Time,
        datagram: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) -> Option<Ikev1Handle> {
        let Ok((header, _)) = Header::parse(datagram) else {
            self.dropped += 1;
            return None;
        };
        if let Some(&h) = self.by_cookie.get(&header.initiator_cookie)
            && let Some(mut sa) = self.sas.remove(&h)
        {
            sa.handle(now, datagram, from, rng);
            let initial_contact = sa.take_initial_contact();
            let peer_ip = sa.peer().ip();
            self.drain(h, &mut sa);
            self.sas.insert(h, sa);
            if initial_contact {
                self.initial_contact(h, peer_ip);
            }
            return Some(h);
        }
        let first = header.responder_cookie == 0
            && header.message_id == 0
            && matches!(
                header.exchange,
                ExchangeType::IdentityProtection | ExchangeType::Aggressive
            );
        // The peer renews an ISAKMP SA it has with us: the new phase 1 runs inside the old
        // SA, which keeps its Quick Mode SAs.
        if first
            && let Some(h) = self.renewable(from.ip())
            && let Some(mut sa) = self.sas.remove(&h)
        {
            let taken = sa.accept_renewal(now, datagram, from, rng);
            self.drain(h, &mut sa);
            self.sas.insert(h, sa);
            if taken {
                return Some(h);
            }
        }
        let Some(cfg) = first.then(|| self.responder_config(from.ip())).flatten() else {
            self.dropped += 1;
            return None;
        };
        match Ikev1Sa::accept(now, cfg, datagram, from, rng) {
            Accept::Sa(sa) => Some(self.insert(*sa)),
            Accept::Refused { transmit, failure } => {
                self.dropped += 1;
                tracing::info!(target: IKEV1, peer = %from, %failure, "phase 1 refused");
                self.transmits.push_back(transmit);
                self.next += 1;
                self.events.push_back((Ikev1Handle(self.next), Event::Failed(failure)));
                None
            }
            Accept::Drop => {
                self.dropped += 1;
                None
            }
        }
    }

    /// The established SA with the peer at `ip`, if exactly one.
    fn renewable(&self, ip: IpAddr) -> Option<Ikev1Handle> {
        let mut live =
            self.sas.iter().filter(|(_, sa)| sa.peer().ip() == ip && sa.is_established());
        match (live.next(), live.next()) {
            (Some((h, _)), None) => Some(*h),
            _ => None,
        }
    }

    fn responder_config(&self, ip: IpAddr) -> Option<Ikev1Config> {
        let wildcard =
            |c: &&Ikev1Config| c.peer.ip().is_unspecified() && c.peer.is_ipv4() == ip.is_ipv4();
        let listed = self.responders.iter().find(|c| c.peer.ip() == ip);
        listed.or_else(|| self.responders.iter().find(wildcard)).cloned()
    }

    /// The peer at `ip` announced INITIAL-CONTACT on SA `keep`: every other SA with it is
    /// stale (RFC 2407 section 4.6.3.3).
    fn initial_contact(&mut self, keep: Ikev1Handle, ip: IpAddr) {
        let stale: Vec<Ikev1Handle> = self
            .sas
            .iter()
            .filter(|(h, sa)| **h != keep && sa.peer().ip() == ip && !sa.is_dead())
            .map(|(h, _)| *h)
            .collect();
        for h in stale {
            if let Some(mut sa) = self.sas.remove(&h) {
                tracing::info!(target: IKEV1, peer = %ip, "INITIAL-CONTACT: dropping an older ISAKMP SA");
                sa.finish(Event::Closed { reason: CloseReason::PeerDeleted });
                self.drain(h, &mut sa);
                self.sas.insert(h, sa);
            }
        }
    }

    /// Runs every SA's due timers.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        let due: Vec<Ikev1Handle> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.poll_timeout().is_some_and(|t| t <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            if let Some(mut sa) = self.sas.remove(&h) {
                sa.handle_timeout(now, rng);
                self.drain(h, &mut sa);
                self.sas.insert(h, sa);
            }
        }
        self.reap();
    }

    /// Forgets dead SAs (their terminal events are already queued).
    fn reap(&mut self) {
        let dead: Vec<Ikev1Handle> =
            self.sas.iter().filter(|(_, sa)| sa.is_dead()).map(|(h, _)| *h).collect();
        for h in dead {
            self.sas.remove(&h);
            self.by_cookie.retain(|_, v| *v != h);
        }
    }

    /// The earliest timer of any SA.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.sas.values().filter_map(Ikev1Sa::poll_timeout).min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event, with the SA it concerns.
    pub fn poll_event(&mut self) -> Option<(Ikev1Handle, Event)> {
        let e = self.events.pop_front();
        if self.events.is_empty() {
            self.reap();
        }
        e
    }

    /// Runs `f` on an SA and collects what it queued.
    pub fn with_sa<T>(&mut self, h: Ikev1Handle, f: impl FnOnce(&mut Ikev1Sa) -> T) -> Option<T> {
        let mut sa = self.sas.remove(&h)?;
        let out = f(&mut sa);
        self.drain(h, &mut sa);
        self.sas.insert(h, sa);
        Some(out)
    }

    /// An SA.
    pub fn sa(&self, h: Ikev1Handle) -> Option<&Ikev1Sa> {
        self.sas.get(&h)
    }

    /// Every live SA.
    pub fn sas(&self) -> impl Iterator<Item = (Ikev1Handle, &Ikev1Sa)> {
        self.sas.iter().map(|(h, sa)| (*h, sa))
    }

    /// Closes every SA (DELETEs sent).
    pub fn close_all<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        let all: Vec<Ikev1Handle> = self.sas.keys().copied().collect();
        for h in all {
            self.with_sa(h, |sa| sa.close(now, rng));
        }
    }

    /// SAs alive.
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// No SA.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }
}
