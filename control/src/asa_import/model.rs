//! The converted configuration, in the order the ASA had it, before it is written as TOML.
//!
//! Every item remembers the line that created it, for notes.

use super::objects::Net;

/// `[ike]`: global IKE settings.
#[derive(Debug, Default)]
pub(crate) struct IkeGlobal {
    pub allow_weak_dh: bool,
    /// `crypto isakmp identity address|hostname|auto`.
    pub identity: Option<String>,
    /// `crypto isakmp nat-traversal N` (0: `no crypto isakmp nat-traversal`).
    pub nat_keepalive_seconds: Option<u32>,
    /// `crypto ikev2 cookie-challenge N`.
    pub cookie_threshold_percent: Option<u32>,
    /// `no crypto ikev2 fragmentation` (false) / `crypto ikev2 fragmentation` (true).
    pub ikev2_fragmentation: Option<bool>,
    /// `crypto ikev2 fragmentation mtu N`.
    pub ikev2_fragmentation_mtu: Option<u32>,
}

/// A protocol in an access-list rule: a ferrogate keyword or an IP protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Named(&'static str),
    Number(u8),
}

/// A port or port range (`eq`, `lt`, `gt`, `neq`, `range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    pub first: u16,
    pub last: u16,
}

/// One `[[access_list]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub permit: bool,
    pub protocol: Protocol,
    pub src: Net,
    pub src_port: Option<Ports>,
    pub dst: Net,
    pub dst_port: Option<Ports>,
    pub icmp_type: Option<u8>,
}

#[derive(Debug)]
pub(crate) struct AccessList {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// `crypto ikev1 policy N`.
#[derive(Debug, Default)]
pub(crate) struct Ikev1Policy {
    pub line: usize,
    pub priority: u32,
    pub authentication: Option<&'static str>,
    pub encryption: Option<&'static str>,
    pub hash: Option<&'static str>,
    pub group: Option<u32>,
    pub lifetime: Option<u64>,
}

/// `crypto ikev2 policy N`.
#[derive(Debug, Default)]
pub(crate) struct Ikev2Policy {
    pub line: usize,
    pub priority: u32,
    pub encryption: Vec<&'static str>,
    pub integrity: Vec<&'static str>,
    pub prf: Vec<&'static str>,
    pub group: Vec<u32>,
    pub lifetime_seconds: Option<u64>,
}

/// `crypto ipsec ikev1 transform-set NAME ENC [INTEG]`.
#[derive(Debug)]
pub(crate) struct TransformSet {
    pub name: String,
    pub encryption: &'static str,
    pub integrity: &'static str,
    pub transport: bool,
}

/// `crypto ipsec ikev2 ipsec-proposal NAME`.
#[derive(Debug, Default)]
pub(crate) struct IpsecProposal {
    pub name: String,
    pub encryption: Vec<&'static str>,
    pub integrity: Vec<&'static str>,
}

/// `set security-association lifetime kilobytes N|unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kilobytes {
    Limit(u64),
    Unlimited,
}

/// One crypto map entry (`crypto map NAME SEQ ...`), static or dynamic.
#[derive(Debug, Default, Clone)]
pub(crate) struct CryptoMap {
    pub line: usize,
    pub name: String,
    pub sequence: u32,
    pub match_acl: Option<String>,
    pub peers: Vec<String>,
    pub ikev1_transform_sets: Vec<String>,
    pub ikev2_proposals: Vec<String>,
    /// DH group and the line that set it.
    pub pfs: Option<(u32, usize)>,
    pub lifetime_seconds: Option<u64>,
    pub lifetime_kilobytes: Option<Kilobytes>,
    pub connection_type: Option<&'static str>,
    pub replay_window: Option<u32>,
    pub nat_t: Option<bool>,
    pub reverse_route: Option<bool>,
    /// `crypto map NAME SEQ ipsec-isakmp dynamic DYN`: the dynamic map whose settings the
    /// entry takes. Set in the first pass; the second ([`super::dynamic_map::resolve`]) fills
    /// the entry from the dynamic map or drops it.
    pub dynamic: Option<String>,
    /// The tunnel group a dynamic entry answers (`dynamic = true`, `tunnel_group`): set only
    /// on dynamic entries that were imported.
    pub tunnel_group: Option<String>,
}

