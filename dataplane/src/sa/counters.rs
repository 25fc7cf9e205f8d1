//! Drop reasons and lock-free per-SA counters.
//!
//! Every counter has exactly one writer: the worker that owns the SA (or the worker whose
//! [`DropCounters`] it is). A control thread reads them concurrently. With a single writer
//! an increment does not need an atomic read-modify-write: a relaxed `load` followed by a
//! relaxed `store` is race-free (nobody else stores) and compiles to plain `mov`s on x86,
//! whereas `fetch_add` would be a `lock xadd` (tens of cycles, and a full barrier) on every
//! packet. Readers see each counter's value torn-free because every access is atomic; they
//! may see counters of one SA at slightly different instants, which is fine for statistics.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $name:ident => $text:literal,)*) => {
        /// Why the dataplane dropped (or did not forward) a packet. `Copy`, and indexes the
        /// drop counters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[$doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons (length of a counter table).
            pub const COUNT: usize = Self::ALL.len();

            /// The counter index of this reason.
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The reason as the operator sees it (ASA `show asp drop` style).
            pub const fn name(self) -> &'static str {
                match self {
                    $(DropReason::$name => $text,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// The ICV did not verify (RFC 4303 3.4.4).
    AuthFailed => "auth-failed",
    /// Sequence number already received or left of the anti-replay window (RFC 4303 3.4.3).
    Replay => "replay",
    /// Padding bytes were not 1, 2, 3, ... (RFC 4303 2.4) or the pad length overran.
    BadPadding => "bad-padding",
    /// A header or length did not parse.
    Malformed => "malformed",
    /// The next sequence number would wrap (RFC 4303 3.3.3): the SA must be rekeyed.
    SequenceOverflow => "sequence-overflow",
    /// No inbound SA for the SPI.
    NoSa => "no-sa",
    /// The SA reached a hard lifetime.
    SaExpired => "sa-expired",
    /// ESP on an inbound SA that is not the primary SA of its peer and selectors (ASA
    /// single-SA mode: a duplicate tunnel the peer keeps using; the ASA's reason name).
    VpnOverlapConflict => "vpn-overlap-conflict",
    /// The decrypted packet is outside the SA's traffic selectors (RFC 4301 5.2, step 4):
    /// the peer sent traffic the tunnel was not negotiated for.
    PolicyMismatch => "policy-mismatch",
    /// The TTL or hop limit ran out.
    TtlExceeded => "ttl-exceeded",
    /// The packet does not fit the MTU and may not be fragmented (an ICMP error may have
    /// been sent back instead).
    TooBig => "too-big",
    /// A fragmented datagram was not completed in time.
    ReassemblyTimeout => "reassembly-timeout",
    /// Fragments overlapped (RFC 5722): the whole datagram was dropped.
    ReassemblyOverlap => "reassembly-overlap",
    /// A fragment exceeded a size or count bound, or had an impossible offset.
    ReassemblyInvalid => "reassembly-invalid",
    /// The reassembly table was full.
    ReassemblyNoRoom => "reassembly-no-room",
    /// No buffer could be allocated for a fragment or a reassembled datagram, or a buffer
    /// lacked head- or tailroom.
    NoBuffer => "no-buffer",
    /// Outer CE over an inner Not-ECT packet (RFC 6040 4.2).
    EcnInvalid => "ecn-invalid",
    /// The crypto engine refused the lengths.
    CryptoError => "crypto-error",
    /// A dummy packet (next header 59, RFC 4303 2.6), discarded as the RFC requires.
    DummyPacket => "dummy-packet",
    /// The decrypted next header does not fit the SA's mode.
    BadNextHeader => "bad-next-header",
    /// The packet's address family does not match the SA.
    FamilyMismatch => "family-mismatch",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One single-writer statistics counter (see the module doc for why load+store).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds `n` from one of several writers (an outbound SA used by several workers): one
    /// locked add, so call it once per run of packets, not per packet.
    #[inline]
    pub fn add_shared(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value (any thread).
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A counter per [`DropReason`].
#[derive(Debug)]
pub struct DropCounters([Counter; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters(core::array::from_fn(|_| Counter::default()))
    }
}

impl DropCounters {
    /// Counts one drop. Drops are rare, and an outbound SA may be used by several workers:
    /// a locked add, so no count is lost.
    #[inline]
    pub fn count(&self, reason: DropReason) {
        self.0[reason.index()].add_shared(1);
    }

    /// Drops counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()].get()
    }

    /// All drops of all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().map(Counter::get).sum()
    }

    /// `(reason, count)` for every reason with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r))).filter(|&(_, n)| n != 0)
    }
}

/// Traffic and drop counters of one SA in one direction (`repr(C)`: the two written per
/// packet first, next to the SA's other hot fields).
#[derive(Debug, Default)]
#[repr(C)]
pub struct SaCounters {
    /// Packets encapsulated (outbound) or decapsulated (inbound) successfully.
    pub packets: Counter,
    /// Inner (plaintext) bytes of those packets.
    pub bytes: Counter,
    /// Drops attributed to this SA.
    pub drops: DropCounters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_a_dense_table() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        assert_eq!(DropReason::VpnOverlapConflict.name(), "vpn-overlap-conflict");
    }

    #[test]
    fn counters_add_and_read() {
        let c = SaCounters::default();
        c.packets.add(2);
        c.bytes.add(100);
        c.drops.count(DropReason::Replay);
        c.drops.count(DropReason::Replay);
        c.drops.count(DropReason::AuthFailed);
        assert_eq!((c.packets.get(), c.bytes.get()), (2, 100));
        assert_eq!(c.drops.get(DropReason::Replay), 2);
        assert_eq!(c.drops.total(), 3);
        let nz: Vec<_> = c.drops.nonzero().collect();
        assert_eq!(nz, vec![(DropReason::AuthFailed, 1), (DropReason::Replay, 2)]);
    }

    #[test]
    fn counters_are_readable_from_another_thread() {
        let c = std::sync::Arc::new(SaCounters::default());
        let writer = {
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    c.packets.add(1);
                }
            })
        };
        let mut last = 0;
        while !writer.is_finished() {
            let now = c.packets.get();
            assert!(now >= last, "a single-writer counter never goes backwards");
            last = now;
        }
        writer.join().unwrap();
        assert_eq!(c.packets.get(), 10_000);
    }
}
