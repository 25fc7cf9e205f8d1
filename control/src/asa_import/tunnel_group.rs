//! Tunnel groups (`tunnel-group NAME type|general-attributes|ipsec-attributes`) and
//! remote-access address pools (`ip local pool`, `ipv6 local pool`).

use std::net::{IpAddr, Ipv4Addr};

use super::crypto::{number, unmapped_body};
use super::lexer::{Block, Line};
use super::model::{AddressPool, Config, Keepalive};
use super::objects::{mask_to_len, parse_prefix};
use super::report::Report;

/// The ASA's built-in L2L group: the fallback for peers without a tunnel group of their own.
/// ferrogate looks it up the same way, so it is mapped (its type is implied: ipsec-l2l).
pub(crate) const DEFAULT_L2L_GROUP: &str = "DefaultL2LGroup";

/// The ASA's built-in group for remote-access clients that name no group of their own.
/// Mapped only when a dynamic crypto map answers its clients ([`default_ra_group`]).
pub(crate) const DEFAULT_RA_GROUP: &str = "DefaultRAGroup";

/// The ASA's built-in groups that have no ferrogate equivalent.
const UNMAPPED_DEFAULT_GROUPS: &[&str] = &[DEFAULT_RA_GROUP, "DefaultWEBVPNGroup"];

/// `isakmp keepalive threshold` bounds (seconds).
const KEEPALIVE_THRESHOLD: (u64, u64) = (10, 3600);
/// `isakmp keepalive retry` bounds (seconds).
const KEEPALIVE_RETRY: (u64, u64) = (2, 10);

/// `tunnel-group NAME ...`.
pub(crate) fn tunnel_group(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    convert(block, config, report, false);
}

/// `tunnel-group DefaultRAGroup ...`, for a dynamic crypto map that answers its clients: a
/// ferrogate tunnel group like any other, of type remote-access (the built-in group's type).
pub(crate) fn default_ra_group(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    if config.tunnel_groups.iter().all(|t| t.name != DEFAULT_RA_GROUP) {
        config.tunnel_group(DEFAULT_RA_GROUP).kind = Some("remote-access");
        report.note(format!(
            "line {}: {DEFAULT_RA_GROUP} (the ASA's built-in group for remote-access clients \
             without a group of their own) is written with type = \"remote-access\", for the \
             dynamic crypto map that answers its clients",
            block.head.no
        ));
    }
    convert(block, config, report, true);
}

/// Whether `tunnel-group DefaultRAGroup general-attributes` gives an address pool (that
/// [`tunnel_group`] would map), so that remote-access clients can get an address.
pub(crate) fn gives_address_pool(block: &Block<'_>) -> bool {
    block.head.is(2, "general-attributes")
        && block.head.words.len() == 3
        && block
            .body
            .iter()
            .any(|l| l.is(0, "address-pool") && l.word(1).is_some_and(|w| !w.starts_with('(')))
}

fn convert(block: &Block<'_>, config: &mut Config, report: &mut Report, default_ra: bool) {
    let head = &block.head;
    let (Some(name), Some(what)) = (head.word(1), head.word(2)) else {
        report.unmapped(
            head,
            "expected `tunnel-group NAME type|general-attributes|ipsec-attributes`",
        );
        unmapped_body(block, report, "inside a tunnel group that could not be mapped");
        return;
    };
    if name == DEFAULT_L2L_GROUP && config.tunnel_group(name).kind.is_none() {
        config.tunnel_group(name).kind = Some("ipsec-l2l");
        report.note(format!(
            "line {}: {name} (the ASA's built-in group for L2L peers without their own tunnel \
             group) is written with type = \"ipsec-l2l\"",
            head.no
        ));
    }
    if UNMAPPED_DEFAULT_GROUPS.contains(&name) && !(default_ra && name == DEFAULT_RA_GROUP) {
        let reason = format!(
            "the built-in {name} has no ferrogate equivalent: give the settings to a tunnel \
             group of its own"
        );
        report.unmapped(head, reason.clone());
        unmapped_body(block, report, &reason);
        return;
    }
    match what.to_ascii_lowercase().as_str() {
        "type" => {
            unmapped_body(block, report, "unexpected indented line under `tunnel-group NAME type`");
            let kind = match head.word(3).map(str::to_ascii_lowercase).as_deref() {
                Some("ipsec-l2l") if head.words.len() == 4 => "ipsec-l2l",
                Some("remote-access") if head.words.len() == 4 => "remote-access",
                Some("webvpn") => {
                    report
                        .unmapped(head, "webvpn (clientless SSL) tunnel groups are not supported");
                    return;
                }
                _ => {
                    report.unmapped(
                        head,
                        "expected `tunnel-group NAME type ipsec-l2l|remote-access`",
                    );
                    return;
                }
            };
            if name.parse::<IpAddr>().is_err() && kind == "ipsec-l2l" {
                report.note(format!(
                    "line {}: L2L tunnel group {name} is not named by the peer's address: \
                     ferrogate matches L2L peers by address",
                    head.no
                ));
            }
            config.tunnel_group(name).kind = Some(kind);
            report.mapped(head);
        }
        "general-attributes" if head.words.len() == 3 => {
            report.mapped(head);
            for line in &block.body {
                general_attribute(name, line, config, report);
            }
        }
        "ipsec-attributes" if head.words.len() == 3 => {
            report.mapped(head);
            for line in &block.body {
                match ipsec_attribute(name, line, config, report) {
                    Ok(()) => report.mapped(line),
                    Err(e) => report.unmapped(line, e),
                }
            }
        }
        "webvpn-attributes" | "ppp-attributes" => {
            let reason = format!(
                "`{what}` are not supported (webvpn, AnyConnect and L2TP are not part of ferrogate)"
            );
            report.unmapped(head, reason.clone());
            unmapped_body(block, report, &reason);
        }
        _ => {
            report.unmapped(head, format!("`tunnel-group NAME {what}` is not supported"));
            unmapped_body(block, report, "inside a tunnel-group block that could not be mapped");
        }
    }
}

