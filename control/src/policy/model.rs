//! The typed, validated policy: what the IKE daemons and the dataplane programming read.
//!
//! Each type names the ASA command it corresponds to. Lists are in canonical order after a
//! load: policies by priority, crypto map entries by (name, sequence), named objects by
//! name, algorithm lists most- to least-secure.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use dataplane::spd::IpPrefix;
use zeroize::Zeroizing;

use super::acl::AccessList;
use super::algorithms::{DhGroup, EspEncryption, EspIntegrity, IkeEncryption, IkeIntegrity, Prf};
use super::keywords::keyword_enum;
use crate::failover::ClusterMode;

/// Everything `control::policy` loads from the config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyConfig {
    /// `[ike]`: global IKE settings.
    pub ike: IkeGlobals,
    /// `[[access_list]]`, by name.
    pub access_lists: Vec<AccessList>,
    /// `[[ikev1_policy]]`, by priority.
    pub ikev1_policies: Vec<Ikev1Policy>,
    /// `[[ikev2_policy]]`, by priority.
    pub ikev2_policies: Vec<Ikev2Policy>,
    /// `[[transform_set]]`, by name.
    pub transform_sets: Vec<TransformSet>,
    /// `[[ipsec_proposal]]`, by name.
    pub ipsec_proposals: Vec<IpsecProposal>,
    /// `[[crypto_map]]`, by (name, sequence).
    pub crypto_maps: Vec<CryptoMapEntry>,
    /// `[[crypto_interface]]`, by interface name.
    pub crypto_interfaces: Vec<CryptoInterface>,
    /// `[[trustpoint]]`, by name.
    pub trustpoints: Vec<Trustpoint>,
    /// `[[address_pool]]`, by name.
    pub address_pools: Vec<AddressPool>,
    /// `[[tunnel_group]]`, by name.
    pub tunnel_groups: Vec<TunnelGroup>,
    /// `[[user]]`: the local user database (XAUTH), by name.
    pub users: Vec<LocalUser>,
    /// `[ha]`, if present.
    pub ha: Option<HaConfig>,
    /// `[cluster]`, if present (never together with `[ha]`).
    pub cluster: Option<ClusterConfig>,
    /// `[management]`.
    pub management: Management,
}

impl PolicyConfig {
    /// The access list with this name.
    pub fn access_list(&self, name: &str) -> Option<&AccessList> {
        self.access_lists.iter().find(|a| a.name == name)
    }

    /// The transform set with this name.
    pub fn transform_set(&self, name: &str) -> Option<&TransformSet> {
        self.transform_sets.iter().find(|t| t.name == name)
    }

    /// The IPsec proposal with this name.
    pub fn ipsec_proposal(&self, name: &str) -> Option<&IpsecProposal> {
        self.ipsec_proposals.iter().find(|p| p.name == name)
    }

    /// The tunnel group with this name.
    pub fn tunnel_group(&self, name: &str) -> Option<&TunnelGroup> {
        self.tunnel_groups.iter().find(|t| t.name == name)
    }

    /// The tunnel group that authenticates `peer` on a LAN-to-LAN crypto map: the one named
    /// by the address, else `DefaultL2LGroup` (the ASA's lookup).
    pub fn tunnel_group_for_peer(&self, peer: IpAddr) -> Option<&TunnelGroup> {
        self.tunnel_group(&peer.to_string()).or_else(|| self.tunnel_group(DEFAULT_L2L_GROUP))
    }

    /// The crypto map entry `(name, sequence)`.
    pub fn crypto_map(&self, name: &str, sequence: u16) -> Option<&CryptoMapEntry> {
        self.crypto_maps.iter().find(|m| m.name == name && m.sequence == sequence)
    }

    /// How this unit is clustered, for [`crate::failover::check_cluster_mode`].
    pub fn cluster_mode(&self) -> ClusterMode {
        self.cluster.as_ref().map_or(ClusterMode::Off, |c| c.mode.failover_mode())
    }
}

