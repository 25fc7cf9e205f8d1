//! Loading a complete config, canonical ordering, warnings, diff, rendering and robustness
//! of `control::policy`.

/// One module named `policy` so that `cargo test -p control policy` selects these tests.
mod policy {

    use std::net::{IpAddr, Ipv4Addr};
    use std::path::Path;

    use control::policy::{
        AclAction, AclProtocol, AddressSpec, ConnectionType, DhGroup, EspEncryption, EspIntegrity,
        IkeEncryption, IkeIntegrity, IkeVersion, Ikev1Phase1Mode, Keepalive, KilobyteLifetime,
        Loaded, MapKey, PolicyConfig, PoolRange, Prf, Secret, parse,
    };
    use dataplane::spd::{Action, PolicyId, PortRange};
    use proptest::prelude::*;

    const INTERFACES: &[&str] = &["outside", "inside", "ha"];

    /// The format document's example, made valid: the remote-access keys moved to a
    /// remote-access group, a tunnel group for the second peer, `null` added to the mixed
    /// AEAD/CBC proposal; plus sections owned by other parsers, which must be skipped.
    const EXAMPLE: &str = r#"
[eal]
args = ["--in-memory"]

[[port]]
name = "p0"

[[interface]]
name = "outside"
port = "p0"
role = "outside"

[ike]
allow_weak_dh = false
identity = "address"
nat_keepalive_seconds = 20
retransmit_interval_ms = 2000
retransmit_tries = 5
dpd_interval_seconds = 10
dpd_retry_seconds = 2
cookie_threshold_percent = 50
max_half_open = 10000
max_half_open_per_peer = 50
single_sa = false

[[access_list]]
name = "site-b-traffic"
rules = [
  { action = "permit", protocol = "ip",  src = "10.0.0.0/24", dst = "10.1.0.0/24" },
  { action = "deny",   protocol = "tcp", src = "10.0.0.0/24", dst = "10.1.0.9/32", dst_port = "22" },
  { action = "permit", protocol = "udp", src = "any4", dst = "10.1.0.0/24", dst_port = "500-4500" },
]

[[ikev1_policy]]
priority = 10
authentication = "pre-share"
encryption = "aes-256"
hash = "sha"
group = 14
lifetime = 86400

[[ikev2_policy]]
priority = 1
encryption = ["aes-gcm-256", "aes-256", "chacha20-poly1305"]
integrity = ["sha256", "sha384"]
prf = ["sha256"]
group = [20, 19, 14, 31]
lifetime_seconds = 86400

[[transform_set]]
name = "ts-aes256-sha"
encryption = "esp-aes-256"
integrity = "esp-sha-hmac"
mode = "tunnel"

[[ipsec_proposal]]
name = "p-gcm"
encryption = ["aes-gcm-256", "aes-gcm", "aes-256"]
integrity = ["sha-256", "sha-1", "null"]

[[crypto_map]]
name = "outside_map"
sequence = 10
match = "site-b-traffic"
peers = ["192.0.2.2", "198.51.100.2"]
ike_version = ["ikev2", "ikev1"]
ikev1_transform_sets = ["ts-aes256-sha"]
ikev2_proposals = ["p-gcm"]
pfs = 19
lifetime_seconds = 28800
lifetime_kilobytes = 4608000
connection_type = "bidirectional"
replay_window = 64
nat_t = true
reverse_route = false

[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
ikev1 = true
ikev2 = true
fragmentation = "before-encryption"
df_bit = "copy"

[[trustpoint]]
name = "site-ca"
ca_certificates = ["/etc/ferrogate/pki/ca.pem"]
certificate = "/etc/ferrogate/pki/gw.pem"
private_key = "/etc/ferrogate/pki/gw.key"

[[address_pool]]
name = "ra-pool"
range = "10.9.0.10-10.9.0.250"

[[tunnel_group]]
name = "192.0.2.2"
type = "ipsec-l2l"
ikev1_pre_shared_key = "secret"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "secret-a"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "secret-b"
trustpoint = "site-ca"
peer_id_validate = "required"
keepalive = { threshold = 10, retry = 2 }

[[tunnel_group]]
name = "198.51.100.2"
type = "ipsec-l2l"
ikev1_pre_shared_key_file = "/etc/ferrogate/psk/site-b-v1"
ikev2_local_authentication = "certificate"
ikev2_remote_authentication = "certificate"
trustpoint = "site-ca"
keepalive = "disable"

[[tunnel_group]]
name = "ra-users"
type = "remote-access"
ikev2_local_authentication = "certificate"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "ra-secret"
trustpoint = "site-ca"
address_pools = ["ra-pool"]
dns_servers = ["10.0.0.53"]
default_domain = "example.net"

[ha]
role = "primary"
interface = "ha"
local = "198.51.100.1"
peer = "198.51.100.2"
key = "failover-secret"
poll_ms = 1000
hold_ms = 15000
preempt_seconds = 0

[management]
metrics = "127.0.0.1:9469"
user = "ferrogate"
group = "ferrogate"
"#;

    fn load(text: &str) -> Loaded {
        match parse(Path::new("gw.toml"), text, INTERFACES) {
            Ok(l) => l,
            Err(d) => panic!("load failed:\n{d}"),
        }
    }

    fn load_err(text: &str) -> Vec<String> {
        match parse(Path::new("gw.toml"), text, INTERFACES) {
            Ok(l) => panic!("loaded; warnings: {}", l.warnings),
            Err(d) => d.all().iter().map(ToString::to_string).collect(),
        }
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn example_loads_with_expected_values() {
        let l = load(EXAMPLE);
        assert!(l.warnings.is_empty(), "{}", l.warnings);
        let c = &l.config;
        assert_eq!(c.ike, control::policy::IkeGlobals::default());

        let acl = c.access_list("site-b-traffic").unwrap();
        assert_eq!(acl.rules.len(), 3);
        assert_eq!(acl.rules[1].action, AclAction::Deny);
        assert_eq!(acl.rules[1].protocol, AclProtocol::Tcp);
        assert_eq!(acl.rules[1].dst_port, Some(PortRange::single(22)));
        assert_eq!(acl.rules[1].dst.to_string(), "10.1.0.9/32");
        assert_eq!(acl.rules[2].src, AddressSpec::Any4);
        assert_eq!(acl.rules[2].dst_port, PortRange::new(500, 4500).ok());
        // Mapped to the dataplane SPD: permit protects, deny bypasses, any4 is 0.0.0.0/0.
        let spd = acl.spd_entries(PolicyId(3));
        assert_eq!(spd.len(), 3);
        assert_eq!(spd[0].action, Action::Protect(PolicyId(3)));
        assert_eq!(spd[1].action, Action::Bypass);
        assert_eq!(spd[2].src.prefix_len(), 0);

        let v1 = &c.ikev1_policies[0];
        assert_eq!((v1.priority, v1.encryption, v1.hash), (10, IkeEncryption::Aes256, Prf::Sha1));
        assert_eq!((v1.group, v1.lifetime_seconds), (DhGroup::Modp2048, 86400));

        let v2 = &c.ikev2_policies[0];
        assert_eq!(
            v2.encryption,
            [IkeEncryption::AesGcm256, IkeEncryption::ChaCha20Poly1305, IkeEncryption::Aes256]
        );
        assert_eq!(v2.integrity, [IkeIntegrity::Sha384, IkeIntegrity::Sha256]);
        assert_eq!(v2.prf, [Prf::Sha256]);
        assert_eq!(
            v2.groups,
            [DhGroup::Ecp384, DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Modp2048]
        );

        let ts = c.transform_set("ts-aes256-sha").unwrap();
        assert_eq!((ts.encryption, ts.integrity), (EspEncryption::Aes256, EspIntegrity::Sha1));
        let p = c.ipsec_proposal("p-gcm").unwrap();
        assert_eq!(
            p.encryption,
            [EspEncryption::AesGcm256, EspEncryption::AesGcm, EspEncryption::Aes256]
        );
        assert_eq!(p.integrity, [EspIntegrity::Sha256, EspIntegrity::Sha1, EspIntegrity::Null]);

        let m = c.crypto_map("outside_map", 10).unwrap();
        assert_eq!(m.match_address, "site-b-traffic");
        assert_eq!(m.peers, [v4(192, 0, 2, 2), v4(198, 51, 100, 2)]);
        assert_eq!(m.ike_versions, [IkeVersion::Ikev2, IkeVersion::Ikev1]);
        assert_eq!(m.pfs, Some(DhGroup::Ecp256));
        assert_eq!(m.lifetime_kilobytes, KilobyteLifetime::Limited(4_608_000));
        assert_eq!(m.connection_type, ConnectionType::Bidirectional);
        assert_eq!((m.replay_window, m.nat_t, m.reverse_route), (64, true, false));

        assert_eq!(c.crypto_interfaces[0].crypto_map.as_deref(), Some("outside_map"));
        assert_eq!(c.trustpoints[0].ca_certificates.len(), 1);
        assert_eq!(
            c.address_pools[0].range,
            PoolRange::V4 {
                first: Ipv4Addr::new(10, 9, 0, 10),
                last: Ipv4Addr::new(10, 9, 0, 250)
            }
        );

        let g = c.tunnel_group_for_peer(v4(192, 0, 2, 2)).unwrap();
        assert!(
            matches!(&g.ikev1_pre_shared_key, Some(Secret::Inline(k)) if k.as_str() == "secret")
        );
        assert_eq!(g.keepalive, Keepalive::Enabled { threshold: 10, retry: 2 });
        let g2 = c.tunnel_group("198.51.100.2").unwrap();
        assert!(
            matches!(&g2.ikev1_pre_shared_key, Some(Secret::File(p)) if p.ends_with("site-b-v1"))
        );
        assert_eq!(g2.keepalive, Keepalive::Disabled);
        assert_eq!(c.tunnel_group("ra-users").unwrap().dns_servers, [v4(10, 0, 0, 53)]);

        let ha = c.ha.as_ref().unwrap();
        assert_eq!((ha.poll_ms, ha.hold_ms), (1000, 15000));
        assert_eq!(c.management.metrics.unwrap().port(), 9469);
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = load(EXAMPLE).config;
        let dbg = format!("{c:?}");
        for secret in ["secret-a", "secret-b", "failover-secret", "ra-secret", "\"secret\""] {
            assert!(!dbg.contains(secret), "{secret} in Debug output");
        }
    }

    #[test]
    fn defaults_apply_when_keys_are_omitted() {
        let text = r#"
[[access_list]]
name = "a"
rules = [{ action = "permit", protocol = "ip", src = "any", dst = "any" }]

[[transform_set]]
name = "t"
encryption = "esp-aes"
integrity = "esp-sha256-hmac"

[[crypto_map]]
name = "m"
sequence = 5
match = "a"
peers = ["2001:db8::1"]
ikev1_transform_sets = ["t"]

[[tunnel_group]]
name = "2001:db8::1"
type = "ipsec-l2l"
ikev1_pre_shared_key = "k"
"#;
        let c = load(text).config;
        let m = &c.crypto_maps[0];
        assert_eq!(m.ike_versions, [IkeVersion::Ikev1]);
        assert_eq!(m.lifetime_seconds, 28800);
        assert_eq!(m.lifetime_kilobytes, KilobyteLifetime::Limited(4_608_000));
        assert_eq!((m.replay_window, m.nat_t, m.pfs), (64, true, None));
        let g = &c.tunnel_groups[0];
        assert_eq!(g.keepalive, Keepalive::Enabled { threshold: 10, retry: 2 });
        assert_eq!(c.ike.nat_keepalive_seconds, 20);
        // `any` on both sides protects both families.
        assert_eq!(c.access_lists[0].spd_entries(PolicyId(0)).len(), 2);
    }

    #[test]
    fn every_error_is_reported_in_one_run() {
        let text = r#"
[ike]
retransmit_tries = 0

[[ikev2_policy]]
priority = 0
encryption = ["aes-512"]
integrity = ["sha256"]
group = [1]

[[crypto_map]]
name = "m"
sequence = 10
match = "nope"
peers = ["1.2.3"]
replay_window = 5
"#;
        assert_eq!(
            load_err(text),
            [
                "gw.toml:3:20: ike.retransmit_tries: retransmit tries 0 out of range; expected 1..10",
                "gw.toml:6:12: ikev2_policy[0].priority: priority 0 out of range; expected 1..65535",
                "gw.toml:7:15: ikev2_policy[0].encryption[0]: unknown encryption \"aes-512\"; expected one of: des, 3des, aes, aes-192, aes-256, aes-gcm, aes-gcm-192, aes-gcm-256, chacha20-poly1305",
                "gw.toml:9:10: ikev2_policy[0].group[0]: DH group 1 is weak; set [ike] allow_weak_dh = true to allow it",
                "gw.toml:14:9: crypto_map[0].match: no access_list named \"nope\"; defined: (none)",
                "gw.toml:15:10: crypto_map[0].peers[0]: bad peer address \"1.2.3\"; expected an IPv4 or IPv6 address",
                "gw.toml:16:17: crypto_map[0].replay_window: replay window 5 out of range; expected 0 (disabled) or 32..4096 packets",
            ]
        );
    }

    #[test]
    fn lists_are_sorted_most_to_least_secure() {
        let text = r#"
[ike]
allow_weak_dh = true

[[ikev2_policy]]
priority = 20
encryption = ["des", "aes", "3des", "aes-gcm", "aes-192", "aes-gcm-192", "chacha20-poly1305", "aes-256", "aes-gcm-256"]
integrity = ["md5", "sha", "sha512", "sha256", "sha384"]
group = [1, 2, 5, 24, 14, 19, 15, 31, 16, 20, 21]

[[ikev2_policy]]
priority = 3
encryption = ["aes-gcm"]
integrity = ["null"]
group = [19]

[[ipsec_proposal]]
name = "all"
encryption = ["null", "aes-gmac", "des", "aes-gmac-256", "aes", "chacha20-poly1305", "aes-gcm-256"]
integrity = ["sha-1", "null", "sha-512"]
"#;
        let l = load(text);
        let c = &l.config;
        // Policies by priority.
        assert_eq!(c.ikev2_policies.iter().map(|p| p.priority).collect::<Vec<_>>(), [3, 20]);
        assert_eq!(c.ikev2_policies[0].prf, [Prf::Sha256], "prf default with null integrity");
        let p = &c.ikev2_policies[1];
        let kw: Vec<&str> = p.encryption.iter().map(|e| e.keyword()).collect();
        assert_eq!(
            kw,
            [
                "aes-gcm-256",
                "chacha20-poly1305",
                "aes-gcm-192",
                "aes-gcm",
                "aes-256",
                "aes-192",
                "aes",
                "3des",
                "des"
            ]
        );
        let kw: Vec<&str> = p.integrity.iter().map(|e| e.keyword()).collect();
        assert_eq!(kw, ["sha512", "sha384", "sha256", "sha", "md5"]);
        // prf defaults to the integrity list's hashes, sorted.
        let kw: Vec<&str> = p.prf.iter().map(|e| e.keyword()).collect();
        assert_eq!(kw, ["sha512", "sha384", "sha256", "sha", "md5"]);
        let groups: Vec<u16> = p.groups.iter().map(|g| g.number()).collect();
        assert_eq!(groups, [21, 20, 16, 31, 19, 15, 14, 24, 5, 2, 1]);
        let pr = &c.ipsec_proposals[0];
        let kw: Vec<&str> = pr.encryption.iter().map(|e| e.keyword()).collect();
        assert_eq!(
            kw,
            ["aes-gcm-256", "chacha20-poly1305", "aes", "des", "aes-gmac-256", "aes-gmac", "null"]
        );
        assert_eq!(pr.integrity, [EspIntegrity::Sha512, EspIntegrity::Sha1, EspIntegrity::Null]);
        // Weak but permitted: one warning each (des, 3des, md5, groups 1 2 5 24, the proposal's
        // des); the prf derived from md5 integrity is not warned twice.
        let w: Vec<String> = l.warnings.all().iter().map(ToString::to_string).collect();
        assert!(w.contains(&"gw.toml:7:15: warning: ikev2_policy[0].encryption[0]: encryption \"des\" is weak (RFC 8247); accepted, but prefer a stronger one".to_owned()), "{w:#?}");
        assert!(w.contains(&"gw.toml:9:10: warning: ikev2_policy[0].group[0]: DH group 1 is weak; accepted because [ike] allow_weak_dh = true".to_owned()), "{w:#?}");
        assert_eq!(w.len(), 8, "{w:#?}");
    }

    #[test]
    fn empty_proposal_is_removed_with_its_references() {
        let text = r#"
[[access_list]]
name = "a"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/8", dst = "10.1.0.0/16" }]

[[ipsec_proposal]]
name = "gone"
encryption = []

[[ipsec_proposal]]
name = "kept"
encryption = ["aes-gcm-256"]

[[transform_set]]
name = "gone-ts"
encryption = ""
integrity = "esp-sha-hmac"

[[crypto_map]]
name = "m"
sequence = 1
match = "a"
peers = ["192.0.2.2"]
ikev2_proposals = ["gone", "kept"]
ikev1_transform_sets = ["gone-ts"]

[[crypto_map]]
name = "m"
sequence = 2
match = "a"
peers = ["192.0.2.2"]
ikev2_proposals = ["kept", "gone"]

[[tunnel_group]]
name = "192.0.2.2"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "x"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "y"
"#;
        let l = load(text);
        let w: Vec<String> = l.warnings.all().iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            [
                "gw.toml:8:14: warning: ipsec_proposal[0].encryption: IPsec proposal \"gone\" has an empty encryption list; it is removed together with every crypto map reference to it",
                "gw.toml:16:14: warning: transform_set[0].encryption: transform set \"gone-ts\" has no encryption; it is removed together with every crypto map reference to it",
                "gw.toml:24:20: warning: crypto_map[0].ikev2_proposals[0]: reference to IPsec proposal \"gone\" removed: its encryption is empty (ASA: deleting the only element removes the crypto map references)",
                "gw.toml:25:25: warning: crypto_map[0].ikev1_transform_sets[0]: reference to transform set \"gone-ts\" removed: its encryption is empty (ASA: deleting the only element removes the crypto map references)",
                "gw.toml:32:28: warning: crypto_map[1].ikev2_proposals[1]: reference to IPsec proposal \"gone\" removed: its encryption is empty (ASA: deleting the only element removes the crypto map references)",
            ]
        );
        let c = &l.config;
        assert_eq!(c.ipsec_proposals.len(), 1);
        assert!(c.transform_sets.is_empty());
        for m in &c.crypto_maps {
            assert_eq!(m.ikev2_proposals, ["kept"]);
            assert!(m.ikev1_transform_sets.is_empty());
            // The IKE version default follows what remains.
            assert_eq!(m.ike_versions, [IkeVersion::Ikev2]);
        }
        // `integrity` defaults to null for AEAD-only proposals.
        assert_eq!(c.ipsec_proposals[0].integrity, [EspIntegrity::Null]);
    }

    fn with_map(extra: &str) -> PolicyConfig {
        load(&format!("{EXAMPLE}{extra}")).config
    }

    const OTHER_MAP: &str = r#"
[[crypto_map]]
name = "branch_map"
sequence = 5
match = "site-b-traffic"
peers = ["192.0.2.2"]
ikev1_transform_sets = ["ts-aes256-sha"]
"#;

    fn key(name: &str, sequence: u16) -> MapKey {
        MapKey { name: name.into(), sequence }
    }

    #[test]
    fn diff_identical_is_empty() {
        let a = load(EXAMPLE).config;
        assert!(PolicyConfig::diff(&a, &a.clone()).is_empty());
        assert_eq!(PolicyConfig::diff(&a, &a).maps_untouched, [key("outside_map", 10)]);
    }

    #[test]
    fn diff_unrelated_map_added_leaves_others_untouched() {
        let old = load(EXAMPLE).config;
        let new = with_map(OTHER_MAP);
        let d = PolicyConfig::diff(&old, &new);
        assert_eq!(d.maps_added, [key("branch_map", 5)]);
        assert!(d.maps_removed.is_empty() && d.maps_changed.is_empty());
        assert!(d.tunnels_to_tear_down.is_empty());
        assert_eq!(d.maps_untouched, [key("outside_map", 10)]);
        let back = PolicyConfig::diff(&new, &old);
        assert_eq!(back.maps_removed, [key("branch_map", 5)]);
        assert_eq!(back.maps_untouched, [key("outside_map", 10)]);
    }

    #[test]
    fn diff_transform_set_edit_tears_down_exactly_its_maps() {
        let extra = r#"
[[transform_set]]
name = "ts-other"
encryption = "esp-aes"
integrity = "esp-sha256-hmac"
"#;
        let only_other = OTHER_MAP.replace("ts-aes256-sha", "ts-other");
        let old = with_map(&format!("{extra}{only_other}"));
        let edited = extra.replace("esp-sha256-hmac", "esp-sha512-hmac");
        let new = with_map(&format!("{edited}{only_other}"));
        let d = PolicyConfig::diff(&old, &new);
        assert_eq!(d.transform_sets_changed, ["ts-other"]);
        assert_eq!(d.tunnels_to_tear_down, [key("branch_map", 5)]);
        assert!(d.maps_changed.is_empty());
        assert_eq!(d.maps_untouched, [key("outside_map", 10)]);
    }

    #[test]
    fn diff_proposal_policy_and_tunnel_group_changes_tear_down_dependants() {
        let old = with_map(OTHER_MAP);
        // The proposal only outside_map uses.
        let new = with_map(OTHER_MAP).clone();
        let mut new_p = new.clone();
        new_p.ipsec_proposals[0].integrity.pop();
        let d = PolicyConfig::diff(&old, &new_p);
        assert_eq!(d.ipsec_proposals_changed, ["p-gcm"]);
        assert_eq!(d.tunnels_to_tear_down, [key("outside_map", 10)]);
        assert_eq!(d.maps_untouched, [key("branch_map", 5)]);
        // The IKEv2 policies: only maps that use IKEv2.
        let mut new_v2 = new.clone();
        new_v2.ikev2_policies[0].lifetime_seconds = 3600;
        let d = PolicyConfig::diff(&old, &new_v2);
        assert!(d.ikev2_policies_changed);
        assert_eq!(d.tunnels_to_tear_down, [key("outside_map", 10)]);
        // The tunnel group of 192.0.2.2: both maps have that peer.
        let mut new_tg = new;
        new_tg.tunnel_groups[0].keepalive = Keepalive::Disabled;
        let d = PolicyConfig::diff(&old, &new_tg);
        assert_eq!(d.tunnel_groups_changed, ["192.0.2.2"]);
        assert_eq!(d.tunnels_to_tear_down, [key("branch_map", 5), key("outside_map", 10)]);
        assert!(d.maps_untouched.is_empty());
    }

    #[test]
    fn diff_peer_list_edit_is_a_change_with_peer_index_reset() {
        let old = with_map(OTHER_MAP);
        let edited = OTHER_MAP
            .replace(r#"peers = ["192.0.2.2"]"#, r#"peers = ["198.51.100.2", "192.0.2.2"]"#);
        let new = with_map(&edited);
        let d = PolicyConfig::diff(&old, &new);
        assert_eq!(d.maps_changed, [key("branch_map", 5)]);
        assert!(d.tunnels_to_tear_down.is_empty());
        assert_eq!(d.maps_untouched, [key("outside_map", 10)]);
        assert!(d.maps_added.is_empty() && d.maps_removed.is_empty());
    }

    #[test]
    fn render_round_trips() {
        let original = with_map(OTHER_MAP);
        let text = original.to_toml_with_secrets();
        let again = load(&text).config;
        assert_eq!(again, original, "rendered:\n{text}");
        // Canonical: rendering the reloaded config gives the same text.
        assert_eq!(again.to_toml_with_secrets(), text);
    }

    #[test]
    fn render_hides_secrets_by_default() {
        let c = load(EXAMPLE).config;
        let shown = c.to_toml();
        for secret in ["secret-a", "secret-b", "failover-secret", "ra-secret"] {
            assert!(!shown.contains(secret), "{secret} rendered");
        }
        assert!(shown.contains("ikev2_local_pre_shared_key = \"<hidden>\""));
        assert!(shown.contains("ikev1_pre_shared_key_file = \"/etc/ferrogate/psk/site-b-v1\""));
        assert!(c.to_toml_with_secrets().contains("key = \"failover-secret\""));
        // Sorted and with defaults explicit.
        assert!(
            shown.contains("encryption = [\"aes-gcm-256\", \"chacha20-poly1305\", \"aes-256\"]")
        );
        assert!(shown.contains("group = [20, 31, 19, 14]"));
    }

    #[test]
    fn local_users_load_render_and_refuse_mistakes() {
        let text = r#"
[[user]]
name = "bob"
password = "hunter2"

[[user]]
name = "alice"
password_file = "/etc/ferrogate/users/alice"
"#;
        let c = load(text).config;
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.users[0].name, "alice", "sorted by name");
        assert!(matches!(&c.users[0].password, Secret::File(p) if p.ends_with("alice")));
        assert!(matches!(&c.users[1].password, Secret::Inline(p) if p.as_str() == "hunter2"));
        let shown = c.to_toml();
        assert!(!shown.contains("hunter2") && shown.contains("password = \"<hidden>\""));
        assert_eq!(load(&c.to_toml_with_secrets()).config, c, "round trip");
        let errors = load_err(
            r#"
[[user]]
name = "bob"
password = "a"

[[user]]
name = "bob"
password = "b"

[[user]]
name = "carol"

[[user]]
name = "dave"
password = "x"
password_file = "/x"
"#,
        );
        let all = errors.join("\n");
        assert!(all.contains("user name"), "{all}");
        assert!(all.contains("user[2].password"), "{all}");
        assert!(all.contains("user[3].password_file"), "{all}");
    }

    #[test]
    fn empty_file_is_the_default_policy() {
        let l = load("");
        assert_eq!(l.config, PolicyConfig::default());
        assert_eq!(load(&PolicyConfig::default().to_toml()).config, PolicyConfig::default());
    }

    #[test]
    fn render_round_trips_unusual_values() {
        let extra = r#"
[[access_list]]
name = "odd"
rules = [
  { action = "permit", protocol = 132, src = "2001:db8::/48", dst = "any6" },
  { action = "deny", protocol = "icmp", src = "any4", dst = "10.0.0.1", icmp_type = 8 },
  { action = "permit", protocol = "tcp", src = "any", dst = "any", src_port = 1024, dst_port = "1-1023" },
]

[[address_pool]]
name = "v6-pool"
prefix = "2001:db8:9::/64"

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev1_pre_shared_key = "quote\"and\\backslash"

[[crypto_map]]
name = "odd_map"
sequence = 65535
match = "odd"
peers = ["2001:db8::7"]
ikev1_transform_sets = ["ts-aes256-sha"]
lifetime_kilobytes = "unlimited"
replay_window = 0
nat_t = false
reverse_route = true
connection_type = "originate-only"
"#;
        let original = with_map(extra);
        let m = original.crypto_map("odd_map", 65535).unwrap();
        assert_eq!(m.lifetime_kilobytes, KilobyteLifetime::Unlimited);
        assert_eq!(
            original.access_list("odd").unwrap().rules[0].protocol,
            AclProtocol::Number(132)
        );
        let text = original.to_toml_with_secrets();
        assert_eq!(load(&text).config, original, "rendered:\n{text}");
    }

    /// A deterministic loop over byte-level mutations of the example: the parser never panics,
    /// whatever it is given.
    #[test]
    fn byte_mutations_never_panic() {
        let base = EXAMPLE.as_bytes();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let replacements = b"\"'[]{}=,.\n#0123456789-_ az\\\x00\xff";
        for _ in 0..3000 {
            let mut bytes = base.to_vec();
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = replacements[(next() as usize) % replacements.len()],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, replacements[(next() as usize) % replacements.len()]),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(Path::new("fuzz.toml"), &text, INTERFACES);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary splices into the example never panic, and every error has a position
        /// inside the text.
        #[test]
        fn arbitrary_splices_never_panic(at in 0usize..4000, junk in "\\PC{0,12}", cut in 0usize..8) {
            let mut text = EXAMPLE.to_owned();
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(at..end.max(at), &junk);
            let lines = text.lines().count() + 1;
            if let Err(d) = parse(Path::new("p.toml"), &text, INTERFACES) {
                prop_assert!(d.has_errors());
                for e in d.all() {
                    prop_assert!(e.line >= 1 && e.line <= lines && e.column >= 1);
                }
            }
        }
    }

    #[test]
    fn ikev1_aggressive_mode_opt_in_warns_and_round_trips() {
        let text = r#"
[ike]
ikev1_aggressive_mode = true

[[access_list]]
name = "a"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.1.0.0/16" }]

[[transform_set]]
name = "ts"
encryption = "esp-aes-256"
integrity = "esp-sha256-hmac"

[[crypto_map]]
name = "m"
sequence = 10
match = "a"
peers = ["192.0.2.2"]
ike_version = ["ikev1"]
ikev1_transform_sets = ["ts"]
phase1_mode = "aggressive"

[[crypto_map]]
name = "m"
sequence = 20
match = "a"
peers = ["192.0.2.3"]
ike_version = ["ikev1"]
ikev1_transform_sets = ["ts"]
phase1_mode = "main"

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev1_pre_shared_key = "k"
"#;
        let l = load(text);
        assert!(l.config.ike.ikev1_aggressive_mode);
        let modes: Vec<Ikev1Phase1Mode> =
            l.config.crypto_maps.iter().map(|m| m.phase1_mode).collect();
        assert_eq!(modes, [Ikev1Phase1Mode::Aggressive, Ikev1Phase1Mode::Main]);
        let w: Vec<String> = l.warnings.all().iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            [
                "gw.toml:3:25: warning: ike.ikev1_aggressive_mode: IKEv1 Aggressive Mode is enabled: with pre-shared keys its second message exposes a hash of the key that an eavesdropper can crack offline"
            ]
        );
        // Rendered and loaded again: the same settings (only the opt-ins are written).
        let rendered = l.config.to_toml_with_secrets();
        assert!(rendered.contains("ikev1_aggressive_mode = true"), "{rendered}");
        assert_eq!(rendered.matches("phase1_mode = \"aggressive\"").count(), 1, "{rendered}");
        assert!(!rendered.contains("phase1_mode = \"main\""), "{rendered}");
        assert_eq!(load(&rendered).config, l.config);

        // The default: Main Mode, no opt-in, no warning, nothing rendered.
        let off = text
            .replace("ikev1_aggressive_mode = true\n", "")
            .replace("phase1_mode = \"aggressive\"\n", "");
        let l = load(&off);
        assert!(!l.config.ike.ikev1_aggressive_mode);
        assert!(l.config.crypto_maps.iter().all(|m| m.phase1_mode == Ikev1Phase1Mode::Main));
        assert!(l.warnings.is_empty(), "{}", l.warnings);
        assert!(!l.config.to_toml().contains("aggressive"));
    }

