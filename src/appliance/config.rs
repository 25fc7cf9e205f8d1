//! The appliance sections of a config file, beside the profile's `[eal]`, `[mempool]`,
//! `[run]` and `[[port]]`:
//!
//! ```toml
//! [[interface]]
//! name = "inside"
//! port = "lan"                    # a [[port]] name
//! role = "inside"                 # or "outside"
//! address = "10.1.0.1/24"         # or a list
//! mac = "02:00:00:00:01:01"       # default: the port's MAC
//! vlan = 10                       # default: untagged
//! mtu = 1500
//!
//! [[route]]
//! destination = "10.2.0.0/16"
//! interface = "outside"
//! via = "192.0.2.2"               # default: connected
//!
//! [[neighbour]]                   # static ARP entry (never aged, never overwritten)
//! interface = "outside"
//! address = "192.0.2.2"
//! mac = "02:00:00:00:02:01"
//!
//! [[sa]]                          # static (manual) SA: the keys of `ferrogate esp` SA files
//! tunnel = "site-b"               # groups SAs for `show crypto ipsec sa`
//! direction = "outbound"          # or "inbound"
//! spi = 0x1001
//! transform = "aes128gcm16"
//! enc_key = "0x..."
//! local = "192.0.2.1"
//! remote = "192.0.2.2"
//!
//! [[policy]]                      # ordered; the first match decides
//! src = "10.1.0.0/16"
//! dst = "10.2.0.0/16"
//! protocol = "any"                # any | tcp | udp | icmp | 0..=255
//! src_port = "any"                # any | 80 | "1000-2000" (ICMP: type)
//! dst_port = "any"                # (ICMP: code)
//! action = "protect"              # protect | bypass | discard
//! sa = 0x1001                     # protect: the outbound SA's SPI
//!
//! [dataplane]
//! default_action = "bypass"       # for traffic no policy matches
//! sa_capacity = 4096              # SA table slots each way
//! flow_cache = 65536              # per-worker 5-tuple cache entries
//! neighbours = 16384              # per-worker ARP (and ND) entries: next hops on links
//!
//! [operator]
//! socket = "/run/ferrogate/lab.sock"   # default: /run/ferrogate/<file_prefix>.sock
//! ```
//!
//! An outbound SA with `match_src`/`match_dst` is shorthand for a protect policy, placed
//! after the explicit ones. What an inbound SA decrypts must match the mirror of its
//! tunnel's protect policies (the inbound policy check of RFC 4301 5.2), or its own
//! `match_src` (the peer's networks) and `match_dst` (ours) when given; other packets are
//! dropped and counted as `policy-mismatch`. Every error names the file, line, column and
//! field.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use dataplane::l3::Role;
use dataplane::sa::Direction;
use dataplane::spd::{IpPrefix, PortRange};
use dataplane::wire::IpProtocol;
use serde::Deserialize;
use toml::Spanned;

use crate::esp_tool::sa_file::{self, RawSa, SaFileError, SaSpec};
use crate::profile::{Ctx, ErrorKind, Profile, ProfileError};

/// The whole appliance configuration: the DPDK profile and the dataplane's state.
#[derive(Debug, Clone)]
pub struct ApplianceConfig {
    pub profile: Profile,
    pub interfaces: Vec<InterfaceConfig>,
    pub routes: Vec<RouteConfig>,
    pub neighbours: Vec<NeighbourConfig>,
    pub sas: Vec<StaticSa>,
    /// In order; the first match decides.
    pub policies: Vec<PolicyConfig>,
    pub dataplane: DataplaneSettings,
    /// The operator socket; `None`: the default for the instance.
    pub operator_socket: Option<PathBuf>,
    /// The file as parsed, section by section: a reload compares the new file with it.
    pub document: Document,
    /// The crypto policy (crypto maps, IKE policies, tunnel groups, ...): empty unless
    /// loaded with [`ApplianceConfig::load_full`].
    pub policy: control::policy::PolicyConfig,
    /// What the policy load warned about (weak algorithms, removed references).
    pub warnings: Vec<String>,
}

/// Everything wrong with a config file: every error of the appliance part and of the
/// crypto policy.
#[derive(Debug)]
pub struct ConfigErrors {
    /// The appliance part's errors: every item (route, neighbour, SA, policy, ...) that is
    /// wrong, each once; a file that does not parse as TOML, or whose interfaces are wrong,
    /// gives that one error (what follows depends on it).
    pub appliance: Vec<ProfileError>,
    pub policy: Vec<String>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for line in
            self.appliance.iter().map(ToString::to_string).chain(self.policy.iter().cloned())
        {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            f.write_str(&line)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// With `[ha]`: `local` must be an address of the failover interface, which must not
/// also have standby addresses (it keeps its own in both roles). The error names the
/// file, the line of `[ha]`'s field and the field.
fn ha_addresses(path: &Path, text: &str, c: &ApplianceConfig) -> Option<String> {
    let ha = c.policy.ha.as_ref()?;
    let line_of = |key: &str| {
        let start = text.lines().position(|l| l.trim() == "[ha]")?;
        text.lines()
            .enumerate()
            .skip(start + 1)
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| l.trim_start().starts_with(key))
            .map(|(n, _)| n + 1)
    };
    let at = |key: &str| match line_of(key) {
        Some(n) => format!("{}:{n}: ha.{key}", path.display()),
        None => format!("{}: ha.{key}", path.display()),
    };
    let iface = c.interfaces.iter().find(|i| i.name == ha.interface)?;
    if !iface.addresses.iter().any(|(a, _)| *a == ha.local) {
        return Some(format!(
            "{}: {} is not an address of interface {} (its addresses: {:?})",
            at("local"),
            ha.local,
            iface.name,
            iface.addresses.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>()
        ));
    }
    if !iface.standby_addresses.is_empty() {
        return Some(format!(
            "{}: interface {} carries the failover link and keeps its address in both \
             roles; remove its standby_address",
            at("interface"),
            iface.name
        ));
    }
    None
}

impl ApplianceConfig {
    /// The files that must not be readable by others: the config file itself when it holds
    /// a pre-shared key or the failover key inline, every `*_file` key file, and every
    /// trustpoint's private key.
    pub fn secret_files(&self) -> Vec<PathBuf> {
        use control::policy::Secret;
        let pol = &self.policy;
        let mut inline = false;
        let mut files = Vec::new();
        let mut note = |s: &Secret| match s {
            Secret::Inline(_) => inline = true,
            Secret::File(p) => files.push(p.clone()),
        };
        for g in &pol.tunnel_groups {
            for s in [
                &g.ikev1_pre_shared_key,
                &g.ikev2_local_pre_shared_key,
                &g.ikev2_remote_pre_shared_key,
            ]
            .into_iter()
            .flatten()
            {
                note(s);
            }
        }
        if let Some(ha) = &pol.ha {
            note(&ha.key);
        }
        files.extend(pol.trustpoints.iter().filter_map(|t| t.private_key.clone()));
        if inline {
            files.insert(0, self.profile.path.clone());
        }
        files
    }

