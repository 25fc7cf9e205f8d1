//! Static crypto maps (`crypto map NAME SEQ ...`) and what runs on each interface
//! (`crypto map NAME interface IF`, `crypto ikev1|ikev2 enable IF`,
//! `crypto ipsec fragmentation ... IF`, `crypto ipsec df-bit ... IF`).

use std::net::IpAddr;

use super::crypto::{LIFETIME_SECONDS, WEAK_GROUPS, group, number, unmapped_body};
use super::lexer::{Block, Line};
use super::model::{Config, CryptoMap, Kilobytes};
use super::report::Report;

/// Most peers in one crypto map entry (ASA multi-peer crypto maps, 9.14(1)).
const MAX_PEERS: usize = 10;
/// Most transform sets or proposals one crypto map entry may list.
const MAX_TRANSFORMS: usize = 11;
/// `set pfs` groups (`group31` is Curve25519, RFC 8031).
const PFS_GROUPS: &[u32] = &[1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31];
/// `set security-association lifetime kilobytes` bounds.
const LIFETIME_KILOBYTES: (u64, u64) = (10, 2_147_483_647);
/// Replay windows ferrogate accepts (0 = disabled); the ASA offers 64..1024.
const REPLAY_WINDOW: (u64, u64) = (32, 4096);

/// Global IPsec SA defaults (`crypto ipsec security-association ...`), applied to the crypto
/// maps that set none of their own, as the ASA does.
#[derive(Debug, Default)]
pub(crate) struct SaDefaults {
    lifetime_seconds: Option<(u64, usize)>,
    lifetime_kilobytes: Option<(Kilobytes, usize)>,
    replay_window: Option<(u32, usize)>,
}

/// `crypto map NAME ...`: an entry command or `crypto map NAME interface IF`.
pub(crate) fn crypto_map(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    unmapped_body(block, report, "unexpected indented line under a crypto map command");
    let Some(name) = head.word(2) else {
        report.unmapped(head, "expected `crypto map NAME SEQ ...`");
        return;
    };
    if head.is(3, "interface") {
        match head.rest(4) {
            [interface] => {
                let ci = config.crypto_interface(interface);
                if ci.crypto_map.replace(name.to_string()).is_some() {
                    report
                        .unmapped(head, format!("interface {interface} already has a crypto map"));
                } else {
                    report.mapped(head);
                }
            }
            _ => report.unmapped(head, "expected `crypto map NAME interface IF`"),
        }
        return;
    }
    let sequence = match number(head.word(3), 1, 65535, "sequence number") {
        Ok(s) => s as u32,
        Err(e) => {
            report.unmapped(
                head,
                format!(
                    "{e} (expected `crypto map NAME SEQ ...` or `crypto map NAME interface IF`)"
                ),
            );
            return;
        }
    };
    if head.is(4, "ipsec-isakmp") && head.is(5, "dynamic") {
        let [dynamic] = head.rest(6) else {
            report
                .unmapped(head, "expected `crypto map NAME SEQ ipsec-isakmp dynamic DYNAMIC-MAP`");
            return;
        };
        match config.crypto_maps.iter().find(|m| m.name == name && m.sequence == sequence) {
            Some(m) => {
                let reason = match &m.dynamic {
                    Some(d) => format!(
                        "crypto map {name} {sequence} already uses dynamic map {d} (line {})",
                        m.line
                    ),
                    None => format!(
                        "crypto map {name} {sequence} already has static commands (line {}): an \
                         entry is either static or dynamic",
                        m.line
                    ),
                };
                report.unmapped(head, reason);
            }
            // The line stays pending: the second pass maps it (or says why not) once every
            // dynamic map and tunnel group is known.
            None => config.crypto_maps.push(CryptoMap {
                line: head.no,
                name: name.to_string(),
                sequence,
                dynamic: Some((*dynamic).to_string()),
                ..Default::default()
            }),
        }
        return;
    }
    if head.is(4, "ipsec-manual") {
        report.unmapped(
            head,
            "manually keyed crypto maps are not supported (ferrogate keys with IKE)",
        );
        return;
    }
    let pos = match config.crypto_maps.iter().position(|m| m.name == name && m.sequence == sequence)
    {
        Some(pos) => pos,
        None => {
            config.crypto_maps.push(CryptoMap {
                line: head.no,
                name: name.to_string(),
                sequence,
                ..Default::default()
            });
            config.crypto_maps.len() - 1
        }
    };
    let entry = &mut config.crypto_maps[pos];
    if let Some(d) = &entry.dynamic {
        report.unmapped(
            head,
            format!(
                "crypto map {name} {sequence} is dynamic (line {}): its settings come from \
                 dynamic map {d} (`crypto dynamic-map {d} ...`)",
                entry.line
            ),
        );
        return;
    }
    let mut notes = Vec::new();
    let result = entry_command(head, entry, &mut notes);
    for n in notes {
        report.note(n);
    }
    match result {
        Ok(()) => report.mapped(head),
        Err(e) => report.unmapped(head, e),
    }
}

