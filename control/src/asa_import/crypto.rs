//! IKE policies, IKEv1 transform sets, IKEv2 IPsec proposals and the global IKE settings.
//!
//! Algorithm keywords are the ASA's, lower case; the ferrogate format uses the same words.

use super::lexer::{Block, Line};
use super::model::{Config, Ikev1Policy, Ikev2Policy, IpsecProposal, TransformSet};
use super::report::Report;

/// `crypto ikev1 policy` `authentication`.
pub(crate) const IKEV1_AUTHENTICATION: &[&str] = &["pre-share", "rsa-sig"];
/// `crypto ikev1 policy` `encryption`.
pub(crate) const IKEV1_ENCRYPTION: &[&str] = &["des", "3des", "aes", "aes-192", "aes-256"];
/// `crypto ikev1 policy` `hash`.
pub(crate) const IKEV1_HASH: &[&str] = &["md5", "sha", "sha256", "sha384", "sha512"];
/// IKEv1 Diffie-Hellman groups (RFC 2409, RFC 3526, RFC 5903, RFC 5114).
pub(crate) const IKEV1_GROUPS: &[u32] = &[1, 2, 5, 14, 15, 16, 19, 20, 21, 24];
/// `crypto ikev2 policy` `encryption`.
pub(crate) const IKEV2_ENCRYPTION: &[&str] = &[
    "des",
    "3des",
    "aes",
    "aes-192",
    "aes-256",
    "aes-gcm",
    "aes-gcm-192",
    "aes-gcm-256",
    "chacha20-poly1305",
];
/// `crypto ikev2 policy` `integrity`.
pub(crate) const IKEV2_INTEGRITY: &[&str] = &["md5", "sha", "sha256", "sha384", "sha512", "null"];
/// `crypto ikev2 policy` `prf`.
pub(crate) const IKEV2_PRF: &[&str] = &["md5", "sha", "sha256", "sha384", "sha512"];
/// IKEv2 Diffie-Hellman groups (RFC 7296 §3.3.2 registry; 31 = Curve25519, RFC 8031).
pub(crate) const IKEV2_GROUPS: &[u32] = &[1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31];
/// IKEv1 transform-set encryption transforms.
pub(crate) const ESP_ENCRYPTION: &[&str] =
    &["esp-des", "esp-3des", "esp-aes", "esp-aes-192", "esp-aes-256", "esp-null"];
/// IKEv1 transform-set integrity transforms.
pub(crate) const ESP_INTEGRITY: &[&str] = &[
    "esp-md5-hmac",
    "esp-sha-hmac",
    "esp-sha256-hmac",
    "esp-sha384-hmac",
    "esp-sha512-hmac",
    "esp-none",
];
/// `crypto ipsec ikev2 ipsec-proposal` `protocol esp encryption`.
pub(crate) const PROPOSAL_ENCRYPTION: &[&str] = &[
    "des",
    "3des",
    "aes",
    "aes-192",
    "aes-256",
    "aes-gcm",
    "aes-gcm-192",
    "aes-gcm-256",
    "aes-gmac",
    "aes-gmac-192",
    "aes-gmac-256",
    "chacha20-poly1305",
    "null",
];
/// `crypto ipsec ikev2 ipsec-proposal` `protocol esp integrity`.
pub(crate) const PROPOSAL_INTEGRITY: &[&str] =
    &["md5", "sha-1", "sha-256", "sha-384", "sha-512", "null"];
/// Diffie-Hellman groups ferrogate refuses unless `[ike] allow_weak_dh = true`.
pub(crate) const WEAK_GROUPS: &[u32] = &[1, 2, 5, 24];

/// Lifetimes the ASA accepts for IKE and IPsec SAs, in seconds.
pub(crate) const LIFETIME_SECONDS: (u64, u64) = (120, 2_147_483_647);

