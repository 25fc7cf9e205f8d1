//! From the validated policy to the IKEv1 state machine's per-peer configuration: one
//! [`Ikev1Config`] per peer of every IKEv1 crypto map entry applied to an interface with
//! IKEv1 enabled, the counterpart of [`super::ikev2_peers`].
//!
//! What comes from where (ASA command in parentheses):
//!
//! - addresses: our address on the interface the map is applied to and the peer's (`set
//!   peer`), both on UDP 500; NAT traversal floats to 4500 unless `set nat-t-disable`;
//! - identities: ours is our address (ID_IPV4_ADDR / ID_IPV6_ADDR); the peer's is not
//!   fixed: with pre-shared keys the key is chosen by the peer's address;
//! - authentication: the LAN-to-LAN tunnel group's (its address, else `DefaultL2LGroup`)
//!   `ikev1 pre-shared-key` for `authentication pre-share` policies, its `trustpoint` for
//!   `authentication rsa-sig` ones: our certificate and key sign, the trustpoint's CAs
//!   check the peer's certificate and `peer-id-validate` its identity, loaded as for IKEv2
//!   ([`super::ikev2_peers`]). The key decides the signature method: RSA signs with
//!   RSA-SIG, a P-256 or P-384 key with ECDSA (RFC 4754) — an `rsa-sig` policy with an EC
//!   key means ECDSA, the ASA's keyword being kept. A group with only a trustpoint needs
//!   no pre-shared key (its pre-share policies are then not offered), and one with only a
//!   key does not offer the rsa-sig policies;
//! - phase 1: one [`Phase1Policy`] per `crypto ikev1 policy`, by priority, in the entry's
//!   `set ikev1 phase1-mode` (Main Mode unless `aggressive`); Aggressive Mode is answered
//!   and initiated only with `[ike] ikev1_aggressive_mode` (the loader refuses an
//!   aggressive entry without it);
//! - phase 2: one [`Phase2Policy`] per `set ikev1 transform-set`, in the entry's order, with
//!   the entry's `set pfs` group and `set security-association lifetime` (the loader fills
//!   in the defaults);
//! - selectors: the `match address` ACL's permit rules, as for IKEv2
//!   ([`super::ikev2_peers::acl_selectors`]);
//! - timers: the tunnel group's `isakmp keepalive` (DPD) and the `[ike]` retransmissions;
//! - dynamic entries (`crypto map NAME SEQ ipsec-isakmp dynamic DYN`, `dynamic = true`): one
//!   answer-only configuration for any peer, whose address is the unspecified address of
//!   the interface's family (IPv4 where it has both), which the endpoint matches with any
//!   sender no static entry lists. The entry's `tunnel_group` authenticates phase 1 as
//!   above; a remote-access group adds XAUTH against the policy's `[[user]]`s and Mode
//!   Config from its IPv4 `address-pool`s (the IKEv2 plan's shared handles, so a group's
//!   IKEv1 and IKEv2 clients never get the same address), `dns-server value` and
//!   `default-domain value`; the client's Quick Mode must protect the address it was given.
//!
//! Aggressive Mode with a pre-shared key exposes a hash an eavesdropper can attack: the
//! loader warns whenever it is enabled.
//!
//! # What is skipped
//! As for IKEv2: an entry or peer that cannot be configured is left out with one line in
//! [`Ikev1Plan::problems`]; a policy or transform set the implementation cannot run
//! (ciphers other than AES-CBC in phase 1; ESP ciphers or integrity the dataplane does not
//! have; transport mode) is left out with a line in [`Ikev1Plan::warnings`]. Nothing here
//! panics or logs a key.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

use crate::crypto::{DhGroup as SuiteDhGroup, WeakGroups};
use crate::ikev1::keys::HashAlg;
use crate::ikev1::proposal::{AuthMethod, EncapMode, Phase1Policy, Phase2Policy, esp_transform};
use std::sync::Arc;

use crate::ikev1::remote_access::UserDb;
use crate::ikev1::sa::{
    Dpd, Ikev1Certificates, Ikev1Config, Phase1Mode, RemoteAccess, RemoteAccessServer,
};
use crate::ikev1::wire::{Identification, esp_id, p2attr};
use crate::ikev2::sa::{LocalCertificate, PeerCertificate, Psk};
use crate::ikev2::selectors::PolicySelectors;
use crate::pool::AddressPool;
use crate::retransmit::RetransmitPolicy;

use super::ikev2_peers::{
    IKE_PORT, InterfaceAddr, ReadSecret, TrustpointCache, acl_selectors, cached_trustpoint,
    peer_id_check,
};
use super::{
    ConnectionType, CryptoMapEntry, DEFAULT_L2L_GROUP, EspEncryption, EspIntegrity, IkeEncryption,
    IkeVersion, Ikev1Authentication, Ikev1Phase1Mode, IpsecMode, Keepalive, KilobyteLifetime,
    PolicyConfig, Prf, TransformSet, TunnelGroup, TunnelGroupType,
};

/// Unanswered R-U-THEREs after the first before the peer is declared dead (the ASA has
/// no setting for it).
const DPD_RETRIES: u32 = 5;

/// How long a rekeyed Quick Mode SA keeps carrying traffic after its successor is up.
const REKEY_OVERLAP: Duration = Duration::from_secs(10);

/// Everything the IKEv1 side runs with, and what could not be configured.
#[derive(Debug, Clone, Default)]
pub struct Ikev1Plan {
    /// Crypto map entries with at least one usable IKEv1 peer, in (map, sequence) order.
    pub entries: Vec<Ikev1EntryPlan>,
    /// One line per skipped entry or peer, e.g. `crypto map outside_map 20 peer 192.0.2.5:
    /// tunnel-group 192.0.2.5 has no ikev1 pre-shared-key`.
    pub problems: Vec<String>,
    /// Policies and transform sets left out (not implemented).
    pub warnings: Vec<String>,
}

impl Ikev1Plan {
    /// Every configured peer at `remote`, with its entry.
    pub fn peers_at(
        &self,
        remote: IpAddr,
    ) -> impl Iterator<Item = (&Ikev1EntryPlan, &Ikev1Config)> {
        self.entries.iter().flat_map(move |e| {
            e.peers.iter().filter(move |p| p.peer.ip() == remote).map(move |p| (e, p))
        })
    }

    /// Every peer configuration of every entry (the responder side answers each by
    /// address).
    pub fn configs(&self) -> impl Iterator<Item = &Ikev1Config> {
        self.entries.iter().flat_map(|e| e.peers.iter())
    }
}

/// One IKEv1 crypto map entry (`crypto map NAME SEQ`).
#[derive(Debug, Clone)]
pub struct Ikev1EntryPlan {
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
    /// entry has exactly one, for any peer: its `peer` is the unspecified address of the
    /// interface's family.
    pub peers: Vec<Ikev1Config>,
    /// A dynamic entry (see [`CryptoMapEntry::dynamic`]): responder only, any peer.
    pub dynamic: bool,
}

