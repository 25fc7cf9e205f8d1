//! RFC 4303 ESP encapsulation and decapsulation over bursts of packets.
//!
//! Both directions run in three stages over a whole burst (VPP's `esp_encrypt_inline` /
//! `esp_decrypt_inline`):
//!
//! 1. **prepare**: per packet, checks, sequence number / replay pre-check, headers and
//!    trailer written in place (headroom / tailroom), one [`CryptoOp`] filed; outbound
//!    sequence numbers are reserved with one atomic per run of consecutive packets on one
//!    SA, and the unused ones of dropped packets given back when the run ends;
//! 2. **crypto**: one [`WorkerCrypto::seal_burst`] / [`WorkerCrypto::open_burst`] call;
//! 3. **finish**: per packet, the op status becomes a [`Disposition`]; inbound re-checks
//!    replay (duplicates inside one burst all pass the first check) and only then advances
//!    the window, verifies the padding and strips the headers.
//!
//! [`EspWorker`] is a worker core's state: the crypto engine context, reusable scratch
//! vectors (cleared each burst, never shrunk, so a warmed-up worker allocates nothing per
//! packet), the event queue, counters for drops not attributable to an SA, and the outer
//! reassembly table.
//!
//! Modes: tunnel (IPv4/IPv6 inner in IPv4/IPv6 outer) and transport (IPv4, IPv6), raw ESP
//! or ESP-in-UDP (RFC 3948). In IPv6 transport mode ESP goes after the Hop-by-Hop, Routing
//! and Destination Options headers that precede the upper layer, in both directions.
//!
//! Every header is read and written through the [`crate::wire`] views (`new_checked` for
//! received bytes, `new_unchecked` and setters for headers written into headroom). The
//! private `ip` module condenses an IPv4 or IPv6 view into a family-neutral summary
//! (header length, where the upper-layer protocol is named after the IPv6 extension
//! headers, fragment flags) computed once per packet.
//!
//! Transport mode over UDP encapsulation (RFC 3948 3.1.2): the restored packet's TCP/UDP
//! checksum was computed by the peer over its own, possibly NATed, addresses. When the SA
//! knows the peer's original addresses (NAT-OA, or IKEv2 transport-mode traffic selectors)
//! the checksum is fixed incrementally (RFC 1624; O(1), and a checksum the sender got
//! wrong stays wrong); otherwise it is recomputed over the restored packet (the payload was
//! authenticated by ESP, so nothing is lost). A zero UDP checksum is left alone. Zeroing
//! the IPv4 UDP checksum, the RFC's cheapest option, is not used: it does not cover TCP or
//! IPv6, and it would turn a byte-identical restore into a changed packet.

mod decap;
pub mod ecn;
mod encap;
mod frag;
mod icmp;
mod ip;
mod natt;
pub mod reassembly;

use core::net::SocketAddr;

use crate::buf::{PacketBuf, VecBuf};
use crate::crypto::{CryptoOp, OpStatus, WorkerCrypto};
use crate::sa::{Counter, DropCounters, DropReason, InboundSa, SaEvent};

pub use decap::decap_burst;
pub use encap::encap_burst;
pub use reassembly::{Reassembler, ReassemblyConfig, ReassemblyOutcome};

pub use crate::wire::udp_encap::NAT_T_PORT;

/// What to do with one packet after a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transmit the packet now in the buffer: outbound, the outer ESP packet (to the
    /// outside); inbound, the inner (tunnel) or restored (transport) IP packet.
    Forward,
    /// Drop it (already counted).
    Drop(DropReason),
    /// Not for the ESP engine: hand the unchanged packet to the control plane.
    ToControl(ControlReason),
    /// The packet did not fit and may not be fragmented: the buffer now holds an ICMP
    /// "fragmentation needed" / ICMPv6 "packet too big" error addressed to the inner sender,
    /// to be sent on the inside. The original packet is counted as a `TooBig` drop.
    IcmpError,
    /// The bytes were absorbed (a fragment held for reassembly): release the buffer.
    Consumed,
}

