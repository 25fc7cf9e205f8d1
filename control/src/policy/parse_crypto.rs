//! First pass for `[ike]`, access lists, IKE policies, transform sets and IPsec proposals.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::acl::{AccessList, AclAction, AclProtocol, AclRule, AddressSpec, parse_port_range};
use super::algorithms::{
    DhGroup, EspEncryption, EspIntegrity, IkeEncryption, IkeIntegrity, Prf, sort_by_strength,
};
use super::model::{
    IkeGlobals, IkeIdentity, Ikev1Authentication, Ikev1Policy, Ikev2Policy, IpsecMode,
    IpsecProposal, TransformSet,
};
use super::parse::{Cleared, Located};
use super::reader::{At, Ctx, Span, Tbl, int_value, type_name};

/// ASA lifetime bounds in seconds (`lifetime`, `set security-association lifetime seconds`).
pub(crate) const LIFETIME_MIN: i64 = 120;
/// Upper lifetime bound.
pub(crate) const LIFETIME_MAX: i64 = 2_147_483_647;

pub(crate) fn weak_message(what: &str, keyword: &str) -> String {
    format!("{what} \"{keyword}\" is weak (RFC 8247); accepted, but prefer a stronger one")
}

/// Checks a DH group number read from `v` (the value of `key`, element `index` if a list).
pub(crate) fn dh_group(
    ctx: &mut Ctx<'_>,
    t: &mut Tbl<'_, '_>,
    key: &str,
    index: Option<usize>,
    v: &Spanned<DeValue<'_>>,
    ikev1: bool,
    allow_weak: bool,
) -> Option<DhGroup> {
    let field = match index {
        Some(i) => format!("{}[{i}]", t.field(key)),
        None => t.field(key),
    };
    let n = match int_value(v.get_ref()) {
        Some(Some(n)) => n,
        _ => {
            let found = type_name(v.get_ref());
            ctx.error(v.span(), &field, format!("expected a DH group number, found {found}"));
            t.poisoned = true;
            return None;
        }
    };
    let group = DhGroup::from_number(n).filter(|g| !ikev1 || g.ikev1_allowed());
    let Some(g) = group else {
        let scope = if ikev1 { " for IKEv1" } else { "" };
        let msg =
            format!("unknown DH group {n}{scope}; expected one of: {}", DhGroup::expected(ikev1));
        ctx.error(v.span(), &field, msg);
        t.poisoned = true;
        return None;
    };
    if g.is_weak() {
        if allow_weak {
            ctx.warn(
                v.span(),
                &field,
                format!("DH group {n} is weak; accepted because [ike] allow_weak_dh = true"),
            );
        } else {
            ctx.error(
                v.span(),
                &field,
                format!("DH group {n} is weak; set [ike] allow_weak_dh = true to allow it"),
            );
            t.poisoned = true;
            return None;
        }
    }
    Some(g)
}

