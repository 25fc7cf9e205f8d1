//! `control::policy::ikev2_peers`: from a loaded policy to the IKEv2 state machine's
//! per-peer configuration, and the problem line of every entry or peer that cannot be
//! configured.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{
    ChildSa, Event, IkeSa, LocalAuth, Mode, PeerConfig, PeerIdCheck, RemoteAuth, WallClock,
};
use control::ikev2::selectors::{from_prefix, from_prefix_proto};
use control::ikev2::wire::{
    DhGroup, EncrId, EsnId, IdRepr, IntegId, PrfId, ProtocolId, TrafficSelector,
};
use control::pki::load::load_certificates;
use control::policy::ikev2_peers::{Ikev2Plan, ikev2_plan, ikev2_plan_with_hostname};
use control::policy::{ConnectionType, PolicyConfig, Secret, parse};
use zeroize::Zeroizing;

const INTERFACES: &[&str] = &["outside", "inside"];

/// A complete IKEv2 site-to-site policy: two peers in failover order (the second through
/// `DefaultL2LGroup`), an IPv6 peer on its own entry, an IKEv1-only entry and an entry of a
/// map that is not applied to any interface.
const BASE: &str = r#"
[ike]
identity = "address"
retransmit_interval_ms = 1500
retransmit_tries = 4
dpd_interval_seconds = 15
dpd_retry_seconds = 3

[[access_list]]
name = "to-site-b"
rules = [
  { action = "deny",   protocol = "tcp",  src = "10.0.0.0/24", dst = "10.1.0.9/32", dst_port = "22" },
  { action = "permit", protocol = "ip",   src = "10.0.0.0/24", dst = "10.1.0.0/24" },
  { action = "permit", protocol = "tcp",  src = "10.0.0.0/24", src_port = "1024-65535", dst = "10.2.0.0/16", dst_port = "443" },
  { action = "permit", protocol = "udp",  src = "10.0.5.0/24", dst = "10.2.0.0/16", dst_port = "500-4500" },
  { action = "permit", protocol = "icmp", src = "10.0.0.0/24", dst = "10.1.0.0/24", icmp_type = 8 },
]

[[access_list]]
name = "v6-traffic"
rules = [
  { action = "permit", protocol = "tcp", src = "2001:db8:a::/48", dst = "2001:db8:b::/48", dst_port = "80-81" },
]

[[access_list]]
name = "to-branch-c"
rules = [
  { action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.3.0.0/16" },
]

[[ikev1_policy]]
priority = 10
authentication = "pre-share"
encryption = "aes-256"
hash = "sha256"
group = 14
lifetime = 86400

[[ikev2_policy]]
priority = 20
encryption = ["aes", "3des", "aes-256"]
integrity = ["sha", "sha256"]
group = [14]

[[ikev2_policy]]
priority = 1
encryption = ["aes-gcm", "aes-gcm-256"]
integrity = ["null"]
prf = ["sha256", "sha384"]
group = [19, 21, 31, 20]

[[transform_set]]
name = "ts-aes256-sha256"
encryption = "esp-aes-256"
integrity = "esp-sha256-hmac"
mode = "tunnel"

[[ipsec_proposal]]
name = "p-gcm"
encryption = ["aes-gcm", "aes-gcm-256"]
integrity = ["null"]

[[ipsec_proposal]]
name = "p-cbc"
encryption = ["aes-256"]
integrity = ["sha-1", "sha-256"]

[[crypto_map]]
name = "outside_map"
sequence = 10
match = "to-site-b"
peers = ["192.0.2.2", "198.51.100.2"]
ikev2_proposals = ["p-gcm", "p-cbc"]
pfs = 19
lifetime_seconds = 28800
lifetime_kilobytes = 4608000
connection_type = "bidirectional"

[[crypto_map]]
name = "outside_map"
sequence = 20
match = "to-branch-c"
peers = ["192.0.2.5"]
ike_version = ["ikev1"]
ikev1_transform_sets = ["ts-aes256-sha256"]

[[crypto_map]]
name = "outside_map"
sequence = 30
match = "v6-traffic"
peers = ["2001:db8::2"]
ikev2_proposals = ["p-gcm"]
lifetime_kilobytes = "unlimited"
connection_type = "answer-only"

[[crypto_map]]
name = "spare_map"
sequence = 10
match = "to-branch-c"
peers = ["192.0.2.2"]
ikev2_proposals = ["p-gcm"]

[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
ikev1 = true
ikev2 = true

[[tunnel_group]]
name = "192.0.2.2"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "site-b-local"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "site-b-remote"
keepalive = { threshold = 30, retry = 5 }

[[tunnel_group]]
name = "DefaultL2LGroup"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key_file = "/etc/ferrogate/psk/default-local"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "default-remote"
keepalive = "disable"

[[tunnel_group]]
name = "192.0.2.5"
type = "ipsec-l2l"
ikev1_pre_shared_key = "branch-c"

[[tunnel_group]]
name = "2001:db8::2"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "v6-local"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "v6-remote"
peer_id_validate = "nocheck"
"#;

const OUR_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const OUR_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

fn load(text: &str) -> PolicyConfig {
    match parse(Path::new("gw.toml"), text, INTERFACES) {
        Ok(l) => l.config,
        Err(d) => panic!("config does not load:\n{d}"),
    }
}

/// `outside` has one address per family; other interfaces none.
fn both_families(interface: &str, peer: IpAddr) -> Option<IpAddr> {
    (interface == "outside").then_some(if peer.is_ipv6() { OUR_V6 } else { OUR_V4 })
}

fn v4_only(interface: &str, peer: IpAddr) -> Option<IpAddr> {
    both_families(interface, peer).filter(IpAddr::is_ipv4)
}

/// Inline keys as written; the one key file the config names; every other file missing.
fn secrets(s: &Secret) -> Result<Zeroizing<Vec<u8>>, String> {
    match s {
        Secret::Inline(k) => Ok(Zeroizing::new(k.as_bytes().to_vec())),
        Secret::File(p) if p == &PathBuf::from("/etc/ferrogate/psk/default-local") => {
            Ok(Zeroizing::new(b"from-the-file".to_vec()))
        }
        Secret::File(p) => Err(format!("cannot read {}: No such file or directory", p.display())),
    }
}

fn plan(policy: &PolicyConfig) -> Ikev2Plan {
    ikev2_plan(policy, &both_families, &secrets)
}

fn entry<'a>(
    plan: &'a Ikev2Plan,
    map: &str,
    seq: u16,
) -> &'a control::policy::ikev2_peers::MapEntryPlan {
    plan.entries
        .iter()
        .find(|e| e.map == map && e.sequence == seq)
        .unwrap_or_else(|| panic!("no entry {map} {seq} in {:?}", plan.entries))
}

