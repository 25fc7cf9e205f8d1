//! Dynamic crypto map entries (the ASA's `crypto map NAME SEQ ipsec-isakmp dynamic`): an
//! entry without peers answers any peer of its tunnel group (remote-access clients, or
//! LAN-to-LAN peers whose address is not known). Its traffic cannot be described by the
//! config's SPD: each Child SA brings its own selectors (a client's leased address, say),
//! so each gets SPD entries of its own, from its negotiated selectors, placed after the
//! static policies (the ASA gives dynamic maps the lowest priority), with a policy id
//! that lives as long as the Child SA's lineage (a rekey keeps it and only rebinds it).
//!
//! The control thread rebuilds the SPD when the set changes ([`DynamicSpd::take_changed`])
//! and installs it in every worker with the bindings; the policy ids never repeat.

use std::collections::BTreeMap;

use control::ikev2::selectors::to_prefixes;
use control::ikev2::wire::TrafficSelector as IkeSelector;
use dataplane::spd::{Action, Entry, IpPrefix, PolicyId, PortRange, SaIndex};
use dataplane::wire::IpProtocol;

/// Dynamic policy ids start here, far above the config's (which count from 0).
const FIRST_ID: u32 = 1 << 30;

/// One Child SA lineage's SPD entries and the outbound SA they are bound to.
#[derive(Debug, Clone)]
struct DynPolicy {
    entries: Vec<Entry>,
    sa: SaIndex,
}

/// The SPD entries of the dynamic entries' Child SAs.
#[derive(Debug)]
pub(crate) struct DynamicSpd {
    policies: BTreeMap<PolicyId, DynPolicy>,
    next: u32,
    changed: bool,
}

impl Default for DynamicSpd {
    fn default() -> Self {
        DynamicSpd { policies: BTreeMap::new(), next: FIRST_ID, changed: false }
    }
}

impl DynamicSpd {
    /// A new policy protecting traffic from `local` to `remote` (our and the peer's
    /// negotiated selectors) with `sa`; `None` when the selectors give no entry.
    pub(crate) fn add(
        &mut self,
        local: &[IkeSelector],
        remote: &[IkeSelector],
        sa: SaIndex,
    ) -> Option<PolicyId> {
        let id = PolicyId(self.next);
        let entries = spd_entries(local, remote, id);
        if entries.is_empty() {
            return None;
        }
        self.next = self.next.checked_add(1)?;
        self.policies.insert(id, DynPolicy { entries, sa });
        self.changed = true;
        Some(id)
    }

    /// Policy `id` is now carried by `sa` (a rekey: the SPD does not change).
    pub(crate) fn rebind(&mut self, id: PolicyId, sa: SaIndex) {
        if let Some(p) = self.policies.get_mut(&id) {
            p.sa = sa;
        }
    }

    /// Policy `id` is gone with its lineage.
    pub(crate) fn remove(&mut self, id: PolicyId) {
        if self.policies.remove(&id).is_some() {
            self.changed = true;
        }
    }

    /// Whether the set changed since the last call (the SPD must be rebuilt).
    pub(crate) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Every entry, in policy order (after the static ones in the SPD).
    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.policies.values().flat_map(|p| p.entries.iter().cloned()).collect()
    }
}

/// Outbound entries for the pair of selector lists: every local × remote prefix of one
/// family, with the protocol and ports the selectors agree on.
fn spd_entries(local: &[IkeSelector], remote: &[IkeSelector], id: PolicyId) -> Vec<Entry> {
    let mut out = Vec::new();
    for l in local {
        for r in remote {
            let (Some((lp, lsp, lep)), Some((rp, rsp, rep))) = (parts(l), parts(r)) else {
                continue;
            };
            let protocol = match (lp, rp) {
                (0, p) | (p, 0) => p,
                (a, b) if a == b => a,
                _ => continue,
            };
            for (la, ll) in to_prefixes(l) {
                for (ra, rl) in to_prefixes(r) {
                    if la.is_ipv4() != ra.is_ipv4() {
                        continue;
                    }
                    let (Ok(src), Ok(dst)) = (IpPrefix::new(la, ll), IpPrefix::new(ra, rl)) else {
                        continue;
                    };
                    let (Ok(sp), Ok(dp)) = (PortRange::new(lsp, lep), PortRange::new(rsp, rep))
                    else {
                        continue;
                    };
                    let mut e = Entry::new(src, dst, Action::Protect(id)).with_ports(sp, dp);
                    e.protocol = (protocol != 0).then(|| IpProtocol::from(protocol));
                    out.push(e);
                }
            }
        }
    }
    out
}

/// A selector's protocol and port range; `None` for a selector type we do not know.
fn parts(ts: &IkeSelector) -> Option<(u8, u16, u16)> {
    match *ts {
        IkeSelector::Ipv4 { ip_protocol, start_port, end_port, .. }
        | IkeSelector::Ipv6 { ip_protocol, start_port, end_port, .. } => {
            Some((ip_protocol, start_port, end_port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::ikev2::wire::TrafficSelector;
    use std::net::Ipv4Addr;

    fn ts(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
        TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: Ipv4Addr::from(a),
            end: Ipv4Addr::from(b),
        }
    }

    #[test]
    fn a_lineage_gets_entries_an_id_and_keeps_them_through_a_rekey() {
        let mut d = DynamicSpd::default();
        let inside = ts([10, 1, 0, 0], [10, 1, 0, 255]);
        let client = ts([10, 77, 0, 10], [10, 77, 0, 10]);
        let id = d
            .add(std::slice::from_ref(&inside), std::slice::from_ref(&client), SaIndex(3))
            .unwrap();
        assert!(id.0 >= FIRST_ID);
        assert!(d.take_changed());
        assert!(!d.take_changed());
        let e = d.entries();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].src, IpPrefix::new(Ipv4Addr::new(10, 1, 0, 0).into(), 24).unwrap());
        assert_eq!(e[0].dst, IpPrefix::new(Ipv4Addr::new(10, 77, 0, 10).into(), 32).unwrap());
        assert_eq!(e[0].action, Action::Protect(id));
        d.rebind(id, SaIndex(4));
        assert!(!d.take_changed(), "a rekey does not change the SPD");
        assert_eq!(d.policies[&id].sa, SaIndex(4));
        let other = d.add(&[inside], &[client], SaIndex(5)).unwrap();
        assert_ne!(other, id, "ids never repeat");
        d.remove(id);
        assert!(d.take_changed());
        assert_eq!(d.policies.len(), 1);
        // Mixed families give no entry, hence no policy.
        let v6 = TrafficSelector::ipv6_any();
        assert!(d.add(&[ts([10, 1, 0, 0], [10, 1, 0, 255])], &[v6], SaIndex(6)).is_none());
    }
}
