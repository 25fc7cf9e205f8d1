//! The appliance's IKEv2 daemon: runs [`control::ikev2::sa::IkeEndpoint`] on the control
//! thread and connects it to the dataplane.
//!
//! - Punted IKE datagrams (UDP 500, and 4500 without the non-ESP marker's ESP) go to the
//!   endpoint; its datagrams leave through a worker as [`Command::Transmit`].
//! - An ACQUIRE for a crypto-map policy starts an IKE SA with the entry's current peer
//!   (connection types `originate-only` and `bidirectional`); peers that initiate are
//!   answered with the entry that lists their address.
//! - Every Child SA that comes up is installed in the SA table (inbound by SPI, outbound
//!   bound to all of its entry's SPD policies in one burst per worker); one that goes down
//!   is unbound (when still the bound one) and deleted.
//! - Each entry's peer is chosen by [`control::failover::PeerFailover`] (the reference
//!   document's multi-peer table): an attempt starts only on traffic, a failed one moves to
//!   the next peer or resets to Peer1 by its typed cause, and only the current peer is
//!   answered as a responder.
//!
//! The endpoint is sans-IO and keeps its own timers: this module only feeds it the clock.
//!
//! IKEv1 runs beside it ([`super::ike1`]): punted datagrams go to the endpoint of their
//! version, and IKEv1 SAs report through the same events, so everything above holds for
//! both. An entry that allows both versions tries IKEv2 first, then IKEv1, per peer.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use control::failover::{
    Action as FailoverAction, ChildStage, Ikev2Stage, Input as FailoverInput,
    Outcome as FailoverOutcome, PeerFailover, SaRef,
};
use control::ikev1::sa::Ikev1Config;
use control::ikev2::sa::{
    ChildSa, Event, IkeEndpoint, IkeSaInfo, PeerConfig, SaHandle, UnansweredRequest,
};
use control::ikev2::selectors::to_prefixes;
use control::policy::ikev1_peers::Ikev1Plan;
use control::policy::ikev2_peers::{Ikev2Plan, MapEntryPlan};
use control::policy::{ConnectionType, IkeVersion, Secret};
use control::rng::OsRng;
use control::time::Time;
use dataplane::queue::{Command, ControlEnd};
use dataplane::sa::{Direction, Encap, InboundSa, Lifetimes, Limits, OutboundSa};
use dataplane::spd::{IpPrefix, PolicyId, SaIndex, TrafficSelector};
use dataplane::table::SaTable;
use zeroize::Zeroizing;

use super::config::{ApplianceConfig, PolicyAction, StaticSa};
use super::ike1::{Ikev1Side, Owner};

mod dynamic;
mod ha_sync;

use crate::dpdk::{Mbuf, Mempool};
use crate::esp_tool::sa_file::SaSpec;
use crate::operator::ike_view::{ChildSaSnap, IkeSaSnap, Ikev1SaSnap};
pub(crate) use dynamic::DynamicSpd;

/// The log target of what this module reports (`debug crypto ikev2 platform`).
const TARGET: &str = control::log::IKEV2_PLATFORM;
/// UDP port of IKE with NAT traversal (RFC 3948).
const NATT_PORT: u16 = 4500;

/// What the daemon counts (shown by the operator interface and the run report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IkeStats {
    pub rx: u64,
    pub tx: u64,
    /// Datagrams that could not be sent (no mbuf, ring full, unroutable family).
    pub tx_dropped: u64,
    /// Punted packets that were not IKE (malformed, fragments).
    pub not_ike: u64,
    pub acquires: u64,
    pub children_up: u64,
    pub children_down: u64,
    /// Child SAs the dataplane could not take (table full, bad transform).
    pub install_failed: u64,
    /// NAT keepalives sent (RFC 3948 section 2.3).
    pub nat_keepalives: u64,
}

/// One crypto map entry's negotiation state.
struct Entry {
    /// The IKEv2 side of the entry (no peers when it uses IKEv1 only).
    plan: MapEntryPlan,
    /// The entry's IKEv1 peers (none when it uses IKEv2 only).
    v1: Vec<Ikev1Config>,
    /// The SPD policies that protect traffic under this entry.
    policies: Vec<PolicyId>,
    /// Which peer is tried or answered (index into `plan.peers`).
    failover: PeerFailover,
    /// The IKE SA negotiating or up for this entry.
    sa: Option<SaHandle>,
    /// The outbound SA the entry's policies are bound to (its inbound SPI names it).
    bound: Option<u32>,
    /// MTU of the interface the crypto map is applied to (the SAs' outer MTU).
    mtu: u16,
    /// `set security-association replay window-size` (0: off).
    replay_window: u32,
}

impl Entry {
    /// Our address towards `peer`, from either version's configuration.
    fn local_for(&self, peer: IpAddr) -> Option<IpAddr> {
        if self.plan.dynamic {
            return self.dynamic_local(peer);
        }
        let v2 = self.plan.peers.iter().find(|p| p.remote_addr.ip() == peer);
        v2.map(|p| p.local_addr.ip())
            .or_else(|| self.v1.iter().find(|c| c.peer.ip() == peer).map(|c| c.local.ip()))
    }

    /// A dynamic entry's address towards any `peer` of the family its wildcard
    /// configurations (IKEv2, IKEv1, or both) answer.
    fn dynamic_local(&self, peer: IpAddr) -> Option<IpAddr> {
        let v2 = self.plan.peers.first().map(|p| p.local_addr.ip());
        let v1 = self.v1.first().map(|c| c.local.ip());
        v2.into_iter().chain(v1).find(|l| l.is_ipv4() == peer.is_ipv4())
    }
}

/// An installed Child SA pair.
struct Child {
    handle: SaHandle,
    entry: usize,
    outbound_spi: u32,
    outbound: SaIndex,
    /// For the operator: the pair as SA specs (keys included, never shown).
    specs: [StaticSa; 2],
    /// For the operator: our and the peer's traffic selectors.
    idents: (String, String),
    /// The pair this one rekeyed (its lineage: a rekey inherits primary or not).
    rekey_of: Option<u32>,
    /// `[ike] single_sa`: not the primary pair of its peer and selectors, its inbound SA
    /// refusing traffic (`vpn-overlap-conflict`) and its outbound SA never bound.
    non_primary: bool,
    /// Install order, to promote the oldest duplicate when a primary lineage ends.
    order: u64,
    /// A dynamic entry's pair: its own SPD policy (see [`DynamicSpd`]).
    dyn_policy: Option<PolicyId>,
}

pub(crate) struct IkeDaemon {
    endpoint: IkeEndpoint,
    /// The IKEv1 endpoint; its SAs' handles are apart from the IKEv2 ones ([`Owner`]).
    v1: Ikev1Side,
    entries: Vec<Entry>,
    /// SPD policy → entry.
    by_policy: HashMap<PolicyId, usize>,
    /// IKE SA → entry.
    owner: HashMap<SaHandle, usize>,
    /// What each IKE SA established with (NAT detection decides the ESP encapsulation).
    established: HashMap<SaHandle, IkeSaInfo>,
    /// When each IKE SA came up.
    up_since: HashMap<SaHandle, Instant>,
    /// Each IKE SA as the failover machine knows it.
    sa_refs: HashMap<SaHandle, SaRef>,
    /// When each IKE SA with a NAT between the peers sends its next NAT keepalive.
    keepalive_due: HashMap<SaHandle, Instant>,
    /// `[ike] nat_keepalive_seconds` (`None`: 0, off).
    keepalive_every: Option<std::time::Duration>,
    /// IKE SAs with a CREATE_CHILD_SA of ours for new traffic in flight.
    child_pending: std::collections::HashSet<SaHandle>,
    /// IKE SAs that brought up at least one Child SA (a later Child SA failure is a
    /// rekey's, not IKE_AUTH's).
    had_child: std::collections::HashSet<SaHandle>,
    /// Installed Child SAs by inbound SPI.
    children: BTreeMap<u32, Child>,
    /// Child SAs installed so far (the next one's [`Child::order`]).
    installed: u64,
    /// `[ike] single_sa`: one primary pair per peer and selectors (the ASA's rule).
    single_sa: bool,
    /// The source port of the last IKE datagram each peer sent to our port 4500: a peer
    /// that floated (RFC 7296 section 2.23) gets its ESP in UDP there.
    natt_port: HashMap<IpAddr, u16>,
    epoch: Instant,
    rng: OsRng,
    /// Transmits leave through this worker's command ring.
    tx_worker: usize,
    stats: IkeStats,
    /// Exchange outcomes for the metrics endpoint.
    counters: crate::metrics::IkeCounters,
    /// Which Child SAs received ESP since the last look (DPD's ESP liveness).
    esp_activity: super::esp_liveness::EspActivity,
    /// The SPD entries of dynamic entries' Child SAs.
    dynamic: DynamicSpd,
    /// The remote-access address pools both versions' clients lease from (kept across
    /// reloads that leave a pool as it was, with its leases).
    pools: Vec<control::pool::AddressPool>,
}

/// Reads a pre-shared key: inline, or the file named (its whole content, one trailing
/// newline removed).
pub(super) fn read_secret(s: &Secret) -> Result<Zeroizing<Vec<u8>>, String> {
    match s {
        Secret::Inline(k) => Ok(Zeroizing::new(k.as_bytes().to_vec())),
        Secret::File(p) => {
            let mut bytes = Zeroizing::new(
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            );
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            Ok(bytes)
        }
    }
}

/// The IKEv2 plan of a config: our address on each interface, PSKs read.
pub(crate) fn plan(cfg: &ApplianceConfig) -> Ikev2Plan {
    let addr = |name: &str, peer: IpAddr| {
        cfg.interfaces
            .iter()
            .find(|i| i.name == name)?
            .addresses
            .iter()
            .map(|&(a, _)| a)
            .find(|a| a.is_ipv4() == peer.is_ipv4())
    };
    control::policy::ikev2_peers::ikev2_plan(&cfg.policy, &addr, &read_secret)
}

