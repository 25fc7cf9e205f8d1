//! Static routes per interface with longest-prefix match for IPv4 and IPv6.
//!
//! The table is one hash map per prefix length plus the list of lengths in use, searched
//! longest first: a lookup costs one hash probe per distinct prefix length in use (a
//! handful in practice), whatever the number of routes. Routes change only from the
//! control plane; lookups allocate nothing.

use std::hash::Hash;

use super::FastMap;
use super::iface::{IfIndex, Interfaces, Ipv4Cidr, Ipv6Cidr, mask_u32, mask_u128};
use crate::wire::{Ipv4Addr, Ipv6Addr};

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop<A> {
    /// The destination is on the link: resolve the destination itself.
    Connected,
    /// Send to this gateway on the link.
    Gateway(A),
}

/// A route's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route<A> {
    /// Egress interface.
    pub iface: IfIndex,
    /// Next hop.
    pub next_hop: NextHop<A>,
}

impl<A: Copy> Route<A> {
    /// The address to resolve on the link for a packet to `dst`.
    pub fn next_hop_addr(&self, dst: A) -> A {
        match self.next_hop {
            NextHop::Connected => dst,
            NextHop::Gateway(gw) => gw,
        }
    }
}

/// An address as a fixed-width integer key.
trait LpmKey: Copy + Eq + Hash {
    const BITS: u8;
    fn masked(self, len: u8) -> Self;
}

impl LpmKey for u32 {
    const BITS: u8 = 32;
    fn masked(self, len: u8) -> u32 {
        self & mask_u32(len)
    }
}

impl LpmKey for u128 {
    const BITS: u8 = 128;
    fn masked(self, len: u8) -> u128 {
        self & mask_u128(len)
    }
}

/// Per-prefix-length hash tables, searched longest first.
#[derive(Debug, Clone)]
struct Lpm<K, V> {
    /// Indexed by prefix length.
    tables: Vec<FastMap<K, V>>,
    /// Prefix lengths with at least one route, longest first.
    lens: Vec<u8>,
}

impl<K: LpmKey, V: Copy> Lpm<K, V> {
    fn new() -> Self {
        Lpm { tables: (0..=K::BITS).map(|_| FastMap::default()).collect(), lens: Vec::new() }
    }

    fn insert(&mut self, key: K, len: u8, value: V) -> Option<V> {
        let table = self.tables.get_mut(usize::from(len))?;
        let old = table.insert(key.masked(len), value);
        if let Err(pos) = self.lens.binary_search_by(|l| len.cmp(l)) {
            self.lens.insert(pos, len);
        }
        old
    }

    fn remove(&mut self, key: K, len: u8) -> Option<V> {
        let table = self.tables.get_mut(usize::from(len))?;
        let old = table.remove(&key.masked(len));
        if table.is_empty() {
            self.lens.retain(|&l| l != len);
        }
        old
    }

    fn lookup(&self, key: K) -> Option<V> {
        self.lens.iter().find_map(|&len| {
            self.tables.get(usize::from(len)).and_then(|t| t.get(&key.masked(len))).copied()
        })
    }

    fn len(&self) -> usize {
        self.tables.iter().map(FastMap::len).sum()
    }
}

/// The static routing table of a worker, IPv4 and IPv6.
#[derive(Debug, Clone)]
pub struct RouteTable {
    v4: Lpm<u32, Route<Ipv4Addr>>,
    v6: Lpm<u128, Route<Ipv6Addr>>,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> RouteTable {
        RouteTable { v4: Lpm::new(), v6: Lpm::new() }
    }

    /// A table holding the connected route of every interface prefix.
    pub fn with_connected(ifaces: &Interfaces) -> RouteTable {
        let mut table = RouteTable::new();
        for (index, iface) in ifaces.iter() {
            for c in &iface.ipv4 {
                table.add_v4(*c, Route { iface: index, next_hop: NextHop::Connected });
            }
            for c in &iface.ipv6 {
                table.add_v6(*c, Route { iface: index, next_hop: NextHop::Connected });
            }
        }
        table
    }

    /// Adds or replaces the route for `prefix` (host bits ignored); returns the old one.
    pub fn add_v4(&mut self, prefix: Ipv4Cidr, route: Route<Ipv4Addr>) -> Option<Route<Ipv4Addr>> {
        self.v4.insert(prefix.addr().to_bits(), prefix.prefix_len(), route)
    }

    /// Removes the route for `prefix`.
    pub fn remove_v4(&mut self, prefix: Ipv4Cidr) -> Option<Route<Ipv4Addr>> {
        self.v4.remove(prefix.addr().to_bits(), prefix.prefix_len())
    }

    /// The longest-prefix match for `dst`.
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<Route<Ipv4Addr>> {
        self.v4.lookup(dst.to_bits())
    }

    /// Adds or replaces the route for `prefix` (host bits ignored); returns the old one.
    pub fn add_v6(&mut self, prefix: Ipv6Cidr, route: Route<Ipv6Addr>) -> Option<Route<Ipv6Addr>> {
        self.v6.insert(prefix.addr().to_bits(), prefix.prefix_len(), route)
    }

    /// Removes the route for `prefix`.
    pub fn remove_v6(&mut self, prefix: Ipv6Cidr) -> Option<Route<Ipv6Addr>> {
        self.v6.remove(prefix.addr().to_bits(), prefix.prefix_len())
    }

