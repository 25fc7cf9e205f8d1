//! The shared SA table: [`SaTable`] for the control thread (the single writer), one
//! [`SaReader`] per worker.
// Readers dereference pointers published by the control thread; the QSBR protocol, not the
// borrow checker across threads, is what keeps them valid (see `Slots::get`).
#![allow(unsafe_code)]

use core::fmt;
use std::collections::VecDeque;
use std::sync::Mutex;

use crate::sa::{InboundSa, NODE_HOT_LINES, OutboundSa};
/// Index of an outbound SA: what the SPD / flow cache stores for a tunnel or policy. The
/// low bits name the slot, the high bits a tag that changes when the slot is reused, so a
/// stale index misses. A rekey ([`SaTable::rekey_outbound`]) keeps the index.
pub use crate::spd::SaIndex;

use super::codec::Codec;
use super::qsbr::Qsbr;
use super::slots::{Node, Owned, Slots};
use super::spi_index::SpiIndex;
use super::sync::Arc;

/// What the table needs to know about an inbound SA: the SPI it is looked up by.
pub trait InboundEntry: Send + Sync + 'static {
    fn spi(&self) -> u32;
}

impl InboundEntry for InboundSa {
    fn spi(&self) -> u32 {
        InboundSa::spi(self)
    }
}

/// Sizes of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableConfig {
    /// Inbound SA slots (rounded up to a power of two, at least 256, at most 2^24).
    pub inbound_capacity: usize,
    /// Outbound SA slots (same rounding).
    pub outbound_capacity: usize,
    /// Inbound SAs that can live outside their SPI's home slot (static SAs with arbitrary
    /// SPIs whose home slot is taken); the index has twice as many entries, rounded up to a
    /// power of two.
    pub foreign_capacity: usize,
    /// Worker (reader) ids `0..max_workers`.
    pub max_workers: usize,
    /// Seed of the slot tags; `None` = from the OS. Fixed seeds are for tests.
    pub seed: Option<u64>,
}

impl Default for TableConfig {
    /// 2^20 SAs each way, 65,536 foreign SPIs, 64 workers.
    fn default() -> Self {
        TableConfig {
            inbound_capacity: 1 << 20,
            outbound_capacity: 1 << 20,
            foreign_capacity: 1 << 16,
            max_workers: 64,
            seed: None,
        }
    }
}

/// Why a table operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// A capacity beyond 2^24 slots, or no worker, in [`TableConfig`].
    BadConfig,
    /// The OS random source failed (for the slot tags).
    RandomUnavailable,
    /// No free slot.
    Full,
    /// The foreign-SPI index is at [`TableConfig::foreign_capacity`].
    ForeignIndexFull,
    /// SPI 0..=255 (RFC 4303 2.1).
    ReservedSpi(u32),
    /// The SPI is reserved or installed already.
    SpiInUse(u32),
    /// No inbound SA (or reservation) with this SPI.
    UnknownSpi(u32),
    /// No outbound SA at this index.
    UnknownIndex(SaIndex),
    /// The worker id is not below [`TableConfig::max_workers`].
    BadWorker(u32),
    /// A reader for this worker id exists already.
    WorkerTaken(u32),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::BadConfig => f.write_str("SA table configuration out of range"),
            TableError::RandomUnavailable => f.write_str("OS random source unavailable"),
            TableError::Full => f.write_str("SA table full"),
            TableError::ForeignIndexFull => f.write_str("foreign SPI index full"),
            TableError::ReservedSpi(s) => write!(f, "SPI {s} is reserved (RFC 4303 2.1)"),
            TableError::SpiInUse(s) => write!(f, "SPI {s:#010x} in use"),
            TableError::UnknownSpi(s) => write!(f, "no inbound SA with SPI {s:#010x}"),
            TableError::UnknownIndex(i) => write!(f, "no outbound SA at {i}"),
            TableError::BadWorker(w) => write!(f, "worker id {w} out of range"),
            TableError::WorkerTaken(w) => write!(f, "worker {w} has a reader already"),
        }
    }
}

