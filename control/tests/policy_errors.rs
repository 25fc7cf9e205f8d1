//! One test per validation error class of `control::policy`: each checks the exact, full
//! diagnostic text (file, line, column, field path and message).

/// One module named `policy` so that `cargo test -p control policy` selects these tests.
mod policy {

    use std::path::Path;

    use control::policy::{IkeVersion, parse};

    /// Interfaces the tests' configs may name.
    const INTERFACES: &[&str] = &["outside", "inside", "ha"];

    /// A valid policy that the cases below extend: one ACL, one proposal, one crypto map and
    /// the default L2L tunnel group. Cases put their snippet first so that its line numbers are
    /// easy to read off.
    const BASE: &str = r#"
[[access_list]]
name = "acl"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.1.0.0/24" }]

[[ipsec_proposal]]
name = "p"
encryption = ["aes-gcm-256"]
integrity = ["null"]

[[crypto_map]]
name = "m"
sequence = 10
match = "acl"
peers = ["192.0.2.2"]
ikev2_proposals = ["p"]

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "a"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "b"
"#;

    /// Loads `snippet` + [`BASE`] and checks the complete list of errors and warnings.
    #[track_caller]
    fn check(snippet: &str, expected: &[&str]) {
        let text = format!("{snippet}{BASE}");
        let got: Vec<String> = match parse(Path::new("gw.toml"), &text, INTERFACES) {
            Ok(l) => panic!("loaded without error; warnings: {}", l.warnings),
            Err(d) => d.all().iter().map(ToString::to_string).collect(),
        };
        assert_eq!(got, expected, "\nactual:\n{}\n", got.join("\n"));
    }

    #[test]
    fn base_is_valid() {
        let l = parse(Path::new("gw.toml"), BASE, INTERFACES).unwrap();
        assert!(l.warnings.is_empty());
        assert_eq!(l.config.crypto_maps.len(), 1);
    }

    #[test]
    fn toml_syntax() {
        check(
            r#"a = [1,
b = 2
"#,
            &["gw.toml:2:3: TOML syntax: unexpected `=` in array, expected value, `]`"],
        );
    }

    #[test]
    fn unknown_top_level_key() {
        check(
            r#"crypto_maps = 1
"#,
            &[
                "gw.toml:1:1: crypto_maps: unknown key \"crypto_maps\"; expected one of: eal, mempool, run, port, interface, route, neighbour, sa, policy, dataplane, operator, ike, access_list, ikev1_policy, ikev2_policy, transform_set, ipsec_proposal, crypto_map, crypto_interface, trustpoint, address_pool, tunnel_group, user, ha, cluster, management",
            ],
        );
    }

    #[test]
    fn unknown_key_in_table() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peer = ["192.0.2.3"]
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:5:1: crypto_map[0].peer: unknown key \"peer\"; expected one of: name, sequence, match, peers, dynamic, tunnel_group, ike_version, ikev1_transform_sets, ikev2_proposals, pfs, lifetime_seconds, lifetime_kilobytes, connection_type, replay_window, nat_t, reverse_route, phase1_mode",
            ],
        );
    }

    #[test]
    fn wrong_type() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = "20"
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
"#,
            &["gw.toml:3:12: crypto_map[0].sequence: expected an integer, found a string"],
        );
    }

    #[test]
    fn missing_required_key() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
