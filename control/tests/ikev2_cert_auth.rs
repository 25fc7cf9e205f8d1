//! Certificate authentication in IKE_AUTH between two `IkeEndpoint`s on a virtual network
//! (deterministic: seeded RNGs, a virtual clock, the test PKI of `tests/data/pki`, whose
//! fixed validity windows are checked at a fixed UNIX time through `WallClock::Offset`).
//!
//! RSA, ECDSA P-256 and P-384 in both roles, mixed certificate / pre-shared key setups,
//! SIGNATURE_HASH_ALGORITHMS and CERTREQ in IKE_SA_INIT, the certificate the peer's
//! CERTREQ selects, and every refusal (expired, not yet valid, unknown CA, identity
//! mismatch, an IKE_SA_INIT rewritten in flight so the signature no longer verifies, the
//! wrong AUTH method) with its AUTHENTICATION_FAILED cause on both sides.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;
use std::path::PathBuf;
use std::sync::Arc;

use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{
    AuthConfig, AuthInfo, ChildConfig, Event, FailureCause, IkeSaInfo, LocalAuth, LocalCertificate,
    Mode, PeerCertificate, PeerConfig, PeerIdCheck, Psk, RemoteAuth, WallClock,
};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{
    CertEncoding, DhGroup, EncrId, ExchangeType, IdRepr, Message, NotifyType, Payload, PrfId,
    ProtocolId,
};
use control::pki::load::{load_certificates, load_private_key, load_trust_store};
use control::pki::{AuthSignature, Credential, HashAlg, SignOptions, SignatureScheme, TrustStore};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

include!("support/pair.rs");

/// `Pair::check_live`'s default: refused handshakes leave no Child SA to keep.
const CHECK_LIVE: bool = false;
/// Addresses checked as in `ikev2_sa_pair.rs`: the port may float to 4500.
const EXACT_ADDRESSES: bool = false;

// ---------------------------------------------------------------------------------------
// The test PKI.

/// 2030-01-01T00:00:00Z: inside the validity of every test certificate but the expired one.
const Y2030: u64 = 1_893_456_000;
/// 2045-01-01T00:00:00Z: after the leaves' and most CAs' notAfter (2044-01-01).
const Y2045: u64 = 2_366_841_600;
/// 2023-01-01T00:00:00Z: before every notBefore (2024-01-01).
const Y2023: u64 = 1_672_531_200;

fn pki(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki").join(name)
}

fn store(cas: &[&str]) -> Arc<TrustStore> {
    let paths: Vec<PathBuf> = cas.iter().map(|c| pki(c)).collect();
    Arc::new(load_trust_store(&paths).expect("test CAs load"))
}

/// A test credential, linked to the root CA that issued it (as a trustpoint holding that
/// CA links it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// RSA-2048 under rsa-int under rsa-ca: IP 192.0.2.1, DNS gw1.example.test.
    Rsa,
    /// P-256 under ecp256-ca: IP 192.0.2.2, DNS gw2.example.test.
    P256,
    /// P-384 under ecp384-ca: DNS gw4.example.test.
    P384,
}

impl Key {
    fn files(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Key::Rsa => ("rsa-leaf-chain.pem", "rsa-leaf.key.pem", "rsa-ca.pem"),
            Key::P256 => ("ecp256-leaf.pem", "ecp256-leaf.key.pem", "ecp256-ca.pem"),
            Key::P384 => ("ecp384-leaf.pem", "ecp384-leaf.key.pem", "ecp384-ca.pem"),
        }
    }

    fn ca(self) -> &'static str {
        self.files().2
    }

    fn credential(self) -> Arc<Credential> {
        let (chain, key, ca) = self.files();
        let mut certs = load_certificates(&pki(chain)).unwrap().into_iter();
        let leaf = certs.next().unwrap();
        let key = load_private_key(&pki(key)).unwrap();
        let mut cred = Credential::new(leaf, certs.collect(), key).unwrap();
        cred.link_anchors(&store(&[ca]));
        Arc::new(cred)
    }

    fn fqdn(self) -> IdRepr {
        IdRepr::fqdn(match self {
            Key::Rsa => "gw1.example.test",
            Key::P256 => "gw2.example.test",
            Key::P384 => "gw4.example.test",
        })
    }

    fn subject_dn(self) -> IdRepr {
        self.credential().certificate().subject_id()
    }

    fn subject(self) -> String {
        self.credential().certificate().subject().to_owned()
    }
}