/// One line of `tunnel-group NAME general-attributes`.
fn general_attribute(name: &str, line: &Line<'_>, config: &mut Config, report: &mut Report) {
    match line.word(0).map(str::to_ascii_lowercase).as_deref() {
        Some("address-pool") if line.words.len() >= 2 => {
            if line.word(1).is_some_and(|w| w.starts_with('(')) {
                report.unmapped(line, "per-interface address pools are not supported");
                return;
            }
            let tg = config.tunnel_group(name);
            tg.address_pools.extend(line.rest(1).iter().map(|p| p.to_string()));
            report.mapped(line);
        }
        Some("default-group-policy") => report.unmapped(
            line,
            "group-policies are not supported: give the remote-access settings (dns_servers, \
             default_domain) in the tunnel group",
        ),
        Some(
            "authentication-server-group"
            | "authorization-server-group"
            | "accounting-server-group",
        ) => report
            .unmapped(line, "AAA servers are not supported (no XAUTH/EAP user authentication)"),
        _ => report.unmapped(
            line,
            format!("general attribute `{}` is not supported", line.words.join(" ")),
        ),
    }
}

/// A pre-shared key as the ASA shows it: cleartext (copied), masked or encrypted (reported).
fn psk(words: &[&str]) -> Result<String, String> {
    match words {
        [k] if k.chars().all(|c| c == '*') => Err("the key is masked (`*****`): take the config \
                                                  from `more system:running-config` to get the \
                                                  keys, or give a *_pre_shared_key_file"
            .to_string()),
        [k] => Ok((*k).to_string()),
        ["8", _] => Err("the key is encrypted with the ASA master passphrase: give it in \
                         cleartext or as a *_pre_shared_key_file"
            .to_string()),
        _ => Err("expected one pre-shared key (keys cannot contain blanks)".to_string()),
    }
}

