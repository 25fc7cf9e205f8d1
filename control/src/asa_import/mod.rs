//! `ferrogate import-asa FILE`: converts the crypto sections of a Cisco ASA running-config
//! into a ferrogate config (the TOML format of the `[[crypto_map]]` & co. sections) and
//! reports every line it cannot map, with the reason.
//!
//! The conversion runs in two passes. The first walks the file's commands (sub-modes are
//! grouped by [`lexer`]) and hands each to the module that maps it; access lists, object
//! definitions and dynamic crypto maps are only collected. The second turns the dynamic crypto
//! maps into dynamic entries (`dynamic_map`), converts the access lists that a crypto map
//! matches (resolving the objects they use), reports the rest, applies global defaults and
//! checks what needs a note. [`emit`] writes the result.
//!
//! The importer never invents key material: pre-shared keys are copied as the ASA shows them
//! (they are the user's own), and trustpoints get placeholder PEM paths plus a note telling
//! the user to export the certificates there.

mod acl;
mod crypto;
mod crypto_map;
mod dynamic_map;
mod emit;
mod interfaces;
mod lexer;
mod model;
mod objects;
mod pki;
mod report;
mod tunnel_group;

use std::collections::HashSet;

use lexer::{Block, Item, lex};
use model::Config;
use objects::Objects;
use report::Report;

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The ferrogate config (TOML). It holds the pre-shared keys of the source: store it with
    /// mode 0600.
    pub toml: String,
    /// Every command that was not mapped, in file order.
    pub unmapped: Vec<Unmapped>,
    /// Advice: what to add or check by hand, and what was interpreted.
    pub notes: Vec<String>,
}

/// A line of the source that has no ferrogate equivalent (or could not be converted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// 1-based line number.
    pub line: usize,
    /// The line, with secrets (keys, passwords) masked.
    pub text: String,
    /// Why it was not mapped.
    pub reason: String,
}

/// Why a line outside the crypto sections is not mapped.
const NOT_CRYPTO: &str = "not a crypto section";

/// Why `cluster group` (and its sub-mode) and the other `cluster` commands are not mapped:
/// the unit's role and the cluster link are the user's to choose, and the VPN mode decides
/// which crypto maps load.
const CLUSTER: &str = "ASA clustering is not converted: configure ferrogate's [cluster] (name, \
                       mode, role, interface, local, peers) by hand; the ASA's site-to-site VPN \
                       is mode = \"centralized\" unless the group sets `vpn-mode distributed`, \
                       which refuses IKEv2 crypto maps with more than one peer";

/// Converts an ASA running-config (named `running-config` in the output's header).
pub fn import(text: &str) -> Import {
    import_named("running-config", text)
}

/// Converts an ASA running-config; `source` (the file name) goes into the output's header.
pub fn import_named(source: &str, text: &str) -> Import {
    let lexed = lex(text);
    let mut report = Report::new(lexed.line_count, &lexed.significant);
    let mut config = Config::default();
    let mut objects = Objects::default();
    let mut acls = Vec::new();
    let mut sa_defaults = crypto_map::SaDefaults::default();
    let mut dynamic = dynamic_map::DynamicMaps::default();

    for item in &lexed.items {
        match item {
            Item::Orphan(line) => {
                report.unmapped(line, "indented line outside any sub-mode (no command above it)")
            }
            Item::Block(block) => dispatch(
                block,
                &mut config,
                &mut objects,
                &mut acls,
                &mut sa_defaults,
                &mut dynamic,
                &mut report,
            ),
        }
    }

    // Dynamic entries first: they add the access lists they match to `referenced`.
    let acl_names: HashSet<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    let any_acls =
        dynamic_map::resolve(dynamic, &lexed.items, &mut config, &acl_names, &mut report);
    let referenced: HashSet<&str> =
        config.crypto_maps.iter().filter_map(|m| m.match_acl.as_deref()).collect();
    let mut failed_refs = Vec::new();
    config.access_lists = acl::convert(&acls, &referenced, &objects, &mut report, &mut failed_refs);
    for m in &config.crypto_maps {
        if let Some(name) = &m.match_acl
            && !acls.iter().any(|a| &a.name == name)
            && !any_acls.iter().any(|a| &a.name == name)
        {
            report.note(format!(
                "line {}: crypto map {} {} matches access list {name}, which is not defined",
                m.line, m.name, m.sequence
            ));
        }
    }
    config.access_lists.extend(any_acls);
    objects.report_unused(&mut report, &failed_refs);
    crypto_map::apply_defaults(&sa_defaults, &mut config, &mut report);
    crypto_map::weak_dh(&mut config, &mut report);
    crypto_map::check_entries(&config, &mut report);
    pki::mark_identities(&mut config, &mut report);
    if !config.interfaces.is_empty() || !config.crypto_interfaces.is_empty() {
        report.note(
            "the [[interface]] tables are not generated: each needs the DPDK port that carries \
             the ASA interface; name them after the ASA nameif so that [[crypto_interface]] \
             finds them",
        );
    }
    if report.secrets_copied() {
        report.note(
            "the output holds the pre-shared keys copied from the ASA: store it with mode 0600 \
             (or move the keys to *_pre_shared_key_file files)",
        );
    }

    // Every command must have been looked at; a line that was not is a converter bug, and the
    // user still hears about it.
    for no in report.pending() {
        if let Some(line) = find_line(&lexed.items, no) {
            report.unmapped(&line, "internal: this command was not examined by the importer");
        }
    }

    let secrets = report.secrets_copied();
    let (unmapped, notes) = report.finish();
    let toml = emit::emit(source, &config, &unmapped, &notes, secrets);
    Import { toml, unmapped, notes }
}

