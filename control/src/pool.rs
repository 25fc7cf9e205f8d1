//! Remote-access address pools (the ASA's `ip local pool` / `ipv6 local pool`): the
//! addresses handed to clients in IKEv2 CFG_REPLY (RFC 7296 section 3.15), one per client
//! and family.
//!
//! A pool is an IPv4 range `first..=last` or an IPv6 prefix, of which every client gets one
//! /128. An [`AddressPool`] is a cheap handle (an [`Arc`]) shared by every IKE SA of the
//! endpoint that may draw from it; an address taken from it is a [`Lease`], given back when
//! the lease is dropped (the IKE SA owning it ended), so no path can leak one.
//!
//! Allocation never scans the range: addresses never handed out are taken in order from a
//! cursor, released ones are kept in an ordered free set and reused only once the cursor has
//! walked the whole range. That makes a released address stay free as long as possible,
//! which serves two purposes: stale ESP of the last client does not reach a new one at
//! once, and a client that reconnects with the same identity gets its previous address
//! back if nobody took it meanwhile (as the ASA does). Memory grows with the addresses
//! handed out so far, never with the size of the range, so a /64 costs nothing up front.
//!
//! Nothing here panics: a poisoned lock (a thread panicked while holding it) is taken over,
//! since every mutation leaves the state consistent.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The addresses of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolRange {
    /// IPv4 addresses `first..=last` (swapped if given backwards).
    V4 {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
    /// One /128 per client from the prefix `prefix/len` (host bits of `prefix` ignored).
    /// Below a /127 the all-zero address is left out: it is the Subnet-Router anycast
    /// address (RFC 4291 section 2.6.1).
    V6 {
        /// The prefix.
        prefix: Ipv6Addr,
        /// Its length (above 128: 128).
        len: u8,
    },
}

impl PoolRange {
    /// Whether the range holds IPv6 addresses.
    pub fn is_ipv6(&self) -> bool {
        matches!(self, PoolRange::V6 { .. })
    }

    /// (first address as a number, number of addresses): never zero addresses.
    fn span(&self) -> (u128, u128) {
        match *self {
            PoolRange::V4 { first, last } => {
                let (a, b) = (u32::from(first), u32::from(last));
                let (lo, hi) = (a.min(b), a.max(b));
                (u128::from(lo), u128::from(hi - lo) + 1)
            }
            PoolRange::V6 { prefix, len } => {
                let len = len.min(128);
                let host_bits = 128 - u32::from(len);
                let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
                let base = u128::from(prefix) & mask;
                // 2^host_bits addresses; a /0 is one short of that, which no client will
                // notice.
                let size = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
                if len < 127 { (base + 1, size - 1) } else { (base, size) }
            }
        }
    }

    fn addr(&self, n: u128) -> IpAddr {
        match self {
            // Offsets of a V4 range never exceed u32 (checked by the callers' counts).
            PoolRange::V4 { .. } => IpAddr::V4(Ipv4Addr::from(n as u32)),
            PoolRange::V6 { .. } => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }

    /// The number of `addr` if it is in the range.
    fn offset_of(&self, addr: IpAddr) -> Option<u128> {
        let (first, count) = self.span();
        let n = match (self, addr) {
            (PoolRange::V4 { .. }, IpAddr::V4(a)) => u128::from(u32::from(a)),
            (PoolRange::V6 { .. }, IpAddr::V6(a)) => u128::from(a),
            _ => return None,
        };
        let off = n.checked_sub(first)?;
        (off < count).then_some(off)
    }

    /// The IPv4 netmask of the smallest aligned block holding the whole range (what an
    /// INTERNAL_IP4_NETMASK reply says, the ASA's pool `mask`); `None` for IPv6.
    pub fn ipv4_netmask(&self) -> Option<Ipv4Addr> {
        match *self {
            PoolRange::V4 { first, last } => {
                let diff = u32::from(first) ^ u32::from(last);
                let mask = u32::MAX.checked_shl(32 - diff.leading_zeros()).unwrap_or(0);
                Some(Ipv4Addr::from(mask))
            }
            PoolRange::V6 { .. } => None,
        }
    }
}

impl fmt::Display for PoolRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolRange::V4 { first, last } => write!(f, "{first}-{last}"),
            PoolRange::V6 { prefix, len } => write!(f, "{prefix}/{len}"),
        }
    }
}

