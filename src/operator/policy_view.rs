//! `show running-config` and `show crypto map`: the running configuration as the appliance
//! holds it (after the last reload), rendered on the appliance's side so the client needs
//! no copy of the file.

use std::fmt::Write as _;

use control::policy::{CryptoMapEntry, KilobyteLifetime, PolicyConfig};
use serde::{Deserialize, Serialize};

/// One crypto map entry as `show crypto map` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CryptoMapSnap {
    pub name: String,
    pub sequence: u16,
    pub match_address: String,
    /// The ACL's rules, ASA style.
    pub acl: Vec<String>,
    pub peers: Vec<String>,
    /// Index into `peers` of the peer tried next (multi-peer failover; 0 after any change).
    pub current_peer: usize,
    pub ike_versions: Vec<String>,
    pub ikev1_transform_sets: Vec<String>,
    pub ikev2_proposals: Vec<String>,
    pub pfs: Option<String>,
    pub lifetime_seconds: u32,
    /// `None`: unlimited.
    pub lifetime_kilobytes: Option<u64>,
    pub connection_type: String,
    pub replay_window: u16,
    pub nat_t: bool,
    pub reverse_route: bool,
    /// The interfaces the map is applied to.
    pub interfaces: Vec<String>,
}

/// The crypto map entries of `policy`, in (name, sequence) order.
pub fn crypto_maps(policy: &PolicyConfig) -> Vec<CryptoMapSnap> {
    policy.crypto_maps.iter().map(|m| snap(policy, m)).collect()
}

fn snap(policy: &PolicyConfig, m: &CryptoMapEntry) -> CryptoMapSnap {
    let acl = policy
        .access_list(&m.match_address)
        .map(|a| {
            a.rules
                .iter()
                .map(|r| {
                    let mut s = format!(
                        "access-list {} extended {} {} {}",
                        a.name, r.action, r.protocol, r.src
                    );
                    if let Some(p) = r.src_port {
                        let _ = write!(s, " {}", control::policy::port_range_text(p));
                    }
                    let _ = write!(s, " {}", r.dst);
                    if let Some(p) = r.dst_port {
                        let _ = write!(s, " {}", control::policy::port_range_text(p));
                    }
                    if let Some(t) = r.icmp_type {
                        let _ = write!(s, " icmp-type {t}");
                    }
                    s
                })
                .collect()
        })
        .unwrap_or_default();
    CryptoMapSnap {
        name: m.name.clone(),
        sequence: m.sequence,
        match_address: m.match_address.clone(),
        acl,
        peers: m.peers.iter().map(ToString::to_string).collect(),
        current_peer: 0,
        ike_versions: m.ike_versions.iter().map(ToString::to_string).collect(),
        ikev1_transform_sets: m.ikev1_transform_sets.clone(),
        ikev2_proposals: m.ikev2_proposals.clone(),
        pfs: m.pfs.map(|g| g.to_string()),
        lifetime_seconds: m.lifetime_seconds,
        lifetime_kilobytes: match m.lifetime_kilobytes {
            KilobyteLifetime::Limited(k) => Some(u64::from(k)),
            KilobyteLifetime::Unlimited => None,
        },
        connection_type: m.connection_type.to_string(),
        replay_window: m.replay_window,
        nat_t: m.nat_t,
        reverse_route: m.reverse_route,
        interfaces: policy
            .crypto_interfaces
            .iter()
            .filter(|i| i.crypto_map.as_deref() == Some(m.name.as_str()))
            .map(|i| i.interface.clone())
            .collect(),
    }
}

/// ASA `show crypto map` text.
pub fn render_crypto_maps(maps: &[CryptoMapSnap]) -> String {
    if maps.is_empty() {
        return "No crypto map is configured\n".into();
    }
    let mut out = String::new();
    for m in maps {
        let _ = writeln!(out, "Crypto Map \"{}\" {} ipsec-isakmp", m.name, m.sequence);
        for p in &m.peers {
            let _ = writeln!(out, "\tPeer = {p}");
        }
        let _ = writeln!(out, "\taccess-list {}", m.match_address);
        for rule in &m.acl {
            let _ = writeln!(out, "\t    {rule}");
        }
        if let Some(p) = m.peers.get(m.current_peer) {
            let _ = writeln!(out, "\tCurrent peer: {p}");
        }
        let kb = m.lifetime_kilobytes.map_or_else(|| "unlimited".into(), |k| k.to_string());
        let _ = writeln!(
            out,
            "\tSecurity association lifetime: {kb} kilobytes/{} seconds",
            m.lifetime_seconds
        );
        let yn = |b: bool| if b { "Y" } else { "N" };
        let _ = writeln!(out, "\tResponder-Only (Y/N): {}", yn(m.connection_type == "answer-only"));
        let _ =
            writeln!(out, "\tOriginate-Only (Y/N): {}", yn(m.connection_type == "originate-only"));
        match &m.pfs {
            Some(g) => {
                let _ = writeln!(out, "\tPFS (Y/N): Y\n\tDH group: {g}");
            }
            None => {
                let _ = writeln!(out, "\tPFS (Y/N): N");
            }
        }
        let _ = writeln!(out, "\tIKE version(s): {}", m.ike_versions.join(", "));
        if !m.ikev1_transform_sets.is_empty() {
            let _ = writeln!(out, "\tTransform sets={{ {} }}", m.ikev1_transform_sets.join(", "));
        }
        if !m.ikev2_proposals.is_empty() {
            let _ = writeln!(out, "\tIKEv2 IPsec Proposals={{ {} }}", m.ikev2_proposals.join(", "));
        }
        let window =
            if m.replay_window == 0 { "disabled".into() } else { m.replay_window.to_string() };
        let _ = writeln!(out, "\tAnti-replay window: {window}");
        let _ = writeln!(out, "\tNAT-T: {}", if m.nat_t { "enabled" } else { "disabled" });
        if m.reverse_route {
            let _ = writeln!(out, "\tReverse Route Injection Enabled");
        }
        let _ = writeln!(out, "\tInterfaces for crypto map {}:", m.name);
        for i in &m.interfaces {
            let _ = writeln!(out, "\t\t{i}");
        }
        out.push('\n');
    }
    out
}

