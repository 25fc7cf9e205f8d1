//! From the validated policy to the IKEv2 state machine's per-peer configuration: one
//! [`PeerConfig`] per peer of every IKEv2 crypto map entry applied to an interface, for the
//! appliance to start IKE SAs with (initiator) and to answer peers with (responder).
//!
//! What comes from where (ASA command in parentheses):
//!
//! - addresses: our address on the interface the map is applied to (`crypto map NAME
//!   interface IF`) and the peer's (`set peer`), both on UDP 500;
//! - identities: ours from `[ike] identity` (`crypto isakmp identity`: `address` gives
//!   ID_IPV4_ADDR / ID_IPV6_ADDR; `auto` the same with pre-shared keys and the subject DN of
//!   our certificate (ID_DER_ASN1_DN) with `ikev2 local-authentication certificate`, as on
//!   the ASA; `hostname` gives ID_FQDN of the host name passed to
//!   [`ikev2_plan_with_hostname`]). The peer's, with pre-shared keys, is its address, except
//!   with `peer_id_validate = "nocheck"`, where any identity is accepted (the key is still
//!   the tunnel group's); with certificates it is any identity the peer's certificate names,
//!   checked per `peer_id_validate` (`required`: the certificate must name it; `cert` and
//!   `if-supported`: it must not contradict it; `nocheck`: not compared);
//! - authentication, from the LAN-to-LAN tunnel group of the peer (its address, else
//!   `DefaultL2LGroup`), each side on its own so that mixed setups work: `ikev2
//!   local-authentication pre-shared-key` / `remote-authentication pre-shared-key` with the
//!   group's keys (the validator requires both sides, so a missing side is a problem, never a
//!   copy of the other), or `certificate` with the group's `trustpoint`: its certificate and
//!   private key sign our AUTH (RFC 7427, our CERT payloads), its CA certificates verify the
//!   peer's certificate (and go out in our CERTREQs). The trustpoint's files are read here,
//!   once per trustpoint ([`crate::pki::load::load_trustpoint`]); an unreadable or
//!   unusable file is a problem line for each peer that needs it;
//! - IKE proposals: one per `crypto ikev2 policy`, in priority order, each list already
//!   sorted most- to least-secure by the loader;
//! - ESP proposals: one per `set ikev2 ipsec-proposal` name, without ESN; `set pfs` puts its
//!   group in each one's DH list. Those are the PFS groups of CREATE_CHILD_SA: the first
//!   Child SA, negotiated in IKE_AUTH, runs no key exchange (RFC 7296 section 1.2), and the
//!   state machine leaves the DH groups out of it;
//! - selectors: each `permit` rule of the `match address` ACL gives its source as a local
//!   and its destination as a remote selector (per address family it can match), with its
//!   protocol and ports. Deny rules cannot be expressed as selectors and are left to the
//!   dataplane's SPD;
//! - timers: `set security-association lifetime`, the tunnel group's `isakmp keepalive`
//!   (DPD: `threshold` of silence before a liveness check, resent every `retry`; the loader
//!   fills in the `[ike]` defaults when the group has none), and the `[ike]` retransmission
//!   schedule;
//! - IKE fragmentation (RFC 7383): `[ike] ikev2_fragmentation` and
//!   `ikev2_fragmentation_mtu` (`crypto ikev2 fragmentation mtu N`);
//! - dynamic entries (`crypto map NAME SEQ ipsec-isakmp dynamic DYN`, `dynamic = true`):
//!   one answer-only configuration for any peer, whose remote address is the unspecified
//!   address of the interface's family (IPv4 where it has both) on UDP 500, which the
//!   endpoint matches with any sender. No remote identity is required: the entry's
//!   `tunnel_group` authenticates the peer as above (keys or trustpoint, DPD), and a
//!   remote-access group adds its pools (the plan's shared handles) and DNS servers; its
//!   selectors are the ACL's, the remote ones narrowed to the client's address by IKE.
//!
//! # What is skipped
//! An entry or peer that cannot be configured is left out with one line in
//! [`Ikev2Plan::problems`] naming the map, the sequence and (for a peer) its address.
//! Algorithms the crypto suite does not implement (IKE with DES or 3DES, DH group 24, ESP
//! with DES) are left out of the proposals with a line in [`Ikev2Plan::warnings`], so that a
//! legacy choice in one policy does not disable every peer. Nothing here panics or logs a
//! key.