/// A pool's counters (for `show ip local pool`-style diagnostics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Addresses in the pool (saturating at `u128::MAX`).
    pub size: u128,
    /// Addresses leased now.
    pub in_use: u64,
    /// Leases handed out so far.
    pub allocated: u64,
    /// Leases given back so far.
    pub released: u64,
    /// Leases that gave a client the address it had before.
    pub reused_for_identity: u64,
    /// Requests this pool could not serve because every address was leased.
    pub exhausted: u64,
}

struct PoolState {
    name: String,
    range: PoolRange,
    first: u128,
    count: u128,
    /// Offsets below this were handed out at least once; the ones above never were.
    cursor: u128,
    /// Released offsets, each with the identity that last held it.
    free: BTreeMap<u128, Vec<u8>>,
    /// Leased offsets, with their holders' identities.
    leased: HashMap<u128, Vec<u8>>,
    /// Identity to the offset it last held, while that offset is free.
    remembered: HashMap<Vec<u8>, u128>,
    stats: PoolStats,
}

impl PoolState {
    fn take(&mut self, identity: &[u8]) -> Option<u128> {
        let off = if let Some(off) =
            self.remembered.remove(identity).filter(|o| self.free.contains_key(o))
        {
            self.free.remove(&off);
            self.stats.reused_for_identity += 1;
            off
        } else if let Some(off) = self.next_fresh() {
            off
        } else if let Some((off, owner)) = self.free.pop_first() {
            // Its former holder cannot get it back any more.
            if self.remembered.get(&owner) == Some(&off) {
                self.remembered.remove(&owner);
            }
            off
        } else {
            self.stats.exhausted += 1;
            return None;
        };
        self.leased.insert(off, identity.to_vec());
        self.stats.allocated += 1;
        self.stats.in_use += 1;
        Some(off)
    }

    /// The next never-used offset: above the cursor, skipping what [`Self::claim`] took
    /// there (leased, or released since).
    fn next_fresh(&mut self) -> Option<u128> {
        while self.cursor < self.count {
            let off = self.cursor;
            self.cursor += 1;
            if !self.leased.contains_key(&off) && !self.free.contains_key(&off) {
                return Some(off);
            }
        }
        None
    }

    /// Leases exactly `off` to `identity` if nobody holds it.
    fn claim(&mut self, off: u128, identity: &[u8]) -> bool {
        if off >= self.count || self.leased.contains_key(&off) {
            return false;
        }
        if let Some(owner) = self.free.remove(&off)
            && self.remembered.get(&owner) == Some(&off)
        {
            self.remembered.remove(&owner);
        }
        self.leased.insert(off, identity.to_vec());
        self.stats.allocated += 1;
        self.stats.in_use += 1;
        true
    }

    fn give_back(&mut self, off: u128) {
        let Some(owner) = self.leased.remove(&off) else { return };
        self.remembered.insert(owner.clone(), off);
        self.free.insert(off, owner);
        self.stats.released += 1;
        self.stats.in_use = self.stats.in_use.saturating_sub(1);
    }
}

/// A shared address pool: clones are handles to the same pool.
#[derive(Clone)]
pub struct AddressPool {
    inner: Arc<Mutex<PoolState>>,
}

impl fmt::Debug for AddressPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        write!(f, "AddressPool({} {}, {} in use)", s.name, s.range, s.stats.in_use)
    }
}