impl IkeDaemon {
    /// The daemon for `cfg`, whose policies are numbered `policy_ids`. `None` when no crypto
    /// map uses IKEv2.
    pub(crate) fn new(cfg: &ApplianceConfig, policy_ids: &[PolicyId]) -> Option<IkeDaemon> {
        let plan = plan(cfg);
        for p in &plan.problems {
            tracing::warn!(target: TARGET, "{p}");
        }
        for w in &plan.warnings {
            tracing::warn!(target: TARGET, "{w}");
        }
        let plan1 = super::ike1::plan(cfg, &plan.address_pools);
        for line in plan1.problems.iter().chain(&plan1.warnings) {
            tracing::warn!(target: super::ike1::TARGET, "{line}");
        }
        if plan.entries.is_empty() && plan1.entries.is_empty() {
            return None;
        }
        let (entries, by_policy) = build_entries(cfg, &plan, &plan1, policy_ids);
        let responders = responder_configs(&entries);
        for e in &entries {
            let v2 = e.plan.peers.iter().map(|p| format!("{} (IKEv2)", p.remote_addr.ip()));
            let v1 = e.v1.iter().map(|c| format!("{} (IKEv1)", c.peer.ip()));
            let peers: Vec<String> = v2.chain(v1).collect();
            tracing::info!(
                target: TARGET,
                "crypto map {} {}: IKE with {} ({}, {} SPD entries)",
                e.plan.map,
                e.plan.sequence,
                peers.join(", "),
                e.plan.connection_type,
                e.policies.len()
            );
        }
        let mut v1 = Ikev1Side::default();
        v1.set_responders(responder_configs_v1(&entries));
        let mut endpoint = IkeEndpoint::new(responders);
        endpoint.set_ike_lifetime(ike_lifetime(cfg));
        // A failover unit announces RFC 6311: the mate that takes an SA over then
        // resynchronises the Message IDs with peers that support it.
        endpoint.set_message_id_sync(cfg.policy.ha.is_some());
        let mut rng = OsRng;
        endpoint.set_dos_policy(Time::ZERO, admission(cfg), &mut rng);
        if let Some(dir) = std::env::var_os(KEY_LOG_ENV) {
            match FileKeyLog::open(std::path::Path::new(&dir)) {
                Ok(log) => {
                    tracing::warn!(
                        target: TARGET,
                        "{KEY_LOG_ENV}: writing IKE and ESP keys to {} (debugging only: anyone \
                         who reads these files can decrypt the tunnels)",
                        log.dir.display()
                    );
                    endpoint.set_key_log(Box::new(log));
                }
                Err(e) => tracing::error!(target: TARGET, "{KEY_LOG_ENV}: {e}"),
            }
        }
        Some(IkeDaemon {
            endpoint,
            v1,
            entries,
            by_policy,
            owner: HashMap::new(),
            established: HashMap::new(),
            up_since: HashMap::new(),
            sa_refs: HashMap::new(),
            child_pending: std::collections::HashSet::new(),
            keepalive_due: HashMap::new(),
            keepalive_every: (cfg.policy.ike.nat_keepalive_seconds > 0).then(|| {
                std::time::Duration::from_secs(u64::from(cfg.policy.ike.nat_keepalive_seconds))
            }),
            had_child: std::collections::HashSet::new(),
            children: BTreeMap::new(),
            installed: 0,
            single_sa: cfg.policy.ike.single_sa,
            natt_port: HashMap::new(),
            epoch: Instant::now(),
            rng,
            tx_worker: 0,
            stats: IkeStats::default(),
            counters: crate::metrics::IkeCounters::default(),
            esp_activity: super::esp_liveness::EspActivity::default(),
            dynamic: DynamicSpd::default(),
            pools: plan.address_pools,
        })
    }

    pub(crate) fn stats(&self) -> IkeStats {
        self.stats
    }

    /// The dynamic entries' SPD policies (the control thread rebuilds the SPD when they
    /// change).
    pub(crate) fn dynamic_spd(&mut self) -> &mut DynamicSpd {
        &mut self.dynamic
    }

    /// Exchange outcomes since start, for `ferrogate_ike_exchanges_total`.
    pub(crate) fn counters(&self) -> crate::metrics::IkeCounters {
        self.counters.clone()
    }

    /// Counts a failed IKE SA: before it came up, in the exchange that failed; after, a
    /// dead peer is a DPD timeout.
    fn count_failure(&mut self, h: SaHandle, cause: &control::ikev2::sa::FailureCause) {
        use control::ikev2::sa::FailureCause as F;
        let c = &mut self.counters;
        if self.established.contains_key(&h) {
            if matches!(cause, F::PeerUnreachable { .. }) {
                c.dpd_timeouts += 1;
            }
            return;
        }
        let (auth, name) = match cause {
            F::PeerUnreachable { .. } => (false, "timeout"),
            F::NoProposalChosen(_) => (false, "no_proposal_chosen"),
            F::InvalidKe { .. } => (false, "invalid_ke_payload"),
            F::AuthenticationFailed(_) => (true, "authentication_failed"),
            F::TsUnacceptable => (true, "ts_unacceptable"),
            _ => (false, "protocol_error"),
        };
        let map = if auth { &mut c.auth_fail_by_cause } else { &mut c.sa_init_fail_by_cause };
        *map.entry(name.to_owned()).or_insert(0) += 1;
    }