use core::cell::RefCell;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::{DhGroup as SuiteDhGroup, EncrAlg, IntegAlg, PrfAlg, WeakGroups};
use crate::ikev2::proposal::{Encr, LocalProposal, is_aead};
use crate::ikev2::sa::{
    AuthConfig, ChildConfig, LocalAuth, LocalCertificate, Mode, PeerCertificate, PeerConfig,
    PeerIdCheck, Psk, RemoteAccess, RemoteAccessServer, RemoteAuth,
};
use crate::ikev2::selectors::{PolicySelectors, from_prefix_proto};
use crate::ikev2::wire::{
    DhGroup as WireDhGroup, EncrId, EsnId, IdRepr, IntegId, PrfId, ProtocolId, TrafficSelector,
};
use crate::pki::load::load_trustpoint;
use crate::pki::{Credential, TrustStore};
use crate::pool::{AddressPool, PoolRange};
use crate::retransmit::RetransmitPolicy;

use super::{
    AccessList, AclAction, AclProtocol, AclRule, ConnectionType, CryptoMapEntry, DEFAULT_L2L_GROUP,
    DhGroup as PolicyDhGroup, EspEncryption, IkeIdentity, IkeVersion, Ikev2Authentication,
    IpsecProposal, Keepalive, KilobyteLifetime, PeerIdValidate, PolicyConfig,
    PoolRange as PolicyPoolRange, Secret, TunnelGroup, TunnelGroupType,
};

/// The IKE port (RFC 7296 section 2): NAT-T port floating to 4500 is not implemented yet.
pub const IKE_PORT: u16 = 500;

/// Our address on an interface for talking to a peer: called with the interface name and
/// the peer's address, it returns an address of the peer's family (or `None`).
pub type InterfaceAddr<'a> = &'a dyn Fn(&str, IpAddr) -> Option<IpAddr>;

/// Reads a key, inline or from its file. The error must not contain the key.
pub type ReadSecret<'a> = &'a dyn Fn(&Secret) -> Result<Zeroizing<Vec<u8>>, String>;

/// Everything the IKEv2 side runs with, and what could not be configured.
#[derive(Debug, Clone, Default)]
pub struct Ikev2Plan {
    /// Crypto map entries with at least one usable peer, in (map, sequence) order.
    pub entries: Vec<MapEntryPlan>,
    /// One line per skipped entry or peer, e.g. `crypto map outside_map 10 peer 192.0.2.1:
    /// tunnel-group 192.0.2.1 has no ikev2 local pre-shared key`.
    pub problems: Vec<String>,
    /// Algorithms left out of otherwise usable proposals (not implemented).
    pub warnings: Vec<String>,
    /// One shared pool per `[[address_pool]]`, in the policy's order: every remote-access
    /// group that names a pool draws from this one handle, so no address is given twice.
    pub address_pools: Vec<AddressPool>,
    /// One responder configuration per remote-access tunnel group with address pools:
    /// what a responder [`PeerConfig`] for its clients carries in
    /// [`PeerConfig::remote_access`].
    pub remote_access: Vec<RemoteAccessGroupPlan>,
}

/// A remote-access tunnel group (`tunnel-group NAME type remote-access`) for the IKEv2
/// responder: its `address-pool` list (tried in order) and `dns-server value`.
#[derive(Debug, Clone)]
pub struct RemoteAccessGroupPlan {
    /// The tunnel group's name.
    pub group: String,
    /// The pools and DNS servers (`RemoteAccess::Server`).
    pub server: RemoteAccessServer,
}

impl Ikev2Plan {
    /// The remote-access configuration of tunnel group `group`, if it is a remote-access
    /// group with pools.
    pub fn remote_access_group(&self, group: &str) -> Option<RemoteAccess> {
        self.remote_access
            .iter()
            .find(|g| g.group == group)
            .map(|g| RemoteAccess::Server(g.server.clone()))
    }

    /// Takes over the pools of `previous` (the plan of the configuration being replaced)
    /// whose name and range did not change, so that the leases of connected clients stay
    /// valid across a reload and no address is handed out twice. Pools that changed start
    /// afresh; clients holding addresses of them keep those until their IKE SAs end.
    pub fn adopt_pools(&mut self, previous: &Ikev2Plan) {
        for pool in &mut self.address_pools {
            let Some(old) = previous
                .address_pools
                .iter()
                .find(|o| o.name() == pool.name() && o.range() == pool.range())
            else {
                continue;
            };
            let servers = self.remote_access.iter_mut().map(|g| &mut g.server);
            // Dynamic remote-access entries hold the same handles in their responder
            // configurations.
            let entries = self.entries.iter_mut().flat_map(|e| &mut e.peers).filter_map(|c| {
                match &mut c.remote_access {
                    Some(RemoteAccess::Server(s)) => Some(s),
                    _ => None,
                }
            });
            for server in servers.chain(entries) {
                for p in server.pools.iter_mut().filter(|p| p.same_pool(pool)) {
                    *p = old.clone();
                }
            }
            *pool = old.clone();
        }
    }

