//! Writes the converted configuration as ferrogate TOML.
//!
//! Written by hand rather than through `toml::Table` so that the keys keep the order of the
//! format document and access-list rules stay one inline table per line; every string goes
//! through [`string`], so any input yields valid TOML.

use core::fmt::Write as _;

use super::Unmapped;
use super::model::{Config, Keepalive, Kilobytes, Ports, Protocol, Rule};
use super::pki::{ca_path, cert_path, key_path};

/// A TOML basic string: quotes, backslashes and control characters escaped.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a `#` comment: TOML comments may not hold control characters (tab excepted).
fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() && c != '\t' { ' ' } else { c }).collect()
}

fn strings<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

fn numbers(items: &[u32]) -> String {
    let items: Vec<String> = items.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn ports(p: Ports) -> String {
    if p.first == p.last { p.first.to_string() } else { format!("{}-{}", p.first, p.last) }
}

fn rule(r: &Rule) -> String {
    let mut s =
        format!("{{ action = {}, protocol = ", if r.permit { "\"permit\"" } else { "\"deny\"" });
    match r.protocol {
        Protocol::Named(n) => s.push_str(&string(n)),
        Protocol::Number(n) => s.push_str(&n.to_string()),
    }
    let _ = write!(s, ", src = {}", string(&r.src.to_string()));
    if let Some(p) = r.src_port {
        let _ = write!(s, ", src_port = {}", string(&ports(p)));
    }
    let _ = write!(s, ", dst = {}", string(&r.dst.to_string()));
    if let Some(p) = r.dst_port {
        let _ = write!(s, ", dst_port = {}", string(&ports(p)));
    }
    if let Some(t) = r.icmp_type {
        let _ = write!(s, ", icmp_type = {t}");
    }
    s.push_str(" }");
    s
}

/// Appends `key = value` lines.
struct Table<'o> {
    out: &'o mut String,
}

impl Table<'_> {
    fn raw(&mut self, key: &str, value: impl core::fmt::Display) {
        let _ = writeln!(self.out, "{key} = {value}");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.raw(key, string(value));
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    fn opt_num(&mut self, key: &str, value: Option<impl core::fmt::Display>) {
        if let Some(v) = value {
            self.raw(key, v);
        }
    }
}

fn section<'o>(out: &'o mut String, header: &str) -> Table<'o> {
    let _ = writeln!(out, "\n{header}");
    Table { out }
}

