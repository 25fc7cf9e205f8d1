//! Duplicate SAs between the same peers (RFC 7296 section 2.8: crossing initiations "may
//! create duplicate SAs", and either side may delete one): two IKE SAs after crossing
//! IKE_SA_INITs, or two Child SA pairs with the same traffic selectors after crossing
//! CREATE_CHILD_SAs or a peer that asked for a second one. A rekey is not a duplicate: its
//! old pair is `Replaced` or `Deleting` once the new one is up, and only pairs in use count.
//!
//! The rule, which both peers apply to the same data and so agree on without a word:
//!
//! - Every SA is ranked by the nonces of the exchange that made it (IKE_SA_INIT for an IKE
//!   SA and its first Child SA, the CREATE_CHILD_SA for later ones): its lowest nonce, then
//!   its highest ([`Origin::rank`]). Of duplicates, the highest rank survives and every
//!   other one is redundant: the tie-break of section 2.8.1 for simultaneous rekeys,
//!   applied to duplicates. "Keep the older" would not do: with crossing exchanges each
//!   side sees its own exchange finish last, and the two would delete different SAs.
//! - The redundant SA is deleted by the side that initiated the exchange that made it (as
//!   in section 2.8.1), so exactly one DELETE goes out; the other side only reports it,
//!   and deletes it itself if it is still there after
//!   [`DUPLICATE_GRACE`](super::DUPLICATE_GRACE) (a peer that does not apply the rule).
//! - IKE SAs with the same peer (address, our address, authenticated identity) are
//!   duplicates. The redundant one goes as a whole (an INFORMATIONAL deleting the IKE SA,
//!   which takes its Child SAs) only if every Child SA it carries, at least one, has a
//!   twin with the same selectors in the survivor: make before break, the traffic moves to
//!   pairs that are already installed. Otherwise only its pairs with a twin go, and it
//!   stays for the ones it alone carries (both sides pick the pairs of the lower-ranked IKE
//!   SA, whatever the pairs' own ranks, so the two never delete both twins).
//! - Within one IKE SA, pairs with the same selectors are duplicates, ranked by their own
//!   exchanges.
//!
//! SAs rebuilt from HA records lack the nonces and are never judged.

use crate::ikev2::wire::TrafficSelector;

use super::children::Origin;
use super::endpoint::SaHandle;

/// One Child SA pair in use, as the rule sees it.
#[derive(Debug, Clone)]
pub(crate) struct ChildView {
    pub inbound: u32,
    pub outbound: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub origin: Option<Origin>,
}

impl ChildView {
    /// Same selectors, in any order (a narrowed answer may list them differently).
    fn twin_of(&self, other: &ChildView) -> bool {
        same_set(&self.local_ts, &other.local_ts) && same_set(&self.remote_ts, &other.remote_ts)
    }
}

fn same_set(a: &[TrafficSelector], b: &[TrafficSelector]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// One established IKE SA that is not being deleted, as the rule sees it.
#[derive(Debug, Clone)]
pub(crate) struct IkeView {
    pub handle: SaHandle,
    pub spis: (u64, u64),
    pub origin: Option<Origin>,
    /// Its pairs in use (not replaced by a rekey, not being deleted).
    pub children: Vec<ChildView>,
}

/// A redundant SA the rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Delete IKE SA `redundant`; `survivor` carries a twin of each of its pairs.
    Ike { redundant: SaHandle, survivor: SaHandle, by_us: bool },
    /// Delete the pair `inbound` of IKE SA `sa`; `twin` (IKE SA, inbound SPI) stays.
    Child { sa: SaHandle, inbound: u32, twin: (SaHandle, u32), by_us: bool },
}

fn rank(c: &ChildView) -> Option<(&[u8], &[u8])> {
    c.origin.as_ref().map(Origin::rank)
}