    /// Every configured peer at `remote`, with its entry: where a responder finds the
    /// configuration for an IKE_SA_INIT from that address. A peer can be in several
    /// entries (one per ACL); the first is the lowest (map, sequence).
    pub fn peers_at(&self, remote: IpAddr) -> impl Iterator<Item = (&MapEntryPlan, &PeerConfig)> {
        self.entries.iter().flat_map(move |e| {
            e.peers.iter().filter(move |p| p.remote_addr.ip() == remote).map(move |p| (e, p))
        })
    }
}

/// One IKEv2 crypto map entry (`crypto map NAME SEQ`).
#[derive(Debug, Clone)]
pub struct MapEntryPlan {
    /// Map name.
    pub map: String,
    /// Sequence number.
    pub sequence: u16,
    /// The interface the map is applied to.
    pub interface: String,
    /// The ACL (`match address`).
    pub acl: String,
    /// Who may initiate (`set connection-type`).
    pub connection_type: ConnectionType,
    /// One configuration per usable peer, in the configured (failover) order. A dynamic
    /// entry has exactly one, for any peer: its `remote_addr` is the unspecified address
    /// of the interface's family and it names no remote identity.
    pub peers: Vec<PeerConfig>,
    /// A dynamic entry (see [`CryptoMapEntry::dynamic`]): responder only, any peer.
    pub dynamic: bool,
}

/// [`ikev2_plan_with_hostname`] without a host name: `identity = "hostname"` then makes
/// every peer a problem.
pub fn ikev2_plan(
    policy: &PolicyConfig,
    interface_addr: InterfaceAddr<'_>,
    read_secret: ReadSecret<'_>,
) -> Ikev2Plan {
    ikev2_plan_with_hostname(policy, None, interface_addr, read_secret)
}

/// Builds the per-peer IKEv2 configuration of every crypto map entry that uses IKEv2 and is
/// applied to an interface (others are skipped without a problem line). `hostname` is our
/// ID_FQDN for `[ike] identity = "hostname"` (`hostname` plus `domain-name` on the ASA).
pub fn ikev2_plan_with_hostname(
    policy: &PolicyConfig,
    hostname: Option<&str>,
    interface_addr: InterfaceAddr<'_>,
    read_secret: ReadSecret<'_>,
) -> Ikev2Plan {
    let mut plan = Ikev2Plan::default();
    // The pools first: a dynamic remote-access entry's responder configuration carries the
    // same shared handles. Their problems still come after the entries'.
    remote_access(policy, &mut plan);
    let pool_problems = core::mem::take(&mut plan.problems);
    // Built on first use, so that a config without IKEv2 maps gets no warnings about them.
    let mut ike: Option<Vec<LocalProposal>> = None;
    let trustpoints = RefCell::new(Vec::new());
    for entry in &policy.crypto_maps {
        if !entry.uses(IkeVersion::Ikev2) {
            continue;
        }
        let applied = policy
            .crypto_interfaces
            .iter()
            .find(|c| c.crypto_map.as_deref() == Some(entry.name.as_str()));
        let Some(applied) = applied else { continue };
        let ike = ike.get_or_insert_with(|| ike_proposals(policy, &mut plan.warnings));
        let cx =
            Cx { policy, hostname, interface_addr, read_secret, ike, trustpoints: &trustpoints };
        if let Some(e) = cx.entry(entry, &applied.interface, applied.ikev2, &mut plan) {
            plan.entries.push(e);
        }
    }
    plan.problems.extend(pool_problems);
    plan
}

/// The address pools and the remote-access tunnel groups (see [`Ikev2Plan::remote_access`]).
/// A group without pools is left out; a pool name that does not exist (the validator
/// reports it with its file and line, so only an unvalidated policy has one) is a problem
/// line.
fn remote_access(policy: &PolicyConfig, plan: &mut Ikev2Plan) {
    plan.address_pools = policy
        .address_pools
        .iter()
        .map(|p| {
            let range = match p.range {
                PolicyPoolRange::V4 { first, last } => PoolRange::V4 { first, last },
                PolicyPoolRange::V6(prefix) => match prefix.addr() {
                    IpAddr::V6(a) => PoolRange::V6 { prefix: a, len: prefix.prefix_len() },
                    // The parser only makes IPv6 prefixes here; a host-sized pool of the
                    // address if it ever did not.
                    IpAddr::V4(a) => PoolRange::V4 { first: a, last: a },
                },
            };
            AddressPool::new(&p.name, range)
        })
        .collect();
    for tg in policy.tunnel_groups.iter().filter(|t| t.kind == TunnelGroupType::RemoteAccess) {
        // A group without pools (IKEv1 XAUTH-only, say) has nothing for IKEv2 clients.
        if tg.address_pools.is_empty() {
            continue;
        }
        let mut pools = Vec::with_capacity(tg.address_pools.len());
        for name in &tg.address_pools {
            match policy.address_pools.iter().position(|p| &p.name == name) {
                Some(i) => pools.extend(plan.address_pools.get(i).cloned()),
                None => plan
                    .problems
                    .push(format!("tunnel-group {}: address_pool {name} does not exist", tg.name)),
            }
        }
        if pools.is_empty() {
            continue;
        }
        let server = RemoteAccessServer {
            pools,
            dns_servers: tg.dns_servers.clone(),
            dns_domains: tg.default_domain.iter().cloned().collect(),
        };
        plan.remote_access.push(RemoteAccessGroupPlan { group: tg.name.clone(), server });
    }
}

