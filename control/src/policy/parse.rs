//! The loader's first pass: the TOML text to per-item typed values, each with the spans of
//! its keys. Checks that need one item only (types, ranges, keywords, combinations inside an
//! item) happen here; checks across items are in `validate`.

use std::collections::HashMap;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::acl::AccessList;
use super::diagnostics::{Diagnostics, Positions};
use super::model::{
    AddressPool, ClusterConfig, ClusterVpnMode, CryptoInterface, CryptoMapEntry, HaConfig,
    IkeGlobals, Ikev1Policy, Ikev2Policy, IpsecProposal, LocalUser, Management, TransformSet,
    Trustpoint, TunnelGroup,
};
use super::reader::{At, Ctx, Ref, Span, Tbl, array_of_tables, single_table};
use super::{parse_crypto, parse_groups, parse_maps};

/// Top-level sections that other parsers own (the DPDK profile and the appliance
/// dataplane sections): skipped here.
pub const OTHER_SECTIONS: &[&str] = &[
    "eal",
    "mempool",
    "run",
    "port",
    "interface",
    "route",
    "neighbour",
    "sa",
    "policy",
    "dataplane",
    "operator",
];

/// Top-level sections this module reads.
pub const POLICY_SECTIONS: &[&str] = &[
    "ike",
    "access_list",
    "ikev1_policy",
    "ikev2_policy",
    "transform_set",
    "ipsec_proposal",
    "crypto_map",
    "crypto_interface",
    "trustpoint",
    "address_pool",
    "tunnel_group",
    "user",
    "ha",
    "cluster",
    "management",
];

/// An item with where it was in the file.
pub(crate) struct Located<T> {
    pub(crate) value: T,
    /// Index in its `[[section]]` array (file order).
    pub(crate) index: usize,
    /// The table (header or inline table).
    pub(crate) span: Span,
    /// Spans of the keys read, by key (`peers[3]` for array elements).
    pub(crate) spans: HashMap<String, Span>,
    /// References to other items.
    pub(crate) refs: Vec<Ref>,
    /// Some value of the item was refused: content checks across items skip it so that one
    /// mistake is not reported twice.
    pub(crate) poisoned: bool,
    /// The section name, for field paths.
    pub(crate) section: &'static str,
}

impl<T> Located<T> {
    pub(crate) fn new(value: T, section: &'static str, index: usize, t: Tbl<'_, '_>) -> Located<T> {
        Located {
            value,
            index,
            span: t.span,
            spans: t.spans,
            refs: t.refs,
            poisoned: t.poisoned,
            section,
        }
    }

    /// Field path of `key` (`crypto_map[2].peers[10]`).
    pub(crate) fn field(&self, key: &str) -> String {
        format!("{}[{}].{key}", self.section, self.index)
    }

    /// Span of `key`, or the table's.
    pub(crate) fn span_of(&self, key: &str) -> Span {
        self.spans.get(key).cloned().unwrap_or_else(|| self.span.clone())
    }
}

/// An IKEv1 transform set or IPsec proposal whose encryption was cleared: it is dropped
/// together with the crypto map references to it.
pub(crate) struct Cleared {
    pub(crate) name: At<String>,
    pub(crate) field: String,
}

/// Everything the first pass read.
#[derive(Default)]
pub(crate) struct Sections {
    pub(crate) ike: IkeGlobals,
    pub(crate) access_lists: Vec<Located<AccessList>>,
    pub(crate) ikev1_policies: Vec<Located<Ikev1Policy>>,
    pub(crate) ikev2_policies: Vec<Located<Ikev2Policy>>,
    pub(crate) transform_sets: Vec<Located<TransformSet>>,
    pub(crate) cleared_transform_sets: Vec<Cleared>,
    pub(crate) ipsec_proposals: Vec<Located<IpsecProposal>>,
    pub(crate) cleared_proposals: Vec<Cleared>,
    pub(crate) crypto_maps: Vec<Located<CryptoMapEntry>>,
    pub(crate) crypto_interfaces: Vec<Located<CryptoInterface>>,
    pub(crate) trustpoints: Vec<Located<Trustpoint>>,
    pub(crate) address_pools: Vec<Located<AddressPool>>,
    pub(crate) tunnel_groups: Vec<Located<TunnelGroup>>,
    pub(crate) users: Vec<Located<LocalUser>>,
    pub(crate) ha: Option<HaConfig>,
    /// Where `[ha]` was (its header), for the check that refuses it with `[cluster]`.
    pub(crate) ha_at: Option<Span>,
    pub(crate) cluster: Option<ClusterConfig>,
    /// Where `[cluster]` was (its header), even when its contents were refused.
    pub(crate) cluster_at: Option<Span>,
    /// `[cluster] mode` as read, even when another key was refused: the distributed-mode
    /// check of the crypto maps does not depend on them.
    pub(crate) cluster_mode: Option<At<ClusterVpnMode>>,
    pub(crate) management: Management,
    /// Names given in each named section, including items refused for other reasons, so
    /// that a mistake inside an item does not also show up as a missing reference.
    pub(crate) declared: HashMap<&'static str, Vec<String>>,
}

/// Sections whose items are referred to by name.
const NAMED_SECTIONS: &[(&str, &str)] = &[
    ("access_list", "name"),
    ("transform_set", "name"),
    ("ipsec_proposal", "name"),
    ("crypto_map", "name"),
    ("trustpoint", "name"),
    ("address_pool", "name"),
    ("tunnel_group", "name"),
    ("user", "name"),
];

