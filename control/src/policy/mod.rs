//! The crypto-map policy model: access lists, IKEv1/IKEv2 policies, transform sets, IPsec
//! proposals, crypto maps, crypto interfaces, trustpoints, address pools, tunnel groups,
//! `[ike]` globals, `[ha]`, `[cluster]` and `[management]`, parsed and validated from the
//! TOML config (format: `notes/crypto-config-format.md`; names and semantics after the
//! Cisco ASA).
//!
//! - [`parse`] loads a whole ferrogate config file (other sections are skipped) into a
//!   [`PolicyConfig`], reporting every error and warning at once with file, line, column
//!   and field path ([`Diagnostics`]).
//! - [`PolicyConfig::diff`] says what a reload changes: crypto map entries added, removed,
//!   changed (peer index reset) or untouched, and which tunnels must be torn down.
//! - [`PolicyConfig::to_toml`] renders the canonical form (`show running-config`).
//!
//! Nothing here reads files: `*_file` keys and certificate paths stay paths.

mod acl;
mod algorithms;
mod diagnostics;
mod diff;
pub mod ikev1_peers;
pub mod ikev2_peers;
mod keywords;
mod model;
mod parse;
mod parse_crypto;
mod parse_groups;
mod parse_maps;
mod reader;
mod render;
mod validate;

use std::path::Path;

pub use acl::{
    AccessList, AclAction, AclProtocol, AclRule, AddressSpec, parse_port_range, parse_prefix,
    port_range_text,
};
pub use algorithms::{
    DhGroup, EspEncryption, EspIntegrity, IkeEncryption, IkeIntegrity, Prf, auth_id, encr_id,
};
pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use diff::{MapKey, PolicyDiff};
pub use model::{
    AddressPool, ClusterConfig, ClusterRole, ClusterVpnMode, ConnectionType, CryptoInterface,
    CryptoMapEntry, DEFAULT_IKEV2_FRAGMENTATION_MTU, DEFAULT_L2L_GROUP, DfBit, Fragmentation,
    HaConfig, HaRole, IkeGlobals, IkeIdentity, IkeVersion, Ikev1Authentication, Ikev1Phase1Mode,
    Ikev1Policy, Ikev2Authentication, Ikev2Policy, IpsecMode, IpsecProposal, Keepalive,
    KilobyteLifetime, LocalUser, MAX_CLUSTER_UNITS, Management, PeerIdValidate, PolicyConfig,
    PoolRange, Secret, TransformSet, Trustpoint, TunnelGroup, TunnelGroupType,
};
pub use parse::{OTHER_SECTIONS, POLICY_SECTIONS};
pub use parse_maps::{MAX_PEERS, MAX_TRANSFORMS};
pub use render::HIDDEN;

/// A loaded policy and the warnings the load produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The validated, canonically ordered policy.
    pub config: PolicyConfig,
    /// Warnings (weak algorithms, removed references); never errors.
    pub warnings: Diagnostics,
}

/// Parses and validates the policy sections of the config file `text` (named `file` in
/// messages). `known_interfaces` are the dataplane interface names (`[[interface]]`) that
/// `crypto_interface`, `[ha]` and `[cluster]` may name. Returns every error and warning on
/// failure.
pub fn parse(file: &Path, text: &str, known_interfaces: &[&str]) -> Result<Loaded, Diagnostics> {
    let (mut ctx, sections) = parse::read(file, text, known_interfaces);
    let config = sections.map(|s| validate::validate(&mut ctx, s));
    let (config, warnings) = parse::finish(ctx, config)?;
    Ok(Loaded { config, warnings })
}