/// Maps an ASA keyword (case-insensitive) to the ferrogate keyword.
pub(crate) fn keyword(
    table: &[&'static str],
    word: &str,
    what: &str,
) -> Result<&'static str, String> {
    table
        .iter()
        .find(|k| k.eq_ignore_ascii_case(word))
        .copied()
        .ok_or_else(|| format!("unknown {what} `{word}` (expected one of: {})", table.join(" ")))
}

/// Maps every word of a list; one unknown word rejects the line, since dropping it would
/// silently change what is negotiated.
pub(crate) fn keywords(
    table: &[&'static str],
    words: &[&str],
    what: &str,
) -> Result<Vec<&'static str>, String> {
    if words.is_empty() {
        return Err(format!("no {what} given"));
    }
    words.iter().map(|w| keyword(table, w, what)).collect()
}

/// A number within `lo..=hi`.
pub(crate) fn number(word: Option<&str>, lo: u64, hi: u64, what: &str) -> Result<u64, String> {
    let word = word.ok_or_else(|| format!("no {what} given"))?;
    match word.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{what} `{word}` is not a number in {lo}..{hi}")),
    }
}

/// A Diffie-Hellman group number from `table`.
pub(crate) fn group(word: &str, table: &[u32]) -> Result<u32, String> {
    word.parse::<u32>().ok().filter(|g| table.contains(g)).ok_or_else(|| {
        let list: Vec<String> = table.iter().map(u32::to_string).collect();
        format!("unknown Diffie-Hellman group `{word}` (expected one of: {})", list.join(" "))
    })
}

/// Reports every body line of a block with one reason.
pub(crate) fn unmapped_body(block: &Block<'_>, report: &mut Report, reason: &str) {
    for line in &block.body {
        report.unmapped(line, reason.to_string());
    }
}

/// Reports a body line that no handler knows.
fn unknown_sub_command(line: &Line<'_>, report: &mut Report, mode: &str) {
    report.unmapped(line, format!("`{}` is not supported in {mode}", line.words.join(" ")));
}

