//! Live reload (`ferrogate reload`, SIGHUP): what differs between the running config and
//! the file as it is now, worked out before anything is touched.
//!
//! The file is validated whole first; a file with errors changes nothing. Sections that
//! shape the DPDK set-up or the router (ports, interfaces, routes, neighbours, sizes) need
//! a restart: a reload that changes them is refused as a whole, so the running state is
//! always one file's, never a mix. What a reload applies live is the SA and policy state:
//! SAs added, re-keyed in place (same SPI, new keys: the outbound SA is switched atomically
//! and keeps its slot, so the policies bound to it never see a gap) or removed, and an SPD
//! rebuilt with stable policy ids, so the bindings of policies that did not change carry
//! over and their tunnels do not lose a packet.

use std::collections::HashMap;

use dataplane::sa::Direction;
use dataplane::spd::PolicyId;

use super::config::{ApplianceConfig, PolicyConfig};

/// Top-level sections a running appliance cannot change without a restart.
pub(crate) const RESTART_SECTIONS: &[&str] =
    &["eal", "mempool", "run", "port", "interface", "route", "neighbour", "dataplane", "operator"];

/// The restart-only sections whose contents differ, in [`RESTART_SECTIONS`] order.
pub(crate) fn restart_sections_changed(
    old: &ApplianceConfig,
    new: &ApplianceConfig,
) -> Vec<&'static str> {
    RESTART_SECTIONS
        .iter()
        .copied()
        .filter(|s| old.document.0.get(*s) != new.document.0.get(*s))
        .collect()
}

/// How the static SAs of two configs relate, matched by direction and SPI. Indices are
/// into the `sas` of the old or the new config.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SaDiff {
    pub added: Vec<usize>,
    /// Same SPI and direction, different contents: `(old, new)`.
    pub changed: Vec<(usize, usize)>,
    pub removed: Vec<usize>,
    pub unchanged: Vec<(usize, usize)>,
}

/// Compares the `[[sa]]` tables as written (keys included: `SaSpec` does not expose them
/// for comparison, on purpose). The tables follow `sas` one to one.
pub(crate) fn sa_diff(old: &ApplianceConfig, new: &ApplianceConfig) -> SaDiff {
    let tables = |c: &ApplianceConfig| -> Vec<Option<toml::Value>> {
        let list = c.document.0.get("sa").and_then(|v| v.as_array());
        (0..c.sas.len()).map(|i| list.and_then(|l| l.get(i)).cloned()).collect()
    };
    let (old_t, new_t) = (tables(old), tables(new));
    let key = |c: &ApplianceConfig, i: usize| {
        (c.sas[i].direction == Direction::Inbound, c.sas[i].spec.spi)
    };
    let old_at: HashMap<(bool, u32), usize> =
        (0..old.sas.len()).map(|i| (key(old, i), i)).collect();
    let mut diff = SaDiff::default();
    let mut seen = vec![false; old.sas.len()];
    for (n, new_table) in new_t.iter().enumerate() {
        match old_at.get(&key(new, n)) {
            Some(&o) => {
                seen[o] = true;
                // A tunnel name is only a label: renaming it re-keys nothing.
                let same = old_t[o].is_some() && strip_label(&old_t[o]) == strip_label(new_table);
                if same {
                    diff.unchanged.push((o, n));
                } else {
                    diff.changed.push((o, n));
                }
            }
            None => diff.added.push(n),
        }
    }
    diff.removed = (0..old.sas.len()).filter(|&o| !seen[o]).collect();
    diff
}

fn strip_label(v: &Option<toml::Value>) -> Option<toml::Value> {
    let mut v = v.clone()?;
    if let Some(t) = v.as_table_mut() {
        t.remove("tunnel");
    }
    Some(v)
}

/// Policy ids for the new policy list: a policy equal to one of the old list keeps that
/// one's id (the n-th copy of a duplicated policy keeps the n-th id), every other policy
/// gets a fresh id from `next`. Returns the ids and the old ids no longer used.
pub(crate) fn policy_ids(
    old: &[PolicyConfig],
    old_ids: &[PolicyId],
    new: &[PolicyConfig],
    next: &mut u32,
) -> (Vec<PolicyId>, Vec<PolicyId>) {
    let mut pool: HashMap<PolicyConfig, Vec<PolicyId>> = HashMap::new();
    for (p, id) in old.iter().zip(old_ids).rev() {
        pool.entry(*p).or_default().push(*id);
    }
    let ids = new
        .iter()
        .map(|p| match pool.get_mut(p).and_then(Vec::pop) {
            Some(id) => id,
            None => {
                let id = PolicyId(*next);
                *next += 1;
                id
            }
        })
        .collect();
    let mut retired: Vec<PolicyId> = pool.into_values().flatten().collect();
    retired.sort_unstable();
    (ids, retired)
}

/// What a reload did, for the operator and the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub sas_added: usize,
    pub sas_rekeyed: usize,
    pub sas_removed: usize,
    pub inbound_selectors_changed: usize,
    pub policies_added: usize,
    pub policies_removed: usize,
    pub policies_kept: usize,
    /// Further lines (e.g. from the crypto policy).
    pub notes: Vec<String>,
}

