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
//! - [`l3`]: interfaces, static routes, ARP/ND neighbours, TTL/ICMP, received-frame classification.
//! - [`spd`]: outbound classification (crypto-map ACLs): tuple-space search, a per-worker
//!   flow cache invalidated by epoch, and rate-limited ACQUIRE with held packets.
//! - [`table`]: the shared SA table, lock-free for readers, reclaimed by QSBR.
//! - [`queue`]: bounded lock-free SPSC rings between the control plane and each worker.
//! - [`pipeline`]: one worker core's burst pipeline tying these together (classify, SPD,
//!   ESP, route, neighbour, transmit), without DPDK.
//!
//! Nothing here does I/O, reads a clock or allocates on the per-packet path: time is passed
//! in by the caller.
#![deny(unsafe_code)]

pub mod buf;
pub mod crypto;
pub mod esp;
pub mod ike_io;
pub mod l3;
pub mod pipeline;
mod prefetch;
pub mod queue;
pub mod sa;
pub mod spd;
pub mod table;
pub mod wire;