"#,
            &["gw.toml:1:1: crypto_map[0].match: missing required key \"match\""],
        );
    }

    #[test]
    fn unknown_algorithm() {
        check(
            r#"[[ipsec_proposal]]
name = "q"
encryption = ["aes-512"]
integrity = ["null"]
"#,
            &[
                "gw.toml:3:15: ipsec_proposal[0].encryption[0]: unknown encryption \"aes-512\"; expected one of: des, 3des, aes, aes-192, aes-256, aes-gcm, aes-gcm-192, aes-gcm-256, aes-gmac, aes-gmac-192, aes-gmac-256, chacha20-poly1305, null",
            ],
        );
    }

    #[test]
    fn weak_dh_group_without_allow_weak_dh() {
        check(
            r#"[[ikev2_policy]]
priority = 1
encryption = ["aes-256"]
integrity = ["sha256"]
group = [19, 2]
"#,
            &[
                "gw.toml:5:14: ikev2_policy[0].group[1]: DH group 2 is weak; set [ike] allow_weak_dh = true to allow it",
            ],
        );
    }

    #[test]
    fn duplicate_name() {
        check(
            r#"[[access_list]]
name = "acl"
rules = [{ action = "permit", protocol = "ip", src = "any4", dst = "any4" }]
"#,
            &[
                "gw.toml:6:8: access_list[1].name: duplicate access_list name \"acl\" (first defined at line 2)",
            ],
        );
    }

    #[test]
    fn duplicate_priority() {
        check(
            r#"[[ikev1_policy]]
priority = 10
authentication = "pre-share"
encryption = "aes-256"
hash = "sha"
group = 14

[[ikev1_policy]]
priority = 10
authentication = "rsa-sig"
encryption = "aes"
hash = "sha256"
group = 19
"#,
            &[
                "gw.toml:9:12: ikev1_policy[1].priority: duplicate ikev1_policy priority 10 (first defined at line 2); priorities must be unique",
            ],
        );
    }

    #[test]
    fn duplicate_map_sequence() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 10
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:19:12: crypto_map[1].sequence: duplicate crypto map entry \"m\" 10 (first defined at line 3); sequences must be unique per map name",
            ],
        );
    }

    #[test]
    fn missing_access_list() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "nope"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
"#,
            &["gw.toml:4:9: crypto_map[0].match: no access_list named \"nope\"; defined: acl"],
        );
    }

    #[test]
    fn missing_transform_set() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ike_version = ["ikev1"]
ikev1_transform_sets = ["ts"]

[[tunnel_group]]
name = "192.0.2.3"
type = "ipsec-l2l"
ikev1_pre_shared_key = "k"
"#,
            &[
                "gw.toml:7:25: crypto_map[0].ikev1_transform_sets[0]: no transform_set named \"ts\"; defined: (none)",
            ],
        );
    }

    #[test]
    fn missing_ipsec_proposal() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p", "p2"]
"#,
            &[
                "gw.toml:6:25: crypto_map[0].ikev2_proposals[1]: no ipsec_proposal named \"p2\"; defined: p",
            ],
        );
    }

    #[test]
    fn missing_trustpoint() {
        check(
            r#"[[tunnel_group]]
name = "192.0.2.9"
type = "ipsec-l2l"
ikev2_local_authentication = "certificate"
ikev2_remote_authentication = "certificate"
trustpoint = "ca"
"#,
            &[
                "gw.toml:6:14: tunnel_group[0].trustpoint: no trustpoint named \"ca\"; defined: (none)",
            ],
        );
    }

    #[test]
    fn missing_address_pool() {
        check(
            r#"[[tunnel_group]]
name = "ra"
type = "remote-access"
address_pools = ["pool"]
"#,
            &[
                "gw.toml:4:18: tunnel_group[0].address_pools[0]: no address_pool named \"pool\"; defined: (none)",
            ],
        );
    }

    #[test]
    fn missing_interface() {
        check(
            r#"[[crypto_interface]]
interface = "outsde"
crypto_map = "m"
ikev2 = true
"#,
            &[
                "gw.toml:2:13: crypto_interface[0].interface: no interface named \"outsde\"; defined: outside, inside, ha",
            ],
        );
    }

    #[test]
    fn missing_tunnel_group() {
        let text = BASE.replace("name = \"DefaultL2LGroup\"", "name = \"192.0.2.2\"");
        let text =
            text.replace("peers = [\"192.0.2.2\"]", "peers = [\"192.0.2.2\", \"192.0.2.3\"]");
        let got: Vec<String> = parse(Path::new("gw.toml"), &text, INTERFACES)
            .unwrap_err()
            .all()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            vec![
                "gw.toml:15:23: crypto_map[0].peers[1]: no tunnel group for peer 192.0.2.3; add a [[tunnel_group]] with name = \"192.0.2.3\" and type = \"ipsec-l2l\" (or a DefaultL2LGroup)",
            ],
            "\nactual:\n{}\n",
            got.join("\n")
        );
    }

    #[test]
    fn more_than_ten_peers() {
        let peers: Vec<String> = (1..=11).map(|i| format!("\"192.0.2.{}\"", 100 + i)).collect();
        check(
            &format!(
                "[[crypto_map]]\nname = \"m\"\nsequence = 20\nmatch = \"acl\"\npeers = [{}]\nikev2_proposals = [\"p\"]\n",
                peers.join(", ")
            ),
            &["gw.toml:5:160: crypto_map[0].peers[10]: 11 peers; a crypto map takes at most 10"],
        );
    }

    #[test]
    fn ikev2_multi_peer_not_bidirectional() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3", "192.0.2.4"]