/// Builds the per-peer IKEv1 configuration of every crypto map entry that uses IKEv1 and
/// is applied to an interface (others are skipped without a problem line). `pools` holds
/// one handle per `[[address_pool]]`, in the policy's order: the IKEv2 plan's
/// ([`super::ikev2_peers::Ikev2Plan::address_pools`]), so that remote-access clients of
/// both versions lease from the same pools.
pub fn ikev1_plan(
    policy: &PolicyConfig,
    interface_addr: InterfaceAddr<'_>,
    read_secret: ReadSecret<'_>,
    pools: &[AddressPool],
) -> Ikev1Plan {
    let mut plan = Ikev1Plan::default();
    // Built on first use, so that a config without IKEv1 maps gets no warnings about them.
    let mut phase1: Option<Vec<OfferedPhase1>> = None;
    let mut users: Option<Arc<UserDb>> = None;
    let trustpoints = TrustpointCache::new(Vec::new());
    for entry in &policy.crypto_maps {
        if !entry.uses(IkeVersion::Ikev1) {
            continue;
        }
        let applied = policy
            .crypto_interfaces
            .iter()
            .find(|c| c.crypto_map.as_deref() == Some(entry.name.as_str()));
        let Some(applied) = applied else { continue };
        let phase1 = phase1.get_or_insert_with(|| phase1_policies(policy, &mut plan.warnings));
        let label = format!("crypto map {} {}", entry.name, entry.sequence);
        let shared = if applied.ikev1 {
            entry_shared(policy, entry, phase1, &label, &mut plan.warnings)
        } else {
            Err(format!(
                "IKEv1 is not enabled on interface {} (crypto ikev1 enable; crypto_interface \
                 ikev1 = true)",
                applied.interface
            ))
        };
        let shared = match shared {
            Ok(s) => s,
            Err(why) => {
                plan.problems.push(format!("{label}: {why}"));
                continue;
            }
        };
        if entry.dynamic {
            let users = users.get_or_insert_with(|| user_db(policy, read_secret, &mut plan));
            let cx = DynamicCx { policy, interface_addr, read_secret, trustpoints: &trustpoints };
            match cx.config(entry, &applied.interface, &shared, users, pools, &mut plan.warnings) {
                Ok(c) => plan.entries.push(Ikev1EntryPlan {
                    map: entry.name.clone(),
                    sequence: entry.sequence,
                    interface: applied.interface.clone(),
                    acl: entry.match_address.clone(),
                    // Nobody to initiate to: the loader allows nothing else.
                    connection_type: ConnectionType::AnswerOnly,
                    peers: vec![c],
                    dynamic: true,
                }),
                Err(why) => plan.problems.push(format!("{label} (dynamic): {why}")),
            }
            continue;
        }
        if entry.peers.is_empty() {
            plan.problems.push(format!("{label}: no peer (set peer)"));
            continue;
        }
        let mut peers = Vec::with_capacity(entry.peers.len());
        for &peer in &entry.peers {
            match peer_config(
                policy,
                interface_addr,
                read_secret,
                &trustpoints,
                &applied.interface,
                peer,
                &shared,
            ) {
                Ok(c) => peers.push(c),
                Err(why) => plan.problems.push(format!("{label} peer {peer}: {why}")),
            }
        }
        if peers.is_empty() {
            continue;
        }
        plan.entries.push(Ikev1EntryPlan {
            map: entry.name.clone(),
            sequence: entry.sequence,
            interface: applied.interface.clone(),
            acl: entry.match_address.clone(),
            connection_type: entry.connection_type,
            peers,
            dynamic: false,
        });
    }
    plan
}

/// The local user database XAUTH checks (`[[user]]`): a user whose password cannot be
/// read is left out with a problem line.
fn user_db(
    policy: &PolicyConfig,
    read_secret: ReadSecret<'_>,
    plan: &mut Ikev1Plan,
) -> Arc<UserDb> {
    let mut db = UserDb::new();
    for u in &policy.users {
        match read_secret(&u.password) {
            Ok(p) if p.is_empty() => plan.problems.push(format!("user {}: empty password", u.name)),
            Ok(p) => db.add(&u.name, &p),
            Err(e) => plan.problems.push(format!("user {}: password: {e}", u.name)),
        }
    }
    Arc::new(db)
}

/// What a dynamic entry's configuration is built from.
struct DynamicCx<'a> {
    policy: &'a PolicyConfig,
    interface_addr: InterfaceAddr<'a>,
    read_secret: ReadSecret<'a>,
    trustpoints: &'a TrustpointCache,
}

impl DynamicCx<'_> {
    /// The responder configuration of dynamic entry `entry`: any peer (the unspecified
    /// address of the interface's family, IPv4 where it has both), any identity,
    /// authenticated with the entry's tunnel group; a remote-access group's clients pass
    /// XAUTH and get an address from its pools.
    fn config(
        &self,
        entry: &CryptoMapEntry,
        interface: &str,
        shared: &Shared,
        users: &Arc<UserDb>,
        pools: &[AddressPool],
        warnings: &mut Vec<String>,
    ) -> Result<Ikev1Config, String> {
        let policy = self.policy;
        let name = entry.tunnel_group.as_deref().ok_or("no tunnel-group")?;
        let tg = policy
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
                Some(RemoteAccess::Server(xauth_server(policy, tg, users, pools, warnings)?))
            }
        };
        let mut cfg =
            group_config(policy, self.read_secret, self.trustpoints, tg, local, remote, shared)?;
        cfg.remote_access = remote_access;
        Ok(cfg)
    }
}

/// The XAUTH and Mode Config server of remote-access group `tg`: the users, its IPv4
/// pools (the shared handles in `pools`, by the policy's order), its IPv4 DNS servers and
/// default domain. Without a user or an IPv4 pool the group cannot serve IKEv1 clients:
/// without a pool a client's Quick Mode identity would be whatever it claims.
fn xauth_server(
    policy: &PolicyConfig,
    tg: &TunnelGroup,
    users: &Arc<UserDb>,
    pools: &[AddressPool],
    warnings: &mut Vec<String>,
) -> Result<RemoteAccessServer, String> {
    if users.is_empty() {
        return Err(format!(
            "tunnel-group {} is remote-access: IKEv1 clients authenticate with XAUTH, and \
             there is no usable [[user]]",
            tg.name
        ));
    }
    let ipv4: Vec<AddressPool> = tg
        .address_pools
        .iter()
        .filter_map(|name| policy.address_pools.iter().position(|p| &p.name == name))
        .filter_map(|i| pools.get(i).cloned())
        .filter(|p| !p.range().is_ipv6())
        .collect();
    if ipv4.is_empty() {
        return Err(format!(
            "tunnel-group {} has no IPv4 address pool (IKEv1 Mode Config gives IPv4 \
             addresses)",
            tg.name
        ));
    }
    let mut dns = Vec::with_capacity(tg.dns_servers.len());
    for d in &tg.dns_servers {
        match d {
            IpAddr::V4(a) => dns.push(*a),
            IpAddr::V6(a) => warnings.push(format!(
                "tunnel-group {} dns-server {a}: IKEv1 Mode Config sends IPv4 DNS servers \
                 only; not sent to IKEv1 clients",
                tg.name
            )),
        }
    }
    Ok(RemoteAccessServer {
        users: Arc::clone(users),
        pools: ipv4,
        dns,
        domain: tg.default_domain.clone(),
    })
}