    fn now(&self) -> Time {
        Time::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    /// A punted IKE packet (an IP packet, L2 header removed).
    pub(crate) fn on_punt(&mut self, ip: &[u8]) {
        let d = match dataplane::ike_io::parse(ip) {
            Ok(d) => d,
            Err(e) => {
                self.stats.not_ike += 1;
                tracing::debug!(target: TARGET, "punted packet: {e:?}");
                return;
            }
        };
        self.stats.rx += 1;
        if d.local.port() == NATT_PORT {
            self.natt_port.insert(d.remote.ip(), d.remote.port());
        }
        let now = self.now();
        match super::ike1::version_of(d.message) {
            Some(IkeVersion::Ikev1) => self.v1.handle(now, d.message, d.remote, &mut self.rng),
            // IKEv2, and what is neither: the IKEv2 endpoint drops or answers it.
            _ => self.endpoint.handle(now, d.message, d.remote, &mut self.rng),
        }
    }

    /// An ACQUIRE for SPD policy `policy`: the entry's failover machine decides whether
    /// (and with which peer) an IKE SA starts.
    pub(crate) fn on_acquire(&mut self, policy: PolicyId) -> bool {
        let Some(&e) = self.by_policy.get(&policy) else {
            return false;
        };
        self.stats.acquires += 1;
        let now = self.now();
        // An IKE SA that is up but carries no Child SA for the entry (its pairs were
        // cleared, or the peer deleted them) gets a new one with CREATE_CHILD_SA, whoever
        // initiated the IKE SA.
        if let Some(h) = self.entries[e].sa
            && self.established.contains_key(&h)
            && self.entries[e].bound.is_none()
        {
            if let Owner::V1(h1) = Owner::of(h) {
                // IKEv1: a Quick Mode with the SA's own proxy identities.
                if self.child_pending.insert(h) && !self.v1.create_child(now, h1, &mut self.rng) {
                    self.child_pending.remove(&h);
                }
                return true;
            }
            if self.child_pending.insert(h) {
                let peer = self.established.get(&h).map(|i| i.peer.ip());
                let child = self.entries[e]
                    .plan
                    .peers
                    .iter()
                    .find(|p| Some(p.remote_addr.ip()) == peer)
                    .map(|p| p.child.clone());
                let asked =
                    child.is_some_and(|c| self.endpoint.create_child(now, h, c, &mut self.rng));
                if asked {
                    tracing::info!(target: TARGET, "traffic needs a Child SA: CREATE_CHILD_SA");
                } else {
                    self.child_pending.remove(&h);
                }
            }
            return true;
        }
        if self.entries[e].plan.connection_type == ConnectionType::AnswerOnly {
            return true;
        }
        let actions = self.entries[e].failover.handle(now, FailoverInput::Acquire);
        self.apply(e, actions);
        true
    }

    /// Carries out what an entry's failover machine asks for.
    fn apply(&mut self, e: usize, actions: Vec<FailoverAction>) {
        let now = self.now();
        for action in actions {
            match action {
                FailoverAction::Initiate { target, .. } => {
                    let entry = &self.entries[e];
                    tracing::info!(
                        target: TARGET,
                        "crypto map {} {}: traffic needs a tunnel, initiating to {} ({})",
                        entry.plan.map,
                        entry.plan.sequence,
                        target.peer,
                        target
                    );
                    // The peer's configuration for the attempt's version, by address: the
                    // failover list holds the peers usable with either version.
                    let started = match target.version {
                        IkeVersion::Ikev2 => {
                            let cfg = entry
                                .plan
                                .peers
                                .iter()
                                .find(|p| p.remote_addr.ip() == target.peer)
                                .cloned();
                            match cfg {
                                Some(cfg) => self
                                    .endpoint
                                    .connect(now, cfg, &mut self.rng)
                                    .map_err(|e| e.to_string()),
                                None => Err("the peer has no IKEv2 configuration".to_owned()),
                            }
                        }
                        IkeVersion::Ikev1 => {
                            let cfg = entry.v1.iter().find(|c| c.peer.ip() == target.peer).cloned();
                            match cfg {
                                Some(cfg) => self
                                    .v1
                                    .initiate(now, cfg, &mut self.rng)
                                    .map_err(|e| e.to_string()),
                                None => Err("the peer has no IKEv1 configuration".to_owned()),
                            }
                        }
                    };
                    let sa = SaRef { peer: target.peer, version: target.version, initiator: true };
                    match started {
                        Ok(h) => {
                            self.entries[e].sa = Some(h);
                            self.owner.insert(h, e);
                            self.sa_refs.insert(h, sa);
                        }
                        Err(err) => {
                            tracing::error!(target: TARGET, "cannot initiate: {err}");
                            let input =
                                FailoverInput::Outcome { sa, outcome: FailoverOutcome::LocalError };
                            // A local error moves no peer and starts nothing.
                            let _ = self.entries[e].failover.handle(now, input);
                        }
                    }
                }
                FailoverAction::Close(sa) => {
                    let doomed: Vec<SaHandle> = self
                        .sa_refs
                        .iter()
                        .filter(|(h, r)| **r == sa && self.owner.get(h) == Some(&e))
                        .map(|(&h, _)| h)
                        .collect();
                    for h in doomed {
                        self.close_sa(now, h);
                    }
                }
                FailoverAction::Moved(m) => {
                    tracing::info!(target: control::log::IKE_COMMON, "{}", m.debug_line);
                    self.refresh_responders();
                }
            }
        }
    }

    /// Peers that initiate are answered only by the entries whose current peer they are.
    fn refresh_responders(&mut self) {
        self.endpoint.set_responder_configs(responder_configs(&self.entries));
        self.v1.set_responders(responder_configs_v1(&self.entries));
    }

    /// Deletes an IKE SA of either version (the peer is told).
    fn close_sa(&mut self, now: Time, h: SaHandle) {
        match Owner::of(h) {
            Owner::V2(h) => self.endpoint.close(now, h, &mut self.rng),
            Owner::V1(h) => self.v1.close(now, h, &mut self.rng),
        }
    }

    /// Feeds an IKE SA's outcome to its entry's failover machine.
    fn failover_outcome(&mut self, h: SaHandle, outcome: FailoverOutcome) {
        let (Some(&e), Some(&sa)) = (self.owner.get(&h), self.sa_refs.get(&h)) else { return };
        if self.entries[e].plan.dynamic {
            return;
        }
        let now = self.now();
        let actions = self.entries[e].failover.handle(now, FailoverInput::Outcome { sa, outcome });
        self.apply(e, actions);
    }

    /// Timers and events: SAs installed, bound or removed; nothing sent yet. The caller
    /// installs what that changed in the SPD (dynamic entries' policies) before
    /// [`Self::flush`] sends the answers, so that a peer learns of a Child SA only once
    /// the dataplane carries its traffic both ways.
    pub(crate) fn process(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        created_ns: u64,
    ) {
        // ESP first: a peer whose traffic arrived is not probed by a timer due now.
        self.note_esp_activity(table);
        let now = self.now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now, &mut self.rng);
        }
        self.v1.handle_timeout(now, &mut self.rng);
        while let Some((h, ev)) = self.endpoint.poll_event().or_else(|| self.v1.poll_event()) {
            self.on_event(controls, table, created_ns, h, ev);
        }
    }

    /// Sends what the endpoints queued (answers, requests, DELETEs) and NAT keepalives.
    pub(crate) fn flush<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        pool: Option<&Mempool<'e>>,
    ) {
        self.flush_transmits(controls, pool);
        self.send_keepalives(controls, pool);
    }

    /// About once a second ([`super::esp_liveness`]): tells each IKE SA whose Child SAs
    /// received ESP since the last look that its peer is alive, so that DPD probes only
    /// silent peers. Reads the dataplane's per-SA counters: nothing per packet.
    fn note_esp_activity(&mut self, table: &SaTable) {
        if !self.esp_activity.due(Instant::now()) {
            return;
        }
        let current = self.children.iter().filter_map(|(&spi, c)| {
            Some((spi, c.handle, table.inbound(spi)?.counters().packets.get()))
        });
        let active = self.esp_activity.look(current);
        let now = self.now();
        for h in active {
            match Owner::of(h) {
                Owner::V2(h) => {
                    if let Some(sa) = self.endpoint.sa_mut(h) {
                        sa.note_inbound_traffic(now);
                    }
                }
                Owner::V1(h) => self.v1.note_inbound_traffic(now, h),
            }
        }
    }

    /// Sends what both endpoints queued.
    fn flush_transmits<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        pool: Option<&Mempool<'e>>,
    ) {
        while let Some(t) = self.endpoint.poll_transmit().or_else(|| self.v1.poll_transmit()) {
            self.transmit(controls, pool, t.from, t.to, &t.bytes);
        }
    }

    /// NAT keepalives for the IKE SAs that found a NAT between the peers (sent whichever
    /// side the NAT is on: one byte every interval costs nothing, a lost mapping costs the
    /// tunnel).
    fn send_keepalives<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        pool: Option<&Mempool<'e>>,
    ) {
        let Some(every) = self.keepalive_every else { return };
        let now = Instant::now();
        let due: Vec<SaHandle> =
            self.keepalive_due.iter().filter(|(_, t)| **t <= now).map(|(&h, _)| h).collect();
        for h in due {
            self.keepalive_due.insert(h, now + every);
            let (Some(info), Some(&e)) = (self.established.get(&h), self.owner.get(&h)) else {
                continue;
            };
            let Some(local) = self.entries[e].local_for(info.peer.ip()) else {
                continue;
            };
            let port = self.natt_port.get(&info.peer.ip()).copied().unwrap_or(NATT_PORT);
            let (from, to) =
                (SocketAddr::new(local, NATT_PORT), SocketAddr::new(info.peer.ip(), port));
            use dataplane::buf::PacketBuf;
            let sent = (|| {
                let len = dataplane::ike_io::nat_keepalive_len(from, to)?;
                let mut m = pool?.alloc()?;
                m.append(len).ok()?;
                dataplane::ike_io::emit_nat_keepalive(m.data_mut(), from, to)?;
                controls.get_mut(self.tx_worker)?.commands.push(Command::Transmit(m)).ok()
            })();
            match sent {
                Some(()) => self.stats.nat_keepalives += 1,
                None => self.stats.tx_dropped += 1,
            }
        }
    }

    fn transmit<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        pool: Option<&Mempool<'e>>,
        from: SocketAddr,
        to: SocketAddr,
        message: &[u8],
    ) {
        use dataplane::buf::PacketBuf;
        // A peer that floated to 4500 (RFC 7296 section 2.23) is answered from 4500.
        let from =
            if to.port() == NATT_PORT { SocketAddr::new(from.ip(), NATT_PORT) } else { from };
        let sent = (|| {
            let len = dataplane::ike_io::emit_len(from, to, message.len())?;
            let mut m = pool?.alloc()?;
            m.append(len).ok()?;
            dataplane::ike_io::emit(m.data_mut(), from, to, message)?;
            let c = controls.get_mut(self.tx_worker)?;
            c.commands.push(Command::Transmit(m)).ok()
        })();
        match sent {
            Some(()) => self.stats.tx += 1,
            None => self.stats.tx_dropped += 1,
        }
    }

    fn on_event(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        created_ns: u64,
        h: SaHandle,
        ev: Event,
    ) {
        match ev {
            Event::Established(info) => {
                let e = match self.owner.get(&h) {
                    Some(&e) => Some(e),
                    None => self.entry_for_responder(h, &info),
                };
                let version = Owner::of(h).version();
                tracing::info!(
                    target: TARGET,
                    "{} SA {:016x}/{:016x} with {} ({}) established{}",
                    version_name(version),
                    info.spi_i,
                    info.spi_r,
                    info.peer,
                    if info.initiator { "initiator" } else { "responder" },
                    if info.nat_detected { ", NAT detected: ESP in UDP" } else { "" }
                );
                let sa = SaRef { peer: info.peer.ip(), version, initiator: info.initiator };
                self.sa_refs.insert(h, sa);
                if let (true, Some(every)) = (info.nat_detected, self.keepalive_every) {
                    self.keepalive_due.insert(h, Instant::now() + every);
                }
                let peer = info.peer.ip();
                self.established.insert(h, info);
                if let Some(e) = e.filter(|&e| self.entries[e].plan.dynamic) {
                    // Any number of peers: no failover, no single SA per entry.
                    self.owner.insert(h, e);
                } else if let Some(e) = e {
                    self.owner.insert(h, e);
                    // IKEv2 only: its endpoint reduces duplicates; IKEv1 keeps the failover
                    // machine's own rule.
                    let twin = match Owner::of(h) {
                        Owner::V2(_) => self.twin_ike_sa(h, e, peer),
                        Owner::V1(_) => None,
                    };
                    if let Some(other) = twin {
                        // Crossing IKE_SA_INITs: the entry's tunnel is up already; the
                        // endpoint reduces the two to one (DuplicateReduced), and the
                        // failover machine keeps tracking the first.
                        tracing::info!(
                            target: TARGET,
                            "IKE SA with {peer} duplicates SA {}: one of them will be deleted",
                            other.0
                        );
                    } else {
                        self.entries[e].sa = Some(h);
                        let now = self.now();
                        let actions =
                            self.entries[e].failover.handle(now, FailoverInput::Established(sa));
                        self.apply(e, actions);
                    }
                }
                self.up_since.insert(h, Instant::now());
                self.counters.sa_init_ok += 1;
                self.counters.auth_ok += 1;
            }
            Event::ChildSaUp(c) => {
                if let Some(old) = c.rekey_of {
                    self.counters.rekeys += 1;
                    tracing::info!(
                        target: TARGET,
                        "Child SA {old:08x} rekeyed: new inbound {:08x}, outbound {:08x}",
                        c.inbound_spi,
                        c.outbound_spi
                    );
                }
                self.child_up(controls, table, created_ns, h, c);
            }
            Event::IkeSaRekeyed { old_spi_i, old_spi_r, info } => {
                self.counters.rekeys += 1;
                tracing::info!(
                    target: TARGET,
                    "{} SA {old_spi_i:016x}/{old_spi_r:016x} rekeyed: now {:016x}/{:016x}",
                    version_name(Owner::of(h).version()),
                    info.spi_i,
                    info.spi_r
                );
                self.established.insert(h, info);
            }
            Event::ChildSaDown { inbound_spi, .. } => {
                self.child_down(controls, table, inbound_spi);
            }
            Event::ChildSaFailed(cause) => {
                tracing::warn!(target: TARGET, "Child SA refused: {cause}");
                self.child_pending.remove(&h);
                let stage = if self.had_child.contains(&h) {
                    ChildStage::Rekey
                } else {
                    ChildStage::WithIkeAuth
                };
                self.failover_outcome(h, FailoverOutcome::from_ikev2_child_failure(&cause, stage));
            }
            Event::Closed { reason } => {
                let v = version_name(Owner::of(h).version());
                tracing::info!(target: TARGET, "{v} SA closed ({reason:?})");
                if !self.hand_over(h) {
                    self.failover_outcome(h, FailoverOutcome::ClosedNormally);
                }
                self.forget(controls, table, h);
            }
            Event::Failed(cause) => {
                let v = version_name(Owner::of(h).version());
                tracing::warn!(target: TARGET, "{v} SA failed: {cause}");
                self.count_failure(h, &cause);
                // An unanswered rekey resets the peer index, an unanswered liveness check
                // moves it on: the SA says which request it gave up on.
                let rekey_unanswered = matches!(Owner::of(h), Owner::V2(_))
                    && self.endpoint.sa(h).and_then(|sa| sa.unanswered())
                        == Some(UnansweredRequest::CreateChildSa);
                let stage = match (self.established.contains_key(&h), rekey_unanswered) {
                    (false, _) => Ikev2Stage::Negotiating,
                    (true, true) => Ikev2Stage::Rekeying,
                    (true, false) => Ikev2Stage::Established,
                };
                if !self.hand_over(h) {
                    self.failover_outcome(h, FailoverOutcome::from_ikev2_failure(&cause, stage));
                }
                self.forget(controls, table, h);
            }
            Event::DuplicateReduced(d) => self.duplicate(controls, table, h, d),
            other => tracing::debug!(target: TARGET, "IKE event {other:?}"),
        }
    }

    /// The entry a peer that initiated IKE SA `h` to us belongs to: the first listing its
    /// address.
    fn entry_for_responder(&self, h: SaHandle, info: &IkeSaInfo) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| {
                !e.plan.dynamic
                    && e.plan.connection_type != ConnectionType::OriginateOnly
                    && e.failover.accepts(info.peer.ip())
            })
            .or_else(|| {
                // A dynamic entry answers whoever no static entry lists (lowest priority),
                // with the version's wildcard configuration it has.
                let peer = info.peer.ip();
                self.entries.iter().position(|e| {
                    e.plan.dynamic
                        && match Owner::of(h).version() {
                            IkeVersion::Ikev2 => e
                                .plan
                                .peers
                                .first()
                                .is_some_and(|p| p.remote_addr.is_ipv4() == peer.is_ipv4()),
                            IkeVersion::Ikev1 => {
                                e.v1.first().is_some_and(|c| c.peer.is_ipv4() == peer.is_ipv4())
                            }
                        }
                })
            })
    }

    /// Another established IKE SA of entry `e` with the same peer and version as `h`.
    fn twin_ike_sa(&self, h: SaHandle, e: usize, peer: IpAddr) -> Option<SaHandle> {
        let version = Owner::of(h).version();
        self.established
            .iter()
            .filter(|(o, i)| **o != h && i.peer.ip() == peer && Owner::of(**o).version() == version)
            .map(|(&o, _)| o)
            .find(|o| self.owner.get(o) == Some(&e))
    }

    /// IKE SA `h` ends while a duplicate of it stays up (one of two made by crossing
    /// IKE_SA_INITs was reduced): the entry's tunnel goes on, so the failover machine is
    /// told nothing, and the twin takes over the entry and, if the machine was tracking
    /// `h`, the identity it tracks it by (so that the twin's own end reaches it). Returns
    /// whether there was such a twin.
    fn hand_over(&mut self, h: SaHandle) -> bool {
        let (Some(&e), Some(info)) = (self.owner.get(&h), self.established.get(&h)) else {
            return false;
        };
        if matches!(Owner::of(h), Owner::V1(_)) {
            return false;
        }
        let Some(twin) = self.twin_ike_sa(h, e, info.peer.ip()) else { return false };
        if let (control::failover::State::Up { sa, .. }, Some(&mine)) =
            (self.entries[e].failover.state(), self.sa_refs.get(&h))
            && sa == mine
        {
            self.sa_refs.insert(twin, mine);
        }
        if self.entries[e].sa == Some(h) {
            self.entries[e].sa = Some(twin);
        }
        tracing::info!(target: TARGET, "IKE SA {} ended, its duplicate {} carries on", h.0, twin.0);
        true
    }

    /// The endpoint found a duplicate SA (see [`Event::DuplicateReduced`]): the entry's
    /// traffic moves to the survivor at once, before the redundant pair's DELETE, and in
    /// single-SA mode the redundant pair stops being accepted (the peer, by the same rule,
    /// moves too; a peer that insists is dropped as `vpn-overlap-conflict`).
    fn duplicate(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        h: SaHandle,
        d: control::ikev2::sa::Duplicate,
    ) {
        use control::ikev2::sa::DuplicateSa;
        match d.sa {
            DuplicateSa::IkeSa { .. } => self.counters.duplicate_ike_sas += 1,
            DuplicateSa::ChildSa { .. } => self.counters.duplicate_child_sas += 1,
        }
        tracing::info!(
            target: TARGET,
            "duplicate SA: {:?}, {}",
            d.sa,
            if d.deleted_by_us { "deleting it" } else { "the peer deletes it" }
        );
        // (redundant, survivor) pairs by inbound SPI.
        let pairs: Vec<(u32, u32)> = match d.sa {
            DuplicateSa::ChildSa { redundant, survivor } => vec![(redundant.0, survivor.0)],
            DuplicateSa::IkeSa { .. } => self
                .children
                .iter()
                .filter(|(_, c)| c.handle == h)
                .filter_map(|(&r, c)| {
                    self.children
                        .iter()
                        .find(|(_, s)| s.handle == d.survivor_sa && s.idents == c.idents)
                        .map(|(&s, _)| (r, s))
                })
                .collect(),
        };
        for (r, s) in pairs {
            let (Some(rc), Some(sc)) = (self.children.get(&r), self.children.get(&s)) else {
                continue;
            };
            let (e, outbound) = (rc.entry, sc.outbound);
            if self.single_sa {
                if let Some(sa) = table.inbound(r) {
                    sa.set_non_primary(true);
                }
                if let Some(sa) = table.inbound(s) {
                    sa.set_non_primary(false);
                }
                if let Some(c) = self.children.get_mut(&r) {
                    c.non_primary = true;
                }
                if let Some(c) = self.children.get_mut(&s) {
                    c.non_primary = false;
                }
            }
            let entry = &mut self.entries[e];
            if entry.bound == Some(r) || (self.single_sa && entry.bound != Some(s)) {
                entry.bound = Some(s);
                let policies = entry.policies.clone();
                bind_all(controls, &policies, Some(outbound));
            }
        }
    }

    /// An IKE SA ended: its Child SAs go (the failover machine has been told why).
    fn forget(&mut self, controls: &mut [ControlEnd<Mbuf<'_>>], table: &mut SaTable, h: SaHandle) {
        let spis: Vec<u32> =
            self.children.iter().filter(|(_, c)| c.handle == h).map(|(&s, _)| s).collect();
        for spi in spis {
            self.child_down(controls, table, spi);
        }
        self.established.remove(&h);
        self.up_since.remove(&h);
        self.sa_refs.remove(&h);
        self.had_child.remove(&h);
        self.keepalive_due.remove(&h);
        self.child_pending.remove(&h);
        let Some(e) = self.owner.remove(&h) else { return };
        let entry = &mut self.entries[e];
        if entry.sa == Some(h) {
            entry.sa = None;
        }
    }

    fn child_up(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        created_ns: u64,
        h: SaHandle,
        c: ChildSa,
    ) {
        self.child_up_at(controls, table, created_ns, h, c, None);
    }

    /// [`Self::child_up`], resuming a pair taken over from the failover mate at `resume`:
    /// (the next outbound sequence number, jumped ahead; the highest inbound one the mate
    /// accepted).
    fn child_up_at(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        created_ns: u64,
        h: SaHandle,
        c: ChildSa,
        resume: Option<(u64, u64)>,
    ) {
        let (Some(&e), Some(info)) = (self.owner.get(&h), self.established.get(&h)) else {
            tracing::warn!(target: TARGET, "Child SA {:08x} for an unknown IKE SA", c.inbound_spi);
            self.stats.install_failed += 1;
            return;
        };
        let entry = &self.entries[e];
        let Some(local) = entry.local_for(info.peer.ip()) else {
            tracing::warn!(target: TARGET, "Child SA {:08x} with an unlisted peer", c.inbound_spi);
            self.stats.install_failed += 1;
            return;
        };
        let natt = self.natt_port.get(&info.peer.ip()).copied();
        let specs = match child_specs(local, info, natt, &c, entry) {
            Ok(s) => s,
            Err(why) => {
                tracing::error!(target: TARGET, "Child SA {:08x}: {why}", c.inbound_spi);
                self.stats.install_failed += 1;
                return;
            }
        };
        let tunnel = specs[0].tunnel.clone();
        let text = |ts: &[control::ikev2::wire::TrafficSelector]| {
            let v: Vec<String> =
                ts.iter().flat_map(to_prefixes).map(|(a, l)| format!("{a}/{l}")).collect();
            v.join(" ")
        };
        let idents = (text(&c.local_ts), text(&c.remote_ts));
        // `[ike] single_sa` (IKEv2, as the ASA's rule): a rekey stays what the pair it
        // replaces was; another pair for the peer and selectors of a primary one is a
        // duplicate and starts non-primary (the ASA accepts traffic only on the first SA
        // found).
        let peer = info.peer.ip();
        let non_primary = self.single_sa
            && matches!(Owner::of(h), Owner::V2(_))
            && match c.rekey_of.and_then(|o| self.children.get(&o)) {
                Some(old) => old.non_primary,
                None => self.children.values().any(|o| {
                    o.entry == e
                        && !o.non_primary
                        && o.specs[0].spec.remote == peer
                        && o.idents == idents
                }),
            };
        let mut inbound_cfg = specs[0].spec.config(Direction::Inbound);
        inbound_cfg.created_ns = created_ns;
        inbound_cfg.traffic_selectors = inbound_selectors(&c);
        let mut outbound_cfg = specs[1].spec.config(Direction::Outbound);
        outbound_cfg.created_ns = created_ns;
        if let Some((next_out, inbound_top)) = resume {
            outbound_cfg.initial_seq = next_out.saturating_sub(1);
            inbound_cfg.initial_seq = inbound_top;
        }
        let built = InboundSa::new(&inbound_cfg).map_err(|e| format!("{e:?}")).and_then(|i| {
            OutboundSa::new(&outbound_cfg).map(|o| (i, o)).map_err(|e| format!("{e:?}"))
        });
        let (inb, outb) = match built {
            Ok((inb, outb)) => {
                // Before the table publishes it: no packet gets through unmarked.
                inb.set_non_primary(non_primary);
                (inb, outb)
            }
            Err(why) => {
                tracing::error!(target: TARGET, "Child SA {:08x}: {why}", c.inbound_spi);
                self.stats.install_failed += 1;
                return;
            }
        };
        if let Err(why) = table.install_inbound(inb) {
            tracing::error!(target: TARGET, "inbound SA {:08x}: {why:?}", c.inbound_spi);
            self.stats.install_failed += 1;
            return;
        }
        let idx = match table.install_outbound(outb) {
            Ok(i) => i,
            Err(why) => {
                let _ = table.delete_inbound(c.inbound_spi);
                tracing::error!(target: TARGET, "outbound SA {:08x}: {why:?}", c.outbound_spi);
                self.stats.install_failed += 1;
                return;
            }
        };
        // Make before break: the entry's traffic moves to the new SA at once; an older pair
        // keeps decrypting until its own delete. A non-primary pair carries none.
        let mut dyn_policy = None;
        if self.entries[e].plan.dynamic {
            // Its own SPD policy, or its predecessor's (a rekey only rebinds it).
            let inherited = c
                .rekey_of
                .and_then(|o| self.children.get_mut(&o))
                .and_then(|old| old.dyn_policy.take());
            dyn_policy = match inherited {
                Some(id) => {
                    self.dynamic.rebind(id, idx);
                    Some(id)
                }
                None => self.dynamic.add(&c.local_ts, &c.remote_ts, idx),
            };
            if let Some(id) = dyn_policy {
                bind_all(controls, &[id], Some(idx));
            }
        } else if !non_primary {
            let binds: Vec<PolicyId> = self.entries[e].policies.clone();
            bind_all(controls, &binds, Some(idx));
            self.entries[e].bound = Some(c.inbound_spi);
        }
        self.stats.children_up += 1;
        self.had_child.insert(h);
        self.child_pending.remove(&h);
        tracing::info!(
            target: TARGET,
            "{tunnel}: Child SA up, inbound {:08x}, outbound {:08x}, {}{}",
            c.inbound_spi,
            c.outbound_spi,
            super::control::asa_transform(specs[1].spec.transform),
            if non_primary { " (duplicate: not primary, single-SA mode)" } else { "" }
        );
        self.installed += 1;
        self.children.insert(
            c.inbound_spi,
            Child {
                handle: h,
                entry: e,
                outbound_spi: c.outbound_spi,
                outbound: idx,
                specs,
                idents,
                rekey_of: c.rekey_of,
                non_primary,
                order: self.installed,
                dyn_policy,
            },
        );
    }

    fn child_down(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        inbound_spi: u32,
    ) {
        let Some(child) = self.children.remove(&inbound_spi) else { return };
        if let Some(id) = child.dyn_policy {
            // The lineage ends here (a rekey took the policy over otherwise).
            bind_all(controls, &[id], None);
            self.dynamic.remove(id);
        }
        if self.single_sa
            && !child.non_primary
            && !self.children.values().any(|c| c.rekey_of == Some(inbound_spi))
        {
            // The primary lineage ended (not replaced by a rekey): the oldest duplicate
            // left, if the peer kept one, becomes the primary.
            let heir = self
                .children
                .iter_mut()
                .filter(|(_, c)| {
                    c.non_primary
                        && c.entry == child.entry
                        && c.idents == child.idents
                        && c.specs[0].spec.remote == child.specs[0].spec.remote
                })
                .min_by_key(|(_, c)| c.order);
            if let Some((&spi, c)) = heir {
                c.non_primary = false;
                if let Some(sa) = table.inbound(spi) {
                    sa.set_non_primary(false);
                }
                tracing::info!(target: TARGET, "Child SA {spi:08x} is now the primary one");
            }
        }
        let entry = &mut self.entries[child.entry];
        if entry.bound == Some(inbound_spi) {
            // Another primary pair of the same entry (a rekey's) takes over, else traffic
            // ACQUIREs.
            let next = self
                .children
                .iter()
                .rev()
                .find(|(_, c)| c.entry == child.entry && !c.non_primary)
                .map(|(&s, c)| (s, c.outbound));
            entry.bound = next.map(|(s, _)| s);
            let policies = entry.policies.clone();
            bind_all(controls, &policies, next.map(|(_, i)| i));
        }
        let _ = table.delete_outbound(child.outbound);
        let _ = table.delete_inbound(inbound_spi);
        self.stats.children_down += 1;
        tracing::info!(
            target: TARGET,
            "{}: Child SA down, inbound {inbound_spi:08x}, outbound {:08x}",
            child.specs[0].tunnel,
            child.outbound_spi
        );
    }

    /// The installed Child SAs as SA specs (inbound, outbound per pair) and the outbound
    /// table index of each outbound SPI, for the operator's `show crypto ipsec sa`.
    pub(crate) fn sas(
        &self,
    ) -> impl Iterator<Item = (&StaticSa, Option<SaIndex>, &(String, String))> {
        self.children.values().flat_map(|c| {
            [(&c.specs[0], None, &c.idents), (&c.specs[1], Some(c.outbound), &c.idents)].into_iter()
        })
    }
}

