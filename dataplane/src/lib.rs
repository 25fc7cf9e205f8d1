//! ferrogate dataplane: everything a worker core does to a packet, in pure Rust.
//!
//! - [`wire`]: zero-copy typed views of the headers the dataplane reads and writes
//!   (smoltcp style: checked constructors, no panics on any input).
//! - [`buf`]: the [`buf::PacketBuf`] trait the pipeline is generic over, so tests and
//!   benchmarks run on plain `Vec`s while the appliance runs on DPDK mbufs.
//! - [`crypto`]: ESP transforms and the crypto engines behind one interface.
//! - [`sa`]: per-SA configuration and runtime state (sequence numbers, anti-replay,
//!   lifetimes, counters).
//! - [`esp`]: RFC 4303 encapsulation and decapsulation over bursts of packets.
//!
//! Nothing here does I/O, reads a clock or allocates on the per-packet path: time is passed
//! in by the caller.
#![deny(unsafe_code)]

pub mod buf;
pub mod crypto;
pub mod esp;
pub mod sa;
pub mod wire;
