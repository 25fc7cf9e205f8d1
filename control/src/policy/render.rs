//! The canonical TOML form of a policy (`show running-config`): sorted lists, every default
//! written out, secrets hidden unless asked for. Loading the output with secrets gives back
//! the same [`PolicyConfig`].

use core::fmt::Write as _;
use std::path::Path;

use super::acl::{AccessList, AclProtocol, port_range_text};
use super::model::{
    ClusterConfig, CryptoMapEntry, HaConfig, Ikev1Phase1Mode, Keepalive, KilobyteLifetime,
    PolicyConfig, PoolRange, Secret, TunnelGroup,
};

/// What secrets look like in the default rendering.
pub const HIDDEN: &str = "<hidden>";

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn qp(p: &Path) -> String {
    q(&p.to_string_lossy())
}

/// `["a", "b"]`.
fn list<I: IntoIterator<Item = String>>(items: I) -> String {
    let v: Vec<String> = items.into_iter().collect();
    format!("[{}]", v.join(", "))
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    list(items.into_iter().map(|s| q(s)))
}

struct Out {
    text: String,
    secrets: bool,
}

impl Out {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }

    fn kv(&mut self, key: &str, value: impl AsRef<str>) {
        let _ = writeln!(self.text, "{key} = {}", value.as_ref());
    }

    fn header(&mut self, h: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.line(h);
    }

    fn secret(&mut self, key: &str, s: &Option<Secret>) {
        match s {
            None => {}
            Some(Secret::Inline(k)) => {
                let v = if self.secrets { q(k) } else { q(HIDDEN) };
                self.kv(key, v);
            }
            Some(Secret::File(p)) => self.kv(&format!("{key}_file"), qp(p)),
        }
    }
}

fn access_list(o: &mut Out, a: &AccessList) {
    o.header("[[access_list]]");
    o.kv("name", q(&a.name));
    o.line("rules = [");
    for r in &a.rules {
        let mut s = format!(
            "  {{ action = {}, protocol = {}, src = {}, dst = {}",
            q(r.action.keyword()),
            match r.protocol {
                AclProtocol::Number(n) => n.to_string(),
                p => q(&p.to_string()),
            },
            q(&r.src.to_string()),
            q(&r.dst.to_string())
        );
        if let Some(p) = r.src_port {
            let _ = write!(s, ", src_port = {}", q(&port_range_text(p)));
        }
        if let Some(p) = r.dst_port {
            let _ = write!(s, ", dst_port = {}", q(&port_range_text(p)));
        }
        if let Some(t) = r.icmp_type {
            let _ = write!(s, ", icmp_type = {t}");
        }
        s.push_str(" },");
        o.line(s);
    }
    o.line("]");
}

fn crypto_map(o: &mut Out, m: &CryptoMapEntry) {
    o.header("[[crypto_map]]");
    o.kv("name", q(&m.name));
    o.kv("sequence", m.sequence.to_string());
    o.kv("match", q(&m.match_address));
    // A dynamic entry names its tunnel group instead of peers (the loader refuses `peers`
    // on it); static entries render as before, without the `dynamic` key.
    if m.dynamic {
        o.kv("dynamic", "true");
        if let Some(g) = &m.tunnel_group {
            o.kv("tunnel_group", q(g));
        }
    } else {
        o.kv("peers", list(m.peers.iter().map(|p| q(&p.to_string()))));
    }
    o.kv("ike_version", list(m.ike_versions.iter().map(|v| q(v.keyword()))));
    o.kv("ikev1_transform_sets", strings(&m.ikev1_transform_sets));
    o.kv("ikev2_proposals", strings(&m.ikev2_proposals));
    if let Some(g) = m.pfs {
        o.kv("pfs", g.to_string());
    }
    o.kv("lifetime_seconds", m.lifetime_seconds.to_string());
    match m.lifetime_kilobytes {
        KilobyteLifetime::Limited(k) => o.kv("lifetime_kilobytes", k.to_string()),
        KilobyteLifetime::Unlimited => o.kv("lifetime_kilobytes", q("unlimited")),
    }
    o.kv("connection_type", q(m.connection_type.keyword()));
    o.kv("replay_window", m.replay_window.to_string());
    o.kv("nat_t", m.nat_t.to_string());
    o.kv("reverse_route", m.reverse_route.to_string());
    // Only the opt-in is written: configurations without it render as before.
    if m.phase1_mode != Ikev1Phase1Mode::Main {
        o.kv("phase1_mode", q(m.phase1_mode.keyword()));
    }
}

