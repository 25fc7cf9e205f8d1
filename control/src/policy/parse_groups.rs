//! First pass for trustpoints, address pools, tunnel groups, `[ha]` and `[management]`.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use zeroize::Zeroizing;

use super::acl::parse_prefix;
use super::model::{
    AddressPool, HaConfig, HaRole, IkeGlobals, Ikev2Authentication, Keepalive, LocalUser,
    Management, PeerIdValidate, PoolRange, Secret, Trustpoint, TunnelGroup, TunnelGroupType,
};
use super::parse::Located;
use super::parse_maps::list_or_none;
use super::reader::{Ctx, Span, Tbl, type_name};

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
    let interface = t.req_string(ctx, "interface");
    if let Some(i) = &interface
        && !known_interfaces.contains(&i.v.as_str())
    {
        let msg =
            format!("no interface named \"{}\"; defined: {}", i.v, list_or_none(known_interfaces));
        t.error(ctx, "interface", msg);
    }
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
        interface: interface?.v,
        local: local?,
        peer: peer?,
        key: key?,
        poll_ms,
        hold_ms,
        preempt_seconds,
    })
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
