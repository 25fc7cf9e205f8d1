//! Security Policy Database (RFC 4301 section 4.4.1): outbound classification of plaintext
//! packets into protect / bypass / discard, with a per-worker flow cache and ACQUIRE.
//!
//! The pieces, from the control plane's side to the worker's:
//!
//! - [`Entry`]: one ordered SPD entry, like one line of an ASA crypto-map ACL: source and
//!   destination prefixes, protocol, port (or ICMP type/code) ranges and an [`Action`].
//!   The first entry that matches wins.
//! - [`Spd`]: an immutable, compiled set of entries. The miss path is a tuple-space search
//!   (one hash table per distinct (source length, destination length) pair), so an SPD of
//!   100,000 crypto-map entries costs a handful of hash probes, not 100,000 comparisons.
//!   [`LinearSpd`] is the obvious linear first-match classifier, kept as the reference the
//!   property tests and benchmarks compare against.
//! - [`Classifier`]: what one worker owns. It holds an `Arc<Spd>` (shared, read-only), a
//!   fixed-size flow cache of 5-tuple → decision, the worker's view of which SA is
//!   installed for each policy, and plain (non-atomic) counters.
//! - [`AcquireTable`]: rate-limited ACQUIRE events and a small bounded per-policy queue of
//!   packets that matched a protect entry whose SA is not installed yet.
//!
//! # Cost per packet
//!
//! - Flow-cache hit: one seeded hash of the key, at most [`CACHE_WAYS`] slot compares in one
//!   set, two array loads (policy id, SA binding) and one counter increment: O(1),
//!   independent of the SPD size.
//! - Miss: the tuple-space search of [`Spd`] (O(G + C), see its module: G distinct prefix
//!   length pairs, C candidates rejected on protocol/ports), then one cache fill. For the
//!   crypto-map shape G is 1–3 and C is 0, whatever the number of entries.
//! - The reference [`LinearSpd`] is O(n).
//!
//! # How a new SPD reaches the workers
//!
//! The control plane builds a new [`Spd`] (O(n) in the number of entries, off the fast path)
//! and hands an `Arc<Spd>` to every worker through that worker's control queue; the worker
//! calls [`Classifier::install_spd`] between bursts. That bumps the worker's epoch, which
//! invalidates its whole flow cache in O(1). There is no shared mutable state and no atomic
//! operation on the per-packet path: the `Arc` is only cloned or dropped at install time.
//! SA installation and removal ([`Classifier::bind_sa`]) travel the same way; bindings are
//! resolved after the cache lookup (cache entries name a policy, not an SA), so a rekey
//! does not flush the cache.

mod acquire;
mod cache;
mod classifier;
mod key;
mod linear;
mod selector;
mod table;

pub use acquire::{
    AcquireConfig, AcquireEvent, AcquireOutcome, AcquireStats, AcquireTable, HeldPackets,
    PROBE as ACQUIRE_PROBE,
};
pub use cache::{CacheConfig, CacheStats, WAYS as CACHE_WAYS};
pub use classifier::{Classifier, Found, RetiredSpd};
pub use key::{FlowKey, PortsState};
pub use linear::LinearSpd;
pub use selector::{Action, Entry, IpPrefix, PortRange, SpdError, TrafficSelector};
pub use table::{Spd, TupleSpaceStats};

use core::fmt;

/// Identifies the policy an entry protects with: the crypto-map entry (or IKEv2 tunnel) the
/// control plane negotiates SAs for. Opaque to the dataplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyId(pub u32);

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {}", self.0)
    }
}

/// Index of an outbound SA in the SA table. Opaque here: the SA table defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaIndex(pub u32);

impl fmt::Display for SaIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sa#{}", self.0)
    }
}

/// What to do with an outbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Encrypt under `policy`. `sa` is the outbound SA installed for the policy on this
    /// worker, or `None` when there is none yet: hand the packet to the [`AcquireTable`].
    Protect {
        /// The matching entry's policy.
        policy: PolicyId,
        /// The installed outbound SA, if any.
        sa: Option<SaIndex>,
    },
    /// Forward in the clear.
    Bypass,
    /// Drop.
    Discard,
}