impl IkeDaemon {
    /// A dataplane SA reached a lifetime limit. A hard limit ends the pair (the peer is told
    /// with a DELETE; traffic that still needs the tunnel makes a new one). Returns whether
    /// the SA was one of IKE's.
    pub(crate) fn on_lifetime(&mut self, spi: u32, direction: Direction, hard: bool) -> bool {
        let inbound = match direction {
            Direction::Inbound => self.children.contains_key(&spi).then_some(spi),
            Direction::Outbound => {
                self.children.iter().find(|(_, c)| c.outbound_spi == spi).map(|(&s, _)| s)
            }
        };
        let Some(inbound) = inbound else { return false };
        let Some(h) = self.children.get(&inbound).map(|c| c.handle) else { return false };
        tracing::info!(
            target: TARGET,
            "Child SA {inbound:08x}: {} lifetime reached",
            if hard { "hard" } else { "soft" }
        );
        let now = self.now();
        // Soft limits in the dataplane are volume only (see `lifetimes`): the state
        // machine keeps the time-based soft lifetime, with jitter, itself.
        match (Owner::of(h), hard) {
            (Owner::V2(h), true) => {
                self.endpoint.expire_child(now, h, inbound, &mut self.rng);
            }
            (Owner::V2(h), false) => {
                self.endpoint.rekey_child(now, h, inbound, &mut self.rng);
            }
            (Owner::V1(h), true) => {
                self.v1.expire_child(now, h, inbound, &mut self.rng);
            }
            (Owner::V1(h), false) => self.v1.rekey_child(now, h, inbound, &mut self.rng),
        }
        true
    }