/// One `crypto map NAME SEQ <command>` (or `crypto dynamic-map NAME SEQ <command>`) line;
/// its notes go to `notes`, so that a dynamic map that ends up not imported leaves none.
pub(crate) fn entry_command(
    head: &Line<'_>,
    entry: &mut CryptoMap,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let cmd = head.rest(4);
    let lower: Vec<String> = cmd.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["match", "address", _] => {
            entry.match_acl = Some(cmd[2].to_string());
            Ok(())
        }
        ["set", "peer", peers @ ..] if !peers.is_empty() => {
            if peers.len() > MAX_PEERS {
                return Err(format!("more than {MAX_PEERS} peers"));
            }
            let mut out = Vec::new();
            for p in &cmd[2..] {
                match p.parse::<IpAddr>() {
                    Ok(a) => out.push(a.to_string()),
                    Err(_) => {
                        return Err(format!(
                            "peer `{p}` is not an address (peer host names are not supported)"
                        ));
                    }
                }
            }
            entry.peers = out;
            Ok(())
        }
        ["set", "ikev1", "transform-set", sets @ ..] | ["set", "transform-set", sets @ ..]
            if !sets.is_empty() =>
        {
            if sets.len() > MAX_TRANSFORMS {
                return Err(format!("more than {MAX_TRANSFORMS} transform sets"));
            }
            entry.ikev1_transform_sets =
                cmd[cmd.len() - sets.len()..].iter().map(|s| s.to_string()).collect();
            Ok(())
        }
        ["set", "ikev2", "ipsec-proposal", props @ ..] if !props.is_empty() => {
            if props.len() > MAX_TRANSFORMS {
                return Err(format!("more than {MAX_TRANSFORMS} IPsec proposals"));
            }
            entry.ikev2_proposals = cmd[3..].iter().map(|s| s.to_string()).collect();
            Ok(())
        }
        ["set", "pfs"] => {
            entry.pfs = Some((2, head.no));
            notes.push(format!(
                "line {}: `set pfs` without a group means group2 on the ASA: written as pfs = 2",
                head.no
            ));
            Ok(())
        }
        ["set", "pfs", g] => {
            let n = g
                .strip_prefix("group")
                .ok_or_else(|| format!("expected `set pfs groupN`, found `set pfs {}`", cmd[2]))?;
            entry.pfs = Some((group(n, PFS_GROUPS)?, head.no));
            Ok(())
        }
        ["set", "security-association", "lifetime", rest @ ..] if !rest.is_empty() => {
            let (seconds, kilobytes) = lifetimes(&cmd[3..])?;
            if let Some(s) = seconds {
                entry.lifetime_seconds = Some(s);
            }
            if let Some(k) = kilobytes {
                entry.lifetime_kilobytes = Some(k);
            }
            Ok(())
        }
        ["set", "security-association", "replay", rest @ ..] => {
            entry.replay_window = Some(replay(rest, &cmd[3..])?);
            Ok(())
        }
        ["set", "connection-type", t] => {
            entry.connection_type = Some(match *t {
                "answer-only" => "answer-only",
                "originate-only" => "originate-only",
                "bidirectional" => "bidirectional",
                _ => {
                    return Err(format!(
                        "unknown connection type `{}` (expected answer-only, originate-only or \
                         bidirectional)",
                        cmd[2]
                    ));
                }
            });
            Ok(())
        }
        ["set", "nat-t-disable"] => {
            entry.nat_t = Some(false);
            Ok(())
        }
        ["set", "reverse-route", ..] => {
            entry.reverse_route = Some(true);
            if cmd.len() > 2 {
                notes.push(format!(
                    "line {}: reverse-route options (`{}`) ignored",
                    head.no,
                    cmd[2..].join(" ")
                ));
            }
            Ok(())
        }
        ["set", "trustpoint", ..] => Err("a crypto map has no trustpoint in ferrogate: give it \
                                          in the tunnel group (`trustpoint`)"
            .to_string()),
        ["set", "phase1-mode", ..] => {
            Err("IKEv1 aggressive mode is not supported (main mode only)".to_string())
        }
        _ => Err(format!("crypto map command `{}` is not supported", cmd.join(" "))),
    }
}

