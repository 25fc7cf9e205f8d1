//! ferrogate: an IPsec VPN concentrator with a DPDK kernel-bypass dataplane.
//!
//! This crate is the appliance: the DPDK glue ([`dpdk`]), the profile format ([`profile`]),
//! the port-pair forwarding runtime ([`forward`]), the command line ([`cli`]), capture files
//! ([`pcap`]) and the offline ESP tool ([`esp_tool`]). Packet processing itself lives in the
//! pure-Rust `dataplane` crate.
#![deny(unsafe_code)]

pub mod appliance;
pub mod bench;
pub mod cli;
#[allow(unsafe_code)]
pub mod dpdk;
pub mod esp_tool;
pub mod forward;
// `gen` is a reserved word in Rust 2024: the module is `r#gen` (src/gen/).
pub mod r#gen;
pub mod import_asa;
pub mod loadtest;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod pcap;
pub mod privilege;
pub mod profile;