/// A phase-1 policy and how it authenticates: a signature policy's method is settled per
/// peer, by the key of its tunnel group's trustpoint.
#[derive(Clone)]
struct OfferedPhase1 {
    authentication: Ikev1Authentication,
    /// With [`AuthMethod::Psk`] until the peer's key is known.
    policy: Phase1Policy,
}

/// What every peer of one entry shares.
struct Shared {
    phase1: Vec<OfferedPhase1>,
    phase2: Vec<Phase2Policy>,
    selectors: PolicySelectors,
    nat_traversal: bool,
    mode: Phase1Mode,
}

fn weak_groups(policy: &PolicyConfig) -> WeakGroups {
    if policy.ike.allow_weak_dh { WeakGroups::Allow } else { WeakGroups::Reject }
}

/// The entry's phase-1 and phase-2 policies and selectors, or why there are none.
fn entry_shared(
    policy: &PolicyConfig,
    entry: &CryptoMapEntry,
    phase1: &[OfferedPhase1],
    label: &str,
    warnings: &mut Vec<String>,
) -> Result<Shared, String> {
    let acl_name = &entry.match_address;
    let acl = policy
        .access_list(acl_name)
        .ok_or_else(|| format!("access-list {acl_name} does not exist"))?;
    let selectors = acl_selectors(acl);
    if selectors.local.is_empty() || selectors.remote.is_empty() {
        return Err(format!(
            "access-list {acl_name} has no permit rule (deny rules cannot be proxy identities)"
        ));
    }
    // Leaving an unusable PFS group out would silently weaken every Quick Mode: refuse the
    // entry instead.
    let pfs = match entry.pfs {
        None => None,
        Some(g) => match SuiteDhGroup::from_iana(g.number()) {
            Err(_) => return Err(format!("pfs group {g} is not implemented")),
            Ok(sg) if sg.check_allowed(weak_groups(policy)).is_err() => {
                return Err(format!("pfs group {g} is weak and [ike] allow_weak_dh is off"));
            }
            Ok(sg) => Some(sg),
        },
    };
    let lifetime_kilobytes = match entry.lifetime_kilobytes {
        KilobyteLifetime::Limited(kb) => u64::from(kb),
        KilobyteLifetime::Unlimited => 0,
    };
    let mut phase2 = Vec::with_capacity(entry.ikev1_transform_sets.len());
    for name in &entry.ikev1_transform_sets {
        let ts = policy
            .transform_set(name)
            .ok_or_else(|| format!("transform-set {name} does not exist"))?;
        match phase2_policy(ts, pfs, u64::from(entry.lifetime_seconds), lifetime_kilobytes) {
            Ok(p) => phase2.push(p),
            Err(why) => warnings.push(format!("{label}: transform-set {name}: {why}; not offered")),
        }
    }
    if phase2.is_empty() {
        return Err("no usable ikev1 transform-set (set ikev1 transform-set)".into());
    }
    if phase1.is_empty() {
        return Err("no usable crypto ikev1 policy".into());
    }
    let mode = match entry.phase1_mode {
        Ikev1Phase1Mode::Main => Phase1Mode::Main,
        Ikev1Phase1Mode::Aggressive => Phase1Mode::Aggressive,
    };
    Ok(Shared { phase1: phase1.to_vec(), phase2, selectors, nat_traversal: entry.nat_t, mode })
}

/// One peer's configuration, or why there is none.
fn peer_config(
    policy: &PolicyConfig,
    interface_addr: InterfaceAddr<'_>,
    read_secret: ReadSecret<'_>,
    trustpoints: &TrustpointCache,
    interface: &str,
    peer: IpAddr,
    shared: &Shared,
) -> Result<Ikev1Config, String> {
    let tg = policy
        .tunnel_group_for_peer(peer)
        .ok_or_else(|| format!("no tunnel-group {peer} (and no {DEFAULT_L2L_GROUP})"))?;
    if tg.kind != TunnelGroupType::IpsecL2l {
        return Err(format!("tunnel-group {} is {}, not ipsec-l2l", tg.name, tg.kind));
    }
    let family = if peer.is_ipv6() { "IPv6" } else { "IPv4" };
    let local = interface_addr(interface, peer)
        .filter(|a| a.is_ipv6() == peer.is_ipv6())
        .ok_or_else(|| format!("interface {interface} has no {family} address"))?;
    group_config(policy, read_secret, trustpoints, tg, local, peer, shared)
}

/// The configuration of a peer at `peer` (unspecified: any peer of a dynamic entry)
/// authenticating with tunnel group `tg`, from our address `local`; no remote access.
fn group_config(
    policy: &PolicyConfig,
    read_secret: ReadSecret<'_>,
    trustpoints: &TrustpointCache,
    tg: &TunnelGroup,
    local: IpAddr,
    peer: IpAddr,
    shared: &Shared,
) -> Result<Ikev1Config, String> {
    let wants = |a| shared.phase1.iter().any(|p| p.authentication == a);
    let certificates = if wants(Ikev1Authentication::RsaSig) {
        certificates(policy, trustpoints, tg, tg.ikev1_pre_shared_key.is_none())?
    } else {
        None
    };
    // A group with only a trustpoint has no key: an empty one that nothing uses (the
    // pre-share policies are not offered to it).
    let psk = match (&tg.ikev1_pre_shared_key, &certificates) {
        (None, Some(_)) => Psk::new(&[]),
        (None, None) => {
            return Err(format!("tunnel-group {} has no ikev1 pre-shared-key", tg.name));
        }
        (Some(secret), _) => {
            let key = read_secret(secret)
                .map_err(|e| format!("tunnel-group {} ikev1 pre-shared-key: {e}", tg.name))?;
            if key.is_empty() {
                return Err(format!("tunnel-group {} ikev1 pre-shared-key is empty", tg.name));
            }
            Psk::new(&key)
        }
    };
    let has_psk = !psk.as_bytes().is_empty();
    let sig_method = certificates.as_ref().and_then(Ikev1Certificates::method);
    let phase1: Vec<Phase1Policy> = shared
        .phase1
        .iter()
        .filter_map(|o| match (o.authentication, sig_method) {
            (Ikev1Authentication::PreShare, _) if has_psk => Some(o.policy),
            (Ikev1Authentication::RsaSig, Some(auth)) => Some(Phase1Policy { auth, ..o.policy }),
            _ => None,
        })
        .collect();
    // Only possible with a key and no trustpoint: a group with neither failed above, and
    // one with certificates had rsa-sig policies to load them for.
    if phase1.is_empty() {
        return Err(format!(
            "no usable crypto ikev1 policy: tunnel-group {} has no trustpoint for the rsa-sig \
             policies and there is no pre-share policy",
            tg.name
        ));
    }
    let dpd = match tg.keepalive {
        Keepalive::Disabled => None,
        Keepalive::Enabled { threshold, retry } => Some(Dpd {
            threshold: Duration::from_secs(u64::from(threshold)),
            retry: Duration::from_secs(u64::from(retry)),
            retries: DPD_RETRIES,
        }),
    };
    let cfg = Ikev1Config {
        local: SocketAddr::new(local, IKE_PORT),
        peer: SocketAddr::new(peer, IKE_PORT),
        local_id: Identification::address(local),
        remote_id: None,
        psk,
        certificates,
        remote_access: None,
        phase1,
        mode: shared.mode,
        allow_aggressive: policy.ike.ikev1_aggressive_mode,
        phase2: shared.phase2.clone(),
        selectors: shared.selectors.clone(),
        dpd,
        retransmit: retransmit(policy),
        initial_contact: true,
        nat_traversal: shared.nat_traversal,
        weak_groups: weak_groups(policy),
        rekey_overlap: REKEY_OVERLAP,
    };
    cfg.validate().map_err(|e| format!("configuration rejected: {e}"))?;
    Ok(cfg)
}

