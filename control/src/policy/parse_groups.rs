//! First pass for trustpoints, address pools, tunnel groups, `[ha]`, `[cluster]` and
//! `[management]`.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use zeroize::Zeroizing;

use super::acl::parse_prefix;
use super::model::{
    AddressPool, ClusterConfig, ClusterRole, ClusterVpnMode, HaConfig, HaRole, IkeGlobals,
    Ikev2Authentication, Keepalive, LocalUser, MAX_CLUSTER_UNITS, Management, PeerIdValidate,
    PoolRange, Secret, Trustpoint, TunnelGroup, TunnelGroupType,
};
use super::parse::Located;
use super::parse_maps::list_or_none;
use super::reader::{At, Ctx, Span, Tbl, type_name};

/// `[[trustpoint]]`.
pub(crate) fn trustpoint(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
) -> Option<Located<Trustpoint>> {
    const KNOWN: &[&str] = &["name", "ca_certificates", "certificate", "private_key"];
    let mut t = Tbl::new(ctx, table, span, format!("trustpoint[{index}]"), KNOWN);
    let name = t.req_string(ctx, "name");
    let mut ca_certificates = Vec::new();
    if !t.has("ca_certificates") {
        t.missing(ctx, "ca_certificates", " (a list of PEM files, at least one)");
    } else if let Some(list) = t.strings(ctx, "ca_certificates") {
        if list.is_empty() && !t.poisoned {
            t.error(ctx, "ca_certificates", "a trustpoint needs at least one CA certificate");
        }
        ca_certificates = list.into_iter().map(|s| PathBuf::from(s.v)).collect();
    }
    let certificate = t.string(ctx, "certificate").map(|s| PathBuf::from(s.v));
    let private_key = t.string(ctx, "private_key").map(|s| PathBuf::from(s.v));
    match (&certificate, &private_key) {
        (Some(_), None) => t.missing(ctx, "private_key", " (required with certificate)"),
        (None, Some(_)) => {
            t.error(ctx, "private_key", "private_key without certificate; set both or neither")
        }
        _ => {}
    }
    let tp = Trustpoint { name: name?.v, ca_certificates, certificate, private_key };
    Some(Located::new(tp, "trustpoint", index, t))
}

/// `[[address_pool]]`.
pub(crate) fn address_pool(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
) -> Option<Located<AddressPool>> {
    let mut t =
        Tbl::new(ctx, table, span, format!("address_pool[{index}]"), &["name", "range", "prefix"]);
    let name = t.req_string(ctx, "name");
    let range = t.string(ctx, "range");
    let prefix = t.string(ctx, "prefix");
    let pool = match (range, prefix) {
        (Some(_), Some(_)) => {
            t.error(ctx, "prefix", "set either range (IPv4) or prefix (IPv6), not both");
            None
        }
        (None, None) => {
            t.missing(
                ctx,
                "range",
                " (or prefix): an IPv4 range A.B.C.D-E.F.G.H or an IPv6 prefix",
            );
            None
        }
        (Some(r), None) => {
            let parsed = r.v.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<Ipv4Addr>().ok()?, b.trim().parse::<Ipv4Addr>().ok()?))
            });
            match parsed {
                Some((first, last)) if first <= last => Some(PoolRange::V4 { first, last }),
                _ => {
                    let msg = format!(
                        "bad range \"{}\"; expected FIRST-LAST IPv4 addresses with FIRST <= LAST",
                        r.v
                    );
                    t.error(ctx, "range", msg);
                    None
                }
            }
        }
        (None, Some(p)) => match parse_prefix(&p.v) {
            Ok(pre) if pre.is_v6() => Some(PoolRange::V6(pre)),
            Ok(_) => {
                t.error(ctx, "prefix", "prefix must be IPv6; use range for IPv4 pools");
                None
            }
            Err(e) => {
                let msg = format!("bad prefix \"{}\": {e}; expected IPV6/LEN", p.v);
                t.error(ctx, "prefix", msg);
                None
            }
        },
    };
    let pool = AddressPool { name: name?.v, range: pool? };
    Some(Located::new(pool, "address_pool", index, t))
}