/// Why a packet goes to the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlReason {
    /// IKE on port 4500 (non-ESP marker, RFC 3948 2.2).
    Ike,
    /// NAT-keepalive (a single 0xFF byte, RFC 3948 2.3); counted, the caller may drop it.
    NatKeepalive,
    /// Neither ESP nor ESP-in-UDP.
    NotEsp,
}

/// Per-packet result of [`decap_burst`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecapResult {
    pub disposition: Disposition,
    /// The SPI of an ESP packet (0 when none was read).
    pub spi: u32,
    /// For an authenticated ESP-in-UDP packet: the outer source address and port, so the
    /// caller can float the peer (RFC 3948 / RFC 7296 2.23) when they change.
    pub udp_src: Option<SocketAddr>,
}

/// Makes new packet buffers (for fragments and reassembled datagrams).
pub trait BufAlloc<B> {
    /// A buffer whose data is `len` bytes (content unspecified), with head- and tailroom
    /// for ESP; `None` when out of buffers.
    fn alloc(&mut self, len: usize) -> Option<B>;
}

/// Splits the plaintext IPv4 packet in `pkt` into fragments of at most `mtu` bytes (RFC 791
/// section 3.2), as a router does on an egress link with a smaller MTU: `pkt` becomes the
/// first fragment and the others are appended to `out`, in order. Packets with IP options
/// and MTUs below 28 bytes are refused; nothing changes on error.
pub fn fragment_ipv4<B: PacketBuf, A: BufAlloc<B>>(
    pkt: &mut B,
    mtu: usize,
    alloc: &mut A,
    out: &mut Vec<B>,
) -> Result<(), DropReason> {
    let info = ip::parse(pkt.data(), false).ok_or(DropReason::Malformed)?;
    frag::fragment_v4(pkt, &info, mtu, alloc, out)
}

/// A buffer of exactly `len` bytes from `alloc`; `None` when out of buffers or when the
/// allocator broke its contract (a wrong length must not become a panic on the fast path).
pub(crate) fn alloc_exact<B: PacketBuf, A: BufAlloc<B>>(alloc: &mut A, len: usize) -> Option<B> {
    alloc.alloc(len).filter(|b| b.len() == len)
}

/// Allocates [`VecBuf`]s on the heap.
#[derive(Debug, Default, Clone, Copy)]
pub struct VecBufAlloc;

impl BufAlloc<VecBuf> for VecBufAlloc {
    fn alloc(&mut self, len: usize) -> Option<VecBuf> {
        let mut b = VecBuf::with_room(VecBuf::DEFAULT_HEADROOM, len + VecBuf::DEFAULT_TAILROOM);
        b.append(len).ok()?;
        Some(b)
    }
}

/// Counters of one worker that belong to no SA.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Drops before an SA was known (no SA, malformed outer headers, reassembly).
    pub drops: DropCounters,
    pub nat_keepalives: Counter,
    pub ike: Counter,
    pub not_esp: Counter,
    pub icmp_errors: Counter,
    /// Fragments sent (beyond the first of each packet).
    pub fragments_out: Counter,
    /// Datagrams reassembled.
    pub reassembled: Counter,
}

/// Where an encap job's buffer lives: the caller's burst or the extra fragments.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Main(usize),
    Extra(usize),
}

/// Per-packet state carried from prepare to finish.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job {
    pub slot: Slot,
    /// Index of the SA (outbound: into the caller's SA slice).
    pub sa: usize,
    pub esp_off: usize,
    pub esp_end: usize,
    pub seq: u64,
    pub inner_len: usize,
    /// Outbound: fragment the outer packet after sealing.
    pub frag_after: bool,
    /// Inbound: the outer ECN field (RFC 6040 decapsulation).
    pub ecn: u8,
    /// Inbound: outer header facts for transport-mode restore.
    pub v6: bool,
    pub hdr_len: usize,
    pub nh_at: ip::NextHeaderAt,
    pub udp_src: Option<SocketAddr>,
}

