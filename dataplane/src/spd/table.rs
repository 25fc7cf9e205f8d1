//! The compiled SPD and its tuple-space search (the flow cache's miss path).
//!
//! Entries are grouped by (address family, source prefix length, destination prefix
//! length): the "tuples" of Srinivasan et al., "Packet Classification using Tuple Space
//! Search" (SIGCOMM 1999). Each group is an open-addressing hash table from the masked
//! (source, destination) pair to the ascending list of entries with exactly those prefixes.
//! A lookup masks the packet's addresses once per group, probes that group's table, and
//! checks protocol and ports of the candidates in order; the first candidate that passes is
//! the group's best. Groups are visited in order of their lowest entry index, so the search
//! stops as soon as no remaining group can hold an earlier entry.
//!
//! Cost per lookup: O(G + C), where G is the number of distinct prefix-length pairs of the
//! packet's family (1 to 3 in typical crypto maps, at most 33 × 33 for IPv4 and 129 × 129
//! for IPv6) and C the number of candidates rejected on protocol or ports. It does not grow
//! with the number of entries: 100,000 site-to-site entries of one shape are one probe.

use std::collections::HashMap;

use super::PolicyId;
use super::key::{FlowKey, fold_mul};
use super::selector::{Action, Entry, SpdError, prefix_mask};

/// An entry's action with the policy replaced by its dense slot number in this SPD, so that
/// per-policy state (SA bindings) is an array index away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Protect(u32),
    Bypass,
    Discard,
}

/// Entry index meaning "no entry matched; the default action applies".
pub(crate) const NO_ENTRY: u32 = u32::MAX;

/// Shape of the tuple space, for sizing and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TupleSpaceStats {
    /// Distinct (source length, destination length) pairs among IPv4 entries.
    pub groups_v4: usize,
    /// Distinct (source length, destination length) pairs among IPv6 entries.
    pub groups_v6: usize,
    /// Most entries sharing one exact (source prefix, destination prefix) pair: the worst
    /// number of protocol/port checks after one hash hit.
    pub max_candidates: usize,
    /// Longest probe sequence in any group's table.
    pub max_probe: usize,
}

/// An immutable, compiled SPD: ordered entries plus the tuple-space index over them.
///
/// Build one with [`Spd::new`] on the control thread and share it as `Arc<Spd>`.
#[derive(Debug)]
pub struct Spd {
    entries: Box<[Entry]>,
    default: Action,
    default_verdict: Verdict,
    policies: Box<[PolicyId]>,
    v4: Box<[Group]>,
    v6: Box<[Group]>,
    stats: TupleSpaceStats,
}

#[derive(Debug)]
struct Group {
    src_mask: u128,
    dst_mask: u128,
    min_entry: u32,
    table: PairTable,
}

/// One candidate entry of a (source, destination) pair, with what the search needs to
/// accept it without touching the entry itself when it has no protocol or port selector.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    entry: u32,
    verdict: Verdict,
    /// No protocol and ANY ports: the address match alone decides.
    any_upper: bool,
}

const NO_CANDIDATE: Candidate =
    Candidate { entry: NO_ENTRY, verdict: Verdict::Discard, any_upper: false };

/// One cache line: a (source, destination) pair and its lowest-numbered candidate inline
/// (the only one in the common crypto-map shape), the others in `PairTable::rest`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    src: u128,
    dst: u128,
    first: Candidate,
    rest_start: u32,
    rest_len: u32,
    occupied: bool,
}

const EMPTY: Bucket =
    Bucket { src: 0, dst: 0, first: NO_CANDIDATE, rest_start: 0, rest_len: 0, occupied: false };

/// Open addressing with linear probing, load factor at most 1/2 (so a lookup for a pair
/// that is absent, the usual case for all groups but one, probes 2.5 buckets on average),
/// never modified after build (so no tombstones).
#[derive(Debug)]
struct PairTable {
    buckets: Box<[Bucket]>,
    mask: usize,
    rest: Box<[Candidate]>,
}

#[inline]
fn pair_hash(src: u128, dst: u128) -> u64 {
    let a =
        fold_mul(src as u64 ^ 0x9e37_79b9_7f4a_7c15, (src >> 64) as u64 ^ 0xc2b2_ae3d_27d4_eb4f);
    let b =
        fold_mul(dst as u64 ^ 0x1656_67b1_9e37_79f9, (dst >> 64) as u64 ^ 0x85eb_ca77_c2b2_ae63);
    fold_mul(a ^ 0x27d4_eb2f_1656_67c5, b ^ 0x9e37_79b9_7f4a_7c15)
}