impl Summary {
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut v = vec![
            format!(
                "static SAs: {} added, {} re-keyed in place, {} removed",
                self.sas_added, self.sas_rekeyed, self.sas_removed
            ),
            format!(
                "policies: {} added, {} removed, {} unchanged (their tunnels kept running)",
                self.policies_added, self.policies_removed, self.policies_kept
            ),
        ];
        if self.inbound_selectors_changed > 0 {
            v.push(format!(
                "{} inbound SA(s) took new selectors (their replay windows restart)",
                self.inbound_selectors_changed
            ));
        }
        v.extend(self.notes.iter().cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[eal]
file_prefix = "fg-reload-test"
worker_cores = [1]
[[port]]
name = "lan"
vdev = "net_null0"
[[port]]
name = "wan"
vdev = "net_null1"
[[interface]]
name = "inside"
port = "lan"
role = "inside"
address = "10.0.0.254/24"
[[interface]]
name = "outside"
port = "wan"
role = "outside"
address = "192.0.2.1/24"
"#;

    fn sa(tunnel: &str, dir: &str, spi: u32, key: &str) -> String {
        format!(
            "[[sa]]\ntunnel = \"{tunnel}\"\ndirection = \"{dir}\"\nspi = {spi}\n\
             transform = \"aes128gcm16\"\nenc_key = \"0x{key}\"\nlocal = \"192.0.2.1\"\n\
             remote = \"192.0.2.2\"\n"
        )
    }

    fn policy(dst: &str, spi: u32) -> String {
        format!(
            "[[policy]]\nsrc = \"10.0.0.0/24\"\ndst = \"{dst}\"\naction = \"protect\"\nsa = {spi}\n"
        )
    }

    fn cfg(parts: &[String]) -> ApplianceConfig {
        let text = format!("{BASE}{}", parts.concat());
        ApplianceConfig::parse(Path::new("t.toml"), &text).unwrap()
    }

    const K1: &str = "4c80cdefbb5d10da906ac73c3613a6342e443b68";
    const K2: &str = "feffe9928665731c6d6a8f9467308308cafebabe";

    #[test]
    fn same_file_changes_nothing() {
        let a = cfg(&[sa("b", "outbound", 0x1001, K1), policy("10.1.0.0/24", 0x1001)]);
        let b = a.clone();
        assert!(restart_sections_changed(&a, &b).is_empty());
        let d = sa_diff(&a, &b);
        assert_eq!(d, SaDiff { unchanged: vec![(0, 0)], ..SaDiff::default() });
    }

    #[test]
    fn sa_changes_are_matched_by_direction_and_spi() {
        let a = cfg(&[
            sa("b", "outbound", 0x1001, K1),
            sa("b", "inbound", 0x1001, K1),
            sa("c", "outbound", 0x1002, K1),
        ]);
        let b = cfg(&[
            sa("b", "inbound", 0x1001, K1),
            sa("renamed", "outbound", 0x1001, K1),
            sa("d", "outbound", 0x1003, K1),
            sa("b", "inbound", 0x2001, K2),
        ]);
        let d = sa_diff(&a, &b);
        assert_eq!(d.unchanged, vec![(1, 0), (0, 1)], "renaming a tunnel re-keys nothing");
        assert_eq!(d.added, vec![2, 3]);
        assert_eq!(d.removed, vec![2]);
        assert!(d.changed.is_empty());
        let c = cfg(&[sa("b", "outbound", 0x1001, K2), sa("b", "inbound", 0x1001, K1)]);
        assert_eq!(sa_diff(&a, &c).changed, vec![(0, 0)], "new key, same SPI");
    }

    #[test]
    fn restart_sections_are_named() {
        let a = cfg(&[]);
        let text =
            format!("{BASE}[[route]]\ndestination = \"10.9.0.0/16\"\ninterface = \"outside\"\n");
        let b = ApplianceConfig::parse(Path::new("t.toml"), &text).unwrap();
        assert_eq!(restart_sections_changed(&a, &b), vec!["route"]);
        let c =
            ApplianceConfig::parse(Path::new("t.toml"), &BASE.replace("10.0.0.254", "10.0.0.253"))
                .unwrap();
        assert_eq!(restart_sections_changed(&a, &c), vec!["interface"]);
    }

    #[test]
    fn unchanged_policies_keep_their_ids_wherever_they_move() {
        let a = cfg(&[
            sa("b", "outbound", 0x1001, K1),
            sa("c", "outbound", 0x1002, K1),
            policy("10.1.0.0/24", 0x1001),
            policy("10.2.0.0/24", 0x1002),
            policy("10.2.0.0/24", 0x1002),
        ]);
        let b = cfg(&[
            sa("b", "outbound", 0x1001, K1),
            sa("c", "outbound", 0x1002, K1),
            policy("10.5.0.0/24", 0x1001),
            policy("10.2.0.0/24", 0x1002),
            policy("10.1.0.0/24", 0x1001),
        ]);
        let old_ids: Vec<PolicyId> = (0..3).map(PolicyId).collect();
        let mut next = 3;
        let (ids, retired) = policy_ids(&a.policies, &old_ids, &b.policies, &mut next);
        assert_eq!(ids, vec![PolicyId(3), PolicyId(1), PolicyId(0)]);
        assert_eq!(retired, vec![PolicyId(2)], "the second copy's id is retired");
        assert_eq!(next, 4);
    }
}