/// The ASA's default LAN-to-LAN tunnel group, used for peers without their own.
pub const DEFAULT_L2L_GROUP: &str = "DefaultL2LGroup";

keyword_enum! {
    /// How we identify ourselves in IKE (`crypto isakmp identity`).
    pub enum IkeIdentity {
        /// Our IP address.
        Address = "address",
        /// Our host name.
        Hostname = "hostname",
        /// Address for pre-shared keys, certificate DN for certificates.
        Auto = "auto",
    }
}

/// `[ike]`: global IKE settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeGlobals {
    /// Accept DH groups 1, 2, 5 and 24.
    pub allow_weak_dh: bool,
    /// `crypto isakmp identity`.
    pub identity: IkeIdentity,
    /// `crypto isakmp nat-traversal N`; 0 disables keepalives.
    pub nat_keepalive_seconds: u32,
    /// First retransmission timeout; doubles each try.
    pub retransmit_interval_ms: u32,
    /// Retransmissions before the final try.
    pub retransmit_tries: u32,
    /// Default DPD threshold (`isakmp keepalive threshold`).
    pub dpd_interval_seconds: u32,
    /// Default DPD retry (`isakmp keepalive retry`).
    pub dpd_retry_seconds: u32,
    /// Half-open load (percent of `max_half_open`) above which COOKIEs are demanded
    /// (`crypto ikev2 cookie-challenge`).
    pub cookie_threshold_percent: u32,
    /// Half-open SA limit (`crypto ikev2 limit max-in-negotiation-sa`).
    pub max_half_open: u32,
    /// Half-open SA limit per peer address.
    pub max_half_open_per_peer: u32,
    /// Accept inbound traffic only on the first SA of a pair of peers, as the ASA does.
    pub single_sa: bool,
    /// Allow IKEv1 Aggressive Mode: answer it, and initiate it where a crypto map entry
    /// sets `phase1_mode = "aggressive"` (the inverse of `crypto ikev1 am-disable`). Off by
    /// default: with a pre-shared key its second message exposes a crackable hash of the
    /// key.
    pub ikev1_aggressive_mode: bool,
    /// IKEv2 fragmentation (RFC 7383) announced and used: `crypto ikev2 fragmentation` (on
    /// by default on the ASA); false is `no crypto ikev2 fragmentation`.
    pub ikev2_fragmentation: bool,
    /// Largest IP datagram of an encrypted IKEv2 message before it goes in fragments
    /// (`crypto ikev2 fragmentation mtu N`, 576..1500).
    pub ikev2_fragmentation_mtu: u32,
}

/// The ASA's `crypto ikev2 fragmentation mtu` default.
pub const DEFAULT_IKEV2_FRAGMENTATION_MTU: u32 = 576;

impl Default for IkeGlobals {
    fn default() -> Self {
        IkeGlobals {
            allow_weak_dh: false,
            identity: IkeIdentity::Address,
            nat_keepalive_seconds: 20,
            retransmit_interval_ms: 2000,
            retransmit_tries: 5,
            dpd_interval_seconds: 10,
            dpd_retry_seconds: 2,
            cookie_threshold_percent: 50,
            max_half_open: 10000,
            max_half_open_per_peer: 50,
            single_sa: false,
            ikev1_aggressive_mode: false,
            ikev2_fragmentation: true,
            ikev2_fragmentation_mtu: DEFAULT_IKEV2_FRAGMENTATION_MTU,
        }
    }
}

keyword_enum! {
    /// IKEv1 phase 1 authentication (`authentication pre-share|rsa-sig`).
    pub enum Ikev1Authentication {
        /// Pre-shared key.
        PreShare = "pre-share",
        /// Signatures with certificates: the trustpoint's key decides the method, RSA or
        /// ECDSA (an EC key signs with ECDSA; the ASA's keyword is kept).
        RsaSig = "rsa-sig",
    }
}