/// `[ike]`.
pub(crate) fn ike_globals(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: Span) -> IkeGlobals {
    const KNOWN: &[&str] = &[
        "allow_weak_dh",
        "identity",
        "nat_keepalive_seconds",
        "retransmit_interval_ms",
        "retransmit_tries",
        "dpd_interval_seconds",
        "dpd_retry_seconds",
        "cookie_threshold_percent",
        "max_half_open",
        "max_half_open_per_peer",
        "single_sa",
        "ikev1_aggressive_mode",
        "ikev2_fragmentation",
        "ikev2_fragmentation_mtu",
    ];
    let mut t = Tbl::new(ctx, table, span, "ike".into(), KNOWN);
    let mut g = IkeGlobals::default();
    let u = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    if let Some(b) = t.boolean(ctx, "allow_weak_dh") {
        g.allow_weak_dh = b;
    }
    if let Some(b) = t.boolean(ctx, "ikev2_fragmentation") {
        g.ikev2_fragmentation = b;
    }
    if let Some(b) = t.boolean(ctx, "ikev1_aggressive_mode") {
        g.ikev1_aggressive_mode = b;
        if b {
            t.warn(
                ctx,
                "ikev1_aggressive_mode",
                "IKEv1 Aggressive Mode is enabled: with pre-shared keys its second message \
                 exposes a hash of the key that an eavesdropper can crack offline",
            );
        }
    }
    if let Some(i) =
        t.keyword(ctx, "identity", "identity", IkeIdentity::from_keyword, &IkeIdentity::expected())
    {
        g.identity = i.v;
    }
    if let Some(n) = t.int(ctx, "nat_keepalive_seconds") {
        // crypto isakmp nat-traversal takes 10..3600; 0 is ferrogate's "off".
        if n.v == 0 || (10..=3600).contains(&n.v) {
            g.nat_keepalive_seconds = u(n.v);
        } else {
            let msg = format!(
                "NAT keepalive {} out of range; expected 0 (disabled) or 10..3600 seconds",
                n.v
            );
            t.error(ctx, "nat_keepalive_seconds", msg);
        }
    }
    let ranged: [(&str, &str, i64, i64, &str, &mut u32); 8] = [
        (
            "retransmit_interval_ms",
            "retransmit interval",
            100,
            60_000,
            " ms",
            &mut g.retransmit_interval_ms,
        ),
        ("retransmit_tries", "retransmit tries", 1, 10, "", &mut g.retransmit_tries),
        ("dpd_interval_seconds", "DPD interval", 10, 3600, " seconds", &mut g.dpd_interval_seconds),
        ("dpd_retry_seconds", "DPD retry", 2, 10, " seconds", &mut g.dpd_retry_seconds),
        (
            "ikev2_fragmentation_mtu",
            "IKEv2 fragmentation MTU",
            576,
            1500,
            " bytes",
            &mut g.ikev2_fragmentation_mtu,
        ),
        (
            "cookie_threshold_percent",
            "cookie threshold",
            0,
            100,
            " percent",
            &mut g.cookie_threshold_percent,
        ),
        ("max_half_open", "max_half_open", 1, 1_000_000, "", &mut g.max_half_open),
        (
            "max_half_open_per_peer",
            "max_half_open_per_peer",
            1,
            1_000_000,
            "",
            &mut g.max_half_open_per_peer,
        ),
    ];
    for (key, what, lo, hi, unit, slot) in ranged {
        if let Some(n) = t.int_in(ctx, key, what, lo, hi, unit) {
            *slot = u(n);
        }
    }
    if g.max_half_open_per_peer > g.max_half_open {
        let msg = format!(
            "max_half_open_per_peer {} exceeds max_half_open {}",
            g.max_half_open_per_peer, g.max_half_open
        );
        t.error(ctx, "max_half_open_per_peer", msg);
    }
    if let Some(b) = t.boolean(ctx, "single_sa") {
        g.single_sa = b;
    }
    g
}