/// What every entry shares.
struct Cx<'a> {
    policy: &'a PolicyConfig,
    hostname: Option<&'a str>,
    interface_addr: InterfaceAddr<'a>,
    read_secret: ReadSecret<'a>,
    ike: &'a [LocalProposal],
    /// Trustpoints loaded so far, by name (failures too: each is read once).
    trustpoints: &'a TrustpointCache,
}

/// A trustpoint's files, loaded and shared by the peers that use it (IKEv1 peers too).
#[derive(Clone)]
pub(crate) struct LoadedTrustpoint {
    /// The CAs peers' certificates are checked against.
    pub(crate) store: Arc<TrustStore>,
    /// Our certificate and key, where the trustpoint has them.
    pub(crate) credential: Option<Arc<Credential>>,
}

/// Trustpoints loaded so far, by name (failures too: each is read once per plan).
pub(crate) type TrustpointCache = RefCell<Vec<(String, Result<LoadedTrustpoint, String>)>>;

/// Trustpoint `name` of the policy, loaded on first use and then taken from `cache`.
pub(crate) fn cached_trustpoint(
    policy: &PolicyConfig,
    cache: &TrustpointCache,
    name: &str,
) -> Result<LoadedTrustpoint, String> {
    if let Some((_, loaded)) = cache.borrow().iter().find(|(n, _)| n == name) {
        return loaded.clone();
    }
    let loaded = match policy.trustpoints.iter().find(|t| t.name == name) {
        None => Err(format!("trustpoint {name} does not exist")),
        Some(tp) => load_trustpoint(tp)
            .map(|l| LoadedTrustpoint {
                store: Arc::new(l.store),
                credential: l.credential.map(Arc::new),
            })
            .map_err(|e| format!("trustpoint {name}: {e}")),
    };
    cache.borrow_mut().push((name.to_owned(), loaded.clone()));
    loaded
}

/// How a peer's certificate identity is checked (`peer-id-validate`).
pub(crate) fn peer_id_check(v: PeerIdValidate) -> PeerIdCheck {
    match v {
        PeerIdValidate::Required => PeerIdCheck::Required,
        PeerIdValidate::IfSupported | PeerIdValidate::Cert => PeerIdCheck::IfSupported,
        PeerIdValidate::NoCheck => PeerIdCheck::NoCheck,
    }
}