ikev2_proposals = ["p"]
connection_type = "answer-only"
"#,
            &[
                "gw.toml:7:19: crypto_map[0].connection_type: IKEv2 with 2 peers needs connection_type = \"bidirectional\" (is \"answer-only\")",
            ],
        );
    }

    #[test]
    fn ikev1_map_without_transform_sets() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ike_version = ["ikev1"]
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:6:15: crypto_map[0].ike_version: crypto map m 20 uses IKEv1 but has no ikev1_transform_sets (set ikev1 transform-set); add one or remove \"ikev1\" from ike_version",
            ],
        );
    }

    #[test]
    fn ikev2_map_without_proposals() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ike_version = ["ikev2"]
"#,
            &[
                "gw.toml:6:15: crypto_map[0].ike_version: crypto map m 20 uses IKEv2 but has no ikev2_proposals (set ikev2 ipsec-proposal); add one or remove \"ikev2\" from ike_version",
            ],
        );
    }

    #[test]
    fn null_integrity_with_non_aead_cipher() {
        check(
            r#"[[ikev2_policy]]
priority = 1
encryption = ["aes-gcm-256", "aes-256"]
integrity = ["null", "sha256"]
group = [19]
"#,
            &[
                "gw.toml:4:14: ikev2_policy[0].integrity[0]: integrity \"null\" with non-AEAD encryption \"aes-256\"; null is only valid when every cipher is AEAD (aes-gcm*, chacha20-poly1305): remove null",
            ],
        );
    }

    #[test]
    fn aead_cipher_with_non_null_integrity_in_proposal() {
        check(
            r#"[[ipsec_proposal]]
name = "q"
encryption = ["aes-gcm", "aes-256"]
integrity = ["sha-256"]
"#,
            &[
                "gw.toml:4:13: ipsec_proposal[0].integrity: AEAD encryption \"aes-gcm\" needs integrity \"null\" (GCM, GMAC and ChaCha20-Poly1305 carry their own integrity); integrity is [sha-256]: add \"null\"",
            ],
        );
    }

    #[test]
    fn bad_prefix() {
        check(
            r#"[[access_list]]
name = "acl2"
rules = [
  { action = "permit", protocol = "ip", src = "10.0.0.1/24", dst = "10.1.0.0/33" },
]
"#,
            &[
                "gw.toml:4:47: access_list[0].rules[0].src: bad address \"10.0.0.1/24\": host bits set (did you mean 10.0.0.0/24?); expected A.B.C.D/LEN, IPV6/LEN, a bare address, any, any4 or any6",
                "gw.toml:4:68: access_list[0].rules[0].dst: bad address \"10.1.0.0/33\": prefix length \"33\" is not 0..32; expected A.B.C.D/LEN, IPV6/LEN, a bare address, any, any4 or any6",
            ],
        );
    }

    #[test]
    fn bad_address() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.300"]
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:5:10: crypto_map[0].peers[0]: bad peer address \"192.0.2.300\"; expected an IPv4 or IPv6 address",
            ],
        );
    }

    #[test]
    fn bad_port_range() {
        check(
            r#"[[access_list]]
name = "acl2"
rules = [
  { action = "permit", protocol = "tcp", src = "any4", dst = "any4", dst_port = "4500-500" },
]
"#,
            &[
                "gw.toml:4:81: access_list[0].rules[0].dst_port: bad port range \"4500-500\"; expected \"N\" or \"N-M\" with N <= M <= 65535",
            ],
        );
    }

    #[test]
    fn lifetime_out_of_range() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