/// `[[user]]`: `name` and `password` (or `password_file`).
pub(crate) fn user(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
) -> Option<Located<LocalUser>> {
    let mut t = Tbl::new(
        ctx,
        table,
        span,
        format!("user[{index}]"),
        &["name", "password", "password_file"],
    );
    let name = t.req_string(ctx, "name");
    if let Some(n) = &name
        && (n.v.is_empty() || n.v.chars().any(char::is_control))
    {
        t.error(ctx, "name", "user names must be non-empty printable text");
    }
    let password = secret(ctx, &mut t, "password");
    if password.is_none() && !t.has("password") && !t.has("password_file") {
        t.missing(ctx, "password", " (or password_file)");
    }
    let user = LocalUser { name: name?.v, password: password? };
    Some(Located::new(user, "user", index, t))
}

/// A secret given inline (`key`) or as a file (`key_file`), never both.
fn secret(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, key: &str) -> Option<Secret> {
    let file_key = format!("{key}_file");
    let inline = t.string(ctx, key);
    let file = t.string(ctx, &file_key);
    match (inline, file) {
        (Some(_), Some(_)) => {
            t.error(ctx, &file_key, format!("set either {key} or {file_key}, not both"));
            None
        }
        (Some(s), None) => {
            if s.v.is_empty() {
                t.error(ctx, key, "empty key; write the key or use the _file variant");
            }
            Some(Secret::Inline(Zeroizing::new(s.v)))
        }
        (None, Some(f)) => Some(Secret::File(PathBuf::from(f.v))),
        (None, None) => None,
    }
}

/// `keepalive = { threshold, retry }` or `"disable"`; absent: the `[ike]` DPD defaults.
fn keepalive(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, ike: &IkeGlobals) -> Keepalive {
    let default =
        Keepalive::Enabled { threshold: ike.dpd_interval_seconds, retry: ike.dpd_retry_seconds };
    let Some(v) = t.value("keepalive") else { return default };
    match v.get_ref() {
        DeValue::String(s) if s == "disable" => Keepalive::Disabled,
        DeValue::Table(kt) => {
            let path = t.field("keepalive");
            let mut k = Tbl::new(ctx, kt, v.span(), path, &["threshold", "retry"]);
            let threshold = k
                .int_in(ctx, "threshold", "keepalive threshold", 10, 3600, " seconds")
                .map_or(ike.dpd_interval_seconds, |n| n as u32);
            let retry = k
                .int_in(ctx, "retry", "keepalive retry", 2, 10, " seconds")
                .map_or(ike.dpd_retry_seconds, |n| n as u32);
            t.poisoned |= k.poisoned;
            Keepalive::Enabled { threshold, retry }
        }
        other => {
            let msg = format!(
                "expected {{ threshold = N, retry = M }} or \"disable\", found {}",
                match other {
                    DeValue::String(_) => "another string",
                    o => type_name(o),
                }
            );
            t.error(ctx, "keepalive", msg);
            default
        }
    }
}