impl std::error::Error for TableError {}

/// Something unpublished, waiting for its grace period.
enum Garbage<I, O> {
    Inbound(#[allow(dead_code)] Owned<Node<I>>),
    Outbound(#[allow(dead_code)] Owned<Node<O>>),
    Index(#[allow(dead_code)] Owned<SpiIndex>),
}

/// What readers and the writer share.
struct Shared<I, O> {
    qsbr: Qsbr,
    inbound: Slots<Node<I>>,
    outbound: Slots<Node<O>>,
    /// One slot: the current foreign-SPI index.
    index: Slots<SpiIndex>,
    in_codec: Codec,
    out_codec: Codec,
    /// Retired objects of a dropped [`SaTable`] whose readers still run: freed with the
    /// last reader. Touched only by `SaTable::drop`.
    orphans: Mutex<Vec<Garbage<I, O>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// An SPI handed to the control plane, no SA yet (inbound only).
    Reserved,
    /// Published; `indexed` when the key's home slot is another one (foreign SPI index).
    Installed {
        indexed: bool,
    },
}

/// Writer-side bookkeeping of one slot.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// The SPI (inbound) or [`SaIndex`] value (outbound) of what the slot holds.
    key: u32,
    /// The last tag handed out for this slot.
    tag: u32,
    state: State,
    /// Whether the slot is in the free queue (at most once).
    queued: bool,
}

/// Slot allocation of one direction: least recently freed first.
struct Allocator {
    codec: Codec,
    meta: Vec<Meta>,
    free: VecDeque<u32>,
    used: usize,
}

impl Allocator {
    fn new(codec: Codec, rng: &mut SplitMix) -> Self {
        let n = codec.slots();
        let meta = (0..n)
            .map(|_| Meta {
                key: 0,
                tag: (rng.next() as u32) % codec.max_tag() + 1,
                state: State::Free,
                queued: true,
            })
            .collect();
        Allocator { codec, meta, free: (0..n as u32).collect(), used: 0 }
    }

    /// A free slot, out of the queue.
    fn pop(&mut self) -> Option<usize> {
        while let Some(s) = self.free.pop_front() {
            let m = &mut self.meta[s as usize];
            m.queued = false;
            if m.state == State::Free {
                return Some(s as usize);
            }
        }
        None
    }

    /// Marks `slot` used (its queue entry, if any, is skipped when popped).
    fn occupy(&mut self, slot: usize, key: u32, state: State) {
        let m = &mut self.meta[slot];
        m.key = key;
        m.state = state;
        self.used += 1;
    }

    fn release(&mut self, slot: usize) {
        let m = &mut self.meta[slot];
        m.state = State::Free;
        self.used -= 1;
        if !m.queued {
            m.queued = true;
            self.free.push_back(slot as u32);
        }
    }

    /// A new identifier for free slot `slot`: the slot's next tag.
    fn next_id(&mut self, slot: usize) -> u32 {
        let m = &mut self.meta[slot];
        m.tag = self.codec.next_tag(m.tag);
        self.codec.encode(slot, m.tag)
    }

    /// The slot holding exactly `id` in one of `states`, by its home slot.
    fn home_of(&self, id: u32) -> Option<(usize, State)> {
        let s = self.codec.slot(id);
        let m = self.meta[s];
        (m.state != State::Free && m.key == id).then_some((s, m.state))
    }
}

/// splitmix64: slot tags only need to be unpredictable from outside, not cryptographic.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The control thread's handle: the only writer. Every change is a pointer swap readers
/// never wait for; what it replaces is retired and freed by [`SaTable::reclaim`] once every
/// online worker has passed a quiescent point.
pub struct SaTable<I = InboundSa, O = OutboundSa> {
    shared: Arc<Shared<I, O>>,
    inb: Allocator,
    outb: Allocator,
    index_live: usize,
    index_tombstones: usize,
    foreign_capacity: usize,
    retired: VecDeque<(u64, Garbage<I, O>)>,
}

impl<I, O> fmt::Debug for SaTable<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaTable")
            .field("inbound", &self.inb.used)
            .field("outbound", &self.outb.used)
            .field("foreign", &self.index_live)
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

impl<I: InboundEntry, O: Send + Sync + 'static> SaTable<I, O> {
    pub fn new(cfg: TableConfig) -> Result<Self, TableError> {
        let in_codec = Codec::for_capacity(cfg.inbound_capacity).ok_or(TableError::BadConfig)?;
        let out_codec = Codec::for_capacity(cfg.outbound_capacity).ok_or(TableError::BadConfig)?;
        if cfg.max_workers == 0 || cfg.max_workers > u32::MAX as usize {
            return Err(TableError::BadConfig);
        }
        let foreign_capacity = cfg.foreign_capacity.clamp(1, in_codec.slots());
        let seed = match cfg.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|_| TableError::RandomUnavailable)?;
                u64::from_ne_bytes(b)
            }
        };
        let mut rng = SplitMix(seed);
        let index = Slots::new(1);
        drop(index.publish(0, Owned::new(SpiIndex::new(index_len(foreign_capacity)))));
        let shared = Shared {
            qsbr: Qsbr::new(cfg.max_workers),
            inbound: Slots::new(in_codec.slots()),
            outbound: Slots::new(out_codec.slots()),
            index,
            in_codec,
            out_codec,
            orphans: Mutex::new(Vec::new()),
        };
        Ok(SaTable {
            shared: Arc::new(shared),
            inb: Allocator::new(in_codec, &mut rng),
            outb: Allocator::new(out_codec, &mut rng),
            index_live: 0,
            index_tombstones: 0,
            foreign_capacity,
            retired: VecDeque::new(),
        })
    }

    /// The reader handle of worker `worker` (one at a time per id), online.
    pub fn reader(&self, worker: u32) -> Result<SaReader<I, O>, TableError> {
        let w = worker as usize;
        if w >= self.shared.qsbr.max_workers() {
            return Err(TableError::BadWorker(worker));
        }
        if !self.shared.qsbr.register(w) {
            return Err(TableError::WorkerTaken(worker));
        }
        Ok(SaReader { shared: self.shared.clone(), worker: w })
    }

    /// Inbound slots (a power of two).
    pub fn inbound_capacity(&self) -> usize {
        self.inb.meta.len()
    }
    /// Outbound slots (a power of two).
    pub fn outbound_capacity(&self) -> usize {
        self.outb.meta.len()
    }
    /// Inbound slots in use (reserved or installed).
    pub fn inbound_len(&self) -> usize {
        self.inb.used
    }
    /// Outbound SAs installed.
    pub fn outbound_len(&self) -> usize {
        self.outb.used
    }
    /// Inbound SAs reached through the foreign-SPI index.
    pub fn foreign_len(&self) -> usize {
        self.index_live
    }
    /// Retired objects not freed yet.
    pub fn pending_reclaim(&self) -> usize {
        self.retired.len()
    }

    /// Bytes the table takes per slot of capacity, both directions, shared arrays and
    /// writer bookkeeping (not the SAs themselves nor the foreign index).
    pub const fn bytes_per_slot() -> usize {
        // Published pointer + `Meta` + free-queue entry.
        size_of::<usize>() + size_of::<Meta>() + size_of::<u32>()
    }

    fn index(&self) -> &SpiIndex {
        // SAFETY: slot 0 always holds an index (published in `new`, replaced only by
        // `rebuild_index`); this is the writer, and a retired index is freed only by
        // `reclaim(&mut self)`, which cannot run while the returned borrow lives.
        unsafe { self.shared.index.get(0) }.expect("SA table: foreign index is always published")
    }

    fn retire(&mut self, g: Garbage<I, O>) {
        let target = self.shared.qsbr.advance();
        self.retired.push_back((target, g));
    }

    /// Reserves a fresh inbound SPI (to send to the peer before the keys exist). It encodes
    /// a free slot; install the SA with that SPI later, or [`SaTable::release_spi`] it.
    pub fn alloc_spi(&mut self) -> Result<u32, TableError> {
        let slot = self.inb.pop().ok_or(TableError::Full)?;
        let mut spi = self.inb.next_id(slot);
        // A foreign SA may already use this exact SPI: skip such tags.
        for _ in 0..8 {
            if self.index().lookup(spi).is_none() {
                self.inb.occupy(slot, spi, State::Reserved);
                return Ok(spi);
            }
            spi = self.inb.next_id(slot);
        }
        self.inb.occupy(slot, 0, State::Reserved);
        self.inb.release(slot);
        Err(TableError::Full)
    }

    /// Returns an SPI reserved by [`SaTable::alloc_spi`] that will not be installed.
    pub fn release_spi(&mut self, spi: u32) -> Result<(), TableError> {
        match self.inb.home_of(spi) {
            Some((slot, State::Reserved)) => {
                self.inb.release(slot);
                Ok(())
            }
            _ => Err(TableError::UnknownSpi(spi)),
        }
    }

    /// Installs an inbound SA under its SPI: into the slot an [`SaTable::alloc_spi`]
    /// reservation named, else into the SPI's home slot if free (SPIs allocated by a peer
    /// node of an HA pair, most static SPIs), else into any free slot through the
    /// foreign-SPI index. Workers see it from their next lookup on.
    pub fn install_inbound(&mut self, sa: I) -> Result<(), TableError> {
        let spi = sa.spi();
        if spi < 256 {
            return Err(TableError::ReservedSpi(spi));
        }
        match self.inb.home_of(spi) {
            Some((slot, State::Reserved)) => {
                self.inb.meta[slot].state = State::Installed { indexed: false };
                drop(self.shared.inbound.publish(slot, Owned::new(Node { key: spi, value: sa })));
                return Ok(());
            }
            Some(_) => return Err(TableError::SpiInUse(spi)),
            None => {}
        }
        if self.index().lookup(spi).is_some() {
            return Err(TableError::SpiInUse(spi));
        }
        let home = self.inb.codec.slot(spi);
        if self.inb.meta[home].state == State::Free {
            self.inb.occupy(home, spi, State::Installed { indexed: false });
            // The next SPI allocated for this slot must differ from this one.
            let tag = self.inb.codec.tag(spi);
            if tag != 0 {
                self.inb.meta[home].tag = tag;
            }
            drop(self.shared.inbound.publish(home, Owned::new(Node { key: spi, value: sa })));
            return Ok(());
        }
        if self.index_live >= self.foreign_capacity {
            return Err(TableError::ForeignIndexFull);
        }
        let slot = self.inb.pop().ok_or(TableError::Full)?;
        self.inb.occupy(slot, spi, State::Installed { indexed: true });
        // Node first, index entry second: a reader that finds the entry finds the node.
        drop(self.shared.inbound.publish(slot, Owned::new(Node { key: spi, value: sa })));
        if (self.index_live + self.index_tombstones + 1) * 4 > self.index().len() * 3 {
            self.rebuild_index();
        }
        match self.index().insert(spi, slot as u32) {
            Some(reused_tombstone) => {
                self.index_live += 1;
                if reused_tombstone {
                    self.index_tombstones -= 1;
                }
                Ok(())
            }
            None => {
                // Unreachable by the load-factor check above; undo rather than panic.
                if let Some(n) = self.shared.inbound.take(slot) {
                    self.retire(Garbage::Inbound(n));
                }
                self.inb.release(slot);
                Err(TableError::ForeignIndexFull)
            }
        }
    }

    fn rebuild_index(&mut self) {
        let fresh = Owned::new(self.index().rebuilt());
        if let Some(old) = self.shared.index.publish(0, fresh) {
            self.retire(Garbage::Index(old));
        }
        self.index_tombstones = 0;
    }

    /// The slot of the installed inbound SA `spi`.
    fn inbound_slot(&self, spi: u32) -> Option<(usize, bool)> {
        match self.inb.home_of(spi) {
            Some((slot, State::Installed { indexed: false })) => Some((slot, false)),
            _ => self.index().lookup(spi).map(|s| (s as usize, true)),
        }
    }

    /// Replaces the inbound SA with the same SPI (e.g. rebuilt with new lifetimes); the old
    /// one is retired. Readers see one or the other, never neither.
    pub fn replace_inbound(&mut self, sa: I) -> Result<(), TableError> {
        let spi = sa.spi();
        let (slot, _) = self.inbound_slot(spi).ok_or(TableError::UnknownSpi(spi))?;
        if let Some(old) =
            self.shared.inbound.publish(slot, Owned::new(Node { key: spi, value: sa }))
        {
            self.retire(Garbage::Inbound(old));
        }
        Ok(())
    }

    /// Deletes inbound SA `spi`; workers stop finding it from their next lookup on, and it
    /// is freed by a later [`SaTable::reclaim`].
    pub fn delete_inbound(&mut self, spi: u32) -> Result<(), TableError> {
        let (slot, indexed) = self.inbound_slot(spi).ok_or(TableError::UnknownSpi(spi))?;
        if indexed {
            // Entry first, node second (the reverse of install).
            self.index().remove(spi);
            self.index_live -= 1;
            self.index_tombstones += 1;
        }
        if let Some(old) = self.shared.inbound.take(slot) {
            self.retire(Garbage::Inbound(old));
        }
        self.inb.release(slot);
        Ok(())
    }

    /// The inbound SA `spi`, for the control thread (counters, `show` commands).
    pub fn inbound(&self, spi: u32) -> Option<&I> {
        let (slot, _) = self.inbound_slot(spi)?;
        // SAFETY: this is the writer; nodes are freed only by `reclaim(&mut self)`, which
        // cannot run while the returned borrow of `self` lives.
        unsafe { self.shared.inbound.get(slot) }.map(|n| &n.value)
    }

    /// Installs an outbound SA in a free slot; the SPD / flow cache stores the index.
    pub fn install_outbound(&mut self, sa: O) -> Result<SaIndex, TableError> {
        let slot = self.outb.pop().ok_or(TableError::Full)?;
        let id = self.outb.next_id(slot);
        self.outb.occupy(slot, id, State::Installed { indexed: false });
        drop(self.shared.outbound.publish(slot, Owned::new(Node { key: id, value: sa })));
        Ok(SaIndex(id))
    }

    /// Make-before-break rekey: switches the tunnel at `idx` to `sa` in one pointer swap
    /// (workers encrypt with the old SA or the new one, never with none) and retires the
    /// old SA. The index stays valid. The old inbound SA is not touched: it keeps accepting
    /// until [`SaTable::delete_inbound`].
    pub fn rekey_outbound(&mut self, idx: SaIndex, sa: O) -> Result<(), TableError> {
        let (slot, _) = self.outb.home_of(idx.0).ok_or(TableError::UnknownIndex(idx))?;
        if let Some(old) =
            self.shared.outbound.publish(slot, Owned::new(Node { key: idx.0, value: sa }))
        {
            self.retire(Garbage::Outbound(old));
        }
        Ok(())
    }

    /// Deletes the outbound SA at `idx`; the index misses from then on.
    pub fn delete_outbound(&mut self, idx: SaIndex) -> Result<(), TableError> {
        let (slot, _) = self.outb.home_of(idx.0).ok_or(TableError::UnknownIndex(idx))?;
        if let Some(old) = self.shared.outbound.take(slot) {
            self.retire(Garbage::Outbound(old));
        }
        self.outb.release(slot);
        Ok(())
    }

    /// The outbound SA at `idx`, for the control thread.
    pub fn outbound(&self, idx: SaIndex) -> Option<&O> {
        let (slot, _) = self.outb.home_of(idx.0)?;
        // SAFETY: as in `inbound`: only `reclaim(&mut self)` frees.
        unsafe { self.shared.outbound.get(slot) }.map(|n| &n.value)
    }

    /// Frees every retired object all online workers are done with; returns how many.
    /// Call it periodically (it never waits).
    pub fn reclaim(&mut self) -> usize {
        if self.retired.is_empty() {
            return 0;
        }
        let seen = self.shared.qsbr.min_seen();
        let mut n = 0;
        // Targets grow along the queue.
        while self.retired.front().is_some_and(|(target, _)| *target <= seen) {
            drop(self.retired.pop_front());
            n += 1;
        }
        n
    }
}