/// One line of `tunnel-group NAME ipsec-attributes`.
fn ipsec_attribute(
    name: &str,
    line: &Line<'_>,
    config: &mut Config,
    report: &mut Report,
) -> Result<(), String> {
    let lower: Vec<String> = line.words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let tg = config.tunnel_group(name);
    let set_trustpoint = |current: &mut Option<String>, tp: &str| -> Result<(), String> {
        match current {
            Some(old) if old != tp => {
                Err(format!("a ferrogate tunnel group has one trustpoint ({old} is already set)"))
            }
            _ => {
                *current = Some(tp.to_string());
                Ok(())
            }
        }
    };
    match lower.as_slice() {
        ["ikev1", "pre-shared-key", ..] => {
            tg.ikev1_pre_shared_key = Some(psk(&line.words[2..])?);
            report.secret_copied();
            Ok(())
        }
        ["ikev2", "remote-authentication", "pre-shared-key", ..] => {
            let key = psk(&line.words[3..])?;
            tg.ikev2_remote_authentication = Some("pre-shared-key");
            tg.ikev2_remote_pre_shared_key = Some(key);
            report.secret_copied();
            Ok(())
        }
        ["ikev2", "remote-authentication", "certificate"] => {
            tg.ikev2_remote_authentication = Some("certificate");
            Ok(())
        }
        ["ikev2", "local-authentication", "pre-shared-key", ..] => {
            let key = psk(&line.words[3..])?;
            tg.ikev2_local_authentication = Some("pre-shared-key");
            tg.ikev2_local_pre_shared_key = Some(key);
            report.secret_copied();
            Ok(())
        }
        ["ikev2", "local-authentication", "certificate", _] => {
            set_trustpoint(&mut tg.trustpoint, line.words[3])?;
            tg.ikev2_local_authentication = Some("certificate");
            Ok(())
        }
        ["ikev1", "trust-point", _] => set_trustpoint(&mut tg.trustpoint, line.words[2]),
        ["peer-id-validate", v] => {
            tg.peer_id_validate = Some(match *v {
                "req" | "required" => "required",
                "cert" => "cert",
                "nocheck" => "nocheck",
                "if-supported" => "if-supported",
                _ => {
                    return Err(format!(
                        "unknown peer-id-validate `{}` (expected req, cert or nocheck)",
                        line.words[1]
                    ));
                }
            });
            Ok(())
        }
        ["isakmp", "keepalive", "disable"] => {
            tg.keepalive = Some(Keepalive::Disable);
            Ok(())
        }
        ["isakmp", "keepalive", "threshold", "infinite", ..] => Err("`threshold infinite` \
            (answer DPD but never start it) is not supported: give a threshold or disable"
            .to_string()),
        ["isakmp", "keepalive", "threshold", _, "retry", _] => {
            let threshold = number(
                line.word(3),
                KEEPALIVE_THRESHOLD.0,
                KEEPALIVE_THRESHOLD.1,
                "keepalive threshold",
            )?;
            let retry =
                number(line.word(5), KEEPALIVE_RETRY.0, KEEPALIVE_RETRY.1, "keepalive retry")?;
            tg.keepalive =
                Some(Keepalive::Threshold { threshold: threshold as u32, retry: retry as u32 });
            Ok(())
        }
        ["ikev2", "remote-authentication", "eap", ..]
        | ["ikev2", "local-authentication", "eap", ..] => {
            Err("EAP authentication is not supported".to_string())
        }
        ["ikev1", "user-authentication", ..] => {
            Err("XAUTH user authentication is not supported".to_string())
        }
        _ => Err(format!("ipsec attribute `{}` is not supported", line.words.join(" "))),
    }
}

/// `ip local pool NAME A-B [mask M]` and `ipv6 local pool NAME P/len N`.
pub(crate) fn address_pool(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    unmapped_body(block, report, "unexpected indented line under an address pool");
    let result = if head.is(0, "ip") {
        ipv4_pool(head)
    } else {
        match head.rest(3) {
            [name, prefix, count] => parse_prefix(prefix).and_then(|(net, _)| {
                if count.parse::<u32>().is_err() {
                    return Err(format!("`{count}` is not an address count"));
                }
                if !matches!(net, super::objects::Net::Prefix(IpAddr::V6(_), _)) {
                    return Err(format!("`{prefix}` is not an IPv6 prefix"));
                }
                report.note(format!(
                    "line {}: ipv6 local pool {name}: the address count {count} is ignored (one \
                     /128 per client from the prefix)",
                    head.no
                ));
                Ok(AddressPool {
                    name: (*name).to_string(),
                    range: None,
                    prefix: Some(net.to_string()),
                })
            }),
            _ => Err("expected `ipv6 local pool NAME PREFIX/LEN COUNT`".to_string()),
        }
    };
    match result {
        Ok(pool) => {
            report.mapped(head);
            config.address_pools.push(pool);
        }
        Err(e) => report.unmapped(head, e),
    }
}

fn ipv4_pool(head: &Line<'_>) -> Result<AddressPool, String> {
    let (name, range, mask) = match head.rest(3) {
        [name, range] => (name, range, None),
        [name, range, m, mask] if m.eq_ignore_ascii_case("mask") => (name, range, Some(mask)),
        _ => return Err("expected `ip local pool NAME FIRST-LAST [mask MASK]`".to_string()),
    };
    if let Some(mask) = mask {
        mask_to_len(mask)?;
    }
    let (a, b) = range.split_once('-').ok_or_else(|| format!("`{range}` is not FIRST-LAST"))?;
    let first: Ipv4Addr = a.parse().map_err(|_| format!("`{a}` is not an IPv4 address"))?;
    let last: Ipv4Addr = b.parse().map_err(|_| format!("`{b}` is not an IPv4 address"))?;
    if last < first {
        return Err(format!("pool {range} ends before it starts"));
    }
    Ok(AddressPool {
        name: (*name).to_string(),
        range: Some(format!("{first}-{last}")),
        prefix: None,
    })
}
