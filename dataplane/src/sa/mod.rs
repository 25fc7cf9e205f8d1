//! Per-SA configuration and runtime state: sequence numbers, anti-replay, lifetimes, counters.
//!
//! [`SaConfig`] is what the control plane decides; [`OutboundSa`] and [`InboundSa`] are the
//! runtime structs, hot fields first, a worker touches per packet, built once from it (crypto
//! key schedules included). Events (lifetime soft/hard, sequence space) come out of the burst
//! functions in [`crate::esp`] as [`SaEvent`]s.

pub mod config;
pub mod counters;
pub mod lifetime;
pub mod replay;
mod runtime;

pub use config::{
    DEFAULT_MTU, DEFAULT_TTL, DfPolicy, Direction, DscpPolicy, Encap, FragPolicy, MIN_MTU, Mode,
    OriginalAddrs, SaConfig, SaError,
};
pub use counters::{Counter, DropCounters, DropReason, SaCounters};
pub use lifetime::{Lifetimes, LimitKind, Limits, SaEvent, SaEventKind};
pub use replay::{ReplayError, ReplayWindow};
pub use runtime::{InboundSa, OutboundSa};

pub(crate) use runtime::{IPV4_HDR, IPV6_HDR, NODE_HOT_LINES, SeqBlock, UDP_HDR};