/// `crypto ikev1 policy PRIORITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ikev1Policy {
    /// Lower is tried first (1..65535).
    pub priority: u16,
    /// `authentication`.
    pub authentication: Ikev1Authentication,
    /// `encryption` (CBC ciphers only).
    pub encryption: IkeEncryption,
    /// `hash`.
    pub hash: Prf,
    /// `group`.
    pub group: DhGroup,
    /// `lifetime` in seconds.
    pub lifetime_seconds: u32,
}

/// `crypto ikev2 policy PRIORITY`. Every list is sorted most- to least-secure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ikev2Policy {
    /// Lower is tried first (1..65535).
    pub priority: u16,
    /// `encryption`.
    pub encryption: Vec<IkeEncryption>,
    /// `integrity`.
    pub integrity: Vec<IkeIntegrity>,
    /// `prf`.
    pub prf: Vec<Prf>,
    /// `group`.
    pub groups: Vec<DhGroup>,
    /// `lifetime seconds`.
    pub lifetime_seconds: u32,
}

keyword_enum! {
    /// IPsec encapsulation mode (`mode tunnel|transport`).
    pub enum IpsecMode {
        /// Tunnel mode.
        Tunnel = "tunnel",
        /// Transport mode.
        Transport = "transport",
    }
}

/// `crypto ipsec ikev1 transform-set NAME ENCRYPTION INTEGRITY` (+ `mode`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransformSet {
    /// Name.
    pub name: String,
    /// ESP cipher.
    pub encryption: EspEncryption,
    /// ESP integrity.
    pub integrity: EspIntegrity,
    /// Mode.
    pub mode: IpsecMode,
}

/// `crypto ipsec ikev2 ipsec-proposal NAME` / `protocol esp encryption|integrity ...`.
/// Lists sorted most- to least-secure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpsecProposal {
    /// Name.
    pub name: String,
    /// `protocol esp encryption`.
    pub encryption: Vec<EspEncryption>,
    /// `protocol esp integrity`.
    pub integrity: Vec<EspIntegrity>,
}

keyword_enum! {
    /// An IKE version a crypto map uses.
    pub enum IkeVersion {
        /// IKEv1 (ISAKMP).
        Ikev1 = "ikev1",
        /// IKEv2.
        Ikev2 = "ikev2",
    }
}

keyword_enum! {
    /// `crypto map NAME SEQ set connection-type`.
    pub enum ConnectionType {
        /// Only accept tunnels.
        AnswerOnly = "answer-only",
        /// Only initiate tunnels.
        OriginateOnly = "originate-only",
        /// Both (the default; IKEv2 multi-peer requires it).
        Bidirectional = "bidirectional",
    }
}

keyword_enum! {
    /// `crypto map NAME SEQ set ikev1 phase1-mode`: the IKEv1 phase-1 exchange we initiate.
    pub enum Ikev1Phase1Mode {
        /// Main Mode (six messages, identities encrypted; the default).
        Main = "main",
        /// Aggressive Mode (three messages). Needs `[ike] ikev1_aggressive_mode = true`: with
        /// a pre-shared key its second message carries a hash of the key an eavesdropper can
        /// attack offline.
        Aggressive = "aggressive",
    }
}

/// `set security-association lifetime kilobytes N|unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KilobyteLifetime {
    /// Rekey after this many kilobytes.
    Limited(u32),
    /// No volume limit.
    Unlimited,
}

