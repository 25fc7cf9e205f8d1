//! The loader's second pass: checks across items (duplicates, references, interplay of a
//! crypto map with its ACL, transforms and tunnel groups, pool overlaps), the removal of
//! cleared transform sets / proposals, and the canonical ordering of the result.

use std::collections::{HashMap, HashSet};

use super::model::{
    ConnectionType, CryptoMapEntry, DEFAULT_L2L_GROUP, IkeVersion, PolicyConfig, PoolRange,
    TunnelGroupType,
};
use super::parse::{Cleared, Located, Sections};
use super::parse_maps::list_or_none;
use super::reader::{Ctx, Ref, Span};
use crate::failover::check_cluster_mode;

/// One item's identity for the duplicate check.
struct Key {
    key: String,
    span: Span,
    field: String,
}

/// Reports every repeat of a key; `what` names it in the message.
fn duplicates(ctx: &mut Ctx<'_>, keys: Vec<Key>, what: &str, rule: &str) {
    let mut first: HashMap<String, Span> = HashMap::new();
    for k in keys {
        match first.get(&k.key) {
            Some(at) => {
                let line = ctx.line_of(at.start);
                let msg =
                    format!("duplicate {what} {} (first defined at line {line}){rule}", k.key);
                ctx.error(k.span, &k.field, msg);
            }
            None => {
                first.insert(k.key, k.span);
            }
        }
    }
}

fn name_keys<T>(items: &[Located<T>], name: impl Fn(&T) -> &str, key: &str) -> Vec<Key> {
    items
        .iter()
        .map(|l| Key {
            key: format!("\"{}\"", name(&l.value)),
            span: l.span_of(key),
            field: l.field(key),
        })
        .collect()
}

fn cleared_keys(items: &[Cleared]) -> Vec<Key> {
    items
        .iter()
        .map(|c| Key {
            key: format!("\"{}\"", c.name.v),
            span: c.name.span.clone(),
            field: c.field.replace(".encryption", ".name"),
        })
        .collect()
}

fn check_duplicates(ctx: &mut Ctx<'_>, s: &Sections) {
    duplicates(ctx, name_keys(&s.access_lists, |a| &a.name, "name"), "access_list name", "");
    let prio = |p: u16| p.to_string();
    let v1 = s
        .ikev1_policies
        .iter()
        .map(|l| Key {
            key: prio(l.value.priority),
            span: l.span_of("priority"),
            field: l.field("priority"),
        })
        .collect();
    duplicates(ctx, v1, "ikev1_policy priority", "; priorities must be unique");
    let v2 = s
        .ikev2_policies
        .iter()
        .map(|l| Key {
            key: prio(l.value.priority),
            span: l.span_of("priority"),
            field: l.field("priority"),
        })
        .collect();
    duplicates(ctx, v2, "ikev2_policy priority", "; priorities must be unique");
    let mut ts = name_keys(&s.transform_sets, |t| &t.name, "name");
    ts.extend(cleared_keys(&s.cleared_transform_sets));
    ts.sort_by_key(|k| k.span.start);
    duplicates(ctx, ts, "transform_set name", "");
    let mut ps = name_keys(&s.ipsec_proposals, |p| &p.name, "name");
    ps.extend(cleared_keys(&s.cleared_proposals));
    ps.sort_by_key(|k| k.span.start);
    duplicates(ctx, ps, "ipsec_proposal name", "");
    let maps = s
        .crypto_maps
        .iter()
        .map(|l| Key {
            key: format!("\"{}\" {}", l.value.name, l.value.sequence),
            span: l.span_of("sequence"),
            field: l.field("sequence"),
        })
        .collect();
    duplicates(ctx, maps, "crypto map entry", "; sequences must be unique per map name");
    let ifs = name_keys(&s.crypto_interfaces, |c| &c.interface, "interface");
    duplicates(ctx, ifs, "crypto_interface for interface", "");
    duplicates(ctx, name_keys(&s.trustpoints, |t| &t.name, "name"), "trustpoint name", "");
    duplicates(ctx, name_keys(&s.address_pools, |p| &p.name, "name"), "address_pool name", "");
    duplicates(ctx, name_keys(&s.tunnel_groups, |g| &g.name, "name"), "tunnel_group name", "");
    duplicates(ctx, name_keys(&s.users, |u| &u.name, "name"), "user name", "");
}