/// One rule of an access list.
fn acl_rule(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>) -> Option<AclRule> {
    let action =
        t.req_keyword(ctx, "action", "action", AclAction::from_keyword, &AclAction::expected());
    let protocol = match t.value("protocol") {
        None => {
            t.missing(ctx, "protocol", &format!(" ({})", AclProtocol::KEYWORDS));
            None
        }
        Some(v) => match (v.get_ref().as_str(), int_value(v.get_ref())) {
            (Some(s), _) => match AclProtocol::from_keyword(s) {
                Some(p) => Some(p),
                None => {
                    let msg = format!(
                        "unknown protocol \"{s}\"; expected one of: {}",
                        AclProtocol::KEYWORDS
                    );
                    t.error(ctx, "protocol", msg);
                    None
                }
            },
            (None, Some(Some(n))) if (0..=255).contains(&n) => {
                Some(AclProtocol::from_number(n as u8))
            }
            (None, Some(_)) => {
                t.error(ctx, "protocol", "protocol number out of range; expected 0..255");
                None
            }
            (None, None) => {
                let msg = format!(
                    "expected a protocol keyword or number, found {}",
                    type_name(v.get_ref())
                );
                t.error(ctx, "protocol", msg);
                None
            }
        },
    };
    let mut addr = |t: &mut Tbl<'_, '_>, key: &str| {
        let s = t.req_string(ctx, key)?;
        match AddressSpec::parse(&s.v) {
            Ok(a) => Some(a),
            Err(e) => {
                let msg = format!("bad address \"{}\": {e}; {}", s.v, AddressSpec::EXPECTED);
                t.error(ctx, key, msg);
                None
            }
        }
    };
    let src = addr(t, "src");
    let dst = addr(t, "dst");
    let mut ports = |t: &mut Tbl<'_, '_>, key: &str| {
        let v = t.value(key)?;
        let range = match (v.get_ref().as_str(), int_value(v.get_ref())) {
            (Some(s), _) => parse_port_range(s),
            (None, Some(Some(n))) => u16::try_from(n).ok().map(dataplane::spd::PortRange::single),
            _ => {
                let msg = format!(
                    "expected a port range string \"N\" or \"N-M\", found {}",
                    type_name(v.get_ref())
                );
                t.error(ctx, key, msg);
                return None;
            }
        };
        if range.is_none() {
            let text = match v.get_ref().as_str() {
                Some(s) => s.to_owned(),
                None => int_value(v.get_ref()).flatten().unwrap_or(0).to_string(),
            };
            let msg = format!(
                "bad port range \"{text}\"; expected \"N\" or \"N-M\" with N <= M <= 65535"
            );
            t.error(ctx, key, msg);
        }
        range
    };
    let src_port = ports(t, "src_port");
    let dst_port = ports(t, "dst_port");
    let icmp_type = t.int_in(ctx, "icmp_type", "ICMP type", 0, 255, "").map(|n| n as u8);
    let (action, protocol, src, dst) = (action?.v, protocol?, src?, dst?);
    if !protocol.has_ports() {
        for key in ["src_port", "dst_port"] {
            if t.has(key) {
                let msg = format!("{key} applies to tcp and udp only (protocol is {protocol})");
                t.error(ctx, key, msg);
            }
        }
    }
    if !protocol.is_icmp() && t.has("icmp_type") {
        let msg = format!("icmp_type applies to icmp and icmp6 only (protocol is {protocol})");
        t.error(ctx, "icmp_type", msg);
    }
    let (s4, s6) = src.families();
    let (d4, d6) = dst.families();
    if !((s4 && d4) || (s6 && d6)) {
        let msg = format!(
            "source {src} and destination {dst} are of different address families; a rule \
             matches one family"
        );
        t.error(ctx, "dst", msg);
    }
    let family_ok = match protocol {
        AclProtocol::Icmp => s4 && d4,
        AclProtocol::Icmp6 => s6 && d6,
        _ => true,
    };
    if !family_ok {
        t.error(ctx, "protocol", format!("protocol {protocol} does not match the address family"));
    }
    Some(AclRule { action, protocol, src, dst, src_port, dst_port, icmp_type })
}

/// `[[access_list]]`.
pub(crate) fn access_list(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
) -> Option<Located<AccessList>> {
    let mut t = Tbl::new(ctx, table, span, format!("access_list[{index}]"), &["name", "rules"]);
    let name = t.req_string(ctx, "name");
    let mut rules = Vec::new();
    if !t.has("rules") {
        t.missing(ctx, "rules", " (a list of { action, protocol, src, dst } tables)");
    } else if let Some(a) = t.array(ctx, "rules") {
        if a.is_empty() {
            t.error(ctx, "rules", "an access list needs at least one rule");
        }
        for (i, e) in a.iter().enumerate() {
            let path = format!("{}[{i}]", t.field("rules"));
            let DeValue::Table(rt) = e.get_ref() else {
                let msg = format!("expected a rule table, found {}", type_name(e.get_ref()));
                t.error_at(ctx, "rules", i, e.span(), msg);
                continue;
            };
            const KNOWN: &[&str] =
                &["action", "protocol", "src", "dst", "src_port", "dst_port", "icmp_type"];
            let mut r = Tbl::new(ctx, rt, e.span(), path, KNOWN);
            let rule = acl_rule(ctx, &mut r);
            t.poisoned |= r.poisoned;
            match rule {
                Some(rule) if !r.poisoned => rules.push(rule),
                _ => t.poisoned = true,
            }
        }
    }
    let name = name?;
    Some(Located::new(AccessList { name: name.v, rules }, "access_list", index, t))
}