/// One crypto map entry (`crypto map NAME SEQ ...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CryptoMapEntry {
    /// Map name (`crypto map NAME`).
    pub name: String,
    /// Sequence (1..65535), unique per map name.
    pub sequence: u16,
    /// `match address ACL`.
    pub match_address: String,
    /// `set peer`: 1..10 addresses in failover order; empty on a dynamic entry.
    pub peers: Vec<IpAddr>,
    /// The IKE versions tried per peer, in order (on a dynamic entry: those it answers).
    pub ike_versions: Vec<IkeVersion>,
    /// `set ikev1 transform-set`.
    pub ikev1_transform_sets: Vec<String>,
    /// `set ikev2 ipsec-proposal`.
    pub ikev2_proposals: Vec<String>,
    /// `set pfs groupN`; `None`: no PFS.
    pub pfs: Option<DhGroup>,
    /// `set security-association lifetime seconds`.
    pub lifetime_seconds: u32,
    /// `set security-association lifetime kilobytes`.
    pub lifetime_kilobytes: KilobyteLifetime,
    /// `set connection-type` (always answer-only on a dynamic entry).
    pub connection_type: ConnectionType,
    /// `set security-association replay window-size`; 0 disables anti-replay.
    pub replay_window: u16,
    /// `false` = `set nat-t-disable`.
    pub nat_t: bool,
    /// `set reverse-route`.
    pub reverse_route: bool,
    /// `set ikev1 phase1-mode`: the phase-1 exchange we initiate IKEv1 with (Aggressive
    /// only where `[ike] ikev1_aggressive_mode` is on).
    pub phase1_mode: Ikev1Phase1Mode,
    /// A dynamic entry (`crypto map NAME SEQ ipsec-isakmp dynamic DYN-MAP`, `dynamic =
    /// true`): no `peers`, it answers any peer that authenticates with its tunnel group
    /// (remote-access clients, or LAN-to-LAN peers whose address is not known), responder
    /// only; its selectors are the peer's, narrowed to `match`. Either IKE version (a
    /// remote-access group's IKEv1 clients log in with XAUTH against the `[[user]]`s); at
    /// most one per map name.
    pub dynamic: bool,
    /// The tunnel group a dynamic entry's peers authenticate with (`tunnel_group`, required
    /// when dynamic; remote access: its address pools, at least one, and DNS servers);
    /// `None` for a static entry, whose peers use the group named by their address.
    pub tunnel_group: Option<String>,
}

impl CryptoMapEntry {
    /// Whether the entry uses this IKE version.
    pub fn uses(&self, v: IkeVersion) -> bool {
        self.ike_versions.contains(&v)
    }
}

keyword_enum! {
    /// `crypto ipsec fragmentation before-encryption|after-encryption`.
    pub enum Fragmentation {
        /// Fragment the plaintext, then encrypt each fragment.
        BeforeEncryption = "before-encryption",
        /// Encrypt, then fragment the ESP packet.
        AfterEncryption = "after-encryption",
    }
}

keyword_enum! {
    /// `crypto ipsec df-bit copy-df|set-df|clear-df`.
    pub enum DfBit {
        /// Copy the inner DF bit.
        Copy = "copy",
        /// Always set DF.
        Set = "set",
        /// Always clear DF.
        Clear = "clear",
    }
}

/// What runs on one interface: `crypto map NAME interface IF`, `crypto ikev1|ikev2 enable
/// IF`, `crypto ipsec fragmentation ... IF`, `crypto ipsec df-bit ... IF`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CryptoInterface {
    /// The dataplane interface name.
    pub interface: String,
    /// The crypto map applied to it.
    pub crypto_map: Option<String>,
    /// IKEv1 enabled.
    pub ikev1: bool,
    /// IKEv2 enabled.
    pub ikev2: bool,
    /// Fragmentation policy.
    pub fragmentation: Fragmentation,
    /// DF bit policy.
    pub df_bit: DfBit,
}

/// `crypto ca trustpoint NAME` with its enrolled certificates (paths; not read here).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Trustpoint {
    /// Name.
    pub name: String,
    /// CA certificates (PEM), at least one.
    pub ca_certificates: Vec<PathBuf>,
    /// Our certificate.
    pub certificate: Option<PathBuf>,
    /// Our private key (present exactly when `certificate` is).
    pub private_key: Option<PathBuf>,
}

