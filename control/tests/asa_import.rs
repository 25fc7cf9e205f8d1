//! `control::asa_import` against a realistic ASA running-config (tests/data/asa/hub.cfg) and
//! per-construct snippets, through the public API.

use control::asa_import::{Import, import, import_named};
use toml::{Table, Value};

fn hub() -> Import {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/asa/hub.cfg"))
            .expect("hub.cfg");
    import_named("hub.cfg", &text)
}

fn parse(out: &Import) -> Table {
    toml::from_str::<Table>(&out.toml).unwrap_or_else(|e| panic!("{e}\n{}", out.toml))
}

/// The `index`th table of array-of-tables `key`.
fn nth<'t>(doc: &'t Table, key: &str, index: usize) -> &'t Table {
    doc[key]
        .as_array()
        .and_then(|a| a.get(index))
        .and_then(Value::as_table)
        .unwrap_or_else(|| panic!("no {key}[{index}]"))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string")).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().expect("array").iter().map(|s| s.as_integer().expect("integer")).collect()
}

fn inline(s: &str) -> Value {
    let doc: Table = toml::from_str(&format!("v = {s}")).expect("inline table");
    doc["v"].clone()
}

/// Named `asa_import` so that `cargo test -p control asa_import` selects these tests too.
mod asa_import {
    use super::*;

    #[test]
    fn hub_header_and_global_ike() {
        let out = hub();
        let mut lines = out.toml.lines();
        assert_eq!(
            lines.next(),
            Some(
                "# ferrogate config imported by `ferrogate import-asa` from the Cisco ASA \
             running-config hub.cfg"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "# 76 line(s) of the source could not be mapped: they are listed at the end of this \
             file."
            )
        );
        assert!(out.toml.contains("# This file holds pre-shared keys: keep it mode 0600.\n"));
        let doc = parse(&out);
        let ike = doc["ike"].as_table().unwrap();
        assert_eq!(ike["allow_weak_dh"].as_bool(), Some(true));
        assert_eq!(ike["identity"].as_str(), Some("auto"));
        assert_eq!(ike["nat_keepalive_seconds"].as_integer(), Some(30));
        assert_eq!(ike["cookie_threshold_percent"].as_integer(), Some(50));
        assert_eq!(ike.len(), 4);
    }

    #[test]
    fn hub_access_lists_resolve_objects_and_expand_groups() {
        let doc = parse(&hub());
        let acls = doc["access_list"].as_array().unwrap();
        let names: Vec<&str> = acls.iter().map(|a| a["name"].as_str().unwrap()).collect();
        // Only the ACLs a crypto map matches, in the order the ASA had them.
        assert_eq!(names, ["site-b-acl", "site-c-acl", "site-d-acl"]);
        let rules = |i: usize| nth(&doc, "access_list", i)["rules"].as_array().unwrap().clone();
        assert_eq!(
            rules(0),
            vec![
                inline(
                    r#"{ action = "permit", protocol = "ip", src = "10.0.0.0/16", dst = "10.20.0.0/24" }"#
                ),
                inline(
                    r#"{ action = "permit", protocol = "ip", src = "172.16.0.0/20", dst = "10.20.0.0/24" }"#
                ),
                inline(
                    r#"{ action = "deny", protocol = "tcp", src = "any", dst = "10.20.0.10", dst_port = "22" }"#
                ),
            ]
        );
        // object-group with a nested `range` object: 10.30.0.10-25 is four prefixes.
        let dsts: Vec<String> =
            rules(1).iter().map(|r| r["dst"].as_str().unwrap().to_string()).collect();
        assert_eq!(
            dsts,
            [
                "10.30.1.0/24",
                "10.30.0.10/31",
                "10.30.0.12/30",
                "10.30.0.16/29",
                "10.30.0.24/31",
                "10.30.0.53"
            ]
        );
        assert_eq!(
            rules(1)[5],
            inline(
                r#"{ action = "permit", protocol = "udp", src = "10.0.0.0/16", dst = "10.30.0.53", dst_port = "53" }"#
            )
        );
        assert_eq!(
            rules(2),
            vec![
                inline(
                    r#"{ action = "permit", protocol = "tcp", src = "10.0.9.0/24", dst = "10.40.0.0/16", dst_port = "8000-8080" }"#
                ),
                inline(
                    r#"{ action = "permit", protocol = "icmp", src = "10.0.9.0/24", dst = "10.40.0.0/16", icmp_type = 8 }"#
                ),
            ]
        );
    }

    #[test]
    fn hub_ike_policies_transform_sets_and_proposals() {
        let doc = parse(&hub());
        let v1 = nth(&doc, "ikev1_policy", 0);
        assert_eq!(v1["priority"].as_integer(), Some(10));
        assert_eq!(v1["authentication"].as_str(), Some("pre-share"));
        assert_eq!(v1["encryption"].as_str(), Some("aes-256"));
        assert_eq!(v1["hash"].as_str(), Some("sha"));
        assert_eq!(v1["group"].as_integer(), Some(14));
        assert_eq!(v1["lifetime"].as_integer(), Some(86400));
        let v1b = nth(&doc, "ikev1_policy", 1);
        assert_eq!(
            (v1b["authentication"].as_str(), v1b["encryption"].as_str(), v1b["hash"].as_str()),
            (Some("rsa-sig"), Some("3des"), Some("md5"))
        );
        assert_eq!(v1b["group"].as_integer(), Some(2));

        let v2 = nth(&doc, "ikev2_policy", 0);
        assert_eq!(v2["priority"].as_integer(), Some(1));
        assert_eq!(strs(&v2["encryption"]), ["aes-gcm-256", "aes-gcm"]);
        assert_eq!(strs(&v2["integrity"]), ["null"]);
        assert_eq!(strs(&v2["prf"]), ["sha384", "sha256"]);
        assert_eq!(ints(&v2["group"]), [21, 20, 19]);
        assert_eq!(v2["lifetime_seconds"].as_integer(), Some(86400));
        let v2b = nth(&doc, "ikev2_policy", 1);
        assert_eq!(strs(&v2b["integrity"]), ["sha256", "sha"]);
        assert_eq!(ints(&v2b["group"]), [14, 5]);

        let ts = nth(&doc, "transform_set", 0);
        assert_eq!(ts["name"].as_str(), Some("ts-aes256-sha"));
        assert_eq!(ts["encryption"].as_str(), Some("esp-aes-256"));
        assert_eq!(ts["integrity"].as_str(), Some("esp-sha-hmac"));
        // `crypto ipsec ikev1 transform-set ts-aes256-sha mode transport` came later in the file.
        assert_eq!(ts["mode"].as_str(), Some("transport"));
        assert_eq!(nth(&doc, "transform_set", 1)["mode"].as_str(), Some("tunnel"));

        let p = nth(&doc, "ipsec_proposal", 0);
        assert_eq!(p["name"].as_str(), Some("p-gcm"));
        assert_eq!(strs(&p["encryption"]), ["aes-gcm-256", "aes-gcm"]);
        assert_eq!(strs(&p["integrity"]), ["null"]);
        assert_eq!(strs(&nth(&doc, "ipsec_proposal", 1)["integrity"]), ["sha-256", "sha-1"]);
    }