impl Cx<'_> {
    fn entry(
        &self,
        entry: &CryptoMapEntry,
        interface: &str,
        ikev2_enabled: bool,
        plan: &mut Ikev2Plan,
    ) -> Option<MapEntryPlan> {
        let label = format!("crypto map {} {}", entry.name, entry.sequence);
        let child = match self.child(entry, interface, ikev2_enabled, &label, &mut plan.warnings) {
            Ok(c) => c,
            Err(why) => {
                plan.problems.push(format!("{label}: {why}"));
                return None;
            }
        };
        if entry.dynamic {
            return match self.dynamic_peer(entry, interface, &child, plan) {
                Ok(peer) => Some(MapEntryPlan {
                    map: entry.name.clone(),
                    sequence: entry.sequence,
                    interface: interface.to_owned(),
                    acl: entry.match_address.clone(),
                    // Nobody to initiate to: the loader allows nothing else.
                    connection_type: ConnectionType::AnswerOnly,
                    peers: vec![peer],
                    dynamic: true,
                }),
                Err(why) => {
                    plan.problems.push(format!("{label} (dynamic): {why}"));
                    None
                }
            };
        }
        if entry.peers.is_empty() {
            plan.problems.push(format!("{label}: no peer (set peer)"));
            return None;
        }
        let mut peers = Vec::with_capacity(entry.peers.len());
        for &peer in &entry.peers {
            match self.peer(interface, peer, &child) {
                Ok(p) => peers.push(p),
                Err(why) => plan.problems.push(format!("{label} peer {peer}: {why}")),
            }
        }
        if peers.is_empty() {
            return None;
        }
        Some(MapEntryPlan {
            map: entry.name.clone(),
            sequence: entry.sequence,
            interface: interface.to_owned(),
            acl: entry.match_address.clone(),
            connection_type: entry.connection_type,
            peers,
            dynamic: false,
        })
    }

    /// The entry's Child SA policy, or why there is none.
    fn child(
        &self,
        entry: &CryptoMapEntry,
        interface: &str,
        ikev2_enabled: bool,
        label: &str,
        warnings: &mut Vec<String>,
    ) -> Result<ChildConfig, String> {
        if !ikev2_enabled {
            return Err(format!(
                "IKEv2 is not enabled on interface {interface} (crypto ikev2 enable; \
                 crypto_interface ikev2 = true)"
            ));
        }
        let acl_name = &entry.match_address;
        let acl = self
            .policy
            .access_list(acl_name)
            .ok_or_else(|| format!("access-list {acl_name} does not exist"))?;
        let selectors = acl_selectors(acl);
        if selectors.local.is_empty() || selectors.remote.is_empty() {
            return Err(format!(
                "access-list {acl_name} has no permit rule (deny rules cannot be traffic \
                 selectors)"
            ));
        }
        // Leaving an unusable PFS group out would silently weaken the rekeys: refuse the
        // entry instead.
        if let Some(g) = entry.pfs {
            let weak =
                if self.policy.ike.allow_weak_dh { WeakGroups::Allow } else { WeakGroups::Reject };
            match SuiteDhGroup::from_iana(g.number()) {
                Err(_) => return Err(format!("pfs group {g} is not implemented")),
                Ok(sg) if sg.check_allowed(weak).is_err() => {
                    return Err(format!("pfs group {g} is weak and [ike] allow_weak_dh is off"));
                }
                Ok(_) => {}
            }
        }
        let mut esp_proposals = Vec::with_capacity(entry.ikev2_proposals.len());
        for name in &entry.ikev2_proposals {
            let p = self
                .policy
                .ipsec_proposal(name)
                .ok_or_else(|| format!("ipsec-proposal {name} does not exist"))?;
            let mut notes = Vec::new();
            if let Some(lp) = esp_proposal(p, entry.pfs, &mut notes) {
                esp_proposals.push(lp);
            }
            warnings.extend(notes.into_iter().map(|n| format!("{label}: {n}")));
        }
        if esp_proposals.is_empty() {
            return Err("no usable ikev2 ipsec-proposal (set ikev2 ipsec-proposal)".into());
        }
        if self.ike.is_empty() {
            return Err("no usable crypto ikev2 policy".into());
        }
        Ok(ChildConfig {
            esp_proposals,
            selectors,
            lifetime_seconds: u64::from(entry.lifetime_seconds),
            lifetime_kilobytes: match entry.lifetime_kilobytes {
                KilobyteLifetime::Limited(kb) => u64::from(kb),
                KilobyteLifetime::Unlimited => 0,
            },
            mode: Mode::Tunnel,
        })
    }

    /// One peer's configuration, or why there is none.
    fn peer(
        &self,
        interface: &str,
        peer: IpAddr,
        child: &ChildConfig,
    ) -> Result<PeerConfig, String> {
        let tg = self
            .policy
            .tunnel_group_for_peer(peer)
            .ok_or_else(|| format!("no tunnel-group {peer} (and no {DEFAULT_L2L_GROUP})"))?;
        if tg.kind != TunnelGroupType::IpsecL2l {
            return Err(format!("tunnel-group {} is {}, not ipsec-l2l", tg.name, tg.kind));
        }
        let family = if peer.is_ipv6() { "IPv6" } else { "IPv4" };
        let local = (self.interface_addr)(interface, peer)
            .filter(|a| a.is_ipv6() == peer.is_ipv6())
            .ok_or_else(|| format!("interface {interface} has no {family} address"))?;
        // With pre-shared keys the peer proves the address it is configured at, unless
        // `peer-id-validate nocheck`.
        let psk_remote_id = match tg.peer_id_validate {
            PeerIdValidate::NoCheck => None,
            _ => Some(address_id(peer)),
        };
        // LAN-to-LAN peers only (checked above); remote-access groups are in
        // `Ikev2Plan::remote_access` and on dynamic entries.
        self.config(tg, local, peer, psk_remote_id, child, None)
    }

    /// The responder configuration of a dynamic entry: any peer (the unspecified address
    /// of the interface's family, IPv4 where it has both), any identity, authenticated with
    /// the entry's tunnel group; a remote-access group's clients get addresses from its
    /// pools, the shared handles of `plan`.
    fn dynamic_peer(
        &self,
        entry: &CryptoMapEntry,
        interface: &str,
        child: &ChildConfig,
        plan: &Ikev2Plan,
    ) -> Result<PeerConfig, String> {
        let name = entry.tunnel_group.as_deref().ok_or("no tunnel-group")?;
        let tg = self
            .policy
            .tunnel_group(name)
            .ok_or_else(|| format!("tunnel-group {name} does not exist"))?;
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let local = [any4, any6]
            .into_iter()
            .find_map(|any| {
                (self.interface_addr)(interface, any).filter(|a| a.is_ipv6() == any.is_ipv6())
            })
            .ok_or_else(|| format!("interface {interface} has no address"))?;
        let remote = if local.is_ipv6() { any6 } else { any4 };
        let remote_access = match tg.kind {
            TunnelGroupType::IpsecL2l => None,
            TunnelGroupType::RemoteAccess => {
                Some(plan.remote_access_group(&tg.name).ok_or_else(|| {
                    format!("tunnel-group {} is remote-access and has no address pool", tg.name)
                })?)
            }
        };
        // Any identity: the tunnel group's key or CAs decide who gets in.
        self.config(tg, local, remote, None, child, remote_access)
    }

    /// A peer's configuration from its tunnel group `tg`: our address `local`, the peer's
    /// `remote` (unspecified: any peer), the identity a peer authenticating with a
    /// pre-shared key must present (`None`: any), the entry's Child SA and the remote-access
    /// role.
    fn config(
        &self,
        tg: &TunnelGroup,
        local: IpAddr,
        remote: IpAddr,
        psk_remote_id: Option<IdRepr>,
        child: &ChildConfig,
        remote_access: Option<RemoteAccess>,
    ) -> Result<PeerConfig, String> {
        let policy = self.policy;
        let (local_auth, psk_local) = match tg.ikev2_local_authentication {
            Some(Ikev2Authentication::Certificate) => {
                let (name, tp) = self.trustpoint(tg, Side::Local)?;
                let cred = tp.credential.ok_or_else(|| {
                    format!(
                        "trustpoint {name} has no certificate and private key (needed by \
                         tunnel-group {} ikev2 local-authentication certificate)",
                        tg.name
                    )
                })?;
                // No key of ours exists on this side: an empty one that nothing uses.
                (LocalAuth::Certificate(LocalCertificate::new(cred)), Psk::new(&[]))
            }
            _ => (LocalAuth::Psk, self.psk(tg, Side::Local)?),
        };
        let local_id = match (policy.ike.identity, &local_auth) {
            (IkeIdentity::Auto, LocalAuth::Certificate(c)) => match c.credentials.first() {
                Some(cred) => cred.certificate().subject_id(),
                None => address_id(local),
            },
            (IkeIdentity::Address | IkeIdentity::Auto, _) => address_id(local),
            (IkeIdentity::Hostname, _) => match self.hostname {
                Some(h) if !h.is_empty() => IdRepr::fqdn(h),
                _ => return Err("identity hostname, but the host name is not known".into()),
            },
        };
        let (remote_auth, psk_remote, remote_id) = match tg.ikev2_remote_authentication {
            Some(Ikev2Authentication::Certificate) => {
                let (_, tp) = self.trustpoint(tg, Side::Remote)?;
                let id_check = peer_id_check(tg.peer_id_validate);
                // The peer is whoever its certificate says, within the ID rule: no fixed
                // identity (ASA peers and strongSwan default to their subject DN).
                let pc = PeerCertificate::new(tp.store, id_check);
                (RemoteAuth::Certificate(pc), Psk::new(&[]), None)
            }
            _ => (RemoteAuth::Psk, self.psk(tg, Side::Remote)?, psk_remote_id),
        };
        let (dpd_interval, dpd_retry) = match tg.keepalive {
            Keepalive::Disabled => (Duration::ZERO, Duration::ZERO),
            Keepalive::Enabled { threshold, retry } => {
                (Duration::from_secs(u64::from(threshold)), Duration::from_secs(u64::from(retry)))
            }
        };
        let fragmentation = policy
            .ike
            .ikev2_fragmentation
            .then(|| usize::try_from(policy.ike.ikev2_fragmentation_mtu).unwrap_or(usize::MAX));
        let cfg = PeerConfig {
            local_addr: SocketAddr::new(local, IKE_PORT),
            remote_addr: SocketAddr::new(remote, IKE_PORT),
            local_id,
            remote_id,
            psk_local,
            psk_remote,
            psk_by_id: Vec::new(),
            ike_proposals: self.ike.to_vec(),
            child: child.clone(),
            retransmit: retransmit(policy),
            dpd_interval,
            dpd_retry,
            fragmentation,
            allow_weak_dh: policy.ike.allow_weak_dh,
            auth: AuthConfig { local: local_auth, remote: remote_auth },
            remote_access,
        };
        cfg.validate().map_err(|e| format!("configuration rejected: {e}"))?;
        Ok(cfg)
    }

    /// The tunnel group's trustpoint for certificate authentication of one side, loaded
    /// (once per trustpoint), with its name.
    fn trustpoint(
        &self,
        tg: &TunnelGroup,
        side: Side,
    ) -> Result<(String, LoadedTrustpoint), String> {
        let name = tg.trustpoint.as_deref().ok_or_else(|| {
            format!(
                "tunnel-group {}: ikev2 {}-authentication certificate needs a trustpoint",
                tg.name,
                side.name()
            )
        })?;
        cached_trustpoint(self.policy, self.trustpoints, name).map(|l| (name.to_owned(), l))
    }

    /// The tunnel group's key for one side.
    fn psk(&self, tg: &TunnelGroup, side: Side) -> Result<Psk, String> {
        let which = side.name();
        let secret = match side {
            Side::Local => tg.ikev2_local_pre_shared_key.as_ref(),
            Side::Remote => tg.ikev2_remote_pre_shared_key.as_ref(),
        };
        let secret = secret.ok_or_else(|| {
            format!("tunnel-group {} has no ikev2 {which} pre-shared key", tg.name)
        })?;
        let key = (self.read_secret)(secret)
            .map_err(|e| format!("tunnel-group {} ikev2 {which} pre-shared key: {e}", tg.name))?;
        if key.is_empty() {
            return Err(format!("tunnel-group {} ikev2 {which} pre-shared key is empty", tg.name));
        }
        Ok(Psk::new(&key))
    }
}

