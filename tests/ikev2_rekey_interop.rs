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
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::ike_child::{self, Lab, OsRng, Udp, charon_spis, fresh_dir, have_root_and_charon};
use common::strongswan::Charon;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{Event, IkeSa, PeerConfig};
use control::ikev2::wire::{DhGroup, EncrId, PrfId, ProtocolId};

const CHILD_ENV: &str = "FG_IKE_REKEY_CHILD";
const TEST: &str = "ikev2_rekey_interop_with_strongswan";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 2);
const PSK: &str = "interop-test-only-psk";

/// When our side acts, counted from the first Child SA: rekey it, rekey the IKE SA, close.
const OUR_CHILD_REKEY: Duration = Duration::from_secs(2);
const OUR_IKE_REKEY: Duration = Duration::from_secs(3);
const CLOSE_AT: Duration = Duration::from_secs(14);

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
        dh: vec![DhGroup::Ecp256],
        esn: vec![],
    };
    let mut cfg = ike_child::psk_config(OUR_ADDR, CHARON_ADDR, PSK.as_bytes(), ike, esp);
    cfg.child.lifetime_seconds = 60;
    cfg
}

/// Our side, inside its namespace: initiates, rekeys on schedule, prints one line per
/// event, checks make-before-break, closes.
fn child() {
    ike_child::log_protocol("debug");
    let udp = Udp::bind(OUR_ADDR);
    let mut rng = OsRng;
    let mut sa = IkeSa::initiate(udp.now(), our_config(), &mut rng).expect("config");
    sa.set_ike_lifetime(Duration::from_secs(60), &mut rng);
    let mut buf = vec![0u8; 65536];
    let mut live: BTreeMap<u32, u32> = BTreeMap::new();
    let mut first: Option<(Instant, u32)> = None;
    let (mut child_rekeyed, mut ike_rekeyed, mut closing) = (false, false, false);
    while udp.elapsed() < Duration::from_secs(25) {
        udp.send_all(&mut sa);
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
                Event::Closed { .. } => {
                    println!("{}", ike_child::event_line(&ev));
                    return;
                }
                Event::Failed(_) => {
                    println!("{}", ike_child::event_line(&ev));
                    std::process::exit(3);
                }
                other => println!("{}", ike_child::event_line(other)),
            }
        }
        if let Some((t0, spi)) = first {
            let since = t0.elapsed();
            if !child_rekeyed && since >= OUR_CHILD_REKEY {
                child_rekeyed = true;
                println!("EVENT rekey-child {}", sa.rekey_child(udp.now(), spi, &mut rng));
                continue;
            }
            if !ike_rekeyed && since >= OUR_IKE_REKEY {
                ike_rekeyed = true;
                println!("EVENT rekey-ike {}", sa.rekey_ike(udp.now(), &mut rng));
                continue;
            }
            if !closing && since >= CLOSE_AT {
                closing = true;
                sa.close(udp.now(), &mut rng);
                continue;
            }
        }
        if sa.poll_timeout().is_some_and(|t| t <= udp.now()) {
            sa.handle_timeout(udp.now(), &mut rng);
            continue;
        }
        udp.receive(&mut buf, |msg, from| sa.handle(udp.now(), msg, from, &mut rng));
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
    if !have_root_and_charon() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("rk", CHARON_ADDR, OUR_ADDR) else { return };
    let dir = fresh_dir(&format!("fgrk{pid}"));
    let charon =
        Charon::start(&lab.charon_ns, &dir, &swanctl_conf()).unwrap_or_else(|e| panic!("{e}"));
    let out = lab.run_ours(TEST, CHILD_ENV, "1", None);
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
        let want = charon_spis(l);
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