/// `[[tunnel_group]]`.
pub(crate) fn tunnel_group(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
    ike: &IkeGlobals,
) -> Option<Located<TunnelGroup>> {
    const KNOWN: &[&str] = &[
        "name",
        "type",
        "ikev1_pre_shared_key",
        "ikev1_pre_shared_key_file",
        "ikev2_local_authentication",
        "ikev2_local_pre_shared_key",
        "ikev2_local_pre_shared_key_file",
        "ikev2_remote_authentication",
        "ikev2_remote_pre_shared_key",
        "ikev2_remote_pre_shared_key_file",
        "trustpoint",
        "peer_id_validate",
        "keepalive",
        "address_pools",
        "dns_servers",
        "default_domain",
    ];
    let mut t = Tbl::new(ctx, table, span, format!("tunnel_group[{index}]"), KNOWN);
    let name = t.req_string(ctx, "name");
    let kind = t.req_keyword(
        ctx,
        "type",
        "tunnel group type",
        TunnelGroupType::from_keyword,
        &TunnelGroupType::expected(),
    );
    let ikev1_pre_shared_key = secret(ctx, &mut t, "ikev1_pre_shared_key");
    let mut auth = |t: &mut Tbl<'_, '_>, key: &str| {
        t.keyword(
            ctx,
            key,
            "authentication",
            Ikev2Authentication::from_keyword,
            &Ikev2Authentication::expected(),
        )
        .map(|a| a.v)
    };
    let ikev2_local_authentication = auth(&mut t, "ikev2_local_authentication");
    let ikev2_remote_authentication = auth(&mut t, "ikev2_remote_authentication");
    let ikev2_local_pre_shared_key = secret(ctx, &mut t, "ikev2_local_pre_shared_key");
    let ikev2_remote_pre_shared_key = secret(ctx, &mut t, "ikev2_remote_pre_shared_key");
    let trustpoint = t.string(ctx, "trustpoint");
    if let Some(tp) = &trustpoint {
        t.add_ref("trustpoint", None, tp);
    }
    let trustpoint = trustpoint.map(|s| s.v);
    for (side, a, psk) in [
        ("local", ikev2_local_authentication, &ikev2_local_pre_shared_key),
        ("remote", ikev2_remote_authentication, &ikev2_remote_pre_shared_key),
    ] {
        let key = format!("ikev2_{side}_authentication");
        match a {
            Some(Ikev2Authentication::PreSharedKey) if psk.is_none() => {
                let msg = format!(
                    "{key} = \"pre-shared-key\" needs ikev2_{side}_pre_shared_key or \
                     ikev2_{side}_pre_shared_key_file"
                );
                t.error(ctx, &key, msg);
            }
            Some(Ikev2Authentication::Certificate) if trustpoint.is_none() => {
                let msg = format!(
                    "{key} = \"certificate\" needs trustpoint = \"NAME\" (a [[trustpoint]])"
                );
                t.error(ctx, &key, msg);
            }
            _ => {}
        }
    }
    let peer_id_validate = t
        .keyword(
            ctx,
            "peer_id_validate",
            "peer_id_validate",
            PeerIdValidate::from_keyword,
            &PeerIdValidate::expected(),
        )
        .map_or(PeerIdValidate::Required, |p| p.v);
    let keepalive = keepalive(ctx, &mut t, ike);
    let mut address_pools: Vec<String> = Vec::new();
    for (i, p) in t.strings(ctx, "address_pools").unwrap_or_default().into_iter().enumerate() {
        if address_pools.contains(&p.v) {
            t.error_at(ctx, "address_pools", i, p.span, format!("pool \"{}\" listed twice", p.v));
        } else {
            t.add_ref("address_pools", Some(i), &p);
            address_pools.push(p.v);
        }
    }
    let mut dns_servers = Vec::new();
    for (i, s) in t.strings(ctx, "dns_servers").unwrap_or_default().into_iter().enumerate() {
        match s.v.parse::<IpAddr>() {
            Ok(a) => dns_servers.push(a),
            Err(_) => {
                let msg = format!("bad address \"{}\"; expected an IPv4 or IPv6 address", s.v);
                t.error_at(ctx, "dns_servers", i, s.span, msg);
            }
        }
    }
    let default_domain = t.string(ctx, "default_domain").map(|s| s.v);
    if let Some(k) = &kind
        && k.v == TunnelGroupType::IpsecL2l
    {
        for key in ["address_pools", "dns_servers", "default_domain"] {
            if t.has(key) {
                let msg = format!(
                    "{key} applies to remote-access tunnel groups only (type is ipsec-l2l)"
                );
                t.error(ctx, key, msg);
            }
        }
    }
    let g = TunnelGroup {
        name: name?.v,
        kind: kind?.v,
        ikev1_pre_shared_key,
        ikev2_local_authentication,
        ikev2_local_pre_shared_key,
        ikev2_remote_authentication,
        ikev2_remote_pre_shared_key,
        trustpoint,
        peer_id_validate,
        keepalive,
        address_pools,
        dns_servers,
        default_domain,
    };
    Some(Located::new(g, "tunnel_group", index, t))
}

/// An IP address value.
fn address(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, key: &str) -> Option<IpAddr> {
    let s = t.req_string(ctx, key)?;
    match s.v.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            let msg = format!("bad address \"{}\"; expected an IPv4 or IPv6 address", s.v);
            t.error(ctx, key, msg);
            None
        }
    }
}

