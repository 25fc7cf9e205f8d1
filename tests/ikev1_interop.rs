//! ferrogate's IKEv1 (control::ikev1::sa) against a real strongSwan 5.9 (charon with
//! kernel-libipsec, `version = 1`) in network namespaces the test makes: Main Mode with a
//! pre-shared key and Quick Mode with PFS for the suites the IKEv1 issue names (AES-CBC-256 /
//! SHA-256 / MODP-2048 and ECP-256), Aggressive Mode (opted in on both sides), ferrogate as
//! the initiator and as the responder; then DELETE from our side.
//!
//! As in `ikev2_interop.rs`, our side runs in its own namespace (the test binary re-run
//! there with `FG_IKE1_CHILD` set), driving an `Ikev1Endpoint` over kernel UDP sockets, and
//! prints one `EVENT` line per event. The SPIs charon installed must be the ones we did.
//! The appliance tests carry traffic through the dataplane over the same protocol.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::ike_child::{self, Lab, OsRng, charon_spis, fresh_dir, have_root_and_charon};
use common::strongswan::Charon;
use control::crypto::{DhGroup, WeakGroups};
use control::ikev1::keys::HashAlg;
use control::ikev1::proposal::{AuthMethod, EncapMode, Phase1Policy, Phase2Policy};
use control::ikev1::sa::{Dpd, Ikev1Config, Ikev1Endpoint, Phase1Mode};
use control::ikev1::wire::{Identification, esp_id, p2attr};
use control::ikev2::sa::{Event, Psk, Transmit};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

const TEST: &str = "ikev1_interop_with_strongswan_both_roles";
const CHILD_ENV: &str = "FG_IKE1_CHILD";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 2);
const PSK: &str = "ikev1-interop-test-only-psk";

/// One case: strongSwan's proposals and ours.
struct Suite {
    name: &'static str,
    ike: &'static str,
    esp: &'static str,
    aggressive: bool,
    phase1: fn() -> Phase1Policy,
    phase2: fn() -> Phase2Policy,
}

fn p1(bits: u16, hash: HashAlg, group: DhGroup) -> Phase1Policy {
    Phase1Policy {
        encryption_key_bits: bits,
        hash,
        auth: AuthMethod::Psk,
        group,
        lifetime: Duration::from_secs(28_800),
    }
}

fn p2(esp: u8, bits: u16, auth: Option<u16>, pfs: DhGroup) -> Phase2Policy {
    Phase2Policy {
        esp_id: esp,
        key_bits: Some(bits),
        auth,
        mode: EncapMode::Tunnel,
        pfs: Some(pfs),
        lifetime_seconds: 3600,
        lifetime_kilobytes: 0,
    }
}

const SUITES: &[Suite] = &[
    Suite {
        name: "main-aes256-sha256-modp2048",
        ike: "aes256-sha256-modp2048",
        esp: "aes256-sha256-modp2048",
        aggressive: false,
        phase1: || p1(256, HashAlg::Sha256, DhGroup::Modp2048),
        phase2: || {
            p2(esp_id::ESP_AES_CBC, 256, Some(p2attr::AUTH_HMAC_SHA2_256), DhGroup::Modp2048)
        },
    },
    Suite {
        name: "main-aes128-sha256-ecp256",
        ike: "aes128-sha256-ecp256",
        esp: "aes128gcm16-ecp256",
        aggressive: false,
        phase1: || p1(128, HashAlg::Sha256, DhGroup::Ecp256),
        phase2: || p2(esp_id::ESP_AES_GCM_16, 128, None, DhGroup::Ecp256),
    },
    Suite {
        name: "aggressive-aes256-sha256-modp2048",
        ike: "aes256-sha256-modp2048",
        esp: "aes256-sha256-modp2048",
        aggressive: true,
        phase1: || p1(256, HashAlg::Sha256, DhGroup::Modp2048),
        phase2: || {
            p2(esp_id::ESP_AES_CBC, 256, Some(p2attr::AUTH_HMAC_SHA2_256), DhGroup::Modp2048)
        },
    },
];