impl AddressPool {
    /// A pool named `name` (for diagnostics) of `range`.
    pub fn new(name: &str, range: PoolRange) -> AddressPool {
        let (first, count) = range.span();
        let state = PoolState {
            name: name.to_owned(),
            range,
            first,
            count,
            cursor: 0,
            free: BTreeMap::new(),
            leased: HashMap::new(),
            remembered: HashMap::new(),
            stats: PoolStats { size: count, ..PoolStats::default() },
        };
        AddressPool { inner: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pool's name.
    pub fn name(&self) -> String {
        self.lock().name.clone()
    }

    /// The pool's addresses.
    pub fn range(&self) -> PoolRange {
        self.lock().range
    }

    /// Whether two handles are the same pool.
    pub fn same_pool(&self, other: &AddressPool) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        self.lock().stats
    }

    /// Whether `addr` is leased now.
    pub fn is_leased(&self, addr: IpAddr) -> bool {
        let s = self.lock();
        s.range.offset_of(addr).is_some_and(|o| s.leased.contains_key(&o))
    }

    /// Leases an address for the client `identity` (any bytes that name it stably, e.g.
    /// its encoded IKE identity): the one it held last if that is still free, else the
    /// next one. `None` when every address is leased (counted in
    /// [`PoolStats::exhausted`]).
    pub fn allocate(&self, identity: &[u8]) -> Option<Lease> {
        let mut s = self.lock();
        let off = s.take(identity)?;
        let addr = s.range.addr(s.first + off);
        drop(s);
        Some(Lease { pool: self.clone(), off, addr })
    }
}

impl AddressPool {
    /// Leases exactly `addr` to `identity`: the unit taking over a remote-access client
    /// after a failover keeps the client's address. `None` if `addr` is not in the pool or
    /// someone holds it.
    pub fn claim(&self, addr: IpAddr, identity: &[u8]) -> Option<Lease> {
        let mut s = self.lock();
        let off = s.range.offset_of(addr)?;
        if !s.claim(off, identity) {
            return None;
        }
        drop(s);
        Some(Lease { pool: self.clone(), off, addr })
    }
}

/// Leases an address of the family asked for from the first of `pools` that has one, in
/// order (the ASA's `address-pool` list). Pools of the other family are skipped. `None`
/// when none has a free address (each pool tried counts its exhaustion).
pub fn allocate_from(pools: &[AddressPool], ipv6: bool, identity: &[u8]) -> Option<Lease> {
    pools.iter().filter(|p| p.range().is_ipv6() == ipv6).find_map(|p| p.allocate(identity))
}

/// An address leased from a pool, given back when dropped.
pub struct Lease {
    pool: AddressPool,
    off: u128,
    addr: IpAddr,
}

impl Lease {
    /// The leased address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The pool it came from.
    pub fn pool(&self) -> &AddressPool {
        &self.pool
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({})", self.addr)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.lock().give_back(self.off);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn v4(first: [u8; 4], last: [u8; 4]) -> AddressPool {
        AddressPool::new(
            "p4",
            PoolRange::V4 { first: Ipv4Addr::from(first), last: Ipv4Addr::from(last) },
        )
    }

    fn ip4(a: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(a))
    }

    #[test]
    fn a_claimed_address_is_never_handed_out_twice() {
        let p = v4([10, 9, 0, 10], [10, 9, 0, 14]);
        let a = p.allocate(b"a").unwrap();
        // Above the cursor (never handed out), then below it (free): both claimable.
        let c = p.claim(ip4([10, 9, 0, 12]), b"c").unwrap();
        assert!(p.claim(ip4([10, 9, 0, 12]), b"x").is_none(), "held");
        assert!(p.claim(ip4([10, 9, 0, 99]), b"x").is_none(), "not in the pool");
        drop(a);
        let a2 = p.claim(ip4([10, 9, 0, 10]), b"a2").unwrap();
        // Fresh addresses skip the claimed one; releasing it puts it in the free set once.
        let b = p.allocate(b"b").unwrap();
        assert_eq!(b.addr(), ip4([10, 9, 0, 11]));
        drop(c);
        let d = p.allocate(b"d").unwrap();
        let e = p.allocate(b"e").unwrap();
        assert_eq!([d.addr(), e.addr()], [ip4([10, 9, 0, 13]), ip4([10, 9, 0, 14])]);
        let f = p.allocate(b"f").unwrap();
        assert_eq!(f.addr(), ip4([10, 9, 0, 12]), "the released claim, from the free set");
        assert!(p.allocate(b"g").is_none());
        drop((a2, b, d, e, f));
        assert_eq!(p.stats().in_use, 0);
    }