impl<I, O> Drop for SaTable<I, O> {
    fn drop(&mut self) {
        if self.retired.is_empty() {
            return;
        }
        let mut orphans = match self.shared.orphans.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        orphans.extend(self.retired.drain(..).map(|(_, g)| g));
    }
}

/// Lookups whose loads a burst lookup keeps in flight together.
const BURST_CHUNK: usize = 32;

fn index_len(foreign_capacity: usize) -> usize {
    (foreign_capacity.saturating_mul(2)).next_power_of_two().max(2)
}

/// A worker's handle: lock-free, wait-free lookups. References it returns borrow the
/// handle, and [`SaReader::quiescent`] takes `&mut self`, so no reference survives the
/// quiescent point after which the SA may be freed: use-after-free does not compile.
pub struct SaReader<I = InboundSa, O = OutboundSa> {
    shared: Arc<Shared<I, O>>,
    worker: usize,
}

impl<I, O> fmt::Debug for SaReader<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaReader").field("worker", &self.worker).finish_non_exhaustive()
    }
}

impl<I, O> SaReader<I, O> {
    pub fn worker(&self) -> u32 {
        self.worker as u32
    }

    /// The inbound SA for an ESP packet's SPI: one load and one compare for SPIs ferrogate
    /// allocated (and most static ones), a short hash probe for the others. Plugs into
    /// `esp::decap_burst` as `|spi| reader.inbound(spi)`.
    #[inline]
    pub fn inbound(&self, spi: u32) -> Option<&I> {
        let s = &*self.shared;
        // SAFETY: this reader is online (offline needs `&mut self`, and so does the
        // quiescent point), and the result borrows `self`: it cannot outlive the next
        // quiescent point, before which no retired node is freed (QSBR).
        if let Some(n) = unsafe { s.inbound.get(s.in_codec.slot(spi)) }
            && n.key == spi
        {
            return Some(&n.value);
        }
        self.inbound_foreign(spi)
    }