lifetime_seconds = 60
"#,
            &[
                "gw.toml:7:20: crypto_map[0].lifetime_seconds: lifetime 60 out of range; expected 120..2147483647 seconds",
            ],
        );
    }

    #[test]
    fn ikev2_fragmentation_mtu_out_of_range() {
        check(
            "[ike]\nikev2_fragmentation = true\nikev2_fragmentation_mtu = 9000\n",
            &[
                "gw.toml:3:27: ike.ikev2_fragmentation_mtu: IKEv2 fragmentation MTU 9000 out of range; expected 576..1500 bytes",
            ],
        );
        check(
            "[ike]\nikev2_fragmentation = \"yes\"\n",
            &[
                "gw.toml:2:23: ike.ikev2_fragmentation: expected a boolean (true or false), found a string",
            ],
        );
    }

    #[test]
    fn replay_window_out_of_range() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
replay_window = 16
"#,
            &[
                "gw.toml:7:17: crypto_map[0].replay_window: replay window 16 out of range; expected 0 (disabled) or 32..4096 packets",
            ],
        );
    }

    #[test]
    fn acl_without_permit_used_by_crypto_map() {
        check(
            r#"[[access_list]]
name = "deny-only"
rules = [{ action = "deny", protocol = "ip", src = "any", dst = "any" }]

[[crypto_map]]
name = "m"
sequence = 20
match = "deny-only"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:8:9: crypto_map[0].match: access list \"deny-only\" has no permit rule, so crypto map m 20 would protect nothing; add a permit rule for the traffic to protect",
            ],
        );
    }

    #[test]
    fn psk_missing() {
        check(
            r#"[[tunnel_group]]
name = "192.0.2.9"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "x"
ikev2_remote_authentication = "pre-shared-key"
"#,
            &[
                "gw.toml:6:31: tunnel_group[0].ikev2_remote_authentication: ikev2_remote_authentication = \"pre-shared-key\" needs ikev2_remote_pre_shared_key or ikev2_remote_pre_shared_key_file",
            ],
        );
    }

    #[test]
    fn certificate_authentication_without_trustpoint() {
        check(
            r#"[[tunnel_group]]
name = "192.0.2.9"
type = "ipsec-l2l"
ikev2_local_authentication = "certificate"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "x"
"#,
            &[
                "gw.toml:4:30: tunnel_group[0].ikev2_local_authentication: ikev2_local_authentication = \"certificate\" needs trustpoint = \"NAME\" (a [[trustpoint]])",
            ],
        );
    }

    #[test]
    fn remote_access_keys_on_l2l_group() {
        check(
            r#"[[address_pool]]
name = "pool"
range = "10.9.0.10-10.9.0.250"

[[tunnel_group]]
name = "192.0.2.9"
type = "ipsec-l2l"
ikev1_pre_shared_key = "x"
address_pools = ["pool"]
default_domain = "example.net"
"#,
            &[
                "gw.toml:9:17: tunnel_group[0].address_pools: address_pools applies to remote-access tunnel groups only (type is ipsec-l2l)",
                "gw.toml:10:18: tunnel_group[0].default_domain: default_domain applies to remote-access tunnel groups only (type is ipsec-l2l)",
            ],
        );
    }

    #[test]
    fn overlapping_address_pools() {
        check(
            r#"[[address_pool]]
name = "a"
range = "10.9.0.10-10.9.0.250"

[[address_pool]]
name = "b"
range = "10.9.0.200-10.9.1.10"
"#,
            &[
                "gw.toml:7:9: address_pool[1].range: address pool \"b\" (10.9.0.200-10.9.1.10) overlaps address pool \"a\" (10.9.0.10-10.9.0.250); pools must be disjoint",
            ],
        );
    }

    #[test]
    fn crypto_map_on_two_interfaces() {
        check(
            r#"[[crypto_interface]]
interface = "outside"
crypto_map = "m"
ikev2 = true

[[crypto_interface]]
interface = "inside"
crypto_map = "m"
ikev2 = true
"#,
            &[
                "gw.toml:8:14: crypto_interface[1].crypto_map: crypto map \"m\" is already applied to interface \"outside\" (line 3); a crypto map applies to one interface",
            ],
        );
    }

    #[test]
    fn tunnel_group_lacks_credentials_for_the_maps_ike_version() {
        check(
            r#"[[transform_set]]
name = "ts"
encryption = "esp-aes-256"
integrity = "esp-sha256-hmac"

[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ikev1_transform_sets = ["ts"]
"#,
            &[
                "gw.toml:29:1: tunnel_group[0].ikev1_pre_shared_key: tunnel group \"DefaultL2LGroup\" needs ikev1_pre_shared_key, ikev1_pre_shared_key_file or trustpoint: crypto map m 20 uses IKEv1 with peer 192.0.2.3",
            ],
        );
    }

    #[test]
    fn crypto_map_without_any_transforms() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
"#,
            &[
                "gw.toml:1:1: crypto_map[0].ikev2_proposals: crypto map m 20 has neither ikev1_transform_sets nor ikev2_proposals (set ikev1 transform-set / set ikev2 ipsec-proposal); it needs one",
            ],
        );
    }

    #[test]
    fn secret_given_twice() {
        check(
            r#"[[tunnel_group]]
name = "192.0.2.9"
type = "ipsec-l2l"
ikev1_pre_shared_key = "x"
ikev1_pre_shared_key_file = "/etc/ferrogate/psk/x"
"#,
            &[
                "gw.toml:5:29: tunnel_group[0].ikev1_pre_shared_key_file: set either ikev1_pre_shared_key or ikev1_pre_shared_key_file, not both",
            ],
        );
    }

    #[test]
    fn aggressive_mode_needs_the_global_opt_in() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