// ---------------------------------------------------------------------------------------
// Configuration.

const PSK: &[u8] = b"mixed mode test key";

fn ike() -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![(EncrId::AesGcm16, Some(256))],
        prf: vec![PrfId::HmacSha2_384],
        integ: vec![],
        dh: vec![DhGroup::Ecp256],
        esn: vec![],
    }
}

fn esp() -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![(EncrId::AesGcm16, Some(128))],
        prf: vec![],
        integ: vec![],
        dh: vec![],
        esn: vec![],
    }
}

/// Our side signs with `key` (identity: its certificate's FQDN).
fn sign_with(key: Key) -> LocalAuth {
    LocalAuth::Certificate(LocalCertificate::new(key.credential()))
}

/// The peer must present a certificate under one of `cas`, checked at 2030.
fn verify_with(cas: &[&str], id_check: PeerIdCheck) -> RemoteAuth {
    let mut pc = PeerCertificate::new(store(cas), id_check);
    pc.clock = WallClock::Offset(Y2030);
    RemoteAuth::Certificate(pc)
}

/// One side: `local_id` ours, no fixed peer identity, the given authentication.
fn config(initiator: bool, local_id: IdRepr, local: LocalAuth, remote: RemoteAuth) -> PeerConfig {
    let net = |a: [u8; 4]| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), 16);
    let (i_net, r_net) = (net([10, 1, 0, 0]), net([10, 2, 0, 0]));
    let (local_addr, remote_addr, l, r) =
        if initiator { (I_ADDR, R_ADDR, i_net, r_net) } else { (R_ADDR, I_ADDR, r_net, i_net) };
    PeerConfig {
        local_addr,
        remote_addr,
        local_id,
        remote_id: None,
        psk_local: Psk::new(PSK),
        psk_remote: Psk::new(PSK),
        psk_by_id: vec![],
        ike_proposals: vec![ike()],
        child: ChildConfig {
            esp_proposals: vec![esp()],
            selectors: PolicySelectors { local: vec![l], remote: vec![r] },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 0,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy::default(),
        dpd_interval: Duration::ZERO,
        dpd_retry: Duration::ZERO,
        remote_access: None,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        allow_weak_dh: false,
        auth: AuthConfig { local, remote },
    }
}

/// Certificates both ways: each side signs with its key and trusts the other's CA.
fn cert_pair(i: Key, r: Key) -> (PeerConfig, PeerConfig) {
    (
        config(true, i.fqdn(), sign_with(i), verify_with(&[r.ca()], PeerIdCheck::Required)),
        config(false, r.fqdn(), sign_with(r), verify_with(&[i.ca()], PeerIdCheck::Required)),
    )
}

// ---------------------------------------------------------------------------------------
// The harness (`support/pair.rs`): what these tests add.

impl Pair {
    /// Runs the handshake: a few virtual seconds, jumping from event to event.
    fn run(&mut self) -> &mut Pair {
        let end = self.time + Duration::from_secs(5);
        self.flush();
        for _ in 0..10_000 {
            self.step();
            match self.next_wakeup() {
                Some(t) if t <= end => self.time = self.time.max(t),
                _ => return self,
            }
        }
        panic!("no progress at {}", self.time);
    }
}

fn established(s: &Side) -> Option<&IkeSaInfo> {
    s.events.iter().find_map(|(_, _, e)| if let Event::Established(i) = e { Some(i) } else { None })
}

fn children_up(s: &Side) -> usize {
    s.events.iter().filter(|(_, _, e)| matches!(e, Event::ChildSaUp(_))).count()
}

/// The single AUTHENTICATION_FAILED reason of a side.
fn auth_failure(s: &Side) -> String {
    match failures(s)[..] {
        [FailureCause::AuthenticationFailed(why)] => why.clone(),
        ref other => panic!("expected one AUTHENTICATION_FAILED, got {other:?}"),
    }
}