    #[inline(never)]
    fn inbound_foreign(&self, spi: u32) -> Option<&I> {
        let s = &*self.shared;
        // SAFETY: as in `inbound`; the index is retired and freed through QSBR as well.
        let slot = unsafe { s.index.get(0) }?.lookup(spi)?;
        // SAFETY: as in `inbound`.
        let n = unsafe { s.inbound.get(slot as usize) }?;
        (n.key == spi).then_some(&n.value)
    }

    /// The outbound SA at `idx` (what the flow cache stored), if still installed.
    #[inline]
    pub fn outbound(&self, idx: SaIndex) -> Option<&O> {
        let s = &*self.shared;
        // SAFETY: as in `inbound`.
        let n = unsafe { s.outbound.get(s.out_codec.slot(idx.0)) }?;
        (n.key == idx.0).then_some(&n.value)
    }

    /// Starts loading the home slot [`SaReader::inbound`] will read for `spi`.
    #[inline]
    pub fn prefetch_inbound(&self, spi: u32) {
        let s = &*self.shared;
        s.inbound.prefetch(s.in_codec.slot(spi));
    }

    /// Starts loading the slot [`SaReader::outbound`] will read for `idx`: call it for a
    /// burst's SAs before looking them up, so the misses overlap.
    #[inline]
    pub fn prefetch_outbound(&self, idx: SaIndex) {
        let s = &*self.shared;
        s.outbound.prefetch(s.out_codec.slot(idx.0));
    }

