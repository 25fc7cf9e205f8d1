//! First pass for crypto maps and crypto interfaces.

use core::net::IpAddr;

use toml::de::DeTable;

use super::model::{
    ConnectionType, CryptoInterface, CryptoMapEntry, DfBit, Fragmentation, IkeVersion,
    Ikev1Phase1Mode, KilobyteLifetime,
};
use super::parse::Located;
use super::parse_crypto::{LIFETIME_MAX, LIFETIME_MIN, dh_group};
use super::reader::{Ctx, Span, Tbl, int_value, type_name};

/// `set peer` takes at most 10 addresses (ASA 9.14 multi-peer crypto maps).
pub const MAX_PEERS: usize = 10;
/// `set ikev1 transform-set` / `set ikev2 ipsec-proposal` take at most 11 names.
pub const MAX_TRANSFORMS: usize = 11;
/// Default `set security-association lifetime seconds` (ASA).
pub const DEFAULT_LIFETIME_SECONDS: u32 = 28_800;
/// Default `set security-association lifetime kilobytes` (ASA).
pub const DEFAULT_LIFETIME_KILOBYTES: u32 = 4_608_000;
/// Default anti-replay window (ASA).
pub const DEFAULT_REPLAY_WINDOW: u16 = 64;

/// `[[crypto_map]]`. `ike_versions` stays empty when the key is absent: the default (the
/// versions whose transforms remain after cleared proposals are dropped) is decided in
/// `validate`.
pub(crate) fn crypto_map(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
    allow_weak: bool,
    aggressive_ok: bool,
) -> Option<Located<CryptoMapEntry>> {
    const KNOWN: &[&str] = &[
        "name",
        "sequence",
        "match",
        "peers",
        "dynamic",
        "tunnel_group",
        "ike_version",
        "ikev1_transform_sets",
        "ikev2_proposals",
        "pfs",
        "lifetime_seconds",
        "lifetime_kilobytes",
        "connection_type",
        "replay_window",
        "nat_t",
        "reverse_route",
        "phase1_mode",
    ];
    let mut t = Tbl::new(ctx, table, span, format!("crypto_map[{index}]"), KNOWN);
    let name = t.req_string(ctx, "name");
    let sequence = t.req_int_in(ctx, "sequence", "sequence", 1, 65535);
    let match_address = t.req_string(ctx, "match");
    if let Some(m) = &match_address {
        t.add_ref("match", None, m);
    }

    // A dynamic entry (`crypto map NAME SEQ ipsec-isakmp dynamic DYN`) answers any peer that
    // authenticates with its tunnel group: it lists no peers, and names that group instead.
    let dynamic = t.boolean(ctx, "dynamic").unwrap_or(false);
    let tunnel_group = t.string(ctx, "tunnel_group");
    match (&tunnel_group, dynamic) {
        (Some(g), true) => t.add_ref("tunnel_group", None, g),
        (None, true) if !t.has("tunnel_group") => t.missing(
            ctx,
            "tunnel_group",
            " (a dynamic entry answers the peers of one tunnel group)",
        ),
        (Some(_), false) => t.error(
            ctx,
            "tunnel_group",
            "tunnel_group applies to dynamic entries only (dynamic = true); the peers of a \
             static entry use the tunnel group named by their address (or DefaultL2LGroup)",
        ),
        _ => {}
    }

    let mut peers: Vec<IpAddr> = Vec::new();
    if dynamic {
        // `value` records where the key is, so that the error points at it.
        if t.value("peers").is_some() {
            t.error(
                ctx,
                "peers",
                "a dynamic entry lists no peers: it answers any peer of its tunnel group; \
                 remove peers or set dynamic = false",
            );
        }
    } else if !t.has("peers") {
        t.missing(ctx, "peers", " (set peer: 1 to 10 addresses)");
    } else if let Some(list) = t.strings(ctx, "peers") {
        if list.is_empty() && !t.poisoned {
            t.error(
                ctx,
                "peers",
                "a crypto map needs at least one peer (set peer); it takes 1 to 10",
            );
        }
        if list.len() > MAX_PEERS {
            let extra = &list[MAX_PEERS];
            let msg = format!("{} peers; a crypto map takes at most {MAX_PEERS}", list.len());
            t.error_at(ctx, "peers", MAX_PEERS, extra.span.clone(), msg);
        }
        for (i, p) in list.iter().enumerate() {
            match p.v.parse::<IpAddr>() {
                Ok(a) if peers.contains(&a) => {
                    t.error_at(ctx, "peers", i, p.span.clone(), format!("peer {a} listed twice"));
                }
                Ok(a) => {
                    peers.push(a);
                    t.add_ref("peers", Some(i), p);
                }
                Err(_) => {
                    let msg =
                        format!("bad peer address \"{}\"; expected an IPv4 or IPv6 address", p.v);
                    t.error_at(ctx, "peers", i, p.span.clone(), msg);
                }
            }
        }
    }

    let written = t
        .keywords(
            ctx,
            "ike_version",
            "IKE version",
            IkeVersion::from_keyword,
            &IkeVersion::expected(),
        )
        .unwrap_or_default();
    if t.has("ike_version") && written.is_empty() && !t.poisoned {
        t.error(ctx, "ike_version", "ike_version is empty; expected one or both of: ikev1, ikev2");
    }
    // A dynamic entry may use IKEv1 too: remote-access clients with XAUTH (validate checks
    // its tunnel group's users and pools).
    let ike_versions: Vec<IkeVersion> = written.into_iter().map(|v| v.v).collect();

    let mut names = |t: &mut Tbl<'_, '_>, key: &'static str, what: &str| -> Vec<String> {
        let list = t.strings(ctx, key).unwrap_or_default();
        if list.len() > MAX_TRANSFORMS {
            let msg =
                format!("{} {what}s; a crypto map takes at most {MAX_TRANSFORMS}", list.len());
            let span = list[MAX_TRANSFORMS].span.clone();
            t.error_at(ctx, key, MAX_TRANSFORMS, span, msg);
        }
        let mut out: Vec<String> = Vec::new();
        for (i, n) in list.into_iter().enumerate() {
            if out.contains(&n.v) {
                t.error_at(ctx, key, i, n.span, format!("{what} \"{}\" listed twice", n.v));
            } else {
                t.add_ref(key, Some(i), &n);
                out.push(n.v);
            }
        }
        out
    };
    let ikev1_transform_sets = names(&mut t, "ikev1_transform_sets", "transform set");
    let ikev2_proposals = names(&mut t, "ikev2_proposals", "IPsec proposal");

    let pfs = match t.value("pfs") {
        Some(v) => dh_group(ctx, &mut t, "pfs", None, v, false, allow_weak),
        None => None,
    };
    let lifetime_seconds = t
        .int_in(ctx, "lifetime_seconds", "lifetime", LIFETIME_MIN, LIFETIME_MAX, " seconds")
        .map_or(DEFAULT_LIFETIME_SECONDS, |n| n as u32);
    let lifetime_kilobytes = match t.value("lifetime_kilobytes") {
        None => KilobyteLifetime::Limited(DEFAULT_LIFETIME_KILOBYTES),
        Some(v) => match (v.get_ref().as_str(), int_value(v.get_ref())) {
            (Some("unlimited"), _) => KilobyteLifetime::Unlimited,
            (None, Some(Some(n))) if (10..=LIFETIME_MAX).contains(&n) => {
                KilobyteLifetime::Limited(n as u32)
            }
            (None, Some(n)) => {
                let shown = n.map_or_else(|| "(too large)".to_owned(), |n| n.to_string());
                let msg = format!(
                    "lifetime {shown} out of range; expected 10..2147483647 kilobytes or \
                     \"unlimited\""
                );
                t.error(ctx, "lifetime_kilobytes", msg);
                KilobyteLifetime::Unlimited
            }
            (Some(s), _) => {
                let msg = format!(
                    "bad lifetime \"{s}\"; expected 10..2147483647 kilobytes or \"unlimited\""
                );
                t.error(ctx, "lifetime_kilobytes", msg);
                KilobyteLifetime::Unlimited
            }
            (None, None) => {
                let msg = format!(
                    "expected an integer or \"unlimited\", found {}",
                    type_name(v.get_ref())
                );
                t.error(ctx, "lifetime_kilobytes", msg);
                KilobyteLifetime::Unlimited
            }
        },
    };
    let connection_type = t.keyword(
        ctx,
        "connection_type",
        "connection type",
        ConnectionType::from_keyword,
        &ConnectionType::expected(),
    );
    let connection_type = match connection_type {
        // Without a peer address there is nobody to initiate to.
        Some(c) if dynamic && c.v != ConnectionType::AnswerOnly => {
            let msg = format!(
                "a dynamic entry cannot initiate (it has no peer); connection_type must be \
                 \"answer-only\" (is \"{}\")",
                c.v
            );
            t.error(ctx, "connection_type", msg);
            ConnectionType::AnswerOnly
        }
        Some(c) => c.v,
        None if dynamic => ConnectionType::AnswerOnly,
        None => ConnectionType::Bidirectional,
    };
    let replay_window = match t.int(ctx, "replay_window") {
        None => DEFAULT_REPLAY_WINDOW,
        Some(n) if n.v == 0 || (32..=4096).contains(&n.v) => n.v as u16,
        Some(n) => {
            let msg = format!(
                "replay window {} out of range; expected 0 (disabled) or 32..4096 packets",
                n.v
            );
            t.error(ctx, "replay_window", msg);
            DEFAULT_REPLAY_WINDOW
        }
    };
    let nat_t = t.boolean(ctx, "nat_t").unwrap_or(true);
    let reverse_route = t.boolean(ctx, "reverse_route").unwrap_or(false);
    let phase1_mode = t
        .keyword(
            ctx,
            "phase1_mode",
            "IKEv1 phase-1 mode",
            Ikev1Phase1Mode::from_keyword,
            &Ikev1Phase1Mode::expected(),
        )
        .map_or(Ikev1Phase1Mode::Main, |m| m.v);
    // Initiating Aggressive Mode is as exposed as answering it: the global opt-in covers both.
    if phase1_mode == Ikev1Phase1Mode::Aggressive && !aggressive_ok {
        t.error(
            ctx,
            "phase1_mode",
            "IKEv1 Aggressive Mode is disabled; set [ike] ikev1_aggressive_mode = true to allow \
             it (its pre-shared-key hash can be cracked offline) or use \"main\"",
        );
    }

    let entry = CryptoMapEntry {
        dynamic,
        tunnel_group: if dynamic { tunnel_group.map(|g| g.v) } else { None },
        name: name?.v,
        sequence: sequence? as u16,
        match_address: match_address?.v,
        peers,
        ike_versions,
        ikev1_transform_sets,
        ikev2_proposals,
        pfs,
        lifetime_seconds,
        lifetime_kilobytes,
        connection_type,
        replay_window,
        nat_t,
        reverse_route,
        phase1_mode,
    };
    Some(Located::new(entry, "crypto_map", index, t))
}

