//! The IKEv1 half of the appliance's IKE daemon ([`super::ike`]): an
//! [`Ikev1Endpoint`] beside the IKEv2 endpoint, fed the same punted datagrams (told apart
//! by the ISAKMP version octet) and reporting through the same events, so that Quick Mode
//! SAs are installed, bound and torn down, and the crypto-map failover runs, exactly as for
//! IKEv2 Child SAs.
//!
//! The daemon's tables are keyed by the IKEv2 [`SaHandle`]; an IKEv1 SA gets a handle of
//! its own range ([`key`]), so that nothing can confuse the two endpoints' SAs and each
//! input goes back to the endpoint that owns the SA ([`Owner`]).

use std::net::{IpAddr, SocketAddr};

use control::ikev1::sa::{ConfigError, Ikev1Config, Ikev1Endpoint, Ikev1Handle, Ikev1Sa};
use control::ikev2::sa::{Event, SaHandle, Transmit};
use control::policy::IkeVersion;
use control::policy::ikev1_peers::Ikev1Plan;
use control::pool::AddressPool;
use control::rng::OsRng;
use control::time::Time;

use super::config::ApplianceConfig;

/// The log target of what this module reports (`debug crypto ikev1`).
pub(super) const TARGET: &str = control::log::IKEV1;

/// The bit that marks an IKEv1 SA's handle. The IKEv2 endpoint numbers its SAs from 1
/// upwards: it would take 2^63 SAs to reach it.
const V1_BIT: u64 = 1 << 63;

/// The daemon's handle of an IKEv1 SA.
pub(super) fn key(h: Ikev1Handle) -> SaHandle {
    SaHandle(V1_BIT | h.0)
}

/// Which endpoint an SA belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    V2(SaHandle),
    V1(Ikev1Handle),
}

impl Owner {
    pub(super) fn of(h: SaHandle) -> Owner {
        if h.0 & V1_BIT != 0 { Owner::V1(Ikev1Handle(h.0 & !V1_BIT)) } else { Owner::V2(h) }
    }

    pub(super) fn version(self) -> IkeVersion {
        match self {
            Owner::V2(_) => IkeVersion::Ikev2,
            Owner::V1(_) => IkeVersion::Ikev1,
        }
    }
}

/// The IKE version of a datagram (without the non-ESP marker): the major version in the
/// high nibble of the header's version octet (offset 17), 1 for ISAKMP (RFC 2408 section
/// 3.1), 2 for IKEv2 (RFC 7296 section 3.1). `None` when too short or neither.
pub(super) fn version_of(message: &[u8]) -> Option<IkeVersion> {
    match message.get(17)? >> 4 {
        1 => Some(IkeVersion::Ikev1),
        2 => Some(IkeVersion::Ikev2),
        _ => None,
    }
}

/// The IKEv1 plan of a config: our address on each interface, keys read as for IKEv2,
/// remote-access clients leasing from `pools` (the IKEv2 plan's handles, one per
/// `[[address_pool]]`: a tunnel group's clients of both versions share them).
pub(super) fn plan(cfg: &ApplianceConfig, pools: &[AddressPool]) -> Ikev1Plan {
    let addr = |name: &str, peer: IpAddr| {
        cfg.interfaces
            .iter()
            .find(|i| i.name == name)?
            .addresses
            .iter()
            .map(|&(a, _)| a)
            .find(|a| a.is_ipv4() == peer.is_ipv4())
    };
    control::policy::ikev1_peers::ikev1_plan(&cfg.policy, &addr, &super::ike::read_secret, pools)
}

/// Whether two configurations of a peer negotiate the same tunnels (keys compared as
/// bytes: `Debug` hides them).
pub(super) fn same_config(a: &Ikev1Config, b: &Ikev1Config) -> bool {
    a.local == b.local
        && a.peer == b.peer
        && a.local_id == b.local_id
        && a.remote_id == b.remote_id
        && a.psk.as_bytes() == b.psk.as_bytes()
        && a.phase1 == b.phase1
        && a.mode == b.mode
        && a.phase2 == b.phase2
        && a.selectors == b.selectors
        && a.dpd == b.dpd
        && a.nat_traversal == b.nat_traversal
}