    #[test]
    fn hub_crypto_maps_and_interfaces() {
        let doc = parse(&hub());
        let maps = doc["crypto_map"].as_array().unwrap();
        assert_eq!(maps.len(), 3, "the dynamic entry 65535 (IKEv1 only) is not mapped");
        let m10 = nth(&doc, "crypto_map", 0);
        assert_eq!(
            m10.clone(),
            toml::from_str::<Table>(
                r#"
            name = "outside_map"
            sequence = 10
            match = "site-b-acl"
            peers = ["198.51.100.2", "198.51.100.3", "198.51.100.4"]
            ikev2_proposals = ["p-gcm", "p-cbc"]
            pfs = 20
            lifetime_seconds = 3600
            replay_window = 1024
            "#
            )
            .unwrap()
        );
        let m20 = nth(&doc, "crypto_map", 1);
        assert_eq!(strs(&m20["ikev1_transform_sets"]), ["ts-aes256-sha", "ts-3des-md5"]);
        assert_eq!(m20["pfs"].as_integer(), Some(2), "`set pfs` alone is group2");
        assert_eq!(m20["lifetime_seconds"].as_integer(), Some(28800), "global SA lifetime");
        assert_eq!(m20["connection_type"].as_str(), Some("answer-only"));
        assert_eq!(m20["nat_t"].as_bool(), Some(false));
        let m30 = nth(&doc, "crypto_map", 2);
        assert_eq!(strs(&m30["ikev1_transform_sets"]), ["ts-aes256-sha"]);
        assert_eq!(strs(&m30["ikev2_proposals"]), ["p-cbc"]);
        assert_eq!(m30["lifetime_kilobytes"].as_str(), Some("unlimited"));
        assert_eq!(m30["reverse_route"].as_bool(), Some(true));
        assert!(!m30.contains_key("pfs"));

        assert_eq!(doc["crypto_interface"].as_array().unwrap().len(), 1);
        assert_eq!(
            nth(&doc, "crypto_interface", 0).clone(),
            toml::from_str::<Table>(
                r#"
            interface = "outside"
            crypto_map = "outside_map"
            ikev1 = true
            ikev2 = true
            fragmentation = "before-encryption"
            df_bit = "copy"
            "#
            )
            .unwrap()
        );
        assert!(!doc.contains_key("interface"), "no [[interface]] tables: only hints");
        let out = hub();
        assert!(out.toml.contains("#   outside = ASA GigabitEthernet1/1, 203.0.113.1/24\n"));
        assert!(out.notes.iter().any(|n| n.starts_with(
            "line 15: interface GigabitEthernet1/1 (nameif outside, 203.0.113.1/24): add an \
         [[interface]] named \"outside\""
        )));
    }

    #[test]
    fn hub_trustpoints_pools_and_tunnel_groups() {
        let out = hub();
        let doc = parse(&out);
        assert_eq!(
            nth(&doc, "trustpoint", 0).clone(),
            toml::from_str::<Table>(
                r#"
            name = "hub-id"
            ca_certificates = ["/etc/ferrogate/pki/hub-id-ca.pem"]
            certificate = "/etc/ferrogate/pki/hub-id.pem"
            private_key = "/etc/ferrogate/pki/hub-id.key"
            "#
            )
            .unwrap()
        );
        assert!(out.notes.iter().any(|n| n.starts_with(
            "trustpoint hub-id: export its CA certificate(s) to /etc/ferrogate/pki/hub-id-ca.pem"
        )));
        let values = toml::to_string(&doc).unwrap();
        assert!(!values.contains("308203a1"), "certificate dumps are never copied");

        let pool = nth(&doc, "address_pool", 0);
        assert_eq!(pool["name"].as_str(), Some("ra-pool"));
        assert_eq!(pool["range"].as_str(), Some("10.9.0.10-10.9.0.250"));

        let names: Vec<&str> = doc["tunnel_group"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["198.51.100.2", "192.0.2.50", "192.0.2.77", "ra-users", "DefaultL2LGroup"]
        );
        let b = nth(&doc, "tunnel_group", 0);
        assert_eq!(b["type"].as_str(), Some("ipsec-l2l"));
        assert_eq!(b["ikev2_local_authentication"].as_str(), Some("pre-shared-key"));
        assert_eq!(b["ikev2_local_pre_shared_key"].as_str(), Some("b-local-key"));
        assert_eq!(b["ikev2_remote_authentication"].as_str(), Some("pre-shared-key"));
        // Copied byte for byte, quote and backslash included.
        assert_eq!(b["ikev2_remote_pre_shared_key"].as_str(), Some("b-remote\"key\\1"));
        assert_eq!(b["peer_id_validate"].as_str(), Some("nocheck"));
        assert_eq!(b["keepalive"], inline("{ threshold = 10, retry = 2 }"));
        let c = nth(&doc, "tunnel_group", 1);
        assert_eq!(c["ikev1_pre_shared_key"].as_str(), Some("c-shared-secret"));
        let d = nth(&doc, "tunnel_group", 2);
        assert!(!d.contains_key("ikev1_pre_shared_key"), "a masked key is not copied");
        assert_eq!(d["ikev2_local_authentication"].as_str(), Some("certificate"));
        assert_eq!(d["ikev2_remote_authentication"].as_str(), Some("certificate"));
        assert_eq!(d["trustpoint"].as_str(), Some("hub-id"));
        assert_eq!(d["keepalive"].as_str(), Some("disable"));
        let ra = nth(&doc, "tunnel_group", 3);
        assert_eq!(ra["type"].as_str(), Some("remote-access"));
        assert_eq!(strs(&ra["address_pools"]), ["ra-pool"]);
        assert_eq!(ra["ikev1_pre_shared_key"].as_str(), Some("ra-group-key"));
        // The ASA's fallback group for peers 198.51.100.3 and .4, which have none of their own.
        let default = nth(&doc, "tunnel_group", 4);
        assert_eq!(default["type"].as_str(), Some("ipsec-l2l"));
        assert_eq!(default["ikev1_pre_shared_key"].as_str(), Some("default-l2l-key"));
        assert_eq!(default["ikev2_remote_pre_shared_key"].as_str(), Some("default-l2l-remote"));
        assert_eq!(default["ikev2_local_pre_shared_key"].as_str(), Some("default-l2l-local"));
        assert!(out.notes.iter().any(|n| n.contains("store it with mode 0600")));
    }

