//! IKEv2 remote access against a real strongSwan 5.9 client: charon asks for a virtual IP
//! (`vips = 0.0.0.0`, CP(CFG_REQUEST) in IKE_AUTH) and ferrogate's responder
//! (control::ikev2::sa with `RemoteAccess::Server`) answers from its pool, with its DNS
//! server, and narrows the client's side of the Child SA to the leased address. charon
//! must install that address and the Child SA with it as its local selector.
//!
//! The ferrogate side runs in its own namespace, as in `ikev2_interop.rs`: the test binary
//! re-runs itself there with `FG_RA_CHILD` set and prints what it negotiated.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::ike_child::{self, Lab, fresh_dir, have_root_and_charon};
use common::strongswan::Charon;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{Event, PeerConfig, RemoteAccess, RemoteAccessServer};
use control::ikev2::selectors::from_prefix;
use control::ikev2::wire::{DhGroup, EncrId, PrfId, ProtocolId};
use control::pool::{AddressPool, PoolRange};

const TEST: &str = "ikev2_remote_access_assigns_a_virtual_ip_to_a_strongswan_client";
const CHILD_ENV: &str = "FG_RA_CHILD";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 2);
const PSK: &str = "ra-interop-test-only-psk";
/// The pool's first address: what the first client gets.
const FIRST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 53);

fn swanctl_conf() -> String {
    format!(
        r#"
connections {{
    ra {{
        version = 2
        local_addrs = {CHARON_ADDR}
        remote_addrs = {OUR_ADDR}
        vips = 0.0.0.0
        proposals = aes128gcm16-prfsha256-ecp256
        local {{
            auth = psk
            id = {CHARON_ADDR}
        }}
        remote {{
            auth = psk
            id = {OUR_ADDR}
        }}
        children {{
            net {{
                remote_ts = 10.1.0.0/16
                esp_proposals = aes128gcm16
            }}
        }}
    }}
}}
secrets {{
    ike-ra {{
        id-1 = {CHARON_ADDR}
        id-2 = {OUR_ADDR}
        secret = "{PSK}"
    }}
}}
"#
    )
}

fn our_config() -> PeerConfig {
    let ike = LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![(EncrId::AesGcm16, Some(128))],
        prf: vec![PrfId::HmacSha2_256],
        integ: vec![],
        dh: vec![DhGroup::Ecp256],
        esn: vec![],
    };
    let esp = LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![(EncrId::AesGcm16, Some(128))],
        prf: vec![],
        integ: vec![],
        dh: vec![],
        esn: vec![],
    };
    let mut cfg = ike_child::psk_config(OUR_ADDR, CHARON_ADDR, PSK.as_bytes(), ike, esp);
    // Whatever the client claims for its side is replaced by its lease.
    cfg.child.selectors.remote = vec![from_prefix(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)];
    let range = PoolRange::V4 { first: FIRST, last: Ipv4Addr::new(10, 77, 0, 20) };
    cfg.remote_access = Some(RemoteAccess::Server(RemoteAccessServer {
        pools: vec![AddressPool::new("ra-pool", range)],
        dns_servers: vec![IpAddr::V4(DNS)],
        dns_domains: Vec::new(),
    }));
    cfg
}

/// The ferrogate side, inside its namespace: answers charon, prints what it assigned and
/// the Child SA, closes.
fn child() {
    ike_child::log_protocol("debug");
    ike_child::negotiate_and_close(OUR_ADDR, &our_config(), false, |ev| match ev {
        Event::Established(info) => Some(format!(
            "EVENT established virtual_ips={:?} dns={:?}",
            info.virtual_ips, info.internal_dns
        )),
        Event::ChildSaUp(c) => Some(format!(
            "EVENT child-up in={:08x} out={:08x} local={:?} remote={:?}",
            c.inbound_spi, c.outbound_spi, c.local_ts, c.remote_ts
        )),
        _ => None,
    });
}

#[test]
fn ikev2_remote_access_assigns_a_virtual_ip_to_a_strongswan_client() {
    if std::env::var(CHILD_ENV).is_ok() {
        child();
        return;
    }
    if !have_root_and_charon() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let Some(lab) = Lab::create("ra", CHARON_ADDR, OUR_ADDR) else { return };
    let dir = fresh_dir(&format!("fgra{}", std::process::id()));
    let charon =
        Charon::start(&lab.charon_ns, &dir, &swanctl_conf()).unwrap_or_else(|e| panic!("{e}"));
    let out = lab.run_ours(TEST, CHILD_ENV, "responder", Some(&charon));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = charon.log();
    let report = ike_child::run_report(&out, &charon, 60);
    assert!(out.status.success(), "{report}");
    // Ours: the lease, the DNS server, the client's side narrowed to the lease.
    let est = stdout.lines().find(|l| l.starts_with("EVENT established")).expect("established");
    assert!(est.contains(&format!("virtual_ips=[{FIRST}]")), "{est}\n{report}");
    assert!(est.contains(&format!("dns=[{DNS}]")), "{est}");
    let up = stdout.lines().find(|l| l.starts_with("EVENT child-up")).expect("child up");
    let remote = up.split(" remote=").nth(1).unwrap_or_default();
    assert!(remote.contains(&FIRST.to_string()) && !remote.contains("0.0.0.0"), "{up}");
    assert!(stdout.contains("EVENT closed"), "{report}");
    eprintln!("ok: {est}; {up}");
    // charon: the virtual IP from our reply, installed, and the Child SA from it.
    assert!(log.contains(&format!("installing new virtual IP {FIRST}")), "{report}");
    assert!(log.contains("CHILD_SA net{1} established"), "{report}");
    assert!(log.contains(&format!("{FIRST}/32 === 10.1.0.0/16")), "{report}");
    drop(charon);
    let _ = std::fs::remove_dir_all(&dir);
}