/// Applies the rule to the IKE SAs of one peer (see the module doc).
pub(crate) fn find(group: &[IkeView]) -> Vec<Finding> {
    let mut out = Vec::new();
    let ranked = group.iter().all(|v| v.origin.is_some());
    let survivor = group
        .iter()
        .filter_map(|v| v.origin.as_ref().map(|o| (o.rank(), v)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v);
    // Pairs already found redundant across IKE SAs: not judged again within theirs.
    let mut taken: Vec<(SaHandle, u32)> = Vec::new();
    let mut closed: Vec<SaHandle> = Vec::new();
    if let (true, Some(s)) = (ranked && group.len() > 1, survivor) {
        for r in group.iter().filter(|v| v.handle != s.handle) {
            let Some(origin) = &r.origin else { continue };
            let by_us = origin.we_initiated;
            let twin = |c: &ChildView| s.children.iter().find(|t| t.twin_of(c));
            if !r.children.is_empty() && r.children.iter().all(|c| twin(c).is_some()) {
                out.push(Finding::Ike { redundant: r.handle, survivor: s.handle, by_us });
                closed.push(r.handle);
                continue;
            }
            for c in &r.children {
                if let Some(t) = twin(c) {
                    out.push(Finding::Child {
                        sa: r.handle,
                        inbound: c.inbound,
                        twin: (s.handle, t.inbound),
                        by_us,
                    });
                    taken.push((r.handle, c.inbound));
                }
            }
        }
    }
    for v in group.iter().filter(|v| !closed.contains(&v.handle)) {
        let live: Vec<&ChildView> = v
            .children
            .iter()
            .filter(|c| c.origin.is_some() && !taken.contains(&(v.handle, c.inbound)))
            .collect();
        for c in &live {
            // The best-ranked twin, if it outranks this one.
            let best = live
                .iter()
                .filter(|t| t.inbound != c.inbound && t.twin_of(c))
                .max_by(|a, b| rank(a).cmp(&rank(b)));
            if let Some(t) = best.filter(|t| rank(t) > rank(c))
                && let Some(o) = &c.origin
            {
                out.push(Finding::Child {
                    sa: v.handle,
                    inbound: c.inbound,
                    twin: (v.handle, t.inbound),
                    by_us: o.we_initiated,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(ni: u8, nr: u8, we: bool) -> Option<Origin> {
        Some(Origin { ni: vec![ni; 4], nr: vec![nr; 4], we_initiated: we })
    }

    fn ts(n: u8) -> Vec<TrafficSelector> {
        vec![crate::ikev2::selectors::from_prefix([10, n, 0, 0].into(), 16)]
    }

    fn child(inbound: u32, net: u8, o: Option<Origin>) -> ChildView {
        ChildView {
            inbound,
            outbound: inbound + 1000,
            local_ts: ts(1),
            remote_ts: ts(net),
            origin: o,
        }
    }

    fn ike(h: u64, o: Option<Origin>, children: Vec<ChildView>) -> IkeView {
        IkeView { handle: SaHandle(h), spis: (h, h), origin: o, children }
    }

    /// The peer's view of the same SAs: every exchange's initiator flipped.
    fn mirrored(group: &[IkeView]) -> Vec<IkeView> {
        let flip =
            |o: &Option<Origin>| o.clone().map(|o| Origin { we_initiated: !o.we_initiated, ..o });
        group
            .iter()
            .map(|v| IkeView {
                origin: flip(&v.origin),
                children: v
                    .children
                    .iter()
                    .map(|c| ChildView { origin: flip(&c.origin), ..c.clone() })
                    .collect(),
                ..v.clone()
            })
            .collect()
    }

    fn by_us(f: &[Finding]) -> Vec<Finding> {
        f.iter()
            .filter(|f| {
                matches!(f, Finding::Ike { by_us: true, .. } | Finding::Child { by_us: true, .. })
            })
            .cloned()
            .collect()
    }

    #[test]
    fn crossing_ike_sas_lose_the_lower_ranked_one_and_one_side_deletes_it() {
        // X: ours, nonces 3/9 (rank (3, 9)); Y: the peer's, 5/4 (rank (4, 5)). X's lowest
        // nonce is the lowest: X is redundant, and we initiated it.
        let x = ike(1, origin(3, 9, true), vec![child(100, 2, origin(3, 9, true))]);
        let y = ike(2, origin(5, 4, false), vec![child(200, 2, origin(5, 4, false))]);
        let ours = find(&[x.clone(), y.clone()]);
        let redundant = Finding::Ike { redundant: SaHandle(1), survivor: SaHandle(2), by_us: true };
        assert_eq!(ours, vec![redundant]);
        let theirs = find(&mirrored(&[y, x]));
        assert_eq!(theirs.len(), 1);
        assert!(by_us(&theirs).is_empty(), "the peer leaves it to us: {theirs:?}");
    }

    #[test]
    fn an_ike_sa_with_a_pair_of_its_own_keeps_it_and_loses_only_the_twins() {
        let x = ike(
            1,
            origin(1, 9, false),
            vec![child(100, 2, origin(1, 9, false)), child(101, 3, origin(7, 7, true))],
        );
        let y = ike(2, origin(5, 4, true), vec![child(200, 2, origin(5, 4, true))]);
        let f = find(&[x, y]);
        // The twin of 200 goes even though its own rank (7, 7) is not involved: the pair
        // in the lower-ranked IKE SA; the peer initiated that IKE SA and deletes it.
        let twin = Finding::Child {
            sa: SaHandle(1),
            inbound: 100,
            twin: (SaHandle(2), 200),
            by_us: false,
        };
        assert_eq!(f, vec![twin]);
        // An IKE SA without pairs is never found redundant as a whole.
        let empty = ike(3, origin(0, 0, true), vec![]);
        let y = ike(2, origin(5, 4, true), vec![child(200, 2, origin(5, 4, true))]);
        assert!(find(&[empty, y]).is_empty());
    }

    #[test]
    fn twin_pairs_in_one_ike_sa_lose_the_lower_ranked_pair_to_its_initiator() {
        let a = child(100, 2, origin(8, 2, true));
        let b = child(101, 2, origin(6, 6, false));
        let other = child(102, 3, origin(1, 1, true));
        let group = [ike(1, origin(9, 9, true), vec![a, b, other])];
        let f = find(&group);
        let redundant =
            Finding::Child { sa: SaHandle(1), inbound: 100, twin: (SaHandle(1), 101), by_us: true };
        assert_eq!(f, vec![redundant]);
        assert!(by_us(&find(&mirrored(&group))).is_empty());
        // Three twins: both lower ones go, each to its initiator.
        let c = child(103, 2, origin(0, 9, false));
        let g = [ike(
            1,
            origin(9, 9, true),
            vec![child(100, 2, origin(8, 2, true)), child(101, 2, origin(6, 6, false)), c],
        )];
        let f = find(&g);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|x| matches!(x, Finding::Child { twin: (_, 101), .. })));
    }

    #[test]
    fn selectors_in_another_order_are_the_same_and_unknown_origins_are_left_alone() {
        let mut a = child(100, 2, origin(8, 2, true));
        let mut b = child(101, 2, origin(6, 6, false));
        a.remote_ts = [ts(2), ts(4)].concat();
        b.remote_ts = [ts(4), ts(2)].concat();
        assert_eq!(find(&[ike(1, origin(9, 9, true), vec![a.clone(), b])]).len(), 1);
        let imported = child(101, 2, None);
        assert!(find(&[ike(1, origin(9, 9, true), vec![a, imported])]).is_empty());
        let x = ike(1, None, vec![child(100, 2, origin(3, 9, true))]);
        let y = ike(2, origin(5, 4, false), vec![child(200, 2, origin(5, 4, false))]);
        assert!(find(&[x, y]).is_empty(), "an IKE SA from HA records is not ranked");
    }
}