/// `ip local pool NAME FIRST-LAST` or `ipv6 local pool NAME PREFIX N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolRange {
    /// IPv4 addresses `first..=last`.
    V4 {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
    /// One /128 per client from this IPv6 prefix.
    V6(IpPrefix),
}

impl PoolRange {
    /// Whether two pools share an address.
    pub fn overlaps(&self, other: &PoolRange) -> bool {
        match (self, other) {
            (PoolRange::V4 { first: a, last: b }, PoolRange::V4 { first: c, last: d }) => {
                a <= d && c <= b
            }
            (PoolRange::V6(p), PoolRange::V6(q)) => p.contains(q.addr()) || q.contains(p.addr()),
            _ => false,
        }
    }
}

impl fmt::Display for PoolRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolRange::V4 { first, last } => write!(f, "{first}-{last}"),
            PoolRange::V6(p) => write!(f, "{p}"),
        }
    }
}

/// `username NAME password PASSWORD`: a local user remote-access clients authenticate as
/// (IKEv1 XAUTH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// User name.
    pub name: String,
    /// `password` or `password_file`.
    pub password: Secret,
}

/// A remote-access address pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressPool {
    /// Name.
    pub name: String,
    /// Addresses.
    pub range: PoolRange,
}

/// A pre-shared key or HA key: inline (zeroized on drop) or a file to read at start-up.
/// `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The key itself.
    Inline(Zeroizing<String>),
    /// A file holding the key (`*_file` keys); read by the caller, not here.
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret(<hidden>)"),
            Secret::File(p) => f.debug_tuple("SecretFile").field(p).finish(),
        }
    }
}

keyword_enum! {
    /// `tunnel-group NAME type ...`.
    pub enum TunnelGroupType {
        /// LAN-to-LAN; the name is the peer's address.
        IpsecL2l = "ipsec-l2l",
        /// Remote access.
        RemoteAccess = "remote-access",
    }
}

keyword_enum! {
    /// `ikev2 local-authentication|remote-authentication ...`.
    pub enum Ikev2Authentication {
        /// Pre-shared key.
        PreSharedKey = "pre-shared-key",
        /// Certificate (needs a trustpoint).
        Certificate = "certificate",
    }
}

keyword_enum! {
    /// `peer-id-validate`.
    pub enum PeerIdValidate {
        /// The peer's identity must match its certificate.
        Required = "required",
        /// Check if the peer's certificate allows it.
        IfSupported = "if-supported",
        /// Validate against the certificate only.
        Cert = "cert",
        /// Do not check.
        NoCheck = "nocheck",
    }
}

/// `isakmp keepalive threshold N retry M` or `isakmp keepalive disable` (DPD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keepalive {
    /// No DPD.
    Disabled,
    /// DPD after `threshold` seconds of silence, retried every `retry` seconds.
    Enabled {
        /// Seconds of silence before a check (10..3600).
        threshold: u32,
        /// Retry interval (2..10).
        retry: u32,
    },
}

/// `tunnel-group NAME type ...` with its `ipsec-attributes` and `general-attributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelGroup {
    /// Name (the peer's address for `ipsec-l2l`).
    pub name: String,
    /// Type.
    pub kind: TunnelGroupType,
    /// `ikev1 pre-shared-key`.
    pub ikev1_pre_shared_key: Option<Secret>,
    /// `ikev2 local-authentication`.
    pub ikev2_local_authentication: Option<Ikev2Authentication>,
    /// `ikev2 local-authentication pre-shared-key KEY`.
    pub ikev2_local_pre_shared_key: Option<Secret>,
    /// `ikev2 remote-authentication`.
    pub ikev2_remote_authentication: Option<Ikev2Authentication>,
    /// `ikev2 remote-authentication pre-shared-key KEY`.
    pub ikev2_remote_pre_shared_key: Option<Secret>,
    /// `ikev1 trust-point` / `ikev2 local-authentication certificate TP`.
    pub trustpoint: Option<String>,
    /// `peer-id-validate`.
    pub peer_id_validate: PeerIdValidate,
    /// `isakmp keepalive` (absent in the file: the `[ike]` DPD defaults).
    pub keepalive: Keepalive,
    /// `address-pool` (remote access).
    pub address_pools: Vec<String>,
    /// `dns-server value` (remote access).
    pub dns_servers: Vec<IpAddr>,
    /// `default-domain value` (remote access).
    pub default_domain: Option<String>,
}

