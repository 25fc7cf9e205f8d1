//! Rekeying against a real strongSwan 5.9 (charon with kernel-libipsec) in network
//! namespaces the test makes: charon runs short lifetimes (Child SA rekeyed every ~5 s with
//! PFS, IKE SA every ~8 s) and rekeys both by itself, while our side rekeys the Child SA
//! and the IKE SA through the public calls the dataplane and the operator use. Both sides'
//! rekeys must complete, the Child SAs must never all be down on our side before the end,
//! and charon must have installed every pair we report.
//!
//! As in `ikev2_interop.rs`, our side runs in its own namespace: the test binary re-runs
//! itself there (`FG_IKE_REKEY_CHILD` set) and drives an `IkeSa` over kernel UDP sockets.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Namespaces, in_ns, is_root};
use common::strongswan::Charon;
use common::wait_bounded;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{ChildConfig, Event, IkeSa, Mode, PeerConfig, Psk};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, PrfId, ProtocolId};
use control::retransmit::RetransmitPolicy;
use control::time::Time;
use rand_core::{Infallible, TryCryptoRng, TryRng};

const CHILD_ENV: &str = "FG_IKE_REKEY_CHILD";
const TEST: &str = "ikev2_rekey_interop_with_strongswan";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 2);
const PSK: &str = "interop-test-only-psk";

/// When our side acts, counted from the first Child SA: rekey it, rekey the IKE SA, close.
const OUR_CHILD_REKEY: Duration = Duration::from_secs(2);
const OUR_IKE_REKEY: Duration = Duration::from_secs(3);
const CLOSE_AT: Duration = Duration::from_secs(14);

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