phase1_mode = "aggressive"
"#,
            &[
                "gw.toml:7:15: crypto_map[0].phase1_mode: IKEv1 Aggressive Mode is disabled; set [ike] ikev1_aggressive_mode = true to allow it (its pre-shared-key hash can be cracked offline) or use \"main\"",
            ],
        );
    }

    #[test]
    fn unknown_phase1_mode() {
        check(
            r#"[ike]
ikev1_aggressive_mode = true

[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
ikev2_proposals = ["p"]
phase1_mode = "quick"
"#,
            &[
                "gw.toml:2:25: warning: ike.ikev1_aggressive_mode: IKEv1 Aggressive Mode is enabled: with pre-shared keys its second message exposes a hash of the key that an eavesdropper can crack offline",
                "gw.toml:10:15: crypto_map[0].phase1_mode: unknown IKEv1 phase-1 mode \"quick\"; expected one of: main, aggressive",
            ],
        );
    }

    /// A remote-access group with a pool, for the dynamic-entry cases (13 lines; the
    /// cases' own crypto map follows it).
    const RA_GROUP: &str = r#"[[address_pool]]
name = "ra-pool"
range = "10.77.0.10-10.77.0.20"

[[tunnel_group]]
name = "RA"
type = "remote-access"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "ours"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "theirs"
address_pools = ["ra-pool"]

"#;

    /// [`RA_GROUP`] and a dynamic entry of map `m` with `extra` keys after `dynamic` and
    /// `tunnel_group` (from line 19).
    fn dynamic_entry(extra: &str) -> String {
        format!(
            "{RA_GROUP}[[crypto_map]]\nname = \"m\"\nsequence = 65535\nmatch = \"acl\"\n\
             dynamic = true\ntunnel_group = \"RA\"\n{extra}"
        )
    }

    #[test]
    fn dynamic_entry_is_valid_without_peers() {
        let text = format!("{}ikev2_proposals = [\"p\"]\n{BASE}", dynamic_entry(""));
        let l = parse(Path::new("gw.toml"), &text, INTERFACES).unwrap();
        assert!(l.warnings.is_empty(), "{}", l.warnings);
        assert!(l.config.crypto_map("m", 65535).is_some_and(|m| m.dynamic));
    }

    #[test]
    fn dynamic_entry_with_peers() {
        check(
            &dynamic_entry("peers = [\"192.0.2.3\"]\nikev2_proposals = [\"p\"]\n"),
            &[
                "gw.toml:20:9: crypto_map[0].peers: a dynamic entry lists no peers: it answers any peer of its tunnel group; remove peers or set dynamic = false",
            ],
        );
    }

    #[test]
    fn dynamic_entry_without_tunnel_group() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 65535
match = "acl"
dynamic = true
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:1:1: crypto_map[0].tunnel_group: missing required key \"tunnel_group\" (a dynamic entry answers the peers of one tunnel group)",
            ],
        );
    }

    #[test]
    fn tunnel_group_on_a_static_entry() {
        check(
            r#"[[crypto_map]]
name = "m"
sequence = 20
match = "acl"
peers = ["192.0.2.3"]
tunnel_group = "DefaultL2LGroup"
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:6:16: crypto_map[0].tunnel_group: tunnel_group applies to dynamic entries only (dynamic = true); the peers of a static entry use the tunnel group named by their address (or DefaultL2LGroup)",
            ],
        );
    }

    #[test]
    fn dynamic_entry_names_an_unknown_tunnel_group() {
        check(
            &dynamic_entry("ikev2_proposals = [\"p\"]\n")
                .replace("= \"RA\"\nikev2_p", "= \"ra\"\nikev2_p"),
            &[
                "gw.toml:19:16: crypto_map[0].tunnel_group: no tunnel_group named \"ra\"; defined: RA, DefaultL2LGroup",
            ],
        );
    }

    #[test]
    fn dynamic_entry_with_a_remote_access_group_without_pools() {
        let text = dynamic_entry("ikev2_proposals = [\"p\"]\n")
            .replace("address_pools = [\"ra-pool\"]\n", "dns_servers = [\"10.1.0.53\"]\n");
        check(
            &text,
            &[
                "gw.toml:19:16: crypto_map[0].tunnel_group: tunnel group \"RA\" is remote-access and has no address_pools; dynamic crypto map m 65535 needs one to give IKEv2 clients an address",
            ],
        );
    }

    /// IKEv1 on a dynamic entry (from line 20): transform set `ts` defined after it.
    const V1_EXTRA: &str = r#"ike_version = ["ikev2", "ikev1"]