/// The tunnel group's trustpoint as IKEv1 certificates, for its `rsa-sig` policies. Without
/// a trustpoint that is a problem only when the group has nothing else (`required`).
fn certificates(
    policy: &PolicyConfig,
    trustpoints: &TrustpointCache,
    tg: &TunnelGroup,
    required: bool,
) -> Result<Option<Ikev1Certificates>, String> {
    let Some(name) = tg.trustpoint.as_deref() else {
        return if required {
            Err(format!("tunnel-group {} has no ikev1 pre-shared-key (and no trustpoint)", tg.name))
        } else {
            Ok(None)
        };
    };
    let tp = cached_trustpoint(policy, trustpoints, name)?;
    let cred = tp.credential.ok_or_else(|| {
        format!(
            "trustpoint {name} has no certificate and private key (needed by tunnel-group {} \
             for ikev1 rsa-sig authentication)",
            tg.name
        )
    })?;
    Ok(Some(Ikev1Certificates {
        local: LocalCertificate::new(cred),
        // The peer is whoever its certificate says, within the ID rule (as for IKEv2).
        remote: PeerCertificate::new(tp.store, peer_id_check(tg.peer_id_validate)),
    }))
}

/// `[ike]` retransmission, as the IKEv2 plan sets it: the interval and count configured,
/// the default cap raised to the first interval.
fn retransmit(policy: &PolicyConfig) -> RetransmitPolicy {
    let d = RetransmitPolicy::default();
    let interval = Duration::from_millis(u64::from(policy.ike.retransmit_interval_ms));
    RetransmitPolicy {
        interval,
        tries: policy.ike.retransmit_tries,
        max_interval: d.max_interval.max(interval),
    }
}

/// The phase-1 hash of an IKEv1 policy's `hash`.
fn hash_alg(h: Prf) -> HashAlg {
    match h {
        Prf::Md5 => HashAlg::Md5,
        Prf::Sha1 => HashAlg::Sha1,
        Prf::Sha256 => HashAlg::Sha256,
        Prf::Sha384 => HashAlg::Sha384,
        Prf::Sha512 => HashAlg::Sha512,
    }
}

/// One phase-1 policy per `crypto ikev1 policy`, in priority order, without those the
/// implementation cannot run (each with a warning).
fn phase1_policies(policy: &PolicyConfig, warnings: &mut Vec<String>) -> Vec<OfferedPhase1> {
    let mut out = Vec::with_capacity(policy.ikev1_policies.len());
    for p in &policy.ikev1_policies {
        let what = format!("crypto ikev1 policy {}", p.priority);
        let bits = match p.encryption {
            IkeEncryption::Aes | IkeEncryption::Aes192 | IkeEncryption::Aes256 => {
                p.encryption.key_bits()
            }
            other => {
                warnings.push(format!(
                    "{what}: encryption {other} is not implemented for IKEv1; not offered"
                ));
                continue;
            }
        };
        let group = match SuiteDhGroup::from_iana(p.group.number()) {
            Ok(g) => g,
            Err(_) => {
                warnings.push(format!("{what}: group {} is not implemented; not offered", p.group));
                continue;
            }
        };
        if group.check_allowed(weak_groups(policy)).is_err() {
            warnings.push(format!(
                "{what}: group {} is weak and [ike] allow_weak_dh is off; not offered",
                p.group
            ));
            continue;
        }
        out.push(OfferedPhase1 {
            authentication: p.authentication,
            policy: Phase1Policy {
                encryption_key_bits: bits,
                hash: hash_alg(p.hash),
                auth: AuthMethod::Psk,
                group,
                lifetime: Duration::from_secs(u64::from(p.lifetime_seconds)),
            },
        });
    }
    out
}

