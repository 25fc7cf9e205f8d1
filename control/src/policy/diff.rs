//! What a reload changes (pure): the ASA semantics are that any change to a crypto map
//! entry resets its peer index to the first peer, and that changing the transform set or
//! proposal an SA was built from tears that tunnel down.

use core::fmt;
use std::collections::BTreeSet;

use super::model::{CryptoMapEntry, IkeVersion, PolicyConfig};

/// A crypto map entry's identity (`crypto map NAME SEQ`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapKey {
    /// Map name.
    pub name: String,
    /// Sequence number.
    pub sequence: u16,
}

impl MapKey {
    fn of(m: &CryptoMapEntry) -> MapKey {
        MapKey { name: m.name.clone(), sequence: m.sequence }
    }
}

impl fmt::Display for MapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.sequence)
    }
}

/// The difference between two loaded policies. Every list is sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyDiff {
    /// Entries only in the new policy.
    pub maps_added: Vec<MapKey>,
    /// Entries only in the old policy: their tunnels go.
    pub maps_removed: Vec<MapKey>,
    /// Entries in both whose own settings changed: the peer index resets to the first peer.
    pub maps_changed: Vec<MapKey>,
    /// Entries in both whose established tunnels must be torn down because a transform set,
    /// IPsec proposal, IKE policy or tunnel group they use changed.
    pub tunnels_to_tear_down: Vec<MapKey>,
    /// Entries in both that neither changed nor lose their tunnels.
    pub maps_untouched: Vec<MapKey>,
    /// Access lists added, removed or edited (the SPD is reprogrammed for them).
    pub access_lists_changed: Vec<String>,
    /// Transform sets added, removed or edited.
    pub transform_sets_changed: Vec<String>,
    /// IPsec proposals added, removed or edited.
    pub ipsec_proposals_changed: Vec<String>,
    /// Whether the IKEv1 policy list changed.
    pub ikev1_policies_changed: bool,
    /// Whether the IKEv2 policy list changed.
    pub ikev2_policies_changed: bool,
    /// Tunnel groups added, removed or edited.
    pub tunnel_groups_changed: Vec<String>,
    /// Interfaces whose crypto settings were added, removed or edited.
    pub crypto_interfaces_changed: Vec<String>,
    /// Whether `[ike]` changed.
    pub ike_globals_changed: bool,
    /// Whether `[ha]` changed.
    pub ha_changed: bool,
    /// Whether `[cluster]` changed (added, removed or edited).
    pub cluster_changed: bool,
    /// Whether `[management]` changed.
    pub management_changed: bool,
}

impl PolicyDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.maps_added.is_empty()
            && self.maps_removed.is_empty()
            && self.maps_changed.is_empty()
            && self.tunnels_to_tear_down.is_empty()
            && self.access_lists_changed.is_empty()
            && self.transform_sets_changed.is_empty()
            && self.ipsec_proposals_changed.is_empty()
            && !self.ikev1_policies_changed
            && !self.ikev2_policies_changed
            && self.tunnel_groups_changed.is_empty()
            && self.crypto_interfaces_changed.is_empty()
            && !self.ike_globals_changed
            && !self.ha_changed
            && !self.cluster_changed
            && !self.management_changed
    }

    /// The policy sections that changed and that a running appliance cannot change without
    /// a restart, in file-format order: `[ha]` and `[cluster]` (the failover unit or the
    /// cluster unit, its link and its role, are set up once at start).
    pub fn restart_sections(&self) -> Vec<&'static str> {
        [("ha", self.ha_changed), ("cluster", self.cluster_changed)]
            .into_iter()
            .filter_map(|(s, changed)| changed.then_some(s))
            .collect()
    }
}

/// Names whose item differs between `old` and `new` (added, removed or edited).
fn changed_names<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    let names: BTreeSet<&str> = old.iter().chain(new).map(&name).collect();
    names
        .into_iter()
        .filter(|n| {
            let a = old.iter().find(|x| name(x) == *n);
            let b = new.iter().find(|x| name(x) == *n);
            a != b
        })
        .map(str::to_owned)
        .collect()
}

impl PolicyConfig {
    /// What changes from `old` to `new`.
    pub fn diff(old: &PolicyConfig, new: &PolicyConfig) -> PolicyDiff {
        let mut d = PolicyDiff {
            access_lists_changed: changed_names(&old.access_lists, &new.access_lists, |a| &a.name),
            transform_sets_changed: changed_names(&old.transform_sets, &new.transform_sets, |t| {
                &t.name
            }),
            ipsec_proposals_changed: changed_names(
                &old.ipsec_proposals,
                &new.ipsec_proposals,
                |p| &p.name,
            ),
            ikev1_policies_changed: old.ikev1_policies != new.ikev1_policies,
            ikev2_policies_changed: old.ikev2_policies != new.ikev2_policies,
            tunnel_groups_changed: changed_names(&old.tunnel_groups, &new.tunnel_groups, |g| {
                &g.name
            }),
            crypto_interfaces_changed: changed_names(
                &old.crypto_interfaces,
                &new.crypto_interfaces,
                |c| &c.interface,
            ),
            ike_globals_changed: old.ike != new.ike,
            ha_changed: old.ha != new.ha,
            cluster_changed: old.cluster != new.cluster,
            management_changed: old.management != new.management,
            ..PolicyDiff::default()
        };
        for m in &new.crypto_maps {
            if old.crypto_map(&m.name, m.sequence).is_none() {
                d.maps_added.push(MapKey::of(m));
            }
        }
        for o in &old.crypto_maps {
            let key = MapKey::of(o);
            let Some(n) = new.crypto_map(&o.name, o.sequence) else {
                d.maps_removed.push(key);
                continue;
            };
            let changed = o != n;
            let tear_down = depends_on_changed(old, o, &d) || depends_on_changed(new, n, &d);
            if changed {
                d.maps_changed.push(key.clone());
            }
            if tear_down {
                d.tunnels_to_tear_down.push(key.clone());
            }
            if !changed && !tear_down {
                d.maps_untouched.push(key);
            }
        }
        d.maps_added.sort();
        d.maps_removed.sort();
        d.maps_changed.sort();
        d.tunnels_to_tear_down.sort();
        d.maps_untouched.sort();
        d
    }
}

/// Whether `m` (an entry of `cfg`) uses a transform set, proposal, IKE policy list or
/// tunnel group (a peer's, or the one a dynamic entry names) that `d` reports changed. A
/// change of the entry itself (`dynamic`, `tunnel_group` included) is a plain inequality.
fn depends_on_changed(cfg: &PolicyConfig, m: &CryptoMapEntry, d: &PolicyDiff) -> bool {
    let ts = m.uses(IkeVersion::Ikev1)
        && (d.ikev1_policies_changed
            || m.ikev1_transform_sets.iter().any(|t| d.transform_sets_changed.contains(t)));
    let v2 = m.uses(IkeVersion::Ikev2)
        && (d.ikev2_policies_changed
            || m.ikev2_proposals.iter().any(|p| d.ipsec_proposals_changed.contains(p)));
    let group = m.peers.iter().any(|p| {
        let own = p.to_string();
        // The peer's group, or the default group it falls back to.
        cfg.tunnel_group_for_peer(*p).is_some_and(|g| d.tunnel_groups_changed.contains(&g.name))
            || d.tunnel_groups_changed.contains(&own)
    });
    // A dynamic entry's peers authenticate with the tunnel group it names.
    let dynamic_group =
        m.tunnel_group.as_ref().is_some_and(|g| d.tunnel_groups_changed.contains(g));
    ts || v2 || group || dynamic_group
}