fn sock(a: IpAddr) -> SocketAddr {
    SocketAddr::new(a, 500)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ts(prefix: &str, proto: u8, ports: (u16, u16)) -> TrafficSelector {
    let (a, l) = prefix.split_once('/').unwrap();
    from_prefix_proto(a.parse().unwrap(), l.parse().unwrap(), proto, ports)
}

#[test]
fn the_applied_ikev2_entries_become_peer_configs_and_nothing_else() {
    let p = plan(&load(BASE));
    assert_eq!(p.problems, Vec::<String>::new());
    // outside_map 20 is IKEv1 only and spare_map is applied nowhere: both skipped silently.
    let keys: Vec<(&str, u16)> = p.entries.iter().map(|e| (e.map.as_str(), e.sequence)).collect();
    assert_eq!(keys, [("outside_map", 10), ("outside_map", 30)]);
    let e = entry(&p, "outside_map", 10);
    assert_eq!(e.interface, "outside");
    assert_eq!(e.acl, "to-site-b");
    assert_eq!(e.connection_type, ConnectionType::Bidirectional);
    assert_eq!(entry(&p, "outside_map", 30).connection_type, ConnectionType::AnswerOnly);
    for e in &p.entries {
        for peer in &e.peers {
            peer.validate().unwrap();
        }
    }
}

#[test]
fn ike_proposals_follow_policy_priority_and_the_loaders_order() {
    let p = plan(&load(BASE));
    let peer = &entry(&p, "outside_map", 10).peers[0];
    let expected = vec![
        // Priority 1 first although written second; lists most- to least-secure.
        LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![(EncrId::AesGcm16, Some(256)), (EncrId::AesGcm16, Some(128))],
            prf: vec![PrfId::HmacSha2_384, PrfId::HmacSha2_256],
            integ: vec![],
            dh: vec![DhGroup::Ecp521, DhGroup::Ecp384, DhGroup::Curve25519, DhGroup::Ecp256],
            esn: vec![],
        },
        // 3DES is not in the crypto suite: left out, with a warning.
        LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![(EncrId::AesCbc, Some(256)), (EncrId::AesCbc, Some(128))],
            prf: vec![PrfId::HmacSha2_256, PrfId::HmacSha1],
            integ: vec![IntegId::HmacSha2_256_128, IntegId::HmacSha1_96],
            dh: vec![DhGroup::Modp2048],
            esn: vec![],
        },
    ];
    assert_eq!(peer.ike_proposals, expected);
    assert_eq!(
        p.warnings,
        ["crypto ikev2 policy 20: encryption 3des is not implemented; not offered"]
    );
    // Every peer offers the same IKE proposals.
    assert_eq!(entry(&p, "outside_map", 30).peers[0].ike_proposals, expected);
}

#[test]
fn esp_proposals_follow_the_entry_with_the_pfs_group() {
    let p = plan(&load(BASE));
    let e = entry(&p, "outside_map", 10);
    let child = &e.peers[0].child;
    // `pfs = 19` in each proposal's DH list: the PFS group of CREATE_CHILD_SA (the first
    // Child SA leaves it out, see planned_configs_of_both_ends_establish_an_sa_and_child_sa).
    assert_eq!(
        child.esp_proposals,
        [
            LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![(EncrId::AesGcm16, Some(256)), (EncrId::AesGcm16, Some(128))],
                prf: vec![],
                integ: vec![],
                dh: vec![DhGroup::Ecp256],
                esn: vec![EsnId::No],
            },
            LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![(EncrId::AesCbc, Some(256))],
                prf: vec![],
                integ: vec![IntegId::HmacSha2_256_128, IntegId::HmacSha1_96],
                dh: vec![DhGroup::Ecp256],
                esn: vec![EsnId::No],
            },
        ]
    );
    assert_eq!(child.mode, Mode::Tunnel);
    assert_eq!(child.lifetime_seconds, 28800);
    assert_eq!(child.lifetime_kilobytes, 4_608_000);
    // No `pfs`: no DH group.
    let v6 = &entry(&p, "outside_map", 30).peers[0].child;
    assert_eq!(v6.esp_proposals.len(), 1);
    assert!(v6.esp_proposals[0].dh.is_empty());
    assert_eq!(v6.lifetime_kilobytes, 0, "unlimited");
}

#[test]
fn an_unusable_pfs_group_skips_the_entry() {
    // Group 24 loads (weak, allowed) but the crypto suite has no MODP-2048-256: leaving it
    // out would silently drop PFS.
    let text =
        BASE.replace("[ike]\n", "[ike]\nallow_weak_dh = true\n").replace("pfs = 19", "pfs = 24");
    let (p, lines) = problems_with(&load(&text));
    assert_eq!(lines, ["crypto map outside_map 10: pfs group 24 is not implemented"]);
    assert_eq!(p.entries.len(), 1);
    let text =
        BASE.replace("[ike]\n", "[ike]\nallow_weak_dh = true\n").replace("pfs = 19", "pfs = 5");
    let mut policy = load(&text);
    assert_eq!(plan(&policy).problems, Vec::<String>::new());
    policy.ike.allow_weak_dh = false;
    let (_, lines) = problems_with(&policy);
    assert_eq!(
        lines,
        ["crypto map outside_map 10: pfs group 5 is weak and [ike] allow_weak_dh is off"]
    );
}

#[test]
fn keys_identities_addresses_and_timers() {
    let p = plan(&load(BASE));
    let peer = &entry(&p, "outside_map", 10).peers[0];
    assert_eq!(peer.local_addr, sock(OUR_V4));
    assert_eq!(peer.remote_addr, sock(ip("192.0.2.2")));
    assert_eq!(peer.local_id, IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(peer.remote_id, Some(IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 2))));
    assert_eq!(peer.psk_local.as_bytes(), b"site-b-local");
    assert_eq!(peer.psk_remote.as_bytes(), b"site-b-remote");
    assert!(peer.psk_by_id.is_empty());
    // The tunnel group's keepalive threshold is the DPD interval, its retry the DPD retry.
    assert_eq!(peer.dpd_interval, Duration::from_secs(30));
    assert_eq!(peer.dpd_retry, Duration::from_secs(5));
    // IKE fragmentation is on by default with the ASA's 576-byte MTU.
    assert_eq!(peer.fragmentation, Some(576));
    assert_eq!(peer.retransmit.interval, Duration::from_millis(1500));
    assert_eq!(peer.retransmit.tries, 4);
    assert_eq!(peer.retransmit.max_interval, Duration::from_secs(64), "the default cap");
    assert!(!peer.allow_weak_dh);
    // Keys never show in Debug output.
    let dbg = format!("{peer:?}");
    assert!(!dbg.contains("site-b-local") && !dbg.contains("site-b-remote"), "{dbg}");
}

#[test]
fn ikev2_fragmentation_settings_reach_every_peer() {
    let off = BASE.replacen("[ike]\n", "[ike]\nikev2_fragmentation = false\n", 1);
    let p = plan(&load(&off));
    assert!(p.entries.iter().flat_map(|e| &e.peers).all(|c| c.fragmentation.is_none()));
    let mtu = BASE.replacen("[ike]\n", "[ike]\nikev2_fragmentation_mtu = 1400\n", 1);
    let p = plan(&load(&mtu));
    assert!(p.entries.iter().flat_map(|e| &e.peers).all(|c| c.fragmentation == Some(1400)));
    // `keepalive = "disable"` turns both DPD timers off.
    let none = p.entries.iter().flat_map(|e| &e.peers).find(|c| c.dpd_interval.is_zero());
    assert_eq!(none.map(|c| c.dpd_retry), Some(Duration::ZERO));
}

#[test]
fn two_peers_stay_in_failover_order_and_the_second_uses_the_default_group() {
    let p = plan(&load(BASE));
    let peers = &entry(&p, "outside_map", 10).peers;
    let remotes: Vec<SocketAddr> = peers.iter().map(|c| c.remote_addr).collect();
    assert_eq!(remotes, [sock(ip("192.0.2.2")), sock(ip("198.51.100.2"))]);
    let second = &peers[1];
    assert_eq!(second.remote_id, Some(IdRepr::ipv4(Ipv4Addr::new(198, 51, 100, 2))));
    // DefaultL2LGroup: its local key from a file, read through the closure.
    assert_eq!(second.psk_local.as_bytes(), b"from-the-file");
    assert_eq!(second.psk_remote.as_bytes(), b"default-remote");
    assert_eq!(second.dpd_interval, Duration::ZERO, "keepalive disable");
    // The responder finds a peer's configuration by its address.
    let found: Vec<(u16, SocketAddr)> =
        p.peers_at(ip("198.51.100.2")).map(|(e, c)| (e.sequence, c.remote_addr)).collect();
    assert_eq!(found, [(10, sock(ip("198.51.100.2")))]);
    assert_eq!(p.peers_at(ip("192.0.2.5")).count(), 0, "IKEv1-only peer");
}