fn declared_names(root: &DeTable<'_>) -> HashMap<&'static str, Vec<String>> {
    let mut out = HashMap::new();
    for &(section, key) in NAMED_SECTIONS {
        let mut names = Vec::new();
        if let Some(DeValue::Array(a)) = root.get(section).map(|v| v.get_ref()) {
            for e in a.iter() {
                if let Some(n) = e.get_ref().get(key).and_then(|n| n.get_ref().as_str()) {
                    names.push(n.to_owned());
                }
            }
        }
        out.insert(section, names);
    }
    out
}

/// Parses the text: a TOML syntax error ends the load (nothing after it can be trusted);
/// otherwise every section is read and the returned context holds every finding.
pub(crate) fn read<'a>(
    file: &'a Path,
    text: &'a str,
    known_interfaces: &[&str],
) -> (Ctx<'a>, Option<Sections>) {
    let mut ctx = Ctx::new(Positions::new(file, text));
    // Only the first syntax error is reported: the parser's recovery after one is unreliable
    // (an unclosed array swallows the rest of the file and yields an error per line).
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.error(span, "", format!("TOML syntax: {}", e.message().trim_end()));
            return (ctx, None);
        }
    };
    let root = root.get_ref();
    let mut s = Sections { declared: declared_names(root), ..Sections::default() };

    // [ike] first: the weak-DH rule of every later group depends on it.
    if let Some(v) = root.get("ike")
        && let Some(t) = single_table(&mut ctx, "ike", v)
    {
        s.ike = parse_crypto::ike_globals(&mut ctx, t, v.span());
    }
    let weak_ok = s.ike.allow_weak_dh;
    let aggressive_ok = s.ike.ikev1_aggressive_mode;

    for (k, v) in root.iter() {
        let key: &str = k.get_ref();
        match key {
            "ike" => {}
            "access_list" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(a) = parse_crypto::access_list(&mut ctx, t, span, i) {
                        s.access_lists.push(a);
                    }
                }
            }
            "ikev1_policy" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(p) = parse_crypto::ikev1_policy(&mut ctx, t, span, i, weak_ok) {
                        s.ikev1_policies.push(p);
                    }
                }
            }
            "ikev2_policy" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(p) = parse_crypto::ikev2_policy(&mut ctx, t, span, i, weak_ok) {
                        s.ikev2_policies.push(p);
                    }
                }
            }
            "transform_set" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    match parse_crypto::transform_set(&mut ctx, t, span, i) {
                        Some(Ok(ts)) => s.transform_sets.push(ts),
                        Some(Err(c)) => s.cleared_transform_sets.push(c),
                        None => {}
                    }
                }
            }
            "ipsec_proposal" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    match parse_crypto::ipsec_proposal(&mut ctx, t, span, i) {
                        Some(Ok(p)) => s.ipsec_proposals.push(p),
                        Some(Err(c)) => s.cleared_proposals.push(c),
                        None => {}
                    }
                }
            }
            "crypto_map" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(m) =
                        parse_maps::crypto_map(&mut ctx, t, span, i, weak_ok, aggressive_ok)
                    {
                        s.crypto_maps.push(m);
                    }
                }
            }
            "crypto_interface" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(c) =
                        parse_maps::crypto_interface(&mut ctx, t, span, i, known_interfaces)
                    {
                        s.crypto_interfaces.push(c);
                    }
                }
            }
            "trustpoint" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(tp) = parse_groups::trustpoint(&mut ctx, t, span, i) {
                        s.trustpoints.push(tp);
                    }
                }
            }
            "address_pool" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(p) = parse_groups::address_pool(&mut ctx, t, span, i) {
                        s.address_pools.push(p);
                    }
                }
            }
            "user" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(u) = parse_groups::user(&mut ctx, t, span, i) {
                        s.users.push(u);
                    }
                }
            }
            "tunnel_group" => {
                for (i, t, span) in array_of_tables(&mut ctx, key, v) {
                    if let Some(g) = parse_groups::tunnel_group(&mut ctx, t, span, i, &s.ike) {
                        s.tunnel_groups.push(g);
                    }
                }
            }
            "ha" => {
                if let Some(t) = single_table(&mut ctx, key, v) {
                    s.ha = parse_groups::ha(&mut ctx, t, v.span(), known_interfaces);
                }
                s.ha_at = Some(v.span());
            }
            "cluster" => {
                if let Some(t) = single_table(&mut ctx, key, v) {
                    let (cluster, mode) =
                        parse_groups::cluster(&mut ctx, t, v.span(), known_interfaces);
                    (s.cluster, s.cluster_mode) = (cluster, mode);
                }
                s.cluster_at = Some(v.span());
            }
            "management" => {
                if let Some(t) = single_table(&mut ctx, key, v) {
                    s.management = parse_groups::management(&mut ctx, t, v.span());
                }
            }
            other if OTHER_SECTIONS.contains(&other) => {}
            other => {
                let known: Vec<&str> =
                    OTHER_SECTIONS.iter().chain(POLICY_SECTIONS).copied().collect();
                ctx.error(
                    k.span(),
                    other,
                    format!("unknown key \"{other}\"; expected one of: {}", known.join(", ")),
                );
            }
        }
    }
    (ctx, Some(s))
}

/// Finishes a load: sorted diagnostics, split into the result.
pub(crate) fn finish<T>(ctx: Ctx<'_>, value: Option<T>) -> Result<(T, Diagnostics), Diagnostics> {
    let mut diags = ctx.diags;
    diags.finish();
    match value {
        Some(v) if !diags.has_errors() => Ok((v, diags)),
        _ => Err(diags),
    }
}
