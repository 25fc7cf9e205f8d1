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

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Namespaces, in_ns, is_root};
use common::strongswan::Charon;
use common::wait_bounded;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{Accept, ChildConfig, Event, IkeSa, Mode, PeerConfig, Psk};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, IntegId, PrfId, ProtocolId};
use control::retransmit::RetransmitPolicy;
use control::time::Time;
use rand_core::{Infallible, TryCryptoRng, TryRng};

const CHILD_ENV: &str = "FG_IKE_CHILD";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 2);
const PSK: &str = "interop-test-only-psk";

/// The operating system's randomness.
struct OsRng;

impl TryRng for OsRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        getrandom::fill(dst).expect("getrandom");
        Ok(())
    }
}

impl TryCryptoRng for OsRng {}

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
    let net = |a: [u8; 4], l| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), l);
    PeerConfig {
        local_addr: SocketAddr::new(OUR_ADDR.into(), 500),
        remote_addr: SocketAddr::new(CHARON_ADDR.into(), 500),
        local_id: IdRepr::ipv4(OUR_ADDR),
        remote_id: Some(IdRepr::ipv4(CHARON_ADDR)),
        psk_local: Psk::new(PSK.as_bytes()),
        psk_remote: Psk::new(PSK.as_bytes()),
        psk_by_id: vec![],
        ike_proposals: vec![(s.ours_ike)()],
        child: ChildConfig {
            esp_proposals: vec![(s.ours_esp)()],
            selectors: PolicySelectors {
                local: vec![net([10, 1, 0, 0], 16)],
                remote: vec![net([10, 2, 0, 0], 16)],
            },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 4_608_000,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy {
            interval: Duration::from_millis(500),
            tries: 3,
            ..Default::default()
        },
        dpd_interval: Duration::ZERO,
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

/// The ferrogate side, inside its namespace: negotiates, prints one line per event, closes.
fn child(spec: &str) {
    // The protocol log goes to stderr, which the parent shows when a run fails.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("ikev2_protocol=trace"))
        .try_init();
    let (role, suite) = spec.split_once(':').expect("role:suite");
    let s = SUITES.iter().find(|s| s.name == suite).expect("suite");
    let cfg = our_config(s);
    let s500 = UdpSocket::bind((OUR_ADDR, 500)).expect("bind 500");
    let s4500 = UdpSocket::bind((OUR_ADDR, 4500)).expect("bind 4500");
    for sock in [&s500, &s4500] {
        sock.set_nonblocking(true).unwrap();
    }
    let start = Instant::now();
    let now = || Time::from_millis(start.elapsed().as_millis() as u64);
    let mut rng = OsRng;
    let mut sa: Option<IkeSa> = match role {
        "initiator" => Some(IkeSa::initiate(now(), cfg.clone(), &mut rng).expect("config")),
        _ => None,
    };
    let mut buf = vec![0u8; 65536];
    let mut closing = false;
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(sa) = sa.as_mut() {
            while let Some(t) = sa.poll_transmit() {
                // Port 4500 carries the non-ESP marker (RFC 3948 2.2).
                if t.to.port() == 4500 {
                    let mut framed = vec![0u8; 4];
                    framed.extend_from_slice(&t.bytes);
                    s4500.send_to(&framed, t.to).expect("send 4500");
                } else {
                    s500.send_to(&t.bytes, t.to).expect("send 500");
                }
            }
            while let Some(ev) = sa.poll_event() {
                match &ev {
                    Event::Established(info) => println!("EVENT established {info:?}"),
                    Event::ChildSaUp(c) => {
                        println!(
                            "EVENT child-up in={:08x} out={:08x} encr={:?} local={:?} remote={:?}",
                            c.inbound_spi,
                            c.outbound_spi,
                            c.transforms.encr,
                            c.local_ts,
                            c.remote_ts
                        );
                        if !closing {
                            closing = true;
                            sa.close(now(), &mut rng);
                        }
                    }
                    Event::Closed { reason } => {
                        println!("EVENT closed {reason:?}");
                        return;
                    }
                    Event::Failed(cause) => {
                        println!("EVENT failed {cause:?}");
                        std::process::exit(3);
                    }
                    other => println!("EVENT {other:?}"),
                }
            }
            if sa.poll_timeout().is_some_and(|t| t <= now()) {
                sa.handle_timeout(now(), &mut rng);
                continue;
            }
        }
        let mut got = false;
        for (sock, marker) in [(&s500, false), (&s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                got = true;
                let msg = match (marker, &buf[..n]) {
                    (false, m) => m,
                    (true, [0, 0, 0, 0, rest @ ..]) => rest,
                    (true, _) => continue,
                };
                match sa.as_mut() {
                    Some(sa) => sa.handle(now(), msg, from, &mut rng),
                    None => match IkeSa::accept(now(), cfg.clone(), msg, from, &mut rng) {
                        Accept::Sa(new) => sa = Some(*new),
                        other => println!("EVENT accept {:?}", std::mem::discriminant(&other)),
                    },
                }
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    println!("EVENT timeout");
    std::process::exit(4);
}

#[test]
fn ikev2_psk_interop_with_strongswan_both_roles() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    if !is_root() || !std::path::Path::new(common::strongswan::CHARON).exists() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("fgik{pid}a"), format!("fgik{pid}b"));
    let _ns = match Namespaces::create(&[a.clone(), b.clone()]) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped: no network namespaces: {e}");
            return;
        }
    };
    in_ns(&a, &["ip", "link", "add", "ik0", "type", "veth", "peer", "name", "ik1", "netns", &b]);
    in_ns(&a, &["ip", "addr", "add", &format!("{CHARON_ADDR}/24"), "dev", "ik0"]);
    in_ns(&b, &["ip", "addr", "add", &format!("{OUR_ADDR}/24"), "dev", "ik1"]);
    for (ns, dev) in [(&a, "ik0"), (&b, "ik1")] {
        in_ns(ns, &["ip", "link", "set", dev, "up"]);
        in_ns(ns, &["ip", "link", "set", "lo", "up"]);
    }
    // kernel-libipsec routes its policies through a TUN device from an address of the
    // local selector: strongSwan's LAN lives on lo (the `dummy` link type is missing here).
    in_ns(&a, &["ip", "addr", "add", "10.2.0.1/16", "dev", "lo"]);
    let exe = std::env::current_exe().unwrap();
    let mut failures = Vec::new();
    // FG_IKE_ONLY=initiator:chacha20poly1305 narrows a debugging run to one case.
    let only = std::env::var("FG_IKE_ONLY").ok();
    for s in SUITES {
        for role in ["initiator", "responder"] {
            if only.as_ref().is_some_and(|o| *o != format!("{role}:{}", s.name)) {
                continue;
            }
            let dir = std::env::temp_dir().join(format!("fgik{pid}{}", role.len()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let charon =
                Charon::start(&a, &dir, &swanctl_conf(s)).unwrap_or_else(|e| panic!("{e}"));
            let ours = Command::new("ip")
                .args(["netns", "exec", &b])
                .arg(&exe)
                .args(["--exact", "ikev2_psk_interop_with_strongswan_both_roles", "--nocapture"])
                .env(CHILD_ENV, format!("{role}:{}", s.name))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if role == "responder" {
                std::thread::sleep(Duration::from_millis(300));
                let _ = charon.swanctl(&["--initiate", "--child", "net", "--timeout", "5"]);
            }
            let out = wait_bounded(ours, Duration::from_secs(40));
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let log = charon.log();
            let ok = out.status.success()
                && stdout.contains("EVENT established")
                && stdout.contains("EVENT child-up")
                && stdout.contains("EVENT closed")
                && log.contains("established between")
                && log.contains("CHILD_SA net{1} established");
            if ok {
                // The SPIs charon installed are the ones we negotiated.
                let line = stdout.lines().find(|l| l.starts_with("EVENT child-up")).unwrap();
                let spi = |key: &str| {
                    line.split(key).nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
                };
                let (inb, outb) = (spi("in="), spi("out="));
                let want = format!("with SPIs {outb}_i {inb}_o");
                if log.contains(&want) {
                    eprintln!("ok: {role} {} ({})", s.name, want);
                } else {
                    failures.push(format!("{role} {}: charon log lacks {want:?}", s.name));
                }
            } else {
                failures.push(format!(
                    "{role} {}: rc {:?}\n--- ours:\n{stdout}{}\n--- charon:\n{}",
                    s.name,
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr),
                    charon.log_tail(40)
                ));
            }
            drop(charon);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