    /// The operator's trigger for an entry's next attempt (the failover table's manual
    /// trigger: without traffic nothing else starts one). Says what happened.
    pub(crate) fn initiate(&mut self, map: &str, sequence: u16) -> Result<String, String> {
        let e = self
            .entries
            .iter()
            .position(|e| e.plan.map == map && e.plan.sequence == sequence)
            .ok_or_else(|| format!("crypto map {map} {sequence} does not use IKE here"))?;
        if self.entries[e].plan.dynamic {
            return Err(format!("crypto map {map} {sequence} is dynamic: it has no peer to start"));
        }
        if self.entries[e].plan.connection_type == ConnectionType::AnswerOnly {
            return Err(format!("crypto map {map} {sequence} is answer-only"));
        }
        let now = self.now();
        let actions = self.entries[e].failover.handle(now, FailoverInput::ManualTrigger);
        let target = actions.iter().find_map(|a| match a {
            FailoverAction::Initiate { target, .. } => Some(target.to_string()),
            _ => None,
        });
        self.apply(e, actions);
        Ok(match target {
            Some(t) => format!("crypto map {map} {sequence}: initiating to {t}"),
            None => format!(
                "crypto map {map} {sequence}: nothing to start ({:?}, current peer {})",
                self.entries[e].failover.state(),
                self.entries[e].failover.current()
            ),
        })
    }

    /// Each entry's current peer (`show crypto map`): map name, sequence, address.
    pub(crate) fn current_peers(&self) -> Vec<(String, u16, IpAddr)> {
        self.entries
            .iter()
            .filter(|e| !e.plan.dynamic)
            .map(|e| (e.plan.map.clone(), e.plan.sequence, e.failover.current().peer))
            .collect()
    }

    /// The IKE SAs for `show crypto ikev2 sa`, by id.
    pub(crate) fn snapshot(&self) -> Vec<IkeSaSnap> {
        let mut handles: Vec<SaHandle> = self.owner.keys().copied().collect();
        handles.extend(self.established.keys().filter(|h| !self.owner.contains_key(h)));
        handles.sort();
        handles
            .into_iter()
            .filter_map(|h| {
                let sa = self.endpoint.sa(h)?;
                let info = self.established.get(&h);
                let tunnel = self.owner.get(&h).map(|&e| {
                    format!("{} {}", self.entries[e].plan.map, self.entries[e].plan.sequence)
                });
                let local =
                    self.owner.get(&h).and_then(|&e| self.entries[e].local_for(sa.peer().ip()));
                let peer = sa.peer();
                // After NAT detection both ends talk on 4500.
                let port = if peer.port() == NATT_PORT { NATT_PORT } else { 500 };
                let children = self.child_snaps(h);
                let t = info.map(|i| &i.transforms);
                Some(IkeSaSnap {
                    id: h.0,
                    tunnel,
                    local: local.map_or_else(|| "?".into(), |a| format!("{a}/{port}")),
                    remote: format!("{}/{}", peer.ip(), peer.port()),
                    status: if sa.is_established() { "READY" } else { "NEGOTIATING" }.into(),
                    role: if info.is_some_and(|i| !i.initiator) {
                        "RESPONDER"
                    } else {
                        "INITIATOR"
                    }
                    .into(),
                    spi_i: format!("{:016x}", sa.spi_i()),
                    spi_r: format!("{:016x}", sa.spi_r()),
                    encryption: t.map(|t| match t.encr.1 {
                        Some(bits) => format!("{} {bits}", t.encr.0),
                        None => t.encr.0.to_string(),
                    }),
                    prf: t.and_then(|t| t.prf).map(|p| p.to_string()),
                    integrity: t.and_then(|t| t.integ).map(|i| i.to_string()),
                    dh_group: t.and_then(|t| t.dh).map(u16::from),
                    peer_id: info.map(|i| i.peer_id.to_string()),
                    nat_detected: info.is_some_and(|i| i.nat_detected),
                    active_s: self.up_since.get(&h).map(|t| t.elapsed().as_secs()),
                    assigned: sa.leased_addresses().iter().map(ToString::to_string).collect(),
                    children,
                })
            })
            .collect()
    }