fn swanctl_conf(s: &Suite) -> String {
    format!(
        r#"
connections {{
    gw {{
        version = 1
        aggressive = {aggressive}
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
        aggressive = if s.aggressive { "yes" } else { "no" },
        ike = s.ike,
        esp = s.esp
    )
}

fn our_config(s: &Suite) -> Ikev1Config {
    let net = |a: [u8; 4]| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), 16);
    Ikev1Config {
        local: SocketAddr::new(OUR_ADDR.into(), 500),
        peer: SocketAddr::new(CHARON_ADDR.into(), 500),
        local_id: Identification::address(OUR_ADDR.into()),
        remote_id: Some(Identification::address(CHARON_ADDR.into())),
        psk: Psk::new(PSK.as_bytes()),
        certificates: None,
        remote_access: None,
        phase1: vec![(s.phase1)()],
        mode: if s.aggressive { Phase1Mode::Aggressive } else { Phase1Mode::Main },
        allow_aggressive: s.aggressive,
        phase2: vec![(s.phase2)()],
        selectors: PolicySelectors {
            local: vec![net([10, 1, 0, 0])],
            remote: vec![net([10, 2, 0, 0])],
        },
        dpd: Some(Dpd::default()),
        retransmit: RetransmitPolicy {
            interval: Duration::from_millis(500),
            tries: 3,
            ..Default::default()
        },
        initial_contact: true,
        nat_traversal: true,
        weak_groups: WeakGroups::Reject,
        rekey_overlap: Duration::from_secs(5),
    }
}

/// Our UDP sockets on 500 and 4500 (non-ESP marker there).
struct Udp {
    s500: UdpSocket,
    s4500: UdpSocket,
    start: Instant,
}

impl Udp {
    fn bind(addr: Ipv4Addr) -> Udp {
        let s500 = UdpSocket::bind((addr, 500)).expect("bind 500");
        let s4500 = UdpSocket::bind((addr, 4500)).expect("bind 4500");
        for s in [&s500, &s4500] {
            s.set_nonblocking(true).expect("non-blocking");
        }
        Udp { s500, s4500, start: Instant::now() }
    }

    fn now(&self) -> Time {
        Time::from_millis(self.start.elapsed().as_millis() as u64)
    }

    fn send(&self, t: &Transmit) {
        if t.from.port() == 4500 || t.to.port() == 4500 {
            let mut framed = vec![0u8; 4];
            framed.extend_from_slice(&t.bytes);
            self.s4500.send_to(&framed, t.to).expect("send 4500");
        } else {
            self.s500.send_to(&t.bytes, t.to).expect("send 500");
        }
    }

    fn receive(&self, buf: &mut [u8], mut deliver: impl FnMut(&[u8], SocketAddr)) {
        let mut got = false;
        for (sock, marker) in [(&self.s500, false), (&self.s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(buf) {
                got = true;
                match (marker, &buf[..n]) {
                    (false, m) => deliver(m, from),
                    (true, [0, 0, 0, 0, rest @ ..]) => deliver(rest, from),
                    (true, _) => {}
                }
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Our side, inside its namespace: negotiates, prints the events, closes once the Quick
/// Mode SA is up, and exits 0 when closed (3 on failure, 4 past 20 s).
fn child(spec: &str) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("ikev1=trace"))
        .try_init();
    let (role, suite) = spec.split_once(':').expect("role:suite");
    let s = SUITES.iter().find(|s| s.name == suite).expect("suite");
    let cfg = our_config(s);
    let udp = Udp::bind(OUR_ADDR);
    let mut rng = OsRng;
    let mut ep = Ikev1Endpoint::new();
    if role == "initiator" {
        ep.initiate(udp.now(), cfg, &mut rng).expect("config");
    } else {
        ep.set_responder_configs(vec![cfg]);
    }
    let mut buf = vec![0u8; 65536];
    let mut closing = false;
    while udp.start.elapsed() < Duration::from_secs(20) {
        while let Some(t) = ep.poll_transmit() {
            udp.send(&t);
        }
        while let Some((_, ev)) = ep.poll_event() {
            match &ev {
                Event::Established(info) => {
                    println!("EVENT established nat={} {info:?}", info.nat_detected)
                }
                Event::ChildSaUp(c) => {
                    println!(
                        "EVENT child-up in={:08x} out={:08x} encr={:?} dh={:?}",
                        c.inbound_spi, c.outbound_spi, c.transforms.encr, c.transforms.dh
                    );
                    if !closing {
                        closing = true;
                        ep.close_all(udp.now(), &mut rng);
                    }
                }
                Event::Closed { reason } => {
                    println!("EVENT closed {reason:?}");
                    while let Some(t) = ep.poll_transmit() {
                        udp.send(&t);
                    }
                    return;
                }
                Event::Failed(cause) => {
                    println!("EVENT failed {cause:?}");
                    std::process::exit(3);
                }
                other => println!("EVENT {other:?}"),
            }
        }
        if ep.poll_timeout().is_some_and(|t| t <= udp.now()) {
            ep.handle_timeout(udp.now(), &mut rng);
            continue;
        }
        udp.receive(&mut buf, |msg, from| {
            ep.handle(udp.now(), msg, from, &mut rng);
        });
    }
    println!("EVENT timeout");
    std::process::exit(4);
}

#[test]
fn ikev1_interop_with_strongswan_both_roles() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    if !have_root_and_charon() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("i1", CHARON_ADDR, OUR_ADDR) else { return };
    ike_child::each_suite_both_roles(
        SUITES,
        |s| s.name,
        |s, role| {
            let dir = fresh_dir(&format!("fgi1{pid}{}", role.len()));
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
                let line = stdout.lines().find(|l| l.starts_with("EVENT child-up")).unwrap();
                let want = charon_spis(line);
                // Our DELETEs reached charon and it tore both down.
                let deleted = log.contains("received DELETE for ESP CHILD_SA")
                    && log.contains("received DELETE for IKE_SA");
                match (log.contains(&want), deleted) {
                    (true, true) => {
                        eprintln!("ok: {role} {} ({want})", s.name);
                        Ok(())
                    }
                    (false, _) => Err(format!("{role} {}: charon log lacks {want:?}", s.name)),
                    (true, false) => Err(format!(
                        "{role} {}: charon did not act on our DELETEs\n{}",
                        s.name,
                        charon.log_tail(30)
                    )),
                }
            } else {
                Err(format!("{role} {}: {}", s.name, ike_child::run_report(&out, &charon, 60)))
            };
            drop(charon);
            let _ = std::fs::remove_dir_all(&dir);
            result
        },
    );
}