    #[test]
    fn ipv4_range_in_order_exhaustion_and_release() {
        let p = v4([10, 9, 0, 10], [10, 9, 0, 12]);
        let a = p.allocate(b"a").unwrap();
        let b = p.allocate(b"b").unwrap();
        let c = p.allocate(b"c").unwrap();
        assert_eq!(
            [a.addr(), b.addr(), c.addr()],
            [ip4([10, 9, 0, 10]), ip4([10, 9, 0, 11]), ip4([10, 9, 0, 12])]
        );
        assert!(p.allocate(b"d").is_none());
        assert_eq!(p.stats().exhausted, 1);
        assert!(p.is_leased(ip4([10, 9, 0, 11])));
        drop(b);
        assert!(!p.is_leased(ip4([10, 9, 0, 11])));
        let d = p.allocate(b"d").unwrap();
        assert_eq!(d.addr(), ip4([10, 9, 0, 11]), "the only free one");
        let s = p.stats();
        assert_eq!((s.size, s.in_use, s.allocated, s.released), (3, 3, 4, 1));
        drop((a, c, d));
        assert_eq!(p.stats().in_use, 0);
    }

    #[test]
    fn same_identity_gets_its_address_back_others_take_fresh_ones_first() {
        let p = v4([10, 0, 0, 1], [10, 0, 0, 4]);
        let alice = p.allocate(b"alice").unwrap();
        let bob = p.allocate(b"bob").unwrap();
        let (a, b) = (alice.addr(), bob.addr());
        drop(alice);
        drop(bob);
        // A newcomer gets a never-used address, not alice's.
        let carol = p.allocate(b"carol").unwrap();
        assert_eq!(carol.addr(), ip4([10, 0, 0, 3]));
        let bob = p.allocate(b"bob").unwrap();
        assert_eq!(bob.addr(), b);
        let alice = p.allocate(b"alice").unwrap();
        assert_eq!(alice.addr(), a);
        assert_eq!(p.stats().reused_for_identity, 2);
        // Once the cursor has walked the range, released addresses go to anyone, and the
        // former holder then gets another.
        let dave = p.allocate(b"dave").unwrap();
        assert_eq!(dave.addr(), ip4([10, 0, 0, 4]));
        drop(alice);
        let eve = p.allocate(b"eve").unwrap();
        assert_eq!(eve.addr(), a);
        assert!(p.allocate(b"alice").is_none());
        drop(carol);
        let alice = p.allocate(b"alice").unwrap();
        assert_eq!(alice.addr(), ip4([10, 0, 0, 3]));
    }

    #[test]
    fn ipv6_prefix_gives_host_addresses_and_skips_the_anycast_address() {
        let prefix: Ipv6Addr = "2001:db8:1:2:ffff::".parse().unwrap();
        let p = AddressPool::new("p6", PoolRange::V6 { prefix, len: 64 });
        assert_eq!(p.stats().size, (1u128 << 64) - 1);
        let a = p.allocate(b"a").unwrap();
        let b = p.allocate(b"b").unwrap();
        assert_eq!(a.addr(), "2001:db8:1:2::1".parse::<IpAddr>().unwrap());
        assert_eq!(b.addr(), "2001:db8:1:2::2".parse::<IpAddr>().unwrap());
        let one = AddressPool::new("one", PoolRange::V6 { prefix, len: 128 });
        assert_eq!(one.allocate(b"x").unwrap().addr(), IpAddr::V6(prefix));
        // Extreme shapes build without overflow.
        let all = AddressPool::new("all", PoolRange::V6 { prefix, len: 0 });
        assert_eq!(all.stats().size, u128::MAX - 1);
        assert!(all.allocate(b"x").is_some());
        let big = AddressPool::new("big", PoolRange::V6 { prefix, len: 200 });
        assert_eq!(big.stats().size, 1);
        let v4all = v4([0, 0, 0, 0], [255, 255, 255, 255]);
        assert_eq!(v4all.stats().size, 1 << 32);
        let rev = v4([10, 0, 0, 9], [10, 0, 0, 1]);
        assert_eq!(rev.stats().size, 9);
        assert_eq!(rev.allocate(b"x").unwrap().addr(), ip4([10, 0, 0, 1]));
    }