    /// The installed Child SA pairs of an IKE SA, for the operator.
    fn child_snaps(&self, h: SaHandle) -> Vec<ChildSaSnap> {
        self.children
            .iter()
            .filter(|(_, c)| c.handle == h)
            .map(|(&spi, c)| ChildSaSnap {
                inbound_spi: spi,
                outbound_spi: c.outbound_spi,
                local_selector: c.idents.0.clone(),
                remote_selector: c.idents.1.clone(),
                transform: super::control::asa_transform(c.specs[1].spec.transform),
            })
            .collect()
    }

    /// The IKEv1 SAs for `show crypto ikev1 sa`, by id.
    pub(crate) fn snapshot_ikev1(&self) -> Vec<Ikev1SaSnap> {
        let mut out: Vec<Ikev1SaSnap> = self
            .v1
            .sas()
            .map(|(h, sa)| {
                let mode = match sa.config().mode {
                    control::ikev1::sa::Phase1Mode::Main => "MM",
                    control::ikev1::sa::Phase1Mode::Aggressive => "AM",
                };
                let state = if sa.is_established() { "ACTIVE" } else { "NEGOTIATING" };
                let peer = sa.peer();
                Ikev1SaSnap {
                    id: h.0,
                    tunnel: self.owner.get(&h).map(|&e| {
                        format!("{} {}", self.entries[e].plan.map, self.entries[e].plan.sequence)
                    }),
                    remote: format!("{}/{}", peer.ip(), peer.port()),
                    role: if sa.is_initiator() { "initiator" } else { "responder" }.into(),
                    state: format!("{mode}_{state}"),
                    cookie_i: format!("{:016x}", sa.cky_i()),
                    cookie_r: format!("{:016x}", sa.cky_r()),
                    nat_detected: sa.nat_detected(),
                    user: sa.xauth_user().map(str::to_owned),
                    assigned: sa.assigned_address().map(|a| a.to_string()),
                    children: self.child_snaps(h),
                }
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }

    /// `clear crypto ikev1 sa [peer ADDR]`: deletes the ISAKMP SAs and their Quick Mode SAs
    /// (DELETEs to the peers); the pairs leave the dataplane with the SA's events. Returns
    /// how many.
    pub(crate) fn clear_ikev1(&mut self, peer: Option<IpAddr>) -> usize {
        let now = self.now();
        let handles: Vec<SaHandle> = self
            .v1
            .sas()
            .filter(|(_, sa)| peer.is_none_or(|p| sa.peer().ip() == p))
            .map(|(h, _)| h)
            .collect();
        for &h in &handles {
            self.close_sa(now, h);
        }
        // The failover table's "Clear crypto IKEv2 SA" row is the operator's clear of the
        // entry's SA, whichever version it runs.
        self.tell_entries(&handles, FailoverInput::ClearCryptoIkev2Sa);
        handles.len()
    }

    /// `clear crypto ikev2 sa [peer ADDR]`: deletes the IKE SAs (with an INFORMATIONAL
    /// DELETE); their Child SAs leave the dataplane when the exchange ends. Returns how
    /// many.
    pub(crate) fn clear_ike(&mut self, peer: Option<IpAddr>) -> usize {
        let now = self.now();
        let handles: Vec<SaHandle> = self
            .owner
            .keys()
            .copied()
            .filter(|h| {
                self.endpoint.sa(*h).is_some_and(|sa| peer.is_none_or(|p| sa.peer().ip() == p))
            })
            .collect();
        for &h in &handles {
            self.endpoint.close(now, h, &mut self.rng);
        }
        self.tell_entries(&handles, FailoverInput::ClearCryptoIkev2Sa);
        handles.len()
    }

    /// Tells the entries of `handles` (each once) about an operator action.
    fn tell_entries(&mut self, handles: &[SaHandle], input: FailoverInput) {
        let mut entries: Vec<usize> =
            handles.iter().filter_map(|h| self.owner.get(h).copied()).collect();
        entries.sort_unstable();
        entries.dedup();
        let now = self.now();
        entries.retain(|&e| !self.entries[e].plan.dynamic);
        for e in entries {
            let actions = self.entries[e].failover.handle(now, input);
            self.apply(e, actions);
        }
    }

    /// `clear crypto ipsec sa [peer ADDR]`: deletes the Child SAs (their IKE SAs stay);
    /// traffic that still needs them makes new ones. Returns how many pairs.
    pub(crate) fn clear_children(&mut self, peer: Option<IpAddr>) -> usize {
        let now = self.now();
        let doomed: Vec<(SaHandle, u32)> = self
            .children
            .iter()
            .filter(|(_, c)| peer.is_none_or(|p| c.specs[0].spec.remote == p))
            .map(|(&spi, c)| (c.handle, spi))
            .collect();
        let mut n = 0;
        let mut handles = Vec::new();
        for (h, spi) in doomed {
            let deleted = match Owner::of(h) {
                Owner::V2(h) => self.endpoint.delete_child(now, h, spi, &mut self.rng),
                Owner::V1(h) => self.v1.expire_child(now, h, spi, &mut self.rng),
            };
            n += usize::from(deleted);
            handles.push(h);
        }
        self.tell_entries(&handles, FailoverInput::ClearIpsecSa);
        n
    }
}

/// "IKEv1" / "IKEv2", for logs.
fn version_name(v: IkeVersion) -> &'static str {
    match v {
        IkeVersion::Ikev1 => "IKEv1",
        IkeVersion::Ikev2 => "IKEv2",
    }
}

/// The entries of both plans (one per crypto map entry either configures), with the SPD
/// policies (numbered `policy_ids`) of each.
fn build_entries(
    cfg: &ApplianceConfig,
    plan: &Ikev2Plan,
    plan1: &Ikev1Plan,
    policy_ids: &[PolicyId],
) -> (Vec<Entry>, HashMap<PolicyId, usize>) {
    let merged = cfg.policy.crypto_maps.iter().filter_map(|m| {
        let v2 = plan.entries.iter().find(|e| e.map == m.name && e.sequence == m.sequence);
        let v1 = plan1.entries.iter().find(|e| e.map == m.name && e.sequence == m.sequence);
        let base = match (v2, v1) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => MapEntryPlan {
                map: p.map.clone(),
                sequence: p.sequence,
                interface: p.interface.clone(),
                acl: p.acl.clone(),
                connection_type: p.connection_type,
                peers: Vec::new(),
                dynamic: p.dynamic,
            },
            (None, None) => return None,
        };
        let v1_peers = v1.map(|p| p.peers.clone()).unwrap_or_default();
        // The crypto map's peers usable with either version, in its (failover) order.
        let peers: Vec<IpAddr> = m
            .peers
            .iter()
            .copied()
            .filter(|&a| {
                base.peers.iter().any(|p| p.remote_addr.ip() == a)
                    || v1_peers.iter().any(|c| c.peer.ip() == a)
            })
            .collect();
        let versions: Vec<IkeVersion> =
            [(v2.is_some(), IkeVersion::Ikev2), (v1.is_some(), IkeVersion::Ikev1)]
                .into_iter()
                .filter_map(|(used, v)| used.then_some(v))
                .collect();
        // A dynamic entry has no peer list: its machine holds the unspecified address,
        // which no peer has, and is never consulted.
        let wildcard =
            base.peers.first().map(|p| p.remote_addr).or(v1_peers.first().map(|c| c.peer));
        let placeholder = wildcard.filter(|_| base.dynamic).map(|p| {
            if p.is_ipv4() {
                IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
            }
        });
        let peers = match placeholder {
            Some(a) => vec![a],
            None => peers,
        };
        let failover = PeerFailover::new(
            format!("{} {}", base.map, base.sequence),
            &peers,
            &versions,
        )
        .inspect_err(|e| {
            tracing::warn!(target: TARGET, "crypto map {} {}: {e}", base.map, base.sequence);
        })
        .ok()?;
        Some((base, v1_peers, failover))
    });
    let mut entries: Vec<Entry> = merged
        .map(|(p, v1, failover)| Entry {
            mtu: cfg.interfaces.iter().find(|i| i.name == p.interface).map_or(1500, |i| i.mtu),
            replay_window: cfg
                .policy
                .crypto_maps
                .iter()
                .find(|m| m.name == p.map && m.sequence == p.sequence)
                .map_or(64, |m| u32::from(m.replay_window)),
            plan: p,
            v1,
            policies: Vec::new(),
            failover,
            sa: None,
            bound: None,
        })
        .collect();
    // Crypto map index (in the policy model) → plan entry.
    let entry_of_map: HashMap<usize, usize> = cfg
        .policy
        .crypto_maps
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let e = entries
                .iter()
                .position(|e| e.plan.map == m.name && e.plan.sequence == m.sequence)?;
            Some((i, e))
        })
        .collect();
    let mut by_policy = HashMap::new();
    for (p, &id) in cfg.policies.iter().zip(policy_ids) {
        if let PolicyAction::CryptoMap { entry } = p.action
            && let Some(&e) = entry_of_map.get(&(entry as usize))
        {
            entries[e].policies.push(id);
            by_policy.insert(id, e);
        }
    }
    (entries, by_policy)
}

/// The environment variable that turns the key log on: a directory where the appliance
/// appends Wireshark's `ikev2_decryption_table` and `esp_sa` files (like SSLKEYLOGFILE).
pub(crate) const KEY_LOG_ENV: &str = "FERROGATE_KEYLOG_DIR";

/// The key log files: one per Wireshark table in `dir`, created 0600, appended to.
struct FileKeyLog {
    dir: std::path::PathBuf,
}

impl FileKeyLog {
    fn open(dir: &std::path::Path) -> Result<FileKeyLog, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(FileKeyLog { dir: dir.to_owned() })
    }
}

impl control::keylog::KeyLog for FileKeyLog {
    fn append(&mut self, table: control::keylog::KeyLogTable, line: &str) {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.dir.join(table.file_name());
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&path);
        if let Err(e) = file.and_then(|mut f| writeln!(f, "{line}")) {
            tracing::error!(target: TARGET, "key log {}: {e}", path.display());
        }
    }
}

