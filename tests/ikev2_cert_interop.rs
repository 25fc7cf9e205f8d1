//! ferrogate's IKEv2 certificate authentication (control::ikev2::sa with
//! `LocalAuth::Certificate` / `RemoteAuth::Certificate`) against a real strongSwan 5.9
//! (charon with kernel-libipsec) in network namespaces the test makes: RSA and ECDSA
//! certificates from a CA that strongSwan's `pki` makes at test time, ferrogate as the
//! initiator and as the responder, CERT/CERTREQ/SIGNATURE_HASH_ALGORITHMS and RFC 7427
//! signatures both ways, and the first Child SA.
//!
//! Two suites:
//! - `rsa`: an RSA-2048 CA and RSA-2048 leaves, address identities (ID_IPV4_ADDR matched
//!   against an iPAddress subjectAltName), ferrogate naming the identity it wants (IDr);
//! - `ecdsa`: a P-384 CA, a P-384 leaf for charon and a P-256 one for ferrogate, subject DN
//!   identities (ID_DER_ASN1_DN).
//!
//! The ferrogate side runs in its own namespace: the test binary re-runs itself there (`ip
//! netns exec NS <this test binary> --exact <test>` with `FG_IKE_CHILD` set), loads its
//! certificate, key and CA with `control::pki::load`, drives an `IkeSa` over kernel UDP
//! sockets and prints what it negotiated. Skips without root, strongSwan or `pki`.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::netns::{Namespaces, in_ns, is_root};
use common::strongswan::Charon;
use common::wait_bounded;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{
    Accept, AuthConfig, ChildConfig, Event, IkeSa, LocalAuth, LocalCertificate, Mode,
    PeerCertificate, PeerConfig, PeerIdCheck, Psk, RemoteAuth,
};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, IntegId, PrfId, ProtocolId};
use control::pki::Credential;
use control::pki::load::{load_certificates, load_private_key, load_trust_store};
use control::retransmit::RetransmitPolicy;
use control::time::Time;
use rand_core::{Infallible, TryCryptoRng, TryRng};

const TEST_NAME: &str = "ikev2_certificate_interop_with_strongswan_both_roles";
const CHILD_ENV: &str = "FG_IKE_CHILD";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 2);
const PKI: &str = "/usr/bin/pki";

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

/// One certificate suite: key types, strongSwan's proposals and ours, identities.
struct Suite {
    name: &'static str,
    /// `pki --gen` arguments of the CA's, charon's and ferrogate's keys.
    ca_key: &'static [&'static str],
    charon_key: &'static [&'static str],
    our_key: &'static [&'static str],
    ike: &'static str,
    esp: &'static str,
    ours_ike: fn() -> LocalProposal,
    ours_esp: fn() -> LocalProposal,
    /// Address identities (and an IDr from us) instead of subject DNs.
    address_ids: bool,
}

const RSA: &[&str] = &["--type", "rsa", "--size", "2048"];
const P256: &[&str] = &["--type", "ecdsa", "--size", "256"];
const P384: &[&str] = &["--type", "ecdsa", "--size", "384"];

const SUITES: &[Suite] = &[
    Suite {
        name: "rsa",
        ca_key: RSA,
        charon_key: RSA,
        our_key: RSA,
        ike: "aes256-sha256-modp2048",
        esp: "aes256-sha256",
        ours_ike: || LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![(EncrId::AesCbc, Some(256))],
            prf: vec![PrfId::HmacSha2_256],
            integ: vec![IntegId::HmacSha2_256_128],
            dh: vec![DhGroup::Modp2048],
            esn: vec![],
        },
        ours_esp: || LocalProposal {
            protocol: ProtocolId::Esp,
            encr: vec![(EncrId::AesCbc, Some(256))],
            prf: vec![],
            integ: vec![IntegId::HmacSha2_256_128],
            dh: vec![],
            esn: vec![],
        },
        address_ids: true,
    },
    Suite {
        name: "ecdsa",
        ca_key: P384,
        charon_key: P384,
        our_key: P256,
        ike: "aes256gcm16-prfsha384-ecp384",
        esp: "aes256gcm16",
        ours_ike: || LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![(EncrId::AesGcm16, Some(256))],
            prf: vec![PrfId::HmacSha2_384],
            integ: vec![],
            dh: vec![DhGroup::Ecp384],
            esn: vec![],
        },
        ours_esp: || LocalProposal {
            protocol: ProtocolId::Esp,
            encr: vec![(EncrId::AesGcm16, Some(256))],
            prf: vec![],
            integ: vec![],
            dh: vec![],
            esn: vec![],
        },
        address_ids: false,
    },
];