    /// Starts loading the hot lines of the inbound node in `spi`'s home slot (its pointer
    /// cell was prefetched by [`SaReader::prefetch_inbound`]; a foreign SPI's SA lives
    /// elsewhere and is simply not helped).
    #[inline]
    pub fn prefetch_inbound_node(&self, spi: u32) {
        let s = &*self.shared;
        s.inbound.prefetch_node(s.in_codec.slot(spi), NODE_HOT_LINES);
    }

    /// Starts loading the hot lines of the outbound node at `idx` (after
    /// [`SaReader::prefetch_outbound`]): the key [`SaReader::outbound`] checks and the
    /// per-packet fields laid out after it.
    #[inline]
    pub fn prefetch_outbound_node(&self, idx: SaIndex) {
        let s = &*self.shared;
        s.outbound.prefetch_node(s.out_codec.slot(idx.0), NODE_HOT_LINES);
    }

    /// Looks up a burst: `out[i]` for `spis[i]` (pairs beyond the shorter slice are left
    /// alone). All slot loads of a chunk are issued before any node is read, so their cache
    /// misses overlap (VPP prefetches the same way); at a million SAs this is several times
    /// faster per lookup than one [`SaReader::inbound`] after another.
    pub fn inbound_burst<'a>(&'a self, spis: &[u32], out: &mut [Option<&'a I>]) {
        let s = &*self.shared;
        for (spis, out) in spis.chunks(BURST_CHUNK).zip(out.chunks_mut(BURST_CHUNK)) {
            let mut nodes: [Option<&Node<I>>; BURST_CHUNK] = [None; BURST_CHUNK];
            for (n, &spi) in nodes.iter_mut().zip(spis) {
                // SAFETY: as in `inbound`; the references borrow `self`.
                *n = unsafe { s.inbound.get(s.in_codec.slot(spi)) };
            }
            for ((o, n), &spi) in out.iter_mut().zip(&nodes).zip(spis) {
                *o = match n {
                    Some(n) if n.key == spi => Some(&n.value),
                    _ => self.inbound_foreign(spi),
                };
            }
        }
    }