/// The Quick Mode offer of one transform set, or why the dataplane cannot run it.
fn phase2_policy(
    ts: &TransformSet,
    pfs: Option<SuiteDhGroup>,
    lifetime_seconds: u64,
    lifetime_kilobytes: u64,
) -> Result<Phase2Policy, String> {
    if ts.mode != IpsecMode::Tunnel {
        return Err(format!("mode {} is not supported (tunnel only)", ts.mode));
    }
    let (esp, key_bits) = match ts.encryption {
        EspEncryption::Aes | EspEncryption::Aes192 | EspEncryption::Aes256 => {
            (esp_id::ESP_AES_CBC, Some(ts.encryption.key_bits()))
        }
        EspEncryption::TripleDes => (esp_id::ESP_3DES, None),
        EspEncryption::Des => (esp_id::ESP_DES, None),
        EspEncryption::Null => (esp_id::ESP_NULL, None),
        other => return Err(format!("ESP encryption {other} has no IKEv1 transform")),
    };
    let auth = match ts.integrity {
        EspIntegrity::Md5 => Some(p2attr::AUTH_HMAC_MD5),
        EspIntegrity::Sha1 => Some(p2attr::AUTH_HMAC_SHA1),
        EspIntegrity::Sha256 => Some(p2attr::AUTH_HMAC_SHA2_256),
        EspIntegrity::Sha384 => Some(p2attr::AUTH_HMAC_SHA2_384),
        EspIntegrity::Sha512 => Some(p2attr::AUTH_HMAC_SHA2_512),
        EspIntegrity::Null => None,
    };
    if esp == esp_id::ESP_NULL && auth.is_none() {
        return Err("esp-null without integrity protects nothing".into());
    }
    let p = Phase2Policy {
        esp_id: esp,
        key_bits,
        auth,
        mode: EncapMode::Tunnel,
        pfs,
        lifetime_seconds,
        lifetime_kilobytes,
    };
    // What the dataplane cannot install is not offered: a peer that picks it would get a
    // Quick Mode SA that never carries traffic.
    esp_transform(&p).map_err(|e| e.to_string())?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use zeroize::Zeroizing;

    use super::*;
    use crate::ikev2::selectors::from_prefix;
    use crate::policy::{DhGroup as PolicyDhGroup, Secret, parse};

    const INTERFACES: &[&str] = &["outside", "inside"];

    /// An IKEv1-only entry with two peers (the second through `DefaultL2LGroup`), a mixed IKEv1 +
    /// IKEv2 entry, an IKEv2-only entry, an rsa-sig and a 3DES policy to skip, and a
    /// transform set the dataplane cannot run.
    const BASE: &str = r#"
[ike]
retransmit_interval_ms = 1500
retransmit_tries = 4

[[access_list]]
name = "to-branch"
rules = [
  { action = "deny",   protocol = "tcp", src = "10.0.0.0/24", dst = "10.3.0.9/32", dst_port = "22" },
  { action = "permit", protocol = "ip",  src = "10.0.0.0/24", dst = "10.3.0.0/16" },
]

[[access_list]]
name = "to-mixed"
rules = [
  { action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.4.0.0/16" },
]

[[ikev1_policy]]
priority = 5
authentication = "rsa-sig"
encryption = "aes-256"
hash = "sha256"
group = 14
lifetime = 86400

[[ikev1_policy]]
priority = 10
authentication = "pre-share"
encryption = "aes-256"
hash = "sha256"
group = 14
lifetime = 86400

[[ikev1_policy]]
priority = 20
authentication = "pre-share"
encryption = "3des"
hash = "sha"
group = 14
lifetime = 3600

[[ikev1_policy]]
priority = 30
authentication = "pre-share"
encryption = "aes"
hash = "sha"
group = 19
lifetime = 28800

[[ikev2_policy]]
priority = 1
encryption = ["aes-256"]
integrity = ["sha256"]
group = [14]

[[transform_set]]
name = "ts-3des"
encryption = "esp-3des"
integrity = "esp-sha-hmac"
mode = "tunnel"

[[transform_set]]
name = "ts-aes256-sha256"
encryption = "esp-aes-256"
integrity = "esp-sha256-hmac"
mode = "tunnel"

[[transform_set]]
name = "ts-aes128-sha1"
encryption = "esp-aes"
integrity = "esp-sha-hmac"
mode = "tunnel"

[[ipsec_proposal]]
name = "p-cbc"
encryption = ["aes-256"]
integrity = ["sha-256"]

[[crypto_map]]
name = "outside_map"
sequence = 20
match = "to-branch"
peers = ["192.0.2.5", "192.0.2.6"]
ike_version = ["ikev1"]
ikev1_transform_sets = ["ts-3des", "ts-aes256-sha256", "ts-aes128-sha1"]
pfs = 14
lifetime_seconds = 3600
lifetime_kilobytes = "unlimited"

[[crypto_map]]
name = "outside_map"
sequence = 30
match = "to-mixed"
peers = ["192.0.2.7"]
ike_version = ["ikev2", "ikev1"]
ikev1_transform_sets = ["ts-aes128-sha1"]
ikev2_proposals = ["p-cbc"]
connection_type = "answer-only"

[[crypto_map]]
name = "outside_map"
sequence = 40
match = "to-mixed"
peers = ["192.0.2.8"]
ikev2_proposals = ["p-cbc"]

[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
ikev1 = true
ikev2 = true

[[tunnel_group]]
name = "192.0.2.5"
type = "ipsec-l2l"
ikev1_pre_shared_key = "branch-key"
keepalive = { threshold = 30, retry = 5 }

[[tunnel_group]]
name = "192.0.2.7"
type = "ipsec-l2l"
ikev1_pre_shared_key_file = "/etc/ferrogate/psk/mixed"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "l"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "r"
keepalive = "disable"

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev1_pre_shared_key = "default-key"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "l"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "r"
"#;

    const OUR_V4: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 1));

    /// [`BASE`] with `DefaultL2LGroup`'s IKEv1 key removed after the load (the loader
    /// refuses such a file; a hand-built policy may still have it).
    fn without_default_key() -> PolicyConfig {
        let mut policy = load(BASE);
        for tg in policy.tunnel_groups.iter_mut().filter(|t| t.name == DEFAULT_L2L_GROUP) {
            tg.ikev1_pre_shared_key = None;
        }
        policy
    }

    fn load(text: &str) -> PolicyConfig {
        match parse(Path::new("gw.toml"), text, INTERFACES) {
            Ok(l) => l.config,
            Err(d) => panic!("config does not load:\n{d}"),
        }
    }

    fn outside_v4(interface: &str, peer: IpAddr) -> Option<IpAddr> {
        (interface == "outside" && peer.is_ipv4()).then_some(OUR_V4)
    }

    fn secrets(s: &Secret) -> Result<Zeroizing<Vec<u8>>, String> {
        match s {
            Secret::Inline(k) => Ok(Zeroizing::new(k.as_bytes().to_vec())),
            Secret::File(p) if p == Path::new("/etc/ferrogate/psk/mixed") => {
                Ok(Zeroizing::new(b"mixed-from-file".to_vec()))
            }
            Secret::File(p) => Err(format!("cannot read {}: No such file", p.display())),
        }
    }

    fn net(s: &str) -> crate::ikev2::wire::TrafficSelector {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        from_prefix(a.parse::<IpAddr>().unwrap_or(OUR_V4), l.parse().unwrap_or(32))
    }

    #[test]
    fn ikev1_entry_peer_config() {
        let p = ikev1_plan(&without_default_key(), &outside_v4, &secrets, &[]);
        let names: Vec<(String, u16)> =
            p.entries.iter().map(|e| (e.map.clone(), e.sequence)).collect();
        // The IKEv2-only entry 40 is not an IKEv1 entry; 30 uses both versions.
        assert_eq!(names, [("outside_map".to_owned(), 20), ("outside_map".to_owned(), 30)]);
        let e = &p.entries[0];
        assert_eq!(e.interface, "outside");
        assert_eq!(e.acl, "to-branch");
        assert_eq!(e.connection_type, ConnectionType::Bidirectional);
        assert_eq!(e.peers.len(), 1, "192.0.2.6 has no key: {:?}", p.problems);
        let c = &e.peers[0];
        assert_eq!(c.local, SocketAddr::new(OUR_V4, 500));
        assert_eq!(c.peer, "192.0.2.5:500".parse().unwrap_or(c.local));
        assert_eq!(c.local_id, Identification::address(OUR_V4));
        assert_eq!(c.remote_id, None);
        assert_eq!(c.psk.as_bytes(), b"branch-key");
        assert_eq!(c.mode, Phase1Mode::Main);
        assert!(!c.allow_aggressive);
        assert!(c.initial_contact);
        assert!(c.nat_traversal);
        assert_eq!(c.weak_groups, WeakGroups::Reject);
        // Policies by priority: rsa-sig (5, no trustpoint) and 3DES (20) left out.
        assert_eq!(
            c.phase1,
            [
                Phase1Policy {
                    encryption_key_bits: 256,
                    hash: HashAlg::Sha256,
                    auth: AuthMethod::Psk,
                    group: SuiteDhGroup::Modp2048,
                    lifetime: Duration::from_secs(86_400),
                },
                Phase1Policy {
                    encryption_key_bits: 128,
                    hash: HashAlg::Sha1,
                    auth: AuthMethod::Psk,
                    group: SuiteDhGroup::Ecp256,
                    lifetime: Duration::from_secs(28_800),
                },
            ]
        );
        // Transform sets in the entry's order, 3DES left out (the dataplane lacks it).
        let p2 = |bits: u16, auth: u16| Phase2Policy {
            esp_id: esp_id::ESP_AES_CBC,
            key_bits: Some(bits),
            auth: Some(auth),
            mode: EncapMode::Tunnel,
            pfs: Some(SuiteDhGroup::Modp2048),
            lifetime_seconds: 3600,
            lifetime_kilobytes: 0,
        };
        assert_eq!(
            c.phase2,
            [p2(256, p2attr::AUTH_HMAC_SHA2_256), p2(128, p2attr::AUTH_HMAC_SHA1)]
        );
        // The deny rule is the SPD's business; the permit rule is the proxy identity pair.
        assert_eq!(c.selectors.local, [net("10.0.0.0/24")]);
        assert_eq!(c.selectors.remote, [net("10.3.0.0/16")]);
        assert_eq!(
            c.dpd,
            Some(Dpd {
                threshold: Duration::from_secs(30),
                retry: Duration::from_secs(5),
                retries: 5
            })
        );
        assert_eq!(c.retransmit.interval, Duration::from_millis(1500));
        assert_eq!(c.retransmit.tries, 4);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn mixed_entry_defaults_and_file_key() {
        let p = ikev1_plan(&load(BASE), &outside_v4, &secrets, &[]);
        let e = p.entries.iter().find(|e| e.sequence == 30);
        let Some(e) = e else { panic!("entry 30 missing: {:?}", p.problems) };
        assert_eq!(e.connection_type, ConnectionType::AnswerOnly);
        let c = &e.peers[0];
        assert_eq!(c.psk.as_bytes(), b"mixed-from-file");
        assert_eq!(c.dpd, None, "keepalive disable");
        // No `set pfs`, the loader's default lifetimes.
        assert_eq!(c.phase2.len(), 1);
        assert_eq!(c.phase2[0].pfs, None);
        assert_eq!(c.phase2[0].lifetime_seconds, 28_800);
        assert_eq!(c.phase2[0].lifetime_kilobytes, 4_608_000);
        let found: Vec<u16> =
            p.peers_at("192.0.2.7".parse().unwrap_or(OUR_V4)).map(|(e, _)| e.sequence).collect();
        assert_eq!(found, [30]);
        assert_eq!(p.configs().count(), 3);
        let second = p.peers_at("192.0.2.6".parse().unwrap_or(OUR_V4)).next();
        assert_eq!(second.map(|(_, c)| c.psk.as_bytes().to_vec()), Some(b"default-key".to_vec()));
    }

    #[test]
    fn problems_and_warnings() {
        let p = ikev1_plan(&without_default_key(), &outside_v4, &secrets, &[]);
        assert_eq!(
            p.problems,
            ["crypto map outside_map 20 peer 192.0.2.6: tunnel-group DefaultL2LGroup has no \
              ikev1 pre-shared-key (and no trustpoint)"]
        );
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].starts_with("crypto ikev1 policy 20: encryption 3des"));
        assert!(p.warnings[1].starts_with("crypto map outside_map 20: transform-set ts-3des:"));
        for line in p.problems.iter().chain(&p.warnings) {
            assert!(!line.contains("branch-key") && !line.contains("mixed-from-file"), "{line}");
        }
    }

    #[test]
    fn ikev1_disabled_or_no_address_or_no_policy() {
        let off = BASE.replace("ikev1 = true", "ikev1 = false");
        let p = ikev1_plan(&load(&off), &outside_v4, &secrets, &[]);
        assert!(p.entries.is_empty());
        assert_eq!(p.problems.len(), 2);
        assert!(p.problems[0].contains("IKEv1 is not enabled on interface outside"));

        let p = ikev1_plan(&load(BASE), &|_, _| None, &secrets, &[]);
        assert!(p.entries.is_empty());
        assert!(p.problems.iter().any(|l| l.ends_with("interface outside has no IPv4 address")));

        // Only the rsa-sig policy left and no trustpoint: nothing to offer in phase 1.
        let mut policy = load(BASE);
        policy.ikev1_policies.retain(|p| p.authentication == Ikev1Authentication::RsaSig);
        let p = ikev1_plan(&policy, &outside_v4, &secrets, &[]);
        assert!(p.entries.is_empty());
        assert_eq!(p.problems.len(), 3, "{:?}", p.problems);
        assert!(
            p.problems.iter().all(|l| l.contains("no usable crypto ikev1 policy: tunnel-group")
                && l.contains("has no trustpoint for the rsa-sig policies")),
            "{:?}",
            p.problems
        );
    }

    #[test]
    fn unreadable_or_empty_key_is_a_problem() {
        let mut policy = load(BASE);
        for tg in policy.tunnel_groups.iter_mut().filter(|t| t.name == "192.0.2.5") {
            tg.ikev1_pre_shared_key = Some(Secret::File("/nonexistent".into()));
        }
        let p = ikev1_plan(&policy, &outside_v4, &secrets, &[]);
        assert!(p.problems.iter().any(|l| l.starts_with(
            "crypto map outside_map 20 peer 192.0.2.5: tunnel-group 192.0.2.5 ikev1 \
             pre-shared-key: cannot read /nonexistent"
        )));
        let empty = |_: &Secret| Ok(Zeroizing::new(Vec::new()));
        let p = ikev1_plan(&load(BASE), &outside_v4, &empty, &[]);
        assert!(p.entries.is_empty());
        assert!(p.problems.iter().any(|l| l.ends_with("ikev1 pre-shared-key is empty")));
    }

    #[test]
    fn weak_pfs_refuses_the_entry() {
        let mut policy = load(BASE);
        for m in policy.crypto_maps.iter_mut().filter(|m| m.sequence == 20) {
            m.pfs = Some(PolicyDhGroup::Modp1536);
        }
        let p = ikev1_plan(&policy, &outside_v4, &secrets, &[]);
        assert!(p.entries.iter().all(|e| e.sequence != 20));
        assert!(
            p.problems.contains(
                &"crypto map outside_map 20: pfs group 5 is weak and [ike] allow_weak_dh is off"
                    .to_owned()
            )
        );
        policy.ike.allow_weak_dh = true;
        let p = ikev1_plan(&policy, &outside_v4, &secrets, &[]);
        let e = p.entries.iter().find(|e| e.sequence == 20);
        assert_eq!(e.map(|e| e.peers[0].phase2[0].pfs), Some(Some(SuiteDhGroup::Modp1536)));
        assert_eq!(e.map(|e| e.peers[0].weak_groups), Some(WeakGroups::Allow));
    }
    /// A file of the test PKI (`control/tests/data/pki`), as an absolute path.
    fn pki(name: &str) -> String {
        format!("{}/tests/data/pki/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// [`BASE`] with a trustpoint `site` (`ca`; our `cert` and `key` when given) on the
    /// tunnel group of 192.0.2.5, which keeps its key unless `drop_key`.
    fn with_trustpoint(ca: &str, ours: Option<(&str, &str)>, drop_key: bool) -> String {
        let mut tp =
            format!("[[trustpoint]]\nname = \"site\"\nca_certificates = [\"{}\"]\n", pki(ca));
        if let Some((cert, key)) = ours {
            tp.push_str(&format!(
                "certificate = \"{}\"\nprivate_key = \"{}\"\n",
                pki(cert),
                pki(key)
            ));
        }
        let old = "ikev1_pre_shared_key = \"branch-key\"\n";
        assert!(BASE.contains(old));
        let group = if drop_key {
            "trustpoint = \"site\"\n".to_owned()
        } else {
            format!("{old}trustpoint = \"site\"\n")
        };
        format!("{tp}\n{}", BASE.replace(old, &group))
    }

    fn branch(p: &Ikev1Plan) -> &Ikev1Config {
        match p.peers_at("192.0.2.5".parse().unwrap_or(OUR_V4)).next() {
            Some((_, c)) => c,
            None => panic!("192.0.2.5 not configured: {:?}", p.problems),
        }
    }

    #[test]
    fn rsa_sig_policies_sign_with_the_trustpoints_key() {
        let text = with_trustpoint("rsa-ca.pem", Some(("rsa-leaf.pem", "rsa-leaf.key.pem")), false);
        let mut policy = load(&text);
        for tg in policy.tunnel_groups.iter_mut().filter(|t| t.name == "192.0.2.5") {
            tg.peer_id_validate = crate::policy::PeerIdValidate::Required;
        }
        let p = ikev1_plan(&policy, &outside_v4, &secrets, &[]);
        let c = branch(&p);
        assert!(c.validate().is_ok());
        // The group keeps its key: the rsa-sig policy (5) first, the pre-share ones after.
        let auths: Vec<AuthMethod> = c.phase1.iter().map(|p| p.auth).collect();
        assert_eq!(auths, [AuthMethod::RsaSig, AuthMethod::Psk, AuthMethod::Psk]);
        assert_eq!(c.phase1[0].group, SuiteDhGroup::Modp2048);
        assert_eq!(c.psk.as_bytes(), b"branch-key");
        let Some(certs) = &c.certificates else { panic!("no certificates: {c:?}") };
        assert_eq!(certs.method(), Some(AuthMethod::RsaSig));
        let subjects: Vec<&str> =
            certs.remote.trust.anchors().iter().map(|a| a.subject()).collect();
        assert_eq!(subjects, ["CN=RSA Root CA,O=ferrogate test,C=XX"]);
        assert_eq!(certs.remote.id_check, crate::ikev2::sa::PeerIdCheck::Required);
        assert_eq!(certs.local.credentials.len(), 1);
        // The group without a trustpoint (192.0.2.7) is not offered the rsa-sig policy.
        let mixed = p.peers_at("192.0.2.7".parse().unwrap_or(OUR_V4)).next();
        let Some((_, mixed)) = mixed else { panic!("192.0.2.7: {:?}", p.problems) };
        assert!(mixed.certificates.is_none());
        assert!(mixed.phase1.iter().all(|p| p.auth == AuthMethod::Psk));
        for line in p.problems.iter().chain(&p.warnings) {
            assert!(!line.contains("branch-key"), "{line}");
        }
    }

    #[test]
    fn ec_keys_make_rsa_sig_policies_ecdsa_and_no_key_is_needed() {
        for (ca, leaf, key, method) in [
            ("ecp256-ca.pem", "ecp256-leaf.pem", "ecp256-leaf.key.pem", AuthMethod::EcdsaSig(256)),
            ("ecp384-ca.pem", "ecp384-leaf.pem", "ecp384-leaf.key.pem", AuthMethod::EcdsaSig(384)),
        ] {
            let text = with_trustpoint(ca, Some((leaf, key)), true);
            let p = ikev1_plan(&load(&text), &outside_v4, &secrets, &[]);
            let c = branch(&p);
            assert!(c.validate().is_ok(), "{leaf}");
            // Certificates only: no key, and only the rsa-sig policy offered, as ECDSA.
            assert!(c.psk.as_bytes().is_empty());
            let auths: Vec<AuthMethod> = c.phase1.iter().map(|p| p.auth).collect();
            assert_eq!(auths, [method], "{leaf}");
            assert_eq!(c.certificates.as_ref().and_then(Ikev1Certificates::method), Some(method));
        }
    }

    #[test]
    fn unusable_trustpoints_are_problems() {
        // No certificate of ours in the trustpoint.
        let p = ikev1_plan(
            &load(&with_trustpoint("rsa-ca.pem", None, true)),
            &outside_v4,
            &secrets,
            &[],
        );
        assert!(p.peers_at("192.0.2.5".parse().unwrap_or(OUR_V4)).next().is_none());
        assert!(
            p.problems.iter().any(|l| l.starts_with(
                "crypto map outside_map 20 peer 192.0.2.5: trustpoint site has no certificate \
                 and private key (needed by tunnel-group 192.0.2.5 for ikev1 rsa-sig"
            )),
            "{:?}",
            p.problems
        );
        // Unreadable files: the trustpoint's error, read once for every peer using it.
        let text = with_trustpoint("rsa-ca.pem", Some(("rsa-leaf.pem", "missing-key.pem")), false);
        let p = ikev1_plan(&load(&text), &outside_v4, &secrets, &[]);
        assert!(
            p.problems.iter().any(
                |l| l.starts_with("crypto map outside_map 20 peer 192.0.2.5: trustpoint site:")
            ),
            "{:?}",
            p.problems
        );
        // Neither key nor trustpoint.
        let mut policy = load(BASE);
        for tg in policy.tunnel_groups.iter_mut().filter(|t| t.name == "192.0.2.5") {
            tg.ikev1_pre_shared_key = None;
        }
        let p = ikev1_plan(&policy, &outside_v4, &secrets, &[]);
        assert!(p.problems.iter().any(|l| l.ends_with(
            "192.0.2.5: tunnel-group 192.0.2.5 has no ikev1 pre-shared-key (and no trustpoint)"
        )));
    }

    #[test]
    fn aggressive_mode_follows_the_entry_and_the_global_opt_in() {
        let p = ikev1_plan(&load(BASE), &outside_v4, &secrets, &[]);
        assert!(p.configs().all(|c| c.mode == Phase1Mode::Main && !c.allow_aggressive));

        // The global alone: answered, not initiated.
        let on = BASE.replace("[ike]\n", "[ike]\nikev1_aggressive_mode = true\n");
        let p = ikev1_plan(&load(&on), &outside_v4, &secrets, &[]);
        assert!(p.configs().all(|c| c.mode == Phase1Mode::Main && c.allow_aggressive));

        // An aggressive entry initiates with it; the other entry stays in Main Mode.
        let entry = "connection_type = \"answer-only\"\n";
        assert!(on.contains(entry));
        let agg = on.replace(entry, &format!("{entry}phase1_mode = \"aggressive\"\n"));
        let p = ikev1_plan(&load(&agg), &outside_v4, &secrets, &[]);
        for e in &p.entries {
            let want = if e.sequence == 30 { Phase1Mode::Aggressive } else { Phase1Mode::Main };
            assert!(e.peers.iter().all(|c| c.mode == want && c.allow_aggressive), "{e:?}");
            assert!(e.peers.iter().all(|c| c.validate().is_ok()));
        }
        assert_eq!(p.entries.len(), 2);
    }

    /// A dynamic entry for remote-access group `RA` (IKEv1 and IKEv2, an IPv6 pool first,
    /// then an IPv4 one), two users, and an ipsec-l2l group's dynamic entry on `inside`.
    const DYNAMIC: &str = r#"
[[access_list]]
name = "ra"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "0.0.0.0/0" }]

