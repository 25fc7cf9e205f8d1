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
use common::test_pki::{self, Leaf};
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

/// What the scenario does after an event.
enum Flow {
    Continue,
    /// Close every SA (DELETEs), then finish when closed.
    Close,
    /// Finish now (exit 0).
    Done,
}

/// Our side, inside its namespace: runs `cfg` as initiator or responder over kernel UDP
/// sockets for at most `limit`, prints one `EVENT` line per event and lets `script` decide
/// what follows. Exits 0 when the script is done or the SAs closed, 3 on a failure the
/// script did not expect, 4 at the limit.
fn drive(
    cfg: Ikev1Config,
    initiator: bool,
    limit: Duration,
    mut script: impl FnMut(&Event, &Udp) -> Flow,
) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("ikev1=trace"))
        .try_init();
    let udp = Udp::bind(OUR_ADDR);
    let mut rng = OsRng;
    let mut ep = Ikev1Endpoint::new();
    if initiator {
        ep.initiate(udp.now(), cfg, &mut rng).expect("config");
    } else {
        ep.set_responder_configs(vec![cfg]);
    }
    let mut buf = vec![0u8; 65536];
    while udp.start.elapsed() < limit {
        while let Some(t) = ep.poll_transmit() {
            udp.send(&t);
        }
        while let Some((_, ev)) = ep.poll_event() {
            println!("{}", describe(&ev));
            match script(&ev, &udp) {
                Flow::Continue => {}
                Flow::Close => {
                    ep.close_all(udp.now(), &mut rng);
                    // IKEv1 DELETEs are unacknowledged and charon hands each packet to
                    // whichever worker thread is free: sent back to back, the ISAKMP DELETE
                    // can tear the IKE_SA down before the ESP DELETE is read, and the ESP one
                    // is then dropped unlogged. Spaced out, charon reads them in order.
                    let mut first = true;
                    while let Some(t) = ep.poll_transmit() {
                        if !first {
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        first = false;
                        udp.send(&t);
                    }
                }
                Flow::Done => {
                    while let Some(t) = ep.poll_transmit() {
                        udp.send(&t);
                    }
                    std::process::exit(0);
                }
            }
            match ev {
                Event::Closed { .. } => {
                    while let Some(t) = ep.poll_transmit() {
                        udp.send(&t);
                    }
                    std::process::exit(0);
                }
                Event::Failed(_) => std::process::exit(3),
                _ => {}
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

/// The `EVENT` line of an event.
fn describe(ev: &Event) -> String {
    match ev {
        Event::Established(info) => format!(
            "EVENT established nat={} local_auth={} remote_auth={} {info:?}",
            info.nat_detected, info.local_auth, info.remote_auth
        ),
        Event::ChildSaUp(c) => format!(
            "EVENT child-up in={:08x} out={:08x} rekey_of={:?} encr={:?} dh={:?} local={:?} remote={:?}",
            c.inbound_spi,
            c.outbound_spi,
            c.rekey_of,
            c.transforms.encr,
            c.transforms.dh,
            c.local_ts,
            c.remote_ts
        ),
        Event::Closed { reason } => format!("EVENT closed {reason:?}"),
        Event::Failed(cause) => format!("EVENT failed {cause:?}"),
        other => format!("EVENT {other:?}"),
    }
}

/// Close a moment after the Quick Mode SA came up: IKEv1 DELETEs are not acknowledged, and
/// charon drops one that arrives while it is still installing the pair message 3 made.
fn settle_then_close() -> Flow {
    std::thread::sleep(Duration::from_millis(300));
    Flow::Close
}

/// The PSK suites: close once the Quick Mode SA is up.
fn child(spec: &str) {
    let (role, suite) = spec.split_once(':').expect("role:suite");
    let s = SUITES.iter().find(|s| s.name == suite).expect("suite");
    drive(our_config(s), role == "initiator", Duration::from_secs(20), |ev, _| match ev {
        Event::ChildSaUp(_) => settle_then_close(),
        _ => Flow::Continue,
    });
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
            // charon logs what it received a little after our side exits (its threads,
            // a loaded machine): wait, bounded, for the DELETEs to show.
            let deleted = |log: &str| {
                log.contains("received DELETE for ESP CHILD_SA")
                    && log.contains("received DELETE for IKE_SA")
            };
            let mut log = charon.log();
            let until = Instant::now() + Duration::from_secs(3);
            while !deleted(&log) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
                log = charon.log();
            }
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
                match (log.contains(&want), deleted(&log)) {
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

// ---------------------------------------------------------------------------------------
// Certificates: RSA and ECDSA signatures in Main Mode.

const CA_DN: &str = "C=XX, O=ferrogate interop, CN=IKEv1 CA";
const CHARON_DN: &str = "C=XX, O=ferrogate interop, CN=charon.interop.test";
const OUR_DN: &str = "C=XX, O=ferrogate interop, CN=fg.interop.test";
const CERT_TEST: &str = "ikev1_certificates_interop_with_strongswan_both_roles";

struct CertSuite {
    name: &'static str,
    key: &'static [&'static str],
    auth: AuthMethod,
}

const CERT_SUITES: &[CertSuite] = &[
    CertSuite { name: "rsa", key: &["--type", "rsa", "--size", "2048"], auth: AuthMethod::RsaSig },
    CertSuite {
        name: "ecdsa-p256",
        key: &["--type", "ecdsa", "--size", "256"],
        auth: AuthMethod::EcdsaSig(256),
    },
];

fn cert_swanctl_conf(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"
connections {{
    gw {{
        version = 1
        local_addrs = {CHARON_ADDR}
        remote_addrs = {OUR_ADDR}
        proposals = aes256-sha256-modp2048
        send_certreq = yes
        local {{
            auth = pubkey
            certs = {d}/x509/charon.pem
            id = "{CHARON_DN}"
        }}
        remote {{
            auth = pubkey
            id = "{OUR_DN}"
            cacerts = {d}/x509ca/ca.pem
        }}
        children {{
            net {{
                local_ts = 10.2.0.0/16
                remote_ts = 10.1.0.0/16
                esp_proposals = aes256-sha256-modp2048
            }}
        }}
    }}
}}
"#
    )
}

fn cert_child(spec: &str) {
    use control::ikev1::sa::Ikev1Certificates;
    use control::ikev2::sa::{LocalCertificate, PeerCertificate, PeerIdCheck};
    use control::pki::Credential;
    use control::pki::load::{load_certificates, load_private_key, load_trust_store};
    use std::sync::Arc;
    let mut parts = spec.splitn(3, ':');
    let (role, suite, dir) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let s = CERT_SUITES.iter().find(|s| s.name == suite).expect("suite");
    let dir = std::path::Path::new(dir);
    let mut chain = load_certificates(&dir.join("fg.pem")).expect("our certificate").into_iter();
    let leaf = chain.next().expect("a certificate");
    let key = load_private_key(&dir.join("fg.key")).expect("our key");
    let trust = load_trust_store(&[dir.join("ca.pem")]).expect("the CA");
    let mut cred = Credential::new(leaf, chain.collect(), key).expect("key fits certificate");
    cred.link_anchors(&trust);
    let mut cfg = our_config(&SUITES[0]);
    cfg.psk = Psk::new(b"");
    cfg.remote_id = None;
    cfg.phase1 = vec![Phase1Policy { auth: s.auth, ..p1(256, HashAlg::Sha256, DhGroup::Modp2048) }];
    cfg.certificates = Some(Ikev1Certificates {
        local: LocalCertificate::new(Arc::new(cred)),
        remote: PeerCertificate::new(Arc::new(trust), PeerIdCheck::Required),
    });
    drive(cfg, role == "initiator", Duration::from_secs(20), |ev, _| match ev {
        Event::ChildSaUp(_) => settle_then_close(),
        _ => Flow::Continue,
    });
}

#[test]
fn ikev1_certificates_interop_with_strongswan_both_roles() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        cert_child(&spec);
        return;
    }
    if !have_root_and_charon() || !std::path::Path::new(test_pki::PKI).exists() {
        eprintln!("skipped: needs root, strongSwan and its pki tool (scripts/setup.sh)");
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("i2", CHARON_ADDR, OUR_ADDR) else { return };
    ike_child::each_suite_both_roles(
        CERT_SUITES,
        |s| s.name,
        |s, role| {
            let dir = fresh_dir(&format!("fgi2{pid}{}{}", &s.name[..1], &role[..1]));
            let leaves = [
                Leaf { who: "charon", key: s.key, dn: CHARON_DN, addr: CHARON_ADDR },
                Leaf { who: "fg", key: s.key, dn: OUR_DN, addr: OUR_ADDR },
            ];
            test_pki::make_pki(&dir, s.key, CA_DN, &leaves).unwrap_or_else(|e| panic!("{e}"));
            let charon = Charon::start(&lab.charon_ns, &dir, &cert_swanctl_conf(&dir))
                .unwrap_or_else(|e| panic!("{e}"));
            let creds = charon.swanctl_in_dir(&["--load-creds", "--noprompt"]);
            assert!(creds.status.success(), "swanctl --load-creds failed");
            let spec = format!("{role}:{}:{}", s.name, dir.display());
            let out =
                lab.run_ours(CERT_TEST, CHILD_ENV, &spec, (role == "responder").then_some(&charon));
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let log = charon.log();
            let ours_ok = out.status.success()
                && stdout.lines().any(|l| {
                    l.starts_with("EVENT established") && l.contains("charon.interop.test")
                })
                && stdout.contains("EVENT child-up")
                && stdout.contains("EVENT closed");
            // charon verified our chain and signature.
            let charon_ok = log.contains("established between")
                && log.contains("CHILD_SA net{1} established")
                && log.contains("reached self-signed root ca")
                && log.lines().any(|l| {
                    l.contains(&format!("authentication of '{OUR_DN}'")) && l.contains("successful")
                });
            let result = if ours_ok && charon_ok {
                eprintln!("ok: {role} certificates {}", s.name);
                Ok(())
            } else {
                Err(format!(
                    "{role} certificates {}: {}",
                    s.name,
                    ike_child::run_report(&out, &charon, 60)
                ))
            };
            drop(charon);
            let _ = std::fs::remove_dir_all(&dir);
            result
        },
    );
}

// ---------------------------------------------------------------------------------------
// Legacy remote access: strongSwan as the XAUTH / Mode Config client, ferrogate the
// concentrator.

const XAUTH_TEST: &str = "ikev1_xauth_and_mode_config_with_a_strongswan_client";

fn xauth_swanctl_conf(password: &str) -> String {
    format!(
        r#"
connections {{
    ra {{
        version = 1
        local_addrs = {CHARON_ADDR}
        remote_addrs = {OUR_ADDR}
        proposals = aes256-sha256-modp2048
        vips = 0.0.0.0
        local-1 {{
            auth = psk
            id = {CHARON_ADDR}
        }}
        local-2 {{
            auth = xauth
            xauth_id = alice
        }}
        remote {{
            auth = psk
            id = {OUR_ADDR}
        }}
        children {{
            net {{
                remote_ts = 10.1.0.0/16
                esp_proposals = aes256-sha256-modp2048
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
    xauth-alice {{
        id = alice
        secret = "{password}"
    }}
}}
"#
    )
}

fn xauth_child(_spec: &str) {
    use control::ikev1::remote_access::UserDb;
    use control::ikev1::sa::{RemoteAccess, RemoteAccessServer};
    use control::pool::{AddressPool, PoolRange};
    use std::sync::Arc;
    let mut users = UserDb::new();
    users.add("alice", b"correct horse battery");
    let mut cfg = our_config(&SUITES[0]);
    cfg.remote_id = None;
    cfg.selectors.remote = vec![from_prefix(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 0)), 24)];
    cfg.remote_access = Some(RemoteAccess::Server(RemoteAccessServer {
        users: Arc::new(users),
        pools: vec![AddressPool::new(
            "ra",
            PoolRange::V4 { first: Ipv4Addr::new(10, 9, 0, 10), last: Ipv4Addr::new(10, 9, 0, 20) },
        )],
        dns: vec![Ipv4Addr::new(10, 1, 0, 53)],
        domain: None,
    }));
    drive(cfg, false, Duration::from_secs(20), |ev, _| match ev {
        Event::ChildSaUp(_) => settle_then_close(),
        _ => Flow::Continue,
    });
}

#[test]
fn ikev1_xauth_and_mode_config_with_a_strongswan_client() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        xauth_child(&spec);
        return;
    }
    if !have_root_and_charon()
        || !std::path::Path::new("/usr/lib/ipsec/plugins/libstrongswan-xauth-generic.so").exists()
    {
        eprintln!("skipped: needs root and strongSwan with xauth-generic (scripts/setup.sh)");
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("i3", CHARON_ADDR, OUR_ADDR) else { return };
    let mut failures = Vec::new();
    for (password, accepted) in [("correct horse battery", true), ("wrong", false)] {
        let dir = fresh_dir(&format!("fgi3{pid}{}", u8::from(accepted)));
        let charon = Charon::start(&lab.charon_ns, &dir, &xauth_swanctl_conf(password))
            .unwrap_or_else(|e| panic!("{e}"));
        let out = lab.run_ours(XAUTH_TEST, CHILD_ENV, "server", Some(&charon));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let log = charon.log();
        let checks: Vec<(&str, bool)> = if accepted {
            vec![
                ("our side ended cleanly", out.status.success()),
                (
                    "our pair protects the leased 10.9.0.10",
                    stdout
                        .lines()
                        .any(|l| l.starts_with("EVENT child-up") && l.contains("10.9.0.10")),
                ),
                // Mode Config follows a successful XAUTH only.
                ("charon took 10.9.0.10", log.contains("installing new virtual IP 10.9.0.10")),
                ("charon protects it", log.contains("10.9.0.10/32 === 10.1.0.0/16")),
                ("charon's pair", log.contains("CHILD_SA net{1} established with SPIs")),
            ]
        } else {
            vec![
                ("we refused alice", stdout.contains("EVENT failed AuthenticationFailed")),
                ("no pair on our side", !stdout.contains("EVENT child-up")),
                ("no pair on charon's", !log.contains("CHILD_SA net{1} established")),
            ]
        };
        let failed: Vec<&str> = checks.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
        if failed.is_empty() {
            eprintln!(
                "ok: XAUTH {}",
                if accepted { "accepted, address 10.9.0.10" } else { "refused" }
            );
        } else {
            let xauth: Vec<&str> =
                log.lines().filter(|l| l.contains("XAUTH") || l.contains("virtual IP")).collect();
            failures.push(format!(
                "XAUTH with {password:?}: failed {failed:?}\n{}\n{}",
                xauth.join("\n"),
                ike_child::run_report(&out, &charon, 20)
            ));
        }
        drop(charon);
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// Quick Mode rekeying with short lifetimes, then DPD against a frozen charon.

const REKEY_TEST: &str = "ikev1_rekey_and_dpd_with_strongswan";

fn rekey_child(spec: &str) {
    let (role, pid) = spec.split_once(':').expect("role:pid");
    let mut cfg = our_config(&SUITES[0]);
    // 16 s Quick Mode SAs: rekeyed at 80-90 %; DPD after 2 s of silence, 1 s retries.
    cfg.phase2[0].lifetime_seconds = 16;
    cfg.dpd =
        Some(Dpd { threshold: Duration::from_secs(2), retry: Duration::from_secs(1), retries: 3 });
    let mut rekeys = 0;
    drive(cfg, role == "initiator", Duration::from_secs(45), move |ev, _| {
        match ev {
            Event::ChildSaUp(c) if c.rekey_of.is_some() => {
                rekeys += 1;
                if rekeys == 2 {
                    // Two rekeys done: freeze charon; DPD must notice.
                    let _ = std::process::Command::new("kill").args(["-STOP", pid]).status();
                    println!("EVENT froze charon");
                }
            }
            Event::Failed(_) if rekeys >= 2 => {
                let _ = std::process::Command::new("kill").args(["-CONT", pid]).status();
                return Flow::Done;
            }
            _ => {}
        }
        Flow::Continue
    });
}

#[test]
fn ikev1_rekey_and_dpd_with_strongswan() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        rekey_child(&spec);
        return;
    }
    if !have_root_and_charon() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("i4", CHARON_ADDR, OUR_ADDR) else { return };
    let mut failures = Vec::new();
    for role in ["initiator", "responder"] {
        let dir = fresh_dir(&format!("fgi4{pid}{}", role.len()));
        let charon = Charon::start(&lab.charon_ns, &dir, &swanctl_conf(&SUITES[0]))
            .unwrap_or_else(|e| panic!("{e}"));
        let charon_pid = charon.pid().expect("charon runs");
        let out = lab.run_ours(
            REKEY_TEST,
            CHILD_ENV,
            &format!("{role}:{charon_pid}"),
            (role == "responder").then_some(&charon),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let log = charon.log();
        let rekeyed: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("EVENT child-up") && !l.contains("rekey_of=None"))
            .collect();
        let rekeys = rekeyed.len();
        // charon installed every pair we rekeyed to, under the same SPIs.
        let same_spis = rekeyed.iter().all(|l| log.contains(&charon_spis(l)));
        let ok = out.status.success()
            && rekeys >= 2
            && same_spis
            && stdout.contains("EVENT froze charon")
            && stdout.contains("EVENT failed PeerUnreachable");
        if ok {
            eprintln!(
                "ok: {role}: {rekeys} Quick Mode rekeys, DPD declared the frozen charon dead"
            );
        } else {
            failures.push(format!("{role}: {}", ike_child::run_report(&out, &charon, 60)));
        }
        drop(charon);
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