/// The IKEv1 endpoint with the daemon's handles.
#[derive(Debug, Default)]
pub(super) struct Ikev1Side {
    endpoint: Ikev1Endpoint,
}

impl Ikev1Side {
    pub(super) fn set_responders(&mut self, configs: Vec<Ikev1Config>) {
        self.endpoint.set_responder_configs(configs);
    }

    /// A datagram from `from`, without the non-ESP marker.
    pub(super) fn handle(&mut self, now: Time, message: &[u8], from: SocketAddr, rng: &mut OsRng) {
        // The SA counts the peer alive on its authenticated messages only (DPD): a datagram
        // that merely carries the right cookies proves nothing.
        let _ = self.endpoint.handle(now, message, from, rng);
    }

    pub(super) fn initiate(
        &mut self,
        now: Time,
        cfg: Ikev1Config,
        rng: &mut OsRng,
    ) -> Result<SaHandle, ConfigError> {
        self.endpoint.initiate(now, cfg, rng).map(key)
    }

    pub(super) fn handle_timeout(&mut self, now: Time, rng: &mut OsRng) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now, rng);
        }
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    pub(super) fn poll_event(&mut self) -> Option<(SaHandle, Event)> {
        self.endpoint.poll_event().map(|(h, e)| (key(h), e))
    }

    /// Deletes the ISAKMP SA and its Quick Mode SAs (DELETEs to the peer).
    pub(super) fn close(&mut self, now: Time, h: Ikev1Handle, rng: &mut OsRng) {
        self.endpoint.with_sa(h, |sa| sa.close(now, rng));
    }

    /// A Quick Mode for new traffic on an ISAKMP SA that has none left.
    pub(super) fn create_child(&mut self, now: Time, h: Ikev1Handle, rng: &mut OsRng) -> bool {
        self.endpoint.with_sa(h, |sa| sa.create_child(now, rng)).unwrap_or(false)
    }

    pub(super) fn rekey_child(&mut self, now: Time, h: Ikev1Handle, spi: u32, rng: &mut OsRng) {
        self.endpoint.with_sa(h, |sa| sa.rekey_child(now, spi, rng));
    }

    /// Inbound ESP arrived on one of the SA's Quick Mode pairs: the peer is alive, DPD
    /// waits a full threshold from now ([`super::esp_liveness`]).
    pub(super) fn note_inbound_traffic(&mut self, now: Time, h: Ikev1Handle) {
        self.endpoint.with_sa(h, |sa| sa.note_inbound_traffic(now));
    }

    /// Every live SA, with the daemon's handle.
    pub(super) fn sas(&self) -> impl Iterator<Item = (SaHandle, &Ikev1Sa)> {
        self.endpoint.sas().map(|(h, sa)| (key(h), sa))
    }

    /// Deletes one pair (DELETE to the peer); false when the SA does not have it.
    pub(super) fn expire_child(
        &mut self,
        now: Time,
        h: Ikev1Handle,
        spi: u32,
        rng: &mut OsRng,
    ) -> bool {
        self.endpoint.with_sa(h, |sa| sa.expire_child(now, spi, rng)).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_stay_apart() {
        let v2 = SaHandle(7);
        assert_eq!(Owner::of(v2), Owner::V2(v2));
        let v1 = key(Ikev1Handle(7));
        assert_ne!(v1, v2);
        assert_eq!(Owner::of(v1), Owner::V1(Ikev1Handle(7)));
        assert_eq!(Owner::of(v1).version(), IkeVersion::Ikev1);
        assert_eq!(Owner::of(v2).version(), IkeVersion::Ikev2);
    }

    #[test]
    fn version_octet() {
        let mut m = [0u8; 28];
        assert_eq!(version_of(&m), None);
        m[17] = 0x10;
        assert_eq!(version_of(&m), Some(IkeVersion::Ikev1));
        m[17] = 0x20;
        assert_eq!(version_of(&m), Some(IkeVersion::Ikev2));
        assert_eq!(version_of(&m[..17]), None);
    }
}
