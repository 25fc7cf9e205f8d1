//! Control ↔ worker queues: per worker, one bounded SPSC ring of [`Command`]s from the
//! control thread and one of [`Event`]s back. Neither end ever blocks: a full ring refuses
//! the item and counts it ([`Producer::refused`]), and both ends move items in bursts
//! ([`Producer::push_burst`], [`Consumer::pop_burst`]).
//!
//! SA installs and deletes do not travel here: they go through the shared
//! [`crate::table::SaTable`], which workers read directly.
//!
//! Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p dataplane --release --lib
//! loom` (see `loom_tests`).
#![allow(unexpected_cfgs)]

mod spsc;

#[cfg(all(test, loom))]
mod loom_tests;

pub use spsc::{Consumer, Producer, channel};

use crate::esp::{ControlReason, WorkerStats};
use crate::l3::Interfaces;
use crate::sa::{DropReason, SaEvent};
use std::sync::Arc;

use crate::spd::{AcquireEvent, PolicyId, SaIndex, Spd};

/// From the control thread to one worker. `P` is the packet handle type (an mbuf wrapper in
/// the appliance, a `VecBuf` in tests).
#[derive(Debug)]
pub enum Command<P> {
    /// Reply with an [`Event::Counters`] carrying `request`.
    CountersRequest { request: u64 },
    /// Send this packet (an IKE message, a reinjected punted packet): an IPv4 packet without
    /// L2 header, routed like a packet the appliance originates.
    Transmit(P),
    /// Replace the SPD; the worker's flow cache is invalidated in O(1).
    InstallSpd(Arc<Spd>),
    /// `policy`'s outbound SA is now `sa` (`None`: unbound). With an SA, the packets held for
    /// the policy's ACQUIRE are encrypted and sent.
    BindSa { policy: PolicyId, sa: Option<SaIndex> },
    /// The interfaces' addresses and MACs change (an HA unit became active or standby):
    /// the same interfaces in the same order on the same ports and VLANs, or the worker
    /// keeps its own. With `announce`, every IPv4 address is announced by gratuitous ARP
    /// so that neighbours and switches move to this unit at once.
    SetInterfaces { ifaces: Box<Interfaces>, announce: bool },
}

/// From a worker to the control thread.
#[derive(Debug)]
pub enum Event<P> {
    /// A packet matched a protect policy with no SA: negotiate one (policy and the
    /// triggering flow, RFC 4301 5.2).
    Acquire(AcquireEvent),
    /// An SA lifetime (soft: rekey, hard: gone) ran out.
    Sa(SaEvent),
    /// A packet for the control plane (IKE, non-ESP).
    Punt { reason: ControlReason, packet: P },
    /// Reply to [`Command::CountersRequest`].
    Counters(CountersReply),
}

/// A worker's counters at one point between bursts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountersReply {
    pub request: u64,
    pub worker: u32,
    /// Drops attributable to no SA, by [`DropReason::index`].
    pub drops: [u64; DropReason::COUNT],
    pub nat_keepalives: u64,
    pub ike: u64,
    pub not_esp: u64,
    pub icmp_errors: u64,
    pub fragments_out: u64,
    pub reassembled: u64,
    /// Events this worker could not queue because the event ring was full.
    pub events_refused: u64,
}

impl CountersReply {
    pub fn from_stats(request: u64, worker: u32, s: &WorkerStats, events_refused: u64) -> Self {
        let mut drops = [0; DropReason::COUNT];
        for r in DropReason::ALL {
            drops[r.index()] = s.drops.get(*r);
        }
        CountersReply {
            request,
            worker,
            drops,
            nat_keepalives: s.nat_keepalives.get(),
            ike: s.ike.get(),
            not_esp: s.not_esp.get(),
            icmp_errors: s.icmp_errors.get(),
            fragments_out: s.fragments_out.get(),
            reassembled: s.reassembled.get(),
            events_refused,
        }
    }
}

/// The control thread's ends of one worker's queues.
#[derive(Debug)]
pub struct ControlEnd<P> {
    pub worker: u32,
    pub commands: Producer<Command<P>>,
    pub events: Consumer<Event<P>>,
}

/// A worker's ends of its queues.
#[derive(Debug)]
pub struct WorkerEnd<P> {
    pub worker: u32,
    pub commands: Consumer<Command<P>>,
    pub events: Producer<Event<P>>,
}

/// Creates the two rings of worker `worker`.
pub fn worker_queues<P: Send>(
    worker: u32,
    commands: usize,
    events: usize,
) -> (ControlEnd<P>, WorkerEnd<P>) {
    let (cp, cc) = channel(commands);
    let (ep, ec) = channel(events);
    (
        ControlEnd { worker, commands: cp, events: ec },
        WorkerEnd { worker, commands: cc, events: ep },
    )
}