#[derive(Clone, Copy)]
enum Side {
    Local,
    Remote,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

fn address_id(a: IpAddr) -> IdRepr {
    match a {
        IpAddr::V4(v4) => IdRepr::ipv4(v4),
        IpAddr::V6(v6) => IdRepr::ipv6(v6),
    }
}

/// `[ike]` retransmission: the interval and count configured, the default cap raised to
/// the first interval so that a long interval is not cut short.
fn retransmit(policy: &PolicyConfig) -> RetransmitPolicy {
    let d = RetransmitPolicy::default();
    let interval = Duration::from_millis(u64::from(policy.ike.retransmit_interval_ms));
    RetransmitPolicy {
        interval,
        tries: policy.ike.retransmit_tries,
        max_interval: d.max_interval.max(interval),
    }
}

/// One IKE proposal per IKEv2 policy, in priority order, without what the crypto suite
/// cannot run; a policy left without a cipher, PRF or group is not offered.
fn ike_proposals(policy: &PolicyConfig, warnings: &mut Vec<String>) -> Vec<LocalProposal> {
    let mut out = Vec::with_capacity(policy.ikev2_policies.len());
    for p in &policy.ikev2_policies {
        let what = format!("crypto ikev2 policy {}", p.priority);
        let mut missing = |kind: &str, kw: &dyn core::fmt::Display| {
            warnings.push(format!("{what}: {kind} {kw} is not implemented; not offered"));
        };
        let mut encr: Vec<Encr> = Vec::with_capacity(p.encryption.len());
        for e in &p.encryption {
            let (id, bits) = (e.transform_id(), e.key_length_attribute());
            match EncrAlg::from_iana(id, bits) {
                Ok(_) => encr.push((EncrId::from(id), bits)),
                Err(_) => missing("encryption", e),
            }
        }
        let mut prf = Vec::with_capacity(p.prf.len());
        for f in &p.prf {
            match PrfAlg::from_iana(f.transform_id()) {
                Ok(_) => prf.push(PrfId::from(f.transform_id())),
                Err(_) => missing("prf", f),
            }
        }
        // `null` integrity is the absence of the transform (RFC 5282 section 8).
        let mut integ = Vec::with_capacity(p.integrity.len());
        for i in p.integrity.iter().filter(|i| i.hash().is_some()) {
            match IntegAlg::from_iana(i.transform_id()) {
                Ok(_) => integ.push(IntegId::from(i.transform_id())),
                Err(_) => missing("integrity", i),
            }
        }
        let mut dh = Vec::with_capacity(p.groups.len());
        for g in &p.groups {
            match SuiteDhGroup::from_iana(g.number()) {
                Ok(_) => dh.push(WireDhGroup::from(g.number())),
                Err(_) => missing("group", g),
            }
        }
        keep_authenticated(&mut encr, &integ, &what, warnings);
        if encr.is_empty() || prf.is_empty() || dh.is_empty() {
            warnings.push(format!(
                "{what} has no implemented encryption, prf or group left; not offered"
            ));
            continue;
        }
        out.push(LocalProposal { protocol: ProtocolId::Ike, encr, prf, integ, dh, esn: vec![] });
    }
    out
}

/// Drops non-AEAD ciphers when there is no integrity to go with them: the loader refuses
/// such lists, but a hand-built policy would otherwise yield an offer nobody can accept.
fn keep_authenticated(encr: &mut Vec<Encr>, integ: &[IntegId], what: &str, w: &mut Vec<String>) {
    if integ.is_empty() && encr.iter().any(|(id, _)| !is_aead(*id)) {
        encr.retain(|(id, _)| is_aead(*id));
        w.push(format!("{what}: non-AEAD ciphers without integrity; not offered"));
    }
}

/// One ESP proposal: no ESN, the PFS group if any, and no DES (the Child SA key derivation
/// does not know it).
fn esp_proposal(
    p: &IpsecProposal,
    pfs: Option<PolicyDhGroup>,
    warnings: &mut Vec<String>,
) -> Option<LocalProposal> {
    let what = format!("ipsec-proposal {}", p.name);
    let mut encr: Vec<Encr> = Vec::with_capacity(p.encryption.len());
    for e in &p.encryption {
        if *e == EspEncryption::Des {
            warnings.push(format!("{what}: ESP encryption {e} is not implemented; not offered"));
            continue;
        }
        encr.push((EncrId::from(e.transform_id()), e.key_length_attribute()));
    }
    let integ: Vec<IntegId> = p
        .integrity
        .iter()
        .filter(|i| i.hash().is_some())
        .map(|i| IntegId::from(i.transform_id()))
        .collect();
    keep_authenticated(&mut encr, &integ, &what, warnings);
    if encr.is_empty() {
        warnings.push(format!("{what} has no implemented encryption left; not offered"));
        return None;
    }
    Some(LocalProposal {
        protocol: ProtocolId::Esp,
        encr,
        prf: vec![],
        integ,
        dh: pfs.map(|g| WireDhGroup::from(g.number())).into_iter().collect(),
        esn: vec![EsnId::No],
    })
}

/// The selectors of an ACL's permit rules: sources local, destinations remote, each list
/// in rule order without repeats. IKEv2 negotiates the two lists as a cross product
/// (RFC 7296 section 2.9), so rules `A -> B` and `C -> D` also allow `A -> D`; the
/// dataplane's SPD, built from the rules themselves, stays exact.
pub fn acl_selectors(acl: &AccessList) -> PolicySelectors {
    let mut out = PolicySelectors { local: Vec::new(), remote: Vec::new() };
    for rule in acl.rules.iter().filter(|r| r.action == AclAction::Permit) {
        for (local, remote) in rule_selectors(rule) {
            if !out.local.contains(&local) {
                out.local.push(local);
            }
            if !out.remote.contains(&remote) {
                out.remote.push(remote);
            }
        }
    }
    out
}

/// The (local, remote) selectors of one rule, one pair per address family it can match.
/// ICMP types go in the local selector's port field as type << 8 | code, every code
/// (RFC 7296 section 3.13.1), as the dataplane's SPD keeps them on the source side.
pub fn rule_selectors(rule: &AclRule) -> Vec<(TrafficSelector, TrafficSelector)> {
    const ANY: (u16, u16) = (0, u16::MAX);
    let proto = rule.protocol.number().unwrap_or(0);
    let (local_ports, remote_ports) = if rule.protocol.has_ports() {
        let r = |p: Option<dataplane::spd::PortRange>| p.map_or(ANY, |p| (p.lo(), p.hi()));
        (r(rule.src_port), r(rule.dst_port))
    } else if rule.protocol.is_icmp() {
        let t = rule.icmp_type.map_or(ANY, |t| (u16::from(t) << 8, u16::from(t) << 8 | 0xff));
        (t, ANY)
    } else {
        (ANY, ANY)
    };
    let mut out = Vec::with_capacity(2);
    for v6 in [false, true] {
        let (Some(src), Some(dst)) = (rule.src.prefix_for(v6), rule.dst.prefix_for(v6)) else {
            continue;
        };
        // ICMP rules exist only in their own family.
        if (rule.protocol == AclProtocol::Icmp && v6)
            || (rule.protocol == AclProtocol::Icmp6 && !v6)
        {
            continue;
        }
        out.push((
            from_prefix_proto(src.addr(), src.prefix_len(), proto, local_ports),
            from_prefix_proto(dst.addr(), dst.prefix_len(), proto, remote_ports),
        ));
    }
    out
}