#[test]
fn selectors_carry_protocols_and_ports_and_skip_deny_rules() {
    let p = plan(&load(BASE));
    let s = &entry(&p, "outside_map", 10).peers[0].child.selectors;
    let any = (0, 65535);
    assert_eq!(
        s.local,
        [
            ts("10.0.0.0/24", 0, any),
            ts("10.0.0.0/24", 6, (1024, 65535)),
            ts("10.0.5.0/24", 17, any),
            // ICMP echo request: type 8, every code.
            ts("10.0.0.0/24", 1, (0x0800, 0x08ff)),
        ]
    );
    assert_eq!(
        s.remote,
        [
            from_prefix(ip("10.1.0.0"), 24),
            ts("10.2.0.0/16", 6, (443, 443)),
            ts("10.2.0.0/16", 17, (500, 4500)),
            ts("10.1.0.0/24", 1, any),
        ]
    );
}

#[test]
fn an_ipv6_peer_gets_ipv6_addresses_identities_and_selectors() {
    let p = plan(&load(BASE));
    let e = entry(&p, "outside_map", 30);
    let [peer] = e.peers.as_slice() else { panic!("{:?}", e.peers) };
    assert_eq!(peer.local_addr, sock(OUR_V6));
    assert_eq!(peer.remote_addr, sock(ip("2001:db8::2")));
    assert_eq!(peer.local_id, IdRepr::ipv6("2001:db8::1".parse().unwrap()));
    // peer_id_validate = "nocheck": any identity, checked with the group's remote key.
    assert_eq!(peer.remote_id, None);
    assert_eq!(peer.psk_local.as_bytes(), b"v6-local");
    assert_eq!(peer.psk_remote.as_bytes(), b"v6-remote");
    // No keepalive in the group: the [ike] default threshold.
    assert_eq!(peer.dpd_interval, Duration::from_secs(15));
    assert_eq!(peer.child.selectors.local, [ts("2001:db8:a::/48", 6, (0, 65535))]);
    assert_eq!(peer.child.selectors.remote, [ts("2001:db8:b::/48", 6, (80, 81))]);
}

#[test]
fn an_any_rule_gives_selectors_for_both_families() {
    let text = BASE.replace(
        r#"{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "10.3.0.0/16" },"#,
        r#"{ action = "permit", protocol = "ip", src = "any", dst = "any" },"#,
    );
    let mut policy = load(&text);
    policy.crypto_maps.iter_mut().find(|m| m.sequence == 30).unwrap().match_address =
        "to-branch-c".into();
    let p = plan(&policy);
    let s = &entry(&p, "outside_map", 30).peers[0].child.selectors;
    assert_eq!(s.local, [TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()]);
    assert_eq!(s.remote, [TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()]);
}