    /// Refuses (with the fix) any [`ApplianceConfig::secret_files`] that group or others
    /// may read, or that another user owns.
    pub fn check_secret_files(&self) -> Result<(), String> {
        let errors: Vec<String> = self
            .secret_files()
            .iter()
            .filter_map(|p| crate::privilege::check_secret_file(p).err().map(|e| e.to_string()))
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
    }
}

impl ConfigErrors {
    /// How many errors.
    pub fn count(&self) -> usize {
        self.appliance.len() + self.policy.len()
    }
}

/// A config file's TOML document. Its `Debug` prints only the section names: the document
/// holds keys.
#[derive(Clone, Default, PartialEq)]
pub struct Document(pub toml::Table);

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One L3 interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub name: String,
    /// Index into `profile.ports`.
    pub port: usize,
    pub role: Role,
    /// IPv4 and IPv6 addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    pub mac: Option<[u8; 6]>,
    /// With `[ha]`: the addresses while this unit is not active (the active one holds
    /// `addresses`); empty: none while standby (the failover interface keeps `addresses`).
    pub standby_addresses: Vec<(IpAddr, u8)>,
    /// With `[ha]`: the MAC while not active; `None`: the port's own.
    pub standby_mac: Option<[u8; 6]>,
    pub vlan: Option<u16>,
    pub mtu: u16,
}

/// A static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    pub destination: (IpAddr, u8),
    /// Index into `interfaces`.
    pub interface: usize,
    pub via: Option<IpAddr>,
}

/// A static neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// Index into `interfaces`.
    pub interface: usize,
    pub address: IpAddr,
    pub mac: [u8; 6],
}

/// A static SA.
#[derive(Debug, Clone)]
pub struct StaticSa {
    pub tunnel: String,
    pub direction: Direction,
    pub spec: SaSpec,
}

/// What a policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    /// Encrypt with the outbound SA of this SPI.
    Protect {
        sa: u32,
    },
    Bypass,
    Discard,
    /// Encrypt with whatever SA IKE negotiates for crypto map entry `entry` (an index into
    /// `policy.crypto_maps`); until then the traffic triggers an ACQUIRE.
    CryptoMap {
        entry: u32,
    },
}

/// One SPD entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyConfig {
    pub src: IpPrefix,
    pub dst: IpPrefix,
    pub protocol: Option<IpProtocol>,
    pub src_ports: PortRange,
    pub dst_ports: PortRange,
    pub action: PolicyAction,
}

/// Sizes and the default policy action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataplaneSettings {
    /// For packets no policy matches: `Bypass` or `Discard`.
    pub default_action: PolicyAction,
    pub sa_capacity: usize,
    pub flow_cache: usize,
    /// Neighbour entries per worker and family: every directly connected next hop (a
    /// concentrator whose peers sit on its outside link needs one per peer).
    pub neighbours: usize,
}

impl Default for DataplaneSettings {
    fn default() -> Self {
        DataplaneSettings {
            default_action: PolicyAction::Bypass,
            sa_capacity: 4096,
            flow_cache: 1 << 16,
            neighbours: 1 << 14,
        }
    }
}

impl ApplianceConfig {
    /// Whether the file configures the appliance (has interfaces) rather than the plain
    /// port-pair forwarder.
    pub fn is_appliance(&self) -> bool {
        !self.interfaces.is_empty()
    }