    /// Every line the importer could not map, with its reason.
    const HUB_UNMAPPED: &[(usize, &str)] = &[
        (8, "not a crypto section"),
        (9, "not a crypto section"),
        (10, "not a crypto section"),
        (13, "name unused-host is not used by a crypto access list (not a crypto section)"),
        (17, "not a crypto section"),
        (22, "not a crypto section"),
        (25, "not a crypto section (interface without nameif)"),
        (26, "not a crypto section (interface without nameif)"),
        (27, "not a crypto section (interface without nameif)"),
        (28, "not a crypto section (interface without nameif)"),
        (29, "not a crypto section (interface without nameif)"),
        (31, "not a crypto section"),
        (32, "not a crypto section"),
        (33, "not a crypto section"),
        (40, "object web-dmz is not used by a crypto access list (not a crypto section)"),
        (41, "object web-dmz is not used by a crypto access list (not a crypto section)"),
        (42, "not a crypto section (object NAT)"),
        (43, FQDN_OBJECT),
        (44, FQDN),
        (52, SERVICE_GROUP),
        (53, SERVICE_GROUP),
        (54, SERVICE_GROUP),
        (55, NOT_CRYPTO_ACL_OUTSIDE),
        (56, NOT_CRYPTO_ACL_OUTSIDE),
        (57, NOT_CRYPTO_ACL_OUTSIDE),
        (64, "non-contiguous netmask 255.0.255.0: ferrogate addresses are prefixes (A.B.C.D/len)"),
        (68, FQDN_OBJECT),
        (69, "service object-group `vpn-ports` is not supported: write the ports into the rule"),
        (
            70,
            "access list split-tunnel is not matched by a crypto map (`match address`): not a \
         crypto section",
        ),
        (71, "not a crypto section"),
        (72, "not a crypto section"),
        (73, "not a crypto section"),
        (74, "not a crypto section"),
        (75, "not a crypto section"),
        (76, FAILOVER),
        (77, FAILOVER),
        (78, FAILOVER),
        (79, FAILOVER),
        (80, FAILOVER),
        (81, FAILOVER),
        (82, "not a crypto section"),
        (83, "not a crypto section"),
        (84, "not a crypto section"),
        (85, "not a crypto section"),
        (86, "not a crypto section"),
        (87, "not a crypto section"),
        (88, "not a crypto section"),
        (89, "not a crypto section"),
        (99, "`crypto ipsec security-association pmtu-aging infinite` has no ferrogate equivalent"),
        (103, DYNAMIC_MAP),
        (104, DYNAMIC_MAP),
        (
            123,
            "a crypto map has no trustpoint in ferrogate: give it in the tunnel group (`trustpoint`)",
        ),
        (124, DYNAMIC_MAP),
        (
            127,
            "ferrogate does not enroll certificates: export the enrolled certificate and key as PEM \
         files",
        ),
        (128, "enrollment request details are not needed once the certificate is exported"),
        (130, "revocation checking is not configured per trustpoint in ferrogate"),
        (131, "`crypto ca trustpool policy` has no ferrogate equivalent"),
        (
            132,
            "certificate hex dumps are not imported: export trustpoint hub-id's certificates as PEM \
         (`crypto ca export hub-id identity-certificate`) into /etc/ferrogate/pki",
        ),
        (133, "part of the certificate chain of line 132"),
        (134, "part of the certificate chain of line 132"),
        (135, "part of the certificate chain of line 132"),
        (136, "part of the certificate chain of line 132"),
        (167, GROUP_POLICY),
        (168, GROUP_POLICY),
        (169, GROUP_POLICY),
        (170, GROUP_POLICY),
        (171, GROUP_POLICY),
        (
            183,
            "the key is masked (`*****`): take the config from `more system:running-config` to get \
         the keys, or give a *_pre_shared_key_file",
        ),
        (190, GROUP_POLICY),
        (193, "XAUTH user authentication is not supported"),
        (198, DEFAULT_RA),
        (199, DEFAULT_RA),
        (200, WEBVPN),
        (201, WEBVPN),
        (202, WEBVPN),
        (204, "not a crypto section"),
    ];
    const FQDN: &str = "fqdn objects are not supported: ferrogate access lists need addresses resolved at load time";
    const FQDN_OBJECT: &str = "object vpn-fqdn: fqdn objects are not supported: ferrogate access \
                           lists need addresses resolved at load time (line 44)";
    const SERVICE_GROUP: &str = "`object-group service` is not supported: write the protocols and \
                             ports into the access-list rules (only `object-group network` is \
                             resolved)";
    const NOT_CRYPTO_ACL_OUTSIDE: &str = "access list outside_access_in is not matched by a crypto \
                                      map (`match address`): not a crypto section";
    const FAILOVER: &str = "ASA failover is not converted: configure ferrogate HA in [ha] (its link, \
                        addresses and key) by hand";
    /// dyn-ra has an IKEv1 transform set only.
    const DYNAMIC_MAP: &str = "dynamic map dyn-ra has no IKEv2 proposal (`set ikev2 \
                           ipsec-proposal`), and ferrogate's dynamic crypto map entries are \
                           IKEv2 only";
    const GROUP_POLICY: &str = "group-policies are not supported: give the remote-access settings \
                            (dns_servers, default_domain) in the tunnel group";
    const DEFAULT_RA: &str = "the built-in DefaultRAGroup has no ferrogate equivalent: give the \
                          settings to a tunnel group of its own";
    const WEBVPN: &str = "webvpn / AnyConnect (SSL VPN) is not supported";

    #[test]
    fn hub_unmapped_lines_are_exact() {
        let out = hub();
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        for (g, e) in got.iter().zip(HUB_UNMAPPED) {
            assert_eq!(g, e);
        }
        assert_eq!(got.len(), HUB_UNMAPPED.len());
        // Texts are the source lines with secrets masked.
        let text = |line| out.unmapped.iter().find(|u| u.line == line).map(|u| u.text.as_str());
        assert_eq!(text(79), Some("failover key *****"));
        assert_eq!(text(199), Some(" ikev1 pre-shared-key *****"));
        assert_eq!(text(10), Some("enable password ***** pbkdf2"));
        assert!(!out.toml.contains("default-ra-key") && !out.toml.contains("fo-secret-key"));
        // The unmapped list is repeated, as comments, at the end of the output.
        assert!(out.toml.contains("#   124: crypto map outside_map 65535 ipsec-isakmp dynamic dyn-ra -- dynamic map dyn-ra has no IKEv2 proposal"));
    }

    #[test]
    fn hub_notes_explain_interpretations() {
        let out = hub();
        for expected in [
            "line 114: `set pfs` without a group means group2 on the ASA: written as pfs = 2",
            "line 149: `client-services port 443` ignored: AnyConnect client services are not supported",
            "line 59: expanded into 2 rules",
            "line 62: expanded into 5 rules",
            "line 100: global IPsec SA default copied into every crypto map that sets none",
            "weak Diffie-Hellman groups (1, 2, 5 or 24) are used (lines 114, 143, 158): [ike] \
         allow_weak_dh = true was written so that the config loads; move the peers to group 14 \
         or better and remove it",
        ] {
            assert!(
                out.notes.iter().any(|n| n == expected),
                "missing note {expected:?} in {:#?}",
                out.notes
            );
        }
    }