const CA_DN: &str = "C=XX, O=ferrogate interop, CN=Interop CA";
const CHARON_DN: &str = "C=XX, O=ferrogate interop, CN=charon.interop.test";
const OUR_DN: &str = "C=XX, O=ferrogate interop, CN=fg.interop.test";

/// Runs `pki ARGS`, writing its output to `out`.
fn pki(args: &[&str], out: &Path) -> Result<(), String> {
    let o = Command::new(PKI)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pki: {e}"))?;
    if !o.status.success() || o.stdout.is_empty() {
        return Err(format!("pki {args:?}: {}", String::from_utf8_lossy(&o.stderr)));
    }
    std::fs::write(out, &o.stdout).map_err(|e| e.to_string())
}

/// A fresh PKI for `s` in `dir`: `ca.pem`, and `charon.{key,pem}` / `fg.{key,pem}` issued
/// by it (valid for 30 days from now, address and DNS subjectAltNames). charon's files are
/// copied where `swanctl --load-creds` looks for them (`x509ca/`, `x509/`, `private/`).
fn make_pki(s: &Suite, dir: &Path) -> Result<(), String> {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let pem = ["--outform", "pem"];
    pki(&[&["--gen"], s.ca_key, &pem[..]].concat(), &dir.join("ca.key"))?;
    let ca_key = p("ca.key");
    let self_sign =
        ["--self", "--ca", "--lifetime", "30", "--in", &ca_key, "--type", "priv", "--dn", CA_DN];
    pki(&[&self_sign[..], &pem[..]].concat(), &dir.join("ca.pem"))?;
    let ca = p("ca.pem");
    for (who, key, dn, addr) in
        [("charon", s.charon_key, CHARON_DN, CHARON_ADDR), ("fg", s.our_key, OUR_DN, OUR_ADDR)]
    {
        let (k, pubk) = (p(&format!("{who}.key")), p(&format!("{who}.pub")));
        pki(&[&["--gen"], key, &pem[..]].concat(), Path::new(&k))?;
        pki(&["--pub", "--in", &k, "--type", "priv", "--outform", "pem"], Path::new(&pubk))?;
        let (san_ip, san_dns) = (addr.to_string(), format!("{who}.interop.test"));
        let issue = [
            "--issue",
            "--in",
            &pubk,
            "--type",
            "pub",
            "--cacert",
            &ca,
            "--cakey",
            &ca_key,
            "--lifetime",
            "30",
            "--dn",
            dn,
            "--san",
            &san_ip,
            "--san",
            &san_dns,
            "--outform",
            "pem",
        ];
        pki(&issue, &dir.join(format!("{who}.pem")))?;
    }
    for (file, sub) in [("ca.pem", "x509ca"), ("charon.pem", "x509"), ("charon.key", "private")] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
        std::fs::copy(dir.join(file), dir.join(sub).join(file)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn swanctl_conf(s: &Suite, dir: &Path) -> String {
    let d = dir.display();
    let (local_id, remote_id) = if s.address_ids {
        (CHARON_ADDR.to_string(), OUR_ADDR.to_string())
    } else {
        (format!("\"{CHARON_DN}\""), format!("\"{OUR_DN}\""))
    };
    format!(
        r#"
connections {{
    gw {{
        version = 2
        local_addrs = {CHARON_ADDR}
        remote_addrs = {OUR_ADDR}
        proposals = {ike}
        local {{
            auth = pubkey
            certs = {d}/x509/charon.pem
            id = {local_id}
        }}
        remote {{
            auth = pubkey
            id = {remote_id}
            cacerts = {d}/x509ca/ca.pem
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
"#,
        ike = s.ike,
        esp = s.esp
    )
}

/// Our configuration: signs with `fg.pem`/`fg.key`, trusts `ca.pem`, the peer's identity
/// checked against its certificate (required), the certificates' validity at the host's
/// clock.
fn our_config(s: &Suite, dir: &Path) -> PeerConfig {
    let net = |a: [u8; 4], l| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), l);
    let mut chain = load_certificates(&dir.join("fg.pem")).expect("our certificate").into_iter();
    let leaf = chain.next().expect("a certificate");
    let key = load_private_key(&dir.join("fg.key")).expect("our key");
    let trust = load_trust_store(&[dir.join("ca.pem")]).expect("the CA");
    let mut cred = Credential::new(leaf, chain.collect(), key).expect("key fits certificate");
    cred.link_anchors(&trust);
    let (local_id, remote_id) = if s.address_ids {
        (IdRepr::ipv4(OUR_ADDR), Some(IdRepr::ipv4(CHARON_ADDR)))
    } else {
        (cred.certificate().subject_id(), None)
    };
    PeerConfig {
        local_addr: SocketAddr::new(OUR_ADDR.into(), 500),
        remote_addr: SocketAddr::new(CHARON_ADDR.into(), 500),
        local_id,
        remote_id,
        psk_local: Psk::new(&[]),
        psk_remote: Psk::new(&[]),
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
        auth: AuthConfig {
            local: LocalAuth::Certificate(LocalCertificate::new(Arc::new(cred))),
            remote: RemoteAuth::Certificate(PeerCertificate::new(
                Arc::new(trust),
                PeerIdCheck::Required,
            )),
        },
    }
}

/// The ferrogate side, inside its namespace: negotiates, prints one line per event, closes.
fn child(spec: &str) {
    // The protocol log goes to stderr, which the parent shows when a run fails.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("ikev2_protocol=trace"))
        .try_init();
    let mut parts = spec.splitn(3, ':');
    let (role, suite, dir) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let s = SUITES.iter().find(|s| s.name == suite).expect("suite");
    let cfg = our_config(s, Path::new(dir));
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
                    Event::Established(info) => println!(
                        "EVENT established peer_id={} local_auth={} remote_auth={}",
                        info.peer_id, info.local_auth, info.remote_auth
                    ),
                    Event::ChildSaUp(c) => {
                        println!(
                            "EVENT child-up in={:08x} out={:08x} encr={:?}",
                            c.inbound_spi, c.outbound_spi, c.transforms.encr
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
                        println!("EVENT failed {cause}");
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

/// What the run must show for `s` besides an SA and Child SA on both sides: who
/// authenticated as whom, by certificate.
fn expected_lines(s: &Suite) -> Vec<String> {
    let our_subject = "CN=fg.interop.test,O=ferrogate interop,C=XX";
    let charon_subject = "CN=charon.interop.test,O=ferrogate interop,C=XX";
    let peer_id = if s.address_ids {
        format!("peer_id=ID_IPV4_ADDR {CHARON_ADDR}")
    } else {
        "peer_id=ID_DER_ASN1_DN".to_owned()
    };
    vec![
        peer_id,
        format!("local_auth=certificate \"{our_subject}\" (DIGITAL_SIGNATURE)"),
        format!("remote_auth=certificate \"{charon_subject}\" (DIGITAL_SIGNATURE)"),
    ]
}

#[test]
fn ikev2_certificate_interop_with_strongswan_both_roles() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    if !is_root() || !Path::new(common::strongswan::CHARON).exists() || !Path::new(PKI).exists() {
        eprintln!(
            "skipped: needs root, strongSwan and its pki tool (scripts/setup.sh installs them)"
        );
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("fgic{pid}a"), format!("fgic{pid}b"));
    let _ns = match Namespaces::create(&[a.clone(), b.clone()]) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped: no network namespaces: {e}");
            return;
        }
    };
    in_ns(&a, &["ip", "link", "add", "ic0", "type", "veth", "peer", "name", "ic1", "netns", &b]);
    in_ns(&a, &["ip", "addr", "add", &format!("{CHARON_ADDR}/24"), "dev", "ic0"]);
    in_ns(&b, &["ip", "addr", "add", &format!("{OUR_ADDR}/24"), "dev", "ic1"]);
    for (ns, dev) in [(&a, "ic0"), (&b, "ic1")] {
        in_ns(ns, &["ip", "link", "set", dev, "up"]);
        in_ns(ns, &["ip", "link", "set", "lo", "up"]);
    }
    // kernel-libipsec routes its policies through a TUN device from an address of the
    // local selector: strongSwan's LAN lives on lo.
    in_ns(&a, &["ip", "addr", "add", "10.2.0.1/16", "dev", "lo"]);
    let exe = std::env::current_exe().unwrap();
    let mut failures = Vec::new();
    // FG_IKE_ONLY=initiator:ecdsa narrows a debugging run to one case.
    let only = std::env::var("FG_IKE_ONLY").ok();
    for s in SUITES {
        for role in ["initiator", "responder"] {
            if only.as_ref().is_some_and(|o| *o != format!("{role}:{}", s.name)) {
                continue;
            }
            // Short: charon's vici socket lives here (unix socket paths are short).
            let dir: PathBuf =
                std::env::temp_dir().join(format!("fgic{pid}{}{}", &s.name[..1], &role[..1]));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            make_pki(s, &dir).unwrap_or_else(|e| panic!("{e}"));
            let charon =
                Charon::start(&a, &dir, &swanctl_conf(s, &dir)).unwrap_or_else(|e| panic!("{e}"));
            let creds = charon.swanctl_in_dir(&["--load-creds", "--noprompt"]);
            let said = String::from_utf8_lossy(&creds.stdout).into_owned();
            assert!(
                creds.status.success() && said.contains("private key"),
                "swanctl --load-creds: {said}{}",
                String::from_utf8_lossy(&creds.stderr)
            );
            let ours = Command::new("ip")
                .args(["netns", "exec", &b])
                .arg(&exe)
                .args(["--exact", TEST_NAME, "--nocapture"])
                .env(CHILD_ENV, format!("{role}:{}:{}", s.name, dir.display()))
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
            let established = stdout.lines().find(|l| l.starts_with("EVENT established"));
            let missing: Vec<String> = expected_lines(s)
                .into_iter()
                .filter(|want| !established.is_some_and(|l| l.contains(want.as_str())))
                .collect();
            // charon checked our certificate chain and our signature.
            let our_id = if s.address_ids { OUR_ADDR.to_string() } else { OUR_DN.to_owned() };
            let verified = format!("authentication of '{our_id}' with");
            let auth_lines: Vec<&str> =
                log.lines().filter(|l| l.contains("authentication of '")).collect();
            let charon_ok = log.contains("established between")
                && log.contains("CHILD_SA net{1} established")
                && log.contains("reached self-signed root ca")
                && auth_lines.iter().any(|l| l.contains(&verified) && l.contains("successful"));
            if out.status.success()
                && missing.is_empty()
                && stdout.contains("EVENT child-up")
                && stdout.contains("EVENT closed")
                && charon_ok
            {
                eprintln!("ok: {role} {}: {}", s.name, established.unwrap_or_default());
                for l in &auth_lines {
                    eprintln!("    charon: {l}");
                }
            } else {
                failures.push(format!(
                    "{role} {}: rc {:?}, missing {missing:?}\n--- ours:\n{stdout}{}\n--- charon:\n{}",
                    s.name,
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr),
                    charon.log_tail(60)
                ));
            }
            drop(charon);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