/// `lifetime seconds N [kilobytes M|unlimited]` or `lifetime kilobytes M|unlimited`.
fn lifetimes(words: &[&str]) -> Result<(Option<u64>, Option<Kilobytes>), String> {
    let mut seconds = None;
    let mut kilobytes = None;
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let arg = words.get(i + 1).copied();
        if w.eq_ignore_ascii_case("seconds") {
            seconds =
                Some(number(arg, LIFETIME_SECONDS.0, LIFETIME_SECONDS.1, "lifetime seconds")?);
        } else if w.eq_ignore_ascii_case("kilobytes") {
            kilobytes = Some(if arg.is_some_and(|a| a.eq_ignore_ascii_case("unlimited")) {
                Kilobytes::Unlimited
            } else {
                Kilobytes::Limit(number(
                    arg,
                    LIFETIME_KILOBYTES.0,
                    LIFETIME_KILOBYTES.1,
                    "lifetime kilobytes",
                )?)
            });
        } else {
            return Err(format!("expected `seconds N` or `kilobytes N|unlimited`, found `{w}`"));
        }
        i += 2;
    }
    Ok((seconds, kilobytes))
}

/// `replay window-size N` or `replay disable` (`lower` is the lower-cased `words`).
fn replay(lower: &[&str], words: &[&str]) -> Result<u32, String> {
    match lower {
        ["disable"] => Ok(0),
        ["window-size", _] => {
            Ok(number(words.get(1).copied(), REPLAY_WINDOW.0, REPLAY_WINDOW.1, "replay window")?
                as u32)
        }
        _ => Err("expected `replay window-size N` or `replay disable`".to_string()),
    }
}

/// `crypto ipsec security-association lifetime|replay ...`: global defaults.
pub(crate) fn sa_defaults(block: &Block<'_>, defaults: &mut SaDefaults, report: &mut Report) {
    let head = &block.head;
    unmapped_body(block, report, "unexpected indented line under a global IPsec command");
    let words = head.rest(3);
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let result = match lower.as_slice() {
        ["lifetime", ..] => lifetimes(&words[1..]).map(|(s, k)| {
            if let Some(s) = s {
                defaults.lifetime_seconds = Some((s, head.no));
            }
            if let Some(k) = k {
                defaults.lifetime_kilobytes = Some((k, head.no));
            }
        }),
        ["replay", rest @ ..] => {
            replay(rest, &words[1..]).map(|r| defaults.replay_window = Some((r, head.no)))
        }
        _ => Err(format!("`{}` is not supported", head.words.join(" "))),
    };
    match result {
        Ok(()) => report.mapped(head),
        Err(e) => report.unmapped(head, e),
    }
}

/// Applies the global SA defaults to the entries without their own.
pub(crate) fn apply_defaults(defaults: &SaDefaults, config: &mut Config, report: &mut Report) {
    let mut applied = Vec::new();
    for m in &mut config.crypto_maps {
        if let (None, Some((s, no))) = (m.lifetime_seconds, defaults.lifetime_seconds) {
            m.lifetime_seconds = Some(s);
            applied.push(no);
        }
        if let (None, Some((k, no))) = (m.lifetime_kilobytes, defaults.lifetime_kilobytes) {
            m.lifetime_kilobytes = Some(k);
            applied.push(no);
        }
        if let (None, Some((r, no))) = (m.replay_window, defaults.replay_window) {
            m.replay_window = Some(r);
            applied.push(no);
        }
    }
    applied.sort_unstable();
    applied.dedup();
    for no in applied {
        report.note(format!(
            "line {no}: global IPsec SA default copied into every crypto map that sets none"
        ));
    }
}