/// `[[ikev1_policy]]`.
pub(crate) fn ikev1_policy(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
    allow_weak: bool,
) -> Option<Located<Ikev1Policy>> {
    const KNOWN: &[&str] =
        &["priority", "authentication", "encryption", "hash", "group", "lifetime"];
    let mut t = Tbl::new(ctx, table, span, format!("ikev1_policy[{index}]"), KNOWN);
    let priority = t.req_int_in(ctx, "priority", "priority", 1, 65535);
    let authentication = t.req_keyword(
        ctx,
        "authentication",
        "authentication",
        Ikev1Authentication::from_keyword,
        &Ikev1Authentication::expected(),
    );
    let encryption = t.req_keyword(
        ctx,
        "encryption",
        "IKEv1 encryption",
        |s| IkeEncryption::from_keyword(s).filter(|e| e.ikev1_allowed()),
        &IkeEncryption::expected_ikev1(),
    );
    if let Some(e) = &encryption
        && e.v.is_weak()
    {
        t.warn(ctx, "encryption", weak_message("encryption", e.v.keyword()));
    }
    let hash = t.req_keyword(ctx, "hash", "hash", Prf::from_keyword, &Prf::expected());
    if let Some(h) = &hash
        && h.v.is_weak()
    {
        t.warn(ctx, "hash", weak_message("hash", h.v.keyword()));
    }
    let group = match t.value("group") {
        None => {
            t.missing(ctx, "group", &format!(" (one of: {})", DhGroup::expected(true)));
            None
        }
        Some(v) => dh_group(ctx, &mut t, "group", None, v, true, allow_weak),
    };
    let lifetime = t
        .int_in(ctx, "lifetime", "lifetime", LIFETIME_MIN, LIFETIME_MAX, " seconds")
        .unwrap_or(86400);
    let policy = Ikev1Policy {
        priority: priority? as u16,
        authentication: authentication?.v,
        encryption: encryption?.v,
        hash: hash?.v,
        group: group?,
        lifetime_seconds: lifetime as u32,
    };
    Some(Located::new(policy, "ikev1_policy", index, t))
}

/// What [`algorithm_list`] needs of an algorithm enum.
trait Algorithm: Copy + PartialEq {
    fn parse(s: &str) -> Option<Self>;
    fn keyword(self) -> &'static str;
    fn expected() -> String;
    fn is_weak(self) -> bool;
}

macro_rules! algorithm {
    ($($t:ty),+) => {$(
        impl Algorithm for $t {
            fn parse(s: &str) -> Option<Self> {
                <$t>::from_keyword(s)
            }
            fn keyword(self) -> &'static str {
                <$t>::keyword(self)
            }
            fn expected() -> String {
                <$t>::expected()
            }
            fn is_weak(self) -> bool {
                <$t>::is_weak(self)
            }
        }
    )+};
}

algorithm!(IkeEncryption, IkeIntegrity, Prf, EspEncryption, EspIntegrity);

/// Reads an algorithm list (`what` names it in messages), warning on weak entries.
fn algorithm_list<T: Algorithm>(
    ctx: &mut Ctx<'_>,
    t: &mut Tbl<'_, '_>,
    key: &str,
    what: &str,
) -> Option<Vec<At<T>>> {
    let list = t.keywords(ctx, key, what, T::parse, &T::expected())?;
    for (i, a) in list.iter().enumerate() {
        if a.v.is_weak() {
            let field = format!("{}[{i}]", t.field(key));
            ctx.warn(a.span.clone(), &field, weak_message(what, a.v.keyword()));
        }
    }
    Some(list)
}