    /// [`SaReader::outbound`] for a burst, with the loads overlapped as in
    /// [`SaReader::inbound_burst`].
    pub fn outbound_burst<'a>(&'a self, idxs: &[SaIndex], out: &mut [Option<&'a O>]) {
        let s = &*self.shared;
        for (idxs, out) in idxs.chunks(BURST_CHUNK).zip(out.chunks_mut(BURST_CHUNK)) {
            let mut nodes: [Option<&Node<O>>; BURST_CHUNK] = [None; BURST_CHUNK];
            for (n, idx) in nodes.iter_mut().zip(idxs) {
                // SAFETY: as in `inbound`; the references borrow `self`.
                *n = unsafe { s.outbound.get(s.out_codec.slot(idx.0)) };
            }
            for ((o, n), idx) in out.iter_mut().zip(&nodes).zip(idxs) {
                *o = n.filter(|n| n.key == idx.0).map(|n| &n.value);
            }
        }
    }

    /// A quiescent point: call between bursts, when no reference from this reader is in
    /// use. Costs one load and one store to this worker's own cache line.
    #[inline]
    pub fn quiescent(&mut self) {
        self.shared.qsbr.quiescent(self.worker);
    }

    /// Goes offline (before blocking, sleeping, or idling) so reclamation does not wait for
    /// this worker; back online when the guard is dropped or [`Parked::online`] is called.
    pub fn offline(&mut self) -> Parked<'_, I, O> {
        self.shared.qsbr.offline(self.worker);
        Parked { reader: self }
    }
}

impl<I, O> Drop for SaReader<I, O> {
    fn drop(&mut self) {
        self.shared.qsbr.unregister(self.worker);
    }
}

/// An offline reader: no lookups possible until it is online again.
#[derive(Debug)]
pub struct Parked<'r, I = InboundSa, O = OutboundSa> {
    reader: &'r mut SaReader<I, O>,
}

impl<'r, I, O> Parked<'r, I, O> {
    /// Online again; lookups may start right away (same as dropping the guard).
    pub fn online(self) {
        drop(self);
    }
}

impl<I, O> Drop for Parked<'_, I, O> {
    fn drop(&mut self) {
        self.reader.shared.qsbr.online(self.reader.worker);
    }
}