    /// A dynamic entry of the applied map for the example's remote-access group, with an
    /// ipsec-l2l group it can switch to.
    const DYNAMIC_MAP: &str = r#"
[[access_list]]
name = "ra-acl"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "0.0.0.0/0" }]

[[crypto_map]]
name = "outside_map"
sequence = 65535
dynamic = true
tunnel_group = "ra-users"
match = "ra-acl"
ikev2_proposals = ["p-gcm"]

[[tunnel_group]]
name = "any-site"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "site-local"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "site-remote"
"#;

    #[test]
    fn dynamic_entry_defaults_render_and_round_trip() {
        let l = load(&format!("{EXAMPLE}{DYNAMIC_MAP}"));
        assert!(l.warnings.is_empty(), "{}", l.warnings);
        let c = l.config;
        let m = c.crypto_map("outside_map", 65535).unwrap();
        assert!(m.dynamic);
        assert_eq!(m.tunnel_group.as_deref(), Some("ra-users"));
        assert!(m.peers.is_empty());
        // IKEv2 only and answer-only unless written otherwise.
        assert_eq!(m.ike_versions, [IkeVersion::Ikev2]);
        assert_eq!(m.connection_type, ConnectionType::AnswerOnly);
        // The static entry keeps its fields.
        let st = c.crypto_map("outside_map", 10).unwrap();
        assert!(!st.dynamic && st.tunnel_group.is_none());

        let text = c.to_toml_with_secrets();
        let block = text.split("[[crypto_map]]").find(|b| b.contains("65535")).unwrap();
        assert!(
            block.contains("match = \"ra-acl\"\ndynamic = true\ntunnel_group = \"ra-users\"\n"),
            "{block}"
        );
        assert!(!block.contains("peers"), "{block}");
        assert!(block.contains("connection_type = \"answer-only\""), "{block}");
        // Static entries render as before: no `dynamic` key.
        assert_eq!(text.matches("dynamic = ").count(), 1, "{text}");
        let again = load(&text).config;
        assert_eq!(again, c, "rendered:\n{text}");
        assert_eq!(again.to_toml_with_secrets(), text);
    }

    #[test]
    fn diff_of_dynamic_entries() {
        let old = with_map(DYNAMIC_MAP);
        // Another tunnel group: the entry changed, the static one untouched.
        let other_group = with_map(
            &DYNAMIC_MAP.replace("tunnel_group = \"ra-users\"", "tunnel_group = \"any-site\""),
        );
        let d = PolicyConfig::diff(&old, &other_group);
        assert_eq!(d.maps_changed, [key("outside_map", 65535)]);
        assert!(d.tunnels_to_tear_down.is_empty());
        assert_eq!(d.maps_untouched, [key("outside_map", 10)]);
        // The same sequence made static (or back): a change of the entry.
        let static_entry = with_map(&DYNAMIC_MAP.replace(
            "dynamic = true\ntunnel_group = \"ra-users\"",
            "peers = [\"192.0.2.2\"]\nconnection_type = \"answer-only\"",
        ));
        assert_eq!(
            PolicyConfig::diff(&old, &static_entry).maps_changed,
            [key("outside_map", 65535)]
        );
        assert_eq!(
            PolicyConfig::diff(&static_entry, &old).maps_changed,
            [key("outside_map", 65535)]
        );
        // An edit of the group it names tears its tunnels down, and only its.
        let mut edited_group = old.clone();
        let ra = edited_group.tunnel_groups.iter_mut().find(|g| g.name == "ra-users").unwrap();
        ra.dns_servers.push(v4(10, 0, 0, 54));
        let d = PolicyConfig::diff(&old, &edited_group);
        assert_eq!(d.tunnel_groups_changed, ["ra-users"]);
        assert_eq!(d.tunnels_to_tear_down, [key("outside_map", 65535)]);
        assert!(d.maps_changed.is_empty());
        assert_eq!(d.maps_untouched, [key("outside_map", 10)]);
    }
}
