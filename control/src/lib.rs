//! ferrogate control plane: pure Rust, sans-IO. Nothing here reads a clock (callers pass
//! [`time::Time`]), opens a socket or uses an unseeded RNG, so every timer is testable on a
//! virtual clock.
//!
//! - [`policy`]: the crypto-map policy model (ACLs, IKE policies, transform sets, IKEv2
//!   proposals, crypto maps, tunnel groups) parsed and validated from the TOML config;
//! - [`crypto`]: the IKE crypto suite (Diffie-Hellman groups, PRFs, key derivation, the
//!   encrypted-payload ciphers);
//! - [`ikev2`]: IKEv2 (RFC 7296): codec, negotiation, the SA state machine, DoS defences;
//! - [`retransmit`]: the request retransmission schedule both IKE versions use;
//! - [`keylog`]: the opt-in tshark key log lines;
//! - [`asa_import`]: converts a Cisco ASA running-config's crypto sections into a ferrogate
//!   config.
#![forbid(unsafe_code)]

#[macro_use]
mod codepoint;

pub mod asa_import;
pub mod crypto;
pub mod esp;
pub mod failover;
pub mod ha;
pub mod ikev1;
pub mod ikev2;
pub mod keylog;
pub mod pki;
pub mod policy;
pub mod pool;
pub mod retransmit;
pub mod rng;
pub mod time;

/// The tracing targets of the `debug crypto ...` facilities (the reference document's
/// debug commands): the control plane logs protocol detail under these, and the appliance
/// raises their levels at run time.
pub mod log {
    /// `debug crypto ikev2 protocol`.
    pub const IKEV2_PROTOCOL: &str = "ikev2_protocol";
    /// `debug crypto ikev2 platform`.
    pub const IKEV2_PLATFORM: &str = "ikev2_platform";
    /// `debug crypto ikev1`.
    pub const IKEV1: &str = "ikev1";
    /// `debug crypto ike-common`.
    pub const IKE_COMMON: &str = "ike_common";
}