fn tunnel_group(o: &mut Out, g: &TunnelGroup) {
    o.header("[[tunnel_group]]");
    o.kv("name", q(&g.name));
    o.kv("type", q(g.kind.keyword()));
    o.secret("ikev1_pre_shared_key", &g.ikev1_pre_shared_key);
    if let Some(a) = g.ikev2_local_authentication {
        o.kv("ikev2_local_authentication", q(a.keyword()));
    }
    o.secret("ikev2_local_pre_shared_key", &g.ikev2_local_pre_shared_key);
    if let Some(a) = g.ikev2_remote_authentication {
        o.kv("ikev2_remote_authentication", q(a.keyword()));
    }
    o.secret("ikev2_remote_pre_shared_key", &g.ikev2_remote_pre_shared_key);
    if let Some(t) = &g.trustpoint {
        o.kv("trustpoint", q(t));
    }
    o.kv("peer_id_validate", q(g.peer_id_validate.keyword()));
    match g.keepalive {
        Keepalive::Disabled => o.kv("keepalive", q("disable")),
        Keepalive::Enabled { threshold, retry } => {
            o.kv("keepalive", format!("{{ threshold = {threshold}, retry = {retry} }}"))
        }
    }
    if !g.address_pools.is_empty() {
        o.kv("address_pools", strings(&g.address_pools));
    }
    if !g.dns_servers.is_empty() {
        o.kv("dns_servers", list(g.dns_servers.iter().map(|a| q(&a.to_string()))));
    }
    if let Some(d) = &g.default_domain {
        o.kv("default_domain", q(d));
    }
}

fn ha(o: &mut Out, h: &HaConfig) {
    o.header("[ha]");
    o.kv("role", q(h.role.keyword()));
    o.kv("interface", q(&h.interface));
    o.kv("local", q(&h.local.to_string()));
    o.kv("peer", q(&h.peer.to_string()));
    match &h.key {
        Secret::Inline(k) => o.kv("key", if o.secrets { q(k) } else { q(HIDDEN) }),
        Secret::File(p) => o.kv("key_file", qp(p)),
    }
    o.kv("poll_ms", h.poll_ms.to_string());
    o.kv("hold_ms", h.hold_ms.to_string());
    o.kv("preempt_seconds", h.preempt_seconds.to_string());
}

fn cluster(o: &mut Out, c: &ClusterConfig) {
    o.header("[cluster]");
    o.kv("name", q(&c.name));
    o.kv("mode", q(c.mode.keyword()));
    o.kv("role", q(c.role.keyword()));
    o.kv("interface", q(&c.interface));
    o.kv("local", q(&c.local.to_string()));
    o.kv("peers", list(c.peers.iter().map(|p| q(&p.to_string()))));
}

impl PolicyConfig {
    /// The canonical TOML form with secrets shown as `"<hidden>"`.
    pub fn to_toml(&self) -> String {
        self.render(false)
    }

    /// The canonical TOML form including secrets (for writing a config file back).
    pub fn to_toml_with_secrets(&self) -> String {
        self.render(true)
    }