    #[test]
    fn several_pools_in_order_by_family() {
        let first = v4([10, 0, 0, 1], [10, 0, 0, 1]);
        let second = v4([10, 0, 1, 1], [10, 0, 1, 2]);
        let six = AddressPool::new(
            "six",
            PoolRange::V6 { prefix: "2001:db8::".parse().unwrap(), len: 64 },
        );
        let pools = [six.clone(), first.clone(), second.clone()];
        let a = allocate_from(&pools, false, b"a").unwrap();
        let b = allocate_from(&pools, false, b"b").unwrap();
        let c = allocate_from(&pools, false, b"c").unwrap();
        assert_eq!(
            [a.addr(), b.addr(), c.addr()],
            [ip4([10, 0, 0, 1]), ip4([10, 0, 1, 1]), ip4([10, 0, 1, 2])]
        );
        assert!(allocate_from(&pools, false, b"d").is_none());
        assert_eq!((first.stats().exhausted, second.stats().exhausted), (3, 1));
        assert!(allocate_from(&pools, true, b"a").unwrap().addr().is_ipv6());
        assert!(allocate_from(&pools[1..], true, b"a").is_none());
        assert!(a.pool().same_pool(&first) && !first.same_pool(&second));
    }

    #[test]
    fn netmask_of_the_range() {
        let r = |a: [u8; 4], b: [u8; 4]| {
            PoolRange::V4 { first: a.into(), last: b.into() }.ipv4_netmask().unwrap()
        };
        assert_eq!(r([10, 0, 0, 1], [10, 0, 0, 254]), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(r([10, 0, 0, 5], [10, 0, 0, 5]), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(r([10, 0, 0, 200], [10, 0, 1, 10]), Ipv4Addr::new(255, 255, 254, 0));
        assert_eq!(r([0, 0, 0, 0], [255, 0, 0, 0]), Ipv4Addr::new(0, 0, 0, 0));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Take(u8),
        Drop(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![(0u8..6).prop_map(Op::Take), (0usize..16).prop_map(Op::Drop)]
    }

    proptest! {
        /// Whatever the order of allocations and releases: no address is leased twice, every
        /// address is in the range, an allocation fails only when every address is leased,
        /// and the counters agree with what is held.
        #[test]
        fn no_address_twice(size in 1u8..8, ops in proptest::collection::vec(op(), 0..64)) {
            let p = v4([10, 0, 0, 1], [10, 0, 0, size]);
            let mut held: Vec<Lease> = Vec::new();
            let mut exhausted = 0;
            for o in ops {
                match o {
                    Op::Take(who) => match p.allocate(&[who]) {
                        Some(l) => {
                            prop_assert!(held.iter().all(|h| h.addr() != l.addr()));
                            prop_assert!(p.range_contains(l.addr()));
                            held.push(l);
                        }
                        None => {
                            prop_assert_eq!(held.len(), usize::from(size));
                            exhausted += 1;
                        }
                    },
                    Op::Drop(i) if !held.is_empty() => {
                        let l = held.remove(i % held.len());
                        let addr = l.addr();
                        drop(l);
                        prop_assert!(!p.is_leased(addr));
                    }
                    Op::Drop(_) => {}
                }
                let s = p.stats();
                prop_assert_eq!(s.in_use as usize, held.len());
                prop_assert_eq!(s.exhausted, exhausted);
                let set: HashSet<IpAddr> = held.iter().map(Lease::addr).collect();
                prop_assert_eq!(set.len(), held.len());
            }
            drop(held);
            // Everything released: the whole pool is available again.
            let all: Vec<Lease> =
                (0..size).map_while(|i| p.allocate(&[100 + i])).collect();
            prop_assert_eq!(all.len(), usize::from(size));
        }
    }

    impl AddressPool {
        fn range_contains(&self, addr: IpAddr) -> bool {
            self.range().offset_of(addr).is_some()
        }
    }
}
