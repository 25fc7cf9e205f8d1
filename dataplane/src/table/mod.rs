//! The shared SA table: lock-free lookups for the workers, a single writer (the control
//! thread) that installs, rekeys and deletes SAs without ever stopping a worker.
//!
//! VPP stops its workers (the API barrier) around every SA add and delete. Here the control
//! thread instead publishes by atomic pointer swap and frees what it replaced only after a
//! grace period, quiescent-state-based reclamation (module `qsbr`): each worker announces a
//! quiescent point between bursts, one store to its own cache line.
//!
//! - Inbound: slot array indexed by SPI. SPIs from [`SaTable::alloc_spi`] carry their slot
//!   in the low bits and a per-slot tag in the high bits (`codec`), so lookup is one load
//!   and one compare, and stale or guessed SPIs miss. Foreign SPIs go to their home slot
//!   when it is free, else through an open-addressing index (module `spi_index`).
//! - Outbound: slot array indexed by [`SaIndex`], which the SPD / flow cache stores; a rekey
//!   swaps the pointer in the tunnel's slot.
//! - Readers: [`SaReader`]; references borrow it and [`SaReader::quiescent`] needs
//!   `&mut`, so none survives a quiescent point. No lock, allocation or syscall on the
//!   reader path.
//!
//! Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p dataplane --release --lib
//! loom` (see `loom_tests`).
#![allow(unexpected_cfgs)]

mod codec;
pub(crate) mod qsbr;
mod refs;
mod sa_table;
mod slots;
pub(crate) mod spi_index;
pub(crate) mod sync;

#[cfg(all(test, loom))]
mod loom_tests;

pub use refs::SaRefs;
pub use sa_table::{InboundEntry, Parked, SaIndex, SaReader, SaTable, TableConfig, TableError};
#[cfg(test)]
pub(crate) use slots::Node;