    /// The longest-prefix match for `dst`.
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<Route<Ipv6Addr>> {
        self.v6.lookup(dst.to_bits())
    }

    /// Number of IPv4 and IPv6 routes.
    pub fn len(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::l3::iface::test::sample;
    use proptest::prelude::*;

    fn v4(s: &str, len: u8) -> Ipv4Cidr {
        Ipv4Cidr::new(s.parse().unwrap(), len).unwrap()
    }

    #[test]
    fn connected_and_static() {
        let ifs = sample();
        let mut t = RouteTable::with_connected(&ifs);
        assert_eq!(t.len(), (2, 2));
        let gw = Ipv4Addr::new(192, 0, 2, 254);
        t.add_v4(v4("0.0.0.0", 0), Route { iface: 0, next_hop: NextHop::Gateway(gw) });
        t.add_v4(
            v4("10.1.5.0", 24),
            Route { iface: 1, next_hop: NextHop::Gateway(Ipv4Addr::new(10, 1, 0, 9)) },
        );
        let r = t.lookup_v4(Ipv4Addr::new(192, 0, 2, 7)).unwrap();
        assert_eq!((r.iface, r.next_hop), (0, NextHop::Connected));
        assert_eq!(r.next_hop_addr(Ipv4Addr::new(192, 0, 2, 7)), Ipv4Addr::new(192, 0, 2, 7));
        let r = t.lookup_v4(Ipv4Addr::new(10, 1, 5, 3)).unwrap();
        assert_eq!(r.next_hop_addr(Ipv4Addr::new(10, 1, 5, 3)), Ipv4Addr::new(10, 1, 0, 9));
        assert_eq!(t.lookup_v4(Ipv4Addr::new(10, 1, 6, 3)).unwrap().next_hop, NextHop::Connected);
        assert_eq!(t.lookup_v4(Ipv4Addr::new(8, 8, 8, 8)).unwrap().next_hop, NextHop::Gateway(gw));
        assert!(t.remove_v4(v4("0.0.0.0", 0)).is_some());
        assert_eq!(t.lookup_v4(Ipv4Addr::new(8, 8, 8, 8)), None);
        let r6 = t.lookup_v6("2001:db8::99".parse().unwrap()).unwrap();
        assert_eq!((r6.iface, r6.next_hop), (0, NextHop::Connected));
        assert_eq!(t.lookup_v6("2001:db9::1".parse().unwrap()), None);
    }

    /// Reference: linear scan for the longest matching prefix; later inserts replace.
    fn naive<K: LpmKey, V: Copy>(routes: &[(K, u8, V)], key: K) -> Option<V> {
        let mut best: Option<(u8, V)> = None;
        for &(p, len, v) in routes {
            if p.masked(len) == key.masked(len) && best.is_none_or(|(bl, _)| len > bl) {
                best = Some((len, v));
            }
        }
        best.map(|(_, v)| v)
    }

    fn dedup<K: LpmKey, V: Copy>(ops: &[(K, u8, V)]) -> Vec<(K, u8, V)> {
        let mut out: Vec<(K, u8, V)> = Vec::new();
        for &(k, l, v) in ops {
            out.retain(|&(k2, l2, _)| !(l2 == l && k2.masked(l) == k.masked(l)));
            out.push((k, l, v));
        }
        out
    }

    proptest! {
        #[test]
        fn lpm_v4_matches_naive(
            routes in prop::collection::vec((any::<u32>(), 0u8..=32, any::<u16>()), 0..60),
            removes in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
            queries in prop::collection::vec(any::<u32>(), 1..60),
        ) {
            let mut lpm = Lpm::<u32, u16>::new();
            for &(k, l, v) in &routes {
                lpm.insert(k, l, v);
            }
            let mut reference = dedup(&routes);
            for idx in &removes {
                if reference.is_empty() { break; }
                let (k, l, _) = reference.remove(idx.index(reference.len()));
                prop_assert!(lpm.remove(k, l).is_some());
            }
            // Queries near route prefixes exercise the matches, random ones the misses.
            for (i, &q) in queries.iter().enumerate() {
                let q = match reference.get(i % reference.len().max(1)) {
                    Some(&(k, _, _)) if i % 2 == 0 => k ^ (q & 0xff),
                    _ => q,
                };
                prop_assert_eq!(lpm.lookup(q), naive(&reference, q));
            }
            prop_assert_eq!(lpm.len(), reference.len());
        }

        #[test]
        fn lpm_v6_matches_naive(
            routes in prop::collection::vec((any::<u128>(), 0u8..=128, any::<u16>()), 0..40),
            queries in prop::collection::vec(any::<u128>(), 1..40),
        ) {
            let mut lpm = Lpm::<u128, u16>::new();
            for &(k, l, v) in &routes {
                lpm.insert(k, l, v);
            }
            let reference = dedup(&routes);
            for (i, &q) in queries.iter().enumerate() {
                let q = match reference.get(i % reference.len().max(1)) {
                    Some(&(k, _, _)) if i % 2 == 0 => k ^ (q & 0xffff),
                    _ => q,
                };
                prop_assert_eq!(lpm.lookup(q), naive(&reference, q));
            }
        }
    }
}