/// `[ha]`.
pub(crate) fn ha(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    known_interfaces: &[&str],
) -> Option<HaConfig> {
    const KNOWN: &[&str] = &[
        "role",
        "interface",
        "local",
        "peer",
        "key",
        "key_file",
        "poll_ms",
        "hold_ms",
        "preempt_seconds",
    ];
    let mut t = Tbl::new(ctx, table, span, "ha".into(), KNOWN);
    let role = t.req_keyword(ctx, "role", "role", HaRole::from_keyword, &HaRole::expected());
    let interface = link_interface(ctx, &mut t, known_interfaces);
    let local = address(ctx, &mut t, "local");
    let peer = address(ctx, &mut t, "peer");
    if let (Some(l), Some(p)) = (local, peer)
        && l.is_ipv4() != p.is_ipv4()
    {
        t.error(ctx, "peer", format!("peer {p} and local {l} are of different address families"));
    }
    let key = secret(ctx, &mut t, "key");
    if key.is_none() && !t.has("key") && !t.has("key_file") {
        t.missing(ctx, "key", " (or key_file)");
    }
    // failover polltime unit msec 200..999 or 1..15 s; holdtime at least 3 polls, <= 45 s.
    let poll_ms = t.int_in(ctx, "poll_ms", "poll_ms", 200, 15_000, " ms").unwrap_or(1000) as u32;
    let hold_ms = t.int_in(ctx, "hold_ms", "hold_ms", 800, 45_000, " ms").unwrap_or(15_000) as u32;
    if hold_ms < 3 * poll_ms {
        t.error(
            ctx,
            "hold_ms",
            format!(
                "hold_ms {hold_ms} is less than 3 x poll_ms ({}); expected at least that",
                3 * poll_ms
            ),
        );
    }
    let preempt_seconds = t
        .int_in(ctx, "preempt_seconds", "preempt_seconds", 0, 3600, " seconds")
        .unwrap_or(0) as u32;
    Some(HaConfig {
        role: role?.v,
        interface: interface?,
        local: local?,
        peer: peer?,
        key: key?,
        poll_ms,
        hold_ms,
        preempt_seconds,
    })
}

/// The ASA's limit on `cluster group NAME` (1 to 38 characters).
const MAX_CLUSTER_NAME: usize = 38;

/// The interface a link section (`[ha]`, `[cluster]`) names: one of the configured ones.
fn link_interface(
    ctx: &mut Ctx<'_>,
    t: &mut Tbl<'_, '_>,
    known_interfaces: &[&str],
) -> Option<String> {
    let i = t.req_string(ctx, "interface")?;
    if !known_interfaces.contains(&i.v.as_str()) {
        let msg =
            format!("no interface named \"{}\"; defined: {}", i.v, list_or_none(known_interfaces));
        t.error(ctx, "interface", msg);
    }
    Some(i.v)
}

/// `[cluster]`, and its `mode` on its own (the crypto maps are checked against it even when
/// another key of the section was refused).
pub(crate) fn cluster(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    known_interfaces: &[&str],
) -> (Option<ClusterConfig>, Option<At<ClusterVpnMode>>) {
    const KNOWN: &[&str] = &["name", "mode", "role", "interface", "local", "peers"];
    let mut t = Tbl::new(ctx, table, span, "cluster".into(), KNOWN);
    let name = t.req_string(ctx, "name");
    if let Some(n) = &name
        && (n.v.is_empty()
            || n.v.chars().count() > MAX_CLUSTER_NAME
            || n.v.chars().any(|c| !c.is_ascii_graphic()))
    {
        let msg = format!(
            "bad cluster name \"{}\"; expected 1 to {MAX_CLUSTER_NAME} printable ASCII characters \
             without blanks (the ASA's cluster group name)",
            n.v
        );
        t.error(ctx, "name", msg);
    }
    let mode = t.req_keyword(
        ctx,
        "mode",
        "cluster mode",
        ClusterVpnMode::from_keyword,
        &ClusterVpnMode::expected(),
    );
    let role =
        t.req_keyword(ctx, "role", "role", ClusterRole::from_keyword, &ClusterRole::expected());
    let interface = link_interface(ctx, &mut t, known_interfaces);
    let local = address(ctx, &mut t, "local");
    let peers = cluster_peers(ctx, &mut t, local);
    let config = (|| {
        Some(ClusterConfig {
            name: name?.v,
            mode: mode.clone()?.v,
            role: role?.v,
            interface: interface?,
            local: local?,
            peers: peers?,
        })
    })();
    (config, mode)
}