/// The whole file.
pub(crate) fn emit(
    source: &str,
    config: &Config,
    unmapped: &[Unmapped],
    notes: &[String],
    secrets: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# ferrogate config imported by `ferrogate import-asa` from the Cisco ASA \
         running-config {}",
        comment(source)
    );
    let _ = writeln!(
        out,
        "# {} line(s) of the source could not be mapped: they are listed at the end of this file.",
        unmapped.len()
    );
    let _ = writeln!(out, "# Review every section before use.");
    if secrets {
        let _ = writeln!(out, "# This file holds pre-shared keys: keep it mode 0600.");
    }

    let ike = &config.ike;
    if ike.allow_weak_dh
        || ike.identity.is_some()
        || ike.nat_keepalive_seconds.is_some()
        || ike.cookie_threshold_percent.is_some()
        || ike.ikev2_fragmentation.is_some()
        || ike.ikev2_fragmentation_mtu.is_some()
    {
        let mut t = section(&mut out, "[ike]");
        if ike.allow_weak_dh {
            t.raw("allow_weak_dh", true);
        }
        t.opt_str("identity", ike.identity.as_deref());
        t.opt_num("nat_keepalive_seconds", ike.nat_keepalive_seconds);
        t.opt_num("cookie_threshold_percent", ike.cookie_threshold_percent);
        t.opt_num("ikev2_fragmentation", ike.ikev2_fragmentation);
        t.opt_num("ikev2_fragmentation_mtu", ike.ikev2_fragmentation_mtu);
    }

    for acl in &config.access_lists {
        let mut t = section(&mut out, "[[access_list]]");
        t.str("name", &acl.name);
        if acl.rules.is_empty() {
            t.raw("rules", "[]");
        } else {
            let _ = writeln!(t.out, "rules = [");
            for r in &acl.rules {
                let _ = writeln!(t.out, "  {},", rule(r));
            }
            let _ = writeln!(t.out, "]");
        }
    }

    for p in &config.ikev1_policies {
        let mut t = section(&mut out, "[[ikev1_policy]]");
        t.raw("priority", p.priority);
        t.opt_str("authentication", p.authentication);
        t.opt_str("encryption", p.encryption);
        t.opt_str("hash", p.hash);
        t.opt_num("group", p.group);
        t.opt_num("lifetime", p.lifetime);
    }

    for p in &config.ikev2_policies {
        let mut t = section(&mut out, "[[ikev2_policy]]");
        t.raw("priority", p.priority);
        for (key, list) in
            [("encryption", &p.encryption), ("integrity", &p.integrity), ("prf", &p.prf)]
        {
            if !list.is_empty() {
                t.raw(key, strings(list));
            }
        }
        if !p.group.is_empty() {
            t.raw("group", numbers(&p.group));
        }
        t.opt_num("lifetime_seconds", p.lifetime_seconds);
    }

    for ts in &config.transform_sets {
        let mut t = section(&mut out, "[[transform_set]]");
        t.str("name", &ts.name);
        t.str("encryption", ts.encryption);
        t.str("integrity", ts.integrity);
        t.str("mode", if ts.transport { "transport" } else { "tunnel" });
    }

    for p in &config.proposals {
        let mut t = section(&mut out, "[[ipsec_proposal]]");
        t.str("name", &p.name);
        t.raw("encryption", strings(&p.encryption));
        if !p.integrity.is_empty() {
            t.raw("integrity", strings(&p.integrity));
        }
    }

    for m in &config.crypto_maps {
        let mut t = section(&mut out, "[[crypto_map]]");
        t.str("name", &m.name);
        t.raw("sequence", m.sequence);
        // Only imported dynamic entries have a tunnel group (the placeholders of the others
        // are gone).
        if let Some(g) = &m.tunnel_group {
            t.raw("dynamic", true);
            t.str("tunnel_group", g);
        }
        t.opt_str("match", m.match_acl.as_deref());
        if !m.peers.is_empty() {
            t.raw("peers", strings(&m.peers));
        }
        if !m.ikev1_transform_sets.is_empty() {
            t.raw("ikev1_transform_sets", strings(&m.ikev1_transform_sets));
        }
        if !m.ikev2_proposals.is_empty() {
            t.raw("ikev2_proposals", strings(&m.ikev2_proposals));
        }
        t.opt_num("pfs", m.pfs.map(|p| p.0));
        t.opt_num("lifetime_seconds", m.lifetime_seconds);
        match m.lifetime_kilobytes {
            Some(Kilobytes::Limit(k)) => t.raw("lifetime_kilobytes", k),
            Some(Kilobytes::Unlimited) => t.str("lifetime_kilobytes", "unlimited"),
            None => {}
        }
        t.opt_str("connection_type", m.connection_type);
        t.opt_num("replay_window", m.replay_window);
        t.opt_num("nat_t", m.nat_t);
        t.opt_num("reverse_route", m.reverse_route);
    }

    if !config.interfaces.is_empty() {
        let _ = writeln!(
            out,
            "\n# ASA interfaces: add an [[interface]] table (with its DPDK port) for each name used \
             below."
        );
        for i in &config.interfaces {
            let _ = writeln!(
                out,
                "#   {} = ASA {}{}",
                comment(&i.nameif),
                comment(&i.hardware),
                if i.addresses.is_empty() {
                    String::new()
                } else {
                    format!(", {}", comment(&i.addresses.join(", ")))
                }
            );
        }
    }

    for ci in &config.crypto_interfaces {
        let mut t = section(&mut out, "[[crypto_interface]]");
        t.str("interface", &ci.interface);
        t.opt_str("crypto_map", ci.crypto_map.as_deref());
        t.raw("ikev1", ci.ikev1);
        t.raw("ikev2", ci.ikev2);
        t.opt_str("fragmentation", ci.fragmentation);
        t.opt_str("df_bit", ci.df_bit);
    }

    for tp in &config.trustpoints {
        let mut t = section(&mut out, "[[trustpoint]]");
        t.str("name", &tp.name);
        t.raw("ca_certificates", strings(&[ca_path(&tp.name)]));
        if tp.identity {
            t.str("certificate", &cert_path(&tp.name));
            t.str("private_key", &key_path(&tp.name));
        }
    }

    for p in &config.address_pools {
        let mut t = section(&mut out, "[[address_pool]]");
        t.str("name", &p.name);
        t.opt_str("range", p.range.as_deref());
        t.opt_str("prefix", p.prefix.as_deref());
    }

    for tg in &config.tunnel_groups {
        let mut t = section(&mut out, "[[tunnel_group]]");
        t.str("name", &tg.name);
        t.opt_str("type", tg.kind);
        t.opt_str("ikev1_pre_shared_key", tg.ikev1_pre_shared_key.as_deref());
        t.opt_str("ikev2_local_authentication", tg.ikev2_local_authentication);
        t.opt_str("ikev2_local_pre_shared_key", tg.ikev2_local_pre_shared_key.as_deref());
        t.opt_str("ikev2_remote_authentication", tg.ikev2_remote_authentication);
        t.opt_str("ikev2_remote_pre_shared_key", tg.ikev2_remote_pre_shared_key.as_deref());
        t.opt_str("trustpoint", tg.trustpoint.as_deref());
        t.opt_str("peer_id_validate", tg.peer_id_validate);
        match tg.keepalive {
            Some(Keepalive::Disable) => t.str("keepalive", "disable"),
            Some(Keepalive::Threshold { threshold, retry }) => {
                t.raw("keepalive", format!("{{ threshold = {threshold}, retry = {retry} }}"));
            }
            None => {}
        }
        if !tg.address_pools.is_empty() {
            t.raw("address_pools", strings(&tg.address_pools));
        }
    }

    if !notes.is_empty() {
        let _ = writeln!(out, "\n# Import notes:");
        for n in notes {
            let _ = writeln!(out, "#   {}", comment(n));
        }
    }
    if !unmapped.is_empty() {
        let _ = writeln!(out, "\n# Lines not mapped (line: text -- reason):");
        for u in unmapped {
            let _ = writeln!(
                out,
                "#   {}: {} -- {}",
                u.line,
                comment(u.text.trim()),
                comment(&u.reason)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_everything_toml_forbids() {
        for s in
            ["plain", "q\"uote", "back\\slash", "nl\nline", "ctl\u{1}\u{7f}\u{9f}", "tab\t", "ünï"]
        {
            let doc = format!("k = {}\n", string(s));
            let table: toml::Table = toml::from_str(&doc).unwrap();
            assert_eq!(table["k"].as_str(), Some(s), "{doc}");
        }
    }

    #[test]
    fn comments_drop_control_characters() {
        let doc = format!("# {}\nk = 1\n", comment("a\nb\r\u{0}c"));
        let table: toml::Table = toml::from_str(&doc).unwrap();
        assert_eq!(table["k"].as_integer(), Some(1));
    }
}