/// Both sides up with one Child SA each; returns (initiator's, responder's) view.
fn assert_up(p: &Pair) -> (IkeSaInfo, IkeSaInfo) {
    assert!(
        failures(&p.i).is_empty() && failures(&p.r).is_empty(),
        "{:?} {:?}",
        failures(&p.i),
        failures(&p.r)
    );
    let i = established(&p.i).expect("initiator up").clone();
    let r = established(&p.r).expect("responder up").clone();
    assert_eq!((children_up(&p.i), children_up(&p.r)), (1, 1));
    // Each side's view of the other is what the other says it did.
    assert_eq!(i.local_auth, r.remote_auth);
    assert_eq!(i.remote_auth, r.local_auth);
    (i, r)
}

fn cert(signature: AuthSignature, key: Key) -> AuthInfo {
    AuthInfo::Certificate { signature, subject: key.subject() }
}

fn ds(scheme: SignatureScheme) -> AuthSignature {
    AuthSignature::DigitalSignature(scheme)
}

/// The IKE_SA_INIT message a direction sent (the last, as used for AUTH).
fn sa_init(p: &Pair, dir: Dir) -> Message {
    p.log
        .iter()
        .rev()
        .filter(|s| s.dir == dir)
        .filter_map(|s| Message::parse(&s.bytes).ok())
        .find(|m| m.header.exchange_type == ExchangeType::IkeSaInit)
        .expect("an IKE_SA_INIT")
}

fn certreq_authorities(m: &Message) -> Vec<Vec<u8>> {
    m.payloads
        .iter()
        .filter_map(|p| match p {
            Payload::CertReq(c) if c.encoding == CertEncoding::X509Signature => {
                Some(c.authorities.clone())
            }
            _ => None,
        })
        .collect()
}

fn spki_sha1(ca: &str) -> Vec<u8> {
    store(&[ca]).anchors()[0].spki_sha1().to_vec()
}

// ---------------------------------------------------------------------------------------
// Success: each key type in each role.

#[test]
fn rsa_initiator_p256_responder() {
    let (i, r) = cert_pair(Key::Rsa, Key::P256);
    let mut p = Pair::new(i, r);
    p.run();
    let (i, r) = assert_up(&p);
    assert_eq!(i.peer_id, Key::P256.fqdn());
    assert_eq!(r.peer_id, Key::Rsa.fqdn());
    // Both sent SIGNATURE_HASH_ALGORITHMS, so both sign with method 14: RSA PKCS#1 v1.5
    // and ECDSA with SHA-256. The RSA chain validated at the responder, which only trusts
    // the root: the intermediate went out after the end entity.
    assert_eq!(i.local_auth, cert(ds(SignatureScheme::RsaPkcs1(HashAlg::Sha256)), Key::Rsa));
    assert_eq!(i.remote_auth, cert(ds(SignatureScheme::Ecdsa(HashAlg::Sha256)), Key::P256));
}

#[test]
fn p256_initiator_p384_responder() {
    let (i, r) = cert_pair(Key::P256, Key::P384);
    let mut p = Pair::new(i, r);
    p.run();
    let (i, _) = assert_up(&p);
    assert_eq!(i.local_auth, cert(ds(SignatureScheme::Ecdsa(HashAlg::Sha256)), Key::P256));
    assert_eq!(i.remote_auth, cert(ds(SignatureScheme::Ecdsa(HashAlg::Sha384)), Key::P384));
}

#[test]
fn p384_initiator_rsa_responder() {
    let (i, r) = cert_pair(Key::P384, Key::Rsa);
    let mut p = Pair::new(i, r);
    p.run();
    let (i, _) = assert_up(&p);
    assert_eq!(i.local_auth, cert(ds(SignatureScheme::Ecdsa(HashAlg::Sha384)), Key::P384));
    assert_eq!(i.remote_auth, cert(ds(SignatureScheme::RsaPkcs1(HashAlg::Sha256)), Key::Rsa));
}

#[test]
fn rsa_pss_when_configured() {
    let (mut i, r) = cert_pair(Key::Rsa, Key::Rsa);
    if let LocalAuth::Certificate(lc) = &mut i.auth.local {
        lc.sign.rsa_pss = true;
    }
    let mut p = Pair::new(i, r);
    p.run();
    let (i, _) = assert_up(&p);
    assert_eq!(i.local_auth, cert(ds(SignatureScheme::rsa_pss(HashAlg::Sha256)), Key::Rsa));
}