/// charon rekeys its Child SAs 4 to 5 s after they were made (PFS with ECP-256), its IKE SA
/// 7 to 8 s after (swanctl takes whole seconds); the hard lifetimes are a little longer.
fn swanctl_conf() -> String {
    format!(
        r#"
connections {{
    gw {{
        version = 2
        local_addrs = {CHARON_ADDR}
        remote_addrs = {OUR_ADDR}
        proposals = aes128gcm16-prfsha256-ecp256
        rekey_time = 8s
        over_time = 2s
        rand_time = 1s
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
                esp_proposals = aes128gcm16-ecp256
                rekey_time = 5s
                life_time = 7s
                rand_time = 1s
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
"#
    )
}

/// Our side: the same suite, PFS with ECP-256, lifetimes long enough that our own timers
/// stay out of this run (the virtual-clock tests cover them): we rekey by the calls.
fn our_config() -> PeerConfig {
    let net = |a: [u8; 4], l| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), l);
    PeerConfig {
        local_addr: SocketAddr::new(OUR_ADDR.into(), 500),
        remote_addr: SocketAddr::new(CHARON_ADDR.into(), 500),
        local_id: IdRepr::ipv4(OUR_ADDR),
        remote_id: Some(IdRepr::ipv4(CHARON_ADDR)),
        psk_local: Psk::new(PSK.as_bytes()),
        psk_remote: Psk::new(PSK.as_bytes()),
        psk_by_id: vec![],
        ike_proposals: vec![LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![(EncrId::AesGcm16, Some(128))],
            prf: vec![PrfId::HmacSha2_256],
            integ: vec![],
            dh: vec![DhGroup::Ecp256],
            esn: vec![],
        }],
        child: ChildConfig {
            esp_proposals: vec![LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![(EncrId::AesGcm16, Some(128))],
                prf: vec![],
                integ: vec![],
                dh: vec![DhGroup::Ecp256],
                esn: vec![],
            }],
            selectors: PolicySelectors {
                local: vec![net([10, 1, 0, 0], 16)],
                remote: vec![net([10, 2, 0, 0], 16)],
            },
            lifetime_seconds: 60,
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

/// Our side, inside its namespace: initiates, rekeys on schedule, prints one line per
/// event, checks make-before-break, closes.
fn child() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("ikev2_protocol=debug"))
        .try_init();
    let s500 = UdpSocket::bind((OUR_ADDR, 500)).expect("bind 500");
    let s4500 = UdpSocket::bind((OUR_ADDR, 4500)).expect("bind 4500");
    for sock in [&s500, &s4500] {
        sock.set_nonblocking(true).unwrap();
    }
    let start = Instant::now();
    let now = || Time::from_millis(start.elapsed().as_millis() as u64);
    let mut rng = OsRng;
    let mut sa = IkeSa::initiate(now(), our_config(), &mut rng).expect("config");
    sa.set_ike_lifetime(Duration::from_secs(60), &mut rng);
    let mut buf = vec![0u8; 65536];
    let mut live: BTreeMap<u32, u32> = BTreeMap::new();
    let mut first: Option<(Instant, u32)> = None;
    let (mut child_rekeyed, mut ike_rekeyed, mut closing) = (false, false, false);
    while start.elapsed() < Duration::from_secs(25) {
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
                Event::Established(info) => println!("EVENT established {:016x}", info.spi_i),
                Event::ChildSaUp(c) => {
                    println!(
                        "EVENT child-up in={:08x} out={:08x} rekey_of={:?} dh={:?}",
                        c.inbound_spi, c.outbound_spi, c.rekey_of, c.transforms.dh
                    );
                    live.insert(c.inbound_spi, c.outbound_spi);
                    first.get_or_insert((Instant::now(), c.inbound_spi));
                }
                Event::ChildSaDown { inbound_spi, outbound_spi } => {
                    println!("EVENT child-down in={inbound_spi:08x} out={outbound_spi:08x}");
                    live.remove(inbound_spi);
                    if live.is_empty() && !closing {
                        println!("EVENT live-empty");
                        std::process::exit(5);
                    }
                }
                Event::IkeSaRekeyed { info, .. } => println!(
                    "EVENT ike-rekeyed initiator={} spi_i={:016x} spi_r={:016x}",
                    info.initiator, info.spi_i, info.spi_r
                ),
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
        if let Some((t0, spi)) = first {
            let since = t0.elapsed();
            if !child_rekeyed && since >= OUR_CHILD_REKEY {
                child_rekeyed = true;
                println!("EVENT rekey-child {}", sa.rekey_child(now(), spi, &mut rng));
                continue;
            }
            if !ike_rekeyed && since >= OUR_IKE_REKEY {
                ike_rekeyed = true;
                println!("EVENT rekey-ike {}", sa.rekey_ike(now(), &mut rng));
                continue;
            }
            if !closing && since >= CLOSE_AT {
                closing = true;
                sa.close(now(), &mut rng);
                continue;
            }
        }
        if sa.poll_timeout().is_some_and(|t| t <= now()) {
            sa.handle_timeout(now(), &mut rng);
            continue;
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
                sa.handle(now(), msg, from, &mut rng);
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
fn ikev2_rekey_interop_with_strongswan() {
    if std::env::var(CHILD_ENV).is_ok() {
        child();
        return;
    }
    if !is_root() || !std::path::Path::new(common::strongswan::CHARON).exists() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("fgrk{pid}a"), format!("fgrk{pid}b"));
    let _ns = match Namespaces::create(&[a.clone(), b.clone()]) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped: no network namespaces: {e}");
            return;
        }
    };
    in_ns(&a, &["ip", "link", "add", "rk0", "type", "veth", "peer", "name", "rk1", "netns", &b]);
    in_ns(&a, &["ip", "addr", "add", &format!("{CHARON_ADDR}/24"), "dev", "rk0"]);
    in_ns(&b, &["ip", "addr", "add", &format!("{OUR_ADDR}/24"), "dev", "rk1"]);
    for (ns, dev) in [(&a, "rk0"), (&b, "rk1")] {
        in_ns(ns, &["ip", "link", "set", dev, "up"]);
        in_ns(ns, &["ip", "link", "set", "lo", "up"]);
    }
    // kernel-libipsec routes its policies through a TUN device from an address of the
    // local selector: strongSwan's LAN lives on lo.
    in_ns(&a, &["ip", "addr", "add", "10.2.0.1/16", "dev", "lo"]);
    let dir = std::env::temp_dir().join(format!("fgrk{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let charon = Charon::start(&a, &dir, &swanctl_conf()).unwrap_or_else(|e| panic!("{e}"));
    let ours = Command::new("ip")
        .args(["netns", "exec", &b])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(ours, Duration::from_secs(40));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let log = charon.log();
    let report = || {
        format!(
            "rc {:?}\n--- ours:\n{stdout}\n--- our log (tail):\n{}\n--- charon:\n{}",
            out.status.code(),
            stderr
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
            charon.log_tail(80)
        )
    };
    let lines = |p: &str| stdout.lines().filter(|l| l.starts_with(p)).count();
    assert!(out.status.success() && stdout.contains("EVENT closed Local"), "{}", report());
    assert!(stdout.contains("EVENT rekey-child true") && stdout.contains("EVENT rekey-ike true"));
    // Our rekeys: the Child SA (with PFS) and the IKE SA, which we then initiated.
    assert!(stderr.contains("up, rekeying"), "our Child SA rekey: {}", report());
    assert!(stdout.contains("ike-rekeyed initiator=true"), "our IKE SA rekey: {}", report());
    // charon's rekeys, by its timers: a Child SA (we answered) and the IKE SA.
    assert!(
        stderr.contains("up (peer's request), rekeying"),
        "charon's Child SA rekey: {}",
        report()
    );
    assert!(stdout.contains("ike-rekeyed initiator=false"), "charon's IKE SA rekey: {}", report());
    assert!(lines("EVENT child-up") >= 3, "{}", report());
    assert!(lines("EVENT ike-rekeyed") >= 2, "{}", report());
    for l in stdout.lines().filter(|l| l.starts_with("EVENT child-up")).skip(1) {
        assert!(l.contains("dh=Some(Ecp256)"), "rekeyed with PFS: {l}");
    }
    // charon saw them the same way: every pair installed with our SPIs, both IKE SA rekeys.
    assert!(log.contains("CHILD_SA net{2} established"), "{}", report());
    assert!(log.contains("CHILD_SA net{3} established"), "{}", report());
    assert!(log.matches("rekeyed between").count() >= 2, "{}", report());
    for l in stdout.lines().filter(|l| l.starts_with("EVENT child-up")) {
        let spi = |key: &str| l.split(key).nth(1).unwrap().split_whitespace().next().unwrap();
        let want = format!("with SPIs {}_i {}_o", spi("out="), spi("in="));
        assert!(log.contains(&want), "charon lacks {want:?}: {}", report());
    }
    for bad in ["rekeying failed", "not found for rekey", "peer didn't find", "failed to establish"]
    {
        assert!(!log.contains(bad), "charon: {bad:?}: {}", report());
    }
    for l in stdout.lines().filter(|l| l.starts_with("EVENT")) {
        eprintln!("ok: {l}");
    }
    drop(charon);
    let _ = std::fs::remove_dir_all(&dir);
}