#[test]
fn hostname_identity_is_an_fqdn() {
    let policy = load(&BASE.replace(r#"identity = "address""#, r#"identity = "hostname""#));
    let p = ikev2_plan_with_hostname(&policy, Some("gw1.example.net"), &both_families, &secrets);
    assert_eq!(p.problems, Vec::<String>::new());
    assert_eq!(entry(&p, "outside_map", 10).peers[0].local_id, IdRepr::fqdn("gw1.example.net"));
    // Without a host name, every peer is a problem.
    let p = plan(&policy);
    assert!(p.entries.is_empty());
    assert_eq!(
        p.problems,
        [
            "crypto map outside_map 10 peer 192.0.2.2: identity hostname, but the host name is \
             not known",
            "crypto map outside_map 10 peer 198.51.100.2: identity hostname, but the host name \
             is not known",
            "crypto map outside_map 30 peer 2001:db8::2: identity hostname, but the host name \
             is not known",
        ]
    );
    // `auto` with pre-shared keys is the address.
    let policy = load(&BASE.replace(r#"identity = "address""#, r#"identity = "auto""#));
    let p = plan(&policy);
    assert_eq!(
        entry(&p, "outside_map", 10).peers[0].local_id,
        IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 1))
    );
}

// ---- problems: one specific line each, the rest of the plan intact ----

fn problems_with(policy: &PolicyConfig) -> (Ikev2Plan, Vec<String>) {
    let p = plan(policy);
    let lines = p.problems.clone();
    (p, lines)
}

fn peers_of(p: &Ikev2Plan, seq: u16) -> Vec<SocketAddr> {
    p.entries
        .iter()
        .filter(|e| e.sequence == seq)
        .flat_map(|e| e.peers.iter().map(PeerConfig::clone))
        .map(|c| c.remote_addr)
        .collect()
}

#[test]
fn no_address_of_the_peers_family_skips_that_peer() {
    let p = ikev2_plan(&load(BASE), &v4_only, &secrets);
    assert_eq!(
        p.problems,
        ["crypto map outside_map 30 peer 2001:db8::2: interface outside has no IPv6 address"]
    );
    assert_eq!(peers_of(&p, 30), []);
    assert_eq!(peers_of(&p, 10).len(), 2);
    // An address of the wrong family from the closure is refused the same way.
    let wrong = |_: &str, _: IpAddr| Some(OUR_V4);
    let p = ikev2_plan(&load(BASE), &wrong, &secrets);
    assert_eq!(
        p.problems,
        ["crypto map outside_map 30 peer 2001:db8::2: interface outside has no IPv6 address"]
    );
}

#[test]
fn no_tunnel_group_skips_the_peer() {
    let mut policy = load(BASE);
    policy.tunnel_groups.retain(|g| g.name != "DefaultL2LGroup");
    let (p, lines) = problems_with(&policy);
    assert_eq!(
        lines,
        ["crypto map outside_map 10 peer 198.51.100.2: no tunnel-group 198.51.100.2 (and no \
          DefaultL2LGroup)"]
    );
    assert_eq!(peers_of(&p, 10), [sock(ip("192.0.2.2"))], "the first peer stays");
}

#[test]
fn a_missing_pre_shared_key_skips_the_peer() {
    let mut policy = load(BASE);
    let g = policy.tunnel_groups.iter_mut().find(|g| g.name == "192.0.2.2").unwrap();
    g.ikev2_local_pre_shared_key = None;
    let (_, lines) = problems_with(&policy);
    assert_eq!(
        lines,
        ["crypto map outside_map 10 peer 192.0.2.2: tunnel-group 192.0.2.2 has no ikev2 local \
          pre-shared key"]
    );
    let mut policy = load(BASE);
    let g = policy.tunnel_groups.iter_mut().find(|g| g.name == "192.0.2.2").unwrap();
    g.ikev2_remote_pre_shared_key = None;
    let (_, lines) = problems_with(&policy);
    assert_eq!(
        lines,
        ["crypto map outside_map 10 peer 192.0.2.2: tunnel-group 192.0.2.2 has no ikev2 remote \
          pre-shared key"]
    );
}

/// A file of the test PKI (`tests/data/pki`), as an absolute path for the policy.
fn pki(name: &str) -> String {
    format!("{}/tests/data/pki/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// BASE with a `[[trustpoint]] site-ca` (`cas`, and our certificate and key if given) and
/// the IPv6 peer's tunnel group authenticating each side as `local` / `remote` say
/// (`"certificate"`, else its pre-shared keys).
fn with_trustpoint(cas: &[&str], ours: Option<(&str, &str)>, local: &str, remote: &str) -> String {
    let cas: Vec<String> = cas.iter().map(|c| format!("\"{}\"", pki(c))).collect();
    let mut tp =
        format!("[[trustpoint]]\nname = \"site-ca\"\nca_certificates = [{}]\n", cas.join(", "));
    if let Some((cert, key)) = ours {
        tp.push_str(&format!("certificate = \"{}\"\nprivate_key = \"{}\"\n", pki(cert), pki(key)));
    }
    let side = |which: &str, how: &str, key: &str| {
        if how == "certificate" {
            format!("ikev2_{which}_authentication = \"certificate\"\n")
        } else {
            format!(
                "ikev2_{which}_authentication = \"pre-shared-key\"\nikev2_{which}_pre_shared_key \
                 = \"{key}\"\n"
            )
        }
    };
    let group = format!(
        "{tp}\n[[tunnel_group]]\nname = \"2001:db8::2\"\ntype = \"ipsec-l2l\"\ntrustpoint = \
         \"site-ca\"\n{}{}",
        side("local", local, "v6-local"),
        side("remote", remote, "v6-remote"),
    );
    let old = "[[tunnel_group]]\nname = \"2001:db8::2\"\ntype = \"ipsec-l2l\"\n\
               ikev2_local_authentication = \"pre-shared-key\"\n\
               ikev2_local_pre_shared_key = \"v6-local\"\n\
               ikev2_remote_authentication = \"pre-shared-key\"\n\
               ikev2_remote_pre_shared_key = \"v6-remote\"\n";
    assert!(BASE.contains(old));
    BASE.replace(old, &group)
}

fn v6_peer(p: &Ikev2Plan) -> &PeerConfig {
    &entry(p, "outside_map", 30).peers[0]
}

#[test]
fn remote_certificate_authentication_trusts_the_trustpoints_cas() {
    let text = with_trustpoint(&["ca-bundle.pem", "ecp384-ca.pem"], None, "psk", "certificate");
    let p = plan(&load(&text));
    assert_eq!(p.problems, Vec::<String>::new());
    let peer = v6_peer(&p);
    peer.validate().unwrap();
    let RemoteAuth::Certificate(pc) = &peer.auth.remote else {
        panic!("peer not checked by certificate: {:?}", peer.auth)
    };
    let subjects: Vec<&str> = pc.trust.anchors().iter().map(|c| c.subject()).collect();
    assert_eq!(
        subjects,
        [
            "CN=RSA Root CA,O=ferrogate test,C=XX",
            "CN=ECDSA P-256 Root CA,O=ferrogate test,C=XX",
            "CN=ECDSA P-384 Root CA,O=ferrogate test,C=XX"
        ]
    );
    // peer_id_validate = "nocheck" (the group's): the identity is not compared; the peer
    // is whoever its certificate says, so there is no fixed remote identity.
    assert_eq!(pc.id_check, PeerIdCheck::NoCheck);
    assert_eq!(pc.clock, WallClock::System);
    assert_eq!(peer.remote_id, None);
    // Our side still uses its key, and the address identity.
    assert!(matches!(peer.auth.local, LocalAuth::Psk));
    assert_eq!(peer.local_id, IdRepr::ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    // The pre-shared-key peers are unchanged.
    let psk_peer = &entry(&p, "outside_map", 10).peers[0];
    assert!(matches!(psk_peer.auth.remote, RemoteAuth::Psk));
    assert!(!psk_peer.auth.uses_certificates());
}

#[test]
fn peer_id_validate_becomes_the_certificate_identity_rule() {
    for (keyword, want) in [
        ("required", PeerIdCheck::Required),
        ("if-supported", PeerIdCheck::IfSupported),
        ("cert", PeerIdCheck::IfSupported),
        ("nocheck", PeerIdCheck::NoCheck),
    ] {
        let text = with_trustpoint(&["rsa-ca.pem"], None, "psk", "certificate").replace(
            "peer_id_validate = \"nocheck\"",
            &format!("peer_id_validate = \"{keyword}\""),
        );
        let p = plan(&load(&text));
        let RemoteAuth::Certificate(pc) = &v6_peer(&p).auth.remote else { panic!("{keyword}") };
        assert_eq!(pc.id_check, want, "{keyword}");
        assert_eq!(v6_peer(&p).remote_id, None, "{keyword}");
    }
}

#[test]
fn local_certificate_authentication_signs_with_the_trustpoints_credential() {
    let ours = Some(("rsa-leaf-chain.pem", "rsa-leaf.key.pem"));
    let text = with_trustpoint(&["rsa-ca.pem"], ours, "certificate", "certificate");
    // `auto` identity: our certificate's subject DN with certificates (as on the ASA).
    let p = plan(&load(&text.replace(r#"identity = "address""#, r#"identity = "auto""#)));
    assert_eq!(p.problems, Vec::<String>::new());
    let peer = v6_peer(&p);
    peer.validate().unwrap();
    let LocalAuth::Certificate(lc) = &peer.auth.local else { panic!("{:?}", peer.auth) };
    assert_eq!(lc.credentials.len(), 1);
    let cred = &lc.credentials[0];
    assert_eq!(cred.certificate().subject(), "CN=gw1.example.test,O=ferrogate test,C=XX");
    assert_eq!(cred.intermediates().len(), 1, "the chain file's intermediate goes out too");
    assert_eq!(peer.local_id, cred.certificate().subject_id());
    assert!(!lc.sign.allow_rsa_sha1);
    // Linked to the trustpoint's CA: a CERTREQ naming it selects this certificate.
    let rsa_ca = load_certificates(Path::new(&pki("rsa-ca.pem"))).unwrap();
    assert!(cred.authority_hashes().contains(rsa_ca[0].spki_sha1()));
    // Nothing secret in the debug output.
    let shown = format!("{peer:?}");
    assert!(shown.contains("gw1.example.test") && !shown.contains("BEGIN"), "{shown}");
    // `address` identity: the interface address even with certificates.
    let p = plan(&load(&text));
    assert_eq!(v6_peer(&p).local_id, IdRepr::ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
}

#[test]
fn both_sides_of_a_trustpoint_share_one_load() {
    // The DefaultL2LGroup peer and the IPv6 peer use the same trustpoint.
    let ours = Some(("ecp256-leaf.pem", "ecp256-leaf.key.pem"));
    let mut text = with_trustpoint(&["ecp256-ca.pem"], ours, "certificate", "certificate");
    text = text.replace(
        "name = \"DefaultL2LGroup\"\ntype = \"ipsec-l2l\"\nikev2_local_authentication = \
         \"pre-shared-key\"\nikev2_local_pre_shared_key_file = \"/etc/ferrogate/psk/default-local\"",
        "name = \"DefaultL2LGroup\"\ntype = \"ipsec-l2l\"\ntrustpoint = \"site-ca\"\n\
         ikev2_local_authentication = \"certificate\"",
    );
    let p = plan(&load(&text));
    assert_eq!(p.problems, Vec::<String>::new());
    let default_peer = &entry(&p, "outside_map", 10).peers[1];
    assert_eq!(default_peer.remote_addr, sock(ip("198.51.100.2")));
    let (LocalAuth::Certificate(a), LocalAuth::Certificate(b)) =
        (&default_peer.auth.local, &v6_peer(&p).auth.local)
    else {
        panic!("both sign");
    };
    assert!(Arc::ptr_eq(&a.credentials[0], &b.credentials[0]), "loaded once, shared");
    // The default group keeps checking its peer with the pre-shared key and its address.
    assert!(matches!(default_peer.auth.remote, RemoteAuth::Psk));
    assert_eq!(default_peer.remote_id, Some(IdRepr::ipv4(Ipv4Addr::new(198, 51, 100, 2))));
}

#[test]
fn unusable_trustpoints_skip_the_peer_and_say_why() {
    let line = |why: &str| format!("crypto map outside_map 30 peer 2001:db8::2: {why}");
    // A CA file that cannot be read.
    let text = with_trustpoint(&["missing-ca.pem"], None, "psk", "certificate");
    let (p, lines) = problems_with(&load(&text));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let want = line(&format!("trustpoint site-ca: {}: cannot read:", pki("missing-ca.pem")));
    assert!(lines[0].starts_with(&want), "{lines:?}");
    assert_eq!(p.entries.len(), 1, "the entry without a usable peer is left out");
    // A CA file that holds a leaf, not a CA.
    let text = with_trustpoint(&["rsa-leaf.pem"], None, "psk", "certificate");
    let (_, lines) = problems_with(&load(&text));
    assert_eq!(
        lines,
        [line(&format!(
            "trustpoint site-ca: {}: CA certificate: certificate \"CN=gw1.example.test,O=ferrogate \
             test,C=XX\" is not a CA certificate",
            pki("rsa-leaf.pem")
        ))]
    );
    // Our side signs, but the trustpoint has no certificate of ours.
    let text = with_trustpoint(&["rsa-ca.pem"], None, "certificate", "psk");
    let (_, lines) = problems_with(&load(&text));
    assert_eq!(
        lines,
        [line(
            "trustpoint site-ca has no certificate and private key (needed by tunnel-group \
             2001:db8::2 ikev2 local-authentication certificate)"
        )]
    );
    // A key that is not the certificate's.
    let ours = Some(("rsa-leaf.pem", "ecp256-leaf.key.pem"));
    let text = with_trustpoint(&["rsa-ca.pem"], ours, "certificate", "psk");
    let (_, lines) = problems_with(&load(&text));
    assert_eq!(
        lines,
        [line(&format!(
            "trustpoint site-ca: {}: the private key does not match certificate \
             \"CN=gw1.example.test,O=ferrogate test,C=XX\"",
            pki("rsa-leaf.pem")
        ))]
    );
    // A trustpoint the policy does not have (the loader refuses such a file; a policy
    // built in code can still hold one).
    let mut policy = load(&with_trustpoint(&["rsa-ca.pem"], None, "psk", "certificate"));
    policy.trustpoints.clear();
    let (_, lines) = problems_with(&policy);
    assert_eq!(lines, [line("trustpoint site-ca does not exist")]);
    let mut policy = load(&with_trustpoint(&["rsa-ca.pem"], None, "psk", "certificate"));
    policy.tunnel_groups.iter_mut().for_each(|g| g.trustpoint = None);
    let (_, lines) = problems_with(&policy);
    assert_eq!(
        lines,
        [line(
            "tunnel-group 2001:db8::2: ikev2 remote-authentication certificate needs a trustpoint"
        )]
    );
}

#[test]
fn an_unreadable_key_file_skips_the_peer_and_says_why() {
    let text = BASE.replace(
        "ikev2_remote_pre_shared_key = \"site-b-remote\"",
        "ikev2_remote_pre_shared_key_file = \"/etc/ferrogate/psk/missing\"",
    );
    let (p, lines) = problems_with(&load(&text));
    assert_eq!(
        lines,
        ["crypto map outside_map 10 peer 192.0.2.2: tunnel-group 192.0.2.2 ikev2 remote \
          pre-shared key: cannot read /etc/ferrogate/psk/missing: No such file or directory"]
    );
    assert_eq!(peers_of(&p, 10), [sock(ip("198.51.100.2"))]);
    // An empty key is refused too.
    let empty = |s: &Secret| match s {
        Secret::File(_) => Ok(Zeroizing::new(Vec::new())),
        other => secrets(other),
    };
    let p = ikev2_plan(&load(BASE), &both_families, &empty);
    assert_eq!(
        p.problems,
        ["crypto map outside_map 10 peer 198.51.100.2: tunnel-group DefaultL2LGroup ikev2 local \
          pre-shared key is empty"]
    );
}

#[test]
fn a_missing_or_permit_less_acl_skips_the_entry() {
    let mut policy = load(BASE);
    policy.access_lists.retain(|a| a.name != "v6-traffic");
    let (p, lines) = problems_with(&policy);
    assert_eq!(lines, ["crypto map outside_map 30: access-list v6-traffic does not exist"]);
    assert_eq!(p.entries.len(), 1);

    let mut policy = load(BASE);
    let acl = policy.access_lists.iter_mut().find(|a| a.name == "to-site-b").unwrap();
    acl.rules.retain(|r| r.action == control::policy::AclAction::Deny);
    let (p, lines) = problems_with(&policy);
    assert_eq!(
        lines,
        ["crypto map outside_map 10: access-list to-site-b has no permit rule (deny rules \
          cannot be traffic selectors)"]
    );
    assert_eq!(p.entries.len(), 1);
}

#[test]
fn ikev2_must_be_enabled_on_the_interface() {
    let text = BASE.replace("ikev1 = true\nikev2 = true", "ikev1 = true\nikev2 = false");
    let (p, lines) = problems_with(&load(&text));
    assert!(p.entries.is_empty());
    let why = "IKEv2 is not enabled on interface outside (crypto ikev2 enable; crypto_interface \
               ikev2 = true)";
    assert_eq!(
        lines,
        [format!("crypto map outside_map 10: {why}"), format!("crypto map outside_map 30: {why}")]
    );
}

#[test]
fn a_config_the_state_machine_refuses_is_a_problem() {
    // Group 5 loads with allow_weak_dh; a policy changed afterwards without it must not
    // reach the state machine.
    let text = BASE
        .replace("[ike]\n", "[ike]\nallow_weak_dh = true\n")
        .replace("group = [14]", "group = [14, 5]");
    let mut policy = load(&text);
    let p = plan(&policy);
    assert_eq!(p.problems, Vec::<String>::new());
    assert!(p.entries[0].peers[0].allow_weak_dh);
    policy.ike.allow_weak_dh = false;
    let (p, lines) = problems_with(&policy);
    assert!(p.entries.is_empty());
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        "crypto map outside_map 10 peer 192.0.2.2: configuration rejected: weak DH group 5 not \
         allowed"
    );
}

#[test]
fn no_ikev2_policy_left_skips_every_entry() {
    let mut policy = load(BASE);
    policy.ikev2_policies.clear();
    let (p, lines) = problems_with(&policy);
    assert!(p.entries.is_empty());
    assert_eq!(
        lines,
        [
            "crypto map outside_map 10: no usable crypto ikev2 policy",
            "crypto map outside_map 30: no usable crypto ikev2 policy",
        ]
    );
}

#[test]
fn the_shipped_example_plans_its_ikev2_entry() {
    let text = include_str!("../../dpdk-config/site-to-site.toml");
    let policy = load(text);
    let addr = |i: &str, _: IpAddr| (i == "outside").then_some(OUR_V4);
    let p = ikev2_plan(&policy, &addr, &secrets);
    assert_eq!(p.problems, Vec::<String>::new());
    let [e] = p.entries.as_slice() else { panic!("{:?}", p.entries) };
    assert_eq!((e.map.as_str(), e.sequence), ("outside_map", 10));
    let remotes: Vec<SocketAddr> = e.peers.iter().map(|c| c.remote_addr).collect();
    assert_eq!(remotes, [sock(ip("192.0.2.2")), sock(ip("198.51.100.2"))]);
    assert_eq!(e.peers[0].psk_local.as_bytes(), b"lab-only-site-b-local");
    assert_eq!(e.peers[0].child.selectors.local, [from_prefix(ip("10.0.0.0"), 24)]);
    assert_eq!(e.peers[0].child.selectors.remote, [from_prefix(ip("10.1.0.0"), 24)]);
}

#[test]
fn unimplemented_groups_are_left_out_of_the_offer() {
    // Group 24 loads (weak, allowed) but the crypto suite has no MODP-2048-256.
    let text = BASE
        .replace("[ike]\n", "[ike]\nallow_weak_dh = true\n")
        .replace("group = [14]", "group = [24, 14]");
    let p = plan(&load(&text));
    assert_eq!(p.problems, Vec::<String>::new());
    assert_eq!(entry(&p, "outside_map", 10).peers[0].ike_proposals[1].dh, [DhGroup::Modp2048]);
    assert_eq!(
        p.warnings,
        [
            "crypto ikev2 policy 20: encryption 3des is not implemented; not offered",
            "crypto ikev2 policy 20: group 24 is not implemented; not offered",
        ]
    );
    // A policy with nothing implemented left is not offered at all.
    let text =
        BASE.replace(r#"encryption = ["aes", "3des", "aes-256"]"#, r#"encryption = ["3des"]"#);
    let p = plan(&load(&text));
    assert_eq!(entry(&p, "outside_map", 10).peers[0].ike_proposals.len(), 1);
    assert_eq!(
        p.warnings,
        [
            "crypto ikev2 policy 20: encryption 3des is not implemented; not offered",
            "crypto ikev2 policy 20 has no implemented encryption, prf or group left; not offered",
        ]
    );
}

// ---- end to end: two gateways planned from mirror-image policies negotiate ----

/// Gateway B (192.0.2.2): the other end of outside_map 10, with its keys the other way
/// round and the ACL mirrored.
const MIRROR: &str = r#"
[[access_list]]
name = "to-site-a"
rules = [
  { action = "permit", protocol = "ip",   src = "10.1.0.0/24", dst = "10.0.0.0/24" },
  { action = "permit", protocol = "tcp",  src = "10.2.0.0/16", src_port = "443", dst = "10.0.0.0/24", dst_port = "1024-65535" },
  { action = "permit", protocol = "udp",  src = "10.2.0.0/16", src_port = "500-4500", dst = "10.0.5.0/24" },
  { action = "permit", protocol = "icmp", src = "10.1.0.0/24", dst = "10.0.0.0/24" },
]

[[ikev2_policy]]
priority = 5
encryption = ["aes-gcm-256"]
integrity = ["null"]
prf = ["sha384"]
group = [31, 19]

[[ipsec_proposal]]
name = "p-gcm"
encryption = ["aes-gcm-256"]
integrity = ["null"]

[[crypto_map]]
name = "wan_map"
sequence = 1
match = "to-site-a"
peers = ["192.0.2.1"]
ikev2_proposals = ["p-gcm"]
pfs = 19

[[crypto_interface]]
interface = "outside"
crypto_map = "wan_map"
ikev2 = true

[[tunnel_group]]
name = "192.0.2.1"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "site-b-remote"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "site-b-local"
"#;

/// Deterministic test RNG: SHA-256(seed | counter) blocks. Not for production use.
struct TestRng {
    seed: [u8; 32],
    counter: u64,
}

impl TestRng {
    fn new(tag: &str) -> Self {
        use sha2::Digest;
        TestRng { seed: sha2::Sha256::digest(tag.as_bytes()).into(), counter: 0 }
    }
}

impl rand_core::TryRng for TestRng {
    type Error = rand_core::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        use sha2::Digest;
        for chunk in dst.chunks_mut(32) {
            let mut h = sha2::Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.counter += 1;
            chunk.copy_from_slice(&h.finalize()[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

/// Runs initiator `a_cfg` against responder `b_cfg` (the configuration B answers the
/// request with) until both sides are quiet; B must be reached at `b_addr`. Both must end
/// established; returns both SAs (what they hold, leases included, lives as long as they
/// do) and their events.
fn establish(a_cfg: PeerConfig, b_cfg: PeerConfig, b_addr: SocketAddr) -> Established {
    use control::ikev2::sa::Accept;
    use control::time::Time;

    let a_addr = a_cfg.local_addr;
    let (mut rng_a, mut rng_b) = (TestRng::new("a"), TestRng::new("b"));
    let now = Time::ZERO;
    let mut a = IkeSa::initiate(now, a_cfg, &mut rng_a).unwrap();
    // A's first KE is for its best group (P-521), which B does not take: B answers
    // INVALID_KE_PAYLOAD without state and A retries with the group B asked for.
    let mut b = None;
    for _ in 0..3 {
        let init = a.poll_transmit().unwrap();
        assert_eq!((init.from, init.to), (a_addr, b_addr));
        match IkeSa::accept(now, b_cfg.clone(), &init.bytes, init.from, &mut rng_b) {
            Accept::Sa(sa) => {
                b = Some(sa);
                break;
            }
            Accept::Stateless { transmit, failure: None } => {
                a.handle(now, &transmit.bytes, transmit.from, &mut rng_a)
            }
            other => panic!("B refused IKE_SA_INIT: {other:?}"),
        }
    }
    let mut b = *b.expect("B never accepted");
    // Shuttle datagrams until both sides are quiet.
    for _ in 0..10 {
        let mut moved = false;
        while let Some(t) = b.poll_transmit() {
            a.handle(now, &t.bytes, t.from, &mut rng_a);
            moved = true;
        }
        while let Some(t) = a.poll_transmit() {
            b.handle(now, &t.bytes, t.from, &mut rng_b);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let events = |sa: &mut IkeSa| std::iter::from_fn(|| sa.poll_event()).collect::<Vec<_>>();
    let (ea, eb) = (events(&mut a), events(&mut b));
    assert!(a.is_established() && b.is_established(), "A: {ea:?}\nB: {eb:?}");
    (a, b, ea, eb)
}

/// What [`establish`] returns: the initiator's and responder's SAs and events.
type Established = (IkeSa, IkeSa, Vec<Event>, Vec<Event>);

/// The first Child SA in `ev`.
fn child_up(ev: &[Event]) -> &ChildSa {
    ev.iter()
        .find_map(|e| match e {
            Event::ChildSaUp(c) => Some(c),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Child SA: {ev:?}"))
}

#[test]
fn planned_configs_of_both_ends_establish_an_sa_and_child_sa() {
    let a_plan = plan(&load(BASE));
    let b_addr = |i: &str, _: IpAddr| (i == "outside").then_some(ip("192.0.2.2"));
    let b_plan = ikev2_plan(&load(MIRROR), &b_addr, &secrets);
    assert_eq!(b_plan.problems, Vec::<String>::new());
    let a_cfg = entry(&a_plan, "outside_map", 10).peers[0].clone();
    // B answers with the configuration of the address the request comes from.
    let (_, b_cfg) = b_plan.peers_at(OUR_V4).next().unwrap();

    let (_, _, ea, eb) = establish(a_cfg, b_cfg.clone(), sock(ip("192.0.2.2")));
    let (ca, cb) = (child_up(&ea), child_up(&eb));
    assert_eq!((ca.inbound_spi, ca.outbound_spi), (cb.outbound_spi, cb.inbound_spi));
    // B's single policy and proposal: AES-GCM-256; both have `pfs = 19`, which the first
    // Child SA (IKE_AUTH, no key exchange) leaves out.
    assert_eq!(ca.transforms.encr, (EncrId::AesGcm16, Some(256)));
    assert_eq!(ca.transforms.dh, None);
    // A offered its whole ACL; B narrowed it to its own (the mirror image).
    assert_eq!(ca.local_ts, cb.remote_ts);
    assert_eq!(ca.remote_ts, cb.local_ts);
    assert!(ca.local_ts.contains(&ts("10.0.0.0/24", 0, (0, 65535))), "{:?}", ca.local_ts);
}

/// Remote-access tunnel groups become responder configurations sharing one pool handle per
/// `[[address_pool]]`; a reload keeps the unchanged pools' leases.
#[test]
fn remote_access_groups_get_shared_pools_and_dns_servers() {
    use control::ikev2::sa::RemoteAccess;
    use control::pool::PoolRange;
    let ra = r#"
[[address_pool]]
name = "ra4"
range = "10.9.0.10-10.9.0.20"

[[address_pool]]
name = "ra6"
prefix = "2001:db8:9::/64"

[[tunnel_group]]
name = "ra-users"
type = "remote-access"
address_pools = ["ra6", "ra4"]
dns_servers = ["10.0.0.53", "2001:db8::53"]

[[tunnel_group]]
name = "ra-admins"
type = "remote-access"
address_pools = ["ra4"]
"#;
    let policy = load(&format!("{BASE}{ra}"));
    let p = plan(&policy);
    assert_eq!(p.problems, Vec::<String>::new());
    assert_eq!(p.address_pools.len(), 2);
    let names: Vec<&str> = p.remote_access.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"ra-users") && names.contains(&"ra-admins"));
    let Some(RemoteAccess::Server(users)) = p.remote_access_group("ra-users") else {
        panic!("ra-users is a remote-access server");
    };
    let Some(RemoteAccess::Server(admins)) = p.remote_access_group("ra-admins") else {
        panic!("ra-admins is a remote-access server");
    };
    assert!(p.remote_access_group("nobody").is_none());
    assert_eq!(users.dns_servers, vec![ip("10.0.0.53"), ip("2001:db8::53")]);
    assert!(admins.dns_servers.is_empty());
    // Pools in the group's order, with the configured ranges.
    assert_eq!(
        users.pools[0].range(),
        PoolRange::V6 { prefix: "2001:db8:9::".parse().unwrap(), len: 64 }
    );
    assert_eq!(
        users.pools[1].range(),
        PoolRange::V4 { first: Ipv4Addr::new(10, 9, 0, 10), last: Ipv4Addr::new(10, 9, 0, 20) }
    );
    // Both groups draw from the same ra4: an address leased through one is taken for the
    // other.
    assert!(users.pools[1].same_pool(&admins.pools[0]));
    let lease = users.pools[1].allocate(b"alice").unwrap();
    assert!(admins.pools[0].is_leased(lease.addr()));
    // A reload with the same pools keeps them (and the lease); a changed range starts anew.
    let mut again = plan(&policy);
    again.adopt_pools(&p);
    let Some(RemoteAccess::Server(users2)) = again.remote_access_group("ra-users") else {
        panic!("ra-users");
    };
    assert!(users2.pools[1].same_pool(&users.pools[1]) && users2.pools[1].is_leased(lease.addr()));
    let changed = load(&format!("{BASE}{}", ra.replace("10.9.0.20", "10.9.0.30")));
    let mut third = plan(&changed);
    third.adopt_pools(&p);
    assert!(!third.address_pools.iter().any(|n| n.same_pool(&users.pools[1])));
    assert!(third.address_pools.iter().any(|n| n.same_pool(&users.pools[0])), "ra6 unchanged");
}

/// A dynamic remote-access entry of the applied map (PSK, one pool, one DNS server) and a
/// dynamic LAN-to-LAN entry of a second map on `inside`, added to [`BASE`].
const DYNAMIC: &str = r#"
[[access_list]]
name = "ra-acl"
rules = [{ action = "permit", protocol = "ip", src = "10.0.0.0/24", dst = "0.0.0.0/0" }]

[[address_pool]]
name = "ra-pool"
range = "10.77.0.10-10.77.0.20"

[[tunnel_group]]
name = "RA"
type = "remote-access"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "ra-local"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "ra-remote"
address_pools = ["ra-pool"]
dns_servers = ["10.1.0.53"]
keepalive = { threshold = 20, retry = 4 }

[[crypto_map]]
name = "outside_map"
sequence = 65535
dynamic = true
tunnel_group = "RA"
match = "ra-acl"
ikev2_proposals = ["p-gcm"]

[[tunnel_group]]
name = "any-site"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "site-local"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "site-remote"

[[crypto_map]]
name = "inside_map"
sequence = 100
dynamic = true
tunnel_group = "any-site"
match = "to-branch-c"
ikev2_proposals = ["p-cbc"]

[[crypto_interface]]
interface = "inside"
crypto_map = "inside_map"
ikev2 = true
"#;

/// `outside` as in [`both_families`], `inside` IPv6 only.
fn inside_v6(interface: &str, peer: IpAddr) -> Option<IpAddr> {
    match interface {
        "inside" => peer.is_ipv6().then_some(ip("2001:db8:1::1")),
        _ => both_families(interface, peer),
    }
}

fn dynamic_plan() -> Ikev2Plan {
    ikev2_plan(&load(&format!("{BASE}{DYNAMIC}")), &inside_v6, &secrets)
}

#[test]
fn a_dynamic_remote_access_entry_answers_any_peer_with_the_groups_pool() {
    use control::ikev2::sa::RemoteAccess;
    use control::pool::PoolRange;
    let p = dynamic_plan();
    assert_eq!(p.problems, Vec::<String>::new());
    // The static entries are planned as without the dynamic ones.
    let keys: Vec<(&str, u16)> = p.entries.iter().map(|e| (e.map.as_str(), e.sequence)).collect();
    assert_eq!(
        keys,
        [("inside_map", 100), ("outside_map", 10), ("outside_map", 30), ("outside_map", 65535)]
    );
    assert!(
        p.entries
            .iter()
            .filter(|e| e.map == "outside_map" && e.sequence < 65535)
            .all(|e| !e.dynamic)
    );
    assert_eq!(entry(&p, "outside_map", 10).peers.len(), 2);

    let e = entry(&p, "outside_map", 65535);
    assert!(e.dynamic);
    assert_eq!(e.connection_type, ConnectionType::AnswerOnly);
    assert_eq!((e.interface.as_str(), e.acl.as_str()), ("outside", "ra-acl"));
    assert_eq!(e.peers.len(), 1);
    let c = &e.peers[0];
    // Any peer (the interface has both families: IPv4), from our IPv4 address.
    assert_eq!(c.remote_addr, sock(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    assert_eq!(c.local_addr, sock(OUR_V4));
    assert_eq!(c.local_id, IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(c.remote_id, None, "any identity");
    assert_eq!(c.psk_local.as_bytes(), b"ra-local");
    assert_eq!(c.psk_remote.as_bytes(), b"ra-remote");
    assert!(c.psk_by_id.is_empty());
    assert!(matches!(c.auth.local, LocalAuth::Psk) && matches!(c.auth.remote, RemoteAuth::Psk));
    assert_eq!((c.dpd_interval, c.dpd_retry), (Duration::from_secs(20), Duration::from_secs(4)));
    // The Child SA policy is the entry's: its ACL and proposal, the map's lifetimes.
    assert_eq!(c.child.selectors.local, [ts("10.0.0.0/24", 0, (0, 65535))]);
    assert_eq!(c.child.selectors.remote, [ts("0.0.0.0/0", 0, (0, 65535))]);
    assert_eq!(c.child.esp_proposals.len(), 1);
    assert_eq!(c.child.mode, Mode::Tunnel);
    c.validate().unwrap();
    // The group's pool and DNS server, through the plan's shared handle.
    let Some(RemoteAccess::Server(server)) = &c.remote_access else {
        panic!("a remote-access server: {:?}", c.remote_access);
    };
    assert_eq!(server.dns_servers, [ip("10.1.0.53")]);
    assert_eq!(server.pools.len(), 1);
    assert_eq!(
        server.pools[0].range(),
        PoolRange::V4 { first: Ipv4Addr::new(10, 77, 0, 10), last: Ipv4Addr::new(10, 77, 0, 20) }
    );
    assert_eq!(p.address_pools.len(), 1);
    assert!(server.pools[0].same_pool(&p.address_pools[0]));
    let Some(RemoteAccess::Server(group)) = p.remote_access_group("RA") else {
        panic!("RA is a remote-access group");
    };
    assert!(server.pools[0].same_pool(&group.pools[0]));
    // The responder lookup by a peer's address does not return the catch-all.
    assert_eq!(p.peers_at(ip("203.0.113.7")).count(), 0);
}

#[test]
fn a_dynamic_lan_to_lan_entry_has_no_remote_access_and_follows_the_interface_family() {
    let p = dynamic_plan();
    let e = entry(&p, "inside_map", 100);
    assert!(e.dynamic);
    assert_eq!(e.connection_type, ConnectionType::AnswerOnly);
    assert_eq!(e.peers.len(), 1);
    let c = &e.peers[0];
    // `inside` has only an IPv6 address: any IPv6 peer.
    assert_eq!(c.remote_addr, sock(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
    assert_eq!(c.local_addr, sock(ip("2001:db8:1::1")));
    assert_eq!(c.local_id, IdRepr::ipv6("2001:db8:1::1".parse().unwrap()));
    // peer_id_validate defaults to "required", yet a dynamic entry knows no peer address.
    assert_eq!(c.remote_id, None);
    assert_eq!(c.psk_local.as_bytes(), b"site-local");
    assert_eq!(c.psk_remote.as_bytes(), b"site-remote");
    assert!(c.remote_access.is_none());
    // The [ike] DPD defaults, as for a static peer whose group sets none.
    assert_eq!((c.dpd_interval, c.dpd_retry), (Duration::from_secs(15), Duration::from_secs(3)));
    c.validate().unwrap();
}

#[test]
fn a_dynamic_entry_that_cannot_be_configured_is_a_problem() {
    // No address on the interface at all.
    let policy = load(&format!("{BASE}{DYNAMIC}"));
    let none = |_: &str, _: IpAddr| None;
    let p = ikev2_plan(&policy, &none, &secrets);
    assert!(
        p.problems.contains(
            &"crypto map outside_map 65535 (dynamic): interface outside has no address".to_owned()
        ),
        "{:?}",
        p.problems
    );
    assert!(p.entries.is_empty());
    // A remote-access group left without pools (the loader refuses that; a hand-edited
    // policy can have it).
    let mut no_pool = policy.clone();
    no_pool.tunnel_groups.iter_mut().find(|g| g.name == "RA").unwrap().address_pools.clear();
    let p = ikev2_plan(&no_pool, &inside_v6, &secrets);
    assert_eq!(
        p.problems,
        ["crypto map outside_map 65535 (dynamic): tunnel-group RA is remote-access and has no \
          address pool"]
    );
    // The group's key problems are the same lines a static peer gets.
    let mut no_key = policy;
    no_key
        .tunnel_groups
        .iter_mut()
        .find(|g| g.name == "any-site")
        .unwrap()
        .ikev2_remote_pre_shared_key = None;
    let p = ikev2_plan(&no_key, &inside_v6, &secrets);
    assert_eq!(
        p.problems,
        ["crypto map inside_map 100 (dynamic): tunnel-group any-site has no ikev2 remote \
          pre-shared key"]
    );
}

#[test]
fn a_reload_keeps_the_dynamic_entrys_pool_and_its_leases() {
    use control::ikev2::sa::RemoteAccess;
    fn pool_of(p: &Ikev2Plan) -> control::pool::AddressPool {
        match &entry(p, "outside_map", 65535).peers[0].remote_access {
            Some(RemoteAccess::Server(s)) => s.pools[0].clone(),
            other => panic!("not a server: {other:?}"),
        }
    }
    let old = dynamic_plan();
    let lease = pool_of(&old).allocate(b"alice").unwrap();
    let mut new = dynamic_plan();
    assert!(!pool_of(&new).is_leased(lease.addr()), "a fresh plan has fresh pools");
    new.adopt_pools(&old);
    // The entry's configuration now hands out from the old pool: no address twice.
    assert!(pool_of(&new).same_pool(&pool_of(&old)));
    assert!(pool_of(&new).is_leased(lease.addr()));
    assert!(pool_of(&new).same_pool(&new.address_pools[0]));
}

/// A client from an address no entry names gets in through the planned dynamic entry: an
/// address from the group's pool (the plan's shared handle), its DNS server, and a Child SA
/// narrowed to that address.
#[test]
fn a_remote_access_client_connects_through_the_dynamic_entry() {
    use control::ikev2::sa::{RemoteAccess, RemoteAccessClient};
    use control::ikev2::selectors::PolicySelectors;
    let p = dynamic_plan();
    let server = entry(&p, "outside_map", 65535).peers[0].clone();
    // The client: the mirror image of the concentrator, any address on its side.
    let mut client = server.clone();
    client.local_addr = sock(ip("203.0.113.7"));
    client.remote_addr = server.local_addr;
    client.local_id = IdRepr::fqdn("alice.example");
    client.remote_id = Some(server.local_id.clone());
    client.psk_local = server.psk_remote.clone();
    client.psk_remote = server.psk_local.clone();
    client.child.selectors = PolicySelectors {
        local: vec![from_prefix(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)],
        remote: server.child.selectors.local.clone(),
    };
    client.remote_access =
        Some(RemoteAccess::Client(RemoteAccessClient { ipv4: true, ipv6: false }));

    let (sa_c, sa_s, ec, es) = establish(client, server, sock(OUR_V4));
    let leased = ip("10.77.0.10");
    let info = |ev: &[Event]| {
        ev.iter()
            .find_map(|e| match e {
                Event::Established(i) => Some(i.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (ic, is) = (info(&ec), info(&es));
    assert_eq!(ic.virtual_ips, [leased]);
    assert_eq!(is.virtual_ips, [leased]);
    assert_eq!(ic.internal_dns, [ip("10.1.0.53")]);
    assert_eq!(is.peer, sock(ip("203.0.113.7")));
    let (cc, cs) = (child_up(&ec), child_up(&es));
    assert_eq!(cs.remote_ts, [ts("10.77.0.10/32", 0, (0, 65535))]);
    assert_eq!(cc.local_ts, cs.remote_ts);
    assert_eq!(cs.local_ts, [ts("10.0.0.0/24", 0, (0, 65535))]);
    // Leased in the plan's pool itself, for as long as the concentrator's IKE SA lives.
    assert!(p.address_pools[0].is_leased(leased));
    drop(sa_c);
    assert!(p.address_pools[0].is_leased(leased));
    drop(sa_s);
    assert!(!p.address_pools[0].is_leased(leased));
}