/// `[[ikev2_policy]]`.
pub(crate) fn ikev2_policy(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
    allow_weak: bool,
) -> Option<Located<Ikev2Policy>> {
    const KNOWN: &[&str] =
        &["priority", "encryption", "integrity", "prf", "group", "lifetime_seconds"];
    let mut t = Tbl::new(ctx, table, span, format!("ikev2_policy[{index}]"), KNOWN);
    let priority = t.req_int_in(ctx, "priority", "priority", 1, 65535);
    for key in ["encryption", "integrity", "group"] {
        if !t.has(key) {
            t.missing(ctx, key, "");
        }
    }
    let encryption = algorithm_list::<IkeEncryption>(ctx, &mut t, "encryption", "encryption");
    let integrity = algorithm_list::<IkeIntegrity>(ctx, &mut t, "integrity", "integrity");
    let prf = algorithm_list::<Prf>(ctx, &mut t, "prf", "prf");
    let mut groups = Vec::new();
    if let Some(a) = t.array(ctx, "group") {
        for (i, v) in a.iter().enumerate() {
            if let Some(g) = dh_group(ctx, &mut t, "group", Some(i), v, false, allow_weak) {
                if groups.contains(&g) {
                    t.error_at(ctx, "group", i, v.span(), format!("DH group {g} listed twice"));
                } else {
                    groups.push(g);
                }
            }
        }
    }
    let lifetime = t
        .int_in(ctx, "lifetime_seconds", "lifetime", LIFETIME_MIN, LIFETIME_MAX, " seconds")
        .unwrap_or(86400);
    for key in ["encryption", "integrity", "prf", "group"] {
        if t.is_empty_array(key) {
            t.error(ctx, key, format!("{key} list is empty; an IKEv2 policy needs at least one"));
        }
    }
    let (encryption, integrity) = (encryption?, integrity?);
    check_null_integrity(
        ctx,
        &mut t,
        encryption.iter().find(|e| !e.v.is_aead()).map(|e| e.v.keyword()),
        integrity.iter().position(|i| i.v == IkeIntegrity::Null),
        &integrity.iter().map(|i| i.v.keyword()).collect::<Vec<_>>(),
        false,
    );
    let mut encryption: Vec<IkeEncryption> = encryption.into_iter().map(|a| a.v).collect();
    let mut integrity: Vec<IkeIntegrity> = integrity.into_iter().map(|a| a.v).collect();
    let mut prf: Vec<Prf> = match prf {
        Some(p) => p.into_iter().map(|a| a.v).collect(),
        None => {
            let from: Vec<Prf> = integrity.iter().filter_map(|i| i.hash()).collect();
            if from.is_empty() { vec![Prf::Sha256] } else { from }
        }
    };
    sort_by_strength(&mut encryption, IkeEncryption::strength);
    sort_by_strength(&mut integrity, IkeIntegrity::strength);
    sort_by_strength(&mut prf, Prf::strength);
    sort_by_strength(&mut groups, DhGroup::strength);
    let policy = Ikev2Policy {
        priority: priority? as u16,
        encryption,
        integrity,
        prf,
        groups,
        lifetime_seconds: lifetime as u32,
    };
    Some(Located::new(policy, "ikev2_policy", index, t))
}

/// `null` integrity beside a non-AEAD cipher protects nothing: the error names the cipher.
/// IKEv2 policies refuse `null` whenever a non-AEAD cipher is listed; IPsec proposals only
/// when `null` is the sole integrity choice (`null_beside_others_ok`).
fn check_null_integrity(
    ctx: &mut Ctx<'_>,
    t: &mut Tbl<'_, '_>,
    non_aead: Option<&str>,
    null_at: Option<usize>,
    integrity: &[&str],
    null_beside_others_ok: bool,
) {
    let (Some(cipher), Some(i)) = (non_aead, null_at) else { return };
    let span = t.span_of(&format!("integrity[{i}]"));
    let others: Vec<&str> = integrity.iter().copied().filter(|k| *k != "null").collect();
    if null_beside_others_ok && !others.is_empty() {
        return;
    }
    let msg = if others.is_empty() {
        format!(
            "integrity \"null\" with non-AEAD encryption \"{cipher}\"; null is only valid with \
             AEAD ciphers (aes-gcm*, chacha20-poly1305): add a non-null integrity algorithm"
        )
    } else {
        format!(
            "integrity \"null\" with non-AEAD encryption \"{cipher}\"; null is only valid when \
             every cipher is AEAD (aes-gcm*, chacha20-poly1305): remove null"
        )
    };
    t.error_at(ctx, "integrity", i, span, msg);
}

/// `[[transform_set]]`: `Some(Err(_))` when its encryption was cleared (`encryption = ""`).
pub(crate) fn transform_set(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
) -> Option<Result<Located<TransformSet>, Cleared>> {
    const KNOWN: &[&str] = &["name", "encryption", "integrity", "mode"];
    let mut t = Tbl::new(ctx, table, span, format!("transform_set[{index}]"), KNOWN);
    let name = t.req_string(ctx, "name");
    let cleared = t.value("encryption").and_then(|v| v.get_ref().as_str()) == Some("");
    if cleared {
        let field = t.field("encryption");
        let name = name?;
        let msg = format!(
            "transform set \"{}\" has no encryption; it is removed together with every crypto \
             map reference to it",
            name.v
        );
        t.warn(ctx, "encryption", msg);
        return Some(Err(Cleared { name, field }));
    }
    let encryption = t.req_keyword(
        ctx,
        "encryption",
        "transform-set encryption",
        EspEncryption::from_transform_set_keyword,
        &EspEncryption::expected_transform_set(),
    );
    let integrity = t.req_keyword(
        ctx,
        "integrity",
        "transform-set integrity",
        EspIntegrity::from_transform_set_keyword,
        &EspIntegrity::expected_transform_set(),
    );
    let mode = t
        .keyword(ctx, "mode", "mode", IpsecMode::from_keyword, &IpsecMode::expected())
        .map_or(IpsecMode::Tunnel, |m| m.v);
    if let Some(e) = &encryption
        && e.v.is_weak()
    {
        let kw = e.v.transform_set_keyword().unwrap_or_default();
        t.warn(ctx, "encryption", weak_message("encryption", kw));
    }
    if let Some(i) = &integrity
        && i.v.is_weak()
    {
        t.warn(ctx, "integrity", weak_message("integrity", i.v.transform_set_keyword()));
    }
    let (name, encryption, integrity) = (name?, encryption?.v, integrity?.v);
    if encryption == EspEncryption::Null && integrity == EspIntegrity::Null {
        t.error(
            ctx,
            "integrity",
            "esp-null with esp-none protects nothing; choose an encryption or an integrity \
             algorithm",
        );
    }
    let ts = TransformSet { name: name.v, encryption, integrity, mode };
    Some(Ok(Located::new(ts, "transform_set", index, t)))
}