impl PairTable {
    fn build(
        pairs: HashMap<(u128, u128), Vec<u32>>,
        candidate: impl Fn(u32) -> Candidate,
        stats: &mut TupleSpaceStats,
    ) -> PairTable {
        let capacity = (pairs.len() * 2).next_power_of_two().max(2);
        let mask = capacity - 1;
        let mut buckets = vec![EMPTY; capacity];
        let mut rest = Vec::new();
        for ((src, dst), mut list) in pairs {
            list.sort_unstable();
            stats.max_candidates = stats.max_candidates.max(list.len());
            let first = list.first().map_or(NO_CANDIDATE, |&i| candidate(i));
            let rest_start = rest.len() as u32;
            rest.extend(list.iter().skip(1).map(|&i| candidate(i)));
            let rest_len = rest.len() as u32 - rest_start;
            let mut i = pair_hash(src, dst) as usize & mask;
            let mut probe = 1;
            while buckets[i].occupied {
                i = (i + 1) & mask;
                probe += 1;
            }
            stats.max_probe = stats.max_probe.max(probe);
            buckets[i] = Bucket { src, dst, first, rest_start, rest_len, occupied: true };
        }
        PairTable { buckets: buckets.into_boxed_slice(), mask, rest: rest.into() }
    }

    #[inline]
    fn get(&self, src: u128, dst: u128) -> Option<&Bucket> {
        let mut i = pair_hash(src, dst) as usize & self.mask;
        // Terminates: at most half the buckets are occupied.
        loop {
            let b = self.buckets.get(i)?;
            if !b.occupied {
                return None;
            }
            if b.src == src && b.dst == dst {
                return Some(b);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The candidates of `b` after its first.
    #[inline]
    fn rest(&self, b: &Bucket) -> &[Candidate] {
        let start = b.rest_start as usize;
        self.rest.get(start..start + b.rest_len as usize).unwrap_or(&[])
    }
}

impl Spd {
    /// Compiles `entries` (in priority order: the first match wins) with `default` as the
    /// action for packets no entry matches (RFC 4301 says discard; an ASA forwards traffic
    /// outside every crypto ACL in the clear, i.e. bypass). O(n) expected time.
    pub fn new(entries: Vec<Entry>, default: Action) -> Result<Spd, SpdError> {
        if entries.len() >= NO_ENTRY as usize {
            return Err(SpdError::TooManyEntries);
        }
        for (i, e) in entries.iter().enumerate() {
            e.validate(i)?;
        }
        let mut policies: Vec<PolicyId> = entries
            .iter()
            .map(|e| e.action)
            .chain([default])
            .filter_map(|a| match a {
                Action::Protect(p) => Some(p),
                _ => None,
            })
            .collect();
        policies.sort_unstable();
        policies.dedup();
        let verdict = |a: Action| match a {
            Action::Protect(p) => {
                // Present by construction of `policies`.
                Verdict::Protect(policies.binary_search(&p).unwrap_or(0) as u32)
            }
            Action::Bypass => Verdict::Bypass,
            Action::Discard => Verdict::Discard,
        };
        let verdicts: Box<[Verdict]> = entries.iter().map(|e| verdict(e.action)).collect();
        let default_verdict = verdict(default);

        let candidate = |i: u32| {
            let e = &entries[i as usize];
            let any_upper = e.protocol.is_none() && e.src_ports.is_any() && e.dst_ports.is_any();
            Candidate { entry: i, verdict: verdicts[i as usize], any_upper }
        };
        type Pairs = HashMap<(u128, u128), Vec<u32>>;
        let mut shapes: HashMap<(bool, u8, u8), (u32, Pairs)> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let shape =
                shapes.entry((e.src.is_v6(), e.src.prefix_len(), e.dst.prefix_len())).or_default();
            if shape.1.is_empty() {
                shape.0 = i as u32;
            }
            shape.1.entry((e.src.bits(), e.dst.bits())).or_default().push(i as u32);
        }
        let mut stats = TupleSpaceStats::default();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for ((is_v6, src_len, dst_len), (min_entry, pairs)) in shapes {
            let group = Group {
                src_mask: prefix_mask(src_len),
                dst_mask: prefix_mask(dst_len),
                min_entry,
                table: PairTable::build(pairs, candidate, &mut stats),
            };
            if is_v6 { v6.push(group) } else { v4.push(group) }
        }
        v4.sort_unstable_by_key(|g| g.min_entry);
        v6.sort_unstable_by_key(|g| g.min_entry);
        stats.groups_v4 = v4.len();
        stats.groups_v6 = v6.len();
        Ok(Spd {
            entries: entries.into(),
            default,
            default_verdict,
            policies: policies.into(),
            v4: v4.into(),
            v6: v6.into(),
            stats,
        })
    }

    /// Index of the first entry matching `key`, or `None` when the default action applies.
    /// This is the tuple-space search; [`super::LinearSpd::lookup`] gives the same answer.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<usize> {
        let (best, _) = self.search(key);
        (best != NO_ENTRY).then_some(best as usize)
    }

    /// The action for `key` (the matching entry's, or the default).
    pub fn action(&self, key: &FlowKey) -> Action {
        self.lookup(key).and_then(|i| self.entries.get(i)).map_or(self.default, |e| e.action)
    }

    /// The first matching entry's index and verdict, or ([`NO_ENTRY`], default verdict).
    #[inline]
    pub(crate) fn search(&self, key: &FlowKey) -> (u32, Verdict) {
        let groups = if key.is_v6() { &self.v6 } else { &self.v4 };
        let (src, dst) = (key.src_bits(), key.dst_bits());
        let mut best = NO_CANDIDATE;
        for g in groups.iter() {
            if g.min_entry >= best.entry {
                break;
            }
            let Some(bucket) = g.table.get(src & g.src_mask, dst & g.dst_mask) else { continue };
            let candidates = core::iter::once(&bucket.first).chain(g.table.rest(bucket));
            for c in candidates {
                if c.entry >= best.entry {
                    break;
                }
                let upper =
                    || self.entries.get(c.entry as usize).is_some_and(|e| e.matches_upper(key));
                if c.any_upper || upper() {
                    best = *c;
                    break;
                }
            }
        }
        if best.entry == NO_ENTRY {
            (NO_ENTRY, self.default_verdict)
        } else {
            (best.entry, best.verdict)
        }
    }

    /// The entries, in priority order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries (every packet gets the default action).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The action for packets no entry matches.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// The distinct policies the entries (and default) protect with, sorted; a policy's
    /// position here is its slot number.
    pub fn policies(&self) -> &[PolicyId] {
        &self.policies
    }

    /// Slot of `policy` in [`Spd::policies`].
    pub(crate) fn policy_slot(&self, policy: PolicyId) -> Option<usize> {
        self.policies.binary_search(&policy).ok()
    }

    /// Shape of the tuple space.
    pub fn tuple_space_stats(&self) -> TupleSpaceStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spd::{IpPrefix, PortRange, PortsState};
    use crate::wire::IpProtocol;
    use core::net::Ipv4Addr;

    fn p4(a: [u8; 4], len: u8) -> IpPrefix {
        IpPrefix::v4(Ipv4Addr::from(a), len).unwrap()
    }

    fn key(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> FlowKey {
        FlowKey::v4(src.into(), dst.into(), proto, PortsState::Known { src: sport, dst: dport })
    }

    #[test]
    fn first_match_wins_across_groups() {
        let entries = vec![
            Entry::new(p4([10, 0, 0, 0], 8), p4([10, 9, 9, 0], 24), Action::Discard)
                .with_protocol(IpProtocol::Tcp)
                .with_ports(PortRange::ANY, PortRange::single(23)),
            Entry::new(p4([10, 1, 0, 0], 16), p4([10, 9, 0, 0], 16), Action::Protect(PolicyId(7))),
            Entry::new(p4([10, 0, 0, 0], 8), p4([10, 9, 9, 0], 24), Action::Bypass),
            Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V4, Action::Protect(PolicyId(3))),
        ];
        let spd = Spd::new(entries, Action::Discard).unwrap();
        assert_eq!(spd.policies(), &[PolicyId(3), PolicyId(7)]);
        assert_eq!(spd.lookup(&key([10, 1, 2, 3], [10, 9, 9, 9], 6, 1000, 23)), Some(0));
        assert_eq!(spd.lookup(&key([10, 1, 2, 3], [10, 9, 9, 9], 6, 1000, 22)), Some(1));
        assert_eq!(spd.lookup(&key([10, 2, 2, 3], [10, 9, 9, 9], 17, 1, 2)), Some(2));
        assert_eq!(spd.lookup(&key([11, 2, 2, 3], [10, 9, 9, 9], 17, 1, 2)), Some(3));
        assert_eq!(
            spd.action(&key([11, 2, 2, 3], [1, 1, 1, 1], 17, 1, 2)),
            Action::Protect(PolicyId(3))
        );
        let stats = spd.tuple_space_stats();
        assert_eq!((stats.groups_v4, stats.groups_v6, stats.max_candidates), (3, 0, 2));
    }

    #[test]
    fn bucket_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<Bucket>(), 64);
    }

    #[test]
    fn empty_spd_gives_default() {
        let spd = Spd::new(Vec::new(), Action::Bypass).unwrap();
        assert!(spd.is_empty());
        assert_eq!(spd.lookup(&key([1, 1, 1, 1], [2, 2, 2, 2], 6, 1, 2)), None);
        assert_eq!(
            spd.search(&key([1, 1, 1, 1], [2, 2, 2, 2], 6, 1, 2)),
            (NO_ENTRY, Verdict::Bypass)
        );
    }

    #[test]
    fn invalid_entries_are_rejected() {
        let bad = Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V6, Action::Bypass);
        let ok = Entry::new(IpPrefix::ANY_V4, IpPrefix::ANY_V4, Action::Bypass);
        assert_eq!(
            Spd::new(vec![ok, bad], Action::Discard).err(),
            Some(SpdError::MixedFamily { entry: 1 })
        );
    }
}