/// The half-open limits and COOKIE threshold of `[ike]` (RFC 7296 section 2.6).
fn admission(cfg: &ApplianceConfig) -> control::ikev2::dos::AdmissionConfig {
    let ike = &cfg.policy.ike;
    control::ikev2::dos::AdmissionConfig {
        max_half_open: ike.max_half_open,
        max_half_open_per_peer: ike.max_half_open_per_peer,
        ..control::ikev2::dos::AdmissionConfig::default()
    }
    .with_cookie_percent(ike.cookie_threshold_percent)
}

/// The IKE SA lifetime: the first (highest priority) IKEv2 policy's `lifetime seconds`
/// (ASA's default, a day, without one). SAs already up keep theirs.
fn ike_lifetime(cfg: &ApplianceConfig) -> std::time::Duration {
    cfg.policy.ikev2_policies.first().map_or(control::ikev2::sa::DEFAULT_IKE_LIFETIME, |p| {
        std::time::Duration::from_secs(u64::from(p.lifetime_seconds))
    })
}

/// The configurations peers that initiate are answered with: each entry's current peer
/// (by address: the failover list holds the peers of both versions).
fn responder_configs(entries: &[Entry]) -> Vec<PeerConfig> {
    let listed = entries
        .iter()
        .filter(|e| !e.plan.dynamic && e.plan.connection_type != ConnectionType::OriginateOnly)
        .filter_map(|e| {
            let current = e.failover.current().peer;
            e.plan.peers.iter().find(|p| p.remote_addr.ip() == current).cloned()
        });
    // Dynamic entries' wildcard configurations last: the endpoint takes the first that
    // fits the peer's address, so a listed peer is always answered by its own entry.
    let dynamic =
        entries.iter().filter(|e| e.plan.dynamic).filter_map(|e| e.plan.peers.first().cloned());
    listed.chain(dynamic).collect()
}

/// The IKEv1 configurations peers that initiate are answered with, as for IKEv2:
/// dynamic entries' wildcard configurations last (the endpoint prefers a listed address
/// anyway).
fn responder_configs_v1(entries: &[Entry]) -> Vec<Ikev1Config> {
    let listed = entries
        .iter()
        .filter(|e| !e.plan.dynamic && e.plan.connection_type != ConnectionType::OriginateOnly)
        .filter_map(|e| {
            let current = e.failover.current().peer;
            e.v1.iter().find(|c| c.peer.ip() == current).cloned()
        });
    let dynamic = entries.iter().filter(|e| e.plan.dynamic).filter_map(|e| e.v1.first().cloned());
    listed.chain(dynamic).collect()
}

/// Whether two configurations of one crypto map entry negotiate the same tunnels (keys
/// compared as bytes: their `Debug` hides them).
fn same_tunnel(a: &Entry, b: &Entry) -> bool {
    let peer = |x: &PeerConfig, y: &PeerConfig| {
        x.local_addr == y.local_addr
            && x.remote_addr == y.remote_addr
            && x.local_id == y.local_id
            && x.remote_id == y.remote_id
            && x.psk_local.as_bytes() == y.psk_local.as_bytes()
            && x.psk_remote.as_bytes() == y.psk_remote.as_bytes()
            && x.ike_proposals == y.ike_proposals
            && x.child.esp_proposals == y.child.esp_proposals
            && x.child.selectors == y.child.selectors
            && x.child.lifetime_seconds == y.child.lifetime_seconds
            && x.child.lifetime_kilobytes == y.child.lifetime_kilobytes
            && x.dpd_interval == y.dpd_interval
    };
    a.plan.connection_type == b.plan.connection_type
        && a.mtu == b.mtu
        && a.replay_window == b.replay_window
        && a.plan.peers.len() == b.plan.peers.len()
        && a.plan.peers.iter().zip(&b.plan.peers).all(|(x, y)| peer(x, y))
        && a.v1.len() == b.v1.len()
        && a.v1.iter().zip(&b.v1).all(|(x, y)| super::ike1::same_config(x, y))
}

/// What a reload changes in the IKE daemon: the bindings to push with the new SPD, the
/// lines for the operator, and the SAs to delete once no worker can reach them.
pub(crate) struct Reconfigured {
    pub binds: Vec<(PolicyId, Option<SaIndex>)>,
    pub notes: Vec<String>,
    doomed: Vec<(u32, SaIndex)>,
}

impl IkeDaemon {
    /// Takes a reloaded config whose policies are numbered `policy_ids`. Entries whose
    /// tunnels are configured as before keep their IKE and Child SAs (their bindings move
    /// to the new policy ids); changed or removed entries have their IKE SAs deleted (the
    /// peer is told) and their Child SAs taken out of the dataplane: traffic renegotiates
    /// with the new configuration. Call [`IkeDaemon::finish_reconfigure`] after the new SPD
    /// and `binds` reached the workers.
    pub(crate) fn reconfigure(
        &mut self,
        cfg: &ApplianceConfig,
        policy_ids: &[PolicyId],
    ) -> Reconfigured {
        let mut plan = plan(cfg);
        for p in &plan.problems {
            tracing::warn!(target: TARGET, "reload: {p}");
        }
        // Pools that did not change keep their leases: connected clients keep their
        // addresses and no new client (of either version) is given one of them.
        plan.adopt_pools(&Ikev2Plan { address_pools: self.pools.clone(), ..Ikev2Plan::default() });
        self.pools.clone_from(&plan.address_pools);
        let plan1 = super::ike1::plan(cfg, &plan.address_pools);
        for p in &plan1.problems {
            tracing::warn!(target: super::ike1::TARGET, "reload: {p}");
        }
        let (mut entries, by_policy) = build_entries(cfg, &plan, &plan1, policy_ids);
        let mut notes = Vec::new();
        let mut binds = Vec::new();
        let mut doomed = Vec::new();
        let mut moved: HashMap<usize, usize> = HashMap::new();
        let now = self.now();
        for (o, old) in self.entries.iter().enumerate() {
            let name = format!("crypto map {} {}", old.plan.map, old.plan.sequence);
            let n = entries
                .iter()
                .position(|e| e.plan.map == old.plan.map && e.plan.sequence == old.plan.sequence);
            match n {
                Some(n) if same_tunnel(old, &entries[n]) => {
                    let e = &mut entries[n];
                    e.failover = old.failover.clone();
                    e.sa = old.sa;
                    e.bound = old.bound;
                    moved.insert(o, n);
                }
                other => {
                    if let Some(h) = old.sa {
                        match Owner::of(h) {
                            Owner::V2(h) => self.endpoint.close(now, h, &mut self.rng),
                            Owner::V1(h) => self.v1.close(now, h, &mut self.rng),
                        }
                        self.owner.remove(&h);
                        self.sa_refs.remove(&h);
                        let spis: Vec<u32> = self
                            .children
                            .iter()
                            .filter(|(_, c)| c.handle == h)
                            .map(|(&s, _)| s)
                            .collect();
                        for spi in spis {
                            if let Some(c) = self.children.remove(&spi) {
                                doomed.push((spi, c.outbound));
                            }
                        }
                        notes.push(format!(
                            "{name}: {}: its IKE SA is deleted, traffic renegotiates",
                            if other.is_some() { "changed" } else { "removed" }
                        ));
                    }
                    if let Some(n) = other {
                        // Policies kept by id may still be bound to the old SA.
                        binds.extend(entries[n].policies.iter().map(|&id| (id, None)));
                    }
                }
            }
        }
        // The IKE SAs no entry tracks as its `sa` (a dynamic entry's clients, say) follow
        // their entry when it is kept, and go with it when it changed or went: their pairs
        // and dynamic SPD entries too (nothing may keep the index of an entry that moved).
        let stale: Vec<SaHandle> =
            self.owner.iter().filter(|(_, e)| !moved.contains_key(e)).map(|(&h, _)| h).collect();
        for h in stale {
            self.close_sa(now, h);
            self.owner.remove(&h);
            self.sa_refs.remove(&h);
            let spis: Vec<u32> =
                self.children.iter().filter(|(_, c)| c.handle == h).map(|(&s, _)| s).collect();
            for spi in spis {
                if let Some(c) = self.children.remove(&spi) {
                    if let Some(id) = c.dyn_policy {
                        self.dynamic.remove(id);
                        binds.push((id, None));
                    }
                    doomed.push((spi, c.outbound));
                }
            }
            let peer = self.established.get(&h).map_or_else(|| "?".into(), |i| i.peer.to_string());
            notes.push(format!(
                "IKE SA {} with {peer}: its crypto map entry changed or went; it is deleted",
                h.0
            ));
        }
        for e in self.owner.values_mut() {
            if let Some(&n) = moved.get(e) {
                *e = n;
            }
        }
        for c in self.children.values_mut() {
            if let Some(&n) = moved.get(&c.entry) {
                c.entry = n;
            }
        }
        for e in &entries {
            if let Some(idx) = e.bound.and_then(|spi| self.children.get(&spi)).map(|c| c.outbound) {
                binds.extend(e.policies.iter().map(|&id| (id, Some(idx))));
            }
        }
        self.endpoint.set_responder_configs(responder_configs(&entries));
        self.v1.set_responders(responder_configs_v1(&entries));
        self.endpoint.set_ike_lifetime(ike_lifetime(cfg));
        let now = self.now();
        self.endpoint.set_dos_policy(now, admission(cfg), &mut self.rng);
        // From now on; pairs already marked non-primary are released by
        // `finish_reconfigure` when the mode is turned off.
        self.single_sa = cfg.policy.ike.single_sa;
        self.entries = entries;
        self.by_policy = by_policy;
        Reconfigured { binds, notes, doomed }
    }

    /// Deletes the SAs a reload took out of use (the workers have the SPD without them).
    pub(crate) fn finish_reconfigure(&mut self, table: &mut SaTable, r: Reconfigured) {
        if !self.single_sa {
            for (&spi, c) in self.children.iter_mut().filter(|(_, c)| c.non_primary) {
                c.non_primary = false;
                if let Some(sa) = table.inbound(spi) {
                    sa.set_non_primary(false);
                }
            }
        }
        for (spi, idx) in r.doomed {
            let _ = table.delete_outbound(idx);
            let _ = table.delete_inbound(spi);
            self.stats.children_down += 1;
        }
    }
}