/// `[[ipsec_proposal]]`: `Some(Err(_))` when its encryption list is empty.
pub(crate) fn ipsec_proposal(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: Span,
    index: usize,
) -> Option<Result<Located<IpsecProposal>, Cleared>> {
    let mut t = Tbl::new(
        ctx,
        table,
        span,
        format!("ipsec_proposal[{index}]"),
        &["name", "encryption", "integrity"],
    );
    let name = t.req_string(ctx, "name");
    if !t.has("encryption") {
        t.missing(ctx, "encryption", "");
    }
    let encryption = algorithm_list::<EspEncryption>(ctx, &mut t, "encryption", "encryption");
    if t.is_empty_array("encryption") {
        let field = t.field("encryption");
        let name = name?;
        let msg = format!(
            "IPsec proposal \"{}\" has an empty encryption list; it is removed together with \
             every crypto map reference to it",
            name.v
        );
        t.warn(ctx, "encryption", msg);
        return Some(Err(Cleared { name, field }));
    }
    let integrity = algorithm_list::<EspIntegrity>(ctx, &mut t, "integrity", "integrity");
    let encryption = encryption?;
    let all_aead = encryption.iter().all(|e| e.v.is_aead());
    let integrity = match integrity {
        Some(i) if i.is_empty() => {
            t.error(ctx, "integrity", "integrity list is empty; write [\"null\"] for AEAD ciphers");
            None
        }
        Some(i) => Some(i),
        None if all_aead => Some(vec![At { v: EspIntegrity::Null, span: t.span.clone() }]),
        None => {
            t.missing(ctx, "integrity", " (non-AEAD ciphers need an integrity algorithm)");
            None
        }
    };
    let integrity = integrity?;
    let keywords: Vec<&str> = integrity.iter().map(|i| i.v.keyword()).collect();
    // ASA rule: GCM/GMAC (and ChaCha20-Poly1305) proposals need integrity null.
    if let Some(aead) = encryption.iter().find(|e| e.v.is_aead())
        && !integrity.iter().any(|i| i.v == EspIntegrity::Null)
    {
        let msg = format!(
            "AEAD encryption \"{}\" needs integrity \"null\" (GCM, GMAC and ChaCha20-Poly1305 \
             carry their own integrity); integrity is [{}]: add \"null\"",
            aead.v,
            keywords.join(", ")
        );
        t.error(ctx, "integrity", msg);
    }
    check_null_integrity(
        ctx,
        &mut t,
        encryption.iter().find(|e| !e.v.is_aead()).map(|e| e.v.keyword()),
        integrity.iter().position(|i| i.v == EspIntegrity::Null),
        &keywords,
        // A proposal mixing AEAD and CBC ciphers needs null (for the AEAD ones) beside a
        // real integrity algorithm (for the others).
        true,
    );
    let mut encryption: Vec<EspEncryption> = encryption.into_iter().map(|a| a.v).collect();
    let mut integrity: Vec<EspIntegrity> = integrity.into_iter().map(|a| a.v).collect();
    sort_by_strength(&mut encryption, EspEncryption::strength);
    sort_by_strength(&mut integrity, EspIntegrity::strength);
    let p = IpsecProposal { name: name?.v, encryption, integrity };
    Some(Ok(Located::new(p, "ipsec_proposal", index, t)))
}