[[address_pool]]
name = "ra-v6"
prefix = "2001:db8:77::/64"

[[address_pool]]
name = "ra-v4"
range = "10.77.0.10-10.77.0.20"

[[user]]
name = "alice"
password = "correct horse"

[[user]]
name = "bob"
password_file = "/etc/ferrogate/users/bob"

[[crypto_map]]
name = "outside_map"
sequence = 65535
dynamic = true
tunnel_group = "RA"
match = "ra"
ikev1_transform_sets = ["ts-aes256-sha256"]
ikev2_proposals = ["p-cbc"]

[[tunnel_group]]
name = "RA"
type = "remote-access"
ikev1_pre_shared_key = "ra-group-key"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "l"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "r"
address_pools = ["ra-v6", "ra-v4"]
dns_servers = ["10.0.0.53", "2001:db8::53"]
default_domain = "corp.example"

[[crypto_map]]
name = "inside_map"
sequence = 100
dynamic = true
tunnel_group = "any-site"
match = "to-mixed"
ikev1_transform_sets = ["ts-aes128-sha1"]

[[crypto_interface]]
interface = "inside"
crypto_map = "inside_map"
ikev1 = true

[[tunnel_group]]
name = "any-site"
type = "ipsec-l2l"
ikev1_pre_shared_key = "any-site-key"
"#;

    fn both_v4(_: &str, peer: IpAddr) -> Option<IpAddr> {
        peer.is_ipv4().then_some(OUR_V4)
    }

    #[test]
    fn a_dynamic_remote_access_entry_serves_xauth_clients_from_the_shared_pools() {
        let policy = load(&format!("{BASE}{DYNAMIC}"));
        let v2 = crate::policy::ikev2_peers::ikev2_plan(&policy, &both_v4, &secrets);
        let p = ikev1_plan(&policy, &both_v4, &secrets, &v2.address_pools);
        // bob's password file cannot be read: he is left out, alice stays.
        assert_eq!(
            p.problems,
            ["user bob: password: cannot read /etc/ferrogate/users/bob: No such file"]
        );
        assert!(
            p.warnings.iter().any(|w| w.contains("dns-server 2001:db8::53: IKEv1 Mode Config")),
            "{:?}",
            p.warnings
        );
        let keys: Vec<(&str, u16, bool)> =
            p.entries.iter().map(|e| (e.map.as_str(), e.sequence, e.dynamic)).collect();
        assert_eq!(
            keys,
            [
                ("inside_map", 100, true),
                ("outside_map", 20, false),
                ("outside_map", 30, false),
                ("outside_map", 65535, true),
            ]
        );
        let ra = &p.entries[3];
        assert_eq!(ra.connection_type, ConnectionType::AnswerOnly);
        let [c] = ra.peers.as_slice() else { panic!("{:?}", ra.peers) };
        assert!(c.peer.ip().is_unspecified() && c.peer.is_ipv4());
        assert_eq!(c.local, SocketAddr::new(OUR_V4, 500));
        assert_eq!(c.remote_id, None);
        assert_eq!(c.psk.as_bytes(), b"ra-group-key");
        assert_eq!(c.selectors.remote, vec![net("0.0.0.0/0")]);
        let Some(RemoteAccess::Server(server)) = &c.remote_access else {
            panic!("{:?}", c.remote_access)
        };
        assert!(server.users.check("alice", b"correct horse"));
        assert!(!server.users.check("bob", b""));
        assert_eq!(server.users.len(), 1);
        // Only the IPv4 pool, and the very handle the IKEv2 plan gives IKEv2 clients.
        let [pool] = server.pools.as_slice() else { panic!("{:?}", server.pools) };
        assert_eq!(pool.name(), "ra-v4");
        assert!(v2.address_pools.iter().any(|p| p.same_pool(pool)));
        let v2_server = match v2.remote_access_group("RA") {
            Some(crate::ikev2::sa::RemoteAccess::Server(s)) => s,
            other => panic!("{other:?}"),
        };
        assert!(v2_server.pools.iter().any(|p| p.same_pool(pool)));
        assert_eq!(server.dns, [core::net::Ipv4Addr::new(10, 0, 0, 53)]);
        assert_eq!(server.domain.as_deref(), Some("corp.example"));
        // The ipsec-l2l group's dynamic entry: any peer, its key, no XAUTH.
        let l2l = &p.entries[0].peers[0];
        assert!(l2l.peer.ip().is_unspecified() && l2l.remote_access.is_none());
        assert_eq!(l2l.psk.as_bytes(), b"any-site-key");
    }

    #[test]
    fn a_dynamic_remote_access_entry_needs_users_and_an_ipv4_pool() {
        let mut policy = load(&format!("{BASE}{DYNAMIC}"));
        policy.users.clear();
        let v2 = crate::policy::ikev2_peers::ikev2_plan(&policy, &both_v4, &secrets);
        let p = ikev1_plan(&policy, &both_v4, &secrets, &v2.address_pools);
        assert_eq!(
            p.problems,
            ["crypto map outside_map 65535 (dynamic): tunnel-group RA is remote-access: IKEv1 \
              clients authenticate with XAUTH, and there is no usable [[user]]"]
        );
        assert!(p.entries.iter().all(|e| e.sequence != 65535));
        // (The loader refuses both; a hand-built policy may have them.)
        let mut policy = load(&format!("{BASE}{DYNAMIC}"));
        policy.users.retain(|u| u.name == "alice");
        for tg in policy.tunnel_groups.iter_mut().filter(|t| t.name == "RA") {
            tg.address_pools = vec!["ra-v6".into()];
        }
        let v2 = crate::policy::ikev2_peers::ikev2_plan(&policy, &both_v4, &secrets);
        let p = ikev1_plan(&policy, &both_v4, &secrets, &v2.address_pools);
        assert_eq!(
            p.problems,
            ["crypto map outside_map 65535 (dynamic): tunnel-group RA has no IPv4 address pool \
              (IKEv1 Mode Config gives IPv4 addresses)"]
        );
        // Without the pool handles (a caller that passes none) the same.
        let p = ikev1_plan(&load(&format!("{BASE}{DYNAMIC}")), &both_v4, &secrets, &[]);
        assert!(
            p.problems.iter().any(|l| l.contains("has no IPv4 address pool")),
            "{:?}",
            p.problems
        );
    }
}