/// The keys whose values are secrets in the appliance's own sections.
const SECRET_KEYS: &[&str] = &["enc_key", "auth_key", "key"];

/// `show running-config`: the appliance's sections as the file has them (keys hidden),
/// then the crypto policy in its canonical form (sorted, defaults explicit, secrets
/// hidden).
pub fn running_config(document: &toml::Table, policy: &PolicyConfig) -> String {
    let mut own = toml::Table::new();
    for (k, v) in document {
        if !control::policy::POLICY_SECTIONS.contains(&k.as_str()) {
            own.insert(k.clone(), hide(v.clone()));
        }
    }
    let mut out = String::from(": ferrogate running configuration (secrets hidden)\n");
    out.push_str(&toml::to_string(&own).unwrap_or_default());
    out.push('\n');
    out.push_str(&policy.to_toml());
    out
}

fn hide(v: toml::Value) -> toml::Value {
    match v {
        toml::Value::Table(t) => toml::Value::Table(
            t.into_iter()
                .map(|(k, v)| {
                    if SECRET_KEYS.contains(&k.as_str()) {
                        (k, toml::Value::String(control::policy::HIDDEN.into()))
                    } else {
                        (k, hide(v))
                    }
                })
                .collect(),
        ),
        toml::Value::Array(a) => toml::Value::Array(a.into_iter().map(hide).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const POLICY: &str = r#"
[[access_list]]
name = "to-b"
rules = [
  { action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.1.0.0/24" },
  { action = "permit", protocol = "tcp", src = "10.0.0.0/24", dst = "10.2.0.0/24", dst_port = "443" },
]
[[ipsec_proposal]]
name = "p-gcm"
encryption = ["aes-gcm-256"]
integrity = ["null"]
[[ikev2_policy]]
priority = 1
encryption = ["aes-gcm-256"]
integrity = ["null"]
prf = ["sha256"]
group = [19]
[[crypto_map]]
name = "outside_map"
sequence = 10
match = "to-b"
peers = ["192.0.2.2", "198.51.100.2"]
ikev2_proposals = ["p-gcm"]
pfs = 19
[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
[[tunnel_group]]
name = "192.0.2.2"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "secret-a"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "secret-b"
[[tunnel_group]]
name = "198.51.100.2"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "secret-c"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "secret-d"
"#;

    fn policy() -> PolicyConfig {
        control::policy::parse(Path::new("t.toml"), POLICY, &["outside"])
            .unwrap_or_else(|d| panic!("{d}"))
            .config
    }

    #[test]
    fn show_crypto_map_in_the_asa_layout() {
        let maps = crypto_maps(&policy());
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].interfaces, ["outside"]);
        let text = render_crypto_maps(&maps);
        for line in [
            "Crypto Map \"outside_map\" 10 ipsec-isakmp",
            "\tPeer = 192.0.2.2",
            "\tPeer = 198.51.100.2",
            "\taccess-list to-b",
            "\t    access-list to-b extended permit ip 10.0.0.0/24 10.1.0.0/24",
            "\t    access-list to-b extended permit tcp 10.0.0.0/24 10.2.0.0/24 443",
            "\tCurrent peer: 192.0.2.2",
            "\tSecurity association lifetime: 4608000 kilobytes/28800 seconds",
            "\tResponder-Only (Y/N): N",
            "\tPFS (Y/N): Y",
            "\tIKEv2 IPsec Proposals={ p-gcm }",
            "\t\toutside",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert_eq!(render_crypto_maps(&[]), "No crypto map is configured\n");
        let json = serde_json::to_string(&maps).unwrap();
        assert_eq!(serde_json::from_str::<Vec<CryptoMapSnap>>(&json).unwrap(), maps);
    }

    #[test]
    fn running_config_hides_every_secret() {
        let doc: toml::Table = format!(
            "[eal]\nfile_prefix = \"x\"\n[[sa]]\nspi = 1\nenc_key = \"0xdeadbeef\"\n\
             auth_key = \"0xfeed\"\n{POLICY}"
        )
        .parse()
        .unwrap();
        let text = running_config(&doc, &policy());
        for secret in ["deadbeef", "feed", "secret-a", "secret-b", "secret-c", "secret-d"] {
            assert!(!text.contains(secret), "{secret} shown in\n{text}");
        }
        assert!(text.contains("enc_key = \"<hidden>\""), "{text}");
        assert!(text.contains("[[crypto_map]]"), "{text}");
        assert!(text.contains("file_prefix = \"x\""), "{text}");
        // The crypto sections appear once: canonical, not as written.
        assert_eq!(text.matches("[[crypto_map]]").count(), 1, "{text}");
    }
}