    /// The canonical TOML form; `secrets` includes inline keys.
    pub fn render(&self, secrets: bool) -> String {
        let mut o = Out { text: String::new(), secrets };
        let g = &self.ike;
        o.header("[ike]");
        o.kv("allow_weak_dh", g.allow_weak_dh.to_string());
        o.kv("identity", q(g.identity.keyword()));
        o.kv("nat_keepalive_seconds", g.nat_keepalive_seconds.to_string());
        o.kv("retransmit_interval_ms", g.retransmit_interval_ms.to_string());
        o.kv("retransmit_tries", g.retransmit_tries.to_string());
        o.kv("dpd_interval_seconds", g.dpd_interval_seconds.to_string());
        o.kv("dpd_retry_seconds", g.dpd_retry_seconds.to_string());
        o.kv("cookie_threshold_percent", g.cookie_threshold_percent.to_string());
        o.kv("max_half_open", g.max_half_open.to_string());
        o.kv("max_half_open_per_peer", g.max_half_open_per_peer.to_string());
        o.kv("single_sa", g.single_sa.to_string());
        if g.ikev1_aggressive_mode {
            o.kv("ikev1_aggressive_mode", "true");
        }
        o.kv("ikev2_fragmentation", g.ikev2_fragmentation.to_string());
        o.kv("ikev2_fragmentation_mtu", g.ikev2_fragmentation_mtu.to_string());
        for a in &self.access_lists {
            access_list(&mut o, a);
        }
        for p in &self.ikev1_policies {
            o.header("[[ikev1_policy]]");
            o.kv("priority", p.priority.to_string());
            o.kv("authentication", q(p.authentication.keyword()));
            o.kv("encryption", q(p.encryption.keyword()));
            o.kv("hash", q(p.hash.keyword()));
            o.kv("group", p.group.to_string());
            o.kv("lifetime", p.lifetime_seconds.to_string());
        }
        for p in &self.ikev2_policies {
            o.header("[[ikev2_policy]]");
            o.kv("priority", p.priority.to_string());
            o.kv("encryption", list(p.encryption.iter().map(|e| q(e.keyword()))));
            o.kv("integrity", list(p.integrity.iter().map(|e| q(e.keyword()))));
            o.kv("prf", list(p.prf.iter().map(|e| q(e.keyword()))));
            o.kv("group", list(p.groups.iter().map(|g| g.to_string())));
            o.kv("lifetime_seconds", p.lifetime_seconds.to_string());
        }
        for t in &self.transform_sets {
            o.header("[[transform_set]]");
            o.kv("name", q(&t.name));
            o.kv("encryption", q(t.encryption.transform_set_keyword().unwrap_or_default()));
            o.kv("integrity", q(t.integrity.transform_set_keyword()));
            o.kv("mode", q(t.mode.keyword()));
        }
        for p in &self.ipsec_proposals {
            o.header("[[ipsec_proposal]]");
            o.kv("name", q(&p.name));
            o.kv("encryption", list(p.encryption.iter().map(|e| q(e.keyword()))));
            o.kv("integrity", list(p.integrity.iter().map(|e| q(e.keyword()))));
        }
        for m in &self.crypto_maps {
            crypto_map(&mut o, m);
        }
        for c in &self.crypto_interfaces {
            o.header("[[crypto_interface]]");
            o.kv("interface", q(&c.interface));
            if let Some(m) = &c.crypto_map {
                o.kv("crypto_map", q(m));
            }
            o.kv("ikev1", c.ikev1.to_string());
            o.kv("ikev2", c.ikev2.to_string());
            o.kv("fragmentation", q(c.fragmentation.keyword()));
            o.kv("df_bit", q(c.df_bit.keyword()));
        }
        for t in &self.trustpoints {
            o.header("[[trustpoint]]");
            o.kv("name", q(&t.name));
            o.kv("ca_certificates", list(t.ca_certificates.iter().map(|p| qp(p))));
            if let Some(c) = &t.certificate {
                o.kv("certificate", qp(c));
            }
            if let Some(k) = &t.private_key {
                o.kv("private_key", qp(k));
            }
        }
        for p in &self.address_pools {
            o.header("[[address_pool]]");
            o.kv("name", q(&p.name));
            match p.range {
                PoolRange::V4 { .. } => o.kv("range", q(&p.range.to_string())),
                PoolRange::V6(_) => o.kv("prefix", q(&p.range.to_string())),
            }
        }
        for g in &self.tunnel_groups {
            tunnel_group(&mut o, g);
        }
        for u in &self.users {
            o.header("[[user]]");
            o.kv("name", q(&u.name));
            o.secret("password", &Some(u.password.clone()));
        }
        if let Some(h) = &self.ha {
            ha(&mut o, h);
        }
        if let Some(c) = &self.cluster {
            cluster(&mut o, c);
        }
        let m = &self.management;
        if m.metrics.is_some() || m.user.is_some() || m.group.is_some() {
            o.header("[management]");
            if let Some(a) = m.metrics {
                o.kv("metrics", q(&a.to_string()));
            }
            if let Some(u) = &m.user {
                o.kv("user", q(u));
            }
            if let Some(g) = &m.group {
                o.kv("group", q(g));
            }
        }
        o.text
    }
}