/// Sends `BindSa` for every policy to every worker, in one burst each.
fn bind_all(controls: &mut [ControlEnd<Mbuf<'_>>], policies: &[PolicyId], sa: Option<SaIndex>) {
    for c in controls.iter_mut() {
        let batch: Vec<Command<Mbuf<'_>>> =
            policies.iter().map(|&policy| Command::BindSa { policy, sa }).collect();
        if let Err(e) = super::control::push_all(c, batch) {
            tracing::error!(target: TARGET, "binding SAs: {e}");
        }
    }
}

/// Hard lifetime from the negotiation; soft at 90 % of the volume (when ASA starts its
/// rekey). The time-based soft lifetime is the IKE state machine's own (jittered, so that
/// both peers do not rekey at once); the dataplane's hard time limit is a backstop.
fn lifetimes(c: &ChildSa) -> Lifetimes {
    let secs = (c.lifetime_seconds > 0).then(|| c.lifetime_seconds * 1_000_000_000);
    let bytes = (c.lifetime_kilobytes > 0).then(|| c.lifetime_kilobytes * 1024);
    Lifetimes {
        soft: Limits { bytes: bytes.map(|b| b / 10 * 9), packets: None, time_ns: None },
        hard: Limits { bytes, packets: None, time_ns: secs },
    }
}

/// The inbound SA's selectors (source: the peer's side, destination: ours).
fn inbound_selectors(c: &ChildSa) -> Vec<TrafficSelector> {
    let prefixes = |ts: &[control::ikev2::wire::TrafficSelector]| -> Vec<IpPrefix> {
        ts.iter().flat_map(to_prefixes).filter_map(|(a, l)| IpPrefix::new(a, l).ok()).collect()
    };
    let (remote, local) = (prefixes(&c.remote_ts), prefixes(&c.local_ts));
    let mut out = Vec::new();
    for r in &remote {
        for l in local.iter().filter(|l| l.is_v6() == r.is_v6()) {
            out.push(TrafficSelector::new(*r, *l));
        }
    }
    out
}

/// The Child SA pair as SA specs: `[inbound, outbound]`.
fn child_specs(
    local: IpAddr,
    info: &IkeSaInfo,
    natt: Option<u16>,
    c: &ChildSa,
    entry: &Entry,
) -> Result<[StaticSa; 2], String> {
    let transform = control::esp::dataplane_transform(c.transforms.encr, c.transforms.integ)
        .map_err(|e| e.to_string())?;
    let tunnel = format!("{} {}", entry.plan.map, entry.plan.sequence);
    let remote = info.peer.ip();
    // Behind a NAT (either side), or with a peer that floated to 4500 anyway, ESP goes in
    // UDP to the port the peer's IKE came from on 4500 (RFC 3948).
    let encap = match natt {
        Some(port) => Encap::Udp { src_port: NATT_PORT, dst_port: port },
        None if info.nat_detected || info.peer.port() == NATT_PORT => {
            Encap::Udp { src_port: NATT_PORT, dst_port: NATT_PORT }
        }
        None => Encap::Raw,
    };
    let make = |spi: u32, keys: &control::crypto::DirectionKeys, direction: Direction| {
        let mut spec =
            SaSpec::new(spi, transform, keys.encr.as_bytes(), keys.integ.as_bytes(), local, remote);
        spec.encap = encap;
        spec.mtu = entry.mtu;
        spec.replay_window = entry.replay_window;
        spec.lifetimes = lifetimes(c);
        spec.esn = c.transforms.esn == Some(control::ikev2::wire::EsnId::Yes);
        spec.tunnel = Some(tunnel.clone());
        spec.direction = Some(direction);
        StaticSa { tunnel: tunnel.clone(), direction, spec }
    };
    Ok([
        make(c.inbound_spi, &c.inbound, Direction::Inbound),
        make(c.outbound_spi, &c.outbound, Direction::Outbound),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::ikev1::sa::Ikev1Handle;

    /// A site-to-site IKEv1 entry (sequence 10) and a dynamic entry for IKEv1 and IKEv2
    /// remote-access clients of group `RA` (65535).
    const CONFIG: &str = r#"
[eal]
file_prefix = "t"
worker_cores = [1]

[[port]]
name = "lan"
vdev = "net_null0"

[[port]]
name = "wan"
vdev = "net_null1"

[[interface]]
name = "inside"
port = "lan"
role = "inside"
address = "10.1.0.1/24"

[[interface]]
name = "outside"
port = "wan"
role = "outside"
address = "192.0.2.1/24"

[[access_list]]
name = "to-site"
rules = [{ action = "permit", protocol = "ip", src = "10.1.0.0/24", dst = "10.2.0.0/16" }]

[[access_list]]
name = "ra"
rules = [{ action = "permit", protocol = "ip", src = "10.1.0.0/24", dst = "0.0.0.0/0" }]

[[ikev1_policy]]
priority = 10
authentication = "pre-share"
encryption = "aes-256"
hash = "sha256"
group = 14

[[ikev2_policy]]
priority = 1
encryption = ["aes-256"]
integrity = ["sha256"]
group = [14]

[[transform_set]]
name = "ts"
encryption = "esp-aes-256"
integrity = "esp-sha256-hmac"
mode = "tunnel"

[[ipsec_proposal]]
name = "p"
encryption = ["aes-256"]
integrity = ["sha-256"]

[[address_pool]]
name = "ra-pool"
range = "10.77.0.10-10.77.0.20"

[[user]]
name = "alice"
password = "s3cret"

[[crypto_map]]
name = "outside_map"
sequence = 10
match = "to-site"
peers = ["192.0.2.2"]
ikev1_transform_sets = ["ts"]

[[crypto_map]]
name = "outside_map"
sequence = 65535
dynamic = true
tunnel_group = "RA"
match = "ra"
ikev1_transform_sets = ["ts"]
ikev2_proposals = ["p"]

[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
ikev1 = true
ikev2 = true

[[tunnel_group]]
name = "192.0.2.2"
type = "ipsec-l2l"
ikev1_pre_shared_key = "site"

[[tunnel_group]]
name = "RA"
type = "remote-access"
ikev1_pre_shared_key = "group"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "group"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "group"
address_pools = ["ra-pool"]
"#;

    /// Where [`CONFIG`]'s static entry, its dynamic entry and the map's interface start.
    const STATIC_ENTRY: &str = "[[crypto_map]]\nname = \"outside_map\"\nsequence = 10\n";
    const DYNAMIC_ENTRY: &str = "[[crypto_map]]\nname = \"outside_map\"\nsequence = 65535\n";
    const APPLIED: &str = "[[crypto_interface]]\n";

    fn config(text: &str) -> (ApplianceConfig, Vec<PolicyId>) {
        let cfg = ApplianceConfig::parse_full(std::path::Path::new("fg.toml"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let ids = (0..cfg.policies.len() as u32).map(PolicyId).collect();
        (cfg, ids)
    }

    /// `text` without the section that starts with `header` (up to the next section).
    fn cut(text: &str, header: &str) -> String {
        let at = text.find(header).unwrap();
        let end = text[at + 1..].find("\n[[").map_or(text.len(), |n| at + n + 2);
        format!("{}{}", &text[..at], &text[end..])
    }

    #[test]
    fn a_dynamic_entry_answers_ikev1_after_the_static_peers_and_shares_the_ikev2_pool() {
        let (cfg, ids) = config(CONFIG);
        let d = IkeDaemon::new(&cfg, &ids).unwrap();
        let [site, ra] = d.entries.as_slice() else { panic!("{} entries", d.entries.len()) };
        assert!(!site.plan.dynamic && ra.plan.dynamic);
        // The wildcard comes after the listed peer.
        let v1: Vec<IpAddr> =
            responder_configs_v1(&d.entries).iter().map(|c| c.peer.ip()).collect();
        assert_eq!(v1, ["192.0.2.2".parse::<IpAddr>().unwrap(), IpAddr::from([0, 0, 0, 0])]);
        // Our address towards any client, and one pool handle for both versions.
        assert_eq!(ra.local_for("203.0.113.7".parse().unwrap()), Some([192, 0, 2, 1].into()));
        let Some(control::ikev1::sa::RemoteAccess::Server(s1)) = &ra.v1[0].remote_access else {
            panic!("no XAUTH server")
        };
        let Some(control::ikev2::sa::RemoteAccess::Server(s2)) = &ra.plan.peers[0].remote_access
        else {
            panic!("no IKEv2 remote access")
        };
        assert!(s1.pools[0].same_pool(&s2.pools[0]) && s1.pools[0].same_pool(&d.pools[0]));
    }

    #[test]
    fn a_reload_keeps_pools_and_moves_or_ends_a_dynamic_entrys_clients() {
        let (cfg, ids) = config(CONFIG);
        let mut d = IkeDaemon::new(&cfg, &ids).unwrap();
        // A client of the dynamic entry (1), holding the pool's first address.
        let h = super::super::ike1::key(Ikev1Handle(42));
        d.owner.insert(h, 1);
        let held = d.pools[0].allocate(b"xauth:alice").unwrap();
        // The static entry goes: the dynamic one is entry 0 now, and so is its client's.
        let (cfg, ids) = config(&cut(CONFIG, STATIC_ENTRY));
        let r = d.reconfigure(&cfg, &ids);
        assert_eq!(d.entries.len(), 1);
        assert_eq!(d.owner.get(&h), Some(&0), "{:?}", r.notes);
        // The unchanged pool is the same one: its lease holds, the next client gets .11.
        assert!(d.pools[0].same_pool(held.pool()));
        let Some(control::ikev1::sa::RemoteAccess::Server(s1)) = &d.entries[0].v1[0].remote_access
        else {
            panic!("no XAUTH server")
        };
        let next = s1.pools[0].allocate(b"xauth:bob").unwrap();
        assert_eq!(next.addr(), IpAddr::from([10, 77, 0, 11]));
        // The dynamic entry goes too: its client's SA is deleted, nothing keeps its index.
        let text = cut(&cut(&cut(CONFIG, STATIC_ENTRY), DYNAMIC_ENTRY), APPLIED);
        let (cfg, ids) = config(&text);
        let r = d.reconfigure(&cfg, &ids);
        assert!(d.entries.is_empty());
        assert!(d.owner.is_empty());
        assert!(r.notes.iter().any(|n| n.contains("changed or went")), "{:?}", r.notes);
    }
}