#[test]
fn ike_sa_init_carries_signature_hash_algorithms_and_the_responders_certreq() {
    let (i, r) = cert_pair(Key::P256, Key::Rsa);
    let mut p = Pair::new(i, r);
    p.run();
    assert_up(&p);
    let (req, answer) = (sa_init(&p, Dir::IToR), sa_init(&p, Dir::RToI));
    for m in [&req, &answer] {
        let n = m.notify(NotifyType::SignatureHashAlgorithms).expect("SIGNATURE_HASH_ALGORITHMS");
        assert_eq!(n.signature_hash_algorithms(), Some(vec![2, 3, 4]), "SHA2-256/384/512");
    }
    // The responder asks for a certificate under the CA it trusts (the initiator's CERTREQ
    // goes in IKE_AUTH, RFC 7296 section 3.7).
    assert_eq!(certreq_authorities(&answer), [spki_sha1("ecp256-ca.pem")]);
    assert!(certreq_authorities(&req).is_empty());
    let file = std::fs::read_to_string(pki("ecp256-ca.spki-sha1.txt")).unwrap();
    let from_openssl: Vec<u8> = (0..40)
        .step_by(2)
        .map(|k| u8::from_str_radix(&file.trim()[k..k + 2], 16).unwrap())
        .collect();
    assert_eq!(spki_sha1("ecp256-ca.pem"), from_openssl);
}