/// `[[crypto_interface]]`.
pub(crate) fn crypto_interface(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
    known_interfaces: &[&str],
) -> Option<Located<CryptoInterface>> {
    const KNOWN: &[&str] =
        &["interface", "crypto_map", "ikev1", "ikev2", "fragmentation", "df_bit"];
    let mut t = Tbl::new(ctx, table, span, format!("crypto_interface[{index}]"), KNOWN);
    let interface = t.req_string(ctx, "interface");
    if let Some(i) = &interface
        && !known_interfaces.contains(&i.v.as_str())
    {
        let msg =
            format!("no interface named \"{}\"; defined: {}", i.v, list_or_none(known_interfaces));
        t.error(ctx, "interface", msg);
    }
    let crypto_map = t.string(ctx, "crypto_map");
    if let Some(m) = &crypto_map {
        t.add_ref("crypto_map", None, m);
    }
    let crypto_map = crypto_map.map(|m| m.v);
    let ikev1 = t.boolean(ctx, "ikev1").unwrap_or(false);
    let ikev2 = t.boolean(ctx, "ikev2").unwrap_or(false);
    let fragmentation = t
        .keyword(
            ctx,
            "fragmentation",
            "fragmentation",
            Fragmentation::from_keyword,
            &Fragmentation::expected(),
        )
        .map_or(Fragmentation::BeforeEncryption, |f| f.v);
    let df_bit = t
        .keyword(ctx, "df_bit", "df_bit", DfBit::from_keyword, &DfBit::expected())
        .map_or(DfBit::Copy, |d| d.v);
    let ci = CryptoInterface {
        interface: interface?.v,
        crypto_map,
        ikev1,
        ikev2,
        fragmentation,
        df_bit,
    };
    Some(Located::new(ci, "crypto_interface", index, t))
}

/// `a, b, c` or `(none)`.
pub(crate) fn list_or_none<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
    }
}