/// `crypto ikev1 policy N` (also the pre-8.4 `crypto isakmp policy N`) with ` authentication`,
/// ` encryption`, ` hash`, ` group`, ` lifetime`.
pub(crate) fn ikev1_policy(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    let priority = match number(head.word(3), 1, 65535, "priority") {
        Ok(p) => p as u32,
        Err(e) => {
            report.unmapped(head, e);
            unmapped_body(block, report, "inside an IKEv1 policy that could not be mapped");
            return;
        }
    };
    report.mapped(head);
    let mut policy = Ikev1Policy { line: head.no, priority, ..Default::default() };
    for line in &block.body {
        let arg = line.word(1).unwrap_or_default();
        let result = match line.word(0).map(str::to_ascii_lowercase).as_deref() {
            Some("authentication") if line.words.len() == 2 => {
                keyword(IKEV1_AUTHENTICATION, arg, "IKEv1 authentication")
                    .map(|k| policy.authentication = Some(k))
            }
            Some("encryption") if line.words.len() == 2 => {
                keyword(IKEV1_ENCRYPTION, arg, "IKEv1 encryption")
                    .map(|k| policy.encryption = Some(k))
            }
            Some("hash") if line.words.len() == 2 => {
                keyword(IKEV1_HASH, arg, "IKEv1 hash").map(|k| policy.hash = Some(k))
            }
            Some("group") if line.words.len() == 2 => {
                group(arg, IKEV1_GROUPS).map(|g| policy.group = Some(g))
            }
            Some("lifetime") if arg.eq_ignore_ascii_case("none") => {
                Err("`lifetime none` (no rekeying) is not supported: give a lifetime in seconds"
                    .to_string())
            }
            Some("lifetime") if line.words.len() == 2 => {
                number(Some(arg), LIFETIME_SECONDS.0, LIFETIME_SECONDS.1, "lifetime")
                    .map(|n| policy.lifetime = Some(n))
            }
            _ => Err(format!("`{}` is not supported in an IKEv1 policy", line.words.join(" "))),
        };
        match result {
            Ok(()) => report.mapped(line),
            Err(e) => report.unmapped(line, e),
        }
    }
    let missing: Vec<&str> = [
        ("authentication", policy.authentication.is_none()),
        ("encryption", policy.encryption.is_none()),
        ("hash", policy.hash.is_none()),
        ("group", policy.group.is_none()),
        ("lifetime", policy.lifetime.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        report.note(format!(
            "line {}: IKEv1 policy {priority} gives no {}: the ASA default depends on its software \
             version, so the value is left out; add it to [[ikev1_policy]] priority {priority}",
            head.no,
            missing.join(", ")
        ));
    }
    config.ikev1_policies.push(policy);
}

/// `crypto ikev2 policy N` with ` encryption`, ` integrity`, ` group`, ` prf`,
/// ` lifetime seconds N`.
pub(crate) fn ikev2_policy(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    let priority = match number(head.word(3), 1, 65535, "priority") {
        Ok(p) => p as u32,
        Err(e) => {
            report.unmapped(head, e);
            unmapped_body(block, report, "inside an IKEv2 policy that could not be mapped");
            return;
        }
    };
    report.mapped(head);
    let mut policy = Ikev2Policy { line: head.no, priority, ..Default::default() };
    for line in &block.body {
        let args = line.rest(1);
        let result = match line.word(0).map(str::to_ascii_lowercase).as_deref() {
            Some("encryption") => {
                keywords(IKEV2_ENCRYPTION, args, "IKEv2 encryption").map(|k| policy.encryption = k)
            }
            Some("integrity") => {
                keywords(IKEV2_INTEGRITY, args, "IKEv2 integrity").map(|k| policy.integrity = k)
            }
            Some("prf") => keywords(IKEV2_PRF, args, "IKEv2 prf").map(|k| policy.prf = k),
            Some("group") if !args.is_empty() => args
                .iter()
                .map(|g| group(g, IKEV2_GROUPS))
                .collect::<Result<Vec<_>, _>>()
                .map(|g| policy.group = g),
            Some("lifetime") if line.is(1, "seconds") && line.words.len() == 3 => {
                number(line.word(2), LIFETIME_SECONDS.0, LIFETIME_SECONDS.1, "lifetime")
                    .map(|n| policy.lifetime_seconds = Some(n))
            }
            _ => Err(format!("`{}` is not supported in an IKEv2 policy", line.words.join(" "))),
        };
        match result {
            Ok(()) => report.mapped(line),
            Err(e) => report.unmapped(line, e),
        }
    }
    let missing: Vec<&str> = [
        ("encryption", policy.encryption.is_empty()),
        ("integrity", policy.integrity.is_empty()),
        ("group", policy.group.is_empty()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        report.note(format!(
            "line {}: IKEv2 policy {priority} gives no {}: add it to [[ikev2_policy]] priority \
             {priority}",
            head.no,
            missing.join(", ")
        ));
    }
    config.ikev2_policies.push(policy);
}

/// `crypto ipsec ikev1 transform-set NAME ENC [INTEG]` and
/// `crypto ipsec ikev1 transform-set NAME mode transport|tunnel` (also the pre-8.4
/// `crypto ipsec transform-set`). `name_at` is the index of NAME.
pub(crate) fn transform_set(
    block: &Block<'_>,
    name_at: usize,
    config: &mut Config,
    report: &mut Report,
) {
    let head = &block.head;
    unmapped_body(block, report, "unexpected indented line under a transform set");
    let Some(name) = head.word(name_at) else {
        report.unmapped(head, "expected `crypto ipsec ikev1 transform-set NAME TRANSFORMS`");
        return;
    };
    let args = head.rest(name_at + 1);
    if args.first().is_some_and(|a| a.eq_ignore_ascii_case("mode")) {
        let transport = match args.get(1).map(|m| m.to_ascii_lowercase()).as_deref() {
            Some("transport") if args.len() == 2 => true,
            Some("tunnel") if args.len() == 2 => false,
            _ => {
                report.unmapped(head, "expected `mode transport` or `mode tunnel`");
                return;
            }
        };
        match config.transform_sets.iter_mut().find(|t| t.name == name) {
            Some(ts) => {
                ts.transport = transport;
                report.mapped(head);
            }
            None => report.unmapped(head, format!("transform set {name} is not defined above")),
        }
        return;
    }
    let mut encryption = None;
    let mut integrity = None;
    for a in args {
        if let Ok(e) = keyword(ESP_ENCRYPTION, a, "") {
            if encryption.replace(e).is_some() {
                report.unmapped(head, "a transform set takes one encryption transform");
                return;
            }
        } else if let Ok(i) = keyword(ESP_INTEGRITY, a, "") {
            if integrity.replace(i).is_some() {
                report.unmapped(head, "a transform set takes one integrity transform");
                return;
            }
        } else {
            report.unmapped(
                head,
                format!(
                    "unknown transform `{a}` (expected one of: {} {})",
                    ESP_ENCRYPTION.join(" "),
                    ESP_INTEGRITY.join(" ")
                ),
            );
            return;
        }
    }
    let Some(encryption) = encryption else {
        report.unmapped(head, "a transform set needs an encryption transform (esp-null for none)");
        return;
    };
    let integrity = integrity.unwrap_or_else(|| {
        report.note(format!(
            "line {}: transform set {name} has no integrity transform: written as esp-none",
            head.no
        ));
        "esp-none"
    });
    report.mapped(head);
    match config.transform_sets.iter_mut().find(|t| t.name == name) {
        // A second definition replaces the transforms, as on the ASA.
        Some(ts) => {
            ts.encryption = encryption;
            ts.integrity = integrity;
        }
        None => config.transform_sets.push(TransformSet {
            name: name.to_string(),
            encryption,
            integrity,
            transport: false,
        }),
    }
}

/// `crypto ipsec ikev2 ipsec-proposal NAME` with ` protocol esp encryption ...` and
/// ` protocol esp integrity ...`.
pub(crate) fn ipsec_proposal(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    let Some(name) = head.word(4).filter(|_| head.words.len() == 5) else {
        report.unmapped(head, "expected `crypto ipsec ikev2 ipsec-proposal NAME`");
        unmapped_body(block, report, "inside an IPsec proposal that could not be mapped");
        return;
    };
    report.mapped(head);
    let mut proposal = IpsecProposal { name: name.to_string(), ..Default::default() };
    for line in &block.body {
        let result = if line.starts(&["protocol", "esp", "encryption"]) {
            keywords(PROPOSAL_ENCRYPTION, line.rest(3), "ESP encryption")
                .map(|k| proposal.encryption = k)
        } else if line.starts(&["protocol", "esp", "integrity"]) {
            keywords(PROPOSAL_INTEGRITY, line.rest(3), "ESP integrity")
                .map(|k| proposal.integrity = k)
        } else {
            unknown_sub_command(line, report, "an IPsec proposal");
            continue;
        };
        match result {
            Ok(()) => report.mapped(line),
            Err(e) => report.unmapped(line, e),
        }
    }
    if proposal.encryption.is_empty() {
        report.note(format!(
            "line {}: IPsec proposal {name} has no encryption: ferrogate drops it and removes the \
             crypto-map references to it (as the ASA does)",
            head.no
        ));
    }
    config.proposals.push(proposal);
}

/// `crypto ikev2 fragmentation [mtu N | preferred-method ietf|cisco]`: RFC 7383 is the one
/// method ferrogate speaks; an MTU the ASA allows below ferrogate's 576 is raised to it.
fn ikev2_fragmentation(
    head: &Line<'_>,
    config: &mut Config,
    report: &mut Report,
) -> Result<(), String> {
    let word = |i| head.word(i).map(str::to_ascii_lowercase);
    match (head.words.len(), word(3).as_deref()) {
        (3, None) => {
            config.ike.ikev2_fragmentation = Some(true);
            Ok(())
        }
        (5, Some("mtu")) => {
            let n = number(head.word(4), 68, 1500, "IKEv2 fragmentation MTU")?;
            let mtu = if n < 576 {
                report.note(format!(
                    "line {}: IKEv2 fragmentation MTU {n} raised to 576, ferrogate's smallest",
                    head.no
                ));
                576
            } else {
                n as u32
            };
            config.ike.ikev2_fragmentation = Some(true);
            config.ike.ikev2_fragmentation_mtu = Some(mtu);
            Ok(())
        }
        (5, Some("preferred-method")) => match word(4).as_deref() {
            Some("ietf") => Ok(()),
            Some("cisco") => {
                report.note(format!(
                    "line {}: Cisco proprietary IKEv2 fragmentation is not supported; \
                     ferrogate fragments per RFC 7383 (the `ietf` method)",
                    head.no
                ));
                Ok(())
            }
            _ => Err("expected `preferred-method ietf|cisco`".to_string()),
        },
        _ => Err("expected `crypto ikev2 fragmentation [mtu N | preferred-method ietf|cisco]`"
            .to_string()),
    }
}

/// The global IKE commands: `crypto isakmp identity`, `crypto isakmp nat-traversal N`,
/// `no crypto isakmp nat-traversal`, `crypto ikev2 cookie-challenge N`, `[no] crypto ikev2
/// fragmentation [mtu N | preferred-method ietf|cisco]`.
pub(crate) fn ike_global(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    unmapped_body(block, report, "unexpected indented line under a global IKE command");
    let result = if head.starts(&["crypto", "isakmp", "identity"]) {
        match head.word(3).map(str::to_ascii_lowercase).as_deref() {
            Some(id @ ("address" | "hostname" | "auto")) if head.words.len() == 4 => {
                config.ike.identity = Some(id.to_string());
                Ok(())
            }
            Some("key-id") => Err("`identity key-id` is not supported (expected address, \
                                   hostname or auto)"
                .to_string()),
            _ => Err("expected `crypto isakmp identity address|hostname|auto`".to_string()),
        }
    } else if head.starts(&["crypto", "isakmp", "nat-traversal"]) {
        let n = if head.words.len() == 3 {
            Ok(20)
        } else {
            number(head.word(3), 10, 3600, "NAT keepalive")
        };
        n.map(|n| config.ike.nat_keepalive_seconds = Some(n as u32))
    } else if head.starts(&["no", "crypto", "isakmp", "nat-traversal"]) {
        config.ike.nat_keepalive_seconds = Some(0);
        report.note(format!(
            "line {}: NAT-T keepalives disabled (nat_keepalive_seconds = 0); NAT traversal itself \
             stays on unless a crypto map sets nat_t = false",
            head.no
        ));
        Ok(())
    } else if head.starts(&["no", "crypto", "ikev2", "fragmentation"]) {
        if head.words.len() == 4 {
            config.ike.ikev2_fragmentation = Some(false);
            Ok(())
        } else {
            Err("expected `no crypto ikev2 fragmentation`".to_string())
        }
    } else if head.starts(&["crypto", "ikev2", "fragmentation"]) {
        ikev2_fragmentation(head, config, report)
    } else if head.starts(&["crypto", "ikev2", "cookie-challenge"]) {
        number(head.word(3).filter(|_| head.words.len() == 4), 0, 100, "cookie-challenge threshold")
            .map(|n| config.ike.cookie_threshold_percent = Some(n as u32))
    } else {
        Err("not a global IKE command".to_string())
    };
    match result {
        Ok(()) => report.mapped(head),
        Err(e) => report.unmapped(head, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asa_import::lexer::{Item, lex};

    fn run(text: &str, f: fn(&Block<'_>, &mut Config, &mut Report)) -> (Config, Report) {
        let lexed = lex(text);
        let mut report = Report::new(lexed.line_count, &lexed.significant);
        let mut config = Config::default();
        for item in &lexed.items {
            if let Item::Block(b) = item {
                f(b, &mut config, &mut report);
            }
        }
        (config, report)
    }

    #[test]
    fn keywords_map_case_insensitively_and_reject_unknowns() {
        assert_eq!(keyword(ESP_ENCRYPTION, "ESP-AES-256", "x"), Ok("esp-aes-256"));
        assert_eq!(
            keyword(PROPOSAL_INTEGRITY, "sha256", "ESP integrity"),
            Err("unknown ESP integrity `sha256` (expected one of: md5 sha-1 sha-256 sha-384 \
                 sha-512 null)"
                .to_string())
        );
        assert_eq!(
            keywords(IKEV2_INTEGRITY, &["sha256", "sha384"], "x"),
            Ok(vec!["sha256", "sha384"])
        );
        assert!(keywords(IKEV2_INTEGRITY, &["sha256", "sha-384"], "x").is_err());
        assert_eq!(group("31", IKEV2_GROUPS), Ok(31));
        assert!(group("31", IKEV1_GROUPS).is_err());
    }

    #[test]
    fn ikev2_policy_sub_mode() {
        let text = "crypto ikev2 policy 1\n encryption aes-gcm-256 aes-256\n integrity null\n group 21 20\n prf sha384\n lifetime seconds 86400\n bogus 1\n";
        let (config, report) = run(text, ikev2_policy);
        let p = &config.ikev2_policies[0];
        assert_eq!(p.priority, 1);
        assert_eq!(p.encryption, ["aes-gcm-256", "aes-256"]);
        assert_eq!(p.integrity, ["null"]);
        assert_eq!(p.group, [21, 20]);
        assert_eq!(p.prf, ["sha384"]);
        assert_eq!(p.lifetime_seconds, Some(86400));
        let u = report.unmapped_list();
        assert_eq!(u.len(), 1);
        assert_eq!(
            (u[0].line, u[0].reason.as_str()),
            (7, "`bogus 1` is not supported in an IKEv2 policy")
        );
    }

    #[test]
    fn ikev1_policy_reports_bad_values_and_missing_keys() {
        let text = "crypto ikev1 policy 10\n authentication crack\n encryption aes-256\n hash sha\n group 14\n lifetime 60\n";
        let (config, report) = run(text, ikev1_policy);
        let p = &config.ikev1_policies[0];
        assert_eq!(
            (p.encryption, p.hash, p.group, p.lifetime),
            (Some("aes-256"), Some("sha"), Some(14), None)
        );
        let reasons: Vec<&str> = report.unmapped_list().iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "unknown IKEv1 authentication `crack` (expected one of: pre-share rsa-sig)",
                "lifetime `60` is not a number in 120..2147483647"
            ]
        );
        assert!(
            report.notes()[0].contains("gives no authentication, lifetime"),
            "{:?}",
            report.notes()
        );
    }

    #[test]
    fn transform_sets_and_transport_mode() {
        let text = "crypto ipsec ikev1 transform-set ts1 esp-aes-256 esp-sha-hmac\n\
                    crypto ipsec ikev1 transform-set ts1 mode transport\n\
                    crypto ipsec ikev1 transform-set ts2 esp-3des\n\
                    crypto ipsec ikev1 transform-set ts3 esp-aes-256 esp-gcm\n\
                    crypto ipsec ikev1 transform-set ts9 mode transport\n";
        let (config, report) = run(text, |b, c, r| transform_set(b, 4, c, r));
        let ts: Vec<_> = config
            .transform_sets
            .iter()
            .map(|t| (t.name.as_str(), t.encryption, t.integrity, t.transport))
            .collect();
        assert_eq!(
            ts,
            [("ts1", "esp-aes-256", "esp-sha-hmac", true), ("ts2", "esp-3des", "esp-none", false)]
        );
        let lines: Vec<usize> = report.unmapped_list().iter().map(|u| u.line).collect();
        assert_eq!(lines, [4, 5]);
        assert_eq!(report.unmapped_list()[1].reason, "transform set ts9 is not defined above");
    }
}
