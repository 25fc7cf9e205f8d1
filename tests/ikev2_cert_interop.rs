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

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::ike_child::{self, Lab, fresh_dir, have_root_and_charon};
use common::strongswan::Charon;
use common::test_pki::{self, Leaf, PKI};
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{
    AuthConfig, Event, LocalAuth, LocalCertificate, PeerCertificate, PeerConfig, PeerIdCheck,
    RemoteAuth,
};
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, IntegId, PrfId, ProtocolId};
use control::pki::Credential;
use control::pki::load::{load_certificates, load_private_key, load_trust_store};

const TEST_NAME: &str = "ikev2_certificate_interop_with_strongswan_both_roles";
const CHILD_ENV: &str = "FG_IKE_CHILD";
const CHARON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 1);
const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 2);

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

/// A fresh PKI for `s` in `dir` (see `common::test_pki::make_pki`).
fn make_pki(s: &Suite, dir: &Path) -> Result<(), String> {
    test_pki::make_pki(
        dir,
        s.ca_key,
        CA_DN,
        &[
            Leaf { who: "charon", key: s.charon_key, dn: CHARON_DN, addr: CHARON_ADDR },
            Leaf { who: "fg", key: s.our_key, dn: OUR_DN, addr: OUR_ADDR },
        ],
    )
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
    let mut cfg = ike_child::psk_config(OUR_ADDR, CHARON_ADDR, &[], (s.ours_ike)(), (s.ours_esp)());
    cfg.local_id = local_id;
    cfg.remote_id = remote_id;
    cfg.auth = AuthConfig {
        local: LocalAuth::Certificate(LocalCertificate::new(Arc::new(cred))),
        remote: RemoteAuth::Certificate(PeerCertificate::new(
            Arc::new(trust),
            PeerIdCheck::Required,
        )),
    };
    cfg
}

/// The ferrogate side, inside its namespace: negotiates, prints one line per event, closes.
fn child(spec: &str) {
    ike_child::log_protocol("trace");
    let mut parts = spec.splitn(3, ':');
    let (role, suite, dir) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let s = SUITES.iter().find(|s| s.name == suite).expect("suite");
    let cfg = our_config(s, Path::new(dir));
    ike_child::negotiate_and_close(OUR_ADDR, &cfg, role == "initiator", |ev| match ev {
        Event::Established(info) => Some(format!(
            "EVENT established peer_id={} local_auth={} remote_auth={}",
            info.peer_id, info.local_auth, info.remote_auth
        )),
        Event::ChildSaUp(c) => Some(format!(
            "EVENT child-up in={:08x} out={:08x} encr={:?}",
            c.inbound_spi, c.outbound_spi, c.transforms.encr
        )),
        Event::Failed(cause) => Some(format!("EVENT failed {cause}")),
        _ => None,
    });
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
    if !have_root_and_charon() || !Path::new(PKI).exists() {
        eprintln!(
            "skipped: needs root, strongSwan and its pki tool (scripts/setup.sh installs them)"
        );
        return;
    }
    let pid = std::process::id();
    let Some(lab) = Lab::create("ic", CHARON_ADDR, OUR_ADDR) else { return };
    ike_child::each_suite_both_roles(
        SUITES,
        |s| s.name,
        |s, role| {
            // Short: charon's vici socket lives here (unix socket paths are short).
            let dir: PathBuf = fresh_dir(&format!("fgic{pid}{}{}", &s.name[..1], &role[..1]));
            make_pki(s, &dir).unwrap_or_else(|e| panic!("{e}"));
            let charon = Charon::start(&lab.charon_ns, &dir, &swanctl_conf(s, &dir))
                .unwrap_or_else(|e| panic!("{e}"));
            let creds = charon.swanctl_in_dir(&["--load-creds", "--noprompt"]);
            let said = String::from_utf8_lossy(&creds.stdout).into_owned();
            assert!(
                creds.status.success() && said.contains("private key"),
                "swanctl --load-creds: {said}{}",
                String::from_utf8_lossy(&creds.stderr)
            );
            let spec = format!("{role}:{}:{}", s.name, dir.display());
            let charon_initiates = (role == "responder").then_some(&charon);
            let out = lab.run_ours(TEST_NAME, CHILD_ENV, &spec, charon_initiates);
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
            let result = if out.status.success()
                && missing.is_empty()
                && stdout.contains("EVENT child-up")
                && stdout.contains("EVENT closed")
                && charon_ok
            {
                eprintln!("ok: {role} {}: {}", s.name, established.unwrap_or_default());
                for l in &auth_lines {
                    eprintln!("    charon: {l}");
                }
                Ok(())
            } else {
                let report = ike_child::run_report(&out, &charon, 60);
                Err(format!("{role} {}: missing {missing:?}, {report}", s.name))
            };
            drop(charon);
            let _ = std::fs::remove_dir_all(&dir);
            result
        },
    );
}