/// `crypto ikev1 enable IF`, `crypto isakmp enable IF`, `crypto ikev2 enable IF
/// [client-services ...]`, `crypto ipsec fragmentation before-encryption|after-encryption IF`,
/// `crypto ipsec df-bit copy-df|set-df|clear-df IF`.
pub(crate) fn interface_command(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    unmapped_body(block, report, "unexpected indented line under an interface crypto command");
    let w = |i| head.word(i).unwrap_or_default();
    let result = if head.starts(&["crypto", "ikev1", "enable"])
        || head.starts(&["crypto", "isakmp", "enable"])
    {
        if head.words.len() == 4 {
            config.crypto_interface(w(3)).ikev1 = true;
            Ok(())
        } else {
            Err("expected `crypto ikev1 enable IF`".to_string())
        }
    } else if head.starts(&["crypto", "ikev2", "enable"]) && head.words.len() >= 4 {
        config.crypto_interface(w(3)).ikev2 = true;
        if head.words.len() > 4 {
            report.note(format!(
                "line {}: `{}` ignored: AnyConnect client services are not supported",
                head.no,
                head.rest(4).join(" ")
            ));
        }
        Ok(())
    } else if head.starts(&["crypto", "ipsec", "fragmentation"]) && head.words.len() == 5 {
        let mode = match w(3).to_ascii_lowercase().as_str() {
            "before-encryption" => Ok("before-encryption"),
            "after-encryption" => Ok("after-encryption"),
            other => Err(format!(
                "unknown fragmentation `{other}` (expected before-encryption or after-encryption)"
            )),
        };
        mode.map(|m| config.crypto_interface(w(4)).fragmentation = Some(m))
    } else if head.starts(&["crypto", "ipsec", "df-bit"]) && head.words.len() == 5 {
        let mode = match w(3).to_ascii_lowercase().as_str() {
            "copy-df" => Ok("copy"),
            "set-df" => Ok("set"),
            "clear-df" => Ok("clear"),
            other => {
                Err(format!("unknown df-bit `{other}` (expected copy-df, set-df or clear-df)"))
            }
        };
        mode.map(|m| config.crypto_interface(w(4)).df_bit = Some(m))
    } else {
        Err(format!("`{}` is not supported", head.words.join(" ")))
    };
    match result {
        Ok(()) => report.mapped(head),
        Err(e) => report.unmapped(head, e),
    }
}

/// Sets `[ike] allow_weak_dh` when any policy or PFS group needs it, with a note naming the
/// lines.
pub(crate) fn weak_dh(config: &mut Config, report: &mut Report) {
    let mut lines = Vec::new();
    for p in &config.ikev1_policies {
        if p.group.is_some_and(|g| WEAK_GROUPS.contains(&g)) {
            lines.push(p.line);
        }
    }
    for p in &config.ikev2_policies {
        if p.group.iter().any(|g| WEAK_GROUPS.contains(g)) {
            lines.push(p.line);
        }
    }
    for m in &config.crypto_maps {
        if let Some((g, no)) = m.pfs
            && WEAK_GROUPS.contains(&g)
        {
            lines.push(no);
        }
    }
    if lines.is_empty() {
        return;
    }
    lines.sort_unstable();
    lines.dedup();
    let list: Vec<String> = lines.iter().map(usize::to_string).collect();
    config.ike.allow_weak_dh = true;
    report.note(format!(
        "weak Diffie-Hellman groups (1, 2, 5 or 24) are used (lines {}): [ike] allow_weak_dh = \
         true was written so that the config loads; move the peers to group 14 or better and \
         remove it",
        list.join(", ")
    ));
}