    /// Reads and validates a whole config file, the crypto policy included, reporting
    /// every error at once.
    pub fn load_full(path: &Path) -> Result<ApplianceConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            appliance: vec![ProfileError {
                kind: ErrorKind::Read,
                file: path.to_owned(),
                line: 0,
                column: 0,
                field: String::new(),
                message: format!("cannot read: {e}"),
            }],
            policy: Vec::new(),
        })?;
        Self::parse_full(path, &text)
    }

    /// [`ApplianceConfig::load_full`] on text already read.
    pub fn parse_full(path: &Path, text: &str) -> Result<ApplianceConfig, ConfigErrors> {
        let appliance = Self::parse_all(path, text);
        // The policy may name interfaces; when the appliance part failed, its names come
        // straight from the document so the policy's own errors are still all reported.
        let names: Vec<String> = match &appliance {
            Ok(c) => c.interfaces.iter().map(|i| i.name.clone()).collect(),
            Err(_) => text
                .parse::<toml::Table>()
                .ok()
                .and_then(|t| t.get("interface").and_then(|v| v.as_array()).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                .collect(),
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let policy = control::policy::parse(path, text, &refs);
        match (appliance, policy) {
            (Ok(mut c), Ok(loaded)) => {
                c.policy = loaded.config;
                c.policies.extend(crypto_map_policies(&c.policy));
                c.warnings = loaded.warnings.all().iter().map(ToString::to_string).collect();
                if let Some(e) = ha_addresses(path, text, &c) {
                    return Err(ConfigErrors { appliance: Vec::new(), policy: vec![e] });
                }
                if c.policy.ha.is_none()
                    && let Some(i) = c.interfaces.iter().find(|i| !i.standby_addresses.is_empty())
                {
                    c.warnings.push(format!(
                        "{}: interface {}: standby_address has no effect without an [ha] section",
                        path.display(),
                        i.name
                    ));
                }
                Ok(c)
            }
            (a, p) => Err(ConfigErrors {
                appliance: a.err().unwrap_or_default(),
                policy: p
                    .err()
                    .map(|d| d.errors().map(ToString::to_string).collect())
                    .unwrap_or_default(),
            }),
        }
    }

    /// Reads and validates a config file (the appliance part only).
    pub fn load(path: &Path) -> Result<ApplianceConfig, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            kind: ErrorKind::Read,
            file: path.to_owned(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Validates config text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ApplianceConfig, ProfileError> {
        Self::parse_all(path, text).map_err(|mut errors| errors.remove(0))
    }

    /// [`ApplianceConfig::parse`] with every error of the appliance part (never an empty
    /// list).
    pub fn parse_all(path: &Path, text: &str) -> Result<ApplianceConfig, Vec<ProfileError>> {
        let profile = Profile::parse(path, text).map_err(|e| vec![e])?;
        let ctx = Ctx { file: path, text };
        let raw: RawAppliance = ctx.deserialize(text).map_err(|e| vec![e])?;
        let mut cfg = Validator { ctx: &ctx, profile: &profile }.validate(raw, profile.clone())?;
        // `deserialize` above parsed the same text: this cannot fail.
        cfg.document = Document(text.parse::<toml::Table>().unwrap_or_default());
        Ok(cfg)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppliance {
    #[serde(default)]
    interface: Vec<Spanned<RawInterface>>,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    neighbour: Vec<Spanned<RawNeighbour>>,
    #[serde(default)]
    sa: Vec<Spanned<RawSa>>,
    #[serde(default)]
    policy: Vec<Spanned<RawPolicy>>,
    dataplane: Option<RawDataplane>,
    operator: Option<RawOperator>,
    // The profile's sections, checked by `Profile::parse`.
    #[serde(default, rename = "eal")]
    _eal: Option<toml::Value>,
    #[serde(default, rename = "mempool")]
    _mempool: Option<toml::Value>,
    #[serde(default, rename = "run")]
    _run: Option<toml::Value>,
    #[serde(default, rename = "port")]
    _port: Option<toml::Value>,
    // The crypto policy's sections (control::policy::POLICY_SECTIONS), checked by
    // `control::policy::parse`.
    #[serde(default, rename = "ike")]
    _ike: Option<toml::Value>,
    #[serde(default, rename = "access_list")]
    _access_list: Option<toml::Value>,
    #[serde(default, rename = "ikev1_policy")]
    _ikev1_policy: Option<toml::Value>,
    #[serde(default, rename = "ikev2_policy")]
    _ikev2_policy: Option<toml::Value>,
    #[serde(default, rename = "transform_set")]
    _transform_set: Option<toml::Value>,
    #[serde(default, rename = "ipsec_proposal")]
    _ipsec_proposal: Option<toml::Value>,
    #[serde(default, rename = "crypto_map")]
    _crypto_map: Option<toml::Value>,
    #[serde(default, rename = "crypto_interface")]
    _crypto_interface: Option<toml::Value>,
    #[serde(default, rename = "trustpoint")]
    _trustpoint: Option<toml::Value>,
    #[serde(default, rename = "address_pool")]
    _address_pool: Option<toml::Value>,
    #[serde(default, rename = "tunnel_group")]
    _tunnel_group: Option<toml::Value>,
    #[serde(default, rename = "user")]
    _user: Option<toml::Value>,
    #[serde(default, rename = "ha")]
    _ha: Option<toml::Value>,
    #[serde(default, rename = "cluster")]
    _cluster: Option<toml::Value>,
    #[serde(default, rename = "management")]
    _management: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    port: Spanned<String>,
    role: Spanned<String>,
    address: Option<Spanned<toml::Value>>,
    mac: Option<Spanned<String>>,
    standby_address: Option<Spanned<toml::Value>>,
    standby_mac: Option<Spanned<String>>,
    vlan: Option<Spanned<i64>>,
    mtu: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    destination: Spanned<String>,
    interface: Spanned<String>,
    via: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbour {
    interface: Spanned<String>,
    address: Spanned<String>,
    mac: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    src: Spanned<String>,
    dst: Spanned<String>,
    protocol: Option<Spanned<toml::Value>>,
    src_port: Option<Spanned<toml::Value>>,
    dst_port: Option<Spanned<toml::Value>>,
    action: Spanned<String>,
    sa: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    default_action: Option<Spanned<String>>,
    sa_capacity: Option<Spanned<i64>>,
    flow_cache: Option<Spanned<i64>>,
    neighbours: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperator {
    socket: Option<String>,
}

struct Validator<'a> {
    ctx: &'a Ctx<'a>,
    profile: &'a Profile,
}

/// `aa:bb:cc:dd:ee:ff` or `aabb.ccdd.eeff` (Cisco style).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(mac)
}

/// `10.0.0.0/8`, `2001:db8::/32` or a bare address (host prefix): the SA file's parser.
fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    sa_file::Prefix::parse(s).map(|p| (p.addr, p.len))
}

/// A policy selector; `any` is refused because it names no family.
fn parse_ip_prefix(s: &str) -> Result<IpPrefix, String> {
    if s.trim() == "any" {
        return Err("'any' is ambiguous between IPv4 and IPv6: write 0.0.0.0/0 or ::/0".into());
    }
    let p = sa_file::Prefix::parse(s)?;
    IpPrefix::new(p.addr, p.len).map_err(|e| e.to_string())
}

impl Validator<'_> {
    fn err(&self, span: Range<usize>, field: String, msg: impl Into<String>) -> ProfileError {
        self.ctx.invalid(span, &field, msg)
    }

    fn sa_err(e: SaFileError) -> ProfileError {
        ProfileError {
            kind: ErrorKind::InvalidValue,
            file: e.path,
            line: e.line,
            column: e.column,
            field: e.field,
            message: e.message,
        }
    }

    fn validate(
        &self,
        raw: RawAppliance,
        profile: Profile,
    ) -> Result<ApplianceConfig, Vec<ProfileError>> {
        // Everything below names interfaces: their errors come alone.
        let interfaces = self.interfaces(&raw.interface).map_err(|e| vec![e])?;
        // Each wrong item is reported and left out, so that the next ones are checked too.
        let mut errors: Vec<ProfileError> = Vec::new();
        let find_iface = |s: &Spanned<String>, field: String| {
            interfaces.iter().position(|i| &i.name == s.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
                self.err(
                    s.span(),
                    field,
                    format!("no interface named '{}' (interfaces: {known:?})", s.get_ref()),
                )
            })
        };

        let mut routes = Vec::with_capacity(raw.route.len());
        for (i, r) in raw.route.iter().enumerate() {
            let r = r.get_ref();
            let item = || -> Result<RouteConfig, ProfileError> {
                let f = |n: &str| format!("route[{i}].{n}");
                let destination = parse_prefix(r.destination.get_ref())
                    .map_err(|m| self.err(r.destination.span(), f("destination"), m))?;
                let interface = find_iface(&r.interface, f("interface"))?;
                let via = match &r.via {
                    None => None,
                    Some(v) => Some(v.get_ref().trim().parse::<IpAddr>().map_err(|_| {
                        self.err(
                            v.span(),
                            f("via"),
                            format!("'{}' is not an IP address", v.get_ref()),
                        )
                    })?),
                };
                if let (Some(gw), Some(v)) = (via, &r.via)
                    && gw.is_ipv4() != destination.0.is_ipv4()
                {
                    return Err(self.err(
                        v.span(),
                        f("via"),
                        "the gateway and the destination must be of the same IP version",
                    ));
                }
                if let Some(gw) = via {
                    // An IPv6 link-local gateway is on every IPv6 link (RFC 4291 2.5.6).
                    let link_local =
                        matches!(gw, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
                    let on_link = link_local
                        || interfaces[interface]
                            .addresses
                            .iter()
                            .any(|&(addr, len)| sa_file::Prefix { addr, len }.contains(gw));
                    if !on_link {
                        let v = r.via.as_ref().map_or(0..0, |v| v.span());
                        return Err(self.err(
                            v,
                            f("via"),
                            format!(
                                "gateway {gw} is not on a subnet of interface '{}'",
                                interfaces[interface].name
                            ),
                        ));
                    }
                }
                Ok(RouteConfig { destination, interface, via })
            };
            match item() {
                Ok(x) => routes.push(x),
                Err(e) => errors.push(e),
            }
        }

        let mut neighbours = Vec::with_capacity(raw.neighbour.len());
        for (i, n) in raw.neighbour.iter().enumerate() {
            let n = n.get_ref();
            let item = || -> Result<NeighbourConfig, ProfileError> {
                let f = |x: &str| format!("neighbour[{i}].{x}");
                let interface = find_iface(&n.interface, f("interface"))?;
                let address = n.address.get_ref().trim().parse::<IpAddr>().map_err(|_| {
                    self.err(
                        n.address.span(),
                        f("address"),
                        format!("'{}' is not an IP address", n.address.get_ref()),
                    )
                })?;
                let mac = parse_mac(n.mac.get_ref())
                    .filter(|m| m[0] & 1 == 0 && *m != [0; 6])
                    .ok_or_else(|| {
                        self.err(
                            n.mac.span(),
                            f("mac"),
                            "must be a unicast MAC like 02:00:00:00:00:01",
                        )
                    })?;
                Ok(NeighbourConfig { interface, address, mac })
            };
            match item() {
                Ok(x) => neighbours.push(x),
                Err(e) => errors.push(e),
            }
        }

        let sa_ctx = sa_file::Ctx { path: self.ctx.file, text: self.ctx.text };
        let mut sas: Vec<StaticSa> = Vec::with_capacity(raw.sa.len());
        for (i, s) in raw.sa.iter().enumerate() {
            let item = || -> Result<StaticSa, ProfileError> {
                let f = |x: &str| format!("sa[{i}].{x}");
                let spec =
                    sa_file::parse_sa(&sa_ctx, "sa", i, s.get_ref()).map_err(Self::sa_err)?;
                let Some(direction) = spec.direction else {
                    return Err(self.err(
                        s.span(),
                        f("direction"),
                        "a static SA needs direction = \"inbound\" or \"outbound\"",
                    ));
                };
                if sas.iter().any(|o| o.direction == direction && o.spec.spi == spec.spi) {
                    return Err(self.err(
                        s.span(),
                        f("spi"),
                        format!("{direction:?} SPI {:#x} defined twice", spec.spi).to_lowercase(),
                    ));
                }
                if direction == Direction::Outbound && spec.lab_sequence_restart {
                    return Err(self.err(
                        s.span(),
                        f("lab_sequence_restart"),
                        "only meaningful on an inbound SA",
                    ));
                }
                if spec.lab_sequence_restart {
                    tracing::warn!(
                        "{}: sa[{i}] (SPI {:#x}) accepts restarted sequence numbers: anti-replay \
                     protection is weakened (lab_sequence_restart is for benchmarks only)",
                        self.ctx.file.display(),
                        spec.spi
                    );
                }
                let a = spec.local;
                if !interfaces.iter().any(|i| i.addresses.iter().any(|&(x, _)| x == a)) {
                    return Err(self.err(
                        s.span(),
                        f("local"),
                        format!("{a} is not an address of any interface"),
                    ));
                }
                let tunnel = spec.tunnel.clone().unwrap_or_else(|| format!("sa-{:#x}", spec.spi));
                Ok(StaticSa { tunnel, direction, spec })
            };
            match item() {
                Ok(x) => sas.push(x),
                Err(e) => errors.push(e),
            }
        }

        let mut policies = Vec::with_capacity(raw.policy.len() + sas.len());
        for (i, p) in raw.policy.iter().enumerate() {
            match self.policy(i, p.get_ref(), &sas) {
                Ok(x) => policies.push(x),
                Err(e) => errors.push(e),
            }
        }
        for s in sas.iter().filter(|s| s.direction == Direction::Outbound) {
            if s.spec.match_src.is_none() && s.spec.match_dst.is_none() {
                continue;
            }
            let v6 = s.spec.local.is_ipv6();
            let any = |p: Option<sa_file::Prefix>| match p {
                Some(p) => IpPrefix::new(p.addr, p.len),
                None if v6 => IpPrefix::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0),
                None => IpPrefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            };
            let (Ok(src), Ok(dst)) = (any(s.spec.match_src), any(s.spec.match_dst)) else {
                continue;
            };
            policies.push(PolicyConfig {
                src,
                dst,
                protocol: None,
                src_ports: PortRange::ANY,
                dst_ports: PortRange::ANY,
                action: PolicyAction::Protect { sa: s.spec.spi },
            });
        }

        let mut dataplane = DataplaneSettings::default();
        if let Some(d) = &raw.dataplane {
            if let Some(a) = &d.default_action {
                dataplane.default_action = match a.get_ref().as_str() {
                    "bypass" => PolicyAction::Bypass,
                    "discard" => PolicyAction::Discard,
                    other => {
                        errors.push(self.err(
                            a.span(),
                            "dataplane.default_action".into(),
                            format!("'{other}': expected bypass or discard"),
                        ));
                        dataplane.default_action
                    }
                };
            }
            let size = |v: &Option<Spanned<i64>>, name: &str, max: i64| match v {
                None => Ok(None),
                Some(n) if (1..=max).contains(n.get_ref()) => Ok(Some(*n.get_ref() as usize)),
                Some(n) => Err(self.err(
                    n.span(),
                    format!("dataplane.{name}"),
                    format!("must be 1..={max}"),
                )),
            };
            match size(&d.sa_capacity, "sa_capacity", 1 << 24) {
                Ok(Some(n)) => dataplane.sa_capacity = n,
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
            match size(&d.flow_cache, "flow_cache", 1 << 24) {
                Ok(Some(n)) => dataplane.flow_cache = n,
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
            match size(&d.neighbours, "neighbours", 1 << 20) {
                Ok(Some(n)) => dataplane.neighbours = n,
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        let outbound = sas.iter().filter(|s| s.direction == Direction::Outbound).count();
        let inbound = sas.len() - outbound;
        if outbound.max(inbound) > dataplane.sa_capacity {
            dataplane.sa_capacity = outbound.max(inbound).next_power_of_two();
        }
        let _ = self.profile;
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ApplianceConfig {
            profile,
            interfaces,
            routes,
            neighbours,
            sas,
            policies,
            dataplane,
            operator_socket: raw.operator.and_then(|o| o.socket).map(PathBuf::from),
            document: Document::default(),
            policy: Default::default(),
            warnings: Vec::new(),
        })
    }

    fn interfaces(
        &self,
        raw: &[Spanned<RawInterface>],
    ) -> Result<Vec<InterfaceConfig>, ProfileError> {
        let mut out: Vec<InterfaceConfig> = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let r = r.get_ref();
            let f = |x: &str| format!("interface[{i}].{x}");
            let name = r.name.get_ref().clone();
            if name.is_empty() || out.iter().any(|o| o.name == name) {
                return Err(self.err(
                    r.name.span(),
                    f("name"),
                    "names must be unique and non-empty",
                ));
            }
            let port =
                self.profile.ports.iter().position(|p| &p.name == r.port.get_ref()).ok_or_else(
                    || {
                        let known: Vec<&str> =
                            self.profile.ports.iter().map(|p| p.name.as_str()).collect();
                        self.err(
                            r.port.span(),
                            f("port"),
                            format!("no [[port]] named '{}' (ports: {known:?})", r.port.get_ref()),
                        )
                    },
                )?;
            let role = match r.role.get_ref().as_str() {
                "inside" => Role::Inside,
                "outside" => Role::Outside,
                other => {
                    return Err(self.err(
                        r.role.span(),
                        f("role"),
                        format!("'{other}': expected inside or outside"),
                    ));
                }
            };
            let addresses = self.addresses(r.address.as_ref(), &f("address"))?;
            let mac = self.mac(r.mac.as_ref(), &f("mac"))?;
            let standby_addresses =
                self.addresses(r.standby_address.as_ref(), &f("standby_address"))?;
            let standby_mac = self.mac(r.standby_mac.as_ref(), &f("standby_mac"))?;
            if let Some((a, _)) = standby_addresses
                .iter()
                .find(|(s, _)| addresses.iter().any(|(x, _)| x == s))
                .or_else(|| {
                    standby_addresses
                        .iter()
                        .find(|(s, _)| out.iter().any(|o| o.addresses.iter().any(|(x, _)| x == s)))
                })
            {
                let span = r.standby_address.as_ref().map_or(0..0, |v| v.span());
                return Err(self.err(
                    span,
                    f("standby_address"),
                    format!("{a} is also an active address; the units of a pair need their own"),
                ));
            }
            let vlan = match &r.vlan {
                None => None,
                Some(v) if (1..=4094).contains(v.get_ref()) => Some(*v.get_ref() as u16),
                Some(v) => return Err(self.err(v.span(), f("vlan"), "must be 1..=4094")),
            };
            if out.iter().any(|o| o.port == port && o.vlan == vlan) {
                let span = r.vlan.as_ref().map_or(r.port.span(), |v| v.span());
                return Err(self.err(
                    span,
                    f("vlan"),
                    "another interface already uses this port and VLAN",
                ));
            }
            let mtu = match &r.mtu {
                None => 1500,
                Some(m) if (576..=9600).contains(m.get_ref()) => *m.get_ref() as u16,
                Some(m) => return Err(self.err(m.span(), f("mtu"), "must be 576..=9600")),
            };
            out.push(InterfaceConfig {
                name,
                port,
                role,
                addresses,
                mac,
                standby_addresses,
                standby_mac,
                vlan,
                mtu,
            });
        }
        Ok(out)
    }

    /// `address` or `standby_address`: one "A.B.C.D/LEN" (or IPv6) or a list of them.
    fn addresses(
        &self,
        v: Option<&Spanned<toml::Value>>,
        field: &str,
    ) -> Result<Vec<(IpAddr, u8)>, ProfileError> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let span = v.span();
        let bad =
            || self.err(span.clone(), field.into(), "expected \"A.B.C.D/LEN\" or a list of them");
        let list = match v.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(bad()),
        };
        let mut addresses = Vec::with_capacity(list.len());
        for a in &list {
            let (addr, len) =
                parse_prefix(a).map_err(|m| self.err(span.clone(), field.into(), m))?;
            let ok = match addr {
                IpAddr::V4(v) => (1..=31).contains(&len) && !v.is_multicast() && !v.is_broadcast(),
                IpAddr::V6(v) => (1..=127).contains(&len) && !v.is_multicast(),
            };
            if !ok || addr.is_unspecified() || addr.is_loopback() {
                return Err(self.err(
                    span.clone(),
                    field.into(),
                    format!("'{a}': need a unicast address with a prefix (/1../31, IPv6 /1../127)"),
                ));
            }
            addresses.push((addr, len));
        }
        Ok(addresses)
    }

    /// `mac` or `standby_mac`: a unicast MAC.
    fn mac(
        &self,
        m: Option<&Spanned<String>>,
        field: &str,
    ) -> Result<Option<[u8; 6]>, ProfileError> {
        let Some(m) = m else { return Ok(None) };
        parse_mac(m.get_ref()).filter(|m| m[0] & 1 == 0 && *m != [0; 6]).map(Some).ok_or_else(
            || self.err(m.span(), field.into(), "must be a unicast MAC like 02:00:00:00:00:01"),
        )
    }

    fn policy(
        &self,
        i: usize,
        p: &RawPolicy,
        sas: &[StaticSa],
    ) -> Result<PolicyConfig, ProfileError> {
        let f = |x: &str| format!("policy[{i}].{x}");
        let src =
            parse_ip_prefix(p.src.get_ref()).map_err(|m| self.err(p.src.span(), f("src"), m))?;
        let dst =
            parse_ip_prefix(p.dst.get_ref()).map_err(|m| self.err(p.dst.span(), f("dst"), m))?;
        if src.addr().is_ipv4() != dst.addr().is_ipv4() {
            return Err(self.err(
                p.dst.span(),
                f("dst"),
                "src and dst must be of the same IP version",
            ));
        }
        let protocol = match &p.protocol {
            None => None,
            Some(n) if n.get_ref().is_integer() => Some(IpProtocol::from(
                n.get_ref()
                    .as_integer()
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(|| self.err(n.span(), f("protocol"), "must be 0..=255"))?,
            )),
            Some(s) => {
                match s.get_ref().as_str().unwrap_or("?").to_ascii_lowercase().as_str() {
                    "any" | "ip" => None,
                    "tcp" => Some(IpProtocol::Tcp),
                    "udp" => Some(IpProtocol::Udp),
                    "icmp" => Some(IpProtocol::Icmp),
                    "icmpv6" | "icmp6" => Some(IpProtocol::Icmpv6),
                    "esp" => Some(IpProtocol::Esp),
                    "gre" => Some(IpProtocol::from(47)),
                    other => {
                        return Err(self.err(
                        s.span(),
                        f("protocol"),
                        format!("'{other}': expected any, tcp, udp, icmp, icmpv6, esp, gre or a number"),
                    ));
                    }
                }
            }
        };
        let ports = |v: &Option<Spanned<toml::Value>>,
                     name: &str|
         -> Result<PortRange, ProfileError> {
            let (text, span) = match v {
                None => return Ok(PortRange::ANY),
                Some(n) => match n.get_ref() {
                    toml::Value::Integer(i) => (i.to_string(), n.span()),
                    toml::Value::String(s) => (s.clone(), n.span()),
                    other => (other.to_string(), n.span()),
                },
            };
            let bad = || {
                self.err(span.clone(), f(name), format!("'{text}': expected any, a port or lo-hi"))
            };
            if text == "any" {
                return Ok(PortRange::ANY);
            }
            let (lo, hi) = text.split_once('-').unwrap_or((&text, &text));
            let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
            PortRange::new(lo, hi).map_err(|_| bad())
        };
        let src_ports = ports(&p.src_port, "src_port")?;
        let dst_ports = ports(&p.dst_port, "dst_port")?;
        if (!src_ports.is_any() || !dst_ports.is_any())
            && !matches!(protocol.map(u8::from), Some(6 | 17 | 1 | 58 | 132 | 33 | 136))
        {
            return Err(self.err(
                p.action.span(),
                f("src_port"),
                "port selectors need protocol = tcp, udp, icmp (type/code) or another protocol with ports",
            ));
        }
        let action = match p.action.get_ref().as_str() {
            "protect" => {
                let Some(spi) = &p.sa else {
                    return Err(self.err(
                        p.action.span(),
                        f("sa"),
                        "protect needs sa = <outbound SPI>",
                    ));
                };
                let found = sas.iter().find(|s| {
                    s.direction == Direction::Outbound && i64::from(s.spec.spi) == *spi.get_ref()
                });
                let Some(sa) = found else {
                    return Err(self.err(
                        spi.span(),
                        f("sa"),
                        format!("no outbound [[sa]] with SPI {:#x}", spi.get_ref()),
                    ));
                };
                if sa.spec.local.is_ipv4() != sa.spec.remote.is_ipv4() {
                    return Err(self.err(spi.span(), f("sa"), "SA addresses of mixed IP versions"));
                }
                PolicyAction::Protect { sa: sa.spec.spi }
            }
            "bypass" => PolicyAction::Bypass,
            "discard" => PolicyAction::Discard,
            other => {
                return Err(self.err(
                    p.action.span(),
                    f("action"),
                    format!("'{other}': expected protect, bypass or discard"),
                ));
            }
        };
        if !matches!(action, PolicyAction::Protect { .. })
            && let Some(s) = &p.sa
        {
            return Err(self.err(s.span(), f("sa"), "only a protect policy names an SA"));
        }
        Ok(PolicyConfig { src, dst, protocol, src_ports, dst_ports, action })
    }
}

/// The SPD entries of the crypto maps applied to interfaces, after the static policies: per
/// entry in (map, sequence) order, its ACL's rules in order (`permit`: protect under the
/// entry's IKE-negotiated SA, `deny`: leave in the clear).
pub fn crypto_map_policies(policy: &control::policy::PolicyConfig) -> Vec<PolicyConfig> {
    let applied =
        |map: &str| policy.crypto_interfaces.iter().any(|i| i.crypto_map.as_deref() == Some(map));
    let mut out = Vec::new();
    for (i, entry) in policy.crypto_maps.iter().enumerate() {
        let Some(acl) = policy.access_lists.iter().find(|a| a.name == entry.match_address) else {
            continue;
        };
        // A dynamic entry's traffic gets SPD entries per Child SA, from its selectors.
        if !applied(&entry.name) || entry.dynamic {
            continue;
        }
        // The ACL's own PolicyId is a placeholder: the appliance numbers its policies.
        for e in acl.spd_entries(dataplane::spd::PolicyId(0)) {
            let action = match e.action {
                dataplane::spd::Action::Protect(_) => PolicyAction::CryptoMap { entry: i as u32 },
                dataplane::spd::Action::Bypass => PolicyAction::Bypass,
                dataplane::spd::Action::Discard => PolicyAction::Discard,
            };
            out.push(PolicyConfig {
                src: e.src,
                dst: e.dst,
                protocol: e.protocol,
                src_ports: e.src_ports,
                dst_ports: e.dst_ports,
                action,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
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
mac = "02:00:00:00:01:01"

[[interface]]
name = "outside"
port = "wan"
role = "outside"
address = ["192.0.2.1/24", "198.51.100.1/24"]
vlan = 7
mtu = 9000

[[route]]
destination = "10.2.0.0/16"
interface = "outside"
via = "192.0.2.2"

[[neighbour]]
interface = "outside"
address = "192.0.2.2"
mac = "0200.0000.0202"

[[sa]]
tunnel = "b"
direction = "outbound"
spi = 0x1001
transform = "aes128gcm16"
enc_key = "0x000102030405060708090a0b0c0d0e0f 10111213"
local = "192.0.2.1"
remote = "192.0.2.2"

[[sa]]
tunnel = "b"
direction = "inbound"
spi = 0x2001
transform = "aes256-sha256"
enc_key = "00000000000000000000000000000000 00000000000000000000000000000000"
auth_key = "11111111111111111111111111111111 11111111111111111111111111111111"
local = "192.0.2.1"
remote = "192.0.2.2"
lab_sequence_restart = true

[[policy]]
src = "10.1.0.0/24"
dst = "10.2.0.0/16"
protocol = "udp"
dst_port = "1000-2000"
action = "protect"
sa = 0x1001

[[policy]]
src = "10.1.0.0/24"
dst = "0.0.0.0/0"
protocol = 1
action = "bypass"

[dataplane]
default_action = "discard"
flow_cache = 1024
"#;

    fn parse(text: &str) -> Result<ApplianceConfig, ProfileError> {
        ApplianceConfig::parse(Path::new("fg.toml"), text)
    }

    /// The error for BASE with `from` replaced by `to`.
    fn err(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from}");
        match parse(&BASE.replacen(from, to, 1)) {
            Ok(_) => panic!("accepted with {to}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_section() {
        let c = parse(BASE).unwrap();
        assert!(c.is_appliance());
        assert_eq!(c.interfaces.len(), 2);
        let o = &c.interfaces[1];
        assert_eq!((o.port, o.role, o.vlan, o.mtu), (1, Role::Outside, Some(7), 9000));
        assert_eq!(o.addresses.len(), 2);
        assert_eq!(c.interfaces[0].mac, Some([2, 0, 0, 0, 1, 1]));
        assert_eq!(c.routes[0].via, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))));
        assert_eq!(c.neighbours[0].mac, [2, 0, 0, 0, 2, 2]);
        assert_eq!(c.sas.len(), 2);
        assert!(c.sas[1].spec.lab_sequence_restart);
        assert_eq!(c.policies.len(), 2);
        assert_eq!(c.policies[0].action, PolicyAction::Protect { sa: 0x1001 });
        assert_eq!(c.policies[0].dst_ports, PortRange::new(1000, 2000).unwrap());
        assert_eq!(c.policies[1].protocol, Some(IpProtocol::Icmp));
        assert_eq!(c.dataplane.default_action, PolicyAction::Discard);
        assert_eq!(c.dataplane.flow_cache, 1024);
    }

    /// A failover unit: standby addresses and MAC, the failover link's own interface, and
    /// `[ha] local` checked against it.
    #[test]
    fn standby_addresses_and_the_failover_interface() {
        let ha = |local: &str, fo_standby: &str| {
            BASE.replacen(
                "mac = \"02:00:00:00:01:01\"",
                "mac = \"02:00:00:00:01:01\"\nstandby_address = \"10.1.0.3/24\"\n\
                 standby_mac = \"02:00:00:00:01:02\"",
                1,
            ) + &format!(
                "\n[[port]]\nname = \"fo\"\nvdev = \"net_null2\"\n\n[[interface]]\n\
                 name = \"failover\"\nport = \"fo\"\nrole = \"inside\"\n\
                 address = \"198.18.0.1/30\"\n{fo_standby}\n\n[ha]\nrole = \"primary\"\n\
                 interface = \"failover\"\nlocal = \"{local}\"\npeer = \"198.18.0.2\"\n\
                 key = \"a failover key of some length\"\n"
            )
        };
        let c = ApplianceConfig::parse_full(Path::new("fg.toml"), &ha("198.18.0.1", ""))
            .unwrap_or_else(|e| panic!("{e}"));
        let inside = &c.interfaces[0];
        assert_eq!(inside.standby_addresses, vec![(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 3)), 24)]);
        assert_eq!(inside.standby_mac, Some([2, 0, 0, 0, 1, 2]));
        assert!(c.policy.ha.is_some());
        let e = ApplianceConfig::parse_full(Path::new("fg.toml"), &ha("198.18.0.5", ""))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("fg.toml:"), "{e}");
        assert!(
            e.contains(": ha.local: 198.18.0.5 is not an address of interface failover"),
            "{e}"
        );
        let text = ha("198.18.0.1", "standby_address = \"198.18.0.3/30\"");
        let e = ApplianceConfig::parse_full(Path::new("fg.toml"), &text).unwrap_err().to_string();
        assert!(e.contains("ha.interface: interface failover carries the failover link"), "{e}");
        // A standby address that is also an active address of another interface.
        let e = err(
            "address = \"10.1.0.1/24\"",
            "address = \"10.1.0.1/24\"\nstandby_address = \"10.1.0.1/24\"",
        );
        assert!(
            e.contains("interface[0].standby_address: 10.1.0.1 is also an active address"),
            "{e}"
        );
        let e = err(
            "mac = \"02:00:00:00:01:01\"",
            "mac = \"02:00:00:00:01:01\"\nstandby_mac = \"ff:ff:ff:ff:ff:ff\"",
        );
        assert!(e.contains("interface[0].standby_mac: must be a unicast MAC"), "{e}");
        // Without [ha], standby addresses only warn.
        let text = BASE.replacen(
            "address = \"10.1.0.1/24\"",
            "address = \"10.1.0.1/24\"\nstandby_address = \"10.1.0.3/24\"",
            1,
        );
        let c = ApplianceConfig::parse_full(Path::new("fg.toml"), &text).unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains("standby_address has no effect")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn a_profile_without_interfaces_is_the_forwarder() {
        let text = BASE.split("[[interface]]").next().unwrap();
        assert!(!parse(text).unwrap().is_appliance());
    }

    #[test]
    fn errors_name_file_line_field_and_reason() {
        let cases = [
            (
                r#"port = "wan""#,
                r#"port = "wan0""#,
                r#"fg.toml:23:8: interface[1].port: no [[port]] named 'wan0' (ports: ["lan", "wan"])"#,
            ),
            (
                r#"role = "inside""#,
                r#"role = "lan""#,
                "fg.toml:17:8: interface[0].role: 'lan': expected inside or outside",
            ),
            (
                r#"address = "10.1.0.1/24""#,
                r#"address = "10.1.0.1/33""#,
                "fg.toml:18:11: interface[0].address: prefix length in '10.1.0.1/33' must be 0..=32",
            ),
            ("vlan = 7", "vlan = 4095", "fg.toml:26:8: interface[1].vlan: must be 1..=4094"),
            (
                r#"via = "192.0.2.2""#,
                r#"via = "10.9.9.9""#,
                "fg.toml:32:7: route[0].via: gateway 10.9.9.9 is not on a subnet of interface 'outside'",
            ),
            (
                r#"interface = "outside"
address = "192.0.2.2""#,
                r#"interface = "dmz"
address = "192.0.2.2""#,
                r#"fg.toml:35:13: neighbour[0].interface: no interface named 'dmz' (interfaces: ["inside", "outside"])"#,
            ),
            (
                r#"mac = "0200.0000.0202""#,
                r#"mac = "ff:ff:ff:ff:ff:ff""#,
                "fg.toml:37:7: neighbour[0].mac: must be a unicast MAC like 02:00:00:00:00:01",
            ),
            (
                "sa = 0x1001",
                "sa = 0x1002",
                "fg.toml:65:6: policy[0].sa: no outbound [[sa]] with SPI 0x1002",
            ),
            (
                r#"direction = "outbound""#,
                r#"direction = "sideways""#,
                "fg.toml:41:13: sa[0].direction: 'sideways': expected inbound or outbound",
            ),
            (
                r#"dst_port = "1000-2000""#,
                r#"dst_port = "2000-1000""#,
                "fg.toml:63:12: policy[0].dst_port: '2000-1000': expected any, a port or lo-hi",
            ),
            (
                r#"default_action = "discard""#,
                r#"default_action = "protect""#,
                "fg.toml:74:18: dataplane.default_action: 'protect': expected bypass or discard",
            ),
            (
                r#"transform = "aes128gcm16""#,
                r#"transform = "aes128gcm17""#,
                "fg.toml:43:13: sa[0].transform: unknown ESP transform 'aes128gcm17'",
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(err(from, to), want);
        }
    }

    #[test]
    fn semantic_errors() {
        // An inbound and an outbound SA may carry the same SPI value.
        assert!(parse(&BASE.replacen("spi = 0x2001", "spi = 0x1001", 1)).is_ok());
        let dup = BASE.replacen(
            "[[policy]]",
            "[[sa]]\ndirection = \"outbound\"\nspi = 0x1001\ntransform = \"aes128gcm16\"\n\
             enc_key = \"0x000102030405060708090a0b0c0d0e0f 10111213\"\n\
             local = \"192.0.2.1\"\nremote = \"192.0.2.2\"\n\n[[policy]]",
            1,
        );
        let e = parse(&dup).unwrap_err().to_string();
        assert!(e.contains("sa[2].spi: outbound spi 0x1001 defined twice"), "{e}");
        let e = err(r#"direction = "inbound""#, "").to_string();
        assert!(e.contains("sa[1].direction: a static SA needs direction"), "{e}");
        let e = err(
            r#"direction = "outbound""#,
            "direction = \"outbound\"\nlab_sequence_restart = true",
        );
        assert!(e.contains("sa[0].lab_sequence_restart: only meaningful on an inbound SA"), "{e}");
        assert!(parse(&BASE.replacen("vlan = 7", "", 1)).is_ok());
        let same_port =
            BASE.replacen(r#"port = "wan""#, r#"port = "lan""#, 1).replacen("vlan = 7", "", 1);
        let e = parse(&same_port).unwrap_err().to_string();
        assert!(
            e.contains("interface[1].vlan: another interface already uses this port and VLAN"),
            "{e}"
        );
        let e = err(r#"local = "192.0.2.1""#, r#"local = "203.0.113.1""#);
        assert!(e.contains("sa[0].local: 203.0.113.1 is not an address of any interface"), "{e}");
        let e = err(r#"action = "bypass""#, "action = \"bypass\"\nsa = 0x1001");
        assert!(e.contains("policy[1].sa: only a protect policy names an SA"), "{e}");
        let e = err(r#"protocol = "udp""#, r#"protocol = "any""#);
        assert!(e.contains("port selectors need protocol"), "{e}");
        let e = err("[dataplane]", "[dataplane]\nbogus = 1");
        assert!(e.contains("dataplane.bogus"), "{e}");
    }

    #[test]
    fn match_selectors_on_an_outbound_sa_add_a_protect_policy() {
        let text = BASE.replacen(
            r#"remote = "192.0.2.2""#,
            "remote = \"192.0.2.2\"\nmatch_src = \"10.1.0.0/24\"\nmatch_dst = \"10.3.0.0/16\"",
            1,
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.policies.len(), 3);
        let p = c.policies[2];
        assert_eq!(p.action, PolicyAction::Protect { sa: 0x1001 });
        assert_eq!(p.dst.to_string(), "10.3.0.0/16");
    }
}