/// Field path of a reference.
fn ref_field<T>(l: &Located<T>, r: &Ref) -> String {
    match r.index {
        Some(i) => format!("{}[{i}]", l.field(r.key)),
        None => l.field(r.key),
    }
}

/// Reports a reference to an undefined item.
fn missing_ref<T>(ctx: &mut Ctx<'_>, l: &Located<T>, r: &Ref, section: &str, names: &[String]) {
    let msg = format!("no {section} named \"{}\"; defined: {}", r.name, list_or_none(names));
    ctx.error(r.span.clone(), &ref_field(l, r), msg);
}

/// Crypto map checks; returns the entries with cleared references removed and the IKE
/// versions resolved.
fn crypto_maps(ctx: &mut Ctx<'_>, s: &Sections) -> Vec<CryptoMapEntry> {
    let declared = |k: &str| s.declared.get(k).cloned().unwrap_or_default();
    let (acls, tss, props, tgs) = (
        declared("access_list"),
        declared("transform_set"),
        declared("ipsec_proposal"),
        declared("tunnel_group"),
    );
    let cleared_ts: HashSet<&str> =
        s.cleared_transform_sets.iter().map(|c| c.name.v.as_str()).collect();
    let cleared_props: HashSet<&str> =
        s.cleared_proposals.iter().map(|c| c.name.v.as_str()).collect();
    // Each tunnel group requirement is reported once, however many maps need it.
    let mut reported: HashSet<(usize, &'static str)> = HashSet::new();
    // The first dynamic entry of each map name: its sequence and where it says `dynamic`.
    let mut dynamic_of_map: HashMap<&str, (u16, Span)> = HashMap::new();
    let mut out = Vec::with_capacity(s.crypto_maps.len());
    for l in &s.crypto_maps {
        let mut m = l.value.clone();
        let label = format!("{} {}", m.name, m.sequence);
        // A dynamic entry's remote-access group and the reference naming it: what its
        // clients need depends on the IKE versions, resolved below.
        let mut ra_group: Option<(usize, &Ref)> = None;
        for r in &l.refs {
            match r.key {
                "match" => match s.access_lists.iter().find(|a| a.value.name == r.name) {
                    None if !acls.contains(&r.name) => missing_ref(ctx, l, r, "access_list", &acls),
                    Some(a) if !a.poisoned && !a.value.has_permit() => {
                        let msg = format!(
                            "access list \"{}\" has no permit rule, so crypto map {label} would \
                             protect nothing; add a permit rule for the traffic to protect",
                            r.name
                        );
                        ctx.error(r.span.clone(), &ref_field(l, r), msg);
                    }
                    _ => {}
                },
                "ikev1_transform_sets" | "ikev2_proposals" => {
                    let v1 = r.key == "ikev1_transform_sets";
                    let (cleared, names, section, what) = if v1 {
                        (&cleared_ts, &tss, "transform_set", "transform set")
                    } else {
                        (&cleared_props, &props, "ipsec_proposal", "IPsec proposal")
                    };
                    if cleared.contains(r.name.as_str()) {
                        let msg = format!(
                            "reference to {what} \"{}\" removed: its encryption is empty (ASA: \
                             deleting the only element removes the crypto map references)",
                            r.name
                        );
                        ctx.warn(r.span.clone(), &ref_field(l, r), msg);
                        let list =
                            if v1 { &mut m.ikev1_transform_sets } else { &mut m.ikev2_proposals };
                        list.retain(|n| *n != r.name);
                    } else if !names.contains(&r.name) {
                        missing_ref(ctx, l, r, section, names);
                    }
                }
                "tunnel_group" => {
                    match s.tunnel_groups.iter().position(|g| g.value.name == r.name) {
                        None if !tgs.contains(&r.name) => {
                            missing_ref(ctx, l, r, "tunnel_group", &tgs)
                        }
                        Some(gi)
                            if !s.tunnel_groups[gi].poisoned
                                && s.tunnel_groups[gi].value.kind
                                    == TunnelGroupType::RemoteAccess =>
                        {
                            ra_group = Some((gi, r));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }

        // One dynamic entry per map: it is the map's catch-all for peers no static entry
        // names.
        if m.dynamic {
            match dynamic_of_map.get(m.name.as_str()) {
                Some((seq, at)) => {
                    let line = ctx.line_of(at.start);
                    let msg = format!(
                        "crypto map \"{}\" already has a dynamic entry (sequence {seq}, line \
                         {line}); a crypto map takes one dynamic entry",
                        m.name
                    );
                    ctx.error(l.span_of("dynamic"), &l.field("dynamic"), msg);
                }
                None => {
                    dynamic_of_map.insert(&l.value.name, (m.sequence, l.span_of("dynamic")));
                }
            }
        }

        // IKE versions: as written, or those whose transforms remain.
        let explicit = l.spans.contains_key("ike_version");
        if explicit {
            for v in m.ike_versions.clone() {
                let (empty, key, cmd) = match v {
                    IkeVersion::Ikev1 => (
                        m.ikev1_transform_sets.is_empty(),
                        "ikev1_transform_sets",
                        "set ikev1 transform-set",
                    ),
                    IkeVersion::Ikev2 => (
                        m.ikev2_proposals.is_empty(),
                        "ikev2_proposals",
                        "set ikev2 ipsec-proposal",
                    ),
                };
                if empty {
                    let msg = format!(
                        "crypto map {label} uses {} but has no {key} ({cmd}); add one or remove \
                         \"{v}\" from ike_version",
                        v.keyword().to_uppercase().replace("IKEV", "IKEv")
                    );
                    ctx.error(l.span_of("ike_version"), &l.field("ike_version"), msg);
                }
            }
        } else {
            // A dynamic entry too: IKEv2 clients, and IKEv1 (XAUTH) ones with transform sets.
            if !m.ikev2_proposals.is_empty() {
                m.ike_versions.push(IkeVersion::Ikev2);
            }
            if !m.ikev1_transform_sets.is_empty() {
                m.ike_versions.push(IkeVersion::Ikev1);
            }
            if m.ike_versions.is_empty() && !l.poisoned {
                let msg = format!(
                    "crypto map {label} has neither ikev1_transform_sets nor ikev2_proposals \
                     (set ikev1 transform-set / set ikev2 ipsec-proposal); it needs one"
                );
                ctx.error(l.span.clone(), &l.field("ikev2_proposals"), msg);
            }
        }

        if let Some((gi, r)) = ra_group {
            remote_access_needs(ctx, s, l, &m, &label, gi, r);
        }

        // ASA 9.14: IKEv2 multi-peer maps must be bidirectional. A dynamic entry has no
        // peers and answers only (checked by the parser).
        if !m.dynamic
            && m.uses(IkeVersion::Ikev2)
            && m.peers.len() > 1
            && m.connection_type != ConnectionType::Bidirectional
        {
            let msg = format!(
                "IKEv2 with {} peers needs connection_type = \"bidirectional\" (is \"{}\")",
                m.peers.len(),
                m.connection_type
            );
            ctx.error(l.span_of("connection_type"), &l.field("connection_type"), msg);
        }

        // Every peer needs an ipsec-l2l tunnel group with what its IKE versions need (a
        // dynamic entry has no peers: its own tunnel group is checked below).
        for r in l.refs.iter().filter(|r| r.key == "peers") {
            let own = s.tunnel_groups.iter().position(|g| g.value.name == r.name);
            let found = own
                .or_else(|| s.tunnel_groups.iter().position(|g| g.value.name == DEFAULT_L2L_GROUP));
            let Some(gi) = found else {
                let declared_tg = declared("tunnel_group");
                if !declared_tg.contains(&r.name)
                    && !declared_tg.iter().any(|n| n == DEFAULT_L2L_GROUP)
                {
                    let msg = format!(
                        "no tunnel group for peer {}; add a [[tunnel_group]] with name = \"{}\" \
                         and type = \"ipsec-l2l\" (or a {DEFAULT_L2L_GROUP})",
                        r.name, r.name
                    );
                    ctx.error(r.span.clone(), &ref_field(l, r), msg);
                }
                continue;
            };
            let g = &s.tunnel_groups[gi];
            if g.value.kind != TunnelGroupType::IpsecL2l {
                let msg = format!(
                    "tunnel group \"{}\" is remote-access; crypto map peer {} needs an \
                     ipsec-l2l tunnel group",
                    g.value.name, r.name
                );
                ctx.error(r.span.clone(), &ref_field(l, r), msg);
                continue;
            }
            let who = format!("peer {}", r.name);
            group_credentials(ctx, s, gi, &m, &label, &who, &mut reported);
        }
        // A dynamic entry's peers authenticate with its tunnel group (a missing one is
        // reported with the references above).
        if m.dynamic
            && let Some(tg) = &m.tunnel_group
            && let Some(gi) = s.tunnel_groups.iter().position(|g| &g.value.name == tg)
        {
            group_credentials(ctx, s, gi, &m, &label, "any peer (dynamic)", &mut reported);
        }
        out.push(m);
    }
    out
}

/// Reports what remote-access tunnel group `gi`, named by dynamic entry `m`'s reference
/// `r`, lacks for the clients of the entry's IKE versions: an address pool to give them an
/// address from (IKEv2 clients ask in CFG_REQUEST, IKEv1 ones in Mode Config, which gives
/// IPv4 addresses only) and, for IKEv1, the `[[user]]`s XAUTH checks their passwords
/// against.
fn remote_access_needs(
    ctx: &mut Ctx<'_>,
    s: &Sections,
    l: &Located<CryptoMapEntry>,
    m: &CryptoMapEntry,
    label: &str,
    gi: usize,
    r: &Ref,
) {
    let g = &s.tunnel_groups[gi].value;
    let (v1, v2) = (m.uses(IkeVersion::Ikev1), m.uses(IkeVersion::Ikev2));
    let clients = match (v1, v2) {
        (true, true) => "IKEv1 and IKEv2 clients",
        (true, false) => "IKEv1 clients",
        _ => "IKEv2 clients",
    };
    let mut report = |msg: String| ctx.error(r.span.clone(), &ref_field(l, r), msg);
    if g.address_pools.is_empty() {
        report(format!(
            "tunnel group \"{}\" is remote-access and has no address_pools; dynamic crypto \
             map {label} needs one to give {clients} an address",
            r.name
        ));
    } else if v1
        && g.address_pools.iter().all(|n| {
            // Undefined or broken pools are reported where they are named.
            s.address_pools.iter().any(|p| {
                &p.value.name == n && !p.poisoned && matches!(p.value.range, PoolRange::V6(_))
            })
        })
    {
        report(format!(
            "tunnel group \"{}\" has only IPv6 address_pools; dynamic crypto map {label} \
             needs an IPv4 one to give IKEv1 clients an address (Mode Config gives IPv4 \
             addresses)",
            r.name
        ));
    }
    let users_declared = s.declared.get("user").is_some_and(|u| !u.is_empty());
    if v1 && s.users.is_empty() && !users_declared {
        report(format!(
            "crypto map {label} answers IKEv1 clients of remote-access tunnel group \"{}\", \
             which log in with XAUTH against the [[user]] list, and there is no [[user]]; add \
             one (name and password or password_file)",
            r.name
        ));
    }
}

/// Reports what tunnel group `gi` lacks for the IKE versions crypto map entry `m` (named
/// `label`) uses with `who` (`peer 192.0.2.2`), each requirement of a group once however
/// many entries need it (`reported`).
fn group_credentials(
    ctx: &mut Ctx<'_>,
    s: &Sections,
    gi: usize,
    m: &CryptoMapEntry,
    label: &str,
    who: &str,
    reported: &mut HashSet<(usize, &'static str)>,
) {
    let g = &s.tunnel_groups[gi];
    if g.poisoned {
        return;
    }
    let tg = &g.value;
    // Only versions that can negotiate (they have transforms) need credentials: a map
    // without them is already reported.
    let v1 = m.uses(IkeVersion::Ikev1) && !m.ikev1_transform_sets.is_empty();
    let v2 = m.uses(IkeVersion::Ikev2) && !m.ikev2_proposals.is_empty();
    let mut needs: Vec<(&'static str, &str)> = Vec::new();
    if v1 && tg.ikev1_pre_shared_key.is_none() && tg.trustpoint.is_none() {
        needs.push((
            "ikev1_pre_shared_key",
            "ikev1_pre_shared_key, ikev1_pre_shared_key_file or trustpoint",
        ));
    }
    if v2 {
        if tg.ikev2_local_authentication.is_none() {
            needs.push((
                "ikev2_local_authentication",
                "ikev2_local_authentication (pre-shared-key or certificate)",
            ));
        }
        if tg.ikev2_remote_authentication.is_none() {
            needs.push((
                "ikev2_remote_authentication",
                "ikev2_remote_authentication (pre-shared-key or certificate)",
            ));
        }
    }
    for (key, what) in needs {
        if reported.insert((gi, key)) {
            let version = if key.starts_with("ikev1") { "IKEv1" } else { "IKEv2" };
            let msg = format!(
                "tunnel group \"{}\" needs {what}: crypto map {label} uses {version} with {who}",
                tg.name
            );
            ctx.error(g.span.clone(), &g.field(key), msg);
        }
    }
}

fn crypto_interfaces(ctx: &mut Ctx<'_>, s: &Sections) {
    let maps = s.declared.get("crypto_map").cloned().unwrap_or_default();
    let mut applied: HashMap<&str, (&str, Span)> = HashMap::new();
    for l in &s.crypto_interfaces {
        for r in &l.refs {
            if !maps.contains(&r.name) {
                let mut unique = maps.clone();
                unique.sort();
                unique.dedup();
                missing_ref(ctx, l, r, "crypto_map", &unique);
                continue;
            }
            match applied.get(r.name.as_str()) {
                Some((iface, at)) => {
                    let line = ctx.line_of(at.start);
                    let msg = format!(
                        "crypto map \"{}\" is already applied to interface \"{iface}\" (line \
                         {line}); a crypto map applies to one interface",
                        r.name
                    );
                    ctx.error(r.span.clone(), &ref_field(l, r), msg);
                }
                None => {
                    applied.insert(&r.name, (&l.value.interface, r.span.clone()));
                }
            }
        }
    }
}

fn tunnel_groups(ctx: &mut Ctx<'_>, s: &Sections) {
    let declared = |k: &str| s.declared.get(k).cloned().unwrap_or_default();
    let (tps, pools) = (declared("trustpoint"), declared("address_pool"));
    for l in &s.tunnel_groups {
        for r in &l.refs {
            match r.key {
                "trustpoint" if !tps.contains(&r.name) => {
                    missing_ref(ctx, l, r, "trustpoint", &tps)
                }
                "address_pools" if !pools.contains(&r.name) => {
                    missing_ref(ctx, l, r, "address_pool", &pools)
                }
                _ => {}
            }
        }
    }
}

fn pool_overlaps(ctx: &mut Ctx<'_>, s: &Sections) {
    for (i, b) in s.address_pools.iter().enumerate() {
        if let Some(a) =
            s.address_pools[..i].iter().find(|a| a.value.range.overlaps(&b.value.range))
        {
            let key = if b.spans.contains_key("range") { "range" } else { "prefix" };
            let msg = format!(
                "address pool \"{}\" ({}) overlaps address pool \"{}\" ({}); pools must be \
                 disjoint",
                b.value.name, b.value.range, a.value.name, a.value.range
            );
            ctx.error(b.span_of(key), &b.field(key), msg);
        }
    }
}

/// `[cluster]` against the rest: not with `[ha]` (the reference document describes failover
/// pairs and clusters as separate deployments, and the ASA cannot run both), and, in
/// distributed mode, no IKEv2 multi-peer crypto map ("Distributed clustering isn't
/// supported when an IKEv2 multi-peer crypto map is configured"). `maps` are the entries
/// with their IKE versions resolved.
fn cluster(ctx: &mut Ctx<'_>, s: &Sections, maps: &[CryptoMapEntry]) {
    let Some(at) = &s.cluster_at else { return };
    if let Some(ha) = &s.ha_at {
        let line = ctx.line_of(ha.start);
        let msg = format!(
            "[cluster] and [ha] (line {line}) are both configured; a unit is either one of a \
             failover pair or a cluster unit: remove one of them"
        );
        ctx.error(at.clone(), "cluster", msg);
    }
    let Some(mode) = &s.cluster_mode else { return };
    let mode_line = ctx.line_of(mode.span.start);
    let cluster = mode.v.failover_mode();
    let located: HashMap<(&str, u16), &Located<CryptoMapEntry>> = s
        .crypto_maps
        .iter()
        .rev()
        .map(|l| ((l.value.name.as_str(), l.value.sequence), l))
        .collect();
    for m in maps {
        let Some(l) = located.get(&(m.name.as_str(), m.sequence)) else { continue };
        if let Err(e) = check_cluster_mode(m, cluster) {
            let msg = format!("{e} ([cluster] mode = \"{}\" at line {mode_line})", mode.v);
            ctx.error(l.span_of("peers"), &l.field("peers"), msg);
        }
    }
}

/// Runs every cross-item check and builds the canonical config.
pub(crate) fn validate(ctx: &mut Ctx<'_>, s: Sections) -> PolicyConfig {
    check_duplicates(ctx, &s);
    let mut crypto_maps = crypto_maps(ctx, &s);
    cluster(ctx, &s, &crypto_maps);
    crypto_interfaces(ctx, &s);
    tunnel_groups(ctx, &s);
    pool_overlaps(ctx, &s);

    fn values<T>(v: Vec<Located<T>>) -> Vec<T> {
        v.into_iter().map(|l| l.value).collect()
    }
    let mut cfg = PolicyConfig {
        ike: s.ike,
        access_lists: values(s.access_lists),
        ikev1_policies: values(s.ikev1_policies),
        ikev2_policies: values(s.ikev2_policies),
        transform_sets: values(s.transform_sets),
        ipsec_proposals: values(s.ipsec_proposals),
        crypto_maps: Vec::new(),
        crypto_interfaces: values(s.crypto_interfaces),
        trustpoints: values(s.trustpoints),
        address_pools: values(s.address_pools),
        tunnel_groups: values(s.tunnel_groups),
        users: values(s.users),
        ha: s.ha,
        cluster: s.cluster,
        management: s.management,
    };
    crypto_maps.sort_by(|a, b| (&a.name, a.sequence).cmp(&(&b.name, b.sequence)));
    cfg.crypto_maps = crypto_maps;
    cfg.access_lists.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.ikev1_policies.sort_by_key(|p| p.priority);
    cfg.ikev2_policies.sort_by_key(|p| p.priority);
    cfg.transform_sets.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.ipsec_proposals.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.crypto_interfaces.sort_by(|a, b| a.interface.cmp(&b.interface));
    cfg.trustpoints.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.address_pools.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.tunnel_groups.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.users.sort_by(|a, b| a.name.cmp(&b.name));
    cfg
}
