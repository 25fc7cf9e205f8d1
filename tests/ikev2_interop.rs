//! ferrogate's IKEv2 (control::ikev2::sa) against a real strongSwan 5.9 (charon with
//! kernel-libipsec) in network namespaces the test makes: PSK authentication both ways and
//! the first Child SA, for each of the cipher suites the IKEv2 issue names, with ferrogate
//! as the initiator and as the responder.
//!
//! The ferrogate side runs in its own namespace: the test binary re-runs itself there
//! (`ip netns exec NS <this test binary> --exact <test>` with `FG_IKE_CHILD` set), drives
//! an `IkeSa` over kernel UDP sockets (port 500, and 4500 with the non-ESP marker when the
//! peer floats, RFC 3948 2.2) and prints what it negotiated. The dataplane is not involved
//! here: the appliance tests cover installing SAs and carrying traffic.

mod common;

use std::net::Ipv4Addr;

use common::ike_child::{self, Lab, charon_spis, fresh_dir, have_root_and_charon};
use common::strongswan::Charon;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{Event, PeerConfig};
use control::ikev2::wire::{DhGroup, EncrId, IntegId, PrfId, ProtocolId};

const TEST: &str = "ikev2_psk_interop_with_strongswan_both_roles";
const CHILD_ENV: &str = "FG_IKE_CHILD";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 2);
const PSK: &str = "interop-test-only-psk";

/// One cipher suite: strongSwan's proposal strings and ours.
struct Suite {
    name: &'static str,
    ike: &'static str,
    esp: &'static str,
    ours_ike: fn() -> LocalProposal,
    ours_esp: fn() -> LocalProposal,
}

fn ike(
    encr: (EncrId, Option<u16>),
    prf: PrfId,
    integ: Option<IntegId>,
    dh: DhGroup,
) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![encr],
        prf: vec![prf],
        integ: integ.into_iter().collect(),
        dh: vec![dh],
        esn: vec![],
    }
}

fn esp(encr: (EncrId, Option<u16>), integ: Option<IntegId>) -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![encr],
        prf: vec![],
        integ: integ.into_iter().collect(),
        dh: vec![],
        esn: vec![],
    }
}

const SUITES: &[Suite] = &[
    Suite {
        name: "aes256-sha256-modp2048",
        ike: "aes256-sha256-modp2048",
        esp: "aes256-sha256",
        ours_ike: || {
            ike(
                (EncrId::AesCbc, Some(256)),
                PrfId::HmacSha2_256,
                Some(IntegId::HmacSha2_256_128),
                DhGroup::Modp2048,
            )
        },
        ours_esp: || esp((EncrId::AesCbc, Some(256)), Some(IntegId::HmacSha2_256_128)),
    },
    Suite {
        name: "aes128gcm16-prfsha256-ecp256",
        ike: "aes128gcm16-prfsha256-ecp256",
        esp: "aes128gcm16",
        ours_ike: || ike((EncrId::AesGcm16, Some(128)), PrfId::HmacSha2_256, None, DhGroup::Ecp256),
        ours_esp: || esp((EncrId::AesGcm16, Some(128)), None),
    },
    Suite {
        name: "aes256gcm16-prfsha384-curve25519",
        ike: "aes256gcm16-prfsha384-curve25519",
        esp: "aes256gcm16",
        ours_ike: || {
            ike((EncrId::AesGcm16, Some(256)), PrfId::HmacSha2_384, None, DhGroup::Curve25519)
        },
        ours_esp: || esp((EncrId::AesGcm16, Some(256)), None),
    },
    Suite {
        name: "chacha20poly1305",
        ike: "chacha20poly1305-prfsha256-curve25519",
        esp: "chacha20poly1305",
        ours_ike: || {
            ike((EncrId::ChaCha20Poly1305, None), PrfId::HmacSha2_256, None, DhGroup::Curve25519)
        },
        ours_esp: || esp((EncrId::ChaCha20Poly1305, None), None),
    },
];

fn swanctl_conf(s: &Suite) -> String {
    format!(
        r#"
connections {{
    gw {{
        version = 2
        local_addrs = {CHARON_ADDR}
        remote_addrs = {OUR_ADDR}
        proposals = {ike}
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
                local_ts = 10.2.0.0/16
                remote_ts = 10.1.0.0/16
                esp_proposals = {esp}
            }}
        }}
    }}
}}
secrets {{
    ike-gw {{
        id-1 = {CHARON_ADDR}
        id-2 = {OUR_ADDR}
        secret = "{PSK}"
    }}
}}
"#,
        ike = s.ike,
        esp = s.esp
    )
}

fn our_config(s: &Suite) -> PeerConfig {
    ike_child::psk_config(OUR_ADDR, CHARON_ADDR, PSK.as_bytes(), (s.ours_ike)(), (s.ours_esp)())
}

/// The ferrogate side, inside its namespace: negotiates, prints one line per event, closes.
fn child(spec: &str) {
    ike_child::log_protocol("trace");
    let (role, suite) = spec.split_once(':').expect("role:suite");
    let s = SUITES.iter().find(|s| s.name == suite).expect("suite");
    ike_child::negotiate_and_close(OUR_ADDR, &our_config(s), role == "initiator", |ev| match ev {
        Event::Established(info) => Some(format!("EVENT established {info:?}")),
        Event::ChildSaUp(c) => Some(format!(
            "EVENT child-up in={:08x} out={:08x} encr={:?} local={:?} remote={:?}",
            c.inbound_spi, c.outbound_spi, c.transforms.encr, c.local_ts, c.remote_ts
        )),
        _ => None,
    });
}

#[test]
fn ikev2_psk_interop_with_strongswan_both_roles() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    if !have_root_and_charon() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("ik", CHARON_ADDR, OUR_ADDR) else { return };
    ike_child::each_suite_both_roles(
        SUITES,
        |s| s.name,
        |s, role| {
            let dir = fresh_dir(&format!("fgik{pid}{}", role.len()));
            let charon = Charon::start(&lab.charon_ns, &dir, &swanctl_conf(s))
                .unwrap_or_else(|e| panic!("{e}"));
            let charon_initiates = (role == "responder").then_some(&charon);
            let out =
                lab.run_ours(TEST, CHILD_ENV, &format!("{role}:{}", s.name), charon_initiates);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let log = charon.log();
            let ok = out.status.success()
                && stdout.contains("EVENT established")
                && stdout.contains("EVENT child-up")
                && stdout.contains("EVENT closed")
                && log.contains("established between")
                && log.contains("CHILD_SA net{1} established");
            let result = if ok {
                // The SPIs charon installed are the ones we negotiated.
                let line = stdout.lines().find(|l| l.starts_with("EVENT child-up")).unwrap();
                let want = charon_spis(line);
                if log.contains(&want) {
                    eprintln!("ok: {role} {} ({})", s.name, want);
                    Ok(())
                } else {
                    Err(format!("{role} {}: charon log lacks {want:?}", s.name))
                }
            } else {
                Err(format!("{role} {}: {}", s.name, ike_child::run_report(&out, &charon, 40)))
            };
            drop(charon);
            let _ = std::fs::remove_dir_all(&dir);
            result
        },
    );
}