ikev2_proposals = ["p"]
ikev1_transform_sets = ["ts"]

[[transform_set]]
name = "ts"
encryption = "esp-aes-256"
integrity = "esp-sha256-hmac"

"#;

    /// A user for XAUTH and the group's IKEv1 key.
    fn with_xauth(text: &str) -> String {
        text.replace(
            "address_pools = [\"ra-pool\"]\n",
            "address_pools = [\"ra-pool\"]\nikev1_pre_shared_key = \"group\"\n",
        ) + "[[user]]\nname = \"alice\"\npassword = \"s3cret\"\n\n"
    }

    #[test]
    fn dynamic_entry_with_ikev1_for_xauth_clients_is_valid() {
        let text = format!("{}{BASE}", with_xauth(&dynamic_entry(V1_EXTRA)));
        let l = parse(Path::new("gw.toml"), &text, INTERFACES).unwrap();
        assert!(l.warnings.is_empty(), "{}", l.warnings);
        let m = l.config.crypto_map("m", 65535).unwrap();
        assert!(m.dynamic && m.uses(IkeVersion::Ikev1) && m.uses(IkeVersion::Ikev2));
        // It renders and loads back as it was.
        let again = parse(Path::new("gw.toml"), &l.config.to_toml_with_secrets(), INTERFACES);
        assert_eq!(again.unwrap().config, l.config);
        // Without ike_version: the versions whose transforms it has, IKEv1 alone here.
        let v1_only = V1_EXTRA
            .replace("ike_version = [\"ikev2\", \"ikev1\"]\nikev2_proposals = [\"p\"]\n", "");
        let text = format!("{}{BASE}", with_xauth(&dynamic_entry(&v1_only)));
        let l = parse(Path::new("gw.toml"), &text, INTERFACES).unwrap();
        assert_eq!(l.config.crypto_map("m", 65535).unwrap().ike_versions, [IkeVersion::Ikev1]);
    }

    #[test]
    fn dynamic_entry_with_ikev1_needs_users_and_the_groups_ikev1_key() {
        check(
            &dynamic_entry(V1_EXTRA),
            &[
                "gw.toml:5:1: tunnel_group[0].ikev1_pre_shared_key: tunnel group \"RA\" needs ikev1_pre_shared_key, ikev1_pre_shared_key_file or trustpoint: crypto map m 65535 uses IKEv1 with any peer (dynamic)",
                "gw.toml:19:16: crypto_map[0].tunnel_group: crypto map m 65535 answers IKEv1 clients of remote-access tunnel group \"RA\", which log in with XAUTH against the [[user]] list, and there is no [[user]]; add one (name and password or password_file)",
            ],
        );
    }

    #[test]
    fn dynamic_entry_with_ikev1_needs_an_ipv4_pool() {
        let text = with_xauth(&dynamic_entry(V1_EXTRA))
            .replace("range = \"10.77.0.10-10.77.0.20\"", "prefix = \"2001:db8:77::/64\"");
        // (The group's IKEv1 key moved the entry down a line.)
        check(
            &text,
            &[
                "gw.toml:20:16: crypto_map[0].tunnel_group: tunnel group \"RA\" has only IPv6 address_pools; dynamic crypto map m 65535 needs an IPv4 one to give IKEv1 clients an address (Mode Config gives IPv4 addresses)",
            ],
        );
        let text =
            with_xauth(&dynamic_entry(V1_EXTRA)).replace("address_pools = [\"ra-pool\"]\n", "");
        check(
            &text,
            &[
                "gw.toml:19:16: crypto_map[0].tunnel_group: tunnel group \"RA\" is remote-access and has no address_pools; dynamic crypto map m 65535 needs one to give IKEv1 and IKEv2 clients an address",
            ],
        );
    }

    #[test]
    fn dynamic_entry_that_would_initiate() {
        for kind in ["originate-only", "bidirectional"] {
            let extra = format!("connection_type = \"{kind}\"\nikev2_proposals = [\"p\"]\n");
            let expected = format!(
                "gw.toml:20:19: crypto_map[0].connection_type: a dynamic entry cannot initiate (it has no peer); connection_type must be \"answer-only\" (is \"{kind}\")"
            );
            check(&dynamic_entry(&extra), &[expected.as_str()]);
        }
    }

    #[test]
    fn dynamic_entry_without_ikev2_proposals() {
        check(
            &dynamic_entry(""),
            &[
                "gw.toml:14:1: crypto_map[0].ikev2_proposals: crypto map m 65535 has neither ikev1_transform_sets nor ikev2_proposals (set ikev1 transform-set / set ikev2 ipsec-proposal); it needs one",
            ],
        );
    }

    #[test]
    fn second_dynamic_entry_in_a_map() {
        let first = dynamic_entry("ikev2_proposals = [\"p\"]\n");
        check(
            &format!("{first}{}", first.replace(RA_GROUP, "\n").replace("65535", "65534")),
            &[
                "gw.toml:26:11: crypto_map[1].dynamic: crypto map \"m\" already has a dynamic entry (sequence 65535, line 18); a crypto map takes one dynamic entry",
            ],
        );
    }

    #[test]
    fn dynamic_entry_group_lacks_ikev2_credentials() {
        check(
            r#"[[tunnel_group]]
name = "sites"
type = "ipsec-l2l"
ikev1_pre_shared_key = "x"

[[crypto_map]]
name = "m"
sequence = 65535
match = "acl"
dynamic = true
tunnel_group = "sites"
ikev2_proposals = ["p"]
"#,
            &[
                "gw.toml:1:1: tunnel_group[0].ikev2_local_authentication: tunnel group \"sites\" needs ikev2_local_authentication (pre-shared-key or certificate): crypto map m 65535 uses IKEv2 with any peer (dynamic)",
                "gw.toml:1:1: tunnel_group[0].ikev2_remote_authentication: tunnel group \"sites\" needs ikev2_remote_authentication (pre-shared-key or certificate): crypto map m 65535 uses IKEv2 with any peer (dynamic)",
            ],
        );
    }
}