/// What runs on one interface (by nameif).
#[derive(Debug, Default)]
pub(crate) struct CryptoInterface {
    pub interface: String,
    pub crypto_map: Option<String>,
    pub ikev1: bool,
    pub ikev2: bool,
    pub fragmentation: Option<&'static str>,
    pub df_bit: Option<&'static str>,
}

/// `crypto ca trustpoint TP`.
#[derive(Debug)]
pub(crate) struct Trustpoint {
    pub name: String,
    /// The trustpoint holds our own certificate (it has a `keypair`, or a tunnel group
    /// authenticates with it).
    pub identity: bool,
}

/// `ip local pool` / `ipv6 local pool`.
#[derive(Debug)]
pub(crate) struct AddressPool {
    pub name: String,
    /// `range = "A-B"` or `prefix = "P/len"`.
    pub range: Option<String>,
    pub prefix: Option<String>,
}

/// `isakmp keepalive ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keepalive {
    Disable,
    Threshold { threshold: u32, retry: u32 },
}

/// `tunnel-group NAME ...`.
#[derive(Debug, Default)]
pub(crate) struct TunnelGroup {
    pub name: String,
    pub kind: Option<&'static str>,
    pub ikev1_pre_shared_key: Option<String>,
    pub ikev2_local_authentication: Option<&'static str>,
    pub ikev2_local_pre_shared_key: Option<String>,
    pub ikev2_remote_authentication: Option<&'static str>,
    pub ikev2_remote_pre_shared_key: Option<String>,
    pub trustpoint: Option<String>,
    pub peer_id_validate: Option<&'static str>,
    pub keepalive: Option<Keepalive>,
    pub address_pools: Vec<String>,
}

/// An ASA interface with a nameif: turned into a comment, since ferrogate interfaces need
/// DPDK ports that the ASA file cannot name.
#[derive(Debug)]
pub(crate) struct InterfaceHint {
    pub hardware: String,
    pub nameif: String,
    pub addresses: Vec<String>,
}

/// Everything converted.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub ike: IkeGlobal,
    pub access_lists: Vec<AccessList>,
    pub ikev1_policies: Vec<Ikev1Policy>,
    pub ikev2_policies: Vec<Ikev2Policy>,
    pub transform_sets: Vec<TransformSet>,
    pub proposals: Vec<IpsecProposal>,
    pub crypto_maps: Vec<CryptoMap>,
    pub crypto_interfaces: Vec<CryptoInterface>,
    pub trustpoints: Vec<Trustpoint>,
    pub address_pools: Vec<AddressPool>,
    pub tunnel_groups: Vec<TunnelGroup>,
    pub interfaces: Vec<InterfaceHint>,
}

impl Config {
    /// The crypto-interface entry for `name`, created on first use (file order).
    pub fn crypto_interface(&mut self, name: &str) -> &mut CryptoInterface {
        let pos = match self.crypto_interfaces.iter().position(|c| c.interface == name) {
            Some(pos) => pos,
            None => {
                self.crypto_interfaces
                    .push(CryptoInterface { interface: name.to_string(), ..Default::default() });
                self.crypto_interfaces.len() - 1
            }
        };
        &mut self.crypto_interfaces[pos]
    }

    /// The tunnel group `name`, created on first use (file order).
    pub fn tunnel_group(&mut self, name: &str) -> &mut TunnelGroup {
        let pos = match self.tunnel_groups.iter().position(|t| t.name == name) {
            Some(pos) => pos,
            None => {
                self.tunnel_groups
                    .push(TunnelGroup { name: name.to_string(), ..Default::default() });
                self.tunnel_groups.len() - 1
            }
        };
        &mut self.tunnel_groups[pos]
    }
}