    #[test]
    fn hub_output_passes_the_policy_validator() {
        // The converted file must load as it is: the only findings are the weak
        // algorithms the ASA config really uses.
        let out = hub();
        let doc = parse(&out);
        let interfaces: Vec<&str> = doc
            .get("crypto_interface")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|i| i.get("interface")?.as_str()).collect())
            .unwrap_or_default();
        let loaded =
            control::policy::parse(std::path::Path::new("hub.toml"), &out.toml, &interfaces)
                .unwrap_or_else(|d| panic!("the imported config does not validate:\n{d}"));
        assert!(!loaded.config.crypto_maps.is_empty());
        assert!(!loaded.config.tunnel_groups.is_empty());
        for w in loaded.warnings.all() {
            assert!(w.message.contains("weak"), "unexpected warning: {w}");
        }
    }

    #[test]
    fn import_is_deterministic() {
        assert_eq!(hub(), hub());
    }

    #[test]
    fn sub_mode_ends_where_indentation_ends() {
        let out = import(
            "crypto ikev2 policy 5\n encryption aes-256\n integrity sha256\n group 19\nencryption des\n \
         group 14\n",
        );
        let doc = parse(&out);
        assert_eq!(ints(&nth(&doc, "ikev2_policy", 0)["group"]), [19]);
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        assert_eq!(got, [(5, "not a crypto section"), (6, "not a crypto section")]);
    }

    #[test]
    fn orphan_indented_lines_are_reported() {
        let out = import(" encryption aes-256\n!\n group 14\n");
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        let reason = "indented line outside any sub-mode (no command above it)";
        assert_eq!(got, [(1, reason), (3, reason)]);
    }

    #[test]
    fn set_pfs_without_group_needs_allow_weak_dh() {
        let out = import("crypto map m 10 set pfs\ncrypto map m 10 set peer 192.0.2.1\n");
        let doc = parse(&out);
        assert_eq!(nth(&doc, "crypto_map", 0)["pfs"].as_integer(), Some(2));
        assert_eq!(doc["ike"]["allow_weak_dh"].as_bool(), Some(true));
        assert!(out.notes.iter().any(|n| n.contains("(lines 1)")), "{:?}", out.notes);
        let strong = import("crypto map m 10 set pfs group19\n");
        let doc = parse(&strong);
        assert_eq!(nth(&doc, "crypto_map", 0)["pfs"].as_integer(), Some(19));
        assert!(!doc.contains_key("ike"));
    }

    #[test]
    fn pre_shared_key_forms() {
        let out = import(
            "tunnel-group 192.0.2.9 type ipsec-l2l\ntunnel-group 192.0.2.9 ipsec-attributes\n \
         ikev1 pre-shared-key 8 Zm9vYmFy\n ikev2 local-authentication pre-shared-key k#1=\n \
         peer-id-validate req\n isakmp keepalive threshold infinite\n",
        );
        let doc = parse(&out);
        let tg = nth(&doc, "tunnel_group", 0);
        assert_eq!(tg["ikev2_local_pre_shared_key"].as_str(), Some("k#1="));
        assert_eq!(tg["peer_id_validate"].as_str(), Some("required"));
        assert!(!tg.contains_key("ikev1_pre_shared_key"));
        let got: Vec<usize> = out.unmapped.iter().map(|u| u.line).collect();
        assert_eq!(got, [3, 6]);
        assert!(
            out.unmapped[0]
                .reason
                .starts_with("the key is encrypted with the ASA master passphrase")
        );
        assert_eq!(out.unmapped[0].text, " ikev1 pre-shared-key ***** *****");
    }

    #[test]
    fn pools_identity_and_nat_traversal() {
        let out = import(
            "ipv6 local pool v6pool 2001:db8:9::/64 250\nip local pool bad 10.0.0.9-10.0.0.1\nno \
         crypto isakmp nat-traversal\ncrypto isakmp identity key-id\n",
        );
        let doc = parse(&out);
        assert_eq!(nth(&doc, "address_pool", 0)["prefix"].as_str(), Some("2001:db8:9::/64"));
        assert_eq!(doc["ike"]["nat_keepalive_seconds"].as_integer(), Some(0));
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "pool 10.0.0.9-10.0.0.1 ends before it starts"),
                (4, "`identity key-id` is not supported (expected address, hostname or auto)"),
            ]
        );
    }

    #[test]
    fn ikev2_fragmentation_commands() {
        let out = import(
            "crypto ikev2 fragmentation mtu 1200\ncrypto ikev2 fragmentation preferred-method \
             cisco\ncrypto ikev2 fragmentation mtu 9000\n",
        );
        let doc = parse(&out);
        assert_eq!(doc["ike"]["ikev2_fragmentation"].as_bool(), Some(true));
        assert_eq!(doc["ike"]["ikev2_fragmentation_mtu"].as_integer(), Some(1200));
        assert!(out.notes.iter().any(|n| n.contains("Cisco proprietary IKEv2 fragmentation")));
        let got: Vec<usize> = out.unmapped.iter().map(|u| u.line).collect();
        assert_eq!(got, [3], "mtu 9000 is out of the ASA's range");

        let out = import("crypto ikev2 fragmentation mtu 100\n");
        assert_eq!(parse(&out)["ike"]["ikev2_fragmentation_mtu"].as_integer(), Some(576));
        assert!(out.notes.iter().any(|n| n.contains("raised to 576")));

        let out = import("no crypto ikev2 fragmentation\n");
        let doc = parse(&out);
        assert_eq!(doc["ike"]["ikev2_fragmentation"].as_bool(), Some(false));
        assert!(out.unmapped.is_empty());
        // The imported [ike] section loads.
        let policy = control::policy::parse(std::path::Path::new("ike.toml"), &out.toml, &[]);
        assert!(policy.is_ok(), "{:?}", policy.err());
    }

    #[test]
    fn unknown_algorithms_are_reported_with_the_accepted_list() {
        let out = import(
            "crypto ipsec ikev2 ipsec-proposal p\n protocol esp encryption aes-256 serpent\n \
         protocol esp integrity sha-256\ncrypto ipsec ikev1 transform-set t esp-aes-256 \
         esp-sha1-hmac\n",
        );
        let doc = parse(&out);
        let p = nth(&doc, "ipsec_proposal", 0);
        assert_eq!(strs(&p["encryption"]), Vec::<&str>::new(), "the whole list line is unmapped");
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    2,
                    "unknown ESP encryption `serpent` (expected one of: des 3des aes aes-192 aes-256 \
                 aes-gcm aes-gcm-192 aes-gcm-256 aes-gmac aes-gmac-192 aes-gmac-256 \
                 chacha20-poly1305 null)"
                ),
                (
                    4,
                    "unknown transform `esp-sha1-hmac` (expected one of: esp-des esp-3des esp-aes \
                 esp-aes-192 esp-aes-256 esp-null esp-md5-hmac esp-sha-hmac esp-sha256-hmac \
                 esp-sha384-hmac esp-sha512-hmac esp-none)"
                ),
            ]
        );
        assert!(out.notes.iter().any(|n| n.contains("IPsec proposal p has no encryption")));
    }

    #[test]
    fn empty_and_comment_only_inputs() {
        for text in ["", "\n", "!\n: end\n", "\r\n\r\n"] {
            let out = import(text);
            assert!(out.unmapped.is_empty());
            assert!(out.toml.starts_with("# ferrogate config imported"));
            parse(&out);
        }
    }

    /// Loads an import with the policy loader (the interfaces its [[crypto_interface]] tables
    /// name are declared), failing with the loader's diagnostics.
    fn load(out: &Import) -> control::policy::Loaded {
        let doc = parse(out);
        let interfaces: Vec<&str> = doc
            .get("crypto_interface")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|i| i.get("interface")?.as_str()).collect())
            .unwrap_or_default();
        control::policy::parse(std::path::Path::new("asa.toml"), &out.toml, &interfaces)
            .unwrap_or_else(|d| panic!("the imported config does not load:\n{d}\n{}", out.toml))
    }

    /// The unmapped lines as (line, reason).
    fn unmapped(out: &Import) -> Vec<(usize, &str)> {
        out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect()
    }

    /// IKEv2 with pre-shared keys: the proposal, the IKE policy and the interface of the
    /// remote-access examples below (lines 1-10).
    const RA_COMMON: &str = "\
crypto ipsec ikev2 ipsec-proposal P1
 protocol esp encryption aes-gcm-256
 protocol esp integrity null