fn find_line<'a>(items: &[Item<'a>], no: usize) -> Option<lexer::Line<'a>> {
    items.iter().find_map(|item| match item {
        Item::Orphan(l) => (l.no == no).then(|| l.clone()),
        Item::Block(b) => b.lines().find(|l| l.no == no).cloned(),
    })
}

/// Hands one top-level command (with its sub-mode) to the module that maps it.
fn dispatch<'a>(
    block: &Block<'a>,
    config: &mut Config,
    objects: &mut Objects<'a>,
    acls: &mut Vec<acl::Source<'a>>,
    sa_defaults: &mut crypto_map::SaDefaults,
    dynamic: &mut dynamic_map::DynamicMaps<'a>,
    report: &mut Report,
) {
    let h = &block.head;
    if h.starts(&["access-list"]) {
        if let Err(e) = acl::collect(acls, h) {
            report.unmapped(h, e);
        }
        crypto::unmapped_body(block, report, "unexpected indented line under an access list");
    } else if h.starts(&["names"])
        || h.starts(&["ASA", "Version"])
        || h.starts(&["end"])
        || h.word(0).is_some_and(|w| w.starts_with("Cryptochecksum"))
    {
        // Header lines: nothing to map.
        report.mapped(h);
        crypto::unmapped_body(block, report, NOT_CRYPTO);
    } else if h.starts(&["name"]) {
        objects.define_name(block, report);
    } else if h.starts(&["object"]) {
        objects.define_object(block, report);
    } else if h.starts(&["object-group"]) {
        objects.define_group(block, report);
    } else if h.starts(&["crypto", "ikev1", "policy"]) || h.starts(&["crypto", "isakmp", "policy"])
    {
        crypto::ikev1_policy(block, config, report);
    } else if h.starts(&["crypto", "ikev2", "policy"]) {
        crypto::ikev2_policy(block, config, report);
    } else if h.starts(&["crypto", "ipsec", "ikev1", "transform-set"]) {
        crypto::transform_set(block, 4, config, report);
    } else if h.starts(&["crypto", "ipsec", "transform-set"]) {
        crypto::transform_set(block, 3, config, report);
    } else if h.starts(&["crypto", "ipsec", "ikev2", "ipsec-proposal"]) {
        crypto::ipsec_proposal(block, config, report);
    } else if h.starts(&["crypto", "ipsec", "security-association", "lifetime"])
        || h.starts(&["crypto", "ipsec", "security-association", "replay"])
    {
        crypto_map::sa_defaults(block, sa_defaults, report);
    } else if h.starts(&["crypto", "map"]) {
        crypto_map::crypto_map(block, config, report);
    } else if h.starts(&["crypto", "dynamic-map"]) {
        dynamic.collect(block, report);
    } else if h.starts(&["crypto", "ikev1", "enable"])
        || h.starts(&["crypto", "isakmp", "enable"])
        || h.starts(&["crypto", "ikev2", "enable"])
        || h.starts(&["crypto", "ipsec", "fragmentation"])
        || h.starts(&["crypto", "ipsec", "df-bit"])
    {
        crypto_map::interface_command(block, config, report);
    } else if h.starts(&["crypto", "isakmp", "identity"])
        || h.starts(&["crypto", "isakmp", "nat-traversal"])
        || h.starts(&["no", "crypto", "isakmp", "nat-traversal"])
        || h.starts(&["crypto", "ikev2", "cookie-challenge"])
        || h.starts(&["crypto", "ikev2", "fragmentation"])
        || h.starts(&["no", "crypto", "ikev2", "fragmentation"])
    {
        crypto::ike_global(block, config, report);
    } else if h.starts(&["crypto", "ca", "trustpoint"]) {
        pki::trustpoint(block, config, report);
    } else if h.starts(&["crypto", "ca", "certificate", "chain"]) {
        pki::certificate_chain(block, report);
    } else if h.starts(&["crypto", "ikev1", "am-disable"])
        || h.starts(&["crypto", "isakmp", "am-disable"])
    {
        report.mapped(h);
        report.note(format!(
            "line {}: aggressive mode disabled: ferrogate never offers IKEv1 aggressive mode",
            h.no
        ));
        crypto::unmapped_body(block, report, "unexpected indented line under a crypto command");
    } else if h.starts(&["crypto"]) || h.starts(&["no", "crypto"]) {
        let reason = format!("`{}` has no ferrogate equivalent", h.rest(0).join(" "));
        report.unmapped(h, reason);
        crypto::unmapped_body(block, report, "inside a crypto command that could not be mapped");
    } else if h.starts(&["ip", "local", "pool"]) || h.starts(&["ipv6", "local", "pool"]) {
        tunnel_group::address_pool(block, config, report);
    } else if h.starts(&["tunnel-group"]) && h.word(1) == Some(tunnel_group::DEFAULT_RA_GROUP) {
        // Converted once the dynamic crypto maps are known (one may answer its clients).
        dynamic.defer_default_ra(block);
    } else if h.starts(&["tunnel-group"]) {
        tunnel_group::tunnel_group(block, config, report);
    } else if h.starts(&["interface"]) {
        interfaces::interface(block, config, report);
    } else if h.starts(&["group-policy"]) {
        let reason = "group-policies are not supported: give the remote-access settings \
                      (dns_servers, default_domain) in the tunnel group";
        report.unmapped(h, reason);
        crypto::unmapped_body(block, report, reason);
    } else if h.starts(&["webvpn"]) || h.starts(&["anyconnect"]) {
        let reason = "webvpn / AnyConnect (SSL VPN) is not supported";
        report.unmapped(h, reason);
        crypto::unmapped_body(block, report, reason);
    } else if h.starts(&["failover"]) || h.starts(&["no", "failover"]) {
        let reason = "ASA failover is not converted: configure ferrogate HA in [ha] (its link, \
                      addresses and key) by hand";
        report.unmapped(h, reason);
        crypto::unmapped_body(block, report, reason);
    } else if h.starts(&["cluster"]) || h.starts(&["no", "cluster"]) {
        report.unmapped(h, CLUSTER);
        crypto::unmapped_body(block, report, CLUSTER);
    } else {
        for line in block.lines() {
            report.unmapped(line, NOT_CRYPTO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_commands_are_reported_as_not_translated() {
        let text = "cluster interface-mode spanned force\n\
                    cluster group vpn-cluster\n \
                    local-unit unit-a\n \
                    cluster-interface Port-channel1 ip 198.19.0.1 255.255.255.0\n \
                    priority 1\n \
                    key s3cret\n \
                    vpn-mode distributed\n \
                    enable\n\
                    no cluster replication delay\n";
        let out = import(text);
        let got: Vec<(usize, &str, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.text.as_str(), u.reason.as_str())).collect();
        let expected: Vec<(usize, &str, &str)> = vec![
            (1, "cluster interface-mode spanned force", CLUSTER),
            (2, "cluster group vpn-cluster", CLUSTER),
            (3, " local-unit unit-a", CLUSTER),
            (4, " cluster-interface Port-channel1 ip 198.19.0.1 255.255.255.0", CLUSTER),
            (5, " priority 1", CLUSTER),
            // The cluster key is masked in the report.
            (6, " key *****", CLUSTER),
            (7, " vpn-mode distributed", CLUSTER),
            (8, " enable", CLUSTER),
            (9, "no cluster replication delay", CLUSTER),
        ];
        assert_eq!(got, expected);
        // Nothing of it reaches the output but the report's comments.
        assert!(!out.toml.contains("s3cret"));
        assert!(!out.toml.lines().any(|l| l.starts_with("[cluster]")), "{}", out.toml);
        assert!(
            out.toml
                .contains("#   2: cluster group vpn-cluster -- ASA clustering is not converted"),
            "{}",
            out.toml
        );
    }
}