keyword_enum! {
    /// `failover lan unit primary|secondary`.
    pub enum HaRole {
        /// Primary unit.
        Primary = "primary",
        /// Secondary unit.
        Secondary = "secondary",
    }
}

/// `[ha]`: failover (`failover lan interface`, `failover key`, `failover polltime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// Role.
    pub role: HaRole,
    /// The failover link's interface.
    pub interface: String,
    /// Our address on it.
    pub local: IpAddr,
    /// The mate's address.
    pub peer: IpAddr,
    /// `failover key` (or `key_file`).
    pub key: Secret,
    /// Hello interval (`failover polltime unit msec`).
    pub poll_ms: u32,
    /// Declare the mate failed after this much silence (`holdtime`).
    pub hold_ms: u32,
    /// Seconds before a recovered primary takes over again; 0 = never.
    pub preempt_seconds: u32,
}

keyword_enum! {
    /// How a cluster runs site-to-site VPN (`cluster group NAME` / `vpn-mode`).
    pub enum ClusterVpnMode {
        /// The control unit runs IKE; every unit follows its crypto-map peer index (the
        /// ASA's default).
        Centralized = "centralized",
        /// Every unit runs IKE (`vpn-mode distributed`). Refuses IKEv2 multi-peer crypto
        /// maps.
        Distributed = "distributed",
    }
}

keyword_enum! {
    /// This unit's part in the cluster. The ASA elects its control node; here it is
    /// configured, as `[ha] role` names the failover unit.
    pub enum ClusterRole {
        /// The control node: in centralized mode it runs IKE and moves the peer index.
        Control = "control",
        /// A data node: in centralized mode it adopts the control node's peer index.
        Data = "data",
    }
}

/// The largest cluster the ASA forms (16 units): `peers` lists the other units.
pub const MAX_CLUSTER_UNITS: usize = 16;

/// `[cluster]`: clustering (`cluster group NAME`, `cluster-interface`, `vpn-mode`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterConfig {
    /// The cluster's name (`cluster group NAME`).
    pub name: String,
    /// Centralized or distributed VPN.
    pub mode: ClusterVpnMode,
    /// This unit's role.
    pub role: ClusterRole,
    /// The cluster control link's interface.
    pub interface: String,
    /// Our address on it.
    pub local: IpAddr,
    /// The other units' addresses on it, 1..15, none equal to `local`.
    pub peers: Vec<IpAddr>,
}

impl ClusterVpnMode {
    /// The mode as the failover engine's check takes it.
    pub fn failover_mode(self) -> ClusterMode {
        match self {
            ClusterVpnMode::Centralized => ClusterMode::Centralized,
            ClusterVpnMode::Distributed => ClusterMode::Distributed,
        }
    }
}

impl ClusterConfig {
    /// Whether this unit negotiates IKE: every unit in distributed mode, only the control
    /// node in centralized mode.
    pub fn runs_ike(&self) -> bool {
        self.mode == ClusterVpnMode::Distributed || self.role == ClusterRole::Control
    }
}

/// `[management]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Management {
    /// Prometheus endpoint; `None`: off.
    pub metrics: Option<SocketAddr>,
    /// User to drop to after DPDK start.
    pub user: Option<String>,
    /// Group to drop to.
    pub group: Option<String>,
}