/// `[cluster] peers`: the other units' addresses on the cluster link, 1 to 15, distinct,
/// of `local`'s family and none of them `local`.
fn cluster_peers(
    ctx: &mut Ctx<'_>,
    t: &mut Tbl<'_, '_>,
    local: Option<IpAddr>,
) -> Option<Vec<IpAddr>> {
    if !t.has("peers") {
        t.missing(ctx, "peers", " (the other units' addresses on the cluster interface)");
        return None;
    }
    let list = t.strings(ctx, "peers")?;
    let max = MAX_CLUSTER_UNITS - 1;
    if list.is_empty() {
        t.error(ctx, "peers", "a cluster needs at least one other unit; list its address");
        return None;
    }
    if list.len() > max {
        let msg = format!(
            "{} peers; a cluster has at most {MAX_CLUSTER_UNITS} units, so list at most {max}",
            list.len()
        );
        t.error(ctx, "peers", msg);
        return None;
    }
    let mut peers: Vec<IpAddr> = Vec::with_capacity(list.len());
    for (i, s) in list.into_iter().enumerate() {
        let Ok(p) = s.v.parse::<IpAddr>() else {
            let msg = format!("bad address \"{}\"; expected an IPv4 or IPv6 address", s.v);
            t.error_at(ctx, "peers", i, s.span, msg);
            continue;
        };
        let problem = if peers.contains(&p) {
            Some(format!("peer {p} listed twice"))
        } else if Some(p) == local {
            Some(format!("peer {p} is this unit's own address (local)"))
        } else {
            local
                .filter(|l| l.is_ipv4() != p.is_ipv4())
                .map(|l| format!("peer {p} and local {l} are of different address families"))
        };
        match problem {
            Some(msg) => t.error_at(ctx, "peers", i, s.span, msg),
            None => peers.push(p),
        }
    }
    Some(peers)
}

/// `[management]`.
pub(crate) fn management(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: Span) -> Management {
    let mut t = Tbl::new(ctx, table, span, "management".into(), &["metrics", "user", "group"]);
    let metrics = t.string(ctx, "metrics").and_then(|m| match m.v.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            let msg = format!(
                "bad metrics address \"{}\"; expected ADDRESS:PORT, e.g. 127.0.0.1:9469",
                m.v
            );
            t.error(ctx, "metrics", msg);
            None
        }
    });
    let user = t.string(ctx, "user").map(|s| s.v);
    let group = t.string(ctx, "group").map(|s| s.v);
    Management { metrics, user, group }
}

#[cfg(test)]
mod tests {
    //! `[cluster]`: parsing, the checks across sections, rendering and reload differences.
    //! Each error is checked as the operator sees it: file, line, column, field, message.

    use core::net::IpAddr;
    use std::path::Path;

    use crate::failover::ClusterMode;
    use crate::policy::{
        ClusterConfig, ClusterRole, ClusterVpnMode, Loaded, PolicyConfig, PolicyDiff, parse,
    };

    const INTERFACES: &[&str] = &["outside", "inside", "ccl", "ha"];

    /// A valid centralized cluster: lines 1 to 7.
    const CLUSTER: &str = r#"[cluster]
name = "vpn-cluster"
mode = "centralized"
role = "control"
interface = "ccl"
local = "198.19.0.1"
peers = ["198.19.0.2", "198.19.0.3"]
"#;

    /// An IKEv2 crypto map with two peers (its `peers` is on line 22 after a 7-line
    /// snippet) and the default L2L tunnel group.
    const BASE: &str = r#"
[[access_list]]
name = "acl"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.1.0.0/24" }]

[[ipsec_proposal]]
name = "p"
encryption = ["aes-gcm-256"]
integrity = ["null"]

[[crypto_map]]
name = "m"
sequence = 10
match = "acl"
peers = ["192.0.2.2", "192.0.2.3"]
ikev2_proposals = ["p"]

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "a"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "b"
"#;