/// Notes about entries the ASA would show as incomplete.
pub(crate) fn check_entries(config: &Config, report: &mut Report) {
    for m in &config.crypto_maps {
        if m.match_acl.is_none() {
            report.note(format!(
                "line {}: crypto map {} {} has no `match address` (incomplete on the ASA too)",
                m.line, m.name, m.sequence
            ));
        }
        // A dynamic entry has no peers by design.
        if m.peers.is_empty() && m.dynamic.is_none() {
            report.note(format!(
                "line {}: crypto map {} {} has no `set peer`",
                m.line, m.name, m.sequence
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asa_import::lexer::{Item, lex};

    fn run(text: &str) -> (Config, Report) {
        let lexed = lex(text);
        let mut report = Report::new(lexed.line_count, &lexed.significant);
        let mut config = Config::default();
        for item in &lexed.items {
            if let Item::Block(b) = item {
                if !b.head.is(1, "map") {
                    interface_command(b, &mut config, &mut report);
                } else {
                    crypto_map(b, &mut config, &mut report);
                }
            }
        }
        (config, report)
    }

    #[test]
    fn set_pfs_defaults_to_group2_and_needs_weak_dh() {
        let (mut config, mut report) = run(
            "crypto map m 10 set pfs\ncrypto map m 20 set pfs group19\ncrypto map m 30 set pfs group5\ncrypto map m 40 set pfs 14\n",
        );
        let pfs: Vec<_> = config.crypto_maps.iter().map(|m| m.pfs.map(|p| p.0)).collect();
        assert_eq!(pfs, [Some(2), Some(19), Some(5), None]);
        assert_eq!(
            report.unmapped_list()[0].reason,
            "expected `set pfs groupN`, found `set pfs 14`"
        );
        weak_dh(&mut config, &mut report);
        assert!(config.ike.allow_weak_dh);
        assert!(report.notes().iter().any(|n| n.contains("(lines 1, 3)")), "{:?}", report.notes());
    }

    #[test]
    fn entry_commands() {
        let text = "crypto map m 10 match address acl\n\
                    crypto map m 10 set peer 192.0.2.1 2001:db8::1\n\
                    crypto map m 10 set ikev1 transform-set a b\n\
                    crypto map m 10 set ikev2 ipsec-proposal p\n\
                    crypto map m 10 set security-association lifetime seconds 3600\n\
                    crypto map m 10 set security-association lifetime kilobytes unlimited\n\
                    crypto map m 10 set connection-type answer-only\n\
                    crypto map m 10 set nat-t-disable\n\
                    crypto map m 10 set reverse-route\n\
                    crypto map m 10 set security-association replay window-size 1024\n\
                    crypto map m 20 ipsec-isakmp dynamic dyn\n\
                    crypto map m 10 set peer vpn.example.net\n\
                    crypto map m interface outside\n\
                    crypto ikev2 enable outside client-services port 443\n\
                    crypto ipsec df-bit clear-df outside\n\
                    crypto map m 20 set pfs group19\n\
                    crypto map m 10 ipsec-isakmp dynamic dyn\n";
        let (config, report) = run(text);
        // Entry 20 is a placeholder for the dynamic map, filled in by `dynamic_map::resolve`.
        assert_eq!(config.crypto_maps.len(), 2);
        let d = &config.crypto_maps[1];
        assert_eq!((d.line, d.sequence, d.dynamic.as_deref()), (11, 20, Some("dyn")));
        assert!(report.is_pending(11), "decided once the dynamic maps are known");
        let m = &config.crypto_maps[0];
        assert_eq!(m.match_acl.as_deref(), Some("acl"));
        assert_eq!(m.peers, ["192.0.2.1", "2001:db8::1"]);
        assert_eq!(m.ikev1_transform_sets, ["a", "b"]);
        assert_eq!(m.ikev2_proposals, ["p"]);
        assert_eq!(m.lifetime_seconds, Some(3600));
        assert_eq!(m.lifetime_kilobytes, Some(Kilobytes::Unlimited));
        assert_eq!(m.connection_type, Some("answer-only"));
        assert_eq!(
            (m.nat_t, m.reverse_route, m.replay_window),
            (Some(false), Some(true), Some(1024))
        );
        let u: Vec<_> =
            report.unmapped_list().iter().map(|u| (u.line, u.reason.as_str())).collect();
        assert_eq!(
            u,
            [
                (
                    12,
                    "peer `vpn.example.net` is not an address (peer host names are not supported)"
                ),
                (
                    16,
                    "crypto map m 20 is dynamic (line 11): its settings come from dynamic map dyn \
                     (`crypto dynamic-map dyn ...`)"
                ),
                (
                    17,
                    "crypto map m 10 already has static commands (line 1): an entry is either \
                     static or dynamic"
                ),
            ]
        );
        let ci = &config.crypto_interfaces[0];
        assert_eq!(
            (ci.interface.as_str(), ci.crypto_map.as_deref(), ci.ikev2, ci.df_bit),
            ("outside", Some("m"), true, Some("clear"))
        );
    }

    #[test]
    fn global_sa_defaults_fill_entries_without_their_own() {
        let lexed = lex(
            "crypto ipsec security-association lifetime seconds 28800\ncrypto ipsec security-association replay disable\n",
        );
        let mut report = Report::new(lexed.line_count, &lexed.significant);
        let mut defaults = SaDefaults::default();
        for item in &lexed.items {
            if let Item::Block(b) = item {
                sa_defaults(b, &mut defaults, &mut report);
            }
        }
        let mut config = Config::default();
        config.crypto_maps.push(CryptoMap { lifetime_seconds: Some(3600), ..Default::default() });
        config.crypto_maps.push(CryptoMap::default());
        apply_defaults(&defaults, &mut config, &mut report);
        let got: Vec<_> =
            config.crypto_maps.iter().map(|m| (m.lifetime_seconds, m.replay_window)).collect();
        assert_eq!(got, [(Some(3600), Some(0)), (Some(28800), Some(0))]);
        assert_eq!(report.unmapped_count(), 0);
    }
}