/// One worker core's ESP state. Not shared: each worker owns one.
pub struct EspWorker {
    crypto: WorkerCrypto,
    events: Vec<SaEvent>,
    stats: WorkerStats,
    reassembler: Reassembler,
    nat_t_port: u16,
    // Scratch, reused every burst.
    dispositions: Vec<Disposition>,
    results: Vec<DecapResult>,
    jobs: Vec<Job>,
    /// Jobs of the fragments made before encryption, appended to `jobs` after the caller's.
    extra_jobs: Vec<Job>,
    /// For each extra packet of the last [`encap_burst`]: the index of the packet it is a
    /// fragment of.
    extra_sa: Vec<usize>,
    ops: Vec<CryptoOp<'static>>,
    statuses: Vec<OpStatus>,
    in_sas: Vec<&'static InboundSa>,
}

impl Default for EspWorker {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for EspWorker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EspWorker")
            .field("events", &self.events.len())
            .field("stats", &self.stats)
            .field("reassembler", &self.reassembler)
            .finish_non_exhaustive()
    }
}

impl EspWorker {
    /// A worker with the default reassembly bounds and ESP-in-UDP on port 4500.
    pub fn new() -> Self {
        Self::with_config(ReassemblyConfig::default(), NAT_T_PORT)
    }

    /// A worker with explicit reassembly bounds and ESP-in-UDP port.
    pub fn with_config(reassembly: ReassemblyConfig, nat_t_port: u16) -> Self {
        EspWorker {
            crypto: WorkerCrypto::new(),
            events: Vec::new(),
            stats: WorkerStats::default(),
            reassembler: Reassembler::new(reassembly),
            nat_t_port,
            dispositions: Vec::new(),
            results: Vec::new(),
            jobs: Vec::new(),
            extra_jobs: Vec::new(),
            extra_sa: Vec::new(),
            ops: Vec::new(),
            statuses: Vec::new(),
            in_sas: Vec::new(),
        }
    }

    /// SA events raised so far (lifetimes, sequence space), oldest first.
    pub fn events(&self) -> &[SaEvent] {
        &self.events
    }

    /// Takes the queued SA events.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, SaEvent> {
        self.events.drain(..)
    }

    /// Counters that belong to no SA.
    /// For each packet the last [`encap_burst`] appended to its `extra` vector (in that
    /// order): the index in `pkts` of the packet it is a fragment of. A caller that sends
    /// each packet's fragments right after it keeps the SA's packets in sequence-number
    /// order on the wire.
    pub fn extra_parents(&self) -> &[usize] {
        &self.extra_sa
    }

    /// The dispositions the last [`encap_burst`] returned (to read beside
    /// [`EspWorker::extra_parents`]).
    pub fn encap_dispositions(&self) -> &[Disposition] {
        &self.dispositions
    }

    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// The outer reassembly table.
    pub fn reassembler(&self) -> &Reassembler {
        &self.reassembler
    }

    /// Drops reassemblies whose time ran out (also done on every fragment received); call
    /// from the worker's idle loop so a silent peer does not pin memory.
    pub fn expire(&mut self, now: u64) {
        let n = self.reassembler.expire(now);
        for _ in 0..n {
            self.stats.drops.count(DropReason::ReassemblyTimeout);
        }
    }

    /// Capacity of the op scratch vector (for allocation tests).
    #[doc(hidden)]
    pub fn scratch_capacity(&self) -> usize {
        self.ops.capacity()
    }
}

/// Reuses a vector's allocation for another element type of the same layout: the vector is
/// emptied and collected in place (std reuses the buffer for same-size, same-align `IntoIter`
/// → `Vec` collection). Used to keep the op vector across bursts although each burst's ops
/// borrow that burst's packets.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}