    fn load(text: &str) -> Loaded {
        match parse(Path::new("gw.toml"), text, INTERFACES) {
            Ok(l) => l,
            Err(d) => panic!("load failed:\n{d}"),
        }
    }

    /// Loads `snippet` + [`BASE`] and checks the complete list of diagnostics.
    #[track_caller]
    fn check(snippet: &str, expected: &[&str]) {
        let text = format!("{snippet}{BASE}");
        let got: Vec<String> = match parse(Path::new("gw.toml"), &text, INTERFACES) {
            Ok(l) => panic!("loaded without error; warnings: {}", l.warnings),
            Err(d) => d.all().iter().map(ToString::to_string).collect(),
        };
        assert_eq!(got, expected, "\nactual:\n{}\n", got.join("\n"));
    }

    /// [`CLUSTER`] with `key = ...` replaced by `line` (the same line number).
    fn with(key: &str, line: &str) -> String {
        CLUSTER
            .lines()
            .map(|l| if l.starts_with(&format!("{key} =")) { line } else { l })
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_centralized_cluster_loads_renders_and_reloads_back() {
        let l = load(&format!("{CLUSTER}{BASE}"));
        assert!(l.warnings.is_empty(), "{}", l.warnings);
        let c = l.config.cluster.clone().unwrap_or_else(|| panic!("no [cluster] loaded"));
        assert_eq!(
            c,
            ClusterConfig {
                name: "vpn-cluster".into(),
                mode: ClusterVpnMode::Centralized,
                role: ClusterRole::Control,
                interface: "ccl".into(),
                local: ip("198.19.0.1"),
                peers: vec![ip("198.19.0.2"), ip("198.19.0.3")],
            }
        );
        // The multi-peer IKEv2 map is what a centralized cluster is for.
        assert_eq!(l.config.crypto_maps[0].peers.len(), 2);
        assert_eq!(l.config.cluster_mode(), ClusterMode::Centralized);
        assert!(c.runs_ike());
        let data = ClusterConfig { role: ClusterRole::Data, ..c.clone() };
        assert!(!data.runs_ike());
        let distributed = ClusterConfig { mode: ClusterVpnMode::Distributed, ..data };
        assert!(distributed.runs_ike());
        assert_eq!(PolicyConfig::default().cluster_mode(), ClusterMode::Off);

        // `show running-config`, and the rendering loads back to the same policy.
        let text = l.config.to_toml_with_secrets();
        assert!(
            text.contains(
                "\n[cluster]\nname = \"vpn-cluster\"\nmode = \"centralized\"\nrole = \
                 \"control\"\ninterface = \"ccl\"\nlocal = \"198.19.0.1\"\npeers = \
                 [\"198.19.0.2\", \"198.19.0.3\"]\n"
            ),
            "{text}"
        );
        assert_eq!(load(&text).config, l.config);
        // Without [cluster] nothing is rendered.
        assert!(!load(BASE).config.to_toml().contains("[cluster]"));
    }

    #[test]
    fn changing_the_cluster_needs_a_restart() {
        let old = load(&format!("{CLUSTER}{BASE}")).config;
        assert!(PolicyConfig::diff(&old, &old).is_empty());
        let role = load(&format!("{}{BASE}", with("role", "role = \"data\""))).config;
        let d = PolicyConfig::diff(&old, &role);
        assert!(d.cluster_changed && !d.ha_changed && !d.is_empty());
        assert_eq!(d.restart_sections(), ["cluster"]);
        // The crypto maps are untouched: only the unit changes.
        assert!(d.maps_changed.is_empty() && d.tunnels_to_tear_down.is_empty());
        assert_eq!(d.maps_untouched.len(), 1);
        // Added or removed is a change too.
        let none = load(BASE).config;
        assert_eq!(PolicyConfig::diff(&none, &old).restart_sections(), ["cluster"]);
        assert_eq!(PolicyConfig::diff(&old, &none).restart_sections(), ["cluster"]);
        assert_eq!(PolicyDiff::default().restart_sections(), Vec::<&str>::new());
        let ha = PolicyDiff { ha_changed: true, ..PolicyDiff::default() };
        assert_eq!(ha.restart_sections(), ["ha"]);
    }

    #[test]
    fn distributed_refuses_an_ikev2_multi_peer_crypto_map_at_its_peers() {
        check(
            &with("mode", "mode = \"distributed\""),
            &["gw.toml:22:9: crypto_map[0].peers: crypto map m 10: an IKEv2 multi-peer crypto \
               map (2 peers) is not supported with distributed clustering; list a single peer \
               or use centralized clustering ([cluster] mode = \"distributed\" at line 3)"],
        );
    }

    #[test]
    fn distributed_refuses_the_map_even_when_another_cluster_key_is_wrong() {
        let snippet = with("mode", "mode = \"distributed\"").replace("\"ccl\"", "\"nope\"");
        check(
            &snippet,
            &[
                "gw.toml:5:13: cluster.interface: no interface named \"nope\"; defined: \
                 outside, inside, ccl, ha",
                "gw.toml:22:9: crypto_map[0].peers: crypto map m 10: an IKEv2 multi-peer \
                 crypto map (2 peers) is not supported with distributed clustering; list a \
                 single peer or use centralized clustering ([cluster] mode = \"distributed\" at \
                 line 3)",
            ],
        );
    }

    #[test]
    fn distributed_accepts_one_peer_ikev1_multi_peer_and_dynamic_entries() {
        let distributed = with("mode", "mode = \"distributed\"");
        let one = BASE.replace("[\"192.0.2.2\", \"192.0.2.3\"]", "[\"192.0.2.2\"]");
        let l = load(&format!("{distributed}{one}"));
        assert_eq!(l.config.cluster_mode(), ClusterMode::Distributed);

        // IKEv1 with two peers: the reference document restricts IKEv2 multi-peer only.
        let v1 = BASE
            .replace(
                "[[ipsec_proposal]]",
                "[[transform_set]]\nname = \"ts\"\nencryption = \"esp-aes-256\"\nintegrity = \
                 \"esp-sha256-hmac\"\n\n[[ipsec_proposal]]",
            )
            .replace("ikev2_proposals = [\"p\"]", "ikev1_transform_sets = [\"ts\"]")
            .replace(
                "type = \"ipsec-l2l\"\n",
                "type = \"ipsec-l2l\"\nikev1_pre_shared_key = \"k\"\n",
            );
        let l = load(&format!("{distributed}{v1}"));
        assert_eq!(l.config.crypto_maps[0].peers.len(), 2);

        // A dynamic entry has no peer list at all.
        let dynamic = format!(
            "{distributed}{one}\n[[crypto_map]]\nname = \"m\"\nsequence = 65535\ndynamic = \
             true\ntunnel_group = \"ra\"\nmatch = \"acl\"\nikev2_proposals = [\"p\"]\n\n\
             [[address_pool]]\nname = \"pool\"\nrange = \"10.9.0.10-10.9.0.20\"\n\n\
             [[tunnel_group]]\nname = \"ra\"\ntype = \"remote-access\"\n\
             ikev2_local_authentication = \"pre-shared-key\"\nikev2_local_pre_shared_key = \
             \"l\"\nikev2_remote_authentication = \"pre-shared-key\"\n\
             ikev2_remote_pre_shared_key = \"r\"\naddress_pools = [\"pool\"]\n"
        );
        let l = load(&dynamic);
        assert!(l.config.crypto_maps.iter().any(|m| m.dynamic));
    }

    #[test]
    fn cluster_and_ha_together_are_refused() {
        let ha = "[ha]\nrole = \"primary\"\ninterface = \"ha\"\nlocal = \"198.18.0.1\"\npeer = \
                  \"198.18.0.2\"\nkey = \"k\"\n";
        check(
            &format!("{CLUSTER}{ha}"),
            &["gw.toml:1:1: cluster: [cluster] and [ha] (line 8) are both configured; a unit \
               is either one of a failover pair or a cluster unit: remove one of them"],
        );
    }

    #[test]
    fn unknown_keys_and_bad_keywords_name_their_field() {
        check(
            &format!("{CLUSTER}priority = 1\n"),
            &["gw.toml:8:1: cluster.priority: unknown key \"priority\"; expected one of: name, \
               mode, role, interface, local, peers"],
        );
        check(
            &with("mode", "mode = \"spanned\""),
            &["gw.toml:3:8: cluster.mode: unknown cluster mode \"spanned\"; expected one of: \
               centralized, distributed"],
        );
        check(
            &with("role", "role = \"master\""),
            &["gw.toml:4:8: cluster.role: unknown role \"master\"; expected one of: control, \
               data"],
        );
        check(
            &with("mode", "mode = 1"),
            &["gw.toml:3:8: cluster.mode: expected a string, found an integer"],
        );
    }

    #[test]
    fn missing_keys_are_reported_at_the_section() {
        check(
            "[cluster]\nname = \"c\"\n",
            &[
                "gw.toml:1:1: cluster.mode: missing required key \"mode\" (one of: centralized, \
                 distributed)",
                "gw.toml:1:1: cluster.role: missing required key \"role\" (one of: control, data)",
                "gw.toml:1:1: cluster.interface: missing required key \"interface\"",
                "gw.toml:1:1: cluster.local: missing required key \"local\"",
                "gw.toml:1:1: cluster.peers: missing required key \"peers\" (the other units' \
                 addresses on the cluster interface)",
            ],
        );
        check(
            "cluster = 1\n",
            &["gw.toml:1:11: cluster: expected a table ([cluster]), found an integer"],
        );
    }

    #[test]
    fn bad_names_and_interfaces_are_refused() {
        check(
            &with("name", "name = \"two words\""),
            &["gw.toml:2:8: cluster.name: bad cluster name \"two words\"; expected 1 to 38 \
               printable ASCII characters without blanks (the ASA's cluster group name)"],
        );
        let long = format!("name = \"{}\"", "c".repeat(39));
        let got = format!(
            "gw.toml:2:8: cluster.name: bad cluster name \"{}\"; expected 1 to 38 printable \
             ASCII characters without blanks (the ASA's cluster group name)",
            "c".repeat(39)
        );
        check(&with("name", &long), &[got.as_str()]);
        check(
            &with("interface", "interface = \"dmz\""),
            &["gw.toml:5:13: cluster.interface: no interface named \"dmz\"; defined: outside, \
               inside, ccl, ha"],
        );
    }

    #[test]
    fn bad_addresses_are_refused_at_the_element() {
        check(
            &with("local", "local = \"198.19.0\""),
            &["gw.toml:6:9: cluster.local: bad address \"198.19.0\"; expected an IPv4 or IPv6 \
               address"],
        );
        check(
            &with(
                "peers",
                "peers = [\"198.19.0.2\", \"x\", \"198.19.0.2\", \"198.19.0.1\", \"fd00::2\"]",
            ),
            &[
                "gw.toml:7:24: cluster.peers[1]: bad address \"x\"; expected an IPv4 or IPv6 \
                 address",
                "gw.toml:7:29: cluster.peers[2]: peer 198.19.0.2 listed twice",
                "gw.toml:7:43: cluster.peers[3]: peer 198.19.0.1 is this unit's own address \
                 (local)",
                "gw.toml:7:57: cluster.peers[4]: peer fd00::2 and local 198.19.0.1 are of \
                 different address families",
            ],
        );
        check(
            &with("peers", "peers = []"),
            &["gw.toml:7:9: cluster.peers: a cluster needs at least one other unit; list its \
               address"],
        );
        let sixteen: Vec<String> = (2..18).map(|i| format!("\"198.19.0.{i}\"")).collect();
        check(
            &with("peers", &format!("peers = [{}]", sixteen.join(", "))),
            &["gw.toml:7:9: cluster.peers: 16 peers; a cluster has at most 16 units, so list at \
               most 15"],
        );
        check(
            &with("peers", "peers = \"198.19.0.2\""),
            &["gw.toml:7:9: cluster.peers: expected an array, found a string"],
        );
    }
}