crypto ikev2 policy 10
 encryption aes-gcm-256
 integrity null
 group 19
 prf sha256
crypto ikev2 enable outside
ip local pool RA-POOL 10.77.0.10-10.77.0.100 mask 255.255.255.0
";

    /// A remote-access tunnel group with an address pool, IKEv2 keys and a group-policy for
    /// its DNS server, as the ASA writes it (lines 1-10 of the snippet).
    const RA_GROUP: &str = "\
group-policy RA-POLICY internal
group-policy RA-POLICY attributes
 dns-server value 10.0.0.53
tunnel-group RA type remote-access
tunnel-group RA general-attributes
 address-pool RA-POOL
 default-group-policy RA-POLICY
tunnel-group RA ipsec-attributes
 ikev2 remote-authentication pre-shared-key ra-client-key
 ikev2 local-authentication pre-shared-key ra-hub-key
";

    #[test]
    fn remote_access_dynamic_map_becomes_a_dynamic_entry() {
        let text = format!(
            "{RA_COMMON}\
access-list RA-ACL extended permit ip 10.0.0.0 255.255.0.0 10.77.0.0 255.255.255.0
crypto dynamic-map DYN 10 match address RA-ACL
crypto dynamic-map DYN 10 set ikev2 ipsec-proposal P1
crypto dynamic-map DYN 10 set pfs group19
crypto dynamic-map DYN 10 set security-association lifetime seconds 28800
crypto dynamic-map DYN 10 set reverse-route
crypto map outside_map 65535 ipsec-isakmp dynamic DYN
crypto map outside_map interface outside
{RA_GROUP}"
        );
        let out = import(&text);
        let doc = parse(&out);
        assert_eq!(doc["crypto_map"].as_array().unwrap().len(), 1);
        assert_eq!(
            nth(&doc, "crypto_map", 0).clone(),
            toml::from_str::<Table>(
                r#"
            name = "outside_map"
            sequence = 65535
            dynamic = true
            tunnel_group = "RA"
            match = "RA-ACL"
            ikev2_proposals = ["P1"]
            pfs = 19
            lifetime_seconds = 28800
            reverse_route = true
            "#
            )
            .unwrap()
        );
        // The keys in the order of the format document.
        assert!(out.toml.contains(
            "name = \"outside_map\"\nsequence = 65535\ndynamic = true\ntunnel_group = \"RA\"\n\
             match = \"RA-ACL\"\n"
        ));
        assert_eq!(
            nth(&doc, "access_list", 0)["rules"].as_array().unwrap().clone(),
            [inline(
                r#"{ action = "permit", protocol = "ip", src = "10.0.0.0/16", dst = "10.77.0.0/24" }"#
            )]
        );
        // Only the group-policy (ferrogate has none: dns_servers go in the tunnel group).
        let group_policy = "group-policies are not supported: give the remote-access settings \
                            (dns_servers, default_domain) in the tunnel group";
        assert_eq!(
            unmapped(&out),
            [(19, group_policy), (20, group_policy), (21, group_policy), (25, group_policy)]
        );
        assert!(
            out.notes.iter().any(|n| n
                == "line 17: crypto map outside_map 65535 (dynamic map DYN): tunnel_group = \
                    \"RA\", the only remote-access tunnel group with an address pool (the ASA \
                    picks a client's tunnel group by the group name the client sends; a \
                    ferrogate dynamic entry answers the peers of one group)"),
            "{:#?}",
            out.notes
        );
        assert!(!out.notes.iter().any(|n| n.contains("has no `set peer`")), "{:#?}", out.notes);

        let loaded = load(&out);
        let entry = &loaded.config.crypto_maps[0];
        assert!(entry.dynamic);
        assert_eq!(entry.tunnel_group.as_deref(), Some("RA"));
        assert!(entry.peers.is_empty());
        assert_eq!(entry.connection_type.to_string(), "answer-only");
        assert_eq!((entry.lifetime_seconds, entry.reverse_route), (28800, true));
        let ra = loaded.config.tunnel_groups.iter().find(|g| g.name == "RA").unwrap();
        assert_eq!(ra.address_pools, ["RA-POOL"]);
        assert!(loaded.warnings.all().is_empty(), "{}", loaded.warnings);
    }

    #[test]
    fn dynamic_map_without_match_address_gets_a_permit_any_access_list() {
        // The ASA's own `DYN-any` (unmatched) keeps its name: the new list is DYN-any-2.
        let text = format!(
            "{RA_COMMON}\
access-list DYN-any extended permit ip host 10.0.0.1 any
crypto dynamic-map DYN 10 set ikev2 ipsec-proposal P1
crypto map outside_map 65535 ipsec-isakmp dynamic DYN
crypto map outside_map interface outside
{RA_GROUP}"
        );
        let out = import(&text);
        let doc = parse(&out);
        let m = nth(&doc, "crypto_map", 0);
        assert_eq!(m["match"].as_str(), Some("DYN-any-2"));
        assert_eq!(m["dynamic"].as_bool(), Some(true));
        assert_eq!(doc["access_list"].as_array().unwrap().len(), 1);
        let acl = nth(&doc, "access_list", 0);
        assert_eq!(acl["name"].as_str(), Some("DYN-any-2"));
        assert_eq!(
            acl["rules"].as_array().unwrap().clone(),
            [inline(r#"{ action = "permit", protocol = "ip", src = "any", dst = "any" }"#)]
        );
        assert!(
            out.notes.iter().any(|n| n
                == "line 12: dynamic map DYN has no `match address` (on the ASA: all traffic): \
                    access list DYN-any-2 (permit ip any any) was written for it, since a \
                    ferrogate crypto map needs `match`; narrow it to the networks its peers may \
                    reach"),
            "{:#?}",
            out.notes
        );
        assert!(!out.notes.iter().any(|n| n.contains("which is not defined")), "{:#?}", out.notes);
        let got: Vec<usize> = out.unmapped.iter().map(|u| u.line).collect();
        assert_eq!(got, [11, 15, 16, 17, 21], "the ASA's DYN-any and the group-policy");
        let loaded = load(&out);
        assert_eq!(loaded.config.crypto_maps[0].match_address, "DYN-any-2");
    }

    #[test]
    fn dynamic_map_sequences_after_the_lowest_are_reported() {
        let text = format!(
            "{RA_COMMON}\
crypto ipsec ikev2 ipsec-proposal P2
 protocol esp encryption aes-256
 protocol esp integrity sha-256
crypto ipsec ikev1 transform-set TS esp-aes-256 esp-sha-hmac
crypto dynamic-map DYN 20 set ikev2 ipsec-proposal P2
crypto dynamic-map DYN 20 set pfs group14
crypto dynamic-map DYN 10 set ikev1 transform-set TS
crypto dynamic-map DYN 10 set ikev2 ipsec-proposal P1
crypto dynamic-map OTHER 10 set ikev2 ipsec-proposal P2
crypto map outside_map 65535 ipsec-isakmp dynamic DYN
crypto map outside_map 65000 ipsec-isakmp dynamic OTHER
crypto map outside_map 65000 set pfs group19
crypto map outside_map interface outside
{RA_GROUP}"
        );
        let out = import(&text);
        let doc = parse(&out);
        let maps = doc["crypto_map"].as_array().unwrap();
        assert_eq!(maps.len(), 1, "one dynamic entry per crypto map");
        // OTHER at 65000 is the lower sequence of outside_map: the ASA tries it first.
        let m = nth(&doc, "crypto_map", 0);
        assert_eq!(m["sequence"].as_integer(), Some(65000));
        assert_eq!(strs(&m["ikev2_proposals"]), ["P2"]);
        assert_eq!(m["tunnel_group"].as_str(), Some("RA"));

        let out_dyn = import(&text.replace("crypto map outside_map 65000", "crypto map other 1"));
        let doc = parse(&out_dyn);
        let m = nth(&doc, "crypto_map", 0);
        assert_eq!(
            (m["name"].as_str(), m["sequence"].as_integer()),
            (Some("outside_map"), Some(65535))
        );
        // DYN 10, not DYN 20: the IKEv2 proposal of sequence 10, no PFS of sequence 20.
        assert_eq!(strs(&m["ikev2_proposals"]), ["P1"]);
        assert!(!m.contains_key("pfs") && !m.contains_key("ikev1_transform_sets"));
        load(&out_dyn);

        let sequence = "a ferrogate crypto map takes one dynamic entry, with one set of \
                        settings: sequence 10 of dynamic map DYN (line 17) was imported, not this \
                        one";
        let ikev1 = "ferrogate's dynamic crypto map entries are IKEv2 only: the IKEv1 transform \
                     sets are not imported (the IKEv2 proposals are)";
        let second = "crypto map outside_map already has a dynamic entry (sequence 65000, line \
                      21): a ferrogate crypto map takes one dynamic entry";
        let not_imported = format!(
            "dynamic map DYN is not imported: its crypto map entry (line 20) is not: {second}"
        );
        let not_imported = not_imported.as_str();
        assert_eq!(
            unmapped(&out)[..6],
            [
                (15, not_imported),
                (16, not_imported),
                (17, not_imported),
                (18, not_imported),
                (20, second),
                (
                    22,
                    "crypto map outside_map 65000 is dynamic (line 21): its settings come from \
                     dynamic map OTHER (`crypto dynamic-map OTHER ...`)"
                ),
            ]
        );
        // With OTHER in a crypto map of its own, DYN is imported from its sequence 10.
        assert_eq!(unmapped(&out_dyn)[..3], [(15, sequence), (16, sequence), (17, ikev1)]);
        load(&out);
    }

    #[test]
    fn ikev1_only_dynamic_map_is_not_imported() {
        let text = "\
crypto ipsec ikev1 transform-set TS esp-aes-256 esp-sha-hmac
crypto dynamic-map DYN 10 set ikev1 transform-set TS
crypto dynamic-map DYN 10 set reverse-route
crypto dynamic-map DYN 10 set pfs group77
crypto map outside_map 65535 ipsec-isakmp dynamic DYN
crypto map outside_map interface outside
tunnel-group RA type remote-access
tunnel-group RA general-attributes
 address-pool RA-POOL
ip local pool RA-POOL 10.77.0.10-10.77.0.100
";
        let out = import(text);
        let doc = parse(&out);
        assert!(!doc.contains_key("crypto_map"));
        let ikev2_only = "dynamic map DYN has no IKEv2 proposal (`set ikev2 ipsec-proposal`), and \
                          ferrogate's dynamic crypto map entries are IKEv2 only";
        assert_eq!(
            unmapped(&out),
            [
                (2, ikev2_only),
                (3, ikev2_only),
                (
                    4,
                    "unknown Diffie-Hellman group `77` (expected one of: 1 2 5 14 15 16 19 20 21 \
                     24 31)"
                ),
                (5, ikev2_only),
            ]
        );
        // No note about a tunnel group: nothing answers with one.
        assert!(!out.notes.iter().any(|n| n.contains("tunnel_group")), "{:#?}", out.notes);
        // A dynamic map that no crypto map uses.
        let out = import("crypto dynamic-map SPARE 5 set ikev2 ipsec-proposal P1\n");
        assert_eq!(
            unmapped(&out),
            [(
                1,
                "dynamic map SPARE is not used by a crypto map (`crypto map NAME SEQ ipsec-isakmp \
                 dynamic SPARE`)"
            )]
        );
        // And a crypto map that names an undefined one.
        let out = import("crypto map m 10 ipsec-isakmp dynamic NOPE\n");
        assert_eq!(
            unmapped(&out),
            [(1, "dynamic map NOPE is not defined (no `crypto dynamic-map NOPE ...`)")]
        );
    }

    #[test]
    fn dynamic_map_without_a_suitable_tunnel_group_is_not_imported() {
        let dynamic = "\
crypto dynamic-map DYN 10 match address RA-ACL
crypto dynamic-map DYN 10 set ikev2 ipsec-proposal P1
crypto map outside_map 65535 ipsec-isakmp dynamic DYN
";
        // An L2L group of a known peer answers only that peer; DefaultRAGroup without a pool
        // cannot give clients addresses.
        let text = format!(
            "{dynamic}tunnel-group 192.0.2.1 type ipsec-l2l\ntunnel-group DefaultRAGroup \
             ipsec-attributes\n ikev2 remote-authentication pre-shared-key k\n"
        );
        let out = import(&text);
        assert!(!parse(&out).contains_key("crypto_map"));
        let why = "no tunnel group to authenticate its peers: a ferrogate dynamic entry answers \
                   the peers of one tunnel group, and no remote-access tunnel group has an \
                   address pool, DefaultRAGroup has no address pool, and there is no \
                   DefaultL2LGroup; add the entry by hand with the tunnel_group to answer";
        let default_ra = "the built-in DefaultRAGroup has no ferrogate equivalent: give the \
                          settings to a tunnel group of its own";
        let map =
            format!("dynamic map DYN is not imported: its crypto map entry (line 3) is not: {why}");
        assert_eq!(
            unmapped(&out),
            [(1, map.as_str()), (2, map.as_str()), (3, why), (5, default_ra), (6, default_ra)]
        );

        // Two remote-access groups with pools: the ASA picks by the client's group name,
        // ferrogate's entry cannot answer both.
        let two = "\
ip local pool A 10.1.0.1-10.1.0.9
tunnel-group RA1 type remote-access
tunnel-group RA1 general-attributes
 address-pool A
tunnel-group RA2 type remote-access
tunnel-group RA2 general-attributes
 address-pool A
";
        let out = import(&format!("{dynamic}{two}"));
        assert_eq!(
            out.unmapped.iter().find(|u| u.line == 3).map(|u| u.reason.as_str()),
            Some(
                "no tunnel group to authenticate its peers: a ferrogate dynamic entry answers \
                 the peers of one tunnel group, and remote-access tunnel groups RA1, RA2 each \
                 have an address pool, and a ferrogate dynamic entry answers one group, there \
                 is no DefaultRAGroup, and there is no DefaultL2LGroup; add the entry by hand \
                 with the tunnel_group to answer"
            )
        );
    }

    #[test]
    fn dynamic_map_falls_back_to_default_ra_group_then_default_l2l_group() {
        let dynamic = "\
access-list ACL extended permit ip 10.0.0.0 255.255.0.0 any
crypto dynamic-map DYN 10 match address ACL
crypto dynamic-map DYN 10 set ikev2 ipsec-proposal P1
crypto map outside_map 65535 ipsec-isakmp dynamic DYN
crypto map outside_map interface outside
";
        let default_ra = "\
tunnel-group DefaultRAGroup general-attributes
 address-pool RA-POOL
tunnel-group DefaultRAGroup ipsec-attributes
 ikev2 remote-authentication pre-shared-key c
 ikev2 local-authentication pre-shared-key h
";
        let out = import(&format!("{RA_COMMON}{dynamic}{default_ra}"));
        let doc = parse(&out);
        assert_eq!(nth(&doc, "crypto_map", 0)["tunnel_group"].as_str(), Some("DefaultRAGroup"));
        assert_eq!(
            nth(&doc, "tunnel_group", 0).clone(),
            toml::from_str::<Table>(
                r#"
            name = "DefaultRAGroup"
            type = "remote-access"
            ikev2_local_authentication = "pre-shared-key"
            ikev2_local_pre_shared_key = "h"
            ikev2_remote_authentication = "pre-shared-key"
            ikev2_remote_pre_shared_key = "c"
            address_pools = ["RA-POOL"]
            "#
            )
            .unwrap()
        );
        assert!(out.unmapped.is_empty(), "{:#?}", out.unmapped);
        assert!(out.notes.iter().any(|n| n.starts_with(
            "line 14: crypto map outside_map 65535 (dynamic map DYN): tunnel_group = \
             \"DefaultRAGroup\", the ASA's group for remote-access clients that name no group \
             of their own (no remote-access tunnel group has an address pool)"
        )));
        assert!(out.notes.iter().any(|n| n.starts_with(
            "line 16: DefaultRAGroup (the ASA's built-in group for remote-access clients without \
             a group of their own) is written with type = \"remote-access\""
        )));
        load(&out);

        // LAN-to-LAN peers with unknown addresses: DefaultL2LGroup. Its missing IKEv2
        // authentication is pointed out (the loader would refuse it).
        let default_l2l = "\
tunnel-group DefaultL2LGroup ipsec-attributes
 ikev1 pre-shared-key v1-only
";
        let out = import(&format!("{RA_COMMON}{dynamic}{default_l2l}"));
        let doc = parse(&out);
        assert_eq!(nth(&doc, "crypto_map", 0)["tunnel_group"].as_str(), Some("DefaultL2LGroup"));
        assert!(out.notes.iter().any(|n| n
            == "line 14: tunnel group DefaultL2LGroup answers a dynamic crypto map entry, which \
                uses IKEv2, but has no IKEv2 authentication of both sides (`ikev2 \
                local-authentication` and `ikev2 remote-authentication` in its \
                ipsec-attributes): add it before use"));
        let fixed = import(&format!(
            "{RA_COMMON}{dynamic}tunnel-group DefaultL2LGroup ipsec-attributes\n ikev2 \
             remote-authentication pre-shared-key c\n ikev2 local-authentication pre-shared-key \
             h\n"
        ));
        let loaded = load(&fixed);
        assert_eq!(loaded.config.crypto_maps[0].tunnel_group.as_deref(), Some("DefaultL2LGroup"));
    }

    mod robustness {
        use super::*;
        use proptest::prelude::*;

        /// Words that steer the importer into every handler.
        const WORDS: &[&str] = &[
            "crypto",
            "map",
            "ikev1",
            "ikev2",
            "policy",
            "ipsec",
            "transform-set",
            "ipsec-proposal",
            "protocol",
            "esp",
            "encryption",
            "integrity",
            "group",
            "prf",
            "lifetime",
            "seconds",
            "kilobytes",
            "unlimited",
            "set",
            "peer",
            "pfs",
            "group2",
            "group31",
            "match",
            "address",
            "access-list",
            "extended",
            "permit",
            "deny",
            "ip",
            "tcp",
            "udp",
            "icmp",
            "any",
            "any4",
            "any6",
            "host",
            "object",
            "object-group",
            "network",
            "network-object",
            "group-object",
            "range",
            "subnet",
            "eq",
            "lt",
            "gt",
            "neq",
            "www",
            "https",
            "10.0.0.1",
            "10.0.0.0",
            "255.255.255.0",
            "255.0.255.0",
            "2001:db8::/64",
            "::1",
            "tunnel-group",
            "type",
            "ipsec-l2l",
            "remote-access",
            "ipsec-attributes",
            "general-attributes",
            "pre-shared-key",
            "remote-authentication",
            "local-authentication",
            "certificate",
            "keepalive",
            "threshold",
            "retry",
            "isakmp",
            "interface",
            "nameif",
            "enable",
            "outside",
            "ca",
            "trustpoint",
            "chain",
            "dynamic",
            "dynamic-map",
            "ipsec-isakmp",
            "DefaultRAGroup",
            "DefaultL2LGroup",
            "address-pool",
            "name",
            "ip",
            "local",
            "pool",
            "10.0.0.1-10.0.0.9",
            "mask",
            "65535",
            "0",
            "1",
            "4294967296",
            "-1",
            "\"",
            "\\",
            "*****",
            "8",
            "\u{0}",
            "é",
            "mode",
            "transport",
            "df-bit",
            "copy-df",
            "fragmentation",
            "replay",
            "window-size",
            "disable",
            "nat-traversal",
            "identity",
            "cookie-challenge",
            "log",
            "inactive",
            "remark",
            "standard",
            "a",
            "b",
        ];

        fn line() -> impl Strategy<Value = String> {
            (0usize..3, prop::collection::vec(prop::sample::select(WORDS), 0..9))
                .prop_map(|(indent, words)| format!("{}{}", " ".repeat(indent), words.join(" ")))
        }

        fn check(text: &str) {
            let out = import(text);
            let doc = toml::from_str::<Table>(&out.toml);
            assert!(doc.is_ok(), "invalid TOML for input {text:?}:\n{}", out.toml);
            let lines = text.split('\n').count();
            let mut last = 0;
            for u in &out.unmapped {
                assert!(u.line > last && u.line <= lines, "bad line numbers: {:?}", out.unmapped);
                last = u.line;
                assert!(!u.reason.starts_with("internal:"), "unexamined line {u:?} in {text:?}");
            }
        }

        proptest! {
            // No regression files: the tests run from a shared tree.
            #![proptest_config(ProptestConfig {
                cases: 512,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn random_asa_like_lines_never_panic(lines in prop::collection::vec(line(), 0..40)) {
                check(&lines.join("\n"));
            }

            #[test]
            fn arbitrary_text_never_panics(text in "\\PC*(\n\\PC*){0,8}") {
                check(&text);
            }

            #[test]
            fn mutated_hub_config_never_panics(
                edits in prop::collection::vec((0usize..210, 0usize..4, prop::sample::select(WORDS)), 1..12)
            ) {
                let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/asa/hub.cfg")).unwrap();
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                for (at, op, word) in edits {
                    let at = at % lines.len().max(1);
                    match op {
                        // Drop a line (breaks sub-modes and references).
                        0 if !lines.is_empty() => { lines.remove(at); }
                        // Duplicate a line.
                        1 if !lines.is_empty() => { let l = lines[at].clone(); lines.insert(at, l); }
                        // Replace a word.
                        2 if !lines.is_empty() => {
                            let mut w: Vec<String> = lines[at].split(' ').map(str::to_string).collect();
                            let i = at % w.len().max(1);
                            if let Some(slot) = w.get_mut(i) { *slot = word.to_string(); }
                            lines[at] = w.join(" ");
                        }
                        // Toggle the indentation.
                        _ if !lines.is_empty() => {
                            lines[at] = match lines[at].strip_prefix(' ') {
                                Some(rest) => rest.to_string(),
                                None => format!(" {}", lines[at]),
                            };
                        }
                        _ => {}
                    }
                }
                check(&lines.join("\n"));
            }
        }
    }

    #[test]
    fn notes_about_lines_come_in_file_order() {
        let out = hub();
        let lines: Vec<usize> = out
            .notes
            .iter()
            .filter_map(|n| n.strip_prefix("line ")?.split_once(':')?.0.parse().ok())
            .collect();
        assert!(lines.len() >= 8, "{:#?}", out.notes);
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    }

    #[test]
    fn trustpoint_sub_modes_and_ca_only_trustpoints() {
        let out = import(
            "crypto ca trustpoint partner-ca\n enrollment terminal\n crl configure\n  \
         no enforcenextupdate\n  cache-time 30\n validation-usage ipsec-client\ncrypto ca \
         trustpoint bad/name\n",
        );
        let doc = parse(&out);
        // Not referenced by a tunnel group and no keypair: CA certificates only.
        assert_eq!(
            nth(&doc, "trustpoint", 0).clone(),
            toml::from_str::<Table>(
                r#"
            name = "partner-ca"
            ca_certificates = ["/etc/ferrogate/pki/partner-ca-ca.pem"]
            "#
            )
            .unwrap()
        );
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    2,
                    "ferrogate does not enroll certificates: export the enrolled certificate and key \
                 as PEM files"
                ),
                (3, "revocation checking is not configured per trustpoint in ferrogate"),
                (4, "revocation settings are not imported (part of `crl configure`)"),
                (5, "revocation settings are not imported (part of `crl configure`)"),
                (6, "trustpoint option `validation-usage ipsec-client` is not supported"),
                (
                    7,
                    "trustpoint name `bad/name` cannot name a file: rename it and write the \
                 [[trustpoint]] by hand"
                ),
            ]
        );
    }

    #[test]
    fn interfaces_become_hints_not_tables() {
        let out = import(
            "interface Port-channel1.20\n vlan 20\n nameif dmz\n security-level 50\n ip address \
         192.0.2.1 255.255.255.128\n ipv6 address 2001:db8:20::1/64\ncrypto ikev1 enable dmz\n",
        );
        let doc = parse(&out);
        assert!(!doc.contains_key("interface"));
        assert_eq!(nth(&doc, "crypto_interface", 0)["interface"].as_str(), Some("dmz"));
        assert!(
            out.toml.contains("#   dmz = ASA Port-channel1.20, 192.0.2.1/25, 2001:db8:20::1/64\n")
        );
        let got: Vec<usize> = out.unmapped.iter().map(|u| u.line).collect();
        assert_eq!(got, [2, 4], "vlan and security-level are not crypto");
    }

    #[test]
    fn crypto_acl_object_resolution_errors_name_the_cause() {
        let out = import(
            "object-group network g\n network-object 10.1.0.0 255.255.0.0\n group-object missing\n\
         access-list a extended permit ip object-group g any\n\
         access-list a extended permit ip any host nowhere\n\
         access-list a extended permit ip 10.0.0.1 255.255.255.0 any\n\
         crypto map m 1 match address a\n",
        );
        let got: Vec<(usize, &str)> =
            out.unmapped.iter().map(|u| (u.line, u.reason.as_str())).collect();
        let group =
            "object-group g is used only by access-list line 4, which could not be converted";
        assert_eq!(
            got,
            [
                (1, group),
                (2, group),
                (3, group),
                (4, "object-group missing is not defined"),
                (5, "`nowhere` is neither an address nor a defined `name`"),
            ]
        );
        let doc = parse(&out);
        let rules = nth(&doc, "access_list", 0)["rules"].as_array().unwrap().clone();
        assert_eq!(
            rules,
            [inline(r#"{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "any" }"#)]
        );
        assert!(
            out.notes
                .iter()
                .any(|n| n
                    == "line 6: 10.0.0.1 255.255.255.0: host bits cleared, giving 10.0.0.0/24")
        );
    }
}