#[test]
fn psk_only_peers_send_no_certificate_notifies() {
    let cfg = |init| config(init, IdRepr::fqdn("x.example"), LocalAuth::Psk, RemoteAuth::Psk);
    let mut p = Pair::new(cfg(true), cfg(false));
    p.run();
    let (i, _) = assert_up(&p);
    assert_eq!((i.local_auth, i.remote_auth), (AuthInfo::Psk, AuthInfo::Psk));
    for dir in [Dir::IToR, Dir::RToI] {
        let m = sa_init(&p, dir);
        assert!(m.notify(NotifyType::SignatureHashAlgorithms).is_none());
        assert!(certreq_authorities(&m).is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Mixed: a certificate one way, a pre-shared key the other.

#[test]
fn initiator_signs_responder_uses_psk() {
    let i = config(true, Key::P256.fqdn(), sign_with(Key::P256), RemoteAuth::Psk);
    let r = config(
        false,
        IdRepr::fqdn("r.example"),
        LocalAuth::Psk,
        verify_with(&["ecp256-ca.pem"], PeerIdCheck::Required),
    );
    let mut p = Pair::new(i, r);
    p.run();
    let (i, _) = assert_up(&p);
    assert_eq!(i.local_auth, cert(ds(SignatureScheme::Ecdsa(HashAlg::Sha256)), Key::P256));
    assert_eq!(i.remote_auth, AuthInfo::Psk);
}

#[test]
fn responder_signs_initiator_uses_psk() {
    let i = config(
        true,
        IdRepr::fqdn("i.example"),
        LocalAuth::Psk,
        verify_with(&["rsa-ca.pem"], PeerIdCheck::Required),
    );
    let r = config(false, Key::Rsa.fqdn(), sign_with(Key::Rsa), RemoteAuth::Psk);
    let mut p = Pair::new(i, r);
    p.run();
    let (i, _) = assert_up(&p);
    assert_eq!(i.local_auth, AuthInfo::Psk);
    assert_eq!(i.remote_auth, cert(ds(SignatureScheme::RsaPkcs1(HashAlg::Sha256)), Key::Rsa));
}

#[test]
fn the_wrong_method_is_refused_both_ways() {
    // The responder wants a certificate, the initiator sends a PSK AUTH.
    let i = config(true, IdRepr::fqdn("i.example"), LocalAuth::Psk, RemoteAuth::Psk);
    let r = config(
        false,
        IdRepr::fqdn("r.example"),
        LocalAuth::Psk,
        verify_with(&["rsa-ca.pem"], PeerIdCheck::Required),
    );
    let mut p = Pair::new(i, r);
    p.run();
    assert_eq!(auth_failure(&p.r), "auth method PSK instead of a certificate signature");
    assert_eq!(auth_failure(&p.i), "peer rejected our AUTH");
    // The responder wants a PSK, the initiator signs.
    let i = config(true, Key::P256.fqdn(), sign_with(Key::P256), RemoteAuth::Psk);
    let r = config(false, IdRepr::fqdn("r.example"), LocalAuth::Psk, RemoteAuth::Psk);
    let mut p = Pair::new(i, r);
    p.run();
    // A PSK-only responder sends no SIGNATURE_HASH_ALGORITHMS: the initiator signs with
    // the RFC 4754 method of its P-256 key.
    assert_eq!(auth_failure(&p.r), "auth method ECDSA_256 instead of PSK");
    assert!(established(&p.i).is_none() && established(&p.r).is_none());
}

// ---------------------------------------------------------------------------------------
// Refusals.

#[test]
fn an_expired_certificate_is_refused() {
    let (i, mut r) = cert_pair(Key::P256, Key::P384);
    if let RemoteAuth::Certificate(pc) = &mut r.auth.remote {
        pc.clock = WallClock::Offset(Y2045);
    }
    let mut p = Pair::new(i, r);
    p.run();
    let why = auth_failure(&p.r);
    assert!(
        why.starts_with("certificate rejected: certificate \"")
            && why.contains("expired (notAfter 2335219200)"),
        "{why}"
    );
    assert_eq!(auth_failure(&p.i), "peer rejected our AUTH");
    assert!(established(&p.r).is_none(), "no SA on a refused certificate");
}

#[test]
fn a_certificate_not_valid_yet_is_refused_by_the_initiator() {
    let (mut i, r) = cert_pair(Key::P256, Key::P384);
    if let RemoteAuth::Certificate(pc) = &mut i.auth.remote {
        pc.clock = WallClock::Offset(Y2023);
    }
    let mut p = Pair::new(i, r);
    p.run();
    let why = auth_failure(&p.i);
    assert!(why.starts_with("certificate rejected:") && why.contains("is not valid yet"), "{why}");
    // The responder thought the SA was up; the initiator's INFORMATIONAL ends it.
    assert!(established(&p.r).is_some());
    assert_eq!(auth_failure(&p.r), "peer rejected our AUTH");
    assert!(p.r.events.iter().any(|(_, _, e)| matches!(e, Event::ChildSaDown { .. })));
}

#[test]
fn an_unknown_ca_is_refused() {
    // The responder only trusts the RSA root; the initiator's certificate is under P-256's.
    let (i, mut r) = cert_pair(Key::P256, Key::Rsa);
    r.auth.remote = verify_with(&["rsa-ca.pem", "ecp384-ca.pem"], PeerIdCheck::Required);
    let mut p = Pair::new(i, r);
    p.run();
    assert_eq!(
        auth_failure(&p.r),
        "certificate rejected: issuer \"CN=ECDSA P-256 Root CA,O=ferrogate test,C=XX\" is not a \
         trusted CA"
    );
    // Its CERTREQ named both of its CAs, neither of them the initiator's.
    let answer = sa_init(&p, Dir::RToI);
    let want: Vec<u8> = [spki_sha1("rsa-ca.pem"), spki_sha1("ecp384-ca.pem")].concat();
    assert_eq!(certreq_authorities(&answer), [want]);
}

#[test]
fn an_identity_the_certificate_does_not_name_is_refused_unless_nocheck() {
    // gw9 is not in the P-256 certificate (gw2.example.test, 192.0.2.2, 2001:db8::2).
    let claim = IdRepr::fqdn("gw9.example.test");
    for check in [PeerIdCheck::Required, PeerIdCheck::IfSupported] {
        let (mut i, mut r) = cert_pair(Key::P256, Key::Rsa);
        i.local_id = claim.clone();
        r.auth.remote = verify_with(&["ecp256-ca.pem"], check);
        let mut p = Pair::new(i, r);
        p.run();
        assert_eq!(
            auth_failure(&p.r),
            format!(
                "identity ID_FQDN gw9.example.test does not match certificate \"{}\"",
                Key::P256.subject()
            )
        );
    }
    let (mut i, mut r) = cert_pair(Key::P256, Key::Rsa);
    i.local_id = claim.clone();
    r.auth.remote = verify_with(&["ecp256-ca.pem"], PeerIdCheck::NoCheck);
    let mut p = Pair::new(i, r);
    p.run();
    let (_, r) = assert_up(&p);
    assert_eq!(r.peer_id, claim);
}

#[test]
fn address_and_dn_identities_match_the_certificate() {
    for id in [IdRepr::ipv4(Ipv4Addr::new(192, 0, 2, 2)), Key::P256.subject_dn()] {
        let (mut i, r) = cert_pair(Key::P256, Key::Rsa);
        i.local_id = id.clone();
        let mut p = Pair::new(i, r);
        p.run();
        let (_, r) = assert_up(&p);
        assert_eq!(r.peer_id, id);
    }
}

#[test]
fn a_configured_remote_id_is_still_enforced() {
    let (i, mut r) = cert_pair(Key::P256, Key::Rsa);
    r.remote_id = Some(IdRepr::fqdn("gw-other.example.test"));
    let mut p = Pair::new(i, r);
    p.run();
    assert_eq!(
        auth_failure(&p.r),
        "peer identity ID_FQDN gw2.example.test is not the configured ID_FQDN gw-other.example.test"
    );
}

/// Replaces the SIGNATURE_HASH_ALGORITHMS list (2, 3, 4) of `dir`'s IKE_SA_INIT with `to`:
/// the keys do not depend on it, so the exchange goes on, but the signed RealMessage no
/// longer is what its sender signed.
fn rewrite_hash_list(dir: Dir, to: [u16; 3]) -> impl FnMut(Dir, &mut Vec<u8>) {
    move |d, bytes| {
        let is_init =
            Message::parse(bytes).is_ok_and(|m| m.header.exchange_type == ExchangeType::IkeSaInit);
        if d != dir || !is_init {
            return;
        }
        let ours: Vec<u8> = [2u16, 3, 4].iter().flat_map(|h| h.to_be_bytes()).collect();
        let new: Vec<u8> = to.iter().flat_map(|h| h.to_be_bytes()).collect();
        if let Some(at) = bytes.windows(ours.len()).position(|w| w == ours.as_slice()) {
            bytes[at..at + ours.len()].copy_from_slice(&new);
        }
    }
}

/// 5 is the Identity "hash" of RFC 8420, which we do not use for signatures.
const NO_HASHES: [u16; 3] = [5, 5, 5];

#[test]
fn a_rewritten_ike_sa_init_breaks_the_signature() {
    // A man in the middle removes SHA2-512 from the initiator's list. The responder's
    // InitiatorSignedOctets hold the rewritten message: the initiator's signature over the
    // original does not verify.
    let (i, r) = cert_pair(Key::P384, Key::P256);
    let mut p = Pair::new(i, r).with_tamper(rewrite_hash_list(Dir::IToR, [2, 3, 5]));
    p.run();
    let why = auth_failure(&p.r);
    assert!(why.starts_with("AUTH signature of ID_FQDN gw4.example.test does not verify"), "{why}");
    assert_eq!(auth_failure(&p.i), "peer rejected our AUTH");
}

#[test]
fn without_the_peers_hash_list_ec_keys_use_rfc_4754_methods() {
    // The responder's list arrives without a usable hash: the initiator falls back to
    // method 10 (ECDSA P-384 with SHA-384), which the responder accepts. The rewritten
    // answer then fails the responder's signature at the initiator.
    let (i, r) = cert_pair(Key::P384, Key::P256);
    let mut p = Pair::new(i, r).with_tamper(rewrite_hash_list(Dir::RToI, NO_HASHES));
    p.run();
    let r = established(&p.r).expect("the responder accepted method 10");
    assert_eq!(r.remote_auth, cert(AuthSignature::EcdsaP384Sha384, Key::P384));
    let why = auth_failure(&p.i);
    assert!(why.starts_with("AUTH signature of ID_FQDN gw2.example.test does not verify"), "{why}");
}

#[test]
fn an_rsa_key_cannot_sign_for_a_peer_without_rfc_7427_unless_sha1_is_allowed() {
    let (i, r) = cert_pair(Key::Rsa, Key::P256);
    let mut p = Pair::new(i, r).with_tamper(rewrite_hash_list(Dir::RToI, NO_HASHES));
    p.run();
    assert_eq!(
        auth_failure(&p.i),
        "cannot sign our AUTH: no signature AUTH method acceptable to both sides for a RSA-2048 key"
    );
    // With SHA-1 allowed, method 1 goes out and the responder (which accepts it by
    // default) authenticates us.
    let (mut i, r) = cert_pair(Key::Rsa, Key::P256);
    if let LocalAuth::Certificate(lc) = &mut i.auth.local {
        lc.sign = SignOptions { allow_rsa_sha1: true, rsa_pss: false };
    }
    let mut p = Pair::new(i, r).with_tamper(rewrite_hash_list(Dir::RToI, NO_HASHES));
    p.run();
    let r = established(&p.r).expect("the responder accepted method 1");
    assert_eq!(r.remote_auth, cert(AuthSignature::RsaSha1, Key::Rsa));
}

// ---------------------------------------------------------------------------------------
// CERTREQ selects among our certificates.

#[test]
fn the_peers_certreq_selects_our_certificate() {
    // The responder holds an RSA and a P-384 certificate, RSA the default, and a DN
    // identity of the RSA one. Each initiator trusts one of the two CAs only.
    for (trusted, want) in [(Key::P384, Key::P384), (Key::Rsa, Key::Rsa)] {
        let i = config(
            true,
            Key::P256.fqdn(),
            sign_with(Key::P256),
            verify_with(&[trusted.ca()], PeerIdCheck::Required),
        );
        let both = LocalCertificate {
            credentials: vec![Key::Rsa.credential(), Key::P384.credential()],
            sign: SignOptions::default(),
        };
        let r = config(
            false,
            Key::Rsa.subject_dn(),
            LocalAuth::Certificate(both),
            verify_with(&["ecp256-ca.pem"], PeerIdCheck::Required),
        );
        let mut p = Pair::new(i, r);
        p.run();
        let (i, _) = assert_up(&p);
        let AuthInfo::Certificate { subject, .. } = &i.remote_auth else { panic!("certificate") };
        assert_eq!(*subject, want.subject());
        // The DN identity follows the certificate chosen.
        assert_eq!(i.peer_id, want.subject_dn());
    }
}

#[test]
fn without_a_matching_certreq_the_default_certificate_goes_out() {
    // The initiator trusts only the P-256 CA: the responder's default (RSA) is sent, and
    // refused as from an unknown CA.
    let i = config(
        true,
        Key::P256.fqdn(),
        sign_with(Key::P256),
        verify_with(&["ecp256-ca.pem"], PeerIdCheck::Required),
    );
    let r = config(
        false,
        Key::Rsa.fqdn(),
        LocalAuth::Certificate(LocalCertificate {
            credentials: vec![Key::Rsa.credential(), Key::P384.credential()],
            sign: SignOptions::default(),
        }),
        verify_with(&["ecp256-ca.pem"], PeerIdCheck::Required),
    );
    let mut p = Pair::new(i, r);
    p.run();
    let why = auth_failure(&p.i);
    assert!(why.contains("\"CN=RSA Root CA,O=ferrogate test,C=XX\" is not a trusted CA"), "{why}");
}

#[test]
fn configurations_without_credentials_or_cas_are_refused() {
    use control::ikev2::sa::{ConfigError, IkeSa};
    let mut rng = TestRng::new("config");
    let empty = LocalAuth::Certificate(LocalCertificate {
        credentials: vec![],
        sign: SignOptions::default(),
    });
    let cfg = config(true, Key::P256.fqdn(), empty, RemoteAuth::Psk);
    assert_eq!(IkeSa::initiate(Time::ZERO, cfg, &mut rng).unwrap_err(), ConfigError::NoCredential);
    let no_ca = RemoteAuth::Certificate(PeerCertificate::new(
        Arc::new(TrustStore::new()),
        PeerIdCheck::Required,
    ));
    let cfg = config(true, Key::P256.fqdn(), LocalAuth::Psk, no_ca);
    assert_eq!(IkeSa::initiate(Time::ZERO, cfg, &mut rng).unwrap_err(), ConfigError::NoTrustAnchor);
    // Debug output names certificates, never keys.
    let shown =
        format!("{:?}", config(true, Key::P256.fqdn(), sign_with(Key::P256), RemoteAuth::Psk));
    assert!(shown.contains("gw2.example.test") && !shown.contains("PRIVATE"), "{shown}");
}
